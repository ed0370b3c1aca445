//! One tokio runtime per process, made on first use, and made again in a
//! child after `fork` (build farms fork): a runtime's threads do not survive
//! a fork, so the child's copy of the parent's is left alone, never used
//! nor dropped (dropping it would wait for threads that are not there).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Runtime;

use crate::library::Failure;

/// The runtime and the process it was made in.
static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// This process's runtime.
pub fn runtime() -> Result<Arc<Runtime>, Failure> {
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    if let Some((made_in, runtime)) = slot.as_ref()
        && *made_in == pid
    {
        return Ok(runtime.clone());
    }
    if let Some((_, inherited)) = slot.take() {
        // The parent's, copied by fork without its threads.
        std::mem::forget(inherited);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fetch-assets")
        .build()
        .map(Arc::new)
        .map_err(|e| Failure::internal(&format!("could not start the async runtime: {e}")))?;
    *slot = Some((pid, runtime.clone()));
    Ok(runtime)
}
