//! Parts at once (issue 22): a CDN that caps each connection, as many do.
//!
//!     cargo bench --bench parts
//!
//! - One 48 MiB model at 4 MiB/s per connection: the default
//!   (`--connections 8`) against `--connections 1` (one stream). Target:
//!   ≤ 0.3× one connection's time.
//! - The nine-file fan-out (24, 16, 12 MiB models, four 6 MiB views, two
//!   small images) at 8 MiB/s per connection: against the largest file's
//!   one-connection time (3 s). Target: ≤ 0.6×.
//! - Ctrl-C at a third of the 48 MiB model (4 MiB/s per connection), then
//!   the same command: what the CDN sent in all, against the file's size.
//!   Target: ≤ 1.15×.
//!
//! Times run from the moment the fake served the success answer to the
//! process's exit (files verified, synced, renamed, the manifest written);
//! medians of 3 runs (`BENCH_RUNS` to change).

#[path = "common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{fetch_assets, measure, median, scratch_dir, settle_disk};
use fake_tripo::{FakeTripo, Scenario};
use serde_json::json;

const MIB: usize = 1 << 20;
const RUNS: usize = 3;
const BIG: usize = 48 * MIB;
const BIG_RATE: u64 = 4 << 20;
const FAN_RATE: u64 = 8 << 20;

fn one_model(rate: u64) -> Scenario {
    Scenario::from_json(json!({
        "task_id": "parts-0001",
        "type": "text_to_model",
        "status": "success",
        "progress": 100,
        "create_time": 1_795_887_000,
        "output": {"model_url": "cdn:model.glb"},
    }))
    .file_size("model.glb", BIG)
    .rate_per_connection(rate)
}

fn nine_files() -> Scenario {
    let mut scenario = Scenario::new("v2_all_outputs").rate_per_connection(FAN_RATE);
    for (name, size) in [
        ("model.glb", 24 * MIB),
        ("base_model.glb", 16 * MIB),
        ("pbr_model.glb", 12 * MIB),
    ] {
        scenario = scenario.file_size(name, size);
    }
    for name in ["front.png", "left.png", "back.png", "right.png"] {
        scenario = scenario.file_size(name, 6 * MIB);
    }
    scenario
}

/// Seconds from the success answer to the exit of one run.
fn timed(scenario: Scenario, v2: bool, args: &[&str]) -> f64 {
    let dir = scratch_dir();
    settle_disk();
    let epoch = Instant::now();
    let fake = FakeTripo::start(scenario);
    let base = if v2 { fake.v2_base() } else { fake.v3_base() };
    let measured = measure(fetch_assets(&fake, &base, dir.path(), args), epoch);
    let success = fake
        .stats()
        .first_success_served_at
        .expect("the success answer was served");
    measured.exited_at.saturating_sub(success).as_secs_f64()
}

/// Ctrl-C once the CDN sent a third of the model, then the same command:
/// the bytes the CDN sent in both runs, over the file's size.
fn interrupted_at_a_third() -> f64 {
    let dir = scratch_dir();
    let fake = FakeTripo::start(one_model(BIG_RATE));
    let mut command = fetch_assets(&fake, &fake.v3_base(), dir.path(), &[]);
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.stats().bytes_sent_for("model.glb") < BIG as u64 / 3 {
        assert!(Instant::now() < deadline, "never got to a third");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let first = fake.stats().bytes_sent_for("model.glb");
    let again = fetch_assets(&fake, &fake.v3_base(), dir.path(), &[])
        .status()
        .expect("the binary runs again");
    assert!(again.success(), "the second run failed");
    let all = fake.stats().bytes_sent_for("model.glb");
    println!(
        "  Ctrl-C at a third: first run {:.1} MiB, second {:.1} MiB",
        first as f64 / MIB as f64,
        (all - first) as f64 / MIB as f64
    );
    all as f64 / BIG as f64
}

fn main() {
    // SAFETY: first thing, no other thread yet.
    unsafe { common::no_proxies() };
    let runs = common::runs(RUNS);
    let one = |args: &[&str]| -> Vec<f64> {
        (0..runs)
            .map(|_| timed(one_model(BIG_RATE), false, args))
            .collect()
    };
    let single = one(&["--connections", "1"]);
    let parts = one(&[]);
    let fan: Vec<f64> = (0..runs).map(|_| timed(nine_files(), true, &[])).collect();
    let fan_single: Vec<f64> = (0..runs)
        .map(|_| timed(nine_files(), true, &["--connections", "1"]))
        .collect();
    let resumed: Vec<f64> = (0..runs).map(|_| interrupted_at_a_third()).collect();

    let largest = (24 * MIB) as f64 / FAN_RATE as f64;
    let (single_t, parts_t) = (median(&single), median(&parts));
    println!("parts at once: medians of {runs} runs (seconds from success to exit)");
    println!("  48 MiB at 4 MiB/s per connection, --connections 1: {single_t:.2} s {single:.2?}");
    println!(
        "  48 MiB at 4 MiB/s per connection, default (8): {parts_t:.2} s {parts:.2?} = {:.2}x one connection (target <= 0.3)",
        parts_t / single_t
    );
    println!(
        "  nine files at 8 MiB/s per connection, --connections 1: {:.2} s {fan_single:.2?}",
        median(&fan_single)
    );
    println!(
        "  nine files at 8 MiB/s per connection, default: {:.2} s {fan:.2?} = {:.2}x the largest file's one-connection time {largest:.1} s (target <= 0.6)",
        median(&fan),
        median(&fan) / largest
    );
    println!(
        "  Ctrl-C at a third, then again: the CDN sent {:.3}x the size {resumed:.3?} (target <= 1.15)",
        median(&resumed)
    );
}
