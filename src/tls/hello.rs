//! The handshake messages flowsplit reads: ClientHello, ServerHello (and
//! HelloRetryRequest), EncryptedExtensions, and the types that move the
//! record keys on (Finished, EndOfEarlyData, KeyUpdate).
//!
//! Owns: splitting a handshake byte stream into messages
//! ([`Messages`], bounded by [`MAX_MESSAGE`]) and parsing the hellos'
//! fields: randoms, the cipher suite, SNI, ALPN, the selected version and
//! the extensions that change record protection.
//!
//! Must not: panic on any bytes (every length is checked).

/// Handshake message types.
pub const CLIENT_HELLO: u8 = 1;
/// ServerHello (and HelloRetryRequest).
pub const SERVER_HELLO: u8 = 2;
/// TLS 1.2 NewSessionTicket (RFC 5077), in the clear before the server's
/// ChangeCipherSpec.
pub const NEW_SESSION_TICKET: u8 = 4;
/// Certificate: only a full handshake has one.
pub const CERTIFICATE: u8 = 11;
/// ServerKeyExchange: only a full handshake has one.
pub const SERVER_KEY_EXCHANGE: u8 = 12;
/// CertificateRequest: only a full handshake has one.
pub const CERTIFICATE_REQUEST: u8 = 13;
/// ServerHelloDone: ends a full handshake's server flight.
pub const SERVER_HELLO_DONE: u8 = 14;
/// TLS 1.3 EndOfEarlyData.
pub const END_OF_EARLY_DATA: u8 = 5;
/// TLS 1.3 EncryptedExtensions.
pub const ENCRYPTED_EXTENSIONS: u8 = 8;
/// Finished.
pub const FINISHED: u8 = 20;
/// TLS 1.3 KeyUpdate.
pub const KEY_UPDATE: u8 = 24;

/// The largest handshake message assembled; larger ones are passed over.
pub const MAX_MESSAGE: usize = 1 << 20;

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446 4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// A bounds-checked reader over a message.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n.into())
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n.into())
    }
}

/// Extensions as `(type, data)`.
fn extensions(c: &mut Cursor<'_>) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let Some(all) = c.vec16() else {
        return out;
    };
    let mut c = Cursor(all);
    while let (Some(t), Some(d)) = (c.u16(), c.vec16()) {
        out.push((t, d.to_vec()));
    }
    out
}

/// What a ClientHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The client random: the key log's key.
    pub random: [u8; 32],
    /// The server name asked for.
    pub sni: Option<String>,
    /// The protocols offered by ALPN.
    pub alpn: Vec<String>,
    /// True when the client sent early data (the `early_data` extension).
    pub early_data: bool,
    /// The legacy session ID: a TLS 1.2 session the client offers to
    /// resume (empty when none).
    pub session_id: Vec<u8>,
    /// The `session_ticket` extension's ticket (RFC 5077), when the client
    /// sent one that is not empty.
    pub ticket: Option<Vec<u8>>,
}

/// Parse a ClientHello body (after the 4-byte handshake header).
pub fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut c = Cursor(body);
    c.take(2)?;
    let random: [u8; 32] = c.take(32)?.try_into().ok()?;
    let session_id = c.vec8()?.to_vec();
    c.vec16()?;
    c.vec8()?;
    let mut hello = ClientHello {
        random,
        sni: None,
        alpn: Vec::new(),
        early_data: false,
        session_id,
        ticket: None,
    };
    for (t, d) in extensions(&mut c) {
        match t {
            0 => hello.sni = sni(&d),
            16 => hello.alpn = alpn(&d),
            42 => hello.early_data = true,
            35 if !d.is_empty() => hello.ticket = Some(d),
            _ => {}
        }
    }
    Some(hello)
}

fn sni(d: &[u8]) -> Option<String> {
    let mut c = Cursor(d);
    let mut list = Cursor(c.vec16()?);
    while let Some(kind) = list.u8() {
        let name = list.vec16()?;
        if kind == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

fn alpn(d: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Cursor(d);
    let Some(list) = c.vec16() else {
        return out;
    };
    let mut list = Cursor(list);
    while let Some(p) = list.vec8() {
        out.push(String::from_utf8_lossy(p).into_owned());
    }
    out
}

/// What a ServerHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The server random.
    pub random: [u8; 32],
    /// The cipher suite chosen.
    pub suite: u16,
    /// The version chosen: `0x0304` from `supported_versions`, else the
    /// legacy field.
    pub version: u16,
    /// TLS 1.2: the protocol ALPN chose.
    pub alpn: Option<String>,
    /// TLS 1.2: RFC 7366 encrypt-then-MAC agreed.
    pub encrypt_then_mac: bool,
    /// TLS 1.2: RFC 7627 extended master secret agreed.
    pub extended_master_secret: bool,
    /// A HelloRetryRequest, not a ServerHello.
    pub retry: bool,
    /// The legacy session ID: TLS 1.2's session (the client's echoed when
    /// it is resumed; empty when the server keeps none).
    pub session_id: Vec<u8>,
}

/// Parse a ServerHello body (after the 4-byte handshake header).
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut c = Cursor(body);
    let legacy = c.u16()?;
    let random: [u8; 32] = c.take(32)?.try_into().ok()?;
    let session_id = c.vec8()?.to_vec();
    let suite = c.u16()?;
    c.u8()?;
    let mut hello = ServerHello {
        random,
        suite,
        version: legacy,
        alpn: None,
        encrypt_then_mac: false,
        extended_master_secret: false,
        retry: random == HRR_RANDOM,
        session_id,
    };
    for (t, d) in extensions(&mut c) {
        match t {
            16 => hello.alpn = alpn(&d).into_iter().next(),
            22 => hello.encrypt_then_mac = true,
            23 => hello.extended_master_secret = true,
            43 => {
                if let Some(v) = Cursor(&d).u16() {
                    hello.version = v;
                }
            }
            _ => {}
        }
    }
    Some(hello)
}

/// The ticket of a TLS 1.2 NewSessionTicket body (RFC 5077: a 4-byte
/// lifetime hint, then the ticket); `None` when malformed or empty.
pub fn new_session_ticket(body: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor(body);
    c.take(4)?;
    let ticket = c.vec16()?;
    (!ticket.is_empty() && c.0.is_empty()).then_some(ticket)
}

/// What EncryptedExtensions says: the ALPN protocol, early data accepted.
pub fn encrypted_extensions(body: &[u8]) -> (Option<String>, bool) {
    let (mut proto, mut early) = (None, false);
    for (t, d) in extensions(&mut Cursor(body)) {
        match t {
            16 => proto = alpn(&d).into_iter().next(),
            42 => early = true,
            _ => {}
        }
    }
    (proto, early)
}

/// Handshake messages out of a handshake byte stream fed in pieces.
#[derive(Debug, Default)]
pub struct Messages {
    buf: Vec<u8>,
    /// Bytes still to pass over of a message longer than [`MAX_MESSAGE`].
    skip: usize,
}

impl Messages {
    /// Add `data` and return the messages it completes, `(type, body)`.
    pub fn push(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut data = data;
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.buf.len() < 4 {
                break;
            }
            let len = usize::from(self.buf[1]) << 16
                | usize::from(self.buf[2]) << 8
                | usize::from(self.buf[3]);
            if len > MAX_MESSAGE {
                let have = self.buf.len() - 4;
                self.skip = len.saturating_sub(have);
                let drop = (4 + len).min(self.buf.len());
                self.buf.drain(..drop);
                continue;
            }
            if self.buf.len() < 4 + len {
                break;
            }
            let body = self.buf[4..4 + len].to_vec();
            out.push((self.buf[0], body));
            self.buf.drain(..4 + len);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_pushes_and_oversized_ones_pass() {
        let mut m = Messages::default();
        assert!(m.push(&[20, 0, 0, 3, 1]).is_empty());
        assert_eq!(m.push(&[2, 3, 24, 0]), vec![(20, vec![1, 2, 3])]);
        assert_eq!(m.push(&[0, 1, 0]), vec![(24, vec![0])]);
        let mut big = vec![11, 0x10, 0, 1];
        big.extend_from_slice(&[0; 100]);
        assert!(m.push(&big).is_empty());
    }

    #[test]
    fn session_ids_and_tickets_are_read() {
        // ClientHello: version, random, session ID (3 bytes), one suite,
        // one compression method, session_ticket extension (2 bytes).
        let mut ch = vec![3, 3];
        ch.extend([7; 32]);
        ch.extend([3, 0xa, 0xb, 0xc, 0, 2, 0x13, 0x01, 1, 0]);
        ch.extend([0, 6, 0, 35, 0, 2, 0xee, 0xff]);
        let h = client_hello(&ch).unwrap();
        assert_eq!(h.session_id, [0xa, 0xb, 0xc]);
        assert_eq!(h.ticket.as_deref(), Some(&[0xee, 0xff][..]));
        // An empty session_ticket extension asks for a ticket, offers none.
        let n = ch.len();
        ch.truncate(n - 6);
        ch.extend([0, 4, 0, 35, 0, 0]);
        let h = client_hello(&ch).unwrap();
        assert_eq!(h.ticket, None);
        let mut sh = vec![3, 3];
        sh.extend([9; 32]);
        sh.extend([2, 1, 2, 0xc0, 0x2f, 0]);
        assert_eq!(server_hello(&sh).unwrap().session_id, [1, 2]);
        assert_eq!(
            new_session_ticket(&[0, 0, 1, 0, 0, 2, 5, 6]),
            Some(&[5, 6][..])
        );
        assert_eq!(new_session_ticket(&[0, 0, 1, 0, 0, 0]), None);
        assert_eq!(new_session_ticket(&[0, 0, 1, 0, 0, 3, 5, 6]), None);
    }

    #[test]
    fn hostile_hellos_do_not_panic() {
        for n in 0..80 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let _ = client_hello(&bytes);
            let _ = server_hello(&bytes);
            let _ = encrypted_extensions(&bytes);
            let _ = new_session_ticket(&bytes);
        }
    }
}
