//! Prints the brotli-compressed body served by the `br` case of
//! `testdata/http/server.py`, as the hex string hard-coded there (Python's
//! standard library has no brotli). Run once:
//! `cargo run --example http_brotli_body`.
//!
//! The body is `gen("brotli", 40)` of server.py (and of
//! `tests/http_captures.rs`): lines `brotli line 0000\n` to
//! `brotli line 0039\n`, compressed with the `brotli` crate at quality 11,
//! window 22 bits.

use std::io::Write;

fn main() {
    let body: String = (0..40).map(|i| format!("brotli line {i:04}\n")).collect();
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    w.write_all(body.as_bytes()).expect("compress");
    let out = w.into_inner();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    println!("{hex}");
}
