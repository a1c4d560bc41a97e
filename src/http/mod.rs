//! The HTTP post-pass: carve HTTP/1.x messages and bodies out of folders of
//! flow files written by flowsplit or tcpflow.
//!
//! Owns: walking the folders ([`carve_dirs`]), pairing the two directions of
//! each connection by name, running connections in parallel, and writing
//! each folder's `http.jsonl`. The pieces below it:
//! `name` (flow and body file names) → `stream` (bounded look-ahead over a
//! flow file) → `message` (heads, framing, resync) → `pair` (which of a
//! connection's flows carries requests, shared with `live`) → `body`
//! (decoding, limits, hashing, the body file) → `conn` (one connection) →
//! `index` (the records, and gaps from `report.jsonl`); `live` carves
//! connections as a live capture closes them.
//!
//! Must not: touch flow files (read only) or write anywhere but the folder
//! a flow file is in; body-file names come from flow-file names only.

mod body;
mod conn;
pub mod index;
pub mod live;
mod message;
pub mod name;
mod pair;
mod spill;
mod stream;

use crate::error::Error;
use conn::{Connection, FlowFile};
pub use index::{BodyRecord, Record};
use name::FlowName;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The index's file name, written in each folder holding flow files.
pub const INDEX_NAME: &str = "http.jsonl";
/// The capture pipeline's report, read for gaps when present.
pub const REPORT_NAME: &str = "report.jsonl";

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
    let (folders, gaps) = find_flows(dirs, &mut summary);
    let mut connections = Vec::new();
    for (folder, flows) in &folders {
        connections.extend(pair_by_name(folder, flows, &gaps, &mut summary));
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
    for (folder, records) in per_folder {
        match write_folder_index(&folder, records) {
            Ok(()) => summary.folders += 1,
            Err(e) => summary.errors.push(e),
        }
    }
    Ok(summary)
}

/// Bytes of index lines held before a run of them is written to the spill
/// file (by live carving).
pub const INDEX_BUDGET: usize = 8 << 20;

/// Folder → the flow files in it, by name.
type Folders = BTreeMap<PathBuf, BTreeMap<FlowName, String>>;
/// Flow file path → its gaps, `(offset, length)`.
type Gaps = HashMap<PathBuf, Vec<(u64, u64)>>;

/// Walk `dirs` (each folder once, however named) for flow files, and for
/// the gaps listed in every `report.jsonl` met on the way. Entries that
/// cannot be read are listed in `summary`'s errors.
fn find_flows(dirs: &[PathBuf], summary: &mut CarveSummary) -> (Folders, Gaps) {
    let mut folders = Folders::new();
    let mut gaps = Gaps::new();
    let mut seen_dirs = HashSet::new();
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
                read_report(entry.path(), &mut gaps, summary);
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
    (folders, gaps)
}

/// Write `folder`'s `http.jsonl`: `records` in index order (by flow file,
/// then position in it), whichever order they were carved in.
fn write_folder_index(folder: &Path, mut records: Vec<Record>) -> Result<(), Error> {
    records.sort_by(|a, b| a.order.cmp(&b.order));
    let path = folder.join(INDEX_NAME);
    write_index(&path, &records).map_err(|source| Error::Write { path, source })
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
fn read_report(path: &Path, gaps: &mut Gaps, summary: &mut CarveSummary) {
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

/// Group a folder's flows into connections by name (a flow and its
/// reverse), and carve each as [`pair::decide`] says. Flows that look like
/// neither requests nor responses are left out; a flow that cannot be read
/// is listed in `summary`'s errors.
fn pair_by_name(
    folder: &Path,
    flows: &BTreeMap<FlowName, String>,
    gaps: &Gaps,
    summary: &mut CarveSummary,
) -> Vec<Connection> {
    let mut out = Vec::new();
    let mut done: HashSet<&FlowName> = HashSet::new();
    let file = |name: &String| FlowFile {
        name: name.clone(),
        path: folder.join(name),
        gaps: gaps.get(&folder.join(name)).cloned().unwrap_or_default(),
    };
    for (flow, name) in flows {
        if !done.insert(flow) {
            continue;
        }
        let other = flows.get_key_value(&flow.reversed());
        if let Some((k, _)) = other {
            done.insert(k);
        }
        let a = pair::sniff_or_note(&folder.join(name), &mut summary.errors);
        let b = other.and_then(|(_, n)| pair::sniff_or_note(&folder.join(n), &mut summary.errors));
        let halves = pair::decide(a, b).connections(file(name), other.map(|(_, n)| file(n)));
        // Carved apart, the reverse flow's connection comes first here (live
        // carving puts the first flow's first); only the order of errors
        // shows it, so each keeps the order it always had.
        out.extend(halves.into_iter().rev().map(|h| Connection {
            dir: folder.to_path_buf(),
            request: h.request,
            response: h.response,
        }));
    }
    out
}

#[cfg(test)]
mod tests;
