//! Every file Zeek's own tests hash out of HTTP captures in the shared
//! corpus (`ORACLE_zeek_files.tsv`: bodies, request bodies, multipart parts,
//! and whole objects Zeek stitches from `206` ranges) must be among the
//! files `flowsplit -r CAP -o OUT -e http` writes, by SHA-256, except the
//! rows listed in [`EXPECTED_MISSING`] with their reason. Rows without a
//! hash (Zeek saw only part of the file) are checked for nothing and
//! listed too, so that the list of rows stays exact.

mod common;

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("ORACLE_zeek_files.tsv").is_file(),
        "the corpus is missing: expected {} (see its README.md)",
        dir.display()
    );
    dir
}

/// Rows Zeek hashes that are not (or cannot be) among flowsplit's files:
/// (capture, file_index, reason).
const EXPECTED_MISSING: &[(&str, &str, &str)] = &[
    (
        "zeek/testing/btest/Traces/http/206_example_b.pcap",
        "1",
        "Zeek gives no hash: it saw 206024 of 1022920 bytes on the second connection alone",
    ),
    (
        "zeek/testing/btest/Traces/http/byteranges.pcap",
        "0",
        "Zeek gives no hash: it saw 54229 of 605292323 bytes",
    ),
    (
        "zeek/testing/btest/Traces/ftp/bigtransfer.pcap",
        "0",
        "FTP data, not HTTP; Zeek gives no hash",
    ),
    (
        "zeek/testing/btest/Traces/ftp/bigtransfer.pcap",
        "1",
        "FTP data, not HTTP; Zeek gives no hash",
    ),
];

/// SHA-256 of every file flowsplit writes for `pcap` with `-e http`.
fn hashes(pcap: &std::path::Path) -> BTreeSet<String> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = common::flowsplit(&[
        OsStr::new("-q"),
        OsStr::new("-r"),
        pcap.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("-e"),
        OsStr::new("http"),
    ]);
    assert!(run.status.success(), "{}: {run:?}", pcap.display());
    walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            // Streamed: an object with holes may be a large sparse file.
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(e.path()).unwrap(), &mut h).unwrap();
            h.finalize().iter().map(|x| format!("{x:02x}")).collect()
        })
        .collect()
}

#[test]
fn every_file_zeek_hashes_is_among_flowsplits_files() {
    let corpus = corpus();
    let text = std::fs::read_to_string(corpus.join("ORACLE_zeek_files.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let rows: Vec<BTreeMap<&str, &str>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().copied().zip(l.split('\t')).collect())
        .collect();
    let mut by_pcap: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut missing = BTreeSet::new();
    for r in &rows {
        let (pcap, index, sha) = (r["pcap"], r["file_index"], r["sha256"]);
        let ok = !sha.is_empty()
            && by_pcap
                .entry(pcap)
                .or_insert_with(|| hashes(&corpus.join(pcap)))
                .contains(sha);
        if !ok {
            missing.insert((pcap, index));
        }
    }
    let expected: BTreeSet<(&str, &str)> =
        EXPECTED_MISSING.iter().map(|(p, i, _)| (*p, *i)).collect();
    let unexpected: Vec<_> = missing.difference(&expected).collect();
    let now_found: Vec<_> = expected.difference(&missing).collect();
    assert!(
        unexpected.is_empty() && now_found.is_empty(),
        "Zeek files not found: {unexpected:?}\nlisted as missing but found: {now_found:?}"
    );
}
