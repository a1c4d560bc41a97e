//! Key schedules: from the key log's secrets to each direction's record
//! keys.
//!
//! Owns: TLS 1.3 `HKDF-Expand-Label` (RFC 8446 7.1), traffic keys and the
//! key update (7.2, 7.3); the TLS 1.2 PRF (RFC 5246 5) and key block (6.3).
//! The key log gives TLS 1.2's master secret directly, so the extended
//! master secret (RFC 7627) needs nothing here: it only changes how the
//! master secret was made.
//!
//! Must not: implement a hash or a cipher (RustCrypto's `hkdf`, `hmac`,
//! `sha2` do the work).

use super::suite::{Hash, Protection, Suite};
use hmac::{Mac, SimpleHmac};
use sha2::{Sha256, Sha384};

/// One direction's record keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionKeys {
    /// The cipher key.
    pub key: Vec<u8>,
    /// TLS 1.3 and TLS 1.2 ChaCha: the 12-byte IV. TLS 1.2 GCM: the 4-byte
    /// salt. TLS 1.2 CBC: unused (records carry their IV).
    pub iv: Vec<u8>,
    /// TLS 1.2 CBC: the record MAC key.
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
        Hash::Sha1 => return None,
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
        Hash::Sha1 => None,
    }
}

/// TLS 1.2 record keys of both directions, `(client, server)`, from the
/// master secret and the two hello randoms.
pub fn tls12_keys(
    suite: &Suite,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(DirectionKeys, DirectionKeys)> {
    let (mac_len, iv_len) = match suite.protection {
        Protection::Aes128Gcm | Protection::Aes256Gcm => (0, 4),
        Protection::ChaCha20Poly1305 => (0, 12),
        Protection::AesCbc { mac, .. } => (mac.size(), 16),
    };
    let key_len = suite.protection.key_len();
    let seed = [&server_random[..], &client_random[..]].concat();
    let block = prf(
        suite.hash,
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
