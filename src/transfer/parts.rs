//! Parts at once: one big file over several connections, each asking for
//! a range of one version (`If-Range`) and writing it at its offset into
//! the staged file. An idle connection takes the second half of the part
//! with most left (`parts_plan::steal`), so all finish together.
//!
//! What holds, as with one stream:
//! - one version: every part names the first answer's validator; any
//!   answer that is not exactly the range asked of that version stops every
//!   part, and the file goes back to one stream from its first byte;
//! - the record lists only ranges already synced to disk (a checkpoint
//!   every [`checkpoint_every`] bytes), so a cut run costs what no record
//!   listed;
//! - the hash is of the whole file in order: a thread follows the lowest
//!   byte not yet hashed, reading back what the parts wrote;
//! - one budget, one stall rule per connection, one link renewal (the
//!   `LinkBook`'s, single-flight) for all parts;
//! - memory stays flat: one buffer of [`BUFFER`] bytes per connection.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bytes::BytesMut;
use futures::StreamExt;
use reqwest::header::{CONTENT_RANGE, IF_RANGE, RANGE};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedSemaphorePermit;

use super::budget::Budget;
use super::decide::Answer;
use super::parts_plan::{self, PartStep, Span};
use super::staged::{Record, Staged};
use super::validator::Validator;
use super::writer::Written;
use super::{TransferContext, expiring, header_text, shown_name};
use crate::content;
use crate::error::{DownloadCause, Error};
use crate::events::Event;
use crate::link_book::Lease;
use crate::output_role::OutputRole;
use crate::retry;

/// Bytes a connection gathers before writing them at their offset.
const BUFFER: usize = 256 << 10;

/// How many bytes the parts receive between checkpoints (a sync, then a
/// record listing what is on disk): what a crash may cost at most, beside
/// the buffers.
pub(super) fn checkpoint_every(total: u64) -> u64 {
    (total / 64).clamp(1 << 20, 32 << 20)
}

/// One file to fetch in parts.
pub(super) struct Job {
    pub role: OutputRole,
    pub name: Arc<str>,
    pub lease: Lease,
    pub budget: Budget,
    pub total: u64,
    pub validator: Validator,
    /// What the staged file already holds (synced, recorded).
    pub have: Vec<Span>,
    /// An answer already streaming the file from its first byte (the
    /// request that found the file worth parts), used for the first part.
    pub first: Option<reqwest::Response>,
    /// The staged file, open for writing at offsets.
    pub file: Arc<File>,
    pub staged: Staged,
    /// The record as the bytes stand, but for the ranges.
    pub record: Record,
    /// Connections beyond the file's own, each holding a transfer slot.
    pub extra: Vec<Option<OwnedSemaphorePermit>>,
}

/// How the parts ended.
pub(super) enum Ended {
    /// Every byte is written (not yet synced: the writer's finish does),
    /// and hashed.
    Whole {
        written: Written,
        head: Vec<u8>,
        connections: usize,
    },
    /// The CDN will not serve parts of one version: one stream, from the
    /// first byte.
    OneStream(DownloadCause),
    /// The file gives up, or a local failure.
    Failed(Error),
}

/// What `fetch` hands back beside how it ended: the state the driver goes
/// on with.
pub(super) struct After {
    pub ended: Ended,
    pub lease: Lease,
    pub budget: Budget,
    pub staged: Staged,
}

/// Everything the connections share.
struct Board {
    /// Parts no connection has started.
    queue: VecDeque<Span>,
    /// Each connection's part: its next byte to receive, and its end.
    running: Vec<Option<Span>>,
    /// Where each connection's request in flight ends: no other
    /// connection takes bytes before it (they are on their way).
    asked: Vec<u64>,
    /// What is written (sorted, apart).
    have: Vec<Span>,
    written: u64,
    since_checkpoint: u64,
    /// The first reason every part stops.
    stop: Option<Ended>,
    lease: Lease,
    budget: Budget,
    /// Connections that carried bytes.
    used: Vec<bool>,
}

struct Shared<'a> {
    ctx: &'a TransferContext,
    job_role: OutputRole,
    name: Arc<str>,
    total: u64,
    if_range: Option<String>,
    validator: Validator,
    file: Arc<File>,
    board: Mutex<Board>,
    staged: tokio::sync::Mutex<(Staged, Record)>,
    hashing: std::sync::mpsc::Sender<u64>,
}

impl Shared<'_> {
    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self, ended: Ended) {
        let mut board = self.board();
        if board.stop.is_none() {
            board.stop = Some(ended);
        }
    }

    fn stopped(&self) -> bool {
        self.board().stop.is_some()
    }
}

/// Fetches what the file lacks in parts over `1 + job.extra.len()`
/// connections.
pub(super) async fn fetch(ctx: &TransferContext, job: Job) -> After {
    let connections = 1 + job.extra.len();
    let lacking = parts_plan::missing(&job.have, job.total);
    let queue: VecDeque<Span> = parts_plan::split(&lacking, connections).into();
    let written = job.have.iter().map(|s| s.len()).sum();
    let (hashing, prefixes) = std::sync::mpsc::channel();
    let hasher = {
        let (file, total) = (job.file.clone(), job.total);
        tokio::task::spawn_blocking(move || hash_in_order(&file, total, &prefixes))
    };
    let _ = hashing.send(prefix(&job.have));
    let shared = Shared {
        ctx,
        job_role: job.role,
        name: job.name,
        total: job.total,
        if_range: job.validator.if_range().map(str::to_owned),
        validator: job.validator,
        file: job.file,
        board: Mutex::new(Board {
            queue,
            running: vec![None; connections],
            asked: vec![0; connections],
            have: job.have,
            written,
            since_checkpoint: 0,
            stop: None,
            lease: job.lease,
            budget: job.budget,
            used: vec![false; connections],
        }),
        staged: tokio::sync::Mutex::new((job.staged, job.record)),
        hashing,
    };
    let mut first = job.first;
    let workers = (0..connections).map(|slot| connection(&shared, slot, first.take()));
    futures::future::join_all(workers).await;
    drop(job.extra);

    let Shared {
        board,
        staged,
        hashing,
        ..
    } = shared;
    drop(hashing);
    let board = board.into_inner().unwrap_or_else(PoisonError::into_inner);
    let (staged, _) = staged.into_inner();
    let hashed = hasher.await;
    let ended = match board.stop {
        Some(stop) => stop,
        None if board.written != job.total => Ended::Failed(Error::Internal(format!(
            "parts ended with {} of {} bytes",
            board.written, job.total
        ))),
        None => match hashed {
            Ok(Ok(Some((sha256, head)))) => Ended::Whole {
                written: Written {
                    size: job.total,
                    sha256,
                },
                head,
                connections: board.used.iter().filter(|u| **u).count().max(1),
            },
            Ok(Ok(None)) => Ended::Failed(Error::Internal("the hash stopped short".into())),
            Ok(Err(e)) => Ended::Failed(Error::io("read back", ctx.staging.path(), e)),
            Err(e) => Ended::Failed(Error::Internal(format!("hashing stopped: {e}"))),
        },
    };
    After {
        ended,
        lease: board.lease,
        budget: board.budget,
        staged,
    }
}

/// One connection: part after part (the queue's, then halves of the
/// others'), until none is left or every part stops.
async fn connection(shared: &Shared<'_>, slot: usize, mut first: Option<reqwest::Response>) {
    loop {
        let span = {
            let mut board = shared.board();
            if board.stop.is_some() {
                return;
            }
            let span = match board.queue.pop_front() {
                Some(span) => span,
                None => {
                    let left: Vec<Span> = board
                        .running
                        .iter()
                        .zip(&board.asked)
                        .map(|(running, &asked)| match running {
                            Some(span) => Span {
                                start: span.start.max(asked),
                                end: span.end,
                            },
                            None => Span { start: 0, end: 0 },
                        })
                        .collect();
                    let Some((victim, at)) = parts_plan::steal(&left) else {
                        board.running[slot] = None;
                        return;
                    };
                    let end = left[victim].end;
                    if let Some(theirs) = board.running[victim].as_mut() {
                        theirs.end = at;
                    }
                    Span { start: at, end }
                }
            };
            board.running[slot] = Some(span);
            span
        };
        // The first answer streams from byte 0: it serves the first part only.
        let answer = first.take().filter(|_| span.start == 0);
        if let Err(ended) = part(shared, slot, answer).await {
            shared.stop(ended);
            return;
        }
        shared.board().running[slot] = None;
    }
}

/// One part, request after request until its bytes are written.
async fn part(
    shared: &Shared<'_>,
    slot: usize,
    mut first: Option<reqwest::Response>,
) -> Result<(), Ended> {
    let ctx = shared.ctx;
    loop {
        let Some(span) = shared.board().running[slot] else {
            return Ok(());
        };
        if span.len() == 0 || shared.stopped() {
            return Ok(());
        }
        let until = match &first {
            // The first answer brings the whole file: it serves this part.
            Some(_) => span.end,
            None => span
                .end
                .min(span.start + parts_plan::request_len(shared.total)),
        };
        shared.board().asked[slot] = until;
        let response = match first.take() {
            Some(response) => response,
            None => match ask(
                shared,
                Span {
                    start: span.start,
                    end: until,
                },
            )
            .await?
            {
                Some(response) => response,
                None => continue,
            },
        };
        match stream(shared, slot, response, until).await {
            Ok(()) => {}
            Err(Cut::Write(e)) => {
                return Err(Ended::Failed(Error::io("write", ctx.staging.path(), e)));
            }
            Err(Cut::Fault(cause)) => fault(shared, cause, None).await?,
        }
    }
}

/// Asks for `span` of the version the file is of; `None` when the answer
/// was a fault worth another try (already waited for).
async fn ask(shared: &Shared<'_>, span: Span) -> Result<Option<reqwest::Response>, Ended> {
    let ctx = shared.ctx;
    let lease = {
        let mut board = shared.board();
        board.budget.request();
        board.lease.clone()
    };
    if let Some(cause) = expiring(&lease, SystemTime::now()) {
        renew(shared, &lease, cause).await?;
        return Ok(None);
    }
    ctx.observer.event(&Event::Request {
        method: "GET".to_owned(),
        url: lease.link.redacted(),
    });
    let mut request = ctx
        .cdn
        .get(lease.link.url().expose().clone())
        .header(RANGE, format!("bytes={}-{}", span.start, span.end - 1));
    if let Some(version) = &shared.if_range {
        request = request.header(IF_RANGE, version);
    }
    let response = match super::body::or_stall(ctx.rules.stall_timeout, request.send()).await {
        Err(stalled) => {
            fault(shared, stalled, None).await?;
            return Ok(None);
        }
        Ok(Err(e)) => {
            let cause = DownloadCause::connect(
                crate::net::host_of(&lease.link.url().without_secrets()),
                &e.without_url(),
            );
            fault(shared, cause, None).await?;
            return Ok(None);
        }
        Ok(Ok(response)) => response,
    };
    let headers = response.headers();
    let answer = Answer {
        status: response.status().as_u16(),
        content_length: response.content_length(),
        content_range: header_text(headers, &CONTENT_RANGE),
        retry_after: retry::retry_after(headers),
        other_version: shared.validator.other_version(&Validator::of(headers)),
    };
    match parts_plan::answer(span, shared.total, &answer, &lease.link.redacted()) {
        PartStep::Stream => Ok(Some(response)),
        PartStep::OneStream(cause) => Err(Ended::OneStream(cause)),
        PartStep::Refused(cause) => {
            renew(shared, &lease, cause).await?;
            Ok(None)
        }
        PartStep::Retry { cause, retry_after } => {
            fault(shared, cause, retry_after).await?;
            Ok(None)
        }
        PartStep::Fail(cause) => Err(give_up(shared, cause)),
    }
}

/// A fault counted in the file's budget: waits before the next try, or
/// gives up when the budget allows no more.
async fn fault(
    shared: &Shared<'_>,
    cause: DownloadCause,
    retry_after: Option<std::time::Duration>,
) -> Result<(), Ended> {
    let allowed = shared.board().budget.fault(retry_after);
    let Some((retry, delay)) = allowed else {
        return Err(give_up(shared, cause));
    };
    let received = shared.board().written;
    shared.ctx.observer.event(&Event::TransferRetry {
        file: shared.name.clone(),
        retry,
        delay,
        cause: cause.to_string(),
        resume_from: received,
    });
    tokio::time::sleep(delay).await;
    Ok(())
}

/// A fresh link for every part (one request however many parts ask: the
/// `LinkBook` renews once), unless the budget allows no more.
async fn renew(shared: &Shared<'_>, stale: &Lease, cause: DownloadCause) -> Result<(), Ended> {
    {
        let mut board = shared.board();
        if board.lease.generation > stale.generation {
            return Ok(()); // another part renewed it already
        }
        if !board.budget.refresh() {
            drop(board);
            return Err(give_up(shared, cause));
        }
    }
    shared.ctx.observer.event(&Event::LinkExpired {
        file: shared.name.clone(),
        cause: cause.to_string(),
    });
    match shared
        .ctx
        .links
        .refresh(&shared.job_role, stale.generation)
        .await
    {
        Ok(Some(fresh)) => {
            let mut board = shared.board();
            if fresh.generation > board.lease.generation {
                board.lease = fresh;
            }
            Ok(())
        }
        Ok(None) => Err(give_up(shared, DownloadCause::NoLink)),
        Err(error) => Err(Ended::Failed(error)),
    }
}

fn give_up(shared: &Shared<'_>, cause: DownloadCause) -> Ended {
    let board = shared.board();
    let shown = shown_name(&shared.name, &board.lease);
    Ended::Failed(
        board
            .budget
            .give_up(shown, cause, board.lease.trace.clone()),
    )
}

/// How a part's body ended early.
enum Cut {
    Fault(DownloadCause),
    Write(std::io::Error),
}

/// Streams a body into the file at its offsets, until the connection's
/// part ends (it may shrink while it runs: another connection took its
/// second half).
async fn stream(
    shared: &Shared<'_>,
    slot: usize,
    response: reqwest::Response,
    until: u64,
) -> Result<(), Cut> {
    let ctx = shared.ctx;
    let mut body = response.bytes_stream();
    let mut buffer = BytesMut::with_capacity(BUFFER);
    let mut buffer_at = match shared.board().running[slot] {
        Some(span) => span.start,
        None => return Ok(()),
    };
    loop {
        let next = super::body::or_stall(ctx.rules.stall_timeout, body.next()).await;
        let chunk = match next {
            Err(stalled) => {
                flush(shared, &mut buffer, &mut buffer_at).await?;
                return Err(Cut::Fault(stalled));
            }
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(e))) => {
                flush(shared, &mut buffer, &mut buffer_at).await?;
                return Err(Cut::Fault(DownloadCause::broke(
                    buffer_at,
                    &e.without_url(),
                )));
            }
            Ok(None) => {
                flush(shared, &mut buffer, &mut buffer_at).await?;
                // The body ended before the part did.
                return Err(Cut::Fault(DownloadCause::EndedEarly {
                    at: buffer_at,
                    total: shared.total,
                }));
            }
        };
        // Only what this part still wants: the rest is another's.
        let (take, done) = {
            let mut board = shared.board();
            let Some(span) = board.running[slot].as_mut() else {
                return Ok(());
            };
            let wanted = span.len().min(until.saturating_sub(span.start));
            let take = (chunk.len() as u64).min(wanted) as usize;
            span.start += take as u64;
            let done = span.len() == 0 || span.start >= until;
            board.used[slot] = true;
            (take, done)
        };
        buffer.extend_from_slice(&chunk[..take]);
        if buffer.len() >= BUFFER || done {
            flush(shared, &mut buffer, &mut buffer_at).await?;
        }
        if done {
            return Ok(());
        }
    }
}

/// Writes the buffer at its offset, then counts it: written, progress,
/// the budget, the hash's prefix, and a checkpoint when one is due.
async fn flush(shared: &Shared<'_>, buffer: &mut BytesMut, at: &mut u64) -> Result<(), Cut> {
    if buffer.is_empty() {
        return Ok(());
    }
    let data = buffer.split().freeze();
    let (file, offset) = (shared.file.clone(), *at);
    let len = data.len() as u64;
    tokio::task::spawn_blocking(move || crate::folder::write_all_at(&file, &data, offset))
        .await
        .map_err(|e| Cut::Write(std::io::Error::other(format!("a write stopped: {e}"))))?
        .map_err(Cut::Write)?;
    *at += len;
    buffer.reserve(BUFFER);
    let (checkpoint, written) = {
        let mut board = shared.board();
        parts_plan::add(
            &mut board.have,
            Span {
                start: offset,
                end: offset + len,
            },
        );
        board.written += len;
        board.since_checkpoint += len;
        let (written, total) = (board.written, shared.total);
        board.budget.received(written, Some(total));
        let _ = shared.hashing.send(prefix(&board.have));
        let due = board.since_checkpoint >= checkpoint_every(total);
        if due {
            board.since_checkpoint = 0;
        }
        (due.then(|| board.have.clone()), written)
    };
    shared.ctx.observer.event(&Event::TransferProgress {
        file: shared.name.clone(),
        bytes: len,
        received: written,
        size: Some(shared.total),
    });
    if let Some(have) = checkpoint {
        checkpoint_now(shared, have).await.map_err(Cut::Write)?;
    }
    Ok(())
}

/// Syncs the file, then records `have` (written before the sync began) as
/// on disk. A checkpoint already under way makes this one needless.
async fn checkpoint_now(shared: &Shared<'_>, have: Vec<Span>) -> std::io::Result<()> {
    let Ok(mut staged) = shared.staged.try_lock() else {
        return Ok(());
    };
    let file = shared.file.clone();
    let (mut writing, mut record) = (staged.0.clone(), staged.1.clone());
    record.ranges = Some(have.iter().map(|s| [s.start, s.end]).collect());
    let kept = tokio::task::spawn_blocking(move || {
        file.sync_data()?;
        writing.keep_record(record).map(|()| writing)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("a checkpoint stopped: {e}")))??;
    staged.0 = kept;
    Ok(())
}

/// The bytes from the first that the file holds without a gap.
pub(super) fn prefix(have: &[Span]) -> u64 {
    have.first().filter(|s| s.start == 0).map_or(0, |s| s.end)
}

/// The hash thread: follows the prefix the parts have written, reading it
/// back, until the whole file is hashed (`None` if the parts stop first).
/// Gives the hash and the file's first bytes.
fn hash_in_order(
    file: &File,
    total: u64,
    prefixes: &std::sync::mpsc::Receiver<u64>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut buffer = vec![0u8; BUFFER];
    let (mut hashed, mut ready) = (0u64, 0u64);
    while hashed < total {
        if hashed >= ready {
            match prefixes.recv() {
                Ok(prefix) => ready = ready.max(prefix),
                Err(_) => return Ok(None),
            }
            // Take the latest word, not every one.
            while let Ok(prefix) = prefixes.try_recv() {
                ready = ready.max(prefix);
            }
            continue;
        }
        let want = usize::try_from(ready - hashed).map_or(BUFFER, |left| left.min(BUFFER));
        crate::folder::read_exact_at(file, &mut buffer[..want], hashed)?;
        if head.len() < content::HEAD_LEN {
            let more = (content::HEAD_LEN - head.len()).min(want);
            head.extend_from_slice(&buffer[..more]);
        }
        hasher.update(&buffer[..want]);
        hashed += want as u64;
    }
    Ok(Some((format!("{:x}", hasher.finalize()), head)))
}
