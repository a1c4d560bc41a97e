//! The `http.jsonl` index: one JSON object per request/response pair, and
//! the reader for the capture pipeline's `report.jsonl` gap records.
//!
//! Owns: the index schema (documented on [`Record`] and [`BodyRecord`]),
//! the index order (`IndexLine`, sorted through `spill` so that no pass
//! holds a whole capture's records), writing the sorted lines out folder by
//! folder (`write_indexes`), and the parsing of gaps out of a report.
//!
//! Must not: carve anything.

pub use super::multipart::PartRecord;
use super::spill::{codec, Spill};
use super::INDEX_NAME;
use crate::error::Error;
use serde::Serialize;
use std::cmp::Ordering;
#[cfg(test)]
use std::collections::HashMap;
use std::io::{self, BufRead, BufWriter, Write};
use std::iter::Peekable;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// One line of `http.jsonl`: a request and the response that answers it.
/// Either half may be missing (`null` fields) when only one was seen.
/// File names are relative to the folder holding the index.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Record {
    /// The connection's Community ID (version 1, seed 0), from the flow
    /// files' names: the value the report gives both directions, and Zeek,
    /// Suricata and Wireshark the connection.
    pub community_id: Option<String>,
    /// The client-to-server flow file.
    pub request_file: Option<String>,
    /// Offset of the request line in `request_file`.
    pub request_offset: Option<u64>,
    /// 1-based number of the request in its flow (the `NNN` of its body file).
    pub request_number: Option<u64>,
    /// Request method.
    pub method: Option<String>,
    /// Host header (or the authority of an absolute URI) as sent.
    pub host: Option<String>,
    /// Request target as sent.
    pub uri: Option<String>,
    /// `HTTP/1.0` or `HTTP/1.1`, from the request line.
    pub request_version: Option<String>,
    /// The request body, if the request has one.
    pub request_body: Option<BodyRecord>,
    /// The server-to-client flow file.
    pub response_file: Option<String>,
    /// Offset of the status line in `response_file`.
    pub response_offset: Option<u64>,
    /// 1-based number of the response in its flow, counting interim (1xx)
    /// responses as tcpflow does (the `NNN` of its body file).
    pub response_number: Option<u64>,
    /// Status code of the final response.
    pub status: Option<u16>,
    /// Reason phrase.
    pub reason: Option<String>,
    /// `HTTP/1.0` or `HTTP/1.1`, from the status line.
    pub response_version: Option<String>,
    /// Status codes of interim (1xx) responses before the final one.
    pub interim: Vec<u16>,
    /// The response body, if the response has one.
    pub response_body: Option<BodyRecord>,
    /// True when both messages were seen and every body present is complete.
    pub complete: bool,
    /// Observations about the pair (missing half, tunnel start, skipped garbage).
    pub notes: Vec<String>,
    /// HTTP/2: the stream the pair was carried on (absent for HTTP/1.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// The connection's TLS facts, when it was carried in TLS (only with
    /// a key log; absent from the line otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<super::tls::Facts>,
    /// An object assembled from range parts (see [`ObjectRecord`]): a line
    /// of its own whose other fields are empty; left out on every other line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRecord>,
    /// Sort key within the folder (not written).
    #[serde(skip)]
    pub(crate) order: (String, u64),
    /// The response's validator, for range assembly (not written).
    #[serde(skip)]
    pub(crate) validator: String,
}

/// A byte range a body holds, from its `Content-Range`.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte's offset in the whole object.
    pub start: u64,
    /// Last byte's offset (inclusive).
    pub end: u64,
    /// The whole object's length, `null` when sent as `*`.
    pub total: Option<u64>,
}

/// A whole object assembled from the `206` parts of one resource.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ObjectRecord {
    /// The object file (`<flow>-HTTPOBJECT-NNN[.ext]`, named after its
    /// first part's body).
    pub file: String,
    /// The resource: Host as sent by the first part's request.
    pub host: String,
    /// The resource: request target.
    pub uri: String,
    /// The strong ETag, or else the Last-Modified, the parts share; `null`
    /// when they sent none.
    pub validator: Option<String>,
    /// The object's length from `Content-Range`, `null` when sent as `*`.
    pub length: Option<u64>,
    /// Bytes in the object file.
    pub size: u64,
    /// The parts, by offset: `[start, end, file]` (`end` inclusive, `file`
    /// relative to this index's folder when the part is in it).
    pub parts: Vec<(u64, u64, String)>,
    /// Ranges no part covers, zero-filled in the file: `[offset, length]`.
    pub holes: Vec<[u64; 2]>,
    /// Ranges where overlapping parts disagree: `[offset, length]`; the
    /// part with the lower offset (then the earlier) is kept.
    pub conflicts: Vec<[u64; 2]>,
    /// SHA-256 of the object file, when it is complete; `null` otherwise.
    pub sha256: Option<String>,
    /// True when every byte is covered, no parts disagree and every part
    /// is complete.
    pub complete: bool,
    /// Other observations (incomplete parts, unreadable parts).
    pub notes: Vec<String>,
}

/// A carved body.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BodyRecord {
    /// The body file, or `null` when nothing was written (empty after decoding).
    pub file: Option<String>,
    /// Offset of the body's first byte in the flow file.
    pub offset: u64,
    /// Bytes the body occupies in the flow file (with chunk framing).
    pub wire_length: u64,
    /// `length`, `chunked` or `close`.
    pub framing: String,
    /// Content-Type as sent.
    pub content_type: Option<String>,
    /// Content-Encoding as sent.
    pub content_encoding: Option<String>,
    /// Transfer-Encoding as sent.
    pub transfer_encoding: Option<String>,
    /// Content-Length as declared, if any.
    pub declared_length: Option<u64>,
    /// Body bytes after de-chunking, before content decoding.
    pub encoded_length: u64,
    /// Bytes written to the body file.
    pub decoded_length: u64,
    /// Whether content codings were undone in the file.
    pub decoded: bool,
    /// SHA-256 (hex) of the bytes in the body file.
    pub sha256: String,
    /// True when the file holds the whole body.
    pub complete: bool,
    /// Why not: `gap` (zero-filled hole in the flow), `eof` (flow ended
    /// early), `bad chunk`, decoding cut off at the limit, decoding error.
    pub incomplete: Vec<String>,
    /// Other observations (unknown coding kept, trailers, trailing bytes).
    pub notes: Vec<String>,
    /// The zero-filled holes of the flow inside the body, `[offset,
    /// length]` in the flow file (as `report.jsonl` gives them), clipped to
    /// the body's bytes; left out when there are none. Where the body
    /// file holds the bytes as sent and unchunked (`framing` `length` or
    /// `close`, `decoded` false), `offset - self.offset` is the hole's
    /// offset in the body file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<[u64; 2]>,
    /// The range of the whole object a `206` body holds, from its
    /// `Content-Range`; left out for other bodies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    /// The parts of a `multipart/form-data` or `multipart/byteranges`
    /// body, each written to its own file; left out for other bodies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartRecord>,
}

/// One line of an index, with where it goes. Lines sort by folder, then
/// by their record's order (the connection's flow file, then the record's
/// position among the connection's), then by the connection they were
/// carved in (a flow carved twice, as both halves of a connection with
/// itself, gives equal records). Equal when those are.
#[derive(Debug)]
pub(crate) struct IndexLine {
    /// The folder whose index the line goes in.
    pub folder: PathBuf,
    /// [`Record`]'s order: the flow file, the position.
    file: String,
    number: u64,
    /// The connection, numbered in the order it was found.
    connection: u64,
    /// The JSON object and its newline.
    line: Vec<u8>,
}

/// The connection number of an object's index line: after every record
/// of its first part's connection that sorts with it.
pub(crate) const OBJECT_LINE: u64 = u64::MAX;

impl IndexLine {
    /// `record`, carved in `folder` as connection number `connection`.
    pub(crate) fn new(folder: &Path, connection: u64, record: &Record) -> io::Result<IndexLine> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        Ok(IndexLine {
            folder: folder.to_path_buf(),
            file: record.order.0.clone(),
            number: record.order.1,
            connection,
            line,
        })
    }

    /// A line of `folder`'s index that is no record's (a shard's range
    /// part, see `ranges::PartLine`), sorting as a record of order `order`
    /// carved as connection number `connection` would.
    pub(crate) fn raw(
        folder: &Path,
        order: (String, u64),
        connection: u64,
        line: Vec<u8>,
    ) -> IndexLine {
        IndexLine {
            folder: folder.to_path_buf(),
            file: order.0,
            number: order.1,
            connection,
            line,
        }
    }

    /// Where the line goes: its folder and its record's order.
    pub(crate) fn place(&self) -> (&Path, &str, u64) {
        (&self.folder, &self.file, self.number)
    }

    /// The JSON object and its newline.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.line
    }

    fn key(&self) -> (&Path, &str, u64, u64) {
        (&self.folder, &self.file, self.number, self.connection)
    }
}

impl PartialEq for IndexLine {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for IndexLine {}

impl PartialOrd for IndexLine {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IndexLine {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Spill for IndexLine {
    fn encode(&self, out: &mut Vec<u8>) {
        codec::put_bytes(out, self.folder.as_os_str().as_bytes());
        codec::put_bytes(out, self.file.as_bytes());
        codec::put_u64(out, self.number);
        codec::put_u64(out, self.connection);
        codec::put_bytes(out, &self.line);
    }

    fn decode(bytes: &[u8]) -> Option<IndexLine> {
        let mut f = codec::Fields(bytes);
        let line = IndexLine {
            folder: PathBuf::from(std::ffi::OsString::from_vec(f.bytes()?.to_vec())),
            file: f.string()?,
            number: f.u64()?,
            connection: f.u64()?,
            line: f.bytes()?.to_vec(),
        };
        f.is_empty().then_some(line)
    }

    fn heap_bytes(&self) -> usize {
        self.folder.as_os_str().len() + self.file.len() + self.line.len()
    }
}

/// Write `http.jsonl` in each folder of `folders` and each folder `lines`
/// name (paths under `base`; both sorted as [`IndexLine`]s are), holding
/// the folder's `lines` in order; a folder with no lines gets an empty
/// index. Returns how many indexes were written, and the errors met. An
/// error reading `lines` leaves the index being written, and those after
/// it, unwritten. With `marked` (a shard's index, see [`crate::shard`]),
/// an [`OrderMark`] line goes before each connection's lines, so that
/// `flowsplit merge` can put the shards' lines in order.
pub(crate) fn write_indexes_marked(
    base: &Path,
    folders: impl Iterator<Item = PathBuf>,
    lines: impl Iterator<Item = io::Result<IndexLine>>,
    marked: bool,
) -> (u64, Vec<Error>) {
    let mut lines = lines.peekable();
    let mut folders = folders.peekable();
    let (mut written, mut errors) = (0, Vec::new());
    loop {
        let next_line = match lines.peek() {
            Some(Ok(l)) => Some(&l.folder),
            Some(Err(_)) | None => None,
        };
        let folder = match (folders.peek(), next_line) {
            (Some(f), Some(l)) => f.min(l).clone(),
            (Some(f), None) => f.clone(),
            (None, Some(l)) => l.clone(),
            (None, None) => break,
        };
        if folders.peek() == Some(&folder) {
            folders.next();
        }
        let path = base.join(&folder).join(INDEX_NAME);
        let result = write_index(&path, &folder, &mut lines, marked);
        if let Some(Err(_)) = lines.peek() {
            if let Some(Err(source)) = lines.next() {
                errors.push(Error::Write { path, source });
            }
            break;
        }
        match result {
            Ok(()) => written += 1,
            Err(source) => {
                errors.push(Error::Write { path, source });
                while lines
                    .next_if(|l| matches!(l, Ok(l) if l.folder == folder))
                    .is_some()
                {}
            }
        }
    }
    (written, errors)
}

/// Write the index at `path` with the lines of `lines` that are `folder`'s.
fn write_index<I>(
    path: &Path,
    folder: &Path,
    lines: &mut Peekable<I>,
    marked: bool,
) -> io::Result<()>
where
    I: Iterator<Item = io::Result<IndexLine>>,
{
    // Never through a link planted where the index goes.
    let file = crate::output::files::create_truncated(path)?;
    let mut w = BufWriter::new(file);
    let mut last: Option<String> = None;
    while let Some(Ok(l)) = lines.next_if(|l| matches!(l, Ok(l) if l.folder == folder)) {
        if marked && last.as_deref() != Some(l.file.as_str()) {
            serde_json::to_writer(
                &mut w,
                &OrderMark {
                    http_order: &l.file,
                },
            )?;
            w.write_all(b"\n")?;
            last = Some(l.file.clone());
        }
        w.write_all(&l.line)?;
    }
    w.flush()
}

/// The line before a connection's lines in a shard's index: the flow file
/// the index sorts them by (its response flow, else its request flow).
/// Lines of a single run's index are in this order, byte-wise, and within
/// a connection in the order they are in.
#[derive(Serialize)]
pub(crate) struct OrderMark<'a> {
    /// The flow file name, relative to the index's folder.
    pub http_order: &'a str,
}

/// Gaps per flow file, read from a `report.jsonl` (see [`each_gap_list`]),
/// each file's sorted.
#[cfg(test)]
pub(crate) fn read_gaps(r: impl BufRead) -> std::io::Result<HashMap<String, Vec<(u64, u64)>>> {
    let mut out: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    each_gap_list(r, |file, gaps, _| {
        let list = out.entry(file.to_string()).or_default();
        list.extend(gaps);
        list.sort_unstable();
    })?;
    Ok(out)
}

/// Call `f` with the file and gaps of each line of a `report.jsonl`, one
/// line at a time in the report's order: objects with `"file"` (the flow
/// file's path, relative to the report's folder) and `"gaps"` (`[[offset,
/// length], ...]`), with the line's `"connection"` (the number of the
/// connection's first packet: its place in capture order) when it has
/// one. Other lines are ignored. An error reading the report ends the
/// reading.
pub(crate) fn each_gap_list(
    r: impl BufRead,
    mut f: impl FnMut(&str, Vec<(u64, u64)>, Option<u64>),
) -> std::io::Result<()> {
    for line in r.lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let (Some(file), Some(gaps)) = (
            v.get("file").and_then(|f| f.as_str()),
            v.get("gaps").and_then(|g| g.as_array()),
        ) else {
            continue;
        };
        let mut list = Vec::new();
        for g in gaps {
            if let Some([o, l]) = g.as_array().map(|a| a.as_slice()) {
                if let (Some(o), Some(l)) = (o.as_u64(), l.as_u64()) {
                    list.push((o, l));
                }
            }
        }
        // Jumps (holes longer than -m, not in the file) as holes of no
        // length at the offset where the file goes on.
        let jumps = v.get("jumps").and_then(|g| g.as_array());
        for j in jumps.into_iter().flatten() {
            if let Some(o) = j.get(0).and_then(|o| o.as_u64()) {
                list.push((o, 0));
            }
        }
        let connection = v.get("connection").and_then(|c| c.as_u64());
        f(file, list, connection);
    }
    Ok(())
}

/// Whether `[start, end)` overlaps any gap (see [`gaps_within`]).
#[cfg(test)]
pub(crate) fn overlaps_gap(gaps: &[(u64, u64)], start: u64, end: u64) -> bool {
    !gaps_within(gaps, start, end).is_empty()
}

/// The parts of `gaps` inside `[start, end)`, as `[offset, length]`. A gap
/// of no length (a jump: bytes missing and not filled, see [`with_jumps`])
/// counts when it falls strictly inside the range.
pub(crate) fn gaps_within(gaps: &[(u64, u64)], start: u64, end: u64) -> Vec<[u64; 2]> {
    gaps.iter()
        .filter_map(|&(o, l)| {
            if l == 0 {
                return (start < o && o < end).then_some([o, 0]);
            }
            let (a, b) = (o.max(start), o.saturating_add(l).min(end));
            (a < b).then(|| [a, b - a])
        })
        .collect()
}

/// A report line's gaps with its jumps added as gaps of no length (see
/// [`gaps_within`]).
pub fn with_jumps(gaps: &[(u64, u64)], jumps: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut all = gaps.to_vec();
    all.extend(jumps.iter().map(|j| (j.0, 0)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gaps_and_ignores_other_lines() {
        let text = b"{\"kind\":\"summary\"}\nnot json\n{\"file\":\"out/a.00080-b.00001\",\"gaps\":[[10,5],[0,2]]}\n";
        let g = read_gaps(&text[..]).unwrap();
        let g = &g["out/a.00080-b.00001"];
        assert_eq!(g, &vec![(0, 2), (10, 5)]);
        assert!(overlaps_gap(g, 14, 20));
        // A jump at 30: a body across it is broken, one ending or starting there is not.
        let j = &[(30, 0)][..];
        assert!(overlaps_gap(j, 29, 31));
        assert!(!overlaps_gap(j, 20, 30));
        assert!(!overlaps_gap(j, 30, 40));
        let text = b"{\"file\":\"f\",\"gaps\":[[1,2]],\"jumps\":[[9,100000000]]}\n";
        assert_eq!(read_gaps(&text[..]).unwrap()["f"], [(1, 2), (9, 0)]);
        assert!(!overlaps_gap(g, 15, 20));
        assert!(!overlaps_gap(g, 2, 10));
    }
}
