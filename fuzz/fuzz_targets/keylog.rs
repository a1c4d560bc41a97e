//! NSS key logs and TLS decryption with them: `KeyLog::read` on any bytes,
//! then `carve_dirs` with that key log over a client and a server flow
//! taken from the rest of the input. No panic, secrets of the right sizes,
//! nothing written but `-TLS` files, body files and the index in the flow
//! folder.
//!
//! The run and its checks are in `checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::keylog(data));
