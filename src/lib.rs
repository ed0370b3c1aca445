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
//! Fetch a task's outputs into a folder (here against the crate's fake
//! service; with the real one, leave the base out):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fetch_assets::Error> {
//! # let fake = fake_tripo::FakeTripo::start(fake_tripo::Scenario::new("v2_all_outputs"));
//! # let (key, base, task_id) = (fake.api_key().to_owned(), fake.v2_base(), fake.task_id().to_owned());
//! # let out = tempfile::tempdir().expect("a temporary folder");
//! # let out = out.path();
//! use fetch_assets::{Client, FetchOptions};
//!
//! let client = Client::builder().api_key(key).api_base(base).build()?;
//! let manifest = client.fetch(&task_id, out, &FetchOptions::default()).await?;
//! for file in &manifest.files {
//!     println!("{}  {}", file.sha256, file.path);
//! }
//! assert!(out.join("model.glb").exists() && out.join("manifest.json").exists());
//! # Ok(()) }
//! ```
//!
//! Watch the pipeline's events (the binary draws its progress bars from
//! these):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fetch_assets::Error> {
//! # let fake = fake_tripo::FakeTripo::start(fake_tripo::Scenario::new("v3_model_pbr_same"));
//! # let (key, base, task_id) = (fake.api_key().to_owned(), fake.v3_base(), fake.task_id().to_owned());
//! # let out = tempfile::tempdir().expect("a temporary folder");
//! # let out = out.path();
//! use fetch_assets::{Client, Event, FetchOptions};
//!
//! let options = FetchOptions::default().observer(|event: &Event| match event {
//!     Event::TaskPolled { status, progress, .. } => eprintln!("task {status} {progress:?}"),
//!     Event::LinksRefreshed { .. } => eprintln!("links renewed"),
//!     Event::FileDone { path, size, .. } => eprintln!("{path}: {size} bytes"),
//!     _ => {}
//! });
//! let client = Client::builder().api_key(key).api_base(base).build()?;
//! client.fetch(&task_id, out, &options).await?;
//! # Ok(()) }
//! ```
//!
//! Check a folder later, like `sha256sum -c`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), fetch_assets::Error> {
//! # let fake = fake_tripo::FakeTripo::start(fake_tripo::Scenario::new("v3_bare_task"));
//! # let client = fetch_assets::Client::builder().api_key(fake.api_key()).api_base(fake.v3_base()).build()?;
//! # let out = tempfile::tempdir().expect("a temporary folder");
//! # let out = out.path();
//! # client.fetch(fake.task_id(), out, &Default::default()).await?;
//! let report = fetch_assets::verify(out).await?;
//! for (path, check) in &report.files {
//!     println!("{path}: {check}");
//! }
//! assert!(report.is_ok());
//! # Ok(()) }
//! ```
//!
//! Receive the service's webhooks instead of polling: [`listen::listen`]
//! is the receiver behind `fetch-assets listen`, and [`webhook::verify`]
//! checks a delivery's signature for a service that brings its own server:
//!
//! ```
//! # let headers = http::HeaderMap::new();
//! # let body = b"{}";
//! use fetch_assets::webhook::{self, WebhookSecret};
//!
//! let secret = WebhookSecret::new("whsec_...")?;
//! match webhook::verify(&headers, body, &secret, std::time::SystemTime::now()) {
//!     Ok(event) => println!("{} for task {:?}", event.event_type, event.task.map(|t| t.task_id)),
//!     Err(refused) => println!("answer {}: {refused}", refused.http_status()),
//! }
//! # Ok::<(), fetch_assets::Error>(())
//! ```
//!
//! Every failure is one [`Error`]; [`Error::exit_code`] maps it to the
//! command's exit codes.

#![warn(missing_docs)]

mod api;
mod assets;
mod batch;
mod concurrency;
mod content;
mod error;
mod events;
mod fetch;
mod folder;
mod hosts;
pub mod link;
mod link_book;
pub mod listen;
mod lock;
mod manifest;
mod net;
#[allow(dead_code)]
mod open_outputs;
mod poll;
mod retry;
pub mod task_report;
mod temp_file;
mod transfer;
pub mod webhook;

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use api::{ApiKey, ApiVersion, DEFAULT_API_BASE, Task, TaskStatus};
pub use assets::{Asset, Role, RoleSelector, View, extension, file_name, media_type, plan};
pub use batch::{Batch, DEFAULT_BATCH_CONCURRENCY, TaskOutcome};
pub use concurrency::TransferLimit;
pub use error::{DownloadCause, Error, ManifestProblem, Result, TraceId, Tried};
pub use events::{Event, Observer, PlannedFile};
pub use fetch::check_task_id;
pub use manifest::{
    FileCheck, FileEntry, MANIFEST_FILE, Manifest, SUMS_FILE, VerifyReport, verify,
};
pub use net::NetFault;
pub use retry::RetryPolicy;

/// A client for one API key and base. Cheap to clone; reuse it across fetches
/// so connections are reused.
#[derive(Debug, Clone)]
pub struct Client {
    api: api::ApiClient,
    /// For the CDN (and, with the key added per request, for the API).
    http: reqwest::Client,
    retry: RetryPolicy,
    /// Where output links may point, given where the API is.
    hosts: hosts::HostRules,
    /// True when the key goes to the API over plain http to another machine.
    key_in_clear_text: bool,
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Waits for the task, downloads every output (or those `options.only`
    /// names) into `dir`, verifies them, and writes `manifest.json` and
    /// `SHA256SUMS`. Returns the manifest.
    ///
    /// Files an earlier run completed (per its manifest, re-hashed) are kept.
    /// The folder is locked for the run: a second fetch into it waits for the
    /// first (reporting [`Event::FolderBusy`]), then usually finds it
    /// complete. Dropping the future stops the transfers and removes their
    /// temporary files; files under their final names are only ever complete
    /// ones, and a run that fails leaves the folder as it found it.
    pub async fn fetch(
        &self,
        task_id: &str,
        dir: impl AsRef<Path>,
        options: &FetchOptions,
    ) -> Result<Manifest> {
        fetch::fetch(self, task_id, fetch::Start::Wait, dir.as_ref(), options).await
    }

    /// Like [`Client::fetch`], for a task already in hand (from a webhook
    /// delivery, say): no task request, its links used as they are; a link
    /// that dies is renewed through the API as usual. A task that did not
    /// succeed is [`Error::TaskEnded`].
    pub async fn fetch_task(
        &self,
        task: Task,
        dir: impl AsRef<Path>,
        options: &FetchOptions,
    ) -> Result<Manifest> {
        let task_id = task.task_id.clone();
        let start = fetch::Start::Known(Box::new(task));
        fetch::fetch(self, &task_id, start, dir.as_ref(), options).await
    }

    /// Fetches many tasks, each into `out_root/<task_id>/` exactly as
    /// [`Client::fetch`] would, and yields each task's outcome as it ends.
    ///
    /// Waiting costs few requests: with the v3 API, one
    /// `POST /v3/tasks/list` for up to 100 pending tasks, on the schedule of
    /// the task expected to finish first. A task's files start the moment
    /// its success is seen; `options.concurrency` (default
    /// [`DEFAULT_BATCH_CONCURRENCY`]) bounds the transfers of the whole
    /// batch, earliest success first. Every id is checked before any
    /// request (an invalid one is [`Error::Usage`]); repeats count once.
    /// Events reach `options.observer` wrapped in [`Event::Task`]. Must be
    /// called within a tokio runtime; dropping the [`Batch`] stops every
    /// task still going, as dropping [`Client::fetch`] does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), fetch_assets::Error> {
    /// # let fake = fake_tripo::FakeTripo::start(fake_tripo::Scenario::new("v3_model_pbr_same"));
    /// # let client = fetch_assets::Client::builder().api_key(fake.api_key()).api_base(fake.v3_base()).build()?;
    /// # let root = tempfile::tempdir().expect("a temporary folder");
    /// # let ids = vec![fake.task_id().to_owned()];
    /// use futures::StreamExt;
    /// use fetch_assets::{FetchOptions, task_report::TaskReport};
    ///
    /// let mut batch = client.fetch_many(ids, root.path(), &FetchOptions::default())?;
    /// while let Some(outcome) = batch.next().await {
    ///     let report = TaskReport::new(&outcome.task_id, &outcome.dir, &outcome.result);
    ///     println!("{}", report.to_json_line());
    ///     assert!(report.is_ok());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn fetch_many(
        &self,
        task_ids: impl IntoIterator<Item = impl Into<String>>,
        out_root: impl AsRef<Path>,
        options: &FetchOptions,
    ) -> Result<Batch> {
        let ids = task_ids.into_iter().map(Into::into).collect();
        batch::start(self, ids, out_root.as_ref(), options)
    }

    /// Looks at the task once, without waiting.
    pub async fn task(&self, task_id: &str) -> Result<Task> {
        self.api.task(task_id, &events::ignore()).await
    }

    /// True when the API base is plain `http` on another machine: the key
    /// then crosses the network in clear text, and anyone on the way can
    /// read it. The command warns once when this is so.
    pub fn sends_key_in_clear_text(&self) -> bool {
        self.key_in_clear_text
    }
}

/// Builds a [`Client`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    /// The key, or why it cannot be one.
    key: Option<Result<ApiKey>>,
    key_optional: bool,
    base: Option<String>,
    version: Option<ApiVersion>,
    http: Option<reqwest::Client>,
    retry: Option<RetryPolicy>,
}

impl ClientBuilder {
    /// The API key (`tsk_…`). Required.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(ApiKey::new(key));
        self
    }

    /// Lets [`ClientBuilder::build`] go on without a key, for a client that
    /// is handed its tasks ([`Client::fetch_task`], `listen`): a task request
    /// it then needs (to renew dead links) fails with [`Error::NoApiKey`].
    pub fn key_optional(mut self) -> Self {
        self.key_optional = true;
        self
    }

    /// The API base; [`DEFAULT_API_BASE`] when not set. Its path picks the
    /// dialect (see [`ApiVersion::guess`]).
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.base = Some(base.into());
        self
    }

    /// Overrides the dialect the base suggests.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.version = Some(version);
        self
    }

    /// An HTTP client to reuse (connection pools, proxies). It must not
    /// carry the API key as a default header: the key is added to API
    /// requests only, and the same client fetches files from the CDN. Its
    /// redirect and `Referer` settings are its own: the default client
    /// sends no `Referer` (a signed link would travel in it) and checks
    /// every redirect against the same host rules as the output links.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How transient faults are retried, for the API and the files alike.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let key = match self.key {
            Some(key) => Some(key?),
            None if self.key_optional => None,
            None => {
                return Err(Error::Usage(
                    "no API key: pass --api-key or set TRIPO_API_KEY (keys start with tsk_)".into(),
                ));
            }
        };
        let base_text = self.base.unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let base = reqwest::Url::parse(&base_text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "'{base_text}' is not an http(s) URL: pass an API base like {DEFAULT_API_BASE}"
                ))
            })?;
        let hosts = hosts::HostRules::for_api_base(&base);
        let key_in_clear_text = base.scheme() == "http" && !hosts.loopback_allowed;
        let http = match self.http {
            Some(http) => http,
            None => default_http_client(hosts)?,
        };
        let retry = self.retry.unwrap_or_default();
        Ok(Client {
            api: api::ApiClient::new(http.clone(), base, self.version, key, retry),
            http,
            retry,
            hosts,
            key_in_clear_text,
        })
    }
}

/// The HTTP client used when the caller brings none: rustls with the
/// platform's roots; the system's resolver, failing `.invalid` names at
/// once (`net.rs`); redirects checked against the host rules (see
/// `hosts.rs`); no `Referer`, which would carry a signed link to wherever
/// the CDN redirects; no whole-request timeout (a large file on a slow link
/// may take its time; stalls are caught separately).
fn default_http_client(hosts: hosts::HostRules) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("fetch-assets/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .dns_resolver(net::SystemResolver::shared())
        .redirect(hosts.redirect_policy())
        .referer(false)
        .build()
        .map_err(|e| Error::Internal(format!("could not set up HTTP: {e}")))
}

/// How a fetch behaves. Start from `FetchOptions::default()`.
#[derive(Clone)]
#[non_exhaustive]
pub struct FetchOptions {
    /// How long to wait for the task to finish. Default: 30 minutes.
    pub timeout: Duration,
    /// Only these outputs (empty: all of them).
    pub only: Vec<RoleSelector>,
    /// Download everything again, even files an earlier run completed.
    pub force: bool,
    /// At most this many transfers at once. Default: all of them.
    pub concurrency: Option<NonZeroUsize>,
    /// A bound on transfers shared with other fetches (on top of
    /// `concurrency`). Default: none.
    pub shared_limit: Option<TransferLimit>,
    /// A transfer that receives no byte for this long is abandoned and
    /// resumed. Default: 30 seconds.
    pub stall_timeout: Duration,
    /// Check each file's content against its type before keeping it (an
    /// error page where a model should be, a damaged GLB). Default: true.
    pub content_check: bool,
    /// The most bytes one file may bring when the CDN announces no length;
    /// a file that announces its length may bring exactly that. Default:
    /// 4 GiB.
    pub max_size: u64,
    /// Receives the pipeline's events.
    pub observer: Option<Arc<dyn Observer>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(30 * 60),
            only: Vec::new(),
            force: false,
            concurrency: None,
            shared_limit: None,
            stall_timeout: Duration::from_secs(30),
            content_check: true,
            max_size: 4 << 30,
            observer: None,
        }
    }
}

impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchOptions")
            .field("timeout", &self.timeout)
            .field("only", &self.only)
            .field("force", &self.force)
            .field("concurrency", &self.concurrency)
            .field("shared_limit", &self.shared_limit)
            .field("stall_timeout", &self.stall_timeout)
            .field("content_check", &self.content_check)
            .field("max_size", &self.max_size)
            .field("observer", &self.observer.as_ref().map(|_| "…"))
            .finish()
    }
}

impl FetchOptions {
    /// Sets [`FetchOptions::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`FetchOptions::only`].
    pub fn only(mut self, only: impl IntoIterator<Item = RoleSelector>) -> Self {
        self.only = only.into_iter().collect();
        self
    }

    /// Sets [`FetchOptions::force`].
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets [`FetchOptions::concurrency`].
    pub fn concurrency(mut self, concurrency: NonZeroUsize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// Sets [`FetchOptions::shared_limit`].
    pub fn shared_limit(mut self, limit: TransferLimit) -> Self {
        self.shared_limit = Some(limit);
        self
    }

    /// Sets [`FetchOptions::max_size`].
    pub fn max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// Sets [`FetchOptions::stall_timeout`].
    pub fn stall_timeout(mut self, stall_timeout: Duration) -> Self {
        self.stall_timeout = stall_timeout;
        self
    }

    /// Sets [`FetchOptions::content_check`].
    pub fn content_check(mut self, content_check: bool) -> Self {
        self.content_check = content_check;
        self
    }

    /// Sets [`FetchOptions::observer`].
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }
}
