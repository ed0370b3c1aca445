//! Race the expiry (issue 3): links that die before the transfers end, a CDN
//! that refuses, cuts, stalls, rate-limits or ignores `Range`, and an API
//! that stumbles while links are renewed. Each test asserts what a user
//! would notice: the bytes on disk, the exit code and message, and what the
//! API and the CDN saw (refreshes coalesced, no byte fetched twice).

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_same_bytes, fetch_assets, listing, sha256sum_accepts, staged_files};
use fake_tripo::{ApiFault, CdnRequest, FakeTripo, FileFault, LinkStyle, Scenario, Stats};
use fetch_assets::{Client, Event, FetchOptions, RetryPolicy};
use serde_json::json;

const TASK_ID: &str = "5b8f0c1e-race-the-expiry";

/// What a signed query looks like in any of the fake's styles: none of it
/// may reach a message, a log line or stdout.
const SIGNED_QUERY_MARKS: [&str; 6] = [
    "Signature=",
    "Expires=",
    "Policy=",
    "Key-Pair-Id=",
    "auth_key=",
    "token=",
];

/// A successful v2 task with one output per file; the output field is the
/// file's stem (`model.glb` is the `model` output), so the file lands under
/// the same name the CDN serves it as.
fn task(files: &[&str]) -> Scenario {
    let output: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|file| {
            let field = file.split('.').next().expect("a file name");
            (field.to_owned(), json!(format!("cdn:{file}")))
        })
        .collect();
    Scenario::from_json(json!({
        "code": 0,
        "data": {
            "task_id": TASK_ID,
            "type": "text_to_model",
            "status": "success",
            "input": {},
            "output": output,
            "progress": 100,
            "create_time": 1_795_887_000,
        }
    }))
}

/// What one run of the binary showed.
struct Run {
    code: Option<i32>,
    stderr: String,
}

/// Runs the binary with `-v` (the most it ever prints) and checks that
/// neither output shows a signed query or the API key.
fn run(fake: &FakeTripo, dir: &Path, args: &[&str]) -> Run {
    let output = fetch_assets(fake, &fake.v2_base())
        .arg("-v")
        .args(args)
        .arg(fake.task_id())
        .arg(dir)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    for text in [&stderr, &stdout] {
        assert_no_secret(fake, text);
    }
    Run {
        code: output.status.code(),
        stderr,
    }
}

fn assert_no_secret(fake: &FakeTripo, text: &str) {
    for mark in SIGNED_QUERY_MARKS {
        assert!(
            !text.contains(mark),
            "a signed link ({mark}…) was shown:\n{text}"
        );
    }
    assert!(
        !text.contains(fake.api_key()),
        "the API key was shown:\n{text}"
    );
}

/// Exit 0, exactly these files (plus the manifest and the sums) in the
/// folder, each holding what the CDN serves, and `sha256sum -c` agrees.
fn assert_landed(fake: &FakeTripo, dir: &Path, run: &Run, files: &[(&str, &str)]) {
    assert_eq!(run.code, Some(0), "the run failed:\n{}", run.stderr);
    let mut expected: Vec<String> = files.iter().map(|(name, _)| (*name).to_owned()).collect();
    expected.extend(["SHA256SUMS".to_owned(), "manifest.json".to_owned()]);
    expected.sort();
    assert_eq!(
        listing(dir),
        expected,
        "the folder holds the files, no more"
    );
    assert_same_bytes(fake, dir, files);
    assert!(sha256sum_accepts(dir), "sha256sum -c SHA256SUMS fails");
}

/// The same name on disk as on the CDN.
fn same_names<'a>(files: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    files.iter().map(|f| (*f, *f)).collect()
}

/// Requests for `file` that carried a body.
fn bodies<'a>(stats: &'a Stats, file: &str) -> Vec<&'a CdnRequest> {
    stats
        .cdn_requests
        .iter()
        .filter(|r| r.file == file && matches!(r.status, 200 | 206))
        .collect()
}

/// The CDN sent every byte of `file` exactly once: one whole-file answer,
/// then only `206` answers, each starting where the bytes sent so far end.
fn assert_never_restarted(fake: &FakeTripo, stats: &Stats, file: &str) {
    let mut had = 0;
    for (n, request) in bodies(stats, file).iter().enumerate() {
        let expected = if n == 0 {
            (200, None)
        } else {
            (206, Some(format!("bytes={had}-")))
        };
        assert_eq!(
            (request.status, request.range.clone()),
            expected,
            "{file}: body answer #{} does not resume from byte {had}: {:#?}",
            n + 1,
            stats.cdn_requests
        );
        had += request.body_bytes_sent;
    }
    assert_eq!(
        stats.bytes_sent_for(file),
        fake.file_len(file),
        "{file}: the CDN sent each byte once"
    );
}

fn refusals(stats: &Stats) -> usize {
    stats
        .cdn_requests
        .iter()
        .filter(|r| r.status == 403)
        .count()
}

fn client(fake: &FakeTripo, retry: RetryPolicy) -> Client {
    common::client(fake, &fake.v2_base(), retry)
}

/// Every event of a fetch, for the test to look at afterwards.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    fn options(&self) -> FetchOptions {
        let events = self.0.clone();
        FetchOptions::default()
            .stall_timeout(Duration::from_secs(5))
            .observer(move |event: &Event| {
                events
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(event.clone());
            })
    }

    fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The causes of the link renewals `file` asked for.
    fn renewals(&self, file: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|event| match event {
                Event::LinkExpired { file: f, cause } if &*f == file => Some(cause),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn links_that_die_before_the_transfers_end_are_renewed_before_use() {
    // Two transfers at a time, each taking 2 s on links that live 1 s: the
    // second pair starts on dead links.
    let files = [
        "model.glb",
        "base_model.glb",
        "pbr_model.glb",
        "rendered_image.webp",
    ];
    let mut scenario = task(&files)
        .link_lifetime(Duration::from_secs(1))
        .throttle(15_000);
    for file in files {
        scenario = scenario.file_size(file, 30_000);
    }
    let fake = FakeTripo::start(scenario);
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &["--concurrency", "2"]);

    assert_landed(&fake, out.path(), &run, &same_names(&files));
    let stats = fake.stats();
    for file in files {
        assert_never_restarted(&fake, &stats, file);
    }
    assert_eq!(
        refusals(&stats),
        0,
        "the dead links were renewed before use, not after a 403: {:#?}",
        stats.cdn_requests
    );
    assert!(
        (2..=3).contains(&stats.final_answers()),
        "the second pair renewed its links together: {} task answers",
        stats.final_answers()
    );
}

#[test]
fn several_files_refused_together_cost_one_task_request() {
    // Five transfers are cut 1.2 s in; their links, which say nothing of
    // their expiry, died at 1 s: each resume is refused with a 403.
    // (`FileFault::refuse(1)` would refuse a file's first request even on a
    // link fresher than the refresh, so a transfer that starts late under a
    // loaded machine would rightly ask again: the count would be timing's.)
    let cut = |at: u64, rate: u64| FileFault {
        cut_after: Some(at),
        throttle: Some(rate),
        ..FileFault::default()
    };
    let refused = [
        "model.glb",
        "pbr_model.glb",
        "generated_image.webp",
        "front.png",
        "back.png",
    ];
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs")
            .link_style(LinkStyle::Opaque)
            .link_lifetime(Duration::from_secs(1))
            .fault("model.glb", cut(120_000, 100_000))
            .fault("pbr_model.glb", cut(120_000, 100_000))
            .fault("generated_image.webp", cut(12_000, 10_000))
            .fault("front.png", cut(12_000, 10_000))
            .fault("back.png", cut(12_000, 10_000)),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &[]);

    assert_landed(&fake, out.path(), &run, &common::V2_ALL_OUTPUTS);
    let stats = fake.stats();
    assert_eq!(refusals(&stats), refused.len(), "{:#?}", stats.cdn_requests);
    assert_eq!(
        (stats.task_requests, stats.final_answers()),
        (2, 2),
        "five refusals, one refresh"
    );
    for file in refused {
        assert_eq!(
            stats.requests_for(file),
            3,
            "{file}: cut, refused, then resumed"
        );
        assert_never_restarted(&fake, &stats, file);
    }
    assert_eq!(stats.requests_for("left.png"), 1);
}

#[test]
fn a_cut_transfer_resumes_from_its_last_byte() {
    let fake = FakeTripo::start(
        task(&["model.glb", "rendered_image.webp"]).fault("model.glb", FileFault::cut_at(70_000)),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &[]);

    assert_landed(
        &fake,
        out.path(),
        &run,
        &same_names(&["model.glb", "rendered_image.webp"]),
    );
    let stats = fake.stats();
    let model = bodies(&stats, "model.glb");
    assert_eq!(model.len(), 2, "one cut, one resume");
    assert_eq!(model[1].range.as_deref(), Some("bytes=70000-"));
    assert_never_restarted(&fake, &stats, "model.glb");
    assert_eq!(stats.final_answers(), 1, "a live link needs no refresh");
}

#[test]
fn a_transfer_cut_after_its_link_died_resumes_on_a_fresh_link() {
    // The cut comes 2 s into a transfer on a link that lives 1 s.
    let fake = FakeTripo::start(
        task(&["model.glb", "rendered_image.webp"])
            .link_lifetime(Duration::from_secs(1))
            .file_size("model.glb", 120_000)
            .fault(
                "model.glb",
                FileFault {
                    cut_after: Some(100_000),
                    throttle: Some(50_000),
                    ..FileFault::default()
                },
            ),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &[]);

    assert_landed(
        &fake,
        out.path(),
        &run,
        &same_names(&["model.glb", "rendered_image.webp"]),
    );
    let stats = fake.stats();
    assert_never_restarted(&fake, &stats, "model.glb");
    assert_eq!(stats.final_answers(), 2, "one refresh");
    let resumed = bodies(&stats, "model.glb")[1].at;
    let refreshed = stats
        .api_requests
        .iter()
        .filter(|r| r.final_answer)
        .nth(1)
        .expect("a second answer")
        .at;
    assert!(
        resumed > refreshed,
        "the resume ({resumed:?}) came on the fresh link ({refreshed:?})"
    );
}

#[test]
fn a_server_that_ignores_range_gets_the_file_started_over_cleanly() {
    let fake = FakeTripo::start(task(&["model.glb", "rendered_image.webp"]).fault(
        "model.glb",
        FileFault {
            cut_after: Some(50_000),
            ignore_range: true,
            ..FileFault::default()
        },
    ));
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &[]);

    assert_landed(
        &fake,
        out.path(),
        &run,
        &same_names(&["model.glb", "rendered_image.webp"]),
    );
    let stats = fake.stats();
    let model = bodies(&stats, "model.glb");
    assert_eq!(model.len(), 2);
    assert_eq!(
        (model[1].range.as_deref(), model[1].status),
        (Some("bytes=50000-"), 200),
        "it asked to resume, and got the whole file"
    );
    assert_eq!(
        stats.bytes_sent_for("model.glb"),
        50_000 + fake.file_len("model.glb")
    );
}

#[test]
fn retry_after_is_honoured_on_files_and_on_the_task() {
    let fake = FakeTripo::start(
        task(&["model.glb", "rendered_image.webp", "generated_image.webp"])
            .api_fault(ApiFault::rate_limited(1))
            .api_fault(ApiFault::html_502())
            .api_fault(ApiFault::Reset)
            .fault("model.glb", FileFault::status(503, Some("1")))
            .fault("rendered_image.webp", FileFault::status(429, Some("1")))
            .fault("generated_image.webp", FileFault::status(502, None)),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &[]);

    assert_landed(
        &fake,
        out.path(),
        &run,
        &same_names(&["model.glb", "rendered_image.webp", "generated_image.webp"]),
    );
    let stats = fake.stats();
    let api: Vec<u16> = stats.api_requests.iter().map(|r| r.status).collect();
    assert_eq!(
        api,
        [429, 502, 0, 200],
        "429, HTML 502, reset, then the task"
    );
    let waited = stats.api_requests[1]
        .at
        .saturating_sub(stats.api_requests[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "the API's Retry-After: 1 was honoured, yet the retry came after {waited:?}"
    );
    for file in ["model.glb", "rendered_image.webp"] {
        let requests: Vec<&CdnRequest> = stats
            .cdn_requests
            .iter()
            .filter(|r| r.file == file)
            .collect();
        assert_eq!(requests.len(), 2, "{file}: refused once, then served");
        let waited = requests[1].at.saturating_sub(requests[0].at);
        assert!(
            waited >= Duration::from_millis(950),
            "{file}: Retry-After: 1 was honoured, yet the retry came after {waited:?}"
        );
    }
    assert_eq!(stats.requests_for("generated_image.webp"), 2);
    assert_eq!(stats.final_answers(), 1, "no link was refreshed");
}

#[test]
fn a_stalled_transfer_is_abandoned_and_resumed() {
    let fake = FakeTripo::start(
        task(&["model.glb", "rendered_image.webp"]).fault("model.glb", FileFault::stall_at(80_000)),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &["--stall-timeout", "1s"]);

    assert_landed(
        &fake,
        out.path(),
        &run,
        &same_names(&["model.glb", "rendered_image.webp"]),
    );
    let stats = fake.stats();
    let model = bodies(&stats, "model.glb");
    assert_eq!(model.len(), 2, "one stall, one resume");
    assert_eq!(model[1].range.as_deref(), Some("bytes=80000-"));
    let waited = model[1].at.saturating_sub(model[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "it waited out the stall timeout: {waited:?}"
    );
    assert_never_restarted(&fake, &stats, "model.glb");
}

#[test]
fn a_cdn_that_refuses_forever_ends_the_run_with_exit_5_after_a_few_refreshes() {
    // base_model is still arriving and rendered_image is complete when model
    // gives up: neither is left under its final name, and both are kept,
    // complete, for the next run.
    let fake = FakeTripo::start(
        task(&["model.glb", "base_model.glb", "rendered_image.webp"])
            .fault(
                "model.glb",
                FileFault {
                    refuse_always: true,
                    ..FileFault::default()
                },
            )
            .fault(
                "base_model.glb",
                FileFault {
                    throttle: Some(40_000),
                    ..FileFault::default()
                },
            ),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &[]);

    assert_eq!(run.code, Some(5), "{}", run.stderr);
    let error = run
        .stderr
        .lines()
        .find(|line| line.contains("error"))
        .unwrap_or_else(|| panic!("no error line:\n{}", run.stderr));
    for words in ["model", "403", "refresh", "trace id"] {
        assert!(
            error.contains(words),
            "the error names the file, the status, what was tried and the trace id ({words}): {error}"
        );
    }
    let stats = fake.stats();
    assert!(
        (2..=8).contains(&stats.task_requests),
        "a bounded number of refreshes: {} task requests",
        stats.task_requests
    );
    assert!(stats.requests_for("model.glb") <= 10);
    assert_eq!(
        listing(out.path()),
        [".fetch-assets"],
        "no final-named file is left"
    );
    // The run ended when base_model had arrived, not after endless
    // refreshes: both are kept, complete.
    assert_eq!(staged_files(out.path()), ["base_model", "rendered_image"]);
}

#[test]
fn a_cdn_answer_that_cannot_succeed_ends_the_run_at_once() {
    for status in [404, 410, 400] {
        let fake = FakeTripo::start(
            task(&["model.glb", "rendered_image.webp"])
                .fault("model.glb", FileFault::status(status, None)),
        );
        let out = tempfile::tempdir().expect("tempdir");

        let run = run(&fake, out.path(), &[]);

        assert_eq!(run.code, Some(5), "HTTP {status}: {}", run.stderr);
        assert!(
            run.stderr.contains("model") && run.stderr.contains(&status.to_string()),
            "HTTP {status}: the error names the file and the status:\n{}",
            run.stderr
        );
        let stats = fake.stats();
        assert_eq!(
            stats.requests_for("model.glb"),
            1,
            "HTTP {status}: no retry"
        );
        assert_eq!(stats.task_requests, 1, "HTTP {status}: no refresh");
        assert_eq!(listing(out.path()), [".fetch-assets"], "HTTP {status}");
        assert_eq!(
            staged_files(out.path()),
            ["rendered_image"],
            "HTTP {status}: the file that arrived is kept; nothing of the one that cannot"
        );
    }
}

/// A throttled three-file task on links of `style` that live 2 s; model is
/// cut 2.5 s in, so it resumes after its link died.
async fn resume_after_expiry(style: LinkStyle) -> (FakeTripo, tempfile::TempDir, Recorder) {
    let files = ["model.glb", "pbr_model.glb", "rendered_image.webp"];
    let fake = FakeTripo::start(
        task(&files)
            .link_style(style)
            .link_lifetime(Duration::from_secs(2))
            .throttle(8_000)
            .file_size("pbr_model.glb", 20_000)
            .file_size("rendered_image.webp", 20_000)
            .file_size("model.glb", 60_000)
            .fault(
                "model.glb",
                FileFault {
                    cut_after: Some(50_000),
                    throttle: Some(20_000),
                    ..FileFault::default()
                },
            ),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let recorder = Recorder::default();
    let manifest = client(&fake, RetryPolicy::default())
        .fetch(fake.task_id(), out.path(), &recorder.options())
        .await
        .unwrap_or_else(|e| panic!("{style:?}: {e}"));
    assert_eq!(manifest.files.len(), files.len(), "{style:?}");
    assert_same_bytes(&fake, out.path(), &same_names(&files));
    assert!(sha256sum_accepts(out.path()), "{style:?}");
    (fake, out, recorder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_link_style_is_renewed_before_use_when_its_expiry_is_readable() {
    let styles = [
        LinkStyle::CloudFrontCanned,
        LinkStyle::CloudFrontPolicy,
        LinkStyle::AuthKey,
        LinkStyle::Opaque,
    ];
    let runs = futures::future::join_all(styles.map(resume_after_expiry)).await;
    for (style, (fake, _out, recorder)) in styles.into_iter().zip(runs) {
        let stats = fake.stats();
        assert_never_restarted(&fake, &stats, "model.glb");
        assert_eq!(stats.final_answers(), 2, "{style:?}: one refresh");
        let renewals = recorder.renewals("model");
        assert_eq!(renewals.len(), 1, "{style:?}: {renewals:?}");
        if style == LinkStyle::Opaque {
            // Nothing in the link says when it dies: the CDN's 403 does.
            assert_eq!(refusals(&stats), 1, "{style:?}");
            assert!(renewals[0].contains("403"), "{style:?}: {renewals:?}");
        } else {
            assert_eq!(
                refusals(&stats),
                0,
                "{style:?}: renewed before the CDN refused: {:#?}",
                stats.cdn_requests
            );
            assert!(renewals[0].contains("expire"), "{style:?}: {renewals:?}");
        }
        for event in recorder.events() {
            assert_no_secret(&fake, &format!("{event:?}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transfer_may_outlive_many_links_while_it_makes_progress() {
    // Every response is cut after 250 ms on links that live 200 ms: each of
    // the eight pieces needs a fresh link, more than the per-file bound on
    // refreshes that make no progress.
    let fake = FakeTripo::start(
        task(&["model.glb"])
            .link_style(LinkStyle::Opaque)
            .link_lifetime(Duration::from_millis(200))
            .file_size("model.glb", 40_000)
            .fault(
                "model.glb",
                FileFault {
                    cut_after: Some(5_000),
                    cut_times: 7,
                    throttle: Some(20_000),
                    ..FileFault::default()
                },
            ),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let recorder = Recorder::default();
    let quick = RetryPolicy {
        base_delay: Duration::from_millis(40),
        ..RetryPolicy::default()
    };

    client(&fake, quick)
        .fetch(fake.task_id(), out.path(), &recorder.options())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_same_bytes(&fake, out.path(), &[("model.glb", "model.glb")]);
    let stats = fake.stats();
    assert_never_restarted(&fake, &stats, "model.glb");
    assert_eq!(bodies(&stats, "model.glb").len(), 8);
    assert!(
        recorder.renewals("model").len() >= 7,
        "{:?}",
        recorder.renewals("model")
    );
}

#[test]
fn the_worst_of_it_at_once_still_lands_every_file_verified() {
    let fault = FileFault::default;
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs")
            .link_lifetime(Duration::from_secs(1))
            .throttle(100_000)
            .api_fault(ApiFault::html_502())
            .fault(
                "model.glb",
                FileFault {
                    refuse_first: 1,
                    cut_after: Some(60_000),
                    ..fault()
                },
            )
            // Cut 1.5 s in, after its link died.
            .fault("base_model.glb", FileFault::cut_at(150_000))
            .fault("pbr_model.glb", FileFault::stall_at(100_000))
            .fault(
                "generated_image.webp",
                FileFault {
                    status_first: vec![(503, Some("1".to_owned()))],
                    cut_after: Some(10_000),
                    ..fault()
                },
            )
            .fault("rendered_image.webp", FileFault::refuse(1))
            .fault(
                "front.png",
                FileFault {
                    refuse_first: 1,
                    cut_after: Some(10_000),
                    ignore_range: true,
                    ..fault()
                },
            )
            .fault(
                "back.png",
                FileFault {
                    status_first: vec![(429, Some("1".to_owned())), (500, None)],
                    ..fault()
                },
            )
            .fault("right.png", FileFault::cut_at(5_000)),
    );
    let out = tempfile::tempdir().expect("tempdir");

    let run = run(&fake, out.path(), &["--stall-timeout", "1s"]);

    assert_landed(&fake, out.path(), &run, &common::V2_ALL_OUTPUTS);
    let stats = fake.stats();
    for file in [
        "model.glb",
        "base_model.glb",
        "pbr_model.glb",
        "generated_image.webp",
        "rendered_image.webp",
        "left.png",
        "back.png",
        "right.png",
    ] {
        assert_never_restarted(&fake, &stats, file);
    }
    assert_eq!(
        stats.bytes_sent_for("front.png"),
        10_000 + fake.file_len("front.png"),
        "front.png started over once, as its server ignores Range"
    );
    // Exact coalescing is measured where refusals come together (above);
    // here they are spread over time: the bound is that links are renewed
    // per need (about seven here), not per retry.
    assert!(
        stats.task_requests <= 12,
        "a bounded number of task requests: {}",
        stats.task_requests
    );
}

/// (Once also `hostile::a_server_that_always_cuts_and_ignores_range_is_given_up_on`,
/// through the binary; exit code 5 is `Error::exit_code`, asserted here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_range_and_always_cuts_does_not_loop_forever() {
    // Each try starts over from byte 0 and is cut at the same place: bytes
    // arrive, but the file never gets further, so the retries stay bounded.
    let fake = FakeTripo::start(task(&["model.glb"]).fault(
        "model.glb",
        FileFault {
            cut_after: Some(20_000),
            cut_times: 1_000,
            ignore_range: true,
            ..FileFault::default()
        },
    ));
    let out = tempfile::tempdir().expect("tempdir");
    let quick = RetryPolicy {
        base_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };

    let error = client(&fake, quick)
        .fetch(fake.task_id(), out.path(), &Recorder::default().options())
        .await
        .expect_err("the file can never be completed");

    assert_eq!(error.exit_code(), 5, "{error}");
    assert!(error.to_string().contains("model"), "{error}");
    assert_eq!(
        fake.stats().requests_for("model.glb"),
        RetryPolicy::default().attempts as usize,
        "one run of retries, no more"
    );
    assert_eq!(listing(out.path()), [".fetch-assets"]);
    assert_eq!(staged_files(out.path()), ["model"], "what arrived is kept");
}
