//! Wait for a [Tripo](https://www.tripo3d.ai) 3D-generation task, then
//! download every output file before its signed links expire: all at once,
//! each verified, with a checksummed manifest beside them.
//!
//! The links the API hands out die within minutes. fetch-assets starts every
//! transfer the moment the task succeeds, renews links that die (one task
//! request, however many transfers were refused), resumes cut transfers from
//! their last byte, and only ever shows a file under its final name once it
//! is complete. The API key goes to the API host and nowhere else.
//!
//! The library is async: it needs a [tokio](https://tokio.rs) runtime
//! (any flavour). Fetch a task's outputs into a folder, with the key the
//! developer console gives:
//!
//! ```no_run
//! use fetch_assets::{Client, FetchOptions};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), fetch_assets::Error> {
//!     let key = std::env::var("TRIPO_API_KEY").expect("TRIPO_API_KEY is set");
//!     let client = Client::builder().api_key(key).build()?;
//!     let task_id = "916e2b2c-1a2b-4c3d-8e9f-0123456789ab";
//!     let manifest = client.fetch(task_id, "./out", &FetchOptions::default()).await?;
//!     for file in &manifest.files {
//!         println!("{}  {}", file.sha256, file.path);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The examples below run (as tests) against the fake Tripo service this
//! crate's tests use (crate `fake-tripo` in `tests/support`, API and CDN on
//! loopback); only the `main` around them is hidden. The same fetch:
//!
//! ```
//! use fetch_assets::{Client, FetchOptions};
//! use fake_tripo::{FakeTripo, Scenario};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fetch_assets::Error> {
//! let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
//! let client = Client::builder()
//!     .api_key(fake.api_key())
//!     .api_base(fake.v2_base())
//!     .build()?;
//! let out = tempfile::tempdir().expect("a temporary folder");
//!
//! let manifest = client
//!     .fetch(fake.task_id(), out.path(), &FetchOptions::default())
//!     .await?;
//! assert_eq!(manifest.files.len(), 10);
//! assert!(out.path().join("model.glb").exists());
//! assert!(out.path().join("manifest.json").exists());
//! # Ok(()) }
//! ```
//!
//! Watch the pipeline's events (the binary draws its progress bars from
//! these):
//!
//! ```
//! use fetch_assets::{Client, Event, FetchOptions};
//! use fake_tripo::{FakeTripo, Scenario};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fetch_assets::Error> {
//! let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
//! let client = Client::builder()
//!     .api_key(fake.api_key())
//!     .api_base(fake.v3_base())
//!     .build()?;
//! let out = tempfile::tempdir().expect("a temporary folder");
//!
//! let options = FetchOptions::default().observer(|event: &Event| match event {
//!     Event::TaskPolled { status, progress, .. } => eprintln!("task {status} {progress:?}"),
//!     Event::LinksRefreshed { .. } => eprintln!("links renewed"),
//!     Event::FileDone { path, size, .. } => eprintln!("{path}: {size} bytes"),
//!     _ => {}
//! });
//! client.fetch(fake.task_id(), out.path(), &options).await?;
//! # Ok(()) }
//! ```
//!
//! Check a folder later, like `sha256sum -c`:
//!
//! ```
//! use fetch_assets::{Client, FetchOptions};
//! use fake_tripo::{FakeTripo, Scenario};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fetch_assets::Error> {
//! let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
//! let client = Client::builder()
//!     .api_key(fake.api_key())
//!     .api_base(fake.v3_base())
//!     .build()?;
//! let out = tempfile::tempdir().expect("a temporary folder");
//! client
//!     .fetch(fake.task_id(), out.path(), &FetchOptions::default())
//!     .await?;
//!
//! let report = fetch_assets::verify(out.path()).await?;
//! for (path, check) in &report.files {
//!     println!("{path}: {check}");
//! }
//! assert!(report.is_ok());
//! # Ok(()) }
//! ```
//!
//! Receive the service's webhooks instead of polling: `listen::listen` is
//! the receiver behind `fetch-assets listen` (with the `listen` feature, see
//! below), and [`webhook::check_delivery`] checks a delivery's signature for
//! a service that brings its own server:
//!
//! ```
//! use fetch_assets::webhook::{self, WebhookSecret};
//!
//! // What the service's POST brought (here: a request that is not signed).
//! let (headers, body) = (http::HeaderMap::new(), b"{}");
//! let secret = WebhookSecret::new("whsec_...")?;
//! match webhook::check_delivery(&headers, body, &secret, std::time::SystemTime::now()) {
//!     Ok(event) => println!("{} for task {:?}", event.event_type, event.task.map(|t| t.task_id)),
//!     Err(refused) => println!("answer {}: {refused}", refused.http_status()),
//! }
//! # Ok::<(), fetch_assets::Error>(())
//! ```
//!
//! Every failure is one [`Error`]; [`Error::exit_code`] maps it to the
//! command's exit codes.
//!
//! # The public API
//!
//! Made for shells around the engine (the command line, the Python
//! package) and for pipelines calling it directly: no HTTP client's type
//! appears in it, and advice names settings in the caller's words.
//!
//! | group | items |
//! |---|---|
//! | fetch | [`Client`], [`ClientBuilder`], [`FetchOptions`], [`DEFAULT_CONCURRENCY`], [`RoleSelector`], [`TransferLimit`], [`RetryPolicy`], [`ApiVersion`], [`DEFAULT_API_BASE`] |
//! | many tasks | [`Client::fetch_many`], [`Batch`], [`TaskOutcome`], [`TaskReport`], [`ReportStatus`], [`check_task_id`] (a shell checks ids it reads before any request) |
//! | what happens | [`Event`], [`Observer`], [`PlannedFile`], [`Task`], [`TaskStatus`], [`TraceId`] |
//! | the result | [`Manifest`], [`FileEntry`], [`OutputRole`], [`View`], [`MANIFEST_FILE`], [`SUMS_FILE`] |
//! | checking a folder | [`verify`], [`VerifyReport`], [`FileCheck`] |
//! | failures | [`Error`], [`Result`], [`DownloadCause`], [`ApiProblem`], [`ManifestProblem`], [`NetFault`], [`Tried`] |
//! | advice in a shell's words | [`Hint`], [`Setting`], [`Wording`], [`set_wording`] |
//! | webhooks | [`webhook`] (the signature check); `listen` (the receiver, feature `listen`) |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cli` | on | the `fetch-assets` command (argument parsing, progress bars, the man page); turns `listen` on |
//! | `listen` | with `cli` | `listen`: the webhook receiver, an HTTP server (hyper's) that fetches each delivered task |
//!
//! A library user turns default features off and compiles neither; the
//! fetch, the batch, `verify` and the `webhook` check are always there:
//!
//! ```toml
//! fetch-assets = { version = "0.1", default-features = false }
//! # or, to serve webhooks without the command:
//! fetch-assets = { version = "0.1", default-features = false, features = ["listen"] }
//! ```
//!
//! # Platforms
//!
//! Linux and Windows are built and tested (Windows under wine in CI); macOS
//! is supported by design (the same Unix calls as Linux) but untested. On
//! each, every file operation goes through the folder's handle (`openat` and
//! its kin; `NtCreateFile` relative to the handle on Windows), no link is
//! followed, renames replace atomically, and the folder is locked (`flock`;
//! `LockFileEx` on Windows).

#![warn(missing_docs)]
// Tests may slice the strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

mod api;
mod assets;
mod batch;
mod client;
mod commit;
mod concurrency;
mod content;
mod duration_text;
mod error;
mod events;
mod fetch;
mod folder;
mod hint;
mod hosts;
mod link;
mod link_book;
#[cfg(feature = "listen")]
pub mod listen;
mod lock;
mod manifest;
mod net;
mod open_outputs;
mod options;
mod output_role;
mod poll;
#[cfg(test)]
mod properties;
mod rerun;
mod retry;
mod staging;
mod task;
mod task_report;
mod temp_file;
mod text;
mod transfer;
mod verify;
pub mod webhook;

pub use api::{ApiVersion, DEFAULT_API_BASE};
pub use assets::RoleSelector;
pub use batch::{Batch, TaskOutcome};
pub use client::{Client, ClientBuilder};
pub use concurrency::TransferLimit;
pub use error::{ApiProblem, DownloadCause, Error, ManifestProblem, Result, Tried};
pub use events::{Event, Observer, PlannedFile};
pub use fetch::check_task_id;
pub use hint::{Hint, Setting, Wording, set_wording};
pub use manifest::{FileEntry, MANIFEST_FILE, Manifest, SUMS_FILE};
pub use net::NetFault;
pub use options::{DEFAULT_CONCURRENCY, FetchOptions};
pub use output_role::{OutputRole, View};
pub use retry::RetryPolicy;
pub use task::{Task, TaskStatus, TraceId};
pub use task_report::{ReportStatus, TaskReport};
pub use verify::{FileCheck, VerifyReport, verify};
