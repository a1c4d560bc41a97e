//! `--tls-psk HEX`: pre-shared keys, for the master secret of plain PSK
//! connections (`TLS_PSK_WITH_...`).
//!
//! Owns: parsing a PSK given in hex, and its premaster secret (RFC 4279 2:
//! a 16-bit length N, N zero bytes, the 16-bit length again, the PSK).
//!
//! Must not: guess a key, or panic on any input.

/// A pre-shared key.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(pub Vec<u8>);

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Psk({} bytes)", self.0.len())
    }
}

impl std::str::FromStr for Psk {
    type Err = String;

    /// Hex digits (upper or lower case, an optional `0x`), 1 to 65535
    /// bytes, as `openssl s_server -psk` takes them.
    fn from_str(s: &str) -> Result<Psk, String> {
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(digits).map_err(|e| format!("not a key in hex: {e}"))?;
        if bytes.is_empty() || bytes.len() > usize::from(u16::MAX) {
            return Err("a key of 1 to 65535 bytes is needed".into());
        }
        Ok(Psk(bytes))
    }
}

impl Psk {
    /// The premaster secret of a plain PSK key exchange.
    pub fn premaster(&self) -> Vec<u8> {
        let n = u16::try_from(self.0.len()).unwrap_or(u16::MAX);
        let key = &self.0[..usize::from(n).min(self.0.len())];
        let mut out = Vec::with_capacity(4 + 2 * key.len());
        out.extend_from_slice(&n.to_be_bytes());
        out.resize(2 + key.len(), 0);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(key);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_builds_the_rfc4279_premaster() {
        let p: Psk = "0x0102AB".parse().unwrap();
        assert_eq!(p.0, vec![1, 2, 0xab]);
        assert_eq!(p.premaster(), vec![0, 3, 0, 0, 0, 0, 3, 1, 2, 0xab]);
        assert!("".parse::<Psk>().is_err());
        assert!("abc".parse::<Psk>().is_err());
        assert!("zz".parse::<Psk>().is_err());
        assert_eq!(format!("{p:?}"), "Psk(3 bytes)");
    }
}
