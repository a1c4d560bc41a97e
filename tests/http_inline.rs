//! `-e http` carves each connection as it closes (issue 11): its output
//! must be byte-identical to the post-pass's, that is to a plain run
//! followed by `flowsplit http DIR`, on every capture in `testdata/` and in
//! the shared corpus, with one worker thread and with two. A run into a
//! folder that already holds flow files carves the whole folder after the
//! run, as before.

mod common;

use common::{corpus_captures, corpus_dir, flowsplit, tree_files, REPORTS};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Every capture of `testdata/` (the fuzz seeds left out: they are not
/// meant to hold HTTP; so are the captures carrying their TLS secrets in
/// Decryption Secrets Blocks, `*.dsb.pcapng`, which only the run reading
/// the capture decrypts: `flowsplit http` later has no capture to read
/// them from, as the man page says; tests/tls_captures.rs compares them
/// with the pcap and its key log instead) and of the corpus manifest.
fn captures() -> Vec<PathBuf> {
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut all: Vec<PathBuf> = walkdir::WalkDir::new(&testdata)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk testdata").into_path())
        .filter(|p| !p.starts_with(testdata.join("fuzz")))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .filter(|p| !p.to_string_lossy().ends_with(".dsb.pcapng"))
        .collect();
    all.extend(corpus_captures());
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
    tree_files(
        dir,
        &["report.xml", "report.summary.json", "report.traffic.json"],
    )
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
            let n = summary_bodies(&inline);
            let written = format!(", {n} {} written", if n == 1 { "body" } else { "bodies" });
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

/// Flow files in subfolders (`-Fk`, and a template with a `/`): each folder
/// gets its index, as the post-pass gives every folder holding flow files.
#[test]
fn subfolders_get_the_post_pass_indexes() {
    let captures: Vec<PathBuf> = [
        "http/keepalive.pcap",
        "http/gzip.pcap",
        "http/pipelining.pcap",
    ]
    .iter()
    .map(|c| common::testdata(c))
    .filter(|p| p.exists())
    .chain(std::iter::once(
        corpus_dir().join("arkime/tests/pcap/80211http.pcap"),
    ))
    .collect();
    assert!(captures.len() >= 3, "{captures:?}");
    for template in [&["-Fk"][..], &["-T", "%A/%A.%a-%B.%b%C"]] {
        for capture in &captures {
            let tmp = tempfile::tempdir().unwrap();
            let (post, inline) = (tmp.path().join("post"), tmp.path().join("inline"));
            let with = |out: &Path, http: bool| {
                let mut args: Vec<&OsStr> = vec![
                    "-r".as_ref(),
                    capture.as_os_str(),
                    "-o".as_ref(),
                    out.as_os_str(),
                ];
                args.extend(template.iter().map(OsStr::new));
                if http {
                    args.extend(["-e", "http"].iter().map(OsStr::new));
                }
                run(&args);
            };
            with(&post, false);
            run(&["http".as_ref(), post.as_os_str()]);
            with(&inline, true);
            let (want, got) = (outputs(&post), outputs(&inline));
            let indexes = want.keys().filter(|k| k.ends_with("http.jsonl")).count();
            assert!(
                indexes >= 1 && want.keys().any(|k| k.contains('/')),
                "{template:?} {}: {:?}",
                capture.display(),
                want.keys().collect::<Vec<_>>()
            );
            assert!(got == want, "{template:?} {}: differs", capture.display());
        }
    }
}
