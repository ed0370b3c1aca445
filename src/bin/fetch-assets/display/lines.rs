//! Every line the displays print, in words: an event of a single fetch, of
//! one task of a batch, or of `listen`, turned into the line(s) it says (or
//! none) at the level of detail asked for; and the lines that end a run.
//! Pure text in, text out: where a line goes (above the bars, into a log,
//! into a spinner) is the display's business, what it says is decided here
//! only, so a single fetch and a batch word the same event the same way.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fetch_assets::TaskReport;
use fetch_assets::TraceId;
use fetch_assets::listen::ListenEvent;
use fetch_assets::{Event, MANIFEST_FILE, Manifest, TaskStatus};
use indicatif::HumanBytes;

use super::fit::{self, short};

/// How much is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only what went wrong for good (`--quiet`).
    Quiet,
    /// What a reader should remember.
    Normal,
    /// Also every step (`-v`).
    Verbose,
}

impl Level {
    /// The level `--quiet` and `-v` ask for (they conflict).
    pub fn of(quiet: bool, verbose: bool) -> Level {
        match (quiet, verbose) {
            (true, _) => Level::Quiet,
            (false, true) => Level::Verbose,
            (false, false) => Level::Normal,
        }
    }
}

/// Whose events are worded.
#[derive(Debug, Clone, Copy)]
pub enum Voice<'a> {
    /// A single fetch. `waited`: how long the task was waited for, or
    /// `None` when it had succeeded before the run.
    Fetch { waited: Option<Duration> },
    /// One task of a batch: its lines start with its id.
    Task(&'a str),
    /// The batch itself: its list requests. (Its tasks' events are worded
    /// in their own [`Voice::Task`].)
    Batch,
}

/// What a line is, for the sign a terminal shows before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Anything else.
    Plain,
    /// A file (or a task) is complete.
    Done,
    /// Something failed and is being retried or refreshed.
    Recovery,
    /// Something failed for good.
    Failed,
}

impl Mark {
    /// The sign before the line on a terminal: coloured, two columns.
    pub fn sign(self) -> &'static str {
        match self {
            Mark::Plain => "  ",
            Mark::Done => "\x1b[32m✓\x1b[0m ",
            Mark::Recovery => "\x1b[33m↻\x1b[0m ",
            Mark::Failed => "\x1b[31m✗\x1b[0m ",
        }
    }
}

/// One line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    pub text: String,
}

impl Line {
    fn new(mark: Mark, text: impl Into<String>) -> Line {
        Line {
            mark,
            text: text.into(),
        }
    }
}

/// What an event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// A line.
    Line(Line),
    /// What is being waited for now: a single fetch shows it in its spinner
    /// (counting `left` down), a log and a batch print it when it changed.
    /// `detail` is printed after it on a line only.
    Status {
        head: String,
        left: Option<Duration>,
        detail: String,
    },
}

/// What the wording needs besides the event.
pub struct Context<'a> {
    pub voice: Voice<'a>,
    pub level: Level,
    /// A file's name in the folder (`multiview_0_front.png`), from the name
    /// events give it (`multiview_0_front`).
    pub name: &'a dyn Fn(&Arc<str>) -> Arc<str>,
}

/// The lines `event` says in `cx`, in order; none for events that only move
/// bars, or that the level hides.
pub fn said(event: &Event, cx: &Context) -> Vec<Said> {
    if cx.level == Level::Quiet {
        return Vec::new();
    }
    let verbose = cx.level == Level::Verbose;
    let line = |mark, text: String| vec![Said::Line(Line::new(mark, text))];
    let detail = |text: String| match verbose {
        true => line(Mark::Plain, text),
        false => Vec::new(),
    };
    // What starts a task's line in a batch: `<task_id>: `.
    let task = match cx.voice {
        Voice::Task(task_id) => format!("{task_id}: "),
        Voice::Fetch { .. } | Voice::Batch => String::new(),
    };
    // A single fetch names the API's trace ids with `-v`.
    let trace = |id: &TraceId| match (cx.voice, verbose, id.as_str()) {
        (Voice::Fetch { .. }, true, Some(id)) => format!(" (trace id {id})"),
        _ => String::new(),
    };
    match (cx.voice, event) {
        (
            Voice::Batch,
            Event::ApiRetry {
                retry,
                delay,
                cause,
            },
        ) => line(
            Mark::Recovery,
            format!(
                "task list request failed: {cause}; retry {retry} in {}",
                short(*delay)
            ),
        ),
        (Voice::Batch, _) => Vec::new(),
        (Voice::Fetch { .. }, Event::FolderBusy { dir }) => vec![Said::Status {
            head: busy(dir),
            left: None,
            detail: String::new(),
        }],
        (Voice::Task(_), Event::FolderBusy { dir }) => {
            line(Mark::Plain, format!("{task}{}", busy(dir)))
        }
        (Voice::Fetch { .. }, Event::FolderNotLocked { dir, cause }) => line(
            Mark::Recovery,
            format!(
                "warning: could not lock {} ({cause}); going on without the lock, so a second run into it would not wait for this one",
                dir.display()
            ),
        ),
        // The next event (Planned or Kept) says it, with what follows.
        (
            Voice::Fetch { .. },
            Event::TaskPolled {
                status: TaskStatus::Success,
                trace_id,
                ..
            },
        ) => detail(format!("task succeeded{}", trace(trace_id))),
        (
            Voice::Fetch { .. },
            Event::TaskPolled {
                status,
                progress,
                queue_position,
                estimate,
                trace_id,
            },
        ) => {
            let mut head = format!("task {status}");
            match (status, queue_position, progress) {
                (TaskStatus::Queued, Some(position), _) => {
                    let _ = write!(head, ", position {position} in the queue");
                }
                (TaskStatus::Running, _, Some(progress)) => {
                    let _ = write!(head, ", {progress}%");
                }
                _ => {}
            }
            vec![Said::Status {
                head,
                left: estimate.filter(|e| !e.is_zero()),
                detail: trace(trace_id),
            }]
        }
        (
            Voice::Task(_),
            Event::TaskPolled {
                status, progress, ..
            },
        ) => {
            if *status == TaskStatus::Success || !verbose {
                return Vec::new();
            }
            let head = match progress {
                Some(p) if *status == TaskStatus::Running => format!("{task}{status}, {p}%"),
                _ => format!("{task}{status}"),
            };
            vec![Said::Status {
                head,
                left: None,
                detail: String::new(),
            }]
        }
        (
            _,
            Event::ApiRetry {
                retry,
                delay,
                cause,
            },
        ) => line(
            Mark::Recovery,
            format!(
                "{task}task request failed: {cause}; retry {retry} in {}",
                short(*delay)
            ),
        ),
        (Voice::Fetch { waited }, Event::Planned { files }) => {
            let when = match waited {
                Some(waited) => format!("task succeeded after {}", short(waited)),
                None => "the task had already succeeded".to_owned(),
            };
            let mut said = line(
                Mark::Plain,
                format!("{when}; downloading {}", self::files(files.len())),
            );
            for file in files {
                said.extend(detail(format!("  {} <- {}", file.name, file.source)));
            }
            said
        }
        (Voice::Task(_), Event::Planned { files }) => line(
            Mark::Plain,
            format!("{task}succeeded; downloading {}", self::files(files.len())),
        ),
        (Voice::Fetch { .. }, Event::Kept { files }) => line(
            Mark::Plain,
            format!(
                "kept {} already complete and verified: {}",
                self::files(files.len()),
                files.join(", ")
            ),
        ),
        (Voice::Task(_), Event::Kept { files }) => detail(format!(
            "{task}kept {} already complete",
            self::files(files.len())
        )),
        (Voice::Fetch { .. }, Event::TransferStarted { file, size, offset }) => detail(format!(
            "{}: receiving from byte {offset} ({})",
            (cx.name)(file),
            size.map_or("size unknown".into(), |s| HumanBytes(s).to_string())
        )),
        (_, Event::Connections { file, connections }) => detail(format!(
            "{task}{}: arrived in parts over {connections} connections",
            (cx.name)(file)
        )),
        (
            _,
            Event::TransferRetry {
                file,
                retry,
                delay,
                cause,
                resume_from,
            },
        ) => line(
            Mark::Recovery,
            format!(
                "{task}{}: {}",
                (cx.name)(file),
                retry_words(cause, *retry, *delay, *resume_from)
            ),
        ),
        (_, Event::TransferRestarted { file }) => line(
            Mark::Recovery,
            format!(
                "{task}{}: the server ignored the resume request; starting over",
                (cx.name)(file)
            ),
        ),
        (_, Event::LinkExpired { file, cause }) => line(
            Mark::Recovery,
            format!("{task}{}: {cause}; getting fresh links", (cx.name)(file)),
        ),
        (_, Event::LinksRefreshed { trace_id }) => line(
            Mark::Recovery,
            format!("{task}links refreshed{}", trace(trace_id)),
        ),
        (Voice::Fetch { .. }, Event::FileComplete { path, .. }) => {
            detail(format!("{path}: received and checked"))
        }
        (
            Voice::Fetch { .. },
            Event::FileDone {
                path, size, sha256, ..
            },
        ) => {
            let hash = match verbose {
                true => format!(", sha256 {sha256}"),
                false => String::new(),
            };
            line(
                Mark::Done,
                format!("{path}: done, {}{hash}", HumanBytes(*size)),
            )
        }
        (Voice::Task(task_id), Event::FileDone { path, size, .. }) if verbose => line(
            Mark::Done,
            format!("{task_id}/{path}: done, {}", HumanBytes(*size)),
        ),
        (Voice::Fetch { .. }, Event::Request { method, url }) => detail(format!("{method} {url}")),
        (Voice::Fetch { .. }, Event::ManifestWritten { path }) => {
            detail(format!("wrote {}", path.display()))
        }
        _ => Vec::new(),
    }
}

/// `waiting for another fetch-assets run to finish with <dir>`.
fn busy(dir: &Path) -> String {
    format!(
        "waiting for another fetch-assets run to finish with {}",
        dir.display()
    )
}

/// What a retry line says after the file's name: `the connection broke at
/// byte 3000000; retry 1 in 0.2s`, and where the transfer resumes when the
/// cause does not already say it.
fn retry_words(cause: &str, retry: u32, delay: Duration, resume_from: u64) -> String {
    let mut words = format!("{cause}; retry {retry} in {}", short(delay));
    if resume_from > 0 && !cause.ends_with(&format!(" byte {resume_from}")) {
        let _ = write!(words, " from byte {resume_from}");
    }
    words
}

/// `, about 12s left`, or nothing without an estimate.
pub fn about(left: Option<Duration>) -> String {
    left.map_or(String::new(), |left| {
        format!(", about {} left", short(left))
    })
}

/// A log's progress line for a transfer (or a task): `model.glb:
/// 12.0/40.0 MiB (30%), 2.1 MiB/s`.
pub fn progress(name: &str, done: u64, total: Option<u64>, rate: f64) -> String {
    let percent = match fit::percent(done, total) {
        p if p.is_empty() => String::new(),
        p => format!(" ({p})"),
    };
    format!(
        "{name}: {}{percent}, {}",
        fit::amount(done, total),
        fit::rate(rate)
    )
}

/// The end of a single fetch that succeeded: `done: 9 files, 3.00 MiB in
/// 1.2s; manifest: out/manifest.json`.
pub fn fetched(manifest: &Manifest, dir: &Path, took: Duration) -> String {
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    format!(
        "done: {}, {} in {}; manifest: {}",
        files(manifest.files.len()),
        HumanBytes(bytes),
        short(took),
        dir.join(MANIFEST_FILE).display()
    )
}

/// A task of a batch ended: its line, if `level` shows it (a failure always).
pub fn task_ended(report: &TaskReport, level: Level) -> Option<Line> {
    match &report.error {
        None if level == Level::Quiet => None,
        None => Some(Line::new(
            Mark::Done,
            format!(
                "{}: done, {}, {}",
                report.task_id,
                files(report.files),
                HumanBytes(report.bytes)
            ),
        )),
        Some(error) => Some(Line::new(
            Mark::Failed,
            format!(
                "{}: failed (exit code {}): {error}",
                report.task_id, report.exit_code
            ),
        )),
    }
}

/// How a batch's tasks ended, and what they brought.
pub struct BatchEnd {
    pub tasks: usize,
    pub ok: usize,
    pub failed: usize,
    pub files: usize,
    pub bytes: u64,
    pub took: Duration,
}

/// The end of a batch: `batch: 2 of 3 tasks ok, 1 failed; 18 files, 6.00
/// MiB in 3.4s`.
pub fn batch_ended(end: &BatchEnd) -> String {
    let not_done = end.tasks.saturating_sub(end.ok + end.failed);
    let mut text = format!("batch: {} of {} tasks ok", end.ok, end.tasks);
    if end.failed > 0 {
        let _ = write!(text, ", {} failed", end.failed);
    }
    if not_done > 0 {
        let _ = write!(text, ", {not_done} not done");
    }
    let _ = write!(
        text,
        "; {}, {} in {}",
        files(end.files),
        HumanBytes(end.bytes),
        short(end.took)
    );
    text
}

/// What `listen` says of `event` at `level`: the address, each finished
/// task, each refused or repeated delivery. Trouble shows even at
/// [`Level::Quiet`].
pub fn listen(event: &ListenEvent, level: Level) -> Option<Line> {
    use Level::{Normal, Quiet, Verbose};
    use Mark::{Failed, Plain};
    let (text, shown_from, mark) = match event {
        ListenEvent::Listening {
            addr,
            journal,
            resumed,
        } => (
            format!(
                "listening on http://{addr} (journal {}{})",
                journal.display(),
                match resumed {
                    0 => String::new(),
                    n => format!("; resuming {n} deliveries acknowledged before"),
                }
            ),
            Quiet,
            Plain,
        ),
        ListenEvent::Resumed { task_id, .. } => (
            format!("{task_id}: resuming (fresh links from the API)"),
            Normal,
            Plain,
        ),
        ListenEvent::Accepted {
            delivery,
            task_id,
            event_type,
        } => (
            format!("{task_id}: {event_type} accepted (delivery {delivery})"),
            Verbose,
            Plain,
        ),
        ListenEvent::Duplicate {
            delivery,
            task_id,
            why,
        } => (
            format!("{task_id}: delivery {delivery} acknowledged, not fetched again: {why}"),
            Normal,
            Plain,
        ),
        ListenEvent::Ignored {
            delivery,
            event_type,
        } => (
            format!("{event_type} acknowledged (delivery {delivery}); nothing to fetch"),
            Normal,
            Plain,
        ),
        ListenEvent::Rejected { status, reason } => (
            format!("refused a delivery with {status}: {reason}"),
            Quiet,
            Failed,
        ),
        ListenEvent::JournalFailed { error } => (
            format!(
                "could not journal a delivery (answered 500; the service will send it again): {error}"
            ),
            Quiet,
            Failed,
        ),
        ListenEvent::Finished(report) if report.is_ok() => (report.to_string(), Normal, Mark::Done),
        ListenEvent::Finished(report) => (report.to_string(), Quiet, Failed),
        _ => return None,
    };
    (level >= shown_from).then(|| Line::new(mark, text))
}

/// `"1 file"`, `"9 files"`.
pub fn files(n: usize) -> String {
    match n {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use fetch_assets::{Error, PlannedFile};

    use super::*;

    const SECS: fn(u64) -> Duration = Duration::from_secs;

    /// What `said` gives, one string each: `plain: text`, `status: head |
    /// left | detail`.
    fn rendered(said: Vec<Said>) -> Vec<String> {
        said.into_iter()
            .map(|said| match said {
                Said::Line(Line { mark, text }) => {
                    let mark = match mark {
                        Mark::Plain => "plain",
                        Mark::Done => "done",
                        Mark::Recovery => "recovery",
                        Mark::Failed => "failed",
                    };
                    format!("{mark}: {text}")
                }
                Said::Status { head, left, detail } => {
                    format!("status: {head} | {left:?} | {detail}")
                }
            })
            .collect()
    }

    /// The lines of `event` in `voice` at `level`; files named as in the folder.
    fn say(event: &Event, voice: Voice, level: Level) -> Vec<String> {
        let name = |file: &Arc<str>| Arc::from(format!("{file}.png"));
        rendered(said(
            event,
            &Context {
                voice,
                level,
                name: &name,
            },
        ))
    }

    fn file(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn events_read_the_same_in_every_voice_that_says_them() {
        use Level::{Normal, Quiet, Verbose};
        let fetch = Voice::Fetch {
            waited: Some(SECS(12)),
        };
        let task = Voice::Task("t1");
        let retry = Event::TransferRetry {
            file: file("multiview_0_front"),
            retry: 2,
            delay: Duration::from_millis(200),
            cause: "the connection broke".into(),
            resume_from: 3000,
        };
        let retry_at_the_byte_said = Event::TransferRetry {
            file: file("model"),
            retry: 1,
            delay: SECS(1),
            cause: "the connection broke at byte 3000".into(),
            resume_from: 3000,
        };
        let api_retry = Event::ApiRetry {
            retry: 1,
            delay: SECS(2),
            cause: "the API answered 503".into(),
        };
        let polled = |status, progress, queue_position, trace: Option<&str>| Event::TaskPolled {
            status,
            progress,
            queue_position,
            estimate: Some(SECS(12)),
            trace_id: TraceId(trace.map(str::to_owned)),
        };
        let planned = Event::Planned {
            files: vec![PlannedFile {
                role: fetch_assets::OutputRole::Model,
                file: file("model"),
                name: "model.glb".into(),
                source: "https://cdn.example/model.glb".into(),
            }],
        };
        let done = Event::FileDone {
            file: file("model"),
            path: "model.glb".into(),
            size: 2048,
            sha256: "ab12".into(),
        };
        let busy = Event::FolderBusy {
            dir: PathBuf::from("out"),
        };
        let cases: Vec<(Event, Voice, Level, Vec<&str>)> = vec![
            // Recoveries: the same words, a batch's after the task's id.
            (
                retry.clone(),
                fetch,
                Normal,
                vec![
                    "recovery: multiview_0_front.png: the connection broke; retry 2 in 0.2s from byte 3000",
                ],
            ),
            (
                retry.clone(),
                task,
                Normal,
                vec![
                    "recovery: t1: multiview_0_front.png: the connection broke; retry 2 in 0.2s from byte 3000",
                ],
            ),
            (
                retry_at_the_byte_said.clone(),
                fetch,
                Normal,
                vec!["recovery: model.png: the connection broke at byte 3000; retry 1 in 1s"],
            ),
            (retry.clone(), task, Quiet, vec![]),
            (retry.clone(), fetch, Quiet, vec![]),
            (
                Event::TransferRestarted {
                    file: file("model"),
                },
                task,
                Normal,
                vec![
                    "recovery: t1: model.png: the server ignored the resume request; starting over",
                ],
            ),
            (
                Event::LinkExpired {
                    file: file("model"),
                    cause: "the CDN answered 403".into(),
                },
                fetch,
                Normal,
                vec!["recovery: model.png: the CDN answered 403; getting fresh links"],
            ),
            (
                api_retry.clone(),
                fetch,
                Normal,
                vec!["recovery: task request failed: the API answered 503; retry 1 in 2s"],
            ),
            (
                api_retry.clone(),
                task,
                Normal,
                vec!["recovery: t1: task request failed: the API answered 503; retry 1 in 2s"],
            ),
            (
                api_retry.clone(),
                Voice::Batch,
                Normal,
                vec!["recovery: task list request failed: the API answered 503; retry 1 in 2s"],
            ),
            (api_retry.clone(), Voice::Batch, Quiet, vec![]),
            // Trace ids: a single fetch's, with -v only.
            (
                Event::LinksRefreshed {
                    trace_id: TraceId(Some("tr-1".into())),
                },
                fetch,
                Verbose,
                vec!["recovery: links refreshed (trace id tr-1)"],
            ),
            (
                Event::LinksRefreshed {
                    trace_id: TraceId(Some("tr-1".into())),
                },
                fetch,
                Normal,
                vec!["recovery: links refreshed"],
            ),
            (
                Event::LinksRefreshed {
                    trace_id: TraceId(Some("tr-1".into())),
                },
                task,
                Verbose,
                vec!["recovery: t1: links refreshed"],
            ),
            // Waiting: a status, which a batch shows with -v only and without the estimate.
            (
                polled(TaskStatus::Queued, None, Some(3), None),
                fetch,
                Normal,
                vec!["status: task queued, position 3 in the queue | Some(12s) | "],
            ),
            (
                polled(TaskStatus::Running, Some(40), None, Some("tr-2")),
                fetch,
                Verbose,
                vec!["status: task running, 40% | Some(12s) |  (trace id tr-2)"],
            ),
            (
                polled(TaskStatus::Running, Some(40), None, None),
                task,
                Verbose,
                vec!["status: t1: running, 40% | None | "],
            ),
            (
                polled(TaskStatus::Queued, None, Some(3), None),
                task,
                Verbose,
                vec!["status: t1: queued | None | "],
            ),
            (
                polled(TaskStatus::Running, Some(40), None, None),
                task,
                Normal,
                vec![],
            ),
            (
                polled(TaskStatus::Success, Some(100), None, Some("tr-3")),
                fetch,
                Verbose,
                vec!["plain: task succeeded (trace id tr-3)"],
            ),
            (
                polled(TaskStatus::Success, Some(100), None, None),
                fetch,
                Normal,
                vec![],
            ),
            (
                polled(TaskStatus::Success, Some(100), None, None),
                task,
                Verbose,
                vec![],
            ),
            (
                busy.clone(),
                fetch,
                Normal,
                vec!["status: waiting for another fetch-assets run to finish with out | None | "],
            ),
            (
                busy.clone(),
                task,
                Normal,
                vec!["plain: t1: waiting for another fetch-assets run to finish with out"],
            ),
            // The plan: how long it was waited for, and each link with -v.
            (
                planned.clone(),
                fetch,
                Normal,
                vec!["plain: task succeeded after 12s; downloading 1 file"],
            ),
            (
                planned.clone(),
                Voice::Fetch { waited: None },
                Verbose,
                vec![
                    "plain: the task had already succeeded; downloading 1 file",
                    "plain:   model.glb <- https://cdn.example/model.glb",
                ],
            ),
            (
                planned.clone(),
                task,
                Normal,
                vec!["plain: t1: succeeded; downloading 1 file"],
            ),
            (
                Event::Kept {
                    files: vec!["model.glb".into(), "a.png".into()],
                },
                fetch,
                Normal,
                vec!["plain: kept 2 files already complete and verified: model.glb, a.png"],
            ),
            (
                Event::Kept {
                    files: vec!["model.glb".into()],
                },
                task,
                Verbose,
                vec!["plain: t1: kept 1 file already complete"],
            ),
            (
                Event::Kept {
                    files: vec!["model.glb".into()],
                },
                task,
                Normal,
                vec![],
            ),
            // Files: done for all; the hash with -v; a batch's with -v only.
            (
                done.clone(),
                fetch,
                Normal,
                vec!["done: model.glb: done, 2.00 KiB"],
            ),
            (
                done.clone(),
                fetch,
                Verbose,
                vec!["done: model.glb: done, 2.00 KiB, sha256 ab12"],
            ),
            (
                done.clone(),
                task,
                Verbose,
                vec!["done: t1/model.glb: done, 2.00 KiB"],
            ),
            (done.clone(), task, Normal, vec![]),
            (
                Event::TransferStarted {
                    file: file("model"),
                    size: Some(2048),
                    offset: 10,
                },
                fetch,
                Verbose,
                vec!["plain: model.png: receiving from byte 10 (2.00 KiB)"],
            ),
            // Parts at once: how many connections, with -v only.
            (
                Event::Connections {
                    file: file("model"),
                    connections: 6,
                },
                fetch,
                Verbose,
                vec!["plain: model.png: arrived in parts over 6 connections"],
            ),
            (
                Event::Connections {
                    file: file("model"),
                    connections: 6,
                },
                task,
                Verbose,
                vec!["plain: t1: model.png: arrived in parts over 6 connections"],
            ),
            (
                Event::Connections {
                    file: file("model"),
                    connections: 6,
                },
                fetch,
                Normal,
                vec![],
            ),
            (
                Event::TransferStarted {
                    file: file("model"),
                    size: None,
                    offset: 0,
                },
                fetch,
                Verbose,
                vec!["plain: model.png: receiving from byte 0 (size unknown)"],
            ),
            (
                Event::TransferStarted {
                    file: file("model"),
                    size: None,
                    offset: 0,
                },
                fetch,
                Normal,
                vec![],
            ),
            (
                Event::TransferProgress {
                    file: file("model"),
                    bytes: 10,
                    received: 10,
                    size: None,
                },
                fetch,
                Verbose,
                vec![],
            ),
            (
                Event::FileComplete {
                    file: file("model"),
                    path: "model.glb".into(),
                    size: 1,
                },
                fetch,
                Verbose,
                vec!["plain: model.glb: received and checked"],
            ),
            (
                Event::Request {
                    method: "GET".into(),
                    url: "https://api.example/task".into(),
                },
                fetch,
                Verbose,
                vec!["plain: GET https://api.example/task"],
            ),
            (
                Event::Request {
                    method: "GET".into(),
                    url: "https://api.example/task".into(),
                },
                task,
                Verbose,
                vec![],
            ),
            (
                Event::ManifestWritten {
                    path: PathBuf::from("out/manifest.json"),
                },
                fetch,
                Verbose,
                vec!["plain: wrote out/manifest.json"],
            ),
            (
                Event::FolderNotLocked {
                    dir: PathBuf::from("out"),
                    cause: "not supported".into(),
                },
                fetch,
                Normal,
                vec![
                    "recovery: warning: could not lock out (not supported); going on without the lock, so a second run into it would not wait for this one",
                ],
            ),
        ];
        for (event, voice, level, expected) in cases {
            assert_eq!(
                say(&event, voice, level),
                expected,
                "{event:?} in {voice:?} at {level:?}"
            );
        }
    }

    #[test]
    fn a_task_that_failed_shows_even_when_quiet() {
        let report = TaskReport::failed("t1", Path::new("out/t1"), &Error::Interrupted);
        for level in [Level::Quiet, Level::Normal] {
            let line = task_ended(&report, level).expect("a failure is always shown");
            assert_eq!(line.mark, Mark::Failed);
            assert_eq!(
                line.text,
                format!("t1: failed (exit code 130): {}", Error::Interrupted)
            );
        }
    }

    #[test]
    fn listen_shows_trouble_when_quiet_and_deliveries_with_verbose() {
        let accepted = ListenEvent::Accepted {
            delivery: "d1".into(),
            task_id: "t1".into(),
            event_type: "task.completed".into(),
        };
        let journal = ListenEvent::JournalFailed {
            error: "disk full".into(),
        };
        let listening = ListenEvent::Listening {
            addr: "127.0.0.1:8080".parse().expect("an address"),
            journal: PathBuf::from("out/.fetch-assets/listen.journal"),
            resumed: 2,
        };
        let text = |event, level| listen(event, level).map(|line| line.text);
        assert_eq!(text(&accepted, Level::Normal), None);
        assert_eq!(
            text(&accepted, Level::Verbose).as_deref(),
            Some("t1: task.completed accepted (delivery d1)")
        );
        assert_eq!(
            text(&journal, Level::Quiet).as_deref(),
            Some(
                "could not journal a delivery (answered 500; the service will send it again): disk full"
            )
        );
        assert_eq!(
            text(&listening, Level::Quiet).as_deref(),
            Some(
                "listening on http://127.0.0.1:8080 (journal out/.fetch-assets/listen.journal; resuming 2 deliveries acknowledged before)"
            )
        );
        let duplicate = ListenEvent::Duplicate {
            delivery: "d1".into(),
            task_id: "t1".into(),
            why: "task in progress",
        };
        assert_eq!(text(&duplicate, Level::Quiet), None);
        assert_eq!(
            text(&duplicate, Level::Normal).as_deref(),
            Some("t1: delivery d1 acknowledged, not fetched again: task in progress")
        );
    }

    #[test]
    fn a_batch_ends_with_what_its_tasks_add_up_to() {
        let end = BatchEnd {
            tasks: 4,
            ok: 2,
            failed: 1,
            files: 18,
            bytes: 3 << 20,
            took: Duration::from_millis(3400),
        };
        assert_eq!(
            batch_ended(&end),
            "batch: 2 of 4 tasks ok, 1 failed, 1 not done; 18 files, 3.00 MiB in 3.4s"
        );
        let all = BatchEnd {
            tasks: 1,
            ok: 1,
            failed: 0,
            files: 1,
            bytes: 10,
            took: SECS(1),
        };
        assert_eq!(
            batch_ended(&all),
            "batch: 1 of 1 tasks ok; 1 file, 10 B in 1s"
        );
    }

    #[test]
    fn a_log_follows_a_long_transfer() {
        assert_eq!(
            progress("model.glb", 12 << 20, Some(40 << 20), 2.1 * 1048576.0),
            "model.glb: 12.0/40.0 MiB (30%), 2.1 MiB/s"
        );
        assert_eq!(progress("t1", 5, None, 0.0), "t1: 5 B, 0 B/s");
    }
}
