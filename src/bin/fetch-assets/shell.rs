//! What every command that fetches shares, between its arguments and the
//! library: the `Client` and the `FetchOptions` the command line gives, the
//! stop signals (Ctrl-C, SIGTERM), and surviving a file-size limit.

use std::io::Write;

use fetch_assets::{Client, Error, FetchOptions, RoleSelector, Setting, Wording};

use crate::args::{ApiArgs, TaskOptions, TransferArgs};

/// The library's messages name settings as this command's flags.
pub struct Flags;

impl Wording for Flags {
    fn setting(&self, setting: Setting) -> &'static str {
        match setting {
            Setting::ApiKey => "--api-key",
            Setting::ApiBase => "--api-base",
            Setting::Timeout => "--timeout",
            Setting::StallTimeout => "--stall-timeout",
            Setting::MaxSize => "--max-size",
            Setting::NoContentCheck => "--no-content-check",
            Setting::Force => "--force",
            Setting::Only => "--only",
            Setting::WebhookSecret => "--secret",
            Setting::ListenAddress => "--addr",
            // A setting this version of the binary does not know yet.
            _ => "an option (see --help)",
        }
    }

    fn run_again(&self) -> &'static str {
        "run the same fetch-assets command again"
    }

    fn first_fetch(&self) -> &'static str {
        "fetch-assets <TASK_ID> <OUT_DIR>"
    }
}

/// Before any wait: a `--only` name that is likely a slip of a table name
/// (`modle`) is said at once. It may still be an open-ended output's name,
/// so the run goes on; if the task has no such output, it ends with exit 2.
pub fn note_likely_slips(only: &[RoleSelector], quiet: bool) {
    if quiet {
        return;
    }
    for selector in only {
        if let Some(meant) = selector.likely_meant() {
            let _ = writeln!(
                std::io::stderr(),
                "fetch-assets: note: --only {selector} is not one of the table's names (did you mean {meant}?); it is fetched only if the task has an open-ended output of that name"
            );
        }
    }
}

/// The fetch options the command line gives, without an observer.
pub fn fetch_options(args: &TaskOptions) -> FetchOptions {
    let mut options = transfer_options(&args.transfer)
        .timeout(args.timeout)
        .only(args.only.iter().cloned())
        .force(args.force);
    if let Some(concurrency) = args.concurrency {
        options = options.concurrency(concurrency);
    }
    options
}

/// The options every transfer takes from the command line, whichever the
/// subcommand.
pub fn transfer_options(args: &TransferArgs) -> FetchOptions {
    FetchOptions::default()
        .stall_timeout(args.stall_timeout)
        .content_check(!args.no_content_check)
        .max_size(args.max_size)
        .connections(args.connections)
}

/// The client for the API options given (`key_optional` for `listen`),
/// with a warning unless `quiet` when the key would cross the network in
/// clear text.
pub fn client(api: ApiArgs, key_optional: bool, quiet: bool) -> Result<Client, Error> {
    let mut builder = Client::builder().api_base(api.api_base);
    if let Some(key) = api.api_key {
        builder = builder.api_key(key);
    }
    if let Some(version) = api.api_version {
        builder = builder.api_version(version.into());
    }
    if key_optional {
        builder = builder.key_optional();
    }
    let client = builder.build()?;
    if client.sends_key_in_clear_text() && !quiet {
        let _ = writeln!(
            std::io::stderr(),
            "fetch-assets: warning: the API base is plain http on another machine: the API key crosses the network in clear text; use an https base"
        );
    }
    Ok(client)
}

/// Resolves on the first Ctrl-C or SIGTERM; dropping the fetch then removes
/// its temporary files. A second one ends the process at once. The same
/// listeners serve both, so a second signal that arrives while the first is
/// being handled is not lost.
pub async fn interrupted() {
    let mut signals = StopSignals::listen();
    signals.next().await;
    tokio::spawn(async move {
        signals.next().await;
        let _ = writeln!(
            std::io::stderr(),
            "fetch-assets: interrupted again; stopping now"
        );
        std::process::exit(130);
    });
}

/// Ctrl-C and, on Unix, SIGTERM; on Windows, Ctrl-Break too.
struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    interrupt: Option<tokio::signal::windows::CtrlC>,
    #[cfg(windows)]
    terminate: Option<tokio::signal::windows::CtrlBreak>,
}

impl StopSignals {
    /// Starts listening: from here on, these signals no longer end the
    /// process by themselves.
    fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        // Listening from here on, as on Unix: a Ctrl-C before the first
        // `next` is kept for it, not the end of the process.
        #[cfg(windows)]
        {
            StopSignals {
                interrupt: tokio::signal::windows::ctrl_c().ok(),
                terminate: tokio::signal::windows::ctrl_break().ok(),
            }
        }
    }

    /// The next signal.
    async fn next(&mut self) {
        tokio::select! {
            () = fired(self.interrupt.as_mut().map(|s| s.recv())) => {}
            () = fired(self.terminate.as_mut().map(|s| s.recv())) => {}
        }
    }
}

/// Resolves when one listener's signal arrives. A listener that could not
/// be set up never fires, and neither does one that answers `None` (only
/// when the runtime is going away: not a signal).
async fn fired(next: Option<impl Future<Output = Option<()>>>) {
    if let Some(next) = next
        && next.await.is_some()
    {
        return;
    }
    std::future::pending::<()>().await;
}

/// Under a file-size limit (`ulimit -f`), a write past it raises SIGXFSZ,
/// which by default kills the process on the spot, temporary files left
/// behind. With the signal caught (and ignored), the write fails with
/// EFBIG instead, and the run ends like any failed write: exit 5, the path
/// and the cause named, temporary files removed. Tokio keeps the handler
/// for the life of the process, listener or not.
pub fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let _ = signal(SignalKind::from_raw(libc::SIGXFSZ));
    }
}
