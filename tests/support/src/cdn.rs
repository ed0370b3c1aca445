//! The CDN: serves the files behind the signed links, checks each link at
//! request time (as real CDNs do, so an expiry mid-transfer kills nothing),
//! supports `Range`, streams in chunks, and injects the per-file faults.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use crate::content::{self, Content};
use crate::links;
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
    Body {
        status: StatusCode,
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
    let had_authorization = headers.contains_key(header::AUTHORIZATION);
    let had_api_key = carries_key(headers, &path, &query, &shared.api_key);

    let mut record = shared.lock();
    let index = record.stats.cdn_requests.len();
    record.stats.cdn_requests.push(CdnRequest {
        file: name.clone(),
        range: range.clone(),
        status: 0,
        body_bytes_sent: 0,
        had_authorization,
        had_api_key,
        at: shared.started.elapsed(),
    });
    let plan = decide(
        &shared,
        &mut record,
        now,
        &path,
        &query,
        &name,
        range.as_deref(),
    );
    record.stats.cdn_requests[index].status = plan.status();
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
        Plan::Body {
            status,
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
            response
        }
    }
}

fn decide(
    shared: &Shared,
    record: &mut Record,
    now: Instant,
    path: &str,
    query: &str,
    name: &str,
    range: Option<&str>,
) -> Plan {
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

    let total = content.len();
    let asked = if fault.ignore_range {
        None
    } else {
        range.and_then(|r| parse_range(r, total))
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
        content: content.clone(),
        content_type: content::content_type(name),
        start,
        end,
        content_range,
        limit,
        rate: fault.throttle.unwrap_or(shared.throttle),
    }
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
