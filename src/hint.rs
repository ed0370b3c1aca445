//! What an error advises, as data: the [`Hint`] a failure carries and the
//! [`Setting`]s messages name. The engine does not know how its caller
//! spells a setting: the command line says `--api-key`, a Python script
//! `api_key=`, a Rust program `ClientBuilder::api_key`. Each shell says so
//! once, at start ([`set_wording`]), and every message and hint the engine
//! renders from then on uses its words.
//!
//! A process has one shell, so the wording is process-wide: messages are
//! also rendered where no shell is in reach (a batch's report lines, an
//! event's cause, on the runtime's threads).

use std::fmt;
use std::sync::OnceLock;

/// A setting a caller can change, as messages and hints name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// The API key (environment: `TRIPO_API_KEY`).
    ApiKey,
    /// The API base (environment: `TRIPO_API_BASE`).
    ApiBase,
    /// How long to wait for the task.
    Timeout,
    /// How long a transfer may receive nothing.
    StallTimeout,
    /// The most bytes a file with no announced length may bring.
    MaxSize,
    /// Turning the content checks off.
    NoContentCheck,
    /// Replacing what a folder holds, reusing nothing.
    Force,
    /// Fetching only some outputs.
    Only,
    /// The webhook secret (environment: `TRIPO_WEBHOOK_SECRET`).
    WebhookSecret,
    /// The address `listen` binds.
    ListenAddress,
}

/// How a shell spells what messages name. Every method has the Rust
/// library's spelling as its default, so a shell overrides only what it
/// says differently.
pub trait Wording: Send + Sync {
    /// The setting, as a caller writes it (`--api-key`, `api_key=`).
    fn setting(&self, setting: Setting) -> &'static str {
        match setting {
            Setting::ApiKey => "ClientBuilder::api_key",
            Setting::ApiBase => "ClientBuilder::api_base",
            Setting::Timeout => "FetchOptions::timeout",
            Setting::StallTimeout => "FetchOptions::stall_timeout",
            Setting::MaxSize => "FetchOptions::max_size",
            Setting::NoContentCheck => "FetchOptions::content_check(false)",
            Setting::Force => "FetchOptions::force",
            Setting::Only => "FetchOptions::only",
            Setting::WebhookSecret => "WebhookSecret::new",
            Setting::ListenAddress => "ListenOptions::addr",
        }
    }

    /// Doing the same fetch again, as this shell's user would
    /// ("run the same fetch-assets command again").
    fn run_again(&self) -> &'static str {
        "fetch again into the same folder"
    }

    /// A first fetch into a folder ("fetch-assets <TASK_ID> <OUT_DIR>").
    fn first_fetch(&self) -> &'static str {
        "Client::fetch(task_id, out_dir, ..)"
    }
}

/// The Rust library's own words: [`Wording`]'s defaults.
struct LibraryWording;

impl Wording for LibraryWording {}

static WORDING: OnceLock<Box<dyn Wording>> = OnceLock::new();

/// Sets the words every later message uses, once per process; a shell
/// calls it before anything else. False when a wording was already set
/// (the first one stays).
pub fn set_wording(wording: impl Wording + 'static) -> bool {
    WORDING.set(Box::new(wording)).is_ok()
}

/// The wording in use: the shell's, or the library's own.
pub(crate) fn wording() -> &'static dyn Wording {
    WORDING.get().map_or(&LibraryWording, |w| w.as_ref())
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(wording().setting(*self))
    }
}

/// What to do next about a failure: data a caller can match on, shown in
/// the shell's words (its [`Display`](fmt::Display)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// The API refused the key: check it, and its region.
    CheckApiKey,
    /// A key is needed and none was given.
    GiveApiKey,
    /// The task id is wrong, or belongs to another key.
    CheckTaskId,
    /// The API base answers like something other than the Tripo API.
    CheckApiBase {
        /// It answered for another task (not only an oversized answer).
        other_task: bool,
    },
    /// The service (or a proxy) keeps failing: try later.
    TryLater,
    /// The account is out of credit.
    TopUpCredit,
    /// The API's own suggestion, as it gave it (escaped).
    FromApi(String),
    /// A succeeded task with no file: a matter for Tripo support.
    ReportToSupport,
    /// The task goes on: run later, or wait longer.
    RunLaterOrWaitLonger,
    /// A file failed: running again retries it.
    RunAgain,
    /// A `manifest.json` that is not ours: another folder, or force.
    NotOurManifest,
    /// A folder whose run did not finish: the same fetch finishes it.
    FinishTheRun,
    /// A folder nothing was fetched into.
    FetchFirst,
    /// A folder holding another task: another folder, or force.
    OtherFolderOrForce,
    /// Files no run of ours wrote: move them, another folder, or force.
    MoveThemOrForce,
    /// Interrupted: what arrived is kept, the same fetch carries on.
    CarryOn,
    /// A bug.
    ReportBug,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = wording();
        match self {
            Hint::CheckApiKey => write!(
                f,
                "check {} or TRIPO_API_KEY (keys start with tsk_); a key works in one region only: a key from the China console needs {} https://openapi.tripo3d.com",
                Setting::ApiKey,
                Setting::ApiBase
            ),
            Hint::GiveApiKey => write!(
                f,
                "pass {} or set TRIPO_API_KEY (keys start with tsk_)",
                Setting::ApiKey
            ),
            Hint::CheckTaskId => {
                f.write_str("the id is wrong, or the API key is not the one that created the task")
            }
            Hint::CheckApiBase { other_task: true } => write!(
                f,
                "check {}: it should point at the Tripo API, not at something that answers for other tasks",
                Setting::ApiBase
            ),
            Hint::CheckApiBase { other_task: false } => write!(
                f,
                "check {}: it should point at the Tripo API",
                Setting::ApiBase
            ),
            Hint::TryLater => f.write_str(
                "the service or a proxy in between is failing; try again in a few minutes",
            ),
            Hint::TopUpCredit => f.write_str(
                "the account has not enough credit: top it up in the Tripo console, then run again",
            ),
            Hint::FromApi(suggestion) => f.write_str(suggestion),
            Hint::ReportToSupport => {
                f.write_str("nothing to download; report the task id to Tripo support")
            }
            Hint::RunLaterOrWaitLonger => write!(
                f,
                "the task goes on: run again later, or raise {}",
                Setting::Timeout
            ),
            Hint::RunAgain => f.write_str("run again to retry"),
            Hint::NotOurManifest => write!(
                f,
                "it is not the manifest of a complete fetch-assets run: choose another folder, or pass {} to replace it",
                Setting::Force
            ),
            Hint::FinishTheRun => write!(
                f,
                "a run into it did not finish (what it received is in its .fetch-assets): {} to finish it",
                words.run_again()
            ),
            Hint::FetchFirst => write!(f, "fetch a task into it first: {}", words.first_fetch()),
            Hint::OtherFolderOrForce => write!(
                f,
                "choose another folder, or pass {} to replace them",
                Setting::Force
            ),
            Hint::MoveThemOrForce => write!(
                f,
                "move them away, choose another folder, or pass {} to replace them",
                Setting::Force
            ),
            Hint::CarryOn => write!(
                f,
                "what arrived is kept in the folder's .fetch-assets; {} to carry on",
                words.run_again()
            ),
            Hint::ReportBug => f.write_str("this is a bug; please report it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line's spelling, as the binary gives it.
    struct Flags;

    impl Wording for Flags {
        fn setting(&self, setting: Setting) -> &'static str {
            match setting {
                Setting::ApiKey => "--api-key",
                Setting::ApiBase => "--api-base",
                _ => "--other",
            }
        }

        fn run_again(&self) -> &'static str {
            "run the same command again"
        }
    }

    #[test]
    fn hints_name_settings_in_the_words_of_the_wording_given() {
        // The library's own words, until a shell says otherwise (unit tests
        // never set a wording, so a shell's words are asked for directly).
        assert_eq!(
            Hint::GiveApiKey.to_string(),
            "pass ClientBuilder::api_key or set TRIPO_API_KEY (keys start with tsk_)"
        );
        assert_eq!(
            Hint::CarryOn.to_string(),
            "what arrived is kept in the folder's .fetch-assets; fetch again into the same folder to carry on"
        );
        assert_eq!(Flags.setting(Setting::ApiBase), "--api-base");
        assert_eq!(Flags.first_fetch(), LibraryWording.first_fetch());
        assert_ne!(Flags.run_again(), LibraryWording.run_again());
    }
}
