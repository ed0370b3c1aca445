//! The display: bars on a terminal, plain timestamped lines elsewhere (CI
//! logs), nothing with `--quiet`. It only renders the library's events; the
//! library itself never draws.
//!
//! Both modes print the same short lines for what a reader should remember
//! (retries, link refreshes, finished files, the summary); a terminal also
//! gets a spinner while waiting and live bars while downloading.
//!
//! Locking, kept deliberately trivial: events arrive from many transfer tasks
//! at once, so the only lock here guards the last status line (to skip
//! repeats in logs) and is released before anything is printed. The bars are
//! built once and then only updated through indicatif's own self-contained
//! calls (`inc`, `dec`, `update`, ...), which need no lock of ours, and
//! indicatif never calls back into this file.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use fetch_assets::{Event, Manifest, Observer, PlannedFile, TaskStatus};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// Whether the task was seen unfinished: if not, it had succeeded before
    /// this run, and "succeeded after 0.1s" would be wrong.
    waited: AtomicBool,
}

struct Bars {
    files: HashMap<Arc<str>, ProgressBar>,
    total: ProgressBar,
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
            waited: AtomicBool::new(false),
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
        match &self.0.multi {
            Some(multi) if !multi.is_hidden() => {
                let _ = multi.println(format!("{}{text}", mark.sign()));
            }
            _ => {
                let now = humantime::format_rfc3339_seconds(SystemTime::now());
                let _ = writeln!(std::io::stderr().lock(), "{now} {text}");
            }
        }
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
        self.spinner(multi).set_message(head);
        if self.verbose() {
            self.line(&format!("{text}{detail}"));
        }
    }

    fn spinner(&self, multi: &MultiProgress) -> &ProgressBar {
        self.0.spinner.get_or_init(|| {
            let (started, end) = (self.0.started, self.0.expected_end_ms.clone());
            let countdown = move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let end = Duration::from_millis(end.load(Ordering::Relaxed));
                let left = end.saturating_sub(started.elapsed());
                if !end.is_zero() && !left.is_zero() {
                    let whole_seconds = left.as_millis().div_ceil(1000) as u64;
                    let _ = w.write_str(&about(Some(Duration::from_secs(whole_seconds))));
                }
            };
            let style = ProgressStyle::with_template("{spinner:.green} {msg}{left}  [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("left", countdown);
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
            self.detail(|| format!("  {} <- {}", file.role, file.source));
        }
        let Some(multi) = &self.0.multi else {
            return;
        };
        let width = files.iter().map(|f| f.role.len()).max().unwrap_or(0).max(5);
        let template = |bar: &str, extra: &str| {
            ProgressStyle::with_template(&format!(
                "  {{prefix:{width}}} [{{bar:30{bar}}}] {{bytes:>11}} / {{total_bytes:<11}} {{binary_bytes_per_sec:>13}}{extra}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
        };
        let style = template(".cyan/blue", "").progress_chars("=> ");
        let files = files
            .iter()
            .map(|file| {
                let bar = multi.add(ProgressBar::no_length().with_style(style.clone()));
                bar.set_prefix(file.role.clone());
                (file.file.clone(), bar)
            })
            .collect();
        let total = multi.add(
            ProgressBar::no_length()
                .with_style(template(".green", "  ETA {eta}").progress_chars("## "))
                .with_prefix("total"),
        );
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
        self.detail(|| {
            let size = size.map_or("size unknown".into(), |s| HumanBytes(s).to_string());
            format!("{file}: receiving from byte {offset} ({size})")
        });
    }

    /// A file arrived whole and checked: its bar goes. It is not "done"
    /// until it is in place (another file may yet fail the run).
    fn file_complete(&self, file: &Arc<str>, path: &str) {
        if let (Some((bar, _)), Some(multi)) = (self.bars_of(file), &self.0.multi) {
            bar.finish_and_clear();
            multi.remove(bar);
        }
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
        let trace = |id: &Option<String>| match (self.verbose(), id) {
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
            Event::TransferProgress { file, bytes } => {
                if let Some((bar, total)) = self.bars_of(file) {
                    bar.inc(*bytes);
                    total.inc(*bytes);
                }
            }
            Event::TransferRetry {
                file,
                retry,
                delay,
                cause,
                resume_from,
            } => {
                let from = match resume_from {
                    0 => String::new(),
                    n => format!(", resuming at byte {n}"),
                };
                self.marked(
                    Mark::Recovery,
                    &format!("{file}: {cause}; retry {retry} in {}{from}", short(*delay)),
                );
            }
            Event::TransferRestarted { file } => self.marked(
                Mark::Recovery,
                &format!("{file}: the server ignored the resume request; starting over"),
            ),
            Event::LinkExpired { file, cause } => self.marked(
                Mark::Recovery,
                &format!("{file}: {cause}; getting fresh links"),
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
