//! Runs that carry on: what a run received before it was interrupted or
//! failed is kept in `OUT_DIR/.fetch-assets/`, and the same command then
//! reuses complete files with no request and resumes partial ones with
//! `Range` + `If-Range`, never mixing two versions of a file. Bytes are
//! counted on the fake CDN's side.

// The Ctrl-C tests are Unix's (SIGINT by `kill`); what only they use is
// idle elsewhere.
#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Background, fetch_assets, listing, sha256sum_accepts, staged, staged_files};
use fake_tripo::{FakeTripo, FileFault, Scenario, Validators};
use serde_json::json;
use sha2::{Digest, Sha256};

const TASK: &str = "7d2e4f6a-1b3c-4d5e-8f9a-0b1c2d3e4f5a";
const MIB: usize = 1 << 20;
/// The big file: 16 MiB, paced so that half of it takes about a second.
const BIG: usize = 16 * MIB;
const PACE: u64 = 8 << 20;

fn task(files: &[(&str, &str)]) -> Scenario {
    let output: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|(field, file)| ((*field).to_owned(), json!(format!("cdn:{file}"))))
        .collect();
    Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success", "input": {},
        "output": output, "progress": 100, "create_time": 1_795_887_300,
    }}))
}

/// One big, paced model, with `fault` added.
fn big_model(fault: FileFault) -> Scenario {
    task(&[("model_url", "model.glb")])
        .file_size("model.glb", BIG)
        .fault(
            "model.glb",
            FileFault {
                throttle: Some(PACE),
                ..fault
            },
        )
}

// Unix only: Ctrl-C is SIGINT sent with `kill`.
#[cfg(unix)]
/// Starts the command and interrupts it (SIGINT) once the CDN has sent
/// half of the model; gives what the CDN had sent by the time it exited.
fn interrupt_at_half(fake: &FakeTripo, out: &Path) -> u64 {
    // One stream: these tests pin its prefix; parts carry on in `parts::`.
    let mut run = Background::start(fake, &["--connections", "1", TASK], out);
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.stats().bytes_sent_for("model.glb") < (BIG / 2) as u64 {
        assert!(run.is_running(), "the run ended early: {}", run.stderr());
        assert!(
            Instant::now() < deadline,
            "never got to half: {}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    run.signal("INT");
    let status = run.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", run.stderr());
    assert_eq!(listing(out), [".fetch-assets"], "only what arrived is kept");
    assert_eq!(staged_files(out), ["model"]);
    let sent = fake.stats().bytes_sent_for("model.glb");
    assert!(sent < BIG as u64, "interrupted before the end");
    sent
}

fn run_again(fake: &FakeTripo, out: &Path) {
    fetch_assets(fake, &fake.v3_base())
        .args(["--connections", "1", TASK])
        .arg(out)
        .assert()
        .success();
    assert!(sha256sum_accepts(out));
    assert_eq!(
        listing(out),
        ["SHA256SUMS", "manifest.json", "model.glb"],
        "a run that succeeds leaves no .fetch-assets"
    );
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

// Unix only: Ctrl-C is SIGINT sent with `kill`.
#[cfg(unix)]
#[test]
fn ctrl_c_at_half_then_the_same_command_receives_only_the_missing_half() {
    // Whichever validators the CDN sends, one is good for If-Range (a weak
    // ETag is not: then Last-Modified is used).
    for validators in [
        Validators::Both,
        Validators::ETag,
        Validators::LastModified,
        Validators::WeakETag,
    ] {
        carry_on_after_ctrl_c(validators);
    }
}

// Unix only: Ctrl-C is SIGINT sent with `kill`.
#[cfg(unix)]
fn carry_on_after_ctrl_c(validators: Validators) {
    let fake = FakeTripo::start(big_model(FileFault::default()).validators(validators));
    let out = tempfile::tempdir().expect("tempdir");
    let first = interrupt_at_half(&fake, out.path());
    let kept = std::fs::metadata(out.path().join(".fetch-assets/model.part"))
        .expect("the model's bytes are kept")
        .len();
    assert!(kept > 0 && kept <= first, "kept {kept} of {first} sent");

    run_again(&fake, out.path());

    let stats = fake.stats();
    let second = stats.bytes_sent_for("model.glb") - first;
    println!(
        "carry on after Ctrl-C ({validators:?}): first run sent {first} bytes, {kept} kept; second run sent {second} of {BIG}"
    );
    // What was in flight when the signal came (sent, not yet written) is
    // the only loss. How much was in flight depends on the machine's load
    // (a busy one leaves more in the socket's buffers), so the check is on
    // what was kept, not on exactly half.
    assert!(
        kept >= (BIG / 4) as u64,
        "{validators:?}: interrupted past half, yet only {kept} kept"
    );
    assert!(
        second <= BIG as u64 - kept + MIB as u64,
        "{validators:?}: the second run received {second} bytes; {kept} were kept"
    );
    let resumed = stats
        .cdn_requests
        .iter()
        .rfind(|r| r.file == "model.glb")
        .expect("a request");
    assert_eq!(resumed.status, 206);
    assert_eq!(resumed.range.as_deref(), Some(&*format!("bytes={kept}-")));
    assert!(resumed.if_range.is_some(), "If-Range names the version");
    assert!(
        std::fs::read(out.path().join("model.glb")).expect("model") == fake.file_bytes("model.glb")
    );
}

// Unix only: Ctrl-C is SIGINT sent with `kill`.
#[cfg(unix)]
#[test]
fn a_file_that_changes_version_between_runs_comes_whole_in_its_new_version() {
    // The CDN honours If-Range (a 200 with the new version), or ignores it
    // and sends a 206 of the new version (told by its ETag, or by its
    // Last-Modified when it sends no ETag).
    for (ignore_if_range, validators) in [
        (false, Validators::Both),
        (true, Validators::Both),
        (true, Validators::LastModified),
    ] {
        let case = format!("ignore If-Range: {ignore_if_range}, {validators:?}");
        let fake = FakeTripo::start(
            big_model(FileFault {
                new_version_after: Some(1),
                ignore_if_range,
                ..FileFault::default()
            })
            .validators(validators),
        );
        let out = tempfile::tempdir().expect("tempdir");
        interrupt_at_half(&fake, out.path());

        run_again(&fake, out.path());

        let new = fake.file_version_bytes("model.glb", 1);
        let got = std::fs::read(out.path().join("model.glb")).expect("model");
        assert!(got == new, "{case}: the new version, whole, never a mix");
        let manifest = common::manifest(out.path());
        assert_eq!(manifest["files"][0]["sha256"], sha256(&new), "{case}");
    }
}

#[test]
fn a_file_that_changes_version_mid_run_is_started_over_not_mixed() {
    // Cut at a quarter; the resume finds a new version: the whole file is
    // fetched again, whichever way the CDN answers the If-Range.
    for ignore_if_range in [false, true] {
        let fake = FakeTripo::start(
            task(&[("model_url", "model.glb")])
                .file_size("model.glb", 4 * MIB)
                .fault(
                    "model.glb",
                    FileFault {
                        cut_after: Some(MIB as u64),
                        new_version_after: Some(1),
                        ignore_if_range,
                        ..FileFault::default()
                    },
                ),
        );
        let out = tempfile::tempdir().expect("tempdir");
        run_again(&fake, out.path());
        let got = std::fs::read(out.path().join("model.glb")).expect("model");
        assert!(
            got == fake.file_version_bytes("model.glb", 1),
            "ignore If-Range: {ignore_if_range}: the new version, whole"
        );
    }
}

// Unix only: Ctrl-C is SIGINT sent with `kill`.
#[cfg(unix)]
#[test]
fn without_a_validator_a_kept_part_is_not_trusted_and_the_file_starts_over() {
    // Nothing If-Range may carry (no validator, or a weak ETag alone):
    // asking for the rest could join two versions, so the file is fetched
    // whole again.
    for validators in [Validators::None, Validators::WeakETagOnly] {
        starts_over_after_ctrl_c(validators);
    }
}

// Unix only: Ctrl-C is SIGINT sent with `kill`.
#[cfg(unix)]
fn starts_over_after_ctrl_c(validators: Validators) {
    let fake = FakeTripo::start(big_model(FileFault::default()).validators(validators));
    let out = tempfile::tempdir().expect("tempdir");
    let first = interrupt_at_half(&fake, out.path());

    run_again(&fake, out.path());

    let stats = fake.stats();
    assert_eq!(
        stats.bytes_sent_for("model.glb") - first,
        BIG as u64,
        "{validators:?}"
    );
    assert!(
        stats.cdn_requests.iter().all(|r| r.range.is_none()),
        "{validators:?}: no Range sent"
    );
    assert!(
        std::fs::read(out.path().join("model.glb")).expect("model") == fake.file_bytes("model.glb")
    );
}

#[test]
fn a_file_that_fails_keeps_the_others_and_the_rerun_asks_only_for_it() {
    let files = [
        ("model_url", "model.glb"),
        ("base_model_url", "base_model.glb"),
        ("rendered_image_url", "rendered_image.webp"),
    ];
    let failing = FakeTripo::start(task(&files).fault(
        "model.glb",
        FileFault {
            refuse_always: true,
            ..FileFault::default()
        },
    ));
    let out = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&failing, &failing.v3_base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    assert_eq!(
        run.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(listing(out.path()), [".fetch-assets"]);
    assert_eq!(staged_files(out.path()), ["base_model", "rendered_image"]);

    // The same command once the CDN serves the model again.
    let fixed = FakeTripo::start(task(&files));
    let rerun = fetch_assets(&fixed, &fixed.v3_base())
        .arg(TASK)
        .arg(out.path())
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{said}");
    for kept in ["base_model.glb", "rendered_image.webp"] {
        assert!(
            said.contains(&format!(
                "kept 1 file already complete and verified: {kept}"
            )),
            "{said}"
        );
    }
    let stats = fixed.stats();
    assert_eq!(stats.requests_for("model.glb"), 1);
    assert_eq!(
        stats.requests_for("base_model.glb"),
        0,
        "kept, not asked for"
    );
    assert_eq!(
        stats.requests_for("rendered_image.webp"),
        0,
        "kept, not asked for"
    );
    assert!(sha256sum_accepts(out.path()));
    assert_eq!(
        listing(out.path()),
        [
            "SHA256SUMS",
            "base_model.glb",
            "manifest.json",
            "model.glb",
            "rendered_image.webp"
        ]
    );
    for (_, file) in files {
        assert!(
            std::fs::read(out.path().join(file)).expect("file") == fixed.file_bytes(file),
            "{file}"
        );
    }
}

#[test]
fn a_kept_file_changed_on_disk_is_fetched_again() {
    let files = [
        ("model_url", "model.glb"),
        ("rendered_image_url", "rendered_image.webp"),
    ];
    let failing = FakeTripo::start(task(&files).fault("model.glb", FileFault::status(404, None)));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&failing, &failing.v3_base())
        .arg(TASK)
        .arg(out.path())
        .assert()
        .code(5);
    assert_eq!(
        staged(out.path()),
        ["rendered_image.part", "rendered_image.part.json"]
    );
    let kept = out.path().join(".fetch-assets/rendered_image.part");
    let mut bytes = std::fs::read(&kept).expect("kept");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&kept, bytes).expect("change it");

    let fixed = FakeTripo::start(task(&files));
    fetch_assets(&fixed, &fixed.v3_base())
        .arg(TASK)
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(
        fixed.stats().requests_for("rendered_image.webp"),
        1,
        "fetched again"
    );
    assert!(sha256sum_accepts(out.path()));
    assert!(
        std::fs::read(out.path().join("rendered_image.webp")).expect("image")
            == fixed.file_bytes("rendered_image.webp")
    );
}
