//! The display: bars on a terminal, plain timestamped lines elsewhere (CI
//! logs), nothing with `--quiet`. It only renders the library's events; the
//! library itself never draws.
//!
//! Both modes print the same short lines for what a reader should remember
//! (retries, link refreshes, finished files, the summary); a terminal also
//! gets a spinner while waiting and live bars while downloading.
//!
//! On a terminal everything fits its width, read at each draw (`fit.rs`):
//! bars shrink and drop figures, names are elided in the middle, lines wrap.
//! Every line and bar names a file by its name in the folder
//! (`multiview_0_front.png`). In a log, a transfer that runs long gets a
//! progress line every few seconds (5 s; `FETCH_ASSETS_PROGRESS_INTERVAL`,
//! a duration, changes it, for tests), so a log never goes quiet for minutes.
//!
//! Locking, kept deliberately trivial: events arrive from many transfer tasks
//! at once, so the only locks here guard the last status line (to skip
//! repeats in logs) and the logged progress, and are released before
//! anything is printed. The bars are built once and then only updated
//! through indicatif's own self-contained calls (`inc`, `dec`, `update`,
//! ...), which need no lock of ours; indicatif calls back only into the
//! closures that render a bar's line, which read the bar's own state.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use console::Style;
use fetch_assets::{Event, Manifest, Observer, PlannedFile, TaskStatus};
use indicatif::{
    HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
};

use crate::fit::{self, AMOUNT_WIDTH, RATE_WIDTH, Row};

/// How the run is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing but errors (which `main` prints).
    Quiet,
    /// One timestamped line an event, no escape codes: for logs.
    Lines { verbose: bool },
    /// Spinner and bars, on a terminal.
    Bars { verbose: bool },
}

impl Mode {
    /// Bars only on a terminal that can draw them and when colour is not
    /// refused (`NO_COLOR`, <https://no-color.org>): bars are escape codes.
    pub fn choose(quiet: bool, verbose: bool) -> Mode {
        let refused = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !refused {
            Mode::Bars { verbose }
        } else {
            Mode::Lines { verbose }
        }
    }

    fn verbose(self) -> bool {
        matches!(
            self,
            Mode::Lines { verbose: true } | Mode::Bars { verbose: true }
        )
    }
}

/// Renders events; one is shared by every transfer task (clones share it).
#[derive(Clone)]
pub struct Display(Arc<Inner>);

struct Inner {
    mode: Mode,
    started: Instant,
    /// The bars' canvas; `Some` exactly in [`Mode::Bars`].
    multi: Option<MultiProgress>,
    /// The waiting spinner, made on the first status.
    spinner: OnceLock<ProgressBar>,
    /// The download bars, made once the files are known.
    bars: OnceLock<Bars>,
    /// When the service expects the task to end, in ms after `started` (0:
    /// no estimate). The poller sleeps until then, so the spinner counts
    /// down itself rather than show one figure for minutes.
    expected_end_ms: Arc<AtomicU64>,
    /// The last status line printed in [`Mode::Lines`], to print changes only.
    last_status: Mutex<String>,
    /// The spinner's message (what is awaited), which its line fits to the width.
    status_message: Arc<Mutex<String>>,
    /// Whether the task was seen unfinished: if not, it had succeeded before
    /// this run, and "succeeded after 0.1s" would be wrong.
    waited: AtomicBool,
    /// Each file's name in the folder, by the name events give it.
    names: OnceLock<HashMap<Arc<str>, Arc<str>>>,
    /// In [`Mode::Lines`], where each transfer stands and when it was last
    /// logged.
    logged: Mutex<HashMap<Arc<str>, Logged>>,
    /// How often a long transfer gets a progress line in a log.
    log_every: Duration,
}

struct Bars {
    files: HashMap<Arc<str>, ProgressBar>,
    total: ProgressBar,
}

/// A transfer as a log follows it.
struct Logged {
    done: u64,
    total: Option<u64>,
    pace: Pace,
}

impl Display {
    pub fn new(mode: Mode) -> Display {
        let multi = matches!(mode, Mode::Bars { .. })
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Display(Arc::new(Inner {
            mode,
            started: Instant::now(),
            multi,
            spinner: OnceLock::new(),
            bars: OnceLock::new(),
            expected_end_ms: Arc::new(AtomicU64::new(0)),
            last_status: Mutex::new(String::new()),
            status_message: Arc::new(Mutex::new(String::new())),
            waited: AtomicBool::new(false),
            names: OnceLock::new(),
            logged: Mutex::new(HashMap::new()),
            log_every: log_every(),
        }))
    }

    /// Clears the bars and, on success, prints the summary.
    pub fn finish(&self, manifest: Option<&Manifest>, dir: &Path) {
        let inner = &self.0;
        if let Some(spinner) = inner.spinner.get() {
            spinner.finish_and_clear();
        }
        if let Some(bars) = inner.bars.get() {
            bars.files.values().for_each(ProgressBar::finish_and_clear);
            bars.total.finish_and_clear();
        }
        if let Some(multi) = &inner.multi {
            let _ = multi.clear();
        }
        if let (Some(manifest), false) = (manifest, inner.mode == Mode::Quiet) {
            let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
            self.line(&format!(
                "done: {}, {} in {}; manifest: {}",
                files(manifest.files.len()),
                HumanBytes(bytes),
                short(inner.started.elapsed()),
                dir.join(fetch_assets::MANIFEST_FILE).display()
            ));
        }
    }

    fn verbose(&self) -> bool {
        self.0.mode.verbose()
    }

    /// One line above the bars, or one timestamped log line.
    fn line(&self, text: &str) {
        self.marked(Mark::Plain, text);
    }

    /// A line only `-v` shows.
    fn detail(&self, text: impl FnOnce() -> String) {
        if self.verbose() {
            self.line(&text());
        }
    }

    /// A line a terminal reader should spot at a glance: on a terminal it
    /// starts with a coloured sign; a log line is the same as any other.
    fn marked(&self, mark: Mark, text: &str) {
        print_line(self.0.multi.as_ref(), mark, text);
    }

    /// The name to show for a file events name by `file`.
    fn name_of(&self, file: &Arc<str>) -> Arc<str> {
        self.0
            .names
            .get()
            .and_then(|names| names.get(file))
            .unwrap_or(file)
            .clone()
    }

    /// The waiting status: the spinner's message, or a log line when it
    /// changed (every answer with `-v`, as each is a request).
    fn status(&self, head: String, left: Option<Duration>, detail: &str) {
        let text = format!("{head}{}", about(left));
        let Some(multi) = &self.0.multi else {
            let changed = {
                let mut last = self
                    .0
                    .last_status
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let changed = *last != text;
                *last = text.clone();
                changed
            };
            if changed || self.verbose() {
                self.line(&format!("{text}{detail}"));
            }
            return;
        };
        let end = left.map_or(0, |left| {
            (self.0.started.elapsed() + left).as_millis() as u64
        });
        self.0.expected_end_ms.store(end, Ordering::Relaxed);
        *self
            .0
            .status_message
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = head;
        self.spinner(multi).tick();
        if self.verbose() {
            self.line(&format!("{text}{detail}"));
        }
    }

    fn spinner(&self, multi: &MultiProgress) -> &ProgressBar {
        self.0.spinner.get_or_init(|| {
            let (started, end) = (self.0.started, self.0.expected_end_ms.clone());
            let message = self.0.status_message.clone();
            // The message, the countdown and the time waited, fitted to the
            // width after the spinner and its space.
            let status = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let end = Duration::from_millis(end.load(Ordering::Relaxed));
                let left = end.saturating_sub(started.elapsed());
                let left = (!end.is_zero() && !left.is_zero())
                    .then(|| Duration::from_secs(left.as_millis().div_ceil(1000) as u64));
                let message = message
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let width = fit::width().saturating_sub(2);
                let _ = w.write_str(&fit::status(&message, &about(left), state.elapsed(), width));
            };
            let style = ProgressStyle::with_template("{spinner:.green} {status}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("status", status);
            let spinner = multi.add(ProgressBar::new_spinner().with_style(style));
            spinner.enable_steady_tick(Duration::from_millis(100));
            spinner
        })
    }

    /// The wait is over: the spinner goes.
    fn end_wait(&self) {
        if let Some(spinner) = self.0.spinner.get() {
            spinner.finish_and_clear();
        }
    }

    /// The task succeeded: the spinner gives way to one bar a file and a total.
    fn planned(&self, files: &[PlannedFile]) {
        self.end_wait();
        let when = if self.0.waited.load(Ordering::Relaxed) {
            format!("task succeeded after {}", short(self.0.started.elapsed()))
        } else {
            "the task had already succeeded".to_owned()
        };
        self.line(&format!("{when}; downloading {}", self::files(files.len())));
        for file in files {
            self.detail(|| format!("  {} <- {}", file.name, file.source));
        }
        let names = files
            .iter()
            .map(|f| (f.file.clone(), Arc::from(f.name.as_str())))
            .collect();
        let _ = self.0.names.set(names);
        let Some(multi) = &self.0.multi else {
            return;
        };
        let name_width = files
            .iter()
            .map(|f| console::measure_text_width(&f.name))
            .chain([TOTAL.len()])
            .max()
            .unwrap_or(0);
        let cyan = Style::new().cyan().for_stderr();
        let files = files
            .iter()
            .map(|file| {
                let style = bar_style(&file.name, name_width, cyan.clone(), false);
                let bar = multi.add(ProgressBar::no_length().with_style(style));
                (file.file.clone(), bar)
            })
            .collect();
        let green = Style::new().green().for_stderr();
        let total = multi
            .add(ProgressBar::no_length().with_style(bar_style(TOTAL, name_width, green, true)));
        let _ = self.0.bars.set(Bars { files, total });
    }

    /// A transfer (re)started at `offset`: move its bar there, and the total
    /// by the same amounts, so retries and restarts never double-count. Bars
    /// start without a length (an empty bar, not a full one for 0 of 0).
    fn transfer_started(&self, file: &Arc<str>, size: Option<u64>, offset: u64) {
        if let Some((bar, total)) = self.bars_of(file) {
            if let Some(size) = size {
                let old = bar.length().unwrap_or(0);
                bar.set_length(size);
                total.update(|t| t.set_len((t.len().unwrap_or(0) + size).saturating_sub(old)));
            }
            let old = bar.position();
            bar.set_position(offset);
            if offset >= old {
                total.inc(offset - old);
            } else {
                total.dec(old - offset);
            }
        }
        if self.0.multi.is_none() {
            let mut logged = self.0.logged.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = logged.entry(file.clone()).or_insert(Logged {
                done: offset,
                total: size,
                pace: Pace::new(offset),
            });
            entry.total = size.or(entry.total);
            entry.done = offset;
            entry.pace = Pace::new(offset);
        }
        self.detail(|| {
            let size = size.map_or("size unknown".into(), |s| HumanBytes(s).to_string());
            format!(
                "{}: receiving from byte {offset} ({size})",
                self.name_of(file)
            )
        });
    }

    /// Bytes arrived: the bars move, or, in a log, a transfer that has run
    /// for a while without a line gets one.
    fn transfer_progress(&self, file: &Arc<str>, bytes: u64) {
        if let Some((bar, total)) = self.bars_of(file) {
            bar.inc(bytes);
            total.inc(bytes);
            return;
        }
        if self.0.multi.is_some() {
            return;
        }
        let line = {
            let mut logged = self.0.logged.lock().unwrap_or_else(PoisonError::into_inner);
            logged.get_mut(file).and_then(|entry| {
                entry.done += bytes;
                let rate = entry.pace.due(self.0.log_every, entry.done)?;
                Some(progress_line(
                    &self.name_of(file),
                    entry.done,
                    entry.total,
                    rate,
                ))
            })
        };
        if let Some(line) = line {
            self.line(&line);
        }
    }

    /// A file arrived whole and checked: its bar goes. It is not "done"
    /// until it is in place (another file may yet fail the run).
    fn file_complete(&self, file: &Arc<str>, path: &str) {
        if let (Some((bar, _)), Some(multi)) = (self.bars_of(file), &self.0.multi) {
            bar.finish_and_clear();
            multi.remove(bar);
        }
        self.0
            .logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(file);
        self.detail(|| format!("{path}: received and checked"));
    }

    fn file_done(&self, path: &str, size: u64, sha256: &str) {
        let hash = if self.verbose() {
            format!(", sha256 {sha256}")
        } else {
            String::new()
        };
        self.marked(
            Mark::Done,
            &format!("{path}: done, {}{hash}", HumanBytes(size)),
        );
    }

    fn bars_of(&self, file: &str) -> Option<(&ProgressBar, &ProgressBar)> {
        let bars = self.0.bars.get()?;
        Some((bars.files.get(file)?, &bars.total))
    }
}

impl Observer for Display {
    fn event(&self, event: &Event) {
        if self.0.mode == Mode::Quiet {
            return;
        }
        let trace = |id: &fetch_assets::TraceId| match (self.verbose(), id.as_str()) {
            (true, Some(id)) => format!(" (trace id {id})"),
            _ => String::new(),
        };
        match event {
            Event::FolderBusy { dir } => self.status(
                format!(
                    "waiting for another fetch-assets run to finish with {}",
                    dir.display()
                ),
                None,
                "",
            ),
            Event::FolderNotLocked { dir, cause } => self.marked(
                Mark::Recovery,
                &format!(
                    "warning: could not lock {} ({cause}); going on without the lock, so a second run into it would not wait for this one",
                    dir.display()
                ),
            ),
            Event::TaskPolled {
                status: TaskStatus::Success,
                trace_id,
                ..
            } => {
                // The next event (Planned or Kept) says it, with what follows.
                self.detail(|| format!("task succeeded{}", trace(trace_id)));
            }
            Event::TaskPolled {
                status,
                progress,
                queue_position,
                estimate,
                trace_id,
            } => {
                self.0.waited.store(true, Ordering::Relaxed);
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
                let left = estimate.filter(|e| !e.is_zero());
                self.status(head, left, &trace(trace_id));
            }
            Event::ApiRetry {
                retry,
                delay,
                cause,
            } => self.marked(
                Mark::Recovery,
                &format!(
                    "task request failed: {cause}; retry {retry} in {}",
                    short(*delay)
                ),
            ),
            Event::Planned { files } => self.planned(files),
            Event::Kept { files } => {
                self.end_wait();
                self.line(&format!(
                    "kept {} already complete and verified: {}",
                    self::files(files.len()),
                    files.join(", ")
                ));
            }
            Event::TransferStarted { file, size, offset } => {
                self.transfer_started(file, *size, *offset)
            }
            Event::TransferProgress { file, bytes } => self.transfer_progress(file, *bytes),
            Event::TransferRetry {
                file,
                retry,
                delay,
                cause,
                resume_from,
            } => self.marked(
                Mark::Recovery,
                &format!(
                    "{}: {}",
                    self.name_of(file),
                    retry_words(cause, *retry, *delay, *resume_from)
                ),
            ),
            Event::TransferRestarted { file } => self.marked(
                Mark::Recovery,
                &format!("{}: {RESTARTED}", self.name_of(file)),
            ),
            Event::LinkExpired { file, cause } => self.marked(
                Mark::Recovery,
                &format!("{}: {cause}; getting fresh links", self.name_of(file)),
            ),
            Event::LinksRefreshed { trace_id } => self.marked(
                Mark::Recovery,
                &format!("links refreshed{}", trace(trace_id)),
            ),
            Event::FileComplete { file, path, .. } => self.file_complete(file, path),
            Event::FileDone {
                path, size, sha256, ..
            } => self.file_done(path, *size, sha256),
            Event::Request { method, url } => self.detail(|| format!("{method} {url}")),
            Event::ManifestWritten { path } => {
                self.detail(|| format!("wrote {}", path.display()));
            }
            _ => {}
        }
    }
}

/// The label of the total bar.
const TOTAL: &str = "total";

/// What a restarted transfer's line says after its name.
pub(crate) const RESTARTED: &str = "the server ignored the resume request; starting over";

/// A bar's style: its whole line rendered by [`fit::Row`] at the width the
/// terminal has at each draw; the total also shows its ETA where it fits.
pub(crate) fn bar_style(
    name: &str,
    name_width: usize,
    colour: Style,
    total: bool,
) -> ProgressStyle {
    let name = name.to_owned();
    let row = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let (done, len) = (state.pos(), state.len());
        let figures = [
            fit::right(&fit::amount(done, len), AMOUNT_WIDTH),
            fit::right(&fit::rate(state.per_sec()), RATE_WIDTH),
        ];
        let tail = match len {
            Some(len) if total && done < len && state.per_sec() > 0.0 => {
                format!("ETA {}", short(state.eta()))
            }
            _ => String::new(),
        };
        let row = Row {
            name: &name,
            name_width,
            fraction: state.fraction(),
            style: &colour,
            figures: &figures,
            short: &fit::right(&fit::percent(done, len), 4),
            tail: &tail,
        };
        let _ = w.write_str(&row.render(fit::width()));
    };
    ProgressStyle::with_template("{row}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("row", row)
}

/// Prints one line above the bars of `multi` (wrapped to the terminal's
/// width, after the mark's sign), or, without bars, one timestamped log line.
pub(crate) fn print_line(multi: Option<&MultiProgress>, mark: Mark, text: &str) {
    match multi {
        Some(multi) if !multi.is_hidden() => {
            let wrapped = fit::wrap(text, fit::width().saturating_sub(2), "  ");
            let signed = wrapped
                .lines()
                .enumerate()
                .map(|(i, line)| match i {
                    0 => format!("{}{line}", mark.sign()),
                    _ => format!("  {line}"),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let _ = multi.println(signed);
        }
        _ => {
            let now = humantime::format_rfc3339_seconds(SystemTime::now());
            let _ = writeln!(std::io::stderr().lock(), "{now} {text}");
        }
    }
}

/// What a retry line says after the file's name: `the connection broke at
/// byte 3000000; retry 1 in 0.2s`, and where the transfer resumes when the
/// cause does not already say it.
pub(crate) fn retry_words(cause: &str, retry: u32, delay: Duration, resume_from: u64) -> String {
    let mut words = format!("{cause}; retry {retry} in {}", short(delay));
    if resume_from > 0 && !cause.ends_with(&format!(" byte {resume_from}")) {
        let _ = write!(words, " from byte {resume_from}");
    }
    words
}

/// A log's progress line for a transfer (or a task): `model.glb:
/// 12.0/40.0 MiB (30%), 2.1 MiB/s`.
pub(crate) fn progress_line(name: &str, done: u64, total: Option<u64>, rate: f64) -> String {
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

/// How often a log gets a progress line for a transfer still going: 5 s,
/// or `FETCH_ASSETS_PROGRESS_INTERVAL` (a duration: `200ms`, `30s`), which
/// the tests set short.
pub(crate) fn log_every() -> Duration {
    std::env::var("FETCH_ASSETS_PROGRESS_INTERVAL")
        .ok()
        .and_then(|text| humantime::parse_duration(text.trim()).ok())
        .filter(|every| !every.is_zero())
        .unwrap_or(Duration::from_secs(5))
}

/// When something that runs long is next due a progress line in a log.
pub(crate) struct Pace {
    since: Instant,
    at: u64,
}

impl Pace {
    /// Starting now, at `at` bytes.
    pub(crate) fn new(at: u64) -> Pace {
        Pace {
            since: Instant::now(),
            at,
        }
    }

    /// Once `every` has passed since the last line (or the start): the
    /// bytes a second since then, and the clock starts again.
    pub(crate) fn due(&mut self, every: Duration, done: u64) -> Option<f64> {
        let elapsed = self.since.elapsed();
        if elapsed < every {
            return None;
        }
        let rate = done.saturating_sub(self.at) as f64 / elapsed.as_secs_f64();
        *self = Pace::new(done);
        Some(rate)
    }
}

/// What kind of line this is, for the sign a terminal shows before it.
#[derive(Clone, Copy)]
pub(crate) enum Mark {
    /// Anything else.
    Plain,
    /// A file is complete.
    Done,
    /// Something failed and is being retried or refreshed.
    Recovery,
    /// Something failed for good.
    Failed,
}

impl Mark {
    pub(crate) fn sign(self) -> &'static str {
        match self {
            Mark::Plain => "  ",
            Mark::Done => "\x1b[32m✓\x1b[0m ",
            Mark::Recovery => "\x1b[33m↻\x1b[0m ",
            Mark::Failed => "\x1b[31m✗\x1b[0m ",
        }
    }
}

/// `"1 file"`, `"9 files"`.
pub(crate) fn files(n: usize) -> String {
    match n {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    }
}

/// `", about 12s left"`, or nothing without an estimate.
fn about(left: Option<Duration>) -> String {
    left.map_or(String::new(), |left| {
        format!(", about {} left", short(left))
    })
}

/// A duration as people read it in a log: `0.2s`, `3.1s`, `42s`, `2m 05s`, `1h 02m`.
pub(crate) fn short(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..10 => {
            let text = format!("{:.1}", d.as_secs_f64());
            format!("{}s", text.trim_end_matches(".0"))
        }
        10..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::short;
    use std::time::Duration;

    #[test]
    fn durations_read_short() {
        let cases = [
            (200, "0.2s"),
            (3000, "3s"),
            (3140, "3.1s"),
            (42_000, "42s"),
            (125_000, "2m 05s"),
            (3_720_000, "1h 02m"),
        ];
        for (ms, text) in cases {
            assert_eq!(short(Duration::from_millis(ms)), text);
        }
    }
}
