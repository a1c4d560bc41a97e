//! Record decryption: one direction's record protection with its keys.
//!
//! Owns: the nonces and additional data of TLS 1.3 AEAD records (RFC 8446
//! 5.2, 5.3), TLS 1.2 AEAD records (RFC 5288 GCM with its explicit nonce,
//! RFC 7905 ChaCha20-Poly1305) and TLS 1.2 CBC records (RFC 5246 6.2.3.2
//! MAC-then-encrypt, RFC 7366 encrypt-then-MAC), checking every tag and MAC.
//!
//! Must not: return plaintext of a record that failed authentication, or
//! implement a cipher or hash (RustCrypto's `aes-gcm`, `chacha20poly1305`,
//! `aes` + `cbc` and `hmac` do).

use super::keys::DirectionKeys;
use super::suite::{Hash, Protection};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};

/// Why a record could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The AEAD tag or the record MAC did not match (or the padding was bad).
    Authentication,
    /// The record is too short to hold its nonce, tag or MAC.
    Malformed,
}

enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> Result<(), Failure> {
        let nonce = Nonce::from_slice(nonce);
        let r = match self {
            Aead::Aes128(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::Aes256(c) => c.decrypt_in_place(nonce, aad, buf),
            Aead::ChaCha(c) => {
                c.decrypt_in_place(chacha20poly1305::Nonce::from_slice(nonce), aad, buf)
            }
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
    /// TLS 1.2 GCM: 4-byte salt + 8-byte explicit nonce from the record.
    Tls12Gcm(Aead),
    /// TLS 1.2 ChaCha20-Poly1305: nonce as in TLS 1.3.
    Tls12ChaCha(Aead),
    /// TLS 1.2 CBC with HMAC.
    Tls12Cbc {
        key_len: usize,
        mac: Hash,
        encrypt_then_mac: bool,
    },
}

fn aead(p: Protection, key: &[u8]) -> Option<Aead> {
    Some(match p {
        Protection::Aes128Gcm => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
        Protection::Aes256Gcm => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
        Protection::ChaCha20Poly1305 => {
            Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
        }
        Protection::AesCbc { .. } => return None,
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

impl RecordCipher {
    /// TLS 1.3 records protected with `p` under `keys`.
    pub fn tls13(p: Protection, keys: DirectionKeys) -> Option<RecordCipher> {
        Some(RecordCipher {
            kind: Kind::Tls13(aead(p, &keys.key)?),
            keys,
        })
    }

    /// TLS 1.2 records protected with `p` under `keys`; `encrypt_then_mac`
    /// when the server agreed to RFC 7366 (CBC suites only).
    pub fn tls12(
        p: Protection,
        keys: DirectionKeys,
        encrypt_then_mac: bool,
    ) -> Option<RecordCipher> {
        let kind = match p {
            Protection::Aes128Gcm | Protection::Aes256Gcm => Kind::Tls12Gcm(aead(p, &keys.key)?),
            Protection::ChaCha20Poly1305 => Kind::Tls12ChaCha(aead(p, &keys.key)?),
            Protection::AesCbc { key_len, mac } => Kind::Tls12Cbc {
                key_len,
                mac,
                encrypt_then_mac,
            },
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
    /// these keys.
    pub fn open(&self, header: &[u8; 5], body: &[u8], seq: u64) -> Result<Plain, Failure> {
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
            Kind::Tls12Gcm(a) => {
                if body.len() < 8 + 16 {
                    return Err(Failure::Malformed);
                }
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(self.keys.iv.get(..4).ok_or(Failure::Malformed)?);
                nonce[4..].copy_from_slice(&body[..8]);
                let mut buf = body[8..].to_vec();
                let aad = tls12_aad(seq, header, buf.len() - 16);
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
            Kind::Tls12Cbc {
                key_len,
                mac,
                encrypt_then_mac,
            } => self.open_cbc(*key_len, *mac, *encrypt_then_mac, header, body, seq),
        }
    }

    fn open_cbc(
        &self,
        key_len: usize,
        mac: Hash,
        encrypt_then_mac: bool,
        header: &[u8; 5],
        body: &[u8],
        seq: u64,
    ) -> Result<Plain, Failure> {
        let mac_len = mac.size();
        let mut body = body;
        if encrypt_then_mac {
            if body.len() < mac_len {
                return Err(Failure::Malformed);
            }
            let (cipher, tag) = body.split_at(body.len() - mac_len);
            let expected = self.mac(mac, seq, header, cipher)?;
            if expected != tag {
                return Err(Failure::Authentication);
            }
            body = cipher;
        }
        if body.len() < 32 || body.len() % 16 != 0 {
            return Err(Failure::Malformed);
        }
        let (iv, cipher) = body.split_at(16);
        let mut buf = cipher.to_vec();
        let key = &self.keys.key;
        let decrypted = match key_len {
            16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
                .map_err(|_| Failure::Malformed)?
                .decrypt_padded_mut::<NoPadding>(&mut buf)
                .map(<[u8]>::len),
            _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
                .map_err(|_| Failure::Malformed)?
                .decrypt_padded_mut::<NoPadding>(&mut buf)
                .map(<[u8]>::len),
        };
        decrypted.map_err(|_| Failure::Malformed)?;
        // TLS padding: `pad` bytes of value `pad`, then `pad` itself.
        let pad = usize::from(*buf.last().ok_or(Failure::Malformed)?);
        let min = if encrypt_then_mac { 0 } else { mac_len };
        if pad + 1 + min > buf.len()
            || buf[buf.len() - 1 - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(Failure::Authentication);
        }
        buf.truncate(buf.len() - 1 - pad);
        if !encrypt_then_mac {
            let tag = buf.split_off(buf.len() - mac_len);
            let mut h = *header;
            h[3..5].copy_from_slice(
                &u16::try_from(buf.len())
                    .map_err(|_| Failure::Malformed)?
                    .to_be_bytes(),
            );
            if self.mac(mac, seq, &h, &buf)? != tag {
                return Err(Failure::Authentication);
            }
        }
        Ok(Plain {
            content_type: header[0],
            data: buf,
        })
    }

    /// HMAC(seq || type || version || length || data); `header`'s length
    /// is used when it equals `data`'s, else `data`'s length.
    fn mac(&self, hash: Hash, seq: u64, header: &[u8; 5], data: &[u8]) -> Result<Vec<u8>, Failure> {
        let len = u16::try_from(data.len()).map_err(|_| Failure::Malformed)?;
        let mut input = Vec::with_capacity(13);
        input.extend_from_slice(&seq.to_be_bytes());
        input.extend_from_slice(&header[..3]);
        input.extend_from_slice(&len.to_be_bytes());
        let key = &self.keys.mac_key;
        macro_rules! run {
            ($h:ty) => {{
                let mut m =
                    <Hmac<$h> as Mac>::new_from_slice(key).map_err(|_| Failure::Malformed)?;
                m.update(&input);
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }};
        }
        Ok(match hash {
            Hash::Sha1 => run!(sha1::Sha1),
            Hash::Sha256 => run!(sha2::Sha256),
            Hash::Sha384 => run!(sha2::Sha384),
        })
    }
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
        let c = RecordCipher::tls13(Protection::Aes128Gcm, keys.clone()).unwrap();
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
