//! The one place that names temporary files. A file the crate writes whole
//! (the manifest, `SHA256SUMS`, a staged file's record, `commit.json`) goes
//! first under a temporary name in the folder it will end up in (so the
//! final rename is atomic), and that name says whose it is:
//! `.fetch-assets-<random>.part`. The folder lock removes such files a dead
//! run left behind (in the output folder and in its `.fetch-assets/`), and
//! nothing else. Downloaded files are staged under names of their own (see
//! [`crate::staging`]). The files themselves are made by
//! [`crate::folder::Folder::create_temp`], through the folder's handle.

const PREFIX: &str = ".fetch-assets-";
const SUFFIX: &str = ".part";

/// A fresh temporary name: `.fetch-assets-<12 random letters and digits>.part`.
/// The folder creates the file under it (exclusively, so a name already
/// taken is simply drawn again).
pub(crate) fn new_name() -> String {
    let random: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(12)
        .collect();
    format!("{PREFIX}{random}{SUFFIX}")
}

/// True for names [`new_name`] gives (and only those): a prefix, something
/// random, a suffix.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.len() > PREFIX.len() + SUFFIX.len() && name.starts_with(PREFIX) && name.ends_with(SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_it_gives_are_recognised_and_others_are_not() {
        let name = new_name();
        assert!(is_temp_name(&name), "{name}");
        assert_ne!(name, new_name(), "random");
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
