//! TLS decryption after the fact, with an NSS key log (`SSLKEYLOGFILE`).
//!
//! Owns: turning a TLS connection's two reassembled directions into their
//! application data, given the session secrets. The pieces follow the
//! data: `keylog` (the key log file) → `record` (records out of a byte
//! stream) → `hello` (handshake messages: hellos, Finished, KeyUpdate) →
//! `suite` (the cipher suites decrypted) → `keys` (TLS 1.3 HKDF and TLS 1.2
//! PRF key schedules) → `cipher` (opening one record) → `direction` (one
//! direction into a plaintext file) → `session` (a connection: hellos,
//! secrets, both directions, the facts). `crate::http` calls [`session`]
//! for connections that carry TLS and carves HTTP from the plaintext.
//!
//! Supported: TLS 1.2 and 1.3; AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305
//! and (TLS 1.2) AES-CBC with HMAC-SHA1/SHA256/SHA384, MAC-then-encrypt or
//! encrypt-then-MAC; TLS 1.3 key updates, HelloRetryRequest and early data
//! (with `CLIENT_EARLY_TRAFFIC_SECRET`); resumed sessions (the key log
//! holds each connection's secrets by its own client random).
//!
//! Must not: implement a cipher or hash (RustCrypto crates do), write
//! plaintext of a record that failed authentication, or panic on any
//! bytes of a flow or a key log.

pub mod cache;
pub mod cipher;
pub mod direction;
pub mod hello;
pub mod keylog;
pub mod keys;
pub mod premaster;
pub mod psk;
pub mod record;
pub mod resume;
pub mod rsa;
pub mod session;
pub mod suite;

pub use keylog::KeyLog;

/// Added to a raw flow file's name to name its decrypted application data
/// (`<flow>-TLS`). Not a flow-file name itself, so the HTTP post-pass,
/// re-runs and merges never take it for a raw flow.
pub const SUFFIX: &str = "-TLS";
