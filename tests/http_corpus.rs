//! HTTP carving over the public captures in `../shared/corpus/`.
//!
//! For every capture with HTTP bodies in the oracles, flow files are written
//! by a *producer* (tcpflow 1.6.1: `tcpflow -r FILE -o DIR`; flowsplit's own
//! pipeline can be added as a second [`Producer`]), then
//! `flowsplit::http::carve_dirs` carves them, and the bodies it wrote are
//! compared with
//!
//! - `ORACLE_tshark_http.tsv` (`tshark --export-objects http`): every object
//!   tshark exports must be among our bodies with the same sha256, except the
//!   differences listed in [`TSHARK_DIFFS`], each with its reason;
//! - `ORACLE_tcpflow.tsv`, `mode=http` (`tcpflow -e http`): every body
//!   tcpflow carves must be among ours with the same bytes, except those in
//!   [`TCPFLOW_DIFFS`], each with its reason, and under the same file name
//!   (or that name with an extension added, where tcpflow gives none and
//!   mime-db knows the Content-Type: see [`same_or_extended`]).
//!
//! Both lists must be exact: an entry that no longer differs fails the test
//! too, so the lists stay true (except entries for flowsplit's own flows
//! that wait on the capture pipeline decoding more link types and tunnels).
//! `flowsplit http DIR` must give the same bodies over both producers' flows
//! where both wrote the flows: the two lists for flowsplit's flows are the
//! tcpflow lists minus what tcpflow could not decode, plus what the pipeline
//! cannot decode yet. A table of every capture's counts is written
//! to `target/http_corpus_<producer>.tsv`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flowsplit::http::{carve_dirs, HttpOptions, INDEX_NAME};

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("ORACLE_tshark_http.tsv").is_file(),
        "the corpus is missing: expected {} (see its README.md)",
        dir.display()
    );
    dir
}

/// Rows of a TSV file with a header, as maps from column name to value.
fn tsv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Who writes the flow files that are carved.
#[derive(Debug, Clone, Copy)]
enum Producer {
    /// `tcpflow -r FILE -o DIR` (tcpflow 1.6.1, default mode).
    Tcpflow,
    /// `flowsplit -r FILE -o DIR` (this crate's pipeline).
    Flowsplit,
}

impl Producer {
    fn name(self) -> &'static str {
        match self {
            Producer::Tcpflow => "tcpflow",
            Producer::Flowsplit => "flowsplit",
        }
    }

    /// The differences expected with this producer: (tshark, tcpflow).
    fn diffs(self) -> (&'static [Diff], &'static [Diff]) {
        match self {
            Producer::Tcpflow => (TSHARK_DIFFS, TCPFLOW_DIFFS),
            Producer::Flowsplit => (FLOWSPLIT_TSHARK_DIFFS, FLOWSPLIT_TCPFLOW_DIFFS),
        }
    }

    /// Check the producer can run at all; fail loudly if not.
    fn check(self) {
        match self {
            Producer::Tcpflow => {
                let ok = Command::new("tcpflow")
                    .arg("-V")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok();
                assert!(
                    ok,
                    "tcpflow is not installed (this test needs tcpflow 1.6.1 on PATH, e.g. `apt-get install tcpflow`)"
                );
            }
            Producer::Flowsplit => {}
        }
    }

    /// Write the flow files of `pcap` into `out`. An error means the
    /// producer could not read the capture (not a test failure by itself).
    fn produce(self, pcap: &Path, out: &Path) -> Result<(), String> {
        let program = match self {
            Producer::Tcpflow => "tcpflow",
            Producer::Flowsplit => env!("CARGO_BIN_EXE_flowsplit"),
        };
        match self {
            Producer::Tcpflow | Producer::Flowsplit => {
                let o = Command::new(program)
                    .arg("-r")
                    .arg(pcap)
                    .arg("-o")
                    .arg(out)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .output()
                    .map_err(|e| e.to_string())?;
                if o.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                }
            }
        }
    }
}

/// An expected difference: (capture, object or file name, reason).
type Diff = (&'static str, &'static str, &'static str);

/// The capture pipeline does not (yet) decode this capture's link type or
/// tunnel, so it writes no flow for the message. Entries with this reason
/// may stop differing without failing the test: the pipeline is growing.
const NOT_DECODED_YET: &str =
    "flowsplit's pipeline writes no flow for it: link type or tunnel not decoded (yet)";

/// tshark objects not carved with the same sha256 over flowsplit's own flows.
const FLOWSPLIT_TSHARK_DIFFS: &[Diff] = &[
    ("arkime/tests/pcap/80211http.pcap", "%2f", NOT_DECODED_YET),
    ("arkime/tests/pcap/80211http.pcap", "favicon.ico", NOT_DECODED_YET),
    ("arkime/tests/pcap/80211http.pcap", "post(1).php", NOT_DECODED_YET),
    ("arkime/tests/pcap/80211http.pcap", "post(2).php", NOT_DECODED_YET),
    ("arkime/tests/pcap/80211http.pcap", "post(3).php", NOT_DECODED_YET),
    ("arkime/tests/pcap/80211http.pcap", "post.php", NOT_DECODED_YET),
    ("arkime/tests/pcap/gre-erspan-vxlan.pcap", "Hello", NOT_DECODED_YET),
    ("dpkt/examples/data/nb6-http.pcap", "%2f", NOT_DECODED_YET),
    ("dpkt/examples/data/nb6-http.pcap", "%2f(1)", NOT_DECODED_YET),
    ("tcpflow/samplePcaps/jpegs.cap", "bins=1", NO_HEAD),
    ("tcpflow/samplePcaps/jpegs.cap", "xcms(1).asp", NO_HEAD),
    ("tcpflow/tests/test1-out-of-order.pcap", "object1", NO_HEAD),
    ("tcpflow/tests/test1-part2.pcap", "object6", NO_HEAD),
    ("zeek/testing/btest/Traces/erspan.pcap", "%2f", NOT_DECODED_YET),
    (
        "zeek/testing/btest/Traces/erspan.pcap",
        "WebResource.axd%3fd=5TAsHrCJAu1DvsdlCV06vQ-bjb9GsY4sfhZPomV5EbkR5eecJBZqymEW0UbeXSfzgOkL8KPut2YH0E8WImHB1Pp2CDc1&t=634258778644828874",
        NOT_DECODED_YET,
    ),
    ("zeek/testing/btest/Traces/erspan.pcap", "bgximg.png", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "blank.gif", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "blank.js%3frev=QGOYAJlouiWgFRlhHVlMKA%3D%3D", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "favicon.ico", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "gosearch15.png", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "imnhdr.gif", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "mossfgimg.png", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "selbg.png", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "siteIcon.png", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "wiki.css%3frev=pOVpruQJauHtoX04fhoGSA%3D%3D", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/erspan.pcap", "wpmenuarrow.png", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/mixed-vlan-mpls.pcap", "%2f(1)", NO_HEAD),
    ("zeek/testing/btest/Traces/mixed-vlan-mpls.pcap", "%2f(2)", NO_HEAD),
    ("zeek/testing/btest/Traces/mixed-vlan-mpls.pcap", "%2f(3)", NO_HEAD),
    ("zeek/testing/btest/Traces/nflog-http.pcap", "%2f", NOT_DECODED_YET),
    ("zeek/testing/btest/Traces/tunnels/ayiya3.pcap", "%2f", NOT_DECODED_YET),
    (
        "zeek/testing/btest/Traces/tunnels/gtp/gtp2_different_udp_port.pcap",
        "728x90_nx8com.swf%3fclickTAG=http%3A%2F%2Fwww.epicgameads.com%2Fads%2FbannerclickPage.php%3Fid%3De3ubwU6IF%26pd%3D1%26adid%3D0%26icpc%3D1%26axid%3D0%26uctt%3D1%26channel%3D0%26cac%3D1%26t%3D728x90%26cb%3D1333458881",
        NOT_DECODED_YET,
    ),
    (
        "zeek/testing/btest/Traces/tunnels/gtp/gtp2_different_udp_port.pcap",
        "728x90_nx8com.swf%3fclickTAG=http%3A%2F%2Fwww.epicgameads.com%2Fads%2FbannerclickPage.php%3Fid%3De3ubwU6IF%26pd%3D1%26adid%3D0%26icpc%3D1%26axid%3D0%26uctt%3D1%26channel%3D4%26cac%3D1%26t%3D728x90%26cb%3D1333458879",
        NOT_DECODED_YET,
    ),
    ("zeek/testing/btest/Traces/tunnels/vxlan-encapsulated-http.pcap", "svg", NOT_DECODED_YET),
];

/// tcpflow `-e http` bodies not carved with the same bytes over flowsplit's flows.
const FLOWSPLIT_TCPFLOW_DIFFS: &[Diff] = &[
    (
        "arkime/tests/pcap/80211http.pcap",
        "014.017.032.211.00080-172.005.005.113.49417-HTTPBODY-001.html",
        NOT_DECODED_YET,
    ),
    (
        "arkime/tests/pcap/80211http.pcap",
        "014.017.032.211.00080-172.005.005.113.49417-HTTPBODY-005.html",
        NOT_DECODED_YET,
    ),
    (
        "arkime/tests/pcap/80211http.pcap",
        "014.017.032.211.00080-172.005.005.113.49417-HTTPBODY-006.html",
        NOT_DECODED_YET,
    ),
    (
        "arkime/tests/pcap/80211http.pcap",
        "014.017.032.211.00080-172.005.005.113.49417-HTTPBODY-007.html",
        NOT_DECODED_YET,
    ),
    TCPFLOW_DIFFS[0],
];

/// tcpflow cannot read the capture's link type or decapsulate its tunnel,
/// so its output has no flow with this message (corpus README, COMPARE_http.tsv).
const NO_FLOW: &str =
    "tcpflow writes no flow for it: link type, tunnel or IPv6 encapsulation it cannot decode";
/// tshark exports a "body-continuation(no-header)": bytes of a response whose
/// head is not in the flow, so there is no HTTP message to carve.
const NO_HEAD: &str =
    "tshark exports a body continuation without an HTTP head; the flow holds no head \
     (lost or in IP fragments tcpflow zero-fills), so there is nothing to frame";

/// tshark objects we do not carve with the same sha256 over tcpflow's flows:
/// (capture, object name, reason).
const TSHARK_DIFFS: &[Diff] = &[
    ("arkime/tests/pcap/gre-erspan-vxlan.pcap", "Hello", NO_FLOW),
    ("arkime/tests/pcap/http-empty-useragent.pcap", "%2f", NO_FLOW),
    (
        "arkime/tests/pcap/socks5-http-302-frag.pcap",
        "%2f",
        "tcpflow's flows stop after the SOCKS5 handshake: the HTTP messages are in IP fragments it does not reassemble",
    ),
    ("dpkt/examples/data/nb6-http.pcap", "%2f", NO_FLOW),
    ("dpkt/examples/data/nb6-http.pcap", "%2f(1)", NO_FLOW),
    ("gopacket/pcap/test_loopback.pcap", "gopacket", NO_FLOW),
    ("tcpflow/samplePcaps/jpegs.cap", "bins=1", NO_HEAD),
    ("tcpflow/samplePcaps/jpegs.cap", "xcms(1).asp", NO_HEAD),
    ("tcpflow/tests/test1-out-of-order.pcap", "object1", NO_HEAD),
    ("tcpflow/tests/test1-part2.pcap", "object6", NO_HEAD),
    ("zeek/testing/btest/Traces/erspan.pcap", "%2f", NO_FLOW),
    (
        "zeek/testing/btest/Traces/erspan.pcap",
        "WebResource.axd%3fd=5TAsHrCJAu1DvsdlCV06vQ-bjb9GsY4sfhZPomV5EbkR5eecJBZqymEW0UbeXSfzgOkL8KPut2YH0E8WImHB1Pp2CDc1&t=634258778644828874",
        NO_FLOW,
    ),
    ("zeek/testing/btest/Traces/erspan.pcap", "bgximg.png", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "blank.gif", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "blank.js%3frev=QGOYAJlouiWgFRlhHVlMKA%3D%3D", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "favicon.ico", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "gosearch15.png", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "imnhdr.gif", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "mossfgimg.png", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "selbg.png", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "siteIcon.png", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "wiki.css%3frev=pOVpruQJauHtoX04fhoGSA%3D%3D", NO_FLOW),
    ("zeek/testing/btest/Traces/erspan.pcap", "wpmenuarrow.png", NO_FLOW),
    ("zeek/testing/btest/Traces/http/basic-auth-with-colon.pcap", "%2f", NO_FLOW),
    ("zeek/testing/btest/Traces/mixed-vlan-mpls.pcap", "%2f(1)", NO_HEAD),
    ("zeek/testing/btest/Traces/mixed-vlan-mpls.pcap", "%2f(2)", NO_HEAD),
    ("zeek/testing/btest/Traces/mixed-vlan-mpls.pcap", "%2f(3)", NO_HEAD),
    ("zeek/testing/btest/Traces/nflog-http.pcap", "%2f", NO_FLOW),
    ("zeek/testing/btest/Traces/tunnels/ayiya3.pcap", "%2f", NO_FLOW),
    (
        "zeek/testing/btest/Traces/tunnels/gtp/gtp2_different_udp_port.pcap",
        "728x90_nx8com.swf%3fclickTAG=http%3A%2F%2Fwww.epicgameads.com%2Fads%2FbannerclickPage.php%3Fid%3De3ubwU6IF%26pd%3D1%26adid%3D0%26icpc%3D1%26axid%3D0%26uctt%3D1%26channel%3D0%26cac%3D1%26t%3D728x90%26cb%3D1333458881",
        NO_FLOW,
    ),
    (
        "zeek/testing/btest/Traces/tunnels/gtp/gtp2_different_udp_port.pcap",
        "728x90_nx8com.swf%3fclickTAG=http%3A%2F%2Fwww.epicgameads.com%2Fads%2FbannerclickPage.php%3Fid%3De3ubwU6IF%26pd%3D1%26adid%3D0%26icpc%3D1%26axid%3D0%26uctt%3D1%26channel%3D4%26cac%3D1%26t%3D728x90%26cb%3D1333458879",
        NO_FLOW,
    ),
    ("zeek/testing/btest/Traces/tunnels/vxlan-encapsulated-http.pcap", "svg", NO_FLOW),
];

/// tcpflow `-e http` bodies we do not carve with the same bytes: (capture,
/// tcpflow's body file name, reason).
const TCPFLOW_DIFFS: &[Diff] = &[(
    "zeek/testing/btest/Traces/http/x-gzip.pcap",
    "127.000.000.001.00080-127.000.000.001.54890-HTTPBODY-001",
    "tcpflow 1.6.1 only decodes a Content-Encoding of exactly `gzip` or `deflate` and saves this \
     `x-gzip` body encoded; we decode it, and our bytes match tshark's",
)];

/// A carved body: file name and sha256.
#[derive(Debug, Clone)]
struct Body {
    file: String,
    sha256: String,
}

/// Carve the producer's output for `pcap`; returns bodies, or why none.
fn carve_capture(producer: Producer, pcap: &Path) -> Result<Vec<Body>, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    producer.produce(pcap, &out)?;
    let summary = carve_dirs(std::slice::from_ref(&out), &HttpOptions::default())
        .map_err(|e| format!("carve_dirs failed: {e}"))?;
    assert!(
        summary.errors.is_empty(),
        "{}: carving errors: {:?}",
        pcap.display(),
        summary.errors
    );
    let mut bodies = Vec::new();
    for entry in walkdir::WalkDir::new(&out) {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_name() != INDEX_NAME {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| e.to_string())?;
        for line in text.lines() {
            let rec: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("bad index line: {e}"))?;
            for key in ["request_body", "response_body"] {
                let b = &rec[key];
                if let (Some(file), Some(sha)) = (b["file"].as_str(), b["sha256"].as_str()) {
                    let path = entry.path().with_file_name(file);
                    let bytes =
                        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    assert_eq!(
                        sha256(&bytes),
                        sha,
                        "index sha256 of {} differs from the file's",
                        path.display()
                    );
                    bodies.push(Body {
                        file: file.to_string(),
                        sha256: sha.to_string(),
                    });
                }
            }
        }
    }
    Ok(bodies)
}

/// `-HTTPBODY-NNN[.ext]`: the part of a body file's name after the flow name.
fn body_suffix(name: &str) -> &str {
    name.find("-HTTP").map_or(name, |i| &name[i..])
}

/// Whether our body file name `ours` is tcpflow's `theirs`, or, where
/// tcpflow gives no extension (a type it does not know, such as
/// `application/x-javascript`), `theirs` with the extension mime-db gives
/// the type (see `extension_for` in src/http/name.rs).
fn same_or_extended(ours: &str, theirs: &str) -> bool {
    let tcpflow_has_ext = theirs
        .rsplit('-')
        .next()
        .is_some_and(|number| number.contains('.'));
    ours == theirs
        || (!tcpflow_has_ext
            && ours.strip_prefix(theirs).is_some_and(|ext| {
                ext.len() > 1
                    && ext.starts_with('.')
                    && ext[1..].bytes().all(|b| b.is_ascii_alphanumeric())
            }))
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn compare(producer: Producer) {
    producer.check();
    let corpus = corpus();
    let tshark = tsv(&corpus.join("ORACLE_tshark_http.tsv"));
    let tcpflow: Vec<_> = tsv(&corpus.join("ORACLE_tcpflow.tsv"))
        .into_iter()
        .filter(|r| r["mode"] == "http" && r["file"].contains("-HTTPBODY-"))
        .collect();
    let captures: BTreeSet<String> = tshark
        .iter()
        .chain(&tcpflow)
        .map(|r| r.get("pcap").cloned().unwrap_or_default())
        .collect();

    let mut tshark_missing: BTreeSet<(String, String)> = BTreeSet::new();
    let mut tcpflow_missing: BTreeSet<(String, String)> = BTreeSet::new();
    let mut misnamed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut table = String::from(
        "pcap\tproducer_error\tbodies\ttshark_objects\ttshark_matched\ttcpflow_bodies\ttcpflow_matched\n",
    );
    for cap in &captures {
        let result = carve_capture(producer, &corpus.join(cap));
        let (bodies, err) = match result {
            Ok(b) => (b, String::new()),
            Err(e) => (Vec::new(), e),
        };
        let shas: BTreeSet<&str> = bodies.iter().map(|b| b.sha256.as_str()).collect();
        let (mut t_all, mut t_ok, mut f_all, mut f_ok) = (0, 0, 0, 0);
        for r in tshark.iter().filter(|r| &r["pcap"] == cap) {
            // An empty object is no body; we write no file for it.
            if r["sha256"] == EMPTY_SHA256 {
                continue;
            }
            t_all += 1;
            if shas.contains(r["sha256"].as_str()) {
                t_ok += 1;
            } else {
                tshark_missing.insert((cap.clone(), r["object_name"].clone()));
            }
        }
        for r in tcpflow.iter().filter(|r| &r["pcap"] == cap) {
            f_all += 1;
            if shas.contains(r["sha256"].as_str()) {
                f_ok += 1;
                let same_name = bodies.iter().any(|b| {
                    b.sha256 == r["sha256"]
                        && match producer {
                            Producer::Tcpflow => same_or_extended(&b.file, &r["file"]),
                            // Flow names are the pipeline's (it names VLAN 0
                            // and reused ports its own way); the body part
                            // of the name must match.
                            Producer::Flowsplit => {
                                same_or_extended(body_suffix(&b.file), body_suffix(&r["file"]))
                            }
                        }
                });
                if !same_name {
                    misnamed.insert((cap.clone(), r["file"].clone()));
                }
            } else {
                tcpflow_missing.insert((cap.clone(), r["file"].clone()));
            }
        }
        let _ = writeln!(
            table,
            "{cap}\t{}\t{}\t{t_all}\t{t_ok}\t{f_all}\t{f_ok}",
            err.replace(['\t', '\n'], " "),
            bodies.len()
        );
    }
    let report = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("http_corpus_{}.tsv", producer.name()));
    let _ = std::fs::write(&report, &table);

    let (tshark_diffs, tcpflow_diffs) = producer.diffs();
    let known_t: BTreeSet<(String, String)> = tshark_diffs
        .iter()
        .map(|(p, o, _)| (p.to_string(), o.to_string()))
        .collect();
    let known_f: BTreeSet<(String, String)> = tcpflow_diffs
        .iter()
        .map(|(p, o, _)| (p.to_string(), o.to_string()))
        .collect();
    let mut problems = Vec::new();
    for m in tshark_missing.difference(&known_t) {
        problems.push(format!("tshark object not carved: {}\t{}", m.0, m.1));
    }
    let may_vanish = |list: &[Diff], m: &(String, String)| {
        list.iter()
            .any(|(p, o, why)| *p == m.0 && *o == m.1 && *why == NOT_DECODED_YET)
    };
    for m in known_t.difference(&tshark_missing) {
        if may_vanish(tshark_diffs, m) {
            continue;
        }
        problems.push(format!(
            "listed in TSHARK_DIFFS but carved fine now: {}\t{}",
            m.0, m.1
        ));
    }
    for m in tcpflow_missing.difference(&known_f) {
        problems.push(format!("tcpflow body not carved: {}\t{}", m.0, m.1));
    }
    for m in &misnamed {
        problems.push(format!(
            "same bytes as tcpflow but not under tcpflow's name: {}\t{}",
            m.0, m.1
        ));
    }
    for m in known_f.difference(&tcpflow_missing) {
        if may_vanish(tcpflow_diffs, m) {
            continue;
        }
        problems.push(format!(
            "listed in TCPFLOW_DIFFS but carved fine now: {}\t{}",
            m.0, m.1
        ));
    }
    assert!(
        problems.is_empty(),
        "{} problems ({} per capture in {}):\n{}",
        problems.len(),
        producer.name(),
        report.display(),
        problems.join("\n")
    );
}

#[test]
fn carving_tcpflow_output_matches_tshark_and_tcpflow() {
    compare(Producer::Tcpflow);
}

#[test]
fn carving_flowsplit_output_matches_tshark_and_tcpflow() {
    compare(Producer::Flowsplit);
}
