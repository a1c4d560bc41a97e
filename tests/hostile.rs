//! Hostile and broken input (issue 6): every case runs the `flowsplit`
//! binary (or, for the fragment table's counters, the library's decoder) and
//! asserts the exact outcome: exit code, the lines on stderr, the flow files
//! and the report.
//!
//! Captures are built here with `flowsplit_synth` and then broken by hand
//! (a byte of a header changed, a record cut short), so each test shows the
//! damage it is about. Inputs that already have a test elsewhere are only
//! referred to: a file that is not a capture and a missing file
//! (`tests/cli.rs`), a capture cut inside a record after complete
//! connections (`tests/cli.rs`, `tests/reassembly.rs`), bytes cut by the snap
//! length inside the payload (`tests/reassembly.rs`,
//! `bytes_cut_by_the_snap_length_are_a_gap`).

mod common;

use common::{cs, sc, stderr_lines, testdata, CS, CS6, SC, SC6};
use flowsplit::capture::{LinkType, Packet};
use flowsplit::decode::{Decoder, FragmentLimits};
use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use serde_json::json;
use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Frames with their capture times, as a conversation emits them.
type Frames = Vec<(Timestamp, Vec<u8>)>;

/// Offset of the IP header in the Ethernet frames built here.
const IP: usize = 14;

fn start() -> Timestamp {
    Timestamp::new(1_700_000_000, 0)
}

/// Client port of the IPv4 connections built here: not testdata's 40000,
/// so that they stay apart from `testdata/out_of_order.pcap` read after them.
const PORT: u16 = 41000;

/// An IPv4 connection 10.0.0.1:41000 → 10.0.0.2:80 (files [`cs`]`(PORT)`
/// and [`sc`]`(PORT)`).
fn conv() -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        "10.0.0.1:41000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        start(),
    )
}

/// The standard IPv6 connection ([2001:db8::1]:40000 → [2001:db8::2]:80).
fn conv6() -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        "[2001:db8::1]:40000".parse().unwrap(),
        "[2001:db8::2]:80".parse().unwrap(),
        start(),
    )
}

/// A little-endian microsecond pcap of Ethernet frames.
fn pcap(frames: &[(Timestamp, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap();
    for (ts, f) in frames {
        w.write_packet(*ts, f, f.len() as u32).unwrap();
    }
    w.into_inner()
}

/// A handshake, the client sending `AAAA`, `BBBB`, `CCCC` (frames 3, 4 and
/// 5), the server `ok`, and a close. `break_middle` damages the `BBBB` frame.
fn three_segments(c: &mut TcpConversation, break_middle: impl FnOnce(&mut Vec<u8>)) -> Frames {
    let mut f: Frames = Vec::new();
    c.handshake(&mut f).unwrap();
    for part in [b"AAAA", b"BBBB", b"CCCC"] {
        c.send(Side::Client, part, &mut f).unwrap();
    }
    c.send(Side::Server, b"ok", &mut f).unwrap();
    c.close(&mut f).unwrap();
    break_middle(&mut f[4].1);
    f
}

/// The flows of [`three_segments`] when the `BBBB` frame yielded nothing:
/// its four bytes are a zero-filled gap.
fn assert_middle_is_a_gap(run: &Run, cs_name: &str, sc_name: &str) {
    run.assert_clean_exit();
    run.outcome
        .assert_flows(&[(cs_name, b"AAAA\0\0\0\0CCCC"), (sc_name, b"ok")]);
    assert_eq!(run.outcome.line(cs_name)["gaps"], json!([[4, 4]]));
    assert_eq!(run.outcome.end(cs_name), "fin");
}

/// What one run of the binary did.
struct Run {
    out: Output,
    outcome: common::Outcome,
}

impl Run {
    fn stderr(&self) -> Vec<String> {
        stderr_lines(&self.out)
    }

    /// Exit code 0 and nothing on stderr (runs use `-q`).
    fn assert_clean_exit(&self) {
        assert_eq!(
            self.out.status.code(),
            Some(0),
            "stderr: {:?}",
            self.stderr()
        );
        assert!(self.stderr().is_empty(), "stderr: {:?}", self.stderr());
    }

    /// Exit code 1 and exactly these lines on stderr.
    fn assert_errors(&self, lines: &[String]) {
        assert_eq!(self.stderr(), lines);
        assert_eq!(self.out.status.code(), Some(1));
    }
}

/// Run `flowsplit -q -r INPUT... -o DIR/out EXTRA...`, where `inputs` are
/// capture bytes written to `DIR/input<N>.pcap` or paths of existing files.
fn run(inputs: &[Input<'_>], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<PathBuf> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let path = match input {
            Input::Bytes(b) => {
                let p = dir.path().join(format!("input{i}.pcap"));
                std::fs::write(&p, b).unwrap();
                p
            }
            Input::File(p) => p.clone(),
        };
        args.push("-r".into());
        args.push(path);
    }
    let outdir = dir.path().join("out");
    args.push("-o".into());
    args.push(outdir.clone());
    args.push("-q".into());
    args.extend(extra.iter().map(PathBuf::from));
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(&args)
        .output()
        .unwrap();
    let report = outdir.join("report.jsonl");
    let (files, report) = common::collect(&outdir, Some(&report));
    let outcome = common::Outcome {
        dir,
        files,
        report,
        result: Ok(stderr_lines(&out)),
    };
    Run { out, outcome }
}

/// One input of [`run`].
enum Input<'a> {
    Bytes(&'a [u8]),
    File(PathBuf),
}

/// `DIR/input<i>.pcap` of a run, as it appears in messages.
fn input_path(run: &Run, i: usize) -> String {
    run.outcome
        .dir
        .path()
        .join(format!("input{i}.pcap"))
        .display()
        .to_string()
}

/// The flows of `testdata/out_of_order.pcap`, read after a bad input.
const GOOD: [(&str, &[u8]); 2] = [(CS, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (SC, b"helloworld")];

fn good() -> Input<'static> {
    Input::File(testdata("out_of_order.pcap"))
}

// ---------------------------------------------------------------------------
// The capture file itself

#[test]
fn empty_file_is_one_error_and_the_next_input_is_still_read() {
    let r = run(&[Input::Bytes(b""), good()], &[]);
    r.assert_errors(&[format!(
        "flowsplit: {}: not a pcap or pcapng capture (the file is empty)",
        input_path(&r, 0)
    )]);
    r.outcome.assert_flows(&GOOD);
}

#[test]
fn wrong_magic_is_one_error_and_the_next_input_is_still_read() {
    // A pcap file header whose magic is one off, then a real record.
    let mut bytes = pcap(&three_segments(&mut conv(), |_| {}));
    bytes[0] ^= 1;
    let r = run(&[Input::Bytes(&bytes), good()], &[]);
    r.assert_errors(&[format!(
        "flowsplit: {}: not a pcap or pcapng capture (unknown magic number)",
        input_path(&r, 0)
    )]);
    r.outcome.assert_flows(&GOOD);
}

#[test]
fn file_header_cut_short_is_one_error() {
    let bytes = pcap(&[]);
    let r = run(&[Input::Bytes(&bytes[..10]), good()], &[]);
    r.assert_errors(&[format!(
        "flowsplit: {}: not a pcap or pcapng capture (the file is shorter than a capture header)",
        input_path(&r, 0)
    )]);
    r.outcome.assert_flows(&GOOD);
}

/// The error line for the first input cut inside the record at `offset`.
fn truncated_at(run: &Run, offset: usize) -> String {
    format!(
        "flowsplit: {}: truncated record at byte {offset}; packets before it were processed",
        input_path(run, 0)
    )
}

/// The capture of [`three_segments`] and the byte offset of each record.
fn records() -> (Vec<u8>, Vec<usize>) {
    let frames = three_segments(&mut conv(), |_| {});
    let mut offsets = Vec::new();
    let mut at = 24;
    for (_, f) in &frames {
        offsets.push(at);
        at += 16 + f.len();
    }
    (pcap(&frames), offsets)
}

#[test]
fn truncated_record_header_keeps_every_packet_before_it() {
    // Cut 8 bytes into the header of record 6 (the server's "ok").
    let (bytes, offsets) = records();
    let cut = &bytes[..offsets[6] + 8];
    let r = run(&[Input::Bytes(cut), good()], &[]);
    r.assert_errors(&[truncated_at(&r, offsets[6])]);
    r.outcome
        .assert_flows(&[(&cs(PORT), b"AAAABBBBCCCC"), GOOD[0], GOOD[1]]);
    assert_eq!(r.outcome.end(&cs(PORT)), "end_of_input");
}

#[test]
fn truncated_record_keeps_every_packet_before_it() {
    // Record 5 (`CCCC`) keeps its header and 20 bytes of its frame.
    let (bytes, offsets) = records();
    let cut = &bytes[..offsets[5] + 16 + 20];
    let r = run(&[Input::Bytes(cut), good()], &[]);
    r.assert_errors(&[truncated_at(&r, offsets[5])]);
    r.outcome
        .assert_flows(&[(&cs(PORT), b"AAAABBBB"), GOOD[0], GOOD[1]]);
    assert_eq!(r.outcome.end(&cs(PORT)), "end_of_input");
}

#[test]
fn record_claiming_a_huge_captured_length_past_the_end_is_a_truncated_record() {
    // Record 5 claims 4 GiB - 1 captured bytes in a file that ends sooner.
    let (mut bytes, offsets) = records();
    let at = offsets[5] + 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let r = run(&[Input::Bytes(&bytes), good()], &[]);
    r.assert_errors(&[truncated_at(&r, offsets[5])]);
    r.outcome
        .assert_flows(&[(&cs(PORT), b"AAAABBBB"), GOOD[0], GOOD[1]]);
}

#[test]
fn record_claiming_a_huge_captured_length_is_refused_at_16_mib() {
    // The same claim with 17 MiB after it: the reader grows its buffer to
    // its 16 MiB record limit, no further, and gives up on the file.
    let (mut bytes, offsets) = records();
    let at = offsets[5] + 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes.resize(bytes.len() + (17 << 20), 0);
    let r = run(&[Input::Bytes(&bytes), good()], &[]);
    r.assert_errors(&[format!(
        "flowsplit: {}: a record is larger than 16777216 bytes at byte {}; packets before it were processed",
        input_path(&r, 0),
        offsets[5]
    )]);
    r.outcome
        .assert_flows(&[(&cs(PORT), b"AAAABBBB"), GOOD[0], GOOD[1]]);
}

#[test]
fn records_larger_than_a_read_block_are_read_and_reassembled() {
    // `BBBB` and `CCCC` travel in 3 MiB frames (Ethernet padding after the
    // IP packet): each record gets a read block of its own, whose payload
    // is copied for the workers rather than the block kept. One worker and
    // two give the same flows.
    let mut frames = three_segments(&mut conv(), |_| {});
    frames[4].1.resize(3 << 20, 0xee);
    frames[5].1.resize(3 << 20, 0xee);
    let bytes = pcap(&frames);
    for jobs in ["1", "2"] {
        let r = run(&[Input::Bytes(&bytes)], &["-j", jobs]);
        r.assert_clean_exit();
        r.outcome
            .assert_flows(&[(&cs(PORT), b"AAAABBBBCCCC"), (&sc(PORT), b"ok")]);
        assert_eq!(r.outcome.end(&cs(PORT)), "fin");
    }
}

#[test]
fn captured_length_above_the_original_length_is_read_as_captured() {
    // Every record claims a wire length of 1 byte. The captured bytes are
    // what there is; the IP header says how many of them are the datagram.
    let (mut bytes, offsets) = records();
    for at in &offsets {
        bytes[at + 12..at + 16].copy_from_slice(&1u32.to_le_bytes());
    }
    let r = run(&[Input::Bytes(&bytes)], &[]);
    r.assert_clean_exit();
    r.outcome
        .assert_flows(&[(&cs(PORT), b"AAAABBBBCCCC"), (&sc(PORT), b"ok")]);
}

#[test]
fn snap_length_cutting_the_tcp_header_makes_the_segment_a_gap() {
    // Cut inside the payload: see tests/reassembly.rs,
    // bytes_cut_by_the_snap_length_are_a_gap. Here the cut falls inside the
    // TCP header (IP + 10 bytes of TCP): nothing of the segment is known, so
    // all of it is a gap, never data.
    let frames = three_segments(&mut conv(), |f| f.truncate(IP + 20 + 10));
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, &cs(PORT), &sc(PORT));
}

// ---------------------------------------------------------------------------
// IP and TCP headers

#[test]
fn ipv4_header_length_below_5_skips_the_packet() {
    let frames = three_segments(&mut conv(), |f| f[IP] = 0x44);
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, &cs(PORT), &sc(PORT));
}

#[test]
fn ipv4_header_length_beyond_the_packet_skips_the_packet() {
    // IHL 15 (60 bytes) in a 56-byte datagram.
    let frames = three_segments(&mut conv(), |f| f[IP] = 0x4f);
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, &cs(PORT), &sc(PORT));
}

#[test]
fn ipv4_header_length_beyond_the_capture_skips_the_packet() {
    // IHL 15 in a frame cut to 40 bytes of IP.
    let frames = three_segments(&mut conv(), |f| {
        f[IP] = 0x4f;
        f.truncate(IP + 40);
    });
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, &cs(PORT), &sc(PORT));
}

#[test]
fn tcp_data_offset_below_5_skips_the_packet() {
    let frames = three_segments(&mut conv(), |f| f[IP + 20 + 12] = 0x40);
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, &cs(PORT), &sc(PORT));
}

#[test]
fn tcp_data_offset_beyond_the_packet_skips_the_packet() {
    // Data offset 15 (60 bytes) in 36 bytes of TCP.
    let frames = three_segments(&mut conv(), |f| f[IP + 20 + 12] = 0xf0);
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, &cs(PORT), &sc(PORT));
}

/// Put `headers` (each starting with its next-header byte) between the IPv6
/// header and the TCP header of an Ethernet frame, the first announced as
/// `first`, and fix the payload length.
fn insert_ipv6_ext(frame: &mut Vec<u8>, first: u8, headers: &[Vec<u8>]) {
    let fixed = IP + 40;
    let chain: Vec<u8> = headers.concat();
    frame.splice(fixed..fixed, chain);
    frame[IP + 6] = first;
    let plen = u16::try_from(frame.len() - fixed).unwrap();
    frame[IP + 4..IP + 6].copy_from_slice(&plen.to_be_bytes());
}

/// A Destination Options header of 8 bytes (one PadN option) followed by `next`.
fn dest_opts(next: u8) -> Vec<u8> {
    vec![next, 0, 1, 4, 0, 0, 0, 0]
}

#[test]
fn ipv6_extension_chain_that_never_ends_skips_the_packet() {
    // 64 Destination Options headers, each naming another one: the walk
    // stops at its limit (16) instead of following the chain.
    let headers: Vec<Vec<u8>> = (0..64)
        .map(|i| dest_opts(if i == 63 { 6 } else { 60 }))
        .collect();
    let frames = three_segments(&mut conv6(), |f| insert_ipv6_ext(f, 60, &headers));
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, CS6, SC6);
}

#[test]
fn ipv6_extension_header_running_past_the_packet_skips_the_packet() {
    // A Hop-by-Hop header claiming 2048 bytes in a 52-byte payload.
    let frames = three_segments(&mut conv6(), |f| {
        insert_ipv6_ext(f, 0, &[vec![6, 255, 1, 4, 0, 0, 0, 0]])
    });
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    assert_middle_is_a_gap(&r, CS6, SC6);
}

#[test]
fn ipv6_extension_chain_within_the_limit_is_followed() {
    // The control case: 15 Destination Options headers are fine.
    let headers: Vec<Vec<u8>> = (0..15)
        .map(|i| dest_opts(if i == 14 { 6 } else { 60 }))
        .collect();
    let frames = three_segments(&mut conv6(), |f| insert_ipv6_ext(f, 60, &headers));
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    r.assert_clean_exit();
    r.outcome
        .assert_flows(&[(CS6, b"AAAABBBBCCCC"), (SC6, b"ok")]);
}

// ---------------------------------------------------------------------------
// IP fragments

/// An IPv4 fragment of the datagram in Ethernet frame `whole`: `data` at
/// byte `offset` of its payload, more fragments following when `more`.
fn ipv4_fragment(whole: &[u8], offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut f = whole[..IP + 20].to_vec();
    f.extend_from_slice(data);
    let total = u16::try_from(20 + data.len()).unwrap();
    f[IP + 2..IP + 4].copy_from_slice(&total.to_be_bytes());
    let units = u16::try_from(offset / 8).unwrap();
    let flags = if more { 0x2000 } else { 0 };
    f[IP + 6..IP + 8].copy_from_slice(&(flags | units).to_be_bytes());
    f[IP + 10..IP + 12].copy_from_slice(&[0, 0]); // checksums are not checked
    f
}

/// A handshake, the client sending `AAAA` then 16 bytes `BBBB...` whose
/// frame `fragment` replaces with fragments, then `CCCC`, the server `ok`,
/// a close.
fn fragmented_middle(fragment: impl FnOnce(&[u8]) -> Vec<Vec<u8>>) -> Frames {
    let mut c = conv();
    let mut f: Frames = Vec::new();
    c.handshake(&mut f).unwrap();
    c.send(Side::Client, b"AAAA", &mut f).unwrap();
    c.send(Side::Client, &[b'B'; 16], &mut f).unwrap();
    c.send(Side::Client, b"CCCC", &mut f).unwrap();
    c.send(Side::Server, b"ok", &mut f).unwrap();
    c.close(&mut f).unwrap();
    let (ts, whole) = f.remove(4);
    let frags = fragment(&whole);
    for (i, frag) in frags.into_iter().enumerate() {
        f.insert(4 + i, (ts, frag));
    }
    f
}

#[test]
fn overlapping_fragments_keep_the_bytes_received_first() {
    // TCP is 32 bytes of header (timestamps) and 16 of payload. The second
    // fragment overlaps the first's last 8 bytes with different ones.
    let frames = fragmented_middle(|whole| {
        let l4 = &whole[IP + 20..];
        let mut second = b"XXXXXXXX".to_vec();
        second.extend_from_slice(&l4[40..]);
        vec![
            ipv4_fragment(whole, 0, true, &l4[..40]),
            ipv4_fragment(whole, 32, false, &second),
        ]
    });
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    r.assert_clean_exit();
    r.outcome
        .assert_flows(&[(&cs(PORT), b"AAAABBBBBBBBBBBBBBBBCCCC"), (&sc(PORT), b"ok")]);
}

#[test]
fn teardrop_fragments_drop_the_datagram() {
    // The classic teardrop: the last fragment ends inside the first one.
    let frames = fragmented_middle(|whole| {
        let l4 = &whole[IP + 20..];
        vec![
            ipv4_fragment(whole, 0, true, &l4[..40]),
            ipv4_fragment(whole, 8, false, &l4[8..16]),
        ]
    });
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    r.assert_clean_exit();
    let mut want = b"AAAA".to_vec();
    want.extend([0; 16]);
    want.extend(b"CCCC");
    r.outcome
        .assert_flows(&[(&cs(PORT), &want), (&sc(PORT), b"ok")]);
    assert_eq!(r.outcome.line(&cs(PORT))["gaps"], json!([[4, 16]]));
}

#[test]
fn fragments_reaching_past_65535_bytes_drop_the_datagram() {
    // The first fragment is real; the last claims offset 65528 with 48
    // bytes, so the datagram would be longer than an IP datagram can be.
    let frames = fragmented_middle(|whole| {
        let l4 = &whole[IP + 20..];
        vec![
            ipv4_fragment(whole, 0, true, &l4[..40]),
            ipv4_fragment(whole, 65528, false, &[0x55; 48]),
            ipv4_fragment(whole, 40, false, &l4[40..]),
        ]
    });
    let r = run(&[Input::Bytes(&pcap(&frames))], &[]);
    r.assert_clean_exit();
    let mut want = b"AAAA".to_vec();
    want.extend([0; 16]);
    want.extend(b"CCCC");
    r.outcome
        .assert_flows(&[(&cs(PORT), &want), (&sc(PORT), b"ok")]);
}

/// `n` first fragments (offset `offset`, more to come) of distinct datagrams
/// from distinct sources, as raw IPv4 packets.
fn fragment_flood(n: u32, offset: usize, data: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..n).map(move |i| {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0];
        let total = u16::try_from(20 + data.len()).unwrap();
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[4..6].copy_from_slice(&(i as u16).to_be_bytes());
        let units = u16::try_from(offset / 8).unwrap();
        p[6..8].copy_from_slice(&(0x2000 | units).to_be_bytes());
        p.extend_from_slice(&[10, (i >> 16) as u8, 0, 1]);
        p.extend_from_slice(&[10, 0, 0, 2]);
        p.extend_from_slice(data);
        p
    })
}

#[test]
fn fragment_flood_keeps_the_fragment_table_within_its_limits() {
    // 200,000 datagrams that never complete: the table evicts the oldest
    // and never holds more than its limits (4096 datagrams, 32 MiB).
    let limits = FragmentLimits::default();
    let mut d = Decoder::new(limits);
    for (i, p) in fragment_flood(200_000, 0, &[0xab; 64]).enumerate() {
        let pkt = Packet {
            ts: flowsplit::capture::Timestamp::new(1_700_000_000, (i % 1000) as u32 * 1000),
            link: LinkType::RAW,
            data: &p,
            orig_len: p.len() as u32,
        };
        assert!(d.decode(&pkt).is_err());
        let st = d.fragment_stats();
        assert!(st.pending <= limits.max_datagrams, "{st:?}");
        assert!(st.pending_bytes <= limits.max_bytes, "{st:?}");
    }
    let st = d.fragment_stats();
    assert_eq!(st.pending, limits.max_datagrams);
    assert_eq!(st.evicted, 200_000 - limits.max_datagrams as u64);
    assert_eq!((st.reassembled, st.dropped, st.expired), (0, 0, 0));
}

#[test]
fn fragment_flood_of_far_offsets_is_bounded_by_bytes() {
    // A fragment at offset 64000 makes a 64 KB buffer from 8 bytes; the
    // byte limit, not the datagram count, must stop the growth.
    let limits = FragmentLimits::default();
    let mut d = Decoder::new(limits);
    for p in fragment_flood(20_000, 64_000, &[0xcd; 8]) {
        let pkt = Packet {
            ts: flowsplit::capture::Timestamp::new(1_700_000_000, 0),
            link: LinkType::RAW,
            data: &p,
            orig_len: p.len() as u32,
        };
        assert!(d.decode(&pkt).is_err());
        assert!(d.fragment_stats().pending_bytes <= limits.max_bytes);
    }
    let st = d.fragment_stats();
    assert_eq!(st.pending, limits.max_bytes / 64_008);
    assert_eq!(st.evicted, 20_000 - st.pending as u64);
}

/// Run the binary and wait for it with `wait4`: its exit code (minus the
/// signal number when killed), its peak resident memory in KiB, its stderr.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives its rusage
fn run_measured(args: &[&OsStr]) -> (i32, i64, Vec<u8>) {
    let stderr = tempfile::tempfile().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let mut err = Vec::new();
    let mut stderr = stderr;
    use std::io::{Read, Seek};
    stderr.rewind().unwrap();
    stderr.read_to_end(&mut err).unwrap();
    (code, usage.ru_maxrss, err)
}

#[test]
fn fragment_flood_through_the_binary_stays_within_memory() {
    // 200,000 fragments at offset 64000, as a raw-IP capture: unbounded,
    // they would ask for 12.8 GB. The run keeps within the fragment table's
    // 32 MiB (plus the program) and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut w = PcapWriter::new(file, PcapFormat::default(), 101).unwrap();
    for p in fragment_flood(200_000, 64_000, &[0xcd; 8]) {
        w.write_packet(start(), &p, p.len() as u32).unwrap();
    }
    w.into_inner().flush().unwrap();
    let outdir = dir.path().join("out");
    let (code, rss_kib, err) = run_measured(&[
        OsStr::new("-q"),
        OsStr::new("-r"),
        path.as_os_str(),
        OsStr::new("-o"),
        outdir.as_os_str(),
    ]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    assert!(rss_kib < 200 * 1024, "peak RSS {rss_kib} KiB");
    let mut names: Vec<String> = std::fs::read_dir(&outdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "report.jsonl",
            "report.summary.json",
            "report.traffic.json",
            "report.xml"
        ],
        "only the (empty) reports and the run's summary"
    );
    assert_eq!(std::fs::read(outdir.join("report.jsonl")).unwrap(), b"");
}

// ---------------------------------------------------------------------------
// SYN floods

#[test]
fn syn_flood_keeps_the_flow_table_within_its_cap() {
    // 300,000 SYNs from distinct ports that are never answered, with one real
    // connection active throughout. With --max-connections 1000 (62 per
    // budget shard) the table ends the least recently active connections
    // first: the flood's, which carry no data and so leave no files, while
    // the real one, active every 500 SYNs (about 31 per shard), is written
    // whole. Memory stays bounded (without the cap the flood takes 377 MB).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synflood.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut w = PcapWriter::new(file, PcapFormat::default(), 1).unwrap();
    // One time line shared by all connections, a frame every 10 ms: the
    // table's recency counts in seconds of capture time, and the real
    // connection is active every 5 s while its shard's 62 places span 10 s.
    let mut real = conv();
    real.handshake(&mut w).unwrap();
    let mut clock = real.clock;
    clock.step_nanos = 10_000_000;
    let mut sent = Vec::new();
    for i in 0..300_000u32 {
        if i % 500 == 0 {
            let chunk = format!("{:08}", i / 500);
            real.clock = clock;
            real.send(Side::Client, chunk.as_bytes(), &mut w).unwrap();
            clock = real.clock;
            sent.extend_from_slice(chunk.as_bytes());
        }
        let src = std::net::SocketAddr::from((
            [10, 9, (i >> 16) as u8, (i >> 8) as u8],
            1024 + (i & 0xff) as u16,
        ));
        let mut c = TcpConversation::new(
            Link::ethernet(),
            src,
            "10.0.0.2:80".parse().unwrap(),
            clock.tick(),
        );
        c.syn(Side::Client, &mut w).unwrap();
    }
    real.clock = clock;
    real.send(Side::Server, b"ok", &mut w).unwrap();
    real.close(&mut w).unwrap();
    w.into_inner().flush().unwrap();
    let outdir = dir.path().join("out");
    let (code, rss_kib, err) = run_measured(&[
        OsStr::new("-q"),
        OsStr::new("--max-connections"),
        OsStr::new("1000"),
        OsStr::new("-r"),
        path.as_os_str(),
        OsStr::new("-o"),
        outdir.as_os_str(),
    ]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    assert!(rss_kib < 100 * 1024, "peak RSS {rss_kib} KiB");
    let report = common::parse_report(&outdir.join("report.jsonl"));
    let (files, _) = common::collect(&outdir, Some(&outdir.join("report.jsonl")));
    assert_eq!(files.len(), 2, "{:?}", files.keys());
    assert_eq!(files[&cs(PORT)], sent);
    assert_eq!(files[&sc(PORT)], b"ok");
    assert_eq!(report.len(), 2);
    for l in &report {
        assert_eq!(l["end"], "fin");
        assert_eq!(l["gap_bytes"], 0);
    }
}

// ---------------------------------------------------------------------------
// HTTP

/// What `flowsplit http DIR` did with one connection's two flow files.
struct Carved {
    out: Output,
    dir: tempfile::TempDir,
    /// The lines of `http.jsonl`.
    index: Vec<serde_json::Value>,
}

impl Carved {
    /// Body file `name`'s bytes.
    fn body(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }
}

/// Write `request` and `response` as the two flow files of 10.0.0.1:40000
/// ↔ 10.0.0.2:80 in a fresh folder and run `flowsplit http -q` on it.
fn carve(request: &[u8], response: &[u8]) -> Carved {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(CS), request).unwrap();
    std::fs::write(dir.path().join(SC), response).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["http", "-q"])
        .arg(dir.path())
        .output()
        .unwrap();
    let index = common::parse_report(&dir.path().join("http.jsonl"));
    Carved { out, dir, index }
}

fn assert_carved_cleanly(c: &Carved) {
    assert_eq!(c.out.status.code(), Some(0), "{:?}", stderr_lines(&c.out));
    assert!(
        stderr_lines(&c.out).is_empty(),
        "{:?}",
        stderr_lines(&c.out)
    );
}

/// Two requests, `/a` and `/b`.
const TWO_GETS: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn chunk_size_that_overflows_is_a_bad_chunk_and_the_next_response_is_found() {
    // 20 hex digits do not fit 64 bits.
    let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let c = carve(TWO_GETS, response);
    assert_carved_cleanly(&c);
    assert_eq!(c.index.len(), 2);
    let first = &c.index[0]["response_body"];
    assert_eq!(first["file"], json!(null));
    assert_eq!(first["complete"], json!(false));
    assert_eq!(
        first["incomplete"],
        json!(["bad chunk: invalid chunk-size line"])
    );
    assert_eq!(c.index[0]["uri"], "/a");
    assert_eq!(c.index[1]["uri"], "/b");
    let second = &c.index[1]["response_body"];
    assert_eq!(second["complete"], json!(true));
    assert_eq!(c.body(&format!("{SC}-HTTPBODY-002")), b"ok");
}

#[test]
fn chunk_size_of_2_to_the_64_minus_1_is_a_bad_chunk() {
    // 16 hex digits fit, but no body is that long: refused, not waited for.
    let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        ffffffffffffffff\r\nhello\r\n0\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let c = carve(TWO_GETS, response);
    assert_carved_cleanly(&c);
    assert_eq!(
        c.index[0]["response_body"]["incomplete"],
        json!(["bad chunk: invalid chunk-size line"])
    );
    assert_eq!(c.body(&format!("{SC}-HTTPBODY-002")), b"ok");
}

/// Two responses, with bodies `hi` and `ok`.
const TWO_OKS: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
    HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn header_line_of_megabytes_is_noted_and_pairing_kept() {
    // A 2 MiB header line: the head is over the 64 KiB limit, so only its
    // request line is read. The request is still counted (and said to be
    // oversized), so it pairs with the first response and /b with the
    // second; the bytes of the oversized head are skipped before /b.
    let mut request = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 2 << 20));
    request.extend_from_slice(b"\r\n\r\n");
    let skipped = request.len();
    request.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    let c = carve(&request, TWO_OKS);
    assert_carved_cleanly(&c);
    assert_eq!(c.index.len(), 2);
    let a = &c.index[0];
    assert_eq!(a["uri"], "/a");
    assert_eq!(a["request_offset"], 0);
    assert_eq!(a["response_number"], 1);
    assert_eq!(a["complete"], false);
    assert_eq!(
        a["notes"],
        json!(["request head longer than 65536 bytes: its fields were not read and its body was not carved"])
    );
    assert_eq!(a["response_body"]["file"], format!("{SC}-HTTPBODY-001"));
    let b = &c.index[1];
    assert_eq!(b["uri"], "/b");
    assert_eq!(b["request_offset"], json!(skipped));
    assert_eq!(b["response_number"], 2);
    assert_eq!(b["complete"], true);
    assert_eq!(
        b["notes"],
        json!([format!(
            "{skipped} bytes of request flow skipped before this request"
        )])
    );
    assert_eq!(c.body(&format!("{SC}-HTTPBODY-001")), b"hi");
    assert_eq!(c.body(&format!("{SC}-HTTPBODY-002")), b"ok");
}

#[test]
fn thousands_of_headers_are_skipped_as_garbage() {
    // 5000 header fields (54 KB, within the size limit, over the 256-field one).
    let mut request = b"GET /a HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..5000 {
        request.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let skipped = request.len();
    request.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    let c = carve(&request, TWO_OKS);
    assert_carved_cleanly(&c);
    let b = c.index.iter().find(|r| r["uri"] == "/b").unwrap();
    assert_eq!(b["request_offset"], json!(skipped));
    assert!(!c.index.iter().any(|r| r["uri"] == "/a"));
    assert_eq!(c.body(&format!("{SC}-HTTPBODY-002")), b"ok");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_bomb_is_cut_off_and_flagged() {
    // 64 MiB of zeros gzipped twice is a few hundred bytes on the wire.
    // Decoding stops at 1 MiB (the ratio limit, 1000, allows less; bodies of
    // at most 1 MiB are not held to it) and the body is flagged.
    let bomb = gzip(&gzip(&vec![0; 64 << 20]));
    assert!(bomb.len() < 1000, "{}", bomb.len());
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    )
    .into_bytes();
    response.extend_from_slice(&bomb);
    let c = carve(b"GET /bomb HTTP/1.1\r\nHost: x\r\n\r\n", &response);
    assert_carved_cleanly(&c);
    let body = &c.index[0]["response_body"];
    assert_eq!(body["decoded"], json!(true));
    assert_eq!(body["decoded_length"], json!(1 << 20));
    assert_eq!(body["complete"], json!(false));
    assert_eq!(
        body["incomplete"],
        json!(["decoded size limit reached (bomb?): truncated"])
    );
    let file = body["file"].as_str().unwrap();
    assert_eq!(c.body(file), vec![0; 1 << 20]);
}

#[test]
fn uris_and_header_values_with_dots_slashes_nul_and_controls_stay_data() {
    // End to end with -e http. Traversal in the URI, Host, Content-Type and
    // Content-Disposition, a control character in a header value, NUL and
    // ESC in request targets, controls in a status line: body files are
    // named after the flow file only, and nothing leaves the output folder.
    let request: &[u8] = b"GET /../../etc/passwd HTTP/1.1\r\nHost: ../../evil\r\n\
        Content-Length: 3\r\nX-F: a/b\x01c\r\n\r\nabc\
        GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n\
        GET /%2e%2e/\x1b[31m HTTP/1.1\r\nHost: x\r\n\r\n";
    let response: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: ../../x/y\r\n\
        Content-Disposition: attachment; filename=\"../../../tmp/evil\"\r\n\
        Content-Length: 2\r\n\r\nhi\
        HTTP/1.1 200 \x01\x02/../\r\nContent-Type: text/html\x00/../\r\nContent-Length: 2\r\n\r\nok\
        HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz";
    let mut c = conv();
    let mut frames: Frames = Vec::new();
    c.handshake(&mut frames).unwrap();
    c.send(Side::Client, request, &mut frames).unwrap();
    c.send(Side::Server, response, &mut frames).unwrap();
    c.close(&mut frames).unwrap();
    let r = run(&[Input::Bytes(&pcap(&frames))], &["-e", "http"]);
    r.assert_clean_exit();
    let outdir = r.outcome.dir.path().join("out");
    let beside: Vec<String> = std::fs::read_dir(r.outcome.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(beside.len(), 2, "{beside:?}"); // input0.pcap and out
    let mut names: Vec<String> = std::fs::read_dir(&outdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (csn, scn) = (cs(PORT), sc(PORT));
    assert_eq!(
        names,
        [
            csn.clone(),
            format!("{csn}-HTTPREQBODY-001"),
            scn.clone(),
            format!("{scn}-HTTPBODY-001"),
            format!("{scn}-HTTPBODY-002"),
            "http.jsonl".to_string(),
            "report.jsonl".to_string(),
            "report.summary.json".to_string(),
            "report.traffic.json".to_string(),
            "report.xml".to_string(),
        ]
    );
    let index = common::parse_report(&outdir.join("http.jsonl"));
    assert_eq!(index[0]["uri"], "/../../etc/passwd");
    assert_eq!(index[0]["host"], "../../evil");
    assert_eq!(index[0]["response_body"]["content_type"], "../../x/y");
    assert_eq!(
        std::fs::read(outdir.join(format!("{csn}-HTTPREQBODY-001"))).unwrap(),
        b"abc"
    );
    assert_eq!(
        std::fs::read(outdir.join(format!("{scn}-HTTPBODY-001"))).unwrap(),
        b"hi"
    );
}
