//! Helpers shared by the integration tests: run flowsplit (library or
//! binary) on captures from `testdata/` into a temporary folder, read back
//! every file and the report, and check the report against the files.
//!
//! The generator of `testdata/` is included as [`gen`], for its constants
//! and for `tests/testdata.rs`.

#![allow(dead_code)]

#[path = "../../examples/make_testdata.rs"]
pub mod gen;

use flowsplit::config::{Config, Input};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

/// Client-to-server file name of the standard IPv4 connection (10.0.0.1:40000 → 10.0.0.2:80).
pub const CS: &str = "010.000.000.001.40000-010.000.000.002.00080";
/// Server-to-client file name of the standard IPv4 connection.
pub const SC: &str = "010.000.000.002.00080-010.000.000.001.40000";
/// Client-to-server file name of the standard IPv6 connection.
pub const CS6: &str = "2001:db8::1.40000-2001:db8::2.00080";
/// Server-to-client file name of the standard IPv6 connection.
pub const SC6: &str = "2001:db8::2.00080-2001:db8::1.40000";

/// Client-to-server file name for client port `port` of 10.0.0.1 talking to 10.0.0.2:80.
pub fn cs(port: u16) -> String {
    format!("010.000.000.001.{port:05}-010.000.000.002.00080")
}

/// Server-to-client file name for client port `port`.
pub fn sc(port: u16) -> String {
    format!("010.000.000.002.00080-010.000.000.001.{port:05}")
}

/// Path of a capture in `testdata/`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// What a run left behind.
pub struct Outcome {
    /// The output folder (deleted when the outcome is dropped).
    pub dir: tempfile::TempDir,
    /// Every regular file in the output folder except the report, by name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The report's lines, parsed (empty when there is no report).
    pub report: Vec<Value>,
    /// What `flowsplit::run` returned, as text: `Ok(input errors)` or `Err(message)`.
    pub result: Result<Vec<String>, String>,
}

impl Outcome {
    /// The file `name`'s bytes; panics (listing what exists) when missing.
    pub fn file(&self, name: &str) -> &[u8] {
        match self.files.get(name) {
            Some(b) => b,
            None => panic!("no file {name:?}; files: {:?}", self.names()),
        }
    }

    /// File names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.files.keys().map(String::as_str).collect()
    }

    /// The report line of file `name`; panics when there is not exactly one.
    pub fn line(&self, name: &str) -> &Value {
        let lines: Vec<&Value> = self.report.iter().filter(|l| l["file"] == name).collect();
        assert_eq!(
            lines.len(),
            1,
            "report lines for {name:?}: {:#?}",
            self.report
        );
        lines[0]
    }

    /// Assert the output is exactly these files with these contents, and
    /// that the report agrees with them (see [`check_report`]).
    pub fn assert_flows(&self, expected: &[(&str, &[u8])]) {
        let want: BTreeMap<&str, &[u8]> = expected.iter().copied().collect();
        let got: BTreeMap<&str, &[u8]> = self
            .files
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        if want != got {
            let show = |m: &BTreeMap<&str, &[u8]>| {
                m.iter()
                    .map(|(k, v)| format!("  {k}: {:?}", String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "flow files differ\nexpected:\n{}\ngot:\n{}\nreport: {:#?}\nresult: {:?}",
                show(&want),
                show(&got),
                self.report,
                self.result
            );
        }
        check_report(self);
    }

    /// The `end` field of file `name`'s report line.
    pub fn end(&self, name: &str) -> &str {
        self.line(name)["end"].as_str().expect("end is a string")
    }
}

/// A configuration reading `inputs` (paths) into a fresh temporary folder.
pub fn config(inputs: &[PathBuf]) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out");
    let config = Config::new(inputs.iter().cloned().map(Input::Path).collect(), out);
    (config, dir)
}

/// Run the library on captures from `testdata/` with default settings.
pub fn run(names: &[&str]) -> Outcome {
    let inputs: Vec<PathBuf> = names.iter().map(|n| testdata(n)).collect();
    run_with(&inputs, |_| {})
}

/// Run the library on `inputs` with settings changed by `adjust`.
pub fn run_with(inputs: &[PathBuf], adjust: impl FnOnce(&mut Config)) -> Outcome {
    let (mut config, dir) = config(inputs);
    adjust(&mut config);
    let result = flowsplit::run(&config)
        .map(|s| s.input_errors.iter().map(ToString::to_string).collect())
        .map_err(|e| e.to_string());
    let outdir = &config.output.files().expect("flow files").outdir;
    let (files, report) = collect(outdir, config.report.as_deref());
    Outcome {
        dir,
        files,
        report,
        result,
    }
}

/// Read every file of `outdir` (but the reports) and the report's lines.
pub fn collect(outdir: &Path, report: Option<&Path>) -> (BTreeMap<String, Vec<u8>>, Vec<Value>) {
    let mut files = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(outdir) {
        for e in rd {
            let e = e.expect("a folder entry");
            let path = e.path();
            // The DFXML report (tcpflow's report.xml) is checked by tests/dfxml.rs.
            if !path.is_file()
                || Some(path.as_path()) == report
                || is_summary(&path)
                || e.file_name() == "report.xml"
            {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            files.insert(name, std::fs::read(&path).expect("a readable flow file"));
        }
    }
    let report = match report {
        Some(p) if p.exists() => parse_report(p),
        _ => Vec::new(),
    };
    (files, report)
}

/// The shared corpus of public captures (`../shared/corpus`, beside the
/// clone), checked to be there.
pub fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the shared corpus is missing: expected {}/MANIFEST.tsv (the corpus lives next to the clone, in ../shared/corpus/)",
        dir.display()
    );
    dir
}

/// Every capture the corpus's manifest lists (its first column), in its order.
pub fn corpus_captures() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("the manifest");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(|f| dir.join(f))
        .collect()
}

/// The reports at the top of an output folder that are not flow files:
/// tcpflow's `report.xml`, flowsplit's `report.jsonl`, its summary and its
/// traffic summary.
pub const REPORTS: &[&str] = &[
    "report.xml",
    "report.jsonl",
    "report.summary.json",
    "report.traffic.json",
];

/// Every file under `dir` (none if it does not exist) by its path relative
/// to `dir`, with its bytes, except those whose relative path is in `skip`.
pub fn tree_files(dir: &Path, skip: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk the output folder");
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("below dir")
            .to_string_lossy()
            .into_owned();
        if !skip.contains(&rel.as_str()) {
            let bytes = std::fs::read(entry.path()).expect("a readable output file");
            out.insert(rel, bytes);
        }
    }
    out
}

/// True for the run summary or the traffic summary written beside a report
/// (`report.summary.json`, `report.traffic.json`, see flowsplit(1)): not a
/// flow file.
pub fn is_summary(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| p.ends_with(".summary.json") || p.ends_with(".traffic.json"))
}

/// Parse a JSON Lines report's direction lines (its TLS lines, written
/// after carving, are left out: see [`parse_tls_lines`]); every line must
/// be one JSON object.
pub fn parse_report(path: &Path) -> Vec<Value> {
    parse_lines(path, false)
}

/// Parse a JSON Lines report's TLS lines (`{"record":"tls",...}`).
pub fn parse_tls_lines(path: &Path) -> Vec<Value> {
    parse_lines(path, true)
}

fn parse_lines(path: &Path, tls: bool) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("a readable report");
    text.lines()
        .filter(|l| l.starts_with("{\"record\":\"tls\"") == tls)
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("report line {l:?}: {e}"));
            assert!(v.is_object(), "report line is not an object: {l}");
            v
        })
        .collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Check the report against the files, for every direction:
/// one line per file and one file per line; `bytes`, `sha256` and
/// `gap_bytes` agree with the file and the gaps; times are `SECS.NANOS`
/// with 9 digits and in order; both directions of a connection share its
/// id; the file's mtime is its first packet time; the fields have their
/// documented types.
pub fn check_report(out: &Outcome) {
    let mut seen = BTreeMap::new();
    for l in &out.report {
        let name = l["file"].as_str().expect("file is a string");
        assert!(
            seen.insert(name, l).is_none(),
            "two report lines for {name}"
        );
        let data = out
            .files
            .get(name)
            .unwrap_or_else(|| panic!("report names {name}, which was not written"));
        assert_eq!(
            l["bytes"].as_u64(),
            Some(data.len() as u64),
            "bytes of {name}"
        );
        assert_eq!(
            l["sha256"].as_str(),
            Some(sha256_hex(data).as_str()),
            "sha256 of {name}"
        );
        let gaps = l["gaps"].as_array().expect("gaps is an array");
        let mut total = 0;
        for g in gaps {
            let g = g.as_array().expect("a gap is [offset, length]");
            assert_eq!(g.len(), 2, "a gap is [offset, length]");
            let (off, len) = (g[0].as_u64().unwrap(), g[1].as_u64().unwrap());
            assert!(off + len <= data.len() as u64, "gap past the end of {name}");
            assert!(
                data[off as usize..(off + len) as usize]
                    .iter()
                    .all(|b| *b == 0),
                "gap of {name} not zero-filled"
            );
            total += len;
        }
        assert_eq!(l["gap_bytes"].as_u64(), Some(total), "gap_bytes of {name}");
        for f in ["sport", "dport", "packets", "connection"] {
            assert!(l[f].is_u64(), "{f} of {name} is not a number: {l}");
        }
        for f in ["src", "dst"] {
            assert!(l[f].is_string(), "{f} of {name} is not a string: {l}");
        }
        assert!(
            l["vlan"].is_null() || l["vlan"].is_u64(),
            "vlan of {name}: {l}"
        );
        assert!(l["truncated"].is_boolean(), "truncated of {name}: {l}");
        let end = l["end"].as_str().expect("end is a string");
        // "reused" (a new SYN took the 4-tuple over before a close) is
        // flowsplit's documented fifth ending, beyond the original four.
        assert!(
            ["fin", "rst", "timeout", "end_of_input", "reused"].contains(&end),
            "end of {name}: {end}"
        );
        let first = ts(&l["first_ts"]);
        let last = ts(&l["last_ts"]);
        assert!(first <= last, "first_ts after last_ts for {name}");
        let path = out.dir.path().join("out").join(name);
        if path.exists() {
            let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
            let want = UNIX_EPOCH + Duration::new(first.0 as u64, first.1);
            let diff = if mtime > want {
                mtime.duration_since(want).unwrap()
            } else {
                want.duration_since(mtime).unwrap()
            };
            assert!(
                diff < Duration::from_micros(1),
                "mtime of {name} is {mtime:?}, first packet {want:?}"
            );
        }
    }
    for name in out.files.keys() {
        assert!(
            seen.contains_key(name.as_str()),
            "file {name} has no report line"
        );
    }
    // Both directions of a connection share its id.
    for l in &out.report {
        let twin = out.report.iter().find(|m| {
            m["src"] == l["dst"]
                && m["dst"] == l["src"]
                && m["sport"] == l["dport"]
                && m["dport"] == l["sport"]
                && m["vlan"] == l["vlan"]
                && m["connection"] == l["connection"]
        });
        let others = out.report.iter().filter(|m| {
            m["src"] == l["dst"]
                && m["dst"] == l["src"]
                && m["sport"] == l["dport"]
                && m["dport"] == l["sport"]
                && m["vlan"] == l["vlan"]
        });
        if others.count() > 0 {
            assert!(
                twin.is_some(),
                "no twin with the same connection id for {l}"
            );
        }
    }
}

/// Parse a `SECS.NANOS` time (exactly 9 fraction digits).
pub fn ts(v: &Value) -> (i64, u32) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("time is not a string: {v}"));
    let (secs, frac) = s
        .split_once('.')
        .unwrap_or_else(|| panic!("time {s:?} has no fraction"));
    assert_eq!(frac.len(), 9, "time {s:?} needs 9 fraction digits");
    (secs.parse().unwrap(), frac.parse().unwrap())
}

/// Run the `flowsplit` binary with `args`.
pub fn flowsplit(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(args)
        .output()
        .expect("flowsplit runs")
}

/// Run `flowsplit grep WORDS...`: (exit code, standard output's lines,
/// standard error).
pub fn grep(words: &[&std::ffi::OsStr]) -> (i32, Vec<String>, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["grep".as_ref()];
    all.extend(words);
    let o = flowsplit(&all);
    let lines = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (
        o.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run the `flowsplit` binary as `flowsplit -r INPUT -o OUT`.
pub fn split_into(input: &Path, out: &Path) -> Output {
    flowsplit(&[
        "-r".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ])
}

/// The non-empty lines of a process's stderr.
pub fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Write `frames` (capture time, Ethernet frame) as a pcap file named
/// `capture.pcap` in a new temporary folder, which is removed when the
/// returned handle is dropped.
pub fn write_frames(
    frames: &[(flowsplit_synth::Timestamp, Vec<u8>)],
) -> (tempfile::TempDir, PathBuf) {
    use flowsplit_synth::{Link, PacketSink, PcapFormat, PcapWriter};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut w = PcapWriter::new(file, PcapFormat::default(), Link::ethernet().linktype()).unwrap();
    for (ts, f) in frames {
        w.frame(*ts, f).unwrap();
    }
    w.into_inner().flush().unwrap();
    (dir, path)
}
