//! The HTTP post-pass: carve HTTP/1.x messages and bodies out of folders of
//! flow files written by flowsplit or tcpflow.
//!
//! Owns: walking the folders ([`carve_dirs`]), pairing the two directions of
//! each connection by name, deciding which direction carries requests,
//! running connections in parallel, and writing each folder's `http.jsonl`.
//! The pieces below it:
//! `name` (flow and body file names) → `stream` (bounded look-ahead over a
//! flow file) → `message` (heads, framing, resync) → `body` (decoding,
//! limits, hashing, the body file) → `conn` (one connection) → `index`
//! (the records, and gaps from `report.jsonl`).
//!
//! Must not: touch flow files (read only) or write anywhere but the folder
//! a flow file is in; body-file names come from flow-file names only.

mod body;
mod conn;
pub mod index;
pub mod live;
mod message;
pub mod name;
mod stream;

use crate::error::Error;
use conn::{Connection, FlowFile};
pub use index::{BodyRecord, Record};
use message::Side;
use name::FlowName;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The index's file name, written in each folder holding flow files.
pub const INDEX_NAME: &str = "http.jsonl";
/// The capture pipeline's report, read for gaps when present.
pub const REPORT_NAME: &str = "report.jsonl";
/// How much of a flow is examined to tell requests from responses.
const SNIFF_BYTES: usize = 256 * 1024;

/// Settings for carving HTTP bodies.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Undo Content-Encoding (gzip, deflate, br). `-Z` turns this off.
    pub decode: bool,
    /// Largest decoded body kept, in bytes.
    pub max_decoded_bytes: u64,
    /// Largest decoded/encoded ratio allowed before a body is cut off as a bomb.
    /// Bodies decoding to at most 1 MiB are not held to it.
    pub max_ratio: u64,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            decode: true,
            max_decoded_bytes: 1 << 30,
            max_ratio: 1000,
        }
    }
}

/// What a carving run did.
#[derive(Debug, Default)]
pub struct CarveSummary {
    /// Folders an index was written to.
    pub folders: u64,
    /// Connections with at least one HTTP message.
    pub connections: u64,
    /// HTTP messages parsed (requests, responses, interim responses).
    pub messages: u64,
    /// Body files written.
    pub bodies: u64,
    /// Bodies flagged incomplete in the index.
    pub incomplete: u64,
    /// Files or folders that could not be read or written; the rest of the
    /// work was done.
    pub errors: Vec<Error>,
}

/// Carve every HTTP body out of the flow files under `dirs` (walked
/// recursively, links not followed). Body files are written beside their
/// flow files and each folder with flow files gets an `http.jsonl` index.
/// Files whose names are not flow-file names are left alone.
///
/// Fails only if a folder in `dirs` cannot be opened; problems with single
/// files are listed in [`CarveSummary::errors`].
pub fn carve_dirs(dirs: &[PathBuf], opts: &HttpOptions) -> Result<CarveSummary, Error> {
    for d in dirs {
        if let Err(source) = std::fs::read_dir(d) {
            return Err(Error::Open {
                path: d.clone(),
                source,
            });
        }
    }
    let mut summary = CarveSummary::default();
    // folder → flow files in it, by name.
    let mut folders: BTreeMap<PathBuf, BTreeMap<FlowName, String>> = BTreeMap::new();
    let mut seen_dirs = HashSet::new();
    // flow file path → gaps, from every report.jsonl met on the walk.
    let mut gaps: HashMap<PathBuf, Vec<(u64, u64)>> = HashMap::new();
    for d in dirs {
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        if !seen_dirs.insert(key) {
            continue;
        }
        for entry in walkdir::WalkDir::new(d) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| d.clone());
                    summary.errors.push(Error::Open {
                        path,
                        source: io::Error::other(e.to_string()),
                    });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(file_name) = entry.file_name().to_str() else {
                continue;
            };
            if file_name == REPORT_NAME {
                read_report(entry.path(), &mut gaps, &mut summary);
                continue;
            }
            let Some(flow) = FlowName::parse(file_name) else {
                continue;
            };
            let folder = entry
                .path()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            folders
                .entry(folder)
                .or_default()
                .insert(flow, file_name.to_string());
        }
    }
    let mut connections = Vec::new();
    for (folder, flows) in &folders {
        connections.extend(pair(folder, flows, &gaps, &mut summary));
    }
    let outcomes: Vec<conn::Outcome> = connections
        .par_iter()
        .map(|c| conn::carve(c, opts))
        .collect();
    let mut per_folder: BTreeMap<PathBuf, Vec<Record>> =
        folders.keys().map(|f| (f.clone(), Vec::new())).collect();
    for (c, o) in connections.iter().zip(outcomes) {
        summary.messages += o.messages;
        summary.bodies += o.bodies;
        summary.incomplete += o.incomplete;
        summary.errors.extend(o.errors);
        if !o.records.is_empty() {
            summary.connections += 1;
        }
        per_folder
            .entry(c.dir.clone())
            .or_default()
            .extend(o.records);
    }
    for (folder, mut records) in per_folder {
        records.sort_by(|a, b| a.order.cmp(&b.order));
        let path = folder.join(INDEX_NAME);
        match write_index(&path, &records) {
            Ok(()) => summary.folders += 1,
            Err(source) => summary.errors.push(Error::Write { path, source }),
        }
    }
    Ok(summary)
}

fn write_index(path: &Path, records: &[Record]) -> io::Result<()> {
    // Never through a link planted where the index goes.
    let file = crate::output::files::create_truncated(path)?;
    let mut w = BufWriter::new(file);
    for r in records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Add the gaps listed in the report at `path` (flow files named relative
/// to the report's folder).
fn read_report(
    path: &Path,
    gaps: &mut HashMap<PathBuf, Vec<(u64, u64)>>,
    summary: &mut CarveSummary,
) {
    let folder = path.parent().unwrap_or(Path::new(""));
    let file = match File::open(path) {
        Ok(f) => f,
        Err(source) => {
            summary.errors.push(Error::Open {
                path: path.to_path_buf(),
                source,
            });
            return;
        }
    };
    match index::read_gaps(BufReader::new(file)) {
        Ok(g) => gaps.extend(g.into_iter().map(|(f, v)| (folder.join(f), v))),
        Err(source) => summary.errors.push(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Group a folder's flows into connections and decide which side of each is
/// the client. Flows that look like neither requests nor responses are left
/// out.
fn pair(
    folder: &Path,
    flows: &BTreeMap<FlowName, String>,
    gaps: &HashMap<PathBuf, Vec<(u64, u64)>>,
    summary: &mut CarveSummary,
) -> Vec<Connection> {
    let mut out = Vec::new();
    let mut done: HashSet<&FlowName> = HashSet::new();
    let file = |name: &String| FlowFile {
        name: name.clone(),
        path: folder.join(name),
        gaps: gaps.get(&folder.join(name)).cloned().unwrap_or_default(),
    };
    let mut sniff_one = |name: &String| -> Option<Side> {
        let path = folder.join(name);
        match sniff(&path) {
            Ok(s) => s,
            Err(source) => {
                summary.errors.push(Error::Read { path, source });
                None
            }
        }
    };
    for (flow, name) in flows {
        if done.contains(flow) {
            continue;
        }
        done.insert(flow);
        let rev = flow.reversed();
        let other = flows.get_key_value(&rev);
        if let Some((k, _)) = other {
            done.insert(k);
        }
        let a = sniff_one(name);
        let b = other.and_then(|(_, n)| sniff_one(n));
        let a_file = Some(file(name));
        let b_file = other.map(|(_, n)| file(n));
        let (request, response) = match (a, b) {
            (Some(Side::Request), Some(Side::Request)) => {
                // Both look like clients: carve each on its own.
                out.push(Connection {
                    dir: folder.to_path_buf(),
                    request: b_file,
                    response: None,
                });
                (a_file, None)
            }
            (Some(Side::Response), Some(Side::Response)) => {
                out.push(Connection {
                    dir: folder.to_path_buf(),
                    request: None,
                    response: b_file,
                });
                (None, a_file)
            }
            (Some(Side::Request), _) | (_, Some(Side::Response)) => (a_file, b_file),
            (Some(Side::Response), _) | (_, Some(Side::Request)) => (b_file, a_file),
            (None, None) => continue,
        };
        out.push(Connection {
            dir: folder.to_path_buf(),
            request,
            response,
        });
    }
    out
}

/// Which side a flow carries: the kind of the first place (within
/// [`SNIFF_BYTES`]) that begins a request or a response: a whole request or
/// status line at a line start, or a strict match anywhere (a message after
/// a proxy handshake). `None` if there is none.
fn sniff(path: &Path) -> io::Result<Option<Side>> {
    let mut buf = Vec::with_capacity(64 * 1024);
    File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut buf)?;
    for i in 0..buf.len() {
        if i == 0 || buf[i - 1] == b'\n' {
            let end = buf[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |e| i + e);
            if let Some(side) = line_kind(&buf[i..end]) {
                return Ok(Some(side));
            }
        }
        for side in [Side::Response, Side::Request] {
            if message::strict_start(&buf[i..], side) == Some(true) {
                return Ok(Some(side));
            }
        }
    }
    Ok(None)
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
mod tests;
