//! Which version of a file an answer carries: the CDN's `ETag` and
//! `Last-Modified`. A resumed request sends one of them as `If-Range`, so a
//! CDN that now holds another version sends it whole (`200`) instead of a
//! piece of it; and a `206` whose validator names another version is not
//! appended to what we have. Without a strong validator, nothing tells two
//! versions apart: a `Last-Modified` less than a second before the answer's
//! `Date` is weak (RFC 9110 §8.8.2.2) and is not kept, and a piece asked
//! for without a strong validator counts as of another version, so a cut
//! file starts over, within a run as across runs.

use reqwest::header::{DATE, ETAG, HeaderMap, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

/// The validators of one answer, as the CDN sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Validator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Validator {
    pub(super) fn of(headers: &HeaderMap) -> Validator {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let date = text(DATE);
        let last_modified = text(LAST_MODIFIED).filter(|at| is_strong_date(at, date.as_deref()));
        Validator {
            etag: text(ETAG),
            last_modified,
        }
    }

    /// The `If-Range` value: a strong `ETag`, else `Last-Modified` (a weak
    /// `ETag` may not be used, RFC 9110 §13.1.5); `None` when the CDN gave
    /// neither, and then a piece of the file cannot be asked for safely
    /// across runs.
    pub(super) fn if_range(&self) -> Option<&str> {
        self.etag
            .as_deref()
            .filter(|tag| !tag.starts_with("W/"))
            .or(self.last_modified.as_deref())
    }

    /// True when `answer` names another version than `self`: their `ETag`s
    /// differ, or (without `ETag`s on both) their `Last-Modified` do; and
    /// whenever `self` has no strong validator, since then nothing shows
    /// the answer is of the same version.
    pub(super) fn other_version(&self, answer: &Validator) -> bool {
        if self.if_range().is_none() {
            return true;
        }
        match (&self.etag, &answer.etag) {
            (Some(ours), Some(theirs)) => ours != theirs,
            _ => match (&self.last_modified, &answer.last_modified) {
                (Some(ours), Some(theirs)) => ours != theirs,
                _ => false,
            },
        }
    }
}

/// True when `last_modified` is a strong validator: at least a second
/// before the answer's `Date` (RFC 9110 §8.8.2.2). Without a readable
/// `Date`, it is taken as strong, as before.
fn is_strong_date(last_modified: &str, date: Option<&str>) -> bool {
    let Some(date) = date.and_then(crate::retry::parse_http_date) else {
        return true;
    };
    crate::retry::parse_http_date(last_modified)
        .is_some_and(|modified| date.duration_since(modified) >= jiff::SignedDuration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(etag: Option<&str>, last_modified: Option<&str>) -> Validator {
        Validator {
            etag: etag.map(str::to_owned),
            last_modified: last_modified.map(str::to_owned),
        }
    }

    #[test]
    fn if_range_prefers_a_strong_etag_then_the_date() {
        let date = "Sat, 28 Nov 2026 10:00:00 GMT";
        assert_eq!(v(Some("\"a\""), Some(date)).if_range(), Some("\"a\""));
        assert_eq!(v(Some("W/\"a\""), Some(date)).if_range(), Some(date));
        assert_eq!(v(None, Some(date)).if_range(), Some(date));
        assert_eq!(v(Some("W/\"a\""), None).if_range(), None);
        assert_eq!(v(None, None).if_range(), None);
    }

    #[test]
    fn another_version_is_told_by_etag_else_by_date() {
        let (d1, d2) = (
            "Sat, 28 Nov 2026 10:00:00 GMT",
            "Sat, 28 Nov 2026 11:00:00 GMT",
        );
        let ours = v(Some("\"a\""), Some(d1));
        assert!(!ours.other_version(&v(Some("\"a\""), Some(d1))));
        assert!(ours.other_version(&v(Some("\"b\""), Some(d1))));
        assert!(ours.other_version(&v(None, Some(d2))));
        assert!(!ours.other_version(&v(None, None)), "nothing to tell by");
        assert!(v(None, Some(d1)).other_version(&v(Some("\"a\""), Some(d2))));
        // Without a strong validator of our own, nothing shows it is ours.
        assert!(v(None, None).other_version(&v(Some("\"a\""), Some(d2))));
        assert!(v(None, None).other_version(&v(None, None)));
        assert!(v(Some("W/\"a\""), None).other_version(&v(Some("W/\"a\""), None)));
    }

    #[test]
    fn a_last_modified_within_a_second_of_the_date_is_weak_and_dropped() {
        let headers = |last_modified: &str, date: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(LAST_MODIFIED, last_modified.parse().expect("a header"));
            if let Some(date) = date {
                headers.insert(DATE, date.parse().expect("a header"));
            }
            Validator::of(&headers).last_modified
        };
        let at = "Sat, 28 Nov 2026 10:00:00 GMT";
        assert_eq!(headers(at, Some(at)), None, "equal to its Date");
        assert_eq!(
            headers(at, Some("Sat, 28 Nov 2026 09:00:00 GMT")),
            None,
            "after it"
        );
        assert_eq!(
            headers(at, Some("Sat, 28 Nov 2026 10:00:01 GMT")).as_deref(),
            Some(at),
            "a second before"
        );
        assert_eq!(
            headers(at, None).as_deref(),
            Some(at),
            "no Date to judge by"
        );
    }
}
