//! Counters the tests assert on, read as a snapshot with
//! [`crate::FakeTripo::stats`].

use std::time::Duration;

/// A snapshot of what the fake has seen so far.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Every request for a task (`/v3/tasks/{id}` or `/v2/openapi/task/{id}`),
    /// faulted, refused and unknown ids included.
    pub task_requests: u64,
    /// Every `POST /v3/tasks/list`, faulted and refused ones included.
    pub list_requests: u64,
    /// Every request to the API host, in arrival order.
    pub api_requests: Vec<ApiRequest>,
    /// Every request to the CDN host, in arrival order.
    pub cdn_requests: Vec<CdnRequest>,
    /// When the final answer became available (the end of the timeline, from
    /// start), if that answer is a success.
    pub success_at: Option<Duration>,
    /// When the successful final answer was first served, from start: minus
    /// `success_at`, how late the client noticed.
    pub first_success_served_at: Option<Duration>,
    /// Every webhook delivery sent with [`crate::FakeTripo::deliver`], in
    /// the order sent.
    pub deliveries: Vec<DeliverySent>,
}

/// One webhook delivery the fake sent.
#[derive(Clone, Debug)]
pub struct DeliverySent {
    /// When its connection was opened, from start.
    pub sent_at: Duration,
    /// When its answer had arrived, from start.
    pub answered_at: Duration,
    /// The status answered (0 for none).
    pub status: u16,
}

/// One request to the API host.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// The request path (without query).
    pub path: String,
    /// Whether it carried `Authorization: Bearer <the key>`.
    pub had_valid_key: bool,
    /// The status answered (0 for a connection dropped without answer).
    pub status: u16,
    /// When it arrived, from start.
    pub at: Duration,
    /// Whether the answer was the task's final answer (with fresh links);
    /// for `POST /v3/tasks/list`, whether it carried any task's.
    pub final_answer: bool,
    /// For `POST /v3/tasks/list`, the ids asked for, in order; empty for
    /// a `GET`.
    pub task_ids: Vec<String>,
}

/// One request to the CDN host.
#[derive(Clone, Debug)]
pub struct CdnRequest {
    /// The file name, the link's last path segment.
    pub file: String,
    /// The task whose link it used (the id in the link's path), if any.
    pub task_id: Option<String>,
    /// The `Range` header, as sent.
    pub range: Option<String>,
    /// The `If-Range` header, as sent.
    pub if_range: Option<String>,
    /// Which version of the file the answer carried (0 first; see
    /// `FileFault::new_version_after`); 0 for answers without the file.
    pub version: u32,
    /// The status answered.
    pub status: u16,
    /// Body bytes handed to the connection so far; grows while streaming.
    pub body_bytes_sent: u64,
    /// Whether it carried an `Authorization` header (it never should).
    pub had_authorization: bool,
    /// Whether the API key appeared anywhere in it: a header, the path or the
    /// query (it never should).
    pub had_api_key: bool,
    /// When it arrived, from start.
    pub at: Duration,
    /// The connection it came on: 1 for the first the CDN accepted, 2 for
    /// the next, ... (requests on one kept-alive connection share it).
    pub connection: u64,
}

impl Stats {
    /// How many CDN requests asked for `file`.
    pub fn requests_for(&self, file: &str) -> usize {
        self.cdn_requests.iter().filter(|r| r.file == file).count()
    }

    /// How many body bytes the CDN sent for `file`, over all its requests.
    pub fn bytes_sent_for(&self, file: &str) -> u64 {
        self.cdn_requests
            .iter()
            .filter(|r| r.file == file)
            .map(|r| r.body_bytes_sent)
            .sum()
    }

    /// How many requests for `file` carried a `Range`.
    pub fn ranged_requests_for(&self, file: &str) -> usize {
        self.cdn_requests
            .iter()
            .filter(|r| r.file == file && r.range.is_some())
            .count()
    }

    /// How many distinct connections carried requests for `file`.
    pub fn connections_for(&self, file: &str) -> usize {
        let mut seen: Vec<u64> = self
            .cdn_requests
            .iter()
            .filter(|r| r.file == file)
            .map(|r| r.connection)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }

    /// How many task answers carried the final answer: 1 for a client that
    /// never refreshed its links, 1 + refreshes otherwise.
    pub fn final_answers(&self) -> usize {
        self.api_requests.iter().filter(|r| r.final_answer).count()
    }
}
