//! Waiting for many tasks at once, with few requests.
//!
//! Each pending task keeps its own [`PollSchedule`], fed only with the
//! answers it asked for (so its reasoning holds exactly as for one task),
//! and so has a moment it is next due. A round of requests goes out when the
//! earliest of those moments comes: the task expected to finish first sets
//! the pace for all.
//!
//! - v3: a round asks for *every* pending task with `POST /v3/tasks/list`,
//!   100 ids a request, so a task whose end nobody predicted is still seen
//!   at the next round. Ids in `missed` end as "task not found"; an id the
//!   answer leaves out entirely is asked for on its own. A base without the
//!   endpoint (404/405) is asked task by task from then on.
//! - v2 (or no list endpoint): a round asks for each task that is due with
//!   its own `GET`, paced so the whole batch sends at most
//!   `1 / GET_SPACING` requests a second.
//!
//! Rounds are at least `MIN_ROUND_GAP` apart, however many tasks are due.
//!
//! The deadline holds inside a round too: a request still waiting to go, or
//! still unanswered, when it passes is dropped, so a round of 400 paced
//! `GET`s ends at the deadline, not 20 s later. What the round brought
//! before it still counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::api::{ApiClient, ApiVersion, Listed, MAX_LIST_IDS};
use crate::error::{ApiProblem, Error, Result};
use crate::events::{Event, Observer};
use crate::fetch;
use crate::poll::PollSchedule;
use crate::task::TraceId;
use crate::task::{Task, TaskStatus};

/// The shortest time between two rounds of requests.
const MIN_ROUND_GAP: Duration = Duration::from_millis(250);
/// Between two task `GET`s of the batch: at most 20 a second.
const GET_SPACING: Duration = Duration::from_millis(50);
/// List requests in flight at once within a round.
const LISTS_AT_ONCE: usize = 4;
/// Task `GET`s in flight at once.
const GETS_AT_ONCE: usize = 8;

/// What became of a task while waiting: it succeeded (its files can start),
/// or it ended without success, was not found, or waiting failed.
pub(crate) enum Found {
    Succeeded(Task),
    Failed { task_id: String, error: Error },
}

/// A task not final yet.
struct Pending {
    schedule: PollSchedule,
    /// When its schedule wants the next answer.
    due: Instant,
    /// The last status seen, in words, for a timeout's message.
    last_seen: String,
}

/// How the tasks are asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asking {
    List,
    OneByOne,
}

/// Waits for every task in `ids` until it is final or `timeout` has passed,
/// telling `found` about each as soon as its fate is seen. Returns when no
/// task is pending.
pub(crate) async fn wait_all(
    api: &ApiClient,
    ids: &[String],
    timeout: Duration,
    observe: &TaskObservers,
    found: &UnboundedSender<Found>,
) {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut pending: HashMap<String, Pending> = ids
        .iter()
        .map(|id| {
            let task = Pending {
                schedule: PollSchedule::new(),
                due: started,
                last_seen: "no answer yet".to_owned(),
            };
            (id.clone(), task)
        })
        .collect();
    let mut asking = match api.version() {
        ApiVersion::V3 => Asking::List,
        ApiVersion::V2 => Asking::OneByOne,
    };
    let mut next_round = started;
    let mut next_get = started;
    while !pending.is_empty() {
        let earliest = pending.values().map(|p| p.due).min().unwrap_or(started);
        let at = earliest.max(next_round).max(Instant::now());
        if at >= deadline {
            tokio::time::sleep_until(deadline).await;
            for (task_id, task) in pending.drain() {
                let error = Error::Timeout {
                    task_id: task_id.clone(),
                    waited: started.elapsed(),
                    last_seen: task.last_seen,
                };
                let _ = found.send(Found::Failed { task_id, error });
            }
            return;
        }
        tokio::time::sleep_until(at).await;
        let departed = Instant::now();
        next_round = departed + MIN_ROUND_GAP;
        let mut answers = Vec::new();
        if asking == Asking::List {
            match list_round(api, &pending, deadline, observe).await {
                Some(listed) => answers = listed,
                // No list endpoint: ask task by task from now on.
                None => asking = Asking::OneByOne,
            }
        }
        if asking == Asking::OneByOne {
            let due = due_ids(&pending, departed);
            answers = get_round(api, &due, &mut next_get, deadline, observe).await;
        }
        for (task_id, answer) in answers {
            let Some(task) = pending.get_mut(&task_id) else {
                continue;
            };
            match answer {
                Ok(answer) if answer.status.is_final() => {
                    pending.remove(&task_id);
                    let news = if answer.status == TaskStatus::Success {
                        Found::Succeeded(answer)
                    } else {
                        let error = fetch::ended(&task_id, answer);
                        Found::Failed { task_id, error }
                    };
                    let _ = found.send(news);
                }
                Ok(answer) => {
                    task.last_seen = match answer.progress {
                        Some(progress) => format!("{}, {progress}%", answer.status),
                        None => answer.status.to_string(),
                    };
                    // Only an answer its schedule asked for feeds it.
                    if task.due <= departed {
                        task.due = Instant::now() + task.schedule.after(&answer);
                    }
                }
                Err(error) => {
                    pending.remove(&task_id);
                    let _ = found.send(Found::Failed { task_id, error });
                }
            }
        }
    }
}

/// The ids whose schedule wants an answer by `now`, earliest first.
fn due_ids(pending: &HashMap<String, Pending>, now: Instant) -> Vec<String> {
    let mut due: Vec<(&String, Instant)> = pending
        .iter()
        .filter(|(_, p)| p.due <= now)
        .map(|(id, p)| (id, p.due))
        .collect();
    due.sort_by_key(|(_, at)| *at);
    due.into_iter().map(|(id, _)| id.clone()).collect()
}

/// One answer a round brought for a task.
type Answer = (String, Result<Task>);

/// Asks for every pending task, 100 ids a request, until `deadline`: a
/// request unanswered by then is dropped, its tasks left pending. `None`
/// when the API has no list endpoint.
async fn list_round(
    api: &ApiClient,
    pending: &HashMap<String, Pending>,
    deadline: Instant,
    observe: &TaskObservers,
) -> Option<Vec<Answer>> {
    let ids: Vec<String> = pending.keys().cloned().collect();
    // The requests are made up front, not in a closure of the stream, so
    // the future stays `Send` for any lifetime.
    let requests: Vec<_> = ids
        .chunks(MAX_LIST_IDS)
        .map(|chunk| async move {
            if Instant::now() >= deadline {
                return None;
            }
            let reply =
                tokio::time::timeout_at(deadline, api.tasks(chunk, observe.batch_observer()))
                    .await
                    .ok()?;
            Some((chunk.to_vec(), reply))
        })
        .collect();
    let replies: Vec<(Vec<String>, Result<Listed>)> = stream::iter(requests)
        .buffer_unordered(LISTS_AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await;
    let mut answers = Vec::with_capacity(ids.len());
    let mut left_out = Vec::new();
    for (chunk, reply) in replies {
        match reply {
            Ok(Listed::Unsupported) => return None,
            Ok(Listed::Tasks { tasks, missed }) => {
                let mut seen: Vec<&str> = Vec::with_capacity(chunk.len());
                for task in tasks {
                    if let Some(id) = chunk.iter().find(|id| **id == task.task_id) {
                        seen.push(id);
                        observe.polled(id, &task);
                        answers.push((id.clone(), Ok(task)));
                    }
                }
                for id in chunk.iter().filter(|id| missed.contains(id)) {
                    seen.push(id);
                    let error = Error::TaskNotFound {
                        task_id: id.clone(),
                        trace: Default::default(),
                    };
                    answers.push((id.clone(), Err(error)));
                }
                left_out.extend(
                    chunk
                        .iter()
                        .filter(|id| !seen.contains(&id.as_str()))
                        .cloned(),
                );
            }
            Err(error) => {
                for id in &chunk {
                    answers.push((id.clone(), Err(copy_for(id, &error))));
                }
            }
        }
    }
    if !left_out.is_empty() {
        // Neither found nor missed: ask for each, which settles it.
        let mut now = Instant::now();
        answers.extend(get_round(api, &left_out, &mut now, deadline, observe).await);
    }
    Some(answers)
}

/// Asks for each task with its own `GET`, no two departures closer than
/// `GET_SPACING` across the batch (`next_get` carries the pace over), until
/// `deadline`: a `GET` not gone or not answered by then is dropped, its
/// task left pending.
async fn get_round(
    api: &ApiClient,
    ids: &[String],
    next_get: &mut Instant,
    deadline: Instant,
    observe: &TaskObservers,
) -> Vec<Answer> {
    let first = (*next_get).max(Instant::now());
    *next_get = first + GET_SPACING * ids.len() as u32;
    let requests: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| async move {
            let departure = first + GET_SPACING * i as u32;
            if departure >= deadline {
                return None;
            }
            let asked = async {
                tokio::time::sleep_until(departure).await;
                api.task(id, observe.batch_observer()).await
            };
            let answer = tokio::time::timeout_at(deadline, asked).await.ok()?;
            if let Ok(task) = &answer {
                observe.polled(id, task);
            }
            Some((id.clone(), answer))
        })
        .collect();
    stream::iter(requests)
        .buffer_unordered(GETS_AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// One task's share of a request that failed for all of them: errors are
/// not `Clone`, and an API failure is all a list or task request can end in.
fn copy_for(task_id: &str, error: &Error) -> Error {
    match error {
        Error::Auth { trace } => Error::Auth {
            trace: trace.clone(),
        },
        Error::TaskNotFound { trace, .. } => Error::TaskNotFound {
            task_id: task_id.to_owned(),
            trace: trace.clone(),
        },
        Error::Api { problem, trace } => Error::Api {
            problem: problem.clone(),
            trace: trace.clone(),
        },
        other => Error::Api {
            problem: ApiProblem::Other {
                what: other.to_string(),
                suggestion: None,
            },
            trace: TraceId::default(),
        },
    }
}

/// Where the batch's events go: events of one task are wrapped in
/// [`Event::Task`] with its id; the batch's own go as they are.
pub(crate) struct TaskObservers {
    observer: Arc<dyn Observer>,
}

impl TaskObservers {
    pub(crate) fn new(observer: Arc<dyn Observer>) -> TaskObservers {
        TaskObservers { observer }
    }

    /// The observer for the batch's own requests.
    pub(crate) fn batch_observer(&self) -> &Arc<dyn Observer> {
        &self.observer
    }

    /// An observer for one task's pipeline.
    pub(crate) fn for_task(&self, task_id: &str) -> Arc<dyn Observer> {
        let observer = self.observer.clone();
        let task_id: Arc<str> = task_id.into();
        Arc::new(move |event: &Event| {
            observer.event(&Event::Task {
                task_id: task_id.clone(),
                event: Box::new(event.clone()),
            });
        })
    }

    fn polled(&self, task_id: &str, task: &Task) {
        self.observer.event(&Event::Task {
            task_id: task_id.into(),
            event: Box::new(Event::TaskPolled {
                status: task.status.clone(),
                progress: task.progress,
                queue_position: task.queue_position,
                estimate: task.time_left,
                trace_id: task.trace_id.clone(),
            }),
        });
    }
}
