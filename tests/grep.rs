//! `flowsplit grep` (issue 30): patterns are searched in the reassembled
//! streams, so a match split over segments, sent a byte at a time,
//! reordered, retransmitted or overlapping is found exactly once, at its
//! offset in the flow file; no match spans a hole. Exit status as grep's.

mod common;

use common::{flowsplit, testdata};
use flowsplit_synth::{Link, Side, TcpConversation, Timestamp};
use std::ffi::OsStr;
use std::path::PathBuf;

type Frames = Vec<(Timestamp, Vec<u8>)>;

/// The client's direction's flow-file name in these captures.
const CS: &str = common::CS;

fn conv() -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000, 0),
    )
    .with_isn(1000, 5000)
}

fn write(frames: &Frames) -> (tempfile::TempDir, PathBuf) {
    common::write_frames(frames)
}

/// Run `flowsplit grep ARGS... -r CAPTURE`; (exit code, stdout lines).
fn grep(args: &[&str], capture: &std::path::Path, extra: &[&str]) -> (i32, Vec<String>) {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.extend(["-r".as_ref(), capture.as_os_str()]);
    all.extend(extra.iter().map(OsStr::new));
    run_grep(&all)
}

/// Run `flowsplit grep WORDS...`; (exit code, stdout lines).
fn run_grep(words: &[&OsStr]) -> (i32, Vec<String>) {
    let (code, lines, _) = common::grep(words);
    (code, lines)
}

/// Split `capture` into a fresh folder (`flowsplit -r CAPTURE -o OUT`).
fn split_to_folder(capture: &std::path::Path) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = common::split_into(capture, &out);
    assert!(o.status.success(), "{o:?}");
    (tmp, out)
}

/// Run `flowsplit grep ARGS... FOLDER`; (exit code, stdout lines).
fn grep_folder(args: &[&str], folder: &std::path::Path) -> (i32, Vec<String>) {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(folder.as_os_str());
    run_grep(&all)
}

/// The client's stream: "...secret..." with the pattern's bytes sent as
/// `pieces` say (offset, bytes), after a handshake.
fn client_stream(pieces: &[(u64, &[u8])]) -> (tempfile::TempDir, PathBuf) {
    let mut f = Frames::new();
    let mut c = conv();
    c.handshake(&mut f).unwrap();
    for (at, bytes) in pieces {
        c.send_at(Side::Client, *at, bytes, &mut f).unwrap();
    }
    c.close(&mut f).unwrap();
    write(&f)
}

const TEXT: &[u8] = b"GET /?token=SECRET-42 HTTP/1.1\r\nHost: x\r\n\r\n";

/// The client sends [`TEXT`] one byte a segment in reverse order (then
/// whole again when `retransmit`); the frames, and how many the handshake
/// took.
fn one_byte_a_segment_in_reverse(retransmit: bool) -> (Frames, usize) {
    let mut f = Frames::new();
    let mut c = conv();
    c.handshake(&mut f).unwrap();
    let handshake = f.len();
    for i in (0..TEXT.len()).rev() {
        c.send_at(Side::Client, i as u64, &TEXT[i..i + 1], &mut f)
            .unwrap();
    }
    if retransmit {
        c.send_at(Side::Client, 0, TEXT, &mut f).unwrap();
    }
    c.close(&mut f).unwrap();
    (f, handshake)
}

#[test]
fn a_pattern_split_over_segments_is_found_once_at_its_offset() {
    // In three segments that cut the token.
    let (_d, cap) = client_stream(&[(0, &TEXT[..14]), (14, &TEXT[14..17]), (17, &TEXT[17..])]);
    let (code, lines) = grep(&["-F", "SECRET-42"], &cap, &[]);
    assert_eq!(code, 0);
    assert_eq!(lines, [format!("{CS}:12:SECRET-42")]);
}

#[test]
fn one_byte_per_segment_out_of_order_retransmitted_and_overlapping() {
    // One byte a segment, in reverse order.
    let mut pieces: Vec<(u64, &[u8])> = (0..TEXT.len())
        .map(|i| (i as u64, &TEXT[i..i + 1]))
        .collect();
    pieces.reverse();
    let (_d, cap) = client_stream(&pieces);
    assert_eq!(
        grep(&["SECRET-4[0-9]"], &cap, &[]).1,
        [format!("{CS}:12:SECRET-42")]
    );
    // Every segment sent twice, and a segment overlapping the token.
    let (_d, cap) = client_stream(&[
        (0, &TEXT[..16]),
        (0, &TEXT[..16]),
        (10, &TEXT[10..25]),
        (16, &TEXT[16..]),
        (16, &TEXT[16..]),
    ]);
    let (code, lines) = grep(&["-F", "SECRET-42"], &cap, &[]);
    assert_eq!(code, 0);
    assert_eq!(lines, [format!("{CS}:12:SECRET-42")], "one match, not two");
}

#[test]
fn no_match_through_a_hole_and_offsets_count_it() {
    // Bytes 15..17 ("RET") never sent: a gap splits the token.
    let (_d, cap) = client_stream(&[(0, &TEXT[..15]), (18, &TEXT[18..])]);
    let (code, lines) = grep(&["-F", "SECRET-42"], &cap, &[]);
    assert_eq!((code, lines), (1, Vec::<String>::new()));
    // What follows the hole keeps its offset in the flow file.
    let (code, lines) = grep(&["-F", "HTTP/1.1"], &cap, &[]);
    assert_eq!(code, 0);
    assert_eq!(lines, [format!("{CS}:22:HTTP/1.1")]);
}

#[test]
fn case_folding_hex_json_count_and_names() {
    let (_d, cap) = client_stream(&[(0, TEXT)]);
    assert_eq!(grep(&["-F", "secret-42"], &cap, &[]).0, 1);
    assert_eq!(
        grep(&["-y", "-F", "secret-42"], &cap, &[]).1,
        [format!("{CS}:12:SECRET-42")]
    );
    // "\r\nHost" in hex.
    let (code, lines) = grep(&["--hex", "0d 0a 48 6f 73 74"], &cap, &[]);
    assert_eq!(code, 0);
    assert_eq!(lines, [format!("{CS}:30:\\x0d\\x0aHost")]);
    let (_, lines) = grep(&["--json", "-e", "Host", "-e", "SECRET"], &cap, &[]);
    let v: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["file"], CS);
    assert_eq!(v[0]["offset"], 12);
    assert_eq!(v[0]["pattern"], 1);
    assert_eq!(v[0]["match"], "SECRET");
    assert_eq!(v[1]["pattern"], 0);
    assert!(v[0]["community_id"].as_str().unwrap().starts_with("1:"));
    assert_eq!(grep(&["-c", "-e", "o"], &cap, &[]).1, [format!("{CS}:2")]);
    assert_eq!(grep(&["-l", "SECRET"], &cap, &[]).1, [CS.to_string()]);
    assert_eq!(grep(&["--max-count", "1", "-e", "o"], &cap, &[]).1.len(), 1);
}

#[test]
fn every_offset_points_at_the_match_in_the_flow_file_and_j1_equals_j2() {
    let cap = testdata("http/gzip.pcap");
    let (_tmp, out) = split_to_folder(&cap);
    let (code, lines) = grep(
        &["--json", "-y", "content-[a-z]+|HTTP/1\\.[01]"],
        &cap,
        &["-j", "1"],
    );
    assert_eq!(code, 0);
    assert!(lines.len() >= 4, "{lines:?}");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let file = std::fs::read(out.join(v["file"].as_str().unwrap())).unwrap();
        let at = v["offset"].as_u64().unwrap() as usize;
        let m = v["match"].as_str().unwrap().as_bytes();
        assert_eq!(&file[at..at + m.len()], m, "{l}");
    }
    assert_eq!(
        grep(
            &["--json", "-y", "content-[a-z]+|HTTP/1\\.[01]"],
            &cap,
            &["-j", "2"]
        )
        .1,
        lines
    );
    // Folders of flow files: the same matches.
    let (code, dir_lines) = grep_folder(&["--json", "-y", "content-[a-z]+|HTTP/1\\.[01]"], &out);
    assert_eq!(code, 0);
    let mut from_dir: Vec<(String, u64)> = dir_lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["file"].as_str().unwrap().to_string(),
                v["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut from_capture: Vec<(String, u64)> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["file"].as_str().unwrap().to_string(),
                v["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    from_dir.sort();
    from_capture.sort();
    assert_eq!(from_dir, from_capture);
}

#[test]
fn ten_thousand_literals_in_one_pass() {
    let (_d, cap) = client_stream(&[(0, &TEXT[..16]), (16, &TEXT[16..])]);
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("patterns");
    let mut text: String = (0..10_000).map(|i| format!("NOPE-{i:05}\n")).collect();
    text.push_str("SECRET-42\n");
    std::fs::write(&list, text).unwrap();
    let (code, lines) = grep(
        &["-F", "--file", list.to_str().unwrap(), "--json"],
        &cap,
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (v["pattern"].as_u64(), v["offset"].as_u64()),
        (Some(10_000), Some(12))
    );
}

#[test]
fn exit_status_is_greps() {
    let (_d, cap) = client_stream(&[(0, TEXT)]);
    assert_eq!(grep(&["SECRET"], &cap, &[]).0, 0);
    assert_eq!(grep(&["NOTHERE"], &cap, &[]).0, 1);
    assert_eq!(grep(&["("], &cap, &[]).0, 2, "a bad regex");
    let missing = PathBuf::from("/nonexistent/capture.pcap");
    assert_eq!(
        grep(&["SECRET"], &missing, &[]).0,
        2,
        "an input that cannot be read"
    );
}

/// `--json` gives the capture time of the earliest segment that carried a
/// match's first byte: with one byte a segment sent in reverse order, the
/// segment of byte 12 (the token's first), not the last one to arrive.
#[test]
fn json_gives_the_time_of_the_segment_that_carried_the_first_byte() {
    let (f, handshake) = one_byte_a_segment_in_reverse(false);
    let ts = f[handshake + (TEXT.len() - 1 - 12)].0;
    let (_d, cap) = write(&f);
    let (code, lines) = grep(&["--json", "-F", "SECRET-42"], &cap, &[]);
    assert_eq!(code, 0);
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["time"], format!("{}.{:09}", ts.secs, ts.nanos), "{v}");
}

/// A grep option given after the pattern, where flowsplit's own options go,
/// is a usage error that says where it belongs.
#[test]
fn a_grep_option_after_the_pattern_says_where_it_goes() {
    let (_d, cap) = client_stream(&[(0, TEXT)]);
    let o = flowsplit(&[
        "grep".as_ref(),
        "SECRET".as_ref(),
        "--json".as_ref(),
        "-r".as_ref(),
        cap.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "flowsplit: --json: grep's own options come before PATTERN (flowsplit grep [GREP OPTIONS] PATTERN [FLOWSPLIT OPTIONS] [EXPRESSION])\n"
    );
}

/// Run `flowsplit grep WORDS...` with no standard input, killed after 20
/// seconds (a word taken for the pattern would start a live capture on
/// the default interface and never end): (exit code, stdout, stderr).
fn grep_bounded(words: &[&str]) -> (Option<i32>, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("grep")
        .args(words)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("flowsplit grep {words:?} was still running after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn help_is_help_and_a_flowsplit_option_is_not_the_pattern() {
    for help in ["-h", "--help", "-y", "-F"] {
        let words: Vec<&str> = match help {
            "-y" | "-F" => vec![help, "--help"],
            _ => vec![help],
        };
        let (code, out, err) = grep_bounded(&words);
        assert_eq!(code, Some(0), "{words:?}: {err}");
        assert!(out.contains("--http"), "{words:?}: {out}");
        assert!(out.contains("Usage: flowsplit grep"), "{words:?}: {out}");
    }
    let (_d, cap) = client_stream(&[(0, TEXT)]);
    let cap = cap.to_str().unwrap();
    for (words, word) in [(vec!["-V"], "-V"), (vec!["-c", "-r", cap], "-r")] {
        let (code, out, err) = grep_bounded(&words);
        assert_eq!((code, out.as_str()), (Some(2), ""), "{words:?}");
        assert_eq!(
            err,
            format!(
                "flowsplit: {word}: not one of grep's options, and PATTERN goes before flowsplit's (flowsplit grep -h lists grep's; a pattern that begins with - goes after -- or -e)\n"
            )
        );
    }
    // After -- or -e such a word is the pattern; a word that is no one's
    // option is the pattern where it stands.
    for words in [
        vec!["-c", "--", "-42", "-r", cap],
        vec!["-c", "-e", "-42", "-r", cap],
        vec!["-c", "-42", "-r", cap],
    ] {
        let (code, out, _) = grep_bounded(&words);
        assert_eq!(
            (code, out.as_str()),
            (Some(0), format!("{CS}:1\n").as_str()),
            "{words:?}"
        );
    }
}

#[test]
fn context_before_and_after_comes_from_the_reassembled_stream() {
    // TEXT = "GET /?token=SECRET-42 HTTP/1.1\r\nHost: x\r\n\r\n", the token
    // at 12; sent one byte a segment in reverse, and in one segment.
    let mut pieces: Vec<(u64, &[u8])> = (0..TEXT.len())
        .map(|i| (i as u64, &TEXT[i..i + 1]))
        .collect();
    pieces.reverse();
    let (_d1, bytewise) = client_stream(&pieces);
    let (_d2, whole) = client_stream(&[(0, TEXT)]);
    let want = [format!("{CS}:12:?token=SECRET-42 HTTP")];
    for cap in [&bytewise, &whole] {
        let (code, lines) = grep(&["-B", "7", "-A", "5", "-F", "SECRET-42"], cap, &[]);
        assert_eq!((code, lines), (0, want.to_vec()));
    }
    // -C gives both; -A or -B given beside it wins on its side.
    assert_eq!(
        grep(&["-C", "3", "-F", "SECRET-42"], &whole, &[]).1,
        [format!("{CS}:12:en=SECRET-42 HT")]
    );
    assert_eq!(
        grep(&["-C", "3", "-A", "0", "-F", "SECRET-42"], &whole, &[]).1,
        [format!("{CS}:12:en=SECRET-42")]
    );
    // At the start and the end of the stream, what there is.
    assert_eq!(
        grep(&["-C", "100", "-F", "GET"], &whole, &[]).1,
        [format!(
            "{CS}:0:GET /?token=SECRET-42 HTTP/1.1\\x0d\\x0aHost: x\\x0d\\x0a\\x0d\\x0a"
        )]
    );
    // --json: the context as separate fields, escaped as the match is.
    let (_, lines) = grep(&["--json", "-C", "4", "-F", "Host"], &whole, &[]);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (&v["before"], &v["match"], &v["after"], &v["offset"]),
        (
            &serde_json::json!(".1\\x0d\\x0a"),
            &serde_json::json!("Host"),
            &serde_json::json!(": x\\x0d"),
            &serde_json::json!(32)
        )
    );
    // Without context, no such fields.
    let (_, lines) = grep(&["--json", "-F", "Host"], &whole, &[]);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert!(v.get("before").is_none() && v.get("after").is_none(), "{v}");
}

#[test]
fn context_stops_at_a_hole_and_is_bounded() {
    // Bytes 15..18 ("RET") never sent: a zero-filled hole in the flow file.
    let (_d, cap) = client_stream(&[(0, &TEXT[..15]), (18, &TEXT[18..])]);
    assert_eq!(
        grep(&["-C", "6", "-F", "SEC"], &cap, &[]).1,
        [format!("{CS}:12:token=SEC")],
        "nothing after the hole is context before it"
    );
    assert_eq!(
        grep(&["-C", "6", "-F", "-42"], &cap, &[]).1,
        [format!("{CS}:18:-42 HTTP/")],
        "nothing before the hole is context after it"
    );
    let o = flowsplit(&[
        "grep".as_ref(),
        "-A".as_ref(),
        "1048577".as_ref(),
        "x".as_ref(),
        "-r".as_ref(),
        cap.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("\"1048577\" is not a number of bytes from 0 to 1048576"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn context_from_flow_folders_equals_context_from_the_capture() {
    let cap = testdata("http/gzip.pcap");
    let (_tmp, out) = split_to_folder(&cap);
    let args = ["-B", "9", "-A", "40", "-y", "content-[a-z]+"];
    let (code, mut from_capture) = grep(&args, &cap, &[]);
    assert_eq!(code, 0);
    assert!(!from_capture.is_empty());
    let (code, mut from_dir) = grep_folder(&args, &out);
    assert_eq!(code, 0);
    from_capture.sort();
    from_dir.sort();
    assert_eq!(from_dir, from_capture);
}

#[test]
fn json_gives_the_number_of_the_first_packet_that_carried_the_first_byte() {
    // One byte a segment in reverse, then the whole text again (a
    // retransmission): the match's first byte came first in packet
    // handshake + (len - 1 - 12) + 1, counted from 1 as tshark does.
    let (f, handshake) = one_byte_a_segment_in_reverse(true);
    let first = handshake + (TEXT.len() - 1 - 12) + 1;
    let (_d, cap) = write(&f);
    let (code, lines) = grep(&["--json", "-F", "SECRET-42"], &cap, &[]);
    assert_eq!((code, lines.len()), (0, 1), "{lines:?}");
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["packet"], first as u64, "{v}");
    let ts = f[first - 1].0;
    assert_eq!(v["time"], format!("{}.{:09}", ts.secs, ts.nanos), "{v}");
    // tshark's frame of that number carries the match's first byte, 'S'.
    let o = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(&cap)
        .args(["-Y", &format!("frame.number == {first}"), "-T", "fields"])
        .args(["-e", "tcp.seq_raw", "-e", "tcp.payload"])
        .output()
        .expect("tshark (installed by .ci/run)");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("{}\t53", 1000 + 1 + 12),
        "frame {first}"
    );
    // Over folders of flow files no packet is known.
    let (_tmp, out) = split_to_folder(&cap);
    let (code, lines) = grep_folder(&["--json", "SECRET"], &out);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (&v["packet"], &v["time"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
}
