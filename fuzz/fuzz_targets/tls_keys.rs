//! `--tls-rsa-key` key files, Certificate messages, `--tls-psk` values,
//! SSL 3.0 to TLS 1.1 CBC and RC4 records, and decryption with an RSA key
//! and a PSK over a client and a server flow taken from the input. No
//! panic, nothing written but `-TLS` files, body files and the index in the
//! flow folder.
//!
//! The run and its checks are in `checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tls_keys(data));
