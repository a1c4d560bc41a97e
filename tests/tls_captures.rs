//! TLS decryption with a key log, on captures recorded on loopback
//! (`testdata/tls/`, made by `testdata/tls/record.sh`; see
//! testdata/README.md).
//!
//! Each test runs the flowsplit binary (`-r CASE.pcap -o TMP -e http
//! --tls-keylog CASE.keys`) and checks the carved bodies by sha256 against
//! what the server sent (rebuilt here as server.py builds them), the
//! index's `tls` object, and, for every capture tshark can export, that
//! `tshark -o tls.keylog_file:KEYS --export-objects http,DIR` exports
//! bodies with the same sha256 (as a multiset).

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn tls(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tls")
        .join(name)
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `gen(tag, n)` of server.py.
fn gen(tag: &str, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{tag} line {i:04}\n"))
        .collect::<String>()
        .into_bytes()
}

/// The sha256 of the body server.py sends for `uri` (decoded), or of the
/// request body curl posted (cert.pem) for `/echo`.
fn expected(uri: &str) -> String {
    match uri {
        "/small.txt" => sha(&gen("small", 60)),
        "/gzip.txt" => sha(&gen("gzip", 400)),
        "/big.bin" => sha(&(0..200_000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>()),
        "/echo" => sha(&std::fs::read(tls("cert.pem")).unwrap()),
        other => panic!("no body known for {other}"),
    }
}

/// What a run left.
struct Run {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    index: Vec<Value>,
    stderr: String,
}

impl Run {
    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// sha256 of every body file the index names (request and response).
    fn body_hashes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.index {
            for k in ["request_body", "response_body"] {
                if let Some(f) = r[k]["file"].as_str() {
                    let bytes = self.file(f);
                    assert_eq!(sha(&bytes), r[k]["sha256"].as_str().unwrap(), "{f}");
                    out.push(sha(&bytes));
                }
            }
        }
        out.sort();
        out
    }

    /// Every file in the output folder, by name (the summary, which holds
    /// times, left out).
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !common::is_summary(p))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        v
    }
}

fn read_index(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("http.jsonl"))
        .expect("an http.jsonl index")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `flowsplit -r CASE.pcap -o TMP -e http --tls-keylog KEYS`.
fn run_with(case: &str, keys: &Path) -> Run {
    run_keys(case, Some(keys))
}

/// `flowsplit -r CASE.pcap -o TMP -e http`, with `--tls-keylog KEYS` if given.
fn run_keys(case: &str, keys: Option<&Path>) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pcap = tls(&format!("{case}.pcap"));
    let mut args: Vec<&OsStr> = vec![
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-e".as_ref(),
        "http".as_ref(),
    ];
    if let Some(keys) = keys {
        args.extend(["--tls-keylog".as_ref(), keys.as_os_str()]);
    }
    let run = common::flowsplit(&args);
    assert!(run.status.success(), "{case}: {run:?}");
    Run {
        index: read_index(&out),
        out,
        _tmp: tmp,
        stderr: String::from_utf8_lossy(&run.stderr).into_owned(),
    }
}

fn run(case: &str) -> Run {
    run_with(case, &tls(&format!("{case}.keys")))
}

/// The sha256 of every object tshark exports from `case` with its key log.
fn tshark_hashes(case: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tshark")
        .arg("-r")
        .arg(tls(&format!("{case}.pcap")))
        .arg("-o")
        .arg(format!(
            "tls.keylog_file:{}",
            tls(&format!("{case}.keys")).display()
        ))
        .arg("--export-objects")
        .arg(format!("http,{}", dir.path().display()))
        .arg("-q")
        .output()
        .expect("tshark runs (apt-get install tshark)");
    assert!(status.status.success(), "tshark on {case}: {status:?}");
    let mut v: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| sha(&std::fs::read(e.unwrap().path()).unwrap()))
        .collect();
    v.sort();
    v
}

/// Captures made with curl and server.py: (case, version, suite).
const CURL_CASES: &[(&str, &str, &str)] = &[
    ("tls13_aes128gcm", "TLS 1.3", "TLS_AES_128_GCM_SHA256"),
    ("tls13_aes256gcm", "TLS 1.3", "TLS_AES_256_GCM_SHA384"),
    ("tls13_chacha20", "TLS 1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    ("tls13_hrr", "TLS 1.3", "TLS_AES_256_GCM_SHA384"),
    ("tls13_resumed", "TLS 1.3", "TLS_AES_256_GCM_SHA384"),
    (
        "tls12_aes128gcm",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "tls12_aes256gcm",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "tls12_chacha20",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "tls12_cbc_sha1",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    ),
    (
        "tls12_cbc_sha256",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    ),
    (
        "tls12_cbc_sha384",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    ),
    ("tls10_cbc", "TLS 1.0", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    ("tls10_rsa_cbc", "TLS 1.0", "TLS_RSA_WITH_AES_256_CBC_SHA"),
    ("tls11_cbc", "TLS 1.1", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    ("tls12_ccm", "TLS 1.2", "TLS_RSA_WITH_AES_128_CCM"),
    ("tls12_rsa_ccm8", "TLS 1.2", "TLS_RSA_WITH_AES_256_CCM_8"),
    (
        "tls12_rsa_gcm",
        "TLS 1.2",
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
    ),
];

/// Captures of a server's status page (openssl s_server -www, gnutls-serv
/// --http), HTTP/1.0 ended by the close: (case, version, suite, what the
/// page ends with).
const STATUS_PAGE_CASES: &[(&str, &str, &str, &str)] = &[
    (
        "tls10_dhe_etm",
        "TLS 1.0",
        "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        OPENSSL_PAGE_END,
    ),
    (
        "tls11_psk_cbc",
        "TLS 1.1",
        "TLS_PSK_WITH_AES_256_CBC_SHA",
        OPENSSL_PAGE_END,
    ),
    (
        "tls12_psk_chacha20",
        "TLS 1.2",
        "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
        OPENSSL_PAGE_END,
    ),
    (
        "tls12_dhe_psk_ccm",
        "TLS 1.2",
        "TLS_DHE_PSK_WITH_AES_128_CCM",
        OPENSSL_PAGE_END,
    ),
    (
        "tls12_ecdhe_psk_cbc",
        "TLS 1.2",
        "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384",
        OPENSSL_PAGE_END,
    ),
    (
        "tls13_ccm",
        "TLS 1.3",
        "TLS_AES_128_CCM_SHA256",
        OPENSSL_PAGE_END,
    ),
    (
        "tls13_ccm8",
        "TLS 1.3",
        "TLS_AES_128_CCM_8_SHA256",
        OPENSSL_PAGE_END,
    ),
    (
        "tls10_3des",
        "TLS 1.0",
        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        GNUTLS_PAGE_END,
    ),
    (
        "tls12_3des_etm",
        "TLS 1.2",
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        GNUTLS_PAGE_END,
    ),
    (
        "tls10_rc4",
        "TLS 1.0",
        "TLS_RSA_WITH_RC4_128_SHA",
        GNUTLS_PAGE_END,
    ),
    (
        "tls12_rc4_ecdhe",
        "TLS 1.2",
        "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        GNUTLS_PAGE_END,
    ),
];

const OPENSSL_PAGE_END: &str = "</pre></BODY></HTML>\r\n\r\n";
const GNUTLS_PAGE_END: &str = "</BODY></HTML>\n\n";

/// Older versions, 3DES, RC4, CCM and the PSK family: one request, its
/// status page, every record of both directions opened, the index naming
/// the version and suite. tshark 4.0 exports no object from these (the
/// body is close-delimited, see below); the decrypted streams are checked
/// against tshark's in `decrypted_streams_equal_tsharks`.
#[test]
fn status_page_captures_of_older_versions_and_more_suites() {
    for &(case, version, suite, end) in STATUS_PAGE_CASES {
        let r = run(case);
        assert_eq!(r.index.len(), 1, "{case}");
        let rec = &r.index[0];
        let t = &rec["tls"];
        assert_eq!(t["decrypted"], true, "{case}: {t}");
        assert_eq!(t["version"], version, "{case}");
        assert_eq!(t["cipher_suite"], suite, "{case}");
        assert!(t["client"]["stopped"].is_null(), "{case}: {t}");
        assert!(t["server"]["stopped"].is_null(), "{case}: {t}");
        assert_eq!(rec["method"], "GET", "{case}: {rec}");
        assert_eq!(rec["status"], 200, "{case}: {rec}");
        assert_eq!(rec["complete"], true, "{case}: {rec}");
        let body = r.file(rec["response_body"]["file"].as_str().unwrap());
        // gnutls-serv's page begins with a line feed.
        let page = String::from_utf8_lossy(&body);
        assert!(page.trim_start().starts_with("<HTML><BODY"), "{case}");
        assert!(
            body.ends_with(end.as_bytes()),
            "{case}: {:?}",
            String::from_utf8_lossy(&body[body.len().saturating_sub(40)..])
        );
        // Each page says what its server negotiated.
        let named = if end == GNUTLS_PAGE_END {
            let s = suite.strip_prefix("TLS_").unwrap().replace("_WITH", "");
            let s = s.replace("RC4_128", "ARCFOUR_128").replace("_SHA", "_SHA1");
            format!("<TD>Ciphersuite</TD><TD>{s}</TD>")
        } else {
            let v = match version {
                "TLS 1.0" => "TLSv1",
                "TLS 1.1" => "TLSv1.1",
                "TLS 1.2" => "TLSv1.2",
                _ => "TLSv1.3",
            };
            format!("    Protocol  : {v}\n")
        };
        assert!(page.contains(&named), "{case}: {named}");
    }
}

#[test]
fn curl_captures_decrypt_to_the_bodies_sent() {
    for &(case, version, suite) in CURL_CASES {
        let r = run(case);
        assert!(!r.index.is_empty(), "{case}: empty index");
        for rec in &r.index {
            let t = &rec["tls"];
            assert_eq!(t["decrypted"], true, "{case}: {rec}");
            assert_eq!(t["version"], version, "{case}");
            assert_eq!(t["cipher_suite"], suite, "{case}");
            assert_eq!(t["sni"], "flowsplit.test", "{case}");
            assert_eq!(rec["status"], 200, "{case}: {rec}");
            assert_eq!(rec["complete"], true, "{case}: {rec}");
            assert!(t["client"]["stopped"].is_null(), "{case}: {t}");
            assert!(t["server"]["stopped"].is_null(), "{case}: {t}");
            let uri = rec["uri"].as_str().unwrap();
            // curl posts cert.pem to every URL of a run with --data-binary;
            // server.py echoes a POST's body, whatever the path.
            let posted = rec["method"] == "POST";
            let want = if posted {
                expected("/echo")
            } else {
                expected(uri)
            };
            assert_eq!(
                rec["response_body"]["sha256"],
                want.as_str(),
                "{case} {uri}"
            );
            if posted {
                assert_eq!(rec["request_body"]["sha256"], want.as_str(), "{case} {uri}");
            }
            // The decrypted files sit beside the raw ones and the index
            // names them.
            let req = rec["request_file"].as_str().unwrap();
            assert!(req.ends_with("-TLS"), "{req}");
            assert_eq!(t["client"]["decrypted_file"], req);
            assert_eq!(
                t["client"]["file"].as_str().unwrap(),
                req.strip_suffix("-TLS").unwrap()
            );
        }
        assert_eq!(
            r.body_hashes(),
            tshark_hashes(case),
            "{case}: flowsplit and tshark differ"
        );
    }
}

#[test]
fn tls13_details_hello_retry_and_resumption() {
    let r = run("tls13_hrr");
    assert_eq!(r.index[0]["tls"]["hello_retry"], true);
    let r = run("tls13_resumed");
    // Two connections, the second resumed with a PSK: each has its own
    // secrets in the log, by its own client random.
    let conns: std::collections::BTreeSet<_> = r
        .index
        .iter()
        .map(|x| x["request_file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(conns.len(), 2);
    let r = run("tls12_aes128gcm");
    assert_eq!(r.index[0]["tls"]["extended_master_secret"], true);
}

/// Captures made with openssl s_server -www: the response is its status
/// page, HTTP/1.0 delimited by the connection's close.
#[test]
fn openssl_captures_key_update_and_resumption() {
    let r = run("tls13_keyupdate");
    assert_eq!(r.index.len(), 1);
    let rec = &r.index[0];
    let t = &rec["tls"];
    assert_eq!(t["cipher_suite"], "TLS_CHACHA20_POLY1305_SHA256");
    // The client sent a KeyUpdate asking for one back: both directions
    // moved to their next keys, the request and the response after it.
    assert_eq!(t["client"]["key_updates"], 1, "{t}");
    assert_eq!(t["server"]["key_updates"], 1, "{t}");
    assert_eq!(rec["method"], "GET");
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["complete"], true, "{rec}");
    let body = r.file(rec["response_body"]["file"].as_str().unwrap());
    assert!(
        body.starts_with(b"<HTML><BODY BGCOLOR=\"#ffffff\">"),
        "{:?}",
        &body[..40]
    );
    assert!(body.ends_with(b"</pre></BODY></HTML>\r\n\r\n"));
    // tshark 4.0 exports no object here: it leaves a close-delimited
    // HTTP/1.0 body inside TLS unfinished ("TLS segment of a reassembled
    // PDU") and never hands it to the export.
    assert_eq!(tshark_hashes("tls13_keyupdate"), Vec::<String>::new());

    for case in ["tls12_resumed_id", "tls12_resumed_ticket"] {
        let r = run(case);
        // s_client -reconnect: the first connection and five resumed ones,
        // the last carrying the request.
        assert_eq!(r.index.len(), 6, "{case}");
        assert!(
            r.index.iter().all(|x| x["tls"]["decrypted"] == true),
            "{case}"
        );
        let last = r
            .index
            .iter()
            .find(|x| x["method"] == "GET")
            .expect("the request");
        assert_eq!(last["status"], 200, "{case}");
        assert_eq!(last["complete"], true, "{case}");
        let others = r.index.iter().filter(|x| x["method"].is_null());
        assert!(others
            .clone()
            .all(|x| x["notes"][0] == "no HTTP/1.x message in the decrypted streams"));
        assert_eq!(others.count(), 5);
    }
}

#[test]
fn early_data_with_and_without_its_secret() {
    let r = run("tls13_early_data");
    let early = r
        .index
        .iter()
        .find(|x| x["method"] == "GET")
        .expect("the 0-RTT request");
    assert_eq!(early["uri"], "/early");
    assert_eq!(early["tls"]["client"]["early_data_bytes"], 45);
    assert_eq!(
        r.file(early["request_file"].as_str().unwrap()),
        std::fs::read(tls("early.txt")).unwrap()
    );
    // Without CLIENT_EARLY_TRAFFIC_SECRET the early records are passed
    // over and counted; the rest of the connection still decrypts.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let text = std::fs::read_to_string(tls("tls13_early_data.keys")).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("CLIENT_EARLY_TRAFFIC_SECRET"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.len() < text.len());
    std::fs::write(&keys, kept).unwrap();
    let r = run_with("tls13_early_data", &keys);
    assert!(r.index.iter().all(|x| x["method"].is_null()));
    let second = r
        .index
        .iter()
        .find(|x| x["tls"]["client"]["skipped_records"] != 0)
        .unwrap();
    assert_eq!(second["tls"]["client"]["early_data_bytes"], 0);
    assert_eq!(second["tls"]["decrypted"], true);
}

#[test]
fn a_connection_without_keys_is_listed_and_left_alone() {
    // tls13_resumed has two connections; keep only the first's secrets.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let text = std::fs::read_to_string(tls("tls13_resumed.keys")).unwrap();
    let first_random = text
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string();
    let kept: String = text
        .lines()
        .filter(|l| l.contains(&first_random))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&keys, kept).unwrap();
    let r = run_with("tls13_resumed", &keys);
    let (done, not): (Vec<&Value>, Vec<&Value>) =
        r.index.iter().partition(|x| x["tls"]["decrypted"] == true);
    assert_eq!(done.len(), 1, "{:?}", r.index);
    assert_eq!(not.len(), 1);
    let n = not[0];
    assert_eq!(
        n["tls"]["reason"],
        "no secrets in the key log for this ClientHello random"
    );
    assert_eq!(
        n["notes"][0],
        "TLS not decrypted: no secrets in the key log for this ClientHello random"
    );
    assert_eq!(n["complete"], false);
    assert!(n["tls"]["client"]["decrypted_file"].is_null());
    // Its raw flows only: no -TLS file for it.
    let raw = n["request_file"].as_str().unwrap();
    assert!(!raw.ends_with("-TLS"));
    assert!(!r.out.join(format!("{raw}-TLS")).exists());
    // `flowsplit http` says what it did.
    let args: Vec<&OsStr> = vec![
        "http".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        r.out.as_os_str(),
    ];
    let again = common::flowsplit(&args);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("TLS connections: 1 decrypted, 1 not decrypted, 0 stopped at a record failing authentication"),
        "{said}"
    );
    let _ = r.stderr;
}

#[test]
fn a_flipped_byte_stops_decryption_and_is_reported() {
    let r = run("tls13_aes128gcm");
    let rec = &r.index[0];
    let server_raw = rec["tls"]["server"]["file"].as_str().unwrap().to_string();
    let plain_before = r.file(&format!("{server_raw}-TLS"));
    // Flip one byte in the middle of the raw server flow (inside the big
    // body's records).
    let path = r.out.join(&server_raw);
    let mut raw = std::fs::read(&path).unwrap();
    let at = raw.len() / 2;
    raw[at] ^= 0x40;
    std::fs::write(&path, &raw).unwrap();
    let keys = tls("tls13_aes128gcm.keys");
    let args: Vec<&OsStr> = vec![
        "http".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        r.out.as_os_str(),
    ];
    let again = common::flowsplit(&args);
    assert!(again.status.success(), "{again:?}");
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains("1 stopped at a record failing authentication"),
        "{said}"
    );
    let index = read_index(&r.out);
    let stopped = index[0]["tls"]["server"]["stopped"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stopped.ends_with("failed authentication"), "{stopped}");
    let offset: u64 = stopped
        .strip_prefix("record at offset ")
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(
        offset <= at as u64 && at as u64 - offset < 16 * 1024 + 256,
        "{offset} {at}"
    );
    // What was written is exactly the plaintext of the records before the
    // bad one: a prefix of the good run's, shorter.
    let plain_after = r.file(&format!("{server_raw}-TLS"));
    assert!(plain_after.len() < plain_before.len());
    assert_eq!(&plain_before[..plain_after.len()], &plain_after[..]);
    // The big body is cut short and flagged.
    let big = index.iter().find(|x| x["uri"] == "/big.bin").unwrap();
    assert_eq!(big["response_body"]["complete"], false, "{big}");
    assert!(big["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("failed authentication")));
}

#[test]
fn carving_again_gives_the_same_files() {
    let r = run("tls12_cbc_sha256");
    let before = r.files();
    assert!(before.iter().any(|(n, _)| n.ends_with("-TLS")));
    let keys = tls("tls12_cbc_sha256.keys");
    let args: Vec<&OsStr> = vec![
        "http".as_ref(),
        "-q".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        r.out.as_os_str(),
    ];
    for _ in 0..2 {
        let again = common::flowsplit(&args);
        assert!(again.status.success(), "{again:?}");
        assert_eq!(r.files(), before);
    }
}

#[test]
fn without_a_key_log_nothing_changes_and_an_unusable_one_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pcap = tls("tls13_aes128gcm.pcap");
    let args: Vec<&OsStr> = vec![
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-e".as_ref(),
        "http".as_ref(),
    ];
    let plain = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(&args)
        .env_remove("SSLKEYLOGFILE")
        .output()
        .unwrap();
    assert!(plain.status.success());
    assert_eq!(std::fs::read(out.join("http.jsonl")).unwrap(), b"");
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with("-TLS")));
    // SSLKEYLOGFILE is the default.
    let out2 = tmp.path().join("out2");
    let mut args2 = args.clone();
    args2[3] = out2.as_os_str();
    let with_env = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(&args2)
        .env("SSLKEYLOGFILE", tls("tls13_aes128gcm.keys"))
        .output()
        .unwrap();
    assert!(with_env.status.success());
    assert_eq!(read_index(&out2).len(), 3);
    // Not a key log (a certificate): a warning naming it and its first
    // line; the run goes on, the flows are written and the TLS connection
    // is reported not decrypted, with the reason.
    let cert = tls("cert.pem");
    let out3 = tmp.path().join("out3");
    let mut warned = args.clone();
    warned[3] = out3.as_os_str();
    warned.extend(["--tls-keylog".as_ref(), cert.as_os_str()]);
    let run = common::flowsplit(&warned);
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!(
            "flowsplit: warning: {}: not an NSS key log file, no usable line \
             (first bad line 1: \"-----BEGIN CERTIFICATE-----\")",
            cert.display()
        )),
        "{said}"
    );
    let flows = |dir: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(|c: char| c.is_ascii_digit())
            })
            .map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n, std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(flows(&out).len(), 2, "{:?}", flows(&out));
    assert_eq!(flows(&out3), flows(&out), "the flow files, as without it");
    let index = read_index(&out3);
    assert_eq!(index.len(), 1, "{index:?}");
    let reason = format!(
        "TLS not decrypted: no secrets in the key log for this ClientHello random; \
         {} is not a key log (no usable line)",
        cert.display()
    );
    assert_eq!(index[0]["notes"], serde_json::json!([reason]));
    // So too for `flowsplit http`, which carves the same index again.
    let again = common::flowsplit(&[
        "http".as_ref(),
        "--tls-keylog".as_ref(),
        cert.as_os_str(),
        out3.as_os_str(),
    ]);
    let said_again = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{said_again}");
    assert!(
        said_again.contains(&format!(
            "flowsplit: warning: {}: not an NSS key log file",
            cert.display()
        )),
        "{said_again}"
    );
    assert_eq!(read_index(&out3), index);
    // A key log that cannot be opened stays an error.
    let missing = tmp.path().join("missing.keys");
    let mut bad = args.clone();
    bad.extend(["--tls-keylog".as_ref(), missing.as_os_str()]);
    let refused = common::flowsplit(&bad);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains(&missing.display().to_string()), "{said}");
    // Without -e http it is a usage error.
    let k = tls("tls13_aes128gcm.keys");
    let usage: Vec<&OsStr> = vec![
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--tls-keylog".as_ref(),
        k.as_os_str(),
    ];
    let refused = common::flowsplit(&usage);
    assert_eq!(refused.status.code(), Some(2));
}

/// The decrypted application data of every TCP stream of `case`, as
/// `tshark -z follow,tls,raw,N` gives it: the sha256 of each side's bytes
/// (sides without bytes left out), sorted.
fn tshark_follow(case: &str) -> Vec<String> {
    let keys = format!("tls.keylog_file:{}", tls(&format!("{case}.keys")).display());
    tshark_follow_with(case, &["-o", &keys])
}

/// [`tshark_follow`] with tshark's secrets given by `opts` (`-o ...`).
fn tshark_follow_with(case: &str, opts: &[&str]) -> Vec<String> {
    let mut all = Vec::new();
    for stream in 0.. {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(tls(&format!("{case}.pcap")))
            .args(opts)
            .arg("-q")
            .arg("-z")
            .arg(format!("follow,tls,raw,{stream}"))
            .output()
            .expect("tshark runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !text.contains("Node 0: ") || text.contains("Node 0: :0") {
            break;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for line in text.lines() {
            let hexed = line.trim();
            if hexed.is_empty() || !hexed.bytes().all(|c| c.is_ascii_hexdigit()) {
                continue;
            }
            let bytes = hex::decode(hexed).unwrap();
            if line.starts_with('\t') {
                b.extend(bytes);
            } else {
                a.extend(bytes);
            }
        }
        all.extend([a, b].iter().filter(|x| !x.is_empty()).map(|x| sha(x)));
    }
    all.sort();
    all
}

/// Every TLS capture: the `-TLS` files flowsplit writes hold exactly the
/// application data tshark decrypts (`-z follow,tls,raw`).
#[test]
fn decrypted_streams_equal_tsharks() {
    let cases = CURL_CASES
        .iter()
        .map(|c| c.0)
        .chain(STATUS_PAGE_CASES.iter().map(|c| c.0))
        .chain([
            "tls13_keyupdate",
            "tls12_resumed_id",
            "tls12_resumed_ticket",
            "tls13_early_data",
            "tls13_h2",
        ]);
    for case in cases {
        let r = run(case);
        let mut ours: Vec<String> = r
            .files()
            .into_iter()
            .filter(|(n, b)| n.ends_with("-TLS") && !b.is_empty())
            .map(|(_, b)| sha(&b))
            .collect();
        ours.sort();
        assert_eq!(
            ours,
            tshark_follow(case),
            "{case}: flowsplit's -TLS files and tshark's decryption differ"
        );
    }
}

/// HTTP/2 over TLS (ALPN h2, nghttpd, curl --parallel): one record per
/// stream, padding removed, bodies as served. tshark 4.0 has no `http2`
/// object export, so the bodies are checked against what was served and
/// the decrypted streams against tshark's (above).
#[test]
fn http2_over_tls_and_cleartext() {
    let r = run("tls13_h2");
    let got: Vec<(u64, String, String)> = r
        .index
        .iter()
        .map(|x| {
            (
                x["stream_id"].as_u64().unwrap(),
                x["uri"].as_str().unwrap().to_string(),
                x["response_body"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let push = sha(&gen("push", 10));
    assert_eq!(
        got,
        vec![
            (1, "/small.txt".into(), expected("/small.txt")),
            (3, "/big.bin".into(), expected("/big.bin")),
            (5, "/push.txt".into(), push),
        ]
    );
    for x in &r.index {
        assert_eq!(x["tls"]["alpn"], "h2");
        assert_eq!(x["request_version"], "HTTP/2");
        assert_eq!(x["method"], "GET");
        assert!(
            x["host"].as_str().unwrap().starts_with("flowsplit.test:"),
            "{x}"
        );
        assert_eq!(x["status"], 200);
        assert_eq!(x["complete"], true, "{x}");
        assert_eq!(x["response_body"]["framing"], "h2 data");
    }
    // Numbered by stream, named after the -TLS flow (the body is
    // application/octet-stream: mime-db's extension).
    let f = r.index[1]["response_body"]["file"].as_str().unwrap();
    assert!(f.ends_with("-TLS-HTTPBODY-002.bin"), "{f}");

    // h2c with prior knowledge needs no key log.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pcap = tls("h2c_prior_knowledge.pcap");
    let args: Vec<&OsStr> = vec![
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-e".as_ref(),
        "http".as_ref(),
    ];
    assert!(common::flowsplit(&args).status.success());
    let index = read_index(&out);
    assert_eq!(index.len(), 1);
    assert_eq!(index[0]["stream_id"], 1);
    assert_eq!(index[0]["uri"], "/small.txt");
    assert_eq!(
        index[0]["response_body"]["sha256"],
        expected("/small.txt").as_str()
    );
    assert!(index[0].get("tls").is_none());
}

/// Inline carving (`InlineCarver`, fed the closed flows as the capture
/// pipeline would) writes the same index and files as the post-pass, for
/// TLS with a key log and for h2c.
#[test]
fn inline_carving_matches_the_post_pass() {
    use flowsplit::http::inline::{ClosedFlow, InlineCarver};
    use flowsplit::http::HttpOptions;
    for (case, keys) in [
        ("tls12_cbc_sha1", true),
        ("tls13_h2", true),
        ("h2c_prior_knowledge", false),
    ] {
        let keylog: Vec<PathBuf> = if keys {
            vec![tls(&format!("{case}.keys"))]
        } else {
            Vec::new()
        };
        let post = run_keys(case, keylog.first().map(PathBuf::as_path));
        assert!(!post.index.is_empty(), "{case}");
        // The raw flows alone, in a fresh folder, handed over as closed.
        let live = tempfile::tempdir().unwrap();
        let mut raw: Vec<String> = post
            .files()
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| flowsplit::http::name::FlowName::parse(n).is_some())
            .collect();
        raw.sort();
        // The same flows again, carved by the post-pass (`flowsplit http`).
        let post_pass = tempfile::tempdir().unwrap();
        for n in &raw {
            std::fs::copy(post.out.join(n), live.path().join(n)).unwrap();
            std::fs::copy(post.out.join(n), post_pass.path().join(n)).unwrap();
        }
        let opts = HttpOptions {
            tls_keylogs: keylog,
            ..HttpOptions::default()
        };
        let carver = InlineCarver::new(live.path(), opts.clone());
        for (number, pair) in (0..).zip(raw.chunks(2)) {
            let flows: Vec<ClosedFlow<'_>> = pair
                .iter()
                .map(|f| ClosedFlow { file: f, gaps: &[] })
                .collect();
            carver.connection_closed(number, &flows);
        }
        let carved = carver.finish(false, u64::MAX);
        assert!(carved.errors.is_empty(), "{case}: {:?}", carved.errors);
        let summary =
            flowsplit::http::carve_dirs(&[post_pass.path().to_path_buf()], &opts).unwrap();
        assert!(summary.errors.is_empty(), "{case}: {:?}", summary.errors);
        assert_eq!(read_index(post_pass.path()), post.index, "{case}");
        assert_eq!(
            read_index(live.path()),
            post.index,
            "{case}: inline and post-pass indexes differ"
        );
        let body = |d: &Path| -> Vec<(String, Vec<u8>)> {
            let mut v: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.to_string_lossy().contains("-HTTP") || p.to_string_lossy().ends_with("-TLS")
                })
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(body(live.path()), body(post_pass.path()), "{case}");
    }
}

/// `flowsplit -r CASE.pcap -o TMP -e http EXTRA...` (no key log), with
/// its exit status and stderr.
fn run_args(case: &str, extra: &[&OsStr]) -> (Option<Run>, std::process::Output) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pcap = tls(&format!("{case}.pcap"));
    let mut args: Vec<&OsStr> = vec![
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-e".as_ref(),
        "http".as_ref(),
    ];
    args.extend_from_slice(extra);
    let o = common::flowsplit(&args);
    let run = o.status.success().then(|| Run {
        index: read_index(&out),
        out,
        _tmp: tmp,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    });
    (run, o)
}

/// The sha256 of each non-empty `-TLS` file of a run, sorted.
fn decrypted(r: &Run) -> Vec<String> {
    let mut v: Vec<String> = r
        .files()
        .into_iter()
        .filter(|(n, b)| n.ends_with("-TLS") && !b.is_empty())
        .map(|(_, b)| sha(&b))
        .collect();
    v.sort();
    v
}

fn psk() -> String {
    std::fs::read_to_string(tls("psk.hex"))
        .unwrap()
        .trim()
        .to_string()
}

/// `--tls-psk` alone (no key log) decrypts the plain PSK captures to the
/// bytes the key log gives and tshark gives with `-o tls.psk:HEX`; among
/// several keys the one the client's Finished opens under is taken; a
/// wrong key is said, and a DHE-PSK connection still needs the key log.
#[test]
fn tls_psk_decrypts_plain_psk_connections() {
    let key = psk();
    let wrong = "00112233445566778899aabbccddeeff";
    for case in ["tls12_psk_chacha20", "tls11_psk_cbc"] {
        let (r, o) = run_args(
            case,
            &[
                "--tls-psk".as_ref(),
                wrong.as_ref(),
                "--tls-psk".as_ref(),
                key.as_ref(),
            ],
        );
        let r = r.unwrap_or_else(|| panic!("{case}: {o:?}"));
        assert_eq!(r.index.len(), 1, "{case}");
        assert_eq!(r.index[0]["tls"]["decrypted"], true, "{case}");
        assert_eq!(r.index[0]["status"], 200, "{case}");
        let ours = decrypted(&r);
        assert_eq!(ours.len(), 2, "{case}");
        assert_eq!(
            ours,
            decrypted(&run(case)),
            "{case}: --tls-psk and the key log differ"
        );
        let psk_opt = format!("tls.psk:{key}");
        assert_eq!(
            ours,
            tshark_follow_with(case, &["-o", &psk_opt]),
            "{case}: tshark differs"
        );
        let (r, _) = run_args(case, &["--tls-psk".as_ref(), wrong.as_ref()]);
        assert_eq!(
            r.unwrap().index[0]["tls"]["reason"],
            "none of the 1 --tls-psk keys opens the client's Finished"
        );
    }
    let (r, _) = run_args("tls12_dhe_psk_ccm", &["--tls-psk".as_ref(), key.as_ref()]);
    assert_eq!(
        r.unwrap().index[0]["tls"]["reason"],
        "no secrets in the key log for this ClientHello random; \
         --tls-rsa-key and --tls-psk serve only RSA and plain PSK key exchange up to TLS 1.2"
    );
    // A key not in hex is a usage error.
    let (_, o) = run_args(
        "tls12_psk_chacha20",
        &["--tls-psk".as_ref(), "xyz".as_ref()],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--tls-psk"),
        "{o:?}"
    );
}

/// RSA key exchange captures: `--tls-rsa-key key.pem` alone decrypts them
/// to the bytes the key log gives and tshark gives with the same key
/// (`uat:rsa_keys`), whatever the version (SSL 3.0, whose
/// ClientKeyExchange has no length prefix, TLS 1.0, 1.2), bulk cipher
/// (AES-CBC, AES-GCM, AES-CCM, 3DES, RC4), extended master secret and
/// renegotiation (the second handshake's ClientKeyExchange decrypted from
/// the first's records); the bodies equal tshark's export with the key.
#[test]
fn tls_rsa_key_decrypts_rsa_key_exchange() {
    let key = tls("key.pem");
    let uat = format!("uat:rsa_keys:\"{}\",\"\"", key.display());
    for case in [
        "tls10_rsa_cbc",
        "tls12_ccm",
        "tls12_rsa_ccm8",
        "tls12_rsa_gcm",
        "tls12_3des_etm",
        "tls10_rc4",
        "ssl30_rsa_aes128",
        "ssl30_rsa_rc4_md5",
        "tls12_rsa_renegotiated",
    ] {
        let (r, o) = run_args(case, &["--tls-rsa-key".as_ref(), key.as_os_str()]);
        let r = r.unwrap_or_else(|| panic!("{case}: {o:?}"));
        assert!(
            r.index.iter().all(|x| x["tls"]["decrypted"] == true),
            "{case}"
        );
        let ours = decrypted(&r);
        assert_eq!(ours.len(), 2, "{case}");
        assert_eq!(
            ours,
            decrypted(&run(case)),
            "{case}: the key and the key log differ"
        );
        assert_eq!(
            ours,
            tshark_follow_with(case, &["-o", &uat]),
            "{case}: tshark differs"
        );
        if CURL_CASES.iter().any(|c| c.0 == case) {
            assert_eq!(r.body_hashes(), tshark_hashes(case), "{case}");
        }
    }
}

/// The server's port in the one connection of `case`.
fn server_port(case: &str) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(tls(&format!("{case}.pcap")))
        .args(["-T", "fields", "-e", "tcp.dstport", "-c", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The server's key in every form `--tls-rsa-key` reads (PKCS#8 PEM,
/// PKCS#1 PEM, PKCS#8 DER, PKCS#1 DER: the same key, converted with
/// openssl), each alone and each behind the server's `IP:PORT=`, decrypts
/// to the bytes tshark gives with the PEM key (tshark reads PEM only).
#[test]
fn tls_rsa_key_reads_pem_and_der_pkcs1_and_pkcs8() {
    for case in ["tls12_rsa_gcm", "tls10_rsa_cbc"] {
        let uat = format!("uat:rsa_keys:\"{}\",\"\"", tls("key.pem").display());
        let want = tshark_follow_with(case, &["-o", &uat]);
        assert_eq!(want.len(), 2, "{case}: tshark decrypted nothing");
        let port = server_port(case);
        for form in ["key.pem", "key_pkcs1.pem", "key_pkcs8.der", "key_pkcs1.der"] {
            let file = tls(form);
            for value in [
                file.display().to_string(),
                format!("127.0.0.1:{port}={}", file.display()),
            ] {
                let (r, o) = run_args(case, &["--tls-rsa-key".as_ref(), value.as_ref()]);
                let r = r.unwrap_or_else(|| panic!("{case} {value}: {o:?}"));
                assert_eq!(r.index[0]["tls"]["decrypted"], true, "{case} {value}");
                assert_eq!(decrypted(&r), want, "{case} {value}: tshark differs");
            }
        }
    }
}

/// A key is used only for the server whose certificate it matches, and
/// only for the server `IP:PORT=` names; a bad key file stops the run
/// with a typed error; the key is refused without `-e http`.
#[test]
fn tls_rsa_key_mismatch_endpoint_and_bad_files() {
    let case = "tls12_rsa_gcm";
    let key = tls("key.pem");
    let other = tls("other_key.pem");
    let reason = |extra: &[&OsStr]| {
        let (r, o) = run_args(case, extra);
        let r = r.unwrap_or_else(|| panic!("{o:?}"));
        r.index[0]["tls"]["reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        reason(&["--tls-rsa-key".as_ref(), other.as_os_str()]),
        format!(
            "the server's certificate does not match --tls-rsa-key {}",
            other.display()
        )
    );
    let pcap = tls(&format!("{case}.pcap"));
    let port = server_port(case);
    let for_server = format!("127.0.0.1:{port}={}", key.display());
    let elsewhere = format!("127.0.0.1:1={}", key.display());
    let both = format!("127.0.0.1:{port}={}", other.display());
    assert_eq!(reason(&["--tls-rsa-key".as_ref(), for_server.as_ref()]), "");
    assert_eq!(
        reason(&["--tls-rsa-key".as_ref(), elsewhere.as_ref()]),
        "no --tls-rsa-key is for this server"
    );
    // The matching key is found among others given for the same server.
    assert_eq!(
        reason(&[
            "--tls-rsa-key".as_ref(),
            both.as_ref(),
            "--tls-rsa-key".as_ref(),
            key.as_os_str(),
        ]),
        ""
    );
    // Not a key: a typed error naming the file, exit status 1.
    let cert = tls("cert.pem");
    let (_, o) = run_args(case, &["--tls-rsa-key".as_ref(), cert.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        format!(
            "flowsplit: {}: not a usable RSA private key: a PEM file without an RSA PRIVATE KEY or PRIVATE KEY block",
            cert.display()
        )
    );
    let missing = tls("no-such-key.pem");
    let (_, o) = run_args(case, &["--tls-rsa-key".as_ref(), missing.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no-such-key.pem: cannot open"),
        "{o:?}"
    );
    // Without -e http: a usage error.
    let tmp = tempfile::tempdir().unwrap();
    let o = common::flowsplit(&[
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        tmp.path().join("o").as_os_str(),
        "--tls-rsa-key".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--tls-rsa-key: TLS is decrypted only to carve HTTP; add -e http"),
        "{o:?}"
    );
}

/// The SSL 3.0 captures (tlslite-ng: ssl3.py, see testdata/README.md).
const SSL3_CASES: &[(&str, &str)] = &[
    ("ssl30_rsa_aes128", "TLS_RSA_WITH_AES_128_CBC_SHA"),
    ("ssl30_dhe_3des", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    ("ssl30_rsa_rc4_md5", "TLS_RSA_WITH_RC4_128_MD5"),
];

/// What ssl3.py's server sends as the body.
fn ssl3_body() -> Vec<u8> {
    (0..40)
        .flat_map(|i| format!("ssl3 line {i:04} of the fixed body\n").into_bytes())
        .collect()
}

/// SSL 3.0 (its own MAC and key derivation, chained CBC IVs, RC4): with
/// the key log, each capture decrypts to tshark's bytes, says SSL 3.0 and
/// its suite, and carves the one body ssl3.py sent, equal to tshark's
/// export. tshark is wrong on the two CBC captures: tlslite-ng splits the
/// client's request 1/n-1 (a record holding `G`, then one holding the
/// rest), and tshark exports that rest, `ET /ssl3 ...`, as a second object;
/// the test checks that extra object is exactly those bytes.
#[test]
fn ssl30_captures_decrypt_like_tshark() {
    let request = b"GET /ssl3 HTTP/1.0\r\nHost: flowsplit.test\r\n\r\n";
    for &(case, suite) in SSL3_CASES {
        let r = run(case);
        assert_eq!(r.index.len(), 1, "{case}");
        let x = &r.index[0];
        assert_eq!(x["tls"]["version"], "SSL 3.0", "{case}");
        assert_eq!(x["tls"]["cipher_suite"], suite, "{case}");
        assert_eq!(x["tls"]["decrypted"], true, "{case}");
        assert_eq!(x["uri"], "/ssl3", "{case}");
        assert_eq!(x["status"], 200, "{case}");
        assert_eq!(x["response_body"]["sha256"], sha(&ssl3_body()), "{case}");
        assert_eq!(r.body_hashes(), vec![sha(&ssl3_body())], "{case}");
        assert_eq!(decrypted(&r), tshark_follow(case), "{case}: tshark differs");
        let mut exported = tshark_hashes(case);
        if !suite.contains("RC4") {
            let rest = sha(&request[1..]);
            let at = exported.iter().position(|h| *h == rest);
            assert!(at.is_some(), "{case}: tshark's extra object is gone");
            exported.remove(at.unwrap_or_default());
        }
        assert_eq!(exported, r.body_hashes(), "{case}");
    }
}

/// `flowsplit http DIR` takes `--tls-rsa-key` and `--tls-psk` as `-e http`
/// does: flows split without any key, then carved with the server's key
/// (PKCS#1 DER) or the PSK alone, give the bytes of `-e http` with the key
/// log; its closing line counts the connection decrypted; a file that is
/// not a key stops it with exit status 1.
#[test]
fn flowsplit_http_takes_the_rsa_key_and_the_psk() {
    let der = tls("key_pkcs1.der");
    let psk = psk();
    for (case, flag, value) in [
        ("tls12_rsa_gcm", "--tls-rsa-key", der.as_os_str()),
        ("tls11_psk_cbc", "--tls-psk", psk.as_ref()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let pcap = tls(&format!("{case}.pcap"));
        let split = common::flowsplit(&[
            "-r".as_ref(),
            pcap.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(split.status.success(), "{split:?}");
        let o = common::flowsplit(&["http".as_ref(), flag.as_ref(), value, out.as_os_str()]);
        assert!(o.status.success(), "{case}: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(
                "TLS connections: 1 decrypted, 0 not decrypted, 0 stopped at a record failing authentication"
            ),
            "{case}: {o:?}"
        );
        let carved = Run {
            index: read_index(&out),
            out,
            _tmp: tmp,
            stderr: String::new(),
        };
        assert_eq!(carved.index[0]["tls"]["decrypted"], true, "{case}");
        assert_eq!(decrypted(&carved), decrypted(&run(case)), "{case}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let cert = tls("cert.pem");
    let o = common::flowsplit(&[
        "http".as_ref(),
        "--tls-rsa-key".as_ref(),
        cert.as_os_str(),
        tmp.path().as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a usable RSA private key"),
        "{o:?}"
    );
}

/// Inline carving (as during live capture) with only `--tls-rsa-key` and
/// `--tls-psk` keys, no key log: the same `-TLS` bytes as the post-pass
/// with the key log.
#[test]
fn inline_carving_with_only_an_rsa_key_or_a_psk() {
    use flowsplit::http::inline::{ClosedFlow, InlineCarver};
    use flowsplit::http::HttpOptions;
    use flowsplit::tls::{premaster, rsa};
    let key = rsa::load(&tls("key.pem").display().to_string().parse().unwrap()).unwrap();
    let keys = std::sync::Arc::new(premaster::Keys {
        psks: vec![psk().parse().unwrap()],
        rsa: vec![key],
    });
    for case in ["tls12_rsa_ccm8", "tls12_psk_chacha20"] {
        let post = run(case);
        let live = tempfile::tempdir().unwrap();
        let mut raw: Vec<String> = post
            .files()
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| flowsplit::http::name::FlowName::parse(n).is_some())
            .collect();
        raw.sort();
        for n in &raw {
            std::fs::copy(post.out.join(n), live.path().join(n)).unwrap();
        }
        let carver = InlineCarver::new(
            live.path(),
            HttpOptions {
                tls_keys: keys.clone(),
                ..HttpOptions::default()
            },
        );
        let flows: Vec<ClosedFlow<'_>> = raw
            .iter()
            .map(|f| ClosedFlow { file: f, gaps: &[] })
            .collect();
        carver.connection_closed(0, &flows);
        let carved = carver.finish(false, u64::MAX);
        assert!(carved.errors.is_empty(), "{case}: {:?}", carved.errors);
        let inline = Run {
            index: read_index(live.path()),
            out: live.path().to_path_buf(),
            _tmp: live,
            stderr: String::new(),
        };
        assert_eq!(inline.index[0]["tls"]["decrypted"], true, "{case}");
        assert_eq!(decrypted(&inline), decrypted(&post), "{case}");
        assert_eq!(decrypted(&inline).len(), 2, "{case}");
    }
}

/// A renegotiated TLS 1.2 connection (client-initiated, the request sent
/// after it): with both CLIENT_RANDOM lines, or with the server's key
/// alone, both directions are decrypted to their end under the second
/// handshake's keys (tshark's bytes: see tls_rsa_key_decrypts_rsa_key_exchange);
/// with only the first handshake's line, each direction stops at its
/// second ChangeCipherSpec and says why, having written what came before.
#[test]
fn renegotiation_is_followed_when_its_secrets_are_known() {
    let case = "tls12_rsa_renegotiated";
    let full = run(case);
    let key = tls("key.pem");
    let (by_key, _) = run_args(case, &["--tls-rsa-key".as_ref(), key.as_os_str()]);
    for r in [&full, &by_key.unwrap()] {
        let t = &r.index[0]["tls"];
        assert_eq!(t["decrypted"], true);
        assert_eq!(t["client"]["stopped"], Value::Null);
        assert_eq!(t["server"]["stopped"], Value::Null);
        assert_eq!(r.index[0]["uri"], "/");
        assert_eq!(r.index[0]["status"], 200);
    }
    let lines = std::fs::read_to_string(tls(&format!("{case}.keys"))).unwrap();
    let first: String = lines
        .lines()
        .filter(|l| l.starts_with("CLIENT_RANDOM"))
        .take(1)
        .map(|l| format!("{l}\n"))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("first.keys");
    std::fs::write(&one, first).unwrap();
    let partial = run_with(case, &one);
    let t = &partial.index[0]["tls"];
    for side in ["client", "server"] {
        let why = t[side]["stopped"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("renegotiation at offset ")
                && why.ends_with(
                    "(a second ChangeCipherSpec) is not followed: no secrets for its handshake"
                ),
            "{side}: {why}"
        );
    }
    assert_eq!(
        partial
            .files()
            .iter()
            .filter(|(n, b)| n.ends_with("-TLS") && !b.is_empty())
            .count(),
        0,
        "nothing of the request came before the renegotiation"
    );
}
