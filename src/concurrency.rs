//! A bound on transfers shared by several fetches: `batch` and `listen` run
//! many tasks at once, and `--concurrency` bounds the files in flight across
//! all of them, not per task.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many transfers may run at once, across every fetch given a clone of
/// it. Turns are handed out first come, first served, so the task whose
/// transfers asked first (its links die first) goes first.
#[derive(Debug, Clone)]
pub struct TransferLimit(Arc<Semaphore>);

impl TransferLimit {
    /// A limit of `at_once` transfers.
    pub fn new(at_once: NonZeroUsize) -> TransferLimit {
        TransferLimit(Arc::new(Semaphore::new(at_once.get())))
    }

    /// Waits for a turn; the transfer runs while the turn is held.
    pub(crate) async fn turn(&self) -> OwnedSemaphorePermit {
        self.0
            .clone()
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the limit's semaphore is never closed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_bounded_and_come_back() {
        let limit = TransferLimit::new(NonZeroUsize::new(2).expect("2"));
        let first = limit.turn().await;
        let _second = limit.clone().turn().await;
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), limit.turn()).await;
        assert!(third.is_err(), "a third waits while two are out");
        drop(first);
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), limit.turn()).await;
        assert!(third.is_ok(), "and gets in once one comes back");
    }
}
