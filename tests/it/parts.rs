//! Parts at once (issue 22): a big file from a CDN that caps each
//! connection arrives over several, intact; a CDN that changes the file
//! between parts, ignores `Range` on some, or answers another range or
//! `416` still gives the file of one version, never a splice; a run killed
//! mid-parts costs the next run only what no record listed.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Background, client, fetch_assets, sha256sum_accepts, staged};
use fake_tripo::{FakeTripo, FileFault, Scenario};
use fetch_assets::{Event, FetchOptions, RetryPolicy};
use serde_json::json;

const TASK: &str = "7a3c5e1f-9b2d-4c6e-8f0a-2b4d6f8a0c1e";
const MIB: usize = 1 << 20;
/// Big enough to go in parts, small enough to be quick.
const SIZE: usize = 12 * MIB;

fn scenario() -> Scenario {
    Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success", "input": {},
        "output": {"model_url": "cdn:model.glb"},
        "progress": 100, "create_time": 1_795_887_300,
    }}))
    .file_size("model.glb", SIZE)
}

/// Fetches the task with the library; gives the connections `-v` would
/// report for the model (0 when it came in one stream).
async fn fetch(fake: &FakeTripo, out: &std::path::Path) -> usize {
    let used = Arc::new(Mutex::new(0));
    let seen = used.clone();
    let options = FetchOptions::default().observer(move |event: &Event| {
        if let Event::Connections { connections, .. } = event {
            *seen.lock().expect("seen") = *connections;
        }
    });
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    client(fake, &fake.v3_base(), policy)
        .fetch(TASK, out, &options)
        .await
        .expect("the fetch succeeds");
    *used.lock().expect("used")
}

fn model(out: &std::path::Path) -> Vec<u8> {
    std::fs::read(out.join("model.glb")).expect("the model")
}

#[tokio::test]
async fn a_big_file_over_a_capped_cdn_arrives_over_several_connections_intact() {
    let fake = FakeTripo::start(scenario().rate_per_connection(8 * MIB as u64));
    let out = tempfile::tempdir().expect("tempdir");
    let connections = fetch(&fake, out.path()).await;
    assert!(model(out.path()) == fake.file_bytes("model.glb"), "intact");
    assert!(sha256sum_accepts(out.path()));
    let stats = fake.stats();
    assert!(connections > 1, "in parts: {connections}");
    assert!(
        stats.ranged_requests_for("model.glb") >= connections - 1,
        "{} ranged requests",
        stats.ranged_requests_for("model.glb")
    );
    assert!(stats.connections_for("model.glb") >= connections);
    let sent = stats.bytes_sent_for("model.glb");
    assert!(
        sent as f64 <= SIZE as f64 * 1.15,
        "the CDN sent {sent} bytes for {SIZE}"
    );
}

#[tokio::test]
async fn one_connection_fetches_in_one_stream() {
    let fake = FakeTripo::start(scenario());
    let out = tempfile::tempdir().expect("tempdir");
    let policy = RetryPolicy::default();
    let options = FetchOptions::default().connections(std::num::NonZeroUsize::MIN);
    client(&fake, &fake.v3_base(), policy)
        .fetch(TASK, out.path(), &options)
        .await
        .expect("the fetch succeeds");
    assert!(model(out.path()) == fake.file_bytes("model.glb"));
    assert_eq!(fake.stats().requests_for("model.glb"), 1);
    assert_eq!(fake.stats().ranged_requests_for("model.glb"), 0);
}

#[tokio::test]
async fn concurrency_counts_connections_so_one_allows_no_parts() {
    let fake = FakeTripo::start(scenario());
    let out = tempfile::tempdir().expect("tempdir");
    let options = FetchOptions::default().concurrency(std::num::NonZeroUsize::MIN);
    client(&fake, &fake.v3_base(), RetryPolicy::default())
        .fetch(TASK, out.path(), &options)
        .await
        .expect("the fetch succeeds");
    assert!(model(out.path()) == fake.file_bytes("model.glb"));
    assert_eq!(fake.stats().requests_for("model.glb"), 1, "one stream");
}

#[tokio::test]
async fn links_that_expire_mid_parts_are_renewed_for_all_parts() {
    // Opaque links: the client cannot read when they expire, so the CDN's
    // refusal is what tells; two parts of 6 MiB, asked 2 MiB at a time.
    let fake = FakeTripo::start(
        scenario()
            .link_style(fake_tripo::LinkStyle::Opaque)
            .link_lifetime(Duration::from_secs(1))
            .rate_per_connection(4 * MIB as u64),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let options =
        FetchOptions::default().connections(std::num::NonZeroUsize::MIN.saturating_add(1));
    client(&fake, &fake.v3_base(), RetryPolicy::default())
        .fetch(TASK, out.path(), &options)
        .await
        .expect("the fetch succeeds");
    assert!(model(out.path()) == fake.file_bytes("model.glb"), "intact");
    let stats = fake.stats();
    let refused = stats
        .cdn_requests
        .iter()
        .filter(|r| r.status == 403)
        .count();
    let renewals = stats.final_answers() - 1;
    assert!(refused >= 1, "the links expired mid-parts");
    assert!(
        (1..=refused).contains(&renewals),
        "{renewals} renewals for {refused} refusals"
    );
    assert!(stats.connections_for("model.glb") >= 2);
}

#[tokio::test]
async fn a_new_version_between_parts_sends_the_file_back_to_one_stream() {
    let fake = FakeTripo::start(
        scenario()
            .rate_per_connection(16 * MIB as u64)
            .fault("model.glb", FileFault::new_version_after(1)),
    );
    let out = tempfile::tempdir().expect("tempdir");
    fetch(&fake, out.path()).await;
    assert!(
        model(out.path()) == fake.file_version_bytes("model.glb", 1),
        "the new version whole, no splice of two"
    );
    assert!(sha256sum_accepts(out.path()));
    let last = fake.stats().cdn_requests.last().cloned().expect("requests");
    assert_eq!(last.range, None, "one stream from the first byte");
}

#[tokio::test]
async fn range_ignored_on_some_requests_still_gives_the_file_intact() {
    let fake = FakeTripo::start(scenario().rate_per_connection(16 * MIB as u64).fault(
        "model.glb",
        FileFault {
            ignore_range_on: vec![1, 3],
            ..FileFault::default()
        },
    ));
    let out = tempfile::tempdir().expect("tempdir");
    fetch(&fake, out.path()).await;
    assert!(model(out.path()) == fake.file_bytes("model.glb"));
    assert!(sha256sum_accepts(out.path()));
}

#[tokio::test]
async fn a_416_or_a_misplaced_range_never_splices_the_file() {
    for fault in [
        FileFault {
            unsatisfiable_on: vec![0],
            ..FileFault::default()
        },
        FileFault {
            misplaced_range_on: vec![2],
            ..FileFault::default()
        },
    ] {
        let fake = FakeTripo::start(
            scenario()
                .rate_per_connection(16 * MIB as u64)
                .fault("model.glb", fault),
        );
        let out = tempfile::tempdir().expect("tempdir");
        fetch(&fake, out.path()).await;
        assert!(model(out.path()) == fake.file_bytes("model.glb"));
        assert!(sha256sum_accepts(out.path()));
    }
}

#[test]
fn a_run_killed_mid_parts_costs_the_next_only_what_no_record_listed() {
    const BIG: usize = 32 * MIB;
    let slow = FakeTripo::start(
        scenario()
            .file_size("model.glb", BIG)
            .rate_per_connection(2 * MIB as u64),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let mut run = Background::start(&slow, &[TASK], out.path());
    let record = out.path().join(".fetch-assets/model.part.json");
    common::wait_for(
        "a third of the file on its way, some of it recorded",
        Duration::from_secs(60),
        || {
            assert!(run.is_running(), "the run ended early: {}", run.stderr());
            let listed = std::fs::read_to_string(&record)
                .is_ok_and(|text| text.contains("\"ranges\":[[") && text.contains("],["));
            listed && slow.stats().bytes_sent_for("model.glb") >= BIG as u64 / 3
        },
    );
    run.signal("KILL");
    run.exit(Duration::from_secs(10));
    assert!(staged(out.path()).contains(&"model.part".to_owned()));

    let fast = FakeTripo::start(scenario().file_size("model.glb", BIG));
    fetch_assets(&fast, &fast.v3_base())
        .arg(TASK)
        .arg(out.path())
        .assert()
        .success();
    assert!(model(out.path()) == fast.file_bytes("model.glb"), "intact");
    assert!(sha256sum_accepts(out.path()));
    let first = slow.stats().bytes_sent_for("model.glb");
    let second = fast.stats().bytes_sent_for("model.glb");
    assert!(
        second < BIG as u64,
        "the second run fetched only what was missing: {second}"
    );
    assert!(
        (first + second) as f64 <= BIG as f64 * 1.15,
        "the CDNs sent {first} + {second} bytes for {BIG}"
    );
}
