//! Decrypting a connection: its hellos, its secrets from the key log, and
//! both directions' plaintext files.
//!
//! Owns: telling a TLS client flow from a server flow ([`role`]), reading
//! the hellos in the clear ([`hellos`]: the ClientHello's random, SNI and
//! ALPN; the ServerHello's version, suite and extensions, a
//! HelloRetryRequest passed over), choosing each direction's keys, and the
//! facts about the connection ([`Facts`]) that the HTTP index and the
//! summary report.
//!
//! Must not: write anything but the two plaintext files named by the
//! caller.

use super::direction::{self, Outcome, Plan};
use super::hello::{self, ClientHello, Messages, ServerHello};
use super::keylog::{KeyLog, Origin};
use super::keys;
use super::premaster;
use super::record::{self, Reader};
use super::suite;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Which side of a TLS connection a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It begins with a ClientHello.
    Client,
    /// It begins with a ServerHello (or HelloRetryRequest).
    Server,
}

/// The role of the flow at `path`: from its first record's first
/// handshake message; `None` if it does not begin with a TLS handshake.
pub fn role(path: &Path) -> io::Result<Option<Role>> {
    let mut head = [0u8; 6];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    if n < 6 || !record::is_header(&head) || head[0] != record::HANDSHAKE {
        return Ok(None);
    }
    Ok(match head[5] {
        hello::CLIENT_HELLO => Some(Role::Client),
        hello::SERVER_HELLO => Some(Role::Server),
        _ => None,
    })
}

/// Handshake bytes read in the clear looking for a hello before giving up.
const HELLO_SEARCH: usize = 256 * 1024;

/// The first handshake message of type `want` in the clear at the start of
/// the flow at `path` (for a ServerHello, the first that is not a
/// HelloRetryRequest), with whether a HelloRetryRequest came before it.
fn find_hello(path: &Path, want: u8) -> io::Result<Option<(Vec<u8>, bool)>> {
    let mut reader = Reader::new(BufReader::new(File::open(path)?));
    let mut messages = Messages::default();
    let (mut seen, mut retry) = (0usize, false);
    while let Some(r) = reader.next_record()? {
        if r.content_type() == record::APPLICATION_DATA || seen > HELLO_SEARCH {
            break;
        }
        if r.content_type() != record::HANDSHAKE {
            continue;
        }
        seen += r.body.len();
        for (t, body) in messages.push(&r.body) {
            if t != want {
                continue;
            }
            if t == hello::SERVER_HELLO && hello::server_hello(&body).is_some_and(|h| h.retry) {
                retry = true;
                continue;
            }
            return Ok(Some((body, retry)));
        }
    }
    Ok(None)
}

/// One direction's TLS facts, for the index.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct DirectionFacts {
    /// The raw (encrypted) flow file.
    pub file: String,
    /// The plaintext file, when one was written.
    pub decrypted_file: Option<String>,
    /// Records decrypted.
    pub records: u64,
    /// Application data bytes written.
    pub bytes: u64,
    /// TLS 1.3 key updates followed.
    pub key_updates: u64,
    /// TLS 1.3 early data bytes (part of `bytes`).
    pub early_data_bytes: u64,
    /// Records passed over for want of their keys.
    pub skipped_records: u64,
    /// Why decryption stopped before the end, or why there was none.
    pub stopped: Option<String>,
}

/// A connection's TLS facts, for the index.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Facts {
    /// `TLS 1.2` or `TLS 1.3` (`null` without a ServerHello).
    pub version: Option<String>,
    /// The IANA name of the cipher suite, or its number in hex when
    /// flowsplit does not decrypt it.
    pub cipher_suite: Option<String>,
    /// The server name the client asked for.
    pub sni: Option<String>,
    /// The protocol ALPN chose (`null` when none was).
    pub alpn: Option<String>,
    /// True when the key log had this connection's secrets and at least
    /// one direction was decrypted.
    pub decrypted: bool,
    /// Why the connection was not decrypted.
    pub reason: Option<String>,
    /// A HelloRetryRequest came before the ServerHello.
    pub hello_retry: bool,
    /// TLS 1.2: the extended master secret was agreed.
    pub extended_master_secret: bool,
    /// Where the secrets came from: `keylog` (a `--tls-keylog` file),
    /// `capture` (a pcapng Decryption Secrets Block) or `session_cache`
    /// (the master secret of an earlier connection whose session this one
    /// resumed); `null` when there were none.
    pub secret_source: Option<&'static str>,
    /// TLS 1.2, secrets from the session cache: what the connection
    /// resumed its session by (`session ID` or `session ticket`).
    pub resumed_by: Option<&'static str>,
    /// The client-to-server direction.
    pub client: DirectionFacts,
    /// The server-to-client direction.
    pub server: Option<DirectionFacts>,
}

/// One direction handed in: its flow file, gaps and the plaintext file to
/// write.
pub struct Side<'a> {
    /// The raw flow file.
    pub path: &'a Path,
    /// Its name, for the facts.
    pub name: &'a str,
    /// Its zero-filled holes.
    pub gaps: &'a [(u64, u64)],
    /// Where its plaintext goes.
    pub output: &'a Path,
    /// The plaintext file's name, for the facts.
    pub output_name: &'a str,
}

fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLS 1.3".into(),
        0x0303 => "TLS 1.2".into(),
        0x0302 => "TLS 1.1".into(),
        0x0301 => "TLS 1.0".into(),
        0x0300 => "SSL 3.0".into(),
        v => format!("0x{v:04x}"),
    }
}

fn fill(d: &mut DirectionFacts, side: &Side<'_>, o: Outcome) {
    d.decrypted_file = Some(side.output_name.to_string());
    d.records = o.records;
    d.bytes = o.bytes;
    d.key_updates = o.key_updates;
    d.early_data_bytes = o.early_data_bytes;
    d.skipped_records = o.skipped;
    d.stopped = o.stopped;
}

/// Renegotiations followed at most.
const MAX_RENEGOTIATIONS: usize = 16;

/// Follow the renegotiations of an SSL 3.0 to TLS 1.2 connection: while
/// the handshake messages under the last key sets hold a new ClientHello
/// and ServerHello, and its master secret is in the key log or made with
/// `keys`, push the new key sets to `client` and `server`.
fn renegotiations(
    c: &Side<'_>,
    s: &Side<'_>,
    log: &KeyLog,
    keys: &premaster::Keys,
    client: &mut Vec<direction::Epoch>,
    server: &mut Vec<direction::Epoch>,
) -> io::Result<()> {
    // One key set per ChangeCipherSpec of the client's: no more to find
    // when it has no second one (the common case, read without decrypting).
    let wanted = direction::change_cipher_specs(c.path, MAX_RENEGOTIATIONS + 1)?;
    while client.len() < wanted {
        let n = client.len();
        let cm = direction::tls12_handshakes(c.path, c.gaps, client)?;
        let sm = direction::tls12_handshakes(s.path, s.gaps, server)?;
        let (Some(cm), Some(sm)) = (cm.get(n), sm.get(n)) else {
            return Ok(());
        };
        let find =
            |m: &[(u8, Vec<u8>)], t: u8| m.iter().find(|(ty, _)| *ty == t).map(|(_, b)| b.clone());
        let Some(ch) = find(cm, hello::CLIENT_HELLO).and_then(|b| hello::client_hello(&b)) else {
            return Ok(());
        };
        let Some(sh) = find(sm, hello::SERVER_HELLO).and_then(|b| hello::server_hello(&b)) else {
            return Ok(());
        };
        let Some(suite) = suite::by_id(sh.suite).filter(|x| x.allows(sh.version) && !x.tls13)
        else {
            return Ok(());
        };
        let master = match log.get(&ch.random).and_then(|x| x.master.clone()) {
            Some(m) => Some(m),
            None => {
                let conn = premaster::Connection {
                    client: c.path,
                    server: s.path,
                    server_addr: server_addr(c.name),
                    client_random: &ch.random,
                    server_random: &sh.random,
                    version: sh.version,
                    extended_master_secret: sh.extended_master_secret,
                    encrypt_then_mac: sh.encrypt_then_mac,
                };
                match premaster::from_messages(&conn, suite, keys, cm, sm, None) {
                    premaster::Made::Master { secret, .. } => Some(secret),
                    _ => None,
                }
            }
        };
        let Some(master) = master else {
            return Ok(());
        };
        let Some((ck, sk)) = keys::tls12_keys(suite, sh.version, &master, &ch.random, &sh.random)
        else {
            return Ok(());
        };
        let epoch = |keys| direction::Epoch {
            protection: suite.protection,
            keys,
            encrypt_then_mac: sh.encrypt_then_mac,
            version: sh.version,
        };
        client.push(epoch(ck));
        server.push(epoch(sk));
    }
    Ok(())
}

/// The server's address, from the client flow's name.
fn server_addr(client_name: &str) -> Option<std::net::SocketAddr> {
    crate::http::name::FlowName::parse(client_name)
        .and_then(|n| Some(std::net::SocketAddr::new(n.dst.ip()?, n.dst.port)))
}

/// A TLS 1.2 master secret for a connection the key log has no line for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Found (the session cache's, of an earlier connection), with what
    /// named the session (`session ID` or `session ticket`).
    Found(Vec<u8>, &'static str),
    /// Not known yet: decrypt the connection later.
    Later,
    /// Not known, and why.
    Missing(String),
}

/// The session cache as [`decrypt_with`] sees it: where the master secret
/// of a TLS 1.2 connection without a key log line comes from, and where
/// the master secret of a decrypted one goes.
pub trait Sessions {
    /// The master secret of the connection with hellos `ch`, `sh` (its
    /// server flow at `server`), whose client random the key log lacks.
    fn master(&self, ch: &ClientHello, sh: &ServerHello, server: &Path) -> io::Result<Lookup>;
    /// The connection with hellos `ch`, `sh` has the master secret
    /// `master`: remember it for the sessions it handed out.
    fn learned(
        &self,
        ch: &ClientHello,
        sh: &ServerHello,
        server: &Path,
        master: &[u8],
    ) -> io::Result<()>;
}

/// No session cache: a connection without a key log line is not decrypted.
pub struct NoSessions;

impl Sessions for NoSessions {
    fn master(&self, _: &ClientHello, _: &ServerHello, _: &Path) -> io::Result<Lookup> {
        Ok(Lookup::Missing(String::new()))
    }
    fn learned(&self, _: &ClientHello, _: &ServerHello, _: &Path, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// Decrypt the connection whose client direction is `client` and server
/// direction `server`, with the secrets of `log`, or (up to TLS 1.2, when
/// the log has no master secret for it) one made with `keys`. The facts
/// say what was done and, when nothing was, why (`reason`). I/O errors
/// writing a plaintext file are returned.
pub fn decrypt(
    client: &Side<'_>,
    server: Option<&Side<'_>>,
    log: &KeyLog,
    keys: &premaster::Keys,
) -> io::Result<Facts> {
    Ok(decrypt_with(client, server, log, keys, &NoSessions)?.unwrap_or_default())
}

/// [`decrypt`], with `sessions` for TLS 1.2 connections that resume a
/// session and have no key log line of their own. `None` when `sessions`
/// says to decrypt the connection later ([`Lookup::Later`]): nothing was
/// written.
pub fn decrypt_with(
    client: &Side<'_>,
    server: Option<&Side<'_>>,
    log: &KeyLog,
    keys: &premaster::Keys,
    sessions: &dyn Sessions,
) -> io::Result<Option<Facts>> {
    let mut facts = Facts {
        client: DirectionFacts {
            file: client.name.to_string(),
            ..Default::default()
        },
        server: server.map(|s| DirectionFacts {
            file: s.name.to_string(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let ch: Option<ClientHello> =
        find_hello(client.path, hello::CLIENT_HELLO)?.and_then(|(b, _)| hello::client_hello(&b));
    let Some(ch) = ch else {
        facts.reason = Some("no ClientHello".into());
        return Ok(Some(facts));
    };
    facts.sni.clone_from(&ch.sni);
    let Some(server) = server else {
        facts.reason = Some("no server direction".into());
        return Ok(Some(facts));
    };
    let sh: Option<(ServerHello, bool)> = find_hello(server.path, hello::SERVER_HELLO)?
        .and_then(|(b, retry)| Some((hello::server_hello(&b)?, retry)));
    let Some((sh, retry)) = sh else {
        facts.reason = Some("no ServerHello".into());
        return Ok(Some(facts));
    };
    facts.hello_retry = retry;
    facts.version = Some(version_name(sh.version));
    facts.alpn.clone_from(&sh.alpn);
    facts.extended_master_secret = sh.extended_master_secret;
    let Some(suite) = suite::by_id(sh.suite) else {
        facts.cipher_suite = Some(format!("0x{:04X}", sh.suite));
        facts.reason = Some(format!(
            "cipher suite 0x{:04X} is not one flowsplit decrypts",
            sh.suite
        ));
        return Ok(Some(facts));
    };
    facts.cipher_suite = Some(suite.name.to_string());
    let tls13 = sh.version == 0x0304;
    if !suite.allows(sh.version) {
        facts.reason = Some(format!(
            "{} with {} is not decrypted",
            version_name(sh.version),
            suite.name
        ));
        return Ok(Some(facts));
    }
    let logged = log.get(&ch.random);
    let tls12_master = logged.and_then(|s| s.master.clone());
    // Up to TLS 1.2 without a master secret in the key log: one made with
    // --tls-rsa-key or --tls-psk, else the session cache's.
    let mut refused = None;
    if !tls13 && tls12_master.is_none() {
        let c = premaster::Connection {
            client: client.path,
            server: server.path,
            server_addr: server_addr(client.name),
            client_random: &ch.random,
            server_random: &sh.random,
            version: sh.version,
            extended_master_secret: sh.extended_master_secret,
            encrypt_then_mac: sh.encrypt_then_mac,
        };
        match premaster::master_secret(&c, suite, keys)? {
            premaster::Made::Master { secret, source } => {
                facts.secret_source = Some(if source.starts_with("--tls-psk") {
                    "tls_psk"
                } else {
                    "tls_rsa_key"
                });
                return finish_tls12(
                    facts, &ch, &sh, suite, &secret, client, server, log, keys, sessions,
                )
                .map(Some);
            }
            premaster::Made::Refused(reason) => refused = Some(reason),
            premaster::Made::NotApplicable => {}
        }
        match sessions.master(&ch, &sh, server.path)? {
            Lookup::Later => return Ok(None),
            Lookup::Found(master, by) => {
                facts.secret_source = Some("session_cache");
                facts.resumed_by = Some(by);
                return finish_tls12(
                    facts, &ch, &sh, suite, &master, client, server, log, keys, sessions,
                )
                .map(Some);
            }
            // A key given for this connection that did not serve says why,
            // unless the connection has no key exchange of its own.
            Lookup::Missing(_) if logged.is_none() && ch_has_own_exchange(&refused) => {
                facts.reason = refused;
                return Ok(Some(facts));
            }
            Lookup::Missing(why) if logged.is_none() => {
                let mut reason =
                    String::from("no secrets in the key log for this ClientHello random");
                if !why.is_empty() {
                    reason.push_str("; ");
                    reason.push_str(&why);
                }
                for u in &log.unusable {
                    reason.push_str(&format!(
                        "; {} is not a key log (no usable line)",
                        u.path.display()
                    ));
                }
                match refused {
                    Some(r) => {
                        reason.push_str("; ");
                        reason.push_str(&r);
                    }
                    None if !keys.is_empty() => reason.push_str(
                        "; --tls-rsa-key and --tls-psk serve only RSA and plain PSK key exchange up to TLS 1.2",
                    ),
                    None => {}
                }
                facts.reason = Some(reason);
                return Ok(Some(facts));
            }
            Lookup::Missing(_) => {}
        }
    }
    let Some(secrets) = logged else {
        let mut reason = String::from("no secrets in the key log for this ClientHello random");
        for u in &log.unusable {
            reason.push_str(&format!(
                "; {} is not a key log (no usable line)",
                u.path.display()
            ));
        }
        if !keys.is_empty() {
            reason.push_str(
                "; --tls-rsa-key and --tls-psk serve only RSA and plain PSK key exchange up to TLS 1.2",
            );
        }
        facts.reason = Some(reason);
        return Ok(Some(facts));
    };
    if !tls13 {
        let Some(master) = &secrets.master else {
            facts.reason =
                Some("the key log has no CLIENT_RANDOM master secret for this connection".into());
            return Ok(Some(facts));
        };
        facts.secret_source = Some(origin_name(secrets.origin));
        return finish_tls12(
            facts, &ch, &sh, suite, master, client, server, log, keys, sessions,
        )
        .map(Some);
    }
    if secrets.client_traffic.is_none() && secrets.server_traffic.is_none() {
        facts.reason =
            Some("the key log has no TLS 1.3 traffic secrets for this connection".into());
        return Ok(Some(facts));
    }
    facts.secret_source = Some(origin_name(secrets.origin));
    let client_plan = Plan::Tls13 {
        early: secrets.client_early.clone(),
        early_offered: ch.early_data,
        handshake: secrets.client_handshake.clone(),
        traffic: secrets.client_traffic.clone(),
    };
    let server_plan = Plan::Tls13 {
        early: None,
        early_offered: false,
        handshake: secrets.server_handshake.clone(),
        traffic: secrets.server_traffic.clone(),
    };
    run(
        facts,
        suite,
        client,
        server,
        &client_plan,
        &server_plan,
        true,
    )
    .map(Some)
}

/// Whether a `--tls-rsa-key`/`--tls-psk` refusal concerns the connection's
/// own key exchange (not its absence, as in a resumed session).
fn ch_has_own_exchange(refused: &Option<String>) -> bool {
    refused
        .as_deref()
        .is_some_and(|r| !r.starts_with("no ClientKeyExchange"))
}

/// The facts' name for where secrets came from.
fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::KeyLog => "keylog",
        Origin::Capture => "capture",
    }
}

/// Decrypt both directions of a TLS 1.2 connection with its master secret
/// `master`, and tell `sessions` the secret once a record decrypted with it.
#[allow(clippy::too_many_arguments)]
fn finish_tls12(
    mut facts: Facts,
    ch: &ClientHello,
    sh: &ServerHello,
    suite: &'static suite::Suite,
    master: &[u8],
    client: &Side<'_>,
    server: &Side<'_>,
    log: &KeyLog,
    keys: &premaster::Keys,
    sessions: &dyn Sessions,
) -> io::Result<Facts> {
    let Some((ck, sk)) = keys::tls12_keys(suite, sh.version, master, &ch.random, &sh.random) else {
        facts.reason = Some("the key block could not be derived".into());
        return Ok(facts);
    };
    let epoch = |keys| direction::Epoch {
        protection: suite.protection,
        keys,
        encrypt_then_mac: sh.encrypt_then_mac,
        version: sh.version,
    };
    let (mut ce, mut se) = (vec![epoch(ck)], vec![epoch(sk)]);
    renegotiations(client, server, log, keys, &mut ce, &mut se)?;
    let client_plan = Plan::Tls12 { epochs: ce };
    let server_plan = Plan::Tls12 { epochs: se };
    let facts = run(
        facts,
        suite,
        client,
        server,
        &client_plan,
        &server_plan,
        false,
    )?;
    if facts.decrypted {
        sessions.learned(ch, sh, server.path, master)?;
    }
    Ok(facts)
}

/// Decrypt both directions with their plans and fill in the facts.
fn run(
    mut facts: Facts,
    suite: &'static suite::Suite,
    client: &Side<'_>,
    server: &Side<'_>,
    client_plan: &Plan,
    server_plan: &Plan,
    tls13: bool,
) -> io::Result<Facts> {
    let so = direction::decrypt(server.path, server.gaps, server.output, suite, server_plan)?;
    if tls13 && so.alpn.is_some() {
        facts.alpn.clone_from(&so.alpn);
    }
    let co = direction::decrypt(client.path, client.gaps, client.output, suite, client_plan)?;
    facts.decrypted = co.records > 0 || so.records > 0;
    if !facts.decrypted {
        facts.reason = Some("no record could be decrypted with the key log's secrets".into());
    }
    fill(&mut facts.client, client, co);
    if let Some(s) = facts.server.as_mut() {
        fill(s, server, so);
    }
    Ok(facts)
}
