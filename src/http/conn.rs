//! Carving one connection: its request flow, then its response flow, paired
//! in order.
//!
//! Owns: walking each flow message by message, choosing each body's framing
//! (a response's from the request it answers), writing the bodies through
//! [`BodyWriter`], marking bodies that overlap a recorded gap, and building
//! the index records.
//!
//! The request flow is read first (bodies written, heads kept as small
//! records), then the response flow, which takes requests in order: HTTP/1.x
//! answers in order, so keep-alive and pipelining pair up. Interim (1xx)
//! responses are counted but take no request. A `101` or a `2xx` to
//! `CONNECT` ends HTTP on the connection; requests after it were tunnel data
//! and are dropped with their body files. A `101` to `h2c` whose request
//! flow goes on with the HTTP/2 connection preface hands the rest of both
//! flows to `h2` (the upgrade's own exchange takes stream 1's response).
//!
//! Must not: walk folders or write the index (see `mod.rs`).

use super::body::Target;
use super::body::{BodyWriter, Limits};
use super::growth::{captured_bytes, ConnGrowth};
use super::index::{gaps_within, BodyRecord, Record};
use super::message::{
    coding_list, content_range, read_chunked, read_head, request_plan, response_plan, resync,
    take_until_head, validator, ChunkEnd, Framing, Head, HeadRead, Plan, Side, StartLine, MAX_HEAD,
    MAX_LINE,
};
use super::multipart::{self, splits};
use super::name::{BodyKind, BodyName, FlowName, Folder};
use super::ranges::RangePart;
use super::stream::Stream;
use super::HttpOptions;
use crate::config::HttpNames;
use crate::error::Error;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::PathBuf;
use std::rc::Rc;

const HOLED_NOTE: &str = "zero-filled hole in a message head was cut out";
/// Note on a request or response whose head did not end within [`MAX_HEAD`] bytes.
fn oversized_note(what: &str) -> String {
    format!("{what} head longer than {MAX_HEAD} bytes: its fields were not read and its body was not carved")
}

/// One direction's flow file.
#[derive(Debug, Clone)]
pub(crate) struct FlowFile {
    /// The file's name (a validated flow-file name).
    pub name: String,
    /// The file's path.
    pub path: PathBuf,
    /// Zero-filled holes recorded by the capture pipeline, `(offset, len)`.
    pub gaps: Vec<(u64, u64)>,
}

/// The two directions of one connection, either possibly absent.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// The folder holding the flow files (body files go here too).
    pub dir: PathBuf,
    /// The client-to-server flow.
    pub request: Option<FlowFile>,
    /// The server-to-client flow.
    pub response: Option<FlowFile>,
    /// The folder's body names: which files a body may replace (see
    /// [`Folder`]), shared by every connection carved in `dir`.
    pub folder: Folder,
}

impl Connection {
    /// The connection's account of decoded growth in the run `opts` is
    /// armed for, credited with its flows' captured bytes.
    pub(crate) fn growth(&self, opts: &HttpOptions) -> ConnGrowth {
        let flows = [&self.request, &self.response];
        let flows = flows
            .into_iter()
            .flatten()
            .map(|f| (f.path.as_path(), f.gaps.as_slice()));
        ConnGrowth::new(opts.growth(), captured_bytes(flows))
    }
}

/// What carving a connection produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Index records in flow order.
    pub records: Vec<Record>,
    /// Files that could not be read or written.
    pub errors: Vec<Error>,
    /// HTTP messages parsed (requests, responses and interim responses).
    pub messages: u64,
    /// Body files written.
    pub bodies: u64,
    /// Bodies flagged incomplete.
    pub incomplete: u64,
    /// The `206` bodies, as parts of their resources (see `ranges`).
    pub ranges: Vec<RangePart>,
    /// A TLS connection carving tried to decrypt: the report's TLS line
    /// for each direction, `file` the flow file's full path (see
    /// `tls_lines`).
    pub tls: Vec<crate::output::tls_record::TlsRecord>,
}

/// A request as remembered for pairing.
struct Req {
    offset: u64,
    /// Where the request (head and body) ends in the request flow.
    end: u64,
    number: u64,
    head: Head,
    body: Option<BodyRecord>,
    notes: Vec<String>,
    /// Only the start line was read (see [`oversized_note`]).
    oversized: bool,
}

/// The flow a pass reads, and what its bodies are carved with.
#[derive(Clone, Copy)]
struct Pass<'a> {
    /// The connection (body files go into its folder).
    conn: &'a Connection,
    /// The flow file being read (names the body files; its gaps mark them).
    flow: &'a FlowFile,
    /// Decoding and limits.
    opts: &'a HttpOptions,
    /// The connection's share of the run's amplification bound.
    growth: &'a Rc<ConnGrowth>,
}

/// Carve every message of `conn`.
pub(crate) fn carve(conn: &Connection, opts: &HttpOptions) -> Outcome {
    let mut out = Outcome::default();
    let growth = &Rc::new(conn.growth(opts));
    let reqs = match &conn.request {
        Some(flow) => request_pass(
            Pass {
                conn,
                flow,
                opts,
                growth,
            },
            &mut out,
        ),
        None => Vec::new(),
    };
    // Requests not taken by a response are what is left in `reqs`.
    let mut reqs = reqs.into_iter();
    let mut records = Vec::new();
    if let Some(flow) = &conn.response {
        let tunnel;
        let pass = Pass {
            conn,
            flow,
            opts,
            growth,
        };
        let h2c;
        (records, tunnel, h2c) = response_pass(pass, &mut reqs, &mut out);
        if tunnel {
            drop_tunnel_data(conn, reqs.by_ref(), &mut out);
        }
        if let Some(start) = h2c {
            upgrade_to_h2(conn, opts, growth, start, &mut records, &mut out);
        }
    }
    let req_file = conn.request.as_ref().map(|f| f.name.clone());
    records.extend(reqs.map(|r| unanswered_request(req_file.clone(), r)));
    for rec in &records {
        let bodies = [&rec.request_body, &rec.response_body];
        out.incomplete += bodies.into_iter().flatten().filter(|b| !b.complete).count() as u64;
    }
    let key = conn
        .response
        .as_ref()
        .or(conn.request.as_ref())
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let community_id = FlowName::parse(&key).and_then(|n| n.community_id());
    for (i, r) in records.iter_mut().enumerate() {
        r.order = (key.clone(), i as u64);
        r.community_id.clone_from(&community_id);
        range_parts(&conn.dir, r, &mut out.ranges);
    }
    out.records = records;
    out
}

/// The range parts of a `206` response's body, added to `out`: the body
/// itself when it has a `Content-Range`, or each part of a
/// `multipart/byteranges` body that has one. Only bodies with a file
/// holding the bytes as sent, answering a request that names the resource,
/// are parts; a decoded body is noted and left out (its bytes are not the
/// range's).
fn range_parts(dir: &std::path::Path, r: &mut Record, out: &mut Vec<RangePart>) {
    if r.status != Some(206) {
        return;
    }
    let (Some(host), Some(uri), Some(flow), Some(number)) = (
        r.host.as_deref(),
        r.uri.clone(),
        r.response_file.clone(),
        r.response_number,
    ) else {
        return;
    };
    let Some(b) = r.response_body.as_mut() else {
        return;
    };
    let ranged = b.range.is_some() || b.parts.iter().any(|p| p.range.is_some());
    if !ranged || b.file.is_none() {
        return;
    }
    if b.decoded {
        b.notes
            .push("range part decoded from its Content-Encoding: not assembled".into());
        return;
    }
    let base = RangePart {
        host: host.to_ascii_lowercase(),
        uri,
        validator: r.validator.clone(),
        total: 0,
        start: 0,
        end: 0,
        folder: dir.to_path_buf(),
        order_file: r.order.0.clone(),
        order_number: r.order.1,
        flow,
        number,
        file: String::new(),
        content_type: String::new(),
        complete: b.complete,
    };
    // A byteranges body's parts, else the body itself. One response is
    // one resource (so one object name): parts claiming another total are
    // left out.
    let pieces: Vec<_> = if b.parts.iter().any(|p| p.range.is_some()) {
        b.parts
            .iter()
            .map(|p| (p.range, p.file.clone(), p.content_type.clone()))
            .collect()
    } else {
        vec![(b.range, b.file.clone(), b.content_type.clone())]
    };
    let total = pieces.iter().find_map(|p| p.0).map(|r| r.total);
    for (range, file, content_type) in pieces {
        let (Some(range), Some(file)) = (range, file) else {
            continue;
        };
        if Some(range.total) != total {
            b.notes.push(format!(
                "byteranges part {file} claims another total length: not assembled"
            ));
            continue;
        }
        out.push(RangePart {
            total: range.total.unwrap_or(u64::MAX),
            start: range.start,
            end: range.end,
            file,
            content_type: content_type.unwrap_or_default(),
            ..base.clone()
        });
    }
}

/// Carve the HTTP/2 that follows an upgrade by `Upgrade: h2c` at `start`
/// (see [`super::h2`]): the upgrade's own exchange (the last of
/// `records`, the `101` its interim response) takes the response of
/// stream 1, and the other streams follow it. When the request flow does
/// not go on with the connection preface, the connection stays a tunnel
/// from the `101` on, noted.
fn upgrade_to_h2(
    conn: &Connection,
    opts: &HttpOptions,
    growth: &Rc<ConnGrowth>,
    start: H2cStart,
    records: &mut Vec<Record>,
    out: &mut Outcome,
) {
    let Some(upgrade) = records.pop() else {
        return;
    };
    let preface = conn
        .request
        .as_ref()
        .is_some_and(|f| super::h2::preface_at(&f.path, start.request));
    if !preface {
        let mut upgrade = upgrade;
        upgrade.notes.push(format!(
            "upgrade to h2c not followed: no HTTP/2 connection preface at offset {} of the request flow",
            start.request
        ));
        records.push(upgrade);
        return;
    }
    let h2 = super::h2::carve_upgraded(conn, opts, growth, start, upgrade);
    out.messages += h2.messages;
    out.bodies += h2.bodies;
    out.errors.extend(h2.errors);
    records.extend(h2.records);
}

/// Whatever followed a tunnel's start in the request flow was not HTTP:
/// `reqs` are uncounted and their body files removed.
fn drop_tunnel_data(conn: &Connection, reqs: impl Iterator<Item = Req>, out: &mut Outcome) {
    for r in reqs {
        if let Some(file) = r.body.as_ref().and_then(|b| b.file.as_ref()) {
            let _ = fs::remove_file(conn.dir.join(file));
            out.bodies = out.bodies.saturating_sub(1);
        }
        out.messages = out.messages.saturating_sub(1);
    }
}

/// The record of a request no response answered.
fn unanswered_request(req_file: Option<String>, r: Req) -> Record {
    let mut rec = request_record(req_file, r);
    rec.notes.push("no response seen".into());
    rec.complete = false;
    rec
}

fn open(f: &FlowFile, out: &mut Outcome) -> Option<Stream<File>> {
    match File::open(&f.path) {
        Ok(file) => Some(Stream::new(file)),
        Err(source) => {
            out.errors.push(Error::Open {
                path: f.path.clone(),
                source,
            });
            None
        }
    }
}

fn read_error(f: &FlowFile, source: io::Error) -> Error {
    Error::Read {
        path: f.path.clone(),
        source,
    }
}

/// Bytes of a flow passed over while resynchronising, until the next
/// message takes note of them.
struct Skipped {
    /// Which flow: requests or responses.
    side: Side,
    /// Bytes passed over since the last note.
    bytes: u64,
    /// The flow's zero-filled holes, sorted: passed over whole.
    gaps: Vec<(u64, u64)>,
}

impl Skipped {
    /// Nothing skipped yet in a flow of `side` with zero-filled holes `gaps`.
    fn new(side: Side, gaps: &[(u64, u64)]) -> Skipped {
        Skipped {
            side,
            bytes: 0,
            gaps: gaps.to_vec(),
        }
    }

    /// Move `s` to the next place a message may start, counting the bytes
    /// passed over: the end of the zero-filled hole it is in (a message may
    /// start right after a hole), else the next line that could start one.
    /// False when the flow ends first.
    fn resync<R: Read>(&mut self, s: &mut Stream<R>) -> io::Result<bool> {
        let at = s.offset();
        let hole_end = self
            .gaps
            .iter()
            .map(|&(o, l)| (o, o.saturating_add(l)))
            .find(|&(o, e)| o <= at && at < e)
            .map(|(_, e)| e);
        if let Some(e) = hole_end {
            let n = s.take(e - at, |_| true)?;
            self.bytes += n;
            return Ok(n == e - at && !s.is_empty()?);
        }
        let (n, found) = resync(s, self.side)?;
        self.bytes += n;
        Ok(found)
    }

    /// The note for a message that follows skipped bytes (`None` when none
    /// were skipped); counting starts afresh.
    fn take_note(&mut self) -> Option<String> {
        let n = std::mem::take(&mut self.bytes);
        let what = match self.side {
            Side::Request => "request",
            Side::Response => "response",
        };
        (n > 0).then(|| format!("{n} bytes of {what} flow skipped before this {what}"))
    }
}

/// The next message head in `s`, and whether it is oversized (only its
/// start line was read); garbage before it is skipped and counted. `None`
/// at the end of the flow.
fn next_head<R: Read>(
    s: &mut Stream<R>,
    skipped: &mut Skipped,
) -> io::Result<Option<(Head, bool)>> {
    loop {
        match read_head(s, skipped.side)? {
            HeadRead::End => return Ok(None),
            HeadRead::Garbage => {
                if !skipped.resync(s)? {
                    return Ok(None);
                }
            }
            HeadRead::Head(head) => return Ok(Some((head, false))),
            HeadRead::Oversized(head) => return Ok(Some((head, true))),
        }
    }
}

/// Read the request flow: each request's body carved, the requests kept
/// in order for pairing. A read error ends the pass and is listed in `out`.
fn request_pass(pass: Pass<'_>, out: &mut Outcome) -> Vec<Req> {
    let mut reqs = Vec::new();
    let Some(mut s) = open(pass.flow, out) else {
        return reqs;
    };
    if let Err(e) = read_requests(pass, &mut s, &mut reqs, out) {
        out.errors.push(read_error(pass.flow, e));
    }
    reqs
}

/// [`request_pass`]'s loop: each request in `s` is appended to `reqs`.
fn read_requests<R: Read>(
    pass: Pass<'_>,
    s: &mut Stream<R>,
    reqs: &mut Vec<Req>,
    out: &mut Outcome,
) -> io::Result<()> {
    let mut skipped = Skipped::new(Side::Request, &pass.flow.gaps);
    while let Some((head, oversized)) = next_head(s, &mut skipped)? {
        // An oversized request is counted too, so that its response pairs
        // with it and not with the next request.
        out.messages += 1;
        let number = reqs.len() as u64 + 1;
        let mut notes: Vec<String> = skipped.take_note().into_iter().collect();
        let (offset, body, bad) = if oversized {
            notes.push(oversized_note("request"));
            // Its body's framing is unknown: resynchronise.
            (s.offset(), None, true)
        } else {
            let offset = s.offset() - head.len as u64;
            if head.holed {
                notes.push(HOLED_NOTE.into());
            }
            let job = BodyJob {
                kind: BodyKind::Request,
                number,
                head: &head,
                uri: request_target(&head),
                plan: request_plan(&head),
            };
            let (body, bad) = pass.carve_body(s, job, out)?;
            (offset, body, bad)
        };
        reqs.push(Req {
            offset,
            end: s.offset(),
            number,
            head,
            body,
            notes,
            oversized,
        });
        if bad && !skipped.resync(s)? {
            break;
        }
    }
    Ok(())
}

/// Read the response flow, pairing each final response with the next of
/// `reqs` (the requests it takes are consumed; the rest are left). Returns
/// the records, whether a tunnel started and, when it is an upgrade to
/// HTTP/2 (`101` with `Upgrade: h2c`), where HTTP/2 starts in the request
/// and the response flow. A read error ends the pass and is listed in `out`.
fn response_pass(
    pass: Pass<'_>,
    reqs: &mut impl Iterator<Item = Req>,
    out: &mut Outcome,
) -> (Vec<Record>, bool, Option<H2cStart>) {
    let Some(mut s) = open(pass.flow, out) else {
        return (Vec::new(), false, None);
    };
    let mut walk = ResponseWalk {
        pass,
        req_file: pass.conn.request.as_ref().map(|f| f.name.clone()),
        number: 0,
        skipped: Skipped::new(Side::Response, &pass.flow.gaps),
        interim: Vec::new(),
        records: Vec::new(),
        tunnel: false,
        h2c_request_end: None,
        h2c: None,
    };
    if let Err(e) = walk.run(&mut s, reqs, out) {
        out.errors.push(read_error(pass.flow, e));
    }
    (walk.records, walk.tunnel, walk.h2c)
}

/// Where HTTP/2 starts on a connection upgraded by `Upgrade: h2c`: in the
/// request flow right after the upgrade request (the client's connection
/// preface), in the response flow right after the `101`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct H2cStart {
    /// Offset in the request flow.
    pub request: u64,
    /// Offset in the response flow.
    pub response: u64,
}

/// The response pass's state, carried from one response to the next.
struct ResponseWalk<'a> {
    pass: Pass<'a>,
    /// The request flow's name, for the records.
    req_file: Option<String>,
    /// Responses read so far, interim ones included (the `NNN` of body files).
    number: u64,
    skipped: Skipped,
    /// Interim statuses waiting for their final response.
    interim: Vec<u16>,
    records: Vec<Record>,
    /// A tunnel started: the response flow is no longer HTTP.
    tunnel: bool,
    /// The tunnel is an upgrade to h2c: where its request ended.
    h2c_request_end: Option<u64>,
    /// The tunnel is an upgrade to h2c: where HTTP/2 starts.
    h2c: Option<H2cStart>,
}

impl ResponseWalk<'_> {
    /// Walk `s` to its end (or a tunnel's start), recording each final
    /// response with the next of `reqs`.
    fn run<R: Read>(
        &mut self,
        s: &mut Stream<R>,
        reqs: &mut impl Iterator<Item = Req>,
        out: &mut Outcome,
    ) -> io::Result<()> {
        while let Some((head, oversized)) = next_head(s, &mut self.skipped)? {
            out.messages += 1;
            self.number += 1;
            let offset = s.offset() - head.len as u64;
            let status = head.status().unwrap_or(0);
            if (100..200).contains(&status) && status != 101 {
                // Interim: takes no request, recorded with the final response.
                self.interim.push(status);
                continue;
            }
            let bad = self.final_response(s, head, oversized, offset, reqs.next(), out)?;
            if self.tunnel {
                self.h2c = self.h2c_request_end.map(|request| H2cStart {
                    request,
                    response: s.offset(),
                });
                break;
            }
            if bad && !self.skipped.resync(s)? {
                break;
            }
        }
        self.unanswered_interim();
        Ok(())
    }

    /// A final response at `offset`: carve its body, pair it with `req`
    /// (the next request, if any is left) and record the pair. Returns
    /// whether framing broke so the walk must resynchronise.
    fn final_response<R: Read>(
        &mut self,
        s: &mut Stream<R>,
        head: Head,
        oversized: bool,
        offset: u64,
        req: Option<Req>,
        out: &mut Outcome,
    ) -> io::Result<bool> {
        let method = req
            .as_ref()
            .and_then(|r| r.head.method().map(str::to_string));
        let (mut body, bad) = if oversized {
            // Its fields (and so its body's framing) are unknown.
            (None, true)
        } else {
            let job = BodyJob {
                kind: BodyKind::Response,
                number: self.number,
                head: &head,
                uri: req.as_ref().and_then(|r| request_target(&r.head)),
                plan: response_plan(&head, method.as_deref()),
            };
            self.pass.carve_body(s, job, out)?
        };
        if head.status() == Some(206) {
            if let Some(b) = &mut body {
                b.range = head.header("content-range").and_then(content_range);
            }
        }
        let req_oversized = req.as_ref().is_some_and(|r| r.oversized);
        if head.status() == Some(101) && !oversized && upgrades_to_h2c(&head) {
            self.h2c_request_end = req.as_ref().map(|r| r.end);
        }
        let mut rec = match req {
            Some(r) => request_record(self.req_file.clone(), r),
            None => Record {
                notes: vec!["no request seen".into()],
                ..Record::default()
            },
        };
        self.add_response(&mut rec, &head, offset, oversized, body);
        rec.validator = validator(&head);
        let status = rec.status.unwrap_or(0);
        if opens_tunnel(method.as_deref(), status) {
            rec.notes
                .push("connection leaves HTTP here (tunnel or protocol switch)".into());
            self.tunnel = true;
        }
        rec.complete = rec.request_file.is_some()
            && !oversized
            && !req_oversized
            && rec.method.is_some()
            && [&rec.request_body, &rec.response_body]
                .into_iter()
                .flatten()
                .all(|b| b.complete);
        self.records.push(rec);
        Ok(bad)
    }

    /// Fill in `rec`'s response half: the final response at `offset` with
    /// `head` and `body`, the interim responses before it, and notes on its
    /// head and on bytes skipped before it.
    fn add_response(
        &mut self,
        rec: &mut Record,
        head: &Head,
        offset: u64,
        oversized: bool,
        body: Option<BodyRecord>,
    ) {
        rec.response_file = Some(self.pass.flow.name.clone());
        rec.response_offset = Some(offset);
        rec.response_number = Some(self.number);
        rec.status = Some(head.status().unwrap_or(0));
        if let StartLine::Response { reason, .. } = &head.start {
            rec.reason = Some(reason.clone());
        }
        rec.response_version = Some(format!("HTTP/1.{}", head.version));
        rec.interim = std::mem::take(&mut self.interim);
        if head.holed {
            rec.notes.push(HOLED_NOTE.into());
        }
        if oversized {
            rec.notes.push(oversized_note("response"));
        }
        rec.response_body = body;
        rec.notes.extend(self.skipped.take_note());
    }

    /// Interim responses with no final response after them (the flow
    /// ended): a record of their own.
    fn unanswered_interim(&mut self) {
        if self.interim.is_empty() {
            return;
        }
        let rec = Record {
            response_file: Some(self.pass.flow.name.clone()),
            interim: std::mem::take(&mut self.interim),
            notes: vec!["interim responses with no final response".into()],
            ..Record::default()
        };
        self.records.push(rec);
    }
}

/// Whether a `101` response switches to cleartext HTTP/2: its `Upgrade`
/// names `h2c`.
fn upgrades_to_h2c(head: &Head) -> bool {
    head.header_list("upgrade").is_some_and(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"))
    })
}

/// Whether a response with `status` to a request with `method` ends HTTP
/// on the connection: `101 Switching Protocols`, or a `2xx` to `CONNECT`.
fn opens_tunnel(method: Option<&str>, status: u16) -> bool {
    let connect_ok =
        method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT")) && (200..300).contains(&status);
    status == 101 || connect_ok
}

fn request_record(req_file: Option<String>, r: Req) -> Record {
    let (method, uri) = match &r.head.start {
        StartLine::Request { method, uri } => (Some(method.clone()), Some(uri.clone())),
        StartLine::Response { .. } => (None, None),
    };
    let host = r
        .head
        .header("host")
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .or_else(|| {
            let u = uri.as_deref()?;
            let rest = u
                .strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://"))?;
            Some(rest.split('/').next().unwrap_or(rest).to_string())
        });
    let complete = !r.oversized && !matches!(&r.body, Some(b) if !b.complete);
    Record {
        request_file: req_file,
        request_offset: Some(r.offset),
        request_number: Some(r.number),
        method,
        host,
        uri,
        request_version: Some(format!("HTTP/1.{}", r.head.version)),
        request_body: r.body,
        complete,
        notes: r.notes,
        ..Record::default()
    }
}

/// One message's body to carve: the bytes after `head`, framed per `plan`.
struct BodyJob<'h> {
    /// Request or response body (names the body file).
    kind: BodyKind,
    /// The message's 1-based number in its flow (names the body file).
    number: u64,
    /// The message head: content type and codings.
    head: &'h Head,
    /// The request target (the request's own, or the one a response
    /// answers), for `--http-names url`.
    uri: Option<&'h str>,
    /// Framing, declared length and the notes the framing decision made.
    plan: Plan,
}

/// What copying a body's wire bytes found.
#[derive(Default)]
struct Copied {
    /// Why the body is incomplete, in the order found.
    incomplete: Vec<String>,
    /// Other observations (trailer fields).
    notes: Vec<String>,
    /// Framing broke: the caller must resynchronise.
    bad: bool,
}

/// Copy the body framed by `framing` from `s` into `w`. Once `w` wants no
/// more bytes, the rest of the body is still read past. `gaps` are the
/// flow's zero-filled holes: a body read to the end of the flow that has
/// one ends at the first message head of `side` after it, if there is one.
fn copy_body<R: Read>(
    s: &mut Stream<R>,
    framing: Framing,
    w: &mut BodyWriter,
    gaps: &[(u64, u64)],
    side: Side,
) -> io::Result<Copied> {
    let mut c = Copied::default();
    let mut want = true;
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            let got = s.take(n, |b| {
                if want {
                    want = w.write(b);
                }
                true
            })?;
            if got < n {
                c.incomplete
                    .push(format!("eof: flow ends after {got} of {n} body bytes"));
            }
        }
        Framing::Close => {
            let start = s.offset();
            let gap_end = gaps
                .iter()
                .map(|&(o, l)| o.saturating_add(l))
                .find(|&e| e > start);
            let mut write = |b: &[u8]| {
                if want {
                    want = w.write(b);
                }
                true
            };
            match gap_end {
                None => {
                    s.take(u64::MAX, write)?;
                }
                Some(e) => {
                    // Past the hole, a message head means the hole hid the
                    // body's real end (or its head's framing fields).
                    s.take(e - start, &mut write)?;
                    if take_until_head(s, side, write)? {
                        c.notes.push(
                            "body read to the end of the flow cut at a message head found after the gap"
                                .into(),
                        );
                    }
                }
            }
        }
        Framing::Chunked => {
            let start = s.offset();
            let (end, trailers) = read_chunked(s, |b| w.write(b))?;
            match end {
                ChunkEnd::Done | ChunkEnd::Stopped => {}
                ChunkEnd::Eof => c
                    .incomplete
                    .push("eof: flow ends inside the chunked body".into()),
                ChunkEnd::Bad if gap_near(gaps, start, s.offset()) => {
                    // The hole took the chunk framing with it: the body
                    // runs to the next message head, its bytes past the
                    // hole unknown.
                    let from = s.offset();
                    let found = take_until_head(s, side, |_| true)?;
                    c.incomplete.push(format!(
                        "bad chunk: chunk framing lost in the gap, {} bytes passed over{}",
                        s.offset() - from,
                        if found {
                            " to the next message head"
                        } else {
                            " to the end of the flow"
                        }
                    ));
                }
                ChunkEnd::Bad => {
                    c.incomplete
                        .push("bad chunk: invalid chunk-size line".into());
                    c.bad = true;
                }
            }
            if !trailers.is_empty() {
                let names: Vec<&str> = trailers.iter().map(|(n, _)| n.as_str()).collect();
                c.notes
                    .push(format!("trailer fields: {}", names.join(", ")));
            }
        }
    }
    Ok(c)
}

/// Whether a gap lies in `[start, at]` or within a chunk-size line's
/// reach after `at`: framing that broke at `at` broke on it.
fn gap_near(gaps: &[(u64, u64)], start: u64, at: u64) -> bool {
    let reach = at.saturating_add(MAX_LINE as u64 + 2);
    !gaps_within(gaps, start, reach).is_empty()
}

/// The request target of a request head.
fn request_target(head: &Head) -> Option<&str> {
    match &head.start {
        StartLine::Request { uri, .. } => Some(uri.as_str()),
        _ => None,
    }
}

/// The name asked for the body of message `number` of `flow` (a validated
/// flow-file name): tcpflow's, or with `HttpNames::Url` tshark's after
/// `uri` when it gives one.
pub(crate) fn body_name(
    names: HttpNames,
    flow: &str,
    kind: BodyKind,
    number: u64,
    content_type: Option<&[u8]>,
    uri: Option<&str>,
) -> BodyName {
    let url = match names {
        HttpNames::Url => uri.and_then(BodyName::url),
        HttpNames::Tcpflow => None,
    };
    url.unwrap_or_else(|| BodyName::tcpflow(flow, kind, number, content_type))
}

/// Which flow a body of `kind` is in.
fn side_of(kind: BodyKind) -> Side {
    match kind {
        BodyKind::Request => Side::Request,
        BodyKind::Response => Side::Response,
    }
}

impl Pass<'_> {
    /// Carve the body `job` describes from `s`, writing its body file.
    /// Returns its record (`None` when the framing says there is no body)
    /// and whether framing broke so the caller must resynchronise.
    fn carve_body<R: Read>(
        &self,
        s: &mut Stream<R>,
        job: BodyJob<'_>,
        out: &mut Outcome,
    ) -> io::Result<(Option<BodyRecord>, bool)> {
        let BodyJob {
            kind,
            number,
            head,
            uri,
            plan,
        } = job;
        let framing_name = match plan.framing {
            Framing::None => {
                return Ok((None, false));
            }
            Framing::Length(_) => "length",
            Framing::Chunked => "chunked",
            Framing::Close => "close",
        };
        let content_type = head.header("content-type");
        let asked = body_name(
            self.opts.names,
            &self.flow.name,
            kind,
            number,
            content_type,
            uri,
        );
        let target = Target {
            dir: self.conn.dir.clone(),
            name: asked.clone(),
            folder: self.conn.folder.clone(),
        };
        let encoding = head.header_list("content-encoding");
        let (codings, coding_notes) = coding_list(head, "content-encoding", "Content-Encoding");
        let limits = Limits {
            max_bytes: self.opts.max_decoded_bytes,
            max_ratio: self.opts.max_ratio,
            growth: self.growth.clone(),
        };
        let mut w = BodyWriter::new(target, &codings, self.opts.decode, limits);
        let start = s.offset();
        let Copied {
            mut incomplete,
            notes: copy_notes,
            bad,
        } = copy_body(s, plan.framing, &mut w, &self.flow.gaps, side_of(kind))?;
        let mut notes = plan.notes;
        notes.extend(coding_notes);
        notes.extend(copy_notes);
        let end = s.offset();
        if head.holed {
            incomplete.push(
                "gap in the message head: fields may be missing, framing and codings are a guess"
                    .into(),
            );
        }
        let gaps = gaps_within(&self.flow.gaps, start, end);
        if !gaps.is_empty() {
            let bytes: u64 = gaps.iter().map(|g| g[1]).sum();
            incomplete.insert(
                0,
                format!(
                    "gap: body overlaps {} zero-filled hole(s) in the flow, {bytes} bytes",
                    gaps.len()
                ),
            );
        }
        let r = w.finish();
        incomplete.extend(r.incomplete);
        notes.extend(r.notes);
        let name = r.file.clone().unwrap_or_else(|| asked.nth(0));
        if let Some(source) = r.io_error {
            let path = self.conn.dir.join(&name);
            out.errors.push(Error::Write { path, source });
        }
        if r.file_written {
            out.bodies += 1;
        }
        let mut parts = Vec::new();
        if let (true, Some(ct)) = (r.file_written, content_type.filter(|c| splits(c))) {
            let stem = BodyName::tcpflow(&self.flow.name, kind, number, None).nth(0);
            let split = multipart::split(&self.conn.dir, &self.conn.folder, &name, &stem, ct);
            parts = split.parts;
            notes.extend(split.notes);
            if !parts.is_empty() && !incomplete.is_empty() {
                notes.push("parts of an incomplete body: the last one may be cut short".into());
            }
            out.errors.extend(split.errors);
        }
        let text = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
        Ok((
            Some(BodyRecord {
                file: r.file_written.then_some(name),
                offset: start,
                wire_length: end - start,
                framing: framing_name.to_string(),
                content_type: text(content_type),
                content_encoding: text(encoding.as_deref()),
                transfer_encoding: text(head.header_list("transfer-encoding").as_deref()),
                declared_length: plan.declared,
                encoded_length: r.encoded_len,
                decoded_length: r.decoded_len,
                decoded: r.decoded,
                sha256: r.sha256,
                complete: incomplete.is_empty(),
                incomplete,
                notes,
                gaps,
                range: None,
                parts,
            }),
            bad,
        ))
    }
}
