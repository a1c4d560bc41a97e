//! Finding the connections in folders of flow files, without holding the
//! list of files.
//!
//! Owns: the walk over the folders given (each once however named, links
//! not followed), the gaps listed in every `report.jsonl` (or shard report,
//! `report-K-of-N.jsonl`) met on the way,
//! pairing each flow file with the reverse direction's by name, and the
//! order connections come in: folder by folder (by path), and within a
//! folder by the name ([`FlowName`] order) of the connection's first flow.
//!
//! What the walk finds goes through two external sorts (`spill`), so
//! memory does not grow with the number of files:
//!
//! ```text
//!  walk ──▶ Found, by (folder, pair, flow): a flow file, or its gaps in a report
//!       ──▶ Placed, by (folder, position, flow): a flow file with its gaps
//!       ──▶ Connections: one or two Placed at a time, sniffed and paired
//! ```
//!
//! `pair` (the smaller of a flow's name and its reverse's) brings both
//! directions of a connection and their gaps together; `position` (`pair`
//! when both directions are there, the flow's own name when it is alone)
//! is where the connection's first flow falls in name order.
//!
//! Must not: read flow files beyond sniffing them, or write anything but
//! the sorters' spill files.

use super::conn::{Connection, FlowFile};
use super::index;
use super::name::{Endpoint, FlowName, Folder};
use super::pair;
use super::spill::{codec, Sorted, Sorter, Spill};
use super::REPORT_NAME;
use crate::error::Error;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufReader};
use std::iter::Peekable;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Bytes of found files held by each of the walk's two sorts before a run
/// is written to the spill file.
pub(crate) const WALK_BUDGET: usize = 4 << 20;

/// A [`Found`] that is a flow file.
const FILE: u8 = 0;
/// A [`Found`] that is a report's line of gaps.
const GAPS: u8 = 1;

/// Something the walk found: a flow file, or a report's gaps for one.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    /// The folder the flow file is (or would be) in.
    folder: PathBuf,
    /// The smaller of `flow` and its reverse: the same for both directions.
    pair: FlowName,
    /// The flow file's name, parsed.
    flow: FlowName,
    /// [`FILE`] or [`GAPS`].
    kind: u8,
    /// A file: the order the walk met it in. Gaps: the order the walk met
    /// their report in.
    seq: u64,
    /// The flow file's name.
    name: String,
    /// Gaps: `(offset, length)` as the report lists them.
    gaps: Vec<(u64, u64)>,
    /// Gaps: the report's `connection` (its first packet's number), 0
    /// when it has none.
    connection: u64,
}

/// A flow file with its gaps, ordered as its connection is carved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Placed {
    /// The folder the flow file is in.
    folder: PathBuf,
    /// The name of its connection's first flow.
    position: FlowName,
    /// The flow file's name, parsed.
    flow: FlowName,
    /// The flow file's name.
    name: String,
    /// Its gaps, sorted.
    gaps: Vec<(u64, u64)>,
    /// The number of its connection's first packet, as the report gives
    /// it (its place in capture order); 0 without a report.
    connection: u64,
}

/// Walk `dirs` for flow files and the gaps every `report.jsonl` met lists
/// for them, and return their connections in the order they are carved.
/// Spill files go in `spill_dir`. Entries that cannot be read, and spill
/// files that cannot be written, are listed in `walk_errors` now; flows that
/// cannot be sniffed are listed in `errors`, and each folder holding flow
/// files is added to `folders`, as the connections are taken.
pub(crate) fn connections<'a>(
    dirs: &[PathBuf],
    spill_dir: &Path,
    walk_errors: &mut Vec<Error>,
    errors: &'a mut Vec<Error>,
    folders: &'a mut Vec<PathBuf>,
    tls: bool,
) -> Connections<'a> {
    Connections {
        tls,
        placed: find(dirs, spill_dir, walk_errors).peekable(),
        pending: VecDeque::new(),
        spill_dir: spill_dir.to_path_buf(),
        errors,
        folders,
        names: Folder::default(),
    }
}

/// The flow files under `dirs`, with their gaps, in the order their
/// connections are carved (see [`connections`]).
fn find(dirs: &[PathBuf], spill_dir: &Path, errors: &mut Vec<Error>) -> Sorted<Placed> {
    let mut found = Sorter::new(spill_dir, WALK_BUDGET);
    let failed_reports = walk(dirs, &mut found, errors);
    let mut placed = Sorter::new(spill_dir, WALK_BUDGET);
    let mut found = match found.finish() {
        Ok(f) => f.peekable(),
        Err(source) => {
            errors.push(spill_error(spill_dir, source));
            return Sorted::empty();
        }
    };
    loop {
        let group = match next_group(&mut found, |a, b| {
            (&a.folder, &a.pair) == (&b.folder, &b.pair)
        }) {
            Ok(Some(g)) => g,
            Ok(None) => break,
            Err(source) => {
                errors.push(spill_error(spill_dir, source));
                break;
            }
        };
        for p in place(group, &failed_reports) {
            if let Err(source) = placed.push(p) {
                errors.push(spill_error(spill_dir, source));
            }
        }
    }
    placed.finish().unwrap_or_else(|source| {
        errors.push(spill_error(spill_dir, source));
        Sorted::empty()
    })
}

fn spill_error(dir: &Path, source: io::Error) -> Error {
    Error::Write {
        path: dir.to_path_buf(),
        source,
    }
}

/// The next items of `items` that `same` says belong with the first.
fn next_group<T, I>(
    items: &mut Peekable<I>,
    same: impl Fn(&T, &T) -> bool,
) -> io::Result<Option<Vec<T>>>
where
    I: Iterator<Item = io::Result<T>>,
{
    let Some(first) = items.next().transpose()? else {
        return Ok(None);
    };
    let mut group = vec![first];
    while let Some(next) = items.next_if(|n| matches!(n, Ok(n) if same(&group[0], n))) {
        group.push(next?);
    }
    Ok(Some(group))
}

/// Walk `dirs` (each folder once, however named) into `found`. Returns the
/// reports that could not be read to the end: their gaps are not used.
fn walk(dirs: &[PathBuf], found: &mut Sorter<Found>, errors: &mut Vec<Error>) -> HashSet<u64> {
    let mut seen_dirs = HashSet::new();
    let mut failed_reports = HashSet::new();
    let (mut files, mut reports) = (0u64, 0u64);
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
                    errors.push(Error::Open {
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
            // A shard's report (`--shard`) lists the gaps of its flow files.
            let shard_report = crate::shard::ShardSpec::from_report_name(file_name).is_some();
            if file_name == REPORT_NAME || shard_report {
                reports += 1;
                if !read_report(entry.path(), reports, found, errors) {
                    failed_reports.insert(reports);
                }
                continue;
            }
            let Some(flow) = FlowName::parse(file_name) else {
                continue;
            };
            files += 1;
            let folder = entry.path().parent().unwrap_or(Path::new(""));
            let item = found_item(folder, flow, FILE, files, file_name, Vec::new(), 0);
            if let Err(source) = found.push(item) {
                errors.push(spill_error(found.dir(), source));
            }
        }
    }
    failed_reports
}

fn found_item(
    folder: &Path,
    flow: FlowName,
    kind: u8,
    seq: u64,
    name: &str,
    gaps: Vec<(u64, u64)>,
    connection: u64,
) -> Found {
    let reversed = flow.reversed();
    Found {
        folder: folder.to_path_buf(),
        pair: reversed.min(flow.clone()),
        flow,
        kind,
        seq,
        name: name.to_string(),
        gaps,
        connection,
    }
}

/// Add the gaps the report at `path` lists (flow files named relative to
/// the report's folder) as report number `seq`. False if the report could
/// not be read to the end (listed in `errors`).
fn read_report(path: &Path, seq: u64, found: &mut Sorter<Found>, errors: &mut Vec<Error>) -> bool {
    let folder = path.parent().unwrap_or(Path::new(""));
    let file = match File::open(path) {
        Ok(f) => f,
        Err(source) => {
            errors.push(Error::Open {
                path: path.to_path_buf(),
                source,
            });
            return false;
        }
    };
    let mut spill_errors = Vec::new();
    let read = index::each_gap_list(BufReader::new(file), |file, gaps, connection| {
        let path = folder.join(file);
        // Only a flow file's gaps can ever be used.
        let (Some(name), Some(parent)) = (path.file_name().and_then(|n| n.to_str()), path.parent())
        else {
            return;
        };
        let Some(flow) = FlowName::parse(name) else {
            return;
        };
        let connection = connection.unwrap_or(0);
        let item = found_item(parent, flow, GAPS, seq, name, gaps, connection);
        if let Err(source) = found.push(item) {
            spill_errors.push(spill_error(found.dir(), source));
        }
    });
    errors.append(&mut spill_errors);
    match read {
        Ok(()) => true,
        Err(source) => {
            errors.push(Error::Read {
                path: path.to_path_buf(),
                source,
            });
            false
        }
    }
}

/// The flow files of one `(folder, pair)` group, with their gaps and their
/// connection's position. Of several files with the same parsed name the
/// one the walk met last counts. A file's gaps are those the last report
/// (in walk order) listing its path gives, sorted.
fn place(group: Vec<Found>, failed_reports: &HashSet<u64>) -> Vec<Placed> {
    let mut out: Vec<Placed> = Vec::with_capacity(2);
    let mut items = group.into_iter().peekable();
    while let Some(first) = items.next() {
        let mut of_flow = vec![first];
        while let Some(next) = items.next_if(|n| n.flow == of_flow[0].flow) {
            of_flow.push(next);
        }
        // Files come before gaps, each by walk order.
        let Some(file) = of_flow.iter().rev().find(|f| f.kind == FILE) else {
            continue;
        };
        let listed = of_flow
            .iter()
            .filter(|g| g.kind == GAPS && g.name == file.name && !failed_reports.contains(&g.seq));
        let last_report = listed.clone().map(|g| g.seq).max();
        let in_last = listed.filter(|g| Some(g.seq) == last_report);
        let connection = in_last.clone().map(|g| g.connection).max().unwrap_or(0);
        let mut gaps: Vec<(u64, u64)> = in_last.flat_map(|g| g.gaps.iter().copied()).collect();
        gaps.sort_unstable();
        out.push(Placed {
            folder: file.folder.clone(),
            position: file.flow.clone(),
            flow: file.flow.clone(),
            name: file.name.clone(),
            gaps,
            connection,
        });
    }
    // Both directions there (or a flow that is its own reverse): the
    // connection falls where its smaller name does.
    if out.len() == 2 || out.first().is_some_and(|p| p.flow.src == p.flow.dst) {
        let pair = out[0].flow.clone();
        for p in &mut out {
            p.position = pair.clone();
        }
    }
    out
}

/// The connections to carve, in order (see [`connections`]): each flow
/// paired with its reverse, carved as [`pair::decide`] says. Flows that
/// look like neither requests nor responses are left out.
pub(crate) struct Connections<'a> {
    placed: Peekable<Sorted<Placed>>,
    /// Look for TLS connections among flows that are not HTTP.
    tls: bool,
    /// Connections found but not handed out yet (at most two).
    pending: VecDeque<Job>,
    spill_dir: PathBuf,
    /// Flows that could not be sniffed, and errors reading the spill file.
    errors: &'a mut Vec<Error>,
    /// Every folder holding a flow file, in order.
    folders: &'a mut Vec<PathBuf>,
    /// The body names of the last folder of `folders`.
    names: Folder,
}

impl Connections<'_> {
    /// Pair the next flow (and its reverse) into `pending`; false when no
    /// flows are left.
    fn pair_next(&mut self) -> bool {
        let group = match next_group(&mut self.placed, |a, b| {
            (&a.folder, &a.position) == (&b.folder, &b.position)
        }) {
            Ok(Some(g)) => g,
            Ok(None) => return false,
            Err(source) => {
                self.errors.push(Error::Read {
                    path: self.spill_dir.clone(),
                    source,
                });
                return false;
            }
        };
        let mut group = group.into_iter();
        let Some(a) = group.next() else {
            return true;
        };
        // A flow that is its own reverse is both flows, as when paired by name.
        let b = group
            .next()
            .or_else(|| (a.flow.src == a.flow.dst).then(|| a.clone()));
        let folder = a.folder.clone();
        if self.folders.last() != Some(&folder) {
            self.folders.push(folder.clone());
            // Before any of the folder's bodies: its index is rewritten
            // only once every connection is carved.
            self.names = Folder::read(&folder);
        }
        let names = self.names.clone();
        let file = |p: Placed| FlowFile {
            path: folder.join(&p.name),
            name: p.name,
            gaps: p.gaps,
        };
        let sa = pair::sniff_or_note(&folder.join(&a.name), self.errors);
        let sb = b
            .as_ref()
            .and_then(|b| pair::sniff_or_note(&folder.join(&b.name), self.errors));
        if sa.is_none() && sb.is_none() {
            // HTTP/2 with prior knowledge: the client flow starts with the preface.
            let h2 = super::h2::starts_with_preface;
            let client = if h2(&folder.join(&a.name)) {
                Some((a.clone(), b.clone()))
            } else {
                b.as_ref()
                    .filter(|b| h2(&folder.join(&b.name)))
                    .map(|b| (b.clone(), Some(a.clone())))
            };
            if let Some((client, server)) = client {
                self.pending.push_back(Job::H2(Connection {
                    dir: folder.clone(),
                    request: Some(file(client)),
                    response: server.map(file),
                    folder: names.clone(),
                }));
                return true;
            }
        }
        if self.tls && sa.is_none() && sb.is_none() {
            let first = [Some(a.connection), b.as_ref().map(|b| b.connection)]
                .into_iter()
                .flatten()
                .filter(|&c| c > 0)
                .min();
            let found = super::tls::tls_pair(file(a), b.map(file), |f| &f.path);
            if let Ok((client, server)) = found {
                let c = Connection {
                    dir: folder,
                    request: Some(client),
                    response: server,
                    folder: names,
                };
                self.pending.push_back(Job::Tls(c, first));
            }
            return true;
        }
        let halves = pair::decide(sa, sb).connections(file(a), b.map(file));
        // Carved apart, the reverse flow's connection comes first here (inline
        // carving puts the first flow's first); only the order of errors
        // shows it, so each keeps the order it always had.
        self.pending.extend(halves.into_iter().rev().map(|h| {
            Job::Http(Connection {
                dir: folder.clone(),
                request: h.request,
                response: h.response,
                folder: names.clone(),
            })
        }));
        true
    }
}

/// A connection to carve, and how.
pub(crate) enum Job {
    /// Flows carrying HTTP in the clear (or nothing recognised as TLS).
    Http(Connection),
    /// A TLS connection: its request flow is the client's, its response
    /// flow the server's; carved only with a key log. With the number of
    /// its first packet when a report gave it (its place in capture
    /// order, for the session cache).
    Tls(Connection, Option<u64>),
    /// HTTP/2 in cleartext with prior knowledge (the request flow begins
    /// with the connection preface).
    H2(Connection),
}

impl Iterator for Connections<'_> {
    type Item = Job;

    fn next(&mut self) -> Option<Job> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(c);
            }
            if !self.pair_next() {
                return None;
            }
        }
    }
}

fn put_flow(out: &mut Vec<u8>, f: &FlowName) {
    for e in [&f.src, &f.dst] {
        codec::put_bytes(out, e.addr.as_bytes());
        codec::put_u64(out, e.port.into());
    }
    codec::put_u64(out, f.vlan.map_or(0, |v| u64::from(v) + 1));
    codec::put_u64(out, f.conn.into());
}

fn get_flow(f: &mut codec::Fields<'_>) -> Option<FlowName> {
    let mut endpoint = || {
        Some(Endpoint {
            addr: f.string()?,
            port: u16::try_from(f.u64()?).ok()?,
        })
    };
    let (src, dst) = (endpoint()?, endpoint()?);
    let vlan = match f.u64()? {
        0 => None,
        v => Some(u32::try_from(v - 1).ok()?),
    };
    Some(FlowName {
        src,
        dst,
        vlan,
        conn: u32::try_from(f.u64()?).ok()?,
    })
}

fn flow_heap_bytes(f: &FlowName) -> usize {
    f.src.addr.len() + f.dst.addr.len()
}

fn put_path(out: &mut Vec<u8>, p: &Path) {
    codec::put_bytes(out, p.as_os_str().as_bytes());
}

fn get_path(f: &mut codec::Fields<'_>) -> Option<PathBuf> {
    Some(PathBuf::from(std::ffi::OsString::from_vec(
        f.bytes()?.to_vec(),
    )))
}

fn put_gaps(out: &mut Vec<u8>, gaps: &[(u64, u64)]) {
    codec::put_u64(out, gaps.len() as u64);
    for &(o, l) in gaps {
        codec::put_u64(out, o);
        codec::put_u64(out, l);
    }
}

fn get_gaps(f: &mut codec::Fields<'_>) -> Option<Vec<(u64, u64)>> {
    let n = f.u64()?;
    let mut gaps = Vec::new();
    for _ in 0..n {
        gaps.push((f.u64()?, f.u64()?));
    }
    Some(gaps)
}

impl Spill for Found {
    fn encode(&self, out: &mut Vec<u8>) {
        put_path(out, &self.folder);
        put_flow(out, &self.pair);
        put_flow(out, &self.flow);
        codec::put_u64(out, self.kind.into());
        codec::put_u64(out, self.seq);
        codec::put_bytes(out, self.name.as_bytes());
        put_gaps(out, &self.gaps);
        codec::put_u64(out, self.connection);
    }

    fn decode(bytes: &[u8]) -> Option<Found> {
        let mut f = codec::Fields(bytes);
        let found = Found {
            folder: get_path(&mut f)?,
            pair: get_flow(&mut f)?,
            flow: get_flow(&mut f)?,
            kind: u8::try_from(f.u64()?).ok()?,
            seq: f.u64()?,
            name: f.string()?,
            gaps: get_gaps(&mut f)?,
            connection: f.u64()?,
        };
        f.is_empty().then_some(found)
    }

    fn heap_bytes(&self) -> usize {
        self.folder.as_os_str().len()
            + flow_heap_bytes(&self.pair)
            + flow_heap_bytes(&self.flow)
            + self.name.len()
            + self.gaps.len() * 16
    }
}

impl Spill for Placed {
    fn encode(&self, out: &mut Vec<u8>) {
        put_path(out, &self.folder);
        put_flow(out, &self.position);
        put_flow(out, &self.flow);
        codec::put_bytes(out, self.name.as_bytes());
        put_gaps(out, &self.gaps);
        codec::put_u64(out, self.connection);
    }

    fn decode(bytes: &[u8]) -> Option<Placed> {
        let mut f = codec::Fields(bytes);
        let placed = Placed {
            folder: get_path(&mut f)?,
            position: get_flow(&mut f)?,
            flow: get_flow(&mut f)?,
            name: f.string()?,
            gaps: get_gaps(&mut f)?,
            connection: f.u64()?,
        };
        f.is_empty().then_some(placed)
    }

    fn heap_bytes(&self) -> usize {
        self.folder.as_os_str().len()
            + flow_heap_bytes(&self.position)
            + flow_heap_bytes(&self.flow)
            + self.name.len()
            + self.gaps.len() * 16
    }
}
