//! Which version of a file an answer carries: the CDN's `ETag` and
//! `Last-Modified`. A resumed request sends one of them as `If-Range`, so a
//! CDN that now holds another version sends it whole (`200`) instead of a
//! piece of it; and a `206` whose validator names another version is not
//! appended to what we have. Without a validator, nothing tells two
//! versions apart.

use reqwest::header::{ETAG, HeaderMap, LAST_MODIFIED};
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
        Validator {
            etag: text(ETAG),
            last_modified: text(LAST_MODIFIED),
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
    /// differ, or (without `ETag`s on both) their `Last-Modified` do. An
    /// answer that carries no validator we hold cannot be told apart.
    pub(super) fn other_version(&self, answer: &Validator) -> bool {
        match (&self.etag, &answer.etag) {
            (Some(ours), Some(theirs)) => ours != theirs,
            _ => match (&self.last_modified, &answer.last_modified) {
                (Some(ours), Some(theirs)) => ours != theirs,
                _ => false,
            },
        }
    }
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
        assert!(!v(None, None).other_version(&v(Some("\"a\""), Some(d2))));
    }
}
