//! The benchmark in miniature (issue 5): a small capture of interleaved
//! HTTP/1.1 connections with reordering and retransmissions, made by the
//! same generator as `bench/run.sh` uses, split by the flowsplit binary and
//! checked direction by direction against the generator's expected list.
//! The full benchmark is too long for CI; this keeps its code path working.

use flowsplit_synth::bench::{self, BenchParams, Expected, Shape};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Generate `params` into `dir`, returning the capture path and the expected list.
fn make_capture(params: &BenchParams, dir: &Path) -> (std::path::PathBuf, Vec<Expected>) {
    let pcap = dir.join("bench.pcap");
    let mut tsv = Vec::new();
    let file = std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap());
    let summary = bench::generate(params, file, &mut tsv).unwrap();
    let expected = bench::read_expected(&tsv[..]).unwrap();
    assert_eq!(summary.connections, params.connections);
    assert_eq!(expected.len() as u64, 2 * params.connections);
    assert_eq!(
        std::fs::metadata(&pcap).unwrap().len(),
        summary.capture_bytes
    );
    (pcap, expected)
}

/// The library's checker (the one bench/run.sh uses) finds exactly the
/// expected files in `out`, and the report agrees.
fn assert_verified(expected: &[Expected], out: &Path) {
    let verdict = bench::verify(
        expected,
        out,
        &[
            "report.jsonl",
            "report.summary.json",
            "report.traffic.json",
            "report.xml",
        ],
        Some(&out.join("report.jsonl")),
    )
    .unwrap();
    assert!(verdict.ok(), "{}", verdict.describe(10));
}

fn run_flowsplit(pcap: &Path, out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .status()
        .unwrap();
    assert!(status.success(), "flowsplit failed: {status}");
}

/// Every direction's file by name: (size, sha256), hashed here.
fn files_in(dir: &Path) -> BTreeMap<String, (u64, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            ![
                "report.jsonl",
                "report.summary.json",
                "report.traffic.json",
                "report.xml",
            ]
            .contains(&e.file_name().to_str().unwrap_or(""))
        })
        .map(|e| {
            assert!(
                e.file_type().unwrap().is_file(),
                "{:?} is not a file",
                e.path()
            );
            let name = e.file_name().into_string().unwrap();
            (name, bench::sha256_file(&e.path()).unwrap())
        })
        .collect()
}

#[test]
fn small_shape_with_reordering_and_retransmissions_is_split_exactly() {
    let params = BenchParams {
        concurrency: 40,
        reorder_rate: 0.05,
        retransmit_rate: 0.03,
        ..BenchParams::shape(Shape::Small).with_connections(200)
    };
    let tmp = tempfile::tempdir().unwrap();
    let (pcap, expected) = make_capture(&params, tmp.path());
    let out = tmp.path().join("out");
    run_flowsplit(&pcap, &out);

    let want: BTreeMap<String, (u64, String)> = expected
        .iter()
        .map(|e| (e.file.clone(), (e.bytes, e.sha256.clone())))
        .collect();
    assert_eq!(want.len(), expected.len(), "expected list repeats a name");
    let got = files_in(&out);
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(missing.is_empty(), "missing flow files: {missing:?}");
    assert!(extra.is_empty(), "unexpected files: {extra:?}");
    for (name, w) in &want {
        assert_eq!(&got[name], w, "{name}: (size, sha256) differs");
    }

    // The library's checker, which bench/run.sh uses, agrees, report included.
    assert_verified(&expected, &out);
}

#[test]
fn a_capture_trickling_through_a_pipe_is_split_exactly() {
    // Several read blocks long, written 1000 bytes at a time: records are
    // cut at every place by block ends, and the reader must not wait for a
    // full block before going on.
    let params = BenchParams::shape(Shape::Small).with_connections(150);
    let tmp = tempfile::tempdir().unwrap();
    let (pcap, expected) = make_capture(&params, tmp.path());
    let bytes = std::fs::read(&pcap).unwrap();
    assert!(
        bytes.len() > 2 * flowsplit::capture::file::BLOCK,
        "{}",
        bytes.len()
    );
    let out = tmp.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["-q", "-j", "2", "-r", "-", "-o"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for chunk in bytes.chunks(1000) {
        std::io::Write::write_all(&mut stdin, chunk).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_verified(&expected, &out);
}

#[test]
fn all_connections_open_before_any_closes_is_split_exactly() {
    let params = BenchParams {
        retransmit_rate: 0.05,
        reorder_rate: 0.05,
        ..BenchParams::shape(Shape::ConcurrentMillion).with_connections(300)
    };
    assert_eq!(params.concurrency, 300);
    let tmp = tempfile::tempdir().unwrap();
    let (pcap, expected) = make_capture(&params, tmp.path());
    let out = tmp.path().join("out");
    run_flowsplit(&pcap, &out);
    assert_verified(&expected, &out);
}

#[test]
fn generator_is_deterministic_and_seeded() {
    let params = BenchParams::shape(Shape::Large).with_connections(3);
    let gen = |p: &BenchParams| {
        let (mut pcap, mut tsv) = (Vec::new(), Vec::new());
        bench::generate(p, &mut pcap, &mut tsv).unwrap();
        (pcap, tsv)
    };
    let a = gen(&params);
    assert_eq!(a, gen(&params));
    let other = BenchParams { seed: 2, ..params };
    assert_ne!(a.1, gen(&other).1);
}

#[test]
fn verify_reports_missing_wrong_and_extra_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("a"), b"abc").unwrap();
    std::fs::write(dir.join("b"), b"xyz").unwrap();
    std::fs::write(dir.join("stray"), b"").unwrap();
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let e = |file: &str, bytes, sha: &str| Expected {
        file: file.into(),
        bytes,
        sha256: sha.into(),
    };
    let list = [e("a", 3, abc), e("b", 3, abc), e("c", 1, abc)];
    let v = bench::verify(&list, dir, &[], None).unwrap();
    assert_eq!(v.matched, 1);
    assert_eq!(v.missing, ["c"]);
    assert_eq!(v.wrong, ["b: sha256 differs"]);
    assert_eq!(v.extra, ["stray"]);
    assert!(!v.ok());
}
