//! The `fetch-assets` command: parse the arguments, pick a display, run the
//! library, and turn the outcome into an exit code. Every failure passes
//! through [`fetch_assets::Error::exit_code`]; nothing here decides a code
//! of its own except `verify`, which answers like `sha256sum -c`.

mod batch_command;
mod batch_display;
mod cli;
mod fit;
mod listen_log;
mod man;
mod progress;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use fetch_assets::listen::ListenOptions;
use fetch_assets::webhook::WebhookSecret;
use fetch_assets::{Client, Error, FetchOptions, Setting, TransferLimit};

use crate::cli::{ApiArgs, Cli, Command, FetchArgs, ListenArgs, TaskOptions, TransferArgs};
use crate::progress::{Display, Mode};

fn main() -> ExitCode {
    report_panics();
    fetch_assets::set_wording(Flags);
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("fetch-assets: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("could not start the async runtime: {e}")))?;
    match cli.command {
        Some(Command::Verify { out_dir, quiet }) => runtime.block_on(verify(&out_dir, quiet)),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fetch-assets",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            man::render(Cli::command(), &mut page)
                .and_then(|()| std::io::stdout().write_all(&page))
                .map_err(|source| Error::Io {
                    action: "print the man page to",
                    path: "stdout".into(),
                    source,
                })?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Listen(args)) => runtime.block_on(listen(args)),
        Some(Command::Batch(args)) => runtime.block_on(batch_command::run(args)),
        None => runtime.block_on(fetch(cli.fetch)),
    }
}

async fn fetch(args: FetchArgs) -> Result<ExitCode, Error> {
    let (Some(task_id), Some(out_dir)) = (args.task_id, args.out_dir) else {
        return Err(Error::Usage("a task id and a folder are required".into()));
    };
    let args_options = args.options;
    let client = client(args.api, false, args_options.quiet)?;
    let display = Display::new(Mode::choose(args_options.quiet, args_options.verbose));
    let options = fetch_options(&args_options).observer(display.clone());

    survive_file_size_limit();
    let manifest = tokio::select! {
        result = client.fetch(&task_id, &out_dir, &options) => result,
        () = interrupted() => Err(Error::Interrupted),
    };
    display.finish(manifest.as_ref().ok(), &out_dir);
    let manifest = manifest?;
    if args_options.json {
        let json = manifest.to_json()?;
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(json.as_bytes())
            .and_then(|()| stdout.flush())
        {
            // Whoever reads stdout stopped reading (`| head`): the files are
            // complete and verified all the same, so this is no failed download.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.map_err(|source| Error::Io {
                action: "print the manifest to",
                path: "stdout".into(),
                source,
            })?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The library's messages name settings as this command's flags.
struct Flags;

impl fetch_assets::Wording for Flags {
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

/// A panic is a bug: whatever thread it happens on, the run ends at once
/// with exit code 1 (not Rust's 101, which no contract names) and a message
/// that asks for a report. Temporary files it leaves are removed by the next
/// run into the folder.
fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        eprintln!(
            "fetch-assets: internal error: {what}{at} (this is a bug; please report it with the command you ran)"
        );
        std::process::exit(1);
    }));
}

/// `listen`: serve until Ctrl-C or SIGTERM, then exit 0 (work not done
/// stays journaled for the next start).
async fn listen(args: ListenArgs) -> Result<ExitCode, Error> {
    let secret = args.secret.ok_or_else(|| {
        Error::Usage(
            "no webhook secret: set TRIPO_WEBHOOK_SECRET (or pass --secret) to the whsec_… secret the developer console shows for the webhook".into(),
        )
    })?;
    let secret = WebhookSecret::new(secret)?;
    // The key only renews links that died; without one such a task fails (exit code 3).
    let client = client(args.api, true, args.quiet)?;
    let fetch = transfer_options(&args.transfer)
        .shared_limit(TransferLimit::new(args.concurrency))
        .concurrency(args.concurrency);
    let log = listen_log::Log::new(args.quiet, args.verbose, args.json);
    let options = ListenOptions::new(args.addr, secret)
        .fetch(fetch)
        .on_event(move |event| log.event(event));
    survive_file_size_limit();
    fetch_assets::listen::listen(&client, &args.out_root, options, interrupted()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The fetch options the command line gives, without an observer.
fn fetch_options(args: &TaskOptions) -> FetchOptions {
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
fn transfer_options(args: &TransferArgs) -> FetchOptions {
    FetchOptions::default()
        .stall_timeout(args.stall_timeout)
        .content_check(!args.no_content_check)
        .max_size(args.max_size)
}

/// The client for the API options given (`key_optional` for `listen`),
/// with a warning unless `quiet` when the key would cross the network in
/// clear text.
fn client(api: ApiArgs, key_optional: bool, quiet: bool) -> Result<Client, Error> {
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
        eprintln!(
            "fetch-assets: warning: the API base is plain http on another machine: the API key crosses the network in clear text; use an https base"
        );
    }
    Ok(client)
}

/// Resolves on the first Ctrl-C or SIGTERM; dropping the fetch then removes
/// its temporary files. A second one ends the process at once. The same
/// listeners serve both, so a second signal that arrives while the first is
/// being handled is not lost.
async fn interrupted() {
    let mut signals = StopSignals::listen();
    signals.next().await;
    tokio::spawn(async move {
        signals.next().await;
        eprintln!("fetch-assets: interrupted again; stopping now");
        std::process::exit(130);
    });
}

/// Ctrl-C and, on Unix, SIGTERM.
struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
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
        #[cfg(not(unix))]
        {
            StopSignals {}
        }
    }

    /// The next signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn on(signal: Option<&mut tokio::signal::unix::Signal>) {
                let received = match signal {
                    Some(signal) => signal.recv().await.is_some(),
                    None => false,
                };
                // `None` only when the runtime is going away: not a signal.
                if !received {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                () = on(self.interrupt.as_mut()) => {}
                () = on(self.terminate.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Under a file-size limit (`ulimit -f`), a write past it raises SIGXFSZ,
/// which by default kills the process on the spot, temporary files left
/// behind. With the signal caught (and ignored), the write fails with
/// EFBIG instead, and the run ends like any failed write: exit 5, the path
/// and the cause named, temporary files removed. Tokio keeps the handler
/// for the life of the process, listener or not.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let _ = signal(SignalKind::from_raw(libc::SIGXFSZ));
    }
}

/// `verify`: one line a file, like `sha256sum -c`; exit 0 when all match, 1 otherwise.
async fn verify(dir: &Path, quiet: bool) -> Result<ExitCode, Error> {
    let report = match fetch_assets::verify(dir).await {
        Ok(report) => report,
        Err(error) => {
            eprintln!("fetch-assets: verify: {error}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = std::io::stdout().lock();
    for (path, check) in &report.files {
        if !quiet || *check != fetch_assets::FileCheck::Ok {
            let _ = writeln!(out, "{path}: {check}");
        }
    }
    let bad = report
        .files
        .iter()
        .filter(|(_, check)| *check != fetch_assets::FileCheck::Ok)
        .count();
    if bad == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "fetch-assets: verify: {bad} of {} files missing or changed; run the fetch again to repair them",
            report.files.len()
        );
        Ok(ExitCode::from(1))
    }
}
