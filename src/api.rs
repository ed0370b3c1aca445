//! The Tripo task API's transport: the requests in each dialect, the error
//! envelope, retries, and the key (sent here and nowhere else). The task
//! model and the parser of both dialects are in `task.rs`; nothing past
//! these two files knows which dialect answered.
//!
//! v2 (`GET {base}/task/{id}`) is what the reference page describes and what
//! gateways still serve; v3 (`GET {base}/v3/tasks/{id}`) is what the service
//! itself speaks since the end of October 2026. Both answer
//! `{"code":0,"data":{task}}`; v3 may also answer the bare task.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, Url};
use serde_json::{Map, Value};

use crate::error::{ApiProblem, Error, Result};
use crate::events::{Event, Observer};
use crate::hint::Setting;
use crate::net::{self, NetFault};
use crate::retry::{self, RetryPolicy};
use crate::task::TraceId;
use crate::task::{Task, as_i64, parse_task};
use crate::text::{Causes, cause_chain, printable};

/// The base used when none is given.
pub const DEFAULT_API_BASE: &str = "https://openapi.tripo3d.ai";

/// The largest task answer we read: a task is a few kilobytes; anything
/// this large is not a task.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// How long one API request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The header in which the API names each request, for support.
const TRACE_HEADER: &str = "x-tripo-trace-id";

/// Which shape of the API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `GET {base}/task/{id}`, bare output names.
    V2,
    /// `GET {base}/v3/tasks/{id}`, `_url` output names.
    V3,
}

impl ApiVersion {
    /// The dialect a base speaks by default: v2 when its path ends in
    /// `/v2/openapi`, else v3.
    pub fn guess(base: &Url) -> ApiVersion {
        if base.path().trim_end_matches('/').ends_with("/v2/openapi") {
            ApiVersion::V2
        } else {
            ApiVersion::V3
        }
    }
}

/// An API key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Checks that the key can travel in a header.
    pub fn new(key: impl Into<String>) -> Result<ApiKey> {
        let key = key.into().trim().to_owned();
        if key.is_empty() {
            return Err(Error::Usage(format!(
                "the API key is empty: pass {} or set TRIPO_API_KEY",
                Setting::ApiKey
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Usage(format!(
                "the API key has spaces or characters that cannot be sent: check {} or TRIPO_API_KEY",
                Setting::ApiKey
            )));
        }
        Ok(ApiKey(key))
    }

    fn secret(&self) -> &str {
        &self.0
    }

    /// `bytes` with every copy of the key blanked out: a gateway that echoes
    /// the request, headers and all, into its answer must not get the key
    /// printed in an error, nor passed on in a link.
    fn scrub(&self, bytes: Vec<u8>) -> Vec<u8> {
        let key = self.0.as_bytes();
        if !bytes.windows(key.len()).any(|w| w == key) {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            if rest.starts_with(key) {
                out.extend_from_slice(REDACTED_KEY.as_bytes());
                rest = &rest[key.len()..];
            } else {
                out.push(rest[0]);
                rest = &rest[1..];
            }
        }
        out
    }

    fn scrub_text(&self, text: &str) -> String {
        text.replace(&self.0, REDACTED_KEY)
    }

    /// Every string of a parsed answer (keys included) with the key blanked
    /// out: JSON may spell the key with escapes (`tsk\u005f…`, `\/`) that
    /// the byte scrub cannot see, and parsing undoes them.
    fn scrub_json(&self, value: &mut Value) {
        match value {
            Value::String(text) if text.contains(&self.0) => *text = self.scrub_text(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.scrub_json(item)),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains(&self.0)) {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (self.scrub_text(&k), v))
                        .collect();
                }
                map.values_mut().for_each(|item| self.scrub_json(item));
            }
            _ => {}
        }
    }
}

/// What stands in for the key wherever an answer repeats it.
const REDACTED_KEY: &str = "<the API key>";

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A client for the task API. It holds the key, and only ever sends it to
/// the API's own URLs.
#[derive(Clone)]
pub(crate) struct ApiClient {
    http: reqwest::Client,
    base: Url,
    version: ApiVersion,
    /// `None` for a client that is only ever handed tasks (`listen` without
    /// a key): a task request then fails at once, with no request sent.
    key: Option<ApiKey>,
    policy: RetryPolicy,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("version", &self.version)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A failed try: either worth another, or the end.
enum Failure {
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
    pub(crate) fn new(
        http: reqwest::Client,
        base: Url,
        version: Option<ApiVersion>,
        key: Option<ApiKey>,
        policy: RetryPolicy,
    ) -> ApiClient {
        let version = version.unwrap_or_else(|| ApiVersion::guess(&base));
        ApiClient {
            http,
            base,
            version,
            key,
            policy,
        }
    }

    /// Where the task lives in this dialect. The base is an http(s) URL and
    /// the id was checked to be URL-safe, so this cannot fail unless there is
    /// a bug; if it does, it says so rather than ask somewhere else.
    pub(crate) fn task_url(&self, task_id: &str) -> Result<Url> {
        let base = self.base.as_str().trim_end_matches('/');
        let text = match self.version {
            ApiVersion::V2 => format!("{base}/task/{task_id}"),
            ApiVersion::V3 if base.ends_with("/v3") => format!("{base}/tasks/{task_id}"),
            ApiVersion::V3 => format!("{base}/v3/tasks/{task_id}"),
        };
        Url::parse(&text).map_err(|e| {
            Error::Internal(format!("the task URL for '{task_id}' does not parse: {e}"))
        })
    }

    /// The dialect this client speaks.
    pub(crate) fn version(&self) -> ApiVersion {
        self.version
    }

    /// Where several tasks are asked for at once (v3 only); like
    /// [`ApiClient::task_url`], a failure here is a bug.
    fn list_url(&self) -> Result<Url> {
        let base = self.base.as_str().trim_end_matches('/');
        let text = if base.ends_with("/v3") {
            format!("{base}/tasks/list")
        } else {
            format!("{base}/v3/tasks/list")
        };
        Url::parse(&text)
            .map_err(|e| Error::Internal(format!("the task list URL does not parse: {e}")))
    }

    /// Fetches the task, retrying transient faults as the policy says.
    pub(crate) async fn task(&self, task_id: &str, observer: &Arc<dyn Observer>) -> Result<Task> {
        self.retrying(observer, || self.task_once(task_id, observer))
            .await
    }

    /// Asks for up to [`MAX_LIST_IDS`] tasks in one request (v3's
    /// `POST /v3/tasks/list`), retrying transient faults as the policy says.
    /// A base without the endpoint (404 or 405) answers
    /// [`Listed::Unsupported`]: ask for each task on its own instead.
    pub(crate) async fn tasks(
        &self,
        ids: &[String],
        observer: &Arc<dyn Observer>,
    ) -> Result<Listed> {
        self.retrying(observer, || self.list_once(ids, observer))
            .await
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy
    /// allows no more tries.
    async fn retrying<T, F>(
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
    fn unreachable(&self, fault: NetFault, words: String, tries: u32) -> Error {
        Error::Unreachable {
            host: net::host_of(&self.base),
            fault,
            cause: words,
            tries,
        }
    }

    async fn task_once(
        &self,
        task_id: &str,
        observer: &Arc<dyn Observer>,
    ) -> Result<Task, Failure> {
        let Some(key) = &self.key else {
            return Err(Failure::Final(Error::NoApiKey {
                task_id: task_id.to_owned(),
            }));
        };
        let url = self.task_url(task_id).map_err(Failure::Final)?;
        let reply = self.exchange(self.http.get(url), key, observer).await?;
        if !reply.is_success() {
            return Err(reply.refusal(Some(task_id)));
        }
        let task = reply
            .data()
            .and_then(|task| parse_task(task, reply.received_at, reply.trace.clone()))
            .ok_or_else(|| reply.unreadable())?;
        if !task.task_id.is_empty() && task.task_id != task_id {
            return Err(Failure::Final(Error::Api {
                problem: ApiProblem::OtherTask {
                    answered: task.task_id,
                    asked: task_id.to_owned(),
                },
                trace: reply.trace.clone(),
            }));
        }
        // An answer without an id is about the task asked for.
        Ok(Task {
            task_id: task_id.to_owned(),
            ..task
        })
    }

    async fn list_once(
        &self,
        ids: &[String],
        observer: &Arc<dyn Observer>,
    ) -> Result<Listed, Failure> {
        let Some(key) = &self.key else {
            return Err(Failure::Final(Error::NoApiKey {
                task_id: ids.join(", "),
            }));
        };
        let body = serde_json::json!({ "task_ids": ids }).to_string();
        let request = self
            .http
            .post(self.list_url().map_err(Failure::Final)?)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let reply = self.exchange(request, key, observer).await?;
        let missing = matches!(
            reply.status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) && !matches!(reply.code(), Some(1002 | 2001));
        if missing {
            return Ok(Listed::Unsupported);
        }
        if !reply.is_success() {
            return Err(reply.refusal(None));
        }
        reply
            .data()
            .and_then(|data| parse_list(data, reply.received_at, &reply.trace))
            .ok_or_else(|| reply.unreadable())
    }

    /// Sends one request with the key and reads its answer (capped, the key
    /// scrubbed out of it).
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        key: &ApiKey,
        observer: &Arc<dyn Observer>,
    ) -> Result<Reply, Failure> {
        let request = request
            .bearer_auth(key.secret())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| {
                Failure::Final(Error::Internal(format!(
                    "could not build an API request: {}",
                    cause_chain(&e.without_url(), Causes::All)
                )))
            })?;
        // API URLs carry no query: the whole URL is safe to show.
        observer.event(&Event::Request {
            method: request.method().as_str().to_owned(),
            url: request.url().to_string(),
        });
        let response = self.http.execute(request).await.map_err(|e| {
            let e = e.without_url();
            let fault = NetFault::of(&e);
            let words = net::describe(&e, fault);
            if fault == NetFault::Tls {
                // A handshake that failed once fails the same way again.
                Failure::Final(self.unreachable(fault, words, 1))
            } else {
                Failure::Unreached { fault, words }
            }
        })?;
        let received_at = SystemTime::now();
        let status = response.status();
        let mut trace = TraceId(
            response
                .headers()
                .get(TRACE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| printable(&key.scrub_text(v))),
        );
        let retry_after = retry::retry_after(response.headers());
        let body = read_capped(response).await.map_err(|e| match e {
            BodyError::TooLarge => Failure::Final(Error::Api {
                problem: ApiProblem::TooLarge {
                    limit: MAX_ANSWER_BYTES,
                },
                trace: trace.clone(),
            }),
            BodyError::Cut(cause) => Failure::Transient {
                cause: format!("the API's answer was cut short: {cause}"),
                retry_after: None,
                trace: trace.clone(),
            },
        })?;
        // Whatever the answer says comes from here on, into messages too.
        let body = key.scrub(body);
        let json: Option<Value> = serde_json::from_slice(&body).ok().map(|mut json| {
            key.scrub_json(&mut json);
            json
        });
        if trace.0.is_none() {
            trace.0 = json
                .as_ref()
                .and_then(|j| j.get("request_id"))
                .and_then(Value::as_str)
                .map(printable);
        }
        Ok(Reply {
            status,
            received_at,
            trace,
            retry_after,
            body,
            json,
        })
    }
}

/// What `POST /v3/tasks/list` answered.
#[derive(Debug)]
pub(crate) enum Listed {
    /// The tasks it knows, and the ids it does not (`missed`).
    Tasks {
        /// The tasks found, each with its id.
        tasks: Vec<Task>,
        /// Ids the service does not know: "task not found".
        missed: Vec<String>,
    },
    /// The base has no such endpoint (404 or 405).
    Unsupported,
}

/// The most ids one `POST /v3/tasks/list` may carry.
pub(crate) const MAX_LIST_IDS: usize = 100;

/// One answer of the API, read whole (capped) and with the key scrubbed out.
struct Reply {
    status: StatusCode,
    received_at: SystemTime,
    trace: TraceId,
    retry_after: Option<Duration>,
    body: Vec<u8>,
    json: Option<Value>,
}

impl Reply {
    fn envelope(&self) -> Option<&Map<String, Value>> {
        self.json.as_ref().and_then(Value::as_object)
    }

    fn code(&self) -> Option<i64> {
        self.envelope().and_then(|e| e.get("code")).and_then(as_i64)
    }

    /// Whether the API says the request succeeded: a 2xx that is not an
    /// error envelope.
    fn is_success(&self) -> bool {
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
    fn data(&self) -> Option<&Map<String, Value>> {
        let envelope = self.envelope()?;
        match envelope.get("data") {
            Some(data) if self.code().is_some() => data.as_object(),
            _ => Some(envelope),
        }
    }

    /// A success whose payload is not what was asked for: worth another try.
    fn unreadable(&self) -> Failure {
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
    fn refusal(&self, task_id: Option<&str>) -> Failure {
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

enum BodyError {
    TooLarge,
    Cut(String),
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Cut(cause_chain(&e.without_url(), Causes::All)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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

/// The payload of `POST /v3/tasks/list`: `tasks` as an object keyed by id
/// or as a list of tasks (both are seen), and `missed`, the ids the service
/// does not know. `None` when it is neither.
fn parse_list(
    data: &Map<String, Value>,
    received_at: SystemTime,
    trace: &TraceId,
) -> Option<Listed> {
    let missed: Vec<String> = match data.get("missed") {
        None | Some(Value::Null) => Vec::new(),
        Some(missed) => missed
            .as_array()?
            .iter()
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect(),
    };
    let parse = |task: &Value, id: Option<&str>| {
        let mut task = parse_task(task.as_object()?, received_at, trace.clone())?;
        if let Some(id) = id.filter(|_| task.task_id.is_empty()) {
            task.task_id = id.to_owned();
        }
        Some(task).filter(|t| !t.task_id.is_empty())
    };
    let tasks = match data.get("tasks") {
        Some(Value::Object(by_id)) => by_id
            .iter()
            .filter_map(|(id, task)| parse(task, Some(id)))
            .collect(),
        Some(Value::Array(list)) => list.iter().filter_map(|task| parse(task, None)).collect(),
        None | Some(Value::Null) if data.contains_key("missed") => Vec::new(),
        _ => return None,
    };
    Some(Listed::Tasks { tasks, missed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test url")
    }

    fn client(base: &str, version: Option<ApiVersion>) -> ApiClient {
        ApiClient::new(
            reqwest::Client::new(),
            url(base),
            version,
            Some(ApiKey::new("tsk_x").expect("key")),
            RetryPolicy::default(),
        )
    }

    #[test]
    fn dialect_from_base() {
        let cases = [
            (
                "https://openapi.tripo3d.ai",
                None,
                "https://openapi.tripo3d.ai/v3/tasks/t1",
            ),
            (
                "https://api.tripo3d.ai/v2/openapi",
                None,
                "https://api.tripo3d.ai/v2/openapi/task/t1",
            ),
            (
                "https://gw.example/tripo/v2/openapi/",
                None,
                "https://gw.example/tripo/v2/openapi/task/t1",
            ),
            (
                "https://gw.example/tripo/v3",
                None,
                "https://gw.example/tripo/v3/tasks/t1",
            ),
            (
                "https://gw.example/x",
                Some(ApiVersion::V2),
                "https://gw.example/x/task/t1",
            ),
            (
                "https://gw.example/v2/openapi",
                Some(ApiVersion::V3),
                "https://gw.example/v2/openapi/v3/tasks/t1",
            ),
        ];
        for (base, version, expected) in cases {
            assert_eq!(
                client(base, version)
                    .task_url("t1")
                    .expect("a URL")
                    .as_str(),
                expected,
                "{base}"
            );
        }
    }

    #[test]
    fn the_list_endpoint_sits_beside_the_tasks() {
        assert_eq!(
            client("https://openapi.tripo3d.ai", None)
                .list_url()
                .expect("a URL")
                .as_str(),
            "https://openapi.tripo3d.ai/v3/tasks/list"
        );
        assert_eq!(
            client("https://gw.example/tripo/v3/", None)
                .list_url()
                .expect("a URL")
                .as_str(),
            "https://gw.example/tripo/v3/tasks/list"
        );
    }

    #[test]
    fn lists_come_keyed_by_id_or_as_a_list_with_the_missed_apart() {
        let now = SystemTime::now();
        let trace = TraceId(Some("t".into()));
        let ids = |listed: Option<Listed>| match listed {
            Some(Listed::Tasks { tasks, missed }) => (
                tasks
                    .iter()
                    .map(|t| format!("{}:{}", t.task_id, t.status))
                    .collect::<Vec<_>>(),
                missed,
            ),
            other => panic!("not a list: {other:?}"),
        };
        let by_id = json!({"tasks": {"a": {"status": "running"}, "b": {"task_id": "b", "status": "success"}},
            "missed": ["c"]});
        let (tasks, missed) = ids(parse_list(by_id.as_object().expect("obj"), now, &trace));
        assert_eq!(tasks, ["a:running", "b:success"]);
        assert_eq!(missed, ["c"]);

        // A list: tasks without an id cannot be placed and are left out.
        let list = json!({"tasks": [{"task_id": "a", "status": "queued"}, {"status": "success"}]});
        let (tasks, missed) = ids(parse_list(list.as_object().expect("obj"), now, &trace));
        assert_eq!(tasks, ["a:queued"]);
        assert!(missed.is_empty());

        let none_found = json!({"tasks": null, "missed": ["a"]});
        let (tasks, missed) = ids(parse_list(
            none_found.as_object().expect("obj"),
            now,
            &trace,
        ));
        assert!(tasks.is_empty());
        assert_eq!(missed, ["a"]);

        for not_a_list in [
            json!({"task_id": "a", "status": "running"}),
            json!({"tasks": 3}),
        ] {
            assert!(parse_list(not_a_list.as_object().expect("obj"), now, &trace).is_none());
        }
    }

    #[test]
    fn keys_are_never_shown() {
        let key = ApiKey::new("tsk_secret").expect("key");
        assert!(!format!("{key:?}").contains("secret"));
        let client = client("https://x.example", None);
        assert!(!format!("{client:?}").contains("tsk_x"));
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("tsk_a\nb").is_err());
    }

    #[test]
    fn answers_that_repeat_the_key_are_scrubbed() {
        let key = ApiKey::new("tsk_echo").expect("key");
        let body = br#"{"message":"Bearer tsk_echo, tsk_echotsk_echo","x":"tsk_ech"}"#.to_vec();
        let scrubbed = String::from_utf8(key.scrub(body)).expect("utf-8");
        assert_eq!(
            scrubbed,
            r#"{"message":"Bearer <the API key>, <the API key><the API key>","x":"tsk_ech"}"#
        );
        assert_eq!(key.scrub(b"tsk_ech".to_vec()), b"tsk_ech");
        assert_eq!(key.scrub_text("id tsk_echo"), "id <the API key>");

        // Escaped in JSON: invisible to the byte scrub, caught once parsed.
        let key = ApiKey::new("tsk_a/b").expect("key");
        let body = br#"{"message":"tsk\u005fa\/b","x":["tsk_a\/b"],"tsk\u005fa/b":1}"#;
        let mut json: Value = serde_json::from_slice(&key.scrub(body.to_vec())).expect("json");
        key.scrub_json(&mut json);
        assert_eq!(
            json,
            json!({"message": "<the API key>", "x": ["<the API key>"], "<the API key>": 1})
        );
    }
}
