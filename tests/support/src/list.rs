//! `POST /v3/tasks/list` with `{"task_ids": [...]}` (at most 100): every
//! task asked for, in one answer, `{"code":0,"data":{"tasks": …, "missed":
//! [ids]}}`. What the real service does is not settled, so each uncertain
//! part is a knob: `tasks` as an object keyed by id (as the service's page
//! shows) or as a list (as two official SDKs model it); unknown ids in
//! `missed` or left out; the endpoint missing altogether (404 or 405, as on
//! a gateway that only forwards `GET`s).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::api::{self, Outcome};
use crate::scenario::Scenario;
use crate::state::{Shared, task_of};
use crate::stats::ApiRequest;

/// The most ids one request may ask for.
pub const MAX_IDS: usize = 100;

/// How `tasks` is laid out in the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListShape {
    /// `{"<id>": task, …}`.
    #[default]
    Object,
    /// `[task, …]`, each task carrying its `task_id`.
    List,
}

/// The list endpoint's knobs, set through [`Scenario`].
#[derive(Clone, Debug, Default)]
pub(crate) struct ListKnobs {
    shape: ListShape,
    omit_missed: bool,
    missing: Option<u16>,
}

impl Scenario {
    /// How `POST /v3/tasks/list` lays out `tasks` (default: an object).
    pub fn list_shape(mut self, shape: ListShape) -> Self {
        self.list.shape = shape;
        self
    }

    /// `POST /v3/tasks/list` leaves unknown ids out of its answer instead of
    /// naming them in `missed`.
    pub fn list_omits_missed(mut self) -> Self {
        self.list.omit_missed = true;
        self
    }

    /// No `POST /v3/tasks/list`: it answers `status` (404 or 405), as a
    /// gateway without the route does.
    pub fn without_list(mut self, status: u16) -> Self {
        assert!(
            matches!(status, 404 | 405),
            "fake-tripo: a missing list endpoint answers 404 or 405, not {status}"
        );
        self.list.missing = Some(status);
        self
    }
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let had_valid_key = api::has_valid_key(&shared, &parts.headers);
    let asked: Option<Vec<String>> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|json| {
            json.get("task_ids")?
                .as_array()?
                .iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect()
        });

    let (trace, outcome) = decide(&shared, had_valid_key, asked, parts.uri.path());
    api::answer(&parts.extensions, &trace, outcome).await
}

/// Records the request and decides its answer (the trace id and the outcome).
fn decide(
    shared: &Shared,
    had_valid_key: bool,
    asked: Option<Vec<String>>,
    path: &str,
) -> (String, Outcome) {
    let at = shared.started.elapsed();
    let mut record = shared.lock();
    let trace = record.next_trace();
    let mut any_final = false;
    let outcome = if let Some(status) = shared.list.missing {
        Outcome::Answer(
            StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND),
            json!({"code": status, "message": "No route for POST /v3/tasks/list"}),
        )
    } else if let Some(outcome) = api::fault_or_refusal(&mut record, had_valid_key) {
        outcome
    } else {
        match &asked {
            None => Outcome::Answer(
                StatusCode::BAD_REQUEST,
                json!({"code": 1003, "message": "The request body must be {\"task_ids\": [...]}"}),
            ),
            Some(ids) if ids.is_empty() || ids.len() > MAX_IDS => Outcome::Answer(
                StatusCode::BAD_REQUEST,
                json!({"code": 1004, "message": format!("task_ids must hold 1 to {MAX_IDS} ids")}),
            ),
            Some(ids) => {
                let mut tasks = Vec::new();
                let mut missed = Vec::new();
                for id in ids {
                    if tasks.iter().any(|(seen, _)| seen == id) || missed.contains(id) {
                        continue;
                    }
                    let Some(timeline) = shared.tasks.get(id) else {
                        missed.push(id.clone());
                        continue;
                    };
                    let (answer, is_final) =
                        api::task_answer(shared, timeline, &mut record, shared.phase_clock());
                    any_final |= is_final;
                    match task_of(&answer, timeline.shape) {
                        Some(task) => tasks.push((id.clone(), task.clone())),
                        None => missed.push(id.clone()),
                    }
                }
                let tasks = match shared.list.shape {
                    ListShape::Object => Value::Object(tasks.into_iter().collect::<Map<_, _>>()),
                    ListShape::List => Value::Array(tasks.into_iter().map(|(_, t)| t).collect()),
                };
                let mut data = json!({ "tasks": tasks });
                if !shared.list.omit_missed {
                    data["missed"] = json!(missed);
                }
                Outcome::Answer(StatusCode::OK, json!({"code": 0, "data": data}))
            }
        }
    };
    record.stats.list_requests += 1;
    record.stats.api_requests.push(ApiRequest {
        path: path.to_owned(),
        had_valid_key,
        status: outcome.status(),
        at,
        final_answer: any_final,
        task_ids: asked.unwrap_or_default(),
    });
    (trace, outcome)
}
