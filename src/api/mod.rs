//! The Tripo task API's client: the only code that talks to the API host
//! and holds the key. The task model and the parser of both dialects are
//! in `task.rs`; nothing past these knows which dialect answered.
//!
//! v2 (`GET {base}/task/{id}`) is what the reference page describes and what
//! gateways still serve; v3 (`GET {base}/v3/tasks/{id}`) is what the service
//! itself speaks since the end of October 2026. Both answer
//! `{"code":0,"data":{task}}`; v3 may also answer the bare task.
//!
//! The parts, one concern each: [`key`] (the key, and scrubbing it out of
//! answers), [`transport`] (the request in each dialect, the answer read
//! whole), [`envelope`] (what an answer means: the payload, a retry, or an
//! error), [`list`] (many tasks in one request), and [`retry_loop`] (tries
//! until an answer is final). This file is the client they share.

mod envelope;
mod key;
mod list;
mod retry_loop;
mod transport;

use std::fmt;
use std::sync::Arc;

use reqwest::Url;

pub use self::key::ApiKey;
pub(crate) use self::list::{Listed, MAX_LIST_IDS};
use crate::error::Result;
use crate::events::Observer;
use crate::retry::RetryPolicy;
use crate::task::Task;

/// The base used when none is given.
pub const DEFAULT_API_BASE: &str = "https://openapi.tripo3d.ai";

/// Which shape of the API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `GET {base}/task/{id}`, bare output names.
    V2,
    /// `GET {base}/v3/tasks/{id}`, `_url` output names.
    V3,
}

impl ApiVersion {
    /// The dialect a base speaks by default: v2 when its path ends in
    /// `/v2/openapi`, else v3.
    pub fn guess(base: &Url) -> ApiVersion {
        if base.path().trim_end_matches('/').ends_with("/v2/openapi") {
            ApiVersion::V2
        } else {
            ApiVersion::V3
        }
    }
}

/// A client for the task API. It holds the key, and only ever sends it to
/// the API's own URLs.
#[derive(Clone)]
pub(crate) struct ApiClient {
    http: reqwest::Client,
    base: Url,
    version: ApiVersion,
    /// `None` for a client that is only ever handed tasks (`listen` without
    /// a key): a task request then fails at once, with no request sent.
    key: Option<ApiKey>,
    policy: RetryPolicy,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("version", &self.version)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    pub(crate) fn new(
        http: reqwest::Client,
        base: Url,
        version: Option<ApiVersion>,
        key: Option<ApiKey>,
        policy: RetryPolicy,
    ) -> ApiClient {
        let version = version.unwrap_or_else(|| ApiVersion::guess(&base));
        ApiClient {
            http,
            base,
            version,
            key,
            policy,
        }
    }

    /// The dialect this client speaks.
    pub(crate) fn version(&self) -> ApiVersion {
        self.version
    }

    /// Fetches the task, retrying transient faults as the policy says.
    pub(crate) async fn task(&self, task_id: &str, observer: &Arc<dyn Observer>) -> Result<Task> {
        self.retrying(observer, || self.task_once(task_id, observer))
            .await
    }

    /// Asks for up to [`MAX_LIST_IDS`] tasks in one request (v3's
    /// `POST /v3/tasks/list`), retrying transient faults as the policy says.
    /// A base without the endpoint (404 or 405) answers
    /// [`Listed::Unsupported`]: ask for each task on its own instead.
    pub(crate) async fn tasks(
        &self,
        ids: &[String],
        observer: &Arc<dyn Observer>,
    ) -> Result<Listed> {
        self.retrying(observer, || self.list_once(ids, observer))
            .await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A client of `base` with a key, for the tests of its parts.
    pub(in crate::api) fn client(base: &str, version: Option<ApiVersion>) -> ApiClient {
        let _ = rustls::crypto::ring::default_provider().install_default();
        ApiClient::new(
            reqwest::Client::new(),
            Url::parse(base).expect("test url"),
            version,
            Some(ApiKey::new("tsk_x").expect("key")),
            RetryPolicy::default(),
        )
    }

    #[test]
    fn the_client_never_shows_its_key() {
        let client = client("https://x.example", None);
        assert!(!format!("{client:?}").contains("tsk_x"));
    }
}
