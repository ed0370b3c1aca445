//! Parts at once, decided: whether a file is fetched in parts, how what it
//! lacks is cut into parts, which part an idle connection takes half of,
//! and what the CDN's answer to one part means. Pure, so each case is a
//! row of a table test; `parts.rs` runs the connections.

use std::time::Duration;

use super::decide::{self, Answer, Asked, Step};
use crate::error::DownloadCause;

/// Below this size one connection does as well: parts only cost requests.
pub(super) const MIN_SIZE: u64 = 8 << 20;
/// A part with less than twice this left is not split again: the request
/// for its second half would cost more than it gains.
pub(super) const MIN_STEAL: u64 = 1 << 20;

/// The bytes `[start, end)` of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub(super) fn len(self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// The most one request of a part asks for: a connection's part is asked
/// for in pieces, so that another connection taking its second half never
/// wastes bytes already on their way.
pub(super) fn request_len(total: u64) -> u64 {
    (total / 32).clamp(2 << 20, 16 << 20)
}

/// Whether a file of `total` bytes is fetched in parts over `connections`
/// (at most): only when the CDN serves ranges of it (`ranges`: a `206`, or
/// `Accept-Ranges: bytes`), `If-Range` can name its version (so no part
/// can be of another), and it is big enough to gain.
pub(super) fn worth_parts(total: u64, ranges: bool, if_range: bool, connections: usize) -> bool {
    connections > 1 && ranges && if_range && total >= MIN_SIZE
}

/// What the file lacks, `have` being the spans it holds (sorted, apart).
pub(super) fn missing(have: &[Span], total: u64) -> Vec<Span> {
    let mut gaps = Vec::new();
    let mut at = 0;
    for span in have {
        if span.start > at {
            gaps.push(Span {
                start: at,
                end: span.start.min(total),
            });
        }
        at = at.max(span.end);
    }
    if at < total {
        gaps.push(Span {
            start: at,
            end: total,
        });
    }
    gaps
}

/// Adds `span` to `have` (sorted, apart): spans that touch become one.
pub(super) fn add(have: &mut Vec<Span>, span: Span) {
    if span.len() == 0 {
        return;
    }
    have.push(span);
    have.sort_by_key(|s| s.start);
    let mut merged: Vec<Span> = Vec::with_capacity(have.len());
    for span in have.drain(..) {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    *have = merged;
}

/// Cuts `missing` into parts for `connections`: each gap into pieces of
/// about an equal share of all that is missing (never below
/// [`MIN_STEAL`]), in file order, so the first connection streams where
/// the hash is.
pub(super) fn split(missing: &[Span], connections: usize) -> Vec<Span> {
    let all: u64 = missing.iter().map(|s| s.len()).sum();
    let share = all.div_ceil(connections.max(1) as u64).max(MIN_STEAL);
    let mut parts = Vec::new();
    for gap in missing.iter().filter(|g| g.len() > 0) {
        let pieces = gap.len().div_ceil(share);
        let size = gap.len().div_ceil(pieces);
        let mut start = gap.start;
        while start < gap.end {
            let end = (start + size).min(gap.end);
            parts.push(Span { start, end });
            start = end;
        }
    }
    parts
}

/// Which running part an idle connection takes the second half of: the
/// one with the most left (`left[i]` is part `i`'s next byte and end),
/// if that is worth a request. Gives the part's index and where its
/// second half begins.
pub(super) fn steal(left: &[Span]) -> Option<(usize, u64)> {
    let (index, most) = left
        .iter()
        .enumerate()
        .max_by_key(|(index, span)| (span.len(), std::cmp::Reverse(*index)))?;
    (most.len() >= 2 * MIN_STEAL).then(|| (index, most.start + most.len() / 2))
}

/// What the CDN's answer to one part means.
#[derive(Debug)]
pub(super) enum PartStep {
    /// The bytes asked for, of the version the others are: stream them.
    Stream,
    /// The CDN will not serve parts of this version (another version, a
    /// `200`, a range not asked, a `416`): the file goes back to one stream
    /// from its first byte, never a file of two versions.
    OneStream(DownloadCause),
    /// The link was refused: renew it (once for all parts) and ask again.
    Refused(DownloadCause),
    /// Worth another try, after a pause.
    Retry {
        cause: DownloadCause,
        retry_after: Option<Duration>,
    },
    /// Not worth another try.
    Fail(DownloadCause),
}

/// The step for `answer` to the request for `asked` of a file of `total`
/// bytes (`link` as it may be shown, for a final refusal's message).
pub(super) fn answer(asked: Span, total: u64, answer: &Answer<'_>, link: &str) -> PartStep {
    match answer.status {
        206 if answer.other_version => PartStep::OneStream(DownloadCause::NewVersion),
        206 => match answer.content_range.and_then(decide::parse_content_range) {
            Some((start, last, whole))
                if start == asked.start && last + 1 == asked.end && whole == total =>
            {
                PartStep::Stream
            }
            _ => PartStep::OneStream(DownloadCause::WrongRange),
        },
        200 => PartStep::OneStream(DownloadCause::WrongRange),
        416 => PartStep::OneStream(DownloadCause::Status { status: 416 }),
        _ => {
            let asked = Asked {
                from: asked.start,
                known_total: Some(total),
            };
            match decide::decide(asked, answer, link) {
                Step::Refused(cause) => PartStep::Refused(cause),
                Step::RetryAfter { cause, retry_after } => PartStep::Retry { cause, retry_after },
                Step::Fail(cause) => PartStep::Fail(cause),
                // 200, 206 and 416 are answered above.
                other => PartStep::Fail(DownloadCause::Rejected {
                    status: answer.status,
                    link: format!("{link} ({other:?})"),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn span(start: u64, end: u64) -> Span {
        Span { start, end }
    }

    #[test]
    fn only_a_big_file_from_a_cdn_that_serves_ranges_of_one_version_goes_in_parts() {
        let rows = [
            // total, ranges, if_range, connections, expected
            (48 * MIB, true, true, 8, true),
            (MIN_SIZE, true, true, 2, true),
            (MIN_SIZE - 1, true, true, 8, false),
            (48 * MIB, false, true, 8, false),
            (48 * MIB, true, false, 8, false),
            (48 * MIB, true, true, 1, false),
        ];
        for (total, ranges, if_range, connections, expected) in rows {
            assert_eq!(
                worth_parts(total, ranges, if_range, connections),
                expected,
                "{total} {ranges} {if_range} {connections}"
            );
        }
    }

    #[test]
    fn what_is_missing_is_the_gaps_between_what_the_file_holds() {
        let rows: [(&[Span], u64, &[Span]); 5] = [
            (&[], 100, &[span(0, 100)]),
            (&[span(0, 100)], 100, &[]),
            (&[span(0, 10)], 100, &[span(10, 100)]),
            (
                &[span(20, 30), span(50, 60)],
                100,
                &[span(0, 20), span(30, 50), span(60, 100)],
            ),
            (&[span(0, 30), span(30, 100)], 100, &[]),
        ];
        for (have, total, expected) in rows {
            assert_eq!(missing(have, total), expected, "{have:?}");
        }
    }

    #[test]
    fn written_spans_merge_when_they_touch() {
        let rows: [(&[Span], Span, &[Span]); 5] = [
            (&[], span(0, 10), &[span(0, 10)]),
            (&[span(0, 10)], span(10, 20), &[span(0, 20)]),
            (&[span(0, 10)], span(30, 40), &[span(0, 10), span(30, 40)]),
            (&[span(0, 10), span(20, 30)], span(10, 20), &[span(0, 30)]),
            (&[span(5, 10)], span(0, 0), &[span(5, 10)]),
        ];
        for (have, added, expected) in rows {
            let mut have = have.to_vec();
            add(&mut have, added);
            assert_eq!(have, expected, "{added:?}");
        }
    }

    #[test]
    fn the_missing_bytes_are_cut_into_near_equal_parts_in_file_order() {
        let rows: [(&[Span], usize, &[Span]); 5] = [
            (
                &[span(0, 48 * MIB)],
                8,
                &[
                    span(0, 6 * MIB),
                    span(6 * MIB, 12 * MIB),
                    span(12 * MIB, 18 * MIB),
                    span(18 * MIB, 24 * MIB),
                    span(24 * MIB, 30 * MIB),
                    span(30 * MIB, 36 * MIB),
                    span(36 * MIB, 42 * MIB),
                    span(42 * MIB, 48 * MIB),
                ],
            ),
            (
                &[span(0, 10 * MIB)],
                3,
                &[
                    span(0, 3_495_254),
                    span(3_495_254, 6_990_508),
                    span(6_990_508, 10 * MIB),
                ],
            ),
            // Never below MIN_STEAL: a small gap is one part.
            (&[span(0, MIB)], 8, &[span(0, MIB)]),
            // Two gaps of what an earlier run kept: each cut on its own.
            (
                &[span(0, 4 * MIB), span(8 * MIB, 16 * MIB)],
                3,
                &[
                    span(0, 4 * MIB),
                    span(8 * MIB, 12 * MIB),
                    span(12 * MIB, 16 * MIB),
                ],
            ),
            (&[], 8, &[]),
        ];
        for (missing, connections, expected) in rows {
            assert_eq!(split(missing, connections), expected, "{missing:?}");
        }
    }

    #[test]
    fn an_idle_connection_takes_the_second_half_of_the_part_with_most_left() {
        type Row<'a> = (&'a [Span], Option<(usize, u64)>);
        let rows: [Row<'_>; 5] = [
            (
                &[span(0, 4 * MIB), span(10 * MIB, 20 * MIB)],
                Some((1, 15 * MIB)),
            ),
            // Ties go to the earlier part.
            (
                &[span(0, 4 * MIB), span(6 * MIB, 10 * MIB)],
                Some((0, 2 * MIB)),
            ),
            // Not worth a request.
            (&[span(0, 2 * MIB - 1)], None),
            (&[span(0, 2 * MIB)], Some((0, MIB))),
            (&[], None),
        ];
        for (left, expected) in rows {
            assert_eq!(steal(left), expected, "{left:?}");
        }
    }

    fn reply(status: u16, range: Option<&str>, other_version: bool) -> Answer<'_> {
        Answer {
            status,
            content_length: None,
            content_range: range,
            retry_after: None,
            other_version,
        }
    }

    #[test]
    fn each_answer_to_a_part_means_one_step() {
        let asked = span(100, 200);
        let rows = [
            (reply(206, Some("bytes 100-199/1000"), false), "Stream"),
            (
                reply(206, Some("bytes 100-199/1000"), true),
                "OneStream(NewVersion)",
            ),
            (
                reply(206, Some("bytes 4196-4295/1000"), false),
                "OneStream(WrongRange)",
            ),
            (
                reply(206, Some("bytes 100-299/1000"), false),
                "OneStream(WrongRange)",
            ),
            (
                reply(206, Some("bytes 100-199/2000"), false),
                "OneStream(WrongRange)",
            ),
            (reply(206, None, false), "OneStream(WrongRange)"),
            (reply(200, None, false), "OneStream(WrongRange)"),
            (reply(416, Some("bytes */1000"), false), "OneStream(Status"),
            (reply(403, None, false), "Refused"),
            (reply(503, None, false), "Retry"),
            (reply(404, None, false), "Fail"),
        ];
        for (reply, expected) in rows {
            let step = format!("{:?}", answer(asked, 1000, &reply, "https://cdn/m.glb"));
            assert!(step.starts_with(expected), "{}: {step}", reply.status);
        }
    }
}
