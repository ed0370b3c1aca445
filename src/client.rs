//! The public client: one API key and base, the HTTP policy (TLS, redirects,
//! timeouts, where links may point), and the two things a client does: fetch
//! a task's outputs into a folder, or look at the task once.

use std::path::Path;
use std::time::Duration;

use crate::api::{self, ApiKey, ApiVersion, DEFAULT_API_BASE};
use crate::batch::{self, Batch};
use crate::error::{Error, Result};
use crate::events;
use crate::fetch;
use crate::hint::Hint;
use crate::hosts;
use crate::manifest::Manifest;
use crate::net;
use crate::options::FetchOptions;
use crate::retry::RetryPolicy;
use crate::task::Task;

/// A client for one API key and base. Cheap to clone; reuse it across fetches
/// so connections are reused.
///
/// ```
/// use fetch_assets::{ApiVersion, Client};
///
/// // The key alone: the default base (`https://openapi.tripo3d.ai`), v3.
/// let client = Client::builder().api_key("tsk_...").build()?;
/// // A China key, on its own host; or a gateway whose paths are v2's.
/// let china = Client::builder()
///     .api_key("tsk_...")
///     .api_base("https://openapi.tripo3d.com")
///     .build()?;
/// let gateway = Client::builder()
///     .api_key("tsk_...")
///     .api_base("https://gateway.example.com/tripo")
///     .api_version(ApiVersion::V2)
///     .build()?;
/// # Ok::<(), fetch_assets::Error>(())
/// ```
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
    /// first (reporting [`Event::FolderBusy`](crate::Event::FolderBusy)), then usually finds it
    /// complete. Dropping the future stops the transfers and removes their
    /// temporary files; files under their final names are only ever complete
    /// ones, and a run that fails leaves the folder as it found it.
    pub async fn fetch(
        &self,
        task_id: &str,
        dir: impl AsRef<Path>,
        options: &FetchOptions,
    ) -> Result<Manifest> {
        fetch::fetch(
            self.parts(),
            task_id,
            fetch::Start::Wait,
            dir.as_ref(),
            options,
        )
        .await
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
        fetch::fetch(self.parts(), &task_id, start, dir.as_ref(), options).await
    }

    /// The task API, for code that asks for tasks itself (`batch`).
    pub(crate) fn api(&self) -> &api::ApiClient {
        &self.api
    }

    /// What the pipeline needs of this client.
    fn parts(&self) -> fetch::Parts<'_> {
        fetch::Parts {
            api: &self.api,
            cdn: &self.http,
            policy: self.retry,
            hosts: self.hosts,
        }
    }

    /// Fetches many tasks, each into `out_root/<task_id>/` exactly as
    /// [`Client::fetch`] would, and yields each task's outcome as it ends.
    ///
    /// Waiting costs few requests: with the v3 API, one
    /// `POST /v3/tasks/list` for up to 100 pending tasks, on the schedule of
    /// the task expected to finish first. A task's files start the moment
    /// its success is seen; `options.concurrency` (default
    /// [`DEFAULT_BATCH_CONCURRENCY`](crate::DEFAULT_BATCH_CONCURRENCY)) bounds the transfers of the whole
    /// batch, earliest success first. Every id is checked before any
    /// request (an invalid one is [`Error::Usage`]); repeats count once.
    /// Events reach `options.observer` wrapped in [`Event::Task`](crate::Event::Task). Must be
    /// called within a tokio runtime; dropping the [`Batch`] stops every
    /// task still going, as dropping [`Client::fetch`] does.
    ///
    /// Against the fake service of the crate's tests (`tests/support`):
    ///
    /// ```
    /// use fake_tripo::{FakeTripo, Scenario, TaskSpec};
    /// use fetch_assets::{Client, FetchOptions, TaskReport};
    /// use futures::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), fetch_assets::Error> {
    /// let other = "b2000000-0000-4000-8000-000000000002";
    /// let fake = FakeTripo::start(
    ///     Scenario::new("v3_model_pbr_same").task(other, TaskSpec::new("v3_model_pbr_same")),
    /// );
    /// let client = Client::builder()
    ///     .api_key(fake.api_key())
    ///     .api_base(fake.v3_base())
    ///     .build()?;
    /// let root = tempfile::tempdir().expect("a temporary folder");
    /// let ids = [fake.task_id(), other];
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
    no_proxy: bool,
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

    /// Goes straight to every host, ignoring the proxies the environment
    /// names (`HTTPS_PROXY`, `ALL_PROXY`, ...), which are used otherwise.
    /// The HTTP client itself stays inside: its redirect, `Referer` and
    /// resolver settings are what keep the host rules and the links' secrets.
    pub fn no_proxy(mut self) -> Self {
        self.no_proxy = true;
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
                return Err(Error::Usage(format!("no API key: {}", Hint::GiveApiKey)));
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
        let http = http_client(hosts, &base, self.no_proxy)?;
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

/// The one HTTP client, for the API and the CDN: rustls with the
/// platform's roots; the system's resolver, failing `.invalid` names at
/// once and holding every address a link's name resolves to to the host
/// rules (`net.rs`); redirects checked against the host rules (see
/// `hosts.rs`); no `Referer`, which would carry a signed link to wherever
/// the CDN redirects; no whole-request timeout (a large file on a slow link
/// may take its time; stalls are caught separately).
fn http_client(
    hosts: hosts::HostRules,
    api_base: &reqwest::Url,
    no_proxy: bool,
) -> Result<reqwest::Client> {
    // rustls' `ring` provider, unless the program already chose one for the
    // process (then that one stays: installing fails, and is not an error).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder();
    let builder = if no_proxy {
        builder.no_proxy()
    } else {
        builder
    };
    builder
        .user_agent(concat!("fetch-assets/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .dns_resolver(net::SystemResolver::shared(hosts, api_base, !no_proxy))
        .redirect(hosts.redirect_policy())
        .referer(false)
        .build()
        .map_err(|e| Error::Internal(format!("could not set up HTTP: {e}")))
}
