//! Streaming one answer's body into the file's writer, with the stall rule:
//! no byte for the stall timeout ends the request as a fault (the file then
//! resumes where it stopped).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;

use super::writer::Writer;
use crate::content;
use crate::error::DownloadCause;

/// How a body ended, when it did not end normally.
#[derive(Debug)]
pub(super) enum Cut {
    /// A fault worth another try: the connection broke or stalled.
    Fault(DownloadCause),
    /// The CDN sent more than it announced: not worth another try.
    Final(DownloadCause),
    /// The file could not be written.
    Write(std::io::Error),
}

/// Waits for `future`, or for the stall timeout: a stall is a fault.
pub(super) async fn or_stall<T>(
    stall_timeout: Duration,
    future: impl Future<Output = T>,
) -> Result<T, DownloadCause> {
    tokio::time::timeout(stall_timeout, future)
        .await
        .map_err(|_| DownloadCause::Stalled {
            after: stall_timeout,
        })
}

/// Streams the body into `writer`, counting into `received` (the bytes the
/// file has, from its first) and keeping the file's first bytes in `head`
/// (for the content check), until the body ends or the first fault. A
/// body that ends before `total` is a fault too. `on_bytes` hears of every
/// piece written.
pub(super) async fn stream(
    response: reqwest::Response,
    stall_timeout: Duration,
    total: Option<u64>,
    received: &mut u64,
    head: &mut Vec<u8>,
    writer: &mut Writer,
    mut on_bytes: impl FnMut(u64, u64),
) -> Result<(), Cut> {
    let mut body = response.bytes_stream();
    loop {
        let chunk = match or_stall(stall_timeout, body.next()).await {
            Err(stalled) => return Err(Cut::Fault(stalled)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Cut::Fault(DownloadCause::Broke {
                    at: *received,
                    source: e.without_url(),
                }));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let len = chunk.len() as u64;
        if let Some(announced) = total.filter(|total| *received + len > *total) {
            return Err(Cut::Final(DownloadCause::TooLong { announced }));
        }
        if head.len() < content::HEAD_LEN && *received == head.len() as u64 {
            let wanted = (content::HEAD_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
        }
        writer.write(chunk).await.map_err(Cut::Write)?;
        *received += len;
        on_bytes(len, *received);
    }
    match total {
        Some(total) if *received < total => Err(Cut::Fault(DownloadCause::EndedEarly {
            at: *received,
            total,
        })),
        _ => Ok(()),
    }
}
