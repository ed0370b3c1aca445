//! Two runs into one folder at once: the second waits for the first (and
//! says so), then finds the folder complete and downloads nothing. Every
//! file is fetched once; no lock file or temporary file stays behind.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Background, listing, manifest, sha256sum_accepts, staged, wait_for};
use fake_tripo::{FakeTripo, FileFault, Scenario};
use fetch_assets::{Client, Event, FetchOptions};
use serde_json::json;

const TASK: &str = "5c7e9a1b-2d4f-4e6a-8b0c-1d3e5f7a9b2c";
const FILES: [&str; 4] = [
    "SHA256SUMS",
    "manifest.json",
    "model.glb",
    "rendered_image.webp",
];

/// A task whose model takes about `seconds` to stream.
fn scenario(seconds: u64) -> Scenario {
    Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success", "input": {},
        "output": {"model_url": "cdn:model.glb", "rendered_image_url": "cdn:preview.webp"},
        "progress": 100, "create_time": 1_795_887_300,
    }}))
    .file_size("model.glb", 1_000_000)
    .fault(
        "model.glb",
        FileFault {
            throttle: Some(1_000_000 / seconds),
            ..FileFault::default()
        },
    )
}

/// True once the run has begun receiving a file.
fn has_temp_file(dir: &Path) -> bool {
    staged(dir).iter().any(|n| n.ends_with(".part"))
}

#[test]
fn two_processes_on_one_folder_fetch_each_file_once() {
    let fake = FakeTripo::start(scenario(3));
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("out");

    let mut first = Background::start(&fake, &[TASK], &out);
    wait_for("the first run streams", Duration::from_secs(20), || {
        has_temp_file(&out)
    });
    let mut second = Background::start(&fake, &[TASK], &out);
    let dir_shown = out.display().to_string();
    wait_for("the second says it waits", Duration::from_secs(20), || {
        let said = second.stderr();
        said.contains(&dir_shown) && said.to_lowercase().contains("wait")
    });
    assert!(
        first.is_running(),
        "the second waited while the first was still at work"
    );

    let (a, b) = (
        first.exit(Duration::from_secs(30)),
        second.exit(Duration::from_secs(30)),
    );
    assert!(a.success(), "first: {}", first.stderr());
    assert!(b.success(), "second: {}", second.stderr());
    assert!(
        second.stderr().contains("kept"),
        "the second found the folder complete: {}",
        second.stderr()
    );

    let stats = fake.stats();
    assert_eq!(stats.requests_for("model.glb"), 1, "the model once");
    assert_eq!(stats.requests_for("preview.webp"), 1, "the image once");
    assert_eq!(listing(&out), FILES, "no lock file, no temporary file");
    assert!(sha256sum_accepts(&out));
    assert_eq!(manifest(&out)["task_id"], TASK);
}

#[test]
fn a_run_waiting_for_the_folder_can_be_interrupted_and_the_other_goes_on() {
    // The first streams for five seconds: the waiter's exit is checked to
    // come before the first's (it does not wait for the lock to end), which
    // is the order a user notices, whatever the machine's load.
    let fake = FakeTripo::start(scenario(5));
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("out");
    let mut first = Background::start(&fake, &[TASK], &out);
    wait_for("the first run streams", Duration::from_secs(20), || {
        has_temp_file(&out)
    });
    let mut second = Background::start(&fake, &[TASK], &out);
    wait_for("the second waits", Duration::from_secs(20), || {
        second.stderr().to_lowercase().contains("wait")
    });
    second.signal("INT");
    let status = second.exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{}", second.stderr());
    assert!(
        first.is_running(),
        "the second ended while the first still held the folder, and the first was not disturbed"
    );
    assert!(
        first.exit(Duration::from_secs(30)).success(),
        "{}",
        first.stderr()
    );
    assert_eq!(fake.stats().requests_for("model.glb"), 1);
    assert_eq!(listing(&out), FILES);
    assert!(sha256sum_accepts(&out));
}

#[test]
fn two_fetches_in_one_process_take_turns_too() {
    let fake = FakeTripo::start(scenario(1));
    let out = tempfile::tempdir().expect("tempdir");
    let busy = Arc::new(Mutex::new(Vec::new()));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = Client::builder()
            .api_key(fake.api_key())
            .api_base(fake.v3_base())
            .build()
            .expect("client");
        let seen = busy.clone();
        let options = FetchOptions::default().observer(move |event: &Event| {
            if let Event::FolderBusy { dir } = event {
                seen.lock().expect("lock").push(dir.clone());
            }
        });
        let (a, b) = tokio::join!(
            client.fetch(TASK, out.path(), &options),
            client.fetch(TASK, out.path(), &options),
        );
        let (a, b) = (a.expect("first"), b.expect("second"));
        assert_eq!(a.files, b.files, "both report the same files");
    });
    assert_eq!(
        *busy.lock().expect("lock"),
        [out.path().to_owned()],
        "one of them waited, and said so"
    );
    let stats = fake.stats();
    assert_eq!(stats.requests_for("model.glb"), 1);
    assert_eq!(stats.requests_for("preview.webp"), 1);
    assert_eq!(listing(out.path()), FILES);
    assert!(sha256sum_accepts(out.path()));
}
