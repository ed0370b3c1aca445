//! Plain data into Python: JSON values into Python objects, a failure into
//! the package's exception (`fetch_assets.errors`), an event into the
//! arguments of the package's event callback.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use serde_json::Value;

use crate::library::{EventData, Failure};

/// A JSON value as the Python object `json.loads` would make.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any(),
            (None, None) => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|item| to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// The exception for a failure: the subclass of `fetch_assets.Error` its
/// exit code names (`fetch_assets.errors._from_native` picks it).
pub fn exception(py: Python<'_>, failure: &Failure) -> PyErr {
    let made = py
        .import("fetch_assets.errors")
        .and_then(|errors| errors.getattr("_from_native"))
        .and_then(|make| {
            make.call1((
                failure.exit_code,
                failure.message.as_str(),
                failure.hint.as_deref(),
            ))
        });
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(_) => PyRuntimeError::new_err(failure.message.clone()),
    }
}

/// Calls the package's event callback: `callback(kind, task_id, fields)`.
pub fn emit(py: Python<'_>, callback: &Bound<'_, PyAny>, event: &EventData) -> PyResult<()> {
    let fields = PyDict::new(py);
    for (key, value) in &event.fields {
        fields.set_item(key, to_python(py, value)?)?;
    }
    callback.call1((event.kind, event.task_id.as_deref(), fields))?;
    Ok(())
}
