//! The rows of `flowsplit view`'s tables, read line by line from
//! `report.jsonl` and the `http.jsonl` indexes, with what is kept of them
//! bounded ([`Keeper`]).
//!
//! Must not: hold more than a bounded number of rows, whatever the files
//! hold.

use crate::error::Error;
use crate::output::charts::{pretty_bytes, utc};
use crate::output::traffic::TopCounts;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::Path;

/// Directions waiting for their other half at most; past this the waiting
/// ones become rows of one direction (a report writes both directions of
/// a connection together, so few ever wait).
const MAX_WAITING: usize = 10_000;

/// Hosts counted exactly; past this the heaviest are kept (see
/// [`TopCounts`]).
const HOST_CAP: usize = 65_536;

/// Rows kept: those with a problem while they fill half of `max`
/// (the heaviest of them when more), the heaviest of the rest after them.
#[derive(Debug)]
pub struct Keeper<T> {
    max: usize,
    problems: Vec<(u64, T)>,
    others: Vec<(u64, T)>,
}

impl<T> Keeper<T> {
    /// Keep at most `max` rows.
    pub fn new(max: usize) -> Self {
        Keeper {
            max: max.max(1),
            problems: Vec::new(),
            others: Vec::new(),
        }
    }

    /// Offer a row of weight `weight`.
    pub fn offer(&mut self, weight: u64, problem: bool, row: T) {
        let half = self.max.div_ceil(2);
        if problem {
            self.problems.push((weight, row));
            if self.problems.len() >= 2 * half {
                let spill = Self::cut(&mut self.problems, half);
                self.others.extend(spill);
            }
        } else {
            self.others.push((weight, row));
        }
        if self.others.len() >= 2 * self.max {
            Self::cut(&mut self.others, self.max);
        }
    }

    /// Keep the `keep` heaviest of `v` (the earlier first among equals),
    /// returning the rest.
    fn cut(v: &mut Vec<(u64, T)>, keep: usize) -> Vec<(u64, T)> {
        v.sort_by_key(|b| std::cmp::Reverse(b.0));
        if v.len() > keep {
            v.split_off(keep)
        } else {
            Vec::new()
        }
    }

    /// The rows kept, problems first, each part heaviest first.
    pub fn into_rows(mut self) -> Vec<T> {
        let half = self.max.div_ceil(2);
        let spill = Self::cut(&mut self.problems, half);
        self.others.extend(spill);
        let room = self.max - self.problems.len();
        Self::cut(&mut self.others, room);
        self.problems
            .into_iter()
            .chain(self.others)
            .map(|(_, r)| r)
            .collect()
    }

    /// Rows kept now (at most `max` once [`Keeper::into_rows`] cuts them).
    pub fn len(&self) -> usize {
        (self.problems.len() + self.others.len()).min(self.max)
    }
}

/// One line of `report.jsonl` (the fields the page shows).
#[derive(Debug, Clone, Deserialize)]
struct DirLine {
    file: Option<String>,
    connection: u64,
    #[serde(default)]
    community_id: Option<String>,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    #[serde(default)]
    first_ts: Option<String>,
    #[serde(default)]
    last_ts: Option<String>,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    gaps: Vec<serde_json::Value>,
    #[serde(default)]
    gap_bytes: u64,
    #[serde(default)]
    jumps: Vec<serde_json::Value>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    dropped_before_start: u64,
    #[serde(default)]
    end: Option<String>,
}

impl DirLine {
    fn problem(&self) -> bool {
        !self.gaps.is_empty()
            || self.gap_bytes > 0
            || !self.jumps.is_empty()
            || self.truncated
            || self.dropped_before_start > 0
    }
}

/// Seconds since the epoch from the report's `"SECS.NANOS"`.
fn seconds(ts: Option<&str>) -> Option<f64> {
    ts?.parse::<f64>().ok()
}

/// A connection's row.
#[derive(Debug, Clone, Serialize)]
pub struct ConnRow {
    /// The connection's number in the report.
    pub id: u64,
    /// The side that sent first, `ADDR:PORT`.
    pub a: String,
    /// The other side.
    pub b: String,
    /// Payload bytes a sent to b, and b to a.
    pub ab: u64,
    /// Payload bytes b sent to a.
    pub ba: u64,
    /// First packet, UTC.
    pub start: String,
    /// Seconds from the first packet to the last.
    pub duration: String,
    /// Duration as a number (for sorting).
    pub duration_s: f64,
    /// Gaps over both directions, and their bytes.
    pub gaps: usize,
    /// Bytes in gaps.
    pub gap_bytes: u64,
    /// Jumps over both directions.
    pub jumps: usize,
    /// How each direction ended (`a->b / b->a`).
    pub end: String,
    /// The Community ID.
    pub community_id: String,
    /// The flow files (a to b, b to a), relative to the folder.
    pub file_ab: Option<String>,
    /// b to a.
    pub file_ba: Option<String>,
    /// What is wrong with it, if anything (empty otherwise).
    pub problem: String,
}

impl ConnRow {
    fn of(first: &DirLine, second: Option<&DirLine>) -> ConnRow {
        let both: Vec<&DirLine> = std::iter::once(first).chain(second).collect();
        let start = both
            .iter()
            .filter_map(|l| seconds(l.first_ts.as_deref()))
            .fold(f64::INFINITY, f64::min);
        let end = both
            .iter()
            .filter_map(|l| seconds(l.last_ts.as_deref()))
            .fold(f64::NEG_INFINITY, f64::max);
        let duration_s = if start.is_finite() && end.is_finite() {
            (end - start).max(0.0)
        } else {
            0.0
        };
        let mut problems = Vec::new();
        for l in &both {
            if l.gap_bytes > 0 || !l.gaps.is_empty() {
                problems.push(format!("{} missing", pretty_bytes(l.gap_bytes)));
            }
            if !l.jumps.is_empty() {
                problems.push(format!("{} jumps", l.jumps.len()));
            }
            if l.truncated {
                problems.push("cut by -b".to_string());
            }
            if l.dropped_before_start > 0 {
                problems.push(format!("{} B before its start", l.dropped_before_start));
            }
        }
        let ends: Vec<&str> = both
            .iter()
            .map(|l| l.end.as_deref().unwrap_or("?"))
            .collect();
        ConnRow {
            id: first.connection,
            a: endpoint(&first.src, first.sport),
            b: endpoint(&first.dst, first.dport),
            ab: first.bytes,
            ba: second.map_or(0, |l| l.bytes),
            start: if start.is_finite() {
                utc(start.floor() as i64)
            } else {
                String::new()
            },
            duration: format!("{duration_s:.3}"),
            duration_s,
            gaps: both.iter().map(|l| l.gaps.len()).sum(),
            gap_bytes: both.iter().map(|l| l.gap_bytes).sum(),
            jumps: both.iter().map(|l| l.jumps.len()).sum(),
            end: ends.join(" / "),
            community_id: first.community_id.clone().unwrap_or_default(),
            file_ab: first.file.clone(),
            file_ba: second.and_then(|l| l.file.clone()),
            problem: problems.join(", "),
        }
    }
}

fn endpoint(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

/// The connections of a report: counted, and the rows kept.
#[derive(Debug)]
pub struct Connections {
    /// Rows a table holds at most.
    pub max_rows: usize,
    /// Connections seen.
    pub seen: u64,
    /// Direction lines seen.
    pub directions: u64,
    /// Payload bytes over every direction.
    pub payload_bytes: u64,
    /// Directions with bytes missing or cut.
    pub directions_with_problems: u64,
    waiting: HashMap<u64, DirLine>,
    kept: Keeper<ConnRow>,
}

impl Connections {
    /// Keep at most `max_rows` rows.
    pub fn new(max_rows: usize) -> Self {
        Connections {
            max_rows,
            seen: 0,
            directions: 0,
            payload_bytes: 0,
            directions_with_problems: 0,
            waiting: HashMap::new(),
            kept: Keeper::new(max_rows),
        }
    }

    fn line(&mut self, l: DirLine, hosts: &mut HostTotals) {
        self.directions += 1;
        self.payload_bytes += l.bytes;
        self.directions_with_problems += u64::from(l.problem());
        hosts.direction(&l);
        match self.waiting.remove(&l.connection) {
            Some(first) => self.row(&first, Some(&l), hosts),
            None => {
                self.waiting.insert(l.connection, l);
                if self.waiting.len() > MAX_WAITING {
                    self.flush(hosts);
                }
            }
        }
    }

    fn row(&mut self, first: &DirLine, second: Option<&DirLine>, hosts: &mut HostTotals) {
        // The side that sent first is `a`.
        let (first, second) = match second {
            Some(s) if seconds(s.first_ts.as_deref()) < seconds(first.first_ts.as_deref()) => {
                (s, Some(first))
            }
            _ => (first, second),
        };
        self.seen += 1;
        hosts.connection(&first.src, &first.dst);
        let row = ConnRow::of(first, second);
        let problem = !row.problem.is_empty();
        self.kept.offer(row.ab + row.ba, problem, row);
    }

    fn flush(&mut self, hosts: &mut HostTotals) {
        let mut waiting: Vec<(u64, DirLine)> = self.waiting.drain().collect();
        waiting.sort_by_key(|(id, _)| *id);
        for (_, l) in waiting {
            self.row(&l, None, hosts);
        }
    }

    /// Rows kept so far.
    pub fn kept_len(&self) -> usize {
        self.kept.len()
    }

    /// The rows, problems first, then the largest.
    pub fn rows(&self) -> Vec<ConnRow>
    where
        ConnRow: Clone,
    {
        let mut k = Keeper::new(self.kept.max);
        for (w, r) in &self.kept.problems {
            k.problems.push((*w, r.clone()));
        }
        for (w, r) in &self.kept.others {
            k.others.push((*w, r.clone()));
        }
        k.into_rows()
    }
}

/// Payload bytes each host sent and received, and its connections.
#[derive(Debug)]
pub struct HostTotals {
    total: TopCounts<IpAddr>,
    sent: TopCounts<IpAddr>,
    received: TopCounts<IpAddr>,
    connections: TopCounts<IpAddr>,
}

/// One host's row.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// The address.
    pub host: String,
    /// Payload bytes it sent.
    pub sent: u64,
    /// Payload bytes it received.
    pub received: u64,
    /// Both, as printed.
    pub total_text: String,
    /// Connections it was an end of.
    pub connections: u64,
}

impl Default for HostTotals {
    fn default() -> Self {
        Self::new()
    }
}

impl HostTotals {
    /// Empty.
    pub fn new() -> Self {
        HostTotals {
            total: TopCounts::new(HOST_CAP),
            sent: TopCounts::new(HOST_CAP),
            received: TopCounts::new(HOST_CAP),
            connections: TopCounts::new(HOST_CAP),
        }
    }

    fn direction(&mut self, l: &DirLine) {
        if let (Ok(s), Ok(d)) = (l.src.parse::<IpAddr>(), l.dst.parse::<IpAddr>()) {
            self.sent.add(s, l.bytes);
            self.received.add(d, l.bytes);
            self.total.add(s, l.bytes);
            self.total.add(d, l.bytes);
        }
    }

    fn connection(&mut self, src: &str, dst: &str) {
        for a in [src, dst] {
            if let Ok(a) = a.parse::<IpAddr>() {
                self.connections.add(a, 1);
            }
        }
    }

    /// The `n` hosts with the most payload bytes sent and received.
    pub fn rows(&self, n: usize) -> Vec<HostRow> {
        self.total
            .top(n)
            .into_iter()
            .map(|(a, t)| HostRow {
                host: a.to_string(),
                sent: self.sent.get(&a),
                received: self.received.get(&a),
                total_text: pretty_bytes(t),
                connections: self.connections.get(&a),
            })
            .collect()
    }

    /// Hosts counted (all of them while exact).
    pub fn count(&self) -> u64 {
        self.connections.len() as u64
    }
}

/// Read `report` into `conns` and `hosts`. Lines that are not a
/// direction's (none in a single run's report) are passed over.
pub fn read_report(
    report: &Path,
    conns: &mut Connections,
    hosts: &mut HostTotals,
) -> Result<(), Error> {
    let open = |source| Error::Open {
        path: report.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(report).map_err(open)?;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(|source| Error::Read {
            path: report.to_path_buf(),
            source,
        })?;
        if let Ok(l) = serde_json::from_str::<DirLine>(&line) {
            conns.line(l, hosts);
        }
    }
    conns.flush(hosts);
    Ok(())
}

/// An HTTP exchange's row.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeRow {
    /// Request method.
    pub method: String,
    /// Host header.
    pub host: String,
    /// Request target.
    pub uri: String,
    /// Final status.
    pub status: String,
    /// Response body's content type.
    pub content_type: String,
    /// Response body's size (decoded when it was decoded).
    pub size: u64,
    /// Both messages seen and every body whole.
    pub complete: bool,
    /// The carved response body, relative to the folder.
    pub body: Option<String>,
    /// The request's flow file, relative to the folder.
    pub flow: Option<String>,
}

/// A connection's TLS facts.
#[derive(Debug, Clone, Serialize)]
pub struct TlsRow {
    /// Server name asked for.
    pub sni: String,
    /// Protocol ALPN chose.
    pub alpn: String,
    /// Version.
    pub version: String,
    /// Decrypted or not.
    pub decrypted: bool,
    /// Why not.
    pub reason: String,
    /// The client's flow file, relative to the folder.
    pub flow: Option<String>,
}

/// The exchanges of every `http.jsonl` under a folder.
#[derive(Debug)]
pub struct Exchanges {
    /// Exchanges seen.
    pub seen: u64,
    /// The indexes read, relative to the folder.
    pub indexes: Vec<String>,
    kept: Keeper<ExchangeRow>,
    tls: Keeper<TlsRow>,
    tls_seen: u64,
}

impl Exchanges {
    /// Keep at most `max_rows` rows of each.
    pub fn new(max_rows: usize) -> Self {
        Exchanges {
            seen: 0,
            indexes: Vec::new(),
            kept: Keeper::new(max_rows),
            tls: Keeper::new(max_rows),
            tls_seen: 0,
        }
    }

    /// Rows kept so far.
    pub fn kept_len(&self) -> usize {
        self.kept.len()
    }

    /// The rows, incomplete exchanges first, then the largest.
    pub fn rows(&self) -> Vec<ExchangeRow> {
        let mut k = Keeper::new(self.kept.max);
        k.problems.clone_from(&self.kept.problems);
        k.others.clone_from(&self.kept.others);
        k.into_rows()
    }

    /// The TLS rows (not decrypted first) and the TLS connections seen.
    pub fn tls_rows(&self) -> (Vec<TlsRow>, u64) {
        let mut k = Keeper::new(self.tls.max);
        k.problems.clone_from(&self.tls.problems);
        k.others.clone_from(&self.tls.others);
        (k.into_rows(), self.tls_seen)
    }
}

fn text(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Read every `http.jsonl` under `dir` into `ex`.
pub fn read_indexes(dir: &Path, ex: &mut Exchanges) -> Result<(), Error> {
    let mut paths = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Folder {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_file() && entry.file_name() == crate::http::INDEX_NAME {
            paths.push(entry.into_path());
        }
    }
    for path in paths {
        let folder = path
            .parent()
            .and_then(|p| p.strip_prefix(dir).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rel = |file: &str| {
            if folder.is_empty() {
                file.to_string()
            } else {
                format!("{folder}/{file}")
            }
        };
        ex.indexes.push(rel(crate::http::INDEX_NAME));
        let f = std::fs::File::open(&path).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        let mut last_tls: Option<String> = None;
        for line in std::io::BufReader::new(f).lines() {
            let line = line.map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v.get("object").is_some_and(|o| !o.is_null()) {
                continue;
            }
            ex.seen += 1;
            let body = v.get("response_body").filter(|b| !b.is_null());
            let size = body
                .and_then(|b| b.get("decoded_length").or_else(|| b.get("wire_length")))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            let complete = v.get("complete").and_then(serde_json::Value::as_bool) == Some(true);
            let flow = v
                .get("request_file")
                .and_then(|f| f.as_str())
                .or_else(|| v.get("response_file").and_then(|f| f.as_str()))
                .map(rel);
            ex.kept.offer(
                size,
                !complete,
                ExchangeRow {
                    method: text(&v, "method"),
                    host: text(&v, "host"),
                    uri: text(&v, "uri"),
                    status: text(&v, "status"),
                    content_type: body.map(|b| text(b, "content_type")).unwrap_or_default(),
                    size,
                    complete,
                    body: body
                        .and_then(|b| b.get("file"))
                        .and_then(|f| f.as_str())
                        .map(rel),
                    flow: flow.clone(),
                },
            );
            if let Some(tls) = v.get("tls").filter(|t| !t.is_null()) {
                let id = text(&v, "community_id") + &text(&v, "request_file");
                if last_tls.as_deref() == Some(id.as_str()) {
                    continue;
                }
                last_tls = Some(id);
                ex.tls_seen += 1;
                let decrypted =
                    tls.get("decrypted").and_then(serde_json::Value::as_bool) == Some(true);
                ex.tls.offer(
                    0,
                    !decrypted,
                    TlsRow {
                        sni: text(tls, "sni"),
                        alpn: text(tls, "alpn"),
                        version: text(tls, "version"),
                        decrypted,
                        reason: text(tls, "reason"),
                        flow,
                    },
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeper_keeps_problems_first_then_the_heaviest() {
        let mut k = Keeper::new(4);
        for (w, p) in [
            (5, false),
            (1, true),
            (9, false),
            (2, true),
            (3, true),
            (7, false),
        ] {
            k.offer(w, p, w);
        }
        // Half of 4 for problems (the heaviest two), the rest the heaviest.
        assert_eq!(k.into_rows(), vec![3, 2, 9, 7]);
    }

    #[test]
    fn keeper_stays_bounded() {
        let mut k = Keeper::new(10);
        for i in 0..10_000u64 {
            k.offer(i, i % 3 == 0, i);
            assert!(k.problems.len() < 10 && k.others.len() < 20);
        }
        let rows = k.into_rows();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0], 9999);
        assert_eq!(rows[5], 9998);
    }
}
