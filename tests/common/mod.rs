//! Helpers shared by the integration tests: running the real binary against
//! the fake service, and looking at what it left on disk.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use fake_tripo::FakeTripo;

/// The ten files of the `v2_all_outputs` fixture (nine table roles and an
/// open-ended `thumbnail`): the name on disk, and the name the fake serves
/// it under.
pub const V2_ALL_OUTPUTS: [(&str, &str); 10] = [
    ("model.glb", "model.glb"),
    ("base_model.glb", "base_model.glb"),
    ("pbr_model.glb", "pbr_model.glb"),
    ("generated_image.webp", "generated_image.webp"),
    ("rendered_image.webp", "rendered_image.webp"),
    ("multiview_0_front.png", "front.png"),
    ("multiview_1_left.png", "left.png"),
    ("multiview_2_back.png", "back.png"),
    ("multiview_3_right.png", "right.png"),
    ("thumbnail.webp", "thumbnail.webp"),
];

/// The binary, pointed at the fake's API (`base` picks the dialect), with its
/// key, and with nothing from the environment that could reach elsewhere.
pub fn command(fake: &FakeTripo, base: &str) -> Command {
    pointed_at(base, fake.api_key())
}

/// The binary with an API base and key, and no proxy from the environment.
fn pointed_at(base: &str, key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fetch-assets"));
    for proxy in fake_tripo::PROXY_VARIABLES {
        command.env_remove(proxy);
    }
    command
        .env("TRIPO_API_KEY", key)
        .env("TRIPO_API_BASE", base)
        .env_remove("TRIPO_API_VERSION");
    command
}

/// The binary with an API base that no fake serves (an address nothing
/// listens on, a name that does not resolve), to run to completion.
pub fn offline(base: &str) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::from_std(pointed_at(base, fake_tripo::DEFAULT_API_KEY));
    command.timeout(Duration::from_secs(60));
    command
}

/// [`command`], to run to completion with assertions on its output.
pub fn fetch_assets(fake: &FakeTripo, base: &str) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::from_std(self::command(fake, base));
    command.timeout(std::time::Duration::from_secs(60));
    command
}

/// `fetch-assets verify DIR`, bounded in time (a hang fails the test); it
/// talks to no service, so it needs no fake.
pub fn verify(dir: &Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_fetch-assets"));
    command
        .arg("verify")
        .arg(dir)
        .timeout(Duration::from_secs(60));
    command
}

/// Whether `fetch-assets verify DIR` passes.
pub fn verify_passes(dir: &Path) -> bool {
    verify(dir).output().expect("verify runs").status.success()
}

/// `fetch-assets TASK DIR` for the fake's own task.
pub fn fetch_into(fake: &FakeTripo, base: &str, dir: &Path) -> assert_cmd::Command {
    let mut command = fetch_assets(fake, base);
    command.arg(fake.task_id()).arg(dir);
    command
}

/// A library client for the fake's API (`base` picks the dialect), whose
/// HTTP client ignores proxies from the environment.
pub fn client(
    fake: &FakeTripo,
    base: &str,
    retry: fetch_assets::RetryPolicy,
) -> fetch_assets::Client {
    fetch_assets::Client::builder()
        .api_key(fake.api_key())
        .api_base(base)
        .no_proxy()
        .retry_policy(retry)
        .build()
        .expect("a client")
}

/// The names in a folder, sorted; hidden files included (temp files are hidden).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the folder exists")
        .map(|entry| {
            entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// What a failed or interrupted run kept in `DIR/.fetch-assets/`, by name
/// (`model.part`, `model.part.json`, ...), sorted; empty when there is no
/// such folder.
pub fn staged(dir: &Path) -> Vec<String> {
    let staging = dir.join(".fetch-assets");
    if staging.is_dir() {
        listing(&staging)
    } else {
        Vec::new()
    }
}

/// The files `DIR/.fetch-assets/` keeps bytes of (those with a record), by
/// their names without extension (`model`), sorted.
pub fn staged_files(dir: &Path) -> Vec<String> {
    staged(dir)
        .iter()
        .filter_map(|name| name.strip_suffix(".part.json"))
        .map(str::to_owned)
        .collect()
}

/// Runs `sha256sum -c SHA256SUMS` in the folder, as a user would.
#[cfg(unix)]
pub fn sha256sum_accepts(dir: &Path) -> bool {
    Command::new("sha256sum")
        .args(["--check", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(dir)
        .status()
        .expect("sha256sum runs")
        .success()
}

/// Checks `SHA256SUMS` as `sha256sum --check --strict` would, where
/// there is no coreutils (Windows): every line `<hex>  <name>`, every file
/// there with that hash.
#[cfg(not(unix))]
pub fn sha256sum_accepts(dir: &Path) -> bool {
    use sha2::{Digest, Sha256};
    let Ok(sums) = std::fs::read_to_string(dir.join("SHA256SUMS")) else {
        return false;
    };
    sums.lines().all(|line| {
        let Some((hex, name)) = line.split_once("  ") else {
            return false;
        };
        hex.len() == 64
            && std::fs::read(dir.join(name))
                .is_ok_and(|bytes| format!("{:x}", Sha256::digest(&bytes)) == hex)
    }) && !sums.is_empty()
}

/// The manifest a run wrote.
pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read(dir.join("manifest.json")).expect("manifest.json exists");
    serde_json::from_slice(&text).expect("manifest.json is JSON")
}

/// The manifest's `path` values, in order.
pub fn manifest_paths(dir: &Path) -> Vec<String> {
    manifest(dir)["files"]
        .as_array()
        .expect("files is a list")
        .iter()
        .map(|f| f["path"].as_str().expect("path is text").to_owned())
        .collect()
}

/// Asserts that each named file holds exactly what the fake served for `served`.
pub fn assert_same_bytes(fake: &FakeTripo, dir: &Path, pairs: &[(&str, &str)]) {
    for (on_disk, served) in pairs {
        let got = std::fs::read(dir.join(on_disk)).unwrap_or_else(|e| panic!("{on_disk}: {e}"));
        assert!(
            got == fake.file_bytes(served),
            "{on_disk} differs from the served {served}"
        );
    }
}

/// The binary running in the background against the fake, its stdout and
/// stderr kept in files of their own; killed if the test ends first.
pub struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
}

impl Background {
    /// Starts `fetch-assets ARGS OUT` against the fake's v3 API.
    pub fn start(fake: &FakeTripo, args: &[&str], out: &Path) -> Background {
        let mut command = command(fake, &fake.v3_base());
        command.args(args).arg(out);
        Background::spawn(command)
    }

    /// Starts `command` (from [`command`], with its arguments).
    pub fn spawn(mut command: Command) -> Background {
        let logs = tempfile::tempdir().expect("tempdir");
        let stdout = logs.path().join("stdout");
        let stderr = logs.path().join("stderr");
        let child = command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("the binary starts");
        Background {
            child,
            stdout,
            stderr,
            _logs: logs,
        }
    }

    /// Sends a signal by name (`INT`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} reached the run");
    }

    /// Waits for the exit, failing the test (and ending the run) past `within`.
    pub fn exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the run did not exit within {within:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// What it has written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `done`, failing the test past `within`.
pub fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
