//! The benchmark's TLS shape (issue 16): many HTTPS connections carried in
//! real TLS 1.3 records (AES-128-GCM), with their NSS key log.
//!
//! ```text
//! cargo run --release --example tls_bench_gen -- --connections 5000 -o /tmp/tls.pcap
//! flowsplit -r /tmp/tls.pcap -o OUT -e http --tls-keylog /tmp/tls.pcap.keys
//! cargo run --release --example tls_bench_gen -- verify /tmp/tls.pcap OUT
//! ```
//!
//! Each connection: the TCP handshake; a ClientHello and a ServerHello in
//! the clear (TLS 1.3, TLS_AES_128_GCM_SHA256, random and secrets derived
//! from the connection number); then 1 to 3 exchanges, each a GET in one
//! record and a 200 response whose body (2 to 64 KiB, as the small shape's)
//! is sealed in records of at most 16 KiB with the `aes-gcm` crate, sent in
//! segments of at most 1448 bytes (so records span segments and segments
//! hold the ends and starts of records); then FINs. The key log has each
//! connection's `CLIENT_TRAFFIC_SECRET_0` and `SERVER_TRAFFIC_SECRET_0`
//! (no handshake secrets: there are no encrypted handshake records).
//! `FILE.bodies.tsv` lists every response body's sha256; `verify` checks
//! that the output folder's index names exactly those bodies, decrypted.
//!
//! The record keys come from `flowsplit::tls::keys` (RFC 8446's
//! HKDF-Expand-Label, checked against RFC 8448 in its tests) and the
//! sealing from `aes-gcm`, not from flowsplit's decryption.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use flowsplit::tls::keys::tls13_keys;
use flowsplit::tls::suite::by_id;
use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const MSS: usize = 1448;

fn derive(tag: &str, n: u64) -> [u8; 32] {
    Sha256::digest(format!("{tag} {n}").as_bytes()).into()
}

/// A handshake message in a plaintext record.
fn hello_record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut msg = vec![kind, 0, (body.len() >> 8) as u8, body.len() as u8];
    msg.extend_from_slice(body);
    let mut r = vec![22, 3, 1, (msg.len() >> 8) as u8, msg.len() as u8];
    r.extend(msg);
    r
}

fn client_hello(random: &[u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(random);
    b.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    let sni = b"bench.test";
    let mut ext = Vec::new();
    // server_name
    let list_len = sni.len() + 3;
    ext.extend_from_slice(&[
        0,
        0,
        0,
        (list_len + 2) as u8,
        0,
        list_len as u8,
        0,
        0,
        sni.len() as u8,
    ]);
    ext.extend_from_slice(sni);
    // supported_versions: TLS 1.3
    ext.extend_from_slice(&[0, 43, 0, 3, 2, 3, 4]);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend(ext);
    hello_record(1, &b)
}

fn server_hello(random: &[u8; 32]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(random);
    b.extend_from_slice(&[0, 0x13, 0x01, 0]);
    let ext = [0u8, 43, 0, 2, 3, 4];
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend_from_slice(&ext);
    hello_record(2, &b)
}

/// One direction's sealing state.
struct Sealer {
    aead: Aes128Gcm,
    iv: Vec<u8>,
    seq: u64,
}

impl Sealer {
    fn new(secret: &[u8; 32]) -> Sealer {
        let suite = by_id(0x1301).expect("TLS_AES_128_GCM_SHA256");
        let k = tls13_keys(suite, secret).expect("keys");
        Sealer {
            aead: Aes128Gcm::new_from_slice(&k.key).expect("a 16-byte key"),
            iv: k.iv,
            seq: 0,
        }
    }

    /// `data` as application data records of at most 16 KiB.
    fn seal(&mut self, data: &[u8], out: &mut Vec<u8>) {
        for chunk in data.chunks(1 << 14) {
            let mut inner = chunk.to_vec();
            inner.push(23);
            let len = inner.len() + 16;
            let header = [23, 3, 3, (len >> 8) as u8, len as u8];
            let mut nonce = [0u8; 12];
            nonce.copy_from_slice(&self.iv);
            for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
                *n ^= s;
            }
            self.aead
                .encrypt_in_place(Nonce::from_slice(&nonce), &header, &mut inner)
                .expect("sealing");
            self.seq += 1;
            out.extend_from_slice(&header);
            out.extend(inner);
        }
    }
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn send(
    conv: &mut TcpConversation,
    side: Side,
    data: &[u8],
    out: &mut impl flowsplit_synth::PacketSink,
) -> std::io::Result<()> {
    for seg in data.chunks(MSS) {
        conv.send(side, seg, out)?;
    }
    Ok(())
}

fn generate(connections: u64, path: &Path) -> std::io::Result<()> {
    let file = BufWriter::new(std::fs::File::create(path)?);
    let mut pcap = PcapWriter::new(file, PcapFormat::default(), Link::ethernet().linktype())?;
    let mut keys = BufWriter::new(std::fs::File::create(with_suffix(path, ".keys"))?);
    let mut bodies = BufWriter::new(std::fs::File::create(with_suffix(path, ".bodies.tsv"))?);
    let mut rng = Rng(0x746c_735f_6265_6e63);
    let server = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 1), 443));
    for n in 0..connections {
        let host = 0x0a00_0001u32 + (n / 50_000) as u32;
        let port = 1024 + (n % 50_000) as u16;
        let client = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(host), port));
        let start = Timestamp::new(
            1_700_000_000 + (n / 1000) as i64,
            ((n % 1000) * 1_000_000) as u32,
        );
        let mut conv = TcpConversation::new(Link::ethernet(), client, server, start);
        conv.handshake(&mut pcap)?;
        let (cr, sr) = (derive("client random", n), derive("server random", n));
        let (cs, ss) = (derive("client secret", n), derive("server secret", n));
        writeln!(
            keys,
            "CLIENT_TRAFFIC_SECRET_0 {} {}",
            hex::encode(cr),
            hex::encode(cs)
        )?;
        writeln!(
            keys,
            "SERVER_TRAFFIC_SECRET_0 {} {}",
            hex::encode(cr),
            hex::encode(ss)
        )?;
        send(&mut conv, Side::Client, &client_hello(&cr), &mut pcap)?;
        send(&mut conv, Side::Server, &server_hello(&sr), &mut pcap)?;
        let (mut up, mut down) = (Sealer::new(&cs), Sealer::new(&ss));
        for k in 0..rng.range(1, 3) {
            let request = format!("GET /{n}/{k} HTTP/1.1\r\nHost: bench.test\r\n\r\n");
            let mut wire = Vec::new();
            up.seal(request.as_bytes(), &mut wire);
            send(&mut conv, Side::Client, &wire, &mut pcap)?;
            let size = rng.range(2048, 65536) as usize;
            let body: Vec<u8> = (0..size).map(|i| (rng.0 as usize + i * 31) as u8).collect();
            writeln!(bodies, "/{n}/{k}\t{}", hex::encode(Sha256::digest(&body)))?;
            let mut response =
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n").into_bytes();
            response.extend(body);
            let mut wire = Vec::new();
            down.seal(&response, &mut wire);
            send(&mut conv, Side::Server, &wire, &mut pcap)?;
        }
        conv.close(&mut pcap)?;
    }
    keys.flush()?;
    bodies.flush()?;
    pcap.into_inner().flush()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The index of `out` names exactly the bodies listed, each with its sha256.
fn verify(capture: &Path, out: &Path) -> Result<usize, String> {
    let list =
        std::fs::read_to_string(with_suffix(capture, ".bodies.tsv")).map_err(|e| e.to_string())?;
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for l in list.lines() {
        let (uri, sha) = l.split_once('\t').ok_or("a bad list line")?;
        want.insert(uri.to_string(), sha.to_string());
    }
    let index = std::fs::read_to_string(out.join("http.jsonl")).map_err(|e| e.to_string())?;
    let mut got = BTreeMap::new();
    for l in index.lines() {
        let v: serde_json::Value = serde_json::from_str(l).map_err(|e| e.to_string())?;
        let uri = v["uri"]
            .as_str()
            .ok_or("a record without a URI")?
            .to_string();
        let sha = v["response_body"]["sha256"]
            .as_str()
            .ok_or("a record without a body")?
            .to_string();
        if v["tls"]["decrypted"] != true || v["complete"] != true {
            return Err(format!("{uri}: not decrypted or not complete"));
        }
        got.insert(uri, sha);
    }
    if got != want {
        return Err(format!(
            "{} bodies expected, {} carved, or hashes differ",
            want.len(),
            got.len()
        ));
    }
    Ok(got.len())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["verify", capture, out] => {
            verify(Path::new(capture), Path::new(out)).map(|n| println!("ok: {n} bodies"))
        }
        ["--connections", n, "-o", file] => n
            .parse()
            .map_err(|e| format!("--connections: {e}"))
            .and_then(|n| generate(n, Path::new(file)).map_err(|e| e.to_string())),
        _ => Err("usage: tls_bench_gen --connections N -o FILE | verify FILE OUTDIR".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_bench_gen: {e}");
            ExitCode::FAILURE
        }
    }
}
