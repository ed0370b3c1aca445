//! The task API: `GET /v3/tasks/{id}` and `GET /v2/openapi/task/{id}`, the
//! same task on both. The fixture decides the field names; the route nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::scenario::ApiFault;
use crate::server::ConnAbort;
use crate::state::{Shape, Shared, State as Record, task_of, task_of_mut};
use crate::stats::ApiRequest;

/// Fields of the final task that in-progress answers carry too.
const KEPT_WHILE_RUNNING: [&str; 5] = ["task_id", "type", "input", "create_time", "created_at"];

/// What a task request gets.
enum Outcome {
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
    match outcome {
        Outcome::Answer(status, body) => {
            respond(status, &trace, "application/json", body.to_string(), None)
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
            respond(status, &trace, kind, body, retry_after)
        }
        Outcome::Reset => {
            // Dropping the connection is the connection task's job: tell it,
            // then never answer.
            if let Some(abort) = request.extensions().get::<ConnAbort>() {
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
    let had_valid_key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| key == shared.api_key);
    let at = shared.started.elapsed();

    let mut record = shared.lock();
    record.traces += 1;
    let trace = format!("trace-{}", record.traces);
    let mut final_answer = false;
    let outcome = match asked_id {
        None => Outcome::Answer(
            StatusCode::NOT_FOUND,
            json!({"code": 404, "message": format!("No route for {path}"), "suggestion": "Check the API base"}),
        ),
        Some(id) => {
            record.stats.task_requests += 1;
            match record.api_faults.pop_front() {
                Some(ApiFault::Reset) => Outcome::Reset,
                Some(ApiFault::Status {
                    status,
                    body,
                    retry_after,
                }) => Outcome::Fault {
                    status: StatusCode::from_u16(status)
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body,
                    retry_after,
                },
                None if !had_valid_key => Outcome::Answer(
                    StatusCode::UNAUTHORIZED,
                    json!({"code": 1002, "message": "Authentication failed", "suggestion": "Check your API key"}),
                ),
                None if id != shared.task_id => Outcome::Answer(
                    StatusCode::NOT_FOUND,
                    json!({
                        "code": 2001,
                        "message": "Task not found",
                        "suggestion": "Check the task id, and that it was created with this API key"
                    }),
                ),
                None => {
                    let (answer, is_final) = task_answer(shared, &mut record, at);
                    final_answer = is_final;
                    if is_final
                        && shared.final_is_success
                        && record.stats.first_success_served_at.is_none()
                    {
                        record.stats.first_success_served_at = Some(shared.started.elapsed());
                    }
                    Outcome::Answer(StatusCode::OK, answer)
                }
            }
        }
    };
    let status = match &outcome {
        Outcome::Answer(status, _) | Outcome::Fault { status, .. } => status.as_u16(),
        Outcome::Reset => 0,
    };
    record.stats.api_requests.push(ApiRequest {
        path,
        had_valid_key,
        status,
        at,
        final_answer,
    });
    (trace, outcome)
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

/// The answer at `elapsed` into the timeline, and whether it is the final one.
fn task_answer(shared: &Shared, record: &mut Record, elapsed: Duration) -> (Value, bool) {
    let mut phase_start = Duration::ZERO;
    for (status, length) in &shared.phases {
        if elapsed < phase_start + *length {
            return (
                in_progress(shared, status, elapsed - phase_start, *length),
                false,
            );
        }
        phase_start += *length;
    }
    let mut answer = shared.final_answer.clone();
    if let Some(task) = task_of_mut(&mut answer, shared.shape) {
        sign_links(shared, record, task, shared.link_lifetime);
    }
    (answer, true)
}

/// Replaces every `cdn:<name>` string under `task` with a link signed for
/// `lifetime`. One link per file per answer: two fields naming the same
/// file get the same link, as v3 does for model_url and pbr_model_url.
pub(crate) fn sign_links(
    shared: &Shared,
    record: &mut Record,
    task: &mut Value,
    lifetime: Duration,
) {
    let mut issued = HashMap::new();
    replace_links(task, &mut |name| {
        issued
            .entry(name.to_owned())
            .or_insert_with(|| record.sign(shared, name, lifetime))
            .clone()
    });
}

/// A task still queued or running, `into` its phase of `length`.
fn in_progress(shared: &Shared, status: &str, into: Duration, length: Duration) -> Value {
    let queued = status == "queued";
    let (progress, left) = if queued {
        (0, -1)
    } else {
        shared.estimates.running(into, length)
    };
    let mut task = json!({
        "task_id": shared.task_id,
        "type": "text_to_model",
        "status": status,
        "input": {},
        "output": {},
        "progress": progress,
        "queuing_num": if queued { 1 } else { -1 },
        "running_left_time": left,
    });
    if let Some(final_task) = task_of(&shared.final_answer, shared.shape) {
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
    task["task_id"] = Value::from(shared.task_id.clone());
    match shared.shape {
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
