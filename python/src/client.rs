//! `fetch_assets._native.Client`: the library's client for Python. The
//! package's `fetch_assets.Client` wraps it (keyword arguments, the
//! environment, the result types, asyncio); this side runs the calls.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::unbounded_channel;

use crate::convert::{emit, exception};
use crate::library::{self, ClientConfig, Failure, Fetched, Knobs, Message};
use crate::runtime::runtime;
use crate::wait::{Callbacks, Report, wait};

/// A client for one key and base, rebuilt in a forked child: the parent's
/// connections belong to the parent's runtime.
#[pyclass(frozen, module = "fetch_assets._native")]
pub struct Client {
    config: ClientConfig,
    built: Mutex<(u32, fetch_assets::Client)>,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (api_key, api_base, api_version))]
    fn new(
        py: Python<'_>,
        api_key: Option<String>,
        api_base: Option<String>,
        api_version: Option<String>,
    ) -> PyResult<Client> {
        let config = ClientConfig {
            api_key,
            api_base,
            api_version,
        };
        let client = config.build().map_err(|f| exception(py, &f))?;
        Ok(Client {
            config,
            built: Mutex::new((std::process::id(), client)),
        })
    }

    /// Fetches one task, waiting in this thread with the GIL released;
    /// returns the manifest's JSON and the folder.
    #[pyo3(signature = (task_id, out_dir, only, force, concurrency, timeout, stall_timeout, max_size, content_check, on_event))]
    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &self,
        py: Python<'_>,
        task_id: String,
        out_dir: PathBuf,
        only: Option<Vec<String>>,
        force: bool,
        concurrency: Option<usize>,
        timeout: Option<f64>,
        stall_timeout: Option<f64>,
        max_size: Option<u64>,
        content_check: bool,
        on_event: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, PathBuf)> {
        let knobs = Knobs {
            only,
            force,
            concurrency,
            timeout,
            stall_timeout,
            max_size,
            content_check,
        };
        let (runtime, client) = self.parts(py)?;
        let (sender, receiver) = unbounded_channel();
        let task = library::start_fetch(
            runtime.handle(),
            client,
            task_id,
            out_dir,
            &knobs,
            on_event.is_some(),
            sender,
        );
        let callbacks = Callbacks {
            on_event,
            on_report: None,
        };
        let (fetched, _) = wait(py, &runtime, receiver, task, &callbacks)?;
        Ok((fetched.manifest_json, fetched.dir))
    }

    /// Starts one fetch on the runtime and returns at once: `on_event(kind,
    /// task_id, fields)` and then `on_done(ok, value)` (the manifest's JSON
    /// and the folder, or the exception) are called from a runtime thread,
    /// the GIL taken for each; the package hands them to its event loop.
    #[pyo3(signature = (task_id, out_dir, only, force, concurrency, timeout, stall_timeout, max_size, content_check, on_event, on_done))]
    #[allow(clippy::too_many_arguments)]
    fn start_fetch(
        &self,
        py: Python<'_>,
        task_id: String,
        out_dir: PathBuf,
        only: Option<Vec<String>>,
        force: bool,
        concurrency: Option<usize>,
        timeout: Option<f64>,
        stall_timeout: Option<f64>,
        max_size: Option<u64>,
        content_check: bool,
        on_event: Option<Py<PyAny>>,
        on_done: Py<PyAny>,
    ) -> PyResult<FetchHandle> {
        let knobs = Knobs {
            only,
            force,
            concurrency,
            timeout,
            stall_timeout,
            max_size,
            content_check,
        };
        let (runtime, client) = self.parts(py)?;
        let (sender, mut receiver) = unbounded_channel::<Message<Fetched>>();
        let task = library::start_fetch(
            runtime.handle(),
            client,
            task_id,
            out_dir,
            &knobs,
            on_event.is_some(),
            sender,
        );
        let handle = FetchHandle {
            task: task.abort_handle(),
        };
        runtime.spawn(async move {
            let mut messages = Vec::new();
            while receiver.recv_many(&mut messages, 256).await > 0 {
                let done = Python::attach(|py| {
                    for message in messages.drain(..) {
                        match message {
                            Message::Event(event) => {
                                if let Some(callback) = &on_event {
                                    // The package's callback hands the event to the loop; it does not raise.
                                    let _ = emit(py, callback.bind(py), &event);
                                }
                            }
                            Message::Report { .. } => {}
                            Message::Done(outcome) => {
                                let _ = settle(py, &on_done, outcome);
                                return true;
                            }
                        }
                    }
                    false
                });
                if done {
                    return;
                }
            }
            // The fetch was cancelled: whoever cancelled it knows.
        });
        Ok(handle)
    }

    /// Fetches many tasks, each into `out_root/<task_id>/`, waiting in this
    /// thread; returns each task's report, in the order they ended.
    #[pyo3(signature = (task_ids, out_root, concurrency, timeout, on_report, on_event))]
    #[allow(clippy::too_many_arguments)]
    fn fetch_many(
        &self,
        py: Python<'_>,
        task_ids: Vec<String>,
        out_root: PathBuf,
        concurrency: Option<usize>,
        timeout: Option<f64>,
        on_report: Option<&Bound<'_, PyAny>>,
        on_event: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Report>> {
        let knobs = Knobs {
            concurrency,
            timeout,
            content_check: true,
            ..Knobs::default()
        };
        let (runtime, client) = self.parts(py)?;
        let (sender, receiver) = unbounded_channel();
        let task = library::start_fetch_many(
            runtime.handle(),
            client,
            task_ids,
            out_root,
            &knobs,
            on_event.is_some(),
            sender,
        );
        let callbacks = Callbacks {
            on_event,
            on_report,
        };
        let ((), reports) = wait(py, &runtime, receiver, task, &callbacks)?;
        Ok(reports)
    }
}

impl Client {
    /// This process's runtime, and a client made in this process.
    fn parts(&self, py: Python<'_>) -> PyResult<(Arc<Runtime>, fetch_assets::Client)> {
        let runtime = runtime().map_err(|f| exception(py, &f))?;
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if built.0 != pid {
            let client = self.config.build().map_err(|f| exception(py, &f))?;
            // The parent's client, copied by fork: its connections belong to
            // the parent's runtime, which never runs here; it is left alone.
            std::mem::forget(std::mem::replace(&mut *built, (pid, client)));
        }
        Ok((runtime, built.1.clone()))
    }
}

/// Calls `on_done(True, (manifest_json, dir))` or `on_done(False, exception)`.
fn settle(py: Python<'_>, on_done: &Py<PyAny>, outcome: Result<Fetched, Failure>) -> PyResult<()> {
    match outcome {
        Ok(fetched) => on_done.call1(py, (true, (fetched.manifest_json, fetched.dir))),
        Err(failure) => on_done.call1(py, (false, exception(py, &failure).into_value(py))),
    }
    .map(drop)
}

/// A fetch started by `Client.start_fetch`.
#[pyclass(frozen, module = "fetch_assets._native")]
pub struct FetchHandle {
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl FetchHandle {
    /// Stops the fetch as Ctrl-C stops the command (what arrived stays in
    /// `.fetch-assets/`); `on_done` is then never called.
    fn cancel(&self) {
        self.task.abort();
    }
}
