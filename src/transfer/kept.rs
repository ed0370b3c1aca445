//! What stays staged across runs, decided: what the file an earlier run
//! kept is worth to this run (reuse it, resume it, or start over), and
//! whether a file that fails keeps its bytes for the next run. Pure:
//! `staged.rs` reads the disk and acts on the verdict.

use super::staged::Record;
use crate::error::{DownloadCause, Error};

/// What an earlier run's file is worth to this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Complete, by its record: reused with no request, if its bytes still
    /// hash to the record's SHA-256 (else started over).
    Reuse,
    /// A prefix of one version that `If-Range` can name: ask for the rest.
    Resume,
    /// Nothing usable: empty it and start from the first byte.
    StartOver,
}

/// The verdict on a staged file of `len` bytes with `record` (as read, if
/// it read), for the link `source` (without its query); with `fresh`
/// (`--force`), nothing is reused. A record of another link, without a
/// validator, or for fewer bytes than the file holds, is worth nothing.
pub(super) fn judge(record: Option<&Record>, len: u64, source: &str, fresh: bool) -> Verdict {
    let Some(record) = record.filter(|r| !fresh && same_path(&r.source, source)) else {
        return Verdict::StartOver;
    };
    if record.sha256.is_some() && record.size == Some(len) {
        Verdict::Reuse
    } else if len > 0
        && record.validator.if_range().is_some()
        && record.size.is_none_or(|size| len <= size)
    {
        Verdict::Resume
    } else {
        Verdict::StartOver
    }
}

/// Whether two links (without their queries) name the same file: the same
/// path (the task's folder and the file's name), whichever host of the
/// CDN served it.
fn same_path(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.path() == b.path(),
        _ => false,
    }
}

/// Whether a file that ended with `error` keeps its staged bytes for the
/// next run: yes when running again may well finish it (the CDN refused,
/// cut, stalled or erred for now; the API could not renew the link), no
/// when what arrived is wrong or cannot be written (more than announced,
/// damaged, a local write failed) or no request can succeed (a `404`, a
/// refused redirect, a bad link).
pub(super) fn worth_keeping(error: &Error) -> bool {
    match error {
        Error::Download { cause, .. } => !matches!(
            cause,
            DownloadCause::Rejected { .. }
                | DownloadCause::Redirect { .. }
                | DownloadCause::TooLong { .. }
                | DownloadCause::TooLarge { .. }
                | DownloadCause::Damaged { .. }
                | DownloadCause::NoSpace { .. }
                | DownloadCause::BadLink { .. }
        ),
        Error::Io { .. } | Error::TaskEnded { .. } | Error::Internal(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Tried;
    use crate::task::TraceId;
    use crate::transfer::validator::Validator;

    const SOURCE: &str = "https://cdn.example/t/model.glb";

    fn record(size: Option<u64>, sha256: Option<&str>, etag: &str) -> Record {
        Record {
            source: SOURCE.into(),
            validator: Validator {
                etag: Some(etag.into()).filter(|e: &String| !e.is_empty()),
                last_modified: None,
            },
            size,
            content_type: None,
            sha256: sha256.map(str::to_owned),
            content_checked: true,
            ranges: None,
        }
    }

    #[test]
    fn every_kept_file_is_reused_resumed_or_started_over() {
        use Verdict::*;
        let whole = record(Some(10), Some("ab"), "\"v1\"");
        let part = record(Some(10), None, "\"v1\"");
        let no_size = record(None, None, "\"v1\"");
        let weak = record(Some(10), None, "W/\"v1\"");
        let bare = record(Some(10), None, "");
        let mut dated = bare.clone();
        dated.validator.last_modified = Some("Tue, 01 Dec 2026 10:00:00 GMT".into());
        let table = [
            (None, 0, SOURCE, false, StartOver, "no record"),
            (None, 5, SOURCE, false, StartOver, "bytes without a record"),
            (Some(&whole), 10, SOURCE, false, Reuse, "complete"),
            (Some(&whole), 10, SOURCE, true, StartOver, "--force"),
            (
                Some(&whole),
                10,
                "https://cdn2.example/t/model.glb",
                false,
                Reuse,
                "another host, same path",
            ),
            (
                Some(&whole),
                10,
                "https://cdn.example/u/model.glb",
                false,
                StartOver,
                "another link",
            ),
            (
                Some(&whole),
                10,
                "not a link",
                false,
                StartOver,
                "a link that does not parse",
            ),
            (
                Some(&whole),
                9,
                SOURCE,
                false,
                Resume,
                "shorter than its hashed size",
            ),
            (Some(&part), 4, SOURCE, false, Resume, "a prefix"),
            (Some(&part), 0, SOURCE, false, StartOver, "nothing received"),
            (Some(&part), 11, SOURCE, false, StartOver, "past its size"),
            (
                Some(&no_size),
                1 << 40,
                SOURCE,
                false,
                Resume,
                "no size announced",
            ),
            (Some(&weak), 4, SOURCE, false, StartOver, "a weak ETag only"),
            (Some(&bare), 4, SOURCE, false, StartOver, "no validator"),
        ];
        for (record, len, source, fresh, expected, why) in table {
            assert_eq!(judge(record, len, source, fresh), expected, "{why}");
        }
        assert_eq!(
            judge(Some(&dated), 4, SOURCE, false),
            Resume,
            "Last-Modified"
        );
    }

    #[test]
    fn a_failed_file_keeps_its_bytes_when_running_again_may_finish_it() {
        let download = |cause| Error::Download {
            file: "model.glb".into(),
            cause,
            trace: TraceId::default(),
            tried: Tried::default(),
        };
        let table = [
            (download(DownloadCause::Refused), true),
            (download(DownloadCause::Status { status: 503 }), true),
            (download(DownloadCause::NoLink), true),
            (download(DownloadCause::WrongRange), true),
            (
                download(DownloadCause::Rejected {
                    status: 404,
                    link: "https://cdn.example/m.glb".into(),
                }),
                false,
            ),
            (
                download(DownloadCause::Damaged {
                    check: "not a GLB".into(),
                }),
                false,
            ),
            (Error::Internal("a bug".into()), false),
            (Error::Usage("a mistake".into()), true),
        ];
        for (error, expected) in table {
            assert_eq!(worth_keeping(&error), expected, "{error:?}");
        }
    }
}
