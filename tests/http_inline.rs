//! `-e http` carves each connection as it closes (issue 11): its output
//! must be byte-identical to the post-pass's, that is to a plain run
//! followed by `flowsplit http DIR`, on every capture in `testdata/` and in
//! the shared corpus, with one worker thread and with two. A run into a
//! folder that already holds flow files carves the whole folder after the
//! run, as before.

mod common;

use common::{flowsplit, tree_files, REPORTS};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the shared corpus is missing: expected {}/MANIFEST.tsv",
        dir.display()
    );
    dir
}

/// Every capture of `testdata/` (the fuzz seeds left out: they are not
/// meant to hold HTTP) and of the corpus manifest.
fn captures() -> Vec<PathBuf> {
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut all: Vec<PathBuf> = walkdir::WalkDir::new(&testdata)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk testdata").into_path())
        .filter(|p| !p.starts_with(testdata.join("fuzz")))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    let corpus = corpus_dir();
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("the manifest");
    all.extend(
        manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
            .filter(|f| !f.is_empty())
            .map(|f| corpus.join(f)),
    );
    all
}

fn run(args: &[&OsStr]) -> std::process::Output {
    let out = flowsplit(args);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The output folder's files, the report's summary left out (it counts
/// bodies only when the run carved them) and `report.xml` too (it names
/// the folder).
fn outputs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree_files(dir, &["report.xml", "report.summary.json"])
}

fn summary_bodies(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("report.summary.json")).expect("a summary");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v["http_bodies"].as_u64().expect("http_bodies")
}

#[test]
fn inline_carving_equals_the_post_pass_on_every_capture() {
    let mut compared = 0;
    let mut with_bodies = 0;
    for capture in captures() {
        let tmp = tempfile::tempdir().unwrap();
        let post = tmp.path().join("post");
        let cap = capture.as_os_str();
        let plain = run(&["-r".as_ref(), cap, "-o".as_ref(), post.as_os_str()]);
        let carved = run(&["http".as_ref(), post.as_os_str()]);
        let said = String::from_utf8_lossy(&carved.stderr).into_owned();
        let want = outputs(&post);
        let bodies = want.keys().filter(|k| k.contains("-HTTP")).count();
        for threads in ["1", "2"] {
            let inline = tmp.path().join(format!("inline-{threads}"));
            let out = run(&[
                "-r".as_ref(),
                cap,
                "-o".as_ref(),
                inline.as_os_str(),
                "-e".as_ref(),
                "http".as_ref(),
                "-j".as_ref(),
                threads.as_ref(),
            ]);
            let got = outputs(&inline);
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{}, -j {threads}: different files",
                capture.display()
            );
            for (name, bytes) in &want {
                assert!(
                    got[name] == *bytes,
                    "{}, -j {threads}: {name} differs",
                    capture.display()
                );
            }
            // The run's summary counts the body files the post-pass says it wrote.
            let written = format!(", {} bodies written", summary_bodies(&inline));
            assert!(
                said.contains(&written),
                "{}: {said} / {written}",
                capture.display()
            );
            assert_eq!(
                out.status.code(),
                plain.status.code(),
                "{}",
                capture.display()
            );
        }
        compared += 1;
        with_bodies += usize::from(bodies > 0);
    }
    assert!(compared > 100, "{compared} captures");
    assert!(with_bodies > 40, "{with_bodies} captures with bodies");
}

/// A second run into a folder holding the first's flow files carves the
/// whole folder after the run, as `flowsplit http` would: the index has
/// both runs' exchanges.
#[test]
fn a_run_into_a_folder_with_flows_carves_the_whole_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let capture = common::testdata("http/keepalive.pcap");
    let args: Vec<&OsStr> = vec![
        "-r".as_ref(),
        capture.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-e".as_ref(),
        "http".as_ref(),
    ];
    run(&args);
    let once = std::fs::read_to_string(out.join("http.jsonl")).unwrap();
    assert_eq!(once.lines().count(), 3, "{once}");
    run(&args);
    let twice = std::fs::read_to_string(out.join("http.jsonl")).unwrap();
    // The second run's flow files are named c1; each has its 3 exchanges.
    assert_eq!(twice.lines().count(), 6, "{twice}");
    assert_eq!(
        twice.lines().filter(|l| l.contains("c1")).count(),
        3,
        "{twice}"
    );
    let post = tmp.path().join("post");
    std::fs::create_dir(&post).unwrap();
    for (name, bytes) in tree_files(&out, REPORTS) {
        if !name.contains("-HTTP") && name != "http.jsonl" {
            std::fs::write(post.join(&name), bytes).unwrap();
        }
    }
    run(&["http".as_ref(), post.as_os_str()]);
    assert_eq!(
        std::fs::read_to_string(post.join("http.jsonl")).unwrap(),
        twice
    );
}
