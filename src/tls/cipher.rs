//! Record decryption: one direction's record protection with its keys.
//!
//! Owns: the nonces and additional data of TLS 1.3 AEAD records (RFC 8446
//! 5.2, 5.3), TLS 1.2 AEAD records (RFC 5288 GCM and RFC 6655 CCM with
//! their explicit nonce, RFC 7905 ChaCha20-Poly1305), CBC records (RFC 5246
//! 6.2.3.2 MAC-then-encrypt, RFC 7366 encrypt-then-MAC; the IV in the
//! record from TLS 1.1 on, the previous record's last ciphertext block
//! under SSL 3.0 and TLS 1.0) and RC4 records (one keystream across the
//! direction's records), with the HMAC of TLS or SSL 3.0's MAC (RFC 6101
//! 5.2.3.1), checking every tag and MAC.
//!
//! Must not: return plaintext of a record that failed authentication, or
//! implement a cipher or hash (RustCrypto's `aes-gcm`, `ccm`,
//! `chacha20poly1305`, `aes`, `des`, `cbc`, `rc4`, `hmac`, `sha1`, `sha2`
//! and `md-5` do; the SSL 3.0 MAC is those hashes composed as RFC 6101
//! writes it).

use super::keys::{DirectionKeys, SSL3, TLS10};
use super::suite::{Block, Hash, Protection};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
use ccm::consts::{U12, U16, U8};
use ccm::Ccm;
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rc4::{Rc4, StreamCipher};

/// Why a record could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The AEAD tag or the record MAC did not match (or the padding was bad).
    Authentication,
    /// The record is too short to hold its nonce, tag or MAC.
    Malformed,
}

type Ccm128 = Ccm<aes::Aes128, U16, U12>;
type Ccm256 = Ccm<aes::Aes256, U16, U12>;
type Ccm128x8 = Ccm<aes::Aes128, U8, U12>;
type Ccm256x8 = Ccm<aes::Aes256, U8, U12>;

enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
    Ccm128(Box<Ccm128>),
    Ccm256(Box<Ccm256>),
    Ccm128x8(Box<Ccm128x8>),
    Ccm256x8(Box<Ccm256x8>),
}

impl Aead {
    fn tag_len(&self) -> usize {
        match self {
            Aead::Ccm128x8(_) | Aead::Ccm256x8(_) => 8,
            _ => 16,
        }
    }

    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Failure> {
        let nonce = Nonce::from_slice(nonce);
        let r = match self {
            Aead::Aes128(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::Aes256(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::ChaCha(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::Ccm128(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::Ccm256(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::Ccm128x8(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::Ccm256x8(c) => c.decrypt_in_place(nonce, aad, buf),
        };
        r.map_err(|_| Failure::Authentication)
    }
}

/// One direction's record protection.
pub struct RecordCipher {
    kind: Kind,
    keys: DirectionKeys,
}

enum Kind {
    /// TLS 1.3: nonce = IV xor sequence number; inner content type at the end.
    Tls13(Aead),
    /// TLS 1.2 GCM and CCM: 4-byte salt + 8-byte explicit nonce from the record.
    Tls12Explicit(Aead),
    /// TLS 1.2 ChaCha20-Poly1305: nonce as in TLS 1.3.
    Tls12ChaCha(Aead),
    /// CBC with a MAC.
    Cbc {
        cipher: Block,
        mac: Hash,
        encrypt_then_mac: bool,
        version: u16,
        /// SSL 3.0 and TLS 1.0: the next record's IV.
        chained_iv: Vec<u8>,
    },
    /// RC4 with a MAC: the keystream runs on across records.
    Rc4 {
        mac: Hash,
        version: u16,
        state: Box<Rc4<U16>>,
    },
}

fn aead(p: Protection, key: &[u8]) -> Option<Aead> {
    Some(match p {
        Protection::Aes128Gcm => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
        Protection::Aes256Gcm => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
        Protection::ChaCha20Poly1305 => {
            Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
        }
        Protection::Aes128Ccm => Aead::Ccm128(Box::new(Ccm128::new_from_slice(key).ok()?)),
        Protection::Aes256Ccm => Aead::Ccm256(Box::new(Ccm256::new_from_slice(key).ok()?)),
        Protection::Aes128Ccm8 => Aead::Ccm128x8(Box::new(Ccm128x8::new_from_slice(key).ok()?)),
        Protection::Aes256Ccm8 => Aead::Ccm256x8(Box::new(Ccm256x8::new_from_slice(key).ok()?)),
        Protection::Cbc { .. } | Protection::Rc4 { .. } => return None,
    })
}

/// What a record decrypted to.
#[derive(Debug, PartialEq, Eq)]
pub struct Plain {
    /// The content type (TLS 1.3: the inner one).
    pub content_type: u8,
    /// The content.
    pub data: Vec<u8>,
}

/// CBC-decrypt `buf` in place with `cipher` under `key` and `iv`.
fn cbc_decrypt(cipher: Block, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), Failure> {
    macro_rules! run {
        ($c:ty) => {
            cbc::Decryptor::<$c>::new_from_slices(key, iv)
                .map_err(|_| Failure::Malformed)?
                .decrypt_padded_mut::<NoPadding>(buf)
                .map(|_| ())
                .map_err(|_| Failure::Malformed)
        };
    }
    match cipher {
        Block::Aes128 => run!(aes::Aes128),
        Block::Aes256 => run!(aes::Aes256),
        Block::TripleDes => run!(des::TdesEde3),
    }
}

impl RecordCipher {
    /// TLS 1.3 records protected with `p` under `keys`.
    pub fn tls13(p: Protection, keys: DirectionKeys) -> Option<RecordCipher> {
        Some(RecordCipher {
            kind: Kind::Tls13(aead(p, &keys.key)?),
            keys,
        })
    }

    /// SSL 3.0 to TLS 1.2 (`version`) records protected with `p` under
    /// `keys`; `encrypt_then_mac` when the server agreed to RFC 7366 (CBC
    /// suites only). `None` when the keys do not fit the protection.
    pub fn tls12(
        p: Protection,
        keys: DirectionKeys,
        encrypt_then_mac: bool,
        version: u16,
    ) -> Option<RecordCipher> {
        let kind = match p {
            Protection::ChaCha20Poly1305 => Kind::Tls12ChaCha(aead(p, &keys.key)?),
            Protection::Cbc { cipher, mac } => {
                let chained_iv = if version <= TLS10 {
                    if keys.iv.len() != cipher.size() {
                        return None;
                    }
                    keys.iv.clone()
                } else {
                    Vec::new()
                };
                Kind::Cbc {
                    cipher,
                    mac,
                    encrypt_then_mac: encrypt_then_mac && version != SSL3,
                    version,
                    chained_iv,
                }
            }
            Protection::Rc4 { mac } => Kind::Rc4 {
                mac,
                version,
                state: Box::new(<Rc4<U16> as rc4::KeyInit>::new_from_slice(&keys.key).ok()?),
            },
            _ => Kind::Tls12Explicit(aead(p, &keys.key)?),
        };
        Some(RecordCipher { kind, keys })
    }

    fn xor_nonce(&self, seq: u64) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        for (n, iv) in nonce.iter_mut().zip(&self.keys.iv) {
            *n = *iv;
        }
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    /// Decrypt the record with header `header` (type, version, length) and
    /// body `body`, the `seq`-th record this direction protected with
    /// these keys. Records must be opened in order: CBC under SSL 3.0 and
    /// TLS 1.0 chains its IV, and RC4's keystream runs on, from one record
    /// to the next.
    pub fn open(&mut self, header: &[u8; 5], body: &[u8], seq: u64) -> Result<Plain, Failure> {
        match &self.kind {
            Kind::Tls13(a) => {
                let mut buf = body.to_vec();
                a.open(&self.xor_nonce(seq), header, &mut buf)?;
                // Content, then the inner type, then zero padding.
                let end = buf
                    .iter()
                    .rposition(|&b| b != 0)
                    .ok_or(Failure::Malformed)?;
                let content_type = buf[end];
                buf.truncate(end);
                Ok(Plain {
                    content_type,
                    data: buf,
                })
            }
            Kind::Tls12Explicit(a) => {
                let tag = a.tag_len();
                if body.len() < 8 + tag {
                    return Err(Failure::Malformed);
                }
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(self.keys.iv.get(..4).ok_or(Failure::Malformed)?);
                nonce[4..].copy_from_slice(&body[..8]);
                let mut buf = body[8..].to_vec();
                let aad = tls12_aad(seq, header, buf.len() - tag);
                a.open(&nonce, &aad, &mut buf)?;
                Ok(Plain {
                    content_type: header[0],
                    data: buf,
                })
            }
            Kind::Tls12ChaCha(a) => {
                if body.len() < 16 {
                    return Err(Failure::Malformed);
                }
                let mut buf = body.to_vec();
                let aad = tls12_aad(seq, header, buf.len() - 16);
                a.open(&self.xor_nonce(seq), &aad, &mut buf)?;
                Ok(Plain {
                    content_type: header[0],
                    data: buf,
                })
            }
            Kind::Cbc { .. } => self.open_cbc(header, body, seq),
            Kind::Rc4 { .. } => self.open_rc4(header, body, seq),
        }
    }

    fn open_rc4(&mut self, header: &[u8; 5], body: &[u8], seq: u64) -> Result<Plain, Failure> {
        let Kind::Rc4 {
            mac,
            version,
            state,
        } = &mut self.kind
        else {
            return Err(Failure::Malformed);
        };
        let (mac, version) = (*mac, *version);
        let mut buf = body.to_vec();
        state.apply_keystream(&mut buf);
        if buf.len() < mac.size() {
            return Err(Failure::Malformed);
        }
        let tag = buf.split_off(buf.len() - mac.size());
        if record_mac(&self.keys.mac_key, mac, version, seq, header, &buf)? != tag {
            return Err(Failure::Authentication);
        }
        Ok(Plain {
            content_type: header[0],
            data: buf,
        })
    }

    fn open_cbc(&mut self, header: &[u8; 5], body: &[u8], seq: u64) -> Result<Plain, Failure> {
        let Kind::Cbc {
            cipher,
            mac,
            encrypt_then_mac,
            version,
            chained_iv,
        } = &mut self.kind
        else {
            return Err(Failure::Malformed);
        };
        let (cipher, mac, encrypt_then_mac, version) = (*cipher, *mac, *encrypt_then_mac, *version);
        let key = &self.keys.key;
        let mac_key = &self.keys.mac_key;
        let mac_len = mac.size();
        let bs = cipher.size();
        let mut body = body;
        if encrypt_then_mac {
            if body.len() < mac_len {
                return Err(Failure::Malformed);
            }
            let (sealed, tag) = body.split_at(body.len() - mac_len);
            if record_mac(mac_key, mac, version, seq, header, sealed)? != tag {
                return Err(Failure::Authentication);
            }
            body = sealed;
        }
        if body.is_empty() || body.len() % bs != 0 {
            return Err(Failure::Malformed);
        }
        let (iv, sealed) = if version <= TLS10 {
            let next = body[body.len() - bs..].to_vec();
            (std::mem::replace(chained_iv, next), body)
        } else {
            if body.len() < 2 * bs {
                return Err(Failure::Malformed);
            }
            let (iv, sealed) = body.split_at(bs);
            (iv.to_vec(), sealed)
        };
        let mut buf = sealed.to_vec();
        cbc_decrypt(cipher, key, &iv, &mut buf)?;
        // Padding: `pad` bytes, then `pad` itself. TLS: every padding byte
        // is `pad`. SSL 3.0: their values are arbitrary, `pad` < one block.
        let pad = usize::from(*buf.last().ok_or(Failure::Malformed)?);
        let min = if encrypt_then_mac { 0 } else { mac_len };
        let bad = if version == SSL3 {
            pad >= bs || pad + 1 + min > buf.len()
        } else {
            pad + 1 + min > buf.len()
                || buf[buf.len() - 1 - pad..]
                    .iter()
                    .any(|&b| usize::from(b) != pad)
        };
        if bad {
            return Err(Failure::Authentication);
        }
        buf.truncate(buf.len() - 1 - pad);
        if !encrypt_then_mac {
            let tag = buf.split_off(buf.len() - mac_len);
            if record_mac(mac_key, mac, version, seq, header, &buf)? != tag {
                return Err(Failure::Authentication);
            }
        }
        Ok(Plain {
            content_type: header[0],
            data: buf,
        })
    }
}

/// The MAC of a record's `data`: TLS, HMAC(seq || type || version ||
/// length || data); SSL 3.0 (RFC 6101 5.2.3.1), hash(key || pad_2 ||
/// hash(key || pad_1 || seq || type || length || data)) with pads of 0x36
/// and 0x5c, 48 bytes for MD5 and 40 for SHA-1. The length is `data`'s.
fn record_mac(
    key: &[u8],
    hash: Hash,
    version: u16,
    seq: u64,
    header: &[u8; 5],
    data: &[u8],
) -> Result<Vec<u8>, Failure> {
    let len = u16::try_from(data.len()).map_err(|_| Failure::Malformed)?;
    let mut input = Vec::with_capacity(13);
    input.extend_from_slice(&seq.to_be_bytes());
    input.push(header[0]);
    if version != SSL3 {
        input.extend_from_slice(&header[1..3]);
    }
    input.extend_from_slice(&len.to_be_bytes());
    if version == SSL3 {
        macro_rules! ssl3 {
            ($h:ty, $pad:expr) => {{
                let inner = <$h>::new()
                    .chain_update(key)
                    .chain_update([0x36u8; $pad])
                    .chain_update(&input)
                    .chain_update(data)
                    .finalize();
                <$h>::new()
                    .chain_update(key)
                    .chain_update([0x5cu8; $pad])
                    .chain_update(inner)
                    .finalize()
                    .to_vec()
            }};
        }
        return match hash {
            Hash::Md5 => Ok(ssl3!(Md5, 48)),
            Hash::Sha1 => Ok(ssl3!(sha1::Sha1, 40)),
            Hash::Sha256 | Hash::Sha384 => Err(Failure::Malformed),
        };
    }
    macro_rules! run {
        ($h:ty) => {{
            let mut m = <Hmac<$h> as Mac>::new_from_slice(key).map_err(|_| Failure::Malformed)?;
            m.update(&input);
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Ok(match hash {
        Hash::Md5 => run!(Md5),
        Hash::Sha1 => run!(sha1::Sha1),
        Hash::Sha256 => run!(sha2::Sha256),
        Hash::Sha384 => run!(sha2::Sha384),
    })
}

/// TLS 1.2 AEAD additional data: seq || type || version || plaintext length.
fn tls12_aad(seq: u64, header: &[u8; 5], plain_len: usize) -> [u8; 13] {
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8..11].copy_from_slice(&header[..3]);
    aad[11..13].copy_from_slice(&(plain_len as u16).to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadInPlace;

    /// A TLS 1.3 record sealed with the crate's encryption opens to its
    /// content and inner type; a flipped byte fails authentication.
    #[test]
    fn tls13_round_trip_and_flipped_byte() {
        let keys = DirectionKeys {
            key: vec![7; 16],
            iv: vec![9; 12],
            mac_key: Vec::new(),
        };
        let mut c = RecordCipher::tls13(Protection::Aes128Gcm, keys.clone()).unwrap();
        let mut inner = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        inner.extend_from_slice(&[23, 0, 0]);
        let len = (inner.len() + 16) as u16;
        let header = [23, 3, 3, (len >> 8) as u8, len as u8];
        let sealer = Aes128Gcm::new_from_slice(&keys.key).unwrap();
        let nonce = c.xor_nonce(5);
        sealer
            .encrypt_in_place(Nonce::from_slice(&nonce), &header, &mut inner)
            .unwrap();
        let p = c.open(&header, &inner, 5).unwrap();
        assert_eq!(p.content_type, 23);
        assert_eq!(p.data, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(c.open(&header, &inner, 4), Err(Failure::Authentication));
        inner[3] ^= 1;
        assert_eq!(c.open(&header, &inner, 5), Err(Failure::Authentication));
    }
}
