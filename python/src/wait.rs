//! Waiting, in Python's own thread, for a call running on the runtime: the
//! GIL released while nothing happens, the callbacks called with it held
//! (here, on the caller's thread), and Ctrl-C noticed within 100 ms.

use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::convert::{emit, exception};
use crate::library::{Failure, Message};

/// How often the wait looks for a signal (Ctrl-C) when nothing arrives.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// What `on_report` gets, and what a batch returns: each task's
/// `batch --json` line, and its manifest's JSON when it succeeded.
pub type Report = (String, Option<String>);

/// The callbacks of a call.
pub struct Callbacks<'a, 'py> {
    /// `on_event(kind, task_id, fields)`.
    pub on_event: Option<&'a Bound<'py, PyAny>>,
    /// `on_report(line, manifest_json)`.
    pub on_report: Option<&'a Bound<'py, PyAny>>,
}

/// Waits for `task`'s outcome, calling back for its events and reports.
/// A signal's exception (KeyboardInterrupt) or a callback's stops the
/// call, as Ctrl-C stops the command: the task is dropped (what arrived
/// stays in `.fetch-assets/`), and only then is the exception raised.
pub fn wait<T: Send>(
    py: Python<'_>,
    runtime: &Runtime,
    mut receiver: UnboundedReceiver<Message<T>>,
    task: JoinHandle<()>,
    callbacks: &Callbacks<'_, '_>,
) -> PyResult<(T, Vec<Report>)> {
    let mut reports = Vec::new();
    loop {
        let messages = py.detach(|| runtime.block_on(next_messages(&mut receiver)));
        let Some(messages) = messages else {
            // The task ended without a word: it panicked.
            return Err(exception(
                py,
                &Failure::internal("the fetch stopped without an outcome"),
            ));
        };
        for message in messages {
            let called = match message {
                Message::Event(event) => match callbacks.on_event {
                    Some(callback) => emit(py, callback, &event),
                    None => Ok(()),
                },
                Message::Report { line, manifest } => {
                    let called = match callbacks.on_report {
                        Some(callback) => callback
                            .call1((line.as_str(), manifest.as_deref()))
                            .map(drop),
                        None => Ok(()),
                    };
                    reports.push((line, manifest));
                    called
                }
                Message::Done(outcome) => {
                    return outcome
                        .map(|done| (done, reports))
                        .map_err(|failure| exception(py, &failure));
                }
            };
            if let Err(raised) = called {
                stop(py, runtime, task);
                return Err(raised);
            }
        }
        if let Err(interrupt) = py.check_signals() {
            stop(py, runtime, task);
            return Err(interrupt);
        }
    }
}

/// Waits for a task with no callbacks (`verify`): the GIL released, Ctrl-C
/// noticed within [`SIGNAL_CHECK`] (the task is then dropped).
pub fn wait_for<T: Send + 'static>(
    py: Python<'_>,
    runtime: &Runtime,
    mut task: JoinHandle<T>,
) -> PyResult<Result<T, Failure>> {
    loop {
        let ended = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut task).await })
        });
        match ended {
            Ok(Ok(value)) => return Ok(Ok(value)),
            Ok(Err(stopped)) => return Ok(Err(Failure::internal(&format!("{stopped}")))),
            Err(_elapsed) => {}
        }
        if let Err(interrupt) = py.check_signals() {
            task.abort();
            return Err(interrupt);
        }
    }
}

/// What arrived within [`SIGNAL_CHECK`] (maybe nothing), or `None` once
/// the sender is gone.
async fn next_messages<T>(receiver: &mut UnboundedReceiver<Message<T>>) -> Option<Vec<Message<T>>> {
    let mut messages = Vec::new();
    match tokio::time::timeout(SIGNAL_CHECK, receiver.recv()).await {
        Ok(Some(message)) => messages.push(message),
        Ok(None) => return None,
        Err(_elapsed) => return Some(messages),
    }
    while let Ok(message) = receiver.try_recv() {
        messages.push(message);
    }
    Some(messages)
}

/// Drops the task and waits until it is gone, so its folder is left as an
/// interrupted run leaves it before the caller sees the exception.
fn stop(py: Python<'_>, runtime: &Runtime, task: JoinHandle<()>) {
    task.abort();
    py.detach(|| {
        runtime.block_on(async {
            let _ = task.await;
        })
    });
}
