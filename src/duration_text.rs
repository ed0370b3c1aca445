//! A duration as the messages write it: `30s`, `1m 30s`, `2h 5ms`. Each
//! unit that is not zero, largest first, separated by spaces; nothing but
//! `0s` for zero. The text is the one the messages have always printed (a
//! year is 365.25 days, a month 30.44), so a script matching on a message
//! keeps matching.

use std::fmt;
use std::time::Duration;

/// `Display` for a [`Duration`] in the messages' units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationText(pub Duration);

/// The units of whole seconds, each with its length in seconds and whether
/// it takes an `s` when more than one.
const SECOND_UNITS: [(&str, u64, bool); 6] = [
    ("year", 31_557_600, true),
    ("month", 2_630_016, true),
    ("day", 86_400, true),
    ("h", 3_600, false),
    ("m", 60, false),
    ("s", 1, false),
];

/// The units below a second, with their length in nanoseconds.
const SUBSECOND_UNITS: [(&str, u32); 3] = [("ms", 1_000_000), ("us", 1_000), ("ns", 1)];

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        let mut parts = Vec::new();
        let mut seconds = self.0.as_secs();
        for (name, length, plural) in SECOND_UNITS {
            let count = seconds / length;
            seconds %= length;
            if count > 0 {
                let s = if plural && count > 1 { "s" } else { "" };
                parts.push(format!("{count}{name}{s}"));
            }
        }
        let mut nanos = self.0.subsec_nanos();
        for (name, length) in SUBSECOND_UNITS {
            let count = nanos / length;
            nanos %= length;
            if count > 0 {
                parts.push(format!("{count}{name}"));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_that_is_not_zero_largest_first() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m 30s"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(3_661), "1h 1m 1s"),
            (Duration::from_millis(1_500), "1s 500ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::new(0, 1_001_001), "1ms 1us 1ns"),
            (Duration::from_secs(86_400), "1day"),
            (Duration::from_secs(2 * 86_400 + 5), "2days 5s"),
            (Duration::from_secs(2_630_016), "1month"),
            (Duration::from_secs(31_557_600), "1year"),
            (
                Duration::from_secs(2 * 31_557_600 + 3 * 2_630_016 + 60),
                "2years 3months 1m",
            ),
            (
                Duration::from_secs(u64::MAX),
                "584542046090years 7months 15days 17h 5m 3s",
            ),
        ];
        for (duration, text) in cases {
            assert_eq!(DurationText(duration).to_string(), text, "{duration:?}");
        }
    }
}
