//! Fan-out: how soon after the task's success the binary is done with nine
//! outputs from a CDN that serves each connection at 8 MiB/s, compared with
//! the largest file's own transfer time; and the same with `--concurrency 1`.
//!
//!     cargo bench --bench fanout
//!
//! The outputs: 24, 16 and 12 MiB models (`model`, `base_model`,
//! `pbr_model`), four 6 MiB views and two small images. All at once, the run
//! cannot end before the 24 MiB model's 3 s; one at a time, it takes the sum.
//! The time counted runs from the moment the fake served the success answer
//! to the moment the process exited (files verified, synced, renamed, the
//! manifest written). About a minute in all.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Measured, fetch_assets, measure, median, scratch_dir, settle_disk};
use fake_tripo::{FakeTripo, Scenario};

const MIB: usize = 1 << 20;
const RATE: usize = 8 * MIB;
const MODELS: [(&str, usize); 3] = [
    ("model.glb", 24 * MIB),
    ("base_model.glb", 16 * MIB),
    ("pbr_model.glb", 12 * MIB),
];
const VIEWS: [&str; 4] = ["front.png", "left.png", "back.png", "right.png"];
const VIEW_SIZE: usize = 6 * MIB;
const RUNS: usize = 5;
const RUNS_ONE_AT_A_TIME: usize = 3;
const TARGET_RATIO: f64 = 1.05;

fn scenario() -> Scenario {
    let mut scenario = Scenario::new("v2_all_outputs").throttle(RATE as u64);
    for (name, size) in MODELS {
        scenario = scenario.file_size(name, size);
    }
    for name in VIEWS {
        scenario = scenario.file_size(name, VIEW_SIZE);
    }
    scenario
}

/// One run: seconds from the success answer to the exit, and the measures.
fn run(args: &[&str]) -> (f64, Measured) {
    let dir = scratch_dir();
    settle_disk();
    let epoch = Instant::now();
    let fake = FakeTripo::start(scenario());
    let measured = measure(
        fetch_assets(&fake, &fake.v2_base(), dir.path(), args),
        epoch,
    );
    let stats = fake.stats();
    let success = stats
        .first_success_served_at
        .expect("the success answer was served");
    let files = std::fs::read_dir(dir.path())
        .expect("the output folder")
        .count();
    // Nine outputs, manifest.json and SHA256SUMS.
    assert_eq!(files, 11, "the run left {files} entries");
    (
        measured.exited_at.saturating_sub(success).as_secs_f64(),
        measured,
    )
}

fn main() {
    // SAFETY: first thing, no other thread yet.
    unsafe { common::no_proxies() };
    let total: usize = MODELS.iter().map(|(_, size)| size).sum::<usize>() + 4 * VIEW_SIZE;
    let largest = MODELS[0].1 as f64 / RATE as f64;
    let sum = total as f64 / RATE as f64;

    let all: Vec<(f64, Measured)> = (0..common::runs(RUNS)).map(|_| run(&[])).collect();
    let one: Vec<(f64, Measured)> = (0..common::runs(RUNS_ONE_AT_A_TIME))
        .map(|_| run(&["--concurrency", "1"]))
        .collect();

    let times = |runs: &[(f64, Measured)]| runs.iter().map(|r| r.0).collect::<Vec<f64>>();
    let peak = |runs: &[(f64, Measured)]| {
        median(
            &runs
                .iter()
                .map(|r| r.1.peak_rss_kib as f64)
                .collect::<Vec<_>>(),
        ) / 1024.0
    };
    let cpu = |runs: &[(f64, Measured)]| {
        median(
            &runs
                .iter()
                .map(|r| r.1.cpu.as_secs_f64())
                .collect::<Vec<_>>(),
        )
    };
    let (all_t, one_t) = (median(&times(&all)), median(&times(&one)));

    println!(
        "fan-out: 9 outputs, {:.0} MiB in all, each connection served at {} MiB/s",
        total as f64 / MIB as f64,
        RATE / MIB
    );
    println!("time: from the success answer to the process's exit (median)");
    println!();
    println!(
        "{:<18} {:>5} {:>10} {:>14} {:>10} {:>9}",
        "", "runs", "time (s)", "ideal (s)", "ratio", "peak RSS"
    );
    println!(
        "{:<18} {:>5} {:>10.3} {:>14.3} {:>10.3} {:>6.1} MiB",
        "all at once",
        all.len(),
        all_t,
        largest,
        all_t / largest,
        peak(&all)
    );
    println!(
        "{:<18} {:>5} {:>10.3} {:>14.3} {:>10.3} {:>6.1} MiB",
        "--concurrency 1",
        one.len(),
        one_t,
        sum,
        one_t / sum,
        peak(&one)
    );
    println!(
        "{:<18} {:>5} {:>10} {:>14} {:>10}",
        "target",
        "",
        "",
        "",
        format!("<= {TARGET_RATIO}")
    );
    println!();
    println!(
        "all runs (s): all at once {:?}; --concurrency 1 {:?}",
        rounded(&times(&all)),
        rounded(&times(&one))
    );
    println!(
        "CPU time (user+sys, median): {:.2} s all at once, {:.2} s one at a time",
        cpu(&all),
        cpu(&one)
    );
    println!(
        "ideal: the largest file's own transfer ({} MiB at {} MiB/s) all at once; the sum one at a time",
        MODELS[0].1 / MIB,
        RATE / MIB
    );
    println!(
        "target {}: fan-out is {:.1}x faster than one at a time",
        if all_t / largest <= TARGET_RATIO {
            "met"
        } else {
            "MISSED"
        },
        one_t / all_t
    );
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .map(|v| (v * 1000.0).round() / 1000.0)
        .collect()
}
