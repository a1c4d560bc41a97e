//! Replays every input saved under `testdata/fuzz/<target>/` through the
//! code and checks of that fuzz target (`fuzz/fuzz_targets/checks.rs`,
//! included here), so that `cargo test` (and `.ci/run`) keeps each fixed
//! crash fixed. A new finding: copy libFuzzer's artifact to the target's
//! folder under a name saying what it broke, fix the code, run this test.

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

/// The saved inputs of one target, sorted (none when it has no folder yet).
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fuzz")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run `check` on every saved input of `target`, naming the one that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails again", path.display());
    }
}

#[test]
fn capture_pipeline_inputs_replay_cleanly() {
    replay("capture_pipeline", checks::capture_pipeline);
}

#[test]
fn http_inputs_replay_cleanly() {
    replay("http", checks::http);
}

#[test]
fn naming_inputs_replay_cleanly() {
    replay("naming", checks::naming);
}

#[test]
fn dsb_inputs_replay_cleanly() {
    replay("dsb", checks::dsb);
}

/// The dsb target's checks on blocks built by hand: a real key log, one
/// whose stated length is longer or shorter than its body, another
/// secrets type, binary junk, nothing.
#[test]
fn dsb_checks_hold_on_crafted_blocks() {
    let keys = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls/tls13_aes128gcm.keys"),
    )
    .unwrap();
    let block = |kind: u32, stated: u32, body: &[u8]| {
        let mut d = kind.to_le_bytes().to_vec();
        d.extend(stated.to_le_bytes());
        d.extend(body);
        d
    };
    let tlsk = 0x544c_534b;
    let n = keys.len() as u32;
    for data in [
        keys.clone(),
        block(tlsk, n, &keys),
        block(tlsk, n + 4, &keys),
        block(tlsk, n / 2, &keys),
        block(tlsk, u32::MAX, &keys),
        block(tlsk, u32::MAX - 4, &keys),
        block(0x5747_4b4c, n, &keys),
        block(tlsk, 300, &[0xff; 300]),
        Vec::new(),
        vec![1, 2, 3],
    ] {
        checks::dsb(&data);
    }
}

#[test]
fn keylog_inputs_replay_cleanly() {
    replay("keylog", checks::keylog);
}

/// The keylog target's checks on inputs built from a real capture's flows
/// and key log, whole and cut short and with bytes flipped: they must hold
/// on every variant.
#[test]
fn keylog_checks_hold_on_a_real_connection() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
    let keys = std::fs::read(dir.join("tls12_cbc_sha1.keys")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-q")
        .arg("-r")
        .arg(dir.join("tls12_cbc_sha1.pcap"))
        .arg("-o")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(run.success());
    let mut flows: Vec<(String, Vec<u8>)> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.extension().is_some_and(|e| e == "jsonl" || e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    flows.sort();
    // The client flow starts with a ClientHello (0x16 0x03 .. 0x01).
    flows.sort_by_key(|(_, b)| b.get(5) != Some(&1));
    let (client, server) = (&flows[0].1, &flows[1].1);
    let input = |c: &[u8], s: &[u8]| [&keys[..], &[0], c, &[0], s].concat();
    checks::keylog(&input(client, server));
    for cut in [0, 1, 5, 100, client.len() / 2] {
        checks::keylog(&input(
            &client[..cut.min(client.len())],
            &server[..cut.min(server.len())],
        ));
    }
    for at in [10, 200, 400, server.len() - 3] {
        let mut s = server.clone();
        s[at] ^= 0x20;
        checks::keylog(&input(client, &s));
    }
}

#[test]
fn tls_keys_inputs_replay_cleanly() {
    replay("tls_keys", checks::tls_keys);
}

/// The client and server flows of the one connection in `case` (a
/// capture under testdata/tls/), client first.
fn tls_flows(case: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-q")
        .arg("-r")
        .arg(dir.join(format!("{case}.pcap")))
        .arg("-o")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(run.success());
    let mut flows: Vec<Vec<u8>> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.extension()
                .is_some_and(|e| e == "jsonl" || e == "json" || e == "xml")
        })
        .map(|p| std::fs::read(&p).unwrap())
        .collect();
    assert_eq!(flows.len(), 2, "{case}");
    flows.sort_by_key(|b| b.get(5) != Some(&1));
    let server = flows.pop().unwrap();
    (flows.pop().unwrap(), server)
}

/// The tls_keys target's checks on real RSA key exchange and PSK
/// connections (SSL 3.0 CBC, TLS 1.0 RC4, TLS 1.1 CBC, TLS 1.2 GCM), whole, cut short
/// and with bytes flipped (the hostile RSA key files and SSL 3.0 records
/// are in the unit tests of `tls::rsa` and the target's own record loop).
#[test]
fn tls_keys_checks_hold_on_real_connections() {
    for case in [
        "tls10_rc4",
        "tls11_psk_cbc",
        "tls12_rsa_gcm",
        "ssl30_rsa_aes128",
    ] {
        let (client, server) = tls_flows(case);
        let input = |c: &[u8], s: &[u8]| [c, &[0], s].concat();
        checks::tls_keys(&input(&client, &server));
        for cut in [0, 1, 5, 100, client.len() / 2] {
            checks::tls_keys(&input(
                &client[..cut.min(client.len())],
                &server[..cut.min(server.len())],
            ));
        }
        for at in [10, 200, 400, server.len() - 3] {
            let mut s = server.clone();
            s[at] ^= 0x20;
            checks::tls_keys(&input(&client, &s));
            let mut c = client.clone();
            let i = at.min(c.len() - 1);
            c[i] ^= 0x20;
            checks::tls_keys(&input(&c, &server));
        }
    }
    // Key files: the real one cut at every length and with bytes flipped.
    let pem =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls/key.pem")).unwrap();
    for n in (0..pem.len()).step_by(97) {
        checks::tls_keys(&pem[..n]);
        let mut p = pem.clone();
        p[n] ^= 0x04;
        checks::tls_keys(&p);
    }
}

/// A pcap of one connection: a handshake, then `segments` client segments
/// of 8 bytes, the `k`-th at stream offset `k x step`.
fn far_segments(segments: u64, step: u64) -> Vec<u8> {
    use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap();
    let mut c = TcpConversation::new(
        Link::ethernet(),
        "10.0.0.1:41000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        Timestamp::new(1_700_000_000, 0),
    );
    c.handshake(&mut w).unwrap();
    for k in 0..segments {
        c.send_at(Side::Client, k * step, b"segment!", &mut w)
            .unwrap();
    }
    w.into_inner()
}

#[test]
fn capture_pipeline_checks_the_bound_on_crafted_captures() {
    // Holes just under -m (issue 26), and 2,000 holes of 992 bytes of
    // which the target's bound (4 x B + 64K) fills some: its checks (zero
    // fill within the summary's limit and equal to the report's gap_bytes)
    // hold on both.
    checks::capture_pipeline(&far_segments(300, 16_000_000));
    checks::capture_pipeline(&far_segments(2_000, 1_000));
}
