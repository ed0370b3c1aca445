//! Ctrl-C and SIGTERM: a real signal to the real binary while a transfer is
//! in flight. The run exits 130, removes its temporary files, leaves no
//! partial file under a final name, and leaves the files and manifest of an
//! earlier complete run exactly as they were.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Background, fetch_assets, listing, sha256sum_accepts};
use fake_tripo::{FakeTripo, FileFault, Scenario};
use serde_json::json;

const TASK: &str = "3b1f6c2e-8d4a-4f0b-a1c9-7e2d5b6a8f90";
/// Large and slow: in flight for many seconds, so a signal always lands mid-transfer.
const BIG: usize = 40_000_000;
const SLOW: u64 = 2_000_000;

fn scenario(big_and_slow: bool) -> Scenario {
    let scenario = Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success", "input": {},
        "output": {"model_url": "cdn:model.glb", "rendered_image_url": "cdn:preview.webp"},
        "progress": 100, "create_time": 1_795_887_300,
    }}))
    .file_size("model.glb", BIG);
    if big_and_slow {
        scenario.fault(
            "model.glb",
            FileFault {
                throttle: Some(SLOW),
                ..FileFault::default()
            },
        )
    } else {
        scenario
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".fetch-assets-") && n.ends_with(".part"))
        .collect()
}

/// Waits until the big file is streaming into a temporary file in `dir`.
fn wait_until_in_flight(fake: &FakeTripo, dir: &Path, run: &mut Background) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.stats().bytes_sent_for("model.glb") < 200_000 || temp_files(dir).is_empty() {
        assert!(run.is_running(), "the run ended early: {}", run.stderr());
        assert!(
            Instant::now() < deadline,
            "the transfer never got going: {}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Each file's name and content, the manifest and sums included.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    listing(dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).expect("readable");
            (name, bytes)
        })
        .collect()
}

#[test]
fn a_signal_mid_transfer_exits_130_and_leaves_nothing_behind() {
    for signal in ["INT", "TERM"] {
        let fake = FakeTripo::start(scenario(true));
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        let mut run = Background::start(&fake, &[TASK], &out);
        wait_until_in_flight(&fake, &out, &mut run);
        let sent = Instant::now();
        run.signal(signal);
        let status = run.exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(130), "SIG{signal}: {}", run.stderr());
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "SIG{signal}: stopped promptly"
        );
        assert!(
            run.stderr().contains("interrupted"),
            "SIG{signal}: {}",
            run.stderr()
        );
        assert!(
            fake.stats().bytes_sent_for("model.glb") < BIG as u64,
            "SIG{signal}: the signal landed mid-transfer"
        );
        assert_eq!(
            listing(&out),
            Vec::<String>::new(),
            "SIG{signal}: no temporary file, no partial file under a final name"
        );
    }
}

#[test]
fn a_forced_rerun_interrupted_leaves_the_earlier_complete_run_intact() {
    for signal in ["INT", "TERM"] {
        let out = tempfile::tempdir().expect("tempdir");
        // The same task and the same bytes, served fast, then slow.
        let fast = FakeTripo::start(scenario(false));
        fetch_assets(&fast, &fast.v3_base())
            .arg(TASK)
            .arg(out.path())
            .assert()
            .success();
        let before = snapshot(out.path());
        assert_eq!(
            before.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            [
                "SHA256SUMS",
                "manifest.json",
                "model.glb",
                "rendered_image.webp"
            ]
        );

        let slow = FakeTripo::start(scenario(true));
        let mut run = Background::start(&slow, &["--force", TASK], out.path());
        wait_until_in_flight(&slow, out.path(), &mut run);
        run.signal(signal);
        let status = run.exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(130), "SIG{signal}: {}", run.stderr());
        assert!(
            snapshot(out.path()) == before,
            "SIG{signal}: the earlier files and manifest are exactly as they were: {:?}",
            listing(out.path())
        );
        assert!(sha256sum_accepts(out.path()), "SIG{signal}");
    }
}

#[test]
fn two_signals_in_a_row_still_exit_130_at_once() {
    let fake = FakeTripo::start(scenario(true));
    let out = tempfile::tempdir().expect("tempdir");
    let mut run = Background::start(&fake, &[TASK], out.path());
    wait_until_in_flight(&fake, out.path(), &mut run);
    let sent = Instant::now();
    run.signal("INT");
    run.signal("INT");
    let status = run.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", run.stderr());
    assert!(sent.elapsed() < Duration::from_secs(5), "at once");
    assert!(
        listing(out.path())
            .iter()
            .all(|n| n.starts_with(".fetch-assets-")),
        "whichever signal ended it, no file under a final name: {:?}",
        listing(out.path())
    );
    // A second signal may cut the cleanup short; the next run tidies up.
    let fast = FakeTripo::start(scenario(false));
    fetch_assets(&fast, &fast.v3_base())
        .arg(TASK)
        .arg(out.path())
        .assert()
        .success();
    assert!(temp_files(out.path()).is_empty());
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn a_killed_run_s_temporary_file_is_removed_by_the_next_run() {
    // SIGKILL cannot be caught: the temporary file stays, hidden, until the
    // next run into the folder, which alone holds it then.
    let fake = FakeTripo::start(scenario(true));
    let out = tempfile::tempdir().expect("tempdir");
    let mut run = Background::start(&fake, &[TASK], out.path());
    wait_until_in_flight(&fake, out.path(), &mut run);
    run.signal("KILL");
    run.exit(Duration::from_secs(10));
    let stale = temp_files(out.path());
    assert!(!stale.is_empty(), "the killed run left its temporary file");
    assert!(
        listing(out.path()).iter().all(|n| stale.contains(n)),
        "and nothing under a final name"
    );

    let fast = FakeTripo::start(scenario(false));
    fetch_assets(&fast, &fast.v3_base())
        .arg(TASK)
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(
        listing(out.path()),
        [
            "SHA256SUMS",
            "manifest.json",
            "model.glb",
            "rendered_image.webp"
        ]
    );
    assert!(sha256sum_accepts(out.path()));
}
