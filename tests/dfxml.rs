//! The DFXML report (`-X FILE`, `report.xml`) against tcpflow 1.6.1's, both
//! read with Python's `xml.etree` as a script that parses tcpflow's report
//! would read them, on every capture in `testdata/` and in
//! `../shared/corpus/`; and flowsplit's scanner options (`-a`, `-e`, `-E`,
//! `-x`), `-F X`, `-F M` and `-S` settings.
//!
//! For every direction both tools wrote a flow file of the same name and
//! the same bytes for, the `fileobject`s must agree: `filename`, `filesize`,
//! the `tcpflow` element's `src_ipn`, `dst_ipn`, `srcport`, `dstport` and
//! `family`, the MD5 (`-e md5`) and, with `-e http`, the bodies'
//! `byte_run`s (offset, file name, size). flowsplit's report must also agree
//! with the files it wrote (sizes, MD5s of the bytes on disk) and with its
//! JSON Lines report (names and order, first and last packet times, packet
//! counts). Every other difference must be one of tcpflow's faults below,
//! each checked on the bytes, never passed over:
//!
//! - [`PADDING_ADDED`]: tcpflow's file is flowsplit's with short runs of
//!   bytes added (Ethernet padding and trailers copied into the stream, its
//!   issue #261);
//! - [`VLAN_TCI`]: tcpflow names a VLAN by its whole tag;
//! - [`PADDING_ONLY`]: a file only tcpflow wrote, holding nothing but a short
//!   run of NUL bytes (the padding of frames after a connection closed);
//! - [`CANNOT_DECODE`]: the capture has a tunnel, IPv4 fragments or IPv6 on
//!   BSD loopback, which tcpflow does not decode (corpus README), or a link
//!   type it cannot open (no report at all);
//! - [`NO_HASHDIGEST`]: tcpflow leaves `hashdigest` out for some directions;
//! - [`FILESIZE_WRONG`]: tcpflow's `filesize` is not the size of its file;
//! - [`SHORT_FLOW`], [`NOT_A_RESPONSE`], [`KNOWN_BYTE_RUNS`]: bodies tcpflow
//!   does not carve;
//! - [`KNOWN`]: differences in the flow files themselves diagnosed one by
//!   one (most in tests/corpus_tcp.rs).
//!
//! Times and packet counts are not compared with tcpflow's: tcpflow ends a
//! direction's record at its FIN and at a large sequence jump and starts
//! another for the packets after it, so its times and counts cover part of
//! a direction. Request bodies are listed by flowsplit only (tcpflow carves
//! responses). Skipped, with a line saying so, when `tcpflow` or `python3`
//! is missing (`.ci/run` installs both).

mod common;

use common::{corpus_dir, parse_report, testdata};
use md5::{Digest, Md5};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Reads a DFXML report with `xml.etree` and prints its direction
/// `fileobject`s as JSON: `filename`, `filesize`, `md5`, the `tcpflow`
/// attributes, the start and end times as `SECS.MICROS` (converted by
/// Python's `datetime`), and the `byte_run`s.
const EXTRACT: &str = r#"
import sys, json, calendar, datetime, xml.etree.ElementTree as ET
def when(text):
    if text is None:
        return None
    try:
        d = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        return 'unreadable:' + text
    return '%d.%06d' % (calendar.timegm(d.utctimetuple()), d.microsecond)
root = ET.parse(sys.argv[1]).getroot()
out = []
for fo in root.iter('fileobject'):
    tf = fo.find('tcpflow')
    if tf is None:
        continue
    h = fo.find('hashdigest')
    runs = [[int(br.get('file_offset')), br.findtext('fileobject/filename'),
             int(br.findtext('fileobject/filesize'))] for br in fo.iter('byte_run')]
    out.append({'filename': fo.findtext('filename'), 'filesize': int(fo.findtext('filesize')),
                'md5': h.text if h is not None and h.get('type') == 'MD5' else None,
                'attrs': dict(tf.attrib), 'start': when(tf.get('startime')),
                'end': when(tf.get('endtime')), 'byte_runs': runs})
print(json.dumps(out))
"#;

/// tcpflow's file is flowsplit's with short runs of bytes added.
const PADDING_ADDED: &str = "tcpflow copies Ethernet padding and trailers into the stream (its issue #261): its file is flowsplit's with runs of at most 46 bytes added";
/// tcpflow's VLAN suffix is the whole tag.
const VLAN_TCI: &str = "tcpflow's %v is the whole 802.1Q tag control field, priority bits included (24676 is priority 3, VLAN 100): the names are compared with its VLAN id";
/// Differences diagnosed one by one: (capture, file name or `*` for every
/// file of the capture, why).
#[rustfmt::skip]
const KNOWN: &[(&str, &str, &str)] = &[
    ("testdata/overlap_conflict.pcap", "*", "conflicting retransmitted bytes: tcpflow writes the last copy over the first, flowsplit keeps the first (flowsplit(1), REASSEMBLY POLICY)"),
    ("testdata/overlap_pending.pcap", "*", "conflicting retransmitted bytes: tcpflow writes the last copy over the first, flowsplit keeps the first (flowsplit(1), REASSEMBLY POLICY)"),
    ("testdata/port_reuse_open.pcap", "*", "port reuse while the first connection is open: tcpflow appends the new connection to the old file, flowsplit gives it the next counter (c1)"),
    ("zeek/testing/btest/Traces/tcp/handshake-reorder.pcap", "*", "the SYN comes after the first data: tcpflow names the stream from its first packet, flowsplit counts the connection the SYN starts as the second one on the tuple (c1)"),
    ("tcpflow/tests/bug2.pcap", "*", "tcpflow opens a new file for a retransmission arriving after the FIN: its c1 holds 1396 bytes already in the stream and 4 bytes of trailer (tests/corpus_tcp.rs)"),
    ("tcpflow/tests/test5-lines-randomized.pcap", "*", "packets out of time order: tcpflow writes the server's bytes as c1 after a c0 of Ethernet padding (tests/corpus_tcp.rs)"),
    ("zeek/testing/btest/Traces/ftp/bigtransfer.pcap", "*", "sequence jumps past 16 MiB: tcpflow starts a new file at each (its -m), flowsplit zero-fills the gap (tests/corpus_tcp.rs)"),
    ("zeek/testing/btest/Traces/http/pipelined-requests.pcap", "*", "tcpflow opens a c1 file for trailer bytes after the FIN (#261), and copies the trailers into the stream"),
    ("zeek/testing/btest/Traces/http/100-continue.pcap", "*", "tcpflow opens a c1 file for bytes after the FIN (Ethernet trailer, #261)"),
];
/// A file only tcpflow wrote, of a few NUL bytes.
const PADDING_ONLY: &str = "tcpflow writes the padding of frames after a connection closed as a file of its own (#261): NUL bytes only, at most 46";
/// The capture has what tcpflow cannot decode.
const CANNOT_DECODE: &str = "tcpflow does not decode tunnels, IP fragments, IPv6 extension headers, QinQ or IPv6 on BSD loopback, and cannot read raw IPv4/IPv6 as DLT 228/229/14, NFLOG, Cisco HDLC, PPP in HDLC framing, 802.11, radiotap, PPI, LOOP or SLL2 (corpus README; testdata/README.md)";
/// tcpflow's report has no MD5 for the direction.
const NO_HASHDIGEST: &str =
    "tcpflow 1.6.1 leaves hashdigest out for some directions with -e md5, whatever their bytes";
/// tcpflow's filesize is not its file's size.
const FILESIZE_WRONG: &str = "tcpflow's filesize leaves out bytes it inserted before the first one it saw (out-of-order start)";
/// tcpflow does not scan small flows for HTTP.
const SHORT_FLOW: &str = "tcpflow does not look for HTTP in a flow file under 80 bytes (MIN_HTTP_BUFSIZE in scan_http.cpp)";
/// tcpflow scans only flows that begin with a status line.
const NOT_A_RESPONSE: &str =
    "tcpflow looks for HTTP only in a flow file that begins with \"HTTP/1.\" (a response)";
/// Bodies carved differently, by capture, with the reason.
#[rustfmt::skip]
const KNOWN_BYTE_RUNS: &[(&str, &str)] = &[
    ("zeek/testing/btest/Traces/http/x-gzip.pcap",
     "Content-Encoding x-gzip: flowsplit decodes it (RFC 9110 makes it gzip); tcpflow writes the body as sent"),
    ("zeek/testing/btest/Traces/http/http-body-match.pcap",
     "tcpflow carves nothing from three responses whose flow files are byte for byte those of responses it carves (its ports 13578 and 33211 hold the same bytes): what it scans depends on when it closed the flow, not on the bytes"),
];

/// Corpus features (MANIFEST.tsv) tcpflow cannot decode.
fn cannot_decode(features: &str, link: &str) -> bool {
    let f: Vec<&str> = features.split(',').map(str::trim).collect();
    let has = |x: &str| f.contains(&x);
    f.iter().any(|x| {
        x.starts_with("encap-")
            && *x != "encap-null"
            && *x != "encap-radiotap"
            && *x != "encap-wlan"
    }) || has("ipfrag")
        || has("ip-in-ip")
        || (has("encap-null") && has("ipv6-tcp"))
        || link == "Raw IPv4"
        || link == "NFLOG"
}

#[derive(Debug, Clone)]
struct Object {
    /// Relative to the output folder.
    name: Option<String>,
    filesize: u64,
    md5: Option<String>,
    attrs: BTreeMap<String, String>,
    start: Option<String>,
    end: Option<String>,
    byte_runs: Vec<(u64, String, u64)>,
}

fn tools_installed() -> bool {
    for tool in ["tcpflow", "python3"] {
        if Command::new(tool).arg("-V").output().is_err() {
            eprintln!("SKIPPED: {tool} is not installed; the DFXML comparison did not run");
            return false;
        }
    }
    true
}

/// The direction fileobjects of the DFXML report at `path`, as Python's
/// xml.etree reads them, with names relative to `outdir` (as given to -o).
fn read_dfxml(path: &Path, outdir: &str) -> Vec<Object> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(EXTRACT)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}: xml.etree cannot read it: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("the extractor prints JSON");
    let prefix = format!("{outdir}/");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            let rel = |s: &str| s.strip_prefix(&prefix).unwrap_or(s).to_string();
            Object {
                name: o["filename"].as_str().map(rel),
                filesize: o["filesize"].as_u64().expect("filesize"),
                md5: o["md5"].as_str().map(String::from),
                attrs: o["attrs"]
                    .as_object()
                    .expect("attributes")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect(),
                start: o["start"].as_str().map(String::from),
                end: o["end"].as_str().map(String::from),
                byte_runs: o["byte_runs"]
                    .as_array()
                    .expect("byte runs")
                    .iter()
                    .map(|r| {
                        (
                            r[0].as_u64().unwrap(),
                            rel(r[1].as_str().unwrap()),
                            r[2].as_u64().unwrap(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The MD5 of the file at `path`, read in blocks (some flow files of the
/// corpus are gigabytes of zero-filled gap).
fn md5_file(path: &Path) -> String {
    let mut hasher = Md5::new();
    let mut file = std::fs::File::open(path).unwrap();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

/// True when `longer` is `shorter` with runs of at most 46 bytes added (the
/// most Ethernet pads a frame with), found as a subsequence.
fn padding_added(longer: &[u8], shorter: &[u8]) -> bool {
    if longer.len() <= shorter.len() {
        return false;
    }
    let (mut i, mut run) = (0, 0);
    for &b in longer {
        if i < shorter.len() && shorter[i] == b {
            i += 1;
            run = 0;
        } else {
            run += 1;
            if run > 46 {
                return false;
            }
        }
    }
    i == shorter.len()
}

/// tcpflow's name with its VLAN suffix (`--TCI`, the whole 802.1Q tag
/// control field, priority bits included) turned into the 12-bit VLAN id
/// flowsplit's `%v` gives.
fn vlan_id_name(name: &str) -> String {
    let Some((base, rest)) = name.rsplit_once("--") else {
        return name.to_string();
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<u32>() {
        Ok(tci) => format!("{base}--{}{}", tci & 0xfff, &rest[digits.len()..]),
        Err(_) => name.to_string(),
    }
}

/// One run of each tool on a capture, in a folder of its own.
struct Runs {
    tmp: tempfile::TempDir,
    /// tcpflow's objects, or None when it wrote no report.
    tcpflow: Option<Vec<Object>>,
    flowsplit: Vec<Object>,
}

impl Runs {
    fn t(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.tmp.path().join("t").join(name)).unwrap()
    }
    fn f(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.tmp.path().join("f").join(name)).unwrap()
    }
}

/// Run tcpflow with `tcpflow_args` and flowsplit with `flowsplit_args` on
/// `capture`, each with `-o DIR -X DIR.xml` from a folder of their own.
fn run_both(capture: &Path, tcpflow_args: &[&str], flowsplit_args: &[&str]) -> Runs {
    let tmp = tempfile::tempdir().unwrap();
    let _ = Command::new("tcpflow")
        .args(tcpflow_args)
        .arg("-r")
        .arg(capture)
        .args(["-o", "t", "-X", "t.xml"])
        .current_dir(tmp.path())
        .output()
        .expect("tcpflow runs");
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-q")
        .args(flowsplit_args)
        .arg("-r")
        .arg(capture)
        .args(["-o", "f", "-X", "f.xml"])
        .current_dir(tmp.path())
        .output()
        .expect("flowsplit runs");
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let t_xml = tmp.path().join("t.xml");
    // tcpflow leaves an empty or cut report when it fails on a capture.
    let readable = std::fs::read_to_string(&t_xml)
        .map(|t| t.contains("</dfxml>"))
        .unwrap_or(false);
    let tcpflow = readable.then(|| read_dfxml(&t_xml, "t"));
    let flowsplit = read_dfxml(&tmp.path().join("f.xml"), "f");
    Runs {
        tmp,
        tcpflow,
        flowsplit,
    }
}

/// flowsplit's report against its own files and its JSON Lines report.
fn check_own(label: &str, runs: &Runs, md5: bool) {
    let dir = runs.tmp.path().join("f");
    let report = parse_report(&dir.join("report.jsonl"));
    let names: Vec<&str> = report.iter().map(|l| l["file"].as_str().unwrap()).collect();
    let objects: Vec<&str> = runs
        .flowsplit
        .iter()
        .map(|o| o.name.as_deref().expect("a filename"))
        .collect();
    assert_eq!(objects, names, "{label}: fileobjects in report order");
    for (o, line) in runs.flowsplit.iter().zip(&report) {
        let name = o.name.as_deref().unwrap();
        let path = dir.join(name);
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(o.filesize, len, "{label}: {name} filesize");
        match (&o.md5, md5) {
            (Some(h), true) => assert_eq!(*h, md5_file(&path), "{label}: {name} md5"),
            (None, false) => {}
            (h, _) => panic!("{label}: {name}: hashdigest {h:?} with md5 {md5}"),
        }
        assert_eq!(line["md5"].as_str(), o.md5.as_deref(), "{label}: {name}");
        let micros = |ts: &Value| {
            let (secs, nanos) = common::ts(ts);
            format!("{secs}.{:06}", nanos / 1000)
        };
        assert_eq!(o.start, Some(micros(&line["first_ts"])), "{label}: {name}");
        assert_eq!(o.end, Some(micros(&line["last_ts"])), "{label}: {name}");
        assert_eq!(
            o.attrs["packets"],
            line["packets"].to_string(),
            "{label}: {name}"
        );
        assert_eq!(o.attrs["src_ipn"], line["src"].as_str().unwrap());
        assert_eq!(o.attrs["dst_ipn"], line["dst"].as_str().unwrap());
        assert_eq!(o.attrs["srcport"], line["sport"].to_string());
        assert_eq!(o.attrs["dstport"], line["dport"].to_string());
        let v6 = line["src"].as_str().unwrap().contains(':');
        assert_eq!(o.attrs["family"], if v6 { "10" } else { "2" });
        for (_, body, size) in &o.byte_runs {
            let len = std::fs::metadata(dir.join(body)).unwrap().len();
            assert_eq!(len, *size, "{label}: {body}");
        }
    }
}

/// What the comparison found, by reason.
#[derive(Default, Debug)]
struct Tally {
    same: usize,
    by_reason: BTreeMap<&'static str, usize>,
}

impl Tally {
    fn explained(&mut self, reason: &'static str) {
        *self.by_reason.entry(reason).or_default() += 1;
    }
}

/// Compare the two reports of `runs`; every difference must be explained.
fn compare(
    label: &str,
    runs: &Runs,
    decode_fault: bool,
    http: bool,
    tally: &mut Tally,
) -> Vec<String> {
    let mut unexplained = Vec::new();
    let Some(t_objects) = &runs.tcpflow else {
        if decode_fault {
            tally.explained(CANNOT_DECODE);
        } else {
            unexplained.push(format!("{label}: tcpflow wrote no report"));
        }
        return unexplained;
    };
    let named = |objects: &[Object]| -> BTreeMap<String, Object> {
        objects
            .iter()
            .filter_map(|o| Some((o.name.clone()?, o.clone())))
            .collect()
    };
    let (t, f) = (named(t_objects), named(&runs.flowsplit));
    let known = |name: &str| {
        KNOWN
            .iter()
            .find(|(c, n, _)| label == *c && (*n == "*" || *n == name))
            .map(|k| k.2)
    };
    // tcpflow's name as flowsplit would write it.
    let flowsplit_name = |name: &str| {
        let v = vlan_id_name(name);
        (v != name).then_some(v)
    };
    let mut matched = std::collections::BTreeSet::new();
    for (t_name, to) in &t {
        let vlan_name = flowsplit_name(t_name);
        let name = vlan_name.as_ref().unwrap_or(t_name);
        if f.contains_key(name) {
            matched.insert(name.clone());
        }
        if vlan_name.is_some() {
            tally.explained(VLAN_TCI);
        }
        let Some(fo) = f.get(name) else {
            let bytes = runs.t(t_name);
            if !bytes.is_empty() && bytes.len() <= 46 && bytes.iter().all(|&b| b == 0) {
                tally.explained(PADDING_ONLY);
            } else if let Some(why) = known(t_name) {
                tally.explained(why);
            } else if decode_fault {
                tally.explained(CANNOT_DECODE);
            } else {
                unexplained.push(format!("{label}: {name}: only tcpflow lists it"));
            }
            continue;
        };
        let size = |dir: &str, n: &str| {
            std::fs::metadata(runs.tmp.path().join(dir).join(n))
                .unwrap()
                .len()
        };
        let (t_size, f_size) = (size("t", t_name), size("f", name));
        let same = t_size == f_size && runs.t(t_name) == runs.f(name);
        if !same {
            let small = t_size < 64 << 20 && f_size < 64 << 20;
            if small && padding_added(&runs.t(t_name), &runs.f(name)) {
                tally.explained(PADDING_ADDED);
            } else if let Some(why) = known(name) {
                tally.explained(why);
            } else if decode_fault {
                tally.explained(CANNOT_DECODE);
            } else {
                unexplained.push(format!(
                    "{label}: {name}: the files differ ({t_size} and {f_size} bytes)"
                ));
            }
            continue;
        }
        let tb = runs.t(t_name);
        // The same bytes: the fileobjects must agree.
        let mut ok = true;
        if to.filesize != fo.filesize {
            if to.filesize != t_size {
                tally.explained(FILESIZE_WRONG);
            } else {
                ok = false;
                unexplained.push(format!(
                    "{label}: {name}: filesize {} and {}",
                    to.filesize, fo.filesize
                ));
            }
        }
        match (&to.md5, &fo.md5) {
            (Some(a), Some(b)) if a == b => {}
            (None, Some(_)) => tally.explained(NO_HASHDIGEST),
            (None, None) => {}
            (a, b) => {
                ok = false;
                unexplained.push(format!("{label}: {name}: MD5 {a:?} and {b:?}"));
            }
        }
        for attr in ["src_ipn", "dst_ipn", "srcport", "dstport", "family"] {
            if to.attrs.get(attr) != fo.attrs.get(attr) {
                ok = false;
                unexplained.push(format!(
                    "{label}: {name}: {attr} {:?} and {:?}",
                    to.attrs.get(attr),
                    fo.attrs.get(attr)
                ));
            }
        }
        if http {
            // tcpflow carves responses only.
            let f_runs: Vec<_> = fo
                .byte_runs
                .iter()
                .filter(|r| !r.1.contains("-HTTPREQBODY-"))
                .cloned()
                .collect();
            let t_runs: Vec<_> = to
                .byte_runs
                .iter()
                .map(|(o, n, l)| (*o, vlan_id_name(n), *l))
                .collect();
            if !same_runs(&t_runs, &f_runs) {
                let known = KNOWN_BYTE_RUNS.iter().find(|(c, _)| label.ends_with(c));
                if t_runs.is_empty() && tb.len() < 80 {
                    tally.explained(SHORT_FLOW);
                } else if t_runs.is_empty() && !tb.starts_with(b"HTTP/1.") {
                    tally.explained(NOT_A_RESPONSE);
                } else if let Some((_, why)) = known {
                    tally.explained(why);
                } else {
                    ok = false;
                    unexplained.push(format!(
                        "{label}: {name}: byte_runs {:?} and {:?}",
                        t_runs, f_runs
                    ));
                }
            }
        }
        if ok {
            tally.same += 1;
        }
    }
    for name in f.keys().filter(|n| !matched.contains(*n)) {
        if let Some(why) = known(name) {
            tally.explained(why);
        } else if decode_fault {
            tally.explained(CANNOT_DECODE);
        } else {
            unexplained.push(format!("{label}: {name}: only flowsplit lists it"));
        }
    }
    unexplained
}

/// Every corpus capture with whether it has what tcpflow cannot decode.
fn corpus_captures() -> Vec<(String, PathBuf, bool)> {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name| header.iter().position(|h| *h == name).unwrap();
    let (file, link, features) = (col("file"), col("link_type"), col("features"));
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            let fault = cannot_decode(cells[features], cells[link]);
            (cells[file].to_string(), dir.join(cells[file]), fault)
        })
        .collect()
}

fn testdata_captures() -> Vec<(String, PathBuf, bool)> {
    let mut out: Vec<_> = std::fs::read_dir(testdata(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .map(|p| {
            let name = format!("testdata/{}", p.file_name().unwrap().to_string_lossy());
            // Tunnels, fragments, IPv6 extension headers, QinQ, and the link
            // types tcpflow 1.6.1 cannot read (all but Ethernet, SLL, PPP and
            // raw IPv4/IPv6 as DLT 12 and 101).
            let readable_link = [
                "link_ethernet",
                "link_sll.",
                "link_ppp.",
                "link_raw12",
                "link_raw101",
            ];
            let fault = (name.contains("link_") && !readable_link.iter().any(|k| name.contains(k)))
                || [
                    "fragments",
                    "tunnel_",
                    "qinq",
                    "pcapng_mixed",
                    "ipv6_ext",
                    "unknown_link",
                ]
                .iter()
                .any(|k| name.contains(k));
            (name, p, fault)
        })
        .collect();
    out.sort();
    out
}

/// Whether our `byte_runs` (`ours`) are tcpflow's (`theirs`): the same
/// offsets and lengths, and the same body file names, but for an extension
/// added where tcpflow gives none and mime-db knows the Content-Type
/// (`application/x-javascript`, `text/xml`, ...: see `extension_for` in
/// src/http/name.rs).
fn same_runs(theirs: &[(u64, String, u64)], ours: &[(u64, String, u64)]) -> bool {
    let same_name = |t: &str, o: &str| {
        let t_has_ext = t.rsplit('-').next().is_some_and(|n| n.contains('.'));
        t == o
            || (!t_has_ext
                && o.strip_prefix(t).is_some_and(|ext| {
                    ext.len() > 1
                        && ext.starts_with('.')
                        && ext[1..].bytes().all(|b| b.is_ascii_alphanumeric())
                }))
    };
    theirs.len() == ours.len()
        && theirs
            .iter()
            .zip(ours)
            .all(|(t, o)| t.0 == o.0 && t.2 == o.2 && same_name(&t.1, &o.1))
}

fn summary(what: &str, tally: &Tally, unexplained: &[String]) {
    eprintln!(
        "{what}: {} directions with the same fileobject, differences by reason:",
        tally.same
    );
    for (reason, n) in &tally.by_reason {
        eprintln!("  {n:4}  {reason}");
    }
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

/// `-e md5` on both: every capture of testdata/ and the corpus.
#[test]
fn md5_reports_match_tcpflows() {
    if !tools_installed() {
        return;
    }
    let mut tally = Tally::default();
    let mut unexplained = Vec::new();
    let mut captures = testdata_captures();
    captures.extend(corpus_captures());
    for (label, path, fault) in &captures {
        let runs = run_both(path, &["-e", "md5"], &["-e", "md5"]);
        check_own(label, &runs, true);
        unexplained.extend(compare(label, &runs, *fault, false, &mut tally));
    }
    assert!(tally.same > 300, "{tally:?}");
    summary("-e md5", &tally, &unexplained);
}

/// `-F M` gives what `-e md5` gives (tcpflow 1.6.1 accepts -FM and writes no
/// MD5 at all, so flowsplit's `-F M` is compared with tcpflow's `-e md5`).
#[test]
fn file_letter_m_is_md5_and_tcpflows_is_missing() {
    if !tools_installed() {
        return;
    }
    let mut tally = Tally::default();
    let mut unexplained = Vec::new();
    for (label, path, fault) in testdata_captures() {
        let runs = run_both(&path, &["-e", "md5"], &["-FM"]);
        check_own(&label, &runs, true);
        unexplained.extend(compare(&label, &runs, fault, false, &mut tally));
    }
    summary("-F M", &tally, &unexplained);
    let runs = run_both(&testdata("out_of_order.pcap"), &["-FM"], &["-FM"]);
    let t = runs.tcpflow.as_ref().expect("tcpflow's report");
    assert_eq!(t.len(), 2);
    assert!(
        t.iter().all(|o| o.md5.is_none()),
        "tcpflow's -FM has no MD5"
    );
    assert!(runs.flowsplit.iter().all(|o| o.md5.is_some()));
}

/// `-e http` on both: the bodies' byte runs, over the corpus.
#[test]
fn http_byte_runs_match_tcpflows() {
    if !tools_installed() {
        return;
    }
    let mut tally = Tally::default();
    let mut unexplained = Vec::new();
    let mut carved = 0;
    for (label, path, fault) in corpus_captures() {
        let runs = run_both(&path, &["-e", "http"], &["-e", "http"]);
        check_own(&label, &runs, false);
        carved += runs
            .flowsplit
            .iter()
            .map(|o| o.byte_runs.len())
            .sum::<usize>();
        unexplained.extend(compare(&label, &runs, fault, true, &mut tally));
    }
    assert!(carved > 1000, "{carved} bodies");
    summary("-e http", &tally, &unexplained);
}

// ---------------------------------------------------------------------------
// Options, each with separate and attached values.

/// Run flowsplit on `capture` with `args`, in a fresh folder; returns the
/// folder, the output and the files under `out`.
fn run_in(capture: &str, args: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(args)
        .arg("-r")
        .arg(testdata(capture))
        .args(["-o", "out"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    (tmp, out)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn ok(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CS: &str = "010.000.000.001.40000-010.000.000.002.00080";
const SC: &str = "010.000.000.002.00080-010.000.000.001.40000";

#[test]
fn report_xml_is_written_by_default_and_x_moves_it() {
    let (tmp, out) = run_in("out_of_order.pcap", &[]);
    ok(&out);
    let dir = tmp.path().join("out");
    assert_eq!(
        listing(&dir),
        [
            CS,
            SC,
            "report.jsonl",
            "report.summary.json",
            "report.traffic.json",
            "report.xml"
        ]
    );
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    assert!(
        xml.contains(&format!("<filename>out/{CS}</filename>")),
        "{xml}"
    );
    assert!(!xml.contains("hashdigest"), "{xml}");
    for args in [&["-X", "r.xml"][..], &["-Xr.xml"]] {
        let (tmp, out) = run_in("out_of_order.pcap", args);
        ok(&out);
        assert_eq!(
            listing(&tmp.path().join("out")),
            [
                CS,
                SC,
                "report.jsonl",
                "report.summary.json",
                "report.traffic.json"
            ],
            "{args:?}"
        );
        let moved = std::fs::read_to_string(tmp.path().join("r.xml")).unwrap();
        assert_eq!(moved, xml, "{args:?}");
    }
    // Off: -S enable_report=NO (even with -X, as in tcpflow), --no-report.
    for args in [
        &["-S", "enable_report=NO"][..],
        &["-Senable_report=no", "-X", "r.xml"],
        &["--no-report"],
    ] {
        let (tmp, out) = run_in("out_of_order.pcap", args);
        ok(&out);
        assert!(
            !listing(&tmp.path().join("out")).contains(&"report.xml".to_string()),
            "{args:?}"
        );
        assert!(!tmp.path().join("r.xml").exists(), "{args:?}");
    }
    let (tmp, out) = run_in("out_of_order.pcap", &["--no-report", "-X", "r.xml"]);
    ok(&out);
    assert_eq!(listing(&tmp.path().join("out")), [CS, SC]);
    assert!(tmp.path().join("r.xml").exists());
    // The console modes write no report unless asked for.
    let (tmp, out) = run_in("out_of_order.pcap", &["-c"]);
    ok(&out);
    assert!(!tmp.path().join("out").join("report.xml").exists());
    let (tmp, out) = run_in("out_of_order.pcap", &["-c", "-e", "md5", "-X", "c.xml"]);
    ok(&out);
    let c = std::fs::read_to_string(tmp.path().join("c.xml")).unwrap();
    assert_eq!(c.matches("<hashdigest").count(), 2, "{c}");
    assert!(!c.contains("<filename>"), "no flow files: {c}");
}

/// The MD5 flags the scanner options leave on, and whether HTTP is carved.
fn scanners(args: &[&str]) -> (bool, bool) {
    let (tmp, out) = run_in("http/keepalive.pcap", args);
    ok(&out);
    let dir = tmp.path().join("out");
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    let md5 = xml.contains("<hashdigest type=\"MD5\">");
    (md5, dir.join("http.jsonl").exists())
}

#[test]
fn scanner_options_apply_in_command_line_order() {
    let cases: &[(&[&str], (bool, bool))] = &[
        (&[], (false, false)),
        (&["-e", "md5"], (true, false)),
        (&["-emd5"], (true, false)),
        (&["-e", "http", "-e", "md5"], (true, true)),
        (&["-a"], (true, true)),
        (&["-aZ"], (true, true)),
        (&["-e", "all"], (true, true)),
        (&["-E", "md5"], (true, false)),
        (&["-Ehttp"], (false, true)),
        (&["-a", "-E", "http"], (false, true)),
        (&["-E", "http", "-e", "md5"], (true, true)),
        (&["-E", "tcpdemux"], (false, false)),
        (&["-e", "tcpdemux"], (false, false)),
        (&["-a", "-x", "md5"], (false, true)),
        (&["-a", "-xhttp"], (true, false)),
        (&["-x", "md5", "-e", "md5"], (true, false)),
        (&["-e", "md5", "-x", "md5"], (false, false)),
        (&["-x", "netviz", "-x", "wifiviz"], (false, false)),
        (&["-F", "M"], (true, false)),
        (&["-FkM"], (true, false)),
        (&["-FM", "-T", "%a-%b"], (true, false)),
    ];
    for (args, want) in cases {
        assert_eq!(scanners(args), *want, "{args:?}");
    }
}

#[test]
fn scanners_flowsplit_lacks_and_unknown_names_are_refused() {
    let cases: &[(&[&str], &str)] = &[
        (&["-e", "python"], "invalid value 'python' for '-e <SCANNER>': tcpflow's python scanner is not supported; flowsplit has http, md5 and netviz"),
        (&["-Ewifiviz"], "invalid value 'wifiviz' for '-E <SCANNER>': tcpflow's wifiviz scanner is not supported; flowsplit has http, md5 and netviz"),
        (&["-e", "bogus"], "invalid value 'bogus' for '-e <SCANNER>': unknown scanner (flowsplit has http, md5 and netviz, and tcpdemux, which is always on)"),
        (&["-x", "bogus"], "invalid value 'bogus' for '-x <SCANNER>': unknown scanner (flowsplit has http, md5 and netviz)"),
        (&["-x", "tcpdemux"], "invalid value 'tcpdemux' for '-x <SCANNER>': in tcpflow, -x tcpdemux turns TCP reassembly off, so that nothing but an empty report is written; flowsplit always reassembles (-F X writes the reports without flow files)"),
        (&["-xall"], "invalid value 'all' for '-x <SCANNER>': in tcpflow, -x all turns TCP reassembly off, so that nothing but an empty report is written; flowsplit always reassembles (-F X writes the reports without flow files)"),
        (&["-FX", "-e", "http"], "-F X writes no flow files, so the http scanner has nothing to carve (tcpflow refuses it too)"),
        (&["-S", "tdelta=5"], "invalid value 'tdelta=5' for '-S <NAME=VALUE>': tdelta is not supported: shifts every time by SECONDS; flowsplit keeps capture times"),
        (&["-Scheck_fcs=NO"], "invalid value 'check_fcs=NO' for '-S <NAME=VALUE>': check_fcs is not supported: a wifiviz setting; flowsplit has no wifiviz scanner"),
        (&["-S", "netviz_histogram_size=1"], "invalid value 'netviz_histogram_size=1' for '-S <NAME=VALUE>': netviz_histogram_size: \"1\" is not a number of addresses (at least 2)"),
        (&["-S", "netviz_histogram_dump=yes"], "invalid value 'netviz_histogram_dump=yes' for '-S <NAME=VALUE>': netviz_histogram_dump: \"yes\" is neither 0 nor 1"),
        (&["-S", "py_path=x"], "invalid value 'py_path=x' for '-S <NAME=VALUE>': py_path is not supported: a python scanner setting; flowsplit has no python scanner"),
        (&["-S", "tcp_timout=5"], "invalid value 'tcp_timout=5' for '-S <NAME=VALUE>': unknown setting tcp_timout (flowsplit has enable_report, tcp_timeout, tcp_cmd, tcp_alert_fd, http_cmd, http_alert_fd, netviz_histogram_size, netviz_histogram_dump)"),
        (&["-S", "enable_report"], "invalid value 'enable_report' for '-S <NAME=VALUE>': \"enable_report\": expected NAME=VALUE, e.g. enable_report=NO"),
        (&["-S", "enable_report=maybe"], "invalid value 'enable_report=maybe' for '-S <NAME=VALUE>': enable_report: \"maybe\" is neither YES nor NO"),
        (&["-S", "tcp_timeout=soon"], "invalid value 'tcp_timeout=soon' for '-S <NAME=VALUE>': tcp_timeout: \"soon\" is not a number of seconds"),
        (&["-S", "tcp_alert_fd=x"], "invalid value 'tcp_alert_fd=x' for '-S <NAME=VALUE>': tcp_alert_fd: \"x\" is not a file descriptor number (-1 for none)"),
        (&["-Shttp_alert_fd=97"], "-S http_alert_fd=97: file descriptor 97 is not open (open it in the shell, e.g. 97>alerts.txt)"),
    ];
    for (args, want) in cases {
        let (tmp, out) = run_in("out_of_order.pcap", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("flowsplit: {want}\n"),
            "{args:?}"
        );
        assert!(!tmp.path().join("out").exists(), "{args:?} wrote files");
    }
}

#[test]
fn file_letter_x_writes_the_reports_without_flow_files() {
    for args in [
        &["-F", "X", "-e", "md5"][..],
        &["-FXM"],
        &["-FX", "-T", "%A"],
    ] {
        let (tmp, out) = run_in("out_of_order.pcap", args);
        ok(&out);
        let dir = tmp.path().join("out");
        assert_eq!(
            listing(&dir),
            [
                "report.jsonl",
                "report.summary.json",
                "report.traffic.json",
                "report.xml"
            ],
            "{args:?}"
        );
        let objects = read_dfxml_if_python(&dir.join("report.xml"));
        let report = parse_report(&dir.join("report.jsonl"));
        assert_eq!(report.len(), 2, "{args:?}");
        if let Some(objects) = objects {
            assert_eq!(objects.len(), 2);
            assert!(objects.iter().all(|o| o.name.is_none()), "no filename");
            let sizes: Vec<u64> = objects.iter().map(|o| o.filesize).collect();
            let lines: Vec<u64> = report
                .iter()
                .map(|l| l["bytes"].as_u64().unwrap())
                .collect();
            assert_eq!(sizes, lines);
        }
        // The same bytes and hashes as a run that writes the files.
        let (with, out) = run_in("out_of_order.pcap", &["-FM"]);
        ok(&out);
        let full = parse_report(&with.path().join("out").join("report.jsonl"));
        for (a, b) in report.iter().zip(&full) {
            assert_eq!(a["sha256"], b["sha256"]);
            let md5 = !args.contains(&"-T");
            assert_eq!(a.get("md5").is_some(), md5, "{args:?}");
            if md5 {
                assert_eq!(a["md5"], b["md5"]);
            }
            if !args.contains(&"-T") {
                assert_eq!(a["file"], b["file"], "the name it would have had");
            }
        }
    }
}

fn read_dfxml_if_python(path: &Path) -> Option<Vec<Object>> {
    Command::new("python3")
        .arg("-V")
        .output()
        .ok()
        .map(|_| read_dfxml(path, "out"))
}

/// `-S tcp_timeout=N` is `--timeout N`; 0 is none.
#[test]
fn tcp_timeout_is_the_idle_timeout() {
    let end = |args: &[&str]| {
        let (tmp, out) = run_in("timeout.pcap", args);
        ok(&out);
        let report = parse_report(&tmp.path().join("out").join("report.jsonl"));
        report
            .iter()
            .filter(|l| l["sport"] == 40001)
            .map(|l| l["end"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let timeout = end(&["--timeout", "60"]);
    assert!(timeout.iter().all(|e| e == "timeout"), "{timeout:?}");
    assert_eq!(end(&["-S", "tcp_timeout=60"]), timeout);
    assert_eq!(end(&["-Stcp_timeout=60"]), timeout);
    assert_eq!(end(&["-S", "tcp_timeout=0"]), end(&[]));
    assert!(end(&[]).iter().all(|e| e != "timeout"));
    // --timeout wins over the setting.
    assert_eq!(end(&["-S", "tcp_timeout=0", "--timeout", "60"]), timeout);
}

/// Run with alert descriptor 3 open on `alerts.txt` in the run's folder.
fn run_with_fd3(capture: &str, args: &[&str]) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut shell = format!("exec {} -q", env!("CARGO_BIN_EXE_flowsplit"));
    for a in args {
        shell.push_str(&format!(" '{a}'"));
    }
    shell.push_str(&format!(
        " -r '{}' -o out 3>alerts.txt",
        testdata(capture).display()
    ));
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&shell)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    ok(&out);
    let alerts = std::fs::read_to_string(tmp.path().join("alerts.txt")).unwrap_or_default();
    (tmp, alerts)
}

#[test]
fn tcp_alert_fd_and_tcp_cmd_follow_each_flow_file() {
    for args in [
        &["-S", "tcp_alert_fd=3", "-S", "tcp_cmd=echo >>cmd.txt"][..],
        &["-Stcp_alert_fd=3", "-Stcp_cmd=echo >>cmd.txt"],
    ] {
        let (tmp, alerts) = run_with_fd3("out_of_order.pcap", args);
        let mut lines: Vec<&str> = alerts.lines().collect();
        // Flow files open in packet order; they close in the report's order.
        let (open, close) = lines.split_at_mut(2);
        open.sort();
        assert_eq!(open, [format!("open\tout/{CS}"), format!("open\tout/{SC}")]);
        let report = parse_report(&tmp.path().join("out").join("report.jsonl"));
        let want: Vec<String> = report
            .iter()
            .map(|l| format!("close\tout/{}", l["file"].as_str().unwrap()))
            .collect();
        assert_eq!(close, want, "{args:?}");
        let mut ran: Vec<String> = std::fs::read_to_string(tmp.path().join("cmd.txt"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        ran.sort();
        assert_eq!(ran, [format!("out/{CS}"), format!("out/{SC}")], "{args:?}");
    }
    // -F X writes no files: no alerts, no commands.
    let (tmp, alerts) = run_with_fd3(
        "out_of_order.pcap",
        &[
            "-FX",
            "-S",
            "tcp_alert_fd=3",
            "-S",
            "tcp_cmd=echo >>cmd.txt",
        ],
    );
    assert_eq!(alerts, "");
    assert!(!tmp.path().join("cmd.txt").exists());
    // An empty command and -1 turn them off again.
    let (tmp, alerts) = run_with_fd3(
        "out_of_order.pcap",
        &[
            "-S",
            "tcp_alert_fd=3",
            "-S",
            "tcp_cmd=echo >>cmd.txt",
            "-S",
            "tcp_alert_fd=-1",
            "-S",
            "tcp_cmd=",
        ],
    );
    assert_eq!(alerts, "");
    assert!(!tmp.path().join("cmd.txt").exists());
}

#[test]
fn http_alert_fd_and_http_cmd_follow_each_body() {
    for args in [
        &[
            "-e",
            "http",
            "-S",
            "http_alert_fd=3",
            "-S",
            "http_cmd=echo >>cmd.txt",
        ][..],
        &["-ehttp", "-Shttp_alert_fd=3", "-Shttp_cmd=echo >>cmd.txt"],
    ] {
        let (tmp, alerts) = run_with_fd3("http/keepalive.pcap", args);
        let index = parse_report(&tmp.path().join("out").join("http.jsonl"));
        let bodies: Vec<String> = index
            .iter()
            .filter_map(|r| r["response_body"]["file"].as_str())
            .map(|f| format!("out/{f}"))
            .collect();
        assert_eq!(bodies.len(), 3, "{index:?}");
        let want: String = bodies
            .iter()
            .map(|b| format!("open\t{b}\nclose\t{b}\n"))
            .collect();
        assert_eq!(alerts, want, "{args:?}");
        let mut ran: Vec<String> = std::fs::read_to_string(tmp.path().join("cmd.txt"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        ran.sort();
        let mut want = bodies.clone();
        want.sort();
        assert_eq!(ran, want, "{args:?}");
        for b in &bodies {
            assert!(tmp.path().join(b).is_file(), "{b}");
        }
    }
}

/// `packet-buffer-timeout` is accepted and changes nothing.
#[test]
fn packet_buffer_timeout_is_accepted_with_no_effect() {
    let (a, out) = run_in("out_of_order.pcap", &["-S", "packet-buffer-timeout=10"]);
    ok(&out);
    let (b, out) = run_in("out_of_order.pcap", &[]);
    ok(&out);
    for name in [CS, SC, "report.jsonl", "report.xml"] {
        assert_eq!(
            std::fs::read(a.path().join("out").join(name)).unwrap(),
            std::fs::read(b.path().join("out").join(name)).unwrap(),
            "{name}"
        );
    }
}

/// A name a template fills with XML's special characters is escaped.
#[test]
fn names_are_escaped() {
    let (tmp, out) = run_in("out_of_order.pcap", &["-T", "a&b<%a>", "-X", "r.xml"]);
    ok(&out);
    if let Some(objects) = read_dfxml_if_python(&tmp.path().join("r.xml")) {
        let mut names: Vec<String> = objects.into_iter().filter_map(|o| o.name).collect();
        names.sort();
        assert_eq!(names, ["a&b<00080>", "a&b<40000>"]);
    }
}

/// With `-e http`, the `report.xml` written by default has no `byte_runs`
/// (listing bodies would hold every body's name in memory until the end,
/// and memory stays flat by default); naming the report with `-X` adds
/// them, the rest of the document unchanged.
#[test]
fn byte_runs_only_with_an_explicit_x() {
    let capture = "http/gzip.pcap";
    let (tmp, out) = run_in(capture, &["-e", "http"]);
    ok(&out);
    let default = std::fs::read_to_string(tmp.path().join("out/report.xml")).unwrap();
    assert!(default.contains("<fileobject>"), "{default}");
    assert!(!default.contains("byte_run"), "{default}");
    let (tmp, out) = run_in(capture, &["-e", "http", "-X", "out/report.xml"]);
    ok(&out);
    let named = std::fs::read_to_string(tmp.path().join("out/report.xml")).unwrap();
    assert!(named.contains("<byte_runs>"), "{named}");
    let without_runs: String = {
        let mut kept = Vec::new();
        let mut skipping = false;
        for line in named.lines() {
            if line.trim_start().starts_with("<byte_runs>") {
                skipping = true;
            }
            if !skipping {
                kept.push(line);
            }
            if line.trim_start().starts_with("</byte_runs>") {
                skipping = false;
            }
        }
        kept.join("\n") + "\n"
    };
    assert_eq!(without_runs, default);
}
