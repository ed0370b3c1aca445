//! The display, as people read it: a CI log (stderr is not a terminal) and a
//! terminal (the binary runs on a pseudo-terminal of a chosen width, made
//! here with `rustix`). A run with a queue, a refused link and a cut transfer
//! shows every kind of line; at 100, 80, 60 and 30 columns no line reaches
//! the terminal's last column, and bars name files as their done lines do.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fetch_assets, manifest};
use fake_tripo::{FakeTripo, FileFault, Scenario};

/// Queued, then running, then ten files; pbr_model's first link is refused
/// (a refresh) and base_model's first transfer is cut (a retry that resumes).
fn eventful_task() -> FakeTripo {
    FakeTripo::start(
        Scenario::new("v2_all_outputs")
            // From the binary's first request, however late a loaded
            // machine starts it; each long enough for a poll in it.
            .phases_from_first_request()
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
        "pbr_model.glb: the CDN refused the link (HTTP 403); getting fresh links",
        "links refreshed",
        // Where it resumes goes without saying: where it broke.
        "base_model.glb: the connection broke at byte 60000; retry 1 in ",
    ] {
        assert!(has(step), "the log shows `{step}`:\n{log}");
    }
    assert!(!has("from byte"), "{log}");
    assert!(
        !has("%), "),
        "no progress lines for transfers shorter than the interval:\n{log}"
    );
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
        .find(|l| l.contains("  model.glb <- "))
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
    assert!(has("base_model.glb: receiving from byte 60000"), "{log}");
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
    let (code, screen) = on_terminal(&fake, out.path(), 100, &[], &[]);
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
    let (code, screen) = on_terminal(&fake, out.path(), 100, &[], &[("NO_COLOR", "1")]);
    assert_eq!(code, 0, "the run succeeds:\n{screen}");
    assert!(!screen.contains('\x1b'), "no escape codes:\n{screen:?}");
    let lines: Vec<&str> = screen.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.iter().all(|l| stamped(l)), "{screen}");
    assert!(
        lines.iter().any(|l| l.contains("done: 10 files")),
        "{screen}"
    );
}

/// The eventful task's faults on files big and slow enough that every bar
/// is drawn a good many times: about two seconds of transfers.
fn slow_eventful_task() -> FakeTripo {
    let mut scenario = Scenario::new("v2_all_outputs")
        .phases_from_first_request()
        .phase("queued", Duration::from_millis(300))
        .phase("running", Duration::from_millis(300))
        .throttle(1 << 20)
        .fault("pbr_model.glb", FileFault::refuse(1))
        .fault("base_model.glb", FileFault::cut_at(600_000));
    for (_, served) in common::V2_ALL_OUTPUTS {
        scenario = scenario.file_size(served, 2 << 20);
    }
    FakeTripo::start(scenario)
}

#[test]
fn bars_and_lines_fit_the_terminal_at_100_80_60_and_30_columns() {
    let runs = at_widths([100, 80, 60, 30], |cols| {
        let fake = slow_eventful_task();
        let out = tempfile::tempdir().expect("tempdir");
        on_terminal(&fake, out.path(), cols, &[], &[])
    });
    for (cols, (code, screen)) in runs {
        assert_eq!(code, 0, "the run at {cols} columns succeeds:\n{screen}");
        let rows = assert_fits(&screen, cols);
        let shown = rows.join("\n");
        let lines = unwrapped(&rows);
        let done: BTreeSet<String> = lines
            .iter()
            .filter_map(|line| line.strip_prefix("✓ ")?.split_once(": done")?.0.into())
            .map(str::to_owned)
            .collect();
        let files: BTreeSet<String> = common::V2_ALL_OUTPUTS
            .iter()
            .map(|(file, _)| (*file).to_owned())
            .collect();
        assert_eq!(
            done, files,
            "every file has its done line at {cols}:\n{shown}"
        );
        let bars = bar_names(&rows);
        assert!(bars.len() > 1, "bars are drawn at {cols} columns:\n{shown}");
        for name in &bars {
            assert!(
                done.iter().any(|file| same_name(name, file)),
                "the bar `{name}` names no file a done line names, at {cols} columns:\n{shown}"
            );
        }
        if cols >= 60 {
            assert!(
                bars.contains("multiview_0_front.png") && !bars.iter().any(|b| b.contains('…')),
                "whole names at {cols} columns: {bars:?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("↻ base_model.glb: the connection broke at byte")),
            "the retry line, at {cols}:\n{shown}"
        );
    }
}

#[test]
fn batch_bars_and_lines_fit_the_terminal_at_100_60_and_30_columns() {
    const IDS: [&str; 3] = [
        "a1000000-0000-4000-8000-000000000001",
        "b2000000-0000-4000-8000-000000000002",
        "c3000000-0000-4000-8000-000000000003",
    ];
    let runs = at_widths([100, 60, 30], |cols| {
        let mut scenario = Scenario::new("v3_model_pbr_same")
            .task_id(IDS[0])
            .file_size("model.glb", 1_500_000)
            .file_size("rendered_image.webp", 1_000_000)
            .throttle(1 << 20);
        for id in &IDS[1..] {
            scenario = scenario.task(id, fake_tripo::TaskSpec::new("v3_model_pbr_same"));
        }
        let fake = FakeTripo::start(scenario);
        let root = tempfile::tempdir().expect("tempdir");
        let mut command = common::command(&fake, &fake.v3_base());
        command.arg("batch").arg(root.path()).args(IDS);
        run_on_terminal(with_terminal_env(command, &[]), cols)
    });
    for (cols, (code, screen)) in runs {
        assert_eq!(code, 0, "the batch at {cols} columns succeeds:\n{screen}");
        let rows = assert_fits(&screen, cols);
        let shown = rows.join("\n");
        let lines = unwrapped(&rows);
        for id in IDS {
            // A task id wider than the terminal is broken where it must be.
            let done = format!("✓{id}:done,2files,");
            assert!(
                lines
                    .iter()
                    .any(|line| line.replace(' ', "").starts_with(&done)),
                "{id} has its done line at {cols} columns:\n{shown}"
            );
        }
        let bars = bar_names(&rows);
        assert!(!bars.is_empty(), "bars at {cols} columns:\n{shown}");
        for name in &bars {
            assert!(
                IDS.iter().any(|id| same_name(name, id)),
                "the bar `{name}` names no task, at {cols} columns:\n{shown}"
            );
        }
        assert_eq!(
            bars.iter().any(|name| name.contains('…')),
            cols < 60,
            "task ids elided only where they must be, at {cols} columns: {bars:?}"
        );
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("  batch: 3 of 3 tasks ok")),
            "the summary at {cols}:\n{shown}"
        );
    }
}

#[test]
fn a_ci_log_reports_a_long_transfer_every_few_seconds() {
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs")
            .file_size("model.glb", 1_500_000)
            .fault(
                "model.glb",
                FileFault {
                    throttle: Some(500_000),
                    ..FileFault::default()
                },
            ),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let output = fetch_assets(&fake, &fake.v2_base())
        .env("FETCH_ASSETS_PROGRESS_INTERVAL", "400ms")
        .args(["--only", "model"])
        .arg(fake.task_id())
        .arg(out.path())
        .output()
        .expect("the binary runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert_clean(&log, &fake);
    // `model.glb: 0.6/1.4 MiB (41%), 488.3 KiB/s`
    let progress: Vec<(u64, &str)> = log
        .lines()
        .filter(|line| stamped(line))
        .filter_map(|line| {
            let rest = line.get(21..)?.strip_prefix("model.glb: ")?;
            let (amount, rest) = rest.split_once(" MiB (")?;
            let (percent, rate) = rest.split_once("%), ")?;
            assert!(amount.ends_with("/1.4"), "the total: {line}");
            assert!(
                rate.ends_with("iB/s") || rate.ends_with(" B/s"),
                "a rate: {line}"
            );
            Some((percent.parse().expect("a percentage"), line))
        })
        .collect();
    // Three seconds of transfer at one line per 0.4 s: several lines, however
    // late the machine runs them.
    assert!(progress.len() >= 3, "progress lines while it runs:\n{log}");
    assert!(
        progress.windows(2).all(|pair| pair[0].0 <= pair[1].0) && progress[0].0 < 100,
        "the figures grow:\n{log}"
    );
    assert!(log.contains("model.glb: done, "), "{log}");
}

#[test]
fn a_batch_log_reports_a_long_task_every_few_seconds() {
    let fake = FakeTripo::start(
        Scenario::new("v3_model_pbr_same")
            .file_size("model.glb", 1_500_000)
            .throttle(500_000),
    );
    let root = tempfile::tempdir().expect("tempdir");
    let output = fetch_assets(&fake, &fake.v3_base())
        .env("FETCH_ASSETS_PROGRESS_INTERVAL", "400ms")
        .arg("batch")
        .arg(root.path())
        .arg(fake.task_id())
        .output()
        .expect("the binary runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert_clean(&log, &fake);
    let task = format!("{}: ", fake.task_id());
    let progress = log
        .lines()
        .filter(|line| stamped(line))
        .filter(|line| {
            line.get(21..).is_some_and(|text| text.starts_with(&task))
                && line.contains("%), ")
                && line.ends_with("/s")
        })
        .count();
    assert!(
        progress >= 3,
        "progress lines for the task while it downloads:\n{log}"
    );
}

/// `run` at each width, all at once (each mostly waits on its throttled
/// transfers): each width with what `run` returned for it.
fn at_widths<const N: usize, T: Send>(
    widths: [u16; N],
    run: impl Fn(u16) -> T + Sync,
) -> Vec<(u16, T)> {
    std::thread::scope(|scope| {
        let run = &run;
        let runs = widths.map(|cols| scope.spawn(move || (cols, run(cols))));
        runs.into_iter()
            .map(|run| run.join().expect("a run"))
            .collect()
    })
}

/// Runs the binary with `flags` for the fake's task into `dir`, on a new
/// pseudo-terminal `cols` columns wide, with `extra_env`: `(exit code,
/// everything the terminal received)`.
fn on_terminal(
    fake: &FakeTripo,
    dir: &Path,
    cols: u16,
    flags: &[&str],
    extra_env: &[(&str, &str)],
) -> (i32, String) {
    let mut command = common::command(fake, &fake.v2_base());
    command.args(flags).arg(fake.task_id()).arg(dir);
    run_on_terminal(with_terminal_env(command, extra_env), cols)
}

/// `command` with the environment of a colour terminal, then `extra_env`.
fn with_terminal_env(mut command: Command, extra_env: &[(&str, &str)]) -> Command {
    command
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .envs(extra_env.iter().copied());
    command
}

/// Runs `command` with a new pseudo-terminal of `cols` columns as its
/// stdin, stdout and stderr: `(exit code, everything the terminal received)`.
fn run_on_terminal(mut command: Command, cols: u16) -> (i32, String) {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use std::io::Read;

    // Close-on-exec where the system offers it: the tests share one process,
    // and a child another test starts meanwhile must not inherit this end.
    #[cfg(target_os = "linux")]
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY;
    let controller = openpt(flags).expect("a pseudo-terminal");
    grantpt(&controller).expect("grantpt");
    unlockpt(&controller).expect("unlockpt");
    let name = ptsname(&controller, Vec::new()).expect("its name");
    let terminal = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .expect("the terminal end");
    let size = rustix::termios::Winsize {
        ws_row: 50,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&terminal, size).expect("the terminal's size");
    let copy = || std::fs::File::from(terminal.try_clone().expect("a copy of the terminal"));
    command
        .stdin(copy())
        .stdout(copy())
        .stderr(std::fs::File::from(terminal));
    let mut child = command.spawn().expect("the binary starts");
    // The child holds the only copies of the terminal end now: when it exits,
    // reading the other end ends (EIO).
    drop(command);
    let reader = std::thread::spawn(move || {
        let mut controller = std::fs::File::from(controller);
        let mut received = Vec::new();
        let mut buffer = [0; 8192];
        loop {
            match controller.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        received
    });
    // Generous: a loaded machine runs it slowly, and a hang still fails.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the binary runs") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run on a pseudo-terminal took over two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let received = reader.join().expect("the reader");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&received).into_owned(),
    )
}

/// The rows a terminal `cols` wide shows of `screen`, as drawn: escape codes
/// removed, a row at each `\r` or `\n`, and text past the last column on the
/// next row. Asserts that no line reached the last column (the bars pad
/// each line to it with spaces: a row whose last column is not a space is
/// text that ran over) and that every row starts as a line does (a sign or
/// the indent), not with the rest of a line that ran over.
fn assert_fits(screen: &str, cols: u16) -> Vec<String> {
    let cols = usize::from(cols);
    let mut rows = Vec::new();
    for segment in strip_escapes(screen).split(['\r', '\n']) {
        let chars: Vec<char> = segment.chars().collect();
        for row in chars.chunks(cols) {
            let row: String = row.iter().collect();
            if row.trim().is_empty() {
                continue;
            }
            assert!(
                row.chars().count() < cols || row.ends_with(' '),
                "a line reaches column {cols}: {row:?}\n{}",
                rows.join("\n")
            );
            let mut start = row.chars();
            let (first, second) = (start.next(), start.next());
            assert!(
                second == Some(' ') && first.is_some(),
                "a row that is the rest of a line too wide for {cols} columns: {row:?}\n{}",
                rows.join("\n")
            );
            rows.push(row.trim_end().to_owned());
        }
    }
    rows
}

/// The lines the rows show, a line wrapped onto rows (its continuations
/// indented by four) joined again.
fn unwrapped(rows: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for row in rows {
        match (row.strip_prefix("    "), lines.last_mut()) {
            (Some(rest), Some(line)) => {
                line.push(' ');
                line.push_str(rest);
            }
            _ => lines.push(row.clone()),
        }
    }
    lines
}

/// `text` without its terminal escape sequences (CSI and two-byte ones).
fn strip_escapes(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            plain.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    plain
}

/// The names on the file bars (`  NAME   [===>   ] ...`), the total left out.
fn bar_names(rows: &[String]) -> BTreeSet<String> {
    rows.iter()
        .filter_map(|row| {
            let rest = row.strip_prefix("  ")?;
            let (name, bar) = rest.split_once(' ')?;
            let bar = bar.trim_start().strip_prefix('[')?;
            bar.contains(']').then(|| name.to_owned())
        })
        .filter(|name| name != "total")
        .collect()
}

/// Whether a bar's `name` is `file`, whole or elided in the middle.
fn same_name(name: &str, file: &str) -> bool {
    match name.split_once('…') {
        None => name == file,
        Some((head, tail)) => {
            file.starts_with(head) && file.ends_with(tail) && head.len() + tail.len() < file.len()
        }
    }
}
