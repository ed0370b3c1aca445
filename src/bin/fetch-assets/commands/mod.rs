//! The commands: each takes its arguments, builds what it needs through
//! `shell`, shows its run through `display`, and returns the exit code of
//! a run that ended (or the error `main` maps to one).

pub mod batch;
pub mod fetch;
pub mod listen;
pub mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use fetch_assets::Error;

use crate::args::Cli;

/// `fetch-assets completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "fetch-assets",
        &mut std::io::stdout(),
    );
    ExitCode::SUCCESS
}

/// `fetch-assets man`: the page on stdout.
pub fn man() -> Result<ExitCode, Error> {
    let mut page = Vec::new();
    crate::man::render(Cli::command(), &mut page)
        .and_then(|()| std::io::stdout().write_all(&page))
        .map_err(|source| Error::Io {
            action: "print the man page to",
            path: "stdout".into(),
            source,
        })?;
    Ok(ExitCode::SUCCESS)
}
