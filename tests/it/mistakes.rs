//! What a newcomer sees after the mistakes they are likely to make: an API
//! base that is wrong in each way a network can say so, a zero, and what
//! `--help`, the man page and completion offer. Early failures leave no
//! folder behind.

use crate::common;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::{fetch_assets, listing, offline, verify};
use fake_tripo::{FakeTripo, Scenario};
use predicates::prelude::*;
use predicates::str::contains;

/// A loopback port nothing listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The stderr of a run that failed with `code`.
fn failure(command: &mut assert_cmd::Command, code: i32) -> String {
    let output = command.assert().code(code).get_output().clone();
    assert!(output.stdout.is_empty(), "nothing on stdout");
    String::from_utf8(output.stderr).expect("stderr is UTF-8")
}

#[test]
fn a_closed_port_is_named_as_refusing_with_what_to_check() {
    let port = closed_port();
    let parent = tempfile::tempdir().expect("tempdir");
    let out = parent.path().join("out");
    let stderr = failure(
        offline(&format!("http://127.0.0.1:{port}"))
            .args(["some-task", &out.display().to_string()]),
        3,
    );
    assert!(
        stderr.contains(&format!(
            "could not reach the API at 127.0.0.1:{port}: the connection was refused (5 tries)"
        )) && stderr.contains("check the host and port in --api-base or TRIPO_API_BASE"),
        "{stderr}"
    );
    assert!(!stderr.contains(fake_tripo::DEFAULT_API_KEY), "{stderr}");
    assert!(!out.exists(), "no folder for a run that fetched nothing");
}

#[test]
fn a_name_that_does_not_resolve_is_named_with_the_typo_advice() {
    // `.invalid` never resolves (RFC 6761), and fails at once, without asking
    // any DNS server: the test needs no network and no resolver.
    let parent = tempfile::tempdir().expect("tempdir");
    let out = parent.path().join("out");
    let stderr = failure(
        offline("https://api.tripo3d.invalid/v2/openapi")
            .args(["some-task", &out.display().to_string()]),
        3,
    );
    assert!(
        stderr
            .contains("could not reach the API at api.tripo3d.invalid: its name does not resolve")
            && stderr.contains("check --api-base or TRIPO_API_BASE for a typo"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn tls_spoken_to_a_plain_server_fails_at_once_and_says_tls() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let base = fake.v3_base().replace("http://", "https://");
    let host = base.trim_start_matches("https://").to_owned();
    let parent = tempfile::tempdir().expect("tempdir");
    let out = parent.path().join("out");
    let stderr = failure(fetch_assets(&fake, &base).arg(fake.task_id()).arg(&out), 3);
    assert!(
        stderr.contains(&format!(
            "could not reach the API at {host}: the TLS handshake failed ("
        )) && stderr.contains("(1 try)")
            && stderr.contains("starts with https:// only for a TLS server"),
        "{stderr}"
    );
    assert_eq!(fake.stats().task_requests, 0, "no request got through");
    assert!(!out.exists());
}

#[test]
fn verbose_shows_each_request_without_its_query() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let out = tempfile::tempdir().expect("tempdir");
    let output = fetch_assets(&fake, &fake.v3_base())
        .args(["-v", fake.task_id()])
        .arg(out.path())
        .assert()
        .success()
        .get_output()
        .clone();
    let log = String::from_utf8(output.stderr).expect("UTF-8");
    let requests: Vec<&str> = log.lines().filter(|l| l.contains(" GET ")).collect();
    let task = format!(" GET {}/v3/tasks/{}", fake.v3_base(), fake.task_id());
    assert!(requests.iter().any(|l| l.ends_with(&task)), "{log}");
    assert!(
        requests
            .iter()
            .any(|l| l.contains(&format!(" GET {}/", fake.cdn_base()))),
        "the CDN requests too:\n{log}"
    );
    assert!(requests.iter().all(|l| !l.contains('?')), "{log}");
}

#[test]
fn early_failures_leave_no_folder_behind() {
    let parent = tempfile::tempdir().expect("tempdir");
    let fresh = |name: &str| parent.path().join(name).join("out");
    let check = |out: &Path, what: &str| {
        assert!(
            !out.exists() && !out.parent().expect("a parent").exists(),
            "{what}: no folder"
        );
    };

    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let out = fresh("bad-key");
    fetch_assets(&fake, &fake.v3_base())
        .env("TRIPO_API_KEY", "tsk_wrong")
        .arg(fake.task_id())
        .arg(&out)
        .assert()
        .code(3);
    check(&out, "a bad key");

    let out = fresh("unknown");
    fetch_assets(&fake, &fake.v3_base())
        .arg("no-such-task")
        .arg(&out)
        .assert()
        .code(3);
    check(&out, "an unknown task");

    let slow =
        FakeTripo::start(Scenario::new("v3_bare_task").phase("running", Duration::from_secs(600)));
    let out = fresh("timeout");
    fetch_assets(&slow, &slow.v3_base())
        .args(["--timeout", "1s", slow.task_id()])
        .arg(&out)
        .assert()
        .code(4);
    check(&out, "a timeout");

    let failed = FakeTripo::start(Scenario::new("failed"));
    let out = fresh("failed");
    fetch_assets(&failed, &failed.v3_base())
        .arg(failed.task_id())
        .arg(&out)
        .assert()
        .code(6);
    check(&out, "a failed task");

    // Once there is something to put in it, the folder is made, parents too.
    let out = fresh("ok");
    fetch_assets(&fake, &fake.v3_base())
        .arg(fake.task_id())
        .arg(&out)
        .assert()
        .success();
    assert!(listing(&out).contains(&"manifest.json".to_owned()));
}

#[test]
fn concurrency_zero_says_what_to_give() {
    let parent = tempfile::tempdir().expect("tempdir");
    offline("http://127.0.0.1:9")
        .args(["--concurrency", "0", "some-task"])
        .arg(parent.path())
        .assert()
        .code(2)
        .stderr(contains("give 1 or more").and(contains("non-zero").not()));
}

/// (Once also `cli::verify_without_a_manifest_exits_1`.)
#[test]
fn verify_on_a_folder_with_nothing_committed_says_what_to_run() {
    let empty = tempfile::tempdir().expect("tempdir");
    let missing = empty.path().join("not-there");
    for dir in [empty.path(), missing.as_path()] {
        let stderr = failure(&mut verify(dir), 1);
        assert!(
            stderr.contains("no manifest.json in")
                && stderr.contains("fetch a task into it first: fetch-assets <TASK_ID> <OUT_DIR>")
                && !stderr.contains("entity not found")
                && !stderr.contains("os error"),
            "{}: {stderr}",
            dir.display()
        );
    }
}

#[test]
fn help_names_the_variables_without_a_stray_equals_sign() {
    let help = offline("unused")
        .env_remove("TRIPO_API_BASE")
        .env_remove("TRIPO_API_KEY")
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(help).expect("UTF-8");
    assert!(
        help.contains("[env: TRIPO_API_BASE]") && help.contains("[env: TRIPO_API_KEY]"),
        "{help}"
    );
    assert!(!help.contains("=]"), "{help}");
}

#[test]
fn the_man_page_describes_its_commands_in_place_and_completion_offers_outputs() {
    let page = offline("unused")
        .arg("man")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let page = String::from_utf8(page).expect("UTF-8");
    assert!(page.contains(".SH COMMANDS"), "{page}");
    assert!(
        page.contains("\\fBfetch\\-assets verify\\fR [\\fB\\-q\\fR] \\fIOUT_DIR\\fR"),
        "verify and its -q:\n{page}"
    );
    assert!(
        !page.contains("fetch\\-assets\\-verify(1)") && !page.contains("(1)\n"),
        "no page that does not exist is referred to:\n{page}"
    );
    let bash = offline("unused")
        .args(["completions", "bash"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let bash = String::from_utf8(bash).expect("UTF-8");
    let only = bash
        .split("--only)")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .unwrap_or_default();
    assert!(
        only.contains("compgen -W \"model base_model pbr_model") && only.contains("multiview"),
        "--only completes output names: {only}"
    );
}

/// `--only modle` is said before the wait, with the name likely meant; the
/// run goes on (it may be an open-ended output's name), and a task without
/// it ends with exit 2.
#[test]
fn a_slip_in_an_only_name_is_said_before_the_wait() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    let run = common::fetch_into(&fake, &fake.v3_base(), out.path())
        .args(["--only", "modle"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    let note = stderr
        .find("--only modle is not one of the table's names (did you mean model?)")
        .expect("the note");
    let error = stderr.find("error:").expect("the error");
    assert!(note < error, "the note comes first: {stderr}");
}
