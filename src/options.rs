//! How a fetch behaves: the knobs of [`crate::Client::fetch`].

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::assets::RoleSelector;
use crate::concurrency::TransferLimit;
use crate::events::Observer;

/// Transfers (connections to the CDN) at once when
/// [`FetchOptions::concurrency`] is not set, for one task or a whole batch:
/// enough to fill a link, and few enough that a task with hundreds of
/// outputs holds a bounded number of files, sockets and threads.
pub const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(32).expect("32 is not 0");

/// How a fetch behaves: `FetchOptions::default()`, then a setter for each
/// knob to change (a builder, so a knob added later breaks no caller).
#[derive(Clone)]
#[non_exhaustive]
pub struct FetchOptions {
    // Each knob is documented at its setter.
    pub(crate) timeout: Duration,
    pub(crate) only: Vec<RoleSelector>,
    pub(crate) force: bool,
    pub(crate) concurrency: Option<NonZeroUsize>,
    pub(crate) connections: NonZeroUsize,
    pub(crate) shared_limit: Option<TransferLimit>,
    pub(crate) stall_timeout: Duration,
    pub(crate) content_check: bool,
    pub(crate) max_size: u64,
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(30 * 60),
            only: Vec::new(),
            force: false,
            concurrency: None,
            connections: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
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
            .field("connections", &self.connections)
            .field("shared_limit", &self.shared_limit)
            .field("stall_timeout", &self.stall_timeout)
            .field("content_check", &self.content_check)
            .field("max_size", &self.max_size)
            .field("observer", &self.observer.as_ref().map(|_| "…"))
            .finish()
    }
}

impl FetchOptions {
    /// The bound on transfers at once: the one set, or the default.
    pub(crate) fn transfers_at_once(&self) -> NonZeroUsize {
        self.concurrency.unwrap_or(DEFAULT_CONCURRENCY)
    }
}

impl FetchOptions {
    /// How long to wait for the task to finish. Default: 30 minutes.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Only these outputs (empty: all of them).
    pub fn only(mut self, only: impl IntoIterator<Item = RoleSelector>) -> Self {
        self.only = only.into_iter().collect();
        self
    }

    /// Download everything again, even files an earlier run completed.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// At most this many transfers at once. Default: [`DEFAULT_CONCURRENCY`].
    pub fn concurrency(mut self, concurrency: NonZeroUsize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// At most this many connections for one big file: a file of 8 MiB
    /// or more, from a CDN that serves ranges of one version, is fetched in
    /// parts at once (each connection holds one of `concurrency`'s
    /// turns). 1 fetches every file in one stream. Default: 8.
    pub fn connections(mut self, connections: NonZeroUsize) -> Self {
        self.connections = connections;
        self
    }

    /// A bound on transfers shared with other fetches (on top of
    /// `concurrency`). Default: none.
    pub fn shared_limit(mut self, limit: TransferLimit) -> Self {
        self.shared_limit = Some(limit);
        self
    }

    /// The most bytes one file may bring when the CDN announces no length;
    /// a file that announces its length may bring exactly that. Default:
    /// 4 GiB.
    pub fn max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// A transfer that receives no byte for this long is abandoned and
    /// resumed. Default: 30 seconds.
    pub fn stall_timeout(mut self, stall_timeout: Duration) -> Self {
        self.stall_timeout = stall_timeout;
        self
    }

    /// Check each file's content against its type before keeping it (an
    /// error page where a model should be, a damaged GLB). Default: true.
    pub fn content_check(mut self, content_check: bool) -> Self {
        self.content_check = content_check;
        self
    }

    /// Receives the pipeline's events.
    pub fn observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }
}
