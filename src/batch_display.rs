//! The display of `batch`, readable with hundreds of tasks: a line per
//! finished task (and per recovery worth knowing) above a few live bars,
//! one per task downloading (at most `MAX_BARS`; the others count in the
//! total), and a total bar of tasks done. In logs, plain timestamped lines:
//! a task's success, its end, and its recoveries; `-v` adds every status
//! change and every file. `--quiet` prints only failed tasks.
//!
//! Locking: one mutex guards the per-task tallies and is released before
//! anything is printed or drawn; bars are updated through indicatif's own
//! self-contained calls, as in `progress.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use fetch_assets::task_report::TaskReport;
use fetch_assets::{Event, Observer, TaskStatus};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::progress::{Mark, Mode, files, short};

/// Live bars at most, however many tasks download at once.
const MAX_BARS: usize = 6;

/// Renders a batch's events; clones share it.
#[derive(Clone)]
pub struct BatchDisplay(Arc<Inner>);

struct Inner {
    mode: Mode,
    started: Instant,
    tasks: usize,
    /// The bars' canvas and the total bar; `Some` exactly in [`Mode::Bars`].
    bars: Option<(MultiProgress, ProgressBar)>,
    tally: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    /// Tasks downloading, with their bar if they have one.
    active: HashMap<Arc<str>, Active>,
    /// The last status shown per task, to show changes only.
    statuses: HashMap<Arc<str>, String>,
    ok: usize,
    failed: usize,
    files: usize,
    bytes: u64,
}

#[derive(Default)]
struct Active {
    bar: Option<ProgressBar>,
    /// Per file: its size when announced, and where it stands.
    files: HashMap<Arc<str>, (u64, u64)>,
}

impl Active {
    fn draw(&self) {
        if let Some(bar) = &self.bar {
            let (len, pos) = self
                .files
                .values()
                .fold((0, 0), |(len, pos), (size, at)| (len + size, pos + at));
            bar.set_length(len);
            bar.set_position(pos);
        }
    }
}

impl BatchDisplay {
    pub fn new(mode: Mode, tasks: usize) -> BatchDisplay {
        let bars = matches!(mode, Mode::Bars { .. }).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30.green}] {pos}/{len} tasks{msg}  [{elapsed}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("## ");
            let total = multi.add(
                ProgressBar::new(tasks as u64)
                    .with_style(style)
                    .with_prefix("total"),
            );
            total.enable_steady_tick(std::time::Duration::from_millis(200));
            (multi, total)
        });
        BatchDisplay(Arc::new(Inner {
            mode,
            started: Instant::now(),
            tasks,
            bars,
            tally: Mutex::new(Tally::default()),
        }))
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.0.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn verbose(&self) -> bool {
        matches!(
            self.0.mode,
            Mode::Lines { verbose: true } | Mode::Bars { verbose: true }
        )
    }

    /// One line above the bars, or one timestamped log line.
    fn line(&self, mark: Mark, text: &str) {
        match &self.0.bars {
            Some((multi, _)) if !multi.is_hidden() => {
                let _ = multi.println(format!("{}{text}", mark.sign()));
            }
            _ => {
                let now = humantime::format_rfc3339_seconds(SystemTime::now());
                let _ = writeln!(std::io::stderr().lock(), "{now} {text}");
            }
        }
    }

    /// A task ended: its line, and the tallies.
    pub fn task_ended(&self, report: &TaskReport) {
        let task_id: Arc<str> = report.task_id.as_str().into();
        let (active, downloading) = {
            let mut tally = self.tally();
            if report.is_ok() {
                tally.ok += 1;
                tally.files += report.files;
                tally.bytes += report.bytes;
            } else {
                tally.failed += 1;
            }
            tally.statuses.remove(&task_id);
            (tally.active.remove(&task_id), tally.active.len())
        };
        if let (Some(bar), Some((multi, _))) = (active.and_then(|a| a.bar), &self.0.bars) {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
        if let Some((_, total)) = &self.0.bars {
            total.inc(1);
            total.set_message(format!(", {downloading} downloading"));
        }
        match (&report.error, self.0.mode) {
            (None, Mode::Quiet) => {}
            (None, _) => self.line(
                Mark::Done,
                &format!(
                    "{}: done, {}, {}",
                    report.task_id,
                    files(report.files),
                    HumanBytes(report.bytes)
                ),
            ),
            (Some(error), _) => self.line(
                Mark::Failed,
                &format!(
                    "{}: failed (exit code {}): {error}",
                    report.task_id, report.exit_code
                ),
            ),
        }
    }

    /// Clears the bars and prints the summary.
    pub fn finish(&self) {
        if let Some((multi, total)) = &self.0.bars {
            total.finish_and_clear();
            let _ = multi.clear();
        }
        if self.0.mode == Mode::Quiet {
            return;
        }
        let (ok, failed, count, bytes) = {
            let tally = self.tally();
            (tally.ok, tally.failed, tally.files, tally.bytes)
        };
        let not_done = self.0.tasks.saturating_sub(ok + failed);
        let mut text = format!("batch: {ok} of {} tasks ok", self.0.tasks);
        if failed > 0 {
            text.push_str(&format!(", {failed} failed"));
        }
        if not_done > 0 {
            text.push_str(&format!(", {not_done} not done"));
        }
        text.push_str(&format!(
            "; {}, {} in {}",
            files(count),
            HumanBytes(bytes),
            short(self.0.started.elapsed())
        ));
        self.line(Mark::Plain, &text);
    }

    /// One event of one task.
    fn task_event(&self, task_id: &Arc<str>, event: &Event) {
        match event {
            Event::TaskPolled {
                status, progress, ..
            } => {
                if *status == TaskStatus::Success || !self.verbose() {
                    return;
                }
                let text = match progress {
                    Some(p) if *status == TaskStatus::Running => format!("{status}, {p}%"),
                    _ => status.to_string(),
                };
                let changed = {
                    let mut tally = self.tally();
                    let last = tally.statuses.entry(task_id.clone()).or_default();
                    let changed = *last != text;
                    *last = text.clone();
                    changed
                };
                if changed {
                    self.line(Mark::Plain, &format!("{task_id}: {text}"));
                }
            }
            Event::Planned { files: planned } => {
                self.start(task_id);
                if self.0.mode != Mode::Quiet {
                    self.line(
                        Mark::Plain,
                        &format!("{task_id}: succeeded; downloading {}", files(planned.len())),
                    );
                }
            }
            Event::Kept { files: kept } if self.verbose() => self.line(
                Mark::Plain,
                &format!("{task_id}: kept {} already complete", files(kept.len())),
            ),
            Event::TransferStarted { file, size, offset } => {
                let tally = &mut *self.tally();
                if let Some(active) = tally.active.get_mut(task_id) {
                    let entry = active.files.entry(file.clone()).or_default();
                    *entry = (size.unwrap_or(entry.0), *offset);
                    active.draw();
                }
            }
            Event::TransferProgress { file, bytes } => {
                let tally = &mut *self.tally();
                if let Some(active) = tally.active.get_mut(task_id) {
                    active.files.entry(file.clone()).or_default().1 += bytes;
                    active.draw();
                }
            }
            Event::TransferRetry {
                file,
                retry,
                delay,
                cause,
                ..
            } => self.recovery(&format!(
                "{task_id}: {file}: {cause}; retry {retry} in {}",
                short(*delay)
            )),
            Event::TransferRestarted { file } => self.recovery(&format!(
                "{task_id}: {file}: the server ignored the resume request; starting over"
            )),
            Event::LinkExpired { file, cause } => {
                self.recovery(&format!("{task_id}: {file}: {cause}; getting fresh links"))
            }
            Event::LinksRefreshed { .. } => self.recovery(&format!("{task_id}: links refreshed")),
            Event::ApiRetry {
                retry,
                delay,
                cause,
            } => self.recovery(&format!(
                "{task_id}: task request failed: {cause}; retry {retry} in {}",
                short(*delay)
            )),
            Event::FolderBusy { dir } if self.0.mode != Mode::Quiet => self.line(
                Mark::Plain,
                &format!(
                    "{task_id}: waiting for another fetch-assets run to finish with {}",
                    dir.display()
                ),
            ),
            Event::FileDone { path, size, .. } if self.verbose() => self.line(
                Mark::Done,
                &format!("{task_id}/{path}: done, {}", HumanBytes(*size)),
            ),
            _ => {}
        }
    }

    /// A task starts downloading: a bar if one is free.
    fn start(&self, task_id: &Arc<str>) {
        let Some((multi, total)) = &self.0.bars else {
            return;
        };
        let mut tally = self.tally();
        let with_bars = tally.active.values().filter(|a| a.bar.is_some()).count();
        let bar = (with_bars < MAX_BARS).then(|| {
            let style = ProgressStyle::with_template(
                "  {prefix:13} [{bar:30.cyan/blue}] {bytes:>11} / {total_bytes:<11} {binary_bytes_per_sec:>13}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = multi.insert_before(total, ProgressBar::no_length().with_style(style));
            let short_id: String = task_id.chars().take(13).collect();
            bar.set_prefix(short_id);
            bar
        });
        tally.active.insert(
            task_id.clone(),
            Active {
                bar,
                files: HashMap::new(),
            },
        );
        total.set_message(format!(", {} downloading", tally.active.len()));
    }

    fn recovery(&self, text: &str) {
        if self.0.mode != Mode::Quiet {
            self.line(Mark::Recovery, text);
        }
    }
}

impl Observer for BatchDisplay {
    fn event(&self, event: &Event) {
        match event {
            Event::Task { task_id, event } => self.task_event(task_id, event),
            Event::ApiRetry {
                retry,
                delay,
                cause,
            } => self.recovery(&format!(
                "task list request failed: {cause}; retry {retry} in {}",
                short(*delay)
            )),
            _ => {}
        }
    }
}
