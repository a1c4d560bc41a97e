//! End-to-end cases for the post-pass: flow files written into a temporary
//! folder, carved, and the body files and index checked byte for byte.

use super::*;
use name::FlowName;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;

const REQ: &str = "010.000.000.001.51234-010.000.000.002.00080";
const RESP: &str = "010.000.000.002.00080-010.000.000.001.51234";

struct Carved {
    dir: tempfile::TempDir,
    summary: CarveSummary,
    index: Vec<serde_json::Value>,
}

impl Carved {
    fn body(&self, name: &str) -> Vec<u8> {
        fs::read(self.dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    fn exists(&self, name: &str) -> bool {
        self.dir.path().join(name).exists()
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn carve_with(
    req: Option<&[u8]>,
    resp: Option<&[u8]>,
    extra: &[(&str, &[u8])],
    opts: &HttpOptions,
) -> Carved {
    let dir = tempfile::tempdir().unwrap();
    if let Some(r) = req {
        fs::write(dir.path().join(REQ), r).unwrap();
    }
    if let Some(r) = resp {
        fs::write(dir.path().join(RESP), r).unwrap();
    }
    for (name, bytes) in extra {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    let summary = carve_dirs(&[dir.path().to_path_buf()], opts).unwrap();
    let text = fs::read_to_string(dir.path().join(INDEX_NAME)).unwrap();
    let index = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Carved {
        dir,
        summary,
        index,
    }
}

fn carve(req: &[u8], resp: &[u8]) -> Carved {
    carve_with(Some(req), Some(resp), &[], &HttpOptions::default())
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn resp_with_body(head: &str, body: &[u8]) -> Vec<u8> {
    let mut v = head.as_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

const GET: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
const HTML: &[u8] = b"<html><body>Hello, world! Hello, world! Hello, world!</body></html>\n";

fn body_name(n: u32, ext: &str) -> String {
    format!("{RESP}-HTTPBODY-{n:03}{ext}")
}

#[test]
fn content_length_body() {
    let resp = resp_with_body(
        &format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n", HTML.len()),
        HTML,
    );
    let c = carve(GET, &resp);
    assert_eq!(c.body(&body_name(1, ".html")), HTML);
    let r = &c.index[0];
    assert_eq!(r["method"], "GET");
    assert_eq!(r["host"], "example.com");
    assert_eq!(r["uri"], "/index.html");
    assert_eq!(r["status"], 200);
    assert_eq!(r["complete"], true);
    assert_eq!(r["request_file"], REQ);
    assert_eq!(r["response_file"], RESP);
    assert_eq!(r["response_offset"], 0);
    let b = &r["response_body"];
    assert_eq!(b["file"], body_name(1, ".html"));
    assert_eq!(b["sha256"], sha(HTML));
    assert_eq!(b["declared_length"], HTML.len());
    assert_eq!(b["decoded_length"], HTML.len());
    assert_eq!(b["framing"], "length");
    assert_eq!(b["offset"], resp.len() - HTML.len());
    assert_eq!(c.summary.bodies, 1);
    assert_eq!(c.summary.messages, 2);
    assert_eq!(c.summary.incomplete, 0);
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
        7;ext=1\r\nchunked\r\n1\r\n \r\n4\r\nbody\r\n0\r\nX-Checksum: abc\r\n\r\n";
    let c = carve(GET, resp);
    assert_eq!(c.body(&body_name(1, ".txt")), b"chunked body");
    let b = &c.index[0]["response_body"];
    assert_eq!(b["framing"], "chunked");
    assert_eq!(b["complete"], true);
    assert!(b["notes"][0].as_str().unwrap().contains("x-checksum"));
}

#[test]
fn gzip_body_is_decoded() {
    let enc = gzip(HTML);
    let resp = resp_with_body(
        &format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: GZIP\r\nContent-Length: {}\r\n\r\n", enc.len()),
        &enc,
    );
    let c = carve(GET, &resp);
    assert_eq!(c.body(&body_name(1, ".html")), HTML);
    let b = &c.index[0]["response_body"];
    assert_eq!(b["decoded"], true);
    assert_eq!(b["encoded_length"], enc.len());
    assert_eq!(b["sha256"], sha(HTML));
    // -Z keeps it encoded.
    let opts = HttpOptions {
        decode: false,
        ..HttpOptions::default()
    };
    let c = carve_with(Some(GET), Some(&resp), &[], &opts);
    assert_eq!(c.body(&body_name(1, ".html")), enc);
}

#[test]
fn deflate_zlib_and_raw_are_decoded() {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(HTML).unwrap();
    let zlib = z.finish().unwrap();
    let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    d.write_all(HTML).unwrap();
    let raw = d.finish().unwrap();
    let mut resp = Vec::new();
    for enc in [&zlib, &raw] {
        resp.extend(resp_with_body(
            &format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: {}\r\n\r\n",
                enc.len()
            ),
            enc,
        ));
    }
    let req = [GET, GET].concat();
    let c = carve(&req, &resp);
    assert_eq!(c.body(&body_name(1, "")), HTML);
    assert_eq!(c.body(&body_name(2, "")), HTML);
}

#[test]
fn brotli_body_is_decoded() {
    let mut enc = Vec::new();
    {
        let mut e = brotli::CompressorWriter::new(&mut enc, 4096, 5, 22);
        e.write_all(HTML).unwrap();
    }
    let resp = resp_with_body(
        &format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: br\r\nContent-Length: {}\r\n\r\n", enc.len()),
        &enc,
    );
    let c = carve(GET, &resp);
    assert_eq!(c.body(&body_name(1, ".json")), HTML);
}

#[test]
fn gzip_inside_chunked() {
    let enc = gzip(HTML);
    let (a, b) = enc.split_at(10);
    let mut resp =
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in [a, b] {
        resp.extend(format!("{:x}\r\n", part.len()).as_bytes());
        resp.extend(part);
        resp.extend(b"\r\n");
    }
    resp.extend(b"0\r\n\r\n");
    let c = carve(GET, &resp);
    assert_eq!(c.body(&body_name(1, "")), HTML);
    assert_eq!(c.index[0]["response_body"]["encoded_length"], enc.len());
}

#[test]
fn keep_alive_several_responses_numbered_in_order() {
    let mut req = Vec::new();
    let mut resp = Vec::new();
    for i in 1..=3u8 {
        req.extend(format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        let body = vec![b'a' + i; 10 * i as usize];
        resp.extend(resp_with_body(
            &format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
            &body,
        ));
    }
    let c = carve(&req, &resp);
    for i in 1..=3u8 {
        assert_eq!(
            c.body(&body_name(i.into(), "")),
            vec![b'a' + i; 10 * i as usize]
        );
        assert_eq!(c.index[usize::from(i) - 1]["uri"], format!("/{i}"));
        assert_eq!(c.index[usize::from(i) - 1]["request_number"], i);
    }
}

#[test]
fn pipelined_requests_pair_in_order_with_head_in_the_middle() {
    let req = b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthird";
    let c = carve(req, resp);
    assert_eq!(c.body(&body_name(1, "")), b"first");
    assert!(!c.exists(&body_name(2, "")));
    assert_eq!(c.body(&body_name(3, "")), b"third");
    assert_eq!(c.index.len(), 3);
    assert_eq!(c.index[1]["method"], "HEAD");
    assert!(c.index[1]["response_body"].is_null());
    assert_eq!(c.index[2]["uri"], "/c");
}

#[test]
fn head_response_has_no_body() {
    let c = carve(
        b"HEAD / HTTP/1.1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n",
    );
    assert_eq!(c.index.len(), 1);
    assert_eq!(c.index[0]["complete"], true);
    assert_eq!(c.summary.bodies, 0);
}

#[test]
fn no_body_for_204_and_304() {
    let req = [GET, GET, GET].concat();
    let resp =
        b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast";
    let c = carve(&req, resp);
    assert_eq!(c.index.len(), 3);
    assert_eq!(c.index[0]["status"], 204);
    assert_eq!(c.index[1]["status"], 304);
    assert_eq!(c.body(&body_name(3, "")), b"last");
    assert_eq!(c.summary.bodies, 1);
}

#[test]
fn continue_100_then_final_response_and_post_body() {
    let req = b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
    let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\ndone";
    let c = carve(req, resp);
    assert_eq!(c.index.len(), 1);
    let r = &c.index[0];
    assert_eq!(r["interim"][0], 100);
    assert_eq!(r["status"], 201);
    assert_eq!(r["response_number"], 2);
    assert_eq!(c.body(&body_name(2, ".html")), b"done");
    assert_eq!(
        c.body(&format!("{REQ}-HTTPREQBODY-001.txt")),
        b"hello world"
    );
    assert_eq!(r["request_body"]["sha256"], sha(b"hello world"));
}

#[test]
fn chunked_post_body() {
    let req = b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let c = carve(req, resp);
    assert_eq!(c.body(&format!("{REQ}-HTTPREQBODY-001")), b"abc");
    assert_eq!(c.index[1]["uri"], "/next");
    assert_eq!(c.body(&body_name(2, "")), b"ok");
}

#[test]
fn http10_close_delimited() {
    let c = carve(
        b"GET / HTTP/1.0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\nuntil the end",
    );
    assert_eq!(
        c.body(&body_name(1, ".txt")),
        b"all of this\r\nuntil the end"
    );
    assert_eq!(c.index[0]["response_body"]["framing"], "close");
    assert_eq!(c.index[0]["response_body"]["complete"], true);
}

#[test]
fn body_with_gap_is_incomplete() {
    let mut body = b"0123456789".repeat(10);
    body[40..60].fill(0);
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    let resp = resp_with_body(head, &body);
    let report = format!(
        "{{\"file\":\"{RESP}\",\"gaps\":[[{},20]]}}\n{{\"file\":\"{REQ}\",\"gaps\":[]}}\n",
        head.len() + 40
    );
    let c = carve_with(
        Some(GET),
        Some(&resp),
        &[(REPORT_NAME, report.as_bytes())],
        &HttpOptions::default(),
    );
    assert_eq!(c.body(&body_name(1, "")), body);
    let b = &c.index[0]["response_body"];
    assert_eq!(b["complete"], false);
    assert!(b["incomplete"][0].as_str().unwrap().starts_with("gap"));
    assert_eq!(c.index[0]["complete"], false);
    assert_eq!(c.summary.incomplete, 1);
}

#[test]
fn a_hole_at_the_start_of_a_flow_is_passed_over_whole() {
    // 4 MiB of zeros the report lists as a hole, then a request right at
    // its end: not at a line start and not a common method, so only the
    // hole tells where it starts (and the zeros are not scanned).
    let mut req = vec![0u8; 4 << 20];
    let hole = req.len();
    req.extend_from_slice(b"MKCOL /dav/x HTTP/1.1\r\nHost: h\r\n\r\n");
    let report = format!("{{\"file\":\"{REQ}\",\"gaps\":[[0,{hole}]]}}\n");
    let c = carve_with(
        Some(&req),
        Some(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
        &[(REPORT_NAME, report.as_bytes())],
        &HttpOptions::default(),
    );
    assert_eq!(c.index.len(), 1, "{:?}", c.index);
    assert_eq!(c.index[0]["method"], "MKCOL");
    assert_eq!(c.index[0]["request_offset"], hole);
    assert_eq!(c.index[0]["status"], 201);
    assert_eq!(
        c.index[0]["notes"],
        serde_json::json!([format!(
            "{hole} bytes of request flow skipped before this request"
        )])
    );
}

#[test]
fn truncated_flow_is_incomplete() {
    let c = carve(
        GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
    );
    assert_eq!(c.body(&body_name(1, "")), b"only this");
    let b = &c.index[0]["response_body"];
    assert_eq!(b["complete"], false);
    assert!(b["incomplete"][0].as_str().unwrap().starts_with("eof"));
}

#[test]
fn gzip_bomb_is_cut_off_and_flagged() {
    let enc = gzip(&vec![0u8; 64 << 20]);
    let resp = resp_with_body(
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            enc.len()
        ),
        &enc,
    );
    let opts = HttpOptions {
        max_decoded_bytes: 4 << 20,
        ..HttpOptions::default()
    };
    let c = carve_with(Some(GET), Some(&resp), &[], &opts);
    let out = c.body(&body_name(1, ""));
    assert_eq!(out.len(), 4 << 20);
    let b = &c.index[0]["response_body"];
    assert_eq!(b["complete"], false);
    assert!(b["incomplete"][0].as_str().unwrap().contains("limit"));
    assert_eq!(b["sha256"], sha(&vec![0u8; 4 << 20]));
}

#[test]
fn resync_after_garbage_and_midstream_start() {
    // The capture began inside a body; then a garbled message; then good ones.
    let resp = b"tail of an earlier body\r\n\x00\x01\x02HTTP/1.1 oops\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nonebinary junk\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
    let req = b"ody of an earlier post\nGET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    let c = carve(req, resp);
    assert_eq!(c.index.len(), 2);
    assert_eq!(c.body(&body_name(1, "")), b"one");
    assert_eq!(c.body(&body_name(2, "")), b"two");
    assert_eq!(c.index[1]["uri"], "/2");
    assert!(c.index[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("skipped")));
}

#[test]
fn oversized_heads_keep_requests_and_responses_paired() {
    // Request 2 and response 2 have heads longer than MAX_HEAD: each is
    // still counted, so request 3 pairs with response 3.
    let huge = format!("X-Big: {}\r\n", "b".repeat(3 * message::MAX_HEAD));
    let mut req = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    req.extend(format!("GET /2 HTTP/1.1\r\nHost: h\r\n{huge}\r\n").as_bytes());
    req.extend(b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut resp = resp_with_body("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", b"one");
    resp.extend(format!("HTTP/1.1 404 Gone\r\n{huge}Content-Length: 3\r\n\r\n").as_bytes());
    resp.extend(b"two");
    resp.extend(resp_with_body(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        b"three",
    ));
    let c = carve(&req, &resp);
    assert_eq!(c.index.len(), 3, "{:#?}", c.index);
    let notes = |i: usize| -> Vec<String> {
        c.index[i]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(c.index[0]["uri"], "/1");
    assert_eq!(c.body(&body_name(1, "")), b"one");
    assert_eq!(c.index[1]["uri"], "/2");
    assert_eq!(c.index[1]["method"], "GET");
    assert_eq!(c.index[1]["status"], 404);
    assert_eq!(c.index[1]["complete"], false, "{:#}", c.index[1]);
    assert!(c.index[1]["response_body"].is_null());
    assert_eq!(
        notes(1),
        [
            "request head longer than 65536 bytes: its fields were not read and its body was not carved",
            "response head longer than 65536 bytes: its fields were not read and its body was not carved",
        ]
    );
    assert!(!c.exists(&body_name(2, "")));
    assert_eq!(c.index[2]["uri"], "/3");
    assert_eq!(c.index[2]["request_number"], 3);
    assert_eq!(c.index[2]["response_number"], 3);
    assert_eq!(c.body(&body_name(3, "")), b"three");
    assert!(notes(2)
        .iter()
        .any(|n| n.contains("skipped before this request")));
    assert!(notes(2)
        .iter()
        .any(|n| n.contains("skipped before this response")));
}

#[test]
fn connect_tunnel_ends_parsing() {
    let req = b"CONNECT example.com:443 HTTP/1.1\r\n\r\n\x16\x03\x01 tls bytes\nGET /fake HTTP/1.1\r\n\r\n";
    let resp = b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 more tls\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    let c = carve(req, resp);
    assert_eq!(c.index.len(), 1);
    assert_eq!(c.index[0]["method"], "CONNECT");
    assert_eq!(c.summary.bodies, 0);
}

/// An HTTP/2 frame: type, flags, stream, payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A response head (HEADERS, END_HEADERS) and body (DATA, END_STREAM)
/// on `stream`, encoded with `enc`.
fn h2_response(
    enc: &mut loona_hpack::Encoder<'_>,
    stream: u32,
    kind: &str,
    body: &[u8],
) -> Vec<u8> {
    let fields = [
        (&b":status"[..], &b"200"[..]),
        (b"content-type", kind.as_bytes()),
    ];
    let mut out = h2_frame(1, 0x4, stream, &enc.encode(fields));
    out.extend(h2_frame(0, 0x1, stream, body));
    out
}

const UPGRADE_REQUEST: &[u8] = b"GET /first.txt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";

/// `Upgrade: h2c` answered by `101`: the upgrade request takes stream 1's
/// response (the 101 an interim status), the later streams follow, numbered
/// on; nothing of the HTTP/2 bytes is taken for HTTP/1.x.
#[test]
fn h2c_upgrade_is_followed_to_http2() {
    let mut client_enc = loona_hpack::Encoder::new();
    let mut req = UPGRADE_REQUEST.to_vec();
    req.extend(h2::PREFACE);
    req.extend(h2_frame(4, 0, 0, &[]));
    let fields = [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":authority", b"x"),
        (b":path", b"/second.json"),
    ];
    req.extend(h2_frame(1, 0x5, 3, &client_enc.encode(fields)));
    let mut server_enc = loona_hpack::Encoder::new();
    let mut resp =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    resp.extend(h2_frame(4, 0, 0, &[]));
    resp.extend(h2_response(&mut server_enc, 1, "text/plain", b"one"));
    resp.extend(h2_response(
        &mut server_enc,
        3,
        "application/json",
        b"{\"two\":2}",
    ));
    let c = carve(&req, &resp);
    assert_eq!(c.index.len(), 2, "{:?}", c.index);
    let (first, second) = (&c.index[0], &c.index[1]);
    assert_eq!(first["stream_id"], 1);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["uri"], "/first.txt");
    assert_eq!(first["request_version"], "HTTP/1.1");
    assert_eq!(first["request_offset"], 0);
    assert_eq!(first["status"], 200);
    assert_eq!(first["response_version"], "HTTP/2");
    assert_eq!(first["interim"], serde_json::json!([101]));
    assert_eq!(first["complete"], true);
    assert_eq!(
        first["notes"],
        serde_json::json!([
            "upgraded to HTTP/2 (h2c) by the 101 at offset 0 of the response flow: the response is stream 1's"
        ])
    );
    assert_eq!(second["stream_id"], 3);
    assert_eq!(second["uri"], "/second.json");
    assert_eq!(second["request_version"], "HTTP/2");
    assert_eq!(second["complete"], true);
    assert_eq!(c.body(&body_name(1, ".txt")), b"one");
    assert_eq!(c.body(&body_name(2, ".json")), b"{\"two\":2}");
    assert_eq!(c.summary.bodies, 2);
    // The upgrade request, the 101, stream 1's and stream 3's messages.
    assert_eq!(c.summary.messages, 5);
    let mut want = vec![
        body_name(1, ".txt"),
        body_name(2, ".json"),
        INDEX_NAME.to_string(),
        REQ.to_string(),
        RESP.to_string(),
    ];
    want.sort();
    assert_eq!(c.files(), want);
}

/// A `101` to h2c whose request flow does not go on with the HTTP/2
/// connection preface stays a tunnel, noted; a `101` to another protocol
/// is a tunnel as before.
#[test]
fn h2c_upgrade_without_a_preface_and_other_upgrades_stay_tunnels() {
    let mut req = UPGRADE_REQUEST.to_vec();
    req.extend(b"GET /not-http2 HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let c = carve(&req, resp);
    assert_eq!(c.index.len(), 1);
    assert_eq!(c.index[0]["status"], 101);
    let notes = c.index[0]["notes"].as_array().unwrap();
    assert!(notes.contains(&serde_json::json!(format!(
        "upgrade to h2c not followed: no HTTP/2 connection preface at offset {} of the request flow",
        UPGRADE_REQUEST.len()
    ))));
    let ws = b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
    let mut ws_resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
    ws_resp.extend(h2_frame(4, 0, 0, &[]));
    let c = carve(ws, &ws_resp);
    assert_eq!(c.index.len(), 1);
    assert_eq!(c.index[0]["status"], 101);
    assert!(c.index[0]["stream_id"].is_null());
    assert_eq!(
        c.index[0]["notes"],
        serde_json::json!(["connection leaves HTTP here (tunnel or protocol switch)"])
    );
}

#[test]
fn response_only_flow_is_carved() {
    let c = carve_with(
        None,
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        &[],
        &HttpOptions::default(),
    );
    assert_eq!(c.body(&body_name(1, "")), b"hi");
    assert!(c.index[0]["method"].is_null());
    assert_eq!(c.index[0]["complete"], false);
}

#[test]
fn other_files_are_left_alone_and_rerun_is_stable() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi";
    let stray = format!("{RESP}-HTTPBODY-009");
    let c = carve_with(
        Some(GET),
        Some(resp),
        &[
            ("report.jsonl", b"{\"file\":\"x\",\"gaps\":[]}\n"),
            (
                "notes.txt",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
            ),
            (&stray, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno"),
        ],
        &HttpOptions::default(),
    );
    let before = c.files();
    assert_eq!(c.summary.bodies, 1);
    let again = carve_dirs(&[c.dir.path().to_path_buf()], &HttpOptions::default()).unwrap();
    assert_eq!(again.bodies, 1);
    assert_eq!(c.files(), before);
    assert!(before.contains(&"http.jsonl".to_string()));
}

#[test]
fn names_never_come_from_the_traffic() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: ../../x/../text/html\r\nContent-Disposition: attachment; filename=\"../../evil\"\r\nContent-Length: 2\r\n\r\nhi";
    let c = carve(b"GET /../../../etc/passwd HTTP/1.1\r\n\r\n", resp);
    assert_eq!(c.body(&body_name(1, "")), b"hi");
    assert_eq!(c.files().len(), 4);
}

#[test]
fn missing_folder_is_an_error() {
    let r = carve_dirs(
        &[PathBuf::from("/nonexistent/flowsplit-test")],
        &HttpOptions::default(),
    );
    assert!(matches!(r, Err(Error::Open { .. })));
}

#[test]
fn large_flow_streams_through_small_window() {
    // 5 MiB body, more than the window several times over.
    let body: Vec<u8> = (0..5u32 << 20).map(|i| (i % 253) as u8).collect();
    let resp = resp_with_body(
        &format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
        &body,
    );
    let c = carve(GET, &resp);
    assert_eq!(c.index[0]["response_body"]["sha256"], sha(&body));
}

#[test]
fn report_in_a_parent_folder_marks_gaps_in_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("010.000.000.002").join("00080");
    fs::create_dir_all(&sub).unwrap();
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    fs::write(sub.join(RESP), resp_with_body(head, &[0u8; 10])).unwrap();
    fs::write(sub.join(REQ), GET).unwrap();
    let report = format!(
        "{{\"file\":\"010.000.000.002/00080/{RESP}\",\"gaps\":[[{},10]]}}\n",
        head.len()
    );
    fs::write(dir.path().join(REPORT_NAME), report).unwrap();
    let s = carve_dirs(&[dir.path().to_path_buf()], &HttpOptions::default()).unwrap();
    assert_eq!((s.bodies, s.incomplete), (1, 1));
    let index = fs::read_to_string(sub.join(INDEX_NAME)).unwrap();
    assert!(index.contains("\"gap: body overlaps"));
}

/// Flow-file name for `src:sport` → `dst:dport`.
fn flow_name(src: &str, sport: u16, dst: &str, dport: u16) -> String {
    format!("{src}.{sport:05}-{dst}.{dport:05}")
}

/// Two keep-alive requests, and the two responses with bodies.
fn exchange(i: usize) -> (String, String) {
    let req =
        format!("GET /{i}/a HTTP/1.1\r\nHost: h\r\n\r\nGET /{i}/b HTTP/1.1\r\nHost: h\r\n\r\n");
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\na{i:04}\
         HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbb{i:04}"
    );
    (req, resp)
}

/// A folder exercising the walk: connections whose client's name sorts
/// before and after the server's, lone request and lone response flows,
/// two clients carved apart, a subfolder, reports listing gaps in both
/// folders, a file that is not a flow; with `oddities`, a flow that is its
/// own reverse too. The flow files' names.
fn busy_folder(dir: &Path, oddities: bool) -> Vec<String> {
    let mut names = Vec::new();
    let mut write = |folder: &Path, name: String, bytes: &[u8]| {
        fs::create_dir_all(folder).unwrap();
        fs::write(folder.join(&name), bytes).unwrap();
        names.push(name);
    };
    let servers = ["001.002.003.004", "010.000.000.200", "200.000.000.001"];
    let sub = dir.join("sub");
    let mut root_report = String::new();
    let mut sub_report = String::new();
    for i in 0..90 {
        let folder = if i % 9 == 8 { &sub } else { dir };
        let client = format!("010.000.{:03}.{:03}", i % 7, i);
        let server = servers[i % 3];
        let (req, resp) = exchange(i);
        let (rq, rs) = (
            flow_name(&client, 40000 + i as u16, server, 80),
            flow_name(server, 80, &client, 40000 + i as u16),
        );
        if i % 10 != 4 {
            write(folder, rq.clone(), req.as_bytes());
        }
        if i % 10 != 3 {
            write(folder, rs.clone(), resp.as_bytes());
        }
        let gap = format!("[[{},2]]", resp.find("a0").unwrap());
        match (i % 9 == 8, i % 5) {
            (true, 0) => {
                root_report.push_str(&format!("{{\"file\":\"sub/{rs}\",\"gaps\":{gap}}}\n"))
            }
            (true, _) => sub_report.push_str(&format!("{{\"file\":\"{rs}\",\"gaps\":{gap}}}\n")),
            (false, 1) => root_report.push_str(&format!("{{\"file\":\"{rs}\",\"gaps\":{gap}}}\n")),
            (false, _) => root_report.push_str(&format!("{{\"file\":\"{rs}\",\"gaps\":[]}}\n")),
        }
    }
    // The four 206 parts of one resource over four connections, one in the
    // subfolder, and a two-file upload.
    for k in 0..4u8 {
        let folder = if k == 2 { &sub } else { dir };
        let client = format!("010.003.000.{k:03}");
        let req = "GET /obj.bin HTTP/1.1\r\nHost: H\r\n\r\n";
        let resp = format!(
            "HTTP/1.1 206 Partial Content\r\nETag: \"x\"\r\nContent-Range: bytes {}-{}/40\r\n\
             Content-Length: 10\r\n\r\n{}",
            10 * k,
            10 * k + 9,
            char::from(b'A' + k).to_string().repeat(10)
        );
        write(
            folder,
            flow_name(&client, 3000, "010.003.000.100", 80),
            req.as_bytes(),
        );
        write(
            folder,
            flow_name("010.003.000.100", 80, &client, 3000),
            resp.as_bytes(),
        );
    }
    let upload = "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nfile a\r\n\
                  --B\r\nContent-Disposition: form-data; name=\"g\"; filename=\"b.txt\"\r\n\r\nfile b\r\n--B--\r\n";
    let req = format!(
        "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: {}\r\n\r\n{upload}",
        upload.len()
    );
    write(
        dir,
        flow_name("010.004.000.001", 3000, "010.004.000.100", 80),
        req.as_bytes(),
    );
    write(
        dir,
        flow_name("010.004.000.100", 80, "010.004.000.001", 3000),
        b"HTTP/1.1 204 No Content\r\n\r\n",
    );
    let (req, _) = exchange(1000);
    write(
        dir,
        flow_name("010.001.000.001", 1000, "010.001.000.002", 2000),
        req.as_bytes(),
    );
    write(
        dir,
        flow_name("010.001.000.002", 2000, "010.001.000.001", 1000),
        req.as_bytes(),
    );
    if oddities {
        let (req, _) = exchange(2000);
        write(
            dir,
            flow_name("010.002.000.001", 80, "010.002.000.001", 80),
            req.as_bytes(),
        );
    }
    fs::write(dir.join("notes.txt"), b"GET / HTTP/1.1\r\n\r\n").unwrap();
    fs::write(dir.join(REPORT_NAME), root_report).unwrap();
    fs::write(sub.join(REPORT_NAME), sub_report).unwrap();
    names
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            (rel, fs::read(e.path()).unwrap())
        })
        .collect()
}

fn summary_counts(s: &CarveSummary) -> (u64, u64, u64, u64, u64, usize) {
    (
        s.folders,
        s.connections,
        s.messages,
        s.bodies,
        s.incomplete,
        s.errors.len(),
    )
}

#[test]
fn spilling_every_item_changes_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    busy_folder(a.path(), true);
    busy_folder(b.path(), true);
    let opts = HttpOptions::default();
    let held = carve_dirs(&[a.path().to_path_buf()], &opts).unwrap();
    // One byte: every item is a run of its own, merged in rounds.
    let spilled = spill::with_budget(1, || carve_dirs(&[b.path().to_path_buf()], &opts)).unwrap();
    assert_eq!(summary_counts(&held), summary_counts(&spilled));
    assert_eq!(summary_counts(&held), (2, 99, 342, 167, 25, 0));
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    assert!(ta == tb, "same names, different contents");
    let index = String::from_utf8(ta[Path::new(INDEX_NAME)].clone()).unwrap();
    assert_eq!(index.lines().count(), 168 + 4 + 1);
    let object = "010.003.000.100.00080-010.003.000.000.03000-HTTPOBJECT-001";
    assert_eq!(
        ta[Path::new(object)],
        b"AAAAAAAAAABBBBBBBBBBCCCCCCCCCCDDDDDDDDDD"
    );
    assert!(index.contains("\"sub/010.003.000.100.00080-010.003.000.002.03000-HTTPBODY-001\""));
    let part = "010.004.000.001.03000-010.004.000.100.00080-HTTPREQBODY-001-PART-02";
    assert_eq!(ta[Path::new(part)], b"file b");
}

#[test]
fn inline_index_matches_the_post_pass_whatever_the_close_order() {
    let (live_dir, post_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut names = busy_folder(live_dir.path(), false);
    busy_folder(post_dir.path(), false);
    // The reports' gaps go with the flows closed, as the pipeline hands them.
    let gaps: HashMap<PathBuf, Vec<(u64, u64)>> = [live_dir.path(), &live_dir.path().join("sub")]
        .iter()
        .flat_map(|d| {
            let text = fs::read(d.join(REPORT_NAME)).unwrap();
            index::read_gaps(&text[..])
                .unwrap()
                .into_iter()
                .map(|(f, g)| (d.strip_prefix(live_dir.path()).unwrap().join(f), g))
                .collect::<Vec<_>>()
        })
        .collect();
    let opts = HttpOptions::default();
    let carver = spill::with_budget(1, || {
        inline::InlineCarver::new(live_dir.path(), opts.clone())
    });
    names.sort();
    let rel = |n: &String| {
        let sub = live_dir.path().join("sub").join(n);
        if sub.exists() {
            Path::new("sub").join(n)
        } else {
            PathBuf::from(n)
        }
    };
    let mut done = HashSet::new();
    let mut number = 0;
    // Last name first: the reverse of the order the post-pass carves in.
    for n in names.iter().rev() {
        let path = rel(n);
        if !done.insert(path.clone()) {
            continue;
        }
        let flow = FlowName::parse(n).unwrap().reversed();
        let reverse = format!(
            "{}.{:05}-{}.{:05}",
            flow.src.addr, flow.src.port, flow.dst.addr, flow.dst.port
        );
        let reverse = path.with_file_name(reverse);
        let mut paths = vec![path];
        if live_dir.path().join(&reverse).exists() && done.insert(reverse.clone()) {
            paths.push(reverse);
        }
        let files: Vec<String> = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let no_gaps = Vec::new();
        let closed: Vec<inline::ClosedFlow<'_>> = paths
            .iter()
            .zip(&files)
            .map(|(p, file)| inline::ClosedFlow {
                file,
                gaps: gaps.get(p).unwrap_or(&no_gaps),
                connection: None,
            })
            .collect();
        carver.connection_closed(number, &closed);
        number += 1;
    }
    assert!(carver.finish(false, u64::MAX).errors.is_empty());
    carve_dirs(&[post_dir.path().to_path_buf()], &opts).unwrap();
    let (tl, tp) = (tree(live_dir.path()), tree(post_dir.path()));
    assert_eq!(tl.keys().collect::<Vec<_>>(), tp.keys().collect::<Vec<_>>());
    assert!(tl == tp, "same names, different contents");
}

#[test]
fn head_fields_reads_the_head_at_an_offset_in_wire_order() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("flow");
    let head = b"GET /a HTTP/1.1\r\nHost: example.com\r\nX-B:  2 \r\nAccept: */*\r\n\r\nbody";
    let mut bytes = b"junk before".to_vec();
    bytes.extend_from_slice(head);
    std::fs::write(&flow, &bytes).unwrap();
    let fields = super::head_fields(&flow, 11, true).unwrap();
    let fields: Vec<(&[u8], &[u8])> = fields
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    assert_eq!(
        fields,
        [
            (&b"host"[..], &b"example.com"[..]),
            (b"x-b", b"2"),
            (b"accept", b"*/*"),
        ]
    );
    // Not a head at that offset, or a request read as a response: nothing.
    assert!(super::head_fields(&flow, 0, true).unwrap().is_empty());
    assert!(super::head_fields(&flow, 11, false).unwrap().is_empty());
}
