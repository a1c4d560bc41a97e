//! Differential test over the public captures in `../shared/corpus/`.
//!
//! For every capture in `MANIFEST.tsv` the `flowsplit` binary is run
//! (`-r FILE -o TMPDIR`), and every TCP direction it writes is compared with
//! two references:
//!
//! - tshark's `follow,tcp,raw` stream (`ORACLE_tshark_tcp.tsv`): equal bytes
//!   and sha256, or, where tshark saw gaps, its zero-filled form
//!   (`sha256_gaps_zero_filled`); where tshark could not zero-fill (a gap too
//!   large), the captured bytes outside our reported gaps must hash to
//!   tshark's sha256 and the gap totals must agree.
//! - tcpflow 1.6.1's file of the same name (`ORACLE_tcpflow.tsv`,
//!   `mode=default`).
//!
//! A tshark stream and direction is mapped to a flowsplit file through the
//! report: the direction's sender and receiver (address and port) and the
//! rank of its connection among the connections on the same endpoint pair
//! (tshark's stream order, flowsplit's `connection` order).
//!
//! Every direction gets a verdict in `target/corpus_tcp_report.tsv` and a
//! summary is printed. The test fails when
//! - the set of directions that differ from tshark is not exactly [`KNOWN`]
//!   (each entry says why it is expected to differ), or
//! - a direction differs from tcpflow and the corpus README's list of
//!   tcpflow's faults (Ethernet padding copied into the stream, tcpflow issue
//!   #261; gaps over-filled with zeros; link types and encapsulations tcpflow
//!   cannot read) does not explain it, or
//! - flowsplit crashed, hung, or wrote a report that disagrees with its files.

mod common;

use common::corpus_dir;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// Reasons shared by several entries of KNOWN.
const LATE_EARLIER_SEGMENT: &str =
    "capture starts mid-connection and a segment from before the first one seen arrives later: tshark drops it (corpus README), flowsplit puts it in front as tcpflow does; the receiver's ACK shows the stream starts there";
const RANDOMIZED: &str =
    "packets stored out of time order: tshark follows file order and loses bytes; flowsplit has them all, as tcpflow does";
const BIG_JUMP: &str = "a sampled 5 GB transfer whose sequence numbers wrap twice: tcpflow starts a new file at each large jump; flowsplit keeps one stream, as tshark does, zero-filling holes up to -m (16 MiB) and listing the longer ones as jumps, not filled (a 678 KB file, no longer 5.4 GB)";

/// Directions expected to differ from tshark: (capture, flowsplit file name,
/// why). For a direction flowsplit does not write, the file name is the one
/// tcpflow's default template gives the tshark direction.
#[rustfmt::skip]
const KNOWN: &[(&str, &str, &str)] = &[
    // tshark is wrong here: the file stores the packets out of time order
    // (the client's SYN is the last record) and tshark follows file order.
    // It misses the server's first 1460 bytes and the client's request;
    // flowsplit has the whole exchange (1884 and 120 bytes, HTTP
    // Content-Length checks out), as tcpflow does (its c1 file and the
    // client's file).
    ("tcpflow/tests/test5-lines-randomized.pcap", "069.163.156.173.00080-192.168.010.105.49392", RANDOMIZED),
    ("tcpflow/tests/test5-lines-randomized.pcap", "192.168.010.105.49392-069.163.156.173.00080", RANDOMIZED),
    // In test1-part2 the receiver ACKs 314594166 (with a SACK for
    // 314595562-314595584) before the late segment at 314594166 arrives, so
    // the stream starts at that segment; in test1-out-of-order the 22 bytes
    // between it and the first segment seen never arrive and are a gap.
    ("tcpflow/tests/test1-out-of-order.pcap", "074.125.019.104.00080-192.168.001.102.50955", LATE_EARLIER_SEGMENT),
    ("tcpflow/tests/test1-part2.pcap", "074.125.019.104.00080-192.168.001.102.50955", LATE_EARLIER_SEGMENT),
];

/// Files where tcpflow is wrong for a reason outside the corpus README's
/// general list (which [`tcpflow_fault`] applies): (capture, file name, why).
#[rustfmt::skip]
const TCPFLOW_KNOWN: &[(&str, &str, &str)] = &[
    ("tcpflow/tests/bug2.pcap", "069.026.190.048.00080-192.168.015.004.33088c1",
     "tcpflow opens a new file for a retransmission arriving after the FIN: its c1 holds 1396 bytes already in the stream and 4 bytes of trailer"),
    ("tcpflow/tests/test5-lines-randomized.pcap", "069.163.156.173.00080-192.168.010.105.49392c1",
     "packets out of time order: tcpflow writes the server's 1884 bytes as c1 (the same bytes as flowsplit's file) after a c0 holding 6 bytes of Ethernet padding"),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c1", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c2", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c3", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c4", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c5", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c6", BIG_JUMP),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "192.168.056.101.37150-192.168.056.001.59764c7", BIG_JUMP),
];

/// How long one flowsplit run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// Files larger than this are not hashed whole; the report's sha256 is used.
const FULL_HASH_LIMIT: u64 = 1 << 30;

// ---------------------------------------------------------------------------
// The corpus tables.

/// Rows of a TSV file as maps from column name to value.
fn read_tsv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `addr:port`, `[v6]:port` or `v6:port` (COMPARE_tcp.tsv writes IPv6 unbracketed).
fn parse_endpoint(s: &str) -> (IpAddr, u16) {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return (sa.ip(), sa.port());
    }
    let (a, p) = s
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("bad endpoint {s:?}"));
    let a = a.trim_start_matches('[').trim_end_matches(']');
    (
        a.parse().unwrap_or_else(|_| panic!("bad address in {s:?}")),
        p.parse().unwrap_or_else(|_| panic!("bad port in {s:?}")),
    )
}

type Endpoint = (IpAddr, u16);

/// One direction of one tshark stream.
#[derive(Debug, Clone)]
struct TsharkDir {
    stream: u32,
    /// `c2s` or `s2c`.
    dir: String,
    src: Endpoint,
    dst: Endpoint,
    bytes: u64,
    sha256: String,
    gaps: u64,
    gap_bytes: u64,
    /// `None` when there are no gaps or tshark could not zero-fill them.
    sha256_zero_filled: Option<String>,
    /// Rank of the stream among tshark's streams on the same endpoint pair.
    nth: usize,
}

/// What the corpus knows about tshark vs tcpflow for one direction.
#[derive(Debug, Clone, Default)]
struct CompareRow {
    tcpflow_file: String,
    verdict: String,
    detail: String,
}

#[derive(Debug, Clone)]
struct TcpflowFile {
    size: u64,
    sha256: String,
}

struct Corpus {
    dir: PathBuf,
    /// Capture path → features column.
    captures: Vec<(String, String)>,
    tshark: HashMap<String, Vec<TsharkDir>>,
    tcpflow: HashMap<String, BTreeMap<String, TcpflowFile>>,
    /// (pcap, src, dst, tshark stream) → row.
    compare: HashMap<(String, Endpoint, Endpoint, u32), CompareRow>,
    /// (pcap, tcpflow file) → row, for files only tcpflow wrote.
    compare_by_file: HashMap<(String, String), CompareRow>,
}

fn load_corpus() -> Corpus {
    let dir = corpus_dir();
    let captures: Vec<(String, String)> = read_tsv(&dir.join("MANIFEST.tsv"))
        .into_iter()
        .map(|r| (r["file"].clone(), r["features"].clone()))
        .collect();

    let mut tshark: HashMap<String, Vec<TsharkDir>> = HashMap::new();
    for r in read_tsv(&dir.join("ORACLE_tshark_tcp.tsv")) {
        let client = parse_endpoint(&r["client"]);
        let server = parse_endpoint(&r["server"]);
        let (src, dst) = if r["direction"] == "c2s" {
            (client, server)
        } else {
            (server, client)
        };
        let zf = r["sha256_gaps_zero_filled"].clone();
        tshark
            .entry(r["pcap"].clone())
            .or_default()
            .push(TsharkDir {
                stream: r["stream"].parse().expect("stream"),
                dir: r["direction"].clone(),
                src,
                dst,
                bytes: r["bytes"].parse().expect("bytes"),
                sha256: r["sha256"].clone(),
                gaps: r["gaps"].parse().unwrap_or(0),
                gap_bytes: r["gap_bytes"].parse().unwrap_or(0),
                sha256_zero_filled: (zf.len() == 64).then_some(zf),
                nth: 0,
            });
    }
    for dirs in tshark.values_mut() {
        let mut streams: HashMap<(Endpoint, Endpoint), BTreeSet<u32>> = HashMap::new();
        for d in dirs.iter() {
            streams
                .entry(pair(d.src, d.dst))
                .or_default()
                .insert(d.stream);
        }
        for d in dirs.iter_mut() {
            let set = &streams[&pair(d.src, d.dst)];
            d.nth = set.iter().position(|s| *s == d.stream).expect("own stream");
        }
    }

    let mut tcpflow: HashMap<String, BTreeMap<String, TcpflowFile>> = HashMap::new();
    for r in read_tsv(&dir.join("ORACLE_tcpflow.tsv")) {
        if r["mode"] != "default" {
            continue;
        }
        tcpflow.entry(r["pcap"].clone()).or_default().insert(
            r["file"].clone(),
            TcpflowFile {
                size: r["size"].parse().expect("size"),
                sha256: r["sha256"].clone(),
            },
        );
    }

    let mut compare = HashMap::new();
    let mut compare_by_file = HashMap::new();
    for r in read_tsv(&dir.join("COMPARE_tcp.tsv")) {
        let row = CompareRow {
            tcpflow_file: r["tcpflow_file"].clone(),
            verdict: r["verdict"].clone(),
            detail: r["detail"].clone(),
        };
        if !row.tcpflow_file.is_empty() {
            compare_by_file.insert((r["pcap"].clone(), row.tcpflow_file.clone()), row.clone());
        }
        if let Ok(stream) = r["tshark_stream"].parse::<u32>() {
            let key = (
                r["pcap"].clone(),
                parse_endpoint(&r["src"]),
                parse_endpoint(&r["dst"]),
                stream,
            );
            compare.insert(key, row);
        }
    }
    Corpus {
        dir,
        captures,
        tshark,
        tcpflow,
        compare,
        compare_by_file,
    }
}

/// The two endpoints of a connection in a fixed order.
fn pair(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// tcpflow's default name for a direction without VLAN.
fn tcpflow_name(src: Endpoint, dst: Endpoint, nth: usize) -> String {
    fn addr(a: IpAddr) -> String {
        match a {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{:03}.{:03}.{:03}.{:03}", o[0], o[1], o[2], o[3])
            }
            IpAddr::V6(v6) => v6.to_string(),
        }
    }
    let mut s = format!("{}.{:05}-{}.{:05}", addr(src.0), src.1, addr(dst.0), dst.1);
    if nth > 0 {
        let _ = write!(s, "c{nth}");
    }
    s
}

// ---------------------------------------------------------------------------
// Running flowsplit.

/// One line of flowsplit's report (the members this test reads).
#[derive(Debug, Clone, Deserialize)]
struct ReportLine {
    file: String,
    connection: u64,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    bytes: u64,
    gaps: Vec<(u64, u64)>,
    gap_bytes: u64,
    /// Holes longer than `-m`, not in the file (`[offset, length]`).
    #[serde(default)]
    jumps: Vec<(u64, u64)>,
    /// Bytes seen from before a mid-stream start (not in the file).
    #[serde(default)]
    dropped_before_start: u64,
    sha256: String,
}

/// A direction flowsplit wrote, with what the test measured of its file.
#[derive(Debug, Clone)]
struct Written {
    line: ReportLine,
    /// sha256 of the whole file (the report's, for files over the hash limit).
    sha256: String,
    /// sha256 of the file's bytes outside the reported gaps.
    sha256_without_gaps: String,
}

impl Written {
    /// Bytes missing in the holes longer than `-m` (not in the file).
    fn jump_bytes(&self) -> u64 {
        self.line.jumps.iter().map(|j| j.1).sum()
    }
}

/// The result of running flowsplit on one capture.
#[derive(Debug, Default)]
struct Run {
    exit: Option<i32>,
    stderr: String,
    seconds: f64,
    written: Vec<Written>,
    /// Problems with flowsplit's own output (always a failure).
    problems: Vec<String>,
}

fn run_flowsplit(capture: &Path) -> Run {
    let out = tempfile::tempdir().expect("tempdir");
    let flows = out.path().join("flows");
    let report = out.path().join("report.jsonl");
    let stderr_path = out.path().join("stderr");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-q")
        .arg("-r")
        .arg(capture)
        .arg("-o")
        .arg(&flows)
        .arg("--report")
        .arg(&report)
        // The DFXML report beside the JSON one, out of the flow folder.
        .arg("-X")
        .arg(out.path().join("report.xml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run flowsplit");
    let mut run = Run::default();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    run.seconds = start.elapsed().as_secs_f64();
    run.stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    match status {
        None => run
            .problems
            .push(format!("hung: killed after {}s", RUN_TIMEOUT.as_secs())),
        Some(st) => {
            run.exit = st.code();
            match st.code() {
                Some(0) | Some(1) => {}
                Some(c) => run
                    .problems
                    .push(format!("exit {c}: {}", run.stderr.trim())),
                None => run.problems.push(format!("killed by a signal: {st:?}")),
            }
        }
    }
    if run.exit.is_none() {
        return run;
    }
    let text = match std::fs::read_to_string(&report) {
        Ok(t) => t,
        Err(e) => {
            run.problems.push(format!("no report: {e}"));
            return run;
        }
    };
    let mut listed = BTreeSet::new();
    for (i, l) in text.lines().enumerate() {
        let line: ReportLine = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => {
                run.problems
                    .push(format!("report line {}: {e}: {l}", i + 1));
                continue;
            }
        };
        listed.insert(line.file.clone());
        let path = flows.join(&line.file);
        match measure(&path, &line) {
            Ok(w) => {
                if w.sha256 != line.sha256 {
                    run.problems.push(format!(
                        "{}: report says sha256 {} but the file hashes to {}",
                        line.file, line.sha256, w.sha256
                    ));
                }
                run.written.push(w);
            }
            Err(e) => run.problems.push(format!("{}: {e}", line.file)),
        }
    }
    for f in files_under(&flows) {
        let rel = f
            .strip_prefix(&flows)
            .expect("under")
            .to_string_lossy()
            .into_owned();
        if !listed.contains(&rel) {
            run.problems
                .push(format!("{rel}: written but not in the report"));
        }
    }
    run
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Hash a flow file whole and without its reported gaps; check its size.
fn measure(path: &Path, line: &ReportLine) -> Result<Written, String> {
    let mut f =
        File::open(path).map_err(|e| format!("listed in the report but unreadable: {e}"))?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    if size != line.bytes {
        return Err(format!(
            "report says {} bytes, the file has {size}",
            line.bytes
        ));
    }
    // No zero-filled run longer than -m (16 MiB by default): longer holes
    // are jumps, not filled.
    if let Some(g) = line.gaps.iter().find(|g| g.1 > 16 << 20) {
        return Err(format!("a gap of {} bytes at {} is zero-filled", g.1, g.0));
    }
    let gap_sum: u64 = line.gaps.iter().map(|g| g.1).sum();
    if gap_sum != line.gap_bytes {
        return Err(format!(
            "gaps sum to {gap_sum}, gap_bytes says {}",
            line.gap_bytes
        ));
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut without = Sha256::new();
    let sha256 = if size <= FULL_HASH_LIMIT {
        let mut whole = Sha256::new();
        let mut gaps = line.gaps.iter().peekable();
        let mut off = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            whole.update(&buf[..n]);
            // Feed the bytes outside gaps to `without`.
            let mut pos = off;
            let end = off + n as u64;
            while pos < end {
                while gaps.peek().is_some_and(|g| g.0 + g.1 <= pos) {
                    gaps.next();
                }
                match gaps.peek() {
                    Some(&&(g0, glen)) if g0 <= pos => pos = (g0 + glen).min(end),
                    Some(&&(g0, _)) => {
                        let stop = g0.min(end);
                        without.update(&buf[(pos - off) as usize..(stop - off) as usize]);
                        pos = stop;
                    }
                    None => {
                        without.update(&buf[(pos - off) as usize..n]);
                        pos = end;
                    }
                }
            }
            off = end;
        }
        hex(&whole.finalize())
    } else {
        // Too big to hash whole in a test: read only the bytes outside gaps.
        let mut pos = 0u64;
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &(g0, glen) in &line.gaps {
            if g0 > pos {
                ranges.push((pos, g0));
            }
            pos = g0 + glen;
        }
        if pos < size {
            ranges.push((pos, size));
        }
        for (a, b) in ranges {
            f.seek(SeekFrom::Start(a)).map_err(|e| e.to_string())?;
            let mut left = b - a;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                f.read_exact(&mut buf[..want]).map_err(|e| e.to_string())?;
                without.update(&buf[..want]);
                left -= want as u64;
            }
        }
        line.sha256.clone()
    };
    Ok(Written {
        line: line.clone(),
        sha256,
        sha256_without_gaps: hex(&without.finalize()),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

// ---------------------------------------------------------------------------
// Verdicts.

/// One row of the verdict table.
#[derive(Debug, Clone)]
struct Verdict {
    pcap: String,
    /// flowsplit's file name, or tcpflow's default name for a direction
    /// flowsplit did not write.
    file: String,
    tshark_stream: String,
    tshark_bytes: String,
    flowsplit_bytes: String,
    tcpflow_file: String,
    tcpflow_bytes: String,
    /// `equal`, `equal_empty`, `missing`, `extra`, `differs`, `n/a` (no tshark direction).
    vs_tshark: &'static str,
    /// `equal`, `both_absent`, `explained`, `differs`.
    vs_tcpflow: &'static str,
    note: String,
}

impl Verdict {
    fn tshark_ok(&self) -> bool {
        matches!(self.vs_tshark, "equal" | "equal_empty" | "n/a")
    }
    fn tcpflow_ok(&self) -> bool {
        matches!(self.vs_tcpflow, "equal" | "both_absent" | "explained")
    }
}

/// Why tcpflow's file may rightly differ from ours, from the corpus README's
/// list of tcpflow's faults and COMPARE_tcp.tsv's verdict on the direction.
fn tcpflow_fault(row: &CompareRow, features: &str, tcpflow_size: Option<u64>) -> Option<String> {
    let v = row.verdict.as_str();
    let padding = row.detail.contains("padding");
    // Padding is at most a few dozen bytes per frame; COMPARE_tcp.tsv says
    // how many extra bytes tcpflow wrote ("extra N bytes").
    let extra: Option<u64> = row
        .detail
        .strip_prefix("extra ")
        .and_then(|d| d.split(' ').next())
        .and_then(|n| n.parse().ok());
    if v.starts_with("tcpflow_longer(tshark_is_prefix)") && padding && extra.is_some_and(|n| n < 64)
    {
        return Some("tcpflow #261: Ethernet padding copied into the stream".into());
    }
    if v.starts_with("tcpflow_longer(NUL_gap_fill)") {
        return Some("tcpflow fills a gap with more zero bytes than are missing".into());
    }
    if v == "tcpflow_failed_on_file" {
        return Some(format!(
            "tcpflow 1.6.1 cannot open this capture ({})",
            row.detail
        ));
    }
    if v == "tshark_only" && row.detail.contains("encap:") {
        return Some(format!(
            "tcpflow does not decode this encapsulation ({})",
            row.detail.rsplit("encap: ").next().unwrap_or("")
        ));
    }
    if v.starts_with("tshark_longer") && features.contains("ipfrag") {
        return Some("tcpflow does not reassemble IPv4 fragments".into());
    }
    if v == "tcpflow_only" && padding && tcpflow_size.is_some_and(|s| s < 64) {
        return Some(
            "tcpflow #261: a file holding only Ethernet padding seen after the close".into(),
        );
    }
    None
}

fn judge(corpus: &Corpus, pcap: &str, features: &str, run: &Run) -> Vec<Verdict> {
    let empty = Vec::new();
    let tshark = corpus.tshark.get(pcap).unwrap_or(&empty);
    let no_tcpflow = BTreeMap::new();
    let tcpflow = corpus.tcpflow.get(pcap).unwrap_or(&no_tcpflow);
    let mut tcpflow_used: BTreeSet<String> = BTreeSet::new();

    // flowsplit's connections per endpoint pair, in connection order.
    let mut conns: HashMap<(Endpoint, Endpoint), BTreeSet<u64>> = HashMap::new();
    for w in &run.written {
        let l = &w.line;
        conns
            .entry(pair((l.src, l.sport), (l.dst, l.dport)))
            .or_default()
            .insert(l.connection);
    }
    let mut used = vec![false; run.written.len()];
    let mut rows = Vec::new();

    let mut dirs: Vec<&TsharkDir> = tshark.iter().collect();
    dirs.sort_by_key(|d| (d.stream, d.src));
    for d in dirs {
        let conn = conns
            .get(&pair(d.src, d.dst))
            .and_then(|s| s.iter().nth(d.nth).copied());
        let found = conn.and_then(|c| {
            run.written.iter().position(|w| {
                let l = &w.line;
                l.connection == c && (l.src, l.sport) == d.src && (l.dst, l.dport) == d.dst
            })
        });
        if let Some(i) = found {
            used[i] = true;
        }
        let w = found.map(|i| &run.written[i]);
        let cmp = corpus
            .compare
            .get(&(pcap.to_string(), d.src, d.dst, d.stream))
            .cloned()
            .unwrap_or_default();
        let file = w
            .map(|w| w.line.file.clone())
            .unwrap_or_else(|| tcpflow_name(d.src, d.dst, d.nth));
        let mut note = String::new();

        let vs_tshark = match w {
            _ if d.bytes == 0 && d.gaps == 0 => {
                if !matches!(w, Some(w) if w.line.bytes > 0) {
                    "equal_empty"
                } else {
                    note.push_str("flowsplit has bytes where tshark has none; ");
                    "differs"
                }
            }
            None => "missing",
            Some(w) => {
                if d.gaps == 0 {
                    if w.line.bytes == d.bytes && w.sha256 == d.sha256 {
                        "equal"
                    } else {
                        "differs"
                    }
                } else if let Some(zf) = &d.sha256_zero_filled {
                    if w.line.bytes == d.bytes + d.gap_bytes && &w.sha256 == zf {
                        "equal"
                    } else {
                        "differs"
                    }
                } else if w.sha256_without_gaps == d.sha256
                    && w.line.gap_bytes + w.jump_bytes() == d.gap_bytes
                {
                    // Holes longer than -m are jumps, not in the file: the
                    // missing bytes are the gaps' and the jumps' together.
                    note.push_str("compared without gaps (tshark could not zero-fill); ");
                    if !w.line.jumps.is_empty() {
                        let _ = write!(note, "{} jumps not filled; ", w.line.jumps.len());
                    }
                    "equal"
                } else {
                    "differs"
                }
            }
        };
        if vs_tshark == "differs" {
            if let Some(w) = w {
                let _ = write!(
                    note,
                    "flowsplit {}B gaps {}/{}B, tshark {}B gaps {}/{}B; ",
                    w.line.bytes,
                    w.line.gaps.len(),
                    w.line.gap_bytes,
                    d.bytes,
                    d.gaps,
                    d.gap_bytes
                );
                if w.sha256_without_gaps == d.sha256 {
                    note.push_str("same captured bytes, gaps laid out differently; ");
                }
            }
        }
        if let Some(w) = w {
            if w.line.dropped_before_start > 0 {
                let _ = write!(
                    note,
                    "{}B dropped before a mid-stream start; ",
                    w.line.dropped_before_start
                );
            }
        }

        // tcpflow: the file of the same name, or the one COMPARE_tcp.tsv maps
        // this tshark direction to (tcpflow names VLANs by the whole tag).
        let mut tf_name = file.clone();
        if !tcpflow.contains_key(&tf_name) && tcpflow.contains_key(&cmp.tcpflow_file) {
            tf_name = cmp.tcpflow_file.clone();
            let _ = write!(note, "tcpflow names it {tf_name}; ");
        }
        let tf = tcpflow.get(&tf_name);
        if tf.is_some() {
            tcpflow_used.insert(tf_name.clone());
        }
        let fs_bytes = w.map(|w| w.line.bytes).unwrap_or(0);
        let vs_tcpflow = match (w, tf) {
            (None, None) => "both_absent",
            (Some(w), None) if w.line.bytes == 0 => "both_absent",
            (Some(w), Some(t)) if w.line.bytes == t.size && w.sha256 == t.sha256 => "equal",
            _ => {
                let fault = (vs_tshark == "equal" || vs_tshark == "equal_empty")
                    .then(|| tcpflow_fault(&cmp, features, tf.map(|t| t.size)))
                    .flatten();
                match fault {
                    Some(why) => {
                        let _ = write!(note, "{why}; ");
                        "explained"
                    }
                    None => {
                        let _ = write!(
                            note,
                            "tcpflow {}B vs flowsplit {fs_bytes}B (corpus: {} {}); ",
                            tf.map(|t| t.size.to_string()).unwrap_or("-".into()),
                            cmp.verdict,
                            cmp.detail
                        );
                        "differs"
                    }
                }
            }
        };
        rows.push(Verdict {
            pcap: pcap.to_string(),
            file,
            tshark_stream: format!("{} {}", d.stream, d.dir),
            tshark_bytes: d.bytes.to_string(),
            flowsplit_bytes: w.map(|w| w.line.bytes.to_string()).unwrap_or("-".into()),
            tcpflow_file: tf.map(|_| tf_name.clone()).unwrap_or_default(),
            tcpflow_bytes: tf.map(|t| t.size.to_string()).unwrap_or("-".into()),
            vs_tshark,
            vs_tcpflow,
            note: note.trim_end_matches("; ").to_string(),
        });
    }

    // Directions flowsplit wrote that tshark does not have.
    for (i, w) in run.written.iter().enumerate() {
        if used[i] {
            continue;
        }
        let l = &w.line;
        let tf = tcpflow.get(&l.file);
        if tf.is_some() {
            tcpflow_used.insert(l.file.clone());
        }
        let vs_tcpflow = match tf {
            None if l.bytes == 0 => "both_absent",
            Some(t) if t.size == l.bytes && t.sha256 == w.sha256 => "equal",
            _ => "differs",
        };
        rows.push(Verdict {
            pcap: pcap.to_string(),
            file: l.file.clone(),
            tshark_stream: String::new(),
            tshark_bytes: "-".into(),
            flowsplit_bytes: l.bytes.to_string(),
            tcpflow_file: tf.map(|_| l.file.clone()).unwrap_or_default(),
            tcpflow_bytes: tf.map(|t| t.size.to_string()).unwrap_or("-".into()),
            vs_tshark: if l.bytes == 0 { "n/a" } else { "extra" },
            vs_tcpflow,
            note: format!("no tshark direction on connection {}", l.connection),
        });
    }

    // Files only tcpflow wrote.
    for (name, t) in tcpflow {
        if tcpflow_used.contains(name) {
            continue;
        }
        let cmp = corpus
            .compare_by_file
            .get(&(pcap.to_string(), name.clone()))
            .cloned()
            .unwrap_or_default();
        let fault = tcpflow_fault(&cmp, features, Some(t.size));
        rows.push(Verdict {
            pcap: pcap.to_string(),
            file: name.clone(),
            tshark_stream: String::new(),
            tshark_bytes: "-".into(),
            flowsplit_bytes: "-".into(),
            tcpflow_file: name.clone(),
            tcpflow_bytes: t.size.to_string(),
            vs_tshark: "n/a",
            vs_tcpflow: if fault.is_some() {
                "explained"
            } else {
                "differs"
            },
            note: fault.unwrap_or_else(|| {
                format!(
                    "only tcpflow wrote it (corpus: {} {})",
                    cmp.verdict, cmp.detail
                )
            }),
        });
    }
    rows
}

// ---------------------------------------------------------------------------

#[test]
fn corpus_directions_match_tshark_and_tcpflow() {
    let corpus = load_corpus();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Run, Vec<Verdict>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((pcap, features)) = corpus.captures.get(i) else {
                    break;
                };
                let run = run_flowsplit(&corpus.dir.join(pcap));
                let rows = judge(&corpus, pcap, features, &run);
                results.lock().unwrap().push((i, run, rows));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);

    // The verdict table.
    let mut tsv = String::from(
        "pcap\tfile\ttshark_stream\ttshark_bytes\tflowsplit_bytes\ttcpflow_file\ttcpflow_bytes\tvs_tshark\tvs_tcpflow\tknown\tnote\n",
    );
    let known: BTreeMap<(&str, &str), &str> = KNOWN.iter().map(|k| ((k.0, k.1), k.2)).collect();
    let tcpflow_known: BTreeMap<(&str, &str), &str> =
        TCPFLOW_KNOWN.iter().map(|k| ((k.0, k.1), k.2)).collect();
    let mut tcpflow_known_used: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut problems = Vec::new();
    let mut tshark_total = 0;
    let mut tshark_equal = 0;
    let mut tcpflow_total = 0;
    let mut tcpflow_equal = 0;
    let mut tcpflow_explained = 0;
    let mut mismatched: BTreeSet<(String, String)> = BTreeSet::new();
    let mut tcpflow_unexplained = Vec::new();
    for (i, run, rows) in &results {
        let pcap = &corpus.captures[*i].0;
        for p in &run.problems {
            problems.push(format!("{pcap}: {p}"));
        }
        for r in rows {
            let key = (r.pcap.as_str(), r.file.as_str());
            let k = known.get(&key);
            let mut r = r.clone();
            if !r.tcpflow_ok() {
                if let Some((&key, why)) = tcpflow_known.get_key_value(&key) {
                    tcpflow_known_used.insert(key);
                    r.vs_tcpflow = "explained";
                    r.note = format!("{why}; {}", r.note);
                } else if let Some(why) = k {
                    r.vs_tcpflow = "explained";
                    r.note = format!("as for tshark: {why}; {}", r.note);
                } else {
                    tcpflow_unexplained.push(format!("{}  {}  {}", r.pcap, r.file, r.note));
                }
            }
            let _ = writeln!(
                tsv,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.pcap,
                r.file,
                r.tshark_stream,
                r.tshark_bytes,
                r.flowsplit_bytes,
                r.tcpflow_file,
                r.tcpflow_bytes,
                r.vs_tshark,
                r.vs_tcpflow,
                k.copied().unwrap_or(""),
                r.note
            );
            if r.vs_tshark != "n/a" && r.vs_tshark != "extra" {
                tshark_total += 1;
                tshark_equal += usize::from(r.tshark_ok());
            }
            if !r.tshark_ok() {
                mismatched.insert((r.pcap.clone(), r.file.clone()));
            }
            tcpflow_total += 1;
            tcpflow_equal += usize::from(matches!(r.vs_tcpflow, "equal" | "both_absent"));
            tcpflow_explained += usize::from(r.vs_tcpflow == "explained");
        }
    }
    let target = Path::new(env!("CARGO_BIN_EXE_flowsplit"))
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    let report_path = target.join("corpus_tcp_report.tsv");
    std::fs::write(&report_path, &tsv).expect("write the verdict table");

    let expected: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|k| (k.0.to_string(), k.1.to_string()))
        .collect();
    let unexpected: Vec<_> = mismatched.difference(&expected).collect();
    let stale: Vec<_> = expected.difference(&mismatched).collect();

    let secs: f64 = results.iter().map(|r| r.1.seconds).sum();
    println!(
        "corpus_tcp: {} captures ({workers} workers, {secs:.1}s of flowsplit), verdicts in {}",
        results.len(),
        report_path.display()
    );
    println!("  {tshark_equal} of {tshark_total} tshark directions equal");
    println!(
        "  {tcpflow_equal} of {tcpflow_total} directions equal to tcpflow, {tcpflow_explained} differ for a known tcpflow fault, {} unexplained",
        tcpflow_unexplained.len()
    );
    println!(
        "  {} differ from tshark ({} expected in KNOWN)",
        mismatched.len(),
        KNOWN.len()
    );
    for (i, run, _) in &results {
        if run.exit == Some(1) {
            println!(
                "  exit 1 on {}: {}",
                corpus.captures[*i].0,
                run.stderr.trim()
            );
        }
    }
    let mut msg = String::new();
    if !problems.is_empty() {
        let _ = writeln!(msg, "flowsplit failed or wrote inconsistent output:");
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
    }
    if !unexpected.is_empty() {
        let _ = writeln!(
            msg,
            "directions that differ from tshark and are not in KNOWN:"
        );
        for (p, f) in &unexpected {
            let r = results
                .iter()
                .flat_map(|r| r.2.iter())
                .find(|r| &r.pcap == p && &r.file == f)
                .expect("row");
            let _ = writeln!(msg, "  {p}  {f}  {}: {}", r.vs_tshark, r.note);
        }
    }
    if !stale.is_empty() {
        let _ = writeln!(msg, "KNOWN entries that now match tshark (remove them):");
        for (p, f) in &stale {
            let _ = writeln!(msg, "  {p}  {f}");
        }
    }
    let tcpflow_stale: Vec<_> = TCPFLOW_KNOWN
        .iter()
        .filter(|k| !tcpflow_known_used.contains(&(k.0, k.1)))
        .collect();
    if !tcpflow_stale.is_empty() {
        let _ = writeln!(
            msg,
            "TCPFLOW_KNOWN entries that now match tcpflow (remove them):"
        );
        for k in &tcpflow_stale {
            let _ = writeln!(msg, "  {}  {}", k.0, k.1);
        }
    }
    if !tcpflow_unexplained.is_empty() {
        let _ = writeln!(
            msg,
            "directions that differ from tcpflow for no known tcpflow fault:"
        );
        for l in &tcpflow_unexplained {
            let _ = writeln!(msg, "  {l}");
        }
    }
    assert!(msg.is_empty(), "{msg}");
}
