//! The retry policy: which faults are worth another try, and how long to
//! wait before it. The API client and the file transfers both use it, so
//! the project retries one way everywhere.

use std::time::{Duration, SystemTime};

/// How often and how patiently to retry a transient fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in a row that may fail with no progress before giving up
    /// (the first try included).
    pub attempts: u32,
    /// The first backoff; each further one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// The longest backoff of our own choosing.
    pub max_delay: Duration,
    /// The longest `Retry-After` we honour; a server asking for more is
    /// asked again after this long.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry): the
    /// server's `Retry-After` when it gave one, else "full jitter"
    /// exponential backoff, so that many transfers refused together do not
    /// come back together.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_retry_after);
        }
        let exponent = retry.saturating_sub(1).min(16);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        // At least half the ceiling, so a retry never comes back at once.
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }

    /// True while another try is allowed after `failed` tries in a row.
    pub fn allows_another(&self, failed: u32) -> bool {
        failed < self.attempts
    }
}

/// HTTP statuses that say "try again later": timeouts, rate limits and
/// server faults. Every other 4xx is final.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Reads a `Retry-After` header: delay seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = SystemTime::try_from(parse_http_date(value)?).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// An HTTP date (RFC 9110, section 5.6.7) in any of the three forms a
/// recipient must accept: the preferred `Sun, 06 Nov 1994 08:49:37 GMT`,
/// and the obsolete `Sunday, 06-Nov-94 08:49:37 GMT` and
/// `Sun Nov  6 08:49:37 1994` (both in UTC).
pub(crate) fn parse_http_date(value: &str) -> Option<jiff::Timestamp> {
    if let Ok(at) = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value) {
        return Some(at);
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .into_iter()
        .find_map(|format| jiff::civil::DateTime::strptime(format, value).ok())
        .and_then(|civil| jiff::tz::Offset::UTC.to_timestamp(civil).ok())
}

/// The `Retry-After` of a response, if it has a readable one.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_its_bounds() {
        let policy = RetryPolicy::default();
        for retry in 1..=10 {
            let ceiling = (policy.base_delay * (1 << (retry - 1))).min(policy.max_delay);
            for _ in 0..50 {
                let d = policy.delay(retry, None);
                assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            policy.max_retry_after
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = "2026-11-28T17:00:00Z"
            .parse::<jiff::Timestamp>()
            .and_then(SystemTime::try_from)
            .expect("date");
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 17:00:12 GMT", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 16:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Saturday, 28-Nov-26 17:00:05 GMT", now),
            Some(Duration::from_secs(5)),
            "the obsolete RFC 850 form"
        );
        assert_eq!(
            parse_retry_after("Sat Nov 28 17:00:09 2026", now),
            Some(Duration::from_secs(9)),
            "the obsolete asctime form"
        );
        assert_eq!(
            parse_retry_after("Sun Nov  1 17:00:00 2026", now),
            Some(Duration::ZERO),
            "asctime pads a one-digit day with a space"
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 25:00:00 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn transient_statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 416] {
            assert!(!is_transient_status(status), "{status}");
        }
    }
}
