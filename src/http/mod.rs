//! The HTTP post-pass: carve HTTP/1.x messages and bodies out of folders of
//! flow files written by flowsplit or tcpflow.
//!
//! Owns: running the post-pass ([`carve_dirs`]): the connections `walk`
//! finds are carved in parallel, their index lines gathered as they finish,
//! and each folder's `http.jsonl` written at the end. The pieces below it:
//! `name` (flow and body file names) → `walk` (walking the folders, gaps
//! from `report.jsonl`, pairing the two directions of each connection by
//! name) → `stream` (bounded look-ahead over a flow file) → `message`
//! (heads, framing, resync) → `pair` (which of a connection's flows carries
//! requests, shared with `inline`) → `body` (decoding, limits, hashing, the
//! body file) → `multipart` (a multipart body's parts, each a file) →
//! `conn` (one connection) → `ranges` (the `206` parts of every connection,
//! assembled into whole objects once all are carved) → `index` (the
//! records, their order and the writer of `http.jsonl`) and `tls_lines`
//! (the report's TLS lines, in their order); `spill` is the external merge
//! sort under `walk`, `ranges`, `index` and `tls_lines`; `inline` carves
//! connections as the capture pipeline closes them, on the threads of a
//! `pool`, gathering into the post-pass's own collector (`Carved`).
//!
//! Memory does not grow with the number of flow files or connections: the
//! walk's files and the index lines are sorted within fixed budgets
//! (`walk::WALK_BUDGET` per sort, [`INDEX_BUDGET`], [`RANGE_BUDGET`] for
//! range parts), spilling the rest into
//! an unnamed temporary file; only one path per folder holding flow files,
//! the errors met and the connections being carved (one per thread) are
//! held besides.
//!
//! Must not: touch flow files (read only) or write anywhere but the folder
//! a flow file is in and the spill files (unnamed, in the first folder
//! given); replace a file that is not a body an earlier run listed in the
//! folder's index (see `name::Folder`). Body-file names come from
//! flow-file names, or with `--http-names url` from the request target,
//! sanitised into one file name (see `name`).

mod body;
mod conn;
mod growth;
pub use growth::GrowthAccount;
mod h2;
pub mod index;
pub mod inline;
mod message;
mod multipart;
pub mod name;
mod pair;
pub mod pool;
pub(crate) mod ranges;
pub(crate) mod spill;
mod stream;
pub mod tls;
pub mod tls_lines;
mod walk;

use crate::error::Error;
use index::IndexLine;
pub use index::{BodyRecord, Record};
use ranges::RangePart;
use rayon::prelude::*;
use spill::Sorter;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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
    /// NSS key log files (`--tls-keylog`): TLS connections whose secrets
    /// they hold are decrypted and carved (see `crate::tls`).
    pub tls_keylogs: Vec<PathBuf>,
    /// `--tls-psk` and `--tls-rsa-key`: keys that make the master secret of
    /// connections up to TLS 1.2 whose key exchange is plain PSK or RSA.
    pub tls_keys: std::sync::Arc<crate::tls::premaster::Keys>,
    /// How body files are named (`--http-names`).
    pub names: crate::config::HttpNames,
    /// The TLS key logs the capture carries (pcapng Decryption Secrets
    /// Blocks), added as the capture is read and used as if given with
    /// `--tls-keylog`; shared by clones.
    pub capture_secrets: crate::tls::keylog::CaptureSecrets,
    /// The run's amplification bound (`--max-amplification`,
    /// `--amplification-base`), which decoded bodies' growth is held to as
    /// a whole (see `growth`).
    pub amplification: crate::flow::fill::FillBound,
    /// The account of the carving run these options are armed for,
    /// shared by its threads; leave it at its default (every carving run
    /// starts a fresh one).
    pub growth: GrowthAccount,
}

impl CarveSummary {
    /// What this carving spent of the amplification bound.
    pub fn spent(&self) -> HttpSpent {
        HttpSpent {
            object_fill: self.object_fill,
            objects_cut: self.objects_cut,
            decoded_growth: self.decoded_growth,
            bodies_cut: self.bodies_cut,
            bodies_not_decoded: self.bodies_not_decoded,
        }
    }
}

impl HttpOptions {
    /// These options with a fresh growth account under
    /// [`HttpOptions::amplification`]: every carving run starts with one.
    pub(crate) fn armed(&self) -> HttpOptions {
        HttpOptions {
            growth: GrowthAccount(Arc::new(growth::RunGrowth::new(self.amplification))),
            ..self.clone()
        }
    }

    /// The growth account of the run these options were armed for.
    pub(crate) fn growth(&self) -> &Arc<growth::RunGrowth> {
        &self.growth.0
    }

    /// Whether TLS connections are decrypted: a key log, a PSK or an RSA
    /// key was given.
    pub fn decrypts_tls(&self) -> bool {
        !self.tls_keylogs.is_empty() || !self.tls_keys.is_empty()
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            decode: true,
            max_decoded_bytes: 1 << 30,
            max_ratio: 1000,
            tls_keylogs: Vec::new(),
            tls_keys: Default::default(),
            names: crate::config::HttpNames::Tcpflow,
            amplification: crate::flow::fill::FillBound::default(),
            growth: GrowthAccount::default(),
            capture_secrets: Default::default(),
        }
    }
}

/// What carving spent of the run's amplification bound: range objects'
/// zero fill and decoded bodies' growth, and what each cut.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HttpSpent {
    /// Zero bytes written into the holes of range objects.
    pub object_fill: u64,
    /// Range objects cut, or parts left out, for lack of room.
    pub objects_cut: u64,
    /// Bytes the decoded bodies as kept grew by beyond their encoded
    /// bytes (a body kept as sent counts nothing).
    pub decoded_growth: u64,
    /// Decoded bodies cut for lack of room.
    pub bodies_cut: u64,
    /// Bodies kept as sent, not decoded, for lack of room.
    pub bodies_not_decoded: u64,
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
    /// TLS connections decrypted, left alone, and failing authentication
    /// (with `--tls-keylog` only).
    pub tls: tls::TlsCounts,
    /// Objects assembled from range parts.
    pub objects: u64,
    /// Zero bytes written into the holes of range objects (bytes no part
    /// covers, up to the `Content-Range` total a server claimed).
    pub object_fill: u64,
    /// Objects cut short, or parts left out, because the run's
    /// amplification bound had no room for their holes (each noted in the
    /// object's record, which is incomplete).
    pub objects_cut: u64,
    /// Bytes decoded bodies grew by beyond their encoded bytes, over the
    /// run (held to the amplification bound, see `growth`).
    pub decoded_growth: u64,
    /// Decoded bodies cut because the bound was spent (each incomplete,
    /// with the reason in its record).
    pub bodies_cut: u64,
    /// Bodies kept as sent, not decoded, because the bound was spent
    /// before they decoded to a byte (each noted in its record).
    pub bodies_not_decoded: u64,
    /// Files or folders that could not be read or written; the rest of the
    /// work was done.
    pub errors: Vec<Error>,
    /// Key log files with lines but not one usable (`--tls-keylog`): the
    /// carving went on without them.
    pub unusable_keylogs: Vec<crate::tls::keylog::Unusable>,
    /// The report's TLS lines: one per direction of each TLS connection
    /// carving tried to decrypt, in report order, for the caller to put in
    /// `report.jsonl` (see [`tls_lines::TlsLines::write`]).
    pub tls_lines: tls_lines::TlsLines,
}

/// The header fields of the HTTP/1.x message head at `offset` in the flow
/// file `path`, as the carver reads them (names lower-cased, values
/// trimmed), in wire order: for an `http.jsonl` line's `request_offset` in
/// its `request_file` (`request` true) or `response_offset` in its
/// `response_file`. Empty when no whole head is there (a head cut by a
/// hole, or an HTTP/2 stream, whose offsets are not heads). For programs
/// that embed the library (the Python package's `Exchange.headers`).
pub fn head_fields(path: &Path, offset: u64, request: bool) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(4096);
    file.take(message::MAX_HEAD as u64).read_to_end(&mut buf)?;
    let side = if request {
        message::Side::Request
    } else {
        message::Side::Response
    };
    Ok(match message::parse_head(&buf, side) {
        message::Parsed::Complete(head) => head
            .headers
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect(),
        message::Parsed::Partial | message::Parsed::Invalid => Vec::new(),
    })
}

/// Carve every HTTP body out of the flow files under `dirs` (walked
/// recursively, links not followed). Body files are written beside their
/// flow files and each folder with flow files gets an `http.jsonl` index.
/// Files whose names are not flow-file names are left alone.
///
/// Memory does not grow with the number of files or connections: the
/// list of flow files and the index lines go through external sorts
/// spilling into an unnamed temporary file in the first of `dirs` (see
/// [`INDEX_BUDGET`]). What is held for the whole run is one path per folder
/// holding flow files and the errors met.
///
/// Fails only if a folder in `dirs` cannot be opened; problems with single
/// files are listed in [`CarveSummary::errors`].
///
/// Range objects' holes are held to what each folder's run left of its
/// amplification bound, as its `report.summary.json` says (see
/// [`left_by_runs`]), and decoded bodies' growth to
/// `opts.amplification` ([`bound_of_runs`] is the bound the runs were held
/// to, for carving again what they carved).
///
/// Each of `dirs` holding a `report.jsonl` gets the TLS lines of the TLS
/// connections under it that carving tried to decrypt (see
/// [`crate::output::tls_record`]), in place of those an earlier carving
/// left: carving a folder again gives the same report. (A shard's report,
/// `report-K-of-N.jsonl`, is left alone.)
pub fn carve_dirs(dirs: &[PathBuf], opts: &HttpOptions) -> Result<CarveSummary, Error> {
    let mut summary = carve(dirs, opts, false, left_by_runs(dirs))?;
    let lines = std::mem::take(&mut summary.tls_lines);
    if let Err(e) = lines.write(report_targets(dirs)) {
        summary.errors.push(e);
    }
    Ok(summary)
}

/// The reports of `dirs` that get TLS lines: each folder's `report.jsonl`,
/// when it is a file (not a link), with the folder its lines' flow files
/// are named relative to.
fn report_targets(dirs: &[PathBuf]) -> Vec<crate::output::tls_record::TlsTarget> {
    dirs.iter()
        .map(|d| (d, d.join(REPORT_NAME)))
        .filter(|(_, r)| std::fs::symlink_metadata(r).is_ok_and(|m| m.is_file()))
        .map(|(d, report)| crate::output::tls_record::TlsTarget {
            root: d.clone(),
            report,
            fresh: false,
        })
        .collect()
}

/// What the runs that wrote `dirs` left of their amplification bounds for
/// range objects: the sum over `dirs` of each run summary's `limit` less
/// its flows' `filled`; no bound (`u64::MAX`) when a folder has no
/// readable summary beside its report, or one written before the bound
/// existed.
pub fn left_by_runs(dirs: &[PathBuf]) -> u64 {
    let mut left = 0u64;
    for d in dirs {
        let Some(a) = recorded_amplification(d) else {
            return u64::MAX;
        };
        left = left.saturating_add(a.limit.saturating_sub(a.filled));
    }
    left
}

/// The amplification bound the runs that wrote `dirs` were held to, as
/// their summaries say: the largest ratio and the sum of the bases;
/// `None` when a folder has no readable summary, or one written before
/// the bound existed.
pub fn bound_of_runs(dirs: &[PathBuf]) -> Option<crate::flow::fill::FillBound> {
    let mut bound = crate::flow::fill::FillBound { ratio: 0, base: 0 };
    for d in dirs {
        let a = recorded_amplification(d)?;
        bound.ratio = bound.ratio.max(a.ratio);
        bound.base = bound.base.saturating_add(a.base);
    }
    (!dirs.is_empty()).then_some(bound)
}

/// The `amplification` member of the run summary in `dir`, when it has
/// one that holds a bound.
fn recorded_amplification(dir: &Path) -> Option<crate::output::summary::AmplificationRecord> {
    let path = crate::output::summary::summary_path(&dir.join(REPORT_NAME));
    let text = std::fs::read(&path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let a = v.get("amplification")?;
    // Summaries from before the bound have no limit.
    a.get("limit")?.as_u64()?;
    serde_json::from_value(a.clone()).ok()
}

/// [`carve_dirs`] with at most `object_fill` zero bytes written into the
/// holes of range objects, all objects together: what is left of the
/// run's amplification bound (see [`crate::flow::fill`]). An object whose
/// holes do not fit is cut after the last byte a part covers, and a part
/// that would leave a hole too large before it is not laid in; both are
/// noted in the object's record.
pub fn carve_dirs_within(
    dirs: &[PathBuf],
    opts: &HttpOptions,
    object_fill: u64,
) -> Result<CarveSummary, Error> {
    carve(dirs, opts, false, object_fill)
}

/// [`carve_dirs`] for a shard (`--shard`): each index also has a
/// `{"http_order": FILE}` line before each connection's lines, the key
/// `flowsplit merge` merges the shards' indexes by, and lists the range
/// parts (`{"http_range_part": ...}` lines) instead of assembling them:
/// `flowsplit merge` assembles them over every shard's.
pub fn carve_dirs_marked(dirs: &[PathBuf], opts: &HttpOptions) -> Result<CarveSummary, Error> {
    carve(dirs, opts, true, u64::MAX)
}

fn carve(
    dirs: &[PathBuf],
    opts: &HttpOptions,
    marked: bool,
    object_fill: u64,
) -> Result<CarveSummary, Error> {
    for d in dirs {
        if let Err(source) = std::fs::read_dir(d) {
            return Err(Error::Open {
                path: d.clone(),
                source,
            });
        }
    }
    let opts = &opts.armed();
    let keylog = if !opts.decrypts_tls() && opts.capture_secrets.is_empty() {
        None
    } else {
        let files = crate::tls::KeyLog::load(&opts.tls_keylogs)?;
        let (capture, _) = opts.capture_secrets.current();
        Some(crate::tls::keylog::with_capture(&files, &capture))
    };
    let mut summary = CarveSummary {
        unusable_keylogs: keylog
            .as_ref()
            .map(|k| k.unusable.clone())
            .unwrap_or_default(),
        ..CarveSummary::default()
    };
    let spill_dir = dirs.first().cloned().unwrap_or_default();
    let (mut found_errors, mut folders) = (Vec::new(), Vec::new());
    let connections = walk::connections(
        dirs,
        &spill_dir,
        &mut summary.errors,
        &mut found_errors,
        &mut folders,
        keylog.is_some(),
    );
    let carved = Mutex::new(Carved::new(&spill_dir, opts.max_decoded_bytes));
    let sessions = tls::Sessions::new(crate::config::TLS_SESSION_MEMORY as usize);
    connections
        .zip(0u64..)
        .par_bridge()
        .for_each(|(job, number)| {
            let (c, outcome, counts) = match (job, &keylog) {
                (walk::Job::Tls(c, first), Some(log)) => {
                    let order = (first.unwrap_or(u64::MAX), number);
                    match tls::carve(&c, order, number, log, opts, &sessions) {
                        Some((outcome, counts)) => (c, outcome, counts),
                        None => return,
                    }
                }
                (walk::Job::H2(c), _) => {
                    let outcome = h2::carve(&c, opts);
                    (c, outcome, tls::TlsCounts::default())
                }
                (walk::Job::Http(c) | walk::Job::Tls(c, _), _) => {
                    let outcome = conn::carve(&c, opts);
                    (c, outcome, tls::TlsCounts::default())
                }
            };
            let lines: Vec<_> = outcome
                .records
                .iter()
                .map(|r| IndexLine::new(&c.dir, number, r))
                .collect();
            let mut carved = carved.lock().unwrap_or_else(PoisonError::into_inner);
            carved.tls.add(counts);
            carved.add(number, &c.dir, outcome, lines);
        });
    let mut carved = carved.into_inner().unwrap_or_else(PoisonError::into_inner);
    if let Some(log) = &keylog {
        for (number, c, outcome, counts) in sessions.finish(log, opts) {
            let lines: Vec<_> = outcome
                .records
                .iter()
                .map(|r| IndexLine::new(&c.dir, number, r))
                .collect();
            carved.tls.add(counts);
            carved.add(number, &c.dir, outcome, lines);
        }
    }
    summary.errors.append(&mut found_errors);
    carved.finish(folders, &mut summary, marked, object_fill);
    summary.decoded_growth = opts.growth().grown();
    summary.bodies_cut = opts.growth().cut();
    summary.bodies_not_decoded = opts.growth().not_decoded();
    Ok(summary)
}

/// Whether `dir` (walked, links not followed) holds a file the post-pass
/// would carve: a flow file, by its name. A folder that does not exist
/// holds none.
pub fn holds_flow_files(dir: &Path) -> bool {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .any(|e| {
            e.file_name()
                .to_str()
                .and_then(name::FlowName::parse)
                .is_some()
        })
}

/// Bytes of index lines held before a run of them is written to the spill
/// file (by the post-pass, and by inline carving).
pub const INDEX_BUDGET: usize = 8 << 20;

/// Bytes of range parts held before a run of them is written to the spill
/// file (by the post-pass, and by inline carving).
pub const RANGE_BUDGET: usize = 4 << 20;

/// What the carved connections produced, gathered as they finish (by the
/// post-pass, and by inline carving).
pub(crate) struct Carved {
    index: Sorter<IndexLine>,
    /// Every `206` body, as a part of its resource.
    ranges: Sorter<RangePart>,
    /// Largest object file written (the decoded size limit).
    max_object: u64,
    /// Each connection's errors, by its number (listed in that order).
    errors: Vec<(u64, Vec<Error>)>,
    /// Errors keeping index lines and range parts.
    index_errors: Vec<Error>,
    connections: u64,
    messages: u64,
    bodies: u64,
    incomplete: u64,
    pub(crate) tls: tls::TlsCounts,
    /// The report's TLS lines, by connection id then flow file.
    tls_lines: Sorter<tls_lines::TlsLine>,
    tls_line_count: u64,
}

impl Carved {
    /// Nothing gathered yet; spills go to `spill_dir`, object files grow
    /// to at most `max_object` bytes.
    pub(crate) fn new(spill_dir: &Path, max_object: u64) -> Carved {
        Carved {
            index: Sorter::new(spill_dir, INDEX_BUDGET),
            ranges: Sorter::new(spill_dir, RANGE_BUDGET),
            max_object,
            errors: Vec::new(),
            index_errors: Vec::new(),
            connections: 0,
            messages: 0,
            bodies: 0,
            incomplete: 0,
            tls: tls::TlsCounts::default(),
            tls_lines: Sorter::new(spill_dir, tls_lines::TLS_LINES_BUDGET),
            tls_line_count: 0,
        }
    }

    /// Take the outcome of connection `number` (in folder `dir`), with its
    /// records as index lines.
    pub(crate) fn add(
        &mut self,
        number: u64,
        dir: &Path,
        outcome: conn::Outcome,
        lines: Vec<io::Result<IndexLine>>,
    ) {
        self.messages += outcome.messages;
        self.bodies += outcome.bodies;
        self.incomplete += outcome.incomplete;
        if !outcome.records.is_empty() {
            self.connections += 1;
        }
        if !outcome.errors.is_empty() {
            self.errors.push((number, outcome.errors));
        }
        for record in &outcome.tls {
            let pushed = tls_lines::TlsLine::new(record).and_then(|l| self.tls_lines.push(l));
            match pushed {
                Ok(()) => self.tls_line_count += 1,
                Err(source) => self.index_errors.push(Error::Write {
                    path: self.tls_lines.dir().to_path_buf(),
                    source,
                }),
            }
        }
        for part in outcome.ranges {
            if let Err(source) = self.ranges.push(part) {
                self.index_errors.push(Error::Write {
                    path: self.ranges.dir().to_path_buf(),
                    source,
                });
            }
        }
        for line in lines {
            let error = match line {
                Ok(l) => self.index.push(l).err().map(|source| Error::Write {
                    path: self.index.dir().to_path_buf(),
                    source,
                }),
                Err(source) => Some(Error::Write {
                    path: dir.join(INDEX_NAME),
                    source,
                }),
            };
            self.index_errors.extend(error);
        }
    }

    /// Write every folder's index and add the counts and the errors (in
    /// connection order) to `summary`. Range objects get at most
    /// `object_fill` zero bytes in their holes, all together.
    pub(crate) fn finish(
        mut self,
        folders: Vec<PathBuf>,
        summary: &mut CarveSummary,
        marked: bool,
        object_fill: u64,
    ) {
        summary.messages += self.messages;
        summary.bodies += self.bodies;
        summary.incomplete += self.incomplete;
        summary.connections += self.connections;
        summary.tls.add(self.tls);
        self.errors.sort_by_key(|(n, _)| *n);
        summary
            .errors
            .extend(self.errors.into_iter().flat_map(|(_, e)| e));
        summary.errors.append(&mut self.index_errors);
        let spill_dir = self.index.dir().to_path_buf();
        match self.tls_lines.finish() {
            Ok(sorted) => {
                summary.tls_lines = tls_lines::TlsLines::new(sorted, self.tls_line_count);
            }
            Err(source) => summary.errors.push(Error::Write {
                path: spill_dir.clone(),
                source,
            }),
        }
        if marked {
            // A shard: the parts are listed for flowsplit merge, which
            // assembles them over every shard's.
            ranges::list_into(self.ranges, &mut self.index, &mut summary.errors);
        } else {
            let mut room = ranges::Room::new(object_fill);
            summary.objects += ranges::assemble_into(
                Path::new(""),
                self.ranges,
                self.max_object,
                &mut room,
                &mut self.index,
                &mut summary.errors,
            );
            summary.object_fill += room.filled;
            summary.objects_cut += room.cut;
        }
        let (written, errors) = match self.index.finish() {
            Ok(lines) => {
                index::write_indexes_marked(Path::new(""), folders.into_iter(), lines, marked)
            }
            Err(source) => (
                0,
                vec![Error::Write {
                    path: spill_dir,
                    source,
                }],
            ),
        };
        summary.folders += written;
        summary.errors.extend(errors);
    }
}

#[cfg(test)]
mod tests;
