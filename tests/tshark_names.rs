//! `--http-names url` against tshark: on every capture of `testdata/http/`
//! and every capture of `../shared/corpus/` with HTTP objects, the body
//! files flowsplit writes are compared, name and content, with the files
//! `tshark -r CAP -q --export-objects http,DIR` writes. The test runs
//! tshark itself (it skips, saying so, when tshark is not installed).
//!
//! A tshark object *matches* when flowsplit wrote a body with the same
//! bytes under the same name, or under the same name numbered otherwise
//! (`p(1).txt` for `p.txt`): tshark numbers duplicates in the order of the
//! frames that complete each message, across connections; flowsplit in
//! the order it carves (connection by connection, each message's request
//! body before its response body), which it cannot take from packet times.
//! Where they differ by design (documented in flowsplit(1), `--http-names`),
//! the difference is listed below with its reason, and the lists are exact:
//! an entry that no longer differs fails the test too.
//!
//! Per capture, the figures go to `target/tshark_names.tsv`.

use serde_json::Value;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A folder's files: name → sha256.
type Files = BTreeMap<String, String>;

fn sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn tshark_present() -> bool {
    Command::new("tshark")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// tshark's exported objects for `cap`: name → sha256.
fn tshark_objects(cap: &Path, dir: &Path) -> Files {
    let arg = format!("http,{}", dir.display());
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(cap)
        .args(["-q", "--export-objects", &arg])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("tshark runs");
    assert!(out.success(), "tshark failed on {}", cap.display());
    read_files(dir, |_| true)
}

/// Every file in `dir` whose name `keep` accepts: name → sha256.
fn read_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Files {
    let mut files = Files::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for e in entries {
        let e = e.expect("a folder entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().expect("a file type").is_file() && keep(&name) {
            let bytes = std::fs::read(e.path()).expect("a readable file");
            files.insert(name, sha256(&bytes));
        }
    }
    files
}

/// flowsplit's body files for `cap` with `--http-names url` (request and
/// response bodies as `http.jsonl` lists them): name → sha256. With
/// `two_steps`, flows first, then `flowsplit http DIR`; else `-e http`.
fn flowsplit_bodies(cap: &Path, dir: &Path, two_steps: bool) -> Files {
    let bin = env!("CARGO_BIN_EXE_flowsplit");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(bin)
            .args(args)
            .output()
            .expect("flowsplit runs");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "flowsplit {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (r, o, q) = ("-r".as_ref(), "-o".as_ref(), "-q".as_ref());
    if two_steps {
        run(&[q, r, cap.as_os_str(), o, dir.as_os_str()]);
        run(&[
            "http".as_ref(),
            q,
            "--http-names".as_ref(),
            "url".as_ref(),
            dir.as_os_str(),
        ]);
    } else {
        let (e, http) = ("-e".as_ref(), "http".as_ref());
        let (n, url) = ("--http-names".as_ref(), "url".as_ref());
        run(&[q, r, cap.as_os_str(), o, dir.as_os_str(), e, http, n, url]);
    }
    let mut listed = BTreeSet::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("a folder entry");
        if entry.file_name() != "http.jsonl" {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("http.jsonl");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("a JSON line");
            for side in ["request_body", "response_body"] {
                if let Some(f) = v[side]["file"].as_str() {
                    listed.insert(entry.path().with_file_name(f));
                }
            }
        }
    }
    listed
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).expect("a listed body file");
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            (name.into_owned(), sha256(&bytes))
        })
        .collect()
}

/// A name without tshark's duplicate number: `p(2).txt` → `p.txt`.
fn unnumbered(name: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    if let Some(open) = stem.rfind('(') {
        let digits = &stem[open + 1..stem.len().saturating_sub(1)];
        if stem.ends_with(')') && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return format!("{}{ext}", &stem[..open]);
        }
    }
    name.to_string()
}

/// How one capture compares.
#[derive(Default, Debug)]
struct Comparison {
    /// tshark objects (empty ones left out: flowsplit writes no file for an
    /// empty body).
    tshark: usize,
    /// flowsplit bodies.
    flowsplit: usize,
    /// tshark objects with a flowsplit body of the same name and bytes.
    same: usize,
    /// ... of the same name but numbered otherwise, and the same bytes.
    renumbered: usize,
    /// tshark objects flowsplit has under another name (same bytes).
    named_otherwise: Vec<String>,
    /// tshark objects whose bytes flowsplit did not write.
    missing: Vec<String>,
    /// flowsplit bodies tshark does not export.
    extra: Vec<String>,
}

fn compare(tshark: &Files, ours: &Files) -> Comparison {
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let mut c = Comparison {
        flowsplit: ours.len(),
        ..Comparison::default()
    };
    let mut left: Vec<(&String, &String)> = ours.iter().collect();
    let mut unmatched = Vec::new();
    for (name, sha) in tshark.iter().filter(|(_, s)| *s != EMPTY) {
        c.tshark += 1;
        if let Some(i) = left.iter().position(|(n, s)| *n == name && *s == sha) {
            left.remove(i);
            c.same += 1;
        } else {
            unmatched.push((name, sha));
        }
    }
    for (name, sha) in unmatched {
        let plain = unnumbered(name);
        if let Some(i) = left
            .iter()
            .position(|(n, s)| unnumbered(n) == plain && *s == sha)
        {
            left.remove(i);
            c.renumbered += 1;
        } else if let Some(i) = left.iter().position(|(_, s)| *s == sha) {
            c.named_otherwise
                .push(format!("{name} (flowsplit: {})", left[i].0));
            left.remove(i);
        } else {
            c.missing.push(name.clone());
        }
    }
    c.extra = left.into_iter().map(|(n, _)| n.clone()).collect();
    c
}

/// Captures of `testdata/http/` where the names differ by design:
/// (capture, what differs, why). Each is in flowsplit(1), `--http-names`.
const TESTDATA_DIFFS: &[(&str, &str, &str)] = &[
    (
        "gap.pcap",
        "extra gap.txt",
        "the body has a zero-filled hole: flowsplit writes it and flags it incomplete, tshark exports nothing",
    ),
    (
        "gzip_bomb.pcap",
        "missing bomb.bin",
        "a gzip bomb (64 MiB of zeros): flowsplit cuts decoding off at --max-ratio (1000 per encoded byte) and flags the body incomplete; tshark writes all 64 MiB",
    ),
    (
        "gzip_bomb.pcap",
        "extra bomb.bin",
        "the same body, cut off (see above)",
    ),
    (
        "pipelining.pcap",
        "named otherwise",
        "pipelined requests: tshark names every response after the last request sent before it (p3.txt, p3(1).txt, p3(2).txt); flowsplit after the request each answers (p1.txt, p2.txt, p3.txt)",
    ),
];

/// What differs in `c`, in the words of [`TESTDATA_DIFFS`].
fn differences(c: &Comparison) -> Vec<String> {
    let mut d = Vec::new();
    if !c.named_otherwise.is_empty() {
        d.push("named otherwise".to_string());
    }
    d.extend(c.missing.iter().map(|m| format!("missing {m}")));
    d.extend(c.extra.iter().map(|m| format!("extra {m}")));
    d
}

fn row(table: &mut String, cap: &str, c: &Comparison) {
    let _ = writeln!(
        table,
        "{cap}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        c.tshark,
        c.flowsplit,
        c.same,
        c.renumbered,
        c.named_otherwise.len(),
        c.missing.len(),
        c.extra.len()
    );
}

const HEADER: &str = "capture\ttshark_objects\tflowsplit_bodies\tsame_name_and_bytes\tsame_bytes_renumbered\tsame_bytes_named_otherwise\ttshark_only\tflowsplit_only\n";

fn report(name: &str, table: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    let _ = std::fs::write(path, table);
}

#[test]
fn url_names_match_tshark_on_testdata() {
    if !tshark_present() {
        eprintln!("SKIPPED: tshark is not installed (apt-get install tshark)");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/http");
    let mut caps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/http")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    caps.sort();
    assert!(caps.len() >= 15, "{caps:?}");
    let mut table = String::from(HEADER);
    let mut problems = Vec::new();
    let mut seen_diffs = BTreeSet::new();
    for (i, cap) in caps.iter().enumerate() {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let theirs = tshark_objects(cap, &tmp.path().join("tshark"));
        // Half the captures through `flowsplit http DIR`, half through -e http.
        let ours = flowsplit_bodies(cap, &tmp.path().join("flowsplit"), i % 2 == 0);
        let c = compare(&theirs, &ours);
        let file = cap.file_name().unwrap_or_default().to_string_lossy();
        row(&mut table, &file, &c);
        for d in differences(&c) {
            match TESTDATA_DIFFS
                .iter()
                .find(|(f, what, _)| *f == file && *what == d)
            {
                Some(_) => {
                    seen_diffs.insert((file.to_string(), d));
                }
                None => problems.push(format!("{file}: {d}: {c:?}")),
            }
        }
    }
    report("tshark_names_testdata.tsv", &table);
    for (f, what, _) in TESTDATA_DIFFS {
        if !seen_diffs.contains(&(f.to_string(), what.to_string())) {
            problems.push(format!("{f}: {what}: listed but no longer differs"));
        }
    }
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n"));
}

/// The corpus captures with HTTP objects (those `ORACLE_tshark_http.tsv`
/// lists), or `None` when the corpus is not there.
fn corpus_captures() -> Option<(PathBuf, Vec<String>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let text = std::fs::read_to_string(dir.join("ORACLE_tshark_http.tsv")).ok()?;
    let caps: BTreeSet<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|c| dir.join(c).is_file())
        .map(str::to_string)
        .collect();
    Some((dir, caps.into_iter().collect()))
}

#[test]
fn url_names_match_tshark_on_the_corpus() {
    if !tshark_present() {
        eprintln!("SKIPPED: tshark is not installed (apt-get install tshark)");
        return;
    }
    let Some((dir, caps)) = corpus_captures() else {
        eprintln!("SKIPPED: ../shared/corpus is not there (see its README.md)");
        return;
    };
    let mut table = String::from(HEADER);
    let mut all = BTreeMap::new();
    for cap in &caps {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let path = dir.join(cap);
        let theirs = tshark_objects(&path, &tmp.path().join("tshark"));
        let ours = flowsplit_bodies(&path, &tmp.path().join("flowsplit"), false);
        let c = compare(&theirs, &ours);
        row(&mut table, cap, &c);
        all.insert(cap.clone(), c);
    }
    report("tshark_names_corpus.tsv", &table);
    // Names: every tshark object whose bytes flowsplit wrote too must be
    // under the same name (numbered or not), but for those listed. Bodies
    // only one of the two writes (gaps, bombs, lost packets) are tallied
    // here; their contents are checked by tests/http_corpus.rs.
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let (mut objects, mut named_alike, mut both) = (0, 0, 0);
    for (cap, c) in &all {
        objects += c.tshark;
        named_alike += c.same + c.renumbered;
        both += c.same + c.renumbered + c.named_otherwise.len();
        for n in &c.named_otherwise {
            let object = n.split(" (flowsplit: ").next().unwrap_or(n);
            match CORPUS_NAMED_OTHERWISE
                .iter()
                .find(|(f, o, _)| f == cap && *o == object)
            {
                Some(_) => {
                    seen.insert((cap.as_str(), object));
                }
                None => problems.push(format!("{cap}: named otherwise: {n}")),
            }
        }
    }
    for (f, o, _) in CORPUS_NAMED_OTHERWISE {
        if !seen.contains(&(*f, *o)) {
            problems.push(format!("{f}: {o}: listed but no longer named otherwise"));
        }
    }
    eprintln!(
        "{} captures: {objects} tshark objects, {both} also written by flowsplit with the same bytes, {named_alike} of them under tshark's name",
        all.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// tshark objects of the corpus that flowsplit writes with the same bytes
/// under another name: (capture, tshark's name, why).
const CORPUS_NAMED_OTHERWISE: &[(&str, &str, &str)] = &[
    (
        "arkime/tests/pcap/gre-erspan-vxlan.pcap",
        "Hello",
        "flowsplit finds no request in the client flow, so the body keeps tcpflow's name",
    ),
    (
        "arkime/tests/pcap/http-tcp-seq-issue.pcap",
        "object3",
        "tshark does not pair the response with its POST request and names it after its frame; flowsplit pairs them and names it after the URL",
    ),
    (
        "scapy/test/pcaps/http_compressed.pcap",
        "object3.text%2fhtml",
        NO_REQUEST,
    ),
    (
        "tcpflow/tests/airsnort-linux-browser_page_load.pcap",
        "object17.image%2fgif",
        NO_REQUEST,
    ),
    (
        "tcpflow/tests/airsnort-linux-browser_page_load.pcap",
        "object19.image%2fjpeg",
        NO_REQUEST,
    ),
    (
        "tcpflow/tests/airsnort-linux-browser_page_load.pcap",
        "object7.text%2fhtml",
        NO_REQUEST,
    ),
    ("tcpflow/tests/bug2.pcap", "object47.image%2fjpeg", NO_REQUEST),
    ("zeek/testing/btest/Traces/erspan.pcap", "bgximg.png", LOST_RESPONSES),
    ("zeek/testing/btest/Traces/erspan.pcap", "mossfgimg.png", LOST_RESPONSES),
    ("zeek/testing/btest/Traces/erspan.pcap", "wpmenuarrow.png", LOST_RESPONSES),
    (
        "zeek/testing/btest/Traces/http/http-desync-request-response-5.pcap",
        "%2f(5)",
        DESYNC,
    ),
    (
        "zeek/testing/btest/Traces/http/http-desync-request-response-5.pcap",
        "%2f(6)",
        DESYNC,
    ),
];

const NO_REQUEST: &str = "the request is not in the capture: tshark names the object `object<frame>.<content type>`, flowsplit keeps tcpflow's name";
const LOST_RESPONSES: &str = "responses are missing from the capture: flowsplit pairs the responses it has with the requests in order (http.jsonl notes the bytes skipped), so a body takes the name of an earlier request; tshark pairs by position in the TCP stream";
const DESYNC: &str = "more responses than requests: flowsplit records these as answering no request and keeps tcpflow's name; tshark names them after the last request";
