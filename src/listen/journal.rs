//! The journal: every delivery `listen` accepted, made durable before the
//! service is told so, and closed when its task is done.
//!
//! One append-only file of JSON lines, `OUT_ROOT/.fetch-assets/listen.journal`:
//! a `received` record (synced before the `2xx`), later a `closed` one. On
//! start the file is read, every received-but-not-closed delivery is handed
//! back to be resumed, and the file is rewritten with only what is still
//! needed: the open deliveries, and the ids of closed ones for
//! [`RETENTION`] (the service's retries of a delivery repeat its id). A line
//! torn by a crash is one whose `2xx` was never sent, so it is dropped.
//!
//! Appends go through one writer thread that syncs once for every batch of
//! records waiting, so many deliveries arriving together share a sync.
//! Signed links are never written here: a resumed task asks the API for
//! fresh ones.
//!
//! The state folder and the journal are trusted no more than a run trusts
//! its output folder: both are opened through handles, never through a
//! symlink; only a regular file is read as the journal (a FIFO is not
//! waited on, a device not read), and only up to [`MAX_JOURNAL`]. Anything
//! else under those names is not ours and stops `listen` (exit 2).

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::folder::{Folder, OpenError};

/// The folder `listen` keeps its own state in, under OUT_ROOT.
pub const STATE_DIR: &str = ".fetch-assets";
/// The journal's file name in [`STATE_DIR`].
pub const JOURNAL_FILE: &str = "listen.journal";
/// How long a closed delivery's id is remembered, to drop the service's retries.
pub(crate) const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most of a journal read on start. A record is a few hundred bytes
/// (one with a delivery's error message, at most a few MiB: a delivery is
/// read only up to 1 MiB), so this is a very busy month; a larger file is
/// not one `listen` wrote.
pub(crate) const MAX_JOURNAL: u64 = 256 * 1024 * 1024;

/// One accepted delivery, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The delivery's id (what repeats carry).
    pub delivery: String,
    pub task_id: String,
    /// `task.completed` or `task.failed`.
    pub event: String,
    /// When it was accepted, unix seconds.
    pub at: i64,
    /// For `task.failed`: what the delivery said, to record it after a crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "lowercase")]
enum Record {
    Received(Entry),
    Closed {
        delivery: String,
        task_id: String,
        at: i64,
        /// `ok` or `error`.
        status: String,
        exit_code: u8,
    },
}

/// What a journal holds when opened.
pub(crate) struct Opened {
    pub journal: Journal,
    /// Accepted and never closed, in the order they arrived.
    pub open: Vec<Entry>,
    /// Every delivery id remembered (open ones included).
    pub seen: HashSet<String>,
}

/// The journal, open for appending. Only one `listen` at a time uses a
/// journal: the state folder is locked for as long as it is open.
pub(crate) struct Journal {
    writes: mpsc::Sender<Append>,
    path: PathBuf,
    /// The state folder, held open (and locked, where the file system can).
    _state: Arc<Folder>,
}

enum Append {
    Line(Vec<u8>, Option<oneshot::Sender<io::Result<()>>>),
    /// Write and sync what is queued, answer, and stop.
    Stop(oneshot::Sender<()>),
}

impl Journal {
    /// Opens (or creates) the journal of `out_root`, compacting it.
    /// Refuses (exit 2) a state folder or journal that is not ours: a
    /// symlink, a FIFO, a device, a journal over [`MAX_JOURNAL`].
    pub(crate) fn open(out_root: &Path, now: SystemTime) -> Result<Opened> {
        let root = Folder::open(out_root).map_err(|e| Error::io("open the folder", out_root, e))?;
        let dir = root.shown(STATE_DIR);
        let state = match root.sub_folder(STATE_DIR, true) {
            Ok(Some(state)) => Arc::new(state),
            Ok(None) => return Err(Error::io("make", &dir, io::ErrorKind::NotFound.into())),
            Err(OpenError::Io(e)) => return Err(Error::io("make", &dir, e)),
            Err(_) => return Err(not_ours(&dir, "a folder")),
        };
        lock(&state)?;
        let path = dir.join(JOURNAL_FILE);
        let (open, closed) = read(&state)?;
        let now_unix = unix(now);
        let keep_after = now_unix - RETENTION.as_secs() as i64;
        let closed: Vec<Record> = closed
            .into_iter()
            .filter(|record| matches!(record, Record::Closed { at, .. } if *at >= keep_after))
            .collect();
        let mut seen: HashSet<String> = open.iter().map(|e| e.delivery.clone()).collect();
        for record in &closed {
            if let Record::Closed { delivery, .. } = record {
                seen.insert(delivery.clone());
            }
        }
        let records = closed
            .into_iter()
            .chain(open.iter().cloned().map(Record::Received));
        // Appends go to the file just put in place, through its handle.
        let file = rewrite(&state, records)?;
        let (writes, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("listen-journal".into())
            .spawn(move || write_loop(file, &queue))
            .map_err(|e| Error::Internal(format!("could not start the journal's writer: {e}")))?;
        Ok(Opened {
            journal: Journal {
                writes,
                path,
                _state: state,
            },
            open,
            seen,
        })
    }

    /// Appends a received delivery and returns once it is on disk.
    pub(crate) async fn received(&self, entry: &Entry) -> io::Result<()> {
        let (done, synced) = oneshot::channel();
        self.send(Append::Line(
            line(&Record::Received(entry.clone())),
            Some(done),
        ))?;
        synced.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Appends the end of a delivery's task; synced with the next batch. A
    /// close lost to a crash only means the task is looked at once more on
    /// start, and found complete.
    pub(crate) fn closed(&self, delivery: &str, task_id: &str, ok: bool, exit_code: u8) {
        let record = Record::Closed {
            delivery: delivery.to_owned(),
            task_id: task_id.to_owned(),
            at: unix(SystemTime::now()),
            status: if ok { "ok" } else { "error" }.to_owned(),
            exit_code,
        };
        let _ = self.send(Append::Line(line(&record), None));
    }

    /// Writes and syncs everything queued, then stops the writer.
    pub(crate) async fn finish(&self) {
        let (done, finished) = oneshot::channel();
        if self.send(Append::Stop(done)).is_ok() {
            let _ = finished.await;
        }
    }

    fn send(&self, write: Append) -> io::Result<()> {
        self.writes.send(write).map_err(|_| stopped())
    }

    /// Where the journal is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

fn stopped() -> io::Error {
    io::Error::other("the journal's writer has stopped")
}

fn line(record: &Record) -> Vec<u8> {
    let mut line = serde_json::to_vec(record)
        .unwrap_or_else(|e| unreachable!("a journal record always serialises: {e}"));
    line.push(b'\n');
    line
}

fn unix(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A state folder or journal that is not ours: `listen` stops (exit 2).
fn not_ours(path: &Path, what: &str) -> Error {
    Error::Usage(format!(
        "{} is not {what} fetch-assets listen made (a symlink, a FIFO, a device, or too large): move it away",
        path.display()
    ))
}

/// Takes the state folder for this process (the folder lock's own call, so
/// Windows locks it too; held as long as the handle), or says who has it.
fn lock(state: &Folder) -> Result<()> {
    match state.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::Usage(format!(
            "another fetch-assets listen is using {}: stop it first, or give this one another folder",
            state.path().parent().unwrap_or(state.path()).display()
        ))),
        // A file system that cannot lock: go on, as the folder lock does.
        Err(TryLockError::Error(_)) => Ok(()),
    }
}

/// The open deliveries, in order, and the closed records: from a regular
/// file only, and at most [`MAX_JOURNAL`] of it.
fn read(state: &Folder) -> Result<(Vec<Entry>, Vec<Record>)> {
    let path = state.shown(JOURNAL_FILE);
    let file = match state.open_regular(JOURNAL_FILE) {
        Ok(file) => file,
        Err(OpenError::Missing) => return Ok((Vec::new(), Vec::new())),
        Err(OpenError::Io(e)) => return Err(Error::io("read", &path, e)),
        Err(_) => return Err(not_ours(&path, "a journal")),
    };
    let size = file
        .metadata()
        .map_err(|e| Error::io("read", &path, e))?
        .len();
    if size > MAX_JOURNAL {
        return Err(not_ours(&path, "a journal"));
    }
    let mut received: Vec<Entry> = Vec::new();
    let mut closed_ids = HashSet::new();
    let mut closed = Vec::new();
    // Bounded even if the file grows while it is read.
    for line in BufReader::new(file.take(MAX_JOURNAL)).split(b'\n') {
        let line = line.map_err(|e| Error::io("read", &path, e))?;
        // A torn or foreign line: never acknowledged, so nothing is lost.
        match serde_json::from_slice::<Record>(&line) {
            Ok(Record::Received(entry)) => received.push(entry),
            Ok(record @ Record::Closed { .. }) => {
                if let Record::Closed { delivery, .. } = &record {
                    closed_ids.insert(delivery.clone());
                }
                closed.push(record);
            }
            Err(_) => {}
        }
    }
    let mut open_ids = HashSet::new();
    let open = received
        .into_iter()
        .filter(|e| !closed_ids.contains(&e.delivery) && open_ids.insert(e.delivery.clone()))
        .collect();
    Ok((open, closed))
}

/// Replaces the journal with `records`, atomically and durably, and
/// returns the new file, open for appending.
fn rewrite(folder: &Arc<Folder>, records: impl Iterator<Item = Record>) -> Result<File> {
    let dir = folder.path();
    let path = folder.shown(JOURNAL_FILE);
    let (mut file, temp) = folder
        .create_temp()
        .map_err(|e| Error::io("write a file in", dir, e))?;
    for record in records {
        file.write_all(&line(&record))
            .map_err(|e| Error::io("write a file in", dir, e))?;
    }
    file.sync_all()
        .map_err(|e| Error::io("write a file in", dir, e))?;
    temp.put_in_place(JOURNAL_FILE)
        .map_err(|e| Error::io("replace", &path, e))?;
    folder
        .sync()
        .map_err(|e| Error::io("sync the folder", dir, e))?;
    Ok(file)
}

/// The writer: takes everything queued, writes it, syncs once, answers all.
fn write_loop(mut file: File, queue: &mpsc::Receiver<Append>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter());
        let mut waiting = Vec::new();
        let mut stop = None;
        let mut result = Ok(());
        for write in batch {
            match write {
                Append::Line(bytes, done) => {
                    if result.is_ok() {
                        result = file.write_all(&bytes);
                    }
                    waiting.extend(done);
                }
                Append::Stop(done) => stop = Some(done),
            }
        }
        if result.is_ok() {
            result = file.sync_data();
        }
        for done in waiting {
            let _ = done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
        if let Some(done) = stop {
            let _ = done.send(());
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(delivery: &str, task: &str) -> Entry {
        Entry {
            delivery: delivery.into(),
            task_id: task.into(),
            event: "task.completed".into(),
            at: unix(SystemTime::now()),
            status: None,
            error_code: None,
            error_message: None,
        }
    }

    #[tokio::test]
    async fn open_deliveries_survive_a_restart_and_closed_ones_are_remembered() {
        let root = tempfile::tempdir().expect("tempdir");
        {
            let opened = Journal::open(root.path(), SystemTime::now()).expect("open");
            assert!(opened.open.is_empty() && opened.seen.is_empty());
            let journal = opened.journal;
            for (d, t) in [("d1", "t1"), ("d2", "t2"), ("d3", "t3")] {
                journal.received(&entry(d, t)).await.expect("synced");
            }
            journal.closed("d2", "t2", true, 0);
            journal.finish().await;
        }
        // A crash mid-append leaves a torn line; it was never acknowledged.
        let path = root.path().join(STATE_DIR).join(JOURNAL_FILE);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(br#"{"record":"received","deliv"#)
            .expect("torn");
        drop(file);

        let opened = Journal::open(root.path(), SystemTime::now()).expect("reopen");
        let open: Vec<&str> = opened.open.iter().map(|e| e.delivery.as_str()).collect();
        assert_eq!(open, ["d1", "d3"]);
        let mut seen: Vec<&String> = opened.seen.iter().collect();
        seen.sort();
        assert_eq!(seen, ["d1", "d2", "d3"]);
        let text = std::fs::read_to_string(&path).expect("journal");
        assert_eq!(text.lines().count(), 3, "compacted, torn line gone: {text}");
    }

    #[tokio::test]
    async fn closed_deliveries_are_forgotten_after_the_retention() {
        let root = tempfile::tempdir().expect("tempdir");
        let journal = Journal::open(root.path(), SystemTime::now())
            .expect("open")
            .journal;
        journal.received(&entry("old", "t1")).await.expect("synced");
        journal.closed("old", "t1", false, 5);
        journal.finish().await;
        drop(journal);
        let later = SystemTime::now() + RETENTION + Duration::from_secs(3600);
        let opened = Journal::open(root.path(), later).expect("reopen");
        assert!(opened.open.is_empty());
        assert!(opened.seen.is_empty());
    }

    #[tokio::test]
    async fn a_second_listener_on_the_same_folder_is_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let _first = Journal::open(root.path(), SystemTime::now()).expect("open");
        let second = Journal::open(root.path(), SystemTime::now());
        assert!(
            matches!(&second, Err(Error::Usage(m)) if m.contains("another fetch-assets listen")),
            "{:?}",
            second.err()
        );
    }
}
