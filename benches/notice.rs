//! Noticing success: how late, and at how many task requests, the pipeline
//! sees a task's success, over a mix of task lengths; beside the same figures
//! for the official Python SDK's polling schedule, run against the same fake.
//!
//!     cargo bench --bench notice
//!
//! Each task is queued for 0.3 s, then runs 2.3, 3.7, 5.1 or 7.9 s, the fake
//! reporting `running_left_time` in whole seconds rounded down and progress
//! growing linearly. Every run has a fake of its own; the runs of one
//! schedule all go at once (fetch-assets first, then the SDK's schedule), so
//! the whole takes about twenty seconds.

use std::time::Duration;

use fake_tripo::{FakeTripo, Scenario};
use fetch_assets::{Client, FetchOptions};
use serde_json::Value;

const QUEUED: Duration = Duration::from_millis(300);
const RUNNING: [f64; 4] = [2.3, 3.7, 5.1, 7.9];
const REPEATS: usize = 5;

/// The targets of issue 6.
const TARGET_LATE: f64 = 0.3;
const TARGET_REQUESTS: f64 = 4.0;

/// What one run saw.
#[derive(Clone, Copy)]
struct Run {
    late: f64,
    requests: u64,
    /// When the first task request arrived, from the fake's start.
    first: f64,
}

fn scenario(running: f64) -> Scenario {
    Scenario::new("v3_bare_task")
        .phase("queued", QUEUED)
        .phase("running", Duration::from_secs_f64(running))
}

/// The real pipeline: `Client::fetch` into a temporary folder.
async fn ours(running: f64) -> Run {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fake = FakeTripo::start(scenario(running));
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
async fn python_sdk(running: f64) -> Run {
    let fake = FakeTripo::start(scenario(running));
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
        late: (seen - success).as_secs_f64(),
        requests: stats.task_requests,
        first: stats
            .api_requests
            .first()
            .map_or(0.0, |r| r.at.as_secs_f64()),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The figures of one schedule over the mix.
struct Summary {
    /// Per task length: the median lateness and the mean requests.
    per_length: Vec<(f64, f64)>,
    /// Over all runs: the mean lateness, the mean and most requests.
    late: f64,
    requests: f64,
    most: u64,
    /// The median moment of the first task request, from the fake's start.
    first: f64,
}

fn summarise(runs: &[Vec<Run>]) -> Summary {
    let per_length = runs
        .iter()
        .map(|runs| {
            let mut late: Vec<f64> = runs.iter().map(|r| r.late).collect();
            let requests: Vec<f64> = runs.iter().map(|r| r.requests as f64).collect();
            (median(&mut late), mean(&requests))
        })
        .collect();
    let all: Vec<Run> = runs.iter().flatten().copied().collect();
    let late: Vec<f64> = all.iter().map(|r| r.late).collect();
    let requests: Vec<f64> = all.iter().map(|r| r.requests as f64).collect();
    let mut first: Vec<f64> = all.iter().map(|r| r.first).collect();
    Summary {
        per_length,
        late: mean(&late),
        requests: mean(&requests),
        most: all.iter().map(|r| r.requests).max().unwrap_or(0),
        first: median(&mut first),
    }
}

/// Every length `REPEATS` times, all at once: the runs per length.
async fn run_all<F>(one: fn(f64) -> F) -> Vec<Vec<Run>>
where
    F: Future<Output = Run> + Send + 'static,
{
    let handles: Vec<Vec<_>> = RUNNING
        .iter()
        .map(|running| (0..REPEATS).map(|_| tokio::spawn(one(*running))).collect())
        .collect();
    let mut runs = Vec::new();
    for per_length in handles {
        let mut these = Vec::new();
        for handle in per_length {
            these.push(handle.await.expect("a run"));
        }
        runs.push(these);
    }
    runs
}

fn main() {
    for proxy in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::remove_var(proxy) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // The two schedules one after the other, the runs of each all at once.
    let ours = runtime.block_on(run_all(ours));
    let sdk = runtime.block_on(run_all(python_sdk));

    let (ours, sdk) = (summarise(&ours), summarise(&sdk));
    println!(
        "noticing success: queued {:.1} s, then running; {REPEATS} runs per length",
        QUEUED.as_secs_f64()
    );
    println!("late: from the success to the first answer that shows it (median per length)");
    println!();
    println!(
        "{:<10} {:>24}   {:>26}",
        "", "fetch-assets", "Python SDK schedule"
    );
    println!(
        "{:<10} {:>10} {:>13}   {:>10} {:>15}",
        "running", "late (s)", "requests", "late (s)", "requests"
    );
    for (i, running) in RUNNING.iter().enumerate() {
        println!(
            "{:<10} {:>10.3} {:>13.2}   {:>10.3} {:>15.2}",
            format!("{running} s"),
            ours.per_length[i].0,
            ours.per_length[i].1,
            sdk.per_length[i].0,
            sdk.per_length[i].1
        );
    }
    println!(
        "{:<10} {:>10.3} {:>13.2}   {:>10.3} {:>15.2}",
        "mean", ours.late, ours.requests, sdk.late, sdk.requests
    );
    println!(
        "{:<10} {:>10} {:>13}   {:>10} {:>15}",
        "most", "", ours.most, "", sdk.most
    );
    println!(
        "{:<10} {:>10} {:>13}",
        "target",
        format!("<= {TARGET_LATE}"),
        format!("<= {TARGET_REQUESTS}")
    );
    println!();
    println!(
        "first request {:.3} s after the fake started (median; fetch-assets), {:.3} s (SDK schedule)",
        ours.first, sdk.first
    );
    let met = ours.late <= TARGET_LATE && ours.requests <= TARGET_REQUESTS;
    let beats = ours.late < sdk.late && ours.requests < sdk.requests;
    println!(
        "targets {}; {} the Python SDK's schedule on both",
        if met { "met" } else { "MISSED" },
        if beats { "beats" } else { "does NOT beat" }
    );
}
