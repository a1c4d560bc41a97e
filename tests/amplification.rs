//! The run's amplification bound (issue 26): a small capture must not make
//! flowsplit write or hash without bound. Each case builds a crafted
//! capture with `flowsplit_synth`, runs the `flowsplit` binary on it, and
//! asserts the exact flow files, the holes listed in the report, the
//! summary's account of the bound, the bytes written and the run time.
//!
//! The crafted captures are the issue's: one connection whose data
//! segments each lie 16,000,000 bytes after the one before (every hole
//! just under `-m`, 16 MiB, so each would be zero-filled), with 2,000 and
//! 8,000 segments; and 10,000 connections of one such far segment each.

mod common;

use common::{flowsplit, parse_report};
use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use serde_json::Value;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How far each crafted segment lies after the one before.
const STEP: u64 = 16_000_000;

/// Payload of each crafted segment.
const PAYLOAD: &[u8] = b"segment!";

/// The default bound: `--max-amplification` and `--amplification-base`.
const RATIO: u64 = 16;
const BASE: u64 = 16 << 20;

/// The issue's ceiling on everything a crafted capture makes flowsplit write.
const CEILING: u64 = 64 << 20;

/// Longest a crafted capture may take ("in seconds"), with room for a
/// machine shared with other builds.
const SLOW: Duration = Duration::from_secs(20);

/// When connection `i` begins: 4 ms (its four packets) after the one before.
fn start(i: u32) -> Timestamp {
    let ms = i64::from(i) * 4;
    Timestamp::new(1_700_000_000 + ms / 1000, (ms % 1000) as u32 * 1_000_000)
}

/// Client `10.1.x.y:port` of connection `i` to 10.0.0.2:80.
fn client(i: u32) -> SocketAddr {
    let ip = Ipv4Addr::from(0x0a01_0000 + i / 60_000);
    SocketAddr::new(ip.into(), 1024 + (i % 60_000) as u16)
}

fn conversation(i: u32) -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        client(i),
        "10.0.0.2:80".parse().unwrap(),
        start(i),
    )
}

/// Write a pcap at `path` from what `build` sends; returns its size.
fn capture(path: &Path, build: impl FnOnce(&mut PcapWriter<Vec<u8>>)) -> u64 {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap();
    build(&mut w);
    let bytes = w.into_inner();
    std::fs::write(path, &bytes).unwrap();
    bytes.len() as u64
}

/// One connection: a handshake, then `segments` client segments of
/// [`PAYLOAD`], the `k`-th at stream offset `k x step`.
fn far_segments(path: &Path, segments: u64, step: u64) -> u64 {
    capture(path, |w| {
        let mut c = conversation(0);
        c.handshake(&mut *w).unwrap();
        for k in 0..segments {
            c.send_at(Side::Client, k * step, PAYLOAD, &mut *w).unwrap();
        }
    })
}

/// `conns` connections, each a handshake then one client segment of
/// [`PAYLOAD`] at stream offset [`STEP`].
fn far_connections(path: &Path, conns: u32) -> u64 {
    capture(path, |w| {
        for i in 0..conns {
            let mut c = conversation(i);
            c.handshake(&mut *w).unwrap();
            c.send_at(Side::Client, STEP, PAYLOAD, &mut *w).unwrap();
        }
    })
}

/// The plain capture to compare run times with: one connection sending
/// `segments` segments of [`PAYLOAD`] in order, no hole.
fn plain(path: &Path, segments: u64) -> u64 {
    capture(path, |w| {
        let mut c = conversation(0);
        c.handshake(&mut *w).unwrap();
        for _ in 0..segments {
            c.send(Side::Client, PAYLOAD, &mut *w).unwrap();
        }
    })
}

/// What a run of the binary left.
struct Run {
    _dir: tempfile::TempDir,
    out: PathBuf,
    took: Duration,
    report: Vec<Value>,
    summary: Value,
}

impl Run {
    /// Bytes of every file in the output folder (flow files, report and
    /// summary), as their sizes say (a sparse file counts in full).
    fn written(&self) -> u64 {
        std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out.join(name)).unwrap()
    }

    /// The run's bound, as the summary states it: `ratio x B + base`
    /// with `B` the bytes it was counted on, at most the packets' captured
    /// bytes, which are fewer than the capture file's `size`.
    fn limit(&self, size: u64) -> u64 {
        let bytes = self.summary["bytes"].as_u64().unwrap();
        let credited = self.amplification("credited");
        assert!(credited <= bytes && bytes < size, "{}", self.summary);
        let limit = self.amplification("limit");
        assert_eq!(limit, RATIO * credited + BASE);
        limit
    }

    fn amplification(&self, key: &str) -> u64 {
        self.summary["amplification"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("amplification.{key} in {}", self.summary))
    }
}

/// Run `flowsplit -r capture -o OUT args...`, which must succeed.
fn run(capture: &Path, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut argv: Vec<&OsStr> = vec![
        OsStr::new("-q"),
        OsStr::new("-r"),
        capture.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    argv.extend(args.iter().map(OsStr::new));
    let began = Instant::now();
    let o = flowsplit(&argv);
    let took = began.elapsed();
    assert!(
        o.status.success(),
        "{:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let report = parse_report(&out.join("report.jsonl"));
    let text = std::fs::read(out.join("report.summary.json")).unwrap();
    let summary = serde_json::from_slice(&text).unwrap();
    Run {
        _dir: dir,
        out,
        took,
        report,
        summary,
    }
}

fn pairs(v: &Value) -> Vec<(u64, u64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| (p[0].as_u64().unwrap(), p[1].as_u64().unwrap()))
        .collect()
}

/// Client-to-server file name of connection `i`.
fn cs(i: u32) -> String {
    let c = client(i);
    let ip = match c.ip() {
        std::net::IpAddr::V4(ip) => ip.octets(),
        std::net::IpAddr::V6(_) => unreachable!(),
    };
    format!(
        "{:03}.{:03}.{:03}.{:03}.{:05}-010.000.000.002.00080",
        ip[0],
        ip[1],
        ip[2],
        ip[3],
        c.port()
    )
}

fn line<'a>(run: &'a Run, file: &str) -> &'a Value {
    run.report
        .iter()
        .find(|l| l["file"] == file)
        .unwrap_or_else(|| panic!("no report line for {file}"))
}

/// The checks every crafted capture of one far-jumping connection gets
/// under the default bound: every hole is a jump listed as one the bound
/// made, the file holds the payloads and nothing else, the summary's
/// account agrees, and little is written, fast.
fn check_far_segments(segments: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("far.pcap");
    let size = far_segments(&path, segments, STEP);
    let run = run(&path, &[]);

    let holes = segments - 1;
    let hole = STEP - PAYLOAD.len() as u64;
    let name = cs(0);
    assert_eq!(run.file(&name), PAYLOAD.repeat(segments as usize));
    let l = line(&run, &name);
    assert_eq!(l["gap_bytes"], 0);
    assert!(pairs(&l["gaps"]).is_empty());
    let expected: Vec<(u64, u64)> = (1..=holes).map(|k| (k * 8, hole)).collect();
    assert_eq!(
        pairs(&l["jumps"]),
        expected,
        "every hole listed, not filled"
    );
    assert_eq!(pairs(&l["bound_jumps"]), expected, "each one for the bound");

    assert_eq!(run.amplification("ratio"), RATIO);
    assert_eq!(run.amplification("base"), BASE);
    let limit = run.limit(size);
    assert_eq!(run.amplification("filled"), 0);
    assert_eq!(run.amplification("bound_jumps"), holes);
    assert_eq!(run.amplification("bound_jump_bytes"), holes * hole);

    let written = run.written();
    assert!(written < limit, "{written} written, bound {limit}");
    assert!(written < CEILING, "{written} written");
    assert!(run.took < SLOW, "{:?}", run.took);
    eprintln!(
        "{segments} segments 16,000,000 bytes apart: capture {size} bytes, \
         {written} bytes written, {:?}",
        run.took
    );
}

#[test]
fn two_thousand_segments_sixteen_million_apart_are_jumps_within_the_bound() {
    check_far_segments(2_000);
}

#[test]
fn eight_thousand_segments_sixteen_million_apart_are_jumps_within_the_bound() {
    check_far_segments(8_000);
}

#[test]
fn ten_thousand_connections_of_one_far_segment_stay_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("far-conns.pcap");
    let conns = 10_000;
    let size = far_connections(&path, conns);
    let run = run(&path, &[]);

    let hole = STEP;
    for i in [0, 1, 4_999, conns - 1] {
        let name = cs(i);
        assert_eq!(run.file(&name), PAYLOAD, "{name}");
        let l = line(&run, &name);
        assert_eq!(pairs(&l["jumps"]), [(0, hole)], "{name}");
        assert_eq!(pairs(&l["bound_jumps"]), [(0, hole)], "{name}");
    }
    let listed: usize = run
        .report
        .iter()
        .map(|l| l.get("bound_jumps").map_or(0, |j| pairs(j).len()))
        .sum();
    assert_eq!(listed, conns as usize, "every hole listed");
    let limit = run.limit(size);
    assert_eq!(run.amplification("filled"), 0);
    assert_eq!(run.amplification("bound_jumps"), u64::from(conns));
    let written = run.written();
    assert!(written < limit, "{written} written, bound {limit}");
    assert!(written < CEILING, "{written} written");
    assert!(run.took < SLOW, "{:?}", run.took);
    eprintln!(
        "10,000 connections of one far segment: capture {size} bytes, \
         {written} bytes written, {:?}",
        run.took
    );
}

#[test]
fn within_the_bound_holes_are_filled_in_stream_order_and_the_rest_are_jumps() {
    // Ten segments 1,000,000 bytes apart; a base of 16 x 3,000,000 (each of
    // the 16 budget shards gets a sixteenth) and no ratio: exactly three
    // holes of 999,992 fit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ten.pcap");
    far_segments(&path, 10, 1_000_000);
    let base = (16 * 3_000_000).to_string();
    let run = run(
        &path,
        &["--max-amplification", "0", "--amplification-base", &base],
    );
    let hole = 1_000_000 - PAYLOAD.len() as u64;
    let mut expected = Vec::new();
    for k in 0..10 {
        expected.extend_from_slice(PAYLOAD);
        if (1..=3).contains(&(k + 1)) {
            expected.extend(std::iter::repeat_n(0u8, hole as usize));
        }
    }
    let name = cs(0);
    assert_eq!(run.file(&name), expected);
    let l = line(&run, &name);
    let gaps: Vec<(u64, u64)> = (0..3).map(|k| (8 + k * 1_000_000, hole)).collect();
    assert_eq!(pairs(&l["gaps"]), gaps);
    // After the three filled holes, the file goes on at 3,000,000 + 8k.
    let jumps: Vec<(u64, u64)> = (1..=6).map(|k| (3_000_000 + 8 * k, hole)).collect();
    assert_eq!(pairs(&l["jumps"]), jumps);
    assert_eq!(pairs(&l["bound_jumps"]), jumps);
    assert_eq!(run.amplification("filled"), 3 * hole);
    assert_eq!(run.amplification("bound_jumps"), 6);
    assert_eq!(run.amplification("limit"), 48_000_000);
}

#[test]
fn a_direction_within_the_bound_has_no_bound_jumps_in_its_report_line() {
    // Two holes of 1,000 bytes are far inside the default bound.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.pcap");
    far_segments(&path, 3, 1_008);
    let run = run(&path, &[]);
    let l = line(&run, &cs(0));
    assert_eq!(pairs(&l["gaps"]), [(8, 1_000), (1_016, 1_000)]);
    assert!(l.get("bound_jumps").is_none(), "{l}");
    assert_eq!(run.amplification("filled"), 2_000);
    assert_eq!(run.amplification("bound_jumps"), 0);
}

#[test]
fn the_holes_filled_are_the_same_for_every_number_of_workers() {
    // 600 connections with one hole of 100,000 bytes each against a base
    // of 16 x 1,000,000 and no ratio: some of each shard's holes are
    // filled, the rest are jumps, and which ones must not depend on -j.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.pcap");
    capture(&path, |w| {
        for i in 0..600 {
            let mut c = conversation(i);
            c.handshake(&mut *w).unwrap();
            c.send_at(Side::Client, 100_000, PAYLOAD, &mut *w).unwrap();
        }
    });
    let args = |j: &'static str| {
        [
            "-j",
            j,
            "--max-amplification",
            "0",
            "--amplification-base",
            "16000000",
        ]
    };
    let one = run(&path, &args("1"));
    let four = run(&path, &args("4"));
    assert_eq!(one.report, four.report);
    let filled = one.amplification("filled");
    assert_eq!(filled, four.amplification("filled"));
    assert_eq!(filled % 100_000, 0);
    assert!(filled > 0 && filled <= 16_000_000, "{filled}");
    assert!(one.amplification("bound_jumps") > 0);
}

#[test]
fn crafted_captures_take_about_as_long_as_plain_ones_of_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let crafted = dir.path().join("far.pcap");
    let flat = dir.path().join("plain.pcap");
    let crafted_size = far_segments(&crafted, 8_000, STEP);
    let flat_size = plain(&flat, 8_000);
    assert_eq!(crafted_size, flat_size, "the same packets, other offsets");
    let a = run(&crafted, &[]);
    let b = run(&flat, &[]);
    assert_eq!(
        b.file(&cs(0)),
        a.file(&cs(0)),
        "the same bytes, holes left out"
    );
    eprintln!(
        "8,000 segments: crafted {:?}, plain {:?} ({crafted_size} bytes each)",
        a.took, b.took
    );
    assert!(
        a.took < b.took * 10 + Duration::from_secs(2),
        "crafted {:?}, plain {:?}",
        a.took,
        b.took
    );
}

#[test]
fn ten_thousand_far_connections_take_about_as_long_as_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let crafted = dir.path().join("far-conns.pcap");
    let flat = dir.path().join("plain-conns.pcap");
    let conns = 10_000;
    let crafted_size = far_connections(&crafted, conns);
    let flat_size = capture(&flat, |w| {
        for i in 0..conns {
            let mut c = conversation(i);
            c.handshake(&mut *w).unwrap();
            c.send(Side::Client, PAYLOAD, &mut *w).unwrap();
        }
    });
    assert_eq!(crafted_size, flat_size, "the same packets, other offsets");
    let a = run(&crafted, &[]);
    let b = run(&flat, &[]);
    assert_eq!(b.file(&cs(9_999)), a.file(&cs(9_999)), "holes left out");
    eprintln!(
        "10,000 connections: crafted {:?}, plain {:?} ({crafted_size} bytes each)",
        a.took, b.took
    );
    assert!(
        a.took < b.took * 10 + Duration::from_secs(2),
        "crafted {:?}, plain {:?}",
        a.took,
        b.took
    );
}

/// Every capture of the shared corpus and of `testdata/` (top level).
fn real_captures() -> Vec<PathBuf> {
    let mut all = common::corpus_captures();
    let mut own: Vec<PathBuf> = std::fs::read_dir(common::testdata(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    own.sort();
    all.extend(own);
    all
}

#[test]
fn real_captures_keep_every_zero_filled_offset_under_the_default_bound() {
    // The default bound against none at all (every hole up to -m filled,
    // as before the bound existed): the same flow files, byte for byte,
    // and the same report, on every real capture.
    let mut filled_most = (0, String::new());
    let mut holes = 0;
    for path in real_captures() {
        let bounded = common::run_with(std::slice::from_ref(&path), |_| {});
        let free = common::run_with(std::slice::from_ref(&path), |c| {
            c.fill_bound = flowsplit::flow::fill::FillBound::unbounded();
        });
        let name = path.display().to_string();
        assert_eq!(bounded.result, free.result, "{name}");
        assert_eq!(bounded.files, free.files, "{name}: flow files");
        assert_eq!(bounded.report, free.report, "{name}: report");
        for l in &bounded.report {
            assert!(l.get("bound_jumps").is_none(), "{name}: {l}");
            let gaps = l["gap_bytes"].as_u64().unwrap();
            holes += pairs(&l["gaps"]).len();
            if gaps > filled_most.0 {
                filled_most = (gaps, format!("{name} {}", l["file"]));
            }
        }
    }
    assert!(holes > 0, "the captures have zero-filled holes to keep");
    eprintln!("{holes} holes kept; most filled in one direction: {filled_most:?}");
}

/// A capture of one `GET /big.bin` answered by a `206` carrying bytes
/// 0-9 of a resource whose `Content-Range` claims `total` bytes.
fn claimed_range(path: &Path, total: u64) -> u64 {
    capture(path, |w| {
        let mut c = conversation(0);
        c.handshake(&mut *w).unwrap();
        let req = b"GET /big.bin HTTP/1.1\r\nHost: example.com\r\nRange: bytes=0-9\r\n\r\n";
        c.send(Side::Client, req, &mut *w).unwrap();
        let resp = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/{total}\r\n\
             ETag: \"v1\"\r\nContent-Length: 10\r\n\r\n0123456789"
        );
        c.send(Side::Server, resp.as_bytes(), &mut *w).unwrap();
        c.close(&mut *w).unwrap();
    })
}

/// The range object's record in `run`'s HTTP index.
fn object(run: &Run) -> Value {
    let text = std::fs::read_to_string(run.out.join("http.jsonl")).unwrap();
    let objects: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("object").cloned())
        .collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    objects[0].clone()
}

#[test]
fn a_range_object_sized_by_a_claimed_total_is_cut_at_the_bound_and_marked() {
    // 900,000,000 bytes claimed (under --max-decoded's 1 GiB) for 10 sent:
    // the object's hole does not fit in what the bound left.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("range.pcap");
    let size = claimed_range(&path, 900_000_000);
    let run = run(&path, &["-e", "http"]);
    let o = object(&run);
    assert_eq!(run.file(o["file"].as_str().unwrap()), b"0123456789");
    assert_eq!(o["size"], 10);
    assert_eq!(o["length"], 900_000_000);
    assert_eq!(o["complete"], false);
    let notes = o["notes"].to_string();
    assert!(notes.contains("amplification bound reached"), "{notes}");
    assert_eq!(run.amplification("objects_cut"), 1);
    assert_eq!(run.amplification("object_filled"), 0);
    let written = run.written();
    assert!(written < run.limit(size), "{written}");
    assert!(written < CEILING, "{written}");
}

#[test]
fn a_range_object_within_the_bound_keeps_its_zero_filled_hole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("range.pcap");
    claimed_range(&path, 1_000);
    let run = run(&path, &["-e", "http"]);
    let o = object(&run);
    let mut expected = b"0123456789".to_vec();
    expected.resize(1_000, 0);
    assert_eq!(run.file(o["file"].as_str().unwrap()), expected);
    assert_eq!(o["size"], 1_000);
    assert!(
        o.get("notes")
            .is_none_or(|n| !n.to_string().contains("amplification")),
        "{o}"
    );
    assert_eq!(run.amplification("objects_cut"), 0);
    assert_eq!(run.amplification("object_filled"), 990);
}

#[test]
fn real_captures_carve_the_same_http_under_the_default_bound_but_cut_claimed_objects() {
    // -e http on every corpus capture, with the default bound and with
    // none: the same files and index, except range objects whose claimed
    // length the bound has no room for. Those are the unbounded object's
    // first bytes, up to the last byte a part covers (every part at its
    // offset), and their index line says why.
    let free = [
        "--max-amplification",
        "1000000000",
        "--amplification-base",
        "1T",
    ];
    let mut cut = Vec::new();
    for path in common::corpus_captures() {
        let bounded = run(&path, &["-e", "http"]);
        let mut args = vec!["-e", "http"];
        args.extend(free);
        let unbounded = run(&path, &args);
        let names = |out: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(out)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n != "report.summary.json" && n != "report.traffic.json" && n != "report.xml"
                })
                .collect();
            v.sort();
            v
        };
        let name = path.display().to_string();
        let files = names(&bounded.out);
        assert_eq!(files, names(&unbounded.out), "{name}");
        let objects = |out: &Path| -> Vec<Value> {
            std::fs::read_to_string(out.join("http.jsonl"))
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let (ia, ib) = (objects(&bounded.out), objects(&unbounded.out));
        assert_eq!(ia.len(), ib.len(), "{name}");
        for (la, lb) in ia.iter().zip(&ib) {
            if la == lb {
                continue;
            }
            let (oa, ob) = (&la["object"], &lb["object"]);
            let file = oa["file"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {la}"));
            assert!(
                oa["notes"]
                    .to_string()
                    .contains("amplification bound reached"),
                "{name}: {la}"
            );
            assert_eq!(oa["complete"], false);
            // The unbounded object is up to hundreds of MB (sparse): read
            // only as much of it as the bounded one holds.
            let fa = bounded.file(file);
            let full = unbounded.out.join(file);
            let fb_len = std::fs::metadata(&full).unwrap().len();
            let mut fb = vec![0u8; fa.len()];
            let mut f = std::fs::File::open(&full).unwrap();
            std::io::Read::read_exact(&mut f, &mut fb).unwrap();
            assert!((fa.len() as u64) < fb_len, "{name}: {file}");
            assert!(fa == fb, "{name}: {file} is not the same up to its end");
            assert_eq!(oa["size"], fa.len());
            assert_eq!(ob["size"], fb_len);
            cut.push(format!("{name}: {file} {} of {fb_len}", fa.len()));
        }
        for file in &files {
            if !cut.iter().any(|c| c.contains(&format!(": {file} "))) && file != "http.jsonl" {
                assert!(
                    bounded.file(file) == unbounded.file(file),
                    "{name}: {file} differs"
                );
            }
        }
        assert_eq!(
            bounded.amplification("objects_cut") as usize,
            cut.iter().filter(|c| c.starts_with(&name)).count(),
            "{name}"
        );
        assert_eq!(bounded.report, unbounded.report, "{name}: report");
    }
    eprintln!("{cut:#?}");
    assert_eq!(cut.len(), 4, "the claimed objects of byteranges, concurrent-range-requests and m57-long-49583-80: {cut:#?}");
}

/// A capture of `conns` connections, each one `GET /z` answered by a
/// brotli body of a few bytes that decodes to 2 MiB of zeros (each body
/// on its own within `--max-decoded`, and within `--max-ratio` for its
/// first MiB); returns the capture's size.
fn brotli_bombs(path: &Path, conns: u32) -> u64 {
    let mut body = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut body, 4096, 5, 22);
        std::io::Write::write_all(&mut w, &vec![0u8; 2 << 20]).unwrap();
    }
    assert!(body.len() < 100, "{} bytes", body.len());
    capture(path, |w| {
        for i in 0..conns {
            let mut c = conversation(i);
            c.handshake(&mut *w).unwrap();
            c.send(
                Side::Client,
                b"GET /z HTTP/1.1\r\nHost: bomb.test\r\n\r\n",
                &mut *w,
            )
            .unwrap();
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            resp.extend_from_slice(&body);
            c.send(Side::Server, &resp, &mut *w).unwrap();
            c.close(&mut *w).unwrap();
        }
    })
}

/// A response body's line in an HTTP index.
struct BodyLine {
    decoded_length: u64,
    encoded_length: u64,
    decoded: bool,
    complete: bool,
    why: String,
}

/// The response bodies' lines of `run`'s HTTP index.
fn response_bodies(run: &Run) -> Vec<BodyLine> {
    let text = std::fs::read_to_string(run.out.join("http.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("response_body").cloned())
        .map(|b| BodyLine {
            decoded_length: b["decoded_length"].as_u64().unwrap(),
            encoded_length: b["encoded_length"].as_u64().unwrap(),
            decoded: b["decoded"].as_bool().unwrap(),
            complete: b["complete"].as_bool().unwrap(),
            why: format!("{} {}", b["incomplete"], b["notes"]),
        })
        .collect()
}

#[test]
fn many_tiny_compressed_bodies_grow_within_the_bound_and_the_rest_are_kept_as_sent() {
    // 2,000 bodies of a few dozen bytes, each decoding to 2 MiB: 4 GiB
    // with each body held only to its own limits (--max-ratio raised; at
    // its default, 1 MiB each: 2 GiB). The run's bound holds their growth
    // to 16 times the connections' bytes plus the base; a brotli body
    // starts decoding only while its window (4 MiB here) fits in what is
    // left, and is kept as sent otherwise.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bombs.pcap");
    let size = brotli_bombs(&path, 2_000);
    let run = run(&path, &["-e", "http", "--max-ratio", "1000000"]);
    let flows: u64 = run
        .report
        .iter()
        .map(|l| l["bytes"].as_u64().unwrap())
        .sum();
    let grown = run.amplification("decoded_growth");
    assert!(
        grown <= RATIO * flows + BASE,
        "{grown} > 16 x {flows} + base"
    );
    let bodies = response_bodies(&run);
    assert_eq!(bodies.len(), 2_000);
    let whole: Vec<_> = bodies.iter().filter(|b| b.decoded && b.complete).collect();
    let as_sent: Vec<_> = bodies.iter().filter(|b| !b.decoded).collect();
    let cut = bodies.iter().filter(|b| b.decoded && !b.complete).count() as u64;
    assert_eq!(cut, run.amplification("bodies_cut"));
    assert_eq!(
        as_sent.len() as u64,
        run.amplification("bodies_not_decoded")
    );
    assert_eq!(whole.len() + as_sent.len() + cut as usize, 2_000);
    // The base (16 MiB) holds a few whole bodies of 2 MiB; each
    // connection's own credit (16 times its 200-odd bytes) none.
    assert!((5..=8).contains(&whole.len()), "{} whole", whole.len());
    for b in &whole {
        assert_eq!(b.decoded_length, 2 << 20);
    }
    for b in &as_sent {
        assert!(b.complete, "{}", b.why);
        assert_eq!(b.decoded_length, b.encoded_length);
        assert!(b.why.contains("not decoded, kept as sent"), "{}", b.why);
    }
    let written = run.written();
    assert!(
        written < run.limit(size) + RATIO * flows + BASE,
        "{written}"
    );
    assert!(written < CEILING, "{written}");
    assert!(run.took < SLOW, "{:?}", run.took);
    eprintln!(
        "capture {size} B, flows {flows} B: decoded growth {grown} B, {} whole, {} kept as sent, {cut} cut; {written} B written in {:?}",
        whole.len(),
        as_sent.len(),
        run.took
    );
}

#[test]
fn a_few_compressed_bodies_within_the_bound_decode_whole() {
    // Four bodies decoding to 2 MiB each: 8 MiB of growth, inside the
    // base; nothing is cut or kept as sent by the bound.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bombs.pcap");
    brotli_bombs(&path, 4);
    let run = run(&path, &["-e", "http", "--max-ratio", "1000000"]);
    let bodies = response_bodies(&run);
    assert_eq!(bodies.len(), 4);
    for b in &bodies {
        assert_eq!(b.decoded_length, 2 << 20);
        assert!(b.decoded && b.complete, "{}", b.why);
    }
    assert_eq!(run.amplification("bodies_cut"), 0);
    assert_eq!(run.amplification("bodies_not_decoded"), 0);
    let encoded: u64 = bodies.iter().map(|b| b.encoded_length).sum();
    assert_eq!(run.amplification("decoded_growth"), 4 * (2 << 20) - encoded);
}
