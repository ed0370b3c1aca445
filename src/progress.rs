//! The display: bars on a terminal, plain timestamped lines elsewhere (CI
//! logs), nothing with `--quiet`. It only renders the library's events; the
//! library itself never draws.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use fetch_assets::{Event, Manifest, Observer, TaskStatus};
use indicatif::{
    HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle,
};

/// How the run is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing but errors.
    Quiet,
    /// One timestamped line an event: for logs.
    Lines { verbose: bool },
    /// Spinner and bars, on a terminal.
    Bars { verbose: bool },
}

impl Mode {
    pub fn choose(quiet: bool, verbose: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        {
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

/// Renders events; shared by every transfer task.
#[derive(Clone)]
pub struct Display {
    mode: Mode,
    started: Instant,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    bars: Option<MultiProgress>,
    spinner: Option<ProgressBar>,
    files: HashMap<Arc<str>, ProgressBar>,
    total: Option<ProgressBar>,
    /// Sizes announced so far, for the total bar.
    sizes: HashMap<Arc<str>, u64>,
    last_status: Option<String>,
}

impl Display {
    pub fn new(mode: Mode) -> Display {
        let state = State {
            bars: matches!(mode, Mode::Bars { .. })
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            ..State::default()
        };
        Display {
            mode,
            started: Instant::now(),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Clears the bars and prints the summary.
    pub fn finish(&self, manifest: Option<&Manifest>, dir: &Path) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(spinner) = state.spinner.take() {
            spinner.finish_and_clear();
        }
        for bar in state.files.values() {
            bar.finish_and_clear();
        }
        if let Some(total) = state.total.take() {
            total.finish_and_clear();
        }
        if let Some(bars) = &state.bars {
            let _ = bars.clear();
        }
        drop(state);
        if let (Some(manifest), false) = (manifest, self.mode == Mode::Quiet) {
            let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
            self.line(&format!(
                "done: {} files, {} in {}; manifest: {}",
                manifest.files.len(),
                HumanBytes(bytes),
                HumanDuration(self.started.elapsed()),
                dir.join(fetch_assets::MANIFEST_FILE).display()
            ));
        }
    }

    fn line(&self, text: &str) {
        let stamped = match self.mode {
            Mode::Lines { .. } => format!(
                "{} {text}",
                humantime::format_rfc3339_seconds(SystemTime::now())
            ),
            _ => text.to_owned(),
        };
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &state.bars {
            Some(bars) if !bars.is_hidden() => {
                let _ = bars.println(&stamped);
            }
            _ => {
                let _ = writeln!(std::io::stderr(), "{stamped}");
            }
        }
    }

    fn waiting(&self, text: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.last_status.as_deref() == Some(&text) {
            return;
        }
        state.last_status = Some(text.clone());
        if let Some(bars) = state.bars.clone() {
            let spinner = state.spinner.get_or_insert_with(|| {
                let spinner = bars.add(ProgressBar::new_spinner());
                spinner.enable_steady_tick(Duration::from_millis(120));
                spinner
            });
            spinner.set_message(text);
        } else {
            drop(state);
            self.line(&text);
        }
    }

    fn planned(&self, files: &[fetch_assets::PlannedFile]) {
        let verbose = self.mode.verbose();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(spinner) = state.spinner.take() {
            spinner.finish_and_clear();
        }
        let Some(bars) = state.bars.clone() else {
            drop(state);
            self.line(&format!(
                "task succeeded: downloading {} files",
                files.len()
            ));
            if verbose {
                for file in files {
                    self.line(&format!("  {} <- {}", file.file, file.source));
                }
            }
            return;
        };
        let width = files.iter().map(|f| f.file.len()).max().unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{prefix:{width}}} [{{bar:30}}] {{bytes:>10}}/{{total_bytes:<10}} {{binary_bytes_per_sec:>12}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        for file in files {
            let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
            bar.set_prefix(file.file.to_string());
            state.files.insert(file.file.clone(), bar);
        }
        let total_style = ProgressStyle::with_template(&format!(
            "{{prefix:{width}}} [{{bar:30}}] {{bytes:>10}}/{{total_bytes:<10}} {{binary_bytes_per_sec:>12}}  ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("## ");
        let total = bars.add(ProgressBar::new(0).with_style(total_style));
        total.set_prefix("total");
        state.total = Some(total);
    }
}

fn waiting_text(
    status: &TaskStatus,
    progress: Option<u8>,
    queue: Option<u32>,
    estimate: Option<Duration>,
) -> String {
    let mut text = format!("task {status}");
    if let (TaskStatus::Queued, Some(position)) = (status, queue) {
        text.push_str(&format!(", position {position} in the queue"));
    }
    if let (TaskStatus::Running, Some(progress)) = (status, progress) {
        text.push_str(&format!(", {progress}%"));
    }
    if let Some(estimate) = estimate.filter(|e| !e.is_zero()) {
        text.push_str(&format!(", about {} left", HumanDuration(estimate)));
    }
    text
}

impl Observer for Display {
    fn event(&self, event: &Event) {
        if self.mode == Mode::Quiet {
            return;
        }
        let verbose = self.mode.verbose();
        match event {
            Event::TaskPolled {
                status,
                progress,
                queue_position,
                estimate,
                trace_id,
            } => {
                let mut text = waiting_text(status, *progress, *queue_position, *estimate);
                if verbose {
                    if let Some(trace) = trace_id {
                        text.push_str(&format!(" [trace id {trace}]"));
                    }
                }
                self.waiting(text);
            }
            Event::ApiRetry {
                retry,
                delay,
                cause,
            } => self.line(&format!(
                "API: {cause}; retry {retry} in {}",
                HumanDuration(*delay)
            )),
            Event::Planned { files } => self.planned(files),
            Event::Kept { files } => self.line(&format!(
                "already complete and verified, kept: {}",
                files.join(", ")
            )),
            Event::TransferStarted { file, size, offset } => {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(size) = size {
                    state.sizes.insert(file.clone(), *size);
                }
                let all: u64 = state.sizes.values().sum();
                if let Some(bar) = state.files.get(file) {
                    bar.set_length(size.unwrap_or(0));
                    bar.set_position(*offset);
                }
                if let Some(total) = &state.total {
                    total.set_length(all);
                }
                let plain = state.bars.is_none();
                drop(state);
                if plain && (verbose || *offset > 0) {
                    let size = size
                        .map(|s| HumanBytes(s).to_string())
                        .unwrap_or("unknown size".into());
                    self.line(&format!("{file}: receiving {size} from byte {offset}"));
                }
            }
            Event::TransferProgress { file, bytes } => {
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(bar) = state.files.get(file) {
                    bar.inc(*bytes);
                }
                if let Some(total) = &state.total {
                    total.inc(*bytes);
                }
            }
            Event::TransferRetry {
                file,
                retry,
                delay,
                cause,
                resume_from,
            } => self.line(&format!(
                "{file}: {cause}; retry {retry} in {}, from byte {resume_from}",
                HumanDuration(*delay)
            )),
            Event::TransferRestarted { file } => {
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(bar) = state.files.get(file) {
                    if let Some(total) = &state.total {
                        total.set_position(total.position().saturating_sub(bar.position()));
                    }
                    bar.set_position(0);
                }
                drop(state);
                self.line(&format!(
                    "{file}: the server ignored the resume request; starting over"
                ));
            }
            Event::LinkExpired { file, cause } => {
                self.line(&format!("{file}: {cause}; fetching fresh links"))
            }
            Event::LinksRefreshed { trace_id } => {
                let trace = match (verbose, trace_id) {
                    (true, Some(trace)) => format!(" [trace id {trace}]"),
                    _ => String::new(),
                };
                self.line(&format!("links refreshed{trace}"));
            }
            Event::FileDone {
                file,
                path,
                size,
                sha256,
            } => {
                let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(bar) = state.files.get(file) {
                    bar.finish();
                }
                let plain = state.bars.is_none();
                drop(state);
                if plain {
                    let hash = if verbose {
                        format!(" sha256 {sha256}")
                    } else {
                        String::new()
                    };
                    self.line(&format!("{path}: done, {}{hash}", HumanBytes(*size)));
                }
            }
            Event::ManifestWritten { path } if verbose => {
                self.line(&format!("wrote {}", path.display()));
            }
            _ => {}
        }
    }
}
