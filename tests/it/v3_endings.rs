//! How v3 says a task or a key ended: content policy and expiry as
//! `failed` with 2008/2018, a 403 from the API that is no dead link, and a
//! 401 that may be the wrong region.

use crate::common;

use common::{fetch_into, listing};
use fake_tripo::{ApiFault, FakeTripo, Scenario};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn failed_with_2008_or_2018_says_content_policy_or_expired() {
    for (code, words) in [
        (2008, "refused by the content policy"),
        (2018, "the task expired"),
    ] {
        let fake = FakeTripo::start(Scenario::from_json(serde_json::json!({
            "task_id": "t-v3", "type": "text_to_model", "status": "failed",
            "output": {}, "progress": 100, "error_code": code,
            "error_message": "task failed",
        })));
        let out = tempfile::tempdir().expect("tempdir");
        fetch_into(&fake, &fake.v3_base(), out.path())
            .assert()
            .code(6)
            .stderr(contains("ended as failed").and(contains(words)));
        assert!(listing(out.path()).is_empty());
    }
}

#[test]
fn not_enough_credit_is_exit_3_at_once_saying_what_to_do() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").api_fault(ApiFault::error(
        403,
        2010,
        "Not enough credit",
    )));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(3)
        .stderr(contains("credit").and(contains("top it up")));
    let stats = fake.stats();
    assert_eq!(stats.task_requests, 1, "not retried");
    assert!(stats.cdn_requests.is_empty(), "not taken for a dead link");
}

#[test]
fn a_401_with_code_2_is_a_bad_key_and_hints_at_the_region() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").api_fault(ApiFault::error(
        401,
        2,
        "Unauthorized",
    )));
    let out = tempfile::tempdir().expect("tempdir");
    fetch_into(&fake, &fake.v3_base(), out.path())
        .assert()
        .code(3)
        .stderr(
            contains("refused the key")
                .and(contains("one region only"))
                .and(contains("--api-base https://openapi.tripo3d.com")),
        );
    assert_eq!(fake.stats().task_requests, 1);
}
