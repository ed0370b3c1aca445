//! fetch-assets as a step of a build pipeline: re-runs, selected outputs,
//! JSON, concurrency, and the library API without the binary.

use crate::common;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    fetch_assets, fetch_into, listing, manifest, manifest_paths, sha256sum_accepts, verify,
    verify_passes,
};
use fake_tripo::{FakeTripo, Scenario};
use fetch_assets::{Client, Error, Event, FetchOptions, FileCheck, RoleSelector, TaskStatus};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use sha2::Digest;

fn client(fake: &FakeTripo) -> Client {
    common::client(fake, &fake.v2_base(), Default::default())
}

#[test]
fn a_second_run_on_a_complete_folder_downloads_nothing() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success();
    let first = std::fs::read(out.path().join("manifest.json")).expect("manifest");
    let file_requests = fake.stats().cdn_requests.len();

    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success()
        .stderr(contains("already complete"));
    assert_eq!(
        fake.stats().cdn_requests.len(),
        file_requests,
        "no file request"
    );
    assert_eq!(
        std::fs::read(out.path().join("manifest.json")).expect("manifest"),
        first,
        "manifest untouched"
    );
}

#[test]
fn a_corrupted_or_missing_file_is_fetched_again_and_the_rest_kept() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success();
    std::fs::write(out.path().join("model.glb"), b"not a model").expect("corrupt");
    std::fs::remove_file(out.path().join("multiview_2_back.png")).expect("remove");
    verify(out.path()).assert().code(1);

    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success();
    let stats = fake.stats();
    assert_eq!(stats.requests_for("model.glb"), 2);
    assert_eq!(stats.requests_for("back.png"), 2);
    assert_eq!(
        stats.requests_for("pbr_model.glb"),
        1,
        "verified files are kept"
    );
    assert!(sha256sum_accepts(out.path()));
    assert_eq!(manifest_paths(out.path()).len(), 10);
    assert!(verify_passes(out.path()));
}

#[test]
fn a_rerun_keeps_what_a_later_version_listed_and_writes_it_back_unchanged() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success();
    // What a later version might list: a role, a view and an alias (on a
    // file this run keeps) this version does not know.
    let mut later = manifest(out.path());
    let files = later["files"].as_array_mut().expect("files");
    assert_eq!(files[1]["path"], "base_model.glb");
    files[1]["aliases"] = serde_json::json!(["gaussian_0"]);
    for (role, view, path, content) in [
        ("splat_v2", None, "splat_v2.ply", &b"splat"[..]),
        ("multiview", Some("top"), "multiview_4_top.png", b"top view"),
    ] {
        std::fs::write(out.path().join(path), content).expect("write");
        let mut entry = serde_json::json!({
            "role": role, "path": path, "size": content.len(),
            "sha256": format!("{:x}", sha2::Sha256::digest(content)),
            "media_type": "application/octet-stream", "source": "https://cdn.example/x",
        });
        match view {
            Some(view) => {
                entry["view"] = view.into();
                entry["index"] = 4.into();
            }
            None => entry["field"] = "splat_url".into(),
        }
        files.push(entry);
    }
    let text = serde_json::to_string_pretty(&later).expect("json");
    std::fs::write(out.path().join("manifest.json"), text).expect("write the manifest");
    std::fs::remove_file(out.path().join("model.glb")).expect("remove");

    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success();
    assert_eq!(
        fake.stats().requests_for("model.glb"),
        2,
        "only the missing file"
    );
    assert_eq!(fake.stats().requests_for("pbr_model.glb"), 1);
    let mut written = manifest(out.path());
    written["fetched_at"] = later["fetched_at"].clone();
    assert_eq!(
        written, later,
        "every entry kept, unknown ones last, as written"
    );
    assert!(sha256sum_accepts(out.path()));
    assert!(verify_passes(out.path()));
}

#[test]
fn force_downloads_everything_again() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    fetch_assets(&fake, &fake.v3_base())
        .args(["--force", fake.task_id()])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(fake.stats().requests_for("model.glb"), 2);
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn another_tasks_folder_is_refused_unless_forced_and_unrelated_files_stay() {
    let other = FakeTripo::start(Scenario::new("v3_bare_task").task_id("other-task"));
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::write(out.path().join("notes.txt"), b"mine").expect("write");
    fetch_assets(&other, &other.v3_base())
        .arg("other-task")
        .arg(out.path())
        .assert()
        .success();

    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(2)
        .stderr(contains("holds the files of task other-task").and(contains("--force")));
    assert_eq!(
        fake.stats().task_requests,
        0,
        "refused before asking the API"
    );

    fetch_assets(&fake, &fake.v3_base())
        .args(["--force", fake.task_id()])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(manifest(out.path())["task_id"], fake.task_id());
    assert_eq!(
        std::fs::read(out.path().join("notes.txt")).expect("notes"),
        b"mine"
    );
}

#[test]
fn a_manifest_json_that_is_not_ours_is_not_overwritten() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        out.path().join("manifest.json"),
        br#"{"name": "my package"}"#,
    )
    .expect("write");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(2)
        .stderr(contains("not the manifest of a complete fetch-assets run"));
    assert_eq!(
        std::fs::read(out.path().join("manifest.json")).expect("manifest"),
        br#"{"name": "my package"}"#
    );
}

#[test]
fn only_some_outputs_with_json_for_a_script() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    let assert = fetch_assets(&fake, &fake.v2_base())
        .args([
            "--only",
            "model,pbr_model",
            "--json",
            "--quiet",
            fake.task_id(),
        ])
        .arg(out.path())
        .assert()
        .success()
        .stderr("");
    assert_eq!(
        listing(out.path()),
        ["SHA256SUMS", "manifest.json", "model.glb", "pbr_model.glb"]
    );
    let stdout = assert.get_output().stdout.clone();
    let jq = std::process::Command::new("jq")
        .args(["-r", ".files[].path"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut jq) = jq {
        use std::io::Write;
        jq.stdin
            .take()
            .expect("stdin")
            .write_all(&stdout)
            .expect("write to jq");
        let read = jq.wait_with_output().expect("jq runs");
        assert!(read.status.success());
        assert_eq!(
            String::from_utf8_lossy(&read.stdout),
            "model.glb\npbr_model.glb\n"
        );
    } else {
        eprintln!("jq is not installed: checking the JSON with serde_json only");
    }
    let printed: serde_json::Value = serde_json::from_slice(&stdout).expect("JSON on stdout");
    assert_eq!(printed, manifest(out.path()));
    assert_eq!(fake.stats().cdn_requests.len(), 2);
}

#[test]
fn only_a_role_the_task_lacks_lists_the_ones_it_has() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&fake, &fake.v3_base())
        .args(["--only", "multiview", fake.task_id()])
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(
            contains("has no multiview output").and(contains("model, pbr_model, rendered_image")),
        );
    assert!(listing(out.path()).is_empty());
}

#[test]
fn only_the_alias_role_gets_its_own_name() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&fake, &fake.v3_base())
        .args(["--only", "pbr_model", fake.task_id()])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(manifest_paths(out.path()), ["pbr_model.glb"]);
    // A later full run keeps it and adds the rest.
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert_eq!(
        manifest_paths(out.path()),
        ["model.glb", "pbr_model.glb", "rendered_image.webp"]
    );
    assert!(sha256sum_accepts(out.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_fetches_reports_events_and_verifies() {
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs").phase("running", Duration::from_millis(200)),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let options = FetchOptions::default().observer(move |event: &Event| {
        let name = match event {
            Event::TaskPolled { .. } => "polled",
            Event::Planned { .. } => "planned",
            Event::FileComplete { .. } => "complete",
            Event::FileDone { .. } => "done",
            Event::ManifestWritten { .. } => "manifest",
            _ => return,
        };
        log.lock().expect("log").push(name);
    });
    let manifest = client(&fake)
        .fetch(fake.task_id(), out.path(), &options)
        .await
        .expect("fetch");
    assert_eq!(manifest.files.len(), 10);
    assert_eq!(
        manifest,
        fetch_assets::Manifest::read(out.path()).expect("the manifest on disk")
    );
    let seen = seen.lock().expect("log").clone();
    assert_eq!(seen.first(), Some(&"polled"));
    assert_eq!(seen.iter().filter(|e| **e == "complete").count(), 10);
    assert_eq!(seen.iter().filter(|e| **e == "done").count(), 10);
    let last_complete = seen.iter().rposition(|e| *e == "complete");
    let first_done = seen.iter().position(|e| *e == "done");
    assert!(
        last_complete < first_done,
        "no file is said to be in place before every file has arrived: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&"manifest"));

    let report = fetch_assets::verify(out.path()).await.expect("verify");
    assert!(report.is_ok());
    std::fs::write(out.path().join("base_model.glb"), b"x").expect("corrupt");
    let report = fetch_assets::verify(out.path()).await.expect("verify");
    assert_eq!(
        report.files[1],
        (
            "base_model.glb".to_owned(),
            FileCheck::SizeDiffers {
                expected: fake.file_len("base_model.glb"),
                actual: 1
            }
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_errors_are_typed() {
    let fake = FakeTripo::start(Scenario::new("banned"));
    let out = tempfile::tempdir().expect("tempdir");
    let error = client(&fake)
        .fetch(fake.task_id(), out.path(), &FetchOptions::default())
        .await
        .expect_err("a banned task");
    assert!(
        matches!(&error, Error::TaskEnded { status, .. } if *status == TaskStatus::Banned),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 6);

    let error = client(&fake)
        .fetch("no-such-task", out.path(), &FetchOptions::default())
        .await
        .expect_err("unknown task");
    assert!(matches!(error, Error::TaskNotFound { .. }), "{error:?}");

    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let only: RoleSelector = "multiview".parse().expect("a role");
    let error = client(&fake)
        .fetch(
            fake.task_id(),
            out.path(),
            &FetchOptions::default().only([only]),
        )
        .await
        .expect_err("no multiview");
    assert!(matches!(error, Error::RoleNotAvailable { .. }), "{error:?}");
}

/// An observer that records the most transfers running at once.
fn peak_transfers() -> (Arc<AtomicUsize>, impl Fn(&Event) + Send + Sync + 'static) {
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = peak.clone();
    let observer = move |event: &Event| match event {
        Event::TransferStarted { offset: 0, .. } => {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            seen.fetch_max(now, Ordering::SeqCst);
        }
        Event::FileComplete { .. } => {
            running.fetch_sub(1, Ordering::SeqCst);
        }
        _ => {}
    };
    (peak, observer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_caps_transfers_at_once() {
    // Every file takes half a second, so however slow the machine is to
    // start ten transfers, none ends before the last one starts.
    let scenario = [
        "generated_image.webp",
        "rendered_image.webp",
        "front.png",
        "left.png",
        "back.png",
        "right.png",
        "thumbnail.webp",
    ]
    .into_iter()
    .fold(Scenario::new("v2_all_outputs"), |scenario, image| {
        scenario.file_size(image, 200_000)
    });
    let fake = FakeTripo::start(scenario.throttle(400_000));
    let capped = tempfile::tempdir().expect("tempdir");
    let (peak, observer) = peak_transfers();
    let options = FetchOptions::default()
        .concurrency(NonZeroUsize::new(2).expect("two"))
        .observer(observer);
    client(&fake)
        .fetch(fake.task_id(), capped.path(), &options)
        .await
        .expect("fetch");
    assert_eq!(peak.load(Ordering::SeqCst), 2);

    let all = tempfile::tempdir().expect("tempdir");
    let (peak, observer) = peak_transfers();
    let options = FetchOptions::default().observer(observer);
    client(&fake)
        .fetch(fake.task_id(), all.path(), &options)
        .await
        .expect("fetch");
    assert_eq!(
        peak.load(Ordering::SeqCst),
        10,
        "by default every file at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_fetch_leaves_nothing_under_a_final_name() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs").throttle(100_000));
    let out = tempfile::tempdir().expect("tempdir");
    let started = Arc::new(tokio::sync::Notify::new());
    let signal = started.clone();
    let options = FetchOptions::default().observer(move |event: &Event| {
        if let Event::TransferProgress { .. } = event {
            signal.notify_one();
        }
    });
    let client = client(&fake);
    let fetch = client.fetch(fake.task_id(), out.path(), &options);
    tokio::select! {
        _ = fetch => panic!("the throttled fetch should still be running"),
        () = started.notified() => {}
    }
    // `fetch` is dropped here, mid-transfer: what arrived stays staged.
    assert_eq!(listing(out.path()), [".fetch-assets"]);
}

/// An observer draws a file's bar from the progress event alone: it carries
/// the bytes so far and the size, and ends at the file's length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_events_carry_what_arrived_so_far_and_the_size() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let options = FetchOptions::default().observer(move |event: &Event| {
        if let Event::TransferProgress {
            file,
            bytes,
            received,
            size,
            ..
        } = event
        {
            log.lock()
                .expect("log")
                .push((file.to_string(), *bytes, *received, *size));
        }
    });
    let manifest = client(&fake)
        .fetch(fake.task_id(), out.path(), &options)
        .await
        .expect("fetch");
    let seen = seen.lock().expect("log").clone();
    let model = manifest
        .files
        .iter()
        .find(|f| f.path == "model.glb")
        .expect("the model");
    let of_model: Vec<_> = seen.iter().filter(|(file, ..)| file == "model").collect();
    assert!(!of_model.is_empty());
    let mut sum = 0;
    for (_, bytes, received, size) in &of_model {
        sum += bytes;
        assert_eq!(*received, sum, "received is the running total");
        assert_eq!(*size, Some(model.size));
    }
    assert_eq!(sum, model.size, "it ends at the file's length");
}
