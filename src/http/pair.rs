//! Which of a connection's two flows carries requests.
//!
//! Owns: sniffing a flow for its first request or status line ([`sniff`]),
//! and the one rule that turns the two flows' sniffed sides into the
//! connections to carve ([`decide`], [`Pairing::connections`]). The
//! post-pass (`mod.rs`, flows paired by name) and inline carving
//! (`inline.rs`, flows handed over by the capture pipeline) both decide
//! through here.
//!
//! Must not: read more than [`SNIFF_BYTES`] of a flow, or write anything.

use super::message::{self, Side};
use crate::error::Error;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// How much of a flow is examined to tell requests from responses.
pub(crate) const SNIFF_BYTES: usize = 256 * 1024;

/// One of a connection's two flows, as its caller lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The first flow (the one that is always there).
    A,
    /// The second flow (the reverse direction, when there is one).
    B,
}

/// What to carve for a connection, given what its two flows carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairing {
    /// Neither flow looks like HTTP: nothing is carved.
    Skip,
    /// One connection: `requests` is the client-to-server flow, the other
    /// flow (if there is one) the server-to-client flow.
    Together {
        /// The flow that carries the requests.
        requests: Flow,
    },
    /// Both flows carry the same side (two clients, or two servers): each
    /// is carved on its own, as a connection with only that side.
    Apart(Side),
}

/// The two halves of one connection to carve, either possibly absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Halves<T> {
    /// The client-to-server flow.
    pub request: Option<T>,
    /// The server-to-client flow.
    pub response: Option<T>,
}

/// The pairing rule. `a` and `b` are what [`sniff`] found in the two flows
/// (`b` is `None` too when there is no second flow). A flow that looks
/// like requests is the request side and one that looks like responses the
/// response side, the other flow taking the other role whatever it looks
/// like; when the two agree (both requests, or both responses) they are
/// carved apart, and when neither looks like HTTP nothing is carved. The
/// rule is symmetric: swapping `a` and `b` swaps the flows chosen.
pub(crate) fn decide(a: Option<Side>, b: Option<Side>) -> Pairing {
    match (a, b) {
        (Some(Side::Request), Some(Side::Request)) => Pairing::Apart(Side::Request),
        (Some(Side::Response), Some(Side::Response)) => Pairing::Apart(Side::Response),
        (Some(Side::Request), _) | (_, Some(Side::Response)) => {
            Pairing::Together { requests: Flow::A }
        }
        (Some(Side::Response), _) | (_, Some(Side::Request)) => {
            Pairing::Together { requests: Flow::B }
        }
        (None, None) => Pairing::Skip,
    }
}

impl Pairing {
    /// The connections to carve for flows `a` and `b`: none for
    /// [`Pairing::Skip`], one for [`Pairing::Together`], and for
    /// [`Pairing::Apart`] `a`'s before `b`'s (none for a missing `b`, which
    /// [`decide`] never pairs apart).
    pub(crate) fn connections<T>(self, a: T, b: Option<T>) -> Vec<Halves<T>> {
        let alone = |f: T, side: Side| match side {
            Side::Request => Halves {
                request: Some(f),
                response: None,
            },
            Side::Response => Halves {
                request: None,
                response: Some(f),
            },
        };
        match self {
            Pairing::Skip => Vec::new(),
            Pairing::Together { requests: Flow::A } => vec![Halves {
                request: Some(a),
                response: b,
            }],
            Pairing::Together { requests: Flow::B } => vec![Halves {
                request: b,
                response: Some(a),
            }],
            Pairing::Apart(side) => std::iter::once(a)
                .chain(b)
                .map(|f| alone(f, side))
                .collect(),
        }
    }
}

/// [`sniff`] the flow at `path`; a flow that cannot be read is listed in
/// `errors` and counts as carrying neither side.
pub(crate) fn sniff_or_note(path: &Path, errors: &mut Vec<Error>) -> Option<Side> {
    match sniff(path) {
        Ok(s) => s,
        Err(source) => {
            errors.push(Error::Read {
                path: path.to_path_buf(),
                source,
            });
            None
        }
    }
}

/// Which side a flow carries: the kind of the first place (within
/// [`SNIFF_BYTES`]) that begins a request or a response: a whole request or
/// status line at a line start, or a strict match anywhere (a message after
/// a proxy handshake). `None` if there is none.
///
/// The flow is read a little at a time (most begin with their first
/// message), and a place is decided only once enough bytes are read that
/// reading more cannot change the answer there.
pub(crate) fn sniff(path: &Path) -> io::Result<Option<Side>> {
    let mut file = File::open(path)?.take(SNIFF_BYTES as u64);
    let mut buf = Vec::new();
    let (mut from, mut chunk) = (0, 4096u64);
    loop {
        let want = usize::try_from(chunk).unwrap_or(SNIFF_BYTES);
        buf.reserve(want);
        let read = (&mut file).take(chunk).read_to_end(&mut buf)?;
        let all = read < want;
        match first_start(&buf, from, all) {
            Scan::Found(side) => return Ok(Some(side)),
            Scan::None => return Ok(None),
            Scan::NeedMore(at) => from = at,
        }
        chunk *= 4;
    }
}

/// What [`first_start`] found.
#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// The first place that begins a message begins one of this side.
    Found(Side),
    /// No place begins a message (`buf` is all there is).
    None,
    /// Nothing before this place begins a message; it needs more bytes.
    NeedMore(usize),
}

/// The first place at or after `from` in `buf` that begins a message, as
/// [`sniff`] defines it; `all` says `buf` is all there is to read.
fn first_start(buf: &[u8], from: usize, all: bool) -> Scan {
    for i in from..buf.len() {
        if i == 0 || buf[i - 1] == b'\n' {
            let end = match buf[i..].iter().position(|&b| b == b'\n') {
                Some(e) => i + e,
                None if all => buf.len(),
                None => return Scan::NeedMore(i),
            };
            if let Some(side) = line_kind(&buf[i..end]) {
                return Scan::Found(side);
            }
        }
        for side in [Side::Response, Side::Request] {
            match message::strict_start(&buf[i..], side) {
                Some(true) => return Scan::Found(side),
                None if !all => return Scan::NeedMore(i),
                _ => {}
            }
        }
    }
    if all {
        Scan::None
    } else {
        Scan::NeedMore(buf.len())
    }
}

/// `HTTP/1.x NNN ...` is a response line; `METHOD target HTTP/1.x` with an
/// upper-case method is a request line.
fn line_kind(line: &[u8]) -> Option<Side> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() >= 12
        && line.starts_with(b"HTTP/1.")
        && line[8] == b' '
        && line[9..12].iter().all(u8::is_ascii_digit)
    {
        return Some(Side::Response);
    }
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    let method_ok = (3..=16).contains(&method.len())
        && method
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_');
    (method_ok
        && !target.is_empty()
        && version.len() == 8
        && version.starts_with(b"HTTP/1.")
        && parts.next().is_none())
    .then_some(Side::Request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: Option<Side> = Some(Side::Request);
    const RESP: Option<Side> = Some(Side::Response);

    /// The request and response flows of each connection, by name.
    fn carved(a: Option<Side>, b: Option<Side>, second: bool) -> Vec<Halves<&'static str>> {
        decide(a, b).connections("a", second.then_some("b"))
    }

    fn conn(request: Option<&'static str>, response: Option<&'static str>) -> Halves<&'static str> {
        Halves { request, response }
    }

    #[test]
    fn every_combination_of_two_sniffed_flows() {
        let cases = [
            // (a, b) → connections as (request, response)
            (None, None, vec![]),
            (REQ, None, vec![conn(Some("a"), Some("b"))]),
            (None, REQ, vec![conn(Some("b"), Some("a"))]),
            (RESP, None, vec![conn(Some("b"), Some("a"))]),
            (None, RESP, vec![conn(Some("a"), Some("b"))]),
            (REQ, RESP, vec![conn(Some("a"), Some("b"))]),
            (RESP, REQ, vec![conn(Some("b"), Some("a"))]),
            (REQ, REQ, vec![conn(Some("a"), None), conn(Some("b"), None)]),
            (
                RESP,
                RESP,
                vec![conn(None, Some("a")), conn(None, Some("b"))],
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(carved(a, b, true), want, "a={a:?} b={b:?}");
        }
    }

    #[test]
    fn a_single_flow_is_carved_as_the_side_it_carries() {
        assert_eq!(carved(REQ, None, false), vec![conn(Some("a"), None)]);
        assert_eq!(carved(RESP, None, false), vec![conn(None, Some("a"))]);
        assert_eq!(carved(None, None, false), vec![]);
    }

    #[test]
    fn the_rule_is_symmetric() {
        let sides = [None, REQ, RESP];
        let swap = |p: Pairing| match p {
            Pairing::Together { requests: Flow::A } => Pairing::Together { requests: Flow::B },
            Pairing::Together { requests: Flow::B } => Pairing::Together { requests: Flow::A },
            other => other,
        };
        for a in sides {
            for b in sides {
                assert_eq!(decide(b, a), swap(decide(a, b)), "a={a:?} b={b:?}");
            }
        }
    }

    #[test]
    fn decisions_by_name() {
        assert_eq!(decide(None, None), Pairing::Skip);
        assert_eq!(decide(REQ, REQ), Pairing::Apart(Side::Request));
        assert_eq!(decide(RESP, RESP), Pairing::Apart(Side::Response));
        assert_eq!(decide(REQ, None), Pairing::Together { requests: Flow::A });
        assert_eq!(decide(None, RESP), Pairing::Together { requests: Flow::A });
        assert_eq!(decide(RESP, None), Pairing::Together { requests: Flow::B });
        assert_eq!(decide(None, REQ), Pairing::Together { requests: Flow::B });
    }

    #[test]
    fn sniffs_lines_and_strict_starts() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let req = write("req", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let resp = write("resp", b"HTTP/1.1 200 OK\r\n\r\n");
        let none = write("none", b"\x16\x03\x01 not http at all\n");
        assert_eq!(sniff(&req).unwrap(), REQ);
        assert_eq!(sniff(&resp).unwrap(), RESP);
        assert_eq!(sniff(&none).unwrap(), None);
        let mut errors = Vec::new();
        assert_eq!(
            sniff_or_note(&dir.path().join("missing"), &mut errors),
            None
        );
        assert_eq!(errors.len(), 1);
    }

    /// Reading a flow a piece at a time finds what reading it whole finds,
    /// wherever the pieces end: a place is decided only when more bytes
    /// could not change it.
    #[test]
    fn sniffing_in_pieces_finds_what_the_whole_flow_gives() {
        let flows: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"\x16\x03\x01 not http at all\n",
            b"CONNECT x:443 HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"junk junk GET /a HTTP/1.1\r\n",
            b"line one\nHTTP/1.0 404 Not Found\n",
            b"no newline and a late HTTP/1.1 302 Found",
        ];
        for flow in flows {
            let whole = first_start(flow, 0, true);
            for cut in 0..=flow.len() {
                let piece = first_start(&flow[..cut], 0, false);
                let then = match piece {
                    Scan::NeedMore(at) => first_start(flow, at, true),
                    found => found,
                };
                assert_eq!(
                    then,
                    whole,
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(flow)
                );
            }
        }
        assert_eq!(first_start(flows[4], 0, true), Scan::Found(Side::Request));
        assert_eq!(first_start(flows[6], 0, true), Scan::Found(Side::Response));
        assert_eq!(first_start(flows[2], 0, true), Scan::None);
    }

    /// A flow longer than one read whose first message is far in is found.
    #[test]
    fn sniffs_past_the_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![b'x'; 70_000];
        bytes.extend_from_slice(b"\nHTTP/1.1 200 OK\r\n\r\n");
        let p = dir.path().join("late");
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(sniff(&p).unwrap(), RESP);
        let mut far = vec![b'x'; SNIFF_BYTES];
        far.extend_from_slice(b"\nHTTP/1.1 200 OK\r\n\r\n");
        std::fs::write(&p, &far).unwrap();
        assert_eq!(sniff(&p).unwrap(), None);
    }
}
