//! Batch: many tasks in one run of the release binary.
//!
//!     cargo bench --bench batch
//!
//! 1. A scene's worth: 1,000 tasks of two small files each (a 20 KB model
//!    and a 20 KB image), ending one after another over three seconds. Wall
//!    time, peak memory, API requests (the goal: far under one a task) and
//!    files a second.
//! 2. Twenty tasks of one 8 MiB file each, every CDN connection served at
//!    8 MiB/s, with `--concurrency 4`: the budget is shared by the whole
//!    batch, so the link stays at its limit (4 × 8 MiB/s) from the first
//!    success to the last file, neither above (more connections) nor below
//!    (idle slots between tasks).

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Measured, binary, measure, median, runs, scratch_dir, settle_disk};
use fake_tripo::{FakeTripo, Scenario, TaskSpec};

const MIB: usize = 1 << 20;

fn id(i: usize) -> String {
    format!("b0000000-0000-4000-8000-{i:012}")
}

/// `fetch-assets batch --quiet [ARGS] --from LIST ROOT` against the fake's v3 API.
fn batch(fake: &FakeTripo, ids: &[String], root: &Path, args: &[&str]) -> Command {
    let list = root.with_extension("ids");
    std::fs::write(&list, ids.join("\n")).expect("the id list");
    let mut command = Command::new(binary());
    command
        .env("TRIPO_API_KEY", fake.api_key())
        .env("TRIPO_API_BASE", fake.v3_base())
        .env_remove("TRIPO_API_VERSION")
        .args(["batch", "--quiet"])
        .args(args)
        .arg("--from")
        .arg(&list)
        .arg(root);
    command
}

fn many_small(tasks: usize, spread: Duration) -> (Measured, usize, usize) {
    let ids: Vec<String> = (0..tasks).map(id).collect();
    let run_for = |i: usize| Duration::from_millis(500) + spread * i as u32 / tasks as u32;
    let mut scenario = Scenario::new("v3_model_pbr_same")
        .task_id(&ids[0])
        .phase("running", run_for(0))
        .file_size("model.glb", 20_000)
        .file_size("rendered_image.webp", 20_000);
    for (i, task) in ids.iter().enumerate().skip(1) {
        scenario = scenario.task(
            task,
            TaskSpec::new("v3_model_pbr_same").phase("running", run_for(i)),
        );
    }
    let dir = scratch_dir();
    let root = dir.path().join("assets");
    settle_disk();
    let epoch = Instant::now();
    let fake = FakeTripo::start(scenario);
    let measured = measure(batch(&fake, &ids, &root, &[]), epoch);
    let stats = fake.stats();
    let done = ids
        .iter()
        .filter(|id| root.join(id).join("manifest.json").exists())
        .count();
    assert_eq!(done, tasks, "every task landed");
    (measured, stats.api_requests.len(), stats.cdn_requests.len())
}

fn throttled(tasks: usize, size: usize, rate: usize, at_once: usize) -> (f64, f64) {
    let ids: Vec<String> = (0..tasks).map(id).collect();
    let answer = |i: usize| {
        serde_json::json!({"code": 0, "data": {
            "task_id": ids[i], "type": "text_to_model", "status": "success", "input": {},
            "output": {"model_url": "cdn:big.glb"}, "progress": 100, "create_time": 1_795_887_300,
        }})
    };
    let mut scenario = Scenario::from_json(answer(0))
        .file_size("big.glb", size)
        .throttle(rate as u64);
    for (i, task) in ids.iter().enumerate().skip(1) {
        scenario = scenario.task(task, TaskSpec::from_json(answer(i)));
    }
    let dir = scratch_dir();
    let root = dir.path().join("assets");
    settle_disk();
    let epoch = Instant::now();
    let fake = FakeTripo::start(scenario);
    let concurrency = at_once.to_string();
    let measured = measure(
        batch(&fake, &ids, &root, &["--concurrency", &concurrency]),
        epoch,
    );
    let stats = fake.stats();
    let first_byte = stats
        .cdn_requests
        .iter()
        .map(|r| r.at)
        .min()
        .expect("files were requested");
    let seconds = measured.exited_at.saturating_sub(first_byte).as_secs_f64();
    let rate = (tasks * size) as f64 / seconds / MIB as f64;
    (seconds, rate)
}

fn main() {
    // SAFETY: first thing in main, no other thread yet.
    unsafe { common::no_proxies() };
    let n = runs(3);

    println!("batch: 1,000 tasks of 2 small files, ending over 3 s ({n} runs, medians)");
    let mut walls = Vec::new();
    let mut peaks = Vec::new();
    let mut api = Vec::new();
    let mut files = 0;
    for _ in 0..n {
        let (measured, api_requests, cdn_requests) = many_small(1000, Duration::from_secs(3));
        walls.push(measured.wall.as_secs_f64());
        peaks.push(measured.peak_rss_kib as f64 / 1024.0);
        api.push(api_requests as f64);
        files = cdn_requests;
    }
    let wall = median(&walls);
    println!("| wall time | peak RSS | API requests | files | files per second |");
    println!("|---|---|---|---|---|");
    println!(
        "| {wall:.2} s (last task ends at 3.5 s) | {:.1} MiB (goal 64) | {:.0} (goal: far under 1,000) | {files} | {:.0} |",
        median(&peaks),
        median(&api),
        files as f64 / wall
    );

    let (tasks, size, rate, at_once) = (20, 8 * MIB, 8 * MIB, 4);
    let limit = (rate * at_once / MIB) as f64;
    println!(
        "\nbatch: {tasks} tasks of one {} MiB file, each connection at {} MiB/s, --concurrency {at_once} (limit {limit:.0} MiB/s)",
        size / MIB,
        rate / MIB
    );
    let mut times = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..n {
        let (seconds, achieved) = throttled(tasks, size, rate, at_once);
        times.push(seconds);
        rates.push(achieved);
    }
    let ideal = (tasks * size) as f64 / (limit * MIB as f64);
    println!(
        "| from first file request to exit | ideal at the limit | throughput | share of the limit |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {:.2} s | {ideal:.2} s | {:.1} MiB/s | {:.0} % |",
        median(&times),
        median(&rates),
        median(&rates) / limit * 100.0
    );
}
