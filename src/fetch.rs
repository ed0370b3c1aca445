//! The pipeline: wait for the task, plan its files, keep what is already
//! complete, fetch the rest all at once, then commit them and the manifest.
//!
//! Files land under their final names only when every file of the run is
//! complete, so a run that fails leaves the folder as it found it, but for
//! what it received, kept in `.fetch-assets/` for the next run to carry on
//! from (see `transfer::staged`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, stream};

use crate::api::ApiClient;
use crate::assets::{self, Asset, ContractOrder, RoleSelector};
use crate::commit;
use crate::error::{DownloadCause, Error, Result, Tried};
use crate::events::{Event, Observer, PlannedFile};
use crate::folder::Folder;
use crate::hosts::HostRules;
use crate::link_book::LinkBook;
use crate::lock;
use crate::manifest::{self, FileEntry, Manifest};
use crate::output_role::OutputRole;
use crate::poll::PollSchedule;
use crate::rerun::{self, Rerun};
use crate::retry::RetryPolicy;
use crate::staging;
use crate::task::{Task, TaskStatus, TraceId};
use crate::transfer::{self, Downloaded, TransferContext};
use crate::{FetchOptions, events};

/// How many fresh links one file may ask for in a row without receiving a
/// new byte before its run gives up: a CDN that always refuses ends the run,
/// a long transfer that keeps advancing may outlive any number of links.
const MAX_REFRESHES_PER_FILE: u32 = 5;

/// Where a fetch starts: from the task id alone (wait for the task), or from
/// a task already in hand (a webhook delivery), whose links are used as
/// they are and renewed through the API only when they die.
pub(crate) enum Start {
    Wait,
    Known(Box<Task>),
}

/// What the pipeline needs from the client that runs it.
pub(crate) struct Parts<'a> {
    /// The API, for the task and for fresh links.
    pub api: &'a ApiClient,
    /// The HTTP client for the CDN: it never carries the key.
    pub cdn: &'a reqwest::Client,
    /// How transient faults are retried.
    pub policy: RetryPolicy,
    /// Where output links may point.
    pub hosts: HostRules,
}

pub(crate) async fn fetch(
    client: Parts<'_>,
    task_id: &str,
    start: Start,
    dir: &Path,
    options: &FetchOptions,
) -> Result<Manifest> {
    check_task_id(task_id)?;
    let exists = blocking({
        let dir = dir.to_owned();
        move || check_folder(&dir).map(|()| dir.is_dir())
    })
    .await??;
    let options_force = options.force;
    let api = client.api;
    let observer = options.observer.clone().unwrap_or_else(events::ignore);
    // A folder that exists is locked (and its manifest read) before waiting,
    // so a folder holding another task is refused at once. A missing one is
    // made only once there is something to put in it: a bad key, an unknown
    // task or a timeout leaves no empty folder behind.
    let mut held = None;
    if exists {
        held = Some(lock_and_read(dir, task_id, options_force, &observer).await?);
    }

    let task = match start {
        Start::Wait => wait(api, task_id, options, &observer).await?,
        Start::Known(task) => known(*task)?,
    };
    let planned = plan(&task, &options.only, client.hosts)?;
    // Locked while `folder` lives: a second run into this folder waits, then
    // finds it complete. Every file operation from here on goes through it.
    let (folder, previous, unfinished) = match held {
        Some(held) => held,
        None => {
            blocking({
                let dir = dir.to_owned();
                move || {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| Error::io("create the folder", &dir, e))
                }
            })
            .await??;
            lock_and_read(dir, task_id, options_force, &observer).await?
        }
    };

    let Rerun { kept, to_fetch } = blocking({
        let (folder, previous) = (folder.clone(), previous.clone());
        move || rerun::split(&folder, previous.as_ref(), planned, options_force)
    })
    .await?;
    if !kept.is_empty() {
        observer.event(&Event::Kept {
            files: kept.iter().map(|e| e.path.clone()).collect(),
        });
    }
    if let (true, false, Some(previous)) = (to_fetch.is_empty(), unfinished, &previous) {
        // Complete already: leave the folder, its manifest included, as it
        // is, less what an interrupted run kept beside it.
        blocking({
            let folder = folder.clone();
            move || staging::remove(&folder)
        })
        .await??;
        return Ok(previous.clone());
    }
    if !options.force {
        let names = to_fetch.iter().filter_map(|asset| {
            assets::extension_from_link(asset.link.as_ref().ok()?)
                .map(|ext| assets::file_name(&asset.role, &ext))
        });
        refuse_files_not_ours(&folder, names.collect(), previous.as_ref()).await?;
    }
    observer.event(&Event::Planned {
        files: to_fetch.iter().map(planned_file).collect(),
    });

    let staging = blocking({
        let folder = folder.clone();
        move || staging::create(&folder)
    })
    .await??;
    let context = transfer_context(
        &client, &folder, staging, task_id, &task, options, &observer,
    );
    let outcomes = fan_out(&context, to_fetch, options).await;
    // The first failure is the run's.
    let downloaded = match outcomes.into_iter().collect::<Result<Vec<Downloaded>>>() {
        Ok(downloaded) => downloaded,
        Err(error) => {
            blocking({
                let folder = folder.clone();
                move || staging::tidy(&folder)
            })
            .await?;
            return Err(error);
        }
    };

    if !options.force {
        let names = downloaded.iter().map(|file| file.file_name.clone());
        refuse_files_not_ours(&folder, names.collect(), previous.as_ref()).await?;
    }
    let manifest = commit_all(
        &folder,
        task_id,
        &task,
        kept,
        downloaded,
        previous.as_ref(),
        &observer,
    )
    .await?;
    observer.event(&Event::ManifestWritten {
        path: dir.join(manifest::MANIFEST_FILE),
    });
    Ok(manifest)
}

/// What every transfer of the run shares: the CDN client, the folders,
/// one `LinkBook` for the task's links, and the run's options.
fn transfer_context(
    client: &Parts<'_>,
    folder: &Arc<Folder>,
    staging: Arc<Folder>,
    task_id: &str,
    task: &Task,
    options: &FetchOptions,
    observer: &Arc<dyn Observer>,
) -> TransferContext {
    let links = LinkBook::new(
        client.api.clone(),
        task_id,
        task,
        client.hosts,
        observer.clone(),
    );
    let rules = transfer::Rules {
        fresh: options.force,
        policy: client.policy,
        stall_timeout: options.stall_timeout,
        max_size: options.max_size,
        max_refreshes: MAX_REFRESHES_PER_FILE,
        content_check: options.content_check,
        connections: options.connections.get(),
        concurrency: Some(options.transfers_at_once()),
    };
    TransferContext::new(
        client.cdn.clone(),
        folder.clone(),
        staging,
        Arc::new(links),
        rules,
        observer.clone(),
    )
}

/// Fetches the files at once (up to `--concurrency`, 32 unless set; within a limit
/// shared with other fetches). One file failing does not stop the others:
/// they finish, staged, so the next run makes no request for them.
async fn fan_out(
    context: &TransferContext,
    to_fetch: Vec<Asset>,
    options: &FetchOptions,
) -> Vec<Result<Downloaded>> {
    let at_once = options.transfers_at_once().get();
    let shared_limit = options.shared_limit.as_ref();
    stream::iter(to_fetch)
        .map(|asset| async {
            // A limit shared with other fetches bounds transfers across all of them.
            let _turn = match shared_limit {
                Some(limit) => Some(limit.turn().await),
                None => None,
            };
            transfer::download(context, asset).await
        })
        .buffer_unordered(at_once)
        .collect()
        .await
}

/// Commits the downloaded files (see [`commit`]) with the manifest of
/// everything the folder then holds for the task: kept, downloaded, and what
/// an earlier run (say, with another `--only`) left that still verifies.
async fn commit_all(
    folder: &Arc<Folder>,
    task_id: &str,
    task: &Task,
    kept: Vec<FileEntry>,
    downloaded: Vec<Downloaded>,
    previous: Option<&Manifest>,
    observer: &Arc<dyn Observer>,
) -> Result<Manifest> {
    let mut files = kept;
    files.extend(downloaded.iter().map(entry_for));
    let still_complete = blocking({
        let (folder, previous, files) = (folder.clone(), previous.cloned(), files.clone());
        move || rerun::still_complete(&folder, previous.as_ref(), &files)
    })
    .await?;
    files.extend(still_complete);
    rerun::in_contract_order(&mut files, &ContractOrder::of(&task.output));
    let manifest = Manifest {
        schema_version: manifest::SCHEMA_VERSION,
        task_id: task_id.to_owned(),
        task_type: task.task_type.clone(),
        create_time: task.create_time,
        fetched_at: fetched_at(),
        generator: concat!("fetch-assets ", env!("CARGO_PKG_VERSION")).to_owned(),
        files,
    };
    blocking({
        let (folder, manifest, observer) = (folder.clone(), manifest.clone(), observer.clone());
        move || commit::commit(&folder, &manifest, downloaded, &observer)
    })
    .await??;
    Ok(manifest)
}

/// Runs file work (looking at, reading, hashing, making files and folders)
/// on a blocking thread, so the runtime stays free to serve signals and
/// timers however slow the disk.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("a file check stopped: {e}")))
}

/// Stops the run when a file it is about to write, or the manifest or
/// `SHA256SUMS`, already stands in the folder and no earlier run of ours
/// wrote it (its manifest does not list it): the folder holds someone
/// else's files, which are never replaced without `--force`. Looks at the
/// folder on a blocking thread.
async fn refuse_files_not_ours(
    folder: &Arc<Folder>,
    names: Vec<String>,
    previous: Option<&Manifest>,
) -> Result<()> {
    let found = blocking({
        let (folder, previous) = (folder.clone(), previous.cloned());
        move || {
            not_ours(names, previous.as_ref(), |name| {
                folder.kind_of(name).is_ok_and(|kind| kind.is_some())
            })
        }
    })
    .await?;
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::NotOurs {
        dir: folder.path().to_owned(),
        files: found.join(", "),
    })
}

/// Which of `names`, the manifest and `SHA256SUMS` stand in the folder
/// (`stands`) though no earlier run of ours wrote them: every one of them
/// when there is no earlier manifest; else those its manifest does not
/// list (its own manifest and sums are ours).
fn not_ours(
    names: Vec<String>,
    previous: Option<&Manifest>,
    stands: impl Fn(&str) -> bool,
) -> Vec<String> {
    let ours = |name: &str| {
        previous.is_some_and(|m| {
            name == manifest::MANIFEST_FILE
                || name == manifest::SUMS_FILE
                || m.files.iter().any(|f| f.path == name)
        })
    };
    let mut found: Vec<String> = names
        .into_iter()
        .chain([
            manifest::SUMS_FILE.to_owned(),
            manifest::MANIFEST_FILE.to_owned(),
        ])
        .filter(|name| !ours(name))
        .filter(|name| stands(name))
        .collect();
    found.dedup();
    found
}

/// Takes the folder's lock, held to the end of the run (a second run into
/// the folder waits, then finds it complete), then reads what an earlier
/// run left there (on a blocking thread): its manifest, and whether its
/// commit is unfinished.
async fn lock_and_read(
    dir: &Path,
    task_id: &str,
    force: bool,
    observer: &Arc<dyn Observer>,
) -> Result<(Arc<Folder>, Option<Manifest>, bool)> {
    let folder = lock::acquire(dir, observer).await?;
    let (previous, unfinished) = blocking({
        let (folder, task_id) = (folder.clone(), task_id.to_owned());
        move || read_earlier_run(&folder, &task_id, force)
    })
    .await??;
    Ok((folder, previous, unfinished))
}

/// What an earlier run left in the folder: the manifest this run starts
/// from, and whether that run's commit is unfinished. Blocking.
fn read_earlier_run(
    folder: &Folder,
    task_id: &str,
    force: bool,
) -> Result<(Option<Manifest>, bool)> {
    staging::check_ours(folder, force)?;
    match staging::unfinished_commit(folder)? {
        Some(commit) => {
            let replaced = || {
                Manifest::read_in(folder)
                    .ok()
                    .or_else(|| staging::moved_aside_manifest(folder))
            };
            let previous = finishing(folder.path(), commit, replaced, task_id, force)?;
            Ok((previous, true))
        }
        None => {
            let found = match folder.kind_of(manifest::MANIFEST_FILE) {
                Ok(None) => None,
                Ok(Some(_)) => Some(Manifest::read_in(folder)),
                Err(e) => {
                    return Err(Error::io(
                        "look at",
                        folder.shown(manifest::MANIFEST_FILE),
                        e,
                    ));
                }
            };
            Ok((previous_run(folder.path(), found, task_id, force)?, false))
        }
    }
}

/// The manifest an unfinished commit was making, taken as the earlier
/// run's: its files are where the next run starts from. The entries of the
/// manifest it replaced (`replaced`: still in place, or moved aside) that
/// it does not list are added, so their files count as ours; like every
/// entry, they are kept only if they verify. One for another task is
/// treated as such a manifest is (see [`previous_run`]).
fn finishing(
    dir: &Path,
    commit: Manifest,
    replaced: impl FnOnce() -> Option<Manifest>,
    task_id: &str,
    force: bool,
) -> Result<Option<Manifest>> {
    if commit.task_id != task_id {
        if force {
            return Ok(None);
        }
        return Err(Error::OtherTask {
            dir: dir.to_owned(),
            found: commit.task_id,
            wanted: task_id.to_owned(),
        });
    }
    let replaced = replaced().filter(|old| old.task_id == task_id);
    let mut merged = commit;
    for old in replaced.into_iter().flat_map(|m| m.files) {
        if !merged.files.iter().any(|f| f.path == old.path) {
            merged.files.push(old);
        }
    }
    Ok(Some(merged))
}

/// The folder must be one, or not exist yet: a file in the way (at the
/// path or above it), or a folder this process may not write in (the
/// folder, or the nearest above it that exists), is a usage error, found
/// before waiting for the task.
/// `batch` and `listen` check their OUT_ROOT with it too, before any request.
pub(crate) fn check_folder(dir: &Path) -> Result<()> {
    for path in dir.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        match std::fs::metadata(path) {
            // The folder, or the nearest one above it that exists (where it
            // would be made): one this run may write in.
            Ok(meta) if meta.is_dir() => {
                return crate::folder::may_write_in(path).map_err(|cause| {
                    Error::Usage(format!(
                        "{} is not writable ({}: {cause}): choose another folder or fix its permissions",
                        dir.display(),
                        path.display()
                    ))
                });
            }
            Ok(_) if path == dir => {
                return Err(Error::Usage(format!(
                    "{} is a file, not a folder: give a folder for the outputs (it is created if missing)",
                    dir.display()
                )));
            }
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "{} cannot be a folder: {} is a file; give a folder for the outputs",
                    dir.display(),
                    path.display()
                )));
            }
            // Missing (or not ours to look at): the folder above decides.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Now, in RFC 3339 UTC to the second, as the manifest records it.
fn fetched_at() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Checks a task id as every command does before any request: ids go into
/// a URL path, so only the characters real ids use (letters, digits, `-`,
/// `_`; 1 to 128 of them). Anything else is [`Error::Usage`].
pub fn check_task_id(task_id: &str) -> Result<()> {
    let ok = (1..=128).contains(&task_id.len())
        && task_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "'{}' is not a task id: ids are letters, digits, '-' and '_' (as returned when the task was created)",
            task_id.escape_default()
        )))
    }
}

/// Polls until the task is final or `options.timeout` has passed.
async fn wait(
    api: &ApiClient,
    task_id: &str,
    options: &FetchOptions,
    observer: &Arc<dyn Observer>,
) -> Result<Task> {
    let started = Instant::now();
    // A timeout too far out for the clock to count to means no deadline.
    let deadline = tokio::time::Instant::now().checked_add(options.timeout);
    let mut schedule = PollSchedule::new();
    let mut last_seen = "no answer yet".to_owned();
    let timeout = |last_seen: String| Error::Timeout {
        task_id: task_id.to_owned(),
        waited: started.elapsed(),
        last_seen,
    };
    loop {
        let task = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, api.task(task_id, observer))
                .await
                .map_err(|_| timeout(last_seen.clone()))??,
            None => api.task(task_id, observer).await?,
        };
        observer.event(&Event::TaskPolled {
            status: task.status.clone(),
            progress: task.progress,
            queue_position: task.queue_position,
            estimate: task.time_left,
            trace_id: task.trace_id.clone(),
        });
        match task.status {
            TaskStatus::Success => return Ok(task),
            ref status if status.is_final() => return Err(ended(task_id, task)),
            _ => {}
        }
        last_seen = match task.progress {
            Some(progress) => format!("{}, {progress}%", task.status),
            None => task.status.to_string(),
        };
        let next = tokio::time::Instant::now() + schedule.after(&task);
        if let Some(deadline) = deadline.filter(|deadline| next >= *deadline) {
            tokio::time::sleep_until(deadline).await;
            return Err(timeout(last_seen));
        }
        tokio::time::sleep_until(next).await;
    }
}

/// A task handed in rather than polled: only a success has files to fetch.
fn known(task: Task) -> Result<Task> {
    match task.status {
        TaskStatus::Success => Ok(task),
        _ => Err(ended(&task.task_id.clone(), task)),
    }
}

/// The error for a task that reached a final status other than success.
pub(crate) fn ended(task_id: &str, task: Task) -> Error {
    Error::TaskEnded {
        task_id: task_id.to_owned(),
        status: task.status,
        while_downloading: false,
        error_code: task.error_code,
        message: task.error_message,
        trace: task.trace_id,
    }
}

/// The plan: the task's files in the contract's order, narrowed to
/// `--only`, each with a link a request may follow. A file without one
/// ends the run (exit 5) before anything is written.
fn plan(task: &Task, only: &[RoleSelector], hosts: HostRules) -> Result<Vec<Asset>> {
    let planned = select(assets::plan(&task.output), only, task)?;
    for asset in &planned {
        if let Err(reason) = asset.usable_link(hosts) {
            let role = match asset.role.field() {
                Some(field) => format!("{} (field {field})", asset.role),
                None => asset.role.to_string(),
            };
            return Err(Error::Download {
                file: asset.role.stem(),
                cause: DownloadCause::BadLink { role, reason },
                trace: TraceId::default(),
                tried: Tried::default(),
            });
        }
    }
    Ok(planned)
}

/// The planned files, narrowed to `--only`; an empty plan, or a choice the
/// task cannot satisfy, is an error.
fn select(planned: Vec<Asset>, only: &[RoleSelector], task: &Task) -> Result<Vec<Asset>> {
    if planned.is_empty() {
        return Err(Error::NoOutputs {
            task_id: task.task_id.clone(),
            trace: task.trace_id.clone(),
        });
    }
    if only.is_empty() {
        return Ok(planned);
    }
    let has = |selector: &RoleSelector| {
        planned
            .iter()
            .any(|a| a.roles().any(|r| selector.selects(r)))
    };
    let missing: Vec<&str> = only.iter().filter(|s| !has(s)).map(|s| s.name()).collect();
    if !missing.is_empty() {
        let order = ContractOrder::of(&task.output);
        let mut available: Vec<&OutputRole> = planned.iter().flat_map(Asset::roles).collect();
        available.sort_by_key(|role| order.place(role));
        let mut available: Vec<&str> = available.into_iter().map(|r| r.name()).collect();
        available.dedup();
        return Err(Error::RoleNotAvailable {
            task_id: task.task_id.clone(),
            missing: missing.join(", "),
            available: available.join(", "),
        });
    }
    // Choose among roles before merging shared links, so that
    // `--only pbr_model` gets `pbr_model.glb` even when `model` has the same link.
    let chosen = planned
        .into_iter()
        .filter_map(|asset| {
            let mut roles = asset
                .roles()
                .filter(|r| only.iter().any(|s| s.selects(r)))
                .cloned();
            let role = roles.next()?;
            Some(Asset {
                role,
                aliases: roles.collect(),
                link: asset.link.clone(),
            })
        })
        .collect();
    Ok(chosen)
}

/// The manifest of an earlier run in the folder `dir`, if it is one of
/// ours for this task (with `--force`, only for this task). `found` is what
/// stands under `manifest.json`: nothing, or what reading it gave. A
/// manifest for another task, or a `manifest.json` that is not ours (not a
/// regular file, too large, not our format), stops the run unless
/// `--force`: the folder is someone else's.
fn previous_run(
    dir: &Path,
    found: Option<Result<Manifest>>,
    task_id: &str,
    force: bool,
) -> Result<Option<Manifest>> {
    let Some(read) = found else {
        return Ok(None);
    };
    match read {
        Ok(previous) if previous.task_id == task_id => Ok(Some(previous)),
        _ if force => Ok(None),
        Ok(previous) => Err(Error::OtherTask {
            dir: dir.to_owned(),
            found: previous.task_id,
            wanted: task_id.to_owned(),
        }),
        Err(error) => Err(error),
    }
}

fn entry_for(file: &Downloaded) -> FileEntry {
    FileEntry {
        role: file.asset.role.clone(),
        path: file.file_name.clone(),
        size: file.size,
        sha256: file.sha256.clone(),
        media_type: file.media_type.clone(),
        source: file.source.clone(),
        // As the manifest reads them back: by their stems, without a field.
        aliases: file
            .asset
            .aliases
            .iter()
            .map(|alias| OutputRole::from_stem(&alias.stem()))
            .collect(),
    }
}

fn planned_file(asset: &Asset) -> PlannedFile {
    let link = asset.link.as_ref().ok();
    let name = match link.and_then(assets::extension_from_link) {
        Some(ext) => assets::file_name(&asset.role, &ext),
        None => asset.role.stem(),
    };
    PlannedFile {
        role: asset.role.clone(),
        file: asset.role.stem().into(),
        name,
        source: link.map(ToString::to_string).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::parse_task;
    use std::time::SystemTime;

    /// A manifest of ours for `task_id`, listing `paths`.
    fn manifest(task_id: &str, paths: &[&str]) -> Manifest {
        let files = paths
            .iter()
            .map(|path| {
                let stem = path.split('.').next().unwrap_or_default();
                serde_json::from_value(serde_json::json!({
                    "role": stem, "path": path, "size": 1, "sha256": "00",
                    "media_type": "application/octet-stream", "source": "https://c/x",
                }))
                .expect("an entry")
            })
            .collect();
        Manifest {
            schema_version: manifest::SCHEMA_VERSION,
            task_id: task_id.into(),
            task_type: None,
            create_time: None,
            fetched_at: "2026-11-28T17:34:05Z".into(),
            generator: "fetch-assets 0.0.0".into(),
            files,
        }
    }

    /// A manifest's task and files, or the error, in words.
    fn outcome(result: Result<Option<Manifest>>) -> String {
        match result {
            Ok(None) => "none".into(),
            Ok(Some(m)) => {
                let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
                format!("{}: {}", m.task_id, paths.join(" "))
            }
            Err(Error::OtherTask { found, wanted, .. }) => {
                format!("other task {found} (not {wanted})")
            }
            Err(other) => format!("error: {other:?}"),
        }
    }

    #[test]
    fn an_earlier_manifest_is_ours_only_for_this_task() {
        let dir = Path::new("out");
        let unreadable = || Err(Error::Usage("unreadable".into()));
        let table: [(Option<Result<Manifest>>, bool, &str); 7] = [
            (None, false, "none"),
            (
                Some(Ok(manifest("t1", &["model.glb"]))),
                false,
                "t1: model.glb",
            ),
            (
                Some(Ok(manifest("t1", &["model.glb"]))),
                true,
                "t1: model.glb",
            ),
            (
                Some(Ok(manifest("t2", &["model.glb"]))),
                false,
                "other task t2 (not t1)",
            ),
            (Some(Ok(manifest("t2", &["model.glb"]))), true, "none"),
            (Some(unreadable()), false, "error: Usage(\"unreadable\")"),
            (Some(unreadable()), true, "none"),
        ];
        for (found, force, expected) in table {
            let shown = format!(
                "{:?}",
                found.as_ref().map(|r| r.as_ref().map(|m| &m.task_id))
            );
            assert_eq!(
                outcome(previous_run(dir, found, "t1", force)),
                expected,
                "{shown} force={force}"
            );
        }
    }

    #[test]
    fn an_unfinished_commit_is_the_earlier_run_with_what_it_replaced() {
        let dir = Path::new("out");
        let commit = || manifest("t1", &["model.glb", "thumbnail.png"]);
        let table: [(Manifest, Option<Manifest>, bool, &str); 6] = [
            (commit(), None, false, "t1: model.glb thumbnail.png"),
            (
                commit(),
                Some(manifest("t1", &["model.glb", "base_model.glb"])),
                false,
                "t1: model.glb thumbnail.png base_model.glb",
            ),
            (
                commit(),
                Some(manifest("t9", &["base_model.glb"])),
                false,
                "t1: model.glb thumbnail.png",
            ),
            (
                manifest("t2", &["model.glb"]),
                None,
                false,
                "other task t2 (not t1)",
            ),
            (manifest("t2", &["model.glb"]), None, true, "none"),
            (
                commit(),
                Some(manifest("t1", &[])),
                true,
                "t1: model.glb thumbnail.png",
            ),
        ];
        for (commit, replaced, force, expected) in table {
            let about = format!(
                "{} {:?} force={force}",
                commit.task_id,
                replaced.as_ref().map(|m| m.files.len())
            );
            assert_eq!(
                outcome(finishing(dir, commit, || replaced, "t1", force)),
                expected,
                "{about}"
            );
        }
    }

    #[test]
    fn files_that_stand_unlisted_are_not_ours() {
        let listed = manifest("t1", &["model.glb"]);
        let names = || vec!["model.glb".to_owned(), "thumbnail.png".to_owned()];
        let table: [(Option<&Manifest>, &[&str], &[&str]); 5] = [
            (None, &[], &[]),
            (
                None,
                &["model.glb", "manifest.json"],
                &["model.glb", "manifest.json"],
            ),
            (
                Some(&listed),
                &["model.glb", "manifest.json", "SHA256SUMS"],
                &[],
            ),
            (
                Some(&listed),
                &["thumbnail.png", "notes.txt"],
                &["thumbnail.png"],
            ),
            (
                None,
                &["SHA256SUMS", "thumbnail.png"],
                &["thumbnail.png", "SHA256SUMS"],
            ),
        ];
        for (previous, standing, expected) in table {
            let found = not_ours(names(), previous, |name| standing.contains(&name));
            assert_eq!(
                found,
                expected,
                "{standing:?} with a manifest: {}",
                previous.is_some()
            );
        }
    }

    #[test]
    fn only_narrows_the_plan_and_says_what_is_missing() {
        let task = parse_task(
            serde_json::json!({
                "task_id": "t1", "status": "success",
                "output": {
                    "model": "https://c/m.glb", "pbr_model": "https://c/m.glb",
                    "rendered_image": "https://c/r.webp",
                },
            })
            .as_object()
            .expect("an object"),
            SystemTime::now(),
            TraceId::default(),
        )
        .expect("a task");
        let only = |names: &[&str]| -> Vec<RoleSelector> {
            names
                .iter()
                .map(|n| n.parse().expect("a selector"))
                .collect()
        };
        let chosen = |names: &[&str]| match select(assets::plan(&task.output), &only(names), &task)
        {
            Ok(assets) => assets
                .iter()
                .map(|a| {
                    let aliases: Vec<String> = a.aliases.iter().map(|r| r.stem()).collect();
                    format!(
                        "{}{}",
                        a.role.stem(),
                        if aliases.is_empty() {
                            String::new()
                        } else {
                            format!("+{}", aliases.join("+"))
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            Err(Error::RoleNotAvailable {
                missing, available, ..
            }) => {
                format!("missing {missing}; available {available}")
            }
            Err(other) => format!("error: {other:?}"),
        };
        let table: [(&[&str], &str); 5] = [
            (&[], "model+pbr_model rendered_image"),
            (&["pbr_model"], "pbr_model"),
            (&["model", "pbr_model"], "model+pbr_model"),
            (&["rendered_image", "model"], "model rendered_image"),
            (
                &["base_model", "multiview"],
                "missing base_model, multiview; available model, pbr_model, rendered_image",
            ),
        ];
        for (names, expected) in table {
            assert_eq!(chosen(names), expected, "--only {names:?}");
        }

        let empty = Task {
            output: serde_json::Map::new(),
            ..task.clone()
        };
        assert!(matches!(
            select(assets::plan(&empty.output), &[], &empty),
            Err(Error::NoOutputs { .. })
        ));
    }

    #[test]
    fn task_ids_are_checked() {
        assert!(check_task_id("916e2b2c-1a2b-4c3d-8e9f-0123456789ab").is_ok());
        for bad in ["", "../x", "a/b", "a?b", "a b", &"x".repeat(129)] {
            assert!(matches!(check_task_id(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
