//! Tripo's signed webhook deliveries: checking that a delivery is the
//! service's, fresh, and a task event, before anything acts on it.
//!
//! A delivery is a `POST` whose body is
//! `{"id", "type", "created_at", "data": {task}}` and whose header
//! `Tripo-Webhook-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` carries
//! HMAC-SHA256 of `"<t>.<raw body>"`, keyed with the whole `whsec_…`
//! secret (prefix included). While a secret rotates the service signs with
//! both, so any one `v1` that matches is enough. [`check_delivery`] is the whole
//! check, usable by any Rust server; `fetch-assets listen` is one such.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::Value;
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::hint::Setting;
use crate::task::TraceId;
use crate::task::{self, Task};
use crate::text::printable;

/// The largest delivery accepted: a task event is a few kilobytes.
pub const MAX_DELIVERY_BYTES: usize = 1 << 20;

/// How far a delivery's signing time may be from now, either way: older is a
/// replay, newer is a clock that cannot be trusted.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "tripo-webhook-signature";
/// The header naming one delivery and its retries: the key for dropping repeats.
pub const DELIVERY_HEADER: &str = "tripo-webhook-delivery";
/// The header naming the event (the message, the same across deliveries).
pub const ID_HEADER: &str = "tripo-webhook-id";
/// The header naming the event type.
pub const EVENT_HEADER: &str = "tripo-webhook-event";

/// The webhook secret (`whsec_…`), as the developer console shows it. Its
/// `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Takes the secret as given (surrounding spaces removed); an empty one
    /// is refused, since it would accept anything signed with nothing.
    pub fn new(secret: impl Into<String>) -> Result<WebhookSecret> {
        let secret = secret.into().trim().to_owned();
        if secret.is_empty() {
            return Err(Error::Usage(format!(
                "the webhook secret is empty: pass {} or set TRIPO_WEBHOOK_SECRET to the whsec_… secret the developer console shows for the webhook",
                Setting::WebhookSecret
            )));
        }
        Ok(WebhookSecret(secret))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(self.0.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// A delivery that passed [`check_delivery`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// What identifies this delivery across the service's retries: the
    /// `Tripo-Webhook-Delivery` header, else the `Tripo-Webhook-Id`
    /// header, else the body's `id`.
    pub delivery: String,
    /// The event type: `task.completed`, `task.failed`, `balance.low`, ….
    pub event_type: String,
    /// The body's `id` (`<task_id>:<type>`), when present.
    pub id: Option<String>,
    /// When the service signed it, unix seconds.
    pub signed_at: i64,
    /// The task in `data`, for task events; read like an API answer.
    pub task: Option<Task>,
}

impl WebhookEvent {
    /// True for `task.completed`: the task's files are ready.
    pub fn is_task_completed(&self) -> bool {
        self.event_type == "task.completed"
    }

    /// True for `task.failed`: the task ended without files.
    pub fn is_task_failed(&self) -> bool {
        self.event_type == "task.failed"
    }
}

/// Why a delivery was refused, and the HTTP status that says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The body is larger than [`MAX_DELIVERY_BYTES`].
    #[error("the body is larger than {} KiB", .limit / 1024)]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No `Tripo-Webhook-Signature` header.
    #[error("no Tripo-Webhook-Signature header")]
    NoSignature,
    /// The signature header is not `t=<unix>,v1=<hex>…`.
    #[error("the Tripo-Webhook-Signature header is not t=<unix>,v1=<hex>")]
    MalformedSignature,
    /// No `v1` matches: another secret, or a forged or altered delivery.
    #[error(
        "the signature does not match: a forged or altered delivery, or the secret is not the one the developer console shows"
    )]
    Mismatch,
    /// Signed too long ago: a replay, or a clock far behind.
    #[error("signed {} s ago, more than the {} s allowed: a replay, or this machine's clock is wrong", .age.as_secs(), TOLERANCE.as_secs())]
    Stale {
        /// How long ago.
        age: Duration,
    },
    /// Signed in the future: a clock far ahead.
    #[error("signed {} s in the future, more than the {} s allowed: this machine's clock is wrong", .ahead.as_secs(), TOLERANCE.as_secs())]
    Future {
        /// How far ahead.
        ahead: Duration,
    },
    /// Signed, but the body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// Signed JSON, but not an event this receiver can read.
    #[error("the body is not a webhook event: {0}")]
    NotAnEvent(String),
}

impl Rejection {
    /// The HTTP status to answer with: 413 too large, 401 not proven the
    /// service's, 400 signed but unreadable.
    pub fn http_status(&self) -> u16 {
        match self {
            Rejection::TooLarge { .. } => 413,
            Rejection::NotJson(_) | Rejection::NotAnEvent(_) => 400,
            Rejection::NoSignature
            | Rejection::MalformedSignature
            | Rejection::Mismatch
            | Rejection::Stale { .. }
            | Rejection::Future { .. } => 401,
        }
    }
}

/// What can be checked before a delivery's body is read: a signature
/// header that is there, well formed, and signed within [`TOLERANCE`] of
/// `now`. A server calls it first, so that unsigned, malformed or replayed
/// requests cost it no body; [`check_delivery`] checks all of it again.
pub fn check_signature_header(headers: &HeaderMap, now: SystemTime) -> Result<(), Rejection> {
    let signature = header(headers, SIGNATURE_HEADER).ok_or(Rejection::NoSignature)?;
    let (signed_at, _) = parse_signature(signature)?;
    check_age(signed_at, now)
}

/// A header's text, trimmed, when it has some.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Checks one delivery: its size, its signature over the raw `body` (in
/// constant time, any `v1` matching), its age against `now`, then that it
/// is a JSON event. Nothing about the body is believed before the signature
/// matches.
pub fn check_delivery(
    headers: &HeaderMap,
    body: &[u8],
    secret: &WebhookSecret,
    now: SystemTime,
) -> Result<WebhookEvent, Rejection> {
    if body.len() > MAX_DELIVERY_BYTES {
        return Err(Rejection::TooLarge {
            limit: MAX_DELIVERY_BYTES,
        });
    }
    let header = |name: &str| header(headers, name);
    let signature = header(SIGNATURE_HEADER).ok_or(Rejection::NoSignature)?;
    let (signed_at, candidates) = parse_signature(signature)?;

    let mut mac = secret.mac();
    mac.update(signed_at.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    if !candidates
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
    {
        return Err(Rejection::Mismatch);
    }
    check_age(signed_at, now)?;

    let json: Value =
        serde_json::from_slice(body).map_err(|e| Rejection::NotJson(e.to_string()))?;
    let event = json
        .as_object()
        .ok_or_else(|| Rejection::NotAnEvent("not a JSON object".into()))?;
    // Names that reach logs and messages: shown escaped, as all server text.
    let text = |name: &str| event.get(name).and_then(Value::as_str).map(printable);
    let event_type = text("type")
        .or_else(|| header(EVENT_HEADER).map(printable))
        .ok_or_else(|| Rejection::NotAnEvent("no \"type\"".into()))?;
    let id = text("id");
    let task = match event.get("data").and_then(Value::as_object) {
        Some(data) if event_type.starts_with("task.") => Some(
            task::parse_task(data, now, TraceId::default())
                .filter(|task| !task.task_id.is_empty())
                .ok_or_else(|| {
                    Rejection::NotAnEvent("\"data\" is not a task with a task_id and status".into())
                })?,
        ),
        None if event_type.starts_with("task.") => {
            return Err(Rejection::NotAnEvent(
                "a task event without a \"data\" object".into(),
            ));
        }
        _ => None,
    };
    let delivery = header(DELIVERY_HEADER)
        .or_else(|| header(ID_HEADER))
        .map(printable)
        .or_else(|| id.clone())
        .ok_or_else(|| {
            Rejection::NotAnEvent("no Tripo-Webhook-Delivery header and no \"id\"".into())
        })?;
    Ok(WebhookEvent {
        delivery,
        event_type,
        id,
        signed_at,
        task,
    })
}

/// `t=<unix>,v1=<hex>,v1=<hex>`: the time and every well-formed `v1`.
/// Other schemes (a future `v2`) are skipped; a `v1` that is not hex cannot
/// match and is skipped too.
fn parse_signature(header: &str) -> Result<(i64, Vec<Vec<u8>>), Rejection> {
    let mut signed_at = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(Rejection::MalformedSignature);
        };
        match key.trim() {
            "t" if signed_at.is_none() => {
                signed_at = Some(
                    value
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| Rejection::MalformedSignature)?,
                );
            }
            "t" => return Err(Rejection::MalformedSignature),
            "v1" => candidates.extend(from_hex(value.trim())),
            _ => {}
        }
    }
    match signed_at {
        Some(t) if !candidates.is_empty() => Ok((t, candidates)),
        _ => Err(Rejection::MalformedSignature),
    }
}

fn check_age(signed_at: i64, now: SystemTime) -> Result<(), Rejection> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64,
        Err(_) => 0,
    };
    let skew = now.saturating_sub(signed_at);
    let tolerance = TOLERANCE.as_secs() as i64;
    if skew > tolerance {
        Err(Rejection::Stale {
            age: Duration::from_secs(skew.unsigned_abs()),
        })
    } else if skew < -tolerance {
        Err(Rejection::Future {
            ahead: Duration::from_secs(skew.unsigned_abs()),
        })
    } else {
        Ok(())
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "whsec_test_secret_0123";
    const NOW: u64 = 1_795_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn body() -> Vec<u8> {
        br#"{"id":"t1:task.completed","type":"task.completed","created_at":"2026-11-28T17:00:00Z","data":{"task_id":"t1","type":"text_to_model","status":"success","output":{"model_url":"https://cdn.example/a.glb?Expires=1"}}}"#.to_vec()
    }

    fn headers(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(signature).expect("header"),
        );
        headers.insert(DELIVERY_HEADER, HeaderValue::from_static("dlv_1"));
        headers
    }

    fn check(signature: &str, body: &[u8]) -> Result<WebhookEvent, Rejection> {
        check_delivery(
            &headers(signature),
            body,
            &WebhookSecret::new(SECRET).expect("secret"),
            now(),
        )
    }

    #[test]
    fn a_table_of_deliveries() {
        let t = NOW as i64;
        let good = sign(SECRET, t, &body());
        let other = sign("whsec_other", t, &body());
        // What, the signature header, the body, the verdict.
        type Case = (&'static str, String, Vec<u8>, Result<(), Rejection>);
        let cases: Vec<Case> = vec![
            ("signed now", format!("t={t},v1={good}"), body(), Ok(())),
            (
                "spaces around parts",
                format!(" t={t} , v1={good} "),
                body(),
                Ok(()),
            ),
            (
                "rotating: old secret first",
                format!("t={t},v1={other},v1={good}"),
                body(),
                Ok(()),
            ),
            (
                "rotating: new secret first",
                format!("t={t},v1={good},v1={other}"),
                body(),
                Ok(()),
            ),
            (
                "an unknown scheme beside v1",
                format!("t={t},v0=abc,v1={good}"),
                body(),
                Ok(()),
            ),
            (
                "4 min 59 s old",
                format!("t={},v1={}", t - 299, sign(SECRET, t - 299, &body())),
                body(),
                Ok(()),
            ),
            (
                "4 min 59 s ahead",
                format!("t={},v1={}", t + 299, sign(SECRET, t + 299, &body())),
                body(),
                Ok(()),
            ),
            (
                "wrong secret",
                format!("t={t},v1={other}"),
                body(),
                Err(Rejection::Mismatch),
            ),
            (
                "body altered",
                format!("t={t},v1={good}"),
                body().into_iter().chain(*b" ").collect(),
                Err(Rejection::Mismatch),
            ),
            (
                "time altered",
                format!("t={},v1={good}", t - 1),
                body(),
                Err(Rejection::Mismatch),
            ),
            (
                "signature truncated",
                format!("t={t},v1={}", &good[..62]),
                body(),
                Err(Rejection::Mismatch),
            ),
            (
                "secret without its prefix",
                format!(
                    "t={t},v1={}",
                    sign(SECRET.trim_start_matches("whsec_"), t, &body())
                ),
                body(),
                Err(Rejection::Mismatch),
            ),
            (
                "stale",
                format!("t={},v1={}", t - 301, sign(SECRET, t - 301, &body())),
                body(),
                Err(Rejection::Stale {
                    age: Duration::from_secs(301),
                }),
            ),
            (
                "future",
                format!("t={},v1={}", t + 301, sign(SECRET, t + 301, &body())),
                body(),
                Err(Rejection::Future {
                    ahead: Duration::from_secs(301),
                }),
            ),
            (
                "no v1",
                format!("t={t}"),
                body(),
                Err(Rejection::MalformedSignature),
            ),
            (
                "v1 not hex",
                format!("t={t},v1=zz"),
                body(),
                Err(Rejection::MalformedSignature),
            ),
            (
                "no t",
                format!("v1={good}"),
                body(),
                Err(Rejection::MalformedSignature),
            ),
            (
                "two t",
                format!("t={t},t={t},v1={good}"),
                body(),
                Err(Rejection::MalformedSignature),
            ),
            (
                "t not a number",
                format!("t=now,v1={good}"),
                body(),
                Err(Rejection::MalformedSignature),
            ),
            (
                "signed, not JSON",
                format!("t={t},v1={}", sign(SECRET, t, b"hello")),
                b"hello".to_vec(),
                Err(Rejection::NotJson(
                    "expected value at line 1 column 1".into(),
                )),
            ),
        ];
        for (what, signature, body, expected) in cases {
            let got = check(&signature, &body).map(|_| ());
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn a_good_delivery_reads_as_its_task() {
        let t = NOW as i64;
        let event =
            check(&format!("t={t},v1={}", sign(SECRET, t, &body())), &body()).expect("verified");
        assert_eq!(event.delivery, "dlv_1");
        assert!(event.is_task_completed());
        assert_eq!(event.signed_at, t);
        let task = event.task.expect("a task");
        assert_eq!(task.task_id, "t1");
        assert_eq!(task.status, task::TaskStatus::Success);
        assert!(task.output.contains_key("model_url"));
    }

    #[test]
    fn unsigned_oversize_and_unreadable_deliveries() {
        let secret = WebhookSecret::new(SECRET).expect("secret");
        assert_eq!(
            check_delivery(&HeaderMap::new(), &body(), &secret, now()).map(|_| ()),
            Err(Rejection::NoSignature)
        );
        let big = vec![b' '; MAX_DELIVERY_BYTES + 1];
        let t = NOW as i64;
        let signature = format!("t={t},v1={}", sign(SECRET, t, &big));
        let rejection = check(&signature, &big).map(|_| ()).expect_err("too large");
        assert_eq!(rejection.http_status(), 413);
        for not_an_event in [
            &br#"[1,2]"#[..],
            br#"{"data":{}}"#,
            br#"{"type":"task.completed"}"#,
            br#"{"type":"task.completed","data":{"status":"success"}}"#,
        ] {
            let signature = format!("t={t},v1={}", sign(SECRET, t, not_an_event));
            let rejection = check(&signature, not_an_event)
                .map(|_| ())
                .expect_err("not an event");
            assert!(
                matches!(rejection, Rejection::NotAnEvent(_)),
                "{rejection:?}"
            );
            assert_eq!(rejection.http_status(), 400);
        }
        let signature = format!(
            "t={t},v1={}",
            sign(SECRET, t, br#"{"type":"balance.low","id":"b1"}"#)
        );
        let event = check(&signature, br#"{"type":"balance.low","id":"b1"}"#).expect("other");
        assert!(event.task.is_none());
        assert_eq!(event.event_type, "balance.low");
    }

    #[test]
    fn secrets_are_never_shown_and_never_empty() {
        let secret = WebhookSecret::new("whsec_hidden").expect("secret");
        assert!(!format!("{secret:?}").contains("hidden"));
        assert!(WebhookSecret::new("  ").is_err());
    }
}
