//! Many tasks in one request (v3's `POST /v3/tasks/list`): what it answers,
//! and how its payload reads.

use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::task::{Task, TraceId, parse_task};

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

/// The payload of `POST /v3/tasks/list`: `tasks` as an object keyed by id
/// or as a list of tasks (both are seen), and `missed`, the ids the service
/// does not know. `None` when it is neither.
pub(super) fn parse_list(
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
}
