//! Streaming one answer's body into the file's writer, with the stall rule:
//! no byte for the stall timeout, or under 1 KiB/s on average over it, ends
//! the request as a fault (the file then resumes where it stopped); and the
//! size cap: never more than the announced length, and without one never
//! more than `--max-size`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use futures::StreamExt;

use super::writer::Writer;
use crate::content;
use crate::error::DownloadCause;

/// How a body ended, when it did not end normally.
#[derive(Debug)]
pub(super) enum Cut {
    /// A fault worth another try: the connection broke or stalled.
    Fault(DownloadCause),
    /// The CDN sent more than it announced: not worth another try.
    Final(DownloadCause),
    /// The file could not be written.
    Write(std::io::Error),
}

/// Waits for `future`, or for the stall timeout: a stall is a fault.
pub(super) async fn or_stall<T>(
    stall_timeout: Duration,
    future: impl Future<Output = T>,
) -> Result<T, DownloadCause> {
    tokio::time::timeout(stall_timeout, future)
        .await
        .map_err(|_| DownloadCause::Stalled {
            after: stall_timeout,
        })
}

/// The slowest a body may come, on average over the stall timeout.
const MIN_BYTES_PER_SEC: f64 = 1024.0;

/// The stall rule, as time passes: no byte for `stall`, or fewer than
/// [`MIN_BYTES_PER_SEC`] on average over a window of `stall`.
#[derive(Debug)]
struct Pace {
    stall: Duration,
    last_byte: Instant,
    window_start: Instant,
    window_bytes: u64,
}

impl Pace {
    fn new(stall: Duration, now: Instant) -> Pace {
        Pace {
            stall,
            last_byte: now,
            window_start: now,
            window_bytes: 0,
        }
    }

    fn got(&mut self, bytes: u64, now: Instant) {
        self.last_byte = now;
        self.window_bytes += bytes;
    }

    /// When to look again if no byte comes: the earlier of the stall
    /// deadline and the window's end (`None`: a timeout too long to count).
    fn next_check(&self) -> Option<Instant> {
        let stall = self.last_byte.checked_add(self.stall)?;
        let window = self.window_start.checked_add(self.stall)?;
        Some(stall.min(window))
    }

    /// The fault at `now`, if the body stalled or crawled; a window that
    /// ended fast enough starts the next one.
    fn check(&mut self, now: Instant) -> Option<DownloadCause> {
        if now.duration_since(self.last_byte) >= self.stall {
            return Some(DownloadCause::Stalled { after: self.stall });
        }
        if now.duration_since(self.window_start) >= self.stall {
            let least = self.stall.as_secs_f64() * MIN_BYTES_PER_SEC;
            if (self.window_bytes as f64) < least {
                return Some(DownloadCause::TooSlow { over: self.stall });
            }
            self.window_start = now;
            self.window_bytes = 0;
        }
        None
    }
}

/// The most a body may bring: what it announced, else `max_size`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cap {
    /// The file's announced whole size.
    pub total: Option<u64>,
    /// The limit when nothing was announced (`--max-size`).
    pub max_size: u64,
}

/// Streams the body into `writer`, counting into `received` (the bytes the
/// file has, from its first) and keeping the file's first bytes in `head`
/// (for the content check), until the body ends or the first fault. A
/// body that ends before the announced total is a fault too; one that goes
/// past its cap is final. `on_bytes` hears of every piece written.
pub(super) async fn stream(
    response: reqwest::Response,
    stall_timeout: Duration,
    cap: Cap,
    received: &mut u64,
    head: &mut Vec<u8>,
    writer: &mut Writer,
    mut on_bytes: impl FnMut(u64, u64),
) -> Result<(), Cut> {
    let mut body = response.bytes_stream();
    let mut pace = Pace::new(stall_timeout, Instant::now());
    loop {
        let next = match pace.next_check() {
            Some(at) => tokio::time::timeout_at(at, body.next()).await,
            None => Ok(body.next().await),
        };
        let chunk = match next {
            Err(_) => match pace.check(Instant::now()) {
                Some(cause) => return Err(Cut::Fault(cause)),
                None => continue,
            },
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Cut::Fault(DownloadCause::broke(
                    *received,
                    &e.without_url(),
                )));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let len = chunk.len() as u64;
        match cap.total {
            Some(announced) if *received + len > announced => {
                return Err(Cut::Final(DownloadCause::TooLong { announced }));
            }
            None if *received + len > cap.max_size => {
                return Err(Cut::Final(DownloadCause::TooLarge {
                    limit: cap.max_size,
                }));
            }
            _ => {}
        }
        if head.len() < content::HEAD_LEN && *received == head.len() as u64 {
            let wanted = (content::HEAD_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
        }
        writer.write(chunk).await.map_err(Cut::Write)?;
        *received += len;
        on_bytes(len, *received);
        let now = Instant::now();
        pace.got(len, now);
        if let Some(cause) = pace.check(now) {
            return Err(Cut::Fault(cause));
        }
    }
    match cap.total {
        Some(total) if *received < total => Err(Cut::Fault(DownloadCause::EndedEarly {
            at: *received,
            total,
        })),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn no_byte_for_the_stall_timeout_is_a_stall() {
        let start = Instant::now();
        let mut pace = Pace::new(Duration::from_secs(2), start);
        assert_eq!(pace.next_check(), Some(at(start, 2000)));
        assert!(pace.check(at(start, 1999)).is_none());
        assert!(matches!(
            pace.check(at(start, 2000)),
            Some(DownloadCause::Stalled { .. })
        ));
    }

    #[test]
    fn a_trickle_under_1_kib_per_second_over_the_window_is_too_slow() {
        let start = Instant::now();
        let mut pace = Pace::new(Duration::from_secs(2), start);
        // A byte every half second: never a stall, always too slow.
        for step in 1..4 {
            pace.got(1, at(start, step * 500));
            assert!(pace.check(at(start, step * 500)).is_none());
        }
        pace.got(1, at(start, 2000));
        assert!(matches!(
            pace.check(at(start, 2000)),
            Some(DownloadCause::TooSlow { .. })
        ));
    }

    #[test]
    fn a_window_fast_enough_starts_the_next() {
        let start = Instant::now();
        let mut pace = Pace::new(Duration::from_secs(2), start);
        pace.got(2048, at(start, 1000));
        assert!(pace.check(at(start, 1000)).is_none());
        pace.got(1, at(start, 2100));
        assert!(pace.check(at(start, 2100)).is_none(), "2049 bytes in 2 s");
        assert_eq!(
            pace.next_check(),
            Some(at(start, 4100)),
            "the next window starts"
        );
        pace.got(100, at(start, 3000));
        assert!(matches!(
            pace.check(at(start, 4100)),
            Some(DownloadCause::TooSlow { .. })
        ));
    }

    #[test]
    fn a_timeout_too_long_to_count_never_checks() {
        let pace = Pace::new(Duration::MAX, Instant::now());
        assert_eq!(pace.next_check(), None);
    }
}
