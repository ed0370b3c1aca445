//! The API's retry loop: one request after another until an answer is
//! final, or the retry policy allows no more tries. What each failure is
//! worth (another try, or the end) is said by the transport and the
//! envelope table; how long to wait is `retry.rs`'s.

use std::sync::Arc;
use std::time::Duration;

use super::ApiClient;
use crate::error::{ApiProblem, Error, Result};
use crate::events::{Event, Observer};
use crate::net::{self, NetFault};
use crate::task::TraceId;

/// A failed try: either worth another, or the end.
pub(super) enum Failure {
    Transient {
        cause: String,
        retry_after: Option<Duration>,
        trace: TraceId,
    },
    /// No answer at all (the fault, in words): retried like a transient
    /// fault, and when the tries run out the end is "unreachable".
    Unreached {
        fault: NetFault,
        words: String,
    },
    Final(Error),
}

impl ApiClient {
    /// Runs `attempt` until it succeeds, fails for good, or the policy
    /// allows no more tries.
    pub(super) async fn retrying<T, F>(
        &self,
        observer: &Arc<dyn Observer>,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T, Failure>>,
    {
        let mut failed = 0;
        loop {
            match attempt().await {
                Ok(answer) => return Ok(answer),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Unreached { fault, words }) => {
                    failed += 1;
                    if !self.policy.allows_another(failed) {
                        return Err(self.unreachable(fault, words, failed));
                    }
                    let delay = self.policy.delay(failed, None);
                    observer.event(&Event::ApiRetry {
                        retry: failed,
                        delay,
                        cause: format!("could not reach {}: {words}", net::host_of(&self.base)),
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(Failure::Transient {
                    cause,
                    retry_after,
                    trace,
                }) => {
                    failed += 1;
                    if !self.policy.allows_another(failed) {
                        return Err(Error::Api {
                            problem: ApiProblem::KeptFailing {
                                cause,
                                tries: failed,
                            },
                            trace,
                        });
                    }
                    let delay = self.policy.delay(failed, retry_after);
                    observer.event(&Event::ApiRetry {
                        retry: failed,
                        delay,
                        cause,
                    });
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// The API host gave no answer after `tries` requests.
    pub(super) fn unreachable(&self, fault: NetFault, words: String, tries: u32) -> Error {
        Error::Unreachable {
            host: net::host_of(&self.base),
            fault,
            cause: words,
            tries,
        }
    }
}
