//! File-name templates: `Template::parse` on any text and, for the
//! templates it accepts, `render` with any tuple, counter, connection id and
//! time. A rendered name must be a relative path of ordinary components
//! (never absolute, no `.` or `..`, no empty part) without control
//! characters, so `outdir.join(name)` stays in the output folder.
//!
//! The run and its checks are in `checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::naming(data));
