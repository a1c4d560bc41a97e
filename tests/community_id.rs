//! The `community_id` of every direction of every capture in the shared
//! corpus (`../shared/corpus/MANIFEST.tsv`) and of every record of its HTTP
//! index equals the value of a reference written here from the
//! specification (<https://github.com/corelight/community-id-spec>), not
//! from the crate flowsplit uses; and, where tshark computes one for the
//! capture's packets, tshark's.
//!
//! The specification, version 1, for TCP: order the endpoints so that the
//! smaller address comes first (the smaller port when the addresses are
//! equal); SHA-1 over the seed (2 bytes, network order), the source
//! address, the destination address (4 or 16 bytes each, network order),
//! the protocol (1 byte, 6), one zero byte of padding, the source port and
//! the destination port (2 bytes each, network order); the result is `1:`
//! followed by the digest in standard base64.

mod common;

use base64::Engine;
use common::corpus_dir;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// The reference: Community ID v1 of a TCP connection, seed `seed`.
fn reference(seed: u16, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> String {
    fn bytes(a: IpAddr) -> Vec<u8> {
        match a {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        }
    }
    let (mut a, mut b) = ((bytes(src), sport), (bytes(dst), dport));
    if (&b.0, b.1) < (&a.0, a.1) {
        std::mem::swap(&mut a, &mut b);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&a.0);
    h.update(&b.0);
    h.update([6u8, 0u8]);
    h.update(a.1.to_be_bytes());
    h.update(b.1.to_be_bytes());
    format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    )
}

#[test]
fn the_reference_gives_the_specs_example_either_way() {
    let (a, b) = ("1.2.3.4".parse().unwrap(), "5.6.7.8".parse().unwrap());
    assert_eq!(
        reference(0, a, 1122, b, 3344),
        "1:wCb3OG7yAFWelaUydu0D+125CLM="
    );
    assert_eq!(
        reference(0, b, 3344, a, 1122),
        "1:wCb3OG7yAFWelaUydu0D+125CLM="
    );
    assert_ne!(
        reference(1, a, 1122, b, 3344),
        "1:wCb3OG7yAFWelaUydu0D+125CLM="
    );
}

/// The captures of the manifest (its first column).
fn captures(corpus: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("the manifest");
    text.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

fn json_lines(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Every Community ID tshark gives a packet of `capture` (all layers).
fn tshark_ids(capture: &Path) -> BTreeSet<String> {
    let out = Command::new("tshark")
        .args(["--enable-protocol", "communityid", "-n", "-r"])
        .arg(capture)
        .args(["-Y", "tcp", "-T", "fields", "-e", "communityid"])
        .output()
        .expect("tshark runs");
    String::from_utf8_lossy(&out.stdout)
        .split(['\n', ','])
        .filter(|s| s.starts_with("1:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_corpus_direction_and_http_record_has_the_references_community_id() {
    let corpus = corpus_dir();
    let (mut directions, mut records, mut tshark_checked) = (0, 0, 0);
    let mut not_in_tshark = Vec::new();
    for capture in captures(&corpus) {
        let path = corpus.join(&capture);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let run = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
            .args(["-q", "-e", "http", "-r"])
            .arg(&path)
            .arg("-o")
            .arg(&out)
            .output()
            .expect("flowsplit runs");
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{capture}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let report = json_lines(&out.join("report.jsonl"));
        let tshark = tshark_ids(&path);
        let mut by_file = HashMap::new();
        for line in &report {
            let addr = |k: &str| -> IpAddr { line[k].as_str().unwrap().parse().unwrap() };
            let port = |k: &str| line[k].as_u64().unwrap() as u16;
            let want = reference(0, addr("src"), port("sport"), addr("dst"), port("dport"));
            assert_eq!(line["community_id"], want.as_str(), "{capture}: {line}");
            // Tunnelled directions: tshark hashes the outer packet too, so
            // only membership is asked, and only of what tshark decodes.
            if !tshark.is_empty() {
                tshark_checked += 1;
                if !tshark.contains(&want) {
                    not_in_tshark.push(format!("{capture}: {}", line["file"]));
                }
            }
            by_file.insert(line["file"].as_str().unwrap().to_string(), want);
            directions += 1;
        }
        for rec in json_lines(&out.join("http.jsonl")) {
            // An object assembled from range parts: its first part's flow.
            let first_part = rec["object"]["parts"][0][2]
                .as_str()
                .and_then(|p| p.split("-HTTP").next());
            let file = rec["request_file"]
                .as_str()
                .or(rec["response_file"].as_str())
                .or(first_part)
                .unwrap_or_else(|| panic!("{capture}: a record with no flow file: {rec}"));
            let want = by_file
                .get(file)
                .unwrap_or_else(|| panic!("{capture}: {file} is not in the report"));
            assert_eq!(rec["community_id"], want.as_str(), "{capture}: {rec}");
            records += 1;
        }
    }
    eprintln!(
        "{directions} directions and {records} HTTP records checked against the reference; \
         {tshark_checked} directions against tshark, not found there: {not_in_tshark:#?}"
    );
    assert!(
        directions > 400,
        "only {directions} directions in the corpus"
    );
    assert!(records > 0, "no HTTP records in the corpus");
    assert!(not_in_tshark.is_empty(), "{not_in_tshark:#?}");
}
