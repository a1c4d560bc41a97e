//! The cipher suites flowsplit decrypts, by their IANA number.
//!
//! Owns: the table from a suite number to its name, the TLS version it
//! belongs to, its record protection (AEAD or CBC with an HMAC) and the
//! hash of its key schedule (TLS 1.3 HKDF, TLS 1.2 PRF).
//!
//! Must not: hold any key.

/// A hash used by a key schedule or a record MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (TLS 1.2 CBC record MACs only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl Hash {
    /// The digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// How records are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// AES-128-GCM.
    Aes128Gcm,
    /// AES-256-GCM.
    Aes256Gcm,
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
    /// AES-CBC with a 16- or 32-byte key, MAC'd with HMAC over `mac` (TLS 1.2).
    AesCbc {
        /// Key size in bytes: 16 or 32.
        key_len: usize,
        /// The record MAC's hash.
        mac: Hash,
    },
}

impl Protection {
    /// Key size in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Protection::Aes128Gcm => 16,
            Protection::Aes256Gcm | Protection::ChaCha20Poly1305 => 32,
            Protection::AesCbc { key_len, .. } => key_len,
        }
    }
}

/// One cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// The IANA number.
    pub id: u16,
    /// The IANA name.
    pub name: &'static str,
    /// True for TLS 1.3 suites.
    pub tls13: bool,
    /// Record protection.
    pub protection: Protection,
    /// The key schedule's hash (HKDF for TLS 1.3, the PRF for TLS 1.2).
    pub hash: Hash,
}

use Hash::{Sha1, Sha256, Sha384};
use Protection::{Aes128Gcm, Aes256Gcm, ChaCha20Poly1305};

const fn cbc(key_len: usize, mac: Hash) -> Protection {
    Protection::AesCbc { key_len, mac }
}

const fn s(id: u16, name: &'static str, tls13: bool, protection: Protection, hash: Hash) -> Suite {
    Suite {
        id,
        name,
        tls13,
        protection,
        hash,
    }
}

/// Every suite flowsplit decrypts.
pub const SUITES: &[Suite] = &[
    s(0x1301, "TLS_AES_128_GCM_SHA256", true, Aes128Gcm, Sha256),
    s(0x1302, "TLS_AES_256_GCM_SHA384", true, Aes256Gcm, Sha384),
    s(
        0x1303,
        "TLS_CHACHA20_POLY1305_SHA256",
        true,
        ChaCha20Poly1305,
        Sha256,
    ),
    s(
        0x009C,
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        false,
        Aes128Gcm,
        Sha256,
    ),
    s(
        0x009D,
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        false,
        Aes256Gcm,
        Sha384,
    ),
    s(
        0x009E,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        false,
        Aes128Gcm,
        Sha256,
    ),
    s(
        0x009F,
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        false,
        Aes256Gcm,
        Sha384,
    ),
    s(
        0xC02B,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        false,
        Aes128Gcm,
        Sha256,
    ),
    s(
        0xC02C,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        false,
        Aes256Gcm,
        Sha384,
    ),
    s(
        0xC02F,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        false,
        Aes128Gcm,
        Sha256,
    ),
    s(
        0xC030,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        false,
        Aes256Gcm,
        Sha384,
    ),
    s(
        0xCCA8,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        ChaCha20Poly1305,
        Sha256,
    ),
    s(
        0xCCA9,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        ChaCha20Poly1305,
        Sha256,
    ),
    s(
        0xCCAA,
        "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        ChaCha20Poly1305,
        Sha256,
    ),
    s(
        0x002F,
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        false,
        cbc(16, Sha1),
        Sha256,
    ),
    s(
        0x0035,
        "TLS_RSA_WITH_AES_256_CBC_SHA",
        false,
        cbc(32, Sha1),
        Sha256,
    ),
    s(
        0x003C,
        "TLS_RSA_WITH_AES_128_CBC_SHA256",
        false,
        cbc(16, Sha256),
        Sha256,
    ),
    s(
        0x003D,
        "TLS_RSA_WITH_AES_256_CBC_SHA256",
        false,
        cbc(32, Sha256),
        Sha256,
    ),
    s(
        0x0033,
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        false,
        cbc(16, Sha1),
        Sha256,
    ),
    s(
        0x0039,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        false,
        cbc(32, Sha1),
        Sha256,
    ),
    s(
        0x0067,
        "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        false,
        cbc(16, Sha256),
        Sha256,
    ),
    s(
        0x006B,
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        false,
        cbc(32, Sha256),
        Sha256,
    ),
    s(
        0xC009,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        false,
        cbc(16, Sha1),
        Sha256,
    ),
    s(
        0xC00A,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        false,
        cbc(32, Sha1),
        Sha256,
    ),
    s(
        0xC013,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        false,
        cbc(16, Sha1),
        Sha256,
    ),
    s(
        0xC014,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        false,
        cbc(32, Sha1),
        Sha256,
    ),
    s(
        0xC023,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        false,
        cbc(16, Sha256),
        Sha256,
    ),
    s(
        0xC024,
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        false,
        cbc(32, Sha384),
        Sha384,
    ),
    s(
        0xC027,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        false,
        cbc(16, Sha256),
        Sha256,
    ),
    s(
        0xC028,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        false,
        cbc(32, Sha384),
        Sha384,
    ),
];

/// The suite numbered `id`, if flowsplit decrypts it.
pub fn by_id(id: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_sha384_names_use_sha384() {
        for (i, a) in SUITES.iter().enumerate() {
            assert!(SUITES[i + 1..].iter().all(|b| b.id != a.id), "{}", a.name);
            assert_eq!(a.name.ends_with("SHA384"), a.hash == Sha384, "{}", a.name);
            assert_eq!(a.tls13, !a.name.contains("_WITH_"), "{}", a.name);
        }
        assert_eq!(
            by_id(0x1303).map(|s| s.name),
            Some("TLS_CHACHA20_POLY1305_SHA256")
        );
        assert!(by_id(0x0005).is_none());
    }
}
