//! `verify`: a folder checked against its `manifest.json`, like
//! `sha256sum -c`. On its own, apart from the manifest's format, so that
//! reading a folder back and writing a manifest change separately.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::folder::{Folder, OpenError};
use crate::manifest::{FileEntry, MANIFEST_FILE, Manifest};
use crate::staging;

/// How one file compares with its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileCheck {
    /// Same size, same hash.
    Ok,
    /// Not there (or not a readable file).
    Missing,
    /// A different size.
    SizeDiffers {
        /// The size the manifest records.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// Same size, different content.
    HashDiffers,
    /// The manifest names a path outside the folder: not checked.
    UnsafePath,
    /// Something other than a regular file stands under the name: a
    /// symlink (never followed), a FIFO, a device, a folder.
    NotRegular,
}

impl std::fmt::Display for FileCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileCheck::Ok => f.write_str("OK"),
            FileCheck::Missing => f.write_str("MISSING"),
            FileCheck::SizeDiffers { expected, actual } => {
                write!(f, "FAILED (size {actual} bytes, expected {expected})")
            }
            FileCheck::HashDiffers => f.write_str("FAILED (content differs)"),
            FileCheck::UnsafePath => f.write_str("FAILED (path outside the folder)"),
            FileCheck::NotRegular => f.write_str("FAILED (not a regular file)"),
        }
    }
}

/// The result of checking a folder against its manifest.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The manifest that was checked against.
    pub manifest: Manifest,
    /// Each entry's path and result, in the manifest's order.
    pub files: Vec<(String, FileCheck)>,
}

impl VerifyReport {
    /// True when every file matches.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|(_, check)| *check == FileCheck::Ok)
    }
}

/// Re-hashes every file of a folder against its `manifest.json`.
pub async fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport> {
    let dir = dir.as_ref().to_owned();
    tokio::task::spawn_blocking(move || {
        let folder = match Folder::open(&dir) {
            Ok(folder) => folder,
            // No folder: nothing was ever committed there, as for an empty one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoManifest {
                    dir,
                    unfinished: false,
                });
            }
            Err(e) => return Err(Error::io("open the folder", &dir, e)),
        };
        if let Ok(None) = folder.kind_of(MANIFEST_FILE) {
            let staging = folder.kind_of(staging::STAGING_DIR);
            return Err(Error::NoManifest {
                dir,
                unfinished: matches!(staging, Ok(Some(crate::folder::Kind::Directory))),
            });
        }
        let manifest = Manifest::read_in(&folder)?;
        let files = manifest
            .files
            .iter()
            .map(|entry| (entry.path.clone(), check(&folder, entry)))
            .collect();
        Ok(VerifyReport { manifest, files })
    })
    .await
    .map_err(|e| Error::Internal(format!("verification stopped: {e}")))?
}

/// Checks one entry. A path is only ever a plain name inside the folder,
/// and only a regular file is read. Blocking: call from a blocking thread.
pub(crate) fn check(folder: &Folder, entry: &FileEntry) -> FileCheck {
    let mut file = match folder.open_regular(&entry.path) {
        Ok(file) => file,
        Err(OpenError::UnsafeName) => return FileCheck::UnsafePath,
        Err(OpenError::NotRegular) => return FileCheck::NotRegular,
        Err(OpenError::Missing | OpenError::Io(_)) => return FileCheck::Missing,
    };
    let actual = match file.metadata() {
        Ok(meta) => meta.len(),
        Err(_) => return FileCheck::Missing,
    };
    if actual != entry.size {
        return FileCheck::SizeDiffers {
            expected: entry.size,
            actual,
        };
    }
    match sha256_of(&mut file) {
        Ok(hash) if hash.eq_ignore_ascii_case(&entry.sha256) => FileCheck::Ok,
        Ok(_) => FileCheck::HashDiffers,
        Err(_) => FileCheck::Missing,
    }
}

/// The SHA-256 of everything `file` reads, in lower-case hex.
pub(crate) fn sha256_of(mut file: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(format!("{:x}", hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::{entry, open};

    #[test]
    fn checks_each_way_a_file_can_differ() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = open(&dir);
        std::fs::write(dir.path().join("a.glb"), b"hello").expect("write");
        std::fs::write(dir.path().join("b.glb"), b"hellO").expect("write");
        std::fs::write(dir.path().join("c.glb"), b"hello!").expect("write");
        assert_eq!(check(&folder, &entry("a.glb", b"hello")), FileCheck::Ok);
        assert_eq!(
            check(&folder, &entry("b.glb", b"hello")),
            FileCheck::HashDiffers
        );
        assert_eq!(
            check(&folder, &entry("c.glb", b"hello")),
            FileCheck::SizeDiffers {
                expected: 5,
                actual: 6
            }
        );
        assert_eq!(
            check(&folder, &entry("d.glb", b"hello")),
            FileCheck::Missing
        );
        assert_eq!(
            check(&folder, &entry("../a.glb", b"hello")),
            FileCheck::UnsafePath
        );
        assert_eq!(
            check(&folder, &entry("/etc/passwd", b"hello")),
            FileCheck::UnsafePath
        );
    }
}
