//! The CDN: serves the files behind the signed links, checks each link at
//! request time (as real CDNs do, so an expiry mid-transfer kills nothing),
//! supports `Range` and `If-Range` (against the `ETag` and `Last-Modified`
//! it sends), streams in chunks, and injects the per-file faults.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use crate::content::{self, Content};
use crate::links;
use crate::scenario::Validators;
use crate::state::{Shared, State as Record};
use crate::stats::CdnRequest;

/// Largest piece handed to the connection at once.
const CHUNK: u64 = 64 * 1024;

/// What a body response stops doing, and after how many bytes.
#[derive(Clone, Copy, Debug)]
enum Limit {
    Cut(u64),
    Stall(u64),
}

/// The answer decided for one request.
enum Plan {
    Error {
        status: StatusCode,
        body: String,
        retry_after: Option<String>,
        content_range: Option<String>,
    },
    /// `200` with a page in place of the file.
    Page { content_type: String, body: String },
    Body {
        status: StatusCode,
        version: u32,
        validators: Vec<(HeaderName, String)>,
        content: Content,
        content_type: &'static str,
        start: u64,
        end: u64,
        content_range: Option<String>,
        limit: Option<Limit>,
        rate: u64,
    },
}

impl Plan {
    fn status(&self) -> u16 {
        match self {
            Plan::Error { status, .. } | Plan::Body { status, .. } => status.as_u16(),
            Plan::Page { .. } => 200,
        }
    }

    fn version(&self) -> u32 {
        match self {
            Plan::Body { version, .. } => *version,
            _ => 0,
        }
    }
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let now = Instant::now();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    let headers = request.headers();
    let range = headers
        .get(header::RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let if_range = headers
        .get(header::IF_RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let had_authorization = headers.contains_key(header::AUTHORIZATION);
    let had_api_key = carries_key(headers, &path, &query, &shared.api_key);

    let mut record = shared.lock();
    let index = record.stats.cdn_requests.len();
    let task_id = path
        .rsplit('/')
        .nth(1)
        .filter(|id| shared.tasks.contains_key(*id))
        .map(str::to_owned);
    record.stats.cdn_requests.push(CdnRequest {
        file: name.clone(),
        task_id,
        range: range.clone(),
        if_range: if_range.clone(),
        version: 0,
        status: 0,
        body_bytes_sent: 0,
        had_authorization,
        had_api_key,
        at: shared.started.elapsed(),
    });
    let asked = Asked {
        path: &path,
        query: &query,
        name: &name,
        range: range.as_deref(),
        if_range: if_range.as_deref(),
    };
    let plan = decide(&shared, &mut record, now, &asked);
    record.stats.cdn_requests[index].status = plan.status();
    record.stats.cdn_requests[index].version = plan.version();
    drop(record);

    match plan {
        Plan::Error {
            status,
            body,
            retry_after,
            content_range,
        } => {
            let kind = if body.starts_with('<') {
                "application/xml"
            } else {
                "text/plain"
            };
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            set(headers, header::RETRY_AFTER, retry_after);
            set(headers, header::CONTENT_RANGE, content_range);
            response
        }
        Plan::Page { content_type, body } => {
            let mut response = Response::new(Body::from(body));
            if let Ok(kind) = HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, kind);
            }
            response
        }
        Plan::Body {
            status,
            version: _,
            validators,
            content,
            content_type,
            start,
            end,
            content_range,
            limit,
            rate,
        } => {
            let chunk = if rate == 0 {
                CHUNK
            } else {
                (rate / 10).clamp(1, CHUNK)
            };
            let sending = Sending {
                shared: shared.clone(),
                index,
                content,
                pos: start,
                end,
                sent: 0,
                limit,
                rate,
                chunk,
                begun: Instant::now(),
                done: false,
            };
            let mut response = Response::new(Body::from_stream(futures::stream::unfold(
                sending, next_chunk,
            )));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            set(headers, header::CONTENT_RANGE, content_range);
            for (name, value) in validators {
                set(headers, name, Some(value));
            }
            response
        }
    }
}

/// What one request asked for.
struct Asked<'a> {
    path: &'a str,
    query: &'a str,
    /// The file: the path's last segment.
    name: &'a str,
    range: Option<&'a str>,
    if_range: Option<&'a str>,
}

fn decide(shared: &Shared, record: &mut Record, now: Instant, asked: &Asked<'_>) -> Plan {
    let &Asked {
        path,
        query,
        name,
        range,
        if_range,
    } = asked;
    let Some(content) = shared.files.get(name) else {
        return xml_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    let fault = shared.faults.get(name).cloned().unwrap_or_default();
    let counters = record.per_file.entry(name.to_owned()).or_default();
    let nth = counters.requests;
    counters.requests += 1;

    if fault.refuse_always || nth < fault.refuse_first {
        return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access denied");
    }
    if let Some((status, retry_after)) = fault.status_first.get((nth - fault.refuse_first) as usize)
    {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Plan::Error {
            status,
            body: format!("<html><body><h1>{status}</h1></body></html>"),
            retry_after: retry_after.clone(),
            content_range: None,
        };
    }
    match links::signature_id(query).and_then(|id| record.links.get(id)) {
        None => return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access denied"),
        Some(link) if link.path != path => {
            return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access denied");
        }
        Some(link) if now >= link.expires => {
            return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
        }
        Some(_) => {}
    }

    let counters = record.per_file.entry(name.to_owned()).or_default();
    if fault.error_page_always || counters.pages < fault.error_page_first {
        counters.pages += 1;
        return Plan::Page {
            content_type: fault.error_page.content_type.clone(),
            body: fault.error_page.body.clone(),
        };
    }
    let version = match fault.new_version_after {
        Some(after) if counters.bodies >= after => 1,
        _ => 0,
    };
    let content = content.version(version);
    let validators = validators(shared, name, version);
    let total = content.len();
    let current = |condition: &str| {
        validators
            .iter()
            .any(|(_, value)| condition == value && !value.starts_with("W/"))
    };
    let asked = match range {
        _ if fault.ignore_range => None,
        // RFC 9110: a Range whose If-Range names another version is ignored.
        Some(_) if if_range.is_some_and(|c| !current(c)) && !fault.ignore_if_range => None,
        Some(r) => parse_range(r, total),
        None => None,
    };
    let (status, start, end, content_range) = match asked {
        None => (StatusCode::OK, 0, total, None),
        Some(Some((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            start,
            end,
            Some(format!("bytes {start}-{}/{total}", end - 1)),
        ),
        Some(None) => {
            return Plan::Error {
                status: StatusCode::RANGE_NOT_SATISFIABLE,
                body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>".to_owned(),
                retry_after: None,
                content_range: Some(format!("bytes */{total}")),
            };
        }
    };

    let counters = record.per_file.entry(name.to_owned()).or_default();
    let nth_body = counters.bodies;
    counters.bodies += 1;
    let limit = match (fault.stall_after, fault.cut_after) {
        (Some(after), _) if nth_body == 0 => Some(Limit::Stall(after)),
        (_, Some(after)) if nth_body < fault.cut_times.max(1) => Some(Limit::Cut(after)),
        _ => None,
    };
    Plan::Body {
        status,
        version,
        validators,
        content,
        content_type: content::content_type(name),
        start,
        end,
        content_range,
        limit,
        rate: fault.throttle.unwrap_or(shared.throttle),
    }
}

/// The validators sent with version `version` of file `name`: a strong
/// `ETag` naming the version, and a `Last-Modified` a day before the fake
/// started, an hour later per version (as the scenario chooses).
fn validators(shared: &Shared, name: &str, version: u32) -> Vec<(HeaderName, String)> {
    let tag = format!("\"{:016x}-v{version}\"", content::seed_of(name));
    let base = shared.started_unix - Duration::from_secs(86_400);
    let base = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            base.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
    let modified = httpdate::fmt_http_date(base + Duration::from_secs(3600 * u64::from(version)));
    let (etag, last_modified) = match shared.validators {
        Validators::Both => (Some(tag), Some(modified)),
        Validators::ETag => (Some(tag), None),
        Validators::LastModified => (None, Some(modified)),
        Validators::WeakETag => (Some(format!("W/{tag}")), Some(modified)),
        Validators::WeakETagOnly => (Some(format!("W/{tag}")), None),
        Validators::None => (None, None),
        Validators::LastModifiedAtDate => {
            let now = httpdate::fmt_http_date(SystemTime::now());
            return vec![(header::DATE, now.clone()), (header::LAST_MODIFIED, now)];
        }
    };
    etag.map(|v| (header::ETAG, v))
        .into_iter()
        .chain(last_modified.map(|v| (header::LAST_MODIFIED, v)))
        .collect()
}

/// A single `bytes=` range: `None` to ignore the header (not one we read, as
/// RFC 9110 allows), `Some(None)` when unsatisfiable, else `[start, end)`.
fn parse_range(header: &str, total: u64) -> Option<Option<(u64, u64)>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let suffix: u64 = last.parse().ok()?;
        return Some((suffix > 0 && total > 0).then(|| (total - suffix.min(total), total)));
    }
    let start: u64 = first.parse().ok()?;
    let end = if last.is_empty() {
        total
    } else {
        let last: u64 = last.parse().ok()?;
        if last < start {
            return None;
        }
        last.saturating_add(1).min(total)
    };
    Some((start < total).then_some((start, end)))
}

/// Whether the API key shows anywhere in the request: a header, the path or
/// the query, raw or percent-decoded.
fn carries_key(headers: &HeaderMap, path: &str, query: &str, key: &str) -> bool {
    let target = format!("{path}?{query}");
    let key_bytes = key.as_bytes();
    !key.is_empty()
        && (target.contains(key)
            || links::percent_decode(&target).contains(key)
            || headers.values().any(|v| {
                v.as_bytes()
                    .windows(key_bytes.len())
                    .any(|w| w == key_bytes)
            }))
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Plan {
    Plan::Error {
        status,
        body: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
        retry_after: None,
        content_range: None,
    }
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: Option<String>) {
    if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(name, value);
    }
}

/// One body on its way out.
struct Sending {
    shared: Arc<Shared>,
    index: usize,
    content: Content,
    pos: u64,
    end: u64,
    sent: u64,
    limit: Option<Limit>,
    rate: u64,
    chunk: u64,
    begun: Instant,
    done: bool,
}

async fn next_chunk(mut s: Sending) -> Option<(Result<Bytes, io::Error>, Sending)> {
    if s.done || s.pos >= s.end {
        return None;
    }
    match s.limit {
        Some(Limit::Stall(after)) if s.sent >= after => std::future::pending::<()>().await,
        Some(Limit::Cut(after)) if s.sent >= after => {
            // A pause first, so the connection flushes the bytes already given
            // before the error makes it drop the connection.
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.done = true;
            let cut = io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fake-tripo: body cut as the scenario asked",
            );
            return Some((Err(cut), s));
        }
        _ => {}
    }
    let mut n = s.chunk.min(s.end - s.pos);
    if let Some(Limit::Cut(after) | Limit::Stall(after)) = s.limit {
        n = n.min(after - s.sent);
    }
    if s.rate > 0 {
        // Pace so that by any instant at most `rate` bytes per second went out.
        let due = s.begun + Duration::from_secs_f64((s.sent + n) as f64 / s.rate as f64);
        tokio::time::sleep_until(due.into()).await;
    }
    let bytes = s.content.range(s.pos, n as usize);
    s.pos += n;
    s.sent += n;
    if let Some(request) = s.shared.lock().stats.cdn_requests.get_mut(s.index) {
        request.body_bytes_sent += n;
    }
    Some((Ok(bytes), s))
}
