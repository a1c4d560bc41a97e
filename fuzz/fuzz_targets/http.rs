//! The HTTP post-pass: message heads, framing, chunking and content
//! decoding, through `flowsplit::http::carve_dirs` on one connection whose
//! two flow files come from the input. The first two bytes (little-endian)
//! say how many of the rest are the request flow; the remainder is the
//! response flow. Whatever the bytes: no panic, and every file written is a
//! plain file inside the folder, named after a flow file or the index.
//!
//! The run and its checks are in `checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::http(data));
