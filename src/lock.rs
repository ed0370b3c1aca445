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

use std::fs::TryLockError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::events::{Event, Observer};
use crate::folder::Folder;
use crate::staging;

/// How often a waiting run looks again.
const POLL: Duration = Duration::from_millis(100);

/// Opens the folder at `dir` and takes its lock, waiting for another holder
/// to finish first (and saying so once, with [`Event::FolderBusy`]). The
/// lock lives as long as the returned handle: the last clone dropped lets
/// the next run in.
///
/// The lock holds the folder the handle names, not the path: when the path
/// names another folder by the time the lock is had (the folder was renamed
/// or replaced while this run waited), the run lets go and starts over on
/// what the path names now, so it never writes into one folder while
/// holding another's lock.
///
/// Where the file system cannot lock (some network file systems), the run
/// goes on unlocked and says so with [`Event::FolderNotLocked`]: the lock is
/// a courtesy between runs, and no run depends on it for the correctness of
/// what it writes, only for not doing the work twice.
///
/// Once the lock is held, temporary files a run that held it before left
/// behind (killed outright, or stopped by a second Ctrl-C before it could
/// clean up) are removed, in the folder and in its `.fetch-assets/`: no
/// live run can own them. What `.fetch-assets/` keeps for the next run
/// (staged files, their records, an unfinished commit) stays.
pub(crate) async fn acquire(dir: &Path, observer: &Arc<dyn Observer>) -> Result<Arc<Folder>> {
    let mut said = false;
    loop {
        let folder = Arc::new(
            on_blocking_thread({
                let dir = dir.to_owned();
                move || Folder::open(&dir)
            })
            .await?
            .map_err(|e| Error::io("open the folder", dir, e))?,
        );
        let locked = loop {
            match folder.try_lock() {
                Ok(()) => break true,
                Err(TryLockError::WouldBlock) => {
                    if !said {
                        observer.event(&Event::FolderBusy {
                            dir: dir.to_owned(),
                        });
                        said = true;
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(TryLockError::Error(cause)) => {
                    observer.event(&Event::FolderNotLocked {
                        dir: dir.to_owned(),
                        cause: cause.to_string(),
                    });
                    break false;
                }
            }
        };
        if !locked {
            return Ok(folder);
        }
        let still_here = on_blocking_thread({
            let folder = folder.clone();
            move || {
                if !folder.still_at_path() {
                    return false;
                }
                folder.remove_stale_temp_files();
                // The staging folder stays (the next run carries on from it),
                // but a dead run's half-written record or manifest in it goes.
                if let Ok(Some(staging)) = folder.sub_folder(staging::STAGING_DIR, false) {
                    staging.remove_stale_temp_files();
                }
                true
            }
        })
        .await?;
        if still_here {
            return Ok(folder);
        }
        // Renamed or replaced while we waited: the lock is on the old one.
    }
}

/// Runs `work` (opening, looking at, tidying the folder) on a blocking
/// thread: the runtime stays free however slow the file system.
async fn on_blocking_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("a folder operation stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;

    /// An observer that counts `FolderBusy` events and wakes whoever waits
    /// for one.
    #[derive(Default)]
    struct Busy {
        said: AtomicUsize,
        notify: Notify,
    }

    impl Busy {
        fn observer(self: &Arc<Self>) -> Arc<dyn Observer> {
            let busy = self.clone();
            Arc::new(move |event: &Event| {
                if matches!(event, Event::FolderBusy { .. }) {
                    busy.said.fetch_add(1, Ordering::SeqCst);
                    busy.notify.notify_one();
                }
            })
        }

        fn said(&self) -> usize {
            self.said.load(Ordering::SeqCst)
        }

        /// Returns once a waiter has found the folder locked and said so.
        async fn waiter_is_waiting(&self) {
            self.notify.notified().await;
        }
    }

    // The tests below run on tokio's paused clock: time passes only when
    // every task waits, straight to the next timer, so "ten polls later"
    // means ten polls whatever the machine's load, and a bound on a wait
    // is a bound on polls, never on a busy machine's speed.

    #[tokio::test(start_paused = true)]
    async fn a_second_holder_waits_says_so_once_and_gets_in_after_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy = Arc::new(Busy::default());
        let observer = busy.observer();
        let first = acquire(dir.path(), &observer).await.expect("lock");
        let waiting = tokio::spawn({
            let dir = dir.path().to_owned();
            let observer = observer.clone();
            async move { acquire(&dir, &observer).await }
        });
        busy.waiter_is_waiting().await;
        // Ten more polls, all finding the folder locked.
        tokio::time::sleep(POLL * 10).await;
        assert!(
            !waiting.is_finished(),
            "the second waits while the first holds"
        );
        assert_eq!(busy.said(), 1, "said once, not every poll");
        drop(first);
        let _second = tokio::time::timeout(POLL * 2, waiting)
            .await
            .expect("the second gets in at its next poll once the first lets go")
            .expect("no panic")
            .expect("locked");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "no lock file"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_dropped_while_waiting_holds_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy = Arc::new(Busy::default());
        let observer = busy.observer();
        let first = acquire(dir.path(), &observer).await.expect("lock");
        let gave_up = tokio::time::timeout(POLL * 3, acquire(dir.path(), &observer)).await;
        assert!(gave_up.is_err(), "still waiting when dropped");
        assert_eq!(busy.said(), 1, "the dropped waiter had found it locked");
        drop(first);
        tokio::time::timeout(POLL * 100, acquire(dir.path(), &observer))
            .await
            .expect("the dropped waiter left no claim behind")
            .expect("locked");
        assert_eq!(busy.said(), 1, "got in at the first try, without waiting");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_whose_folder_was_replaced_locks_the_new_one() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("out");
        std::fs::create_dir(&path).expect("mkdir");
        let busy = Arc::new(Busy::default());
        let observer = busy.observer();
        let first = acquire(&path, &observer).await.expect("lock");
        let waiting = tokio::spawn({
            let path = path.clone();
            let observer = observer.clone();
            async move { acquire(&path, &observer).await }
        });
        // The waiter holds the folder it opened (and found locked).
        busy.waiter_is_waiting().await;
        std::fs::rename(&path, root.path().join("moved")).expect("rename");
        std::fs::create_dir(&path).expect("mkdir again");
        assert!(!first.still_at_path());
        drop(first);
        let second = tokio::time::timeout(POLL * 100, waiting)
            .await
            .expect("gets in")
            .expect("no panic")
            .expect("locked");
        assert!(second.still_at_path(), "holds what the path names now");
    }

    #[tokio::test]
    async fn a_folder_that_cannot_be_opened_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy = Arc::new(Busy::default());
        let missing = dir.path().join("missing");
        let error = acquire(&missing, &busy.observer())
            .await
            .expect_err("no folder");
        assert!(error.to_string().contains("missing"), "{error}");
        assert_eq!(error.exit_code(), 5);
        assert_eq!(busy.said(), 0);
    }
}
