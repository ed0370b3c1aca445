//! The `fetch-assets` command, a shell around the library's public API:
//! parse the arguments, run the command, and turn the outcome into an exit
//! code. Every failure passes through [`fetch_assets::Error::exit_code`],
//! here and only here; nothing decides a code of its own except `verify`,
//! which answers like `sha256sum -c`, and `batch`, which ends with the
//! highest code among its tasks.
//!
//! Dependencies point one way: `main` → `commands` → `shell`, `display`,
//! `report` → `display::lines`, `display::fit`; `args` (the command line)
//! and `units` (durations and sizes) are leaves any of them reads.

mod args;
mod commands;
mod display;
mod man;
mod report;
mod shell;
mod units;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use fetch_assets::Error;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    report_panics();
    fetch_assets::set_wording(shell::Flags);
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // A closed stderr loses the line, not the exit code.
            let _ = writeln!(std::io::stderr(), "fetch-assets: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// The command the arguments name, to its end.
fn run(cli: Cli) -> Result<ExitCode, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("could not start the async runtime: {e}")))?;
    match cli.command {
        Some(Command::Verify { out_dir, quiet }) => {
            runtime.block_on(commands::verify::run(&out_dir, quiet))
        }
        Some(Command::Completions { shell }) => Ok(commands::completions(shell)),
        Some(Command::Man) => commands::man(),
        Some(Command::Listen(args)) => runtime.block_on(commands::listen::run(args)),
        Some(Command::Batch(args)) => runtime.block_on(commands::batch::run(args)),
        None => runtime.block_on(commands::fetch::run(cli.fetch)),
    }
}

/// A panic is a bug: whatever thread it happens on, the run ends at once
/// with exit code 1 (not Rust's 101, which no contract names) and a message
/// that asks for a report. Temporary files it leaves are removed by the next
/// run into the folder. The message is dropped when stderr is closed: a
/// hook that panicked in turn would abort the process instead.
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
        let _ = writeln!(
            std::io::stderr(),
            "fetch-assets: internal error: {what}{at} (this is a bug; please report it with the command you ran)"
        );
        std::process::exit(1);
    }));
}
