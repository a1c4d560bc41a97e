//! `--grep PATTERN --only-matching` on a normal run (issue 30, "Keep what
//! matched"): the flow files, report lines and, with `-e http`, carved
//! bodies of the matching connections only, each byte for byte what a
//! normal run writes for them; a match split over segments counts, one
//! across a gap does not; `-j 1` equals `-j 2`; without `--only-matching`
//! every connection is written and its report lines count the matches.

mod common;

use common::{cs, flowsplit, sc, tree_files};
use flowsplit_synth::{Link, Side, TcpConversation, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

type Frames = Vec<(Timestamp, Vec<u8>)>;

const PATTERN: &str = "TOKEN-7";

/// Client ports: the token split over three segments of the request (A),
/// in the response body only (B), nowhere (C), and in the request with a
/// hole cutting it (D).
const A: u16 = 40001;
const B: u16 = 40002;
const C: u16 = 40003;
const D: u16 = 40004;

fn conv(port: u16, start_micros: u32) -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        format!("10.0.0.1:{port}").parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000, start_micros * 1000),
    )
}

fn response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The four connections, their packets interleaved in time.
fn capture() -> (tempfile::TempDir, PathBuf) {
    let mut all = Frames::new();
    // A: "...?k=TOKEN-7 ..." cut after "TO" and after "TOKE".
    let mut f = Frames::new();
    let mut c = conv(A, 0);
    c.handshake(&mut f).unwrap();
    let req = b"GET /a?k=TOKEN-7 HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send(Side::Client, &req[..11], &mut f).unwrap();
    c.send(Side::Client, &req[11..13], &mut f).unwrap();
    c.send(Side::Client, &req[13..], &mut f).unwrap();
    c.send(Side::Server, &response("alpha body"), &mut f)
        .unwrap();
    c.close(&mut f).unwrap();
    all.extend(f);
    // B: in the response's body only.
    let mut f = Frames::new();
    let mut c = conv(B, 250);
    c.handshake(&mut f).unwrap();
    c.send(Side::Client, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", &mut f)
        .unwrap();
    c.send(Side::Server, &response("beta TOKEN-7 body"), &mut f)
        .unwrap();
    c.close(&mut f).unwrap();
    all.extend(f);
    // C: nowhere.
    let mut f = Frames::new();
    let mut c = conv(C, 500);
    c.handshake(&mut f).unwrap();
    c.send(Side::Client, b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n", &mut f)
        .unwrap();
    c.send(Side::Server, &response("gamma body"), &mut f)
        .unwrap();
    c.close(&mut f).unwrap();
    all.extend(f);
    // D: "TOKEN-7" with "KE" never sent: the hole is filled with zeros.
    let mut f = Frames::new();
    let mut c = conv(D, 750);
    c.handshake(&mut f).unwrap();
    let req = b"GET /d?k=TOKEN-7 HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send_at(Side::Client, 0, &req[..11], &mut f).unwrap();
    c.send_at(Side::Client, 13, &req[13..], &mut f).unwrap();
    c.send(Side::Server, &response("delta body"), &mut f)
        .unwrap();
    c.close(&mut f).unwrap();
    all.extend(f);
    all.sort_by_key(|(ts, _)| *ts);
    common::write_frames(&all)
}

/// Run `flowsplit -r CAPTURE -o OUT ARGS...` into a new folder; the folder
/// (kept alive by the handle) and the exit code.
fn run(capture: &Path, args: &[&str]) -> (tempfile::TempDir, PathBuf, i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut all: Vec<&OsStr> = vec![
        "-r".as_ref(),
        capture.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    all.extend(args.iter().map(OsStr::new));
    let o = flowsplit(&all);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (tmp, out, o.status.code().unwrap_or(-1), stderr)
}

/// The lines of a JSON Lines file, parsed (empty when it does not exist).
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A report line without `grep_matches`, as a run without `--grep` writes it.
fn without_grep(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("grep_matches");
    v
}

/// The run's files, reports left out.
fn flows(out: &Path) -> BTreeMap<String, Vec<u8>> {
    tree_files(out, &[])
        .into_iter()
        .filter(|(name, _)| !name.starts_with("report") && name != "http.jsonl")
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Whether `name` (a flow file or a body carved from one) belongs to the
/// connection of client port `port`.
fn of(name: &str, port: u16) -> bool {
    name.starts_with(&cs(port)) || name.starts_with(&sc(port))
}

#[test]
fn only_the_matching_connections_are_kept_byte_for_byte() {
    let (_c, cap) = capture();
    let (_n, normal, code, err) = run(&cap, &["-e", "http"]);
    assert_eq!(code, 0, "{err}");
    let (_k, kept, code, err) = run(&cap, &["-e", "http", "--grep", PATTERN, "--only-matching"]);
    assert_eq!(code, 0, "{err}");

    // Flow files and carved bodies: those of A and B, equal to the normal run's.
    let expected: BTreeMap<String, Vec<u8>> = flows(&normal)
        .into_iter()
        .filter(|(name, _)| of(name, A) || of(name, B))
        .collect();
    let names: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(
        names,
        sorted(vec![
            cs(A),
            sc(A),
            format!("{}-HTTPBODY-001.txt", sc(A)),
            cs(B),
            sc(B),
            format!("{}-HTTPBODY-001.txt", sc(B)),
        ])
    );
    assert_eq!(flows(&kept), expected);

    // Report lines: exactly the normal run's lines of A and B, in order,
    // each with its count.
    let report = lines(&kept.join("report.jsonl"));
    let files: Vec<(&str, u64)> = report
        .iter()
        .map(|v| {
            (
                v["file"].as_str().unwrap(),
                v["grep_matches"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            (cs(A).as_str(), 1),
            (sc(A).as_str(), 0),
            (cs(B).as_str(), 0),
            (sc(B).as_str(), 1)
        ]
    );
    let normal_report: Vec<Value> = lines(&normal.join("report.jsonl"))
        .into_iter()
        .filter(|v| {
            [A, B].contains(&(v["sport"].as_u64().unwrap() as u16))
                || [A, B].contains(&(v["dport"].as_u64().unwrap() as u16))
        })
        .collect();
    let kept_report: Vec<Value> = report.into_iter().map(without_grep).collect();
    assert_eq!(kept_report, normal_report);

    // http.jsonl: the normal run's exchanges of A and B.
    let exchanges = |dir: &Path| -> Vec<Value> {
        lines(&dir.join("http.jsonl"))
            .into_iter()
            .filter(|v| {
                let text = v.to_string();
                [A, B]
                    .iter()
                    .any(|p| text.contains(&sc(*p)) || text.contains(&cs(*p)))
            })
            .collect()
    };
    let kept_http = lines(&kept.join("http.jsonl"));
    assert_eq!(kept_http.len(), 2, "{kept_http:?}");
    assert_eq!(kept_http, exchanges(&normal));

    // report.xml names the kept flow files only.
    let xml = std::fs::read_to_string(kept.join("report.xml")).unwrap();
    for p in [A, B] {
        let named = |name: String| xml.contains(&format!("/{name}</filename>"));
        assert!(named(cs(p)) && named(sc(p)), "{xml}");
    }
    for p in [C, D] {
        assert!(!xml.contains(&cs(p)) && !xml.contains(&sc(p)), "{xml}");
    }

    // The summary says what was dropped; directions count what was kept.
    let summary: Value =
        serde_json::from_slice(&std::fs::read(kept.join("report.summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["grep"],
        serde_json::json!({
            "connections_matching": 2,
            "connections_not_matching": 2,
            "only_matching": true
        })
    );
    assert_eq!(summary["connections"], 4);
    assert_eq!(summary["directions"], 4);
    assert_eq!(summary["directions_with_gaps"], 0);
    assert_eq!(summary["http_bodies"], 2);
    assert!(
        err.contains("2 connections matching --grep (2 dropped)"),
        "{err}"
    );
}

#[test]
fn two_threads_keep_what_one_keeps() {
    let (_c, cap) = capture();
    let args = ["-e", "http", "--grep", PATTERN, "--only-matching"];
    let (_a, one, code, err) = run(&cap, &[&args[..], &["-j", "1"]].concat());
    assert_eq!(code, 0, "{err}");
    let (_b, two, code, err) = run(&cap, &[&args[..], &["-j", "2"]].concat());
    assert_eq!(code, 0, "{err}");
    let skip = ["report.summary.json", "report.traffic.json"];
    let (a, b) = (tree_files(&one, &skip), tree_files(&two, &skip));
    let names: Vec<&String> = a.keys().collect();
    assert_eq!(names.len(), 6 + 3, "{names:?}");
    assert_eq!(names, b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        // report.xml names the files by their paths.
        let text =
            |b: &[u8], dir: &Path| String::from_utf8_lossy(b).replace(dir.to_str().unwrap(), "OUT");
        assert_eq!(text(bytes, &one), text(&b[name], &two), "{name}");
    }
}

#[test]
fn without_only_matching_every_connection_is_written_with_its_count() {
    let (_c, cap) = capture();
    let (_n, normal, code, err) = run(&cap, &[]);
    assert_eq!(code, 0, "{err}");
    // "TO.{0,2}N-7" would match D's "TO", hole, "N-7" if the hole's zeros
    // were searched, or if the bytes either side of it were joined.
    let (_g, counted, code, err) = run(
        &cap,
        &[
            "--grep",
            PATTERN,
            "--grep",
            "gamma",
            "--grep",
            "TO.{0,2}N-7",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(flows(&counted), flows(&normal));
    assert_eq!(flows(&counted).len(), 8);
    let report = lines(&counted.join("report.jsonl"));
    let counts: BTreeMap<String, u64> = report
        .iter()
        .map(|v| {
            (
                v["file"].as_str().unwrap().to_string(),
                v["grep_matches"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeMap<String, u64> = [
        (cs(A), 1),
        (sc(A), 0),
        (cs(B), 0),
        (sc(B), 1),
        (cs(C), 0),
        (sc(C), 1),
        // The hole cuts the token: no match.
        (cs(D), 0),
        (sc(D), 0),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    // The flow file of D holds the token's letters around two zeros.
    assert!(flows(&normal)[&cs(D)].windows(7).any(|w| w == b"TO\0\0N-7"));
    let plain: Vec<Value> = report.into_iter().map(without_grep).collect();
    assert_eq!(plain, lines(&normal.join("report.jsonl")));
    // Without --grep, no line has the field.
    assert!(lines(&normal.join("report.jsonl"))
        .iter()
        .all(|v| v.get("grep_matches").is_none()));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(counted.join("report.summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["grep"],
        serde_json::json!({
            "connections_matching": 3,
            "connections_not_matching": 1,
            "only_matching": false
        })
    );
    assert_eq!(summary["directions"], 8);
}

#[test]
fn pattern_options_and_refusals() {
    let (_c, cap) = capture();
    // Case folding, fixed strings and hex ("TOKEN-7" as "token-7", and in hex).
    for args in [
        &["--grep", "token-7", "--grep-ignore-case", "--grep-fixed"][..],
        &["--grep-hex", "--grep", "54 4f 4b 45 4e 2d 37"][..],
    ] {
        let all = [args, &["--only-matching"][..]].concat();
        let (_k, kept, code, err) = run(&cap, &all);
        assert_eq!(code, 0, "{args:?}: {err}");
        let names: Vec<String> = flows(&kept).into_keys().collect();
        assert_eq!(names, sorted(vec![cs(A), sc(A), cs(B), sc(B)]), "{args:?}");
    }
    // Patterns from a file.
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("patterns");
    std::fs::write(&list, "gamma\n\nalpha\n").unwrap();
    let (_k, kept, code, err) = run(
        &cap,
        &["--grep-file", list.to_str().unwrap(), "--only-matching"],
    );
    assert_eq!(code, 0, "{err}");
    let names: Vec<String> = flows(&kept).into_keys().collect();
    assert_eq!(names, sorted(vec![cs(A), sc(A), cs(C), sc(C)]));
    // Refused, with the reason, and nothing written.
    for (args, message) in [
        (
            &["--only-matching"][..],
            "--only-matching needs patterns: give --grep PATTERN or --grep-file FILE",
        ),
        (
            &["--grep", "x", "--only-matching", "-K"][..],
            "--only-matching cannot be used with -K",
        ),
        (
            &["--grep", "x", "-c"][..],
            "--grep keeps flow files and report lines: it cannot be used with -c, -C or -D",
        ),
        (
            &["--grep", "a*"][..],
            "--grep: pattern 0 matches the empty string",
        ),
    ] {
        let (_k, out, code, err) = run(&cap, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!out.join("report.jsonl").exists(), "{args:?}");
    }
}

#[test]
fn indexes_and_reports_alone_follow_the_flow_files() {
    let (_c, cap) = capture();
    // -I: the .findx of a connection dropped goes with its flow files.
    let (_k, kept, code, err) = run(&cap, &["-I", "--grep", PATTERN, "--only-matching"]);
    assert_eq!(code, 0, "{err}");
    let mut expected: Vec<String> = [A, B]
        .iter()
        .flat_map(|&p| [cs(p), sc(p)])
        .flat_map(|n| [format!("{n}.findx"), n])
        .collect();
    expected.sort();
    let names: Vec<String> = flows(&kept).into_keys().collect();
    assert_eq!(names, expected);
    // -F X: no flow files; the report holds the lines of A and B only.
    let (_k, kept, code, err) = run(&cap, &["-F", "X", "--grep", PATTERN, "--only-matching"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(flows(&kept).len(), 0, "{:?}", flows(&kept).keys());
    let files: Vec<String> = lines(&kept.join("report.jsonl"))
        .iter()
        .map(|v| v["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(files, [cs(A), sc(A), cs(B), sc(B)]);
}

#[test]
fn flowsplit_grep_takes_its_patterns_before_the_capture() {
    let (_c, cap) = capture();
    let o = flowsplit(&[
        "grep".as_ref(),
        PATTERN.as_ref(),
        "-r".as_ref(),
        cap.as_os_str(),
        "--grep".as_ref(),
        "alpha".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--grep is for a run that writes flow files: flowsplit grep takes its patterns before the capture"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}
