//! The cipher suites flowsplit decrypts, by their IANA number.
//!
//! Owns: the table from a suite number to its IANA name ([`NAMES`]: every
//! entry of the IANA TLS Cipher Suites registry whose bulk cipher is one
//! flowsplit has), and what the name says by the registry's own naming
//! rule: the key exchange, the TLS versions it belongs to, its record
//! protection (AEAD, CBC with an HMAC, or RC4 with an HMAC) and the hash
//! of its key schedule (TLS 1.3 HKDF, TLS 1.2 PRF).
//!
//! Must not: hold any key.

use std::sync::OnceLock;

/// A hash used by a key schedule or a record MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// MD5 (record MACs of `_MD5` suites only).
    Md5,
    /// SHA-1 (record MACs of `_SHA` suites only).
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
            Hash::Md5 => 16,
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// A block cipher used in CBC mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// AES-128.
    Aes128,
    /// AES-256.
    Aes256,
    /// Triple DES (EDE, three keys).
    TripleDes,
}

impl Block {
    /// The block size in bytes (the CBC IV's size).
    pub fn size(self) -> usize {
        match self {
            Block::Aes128 | Block::Aes256 => 16,
            Block::TripleDes => 8,
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
    /// AES-128-CCM (16-byte tag).
    Aes128Ccm,
    /// AES-256-CCM (16-byte tag).
    Aes256Ccm,
    /// AES-128-CCM-8 (8-byte tag).
    Aes128Ccm8,
    /// AES-256-CCM-8 (8-byte tag).
    Aes256Ccm8,
    /// A block cipher in CBC mode, MAC'd with HMAC over `mac` (the SSL 3.0
    /// MAC under SSL 3.0).
    Cbc {
        /// The block cipher.
        cipher: Block,
        /// The record MAC's hash.
        mac: Hash,
    },
    /// RC4 with a 128-bit key, MAC'd with HMAC over `mac` (SSL 3.0's MAC
    /// under SSL 3.0).
    Rc4 {
        /// The record MAC's hash.
        mac: Hash,
    },
}

impl Protection {
    /// Key size in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Protection::Aes128Gcm | Protection::Aes128Ccm | Protection::Aes128Ccm8 => 16,
            Protection::Aes256Gcm
            | Protection::ChaCha20Poly1305
            | Protection::Aes256Ccm
            | Protection::Aes256Ccm8 => 32,
            Protection::Cbc { cipher, .. } => match cipher {
                Block::Aes128 => 16,
                Block::Aes256 => 32,
                Block::TripleDes => 24,
            },
            Protection::Rc4 { .. } => 16,
        }
    }

    /// The record MAC's hash; `None` for AEAD protection.
    pub fn mac(self) -> Option<Hash> {
        match self {
            Protection::Cbc { mac, .. } | Protection::Rc4 { mac } => Some(mac),
            _ => None,
        }
    }
}

/// How a suite agrees on its premaster secret (only what decides whether
/// flowsplit can make the master secret itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// RSA key transport (`TLS_RSA_WITH_...`): the server's private key
    /// opens the premaster secret.
    Rsa,
    /// Plain pre-shared key (`TLS_PSK_WITH_...`): the PSK alone makes the
    /// premaster secret (RFC 4279 2).
    Psk,
    /// Anything else ((EC)DHE, static (EC)DH, DHE/ECDHE/RSA-PSK, SRP,
    /// KRB5, ECCPWD), and TLS 1.3: the key log must give the secrets.
    Other,
}

/// The protocol versions a suite is used with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.3 only.
    Tls13,
    /// TLS 1.2 only (AEAD suites, and CBC suites with SHA-256/384 MACs).
    Tls12,
    /// SSL 3.0 up to TLS 1.2 (CBC and RC4 suites with MD5 or SHA-1 MACs).
    Ssl3ToTls12,
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
    /// The versions it is used with.
    pub versions: Versions,
    /// How the premaster secret is agreed.
    pub key_exchange: KeyExchange,
    /// Record protection.
    pub protection: Protection,
    /// The key schedule's hash (HKDF for TLS 1.3, the PRF for TLS 1.2;
    /// SSL 3.0 to TLS 1.1 have their own fixed MD5/SHA-1 constructions).
    pub hash: Hash,
}

impl Suite {
    /// Whether the suite may be used with protocol `version` (`0x0300`
    /// SSL 3.0 to `0x0304` TLS 1.3).
    pub fn allows(&self, version: u16) -> bool {
        match self.versions {
            Versions::Tls13 => version == 0x0304,
            Versions::Tls12 => version == 0x0303,
            Versions::Ssl3ToTls12 => (0x0300..=0x0303).contains(&version),
        }
    }
}

/// The IANA TLS Cipher Suites registry's entries whose bulk cipher is
/// AES-GCM, AES-CCM(-8), ChaCha20-Poly1305, AES-CBC, 3DES-EDE-CBC or
/// RC4-128, by number and name. Export, NULL, DES, IDEA, RC2, Camellia,
/// ARIA, SEED, SM4 and RC4-40/56 suites are not here.
pub const NAMES: &[(u16, &str)] = &[
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"),
    (0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0x001F, "TLS_KRB5_WITH_3DES_EDE_CBC_SHA"),
    (0x0020, "TLS_KRB5_WITH_RC4_128_SHA"),
    (0x0023, "TLS_KRB5_WITH_3DES_EDE_CBC_MD5"),
    (0x0024, "TLS_KRB5_WITH_RC4_128_MD5"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA"),
    (0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA"),
    (0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x003E, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256"),
    (0x003F, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256"),
    (0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
    (0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
    (0x008A, "TLS_PSK_WITH_RC4_128_SHA"),
    (0x008B, "TLS_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA"),
    (0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA"),
    (0x008E, "TLS_DHE_PSK_WITH_RC4_128_SHA"),
    (0x008F, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA"),
    (0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA"),
    (0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA"),
    (0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA"),
    (0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA"),
    (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256"),
    (0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
    (0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    (0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AC, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00AD, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00AF, "TLS_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B2, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00B3, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00B6, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00B7, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
    (0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA"),
    (0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
    (0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
    (0xC01A, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA"),
    (0xC01B, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xC01C, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA"),
    (0xC01E, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA"),
    (0xC01F, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA"),
    (0xC020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA"),
    (0xC021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA"),
    (0xC022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"),
    (0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
    (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"),
    (0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
    (0xC033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA"),
    (0xC034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA"),
    (0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA"),
    (0xC037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256"),
    (0xC038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384"),
    (0xC09C, "TLS_RSA_WITH_AES_128_CCM"),
    (0xC09D, "TLS_RSA_WITH_AES_256_CCM"),
    (0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8"),
    (0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8"),
    (0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8"),
    (0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8"),
    (0xC0A4, "TLS_PSK_WITH_AES_128_CCM"),
    (0xC0A5, "TLS_PSK_WITH_AES_256_CCM"),
    (0xC0A6, "TLS_DHE_PSK_WITH_AES_128_CCM"),
    (0xC0A7, "TLS_DHE_PSK_WITH_AES_256_CCM"),
    (0xC0A8, "TLS_PSK_WITH_AES_128_CCM_8"),
    (0xC0A9, "TLS_PSK_WITH_AES_256_CCM_8"),
    (0xC0AA, "TLS_PSK_DHE_WITH_AES_128_CCM_8"),
    (0xC0AB, "TLS_PSK_DHE_WITH_AES_256_CCM_8"),
    (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0xC0B0, "TLS_ECCPWD_WITH_AES_128_GCM_SHA256"),
    (0xC0B1, "TLS_ECCPWD_WITH_AES_256_GCM_SHA384"),
    (0xC0B2, "TLS_ECCPWD_WITH_AES_128_CCM_SHA256"),
    (0xC0B3, "TLS_ECCPWD_WITH_AES_256_CCM_SHA384"),
    (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xD001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256"),
    (0xD002, "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384"),
    (0xD003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256"),
    (0xD005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256"),
];

/// What an IANA suite name says, by the registry's naming rule:
/// `TLS_{KX}_WITH_{CIPHER}_{MAC}` (TLS 1.3: `TLS_{AEAD}_{HASH}`). `None`
/// when the cipher is not one flowsplit has.
pub fn parse(id: u16, name: &'static str) -> Option<Suite> {
    let rest = name.strip_prefix("TLS_")?;
    let (kx, cipher) = match rest.split_once("_WITH_") {
        Some((kx, c)) => (Some(kx), c),
        None => (None, rest),
    };
    let key_exchange = match kx {
        Some("RSA") => KeyExchange::Rsa,
        Some("PSK") => KeyExchange::Psk,
        _ => KeyExchange::Other,
    };
    let (cipher, tail) = [
        ("AES_128_GCM", Protection::Aes128Gcm),
        ("AES_256_GCM", Protection::Aes256Gcm),
        ("CHACHA20_POLY1305", Protection::ChaCha20Poly1305),
        ("AES_128_CCM_8", Protection::Aes128Ccm8),
        ("AES_256_CCM_8", Protection::Aes256Ccm8),
        ("AES_128_CCM", Protection::Aes128Ccm),
        ("AES_256_CCM", Protection::Aes256Ccm),
        ("AES_128_CBC", cbc(Block::Aes128)),
        ("AES_256_CBC", cbc(Block::Aes256)),
        ("3DES_EDE_CBC", cbc(Block::TripleDes)),
        ("RC4_128", Protection::Rc4 { mac: Hash::Sha1 }),
    ]
    .into_iter()
    .find_map(|(prefix, p)| {
        let tail = cipher.strip_prefix(prefix)?;
        (tail.is_empty() || tail.starts_with('_')).then_some((p, tail.trim_start_matches('_')))
    })?;
    let suffix = match tail {
        "" => None,
        "MD5" => Some(Hash::Md5),
        "SHA" => Some(Hash::Sha1),
        "SHA256" => Some(Hash::Sha256),
        "SHA384" => Some(Hash::Sha384),
        _ => return None,
    };
    let (protection, versions) = match cipher {
        Protection::Cbc { cipher, .. } => {
            let mac = suffix?;
            (Protection::Cbc { cipher, mac }, mac_versions(mac))
        }
        Protection::Rc4 { .. } => {
            let mac = suffix?;
            (Protection::Rc4 { mac }, mac_versions(mac))
        }
        aead => (aead, Versions::Tls12),
    };
    let tls13 = kx.is_none();
    let hash = match suffix {
        Some(Hash::Sha384) => Hash::Sha384,
        _ => Hash::Sha256,
    };
    Some(Suite {
        id,
        name,
        tls13,
        versions: if tls13 { Versions::Tls13 } else { versions },
        key_exchange,
        protection,
        hash,
    })
}

const fn cbc(cipher: Block) -> Protection {
    Protection::Cbc {
        cipher,
        mac: Hash::Sha1,
    }
}

fn mac_versions(mac: Hash) -> Versions {
    match mac {
        Hash::Md5 | Hash::Sha1 => Versions::Ssl3ToTls12,
        Hash::Sha256 | Hash::Sha384 => Versions::Tls12,
    }
}

/// Every suite flowsplit decrypts: [`NAMES`], parsed once.
pub fn suites() -> &'static [Suite] {
    static SUITES: OnceLock<Vec<Suite>> = OnceLock::new();
    SUITES.get_or_init(|| {
        NAMES
            .iter()
            .filter_map(|&(id, name)| parse(id, name))
            .collect()
    })
}

/// The suite numbered `id`, if flowsplit decrypts it.
pub fn by_id(id: u16) -> Option<&'static Suite> {
    suites().iter().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_numbers_are_unique() {
        assert_eq!(suites().len(), NAMES.len());
        for (i, a) in suites().iter().enumerate() {
            assert!(suites()[i + 1..].iter().all(|b| b.id != a.id), "{}", a.name);
            assert_eq!(
                a.name.ends_with("SHA384"),
                a.hash == Hash::Sha384,
                "{}",
                a.name
            );
            assert_eq!(a.tls13, !a.name.contains("_WITH_"), "{}", a.name);
        }
        assert!(
            NAMES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted by number"
        );
    }

    #[test]
    fn names_say_cipher_mac_versions_and_key_exchange() {
        let s = |id| *by_id(id).unwrap();
        assert_eq!(s(0x1303).name, "TLS_CHACHA20_POLY1305_SHA256");
        assert_eq!(s(0x1305).protection, Protection::Aes128Ccm8);
        assert!(s(0x1305).allows(0x0304) && !s(0x1305).allows(0x0303));
        let rc4 = s(0x0004);
        assert_eq!(rc4.protection, Protection::Rc4 { mac: Hash::Md5 });
        assert_eq!(rc4.key_exchange, KeyExchange::Rsa);
        assert!(rc4.allows(0x0300) && rc4.allows(0x0303) && !rc4.allows(0x0304));
        let des = s(0x0016);
        assert_eq!(
            des.protection,
            Protection::Cbc {
                cipher: Block::TripleDes,
                mac: Hash::Sha1
            }
        );
        assert_eq!(des.protection.key_len(), 24);
        assert_eq!(des.key_exchange, KeyExchange::Other);
        let sha384 = s(0xC024);
        assert_eq!(sha384.hash, Hash::Sha384);
        assert!(!sha384.allows(0x0302) && sha384.allows(0x0303));
        assert_eq!(s(0xCCAB).key_exchange, KeyExchange::Psk);
        assert_eq!(s(0xCCAB).protection, Protection::ChaCha20Poly1305);
        assert_eq!(s(0xC0A5).protection, Protection::Aes256Ccm);
        assert_eq!(s(0xD003).protection, Protection::Aes128Ccm8);
        assert_eq!(s(0xC0B3).hash, Hash::Sha384);
        assert!(by_id(0x0001).is_none(), "NULL-MD5 is not decrypted");
        assert!(parse(0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA").is_none());
        assert!(parse(0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5").is_none());
    }
}
