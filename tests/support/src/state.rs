//! The state shared by the API and CDN handlers: the scenario as served
//! (immutable) and the mutable record (links issued, counters, stats).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use serde_json::Value;

use crate::content::Content;
use crate::links::{self, LinkStyle};
use crate::list::ListKnobs;
use crate::scenario::{ApiFault, Estimates, FileFault, FileSpec, Scenario, Validators};
use crate::stats::Stats;
use crate::tasks::Timeline;

/// Task id used when neither the answer nor the scenario names one.
const FALLBACK_TASK_ID: &str = "fake-task-0001";

/// Where the task sits in the final answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `{"code":0,"data":{task}}`.
    Envelope,
    /// The task itself (v3 allows it).
    Bare,
    /// No task at all (an error envelope, say): served as it is.
    Other,
}

impl Shape {
    pub(crate) fn of(answer: &Value) -> Shape {
        if answer.get("data").is_some_and(Value::is_object) {
            Shape::Envelope
        } else if ["output", "status", "task_id"]
            .iter()
            .any(|k| answer.get(k).is_some())
        {
            Shape::Bare
        } else {
            Shape::Other
        }
    }
}

pub(crate) struct Shared {
    pub started: Instant,
    /// The first task request, when phases count from it
    /// ([`crate::Scenario::phases_from_first_request`]).
    first_request: Option<std::sync::OnceLock<Instant>>,
    pub started_unix: SystemTime,
    pub api_key: String,
    /// The scenario's own task.
    pub task_id: String,
    /// `http://127.0.0.2:PORT`.
    pub cdn_base: String,
    /// Every task served, the scenario's own included, by id.
    pub tasks: HashMap<String, Timeline>,
    /// How `POST /v3/tasks/list` answers.
    pub list: ListKnobs,
    pub link_lifetime: Duration,
    pub link_style: LinkStyle,
    pub files: HashMap<String, Content>,
    pub faults: HashMap<String, FileFault>,
    pub throttle: u64,
    pub rate_per_connection: u64,
    pub validators: Validators,
    pub estimates: Estimates,
    state: Mutex<State>,
}

/// One link the API handed out.
pub(crate) struct IssuedLink {
    /// The path it grants (signature covers the path, as on CloudFront).
    pub path: String,
    /// The server's exact expiry, not the rounded one in the link.
    pub expires: Instant,
}

/// Per-file request counters, for the faults.
#[derive(Default)]
pub(crate) struct FileCounters {
    pub requests: u32,
    pub bodies: u32,
    pub pages: u32,
    /// Requests with a `Range` that reached the body (valid link).
    pub ranged: u32,
}

/// One CDN connection as the fake knows it: its number in the stats, and
/// when its pace lets the next byte out.
pub(crate) struct Connection {
    /// Alive while the connection is: a dead one's key may be reused.
    pub alive: std::sync::Weak<tokio::sync::Notify>,
    pub number: u64,
    pub pace: Arc<Mutex<Instant>>,
}

pub(crate) struct State {
    pub api_faults: VecDeque<ApiFault>,
    pub traces: u64,
    pub links: HashMap<String, IssuedLink>,
    pub per_file: HashMap<String, FileCounters>,
    /// Keyed by the address of the connection's abort handle.
    pub connections: HashMap<usize, Connection>,
    pub connections_seen: u64,
    pub stats: Stats,
    rng: u64,
}

impl Shared {
    /// How far into their phases the tasks are: since the start, or since
    /// the first task request.
    pub(crate) fn phase_clock(&self) -> Duration {
        match &self.first_request {
            Some(first) => first.get_or_init(Instant::now).elapsed(),
            None => self.started.elapsed(),
        }
    }

    /// Checks the scenario (panicking with a message naming the mistake) and
    /// lays it out for serving.
    pub(crate) fn new(scenario: Scenario, started: Instant, cdn: SocketAddr) -> Shared {
        let answer = scenario.answer;
        let answer_id = task_of(&answer, Shape::of(&answer))
            .and_then(|task| task.get("task_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let task_id = scenario
            .task_id
            .or(answer_id)
            .unwrap_or_else(|| FALLBACK_TASK_ID.to_owned());
        let own = Timeline::new(task_id.clone(), answer, scenario.phases);
        let mut tasks = HashMap::from([(task_id.clone(), own)]);
        let mut sources = vec![(task_id.clone(), scenario.source.clone())];
        for (id, spec) in scenario.more_tasks {
            assert!(
                !tasks.contains_key(&id),
                "fake-tripo: task `{id}` is served twice: give each task its own id"
            );
            sources.push((id.clone(), spec.source));
            tasks.insert(id.clone(), Timeline::new(id, spec.answer, spec.phases));
        }

        let mut names = BTreeSet::new();
        for (id, source) in &sources {
            let mut own_names = BTreeSet::new();
            if let Some(task) = task_of(&tasks[id].final_answer, tasks[id].shape) {
                cdn_names(task, &mut own_names);
            }
            for name in &own_names {
                assert!(
                    !name.is_empty() && !name.contains(['/', '?', '#', '%', ' ']),
                    "fake-tripo: {source} has `cdn:{name}`: a file name must be one plain path segment"
                );
            }
            names.extend(own_names);
        }
        let mut files: HashMap<String, Content> = names
            .iter()
            .map(|name| (name.clone(), Content::default_for(name)))
            .collect();
        for (name, spec) in scenario.files {
            let Some(slot) = files.get_mut(&name) else {
                panic!(
                    "fake-tripo: content given for file `{name}`, but {} has no `cdn:{name}` (it has {names:?})",
                    scenario.source
                );
            };
            *slot = match spec {
                FileSpec::Bytes(bytes) => Content::Fixed(bytes.into()),
                FileSpec::Size(len) => Content::generated(&name, len),
            };
        }
        for name in scenario.damaged {
            let Some(slot) = files.get_mut(&name) else {
                panic!(
                    "fake-tripo: file `{name}` is to be damaged, but {} has no `cdn:{name}` (it has {names:?})",
                    scenario.source
                );
            };
            *slot = slot.clone().damaged(&name);
        }
        let mut faults = HashMap::new();
        for (name, fault) in scenario.faults {
            assert!(
                files.contains_key(&name),
                "fake-tripo: a fault is set for file `{name}`, but {} has no `cdn:{name}` (it has {names:?})",
                scenario.source
            );
            for (status, _) in &fault.status_first {
                check_status(*status, &format!("the fault for file `{name}`"));
            }
            faults.insert(name, fault);
        }
        for fault in &scenario.api_faults {
            if let ApiFault::Status { status, .. } = fault {
                check_status(*status, "an API fault");
            }
        }

        let own = &tasks[&task_id];
        let success_at = own.final_is_success.then(|| own.end());
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Shared {
            started,
            first_request: scenario
                .phases_from_first_request
                .then(std::sync::OnceLock::new),
            started_unix: SystemTime::now(),
            api_key: scenario.api_key,
            task_id,
            cdn_base: format!("http://{cdn}"),
            tasks,
            list: scenario.list,
            link_lifetime: scenario.link_lifetime,
            link_style: scenario.link_style,
            files,
            faults,
            throttle: scenario.throttle,
            rate_per_connection: scenario.rate_per_connection,
            validators: scenario.validators,
            estimates: scenario.estimates,
            state: Mutex::new(State {
                api_faults: scenario.api_faults.into(),
                traces: 0,
                links: HashMap::new(),
                per_file: HashMap::new(),
                connections: HashMap::new(),
                connections_seen: 0,
                stats: Stats {
                    success_at,
                    ..Stats::default()
                },
                rng: seed,
            }),
        }
    }

    /// The mutable record. A handler that panicked leaves it usable: the
    /// record is plain counters, consistent at every await-free step.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The scenario's own task.
    pub(crate) fn own_task(&self) -> &Timeline {
        &self.tasks[&self.task_id]
    }

    /// The content served for `name`, panicking with the known names if none.
    pub(crate) fn content(&self, name: &str) -> &Content {
        self.files.get(name).unwrap_or_else(|| {
            let mut known: Vec<_> = self.files.keys().collect();
            known.sort();
            panic!("fake-tripo: no file `{name}` in this scenario (files: {known:?})")
        })
    }
}

impl State {
    /// The trace id of the next API answer.
    pub(crate) fn next_trace(&mut self) -> String {
        self.traces += 1;
        format!("trace-{}", self.traces)
    }

    /// A fresh link to file `name` of task `task_id`, valid for `lifetime`
    /// from now (the scenario's, or zero for a link dead on arrival).
    pub(crate) fn sign(
        &mut self,
        shared: &Shared,
        task_id: &str,
        name: &str,
        lifetime: Duration,
    ) -> String {
        let now = SystemTime::now();
        let id = format!("{:016x}{:016x}", self.next_rand(), self.next_rand());
        let path = format!(
            "/tcli_0123456789abcdef0123456789abcdef/{}/{}/{name}",
            links::yyyymmdd(now),
            task_id
        );
        let resource = format!("{}{path}", shared.cdn_base);
        let expires_unix = links::unix_secs_ceil(now + lifetime);
        let rand = self.next_rand();
        let query = links::query(shared.link_style, &id, rand, expires_unix, &resource);
        self.links.insert(
            id,
            IssuedLink {
                path,
                expires: Instant::now() + lifetime,
            },
        );
        format!("{resource}?{query}")
    }

    /// splitmix64: signature ids need to be unguessable only by accident.
    fn next_rand(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub(crate) fn task_of(answer: &Value, shape: Shape) -> Option<&Value> {
    match shape {
        Shape::Envelope => answer.get("data"),
        Shape::Bare => Some(answer),
        Shape::Other => None,
    }
}

pub(crate) fn task_of_mut(answer: &mut Value, shape: Shape) -> Option<&mut Value> {
    match shape {
        Shape::Envelope => answer.get_mut("data"),
        Shape::Bare => Some(answer),
        Shape::Other => None,
    }
}

/// Every `cdn:<name>` string anywhere under `value`.
fn cdn_names(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix("cdn:") {
                names.insert(name.to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|item| cdn_names(item, names)),
        Value::Object(map) => map.values().for_each(|item| cdn_names(item, names)),
        _ => {}
    }
}

fn check_status(status: u16, what: &str) {
    assert!(
        StatusCode::from_u16(status).is_ok(),
        "fake-tripo: {what} uses status {status}, which is not an HTTP status"
    );
}
