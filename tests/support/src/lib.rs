//! An in-process fake of the Tripo task API and its CDN, for fetch-assets'
//! integration tests, async library tests, the demo and the benchmarks.
//!
//! The API listens on `127.0.0.1` and the CDN on `127.0.0.2`: a different
//! host, so a client that sends the API key "to the same host" is still seen
//! leaking it. Both run on a thread of their own with their own tokio runtime,
//! so sync tests (running the binary) and async tests drive it alike.
//!
//! ```no_run
//! use std::time::Duration;
//! use fake_tripo::{FakeTripo, FileFault, Scenario};
//!
//! let fake = FakeTripo::start(
//!     Scenario::new("v3_all_outputs")
//!         .phase("running", Duration::from_millis(500))
//!         .fault("model.glb", FileFault::refuse(1)),
//! );
//! // run the client against fake.v3_base() with fake.api_key() ...
//! assert_eq!(fake.stats().requests_for("model.glb"), 2);
//! // dropping `fake` stops it, and panics if the key reached the CDN.
//! ```

mod api;
mod cdn;
mod content;
mod demo;
mod links;
mod list;
mod scenario;
mod server;
mod spec;
mod state;
mod stats;
mod tasks;
mod webhook;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use tokio::sync::oneshot;

pub use demo::{DEMO_CUT, DEMO_REFUSED, demo_scenario};
pub use links::LinkStyle;
pub use list::{ListShape, MAX_IDS as MAX_LIST_IDS};
pub use scenario::{
    ApiFault, DEFAULT_API_KEY, ErrorPage, Estimates, FileFault, LeftTime, ProgressCurve, Scenario,
    Validators, fixture_json, fixtures_dir,
};
pub use stats::{ApiRequest, CdnRequest, DeliverySent, Stats};
pub use tasks::TaskSpec;
pub use webhook::{Delivery, WebhookAnswer};

/// Environment variables naming a proxy: a program pointed at the fake must
/// run without them, or a proxy could carry its loopback requests elsewhere.
pub const PROXY_VARIABLES: [&str; 6] = [
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "all_proxy",
];

use state::Shared;

/// A running fake; dropping it stops it.
pub struct FakeTripo {
    shared: Arc<Shared>,
    api_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTripo {
    /// Starts the API on `127.0.0.1:<random port>` and the CDN on
    /// `127.0.0.2:<random port>`; the task's timeline counts from now.
    /// Panics with the reason if the scenario is inconsistent or a port cannot
    /// be had.
    pub fn start(scenario: Scenario) -> FakeTripo {
        let started = Instant::now();
        let api = bind("127.0.0.1");
        let cdn = bind("127.0.0.2");
        let api_addr = local_addr(&api);
        let shared = Arc::new(Shared::new(scenario, started, local_addr(&cdn)));
        let (shutdown, stopped) = oneshot::channel();
        let served = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-tripo".to_owned())
            .spawn(move || run(api, cdn, served, stopped))
            .unwrap_or_else(|e| panic!("fake-tripo: cannot start its thread: {e}"));
        FakeTripo {
            shared,
            api_addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The v3 base: `http://127.0.0.1:PORT` (task at `GET /v3/tasks/{id}`).
    pub fn v3_base(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// The v2 base: `http://127.0.0.1:PORT/v2/openapi` (task at
    /// `GET /v2/openapi/task/{id}`).
    pub fn v2_base(&self) -> String {
        format!("http://{}/v2/openapi", self.api_addr)
    }

    /// The CDN's origin, `http://127.0.0.2:PORT`, where the links point.
    pub fn cdn_base(&self) -> &str {
        &self.shared.cdn_base
    }

    /// The key the API accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// The task id served.
    pub fn task_id(&self) -> &str {
        &self.shared.task_id
    }

    /// The exact content served for file `name` (e.g. `"model.glb"`), whole:
    /// for huge files read pieces with [`FakeTripo::file_range`].
    pub fn file_bytes(&self, name: &str) -> Vec<u8> {
        let content = self.shared.content(name);
        let len = usize::try_from(content.len())
            .unwrap_or_else(|_| panic!("fake-tripo: file `{name}` is too large to hold in memory"));
        content.range(0, len).to_vec()
    }

    /// The exact content of version `version` of file `name` (0 is the
    /// first; see [`FileFault::new_version_after`]).
    pub fn file_version_bytes(&self, name: &str, version: u32) -> Vec<u8> {
        let content = self.shared.content(name).version(version);
        content.range(0, content.len() as usize).to_vec()
    }

    /// `len` bytes of file `name` from `start` (clamped to the file's end).
    pub fn file_range(&self, name: &str, start: u64, len: usize) -> Vec<u8> {
        let content = self.shared.content(name);
        let start = start.min(content.len());
        let len = (len as u64).min(content.len() - start) as usize;
        content.range(start, len).to_vec()
    }

    /// The length of file `name`.
    pub fn file_len(&self, name: &str) -> u64 {
        self.shared.content(name).len()
    }

    /// The instant the fake started: every `at` in its [`Stats`] counts from
    /// here (to compare the logs of two fakes).
    pub fn started_at(&self) -> Instant {
        self.shared.started
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }
}

impl Drop for FakeTripo {
    /// Stops the server, then (unless a test is already failing) checks that
    /// no CDN request carried the API key or an `Authorization` header: the
    /// links authorise themselves, and the CDN is someone else's host.
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if std::thread::panicking() {
            return;
        }
        let leaks: Vec<String> = self
            .stats()
            .cdn_requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.had_authorization || r.had_api_key)
            .map(|(index, r)| {
                let what = match (r.had_authorization, r.had_api_key) {
                    (true, true) => "an Authorization header and the API key",
                    (true, false) => "an Authorization header",
                    _ => "the API key",
                };
                format!(
                    "  CDN request #{} for `{}` at {:?} carried {what}",
                    index + 1,
                    r.file,
                    r.at
                )
            })
            .collect();
        assert!(
            leaks.is_empty(),
            "fake-tripo: the CDN host must never see the API key or an Authorization header, but:\n{}",
            leaks.join("\n")
        );
    }
}

fn bind(host: &str) -> StdListener {
    let listener = StdListener::bind((host, 0)).unwrap_or_else(|e| {
        panic!("fake-tripo: cannot listen on {host}: {e} (the fake needs 127.0.0.1 and 127.0.0.2 on the loopback)")
    });
    listener.set_nonblocking(true).unwrap_or_else(|e| {
        panic!("fake-tripo: cannot make the {host} listener non-blocking: {e}")
    });
    listener
}

fn local_addr(listener: &StdListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("fake-tripo: cannot read a listener's address: {e}"))
}

/// The server thread: its own runtime (2 workers, whatever the caller runs),
/// serving until told to stop, then dropping every connection, stalled ones
/// included.
fn run(api: StdListener, cdn: StdListener, shared: Arc<Shared>, stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fake-tripo-worker")
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("fake-tripo: cannot build its tokio runtime: {e}"));
    runtime.block_on(async move {
        let listen = |listener| {
            tokio::net::TcpListener::from_std(listener)
                .unwrap_or_else(|e| panic!("fake-tripo: cannot hand a listener to tokio: {e}"))
        };
        let api_app = Router::new()
            .route("/v3/tasks/list", axum::routing::post(list::handle))
            .fallback(api::handle)
            .with_state(shared.clone());
        let cdn_app = Router::new().fallback(cdn::handle).with_state(shared);
        let api = tokio::spawn(server::serve(listen(api), api_app));
        let cdn = tokio::spawn(server::serve(listen(cdn), cdn_app));
        let _ = stopped.await;
        api.abort();
        cdn.abort();
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
}
