//! Everything the bindings ask of the `fetch_assets` library, in one file,
//! turned into plain data (strings, numbers, JSON values) that the rest of
//! the crate hands to Python. The library's API is changing (hints as data,
//! typed roles); when it does, this is the file to follow it.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fetch_assets::{
    ApiVersion, Client, Error, Event, FetchOptions, FileCheck, RoleSelector, Setting, TaskReport,
    Wording,
};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedSender;

/// Why a call failed, as the exceptions carry it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The command's exit code for it (`Error::exit_code`).
    pub exit_code: u8,
    /// The message, hint included (as the command prints it).
    pub message: String,
    /// What to do next, when there is something to say.
    pub hint: Option<String>,
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Failure {
        Failure {
            exit_code: error.exit_code(),
            message: error.to_string(),
            hint: error.hint().map(|hint| hint.to_string()),
        }
    }
}

impl Failure {
    /// A mistake in the arguments (exit code 2).
    pub fn usage(message: String) -> Failure {
        Failure {
            exit_code: 2,
            message,
            hint: None,
        }
    }

    /// A bug (exit code 1).
    pub fn internal(message: &str) -> Failure {
        Failure {
            exit_code: 1,
            message: format!("internal error: {message}"),
            hint: Some("this is a bug; please report it".to_owned()),
        }
    }
}

/// How messages and hints name what a Python caller can change: the
/// keyword arguments of `fetch_assets.Client` and its calls.
pub struct PythonWording;

impl Wording for PythonWording {
    fn setting(&self, setting: Setting) -> &'static str {
        match setting {
            Setting::ApiKey => "api_key=",
            Setting::ApiBase => "api_base=",
            Setting::Timeout => "timeout=",
            Setting::StallTimeout => "stall_timeout=",
            Setting::MaxSize => "max_size=",
            Setting::NoContentCheck => "content_check=False",
            Setting::Force => "force=True",
            Setting::Only => "only=",
            // Settings of the command's `listen`, which Python does not have.
            _ => "the command's options",
        }
    }

    fn run_again(&self) -> &'static str {
        "call fetch again with the same task and folder"
    }

    fn first_fetch(&self) -> &'static str {
        "Client().fetch(task_id, out_dir)"
    }
}

/// Makes every later message use [`PythonWording`] (once per process).
pub fn use_python_wording() {
    fetch_assets::set_wording(PythonWording);
}

/// What a client is made from, kept so a forked child can build its own
/// (the parent's connections belong to the parent's runtime).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub api_key: Option<String>,
    pub api_base: Option<String>,
    /// `"v2"` or `"v3"`; else the base's path decides.
    pub api_version: Option<String>,
}

impl ClientConfig {
    pub fn build(&self) -> Result<Client, Failure> {
        let mut builder = Client::builder();
        if let Some(key) = &self.api_key {
            builder = builder.api_key(key.clone());
        }
        if let Some(base) = &self.api_base {
            builder = builder.api_base(base.clone());
        }
        match self.api_version.as_deref() {
            None => {}
            Some("v2") => builder = builder.api_version(ApiVersion::V2),
            Some("v3") => builder = builder.api_version(ApiVersion::V3),
            Some(other) => {
                return Err(Failure::usage(format!(
                    "api_version '{other}' is not one of 'v2', 'v3'"
                )));
            }
        }
        builder.build().map_err(|e| Failure::from(&e))
    }
}

/// The knobs of `fetch` (and, in part, `fetch_many`), as Python gives them.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    pub only: Option<Vec<String>>,
    pub force: bool,
    pub concurrency: Option<usize>,
    /// Seconds.
    pub timeout: Option<f64>,
    /// Seconds.
    pub stall_timeout: Option<f64>,
    pub max_size: Option<u64>,
    pub content_check: bool,
}

impl Knobs {
    fn options(&self) -> Result<FetchOptions, Failure> {
        let mut options = FetchOptions::default()
            .force(self.force)
            .content_check(self.content_check);
        if let Some(only) = &self.only {
            let selectors = only
                .iter()
                .map(|name| RoleSelector::from_str(name).map_err(Failure::usage))
                .collect::<Result<Vec<_>, _>>()?;
            options = options.only(selectors);
        }
        if let Some(concurrency) = self.concurrency {
            let concurrency = NonZeroUsize::new(concurrency)
                .ok_or_else(|| Failure::usage("concurrency must be at least 1".to_owned()))?;
            options = options.concurrency(concurrency);
        }
        if let Some(timeout) = self.timeout {
            options = options.timeout(seconds(timeout, "timeout")?);
        }
        if let Some(stall) = self.stall_timeout {
            options = options.stall_timeout(seconds(stall, "stall_timeout")?);
        }
        if let Some(max_size) = self.max_size {
            options = options.max_size(max_size);
        }
        Ok(options)
    }
}

fn seconds(value: f64, what: &str) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Failure::usage(format!("{what} must be a number of seconds above 0")))
}

/// One library event as plain data: its kind (the variant's name in
/// snake_case), the task it is about in a run of many, and its fields.
#[derive(Debug, Clone)]
pub struct EventData {
    pub kind: &'static str,
    pub task_id: Option<String>,
    pub fields: Map<String, Value>,
}

/// What a running call sends to whoever waits for it, in order: events and
/// reports as they happen, then its outcome.
#[derive(Debug)]
pub enum Message<T> {
    Event(EventData),
    /// One task of many ended: its `batch --json` line, and its manifest's
    /// JSON when it succeeded.
    Report {
        line: String,
        manifest: Option<String>,
    },
    Done(Result<T, Failure>),
}

/// A fetch's outcome: the manifest's JSON (`Manifest::to_json`, the bytes
/// of manifest.json) and the folder.
#[derive(Debug)]
pub struct Fetched {
    pub manifest_json: String,
    pub dir: PathBuf,
}

/// Starts one fetch on the current runtime; its events (when `events` is
/// true) and then its outcome go to `sender`. Dropping (aborting) the
/// returned task drops the fetch, as Ctrl-C does in the command: what
/// arrived stays in `.fetch-assets/`.
pub fn start_fetch(
    runtime: &Handle,
    client: Client,
    task_id: String,
    dir: PathBuf,
    knobs: &Knobs,
    events: bool,
    sender: UnboundedSender<Message<Fetched>>,
) -> tokio::task::JoinHandle<()> {
    let options = knobs.options().map(|options| {
        if events {
            options.observer(observer(sender.clone()))
        } else {
            options
        }
    });
    runtime.spawn(async move {
        let outcome = match options {
            Ok(options) => client
                .fetch(&task_id, &dir, &options)
                .await
                .map_err(|e| Failure::from(&e))
                .and_then(|manifest| {
                    Ok(Fetched {
                        manifest_json: manifest.to_json().map_err(|e| Failure::from(&e))?,
                        dir,
                    })
                }),
            Err(failure) => Err(failure),
        };
        let _ = sender.send(Message::Done(outcome));
    })
}

/// Starts a batch on the current runtime: events, then each task's report
/// as it ends, then `Done` once every task has.
pub fn start_fetch_many(
    runtime: &Handle,
    client: Client,
    task_ids: Vec<String>,
    out_root: PathBuf,
    knobs: &Knobs,
    events: bool,
    sender: UnboundedSender<Message<()>>,
) -> tokio::task::JoinHandle<()> {
    let options = knobs.options().map(|options| {
        if events {
            options.observer(observer(sender.clone()))
        } else {
            options
        }
    });
    runtime.spawn(async move {
        let options = match options {
            Ok(options) => options,
            Err(failure) => {
                let _ = sender.send(Message::Done(Err(failure)));
                return;
            }
        };
        let mut batch = match client.fetch_many(task_ids, &out_root, &options) {
            Ok(batch) => batch,
            Err(error) => {
                let _ = sender.send(Message::Done(Err(Failure::from(&error))));
                return;
            }
        };
        while let Some(outcome) = batch.next().await {
            let report = TaskReport::new(&outcome.task_id, &outcome.dir, &outcome.result);
            let manifest = outcome.result.ok().and_then(|m| m.to_json().ok());
            let _ = sender.send(Message::Report {
                line: report.to_json_line(),
                manifest,
            });
        }
        let _ = sender.send(Message::Done(Ok(())));
    })
}

/// A folder checked against its manifest: the manifest's JSON, and each
/// file's path, verdict in words (as `fetch-assets verify` prints it), and
/// whether it passed.
#[derive(Debug)]
pub struct Verified {
    pub manifest_json: String,
    pub files: Vec<(String, String, bool)>,
}

/// Any failure is exit code 1, as `fetch-assets verify` answers.
pub async fn verify(dir: PathBuf) -> Result<Verified, Failure> {
    let report = fetch_assets::verify(&dir).await.map_err(|e| Failure {
        exit_code: 1,
        ..Failure::from(&e)
    })?;
    Ok(Verified {
        manifest_json: report.manifest.to_json().map_err(|e| Failure::from(&e))?,
        files: report
            .files
            .iter()
            .map(|(path, check)| (path.clone(), check.to_string(), *check == FileCheck::Ok))
            .collect(),
    })
}

/// The observer that sends every event, as data, to `sender`, naming each
/// file by its name in the folder.
fn observer<T: Send + 'static>(
    sender: UnboundedSender<Message<T>>,
) -> impl Fn(&Event) + Send + Sync + 'static {
    let names = Mutex::new(Names::default());
    move |event: &Event| {
        let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
        let data = names.describe(event, None);
        let _ = sender.send(Message::Event(data));
    }
}

/// The name in the folder of each file the events have named so far, by
/// task (the events name a file by its stem; the name is known from the
/// plan when the link tells the extension, else once the file is complete).
#[derive(Default)]
struct Names {
    by_task: HashMap<Option<Arc<str>>, HashMap<Arc<str>, String>>,
}

impl Names {
    fn describe(&mut self, event: &Event, task: Option<&Arc<str>>) -> EventData {
        if let Event::Task { task_id, event } = event {
            return self.describe(event, Some(task_id));
        }
        let names = self.by_task.entry(task.cloned()).or_default();
        let (kind, fields) = match event {
            Event::FolderBusy { dir } => ("folder_busy", json!({"dir": dir.display().to_string()})),
            Event::FolderNotLocked { dir, cause } => (
                "folder_not_locked",
                json!({"dir": dir.display().to_string(), "cause": cause}),
            ),
            Event::Request { method, url } => ("request", json!({"method": method, "url": url})),
            Event::TaskPolled {
                status,
                progress,
                queue_position,
                estimate,
                trace_id,
            } => (
                "task_polled",
                json!({
                    "status": status.to_string(),
                    "progress": progress,
                    "queue_position": queue_position,
                    "estimate": estimate.map(|d| d.as_secs_f64()),
                    "trace_id": trace_id.as_str(),
                }),
            ),
            Event::ApiRetry {
                retry,
                delay,
                cause,
            } => (
                "api_retry",
                json!({"retry": retry, "delay": delay.as_secs_f64(), "cause": cause}),
            ),
            Event::Planned { files } => {
                for file in files {
                    names.insert(file.file.clone(), file.name.clone());
                }
                let files: Vec<Value> = files
                    .iter()
                    .map(|f| {
                        json!({
                            "role": f.role.name(),
                            "view": f.role.view().map(|v| v.name()),
                            "file": f.name,
                            "stem": &*f.file,
                            "source": f.source,
                        })
                    })
                    .collect();
                ("planned", json!({ "files": files }))
            }
            Event::Kept { files } => ("kept", json!({ "files": files })),
            Event::TransferStarted { file, size, offset } => {
                ("transfer_started", json!({"size": size, "offset": offset})).with_file(names, file)
            }
            Event::TransferProgress {
                file,
                bytes,
                received,
                size,
            } => (
                "transfer_progress",
                json!({ "bytes": bytes, "received": received, "size": size }),
            )
                .with_file(names, file),
            Event::TransferRetry {
                file,
                retry,
                delay,
                cause,
                resume_from,
            } => (
                "transfer_retry",
                json!({
                    "retry": retry,
                    "delay": delay.as_secs_f64(),
                    "cause": cause,
                    "resume_from": resume_from,
                }),
            )
                .with_file(names, file),
            Event::TransferRestarted { file } => {
                ("transfer_restarted", json!({})).with_file(names, file)
            }
            Event::LinkExpired { file, cause } => {
                ("link_expired", json!({ "cause": cause })).with_file(names, file)
            }
            Event::LinksRefreshed { trace_id } => {
                ("links_refreshed", json!({ "trace_id": trace_id.as_str() }))
            }
            Event::FileComplete { file, path, size } => {
                names.insert(file.clone(), path.clone());
                ("file_complete", json!({"path": path, "size": size})).with_file(names, file)
            }
            Event::FileDone {
                file,
                path,
                size,
                sha256,
            } => {
                names.insert(file.clone(), path.clone());
                (
                    "file_done",
                    json!({"path": path, "size": size, "sha256": sha256}),
                )
                    .with_file(names, file)
            }
            Event::Connections { file, connections } => {
                ("connections", json!({ "connections": connections })).with_file(names, file)
            }
            Event::ManifestWritten { path } => (
                "manifest_written",
                json!({ "path": path.display().to_string() }),
            ),
            // A kind this version of the bindings does not know yet.
            other => ("other", json!({ "debug": format!("{other:?}") })),
        };
        EventData {
            kind,
            task_id: task.map(|t| t.to_string()),
            fields: match fields {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

/// Adds `file` (the name in the folder, or the stem while it is not known)
/// and `stem` to an event's fields.
trait WithFile {
    fn with_file(self, names: &HashMap<Arc<str>, String>, stem: &Arc<str>) -> Self;
}

impl WithFile for (&'static str, Value) {
    fn with_file(mut self, names: &HashMap<Arc<str>, String>, stem: &Arc<str>) -> Self {
        if let Value::Object(map) = &mut self.1 {
            let name = names.get(stem).cloned().unwrap_or_else(|| stem.to_string());
            map.insert("file".to_owned(), Value::String(name));
            map.insert("stem".to_owned(), Value::String(stem.to_string()));
        }
        self
    }
}
