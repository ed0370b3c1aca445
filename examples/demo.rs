//! The whole pipeline, offline: starts the built-in fake Tripo service (API
//! and CDN on loopback), then fetches a task with every output into DIR
//! (default `./demo-out`), exactly as `fetch-assets <task_id> DIR` would
//! against the real service.
//!
//!     cargo run --release --example demo [DIR]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use fake_tripo::{FakeTripo, FileFault, Scenario};
use fetch_assets::{Client, Event, FetchOptions};

#[tokio::main]
async fn main() -> ExitCode {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "demo-out".into()));
    // A task that queues, runs, then succeeds with all nine v2 outputs; one
    // link is refused once and one transfer is cut, to show the recovery.
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs")
            .phase("queued", Duration::from_millis(500))
            .phase("running", Duration::from_millis(1500))
            .file_size("model.glb", 24 << 20)
            .throttle(32 << 20)
            .fault("pbr_model.glb", FileFault::refuse(1))
            .fault("base_model.glb", FileFault::cut_at(60_000)),
    );
    println!(
        "fake Tripo service: API {}, CDN {}",
        fake.v2_base(),
        fake.cdn_base()
    );
    let client = match Client::builder()
        .api_key(fake.api_key())
        .api_base(fake.v2_base())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = FetchOptions::default().observer(|event: &Event| {
        let line = match event {
            Event::TaskPolled {
                status, progress, ..
            } => format!("task {status} ({}%)", progress.unwrap_or(0)),
            Event::Planned { files } => {
                format!("task succeeded: fetching {} files at once", files.len())
            }
            Event::LinkExpired { file, cause } => format!("{file}: {cause}; getting fresh links"),
            Event::LinksRefreshed { .. } => "links refreshed (one task request for all)".into(),
            Event::TransferRetry {
                file,
                cause,
                resume_from,
                ..
            } => format!("{file}: {cause}; resuming from byte {resume_from}"),
            Event::Kept { files } => {
                format!("{} files already complete and verified: kept", files.len())
            }
            Event::FileDone { path, size, .. } => format!("{path}: {size} bytes, complete"),
            _ => return,
        };
        eprintln!("  {line}");
    });
    match client.fetch(fake.task_id(), &dir, &options).await {
        Ok(manifest) => {
            println!("{} holds {} files:", dir.display(), manifest.files.len());
            for file in &manifest.files {
                println!("  {}  {} ({} bytes)", file.sha256, file.path, file.size);
            }
            println!(
                "check them with: (cd {} && sha256sum -c SHA256SUMS)",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
