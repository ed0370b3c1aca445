//! Tests of the fake's many-task knobs, with a plain HTTP client: several
//! tasks with their own timelines, and `POST /v3/tasks/list` in each of its
//! shapes, with `missed` or without, and missing.

use std::time::Duration;

use fake_tripo::{ApiFault, FakeTripo, ListShape, MAX_LIST_IDS, Scenario, TaskSpec};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SLOW: &str = "b0000000-0000-4000-8000-000000000002";
const FAILING: &str = "c0000000-0000-4000-8000-000000000003";
const UNKNOWN: &str = "d0000000-0000-4000-8000-00000000dead";

fn client() -> reqwest::Client {
    // Built with fetch-assets in one workspace, reqwest has rustls without a
    // provider: the tests give it the one fetch-assets uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// The scenario's own task succeeds at once; `SLOW` runs for a while first;
/// `FAILING` fails (error code 1001).
fn scenario() -> Scenario {
    Scenario::new("v3_all_outputs")
        .task(
            SLOW,
            TaskSpec::new("v3_model_pbr_same").phase("running", Duration::from_secs(30)),
        )
        .task(FAILING, TaskSpec::new("failed"))
}

async fn body(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.expect("a body");
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

async fn list(fake: &FakeTripo, ids: &[&str]) -> (StatusCode, Value) {
    let response = client()
        .post(format!("{}/v3/tasks/list", fake.v3_base()))
        .bearer_auth(fake.api_key())
        .header("content-type", "application/json")
        .body(json!({ "task_ids": ids }).to_string())
        .send()
        .await
        .expect("list request");
    let status = response.status();
    (status, body(response).await)
}

#[tokio::test]
async fn each_task_has_its_own_timeline_answer_and_links() {
    let fake = FakeTripo::start(scenario());
    let http = client();
    let get = |id: &str| {
        http.get(format!("{}/v3/tasks/{id}", fake.v3_base()))
            .bearer_auth(fake.api_key())
            .send()
    };
    let own = body(get(fake.task_id()).await.expect("request")).await;
    assert_eq!(own["data"]["status"], "success");
    let slow = body(get(SLOW).await.expect("request")).await;
    assert_eq!(slow["data"]["status"], "running");
    assert_eq!(slow["data"]["task_id"], SLOW);
    assert!(slow["data"]["running_left_time"].as_i64().unwrap_or(0) >= 28);
    let failing = body(get(FAILING).await.expect("request")).await;
    assert_eq!(failing["data"]["status"], "failed");
    assert_eq!(failing["data"]["task_id"], FAILING);
    let unknown = get(UNKNOWN).await.expect("request");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // A link names its own task in its path, and the CDN records whose it was.
    let link = own["data"]["output"]["model_url"].as_str().expect("a link");
    assert!(
        link.contains(&format!("/{}/model.glb?", fake.task_id())),
        "{link}"
    );
    let served = http.get(link).send().await.expect("file request");
    assert_eq!(served.status(), StatusCode::OK);
    let stats = fake.stats();
    assert_eq!(
        stats.cdn_requests[0].task_id.as_deref(),
        Some(fake.task_id())
    );
    assert_eq!(stats.task_requests, 4);
    assert_eq!(stats.list_requests, 0);
}

#[tokio::test]
async fn list_answers_every_task_as_an_object_by_default_and_names_the_missed() {
    let fake = FakeTripo::start(scenario());
    let own = fake.task_id().to_owned();
    let (status, answer) = list(&fake, &[&own, SLOW, FAILING, UNKNOWN, SLOW]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["code"], 0);
    let tasks = answer["data"]["tasks"].as_object().expect("tasks by id");
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[&own]["status"], "success");
    assert!(
        tasks[&own]["output"]["model_url"]
            .as_str()
            .is_some_and(|l| l.contains("Signature="))
    );
    assert_eq!(tasks[SLOW]["status"], "running");
    assert_eq!(tasks[FAILING]["error_code"], 1001);
    assert_eq!(answer["data"]["missed"], json!([UNKNOWN]));

    let stats = fake.stats();
    assert_eq!((stats.list_requests, stats.task_requests), (1, 0));
    let logged = &stats.api_requests[0];
    assert_eq!(logged.path, "/v3/tasks/list");
    assert_eq!(
        logged.task_ids,
        [own.as_str(), SLOW, FAILING, UNKNOWN, SLOW]
    );
    assert!(logged.final_answer, "it carried final answers");
}

#[tokio::test]
async fn list_can_answer_a_list_and_leave_out_the_missed() {
    let fake = FakeTripo::start(scenario().list_shape(ListShape::List).list_omits_missed());
    let (status, answer) = list(&fake, &[SLOW, UNKNOWN, FAILING]).await;
    assert_eq!(status, StatusCode::OK);
    let tasks = answer["data"]["tasks"].as_array().expect("tasks as a list");
    let ids: Vec<&str> = tasks.iter().filter_map(|t| t["task_id"].as_str()).collect();
    assert_eq!(ids, [SLOW, FAILING]);
    assert!(answer["data"].get("missed").is_none(), "{answer}");
}

#[tokio::test]
async fn list_can_be_missing() {
    for status in [404, 405] {
        let fake = FakeTripo::start(scenario().without_list(status));
        let (answered, _) = list(&fake, &[SLOW]).await;
        assert_eq!(answered.as_u16(), status);
        let stats = fake.stats();
        assert_eq!(stats.list_requests, 1);
        assert_eq!(stats.api_requests[0].status, status);
    }
}

#[tokio::test]
async fn list_checks_key_size_and_takes_its_turn_with_api_faults() {
    let fake = FakeTripo::start(scenario().api_fault(ApiFault::rate_limited(1)));
    let (status, _) = list(&fake, &[SLOW]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the queued fault");

    let too_many: Vec<String> = (0..=MAX_LIST_IDS).map(|i| format!("t{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    let (status, answer) = list(&fake, &too_many).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], 1004);

    let unauthorised = client()
        .post(format!("{}/v3/tasks/list", fake.v3_base()))
        .body(json!({ "task_ids": [SLOW] }).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fake.stats().list_requests, 3);
}
