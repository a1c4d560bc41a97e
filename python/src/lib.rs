//! `flowsplit._flowsplit`, the native half of the Python package: a thin
//! layer that converts and nothing more (pydantic-core's and py-polars'
//! way). Every byte is reassembled, named, hashed and carved by the
//! flowsplit library through [`flowsplit::run_to_end`], the same run the
//! CLI makes; this module only
//!
//! - turns keyword options into the CLI's own flags and parses them with
//!   the CLI's own parser (`src/cli.rs`, compiled in here too), so no
//!   option is defined twice and a bad option gets the CLI's message;
//! - runs the pipeline on a thread of its own with the GIL released, and
//!   takes each closed direction from [`flowsplit::hooks::Hooks::closed`]
//!   through a bounded channel (a slow consumer holds reading back);
//! - turns records into Python objects and library errors into Python
//!   exceptions ([`errors`]).
//!
//! Must not: decode, reassemble, carve or name anything itself.

mod errors;
mod options;
mod run;

use pyo3::prelude::*;

/// The module: its classes, functions and exceptions (the Python package
/// `flowsplit` re-exports them with docstrings and type stubs).
#[pymodule]
fn _flowsplit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<run::Direction>()?;
    m.add_class::<run::Directions>()?;
    m.add_function(wrap_pyfunction!(run::read, m)?)?;
    m.add_function(wrap_pyfunction!(run::split, m)?)?;
    m.add_function(wrap_pyfunction!(run::live, m)?)?;
    m.add_function(wrap_pyfunction!(run::head_fields, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("OPTIONS", options::listing())?;
    errors::register(m)?;
    Ok(())
}
