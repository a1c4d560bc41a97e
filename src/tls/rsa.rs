//! `--tls-rsa-key [IP:PORT=]FILE`: a server's RSA private key, to open the
//! premaster secret of connections that use RSA key exchange.
//!
//! Owns: reading the key file (PEM or DER, PKCS#1 or PKCS#8, with the
//! `rsa` crate), the server certificate's RSA modulus (its Certificate
//! message, parsed with `x509-cert`) so that a key is used only for the
//! server it belongs to, and opening an `EncryptedPreMasterSecret` (RFC
//! 5246 7.4.7.1, PKCS#1 v1.5).
//!
//! Must not: implement RSA or parse ASN.1 itself, try a key on a server
//! whose certificate it does not match, or panic on any bytes of a key
//! file or a handshake.

use crate::error::Error;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use x509_cert::der::{Decode, Encode};

/// What `--tls-rsa-key` names: a key file, for one server or for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The server it is for (`IP:PORT=`), or `None` for any server whose
    /// certificate it matches.
    pub server: Option<SocketAddr>,
    /// The key file.
    pub path: PathBuf,
}

impl std::str::FromStr for KeySpec {
    type Err = String;

    /// `FILE` or `IP:PORT=FILE` (IPv6 as `[ADDR]:PORT=FILE`). A value
    /// whose part before the first `=` is not an address and port is
    /// taken whole as a file name.
    fn from_str(s: &str) -> Result<KeySpec, String> {
        if s.is_empty() {
            return Err("an empty key file name".into());
        }
        if let Some((addr, path)) = s.split_once('=') {
            if let Ok(server) = addr.parse::<SocketAddr>() {
                if path.is_empty() {
                    return Err(format!("no key file after '{addr}='"));
                }
                return Ok(KeySpec {
                    server: Some(server),
                    path: PathBuf::from(path),
                });
            }
        }
        Ok(KeySpec {
            server: None,
            path: PathBuf::from(s),
        })
    }
}

/// A loaded server key.
#[derive(Debug, Clone)]
pub struct ServerKey {
    /// What was given.
    pub spec: KeySpec,
    key: RsaPrivateKey,
}

/// Parse a private key from `bytes`: PEM (`RSA PRIVATE KEY` or `PRIVATE
/// KEY`) or DER, PKCS#1 or PKCS#8. The error says why not.
pub fn parse_key(bytes: &[u8]) -> Result<RsaPrivateKey, String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            return RsaPrivateKey::from_pkcs1_pem(text).map_err(|e| format!("PKCS#1 PEM: {e}"));
        }
        if text.contains("-----BEGIN PRIVATE KEY-----") {
            return RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| format!("PKCS#8 PEM: {e}"));
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(
                "an encrypted private key (decrypt it first: openssl pkey -in FILE)".into(),
            );
        }
        if text.contains("-----BEGIN") {
            return Err("a PEM file without an RSA PRIVATE KEY or PRIVATE KEY block".into());
        }
    }
    RsaPrivateKey::from_pkcs8_der(bytes)
        .or_else(|_| RsaPrivateKey::from_pkcs1_der(bytes))
        .map_err(|_| "neither PEM nor a DER PKCS#8 or PKCS#1 RSA private key".into())
}

impl ServerKey {
    /// The key in `bytes` (see [`parse_key`]), given as `spec`.
    pub fn parse(spec: KeySpec, bytes: &[u8]) -> Result<ServerKey, String> {
        Ok(ServerKey {
            key: parse_key(bytes)?,
            spec,
        })
    }
}

/// Read and parse the key `spec` names; a typed error naming the file
/// when it cannot be read or is not an RSA private key.
pub fn load(spec: &KeySpec) -> Result<ServerKey, Error> {
    let bytes = std::fs::read(&spec.path).map_err(|source| Error::Open {
        path: spec.path.clone(),
        source,
    })?;
    ServerKey::parse(spec.clone(), &bytes).map_err(|detail| Error::TlsKey {
        path: spec.path.clone(),
        detail,
    })
}

impl ServerKey {
    /// The key file.
    pub fn path(&self) -> &Path {
        &self.spec.path
    }

    /// Whether this key is the private half of `public`.
    pub fn matches(&self, public: &RsaPublicKey) -> bool {
        self.key.n() == public.n() && self.key.e() == public.e()
    }

    /// The 48-byte premaster secret in an `EncryptedPreMasterSecret`;
    /// `None` when it does not decrypt (wrong key, or not PKCS#1 v1.5) or
    /// is not 48 bytes.
    pub fn premaster(&self, encrypted: &[u8]) -> Option<Vec<u8>> {
        let pms = self.key.decrypt(Pkcs1v15Encrypt, encrypted).ok()?;
        (pms.len() == 48).then_some(pms)
    }
}

/// The RSA public key of the first (the server's own) certificate in a
/// Certificate handshake message body (RFC 5246 7.4.2); `None` when there
/// is none or it is not RSA.
pub fn certificate_key(body: &[u8]) -> Option<RsaPublicKey> {
    let list = body.get(3..)?;
    let len = usize::from(*list.first()?) << 16
        | usize::from(*list.get(1)?) << 8
        | usize::from(*list.get(2)?);
    let der = list.get(3..3 + len)?;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    RsaPublicKey::from_public_key_der(&spki).ok()
}

/// The encrypted premaster secret in an RSA ClientKeyExchange body: a
/// 16-bit length and the bytes from TLS 1.0 on, the bare bytes under SSL
/// 3.0 (RFC 6101 5.6.7.1).
pub fn encrypted_premaster(body: &[u8], version: u16) -> Option<&[u8]> {
    if version == super::keys::SSL3 {
        return Some(body);
    }
    let len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    (body.len() == 2 + len).then(|| &body[2..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pem() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tls/key.pem")).unwrap()
    }

    #[test]
    fn specs_with_and_without_a_server() {
        let s: KeySpec = "127.0.0.1:443=key.pem".parse().unwrap();
        assert_eq!(s.server, Some("127.0.0.1:443".parse().unwrap()));
        assert_eq!(s.path, PathBuf::from("key.pem"));
        let s: KeySpec = "[::1]:8443=/k/a=b.pem".parse().unwrap();
        assert_eq!(s.server, Some("[::1]:8443".parse().unwrap()));
        assert_eq!(s.path, PathBuf::from("/k/a=b.pem"));
        let s: KeySpec = "dir/a=b.pem".parse().unwrap();
        assert_eq!((s.server, s.path), (None, PathBuf::from("dir/a=b.pem")));
        assert!("127.0.0.1:443=".parse::<KeySpec>().is_err());
        assert!("".parse::<KeySpec>().is_err());
    }

    /// key.pem (PKCS#8 PEM) and the same key as PKCS#1 PEM and both DER
    /// forms parse to one key; hostile files are errors, not panics.
    #[test]
    fn pem_and_der_pkcs1_and_pkcs8_and_hostile_files() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let k = parse_key(&key_pem()).unwrap();
        let pkcs1_pem = k.to_pkcs1_pem(Default::default()).unwrap();
        let pkcs1_der = k.to_pkcs1_der().unwrap();
        let pkcs8_der = k.to_pkcs8_der().unwrap();
        for bytes in [
            pkcs1_pem.as_bytes(),
            pkcs1_der.as_bytes(),
            pkcs8_der.as_bytes(),
        ] {
            assert_eq!(parse_key(bytes).unwrap(), k);
        }
        let err = |b: &[u8]| parse_key(b).unwrap_err();
        assert!(err(b"").contains("neither PEM nor"));
        assert!(
            err(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .contains("without an RSA PRIVATE KEY")
        );
        assert!(err(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n").contains("encrypted"));
        assert!(
            err(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n")
                .starts_with("PKCS#8 PEM")
        );
        let der = pkcs8_der.as_bytes();
        for n in 0..der.len() {
            let _ = parse_key(&der[..n]);
            let mut flipped = der.to_vec();
            flipped[n] ^= 0x41;
            let _ = parse_key(&flipped);
        }
    }

    #[test]
    fn certificate_key_matches_its_private_key_only() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/tls/cert.pem"
        ))
        .unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64_decode(&b64);
        let mut body = vec![0, 0, 0];
        let n = der.len() + 3;
        body[0..3].copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        body.extend_from_slice(&[
            (der.len() >> 16) as u8,
            (der.len() >> 8) as u8,
            der.len() as u8,
        ]);
        body.extend_from_slice(&der);
        let public = certificate_key(&body).unwrap();
        let key = ServerKey {
            spec: "key.pem".parse().unwrap(),
            key: parse_key(&key_pem()).unwrap(),
        };
        assert!(key.matches(&public));
        // A certificate with another modulus is not this key's.
        let other =
            RsaPublicKey::new(public.n() + rsa::BigUint::from(2u8), public.e().clone()).unwrap();
        assert!(!key.matches(&other));
        for n in 0..body.len().min(400) {
            assert!(certificate_key(&body[..n]).is_none());
        }
    }

    /// Standard base64, enough for a PEM body in a test.
    fn base64_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut acc = 0u32;
            for (i, &v) in chunk.iter().enumerate() {
                acc |= u32::from(v) << (18 - 6 * i);
            }
            out.extend_from_slice(&acc.to_be_bytes()[1..chunk.len()]);
        }
        out
    }
}
