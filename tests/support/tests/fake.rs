//! Tests of the fake itself, with a plain HTTP client: what the fetch-assets
//! tests rely on must hold here first.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fake_tripo::{ApiFault, ErrorPage, FakeTripo, FileFault, LinkStyle, Scenario, Validators};
use reqwest::StatusCode;
use serde_json::Value;

fn client() -> reqwest::Client {
    // Built with fetch-assets in one workspace, reqwest has rustls without a
    // provider: the tests give it the one fetch-assets uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// GETs the task on the v3 route with the fake's key.
async fn task(fake: &FakeTripo, http: &reqwest::Client) -> Value {
    let url = format!("{}/v3/tasks/{}", fake.v3_base(), fake.task_id());
    let response = http
        .get(url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("task request");
    assert_eq!(response.status(), StatusCode::OK);
    response.json_value().await
}

/// The JSON body, reqwest's `json` feature being off here.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let body = self.bytes().await.expect("a body");
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
    }
}

fn link(answer: &Value, field: &str) -> String {
    answer["data"]["output"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no output.{field} in {answer}"))
        .to_owned()
}

fn query_param(link: &str, name: &str) -> String {
    let (_, query) = link.split_once('?').expect("a query");
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {link}"))
        .to_owned()
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

#[tokio::test]
async fn wrong_or_missing_key_is_401_and_unknown_task_404_with_trace_ids() {
    let fake = FakeTripo::start(Scenario::new("v3_all_outputs"));
    let http = client();
    let url = format!("{}/task/{}", fake.v2_base(), fake.task_id());

    let wrong = http
        .get(&url)
        .bearer_auth("tsk_wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let trace = wrong.headers()["x-tripo-trace-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(trace.starts_with("trace-"), "{trace}");
    assert_eq!(wrong.json_value().await["code"], 1002);

    let missing = http.get(&url).send().await.expect("request");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_ne!(
        missing.headers()["x-tripo-trace-id"]
            .to_str()
            .expect("ascii"),
        trace
    );

    let other = format!("{}/v3/tasks/no-such-task", fake.v3_base());
    let unknown = http
        .get(other)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.headers().contains_key("x-tripo-trace-id"));
    assert_eq!(unknown.json_value().await["code"], 2001);

    let stats = fake.stats();
    assert_eq!(stats.task_requests, 3);
    assert!(stats.api_requests.iter().all(|r| !r.final_answer));
    assert!(!stats.api_requests[0].had_valid_key);
    assert!(stats.api_requests[2].had_valid_key);
}

#[tokio::test]
async fn timeline_goes_queued_running_then_final_on_both_routes() {
    let fake = FakeTripo::start(
        Scenario::new("v2_all_outputs")
            .phase("queued", Duration::from_millis(1000))
            .phase("running", Duration::from_millis(1500)),
    );
    let http = client();
    let started = Instant::now();

    let queued = task(&fake, &http).await;
    assert_eq!(queued["code"], 0);
    let data = &queued["data"];
    assert_eq!(data["status"], "queued");
    assert_eq!(data["progress"], 0);
    assert_eq!(data["queuing_num"], 1);
    assert_eq!(data["running_left_time"], -1);
    assert_eq!(data["output"], serde_json::json!({}));
    assert_eq!(data["create_time"], 1795887000);
    assert_eq!(data["task_id"], fake.task_id());

    // A queued phase of a second: the first answer comes within it even on a
    // machine busy enough to take a few hundred milliseconds to connect.
    tokio::time::sleep_until((started + Duration::from_millis(1200)).into()).await;
    let url = format!("{}/task/{}", fake.v2_base(), fake.task_id());
    let running = http
        .get(url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("request");
    let running = running.json_value().await;
    let data = &running["data"];
    assert_eq!(data["status"], "running");
    assert_eq!(data["queuing_num"], -1);
    let progress = data["progress"].as_u64().expect("progress");
    assert!((5..=99).contains(&progress), "progress {progress}");
    // 1.5 s phase, ~0.2 s into it: about 1.3 s left, rounded down (0 only
    // if this machine is very slow today; rounding up would say 2).
    let left = data["running_left_time"].as_i64().expect("seconds left");
    assert!(left == 1 || left == 0, "running_left_time {left}");

    tokio::time::sleep_until((started + Duration::from_millis(2550)).into()).await;
    let done = task(&fake, &http).await;
    assert_eq!(done["data"]["status"], "success");
    let model = link(&done, "model");
    assert!(
        model.starts_with(&format!(
            "{}/tcli_0123456789abcdef0123456789abcdef/",
            fake.cdn_base()
        )),
        "{model}"
    );
    assert!(
        model.contains(&format!("/{}/model.glb?", fake.task_id())),
        "{model}"
    );
    let front = done["data"]["output"]["generate_multiview_image"]["front_view_url"]
        .as_str()
        .expect("front");
    assert!(front.contains("/front.png?"), "{front}");
    assert!(
        done["data"]["result"]["model"]["url"]
            .as_str()
            .expect("legacy url")
            .starts_with("http://127.0.0.2:")
    );

    let stats = fake.stats();
    assert_eq!(stats.success_at, Some(Duration::from_millis(2500)));
    let served = stats.first_success_served_at.expect("success was served");
    assert!(served >= Duration::from_millis(2500), "{served:?}");
    assert_eq!(stats.final_answers(), 1);
}

#[tokio::test]
async fn phases_can_count_from_the_first_task_request() {
    let phases = |scenario: Scenario| {
        FakeTripo::start(
            scenario
                .phase("queued", Duration::from_millis(300))
                .phase("running", Duration::from_millis(300)),
        )
    };
    let from_start = phases(Scenario::new("v3_bare_task"));
    let from_first = phases(Scenario::new("v3_bare_task").phases_from_first_request());
    let http = client();
    // Both fakes' phases are over by the fake's clock.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(task(&from_start, &http).await["status"], "success");
    let status = |answer: Value| answer["status"].as_str().map(str::to_owned);
    assert_eq!(
        status(task(&from_first, &http).await).as_deref(),
        Some("queued")
    );
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(
        status(task(&from_first, &http).await).as_deref(),
        Some("success")
    );
}

#[tokio::test]
async fn signed_link_works_until_it_expires_and_a_refresh_gives_a_new_one() {
    let fake =
        FakeTripo::start(Scenario::new("v3_all_outputs").link_lifetime(Duration::from_secs(1)));
    let http = client();
    let answer = task(&fake, &http).await;
    let model = link(&answer, "model_url");
    assert_ne!(
        model,
        link(&answer, "pbr_model_url"),
        "pbr_model is a different file here"
    );
    let expires: u64 = query_param(&model, "Expires")
        .parse()
        .expect("unix seconds");
    assert!(
        expires > now_unix() && expires <= now_unix() + 2,
        "{expires}"
    );
    assert_eq!(query_param(&model, "Key-Pair-Id"), "KFAKE");

    let response = http.get(&model).send().await.expect("CDN request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "model/gltf-binary");
    assert_eq!(response.content_length(), Some(200_000));
    assert_eq!(
        response.bytes().await.expect("body"),
        fake.file_bytes("model.glb")
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = http.get(&model).send().await.expect("CDN request");
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let body = expired.text().await.expect("body");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    let fresh = link(&task(&fake, &http).await, "model_url");
    assert_ne!(fresh, model);
    assert_eq!(
        http.get(&fresh).send().await.expect("CDN request").status(),
        StatusCode::OK
    );

    let forged = fresh.replace("model.glb", "base_model.glb");
    assert_eq!(
        http.get(&forged)
            .send()
            .await
            .expect("CDN request")
            .status(),
        StatusCode::FORBIDDEN
    );
    let unknown = fresh.replace("model.glb", "nothing.glb");
    assert_eq!(
        http.get(&unknown)
            .send()
            .await
            .expect("CDN request")
            .status(),
        StatusCode::NOT_FOUND
    );

    let stats = fake.stats();
    assert_eq!(stats.requests_for("model.glb"), 3);
    assert_eq!(stats.bytes_sent_for("model.glb"), 400_000);
    assert_eq!(stats.final_answers(), 2);
    assert!(
        stats
            .cdn_requests
            .iter()
            .all(|r| !r.had_authorization && !r.had_api_key)
    );
}

#[tokio::test]
async fn range_requests_get_206_with_content_range_or_416() {
    let fake = FakeTripo::start(Scenario::new("v3_all_outputs").fault(
        "base_model.glb",
        FileFault {
            ignore_range: true,
            ..FileFault::default()
        },
    ));
    let http = client();
    let answer = task(&fake, &http).await;
    let model = link(&answer, "model_url");
    let whole = fake.file_bytes("model.glb");

    let part = http
        .get(&model)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("request");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/200000");
    assert_eq!(part.content_length(), Some(100));
    assert_eq!(part.bytes().await.expect("body"), whole[100..200]);

    let tail = http
        .get(&model)
        .header("range", "bytes=199990-")
        .send()
        .await
        .expect("request");
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        tail.headers()["content-range"],
        "bytes 199990-199999/200000"
    );
    assert_eq!(tail.bytes().await.expect("body"), whole[199_990..]);

    let beyond = http
        .get(&model)
        .header("range", "bytes=200000-")
        .send()
        .await
        .expect("request");
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(beyond.headers()["content-range"], "bytes */200000");

    let ignored = http
        .get(link(&answer, "base_model_url"))
        .header("range", "bytes=10-")
        .send()
        .await;
    let ignored = ignored.expect("request");
    assert_eq!(ignored.status(), StatusCode::OK);
    assert_eq!(
        ignored.bytes().await.expect("body"),
        fake.file_bytes("base_model.glb")
    );

    let ranges: Vec<_> = fake
        .stats()
        .cdn_requests
        .iter()
        .map(|r| r.range.clone())
        .collect();
    assert_eq!(ranges[0].as_deref(), Some("bytes=100-199"));
}

#[tokio::test]
async fn refusals_then_statuses_then_the_file() {
    let fake = FakeTripo::start(Scenario::new("v3_model_pbr_same").fault(
        "model.glb",
        FileFault {
            refuse_first: 2,
            status_first: vec![(503, Some("2".to_owned()))],
            ..FileFault::default()
        },
    ));
    let http = client();
    let answer = task(&fake, &http).await;
    let model = link(&answer, "model_url");
    assert_eq!(
        model,
        link(&answer, "pbr_model_url"),
        "the same file gets the same link in one answer"
    );

    for _ in 0..2 {
        let refused = http.get(&model).send().await.expect("request");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(
            refused
                .text()
                .await
                .expect("body")
                .contains("<Code>AccessDenied</Code>")
        );
    }
    let busy = http.get(&model).send().await.expect("request");
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers()["retry-after"], "2");
    let ok = http.get(&model).send().await.expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.bytes().await.expect("body").len(), 200_000);

    let statuses: Vec<u16> = fake.stats().cdn_requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [403, 403, 503, 200]);
}

#[tokio::test]
async fn a_cut_body_stops_short_and_resumes_with_range() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task").fault("model.glb", FileFault::cut_at(70_000)),
    );
    let http = client();
    let answer = task(&fake, &http).await;
    assert!(answer.get("code").is_none(), "a bare task stays bare");
    let model = answer["output"]["model_url"]
        .as_str()
        .expect("model_url")
        .to_owned();

    let mut response = http.get(&model).send().await.expect("request");
    assert_eq!(
        response.content_length(),
        Some(200_000),
        "the full length is announced"
    );
    let mut received = Vec::new();
    let error = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => panic!("the body ended cleanly after {} bytes", received.len()),
            Err(e) => break e,
        }
    };
    assert_eq!(received.len(), 70_000, "{error}");

    let rest = http
        .get(&model)
        .header("range", "bytes=70000-")
        .send()
        .await
        .expect("request");
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    received.extend_from_slice(&rest.bytes().await.expect("body"));
    assert_eq!(received, fake.file_bytes("model.glb"));
    assert_eq!(fake.stats().bytes_sent_for("model.glb"), 200_000);
}

#[tokio::test]
async fn a_stalled_body_sends_nothing_more() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task").fault("rendered_image.webp", FileFault::stall_at(500)),
    );
    let http = client();
    let answer = task(&fake, &http).await;
    let image = answer["output"]["rendered_image_url"]
        .as_str()
        .expect("link")
        .to_owned();

    let mut response = http.get(&image).send().await.expect("request");
    assert_eq!(response.headers()["content-type"], "image/webp");
    let mut received = 0;
    while received < 500 {
        received += response
            .chunk()
            .await
            .expect("a chunk")
            .expect("more body")
            .len();
    }
    assert_eq!(received, 500);
    let next = tokio::time::timeout(Duration::from_millis(300), response.chunk()).await;
    assert!(next.is_err(), "the stalled body went on: {next:?}");

    let again = http.get(&image).send().await.expect("request");
    assert_eq!(
        again.bytes().await.expect("body").len(),
        20_000,
        "only the first response stalls"
    );
}

#[tokio::test]
async fn throttle_paces_the_body() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task")
            .file_size("rendered_image.webp", 30_000)
            .throttle(100_000),
    );
    let http = client();
    let answer = task(&fake, &http).await;
    let image = answer["output"]["rendered_image_url"]
        .as_str()
        .expect("link")
        .to_owned();
    let started = Instant::now();
    let body = http
        .get(&image)
        .send()
        .await
        .expect("request")
        .bytes()
        .await
        .expect("body");
    let took = started.elapsed();
    assert_eq!(body.len(), 30_000);
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn api_faults_are_consumed_in_order() {
    let fake = FakeTripo::start(
        Scenario::new("v3_all_outputs")
            .api_fault(ApiFault::html_502())
            .api_fault(ApiFault::rate_limited(3))
            .api_fault(ApiFault::Reset),
    );
    let http = client();
    let url = format!("{}/v3/tasks/{}", fake.v3_base(), fake.task_id());

    let proxy = http
        .get(&url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("request");
    assert_eq!(proxy.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(proxy.headers()["content-type"], "text/html");
    assert!(proxy.headers().contains_key("x-tripo-trace-id"));
    let limited = http
        .get(&url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "3");
    assert_eq!(limited.json_value().await["code"], 1007);
    let reset = http.get(&url).bearer_auth(fake.api_key()).send().await;
    assert!(reset.is_err(), "a reset got an answer: {reset:?}");
    assert_eq!(task(&fake, &http).await["data"]["status"], "success");

    let stats = fake.stats();
    assert_eq!(stats.task_requests, 4);
    let statuses: Vec<u16> = stats.api_requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 429, 0, 200]);
}

#[tokio::test]
async fn every_link_style_is_accepted_and_readable() {
    for style in [
        LinkStyle::CloudFrontCanned,
        LinkStyle::CloudFrontPolicy,
        LinkStyle::AuthKey,
        LinkStyle::Opaque,
    ] {
        let fake = FakeTripo::start(
            Scenario::new("v3_model_pbr_same")
                .link_style(style)
                .link_lifetime(Duration::from_secs(60)),
        );
        let http = client();
        let model = link(&task(&fake, &http).await, "model_url");
        let expiry = match style {
            LinkStyle::CloudFrontCanned => {
                Some(query_param(&model, "Expires").parse::<u64>().expect("secs"))
            }
            LinkStyle::AuthKey => {
                let auth_key = query_param(&model, "auth_key");
                let parts: Vec<&str> = auth_key.split('-').collect();
                assert_eq!(parts.len(), 4, "{auth_key}");
                assert_eq!(parts[2], "0");
                assert!(
                    parts[3].len() == 32 && parts[3].bytes().all(|b| b.is_ascii_hexdigit()),
                    "{auth_key}"
                );
                Some(parts[0].parse().expect("secs"))
            }
            LinkStyle::CloudFrontPolicy => {
                let policy = query_param(&model, "Policy");
                assert!(!policy.contains(['+', '=', '/']), "{policy}");
                None
            }
            LinkStyle::Opaque => {
                assert!(
                    !model.contains("Expires") && !model.contains("Policy"),
                    "{model}"
                );
                None
            }
        };
        if let Some(expiry) = expiry {
            assert!(
                expiry > now_unix() + 58 && expiry <= now_unix() + 61,
                "{style:?}: {expiry}"
            );
        }
        assert_eq!(
            http.get(&model).send().await.expect("request").status(),
            StatusCode::OK,
            "{style:?}"
        );
    }
}

#[tokio::test]
async fn huge_files_are_served_lazily() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task")
            .file_size("model.glb", 1 << 30)
            .task_id("big-one"),
    );
    let http = client();
    let answer = task(&fake, &http).await;
    assert_eq!(answer["task_id"], "big-one");
    let model = answer["output"]["model_url"]
        .as_str()
        .expect("link")
        .to_owned();
    assert!(model.contains("/big-one/model.glb?"), "{model}");

    let tail = http
        .get(&model)
        .header("range", "bytes=-100")
        .send()
        .await
        .expect("request");
    assert_eq!(
        tail.headers()["content-range"],
        format!(
            "bytes {}-{}/{}",
            (1u64 << 30) - 100,
            (1u64 << 30) - 1,
            1u64 << 30
        )
    );
    assert_eq!(
        tail.bytes().await.expect("body"),
        fake.file_range("model.glb", (1 << 30) - 100, 100)
    );
    assert_eq!(fake.file_len("model.glb"), 1 << 30);
}

#[test]
fn files_can_be_given_and_the_fake_runs_outside_any_runtime() {
    let fake = FakeTripo::start(
        Scenario::new("v2_flat_multiview")
            .file("front.png", b"front view".to_vec())
            .api_key("tsk_other"),
    );
    assert_eq!(fake.file_bytes("front.png"), b"front view");
    assert_eq!(fake.file_len("left.png"), 20_000);
    assert_ne!(fake.file_bytes("left.png"), fake.file_bytes("back.png"));
    assert_eq!(fake.api_key(), "tsk_other");
    assert_eq!(fake.stats().task_requests, 0);
}

#[test]
#[should_panic(expected = "no `cdn:nothing.glb`")]
fn a_fault_for_a_file_the_task_lacks_is_a_clear_mistake() {
    let _fake =
        FakeTripo::start(Scenario::new("v3_bare_task").fault("nothing.glb", FileFault::refuse(1)));
}

#[tokio::test]
#[should_panic(expected = "must never see the API key")]
async fn the_key_sent_to_the_cdn_fails_the_test_on_drop() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task"));
    let http = client();
    let answer = task(&fake, &http).await;
    let image = answer["output"]["rendered_image_url"]
        .as_str()
        .expect("link")
        .to_owned();
    let response = http
        .get(&image)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let leaked = fake.stats().cdn_requests[0].clone();
    assert!(leaked.had_authorization && leaked.had_api_key);
    drop(fake);
}

#[test]
fn the_handle_can_be_shared_between_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FakeTripo>();
    send_sync::<Scenario>();
}

#[tokio::test]
async fn in_progress_answers_keep_the_final_shape() {
    let http = client();
    let bare =
        FakeTripo::start(Scenario::new("v3_bare_task").phase("running", Duration::from_secs(30)));
    let running = task(&bare, &http).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["created_at"], "2026-11-28T17:40:05Z");
    assert_eq!(running["running_left_time"], 29);

    let error = serde_json::json!({"code": 1005, "message": "Not allowed", "suggestion": ""});
    let odd = FakeTripo::start(
        Scenario::from_json(error.clone())
            .task_id("t1")
            .phase("queued", Duration::from_millis(300)),
    );
    let queued = task(&odd, &http).await;
    assert_eq!(queued["data"]["status"], "queued", "{queued}");
    assert!(queued["data"]["create_time"].is_u64());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        task(&odd, &http).await,
        error,
        "an answer without a task is served as it is"
    );
    assert_eq!(odd.stats().success_at, None);
}

/// The signed link at a JSON pointer into the task (envelope included).
fn link_at(answer: &Value, pointer: &str) -> String {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no link at {pointer} in {answer}"))
        .to_owned()
}

#[tokio::test]
async fn open_ended_shapes_get_signed_links_at_any_depth() {
    let http = client();
    let fake = FakeTripo::start(Scenario::new("v3_open_outputs"));
    let answer = task(&fake, &http).await;
    let model = link_at(&answer, "/data/output/model_url");
    assert_eq!(link_at(&answer, "/data/output/model_urls/0"), model);
    for (pointer, file) in [
        ("/data/output/model_urls/1", "model_quad.fbx"),
        ("/data/output/image_urls/1", "image_1.jpg"),
        ("/data/output/textures/normal_url", "normal.png"),
        ("/data/output/splat_url", "scene.splat"),
        ("/data/result/model/url", "legacy.glb"),
    ] {
        let link = link_at(&answer, pointer);
        assert!(link.contains(&format!("/{file}?")), "{pointer}: {link}");
        let response = http.get(&link).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{pointer}");
        assert_eq!(
            response.bytes().await.expect("body"),
            fake.file_bytes(file),
            "{pointer}"
        );
    }
    let output = &answer["data"]["output"];
    assert_eq!(output["mask_url"], Value::Null);
    assert_eq!(output["seg_model_url"], "");
    assert_eq!(output["textures"]["count"], 2);

    for (fixture, pointer, file) in [
        ("v3_convert_task", "/data/output/usdz_url", "converted.usdz"),
        (
            "v3_rig_task",
            "/data/output/animations/1/model_url",
            "walk.fbx",
        ),
    ] {
        let fake = FakeTripo::start(Scenario::new(fixture));
        let link = link_at(&task(&fake, &http).await, pointer);
        assert!(link.contains(&format!("/{file}?")), "{fixture}: {link}");
        assert_eq!(
            http.get(&link).send().await.expect("request").status(),
            StatusCode::OK
        );
    }
}

#[test]
fn served_files_begin_as_their_type_does() {
    let fake = FakeTripo::start(Scenario::new("v3_open_outputs"));
    let glb = fake.file_bytes("model.glb");
    assert_eq!(&glb[..4], b"glTF");
    assert_eq!(
        u32::from_le_bytes(glb[4..8].try_into().expect("4 bytes")),
        2
    );
    assert_eq!(
        u64::from(u32::from_le_bytes(glb[8..12].try_into().expect("4 bytes"))),
        fake.file_len("model.glb")
    );
    assert!(
        fake.file_bytes("model_quad.fbx")
            .starts_with(b"Kaydara FBX Binary  \0")
    );
    assert!(
        fake.file_bytes("image_0.png")
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );
    assert!(fake.file_bytes("image_1.jpg").starts_with(b"\xff\xd8\xff"));
    assert!(fake.file_bytes("sequence.zip").starts_with(b"PK\x03\x04"));
    let webp = fake.file_bytes("thumbnail.webp");
    assert_eq!((&webp[..4], &webp[8..12]), (&b"RIFF"[..], &b"WEBP"[..]));
    let usdz = FakeTripo::start(Scenario::new("v3_convert_task"));
    assert!(usdz.file_bytes("converted.usdz").starts_with(b"PK\x03\x04"));
}

#[tokio::test]
async fn an_error_page_comes_with_200_and_its_true_length_then_the_file() {
    let http = client();
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task")
            .fault("model.glb", FileFault::error_page(2))
            .fault(
                "rendered_image.webp",
                FileFault {
                    error_page_always: true,
                    error_page: ErrorPage::html_labelled("image/webp"),
                    ..FileFault::default()
                },
            ),
    );
    let answer = task(&fake, &http).await;
    let model = link_at(&answer, "/output/model_url");
    for _ in 0..2 {
        let page = http.get(&model).send().await.expect("request");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        let length = page.content_length();
        let body = page.bytes().await.expect("body");
        assert_eq!(
            length,
            Some(body.len() as u64),
            "the length is announced truly"
        );
        assert!(body.starts_with(b"<!DOCTYPE html>"));
    }
    let file = http.get(&model).send().await.expect("request");
    assert_eq!(file.headers()["content-type"], "model/gltf-binary");
    assert_eq!(
        file.bytes().await.expect("body"),
        fake.file_bytes("model.glb")
    );

    let image = link_at(&answer, "/output/rendered_image_url");
    for _ in 0..3 {
        let page = http.get(&image).send().await.expect("request");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["content-type"], "image/webp");
        let body = page.text().await.expect("body");
        assert!(body.trim_start().starts_with("<html>"), "{body}");
    }
    let xml = ErrorPage::xml();
    assert!(xml.body.starts_with("<?xml") && xml.content_type == "application/xml");
    let statuses: Vec<u16> = fake.stats().cdn_requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200; 6]);
}

#[test]
fn a_damaged_glb_claims_more_bytes_than_it_has() {
    let fake = FakeTripo::start(
        Scenario::new("v3_all_outputs")
            .damaged("model.glb")
            .damaged("front.png"),
    );
    let glb = fake.file_bytes("model.glb");
    assert_eq!(&glb[..4], b"glTF");
    let claimed = u32::from_le_bytes(glb[8..12].try_into().expect("4 bytes"));
    assert_eq!(u64::from(claimed), fake.file_len("model.glb") + 4096);
    assert_eq!(&fake.file_bytes("front.png")[..4], &[0, 0, 0, 0]);
    assert_eq!(
        &fake.file_bytes("back.png")[..4],
        b"\x89PNG",
        "only the damaged files are"
    );
}

/// GETs `link` with `Range: bytes=<from>-` and `If-Range: <condition>`.
async fn resume(
    http: &reqwest::Client,
    link: &str,
    from: u64,
    condition: &str,
) -> reqwest::Response {
    http.get(link)
        .header("range", format!("bytes={from}-"))
        .header("if-range", condition)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn validators_and_if_range_for_each_setting() {
    let http = client();
    for validators in [
        Validators::Both,
        Validators::ETag,
        Validators::LastModified,
        Validators::WeakETag,
        Validators::WeakETagOnly,
        Validators::None,
    ] {
        let fake = FakeTripo::start(Scenario::new("v3_bare_task").validators(validators));
        let model = link_at(&task(&fake, &http).await, "/output/model_url");
        let first = http.get(&model).send().await.expect("request");
        let etag = first
            .headers()
            .get("etag")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let modified = first
            .headers()
            .get("last-modified")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let expected = match validators {
            Validators::Both => (true, false, true),
            Validators::ETag => (true, false, false),
            Validators::LastModified => (false, false, true),
            Validators::WeakETag => (true, true, true),
            Validators::WeakETagOnly => (true, true, false),
            Validators::None => (false, false, false),
            Validators::LastModifiedAtDate => (false, false, true),
        };
        assert_eq!(
            (
                etag.is_some(),
                etag.as_deref().is_some_and(|t| t.starts_with("W/")),
                modified.is_some()
            ),
            expected,
            "{validators:?}"
        );
        if let Some(modified) = &modified {
            assert!(httpdate::parse_http_date(modified).is_ok(), "{modified}");
        }
        // A matching strong validator keeps the Range; a weak one or another
        // version's does not (RFC 9110).
        if let Some(tag) = etag.as_deref() {
            let status = resume(&http, &model, 100, tag).await.status();
            let honoured = !tag.starts_with("W/");
            assert_eq!(
                status == StatusCode::PARTIAL_CONTENT,
                honoured,
                "{validators:?}: {status}"
            );
        }
        if let Some(modified) = modified.as_deref() {
            let part = resume(&http, &model, 100, modified).await;
            assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{validators:?}");
            assert_eq!(
                part.bytes().await.expect("body"),
                fake.file_bytes("model.glb")[100..]
            );
        }
        let other = resume(&http, &model, 100, "\"another-version\"").await;
        assert_eq!(other.status(), StatusCode::OK, "{validators:?}");
        assert_eq!(
            other.bytes().await.expect("body"),
            fake.file_bytes("model.glb"),
            "a failed If-Range sends the whole current file"
        );
        let sent: Vec<Option<String>> = fake
            .stats()
            .cdn_requests
            .iter()
            .map(|r| r.if_range.clone())
            .collect();
        assert_eq!(sent[0], None);
        assert_eq!(sent.last(), Some(&Some("\"another-version\"".to_owned())));
    }
}

#[tokio::test]
async fn a_file_changes_version_and_if_range_tells() {
    let http = client();
    for ignore_if_range in [false, true] {
        let fake = FakeTripo::start(Scenario::new("v3_bare_task").fault(
            "model.glb",
            FileFault {
                cut_after: Some(50_000),
                new_version_after: Some(1),
                ignore_if_range,
                ..FileFault::default()
            },
        ));
        let model = link_at(&task(&fake, &http).await, "/output/model_url");
        let mut first = http.get(&model).send().await.expect("request");
        let etag = first.headers()["etag"].to_str().expect("ascii").to_owned();
        let modified = first.headers()["last-modified"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let mut received = Vec::new();
        while let Ok(Some(chunk)) = first.chunk().await {
            received.extend_from_slice(&chunk);
        }
        assert_eq!(received.len(), 50_000);
        assert_eq!(received, fake.file_bytes("model.glb")[..50_000]);

        let rest = resume(&http, &model, 50_000, &etag).await;
        assert_ne!(rest.headers()["etag"], etag.as_str(), "a new version");
        assert_ne!(rest.headers()["last-modified"], modified.as_str());
        let new = fake.file_version_bytes("model.glb", 1);
        assert_eq!(new.len(), fake.file_bytes("model.glb").len());
        assert_ne!(new, fake.file_bytes("model.glb"));
        if ignore_if_range {
            assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
            assert_eq!(rest.bytes().await.expect("body"), new[50_000..]);
        } else {
            assert_eq!(rest.status(), StatusCode::OK);
            assert_eq!(rest.bytes().await.expect("body"), new);
        }
        let versions: Vec<u32> = fake
            .stats()
            .cdn_requests
            .iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(versions, [0, 1]);
    }
}

#[test]
fn each_estimate_convention_rounds_its_own_way() {
    use fake_tripo::{Estimates, LeftTime, ProgressCurve};
    let length = Duration::from_secs(10);
    let left_at = |left: LeftTime, into: f64| {
        Estimates::left(left)
            .running(Duration::from_secs_f64(into), length)
            .1
    };
    // Time left:          5.0  4.6  1.6  1.2  0.7  0.3
    let into = [5.0, 5.4, 8.4, 8.8, 9.3, 9.7];
    let expected = [
        (LeftTime::Floor, [5, 4, 1, 1, 0, 0]),
        (LeftTime::FloorAtLeastOne, [5, 4, 1, 1, 1, 1]),
        (LeftTime::Nearest, [5, 5, 2, 1, 1, 0]),
        (LeftTime::Ceiling, [5, 5, 2, 2, 1, 1]),
        (LeftTime::Absent, [-1; 6]),
        // From half way on, the true time left rounded down.
        (LeftTime::Jumps, [5, 4, 1, 1, 0, 0]),
    ];
    for (left, values) in expected {
        let got: Vec<i64> = into.iter().map(|at| left_at(left, *at)).collect();
        assert_eq!(got, values, "{left:?}");
    }
    // Progress at 10%, 50% and 90% of the run, and just before its end.
    let progress_at = |curve: ProgressCurve, share: f64| {
        Estimates::progress(curve)
            .running(length.mul_f64(share), length)
            .0
    };
    let expected = [
        (ProgressCurve::Linear, [9, 49, 89, 98]),
        (ProgressCurve::Ahead, [18, 74, 98, 98]),
        (ProgressCurve::Behind, [0, 24, 80, 98]),
        (ProgressCurve::Stalls, [12, 61, 99, 99]),
    ];
    for (curve, values) in expected {
        let got: Vec<u64> = [0.1, 0.5, 0.9, 0.995]
            .iter()
            .map(|share| progress_at(curve, *share))
            .collect();
        assert_eq!(got, values, "{curve:?}");
    }
    // Before half way, a jumping estimate counts down a run of 6 s, not 10:
    // near 0 just before it jumps back up to the truth.
    let jumps: Vec<i64> = [1.0, 4.9, 5.0]
        .iter()
        .map(|into| left_at(LeftTime::Jumps, *into))
        .collect();
    assert_eq!(jumps, [5, 1, 5]);
    // Never 100 while running; the default is floor and linear.
    assert_eq!(Estimates::default().running(length, length).0, 99);
    assert_eq!(Estimates::default(), Estimates::ALL[0]);
}

#[tokio::test]
async fn the_estimate_convention_is_what_running_answers_carry() {
    let http = client();
    let length = Duration::from_millis(30_300);
    for estimates in fake_tripo::Estimates::ALL {
        let before_start = Instant::now();
        let fake = FakeTripo::start(
            Scenario::new("v3_bare_task")
                .phase("running", length)
                .estimates(estimates),
        );
        let after_start = Instant::now();
        let answer = task(&fake, &http).await;
        let (earliest, latest) = (after_start.elapsed(), before_start.elapsed());
        let served = (
            answer["progress"].as_u64().expect("progress"),
            answer["running_left_time"].as_i64().expect("time left"),
        );
        // The answer was made between the two: progress grows and the time
        // left shrinks over that span.
        let (early, late) = (
            estimates.running(earliest.min(latest), length),
            estimates.running(latest, length),
        );
        assert!(
            (early.0..=late.0).contains(&served.0) && (late.1..=early.1).contains(&served.1),
            "{}: served {served:?}, expected between {early:?} and {late:?}",
            estimates.name()
        );
    }
}
