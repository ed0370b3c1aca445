//! `fetch-assets verify`: re-hash a folder against its manifest.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use fetch_assets::Error;

/// `verify`: one line a file, like `sha256sum -c`; exit 0 when all match, 1 otherwise.
pub async fn run(dir: &Path, quiet: bool) -> Result<ExitCode, Error> {
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
