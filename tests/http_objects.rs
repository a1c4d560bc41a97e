//! HTTP objects on captures built with `flowsplit-synth`: encodings a
//! browser undoes, bodies with gaps, whole objects assembled from `206`
//! ranges, and files out of multipart bodies (issue 14).
//!
//! Each test builds a capture, runs `flowsplit -r CAP -o OUT -e http`, and
//! checks body files byte for byte and the index fields of the case; then
//! runs `flowsplit http OUT` over the same folder and checks that the
//! index and files come out the same.

mod common;

use flowsplit::http::{carve_dirs, HttpOptions};
use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

type Writer = PcapWriter<Vec<u8>>;

fn writer() -> Writer {
    PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap()
}

/// A connection from 10.0.0.1:`port` to 10.0.0.2:80, handshake sent.
fn open(w: &mut Writer, port: u16) -> TcpConversation {
    let mut c = TcpConversation::new(
        Link::ethernet(),
        format!("10.0.0.1:{port}").parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000 + i64::from(port), 0),
    );
    c.handshake(w).unwrap();
    c
}

/// `side` sends `data` in segments of at most `seg` bytes.
fn send(c: &mut TcpConversation, w: &mut Writer, side: Side, data: &[u8], seg: usize) {
    for part in data.chunks(seg) {
        c.send(side, part, w).unwrap();
    }
}

/// One request and its response on `c`, the response in 1000-byte segments.
fn exchange(c: &mut TcpConversation, w: &mut Writer, req: &[u8], resp: &[u8]) {
    send(c, w, Side::Client, req, 1400);
    send(c, w, Side::Server, resp, 1000);
}

fn sha256(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// `n` lines `TAG line NNNN\n`.
fn gen(tag: &str, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{tag} line {i:04}\n"))
        .collect::<String>()
        .into_bytes()
}

/// A response head with `fields` (each `Name: value`) and a Content-Length
/// for `body`, then `body`.
fn response(status: &str, fields: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\n");
    for f in fields {
        r.push_str(f);
        r.push_str("\r\n");
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn get(uri: &str, fields: &[&str]) -> Vec<u8> {
    let mut r = format!("GET {uri} HTTP/1.1\r\nHost: example.com\r\n");
    for f in fields {
        r.push_str(f);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// What flowsplit left for a capture.
struct Carved {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    index: Vec<Value>,
}

impl Carved {
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Every file of the output folder but the report, by name, with its bytes.
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name() != "report.jsonl")
            .map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let b = std::fs::read(e.path()).unwrap();
                (n, b)
            })
            .collect();
        v.sort();
        v
    }

    /// The index record whose request URI is `uri` (the only one; object
    /// lines left aside).
    fn by_uri(&self, uri: &str) -> &Value {
        let mut m = self
            .index
            .iter()
            .filter(|r| r["uri"] == uri && r.get("object").is_none());
        let r = m
            .next()
            .unwrap_or_else(|| panic!("no record for {uri}: {:#?}", self.index));
        assert!(m.next().is_none(), "two records for {uri}");
        r
    }

    /// The bytes of the response body file of the record for `uri`.
    fn response_body(&self, uri: &str) -> Vec<u8> {
        let file = self.by_uri(uri)["response_body"]["file"]
            .as_str()
            .unwrap_or_else(|| panic!("no response body file for {uri}"))
            .to_string();
        self.read(&file)
    }
}

fn read_index(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("http.jsonl")).expect("an http.jsonl index");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("index line {l:?}: {e}")))
        .collect()
}

/// Run `flowsplit -r CAP -o OUT -e http` on the capture `w` holds, then
/// check that `flowsplit http OUT` writes the same files and index.
fn carve(w: Writer) -> Carved {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("cap.pcap");
    std::fs::write(&pcap, w.into_inner()).unwrap();
    let out = tmp.path().join("out");
    let args: Vec<&OsStr> = vec![
        OsStr::new("-q"),
        OsStr::new("-r"),
        pcap.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("-e"),
        OsStr::new("http"),
    ];
    let run = common::flowsplit(&args);
    assert!(run.status.success(), "flowsplit: {run:?}");
    let carved = Carved {
        index: read_index(&out),
        out,
        _tmp: tmp,
    };
    let before = carved.files();
    // What `flowsplit http OUT` runs (the binary's subcommand is a thin
    // wrapper over it).
    let summary =
        carve_dirs(std::slice::from_ref(&carved.out), &HttpOptions::default()).expect("carve_dirs");
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    let after = carved.files();
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&before),
        names(&after),
        "flowsplit http wrote other files"
    );
    for ((n, a), (_, b)) in before.iter().zip(&after) {
        assert!(a == b, "flowsplit http wrote other bytes in {n}");
    }
    carved
}

fn notes(v: &Value) -> Vec<String> {
    v["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes in {v}"))
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// Encodings a browser undoes.

#[test]
fn codings_on_two_lines_twice_gzip_and_gzip_deflate_are_all_undone() {
    let text = gen("stacked", 300);
    let mut w = writer();
    let mut c = open(&mut w, 40001);
    let cases: Vec<(&str, Vec<&str>, Vec<u8>)> = vec![
        (
            "/two-lines.txt",
            vec!["Content-Encoding: gzip", "Content-Encoding: gzip"],
            gzip(&gzip(&text)),
        ),
        (
            "/double.txt",
            vec!["Content-Encoding: gzip, gzip"],
            gzip(&gzip(&text)),
        ),
        (
            "/gzip-deflate.txt",
            vec!["Content-Encoding: gzip, deflate"],
            zlib(&gzip(&text)),
        ),
        (
            "/case.txt",
            vec!["Content-Encoding:  X-GZIP  "],
            gzip(&text),
        ),
        (
            "/unknown.txt",
            vec!["Content-Encoding: gzip, x-foo"],
            gzip(&text),
        ),
        (
            "/identity.txt",
            vec!["Content-Encoding: identity"],
            text.clone(),
        ),
    ];
    for (uri, fields, body) in &cases {
        let mut f = vec!["Content-Type: text/plain"];
        f.extend(fields.iter().copied());
        exchange(
            &mut c,
            &mut w,
            &get(uri, &[]),
            &response("200 OK", &f, body),
        );
    }
    c.close(&mut w).unwrap();
    let out = carve(w);
    for (uri, _, body) in &cases {
        assert_eq!(out.response_body(uri), text, "{uri}");
        let b = &out.by_uri(uri)["response_body"];
        assert_eq!(b["decoded"], uri != &"/identity.txt", "{uri}");
        assert_eq!(b["complete"], true, "{uri}");
        assert_eq!(b["encoded_length"], body.len(), "{uri}");
        assert_eq!(b["sha256"], sha256(&text), "{uri}");
    }
    let two = &out.by_uri("/two-lines.txt")["response_body"];
    assert_eq!(two["content_encoding"], "gzip, gzip");
    assert_eq!(
        notes(two),
        ["Content-Encoding on 2 header lines: stacked as one list, as browsers do"]
    );
    assert_eq!(
        notes(&out.by_uri("/case.txt")["response_body"]),
        ["Content-Encoding token \"X-GZIP\" read as \"x-gzip\""]
    );
    assert_eq!(
        notes(&out.by_uri("/unknown.txt")["response_body"]),
        ["unknown content coding \"x-foo\": skipped"]
    );
    assert!(notes(&out.by_uri("/double.txt")["response_body"]).is_empty());
}

// ---------------------------------------------------------------------------
// Gaps inside bodies.

/// The gaps `report.jsonl` lists for the server-to-client flow of `port`.
fn report_gaps(out: &Carved, port: u16) -> Value {
    let text = std::fs::read_to_string(out.out.join("report.jsonl")).unwrap();
    let file = common::sc(port);
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["file"] == file.as_str())
        .map(|v| v["gaps"].clone())
        .expect("a report line for the response flow")
}

/// `side` sends `data` in segments of `seg` bytes, leaving out the
/// segments whose numbers (from 0) are in `lost`.
fn send_losing(
    c: &mut TcpConversation,
    w: &mut Writer,
    side: Side,
    data: &[u8],
    seg: usize,
    lost: &[usize],
) {
    for (i, part) in data.chunks(seg).enumerate() {
        if lost.contains(&i) {
            c.skip(side, part.len() as u64);
        } else {
            c.send(side, part, w).unwrap();
        }
    }
}

#[test]
fn gap_in_a_content_length_body_is_zero_filled_and_the_next_responses_carved() {
    let port = 40002;
    let mut w = writer();
    let mut c = open(&mut w, port);
    let first = gen("first", 200); // 3200 bytes
    let second = gen("second", 10);
    let third = gen("third", 12);
    send(&mut c, &mut w, Side::Client, &get("/first.txt", &[]), 1400);
    let r1 = response("200 OK", &["Content-Type: text/plain"], &first);
    let head_len = r1.len() - first.len();
    // The second 1000-byte segment never arrives.
    send_losing(&mut c, &mut w, Side::Server, &r1, 1000, &[1]);
    for (uri, body) in [("/second.txt", &second), ("/third.txt", &third)] {
        exchange(
            &mut c,
            &mut w,
            &get(uri, &[]),
            &response("200 OK", &[], body),
        );
    }
    c.close(&mut w).unwrap();
    let out = carve(w);
    assert_eq!(report_gaps(&out, port), serde_json::json!([[1000, 1000]]));
    let mut want = first.clone();
    want[1000 - head_len..2000 - head_len].fill(0);
    assert_eq!(out.response_body("/first.txt"), want);
    let rec = out.by_uri("/first.txt");
    let b = &rec["response_body"];
    assert_eq!(b["complete"], false);
    assert_eq!(rec["complete"], false);
    assert_eq!(b["gaps"], serde_json::json!([[1000, 1000]]));
    assert_eq!(b["offset"], head_len);
    assert_eq!(b["decoded_length"], first.len());
    assert_eq!(
        b["incomplete"],
        serde_json::json!(["gap: body overlaps 1 zero-filled hole(s) in the flow, 1000 bytes"])
    );
    for (uri, body) in [("/second.txt", &second), ("/third.txt", &third)] {
        assert_eq!(&out.response_body(uri), body, "{uri}");
        let r = out.by_uri(uri);
        assert_eq!(r["complete"], true, "{uri}");
        assert!(r["response_body"].get("gaps").is_none(), "{uri}");
    }
}

#[test]
fn chunked_body_with_a_gap_resynchronises_on_the_next_response() {
    let port = 40003;
    let mut w = writer();
    let mut c = open(&mut w, port);
    let mut r1 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for i in 0..20 {
        let chunk = gen(&format!("chunk{i:02}"), 5);
        r1.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        r1.extend_from_slice(&chunk);
        r1.extend_from_slice(b"\r\n");
    }
    r1.extend_from_slice(b"0\r\n\r\n");
    let after = gen("after", 9);
    send(
        &mut c,
        &mut w,
        Side::Client,
        &get("/chunked.txt", &[]),
        1400,
    );
    send_losing(&mut c, &mut w, Side::Server, &r1, 500, &[1]);
    exchange(
        &mut c,
        &mut w,
        &get("/after.txt", &[]),
        &response("200 OK", &[], &after),
    );
    c.close(&mut w).unwrap();
    let out = carve(w);
    let b = &out.by_uri("/chunked.txt")["response_body"];
    assert_eq!(b["complete"], false);
    assert_eq!(b["gaps"], serde_json::json!([[500, 500]]));
    let inc: Vec<String> = b["incomplete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(inc[0].starts_with("gap: "), "{inc:?}");
    // The bytes before the hole are the body's first bytes.
    let got = out.response_body("/chunked.txt");
    let mut plain = Vec::new();
    for i in 0..20 {
        plain.extend_from_slice(&gen(&format!("chunk{i:02}"), 5));
    }
    assert!(got.len() >= 400, "{}", got.len());
    assert_eq!(&got[..400], &plain[..400]);
    assert_eq!(out.response_body("/after.txt"), after);
    assert_eq!(out.by_uri("/after.txt")["complete"], true);
}

#[test]
fn close_delimited_body_with_a_gap_ends_at_the_next_response_head() {
    let port = 40004;
    let mut w = writer();
    let mut c = open(&mut w, port);
    let first = gen("close", 100);
    let after = gen("after-close", 7);
    let mut r1 = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    let head_len = r1.len();
    r1.extend_from_slice(&first);
    send(&mut c, &mut w, Side::Client, &get("/close.txt", &[]), 1400);
    send(&mut c, &mut w, Side::Client, &get("/after.txt", &[]), 1400);
    send_losing(&mut c, &mut w, Side::Server, &r1, 400, &[1]);
    send(
        &mut c,
        &mut w,
        Side::Server,
        &response("200 OK", &[], &after),
        1000,
    );
    c.close(&mut w).unwrap();
    let out = carve(w);
    let b = &out.by_uri("/close.txt")["response_body"];
    assert_eq!(b["framing"], "close");
    assert_eq!(b["complete"], false);
    assert_eq!(b["gaps"], serde_json::json!([[400, 400]]));
    let mut want = first.clone();
    want[400 - head_len..800 - head_len].fill(0);
    assert_eq!(out.response_body("/close.txt"), want);
    assert!(notes(b)
        .iter()
        .any(|n| n.contains("cut at a message head found after the gap")));
    assert_eq!(out.response_body("/after.txt"), after);
}

// ---------------------------------------------------------------------------
// Whole objects from ranges.

/// A 146,515-byte "JPEG": the magic, then bytes of a fixed pseudo-random run.
fn jpeg() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut v = vec![0xff, 0xd8, 0xff, 0xe0];
    while v.len() < 146_515 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.push((x >> 24) as u8);
    }
    v
}

const ETAG: &str = "ETag: \"abc-123\"";

/// A 206 response carrying bytes `a..=b` of `whole`.
fn part_response(whole: &[u8], a: usize, b: usize, etag: &str) -> Vec<u8> {
    let cr = format!("Content-Range: bytes {a}-{b}/{}", whole.len());
    response(
        "206 Partial Content",
        &["Content-Type: image/jpeg", etag, &cr],
        &whole[a..=b],
    )
}

/// `(start, end)` of 15 ranges covering `len` bytes.
fn fifteen(len: usize) -> Vec<(usize, usize)> {
    let step = len.div_ceil(15);
    (0..15)
        .map(|i| (i * step, ((i + 1) * step).min(len) - 1))
        .collect()
}

fn objects(out: &Carved) -> Vec<&Value> {
    out.index.iter().filter_map(|r| r.get("object")).collect()
}

/// Fetch `ranges` of `whole` as `/photo.jpg` on connection `c`.
fn fetch(c: &mut TcpConversation, w: &mut Writer, whole: &[u8], ranges: &[(usize, usize)]) {
    for &(a, b) in ranges {
        let req = get("/photo.jpg", &[&format!("Range: bytes={a}-{b}")]);
        exchange(c, w, &req, &part_response(whole, a, b, ETAG));
    }
}

#[test]
fn fifteen_ranges_on_one_connection_make_the_whole_jpeg() {
    let whole = jpeg();
    let mut w = writer();
    let mut c = open(&mut w, 40010);
    let ranges = fifteen(whole.len());
    fetch(&mut c, &mut w, &whole, &ranges);
    c.close(&mut w).unwrap();
    let out = carve(w);
    let objs = objects(&out);
    assert_eq!(objs.len(), 1, "{objs:#?}");
    let o = objs[0];
    let name = format!("{}-HTTPOBJECT-001.jpg", common::sc(40010));
    assert_eq!(o["file"], name.as_str());
    assert_eq!(out.read(&name), whole);
    assert_eq!(o["sha256"], sha256(&whole));
    assert_eq!(o["complete"], true);
    assert_eq!(o["length"], whole.len());
    assert_eq!(o["size"], whole.len());
    assert_eq!(o["holes"], serde_json::json!([]));
    assert_eq!(o["validator"], "\"abc-123\"");
    assert_eq!(o["host"], "example.com");
    assert_eq!(o["uri"], "/photo.jpg");
    assert_eq!(o["parts"].as_array().unwrap().len(), 15);
    // The parts are kept, each with its range.
    let parts: Vec<&Value> = out.index.iter().filter(|r| r["status"] == 206).collect();
    assert_eq!(parts.len(), 15);
    for (p, &(a, b)) in parts.iter().zip(&ranges) {
        let body = &p["response_body"];
        assert_eq!(
            body["range"],
            serde_json::json!({"start": a, "end": b, "total": whole.len()})
        );
        assert_eq!(out.read(body["file"].as_str().unwrap()), &whole[a..=b]);
    }
    // The object's line comes right after its first part's record.
    assert_eq!(out.index[1]["object"]["file"], name.as_str());
    assert_eq!(out.index[0]["response_body"]["range"]["start"], 0);
}

#[test]
fn ranges_out_of_order_and_overlapping_over_two_connections() {
    let whole = jpeg();
    let mut w = writer();
    let (mut c1, mut c2) = (open(&mut w, 40011), open(&mut w, 40012));
    let len = whole.len();
    // The second half first, on the second connection; then the first half
    // on the first, overlapping it by 1000 bytes (the same bytes).
    fetch(&mut c2, &mut w, &whole, &[(len / 2, len - 1)]);
    fetch(
        &mut c1,
        &mut w,
        &whole,
        &[(30_000, len / 2 + 999), (0, 29_999)],
    );
    c1.close(&mut w).unwrap();
    c2.close(&mut w).unwrap();
    let out = carve(w);
    let objs = objects(&out);
    assert_eq!(objs.len(), 1, "{objs:#?}");
    let o = objs[0];
    // Named after the part with the lowest offset: the first connection's second response.
    let name = format!("{}-HTTPOBJECT-002.jpg", common::sc(40011));
    assert_eq!(o["file"], name.as_str());
    assert_eq!(out.read(&name), whole);
    assert_eq!(o["sha256"], sha256(&whole));
    assert_eq!(o["complete"], true);
    assert_eq!(o["conflicts"], serde_json::json!([]));
    let starts: Vec<u64> = o["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_u64().unwrap())
        .collect();
    assert_eq!(starts, [0, 30_000, len as u64 / 2]);
}

#[test]
fn incomplete_ranges_leave_a_listed_hole_and_disagreeing_overlaps_are_reported() {
    let whole = jpeg();
    let mut w = writer();
    let mut c = open(&mut w, 40013);
    let mut ranges = fifteen(whole.len());
    let (ha, hb) = ranges.remove(7);
    fetch(&mut c, &mut w, &whole, &ranges);
    c.close(&mut w).unwrap();
    // Another resource whose second part disagrees where it overlaps the first.
    let mut c2 = open(&mut w, 40014);
    let mut other = whole.clone();
    other[5000] ^= 0x55;
    let req = |a: usize, b: usize| get("/other.jpg", &[&format!("Range: bytes={a}-{b}")]);
    exchange(
        &mut c2,
        &mut w,
        &req(0, 9999),
        &part_response(&whole, 0, 9999, ETAG),
    );
    exchange(
        &mut c2,
        &mut w,
        &req(4000, whole.len() - 1),
        &part_response(&other, 4000, whole.len() - 1, ETAG),
    );
    c2.close(&mut w).unwrap();
    let out = carve(w);
    let objs = objects(&out);
    assert_eq!(objs.len(), 2, "{objs:#?}");
    let holed = objs.iter().find(|o| o["uri"] == "/photo.jpg").unwrap();
    let mut want = whole.clone();
    want[ha..=hb].fill(0);
    assert_eq!(out.read(holed["file"].as_str().unwrap()), want);
    assert_eq!(holed["holes"], serde_json::json!([[ha, hb - ha + 1]]));
    assert_eq!(holed["complete"], false);
    assert_eq!(holed["sha256"], Value::Null);
    assert_eq!(holed["size"], whole.len());
    let conflicted = objs.iter().find(|o| o["uri"] == "/other.jpg").unwrap();
    assert_eq!(conflicted["conflicts"], serde_json::json!([[5000, 5000]]));
    assert_eq!(conflicted["complete"], false);
    // The part with the lower offset is kept where they disagree.
    assert_eq!(out.read(conflicted["file"].as_str().unwrap()), whole);
}

#[test]
fn ranges_with_other_validators_are_other_objects() {
    let whole = jpeg();
    let mut w = writer();
    let mut c = open(&mut w, 40015);
    let half = whole.len() / 2;
    let req = |a: usize, b: usize| get("/photo.jpg", &[&format!("Range: bytes={a}-{b}")]);
    exchange(
        &mut c,
        &mut w,
        &req(0, half - 1),
        &part_response(&whole, 0, half - 1, ETAG),
    );
    exchange(
        &mut c,
        &mut w,
        &req(half, whole.len() - 1),
        &part_response(&whole, half, whole.len() - 1, "ETag: \"other\""),
    );
    c.close(&mut w).unwrap();
    let out = carve(w);
    let objs = objects(&out);
    assert_eq!(objs.len(), 2, "{objs:#?}");
    for o in objs {
        assert_eq!(o["complete"], false);
        assert_eq!(o["holes"].as_array().unwrap().len(), 1);
    }
}

// ---------------------------------------------------------------------------
// Files out of multipart bodies.

/// A POST of `body` with `content_type`.
fn post(uri: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {uri} HTTP/1.1\r\nHost: example.com\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn an_upload_of_two_files_yields_both_byte_exact_with_their_names() {
    let photo = jpeg();
    let text = gen("upload", 40);
    let mut body = Vec::new();
    let mut add = |headers: &str, bytes: &[u8]| {
        body.extend_from_slice(b"--b0undary\r\n");
        body.extend_from_slice(headers.as_bytes());
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    add(
        "Content-Disposition: form-data; name=\"note\"",
        b"two files",
    );
    add(
        "Content-Disposition: form-data; name=\"a\"; filename=\"holiday.jpg\"\r\nContent-Type: image/jpeg",
        &photo,
    );
    add(
        "Content-Disposition: form-data; name=\"b\"; filename=\"C:\\\\Temp\\\\notes.txt\"\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64",
        b64(&text).as_bytes(),
    );
    body.extend_from_slice(b"--b0undary--\r\n");
    let mut w = writer();
    let mut c = open(&mut w, 40020);
    exchange(
        &mut c,
        &mut w,
        &post("/upload", "multipart/form-data; boundary=b0undary", &body),
        &response("200 OK", &[], b"ok"),
    );
    c.close(&mut w).unwrap();
    let out = carve(w);
    let b = &out.by_uri("/upload")["request_body"];
    let stem = format!("{}-HTTPREQBODY-001", common::cs(40020));
    assert_eq!(b["file"], stem.as_str());
    assert_eq!(out.read(&stem), body, "the body file stays as sent");
    let parts = b["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0]["name"], "note");
    assert_eq!(parts[0]["filename"], Value::Null);
    assert_eq!(out.read(&format!("{stem}-PART-01")), b"two files");
    assert_eq!(parts[1]["filename"], "holiday.jpg");
    assert_eq!(parts[1]["file"], format!("{stem}-PART-02.jpg").as_str());
    assert_eq!(out.read(&format!("{stem}-PART-02.jpg")), photo);
    assert_eq!(parts[1]["sha256"], sha256(&photo));
    assert_eq!(parts[1]["size"], photo.len());
    assert_eq!(parts[2]["filename"], "notes.txt");
    assert_eq!(parts[2]["transfer_encoding"], "base64");
    assert_eq!(out.read(&format!("{stem}-PART-03.txt")), text);
    assert_eq!(
        parts[2]["headers"][0],
        serde_json::json!([
            "Content-Disposition",
            "form-data; name=\"b\"; filename=\"C:\\\\Temp\\\\notes.txt\""
        ])
    );
    // The claimed names never became files.
    assert!(!out.out.join("holiday.jpg").exists() && !out.out.join("notes.txt").exists());
}

#[test]
fn nested_multipart_and_quoted_printable_parts_are_split() {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--outer\r\nContent-Disposition: form-data; name=\"files\"\r\n\
Content-Type: multipart/mixed; boundary=inner\r\n\r\n\
--inner\r\nContent-Disposition: file; filename=\"one.txt\"\r\nContent-Type: text/plain\r\n\r\n\
first file\r\n\
--inner\r\nContent-Disposition: file; filename=\"two.txt\"\r\nContent-Type: text/plain\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
caf=C3=A9 =3D coffee\r\n\
--inner--\r\n\
--outer--\r\n",
    );
    let mut w = writer();
    let mut c = open(&mut w, 40021);
    exchange(
        &mut c,
        &mut w,
        &post("/nested", "multipart/form-data; boundary=outer", &body),
        &response("204 No Content", &[], b""),
    );
    c.close(&mut w).unwrap();
    let out = carve(w);
    let parts = out.by_uri("/nested")["request_body"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    let stem = format!("{}-HTTPREQBODY-001", common::cs(40021));
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["filename"], "one.txt");
    assert_eq!(out.read(&format!("{stem}-PART-01.txt")), b"first file");
    assert_eq!(parts[1]["filename"], "two.txt");
    assert_eq!(
        out.read(&format!("{stem}-PART-02.txt")),
        "café = coffee".as_bytes()
    );
}

#[test]
fn a_byteranges_response_is_split_and_its_ranges_assembled() {
    let whole = jpeg();
    let len = whole.len();
    let cuts = [(0, 49_999), (50_000, 99_999), (100_000, len - 1)];
    let mut body = Vec::new();
    for &(a, b) in &cuts {
        body.extend_from_slice(
            format!(
                "\r\n--RANGES\r\nContent-Type: image/jpeg\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&whole[a..=b]);
    }
    body.extend_from_slice(b"\r\n--RANGES--\r\n");
    let mut w = writer();
    let mut c = open(&mut w, 40022);
    let req = get("/photo.jpg", &["Range: bytes=0-49999,50000-99999,100000-"]);
    let resp = response(
        "206 Partial Content",
        &[ETAG, "Content-Type: multipart/byteranges; boundary=RANGES"],
        &body,
    );
    exchange(&mut c, &mut w, &req, &resp);
    c.close(&mut w).unwrap();
    let out = carve(w);
    let b = &out.by_uri("/photo.jpg")["response_body"];
    let parts = b["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    for (p, &(a, e)) in parts.iter().zip(&cuts) {
        assert_eq!(
            p["range"],
            serde_json::json!({"start": a, "end": e, "total": len})
        );
        assert_eq!(out.read(p["file"].as_str().unwrap()), &whole[a..=e]);
    }
    let objs = objects(&out);
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["sha256"], sha256(&whole));
    assert_eq!(out.read(objs[0]["file"].as_str().unwrap()), whole);
}
