//! `listen`: how soon a delivery turns into transfers, and how many
//! deliveries a second it acknowledges (each journaled and synced to disk
//! before its answer).
//!
//!     cargo bench --bench listen
//!
//! The release binary listens on loopback against the in-process fake.
//! 1. Delivery to first byte: a signed `task.completed` with three outputs
//!    is POSTed; the time counted runs from the moment the sender opened its
//!    connection to the first request the fake's CDN saw for the task's
//!    files (the fake's own clock for both). Between rounds the task's folder
//!    is removed, so each delivery is fetched anew.
//! 2. Acknowledged deliveries a second: signed `task.failed` deliveries,
//!    each for a task of its own (so each is journaled, synced, answered
//!    `202` and recorded), sent by 1 and by 16 senders at once, each
//!    delivery on a connection of its own.
//!
//! Under a minute in all.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, median, runs, scratch_dir};
use fake_tripo::{Delivery, FakeTripo, Scenario};
use serde_json::json;

const SECRET: &str = "whsec_bench_0123456789abcdef";
const TASK: &str = "9d1c6a2e-5b7f-4e08-b3a4-6f2e8d0c1b95";
const ROUNDS: usize = 30;
const DELIVERIES: usize = 400;

fn scenario() -> Scenario {
    Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success", "input": {},
        "output": {
            "model_url": "cdn:model.glb",
            "rendered_image_url": "cdn:preview.webp",
            "generate_multiview_image": {"front_view_url": "cdn:front.png"},
        },
        "progress": 100, "create_time": 1_795_900_000,
    }}))
}

/// The release binary listening on a port of its own, and where.
struct Listening {
    child: Child,
    addr: std::net::SocketAddr,
    _logs: tempfile::TempDir,
}

impl Listening {
    fn start(fake: &FakeTripo, root: &Path) -> Listening {
        let logs = tempfile::tempdir().expect("tempdir");
        let stderr = logs.path().join("stderr");
        let child = Command::new(binary())
            .env("TRIPO_API_KEY", fake.api_key())
            .env("TRIPO_API_BASE", fake.v3_base())
            .env("TRIPO_WEBHOOK_SECRET", SECRET)
            .args(["listen", "--addr", "127.0.0.1:0"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("the binary starts");
        // Owned from here on: a panic below still stops and waits for it.
        let mut listening = Listening {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
            _logs: logs,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&stderr).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|line| {
                let rest = line.split_once("listening on http://")?.1;
                rest.split_whitespace().next()?.parse().ok()
            }) {
                listening.addr = addr;
                return listening;
            }
            assert!(Instant::now() < deadline, "listen never started: {text}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Milliseconds from each delivery to the first CDN request it caused.
fn first_byte_latencies() -> Vec<f64> {
    let fake = FakeTripo::start(scenario());
    let root = scratch_dir();
    let listening = Listening::start(&fake, root.path());
    let task_dir = root.path().join(TASK);
    let mut latencies = Vec::new();
    for round in 0..runs(ROUNDS) {
        let cdn_before = fake.stats().cdn_requests.len();
        let answer = fake.deliver(listening.addr, &Delivery::completed(SECRET));
        assert_eq!(answer.status, 202, "round {round}: {}", answer.body);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !task_dir.join("manifest.json").exists() {
            assert!(Instant::now() < deadline, "round {round} never completed");
            std::thread::sleep(Duration::from_millis(2));
        }
        let stats = fake.stats();
        let sent = stats.deliveries.last().expect("a delivery").sent_at;
        let first = stats.cdn_requests[cdn_before..]
            .iter()
            .map(|r| r.at)
            .min()
            .expect("CDN requests");
        latencies.push(first.saturating_sub(sent).as_secs_f64() * 1000.0);
        // Fetched anew next round: the folder is no longer complete.
        std::fs::remove_dir_all(&task_dir).expect("remove the task folder");
    }
    assert_eq!(fake.stats().task_requests, 0, "no task request at all");
    latencies
}

/// Deliveries a second acknowledged with `senders` at once.
fn acknowledged_per_second(senders: usize) -> f64 {
    let fake = FakeTripo::start(Scenario::new("failed"));
    let root = scratch_dir();
    let listening = Listening::start(&fake, root.path());
    let total = runs(DELIVERIES) - runs(DELIVERIES) % senders;
    let each = total / senders;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for sender in 0..senders {
            let (fake, addr) = (&fake, listening.addr);
            scope.spawn(move || {
                for i in 0..each {
                    let task = format!("bench-{senders}-{sender}-{i}");
                    let body = json!({
                        "id": format!("{task}:task.failed"), "type": "task.failed",
                        "created_at": "2026-11-29T02:00:00Z",
                        "data": {"task_id": task, "status": "failed", "error_code": 1001, "output": {}},
                    });
                    let delivery = Delivery::failed(SECRET)
                        .raw_body(serde_json::to_vec(&body).expect("json"));
                    let answer = fake.deliver(addr, &delivery);
                    assert_eq!(answer.status, 202, "{}", answer.body);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    drop(listening);
    let journal = std::fs::read_to_string(root.path().join(".fetch-assets/listen.journal"))
        .expect("the journal");
    assert!(
        journal.matches("\"received\"").count() >= total,
        "every delivery journaled"
    );
    total as f64 / elapsed
}

fn main() {
    // SAFETY: first thing in main; no other thread runs yet.
    unsafe { common::no_proxies() };
    let mut latencies = first_byte_latencies();
    latencies.sort_by(f64::total_cmp);
    let p90 = latencies[(latencies.len() * 9 / 10).min(latencies.len() - 1)];
    println!(
        "delivery to first CDN request ({} deliveries): median {:.1} ms, p90 {:.1} ms, max {:.1} ms; 0 task requests",
        latencies.len(),
        median(&latencies),
        p90,
        latencies.last().copied().unwrap_or_default()
    );
    for senders in [1, 16] {
        let rate = acknowledged_per_second(senders);
        println!(
            "acknowledged (journaled and synced) with {senders:>2} sender(s): {rate:.0} deliveries/s"
        );
    }
}
