//! Flat memory and raw speed: one 768 MiB output over unthrottled loopback.
//! The binary's peak resident memory, its time from the task's success to
//! its exit, and its CPU time per GiB; beside curl on a fresh link to the
//! same file: `curl -o FILE LINK` (neither hashes nor syncs: the file is left
//! in the page cache), and the same followed by `sync FILE` (the file on
//! disk, as fetch-assets leaves it). CPU is compared with curl's plus that of
//! `sha256sum FILE` afterwards (what checking the file would add).
//!
//!     cargo bench --bench big_file
//!
//! Runs alternate (fetch-assets, `curl -o`, `curl -o` + `sync`), three of
//! each (`BENCH_RUNS` to change), with the disk settled (`sync`) before
//! each; medians. The machine's load average is printed before and after:
//! the disk's speed decides the synced times.

#[path = "common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

use common::{Measured, fetch_assets, measure, median, scratch_dir, settle_disk};
use fake_tripo::{FakeTripo, Scenario};
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 768 * MIB;
const RUNS: usize = 3;
const TARGET_RSS_MIB: f64 = 32.0;
const TARGET_RATIO: f64 = 1.1;
const TARGET_CPU_RATIO: f64 = 1.1;
fn scenario() -> Scenario {
    Scenario::from_json(json!({
        "task_id": "big-file-0001",
        "type": "text_to_model",
        "status": "success",
        "progress": 100,
        "create_time": 1_795_887_000,
        "output": {"model_url": "cdn:model.glb"},
    }))
    .file_size("model.glb", SIZE as usize)
}

/// fetch-assets: seconds from the success answer to the exit, and the
/// measures.
fn ours() -> (f64, Measured) {
    let dir = scratch_dir();
    settle_disk();
    let epoch = Instant::now();
    let fake = FakeTripo::start(scenario());
    let measured = measure(fetch_assets(&fake, &fake.v3_base(), dir.path(), &[]), epoch);
    let success = fake
        .stats()
        .first_success_served_at
        .expect("the success answer was served");
    let size = std::fs::metadata(dir.path().join("model.glb"))
        .expect("model.glb")
        .len();
    assert_eq!(size, SIZE);
    (
        measured.exited_at.saturating_sub(success).as_secs_f64(),
        measured,
    )
}

/// curl on a fresh link, then `sync FILE` if `then_sync`: seconds from its
/// start to its end, and curl's measures (with the sync's CPU added); and
/// the CPU time `sha256sum` takes over the file afterwards.
fn curl(runtime: &tokio::runtime::Runtime, then_sync: bool) -> ((f64, Measured), f64) {
    let dir = scratch_dir();
    let file = dir.path().join("model.glb");
    let fake = FakeTripo::start(scenario());
    let link = runtime.block_on(fresh_link(&fake));
    settle_disk();
    let mut command = Command::new("curl");
    command.args(["-s", "-o"]).arg(&file).arg(link);
    let epoch = Instant::now();
    let mut measured = measure(command, epoch);
    if then_sync {
        let mut sync = Command::new("sync");
        sync.arg(&file);
        let synced = measure(sync, epoch);
        measured.cpu += synced.cpu;
        measured.wall = synced.exited_at;
    }
    let size = std::fs::metadata(&file)
        .expect("curl wrote model.glb")
        .len();
    assert_eq!(size, SIZE);
    let mut sha256sum = Command::new("sha256sum");
    sha256sum.arg(&file);
    let hashed = measure(sha256sum, Instant::now());
    (
        (measured.wall.as_secs_f64(), measured),
        hashed.cpu.as_secs_f64(),
    )
}

/// The task's answer holds a freshly signed link.
async fn fresh_link(fake: &FakeTripo) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let body = http
        .get(format!("{}/v3/tasks/{}", fake.v3_base(), fake.task_id()))
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("the task answer")
        .bytes()
        .await
        .expect("its body");
    let task: Value = serde_json::from_slice(&body).expect("JSON");
    task["output"]["model_url"]
        .as_str()
        .expect("output.model_url")
        .to_owned()
}

/// The load averages (1, 5, 15 minutes), as `/proc/loadavg` gives them.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    // SAFETY: first thing, no other thread yet.
    unsafe { common::no_proxies() };
    for tool in ["curl", "sha256sum"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("big_file: {tool} is needed for the comparison; install it and run again");
            std::process::exit(1);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let load_before = load();
    let (mut ours_runs, mut curl_runs, mut synced_runs, mut hash_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let n = common::runs(RUNS);
    for _ in 0..n {
        ours_runs.push(ours());
        let (run, hash) = curl(&runtime, false);
        curl_runs.push(run);
        hash_cpu.push(hash);
        synced_runs.push(curl(&runtime, true).0);
    }
    let load_after = load();

    let seconds = |runs: &[(f64, Measured)]| runs.iter().map(|r| r.0).collect::<Vec<f64>>();
    let column = |runs: &[(f64, Measured)], f: &dyn Fn(&Measured) -> f64| {
        median(&runs.iter().map(|r| f(&r.1)).collect::<Vec<f64>>())
    };
    let gib = SIZE as f64 / (1u64 << 30) as f64;
    let rss = |m: &Measured| m.peak_rss_kib as f64 / 1024.0;
    let cpu = |m: &Measured| m.cpu.as_secs_f64() / gib;
    let fake_cpu = |m: &Measured| m.own_cpu.as_secs_f64() / gib;
    let (ours_t, curl_t, synced_t) = (
        median(&seconds(&ours_runs)),
        median(&seconds(&curl_runs)),
        median(&seconds(&synced_runs)),
    );
    let ours_rss = column(&ours_runs, &rss);
    let ours_cpu = column(&ours_runs, &cpu);
    let curl_and_hash_cpu = column(&curl_runs, &cpu) + median(&hash_cpu) / gib;

    println!(
        "one {} MiB file, unthrottled loopback; {n} runs each, alternating; medians",
        SIZE / MIB
    );
    println!(
        "fetch-assets: from the success answer to the exit; curl: from its start to its (or sync's) exit"
    );
    println!("load average (1, 5, 15 min): {load_before} before, {load_after} after");
    println!();
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9} {:>12} {:>10} {:>11}",
        "", "time (s)", "MiB/s", "vs -o", "vs +sync", "peak RSS", "CPU s/GiB", "fake's CPU"
    );
    for (name, runs, time) in [
        ("fetch-assets", &ours_runs, ours_t),
        ("curl -o", &curl_runs, curl_t),
        ("curl -o, sync FILE", &synced_runs, synced_t),
    ] {
        println!(
            "{:<22} {:>9.3} {:>8.0} {:>9.3} {:>9.3} {:>8.1} MiB {:>10.2} {:>11.2}",
            name,
            time,
            (SIZE / MIB) as f64 / time,
            time / curl_t,
            time / synced_t,
            column(runs, &rss),
            column(runs, &cpu),
            column(runs, &fake_cpu)
        );
    }
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9} {:>12} {:>10.2}",
        "curl -o + sha256sum", "", "", "", "", "", curl_and_hash_cpu
    );
    println!(
        "{:<22} {:>9} {:>8} {:>9} {:>9} {:>8} MiB {:>10}",
        "target",
        "",
        "",
        format!("<= {TARGET_RATIO}"),
        "",
        format!("<= {TARGET_RSS_MIB}"),
        format!("<= {TARGET_CPU_RATIO}x")
    );
    println!();
    println!(
        "all runs (s): fetch-assets {:?}; curl -o {:?}; curl -o, sync {:?}",
        rounded(&seconds(&ours_runs)),
        rounded(&seconds(&curl_runs)),
        rounded(&seconds(&synced_runs))
    );
    println!(
        "fetch-assets whole process (start to exit, median): {:.3} s",
        column(&ours_runs, &|m: &Measured| m.wall.as_secs_f64())
    );
    println!(
        "CPU per GiB: fetch-assets {ours_cpu:.2} s, {:.2}x curl -o + sha256sum ({curl_and_hash_cpu:.2} s)",
        ours_cpu / curl_and_hash_cpu
    );
    println!(
        "CPU: user+sys of the program; fake's CPU: the in-process fake service's meanwhile (this machine has {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let met = ours_rss <= TARGET_RSS_MIB
        && ours_t / curl_t <= TARGET_RATIO
        && ours_cpu / curl_and_hash_cpu <= TARGET_CPU_RATIO;
    println!("targets {}", if met { "met" } else { "MISSED" });
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .map(|v| (v * 1000.0).round() / 1000.0)
        .collect()
}
