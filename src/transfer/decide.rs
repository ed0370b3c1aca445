//! What to do with the CDN's answer to one request: a pure function of the
//! answer's status and headers and of what we asked for, so every case of
//! the resume protocol is one row of a table (see the tests).

use std::time::Duration;

use crate::error::DownloadCause;
use crate::retry;

/// What one request asked for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked {
    /// The first byte asked for: 0, or the resume point (sent as `Range`).
    pub from: u64,
    /// The file's whole size, when an earlier answer announced it.
    pub known_total: Option<u64>,
}

/// The parts of the CDN's answer the decision reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer<'a> {
    pub status: u16,
    pub content_length: Option<u64>,
    pub content_range: Option<&'a str>,
    pub retry_after: Option<Duration>,
    /// Its validators name another version than the bytes we have (see
    /// [`super::validator`]).
    pub other_version: bool,
}

/// The next step for the file.
#[derive(Debug)]
pub(super) enum Step {
    /// Stream the body; the file's whole size is `total` when known. With
    /// `start_over`, the bytes we have are forgotten first (a `200` to a
    /// `Range` request sends the file from its first byte).
    Accept {
        total: Option<u64>,
        start_over: bool,
    },
    /// Not the bytes we asked for: forget every byte, then try again.
    StartOver {
        cause: DownloadCause,
        retry_after: Option<Duration>,
    },
    /// We already have the whole file.
    Complete,
    /// The CDN refused the link: renew it.
    Refused(DownloadCause),
    /// Worth another try, after a pause.
    RetryAfter {
        cause: DownloadCause,
        retry_after: Option<Duration>,
    },
    /// Not worth another try.
    Fail(DownloadCause),
}

/// Decides the step for `answer` to a request for `asked`. `link` is the
/// link as it may be shown, for the message of a final refusal.
pub(super) fn decide(asked: Asked, answer: &Answer<'_>, link: &str) -> Step {
    let retry_after = answer.retry_after;
    match answer.status {
        200 => Step::Accept {
            total: answer.content_length,
            start_over: asked.from > 0,
        },
        206 if asked.from > 0 && answer.other_version => Step::StartOver {
            cause: DownloadCause::NewVersion,
            retry_after: None,
        },
        206 => match answer.content_range.and_then(parse_content_range) {
            Some((start, end, total))
                if start == asked.from
                    && end + 1 == total
                    && asked.known_total.is_none_or(|known| known == total) =>
            {
                Step::Accept {
                    total: Some(total),
                    start_over: false,
                }
            }
            _ => Step::StartOver {
                cause: DownloadCause::WrongRange,
                retry_after: None,
            },
        },
        416 if asked.known_total == Some(asked.from) => Step::Complete,
        416 => Step::StartOver {
            cause: DownloadCause::Status { status: 416 },
            retry_after,
        },
        403 => Step::Refused(DownloadCause::Refused),
        status if retry::is_transient_status(status) => Step::RetryAfter {
            cause: DownloadCause::Status { status },
            retry_after,
        },
        status => Step::Fail(DownloadCause::Rejected {
            status,
            link: link.to_owned(),
        }),
    }
}

/// `bytes START-END/TOTAL`, the only form a resumed transfer accepts.
pub(super) fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end, total) = (
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://cdn.example/model.glb";

    fn answer(status: u16, length: Option<u64>, range: Option<&str>) -> Answer<'_> {
        Answer {
            status,
            content_length: length,
            content_range: range,
            retry_after: Some(Duration::from_secs(3)),
            other_version: false,
        }
    }

    fn another_version(answer: Answer<'_>) -> Answer<'_> {
        Answer {
            other_version: true,
            ..answer
        }
    }

    /// The step, in words, so the table reads like the protocol.
    fn words(step: &Step) -> String {
        match step {
            Step::Accept { total, start_over } => format!("accept {total:?} over={start_over}"),
            Step::StartOver { cause, retry_after } => {
                format!("start over: {cause} after {retry_after:?}")
            }
            Step::Complete => "complete".into(),
            Step::Refused(cause) => format!("refused: {cause}"),
            Step::RetryAfter { cause, retry_after } => {
                format!("retry: {cause} after {retry_after:?}")
            }
            Step::Fail(cause) => format!("fail: {cause}"),
        }
    }

    #[test]
    fn every_answer_to_every_request() {
        let fresh = Asked {
            from: 0,
            known_total: None,
        };
        let resume = Asked {
            from: 100,
            known_total: Some(300),
        };
        let done = Asked {
            from: 300,
            known_total: Some(300),
        };
        let r = Some("bytes 100-299/300");
        let table: &[(Asked, Answer<'_>, &str)] = &[
            (
                fresh,
                answer(200, Some(300), None),
                "accept Some(300) over=false",
            ),
            (fresh, answer(200, None, None), "accept None over=false"),
            (
                resume,
                answer(200, Some(300), None),
                "accept Some(300) over=true",
            ),
            (
                resume,
                answer(206, Some(200), r),
                "accept Some(300) over=false",
            ),
            (
                resume,
                another_version(answer(206, Some(200), r)),
                "start over: the file changed on the CDN (another version) after None",
            ),
            (
                resume,
                another_version(answer(200, Some(300), None)),
                "accept Some(300) over=true",
            ),
            (
                resume,
                answer(206, None, Some("bytes 0-299/300")),
                "start over: the CDN answered a Content-Range other than the one asked for after None",
            ),
            (
                resume,
                answer(206, None, Some("bytes 100-199/300")),
                "start over: the CDN answered a Content-Range other than the one asked for after None",
            ),
            (
                resume,
                answer(206, None, Some("bytes 100-399/400")),
                "start over: the CDN answered a Content-Range other than the one asked for after None",
            ),
            (
                resume,
                answer(206, None, None),
                "start over: the CDN answered a Content-Range other than the one asked for after None",
            ),
            (done, answer(416, None, None), "complete"),
            (
                resume,
                answer(416, None, None),
                "start over: the CDN answered HTTP 416 after Some(3s)",
            ),
            (
                fresh,
                answer(403, None, None),
                "refused: the CDN refused the link (HTTP 403)",
            ),
            (
                resume,
                answer(403, None, None),
                "refused: the CDN refused the link (HTTP 403)",
            ),
            (
                fresh,
                answer(408, None, None),
                "retry: the CDN answered HTTP 408 after Some(3s)",
            ),
            (
                fresh,
                answer(429, None, None),
                "retry: the CDN answered HTTP 429 after Some(3s)",
            ),
            (
                resume,
                answer(503, None, None),
                "retry: the CDN answered HTTP 503 after Some(3s)",
            ),
            (
                fresh,
                answer(404, None, None),
                "fail: the CDN answered HTTP 404 for https://cdn.example/model.glb",
            ),
            (
                fresh,
                answer(410, None, None),
                "fail: the CDN answered HTTP 410 for https://cdn.example/model.glb",
            ),
            (
                fresh,
                answer(301, None, None),
                "fail: the CDN answered HTTP 301 for https://cdn.example/model.glb",
            ),
        ];
        for (asked, answer, expected) in table {
            let step = decide(*asked, answer, LINK);
            assert_eq!(words(&step), *expected, "{asked:?} {answer:?}");
        }
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, 200))
        );
        assert_eq!(parse_content_range("bytes 0-0/1"), Some((0, 0, 1)));
        assert_eq!(parse_content_range("bytes 100-199/*"), None);
        assert_eq!(parse_content_range("bytes 200-100/300"), None);
        assert_eq!(parse_content_range("bytes 0-200/200"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
