//! The core, as a user tries it: the real binary against the fake service,
//! in both dialects.

use crate::common;

use std::time::Duration;

use common::{
    V2_ALL_OUTPUTS, assert_same_bytes, fetch_assets, fetch_into, listing, manifest, manifest_paths,
    sha256sum_accepts, verify,
};
use fake_tripo::{FakeTripo, Scenario};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn v2_task_with_all_outputs_lands_ten_verified_files() {
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs").phase("running", Duration::from_millis(300)),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("nested/out");

    fetch_into(&fake, &fake.v2_base(), &dir)
        .assert()
        .success()
        .stdout("");

    let mut expected: Vec<String> = V2_ALL_OUTPUTS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(
        manifest_paths(&dir),
        expected,
        "manifest lists the files in the contract's order"
    );
    expected.extend(["SHA256SUMS".to_owned(), "manifest.json".to_owned()]);
    expected.sort();
    assert_eq!(listing(&dir), expected, "nothing stray is left");
    assert_same_bytes(&fake, &dir, &V2_ALL_OUTPUTS);
    assert!(sha256sum_accepts(&dir));

    let manifest = manifest(&dir);
    assert_eq!(manifest["schema_version"], 1);
    assert_eq!(manifest["task_id"], fake.task_id());
    let back = &manifest["files"][7];
    assert_eq!(
        (
            back["role"].as_str(),
            back["view"].as_str(),
            back["index"].as_u64()
        ),
        (Some("multiview"), Some("back"), Some(2))
    );
    let model = &manifest["files"][0];
    assert_eq!(model["media_type"], "model/gltf-binary");
    assert_eq!(model["size"], fake.file_len("model.glb"));
    let text = serde_json::to_string(&manifest).expect("json");
    assert!(
        !text.contains('?') && !text.contains("Signature"),
        "no signed link in the manifest: {text}"
    );

    let stats = fake.stats();
    assert!(
        stats.task_requests >= 2,
        "it waited through the running phase"
    );
    assert!(
        stats.cdn_requests.iter().all(|r| !r.had_authorization),
        "no file request carries the key"
    );
}

#[test]
fn v3_task_with_every_output_and_shared_model_link() {
    let fake = FakeTripo::start(Scenario::new("v3_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert_eq!(
        manifest_paths(out.path()),
        [
            "model.glb",
            "base_model.glb",
            "pbr_model.glb",
            "generated_image.webp",
            "rendered_image.webp",
            "depth_image.png",
            "uv_render.png",
            "rendered_video.mp4",
            "multiview_0_front.png",
            "multiview_1_left.png",
            "multiview_2_back.png",
            "multiview_3_right.png",
            "thumbnail.webp",
        ]
    );
    assert_same_bytes(
        &fake,
        out.path(),
        &[
            ("depth_image.png", "depth.png"),
            ("rendered_video.mp4", "video.mp4"),
        ],
    );
    assert!(sha256sum_accepts(out.path()));
    assert_eq!(
        manifest(out.path())["files"][12]["field"],
        "thumbnail_url",
        "an output no table names is fetched too, with its field"
    );
    assert_eq!(fake.stats().requests_for("thumbnail.webp"), 1);
}

#[test]
fn v3_model_and_pbr_model_with_one_link_are_fetched_once() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    assert_eq!(fake.stats().requests_for("model.glb"), 1);
    let manifest = manifest(out.path());
    assert_eq!(manifest["files"][0]["path"], "model.glb");
    assert_eq!(
        manifest["files"][0]["aliases"],
        serde_json::json!(["pbr_model"])
    );
    assert!(!out.path().join("pbr_model.glb").exists());
    assert!(sha256sum_accepts(out.path()));
}

#[test]
fn flat_and_edit_multiview_and_bare_tasks_land_their_files() {
    for (fixture, v2) in [
        ("v2_flat_multiview", true),
        ("v3_edit_multiview", false),
        ("v3_bare_task", false),
    ] {
        let fake = FakeTripo::start(Scenario::new(fixture));
        let out = tempfile::tempdir().expect("tempdir");
        let base = if v2 { fake.v2_base() } else { fake.v3_base() };
        fetch_assets(&fake, &base)
            .arg(fake.task_id())
            .arg(out.path())
            .assert()
            .success();
        let paths = manifest_paths(out.path());
        assert!(!paths.is_empty(), "{fixture}");
        if fixture != "v3_bare_task" {
            let views: Vec<&String> = paths
                .iter()
                .filter(|p| p.starts_with("multiview_"))
                .collect();
            assert!(!views.is_empty(), "{fixture}: {paths:?}");
        }
        assert!(sha256sum_accepts(out.path()), "{fixture}");
    }
}

#[test]
fn each_unsuccessful_final_status_exits_6_naming_it() {
    for status in ["failed", "banned", "expired", "cancelled", "unknown"] {
        let fake = FakeTripo::start(Scenario::new(status));
        let out = tempfile::tempdir().expect("tempdir");
        let assert = fetch_into(&fake, &fake.v3_base(), out.path())
            .assert()
            .code(6);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("ended as {status}")),
            "{status}: {stderr}"
        );
        assert!(listing(out.path()).is_empty(), "{status}: nothing written");
    }
    let fake = FakeTripo::start(Scenario::new("failed"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .code(6)
        .stderr(contains("error code 1001"));
}

#[test]
fn a_wrong_key_exits_3_and_says_to_check_it() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&fake, &fake.v3_base())
        .env("TRIPO_API_KEY", "tsk_not_the_right_one")
        .arg(fake.task_id())
        .arg(out.path())
        .assert()
        .code(3)
        .stderr(
            contains("refused the key")
                .and(contains("TRIPO_API_KEY"))
                .and(contains("trace id")),
        )
        .stderr(contains("tsk_not_the_right_one").not());
}

#[test]
fn an_unknown_task_exits_3_and_explains_both_causes() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&fake, &fake.v2_base())
        .arg("00000000-0000-0000-0000-000000000000")
        .arg(out.path())
        .assert()
        .code(3)
        .stderr(contains("not found").and(contains("not the one that created the task")));
}

#[test]
fn a_missing_key_or_bad_arguments_exit_2() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&fake, &fake.v3_base())
        .env_remove("TRIPO_API_KEY")
        .arg(fake.task_id())
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(contains("no API key"));
    fetch_assets(&fake, &fake.v3_base())
        .arg("../../etc")
        .arg(out.path())
        .assert()
        .code(2);
    fetch_assets(&fake, &fake.v3_base())
        .args(["--only", "Thumbnail!", fake.task_id()])
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(contains("choose from"));
    fetch_assets(&fake, &fake.v3_base())
        .args(["--timeout", "soon", fake.task_id()])
        .arg(out.path())
        .assert()
        .code(2);
    assert_eq!(fake.stats().task_requests, 0);
}

#[test]
fn timeout_on_a_long_task_exits_4_quickly() {
    // The task runs for ten minutes: an exit 4 saying it gave up while the
    // task was running can only be the two-second timeout's.
    let fake =
        FakeTripo::start(Scenario::new("v3_bare_task").phase("running", Duration::from_secs(600)));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_assets(&fake, &fake.v3_base())
        .args(["--timeout", "2s", fake.task_id()])
        .arg(out.path())
        .assert()
        .code(4)
        .stderr(contains("gave up").and(contains("running")));
    assert!(listing(out.path()).is_empty());
}

#[test]
fn a_success_without_outputs_is_an_error_not_an_empty_folder() {
    let fake = FakeTripo::start(Scenario::new("success_no_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(3)
        .stderr(contains("no output file"));
    assert!(listing(out.path()).is_empty());
}

#[test]
fn verify_passes_then_names_each_changed_or_missing_file() {
    let fake = FakeTripo::start(Scenario::new("v2_all_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v2_base(), out.path())
        .assert()
        .success();

    verify(out.path())
        .assert()
        .success()
        .stdout(contains("model.glb: OK"));

    let mut model = std::fs::read(out.path().join("model.glb")).expect("model");
    model[100] ^= 0xff;
    std::fs::write(out.path().join("model.glb"), model).expect("corrupt");
    std::fs::remove_file(out.path().join("multiview_1_left.png")).expect("remove");
    std::fs::write(out.path().join("rendered_image.webp"), b"short").expect("truncate");

    verify(out.path())
        .arg("--quiet")
        .assert()
        .code(1)
        .stdout(
            contains("model.glb: FAILED (content differs)")
                .and(contains("multiview_1_left.png: MISSING"))
                .and(contains("rendered_image.webp: FAILED (size 5 bytes"))
                .and(contains("base_model.glb").not()),
        )
        .stderr(contains("3 of 10"));
}

#[test]
fn json_prints_the_manifest_and_only_it() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    let assert = fetch_assets(&fake, &fake.v3_base())
        .args(["--json", "--quiet", fake.task_id()])
        .arg(out.path())
        .assert()
        .success()
        .stderr("");
    let printed: serde_json::Value =
        serde_json::from_slice(&assert.get_output().stdout).expect("stdout is JSON");
    assert_eq!(printed, manifest(out.path()));
}

#[test]
fn json_into_a_closed_pipe_is_not_a_failed_download() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same"));
    let out = tempfile::tempdir().expect("tempdir");
    let mut child = common::command(&fake, &fake.v3_base())
        .args(["--json", "--quiet", fake.task_id()])
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    // The reader goes away before the manifest is printed (`| head -c0`).
    drop(child.stdout.take());
    let run = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(manifest(out.path())["task_id"], fake.task_id());
}

#[test]
fn completions_and_the_man_page_come_from_the_binary() {
    let binary = || assert_cmd::Command::cargo_bin("fetch-assets").expect("binary");
    for shell in ["bash", "zsh", "fish"] {
        binary()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(contains("fetch-assets").and(contains("stall-timeout")));
    }
    binary()
        .arg("man")
        .assert()
        .success()
        .stdout(contains(".TH fetch-assets 1").and(contains("stall\\-timeout")));
    binary().args(["completions", "cmd.exe"]).assert().code(2);
}
