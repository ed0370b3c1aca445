//! The HTTP side of `listen`: `POST` (any path, so a proxy may add a
//! prefix) takes a delivery, `GET …/healthz` says the receiver is up. A
//! delivery is read to at most [`MAX_DELIVERY_BYTES`], verified, handed to
//! the desk, and answered as soon as the desk has journaled it.
//!
//! The receiver faces the internet, so what a peer can hold is bounded:
//! at most [`MAX_CONNECTIONS`] connections at once (more wait in the
//! kernel's queue), headers within [`HEADER_DEADLINE`], a body within
//! [`BODY_DEADLINE`], one request a connection. A body is read only once
//! its signature header is well formed and fresh, and at most
//! `MAX_CONNECTIONS` × [`MAX_DELIVERY_BYTES`] of unverified bodies are
//! ever held. Idle, slow or forged peers then cost a bounded amount, and
//! a valid delivery is answered within a few seconds whatever they do.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::ListenEvent;
use super::desk::{Desk, Verdict};
use crate::webhook::{self, MAX_DELIVERY_BYTES, Rejection, WebhookSecret};

/// Connections served at once; more wait to be accepted.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// A request's headers must arrive within this long of its connection.
pub(crate) const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// A delivery's body must arrive within this long of its headers.
pub(crate) const BODY_DEADLINE: Duration = Duration::from_secs(10);

struct Receiver {
    desk: Arc<Desk>,
    secret: WebhookSecret,
}

/// Serves until `stopped`, then lets requests being answered finish.
pub(crate) async fn serve(
    listener: TcpListener,
    desk: Arc<Desk>,
    secret: WebhookSecret,
    mut stopped: watch::Receiver<bool>,
) {
    let receiver = Arc::new(Receiver { desk, secret });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        // A free slot first: past the cap, peers wait in the accept queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = until_stopped(&mut stopped) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = until_stopped(&mut stopped) => break,
        };
        // A failed accept (a peer gone, no file left) ends only that one.
        let Ok((stream, _)) = accepted else { continue };
        let receiver = receiver.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let receiver = receiver.clone();
                async move { Ok::<_, Infallible>(handle(&receiver, request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_DEADLINE)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = until_stopped(&mut stopped) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
        // Reap the connections that ended, so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Resolves once `listen` is told to stop.
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

type Answer = Response<Full<Bytes>>;

async fn handle(receiver: &Receiver, request: Request<Incoming>) -> Answer {
    match *request.method() {
        Method::POST => deliver(receiver, request).await,
        Method::GET | Method::HEAD if is_health_check(request.uri().path()) => {
            text(StatusCode::OK, "ok\n")
        }
        Method::GET | Method::HEAD => text(
            StatusCode::NOT_FOUND,
            "not found: POST deliveries here, GET /healthz\n",
        ),
        _ => {
            let mut answer = text(StatusCode::METHOD_NOT_ALLOWED, "POST deliveries here\n");
            answer
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("POST, GET"));
            answer
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

/// `/healthz`, also under a proxy's prefix (`/tripo/healthz`).
fn is_health_check(path: &str) -> bool {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last == "healthz")
}

async fn deliver(receiver: &Receiver, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    // Unsigned, malformed or stale: refused before its body is read.
    if let Err(reason) = webhook::check_signature_header(&parts.headers, SystemTime::now()) {
        return reject(receiver, reason);
    }
    let body = match tokio::time::timeout(BODY_DEADLINE, read_capped(&parts.headers, body)).await {
        Ok(Ok(body)) => body,
        Ok(Err(reason)) => return reject(receiver, reason),
        Err(_) => {
            return reject(
                receiver,
                Rejection::NotJson(format!(
                    "the body did not arrive within {} s",
                    BODY_DEADLINE.as_secs()
                )),
            );
        }
    };
    let event =
        match webhook::check_delivery(&parts.headers, &body, &receiver.secret, SystemTime::now()) {
            Ok(event) => event,
            Err(reason) => return reject(receiver, reason),
        };
    match receiver.desk.accept(event).await {
        Verdict::Accepted => answer(StatusCode::ACCEPTED, "accepted"),
        Verdict::Duplicate => answer(StatusCode::OK, "duplicate"),
        Verdict::Ignored => answer(StatusCode::OK, "ignored"),
        Verdict::Unusable(reason) => reject(receiver, reason),
        Verdict::NotJournaled => answer(StatusCode::INTERNAL_SERVER_ERROR, "not journaled"),
    }
}

/// Answers a refusal, saying why only to the local log for a 401: a forger
/// learns nothing from the answer.
fn reject(receiver: &Receiver, reason: Rejection) -> Answer {
    let status = StatusCode::from_u16(reason.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let said = match status {
        StatusCode::UNAUTHORIZED => "the signature was not accepted".to_owned(),
        _ => reason.to_string(),
    };
    receiver.desk.event(&ListenEvent::Rejected {
        status: status.as_u16(),
        reason,
    });
    answer(status, &said)
}

fn answer(status: StatusCode, what: &str) -> Answer {
    let body = serde_json::json!({ "status": what }).to_string();
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    answer
}

/// The body, or [`Rejection::TooLarge`] as soon as it is known to be too
/// large (from `Content-Length`, or while reading).
async fn read_capped(headers: &HeaderMap, mut body: Incoming) -> Result<Vec<u8>, Rejection> {
    let too_large = Rejection::TooLarge {
        limit: MAX_DELIVERY_BYTES,
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_DELIVERY_BYTES as u64) {
        return Err(too_large);
    }
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Rejection::NotJson(format!("the body was cut short: {e}")))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if bytes.len() + chunk.len() > MAX_DELIVERY_BYTES {
            return Err(too_large);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_checks_under_any_prefix() {
        for yes in ["/healthz", "/healthz/", "/tripo/healthz"] {
            assert!(is_health_check(yes), "{yes}");
        }
        for no in ["/", "/health", "/healthz/x", "/xhealthz"] {
            assert!(!is_health_check(no), "{no}");
        }
    }
}
