//! One error type for the whole crate. Every variant says what happened and
//! what to do next; [`Error::exit_code`] is the one place that maps a failure
//! to the exit codes of the contract (DESIGN.md, "Exit codes").

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::hint::{Hint, Setting};
use crate::net::{self, NetFault};
use crate::task::TaskStatus;
use crate::task::TraceId;
use crate::text::{Causes, cause_chain};

/// Why a run of fetch-assets ended without a complete, verified folder.
///
/// Each message says what happened, then what to do next ([`Error::hint`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller asked for something that cannot work as asked.
    #[error("{0}")]
    Usage(String),

    /// The API refused the key (HTTP 401, or code 1002; v3 also says code 2).
    #[error("the API refused the key{trace}{}", then(self.hint()))]
    Auth {
        /// The API's trace id.
        trace: TraceId,
    },

    /// A task request was needed (a delivered task's links died) and no
    /// API key was given.
    #[error(
        "task {task_id} needs fresh links from the API and no API key was given{}",
        then(self.hint())
    )]
    NoApiKey {
        /// The task.
        task_id: String,
    },

    /// The API does not know the task (HTTP 404, code 2001).
    #[error("task {task_id} was not found (code 2001){trace}{}", then(self.hint()))]
    TaskNotFound {
        /// The id that was asked for.
        task_id: String,
        /// The API's trace id.
        trace: TraceId,
    },

    /// Any other refusal or failure of the API, after retries where a retry made sense.
    #[error("the API failed: {problem}{trace}{}", then(self.hint()))]
    Api {
        /// What went wrong.
        #[source]
        problem: ApiProblem,
        /// The API's trace id.
        trace: TraceId,
    },

    /// The API host gave no answer at all: its name does not resolve, nothing
    /// listens there, TLS failed, or it did not answer in time.
    #[error("could not reach the API at {host}: {cause} ({}): {}", count_tries(*.tries), .fault.advice())]
    Unreachable {
        /// The host (and port, when the base names one); never a path or query.
        host: String,
        /// What kind of failure it was.
        fault: NetFault,
        /// The failure in words.
        cause: String,
        /// How many requests were tried.
        tries: u32,
    },

    /// The task succeeded but its answer names no file to download.
    #[error("task {task_id} succeeded but its answer lists no output file{trace}{}", then(self.hint()))]
    NoOutputs {
        /// The task.
        task_id: String,
        /// The API's trace id.
        trace: TraceId,
    },

    /// `--only` asked for an output the task does not have.
    #[error("task {task_id} has no {missing} output; it has: {available}")]
    RoleNotAvailable {
        /// The task.
        task_id: String,
        /// The roles asked for and absent, comma-separated.
        missing: String,
        /// The roles the task has, comma-separated.
        available: String,
    },

    /// The task did not finish within `--timeout`.
    #[error(
        "gave up after {:.1} s waiting for task {task_id} (last seen: {last_seen}){}",
        .waited.as_secs_f64(),
        then_also(self.hint())
    )]
    Timeout {
        /// The task.
        task_id: String,
        /// How long we waited.
        waited: Duration,
        /// The last status seen, in words.
        last_seen: String,
    },

    /// The task reached a final status other than success.
    #[error(
        "task {task_id} ended as {status}{}{}{}{trace}",
        if *.while_downloading { " while its files were downloading" } else { "" },
        code_suffix(.error_code),
        message_suffix(.message)
    )]
    TaskEnded {
        /// The task.
        task_id: String,
        /// The final status (failed, banned, expired, cancelled, unknown).
        status: TaskStatus,
        /// True when the task was seen to end while its files were
        /// downloading (on a link refresh), not while waiting.
        while_downloading: bool,
        /// The API's `error_code`, when present.
        error_code: Option<i64>,
        /// The API's `error_msg`/`error_message`, when present.
        message: Option<String>,
        /// The API's trace id.
        trace: TraceId,
    },

    /// A file could not be downloaded after its retries and link refreshes.
    #[error("could not download {file}: {cause}{trace} (after {tried}){}", then_also(self.hint()))]
    Download {
        /// The file it was for (its final name or role).
        file: String,
        /// Why the last try failed.
        #[source]
        cause: DownloadCause,
        /// The trace id of the task answer that gave the file's last link.
        trace: TraceId,
        /// What was tried.
        tried: Tried,
    },

    /// A local file operation failed.
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        /// What we were doing ("create the folder", "write").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A `manifest.json` that is not one this version of fetch-assets wrote.
    #[error("could not read {}: {source}{}", .path.display(), then_also(self.hint()))]
    ManifestInvalid {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: ManifestProblem,
    },

    /// `verify` was pointed at a folder with no `manifest.json`.
    #[error("no {} in {}: nothing is committed there{}", crate::manifest::MANIFEST_FILE, .dir.display(), then_also(self.hint()))]
    NoManifest {
        /// The folder.
        dir: PathBuf,
        /// Whether a run into it left its work in `.fetch-assets/` (it was
        /// interrupted, failed, or crashed while committing).
        unfinished: bool,
    },

    /// OUT_DIR holds the result of another task.
    #[error(
        "{} holds the files of task {found}, not {wanted}{}",
        .dir.display(),
        then(self.hint())
    )]
    OtherTask {
        /// The folder.
        dir: PathBuf,
        /// The task its manifest names.
        found: String,
        /// The task asked for.
        wanted: String,
    },

    /// OUT_DIR holds files under the names this run would write, and no
    /// fetch-assets manifest there lists them: they are someone else's.
    #[error(
        "{} already holds {files}, which no fetch-assets run wrote there{}",
        .dir.display(),
        then(self.hint())
    )]
    NotOurs {
        /// The folder.
        dir: PathBuf,
        /// The names found, comma-separated.
        files: String,
    },

    /// The run was interrupted (Ctrl-C or SIGTERM).
    #[error("interrupted{}", then(self.hint()))]
    Interrupted,

    /// Something that should not happen: a bug.
    #[error("internal error: {bug} ({})", Hint::ReportBug, bug = .0)]
    Internal(String),
}

fn count_tries(n: u32) -> String {
    match n {
        1 => "1 try".to_owned(),
        n => format!("{n} tries"),
    }
}

/// What is wrong with a `manifest.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// It does not parse as a manifest.
    #[error("not a fetch-assets manifest ({0})")]
    NotAManifest(#[source] serde_json::Error),
    /// A schema version this version does not read.
    #[error("schema version {0} is not one this version reads")]
    UnknownSchema(u32),
    /// It is not a regular file: a symlink, a FIFO or a device is never read.
    #[error("not a regular file (a symlink, a FIFO or a device is never read)")]
    NotRegular,
    /// It is larger than any manifest.
    #[error("larger than {} MiB, which no fetch-assets manifest is", .limit >> 20)]
    TooLarge {
        /// The most bytes a manifest may have.
        limit: u64,
    },
}

/// `: hint`, or nothing.
fn then(hint: Option<Hint>) -> String {
    hint.map(|h| format!(": {h}")).unwrap_or_default()
}

/// `; hint`, or nothing.
fn then_also(hint: Option<Hint>) -> String {
    hint.map(|h| format!("; {h}")).unwrap_or_default()
}

/// The task's error code, with what v3's codes for v2's `banned` and
/// `expired` mean.
fn code_suffix(code: &Option<i64>) -> String {
    match code {
        Some(2008) => " (error code 2008: refused by the content policy)".to_owned(),
        Some(2018) => " (error code 2018: the task expired)".to_owned(),
        Some(c) => format!(" (error code {c})"),
        None => String::new(),
    }
}

fn message_suffix(message: &Option<String>) -> String {
    message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

impl Error {
    /// The process exit code for this failure (DESIGN.md, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_)
            | Error::RoleNotAvailable { .. }
            | Error::OtherTask { .. }
            | Error::NotOurs { .. }
            | Error::NoManifest { .. }
            | Error::ManifestInvalid { .. } => 2,
            Error::Auth { .. }
            | Error::NoApiKey { .. }
            | Error::TaskNotFound { .. }
            | Error::Api { .. }
            | Error::Unreachable { .. }
            | Error::NoOutputs { .. } => 3,
            Error::Timeout { .. } => 4,
            Error::Download { .. } | Error::Io { .. } => 5,
            Error::TaskEnded { .. } => 6,
            Error::Interrupted => 130,
            Error::Internal(_) => 1,
        }
    }

    /// What to do next, when there is something to say: data to match on,
    /// shown in the shell's words (also the end of the message).
    pub fn hint(&self) -> Option<Hint> {
        Some(match self {
            Error::Auth { .. } => Hint::CheckApiKey,
            Error::NoApiKey { .. } => Hint::GiveApiKey,
            Error::TaskNotFound { .. } => Hint::CheckTaskId,
            Error::Api { problem, .. } => return problem.hint(),
            Error::NoOutputs { .. } => Hint::ReportToSupport,
            Error::Timeout { .. } => Hint::RunLaterOrWaitLonger,
            Error::Download { .. } => Hint::RunAgain,
            Error::ManifestInvalid { .. } => Hint::NotOurManifest,
            Error::NoManifest {
                unfinished: true, ..
            } => Hint::FinishTheRun,
            Error::NoManifest {
                unfinished: false, ..
            } => Hint::FetchFirst,
            Error::OtherTask { .. } => Hint::OtherFolderOrForce,
            Error::NotOurs { .. } => Hint::MoveThemOrForce,
            Error::Interrupted => Hint::CarryOn,
            Error::Internal(_) => Hint::ReportBug,
            Error::Usage(_)
            | Error::Unreachable { .. }
            | Error::RoleNotAvailable { .. }
            | Error::TaskEnded { .. }
            | Error::Io { .. } => return None,
        })
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with the API, when it was neither the key, nor the task
/// id, nor the network: what a pipeline matches on to tell a service that
/// keeps failing from an account out of credit or a base that is not the
/// Tripo API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiProblem {
    /// The API kept failing in a way worth retrying (HTTP 5xx or 429, a
    /// busy code, an answer cut short or unreadable), through every retry.
    #[error("{cause} ({tries} tries)")]
    KeptFailing {
        /// The last failure, in words.
        cause: String,
        /// How many requests were made.
        tries: u32,
    },
    /// The answer is about another task than the one asked for.
    #[error(
        "the answer is for task '{}', not for task {asked} that was asked for",
        .answered.escape_default()
    )]
    OtherTask {
        /// The task the answer names.
        answered: String,
        /// The task asked for.
        asked: String,
    },
    /// An answer larger than any task answer.
    #[error("an answer larger than {} MiB, which is not a task", .limit >> 20)]
    TooLarge {
        /// The most bytes an answer may have.
        limit: usize,
    },
    /// The account has not enough credit (code 2010): no retry mends it.
    #[error("{what}")]
    NoCredit {
        /// What the API answered, in words.
        what: String,
    },
    /// Any other refusal: what the API answered, and its own suggestion.
    #[error("{what}")]
    Other {
        /// What the API answered, in words (HTTP status, code, message).
        what: String,
        /// The API's own suggestion, when it gave one.
        suggestion: Option<String>,
    },
}

impl ApiProblem {
    /// What to do next, when there is something to say.
    pub fn hint(&self) -> Option<Hint> {
        Some(match self {
            ApiProblem::KeptFailing { .. } => Hint::TryLater,
            ApiProblem::OtherTask { .. } => Hint::CheckApiBase { other_task: true },
            ApiProblem::TooLarge { .. } => Hint::CheckApiBase { other_task: false },
            ApiProblem::NoCredit { .. } => Hint::TopUpCredit,
            ApiProblem::Other { suggestion, .. } => Hint::FromApi(suggestion.clone()?),
        })
    }
}

/// Why a file could not be downloaded: what a pipeline matches on to tell a
/// CDN that refuses for good from a stalled or cut connection. A full local
/// disk is not here: it is [`Error::Io`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadCause {
    /// The CDN refused the link (HTTP 403), again after fresh links.
    #[error("the CDN refused the link (HTTP 403)")]
    Refused,
    /// The link expired, or was about to, and no fresh one could be had.
    #[error("{}", expiring_words(*.left))]
    LinkExpiring {
        /// What was left of the link's life.
        left: Duration,
    },
    /// The CDN kept answering a status worth retrying (408, 429, 5xx, 416).
    #[error("the CDN answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The CDN answered a status no retry can change (404, 410, ...).
    #[error("the CDN answered HTTP {status} for {link}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The link, without its query.
        link: String,
    },
    /// A piece of the file came from another version than the bytes we
    /// had (its `ETag` or `Last-Modified` changed): the file starts over.
    #[error("the file changed on the CDN (another version)")]
    NewVersion,
    /// The CDN kept answering other bytes than those asked for.
    #[error("the CDN answered a Content-Range other than the one asked for")]
    WrongRange,
    /// No connection could be made, or the request failed before an answer.
    #[error("could not reach {host}: {detail}")]
    Connect {
        /// The CDN's host (and port, when the link names one).
        host: String,
        /// What kind of failure it was.
        fault: NetFault,
        /// The failure in words (never with the link).
        detail: String,
    },
    /// The CDN redirected where we do not follow (not http(s), to a host
    /// the rules refuse, or too often).
    #[error("the CDN's redirect was refused: {reason}")]
    Redirect {
        /// Why, in words (never with the link).
        reason: String,
    },
    /// The connection broke mid-body.
    // The innermost cause ("end of file before message length reached")
    // tells a reader nothing more; it is kept as data, not shown.
    #[error("the connection broke at byte {at}")]
    Broke {
        /// How many bytes the file had.
        at: u64,
        /// The innermost cause, in words (never with the link).
        detail: String,
    },
    /// No byte arrived for the stall timeout.
    #[error("no data for {} ({})", crate::duration_text::DurationText(*.after), Setting::StallTimeout)]
    Stalled {
        /// The stall timeout.
        after: Duration,
    },
    /// Bytes came, but on average under 1 KiB/s over the stall timeout: a
    /// trickle that would never end is a stall too.
    #[error(
        "under 1 KiB/s on average for {} ({})",
        crate::duration_text::DurationText(*.over),
        Setting::StallTimeout
    )]
    TooSlow {
        /// The window: the stall timeout.
        over: Duration,
    },
    /// The body ended before the length the CDN announced.
    #[error("the transfer ended early, at {at} of {total} bytes")]
    EndedEarly {
        /// Where it ended.
        at: u64,
        /// The announced length.
        total: u64,
    },
    /// The CDN sent more bytes than it announced.
    #[error("the CDN sent more than the {announced} bytes it announced; the file was not kept")]
    TooLong {
        /// The announced length.
        announced: u64,
    },
    /// The CDN answered `200` with an error page (HTML or XML) in place of
    /// the file, again after fresh links.
    #[error("{page}")]
    ErrorPage {
        /// What the page was, in words: the CDN sent an HTML page ("…")
        /// instead of the file.
        page: String,
    },
    /// The file arrived whole but is not a sound file of its type (a GLB
    /// whose header says another length, say): the service produced it
    /// damaged. `--no-content-check` keeps such files.
    #[error(
        "the file failed its content check: {check} ({} keeps it as it is)",
        Setting::NoContentCheck
    )]
    Damaged {
        /// The check that failed, in words.
        check: String,
    },
    /// The CDN announced no length and sent more than `--max-size`.
    #[error(
        "the CDN announced no length and sent more than {limit} bytes ({setting}); the file was not kept: raise {setting} if it really is that large",
        setting = Setting::MaxSize
    )]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The files announced more bytes than the disk has free.
    #[error(
        "not enough free space in {}: the files still to come need {needed} bytes, and {available} are free; free some space, or fetch fewer outputs ({})",
        .dir.display(),
        Setting::Only
    )]
    NoSpace {
        /// The output folder.
        dir: std::path::PathBuf,
        /// Bytes announced and not yet written, this file's included.
        needed: u64,
        /// Bytes free for this user on the folder's file system.
        available: u64,
    },
    /// The task's newest answer has no usable link for the file.
    #[error(
        "the task's newest answer no longer lists this output, or its link is not a valid http(s) link"
    )]
    NoLink,
    /// The task's answer gave the file a link that cannot be followed.
    #[error("the API gave {role} an unusable link: {reason}")]
    BadLink {
        /// The role, as shown to people.
        role: String,
        /// What is wrong with the link.
        reason: String,
    },
}

impl DownloadCause {
    /// A request that got no answer. The HTTP client's error stays inside
    /// the crate: a cause is data of ours, whatever the client's version.
    pub(crate) fn connect(host: String, error: &reqwest::Error) -> DownloadCause {
        let fault = NetFault::of(error);
        DownloadCause::Connect {
            host,
            fault,
            detail: net::describe(error, fault),
        }
    }

    /// A redirect the rules refused.
    pub(crate) fn redirect(error: &reqwest::Error) -> DownloadCause {
        DownloadCause::Redirect {
            reason: cause_chain(error, Causes::Innermost),
        }
    }

    /// A body cut at byte `at`.
    pub(crate) fn broke(at: u64, error: &reqwest::Error) -> DownloadCause {
        DownloadCause::Broke {
            at,
            detail: cause_chain(error, Causes::Innermost),
        }
    }
}

fn expiring_words(left: Duration) -> String {
    if left.is_zero() {
        "the link has expired".to_owned()
    } else {
        format!("the link expires in {} s", left.as_secs())
    }
}

/// What one file tried before it gave up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tried {
    /// Requests made to the CDN.
    pub requests: u32,
    /// Fresh links asked for.
    pub refreshes: u32,
}

impl fmt::Display for Tried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.requests == 0 && self.refreshes == 0 {
            return f.write_str("no request");
        }
        write!(
            f,
            "{} requests, {} link refreshes",
            self.requests, self.refreshes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_problems_are_data_with_the_messages_they_always_had() {
        let api = |problem: ApiProblem| Error::Api {
            problem,
            trace: TraceId(Some("t1".into())),
        };
        let cases = [
            (
                api(ApiProblem::KeptFailing {
                    cause: "HTTP 502".into(),
                    tries: 5,
                }),
                "the API failed: HTTP 502 (5 tries) [trace id t1]: the service or a proxy in between is failing; try again in a few minutes",
            ),
            (
                api(ApiProblem::OtherTask {
                    answered: "../x\n".into(),
                    asked: "a1".into(),
                }),
                "the API failed: the answer is for task '../x\\n', not for task a1 that was asked for [trace id t1]: check ClientBuilder::api_base: it should point at the Tripo API, not at something that answers for other tasks",
            ),
            (
                api(ApiProblem::TooLarge { limit: 4 << 20 }),
                "the API failed: an answer larger than 4 MiB, which is not a task [trace id t1]: check ClientBuilder::api_base: it should point at the Tripo API",
            ),
            (
                api(ApiProblem::NoCredit {
                    what: "HTTP 403, code 2010".into(),
                }),
                "the API failed: HTTP 403, code 2010 [trace id t1]: the account has not enough credit: top it up in the Tripo console, then run again",
            ),
            (
                api(ApiProblem::Other {
                    what: "HTTP 400, code 1004".into(),
                    suggestion: None,
                }),
                "the API failed: HTTP 400, code 1004 [trace id t1]",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.exit_code(), 3);
            let source = std::error::Error::source(&error).map(ToString::to_string);
            assert!(source.is_some_and(|s| message.contains(&s)), "{error:?}");
        }
    }
}
