//! The display, as people read it: a CI log (stderr is not a terminal) and a
//! terminal (the binary runs under a pseudo-terminal made by util-linux
//! `script`). A run with a queue, a refused link and a cut transfer shows
//! every kind of line.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fetch_assets, manifest};
use fake_tripo::{FakeTripo, FileFault, Scenario};

/// Queued, then running, then ten files; pbr_model's first link is refused
/// (a refresh) and base_model's first transfer is cut (a retry that resumes).
fn eventful_task() -> FakeTripo {
    FakeTripo::start(
        Scenario::new("v2_all_outputs")
            // Long enough that a loaded machine starting the binary late
            // still finds the task queued.
            .phase("queued", Duration::from_millis(1000))
            .phase("running", Duration::from_millis(1000))
            .fault("pbr_model.glb", FileFault::refuse(1))
            .fault("base_model.glb", FileFault::cut_at(60_000)),
    )
}

/// Runs the binary with stderr captured (not a terminal): (success, stderr).
fn run_logged(fake: &FakeTripo, dir: &Path, flags: &[&str]) -> (bool, String) {
    let output = fetch_assets(fake, &fake.v2_base())
        .args(flags)
        .arg(fake.task_id())
        .arg(dir)
        .output()
        .expect("the binary runs");
    assert!(output.stdout.is_empty(), "stdout is for --json only");
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    (output.status.success(), stderr)
}

/// `2026-11-28T17:34:05Z ` at the start of a line.
fn stamped(line: &str) -> bool {
    let b = line.as_bytes();
    let digits = |range: std::ops::Range<usize>| range.clone().all(|i| b[i].is_ascii_digit());
    b.len() > 21
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && &b[19..21] == b"Z "
}

/// Nothing a CI log must not hold: escape codes, signed queries, the key.
fn assert_clean(log: &str, fake: &FakeTripo) {
    assert!(!log.contains('\x1b'), "no escape codes in a log:\n{log}");
    for secret in ["Signature=", "Expires=", "Key-Pair-Id=", fake.api_key()] {
        assert!(
            !log.contains(secret),
            "`{secret}` leaked into the log:\n{log}"
        );
    }
}

#[test]
fn a_ci_log_has_one_timestamped_line_per_step_and_no_escape_codes() {
    let fake = eventful_task();
    let out = tempfile::tempdir().expect("tempdir");
    let (ok, log) = run_logged(&fake, out.path(), &[]);
    assert!(ok, "the run succeeds:\n{log}");
    assert_clean(&log, &fake);
    let lines: Vec<&str> = log.lines().collect();
    for line in &lines {
        assert!(
            stamped(line),
            "every line starts with a timestamp: {line:?}"
        );
    }
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    for step in [
        "task queued, position 1 in the queue",
        "task running, ",
        "; downloading 10 files",
        "pbr_model: the CDN refused the link (HTTP 403); getting fresh links",
        "links refreshed",
        "base_model: the connection broke at byte 60000",
        "retry 1 in ",
        "resuming at byte 60000",
    ] {
        assert!(has(step), "the log shows `{step}`:\n{log}");
    }
    for (file, _) in common::V2_ALL_OUTPUTS {
        assert!(
            has(&format!("{file}: done, ")),
            "{file} is reported done:\n{log}"
        );
    }
    let summary = lines.last().expect("a summary line");
    let manifest_path = out.path().join("manifest.json");
    assert!(
        summary.contains("done: 10 files, ")
            && summary.ends_with(&format!("manifest: {}", manifest_path.display())),
        "the summary counts the files and names the manifest: {summary}"
    );
    assert!(
        !has("trace id") && !has("sha256") && !has(fake.cdn_base()),
        "details wait for -v:\n{log}"
    );
}

#[test]
fn verbose_adds_trace_ids_redacted_links_and_hashes() {
    let fake = eventful_task();
    let out = tempfile::tempdir().expect("tempdir");
    let (ok, log) = run_logged(&fake, out.path(), &["-v"]);
    assert!(ok, "the run succeeds:\n{log}");
    assert_clean(&log, &fake);
    let has = |needle: &str| log.lines().any(|l| stamped(l) && l.contains(needle));
    assert!(
        has("task queued, position 1 in the queue (trace id "),
        "{log}"
    );
    assert!(has("links refreshed (trace id "), "{log}");
    let source = fake.cdn_base().to_owned() + "/";
    let model_source = log
        .lines()
        .find(|l| l.contains("  model <- "))
        .unwrap_or_else(|| panic!("the model's link is shown:\n{log}"));
    assert!(
        model_source.contains(&source) && model_source.ends_with("/model.glb"),
        "the link is shown without its query: {model_source}"
    );
    let sha = manifest(out.path())["files"][0]["sha256"]
        .as_str()
        .expect("a hash")
        .to_owned();
    assert!(has("model.glb: done, ") && has(&sha), "{log}");
    assert!(has("base_model: receiving from byte 60000"), "{log}");
}

#[test]
fn quiet_prints_nothing_on_success_and_only_the_error_on_failure() {
    let fake = eventful_task();
    let out = tempfile::tempdir().expect("tempdir");
    let (ok, log) = run_logged(&fake, out.path(), &["--quiet"]);
    assert!(ok && log.is_empty(), "nothing on stderr: {log:?}");

    let failed = FakeTripo::start(Scenario::new("failed"));
    let (ok, log) = run_logged(&failed, out.path(), &["--quiet"]);
    assert!(!ok);
    assert_eq!(log.lines().count(), 1, "just the error: {log:?}");
    assert!(log.starts_with("fetch-assets: error: "), "{log:?}");
}

#[test]
fn a_terminal_gets_a_spinner_bars_and_the_summary() {
    let fake = eventful_task();
    let out = tempfile::tempdir().expect("tempdir");
    let Some((code, screen)) = under_pty(&fake, out.path(), &[]) else {
        return;
    };
    assert_eq!(code, 0, "the run succeeds:\n{screen}");
    assert!(
        screen.contains("\x1b[2K") || screen.contains("\x1b[1A"),
        "the bars are drawn and redrawn with escape codes:\n{screen:?}"
    );
    assert!(
        screen.contains("task queued, position 1 in the queue"),
        "the spinner shows the wait:\n{screen}"
    );
    assert!(
        screen.contains("  total ") && screen.contains("iB/s"),
        "a total bar with the throughput:\n{screen}"
    );
    assert!(
        screen.contains("model.glb: done, "),
        "finished files stay above the bars:\n{screen}"
    );
    assert!(screen.contains("links refreshed"), "{screen}");
    let manifest_path = out.path().join("manifest.json");
    assert!(
        screen.contains("done: 10 files, ")
            && screen.contains(&format!("manifest: {}", manifest_path.display())),
        "the summary:\n{screen}"
    );
    assert!(!screen.contains("Signature="), "{screen}");
}

#[test]
fn no_color_on_a_terminal_gets_plain_log_lines() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    let Some((code, screen)) = under_pty(&fake, out.path(), &[("NO_COLOR", "1")]) else {
        return;
    };
    assert_eq!(code, 0, "the run succeeds:\n{screen}");
    assert!(!screen.contains('\x1b'), "no escape codes:\n{screen:?}");
    let lines: Vec<&str> = screen.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.iter().all(|l| stamped(l)), "{screen}");
    assert!(
        lines.iter().any(|l| l.contains("done: 10 files")),
        "{screen}"
    );
}

/// Runs the binary on a pseudo-terminal made by util-linux `script`, with
/// `extra_env`; `(exit code, everything the terminal received)`, or `None`
/// (the test is skipped, saying so) where `script` is not installed.
fn under_pty(fake: &FakeTripo, dir: &Path, extra_env: &[(&str, &str)]) -> Option<(i32, String)> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed, so no pseudo-terminal");
        return None;
    }
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let command = [
        env!("CARGO_BIN_EXE_fetch-assets"),
        fake.task_id(),
        &dir.display().to_string(),
    ]
    .map(quote)
    .join(" ");
    let capture = tempfile::NamedTempFile::new().expect("a capture file");
    let mut script = Command::new("script");
    script
        .args([
            "--quiet",
            "--flush",
            "--return",
            "--command",
            &command,
            "/dev/null",
        ])
        .env("TRIPO_API_KEY", fake.api_key())
        .env("TRIPO_API_BASE", fake.v2_base())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("TRIPO_API_VERSION")
        .stdin(Stdio::null())
        .stdout(capture.reopen().expect("the capture file"))
        .stderr(Stdio::inherit());
    for proxy in fake_tripo::PROXY_VARIABLES {
        script.env_remove(proxy);
    }
    script.envs(extra_env.iter().copied());
    let mut child = script.spawn().expect("script starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("script runs") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run under a pseudo-terminal took over a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let screen = std::fs::read(capture.path()).expect("the capture");
    Some((
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&screen).into_owned(),
    ))
}
