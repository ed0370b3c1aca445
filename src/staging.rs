//! `OUT_DIR/.fetch-assets/`: the one place a run keeps what is not (yet)
//! under a final name. It holds, for each file a run received, its bytes
//! (`<stem>.part`) and record (`<stem>.part.json`, see
//! `transfer::staged`), and during a commit `commit.json` and the earlier
//! manifest and sums. The commit stages there (`commit.json`, the earlier
//! `manifest.json` and `SHA256SUMS` moved aside: see [`crate::commit`]); a
//! run that fails or is interrupted leaves there what it received, for the
//! next run to carry on from. A run that succeeds removes it.
//!
//! The folder is opened through the output folder's handle, never followed
//! through a symlink; anything but a folder under its name is someone
//! else's, and stops the run (exit 2) unless `--force`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::folder::{Folder, Kind, OpenError};
use crate::manifest::{self, Manifest};

/// The staging folder's name in the output folder.
pub(crate) const STAGING_DIR: &str = ".fetch-assets";
/// The manifest a commit is making, written before anything moves: while
/// it stands, the commit is unfinished and the next run finishes it.
pub(crate) const COMMIT_FILE: &str = "commit.json";

/// The staged bytes of the file `stem` (`model.part`): never a name a
/// commit uses, whatever the stem.
pub(crate) fn data_name(stem: &str) -> String {
    format!("{stem}.part")
}

/// The record of the file `stem` (`model.part.json`).
pub(crate) fn record_name(stem: &str) -> String {
    format!("{}.json", data_name(stem))
}

/// The staging folder, if there is one.
pub(crate) fn open(folder: &Folder) -> Result<Option<Arc<Folder>>> {
    opened(folder, false)
}

/// The staging folder, made if missing (and its entry made durable), with
/// no staged file shared with another name (see [`unshare`]): the run's
/// transfers write in it next.
pub(crate) fn create(folder: &Folder) -> Result<Arc<Folder>> {
    let staging = opened(folder, true)?.ok_or_else(|| {
        Error::io(
            "make",
            folder.shown(STAGING_DIR),
            std::io::ErrorKind::NotFound.into(),
        )
    })?;
    folder
        .sync()
        .map_err(|e| Error::io("make durable", folder.shown(STAGING_DIR), e))?;
    unshare(&staging)?;
    Ok(staging)
}

/// Forgets every staged file with more than one hard link (and its record):
/// writing it would write the other name's file too (a `cp -al` copy, a
/// snapshot backup, or a link planted on purpose), so the file starts over
/// under a name of its own. The other name keeps its bytes.
fn unshare(staging: &Folder) -> Result<()> {
    let failed = |e| Error::io("look at", staging.path(), e);
    for name in staging.names().map_err(failed)? {
        let Some(stem) = name.strip_suffix(".part") else {
            continue;
        };
        if staging.has_other_links(&name).map_err(failed)? {
            staging.remove(&record_name(stem)).map_err(failed)?;
            staging.remove(&name).map_err(failed)?;
        }
    }
    Ok(())
}

fn opened(folder: &Folder, create: bool) -> Result<Option<Arc<Folder>>> {
    match folder.sub_folder(STAGING_DIR, create) {
        Ok(staging) => Ok(staging.map(Arc::new)),
        Err(OpenError::Io(e)) => Err(Error::io("open", folder.shown(STAGING_DIR), e)),
        Err(_) => Err(not_ours(folder)),
    }
}

/// Removes the staging folder and what a run put in it: the run is
/// complete. Only names a run gives are removed (a `listen` journal kept in
/// the same folder name, say, stays, and so does the folder then).
pub(crate) fn remove(folder: &Folder) -> Result<()> {
    let failed = |e| Error::io("remove", folder.shown(STAGING_DIR), e);
    let Some(staging) = open(folder)? else {
        return Ok(());
    };
    for name in staging.names().map_err(failed)? {
        if is_ours(&name) {
            staging.remove(&name).map_err(failed)?;
        }
    }
    // Closed first: Windows removes a folder when its last handle closes.
    drop(staging);
    folder.remove_if_empty(STAGING_DIR).map_err(failed)
}

/// True for the names a run gives in the staging folder: staged files and
/// records, `commit.json`, the earlier manifest and sums moved aside, and
/// temporary files.
fn is_ours(name: &str) -> bool {
    name.ends_with(".part")
        || name.ends_with(".part.json")
        || [COMMIT_FILE, manifest::MANIFEST_FILE, manifest::SUMS_FILE].contains(&name)
}

/// After a run that failed: removes staged bytes no record speaks for (a
/// file that never got an answer, or one not worth keeping), and the
/// staging folder itself if nothing is left in it. Best effort.
pub(crate) fn tidy(folder: &Folder) {
    let Ok(Some(staging)) = open(folder) else {
        return;
    };
    let names = staging.names().unwrap_or_default();
    for name in &names {
        let record = name.strip_suffix(".part").map(record_name);
        if record.is_some_and(|record| !names.contains(&record)) {
            let _ = staging.remove(name);
        }
    }
    if staging.names().is_ok_and(|left| left.is_empty()) {
        // Closed first, as in `remove`.
        drop(staging);
        let _ = remove(folder);
    }
}

/// Stops the run when something other than a folder stands under the
/// staging folder's name (a file, a symlink): it is not ours. With
/// `--force` it is removed (a symlink itself, never what it points to).
pub(crate) fn check_ours(folder: &Folder, force: bool) -> Result<()> {
    let kind = folder
        .kind_of(STAGING_DIR)
        .map_err(|e| Error::io("look at", folder.shown(STAGING_DIR), e))?;
    match kind {
        None | Some(Kind::Directory) => Ok(()),
        Some(_) if force => folder
            .remove(STAGING_DIR)
            .map_err(|e| Error::io("remove", folder.shown(STAGING_DIR), e)),
        Some(_) => Err(not_ours(folder)),
    }
}

fn not_ours(folder: &Folder) -> Error {
    Error::NotOurs {
        dir: folder.path().to_owned(),
        files: STAGING_DIR.to_owned(),
    }
}

/// The manifest an unfinished commit was making (`commit.json`), if one
/// stands in the staging folder.
pub(crate) fn unfinished_commit(folder: &Folder) -> Result<Option<Manifest>> {
    let Some(staging) = open(folder)? else {
        return Ok(None);
    };
    match staging.kind_of(COMMIT_FILE) {
        Ok(None) => Ok(None),
        Ok(Some(_)) => Manifest::read_file(&staging, COMMIT_FILE).map(Some),
        Err(e) => Err(Error::io("look at", staging.shown(COMMIT_FILE), e)),
    }
}

/// The earlier run's manifest as a commit moved it aside, if it did.
pub(crate) fn moved_aside_manifest(folder: &Folder) -> Option<Manifest> {
    let staging = open(folder).ok()??;
    Manifest::read_file(&staging, manifest::MANIFEST_FILE).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_takes_what_runs_put_there_and_leaves_anything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = Folder::open(dir.path()).expect("open");
        let staging = create(&folder).expect("create");
        for name in [
            "model.part",
            "model.part.json",
            COMMIT_FILE,
            "manifest.json",
            "SHA256SUMS",
            ".fetch-assets-abc123.part",
        ] {
            std::fs::write(staging.shown(name), b"x").expect("write");
        }
        // Let go first: where a file system lacks POSIX deletes (FAT; wine),
        // Windows removes a folder only when its last handle closes.
        drop(staging);
        remove(&folder).expect("remove");
        assert!(!dir.path().join(STAGING_DIR).exists(), "all ours: gone");

        let staging = create(&folder).expect("create");
        std::fs::write(staging.shown("model.part"), b"x").expect("write");
        std::fs::write(staging.shown("listen.journal"), b"{}").expect("write");
        remove(&folder).expect("remove");
        let left: Vec<_> = std::fs::read_dir(dir.path().join(STAGING_DIR))
            .expect("still there")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["listen.journal"], "a file no run makes stays");
    }
}
