//! A plain accept loop serving an axum router over HTTP/1. Hand-rolled
//! rather than `axum::serve` for one reason: a handler can ask for its
//! connection to be dropped without an answer ([`ConnAbort`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt as _;

/// Put in every request's extensions: notifying it drops the connection the
/// request came on, at once, with nothing more sent.
#[derive(Clone)]
pub(crate) struct ConnAbort(pub Arc<Notify>);

/// Serves `app` on `listener` until the runtime shuts down.
pub(crate) async fn serve(listener: TcpListener, app: Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or the like: wait, don't spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let abort = Arc::new(Notify::new());
            let handle = ConnAbort(abort.clone());
            let service = service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(handle.clone());
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(
                        app.oneshot(request.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|never| match never {}),
                    )
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            // Either the connection ends by itself, or a handler asked for it to
            // be dropped: dropping the future closes the socket unanswered.
            tokio::select! {
                _ = connection => {}
                _ = abort.notified() => {}
            }
        });
    }
}
