//! HTTP/1.x message heads, body framing and resynchronisation.
//!
//! Owns: turning the bytes at the front of a [`Stream`] into a parsed head
//! (with `httparse`), deciding how the body that follows is framed
//! (RFC 9112 section 6.3), reading a chunked body's framing, and skipping
//! garbage to the next line that can start a message.
//!
//! Must not: decode content codings, name or write files (see `body` and
//! `conn`).

use super::stream::Stream;
use std::io::{self, Read};

/// Largest message head accepted; a longer one is treated as garbage.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in one head.
const MAX_HEADERS: usize = 256;
/// Longest chunk-size or trailer line accepted.
pub(crate) const MAX_LINE: usize = 8 * 1024;

/// Which side of the conversation a flow carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Client to server: requests.
    Request,
    /// Server to client: responses.
    Response,
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartLine {
    /// `METHOD URI HTTP/1.x`
    Request {
        /// The method, e.g. `GET`.
        method: String,
        /// The request target as sent.
        uri: String,
    },
    /// `HTTP/1.x STATUS REASON`
    Response {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// A parsed message head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    /// Request or status line.
    pub start: StartLine,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header fields in order, names lower-cased.
    pub headers: Headers,
    /// Length of the head in bytes, through the empty line.
    pub len: usize,
    /// The head had a zero-filled hole that was cut out (see
    /// [`repair_hole`]): fields may be missing.
    pub holed: bool,
}

/// A head's header fields, in order: names lower-cased and values trimmed,
/// all in one buffer (two allocations a head, not two a field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers {
    text: Vec<u8>,
    /// Each field's name and value, as ranges of `text`.
    fields: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl Headers {
    /// Add a field: `name` is lower-cased, `value` kept as given.
    pub(crate) fn push(&mut self, name: &str, value: &[u8]) {
        let n = self.text.len();
        self.text
            .extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        let v = self.text.len();
        self.text.extend_from_slice(value);
        self.fields.push((n..v, v..self.text.len()));
    }

    /// Every field, in order: its lower-case name and its value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (&self.text[n.clone()], &self.text[v.clone()]))
    }

    /// The values of every field named `name` (lower case), in order.
    pub(crate) fn all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }
}

impl Head {
    /// The first value of header `name` (lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.all(name).next()
    }

    /// All values of header `name` joined with `, ` (a list header), or `None`.
    pub(crate) fn header_list(&self, name: &str) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for v in self.headers.all(name) {
            match &mut out {
                None => out = Some(v.to_vec()),
                Some(o) => {
                    o.extend_from_slice(b", ");
                    o.extend_from_slice(v);
                }
            }
        }
        out
    }

    /// The method, for a request.
    pub(crate) fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status, for a response.
    pub(crate) fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }
}

/// A list header (`Content-Encoding`, `Transfer-Encoding`) read as a
/// browser reads it: every line of it, in order, stacked as one comma list;
/// tokens trimmed and lower-cased, empty elements dropped. The notes say
/// what was unusual (several lines, case, empty elements).
pub(crate) fn coding_list(head: &Head, name: &str, display: &str) -> (Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    let lines: Vec<&[u8]> = head.headers.all(name).collect();
    if lines.len() > 1 {
        notes.push(format!(
            "{display} on {} header lines: stacked as one list, as browsers do",
            lines.len()
        ));
    }
    let mut list = Vec::new();
    let mut empty = false;
    for line in &lines {
        for raw in String::from_utf8_lossy(line).split(',') {
            let t = raw.trim();
            if t.is_empty() {
                empty = true;
                continue;
            }
            let lower = t.to_ascii_lowercase();
            if lower != t {
                notes.push(format!("{display} token {t:?} read as {lower:?}"));
            }
            list.push(lower);
        }
    }
    if empty {
        notes.push(format!("{display} has empty list elements: ignored"));
    }
    (list, notes)
}

/// What [`parse_head`] found.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A whole head.
    Complete(Head),
    /// A plausible start, but the head is not all there yet.
    Partial,
    /// Not a message head.
    Invalid,
}

/// Parse a request or response head at the start of `buf`.
pub(crate) fn parse_head(buf: &[u8], side: Side) -> Parsed {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    let collect = |headers: &[httparse::Header]| -> Headers {
        let mut all = Headers {
            text: Vec::with_capacity(headers.iter().map(|h| h.name.len() + h.value.len()).sum()),
            fields: Vec::with_capacity(headers.len()),
        };
        for h in headers {
            all.push(h.name, trim(h.value));
        }
        all
    };
    match side {
        Side::Request => {
            let mut req = httparse::Request::new(&mut storage);
            match config.parse_request(&mut req, buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let (Some(method), Some(uri), Some(version)) =
                        (req.method, req.path, req.version)
                    else {
                        return Parsed::Invalid;
                    };
                    Parsed::Complete(Head {
                        start: StartLine::Request {
                            method: method.to_string(),
                            uri: uri.to_string(),
                        },
                        version,
                        headers: collect(req.headers),
                        len,
                        holed: false,
                    })
                }
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(_) => Parsed::Invalid,
            }
        }
        Side::Response => {
            let mut resp = httparse::Response::new(&mut storage);
            match config.parse_response(&mut resp, buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let (Some(status), Some(version)) = (resp.code, resp.version) else {
                        return Parsed::Invalid;
                    };
                    Parsed::Complete(Head {
                        start: StartLine::Response {
                            status,
                            reason: resp.reason.unwrap_or("").to_string(),
                        },
                        version,
                        headers: collect(resp.headers),
                        len,
                        holed: false,
                    })
                }
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(_) => Parsed::Invalid,
            }
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// What reading a head from the stream gave.
#[derive(Debug)]
pub(crate) enum HeadRead {
    /// A head, already consumed from the stream.
    Head(Head),
    /// The bytes at the front are not a head (nothing consumed).
    Garbage,
    /// A head that begins well but does not end within [`MAX_HEAD`] bytes:
    /// its start line, with no fields (nothing consumed). The caller
    /// counts the message, so later requests and responses still pair up.
    Oversized(Head),
    /// The source ended (possibly inside a head).
    End,
}

/// Read one head from the front of `s`, consuming it when found.
pub(crate) fn read_head<R: Read>(s: &mut Stream<R>, side: Side) -> io::Result<HeadRead> {
    if s.is_empty()? {
        return Ok(HeadRead::End);
    }
    loop {
        match parse_head(s.data(), side) {
            Parsed::Complete(h) => {
                s.consume(h.len);
                return Ok(HeadRead::Head(h));
            }
            Parsed::Invalid => match repair_hole(s.data(), side) {
                Parsed::Complete(h) => {
                    s.consume(h.len);
                    return Ok(HeadRead::Head(h));
                }
                Parsed::Invalid => return Ok(HeadRead::Garbage),
                Parsed::Partial => {
                    if s.data().len() >= MAX_HEAD || s.fill()? == 0 {
                        return Ok(HeadRead::Garbage);
                    }
                }
            },
            Parsed::Partial => {
                if s.data().len() >= MAX_HEAD {
                    return Ok(start_line_only(s.data(), side)
                        .map_or(HeadRead::Garbage, HeadRead::Oversized));
                }
                if s.fill()? == 0 {
                    return Ok(HeadRead::End);
                }
            }
        }
    }
}

/// The start line of the head at the front of `buf` as a head of its own
/// (no fields, `len` 0), when that line is complete and parses.
fn start_line_only(buf: &[u8], side: Side) -> Option<Head> {
    let end = memchr(b'\n', &buf[..buf.len().min(MAX_HEAD)])?;
    let line = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let mut alone = line.to_vec();
    alone.extend_from_slice(b"\r\n\r\n");
    match parse_head(&alone, side) {
        Parsed::Complete(mut h) => {
            h.len = 0;
            Some(h)
        }
        Parsed::Partial | Parsed::Invalid => None,
    }
}

/// Shortest run of zero bytes taken for a zero-filled hole.
const MIN_HOLE: usize = 4;

/// Parse a head that a zero-filled hole (bytes lost in capture, filled with
/// zeros by the flow writer) runs through: the zeros and the rest of the
/// line they end in are cut out and the remainder parsed. The line before
/// the hole is kept (closed with CRLF) if it was cut short. The result is
/// marked [`Head::holed`] and its `len` counts the bytes cut out.
///
/// ```text
///  HTTP/1.0 302 MOVED\0\0\0…\0ie=abc; path=/\r\nLocation: …\r\n\r\n
///  |---- kept -------|---- cut out ---------|------ kept ---------|
/// ```
pub(crate) fn repair_hole(buf: &[u8], side: Side) -> Parsed {
    let limit = buf.len().min(MAX_HEAD);
    let buf = &buf[..limit];
    let Some(z0) = buf
        .windows(MIN_HOLE)
        .position(|w| w.iter().all(|&b| b == 0))
    else {
        return Parsed::Invalid;
    };
    let before = &buf[..z0];
    if z0 == 0 || contains(before, b"\r\n\r\n") || contains(before, b"\n\n") {
        return Parsed::Invalid;
    }
    let z1 = z0 + buf[z0..].iter().take_while(|&&b| b == 0).count();
    let Some(nl) = memchr(b'\n', &buf[z1..]) else {
        return Parsed::Partial;
    };
    let resume = z1 + nl + 1;
    let mut fixed = before.to_vec();
    if !fixed.ends_with(b"\n") {
        fixed.extend_from_slice(b"\r\n");
    }
    let prefix = fixed.len();
    fixed.extend_from_slice(&buf[resume..]);
    match parse_head(&fixed, side) {
        Parsed::Complete(mut h) if h.len >= prefix => {
            h.len = resume + (h.len - prefix);
            h.holed = true;
            Parsed::Complete(h)
        }
        Parsed::Complete(_) | Parsed::Invalid => Parsed::Invalid,
        Parsed::Partial => Parsed::Partial,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether `line` (the start of a line) could begin a message of `side`:
/// `HTTP/1.` for a response, `METHOD SP` (upper-case method) for a request.
/// `None` when more bytes are needed to decide.
fn could_start(line: &[u8], side: Side) -> Option<bool> {
    match side {
        Side::Response => {
            const P: &[u8] = b"HTTP/1.";
            let n = line.len().min(P.len());
            if line[..n] != P[..n] {
                Some(false)
            } else if n < P.len() {
                None
            } else {
                Some(true)
            }
        }
        Side::Request => {
            for (i, &b) in line.iter().enumerate().take(17) {
                if b == b' ' {
                    return Some(i >= 3);
                }
                if !(b.is_ascii_uppercase() || b == b'-' || b == b'_') {
                    return Some(false);
                }
            }
            if line.len() >= 17 {
                Some(false)
            } else {
                None
            }
        }
    }
}

/// Methods recognised in the middle of a line (after binary bytes, e.g. a
/// SOCKS handshake) when followed by ` /` or ` http`.
const STRICT_METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"TRACE",
    b"PROPFIND",
];

/// Whether `d` begins with something that starts a message of `side` even
/// outside a line start: `HTTP/1.x NNN` then a space or line end, or a
/// common method then ` /` or ` http`. `None` when more bytes are needed.
pub(crate) fn strict_start(d: &[u8], side: Side) -> Option<bool> {
    // Compare `d` with a pattern given as byte classes; None if `d` is a
    // proper prefix of a match.
    fn check(d: &[u8], pat: &[&dyn Fn(u8) -> bool]) -> Option<bool> {
        for (k, f) in pat.iter().enumerate() {
            match d.get(k) {
                None => return None,
                Some(&b) if !f(b) => return Some(false),
                Some(_) => {}
            }
        }
        Some(true)
    }
    match side {
        Side::Response => {
            let lit = |c: u8| move |b: u8| b == c;
            let (h, t, p, sl, one, dot) = (
                lit(b'H'),
                lit(b'T'),
                lit(b'P'),
                lit(b'/'),
                lit(b'1'),
                lit(b'.'),
            );
            let ver = |b: u8| b == b'0' || b == b'1';
            let sp = lit(b' ');
            let digit = |b: u8| b.is_ascii_digit();
            let end = |b: u8| b == b' ' || b == b'\r' || b == b'\n';
            check(
                d,
                &[
                    &h, &t, &t, &p, &sl, &one, &dot, &ver, &sp, &digit, &digit, &digit, &end,
                ],
            )
        }
        Side::Request => {
            if !d.first().is_some_and(|b| b"GPHDOT".contains(b)) {
                return Some(false);
            }
            let mut undecided = false;
            for m in STRICT_METHODS {
                let n = d.len().min(m.len());
                if d[..n] != m[..n] {
                    continue;
                }
                if n < m.len() {
                    undecided = true;
                    continue;
                }
                let rest = &d[n..];
                for tail in [&b" /"[..], &b" http"[..]] {
                    let k = rest.len().min(tail.len());
                    if rest[..k] == tail[..k] {
                        if k == tail.len() {
                            return Some(true);
                        }
                        undecided = true;
                    }
                }
            }
            if undecided {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// Whether position `i` (≥ 1) of `data` could start a message of `side`:
/// a line start that [`could_start`], or a [`strict_start`] anywhere.
fn candidate(data: &[u8], i: usize, side: Side) -> Option<bool> {
    let at_line = if data[i - 1] == b'\n' {
        could_start(&data[i..], side)
    } else {
        Some(false)
    };
    match (at_line, strict_start(&data[i..], side)) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (None, _) | (_, None) => None,
        _ => Some(false),
    }
}

/// Skip bytes until the front of `s` could begin a message of `side`: a line
/// start that begins like one, or (after binary bytes such as a proxy
/// handshake) a [`strict_start`]. At least one byte is always skipped.
/// Returns the number of bytes skipped and whether such a place was found
/// before the end.
pub(crate) fn resync<R: Read>(s: &mut Stream<R>, side: Side) -> io::Result<(u64, bool)> {
    let start = s.offset();
    s.ensure(1)?;
    loop {
        let data = s.data();
        let mut undecided = None;
        for i in 1..=data.len() {
            match candidate(data, i, side) {
                Some(true) => {
                    s.consume(i);
                    return Ok((s.offset() - start, true));
                }
                Some(false) => {}
                None => {
                    undecided = Some(i - 1);
                    break;
                }
            }
        }
        // Keep an undecided place and the byte before it, to look again with more bytes.
        let keep_from = undecided.unwrap_or(data.len());
        s.consume(keep_from);
        if s.fill()? == 0 {
            let rest = s.data().len();
            s.consume(rest);
            return Ok((s.offset() - start, false));
        }
    }
}

/// Pass the bytes at the front of `s` to `f` up to the next place a
/// message of `side` starts for sure (a [`strict_start`]), consuming them.
/// Returns whether such a place was found before the end of the source
/// (the stream is then left at it). `f` returns `false` to stop wanting
/// bytes; they are still passed over.
pub(crate) fn take_until_head<R: Read>(
    s: &mut Stream<R>,
    side: Side,
    mut f: impl FnMut(&[u8]) -> bool,
) -> io::Result<bool> {
    let mut wanted = true;
    loop {
        if s.data().is_empty() && s.fill()? == 0 {
            return Ok(false);
        }
        let data = s.data();
        let mut stop = data.len();
        let mut found = false;
        for i in 0..data.len() {
            match strict_start(&data[i..], side) {
                Some(true) => {
                    (stop, found) = (i, true);
                    break;
                }
                Some(false) => {}
                None => {
                    stop = i;
                    break;
                }
            }
        }
        if stop > 0 && wanted {
            wanted = f(&data[..stop]);
        }
        s.consume(stop);
        if found {
            return Ok(true);
        }
        if stop == 0 {
            // Undecided at the front: more bytes are needed, or the end
            // came inside what might have been a head.
            if s.fill()? == 0 {
                let rest = s.data();
                if wanted && !rest.is_empty() {
                    f(rest);
                }
                let n = rest.len();
                s.consume(n);
                return Ok(false);
            }
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything up to the end of the connection.
    Close,
}

/// What the head says about the body and the connection.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// How the body is delimited.
    pub framing: Framing,
    /// The declared Content-Length, if any and valid.
    pub declared: Option<u64>,
    /// Oddities worth a note in the index.
    pub notes: Vec<String>,
}

/// Content-Length: one value, or a list of equal values.
fn content_length(head: &Head) -> Result<Option<u64>, String> {
    let Some(v) = head.header_list("content-length") else {
        return Ok(None);
    };
    let mut value: Option<u64> = None;
    for t in String::from_utf8_lossy(&v).split(',') {
        let t = t.trim();
        let n: u64 = t
            .parse()
            .map_err(|_| format!("invalid Content-Length {t:?}: ignored"))?;
        if value.is_some_and(|v| v != n) {
            return Err(
                "conflicting Content-Length values: ignored (browsers refuse such a message)"
                    .into(),
            );
        }
        value = Some(n);
    }
    Ok(value)
}

/// Whether the last transfer coding is `chunked`; `None` without
/// Transfer-Encoding (or with only empty elements). Oddities go to `notes`:
/// several lines, case, codings besides `chunked`, `Content-Length` beside
/// it, `chunked` on HTTP/1.0.
fn chunked(head: &Head, notes: &mut Vec<String>) -> Option<bool> {
    let (list, mut odd) = coding_list(head, "transfer-encoding", "Transfer-Encoding");
    let last = list.last()?;
    let is_chunked = last == "chunked";
    if list.len() > 1 {
        odd.push(format!(
            "Transfer-Encoding {:?}: only chunked is undone",
            list.join(", ")
        ));
    }
    if head.header("content-length").is_some() {
        odd.push("Content-Length ignored: Transfer-Encoding present".into());
    }
    if is_chunked && head.version == 0 {
        odd.push("chunked on HTTP/1.0: de-chunked (as Firefox does)".into());
    }
    notes.extend(odd);
    Some(is_chunked)
}

/// Framing of a request body.
pub(crate) fn request_plan(head: &Head) -> Plan {
    let mut notes = Vec::new();
    let declared = content_length(head).unwrap_or_else(|e| {
        notes.push(e);
        None
    });
    let framing = match chunked(head, &mut notes) {
        Some(true) => Framing::Chunked,
        Some(false) => {
            notes.push("request Transfer-Encoding without chunked; body not delimited".into());
            Framing::None
        }
        None => match declared {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        },
    };
    Plan {
        framing,
        declared,
        notes,
    }
}

/// Framing of a response body, given the method of the request it answers
/// (`None` when that request was not seen).
pub(crate) fn response_plan(head: &Head, method: Option<&str>) -> Plan {
    let mut notes = Vec::new();
    let status = head.status().unwrap_or(0);
    let declared = content_length(head).unwrap_or_else(|e| {
        notes.push(e);
        None
    });
    let no_body = (100..200).contains(&status)
        || status == 204
        || status == 304
        || method.is_some_and(|m| m.eq_ignore_ascii_case("HEAD"))
        || (method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
            && (200..300).contains(&status));
    let framing = if no_body {
        Framing::None
    } else {
        match chunked(head, &mut notes) {
            Some(true) => Framing::Chunked,
            Some(false) => Framing::Close,
            None => match declared {
                Some(0) => Framing::None,
                Some(n) => Framing::Length(n),
                None if notes.is_empty() => Framing::Close,
                None => Framing::Close,
            },
        }
    };
    Plan {
        framing,
        declared,
        notes,
    }
}

/// `bytes START-END/TOTAL` (or `/*`) → the range; `None` for anything
/// else or a range that is not inside its total.
pub(crate) fn content_range(value: &[u8]) -> Option<super::index::ByteRange> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (unit, rest) = text.split_once(char::is_whitespace)?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (span, total) = rest.trim().split_once('/')?;
    let (a, b) = span.trim().split_once('-')?;
    let digits = |t: &str| {
        let t = t.trim();
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse::<u64>().ok())
            .flatten()
    };
    let (start, end) = (digits(a)?, digits(b)?);
    let total = match total.trim() {
        "*" => None,
        t => Some(digits(t)?),
    };
    if start > end || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(super::index::ByteRange { start, end, total })
}

/// The strong validator of a response: its ETag unless weak (`W/`), else
/// its Last-Modified; empty when it has neither.
pub(crate) fn validator(head: &Head) -> String {
    let text = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
    match head.header("etag").map(text) {
        Some(e) if !e.is_empty() && !e.starts_with("W/") => e,
        _ => head.header("last-modified").map(text).unwrap_or_default(),
    }
}

/// Header or trailer fields: lower-cased name, value.
pub(crate) type Fields = Vec<(String, Vec<u8>)>;

/// Why a chunked body stopped before its last chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkEnd {
    /// The last chunk and trailers were read.
    Done,
    /// The source ended inside the body.
    Eof,
    /// A chunk-size line was not valid (stream left at that line).
    Bad,
    /// The consumer asked to stop (e.g. decoding was cut off); the rest of the
    /// chunks were still read past.
    Stopped,
}

/// Read a chunked body from `s`, passing the de-chunked bytes to `f` (which
/// returns `false` to stop wanting bytes; framing is still followed).
/// Returns how it ended and the trailer fields seen.
pub(crate) fn read_chunked<R: Read>(
    s: &mut Stream<R>,
    mut f: impl FnMut(&[u8]) -> bool,
) -> io::Result<(ChunkEnd, Fields)> {
    let mut wanted = true;
    loop {
        let Some(line) = read_line(s)? else {
            return Ok((ChunkEnd::Eof, Vec::new()));
        };
        let Some(size) = chunk_size(&line) else {
            return Ok((ChunkEnd::Bad, Vec::new()));
        };
        consume_line(s, &line);
        if size == 0 {
            let mut trailers = Vec::new();
            loop {
                let Some(line) = read_line(s)? else {
                    // The body itself is whole; only the final empty line is missing.
                    return Ok((ChunkEnd::Done, trailers));
                };
                consume_line(s, &line);
                let text = strip_eol(&line);
                if text.is_empty() {
                    break;
                }
                if let Some(colon) = text.iter().position(|&b| b == b':') {
                    let name = String::from_utf8_lossy(&text[..colon])
                        .trim()
                        .to_ascii_lowercase();
                    trailers.push((name, trim(&text[colon + 1..]).to_vec()));
                }
            }
            let end = if wanted {
                ChunkEnd::Done
            } else {
                ChunkEnd::Stopped
            };
            return Ok((end, trailers));
        }
        let got = s.take(size, |b| {
            if wanted {
                wanted = f(b);
            }
            true
        })?;
        if got < size {
            return Ok((ChunkEnd::Eof, Vec::new()));
        }
        // CRLF after the data; be lenient about a bare LF or none at all.
        s.ensure(2)?;
        let d = s.data();
        if d.starts_with(b"\r\n") {
            s.consume(2);
        } else if d.starts_with(b"\n") {
            s.consume(1);
        }
    }
}

/// The next line (through `\n`) at the front of `s`, not consumed; `None`
/// at end of source. A line longer than [`MAX_LINE`] is returned cut short
/// (and will not parse as a chunk size).
fn read_line<R: Read>(s: &mut Stream<R>) -> io::Result<Option<Vec<u8>>> {
    let mut scanned = 0;
    loop {
        let d = s.data();
        if let Some(i) = memchr(b'\n', &d[scanned..]) {
            return Ok(Some(d[..scanned + i + 1].to_vec()));
        }
        scanned = d.len();
        if scanned >= MAX_LINE {
            return Ok(Some(d[..MAX_LINE].to_vec()));
        }
        if s.fill()? == 0 {
            return Ok(None);
        }
    }
}

fn consume_line<R: Read>(s: &mut Stream<R>, line: &[u8]) {
    s.consume(line.len());
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `HEX [ws] [; ext] CRLF` → the size.
fn chunk_size(line: &[u8]) -> Option<u64> {
    if !line.ends_with(b"\n") {
        return None;
    }
    let text = strip_eol(line);
    let text = match text.iter().position(|&b| b == b';') {
        Some(i) => &text[..i],
        None => text,
    };
    let hex = trim(text);
    if hex.is_empty() || hex.len() > 15 {
        return None;
    }
    let s = std::str::from_utf8(hex).ok()?;
    u64::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8], side: Side) -> Head {
        match parse_head(bytes, side) {
            Parsed::Complete(h) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_response_head_with_folded_header() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: one\r\n two\r\nContent-Length: 5\r\n\r\nhello";
        let h = head(raw, Side::Response);
        assert_eq!(h.status(), Some(200));
        assert_eq!(h.header("content-type"), Some(&b"text/html"[..]));
        assert_eq!(h.len, raw.len() - 5);
        assert_eq!(response_plan(&h, Some("GET")).framing, Framing::Length(5));
        assert_eq!(response_plan(&h, Some("HEAD")).framing, Framing::None);
    }

    #[test]
    fn bare_lf_heads_parse() {
        let h = head(b"GET /x HTTP/1.0\nHost: a\n\n", Side::Request);
        assert_eq!(h.method(), Some("GET"));
        assert_eq!(h.version, 0);
    }

    #[test]
    fn framing_rules() {
        let h = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
            Side::Response,
        );
        assert_eq!(response_plan(&h, None).framing, Framing::Chunked);
        let h = head(b"HTTP/1.0 200 OK\r\n\r\n", Side::Response);
        assert_eq!(response_plan(&h, Some("GET")).framing, Framing::Close);
        for st in ["204 No Content", "304 Not Modified", "100 Continue"] {
            let raw = format!("HTTP/1.1 {st}\r\nContent-Length: 10\r\n\r\n");
            let h = head(raw.as_bytes(), Side::Response);
            assert_eq!(
                response_plan(&h, Some("GET")).framing,
                Framing::None,
                "{st}"
            );
        }
        let h = head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n",
            Side::Response,
        );
        assert_eq!(response_plan(&h, None).framing, Framing::Length(4));
        let h = head(
            b"POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n",
            Side::Request,
        );
        assert_eq!(request_plan(&h).framing, Framing::Length(7));
        let h = head(b"GET / HTTP/1.1\r\n\r\n", Side::Request);
        assert_eq!(request_plan(&h).framing, Framing::None);
    }

    #[test]
    fn coding_lists_stack_lines_and_note_oddities() {
        let h = head(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nX: y\r\nContent-Encoding:  GZip ,, deflate \r\n\r\n",
            Side::Response,
        );
        let (list, notes) = coding_list(&h, "content-encoding", "Content-Encoding");
        assert_eq!(list, ["gzip", "gzip", "deflate"]);
        assert_eq!(
            notes,
            [
                "Content-Encoding on 2 header lines: stacked as one list, as browsers do",
                "Content-Encoding token \"GZip\" read as \"gzip\"",
                "Content-Encoding has empty list elements: ignored",
            ]
        );
        let h = head(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n",
            Side::Response,
        );
        assert_eq!(
            coding_list(&h, "content-encoding", "Content-Encoding"),
            (vec!["br".to_string()], vec![])
        );
    }

    #[test]
    fn transfer_encoding_on_two_lines_is_chunked_and_noted() {
        let h = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 9\r\nTransfer-Encoding: Chunked\r\n\r\n",
            Side::Response,
        );
        let plan = response_plan(&h, Some("GET"));
        assert_eq!(plan.framing, Framing::Chunked);
        assert_eq!(
            plan.notes,
            [
                "Transfer-Encoding on 2 header lines: stacked as one list, as browsers do",
                "Transfer-Encoding token \"Chunked\" read as \"chunked\"",
                "Transfer-Encoding \"gzip, chunked\": only chunked is undone",
                "Content-Length ignored: Transfer-Encoding present",
            ]
        );
        let h = head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
            Side::Response,
        );
        let plan = response_plan(&h, Some("GET"));
        assert_eq!(plan.framing, Framing::Close);
        assert_eq!(plan.declared, None);
        assert!(plan.notes[0].starts_with("conflicting Content-Length values"));
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let raw = b"4;name=val\r\nWiki\r\n5 \r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\nNEXT";
        let mut s = Stream::new(&raw[..]);
        let mut out = Vec::new();
        let (end, trailers) = read_chunked(&mut s, |b| {
            out.extend_from_slice(b);
            true
        })
        .unwrap();
        assert_eq!(end, ChunkEnd::Done);
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(trailers, vec![("expires".to_string(), b"never".to_vec())]);
        assert_eq!(s.data(), b"NEXT");
    }

    #[test]
    fn resync_finds_next_status_line() {
        let raw = b"garbage\x00\x00 more HTTP/1.1 junk\r\nHTTP/1.1 200 OK\r\n\r\n";
        let mut s = Stream::new(&raw[..]);
        let (skipped, found) = resync(&mut s, Side::Response).unwrap();
        assert!(found);
        assert_eq!(skipped as usize, raw.len() - 19);
        assert!(s.data().starts_with(b"HTTP/1.1 200"));
        let raw = b"\x01\x02zzz\nget / x\nGET /a HTTP/1.1\r\n\r\n";
        let mut s = Stream::new(&raw[..]);
        assert!(resync(&mut s, Side::Request).unwrap().1);
        assert!(s.data().starts_with(b"GET /a"));
        let raw = b"no lines here";
        let mut s = Stream::new(&raw[..]);
        assert_eq!(resync(&mut s, Side::Request).unwrap(), (13, false));
    }

    #[test]
    fn head_with_zero_filled_hole_is_repaired() {
        let mut raw = b"HTTP/1.0 302 MOVED".to_vec();
        raw.extend_from_slice(&[0u8; 100]);
        raw.extend_from_slice(b"ie=abc; path=/\r\nContent-Length: 4\r\n\r\nbody");
        let mut s = Stream::new(&raw[..]);
        let HeadRead::Head(h) = read_head(&mut s, Side::Response).unwrap() else {
            panic!("not repaired");
        };
        assert!(h.holed);
        assert_eq!(h.status(), Some(302));
        assert_eq!(h.header("content-length"), Some(&b"4"[..]));
        assert_eq!(s.data(), b"body");
        // Zeros that are not inside a head are still garbage.
        let raw = [0u8; 50];
        let mut s = Stream::new(&raw[..]);
        assert!(matches!(
            read_head(&mut s, Side::Response).unwrap(),
            HeadRead::Garbage
        ));
    }

    #[test]
    fn resync_finds_messages_after_binary_prefix() {
        let raw = b"\x05\x01\x00\x03\x0bexample.com\x00PGET / HTTP/1.1\r\n\r\n";
        let mut s = Stream::new(&raw[..]);
        assert!(resync(&mut s, Side::Request).unwrap().1);
        assert!(s.data().starts_with(b"GET / HTTP/1.1"));
        let raw = b"\x05\x00\x05\x00\x00\x01\x0a\x00\x00\x01\x00\x50HTTP/1.1 302 Found\r\n\r\n";
        let mut s = Stream::new(&raw[..]);
        assert!(resync(&mut s, Side::Response).unwrap().1);
        assert!(s.data().starts_with(b"HTTP/1.1 302"));
        // Not on a line start and not strict: skipped.
        let raw = b"xxHTTP/1.1 junk and GETaway";
        let mut s = Stream::new(&raw[..]);
        assert!(!resync(&mut s, Side::Response).unwrap().1);
    }

    #[test]
    fn content_ranges_parse_and_bad_ones_do_not() {
        use crate::http::index::ByteRange;
        let r = |start, end, total| Some(ByteRange { start, end, total });
        assert_eq!(content_range(b"bytes 0-99/1000"), r(0, 99, Some(1000)));
        assert_eq!(content_range(b"Bytes  5-5/*"), r(5, 5, None));
        for bad in [
            &b"bytes 10-5/100"[..],
            b"bytes 0-100/100",
            b"bytes */100",
            b"items 0-1/2",
            b"bytes -1-5/10",
            b"bytes 0-1",
        ] {
            assert_eq!(
                content_range(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn take_until_head_stops_at_a_status_line() {
        let raw = b"body\x00\x00 more HTTP/1.1 nope\nHTTP/1.1 200 OK\r\n\r\n";
        let mut s = Stream::new(&raw[..]);
        let mut got = Vec::new();
        let found = take_until_head(&mut s, Side::Response, |b| {
            got.extend_from_slice(b);
            true
        })
        .unwrap();
        assert!(found);
        assert_eq!(got, b"body\x00\x00 more HTTP/1.1 nope\n");
        assert!(s.data().starts_with(b"HTTP/1.1 200 OK"));
        // No head: everything is passed, even an undecided tail.
        let raw = b"just bytes HTTP/1.";
        let mut s = Stream::new(&raw[..]);
        let mut got = Vec::new();
        let found = take_until_head(&mut s, Side::Response, |b| {
            got.extend_from_slice(b);
            true
        })
        .unwrap();
        assert!(!found);
        assert_eq!(got, raw);
    }

    #[test]
    fn resync_across_block_boundary() {
        let mut raw = vec![b'x'; 64 * 1024 - 3];
        raw.extend_from_slice(b"\nHTTP/1.1 200 OK\r\n\r\n");
        let mut s = Stream::new(&raw[..]);
        let (skipped, found) = resync(&mut s, Side::Response).unwrap();
        assert!(found);
        assert_eq!(skipped as usize, 64 * 1024 - 2);
    }
}
