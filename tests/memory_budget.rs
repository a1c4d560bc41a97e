//! `--max-memory` (issue 11): a capture whose open connections need more
//! than the budget completes within it. Past the budget the least recently
//! active connections are closed as `evicted`; their files stay correct and
//! their report lines say so; and the output is the same for every `-j`.
//!
//! Peak memory is read with GNU time (`/usr/bin/time`, Debian package
//! `time`, installed by `.ci/run`).

use flowsplit_synth::bench::{self, BenchParams, Shape};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Connections all open at once: about 70 MB of connection state, far more
/// than the 24 MiB a 64 MiB budget leaves for it.
const CONNECTIONS: u64 = 60_000;

fn make_capture(dir: &Path) -> PathBuf {
    let params = BenchParams::shape(Shape::ConcurrentMillion).with_connections(CONNECTIONS);
    let pcap = dir.join("open.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap());
    bench::generate(&params, file, &mut std::io::sink()).unwrap();
    pcap
}

/// Run flowsplit under GNU time; returns its peak RSS in KiB.
fn run(pcap: &Path, out: &Path, args: &[&str]) -> u64 {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time (Debian package `time`) is needed to measure peak memory"
    );
    let rss_file = out.with_extension("rss");
    let status = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "flowsplit {args:?} failed: {status}");
    let text = std::fs::read_to_string(&rss_file).unwrap();
    text.trim().lines().last().unwrap().parse().unwrap()
}

/// The report's lines, and how many directions ended `evicted`.
fn report(out: &Path) -> (String, usize) {
    let text = std::fs::read_to_string(out.join("report.jsonl")).unwrap();
    let evicted = text.matches("\"end\":\"evicted\"").count();
    (text, evicted)
}

/// Every report line's file holds exactly `bytes` bytes with its `sha256`,
/// and no file lacks a line.
fn assert_files_match_report(out: &Path) {
    let text = std::fs::read_to_string(out.join("report.jsonl")).unwrap();
    let mut listed = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = v["file"].as_str().unwrap().to_string();
        let sha = v["sha256"].as_str().unwrap().to_string();
        listed.insert(file, (v["bytes"].as_u64().unwrap(), sha));
    }
    let mut on_disk = 0;
    for entry in std::fs::read_dir(out).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name == "report.jsonl"
            || name == "report.summary.json"
            || name == "report.traffic.json"
            || name == "report.xml"
            || name == "report.pdf"
        {
            continue;
        }
        on_disk += 1;
        let want = listed
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not in the report"));
        assert_eq!(&bench::sha256_file(&entry.path()).unwrap(), want, "{name}");
    }
    assert_eq!(on_disk, listed.len(), "files listed but missing");
}

#[test]
fn connections_beyond_the_budget_are_evicted_within_it() {
    // On tmpfs when there is one: 300,000 small files are written.
    let dir = match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    };
    let pcap = make_capture(dir.path());

    // Within 64 MiB, whatever -j; the same report for both.
    let one = dir.path().join("j1");
    let rss_one = run(&pcap, &one, &["--max-memory", "64M", "-j", "1"]);
    let two = dir.path().join("j2");
    let rss_two = run(&pcap, &two, &["--max-memory", "64M", "-j", "2"]);
    for (j, rss) in [(1, rss_one), (2, rss_two)] {
        assert!(
            rss <= 64 * 1024,
            "-j {j}: peak RSS {rss} KiB is over the 64 MiB budget"
        );
    }
    let (lines_one, evicted) = report(&one);
    let (lines_two, _) = report(&two);
    assert!(evicted > 0, "nothing was evicted under a 64 MiB budget");
    assert!(
        lines_one == lines_two,
        "-j 1 and -j 2 reports differ under the budget"
    );
    assert_files_match_report(&one);

    // With the traffic summary drawn (-e netviz, issue 31) too: within the
    // budget, the same report, and a page.
    let viz = dir.path().join("viz");
    let rss_viz = run(
        &pcap,
        &viz,
        &["--max-memory", "64M", "-j", "2", "-e", "netviz"],
    );
    assert!(
        rss_viz <= 64 * 1024,
        "-e netviz: peak RSS {rss_viz} KiB is over the 64 MiB budget"
    );
    assert!(report(&viz).0 == lines_two, "-e netviz changed the report");
    assert!(viz.join("report.pdf").is_file());

    // The default budget holds every connection: nothing is evicted, and
    // more memory was needed than the small budget allowed.
    let full = dir.path().join("full");
    let rss_full = run(&pcap, &full, &[]);
    let (_, evicted_full) = report(&full);
    assert_eq!(evicted_full, 0, "evicted under the default budget");
    assert!(
        rss_full > 64 * 1024,
        "the capture fits in 64 MiB anyway ({rss_full} KiB): the test shows nothing"
    );
}
