//! HTTP carving on captures recorded on loopback (`testdata/http/`, made by
//! `testdata/http/record.sh` with the raw-socket server and client next to
//! it; see testdata/README.md).
//!
//! Each test runs the flowsplit binary (`-r CASE.pcap -o TMP -e http`) and
//! checks the carved body files byte for byte against the bodies the server
//! sent, rebuilt here with the server's generator [`gen`] (decoded bytes for
//! compressed bodies), their names, and the index fields that matter for
//! the case. Ports are ephemeral, so flow names are taken from the index;
//! the body names are checked against them.

use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

mod common;

/// `gen(tag, n)` of server.py: n lines `TAG line NNNN\n`.
fn gen(tag: &str, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{tag} line {i:04}\n"))
        .collect::<String>()
        .into_bytes()
}

/// A capture in `testdata/http/`.
fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/http")
        .join(format!("{name}.pcap"))
}

/// What `flowsplit -r CASE.pcap -o TMP -e http` left behind.
struct Carved {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    index: Vec<Value>,
}

impl Carved {
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Names of the body files in the output folder.
    fn body_files(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("-HTTPBODY-") || n.contains("-HTTPREQBODY-"))
            .collect()
    }

    /// Re-read the index (after `flowsplit http` ran over the folder).
    fn reload(&mut self) {
        self.index = read_index(&self.out);
    }

    /// Run `flowsplit http ARGS... OUT` over the folder and re-read the index.
    fn recarve(&mut self, args: &[&str]) {
        let mut all: Vec<&OsStr> = vec![OsStr::new("http"), OsStr::new("-q")];
        all.extend(args.iter().map(OsStr::new));
        all.push(self.out.as_os_str());
        let run = common::flowsplit(&all);
        assert!(run.status.success(), "flowsplit http {args:?}: {run:?}");
        self.reload();
    }
}

fn read_index(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("http.jsonl")).expect("an http.jsonl index");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("index line {l:?}: {e}")))
        .collect()
}

/// Run flowsplit on capture `name` with `-e http` and `extra` flags.
fn carve(name: &str, extra: &[&str]) -> Carved {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pcap = capture(name);
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-q"),
        OsStr::new("-r"),
        pcap.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("-e"),
        OsStr::new("http"),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let run = common::flowsplit(&args);
    assert!(run.status.success(), "flowsplit on {name}: {run:?}");
    let index = read_index(&out);
    Carved {
        _tmp: tmp,
        out,
        index,
    }
}

/// Every record: both halves of one loopback connection, flow names as
/// flowsplit writes them for 127.0.0.1.
fn check_pairing(c: &Carved) {
    assert!(!c.index.is_empty(), "empty index");
    let req = c.index[0]["request_file"].as_str().expect("request_file");
    let resp = c.index[0]["response_file"].as_str().expect("response_file");
    for name in [req, resp] {
        assert!(
            name.starts_with("127.000.000.001.") && name.contains("-127.000.000.001."),
            "flow name {name}"
        );
    }
    let (a, b) = req.split_once('-').unwrap();
    assert_eq!(
        resp,
        format!("{b}-{a}"),
        "the two directions of one connection"
    );
    for r in &c.index {
        assert_eq!(r["request_file"], req, "{r}");
        assert_eq!(r["response_file"], resp, "{r}");
        assert_eq!(r["host"], "localhost", "{r}");
    }
}

/// Check the record's `key` body (`response_body` or `request_body`): its
/// file is `<flow>-HTTP{REQ}BODY-NNN<ext>` (flow and number from the
/// record), holds exactly `want`, and the index agrees (length, sha256,
/// complete).
fn check_body(c: &Carved, rec: &Value, key: &str, ext: &str, want: &[u8]) {
    let (flow, number, kind) = match key {
        "response_body" => (&rec["response_file"], &rec["response_number"], "HTTPBODY"),
        "request_body" => (&rec["request_file"], &rec["request_number"], "HTTPREQBODY"),
        _ => unreachable!(),
    };
    let name = format!(
        "{}-{kind}-{:03}{ext}",
        flow.as_str().unwrap(),
        number.as_u64().unwrap()
    );
    let b = &rec[key];
    assert_eq!(b["file"], name.as_str(), "{key} file in {rec}");
    let got = c.read(&name);
    assert!(
        got == want,
        "{name}: {} bytes differ from the {} sent\ngot:  {:?}\nwant: {:?}",
        got.len(),
        want.len(),
        String::from_utf8_lossy(&got[..got.len().min(200)]),
        String::from_utf8_lossy(&want[..want.len().min(200)]),
    );
    assert_eq!(b["decoded_length"], want.len() as u64, "{rec}");
    assert_eq!(b["sha256"], common::sha256_hex(want).as_str(), "{rec}");
}

/// The body is complete, with nothing noted.
fn check_complete(rec: &Value, key: &str) {
    let b = &rec[key];
    assert_eq!(b["complete"], true, "{key} of {rec}");
    assert_eq!(b["incomplete"], serde_json::json!([]), "{key} of {rec}");
}

/// Method, URI, status and completeness of a record.
fn check_pair(rec: &Value, method: &str, uri: &str, status: u64) {
    assert_eq!(rec["method"], method, "{rec}");
    assert_eq!(rec["uri"], uri, "{rec}");
    assert_eq!(rec["status"], status, "{rec}");
    assert_eq!(rec["request_version"], "HTTP/1.1", "{rec}");
    assert_eq!(rec["response_version"], "HTTP/1.1", "{rec}");
    assert_eq!(rec["complete"], true, "{rec}");
    assert_eq!(rec["notes"], serde_json::json!([]), "{rec}");
}

/// The body files are exactly those named in the index.
fn check_no_other_bodies(c: &Carved) {
    let named: BTreeSet<String> = c
        .index
        .iter()
        .flat_map(|r| [&r["request_body"]["file"], &r["response_body"]["file"]])
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    assert_eq!(c.body_files(), named);
}

/// A single GET answered 200 with a Content-Length body.
fn check_single_get(c: &Carved, uri: &str, ext: &str, want: &[u8]) -> Value {
    check_pairing(c);
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    let r = &c.index[0];
    check_pair(r, "GET", uri, 200);
    assert_eq!(r["request_body"], Value::Null);
    assert_eq!(r["response_number"], 1);
    check_body(c, r, "response_body", ext, want);
    check_complete(r, "response_body");
    check_no_other_bodies(c);
    r.clone()
}

#[test]
fn content_length() {
    let c = carve("content_length", &[]);
    let want = gen("content-length", 60);
    let r = check_single_get(&c, "/content-length.txt", ".txt", &want);
    let b = &r["response_body"];
    assert_eq!(b["framing"], "length");
    assert_eq!(b["declared_length"], 1500);
    assert_eq!(b["wire_length"], 1500);
    assert_eq!(b["encoded_length"], 1500);
    assert_eq!(b["decoded"], false);
    assert_eq!(b["content_type"], "text/plain");
    // The body file is the slice of the flow at the index's offset.
    let flow = c.read(r["response_file"].as_str().unwrap());
    let off = b["offset"].as_u64().unwrap() as usize;
    assert_eq!(&flow[off..off + 1500], &want[..]);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let c = carve("chunked_trailers", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 2, "{:?}", c.index);
    let r = &c.index[0];
    check_pair(r, "GET", "/chunked.txt", 200);
    check_body(&c, r, "response_body", ".txt", &gen("chunked", 30));
    check_complete(r, "response_body");
    let b = &r["response_body"];
    assert_eq!(b["framing"], "chunked");
    assert_eq!(b["transfer_encoding"], "chunked");
    assert_eq!(b["declared_length"], Value::Null);
    assert_eq!(b["encoded_length"], 540);
    assert_eq!(b["content_type"], "text/plain; charset=utf-8");
    assert_eq!(
        b["notes"],
        serde_json::json!(["trailer fields: x-checksum, x-note"])
    );
    // The chunk framing and trailers are all on the wire: the next
    // response starts right after them.
    let after = &c.index[1];
    check_pair(after, "GET", "/after-chunked.txt", 200);
    assert_eq!(
        after["response_offset"].as_u64(),
        Some(b["offset"].as_u64().unwrap() + b["wire_length"].as_u64().unwrap())
    );
    check_body(&c, after, "response_body", ".txt", &gen("after-chunked", 3));
    check_complete(after, "response_body");
    check_no_other_bodies(&c);
}

/// A body sent with `coding`, decoded.
fn check_coded(name: &str, uri: &str, coding: &str, tag: &str, n: usize) -> Carved {
    let c = carve(name, &[]);
    let want = gen(tag, n);
    let r = check_single_get(&c, uri, ".txt", &want);
    let b = &r["response_body"];
    assert_eq!(b["content_encoding"], coding);
    assert_eq!(b["decoded"], true);
    assert_eq!(b["framing"], "length");
    assert_eq!(b["encoded_length"], b["declared_length"]);
    assert!(b["encoded_length"].as_u64().unwrap() < want.len() as u64 / 4);
    assert_eq!(b["notes"], serde_json::json!([]));
    c
}

#[test]
fn gzip() {
    check_coded("gzip", "/gzip.txt", "gzip", "gzip", 80);
}

#[test]
fn gzip_kept_encoded_with_z() {
    let c = carve("gzip", &["-Z"]);
    check_pairing(&c);
    let r = &c.index[0];
    let b = &r["response_body"];
    assert_eq!(b["decoded"], false);
    assert_eq!(b["content_encoding"], "gzip");
    assert_eq!(b["decoded_length"], b["encoded_length"]);
    assert_eq!(b["complete"], true);
    // The file holds the bytes as sent (the flow's slice) ...
    let flow = c.read(r["response_file"].as_str().unwrap());
    let off = b["offset"].as_u64().unwrap() as usize;
    let len = b["wire_length"].as_u64().unwrap() as usize;
    let name = format!("{}-HTTPBODY-001.txt", r["response_file"].as_str().unwrap());
    assert_eq!(b["file"], name.as_str());
    let kept = c.read(&name);
    assert_eq!(kept, &flow[off..off + len]);
    assert_eq!(&kept[..2], b"\x1f\x8b", "a gzip member");
    assert_eq!(b["sha256"], common::sha256_hex(&kept).as_str());
    // ... which decode to the body the server compressed.
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&kept[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, gen("gzip", 80));
}

#[test]
fn deflate_zlib_wrapped() {
    check_coded(
        "deflate_zlib",
        "/deflate-zlib.txt",
        "deflate",
        "deflate-zlib",
        80,
    );
}

#[test]
fn deflate_raw() {
    check_coded(
        "deflate_raw",
        "/deflate-raw.txt",
        "deflate",
        "deflate-raw",
        80,
    );
}

#[test]
fn brotli() {
    check_coded("br", "/br.txt", "br", "brotli", 40);
}

#[test]
fn gzip_inside_chunked() {
    let c = carve("gzip_chunked", &[]);
    let want = gen("gzip-chunked", 200);
    let r = check_single_get(&c, "/gzip-chunked.html", ".html", &want);
    let b = &r["response_body"];
    assert_eq!(b["framing"], "chunked");
    assert_eq!(b["transfer_encoding"], "chunked");
    assert_eq!(b["content_encoding"], "gzip");
    assert_eq!(b["decoded"], true);
    // 64-byte chunks: each adds "40\r\n" and "\r\n", the last one shorter.
    let enc = b["encoded_length"].as_u64().unwrap();
    let chunks = enc.div_ceil(64);
    let last_size_len = format!("{:x}", enc % 64).len() as u64;
    let framing = (chunks - 1) * 6 + last_size_len + 4 + b"0\r\n\r\n".len() as u64;
    assert_eq!(b["wire_length"].as_u64(), Some(enc + framing));
}

#[test]
fn keepalive_several_responses() {
    let c = carve("keepalive", &[]);
    check_pairing(&c);
    let want: [(&str, &str, Vec<u8>); 3] = [
        ("/one.txt", ".txt", gen("keepalive-one", 5)),
        ("/two.json", ".json", b"{\"keepalive\": 2}\n".to_vec()),
        ("/three.html", ".html", gen("keepalive-three", 7)),
    ];
    assert_eq!(c.index.len(), 3, "{:?}", c.index);
    for (i, (r, (uri, ext, body))) in c.index.iter().zip(&want).enumerate() {
        check_pair(r, "GET", uri, 200);
        assert_eq!(r["request_number"], i as u64 + 1);
        assert_eq!(r["response_number"], i as u64 + 1);
        check_body(&c, r, "response_body", ext, body);
        check_complete(r, "response_body");
    }
    check_no_other_bodies(&c);
}

#[test]
fn pipelining() {
    let c = carve("pipelining", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 3, "{:?}", c.index);
    let bodies = [
        gen("pipelined-one", 4),
        gen("pipelined-two", 6),
        gen("pipelined-three", 8),
    ];
    for (i, (r, body)) in c.index.iter().zip(&bodies).enumerate() {
        check_pair(r, "GET", &format!("/p{}.txt", i + 1), 200);
        assert_eq!(r["request_number"], i as u64 + 1);
        check_body(&c, r, "response_body", ".txt", body);
        check_complete(r, "response_body");
    }
    // The three requests were sent back to back, before any response.
    let req = c.read(c.index[0]["request_file"].as_str().unwrap());
    let each = req.len() / 3;
    for (i, r) in c.index.iter().enumerate() {
        assert_eq!(r["request_offset"].as_u64(), Some((i * each) as u64));
    }
    check_no_other_bodies(&c);
}

/// A response without a body (HEAD, 204, 304) then a GET on the same
/// connection, whose body must be framed right after the bodiless head.
fn check_bodiless_then_get(name: &str, method: &str, uri: &str, status: u64, tag: &str) {
    let c = carve(name, &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 2, "{:?}", c.index);
    let first = &c.index[0];
    check_pair(first, method, uri, status);
    assert_eq!(first["response_body"], Value::Null, "{first}");
    assert_eq!(first["request_body"], Value::Null, "{first}");
    let second = &c.index[1];
    check_pair(second, "GET", &format!("/after-{tag}.txt"), 200);
    // Numbered per response, as tcpflow does: the second response's body is 002.
    assert_eq!(second["response_number"], 2);
    check_body(
        &c,
        second,
        "response_body",
        ".txt",
        &gen(&format!("after-{tag}"), 4),
    );
    check_complete(second, "response_body");
    check_no_other_bodies(&c);
}

#[test]
fn head_has_no_body() {
    // The HEAD response declares Content-Length: 1234.
    check_bodiless_then_get("head", "HEAD", "/head.txt", 200, "head");
}

#[test]
fn status_204_has_no_body() {
    check_bodiless_then_get("status_204", "DELETE", "/item/7", 204, "204");
}

#[test]
fn status_304_has_no_body() {
    // The 304 declares Content-Length: 500 (the cached representation's).
    check_bodiless_then_get("status_304", "GET", "/cached.txt", 304, "304");
}

#[test]
fn continue_100_before_the_response() {
    let c = carve("continue_100", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    let r = &c.index[0];
    check_pair(r, "PUT", "/upload.txt", 200);
    assert_eq!(r["interim"], serde_json::json!([100]));
    // The 100 Continue counts as response 1, as tcpflow counts it.
    assert_eq!(r["response_number"], 2);
    assert_eq!(r["response_offset"], b"HTTP/1.1 100 Continue\r\n\r\n".len());
    check_body(&c, r, "request_body", ".txt", &gen("upload", 20));
    check_complete(r, "request_body");
    assert_eq!(r["request_body"]["declared_length"], 340);
    check_body(&c, r, "response_body", ".txt", &gen("upload-stored", 3));
    check_complete(r, "response_body");
    check_no_other_bodies(&c);
}

#[test]
fn post_request_body() {
    let c = carve("post_body", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    let r = &c.index[0];
    check_pair(r, "POST", "/api/items?x=1", 201);
    assert_eq!(r["reason"], "Created");
    let sent = b"{\"name\": \"flowsplit\", \"items\": [1, 2, 3], \"note\": \"POST body\"}\n";
    check_body(&c, r, "request_body", ".json", sent);
    check_complete(r, "request_body");
    assert_eq!(r["request_body"]["content_type"], "application/json");
    check_body(&c, r, "response_body", ".json", b"{\"id\": 1234}\n");
    check_complete(r, "response_body");
    check_no_other_bodies(&c);
}

#[test]
fn http10_close_delimited() {
    let c = carve("http10_close", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    let r = &c.index[0];
    assert_eq!(r["method"], "GET");
    assert_eq!(r["uri"], "/close.txt");
    assert_eq!(r["request_version"], "HTTP/1.0");
    assert_eq!(r["response_version"], "HTTP/1.0");
    assert_eq!(r["status"], 200);
    assert_eq!(r["complete"], true);
    check_body(&c, r, "response_body", ".txt", &gen("close-delimited", 50));
    check_complete(r, "response_body");
    let b = &r["response_body"];
    assert_eq!(b["framing"], "close");
    assert_eq!(b["declared_length"], Value::Null);
    check_no_other_bodies(&c);
}

#[test]
fn gap_in_body_is_incomplete() {
    // record.sh deleted the packet with the body's third quarter (700
    // bytes from "gap line 0100"): flowsplit fills the hole with zeros, the
    // report lists it and the index flags the body.
    let c = carve("gap", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    let r = &c.index[0];
    assert_eq!(r["method"], "GET");
    assert_eq!(r["uri"], "/gap.txt");
    assert_eq!(r["status"], 200);
    let mut want = gen("gap", 200);
    assert!(want[1400..].starts_with(b"gap line 0100"));
    want[1400..2100].fill(0);
    check_body(&c, r, "response_body", ".txt", &want);
    let b = &r["response_body"];
    assert_eq!(b["complete"], false, "{r}");
    assert_eq!(r["complete"], false, "{r}");
    let why = b["incomplete"].as_array().unwrap();
    assert_eq!(why.len(), 1, "{r}");
    assert!(why[0].as_str().unwrap().starts_with("gap"), "{r}");
    // The hole is where the report says.
    let report = common::parse_report(&c.out.join("report.jsonl"));
    let line = report
        .iter()
        .find(|l| l["file"] == r["response_file"])
        .expect("a report line for the response flow");
    let off = b["offset"].as_u64().unwrap() + 1400;
    assert_eq!(line["gaps"], serde_json::json!([[off, 700]]));
    check_no_other_bodies(&c);
}

#[test]
fn gzip_bomb_is_cut_off() {
    // 64 MiB of zeros in about 64 KiB of gzip: past the run's
    // amplification bound (decoded bodies may grow by 16 times their
    // connection's bytes plus 16 MiB) and past the default ratio limit
    // (1000 decoded bytes per encoded byte past 1 MiB).
    let mut c = carve("gzip_bomb", &[]);
    check_pairing(&c);
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    const RATIO: &str = "decoded size limit reached (bomb?): truncated";
    let check = |c: &Carved, decoded: u64, cut_by: Option<&str>| {
        let r = &c.index[0];
        check_bomb_pair(r);
        let b = &r["response_body"];
        assert_eq!(b["content_encoding"], "gzip");
        assert_eq!(b["decoded"], true);
        assert_eq!(b["decoded_length"], decoded, "{r}");
        // application/octet-stream: mime-db's extension.
        let name = format!("{}-HTTPBODY-001.bin", r["response_file"].as_str().unwrap());
        assert_eq!(b["file"], name.as_str());
        let file = std::fs::metadata(c.out.join(&name)).unwrap();
        assert_eq!(file.len(), decoded);
        assert_eq!(
            b["sha256"],
            common::sha256_hex(&vec![0; decoded as usize]).as_str()
        );
        assert_eq!(b["complete"], cut_by.is_none(), "{r}");
        assert_eq!(r["complete"], cut_by.is_none(), "{r}");
        let why: Vec<&str> = cut_by.into_iter().collect();
        assert_eq!(b["incomplete"], serde_json::json!(why));
    };
    let encoded = c.index[0]["response_body"]["encoded_length"]
        .as_u64()
        .unwrap();
    assert!(encoded < 70_000, "{encoded}");
    // The run's bound: the body would grow by more than 16 x the
    // connection's bytes + 16 MiB, and reaches that within its first
    // 64 KiB of gzip, so it is kept as sent, not decoded, and noted.
    let kept_as_sent = |c: &Carved| {
        let r = &c.index[0];
        check_bomb_pair(r);
        let b = &r["response_body"];
        assert_eq!(b["decoded"], false, "{r}");
        assert_eq!(b["decoded_length"], encoded, "{r}");
        assert_eq!(b["complete"], true, "{r}");
        let notes = b["notes"].to_string();
        assert!(
            notes.contains(
                "amplification bound reached (--max-amplification): not decoded, kept as sent"
            ),
            "{r}"
        );
        let name = b["file"].as_str().unwrap();
        let sent = std::fs::read(c.out.join(name)).unwrap();
        assert_eq!(sent.len() as u64, encoded);
        assert_eq!(&sent[..3], &[0x1f, 0x8b, 8], "gzip as sent");
        assert_eq!(b["sha256"], common::sha256_hex(&sent).as_str());
    };
    kept_as_sent(&c);
    let summary: Value =
        serde_json::from_slice(&std::fs::read(c.out.join("report.summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["amplification"]["bodies_not_decoded"], 1,
        "{summary}"
    );
    // flowsplit http holds it to the bound the run recorded: the same.
    c.recarve(&[]);
    kept_as_sent(&c);
    // A size limit within the bound cuts it off at exactly that size.
    c.recarve(&["--max-decoded", "1048576"]);
    check(&c, 1 << 20, Some(RATIO));
    // With room for it, the ratio limit cuts it.
    c.recarve(&["--max-amplification", "2000"]);
    check(&c, encoded * 1000, Some(RATIO));
    // Allowed through, it is the 64 MiB of zeros the server compressed.
    c.recarve(&["--max-ratio", "2000", "--max-amplification", "2000"]);
    check(&c, 64 << 20, None);
}

/// The bomb's request and response.
fn check_bomb_pair(r: &Value) {
    assert_eq!(r["method"], "GET");
    assert_eq!(r["uri"], "/bomb.bin");
    assert_eq!(r["status"], 200);
    assert_eq!(
        r["response_body"]["content_type"],
        "application/octet-stream"
    );
}
