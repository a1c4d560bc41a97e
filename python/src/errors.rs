//! Library errors as Python exceptions, each with the CLI's one-line
//! message: `FileNotFoundError` and `PermissionError` where an input,
//! output or key log cannot be opened for those reasons, and otherwise the
//! `flowsplit.Error` hierarchy:
//!
//! - `CaptureError`: an input is not a capture, is corrupt part way, or
//!   has a link type flowsplit cannot decode;
//! - `FilterError`: the BPF expression did not compile;
//! - `OptionError` (also a `ValueError`): a bad keyword option, as the CLI
//!   refuses a bad flag;
//! - `OutputError`: writing the output folder failed;
//! - `LiveCaptureError`: a live capture could not be opened or read, or
//!   the switch to another user failed;
//! - `InternalError`: a failure inside flowsplit itself.
//!
//! Must not: decide what is an error; that is the library's.

use flowsplit::Error;
use pyo3::exceptions::{PyException, PyFileNotFoundError, PyPermissionError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

pyo3::create_exception!(
    flowsplit,
    FlowsplitError,
    PyException,
    "The base of every exception flowsplit raises besides FileNotFoundError and PermissionError."
);
pyo3::create_exception!(
    flowsplit,
    CaptureError,
    FlowsplitError,
    "An input is not a pcap or pcapng capture, is corrupt part way, or has a link type flowsplit cannot decode."
);
pyo3::create_exception!(
    flowsplit,
    FilterError,
    FlowsplitError,
    "The BPF filter expression did not compile."
);
pyo3::create_exception!(
    flowsplit,
    OutputError,
    FlowsplitError,
    "Writing the output folder (or the run's private folder) failed."
);
pyo3::create_exception!(
    flowsplit,
    LiveCaptureError,
    FlowsplitError,
    "A live capture could not be opened or read, or the switch to another user failed."
);
pyo3::create_exception!(
    flowsplit,
    InternalError,
    FlowsplitError,
    "A failure inside flowsplit itself, not caused by the options or the inputs."
);

/// Add the exceptions to the module; `OptionError` is made here, as a
/// subclass of both `Error` and `ValueError`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<FlowsplitError>())?;
    m.add("CaptureError", py.get_type::<CaptureError>())?;
    m.add("FilterError", py.get_type::<FilterError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    m.add("LiveCaptureError", py.get_type::<LiveCaptureError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    let bases = PyTuple::new(
        py,
        [
            py.get_type::<FlowsplitError>().into_any(),
            py.get_type::<PyValueError>().into_any(),
        ],
    )?;
    let builtins = py.import("builtins")?;
    let namespace = pyo3::types::PyDict::new(py);
    namespace.set_item("__module__", "flowsplit")?;
    namespace.set_item(
        "__doc__",
        "A keyword option (or its value) was refused, with the message the CLI gives for the flag.",
    )?;
    let option_error = builtins
        .getattr("type")?
        .call1(("OptionError", bases, namespace))?;
    m.add("OptionError", option_error)?;
    Ok(())
}

/// The Python exception for `e`.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let message = e.to_string();
    let io = match e {
        Error::Open { path, source }
        | Error::Read { path, source }
        | Error::Write { path, source }
        | Error::Folder { path, source }
        | Error::OutputFolder { path, source } => Some((path, source)),
        _ => None,
    };
    if let Some((path, source)) = io {
        let args = (
            source.raw_os_error().unwrap_or(0),
            message.clone(),
            path.to_string_lossy().into_owned(),
        );
        match source.kind() {
            std::io::ErrorKind::NotFound => return PyFileNotFoundError::new_err(args),
            std::io::ErrorKind::PermissionDenied => return PyPermissionError::new_err(args),
            _ => {}
        }
    }
    match e {
        Error::NotACapture { .. } | Error::Corrupt { .. } | Error::UnsupportedLink { .. } => {
            CaptureError::new_err(message)
        }
        Error::Open { .. }
        | Error::Read { .. }
        | Error::Folder { .. }
        | Error::NoCaptureInFolder { .. }
        | Error::NoInput => CaptureError::new_err(message),
        Error::Filter { .. } => FilterError::new_err(message),
        // A --tls-rsa-key file that is not a key: the option's value is
        // wrong (the binding takes no such keyword yet).
        Error::Usage(_) | Error::TlsKey { .. } => option_error(py, message),
        Error::Write { .. }
        | Error::OutputFolder { .. }
        | Error::Command { .. }
        | Error::Merge(_) => OutputError::new_err(message),
        Error::Capture { .. } | Error::Privileges { .. } => LiveCaptureError::new_err(message),
        // Only `flowsplit grep` makes these; the binding never runs it.
        Error::Internal(_) | Error::Search(_) | Error::NoMatch => InternalError::new_err(message),
    }
}

/// The error a run raises: the one that stopped it, except that a run
/// none of whose inputs could be read raises why the first could not (a
/// missing file is a `FileNotFoundError`, as the CLI's first line says);
/// else the first input that could not be read, if any.
pub fn raised<'a>(fatal: Option<&'a Error>, inputs: &'a [Error]) -> Option<&'a Error> {
    match fatal {
        Some(Error::NoInput) => inputs.first().or(fatal),
        Some(e) => Some(e),
        None => inputs.first(),
    }
}

/// A `flowsplit.OptionError` saying `message`.
pub fn option_error(py: Python<'_>, message: String) -> PyErr {
    let made = py
        .import("flowsplit._flowsplit")
        .and_then(|m| m.getattr("OptionError"))
        .and_then(|t| t.call1((message.clone(),)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(_) => PyValueError::new_err(message),
    }
}

/// A `flowsplit.InternalError` saying `message`.
pub fn to_py_internal(message: &str) -> PyErr {
    InternalError::new_err(message.to_string())
}
