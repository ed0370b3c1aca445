//! The desk: decides what a verified delivery means (new work, a repeat, or
//! nothing to do), journals new work before it is acknowledged, runs each
//! task's fetch, and closes its journal entry with the outcome.
//!
//! Tasks run a bounded number at a time, as in `batch` (`2 × concurrency`,
//! at least 4); the others wait in a queue, holding no file. A task that
//! failed for a local, passing reason (too many open files, a full disk)
//! is not closed: its entry stays open in the journal, and the next start
//! fetches it again. Those resumed on start ask the API paced, 20 a second
//! at most, as `batch` asks task by task.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::journal::{Entry, Journal, Opened};
use super::{ListenEvent, ListenOptions};
use crate::error::Error;
use crate::fetch::check_task_id;
use crate::manifest::Manifest;
use crate::task::TraceId;
use crate::task::{Task, TaskStatus};
use crate::task_report::TaskReport;
use crate::webhook::{Rejection, WebhookEvent};
use crate::{Client, FetchOptions};

/// What a verified delivery led to, for the HTTP answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Journaled; its task starts now.
    Accepted,
    /// A repeat: acknowledged, nothing done.
    Duplicate,
    /// An event without files: acknowledged, nothing done.
    Ignored,
    /// Signed, but not usable (a task id that is not one).
    Unusable(Rejection),
    /// The journal could not take it: the service should deliver it again.
    NotJournaled,
}

/// How a task's fetch starts.
enum Start {
    /// From the delivery's task and links.
    Delivered(Task),
    /// From the API (a delivery resumed after a restart: its links are old).
    Resume,
    /// Nothing to fetch: the task failed.
    Failed(Entry),
}

pub(crate) struct Job {
    delivery: String,
    task_id: String,
    start: Start,
    /// How long after the start of `listen` the job may ask the API: the
    /// deliveries resumed on start are paced as `batch` paces its `GET`s,
    /// not sent all at once.
    not_before: Duration,
}

/// Between two resumed deliveries' first requests: at most 20 a second.
const RESUME_SPACING: Duration = Duration::from_millis(50);

/// The deliveries seen, and the tasks being fetched.
#[derive(Default)]
struct Book {
    seen: HashSet<String>,
    in_flight: HashSet<String>,
}

pub(crate) struct Desk {
    client: Client,
    out_root: PathBuf,
    fetch: FetchOptions,
    on_event: Arc<dyn Fn(&ListenEvent) + Send + Sync>,
    journal: Journal,
    book: Mutex<Book>,
    jobs: mpsc::UnboundedSender<Job>,
    /// When the desk opened: resumed jobs are paced from here.
    started: tokio::time::Instant,
}

impl Desk {
    /// The desk, with a job queued for every delivery the journal holds open.
    pub(crate) fn new(
        client: Client,
        out_root: &Path,
        options: &ListenOptions,
        opened: Opened,
    ) -> (Arc<Desk>, mpsc::UnboundedReceiver<Job>) {
        let (jobs, queue) = mpsc::unbounded_channel();
        let mut book = Book {
            seen: opened.seen,
            in_flight: HashSet::new(),
        };
        for (i, entry) in opened.open.into_iter().enumerate() {
            book.in_flight.insert(entry.task_id.clone());
            let job = Job {
                not_before: RESUME_SPACING.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX)),
                delivery: entry.delivery.clone(),
                task_id: entry.task_id.clone(),
                start: if entry.event == "task.failed" {
                    Start::Failed(entry)
                } else {
                    Start::Resume
                },
            };
            let _ = jobs.send(job);
        }
        let desk = Desk {
            client,
            out_root: out_root.to_owned(),
            fetch: options.fetch.clone(),
            on_event: options.on_event.clone(),
            journal: opened.journal,
            book: Mutex::new(book),
            jobs,
            started: tokio::time::Instant::now(),
        };
        (Arc::new(desk), queue)
    }

    pub(crate) fn event(&self, event: &ListenEvent) {
        (self.on_event)(event);
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a verified delivery: journals and starts new work, answers
    /// repeats. Returns once new work is on disk.
    pub(crate) async fn accept(&self, event: WebhookEvent) -> Verdict {
        let WebhookEvent {
            delivery,
            event_type,
            task,
            ..
        } = event;
        let task = match task {
            Some(task) if event_type == "task.completed" || event_type == "task.failed" => task,
            _ => {
                self.event(&ListenEvent::Ignored {
                    delivery,
                    event_type,
                });
                return Verdict::Ignored;
            }
        };
        if let Err(error) = check_task_id(&task.task_id) {
            return Verdict::Unusable(Rejection::NotAnEvent(error.to_string()));
        }
        let task_id = task.task_id.clone();
        // The folder is read on a blocking thread: a slow disk holds no
        // other delivery up.
        let complete = event_type == "task.completed" && {
            let (dir, id) = (self.out_root.join(&task_id), task_id.clone());
            tokio::task::spawn_blocking(move || is_complete(&dir, &id))
                .await
                .unwrap_or(false)
        };
        let repeat = {
            let mut book = self.book();
            let why = if book.seen.contains(&delivery) {
                Some("delivery already received")
            } else if book.in_flight.contains(&task_id) {
                Some("task in progress")
            } else if complete {
                Some("task already complete in its folder")
            } else {
                None
            };
            book.seen.insert(delivery.clone());
            if why.is_none() {
                book.in_flight.insert(task_id.clone());
            }
            why
        };
        if let Some(why) = repeat {
            self.event(&ListenEvent::Duplicate {
                delivery,
                task_id,
                why,
            });
            return Verdict::Duplicate;
        }

        let failed = event_type == "task.failed";
        let entry = Entry {
            delivery: delivery.clone(),
            task_id: task_id.clone(),
            event: event_type.clone(),
            at: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            status: failed.then(|| task.status.to_string()),
            error_code: task.error_code.filter(|_| failed),
            error_message: task.error_message.clone().filter(|_| failed),
        };
        if let Err(error) = self.journal.received(&entry).await {
            let mut book = self.book();
            book.seen.remove(&delivery);
            book.in_flight.remove(&task_id);
            drop(book);
            self.event(&ListenEvent::JournalFailed {
                error: format!("{}: {error}", self.journal.path().display()),
            });
            return Verdict::NotJournaled;
        }
        self.event(&ListenEvent::Accepted {
            delivery: delivery.clone(),
            task_id: task_id.clone(),
            event_type,
        });
        let start = if failed {
            Start::Failed(entry)
        } else {
            Start::Delivered(task)
        };
        let _ = self.jobs.send(Job {
            delivery,
            task_id,
            start,
            not_before: Duration::ZERO,
        });
        Verdict::Accepted
    }

    /// Runs jobs as they come, a bounded number at a time, until `stopped`;
    /// then drops the fetches under way (their temporary files go with
    /// them; their entries stay open, as do those of jobs still waiting).
    pub(crate) async fn run(
        self: Arc<Self>,
        mut queue: mpsc::UnboundedReceiver<Job>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let concurrency = self.fetch.transfers_at_once();
        let at_once = (2 * concurrency.get()).max(4);
        let mut waiting: VecDeque<Job> = VecDeque::new();
        let mut running = JoinSet::new();
        loop {
            while running.len() < at_once {
                let Some(job) = waiting.pop_front() else {
                    break;
                };
                running.spawn(self.clone().work(job));
            }
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => break,
                job = queue.recv() => match job {
                    Some(job) => waiting.push_back(job),
                    None => break,
                },
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        running.shutdown().await;
    }

    /// One task, start to end: fetch (or record the failure), report, close.
    async fn work(self: Arc<Self>, job: Job) {
        let dir = self.out_root.join(&job.task_id);
        let mut passing = false;
        let report = match job.start {
            Start::Delivered(task) => {
                let result = self.client.fetch_task(task, &dir, &self.fetch).await;
                passing = is_passing(&result);
                TaskReport::new(&job.task_id, &dir, &result)
            }
            Start::Resume => {
                tokio::time::sleep_until(self.started + job.not_before).await;
                self.event(&ListenEvent::Resumed {
                    task_id: job.task_id.clone(),
                });
                let result = self.client.fetch(&job.task_id, &dir, &self.fetch).await;
                passing = is_passing(&result);
                TaskReport::new(&job.task_id, &dir, &result)
            }
            Start::Failed(entry) => TaskReport::failed(&job.task_id, &dir, &failure(entry)),
        };
        // A passing, local failure leaves the entry open: the next start
        // fetches the task again.
        if !passing {
            self.journal.closed(
                &job.delivery,
                &job.task_id,
                report.is_ok(),
                report.exit_code,
            );
        }
        self.book().in_flight.remove(&job.task_id);
        self.event(&ListenEvent::Finished(report));
    }

    /// Writes out what the journal still has queued.
    pub(crate) async fn finish(&self) {
        self.journal.finish().await;
    }
}

/// True when a fetch failed for a local reason that passes (too many open
/// files, a full disk or quota): the task is worth another try later, not
/// a failure for good.
fn is_passing<T>(result: &Result<T, Error>) -> bool {
    let Err(Error::Io { source, .. }) = result else {
        return false;
    };
    source
        .raw_os_error()
        .is_some_and(|code| crate::folder::PASSING_OS_ERRORS.contains(&code))
}

/// What a `task.failed` delivery said, as the error a fetch would end with.
fn failure(entry: Entry) -> Error {
    Error::TaskEnded {
        task_id: entry.task_id,
        status: entry
            .status
            .as_deref()
            .map_or(TaskStatus::Failed, TaskStatus::parse),
        while_downloading: false,
        error_code: entry.error_code,
        message: entry.error_message,
        trace: TraceId::default(),
    }
}

/// True when `dir` holds this task's manifest and every file it lists, at
/// its size: cheap enough to decide before answering the service. (A file
/// changed in place is found by the fetch's own check, when one runs.)
fn is_complete(dir: &Path, task_id: &str) -> bool {
    match Manifest::read(dir) {
        Ok(manifest) => {
            manifest.task_id == task_id
                && manifest.files.iter().all(|file| {
                    std::fs::metadata(dir.join(&file.path)).is_ok_and(|m| m.len() == file.size)
                })
        }
        Err(_) => false,
    }
}

// Its error codes are Unix's.
#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_a_local_passing_failure_leaves_the_task_open() {
        let io = |code| -> Result<(), Error> {
            Err(Error::Io {
                action: "write",
                path: "model.part".into(),
                source: std::io::Error::from_raw_os_error(code),
            })
        };
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOSPC, libc::EDQUOT] {
            assert!(is_passing(&io(code)), "{code}");
        }
        for code in [libc::EACCES, libc::EIO, libc::EROFS] {
            assert!(!is_passing(&io(code)), "{code}");
        }
        assert!(!is_passing(&Ok(())));
        assert!(!is_passing::<()>(&Err(Error::Interrupted)));
    }
}
