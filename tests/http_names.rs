//! Body-file names end to end (issue 27): `--http-names url` through both
//! `-e http` and `flowsplit http DIR`, and no file replaced that an earlier
//! run did not write and list: a planted file survives a re-run.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn flowsplit(args: &[&str], dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(args)
        .arg(dir)
        .output()
        .expect("flowsplit runs");
    assert!(
        out.status.success(),
        "flowsplit {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn capture(name: &str) -> String {
    format!("{}/testdata/http/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The body files `http.jsonl` in `dir` lists, in its order.
fn listed(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("http.jsonl")).expect("http.jsonl");
    let mut out = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        for side in ["request_body", "response_body"] {
            if let Some(f) = v[side]["file"].as_str() {
                out.push(f.to_string());
            }
        }
    }
    out
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn url_names_through_both_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let inline = tmp.path().join("inline");
    flowsplit(
        &[
            "-q",
            "-r",
            &capture("keepalive.pcap"),
            "-e",
            "http",
            "--http-names",
            "url",
            "-o",
        ],
        &inline,
    );
    let mut names = listed(&inline);
    names.sort();
    assert_eq!(names, ["one.txt", "three.html", "two.json"]);
    let post = tmp.path().join("post");
    flowsplit(&["-q", "-r", &capture("post_body.pcap"), "-o"], &post);
    flowsplit(&["http", "-q", "--http-names", "url"], &post);
    // The request body and the response body of POST /items?x=1: tshark's
    // names, the second numbered.
    assert_eq!(listed(&post), ["items%3fx=1", "items%3fx=1(1)"]);
    // HTTP/2 (h2c with prior knowledge): after the request's :path.
    let h2 = tmp.path().join("h2");
    let h2c = format!(
        "{}/testdata/tls/h2c_prior_knowledge.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    flowsplit(
        &["-q", "-r", &h2c, "-e", "http", "--http-names", "url", "-o"],
        &h2,
    );
    assert_eq!(listed(&h2), ["small.txt"]);
    // The default stays tcpflow's.
    let plain = tmp.path().join("plain");
    flowsplit(
        &["-q", "-r", &capture("keepalive.pcap"), "-e", "http", "-o"],
        &plain,
    );
    assert!(listed(&plain).iter().all(|n| n.contains("-HTTPBODY-")));
}

/// A file planted where a body would go keeps its name and bytes, on the
/// first carving and on a re-run; the bodies the earlier run wrote and
/// listed are replaced in place, not numbered again.
fn planted_file_survives(style: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("probe");
    flowsplit(&["-q", "-r", &capture("keepalive.pcap"), "-o"], &probe);
    flowsplit(&["http", "-q", "--http-names", style], &probe);
    let names = listed(&probe);
    assert_eq!(names.len(), 3, "{names:?}");
    let taken = names[1].clone();
    let body = read(&probe, &taken);

    let dir = tmp.path().join("out");
    flowsplit(&["-q", "-r", &capture("keepalive.pcap"), "-o"], &dir);
    std::fs::write(dir.join(&taken), b"not flowsplit's").unwrap();
    let mut files_after = Vec::new();
    for run in 0..2 {
        flowsplit(&["http", "-q", "--http-names", style], &dir);
        assert_eq!(read(&dir, &taken), b"not flowsplit's", "run {run}");
        let now = listed(&dir);
        assert!(!now.contains(&taken), "run {run}: {now:?}");
        let (stem, ext) = taken.rsplit_once('.').unwrap_or((&taken, ""));
        let moved = if ext.is_empty() {
            format!("{stem}(1)")
        } else {
            format!("{stem}(1).{ext}")
        };
        assert_eq!(now[1], moved, "run {run}: {now:?}");
        assert_eq!(read(&dir, &moved), body);
        assert_eq!(now[0], names[0]);
        assert_eq!(now[2], names[2]);
        files_after.push(std::fs::read_dir(&dir).unwrap().count());
    }
    // No new file on the re-run: it replaced its own bodies.
    assert_eq!(files_after[0], files_after[1]);
}

#[test]
fn planted_file_survives_a_rerun_with_tcpflow_names() {
    planted_file_survives("tcpflow");
}

#[test]
fn planted_file_survives_a_rerun_with_url_names() {
    planted_file_survives("url");
}
