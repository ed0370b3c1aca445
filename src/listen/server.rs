//! The HTTP side of `listen`: `POST` (any path, so a proxy may add a
//! prefix) takes a delivery, `GET …/healthz` says the receiver is up. A
//! delivery is read to at most [`MAX_DELIVERY_BYTES`], verified, handed to
//! the desk, and answered as soon as the desk has journaled it.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::ListenEvent;
use super::desk::{Desk, Verdict};
use crate::webhook::{self, MAX_DELIVERY_BYTES, Rejection, WebhookSecret};

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
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::new(Receiver { desk, secret }));
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .await;
}

async fn handle(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    match *request.method() {
        Method::POST => deliver(&receiver, request).await,
        Method::GET | Method::HEAD if is_health_check(request.uri().path()) => {
            (StatusCode::OK, "ok\n").into_response()
        }
        Method::GET | Method::HEAD => (
            StatusCode::NOT_FOUND,
            "not found: POST deliveries here, GET /healthz\n",
        )
            .into_response(),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST, GET")],
            "POST deliveries here\n",
        )
            .into_response(),
    }
}

/// `/healthz`, also under a proxy's prefix (`/tripo/healthz`).
fn is_health_check(path: &str) -> bool {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .is_some_and(|last| last == "healthz")
}

async fn deliver(receiver: &Receiver, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_capped(&parts.headers, body).await {
        Ok(body) => body,
        Err(reason) => return reject(receiver, reason),
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
fn reject(receiver: &Receiver, reason: Rejection) -> Response {
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

fn answer(status: StatusCode, what: &str) -> Response {
    let body = serde_json::json!({ "status": what }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The body, or [`Rejection::TooLarge`] as soon as it is known to be too
/// large (from `Content-Length`, or while reading).
async fn read_capped(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Rejection> {
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
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Rejection::NotJson(format!("the body was cut short: {e}")))?;
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
