//! Ctrl-C and SIGTERM: a real signal to the real binary while a transfer is
//! in flight. The run exits 130, leaves no partial file under a final name,
//! keeps what arrived in `.fetch-assets/` (and nothing else), and leaves the
//! files and manifest of an earlier complete run exactly as they were.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Background, fetch_assets, listing, sha256sum_accepts, staged, staged_files};
use fake_tripo::{FakeTripo, FileFault, Scenario};
use serde_json::json;

const TASK: &str = "3b1f6c2e-8d4a-4f0b-a1c9-7e2d5b6a8f90";
/// Large and slow: in flight for many seconds, so a signal always lands mid-transfer.
const BIG: usize = 40_000_000;
const SLOW: u64 = 2_000_000;
/// What a complete run leaves.
const FILES: [&str; 4] = [
    "SHA256SUMS",
    "manifest.json",
    "model.glb",
    "rendered_image.webp",
];

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

/// Waits until the big file is streaming into `.fetch-assets/` in `dir`.
fn wait_until_in_flight(fake: &FakeTripo, dir: &Path, run: &mut Background) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.stats().bytes_sent_for("model.glb") < 200_000
        || !staged(dir).contains(&"model.part".to_owned())
    {
        assert!(run.is_running(), "the run ended early: {}", run.stderr());
        assert!(
            Instant::now() < deadline,
            "the transfer never got going: {}",
            run.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Each file's name and content, the manifest and sums included (what a
/// run keeps in `.fetch-assets/` left out).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    listing(dir)
        .into_iter()
        .filter(|name| name != ".fetch-assets")
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).expect("readable");
            (name, bytes)
        })
        .collect()
}

#[test]
fn a_signal_mid_transfer_exits_130_and_keeps_only_what_arrived() {
    for signal in ["INT", "TERM"] {
        let fake = FakeTripo::start(scenario(true));
        let root = tempfile::tempdir().expect("tempdir");
        let out = root.path().join("out");
        let mut run = Background::start(&fake, &[TASK], &out);
        wait_until_in_flight(&fake, &out, &mut run);
        run.signal(signal);
        let status = run.exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(130), "SIG{signal}: {}", run.stderr());
        assert!(
            run.stderr().contains("interrupted"),
            "SIG{signal}: {}",
            run.stderr()
        );
        assert!(
            fake.stats().bytes_sent_for("model.glb") < BIG as u64,
            "SIG{signal}: it stopped at once, mid-transfer, not at the end of it"
        );
        assert_eq!(
            listing(&out),
            [".fetch-assets"],
            "SIG{signal}: no partial file under a final name, nothing else"
        );
        assert!(
            staged_files(&out).contains(&"model".to_owned()),
            "SIG{signal}: what arrived of the model is kept: {:?}",
            staged(&out)
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
            FILES
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
        assert_eq!(
            listing(out.path()).len(),
            before.len() + 1,
            "SIG{signal}: and beside them only .fetch-assets"
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
    run.signal("INT");
    run.signal("INT");
    let status = run.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{}", run.stderr());
    assert!(
        fake.stats().bytes_sent_for("model.glb") < BIG as u64,
        "it stopped at once, mid-transfer, not at the end of it"
    );
    assert_eq!(
        listing(out.path()),
        [".fetch-assets"],
        "whichever signal ended it, no file under a final name"
    );
    // A second signal may cut the writing short; the next run carries on.
    let fast = FakeTripo::start(scenario(false));
    fetch_assets(&fast, &fast.v3_base())
        .arg(TASK)
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(listing(out.path()), FILES, "nothing else is left");
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn a_killed_run_s_staged_file_is_carried_on_by_the_next_run() {
    // SIGKILL cannot be caught: what arrived stays in .fetch-assets/, and
    // the next run into the folder carries on from it, then removes it.
    let fake = FakeTripo::start(scenario(true));
    let out = tempfile::tempdir().expect("tempdir");
    // One stream: this test pins its prefix; parts carry on in `parts::`.
    let mut run = Background::start(&fake, &["--connections", "1", TASK], out.path());
    wait_until_in_flight(&fake, out.path(), &mut run);
    run.signal("KILL");
    run.exit(Duration::from_secs(10));
    assert!(
        staged_files(out.path()).contains(&"model".to_owned()),
        "the killed run left what arrived: {:?}",
        staged(out.path())
    );
    assert_eq!(
        listing(out.path()),
        [".fetch-assets"],
        "and nothing under a final name"
    );

    let kept = std::fs::metadata(out.path().join(".fetch-assets/model.part"))
        .expect("kept")
        .len();
    let fast = FakeTripo::start(scenario(false));
    fetch_assets(&fast, &fast.v3_base())
        .args(["--connections", "1", TASK])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(listing(out.path()), FILES);
    assert!(sha256sum_accepts(out.path()));
    assert_eq!(
        fast.stats().bytes_sent_for("model.glb"),
        BIG as u64 - kept,
        "only what the killed run had not received"
    );
}
