//! The folder lock: two runs into one folder take turns.
//!
//! A run holds an advisory exclusive lock (`flock` on Unix) on the output
//! folder itself from the moment the folder exists until the run ends, so no
//! lock file is ever left in it (DESIGN.md: nothing but the files and the
//! manifest). A second run waits for the first, then finds the folder
//! complete and downloads nothing. The operating system drops the lock when
//! its holder dies, however it dies, so a lock is never stale.
//!
//! Waiting polls `try_lock` on the async timer instead of blocking a thread:
//! dropping the fetch future while it waits leaves nothing behind holding
//! or waiting for the lock.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::events::{Event, Observer};
use crate::temp_file;

/// How often a waiting run looks again.
const POLL: Duration = Duration::from_millis(100);

/// Held for the whole of a run; dropping it lets the next run in.
#[derive(Debug)]
pub(crate) struct FolderLock {
    /// The open folder, locked; `None` where the file system cannot lock.
    _held: Option<File>,
}

/// Takes the lock on `dir`, waiting for another holder to finish first
/// (and saying so once, with [`Event::FolderBusy`]).
///
/// Where the folder cannot be opened or locked (some network file systems,
/// or a platform that cannot lock a folder), the run goes on unlocked: the
/// lock is a courtesy between runs, and no run depends on it for
/// correctness of what it writes, only for not doing the work twice.
///
/// Once the lock is held, temporary files a run that held it before left
/// behind (killed outright, or stopped by a second Ctrl-C before it could
/// clean up) are removed: no live run can own them.
pub(crate) async fn acquire(dir: &Path, observer: &Arc<dyn Observer>) -> FolderLock {
    let Ok(folder) = File::open(dir) else {
        return FolderLock { _held: None };
    };
    let mut said = false;
    loop {
        match folder.try_lock() {
            Ok(()) => {
                remove_stale_temp_files(dir);
                return FolderLock {
                    _held: Some(folder),
                };
            }
            Err(TryLockError::WouldBlock) => {
                if !said {
                    observer.event(&Event::FolderBusy {
                        dir: dir.to_owned(),
                    });
                    said = true;
                }
                tokio::time::sleep(POLL).await;
            }
            Err(TryLockError::Error(_)) => return FolderLock { _held: None },
        }
    }
}

/// Removes `.fetch-assets-*.part` files directly in `dir`. Only called with
/// the lock held, when every such file is a dead run's. Best effort: a file
/// that cannot be removed stays, and the run goes on.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if temp_file::is_temp_name(name) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting() -> (Arc<AtomicUsize>, Arc<dyn Observer>) {
        let busy = Arc::new(AtomicUsize::new(0));
        let seen = busy.clone();
        let observer: Arc<dyn Observer> = Arc::new(move |event: &Event| {
            if matches!(event, Event::FolderBusy { .. }) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
        (busy, observer)
    }

    #[tokio::test]
    async fn a_second_holder_waits_says_so_once_and_gets_in_after_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (busy, observer) = counting();
        let first = acquire(dir.path(), &observer).await;
        assert!(first._held.is_some(), "a local folder can be locked");
        let waiting = tokio::spawn({
            let dir = dir.path().to_owned();
            let observer = observer.clone();
            async move { acquire(&dir, &observer).await }
        });
        tokio::time::sleep(POLL * 4).await;
        assert!(
            !waiting.is_finished(),
            "the second waits while the first holds"
        );
        assert_eq!(busy.load(Ordering::SeqCst), 1, "said once, not every poll");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second gets in once the first lets go")
            .expect("no panic");
        assert!(second._held.is_some());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "no lock file"
        );
    }

    #[tokio::test]
    async fn a_waiter_dropped_while_waiting_holds_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, observer) = counting();
        let first = acquire(dir.path(), &observer).await;
        let gave_up = tokio::time::timeout(POLL * 3, acquire(dir.path(), &observer)).await;
        assert!(gave_up.is_err(), "still waiting when dropped");
        drop(first);
        let again = tokio::time::timeout(POLL * 3, acquire(dir.path(), &observer)).await;
        assert!(again.is_ok(), "the dropped waiter left no claim behind");
    }

    #[tokio::test]
    async fn stale_temp_files_go_once_the_lock_is_held_and_only_they() {
        let dir = tempfile::tempdir().expect("tempdir");
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
        let (_, observer) = counting();
        let _lock = acquire(dir.path(), &observer).await;
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

    #[tokio::test]
    async fn a_folder_that_cannot_be_opened_is_not_locked_and_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (busy, observer) = counting();
        let lock = acquire(&dir.path().join("missing"), &observer).await;
        assert!(lock._held.is_none());
        assert_eq!(busy.load(Ordering::SeqCst), 0);
    }
}
