//! What the pipeline reports as it goes, for any display to render. The
//! library never draws anything itself: the binary turns these into bars or
//! log lines, and a build tool may turn them into whatever it likes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::output_role::OutputRole;
use crate::task::TaskStatus;
use crate::task::TraceId;

/// One thing that happened during a fetch.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Another fetch-assets run holds the output folder; this one waits for
    /// it to finish, then carries on (usually finding the folder complete).
    FolderBusy {
        /// The folder.
        dir: PathBuf,
    },
    /// The file system would not lock the output folder (some network file
    /// systems cannot): this run goes on without the lock, so a second run
    /// into the same folder at the same time would not wait for it.
    FolderNotLocked {
        /// The folder.
        dir: PathBuf,
        /// What the system answered.
        cause: String,
    },
    /// A request is about to go out (`-v` shows these).
    Request {
        /// `GET`, `POST`.
        method: String,
        /// Where to, without the query: never a signature, never the key.
        url: String,
    },
    /// A task answer arrived while waiting.
    TaskPolled {
        /// The task's status.
        status: TaskStatus,
        /// Progress, 0 to 100, when meaningful.
        progress: Option<u8>,
        /// Position in the queue, while queued.
        queue_position: Option<u32>,
        /// The service's own estimate of the time left, while running.
        estimate: Option<Duration>,
        /// The API's trace id for this answer.
        trace_id: TraceId,
    },
    /// The API call failed in a way worth retrying; we wait `delay` first.
    ApiRetry {
        /// Which retry this is (1 for the first).
        retry: u32,
        /// How long we wait before it.
        delay: Duration,
        /// What went wrong.
        cause: String,
    },
    /// The task succeeded; these files are about to be fetched.
    Planned {
        /// The files, in the contract's order.
        files: Vec<PlannedFile>,
    },
    /// These files were already on disk and verified: they are kept as they
    /// are. Sent once for the files in the folder (before `Planned`), and
    /// once for each file an earlier run left complete in `.fetch-assets/`
    /// (as its transfer starts; no request is made for it).
    Kept {
        /// The files kept.
        files: Vec<String>,
    },
    /// A transfer got its first answer (again, after a retry or a refresh).
    TransferStarted {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
        /// Its size, when the server announced it.
        size: Option<u64>,
        /// Where this request starts: 0, or the resume point.
        offset: u64,
    },
    /// Bytes arrived for a file.
    TransferProgress {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
        /// How many bytes arrived since the last such event.
        bytes: u64,
        /// How many bytes of the file are here now, kept ones included: an
        /// observer needs no map of its own to draw a bar.
        received: u64,
        /// The file's size, when the CDN announced it.
        size: Option<u64>,
    },
    /// A transfer failed in a way worth retrying; it goes on after `delay`.
    TransferRetry {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
        /// Which retry this is in the current run of faults.
        retry: u32,
        /// How long we wait before it.
        delay: Duration,
        /// What went wrong (links redacted).
        cause: String,
        /// The byte the next request starts from.
        resume_from: u64,
    },
    /// The server ignored our `Range`; the file starts over from its first byte.
    TransferRestarted {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
    },
    /// A file's link was refused or about to die; fresh links are being fetched.
    LinkExpired {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
        /// Why ("the CDN answered 403", "the link expires in 2 s").
        cause: String,
    },
    /// The task was fetched again, and every link is fresh.
    LinksRefreshed {
        /// The API's trace id for the answer.
        trace_id: TraceId,
    },
    /// A file arrived whole and checked (its size and hash), still under a
    /// temporary name: it is put in place with the others once every file
    /// of the run has arrived, and only then is [`Event::FileDone`] sent.
    /// Another file may yet fail, and then this one is not kept.
    FileComplete {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
        /// The name it will have in the folder (`model.glb`).
        path: String,
        /// Its size in bytes.
        size: u64,
    },
    /// A big file arrived in parts over several connections at once
    /// (`--connections`); sent once it is whole, before
    /// [`Event::FileComplete`].
    Connections {
        /// The file, by its name without extension (`model`).
        file: Arc<str>,
        /// How many connections carried its bytes.
        connections: usize,
    },
    /// A file is complete and verified, under its final name.
    FileDone {
        /// The file, by its name without extension (`model`, `multiview_0_front`).
        file: Arc<str>,
        /// Its final name in the folder (`model.glb`).
        path: String,
        /// Its size in bytes.
        size: u64,
        /// Its SHA-256, in hex.
        sha256: String,
    },
    /// The manifest was written: the folder is complete.
    ManifestWritten {
        /// Where.
        path: PathBuf,
    },
    /// An event of one task of a run of many (`Client::fetch_many`): the
    /// same events a single fetch reports, with the task they are about.
    Task {
        /// The task.
        task_id: Arc<str>,
        /// What happened to it.
        event: Box<Event>,
    },
}

/// One file the pipeline is about to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// The role (and, for multiview, the view; for an open-ended output,
    /// its field). Its `Display` is how people are shown it: `model`,
    /// `multiview front`, `thumbnail`.
    pub role: OutputRole,
    /// The file, by its name without extension (`model`, `multiview_0_front`):
    /// the key the transfer events name it by.
    pub file: Arc<str>,
    /// The name it will have in the folder (`multiview_0_front.png`) when
    /// the link tells the extension, else `file` (the extension then comes
    /// from the first answer's Content-Type): the name to show people.
    pub name: String,
    /// The link without its query.
    pub source: String,
}

/// Receives the pipeline's events. Called from the pipeline's tasks, so it
/// must be quick and must not block.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// An observer that ignores everything.
pub(crate) fn ignore() -> Arc<dyn Observer> {
    Arc::new(|_: &Event| {})
}
