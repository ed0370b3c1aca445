//! The third hostile-input audit (issue 23): a listener that stays up, runs
//! that always end, and state that is only ever ours. Each test is one of
//! the audit's findings, as a user would meet it.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::fetch_assets;
use fake_tripo::{FakeTripo, Scenario, TaskSpec};

const TASK: &str = "a1000000-0000-4000-8000-000000000001";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn scenario() -> Scenario {
    Scenario::new("v3_model_pbr_same").task_id(TASK)
}

/// A file where OUT_ROOT should be fails `batch` and `listen` at once, as a
/// usage error, before any request: not after waiting for every task.
#[test]
fn out_root_a_file_exits_2_before_any_request() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let file = root.path().join("assets");
    std::fs::write(&file, b"not a folder").expect("a file");

    fetch_assets(&fake, &fake.v3_base())
        .args(["batch", "--timeout", "1h"])
        .arg(&file)
        .arg(TASK)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is a file, not a folder"));
    fetch_assets(&fake, &fake.v3_base())
        .args(["listen", "--addr", "127.0.0.1:0", "--secret", SECRET])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is a file, not a folder"));

    let stats = fake.stats();
    assert!(stats.api_requests.is_empty(), "{:?}", stats.api_requests);
    assert!(stats.cdn_requests.is_empty());
    assert_eq!(std::fs::read(&file).expect("still there"), b"not a folder");
    assert_eq!(common::listing(root.path()), ["assets"]);
}

/// A list saved by Notepad or PowerShell 5 starts with a UTF-8 byte-order
/// mark (and ends lines with CRLF): the mark is skipped, not read as part
/// of the first id, from a file and from stdin alike.
#[test]
fn an_id_list_that_starts_with_a_byte_order_mark_is_read() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let list = root.path().join("ids.txt");
    let text = format!("\u{feff}{TASK}\r\n# the chest\r\n");
    std::fs::write(&list, &text).expect("write the list");
    let out = root.path().join("assets");
    let run = fetch_assets(&fake, &fake.v3_base())
        .args(["batch", "--json", "--from"])
        .arg(&list)
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(common::verify_passes(&out.join(TASK)));

    fetch_assets(&fake, &fake.v3_base())
        .args(["batch", "--from", "-"])
        .arg(&out)
        .write_stdin(text)
        .assert()
        .success();
}

/// `--timeout` is kept whatever the count of tasks: 400 tasks asked for one
/// `GET` at a time (20 a second) would take 20 s a round, but the round
/// stops at the deadline and every task still pending times out (exit 4).
#[test]
fn a_batch_of_400_pending_tasks_stops_asking_at_its_timeout() {
    let ids: Vec<String> = (0..400)
        .map(|i| format!("e5000000-0000-4000-8000-{i:012}"))
        .collect();
    let forever = |spec: TaskSpec| spec.phase("running", Duration::from_secs(3600));
    let mut scenario = Scenario::new("v2_all_outputs")
        .task_id(&ids[0])
        .phase("running", Duration::from_secs(3600));
    for id in &ids[1..] {
        scenario = scenario.task(id, forever(TaskSpec::new("v2_all_outputs")));
    }
    let fake = FakeTripo::start(scenario);
    let root = tempfile::tempdir().expect("tempdir");
    let run = fetch_assets(&fake, &fake.v2_base())
        .args(["batch", "--json", "--timeout", "2s"])
        .arg(root.path())
        .args(&ids)
        .assert()
        .code(4);
    let stdout = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    assert_eq!(stdout.lines().count(), 400, "a line for every task");
    assert!(stdout.lines().all(|l| l.contains("\"exit_code\":4")));

    // 2 s at 20 GETs a second is about 40 requests (and a few in flight):
    // nowhere near one for each of the 400 tasks.
    let asked = fake.stats().api_requests.len();
    assert!(asked < 200, "{asked} requests after a 2 s timeout");
}

/// `listen`'s state is trusted no more than a run's folder: a journal that
/// is a link to `/dev/zero` (read until memory runs out), a FIFO (which
/// would hang the start), or a state folder that is a link out of OUT_ROOT
/// (which would put the journal elsewhere) stops it at once, exit 2, and
/// nothing is written through the link.
#[test]
fn a_listen_journal_or_state_folder_that_is_not_ours_is_refused() {
    let fake = FakeTripo::start(scenario());
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let listen = |root: &Path| {
        fetch_assets(&fake, &fake.v3_base())
            .args(["listen", "--addr", "127.0.0.1:0", "--secret", SECRET])
            .arg(root)
            .timeout(Duration::from_secs(20))
            .assert()
            .code(2)
            .stderr(predicates::str::contains("fetch-assets listen made"));
    };

    let zero = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(zero.path().join(".fetch-assets")).expect("mkdir");
    std::os::unix::fs::symlink(
        "/dev/zero",
        zero.path().join(".fetch-assets/listen.journal"),
    )
    .expect("symlink");
    listen(zero.path());

    let fifo = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(fifo.path().join(".fetch-assets")).expect("mkdir");
    let made = std::process::Command::new("mkfifo")
        .arg(fifo.path().join(".fetch-assets/listen.journal"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    listen(fifo.path());

    let linked = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(elsewhere.path(), linked.path().join(".fetch-assets"))
        .expect("symlink");
    listen(linked.path());
    assert!(
        common::listing(elsewhere.path()).is_empty(),
        "nothing written outside"
    );
    assert!(fake.stats().api_requests.is_empty());
}

/// Where `listen` (run as `Background`) listens, from its first line.
fn listening_addr(run: &mut common::Background) -> std::net::SocketAddr {
    let mut addr = None;
    common::wait_for("the listening line", Duration::from_secs(20), || {
        assert!(run.is_running(), "listen ended early: {}", run.stderr());
        addr = run.stderr().lines().find_map(|line| {
            let rest = line.split_once("listening on http://")?.1;
            rest.split_whitespace().next()?.parse().ok()
        });
        addr.is_some()
    });
    addr.expect("an address")
}

/// Many deliveries at once under a low open-file limit: tasks run a few at
/// a time (waiting ones hold no file), so none fails for "too many open
/// files" and every one lands.
#[test]
fn many_deliveries_under_a_low_file_limit_all_land() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "ulimit -n 128 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_fetch-assets"))
        .args([
            "listen",
            "--json",
            "--concurrency",
            "1",
            "--addr",
            "127.0.0.1:0",
        ])
        .args(["--secret", SECRET])
        .arg(root.path())
        .env("TRIPO_API_KEY", fake.api_key())
        .env("TRIPO_API_BASE", fake.v3_base());
    for proxy in fake_tripo::PROXY_VARIABLES {
        command.env_remove(proxy);
    }
    let mut run = common::Background::spawn(command);
    let addr = listening_addr(&mut run);

    let tasks: Vec<String> = (0..100)
        .map(|i| format!("f6000000-0000-4000-8000-{i:012}"))
        .collect();
    for task in &tasks {
        let delivery = fake_tripo::Delivery::completed(SECRET).for_task(task);
        assert_eq!(fake.deliver(addr, &delivery).status, 202);
    }
    common::wait_for("a report for every task", Duration::from_secs(120), || {
        run.stdout().lines().count() >= tasks.len()
    });
    for line in run.stdout().lines() {
        let report: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(report["status"], "ok", "{report}");
    }
    for task in &tasks {
        assert!(common::verify_passes(&root.path().join(task)), "{task}");
    }
    run.signal("TERM");
    assert_eq!(run.exit(Duration::from_secs(10)).code(), Some(0));
}

/// A manifest over 1 MiB (40 outputs under 30,000-character field names)
/// is written, and read back: `verify` passes and a re-run keeps every
/// file without a request.
#[test]
fn a_manifest_over_a_mebibyte_is_read_back() {
    let mut output = serde_json::Map::new();
    let mut scenario_files = Vec::new();
    for i in 0..40 {
        let field = format!("{}_{i:02}_url", "x".repeat(30_000));
        let name = format!("f{i:02}.png");
        output.insert(field, serde_json::json!(format!("cdn:{name}")));
        scenario_files.push(name);
    }
    let answer = serde_json::json!({"code": 0, "data": {
        "task_id": TASK, "type": "text_to_model", "status": "success",
        "input": {}, "progress": 100, "create_time": 1_795_887_300,
        "output": output,
    }});
    let mut scenario = Scenario::from_json(answer);
    for name in &scenario_files {
        scenario = scenario.file_size(name, 200);
    }
    let fake = FakeTripo::start(scenario);
    let out = tempfile::tempdir().expect("tempdir");
    common::fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    let size = std::fs::metadata(out.path().join("manifest.json"))
        .expect("a manifest")
        .len();
    assert!(size > 1 << 20, "the manifest is over 1 MiB: {size}");
    assert!(common::verify_passes(out.path()));

    let before = fake.stats().cdn_requests.len();
    common::fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert_eq!(
        fake.stats().cdn_requests.len(),
        before,
        "nothing fetched again"
    );
}

/// A staged file hard-linked to a file outside (as `cp -al` or a snapshot
/// backup leaves one) is never written through: the run starts that file
/// over under a name of its own, and the outside file keeps its bytes.
#[test]
fn a_hard_linked_staged_file_is_never_written_through() {
    let fake = FakeTripo::start(scenario());
    let out = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let outside = elsewhere.path().join("precious.bin");
    let precious = b"someone else's bytes, not to be truncated".to_vec();
    std::fs::write(&outside, &precious).expect("write");
    let staging = out.path().join(".fetch-assets");
    std::fs::create_dir(&staging).expect("mkdir");
    std::fs::hard_link(&outside, staging.join("model.part")).expect("link");

    common::fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert!(
        std::fs::read(&outside).expect("outside") == precious,
        "the file outside was written through its link"
    );
    assert!(common::sha256sum_accepts(out.path()));
    assert!(common::verify_passes(out.path()));
}

/// A port free a moment ago on 127.0.0.1, for a listener whose stderr
/// (where it says its address) nobody reads.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process killed when the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A closed stderr (its reader gone) does not stop `listen`: the lines it
/// cannot write are dropped, and it goes on answering: an unsigned request
/// is refused, a good delivery fetched and reported on stdout, SIGTERM
/// still ends it with exit 0.
#[test]
fn a_closed_stderr_does_not_stop_the_listener() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let stdout = logs.path().join("stdout");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("an address");
    let mut command = common::command(&fake, &fake.v3_base());
    command
        .args(["listen", "--json", "--secret", SECRET, "--addr"])
        .arg(addr.to_string())
        .arg(root.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::process::Stdio::piped());
    let mut child = Killed(command.spawn().expect("listen starts"));
    drop(child.0.stderr.take());

    common::wait_for("the listener", Duration::from_secs(20), || {
        assert!(
            child.0.try_wait().expect("wait").is_none(),
            "listen ended early"
        );
        std::net::TcpStream::connect(addr).is_ok()
    });
    let unsigned = fake_tripo::Delivery::completed(SECRET).signature_header(None);
    assert_eq!(fake.deliver(addr, &unsigned).status, 401);
    let good = fake_tripo::Delivery::completed(SECRET);
    assert_eq!(fake.deliver(addr, &good).status, 202);
    common::wait_for("the task's report", Duration::from_secs(30), || {
        std::fs::read_to_string(&stdout).is_ok_and(|s| s.contains("\"status\":\"ok\""))
    });
    assert!(child.0.try_wait().expect("wait").is_none(), "still serving");

    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = child.0.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// Every id is read before the first request, so an endless list (`yes id
/// |`) is cut off with a usage error, before any request, instead of
/// growing memory for ever.
#[test]
fn an_endless_id_list_is_a_usage_error_before_any_request() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let line = format!("{TASK}\n");
    let endless = line.repeat((9 << 20) / line.len());
    fetch_assets(&fake, &fake.v3_base())
        .args(["batch", "--from", "-"])
        .arg(root.path())
        .write_stdin(endless)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("split them into several batches"));
    assert!(fake.stats().api_requests.is_empty());
}

/// Deliveries the journal holds open are fetched again on start, through
/// the API: paced (20 a second at most, as `batch` asks task by task), not
/// all at once however many there are.
#[test]
fn deliveries_resumed_on_start_ask_the_api_paced() {
    let fake = FakeTripo::start(scenario());
    let root = tempfile::tempdir().expect("tempdir");
    let state = root.path().join(".fetch-assets");
    std::fs::create_dir(&state).expect("mkdir");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let journal: String = (0..20)
        .map(|i| {
            let record = serde_json::json!({
                "record": "received", "delivery": format!("dlv_resumed_{i}"),
                "task_id": format!("f7000000-0000-4000-8000-{i:012}"),
                "event": "task.completed", "at": now,
            });
            format!("{record}\n")
        })
        .collect();
    std::fs::write(state.join("listen.journal"), journal).expect("a journal");

    let mut command = common::command(&fake, &fake.v3_base());
    command
        .args([
            "listen",
            "--json",
            "--addr",
            "127.0.0.1:0",
            "--secret",
            SECRET,
        ])
        .arg(root.path());
    let mut run = common::Background::spawn(command);
    listening_addr(&mut run);
    common::wait_for("a report for each", Duration::from_secs(60), || {
        run.stdout().lines().count() >= 20
    });
    let asked: Vec<Duration> = fake.stats().api_requests.iter().map(|r| r.at).collect();
    assert!(asked.len() >= 20, "{asked:?}");
    let spread = asked[19].saturating_sub(asked[0]);
    assert!(
        spread >= Duration::from_millis(800),
        "20 resumed tasks asked for within {spread:?}"
    );
    run.signal("TERM");
    assert_eq!(run.exit(Duration::from_secs(10)).code(), Some(0));
}

/// A file cut mid-run, then changed, at a CDN with no strong validator
/// (none at all, a weak `ETag`, or a `Last-Modified` equal to its `Date`):
/// nothing shows the rest is of the same version, so the file starts over
/// and lands whole in its new version, never as a splice of the two.
#[test]
fn without_a_strong_validator_a_cut_file_starts_over_within_the_run() {
    use fake_tripo::{FileFault, Validators};
    for validators in [
        Validators::None,
        Validators::WeakETagOnly,
        Validators::LastModifiedAtDate,
    ] {
        let answer = serde_json::json!({"code": 0, "data": {
            "task_id": TASK, "type": "text_to_model", "status": "success",
            "input": {}, "progress": 100, "create_time": 1_795_887_300,
            "output": {"model_url": "cdn:model.glb"},
        }});
        let fake = FakeTripo::start(
            Scenario::from_json(answer)
                .file_size("model.glb", 4 << 20)
                .validators(validators)
                .fault(
                    "model.glb",
                    FileFault {
                        cut_after: Some(1 << 20),
                        new_version_after: Some(1),
                        ignore_if_range: true,
                        ..FileFault::default()
                    },
                ),
        );
        let out = tempfile::tempdir().expect("tempdir");
        common::fetch_into(&fake, &fake.v3_base(), out.path())
            .assert()
            .success();
        let got = std::fs::read(out.path().join("model.glb")).expect("model");
        assert!(
            got == fake.file_version_bytes("model.glb", 1),
            "{validators:?}: the new version, whole, never a splice"
        );
    }
}
