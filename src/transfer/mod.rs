//! One file: stream it into a temporary file in the output folder, hashing
//! as bytes arrive; resume cut transfers with `Range`; renew a dead link;
//! retry transient faults; and hand back a verified file ready to be renamed
//! into place. Dropping the transfer at any point removes the temporary file.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, RANGE};
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::sync::mpsc;

use crate::assets::{self, Asset};
use crate::error::{Error, Result};
use crate::events::{Event, Observer};
use crate::link_book::{Lease, LinkBook};
use crate::retry::{self, RetryPolicy};

/// Everything a transfer needs that is shared by all transfers of a run.
pub(crate) struct TransferContext {
    /// The client for the CDN: it never carries the API key.
    pub cdn: reqwest::Client,
    pub dir: PathBuf,
    pub links: Arc<LinkBook>,
    pub policy: RetryPolicy,
    /// No byte for this long: abandon the request and resume.
    pub stall_timeout: Duration,
    /// How many fresh links one file may ask for in a row without receiving
    /// a new byte before giving up.
    pub max_refreshes: u32,
    pub observer: Arc<dyn Observer>,
}

/// A complete, size-checked and hashed file, still under its temporary name.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub asset: Asset,
    pub file_name: String,
    pub size: u64,
    pub sha256: String,
    pub media_type: String,
    /// The link it came from, without its query.
    pub source: String,
    temp: TempPath,
}

impl Downloaded {
    /// Renames the file to its final name in `dir`, replacing what was there.
    pub(crate) fn commit(self, dir: &Path) -> Result<()> {
        let target = dir.join(&self.file_name);
        self.temp
            .persist(&target)
            .map_err(|e| Error::io("move the finished file into place as", target, e.error))
    }
}

/// What one request ended with.
enum Outcome {
    /// The whole file is in the temporary file.
    Complete,
    /// The CDN refused the link: renew it.
    Refused(String),
    /// Worth another try, after a pause.
    Transient {
        cause: String,
        retry_after: Option<Duration>,
    },
    /// Not worth another try.
    Final(Error),
}

/// The state of one file across its requests.
struct Progress {
    name: Arc<str>,
    received: u64,
    total: Option<u64>,
    content_type: Option<String>,
    /// The most bytes the file ever had: a server that ignores `Range` sends
    /// bytes again from the start, and those are not progress.
    furthest: u64,
    /// True when the last request took the file past `furthest`: a fault
    /// after progress starts a new run of retries and link refreshes.
    advanced: bool,
}

/// What one file tried, for the bounds and for the final message.
#[derive(Default)]
struct Tries {
    requests: u32,
    refreshes: u32,
    /// Transient faults since the file last advanced: the retry policy
    /// bounds them.
    faults: u32,
    /// Fresh links asked for since the file last advanced: `max_refreshes`
    /// bounds them, so a CDN that always refuses ends the run, while a long
    /// transfer that keeps advancing may outlive any number of short links.
    refreshes_since_progress: u32,
}

impl Tries {
    /// What was tried, for the message that ends the file.
    fn words(&self) -> String {
        format!(
            "{} requests, {} link refreshes",
            self.requests, self.refreshes
        )
    }
}

pub(crate) async fn download(ctx: &TransferContext, asset: Asset) -> Result<Downloaded> {
    let name: Arc<str> = asset.role.stem().into();
    let (file, temp) = tempfile::Builder::new()
        .prefix(".fetch-assets-")
        .suffix(".part")
        .tempfile_in(&ctx.dir)
        .map_err(|e| Error::io("create a temporary file in", &ctx.dir, e))?
        .into_parts();
    let mut sink = Sink::start(file);
    let mut state = Progress {
        name: name.clone(),
        received: 0,
        total: None,
        content_type: None,
        furthest: 0,
        advanced: false,
    };
    let mut lease = ctx.links.current(asset.role)?;
    let mut tries = Tries::default();

    loop {
        let now = SystemTime::now();
        if lease.link.about_to_expire(now) {
            let cause = match lease.link.expires_at().duration_since(now) {
                Ok(left) if !left.is_zero() => {
                    format!("the link expires in {} s", left.as_secs())
                }
                _ => "the link has expired".to_owned(),
            };
            lease = renew(ctx, &asset, &lease, &name, &cause, &mut tries)
                .await?
                .ok_or_else(|| give_up(&name, &cause, &lease, &tries))?;
        }
        tries.requests += 1;
        state.advanced = false;
        let outcome = attempt(ctx, &lease, &mut state, &mut sink).await;
        if state.advanced {
            tries.faults = 0;
            tries.refreshes_since_progress = 0;
        }
        match outcome {
            Outcome::Complete => break,
            Outcome::Final(error) => return Err(error),
            Outcome::Refused(cause) => {
                lease = renew(ctx, &asset, &lease, &name, &cause, &mut tries)
                    .await?
                    .ok_or_else(|| give_up(&name, &cause, &lease, &tries))?;
            }
            Outcome::Transient { cause, retry_after } => {
                tries.faults += 1;
                if !ctx.policy.allows_another(tries.faults) {
                    return Err(give_up(&name, &cause, &lease, &tries));
                }
                let delay = ctx.policy.delay(tries.faults, retry_after);
                ctx.observer.event(&Event::TransferRetry {
                    file: name.clone(),
                    retry: tries.faults,
                    delay,
                    cause,
                    resume_from: state.received,
                });
                tokio::time::sleep(delay).await;
            }
        }
    }

    let ext = assets::extension(lease.link.url(), state.content_type.as_deref());
    let file_name = assets::file_name(asset.role, &ext);
    let (size, sha256) = sink
        .finish()
        .await
        .map_err(|e| Error::io("write", ctx.dir.join(&file_name), e))?;
    if state.total.is_some_and(|total| total != size) {
        return Err(Error::Internal(format!(
            "{file_name}: wrote {size} bytes, expected {:?}",
            state.total
        )));
    }
    ctx.observer.event(&Event::FileDone {
        file: name,
        path: file_name.clone(),
        size,
        sha256: sha256.clone(),
    });
    Ok(Downloaded {
        media_type: assets::media_type(&ext, state.content_type.as_deref()),
        source: lease.link.redacted(),
        asset,
        file_name,
        size,
        sha256,
        temp,
    })
}

/// The error that ends a file: its last cause, the trace id of the task
/// answer its last link came from (what support asks for), and what was tried.
fn give_up(name: &str, cause: &str, lease: &Lease, tries: &Tries) -> Error {
    Error::Download {
        file: shown_name(name, lease),
        cause: format!("{cause}{}", lease.trace),
        tried: tries.words(),
    }
}

/// The file as a message names it: its final name (`model.glb`) when the
/// link tells the extension, else its name without one (`model`).
fn shown_name(name: &str, lease: &Lease) -> String {
    match assets::extension_from_link(lease.link.url()) {
        Some(ext) => format!("{name}.{ext}"),
        None => name.to_owned(),
    }
}

/// Asks for a fresh link, unless this file already asked too often without
/// advancing (`Ok(None)`: the CDN keeps refusing; give up).
async fn renew(
    ctx: &TransferContext,
    asset: &Asset,
    lease: &Lease,
    name: &Arc<str>,
    cause: &str,
    tries: &mut Tries,
) -> Result<Option<Lease>> {
    if tries.refreshes_since_progress >= ctx.max_refreshes {
        return Ok(None);
    }
    tries.refreshes += 1;
    tries.refreshes_since_progress += 1;
    ctx.observer.event(&Event::LinkExpired {
        file: name.clone(),
        cause: cause.to_owned(),
    });
    ctx.links
        .refresh(asset.role, lease.generation)
        .await
        .map(Some)
}

/// One request: from `state.received` to the end, or to the first fault.
async fn attempt(
    ctx: &TransferContext,
    lease: &Lease,
    state: &mut Progress,
    sink: &mut Sink,
) -> Outcome {
    let mut request = ctx.cdn.get(lease.link.url().clone());
    if state.received > 0 {
        request = request.header(RANGE, format!("bytes={}-", state.received));
    }
    let response = match tokio::time::timeout(ctx.stall_timeout, request.send()).await {
        Err(_) => return stalled(ctx),
        Ok(Err(e)) if e.is_redirect() => {
            return Outcome::Final(Error::Download {
                file: shown_name(&state.name, lease),
                cause: format!("the CDN's redirect was refused: {}", root_cause(e)),
                tried: "one request; only http(s) redirects are followed".into(),
            });
        }
        Ok(Err(e)) => {
            return transient(format!("the connection failed: {}", root_cause(e)), None);
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let retry_after = retry::retry_after(response.headers());
    match status {
        StatusCode::OK => {
            if state.received > 0 {
                // The server ignored Range: what we have is worthless now.
                if let Err(outcome) = start_over(ctx, state, sink).await {
                    return outcome;
                }
            }
            state.total = response.content_length();
        }
        StatusCode::PARTIAL_CONTENT => {
            let range = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            match range {
                Some((start, end, total))
                    if start == state.received
                        && end + 1 == total
                        && state.total.is_none_or(|known| known == total) =>
                {
                    state.total = Some(total);
                }
                _ => {
                    // Not the bytes we asked for: start the file over.
                    if let Err(outcome) = start_over(ctx, state, sink).await {
                        return outcome;
                    }
                    return transient(
                        "the CDN answered a Content-Range other than the one asked for".into(),
                        None,
                    );
                }
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE if state.total == Some(state.received) => {
            return Outcome::Complete;
        }
        StatusCode::FORBIDDEN => {
            return Outcome::Refused("the CDN refused the link (HTTP 403)".into());
        }
        s if retry::is_transient_status(s.as_u16()) || s == StatusCode::RANGE_NOT_SATISFIABLE => {
            if s == StatusCode::RANGE_NOT_SATISFIABLE
                && let Err(outcome) = start_over(ctx, state, sink).await
            {
                return outcome;
            }
            return transient(format!("the CDN answered HTTP {}", s.as_u16()), retry_after);
        }
        s => {
            return Outcome::Final(Error::Download {
                file: shown_name(&state.name, lease),
                cause: format!(
                    "the CDN answered HTTP {} for {}{}",
                    s.as_u16(),
                    lease.link.redacted(),
                    lease.trace
                ),
                tried: "a request that cannot succeed on retry".into(),
            });
        }
    }
    if state.content_type.is_none() {
        state.content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    ctx.observer.event(&Event::TransferStarted {
        file: state.name.clone(),
        size: state.total,
        offset: state.received,
    });

    let mut body = response.bytes_stream();
    loop {
        let chunk = match tokio::time::timeout(ctx.stall_timeout, body.next()).await {
            Err(_) => return stalled(ctx),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return transient(
                    format!(
                        "the connection broke at byte {}: {}",
                        state.received,
                        root_cause(e)
                    ),
                    None,
                );
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let len = chunk.len() as u64;
        if state
            .total
            .is_some_and(|total| state.received + len > total)
        {
            return Outcome::Final(Error::Download {
                file: shown_name(&state.name, lease),
                cause: format!(
                    "the CDN sent more than the {} bytes it announced{}; the file was not kept",
                    state.total.unwrap_or_default(),
                    lease.trace
                ),
                tried: "one request".into(),
            });
        }
        if let Err(e) = sink.write(chunk).await {
            return Outcome::Final(write_error(ctx, state, e));
        }
        state.received += len;
        if state.received > state.furthest {
            state.furthest = state.received;
            state.advanced = true;
        }
        ctx.observer.event(&Event::TransferProgress {
            file: state.name.clone(),
            bytes: len,
        });
    }
    match state.total {
        Some(total) if state.received < total => transient(
            format!(
                "the transfer ended early, at {} of {total} bytes",
                state.received
            ),
            None,
        ),
        _ => Outcome::Complete,
    }
}

/// Forgets every byte of the file: the next bytes start it from the top.
async fn start_over(
    ctx: &TransferContext,
    state: &mut Progress,
    sink: &mut Sink,
) -> Result<(), Outcome> {
    ctx.observer.event(&Event::TransferRestarted {
        file: state.name.clone(),
    });
    sink.restart()
        .await
        .map_err(|e| Outcome::Final(write_error(ctx, state, e)))?;
    state.received = 0;
    state.total = None;
    Ok(())
}

/// The innermost cause of an HTTP fault ("connection refused", "end of file
/// before message length reached"): the outer layers only say where it
/// happened. Never the link: it carries its signature.
fn root_cause(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut cause: &dyn std::error::Error = &error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

fn transient(cause: String, retry_after: Option<Duration>) -> Outcome {
    Outcome::Transient { cause, retry_after }
}

fn stalled(ctx: &TransferContext) -> Outcome {
    transient(
        format!(
            "no data for {} (--stall-timeout)",
            humantime::format_duration(ctx.stall_timeout)
        ),
        None,
    )
}

fn write_error(ctx: &TransferContext, state: &Progress, e: std::io::Error) -> Error {
    Error::io("write", ctx.dir.join(&*state.name), e)
}

/// `bytes START-END/TOTAL`, the only form a resumed transfer accepts.
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end, total) = (
        start.trim().parse().ok()?,
        end.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (start <= end && end < total).then_some((start, end, total))
}

/// Writes and hashes on a blocking thread, so that disk writes and SHA-256
/// never hold up the async runtime and overlap with the network. The
/// channel is short, so memory stays flat whatever the file's size.
struct Sink {
    sender: Option<mpsc::Sender<Command>>,
    worker: tokio::task::JoinHandle<std::io::Result<(u64, String)>>,
    /// Small pieces from the network, gathered into one write: handing the
    /// writer thread every few kilobytes costs more than the copy.
    pending: BytesMut,
}

enum Command {
    Data(Bytes),
    /// Forget everything written: the file starts over.
    Restart,
}

const SINK_DEPTH: usize = 8;
/// How much to gather before handing it to the writer thread.
const SINK_BATCH: usize = 128 << 10;

/// Every this many bytes, the disk is asked to start writing what the file
/// has so far (see [`start_write_back`]).
const WRITE_BACK_EVERY: u64 = 16 << 20;

impl Sink {
    fn start(mut file: std::fs::File) -> Sink {
        let (sender, mut receiver) = mpsc::channel::<Command>(SINK_DEPTH);
        let worker = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            let (mut size, mut unsynced) = (0u64, 0u64);
            while let Some(command) = receiver.blocking_recv() {
                match command {
                    Command::Data(data) => {
                        file.write_all(&data)?;
                        hasher.update(&data);
                        size += data.len() as u64;
                        unsynced += data.len() as u64;
                        if unsynced >= WRITE_BACK_EVERY {
                            unsynced = 0;
                            start_write_back(&file);
                        }
                    }
                    Command::Restart => {
                        file.set_len(0)?;
                        file.seek(SeekFrom::Start(0))?;
                        hasher = Sha256::new();
                        size = 0;
                    }
                }
            }
            file.sync_all()?;
            Ok((size, hex(&hasher.finalize())))
        });
        Sink {
            sender: Some(sender),
            worker,
            pending: BytesMut::new(),
        }
    }

    async fn write(&mut self, data: Bytes) -> std::io::Result<()> {
        if self.pending.is_empty() && data.len() >= SINK_BATCH {
            return self.send(Command::Data(data)).await;
        }
        self.pending.extend_from_slice(&data);
        if self.pending.len() >= SINK_BATCH {
            let batch = self.pending.split().freeze();
            self.send(Command::Data(batch)).await?;
        }
        Ok(())
    }

    async fn restart(&mut self) -> std::io::Result<()> {
        self.pending.clear();
        self.send(Command::Restart).await
    }

    async fn send(&mut self, command: Command) -> std::io::Result<()> {
        let sent = match &self.sender {
            Some(sender) => sender.send(command).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The worker stopped: it failed, and its result says why.
        self.sender = None;
        match (&mut self.worker).await {
            Ok(Err(e)) => Err(e),
            _ => Err(std::io::Error::other("the file writer stopped")),
        }
    }

    /// Flushes to disk and gives the size and the hash.
    async fn finish(mut self) -> std::io::Result<(u64, String)> {
        if !self.pending.is_empty() {
            let rest = self.pending.split().freeze();
            self.send(Command::Data(rest)).await?;
        }
        self.sender = None;
        match (&mut self.worker).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(format!(
                "the file writer failed: {e}"
            ))),
        }
    }
}

/// Asks the disk to start writing the file's dirty pages, without waiting
/// for it: the sync that commits the file then finds little left to do,
/// instead of hundreds of megabytes at once (measured: 0.4 s saved on a
/// 768 MiB file). Elsewhere than Linux, the final sync does it all.
fn start_write_back(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the whole call (we hold `file`);
        // the call only starts write-back and touches no memory of ours.
        // A failure only means the final sync does more of the work.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Lower-case hex, as `sha256sum` prints it.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, 200))
        );
        assert_eq!(parse_content_range("bytes 0-0/1"), Some((0, 0, 1)));
        assert_eq!(parse_content_range("bytes 100-199/*"), None);
        assert_eq!(parse_content_range("bytes 200-100/300"), None);
        assert_eq!(parse_content_range("bytes 0-200/200"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
