//! Benchmark captures: many interleaved HTTP/1.1 connections generated from
//! a seed, streamed into a classic pcap, together with the list of what
//! every direction must contain (tcpflow-style file name, byte count,
//! sha256), and the check of an output folder against that list.
//!
//! This module owns the benchmark's traffic model and its verdict; it builds
//! frames only through [`TcpConversation`] and writes them only through
//! [`PcapWriter`], and, like the rest of this crate, uses nothing of
//! flowsplit, so a benchmark run is independent evidence that the output is right.
//!
//! The model, per connection (numbered 0, 1, ... in opening order):
//!
//! ```text
//! SYN, SYN+ACK, ACK                                  one step, when it opens
//! request 1  ──▶  in bursts of up to `burst` MSS-sized segments, each burst
//! ◀──  response 1      followed by a pure ACK from the receiver: one step each
//! ...  (`exchanges` request/response pairs, keep-alive)
//! FIN, FIN, ACK                                      one step, after the last response
//! ```
//!
//! At most `concurrency` connections are open at once; the next one opens
//! (all of its handshake at once) as soon as one closes, so with
//! `concurrency == connections` every connection opens before any closes.
//! Each step belongs to an open connection picked at random. Inside a burst,
//! a segment is swapped with its successor with probability `reorder_rate`,
//! and repeated after its successor with probability `retransmit_rate`.
//!
//! Memory is bounded by the open connections, never by the capture: each
//! holds a [`TcpConversation`] without frame buffers (one shared
//! [`FrameBuilder`](super::FrameBuilder) is swapped in for each step), two
//! running sha256 states and a few counters, about half a kilobyte. A
//! direction's expected line is written when its connection closes.
//!
//! ```
//! use flowsplit_synth::bench::{generate, BenchParams, Shape};
//!
//! let params = BenchParams::shape(Shape::Small).with_connections(3);
//! let (mut pcap, mut tsv) = (Vec::new(), Vec::new());
//! let summary = generate(&params, &mut pcap, &mut tsv).unwrap();
//! assert_eq!(summary.directions, 6);
//! assert_eq!(String::from_utf8(tsv).unwrap().lines().count(), 6);
//! assert_eq!(summary.capture_bytes, pcap.len() as u64);
//! ```

use super::{Clock, Link, PacketSink, PcapFormat, PcapWriter, Side, TcpConversation};
use crate::Timestamp;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

/// What to generate. Ranges are inclusive `(low, high)`; every random draw
/// comes from `seed`, so equal parameters give byte-identical captures.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchParams {
    /// Seed of every random choice.
    pub seed: u64,
    /// Connections in the capture.
    pub connections: u64,
    /// Connections open at once (at most; 1 = one after the other).
    pub concurrency: u64,
    /// Request/response pairs per connection.
    pub exchanges: (u32, u32),
    /// Request body bytes (0 = a GET without body, else a POST).
    pub request_body: (u64, u64),
    /// Response body bytes.
    pub response_body: (u64, u64),
    /// Probability that a data segment is swapped with the next one of its burst.
    pub reorder_rate: f64,
    /// Probability that a data segment is sent again after the next one of its burst.
    pub retransmit_rate: f64,
    /// Largest TCP payload per segment.
    pub mss: usize,
    /// Most segments a sender sends before the receiver acknowledges.
    pub burst: usize,
    /// Capture time of the first frame.
    pub start: Timestamp,
    /// Capture time between consecutive frames, in nanoseconds.
    pub frame_gap_nanos: u64,
    /// Put every address in 127.0.0.0/8 (clients from 127.1.0.1 up,
    /// servers 127.0.1.1 to 127.0.4.250) instead of 10.0.0.0/8 and
    /// 192.168.0.0/16, so the capture can be replayed onto the loopback
    /// interface. The traffic is otherwise the same.
    pub loopback: bool,
    /// Plant this many searchable tokens (`FSGREP-NNNNNN-TK`, 16 bytes)
    /// in the first response of the first connections whose response is
    /// long enough: the even-numbered ones straddle the boundary between
    /// the response's first two segments (8 bytes in each), the odd ones
    /// lie inside its second segment. 0 plants none (the traffic is then
    /// exactly as without this field).
    pub plant: u64,
}

/// Predefined traffic shapes (the ones issues 5 and 11 ask to measure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Many small connections: 80,000 connections, 500 open at once, one to
    /// four keep-alive exchanges with responses of 1-12 KB: about 1.5 GB.
    Small,
    /// Few large connections: 1,500 connections, 50 open at once, one to
    /// three exchanges with responses of 200 KB-1 MB: about 2 GB.
    Large,
    /// 1,000,000 connections all open before any closes, one exchange each
    /// with tiny bodies: about 1.1 GB.
    ConcurrentMillion,
    /// The small shape's traffic over 20,000 connections with 4,096 open at
    /// once (issue 11's memory budget): about 0.39 GB.
    Open4096,
    /// [`Shape::ConcurrentMillion`]'s tiny exchanges over 200,000
    /// connections, all open before any closes (issue 11): about 0.22 GB.
    Open200k,
}

impl BenchParams {
    /// The parameters of `shape`: seed 1, MSS 1460, bursts of 10 segments,
    /// 1% reordering, 0.5% retransmissions, 20 µs between frames.
    pub fn shape(shape: Shape) -> Self {
        let base = BenchParams {
            seed: 1,
            connections: 80_000,
            concurrency: 500,
            exchanges: (1, 4),
            request_body: (0, 400),
            response_body: (1_000, 12_000),
            reorder_rate: 0.01,
            retransmit_rate: 0.005,
            mss: 1460,
            burst: 10,
            start: Timestamp::new(1_700_000_000, 0),
            frame_gap_nanos: 20_000,
            loopback: false,
            plant: 0,
        };
        match shape {
            Shape::Small => base,
            Shape::Large => BenchParams {
                connections: 1_500,
                concurrency: 50,
                exchanges: (1, 3),
                request_body: (0, 2_000),
                response_body: (200_000, 1_060_000),
                ..base
            },
            Shape::ConcurrentMillion => BenchParams {
                connections: 1_000_000,
                concurrency: 1_000_000,
                exchanges: (1, 1),
                request_body: (0, 0),
                response_body: (0, 64),
                frame_gap_nanos: 1_000,
                ..base
            },
            Shape::Open4096 => BenchParams {
                connections: 20_000,
                concurrency: 4_096,
                ..base
            },
            // Still all open at once: with_connections keeps concurrency
            // equal to the connection count when it was.
            Shape::Open200k => Self::shape(Shape::ConcurrentMillion).with_connections(200_000),
        }
    }

    /// The same traffic with `connections` connections; concurrency is cut
    /// to it, and kept equal to it when it was (all open at once).
    pub fn with_connections(mut self, connections: u64) -> Self {
        let all_open = self.concurrency >= self.connections;
        self.connections = connections.max(1);
        if all_open || self.concurrency > self.connections {
            self.concurrency = self.connections;
        }
        self
    }

    /// Multiply the capture's length by `factor`: the connection count is
    /// scaled (rounded, at least 1), the shape of each connection is not, so
    /// `scaled(2.0)` is the same traffic going on twice as long.
    pub fn scaled(self, factor: f64) -> Self {
        let n = (self.connections as f64 * factor).round().max(1.0) as u64;
        self.with_connections(n)
    }

    fn check(&self) -> io::Result<()> {
        let bad = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, why.to_string()));
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.mss == 0 || self.mss > 65_000 || self.burst == 0 {
            return bad("mss must be 1..=65000 and burst at least 1");
        }
        if self.exchanges.0 == 0 || self.exchanges.0 > self.exchanges.1 {
            return bad("exchanges must be a range (low, high) with 1 <= low <= high");
        }
        if self.request_body.0 > self.request_body.1 || self.response_body.0 > self.response_body.1
        {
            return bad("body size ranges must be (low, high) with low <= high");
        }
        if !(0.0..=1.0).contains(&self.reorder_rate) || !(0.0..=1.0).contains(&self.retransmit_rate)
        {
            return bad("reorder and retransmit rates must be between 0 and 1");
        }
        // Client addresses 10.0.0.1 (127.1.0.1) upwards, 30,000 ports each:
        // stay in 10/8 (127/8).
        if self.connections > 30_000 * 0x00fe_fff0 {
            return bad("too many connections for distinct client addresses in 10.0.0.0/8");
        }
        Ok(())
    }
}

/// What a [`generate`] call wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Connections generated.
    pub connections: u64,
    /// Directions listed in the expected file (two per connection).
    pub directions: u64,
    /// Frames in the capture.
    pub frames: u64,
    /// Size of the capture file in bytes.
    pub capture_bytes: u64,
    /// Stream bytes over all directions (what the flow files must hold).
    pub payload_bytes: u64,
    /// Most connections open at once.
    pub peak_open: u64,
    /// The tokens planted ([`BenchParams::plant`]) and whether each
    /// straddles two segments.
    pub planted: Vec<(String, bool)>,
}

/// The tcpflow file name of the direction from `src` to `dst`
/// (`%A.%a-%B.%b`: 3-digit octets, 5-digit ports), e.g.
/// `010.000.000.001.20000-192.168.001.002.00080`.
pub fn flow_file_name(src: SocketAddrV4, dst: SocketAddrV4) -> String {
    let mut s = String::with_capacity(43);
    for (i, ep) in [src, dst].iter().enumerate() {
        if i == 1 {
            s.push('-');
        }
        let o = ep.ip().octets();
        let _ = write!(
            s,
            "{:03}.{:03}.{:03}.{:03}.{:05}",
            o[0],
            o[1],
            o[2],
            o[3],
            ep.port()
        );
    }
    s
}

/// Write the capture described by `params` to `capture` (classic pcap,
/// Ethernet, microsecond timestamps) and one line per direction to
/// `expected`: `file name TAB byte count TAB sha256 (lower-case hex)`, in the
/// order connections close. Both writers get many small writes: give them
/// buffered writers.
pub fn generate<W: Write, E: Write>(
    params: &BenchParams,
    capture: W,
    mut expected: E,
) -> io::Result<Summary> {
    params.check()?;
    let pcap = PcapWriter::new(
        CountingWriter {
            inner: capture,
            bytes: 0,
        },
        PcapFormat::default(),
        Link::ethernet().linktype(),
    )?;
    let mut out = CountingSink { pcap, frames: 0 };
    let mut g = Generator {
        p: params,
        rng: Rng(mix64(params.seed ^ 0x6265_6e63_685f_6765)),
        builder: super::FrameBuilder::new(Link::ethernet()),
        unused_builder: super::FrameBuilder::new(Link::ethernet()),
        clock: Clock::new(params.start, params.frame_gap_nanos),
        head: Vec::with_capacity(256),
        buf: vec![0; params.mss * params.burst],
        order: Vec::with_capacity(2 * params.burst),
    };
    let mut summary = Summary::default();
    let cap = params.concurrency.min(params.connections);
    let mut open: Vec<Conn> = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
    let mut next_id = 0u64;
    loop {
        while (open.len() as u64) < params.concurrency && next_id < params.connections {
            open.push(g.open(next_id, &mut out)?);
            next_id += 1;
            summary.peak_open = summary.peak_open.max(open.len() as u64);
        }
        if open.is_empty() {
            break;
        }
        let k = g.rng.below(open.len() as u64) as usize;
        if g.step(&mut open[k], &mut out, &mut summary.planted)? {
            let c = open.swap_remove(k);
            for side in [Side::Client, Side::Server] {
                let (name, bytes, sha) = c.expected(side);
                writeln!(expected, "{name}\t{bytes}\t{sha}")?;
                summary.payload_bytes += bytes;
                summary.directions += 1;
            }
            summary.connections += 1;
        }
    }
    expected.flush()?;
    summary.frames = out.frames;
    let mut w = out.pcap.into_inner();
    w.flush()?;
    summary.capture_bytes = w.bytes;
    Ok(summary)
}

/// One direction as the expected file lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// File name relative to the output folder.
    pub file: String,
    /// Byte count.
    pub bytes: u64,
    /// sha256, lower-case hex.
    pub sha256: String,
}

/// Read an expected file written by [`generate`].
pub fn read_expected(r: impl BufRead) -> io::Result<Vec<Expected>> {
    let mut v = Vec::new();
    for (n, line) in r.lines().enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let mut f = line.split('\t');
        let parsed = match (f.next(), f.next(), f.next(), f.next()) {
            (Some(file), Some(bytes), Some(sha), None) if sha.len() == 64 => {
                bytes.parse().ok().map(|bytes| Expected {
                    file: file.to_string(),
                    bytes,
                    sha256: sha.to_string(),
                })
            }
            _ => None,
        };
        v.push(parsed.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "expected file, line {}: not `name<TAB>bytes<TAB>sha256`",
                    n + 1
                ),
            )
        })?);
    }
    Ok(v)
}

/// The outcome of [`verify`]: every list holds file names (with a reason
/// for `wrong`), sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Directions expected.
    pub expected: usize,
    /// Files whose size and sha256 are right.
    pub matched: usize,
    /// Expected files that are not there.
    pub missing: Vec<String>,
    /// Files there with the wrong size or content: `name: why`.
    pub wrong: Vec<String>,
    /// Files there that were not expected.
    pub extra: Vec<String>,
    /// Report lines that disagree with the expected list (when a report was checked).
    pub report: Vec<String>,
}

impl Verdict {
    /// True when every expected file is there with the right content, there
    /// is nothing else, and the report (if checked) agrees.
    pub fn ok(&self) -> bool {
        self.matched == self.expected
            && self.missing.is_empty()
            && self.wrong.is_empty()
            && self.extra.is_empty()
            && self.report.is_empty()
    }

    /// A few lines saying what is wrong (empty when [`Verdict::ok`]).
    pub fn describe(&self, max_names: usize) -> String {
        let mut s = String::new();
        for (what, list) in [
            ("missing", &self.missing),
            ("wrong", &self.wrong),
            ("extra", &self.extra),
            ("report", &self.report),
        ] {
            if !list.is_empty() {
                let shown: Vec<&str> = list.iter().take(max_names).map(String::as_str).collect();
                let more = list.len().saturating_sub(max_names);
                let _ = write!(s, "{what} ({}): {}", list.len(), shown.join(", "));
                if more > 0 {
                    let _ = write!(s, ", ... {more} more");
                }
                s.push('\n');
            }
        }
        s
    }
}

/// Check the flow files under `dir` against `expected`: each must exist with
/// the listed size and sha256 (hashed here from the file, in parallel), and
/// no other file may exist except those named in `ignore` (e.g. the report).
/// With `report`, also check that the JSON Lines report there has exactly one
/// line per expected direction with the same `file`, `bytes` and `sha256`.
pub fn verify(
    expected: &[Expected],
    dir: &Path,
    ignore: &[&str],
    report: Option<&Path>,
) -> io::Result<Verdict> {
    let mut want: HashMap<&str, &Expected> = HashMap::with_capacity(expected.len());
    for e in expected {
        if want.insert(e.file.as_str(), e).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("expected file lists {} twice", e.file),
            ));
        }
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(io::Error::from)?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        files.push(rel.to_string_lossy().into_owned());
    }
    let mut v = Verdict {
        expected: expected.len(),
        ..Verdict::default()
    };
    // A set: with `-e http` the names to ignore are as many as the files.
    let ignore: HashSet<&str> = ignore.iter().copied().collect();
    let mut to_hash = Vec::new();
    for f in &files {
        if ignore.contains(f.as_str()) {
            continue;
        }
        match want.get(f.as_str()) {
            Some(e) => to_hash.push((f.as_str(), *e)),
            None => v.extra.push(f.clone()),
        }
    }
    let checked: Vec<(String, Option<String>)> = to_hash
        .par_iter()
        .map(|(f, e)| {
            let why = match sha256_file(&dir.join(f)) {
                Err(err) => Some(format!("{f}: {err}")),
                Ok((n, _)) if n != e.bytes => Some(format!("{f}: {n} bytes, expected {}", e.bytes)),
                Ok((_, h)) if h != e.sha256 => Some(format!("{f}: sha256 differs")),
                Ok(_) => None,
            };
            (f.to_string(), why)
        })
        .collect();
    for (f, why) in checked {
        want.remove(f.as_str());
        match why {
            Some(w) => v.wrong.push(w),
            None => v.matched += 1,
        }
    }
    v.missing = want.keys().map(|s| s.to_string()).collect();
    v.missing.sort();
    if let Some(path) = report {
        v.report = check_report(expected, path)?;
    }
    Ok(v)
}

/// The flow file an HTTP body file was carved from, and whether it is a
/// request body: `FLOW-HTTPBODY-NNN[.ext]` (a response body) or
/// `FLOW-HTTPREQBODY-NNN[.ext]`, as tcpflow's and flowsplit's `-e http` name
/// them; `None` for any other name. The expected list holds no bodies: the
/// benchmark's check of an `-e http` output folder uses this to tell the
/// bodies from the flow files, whose contents it checks.
///
/// ```
/// use flowsplit_synth::bench::http_body_flow;
///
/// let flow = "010.000.000.001.20000-192.168.001.001.00080";
/// assert_eq!(http_body_flow(&format!("{flow}-HTTPBODY-001")), Some((flow, false)));
/// assert_eq!(http_body_flow(&format!("{flow}-HTTPREQBODY-012.json")), Some((flow, true)));
/// assert_eq!(http_body_flow(flow), None);
/// assert_eq!(http_body_flow(&format!("{flow}-HTTPBODY-")), None);
/// ```
pub fn http_body_flow(name: &str) -> Option<(&str, bool)> {
    for (mark, request) in [("-HTTPREQBODY-", true), ("-HTTPBODY-", false)] {
        let Some(at) = name.rfind(mark) else {
            continue;
        };
        let rest = &name[at + mark.len()..];
        let number = rest.split_once('.').map_or(rest, |(n, _)| n);
        if at > 0 && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            return Some((&name[..at], request));
        }
    }
    None
}

/// Disagreements between a flowsplit report and the expected list.
fn check_report(expected: &[Expected], path: &Path) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut want: HashMap<&str, &Expected> =
        expected.iter().map(|e| (e.file.as_str(), e)).collect();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let j: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} line {}: {e}", path.display(), n + 1),
            )
        })?;
        let file = j["file"].as_str().unwrap_or("");
        match want.remove(file) {
            None => bad.push(format!(
                "line {}: unexpected or repeated file {file:?}",
                n + 1
            )),
            Some(e) => {
                if j["bytes"].as_u64() != Some(e.bytes) || j["sha256"].as_str() != Some(&e.sha256) {
                    bad.push(format!(
                        "{file}: report says {} bytes, sha256 {}",
                        j["bytes"], j["sha256"]
                    ));
                }
            }
        }
    }
    let mut missing: Vec<String> = want
        .keys()
        .map(|f| format!("{f}: not in the report"))
        .collect();
    missing.sort();
    bad.extend(missing);
    Ok(bad)
}

/// Size and sha256 (lower-case hex) of a file.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h)?;
    Ok((n, hex::encode(h.finalize())))
}

/// splitmix64's output function: a good 64-bit mix of `z`.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// splitmix64: tiny, fast, and all this generator needs.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is below 2^-40 here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo).saturating_add(1).max(1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64) < p * (1u64 << 53) as f64
    }
}

/// Fill `out` with bytes `from..` of the pseudo-random stream keyed by `key`
/// (random access: byte `i` depends only on `key` and `i`).
fn fill_body(key: u64, from: u64, out: &mut [u8]) {
    let mut i = 0;
    while i < out.len() {
        let p = from + i as u64;
        let skip = (p % 8) as usize;
        let word = mix64(key.wrapping_add((p / 8).wrapping_mul(GOLDEN))).to_le_bytes();
        let n = (8 - skip).min(out.len() - i);
        out[i..i + n].copy_from_slice(&word[skip..skip + n]);
        i += n;
    }
}

struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct CountingSink<W: Write> {
    pcap: PcapWriter<CountingWriter<W>>,
    frames: u64,
}

impl<W: Write> PacketSink for CountingSink<W> {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        self.frames += 1;
        self.pcap.frame(ts, data)
    }
}

/// One open connection.
struct Conn {
    conv: TcpConversation,
    /// Running sha256 of each direction's stream (client, server).
    hash: [Sha256; 2],
    id: u64,
    /// Draws this connection's sizes (independent of the interleaving).
    rng: Rng,
    /// Key of this connection's body bytes.
    key: u64,
    /// The token planted in this connection's first response, if any.
    token: Option<(String, bool)>,
    exchanges: u32,
    /// Current exchange (0-based); `== exchanges` once the last response is out.
    exchange: u32,
    /// Who sends the current message.
    side: Side,
    /// Bytes of the current message already sent.
    pos: u64,
    /// Body length of the current message.
    body: u64,
}

impl Conn {
    fn expected(&self, side: Side) -> (String, u64, String) {
        let ep = |s: Side| match self.conv.endpoint(s) {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("the generator makes IPv4 only"),
        };
        let name = flow_file_name(ep(side), ep(side.other()));
        let i = usize::from(side == Side::Server);
        (
            name,
            self.conv.next_offset(side),
            hex::encode(self.hash[i].clone().finalize()),
        )
    }
}

struct Generator<'a> {
    p: &'a BenchParams,
    /// Interleaving, reordering and retransmission choices.
    rng: Rng,
    /// The frame builder every conversation borrows for its step.
    builder: super::FrameBuilder,
    /// Never builds a frame: its clones cost no buffer memory.
    unused_builder: super::FrameBuilder,
    /// The capture's time line, shared by all conversations.
    clock: Clock,
    /// The current message's header.
    head: Vec<u8>,
    /// The current burst's bytes.
    buf: Vec<u8>,
    /// The current burst's segments in sending order: (offset in `buf`, length).
    order: Vec<(usize, usize)>,
}

impl Generator<'_> {
    /// Open connection `id`: addresses, ISNs, sizes, and its handshake.
    fn open(&mut self, id: u64, out: &mut impl PacketSink) -> io::Result<Conn> {
        let (client_base, server_net) = if self.p.loopback {
            (0x7f01_0001, [127, 0])
        } else {
            (0x0a00_0001, [192, 168])
        };
        let client = SocketAddrV4::new(
            Ipv4Addr::from(client_base + (id / 30_000) as u32),
            20_000 + (id % 30_000) as u16,
        );
        let server = SocketAddrV4::new(
            Ipv4Addr::new(
                server_net[0],
                server_net[1],
                1 + (id % 4) as u8,
                1 + (id % 250) as u8,
            ),
            80,
        );
        let mut rng = Rng(mix64(self.p.seed ^ mix64(id.wrapping_add(1))));
        let isn = rng.next();
        // A clone of a builder that never built a frame has no buffers.
        let empty = self.unused_builder.clone();
        let mut conv = TcpConversation::new(
            Link::ethernet(),
            client.into(),
            server.into(),
            self.clock.now,
        )
        .with_isn(isn as u32, (isn >> 32) as u32);
        conv.builder = empty;
        let exchanges =
            rng.range((u64::from(self.p.exchanges.0), u64::from(self.p.exchanges.1))) as u32;
        let body = rng.range(self.p.request_body);
        let key = rng.next();
        let mut c = Conn {
            conv,
            hash: [Sha256::new(), Sha256::new()],
            id,
            rng,
            key,
            token: None,
            exchanges,
            exchange: 0,
            side: Side::Client,
            pos: 0,
            body,
        };
        self.with_conv(&mut c, |conv, out| conv.handshake(out), out)?;
        Ok(c)
    }

    /// Run `f` on `c`'s conversation with the shared builder and clock.
    fn with_conv<S: PacketSink>(
        &mut self,
        c: &mut Conn,
        f: impl FnOnce(&mut TcpConversation, &mut S) -> io::Result<()>,
        out: &mut S,
    ) -> io::Result<()> {
        std::mem::swap(&mut c.conv.builder, &mut self.builder);
        c.conv.clock = self.clock;
        let r = f(&mut c.conv, out);
        self.clock = c.conv.clock;
        std::mem::swap(&mut c.conv.builder, &mut self.builder);
        r
    }

    /// Render the current message's header into `self.head`.
    fn header(&mut self, c: &Conn) {
        let last = c.exchange + 1 == c.exchanges;
        let close = if last { "Connection: close\r\n" } else { "" };
        let h = &mut self.head;
        h.clear();
        let server = c.conv.endpoint(Side::Server).ip();
        let r = match c.side {
            Side::Client if c.body == 0 => write!(
                h,
                "GET /bench/{}/{} HTTP/1.1\r\nHost: {server}\r\nUser-Agent: flowsplit-bench/1\r\nAccept: */*\r\n{close}\r\n",
                c.id, c.exchange
            ),
            Side::Client => write!(
                h,
                "POST /bench/{}/{} HTTP/1.1\r\nHost: {server}\r\nUser-Agent: flowsplit-bench/1\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{close}\r\n",
                c.id, c.exchange, c.body
            ),
            Side::Server => write!(
                h,
                "HTTP/1.1 200 OK\r\nServer: flowsplit-bench/1\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{close}\r\n",
                c.body
            ),
        };
        r.expect("writing to a Vec cannot fail");
    }

    /// One step of `c`: a burst of its current message, or its close.
    /// True when the connection has closed.
    fn step(
        &mut self,
        c: &mut Conn,
        out: &mut impl PacketSink,
        planted: &mut Vec<(String, bool)>,
    ) -> io::Result<bool> {
        if c.exchange == c.exchanges {
            self.with_conv(c, |conv, out| conv.close(out), out)?;
            return Ok(true);
        }
        self.header(c);
        let hl = self.head.len() as u64;
        let msg_len = hl + c.body;
        let take = (msg_len - c.pos).min((self.p.mss * self.p.burst) as u64) as usize;
        let buf = &mut self.buf[..take];
        // Header bytes, then body bytes.
        let mut at = 0;
        if c.pos < hl {
            let n = ((hl - c.pos) as usize).min(take);
            buf[..n].copy_from_slice(&self.head[c.pos as usize..c.pos as usize + n]);
            at = n;
        }
        let body_from = (c.pos + at as u64).saturating_sub(hl);
        let side_bit = u64::from(c.side == Side::Server);
        let key = mix64(c.key ^ (u64::from(c.exchange) << 1 | side_bit));
        fill_body(key, body_from, &mut buf[at..]);
        // A token, at message offset mss - 8 (split) or mss + 200 (whole),
        // decided when the first response starts.
        let mss = self.p.mss as u64;
        if c.side == Side::Server && c.exchange == 0 && c.pos == 0 {
            let n = planted.len() as u64;
            if n < self.p.plant && hl + 16 < mss - 8 && msg_len >= mss + 216 {
                let token = (format!("FSGREP-{n:06}-TK"), n % 2 == 0);
                planted.push(token.clone());
                c.token = Some(token);
            }
        }
        if let (Some((token, split)), true) = (&c.token, c.side == Side::Server && c.exchange == 0)
        {
            let at = if *split { mss - 8 } else { mss + 200 };
            for (i, b) in token.bytes().enumerate() {
                let p = at + i as u64;
                if p >= c.pos && p < c.pos + take as u64 {
                    buf[(p - c.pos) as usize] = b;
                }
            }
        }
        c.hash[side_bit as usize].update(&*buf);

        // Segments in sending order: swaps, then retransmissions.
        self.order.clear();
        let mss = self.p.mss;
        let mut off = 0;
        while off < take {
            let len = mss.min(take - off);
            self.order.push((off, len));
            off += len;
        }
        let n = self.order.len();
        let mut i = 0;
        while i + 1 < n {
            if self.rng.chance(self.p.reorder_rate) {
                self.order.swap(i, i + 1);
                i += 2;
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.order.len() {
            if self.rng.chance(self.p.retransmit_rate) {
                let seg = self.order[i];
                let at = (i + 2).min(self.order.len());
                self.order.insert(at, seg);
                i = at + 1;
            } else {
                i += 1;
            }
        }

        let side = c.side;
        let base = c.conv.next_offset(side);
        let (order, data) = (
            std::mem::take(&mut self.order),
            std::mem::take(&mut self.buf),
        );
        let sent = self.with_conv(
            c,
            |conv, out| {
                for &(o, l) in &order {
                    conv.send_at(side, base + o as u64, &data[o..o + l], out)?;
                }
                conv.ack(side.other(), out)
            },
            out,
        );
        (self.order, self.buf) = (order, data);
        sent?;

        c.pos += take as u64;
        if c.pos == msg_len {
            c.pos = 0;
            match c.side {
                Side::Client => {
                    c.side = Side::Server;
                    c.body = c.rng.range(self.p.response_body);
                }
                Side::Server => {
                    c.side = Side::Client;
                    c.exchange += 1;
                    c.body = c.rng.range(self.p.request_body);
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_11_shapes() {
        let p = BenchParams::shape(Shape::Open4096);
        assert_eq!((p.connections, p.concurrency), (20_000, 4_096));
        let small = BenchParams::shape(Shape::Small);
        assert_eq!(
            p,
            BenchParams {
                connections: 20_000,
                concurrency: 4_096,
                ..small
            }
        );
        let p = BenchParams::shape(Shape::Open200k);
        assert_eq!((p.connections, p.concurrency), (200_000, 200_000));
        assert_eq!(
            p,
            BenchParams {
                connections: 200_000,
                concurrency: 200_000,
                ..BenchParams::shape(Shape::ConcurrentMillion)
            }
        );
        // Scaled down, still all open at once; 4,096 open is cut to the count.
        let p = BenchParams::shape(Shape::Open200k).scaled(0.01);
        assert_eq!((p.connections, p.concurrency), (2_000, 2_000));
        let p = BenchParams::shape(Shape::Open4096).scaled(0.01);
        assert_eq!((p.connections, p.concurrency), (200, 200));
    }

    #[test]
    fn open_shapes_generate_every_connection_at_the_stated_concurrency() {
        for (shape, n, open) in [(Shape::Open4096, 300, 64), (Shape::Open200k, 300, 300)] {
            let mut p = BenchParams::shape(shape).with_connections(n);
            p.concurrency = p.concurrency.min(open);
            let (mut pcap, mut tsv) = (Vec::new(), Vec::new());
            let s = generate(&p, &mut pcap, &mut tsv).unwrap();
            assert_eq!((s.connections, s.directions, s.peak_open), (n, 2 * n, open));
            let list = read_expected(&tsv[..]).unwrap();
            assert_eq!(list.len() as u64, 2 * n);
            let (mut pcap2, mut tsv2) = (Vec::new(), Vec::new());
            generate(&p, &mut pcap2, &mut tsv2).unwrap();
            assert!(
                pcap == pcap2 && tsv == tsv2,
                "{shape:?} is not deterministic"
            );
        }
    }

    #[test]
    fn loopback_puts_every_address_in_127_8_with_the_same_traffic() {
        let p = BenchParams {
            concurrency: 20,
            ..BenchParams::shape(Shape::Small).with_connections(40)
        };
        let lo = BenchParams {
            loopback: true,
            ..p.clone()
        };
        let (mut plain_tsv, mut lo_pcap, mut lo_tsv) = (Vec::new(), Vec::new(), Vec::new());
        let plain = generate(&p, std::io::sink(), &mut plain_tsv).unwrap();
        let s = generate(&lo, &mut lo_pcap, &mut lo_tsv).unwrap();
        assert_eq!((s.connections, s.frames), (plain.connections, plain.frames));
        let list = read_expected(&lo_tsv[..]).unwrap();
        assert_eq!(list.len(), 80);
        for e in &list {
            let (a, b) = e.file.split_once('-').unwrap();
            assert!(a.starts_with("127.") && b.starts_with("127."), "{}", e.file);
        }
        let (mut again, mut again_tsv) = (Vec::new(), Vec::new());
        generate(&lo, &mut again, &mut again_tsv).unwrap();
        assert!(lo_pcap == again && lo_tsv == again_tsv, "not deterministic");
    }
}
