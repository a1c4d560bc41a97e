//! pcapng Decryption Secrets Blocks: a capture holding one whose secrets
//! type, stated length and body come from the input is read, and the key
//! log it carries kept as the capture's secrets. No panic, nothing handed
//! over beyond the block, no more secrets than lines.
//!
//! The run and its checks are in `checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dsb(data));
