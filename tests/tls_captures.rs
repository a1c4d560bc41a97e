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
    run_pcap(&tls(&format!("{case}.pcap")), keys, &[])
}

/// `flowsplit -r PCAP -o TMP -e http` with `--tls-keylog KEYS` if given
/// and the arguments `extra`.
fn run_pcap(pcap: &Path, keys: Option<&Path>, extra: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
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
    args.extend(extra.iter().map(OsStr::new));
    let run = common::flowsplit(&args);
    assert!(run.status.success(), "{}: {run:?}", pcap.display());
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
    tshark_hashes_with(
        &tls(&format!("{case}.pcap")),
        Some(&tls(&format!("{case}.keys"))),
    )
}

/// The sha256 of every object tshark exports from `pcap` with the key log
/// `keys` (none: the secrets the capture holds, if any).
fn tshark_hashes_with(pcap: &Path, keys: Option<&Path>) -> Vec<String> {
    let case = pcap.display();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(keylog_option(keys))
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
    tshark_follow_with(
        &tls(&format!("{case}.pcap")),
        Some(&tls(&format!("{case}.keys"))),
    )
}

/// tshark's `-o tls.keylog_file:KEYS`, or nothing.
fn keylog_option(keys: Option<&Path>) -> Vec<String> {
    keys.map(|k| vec!["-o".into(), format!("tls.keylog_file:{}", k.display())])
        .unwrap_or_default()
}

/// [`tshark_follow`] of `pcap` with the key log `keys` (none: the secrets
/// the capture holds, if any).
fn tshark_follow_with(pcap: &Path, keys: Option<&Path>) -> Vec<String> {
    tshark_follow_args(pcap, keylog_option(keys))
}

/// [`tshark_follow`] of `case` with tshark's secrets given by `opts`
/// (`-o ...`).
fn tshark_follow_opts(case: &str, opts: &[&str]) -> Vec<String> {
    tshark_follow_args(
        &tls(&format!("{case}.pcap")),
        opts.iter().map(|o| o.to_string()).collect(),
    )
}

/// [`tshark_follow`] of `pcap` with the tshark options `opts`.
fn tshark_follow_args(pcap: &Path, opts: Vec<String>) -> Vec<String> {
    let mut all = Vec::new();
    let streams = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-e", "tcp.stream"])
        .output()
        .expect("tshark runs");
    let streams = String::from_utf8_lossy(&streams.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max()
        .map_or(0, |m| m + 1);
    for stream in 0..streams {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(&opts)
            .arg("-q")
            .arg("-z")
            .arg(format!("follow,tls,raw,{stream}"))
            .output()
            .expect("tshark runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // A stream tshark did not decrypt has no Node lines, or empty ones.
        if !text.contains("Node 0: ") || text.contains("Node 0: :0") {
            continue;
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

/// The sha256 of each non-empty `-TLS` file a run wrote, sorted.
fn decrypted_hashes(r: &Run) -> Vec<String> {
    let mut ours: Vec<String> = r
        .files()
        .into_iter()
        .filter(|(n, b)| n.ends_with("-TLS") && !b.is_empty())
        .map(|(_, b)| sha(&b))
        .collect();
    ours.sort();
    ours
}

/// TLS 1.2 resumption with a key log holding only the first connection's
/// line (`CASE.first.keys`): every later connection resumes that session
/// (by session ID, or by ticket) and is decrypted with its master secret
/// from the session cache, as tshark decrypts it, for any `-j`, inline
/// and in the post-pass.
#[test]
fn resumed_sessions_decrypt_with_the_first_connections_secret() {
    for (case, by) in [
        ("tls12_resumed_id", "session ID"),
        ("tls12_resumed_ticket", "session ticket"),
        ("tls12_resumed_id_get", "session ID"),
        ("tls12_resumed_ticket_get", "session ticket"),
    ] {
        let first = tls(&format!("{case}.first.keys"));
        let r = run_with(case, &first);
        let mut sources: Vec<(String, String)> = r
            .index
            .iter()
            .map(|x| {
                let t = &x["tls"];
                assert_eq!(t["decrypted"], true, "{case}: {x}");
                let src = t["secret_source"].as_str().unwrap().to_string();
                let by = t["resumed_by"].as_str().unwrap_or("-").to_string();
                (src, by)
            })
            .collect();
        sources.sort();
        let resumed = r.index.len() - 1;
        let mut want = vec![("keylog".to_string(), "-".to_string())];
        want.extend(vec![("session_cache".to_string(), by.to_string()); resumed]);
        assert_eq!(sources, want, "{case}");
        // The same plaintext as with every connection's own line, and as
        // tshark's with the first line alone.
        let full = run(case);
        assert_eq!(decrypted_hashes(&r), decrypted_hashes(&full), "{case}");
        let pcap = tls(&format!("{case}.pcap"));
        assert_eq!(
            decrypted_hashes(&r),
            tshark_follow_with(&pcap, Some(&first)),
            "{case}: flowsplit's -TLS files and tshark's decryption differ"
        );
        if case.ends_with("_get") {
            // server.py's bodies, with Content-Length: tshark exports them.
            let uris: Vec<&str> = r.index.iter().map(|x| x["uri"].as_str().unwrap()).collect();
            assert_eq!(uris.len(), 3, "{case}");
            for x in &r.index {
                let uri = x["uri"].as_str().unwrap();
                assert_eq!(
                    x["response_body"]["sha256"],
                    expected(uri).as_str(),
                    "{case}"
                );
            }
            assert_eq!(
                r.body_hashes(),
                tshark_hashes_with(&pcap, Some(&first)),
                "{case}: flowsplit's and tshark's bodies differ"
            );
        }
        // Two workers, and the post-pass over the raw flows: the same files.
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("j2");
        let j2 = common::flowsplit(&[
            "-j".as_ref(),
            "2".as_ref(),
            "-r".as_ref(),
            pcap.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "-e".as_ref(),
            "http".as_ref(),
            "--tls-keylog".as_ref(),
            first.as_os_str(),
        ]);
        assert!(j2.status.success(), "{j2:?}");
        assert_eq!(read_index(&out), r.index, "{case}: -j 2");
        let post = tmp.path().join("post");
        let raw = common::flowsplit(&[
            "-r".as_ref(),
            pcap.as_os_str(),
            "-o".as_ref(),
            post.as_os_str(),
        ]);
        assert!(raw.status.success());
        let carve = common::flowsplit(&[
            "http".as_ref(),
            post.as_os_str(),
            "--tls-keylog".as_ref(),
            first.as_os_str(),
        ]);
        assert!(carve.status.success(), "{carve:?}");
        assert_eq!(read_index(&post), r.index, "{case}: the post-pass");
    }
}

/// Without the first connection's line: a resumed connection with a line
/// of its own vouches for the session's secret to the connections after
/// it (as tshark takes it), and one before any known secret says why it
/// is not decrypted.
#[test]
fn a_resumption_without_an_earlier_secret_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    for case in ["tls12_resumed_id_get", "tls12_resumed_ticket_get"] {
        let lines: Vec<String> = std::fs::read_to_string(tls(&format!("{case}.keys")))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("CLIENT_RANDOM"))
            .map(String::from)
            .collect();
        assert_eq!(lines.len(), 3);
        let by = if case.contains("ticket") {
            "session ticket"
        } else {
            "session ID"
        };
        // The key log's lines are in connection order (small, gzip, big).
        for (keep, want) in [
            (1, ["/gzip.txt", "/big.bin"].as_slice()),
            (2, &["/big.bin"]),
        ] {
            let keys = tmp.path().join(format!("{case}.{keep}.keys"));
            std::fs::write(&keys, format!("{}\n", lines[keep])).unwrap();
            let r = run_with(case, &keys);
            let mut decrypted: Vec<&str> = r
                .index
                .iter()
                .filter(|x| x["tls"]["decrypted"] == true)
                .map(|x| x["uri"].as_str().unwrap())
                .collect();
            decrypted.sort();
            let mut want = want.to_vec();
            want.sort();
            assert_eq!(decrypted, want, "{case} with line {keep}");
            let pcap = tls(&format!("{case}.pcap"));
            assert_eq!(
                decrypted_hashes(&r),
                tshark_follow_with(&pcap, Some(&keys)),
                "{case} with line {keep}: tshark decrypts otherwise"
            );
            let mut refused: Vec<&str> = r
                .index
                .iter()
                .filter(|x| x["tls"]["decrypted"] == false)
                .map(|x| x["tls"]["reason"].as_str().unwrap())
                .collect();
            refused.sort();
            let full = "no secrets in the key log for this ClientHello random";
            let resumed = format!(
                "{full}; it resumes a session (by {}) that no earlier connection with known secrets set up",
                if by == "session ticket" {
                    "session ticket or session ID"
                } else {
                    by
                }
            );
            let mut expected = vec![full.to_string()];
            if keep == 2 {
                expected.push(resumed);
            }
            assert_eq!(refused, expected, "{case} with line {keep}");
        }
    }
}

/// `(uri, secret_source, resumed_by)` of every index line, sorted (`-`
/// for what is missing).
fn sources(r: &Run) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = r
        .index
        .iter()
        .map(|x| {
            let field = |v: &Value| v.as_str().unwrap_or("-").to_string();
            (
                field(&x["uri"]),
                field(&x["tls"]["secret_source"]),
                field(&x["tls"]["resumed_by"]),
            )
        })
        .collect();
    v.sort();
    v
}

/// The index lines of `r`, each with `secret_source` `keylog` made
/// `capture`: what a run with the secrets in the capture should write
/// when `r` had them from a key log file.
fn as_from_capture(r: &Run) -> Vec<Value> {
    let mut index = r.index.clone();
    for x in &mut index {
        if x["tls"]["secret_source"] == "keylog" {
            x["tls"]["secret_source"] = "capture".into();
        }
    }
    index
}

/// A pcapng carrying its key log in a Decryption Secrets Block
/// (`editcap --inject-secrets tls,CASE.first.keys`): with no key log file,
/// flowsplit decrypts it exactly as the pcap with the key log file (the
/// same index, but for `secret_source` `capture`) and as tshark does with
/// no key log, for any `-j` and from standard input; without `-e http` the
/// block changes nothing.
#[test]
fn secrets_inside_the_capture_decrypt_without_a_key_log() {
    let case = "tls12_resumed_id_get";
    let dsb = tls(&format!("{case}.dsb.pcapng"));
    let first = tls(&format!("{case}.first.keys"));
    let r = run_pcap(&dsb, None, &[]);
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        sources(&r),
        [
            s("/big.bin", "session_cache", "session ID"),
            s("/gzip.txt", "session_cache", "session ID"),
            s("/small.txt", "capture", "-"),
        ]
    );
    let with_file = run_with(case, &first);
    assert_eq!(r.index, as_from_capture(&with_file));
    // The flow, -TLS and body files: the same bytes.
    let written = |r: &Run| -> Vec<(String, String)> {
        r.files()
            .into_iter()
            .filter(|(n, _)| n.starts_with("127."))
            .map(|(n, b)| (n, sha(&b)))
            .collect()
    };
    assert_eq!(written(&r).len(), 6 + 6 + 3);
    assert_eq!(written(&r), written(&with_file));
    assert_eq!(decrypted_hashes(&r), decrypted_hashes(&run(case)));
    assert_eq!(
        decrypted_hashes(&r),
        tshark_follow_with(&dsb, None),
        "flowsplit's -TLS files and tshark's decryption of the DSB capture differ"
    );
    for x in &r.index {
        let uri = x["uri"].as_str().unwrap();
        assert_eq!(
            x["response_body"]["sha256"],
            expected(uri).as_str(),
            "{uri}"
        );
    }
    assert_eq!(r.body_hashes(), tshark_hashes_with(&dsb, None));
    assert_eq!(r.body_hashes().len(), 3);
    assert_eq!(run_pcap(&dsb, None, &["-j", "2"]).index, r.index, "-j 2");
    // From standard input.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("stdin");
    let piped = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["-r", "-", "-e", "http", "-o"])
        .arg(&out)
        .stdin(std::fs::File::open(&dsb).unwrap())
        .output()
        .unwrap();
    assert!(piped.status.success(), "{piped:?}");
    assert_eq!(read_index(&out), r.index, "from standard input");
    // Without -e http: the same flow files as from the pcap.
    let flows = |input: &Path, name: &str| {
        let out = tmp.path().join(name);
        assert!(common::split_into(input, &out).status.success());
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("127."))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let from_dsb = flows(&dsb, "raw_dsb");
    assert_eq!(from_dsb.len(), 6);
    assert_eq!(from_dsb, flows(&tls(&format!("{case}.pcap")), "raw_pcap"));
}

/// Secrets from the capture and from a key log file merge: the DSB of
/// `tls13_resumed.dsb.pcapng` holds the first connection's secrets, the
/// key log file the second's; each alone decrypts its own connection,
/// together both, as tshark with the same key log. For a connection both
/// have, the key log file's lines are taken.
#[test]
fn capture_and_key_log_secrets_merge() {
    let case = "tls13_resumed";
    let dsb = tls(&format!("{case}.dsb.pcapng"));
    let lines = std::fs::read_to_string(tls(&format!("{case}.keys"))).unwrap();
    let first_random = lines.split_whitespace().nth(1).unwrap().to_string();
    let second: String = lines
        .lines()
        .filter(|l| !l.contains(&first_random))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(second.lines().count(), 5);
    let tmp = tempfile::tempdir().unwrap();
    let second_keys = tmp.path().join("second.keys");
    std::fs::write(&second_keys, second).unwrap();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string(), "-".to_string());

    // The capture's secrets alone: the first connection.
    let alone = run_pcap(&dsb, None, &[]);
    assert_eq!(sources(&alone), [s("-", "-"), s("/small.txt", "capture")]);
    let refused: Vec<&Value> = alone
        .index
        .iter()
        .map(|x| &x["tls"]["reason"])
        .filter(|r| !r.is_null())
        .collect();
    assert_eq!(
        refused,
        ["no secrets in the key log for this ClientHello random"]
    );
    assert_eq!(decrypted_hashes(&alone), tshark_follow_with(&dsb, None));
    assert_eq!(decrypted_hashes(&alone).len(), 2);

    // Both: every connection, the secrets' source for each.
    let both = run_pcap(&dsb, Some(&second_keys), &[]);
    assert_eq!(
        sources(&both),
        [s("/gzip.txt", "keylog"), s("/small.txt", "capture")]
    );
    assert_eq!(decrypted_hashes(&both), decrypted_hashes(&run(case)));
    assert_eq!(
        decrypted_hashes(&both),
        tshark_follow_with(&dsb, Some(&second_keys))
    );
    for x in &both.index {
        let uri = x["uri"].as_str().unwrap();
        assert_eq!(
            x["response_body"]["sha256"],
            expected(uri).as_str(),
            "{uri}"
        );
    }
    assert_eq!(
        run_pcap(&dsb, Some(&second_keys), &["-j", "2"]).index,
        both.index
    );

    // A key log file with both connections' lines: its lines are taken.
    let full = run_pcap(&dsb, Some(&tls(&format!("{case}.keys"))), &[]);
    assert_eq!(
        sources(&full),
        [s("/gzip.txt", "keylog"), s("/small.txt", "keylog")]
    );
}

/// A capture whose Decryption Secrets Blocks hold secrets for more
/// connections than are kept (`CAPTURE_SECRETS_BUDGET`, 8,192
/// connections): those past it are dropped and the run says how many; the
/// connections before them are decrypted.
#[test]
fn capture_secrets_past_the_budget_are_dropped_and_said() {
    let case = "tls13_resumed";
    let tmp = tempfile::tempdir().unwrap();
    let mut keys = std::fs::read_to_string(tls(&format!("{case}.keys"))).unwrap();
    let budget = flowsplit::tls::keylog::CAPTURE_SECRETS_BUDGET
        / flowsplit::tls::keylog::CAPTURE_SECRET_BYTES;
    // The capture's two connections, then budget - 2 + 10 made up.
    for i in 0..budget - 2 + 10 {
        keys.push_str(&format!(
            "CLIENT_RANDOM {:064x} {}\n",
            i + 1,
            "ab".repeat(48)
        ));
    }
    let keylog = tmp.path().join("many.keys");
    std::fs::write(&keylog, keys).unwrap();
    let dsb = tmp.path().join("many.pcapng");
    let made = Command::new("editcap")
        .arg("--inject-secrets")
        .arg(format!("tls,{}", keylog.display()))
        .arg(tls(&format!("{case}.pcap")))
        .arg(&dsb)
        .output()
        .expect("editcap runs (apt-get install tshark)");
    assert!(made.status.success(), "{made:?}");
    let r = run_pcap(&dsb, None, &[]);
    let decrypted = r
        .index
        .iter()
        .filter(|x| x["tls"]["secret_source"] == "capture")
        .count();
    assert_eq!(decrypted, 2);
    assert!(
        r.stderr.contains(
            "flowsplit: warning: the capture's Decryption Secrets Blocks hold secrets for more connections than are kept: 10 dropped (give them with --tls-keylog)"
        ),
        "{}",
        r.stderr
    );
    // Within the budget: nothing said.
    assert!(!run_pcap(&tls(&format!("{case}.dsb.pcapng")), None, &[])
        .stderr
        .contains("warning"));
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

/// Cleartext HTTP/2 by upgrade (`h2c_upgrade.pcap`: curl --http2 against
/// h2c_server.py): the HTTP/1.1 request with `Upgrade: h2c` takes the
/// response of stream 1 after the `101`, the next request is stream 3 of
/// the same connection; bodies as served (tshark 4.0 exports no HTTP/2
/// objects), streams and statuses as tshark dissects them; the same with
/// -j 2 and from `flowsplit http` over the raw flows.
#[test]
fn h2c_by_upgrade_is_followed_on_the_same_connection() {
    let r = run_keys("h2c_upgrade", None);
    let got: Vec<Value> = r
        .index
        .iter()
        .map(|x| {
            serde_json::json!([
                x["stream_id"],
                x["method"],
                x["uri"],
                x["request_version"],
                x["interim"],
                x["status"],
                x["response_version"],
                x["response_body"]["sha256"],
                x["complete"],
            ])
        })
        .collect();
    assert_eq!(
        got,
        [
            serde_json::json!([
                1,
                "GET",
                "/small.txt",
                "HTTP/1.1",
                [101],
                200,
                "HTTP/2",
                expected("/small.txt"),
                true
            ]),
            serde_json::json!([
                3,
                "GET",
                "/big.bin",
                "HTTP/2",
                [],
                200,
                "HTTP/2",
                expected("/big.bin"),
                true
            ]),
        ]
    );
    let names: Vec<&str> = r
        .index
        .iter()
        .map(|x| x["response_body"]["file"].as_str().unwrap())
        .collect();
    assert!(names[0].ends_with("-HTTPBODY-001.txt"), "{names:?}");
    assert!(names[1].ends_with("-HTTPBODY-002.bin"), "{names:?}");
    assert_eq!(r.body_hashes().len(), 2);
    // tshark: the 101, then HTTP/2 responses on streams 1 and 3.
    let pcap = tls("h2c_upgrade.pcap");
    let fields = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args([
            "-Y",
            "http.response.code or http2.headers.status",
            "-T",
            "fields",
            "-e",
            "http.response.code",
            "-e",
            "http2.streamid",
            "-e",
            "http2.headers.status",
        ])
        .output()
        .expect("tshark runs");
    let tshark = String::from_utf8_lossy(&fields.stdout).into_owned();
    assert_eq!(tshark, "101\t\t\n\t1\t200\n\t3\t200\n");
    // -j 2, and the post-pass over the raw flows.
    assert_eq!(run_pcap(&pcap, None, &["-j", "2"]).index, r.index);
    let tmp = tempfile::tempdir().unwrap();
    let post = tmp.path().join("post");
    assert!(common::split_into(&pcap, &post).status.success());
    let carve = common::flowsplit(&["http".as_ref(), post.as_os_str()]);
    assert!(carve.status.success(), "{carve:?}");
    assert_eq!(read_index(&post), r.index);
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
        ("h2c_upgrade", false),
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
                .map(|f| ClosedFlow {
                    file: f,
                    gaps: &[],
                    connection: None,
                })
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
        assert_eq!(r.index[0]["tls"]["secret_source"], "tls_psk", "{case}");
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
            tshark_follow_opts(case, &["-o", &psk_opt]),
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
            r.index.iter().all(
                |x| x["tls"]["decrypted"] == true && x["tls"]["secret_source"] == "tls_rsa_key"
            ),
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
            tshark_follow_opts(case, &["-o", &uat]),
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
        let want = tshark_follow_opts(case, &["-o", &uat]);
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
            .map(|f| ClosedFlow {
                file: f,
                gaps: &[],
                connection: None,
            })
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

/// The report's TLS lines of a run (`{"record":"tls",...}`), in order.
fn report_tls(out: &Path) -> Vec<Value> {
    common::parse_tls_lines(&out.join("report.jsonl"))
}

/// `(secret_source, resumed_by, decrypted, reason)` of each TLS line, `-`
/// for `null`, sorted.
fn tls_facts(lines: &[Value]) -> Vec<(String, String, bool, String)> {
    let field = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut v: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                field(&l["secret_source"]),
                field(&l["resumed_by"]),
                l["decrypted"].as_bool().unwrap(),
                field(&l["reason"]),
            )
        })
        .collect();
    v.sort();
    v
}

/// Assert the report's TLS lines of `r` say what its index's `tls`
/// objects say: every direction an index line's `tls` names has exactly
/// one TLS line, with the connection's facts of the `tls` object and the
/// direction's of its `client` or `server` member, the connection id and
/// Community ID of the direction's own report line, and no other TLS
/// line. Returns how many TLS lines there are.
fn assert_tls_lines_agree_with_the_index(r: &Run) -> usize {
    let lines = report_tls(&r.out);
    let directions = common::parse_report(&r.out.join("report.jsonl"));
    let mut named = std::collections::BTreeSet::new();
    for x in r.index.iter().filter(|x| !x["tls"].is_null()) {
        let tls = &x["tls"];
        for role in ["client", "server"] {
            let d = &tls[role];
            if d.is_null() {
                continue;
            }
            let file = d["file"].as_str().unwrap();
            named.insert(file.to_string());
            let mine: Vec<&Value> = lines.iter().filter(|l| l["file"] == file).collect();
            assert_eq!(mine.len(), 1, "{file}: {lines:#?}");
            let l = mine[0];
            assert_eq!(l["role"], role, "{file}");
            for k in [
                "version",
                "cipher_suite",
                "sni",
                "alpn",
                "decrypted",
                "reason",
                "hello_retry",
                "extended_master_secret",
                "secret_source",
                "resumed_by",
            ] {
                assert_eq!(l[k], tls[k], "{file}: {k}");
            }
            for k in [
                "decrypted_file",
                "records",
                "bytes",
                "key_updates",
                "early_data_bytes",
                "skipped_records",
                "stopped",
            ] {
                assert_eq!(l[k], d[k], "{file}: {k}");
            }
            let own: Vec<&Value> = directions.iter().filter(|l| l["file"] == file).collect();
            assert_eq!(own.len(), 1, "{file}");
            assert_eq!(l["connection"], own[0]["connection"], "{file}");
            assert_eq!(l["community_id"], own[0]["community_id"], "{file}");
        }
    }
    let listed: std::collections::BTreeSet<String> = lines
        .iter()
        .map(|l| l["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, named, "TLS lines of directions no index line names");
    lines.len()
}

/// Issue 29: the report (not only `http.jsonl`) gives each direction's TLS
/// facts, in lines of their own after every direction line, byte for byte
/// the same with `-j 1` and `-j 2`.
#[test]
fn the_report_gives_each_directions_tls_facts() {
    let r = run("tls12_aes128gcm");
    let text = std::fs::read_to_string(r.out.join("report.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // The direction lines first, as before: no `record` field.
    assert!(lines[..2].iter().all(|l| l.starts_with("{\"file\":")));
    let tls_line = |file: &str, role: &str, records: u64, bytes: u64| {
        format!(
            "{{\"record\":\"tls\",\"file\":\"{file}\",\"connection\":1,\
             \"community_id\":\"1:0x4inuBrYGWQdsHU5QGiH4b+spc=\",\"role\":\"{role}\",\
             \"version\":\"TLS 1.2\",\"cipher_suite\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\
             \"sni\":\"flowsplit.test\",\"alpn\":null,\"decrypted\":true,\"reason\":null,\
             \"hello_retry\":false,\"extended_master_secret\":true,\"secret_source\":\"keylog\",\
             \"resumed_by\":null,\"decrypted_file\":\"{file}-TLS\",\"records\":{records},\
             \"bytes\":{bytes},\"key_updates\":0,\"early_data_bytes\":0,\"skipped_records\":0,\
             \"stopped\":null}}"
        )
    };
    let server = "127.000.000.001.47683-127.000.000.001.48554";
    let client = "127.000.000.001.48554-127.000.000.001.47683";
    assert_eq!(lines[2], tls_line(server, "server", 5, 2074));
    assert_eq!(lines[3], tls_line(client, "client", 4, 185));
    assert_eq!(assert_tls_lines_agree_with_the_index(&r), 2);
    // Readers of the report take its direction lines only.
    let records = flowsplit::output::report::read_report(&r.out.join("report.jsonl")).unwrap();
    let files: Vec<&str> = records.iter().map(|d| d.file.as_str()).collect();
    assert_eq!(files, [server, client]);
    let read =
        flowsplit::output::tls_record::read_tls_records(&r.out.join("report.jsonl")).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(
        read[1].decrypted_file.as_deref(),
        Some(&*format!("{client}-TLS"))
    );
    let keys = tls("tls12_aes128gcm.keys");
    let j2 = run_pcap(&tls("tls12_aes128gcm.pcap"), Some(&keys), &["-j", "2"]);
    assert_eq!(
        std::fs::read_to_string(j2.out.join("report.jsonl")).unwrap(),
        text,
        "-j 2"
    );
}

/// A TLS connection that is not decrypted gets its TLS lines too, with the
/// reason; one decrypted with a resumed session's secret says so
/// (`session_cache`, `resumed_by`); one decrypted with the capture's own
/// secrets says `capture`. Every `-j` writes the same report.
#[test]
fn the_report_says_why_not_and_where_the_secret_came_from() {
    let case = "tls12_resumed_id_get";
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(tls(&format!("{case}.keys")))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("CLIENT_RANDOM"))
        .map(String::from)
        .collect();
    // Only the third connection's secret: the first has none, the second
    // resumes the first's session, which no known secret set up.
    let keys = tmp.path().join("third.keys");
    std::fs::write(&keys, format!("{}\n", lines[2])).unwrap();
    let r = run_with(case, &keys);
    assert_eq!(assert_tls_lines_agree_with_the_index(&r), 6);
    let full = "no secrets in the key log for this ClientHello random";
    let resumed = format!(
        "{full}; it resumes a session (by session ID) that no earlier connection with known secrets set up"
    );
    let s = |a: &str, b: &str, d: bool, c: &str| (a.to_string(), b.to_string(), d, c.to_string());
    let (none, refused) = (s("-", "-", false, full), s("-", "-", false, &resumed));
    assert_eq!(
        tls_facts(&report_tls(&r.out)),
        [
            none.clone(),
            none,
            refused.clone(),
            refused,
            s("keylog", "-", true, "-"),
            s("keylog", "-", true, "-"),
        ]
    );
    // Not decrypted: no plaintext file, and the direction says why.
    for l in report_tls(&r.out)
        .iter()
        .filter(|l| l["decrypted"] == false)
    {
        assert!(l["decrypted_file"].is_null(), "{l}");
        assert_eq!(l["records"], 0, "{l}");
    }
    // With the first connection's secret, the others resume its session.
    let first = run_with(case, &tls(&format!("{case}.first.keys")));
    assert_eq!(assert_tls_lines_agree_with_the_index(&first), 6);
    let cache = s("session_cache", "session ID", true, "-");
    let want = [
        s("keylog", "-", true, "-"),
        s("keylog", "-", true, "-"),
        cache.clone(),
        cache.clone(),
        cache.clone(),
        cache.clone(),
    ];
    assert_eq!(tls_facts(&report_tls(&first.out)), want);
    // The same secret from a Decryption Secrets Block in the capture.
    let dsb = run_pcap(&tls(&format!("{case}.dsb.pcapng")), None, &[]);
    assert_eq!(assert_tls_lines_agree_with_the_index(&dsb), 6);
    let mut want = want.to_vec();
    want[..2].fill(s("capture", "-", true, "-"));
    want.sort();
    assert_eq!(tls_facts(&report_tls(&dsb.out)), want);
    // By connection id, then flow file: the order is the report's own.
    let order: Vec<(u64, String)> = report_tls(&dsb.out)
        .iter()
        .map(|l| {
            (
                l["connection"].as_u64().unwrap(),
                l["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    for extra in [["-j", "1"], ["-j", "3"]] {
        let again = run_pcap(&tls(&format!("{case}.dsb.pcapng")), None, &extra);
        assert_eq!(
            std::fs::read(again.out.join("report.jsonl")).unwrap(),
            std::fs::read(dsb.out.join("report.jsonl")).unwrap(),
            "{extra:?}"
        );
    }
}

/// `flowsplit http DIR` over a folder written without `-e http` gives its
/// report the TLS lines a run with `-e http` writes; carving again
/// replaces them (the same report), and carving without a key log, which
/// tries no TLS connection, leaves none, as its index lists none.
#[test]
fn flowsplit_http_puts_the_tls_lines_in_the_folders_report() {
    let case = "tls13_resumed";
    let keys = tls(&format!("{case}.keys"));
    let carved = run(case);
    assert_eq!(assert_tls_lines_agree_with_the_index(&carved), 4);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("raw");
    assert!(common::split_into(&tls(&format!("{case}.pcap")), &out)
        .status
        .success());
    let report = out.join("report.jsonl");
    assert!(report_tls(&out).is_empty());
    let directions = std::fs::read_to_string(&report).unwrap();
    let http = |keys: Option<&Path>| {
        let mut args: Vec<&OsStr> = vec!["http".as_ref(), "-q".as_ref()];
        if let Some(k) = keys {
            args.extend(["--tls-keylog".as_ref(), k.as_os_str()]);
        }
        args.push(out.as_os_str());
        let o = common::flowsplit(&args);
        assert!(o.status.success(), "{o:?}");
    };
    http(Some(&keys));
    assert_eq!(report_tls(&out), report_tls(&carved.out));
    let once = std::fs::read_to_string(&report).unwrap();
    assert!(once.starts_with(&directions), "direction lines kept first");
    http(Some(&keys));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), once, "again");
    http(None);
    assert_eq!(std::fs::read_to_string(&report).unwrap(), directions);
    assert!(read_index(&out).iter().all(|x| x["tls"].is_null()));
}

/// With a template that puts flow files in a subfolder, a TLS line names
/// its flow file and its `-TLS` file relative to the output folder, as the
/// direction lines do, and `flowsplit http` over the output folder writes
/// the same lines.
#[test]
fn tls_lines_name_files_in_subfolders_relative_to_the_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (pcap, keys) = (tls("tls12_aes128gcm.pcap"), tls("tls12_aes128gcm.keys"));
    let args: Vec<&OsStr> = vec![
        "-q".as_ref(),
        "-r".as_ref(),
        pcap.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-e".as_ref(),
        "http".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        "-T".as_ref(),
        "x/%A.%a-%B.%b".as_ref(),
    ];
    let run = common::flowsplit(&args);
    assert!(run.status.success(), "{run:?}");
    assert!(out.join("x/http.jsonl").is_file());
    let lines = report_tls(&out);
    let names: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["file"].as_str().unwrap(),
                l["decrypted_file"].as_str().unwrap(),
            )
        })
        .collect();
    let server = "x/127.000.000.001.47683-127.000.000.001.48554";
    let client = "x/127.000.000.001.48554-127.000.000.001.47683";
    let tls_name = |f: &str| format!("{f}-TLS");
    assert_eq!(
        names,
        [
            (server, tls_name(server).as_str()),
            (client, tls_name(client).as_str())
        ]
    );
    for (_, plain) in &names {
        assert!(out.join(plain).is_file(), "{plain}");
    }
    let before = std::fs::read(out.join("report.jsonl")).unwrap();
    let again = common::flowsplit(&[
        "http".as_ref(),
        "-q".as_ref(),
        "--tls-keylog".as_ref(),
        keys.as_os_str(),
        out.as_os_str(),
    ]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(std::fs::read(out.join("report.jsonl")).unwrap(), before);
}
