//! Carving during live capture: one connection at a time, as soon as both
//! of its flow files are closed, instead of a post-pass over whole folders.
//!
//! Owns: turning the capture pipeline's closed directions into a
//! [`Connection`], and keeping the index lines until capture ends, sorted
//! within [`INDEX_BUDGET`] bytes of memory (more spill into an unnamed
//! temporary file in the output folder). Reuses the post-pass's pieces
//! unchanged: `pair` (which direction carries requests, by the rule
//! `carve_dirs` applies to a pair), `conn::carve` (the carving itself) and
//! the index order and writer (`index`), so a live run's body files and
//! index are those `flowsplit http` would write for the same folder.
//!
//! Must not: walk folders or read `report.jsonl` (the pipeline hands over
//! each direction's gaps directly).

use super::conn::{self, Connection, FlowFile};
use super::index::{self, IndexLine, Record};
use super::name::FlowName;
use super::pair;
use super::ranges::{self, RangePart};
use super::spill::Sorter;
use super::{HttpOptions, INDEX_BUDGET, INDEX_NAME, RANGE_BUDGET};
use crate::error::Error;
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
    /// Index lines of every folder (relative to the output folder).
    index: Sorter<IndexLine>,
    /// Connections carved so far (numbers their index lines).
    carved: u64,
    /// The key logs (`--tls-keylog`), read again when they change.
    keylog: Option<crate::tls::keylog::Reloading>,
    /// Every `206` body so far, as a part of its resource.
    ranges: Sorter<RangePart>,
}

impl LiveCarver {
    /// A carver for flow files under `outdir`.
    pub fn new(outdir: &Path, opts: HttpOptions) -> LiveCarver {
        LiveCarver {
            outdir: outdir.to_path_buf(),
            index: Sorter::new(outdir, INDEX_BUDGET),
            carved: 0,
            keylog: (!opts.tls_keylogs.is_empty())
                .then(|| crate::tls::keylog::Reloading::new(opts.tls_keylogs.clone())),
            opts,
            ranges: Sorter::new(outdir, RANGE_BUDGET),
        }
    }

    /// Carve the connection whose closed directions are `flows` (one or
    /// two; any after the second are ignored). Files whose names are not
    /// flow-file names are left alone, as `carve_dirs` leaves them. Which
    /// direction carries requests is decided by [`pair::decide`], as
    /// `carve_dirs` decides it for a pair; flows that are neither are
    /// carved as HTTP/2 when one begins with the client preface, and as TLS
    /// (with a key log) when one begins with a ClientHello, as `carve_dirs`
    /// carves them.
    pub fn connection_closed(&mut self, flows: &[ClosedFlow<'_>]) -> CarvedConnection {
        let mut out = CarvedConnection::default();
        let mut files = flows.iter().filter_map(|f| self.flow_file(f));
        let Some(a) = files.next() else {
            return out;
        };
        let b = files.next();
        let sa = pair::sniff_or_note(&a.1.path, &mut out.errors);
        let sb = b
            .as_ref()
            .and_then(|b| pair::sniff_or_note(&b.1.path, &mut out.errors));
        if sa.is_none() && sb.is_none() {
            // HTTP/2 with prior knowledge, as the post-pass finds it.
            let h2 = |f: &(PathBuf, FlowFile)| super::h2::starts_with_preface(&f.1.path);
            let (client, server) = match b {
                Some(b) if !h2(&a) && h2(&b) => (b, Some(a)),
                b => (a, b),
            };
            if h2(&client) {
                let folder = client.0.clone();
                let c = Connection {
                    dir: self.outdir.join(&folder),
                    request: Some(client.1),
                    response: server.map(|(_, f)| f),
                };
                let outcome = super::h2::carve(&c, &self.opts);
                self.keep(folder, outcome, &mut out);
                return out;
            }
            let (a, b) = (client, server);
            if self.keylog.is_some() {
                if let Ok((client, server)) = super::tls::tls_pair(a, b, |f| &f.1.path) {
                    self.carve_tls(client, server, &mut out);
                }
            }
            return out;
        }
        // Carved apart, the first direction's connection comes first here
        // (the post-pass puts the reverse flow's first).
        for h in pair::decide(sa, sb).connections(a, b) {
            // Both directions normally share a folder; the connection's is
            // its request flow's (its response flow's when alone).
            let Some((folder, _)) = h.request.as_ref().or(h.response.as_ref()) else {
                continue;
            };
            let folder = folder.clone();
            let c = Connection {
                dir: self.outdir.join(&folder),
                request: h.request.map(|(_, f)| f),
                response: h.response.map(|(_, f)| f),
            };
            self.carve(folder, &c, &mut out);
        }
        out
    }

    /// The flow file a closed direction names, with its folder relative to
    /// the output folder; `None` if its name is not a flow-file name.
    fn flow_file(&self, f: &ClosedFlow<'_>) -> Option<(PathBuf, FlowFile)> {
        let rel = Path::new(f.file);
        let name = rel.file_name().and_then(|n| n.to_str())?;
        let folder = rel.parent().unwrap_or(Path::new(""));
        FlowName::parse(name)?;
        Some((
            folder.to_path_buf(),
            FlowFile {
                name: name.to_string(),
                path: self.outdir.join(folder).join(name),
                gaps: f.gaps.to_vec(),
            },
        ))
    }

    /// Decrypt and carve the TLS connection of `client` and `server` (in
    /// the client's folder), as `carve_dirs` does.
    fn carve_tls(
        &mut self,
        client: (PathBuf, FlowFile),
        server: Option<(PathBuf, FlowFile)>,
        out: &mut CarvedConnection,
    ) {
        let Some(source) = self.keylog.as_mut() else {
            return;
        };
        let (log, error) = source.current();
        out.errors.extend(error);
        let folder = client.0;
        let c = Connection {
            dir: self.outdir.join(&folder),
            request: Some(client.1),
            response: server.map(|(_, f)| f),
        };
        let (outcome, _) = super::tls::carve(&c, log, &self.opts);
        self.keep(folder, outcome, out);
    }

    /// Carve `c` (in `folder`, relative to the output folder), list its
    /// body files and errors in `out`, and keep its records for the index.
    fn carve(&mut self, folder: PathBuf, c: &Connection, out: &mut CarvedConnection) {
        let outcome = conn::carve(c, &self.opts);
        self.keep(folder, outcome, out);
    }

    /// List `outcome`'s body files and errors in `out`, and keep its
    /// records (of a connection in `folder`) for the index.
    fn keep(&mut self, folder: PathBuf, outcome: conn::Outcome, out: &mut CarvedConnection) {
        let number = self.carved;
        self.carved += 1;
        out.errors.extend(outcome.errors);
        out.bodies.extend(
            outcome
                .records
                .iter()
                .flat_map(|r| carved_bodies(&folder, r)),
        );
        for mut part in outcome.ranges {
            // Index folders are relative to the output folder here.
            part.folder.clone_from(&folder);
            if let Err(source) = self.ranges.push(part) {
                out.errors.push(Error::Write {
                    path: self.outdir.clone(),
                    source,
                });
            }
        }
        for r in &outcome.records {
            let kept = IndexLine::new(&folder, number, r).and_then(|l| self.index.push(l));
            if let Err(source) = kept {
                out.errors.push(Error::Write {
                    path: self.outdir.join(&folder).join(INDEX_NAME),
                    source,
                });
            }
        }
    }

    /// Write `http.jsonl` in the output folder and in every folder that had
    /// records, ordered as `carve_dirs` orders them. Returns the errors met.
    pub fn finish(&mut self) -> Vec<Error> {
        let mut index = std::mem::replace(&mut self.index, Sorter::new(&self.outdir, INDEX_BUDGET));
        let ranges = std::mem::replace(&mut self.ranges, Sorter::new(&self.outdir, RANGE_BUDGET));
        let mut errors = Vec::new();
        let max = self.opts.max_decoded_bytes;
        ranges::assemble_into(&self.outdir, ranges, max, &mut index, &mut errors);
        match index.finish() {
            Ok(lines) => errors.extend(
                index::write_indexes(&self.outdir, std::iter::once(PathBuf::new()), lines).1,
            ),
            Err(source) => errors.push(Error::Write {
                path: self.outdir.clone(),
                source,
            }),
        }
        errors
    }
}

/// The body files of record `r` (request's, then response's), named
/// relative to the output folder.
fn carved_bodies<'r>(folder: &'r Path, r: &'r Record) -> impl Iterator<Item = CarvedBody> + 'r {
    let bodies = [
        (&r.request_body, &r.request_file, "request"),
        (&r.response_body, &r.response_file, "response"),
    ];
    bodies.into_iter().filter_map(move |(body, flow, kind)| {
        let (Some(body), Some(flow)) = (body, flow) else {
            return None;
        };
        let file = body.file.as_ref()?;
        Some(CarvedBody {
            file: rel_name(folder, file),
            flow: rel_name(folder, flow),
            kind,
            size: body.decoded_length,
            sha256: body.sha256.clone(),
            complete: body.complete,
        })
    })
}

/// `name` in `folder`, as a path relative to the output folder.
fn rel_name(folder: &Path, name: &str) -> String {
    folder.join(name).to_string_lossy().into_owned()
}
