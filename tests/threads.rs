//! Output does not depend on the number of worker threads (issue 5): the
//! same captures split with `-j 1`, `-j 2` and `-j 3` give byte-identical
//! output folders — every flow file, the report (line order included) and,
//! with `-e http`, every body file and the HTTP index.
//!
//! The captures: every capture in `testdata/`, the shared corpus (when it is
//! next to the clone), and a generated capture of interleaved connections
//! with reordering, retransmissions, an idle timeout that closes connections
//! mid-capture, and a tight out-of-order budget so that holes are given up
//! while other connections are open.

mod common;

use flowsplit_synth::bench::{self, BenchParams, Shape};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file under `dir` (relative name → bytes).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk the output folder"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).expect("below dir").to_path_buf();
            (rel, std::fs::read(e.path()).expect("read an output file"))
        })
        .collect()
}

/// Run flowsplit with `-j threads` and `args`, into a fresh folder under `tmp`.
fn split(tmp: &Path, label: &str, threads: u32, args: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    let out = tmp.join(format!("{label}-j{threads}"));
    let status = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["-q", "-j", &threads.to_string(), "-o"])
        .arg(&out)
        .args(args)
        .status()
        .expect("run flowsplit");
    // Exit code 1 is fine (some captures hold an unsupported link type or are
    // cut short on purpose); the point is that it is the same for every -j.
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "{label} -j {threads}: {status}"
    );
    let mut files = snapshot(&out);
    // The DFXML report names files by the output folder, which differs by -j.
    if let Some(xml) = files.get_mut(Path::new("report.xml")) {
        let text = String::from_utf8(std::mem::take(xml)).expect("UTF-8 XML");
        *xml = text.replace(&out.display().to_string(), "OUT").into_bytes();
    }
    files
}

/// Assert the output of `args` is identical for 1, 2 and 3 threads; returns
/// the `-j 1` output.
fn assert_same_for_every_j(tmp: &Path, label: &str, args: &[&str]) -> BTreeMap<PathBuf, Vec<u8>> {
    let one = split(tmp, label, 1, args);
    for threads in [2, 3] {
        let other = split(tmp, label, threads, args);
        let names_one: Vec<&PathBuf> = one.keys().collect();
        let names_other: Vec<&PathBuf> = other.keys().collect();
        assert_eq!(
            names_one, names_other,
            "{label}: files differ with -j {threads}"
        );
        for (name, bytes) in &one {
            assert!(
                other[name] == *bytes,
                "{label}: {} differs between -j 1 and -j {threads}",
                name.display()
            );
        }
    }
    one
}

#[test]
fn testdata_captures_split_the_same_with_every_thread_count() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&testdata)
        .expect("testdata/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    captures.sort();
    assert!(
        captures.len() > 40,
        "testdata/ holds the generated captures"
    );
    let mut files = 0;
    for (i, pcap) in captures.iter().enumerate() {
        let label = format!("t{i}");
        let path = pcap.to_str().expect("utf-8 path");
        files += assert_same_for_every_j(tmp.path(), &label, &["-e", "http", "-r", path]).len();
    }
    assert!(files > 100, "only {files} output files compared");
}

#[test]
fn corpus_captures_split_the_same_with_every_thread_count() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        corpus.is_dir(),
        "{} is missing: the shared corpus must sit next to the clone",
        corpus.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut files = 0;
    let mut captures: Vec<PathBuf> = walkdir::WalkDir::new(&corpus)
        .into_iter()
        .map(|e| e.expect("walk the corpus"))
        .map(|e| e.path().to_path_buf())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
        })
        .collect();
    captures.sort();
    for (i, pcap) in captures.iter().enumerate() {
        let label = format!("c{i}");
        let path = pcap.to_str().expect("utf-8 path");
        files += assert_same_for_every_j(tmp.path(), &label, &["-e", "http", "-r", path]).len();
    }
    assert!(files > 500, "only {files} output files compared");
}

#[test]
fn interleaved_connections_with_timeouts_and_budget_pressure_split_the_same() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let params = BenchParams {
        concurrency: 60,
        reorder_rate: 0.05,
        retransmit_rate: 0.03,
        // 2 ms between frames: the capture spans several seconds, so the
        // idle timeout and the linger after FIN close connections mid-run.
        frame_gap_nanos: 2_000_000,
        ..BenchParams::shape(Shape::Small).with_connections(400)
    };
    let pcap = tmp.path().join("interleaved.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&pcap).expect("create"));
    bench::generate(&params, file, std::io::sink()).expect("generate");
    let path = pcap.to_str().expect("utf-8 path");
    let out = assert_same_for_every_j(
        tmp.path(),
        "interleaved",
        &[
            "--timeout",
            "1",
            "--max-pending",
            "2000",
            "--max-pending-total",
            "16000",
            "-r",
            path,
        ],
    );
    assert!(out.len() > 700, "only {} output files compared", out.len());
    // The run really was under pressure: some directions ended by the idle
    // timeout and some holes were given up as gaps while others were open.
    let report = String::from_utf8(out[Path::new("report.jsonl")].clone()).expect("utf-8");
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let timeouts = lines.iter().filter(|l| l["end"] == "timeout").count();
    let gapped = lines
        .iter()
        .filter(|l| l["gap_bytes"].as_u64() > Some(0))
        .count();
    assert!(timeouts > 0, "no direction ended by timeout");
    assert!(gapped > 0, "no hole was given up");
}

/// Frames of `conns` connections, each written whole in turn but with
/// start times that go back and forth (0, 1, 2, 0, 1, 2, ... seconds), then
/// one connection sending a byte a second for eight seconds so that the
/// finished ones' linger runs out mid-capture.
fn finishing_out_of_time_order(conns: u16) -> Vec<(flowsplit_synth::Timestamp, Vec<u8>)> {
    use flowsplit_synth::{Link, Side, TcpConversation, Timestamp};
    let mut frames = Vec::new();
    for i in 0..conns {
        let start = Timestamp::new(1_700_000_000 + i64::from(i % 3), u32::from(i) * 1_000_000);
        let mut c = TcpConversation::new(
            Link::ethernet(),
            format!("10.0.0.1:{}", 40_000 + i).parse().unwrap(),
            format!("10.0.1.{}:80", 1 + i % 7).parse().unwrap(),
            start,
        );
        c.handshake(&mut frames).unwrap();
        c.send(Side::Client, format!("request {i}").as_bytes(), &mut frames)
            .unwrap();
        c.send(
            Side::Server,
            format!("response {i}").as_bytes(),
            &mut frames,
        )
        .unwrap();
        c.close(&mut frames).unwrap();
    }
    let mut clock = TcpConversation::new(
        Link::ethernet(),
        "10.0.9.9:50000".parse().unwrap(),
        "10.0.9.8:80".parse().unwrap(),
        Timestamp::new(1_700_000_003, 0),
    );
    clock.handshake(&mut frames).unwrap();
    for second in 3..11 {
        let at = frames.len();
        clock.send(Side::Client, b"t", &mut frames).unwrap();
        for f in &mut frames[at..] {
            f.0 = Timestamp::new(1_700_000_000 + second, 500_000_000);
        }
    }
    clock.close(&mut frames).unwrap();
    frames
}

#[test]
fn connections_finishing_out_of_time_order_close_at_the_same_packet_for_every_j() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_capture_dir, pcap) = common::write_frames(&finishing_out_of_time_order(24));
    let out = assert_same_for_every_j(
        tmp.path(),
        "out-of-time-order",
        &["-r", pcap.to_str().expect("utf-8 path")],
    );
    // Every connection is in the report, each closed by its FINs.
    let report = String::from_utf8(out[Path::new("report.jsonl")].clone()).expect("utf-8");
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    // 24 connections both ways, and the clock's client (its server sends
    // nothing, and a direction without bytes has no line).
    assert_eq!(lines.len(), 49);
    assert!(lines.iter().all(|l| l["end"] == "fin"), "{report}");
}
