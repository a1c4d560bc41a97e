//! Master secrets flowsplit makes itself, when the key log has none: from
//! a server's RSA key (`--tls-rsa-key`) or a pre-shared key (`--tls-psk`).
//!
//! Owns: reading both directions' handshake messages in the clear (up to
//! each one's ChangeCipherSpec), the extended master secret's session hash
//! over them (RFC 7627 3: ClientHello through ClientKeyExchange), choosing
//! the key (an RSA key only for the server whose certificate it matches;
//! a PSK, when several are given, by the client's Finished opening under
//! it), and the reason when none fits.
//!
//! Must not: try an RSA key on a server whose certificate it does not
//! match, or panic on any bytes of a flow.

use super::cipher::RecordCipher;
use super::hello::{self, Messages};
use super::keys;
use super::psk::Psk;
use super::record::{self, Reader};
use super::rsa::{self, ServerKey};
use super::suite::{KeyExchange, Suite};
use std::fs::File;
use std::io::{self, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// The keys given to make master secrets with.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// `--tls-psk`.
    pub psks: Vec<Psk>,
    /// `--tls-rsa-key`, loaded.
    pub rsa: Vec<ServerKey>,
}

impl Keys {
    /// True when no key was given.
    pub fn is_empty(&self) -> bool {
        self.psks.is_empty() && self.rsa.is_empty()
    }
}

/// Handshake bytes read in the clear before giving up.
const SEARCH: usize = 256 * 1024;

/// Handshake message types read here.
const CERTIFICATE: u8 = 11;
const SERVER_HELLO_DONE: u8 = 14;
const CLIENT_KEY_EXCHANGE: u8 = 16;

/// The handshake messages of a flow before its ChangeCipherSpec, each
/// `(type, body)`, and the first record after it (the Finished).
type Clear = (Vec<(u8, Vec<u8>)>, Option<record::Record>);

fn clear_messages(path: &Path) -> io::Result<Clear> {
    let mut reader = Reader::new(BufReader::new(File::open(path)?));
    let mut messages = Messages::default();
    let (mut out, mut seen) = (Vec::new(), 0usize);
    while let Some(r) = reader.next_record()? {
        match r.content_type() {
            record::CHANGE_CIPHER_SPEC => return Ok((out, reader.next_record()?)),
            record::HANDSHAKE if seen <= SEARCH => {
                seen += r.body.len();
                out.extend(messages.push(&r.body));
            }
            record::APPLICATION_DATA => break,
            _ => {}
        }
    }
    Ok((out, None))
}

fn framed(t: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut v = vec![t, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    v.extend_from_slice(body);
    v
}

/// What [`master_secret`] needs of the connection.
pub struct Connection<'a> {
    /// The client's flow.
    pub client: &'a Path,
    /// The server's flow.
    pub server: &'a Path,
    /// The server's address, when the flow's name says it.
    pub server_addr: Option<SocketAddr>,
    /// The ClientHello's random.
    pub client_random: &'a [u8; 32],
    /// The ServerHello's random.
    pub server_random: &'a [u8; 32],
    /// The version the server chose.
    pub version: u16,
    /// The extended master secret was agreed.
    pub extended_master_secret: bool,
    /// Encrypt-then-MAC was agreed.
    pub encrypt_then_mac: bool,
}

/// What [`master_secret`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// No key given serves the suite's key exchange (RSA, plain PSK).
    NotApplicable,
    /// The master secret, and the key that made it (`--tls-psk #N`,
    /// `--tls-rsa-key FILE`).
    Master {
        /// The 48-byte master secret.
        secret: Vec<u8>,
        /// The key that made it.
        source: String,
    },
    /// A key should have served and did not: why.
    Refused(String),
}

/// The master secret of connection `c` under `suite`, made with one of
/// `keys`. I/O errors reading the flows are returned.
pub fn master_secret(c: &Connection<'_>, suite: &Suite, keys: &Keys) -> io::Result<Made> {
    let wanted = match suite.key_exchange {
        KeyExchange::Rsa => !keys.rsa.is_empty(),
        KeyExchange::Psk => !keys.psks.is_empty(),
        KeyExchange::Other => false,
    };
    if suite.tls13 || !wanted {
        return Ok(Made::NotApplicable);
    }
    let (client_msgs, finished) = clear_messages(c.client)?;
    let (server_msgs, _) = clear_messages(c.server)?;
    Ok(from_messages(
        c,
        suite,
        keys,
        &client_msgs,
        &server_msgs,
        finished.as_ref(),
    ))
}

/// [`master_secret`] from handshake messages already read: the client's
/// and the server's of one handshake (from its ClientHello and
/// ServerHello on; messages before them are passed over), and the
/// client's first record after its ChangeCipherSpec (its Finished, needed
/// only to choose among PSKs). A renegotiation's messages, decrypted, are
/// handed in so.
pub fn from_messages(
    c: &Connection<'_>,
    suite: &Suite,
    keys: &Keys,
    client_msgs: &[(u8, Vec<u8>)],
    server_msgs: &[(u8, Vec<u8>)],
    finished: Option<&record::Record>,
) -> Made {
    let wanted = match suite.key_exchange {
        KeyExchange::Rsa => !keys.rsa.is_empty(),
        KeyExchange::Psk => !keys.psks.is_empty(),
        KeyExchange::Other => false,
    };
    if suite.tls13 || !wanted {
        return Made::NotApplicable;
    }
    let from = |msgs: &[(u8, Vec<u8>)], first: u8| {
        let at = msgs.iter().position(|(t, _)| *t == first).unwrap_or(0);
        msgs[at..].to_vec()
    };
    let client_msgs = from(client_msgs, hello::CLIENT_HELLO);
    let server_msgs = from(server_msgs, hello::SERVER_HELLO);
    let Some(cke) = client_msgs
        .iter()
        .find(|(t, _)| *t == CLIENT_KEY_EXCHANGE)
        .map(|(_, b)| b.as_slice())
    else {
        return Made::Refused(
            "no ClientKeyExchange (a resumed session?): the key log must give its master secret"
                .into(),
        );
    };
    let session_hash = if c.extended_master_secret {
        // ClientHello, the server's flight to ServerHelloDone, then the
        // client's messages to ClientKeyExchange.
        let mut t = Vec::new();
        let mut client = client_msgs.iter();
        for (ty, b) in client.by_ref() {
            t.extend(framed(*ty, b));
            if *ty == hello::CLIENT_HELLO {
                break;
            }
        }
        for (ty, b) in &server_msgs {
            t.extend(framed(*ty, b));
            if *ty == SERVER_HELLO_DONE {
                break;
            }
        }
        for (ty, b) in client {
            t.extend(framed(*ty, b));
            if *ty == CLIENT_KEY_EXCHANGE {
                break;
            }
        }
        keys::session_hash(suite, c.version, &t)
    } else {
        None
    };
    let master = |pre: &[u8]| {
        keys::master_secret(
            suite,
            c.version,
            pre,
            c.client_random,
            c.server_random,
            session_hash.as_deref(),
        )
    };
    if suite.key_exchange == KeyExchange::Psk {
        let candidates: Vec<(Vec<u8>, usize)> = keys
            .psks
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((master(&p.premaster())?, i)))
            .collect();
        let opens = |m: &[u8]| finished_opens(c, suite, m, finished);
        return match candidates.iter().find(|(m, _)| opens(m)) {
            Some((m, i)) => Made::Master {
                secret: m.clone(),
                source: format!("--tls-psk #{}", i + 1),
            },
            None => Made::Refused(format!(
                "none of the {} --tls-psk keys opens the client's Finished",
                keys.psks.len()
            )),
        };
    }
    // RSA: the key whose modulus is the certificate's, among those for
    // this server (or for any).
    let Some(public) = server_msgs
        .iter()
        .find(|(t, _)| *t == CERTIFICATE)
        .and_then(|(_, b)| rsa::certificate_key(b))
    else {
        return Made::Refused("no RSA certificate from the server".into());
    };
    let for_server = |k: &&ServerKey| match (k.spec.server, c.server_addr) {
        (None, _) => true,
        (Some(want), Some(got)) => same_endpoint(want, got),
        (Some(_), None) => false,
    };
    let Some(key) = keys
        .rsa
        .iter()
        .filter(for_server)
        .find(|k| k.matches(&public))
    else {
        let given: Vec<String> = keys
            .rsa
            .iter()
            .filter(for_server)
            .map(|k| k.path().display().to_string())
            .collect();
        return Made::Refused(if given.is_empty() {
            "no --tls-rsa-key is for this server".into()
        } else {
            format!(
                "the server's certificate does not match --tls-rsa-key {}",
                given.join(", ")
            )
        });
    };
    let Some(pre) = rsa::encrypted_premaster(cke, c.version).and_then(|e| key.premaster(e)) else {
        return Made::Refused(format!(
            "the ClientKeyExchange does not decrypt with {}",
            key.path().display()
        ));
    };
    match master(&pre) {
        Some(secret) => Made::Master {
            secret,
            source: format!("--tls-rsa-key {}", key.path().display()),
        },
        None => Made::Refused("the master secret could not be derived".into()),
    }
}

/// IPv4 addresses compare with their IPv6-mapped forms.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && canon(a.ip()) == canon(b.ip())
}

/// Whether the client's first record after its ChangeCipherSpec (its
/// Finished) authenticates under keys made from `master`.
fn finished_opens(
    c: &Connection<'_>,
    suite: &Suite,
    master: &[u8],
    finished: Option<&record::Record>,
) -> bool {
    let Some(r) = finished else {
        return false;
    };
    let Some((ck, _)) =
        keys::tls12_keys(suite, c.version, master, c.client_random, c.server_random)
    else {
        return false;
    };
    RecordCipher::tls12(suite.protection, ck, c.encrypt_then_mac, c.version)
        .is_some_and(|mut rc| rc.open(&r.header, &r.body, 0).is_ok())
}
