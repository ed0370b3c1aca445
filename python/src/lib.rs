//! `fetch_assets._native`: the Rust side of the Python package
//! `fetch_assets` (python/fetch_assets/). The package's Python modules give
//! the API its shape (keyword arguments, result types, exceptions,
//! asyncio); this extension runs the library's calls on one runtime per
//! process, with the GIL released while they work.
//!
//! The files: `library.rs` is all this crate asks of the `fetch_assets`
//! library, as plain data; `runtime.rs` the runtime (fork-aware);
//! `wait.rs` the wait in Python's thread (callbacks, Ctrl-C); `convert.rs`
//! plain data into Python objects and exceptions; `client.rs` the client.

mod client;
mod convert;
mod library;
mod runtime;
mod wait;

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::convert::exception;

/// One file's `(path, verdict in words, ok)`.
type FileVerdict = (String, String, bool);

/// Checks a folder against its manifest: the manifest's JSON, and each
/// file's `(path, verdict, ok)`. Raises (exit code 1) when the folder has
/// no readable manifest; Ctrl-C raises KeyboardInterrupt at once (the files
/// being hashed are only read).
#[pyfunction]
fn verify(py: Python<'_>, out_dir: PathBuf) -> PyResult<(String, Vec<FileVerdict>)> {
    let runtime = runtime::runtime().map_err(|f| exception(py, &f))?;
    let task = runtime.spawn(library::verify(out_dir));
    let verified = wait::wait_for(py, &runtime, task)?
        .and_then(|verified| verified)
        .map_err(|f| exception(py, &f))?;
    Ok((verified.manifest_json, verified.files))
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    library::use_python_wording();
    module.add_class::<client::Client>()?;
    module.add_class::<client::FetchHandle>()?;
    module.add_function(wrap_pyfunction!(verify, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
