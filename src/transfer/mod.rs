//! One file: stream it into its place in `.fetch-assets/`, hashing as
//! bytes arrive; resume cut transfers with `Range` and `If-Range`; renew a
//! dead link; retry transient faults; check the content against the file's
//! type (an error page is a CDN fault, renewed like a refusal; a damaged
//! file ends it); and hand back a verified file ready to be renamed into
//! place. A transfer that ends early (a failure, the run dropped) leaves
//! what it received staged, for the next run to reuse or resume.
//!
//! The parts: [`decide`] says what an answer means, [`next`] what the
//! driver does then, and [`kept`] what an earlier run's file is worth (pure
//! functions, each tested as a table); [`body`] streams a body under the
//! stall rule; [`writer`] writes and hashes on threads of its own;
//! [`staged`] is the file's bytes and record across runs; [`validator`]
//! tells versions apart; [`budget`] bounds the tries and is the one way a
//! file gives up. This file drives them, request by request, and does its
//! file work on blocking threads.

mod body;
mod budget;
mod decide;
mod kept;
mod next;
mod parts;
mod parts_plan;
mod space;
mod staged;
mod validator;
mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{
    ACCEPT_RANGES, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderName, IF_RANGE, RANGE,
};
use sha2::{Digest, Sha256};

use self::body::{Cap, Cut};
use self::budget::Budget;
use self::decide::{Answer, Asked};
use self::next::{Before, Next, Outcome};
use self::parts_plan::Span;
use self::space::Space;
use self::staged::{Found, Record, Staged};
use self::validator::Validator;
use self::writer::{Writer, Written};
use crate::assets::{self, Asset};
use crate::content::{self, Finding};
use crate::error::{DownloadCause, Error, Result};
use crate::events::{Event, Observer};
use crate::folder::Folder;
use crate::link_book::{Lease, LinkBook};
use crate::net;
use crate::retry::{self, RetryPolicy};
use crate::staging;
use crate::task::TraceId;

/// How each file of a run is fetched: the run's options, as a transfer
/// reads them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// Reuse nothing an earlier run staged (`--force`).
    pub(crate) fresh: bool,
    /// How transient faults are retried.
    pub(crate) policy: RetryPolicy,
    /// No byte for this long, or under 1 KiB/s on average over it: abandon
    /// the request and resume.
    pub(crate) stall_timeout: Duration,
    /// The most a file that announces no length may bring (`--max-size`).
    pub(crate) max_size: u64,
    /// How many fresh links one file may ask for in a row without receiving
    /// a new byte before giving up.
    pub(crate) max_refreshes: u32,
    /// Check each file's content against its type (`--no-content-check`
    /// turns it off).
    pub(crate) content_check: bool,
    /// The most connections one big file is fetched over (`--connections`;
    /// 1: one stream).
    pub(crate) connections: usize,
    /// The most connections to the CDN at once (`--concurrency`), when
    /// bounded: each file holds one, each extra part one more.
    pub(crate) concurrency: Option<std::num::NonZeroUsize>,
}

/// Everything a transfer needs that is shared by all transfers of a run.
pub(crate) struct TransferContext {
    /// The client for the CDN: it never carries the API key.
    cdn: reqwest::Client,
    /// The output folder, held open.
    folder: Arc<Folder>,
    /// `.fetch-assets/` in it, where the files arrive (see [`staged`]).
    staging: Arc<Folder>,
    /// The current link of every file.
    links: Arc<LinkBook>,
    /// Free space, against the lengths the files announce.
    space: Arc<Space>,
    /// Connections to the CDN left, when `--concurrency` bounds them.
    slots: Option<Arc<tokio::sync::Semaphore>>,
    rules: Rules,
    observer: Arc<dyn Observer>,
}

impl TransferContext {
    /// The context of a run into `folder`, whose files arrive in `staging`.
    pub(crate) fn new(
        cdn: reqwest::Client,
        folder: Arc<Folder>,
        staging: Arc<Folder>,
        links: Arc<LinkBook>,
        rules: Rules,
        observer: Arc<dyn Observer>,
    ) -> TransferContext {
        TransferContext {
            cdn,
            space: Space::new(folder.clone()),
            slots: rules
                .concurrency
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n.get()))),
            folder,
            staging,
            links,
            rules,
            observer,
        }
    }
}

/// A complete, size-checked and hashed file, still in `.fetch-assets/`.
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub asset: Asset,
    pub file_name: String,
    pub size: u64,
    pub sha256: String,
    pub media_type: String,
    /// The link it came from, without its query.
    pub source: String,
    staged: Staged,
}

impl Downloaded {
    /// Renames the file to its final name in `folder` (the one it was
    /// downloaded into), replacing what was there.
    pub(crate) fn commit(self, folder: &Folder) -> Result<()> {
        self.staged
            .put_in_place(folder, &self.file_name)
            .map_err(|e| {
                Error::io(
                    "move the finished file into place as",
                    folder.shown(&self.file_name),
                    e,
                )
            })
    }
}

/// The file as it arrives, across its requests.
struct Arriving {
    /// The file, by its name without extension (`model`).
    name: Arc<str>,
    /// Bytes the staged file holds, from the file's first.
    received: u64,
    /// The file's whole size, once an answer announced it.
    total: Option<u64>,
    /// The first Content-Type the CDN gave.
    content_type: Option<String>,
    /// The file's first bytes (at most [`content::HEAD_LEN`]), for the
    /// content check.
    head: Vec<u8>,
    /// The space its announced length still needs.
    reservation: Option<space::Reservation>,
    /// The version the bytes are of: the validators of the answer they
    /// came from, sent as `If-Range` when resuming.
    validator: Option<Validator>,
    /// What an earlier run's parts left (synced, recorded), to fetch the
    /// rest of in parts.
    kept_ranges: Option<Vec<Span>>,
    /// The parts wrote and hashed the whole file: what the writer would
    /// have said.
    whole: Option<Written>,
    /// The CDN would not serve parts of one version: one stream only.
    one_stream: bool,
}

impl Arriving {
    /// A file with no byte yet.
    fn new(name: Arc<str>) -> Arriving {
        Arriving {
            name,
            received: 0,
            total: None,
            content_type: None,
            head: Vec::new(),
            reservation: None,
            validator: None,
            kept_ranges: None,
            whole: None,
            one_stream: false,
        }
    }

    /// A file an earlier run received `received` bytes of, as `record`
    /// says, starting with `head`.
    fn resumed(name: Arc<str>, received: u64, record: Record, head: Vec<u8>) -> Arriving {
        Arriving {
            received,
            total: record.size,
            content_type: record.content_type,
            head,
            validator: Some(record.validator),
            ..Arriving::new(name)
        }
    }

    /// Forgets every byte, and what the answers they came in said.
    fn forget(&mut self) {
        self.received = 0;
        self.total = None;
        self.content_type = None;
        self.validator = None;
        self.kept_ranges = None;
        self.whole = None;
        self.head.clear();
    }

    /// The record of the bytes as they stand, from `source` (the link
    /// without its query); `sha256` and `content_checked` once complete.
    fn record(&self, source: String, sha256: Option<String>, content_checked: bool) -> Record {
        Record {
            source,
            validator: self.validator.clone().unwrap_or_default(),
            size: self.total,
            content_type: self.content_type.clone(),
            sha256,
            content_checked,
            ranges: None,
        }
    }
}

/// Fetches one file into `.fetch-assets/`, reusing or resuming what an
/// earlier run staged for it. A file that fails keeps what it received
/// when running again may finish it (see [`kept::worth_keeping`]).
pub(crate) async fn download(ctx: &TransferContext, asset: Asset) -> Result<Downloaded> {
    let stem = asset.role.stem();
    // The file's own connection (extra parts take more).
    let _slot = match &ctx.slots {
        Some(slots) => slots.clone().acquire_owned().await.ok(),
        None => None,
    };
    let result = fetch_file(ctx, asset).await;
    if let Err(error) = &result
        && !kept::worth_keeping(error)
    {
        let staging = ctx.staging.clone();
        // Best effort: what stays is started over by the next run.
        let _ = tokio::task::spawn_blocking(move || staged::discard(&staging, &stem)).await;
    }
    result
}

/// The file from what an earlier run kept (reused, resumed, or started
/// over) to complete, checked and recorded.
async fn fetch_file(ctx: &TransferContext, mut asset: Asset) -> Result<Downloaded> {
    let name: Arc<str> = asset.role.stem().into();
    let mut budget = Budget::new(ctx.rules.policy, ctx.rules.max_refreshes);
    let Some(mut lease) = ctx.links.current(&asset.role) else {
        return Err(budget.give_up(name.to_string(), DownloadCause::NoLink, TraceId::default()));
    };
    let (mut staged, file, found) = open_staged(ctx, &name, lease.link.redacted()).await?;
    let arriving = match found {
        Found::Complete { size, record } => {
            match reuse(ctx, asset, staged, &lease, size, record).await? {
                Ok(done) => return Ok(done),
                // It fails the check this run makes: start it over.
                Err((back, again)) => {
                    (asset, staged) = (back, again);
                    (Arriving::new(name), Sha256::new(), 0)
                }
            }
        }
        Found::Partial {
            received,
            record,
            head,
            hashed,
            ranges,
            len,
        } => {
            let mut arriving = Arriving::resumed(name, received, record, head);
            let can_name = arriving.validator.as_ref().and_then(Validator::if_range);
            if ctx.rules.connections > 1
                && ranges.is_some()
                && arriving.total.is_some()
                && can_name.is_some()
            {
                // Parts go on from what every range holds: the writer keeps
                // the whole file.
                arriving.kept_ranges = ranges;
                (arriving, Sha256::new(), len)
            } else {
                (arriving, hashed, received)
            }
        }
        Found::Nothing => (Arriving::new(name), Sha256::new(), 0),
    };
    let (mut arriving, hashed, keep) = (arriving.0, arriving.1, arriving.2);
    let mut writer = Writer::resume(file, keep, hashed);
    let mut file = Transfer {
        asset: &asset,
        lease: &mut lease,
        arriving: &mut arriving,
        writer: &mut writer,
        staged: &mut staged,
        budget: &mut budget,
    };
    drive(ctx, &mut file).await?;
    finish(ctx, asset, lease, arriving, writer, staged, budget).await
}

/// One file's state while its requests run.
struct Transfer<'a> {
    asset: &'a Asset,
    lease: &'a mut Lease,
    arriving: &'a mut Arriving,
    writer: &'a mut Writer,
    staged: &'a mut Staged,
    budget: &'a mut Budget,
}

/// Request after request until the file is whole and passes the check of
/// its first bytes, or gives up.
async fn drive(ctx: &TransferContext, file: &mut Transfer<'_>) -> Result<()> {
    loop {
        if let Some(cause) = expiring(file.lease, SystemTime::now()) {
            renew(ctx, file, cause).await?;
        }
        file.budget.request();
        let outcome = attempt(ctx, file).await;
        let check = || check_content(ctx, file.lease, file.arriving);
        match next::after(outcome, check, file.budget) {
            Next::Finish => return Ok(()),
            Next::Renew(cause) => renew(ctx, file, cause).await?,
            Next::StartOverOnFreshLink(cause) => {
                reset(ctx, file.arriving, file.writer).await?;
                renew(ctx, file, cause).await?;
            }
            Next::Retry {
                retry,
                delay,
                cause,
            } => {
                ctx.observer.event(&Event::TransferRetry {
                    file: file.arriving.name.clone(),
                    retry,
                    delay,
                    cause: cause.to_string(),
                    resume_from: file.arriving.received,
                });
                tokio::time::sleep(delay).await;
            }
            Next::GiveUp(cause) => {
                let shown = shown_name(&file.arriving.name, file.lease);
                return Err(file.budget.give_up(shown, cause, file.lease.trace.clone()));
            }
            Next::Fail(error) => return Err(error),
        }
    }
}

/// Opens (or makes) the file's place in `.fetch-assets/`, on a blocking
/// thread, and says what an earlier run left there for `source`.
async fn open_staged(
    ctx: &TransferContext,
    name: &str,
    source: String,
) -> Result<(Staged, std::fs::File, Found)> {
    let (staging, stem, fresh) = (ctx.staging.clone(), name.to_owned(), ctx.rules.fresh);
    tokio::task::spawn_blocking(move || Staged::open(staging, &stem, &source, fresh))
        .await
        .map_err(|e| Error::Internal(format!("opening a staged file stopped: {e}")))?
        .map_err(|e| Error::io("use", ctx.staging.shown(&staging::data_name(name)), e))
}

/// The whole file written: its size checked against the announced one, a
/// glTF checked whole, its record kept (with its hash), and it reported
/// complete.
async fn finish(
    ctx: &TransferContext,
    asset: Asset,
    lease: Lease,
    mut arriving: Arriving,
    writer: Writer,
    mut staged: Staged,
    budget: Budget,
) -> Result<Downloaded> {
    let ext = assets::extension(lease.link.url(), arriving.content_type.as_deref());
    let file_name = assets::file_name(&asset.role, &ext);
    let synced = writer
        .finish()
        .await
        .map_err(|e| Error::io("write", ctx.folder.shown(&file_name), e))?;
    // Parts wrote past the writer: its sync covers them, their hash is theirs.
    let written = arriving.whole.take().unwrap_or(synced);
    if arriving.total.is_some_and(|total| total != written.size) {
        return Err(Error::Internal(format!(
            "{file_name}: wrote {} bytes, expected {:?}",
            written.size, arriving.total
        )));
    }
    if ctx.rules.content_check && ext == "gltf" {
        // A glTF is a JSON document: only the whole file tells.
        match check_whole(&staged, &ext, arriving.content_type.as_deref()).await {
            Ok(Ok(())) => {}
            Ok(Err(finding)) => {
                let check = match finding {
                    Finding::Damaged(check) => check,
                    page @ Finding::ErrorPage(_) => page.to_string(),
                };
                let cause = DownloadCause::Damaged { check };
                return Err(budget.give_up(file_name, cause, lease.trace));
            }
            Err(e) => return Err(Error::io("check", ctx.folder.shown(&file_name), e)),
        }
    }
    let mut record = arriving.record(
        lease.link.redacted(),
        Some(written.sha256.clone()),
        ctx.rules.content_check,
    );
    record.size = Some(written.size);
    keep_record(ctx, &mut staged, record).await?;
    ctx.observer.event(&Event::FileComplete {
        file: arriving.name.clone(),
        path: file_name.clone(),
        size: written.size,
    });
    Ok(Downloaded {
        media_type: assets::media_type(&ext, arriving.content_type.as_deref()),
        source: lease.link.redacted(),
        asset,
        file_name,
        size: written.size,
        sha256: written.sha256,
        staged,
    })
}

/// A file an earlier run staged complete, for the same link, that still
/// matches its record: no request at all. If this run checks content and
/// that run did not, the check is made now; a file that fails it is
/// handed back to be fetched anew (its bytes are dropped by the writer,
/// and its record replaced, before any new byte).
async fn reuse(
    ctx: &TransferContext,
    asset: Asset,
    staged: Staged,
    lease: &Lease,
    size: u64,
    record: Record,
) -> Result<Result<Downloaded, (Asset, Staged)>> {
    let ext = assets::extension(lease.link.url(), record.content_type.as_deref());
    let file_name = assets::file_name(&asset.role, &ext);
    if ctx.rules.content_check && !record.content_checked {
        let checked = check_whole(&staged, &ext, record.content_type.as_deref())
            .await
            .map_err(|e| Error::io("check", ctx.staging.shown(&file_name), e))?;
        if checked.is_err() {
            return Ok(Err((asset, staged)));
        }
    }
    ctx.observer.event(&Event::Kept {
        files: vec![file_name.clone()],
    });
    ctx.observer.event(&Event::FileComplete {
        file: asset.role.stem().into(),
        path: file_name.clone(),
        size,
    });
    Ok(Ok(Downloaded {
        media_type: assets::media_type(&ext, record.content_type.as_deref()),
        source: record.source.clone(),
        sha256: record.sha256.clone().unwrap_or_default(),
        asset,
        file_name,
        size,
        staged,
    }))
}

/// Writes the staged file's record (synced) on a blocking thread, unless
/// it is the one on disk.
async fn keep_record(ctx: &TransferContext, staged: &mut Staged, record: Record) -> Result<()> {
    if staged.record() == Some(&record) {
        return Ok(());
    }
    let mut writing = staged.clone();
    *staged = tokio::task::spawn_blocking(move || writing.keep_record(record).map(|()| writing))
        .await
        .map_err(|e| Error::Internal(format!("writing a staged file's record stopped: {e}")))?
        .map_err(|e| Error::io("write in", ctx.staging.path(), e))?;
    Ok(())
}

/// The content check of a file that arrived whole, from its first bytes
/// (see [`content`]); `Ok` when checks are off.
fn check_content(ctx: &TransferContext, lease: &Lease, arriving: &Arriving) -> Result<(), Finding> {
    if !ctx.rules.content_check {
        return Ok(());
    }
    let ext = assets::extension(lease.link.url(), arriving.content_type.as_deref());
    content::check_head(
        &ext,
        arriving.content_type.as_deref(),
        &arriving.head,
        arriving.received,
    )
}

/// The check of the whole file on disk (glTF's JSON document), on a
/// blocking thread.
async fn check_whole(
    staged: &Staged,
    ext: &str,
    content_type: Option<&str>,
) -> std::io::Result<Result<(), Finding>> {
    let (staged, ext, content_type) = (
        staged.clone(),
        ext.to_owned(),
        content_type.map(str::to_owned),
    );
    tokio::task::spawn_blocking(move || {
        content::check_file(staged.reopen()?, &ext, content_type.as_deref())
    })
    .await
    .map_err(|e| std::io::Error::other(format!("the content check stopped: {e}")))?
}

/// Why the lease's link should not be used for a new request: it is dead,
/// or so close to it that the CDN would likely refuse it.
fn expiring(lease: &Lease, now: SystemTime) -> Option<DownloadCause> {
    lease
        .link
        .about_to_expire(now)
        .then(|| DownloadCause::LinkExpiring {
            left: lease
                .link
                .expires_at()
                .duration_since(now)
                .unwrap_or_default(),
        })
}

/// The file as a message names it: its final name (`model.glb`) when the
/// link tells the extension, else its name without one (`model`).
fn shown_name(name: &str, lease: &Lease) -> String {
    match assets::extension_from_link(lease.link.url()) {
        Some(ext) => format!("{name}.{ext}"),
        None => name.to_owned(),
    }
}

/// A fresh link for the file, unless its budget allows no more refreshes
/// (the CDN keeps refusing: give up with `cause`).
async fn renew(ctx: &TransferContext, file: &mut Transfer<'_>, cause: DownloadCause) -> Result<()> {
    let name = &file.arriving.name;
    if !file.budget.refresh() {
        let shown = shown_name(name, file.lease);
        return Err(file.budget.give_up(shown, cause, file.lease.trace.clone()));
    }
    ctx.observer.event(&Event::LinkExpired {
        file: name.clone(),
        cause: cause.to_string(),
    });
    match ctx
        .links
        .refresh(&file.asset.role, file.lease.generation)
        .await?
    {
        Some(fresh) => {
            *file.lease = fresh;
            Ok(())
        }
        None => {
            Err(file
                .budget
                .give_up(name.to_string(), DownloadCause::NoLink, TraceId::default()))
        }
    }
}

/// One request: from `arriving.received` to the end, or to the first fault.
async fn attempt(ctx: &TransferContext, file: &mut Transfer<'_>) -> Outcome {
    if let Some(have) = file.arriving.kept_ranges.take()
        && let (Some(total), Some(validator)) =
            (file.arriving.total, file.arriving.validator.clone())
    {
        let extra = spare_connections(ctx, extra_wanted(ctx, &have, total));
        return in_parts(ctx, file, None, total, validator, have, extra).await;
    }
    let response = match send(ctx, file.lease, file.arriving).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let headers = response.headers();
    let version = Validator::of(headers);
    let answer = Answer {
        status: response.status().as_u16(),
        content_length: response.content_length(),
        content_range: header_text(headers, &CONTENT_RANGE),
        retry_after: retry::retry_after(headers),
        other_version: file
            .arriving
            .validator
            .as_ref()
            .is_some_and(|ours| ours.other_version(&version)),
    };
    let asked = Asked {
        from: file.arriving.received,
        known_total: file.arriving.total,
    };
    let step = decide::decide(asked, &answer, &file.lease.link.redacted());
    let (total, forget_first, end) = match next::before(step) {
        Before::Stream { total, forget } => (total, forget, None),
        Before::End { forget, outcome } => (None, forget, Some(outcome)),
    };
    if forget_first && let Err(error) = forget(ctx, file.arriving, file.writer).await {
        return Outcome::Failed(error);
    }
    if let Some(outcome) = end {
        return outcome;
    }
    let arriving = &mut *file.arriving;
    arriving.total = total;
    arriving.reservation = None;
    if let Some(total) = total {
        match reserve(ctx, total.saturating_sub(arriving.received)).await {
            Ok(reservation) => arriving.reservation = Some(reservation),
            Err(outcome) => return outcome,
        }
    }
    if arriving.content_type.is_none() {
        arriving.content_type = header_text(response.headers(), &CONTENT_TYPE).map(str::to_owned);
    }
    if arriving.received == 0 {
        // The first bytes of the file: they are of this answer's version.
        arriving.validator = Some(version.clone());
    }
    let ranges = response.status().as_u16() == 206
        || header_text(response.headers(), &ACCEPT_RANGES)
            .is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
    if let Some(total) = total
        && arriving.received == 0
        && !arriving.one_stream
        && parts_plan::worth_parts(
            total,
            ranges,
            version.if_range().is_some(),
            ctx.rules.connections,
        )
    {
        // Parts only when `--concurrency` leaves another connection free.
        let extra = spare_connections(ctx, extra_wanted(ctx, &[], total));
        if !extra.is_empty() {
            let first = Some(response);
            return in_parts(ctx, file, first, total, version, Vec::new(), extra).await;
        }
    }
    // What the staged file holds, said before any of its bytes are written.
    let record = arriving.record(file.lease.link.redacted(), None, false);
    if let Err(error) = keep_record(ctx, file.staged, record).await {
        return Outcome::Failed(error);
    }
    ctx.observer.event(&Event::TransferStarted {
        file: arriving.name.clone(),
        size: arriving.total,
        offset: arriving.received,
    });
    stream(ctx, response, file).await
}

/// The rest of the file in parts (see [`parts`]): `first` is an answer
/// streaming it from its first byte, if one was asked for; `have` what an
/// earlier run's parts left. The file goes back to one stream from its
/// first byte if the CDN will not serve parts of one version.
async fn in_parts(
    ctx: &TransferContext,
    file: &mut Transfer<'_>,
    first: Option<reqwest::Response>,
    total: u64,
    validator: Validator,
    have: Vec<Span>,
    extra: Vec<Option<tokio::sync::OwnedSemaphorePermit>>,
) -> Outcome {
    let arriving = &mut *file.arriving;
    let held: u64 = have.iter().map(|s| s.len()).sum();
    arriving.total = Some(total);
    match reserve(ctx, total.saturating_sub(held)).await {
        Ok(reservation) => arriving.reservation = Some(reservation),
        Err(outcome) => return outcome,
    }
    let mut record = arriving.record(file.lease.link.redacted(), None, false);
    record.ranges = Some(have.iter().map(|s| [s.start, s.end]).collect());
    if let Err(error) = keep_record(ctx, file.staged, record.clone()).await {
        return Outcome::Failed(error);
    }
    // The writer has set the file to what it keeps before any part writes.
    if let Err(e) = file.writer.ready().await {
        return Outcome::Failed(write_error(ctx, arriving, e));
    }
    let handle = match file.staged.reopen_for_writing() {
        Ok(handle) => Arc::new(handle),
        Err(e) => return Outcome::Failed(write_error(ctx, arriving, e)),
    };
    ctx.observer.event(&Event::TransferStarted {
        file: arriving.name.clone(),
        size: Some(total),
        offset: held,
    });
    let placeholder = Budget::new(ctx.rules.policy, ctx.rules.max_refreshes);
    let job = parts::Job {
        role: file.asset.role.clone(),
        name: arriving.name.clone(),
        lease: file.lease.clone(),
        budget: std::mem::replace(file.budget, placeholder),
        total,
        validator,
        have,
        first,
        file: handle,
        staged: file.staged.clone(),
        record,
        extra,
    };
    let after = parts::fetch(ctx, job).await;
    *file.lease = after.lease;
    *file.budget = after.budget;
    *file.staged = after.staged;
    match after.ended {
        parts::Ended::Whole {
            written,
            head,
            connections,
        } => {
            ctx.observer.event(&Event::Connections {
                file: arriving.name.clone(),
                connections,
            });
            arriving.received = total;
            arriving.head = head;
            arriving.whole = Some(written);
            Outcome::Complete
        }
        parts::Ended::OneStream(cause) => {
            arriving.one_stream = true;
            if let Err(error) = forget(ctx, arriving, file.writer).await {
                return Outcome::Failed(error);
            }
            transient(cause, None)
        }
        parts::Ended::Failed(error) => Outcome::Failed(error),
    }
}

/// How many connections beyond the file's own its parts could use.
fn extra_wanted(ctx: &TransferContext, have: &[Span], total: u64) -> usize {
    let connections = ctx.rules.connections;
    let parts = parts_plan::split(&parts_plan::missing(have, total), connections);
    parts.len().min(connections).saturating_sub(1)
}

/// Transfer slots for up to `wanted` connections beyond the file's own:
/// as many as `--concurrency` leaves free now (`None`: unbounded).
fn spare_connections(
    ctx: &TransferContext,
    wanted: usize,
) -> Vec<Option<tokio::sync::OwnedSemaphorePermit>> {
    match &ctx.slots {
        None => (0..wanted).map(|_| None).collect(),
        Some(slots) => (0..wanted)
            .map_while(|_| slots.clone().try_acquire_owned().ok().map(Some))
            .collect(),
    }
}

/// Sends the request for the rest of the file (all of it, or what follows
/// the bytes it holds, of the version they are of), under the stall rule.
async fn send(
    ctx: &TransferContext,
    lease: &Lease,
    arriving: &Arriving,
) -> Result<reqwest::Response, Outcome> {
    ctx.observer.event(&Event::Request {
        method: "GET".to_owned(),
        url: lease.link.redacted(),
    });
    let mut request = ctx.cdn.get(lease.link.url().expose().clone());
    if arriving.received > 0 {
        request = request.header(RANGE, format!("bytes={}-", arriving.received));
        if let Some(version) = arriving.validator.as_ref().and_then(Validator::if_range) {
            request = request.header(IF_RANGE, version);
        }
    }
    match body::or_stall(ctx.rules.stall_timeout, request.send()).await {
        Err(stalled) => Err(transient(stalled, None)),
        Ok(Err(e)) if e.is_redirect() => {
            Err(Outcome::Final(DownloadCause::redirect(&e.without_url())))
        }
        Ok(Err(e)) => Err(transient(
            DownloadCause::connect(
                net::host_of(&lease.link.url().without_secrets()),
                &e.without_url(),
            ),
            None,
        )),
        Ok(Ok(response)) => Ok(response),
    }
}

/// Reserves the space the rest of the file needs, on a blocking thread
/// (it reads the file system's free space).
async fn reserve(ctx: &TransferContext, bytes: u64) -> Result<space::Reservation, Outcome> {
    let space = ctx.space.clone();
    match tokio::task::spawn_blocking(move || space.reserve(bytes)).await {
        Ok(Ok(reservation)) => Ok(reservation),
        Ok(Err(cause)) => Err(Outcome::Final(cause)),
        Err(e) => Err(Outcome::Failed(Error::Internal(format!(
            "reserving space stopped: {e}"
        )))),
    }
}

/// Streams the answer's body into the file, counting its progress.
async fn stream(
    ctx: &TransferContext,
    response: reqwest::Response,
    file: &mut Transfer<'_>,
) -> Outcome {
    let arriving = &mut *file.arriving;
    let budget = &mut *file.budget;
    let name = &arriving.name;
    let total = arriving.total;
    let reservation = &mut arriving.reservation;
    let cap = Cap {
        total,
        max_size: ctx.rules.max_size,
    };
    let streamed = body::stream(
        response,
        ctx.rules.stall_timeout,
        cap,
        &mut arriving.received,
        &mut arriving.head,
        file.writer,
        |bytes, received| {
            budget.received(received, total);
            if let Some(reservation) = reservation.as_mut() {
                reservation.used(bytes);
            }
            ctx.observer.event(&Event::TransferProgress {
                file: name.clone(),
                bytes,
                received,
                size: total,
            });
        },
    )
    .await;
    match streamed {
        Ok(()) => Outcome::Complete,
        Err(Cut::Fault(cause)) => transient(cause, None),
        Err(Cut::Final(cause)) => Outcome::Final(cause),
        Err(Cut::Write(e)) => Outcome::Failed(write_error(ctx, arriving, e)),
    }
}

/// Forgets every byte of the file, saying so: the next bytes start it from
/// the top.
async fn forget(ctx: &TransferContext, arriving: &mut Arriving, writer: &mut Writer) -> Result<()> {
    ctx.observer.event(&Event::TransferRestarted {
        file: arriving.name.clone(),
    });
    reset(ctx, arriving, writer).await
}

/// Forgets every byte of the file and what its answers said.
async fn reset(ctx: &TransferContext, arriving: &mut Arriving, writer: &mut Writer) -> Result<()> {
    writer
        .restart()
        .await
        .map_err(|e| write_error(ctx, arriving, e))?;
    arriving.forget();
    Ok(())
}

fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn transient(cause: DownloadCause, retry_after: Option<Duration>) -> Outcome {
    Outcome::Transient { cause, retry_after }
}

fn write_error(ctx: &TransferContext, arriving: &Arriving, e: std::io::Error) -> Error {
    Error::io("write", ctx.folder.shown(&arriving.name), e)
}
