//! `cargo run -p fake-tripo`: the fake Tripo service on its own, serving the
//! demo task until Ctrl-C, so the real `fetch-assets` can be tried against
//! it from another terminal, as often and with whatever options one likes.
//!
//! `fake-tripo serve SPEC`: the fake for a test in another language (the
//! Python package's pytest suite), serving the scenario a JSON spec
//! describes, and answering commands on stdin until it closes.

use std::io::{BufRead, Write};
use std::time::Duration;

use fake_tripo::{DEMO_CUT, DEMO_REFUSED, FakeTripo, Scenario, demo_scenario};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Long enough to read what follows and start a run while the task waits.
const QUEUED: Duration = Duration::from_secs(15);
const RUNNING: Duration = Duration::from_secs(30);

const HELP: &str = "\
fake-tripo: an offline fake of the Tripo task API (127.0.0.1) and its CDN (127.0.0.2)

Usage:
  fake-tripo              serve the demo task until Ctrl-C, and say how to try it
  fake-tripo serve SPEC   serve the scenario SPEC describes (JSON text, or @FILE),
                          for tests in other languages (python/tests)
  fake-tripo --help       this text

`serve` prints one JSON line once the fake listens:
  {\"api_key\", \"task_id\", \"v2_base\", \"v3_base\", \"cdn_base\"}
then answers one JSON line per command read on stdin:
  stats        the counters: task_requests, list_requests, api_requests[],
               cdn_requests[] (file, range, if_range, status, body_bytes_sent, ...),
               success_at, first_success_served_at (times in seconds from start)
  file NAME    {\"len\", \"sha256\"} of the content served for file NAME
and stops when stdin closes. The spec's keys (each optional but the answer):
  fixture | answer, task_id, api_key, phases [[status, secs]],
  phases_from_first_request, link_lifetime (secs), files {name: size},
  throttle (bytes/s), damaged [name], validators, faults {name: {...}},
  api_faults [...], tasks {id: {fixture | answer, phases}}
(tests/support/src/spec.rs tells each).
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => demo(),
        ["-h" | "--help" | "help"] => print!("{HELP}"),
        ["serve", spec] => serve(spec),
        _ => {
            eprint!("fake-tripo: unexpected arguments {args:?}\n\n{HELP}");
            std::process::exit(2);
        }
    }
}

/// Serves the scenario of a spec, answering commands on stdin until it closes.
fn serve(spec: &str) {
    let text = match spec.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_else(|e| fail(&format!("cannot read the spec {path}: {e}"))),
        None => spec.to_owned(),
    };
    let spec: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(&format!("the spec is not JSON: {e}")));
    let scenario = Scenario::from_spec(&spec).unwrap_or_else(|e| fail(&format!("the spec: {e}")));
    let fake = FakeTripo::start(scenario);
    say(&json!({
        "api_key": fake.api_key(),
        "task_id": fake.task_id(),
        "v2_base": fake.v2_base(),
        "v3_base": fake.v3_base(),
        "cdn_base": fake.cdn_base(),
    }));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("stats"), None) => say(&fake.stats().to_json()),
            (Some("file"), Some(name)) => {
                let bytes = fake.file_bytes(name);
                say(&json!({
                    "len": bytes.len(),
                    "sha256": format!("{:x}", Sha256::digest(&bytes)),
                }));
            }
            (None, _) => {}
            _ => say(&json!({"error": format!("unknown command `{line}`")})),
        }
    }
}

fn say(value: &Value) {
    let mut stdout = std::io::stdout().lock();
    // Whoever started us stopped reading: nothing more to do.
    if writeln!(stdout, "{value}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn fail(message: &str) -> ! {
    eprintln!("fake-tripo: {message}");
    std::process::exit(2);
}

fn demo() {
    let fake = FakeTripo::start(demo_scenario(QUEUED, RUNNING));
    let task = fake.task_id();
    println!(
        "\
The fake Tripo service is up (offline: API on 127.0.0.1, CDN on 127.0.0.2).

Task {task}: queued for {queued} s, then running for {running} s, then it
succeeds with 10 files. The CDN refuses the first link of {DEMO_REFUSED}
(fetch-assets renews it) and cuts the first transfer of {} after {} bytes
(fetch-assets resumes it).

In another terminal, from this checkout:

  export TRIPO_API_BASE={base}
  export TRIPO_API_KEY={key}
  cargo run -- {task} out

Then try: `cargo run -- verify out`; the same run again (it keeps what is
complete); `NO_COLOR=1 cargo run -- --force {task} out` (the plain log CI
gets); a task it does not know, `cargo run -- no-such-task out2` (exit 3);
`TRIPO_API_KEY=tsk_wrong cargo run -- {task} out2` (exit 3).

Ctrl-C stops the service.",
        DEMO_CUT.0,
        DEMO_CUT.1,
        queued = QUEUED.as_secs(),
        running = RUNNING.as_secs(),
        base = fake.v2_base(),
        key = fake.api_key(),
    );
    // Serve until the process is stopped: Ctrl-C ends it, fake and all.
    loop {
        std::thread::park();
    }
}
