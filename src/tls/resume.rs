//! TLS 1.2 session resumption, read from the handshake in the clear.
//!
//! Owns: what one connection's hellos and the server's first flight (up to
//! its ChangeCipherSpec) say about its session ([`Session`]): the session
//! ID and ticket the client offered, whether the server resumed (an
//! abbreviated handshake: no Certificate, ServerKeyExchange or
//! ServerHelloDone before the ChangeCipherSpec), and the session ID and
//! tickets the server handed out. All of it is in the clear in TLS 1.2, so
//! it is known without any secret and before anything is decrypted.
//!
//! Tickets are kept as their SHA-256 (a ticket may be tens of kilobytes;
//! its hash names it as well).
//!
//! Must not: decrypt anything, or panic on any bytes.

use super::hello::{self, ClientHello, Messages, ServerHello};
use super::record::{self, Reader};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

/// Handshake bytes of the server's first flight read before giving up.
const FLIGHT_SEARCH: usize = 256 * 1024;

/// What names a TLS 1.2 session across connections.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionKey {
    /// A session ID (1 to 32 bytes).
    Id(Vec<u8>),
    /// A session ticket, by its SHA-256.
    Ticket([u8; 32]),
}

impl SessionKey {
    /// The key of `ticket`.
    pub fn ticket(ticket: &[u8]) -> SessionKey {
        SessionKey::Ticket(Sha256::digest(ticket).into())
    }

    /// Bytes it holds, for the cache's accounting.
    pub fn len(&self) -> usize {
        match self {
            SessionKey::Id(id) => id.len(),
            SessionKey::Ticket(h) => h.len(),
        }
    }

    /// True for an empty session ID (never made by this module).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `ticket` or `session ID`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SessionKey::Id(_) => "session ID",
            SessionKey::Ticket(_) => "session ticket",
        }
    }
}

/// What a TLS 1.2 connection's handshake in the clear says about its
/// session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// The server resumed a session: ServerHello, then no Certificate,
    /// ServerKeyExchange, CertificateRequest or ServerHelloDone before the
    /// server's ChangeCipherSpec, with a session ID echoed or a ticket
    /// offered.
    pub resumed: bool,
    /// What the client offered to resume, ticket first (a server that
    /// takes a ticket may echo the session ID the client sent with it,
    /// RFC 5077 3.4).
    pub offered: Vec<SessionKey>,
    /// What names the connection's session for later connections: the
    /// server's session ID, the ticket it resumed by, and the tickets of
    /// its NewSessionTickets. A resumed session keeps its master secret,
    /// so a resumed connection whose secret is known vouches for it too
    /// (as tshark takes it).
    pub issued: Vec<SessionKey>,
}

/// The server's first flight: the handshake message types before its
/// ChangeCipherSpec, and the tickets of its NewSessionTickets.
#[derive(Debug, Default)]
struct Flight {
    full: bool,
    tickets: Vec<SessionKey>,
}

/// Read the server flow at `path` up to its first ChangeCipherSpec.
fn flight(path: &Path) -> io::Result<Flight> {
    let mut reader = Reader::new(BufReader::new(File::open(path)?));
    let mut messages = Messages::default();
    let mut out = Flight::default();
    let mut seen = 0usize;
    while let Some(r) = reader.next_record()? {
        let t = r.content_type();
        if t != record::HANDSHAKE || seen > FLIGHT_SEARCH {
            break;
        }
        seen += r.body.len();
        for (kind, body) in messages.push(&r.body) {
            match kind {
                hello::CERTIFICATE
                | hello::SERVER_KEY_EXCHANGE
                | hello::CERTIFICATE_REQUEST
                | hello::SERVER_HELLO_DONE => out.full = true,
                hello::NEW_SESSION_TICKET => {
                    out.tickets
                        .extend(hello::new_session_ticket(&body).map(SessionKey::ticket));
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// The session facts of a TLS 1.2 connection with hellos `ch` and `sh`,
/// whose server flow is at `server`.
pub fn session(ch: &ClientHello, sh: &ServerHello, server: &Path) -> io::Result<Session> {
    let flight = flight(server)?;
    let mut offered = Vec::new();
    if let Some(t) = &ch.ticket {
        offered.push(SessionKey::ticket(t));
    }
    if !ch.session_id.is_empty() {
        offered.push(SessionKey::Id(ch.session_id.clone()));
    }
    let echoed = !ch.session_id.is_empty() && ch.session_id == sh.session_id;
    let resumed = !flight.full && (echoed || ch.ticket.is_some());
    let mut issued = Vec::new();
    if resumed {
        // The session resumed goes on by the ticket or ID that named it.
        if let Some(t) = &ch.ticket {
            issued.push(SessionKey::ticket(t));
        }
    }
    if !sh.session_id.is_empty() && (!resumed || echoed || ch.ticket.is_some()) {
        issued.push(SessionKey::Id(sh.session_id.clone()));
    }
    issued.extend(flight.tickets);
    Ok(Session {
        resumed,
        offered,
        issued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(kind: u8, body: &[u8]) -> Vec<u8> {
        let n = body.len();
        let mut m = vec![kind, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend_from_slice(body);
        m
    }

    fn rec(t: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![t, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
        r.extend_from_slice(body);
        r
    }

    fn hellos(cid: &[u8], sid: &[u8], ticket: Option<&[u8]>) -> (ClientHello, ServerHello) {
        let ch = ClientHello {
            random: [1; 32],
            sni: None,
            alpn: Vec::new(),
            early_data: false,
            session_id: cid.to_vec(),
            ticket: ticket.map(<[u8]>::to_vec),
        };
        let sh = ServerHello {
            random: [2; 32],
            suite: 0xc02f,
            version: 0x0303,
            alpn: None,
            encrypt_then_mac: false,
            extended_master_secret: false,
            retry: false,
            session_id: sid.to_vec(),
        };
        (ch, sh)
    }

    fn server_flow(messages: &[Vec<u8>]) -> tempfile::NamedTempFile {
        let mut bytes = rec(record::HANDSHAKE, &messages.concat());
        bytes.extend(rec(20, &[1]));
        // Encrypted Finished: never read as a handshake message.
        bytes.extend(rec(record::HANDSHAKE, &hs(hello::CERTIFICATE, &[0; 8])));
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn a_full_handshake_issues_its_id_and_ticket() {
        let ticket = [0, 0, 0, 9, 0, 3, 7, 7, 7];
        let f = server_flow(&[
            hs(hello::SERVER_HELLO, &[]),
            hs(hello::CERTIFICATE, &[]),
            hs(hello::SERVER_HELLO_DONE, &[]),
            hs(hello::NEW_SESSION_TICKET, &ticket),
        ]);
        let (ch, sh) = hellos(&[], &[5; 32], None);
        let s = session(&ch, &sh, f.path()).unwrap();
        assert!(!s.resumed);
        assert!(s.offered.is_empty());
        assert_eq!(
            s.issued,
            [SessionKey::Id(vec![5; 32]), SessionKey::ticket(&[7, 7, 7])]
        );
    }

    #[test]
    fn an_abbreviated_handshake_resumes_by_id_or_ticket() {
        let f = server_flow(&[hs(hello::SERVER_HELLO, &[])]);
        let (ch, sh) = hellos(&[5; 32], &[5; 32], None);
        let s = session(&ch, &sh, f.path()).unwrap();
        assert!(s.resumed);
        assert_eq!(s.offered, [SessionKey::Id(vec![5; 32])]);
        assert_eq!(s.issued, s.offered);
        // A ticket, with a session ID the server echoes: the ticket is
        // tried first.
        let (ch, sh) = hellos(&[6; 32], &[6; 32], Some(&[8, 8]));
        let s = session(&ch, &sh, f.path()).unwrap();
        assert!(s.resumed);
        assert_eq!(
            s.offered,
            [SessionKey::ticket(&[8, 8]), SessionKey::Id(vec![6; 32])]
        );
        assert_eq!(s.issued, s.offered);
        // The server declined: a full handshake after the offer.
        let full = server_flow(&[hs(hello::SERVER_HELLO, &[]), hs(hello::CERTIFICATE, &[])]);
        let (ch, sh) = hellos(&[5; 32], &[4; 32], None);
        let s = session(&ch, &sh, full.path()).unwrap();
        assert!(!s.resumed);
        assert_eq!(s.issued, [SessionKey::Id(vec![4; 32])]);
        // Nothing offered: an abbreviated-looking flight is no resumption.
        let (ch, sh) = hellos(&[], &[], None);
        assert!(!session(&ch, &sh, f.path()).unwrap().resumed);
    }

    #[test]
    fn hostile_flights_do_not_panic() {
        for n in 0..64 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 53 % 256) as u8).collect();
            let f = server_flow(&[hs(hello::NEW_SESSION_TICKET, &bytes), bytes.clone()]);
            let (ch, sh) = hellos(&bytes[..n.min(32)], &[], Some(&bytes));
            let _ = session(&ch, &sh, f.path()).unwrap();
        }
    }
}
