//! What the command shows on stderr while it runs: bars on a terminal,
//! plain timestamped lines elsewhere (CI logs), nothing with `--quiet`.
//! The displays only render the library's events; the library never draws.
//!
//! - [`fetch`]: a single fetch; [`batch`]: many tasks; [`listen`]: the
//!   webhook receiver's log.
//! - [`lines`]: what every line says, the one place events become words.
//! - [`fit`]: text fitted to the terminal's width, and short figures.
//! - here: the toolkit the displays share: the [`Mode`], printing a line
//!   (above the bars or timestamped), a bar's style, a log's pace.

pub mod batch;
pub mod fetch;
pub mod fit;
pub mod lines;
pub mod listen;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use console::Style;
use indicatif::{MultiProgress, ProgressState, ProgressStyle};

use self::fit::{AMOUNT_WIDTH, RATE_WIDTH, Row, short};
use self::lines::{Level, Mark};

/// How a run is shown.
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

    /// How much the lines say.
    pub fn level(self) -> Level {
        match self {
            Mode::Quiet => Level::Quiet,
            Mode::Lines { verbose } | Mode::Bars { verbose } => Level::of(false, verbose),
        }
    }
}

/// The label of the total bar.
pub const TOTAL: &str = "total";

/// Prints one line above the bars of `multi` (wrapped to the terminal's
/// width, after the mark's sign), or, without bars, one timestamped log line.
pub fn print_line(multi: Option<&MultiProgress>, mark: Mark, text: &str) {
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
            let now = rfc3339_seconds(jiff::Timestamp::now());
            let _ = writeln!(std::io::stderr().lock(), "{now} {text}");
        }
    }
}

/// A log line's time: `2026-11-28T17:34:05Z`, whole seconds (cut, not
/// rounded), UTC.
fn rfc3339_seconds(at: jiff::Timestamp) -> String {
    format!("{at:.0}")
}

/// A bar's style: its whole line rendered by [`fit::Row`] at the width the
/// terminal has at each draw; the total also shows its ETA where it fits.
pub fn bar_style(name: &str, name_width: usize, colour: Style, total: bool) -> ProgressStyle {
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

/// How often a log gets a progress line for a transfer still going: 5 s,
/// or `FETCH_ASSETS_PROGRESS_INTERVAL` (a duration: `200ms`, `30s`), which
/// the tests set short.
pub fn log_every() -> Duration {
    std::env::var("FETCH_ASSETS_PROGRESS_INTERVAL")
        .ok()
        .and_then(|text| crate::units::parse_duration(&text).ok())
        .filter(|every| !every.is_zero())
        .unwrap_or(Duration::from_secs(5))
}

/// When something that runs long is next due a progress line in a log.
pub struct Pace {
    since: Instant,
    at: u64,
}

impl Pace {
    /// Starting now, at `at` bytes.
    pub fn new(at: u64) -> Pace {
        Pace {
            since: Instant::now(),
            at,
        }
    }

    /// Once `every` has passed since the last line (or the start): the
    /// bytes a second since then, and the clock starts again.
    pub fn due(&mut self, every: Duration, done: u64) -> Option<f64> {
        let elapsed = self.since.elapsed();
        if elapsed < every {
            return None;
        }
        let rate = done.saturating_sub(self.at) as f64 / elapsed.as_secs_f64();
        *self = Pace::new(done);
        Some(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_stamped_in_whole_utc_seconds() {
        let cases = [
            ((0, 0), "1970-01-01T00:00:00Z"),
            ((1_795_887_245, 0), "2026-11-28T17:34:05Z"),
            ((1_795_887_245, 999_999_999), "2026-11-28T17:34:05Z"),
        ];
        for ((second, nanosecond), text) in cases {
            let at = jiff::Timestamp::new(second, nanosecond).expect("a valid time");
            assert_eq!(rfc3339_seconds(at), text);
        }
    }
}
