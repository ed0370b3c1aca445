//! `fetch-assets listen`: the real binary in the background, real HTTP
//! deliveries signed per the scheme by the fake's webhook sender, and the
//! fake's request log to show what was (and was not) asked of the API and
//! the CDN.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Background, assert_same_bytes, fetch_assets, listing, sha256sum_accepts, wait_for};
use fake_tripo::{Delivery, FakeTripo, FileFault, LinkStyle, Scenario};
use serde_json::{Value, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TASK: &str = "4c0e7a51-2b9d-4f36-8a1e-93d5c2b7f604";
const FILES: [(&str, &str); 3] = [
    ("model.glb", "model.glb"),
    ("rendered_image.webp", "preview.webp"),
    ("multiview_0_front.png", "front.png"),
];

fn scenario() -> Scenario {
    Scenario::from_json(json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success", "input": {},
        "output": {
            "model_url": "cdn:model.glb",
            "rendered_image_url": "cdn:preview.webp",
            "generate_multiview_image": {"front_view_url": "cdn:front.png"},
        },
        "progress": 100, "created_at": "2026-11-29T01:00:00Z",
    }}))
}

/// `fetch-assets listen` running against the fake, and where it listens.
struct Listener {
    run: Background,
    addr: SocketAddr,
    root: PathBuf,
}

impl Listener {
    fn start(fake: &FakeTripo, root: &Path, extra: &[&str]) -> Listener {
        let mut command = common::command(fake, &fake.v3_base());
        command
            .args(["listen", "--addr", "127.0.0.1:0", "--secret", SECRET])
            .args(extra)
            .arg(root);
        Listener::spawn(command, root)
    }

    fn spawn(command: Command, root: &Path) -> Listener {
        let mut run = Background::spawn(command);
        let mut addr = None;
        wait_for("the listening line", Duration::from_secs(20), || {
            assert!(run.is_running(), "listen ended early: {}", run.stderr());
            addr = run.stderr().lines().find_map(|line| {
                let rest = line.split_once("listening on http://")?.1;
                rest.split_whitespace().next()?.parse().ok()
            });
            addr.is_some()
        });
        Listener {
            run,
            addr: addr.expect("an address"),
            root: root.to_owned(),
        }
    }

    fn task_dir(&self) -> PathBuf {
        self.root.join(TASK)
    }

    /// The `--json` lines so far.
    fn reports(&self) -> Vec<Value> {
        self.run
            .stdout()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
            .collect()
    }

    fn wait_for_reports(&self, count: usize) -> Vec<Value> {
        wait_for("the task's report", Duration::from_secs(30), || {
            self.reports().len() >= count
        });
        self.reports()
    }

    /// Stops the listener (SIGTERM, exit 0) and returns its `--json` lines
    /// and its stderr, complete: nothing more can come once it has exited.
    fn stop(mut self) -> (Vec<Value>, String) {
        self.run.signal("TERM");
        let status = self.run.exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{}", self.run.stderr());
        (self.reports(), self.run.stderr())
    }
}

/// The journal's records, parsed.
fn journal(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join(".fetch-assets").join("listen.journal"))
        .unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("journal lines are JSON"))
        .collect()
}

fn get(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_good_delivery_is_fetched_at_once_with_no_task_request() {
    let fake = FakeTripo::start(scenario().task_id(TASK));
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &["--json"]);
    assert_eq!(get(listener.addr, "/healthz"), 200);
    assert_eq!(get(listener.addr, "/tripo/healthz"), 200, "behind a prefix");

    let answer = fake.deliver(listener.addr, &Delivery::completed(SECRET));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let reports = listener.wait_for_reports(1);

    let dir = listener.task_dir();
    assert_eq!(
        reports[0],
        json!({"task_id": TASK, "dir": dir.to_str(), "status": "ok", "exit_code": 0,
               "files": 3, "bytes": FILES.iter().map(|(_, s)| fake.file_len(s)).sum::<u64>(),
               "error": null})
    );
    assert_same_bytes(&fake, &dir, &FILES);
    assert!(sha256sum_accepts(&dir));
    let stats = fake.stats();
    assert!(
        stats.api_requests.is_empty(),
        "no task request: the delivery carried the links ({:?})",
        stats.api_requests
    );
    for (_, served) in FILES {
        assert_eq!(stats.requests_for(served), 1, "{served} fetched once");
    }
    assert_eq!(stats.deliveries.len(), 1);
    assert!(
        stats
            .cdn_requests
            .iter()
            .all(|r| r.at >= stats.deliveries[0].sent_at),
        "the transfers came from the delivery"
    );
    assert!(
        listener
            .run
            .stderr()
            .contains(&format!("{TASK}: ok, 3 files")),
        "{}",
        listener.run.stderr()
    );
    let records = journal(root.path());
    assert_eq!(records.len(), 2, "received, then closed: {records:?}");
    assert_eq!(records[1]["record"], "closed");
    let text =
        std::fs::read_to_string(root.path().join(".fetch-assets/listen.journal")).expect("journal");
    assert!(
        !text.contains("Signature=") && !text.contains(SECRET),
        "no signed link or secret in the journal"
    );
    assert!(!listener.run.stderr().contains(SECRET));
    listener.stop();
}

#[test]
fn deliveries_not_signed_by_the_service_change_nothing() {
    let fake = FakeTripo::start(scenario().task_id(TASK));
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &["--json"]);
    let forged = format!("t={},v1={}", now(), "ab".repeat(32));
    let signed_big = vec![b' '; (1 << 20) + 1];
    let cases = [
        ("wrong secret", Delivery::completed("whsec_someone_else"), 401),
        (
            "secret without its whsec_ prefix",
            Delivery::completed(SECRET.trim_start_matches("whsec_")),
            401,
        ),
        (
            "forged signature",
            Delivery::completed(SECRET).signature_header(Some(&forged)),
            401,
        ),
        (
            "no signature",
            Delivery::completed(SECRET).signature_header(None),
            401,
        ),
        (
            "garbled signature",
            Delivery::completed(SECRET).signature_header(Some("sha256=deadbeef")),
            401,
        ),
        (
            "six minutes old",
            Delivery::completed(SECRET).signed_at_offset(-360),
            401,
        ),
        (
            "six minutes ahead",
            Delivery::completed(SECRET).signed_at_offset(360),
            401,
        ),
        (
            "over 1 MiB",
            Delivery::completed(SECRET).raw_body(signed_big),
            413,
        ),
        (
            "not JSON",
            Delivery::completed(SECRET).raw_body(b"model ready!".to_vec()),
            400,
        ),
        (
            "JSON, not an event",
            Delivery::completed(SECRET).raw_body(br#"{"task_id":"x"}"#.to_vec()),
            400,
        ),
        (
            "a task id that is a path",
            Delivery::completed(SECRET).raw_body(
                br#"{"type":"task.completed","id":"x","data":{"task_id":"../../etc","status":"success","output":{}}}"#
                    .to_vec(),
            ),
            400,
        ),
    ];
    for (what, delivery, status) in cases {
        let answer = fake.deliver(listener.addr, &delivery);
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
    }
    assert_eq!(
        fake.deliver(
            listener.addr,
            &Delivery::event("balance.low", SECRET).raw_body(
                br#"{"id":"acct:balance.low","type":"balance.low","data":{"balance":3}}"#.to_vec()
            )
        )
        .status,
        200,
        "other events are acknowledged"
    );

    let stats = fake.stats();
    assert!(stats.api_requests.is_empty() && stats.cdn_requests.is_empty());
    assert_eq!(listing(root.path()), [".fetch-assets"], "no task folder");
    assert!(journal(root.path()).is_empty(), "nothing journaled");
    assert!(listener.reports().is_empty());
    let stderr = listener.run.stderr();
    assert!(stderr.contains("refused a delivery with 401"), "{stderr}");
    assert!(!stderr.contains(SECRET), "the secret is never printed");

    // While a secret rotates the service signs with both: either v1 will do.
    let rotated = Delivery::completed("whsec_the_old_one").also_signed_with(SECRET);
    assert_eq!(fake.deliver(listener.addr, &rotated).status, 202);
    assert_eq!(listener.wait_for_reports(1)[0]["status"], "ok");
    assert_same_bytes(&fake, &listener.task_dir(), &FILES);
    listener.stop();
}

#[test]
fn a_task_is_fetched_once_however_often_it_is_delivered() {
    // Slow enough that repeats arrive while the first fetch is still running.
    let fake = FakeTripo::start(scenario().task_id(TASK).fault(
        "model.glb",
        FileFault {
            throttle: Some(20_000),
            ..FileFault::default()
        },
    ));
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &["--json", "-v"]);
    let first = Delivery::completed(SECRET);
    assert_eq!(fake.deliver(listener.addr, &first).status, 202);
    assert_eq!(
        fake.deliver(listener.addr, &first).status,
        200,
        "the service's retry"
    );
    assert_eq!(
        fake.deliver(listener.addr, &Delivery::completed(SECRET))
            .status,
        200,
        "another delivery while the task is in flight"
    );
    listener.wait_for_reports(1);
    assert_eq!(
        fake.deliver(listener.addr, &first).status,
        200,
        "a late retry"
    );
    assert_eq!(
        fake.deliver(listener.addr, &Delivery::completed(SECRET))
            .status,
        200,
        "a new delivery of a task complete in its folder"
    );
    // Every delivery has been answered; once the listener has exited, all
    // it would print or fetch for them is in.
    let (reports, stderr) = listener.stop();
    assert_eq!(reports.len(), 1, "one report: {reports:?}");
    for (_, served) in FILES {
        assert_eq!(
            fake.stats().requests_for(served),
            1,
            "{served} fetched once"
        );
    }
    assert_eq!(stderr.matches("not fetched again").count(), 4, "{stderr}");
}

#[test]
fn links_dead_on_arrival_are_renewed_through_the_api() {
    for style in [LinkStyle::CloudFrontCanned, LinkStyle::Opaque] {
        let fake = FakeTripo::start(scenario().task_id(TASK).link_style(style));
        let root = tempfile::tempdir().expect("tempdir");
        let listener = Listener::start(&fake, root.path(), &["--json"]);
        let answer = fake.deliver(listener.addr, &Delivery::completed(SECRET).dead_links());
        assert_eq!(answer.status, 202);
        let reports = listener.wait_for_reports(1);
        assert_eq!(reports[0]["status"], "ok", "{style:?}: {reports:?}");
        assert_same_bytes(&fake, &listener.task_dir(), &FILES);
        let stats = fake.stats();
        assert_eq!(
            stats.task_requests, 1,
            "{style:?}: one renewal for all three files"
        );
        assert!(stats.api_requests[0].had_valid_key);
        listener.stop();
    }
}

#[test]
fn without_an_api_key_a_task_whose_links_died_is_recorded_with_exit_code_3() {
    let fake = FakeTripo::start(scenario().task_id(TASK));
    let root = tempfile::tempdir().expect("tempdir");
    let mut command = common::command(&fake, &fake.v3_base());
    command
        .env_remove("TRIPO_API_KEY")
        .env("TRIPO_WEBHOOK_SECRET", SECRET)
        .args(["listen", "--addr", "127.0.0.1:0", "--json"])
        .arg(root.path());
    let listener = Listener::spawn(command, root.path());
    let answer = fake.deliver(listener.addr, &Delivery::completed(SECRET).dead_links());
    assert_eq!(answer.status, 202);
    let report = &listener.wait_for_reports(1)[0];
    assert_eq!(report["status"], "error");
    assert_eq!(report["exit_code"], 3);
    assert!(
        report["error"]
            .as_str()
            .is_some_and(|e| e.contains("TRIPO_API_KEY")),
        "{report}"
    );
    assert!(fake.stats().api_requests.is_empty(), "nothing to ask with");
    assert!(!listener.task_dir().join("manifest.json").exists());

    // A task that failed is closed, not retried on restart.
    listener.stop();
    let records = journal(root.path());
    assert_eq!(records.last().expect("records")["record"], "closed");
}

#[test]
fn task_failed_is_recorded_without_files() {
    let fake = FakeTripo::start(Scenario::new("failed"));
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &["--json"]);
    let answer = fake.deliver(listener.addr, &Delivery::failed(SECRET));
    assert_eq!(answer.status, 202);
    let report = &listener.wait_for_reports(1)[0];
    let task = fake.task_id();
    assert_eq!(report["task_id"], task);
    assert_eq!(report["status"], "error");
    assert_eq!(report["exit_code"], 6);
    assert_eq!(report["files"], 0);
    let stderr = listener.run.stderr();
    assert!(
        stderr.contains(&format!(
            "{task}: failed (exit code 6): task {task} ended as failed (error code 1001)"
        )),
        "{stderr}"
    );
    let stats = fake.stats();
    assert!(stats.api_requests.is_empty() && stats.cdn_requests.is_empty());
    assert_eq!(listing(root.path()), [".fetch-assets"]);
    listener.stop();
}

/// The file options of a single run hold for `listen` too: a damaged model
/// fails its task (exit code 5) by default, and lands as it arrived with
/// `--no-content-check`.
#[test]
fn listen_checks_content_unless_told_not_to() {
    for (extra, exit_code) in [(None, 5), (Some("--no-content-check"), 0)] {
        let fake = FakeTripo::start(scenario().task_id(TASK).damaged("model.glb"));
        let root = tempfile::tempdir().expect("tempdir");
        let args: Vec<&str> = ["--json"].into_iter().chain(extra).collect();
        let listener = Listener::start(&fake, root.path(), &args);
        let answer = fake.deliver(listener.addr, &Delivery::completed(SECRET));
        assert_eq!(answer.status, 202, "{}", answer.body);
        let report = &listener.wait_for_reports(1)[0];
        assert_eq!(report["exit_code"], exit_code, "{extra:?}: {report}");
        let model = listener.task_dir().join("model.glb");
        if exit_code == 0 {
            assert_same_bytes(&fake, &listener.task_dir(), &FILES);
        } else {
            assert!(!model.exists(), "a damaged model is never committed");
            let error = report["error"].as_str().expect("an error");
            assert!(error.contains("model.glb"), "{error}");
        }
        listener.stop();
    }
}

/// A fetch held mid-transfer: the model's first answer stalls after 4 KiB.
fn stalling() -> FakeTripo {
    FakeTripo::start(
        scenario()
            .task_id(TASK)
            .file_size("model.glb", 256 * 1024)
            .fault("model.glb", FileFault::stall_at(4096)),
    )
}

fn wait_until_in_flight(fake: &FakeTripo, listener: &mut Listener) {
    wait_for("the model to be in flight", Duration::from_secs(20), || {
        assert!(listener.run.is_running(), "{}", listener.run.stderr());
        fake.stats().bytes_sent_for("model.glb") >= 4096
    });
}

#[test]
fn a_delivery_acknowledged_before_a_kill_9_is_completed_on_restart() {
    let fake = stalling();
    let root = tempfile::tempdir().expect("tempdir");
    let mut listener = Listener::start(&fake, root.path(), &["--json"]);
    assert_eq!(
        fake.deliver(listener.addr, &Delivery::completed(SECRET))
            .status,
        202
    );
    wait_until_in_flight(&fake, &mut listener);
    listener.run.signal("KILL");
    listener.run.exit(Duration::from_secs(10));
    assert!(!listener.task_dir().join("manifest.json").exists());
    assert_eq!(fake.stats().task_requests, 0);

    // No new delivery: the journal alone brings the task back.
    let listener = Listener::start(&fake, root.path(), &["--json"]);
    let reports = listener.wait_for_reports(1);
    assert_eq!(reports[0]["status"], "ok", "{reports:?}");
    assert_same_bytes(&fake, &listener.task_dir(), &FILES);
    assert!(sha256sum_accepts(&listener.task_dir()));
    assert_eq!(
        listing(&listener.task_dir()),
        [
            "SHA256SUMS",
            "manifest.json",
            "model.glb",
            "multiview_0_front.png",
            "rendered_image.webp"
        ],
        "no temporary file left from the killed run"
    );
    assert_eq!(fake.stats().task_requests, 1, "fresh links from the API");
    assert!(
        listener.run.stderr().contains("resuming"),
        "{}",
        listener.run.stderr()
    );
    listener.stop();
}

#[test]
fn sigterm_and_sigint_stop_with_exit_0_and_leave_the_work_journaled() {
    for signal in ["TERM", "INT"] {
        let fake = stalling();
        let root = tempfile::tempdir().expect("tempdir");
        let mut listener = Listener::start(&fake, root.path(), &[]);
        assert_eq!(
            fake.deliver(listener.addr, &Delivery::completed(SECRET))
                .status,
            202
        );
        wait_until_in_flight(&fake, &mut listener);
        listener.run.signal(signal);
        let status = listener.run.exit(Duration::from_secs(10));
        assert_eq!(
            status.code(),
            Some(0),
            "{signal}: {}",
            listener.run.stderr()
        );
        let dir = listener.task_dir();
        assert!(
            !listing(&dir).iter().any(|name| name.ends_with(".part")),
            "{signal}: temporary files removed: {:?}",
            listing(&dir)
        );
        let records = journal(root.path());
        assert_eq!(records.len(), 1, "{signal}: {records:?}");
        assert_eq!(
            records[0]["record"], "received",
            "still open for the next start"
        );
    }
}

/// A second service, for a second task: deliveries carry their own links,
/// so one listener takes tasks whose files sit on two CDNs.
fn second_task() -> FakeTripo {
    FakeTripo::start(
        Scenario::from_json(json!({"code": 0, "data": {
            "task_id": "second-task-0002", "type": "text_to_model", "status": "success",
            "input": {}, "output": {"model_url": "cdn:other.glb"}, "progress": 100,
        }}))
        .api_key("tsk_not_the_first_services_key"),
    )
}

#[test]
fn concurrency_bounds_transfers_across_tasks() {
    for (concurrency, shared) in [("1", true), ("8", false)] {
        let first = stalling();
        let second = second_task();
        let root = tempfile::tempdir().expect("tempdir");
        let mut listener = Listener::start(
            &first,
            root.path(),
            &[
                "--json",
                "--stall-timeout",
                "1s",
                "--concurrency",
                concurrency,
            ],
        );
        assert_eq!(
            first
                .deliver(listener.addr, &Delivery::completed(SECRET))
                .status,
            202
        );
        wait_until_in_flight(&first, &mut listener);
        assert_eq!(
            second
                .deliver(listener.addr, &Delivery::completed(SECRET))
                .status,
            202
        );
        listener.wait_for_reports(2);
        // The first task's model stalled, was abandoned after 1 s, and resumed.
        let resumed_at = first.started_at()
            + first
                .stats()
                .cdn_requests
                .iter()
                .filter(|r| r.file == "model.glb")
                .map(|r| r.at)
                .nth(1)
                .expect("the stalled model resumed");
        let second_started_at = second.started_at() + second.stats().cdn_requests[0].at;
        if shared {
            assert!(
                second_started_at > resumed_at,
                "--concurrency 1: the second task waited for the first task's transfer"
            );
        } else {
            assert!(
                second_started_at < resumed_at,
                "--concurrency 8: the second task did not wait"
            );
        }
        for report in listener.reports() {
            assert_eq!(report["status"], "ok", "{report}");
        }
        listener.stop();
    }
}

#[test]
fn listen_refuses_to_start_without_a_secret() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("assets");
    fetch_assets(&fake, &fake.v3_base())
        .env_remove("TRIPO_WEBHOOK_SECRET")
        .args(["listen", "--addr", "127.0.0.1:0"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("TRIPO_WEBHOOK_SECRET"));
    assert!(!out.exists(), "nothing created");
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// Peers that connect and send nothing, or half their headers, cannot keep
/// a valid delivery waiting: each is closed once the header deadline
/// passes, and past the cap on connections new peers wait their turn.
#[test]
fn idle_and_half_sent_connections_are_closed_and_a_delivery_still_answered() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &["--json"]);

    // More than the receiver serves at once (64): idle ones, and ones that
    // stop in the middle of their headers.
    let mut held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(listener.addr).expect("connects"))
        .collect();
    for stream in held.iter_mut().take(20) {
        stream
            .write_all(b"POST /webhooks/tripo HTTP/1.1\r\nHost: x\r\nContent-Le")
            .expect("half the headers");
    }

    let answer = fake.deliver(listener.addr, &Delivery::completed(SECRET));
    assert_eq!(answer.status, 202, "{}", answer.body);
    listener.wait_for_reports(1);

    // Each held connection was closed by the receiver (end of stream, or a
    // reset), not left open for ever; a generous read timeout only keeps a
    // broken receiver from hanging the test.
    for stream in &mut held {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a read timeout");
        let mut rest = Vec::new();
        let closed = match stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => {
                e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
            }
        };
        assert!(closed, "a connection that sent no whole request was closed");
    }
    listener.stop();
}

/// An unsigned (or stale) request is refused from its headers: its body,
/// which a forger would make as large as allowed, is never waited for.
#[test]
fn an_unsigned_or_stale_delivery_is_refused_before_its_body_arrives() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &[]);
    let stale = format!("t={},v1=00", now() - 3600);
    for signature in [None, Some("t=1"), Some(stale.as_str())] {
        let mut stream = TcpStream::connect(listener.addr).expect("connects");
        let mut head = String::from(
            "POST /webhooks/tripo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n",
        );
        if let Some(signature) = signature {
            head.push_str(&format!("Tripo-Webhook-Signature: {signature}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("the headers");
        // Not one byte of the body is sent: the answer comes all the same.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("a read timeout");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "{signature:?}: {answer}"
        );
    }
    listener.stop();
}

/// What a signed delivery names (its type, its body's id) reaches the log
/// escaped, like all server text: no escape sequence reaches a terminal.
#[test]
fn a_signed_delivery_with_control_characters_is_logged_escaped() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&fake, root.path(), &[]);
    let body =
        json!({"id": "evt\u{1b}]0;owned\u{7}", "type": "ping\u{1b}[2J\nforged line", "data": {}});
    let answer = fake.deliver(
        listener.addr,
        &Delivery::event("ping", SECRET).raw_body(body.to_string().into_bytes()),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    wait_for("the delivery's line", Duration::from_secs(20), || {
        listener.run.stderr().contains("acknowledged")
    });
    let stderr = listener.run.stderr();
    assert!(
        stderr.contains("ping\\u{1b}[2J\\nforged line acknowledged"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    listener.stop();
}
