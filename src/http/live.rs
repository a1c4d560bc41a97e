//! Carving during live capture: one connection at a time, as soon as both
//! of its flow files are closed, instead of a post-pass over whole folders.
//!
//! Owns: turning the capture pipeline's closed directions into a
//! [`Connection`], and keeping the index records until capture ends. Reuses
//! the post-pass's pieces unchanged: `sniff` (which side carries requests,
//! decided as `carve_dirs` decides it for a pair), `conn::carve` (the
//! carving itself) and `write_index`, so a live run's body files and index
//! are those `flowsplit http` would write for the same folder.
//!
//! Must not: walk folders or read `report.jsonl` (the pipeline hands over
//! each direction's gaps directly).

use super::conn::{self, Connection, FlowFile};
use super::index::Record;
use super::message::Side;
use super::name::FlowName;
use super::{sniff, write_index, HttpOptions, INDEX_NAME};
use crate::error::Error;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One closed direction as the capture pipeline wrote it.
#[derive(Debug, Clone, Copy)]
pub struct ClosedFlow<'a> {
    /// The flow file, relative to the output folder (the report's `file`).
    pub file: &'a str,
    /// Its zero-filled holes, `(offset, length)`.
    pub gaps: &'a [(u64, u64)],
}

/// A body file written for a connection.
#[derive(Debug, Clone)]
pub struct CarvedBody {
    /// The body file, relative to the output folder.
    pub file: String,
    /// The flow file it came from, relative to the output folder.
    pub flow: String,
    /// `request` or `response`.
    pub kind: &'static str,
    /// Bytes in the body file.
    pub size: u64,
    /// SHA-256 of the body file, lower-case hex.
    pub sha256: String,
    /// True when the file holds the whole body.
    pub complete: bool,
}

/// What carving one connection produced.
#[derive(Debug, Default)]
pub struct CarvedConnection {
    /// Body files written, in index order.
    pub bodies: Vec<CarvedBody>,
    /// Files that could not be read or written.
    pub errors: Vec<Error>,
}

/// Carves connections as they close and writes the index at the end.
pub struct LiveCarver {
    outdir: PathBuf,
    opts: HttpOptions,
    /// Index records per folder (relative to the output folder).
    records: BTreeMap<PathBuf, Vec<Record>>,
}

impl LiveCarver {
    /// A carver for flow files under `outdir`.
    pub fn new(outdir: &Path, opts: HttpOptions) -> LiveCarver {
        LiveCarver {
            outdir: outdir.to_path_buf(),
            opts,
            records: BTreeMap::new(),
        }
    }

    /// Carve the connection whose closed directions are `flows` (one or
    /// two). Files whose names are not flow-file names are left alone, as
    /// `carve_dirs` leaves them.
    pub fn connection_closed(&mut self, flows: &[ClosedFlow<'_>]) -> CarvedConnection {
        let mut out = CarvedConnection::default();
        // Group by folder: both directions normally share one.
        let mut files: Vec<(PathBuf, FlowFile)> = Vec::new();
        for f in flows {
            let rel = Path::new(f.file);
            let (Some(name), folder) = (
                rel.file_name().and_then(|n| n.to_str()),
                rel.parent().unwrap_or(Path::new("")),
            ) else {
                continue;
            };
            if FlowName::parse(name).is_none() {
                continue;
            }
            let dir = self.outdir.join(folder);
            files.push((
                folder.to_path_buf(),
                FlowFile {
                    name: name.to_string(),
                    path: dir.join(name),
                    gaps: f.gaps.to_vec(),
                },
            ));
        }
        let mut conns: Vec<(PathBuf, Connection)> = Vec::new();
        match files.len() {
            0 => return out,
            1 => {
                let (folder, a) = files.remove(0);
                let side = self.sniff(&a, &mut out);
                let dir = self.outdir.join(&folder);
                let conn = match side {
                    Some(Side::Request) => Connection {
                        dir,
                        request: Some(a),
                        response: None,
                    },
                    Some(Side::Response) => Connection {
                        dir,
                        request: None,
                        response: Some(a),
                    },
                    None => return out,
                };
                conns.push((folder, conn));
            }
            _ => {
                let (fb, b) = files.remove(1);
                let (fa, a) = files.remove(0);
                let sa = self.sniff(&a, &mut out);
                let sb = self.sniff(&b, &mut out);
                let da = self.outdir.join(&fa);
                let db = self.outdir.join(&fb);
                let one = |folder: &PathBuf, dir: &PathBuf, f: FlowFile, request: bool| {
                    let dir = dir.clone();
                    let conn = if request {
                        Connection {
                            dir,
                            request: Some(f),
                            response: None,
                        }
                    } else {
                        Connection {
                            dir,
                            request: None,
                            response: Some(f),
                        }
                    };
                    (folder.clone(), conn)
                };
                match (sa, sb) {
                    // Both look like clients (or both like servers): each on its own.
                    (Some(Side::Request), Some(Side::Request)) => {
                        conns.push(one(&fa, &da, a, true));
                        conns.push(one(&fb, &db, b, true));
                    }
                    (Some(Side::Response), Some(Side::Response)) => {
                        conns.push(one(&fa, &da, a, false));
                        conns.push(one(&fb, &db, b, false));
                    }
                    (Some(Side::Request), _) | (_, Some(Side::Response)) => {
                        conns.push((
                            fa,
                            Connection {
                                dir: da,
                                request: Some(a),
                                response: Some(b),
                            },
                        ));
                    }
                    (Some(Side::Response), _) | (_, Some(Side::Request)) => {
                        conns.push((
                            fb,
                            Connection {
                                dir: db,
                                request: Some(b),
                                response: Some(a),
                            },
                        ));
                    }
                    (None, None) => return out,
                }
            }
        }
        for (folder, c) in conns {
            let outcome = conn::carve(&c, &self.opts);
            out.errors.extend(outcome.errors);
            for r in &outcome.records {
                let bodies = [
                    (&r.request_body, &r.request_file, "request"),
                    (&r.response_body, &r.response_file, "response"),
                ];
                for (body, flow, kind) in bodies {
                    let (Some(body), Some(flow)) = (body, flow) else {
                        continue;
                    };
                    let Some(file) = &body.file else {
                        continue;
                    };
                    out.bodies.push(CarvedBody {
                        file: rel_name(&folder, file),
                        flow: rel_name(&folder, flow),
                        kind,
                        size: body.decoded_length,
                        sha256: body.sha256.clone(),
                        complete: body.complete,
                    });
                }
            }
            self.records
                .entry(folder)
                .or_default()
                .extend(outcome.records);
        }
        out
    }

    /// Write `http.jsonl` in the output folder and in every folder that had
    /// records, ordered as `carve_dirs` orders them. Returns the errors met.
    pub fn finish(&mut self) -> Vec<Error> {
        let mut errors = Vec::new();
        self.records.entry(PathBuf::new()).or_default();
        for (folder, records) in std::mem::take(&mut self.records) {
            let mut records = records;
            records.sort_by(|a, b| a.order.cmp(&b.order));
            let path = self.outdir.join(folder).join(INDEX_NAME);
            if let Err(source) = write_index(&path, &records) {
                errors.push(Error::Write { path, source });
            }
        }
        errors
    }

    fn sniff(&self, f: &FlowFile, out: &mut CarvedConnection) -> Option<Side> {
        match sniff(&f.path) {
            Ok(s) => s,
            Err(source) => {
                out.errors.push(Error::Read {
                    path: f.path.clone(),
                    source,
                });
                None
            }
        }
    }
}

/// `name` in `folder`, as a path relative to the output folder.
fn rel_name(folder: &Path, name: &str) -> String {
    folder.join(name).to_string_lossy().into_owned()
}
