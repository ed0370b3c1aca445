//! Free space against what the files announced: a file whose announced
//! length does not fit beside the other files still to come ends the run at
//! once, with a clear message, instead of filling the disk first.
//!
//! Every transfer reserves what it still has to write once its answer
//! announces a length, and gives the reservation back as it writes (the
//! disk's free space shrinks by the same bytes) or when it ends. A new
//! reservation must fit in the free space beside all the others.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::DownloadCause;
use crate::folder::Folder;

/// The bytes announced and not yet written, across every file of a run.
#[derive(Debug)]
pub(crate) struct Space {
    folder: Arc<Folder>,
    outstanding: Mutex<u64>,
}

/// What one file still has to write; given back as it is written or dropped.
#[derive(Debug)]
pub(super) struct Reservation {
    space: Arc<Space>,
    left: u64,
}

impl Space {
    pub(crate) fn new(folder: Arc<Folder>) -> Arc<Space> {
        Arc::new(Space {
            folder,
            outstanding: Mutex::new(0),
        })
    }

    /// Reserves `bytes`, or says how much was needed and how much is free.
    /// Where the free space cannot be read, every reservation fits (the
    /// writes themselves will say when the disk is full).
    pub(super) fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reservation, DownloadCause> {
        let mut outstanding = self.lock();
        let needed = outstanding.saturating_add(bytes);
        if let Ok(available) = self.folder.free_space()
            && needed > available
        {
            return Err(DownloadCause::NoSpace {
                dir: self.folder.path().to_owned(),
                needed,
                available,
            });
        }
        *outstanding = needed;
        Ok(Reservation {
            space: self.clone(),
            left: bytes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.outstanding
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Reservation {
    /// `bytes` were written: the disk holds them now.
    pub(super) fn used(&mut self, bytes: u64) {
        let bytes = bytes.min(self.left);
        self.left -= bytes;
        let mut outstanding = self.space.lock();
        *outstanding = outstanding.saturating_sub(bytes);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut outstanding = self.space.lock();
        *outstanding = outstanding.saturating_sub(self.left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_add_up_and_are_given_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = Arc::new(Folder::open(dir.path()).expect("open"));
        let free = folder.free_space().expect("statvfs");
        let space = Space::new(folder);
        let mut first = space.reserve(free / 2).expect("half fits");
        assert!(
            matches!(
                space.reserve(free),
                Err(DownloadCause::NoSpace { needed, .. }) if needed == free / 2 + free
            ),
            "the whole disk does not fit beside half of it"
        );
        first.used(free / 4);
        drop(first);
        assert_eq!(*space.lock(), 0);
        let _all = space.reserve(free / 2).expect("fits again");
    }
}
