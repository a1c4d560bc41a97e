//! Where one connection ends and the next begins on the same 4-tuple
//! (issue 13), on captures generated here with `flowsplit-synth`, each
//! situation in IPv4 and IPv6: reuse after a close without a SYN (after and
//! within the linger time), a handshake completed after a reset, sequence
//! jumps just below and just above `-m` with and without a handshake, and
//! across the wrap of the sequence space. Then one mixed capture (mid-stream
//! starts, port reuse, keepalives, reordering) in which every direction
//! must be byte-exact under the right `cN` name, and no file may hold more
//! than its real bytes plus its listed gaps, nor a zero run longer than -m.

mod common;

use common::{run_with, Outcome};
use flowsplit_synth::{Link, Side, TcpConversation, Timestamp, ACK, FIN, RST};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Frames collected in memory, in capture order.
type Frames = Vec<(Timestamp, Vec<u8>)>;

const T0: i64 = 1_700_000_000;

/// The two endpoints of the tests' 4-tuple, and its two flow-file names.
struct Tuple {
    client: SocketAddr,
    server: SocketAddr,
    cs: &'static str,
    sc: &'static str,
}

fn tuple(v6: bool) -> Tuple {
    if v6 {
        Tuple {
            client: "[2001:db8::1]:40000".parse().unwrap(),
            server: "[2001:db8::2]:80".parse().unwrap(),
            cs: common::CS6,
            sc: common::SC6,
        }
    } else {
        Tuple {
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            cs: common::CS,
            sc: common::SC,
        }
    }
}

fn conv(t: &Tuple, secs: i64, isn: (u32, u32)) -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        t.client,
        t.server,
        Timestamp::new(secs, 0),
    )
    .with_isn(isn.0, isn.1)
}

/// Write `frames` as a pcap file in a new temporary folder.
fn write_capture(frames: &Frames) -> (tempfile::TempDir, PathBuf) {
    common::write_frames(frames)
}

/// Run flowsplit (the library) on `frames` with `-m` at `max_seek`.
fn split(frames: &Frames, max_seek: u64) -> Outcome {
    let (_keep, path) = write_capture(frames);
    let out = run_with(&[path], |c| c.max_seek = max_seek);
    assert_eq!(out.result, Ok(vec![]), "the run");
    out
}

fn c1(name: &str) -> String {
    format!("{name}c1")
}

/// A connection whose handshake the capture lacks: request, answer, FIN,
/// FIN, ACK.
fn closed_without_syn(t: &Tuple, f: &mut Frames) {
    let mut a = conv(t, T0, (5000, 9000));
    a.send(Side::Client, b"first request", f).unwrap();
    a.send(Side::Server, b"first answer", f).unwrap();
    a.close(f).unwrap();
}

/// The next connection on the 4-tuple, `after` seconds later, again without
/// a SYN, its ISNs 5 and 7 MB past the old ones: within -m of them, but far
/// from where the finished connection ended.
fn next_without_syn(t: &Tuple, after: i64, f: &mut Frames) {
    let mut b = conv(t, T0 + after, (5000 + 5_000_000, 9000 + 7_000_000));
    b.send(Side::Client, b"second request", f).unwrap();
    b.send(Side::Server, b"second answer", f).unwrap();
}

fn reuse_without_syn(v6: bool, after: i64) {
    let t = tuple(v6);
    let mut f = Frames::new();
    closed_without_syn(&t, &mut f);
    next_without_syn(&t, after, &mut f);
    let out = split(&f, 16 << 20);
    out.assert_flows(&[
        (t.cs, b"first request"),
        (t.sc, b"first answer"),
        (&c1(t.cs), b"second request"),
        (&c1(t.sc), b"second answer"),
    ]);
    assert_eq!(out.end(t.cs), "fin");
    assert_eq!(out.line(&c1(t.cs))["gaps"], json!([]));
    assert_ne!(
        out.line(t.cs)["connection"],
        out.line(&c1(t.cs))["connection"]
    );
}

#[test]
fn reuse_after_close_without_a_syn_is_the_next_connection_ipv4() {
    reuse_without_syn(false, 10);
}

#[test]
fn reuse_after_close_without_a_syn_is_the_next_connection_ipv6() {
    reuse_without_syn(true, 10);
}

#[test]
fn reuse_within_the_linger_time_is_the_next_connection_ipv4() {
    reuse_without_syn(false, 1);
}

#[test]
fn reuse_within_the_linger_time_is_the_next_connection_ipv6() {
    reuse_without_syn(true, 1);
}

/// The evasion capture of issue 13: the client's SYN; the server answers
/// RST+ACK, then FIN; the client sends a RST; then the server sends a
/// SYN-ACK with a new ISN, the client ACKs it, and 338 bytes go one way and
/// 79 the other. The endpoints have one connection: so does flowsplit,
/// without the 26,176 zeros the server's FIN would have put in front.
fn rst_then_syn_ack(v6: bool) {
    let t = tuple(v6);
    let mut f = Frames::new();
    let mut c = conv(&t, T0, (1000, 46_175));
    c.syn(Side::Client, &mut f).unwrap();
    c.send_seq(Side::Server, 0, RST | ACK, b"", &mut f).unwrap();
    c.send_seq(Side::Server, 20_000, FIN | ACK, b"", &mut f)
        .unwrap();
    c.send_seq(Side::Client, 1001, RST, b"", &mut f).unwrap();
    c.syn(Side::Server, &mut f).unwrap();
    c.ack(Side::Client, &mut f).unwrap();
    let request: Vec<u8> = (0..338).map(|i| b'a' + (i % 26) as u8).collect();
    let answer: Vec<u8> = (0..79).map(|i| b'A' + (i % 26) as u8).collect();
    c.send(Side::Client, &request, &mut f).unwrap();
    c.send(Side::Server, &answer, &mut f).unwrap();
    let out = split(&f, 16 << 20);
    out.assert_flows(&[(t.cs, &request), (t.sc, &answer)]);
    assert_eq!(out.line(t.sc)["gaps"], json!([]));
    assert_eq!(out.line(t.sc)["jumps"], json!([]));
}

#[test]
fn rst_then_syn_ack_with_a_new_isn_is_one_connection_ipv4() {
    rst_then_syn_ack(false);
}

#[test]
fn rst_then_syn_ack_with_a_new_isn_is_one_connection_ipv6() {
    rst_then_syn_ack(true);
}

const M: u64 = 1000;

/// The client sends `abc`, leaves a hole of `M` bytes, `def`, a hole of
/// `M + 1`, `ghi`; the server answers `ok` before the second hole and `ok2`
/// after it. Client ISN `isn`.
fn jumps(t: &Tuple, handshake: bool, isn: u32) -> Frames {
    let mut f = Frames::new();
    let mut c = conv(t, T0, (isn, 70_000));
    if handshake {
        c.handshake(&mut f).unwrap();
    }
    c.send(Side::Client, b"abc", &mut f).unwrap();
    c.skip(Side::Client, M);
    c.send(Side::Client, b"def", &mut f).unwrap();
    c.send(Side::Server, b"ok", &mut f).unwrap();
    c.skip(Side::Client, M + 1);
    c.send(Side::Client, b"ghi", &mut f).unwrap();
    c.send(Side::Server, b"ok2", &mut f).unwrap();
    f
}

fn with_zeros(a: &[u8], n: u64, b: &[u8]) -> Vec<u8> {
    let mut v = a.to_vec();
    v.extend(std::iter::repeat_n(0, n as usize));
    v.extend_from_slice(b);
    v
}

/// With a handshake: a hole of -m bytes is zero-filled, one of -m + 1 is a
/// jump, listed and not filled; one connection.
fn jumps_with_handshake(v6: bool, isn: u32) {
    let t = tuple(v6);
    let out = split(&jumps(&t, true, isn), M);
    let first = with_zeros(b"abc", M, b"def");
    let client = [first.as_slice(), b"ghi"].concat();
    out.assert_flows(&[(t.cs, &client), (t.sc, b"okok2")]);
    assert_eq!(out.line(t.cs)["gaps"], json!([[3, M]]));
    assert_eq!(out.line(t.cs)["jumps"], json!([[M + 6, M + 1]]));
    assert_eq!(out.line(t.cs)["gap_bytes"], json!(M));
}

/// Without a handshake: a hole of -m bytes is zero-filled, one of -m + 1
/// starts the next connection (tcpflow's rule), for both directions.
fn jumps_without_handshake(v6: bool, isn: u32) {
    let t = tuple(v6);
    let out = split(&jumps(&t, false, isn), M);
    out.assert_flows(&[
        (t.cs, &with_zeros(b"abc", M, b"def")),
        (t.sc, b"ok"),
        (&c1(t.cs), b"ghi"),
        (&c1(t.sc), b"ok2"),
    ]);
    assert_eq!(out.line(t.cs)["gaps"], json!([[3, M]]));
    assert_eq!(out.end(t.cs), "reused");
}

#[test]
fn jumps_just_below_and_above_max_seek_with_a_handshake_ipv4() {
    jumps_with_handshake(false, 1000);
}

#[test]
fn jumps_just_below_and_above_max_seek_with_a_handshake_ipv6() {
    jumps_with_handshake(true, 1000);
}

#[test]
fn jumps_just_below_and_above_max_seek_without_a_handshake_ipv4() {
    jumps_without_handshake(false, 1000);
}

#[test]
fn jumps_just_below_and_above_max_seek_without_a_handshake_ipv6() {
    jumps_without_handshake(true, 1000);
}

/// The client's stream starts 500 bytes before 2^32: both holes cross the
/// wrap of the sequence space.
const NEAR_WRAP: u32 = u32::MAX - 500;

#[test]
fn jumps_across_the_wrap_of_the_sequence_space_with_a_handshake_ipv4() {
    jumps_with_handshake(false, NEAR_WRAP);
}

#[test]
fn jumps_across_the_wrap_of_the_sequence_space_with_a_handshake_ipv6() {
    jumps_with_handshake(true, NEAR_WRAP);
}

#[test]
fn jumps_across_the_wrap_of_the_sequence_space_without_a_handshake_ipv4() {
    jumps_without_handshake(false, NEAR_WRAP);
}

#[test]
fn jumps_across_the_wrap_of_the_sequence_space_without_a_handshake_ipv6() {
    jumps_without_handshake(true, NEAR_WRAP);
}

#[test]
fn m_option_is_read_attached_and_separate_by_the_binary() {
    let t = tuple(false);
    let (_keep, path) = write_capture(&jumps(&t, true, 1000));
    for m in [&["-m1000"][..], &["-m", "1000"]] {
        let dir = tempfile::tempdir().unwrap();
        let outdir = dir.path().join("out");
        let mut args: Vec<&std::ffi::OsStr> = vec!["-q".as_ref(), "-r".as_ref(), path.as_ref()];
        args.extend(["-o".as_ref(), outdir.as_os_str()]);
        args.extend(m.iter().map(|a| std::ffi::OsStr::new(*a)));
        let run = common::flowsplit(&args);
        assert_eq!(run.status.code(), Some(0), "{m:?}");
        let report = common::parse_report(&outdir.join("report.jsonl"));
        let line = report.iter().find(|l| l["file"] == t.cs).unwrap();
        assert_eq!(line["jumps"], json!([[M + 6, M + 1]]), "{m:?}");
    }
}

// ---------------------------------------------------------------------------
// A mixed capture.

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Payload bytes, never zero (so a zero run in a file is a filled gap).
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| 1 + self.below(255) as u8).collect()
    }
}

/// tcpflow's name of the direction from `src` to `dst` with counter `k`.
fn flow_name(src: SocketAddr, dst: SocketAddr, k: u32) -> String {
    fn addr(a: SocketAddr) -> String {
        match a {
            SocketAddr::V4(v) => {
                let o = v.ip().octets();
                format!("{:03}.{:03}.{:03}.{:03}", o[0], o[1], o[2], o[3])
            }
            SocketAddr::V6(v) => v.ip().to_string(),
        }
    }
    let c = if k > 0 {
        format!("c{k}")
    } else {
        String::new()
    };
    format!(
        "{}.{:05}-{}.{:05}{c}",
        addr(src),
        src.port(),
        addr(dst),
        dst.port()
    )
}

/// How a generated connection ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Fin,
    Rst,
    /// No FIN and no RST in the capture: the next connection on the 4-tuple
    /// must start with a SYN to be told apart.
    Open,
}

/// The mixed capture: `tuples` 4-tuples (IPv4 and IPv6), each carrying
/// several connections one after the other; each connection with or
/// without its handshake (a capture that starts mid-stream, or SYNs
/// filtered out), a few exchanges with adjacent segments swapped, keepalive
/// probes, and a FIN or RST close or none. The next connection on a 4-tuple
/// comes within the linger time or after it; it has no SYN only when the
/// one before was closed. ISNs are random but never within 32 MiB of the
/// previous connection's on the 4-tuple (closer ones cannot be told apart
/// without a SYN, by flowsplit or tcpflow). Returns the frames in capture
/// order and every direction's expected bytes by file name.
fn mixed(seed: u64, tuples: usize) -> (Frames, BTreeMap<String, Vec<u8>>) {
    let mut rng = Rng(seed);
    let mut frames: Frames = Vec::new();
    let mut expected = BTreeMap::new();
    for t in 0..tuples {
        let v6 = t % 3 == 2;
        let port = 20_000 + t as u16;
        let (client, server): (SocketAddr, SocketAddr) = if v6 {
            (
                format!("[2001:db8::{}]:{port}", 10 + t % 7)
                    .parse()
                    .unwrap(),
                "[2001:db8::80]:443".parse().unwrap(),
            )
        } else {
            (
                format!("10.1.{}.{}:{port}", t / 200, 1 + t % 200)
                    .parse()
                    .unwrap(),
                "10.2.0.1:80".parse().unwrap(),
            )
        };
        // Each tuple starts at its own time within the first minute, so
        // tuples interleave.
        let mut secs = T0 + rng.below(60) as i64;
        let mut nanos = rng.below(1_000_000_000) as u32;
        let mut prev: Option<((u32, u32), Ending)> = None;
        let conns = 2 + rng.below(5);
        for k in 0..conns {
            let far = |a: u32, b: u32| a.wrapping_sub(b).min(b.wrapping_sub(a)) > 32 << 20;
            let isn = loop {
                let isn = (rng.next() as u32, rng.next() as u32);
                match prev {
                    Some((p, _)) if !(far(isn.0, p.0) && far(isn.1, p.1)) => continue,
                    _ => break isn,
                }
            };
            let handshake = match prev {
                Some((_, Ending::Open)) => true,
                _ => rng.chance(50),
            };
            let mut c = TcpConversation::new(
                Link::ethernet(),
                client,
                server,
                Timestamp::new(secs, nanos),
            )
            .with_isn(isn.0, isn.1);
            c.clock.step_nanos = 1_000_000 + rng.below(50_000_000);
            let mut own: Frames = Vec::new();
            let mut sent: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
            if handshake {
                c.handshake(&mut own).unwrap();
            }
            let exchanges = 1 + rng.below(4);
            // A mid-stream capture may begin with the server's bytes.
            let server_first = !handshake && rng.chance(30);
            for x in 0..exchanges {
                let order = if server_first && x == 0 {
                    [Side::Server, Side::Client]
                } else {
                    [Side::Client, Side::Server]
                };
                for side in order {
                    let segments = 1 + rng.below(4);
                    let start = own.len();
                    for _ in 0..segments {
                        let len = 1 + rng.below(1400) as usize;
                        let data = rng.bytes(len);
                        c.send(side, &data, &mut own).unwrap();
                        sent[usize::from(side == Side::Server)].extend_from_slice(&data);
                    }
                    // Swap two adjacent segments' frames (their times stay).
                    if segments > 1 && rng.chance(40) {
                        let i = start + rng.below(segments - 1) as usize;
                        let (a, b) = own.split_at_mut(i + 1);
                        std::mem::swap(&mut a[i].1, &mut b[0].1);
                    }
                    if rng.chance(25) {
                        // A keepalive probe, with or without a garbage byte.
                        let garbage = rng.chance(50).then_some(0u8);
                        c.keepalive(side, garbage, &mut own).unwrap();
                        c.ack(side.other(), &mut own).unwrap();
                    }
                }
            }
            let ending = match rng.below(10) {
                0..=5 => Ending::Fin,
                6..=7 => Ending::Rst,
                _ if k + 1 < conns => Ending::Open,
                _ => Ending::Fin,
            };
            match ending {
                Ending::Fin => c.close(&mut own).unwrap(),
                Ending::Rst => c.rst(Side::Client, &mut own).unwrap(),
                Ending::Open => {}
            }
            for (i, (src, dst)) in [(client, server), (server, client)].into_iter().enumerate() {
                expected.insert(flow_name(src, dst, k as u32), std::mem::take(&mut sent[i]));
            }
            let last = own.last().map(|f| f.0).unwrap_or(c.clock.now);
            frames.extend(own);
            prev = Some((isn, ending));
            // The next connection: within the linger time or after it.
            let pause = if rng.chance(50) {
                rng.below(2_500_000_000)
            } else {
                4_000_000_000 + rng.below(20_000_000_000)
            };
            let at = last.secs as u128 * 1_000_000_000 + u128::from(last.nanos) + u128::from(pause);
            secs = (at / 1_000_000_000) as i64;
            nanos = (at % 1_000_000_000) as u32;
        }
    }
    frames.sort_by_key(|f| f.0);
    (frames, expected)
}

#[test]
fn mixed_capture_every_direction_is_exact_under_its_counter_name() {
    let (frames, expected) = mixed(0x13_0b0d_5eed, 120);
    let directions = expected.len();
    assert!(directions > 600, "{directions} directions generated");
    let out = split(&frames, 16 << 20);
    let want: Vec<(&str, &[u8])> = expected
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    // Exact file names and bytes, and a report that agrees with them.
    out.assert_flows(&want);
    let max_seek = 16u64 << 20;
    for l in &out.report {
        let name = l["file"].as_str().unwrap();
        let real = expected[name].len() as u64;
        let bytes = l["bytes"].as_u64().unwrap();
        let gap_bytes = l["gap_bytes"].as_u64().unwrap();
        assert!(
            bytes <= real + gap_bytes,
            "{name}: {bytes} bytes, {real} real and {gap_bytes} in gaps"
        );
        let longest_zeros = out
            .file(name)
            .split(|b| *b != 0)
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(longest_zeros as u64 <= max_seek, "{name}");
    }
}

#[test]
fn mixed_capture_gives_the_same_output_on_two_threads() {
    let (frames, expected) = mixed(0x5eed_0002, 40);
    let (_keep, path) = write_capture(&frames);
    let one = run_with(std::slice::from_ref(&path), |c| c.threads = 1);
    let two = run_with(&[path], |c| c.threads = 2);
    assert_eq!(one.files, two.files);
    assert_eq!(one.report, two.report);
    let want: Vec<(&str, &[u8])> = expected
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    two.assert_flows(&want);
}

// ---------------------------------------------------------------------------
// Running again into the same folder.

#[test]
fn rerun_into_the_same_folder_keeps_the_earlier_files_and_report_lines() {
    let t = tuple(false);
    let mut f = Frames::new();
    closed_without_syn(&t, &mut f);
    let (_keep, path) = write_capture(&f);
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let report = outdir.join("report.jsonl");
    let run = |quiet: bool| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["-r".as_ref(), path.as_ref()];
        args.extend(["-o".as_ref(), outdir.as_os_str()]);
        if quiet {
            args.push("-q".as_ref());
        }
        common::flowsplit(&args)
    };
    let first = run(true);
    assert_eq!(first.status.code(), Some(0));
    let second = run(false);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(
        common::stderr_lines(&second),
        [
            format!(
                "flowsplit: {} holds an earlier run's lines: this run's are added after them (flow files already there are kept; a name taken gets the next counter)",
                report.display()
            ),
            format!(
                "flowsplit: 1 input, 5 packets, 1 TCP connection, 2 flow files; report in {}, summary in {}",
                report.display(),
                outdir.join("report.summary.json").display()
            )
        ]
    );
    let lines = common::parse_report(&report);
    let files: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    assert_eq!(files, [t.cs, t.sc, &c1(t.cs), &c1(t.sc)]);
    let (on_disk, _) = common::collect(&outdir, Some(&report));
    assert_eq!(on_disk.len(), 4, "{:?}", on_disk.keys());
    for l in &lines {
        let name = l["file"].as_str().unwrap();
        assert_eq!(l["sha256"], common::sha256_hex(&on_disk[name]), "{name}");
    }
    assert_eq!(on_disk[&c1(t.cs)], b"first request");
}
