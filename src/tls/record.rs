//! Reading TLS records out of one direction's reassembled byte stream.
//!
//! Owns: the record layer's framing (RFC 8446 5.1, RFC 5246 6.2): a 5-byte
//! header (content type 20..=24, version 3.x, length at most
//! [`MAX_RECORD`]) and its body, read in order from any reader, each with
//! its offset in the stream. Records split across TCP segments or several
//! in one segment are the same here: the flow file is one byte stream.
//!
//! Must not: hold more than one record, or trust a length beyond
//! [`MAX_RECORD`].

use std::io::{self, Read};

/// The largest record body accepted: 2^14 plus the 2048 bytes of
/// expansion TLS 1.2 allows (TLS 1.3 allows 256, less).
pub const MAX_RECORD: usize = (1 << 14) + 2048;

/// Content types.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// Alert.
pub const ALERT: u8 = 21;
/// Handshake.
pub const HANDSHAKE: u8 = 22;
/// Application data.
pub const APPLICATION_DATA: u8 = 23;

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset of the header in the stream.
    pub offset: u64,
    /// The header: type, version, length.
    pub header: [u8; 5],
    /// The body.
    pub body: Vec<u8>,
}

impl Record {
    /// The content type in the header.
    pub fn content_type(&self) -> u8 {
        self.header[0]
    }
}

/// What ended the record stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The stream ended at a record boundary.
    Clean,
    /// The stream ended inside a record (at this offset the record began).
    Truncated(u64),
    /// Bytes at this offset are not a record header.
    NotTls(u64),
}

/// Whether `h` is a plausible record header.
pub fn is_header(h: &[u8]) -> bool {
    h.len() >= 5
        && (CHANGE_CIPHER_SPEC..=24).contains(&h[0])
        && h[1] == 3
        && h[2] <= 4
        && usize::from(u16::from_be_bytes([h[3], h[4]])) <= MAX_RECORD
}

/// Reads records in order.
pub struct Reader<R> {
    inner: R,
    offset: u64,
    end: Option<End>,
}

impl<R: Read> Reader<R> {
    /// Records from the start of `inner`.
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            offset: 0,
            end: None,
        }
    }

    /// Why the records ended (once [`Reader::next_record`] returned `None`).
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The next record; `None` at the end of the records (see [`Reader::end`]).
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.end.is_some() {
            return Ok(None);
        }
        let mut header = [0u8; 5];
        let got = read_full(&mut self.inner, &mut header)?;
        if got == 0 {
            self.end = Some(End::Clean);
            return Ok(None);
        }
        if got < 5 {
            self.end = Some(End::Truncated(self.offset));
            return Ok(None);
        }
        if !is_header(&header) {
            self.end = Some(End::NotTls(self.offset));
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut body = vec![0u8; len];
        if read_full(&mut self.inner, &mut body)? < len {
            self.end = Some(End::Truncated(self.offset));
            return Ok(None);
        }
        let offset = self.offset;
        self.offset += 5 + len as u64;
        Ok(Some(Record {
            offset,
            header,
            body,
        }))
    }
}

/// Fill `buf` as far as the reader goes; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_records_then_says_why_it_stopped() {
        let mut s = vec![22, 3, 1, 0, 2, 1, 2, 23, 3, 3, 0, 1, 9];
        let mut r = Reader::new(&s[..]);
        let a = r.next_record().unwrap().unwrap();
        assert_eq!(
            (a.offset, a.content_type(), a.body.clone()),
            (0, 22, vec![1, 2])
        );
        let b = r.next_record().unwrap().unwrap();
        assert_eq!((b.offset, b.body.clone()), (7, vec![9]));
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.end(), Some(&End::Clean));
        s.extend_from_slice(&[23, 3, 3, 0, 5, 1]);
        let mut r = Reader::new(&s[..]);
        while r.next_record().unwrap().is_some() {}
        assert_eq!(r.end(), Some(&End::Truncated(13)));
        let mut r = Reader::new(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.end(), Some(&End::NotTls(0)));
        // A length past the limit is not a header.
        assert!(!is_header(&[23, 3, 3, 0xff, 0xff]));
    }
}
