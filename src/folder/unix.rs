//! The folder's operations on Unix: `openat` and its kin on the folder's
//! descriptor, through rustix.

use std::ffi::OsStr;
use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Kind, OpenError};

/// The mode a new file is created with; the kernel takes the umask off.
const NEW_FILE_MODE: u32 = 0o666;

/// Too many open files (the process's, the system's), no space, no quota.
pub(super) const PASSING_OS_ERRORS: &[i32] =
    &[libc::EMFILE, libc::ENFILE, libc::ENOSPC, libc::EDQUOT];

/// What the folder lock is taken on: the folder's own descriptor (`flock`).
#[derive(Debug, Default)]
pub(super) struct LockState(());

pub(super) fn open_dir(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Same device and inode.
pub(super) fn same_folder(held: &File, path: &Path) -> bool {
    let (Ok(held), Ok(named)) = (rustix::fs::fstat(held), rustix::fs::stat(path)) else {
        return false;
    };
    held.st_dev == named.st_dev && held.st_ino == named.st_ino
}

pub(super) fn try_lock(dir: &File, _path: &Path, _state: &LockState) -> Result<(), TryLockError> {
    dir.try_lock()
}

/// Opens `name` without following a symlink and without blocking on a
/// FIFO, then checks the opened file is a regular one.
pub(super) fn open_regular(dir: &File, name: &str, create_rw: bool) -> Result<File, OpenError> {
    let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let flags = if create_rw {
        flags | OFlags::RDWR | OFlags::CREATE
    } else {
        flags | OFlags::RDONLY
    };
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(NEW_FILE_MODE)).map_err(
        |errno| match errno {
            Errno::NOENT => OpenError::Missing,
            // A symlink, under O_NOFOLLOW (ELOOP; EMLINK on some BSDs).
            Errno::LOOP | Errno::MLINK => OpenError::NotRegular,
            // A FIFO with no writer, under O_NONBLOCK, opened for reading
            // succeeds; one opened otherwise may say ENXIO.
            Errno::NXIO | Errno::ISDIR => OpenError::NotRegular,
            other => OpenError::Io(other.into()),
        },
    )?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| OpenError::Io(e.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(OpenError::NotRegular);
    }
    // A regular file never blocks; plain reads from here on.
    rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| OpenError::Io(e.into()))?;
    Ok(File::from(fd))
}

pub(super) fn kind_of(dir: &File, name: &str) -> io::Result<Option<Kind>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Directory,
            _ => Kind::Other,
        })),
        Err(Errno::NOENT) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// How many names the file `name` has (its hard links), without following
/// a symlink: `None` when nothing stands under the name.
// `nlink_t` is `u64` on Linux, `u16` on macOS.
#[allow(clippy::useless_conversion)]
pub(super) fn link_count(dir: &File, name: &str) -> io::Result<Option<u64>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(u64::from(stat.st_nlink))),
        Err(Errno::NOENT) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// A new file under `name`, read-write: `None` when the name is taken.
pub(super) fn create_new(dir: &File, name: &str) -> io::Result<Option<File>> {
    match rustix::fs::openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(NEW_FILE_MODE),
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::EXIST) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

pub(super) fn sub_folder(dir: &File, name: &str, create: bool) -> Result<Option<File>, OpenError> {
    if create {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(other) => return Err(OpenError::Io(other.into())),
        }
    }
    match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP | Errno::NOTDIR | Errno::MLINK) => Err(OpenError::NotRegular),
        Err(other) => Err(OpenError::Io(other.into())),
    }
}

pub(super) fn remove_if_empty(dir: &File, name: &str) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT | Errno::NOTEMPTY) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// Every name in the folder that is UTF-8 (`.` and `..` left out).
pub(super) fn names(dir: &File) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if let Some(name) = name.to_str().filter(|n| *n != "." && *n != "..") {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

pub(super) fn remove(dir: &File, name: &str) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

pub(super) fn rename(from: &File, name: &str, to: &File, to_name: &str) -> io::Result<()> {
    rustix::fs::renameat(from, name, to, to_name)?;
    Ok(())
}

pub(super) fn free_space(dir: &File, _path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::fstatvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// File systems that cannot sync a folder say so with `EINVAL`; that is not
/// a failure of the run.
pub(super) fn sync(dir: &File) -> io::Result<()> {
    match rustix::fs::fsync(dir) {
        Ok(()) | Err(Errno::INVAL) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

pub(super) fn may_write_in(path: &Path) -> io::Result<()> {
    rustix::fs::access(
        path,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    )
    .map_err(io::Error::from)
}

pub(super) fn read_exact_at(file: &File, buffer: &mut [u8], at: u64) -> io::Result<()> {
    file.read_exact_at(buffer, at)
}

pub(super) fn write_all_at(file: &File, buffer: &[u8], at: u64) -> io::Result<()> {
    file.write_all_at(buffer, at)
}
