//! Key schedules: from the key log's secrets to each direction's record
//! keys.
//!
//! Owns: TLS 1.3 `HKDF-Expand-Label` (RFC 8446 7.1), traffic keys and the
//! key update (7.2, 7.3); the TLS 1.2 PRF (RFC 5246 5), the TLS 1.0/1.1
//! PRF (RFC 2246 5: P_MD5 xor P_SHA1), SSL 3.0's key derivation (RFC 6101
//! 6.1, 6.2.2), the key block of each (RFC 5246 6.3), and the master
//! secret from a premaster secret (RFC 5246 8.1, RFC 7627 4 with the
//! extended master secret's session hash).
//!
//! Must not: implement a hash or a cipher (RustCrypto's `hkdf`, `hmac`,
//! `sha2`, `sha1`, `md-5` do the work; SSL 3.0's derivation is those
//! hashes composed exactly as RFC 6101 writes it, no maintained crate
//! having it).

use super::suite::{Hash, Protection, Suite};
use hmac::{Mac, SimpleHmac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

/// SSL 3.0.
pub const SSL3: u16 = 0x0300;
/// TLS 1.0.
pub const TLS10: u16 = 0x0301;
/// TLS 1.2.
pub const TLS12: u16 = 0x0303;

/// One direction's record keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionKeys {
    /// The cipher key.
    pub key: Vec<u8>,
    /// TLS 1.3 and TLS 1.2 ChaCha: the 12-byte IV. TLS 1.2 GCM and CCM:
    /// the 4-byte salt. SSL 3.0 and TLS 1.0 CBC: the first record's IV.
    /// TLS 1.1 and 1.2 CBC, RC4: empty (records carry their IV).
    pub iv: Vec<u8>,
    /// CBC and RC4: the record MAC key.
    pub mac_key: Vec<u8>,
}

/// `HKDF-Expand-Label(secret, label, context, len)` with `hash`; `None`
/// when the secret's size does not fit the hash.
pub fn expand_label(
    hash: Hash,
    secret: &[u8],
    label: &str,
    context: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let full = [b"tls13 ", label.as_bytes()].concat();
    let mut info = Vec::with_capacity(4 + full.len() + context.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(&full);
    info.push(u8::try_from(context.len()).ok()?);
    info.extend_from_slice(context);
    let mut out = vec![0; len];
    match hash {
        Hash::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        Hash::Md5 | Hash::Sha1 => return None,
    }
    Some(out)
}

/// TLS 1.3 record keys from a traffic secret. `None` if the secret's size
/// is not the suite's hash size.
pub fn tls13_keys(suite: &Suite, secret: &[u8]) -> Option<DirectionKeys> {
    if secret.len() != suite.hash.size() {
        return None;
    }
    Some(DirectionKeys {
        key: expand_label(suite.hash, secret, "key", b"", suite.protection.key_len())?,
        iv: expand_label(suite.hash, secret, "iv", b"", 12)?,
        mac_key: Vec::new(),
    })
}

/// The traffic secret after a TLS 1.3 KeyUpdate.
pub fn tls13_next_secret(suite: &Suite, secret: &[u8]) -> Option<Vec<u8>> {
    expand_label(suite.hash, secret, "traffic upd", b"", suite.hash.size())
}

fn p_hash<M: Mac + hmac::digest::KeyInit + Clone>(
    secret: &[u8],
    seed: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let keyed = <M as hmac::digest::KeyInit>::new_from_slice(secret).ok()?;
    let mut out = Vec::with_capacity(len + 64);
    let mut a = {
        let mut m = keyed.clone();
        m.update(seed);
        m.finalize().into_bytes().to_vec()
    };
    while out.len() < len {
        let mut m = keyed.clone();
        m.update(&a);
        m.update(seed);
        out.extend_from_slice(&m.finalize().into_bytes());
        let mut m = keyed.clone();
        m.update(&a);
        a = m.finalize().into_bytes().to_vec();
    }
    out.truncate(len);
    Some(out)
}

/// The TLS 1.2 PRF with `hash` (SHA-256 unless the suite says SHA-384).
pub fn prf(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let seed = [label, seed].concat();
    match hash {
        Hash::Sha256 => p_hash::<SimpleHmac<Sha256>>(secret, &seed, len),
        Hash::Sha384 => p_hash::<SimpleHmac<Sha384>>(secret, &seed, len),
        Hash::Md5 | Hash::Sha1 => None,
    }
}

/// The TLS 1.0 and 1.1 PRF: P_MD5 over the secret's first half xor
/// P_SHA1 over its second half (the halves share a byte when its length
/// is odd).
pub fn prf_tls10(secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let seed = [label, seed].concat();
    let half = secret.len().div_ceil(2);
    let md5 = p_hash::<SimpleHmac<Md5>>(&secret[..half], &seed, len)?;
    let sha = p_hash::<SimpleHmac<Sha1>>(&secret[secret.len() - half..], &seed, len)?;
    Some(md5.iter().zip(&sha).map(|(a, b)| a ^ b).collect())
}

/// SSL 3.0's derivation: `MD5(secret + SHA1("A" + secret + seed)) +
/// MD5(secret + SHA1("BB" + secret + seed)) + ...`, `len` bytes (at most
/// 26 rounds of 16, the letters A to Z).
pub fn ssl3_derive(secret: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len + 16);
    for i in 0..26u8 {
        if out.len() >= len {
            break;
        }
        let salt = vec![b'A' + i; usize::from(i) + 1];
        let inner = Sha1::new()
            .chain_update(&salt)
            .chain_update(secret)
            .chain_update(seed)
            .finalize();
        out.extend_from_slice(
            &Md5::new()
                .chain_update(secret)
                .chain_update(inner)
                .finalize(),
        );
    }
    (out.len() >= len).then(|| {
        out.truncate(len);
        out
    })
}

/// `len` bytes of the PRF of protocol `version` (SSL 3.0's derivation
/// takes no label).
fn version_prf(
    suite: &Suite,
    version: u16,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    match version {
        SSL3 => ssl3_derive(secret, seed, len),
        TLS10 | 0x0302 => prf_tls10(secret, label, seed, len),
        TLS12 => prf(suite.hash, secret, label, seed, len),
        _ => None,
    }
}

/// The hash of the handshake messages for the extended master secret
/// (RFC 7627 3): the PRF hash under TLS 1.2, MD5 then SHA-1 under TLS 1.0
/// and 1.1. `messages` are the handshake messages with their headers, in
/// order, up to and including the ClientKeyExchange.
pub fn session_hash(suite: &Suite, version: u16, messages: &[u8]) -> Option<Vec<u8>> {
    Some(match version {
        TLS12 => match suite.hash {
            Hash::Sha384 => Sha384::digest(messages).to_vec(),
            _ => Sha256::digest(messages).to_vec(),
        },
        TLS10 | 0x0302 => [
            Md5::digest(messages).to_vec(),
            Sha1::digest(messages).to_vec(),
        ]
        .concat(),
        _ => return None,
    })
}

/// The 48-byte master secret from a premaster secret: with the extended
/// master secret's `session_hash` when the server agreed to it, else from
/// the two randoms (RFC 5246 8.1; SSL 3.0: RFC 6101 6.1).
pub fn master_secret(
    suite: &Suite,
    version: u16,
    premaster: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    session_hash: Option<&[u8]>,
) -> Option<Vec<u8>> {
    match session_hash {
        Some(h) if version != SSL3 => {
            version_prf(suite, version, premaster, b"extended master secret", h, 48)
        }
        Some(_) => None,
        None => {
            let seed = [&client_random[..], &server_random[..]].concat();
            version_prf(suite, version, premaster, b"master secret", &seed, 48)
        }
    }
}

/// Record keys of both directions, `(client, server)`, for SSL 3.0 to
/// TLS 1.2 (`version`), from the master secret and the two hello randoms.
/// `None` when the suite is not used with that version.
pub fn tls12_keys(
    suite: &Suite,
    version: u16,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(DirectionKeys, DirectionKeys)> {
    if suite.tls13 || !suite.allows(version) {
        return None;
    }
    let (mac_len, iv_len) = match suite.protection {
        Protection::ChaCha20Poly1305 => (0, 12),
        Protection::Cbc { cipher, mac } => {
            // Implicit IVs up to TLS 1.0; TLS 1.1 on carries them in records.
            (mac.size(), if version <= TLS10 { cipher.size() } else { 0 })
        }
        Protection::Rc4 { mac } => (mac.size(), 0),
        _ => (0, 4),
    };
    let key_len = suite.protection.key_len();
    let seed = [&server_random[..], &client_random[..]].concat();
    let block = version_prf(
        suite,
        version,
        master,
        b"key expansion",
        &seed,
        2 * (mac_len + key_len + iv_len),
    )?;
    let mut rest = block.as_slice();
    let mut take = |n: usize| {
        let (a, b) = rest.split_at(n);
        rest = b;
        a.to_vec()
    };
    let (cmac, smac) = (take(mac_len), take(mac_len));
    let (ckey, skey) = (take(key_len), take(key_len));
    let (civ, siv) = (take(iv_len), take(iv_len));
    Some((
        DirectionKeys {
            key: ckey,
            iv: civ,
            mac_key: cmac,
        },
        DirectionKeys {
            key: skey,
            iv: siv,
            mac_key: smac,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 (TLS 1.3 traces), "Simple 1-RTT Handshake": the server's
    /// handshake traffic secret and the key and IV made from it.
    #[test]
    fn rfc8448_server_handshake_keys() {
        let secret =
            hex::decode("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
                .unwrap();
        let suite = super::super::suite::by_id(0x1301).unwrap();
        let k = tls13_keys(suite, &secret).unwrap();
        assert_eq!(hex::encode(&k.key), "3fce516009c21727d0f2e4e86ee403bc");
        assert_eq!(hex::encode(&k.iv), "5d313eb2671276ee13000b30");
    }

    /// The TLS 1.2 PRF test vector for SHA-256 published on the IETF TLS
    /// list (used by many implementations' tests).
    #[test]
    fn prf_sha256_vector() {
        let secret = hex::decode("9bbe436ba940f017b17652849a71db35").unwrap();
        let seed = hex::decode("a0ba9f936cda311827a6f796ffd5198c").unwrap();
        let out = prf(Hash::Sha256, &secret, b"test label", &seed, 100).unwrap();
        assert_eq!(
            hex::encode(&out),
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66"
        );
    }
}
