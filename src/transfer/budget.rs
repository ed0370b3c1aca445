//! How much one file may try before it gives up, and the one way it gives
//! up. Faults and link refreshes are counted since the file last advanced by
//! a meaningful amount (bytes it never had before: 64 KiB, or an eighth of
//! its announced size if that is less): a CDN that always refuses, or that
//! hands out one byte between refusals, ends the run, while a long transfer
//! that keeps advancing may outlive any number of short links and cut
//! connections.

use std::time::Duration;

use crate::error::{DownloadCause, Error, Tried};
use crate::retry::RetryPolicy;
use crate::task::TraceId;

/// The budget of one file.
#[derive(Debug)]
pub(super) struct Budget {
    policy: RetryPolicy,
    max_refreshes: u32,
    tried: Tried,
    /// Transient faults since the file last advanced: the retry policy
    /// bounds them.
    faults: u32,
    /// Fresh links asked for since the file last advanced.
    refreshes_since_progress: u32,
    /// The most bytes the file ever had: a server that ignores `Range` sends
    /// bytes again from the start, and those are not progress.
    furthest: u64,
    /// Where `furthest` stood when the counts last started again.
    counted_from: u64,
}

/// Progress that starts the counts again: this many new bytes...
const MEANINGFUL: u64 = 64 << 10;
/// ...or this share of the announced size, if that is less.
const MEANINGFUL_SHARE: u64 = 8;

impl Budget {
    pub(super) fn new(policy: RetryPolicy, max_refreshes: u32) -> Budget {
        Budget {
            policy,
            max_refreshes,
            tried: Tried::default(),
            faults: 0,
            refreshes_since_progress: 0,
            furthest: 0,
            counted_from: 0,
        }
    }

    /// Counts a request.
    pub(super) fn request(&mut self) {
        self.tried.requests += 1;
    }

    /// The file now has `received` bytes of `total` (when announced); once
    /// it is a meaningful amount past where the counts last started, that
    /// is progress, and the counts of faults and refreshes start again.
    pub(super) fn received(&mut self, received: u64, total: Option<u64>) {
        self.furthest = self.furthest.max(received);
        let meaningful = total.map_or(MEANINGFUL, |total| {
            MEANINGFUL.min(total.div_ceil(MEANINGFUL_SHARE)).max(1)
        });
        if self.furthest - self.counted_from >= meaningful {
            self.counted_from = self.furthest;
            self.faults = 0;
            self.refreshes_since_progress = 0;
        }
    }

    /// Counts a transient fault: the wait before the next try and which
    /// retry it is, or `None` when the policy allows no more.
    pub(super) fn fault(&mut self, retry_after: Option<Duration>) -> Option<(u32, Duration)> {
        self.faults += 1;
        self.policy
            .allows_another(self.faults)
            .then(|| (self.faults, self.policy.delay(self.faults, retry_after)))
    }

    /// Counts a fresh link, or says `false` when this file already asked for
    /// too many without advancing.
    pub(super) fn refresh(&mut self) -> bool {
        if self.refreshes_since_progress >= self.max_refreshes {
            return false;
        }
        self.tried.refreshes += 1;
        self.refreshes_since_progress += 1;
        true
    }

    /// The error that ends the file: its last cause, the trace id of the
    /// task answer its last link came from (what support asks for), and
    /// what was tried.
    pub(super) fn give_up(&self, file: String, cause: DownloadCause, trace: TraceId) -> Error {
        Error::Download {
            file,
            cause,
            trace,
            tried: self.tried,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        Budget::new(policy, 2)
    }

    #[test]
    fn faults_are_bounded_and_progress_resets_them() {
        let mut budget = budget();
        assert_eq!(
            budget.fault(Some(Duration::from_secs(2))).map(|f| f.0),
            Some(1)
        );
        assert!(budget.fault(None).is_some());
        assert!(
            budget.fault(None).is_none(),
            "the third fault in a row ends it"
        );
        budget.received(10, Some(80));
        assert_eq!(
            budget.fault(None).map(|f| f.0),
            Some(1),
            "progress starts again"
        );
        budget.received(10, Some(80));
        assert_eq!(
            budget.fault(None).map(|f| f.0),
            Some(2),
            "no new byte, no reset"
        );
    }

    #[test]
    fn a_byte_here_and_there_is_not_progress() {
        let mut budget = budget();
        for received in 1..=10 {
            budget.received(received, Some(1 << 20));
            if !budget.refresh() {
                assert_eq!(received, 3, "two refreshes, then the end");
                return;
            }
        }
        panic!("one byte a refresh kept the file going");
    }

    #[test]
    fn sixty_four_kib_or_an_eighth_of_the_file_is_progress() {
        let mut budget = budget();
        assert!(budget.refresh() && budget.refresh());
        budget.received(64 << 10, None);
        assert!(budget.refresh(), "64 KiB of an unannounced size");
        assert!(budget.refresh());
        let mut small = self::budget();
        assert!(small.refresh() && small.refresh());
        small.received(99, Some(800));
        assert!(!small.refresh(), "99 bytes of 800 is less than an eighth");
        small.received(100, Some(800));
        assert!(small.refresh(), "an eighth of a small file");
    }

    #[test]
    fn refreshes_are_bounded_since_progress_and_counted_in_total() {
        let mut budget = budget();
        assert!(budget.refresh() && budget.refresh());
        assert!(!budget.refresh());
        budget.received(1, Some(1));
        assert!(budget.refresh());
        budget.request();
        let error = budget.give_up(
            "model.glb".into(),
            DownloadCause::Refused,
            TraceId::default(),
        );
        assert_eq!(
            error.to_string(),
            "could not download model.glb: the CDN refused the link (HTTP 403) (after 1 requests, 3 link refreshes); run again to retry"
        );
    }
}
