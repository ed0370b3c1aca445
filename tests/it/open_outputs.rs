//! Open-ended outputs, as the live service answers: every link in `output`
//! lands, named by its place, after the table's roles, with its `field` in
//! the manifest; `--only` takes the new names; nothing outside `output` is
//! read.

use crate::common;

use common::{assert_same_bytes, fetch_into, listing, manifest, manifest_paths, sha256sum_accepts};
use fake_tripo::{FakeTripo, Scenario};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// Each file's path and field in the manifest, in order.
fn paths_and_fields(dir: &std::path::Path) -> Vec<(String, Option<String>)> {
    manifest(dir)["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_owned(),
                f["field"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn owned(expected: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    expected
        .iter()
        .map(|(p, f)| ((*p).to_owned(), f.map(str::to_owned)))
        .collect()
}

#[test]
fn every_live_shape_lands_in_full_in_path_order() {
    let fake = FakeTripo::start(Scenario::new("v3_open_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .success();
    let expected = [
        ("model.glb", None),
        ("rendered_image.webp", None),
        ("image_0.png", Some("image_urls[0]")),
        ("image_1.jpg", Some("image_urls[1]")),
        ("model_1.fbx", Some("model_urls[1]")),
        ("multiview_basecolor.png", Some("multiview_basecolor_url")),
        ("rendered_sequence.zip", Some("rendered_sequence_url")),
        ("splat.splat", Some("splat_url")),
        ("textures_albedo.png", Some("textures.albedo_url")),
        ("textures_normal.png", Some("textures.normal_url")),
        ("thumbnail.webp", Some("thumbnail_url")),
    ];
    assert_eq!(paths_and_fields(out.path()), owned(&expected));
    let manifest = manifest(out.path());
    assert_eq!(
        manifest["files"][0]["aliases"],
        serde_json::json!(["pbr_model", "model_0"]),
        "model_urls[0] is the model's own link: fetched once, listed as an alias"
    );
    assert_eq!(manifest["files"][4]["role"], "model_1");
    assert_same_bytes(
        &fake,
        out.path(),
        &[
            ("model_1.fbx", "model_quad.fbx"),
            ("textures_albedo.png", "albedo.png"),
            ("splat.splat", "scene.splat"),
            ("thumbnail.webp", "thumbnail.webp"),
        ],
    );
    assert!(sha256sum_accepts(out.path()));
    let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).expect("sums");
    let summed: Vec<&str> = sums.lines().filter_map(|l| l.get(66..)).collect();
    assert_eq!(summed, manifest_paths(out.path()));
    let stats = fake.stats();
    assert_eq!(stats.requests_for("model.glb"), 1);
    assert_eq!(stats.requests_for("legacy.glb"), 0, "result is not read");
    assert_eq!(
        listing(out.path()).len(),
        expected.len() + 2,
        "nothing else"
    );
}

#[test]
fn convert_and_rig_tasks_land_every_file() {
    for (fixture, expected) in [
        (
            "v3_convert_task",
            vec![
                ("model.fbx", None),
                ("thumbnail.webp", Some("thumbnail_url")),
                ("usdz.usdz", Some("usdz_url")),
            ],
        ),
        (
            "v3_rig_task",
            vec![
                ("model.glb", None),
                ("animations_0_model.fbx", Some("animations[0].model_url")),
                ("animations_1_model.fbx", Some("animations[1].model_url")),
            ],
        ),
    ] {
        let fake = FakeTripo::start(Scenario::new(fixture));
        let out = tempfile::tempdir().expect("tempdir");
        fetch_into(&fake, &fake.v3_base(), out.path())
            .assert()
            .success();
        assert_eq!(paths_and_fields(out.path()), owned(&expected), "{fixture}");
        assert!(sha256sum_accepts(out.path()), "{fixture}");
    }
}

#[test]
fn only_takes_the_new_names_and_lists_them_when_one_is_missing() {
    let fake = FakeTripo::start(Scenario::new("v3_open_outputs"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .args(["--only", "thumbnail,model_1,model_0"])
        .assert()
        .success();
    assert_eq!(
        paths_and_fields(out.path()),
        owned(&[
            ("model_0.glb", Some("model_urls[0]")),
            ("model_1.fbx", Some("model_urls[1]")),
            ("thumbnail.webp", Some("thumbnail_url")),
        ])
    );
    assert_eq!(fake.stats().requests_for("albedo.png"), 0);

    let other = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), other.path())
        .args(["--only", "splat,nothing_here"])
        .assert()
        .code(2)
        .stderr(
            contains("no nothing_here output")
                .and(contains(
                    "model, pbr_model, rendered_image, image_0, image_1, model_0, model_1",
                ))
                .and(contains("thumbnail")),
        );
}

#[test]
fn a_value_under_a_url_key_that_is_no_link_is_refused_naming_the_field() {
    let answer = serde_json::json!({"code": 0, "data": {
        "task_id": "t-bad", "type": "text_to_model", "status": "success",
        "output": {"model_url": "cdn:model.glb", "splat_url": "ftp://elsewhere/x.splat"},
    }});
    let fake = FakeTripo::start(Scenario::from_json(answer));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(5)
        .stderr(contains("splat (field splat_url)").and(contains("'ftp'")));
    assert!(listing(out.path()).is_empty());
    fetch_into(&fake, &fake.v3_base(), out.path())
        .args(["--only", "model"])
        .assert()
        .success();
    assert_eq!(manifest_paths(out.path()), ["model.glb"]);
}
