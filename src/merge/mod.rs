//! `flowsplit merge -o OUT DIR...`: combine the shards of a split run
//! (`--shard K/N`, see [`crate::shard`]) into the output of a single run.
//!
//! Owns: finding the shard reports in the folders given, refusing a set of
//! shards that is incomplete, has a shard twice, mixes splits, inputs,
//! settings or versions, or has a shard that did not finish (all checked
//! before anything is written); hard-linking every file of the shard
//! folders into OUT (flow files and HTTP bodies: same inode, so the same
//! bytes and modification times, and no copy); and merging the shards'
//! `report-K-of-N.jsonl` into `report.jsonl` and their `http.jsonl` into
//! one per folder, in a single run's order and byte for byte, streaming
//! (memory does not grow with the number of lines); and writing the run
//! summary (`report.summary.json`) a single run writes, from the shards';
//! the traffic summary (`report.traffic.json`) and, when the shards ran
//! with `-e netviz`, its page (`report.pdf`); and, in their own modules, what a shard leaves to the merge: the DFXML
//! report ([`dfxml`]) and the objects assembled from range parts carved on
//! connections of different shards ([`objects`]).
//!
//! Shards that wrote into one shared folder are merged in place: `-o` names
//! that folder, and only `report.jsonl` is written there.
//!
//! Must not: copy, change or remove anything in the shard folders.

mod dfxml;
mod objects;

use crate::error::Error;
use crate::http::ranges::PartLine;
use crate::http::INDEX_NAME;
use crate::output::summary::{summary_path, SummaryRecord};
use crate::output::traffic::{traffic_path, Traffic};
use crate::shard::{ClosedAt, Done, Header, ShardSpec};
use serde::Deserialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The merged report's name.
const REPORT_NAME: &str = crate::config::DEFAULT_REPORT_NAME;

/// What a merge did.
#[derive(Debug, Default)]
pub struct MergeSummary {
    /// N: the shards merged.
    pub shards: u32,
    /// Files hard-linked into OUT.
    pub linked: u64,
    /// Lines of the merged `report.jsonl`.
    pub report_lines: u64,
    /// `http.jsonl` indexes written.
    pub indexes: u64,
    /// Objects assembled from range parts (`-e http`).
    pub objects: u64,
}

/// One shard report found.
#[derive(Debug)]
struct Shard {
    /// The folder it was found in (as given).
    dir: PathBuf,
    /// The report.
    path: PathBuf,
    header: Header,
    done: Done,
}

fn refuse(text: String) -> Error {
    Error::Merge(text)
}

/// Merge the shards in `dirs` into `out` (see the module doc). Nothing is
/// written unless the set of shards is complete and consistent; if linking
/// or writing fails part way, what was put into `out` is removed again.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<MergeSummary, Error> {
    let shards = find_shards(dirs)?;
    check_set(&shards)?;
    let run_summaries = read_summaries(&shards)?;
    let mut folders: Vec<&Path> = shards.iter().map(|s| s.dir.as_path()).collect();
    folders.sort();
    folders.dedup();
    let indexes = find_indexes(&folders, &shards)?;
    let in_place = in_place(out, &folders)?;
    let dfxml = shards[0].header.dfxml.as_ref();
    let dfxml_path = dfxml.map(|w| dfxml::path(out, w)).transpose()?;
    let created = if in_place {
        let report = out.join(REPORT_NAME);
        for done in std::iter::once(&report).chain(&dfxml_path) {
            if std::fs::symlink_metadata(done).is_ok() {
                return Err(refuse(format!(
                    "{}: already exists; the folder was merged before",
                    done.display()
                )));
            }
        }
        false
    } else {
        prepare_out(out)?
    };
    let mut summary = MergeSummary {
        shards: shards.len() as u32,
        ..MergeSummary::default()
    };
    let merged = Merged {
        folders: &folders,
        shards: &shards,
        indexes: &indexes,
        run_summaries: &run_summaries,
    };
    let result = write_merged(out, &merged, in_place, &mut summary);
    if result.is_err() {
        undo(out, created, in_place, dfxml_path.as_deref());
    }
    result.map(|()| summary)
}

/// What is merged: the shard folders, their reports, indexes and run summaries.
struct Merged<'a> {
    folders: &'a [&'a Path],
    shards: &'a [Shard],
    indexes: &'a BTreeMap<PathBuf, Vec<PathBuf>>,
    run_summaries: &'a [SummaryRecord],
}

/// Link, then write the report, its run summary and the indexes.
fn write_merged(
    out: &Path,
    merged: &Merged<'_>,
    in_place: bool,
    summary: &mut MergeSummary,
) -> Result<(), Error> {
    let Merged {
        folders,
        shards,
        indexes,
        run_summaries,
    } = *merged;
    if !in_place {
        for dir in folders {
            summary.linked += link_tree(dir, out)?;
        }
    }
    let dfxml = match &shards[0].header.dfxml {
        Some(wish) => Some(dfxml::MergedDfxml::create(out, wish)?),
        None => None,
    };
    summary.report_lines = merge_reports(shards, &out.join(REPORT_NAME), dfxml.as_ref())?;
    let mut all = SummaryRecord::of_shards(run_summaries);
    if !indexes.is_empty() {
        let max_object = shards[0]
            .header
            .http_max_object
            .unwrap_or(crate::http::HttpOptions::default().max_decoded_bytes);
        // Range objects get what the shards' flows left of the bound, as
        // in a single run (without the shards' summaries, no bound).
        let object_fill = all.as_ref().map_or(u64::MAX, |a| {
            a.amplification.limit.saturating_sub(a.amplification.filled)
        });
        let mut objects = objects::assemble(out, indexes, max_object, object_fill)?;
        for (folder, parts) in indexes {
            let path = out.join(folder).join(INDEX_NAME);
            merge_indexes(folder, parts, &path, &mut objects)?;
            summary.indexes += 1;
        }
        summary.objects = objects.count;
        if let Some(a) = all.as_mut() {
            a.amplification.object_filled = objects.room.filled;
            a.amplification.objects_cut = objects.room.cut;
        }
    }
    if let Some(all) = all {
        all.write(&summary_path(&out.join(REPORT_NAME)))?;
    }
    merge_traffic(shards, out)?;
    // Last, as in a single run: its byte runs are read from the indexes.
    match dfxml {
        Some(d) => d.finish(),
        None => Ok(()),
    }
}

/// The shard reports (`report-K-of-N.jsonl`) directly in each of `dirs`,
/// each with its header and closing record.
fn find_shards(dirs: &[PathBuf]) -> Result<Vec<Shard>, Error> {
    if dirs.is_empty() {
        return Err(Error::Usage("merge: no shard folder given".into()));
    }
    let mut shards = Vec::new();
    for dir in dirs {
        let open = |source| Error::Open {
            path: dir.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(open)? {
            let entry = entry.map_err(open)?;
            let name = entry.file_name();
            if let Some(spec) = name.to_str().and_then(ShardSpec::from_report_name) {
                if entry.file_type().map_err(open)?.is_file() {
                    found.push((spec, entry.path()));
                }
            }
        }
        if found.is_empty() {
            return Err(refuse(format!(
                "{}: no shard report (report-K-of-N.jsonl, written by flowsplit --shard K/N) in it",
                dir.display()
            )));
        }
        found.sort_by_key(|(spec, _)| spec.index);
        for (spec, path) in found {
            let (header, done) = read_ends(&path)?;
            if (header.flowsplit_shard, header.shards) != (spec.index, spec.count) {
                return Err(refuse(format!(
                    "{}: its first line says shard {} of {}",
                    path.display(),
                    header.flowsplit_shard,
                    header.shards
                )));
            }
            let Some(done) = done.filter(|d| d.shard_done == spec.index) else {
                return Err(refuse(format!(
                    "{}: shard {} of {} did not finish (its report has no closing record); run it again",
                    path.display(),
                    spec.index,
                    spec.count
                )));
            };
            shards.push(Shard {
                dir: dir.clone(),
                path,
                header,
                done,
            });
        }
    }
    Ok(shards)
}

/// A shard report's header, and its closing record if its last line is one.
fn read_ends(path: &Path) -> Result<(Header, Option<Done>), Error> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut first = String::new();
    BufReader::new(&mut f)
        .take(64 << 10)
        .read_line(&mut first)
        .map_err(read_err)?;
    let header: Header = serde_json::from_str(first.trim_end()).map_err(|_| {
        refuse(format!(
            "{}: not a shard report (its first line is not a shard header)",
            path.display()
        ))
    })?;
    let len = f.metadata().map_err(read_err)?.len();
    let tail_len = len.min(4096);
    f.seek(SeekFrom::Start(len - tail_len)).map_err(read_err)?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    f.take(tail_len).read_to_end(&mut tail).map_err(read_err)?;
    let text = tail.strip_suffix(b"\n").unwrap_or(&[]);
    let last = text.rsplit(|&b| b == b'\n').next().unwrap_or(&[]);
    Ok((header, serde_json::from_slice::<Done>(last).ok()))
}

/// Refuse a set that is not exactly shards 0..N of one split of the same
/// inputs, settings and version.
fn check_set(shards: &[Shard]) -> Result<(), Error> {
    let Some(first) = shards.first() else {
        return Err(refuse("no shard report found".into()));
    };
    let n = first.header.shards;
    let mut seen: Vec<Option<&Shard>> = vec![None; n as usize];
    for s in shards {
        let h = &s.header;
        if h.shards != n {
            return Err(refuse(format!(
                "{} is shard {} of {} but {} is shard {} of {}: shards of different splits",
                s.path.display(),
                h.flowsplit_shard,
                h.shards,
                first.path.display(),
                first.header.flowsplit_shard,
                n
            )));
        }
        let output = (&h.dfxml, h.http_max_object);
        if h.inputs != first.header.inputs
            || output != (&first.header.dfxml, first.header.http_max_object)
            || s.done.packets != first.done.packets
        {
            return Err(refuse(format!(
                "{} is a shard of other inputs or settings than {} (identity {} against {}, {} packets against {})",
                s.path.display(),
                first.path.display(),
                h.inputs,
                first.header.inputs,
                s.done.packets,
                first.done.packets
            )));
        }
        if h.flowsplit != first.header.flowsplit {
            return Err(refuse(format!(
                "{} was written by flowsplit {} but {} by flowsplit {}",
                s.path.display(),
                h.flowsplit,
                first.path.display(),
                first.header.flowsplit
            )));
        }
        let slot = &mut seen[h.flowsplit_shard as usize];
        if let Some(other) = slot {
            return Err(refuse(format!(
                "shard {} of {} given twice: {} and {}",
                h.flowsplit_shard,
                n,
                other.path.display(),
                s.path.display()
            )));
        }
        *slot = Some(s);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(k, _)| k.to_string())
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "" } else { "s" };
        return Err(refuse(format!(
            "incomplete set of shards: shard{plural} {} of {n} missing",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Every `http.jsonl` under the shard folders, by its folder relative to
/// the shard folder; refused when shards sharing a folder carved HTTP
/// (each carving pass took in the other shards' flow files).
fn find_indexes(
    folders: &[&Path],
    shards: &[Shard],
) -> Result<BTreeMap<PathBuf, Vec<PathBuf>>, Error> {
    let mut out: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for dir in folders {
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = entry.map_err(|e| Error::Folder {
                path: dir.to_path_buf(),
                source: e.into(),
            })?;
            if entry.file_type().is_file() && entry.file_name() == INDEX_NAME {
                let rel = entry
                    .path()
                    .parent()
                    .and_then(|p| p.strip_prefix(dir).ok())
                    .unwrap_or(Path::new(""))
                    .to_path_buf();
                out.entry(rel).or_default().push(entry.path().to_path_buf());
            }
        }
        let sharing = shards.iter().filter(|s| s.dir.as_path() == *dir).count();
        if sharing > 1 && out.values().flatten().any(|p| p.starts_with(dir)) {
            return Err(refuse(format!(
                "{}: {sharing} shards share this folder and carved HTTP (-e http), each over the others' flow files; give each shard a folder of its own, or run flowsplit http on the merged folder",
                dir.display()
            )));
        }
    }
    Ok(out)
}

/// True when `out` is the one folder the shards share (merge in place).
/// Refuses an `out` inside a shard folder (it would be linked into itself).
fn in_place(out: &Path, folders: &[&Path]) -> Result<bool, Error> {
    let out_real = out.canonicalize().ok();
    for dir in folders {
        let real = dir.canonicalize().map_err(|source| Error::Open {
            path: dir.to_path_buf(),
            source,
        })?;
        if out_real.as_ref() == Some(&real) {
            return Ok(folders.len() == 1);
        }
        let parent_real = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| Path::new(".").canonicalize(), Path::canonicalize);
        if parent_real.is_ok_and(|p| p.starts_with(&real)) {
            return Err(refuse(format!(
                "{}: inside the shard folder {}; put the merged output elsewhere",
                out.display(),
                dir.display()
            )));
        }
    }
    Ok(false)
}

/// Create `out`, or accept it empty. True when it was created here.
fn prepare_out(out: &Path) -> Result<bool, Error> {
    let write_err = |source| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(refuse(format!(
                    "{}: exists and is not empty; merge into a new folder",
                    out.display()
                )));
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).map_err(write_err)?;
            Ok(true)
        }
        Err(source) => Err(Error::Open {
            path: out.to_path_buf(),
            source,
        }),
    }
}

/// Remove what a failed merge put into `out`: the folder if it was
/// created here, else its contents (links and merged files only).
fn undo(out: &Path, created: bool, in_place: bool, dfxml: Option<&Path>) {
    if in_place {
        let _ = std::fs::remove_file(out.join(REPORT_NAME));
        let _ = std::fs::remove_file(summary_path(&out.join(REPORT_NAME)));
        let _ = std::fs::remove_file(traffic_path(&out.join(REPORT_NAME)));
        let _ = std::fs::remove_file(out.join(crate::output::netviz::PDF_NAME));
        if let Some(p) = dfxml {
            let mut part = p.as_os_str().to_os_string();
            part.push(".part");
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_file(part);
        }
        return;
    }
    if created {
        let _ = std::fs::remove_dir_all(out);
    } else if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                _ => std::fs::remove_file(&p),
            };
        }
    }
}

/// Hard-link every file under `dir` into the same place under `out`,
/// except the shard reports at its top and the `http.jsonl` indexes
/// (merged instead). Returns the files linked.
fn link_tree(dir: &Path, out: &Path) -> Result<u64, Error> {
    let mut linked = 0;
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Folder {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        let name = entry.file_name().to_str().unwrap_or("");
        let beside_report = |suffix: &str| {
            name.strip_suffix(suffix)
                .and_then(|stem| ShardSpec::from_report_name(&format!("{stem}.jsonl")))
                .is_some()
        };
        let shard_report = entry.depth() == 1
            && (ShardSpec::from_report_name(name).is_some()
                || beside_report(".summary.json")
                || beside_report(".traffic.json"));
        if shard_report || (entry.file_type().is_file() && name == INDEX_NAME) {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let target = out.join(rel);
        let write_err = |source| Error::Write {
            path: target.clone(),
            source,
        };
        if entry.file_type().is_dir() {
            match std::fs::create_dir(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && target.is_dir() => {}
                Err(e) => return Err(write_err(e)),
            }
            continue;
        }
        match std::fs::hard_link(entry.path(), &target) {
            Ok(()) => linked += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(refuse(format!(
                    "{} is in two shards (the other's is already linked there): shards overlap",
                    target.display()
                )));
            }
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                return Err(refuse(format!(
                    "cannot hard-link {} into {}: another file system; put the merged folder on the shards' file system",
                    entry.path().display(),
                    out.display()
                )));
            }
            Err(e) => return Err(write_err(e)),
        }
    }
    Ok(linked)
}

/// What a merge needs of a shard report's line.
#[derive(Deserialize)]
struct Probe {
    /// `tls` on a TLS line (see [`crate::output::tls_record`]).
    record: Option<String>,
    file: Option<String>,
    connection: Option<u64>,
    closed_at: Option<serde_json::Value>,
    flowsplit_shard: Option<u32>,
    shard_done: Option<u32>,
}

/// Lines of one shard's file, with the key they merge by.
struct Lines {
    path: PathBuf,
    reader: BufReader<File>,
    /// The line read ahead, without its newline.
    line: Vec<u8>,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, Error> {
        let f = File::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Lines {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, f),
            line: Vec::new(),
        })
    }

    /// Read the next line into `self.line`; false at the end.
    fn advance(&mut self) -> Result<bool, Error> {
        self.line.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.line)
            .map_err(|source| Error::Read {
                path: self.path.clone(),
                source,
            })?;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        Ok(n > 0)
    }

    fn bad(&self, what: &str) -> Error {
        refuse(format!("{}: {what}", self.path.display()))
    }
}

/// A shard report read in order: its direction lines, each with its close
/// event and connection, then its TLS lines (written after carving), each
/// with its connection and flow file.
struct ReportLines {
    lines: Lines,
    event: Option<u64>,
    directions: u64,
    /// The line read ahead is the first TLS line: the direction lines are
    /// over.
    at_tls: bool,
}

/// Where a TLS line goes in the merged report: by connection (unknown
/// ones last), then flow file, as a single run orders them (see
/// `crate::http::tls_lines`).
type TlsKey = (u64, String);

impl ReportLines {
    /// The next direction line's key; `None` after the closing record or
    /// at the first TLS line.
    fn next_key(&mut self) -> Result<Option<(u64, u64)>, Error> {
        loop {
            if !self.lines.advance()? {
                return Err(self.lines.bad("ends before its closing record"));
            }
            let probe: Probe = serde_json::from_slice(&self.lines.line)
                .map_err(|_| self.lines.bad("a line that is not a report record"))?;
            if probe.record.is_some() {
                self.at_tls = true;
                return Ok(None);
            }
            if let Some(connection) = probe.connection {
                let event = self.event.ok_or_else(|| {
                    self.lines
                        .bad("a direction line before any closed_at record")
                })?;
                self.directions += 1;
                return Ok(Some((event, connection)));
            }
            if let Some(at) = probe.closed_at {
                let at = ClosedAt { closed_at: at };
                self.event = Some(
                    at.event()
                        .ok_or_else(|| self.lines.bad("a bad closed_at"))?,
                );
            } else if probe.shard_done.is_some() {
                return Ok(None);
            } else if probe.flowsplit_shard.is_none() {
                return Err(self.lines.bad("a line that is not a report record"));
            }
        }
    }

    /// The key of the TLS line read ahead (none once the direction lines
    /// ended at the closing record), reading the next line first when
    /// `advance`; `None` at the closing record.
    fn tls_key(&mut self, advance: bool) -> Result<Option<TlsKey>, Error> {
        if !self.at_tls {
            return Ok(None);
        }
        if advance && !self.lines.advance()? {
            return Err(self.lines.bad("ends before its closing record"));
        }
        let probe: Probe = serde_json::from_slice(&self.lines.line)
            .map_err(|_| self.lines.bad("a line that is not a report record"))?;
        if probe.shard_done.is_some() {
            self.at_tls = false;
            return Ok(None);
        }
        match (probe.record.as_deref(), probe.file) {
            (Some(crate::output::tls_record::TLS_RECORD), Some(file)) => {
                Ok(Some((probe.connection.unwrap_or(u64::MAX), file)))
            }
            _ => Err(self
                .lines
                .bad("a line after its TLS lines that is neither one nor the closing record")),
        }
    }
}

/// Merge the shards' reports into `path`: the direction lines ordered by
/// close event, then connection (a single run's order; a connection's
/// lines are all in one shard, in order), each also given to the DFXML
/// report `dfxml`; then the TLS lines, by connection and flow file.
/// Returns the lines written.
fn merge_reports(
    shards: &[Shard],
    path: &Path,
    dfxml: Option<&dfxml::MergedDfxml>,
) -> Result<u64, Error> {
    let mut readers = Vec::with_capacity(shards.len());
    let mut heap = BinaryHeap::new();
    for (i, s) in shards.iter().enumerate() {
        let mut r = ReportLines {
            lines: Lines::open(&s.path)?,
            event: None,
            directions: 0,
            at_tls: false,
        };
        if let Some((event, conn)) = r.next_key()? {
            heap.push(Reverse((event, conn, i)));
        }
        readers.push(r);
    }
    let mut out = create_new(path)?;
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut written = 0;
    while let Some(Reverse((_, _, i))) = heap.pop() {
        let r = &mut readers[i];
        out.write_all(&r.lines.line).map_err(write_err)?;
        out.write_all(b"\n").map_err(write_err)?;
        if let Some(d) = dfxml {
            d.line(&r.lines.line, &r.lines.path)?;
        }
        written += 1;
        if let Some((event, conn)) = r.next_key()? {
            heap.push(Reverse((event, conn, i)));
        }
    }
    // Then the TLS lines, which each shard wrote after carving.
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(key) = r.tls_key(false)? {
            heap.push(Reverse((key, i)));
        }
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        let r = &mut readers[i];
        out.write_all(&r.lines.line).map_err(write_err)?;
        out.write_all(b"\n").map_err(write_err)?;
        written += 1;
        if let Some(key) = r.tls_key(true)? {
            heap.push(Reverse((key, i)));
        }
    }
    out.flush().map_err(write_err)?;
    for (r, s) in readers.iter().zip(shards) {
        if r.directions != s.done.directions {
            return Err(r.lines.bad(&format!(
                "{} direction lines where its closing record says {}",
                r.directions, s.done.directions
            )));
        }
    }
    Ok(written)
}

/// The traffic summary a single run writes, from the shards' (each counted
/// its own connections' packets, shard 0 those of no connection), and the
/// netviz page when the shards were asked for one. Shards without a
/// traffic summary (written before it existed) leave none.
fn merge_traffic(shards: &[Shard], out: &Path) -> Result<(), Error> {
    let mut parts = Vec::with_capacity(shards.len());
    for s in shards {
        let path = traffic_path(&s.path);
        if !path.exists() {
            return Ok(());
        }
        parts.push(Traffic::read(&path)?);
    }
    let Some(all) = Traffic::of_shards(&parts) else {
        return Ok(());
    };
    all.write(&traffic_path(&out.join(REPORT_NAME)))?;
    if all.netviz {
        crate::output::netviz::write_pdf(&all, &out.join(crate::output::netviz::PDF_NAME))?;
    }
    Ok(())
}

/// The run summaries beside the shards' reports (a shard that finished
/// wrote one), from which the merged one is made (see
/// [`SummaryRecord::of_shards`]).
fn read_summaries(shards: &[Shard]) -> Result<Vec<SummaryRecord>, Error> {
    shards
        .iter()
        .map(|s| SummaryRecord::read(&summary_path(&s.path)))
        .collect()
}

/// The order mark before each connection's lines in a shard's index.
#[derive(Deserialize)]
struct Mark {
    http_order: String,
}

/// A shard's `http.jsonl` read in order: each line with its connection's key.
struct IndexLines {
    lines: Lines,
    key: Option<String>,
}

impl IndexLines {
    /// The next index line's key; `None` at the end.
    fn next_key(&mut self) -> Result<Option<String>, Error> {
        loop {
            if !self.lines.advance()? {
                return Ok(None);
            }
            if self.lines.line.starts_with(b"{\"http_order\":") {
                let mark: Mark = serde_json::from_slice(&self.lines.line)
                    .map_err(|_| self.lines.bad("a bad http_order line"))?;
                self.key = Some(mark.http_order);
                continue;
            }
            return match &self.key {
                Some(k) => Ok(Some(k.clone())),
                None => Err(self
                    .lines
                    .bad("an index line before any http_order line: not a shard's index")),
            };
        }
    }
}

/// Merge the shards' indexes of `folder` into `path`, ordered by their
/// connections' keys (a single run's order: byte-wise by flow file name,
/// a connection's lines in one shard, in order), each range part line
/// replaced by the `objects` lines that go in its place.
fn merge_indexes(
    folder: &Path,
    parts: &[PathBuf],
    path: &Path,
    objects: &mut objects::Objects,
) -> Result<(), Error> {
    let mut readers = Vec::with_capacity(parts.len());
    let mut heap = BinaryHeap::new();
    for (i, p) in parts.iter().enumerate() {
        let mut r = IndexLines {
            lines: Lines::open(p)?,
            key: None,
        };
        if let Some(k) = r.next_key()? {
            heap.push(Reverse((k, i)));
        }
        readers.push(r);
    }
    let mut out = create_new(path)?;
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    while let Some(Reverse((_, i))) = heap.pop() {
        let r = &mut readers[i];
        if r.lines.line.starts_with(PartLine::START) {
            let part = PartLine::parse(&r.lines.line, folder)
                .ok_or_else(|| r.lines.bad("a bad http_range_part line"))?;
            objects.write_at(folder, &part, &mut out, path)?;
        } else {
            out.write_all(&r.lines.line).map_err(write_err)?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        if let Some(k) = r.next_key()? {
            heap.push(Reverse((k, i)));
        }
    }
    objects.write_rest(folder, &mut out, path)?;
    out.flush().map_err(write_err)
}

/// Create `path`, which must not exist (never through a link, never over
/// a file linked in from a shard).
fn create_new(path: &Path) -> Result<BufWriter<File>, Error> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map(|f| BufWriter::with_capacity(1 << 16, f))
        .map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(k: u32, n: u32) -> String {
        format!(r#"{{"flowsplit_shard":{k},"shards":{n},"inputs":"x","flowsplit":"0"}}"#)
    }

    fn line(conn: u64, side: u8) -> String {
        format!(r#"{{"file":"f{conn}-{side}","connection":{conn}}}"#)
    }

    fn shard(dir: &Path, k: u32, n: u32, body: &[String], directions: u64) -> Shard {
        let path = dir.join(format!("report-{k}-of-{n}.jsonl"));
        let done = format!(r#"{{"shard_done":{k},"packets":9,"directions":{directions}}}"#);
        let mut text = header(k, n) + "\n";
        for l in body.iter().chain(std::iter::once(&done)) {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let (header, done) = read_ends(&path).unwrap();
        Shard {
            dir: dir.to_path_buf(),
            path,
            header,
            done: done.expect("a closing record"),
        }
    }

    #[test]
    fn reports_merge_by_close_event_then_connection() {
        let dir = tempfile::tempdir().unwrap();
        let at = |e: &str| format!(r#"{{"closed_at":{e}}}"#);
        let a = shard(
            dir.path(),
            0,
            2,
            &[at("5"), line(1, 0), line(1, 1), at("\"end\""), line(4, 0)],
            3,
        );
        let b = shard(
            dir.path(),
            1,
            2,
            &[
                at("3"),
                line(2, 0),
                at("5"),
                line(3, 0),
                line(3, 1),
                at("\"end\""),
                line(2, 1),
            ],
            4,
        );
        let out = dir.path().join("report.jsonl");
        assert_eq!(merge_reports(&[a, b], &out, None).unwrap(), 7);
        let want: Vec<String> = [(2, 0), (1, 0), (1, 1), (3, 0), (3, 1), (2, 1), (4, 0)]
            .iter()
            .map(|&(c, s)| line(c, s) + "\n")
            .collect();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want.concat());
    }

    fn tls(conn: u64, file: &str) -> String {
        format!(r#"{{"record":"tls","file":"{file}","connection":{conn},"role":"client"}}"#)
    }

    #[test]
    fn tls_lines_follow_every_direction_line_by_connection_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let at = |e: &str| format!(r#"{{"closed_at":{e}}}"#);
        let a = shard(
            dir.path(),
            0,
            2,
            &[at("5"), line(3, 0), line(3, 1), tls(3, "a"), tls(3, "b")],
            2,
        );
        let b = shard(
            dir.path(),
            1,
            2,
            &[at("4"), line(2, 0), tls(2, "z"), tls(9, "c")],
            1,
        );
        let out = dir.path().join("report.jsonl");
        assert_eq!(merge_reports(&[a, b], &out, None).unwrap(), 7);
        let want = [
            line(2, 0),
            line(3, 0),
            line(3, 1),
            tls(2, "z"),
            tls(3, "a"),
            tls(3, "b"),
            tls(9, "c"),
        ];
        let want: String = want.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), want);
        // A direction line after the TLS lines is not a shard's report.
        let c = shard(
            dir.path(),
            0,
            1,
            &[at("1"), line(1, 0), tls(1, "a"), line(1, 1)],
            2,
        );
        let e = merge_reports(&[c], &dir.path().join("r2"), None).unwrap_err();
        assert!(
            e.to_string().contains("neither one nor the closing record"),
            "{e}"
        );
    }

    #[test]
    fn a_report_with_fewer_lines_than_its_closing_record_says_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = shard(
            dir.path(),
            0,
            1,
            &[r#"{"closed_at":"end"}"#.into(), line(1, 0)],
            2,
        );
        let e = merge_reports(&[a], &dir.path().join("r"), None).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("1 direction lines where its closing record says 2"),
            "{e}"
        );
    }

    #[test]
    fn indexes_merge_by_flow_file_and_keep_a_connection_together() {
        let dir = tempfile::tempdir().unwrap();
        let mark = |f: &str| format!("{{\"http_order\":\"{f}\"}}\n");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(
            &a,
            mark("b.1") + "{\"n\":1}\n{\"n\":2}\n" + &mark("d.1") + "{\"n\":5}\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            mark("a.9") + "{\"n\":0}\n" + &mark("c.1") + "{\"n\":3}\n{\"n\":4}\n",
        )
        .unwrap();
        let out = dir.path().join("http.jsonl");
        let mut none = objects::assemble(dir.path(), &BTreeMap::new(), 1 << 30, u64::MAX).unwrap();
        merge_indexes(Path::new(""), &[a, b], &out, &mut none).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        let want: String = (0..6).map(|n| format!("{{\"n\":{n}}}\n")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_index_without_marks_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("http.jsonl");
        std::fs::write(&a, "{\"n\":1}\n").unwrap();
        let mut none = objects::assemble(dir.path(), &BTreeMap::new(), 1 << 30, u64::MAX).unwrap();
        let out = dir.path().join("out.jsonl");
        let e = merge_indexes(Path::new(""), &[a], &out, &mut none).unwrap_err();
        assert!(e.to_string().contains("not a shard's index"), "{e}");
    }
}
