//! The task API: `GET /v3/tasks/{id}` and `GET /v2/openapi/task/{id}`, the
//! same task on both. The fixture decides the field names; the route nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::scenario::ApiFault;
use crate::server::ConnAbort;
use crate::state::{Shape, Shared, State as Record, task_of, task_of_mut};
use crate::stats::ApiRequest;
use crate::tasks::Timeline;

/// Fields of the final task that in-progress answers carry too.
const KEPT_WHILE_RUNNING: [&str; 5] = ["task_id", "type", "input", "create_time", "created_at"];

/// What a task request gets.
pub(crate) enum Outcome {
    Answer(StatusCode, Value),
    Fault {
        status: StatusCode,
        body: String,
        retry_after: Option<String>,
    },
    Reset,
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (trace, outcome) = decide(&shared, &request);
    answer(request.extensions(), &trace, outcome).await
}

/// Sends the outcome decided for a request (`extensions` are the request's).
pub(crate) async fn answer(extensions: &Extensions, trace: &str, outcome: Outcome) -> Response {
    match outcome {
        Outcome::Answer(status, body) => {
            respond(status, trace, "application/json", body.to_string(), None)
        }
        Outcome::Fault {
            status,
            body,
            retry_after,
        } => {
            let kind = if body.trim_start().starts_with('<') {
                "text/html"
            } else {
                "application/json"
            };
            respond(status, trace, kind, body, retry_after)
        }
        Outcome::Reset => {
            // Dropping the connection is the connection task's job: tell it,
            // then never answer.
            if let Some(abort) = extensions.get::<ConnAbort>() {
                abort.0.notify_one();
            }
            std::future::pending().await
        }
    }
}

/// Records the request and decides its answer (the trace id and the outcome).
fn decide(shared: &Shared, request: &Request) -> (String, Outcome) {
    let path = request.uri().path().to_owned();
    let asked_id = path
        .strip_prefix("/v3/tasks/")
        .or_else(|| path.strip_prefix("/v2/openapi/task/"))
        .filter(|id| !id.is_empty() && !id.contains('/'));
    let had_valid_key = has_valid_key(shared, request.headers());
    let at = shared.started.elapsed();

    let mut record = shared.lock();
    let trace = record.next_trace();
    let mut final_answer = false;
    let outcome = match asked_id {
        None => Outcome::Answer(
            StatusCode::NOT_FOUND,
            json!({"code": 404, "message": format!("No route for {path}"), "suggestion": "Check the API base"}),
        ),
        Some(id) => {
            record.stats.task_requests += 1;
            match (
                fault_or_refusal(&mut record, had_valid_key),
                shared.tasks.get(id),
            ) {
                (Some(outcome), _) => outcome,
                (None, None) => Outcome::Answer(
                    StatusCode::NOT_FOUND,
                    json!({
                        "code": 2001,
                        "message": "Task not found",
                        "suggestion": "Check the task id, and that it was created with this API key"
                    }),
                ),
                (None, Some(timeline)) => {
                    let (answer, is_final) =
                        task_answer(shared, timeline, &mut record, shared.phase_clock());
                    final_answer = is_final;
                    Outcome::Answer(StatusCode::OK, answer)
                }
            }
        }
    };
    record.stats.api_requests.push(ApiRequest {
        path,
        had_valid_key,
        status: outcome.status(),
        at,
        final_answer,
        task_ids: Vec::new(),
    });
    (trace, outcome)
}

impl Outcome {
    /// The status answered (0 for a connection dropped without answer).
    pub(crate) fn status(&self) -> u16 {
        match self {
            Outcome::Answer(status, _) | Outcome::Fault { status, .. } => status.as_u16(),
            Outcome::Reset => 0,
        }
    }
}

/// Whether the request carries `Authorization: Bearer <the key>`.
pub(crate) fn has_valid_key(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| key == shared.api_key)
}

/// The next queued API fault, else a 401 for a request without the key;
/// `None` when the request is to be answered.
pub(crate) fn fault_or_refusal(record: &mut Record, had_valid_key: bool) -> Option<Outcome> {
    match record.api_faults.pop_front() {
        Some(ApiFault::Reset) => Some(Outcome::Reset),
        Some(ApiFault::Status {
            status,
            body,
            retry_after,
        }) => Some(Outcome::Fault {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            retry_after,
        }),
        None if !had_valid_key => Some(Outcome::Answer(
            StatusCode::UNAUTHORIZED,
            json!({"code": 1002, "message": "Authentication failed", "suggestion": "Check your API key"}),
        )),
        None => None,
    }
}

fn respond(
    status: StatusCode,
    trace: &str,
    kind: &str,
    body: String,
    retry_after: Option<String>,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    if let Ok(trace) = HeaderValue::from_str(trace) {
        headers.insert("x-tripo-trace-id", trace);
    }
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}

/// The task's answer at `elapsed` into its timeline, and whether it is the
/// final one. The first final answer of a success is noted in the stats.
pub(crate) fn task_answer(
    shared: &Shared,
    timeline: &Timeline,
    record: &mut Record,
    elapsed: Duration,
) -> (Value, bool) {
    let mut phase_start = Duration::ZERO;
    for (status, length) in &timeline.phases {
        if elapsed < phase_start + *length {
            return (
                in_progress(shared, timeline, status, elapsed - phase_start, *length),
                false,
            );
        }
        phase_start += *length;
    }
    if timeline.final_is_success {
        let stats = &mut record.stats;
        if timeline.task_id == shared.task_id && stats.first_success_served_at.is_none() {
            stats.first_success_served_at = Some(shared.started.elapsed());
        }
    }
    let mut answer = timeline.final_answer.clone();
    if let Some(task) = task_of_mut(&mut answer, timeline.shape) {
        sign_links(
            shared,
            record,
            &timeline.task_id,
            task,
            shared.link_lifetime,
        );
    }
    (answer, true)
}

/// Replaces every `cdn:<name>` string under `task` with a link signed for
/// `lifetime`. One link per file per answer: two fields naming the same
/// file get the same link, as v3 does for model_url and pbr_model_url.
pub(crate) fn sign_links(
    shared: &Shared,
    record: &mut Record,
    task_id: &str,
    task: &mut Value,
    lifetime: Duration,
) {
    let mut issued = HashMap::new();
    replace_links(task, &mut |name| {
        issued
            .entry(name.to_owned())
            .or_insert_with(|| record.sign(shared, task_id, name, lifetime))
            .clone()
    });
}

/// A task still queued or running, `into` its phase of `length`.
fn in_progress(
    shared: &Shared,
    timeline: &Timeline,
    status: &str,
    into: Duration,
    length: Duration,
) -> Value {
    let queued = status == "queued";
    let (progress, left) = if queued {
        (0, -1)
    } else {
        shared.estimates.running(into, length)
    };
    let mut task = json!({
        "task_id": timeline.task_id,
        "type": "text_to_model",
        "status": status,
        "input": {},
        "output": {},
        "progress": progress,
        "queuing_num": if queued { 1 } else { -1 },
        "running_left_time": left,
    });
    if let Some(final_task) = task_of(&timeline.final_answer, timeline.shape) {
        for key in KEPT_WHILE_RUNNING {
            if let Some(value) = final_task.get(key) {
                task[key] = value.clone();
            }
        }
    }
    if task.get("create_time").is_none() && task.get("created_at").is_none() {
        let created = shared
            .started_unix
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        task["create_time"] = Value::from(created);
    }
    task["task_id"] = Value::from(timeline.task_id.clone());
    match timeline.shape {
        Shape::Bare => task,
        Shape::Envelope | Shape::Other => json!({"code": 0, "data": task}),
    }
}

/// Replaces every `cdn:<name>` string under `value` with `sign(name)`.
fn replace_links(value: &mut Value, sign: &mut impl FnMut(&str) -> String) {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix("cdn:") {
                *text = sign(name);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| replace_links(item, sign)),
        Value::Object(map) => map.values_mut().for_each(|item| replace_links(item, sign)),
        _ => {}
    }
}
