//! Content checks, as a user meets them: an error page a CDN sends with
//! `200` in place of a file is retried on fresh links and then refused; a
//! damaged model ends the run naming the check; `--no-content-check` keeps
//! what arrived.

use crate::common;

use common::{assert_same_bytes, fetch_into, listing, manifest_paths, sha256sum_accepts};
use fake_tripo::{ErrorPage, FakeTripo, FileFault, Scenario};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn an_error_page_on_200_is_retried_on_a_fresh_link_then_the_file_lands() {
    for page in [
        ErrorPage::html(),
        ErrorPage::html_labelled("model/gltf-binary"),
        ErrorPage::xml(),
    ] {
        let fake = FakeTripo::start(Scenario::new("v3_bare_task").fault(
            "model.glb",
            FileFault {
                error_page_first: 2,
                error_page: page.clone(),
                ..FileFault::default()
            },
        ));
        let out = tempfile::tempdir().expect("tempdir");
        fetch_into(&fake, &fake.v3_base(), out.path())
            .assert()
            .success();
        assert_same_bytes(&fake, out.path(), &[("model.glb", "model.glb")]);
        assert!(sha256sum_accepts(out.path()));
        let stats = fake.stats();
        assert_eq!(stats.requests_for("model.glb"), 3, "{page:?}");
        assert_eq!(stats.final_answers(), 3, "a fresh link after each page");
    }
}

#[test]
fn an_error_page_that_never_ends_exits_5_naming_the_file_and_the_page() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").fault(
        "model.glb",
        FileFault {
            error_page_always: true,
            ..FileFault::default()
        },
    ));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(5)
        .stderr(
            contains("model.glb")
                .and(contains("HTML page"))
                .and(contains("Service Unavailable")),
        );
    assert!(
        listing(out.path()).iter().all(|name| name.starts_with('.')),
        "no file and no manifest: {:?}",
        listing(out.path())
    );
    let requests = fake.stats().requests_for("model.glb");
    assert!((2..=8).contains(&requests), "bounded retries: {requests}");
}

#[test]
fn a_damaged_glb_exits_5_naming_the_file_and_the_check_without_retrying() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").damaged("model.glb"));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(5)
        .stderr(
            contains("model.glb")
                .and(contains(
                    "GLB header says 204096 bytes, but the file has 200000",
                ))
                .and(contains("--no-content-check")),
        );
    assert!(!out.path().join("model.glb").exists());
    assert!(!out.path().join("manifest.json").exists());
    assert_eq!(fake.stats().requests_for("model.glb"), 1);
}

#[test]
fn no_content_check_keeps_what_arrived() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task")
            .damaged("model.glb")
            .fault("rendered_image.webp", FileFault::error_page(1)),
    );
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .arg("--no-content-check")
        .assert()
        .success();
    assert_same_bytes(&fake, out.path(), &[("model.glb", "model.glb")]);
    let image = std::fs::read(out.path().join("rendered_image.webp")).expect("kept");
    assert_eq!(image, ErrorPage::html().body.as_bytes(), "kept as it came");
    assert_eq!(
        manifest_paths(out.path()),
        ["model.glb", "rendered_image.webp"]
    );
}
