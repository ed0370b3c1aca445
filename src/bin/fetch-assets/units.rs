//! What people type for durations and sizes, read into numbers: the
//! command line's `--timeout`, `--stall-timeout`, `--max-size`, and the
//! tests' `FETCH_ASSETS_PROGRESS_INTERVAL`.

use std::time::Duration;

use jiff::SpanRelativeTo;
use jiff::fmt::friendly::SpanParser;

/// `90s`, `5m`, `1h30m`, or plain seconds (`90`, `1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        // Longer than a Duration holds (1e20 s) is as good as for ever.
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
        }
        Ok(_) => None,
        Err(_) => with_units(text),
    };
    parsed.ok_or_else(|| {
        format!("'{text}' is not a duration: write 90s, 5m, 1h, or a number of seconds")
    })
}

/// A duration in jiff's friendly format: units from `ns` to `w`, long or
/// short (`90s`, `5m`, `1h30m`, `1h 30m`, `2 hours`, `1.5h`, `500ms`,
/// `1d`), largest first, a fraction on the last one only; a day is 24
/// hours. Never negative (`-5m`, `5m ago`), and no months or years, whose
/// length depends on the date. Its other spellings (`1h, 30m`, `01:30:00`,
/// `1,5h`) were never accepted here, and still are not.
fn with_units(text: &str) -> Option<Duration> {
    if text.contains([',', ':']) {
        return None;
    }
    static PARSER: SpanParser = SpanParser::new();
    if let Ok(duration) = PARSER.parse_unsigned_duration(text) {
        return Some(duration);
    }
    // Days and weeks: a span, at 24 hours a day.
    let span = PARSER.parse_span(text).ok()?;
    let duration = span.to_duration(SpanRelativeTo::days_are_24_hours()).ok()?;
    Duration::try_from(duration).ok()
}

/// A size: plain bytes, or a number with a unit (`kB`, `MB`, `GB`, `TB` in
/// powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` in powers of 1024; case and a
/// space before the unit do not matter).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let factor: Option<f64> = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => Some(1.0),
        "k" | "kb" => Some(1e3),
        "m" | "mb" => Some(1e6),
        "g" | "gb" => Some(1e9),
        "t" | "tb" => Some(1e12),
        "kib" => Some(1024.0),
        "mib" => Some(1024.0 * 1024.0),
        "gib" => Some(1024.0 * 1024.0 * 1024.0),
        "tib" => Some(1024.0 * 1024.0 * 1024.0 * 1024.0),
        _ => None,
    };
    match (number.parse::<f64>(), factor) {
        (Ok(n), Some(factor)) if n.is_finite() && n >= 0.0 => {
            // Past what a u64 counts is as good as no limit.
            Ok((n * factor).min(u64::MAX as f64) as u64)
        }
        _ => Err(format!(
            "'{trimmed}' is not a size: write bytes, or 500MB, 4GiB, ..."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let secs = Duration::from_secs;
        let cases = [
            ("90s", secs(90)),
            ("5m", secs(300)),
            ("1h", secs(3600)),
            ("30m", secs(1800)),
            ("30s", secs(30)),
            ("10m", secs(600)),
            ("1h30m", secs(5400)),
            ("1h 30m", secs(5400)),
            ("1h30m15s", secs(5415)),
            ("2 hours", secs(7200)),
            ("2 hours 30 minutes", secs(9000)),
            ("1hr", secs(3600)),
            ("2hrs", secs(7200)),
            ("1min", secs(60)),
            ("3mins", secs(180)),
            ("1sec", secs(1)),
            ("1 second", secs(1)),
            ("45 seconds", secs(45)),
            ("1.5h", secs(5400)),
            ("0.5s", Duration::from_millis(500)),
            ("400ms", Duration::from_millis(400)),
            ("200ms", Duration::from_millis(200)),
            ("1msec", Duration::from_millis(1)),
            ("7us", Duration::from_micros(7)),
            ("7µs", Duration::from_micros(7)),
            ("9ns", Duration::from_nanos(9)),
            ("1d", secs(86_400)),
            ("2 days", secs(172_800)),
            ("1w", secs(604_800)),
            ("1d 2h", secs(93_600)),
            ("0s", Duration::ZERO),
            (" 90s ", secs(90)),
            ("90", secs(90)),
            ("1.5", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
            ("1e20", Duration::MAX),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_duration_is_refused_in_words() {
        for bad in [
            "",
            "soon",
            "-1",
            "-5m",
            "5m ago",
            "inf",
            "NaN",
            "5 parsecs",
            "1y",
            "2 months",
        ] {
            let refused = parse_duration(bad).expect_err(bad);
            assert!(
                refused.contains("is not a duration: write 90s, 5m, 1h"),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5kib"), Ok(1536));
        for bad in ["", "-1", "lots", "4 GiBs", "1.2.3", "1e30"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
