//! `listen`: the receiver for the service's webhooks, so a pipeline fetches
//! each task the moment it completes, with no polling (DESIGN.md, "Push
//! instead of poll").
//!
//! The flow of one delivery: the server (`server.rs`) reads it (at most
//! 1 MiB) and checks it with [`crate::webhook::check_delivery`]; the desk
//! (`desk.rs`) decides whether it is new (not a delivery already seen, not a
//! task in flight or complete in its folder), writes it to the journal
//! (`journal.rs`) and waits for the sync, and only
//! then does the server answer `202`; the desk then starts the task's fetch
//! from the delivery's own links, every fetch drawing on one shared
//! transfer limit. When the fetch ends, its report goes out and its
//! journal entry is closed. On start, the deliveries the journal holds open
//! (acknowledged before a crash or a stop) are fetched again, through the
//! API, for fresh links: an acknowledged delivery is never lost, and a task
//! is fetched once however often it is delivered.

mod desk;
mod journal;
mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::hint::Setting;
use crate::task_report::TaskReport;
use crate::webhook::{Rejection, WebhookSecret};
use crate::{Client, FetchOptions};

pub use journal::{JOURNAL_FILE, STATE_DIR};

/// The address `listen` binds when none is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8787";

/// How long a stop waits for requests being answered to finish.
const GRACE: Duration = Duration::from_secs(5);

/// How `listen` runs.
#[derive(Clone)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The webhook's secret.
    pub secret: WebhookSecret,
    /// How each task is fetched; give it a [`crate::TransferLimit`] to bound
    /// transfers across all tasks.
    pub fetch: FetchOptions,
    /// Receives what happens, for a display or a log.
    pub on_event: Arc<dyn Fn(&ListenEvent) + Send + Sync>,
}

impl ListenOptions {
    /// Listens on `addr` for deliveries signed with `secret`.
    pub fn new(addr: SocketAddr, secret: WebhookSecret) -> ListenOptions {
        ListenOptions {
            addr,
            secret,
            fetch: FetchOptions::default(),
            on_event: Arc::new(|_: &ListenEvent| {}),
        }
    }

    /// Sets [`ListenOptions::fetch`].
    pub fn fetch(mut self, fetch: FetchOptions) -> Self {
        self.fetch = fetch;
        self
    }

    /// Sets [`ListenOptions::on_event`].
    pub fn on_event(mut self, on_event: impl Fn(&ListenEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Arc::new(on_event);
        self
    }
}

impl std::fmt::Debug for ListenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenOptions")
            .field("addr", &self.addr)
            .field("secret", &self.secret)
            .field("fetch", &self.fetch)
            .finish_non_exhaustive()
    }
}

/// What `listen` reports as it goes. Nothing here carries the secret or a
/// signed link.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ListenEvent {
    /// Listening, with this many journaled deliveries resumed.
    Listening {
        /// The address bound (the port chosen, when 0 was asked for).
        addr: SocketAddr,
        /// Where the journal is.
        journal: std::path::PathBuf,
        /// Deliveries acknowledged before and not yet done, fetched again now.
        resumed: usize,
    },
    /// A `task.completed` journaled before (and not done) is being fetched
    /// again, with fresh links from the API.
    Resumed {
        /// The task.
        task_id: String,
    },
    /// A delivery was journaled and acknowledged; its task starts now.
    Accepted {
        /// The delivery.
        delivery: String,
        /// The task.
        task_id: String,
        /// Its event type.
        event_type: String,
    },
    /// A delivery acknowledged and not acted on: a repeat.
    Duplicate {
        /// The delivery.
        delivery: String,
        /// The task.
        task_id: String,
        /// Why: "delivery already received", "task in progress", "task already complete".
        why: &'static str,
    },
    /// A verified delivery of an event that has no files (`balance.low`, …):
    /// acknowledged, nothing else.
    Ignored {
        /// The delivery.
        delivery: String,
        /// Its event type.
        event_type: String,
    },
    /// A request refused: not signed by the service, too large, or unreadable.
    Rejected {
        /// The HTTP status answered.
        status: u16,
        /// Why.
        reason: Rejection,
    },
    /// A delivery could not be journaled; the service was answered `500` and
    /// will deliver it again.
    JournalFailed {
        /// The cause.
        error: String,
    },
    /// A task ended: its folder is complete, or why not.
    Finished(TaskReport),
}

/// Receives webhook deliveries on `options.addr` and fetches each completed
/// task into `out_root/<task_id>/`, until `stop` resolves. Deliveries the
/// journal holds open from an earlier run are fetched again first. On stop,
/// no new delivery is taken, fetches under way are dropped (their temporary
/// files removed) and stay journaled for the next start, and `Ok(())` is
/// returned.
pub async fn listen(
    client: &Client,
    out_root: &Path,
    options: ListenOptions,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    crate::fetch::check_folder(out_root)?;
    std::fs::create_dir_all(out_root).map_err(|e| Error::io("create the folder", out_root, e))?;
    let opened = journal::Journal::open(out_root, SystemTime::now())?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| {
            Error::Usage(format!(
                "could not listen on {}: {e}: choose another {}",
                options.addr,
                Setting::ListenAddress
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("the listener has no address: {e}")))?;

    let (stopping, stopped) = watch::channel(false);
    let resumed = opened.open.len();
    let journal_path = opened.journal.path().to_owned();
    let (desk, jobs) = desk::Desk::new(client.clone(), out_root, &options, opened);
    (options.on_event)(&ListenEvent::Listening {
        addr,
        journal: journal_path,
        resumed,
    });
    let running = tokio::spawn(desk.clone().run(jobs, stopped.clone()));
    let serving = tokio::spawn(server::serve(
        listener,
        desk.clone(),
        options.secret,
        stopped,
    ));

    stop.await;
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(GRACE, serving).await;
    let _ = running.await;
    desk.finish().await;
    Ok(())
}
