//! What an API answer means: the envelope (`{"code":…,"data":…}`, or the
//! bare payload), and the table from status and code to an error, a retry,
//! or the payload. Pure: the answer is read whole before it gets here.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::{Map, Value};

use super::retry_loop::Failure;
use crate::error::{ApiProblem, Error};
use crate::retry;
use crate::task::{TraceId, as_i64};
use crate::text::printable;

/// One answer of the API, read whole (capped) and with the key scrubbed out.
pub(super) struct Reply {
    pub status: StatusCode,
    pub received_at: SystemTime,
    pub trace: TraceId,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
    pub json: Option<Value>,
}

impl Reply {
    fn envelope(&self) -> Option<&Map<String, Value>> {
        self.json.as_ref().and_then(Value::as_object)
    }

    pub(super) fn code(&self) -> Option<i64> {
        self.envelope().and_then(|e| e.get("code")).and_then(as_i64)
    }

    /// Whether the API says the request succeeded: a 2xx that is not an
    /// error envelope.
    pub(super) fn is_success(&self) -> bool {
        let is_error_shape = self.code().is_some_and(|c| c != 0)
            || self
                .envelope()
                .and_then(|e| e.get("status"))
                .and_then(Value::as_str)
                == Some("error");
        self.status.is_success() && !is_error_shape
    }

    /// The answer's payload: the envelope's `data`, or the whole object when
    /// it came bare.
    pub(super) fn data(&self) -> Option<&Map<String, Value>> {
        let envelope = self.envelope()?;
        match envelope.get("data") {
            Some(data) if self.code().is_some() => data.as_object(),
            _ => Some(envelope),
        }
    }

    /// A success whose payload is not what was asked for: worth another try.
    pub(super) fn unreadable(&self) -> Failure {
        Failure::Transient {
            cause: format!(
                "the API answered HTTP {} with {}",
                self.status.as_u16(),
                describe_body(&self.body, self.json.is_some())
            ),
            retry_after: self.retry_after,
            trace: self.trace.clone(),
        }
    }

    /// Why an answer that is not a success failed, and whether to try again.
    /// `task_id` is the task asked for, when one was.
    pub(super) fn refusal(&self, task_id: Option<&str>) -> Failure {
        let field = |name: &str| {
            self.envelope()
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(printable)
        };
        let (status, code) = (self.status, self.code());
        let words = api_words(
            status,
            code,
            field("message").as_deref(),
            &self.body,
            self.json.is_some(),
        );
        let trace = self.trace.clone();
        match (status, code, task_id) {
            (StatusCode::UNAUTHORIZED, _, _) | (_, Some(1002), _) => {
                Failure::Final(Error::Auth { trace })
            }
            (StatusCode::NOT_FOUND, None | Some(2001), Some(task_id))
            | (_, Some(2001), Some(task_id)) => Failure::Final(Error::TaskNotFound {
                task_id: task_id.to_owned(),
                trace,
            }),
            (_, Some(1000 | 1001 | 1007 | 2000), _) => Failure::Transient {
                cause: words,
                retry_after: self.retry_after,
                trace,
            },
            _ if retry::is_transient_status(status.as_u16())
                || self.json.is_none() && status.is_success() =>
            {
                Failure::Transient {
                    cause: words,
                    retry_after: self.retry_after,
                    trace,
                }
            }
            // Not a dead link (only the CDN's 403 is): 2010 is "not enough
            // credit", which no retry mends.
            (_, Some(2010), _) => Failure::Final(Error::Api {
                problem: ApiProblem::NoCredit { what: words },
                trace,
            }),
            _ => Failure::Final(Error::Api {
                problem: ApiProblem::Other {
                    what: words,
                    suggestion: field("suggestion"),
                },
                trace,
            }),
        }
    }
}

/// An API answer in words: status, code, message, or what the body looked like.
fn api_words(
    status: StatusCode,
    code: Option<i64>,
    message: Option<&str>,
    body: &[u8],
    is_json: bool,
) -> String {
    let mut words = format!("HTTP {}", status.as_u16());
    if let Some(code) = code {
        words.push_str(&format!(", code {code}"));
    }
    match message {
        Some(message) => words.push_str(&format!(": {message}")),
        None => words.push_str(&format!(" with {}", describe_body(body, is_json))),
    }
    words
}

/// What a body that is not a task looked like, briefly and safely.
fn describe_body(body: &[u8], is_json: bool) -> String {
    if body.is_empty() {
        return "an empty body".into();
    }
    if is_json {
        return "JSON that is not a task".into();
    }
    let text: String = String::from_utf8_lossy(&body[..body.len().min(60)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("a body that is not JSON (\"{}…\")", text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("a status"),
            received_at: SystemTime::UNIX_EPOCH,
            trace: TraceId(Some("tr".into())),
            retry_after: Some(Duration::from_secs(7)),
            body: body.as_bytes().to_vec(),
            json: serde_json::from_str(body).ok(),
        }
    }

    /// The failure, in words, so the table reads like the API's rules (the
    /// error by its data, not its message, which the shells word).
    fn words(failure: Failure) -> String {
        match failure {
            Failure::Transient {
                cause, retry_after, ..
            } => format!("retry after {retry_after:?}: {cause}"),
            Failure::Unreached { words, .. } => format!("unreached: {words}"),
            Failure::Final(Error::Auth { .. }) => "key refused".into(),
            Failure::Final(Error::TaskNotFound { task_id, .. }) => format!("{task_id} not found"),
            Failure::Final(Error::Api {
                problem: ApiProblem::NoCredit { what },
                ..
            }) => format!("no credit: {what}"),
            Failure::Final(Error::Api {
                problem: ApiProblem::Other { what, suggestion },
                ..
            }) => format!("refused: {what} ({suggestion:?})"),
            Failure::Final(other) => format!("final: {other:?}"),
        }
    }

    #[test]
    fn every_refusal_is_final_or_worth_another_try() {
        let table = [
            (401, r#"{"code":0}"#, Some("t1"), "key refused"),
            (
                200,
                r#"{"code":1002,"message":"bad key"}"#,
                Some("t1"),
                "key refused",
            ),
            (404, "", Some("t1"), "t1 not found"),
            (
                400,
                r#"{"code":2001,"message":"no task"}"#,
                Some("t1"),
                "t1 not found",
            ),
            (
                200,
                r#"{"code":1000,"message":"busy"}"#,
                None,
                "retry after Some(7s): HTTP 200, code 1000: busy",
            ),
            (
                400,
                r#"{"code":2000,"message":"rate"}"#,
                Some("t1"),
                "retry after Some(7s): HTTP 400, code 2000: rate",
            ),
            (
                503,
                "<html>down</html>",
                Some("t1"),
                "retry after Some(7s): HTTP 503 with a body that is not JSON (\"<html>down</html>…\")",
            ),
            (
                429,
                "",
                Some("t1"),
                "retry after Some(7s): HTTP 429 with an empty body",
            ),
            (
                200,
                "not json",
                Some("t1"),
                "retry after Some(7s): HTTP 200 with a body that is not JSON (\"not json…\")",
            ),
            (
                403,
                r#"{"code":2010,"message":"no credit"}"#,
                Some("t1"),
                "no credit: HTTP 403, code 2010: no credit",
            ),
            (
                400,
                r#"{"code":2002,"message":"bad \u001b id","suggestion":"check it"}"#,
                Some("t1"),
                "refused: HTTP 400, code 2002: bad \\u{1b} id (Some(\"check it\"))",
            ),
            (
                404,
                r#"{"error":"x"}"#,
                None,
                "refused: HTTP 404 with JSON that is not a task (None)",
            ),
            (404, "", None, "refused: HTTP 404 with an empty body (None)"),
        ];
        for (status, body, task_id, expected) in table {
            assert_eq!(
                words(reply(status, body).refusal(task_id)),
                expected,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn the_payload_is_the_envelopes_data_or_the_bare_answer() {
        let data = |r: &Reply| r.data().map(|d| Value::Object(d.clone()).to_string());
        let enveloped = reply(200, r#"{"code":0,"data":{"status":"running"}}"#);
        assert!(enveloped.is_success());
        assert_eq!(data(&enveloped).as_deref(), Some(r#"{"status":"running"}"#));
        let bare = reply(200, r#"{"status":"running","data":3}"#);
        assert!(bare.is_success());
        assert_eq!(
            data(&bare).as_deref(),
            Some(r#"{"data":3,"status":"running"}"#)
        );
        for error_shape in [r#"{"code":1000}"#, r#"{"status":"error"}"#] {
            assert!(!reply(200, error_shape).is_success(), "{error_shape}");
        }
        assert!(!reply(500, r#"{"code":0}"#).is_success());
    }
}
