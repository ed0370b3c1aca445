//! Many tasks in one run (DESIGN.md, "Many tasks: batch"): wait for all of
//! them with few requests, start each task's files the moment its success
//! is seen, and hand back each task's outcome as it ends.
//!
//! The flow: [`wait::wait_all`] reports each task's fate as soon as a round
//! of requests shows it; a task that succeeded joins a queue, earliest
//! success first (its links die first); up to `2 × concurrency` tasks at a
//! time run the single-task pipeline ([`Client::fetch_task`]) into
//! `OUT_ROOT/<task_id>/`, their transfers sharing one [`TransferLimit`] of
//! `concurrency`. So every folder meets the single-task contract
//! (lock, staging, manifest, re-runs) because it *is* the single-task
//! pipeline, and the batch only decides when each starts.
//!
//! The work runs on spawned tokio tasks, so transfers go on while the
//! consumer of the stream is busy; dropping the [`Batch`] stops all of it
//! (each pipeline then cleans up as an interrupted single run does).

mod wait;

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{FutureExt, Stream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{Error, Result};
use crate::events;
use crate::fetch;
use crate::manifest::Manifest;
use crate::{Client, FetchOptions, TransferLimit};

use wait::{Found, TaskObservers};

/// Transfers at once across a batch when `FetchOptions::concurrency` is not set.
pub const DEFAULT_BATCH_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(32).expect("32 is not 0");

/// How one task of a batch ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct TaskOutcome {
    /// The task.
    pub task_id: String,
    /// Its folder, `OUT_ROOT/<task_id>`.
    pub dir: PathBuf,
    /// Its manifest, or why the task has none.
    pub result: Result<Manifest>,
}

/// The tasks of a batch, as a stream of [`TaskOutcome`]s in the order they
/// end. Made by [`Client::fetch_many`]; dropping it stops every task still
/// going.
pub struct Batch {
    task_ids: Vec<String>,
    outcomes: mpsc::UnboundedReceiver<TaskOutcome>,
    driver: JoinHandle<()>,
}

impl Batch {
    /// The tasks, each once, in the order given.
    pub fn task_ids(&self) -> &[String] {
        &self.task_ids
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("tasks", &self.task_ids.len())
            .finish_non_exhaustive()
    }
}

impl Stream for Batch {
    type Item = TaskOutcome;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TaskOutcome>> {
        self.outcomes.poll_recv(cx)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // The driver owns every task's pipeline: they go with it.
        self.driver.abort();
    }
}

/// Checks the ids (all of them, before any request) and that `out_root`
/// can be a folder (a file there would fail every task, but only after
/// waiting for each), drops repeats, and starts the batch. Must be called
/// within a tokio runtime.
pub(crate) fn start(
    client: &Client,
    task_ids: Vec<String>,
    out_root: &Path,
    options: &FetchOptions,
) -> Result<Batch> {
    fetch::check_folder(out_root)?;
    let mut unique: Vec<String> = Vec::with_capacity(task_ids.len());
    let mut seen = std::collections::HashSet::new();
    for id in task_ids {
        fetch::check_task_id(&id)?;
        if seen.insert(id.clone()) {
            unique.push(id);
        }
    }
    let (sender, outcomes) = mpsc::unbounded_channel();
    let driver = tokio::spawn(drive(
        client.clone(),
        unique.clone(),
        out_root.to_owned(),
        options.clone(),
        sender,
    ));
    Ok(Batch {
        task_ids: unique,
        outcomes,
        driver,
    })
}

/// Runs the batch: waits, starts pipelines as tasks succeed, and sends
/// every outcome.
async fn drive(
    client: Client,
    ids: Vec<String>,
    root: PathBuf,
    options: FetchOptions,
    outcomes: mpsc::UnboundedSender<TaskOutcome>,
) {
    let concurrency = options.concurrency.unwrap_or(DEFAULT_BATCH_CONCURRENCY);
    let limit = options
        .shared_limit
        .clone()
        .unwrap_or_else(|| TransferLimit::new(concurrency));
    let pipelines_at_once = (2 * concurrency.get()).max(4);
    let observers = TaskObservers::new(options.observer.clone().unwrap_or_else(events::ignore));
    let outcome = |task_id: String, result: Result<Manifest>| TaskOutcome {
        dir: root.join(&task_id),
        task_id,
        result,
    };

    let (found_tx, mut found) = mpsc::unbounded_channel();
    let waiting = async {
        wait::wait_all(client.api(), &ids, options.timeout, &observers, &found_tx).await;
        drop(found_tx);
    };
    let mut waiting = std::pin::pin!(waiting.fuse());
    let mut succeeded: VecDeque<crate::task::Task> = VecDeque::new();
    let mut running: JoinSet<(String, Result<Manifest>)> = JoinSet::new();
    let mut all_found = false;
    loop {
        while running.len() < pipelines_at_once {
            let Some(task) = succeeded.pop_front() else {
                break;
            };
            let task_id = task.task_id.clone();
            let dir = root.join(&task_id);
            let mut task_options = options.clone();
            task_options.observer = Some(observers.for_task(&task_id));
            task_options.shared_limit = Some(limit.clone());
            // A task's own files all start at once; the limit bounds the batch.
            task_options.concurrency = None;
            let client = client.clone();
            running.spawn(async move {
                let pipeline = client.fetch_task(task, &dir, &task_options);
                let result = std::panic::AssertUnwindSafe(pipeline)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(Error::Internal("a task's pipeline panicked".into())));
                (task_id, result)
            });
        }
        if all_found && succeeded.is_empty() && running.is_empty() {
            return;
        }
        tokio::select! {
            () = &mut waiting => {}
            news = found.recv(), if !all_found => match news {
                Some(Found::Succeeded(task)) => succeeded.push_back(task),
                Some(Found::Failed { task_id, error }) => {
                    let _ = outcomes.send(outcome(task_id, Err(error)));
                }
                None => all_found = true,
            },
            Some(joined) = running.join_next(), if !running.is_empty() => match joined {
                Ok((task_id, result)) => {
                    let _ = outcomes.send(outcome(task_id, result));
                }
                // Only an abort ends a pipeline without its result, and
                // aborting is what dropping the batch does.
                Err(_) => return,
            },
        }
    }
}
