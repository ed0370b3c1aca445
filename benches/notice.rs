//! Noticing success: how late, and at how many task requests, the pipeline
//! sees a task's success, over a mix of task lengths and under every
//! convention the fake knows for `running_left_time` and `progress`; beside
//! the same figures for the official Python SDK's polling schedule, run
//! against the same fakes.
//!
//!     cargo bench --bench notice
//!
//! Each task is queued for 0.3 s, then runs 2.3, 3.7, 5.1 or 7.9 s. Every run
//! has a fake of its own; per convention the runs of one schedule all go at
//! once (fetch-assets first, then the SDK's schedule), so the whole takes
//! about three and a half minutes. `BENCH_RUNS` sets the runs per length
//! (default 5). The conventions are `Estimates::ALL`: the five roundings
//! with linear progress, an estimate that jumps up half way, and progress
//! ahead of time, behind it, or stuck at 99 before the end.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use fake_tripo::{Estimates, FakeTripo, Scenario};
use fetch_assets::{Client, FetchOptions};
use serde_json::Value;

const QUEUED: Duration = Duration::from_millis(300);
const RUNNING: [f64; 4] = [2.3, 3.7, 5.1, 7.9];

/// The targets of issue 15, in every row.
const TARGET_LATE: f64 = 0.3;
const TARGET_REQUESTS: f64 = 4.0;
const TARGET_MOST: u64 = 5;

/// What one run saw.
#[derive(Clone, Copy)]
struct Run {
    late: f64,
    requests: u64,
}

fn scenario(running: f64, estimates: Estimates) -> Scenario {
    Scenario::new("v3_bare_task")
        .phase("queued", QUEUED)
        .phase("running", Duration::from_secs_f64(running))
        .estimates(estimates)
}

/// The real pipeline: `Client::fetch` into a temporary folder.
async fn ours(running: f64, estimates: Estimates) -> Run {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fake = FakeTripo::start(scenario(running, estimates));
    let client = Client::builder()
        .api_key(fake.api_key())
        .api_base(fake.v3_base())
        .build()
        .expect("a client");
    client
        .fetch(fake.task_id(), dir.path(), &FetchOptions::default())
        .await
        .expect("the fetch succeeds");
    observed(&fake)
}

/// The official Python SDK's `wait_for_task` (tripo3d 0.3): a first wait of
/// 2 s; after each answer, `max(2, running_left_time * 0.5)` when the field is
/// there (-1 included), else the wait doubles up to 30 s.
async fn python_sdk(running: f64, estimates: Estimates) -> Run {
    let fake = FakeTripo::start(scenario(running, estimates));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let url = format!("{}/v3/tasks/{}", fake.v3_base(), fake.task_id());
    let mut interval: f64 = 2.0;
    loop {
        let body = http
            .get(&url)
            .bearer_auth(fake.api_key())
            .send()
            .await
            .expect("a task answer")
            .bytes()
            .await
            .expect("a body");
        let task: Value = serde_json::from_slice(&body).expect("JSON");
        let task = task.get("data").unwrap_or(&task);
        if !matches!(task["status"].as_str(), Some("queued" | "running")) {
            break;
        }
        interval = match task.get("running_left_time").and_then(Value::as_f64) {
            Some(left) => f64::max(2.0, left * 0.5),
            None => f64::min(interval * 2.0, 30.0),
        };
        tokio::time::sleep(Duration::from_secs_f64(interval)).await;
    }
    observed(&fake)
}

fn observed(fake: &FakeTripo) -> Run {
    let stats = fake.stats();
    let success = stats.success_at.expect("the task succeeds");
    let seen = stats.first_success_served_at.expect("success was seen");
    Run {
        late: seen.saturating_sub(success).as_secs_f64(),
        requests: stats.task_requests,
    }
}

/// The figures of one schedule over the mix: the mean lateness, the mean
/// and the most requests.
struct Summary {
    late: f64,
    requests: f64,
    most: u64,
}

impl Summary {
    fn of(runs: &[Run]) -> Summary {
        let n = runs.len() as f64;
        Summary {
            late: runs.iter().map(|r| r.late).sum::<f64>() / n,
            requests: runs.iter().map(|r| r.requests as f64).sum::<f64>() / n,
            most: runs.iter().map(|r| r.requests).max().unwrap_or(0),
        }
    }

    fn meets_targets(&self) -> bool {
        self.late <= TARGET_LATE && self.requests <= TARGET_REQUESTS && self.most <= TARGET_MOST
    }
}

/// Every length `repeats` times under one convention, all at once.
async fn run_all<F>(one: fn(f64, Estimates) -> F, estimates: Estimates, repeats: usize) -> Vec<Run>
where
    F: Future<Output = Run> + Send + 'static,
{
    let handles: Vec<_> = RUNNING
        .iter()
        .flat_map(|running| (0..repeats).map(move |_| tokio::spawn(one(*running, estimates))))
        .collect();
    let mut runs = Vec::new();
    for handle in handles {
        runs.push(handle.await.expect("a run"));
    }
    runs
}

fn main() {
    // SAFETY: no other thread runs yet.
    unsafe { common::no_proxies() };
    let repeats = common::runs(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "noticing success: queued {:.1} s, then running {RUNNING:?} s; {repeats} runs per length and convention",
        QUEUED.as_secs_f64()
    );
    println!("late: mean seconds from the success to the first answer that shows it");
    println!("requests: task requests per task, mean and most");
    println!();
    println!(
        "{:<30} {:>26}   {:>26}",
        "running_left_time, progress", "fetch-assets", "Python SDK schedule"
    );
    println!(
        "{:<30} {:>8} {:>9} {:>7}   {:>8} {:>9} {:>7}",
        "", "late (s)", "requests", "most", "late (s)", "requests", "most"
    );
    let mut all_met = true;
    for estimates in Estimates::ALL {
        let ours = Summary::of(&runtime.block_on(run_all(ours, estimates, repeats)));
        let sdk = Summary::of(&runtime.block_on(run_all(python_sdk, estimates, repeats)));
        all_met &= ours.meets_targets();
        let progress = if estimates.progress == Default::default() {
            format!("{}, linear", estimates.name())
        } else {
            estimates.name()
        };
        println!(
            "{:<30} {:>8.3} {:>9.2} {:>7}   {:>8.3} {:>9.2} {:>7}{}",
            progress,
            ours.late,
            ours.requests,
            ours.most,
            sdk.late,
            sdk.requests,
            sdk.most,
            if ours.meets_targets() {
                ""
            } else {
                "  (missed)"
            }
        );
    }
    println!(
        "{:<30} {:>8} {:>9} {:>7}",
        "target, every row",
        format!("<= {TARGET_LATE}"),
        format!("<= {TARGET_REQUESTS}"),
        format!("<= {TARGET_MOST}")
    );
    println!();
    println!(
        "targets {}",
        if all_met {
            "met in every row"
        } else {
            "MISSED in a row marked (missed)"
        }
    );
}
