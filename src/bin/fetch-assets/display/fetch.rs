//! The display of a single fetch: bars on a terminal, plain timestamped
//! lines elsewhere (CI logs), nothing with `--quiet`.
//!
//! Both modes print the same short lines for what a reader should remember
//! (retries, link refreshes, finished files, the summary), worded in
//! `lines.rs`; a terminal also gets a spinner while waiting and live bars
//! while downloading.
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
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use console::Style;
use fetch_assets::{Event, Manifest, Observer, PlannedFile, TaskStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::fit;
use super::lines::{self, Context, Level, Mark, Said, Voice};
use super::{Mode, Pace, TOTAL, bar_style, log_every, print_line};

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
            self.print(
                Mark::Plain,
                &lines::fetched(manifest, dir, inner.started.elapsed()),
            );
        }
    }

    /// One line above the bars, or one timestamped log line; on a terminal
    /// it starts with the mark's coloured sign.
    fn print(&self, mark: Mark, text: &str) {
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
        let verbose = self.0.mode.level() == Level::Verbose;
        let text = format!("{head}{}", lines::about(left));
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
            if changed || verbose {
                self.print(Mark::Plain, &format!("{text}{detail}"));
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
        if verbose {
            self.print(Mark::Plain, &format!("{text}{detail}"));
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
                let _ = w.write_str(&fit::status(
                    &message,
                    &lines::about(left),
                    state.elapsed(),
                    width,
                ));
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

    /// The task succeeded: the spinner (gone by now) gives way to one bar a
    /// file and a total; lines name files by their names in the folder.
    fn planned(&self, files: &[PlannedFile]) {
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
                Some(lines::progress(
                    &self.name_of(file),
                    entry.done,
                    entry.total,
                    rate,
                ))
            })
        };
        if let Some(line) = line {
            self.print(Mark::Plain, &line);
        }
    }

    /// A file arrived whole and checked: its bar goes. It is not "done"
    /// until it is in place (another file may yet fail the run).
    fn file_complete(&self, file: &Arc<str>) {
        if let (Some((bar, _)), Some(multi)) = (self.bars_of(file), &self.0.multi) {
            bar.finish_and_clear();
            multi.remove(bar);
        }
        self.0
            .logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(file);
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
        // What the lines stand on: the wait seen, the spinner gone, the
        // bars and the log's tallies moved.
        match event {
            Event::TaskPolled { status, .. } if *status != TaskStatus::Success => {
                self.0.waited.store(true, Ordering::Relaxed);
            }
            Event::Planned { .. } | Event::Kept { .. } => self.end_wait(),
            Event::TransferStarted { file, size, offset } => {
                self.transfer_started(file, *size, *offset);
            }
            Event::TransferProgress { file, bytes, .. } => self.transfer_progress(file, *bytes),
            Event::FileComplete { file, .. } => self.file_complete(file),
            _ => {}
        }
        let waited = self
            .0
            .waited
            .load(Ordering::Relaxed)
            .then(|| self.0.started.elapsed());
        let name = |file: &Arc<str>| self.name_of(file);
        let cx = Context {
            voice: Voice::Fetch { waited },
            level: self.0.mode.level(),
            name: &name,
        };
        for said in lines::said(event, &cx) {
            match said {
                Said::Line(line) => self.print(line.mark, &line.text),
                Said::Status { head, left, detail } => self.status(head, left, &detail),
            }
        }
        if let Event::Planned { files } = event {
            self.planned(files);
        }
    }
}
