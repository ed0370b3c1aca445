//! The folder's operations on Windows: `NtCreateFile` relative to the
//! folder's handle (`OBJECT_ATTRIBUTES::RootDirectory`) and
//! `NtSetInformationFile` for renames and deletes, so no name is ever
//! looked up from a path again; `FILE_OPEN_REPARSE_POINT` everywhere, so a
//! symlink or junction is opened as itself and then refused by its
//! attributes, never followed.
//!
//! The NT calls (not `CreateFileW`) because only they open relative to a
//! handle; and a name like `con` or `nul` opened through them is a plain
//! file in the folder, never a device.

use std::ffi::c_void;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::{FileExt, OpenOptionsExt};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::path::Path;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use windows_sys::Wdk::Foundation::OBJECT_ATTRIBUTES;
use windows_sys::Wdk::Storage::FileSystem::{
    FILE_CREATE, FILE_DIRECTORY_FILE, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_OPEN_IF,
    FILE_OPEN_REPARSE_POINT, FILE_SYNCHRONOUS_IO_NONALERT, FileDispositionInformation,
    FileDispositionInformationEx, FileRenameInformation, FileRenameInformationEx, NtCreateFile,
    NtQueryDirectoryFile, NtSetInformationFile,
};
use windows_sys::Win32::Foundation::{
    HANDLE, NTSTATUS, RtlNtStatusToDosError, STATUS_DIRECTORY_NOT_EMPTY,
    STATUS_FILE_IS_A_DIRECTORY, STATUS_INVALID_INFO_CLASS, STATUS_INVALID_PARAMETER,
    STATUS_NO_MORE_FILES, STATUS_NOT_A_DIRECTORY, STATUS_NOT_IMPLEMENTED, STATUS_NOT_SUPPORTED,
    STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND,
    UNICODE_STRING,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, DELETE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_NORMAL,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_GENERIC_READ,
    FILE_GENERIC_WRITE, FILE_LIST_DIRECTORY, FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_TRAVERSE, FILE_TYPE_DISK, FlushFileBuffers,
    GetDiskFreeSpaceExW, GetFileInformationByHandle, GetFileType, SYNCHRONIZE,
};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

use super::{Kind, OpenError};

/// Every handle shares everything: another run's (or our own) open handle
/// never makes a rename or a delete fail.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// What a folder handle may do: list, open relative to it, read its
/// attributes.
const FOLDER_ACCESS: u32 = FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | SYNCHRONIZE;

/// `FILE_DISPOSITION_INFORMATION_EX` flags: delete now (POSIX semantics),
/// even a read-only file.
const DISPOSITION_DELETE_POSIX: u32 = 0x1 | 0x2 | 0x10;
/// `FILE_RENAME_INFORMATION_EX` flags: replace, POSIX semantics, even over
/// a read-only file.
const RENAME_REPLACE_POSIX: u32 = 0x1 | 0x2 | 0x40;

/// ERROR_TOO_MANY_OPEN_FILES, ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL,
/// ERROR_DISK_QUOTA_EXCEEDED.
pub(super) const PASSING_OS_ERRORS: &[i32] = &[4, 39, 112, 1295];

/// The lock file, opened at the first `try_lock` and held while the folder
/// is.
#[derive(Debug, Default)]
pub(super) struct LockState(OnceLock<File>);

fn status_error(status: NTSTATUS) -> io::Error {
    // SAFETY: a pure table lookup.
    let code = unsafe { RtlNtStatusToDosError(status) };
    io::Error::from_raw_os_error(code as i32)
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// `NtCreateFile` of `name` relative to `dir` (an empty name reopens `dir`
/// itself). Synchronous I/O, every share mode.
fn open_relative(
    dir: &File,
    name: &str,
    access: u32,
    disposition: u32,
    options: u32,
) -> Result<File, NTSTATUS> {
    let name = wide(name);
    let bytes = u16::try_from(name.len() * 2).map_err(|_| STATUS_INVALID_PARAMETER)?;
    let unicode = UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: name.as_ptr().cast_mut(),
    };
    // SAFETY: zeroed is a valid OBJECT_ATTRIBUTES (null pointers, no flags).
    let mut attributes: OBJECT_ATTRIBUTES = unsafe { zeroed() };
    attributes.Length = size_of::<OBJECT_ATTRIBUTES>() as u32;
    attributes.RootDirectory = dir.as_raw_handle() as HANDLE;
    attributes.ObjectName = &unicode;
    // Windows names are case-insensitive, as a path through CreateFileW is.
    attributes.Attributes = windows_sys::Win32::Foundation::OBJ_CASE_INSENSITIVE;
    // SAFETY: zeroed is a valid IO_STATUS_BLOCK.
    let mut status_block: IO_STATUS_BLOCK = unsafe { zeroed() };
    let mut handle: HANDLE = null_mut();
    // SAFETY: every pointer is to a live local for the whole call; the
    // name's buffer outlives it.
    let status = unsafe {
        NtCreateFile(
            &mut handle,
            access | SYNCHRONIZE,
            &attributes,
            &mut status_block,
            null(),
            FILE_ATTRIBUTE_NORMAL,
            SHARE_ALL,
            disposition,
            options | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT,
            null(),
            0,
        )
    };
    if status < 0 {
        return Err(status);
    }
    // SAFETY: NtCreateFile succeeded, so `handle` is a handle we now own.
    Ok(File::from(unsafe {
        OwnedHandle::from_raw_handle(handle as _)
    }))
}

fn information(file: &File) -> io::Result<BY_HANDLE_FILE_INFORMATION> {
    // SAFETY: zeroed is a valid BY_HANDLE_FILE_INFORMATION.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { zeroed() };
    // SAFETY: the handle is open for the call; `info` is a live local.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle() as HANDLE, &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

fn kind(file: &File) -> io::Result<Kind> {
    let info = information(file)?;
    Ok(
        if info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
            Kind::Other
        } else if info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0 {
            Kind::Directory
        // SAFETY: the handle is open for the call.
        } else if unsafe { GetFileType(file.as_raw_handle() as HANDLE) } == FILE_TYPE_DISK {
            Kind::File
        } else {
            Kind::Other
        },
    )
}

/// The folder's identity: its volume and file id.
fn identity(file: &File) -> io::Result<(u32, u64)> {
    let info = information(file)?;
    Ok((
        info.dwVolumeSerialNumber,
        (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
    ))
}

pub(super) fn open_dir(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .access_mode(FOLDER_ACCESS)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    if information(&file)?.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY == 0 {
        return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
    }
    Ok(file)
}

pub(super) fn same_folder(held: &File, path: &Path) -> bool {
    let Ok(named) = open_dir(path) else {
        return false;
    };
    matches!((identity(held), identity(&named)), (Ok(a), Ok(b)) if a == b)
}

pub(super) fn try_lock(dir: &File, _path: &Path, state: &LockState) -> Result<(), TryLockError> {
    let file = match state.0.get() {
        Some(file) => file,
        None => {
            let (volume, id) = identity(dir).map_err(TryLockError::Error)?;
            let locks = std::env::temp_dir().join("fetch-assets-locks");
            std::fs::create_dir_all(&locks).map_err(TryLockError::Error)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(locks.join(format!("{volume:08x}-{id:016x}.lock")))
                .map_err(TryLockError::Error)?;
            state.0.get_or_init(|| file)
        }
    };
    file.try_lock()
}

pub(super) fn open_regular(dir: &File, name: &str, create_rw: bool) -> Result<File, OpenError> {
    let (access, disposition) = if create_rw {
        (
            FILE_GENERIC_READ | FILE_GENERIC_WRITE | DELETE,
            FILE_OPEN_IF,
        )
    } else {
        (FILE_GENERIC_READ, FILE_OPEN)
    };
    let file = open_relative(dir, name, access, disposition, FILE_NON_DIRECTORY_FILE).map_err(
        |status| match status {
            STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND => OpenError::Missing,
            STATUS_FILE_IS_A_DIRECTORY => OpenError::NotRegular,
            other => OpenError::Io(status_error(other)),
        },
    )?;
    match kind(&file) {
        Ok(Kind::File) => Ok(file),
        Ok(_) => Err(OpenError::NotRegular),
        Err(e) => Err(OpenError::Io(e)),
    }
}

pub(super) fn kind_of(dir: &File, name: &str) -> io::Result<Option<Kind>> {
    match open_relative(dir, name, FILE_READ_ATTRIBUTES, FILE_OPEN, 0) {
        Ok(file) => kind(&file).map(Some),
        Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => Ok(None),
        Err(other) => Err(status_error(other)),
    }
}

/// How many names the file `name` has (its hard links), the link itself
/// when it is a reparse point: `None` when nothing stands under the name.
pub(super) fn link_count(dir: &File, name: &str) -> io::Result<Option<u64>> {
    match open_relative(dir, name, FILE_READ_ATTRIBUTES, FILE_OPEN, 0) {
        Ok(file) => Ok(Some(u64::from(information(&file)?.nNumberOfLinks))),
        Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => Ok(None),
        Err(other) => Err(status_error(other)),
    }
}

pub(super) fn create_new(dir: &File, name: &str) -> io::Result<Option<File>> {
    match open_relative(
        dir,
        name,
        FILE_GENERIC_READ | FILE_GENERIC_WRITE | DELETE,
        FILE_CREATE,
        FILE_NON_DIRECTORY_FILE,
    ) {
        Ok(file) => Ok(Some(file)),
        Err(STATUS_OBJECT_NAME_COLLISION) => Ok(None),
        Err(other) => Err(status_error(other)),
    }
}

pub(super) fn sub_folder(dir: &File, name: &str, create: bool) -> Result<Option<File>, OpenError> {
    let disposition = if create { FILE_OPEN_IF } else { FILE_OPEN };
    let file = match open_relative(dir, name, FOLDER_ACCESS, disposition, FILE_DIRECTORY_FILE) {
        Ok(file) => file,
        Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => return Ok(None),
        Err(STATUS_NOT_A_DIRECTORY) => return Err(OpenError::NotRegular),
        Err(other) => return Err(OpenError::Io(status_error(other))),
    };
    match kind(&file) {
        Ok(Kind::Directory) => Ok(Some(file)),
        Ok(_) => Err(OpenError::NotRegular),
        Err(e) => Err(OpenError::Io(e)),
    }
}

/// Marks the open `file` for deletion: at once where the file system has
/// POSIX semantics, else when its last handle closes (ours, at return).
fn delete(file: &File) -> Result<(), NTSTATUS> {
    let flags: u32 = DISPOSITION_DELETE_POSIX;
    match set_information(file, &flags.to_ne_bytes(), FileDispositionInformationEx) {
        Err(
            STATUS_INVALID_INFO_CLASS
            | STATUS_INVALID_PARAMETER
            | STATUS_NOT_IMPLEMENTED
            | STATUS_NOT_SUPPORTED,
        ) => set_information(file, &[1u8], FileDispositionInformation),
        other => other,
    }
}

fn set_information(file: &File, data: &[u8], class: i32) -> Result<(), NTSTATUS> {
    // SAFETY: zeroed is a valid IO_STATUS_BLOCK.
    let mut status_block: IO_STATUS_BLOCK = unsafe { zeroed() };
    let length = u32::try_from(data.len()).map_err(|_| STATUS_INVALID_PARAMETER)?;
    // SAFETY: the handle is open; `data` is `length` readable bytes laid out
    // as the class's structure.
    let status = unsafe {
        NtSetInformationFile(
            file.as_raw_handle() as HANDLE,
            &mut status_block,
            data.as_ptr().cast::<c_void>(),
            length,
            class,
        )
    };
    if status < 0 { Err(status) } else { Ok(()) }
}

pub(super) fn remove_if_empty(dir: &File, name: &str) -> io::Result<()> {
    let file = match open_relative(dir, name, DELETE, FILE_OPEN, FILE_DIRECTORY_FILE) {
        Ok(file) => file,
        Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => return Ok(()),
        Err(other) => return Err(status_error(other)),
    };
    match delete(&file) {
        Ok(()) | Err(STATUS_DIRECTORY_NOT_EMPTY) => Ok(()),
        Err(other) => Err(status_error(other)),
    }
}

/// `FILE_DIRECTORY_INFORMATION`'s offsets: the next entry, the name's length
/// in bytes, the name.
const NEXT_ENTRY: usize = 0;
const NAME_LENGTH: usize = 60;
const NAME: usize = 64;
const FILE_DIRECTORY_INFORMATION: i32 = 1;

fn u32_at(buffer: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buffer.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn names(dir: &File) -> io::Result<Vec<String>> {
    // A handle of its own, so two listings never share a position.
    let listing = open_relative(dir, "", FILE_LIST_DIRECTORY, FILE_OPEN, FILE_DIRECTORY_FILE)
        .map_err(status_error)?;
    let mut names = Vec::new();
    let mut buffer = vec![0u8; 64 << 10];
    let mut first = true;
    loop {
        // SAFETY: zeroed is a valid IO_STATUS_BLOCK.
        let mut status_block: IO_STATUS_BLOCK = unsafe { zeroed() };
        // SAFETY: the handle is open (synchronous I/O); the buffer is
        // writable for its length.
        let status = unsafe {
            NtQueryDirectoryFile(
                listing.as_raw_handle() as HANDLE,
                null_mut(),
                None,
                null(),
                &mut status_block,
                buffer.as_mut_ptr().cast::<c_void>(),
                buffer.len() as u32,
                FILE_DIRECTORY_INFORMATION,
                false,
                null(),
                first,
            )
        };
        first = false;
        if status == STATUS_NO_MORE_FILES {
            return Ok(names);
        }
        if status < 0 {
            return Err(status_error(status));
        }
        let mut at = 0usize;
        loop {
            let entry = buffer.get(at..).unwrap_or_default();
            let (Some(next), Some(length)) =
                (u32_at(entry, NEXT_ENTRY), u32_at(entry, NAME_LENGTH))
            else {
                break;
            };
            if let Some(bytes) = entry.get(NAME..NAME + length as usize) {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|pair| u16::from_ne_bytes([pair[0], pair[1]]))
                    .collect();
                if let Ok(name) = String::from_utf16(&units)
                    && name != "."
                    && name != ".."
                {
                    names.push(name);
                }
            }
            if next == 0 {
                break;
            }
            at += next as usize;
        }
    }
}

pub(super) fn remove(dir: &File, name: &str) -> io::Result<()> {
    let file = match open_relative(dir, name, DELETE, FILE_OPEN, FILE_NON_DIRECTORY_FILE) {
        Ok(file) => file,
        Err(STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND) => return Ok(()),
        Err(other) => return Err(status_error(other)),
    };
    delete(&file).map_err(status_error)
}

/// `FILE_RENAME_INFORMATION(_EX)` for `to_name` relative to `to`: the
/// flags (or `ReplaceIfExists`), the folder's handle, the name's length in
/// bytes, the name.
fn rename_information(flags: u32, to: &File, to_name: &[u16]) -> Vec<u8> {
    let handle_at = size_of::<usize>();
    let length_at = handle_at + size_of::<usize>();
    let name_at = length_at + 4;
    let mut data = vec![0u8; name_at + to_name.len() * 2];
    data[..4].copy_from_slice(&flags.to_ne_bytes());
    data[handle_at..length_at].copy_from_slice(&(to.as_raw_handle() as usize).to_ne_bytes());
    data[length_at..name_at].copy_from_slice(&((to_name.len() * 2) as u32).to_ne_bytes());
    for (i, unit) in to_name.iter().enumerate() {
        data[name_at + 2 * i..name_at + 2 * i + 2].copy_from_slice(&unit.to_ne_bytes());
    }
    data
}

/// Renames `name` in `from` to `to_name` in `to`, replacing what stood
/// there in one step: `NtSetInformationFile` on the source's handle, the
/// target named relative to the target folder's handle.
pub(super) fn rename(from: &File, name: &str, to: &File, to_name: &str) -> io::Result<()> {
    let file = open_relative(from, name, DELETE, FILE_OPEN, 0).map_err(|status| match status {
        STATUS_OBJECT_NAME_NOT_FOUND | STATUS_OBJECT_PATH_NOT_FOUND => {
            io::Error::from(io::ErrorKind::NotFound)
        }
        other => status_error(other),
    })?;
    let target = wide(to_name);
    let posix = rename_information(RENAME_REPLACE_POSIX, to, &target);
    let result = match set_information(&file, &posix, FileRenameInformationEx) {
        Err(
            STATUS_INVALID_INFO_CLASS
            | STATUS_INVALID_PARAMETER
            | STATUS_NOT_IMPLEMENTED
            | STATUS_NOT_SUPPORTED,
        ) => {
            // `ReplaceIfExists` is the first byte of the same layout.
            set_information(
                &file,
                &rename_information(1, to, &target),
                FileRenameInformation,
            )
        }
        other => other,
    };
    result.map_err(status_error)
}

pub(super) fn may_write_in(_path: &Path) -> io::Result<()> {
    Ok(())
}

pub(super) fn free_space(_dir: &File, path: &Path) -> io::Result<u64> {
    // Past 260 characters only a verbatim path (`\\?\C:\...`) is read
    // whole; std adds the prefix to the paths it opens, this call needs it
    // written out.
    let absolute = std::path::absolute(path)?;
    let text = absolute.as_os_str().to_string_lossy();
    let verbatim = if text.starts_with(r"\\") {
        absolute.as_os_str().to_owned()
    } else {
        std::ffi::OsString::from(format!(r"\\?\{text}"))
    };
    let path: Vec<u16> = verbatim.encode_wide().chain([0]).collect();
    let mut free = 0u64;
    // SAFETY: `path` is NUL-terminated; `free` is a live local; the other
    // outputs may be null.
    if unsafe { GetDiskFreeSpaceExW(path.as_ptr(), &mut free, null_mut(), null_mut()) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(free)
}

/// `FlushFileBuffers` on the folder, through a handle of it opened for
/// writing (NTFS flushes a folder's entries only through one). Where that
/// cannot be had or the file system cannot flush a folder (access denied,
/// unsupported), the run goes on: NTFS journals its renames.
pub(super) fn sync(dir: &File) -> io::Result<()> {
    let writable = open_relative(dir, "", FILE_GENERIC_WRITE, FILE_OPEN, FILE_DIRECTORY_FILE);
    let handle = writable.as_ref().unwrap_or(dir);
    // SAFETY: the handle is open for the call.
    if unsafe { FlushFileBuffers(handle.as_raw_handle() as HANDLE) } != 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // ERROR_INVALID_FUNCTION, ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE,
        // ERROR_INVALID_PARAMETER.
        Some(1 | 5 | 6 | 87) => Ok(()),
        _ => Err(error),
    }
}

pub(super) fn read_exact_at(file: &File, mut buffer: &mut [u8], mut at: u64) -> io::Result<()> {
    while !buffer.is_empty() {
        match file.seek_read(buffer, at) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(read) => {
                buffer = &mut buffer[read..];
                at += read as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(super) fn write_all_at(file: &File, mut buffer: &[u8], mut at: u64) -> io::Result<()> {
    while !buffer.is_empty() {
        match file.seek_write(buffer, at) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(written) => {
                buffer = &buffer[written..];
                at += written as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
