//! The requests, in each dialect: where a task (or a list of tasks) lives,
//! one request sent with the key, and its answer read whole (capped) with
//! the key scrubbed out. What the answer means is `envelope.rs`'s.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::envelope::Reply;
use super::list::{Listed, parse_list};
use super::retry_loop::Failure;
use super::{ApiClient, ApiKey, ApiVersion};
use crate::error::{ApiProblem, Error, Result};
use crate::events::{Event, Observer};
use crate::net::{self, NetFault};
use crate::retry;
use crate::task::{Task, TraceId, parse_task};
use crate::text::{Causes, cause_chain, printable};

/// The largest task answer we read: a task is a few kilobytes; anything
/// this large is not a task.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// How long one API request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The header in which the API names each request, for support.
const TRACE_HEADER: &str = "x-tripo-trace-id";

impl ApiClient {
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

    /// One request for the task.
    pub(super) async fn task_once(
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

    /// One request for the tasks `ids` (v3's list).
    pub(super) async fn list_once(
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

#[cfg(test)]
mod tests {
    use super::super::tests::client;
    use super::*;

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
}
