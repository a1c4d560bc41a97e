//! Console output (`-c`, `-C`, `-D`, `-B`): the exact bytes printed on
//! standard output for small captures from `testdata/`, and that console
//! modes write no files. The formats are specified in flowsplit(1),
//! CONSOLE OUTPUT.

use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use std::path::{Path, PathBuf};
use std::process::Command;

const CS: &str = "010.000.000.001.40000-010.000.000.002.00080";
const SC: &str = "010.000.000.002.00080-010.000.000.001.40000";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Run flowsplit with `args` in a fresh folder; returns stdout and the
/// folder's entries afterwards (which must be none: console modes write no files).
fn console(capture: &Path, args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-r")
        .arg(capture)
        .args(args)
        .args(["-j", "4"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flowsplit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "console mode {args:?} wrote files: {left:?}"
    );
    out.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn prefixed_text_prints_each_reassembled_run_in_order() {
    // Client data arrives as offsets 20, 10, 0: nothing is printed until
    // offset 0 is in, then the three runs in stream order.
    let got = text(console(&testdata("out_of_order.pcap"), &["-c"]));
    let expected =
        format!("{CS}: ABCDEFGHIJ\n{CS}: KLMNOPQRST\n{CS}: UVWXYZ\n{SC}: hello\n{SC}: world\n");
    assert_eq!(got, expected);
}

#[test]
fn bare_text_has_no_prefix() {
    let got = text(console(&testdata("out_of_order.pcap"), &["-C"]));
    assert_eq!(got, "ABCDEFGHIJ\nKLMNOPQRST\nUVWXYZ\nhello\nworld\n");
}

#[test]
fn gaps_are_announced_not_printed_as_zeros() {
    let got = text(console(&testdata("gap.pcap"), &["-c"]));
    let expected = format!(
        "{CS}: AAAA\n{SC}: hello\n{CS}: [4 bytes missing]\n{CS}: CCCC\n{CS}: DDDD\n\
         {SC}: [3 bytes missing]\n{SC}: world\n"
    );
    assert_eq!(got, expected);
}

#[test]
fn hex_dump_with_names_and_stream_offsets() {
    let got = text(console(&testdata("out_of_order.pcap"), &["-D"]));
    let expected = format!(
        "{CS}:\n\
00000000: 4142 4344 4546 4748 494a                 ABCDEFGHIJ\n\
{CS}:\n\
0000000a: 4b4c 4d4e 4f50 5152 5354                 KLMNOPQRST\n\
{CS}:\n\
00000014: 5556 5758 595a                           UVWXYZ\n\
{SC}:\n\
00000000: 6865 6c6c 6f                             hello\n\
{SC}:\n\
00000005: 776f 726c 64                             world\n"
    );
    assert_eq!(got, expected);
    // -c -D is the same as -D.
    assert_eq!(
        text(console(&testdata("out_of_order.pcap"), &["-c", "-D"])),
        expected
    );
}

#[test]
fn bare_hex_dump_has_no_name_lines() {
    let got = text(console(&testdata("gap.pcap"), &["-C", "-D"]));
    let expected = "\
00000000: 4141 4141                                AAAA\n\
00000000: 6865 6c6c 6f                             hello\n\
00000004: [4 bytes missing]\n\
00000008: 4343 4343                                CCCC\n\
0000000c: 4444 4444                                DDDD\n\
00000005: [3 bytes missing]\n\
00000008: 776f 726c 64                             world\n";
    assert_eq!(got, expected);
}

/// A capture whose client sends 20 bytes including non-printable ones.
fn binary_capture(dir: &Path) -> PathBuf {
    let link = Link::ethernet();
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), link.linktype()).unwrap();
    let mut c = TcpConversation::new(
        link,
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000, 0),
    );
    c.handshake(&mut w).unwrap();
    c.send(
        Side::Client,
        b"A\x00\x01\tB\r\n\x7f\xff\xfe0123456789",
        &mut w,
    )
    .unwrap();
    c.close(&mut w).unwrap();
    let path = dir.join("binary.pcap");
    std::fs::write(&path, w.into_inner()).unwrap();
    path
}

#[test]
fn non_printables_are_dots_unless_raw() {
    let dir = tempfile::tempdir().unwrap();
    let cap = binary_capture(dir.path());
    assert_eq!(
        console(&cap, &["-c"]),
        format!("{CS}: A..\tB\r\n...0123456789\n").into_bytes()
    );
    let mut raw = format!("{CS}: ").into_bytes();
    raw.extend_from_slice(b"A\x00\x01\tB\r\n\x7f\xff\xfe0123456789\n");
    assert_eq!(console(&cap, &["-c", "-B"]), raw);
    assert_eq!(
        console(&cap, &["-C", "--raw"]),
        raw[CS.len() + 2..].to_vec()
    );
    // The hex dump's text column shows only 0x20..=0x7e.
    let expected = format!(
        "{CS}:\n\
00000000: 4100 0109 420d 0a7f fffe 3031 3233 3435  A...B.....012345\n\
00000010: 3637 3839                                6789\n"
    );
    assert_eq!(text(console(&cap, &["-D"])), expected);
}

#[test]
fn events_on_stdout_conflict_with_console_output() {
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-r")
        .arg(testdata("out_of_order.pcap"))
        .args(["-c", "--events", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn console_events_name_the_flows() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-r")
        .arg(testdata("out_of_order.pcap"))
        .arg("-C")
        .arg("--events")
        .arg(&events)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One stats event once the capture is read (its packets and bytes),
    // before the connection still open closes.
    let stats: Vec<&serde_json::Value> = lines.iter().filter(|v| v["event"] == "stats").collect();
    assert_eq!(stats.len(), 1, "{lines:?}");
    assert_eq!(stats[0]["final"], true);
    assert!(stats[0]["packets"].as_u64().unwrap() > 0);
    assert!(stats[0]["bytes"].as_u64().unwrap() > 0);
    assert!(stats[0].get("kernel_dropped").is_none(), "{}", stats[0]);
    let lines: Vec<&serde_json::Value> = lines.iter().filter(|v| v["event"] != "stats").collect();
    let kinds: Vec<(&str, &str)> = lines
        .iter()
        .map(|v| (v["event"].as_str().unwrap(), v["file"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("open", CS), ("open", SC), ("close", CS), ("close", SC)]
    );
    assert_eq!(lines[2]["bytes"], 26);
}
