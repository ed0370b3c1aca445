//! The display of `batch`, readable with hundreds of tasks: a line per
//! finished task (and per recovery worth knowing) above a few live bars,
//! one per task downloading (at most `MAX_BARS`; the others count in the
//! total), and a total bar of tasks done. In logs, plain timestamped lines:
//! a task's success, its end, and its recoveries; `-v` adds every status
//! change and every file. `--quiet` prints only failed tasks.
//!
//! On a terminal, bars and lines fit its width as in `fetch.rs` (a task
//! id elided in the middle when it must be); in a log, a task downloading
//! for a while gets a progress line every few seconds. The lines are worded
//! in `lines.rs`, in each task's voice.
//!
//! Locking: one mutex guards the per-task tallies and is released before
//! anything is printed or drawn; bars are updated through indicatif's own
//! self-contained calls, as in `fetch.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use console::Style;
use fetch_assets::TaskReport;
use fetch_assets::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::fit::{self, Row, short};
use super::lines::{self, BatchEnd, Context, Mark, Said, Voice};
use super::{Mode, Pace, TOTAL, bar_style, log_every, print_line};

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
    /// The width of the bars' name column: the longest task id.
    id_width: usize,
    /// How many tasks are downloading, for the total bar's line.
    downloading: Arc<AtomicUsize>,
    /// How often a log gets a progress line for a task still downloading.
    log_every: Duration,
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

struct Active {
    bar: Option<ProgressBar>,
    /// Per file: its size when announced, and where it stands.
    files: HashMap<Arc<str>, (u64, u64)>,
    /// Each file's name in the folder, by the name events give it.
    names: HashMap<Arc<str>, Arc<str>>,
    /// When a log is next due a progress line for this task.
    pace: Pace,
}

impl Active {
    /// (bytes announced, bytes arrived) over the task's files.
    fn sums(&self) -> (u64, u64) {
        self.files
            .values()
            .fold((0, 0), |(len, pos), (size, at)| (len + size, pos + at))
    }

    fn draw(&self) {
        if let Some(bar) = &self.bar {
            let (len, pos) = self.sums();
            bar.set_length(len);
            bar.set_position(pos);
        }
    }

    fn name_of(&self, file: &Arc<str>) -> Arc<str> {
        self.names.get(file).unwrap_or(file).clone()
    }
}

impl BatchDisplay {
    /// The display of a batch of the tasks `task_ids`.
    pub fn new(mode: Mode, task_ids: &[String]) -> BatchDisplay {
        let tasks = task_ids.len();
        let id_width = task_ids
            .iter()
            .map(|id| console::measure_text_width(id))
            .chain([TOTAL.len()])
            .max()
            .unwrap_or(0);
        let downloading = Arc::new(AtomicUsize::new(0));
        let bars = matches!(mode, Mode::Bars { .. }).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(
                ProgressBar::new(tasks as u64)
                    .with_style(total_style(id_width, downloading.clone())),
            );
            total.enable_steady_tick(std::time::Duration::from_millis(200));
            (multi, total)
        });
        BatchDisplay(Arc::new(Inner {
            mode,
            started: Instant::now(),
            tasks,
            bars,
            id_width,
            downloading,
            log_every: log_every(),
            tally: Mutex::new(Tally::default()),
        }))
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.0.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One line above the bars, or one timestamped log line.
    fn line(&self, mark: Mark, text: &str) {
        print_line(self.0.bars.as_ref().map(|(multi, _)| multi), mark, text);
    }

    /// The name to show for a file of a task.
    fn name_of(&self, task_id: &Arc<str>, file: &Arc<str>) -> Arc<str> {
        match self.tally().active.get(task_id) {
            Some(active) => active.name_of(file),
            None => file.clone(),
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
        self.0.downloading.store(downloading, Ordering::Relaxed);
        if let Some((_, total)) = &self.0.bars {
            total.inc(1);
        }
        if let Some(line) = lines::task_ended(report, self.0.mode.level()) {
            self.line(line.mark, &line.text);
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
        let end = {
            let tally = self.tally();
            BatchEnd {
                tasks: self.0.tasks,
                ok: tally.ok,
                failed: tally.failed,
                files: tally.files,
                bytes: tally.bytes,
                took: self.0.started.elapsed(),
            }
        };
        self.line(Mark::Plain, &lines::batch_ended(&end));
    }

    /// One event of one task: its bar and tallies, then its lines.
    fn task_event(&self, task_id: &Arc<str>, event: &Event) {
        let mut progress = None;
        match event {
            Event::Planned { files } => {
                let names = files
                    .iter()
                    .map(|f| (f.file.clone(), Arc::from(f.name.as_str())))
                    .collect();
                self.start(task_id, names);
            }
            Event::TransferStarted { file, size, offset } => {
                let tally = &mut *self.tally();
                if let Some(active) = tally.active.get_mut(task_id) {
                    let entry = active.files.entry(file.clone()).or_default();
                    *entry = (size.unwrap_or(entry.0), *offset);
                    active.draw();
                }
            }
            Event::TransferProgress { file, bytes, .. } => {
                let tally = &mut *self.tally();
                progress = tally.active.get_mut(task_id).and_then(|active| {
                    active.files.entry(file.clone()).or_default().1 += bytes;
                    active.draw();
                    if !matches!(self.0.mode, Mode::Lines { .. }) {
                        return None;
                    }
                    let (len, pos) = active.sums();
                    let rate = active.pace.due(self.0.log_every, pos)?;
                    Some(lines::progress(
                        task_id,
                        pos,
                        (len > 0).then_some(len),
                        rate,
                    ))
                });
            }
            _ => {}
        }
        if let Some(line) = progress {
            self.line(Mark::Plain, &line);
        }
        let name = |file: &Arc<str>| self.name_of(task_id, file);
        let cx = Context {
            voice: Voice::Task(task_id),
            level: self.0.mode.level(),
            name: &name,
        };
        for said in lines::said(event, &cx) {
            match said {
                Said::Line(line) => self.line(line.mark, &line.text),
                // A status is printed when it changed.
                Said::Status { head, .. } => {
                    let changed = {
                        let mut tally = self.tally();
                        let last = tally.statuses.entry(task_id.clone()).or_default();
                        let changed = *last != head;
                        *last = head.clone();
                        changed
                    };
                    if changed {
                        self.line(Mark::Plain, &head);
                    }
                }
            }
        }
    }

    /// A task starts downloading: it is followed, with a bar if one is free.
    fn start(&self, task_id: &Arc<str>, names: HashMap<Arc<str>, Arc<str>>) {
        let mut tally = self.tally();
        let bar = self.0.bars.as_ref().and_then(|(multi, total)| {
            let with_bars = tally.active.values().filter(|a| a.bar.is_some()).count();
            (with_bars < MAX_BARS).then(|| {
                // Its id, elided in the middle where the width is short.
                let cyan = Style::new().cyan().for_stderr();
                let style = bar_style(task_id, self.0.id_width, cyan, false);
                multi.insert_before(total, ProgressBar::no_length().with_style(style))
            })
        });
        tally.active.insert(
            task_id.clone(),
            Active {
                bar,
                files: HashMap::new(),
                names,
                pace: Pace::new(0),
            },
        );
        self.0
            .downloading
            .store(tally.active.len(), Ordering::Relaxed);
    }
}

/// The total bar: tasks ended of all, how many are downloading, the time
/// so far, fitted at each draw.
fn total_style(id_width: usize, downloading: Arc<AtomicUsize>) -> ProgressStyle {
    let colour = Style::new().green().for_stderr();
    let row = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let (ended, tasks) = (state.pos(), state.len().unwrap_or(0));
        let figures = [
            format!("{ended}/{tasks} tasks"),
            format!("{} downloading", downloading.load(Ordering::Relaxed)),
            format!("[{}]", short(state.elapsed())),
        ];
        let row = Row {
            name: TOTAL,
            name_width: id_width,
            fraction: state.fraction(),
            style: &colour,
            figures: &figures,
            short: &format!("{ended}/{tasks}"),
            tail: "",
        };
        let _ = w.write_str(&row.render(fit::width()));
    };
    ProgressStyle::with_template("{row}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("row", row)
}

impl Observer for BatchDisplay {
    fn event(&self, event: &Event) {
        if let Event::Task { task_id, event } = event {
            return self.task_event(task_id, event);
        }
        let name = |file: &Arc<str>| file.clone();
        let cx = Context {
            voice: Voice::Batch,
            level: self.0.mode.level(),
            name: &name,
        };
        for said in lines::said(event, &cx) {
            if let Said::Line(line) = said {
                self.line(line.mark, &line.text);
            }
        }
    }
}
