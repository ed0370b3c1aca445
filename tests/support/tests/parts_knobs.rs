//! The fake's knobs for parts at once (issue 22), with a plain HTTP client:
//! a cap per connection, `Range` ignored on some requests only, a version
//! that changes between parts, `416` and misplaced ranges.

mod common;

use common::client;
use std::time::{Duration, Instant};

use fake_tripo::{FakeTripo, FileFault, MISPLACED_BY, Scenario};
use reqwest::StatusCode;

/// The signed link of `model.glb` in the bare task's answer.
async fn model_link(fake: &FakeTripo, http: &reqwest::Client) -> String {
    let url = format!("{}/v3/tasks/{}", fake.v3_base(), fake.task_id());
    let answer = http
        .get(url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .expect("task request")
        .bytes()
        .await
        .expect("a body");
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
    answer["output"]["model_url"]
        .as_str()
        .expect("a model link")
        .to_owned()
}

/// GETs `link` for `[start, end]` (inclusive, as the header says), with
/// `If-Range` when given.
async fn part(
    http: &reqwest::Client,
    link: &str,
    start: u64,
    last: u64,
    if_range: Option<&str>,
) -> reqwest::Response {
    let mut request = http
        .get(link)
        .header("range", format!("bytes={start}-{last}"));
    if let Some(condition) = if_range {
        request = request.header("if-range", condition);
    }
    request.send().await.expect("request")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn a_cap_per_connection_spans_its_requests_but_not_other_connections() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task")
            .file_size("model.glb", 40_000)
            .rate_per_connection(100_000),
    );
    let http = client();
    let model = model_link(&fake, &http).await;

    // Two parts in turn on one kept-alive connection share its pace.
    let started = Instant::now();
    for (start, last) in [(0, 19_999), (20_000, 39_999)] {
        let body = part(&http, &model, start, last, None)
            .await
            .bytes()
            .await
            .expect("body");
        assert_eq!(body, fake.file_range("model.glb", start, 20_000));
    }
    assert!(started.elapsed() >= Duration::from_millis(380));
    let connections: Vec<u64> = fake
        .stats()
        .cdn_requests
        .iter()
        .map(|r| r.connection)
        .collect();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0], connections[1], "one kept-alive connection");

    // Two parts at once on two connections each have their own pace: both
    // move at once, neither waits for the other.
    let (one, two) = (client(), client());
    let (first, second) = tokio::join!(
        async {
            let body = part(&one, &model, 0, 19_999, None)
                .await
                .bytes()
                .await
                .expect("body");
            (body, fake.stats())
        },
        async {
            part(&two, &model, 20_000, 39_999, None)
                .await
                .bytes()
                .await
                .expect("body")
        }
    );
    assert_eq!(first.0, fake.file_range("model.glb", 0, 20_000));
    assert_eq!(second, fake.file_range("model.glb", 20_000, 20_000));
    let at_first_end = first.1;
    let other = at_first_end
        .cdn_requests
        .iter()
        .rfind(|r| r.range.as_deref() == Some("bytes=20000-39999"))
        .expect("the second part had arrived");
    assert!(
        other.body_bytes_sent >= 10_000,
        "the other connection sent only {} bytes meanwhile",
        other.body_bytes_sent
    );
    assert_eq!(fake.stats().connections_for("model.glb"), 3);
}

#[tokio::test]
async fn range_is_ignored_on_the_listed_ranged_requests_only() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").fault(
        "model.glb",
        FileFault {
            ignore_range_on: vec![1],
            ..FileFault::default()
        },
    ));
    let http = client();
    let model = model_link(&fake, &http).await;
    let whole = fake.file_bytes("model.glb");

    // A request without `Range` does not count.
    let plain = http.get(&model).send().await.expect("request");
    assert_eq!(plain.status(), StatusCode::OK);
    let _ = plain.bytes().await.expect("body");

    let first = part(&http, &model, 0, 99, None).await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(first.bytes().await.expect("body"), whole[..100]);

    let second = part(&http, &model, 100, 199, None).await;
    assert_eq!(second.status(), StatusCode::OK, "the listed one is ignored");
    assert!(second.headers().get("content-range").is_none());
    assert_eq!(second.bytes().await.expect("body"), whole);

    let third = part(&http, &model, 200, 299, None).await;
    assert_eq!(third.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(third.bytes().await.expect("body"), whole[200..300]);
    assert_eq!(fake.stats().ranged_requests_for("model.glb"), 3);
}

#[tokio::test]
async fn a_version_changing_between_parts_answers_the_next_part_with_200() {
    let fake = FakeTripo::start(
        Scenario::new("v3_bare_task").fault("model.glb", FileFault::new_version_after(1)),
    );
    let http = client();
    let model = model_link(&fake, &http).await;

    let first = part(&http, &model, 0, 99, None).await;
    assert_eq!(first.status(), StatusCode::PARTIAL_CONTENT);
    let etag = header(&first, "etag");
    assert_eq!(
        first.bytes().await.expect("body"),
        fake.file_bytes("model.glb")[..100]
    );

    let second = part(&http, &model, 100, 199, Some(&etag)).await;
    assert_eq!(
        second.status(),
        StatusCode::OK,
        "If-Range names the old one"
    );
    assert_ne!(header(&second, "etag"), etag);
    assert_eq!(
        second.bytes().await.expect("body"),
        fake.file_version_bytes("model.glb", 1)
    );
    let versions: Vec<u32> = fake
        .stats()
        .cdn_requests
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(versions, [0, 1]);
}

#[tokio::test]
async fn a_listed_ranged_request_gets_416_though_satisfiable() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").fault(
        "model.glb",
        FileFault {
            unsatisfiable_on: vec![0],
            ..FileFault::default()
        },
    ));
    let http = client();
    let model = model_link(&fake, &http).await;
    let len = fake.file_len("model.glb");

    let refused = part(&http, &model, 0, 99, None).await;
    assert_eq!(refused.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&refused, "content-range"), format!("bytes */{len}"));

    let served = part(&http, &model, 0, 99, None).await;
    assert_eq!(served.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        served.bytes().await.expect("body"),
        fake.file_bytes("model.glb")[..100]
    );
}

#[tokio::test]
async fn a_listed_ranged_request_gets_another_range_than_asked() {
    let fake = FakeTripo::start(Scenario::new("v3_bare_task").fault(
        "model.glb",
        FileFault {
            misplaced_range_on: vec![0, 1],
            ..FileFault::default()
        },
    ));
    let http = client();
    let model = model_link(&fake, &http).await;
    let len = fake.file_len("model.glb");
    let whole = fake.file_bytes("model.glb");

    let later = part(&http, &model, 100, 199, None).await;
    assert_eq!(later.status(), StatusCode::PARTIAL_CONTENT);
    let start = 100 + MISPLACED_BY;
    assert_eq!(
        header(&later, "content-range"),
        format!("bytes {start}-{}/{len}", start + 99)
    );
    let start = start as usize;
    assert_eq!(
        later.bytes().await.expect("body"),
        whole[start..start + 100]
    );

    // Near the end, the range moves earlier instead.
    let earlier = part(&http, &model, len - 100, len - 1, None).await;
    let start = len - 100 - MISPLACED_BY;
    assert_eq!(
        header(&earlier, "content-range"),
        format!("bytes {start}-{}/{len}", start + 99)
    );
    let start = start as usize;
    assert_eq!(
        earlier.bytes().await.expect("body"),
        whole[start..start + 100]
    );

    let honest = part(&http, &model, 100, 199, None).await;
    assert_eq!(
        header(&honest, "content-range"),
        format!("bytes 100-199/{len}")
    );
}
