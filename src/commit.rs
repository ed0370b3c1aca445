//! The commit: a run's complete files take their final names and the
//! manifest is written, in an order that no crash can leave half-done.
//!
//! The promise: after a crash at any point, either `fetch-assets verify`
//! passes (the earlier run's files and manifest stand untouched, or the new
//! ones stand complete) or there is no `manifest.json` at all, and the next
//! run finishes the commit. The steps, each made durable before the next:
//!
//! 1. the new manifest is written to `.fetch-assets/commit.json`: from now
//!    on the next run takes it as the earlier run's manifest (see
//!    [`crate::staging::unfinished_commit`]);
//! 2. the earlier `manifest.json`, then `SHA256SUMS`, are moved into
//!    `.fetch-assets/`: the folder now reads as incomplete;
//! 3. the files are renamed into place, one by one;
//! 4. the folder is synced, so every rename is on disk before
//! 5. `SHA256SUMS`, then `manifest.json`, are written, each atomically;
//! 6. `.fetch-assets/` is removed.
//!
//! A crash before step 2 leaves the earlier files and manifest as they
//! were (nothing has moved). From step 2 to step 5 there is no manifest.
//! After step 5 the new manifest stands, and only its files are under it.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::events::{Event, Observer};
use crate::folder::Folder;
use crate::manifest::{self, Manifest};
use crate::staging::{self, COMMIT_FILE};
use crate::transfer::Downloaded;

/// The environment variable that makes a commit kill its own process
/// (`SIGKILL`, as a crash) after that many steps: for the crash tests only,
/// which try every step in turn. Unset, the commit runs through. Only debug
/// builds (what the tests run) read it: a release binary never kills itself.
pub(crate) const CRASH_AT_STEP: &str = "FETCH_ASSETS_TEST_CRASH_AT_STEP";

/// Commits `files` (complete, checked) and `manifest` (which lists them
/// and every other file the folder keeps) into `folder`. Blocking: call
/// from a blocking thread. A step that fails ends the commit where it is;
/// the folder then has no manifest, and the next run finishes the work.
pub(crate) fn commit(
    folder: &Arc<Folder>,
    manifest: &Manifest,
    files: Vec<Downloaded>,
    observer: &Arc<dyn Observer>,
) -> Result<()> {
    let mut steps = Steps::from_env();
    let sync = |folder: &Folder| {
        folder
            .sync()
            .map_err(|e| Error::io("make the changes durable in", folder.path(), e))
    };

    let staging = staging::create(folder)?;
    staging
        .write_atomically(COMMIT_FILE, manifest.to_written_json()?.as_bytes())
        .map_err(|e| Error::io("write", staging.shown(COMMIT_FILE), e))?;
    sync(&staging)?;
    steps.passed();

    for name in [manifest::MANIFEST_FILE, manifest::SUMS_FILE] {
        let there = folder
            .kind_of(name)
            .map_err(|e| Error::io("look at", folder.shown(name), e))?;
        if there.is_some() {
            folder
                .move_to(name, &staging, name)
                .map_err(|e| Error::io("move aside", folder.shown(name), e))?;
            sync(folder)?;
            sync(&staging)?;
            steps.passed();
        }
    }

    for file in files {
        let done = Event::FileDone {
            file: file.asset.role.stem().into(),
            path: file.file_name.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
        };
        file.commit(folder)?;
        observer.event(&done);
        steps.passed();
    }
    sync(folder)?;
    steps.passed();

    manifest.write_sums(folder)?;
    steps.passed();
    manifest.write_manifest(folder)?;
    sync(folder)?;
    steps.passed();

    staging::remove(folder)
}

/// Counts the commit's steps, for [`CRASH_AT_STEP`].
struct Steps {
    passed: u32,
    crash_at: Option<u32>,
}

impl Steps {
    fn from_env() -> Steps {
        Steps {
            passed: 0,
            crash_at: std::env::var(CRASH_AT_STEP)
                .ok()
                .filter(|_| cfg!(debug_assertions))
                .and_then(|n| n.trim().parse().ok()),
        }
    }

    fn passed(&mut self) {
        self.passed += 1;
        if self.crash_at == Some(self.passed) {
            // SAFETY: raise only sends a signal to this process; SIGKILL
            // ends it here, as a crash would, running nothing more.
            #[cfg(unix)]
            unsafe {
                libc::raise(libc::SIGKILL);
            }
            // Ends the process here, running no destructor, as a crash would.
            #[cfg(not(unix))]
            std::process::abort();
        }
    }
}
