//! The output folder, held open: every file operation of a run goes through
//! this one handle (`openat`, `renameat`, `unlinkat` on Unix; `NtCreateFile`
//! and `NtSetInformationFile` relative to the folder's handle on Windows),
//! never through the folder's path again.
//!
//! Why: a path is looked up anew at each use, so a folder renamed or
//! replaced while a run waits for its lock (or while it downloads) would
//! send the run's writes somewhere else than the folder it locked. With a
//! handle, the run writes into the folder it opened and locked, wherever it
//! now stands. The path is kept for messages only.
//!
//! The other invariants of this file:
//! - a name is one plain path segment (no `/`, no `..`; on Windows no `\`
//!   or `:` either), so nothing is ever opened outside the folder;
//! - files are opened without following symlinks (reparse points on
//!   Windows) and without blocking, and are checked to be regular files on
//!   the opened handle: a FIFO, a device or a symlink (to `/etc/hostname`,
//!   to `/dev/zero`) under one of our names is never read, waited on, or
//!   trusted;
//! - new files get the mode any new file gets (`0666` less the umask on
//!   Unix), like `cp` or `curl -o` would give them, so a web server or a
//!   second user of a shared folder can read what the pipeline fetched;
//! - renames replace what stood under the new name in one step;
//! - temporary files are named by [`crate::temp_file`] and are removed when
//!   dropped unless put in place.
//!
//! The platform's calls live in `folder/unix.rs` and `folder/windows.rs`,
//! behind the one API here; so do positional reads and writes
//! ([`read_exact_at`], [`write_all_at`]).

use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::temp_file;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

/// An open output folder.
#[derive(Debug)]
pub(crate) struct Folder {
    handle: File,
    path: PathBuf,
    lock: sys::LockState,
}

/// What stands under a name, the link itself when it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file.
    File,
    /// A folder (not a link to one).
    Directory,
    /// Anything else: a symlink or other reparse point, a FIFO, a device.
    Other,
}

/// Why a name in the folder could not be opened as a file.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Nothing under that name.
    Missing,
    /// Something that is not a regular file: a symlink, a FIFO, a device, a
    /// folder.
    NotRegular,
    /// The name is not one plain path segment.
    UnsafeName,
    /// Any other failure.
    Io(io::Error),
}

fn unsafe_name(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("'{}' is not a plain file name", name.escape_default()),
    )
}

impl Folder {
    /// Opens the folder at `path` (which must exist).
    pub(crate) fn open(path: &Path) -> io::Result<Folder> {
        Ok(Folder {
            handle: sys::open_dir(path)?,
            path: path.to_owned(),
            lock: sys::LockState::default(),
        })
    }

    /// The folder's path, as given: for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in the folder: for messages.
    pub(crate) fn shown(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Takes the folder lock without waiting: `flock` on the folder's own
    /// handle on Unix; on Windows, which cannot lock a folder, `LockFileEx`
    /// on a lock file named by the folder's identity (volume and file id)
    /// in the temporary folder, so the folder itself holds no lock file.
    /// Held until the folder is dropped.
    pub(crate) fn try_lock(&self) -> Result<(), TryLockError> {
        sys::try_lock(&self.handle, &self.path, &self.lock)
    }

    /// True while the folder's path still names the folder this handle
    /// holds (same device and inode; same volume and file id): false once
    /// it was renamed or replaced.
    pub(crate) fn still_at_path(&self) -> bool {
        sys::same_folder(&self.handle, &self.path)
    }

    /// Opens `name` for reading, only if it is a regular file directly in
    /// the folder: no symlink is followed, and a FIFO or a device is neither
    /// waited on nor read.
    pub(crate) fn open_regular(&self, name: &str) -> Result<File, OpenError> {
        if !is_plain_name(name) {
            return Err(OpenError::UnsafeName);
        }
        sys::open_regular(&self.handle, name, false)
    }

    /// Opens `name` for reading and writing, made empty first if missing,
    /// only if it is a regular file directly in the folder (as
    /// [`Folder::open_regular`]). Its mode, when made, is a new file's.
    pub(crate) fn open_or_create_regular(&self, name: &str) -> Result<File, OpenError> {
        if !is_plain_name(name) {
            return Err(OpenError::UnsafeName);
        }
        sys::open_regular(&self.handle, name, true)
    }

    /// What stands under `name`, without following a symlink: `None` when
    /// nothing does.
    pub(crate) fn kind_of(&self, name: &str) -> io::Result<Option<Kind>> {
        if !is_plain_name(name) {
            return Err(unsafe_name(name));
        }
        sys::kind_of(&self.handle, name)
    }

    /// True when the file `name` has another hard link (another name, in
    /// this folder or elsewhere, for the same bytes), without following a
    /// symlink; false when nothing stands under the name.
    pub(crate) fn has_other_links(&self, name: &str) -> io::Result<bool> {
        if !is_plain_name(name) {
            return Err(unsafe_name(name));
        }
        Ok(sys::link_count(&self.handle, name)?.is_some_and(|links| links > 1))
    }

    /// Creates a new, empty temporary file in the folder, removed when the
    /// returned [`TempFile`] is dropped unless it is put in place.
    pub(crate) fn create_temp(self: &Arc<Self>) -> io::Result<(File, TempFile)> {
        loop {
            let name = temp_file::new_name();
            if let Some(file) = sys::create_new(&self.handle, &name)? {
                let temp = TempFile {
                    folder: self.clone(),
                    name: Some(name),
                };
                return Ok((file, temp));
            }
        }
    }

    /// Opens the folder `name` directly inside this one (made first when
    /// `create`): `Ok(None)` when it is missing and not to be made. No
    /// symlink is followed: anything but a folder under the name is
    /// [`OpenError::NotRegular`].
    pub(crate) fn sub_folder(&self, name: &str, create: bool) -> Result<Option<Folder>, OpenError> {
        if !is_plain_name(name) {
            return Err(OpenError::UnsafeName);
        }
        Ok(
            sys::sub_folder(&self.handle, name, create)?.map(|handle| Folder {
                handle,
                path: self.path.join(name),
                lock: sys::LockState::default(),
            }),
        )
    }

    /// Removes the folder `name` directly inside this one if it is empty:
    /// nothing there, or something left in it, is fine.
    pub(crate) fn remove_if_empty(&self, name: &str) -> io::Result<()> {
        if !is_plain_name(name) {
            return Err(unsafe_name(name));
        }
        sys::remove_if_empty(&self.handle, name)
    }

    /// The names directly in the folder (`.` and `..` left out, and any
    /// name that is not one plain UTF-8 segment).
    pub(crate) fn names(&self) -> io::Result<Vec<String>> {
        let mut names = sys::names(&self.handle)?;
        names.retain(|name| is_plain_name(name));
        Ok(names)
    }

    /// Removes the file (or symlink) `name`; nothing there is fine.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        if !is_plain_name(name) {
            return Err(unsafe_name(name));
        }
        sys::remove(&self.handle, name)
    }

    /// Moves `name` from this folder to `to_name` in folder `to` (on the
    /// same file system: one atomic rename), replacing what stood there.
    pub(crate) fn move_to(&self, name: &str, to: &Folder, to_name: &str) -> io::Result<()> {
        if !is_plain_name(name) || !is_plain_name(to_name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain file name",
            ));
        }
        sys::rename(&self.handle, name, &to.handle, to_name)
    }

    /// Writes `content` under `name` atomically: a synced temporary file,
    /// renamed over the name. (The caller syncs the folder to make the
    /// rename durable.)
    pub(crate) fn write_atomically(self: &Arc<Self>, name: &str, content: &[u8]) -> io::Result<()> {
        let (mut file, temp) = self.create_temp()?;
        file.write_all(content)?;
        file.sync_all()?;
        // Closed before the rename: Windows renames an open file only with
        // POSIX semantics, which not every file system has.
        drop(file);
        temp.put_in_place(name)
    }

    /// The bytes free for this user on the folder's file system.
    pub(crate) fn free_space(&self) -> io::Result<u64> {
        sys::free_space(&self.handle, &self.path)
    }

    /// Makes the folder's entries (renames, new files) survive a crash.
    /// File systems that cannot sync a folder (and Windows, where a folder
    /// handle opened for reading cannot be flushed; NTFS journals its
    /// renames) are not a failure of the run. Any other error is.
    pub(crate) fn sync(&self) -> io::Result<()> {
        sys::sync(&self.handle)
    }

    /// Removes `.fetch-assets-*.part` files directly in the folder. Only
    /// called with the folder lock held, when every such file is a dead
    /// run's. Best effort: a file that cannot be removed stays.
    pub(crate) fn remove_stale_temp_files(&self) {
        let Ok(names) = sys::names(&self.handle) else {
            return;
        };
        for name in names {
            if temp_file::is_temp_name(&name)
                && self
                    .kind_of(&name)
                    .is_ok_and(|kind| kind == Some(Kind::File))
            {
                let _ = sys::remove(&self.handle, &name);
            }
        }
    }
}

/// The operating system's error codes for a local failure that passes: too
/// many open files, a full disk or quota.
pub(crate) const PASSING_OS_ERRORS: &[i32] = sys::PASSING_OS_ERRORS;

/// Whether this process may create files in the folder at `path`: asked of
/// the system before a run waits for its task, so a folder it cannot write
/// is said at once, not after the wait. (Windows answers at the first
/// write: its folders' read-only flag means nothing.)
pub(crate) fn may_write_in(path: &Path) -> io::Result<()> {
    sys::may_write_in(path)
}

/// Reads exactly `buffer.len()` bytes of `file` from offset `at`. On Unix
/// the file's own offset does not move; on Windows it does, so a caller
/// that goes on with the file's offset seeks first.
pub(crate) fn read_exact_at(file: &File, buffer: &mut [u8], at: u64) -> io::Result<()> {
    sys::read_exact_at(file, buffer, at)
}

/// Writes all of `buffer` into `file` at offset `at` (the file's offset, as
/// for [`read_exact_at`], moves on Windows only).
pub(crate) fn write_all_at(file: &File, buffer: &[u8], at: u64) -> io::Result<()> {
    sys::write_all_at(file, buffer, at)
}

/// A temporary file in a [`Folder`], removed on drop unless put in place.
#[derive(Debug)]
pub(crate) struct TempFile {
    folder: Arc<Folder>,
    /// `None` once put in place.
    name: Option<String>,
}

impl TempFile {
    /// Renames the file to `name` in its folder, replacing what stood there.
    pub(crate) fn put_in_place(mut self, name: &str) -> io::Result<()> {
        if !is_plain_name(name) {
            return Err(unsafe_name(name));
        }
        let Some(temp) = self.name.as_deref() else {
            return Err(io::Error::other("the temporary file is gone"));
        };
        sys::rename(&self.folder.handle, temp, &self.folder.handle, name)?;
        self.name = None;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = sys::remove(&self.folder.handle, &name);
        }
    }
}

/// One plain path segment: nothing that could leave the folder. On Windows
/// a `:` names a file's alternate stream, so it is refused there too.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !(cfg!(windows) && name.contains(':'))
        && Path::new(name).file_name().is_some_and(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Set by `.ci/windows/runner`: the tests run under wine.
    const UNDER_WINE: &str = "FETCH_ASSETS_UNDER_WINE";

    fn folder() -> (tempfile::TempDir, Arc<Folder>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = Arc::new(Folder::open(dir.path()).expect("open"));
        (dir, folder)
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_directly_inside_are_opened() {
        let (dir, folder) = folder();
        let outside = tempfile::NamedTempFile::new().expect("outside");
        std::fs::write(dir.path().join("file"), b"x").expect("write");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo")
                .success()
        );
        let mut text = String::new();
        folder
            .open_regular("file")
            .expect("a regular file opens")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "x");
        for name in ["link", "sub", "fifo"] {
            assert!(
                matches!(folder.open_regular(name), Err(OpenError::NotRegular)),
                "{name}"
            );
        }
        assert!(matches!(
            folder.open_regular("none"),
            Err(OpenError::Missing)
        ));
        for name in ["../x", "/etc/passwd", "..", ""] {
            assert!(
                matches!(folder.open_regular(name), Err(OpenError::UnsafeName)),
                "{name}"
            );
        }
    }

    #[test]
    fn temp_files_go_when_dropped_and_stay_when_put_in_place() {
        let (dir, folder) = folder();
        let (mut file, temp) = folder.create_temp().expect("temp");
        file.write_all(b"kept").expect("write");
        temp.put_in_place("kept.bin").expect("rename");
        let (_, dropped) = folder.create_temp().expect("temp");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
        drop(dropped);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["kept.bin"]);
    }

    /// Windows: a folder is not a file, a name is one segment, and a name
    /// Windows keeps for a device is a plain file in the folder.
    #[cfg(windows)]
    #[test]
    fn only_regular_files_directly_inside_are_opened() {
        let (dir, folder) = folder();
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let (mut file, temp) = folder.create_temp().expect("temp");
        file.write_all(b"x").expect("write");
        drop(file);
        temp.put_in_place("con").expect("rename");
        let mut text = String::new();
        folder
            .open_regular("con")
            .expect("a regular file opens")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "x");
        assert_eq!(folder.names().expect("names"), ["con", "sub"]);
        assert!(matches!(
            folder.open_regular("sub"),
            Err(OpenError::NotRegular)
        ));
        assert_eq!(folder.kind_of("sub").expect("kind"), Some(Kind::Directory));
        assert_eq!(folder.kind_of("con").expect("kind"), Some(Kind::File));
        assert!(matches!(
            folder.open_regular("none"),
            Err(OpenError::Missing)
        ));
        for name in ["..\\x", "C:\\Windows", "a:stream", "..", ""] {
            assert!(
                matches!(folder.open_regular(name), Err(OpenError::UnsafeName)),
                "{name}"
            );
        }
        folder.remove("con").expect("remove");
        assert_eq!(folder.names().expect("names"), ["sub"]);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_mode_the_umask_gives() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, folder) = folder();
        let (_, temp) = folder.create_temp().expect("temp");
        temp.put_in_place("f").expect("rename");
        let mode = std::fs::metadata(dir.path().join("f"))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        // The test process's umask is whatever it is; the file never has
        // more than 0666 and never the owner-only 0600 of a temp file
        // unless the umask says so.
        let umask = current_umask();
        assert_eq!(mode, 0o666 & !umask);
    }

    #[cfg(unix)]
    fn current_umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("Umask:"))
            .expect("a Umask line");
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).expect("octal")
    }

    #[test]
    fn a_renamed_folder_is_no_longer_at_its_path() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("out");
        std::fs::create_dir(&path).expect("mkdir");
        let folder = Arc::new(Folder::open(&path).expect("open"));
        assert!(folder.still_at_path());
        std::fs::rename(&path, root.path().join("moved")).expect("rename");
        std::fs::create_dir(&path).expect("mkdir again");
        assert!(!folder.still_at_path());
        // Writes still go to the folder that was opened.
        let (_, temp) = folder.create_temp().expect("temp");
        let temp_name = temp.name.clone().expect("a name");
        assert!(root.path().join("moved").join(&temp_name).exists());
        assert!(!path.join(&temp_name).exists());
        // Wine keeps the folder's old name for a handle that did not rename
        // it, and refuses a rename into it; Windows and Unix do not.
        if cfg!(windows) && std::env::var_os(UNDER_WINE).is_some() {
            return;
        }
        temp.put_in_place("f").expect("rename");
        assert!(root.path().join("moved/f").exists());
        assert!(!path.join("f").exists());
    }

    /// A folder past Windows' old 260-character limit works as any other.
    #[test]
    fn a_folder_with_a_long_path_is_used_like_any_other() {
        let root = tempfile::tempdir().expect("tempdir");
        let mut path = root.path().to_owned();
        while path.as_os_str().len() <= 300 {
            path.push("a_rather_long_folder_name_0123456789");
        }
        std::fs::create_dir_all(&path).expect("mkdir -p");
        let folder = Arc::new(Folder::open(&path).expect("open"));
        assert!(folder.still_at_path());
        folder.try_lock().expect("locked");
        folder
            .write_atomically("model.glb", b"glTF")
            .expect("written");
        let staging = folder
            .sub_folder(".fetch-assets", true)
            .expect("made")
            .expect("there");
        let staging = Arc::new(staging);
        staging.write_atomically("x.part", b"x").expect("written");
        staging.move_to("x.part", &folder, "x.bin").expect("moved");
        let mut names = folder.names().expect("names");
        names.sort();
        assert_eq!(names, [".fetch-assets", "model.glb", "x.bin"]);
        assert_eq!(
            std::fs::read(path.join("model.glb")).expect("read"),
            b"glTF"
        );
        assert!(folder.free_space().expect("free space") > 0);
        drop(staging);
        folder.remove_if_empty(".fetch-assets").expect("removed");
        assert_eq!(folder.kind_of(".fetch-assets").expect("kind"), None);
        folder.sync().expect("synced");
    }

    #[test]
    fn stale_temp_files_go_and_only_they() {
        let (dir, folder) = folder();
        for name in [
            ".fetch-assets-abc123.part",
            ".fetch-assets-.part",
            "model.glb",
            "x.part",
            ".fetch-assets-keep",
        ] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        std::fs::create_dir(dir.path().join(".fetch-assets-dir.part")).expect("mkdir");
        folder.remove_stale_temp_files();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".fetch-assets-.part",
                ".fetch-assets-dir.part",
                ".fetch-assets-keep",
                "model.glb",
                "x.part"
            ]
        );
    }
}
