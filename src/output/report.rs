//! The run report: JSON Lines, one object per direction, written as each
//! direction closes (so a line's presence means its file is complete).

use super::events::{Event, EventLog};
use crate::error::Error;
use crate::flow::fill::FillAccount;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// How a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Its FIN arrived and every byte before it was written.
    Fin,
    /// The connection was reset.
    Rst,
    /// No packet for longer than `--timeout` seconds of capture time.
    Timeout,
    /// A new connection (a new SYN) took over its 4-tuple before it closed.
    Reused,
    /// The flow table was full (`--max-connections`) and this connection
    /// was the least recently active one.
    Evicted,
    /// The input ended while it was open.
    EndOfInput,
}

/// One report line: everything known about one direction's file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectionRecord {
    /// File name relative to the output folder.
    pub file: String,
    /// Connection id shared by both directions: the 1-based number of the
    /// connection's first packet counted over all inputs.
    pub connection: u64,
    /// The connection's Community ID (version 1, seed 0): the same for both
    /// directions, and the value Zeek's `conn.log`, Suricata's `eve.json`
    /// and Wireshark give the connection. `null` only if the addresses are
    /// of different families, which never happens.
    pub community_id: Option<String>,
    /// Sender's address.
    pub src: String,
    /// Sender's port.
    pub sport: u16,
    /// Receiver's address.
    pub dst: String,
    /// Receiver's port.
    pub dport: u16,
    /// 12-bit VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// The headers the direction's first segment came through, outermost
    /// first, e.g. `ethernet/vlan 100/ipv4/gre/ipv4`.
    pub encap: String,
    /// Tunnel discriminator: 0 when not tunnelled, otherwise a hash of the
    /// tunnels' outer endpoints and protocols (equal for both directions).
    pub tunnel: u32,
    /// Source address of the innermost tunnel's outer IP header, if tunnelled.
    pub outer_src: Option<String>,
    /// Destination address of the innermost tunnel's outer IP header, if tunnelled.
    pub outer_dst: Option<String>,
    /// First packet time, `SECS.NANOS`.
    pub first_ts: String,
    /// Last packet time, `SECS.NANOS`.
    pub last_ts: String,
    /// Packets seen in this direction.
    pub packets: u64,
    /// Bytes in the file, zero-filled gaps included.
    pub bytes: u64,
    /// Zero-filled holes: `[offset, length]` pairs in stream order, the
    /// offset being the first zero's in the file.
    pub gaps: Vec<(u64, u64)>,
    /// Total of the gap lengths.
    pub gap_bytes: u64,
    /// Holes longer than `-m`, not filled: `[offset, length]` pairs in
    /// stream order, the offset being where the file goes on after the
    /// `length` missing bytes. A byte's stream offset is its file offset
    /// plus the lengths of the jumps at or before it. (Read as empty from
    /// reports written before it existed.)
    #[serde(default)]
    pub jumps: Vec<(u64, u64)>,
    /// The jumps of at most `-m` bytes that were not filled only because
    /// the run's amplification bound (`--max-amplification`,
    /// `--amplification-base`) was spent: `[offset, length]` pairs, also
    /// listed in `jumps`. Left out when there are none, so a direction that
    /// hit the bound is one that has it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_jumps: Vec<(u64, u64)>,
    /// True when `-b` cut the direction short.
    pub truncated: bool,
    /// Bytes of sequence space before the file's first byte for which data
    /// arrived late (the capture began mid-connection and an earlier segment
    /// came after the first one seen); they are not in the file.
    pub dropped_before_start: u64,
    /// How the direction ended.
    pub end: End,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
    /// MD5 of the file's bytes, lower-case hex, when asked for (`-F M`,
    /// `-e md5`); the field is left out otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// Matches of `--grep`'s patterns in the direction's bytes (a match
    /// never spans a gap or a jump); the field is left out when `--grep`
    /// is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grep_matches: Option<u64>,
    /// The connection counter the file's name was rendered with (`%c`,
    /// `%#`: 0 unless an earlier file took the name). Not a report field:
    /// it is in the name, and a record read back from a report has 0.
    #[serde(skip)]
    pub counter: u32,
}

/// The position of a closed direction in the report: records are ordered by
/// the packet whose arrival closed them, then by connection id, then by side.
/// This order is the same however connections are spread over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseKey {
    /// Number of the packet that closed the direction (`u64::MAX` at end of input).
    pub event: u64,
    /// Connection id.
    pub connection: u64,
    /// 0 for the direction sent by the lower endpoint, 1 for the other.
    pub side: u8,
}

/// Puts records into [`CloseKey`] order before they are written: records are
/// held until every record that sorts before them is known to be in, which
/// the caller signals with [`OrderedReport::release_before`].
pub struct OrderedReport {
    held: std::collections::BTreeMap<CloseKey, DirectionRecord>,
    writer: Option<ReportWriter>,
    events: Option<EventLog>,
    hook: Option<Box<dyn CloseHook>>,
    /// Told about every record as its line is written (see
    /// [`crate::hooks::Hooks::closed`]).
    closed: Option<crate::hooks::ClosedHook>,
    dfxml: Option<super::dfxml::DfxmlReport>,
    /// `-S tcp_alert_fd`, `-S tcp_cmd`: run as each flow file is complete,
    /// with the output folder its path is joined to.
    file_hooks: Option<(super::alerts::Runner, PathBuf)>,
    flush_on_release: bool,
    /// Records of the connection being released, for the hook.
    group: Vec<DirectionRecord>,
    group_key: Option<(u64, u64)>,
    /// What the flows' zero fill spent of the bound, once known.
    fill: Option<FillAccount>,
    /// `--grep`: decides on each connection before anything of it is
    /// written (see [`super::keep`]).
    keep: Option<super::keep::KeepMatching>,
    /// The connection being released, while `keep` is set: its keys and
    /// records, held until its last record is in.
    pending_keys: Vec<CloseKey>,
    pending: Vec<DirectionRecord>,
}

/// Told about each connection once its report lines are written (live HTTP
/// carving). Runs in the thread that writes the report.
pub trait CloseHook: Send {
    /// The connection's closed directions (one or two records, side 0 first)
    /// are complete and in the report.
    fn connection_closed(&mut self, records: &[DirectionRecord]) -> Result<(), Error>;
    /// Every connection was closed: write whatever is left.
    fn finish(&mut self) -> Result<(), Error>;
    /// What the flows' zero fill earned and spent of the run's
    /// amplification bound, over every table: comes once, just before
    /// [`CloseHook::finish`], so later output (range objects) is held to
    /// what is left.
    fn fill_spent(&mut self, _spent: &FillAccount) {}
}

impl OrderedReport {
    /// Ordering in front of `writer` (or of nothing, when the report is off).
    pub fn new(writer: Option<ReportWriter>) -> OrderedReport {
        OrderedReport {
            held: std::collections::BTreeMap::new(),
            writer,
            events: None,
            hook: None,
            closed: None,
            dfxml: None,
            file_hooks: None,
            flush_on_release: false,
            group: Vec::new(),
            group_key: None,
            fill: None,
            keep: None,
            pending_keys: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Let `keep` decide on each connection, once all its records are
    /// released and before any of them is written: a connection it drops
    /// gets no report line, DFXML entry, event, file hook or close hook.
    pub fn with_keep(mut self, keep: Option<super::keep::KeepMatching>) -> OrderedReport {
        self.keep = keep;
        self
    }

    /// What the flows' zero fill spent of the amplification bound, for
    /// the hook (see [`CloseHook::fill_spent`]); set before
    /// [`OrderedReport::finish`].
    pub fn set_fill(&mut self, spent: FillAccount) {
        self.fill = Some(spent);
    }

    /// Also write a `close` event for every record, as its line is written.
    pub fn with_events(mut self, events: Option<EventLog>) -> OrderedReport {
        self.events = events;
        self
    }

    /// Call `hook` for each connection once its lines are written.
    pub fn with_hook(mut self, hook: Option<Box<dyn CloseHook>>) -> OrderedReport {
        self.hook = hook;
        self
    }

    /// Call `closed` with every record, as its line is written.
    pub fn with_closed(mut self, closed: Option<crate::hooks::ClosedHook>) -> OrderedReport {
        self.closed = closed;
        self
    }

    /// Also add every record to the DFXML report, as its line is written.
    pub fn with_dfxml(mut self, dfxml: Option<super::dfxml::DfxmlReport>) -> OrderedReport {
        self.dfxml = dfxml;
        self
    }

    /// Run `runner` (tcpflow's `close` alert and `tcp_cmd`) on every
    /// record's flow file, in `outdir`, as its line is written.
    pub fn with_file_hooks(
        mut self,
        hooks: Option<(super::alerts::Runner, PathBuf)>,
    ) -> OrderedReport {
        self.file_hooks = hooks;
        self
    }

    /// Flush the report after each release that wrote lines (live capture:
    /// a line's presence on disk means its file is complete).
    pub fn flush_on_release(mut self, on: bool) -> OrderedReport {
        self.flush_on_release = on;
        self
    }

    /// Hold one record.
    pub fn push(&mut self, key: CloseKey, record: DirectionRecord) {
        self.held.insert(key, record);
    }

    /// Records held, waiting for the ones before them.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Write, in order, every held record whose event is below `event`.
    pub fn release_before(&mut self, event: u64) -> Result<(), Error> {
        self.release_below(CloseKey {
            event,
            connection: 0,
            side: 0,
        })
    }

    /// Write, in order, every held record whose key sorts below `bound`.
    pub fn release_below(&mut self, bound: CloseKey) -> Result<(), Error> {
        let mut wrote = false;
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() >= bound {
                break;
            }
            let (key, record) = entry.remove_entry();
            self.take(key, record)?;
            wrote = true;
        }
        if wrote {
            self.decide()?;
            self.end_group()?;
            if self.flush_on_release {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Write everything still held, in order, and flush.
    pub fn finish(&mut self) -> Result<(), Error> {
        while let Some((key, record)) = self.held.pop_first() {
            self.take(key, record)?;
        }
        self.decide()?;
        self.end_group()?;
        self.flush()?;
        if let Some(hook) = self.hook.as_mut() {
            if let Some(spent) = &self.fill {
                hook.fill_spent(spent);
            }
            hook.finish()?;
        }
        if let Some((runner, _)) = self.file_hooks.as_mut() {
            runner.finish();
        }
        match &self.events {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }

    /// Flush the report (and the event stream).
    pub fn flush(&mut self) -> Result<(), Error> {
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        if let Some(d) = &self.dfxml {
            d.flush()?;
        }
        match &self.events {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }

    /// One record released, in order: written, or with `keep`, held until
    /// its connection's records are all in. A connection's records are
    /// released together (they close at once and share the event).
    fn take(&mut self, key: CloseKey, record: DirectionRecord) -> Result<(), Error> {
        if self.keep.is_none() {
            return self.emit(key, record);
        }
        let same = |k: &CloseKey| (k.event, k.connection) == (key.event, key.connection);
        if self.pending_keys.first().is_some_and(|k| !same(k)) {
            self.decide()?;
        }
        self.pending_keys.push(key);
        self.pending.push(record);
        Ok(())
    }

    /// Let `keep` decide on the connection held, and write it if kept.
    fn decide(&mut self) -> Result<(), Error> {
        let Some(keep) = self.keep.as_mut() else {
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let keys = std::mem::take(&mut self.pending_keys);
        let records = std::mem::take(&mut self.pending);
        if keep.connection(&records)? {
            for (key, record) in keys.into_iter().zip(records) {
                self.emit(key, record)?;
            }
        }
        Ok(())
    }

    /// Write one record's line and event; hand finished connections to the hook.
    fn emit(&mut self, key: CloseKey, record: DirectionRecord) -> Result<(), Error> {
        if let Some(w) = self.writer.as_mut() {
            w.write_closed(key.event, &record)?;
        }
        if let Some(d) = &self.dfxml {
            d.record(&record)?;
        }
        if let Some((runner, outdir)) = self.file_hooks.as_mut() {
            runner.completed(&super::alerts::tcpflow_path(outdir, &record.file))?;
        }
        if let Some(e) = &self.events {
            e.emit(&Event::Close { record: &record });
        }
        if let Some(closed) = &self.closed {
            closed(&record);
        }
        if self.hook.is_some() {
            let k = (key.event, key.connection);
            if self.group_key != Some(k) {
                self.end_group()?;
                self.group_key = Some(k);
            }
            self.group.push(record);
        }
        Ok(())
    }

    fn end_group(&mut self) -> Result<(), Error> {
        self.group_key = None;
        if self.group.is_empty() {
            return Ok(());
        }
        let group = std::mem::take(&mut self.group);
        let result = match self.hook.as_mut() {
            Some(hook) => hook.connection_closed(&group),
            None => Ok(()),
        };
        self.group = group;
        self.group.clear();
        result
    }
}

/// Appends report lines to a file.
pub struct ReportWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// True when the file held an earlier run's lines when opened.
    earlier: bool,
    /// A shard's report (see [`crate::shard`]): the close event of the
    /// last line written, so that a `closed_at` record goes before each
    /// run of lines closed by the same packet. `None` for a plain report.
    shard_event: Option<Option<u64>>,
}

impl ReportWriter {
    /// Open the report at `path` for appending, creating it if needed, never
    /// through a symbolic link. A report that already holds lines (an
    /// earlier run into the same folder, whose flow files are kept too)
    /// keeps them: this run's lines are added after them, on a line of
    /// their own even if the earlier run was cut off mid-line.
    pub fn open(path: &Path) -> Result<ReportWriter, Error> {
        let fail = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = super::files::open_appending(path).map_err(fail)?;
        let len = file.metadata().map_err(fail)?.len();
        let earlier = len > 0;
        if earlier && !ends_with_newline(path, len).map_err(fail)? {
            file.write_all(b"\n").map_err(fail)?;
        }
        Ok(ReportWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            earlier,
            shard_event: None,
        })
    }

    /// True when the report held lines of an earlier run when it was opened.
    pub fn has_earlier_lines(&self) -> bool {
        self.earlier
    }

    /// Make this a shard's report: `header` is its first line, and a
    /// [`crate::shard::ClosedAt`] record goes before each run of lines
    /// closed by the same packet ([`ReportWriter::write_closed`]).
    pub fn for_shard(mut self, header: &crate::shard::Header) -> Result<ReportWriter, Error> {
        self.write_json(header)?;
        self.shard_event = Some(None);
        Ok(self)
    }

    /// Append one line closed by packet `event` (`u64::MAX`: end of
    /// input); in a shard's report, after the `closed_at` record when the
    /// event is not the last line's.
    pub fn write_closed(&mut self, event: u64, record: &DirectionRecord) -> Result<(), Error> {
        if let Some(last) = self.shard_event {
            if last != Some(event) {
                self.write_json(&crate::shard::ClosedAt::new(event))?;
                self.shard_event = Some(Some(event));
            }
        }
        self.write(record)
    }

    fn write_json(&mut self, value: &impl Serialize) -> Result<(), Error> {
        let wrap = |e: std::io::Error| Error::Write {
            path: self.path.clone(),
            source: e,
        };
        serde_json::to_writer(&mut self.out, value).map_err(|e| wrap(e.into()))?;
        self.out.write_all(b"\n").map_err(wrap)
    }

    /// Append one line.
    pub fn write(&mut self, record: &DirectionRecord) -> Result<(), Error> {
        let wrap = |e: std::io::Error| Error::Write {
            path: self.path.clone(),
            source: e,
        };
        serde_json::to_writer(&mut self.out, record).map_err(|e| wrap(e.into()))?;
        self.out.write_all(b"\n").map_err(wrap)
    }

    /// Flush what was written so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Whether the `len` bytes of the file at `path` end with a newline.
fn ends_with_newline(path: &Path, len: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.seek(SeekFrom::Start(len.saturating_sub(1)))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Read a report's direction lines back (for tests and the HTTP pass);
/// its TLS lines are left out (see [`super::tls_record::read_tls_records`]).
pub fn read_report(path: &Path) -> std::io::Result<Vec<DirectionRecord>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty() && !super::tls_record::is_tls_line(l.as_bytes()))
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn record(file: &str, connection: u64) -> DirectionRecord {
        DirectionRecord {
            file: file.into(),
            connection,
            community_id: None,
            src: "10.0.0.1".into(),
            sport: 1,
            dst: "10.0.0.2".into(),
            dport: 2,
            counter: 0,
            vlan: None,
            encap: "ethernet/ipv4".into(),
            tunnel: 0,
            outer_src: None,
            outer_dst: None,
            first_ts: "0.000000000".into(),
            last_ts: "0.000000000".into(),
            packets: 1,
            bytes: 1,
            gaps: Vec::new(),
            gap_bytes: 0,
            jumps: Vec::new(),
            bound_jumps: Vec::new(),
            truncated: false,
            dropped_before_start: 0,
            end: End::Fin,
            sha256: String::new(),
            md5: None,
            grep_matches: None,
        }
    }

    /// Records the files of each connection the report hands over.
    struct Groups(Arc<Mutex<Vec<Vec<String>>>>);

    impl CloseHook for Groups {
        fn connection_closed(&mut self, records: &[DirectionRecord]) -> Result<(), Error> {
            let files = records.iter().map(|r| r.file.clone()).collect();
            self.0.lock().unwrap().push(files);
            Ok(())
        }
        fn finish(&mut self) -> Result<(), Error> {
            self.0.lock().unwrap().push(vec!["finish".into()]);
            Ok(())
        }
    }

    #[test]
    fn closed_hook_gets_every_record_in_report_order_without_a_report_file() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let hook: crate::hooks::ClosedHook = Arc::new(move |r: &DirectionRecord| {
            sink.lock().unwrap().push((r.file.clone(), r.connection));
        });
        let mut report = OrderedReport::new(None).with_closed(Some(hook));
        let key = |event, connection, side| CloseKey {
            event,
            connection,
            side,
        };
        report.push(key(9, 2, 1), record("c", 2));
        report.push(key(5, 1, 0), record("a", 1));
        report.push(key(9, 2, 0), record("b", 2));
        report.release_before(6).unwrap();
        assert_eq!(*seen.lock().unwrap(), [("a".to_string(), 1)]);
        report.finish().unwrap();
        let files: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
        assert_eq!(files, ["a", "b", "c"]);
    }

    #[test]
    fn report_of_an_earlier_run_keeps_its_lines_and_gets_ours_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        let mut w = ReportWriter::open(&path).unwrap();
        assert!(!w.has_earlier_lines());
        w.write(&record("a", 1)).unwrap();
        w.flush().unwrap();
        drop(w);
        let mut w = ReportWriter::open(&path).unwrap();
        assert!(w.has_earlier_lines());
        w.write(&record("b", 1)).unwrap();
        w.flush().unwrap();
        drop(w);
        let files: Vec<String> = read_report(&path)
            .unwrap()
            .into_iter()
            .map(|r| r.file)
            .collect();
        assert_eq!(files, ["a", "b"]);
    }

    #[test]
    fn report_cut_off_mid_line_gets_our_lines_on_a_line_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        std::fs::write(&path, b"{\"file\":\"cut").unwrap();
        let mut w = ReportWriter::open(&path).unwrap();
        w.write(&record("b", 1)).unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let last: DirectionRecord = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last.file, "b");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn only_matching_connections_are_written_and_handed_to_the_hooks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        let groups = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let closed: crate::hooks::ClosedHook =
            Arc::new(move |r: &DirectionRecord| sink.lock().unwrap().push(r.file.clone()));
        let counts = Arc::new(super::super::keep::KeepCounts::default());
        let keep = super::super::keep::KeepMatching::only_matching(None, vec![], counts.clone());
        let mut report = OrderedReport::new(Some(ReportWriter::open(&path).unwrap()))
            .with_hook(Some(Box::new(Groups(groups.clone()))))
            .with_closed(Some(closed))
            .with_keep(Some(keep));
        let key = |event, connection, side| CloseKey {
            event,
            connection,
            side,
        };
        let with = |file: &str, connection, matches| DirectionRecord {
            grep_matches: Some(matches),
            ..record(file, connection)
        };
        report.push(key(5, 2, 0), with("a0", 2, 0));
        report.push(key(5, 2, 1), with("a1", 2, 3));
        report.push(key(7, 3, 0), with("b0", 3, 0));
        report.push(key(7, 3, 1), with("b1", 3, 0));
        report.push(key(7, 4, 0), with("c0", 4, 1));
        report.push(key(9, 5, 1), with("d1", 5, 0));
        report.release_before(8).unwrap();
        assert_eq!(*groups.lock().unwrap(), vec![vec!["a0", "a1"], vec!["c0"]]);
        report.finish().unwrap();
        assert_eq!(*seen.lock().unwrap(), ["a0", "a1", "c0"]);
        let files: Vec<(String, Option<u64>)> = read_report(&path)
            .unwrap()
            .into_iter()
            .map(|r| (r.file, r.grep_matches))
            .collect();
        assert_eq!(
            files,
            [
                ("a0".to_string(), Some(0)),
                ("a1".to_string(), Some(3)),
                ("c0".to_string(), Some(1))
            ]
        );
        assert_eq!((counts.matching(), counts.not_matching()), (2, 2));
        assert_eq!(counts.dropped_directions(), (3, 0));
    }

    #[test]
    fn hook_gets_each_connection_once_its_lines_are_released() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut report = OrderedReport::new(None).with_hook(Some(Box::new(Groups(seen.clone()))));
        let key = |event, connection, side| CloseKey {
            event,
            connection,
            side,
        };
        report.push(key(7, 3, 1), record("b1", 3));
        report.push(key(5, 2, 0), record("a0", 2));
        report.push(key(7, 3, 0), record("b0", 3));
        report.push(key(5, 2, 1), record("a1", 2));
        report.push(key(9, 4, 0), record("c0", 4));
        report.release_before(8).unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![vec!["a0", "a1"], vec!["b0", "b1"]]
        );
        report.finish().unwrap();
        assert_eq!(
            seen.lock().unwrap()[2..],
            [vec!["c0".to_string()], vec!["finish".to_string()]]
        );
    }
}
