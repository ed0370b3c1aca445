//! The real `fetch-assets`, offline: starts the built-in fake Tripo service
//! (API and CDN on loopback) with a task that queues, runs and succeeds with
//! ten files (a thumbnail too), one refused link and one cut transfer, then runs the real
//! command against it into DIR (default `./demo-out`), then `verify`. What
//! appears is exactly what `fetch-assets` shows: a spinner and bars on a
//! terminal, plain timestamped lines in a log (`NO_COLOR=1`, or stderr not
//! a terminal).
//!
//!     cargo run --example demo [DIR]
//!
//! It builds the `fetch-assets` binary first (a no-op when it is fresh),
//! with the same profile and features as this example and the tests, so the
//! tests after it compile almost nothing more.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use fake_tripo::{DEMO_CUT, DEMO_REFUSED, FakeTripo, demo_scenario};

fn main() -> ExitCode {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "demo-out".into()));
    let binary = match fetch_assets_binary() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("demo: {why}");
            return ExitCode::FAILURE;
        }
    };
    let fake = FakeTripo::start(demo_scenario(
        Duration::from_millis(1500),
        Duration::from_secs(3),
    ));
    let (base, key, task) = (fake.v2_base(), fake.api_key(), fake.task_id());
    println!(
        "A fake Tripo service is up on loopback: API {base}, CDN {}.\n\
         Its task {task} queues, runs, then succeeds with 10 files; the CDN refuses\n\
         the first link of {DEMO_REFUSED} and cuts the first transfer of {} at byte {}.\n",
        fake.cdn_base(),
        DEMO_CUT.0,
        DEMO_CUT.1,
    );

    // A folder an earlier demo filled would be kept as it is: fetch it again.
    let again = dir.join("manifest.json").exists();
    let mut fetch: Vec<String> = Vec::new();
    if again {
        fetch.push("--force".into());
    }
    fetch.extend([task.to_owned(), dir.display().to_string()]);
    println!("$ export TRIPO_API_BASE={base} TRIPO_API_KEY={key}");
    let fetched = run(&binary, &fetch, &base, key);
    if again {
        println!("(--force: {} held the last demo's files)", dir.display());
    }
    if !fetched {
        return ExitCode::FAILURE;
    }
    println!();
    let verified = run(
        &binary,
        &["verify".into(), dir.display().to_string()],
        &base,
        key,
    );
    println!(
        "\nThat was the real fetch-assets ({}). Next:\n\
         \x20 NO_COLOR=1 cargo run --example demo      the same run as a CI log shows it\n\
         \x20 cargo run -p fake-tripo                  the fake alone, to try fetch-assets by hand\n\
         \x20 cargo test --workspace                   the tests",
        binary.display()
    );
    if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs `fetch-assets ARGS` against the fake, on this terminal, after
/// showing the command; true when it exits 0.
fn run(binary: &Path, args: &[String], base: &str, key: &str) -> bool {
    println!("$ fetch-assets {}", args.join(" "));
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("TRIPO_API_BASE", base)
        .env("TRIPO_API_KEY", key)
        .env_remove("TRIPO_API_VERSION")
        .stdin(Stdio::null());
    // The fake is on loopback: a proxy from the environment must not get in between.
    for proxy in fake_tripo::PROXY_VARIABLES {
        command.env_remove(proxy);
    }
    match command.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("demo: fetch-assets ended with {status}");
            false
        }
        Err(error) => {
            eprintln!("demo: could not run {}: {error}", binary.display());
            false
        }
    }
}

/// The `fetch-assets` binary of this checkout, built now with this example's
/// profile. Cargo builds binaries for tests but not for examples, so the
/// example asks the cargo that runs it (`$CARGO`), selecting itself too so
/// that dependencies are built with the features the example and the tests
/// use, not a second time with others.
fn fetch_assets_binary() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").ok_or("run me with `cargo run --example demo`")?;
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let output = Command::new(cargo)
        .args(["build", "--bin", "fetch-assets", "--example", "demo"])
        .args([
            "--profile",
            profile,
            "--message-format",
            "json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run cargo to build fetch-assets: {e}"))?;
    if !output.status.success() {
        return Err("cargo could not build fetch-assets (see above)".into());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["kind"][0] == "bin")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo built no fetch-assets binary".into())
}
