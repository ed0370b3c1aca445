//! `fetch-assets batch`: many tasks in one run, each into its own folder
//! under the single-task contract, with one JSON line a task, few API
//! requests, and the highest exit code.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{
    assert_same_bytes, fetch_assets, listing, manifest_paths, sha256sum_accepts, verify_passes,
};
use fake_tripo::{FakeTripo, ListShape, Scenario, TaskSpec};
use serde_json::Value;

/// Succeeds after a short run.
const SOON: &str = "a1000000-0000-4000-8000-000000000001";
/// Succeeds a second later.
const LATER: &str = "b2000000-0000-4000-8000-000000000002";
/// Fails with error code 1001.
const FAILS: &str = "c3000000-0000-4000-8000-000000000003";
/// Unknown to the service.
const UNKNOWN: &str = "d4000000-0000-4000-8000-000000000004";

/// The files of `v3_model_pbr_same` on disk, and as served.
const PBR_SAME: [(&str, &str); 2] = [
    ("model.glb", "model.glb"),
    ("rendered_image.webp", "rendered_image.webp"),
];

/// `SOON` (the scenario's own task), `LATER` and `FAILS` as above.
fn mixed() -> Scenario {
    Scenario::new("v3_model_pbr_same")
        .task_id(SOON)
        .phase("running", Duration::from_millis(300))
        .task(
            LATER,
            TaskSpec::new("v3_model_pbr_same")
                .phase("queued", Duration::from_millis(300))
                .phase("running", Duration::from_millis(1200)),
        )
        .task(
            FAILS,
            TaskSpec::new("failed").phase("running", Duration::from_millis(500)),
        )
}

/// `fetch-assets batch --json ROOT IDS...` against the fake's v3 API.
fn batch(fake: &FakeTripo, base: &str, root: &Path, ids: &[&str]) -> assert_cmd::Command {
    let mut command = fetch_assets(fake, base);
    command.arg("batch").arg("--json").arg(root).args(ids);
    command
}

/// The JSON lines of stdout, by task id.
fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn line_of<'a>(lines: &'a [Value], task_id: &str) -> &'a Value {
    let found: Vec<&Value> = lines.iter().filter(|l| l["task_id"] == task_id).collect();
    assert_eq!(found.len(), 1, "one line for {task_id}: {lines:?}");
    found[0]
}

/// Asserts a task's folder is complete: its files as served, its manifest,
/// its sums, and nothing else.
fn assert_complete(fake: &FakeTripo, dir: &Path) {
    assert_eq!(
        listing(dir),
        [
            "SHA256SUMS",
            "manifest.json",
            "model.glb",
            "rendered_image.webp"
        ]
    );
    assert_same_bytes(fake, dir, &PBR_SAME);
    assert_eq!(manifest_paths(dir), ["model.glb", "rendered_image.webp"]);
    assert!(sha256sum_accepts(dir));
}

fn assert_ok_line(line: &Value, dir: &Path, fake: &FakeTripo) {
    let bytes = fake.file_len("model.glb") + fake.file_len("rendered_image.webp");
    assert_eq!(line["status"], "ok", "{line}");
    assert_eq!(line["exit_code"], 0);
    assert_eq!(line["files"], 2);
    assert_eq!(line["bytes"], bytes);
    assert_eq!(line["error"], Value::Null);
    assert_eq!(line["dir"], dir.display().to_string());
}

#[test]
fn a_mixed_batch_lands_each_task_with_a_line_each_using_list_requests_only() {
    let fake = FakeTripo::start(mixed());
    let root = tempfile::tempdir().expect("tempdir");
    let ids = [SOON, LATER, FAILS, UNKNOWN, SOON];
    let run = batch(&fake, &fake.v3_base(), root.path(), &ids)
        .assert()
        .code(6);
    let output = run.get_output();
    let lines = lines(&output.stdout);
    assert_eq!(lines.len(), 4, "a line per task, repeats once");

    for id in [SOON, LATER] {
        let dir = root.path().join(id);
        assert_complete(&fake, &dir);
        assert_ok_line(line_of(&lines, id), &dir, &fake);
        assert_eq!(common::manifest(&dir)["task_id"], id);
    }
    let failed = line_of(&lines, FAILS);
    assert_eq!(
        (failed["status"].as_str(), failed["exit_code"].as_i64()),
        (Some("error"), Some(6))
    );
    let error = failed["error"].as_str().expect("an error text");
    assert!(
        error.contains("failed") && error.contains("1001"),
        "{error}"
    );
    let unknown = line_of(&lines, UNKNOWN);
    assert_eq!(unknown["exit_code"], 3);
    assert!(
        unknown["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found"))
    );
    // Tasks without success get no folder.
    assert_eq!(listing(root.path()), [SOON, LATER]);
    // The earlier success ended first.
    let order: Vec<&str> = lines.iter().filter_map(|l| l["task_id"].as_str()).collect();
    let position = |id| order.iter().position(|o| *o == id);
    assert!(position(SOON) < position(LATER), "{order:?}");

    let stats = fake.stats();
    let paths: Vec<&str> = stats.api_requests.iter().map(|r| r.path.as_str()).collect();
    assert!(
        paths.iter().all(|p| *p == "/v3/tasks/list"),
        "list requests only: {paths:?}"
    );
    assert!(
        stats.list_requests <= 12,
        "{} list requests",
        stats.list_requests
    );
    assert!(
        stats.api_requests[0].task_ids.len() == 4,
        "every task in the first"
    );
    for request in &stats.cdn_requests {
        assert!(matches!(request.task_id.as_deref(), Some(SOON | LATER)));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("batch: 2 of 4 tasks ok, 2 failed"),
        "{stderr}"
    );
}

#[test]
fn a_list_without_missed_and_as_a_list_ends_the_same() {
    let fake = FakeTripo::start(mixed().list_shape(ListShape::List).list_omits_missed());
    let root = tempfile::tempdir().expect("tempdir");
    let run = batch(
        &fake,
        &fake.v3_base(),
        root.path(),
        &[SOON, LATER, FAILS, UNKNOWN],
    )
    .assert()
    .code(6);
    let lines = lines(&run.get_output().stdout);
    for id in [SOON, LATER] {
        let dir = root.path().join(id);
        assert_complete(&fake, &dir);
        assert_ok_line(line_of(&lines, id), &dir, &fake);
    }
    assert_eq!(line_of(&lines, FAILS)["exit_code"], 6);
    assert_eq!(line_of(&lines, UNKNOWN)["exit_code"], 3);
    // Left out of every answer, the unknown id was asked for on its own, once.
    let stats = fake.stats();
    let gets: Vec<&str> = stats
        .api_requests
        .iter()
        .filter(|r| r.path != "/v3/tasks/list")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(gets, [format!("/v3/tasks/{UNKNOWN}")]);
}

#[test]
fn without_the_list_endpoint_each_task_is_asked_for_on_its_own() {
    for status in [404, 405] {
        let fake = FakeTripo::start(mixed().without_list(status));
        let root = tempfile::tempdir().expect("tempdir");
        let run = batch(
            &fake,
            &fake.v3_base(),
            root.path(),
            &[SOON, LATER, FAILS, UNKNOWN],
        )
        .assert()
        .code(6);
        let lines = lines(&run.get_output().stdout);
        for id in [SOON, LATER] {
            assert_complete(&fake, &root.path().join(id));
        }
        assert_eq!(line_of(&lines, UNKNOWN)["exit_code"], 3);
        let stats = fake.stats();
        assert_eq!(stats.list_requests, 1, "tried once, then never again");
        assert_eq!(stats.api_requests[0].path, "/v3/tasks/list");
        assert!(
            stats.api_requests[1..]
                .iter()
                .all(|r| r.path.starts_with("/v3/tasks/") && r.path != "/v3/tasks/list"),
            "{status}: then GETs only"
        );
    }
}

#[test]
fn v2_asks_task_by_task_at_a_bounded_rate() {
    // Thirty tasks that are all done at once: thirty GETs, spaced out.
    let ids: Vec<String> = (0..30)
        .map(|i| format!("e5000000-0000-4000-8000-{i:012}"))
        .collect();
    let mut scenario = Scenario::new("v2_all_outputs").task_id(&ids[0]);
    for id in &ids[1..] {
        scenario = scenario.task(id, TaskSpec::new("v2_all_outputs"));
    }
    let fake = FakeTripo::start(scenario);
    let root = tempfile::tempdir().expect("tempdir");
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let run = batch(&fake, &fake.v2_base(), root.path(), &ids)
        .assert()
        .success();
    assert_eq!(lines(&run.get_output().stdout).len(), 30);
    assert!(sha256sum_accepts(&root.path().join(ids[29])));
    let stats = fake.stats();
    assert_eq!(stats.list_requests, 0);
    let asked: Vec<Duration> = stats
        .api_requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/openapi/task/"))
        .map(|r| r.at)
        .collect();
    assert_eq!(asked.len(), 30, "one GET a task");
    let spread = asked[29].saturating_sub(asked[0]);
    assert!(
        spread >= Duration::from_millis(1300),
        "30 GETs within {spread:?}"
    );
}

#[test]
fn a_rerun_fetches_nothing_and_each_folder_is_a_single_task_folder() {
    let fake = FakeTripo::start(mixed());
    let root = tempfile::tempdir().expect("tempdir");
    let ids = [SOON, LATER, FAILS, UNKNOWN];
    batch(&fake, &fake.v3_base(), root.path(), &ids)
        .assert()
        .code(6);
    let manifest = std::fs::read(root.path().join(SOON).join("manifest.json")).expect("manifest");
    let file_requests = fake.stats().cdn_requests.len();

    // Again: the complete folders are kept, not a byte fetched.
    let run = batch(&fake, &fake.v3_base(), root.path(), &ids)
        .assert()
        .code(6);
    let lines = lines(&run.get_output().stdout);
    for id in [SOON, LATER] {
        assert_ok_line(line_of(&lines, id), &root.path().join(id), &fake);
    }
    assert_eq!(
        fake.stats().cdn_requests.len(),
        file_requests,
        "no file request"
    );
    let again = std::fs::read(root.path().join(SOON).join("manifest.json")).expect("manifest");
    assert_eq!(again, manifest, "the manifest is left as it was");

    // `verify` reads a batch folder, and a single-task run on it is a no-op.
    assert!(verify_passes(&root.path().join(LATER)));
    fetch_assets(&fake, &fake.v3_base())
        .arg(LATER)
        .arg(root.path().join(LATER))
        .assert()
        .success()
        .stderr(predicates::str::contains("already complete"));
    assert_eq!(fake.stats().cdn_requests.len(), file_requests, "still none");
}

#[test]
fn bad_ids_are_usage_errors_before_any_request_and_from_reads_a_list() {
    let fake = FakeTripo::start(mixed());
    let root = tempfile::tempdir().expect("tempdir");
    let list = root.path().join("ids.txt");
    std::fs::write(
        &list,
        format!("# tonight's scene\n{SOON}\n\n  {LATER}  # the chest\n{SOON}\nnot/an id\n"),
    )
    .expect("write the list");
    let out = root.path().join("assets");
    fetch_assets(&fake, &fake.v3_base())
        .arg("batch")
        .arg("--from")
        .arg(&list)
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("line 6"));
    assert!(fake.stats().api_requests.is_empty(), "no request at all");
    assert!(!out.exists());

    std::fs::write(
        &list,
        format!("# tonight's scene\n{SOON}\n\n  {LATER}  # the chest\n{SOON}\n"),
    )
    .expect("write the list");
    let run = fetch_assets(&fake, &fake.v3_base())
        .arg("batch")
        .arg("--json")
        .arg("--from")
        .arg("-")
        .arg(&out)
        .write_stdin(std::fs::read(&list).expect("the list"))
        .assert()
        .success();
    assert_eq!(lines(&run.get_output().stdout).len(), 2, "each id once");
    assert_complete(&fake, &out.join(SOON));
    assert_complete(&fake, &out.join(LATER));
}

#[tokio::test]
async fn the_library_yields_each_task_as_it_ends() {
    use futures::StreamExt;
    let fake = FakeTripo::start(mixed());
    let client = common::client(&fake, &fake.v3_base(), Default::default());
    let root = tempfile::tempdir().expect("tempdir");
    let options = fetch_assets::FetchOptions::default();
    let refused = client.fetch_many([SOON, "no good"], root.path(), &options);
    assert!(matches!(refused, Err(fetch_assets::Error::Usage(_))));
    assert!(fake.stats().api_requests.is_empty());

    let mut batch = client
        .fetch_many([LATER, FAILS, SOON], root.path(), &options)
        .expect("a batch");
    assert_eq!(batch.task_ids(), [LATER, FAILS, SOON]);
    let mut ended = Vec::new();
    while let Some(outcome) = batch.next().await {
        assert_eq!(outcome.dir, root.path().join(&outcome.task_id));
        ended.push((
            outcome.task_id.clone(),
            outcome.result.map(|m| m.files.len()),
        ));
    }
    let order: Vec<&str> = ended.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(order.len(), 3);
    assert_eq!(order[2], LATER, "the last to succeed ends last: {order:?}");
    let result = |id: &str| &ended.iter().find(|(i, _)| i == id).expect("ended").1;
    assert!(matches!(
        result(FAILS),
        Err(fetch_assets::Error::TaskEnded { .. })
    ));
    assert!(matches!(result(SOON), Ok(2)));
    assert!(matches!(result(LATER), Ok(2)));
}

#[test]
fn ctrl_c_mid_batch_exits_130_and_leaves_no_partial_file_under_a_final_name() {
    const BIG: &str = "f6000000-0000-4000-8000-000000000006";
    const RUNNING: &str = "a7000000-0000-4000-8000-000000000007";
    let big = serde_json::json!({"code": 0, "data": {
        "task_id": BIG, "type": "text_to_model", "status": "success", "input": {},
        "output": {"model_url": "cdn:big.glb"}, "progress": 100, "create_time": 1_795_887_300,
    }});
    let fake = FakeTripo::start(
        Scenario::new("v3_model_pbr_same")
            .task_id(SOON)
            .task(BIG, TaskSpec::from_json(big))
            .task(
                RUNNING,
                TaskSpec::new("v3_model_pbr_same").phase("running", Duration::from_secs(600)),
            )
            .file_size("big.glb", 40_000_000)
            .fault(
                "big.glb",
                fake_tripo::FileFault {
                    throttle: Some(2_000_000),
                    ..Default::default()
                },
            ),
    );
    let root = tempfile::tempdir().expect("tempdir");
    let list = tempfile::NamedTempFile::new().expect("a list");
    std::fs::write(list.path(), format!("{SOON}\n{BIG}\n{RUNNING}\n")).expect("write");
    let list_arg = list.path().to_string_lossy().into_owned();
    let mut run = common::Background::start(&fake, &["batch", "--from", &list_arg], root.path());
    common::wait_for("the big file in flight", Duration::from_secs(20), || {
        fake.stats().bytes_sent_for("big.glb") > 500_000
            && root.path().join(SOON).join("manifest.json").exists()
    });
    run.signal("INT");
    let status = run.exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "stderr:\n{}", run.stderr());

    // The task that was done stays done; the one in flight has nothing
    // under a final name; the one still running has no folder.
    assert!(sha256sum_accepts(&root.path().join(SOON)));
    let in_flight = listing(&root.path().join(BIG));
    assert!(
        in_flight.iter().all(|name| name.starts_with('.')),
        "only hidden staging is left: {in_flight:?}"
    );
    assert!(!root.path().join(RUNNING).exists());
    let stderr = run.stderr();
    for id in [BIG, RUNNING] {
        assert!(
            stderr.contains(&format!("{id}: failed (exit code 130)")),
            "{id} is reported interrupted:\n{stderr}"
        );
    }
}
