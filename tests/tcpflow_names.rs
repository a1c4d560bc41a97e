//! `-F` letters and `-T` templates against tcpflow 1.6.1 itself: both run
//! on the same captures, and the relative paths of the flow files and their
//! bytes must be the same. Skipped, with a line saying so, when `tcpflow`
//! is not installed (`.ci/run` installs it).

mod common;

use common::{flowsplit, testdata};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Every file under `dir` by its path relative to `dir`, with its bytes;
/// the reports (tcpflow's `report.xml`, flowsplit's `report.jsonl` and its
/// summary) left out.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::tree_files(dir, common::REPORTS)
}

fn tcpflow_installed() -> bool {
    let found = Command::new("tcpflow").arg("-V").output().is_ok();
    if !found {
        eprintln!("SKIPPED: tcpflow is not installed; the comparison with tcpflow did not run");
    }
    found
}

/// Run tcpflow and flowsplit with `args` on `capture`, and compare.
fn same_as_tcpflow(capture: &str, args: &[&str]) {
    let input = testdata(capture);
    let tmp = tempfile::tempdir().unwrap();
    let (t, f) = (tmp.path().join("tcpflow"), tmp.path().join("flowsplit"));
    let out = Command::new("tcpflow")
        .args(args)
        .arg("-r")
        .arg(&input)
        .arg("-o")
        .arg(&t)
        .output()
        .expect("tcpflow runs");
    assert!(out.status.success(), "tcpflow {args:?} {capture}: {out:?}");
    let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    argv.extend([
        OsStr::new("-r"),
        input.as_os_str(),
        OsStr::new("-o"),
        f.as_os_str(),
    ]);
    let out = flowsplit(&argv);
    assert!(
        out.status.success(),
        "flowsplit {args:?} {capture}: {out:?}"
    );
    let (want, got) = (files(&t), files(&f));
    assert!(
        !want.is_empty(),
        "tcpflow {args:?} {capture} wrote no flow files"
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "paths, {args:?} on {capture}"
    );
    for (name, bytes) in &want {
        assert!(
            got[name] == *bytes,
            "bytes of {name}, {args:?} on {capture}"
        );
    }
}

/// Captures where tcpflow is right and names do not depend on how the
/// connection counter is counted (see flowsplit(1), DIFFERENCES FROM TCPFLOW).
const CAPTURES: &[&str] = &[
    "link_ethernet.pcap",
    "http/pipelining.pcap",
    "http/keepalive.pcap",
    "out_of_order.pcap",
];

#[test]
fn f_letters_name_files_as_tcpflow_does() {
    if !tcpflow_installed() {
        return;
    }
    let forms: &[&[&str]] = &[
        &["-Fc"],
        &["-F", "c"],
        &["-Ft"],
        &["-F", "t"],
        &["-FT"],
        &["-F", "T"],
        &["-Fk"],
        &["-F", "k"],
        &["-Fm"],
        &["-F", "m"],
        &["-Fg"],
        &["-F", "g"],
        &["-Ftk"],
        &["-F", "T", "-F", "m"],
        &["-T", "%A.%a-%B.%b", "-Fk"],
        &["-Fk", "-T", "%A.%a-%B.%b"],
    ];
    for capture in CAPTURES {
        for args in forms {
            same_as_tcpflow(capture, args);
        }
    }
}

/// A reused connection in the same second: the counter and binning agree.
#[test]
fn f_letters_on_a_reused_connection() {
    if !tcpflow_installed() {
        return;
    }
    for args in [&["-Fc"][..], &["-F", "k"], &["-Fm"], &["-Fg"], &["-Fck"]] {
        same_as_tcpflow("port_reuse.pcap", args);
    }
}

#[test]
fn t_codes_name_files_as_tcpflow_does() {
    if !tcpflow_installed() {
        return;
    }
    for template in [
        "%T_%A.%a-%B.%b",
        "%t_%A.%a-%B.%b",
        "%K/%M/%G/%A.%a-%B.%b%C%c",
    ] {
        for capture in CAPTURES {
            same_as_tcpflow(capture, &["-T", template]);
            same_as_tcpflow(capture, &[&format!("-T{template}")]);
        }
    }
}

/// An `-F` letter tcpflow does not have is refused in one line saying
/// why, exit 2, before anything is written (`-F X` and `-F M` are
/// tests/dfxml.rs's; `%E`, `%e` and `%S` tests/tcpflow_options.rs's).
#[test]
fn an_unknown_file_letter_is_refused() {
    let input = testdata("out_of_order.pcap");
    let cases: &[(&[&str], &str)] = &[(&["-F", "kQ"], "-F Q: unknown letter")];
    for (args, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let outdir = tmp.path().join("out");
        let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        argv.extend([
            OsStr::new("-r"),
            input.as_os_str(),
            OsStr::new("-o"),
            outdir.as_os_str(),
        ]);
        let out = flowsplit(&argv);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!outdir.exists(), "{args:?} wrote {outdir:?}");
    }
}
