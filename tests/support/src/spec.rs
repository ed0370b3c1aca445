//! A scenario written as JSON, and the counters as JSON: how a test in
//! another language (the Python package's pytest suite) drives the fake
//! through `fake-tripo serve`, without Rust.
//!
//! A spec names what [`Scenario`]'s builder methods take, each key optional
//! but the answer:
//!
//! ```json
//! {"fixture": "v2_all_outputs",          // or "answer": {...} (cdn:<name> links)
//!  "task_id": "…", "api_key": "tsk_…",
//!  "phases": [["queued", 0.3], ["running", 1.0]],   // seconds
//!  "phases_from_first_request": true,
//!  "link_lifetime": 300,                  // seconds
//!  "files": {"model.glb": 1048576},       // a size in bytes
//!  "throttle": 8388608,                   // bytes a second, each connection
//!  "damaged": ["model.glb"],
//!  "validators": "both",                  // etag, last_modified, weak_etag, weak_etag_only, none
//!  "faults": {"model.glb": {"refuse_first": 1, "cut_after": 1000, "cut_times": 1,
//!             "stall_after": 10, "status_first": [[503, "1"]], "throttle": 1000,
//!             "refuse_always": false, "error_page_first": 1, "error_page_always": false,
//!             "ignore_range": false}},
//!  "api_faults": ["reset", "server_error", {"status": 429, "body": "…", "retry_after": "1"},
//!                 {"rate_limited": 1}, {"error": [403, 2010, "Not enough credit"]}],
//!  "tasks": {"<id>": {"fixture": "failed", "phases": [["running", 0.5]]}}}
//! ```
//!
//! An unknown key is an error, so a typo in a test does not pass silently.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::scenario::{ApiFault, FileFault, Scenario, Validators};
use crate::stats::Stats;
use crate::tasks::TaskSpec;

const KEYS: [&str; 14] = [
    "fixture",
    "answer",
    "task_id",
    "api_key",
    "phases",
    "phases_from_first_request",
    "link_lifetime",
    "files",
    "throttle",
    "damaged",
    "validators",
    "faults",
    "api_faults",
    "tasks",
];

impl Scenario {
    /// The scenario a JSON spec describes (see the module's docs), or what
    /// is wrong with the spec.
    pub fn from_spec(spec: &Value) -> Result<Scenario, String> {
        let spec = object(spec, "the spec")?;
        if let Some(key) = spec.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key `{key}`; known: {}", KEYS.join(", ")));
        }
        let mut scenario = match (spec.get("fixture"), spec.get("answer")) {
            (Some(fixture), None) => Scenario::new(string(fixture, "fixture")?),
            (None, Some(answer)) => Scenario::from_json(answer.clone()),
            _ => return Err("give exactly one of `fixture` and `answer`".to_owned()),
        };
        if let Some(id) = spec.get("task_id") {
            scenario = scenario.task_id(string(id, "task_id")?);
        }
        if let Some(key) = spec.get("api_key") {
            scenario = scenario.api_key(string(key, "api_key")?);
        }
        for (status, duration) in phases(spec.get("phases"))? {
            scenario = scenario.phase(&status, duration);
        }
        if flag(
            spec.get("phases_from_first_request"),
            "phases_from_first_request",
        )? {
            scenario = scenario.phases_from_first_request();
        }
        if let Some(lifetime) = spec.get("link_lifetime") {
            scenario = scenario.link_lifetime(seconds(lifetime, "link_lifetime")?);
        }
        if let Some(files) = spec.get("files") {
            for (name, size) in object(files, "files")? {
                let size = number(size, &format!("files.{name}"))?;
                let size = usize::try_from(size).map_err(|_| format!("files.{name}: too large"))?;
                scenario = scenario.file_size(name, size);
            }
        }
        if let Some(rate) = spec.get("throttle") {
            scenario = scenario.throttle(number(rate, "throttle")?);
        }
        if let Some(damaged) = spec.get("damaged") {
            for name in array(damaged, "damaged")? {
                scenario = scenario.damaged(string(name, "damaged[]")?);
            }
        }
        if let Some(validators) = spec.get("validators") {
            scenario = scenario.validators(validators_of(string(validators, "validators")?)?);
        }
        if let Some(faults) = spec.get("faults") {
            for (name, fault) in object(faults, "faults")? {
                scenario = scenario.fault(name, file_fault(fault, name)?);
            }
        }
        if let Some(faults) = spec.get("api_faults") {
            for fault in array(faults, "api_faults")? {
                scenario = scenario.api_fault(api_fault(fault)?);
            }
        }
        if let Some(tasks) = spec.get("tasks") {
            for (id, task) in object(tasks, "tasks")? {
                scenario = scenario.task(id, task_spec(task, id)?);
            }
        }
        Ok(scenario)
    }
}

impl Stats {
    /// The counters as one JSON object: the fields of [`Stats`], durations
    /// in seconds (what `fake-tripo serve` prints when asked for `stats`).
    pub fn to_json(&self) -> Value {
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        json!({
            "task_requests": self.task_requests,
            "list_requests": self.list_requests,
            "api_requests": self.api_requests.iter().map(|r| json!({
                "path": r.path,
                "had_valid_key": r.had_valid_key,
                "status": r.status,
                "at": r.at.as_secs_f64(),
                "final_answer": r.final_answer,
                "task_ids": r.task_ids,
            })).collect::<Vec<_>>(),
            "cdn_requests": self.cdn_requests.iter().map(|r| json!({
                "file": r.file,
                "task_id": r.task_id,
                "range": r.range,
                "if_range": r.if_range,
                "version": r.version,
                "status": r.status,
                "body_bytes_sent": r.body_bytes_sent,
                "had_authorization": r.had_authorization,
                "had_api_key": r.had_api_key,
                "at": r.at.as_secs_f64(),
            })).collect::<Vec<_>>(),
            "success_at": secs(self.success_at),
            "first_success_served_at": secs(self.first_success_served_at),
        })
    }
}

fn file_fault(spec: &Value, name: &str) -> Result<FileFault, String> {
    let at = |key: &str| format!("faults.{name}.{key}");
    let mut fault = FileFault::default();
    for (key, value) in object(spec, &format!("faults.{name}"))? {
        match key.as_str() {
            "refuse_first" => fault.refuse_first = small(value, &at(key))?,
            "refuse_always" => fault.refuse_always = flag(Some(value), &at(key))?,
            "status_first" => {
                for pair in array(value, &at(key))? {
                    let pair = array(pair, &at(key))?;
                    let (Some(status), retry_after) = (pair.first(), pair.get(1)) else {
                        return Err(format!("{}: [status, retry_after or null]", at(key)));
                    };
                    let status = u16::try_from(number(status, &at(key))?)
                        .map_err(|_| format!("{}: not a status", at(key)))?;
                    let retry_after = match retry_after {
                        None | Some(Value::Null) => None,
                        Some(text) => Some(string(text, &at(key))?.to_owned()),
                    };
                    fault.status_first.push((status, retry_after));
                }
            }
            "cut_after" => fault.cut_after = Some(number(value, &at(key))?),
            "cut_times" => fault.cut_times = small(value, &at(key))?,
            "stall_after" => fault.stall_after = Some(number(value, &at(key))?),
            "ignore_range" => fault.ignore_range = flag(Some(value), &at(key))?,
            "throttle" => fault.throttle = Some(number(value, &at(key))?),
            "error_page_first" => fault.error_page_first = small(value, &at(key))?,
            "error_page_always" => fault.error_page_always = flag(Some(value), &at(key))?,
            "new_version_after" => fault.new_version_after = Some(small(value, &at(key))?),
            "ignore_if_range" => fault.ignore_if_range = flag(Some(value), &at(key))?,
            _ => return Err(format!("{}: unknown fault", at(key))),
        }
    }
    Ok(fault)
}

fn api_fault(spec: &Value) -> Result<ApiFault, String> {
    match spec {
        Value::String(name) if name == "reset" => return Ok(ApiFault::Reset),
        Value::String(name) if name == "server_error" => return Ok(ApiFault::server_error()),
        Value::String(name) if name == "html_502" => return Ok(ApiFault::html_502()),
        _ => {}
    }
    let fault = object(spec, "api_faults[]")?;
    if let Some(secs) = fault.get("rate_limited") {
        return Ok(ApiFault::rate_limited(number(secs, "rate_limited")?));
    }
    if let Some(error) = fault.get("error") {
        let parts = array(error, "error")?;
        let [status, code, message] = parts.as_slice() else {
            return Err("error: [status, code, message]".to_owned());
        };
        let status = u16::try_from(number(status, "error")?).map_err(|_| "error: status")?;
        let code = code.as_i64().ok_or("error: code")?;
        return Ok(ApiFault::error(status, code, string(message, "error")?));
    }
    let status = fault.get("status").ok_or("api_faults[]: no status")?;
    Ok(ApiFault::Status {
        status: u16::try_from(number(status, "status")?).map_err(|_| "status")?,
        body: fault
            .get("body")
            .map(|b| string(b, "body").map(str::to_owned))
            .transpose()?
            .unwrap_or_default(),
        retry_after: fault
            .get("retry_after")
            .map(|r| string(r, "retry_after").map(str::to_owned))
            .transpose()?,
    })
}

fn task_spec(spec: &Value, id: &str) -> Result<TaskSpec, String> {
    let fields = object(spec, &format!("tasks.{id}"))?;
    let mut task = match (fields.get("fixture"), fields.get("answer")) {
        (Some(fixture), None) => TaskSpec::new(string(fixture, "fixture")?),
        (None, Some(answer)) => TaskSpec::from_json(answer.clone()),
        _ => return Err(format!("tasks.{id}: give one of `fixture` and `answer`")),
    };
    for (status, duration) in phases(fields.get("phases"))? {
        task = task.phase(&status, duration);
    }
    Ok(task)
}

fn validators_of(name: &str) -> Result<Validators, String> {
    Ok(match name {
        "both" => Validators::Both,
        "etag" => Validators::ETag,
        "last_modified" => Validators::LastModified,
        "weak_etag" => Validators::WeakETag,
        "weak_etag_only" => Validators::WeakETagOnly,
        "none" => Validators::None,
        other => return Err(format!("validators: unknown `{other}`")),
    })
}

fn phases(spec: Option<&Value>) -> Result<Vec<(String, Duration)>, String> {
    let Some(spec) = spec else {
        return Ok(Vec::new());
    };
    array(spec, "phases")?
        .iter()
        .map(|phase| match array(phase, "phases[]")?.as_slice() {
            [status, secs] => Ok((
                string(status, "phases[]")?.to_owned(),
                seconds(secs, "phases[]")?,
            )),
            _ => Err("phases[]: [status, seconds]".to_owned()),
        })
        .collect()
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what}: not an object"))
}

fn array<'a>(value: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{what}: not an array"))
}

fn string<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what}: not a string"))
}

fn number(value: &Value, what: &str) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("{what}: not a whole number ≥ 0"))
}

fn small(value: &Value, what: &str) -> Result<u32, String> {
    u32::try_from(number(value, what)?).map_err(|_| format!("{what}: too large"))
}

fn seconds(value: &Value, what: &str) -> Result<Duration, String> {
    value
        .as_f64()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{what}: not a number of seconds ≥ 0"))
}

fn flag(value: Option<&Value>, what: &str) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some(value) => value
            .as_bool()
            .ok_or_else(|| format!("{what}: not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_sets_what_it_names() {
        let spec = json!({
            "fixture": "v3_model_pbr_same",
            "files": {"model.glb": 1000},
            "faults": {"model.glb": {"refuse_first": 2, "status_first": [[503, "1"]]}},
            "api_faults": ["reset", {"rate_limited": 1}],
            "phases": [["running", 0.5]],
        });
        let scenario = Scenario::from_spec(&spec).expect("a valid spec");
        assert_eq!(scenario.faults[0].1.refuse_first, 2);
        assert_eq!(
            scenario.faults[0].1.status_first,
            [(503, Some("1".to_owned()))]
        );
        assert_eq!(scenario.api_faults.len(), 2);
        assert_eq!(
            scenario.phases,
            [("running".to_owned(), Duration::from_millis(500))]
        );
    }

    #[test]
    fn a_typo_is_an_error() {
        let error = Scenario::from_spec(&json!({"fixture": "v3_bare_task", "fautls": {}}))
            .expect_err("an unknown key");
        assert!(error.contains("fautls"), "{error}");
        let error = Scenario::from_spec(&json!({
            "fixture": "v3_bare_task",
            "faults": {"model.glb": {"refuse": 1}},
        }))
        .expect_err("an unknown fault");
        assert!(error.contains("faults.model.glb.refuse"), "{error}");
    }
}
