//! What a test asks the fake to do: the task's final answer, its timeline,
//! the files behind its links, and the faults to inject.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::links::LinkStyle;
use crate::list::ListKnobs;
use crate::tasks::TaskSpec;

/// The key the fake accepts unless the scenario names another.
pub const DEFAULT_API_KEY: &str = "tsk_fake_key_0123456789";

/// Everything one [`crate::FakeTripo`] serves, built step by step.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub(crate) answer: Value,
    pub(crate) source: String,
    pub(crate) task_id: Option<String>,
    pub(crate) api_key: String,
    pub(crate) phases: Vec<(String, Duration)>,
    pub(crate) phases_from_first_request: bool,
    pub(crate) link_lifetime: Duration,
    pub(crate) link_style: LinkStyle,
    pub(crate) files: Vec<(String, FileSpec)>,
    pub(crate) faults: Vec<(String, FileFault)>,
    pub(crate) api_faults: Vec<ApiFault>,
    pub(crate) throttle: u64,
    pub(crate) damaged: Vec<String>,
    pub(crate) validators: Validators,
    pub(crate) more_tasks: Vec<(String, TaskSpec)>,
    pub(crate) list: ListKnobs,
    pub(crate) estimates: Estimates,
}

/// Which validators the CDN sends with a file (`ETag`, `Last-Modified`), and
/// so which `If-Range` it can honour. Real CDNs differ; test each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validators {
    /// A strong `ETag` and `Last-Modified`, as CloudFront and S3 send.
    #[default]
    Both,
    /// A strong `ETag` only.
    ETag,
    /// `Last-Modified` only.
    LastModified,
    /// A weak `ETag` (`W/"…"`), which `If-Range` may not use (RFC 9110), and
    /// `Last-Modified`.
    WeakETag,
    /// A weak `ETag` alone: nothing `If-Range` may use.
    WeakETagOnly,
    /// Neither: nothing tells one version of a file from another.
    None,
    /// `Last-Modified` equal to the answer's `Date` (sent with it), and no
    /// `ETag`: a weak validator (RFC 9110 §8.8.2.2), as a CDN that stamps
    /// files as it serves them sends.
    LastModifiedAtDate,
}

/// A file content the test asked for, turned into served content at start.
#[derive(Clone, Debug)]
pub(crate) enum FileSpec {
    Bytes(Vec<u8>),
    Size(u64),
}

impl Scenario {
    /// A task that succeeds at once with the answer in `fixtures/<fixture>.json`
    /// (found from this crate's own folder, so any working directory does).
    pub fn new(fixture: &str) -> Scenario {
        let mut scenario = Scenario::from_json(fixture_json(fixture));
        scenario.source = format!("fixture `{fixture}`");
        scenario
    }

    /// A task that succeeds at once with the given final answer: the whole
    /// JSON document the API returns, envelope included (or a bare task).
    /// Strings `cdn:<name>` in the task become signed links to file `<name>`.
    pub fn from_json(final_answer: Value) -> Scenario {
        Scenario {
            answer: final_answer,
            source: "the in-memory answer".to_owned(),
            task_id: None,
            api_key: DEFAULT_API_KEY.to_owned(),
            phases: Vec::new(),
            phases_from_first_request: false,
            link_lifetime: Duration::from_secs(300),
            link_style: LinkStyle::default(),
            files: Vec::new(),
            faults: Vec::new(),
            api_faults: Vec::new(),
            throttle: 0,
            damaged: Vec::new(),
            validators: Validators::default(),
            more_tasks: Vec::new(),
            list: ListKnobs::default(),
            estimates: Estimates::default(),
        }
    }

    /// The task id served (default: the answer's `task_id`); the answer's
    /// `task_id` is rewritten to match.
    pub fn task_id(mut self, id: &str) -> Self {
        self.task_id = Some(id.to_owned());
        self
    }

    /// The key the API accepts.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = key.to_owned();
        self
    }

    /// Adds a phase before the final answer, e.g. `.phase("queued", 300ms)
    /// .phase("running", 2.3s)`. A `queued` phase reports its queue position;
    /// any other status reports progress and time left like `running`.
    pub fn phase(mut self, status: &str, duration: Duration) -> Self {
        self.phases.push((status.to_owned(), duration));
        self
    }

    /// Phases count from the first task request rather than from the
    /// fake's start, so a client that starts late (a loaded machine) still
    /// sees every phase: for tests of what a client shows while it waits.
    pub fn phases_from_first_request(mut self) -> Self {
        self.phases_from_first_request = true;
        self
    }

    /// How long a link stays valid after the answer that carried it (default
    /// 300 s, as the API documents).
    pub fn link_lifetime(mut self, lifetime: Duration) -> Self {
        self.link_lifetime = lifetime;
        self
    }

    /// How links are signed (default [`LinkStyle::CloudFrontCanned`]).
    pub fn link_style(mut self, style: LinkStyle) -> Self {
        self.link_style = style;
        self
    }

    /// Serves exactly `content` for file `name`.
    pub fn file(mut self, name: &str, content: Vec<u8>) -> Self {
        self.files.push((name.to_owned(), FileSpec::Bytes(content)));
        self
    }

    /// Serves `size` deterministic bytes for file `name`, computed as they are
    /// sent: a 1 GiB file costs no memory.
    pub fn file_size(mut self, name: &str, size: usize) -> Self {
        self.files
            .push((name.to_owned(), FileSpec::Size(size as u64)));
        self
    }

    /// Serves file `name` damaged as the service sometimes produces it: a GLB
    /// whose header claims 4096 bytes more than the file has; any other type
    /// with its first four bytes (its magic) zeroed. Length and hash are
    /// those of the damaged bytes, so only a content check can tell.
    pub fn damaged(mut self, name: &str) -> Self {
        self.damaged.push(name.to_owned());
        self
    }

    /// Which validators the CDN sends (default [`Validators::Both`]).
    pub fn validators(mut self, validators: Validators) -> Self {
        self.validators = validators;
        self
    }

    /// Injects faults into the CDN's answers for file `name`.
    pub fn fault(mut self, name: &str, fault: FileFault) -> Self {
        self.faults.push((name.to_owned(), fault));
        self
    }

    /// Queues a fault for the next task request not yet faulted: the first
    /// call faults the first task request, the second call the second, ...
    pub fn api_fault(mut self, fault: ApiFault) -> Self {
        self.api_faults.push(fault);
        self
    }

    /// Paces every CDN response to this many bytes per second (0: as fast as
    /// possible). [`FileFault::throttle`] overrides it for one file.
    pub fn throttle(mut self, bytes_per_sec: u64) -> Self {
        self.throttle = bytes_per_sec;
        self
    }

    /// How running phases report `running_left_time` and `progress` (default:
    /// whole seconds rounded down, progress linear in time).
    pub fn estimates(mut self, estimates: Estimates) -> Self {
        self.estimates = estimates;
        self
    }
}

/// What a running task says about its end. Services differ, and the client
/// must not rely on one convention: every one here is a knob.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimates {
    pub left: LeftTime,
    pub progress: ProgressCurve,
}

/// How `running_left_time` is rounded from the true time left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeftTime {
    /// Whole seconds, rounded down: 0 in the last second.
    #[default]
    Floor,
    /// Rounded down, but never below 1 while running: 1 in the last two
    /// seconds.
    FloorAtLeastOne,
    /// Rounded to the nearest second (halves up).
    Nearest,
    /// Rounded up: 1 in the last second.
    Ceiling,
    /// No estimate: `-1` throughout.
    Absent,
    /// Re-estimated half way: until then the time left of a run guessed
    /// 40% shorter than it is (so it nears 0 early), then the true time
    /// left, rounded down: the estimate jumps up.
    Jumps,
}

/// How `progress` (0 to 99 while running) grows over the run's time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressCurve {
    /// In step with time.
    #[default]
    Linear,
    /// Fast at first, slow at the end: `1 - (1 - f)²` of the time share `f`.
    Ahead,
    /// Slow at first, fast at the end: `f²`.
    Behind,
    /// In step with time to 99 at 80% of the run, then stuck at 99 (a last
    /// step that reports nothing).
    Stalls,
}

impl Estimates {
    /// Every `running_left_time` convention with linear progress, then the
    /// non-linear progress curves with the default rounding.
    pub const ALL: [Estimates; 9] = [
        Estimates::left(LeftTime::Floor),
        Estimates::left(LeftTime::FloorAtLeastOne),
        Estimates::left(LeftTime::Nearest),
        Estimates::left(LeftTime::Ceiling),
        Estimates::left(LeftTime::Absent),
        Estimates::left(LeftTime::Jumps),
        Estimates::progress(ProgressCurve::Ahead),
        Estimates::progress(ProgressCurve::Behind),
        Estimates::progress(ProgressCurve::Stalls),
    ];

    /// This rounding, progress linear.
    pub const fn left(left: LeftTime) -> Estimates {
        Estimates {
            left,
            progress: ProgressCurve::Linear,
        }
    }

    /// This progress curve, estimates rounded down.
    pub const fn progress(progress: ProgressCurve) -> Estimates {
        Estimates {
            left: LeftTime::Floor,
            progress,
        }
    }

    /// `(progress, running_left_time)` of a running phase `into` its
    /// `length`: what the fake serves, for simulations that want the same.
    pub fn running(&self, into: Duration, length: Duration) -> (u64, i64) {
        let share = (into.as_secs_f64() / length.as_secs_f64()).clamp(0.0, 1.0);
        let done = match self.progress {
            ProgressCurve::Linear => share,
            ProgressCurve::Ahead => 1.0 - (1.0 - share).powi(2),
            ProgressCurve::Behind => share.powi(2),
            ProgressCurve::Stalls => (share / 0.8).min(1.0),
        };
        let progress = ((done * 99.0).floor() as u64).min(99);
        let left = length.saturating_sub(into).as_secs_f64();
        let guessed = (0.6 * length.as_secs_f64() - into.as_secs_f64()).max(0.0);
        let left = match self.left {
            LeftTime::Jumps if share < 0.5 => guessed.floor(),
            LeftTime::Jumps => left.floor(),
            LeftTime::Floor => left.floor(),
            LeftTime::FloorAtLeastOne => left.floor().max(1.0),
            LeftTime::Nearest => (left + 0.5).floor(),
            LeftTime::Ceiling => left.ceil(),
            LeftTime::Absent => -1.0,
        };
        (progress, left as i64)
    }

    /// A short name for tables: `floor`, `ceiling`, `progress ahead`, ...
    pub fn name(&self) -> String {
        let left = match self.left {
            LeftTime::Floor => "floor",
            LeftTime::FloorAtLeastOne => "floor, at least 1",
            LeftTime::Nearest => "nearest",
            LeftTime::Ceiling => "ceiling",
            LeftTime::Absent => "absent (-1)",
            LeftTime::Jumps => "jumps up half way",
        };
        match self.progress {
            ProgressCurve::Linear => left.to_owned(),
            ProgressCurve::Ahead => format!("{left}, progress ahead"),
            ProgressCurve::Behind => format!("{left}, progress behind"),
            ProgressCurve::Stalls => format!("{left}, stuck at 99"),
        }
    }
}

/// Where the fixtures live: `<workspace>/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The parsed `fixtures/<name>.json` (`.json` may be given or not), for tests
/// that feed a fixture to a parser directly. Panics naming the file if it is
/// missing or not JSON.
pub fn fixture_json(name: &str) -> Value {
    let file = format!("{}.json", name.trim_end_matches(".json"));
    let path = fixtures_dir().join(&file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fake-tripo: cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fake-tripo: fixture {} is not JSON: {e}", path.display()))
}

/// Faults for one file's CDN answers. Requests for the file are counted in
/// arrival order, whatever their link: the first `refuse_first` are refused,
/// the next `status_first.len()` get those statuses, and the rest are served
/// normally (link permitting). `cut_after` and `stall_after` then apply to the
/// first responses that carry a body.
#[derive(Clone, Debug, Default)]
pub struct FileFault {
    /// The first N requests get 403 with CloudFront's `AccessDenied` XML, as an
    /// expired link would.
    pub refuse_first: u32,
    /// Every request gets 403 `AccessDenied`.
    pub refuse_always: bool,
    /// After the refusals, the next requests get these statuses, each with a
    /// `Retry-After` header when the value is `Some`.
    pub status_first: Vec<(u16, Option<String>)>,
    /// The first `cut_times` body responses (1 if left at 0) send this many
    /// body bytes, then drop the connection; `Content-Length` still announces
    /// the full length.
    pub cut_after: Option<u64>,
    /// How many body responses `cut_after` cuts.
    pub cut_times: u32,
    /// The first body response sends this many bytes, then nothing more, with
    /// the connection held open: only the client giving up ends it.
    pub stall_after: Option<u64>,
    /// Answer 200 with the whole file even when `Range` asks for part of it.
    pub ignore_range: bool,
    /// Bytes per second for this file, overriding [`Scenario::throttle`].
    pub throttle: Option<u64>,
    /// After the refusals and statuses, and for a valid link, the next N
    /// requests get `200` with [`FileFault::error_page`] instead of the file,
    /// its length announced correctly, as a CDN's error page comes.
    pub error_page_first: u32,
    /// Every valid request gets the error page.
    pub error_page_always: bool,
    /// The page served by `error_page_first` / `error_page_always`.
    pub error_page: ErrorPage,
    /// Once this many body responses have started, the file is a new
    /// version: other bytes of the same length, a new `ETag` and a later
    /// `Last-Modified` (0: from the first request on).
    pub new_version_after: Option<u32>,
    /// Honour `Range` even when `If-Range` names another version: a `206`
    /// with the new version's bytes (and validators), as a careless CDN might.
    pub ignore_if_range: bool,
}

/// A page a CDN serves with `200` in place of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorPage {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its body.
    pub body: String,
}

impl ErrorPage {
    /// A CDN's HTML error page, served as `text/html`.
    pub fn html() -> ErrorPage {
        ErrorPage {
            content_type: "text/html; charset=utf-8".to_owned(),
            body: "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The origin is busy; please retry.</p></body></html>\n".to_owned(),
        }
    }

    /// The same HTML page with a leading blank line, labelled with the
    /// file's own type: only its body tells what it is.
    pub fn html_labelled(content_type: &str) -> ErrorPage {
        ErrorPage {
            content_type: content_type.to_owned(),
            body: format!(
                "\r\n  {}",
                ErrorPage::html().body.replace("<!DOCTYPE html>\n", "")
            ),
        }
    }

    /// An object store's XML error document, as `application/xml`.
    pub fn xml() -> ErrorPage {
        ErrorPage {
            content_type: "application/xml".to_owned(),
            body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_owned(),
        }
    }
}

impl Default for ErrorPage {
    fn default() -> ErrorPage {
        ErrorPage::html()
    }
}

impl FileFault {
    /// Refuses the first `n` requests with 403.
    pub fn refuse(n: u32) -> FileFault {
        FileFault {
            refuse_first: n,
            ..FileFault::default()
        }
    }

    /// Answers the first request with `status` (and `Retry-After` if given).
    pub fn status(status: u16, retry_after: Option<&str>) -> FileFault {
        FileFault {
            status_first: vec![(status, retry_after.map(str::to_owned))],
            ..FileFault::default()
        }
    }

    /// Cuts the first body response after `bytes` bytes.
    pub fn cut_at(bytes: u64) -> FileFault {
        FileFault {
            cut_after: Some(bytes),
            ..FileFault::default()
        }
    }

    /// Answers the first `n` valid requests with `200` and an HTML error page.
    pub fn error_page(n: u32) -> FileFault {
        FileFault {
            error_page_first: n,
            ..FileFault::default()
        }
    }

    /// Stalls the first body response after `bytes` bytes.
    pub fn stall_at(bytes: u64) -> FileFault {
        FileFault {
            stall_after: Some(bytes),
            ..FileFault::default()
        }
    }
}

/// A fault for one task request.
#[derive(Clone, Debug)]
pub enum ApiFault {
    /// Answer with this status and body (and `Retry-After` when `Some`). A body
    /// starting with `<` is sent as HTML, any other as JSON.
    Status {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// Close the connection without answering.
    Reset,
}

impl ApiFault {
    /// A proxy's 502 page: not the JSON envelope.
    pub fn html_502() -> ApiFault {
        ApiFault::Status {
            status: 502,
            body: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>".to_owned(),
            retry_after: None,
        }
    }

    /// Tripo's 429 rate limit (code 1007) with `Retry-After: <secs>`.
    pub fn rate_limited(secs: u64) -> ApiFault {
        ApiFault::Status {
            status: 429,
            body: r#"{"code":1007,"message":"Rate limit exceeded","suggestion":"Please slow down your requests"}"#.to_owned(),
            retry_after: Some(secs.to_string()),
        }
    }

    /// Tripo's 500 server error (code 1000).
    pub fn server_error() -> ApiFault {
        ApiFault::Status {
            status: 500,
            body: r#"{"code":1000,"message":"Server error","suggestion":"Please try again later"}"#
                .to_owned(),
            retry_after: None,
        }
    }

    /// Any status with a Tripo error envelope, e.g. `(403, 2010, "Not enough credit")`.
    pub fn error(status: u16, code: i64, message: &str) -> ApiFault {
        ApiFault::Status {
            status,
            body: serde_json::json!({"code": code, "message": message, "suggestion": ""})
                .to_string(),
            retry_after: None,
        }
    }
}
