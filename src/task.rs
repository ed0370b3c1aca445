//! The task, as either dialect of the API describes it: one model, its
//! statuses, and the parser that reads both dialects into it. Nothing past
//! this file and `api.rs` knows which dialect answered.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::link;
use crate::text::printable;

/// The API's trace id for a request, shown in messages because it is what
/// Tripo support asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceId(pub Option<String>);

impl TraceId {
    /// The id, when the API gave one.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(id) => write!(f, " [trace id {id}]"),
            None => Ok(()),
        }
    }
}

/// A task's status. `Other` is a status this version does not know; it is
/// treated as still going, so a new intermediate status does not end a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    /// Waiting for its turn.
    Queued,
    /// Being generated.
    Running,
    /// Done; the outputs are ready.
    Success,
    /// Failed, usually on the service's side.
    Failed,
    /// Refused by the content policy.
    Banned,
    /// Expired before it ran.
    Expired,
    /// Cancelled.
    Cancelled,
    /// The service cannot tell: final.
    Unknown,
    /// A status this version does not know.
    Other(String),
}

impl TaskStatus {
    /// Reads a status as either dialect spells it.
    pub(crate) fn parse(text: &str) -> TaskStatus {
        match text.trim().to_ascii_lowercase().as_str() {
            "queued" => TaskStatus::Queued,
            "running" => TaskStatus::Running,
            "success" => TaskStatus::Success,
            "failed" => TaskStatus::Failed,
            "banned" => TaskStatus::Banned,
            "expired" => TaskStatus::Expired,
            "cancelled" | "canceled" => TaskStatus::Cancelled,
            "unknown" => TaskStatus::Unknown,
            other => TaskStatus::Other(other.to_owned()),
        }
    }

    /// True for the statuses after which the task never changes.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            TaskStatus::Queued | TaskStatus::Running | TaskStatus::Other(_)
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Success => "success",
            TaskStatus::Failed => "failed",
            TaskStatus::Banned => "banned",
            TaskStatus::Expired => "expired",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Unknown => "unknown",
            TaskStatus::Other(text) => text,
        })
    }
}

/// A task, as either dialect describes it.
///
/// Its `Debug` shows `output` with every link redacted (see
/// [`Task::output`]): a signed link is a secret until it expires.
#[derive(Clone)]
#[non_exhaustive]
pub struct Task {
    /// The task's id.
    pub task_id: String,
    /// Its type (`text_to_model`, …), when given.
    pub task_type: Option<String>,
    /// Its status.
    pub status: TaskStatus,
    /// Progress, 0 to 100.
    pub progress: Option<u8>,
    /// Position in the queue, while queued.
    pub queue_position: Option<u32>,
    /// The service's estimate of the running time left.
    pub time_left: Option<Duration>,
    /// When the task was created, in unix seconds.
    pub create_time: Option<i64>,
    /// The API's error code for a task that did not succeed.
    pub error_code: Option<i64>,
    /// The API's error text for a task that did not succeed.
    pub error_message: Option<String>,
    /// The output object, as sent: its links are signed, so their queries
    /// are secrets until they expire. Read it; do not print it (`Debug` of
    /// the task shows each link without its query).
    pub output: Map<String, Value>,
    /// The trace id of the answer.
    pub trace_id: TraceId,
    /// When the answer arrived: links without a readable expiry count from here.
    pub received_at: SystemTime,
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("task_id", &self.task_id)
            .field("task_type", &self.task_type)
            .field("status", &self.status)
            .field("progress", &self.progress)
            .field("queue_position", &self.queue_position)
            .field("time_left", &self.time_left)
            .field("create_time", &self.create_time)
            .field("error_code", &self.error_code)
            .field("error_message", &self.error_message)
            .field("output", &RedactedObject(&self.output))
            .field("trace_id", &self.trace_id)
            .field("received_at", &self.received_at)
            .finish()
    }
}

/// A JSON value for `Debug`, every string in it (keys aside) shown through
/// [`link::redact_text`]: `output` holds signed links at any depth.
struct Redacted<'a>(&'a Value);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(text) => fmt::Debug::fmt(&link::redact_text(text), f),
            Value::Array(items) => f.debug_list().entries(items.iter().map(Redacted)).finish(),
            Value::Object(map) => RedactedObject(map).fmt(f),
            other => fmt::Debug::fmt(other, f),
        }
    }
}

struct RedactedObject<'a>(&'a Map<String, Value>);

impl fmt::Debug for RedactedObject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(key, value)| (key, Redacted(value))))
            .finish()
    }
}

/// A task object (`data` of an answer, or of a webhook delivery) read into
/// the one task model; `None` when it has no status.
pub(crate) fn parse_task(
    task: &Map<String, Value>,
    received_at: SystemTime,
    trace: TraceId,
) -> Option<Task> {
    let text = |name: &str| task.get(name).and_then(Value::as_str).map(str::to_owned);
    let number = |name: &str| task.get(name).and_then(as_i64);
    let status = TaskStatus::parse(&printable(&text("status")?));
    let create_time =
        number("create_time").or_else(|| text("created_at").and_then(|t| rfc3339_seconds(&t)));
    Some(Task {
        task_id: text("task_id").unwrap_or_default(),
        task_type: text("type").or_else(|| text("task_type")),
        status,
        progress: number("progress").map(|p| p.clamp(0, 100) as u8),
        queue_position: number("queuing_num")
            .filter(|n| *n >= 0)
            .map(|n| n.min(u32::MAX as i64) as u32),
        time_left: task
            .get("running_left_time")
            .and_then(as_f64)
            .filter(|s| *s >= 0.0 && s.is_finite())
            .map(|s| Duration::from_secs_f64(s.min(1e9))),
        create_time,
        error_code: number("error_code"),
        error_message: text("error_msg")
            .or_else(|| text("error_message"))
            .filter(|m| !m.is_empty())
            .map(|m| printable(&m)),
        output: task
            .get("output")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        trace_id: trace,
        received_at,
    })
}

/// Numbers arrive as integers, floats or numeric strings.
pub(crate) fn as_i64(value: &Value) -> Option<i64> {
    as_f64(value).map(|f| f as i64)
}

pub(crate) fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// RFC 3339 to unix seconds, with `Z` or a numeric offset.
fn rfc3339_seconds(text: &str) -> Option<i64> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_both_dialects_into_one_model() {
        let now = SystemTime::now();
        let v2 = json!({"task_id":"a","type":"text_to_model","status":"failed","progress":100,
            "create_time":1768888519,"error_code":1001,"error_msg":"boom","queuing_num":-1,"running_left_time":-1,"output":{}});
        let task = parse_task(v2.as_object().expect("obj"), now, TraceId::default()).expect("task");
        assert_eq!(task.status, TaskStatus::Failed);
        assert_eq!(task.create_time, Some(1_768_888_519));
        assert_eq!(task.error_message.as_deref(), Some("boom"));
        assert_eq!(task.queue_position, None);
        assert_eq!(task.time_left, None);

        let v3 = json!({"task_id":"b","type":"image_to_model","status":"running","progress":"42.5",
            "created_at":"2026-01-20T06:01:59Z","queuing_num":0,"running_left_time":12,"error_message":"","output":{"model_url":"x"}});
        let task = parse_task(v3.as_object().expect("obj"), now, TraceId::default()).expect("task");
        assert_eq!(task.status, TaskStatus::Running);
        assert_eq!(task.progress, Some(42));
        assert_eq!(task.create_time, Some(1_768_888_919));
        assert_eq!(task.time_left, Some(Duration::from_secs(12)));
        assert_eq!(task.error_message, None);
        assert!(task.output.contains_key("model_url"));
    }

    #[test]
    fn a_task_shows_its_links_without_their_queries() {
        let answer = json!({"task_id":"a","status":"success","output":{
            "model_url":"https://cdn.example/m.glb?Expires=1&Signature=sig-a&Key-Pair-Id=K",
            "renders":[{"url":"https://u:pw@cdn.example/r.png?token=tok-b#frag"}],
            "note":"see ftp://cdn.example/x?token=tok-c",
            "count":3
        }});
        let task = parse_task(
            answer.as_object().expect("obj"),
            SystemTime::now(),
            TraceId::default(),
        )
        .expect("task");
        for shown in [format!("{task:?}"), format!("{task:#?}")] {
            for secret in [
                "sig-a",
                "tok-b",
                "tok-c",
                "Signature",
                "Key-Pair",
                "pw@",
                "frag",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            for kept in [
                "https://cdn.example/m.glb",
                "https://cdn.example/r.png",
                "count",
            ] {
                assert!(shown.contains(kept), "{kept} missing from {shown}");
            }
        }
        // The links themselves are untouched: the planner reads them.
        assert!(
            task.output["model_url"]
                .as_str()
                .is_some_and(|l| l.contains("sig-a"))
        );
    }

    #[test]
    fn rfc3339_offsets() {
        assert_eq!(rfc3339_seconds("2026-01-20T06:01:59Z"), Some(1_768_888_919));
        assert_eq!(
            rfc3339_seconds("2026-01-20T14:01:59+08:00"),
            Some(1_768_888_919)
        );
        assert_eq!(
            rfc3339_seconds("2026-01-20T06:01:59.250Z"),
            Some(1_768_888_919)
        );
        assert_eq!(rfc3339_seconds("yesterday"), None);
        // Multi-byte text where the offset would start: no panic, no date.
        assert_eq!(rfc3339_seconds("2026-01-20T06:01:59é00:00"), None);
        assert_eq!(rfc3339_seconds("éééé"), None);
    }

    #[test]
    fn statuses() {
        for final_status in [
            "success",
            "failed",
            "banned",
            "expired",
            "cancelled",
            "unknown",
        ] {
            assert!(TaskStatus::parse(final_status).is_final(), "{final_status}");
        }
        for going in ["queued", "running", "finalizing"] {
            assert!(!TaskStatus::parse(going).is_final(), "{going}");
        }
    }
}
