//! Lines and bars that fit the terminal's width, whatever it is, and the
//! short figures they show (sizes, rates, durations). A bar shrinks and
//! drops its less useful figures before a name is elided (in
//! the middle, so the end that tells files apart stays), and a message
//! wraps at spaces rather than being cut. Pure text in, text out, so every
//! width is a unit test; the display asks [`width`] at each draw, so a
//! resized terminal is followed.

use std::fmt::Write as _;
use std::time::Duration;

use console::{Style, measure_text_width};

/// The columns a line may fill: one fewer than the terminal (stderr) has,
/// 80 when it cannot tell. A line that reaches the last column is where
/// terminals differ on wrapping, and the bars redraw by counting lines.
pub fn width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, cols)| usize::from(cols))
        .saturating_sub(1)
}

/// Before the name of every bar.
const INDENT: &str = "  ";
/// A bar narrower than this says little: figures go first.
const MIN_BAR: usize = 8;
/// A bar wider than this says no more.
const MAX_BAR: usize = 40;
/// A name is elided to no fewer columns than this while a bar is drawn.
const MIN_NAME: usize = 10;
/// The width of `amount`'s text, aligned across bars: `1023.9/1023.9 MiB`.
pub const AMOUNT_WIDTH: usize = 17;
/// The width of `rate`'s text: `1023.9 MiB/s`.
pub const RATE_WIDTH: usize = 12;

/// One bar's line: `  name [=====>    ] figures...`.
pub struct Row<'a> {
    /// What the bar is for (a file name, a task id, `total`).
    pub name: &'a str,
    /// The name column's width, the same for every bar so they line up.
    pub name_width: usize,
    /// How full the bar is, 0 to 1.
    pub fraction: f32,
    /// The bar's colour.
    pub style: &'a Style,
    /// The figures after the bar, most useful first, each padded to its
    /// column's width; the last ones go first when the line is short.
    pub figures: &'a [String],
    /// The one figure left when no other fits (a percentage).
    pub short: &'a str,
    /// Shown after everything else only when it fits (a total's ETA); it
    /// never narrows the bar, so all bars keep one width.
    pub tail: &'a str,
}

impl Row<'_> {
    /// The line, at most `width` columns wide.
    pub fn render(&self, width: usize) -> String {
        let bracketed = 1 + 2; // " [" before the bar, "]" after
        let name_width = self.name_width.max(measure_text_width(self.name));
        // The whole name, with as many figures as leave room for a bar.
        for kept in (1..=self.figures.len()).rev() {
            let figures = &self.figures[..kept];
            let rest = INDENT.len()
                + name_width
                + bracketed
                + figures
                    .iter()
                    .map(|f| 1 + measure_text_width(f))
                    .sum::<usize>();
            if width >= rest + MIN_BAR {
                let bar = (width - rest).min(MAX_BAR);
                let mut line = self.line(self.name, name_width, bar, figures);
                if !self.tail.is_empty() && rest + bar + 1 + measure_text_width(self.tail) <= width
                {
                    let _ = write!(line, " {}", self.tail);
                }
                return line;
            }
        }
        // The short figure, the name elided as far as it must be.
        let short = [self.short.to_owned()];
        let rest = INDENT.len() + bracketed + 1 + measure_text_width(self.short);
        let fits = name_width.min(MIN_NAME);
        if width >= rest + fits + MIN_BAR {
            let name_width = name_width.min(width - rest - MIN_BAR);
            let bar = (width - rest - name_width).min(MAX_BAR);
            return self.line(&elide(self.name, name_width), name_width, bar, &short);
        }
        // No bar at all: the name and the figure, or what fits of them.
        let room = width.saturating_sub(INDENT.len() + 1 + measure_text_width(self.short));
        if room >= 1 {
            format!(
                "{INDENT}{} {}",
                elide(self.name, room.min(name_width)),
                self.short
            )
        } else {
            console::truncate_str(self.short, width, "").into_owned()
        }
    }

    fn line(&self, name: &str, name_width: usize, bar: usize, figures: &[String]) -> String {
        let filled = ((self.fraction.clamp(0.0, 1.0) * bar as f32) as usize).min(bar);
        let head = if filled > 0 && filled < bar { 1 } else { 0 };
        let drawn = format!(
            "{}{}",
            "=".repeat(filled.saturating_sub(head)),
            ">".repeat(head)
        );
        // Colour codes only around something drawn.
        let drawn = if drawn.is_empty() {
            drawn
        } else {
            self.style.apply_to(drawn).to_string()
        };
        let pad = name_width.saturating_sub(measure_text_width(name));
        let mut line = format!(
            "{INDENT}{name}{} [{drawn}{}]",
            " ".repeat(pad),
            " ".repeat(bar - filled.max(head))
        );
        for figure in figures {
            let _ = write!(line, " {figure}");
        }
        line
    }
}

/// `name` in at most `width` columns: whole when it fits, else with its
/// middle replaced by `…`, two thirds of what is kept from its end, which
/// tells similar names apart (`mul…ront.png`, `mul…left.png`).
pub fn elide(name: &str, width: usize) -> String {
    if measure_text_width(name) <= width {
        return name.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let chars: Vec<char> = name.chars().collect();
    let head = (width - 1) / 3;
    let tail = width - 1 - head;
    let start: String = chars[..head.min(chars.len())].iter().collect();
    let end: String = chars[chars.len().saturating_sub(tail)..].iter().collect();
    format!("{start}…{end}")
}

/// `text` broken at spaces into lines of at most `width` columns, each
/// after the first starting with `indent`; a word longer than a line is
/// broken where it must be. Nothing is dropped.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let width = width.max(measure_text_width(indent) + 1);
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let continued = lines.len() > 1;
        let line = lines.last_mut().expect("one line at least");
        let used = measure_text_width(line);
        let fresh = used == 0 || (continued && used == measure_text_width(indent));
        let needed = measure_text_width(word) + usize::from(!fresh);
        if used + needed <= width {
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        // A new line for the word, broken where it is wider than a line.
        let mut rest = word;
        if !fresh {
            lines.push(indent.to_owned());
        }
        loop {
            let line = lines.last_mut().expect("one line at least");
            let room = width - measure_text_width(line);
            let piece = console::truncate_str(rest, room, "");
            let piece = if piece.is_empty() {
                // One character wider than the room (a wide glyph): take it anyway.
                rest.chars().next().map(String::from).unwrap_or_default()
            } else {
                piece.into_owned()
            };
            line.push_str(&piece);
            rest = rest.get(piece.len()..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            lines.push(indent.to_owned());
        }
    }
    lines.join("\n")
}

/// The waiting spinner's text after the spinner: `task queued, position 3
/// in the queue, about 12s left  [4s]`, dropping the elapsed time and then
/// the end of the message when short of room.
pub fn status(message: &str, left: &str, elapsed: Duration, width: usize) -> String {
    let full = format!("{message}{left}  [{}]", short(elapsed));
    if measure_text_width(&full) <= width {
        return full;
    }
    let without_elapsed = format!("{message}{left}");
    if measure_text_width(&without_elapsed) <= width {
        return without_elapsed;
    }
    console::truncate_str(&without_elapsed, width, "…").into_owned()
}

/// A size in one decimal: `512 B`, `1.5 KiB`, `38.1 MiB`.
pub fn size(bytes: u64) -> String {
    let (value, unit) = scaled(bytes, bytes);
    match unit {
        "B" => format!("{bytes} B"),
        unit => format!("{value:.1} {unit}"),
    }
}

/// Where a transfer stands, in its total's unit: `38.1/40.0 MiB`; just
/// `38.1 MiB` while the total is unknown.
pub fn amount(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) if total > 0 => {
            let (whole, unit) = scaled(total, total);
            let (part, _) = scaled(done, total);
            match unit {
                "B" => format!("{done}/{total} B"),
                unit => format!("{part:.1}/{whole:.1} {unit}"),
            }
        }
        _ => size(done),
    }
}

/// `12.3 MiB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    format!("{}/s", size(bytes_per_second.max(0.0) as u64))
}

/// `40%`, or nothing while the total is unknown.
pub fn percent(done: u64, total: Option<u64>) -> String {
    match total {
        Some(total) if total > 0 => format!("{}%", done.min(total) * 100 / total),
        _ => String::new(),
    }
}

/// `bytes` in the unit `reference` reads best in.
fn scaled(bytes: u64, reference: u64) -> (f64, &'static str) {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut reference = reference as f64;
    let mut value = bytes as f64;
    while reference >= 1024.0 && unit < UNITS.len() - 1 {
        reference /= 1024.0;
        value /= 1024.0;
        unit += 1;
    }
    (value, UNITS[unit])
}

/// A duration as people read it in a log: `0.2s`, `3.1s`, `42s`, `2m 05s`, `1h 02m`.
pub fn short(d: Duration) -> String {
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

/// `text` padded on the left to `width` columns.
pub fn right(text: &str, width: usize) -> String {
    format!(
        "{}{text}",
        " ".repeat(width.saturating_sub(measure_text_width(text)))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(name: &'a str, figures: &'a [String], style: &'a Style) -> Row<'a> {
        Row {
            name,
            name_width: 21,
            fraction: 0.5,
            style,
            figures,
            short: " 50%",
            tail: "",
        }
    }

    #[test]
    fn a_bar_fits_every_width_and_gives_up_figures_before_the_name() {
        let style = Style::new();
        let figures = [
            right(&amount(20 << 20, Some(40 << 20)), AMOUNT_WIDTH),
            right(&rate(3.0 * 1048576.0), RATE_WIDTH),
        ];
        let row = row("multiview_0_front.png", &figures, &style);
        for width in 1..=160 {
            let line = row.render(width);
            assert!(
                measure_text_width(&line) <= width,
                "{width}: {line:?} is too wide"
            );
        }
        let at = |width| row.render(width);
        assert!(at(100).contains("multiview_0_front.png") && at(100).contains("3.0 MiB/s"));
        assert!(at(100).contains("20.0/40.0 MiB"), "{}", at(100));
        assert!(at(80).contains("multiview_0_front.png") && at(80).contains("MiB/s"));
        let sixty = at(60);
        assert!(
            sixty.contains("multiview_0_front.png") && sixty.contains("20.0/40.0 MiB"),
            "the rate goes first: {sixty}"
        );
        assert!(!sixty.contains("/s"), "{sixty}");
        let forty = at(40);
        assert!(
            forty.contains("multiview_0_front.png") && forty.ends_with("50%"),
            "{forty}"
        );
        let thirty = at(30);
        assert!(
            thirty.contains('…') && thirty.contains("ont.png"),
            "{thirty}"
        );
        assert!(thirty.contains('['), "still a bar at 30: {thirty}");
        assert!(at(16).ends_with("50%"), "{}", at(16));
    }

    #[test]
    fn bars_line_up_whatever_their_names() {
        let style = Style::new();
        let figures = [right(&amount(1, Some(2)), AMOUNT_WIDTH)];
        for width in [60, 80, 100] {
            let long = row("multiview_0_front.png", &figures, &style).render(width);
            let short = row("model.glb", &figures, &style).render(width);
            assert_eq!(long.find('['), short.find('['), "{long}\n{short}");
            assert_eq!(long.len(), short.len(), "{long}\n{short}");
        }
    }

    #[test]
    fn a_tail_shows_only_where_it_fits_and_never_narrows_the_bar() {
        let style = Style::new();
        let figures = [right(&amount(1, Some(2)), AMOUNT_WIDTH)];
        let mut total = row("total", &figures, &style);
        total.tail = "ETA 5s";
        let plain = row("total", &figures, &style);
        for width in [60, 70, 100] {
            let with = total.render(width);
            assert!(measure_text_width(&with) <= width);
            assert_eq!(with.find(']'), plain.render(width).find(']'));
        }
        assert!(total.render(100).ends_with(" ETA 5s"));
    }

    #[test]
    fn names_are_elided_in_the_middle() {
        assert_eq!(elide("model.glb", 20), "model.glb");
        assert_eq!(elide("multiview_0_front.png", 12), "mul…ront.png");
        let views = ["front", "left", "back", "right"].map(|view| {
            let elided = elide(&format!("multiview_0_{view}.png"), 10);
            assert_eq!(measure_text_width(&elided), 10);
            elided
        });
        let distinct: std::collections::HashSet<_> = views.iter().collect();
        assert_eq!(distinct.len(), 4, "{views:?}");
        assert_eq!(elide("abc", 1), "…");
        assert_eq!(elide("abc", 0), "");
    }

    #[test]
    fn wrapped_lines_keep_every_word_within_the_width() {
        let text = "base_model.glb: the connection broke at byte 3000000; retry 1 in 0.2s";
        let wrapped = wrap(text, 40, "  ");
        assert!(
            wrapped.lines().all(|l| measure_text_width(l) <= 40),
            "{wrapped}"
        );
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("  ")));
        let words: Vec<&str> = wrapped.split_whitespace().collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
        let path = format!("manifest: /{}", "x".repeat(90));
        let wrapped = wrap(&path, 30, "  ");
        assert!(
            wrapped.lines().all(|l| measure_text_width(l) <= 30),
            "{wrapped}"
        );
        assert_eq!(wrapped.replace("\n  ", ""), path.replace(' ', ""));
        assert_eq!(wrap("short", 80, "  "), "short");
    }

    #[test]
    fn figures_read_short() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(amount(20 << 20, Some(40 << 20)), "20.0/40.0 MiB");
        assert_eq!(amount(900 << 10, Some(1200 << 10)), "0.9/1.2 MiB");
        assert_eq!(amount(5, None), "5 B");
        assert_eq!(amount(5, Some(10)), "5/10 B");
        assert_eq!(percent(1, Some(3)), "33%");
        assert_eq!(percent(1, None), "");
        assert_eq!(rate(2.5 * 1048576.0), "2.5 MiB/s");
        let widest = amount(1023 << 20, Some((1024 << 20) - 1));
        assert!(widest.len() <= AMOUNT_WIDTH, "{widest}");
    }

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

    #[test]
    fn the_status_loses_the_clock_then_its_end() {
        let elapsed = Duration::from_secs(4);
        let left = ", about 12s left";
        assert_eq!(
            status("task queued", left, elapsed, 80),
            "task queued, about 12s left  [4s]"
        );
        assert_eq!(
            status("task queued", left, elapsed, 30),
            "task queued, about 12s left"
        );
        let cut = status("task queued", left, elapsed, 20);
        assert!(
            measure_text_width(&cut) <= 20 && cut.ends_with('…'),
            "{cut}"
        );
    }
}
