//! Compressed captures are read as they are (issue 27): gzip, zstd, xz and
//! bzip2, recognised by content whatever the file is called, over `-r FILE`,
//! a folder, `-R` and standard input, give byte for byte the output of the
//! uncompressed capture. A damaged stream keeps what came before the damage
//! and names the file; an archive gets a hint.

mod common;

use common::{flowsplit, split_into, stderr_lines, testdata, tree_files};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The formats, with the extension their files usually have.
const FORMATS: [(&str, &str); 4] = [
    ("gzip", "gz"),
    ("zstd", "zst"),
    ("xz", "xz"),
    ("bzip2", "bz2"),
];

fn compress(format: &str, data: &[u8]) -> Vec<u8> {
    match format {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no format {other}"),
    }
}

/// The captures compressed: TCP with reordering, a pcapng file mixing link
/// types, and HTTP (carved with `-e http`).
const CAPTURES: [&str; 3] = ["out_of_order.pcap", "pcapng_mixed.pcapng", "http/gzip.pcap"];

/// What a run writes, except report.xml (it names the input file) and the
/// summary; report.jsonl and http.jsonl are compared byte for byte.
fn output(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let out = tree_files(
        dir,
        &["report.xml", "report.summary.json", "report.traffic.json"],
    );
    assert!(
        out.contains_key("report.jsonl"),
        "{}: no report",
        dir.display()
    );
    out
}

/// Run flowsplit `-e http -o OUT` with `args`, expecting success.
fn run(args: &[&std::ffi::OsStr], out: &Path) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["-q".as_ref(), "-e".as_ref(), "http".as_ref()];
    all.extend_from_slice(args);
    all.extend(["-o".as_ref(), out.as_os_str()]);
    let o = flowsplit(&all);
    assert!(o.status.success(), "{all:?}: {:?}", stderr_lines(&o));
    assert!(o.stderr.is_empty(), "{all:?}: {:?}", stderr_lines(&o));
}

#[test]
fn each_format_as_a_file_gives_the_uncompressed_output_whatever_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    for capture in CAPTURES {
        let plain = testdata(capture);
        let want = tmp
            .path()
            .join(format!("want-{}", capture.replace('/', "-")));
        run(&["-r".as_ref(), plain.as_os_str()], &want);
        let want = output(&want);
        assert!(want.len() > 2, "{capture}: no flow file to compare");
        for (format, ext) in FORMATS {
            let data = compress(format, &std::fs::read(&plain).unwrap());
            // Named as usual, and named as if it were not compressed.
            for name in [format!("c.{ext}"), "c.pcap".to_string()] {
                let file = tmp.path().join(&name);
                std::fs::write(&file, &data).unwrap();
                let got = tmp
                    .path()
                    .join(format!("got-{}-{format}-{name}", capture.replace('/', "-")));
                run(&["-r".as_ref(), file.as_os_str()], &got);
                let got = output(&got);
                let differ: Vec<&String> = want
                    .keys()
                    .chain(got.keys())
                    .filter(|k| want.get(*k) != got.get(*k))
                    .collect();
                assert!(
                    differ.is_empty(),
                    "{capture} as {format} ({name}): {differ:?}"
                );
            }
        }
    }
}

#[test]
fn a_folder_of_mixed_formats_is_read_in_name_order_as_the_plain_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain_dir, mixed_dir) = (tmp.path().join("plain"), tmp.path().join("mixed"));
    std::fs::create_dir_all(&plain_dir).unwrap();
    std::fs::create_dir_all(&mixed_dir).unwrap();
    let sources = [
        "out_of_order.pcap",
        "pcapng_mixed.pcapng",
        "http/gzip.pcap",
        "fin_rst.pcap",
        "gap.pcap",
    ];
    for (i, capture) in sources.iter().enumerate() {
        let data = std::fs::read(testdata(capture)).unwrap();
        std::fs::write(plain_dir.join(format!("{i}.cap")), &data).unwrap();
        // The last one stays uncompressed.
        let stored = match FORMATS.get(i) {
            Some((format, _)) => compress(format, &data),
            None => data,
        };
        std::fs::write(mixed_dir.join(format!("{i}.cap")), stored).unwrap();
    }
    let (want, got) = (tmp.path().join("want"), tmp.path().join("got"));
    run(&["-r".as_ref(), plain_dir.as_os_str()], &want);
    run(&["-r".as_ref(), mixed_dir.as_os_str()], &got);
    let want = output(&want);
    assert!(want.len() > 8, "too few files to compare");
    assert!(output(&got) == want, "the mixed folder's output differs");
}

#[test]
fn minus_capital_r_reads_compressed_captures_to_finish_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = testdata("out_of_order.pcap");
    let first = testdata("fin_rst.pcap");
    let (want, got) = (tmp.path().join("want"), tmp.path().join("got"));
    run(
        &[
            "-r".as_ref(),
            first.as_os_str(),
            "-R".as_ref(),
            plain.as_os_str(),
        ],
        &want,
    );
    let zst: PathBuf = tmp.path().join("finish.zst");
    std::fs::write(&zst, compress("zstd", &std::fs::read(&plain).unwrap())).unwrap();
    run(
        &[
            "-r".as_ref(),
            first.as_os_str(),
            "-R".as_ref(),
            zst.as_os_str(),
        ],
        &got,
    );
    assert!(output(&got) == output(&want));
}

#[test]
fn each_format_on_standard_input_gives_the_uncompressed_output() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = testdata("http/gzip.pcap");
    let want = tmp.path().join("want");
    run(&["-r".as_ref(), plain.as_os_str()], &want);
    let want = output(&want);
    for (format, _) in FORMATS {
        let got = tmp.path().join(format!("got-{format}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
            .args(["-q", "-e", "http", "-r", "-", "-o"])
            .arg(&got)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let data = compress(format, &std::fs::read(&plain).unwrap());
        child.stdin.take().unwrap().write_all(&data).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(output(&got) == want, "{format} on standard input");
    }
}

#[test]
fn a_damaged_stream_keeps_what_came_before_it_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    // Ten copies of a capture's packets in one file (the header once), so
    // that the damage comes after many whole packets.
    let one = std::fs::read(testdata("out_of_order.pcap")).unwrap();
    let mut many = one.clone();
    for _ in 0..9 {
        many.extend_from_slice(&one[24..]);
    }
    let gz = compress("gzip", &many);
    let damaged = tmp.path().join("damaged.pcap.gz");
    std::fs::write(&damaged, &gz[..gz.len() * 3 / 4]).unwrap();
    let out = tmp.path().join("out");
    let o = split_into(&damaged, &out);
    assert_eq!(o.status.code(), Some(1));
    let lines = stderr_lines(&o);
    let error = lines
        .iter()
        .find(|l| l.contains("damaged.pcap.gz"))
        .unwrap_or_else(|| panic!("no line names the file: {lines:?}"));
    assert!(
        error.contains("gzip data that cannot be decompressed"),
        "{error}"
    );
    assert!(
        error.contains("packets before it were processed"),
        "{error}"
    );
    let files = tree_files(
        &out,
        &[
            "report.xml",
            "report.jsonl",
            "report.summary.json",
            "report.traffic.json",
        ],
    );
    assert!(!files.is_empty(), "nothing kept from before the damage");
}

#[test]
fn an_archive_is_not_a_capture_and_the_message_says_what_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("capture.pcap");
    std::fs::write(
        &zip,
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00 and the rest of a zip file",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = split_into(&zip, &out);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("capture.pcap: not a pcap or pcapng capture (unknown magic number: it is a zip archive: unpack it and read the capture inside)"),
        "{text}"
    );
}
