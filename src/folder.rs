//! The output folder, held open: every file operation of a run goes through
//! this one handle (`openat`, `renameat`, `unlinkat`, ...), never through
//! the folder's path again.
//!
//! Why: a path is looked up anew at each use, so a folder renamed or
//! replaced while a run waits for its lock (or while it downloads) would
//! send the run's writes somewhere else than the folder it locked. With a
//! handle, the run writes into the folder it opened and locked, wherever it
//! now stands. The path is kept for messages only.
//!
//! The other invariants of this file:
//! - a name is one plain path segment (no `/`, no `..`), so nothing is ever
//!   opened outside the folder;
//! - files are opened without following symlinks and without blocking, and
//!   are checked to be regular files on the opened handle: a FIFO, a device
//!   or a symlink (to `/etc/hostname`, to `/dev/zero`) under one of our names
//!   is never read, waited on, or trusted;
//! - new files get the mode any new file gets (`0666` less the umask), like
//!   `cp` or `curl -o` would give them, so a web server or a second user of a
//!   shared folder can read what the pipeline fetched;
//! - temporary files are named by [`crate::temp_file`] and are removed when
//!   dropped unless put in place.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::temp_file;

/// The mode a new file is created with; the kernel takes the umask off.
const NEW_FILE_MODE: u32 = 0o666;

/// An open output folder.
#[derive(Debug)]
pub(crate) struct Folder {
    handle: File,
    path: PathBuf,
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

impl Folder {
    /// Opens the folder at `path` (which must exist).
    pub(crate) fn open(path: &Path) -> io::Result<Folder> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Folder {
            handle: File::from(fd),
            path: path.to_owned(),
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

    /// The handle, for the folder lock.
    pub(crate) fn handle(&self) -> &File {
        &self.handle
    }

    /// True while the folder's path still names the folder this handle
    /// holds (same device and inode): false once it was renamed or replaced.
    pub(crate) fn still_at_path(&self) -> bool {
        let (Ok(held), Ok(named)) = (
            rustix::fs::fstat(&self.handle),
            rustix::fs::stat(&self.path),
        ) else {
            return false;
        };
        held.st_dev == named.st_dev && held.st_ino == named.st_ino
    }

    /// Opens `name` for reading, only if it is a regular file directly in
    /// the folder: no symlink is followed, and a FIFO or a device is neither
    /// waited on nor read.
    pub(crate) fn open_regular(&self, name: &str) -> Result<File, OpenError> {
        if !is_plain_name(name) {
            return Err(OpenError::UnsafeName);
        }
        let fd = rustix::fs::openat(
            &self.handle,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| match errno {
            rustix::io::Errno::NOENT => OpenError::Missing,
            // A symlink, under O_NOFOLLOW (ELOOP; EMLINK on some BSDs).
            rustix::io::Errno::LOOP | rustix::io::Errno::MLINK => OpenError::NotRegular,
            // A FIFO with no writer, under O_NONBLOCK, opened for reading
            // succeeds; one opened otherwise may say ENXIO.
            rustix::io::Errno::NXIO => OpenError::NotRegular,
            other => OpenError::Io(other.into()),
        })?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| OpenError::Io(e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(OpenError::NotRegular);
        }
        // A regular file never blocks; plain reads from here on.
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| OpenError::Io(e.into()))?;
        Ok(File::from(fd))
    }

    /// What stands under `name`, without following a symlink: `None` when
    /// nothing does.
    pub(crate) fn kind_of(&self, name: &str) -> io::Result<Option<FileType>> {
        if !is_plain_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{}' is not a plain file name", name.escape_default()),
            ));
        }
        match rustix::fs::statat(&self.handle, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// True when the file `name` has another hard link (another name, in
    /// this folder or elsewhere, for the same bytes), without following a
    /// symlink; false when nothing stands under the name.
    pub(crate) fn has_other_links(&self, name: &str) -> io::Result<bool> {
        if !is_plain_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{}' is not a plain file name", name.escape_default()),
            ));
        }
        match rustix::fs::statat(&self.handle, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(stat.st_nlink > 1),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Creates a new, empty temporary file in the folder, removed when the
    /// returned [`TempFile`] is dropped unless it is put in place.
    pub(crate) fn create_temp(self: &Arc<Self>) -> io::Result<(File, TempFile)> {
        loop {
            let name = temp_file::new_name();
            match rustix::fs::openat(
                &self.handle,
                name.as_str(),
                OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(NEW_FILE_MODE),
            ) {
                Ok(fd) => {
                    let temp = TempFile {
                        folder: self.clone(),
                        name: Some(name),
                    };
                    return Ok((File::from(fd), temp));
                }
                Err(rustix::io::Errno::EXIST) => continue,
                Err(other) => return Err(other.into()),
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
        if create {
            match rustix::fs::mkdirat(&self.handle, name, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(other) => return Err(OpenError::Io(other.into())),
            }
        }
        match rustix::fs::openat(
            &self.handle,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Some(Folder {
                handle: File::from(fd),
                path: self.path.join(name),
            })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR | rustix::io::Errno::MLINK) => {
                Err(OpenError::NotRegular)
            }
            Err(other) => Err(OpenError::Io(other.into())),
        }
    }

    /// Removes the folder `name` directly inside this one if it is empty:
    /// nothing there, or something left in it, is fine.
    pub(crate) fn remove_if_empty(&self, name: &str) -> io::Result<()> {
        if !is_plain_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{}' is not a plain file name", name.escape_default()),
            ));
        }
        match rustix::fs::unlinkat(&self.handle, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTEMPTY) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// The names directly in the folder (`.` and `..` left out).
    pub(crate) fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.handle)? {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if let Some(name) = name.to_str().filter(|n| is_plain_name(n)) {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    /// Removes the file (or symlink) `name`; nothing there is fine.
    pub(crate) fn remove(&self, name: &str) -> io::Result<()> {
        if !is_plain_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{}' is not a plain file name", name.escape_default()),
            ));
        }
        match rustix::fs::unlinkat(&self.handle, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(other) => Err(other.into()),
        }
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
        rustix::fs::renameat(&self.handle, name, &to.handle, to_name)?;
        Ok(())
    }

    /// Writes `content` under `name` atomically: a synced temporary file,
    /// renamed over the name. (The caller syncs the folder to make the
    /// rename durable.)
    pub(crate) fn write_atomically(self: &Arc<Self>, name: &str, content: &[u8]) -> io::Result<()> {
        let (mut file, temp) = self.create_temp()?;
        file.write_all(content)?;
        file.sync_all()?;
        temp.put_in_place(name)
    }

    /// The bytes free for this user on the folder's file system.
    pub(crate) fn free_space(&self) -> io::Result<u64> {
        let stat = rustix::fs::fstatvfs(&self.handle)?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Makes the folder's entries (renames, new files) survive a crash.
    /// File systems that cannot sync a folder say so with `EINVAL`; that is
    /// not a failure of the run. Any other error is.
    pub(crate) fn sync(&self) -> io::Result<()> {
        match rustix::fs::fsync(&self.handle) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Removes `.fetch-assets-*.part` files directly in the folder. Only
    /// called with the folder lock held, when every such file is a dead
    /// run's. Best effort: a file that cannot be removed stays.
    pub(crate) fn remove_stale_temp_files(&self) {
        let Ok(entries) = rustix::fs::Dir::read_from(&self.handle) else {
            return;
        };
        for entry in entries.flatten() {
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            let Some(name) = name.to_str() else {
                continue;
            };
            if temp_file::is_temp_name(name)
                && self
                    .kind_of(name)
                    .is_ok_and(|kind| kind == Some(FileType::RegularFile))
            {
                let _ = rustix::fs::unlinkat(&self.handle, name, AtFlags::empty());
            }
        }
    }
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
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{}' is not a plain file name", name.escape_default()),
            ));
        }
        let Some(temp) = self.name.as_deref() else {
            return Err(io::Error::other("the temporary file is gone"));
        };
        rustix::fs::renameat(&self.folder.handle, temp, &self.folder.handle, name)?;
        self.name = None;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = rustix::fs::unlinkat(&self.folder.handle, name.as_str(), AtFlags::empty());
        }
    }
}

/// One plain path segment: nothing that could leave the folder.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;

    fn folder() -> (tempfile::TempDir, Arc<Folder>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = Arc::new(Folder::open(dir.path()).expect("open"));
        (dir, folder)
    }

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

    #[test]
    fn new_files_get_the_mode_the_umask_gives() {
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
        temp.put_in_place("f").expect("rename");
        assert!(root.path().join("moved/f").exists());
        assert!(!path.join("f").exists());
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
