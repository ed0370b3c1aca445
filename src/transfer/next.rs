//! What the driver does next, decided: with `decide`'s step, before any
//! byte (stream the body, or end the attempt; forget the bytes first, or
//! not), and once an attempt has ended (finish, renew the link, start over
//! on a fresh one, wait and try again, or give up). Pure but for the
//! budget's counts, so each case is a row of a table test.

use std::time::Duration;

use super::budget::Budget;
use super::decide::Step;
use crate::content::Finding;
use crate::error::{DownloadCause, Error};

/// What one request ended with.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The whole file is in the staged file.
    Complete,
    /// The CDN refused the link: renew it.
    Refused(DownloadCause),
    /// Worth another try, after a pause.
    Transient {
        cause: DownloadCause,
        retry_after: Option<Duration>,
    },
    /// Not worth another try.
    Final(DownloadCause),
    /// A local write failed.
    Failed(Error),
}

/// What to do with an answer before reading its body.
#[derive(Debug)]
pub(super) enum Before {
    /// Stream the body; the file's whole size is `total` when known. With
    /// `forget`, every byte the file has is forgotten first.
    Stream { total: Option<u64>, forget: bool },
    /// End the attempt with `outcome`; with `forget`, every byte the file
    /// has is forgotten first (they are of another version).
    End { forget: bool, outcome: Outcome },
}

/// What the driver makes of `decide`'s step.
pub(super) fn before(step: Step) -> Before {
    let end = |outcome| Before::End {
        forget: false,
        outcome,
    };
    match step {
        Step::Accept { total, start_over } => Before::Stream {
            total,
            forget: start_over,
        },
        Step::StartOver { cause, retry_after } => Before::End {
            forget: true,
            outcome: Outcome::Transient { cause, retry_after },
        },
        Step::Complete => end(Outcome::Complete),
        Step::Refused(cause) => end(Outcome::Refused(cause)),
        Step::RetryAfter { cause, retry_after } => end(Outcome::Transient { cause, retry_after }),
        Step::Fail(cause) => end(Outcome::Final(cause)),
    }
}

/// The file's next step once an attempt has ended.
#[derive(Debug)]
pub(super) enum Next {
    /// Whole and checked: finish the file.
    Finish,
    /// Ask for a fresh link (the budget may refuse: then give up with
    /// the cause).
    Renew(DownloadCause),
    /// What arrived is not the file (an error page: a CDN fault): forget
    /// every byte, then ask for a fresh link as after a refusal.
    StartOverOnFreshLink(DownloadCause),
    /// Wait `delay`, then try again: the `retry`th since the file last
    /// advanced.
    Retry {
        retry: u32,
        delay: Duration,
        cause: DownloadCause,
    },
    /// The file gives up with `cause` (see [`Budget::give_up`]).
    GiveUp(DownloadCause),
    /// A local failure ends the file as it is.
    Fail(Error),
}

/// The step after an attempt ended with `outcome`. `check` is the content
/// check of a file that arrived whole, made only then; a transient fault
/// is counted in `budget`, which says whether another try is allowed.
pub(super) fn after(
    outcome: Outcome,
    check: impl FnOnce() -> Result<(), Finding>,
    budget: &mut Budget,
) -> Next {
    match outcome {
        Outcome::Complete => match check() {
            Ok(()) => Next::Finish,
            Err(page @ Finding::ErrorPage(_)) => {
                Next::StartOverOnFreshLink(DownloadCause::ErrorPage {
                    page: page.to_string(),
                })
            }
            Err(Finding::Damaged(check)) => Next::GiveUp(DownloadCause::Damaged { check }),
        },
        Outcome::Failed(error) => Next::Fail(error),
        Outcome::Final(cause) => Next::GiveUp(cause),
        Outcome::Refused(cause) => Next::Renew(cause),
        Outcome::Transient { cause, retry_after } => match budget.fault(retry_after) {
            Some((retry, delay)) => Next::Retry {
                retry,
                delay,
                cause,
            },
            None => Next::GiveUp(cause),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Page;
    use crate::retry::RetryPolicy;

    fn outcome_words(outcome: &Outcome) -> String {
        match outcome {
            Outcome::Complete => "complete".into(),
            Outcome::Refused(cause) => format!("refused: {cause:?}"),
            Outcome::Transient { cause, retry_after } => {
                format!("transient: {cause:?} after {retry_after:?}")
            }
            Outcome::Final(cause) => format!("final: {cause:?}"),
            Outcome::Failed(error) => format!("failed: {error:?}"),
        }
    }

    fn before_words(before: &Before) -> String {
        match before {
            Before::Stream { total, forget } => format!("stream {total:?} forget={forget}"),
            Before::End { forget, outcome } => {
                format!("end forget={forget}: {}", outcome_words(outcome))
            }
        }
    }

    fn next_words(next: &Next) -> String {
        match next {
            Next::Finish => "finish".into(),
            Next::Renew(cause) => format!("renew: {cause:?}"),
            Next::StartOverOnFreshLink(cause) => format!("start over, renew: {cause:?}"),
            Next::Retry {
                retry,
                delay,
                cause,
            } => format!("retry {retry} in {delay:?}: {cause:?}"),
            Next::GiveUp(cause) => format!("give up: {cause:?}"),
            Next::Fail(error) => format!("fail: {error:?}"),
        }
    }

    #[test]
    fn every_step_streams_or_ends_the_attempt() {
        let secs = |n| Some(Duration::from_secs(n));
        let table = [
            (
                Step::Accept {
                    total: Some(9),
                    start_over: false,
                },
                "stream Some(9) forget=false",
            ),
            (
                Step::Accept {
                    total: None,
                    start_over: true,
                },
                "stream None forget=true",
            ),
            (
                Step::StartOver {
                    cause: DownloadCause::NewVersion,
                    retry_after: None,
                },
                "end forget=true: transient: NewVersion after None",
            ),
            (Step::Complete, "end forget=false: complete"),
            (
                Step::Refused(DownloadCause::Refused),
                "end forget=false: refused: Refused",
            ),
            (
                Step::RetryAfter {
                    cause: DownloadCause::Status { status: 503 },
                    retry_after: secs(3),
                },
                "end forget=false: transient: Status { status: 503 } after Some(3s)",
            ),
            (
                Step::Fail(DownloadCause::Status { status: 416 }),
                "end forget=false: final: Status { status: 416 }",
            ),
        ];
        for (step, expected) in table {
            let shown = format!("{step:?}");
            assert_eq!(before_words(&before(step)), expected, "{shown}");
        }
    }

    #[test]
    fn every_ending_finishes_renews_retries_or_gives_up() {
        let budget = || {
            let policy = RetryPolicy {
                attempts: 2,
                base_delay: Duration::from_millis(10),
                ..RetryPolicy::default()
            };
            Budget::new(policy, 5)
        };
        let page = Finding::ErrorPage(Page {
            kind: "an HTML page",
            gist: Some("Access Denied".into()),
        });
        let transient = || Outcome::Transient {
            cause: DownloadCause::Status { status: 503 },
            retry_after: Some(Duration::from_millis(40)),
        };
        let table: Vec<(Outcome, Result<(), Finding>, &str)> = vec![
            (Outcome::Complete, Ok(()), "finish"),
            (
                Outcome::Complete,
                Err(page),
                r#"start over, renew: ErrorPage { page: "the CDN sent an HTML page (\"Access Denied\") instead of the file" }"#,
            ),
            (
                Outcome::Complete,
                Err(Finding::Damaged("a GLB without its magic".into())),
                "give up: Damaged { check: \"a GLB without its magic\" }",
            ),
            (
                Outcome::Refused(DownloadCause::Refused),
                Ok(()),
                "renew: Refused",
            ),
            (
                transient(),
                Ok(()),
                "retry 1 in 40ms: Status { status: 503 }",
            ),
            (
                Outcome::Final(DownloadCause::Status { status: 404 }),
                Ok(()),
                "give up: Status { status: 404 }",
            ),
            (
                Outcome::Failed(Error::Internal("disk".into())),
                Ok(()),
                "fail: Internal(\"disk\")",
            ),
        ];
        for (outcome, check, expected) in table {
            let shown = outcome_words(&outcome);
            let next = after(outcome, || check, &mut budget());
            assert_eq!(next_words(&next), expected, "{shown}");
        }

        // The check is made only for a file that arrived whole.
        let next = after(
            Outcome::Refused(DownloadCause::Refused),
            || panic!("checked a file that is not whole"),
            &mut budget(),
        );
        assert!(matches!(next, Next::Renew(_)));

        // Faults in a row run the budget out.
        let mut budget = budget();
        let first = after(transient(), || Ok(()), &mut budget);
        assert!(matches!(first, Next::Retry { retry: 1, .. }), "{first:?}");
        let second = after(transient(), || Ok(()), &mut budget);
        assert_eq!(
            next_words(&second),
            "give up: Status { status: 503 }",
            "two tries allowed"
        );
    }
}
