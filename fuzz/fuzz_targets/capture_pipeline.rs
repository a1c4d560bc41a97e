//! Capture reading, decoding, reassembly and flow-file writing, end to end:
//! the input is a capture file, run through `flowsplit::run` into a fresh
//! output folder. Whatever the bytes: no panic, nothing written outside the
//! output folder, only plain files with safe names in it, and every report
//! line names a file of exactly the size it states.
//!
//! The run and its checks are in `checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::capture_pipeline(data));
