//! `flowsplit grep --http` and grep with TLS secrets (issue 30): HTTP heads
//! and carved bodies (de-chunked, decompressed) are searched where the raw
//! stream hides a pattern; with a key log the decrypted plaintext is; a
//! folder's report says where its gaps are, so no match spans one there
//! either.

mod common;

use common::{grep, testdata};
use flowsplit_synth::{Link, Side, TcpConversation, Timestamp};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

type Frames = Vec<(Timestamp, Vec<u8>)>;

/// `words` as arguments.
fn args<'a>(words: &'a [&'a str]) -> Vec<&'a OsStr> {
    words.iter().map(OsStr::new).collect()
}

/// A connection from 10.0.0.1:40000 ([`CS`]) to 10.0.0.2:80 ([`SC`]).
fn conv() -> TcpConversation {
    TcpConversation::new(
        Link::ethernet(),
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000, 0),
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One keep-alive connection: a request with an `X-Token` header answered
/// with a chunked body that cuts `SECRET-42` in two, then a request
/// answered with a gzip body holding `SECRET-43`.
fn http_capture() -> (tempfile::TempDir, PathBuf) {
    let mut f = Frames::new();
    let mut c = conv();
    c.handshake(&mut f).unwrap();
    c.send(
        Side::Client,
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-Token: abc-123\r\n\r\n",
        &mut f,
    )
    .unwrap();
    c.send(
        Side::Server,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nSECRE\r\n4\r\nT-42\r\n0\r\n\r\n",
        &mut f,
    )
    .unwrap();
    c.send(Side::Client, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n", &mut f)
        .unwrap();
    // Repeated text, so that deflate codes it (a short text goes into a
    // stored block, as sent).
    let mut text = b"the second body, ".repeat(20);
    text.extend_from_slice(b"SECRET-43");
    let body = gzip(&text);
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    c.send(Side::Server, &response, &mut f).unwrap();
    c.close(&mut f).unwrap();
    common::write_frames(&f)
}

const CS: &str = "010.000.000.001.40000-010.000.000.002.00080";
const SC: &str = "010.000.000.002.00080-010.000.000.001.40000";

/// The `len` bytes at `offset` of `dir/file`.
fn bytes_at(dir: &Path, file: &str, offset: u64, len: usize) -> Vec<u8> {
    let data = std::fs::read(dir.join(file)).unwrap();
    data[offset as usize..offset as usize + len].to_vec()
}

#[test]
fn chunked_and_gzip_bodies_are_searched_as_carved_and_heads_as_sent() {
    let (_d, cap) = http_capture();
    let cap = cap.as_os_str();
    // The raw stream holds neither token whole: one is cut by a chunk
    // boundary, the other compressed.
    let (code, lines, _) = grep(&["SECRET-4[0-9]".as_ref(), "-r".as_ref(), cap]);
    assert_eq!((code, lines), (1, Vec::<String>::new()));

    let (code, lines, err) = grep(&[
        "--http".as_ref(),
        "SECRET-4[0-9]|abc-[0-9]+".as_ref(),
        "-r".as_ref(),
        cap,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        lines,
        [
            format!("{CS}:35:abc-123"),
            format!("{SC}-HTTPBODY-001.txt:0:SECRET-42"),
            format!("{SC}-HTTPBODY-002.txt:340:SECRET-43"),
        ]
    );

    // Kept with -o: each offset points at the match, in the flow file for
    // a head and in the body file for a body.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("kept");
    let (code, lines, err) = grep(&[
        "--http".as_ref(),
        "--json".as_ref(),
        "SECRET-4[0-9]|abc-[0-9]+".as_ref(),
        "-r".as_ref(),
        cap,
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(code, 0, "{err}");
    let found: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 3);
    let parts: Vec<&str> = found.iter().map(|v| v["part"].as_str().unwrap()).collect();
    assert_eq!(parts, ["request_head", "response_body", "response_body"]);
    for v in &found {
        let m = v["match"].as_str().unwrap();
        let at = bytes_at(
            &dir,
            v["file"].as_str().unwrap(),
            v["offset"].as_u64().unwrap(),
            m.len(),
        );
        assert_eq!(at, m.as_bytes(), "{v}");
        assert_eq!(v["connection"], 1);
        assert_eq!(v["exchange"]["request_file"], CS);
        assert_eq!(v["exchange"]["response_file"], SC);
    }
    assert_eq!(found[1]["exchange"]["uri"], "/a");
    assert_eq!(found[2]["exchange"]["uri"], "/b");
    assert_eq!(found[2]["exchange"]["response_number"], 2);

    // The kept folder is searched the same way, and counted per file.
    let (code, lines, _) = grep(&[
        "--http".as_ref(),
        "-c".as_ref(),
        "SECRET-4[0-9]|abc-[0-9]+".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [
            format!("{CS}:1"),
            format!("{SC}-HTTPBODY-001.txt:1"),
            format!("{SC}-HTTPBODY-002.txt:1"),
        ]
    );
}

#[test]
fn the_work_folder_is_removed_unless_o_is_given() {
    let (_d, cap) = http_capture();
    let tmp = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["grep", "--http", "-F", "SECRET-43", "-r"])
        .arg(&cap)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{SC}-HTTPBODY-002.txt:340:SECRET-43\n")
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_folder_without_an_index_says_what_writes_one() {
    let (_d, cap) = http_capture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert!(common::split_into(&cap, &out).status.success());
    let (code, lines, err) = grep(&["--http".as_ref(), "SECRET".as_ref(), out.as_os_str()]);
    assert_eq!((code, lines), (2, Vec::<String>::new()));
    assert_eq!(
        err.trim_end(),
        format!(
            "flowsplit: {0}: no http.jsonl here: run flowsplit http {0} first (or flowsplit -e http on the capture)\nflowsplit: some inputs could not be searched",
            out.display()
        )
    );
}

#[test]
fn a_key_log_makes_the_plaintext_searched() {
    let cap = testdata("tls/tls12_aes128gcm.pcap");
    let keys = testdata("tls/tls12_aes128gcm.keys");
    let (code, lines, _) = grep(&args(&[
        "-c",
        "-F",
        "HTTP/1.1",
        "-r",
        cap.to_str().unwrap(),
    ]));
    assert_eq!((code, lines), (1, Vec::<String>::new()), "ciphertext only");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kept");
    let (code, lines, err) = grep(&args(&[
        "--json",
        "-F",
        "HTTP/1.1",
        "-r",
        cap.to_str().unwrap(),
        "--tls-keylog",
        keys.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 4, "two requests and two responses: {lines:?}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        let file = v["file"].as_str().unwrap();
        assert!(file.ends_with("-TLS"), "{file}");
        let at = bytes_at(&dir, file, v["offset"].as_u64().unwrap(), 8);
        assert_eq!(at, b"HTTP/1.1");
        assert_eq!(v["connection"], 1);
        assert!(v["community_id"].as_str().unwrap().starts_with("1:"));
    }

    // HTTP/2 inside TLS 1.3: the bodies are searched (the heads are
    // HPACK-compressed), each match naming its stream.
    let cap = testdata("tls/tls13_h2.pcap");
    let keys = testdata("tls/tls13_h2.keys");
    let (code, lines, err) = grep(&args(&[
        "--http",
        "--json",
        "--max-count",
        "1",
        "-F",
        "small",
        "-r",
        cap.to_str().unwrap(),
        "--tls-keylog",
        keys.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["part"], "response_body");
    assert_eq!(v["exchange"]["stream_id"], 1);
    assert_eq!(v["exchange"]["uri"], "/small.txt");
    assert!(v["file"]
        .as_str()
        .unwrap()
        .ends_with("-TLS-HTTPBODY-001.txt"));
}

#[test]
fn a_folders_report_keeps_matches_out_of_its_gaps() {
    // Bytes 4..8 of the client's stream never sent: zero-filled in the file.
    let mut f = Frames::new();
    let mut c = conv();
    c.handshake(&mut f).unwrap();
    c.send_at(Side::Client, 0, b"abcd", &mut f).unwrap();
    c.send_at(Side::Client, 8, b"ijkl", &mut f).unwrap();
    c.close(&mut f).unwrap();
    let (_d, cap) = common::write_frames(&f);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert!(common::split_into(&cap, &out).status.success());
    assert_eq!(
        std::fs::read(out.join(CS)).unwrap(),
        b"abcd\0\0\0\0ijkl",
        "the hole is zero-filled"
    );
    let zeros = ["--hex", "0000", out.to_str().unwrap()];
    // No match in the gap, nor one that runs into it.
    for hex in ["0000", "6400"] {
        let (code, lines, _) = grep(&args(&["--hex", hex, out.to_str().unwrap()]));
        assert_eq!((code, lines), (1, Vec::<String>::new()), "{hex}");
    }
    // Without the report the folder does not say where its gaps are, and
    // the zeros are matched as zeros (as in a tcpflow folder).
    std::fs::remove_file(out.join("report.jsonl")).unwrap();
    let (code, lines, _) = grep(&args(&zeros));
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [format!("{CS}:4:\\x00\\x00"), format!("{CS}:6:\\x00\\x00")]
    );
}

/// Whether this process may capture (live tests need root, as in CI).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn live_each_exchange_is_searched_as_it_is_carved() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    if !is_root() {
        eprintln!("skipped: live capture needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Some(Ok(mut s)) = listener.incoming().next() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nSECRE\r\n4\r\nT-77\r\n0\r\n\r\n",
            );
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["grep", "--http", "-F", "SECRET-77", "-i", "lo"])
        .arg(format!("tcp port {}", server.port()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("capturing on lo") {
                let _ = ready_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let (line_tx, line_rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let stop = |child: &mut std::process::Child| {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("flowsplit grep did not stop after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    if ready_rx.recv_timeout(Duration::from_secs(15)).is_err() {
        stop(&mut child);
        panic!("not capturing: {}", err_reader.join().unwrap());
    }
    let mut s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let client = s.local_addr().unwrap();
    s.write_all(b"GET /t HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    drop(s);
    // Printed while the capture goes on, not when it ends.
    let line = line_rx.recv_timeout(Duration::from_secs(20));
    let status = stop(&mut child);
    let err = err_reader.join().unwrap();
    let sc = format!(
        "127.000.000.001.{:05}-127.000.000.001.{:05}",
        server.port(),
        client.port()
    );
    assert_eq!(
        line.unwrap_or_else(|_| panic!("no match printed during the capture: {err}")),
        format!("{sc}-HTTPBODY-001.txt:0:SECRET-77")
    );
    assert_eq!(status.code(), Some(0), "{err}");
}

#[test]
fn a_crafted_index_does_not_lead_out_of_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("secret"), b"TOKEN outside").unwrap();
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let line = serde_json::json!({
        "community_id": null,
        "request_file": null, "request_offset": null, "request_number": null,
        "method": null, "host": null, "uri": null, "request_body": null,
        "response_file": null, "response_offset": null, "response_number": 1,
        "status": 200,
        "response_body": {"file": "../secret", "offset": 0, "framing": "length", "decoded": false},
        "stream_id": null,
    });
    std::fs::write(dir.join("http.jsonl"), format!("{line}\n")).unwrap();
    let (code, lines, err) = grep(&args(&["--http", "-F", "TOKEN", dir.to_str().unwrap()]));
    assert_eq!((code, lines), (2, Vec::<String>::new()));
    assert!(
        err.contains(r#"the index names "../secret", which is not a file in its folder"#),
        "{err}"
    );
    // A body file that is a symbolic link is not followed either.
    std::os::unix::fs::symlink(tmp.path().join("secret"), dir.join("body")).unwrap();
    let line = line.to_string().replace("../secret", "body");
    std::fs::write(dir.join("http.jsonl"), format!("{line}\n")).unwrap();
    let (code, lines, err) = grep(&args(&["--http", "-F", "TOKEN", dir.to_str().unwrap()]));
    assert_eq!((code, lines), (2, Vec::<String>::new()));
    assert!(err.contains("Too many levels of symbolic links"), "{err}");
}
