//! Many tasks: besides the scenario's own task, the fake can serve more, each
//! with its own id, final answer and timeline, for batch runs. Every task's
//! files come from the one file table (by name; content, sizes and faults are
//! shared), but each task's links carry its own id in their path, as the real
//! CDN's do, and [`crate::CdnRequest::task_id`] says whose link was used.

use std::time::Duration;

use serde_json::Value;

use crate::scenario::{Scenario, fixture_json};
use crate::state::{Shape, task_of, task_of_mut};

/// One more task for [`Scenario::task`]: its final answer and timeline.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    pub(crate) answer: Value,
    pub(crate) source: String,
    pub(crate) phases: Vec<(String, Duration)>,
}

impl TaskSpec {
    /// A task that ends with the answer in `fixtures/<fixture>.json` (any
    /// status: `success`, `failed`, ...).
    pub fn new(fixture: &str) -> TaskSpec {
        TaskSpec {
            answer: fixture_json(fixture),
            source: format!("fixture `{fixture}`"),
            phases: Vec::new(),
        }
    }

    /// A task that ends with this answer (envelope or bare task; `cdn:<name>`
    /// strings become signed links to file `<name>`).
    pub fn from_json(final_answer: Value) -> TaskSpec {
        TaskSpec {
            answer: final_answer,
            source: "an in-memory answer".to_owned(),
            phases: Vec::new(),
        }
    }

    /// Adds a phase before the final answer, as [`Scenario::phase`] does.
    pub fn phase(mut self, status: &str, duration: Duration) -> Self {
        self.phases.push((status.to_owned(), duration));
        self
    }
}

impl Scenario {
    /// Serves one more task, under `id`, beside the scenario's own: for
    /// batch runs. Ids asked for that no task has are answered "task not
    /// found" (and listed in `missed` by `POST /v3/tasks/list`).
    pub fn task(mut self, id: &str, spec: TaskSpec) -> Self {
        self.more_tasks.push((id.to_owned(), spec));
        self
    }
}

/// One task as served: what it says over time.
#[derive(Clone, Debug)]
pub(crate) struct Timeline {
    pub task_id: String,
    pub shape: Shape,
    /// The final answer, its `task_id` set, links still as `cdn:<name>`.
    pub final_answer: Value,
    pub phases: Vec<(String, Duration)>,
    pub final_is_success: bool,
}

impl Timeline {
    /// Lays out a task's answer for serving under `task_id`.
    pub(crate) fn new(task_id: String, mut answer: Value, phases: Vec<(String, Duration)>) -> Self {
        let shape = Shape::of(&answer);
        if let Some(task) = task_of_mut(&mut answer, shape) {
            task["task_id"] = Value::from(task_id.clone());
        }
        let final_is_success = task_of(&answer, shape)
            .and_then(|task| task.get("status"))
            .is_some_and(|status| status == "success");
        Timeline {
            task_id,
            shape,
            final_answer: answer,
            phases,
            final_is_success,
        }
    }

    /// When the final answer becomes available, from the fake's start.
    pub(crate) fn end(&self) -> Duration {
        self.phases.iter().map(|(_, d)| *d).sum()
    }
}
