//! Signed download links: how they are kept secret, and when they die.
//!
//! A signed link is a bearer secret until it expires, so it lives in a
//! [`SecretUrl`]: its `Debug` and `Display` show it without its query, user
//! info or fragment (what goes into messages, events and the manifest), and
//! only the code that builds a request asks for the whole of it. Every link
//! of a task answer is read once, by the planner, through
//! [`SecretUrl::parse`]. Its expiry is read from the signature where the
//! signing style is known (api-notes.md, "The output links"), so a transfer
//! can ask for a fresh link before the CDN refuses the old one.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::Url;

/// How long a link lives when its signature does not say (the reference
/// page's "expires after five minutes").
pub const ASSUMED_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The most we ever keep in hand before an expiry: a link with less left than
/// this (or a quarter of its whole life, if that is less) is refreshed before
/// a transfer starts or resumes on it.
const MAX_MARGIN: Duration = Duration::from_secs(10);

/// A link from a task answer: an `http` or `https` URL with a host, whose
/// query (and user info) may be a secret. `Debug` and `Display` show it
/// redacted (`https://cdn.example/path/model.glb`); the whole of it is
/// handed out only to build a request.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// Reads a link from a task answer: the one check every link passes.
    /// Only `http` and `https` are followed: anything else could read local
    /// files or reach other services. The reason never quotes the text.
    pub(crate) fn parse(text: &str) -> Result<SecretUrl, String> {
        let url = Url::parse(text).map_err(|e| format!("the link is not a valid URL ({e})"))?;
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(SecretUrl(url)),
            "http" | "https" => Err("the link has no host".into()),
            other => Err(format!(
                "the link's scheme is '{other}'; only http and https links are followed"
            )),
        }
    }

    /// The whole link, secret query included: only to build the request
    /// that fetches it, never to show.
    pub(crate) fn expose(&self) -> &Url {
        &self.0
    }

    /// The link as it may be shown or checked: scheme, host, port and path;
    /// no user info, no query, no fragment.
    pub(crate) fn without_secrets(&self) -> Url {
        without_secrets(&self.0)
    }

    /// True when the two links name the same file: equal but for their
    /// query and fragment (two roles handed the same file, signed twice).
    pub(crate) fn same_file(&self, other: &SecretUrl) -> bool {
        let bare = |url: &Url| {
            let mut bare = url.clone();
            bare.set_query(None);
            bare.set_fragment(None);
            bare
        };
        bare(&self.0) == bare(&other.0)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.without_secrets().as_str())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl")
            .field(&self.without_secrets().as_str())
            .finish()
    }
}

fn without_secrets(url: &Url) -> Url {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Only fails for links that cannot carry credentials; those have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown
}

/// Any text a server sent where a link may be, as it may be shown: a URL
/// (of any scheme) without its user info, query and fragment; other text
/// cut at its first `?` or `#`. For showing raw answers (a [`Task`]'s
/// `output` in `Debug`), where not every string is a link we follow.
///
/// [`Task`]: crate::Task
pub(crate) fn redact_text(text: &str) -> String {
    match Url::parse(text.trim()) {
        Ok(url) if !url.cannot_be_a_base() => without_secrets(&url).to_string(),
        _ => text.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

/// One signed link, as handed out by one task answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    url: SecretUrl,
    received_at: SystemTime,
    expires_at: SystemTime,
}

impl SignedLink {
    /// A link received at `received_at`; its expiry is read from the link, or
    /// assumed to be [`ASSUMED_LIFETIME`] later. A reading that says the link
    /// was already dead when it arrived is not believed (clocks differ, and
    /// the CDN's own 403 is the final word), so it falls back too.
    pub fn new(url: SecretUrl, received_at: SystemTime) -> Self {
        let expires_at = read_expiry(&url.0)
            .filter(|at| *at > received_at)
            .unwrap_or(received_at + ASSUMED_LIFETIME);
        SignedLink {
            url,
            received_at,
            expires_at,
        }
    }

    /// The link.
    pub fn url(&self) -> &SecretUrl {
        &self.url
    }

    /// When the link stops working.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// True when the link is dead at `now`, or so close to it that starting
    /// a request on it would likely earn a 403.
    pub fn about_to_expire(&self, now: SystemTime) -> bool {
        let lifetime = self
            .expires_at
            .duration_since(self.received_at)
            .unwrap_or_default();
        let margin = MAX_MARGIN.min(lifetime / 4);
        match self.expires_at.duration_since(now) {
            Ok(left) => left <= margin,
            Err(_) => true,
        }
    }

    /// The link without its query: safe to show.
    pub fn redacted(&self) -> String {
        self.url.to_string()
    }
}

/// The link's own expiry, where its signing style says it: CloudFront canned
/// (`Expires`), CloudFront custom policy (`Policy`'s `DateLessThan`), CDN
/// type-A auth (`auth_key=<expiry>-…`), or S3 presigned (`X-Amz-Date` plus
/// `X-Amz-Expires`). `None` when none of them is present and readable.
pub fn read_expiry(url: &Url) -> Option<SystemTime> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    if let Some(expires) = param("Expires") {
        return unix_seconds(&expires);
    }
    if let Some(policy) = param("Policy") {
        return cloudfront_policy_expiry(&policy);
    }
    if let Some(auth_key) = param("auth_key") {
        return unix_seconds(auth_key.split('-').next()?);
    }
    if let (Some(date), Some(expires)) = (param("X-Amz-Date"), param("X-Amz-Expires")) {
        let signed_at = amz_date(&date)?;
        let lifetime: u64 = expires.trim().parse().ok()?;
        return signed_at.checked_add(Duration::from_secs(lifetime));
    }
    None
}

fn unix_seconds(text: &str) -> Option<SystemTime> {
    let seconds: u64 = text.trim().parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// CloudFront encodes the policy as base64 with `+`, `=` and `/` swapped for
/// `-`, `_` and `~` so that it survives in a query string.
fn cloudfront_policy_expiry(policy: &str) -> Option<SystemTime> {
    let standard: String = policy
        .trim()
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            other => other,
        })
        .collect();
    let json = base64::engine::general_purpose::STANDARD
        .decode(standard.as_bytes())
        .ok()?;
    let policy: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let epoch = &policy["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"];
    match epoch {
        serde_json::Value::Number(n) => UNIX_EPOCH.checked_add(Duration::from_secs(n.as_u64()?)),
        serde_json::Value::String(s) => unix_seconds(s),
        _ => None,
    }
}

/// S3's basic ISO 8601 form, `20261128T175230Z`, always UTC.
fn amz_date(text: &str) -> Option<SystemTime> {
    let civil = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", text.trim()).ok()?;
    let at = jiff::tz::Offset::UTC.to_timestamp(civil).ok()?;
    SystemTime::try_from(at).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test links parse")
    }

    fn secret(text: &str) -> SecretUrl {
        SecretUrl::parse(text).expect("test links are http(s)")
    }

    #[test]
    fn cloudfront_canned_expiry() {
        let link =
            url("https://cdn.example/a/model.glb?Expires=1768889000&Signature=x&Key-Pair-Id=K1");
        assert_eq!(read_expiry(&link), Some(at(1_768_889_000)));
    }

    #[test]
    fn cloudfront_policy_expiry_with_swapped_characters() {
        let policy = r#"{"Statement":[{"Resource":"https://cdn.example/*","Condition":{"DateLessThan":{"AWS:EpochTime":1768889000}}}]}"#;
        let encoded: String = base64::engine::general_purpose::STANDARD
            .encode(policy)
            .chars()
            .map(|c| match c {
                '+' => '-',
                '=' => '_',
                '/' => '~',
                other => other,
            })
            .collect();
        let link = url(&format!(
            "https://cdn.example/a/model.glb?Policy={encoded}&Signature=x&Key-Pair-Id=K1"
        ));
        assert_eq!(read_expiry(&link), Some(at(1_768_889_000)));
    }

    #[test]
    fn cloudfront_policy_with_string_epoch() {
        let policy =
            r#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":"1768889000"}}}]}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(policy);
        let mut link = url("https://cdn.example/a.glb");
        link.query_pairs_mut().append_pair("Policy", &encoded);
        assert_eq!(read_expiry(&link), Some(at(1_768_889_000)));
    }

    #[test]
    fn auth_key_expiry() {
        let link = url(
            "https://cdn.example/a.png?auth_key=1768889000-abc123-0-0123456789abcdef0123456789abcdef",
        );
        assert_eq!(read_expiry(&link), Some(at(1_768_889_000)));
    }

    #[test]
    fn s3_presigned_expiry() {
        let link = url(
            "https://bucket.s3.amazonaws.com/a.glb?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260120T060159Z&X-Amz-Expires=300&X-Amz-Signature=ab",
        );
        // 2026-01-20T06:01:59Z is 1768888919; plus 300 s.
        assert_eq!(read_expiry(&link), Some(at(1_768_888_919 + 300)));
    }

    #[test]
    fn malformed_signatures_fall_back() {
        for text in [
            "https://cdn.example/a.glb",
            "https://cdn.example/a.glb?Expires=soon",
            "https://cdn.example/a.glb?Expires=-5",
            "https://cdn.example/a.glb?Policy=not-base64!!",
            "https://cdn.example/a.glb?Policy=e30_",
            "https://cdn.example/a.glb?auth_key=",
            "https://cdn.example/a.glb?auth_key=x-1-2-3",
            "https://cdn.example/a.glb?X-Amz-Date=2026-01-20&X-Amz-Expires=300",
            "https://cdn.example/a.glb?X-Amz-Date=20260120T060159Z&X-Amz-Expires=lots",
            "https://cdn.example/a.glb?X-Amz-Date=20260120T060159Z",
            "https://cdn.example/a.glb?Expires=99999999999999999999999",
        ] {
            assert_eq!(read_expiry(&url(text)), None, "{text}");
        }
    }

    #[test]
    fn unreadable_links_are_assumed_to_live_five_minutes() {
        let link = SignedLink::new(secret("https://cdn.example/a.glb?token=t"), at(1000));
        assert_eq!(link.expires_at(), at(1300));
    }

    #[test]
    fn a_link_dead_on_arrival_by_its_own_reading_falls_back() {
        let link = SignedLink::new(secret("https://cdn.example/a.glb?Expires=900"), at(1000));
        assert_eq!(link.expires_at(), at(1300));
    }

    #[test]
    fn about_to_expire_keeps_a_margin_proportional_to_the_lifetime() {
        let long = SignedLink::new(secret("https://cdn.example/a.glb?Expires=1300"), at(1000));
        assert!(!long.about_to_expire(at(1289)));
        assert!(long.about_to_expire(at(1290)));
        assert!(long.about_to_expire(at(1400)));
        // A two-second link is usable for its first one and a half seconds.
        let short = SignedLink::new(secret("https://cdn.example/a.glb?Expires=1002"), at(1000));
        assert!(!short.about_to_expire(at(1001)));
        assert!(short.about_to_expire(at(1002)));
    }

    #[test]
    fn only_http_links_are_followed() {
        assert!(SecretUrl::parse("https://cdn.example/a.glb?x=1").is_ok());
        assert!(SecretUrl::parse("http://127.0.0.2:9/a.glb").is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://cdn.example/a.glb",
            "data:text/plain,hi",
            "not a url",
            "https://",
        ] {
            assert!(SecretUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_link_shows_without_query_fragment_and_credentials() {
        let link =
            secret("https://user:pw@cdn.example:8443/tcli_x/a.glb?Expires=1&Signature=secret#frag");
        let shown = "https://cdn.example:8443/tcli_x/a.glb";
        assert_eq!(link.to_string(), shown);
        assert_eq!(format!("{link:?}"), format!("SecretUrl({shown:?})"));
        assert_eq!(
            format!("{link:#?}"),
            format!("SecretUrl(\n    {shown:?},\n)")
        );
        let signed = SignedLink::new(link.clone(), at(1000));
        assert_eq!(signed.redacted(), shown);
        for printed in [format!("{signed:?}"), format!("{signed:#?}")] {
            assert!(printed.contains(shown), "{printed}");
            for secret in ["Signature", "secret", "Expires", "user", "pw@", "frag"] {
                assert!(!printed.contains(secret), "{secret} in {printed}");
            }
        }
        // The request still gets all of it.
        assert_eq!(link.expose().query(), Some("Expires=1&Signature=secret"));
    }

    #[test]
    fn the_same_file_signed_twice_is_one_file() {
        let a = secret("https://cdn.example/m.glb?Expires=1&Signature=a");
        assert!(a.same_file(&secret("https://CDN.example:443/m.glb?Expires=2#x")));
        assert!(!a.same_file(&secret("https://cdn.example/n.glb?Expires=1&Signature=a")));
        assert!(!a.same_file(&secret("http://cdn.example/m.glb?Expires=1&Signature=a")));
    }

    #[test]
    fn any_text_is_shown_without_what_may_be_a_secret() {
        for (text, shown) in [
            (
                "https://u:p@cdn.example/a.glb?Signature=s#f",
                "https://cdn.example/a.glb",
            ),
            (
                "ftp://u:p@cdn.example/a.glb?Signature=s",
                "ftp://cdn.example/a.glb",
            ),
            ("not a link?token=s", "not a link"),
            ("data:text/plain,x?token=s", "data:text/plain,x"),
            ("glb", "glb"),
        ] {
            assert_eq!(redact_text(text), shown, "{text}");
        }
    }
}
