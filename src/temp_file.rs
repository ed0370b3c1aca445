//! The one place that names temporary files. Every file the crate writes
//! goes first under a temporary name in the folder it will end up in (so the
//! final rename is atomic), and that name says whose it is:
//! `.fetch-assets-<random>.part`. The folder lock removes such files a dead
//! run left behind, and nothing else.

use std::path::Path;

use tempfile::NamedTempFile;

const PREFIX: &str = ".fetch-assets-";
const SUFFIX: &str = ".part";

/// A new, empty temporary file in `dir`, removed when dropped unless persisted.
pub(crate) fn create_in(dir: &Path) -> std::io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(PREFIX)
        .suffix(SUFFIX)
        .tempfile_in(dir)
}

/// True for names [`create_in`] gives (and only those): a prefix, something
/// random, a suffix.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.len() > PREFIX.len() + SUFFIX.len() && name.starts_with(PREFIX) && name.ends_with(SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_it_gives_are_recognised_and_others_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = create_in(dir.path()).expect("create");
        let name = file
            .path()
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(is_temp_name(&name), "{name}");
        for other in [
            ".fetch-assets-.part",
            "model.glb",
            "x.part",
            ".fetch-assets-keep",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
    }
}
