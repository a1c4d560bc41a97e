//! What each fuzz target runs and checks, shared with
//! `tests/fuzz_regressions.rs` (which includes this file), so that a saved
//! input is replayed through exactly the code and the assertions that found
//! it. Every function panics when its input breaks a rule.

#![allow(dead_code)]

use flowsplit::capture::Timestamp;
use flowsplit::config::{Config, Input};
use flowsplit::decode::TcpTuple;
use flowsplit::flow::fill::FillBound;
use flowsplit::http::{carve_dirs, HttpOptions};
use flowsplit::output::{NameFacts, Template};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Component, Path};

/// A fresh temporary folder, in /dev/shm where it exists (keeps the file
/// system out of the measurement).
fn scratch(prefix: &str) -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm")
    } else {
        Path::new("/tmp")
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .expect("a temporary folder")
}

/// Capture reading, decoding, reassembly and flow-file writing, end to end:
/// the input is a capture file, run through `flowsplit::run` into a fresh
/// output folder. Whatever the bytes: no panic, nothing written outside the
/// output folder, only plain files with safe names in it, every report
/// line names a file of exactly the size it states, and the zeros filled
/// stay within the amplification bound (ratio x captured bytes + base, the
/// captured bytes at most the input's size), as the summary states it.
pub fn capture_pipeline(data: &[u8]) {
    let root = scratch("fuzz-capture");
    let input = root.path().join("input.pcap");
    std::fs::write(&input, data).expect("the input is written");
    let out = root.path().join("out");
    let mut config = Config::new(vec![Input::Path(input)], &out);
    // Small limits reach the eviction and give-up paths with small inputs.
    config.idle_timeout = Some(30);
    config.max_pending_per_direction = 4096;
    config.max_pending_total = 16384;
    // A small bound, so that small inputs reach it.
    config.fill_bound = FillBound {
        ratio: 4,
        base: 64 << 10,
    };
    if let Some(files) = config.output.files_mut() {
        files.max_open_files = 4;
    }
    let _ = flowsplit::run(&config);

    let top = names_in(root.path());
    assert!(
        top == ["input.pcap", "out"] || top == ["input.pcap"],
        "something was written beside the output folder: {top:?}"
    );
    let mut sizes = std::collections::HashMap::new();
    if let Ok(entries) = std::fs::read_dir(&out) {
        for e in entries {
            let e = e.expect("an entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(e.path()).expect("metadata");
            assert!(meta.is_file(), "{name:?} is not a plain file");
            assert!(!name.chars().any(char::is_control), "{name:?}");
            sizes.insert(name, meta.len());
        }
    }
    let mut filled = 0u64;
    if let Ok(report) = std::fs::read_to_string(out.join("report.jsonl")) {
        for line in report.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let file = v["file"].as_str().expect("file is a string");
            let bytes = v["bytes"].as_u64().expect("bytes is a number");
            assert_eq!(sizes.get(file), Some(&bytes), "report line {line}");
            filled += v["gap_bytes"].as_u64().expect("gap_bytes is a number");
        }
    }
    if let Ok(text) = std::fs::read(out.join("report.summary.json")) {
        let v: serde_json::Value = serde_json::from_slice(&text).expect("a JSON summary");
        let bytes = v["bytes"].as_u64().expect("bytes is a number");
        let a = &v["amplification"];
        let limit = a["limit"].as_u64().expect("limit is a number");
        assert!(
            bytes <= data.len() as u64,
            "{bytes} captured of {}",
            data.len()
        );
        let credited = a["credited"].as_u64().expect("credited is a number");
        assert!(credited <= bytes, "{v}");
        assert_eq!(limit, 4 * credited + (64 << 10), "{v}");
        assert!(filled <= limit, "{filled} zeros filled, bound {limit}");
        if v["complete"] == true {
            assert_eq!(a["filled"].as_u64(), Some(filled), "{v}");
        }
    }
}

const REQUEST: &str = "010.000.000.001.40000-010.000.000.002.00080";
const RESPONSE: &str = "010.000.000.002.00080-010.000.000.001.40000";

/// The HTTP post-pass: message heads, framing, chunking and content
/// decoding, through `flowsplit::http::carve_dirs` on one connection whose
/// two flow files come from the input. The first two bytes (little-endian)
/// say how many of the rest are the request flow; the remainder is the
/// response flow. Whatever the bytes: no panic, and every file written is a
/// plain file inside the folder, named after a flow file or the index,
/// and decoded bodies grow within the amplification bound.
pub fn http(data: &[u8]) {
    let (split, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
    let (request, response) = rest.split_at(split.min(rest.len()));
    let root = scratch("fuzz-http");
    let flows = root.path().join("flows");
    std::fs::create_dir(&flows).expect("the flow folder");
    std::fs::write(flows.join(REQUEST), request).expect("the request flow");
    std::fs::write(flows.join(RESPONSE), response).expect("the response flow");
    // A small bound, so that small inputs reach it.
    let bound = FillBound {
        ratio: 4,
        base: 64 << 10,
    };
    let opts = HttpOptions {
        decode: true,
        max_decoded_bytes: 1 << 20,
        max_ratio: 1000,
        amplification: bound,
        ..HttpOptions::default()
    };
    let _ = carve_dirs(std::slice::from_ref(&flows), &opts);
    // Decoded bodies grow by at most ratio x the flows' bytes + base.
    if let Ok(index) = std::fs::read_to_string(flows.join("http.jsonl")) {
        let mut grown = 0u64;
        for line in index.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            for side in ["request_body", "response_body"] {
                let b = &v[side];
                if b["decoded"] == true {
                    let decoded = b["decoded_length"].as_u64().expect("decoded_length");
                    let encoded = b["encoded_length"].as_u64().expect("encoded_length");
                    grown += decoded.saturating_sub(encoded);
                }
            }
        }
        let limit = bound.limit((request.len() + response.len()) as u64);
        assert!(grown <= limit, "bodies grew by {grown}, bound {limit}");
    }

    let top = names_in(root.path());
    assert_eq!(top, ["flows"], "something was written beside the folder");
    for e in std::fs::read_dir(&flows).expect("the folder is readable") {
        let e = e.expect("an entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(e.path()).expect("metadata");
        assert!(meta.is_file(), "{name:?} is not a plain file");
        assert!(
            name == "http.jsonl" || name.starts_with(REQUEST) || name.starts_with(RESPONSE),
            "unexpected file {name:?}"
        );
        assert!(!name.chars().any(char::is_control), "{name:?}");
    }
    let request_after = std::fs::read(flows.join(REQUEST)).expect("the request flow");
    let response_after = std::fs::read(flows.join(RESPONSE)).expect("the response flow");
    assert_eq!(request_after, request, "the request flow was changed");
    assert_eq!(response_after, response, "the response flow was changed");
}

/// Takes bytes from the front of the input, zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn addr(&mut self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(self.take::<16>()))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.take::<4>()))
        }
    }
}

/// File-name templates: `Template::parse` on any text and, for the
/// templates it accepts, `render` with any tuple, counter, connection id and
/// time. A rendered name must be a relative path of ordinary components
/// (never absolute, no `.` or `..`, no empty part) without control
/// characters, so `outdir.join(name)` stays in the output folder.
pub fn naming(data: &[u8]) {
    // The template is the text before the first NUL; the facts follow it.
    let (text, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(template) = Template::parse(text) else {
        return;
    };
    let mut b = Bytes(rest);
    let [kind] = b.take::<1>();
    let tuple = TcpTuple {
        src: b.addr(kind & 1 != 0),
        dst: b.addr(kind & 2 != 0),
        sport: u16::from_le_bytes(b.take()),
        dport: u16::from_le_bytes(b.take()),
        vlan: (kind & 4 != 0).then(|| u16::from_le_bytes(b.take()) & 0x0fff),
        tunnel: 0,
    };
    let facts = NameFacts {
        counter: u32::from_le_bytes(b.take()),
        connection: u64::from_le_bytes(b.take()),
        first_ts: Timestamp::new(i64::from_le_bytes(b.take()), u32::from_le_bytes(b.take())),
        macs: (kind & 8 != 0).then(|| b.take()),
    };
    for counter in [facts.counter, 0] {
        for vlan in [tuple.vlan, None] {
            let tuple = TcpTuple { vlan, ..tuple };
            let name = template.render(&tuple, &NameFacts { counter, ..facts });
            assert!(!name.is_empty(), "{text:?} renders an empty name");
            assert!(!name.starts_with('/'), "{text:?} renders {name:?}");
            assert!(
                !name.chars().any(char::is_control),
                "{text:?} renders {name:?}"
            );
            assert!(
                name.split('/')
                    .all(|part| !part.is_empty() && part != "." && part != ".."),
                "{text:?} renders {name:?}"
            );
            assert!(
                Path::new(&name)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))),
                "{text:?} renders {name:?}"
            );
        }
    }
}

/// The names in folder `dir`, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the folder is readable")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// NSS key logs (`--tls-keylog`) and TLS decryption with them: the input is
/// a key log, then (after a NUL) a client flow, then (after another NUL) a
/// server flow, carved with `carve_dirs` and the key log. Whatever the
/// bytes: no panic; every secret kept has the size its label needs; the
/// run writes only into the flow folder, where every new file is a `-TLS`
/// file of one of the two flows, a body file or the index.
pub fn keylog(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let text = parts.next().unwrap_or_default();
    let client = parts.next().unwrap_or_default();
    let server = parts.next().unwrap_or_default();
    let mut log = flowsplit::tls::KeyLog::default();
    log.read(text).expect("reading from memory");
    let lines = text.split(|&b| b == b'\n').count() as u64;
    assert!(
        log.skipped <= lines,
        "{} skipped of {lines} lines",
        log.skipped
    );
    assert!(log.len() as u64 <= lines);

    let root = scratch("fuzz-keylog");
    let flows = root.path().join("flows");
    std::fs::create_dir(&flows).expect("the flow folder");
    let keys = root.path().join("keys");
    std::fs::write(&keys, text).expect("the key log");
    std::fs::write(flows.join(REQUEST), client).expect("the client flow");
    std::fs::write(flows.join(RESPONSE), server).expect("the server flow");
    let opts = HttpOptions {
        tls_keylogs: vec![keys],
        ..HttpOptions::default()
    };
    // A key log with no valid line is an error, not a crash.
    let _ = carve_dirs(std::slice::from_ref(&flows), &opts);
    let top = names_in(root.path());
    assert_eq!(
        top,
        ["flows", "keys"],
        "something was written beside the folder"
    );
    for name in names_in(&flows) {
        let ok = name == REQUEST
            || name == RESPONSE
            || name == "http.jsonl"
            || name == format!("{REQUEST}-TLS")
            || name == format!("{RESPONSE}-TLS")
            || name.starts_with(&format!("{REQUEST}-TLS-HTTP"))
            || name.starts_with(&format!("{RESPONSE}-TLS-HTTP"))
            || name.starts_with(&format!("{REQUEST}-HTTP"))
            || name.starts_with(&format!("{RESPONSE}-HTTP"));
        assert!(ok, "unexpected file {name:?}");
    }
}

/// `--tls-rsa-key` and `--tls-psk`, and the record protection of SSL 3.0
/// to TLS 1.1 (CBC with chained IVs, RC4): the input is parsed as an RSA
/// key file and as a Certificate message, its records are opened under
/// every CBC and RC4 suite at every version from SSL 3.0 with fixed keys,
/// and it is carved as a client flow and (after a NUL) a server flow with
/// testdata/tls/key.pem and a PSK as the keys. Whatever the bytes: no
/// panic; a record opened has lost at least its MAC; the run writes only
/// `-TLS` files, body files and the index into the flow folder.
pub fn tls_keys(data: &[u8]) {
    use flowsplit::tls::{cipher::RecordCipher, keys::DirectionKeys, premaster, psk, rsa, suite};
    let _ = rsa::parse_key(data);
    let _ = rsa::certificate_key(data);
    let _ = std::str::from_utf8(data).map(|s| s.parse::<psk::Psk>());
    for s in suite::suites()
        .iter()
        .filter(|s| s.protection.mac().is_some())
    {
        for version in 0x0300..=0x0302u16 {
            if !s.allows(version) {
                continue;
            }
            let keys = DirectionKeys {
                key: vec![0x11; s.protection.key_len()],
                iv: match s.protection {
                    suite::Protection::Cbc { cipher, .. } => vec![0x22; cipher.size()],
                    _ => Vec::new(),
                },
                mac_key: vec![0x33; s.protection.mac().map_or(0, |m| m.size())],
            };
            for etm in [false, true] {
                let Some(mut c) = RecordCipher::tls12(s.protection, keys.clone(), etm, version)
                else {
                    panic!("{} at {version:#06x}: the keys fit", s.name);
                };
                let mut r = flowsplit::tls::record::Reader::new(data);
                let mut seq = 0;
                while let Ok(Some(rec)) = r.next_record() {
                    if let Ok(p) = c.open(&rec.header, &rec.body, seq) {
                        assert!(
                            p.data.len() < rec.body.len(),
                            "{}: no MAC taken off",
                            s.name
                        );
                    }
                    seq += 1;
                }
            }
        }
    }

    let (client, server) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let root = scratch("fuzz-tls-keys");
    let flows = root.path().join("flows");
    std::fs::create_dir(&flows).expect("the flow folder");
    std::fs::write(flows.join(REQUEST), client).expect("the client flow");
    std::fs::write(flows.join(RESPONSE), server).expect("the server flow");
    let key = rsa::ServerKey::parse(
        "key.pem".parse().expect("a key spec"),
        include_bytes!("../../testdata/tls/key.pem"),
    )
    .expect("testdata/tls/key.pem is a key");
    let opts = HttpOptions {
        tls_keys: std::sync::Arc::new(premaster::Keys {
            psks: vec!["7b9403b1d65c8ba82bb7427aad63deaa".parse().expect("a PSK")],
            rsa: vec![key],
        }),
        ..HttpOptions::default()
    };
    let _ = carve_dirs(std::slice::from_ref(&flows), &opts);
    assert_eq!(
        names_in(root.path()),
        ["flows"],
        "something was written beside the folder"
    );
    for name in names_in(&flows) {
        let ok = name == REQUEST
            || name == RESPONSE
            || name == "http.jsonl"
            || name.starts_with(&format!("{REQUEST}-"))
            || name.starts_with(&format!("{RESPONSE}-"));
        assert!(ok, "unexpected file {name:?}");
    }
}

/// A little-endian pcapng with one Ethernet interface and one Decryption
/// Secrets Block: its secrets type and stated length from the first 8
/// bytes of `data` (when it has them; else `TLSK` and the true length), its
/// body the rest, padded to 32 bits, the block's length that of the body
/// (so a stated length may lie).
pub fn pcapng_with_dsb(data: &[u8]) -> Vec<u8> {
    let (kind, stated, body) = match data {
        [a, b, c, d, e, f, g, h, rest @ ..] => (
            u32::from_le_bytes([*a, *b, *c, *d]),
            u32::from_le_bytes([*e, *f, *g, *h]),
            rest,
        ),
        _ => (0x544c_534b, data.len() as u32, data),
    };
    let mut out = Vec::new();
    // Section header, interface description.
    for word in [0x0A0D_0D0Au32, 28, 0x1A2B_3C4D, 1] {
        out.extend(word.to_le_bytes());
    }
    out.extend((-1i64).to_le_bytes());
    out.extend(28u32.to_le_bytes());
    for word in [1u32, 20, 1, 0, 20] {
        out.extend(word.to_le_bytes());
    }
    let padded = body.len().div_ceil(4) * 4;
    let len = (20 + padded) as u32;
    for word in [0x0000_000Au32, len, kind, stated] {
        out.extend(word.to_le_bytes());
    }
    out.extend(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend(len.to_le_bytes());
    out
}

/// Decryption Secrets Blocks: a pcapng holding one whose type, stated
/// length and body come from `data` (see [`pcapng_with_dsb`]) is read;
/// the key logs handed over lie within the block's body, and the secrets
/// kept from them are no more than their lines, of the right sizes.
pub fn dsb(data: &[u8]) {
    let file = pcapng_with_dsb(data);
    let secrets = flowsplit::tls::keylog::CaptureSecrets::default();
    let mut texts = 0usize;
    let mut lines = 0usize;
    let _ = flowsplit::capture::file::read_stream_with(
        Path::new("dsb.pcapng"),
        &file[..],
        &mut |_, _| {},
        &mut |text| {
            texts += 1;
            assert!(text.len() <= data.len(), "a key log longer than the block");
            lines += text.split(|&b| b == b'\n').count();
            secrets.add(text);
        },
    );
    assert!(texts <= 1);
    let (log, blocks) = secrets.current();
    assert_eq!(blocks as usize, texts);
    assert!(log.len() <= lines, "{} secrets of {lines} lines", log.len());
}
