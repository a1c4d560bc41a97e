//! The `http.jsonl` index: one JSON object per request/response pair, and
//! the reader for the capture pipeline's `report.jsonl` gap records.
//!
//! Owns: the index schema (documented on [`Record`] and [`BodyRecord`]) and
//! the parsing of gaps out of a report.
//!
//! Must not: carve anything.

use serde::Serialize;
use std::collections::HashMap;
use std::io::BufRead;

/// One line of `http.jsonl`: a request and the response that answers it.
/// Either half may be missing (`null` fields) when only one was seen.
/// File names are relative to the folder holding the index.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Record {
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
    /// Sort key within the folder (not written).
    #[serde(skip)]
    pub(crate) order: (String, u64),
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
}

/// Gaps per flow file, read from a `report.jsonl`: objects with `"file"`
/// (the flow file's path, relative to the report's folder) and `"gaps"`
/// (`[[offset, length], ...]`). Other lines are ignored.
pub(crate) fn read_gaps(r: impl BufRead) -> std::io::Result<HashMap<String, Vec<(u64, u64)>>> {
    let mut out: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
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
        let list = out.entry(file.to_string()).or_default();
        for g in gaps {
            if let Some([o, l]) = g.as_array().map(|a| a.as_slice()) {
                if let (Some(o), Some(l)) = (o.as_u64(), l.as_u64()) {
                    list.push((o, l));
                }
            }
        }
        list.sort_unstable();
    }
    Ok(out)
}

/// Whether `[start, end)` overlaps any gap.
pub(crate) fn overlaps_gap(gaps: &[(u64, u64)], start: u64, end: u64) -> bool {
    gaps.iter()
        .any(|&(o, l)| l > 0 && o < end && o.saturating_add(l) > start)
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
        assert!(!overlaps_gap(g, 15, 20));
        assert!(!overlaps_gap(g, 2, 10));
    }
}
