//! What goes to stdout for a program to read: the manifest of a single
//! fetch (`--json`), and one JSON line a task as it ends (`batch --json`,
//! `listen --json`).

use std::io::Write;

use fetch_assets::TaskReport;

/// One task's JSON line on stdout, flushed at once: a pipeline reading it
/// acts on each task as it lands.
pub fn print_line(report: &TaskReport) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", report.to_json_line()).and_then(|()| stdout.flush())
}

/// The manifest's JSON on stdout, flushed. A reader that stopped reading
/// (`| head`) is no failure: the files are complete and verified all the
/// same.
pub fn print_manifest(json: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(json.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written,
    }
}
