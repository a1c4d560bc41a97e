//! Splitting a run over processes (issue 15): `--shard K/N` run as N
//! separate processes, then `flowsplit merge`, gives exactly a single run's
//! output folder — every flow file and HTTP body (names, bytes and
//! modification times), `report.jsonl` and `http.jsonl` byte for byte, and
//! the DFXML report but for the output folder in its file names — for
//! N = 1, 2, 3 and 7 on a generated capture of 3,000 connections (port
//! reuse, reordering, IPv6, IPv4 and IPv6 fragments, resets, connections
//! closed by the idle timeout while other shards' packets go by), and for
//! N = 2 and 3 on every capture of `testdata/` and of the shared corpus
//! (with `-e http`, the zeek traces whose objects are assembled from range
//! parts of two connections included), on a generated capture whose range
//! objects have parts in connections of different shards, and with the
//! DFXML report's variants (`-X NAME`, `-S enable_report=NO`, `-F X`).
//! A merge of an incomplete, foreign, duplicated or unfinished set of
//! shards is refused with exit 1, one message, and nothing written.

use flowsplit_synth::Timestamp;
use flowsplit_synth::{FragOrder, Link, PacketSink, PcapFormat, PcapWriter, Side, TcpConversation};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file's bytes and modification time (seconds, nanoseconds).
type Snapshot = BTreeMap<PathBuf, (Vec<u8>, i64, i64)>;

/// Every file under `dir`: relative name → bytes and modification time.
fn snapshot(dir: &Path) -> Snapshot {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk the output folder"))
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).expect("below dir").to_path_buf();
            let meta = e.metadata().expect("stat");
            let bytes = std::fs::read(e.path()).expect("read an output file");
            (rel, (bytes, meta.mtime(), meta.mtime_nsec()))
        })
        .collect()
}

fn flowsplit(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(args)
        .output()
        .expect("run flowsplit")
}

/// Run flowsplit on `args` into `out` (a single run, or one shard with
/// `--shard`): exit 0 or 1 (some captures are cut short on purpose).
fn run(out: &Path, shard: Option<(u32, u32)>, args: &[&str]) -> Option<i32> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowsplit"));
    cmd.arg("-q").arg("-o").arg(out);
    if let Some((k, n)) = shard {
        cmd.arg("--shard").arg(format!("{k}/{n}"));
    }
    let status = cmd.args(args).status().expect("run flowsplit");
    assert!(matches!(status.code(), Some(0 | 1)), "{out:?}: {status}");
    status.code()
}

/// Run `n` shards of `args` as separate processes (folders `label-K-of-N`
/// under `tmp`), merge them, and assert the merged folder equals `single`.
fn assert_shards_merge_to(
    tmp: &Path,
    label: &str,
    n: u32,
    args: &[&str],
    single: &Snapshot,
    code: Option<i32>,
) {
    let dirs: Vec<PathBuf> = (0..n)
        .map(|k| tmp.join(format!("{label}-{k}-of-{n}")))
        .collect();
    for (k, dir) in dirs.iter().enumerate() {
        let shard_code = run(dir, Some((k as u32, n)), args);
        assert_eq!(
            shard_code, code,
            "{label}: shard {k} of {n} exits as the single run"
        );
    }
    let merged = tmp.join(format!("{label}-merged-{n}"));
    let mut margs: Vec<&std::ffi::OsStr> = vec![
        "merge".as_ref(),
        "-q".as_ref(),
        "-o".as_ref(),
        merged.as_os_str(),
    ];
    margs.extend(dirs.iter().map(|d| d.as_os_str()));
    let out = flowsplit(&margs);
    assert!(
        out.status.success(),
        "{label}: merge of {n} shards: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = snapshot(&merged);
    let single_dir = tmp.join(format!("{label}-single"));
    assert_same(
        single,
        &single_dir,
        &got,
        &merged,
        &format!("{label} with {n} shards"),
    );
    // Flow files and bodies are hard links to the shards' files, not copies
    // (the report, its run summary, the DFXML report, the indexes and the
    // objects assembled from range parts are written).
    let written = [
        Path::new("report.jsonl"),
        Path::new("report.summary.json"),
        Path::new("report.traffic.json"),
    ];
    let merge_writes = |p: &Path| {
        written.contains(&p)
            || is_dfxml(p)
            || p.file_name() == Some("http.jsonl".as_ref())
            || p.to_string_lossy().contains("-HTTPOBJECT-")
    };
    for name in got.keys().filter(|p| !merge_writes(p)) {
        let links = std::fs::symlink_metadata(merged.join(name))
            .expect("stat")
            .nlink();
        assert_eq!(links, 2, "{label}: {} is not hard-linked", name.display());
    }
}

/// The flow files a report lists: their modification time is the last
/// packet's, so a merge must keep it. (HTTP bodies and the indexes carry
/// the time they were written, in a single run too.)
fn flow_files(out: &Snapshot) -> Vec<PathBuf> {
    let Some((report, _, _)) = out.get(Path::new("report.jsonl")) else {
        return Vec::new();
    };
    String::from_utf8_lossy(report)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a report line"))
        .map(|v| PathBuf::from(v["file"].as_str().expect("file")))
        .collect()
}

/// True for the DFXML report in an output folder: `report.xml`, or the
/// name `-X` gave (an `.xml` file at the top).
fn is_dfxml(p: &Path) -> bool {
    p.parent() == Some(Path::new("")) && p.extension() == Some("xml".as_ref())
}

/// The DFXML report (`report.xml`) of a run into `dir`, with the one
/// thing two runs into different folders write differently made equal:
/// each `filename` starts with the output folder as `-o` named it (a
/// single run's, or the merged folder's: what a single run into it
/// writes), here replaced by `OUT`. Its head holds no time, command line
/// or resource usage, so nothing else is touched.
fn normalised_dfxml(bytes: &[u8], dir: &Path) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("report.xml is UTF-8");
    let prefix = format!("<filename>{}/", dir.display());
    assert!(
        text.contains(&prefix) || !text.contains("<filename>"),
        "report.xml names files outside {}",
        dir.display()
    );
    text.replace(&prefix, "<filename>OUT/")
}

/// Assert `got` (the folder `got_dir`) has exactly `want`'s (the folder
/// `want_dir`) files with the same bytes, and the same modification times
/// for the flow files; `report.xml` is compared byte for byte once the
/// output folder in its file names is made equal ([`normalised_dfxml`]).
fn assert_same(want: &Snapshot, want_dir: &Path, got: &Snapshot, got_dir: &Path, what: &str) {
    let names: Vec<&PathBuf> = want.keys().collect();
    let got_names: Vec<&PathBuf> = got.keys().collect();
    assert_eq!(got_names, names, "{what}: files");
    for (name, (bytes, _, _)) in want {
        if is_dfxml(name) {
            assert_eq!(
                normalised_dfxml(&got[name].0, got_dir),
                normalised_dfxml(bytes, want_dir),
                "{what}: {} differs",
                name.display()
            );
            continue;
        }
        assert!(got[name].0 == *bytes, "{what}: {} differs", name.display());
    }
    for name in flow_files(want) {
        // -F X writes none of the files its report lists.
        let Some((_, secs, nanos)) = want.get(&name) else {
            continue;
        };
        let (_, s, ns) = &got[&name];
        assert_eq!(
            (s, ns),
            (secs, nanos),
            "{what}: mtime of {}",
            name.display()
        );
    }
}

/// Assert a single run of `args` and its shards merged for every N of
/// `counts` are the same; returns how many files were compared.
fn assert_split_equals_single(tmp: &Path, label: &str, counts: &[u32], args: &[&str]) -> usize {
    let single_dir = tmp.join(format!("{label}-single"));
    let code = run(&single_dir, None, args);
    let single = snapshot(&single_dir);
    for &n in counts {
        assert_shards_merge_to(tmp, label, n, args, &single, code);
    }
    single.len()
}

/// Frames of all conversations, to be written in time order.
struct Frames(Vec<(Timestamp, u64, Vec<u8>)>);

impl PacketSink for Frames {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> std::io::Result<()> {
        let seq = self.0.len() as u64;
        self.0.push((ts, seq, data.to_vec()));
        Ok(())
    }
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// 3,000 HTTP-like connections starting 3 ms apart over about 9 seconds:
/// every 5th over IPv6, every 7th sending one request as IP fragments (in
/// reverse order every other time), the last 500 reusing the client
/// endpoints of the first 500 (port reuse: `c1` names), every 13th reset
/// by the server, every 11th left open (closed by `--timeout 2` while other
/// connections' packets go by), and about 3% of data segments swapped with
/// the next frame of the same connection (reordering).
fn generate(path: &Path) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut all = Frames(Vec::new());
    for i in 0..3000u32 {
        let owner = if i >= 2500 { i - 2500 } else { i };
        let v6 = owner % 5 == 0;
        let (client, server): (IpAddr, IpAddr) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    1,
                    0,
                    0,
                    0,
                    (owner >> 8) as u16,
                    owner as u16,
                )),
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    2,
                    0,
                    0,
                    0,
                    0,
                    1 + (owner % 3) as u16,
                )),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, 1, (owner >> 8) as u8, owner as u8)),
                IpAddr::V4(Ipv4Addr::new(192, 168, 7, 1 + (owner % 3) as u8)),
            )
        };
        let client = SocketAddr::new(client, 20000 + (owner % 1000) as u16);
        let server = SocketAddr::new(server, 80);
        let ms = u64::from(i) * 3;
        let start = Timestamp::new(
            1_700_000_000 + (ms / 1000) as i64,
            ((ms % 1000) * 1_000_000) as u32,
        );
        let mut conv = TcpConversation::new(Link::ethernet(), client, server, start)
            .with_isn(1000 + i * 7919, 500_000 + i * 104_729);
        let mut frames = Frames(Vec::new());
        conv.handshake(&mut frames).expect("frames");
        let request = format!("GET /object/{i} HTTP/1.1\r\nHost: h{}\r\n\r\n", owner % 3);
        if i % 7 == 0 {
            let order = if i % 14 == 0 {
                FragOrder::Reverse
            } else {
                FragOrder::InOrder
            };
            conv.send_fragmented(Side::Client, request.as_bytes(), 16, order, &mut frames)
                .expect("frames");
        } else {
            conv.send(Side::Client, request.as_bytes(), &mut frames)
                .expect("frames");
        }
        let body: Vec<u8> = (0..200 + rng.below(3000))
            .map(|b| (b as u8).wrapping_mul(31) ^ i as u8)
            .collect();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        conv.send(Side::Server, head.as_bytes(), &mut frames)
            .expect("frames");
        for chunk in body.chunks(700) {
            conv.send(Side::Server, chunk, &mut frames).expect("frames");
        }
        conv.ack(Side::Client, &mut frames).expect("frames");
        if i % 13 == 0 {
            conv.rst(Side::Server, &mut frames).expect("frames");
        } else if i % 11 != 0 {
            conv.close(&mut frames).expect("frames");
        }
        // Reordering: swap a data frame's bytes with the next frame's (the
        // capture times stay in order).
        for j in 3..frames.0.len().saturating_sub(1) {
            if rng.below(100) < 3 {
                let next = frames.0[j + 1].2.clone();
                frames.0[j + 1].2 = std::mem::replace(&mut frames.0[j].2, next);
            }
        }
        let base = all.0.len() as u64;
        all.0
            .extend(frames.0.into_iter().map(|(ts, seq, f)| (ts, base + seq, f)));
    }
    all.0.sort_by_key(|(ts, seq, _)| (ts.secs, ts.nanos, *seq));
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut pcap =
        PcapWriter::new(file, PcapFormat::default(), Link::ethernet().linktype()).expect("pcap");
    for (ts, _, f) in &all.0 {
        pcap.write_packet(*ts, f, f.len() as u32).expect("write");
    }
    drop(pcap.into_inner());
}

#[test]
fn generated_capture_split_in_1_2_3_and_7_shards_merges_to_a_single_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pcap = tmp.path().join("gen.pcap");
    generate(&pcap);
    let path = pcap.to_str().expect("utf-8 path");
    let args = ["-e", "http", "--timeout", "2", "-r", path];
    let files = assert_split_equals_single(tmp.path(), "gen", &[1, 2, 3, 7], &args);
    assert!(files > 6000, "only {files} output files compared");
    // The capture has what it is meant to have.
    let single = tmp.path().join("gen-single");
    let report = std::fs::read_to_string(single.join("report.jsonl")).expect("report");
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| lines.iter().filter(|l| f(l)).count();
    assert_eq!(lines.len(), 6000);
    assert!(
        count(&|l| l["end"] == "timeout") > 100,
        "connections closed by the timeout"
    );
    assert!(count(&|l| l["end"] == "rst") > 100, "reset connections");
    assert!(
        count(&|l| l["file"].as_str().is_some_and(|f| f.ends_with("c1"))) >= 1000,
        "port reuse"
    );
    assert!(
        count(&|l| l["src"].as_str().is_some_and(|s| s.contains(':'))) >= 1200,
        "IPv6"
    );
    let index = std::fs::read_to_string(single.join("http.jsonl")).expect("index");
    assert_eq!(index.lines().count(), 3000, "one index line per exchange");
    // Connections closed mid-capture (lingering after FIN or RST, idle
    // past the timeout) close when a new second of capture time begins,
    // mostly at other shards' packets: the shard's close events are packet
    // numbers, not only the end of input.
    let shard = std::fs::read_to_string(tmp.path().join("gen-0-of-7/report-0-of-7.jsonl"))
        .expect("shard report");
    let mid_capture = shard
        .lines()
        .filter(|l| l.starts_with("{\"closed_at\":") && !l.contains("end"))
        .count();
    assert!(
        mid_capture >= 5,
        "{mid_capture} close events before the end"
    );
}

#[test]
fn testdata_captures_split_in_2_and_3_shards_merge_to_a_single_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&testdata)
        .expect("testdata/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    captures.sort();
    assert!(
        captures.len() > 40,
        "testdata/ holds the generated captures"
    );
    let mut files = 0;
    for (i, pcap) in captures.iter().enumerate() {
        let path = pcap.to_str().expect("utf-8 path");
        files += assert_split_equals_single(
            tmp.path(),
            &format!("t{i}"),
            &[2, 3],
            &["-e", "http", "-r", path],
        );
    }
    assert!(files > 100, "only {files} output files compared");
}

#[test]
fn corpus_captures_split_in_2_and_3_shards_merge_to_a_single_run() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        corpus.is_dir(),
        "{} is missing: the shared corpus must sit next to the clone",
        corpus.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut captures: Vec<PathBuf> = walkdir::WalkDir::new(&corpus)
        .into_iter()
        .map(|e| e.expect("walk the corpus"))
        .map(|e| e.path().to_path_buf())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
        })
        .collect();
    captures.sort();
    let mut files = 0;
    let mut cross = Vec::new();
    for (i, pcap) in captures.iter().enumerate() {
        let path = pcap.to_str().expect("utf-8 path");
        let args = ["-e", "http", "-r", path];
        files += assert_split_equals_single(tmp.path(), &format!("c{i}"), &[2, 3], &args);
        if has_cross_connection_object(&tmp.path().join(format!("c{i}-single"))) {
            cross.push(path.to_string());
        }
    }
    assert!(files > 500, "only {files} output files compared");
    // The zeek traces 206_example_a/b/c fetch one file over two
    // connections: the merge assembles it, as the single run does.
    assert!(
        (3..=6).contains(&cross.len()),
        "objects over several connections: {cross:?}"
    );
}

/// True when the single run in `dir` assembled an object from range parts
/// carved on more than one connection.
fn has_cross_connection_object(dir: &Path) -> bool {
    let Ok(index) = std::fs::read_to_string(dir.join("http.jsonl")) else {
        return false;
    };
    index.lines().any(|line| {
        let v: serde_json::Value = serde_json::from_str(line).expect("an index line");
        let Some(parts) = v["object"]["parts"].as_array() else {
            return false;
        };
        let flows: std::collections::BTreeSet<&str> = parts
            .iter()
            .filter_map(|p| p[2].as_str())
            .map(|f| f.split("-HTTP").next().unwrap_or(f))
            .collect();
        flows.len() > 1
    })
}

/// A connection from 10.9.0.1:`port` to 10.9.0.2:80 starting at `secs`
/// past the epoch of the range capture, handshake sent.
fn range_conn(w: &mut PcapWriter<Vec<u8>>, port: u16, secs: i64) -> TcpConversation {
    let client: SocketAddr = format!("10.9.0.1:{port}").parse().expect("address");
    let server: SocketAddr = "10.9.0.2:80".parse().expect("address");
    let start = Timestamp::new(1_700_100_000 + secs, 0);
    let mut c = TcpConversation::new(Link::ethernet(), client, server, start);
    c.handshake(w).expect("frames");
    c
}

/// The shard (of `n`) the range capture's connection from `port` is in,
/// by the pinned shard hash.
fn range_shard(port: u16, n: u32) -> u32 {
    let tuple = flowsplit::decode::TcpTuple {
        src: "10.9.0.1".parse().expect("address"),
        dst: "10.9.0.2".parse().expect("address"),
        sport: port,
        dport: 80,
        vlan: None,
        tunnel: 0,
    };
    flowsplit::shard::shard_of(&tuple, n)
}

/// Three client ports whose connections are in three different shards of
/// 3 and not all in one shard of 2.
fn ports_apart() -> [u16; 3] {
    let mut found: Vec<u16> = Vec::new();
    for port in 41_000..42_000u16 {
        let taken = found
            .iter()
            .any(|&p| range_shard(p, 3) == range_shard(port, 3));
        if !taken {
            found.push(port);
        }
        if found.len() == 3 {
            let halves: std::collections::BTreeSet<u32> =
                found.iter().map(|&p| range_shard(p, 2)).collect();
            if halves.len() == 2 {
                return [found[0], found[1], found[2]];
            }
            found.pop();
        }
    }
    panic!("no three ports apart in 41000..42000");
}

/// One GET of bytes `a..=b` of `uri` and its `206` answer from `whole`
/// (with `etag`), the response in 1000-byte segments.
fn fetch_range(
    c: &mut TcpConversation,
    w: &mut PcapWriter<Vec<u8>>,
    uri: &str,
    whole: &[u8],
    (a, b): (usize, usize),
    etag: &str,
) {
    let req = format!("GET {uri} HTTP/1.1\r\nHost: files.example\r\nRange: bytes={a}-{b}\r\n\r\n");
    c.send(Side::Client, req.as_bytes(), w).expect("frames");
    let mut resp = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Type: application/pdf\r\nETag: {etag}\r\nContent-Range: bytes {a}-{b}/{}\r\nContent-Length: {}\r\n\r\n",
        whole.len(),
        b - a + 1
    )
    .into_bytes();
    resp.extend_from_slice(&whole[a..=b]);
    for seg in resp.chunks(1000) {
        c.send(Side::Server, seg, w).expect("frames");
    }
}

/// What a connection of the range capture fetches: parts of `/whole.pdf`
/// (by number), and a range of `/holed.pdf`.
type Fetches = (&'static [usize], Option<(usize, usize)>);

/// Two resources fetched in ranges over three connections that fall in
/// different shards ([`ports_apart`]): `/whole.pdf` in six parts, out of
/// order and two per connection (its first part on the second
/// connection), and `/holed.pdf` in two parts on the first and third
/// connections with the middle never fetched.
fn range_capture(path: &Path, ports: [u16; 3]) -> (Vec<u8>, Vec<u8>) {
    let whole: Vec<u8> = (0..60_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let holed: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let step = 10_000;
    let part = |i: usize| (i * step, (i + 1) * step - 1);
    let mut w = PcapWriter::new(
        Vec::new(),
        PcapFormat::default(),
        Link::ethernet().linktype(),
    )
    .expect("pcap");
    let plan: [Fetches; 3] = [
        (&[5, 2], Some((0, 9_999))),
        (&[4, 0], None),
        (&[3, 1], Some((20_000, 29_999))),
    ];
    for (k, (parts, hole_part)) in plan.iter().enumerate() {
        let mut c = range_conn(&mut w, ports[k], 10 * k as i64);
        for &i in *parts {
            fetch_range(&mut c, &mut w, "/whole.pdf", &whole, part(i), "\"w-1\"");
        }
        if let Some(range) = hole_part {
            fetch_range(&mut c, &mut w, "/holed.pdf", &holed, *range, "\"h-1\"");
        }
        c.close(&mut w).expect("frames");
    }
    std::fs::write(path, w.into_inner()).expect("write the capture");
    (whole, holed)
}

/// An object whose range parts were carved on connections of different
/// shards comes out of the merge as out of a single run (same object
/// file, bytes and index line, at the same place), for N = 2 and 3: the
/// shards write no object and list their parts for the merge.
#[test]
fn range_parts_on_connections_of_different_shards_are_assembled_by_the_merge() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ports = ports_apart();
    let pcap = tmp.path().join("ranges.pcap");
    let (whole, holed) = range_capture(&pcap, ports);
    let path = pcap.to_str().expect("utf-8 path");
    assert_split_equals_single(tmp.path(), "r", &[2, 3], &["-e", "http", "-r", path]);
    // With a folder per second of a connection's first packet (each of
    // the capture's connections starts in a second of its own), an
    // object's parts lie in different folders: its index line names them
    // from its own folder, so the merged index equals the single run's.
    let per_second = ["-e", "http", "-T", "%t/%A.%a-%B.%b%C%c", "-r", path];
    assert_split_equals_single(tmp.path(), "rf", &[2, 3], &per_second);
    let climbing: Vec<String> = snapshot(&tmp.path().join("rf-single"))
        .iter()
        .filter(|(p, _)| p.ends_with("http.jsonl"))
        .flat_map(|(_, (bytes, _, _))| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|l| l.get("object").map(|o| o["parts"].clone()))
                .flat_map(|parts| parts.as_array().cloned().unwrap_or_default())
                .filter_map(|part| part[2].as_str().map(String::from))
                .filter(|name| name.starts_with("../"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        !climbing.is_empty(),
        "no part named from another folder: {:?}",
        snapshot(&tmp.path().join("rf-single"))
            .keys()
            .collect::<Vec<_>>()
    );
    // The single run has both objects, each from parts of several connections.
    let single = tmp.path().join("r-single");
    let index = std::fs::read_to_string(single.join("http.jsonl")).expect("index");
    let lines: Vec<serde_json::Value> = index
        .lines()
        .map(|l| serde_json::from_str(l).expect("an index line"))
        .collect();
    let objects: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("object")).collect();
    assert_eq!(objects.len(), 2, "{objects:#?}");
    assert!(has_cross_connection_object(&single));
    let object = |uri: &str| {
        *objects
            .iter()
            .find(|o| o["uri"] == uri)
            .expect("the object")
    };
    let w = object("/whole.pdf");
    assert_eq!(w["complete"], true);
    assert_eq!(w["parts"].as_array().expect("parts").len(), 6);
    let name = w["file"].as_str().expect("file");
    assert!(
        name.ends_with(&format!("{}-HTTPOBJECT-002.pdf", ports[1])),
        "named after its first part, the second connection's second body: {name}"
    );
    assert_eq!(std::fs::read(single.join(name)).expect("object"), whole);
    let h = object("/holed.pdf");
    assert_eq!(h["holes"], serde_json::json!([[10_000, 10_000]]));
    let mut want = holed.clone();
    want[10_000..20_000].fill(0);
    let file = h["file"].as_str().expect("file");
    assert_eq!(std::fs::read(single.join(file)).expect("object"), want);
    // The shards wrote no object and listed their parts instead.
    for n in [2u32, 3] {
        let mut listed = 0;
        for k in 0..n {
            let dir = tmp.path().join(format!("r-{k}-of-{n}"));
            let files = snapshot(&dir);
            assert!(
                !files
                    .keys()
                    .any(|p| p.to_string_lossy().contains("HTTPOBJECT")),
                "shard {k} of {n} wrote an object"
            );
            if let Some((bytes, _, _)) = files.get(Path::new("http.jsonl")) {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains("\"object\":"), "shard {k} of {n}");
                listed += text
                    .lines()
                    .filter(|l| l.starts_with("{\"http_range_part\":"))
                    .count();
            }
        }
        assert_eq!(listed, 8, "the parts listed by the {n} shards");
    }
}

/// The HTTP captures of `testdata/http/`, as `-r` arguments.
fn http_captures() -> Vec<String> {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/http");
    let mut captures: Vec<String> = std::fs::read_dir(&http)
        .expect("testdata/http/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| p.to_str().expect("utf-8 path").to_string())
        .collect();
    captures.sort();
    assert!(
        captures.len() > 10,
        "testdata/http/ holds the HTTP captures"
    );
    captures
}

/// The DFXML report a single run writes is the one flowsplit merge writes:
/// `-X NAME` given to the shards is the report NAME in the merged folder,
/// with the carved bodies as byte runs and the MD5 hashes of `-F M`, as a
/// single run with `-X OUT/NAME` writes it; `-S enable_report=NO` leaves
/// it out, and `-F X` (no flow files) leaves out its file names.
#[test]
fn the_dfxml_report_the_shards_ask_for_is_the_merged_folders() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inputs = http_captures();
    let mut args = vec!["-e", "http", "-F", "M"];
    for c in &inputs {
        args.extend(["-r", c.as_str()]);
    }
    let single_dir = tmp.path().join("x-single");
    let named = single_dir.join("flows.xml");
    let mut single_args = args.clone();
    single_args.extend(["-X", named.to_str().expect("utf-8")]);
    let code = run(&single_dir, None, &single_args);
    let single = snapshot(&single_dir);
    let xml = String::from_utf8_lossy(&single[Path::new("flows.xml")].0).to_string();
    assert!(!single.contains_key(Path::new("report.xml")));
    assert!(xml.contains("<byte_run file_offset="), "{xml}");
    assert!(xml.contains("<hashdigest type=\"MD5\">"), "{xml}");
    let mut shard_args = args.clone();
    shard_args.extend(["-X", "flows.xml"]);
    for n in [2, 3] {
        assert_shards_merge_to(tmp.path(), "x", n, &shard_args, &single, code);
    }
    // No DFXML report, and one without file names.
    for (label, extra) in [
        ("norep", ["-S", "enable_report=NO"]),
        ("noflows", ["-F", "X"]),
    ] {
        let mut a = vec![extra[0], extra[1]];
        for c in &inputs {
            a.extend(["-r", c.as_str()]);
        }
        assert_split_equals_single(tmp.path(), label, &[2], &a);
    }
    let no_report = snapshot(&tmp.path().join("norep-merged-2"));
    assert!(!no_report.contains_key(Path::new("report.xml")));
    let no_flows = snapshot(&tmp.path().join("noflows-merged-2"));
    let xml = String::from_utf8_lossy(&no_flows[Path::new("report.xml")].0).to_string();
    assert!(
        xml.contains("<fileobject>") && !xml.contains("<filename>"),
        "{xml}"
    );
}

/// Shards 0..n of `pcap` into `tmp/label-K`.
fn shards(tmp: &Path, label: &str, pcap: &Path, n: u32, extra: &[&str]) -> Vec<PathBuf> {
    (0..n)
        .map(|k| {
            let dir = tmp.join(format!("{label}-{k}"));
            let mut args = vec!["-r", pcap.to_str().expect("utf-8")];
            args.extend_from_slice(extra);
            run(&dir, Some((k, n)), &args);
            dir
        })
        .collect()
}

/// Run `flowsplit merge -o OUT dirs` and assert it is refused with exit 1,
/// one line naming `message`, and OUT not created.
fn assert_refused(tmp: &Path, dirs: &[&Path], message: &str) {
    let out_dir = tmp.join("refused-out");
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["merge".as_ref(), "-o".as_ref(), out_dir.as_os_str()];
    args.extend(dirs.iter().map(|d| d.as_os_str()));
    let out = flowsplit(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("flowsplit: merge: "), "{stderr}");
    assert!(stderr.contains(message), "expected {message:?} in {stderr}");
    assert!(
        !out_dir.exists(),
        "a refused merge wrote {}",
        out_dir.display()
    );
}

#[test]
fn incomplete_foreign_duplicate_and_unfinished_sets_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let a = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/port_reuse.pcap");
    let b = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/out_of_order.pcap");
    let sa = shards(t, "a", &a, 3, &[]);
    let sb = shards(t, "b", &b, 3, &[]);
    let sc = shards(t, "c", &a, 3, &["-b", "5"]);
    let s2 = shards(t, "d", &a, 2, &[]);
    assert_refused(
        t,
        &[&sa[0], &sa[2]],
        "incomplete set of shards: shard 1 of 3 missing",
    );
    assert_refused(
        t,
        &[&sa[0]],
        "incomplete set of shards: shards 1, 2 of 3 missing",
    );
    assert_refused(
        t,
        &[&sa[0], &sb[1], &sa[2]],
        "is a shard of other inputs or settings than",
    );
    assert_refused(
        t,
        &[&sa[0], &sc[1], &sa[2]],
        "is a shard of other inputs or settings than",
    );
    assert_refused(t, &[&sa[0], &s2[1], &sa[2]], "shards of different splits");
    assert_refused(
        t,
        &[&sa[0], &sa[1], &sa[1], &sa[2]],
        "shard 1 of 3 given twice",
    );
    let empty = t.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    assert_refused(t, &[&sa[0], &empty], "no shard report");
    // Shards sharing one folder with -e http each carved the others' flows.
    let shared = t.join("shared-http");
    for k in 0..2 {
        run(
            &shared,
            Some((k, 2)),
            &["-e", "http", "-r", a.to_str().expect("utf-8")],
        );
    }
    assert_refused(
        t,
        &[&shared],
        "2 shards share this folder and carved HTTP (-e http)",
    );
    // A shard that did not finish has no closing record.
    let report = sa[1].join("report-1-of-3.jsonl");
    let text = std::fs::read_to_string(&report).expect("report");
    let last = text.trim_end().lines().last().expect("a line");
    assert!(last.starts_with("{\"shard_done\":1,"), "{last}");
    std::fs::write(&report, &text[..text.len() - last.len() - 1]).expect("cut");
    assert_refused(t, &[&sa[0], &sa[1], &sa[2]], "shard 1 of 3 did not finish");
    // An existing, non-empty output folder is refused too, and left alone.
    std::fs::write(&report, &text).expect("restore");
    let full = t.join("full");
    std::fs::create_dir(&full).expect("mkdir");
    std::fs::write(full.join("keep"), b"x").expect("write");
    let mut args: Vec<&std::ffi::OsStr> = vec!["merge".as_ref(), "-o".as_ref(), full.as_os_str()];
    args.extend(sa.iter().map(|d| d.as_os_str()));
    let out = flowsplit(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists and is not empty"));
    assert_eq!(std::fs::read_dir(&full).expect("read").count(), 1);
}

#[test]
fn shards_sharing_one_folder_merge_in_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/port_reuse.pcap");
    let path = pcap.to_str().expect("utf-8");
    let single_dir = tmp.path().join("single");
    run(&single_dir, None, &["-r", path]);
    let shared = tmp.path().join("shared");
    for k in 0..3 {
        run(&shared, Some((k, 3)), &["-r", path]);
    }
    let out = flowsplit(&[
        "merge".as_ref(),
        "-q".as_ref(),
        "-o".as_ref(),
        shared.as_os_str(),
        shared.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = snapshot(&shared);
    for k in 0..3 {
        got.remove(Path::new(&format!("report-{k}-of-3.jsonl")))
            .expect("shard report kept");
        got.remove(Path::new(&format!("report-{k}-of-3.summary.json")))
            .expect("shard run summary kept");
        got.remove(Path::new(&format!("report-{k}-of-3.traffic.json")))
            .expect("shard traffic summary kept");
    }
    assert_same(
        &snapshot(&single_dir),
        &single_dir,
        &got,
        &shared,
        "shared folder",
    );
}

#[test]
fn shard_usage_errors_exit_2() {
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/port_reuse.pcap");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--shard", "0/2", "-X", "sub/r.xml"],
            "--shard 0/2 cannot be used with -X and a folder (with --shard, -X names the DFXML report flowsplit merge writes into the merged folder: give a file name)",
        ),
        (
            &["--shard", "3/3"],
            "\"3/3\" is not K/N with 0 <= K < N <= 65536",
        ),
        (
            &["--shard", "0/2", "--report", "r.jsonl"],
            "--shard 0/2 cannot be used with --report or --no-report",
        ),
        (
            &["--shard", "0/2", "-c"],
            "--shard 0/2 cannot be used with -c, -C or -D",
        ),
        (
            &["--shard", "1/2", "-r", "-"],
            "--shard: every shard must read the same capture files, not standard input",
        ),
    ];
    for (extra, message) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut args: Vec<&std::ffi::OsStr> = vec!["-o".as_ref(), tmp.path().as_os_str()];
        if !extra.contains(&"-r") {
            args.extend(["-r".as_ref(), pcap.as_os_str()]);
        }
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let out = flowsplit(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
}

#[test]
fn several_inputs_with_a_folder_per_server_port_split_and_merge() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/http");
    let mut captures: Vec<PathBuf> = std::fs::read_dir(&http)
        .expect("testdata/http/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    captures.sort();
    assert!(
        captures.len() > 10,
        "testdata/http/ holds the HTTP captures"
    );
    let mut args = vec!["-e", "http", "-T", "%b/%A.%a-%B.%b%C%c"];
    for c in &captures {
        args.extend(["-r", c.to_str().expect("utf-8 path")]);
    }
    assert_split_equals_single(tmp.path(), "sub", &[2, 3], &args);
    // Each server-port folder has its own index, merged from the shards'.
    let indexes = walkdir::WalkDir::new(tmp.path().join("sub-merged-3"))
        .into_iter()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() == "http.jsonl"))
        .count();
    assert!(indexes > 10, "only {indexes} indexes");
}

/// A shard run into a folder that already holds its report is refused
/// (exit 2, one line): the second run would name its files `c1` and double
/// the report, so the shard would no longer be a single run's share.
#[test]
fn a_shard_run_into_a_folder_holding_its_report_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/port_reuse.pcap");
    let dir = tmp.path().join("s0");
    let first = run(&dir, Some((0, 2)), &["-r", input.to_str().unwrap()]);
    assert_eq!(first, Some(0));
    let before = snapshot(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["-q", "--shard", "0/2", "-o"])
        .arg(&dir)
        .arg("-r")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("report-0-of-2.jsonl already holds a shard's report"),
        "{err}"
    );
    let after = snapshot(&dir);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (name, (bytes, _, _)) in &before {
        assert!(after[name].0 == *bytes, "{} changed", name.display());
    }
}

/// Issue 29: shards that decrypt TLS (their `-TLS` plaintext files, bodies
/// and index) merge to what a single run writes. Every connection's key log
/// line is given, so no resumption depends on a connection in another
/// shard (see the man page on `--shard` and the session cache).
#[test]
fn shards_with_decrypted_tls_merge_to_a_single_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
    let path = |name: &str| tls.join(name).to_str().expect("utf-8 path").to_string();
    let files = [
        path("tls12_resumed_id_get.keys"),
        path("tls12_resumed_id_get.pcap"),
        path("tls13_h2.keys"),
        path("tls13_h2.pcap"),
        path("tls12_cbc_sha256.keys"),
        path("tls12_cbc_sha256.pcap"),
    ];
    let args = [
        "-e",
        "http",
        "--tls-keylog",
        &files[0],
        "--tls-keylog",
        &files[2],
        "--tls-keylog",
        &files[4],
        "-r",
        &files[1],
        "-r",
        &files[3],
        "-r",
        &files[5],
    ];
    assert_split_equals_single(tmp.path(), "tls", &[2, 3], &args);
    let single = tmp.path().join("tls-single");
    let decrypted = std::fs::read_dir(&single)
        .expect("single run's folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with("-TLS"))
        })
        .count();
    assert!(
        decrypted >= 8,
        "{decrypted} -TLS files: the key logs decrypt"
    );
    // The report's TLS lines (compared byte for byte above): one per
    // direction of each TLS connection, after every direction line, all
    // decrypted with the key logs' secrets.
    let report = std::fs::read_to_string(single.join("report.jsonl")).expect("report");
    let lines: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).expect("a report line"))
        .collect();
    let first_tls = lines
        .iter()
        .position(|l| l["record"] == "tls")
        .expect("TLS lines in the report");
    let tls = &lines[first_tls..];
    assert!(tls.iter().all(|l| l["record"] == "tls"), "{report}");
    assert_eq!(tls.len(), first_tls, "a TLS line for every direction");
    assert!(
        tls.iter()
            .all(|l| l["decrypted"] == true && l["secret_source"] == "keylog"),
        "{report}"
    );
}
