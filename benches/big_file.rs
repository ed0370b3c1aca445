//! Flat memory and raw speed: one 768 MiB output over unthrottled loopback.
//! The binary's peak resident memory, its time from the task's success to
//! its exit, and its CPU time per GiB; beside `curl -s -o FILE LINK` on a
//! fresh link to the same file (curl neither hashes nor syncs).
//!
//!     cargo bench --bench big_file
//!
//! Runs alternate between fetch-assets and curl, with the disk settled
//! (`sync`) before each; medians of five. About forty seconds in all.

#[path = "common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

use common::{Measured, fetch_assets, measure, median, scratch_dir, settle_disk};
use fake_tripo::{FakeTripo, Scenario};
use serde_json::{Value, json};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 768 * MIB;
const RUNS: usize = 5;
const TARGET_RSS_MIB: f64 = 32.0;
const TARGET_RATIO: f64 = 1.1;

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

/// curl on a fresh link: seconds from its start to its exit, and the
/// measures; then, if `openssl` is there, the seconds `openssl dgst -sha256`
/// takes over the file curl wrote (still in the page cache): what checking
/// it afterwards would add.
fn curl(runtime: &tokio::runtime::Runtime) -> ((f64, Measured), Option<f64>) {
    let dir = scratch_dir();
    let fake = FakeTripo::start(scenario());
    let link = runtime.block_on(fresh_link(&fake));
    settle_disk();
    let mut command = Command::new("curl");
    command
        .args(["-s", "-o"])
        .arg(dir.path().join("model.glb"))
        .arg(link);
    let measured = measure(command, Instant::now());
    let size = std::fs::metadata(dir.path().join("model.glb"))
        .expect("curl wrote model.glb")
        .len();
    assert_eq!(size, SIZE);
    let started = Instant::now();
    let hashed = Command::new("openssl")
        .args(["dgst", "-sha256"])
        .arg(dir.path().join("model.glb"))
        .output()
        .is_ok_and(|output| output.status.success());
    let hash = hashed.then(|| started.elapsed().as_secs_f64());
    ((measured.wall.as_secs_f64(), measured), hash)
}

/// The task's answer holds a freshly signed link.
async fn fresh_link(fake: &FakeTripo) -> String {
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

fn main() {
    // SAFETY: first thing, no other thread yet.
    unsafe { common::no_proxies() };
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("big_file: curl is needed for the comparison; install it and run again");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (mut ours_runs, mut curl_runs, mut hash_runs) = (Vec::new(), Vec::new(), Vec::new());
    let n = common::runs(RUNS);
    for _ in 0..n {
        ours_runs.push(ours());
        let (curl_run, hash) = curl(&runtime);
        hash_runs.extend(hash.map(|hash| curl_run.0 + hash));
        curl_runs.push(curl_run);
    }

    let seconds = |runs: &[(f64, Measured)]| runs.iter().map(|r| r.0).collect::<Vec<f64>>();
    let column = |runs: &[(f64, Measured)], f: &dyn Fn(&Measured) -> f64| {
        median(&runs.iter().map(|r| f(&r.1)).collect::<Vec<f64>>())
    };
    let gib = SIZE as f64 / (1u64 << 30) as f64;
    let rss = |m: &Measured| m.peak_rss_kib as f64 / 1024.0;
    let cpu = |m: &Measured| m.cpu.as_secs_f64() / gib;
    let fake_cpu = |m: &Measured| m.own_cpu.as_secs_f64() / gib;
    let (ours_t, curl_t) = (median(&seconds(&ours_runs)), median(&seconds(&curl_runs)));
    let ours_rss = column(&ours_runs, &rss);

    println!(
        "one {} MiB file, unthrottled loopback; {n} runs each, medians",
        SIZE / MIB
    );
    println!("fetch-assets: from the success answer to the exit; curl: from its start to its exit");
    println!();
    println!(
        "{:<14} {:>10} {:>10} {:>12} {:>13} {:>16} {:>12}",
        "", "time (s)", "MiB/s", "vs curl", "peak RSS", "CPU s per GiB", "fake's CPU"
    );
    for (name, runs, time) in [
        ("fetch-assets", &ours_runs, ours_t),
        ("curl", &curl_runs, curl_t),
    ] {
        println!(
            "{:<14} {:>10.3} {:>10.0} {:>12.3} {:>9.1} MiB {:>16.2} {:>12.2}",
            name,
            time,
            (SIZE / MIB) as f64 / time,
            time / curl_t,
            column(runs, &rss),
            column(runs, &cpu),
            column(runs, &fake_cpu)
        );
    }
    if !hash_runs.is_empty() {
        let time = median(&hash_runs);
        println!(
            "{:<14} {:>10.3} {:>10.0} {:>12.3}",
            "curl + openssl",
            time,
            (SIZE / MIB) as f64 / time,
            time / curl_t
        );
    }
    println!(
        "{:<14} {:>10} {:>10} {:>12} {:>9} MiB",
        "target",
        "",
        "",
        format!("<= {TARGET_RATIO}"),
        format!("<= {TARGET_RSS_MIB}")
    );
    println!();
    println!(
        "all runs (s): fetch-assets {:?}; curl {:?}",
        rounded(&seconds(&ours_runs)),
        rounded(&seconds(&curl_runs))
    );
    println!(
        "fetch-assets whole process (start to exit, median): {:.3} s",
        column(&ours_runs, &|m: &Measured| m.wall.as_secs_f64())
    );
    println!(
        "curl + openssl: curl, then `openssl dgst -sha256` on its file (what checking it would add)"
    );
    println!(
        "CPU: user+sys per GiB of the program; fake's CPU: the in-process fake service's meanwhile (this machine has {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let met = ours_rss <= TARGET_RSS_MIB && ours_t / curl_t <= TARGET_RATIO;
    println!("targets {}", if met { "met" } else { "MISSED" });
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .map(|v| (v * 1000.0).round() / 1000.0)
        .collect()
}
