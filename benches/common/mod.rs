//! What the benchmarks that run the real binary share: running it against a
//! fake with its peak memory and CPU time measured, medians, and a quiet disk.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fake_tripo::FakeTripo;

/// The release binary, built by `cargo bench` along with the benchmark;
/// `BENCH_BINARY` names another build to measure instead.
pub fn binary() -> String {
    std::env::var("BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fetch-assets").to_owned())
}

/// Environment variables that could send loopback requests elsewhere.
const PROXIES: [&str; 6] = fake_tripo::PROXY_VARIABLES;

/// What one run of a program measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// When it exited, from the `epoch` given.
    pub exited_at: Duration,
    /// From its start to its exit.
    pub wall: Duration,
    /// Its peak resident memory (VmHWM), in KiB; sampled every few
    /// milliseconds, so a peak in its last moments may be missed.
    pub peak_rss_kib: u64,
    /// Its user + system CPU time.
    pub cpu: Duration,
    /// The CPU time this process (the fake service, mostly) used meanwhile.
    pub own_cpu: Duration,
}

/// Runs `command` to its end, measuring it; panics, with its stderr, if it
/// fails.
pub fn measure(mut command: Command, epoch: Instant) -> Measured {
    for proxy in PROXIES {
        command.env_remove(proxy);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (cpu_before, own_before) = (children_cpu(), own_cpu());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let pid = child.id();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                match vm_hwm_kib(pid) {
                    Some(kib) => peak = peak.max(kib),
                    None => break,
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = child.wait().expect("wait for the child");
    let exited = Instant::now();
    done.store(true, Ordering::Relaxed);
    let peak_rss_kib = sampler.join().expect("the sampler");
    let stderr = reader.join().expect("the stderr reader");
    assert!(status.success(), "{command:?} failed: {status}\n{stderr}");
    Measured {
        exited_at: exited - epoch,
        wall: exited - started,
        peak_rss_kib,
        cpu: children_cpu().saturating_sub(cpu_before),
        own_cpu: own_cpu().saturating_sub(own_before),
    }
}

/// The fetch-assets binary for the fake's task into `dir`, with `args`.
///
/// `BENCH_WRAP`, when set, is a command line the binary runs under, for
/// profiling: e.g. `BENCH_WRAP="perf record -g -o /tmp/perf.data --"` (the
/// figures then include the wrapper).
pub fn fetch_assets(fake: &FakeTripo, base: &str, dir: &Path, args: &[&str]) -> Command {
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary());
            command
        }
        None => Command::new(binary()),
    };
    command
        .env("TRIPO_API_KEY", fake.api_key())
        .env("TRIPO_API_BASE", base)
        .env_remove("TRIPO_API_VERSION")
        .arg("--quiet")
        .args(args)
        .arg(fake.task_id())
        .arg(dir);
    command
}

/// `VmHWM` of a live process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system time of this process's waited-for children.
fn children_cpu() -> Duration {
    // cutime and cstime: fields 16 and 17 of /proc/self/stat.
    stat_ticks(13)
}

/// User + system time of this process.
fn own_cpu() -> Duration {
    // utime and stime: fields 14 and 15.
    stat_ticks(11)
}

/// The sum of the two clock-tick counts at `index` (counted from field 3,
/// the one after the command name) of /proc/self/stat; ticks are 1/100 s, as
/// Linux reports them to user space.
fn stat_ticks(index: usize) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let (_, after_name) = stat.rsplit_once(") ").expect("a stat line");
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((fields[index] + fields[index + 1]) * 10)
}

/// Writes back every dirty page, so one run's files do not slow the next.
pub fn settle_disk() {
    let _ = Command::new("sync").status();
    std::thread::sleep(Duration::from_millis(200));
}

/// A fresh folder under the target directory (same disk as the build).
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bench-")
        .tempdir_in(PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .expect("a scratch folder")
}

pub fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Removes the proxy variables from this process's environment, so the
/// in-process clients talk to loopback directly.
///
/// # Safety
/// Call it first thing in `main`, before any other thread starts.
pub unsafe fn no_proxies() {
    for proxy in PROXIES {
        // SAFETY: the caller guarantees no other thread runs yet.
        unsafe { std::env::remove_var(proxy) };
    }
}

/// How many runs to make: `BENCH_RUNS` if set (for quick experiments), else
/// `default`.
pub fn runs(default: usize) -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}
