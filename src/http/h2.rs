//! Carving HTTP/2: over TLS (ALPN `h2`, from the decrypted flows), in
//! cleartext with prior knowledge (`h2c`: the client flow begins with the
//! connection preface), and in cleartext after an HTTP/1.1 upgrade
//! (`Upgrade: h2c` answered by `101`: the flows go on as HTTP/2 after the
//! upgrade request and the `101`, and stream 1 answers the upgrade
//! request; [`carve_upgraded`], called by `conn`).
//!
//! Owns: reading each direction's frames (RFC 9113 4.1), decoding header
//! blocks (HEADERS, PUSH_PROMISE and their CONTINUATION frames) through one
//! HPACK decoder per direction (the `loona-hpack` crate), and turning each
//! stream into one index record: the request (its pseudo-headers as method,
//! host and URI), the response (1xx as interim statuses), both bodies from
//! their DATA frames with padding removed, written and decoded by
//! `body::BodyWriter` as HTTP/1.x bodies are, named
//! `<flow>-HTTPBODY-NNN` / `<flow>-HTTPREQBODY-NNN` where NNN numbers the
//! connection's streams in stream-id order, plus the stream id. A stream
//! reset (RST_STREAM) or cut off by GOAWAY, or whose direction ends before
//! END_STREAM, has its bodies marked incomplete. A pushed stream
//! (PUSH_PROMISE) is a record of its own, its request the promised one,
//! noted as pushed.
//!
//! First pass: both flows' frames are read in order, DATA payloads kept
//! only as `(offset, length)` ranges; second pass: each stream's bodies
//! are copied from those ranges. Header blocks larger than
//! [`MAX_HEADER_BLOCK`] are not decoded (nor, since the decoder's table
//! then no longer matches the sender's, any block after them).
//!
//! Must not: take any part of a file name from the traffic (names come
//! from the flow file's name, a number and the extension table).

use super::body::Target;
use super::body::{BodyWriter, Limits};
use super::conn::{Connection, FlowFile, H2cStart, Outcome};
use super::growth::ConnGrowth;
use super::index::{BodyRecord, Record};
use super::name::BodyKind;
use super::HttpOptions;
use crate::error::Error;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

/// The client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest header block (all its frames together) decoded.
pub const MAX_HEADER_BLOCK: usize = 1 << 20;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const PUSH_PROMISE: u8 = 5;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Whether the flow at `path` begins with the HTTP/2 client preface.
pub(crate) fn starts_with_preface(path: &Path) -> bool {
    preface_at(path, 0)
}

/// Whether the flow at `path` holds the HTTP/2 client preface at `offset`.
pub(crate) fn preface_at(path: &Path, offset: u64) -> bool {
    let mut head = [0u8; 24];
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(&mut head)
        })
        .is_ok()
        && &head == PREFACE
}

type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// One side (request or response) of a stream.
#[derive(Default)]
struct Half {
    /// Offset of the HEADERS frame that opened it, and its fields.
    head: Option<(u64, Headers)>,
    /// 1xx statuses before the final response head.
    interim: Vec<u16>,
    /// DATA payloads, padding removed: `(offset, length)`.
    data: Vec<(u64, u64)>,
    /// END_STREAM seen.
    ended: bool,
    /// Trailer fields seen.
    trailers: bool,
}

#[derive(Default)]
struct H2Stream {
    request: Half,
    response: Half,
    /// `RST_STREAM` seen: who sent it and its error code.
    reset: Option<String>,
    /// Pushed by the server, promised on this stream.
    promised_on: Option<u32>,
    /// Notes about the stream.
    notes: Vec<String>,
}

/// What reading one direction's frames found beyond its streams.
#[derive(Default)]
struct DirectionEnd {
    /// GOAWAY's last stream id.
    goaway: Option<u32>,
    /// Why the frames ended early, if they did.
    broken: Option<String>,
}

fn field<'h>(h: &'h Headers, name: &[u8]) -> Option<&'h [u8]> {
    h.iter()
        .find(|(n, _)| n.as_slice() == name)
        .map(|(_, v)| v.as_slice())
}

/// A comma list header's tokens, trimmed and lower-cased, empty ones
/// dropped (HPACK gives each field once; several are joined by commas).
fn tokens(value: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(value)
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn text(v: Option<&[u8]>) -> Option<String> {
    v.map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Read `len` bytes, or fewer at the end of the flow.
fn read_up_to(r: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A header block being assembled: stream, offset of its first frame,
/// END_STREAM on it, the stream a PUSH_PROMISE promises, the bytes so far.
type Block = (u32, u64, bool, Option<u32>, Vec<u8>);

/// Read the frames of one direction (`client` says which), from `start`
/// on, into `streams`.
fn read_frames(
    path: &Path,
    client: bool,
    start: u64,
    streams: &mut BTreeMap<u32, H2Stream>,
) -> io::Result<DirectionEnd> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut r = BufReader::with_capacity(64 * 1024, file);
    let mut end = DirectionEnd::default();
    let mut offset = start;
    if client {
        let p = read_up_to(&mut r, PREFACE.len())?;
        if p != PREFACE {
            end.broken = Some("no HTTP/2 connection preface".into());
            return Ok(end);
        }
        offset += PREFACE.len() as u64;
    }
    let mut decoder = loona_hpack::Decoder::new();
    let mut hpack_broken = false;
    let mut block: Option<Block> = None;
    let who = if client { "client" } else { "server" };
    loop {
        let h = read_up_to(&mut r, 9)?;
        if h.is_empty() {
            break;
        }
        if h.len() < 9 {
            end.broken = Some(format!(
                "the flow ends inside a frame header at offset {offset}"
            ));
            break;
        }
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let (kind, flags) = (h[3], h[4]);
        let id = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        let frame_at = offset;
        let payload_at = offset + 9;
        offset = payload_at + len as u64;
        if kind == DATA {
            // Only the padding length is read; the data stays in the file.
            let mut start = payload_at;
            let mut data_len = len as u64;
            if flags & PADDED != 0 {
                let pad = read_up_to(&mut r, 1)?;
                let Some(&pad) = pad.first() else {
                    end.broken = Some(format!(
                        "the flow ends inside the frame at offset {frame_at}"
                    ));
                    break;
                };
                start += 1;
                data_len = data_len.saturating_sub(1 + u64::from(pad));
                io::copy(&mut (&mut r).take(len as u64 - 1), &mut io::sink())?;
            } else {
                let skipped = io::copy(&mut (&mut r).take(len as u64), &mut io::sink())?;
                data_len = data_len.min(skipped);
            }
            let s = streams.entry(id).or_default();
            let half = if client {
                &mut s.request
            } else {
                &mut s.response
            };
            if data_len > 0 {
                half.data.push((start, data_len));
            }
            if flags & END_STREAM != 0 {
                half.ended = true;
            }
            continue;
        }
        if len > MAX_HEADER_BLOCK {
            io::copy(&mut (&mut r).take(len as u64), &mut io::sink())?;
            if matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION) {
                hpack_broken = true;
            }
            continue;
        }
        let payload = read_up_to(&mut r, len)?;
        if payload.len() < len {
            end.broken = Some(format!(
                "the flow ends inside the frame at offset {frame_at}"
            ));
            break;
        }
        match kind {
            HEADERS | PUSH_PROMISE => {
                let mut p = payload.as_slice();
                let mut pad = 0usize;
                if flags & PADDED != 0 {
                    let Some((&n, rest)) = p.split_first() else {
                        continue;
                    };
                    pad = n.into();
                    p = rest;
                }
                let mut promised = None;
                if kind == PUSH_PROMISE {
                    let Some(id) = p.get(..4) else { continue };
                    promised = Some(u32::from_be_bytes([id[0], id[1], id[2], id[3]]) & 0x7fff_ffff);
                    p = &p[4..];
                } else if flags & PRIORITY != 0 {
                    let Some(rest) = p.get(5..) else { continue };
                    p = rest;
                }
                let Some(fragment) = p.get(..p.len().saturating_sub(pad)) else {
                    continue;
                };
                let end_stream = kind == HEADERS && flags & END_STREAM != 0;
                block = Some((id, frame_at, end_stream, promised, fragment.to_vec()));
            }
            CONTINUATION => {
                if let Some(b) = block.as_mut() {
                    if b.4.len() + payload.len() > MAX_HEADER_BLOCK {
                        hpack_broken = true;
                        block = None;
                    } else {
                        b.4.extend_from_slice(&payload);
                    }
                }
            }
            RST_STREAM => {
                let code = payload
                    .get(..4)
                    .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                streams.entry(id).or_default().reset.get_or_insert_with(|| {
                    format!("RST_STREAM from the {who} (error code {code})")
                });
            }
            GOAWAY => {
                let last = payload
                    .get(..4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) & 0x7fff_ffff);
                end.goaway = end.goaway.min(last).or(last);
            }
            _ => {}
        }
        let complete_block =
            matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION) && flags & END_HEADERS != 0;
        if !complete_block {
            continue;
        }
        let Some((sid, at, end_stream, promised, bytes)) = block.take() else {
            continue;
        };
        let fields = if hpack_broken {
            None
        } else {
            match decoder.decode(&bytes) {
                Ok(f) => Some(f),
                Err(e) => {
                    hpack_broken = true;
                    streams
                        .entry(sid)
                        .or_default()
                        .notes
                        .push(format!("HPACK decoding failed in the {who} flow ({e:?}): later headers of that flow unread"));
                    None
                }
            }
        };
        let Some(fields) = fields else {
            streams
                .entry(sid)
                .or_default()
                .notes
                .push(format!("{who} headers at offset {at} not decoded"));
            continue;
        };
        if let Some(p) = promised {
            let s = streams.entry(p).or_default();
            s.promised_on = Some(sid);
            s.request.head = Some((at, fields));
            s.request.ended = true;
            continue;
        }
        let s = streams.entry(sid).or_default();
        let half = if client {
            &mut s.request
        } else {
            &mut s.response
        };
        let status = field(&fields, b":status")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u16>().ok());
        match (&half.head, status) {
            (None, Some(code)) if (100..200).contains(&code) => half.interim.push(code),
            (None, _) => half.head = Some((at, fields)),
            (Some(_), _) => half.trailers = true,
        }
        if end_stream {
            half.ended = true;
        }
    }
    Ok(end)
}

/// Carve the HTTP/2 connection `conn` (its request flow the client's).
pub(crate) fn carve(conn: &Connection, opts: &HttpOptions) -> Outcome {
    let start = H2cStart {
        request: 0,
        response: 0,
    };
    carve_from(conn, opts, &Rc::new(conn.growth(opts)), start, None)
}

/// Carve the HTTP/2 of a connection upgraded by `Upgrade: h2c`, from
/// `start` on in its flows. `upgrade` is the upgrade's HTTP/1.1 record
/// (its request, the `101` as its response): its request becomes stream
/// 1's, the `101` an interim status before stream 1's response, and the
/// streams are numbered on from the `101`'s response number (so body
/// files follow the HTTP/1.1 ones).
pub(crate) fn carve_upgraded(
    conn: &Connection,
    opts: &HttpOptions,
    growth: &Rc<ConnGrowth>,
    start: H2cStart,
    upgrade: Record,
) -> Outcome {
    carve_from(conn, opts, growth, start, Some(upgrade))
}

/// [`carve`] from `start`, with the upgrade's record when there was one.
fn carve_from(
    conn: &Connection,
    opts: &HttpOptions,
    growth: &Rc<ConnGrowth>,
    start: H2cStart,
    mut upgrade: Option<Record>,
) -> Outcome {
    let mut out = Outcome::default();
    let growth = growth.clone();
    let mut streams = BTreeMap::new();
    let mut ends = [DirectionEnd::default(), DirectionEnd::default()];
    let starts = [start.request, start.response];
    for (i, (flow, client)) in [(&conn.request, true), (&conn.response, false)]
        .into_iter()
        .enumerate()
    {
        let Some(f) = flow else { continue };
        match read_frames(&f.path, client, starts[i], &mut streams) {
            Ok(e) => ends[i] = e,
            Err(source) => out.errors.push(Error::Read {
                path: f.path.clone(),
                source,
            }),
        }
    }
    let goaway = ends.iter().filter_map(|e| e.goaway).min();
    let key = conn
        .response
        .as_ref()
        .or(conn.request.as_ref())
        .map(|f| f.name.clone())
        .unwrap_or_default();
    // Numbered on from the upgrade's 101, whose number stream 1 takes.
    let mut number = upgrade
        .as_ref()
        .and_then(|u| u.response_number)
        .map_or(0, |n| n.saturating_sub(1));
    if upgrade.is_some() {
        streams.entry(1).or_default();
    }
    for (id, s) in streams {
        let upgraded = if id == 1 { upgrade.take() } else { None };
        if id == 0 || (s.request.head.is_none() && s.response.head.is_none() && upgraded.is_none())
        {
            continue;
        }
        number += 1;
        let mut rec = Record {
            stream_id: Some(id),
            notes: s.notes.clone(),
            ..Record::default()
        };
        let upgraded_request = upgraded.is_some();
        let uri = path_of(&s.request)
            .map(str::to_string)
            .or_else(|| upgraded.as_ref().and_then(|u| u.uri.clone()));
        if let Some(u) = upgraded {
            let switched = u.response_offset.unwrap_or(0);
            rec = Record {
                stream_id: Some(id),
                interim: u.interim.iter().copied().chain([101]).collect(),
                notes: u
                    .notes
                    .into_iter()
                    .filter(|n| !n.starts_with("connection leaves HTTP here"))
                    .chain([format!(
                        "upgraded to HTTP/2 (h2c) by the 101 at offset {switched} of the response flow: the response is stream 1's"
                    )])
                    .chain(s.notes.iter().cloned())
                    .collect(),
                ..u
            };
            rec.response_file = None;
            rec.response_offset = None;
            rec.response_number = None;
            rec.status = None;
            rec.reason = None;
            rec.response_version = None;
            rec.response_body = None;
        }
        let mut incomplete: Vec<String> = Vec::new();
        if let Some(r) = &s.reset {
            incomplete.push(format!("reset: {r}"));
        }
        if let Some(last) = goaway.filter(|&last| id > last) {
            incomplete.push(format!(
                "GOAWAY: stream {id} is past the last stream processed ({last})"
            ));
        }
        if let Some(p) = s.promised_on {
            rec.notes
                .push(format!("server push, promised on stream {p}"));
        }
        let request_flow = if s.promised_on.is_some() {
            &conn.response
        } else {
            &conn.request
        };
        if let Some((at, h)) = &s.request.head {
            out.messages += 1;
            rec.request_file = request_flow.as_ref().map(|f| f.name.clone());
            rec.request_offset = Some(*at);
            rec.request_number = Some(number);
            rec.method = text(field(h, b":method"));
            rec.host = text(field(h, b":authority").or_else(|| field(h, b"host")));
            rec.uri = text(field(h, b":path"));
            rec.request_version = Some("HTTP/2".into());
            if let Some(f) = &conn.request {
                rec.request_body = body(
                    conn,
                    f,
                    BodyKind::Request,
                    number,
                    uri.as_deref(),
                    h,
                    &s.request,
                    &incomplete,
                    &ends[0],
                    opts,
                    &growth,
                    &mut out,
                );
            }
        }
        if let Some((at, h)) = &s.response.head {
            out.messages += 1 + s.response.interim.len() as u64;
            rec.response_file = conn.response.as_ref().map(|f| f.name.clone());
            rec.response_offset = Some(*at);
            rec.response_number = Some(number);
            rec.status =
                field(h, b":status").and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
            rec.response_version = Some("HTTP/2".into());
            rec.interim.extend(s.response.interim.iter().copied());
            if let Some(f) = &conn.response {
                rec.response_body = body(
                    conn,
                    f,
                    BodyKind::Response,
                    number,
                    uri.as_deref(),
                    h,
                    &s.response,
                    &incomplete,
                    &ends[1],
                    opts,
                    &growth,
                    &mut out,
                );
            }
        } else {
            rec.notes.push("no response seen".into());
        }
        let request_seen = s.request.head.is_some() || upgraded_request;
        if !request_seen {
            rec.notes.push("no request seen".into());
        }
        let bodies_ok = [&rec.request_body, &rec.response_body]
            .into_iter()
            .flatten()
            .all(|b| b.complete);
        rec.complete = request_seen
            && s.response.head.is_some()
            && s.response.ended
            && bodies_ok
            && incomplete.is_empty();
        if !incomplete.is_empty() && rec.request_body.is_none() && rec.response_body.is_none() {
            rec.notes.extend(incomplete.iter().cloned());
        }
        for b in [&rec.request_body, &rec.response_body]
            .into_iter()
            .flatten()
        {
            if !b.complete {
                out.incomplete += 1;
            }
        }
        rec.order = (key.clone(), number - 1);
        out.records.push(rec);
    }
    let community_id = super::name::FlowName::parse(&key).and_then(|n| n.community_id());
    for r in &mut out.records {
        r.community_id.clone_from(&community_id);
    }
    out
}

/// The `:path` of a stream's request (its target, for `--http-names url`).
fn path_of(request: &Half) -> Option<&str> {
    let (_, h) = request.head.as_ref()?;
    std::str::from_utf8(field(h, b":path")?).ok()
}

/// Write one side's body from its DATA ranges in `flow`, and its record
/// (`None` when it has no DATA).
#[allow(clippy::too_many_arguments)]
fn body(
    conn: &Connection,
    flow: &FlowFile,
    kind: BodyKind,
    number: u64,
    uri: Option<&str>,
    head: &Headers,
    half: &Half,
    stream_incomplete: &[String],
    end: &DirectionEnd,
    opts: &HttpOptions,
    growth: &Rc<ConnGrowth>,
    out: &mut Outcome,
) -> Option<BodyRecord> {
    let first = *half.data.first()?;
    let content_type = field(head, b"content-type");
    let asked = super::conn::body_name(opts.names, &flow.name, kind, number, content_type, uri);
    let target = Target {
        dir: conn.dir.clone(),
        name: asked.clone(),
        folder: conn.folder.clone(),
    };
    let encoding = field(head, b"content-encoding");
    let codings = encoding.map(tokens).unwrap_or_default();
    let limits = Limits {
        max_bytes: opts.max_decoded_bytes,
        max_ratio: opts.max_ratio,
        growth: growth.clone(),
    };
    let mut w = BodyWriter::new(target, &codings, opts.decode, limits);
    let mut incomplete: Vec<String> = stream_incomplete.to_vec();
    let mut wire = 0u64;
    let copied = (|| -> io::Result<()> {
        let mut f = File::open(&flow.path)?;
        let mut buf = vec![0u8; 64 * 1024];
        'ranges: for &(at, len) in &half.data {
            f.seek(SeekFrom::Start(at))?;
            let mut left = len;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let n = f.read(&mut buf[..want])?;
                if n == 0 {
                    break 'ranges;
                }
                wire += n as u64;
                left -= n as u64;
                if !w.write(&buf[..n]) {
                    break 'ranges;
                }
            }
        }
        Ok(())
    })();
    if let Err(source) = copied {
        out.errors.push(Error::Read {
            path: flow.path.clone(),
            source,
        });
        incomplete.push("read error".into());
    }
    if !half.ended && stream_incomplete.is_empty() {
        let why = end
            .broken
            .as_deref()
            .unwrap_or("the flow ends before END_STREAM");
        incomplete.push(format!("eof: {why}"));
    }
    let r = w.finish();
    incomplete.extend(r.incomplete);
    let name = r.file.clone().unwrap_or_else(|| asked.nth(0));
    if let Some(source) = r.io_error {
        let path = conn.dir.join(&name);
        out.errors.push(Error::Write { path, source });
    }
    if r.file_written {
        out.bodies += 1;
    }
    let mut notes = r.notes;
    if half.trailers {
        notes.push("trailers".into());
    }
    let declared = field(head, b"content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok());
    Some(BodyRecord {
        file: r.file_written.then_some(name),
        offset: first.0,
        wire_length: wire,
        framing: "h2 data".into(),
        content_type: text(content_type),
        content_encoding: text(encoding),
        transfer_encoding: None,
        declared_length: declared,
        encoded_length: r.encoded_len,
        decoded_length: r.decoded_len,
        decoded: r.decoded,
        sha256: r.sha256,
        complete: incomplete.is_empty(),
        incomplete,
        notes,
        ..BodyRecord::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, id: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn block(enc: &mut loona_hpack::Encoder<'_>, fields: &[(&str, &str)]) -> Vec<u8> {
        enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    /// Streams with padding, a header block split over CONTINUATION, a
    /// reset stream, a push and a GOAWAY, written as frames and carved.
    /// Carve the connection whose client sent `c` and server `s`, written
    /// as the two flow files of 10.0.0.1:40000 and 10.0.0.2:443 in `dir`.
    fn carve_flows(dir: &std::path::Path, c: &[u8], s: &[u8]) -> Outcome {
        let (cn, sn) = (
            "010.000.000.001.40000-010.000.000.002.00443",
            "010.000.000.002.00443-010.000.000.001.40000",
        );
        std::fs::write(dir.join(cn), c).unwrap();
        std::fs::write(dir.join(sn), s).unwrap();
        let flow = |n: &str| FlowFile {
            name: n.into(),
            path: dir.join(n),
            gaps: Vec::new(),
        };
        let conn = Connection {
            dir: dir.to_path_buf(),
            request: Some(flow(cn)),
            response: Some(flow(sn)),
            folder: Default::default(),
        };
        carve(&conn, &HttpOptions::default())
    }

    #[test]
    fn frames_padding_reset_push_and_goaway() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ce, mut se) = (loona_hpack::Encoder::new(), loona_hpack::Encoder::new());
        let mut c = PREFACE.to_vec();
        c.extend(frame(4, 0, 0, &[]));
        let get = |p: &'static str| {
            vec![
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "x.test"),
                (":path", p),
            ]
        };
        // Stream 1: request split over HEADERS + CONTINUATION.
        let b1 = block(&mut ce, &get("/one"));
        let (h, t) = b1.split_at(3);
        c.extend(frame(HEADERS, END_STREAM, 1, h));
        c.extend(frame(CONTINUATION, END_HEADERS, 1, t));
        // Stream 3: a POST whose body is padded.
        let mut post = get("/post");
        post[0] = (":method", "POST");
        c.extend(frame(HEADERS, END_HEADERS, 3, &block(&mut ce, &post)));
        c.extend(frame(
            DATA,
            END_STREAM | PADDED,
            3,
            &[4, b'a', b'b', b'c', 0, 0, 0, 0],
        ));
        // Stream 5: reset by the client.
        c.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            5,
            &block(&mut ce, &get("/reset")),
        ));
        c.extend(frame(RST_STREAM, 0, 5, &8u32.to_be_bytes()));
        // Stream 7: past the server's GOAWAY.
        c.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            7,
            &block(&mut ce, &get("/late")),
        ));

        let mut s = frame(4, 0, 0, &[]);
        let ok = |se: &mut loona_hpack::Encoder<'_>| {
            block(se, &[(":status", "200"), ("content-type", "text/plain")])
        };
        // A push promised on stream 1 (stream 2), with its response.
        let mut promise = 2u32.to_be_bytes().to_vec();
        promise.extend(block(&mut se, &get("/pushed")));
        s.extend(frame(PUSH_PROMISE, END_HEADERS, 1, &promise));
        s.extend(frame(HEADERS, END_HEADERS, 1, &ok(&mut se)));
        s.extend(frame(HEADERS, END_HEADERS, 2, &ok(&mut se)));
        s.extend(frame(DATA, 0, 1, b"hello "));
        s.extend(frame(DATA, END_STREAM, 2, b"pushed"));
        s.extend(frame(DATA, END_STREAM, 1, b"world"));
        s.extend(frame(HEADERS, END_HEADERS, 3, &ok(&mut se)));
        s.extend(frame(
            DATA,
            END_STREAM | PADDED,
            3,
            &[2, b'a', b'b', b'c', 0, 0],
        ));
        s.extend(frame(HEADERS, END_HEADERS, 5, &ok(&mut se)));
        s.extend(frame(DATA, 0, 5, b"part"));
        s.extend(frame(GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0]));

        let out = carve_flows(dir.path(), &c, &s);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let by_id = |id: u32| {
            out.records
                .iter()
                .find(|r| r.stream_id == Some(id))
                .unwrap()
        };
        let read = |b: &Option<BodyRecord>| {
            std::fs::read(dir.path().join(b.as_ref().unwrap().file.as_ref().unwrap())).unwrap()
        };

        let one = by_id(1);
        assert_eq!(one.uri.as_deref(), Some("/one"));
        assert_eq!(read(&one.response_body), b"hello world");
        assert!(one.complete);
        let pushed = by_id(2);
        assert_eq!(pushed.uri.as_deref(), Some("/pushed"));
        assert_eq!(
            pushed.notes,
            vec!["server push, promised on stream 1".to_string()]
        );
        assert_eq!(read(&pushed.response_body), b"pushed");
        let post = by_id(3);
        assert_eq!(read(&post.request_body), b"abc");
        assert_eq!(read(&post.response_body), b"abc");
        // The body's offset is that of its first byte, past the pad length.
        let at = c
            .windows(4)
            .position(|w| w == [4, b'a', b'b', b'c'])
            .unwrap()
            + 1;
        assert_eq!(post.request_body.as_ref().unwrap().offset, at as u64);
        let reset = by_id(5);
        let rb = reset.response_body.as_ref().unwrap();
        assert!(!rb.complete);
        assert_eq!(
            rb.incomplete,
            vec!["reset: RST_STREAM from the client (error code 8)".to_string()]
        );
        assert!(!reset.complete);
        let late = by_id(7);
        assert!(!late.complete);
        assert!(
            late.notes.iter().any(|n| n.starts_with("GOAWAY: stream 7")),
            "{:?}",
            late.notes
        );
        assert_eq!(
            out.records.iter().map(|r| r.stream_id).collect::<Vec<_>>(),
            [1, 2, 3, 5, 7].map(Some)
        );
        // Body files numbered by stream order.
        assert!(pushed
            .response_body
            .as_ref()
            .unwrap()
            .file
            .as_ref()
            .unwrap()
            .ends_with("-HTTPBODY-002.txt"));
    }

    #[test]
    fn hostile_frames_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..200u32 {
            let mut c = PREFACE.to_vec();
            c.extend((0..n).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
            let s: Vec<u8> = (0..n).map(|i| (i.wrapping_mul(40503) >> 3) as u8).collect();
            let _ = carve_flows(dir.path(), &c, &s);
        }
    }
}
