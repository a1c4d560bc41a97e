//! Option by option against tcpflow 1.6.1: every option flowsplit shares
//! with tcpflow is run by both on the same captures (from `testdata/` and
//! `../shared/corpus/`), with its value separate and attached (`-b 100`,
//! `-b100`), and the relative paths of the files written (the folder
//! layout) and their bytes are compared, or standard output for the
//! console options, or the packets of `-w`.
//!
//! Where the two differ, the difference must be explained by an entry of
//! [`KNOWN`]: one of tcpflow's documented faults (the shared corpus's
//! README, "Where the references are wrong") or one of flowsplit's
//! documented differences (flowsplit(1), DIFFERENCES FROM TCPFLOW), each
//! with its reason. A difference no entry explains fails the test, and so
//! does an entry that explains nothing any more. The reports
//! (`report.xml`, `report.jsonl` and its summary, `http.jsonl`) are each tool's own and
//! are not compared.
//!
//! Options not compared here, and why: `-i`, `-p` (live capture:
//! `tests/live.rs`), `-h`, `-V` (each tool's own text), `-a`, `-E`, `-x`,
//! `-S`, `-X`, `-m` and `-F X`/`M` (refused or compared by the tests of
//! their own issues: `tests/cli.rs`). `-I` is also compared on captures
//! that exercise reassembly, and `-K` (whose files tcpflow writes in place
//! of the flow files) in a test of its own.
//!
//! Skipped, with a line saying so, when `tcpflow` is not installed
//! (`.ci/run` installs it).

mod common;

use common::testdata;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// How a case's outputs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The files under the output folder: relative paths and bytes.
    Files,
    /// Standard output (console options).
    Stdout,
}

/// Options that write files, each with its value separate and attached.
const FILE_CASES: &[&[&str]] = &[
    &[],
    &["-b", "100"],
    &["-b100"],
    &["-f", "3"],
    &["-f3"],
    &["-F", "k"],
    &["-Fc"],
    &["-T", "%E_%e_%A.%a-%B.%b%C%c"],
    &["-T%e/%E/%A.%a-%B.%b%C%c"],
    &["-T", "%S_%A.%a-%B.%b"],
    &["-s"],
    &["-q"],
    &["-v"],
    &["-d", "3"],
    &["-d3"],
    &["-B"],
    &["-J"],
    &["-g"],
    &["-0"],
    &["-I"],
    &["-I", "-b", "100"],
    &["-Ib5"],
    &["-e", "http"],
    &["-ehttp", "-Z"],
    &["-U", "root"],
    &["-Uroot"],
];

/// Console options: standard output compared.
const CONSOLE_CASES: &[&[&str]] = &[
    &["-c"],
    &["-C"],
    &["-c", "-B"],
    &["-c", "-s"],
    &["-c", "-b", "10"],
    &["-cb10"],
    &["-c", "-J"],
    &["-CJ"],
    &["-c", "-g"],
    &["-c", "-0"],
    &["-Cg0"],
    &["-c", "-D"],
];

/// Captures in `testdata/`.
const TESTDATA: &[&str] = &[
    "link_ethernet.pcap",
    "out_of_order.pcap",
    "port_reuse.pcap",
    "vlan.pcap",
    "http/keepalive.pcap",
];

/// Captures in `../shared/corpus/` (small ones, so the test stays quick).
const CORPUS: &[&str] = &[
    "tcpflow/tests/test1.pcap",
    "tcpflow/tests/test2.pcap",
    "zeek/testing/btest/Traces/http/get.pcap",
    "zeek/testing/btest/Traces/http-vlan-0.pcap",
    "arkime/tests/pcap/http-simple-get.pcap",
    "chrissanders-packets/http_ip4and6.pcapng",
    "dpkt/examples/data/http.pcap",
];

/// A difference explained: on `capture` (its file name), in `mode`, for
/// cases whose arguments (joined by spaces) contain `args` ("" for every
/// case), because of `reason`.
struct Known {
    capture: &'static str,
    mode: Mode,
    args: &'static str,
    reason: &'static str,
}

const VLAN: &str = "tcpflow fault: its %v is the whole 16-bit VLAN tag field, priority bits included \
(24676 for VLAN 100 with priority 3, 45056 for VLAN 0 with priority 5), and it does not tell apart \
connections on the same addresses and ports in two VLANs (vlan.pcap: its console -b counts both as one); \
flowsplit writes the 12-bit VLAN id and keeps them apart (flowsplit(1), DIFFERENCES FROM TCPFLOW)";
const SESSION: &str = "documented difference: %S is flowsplit's connection id (the number of the \
connection's first packet), tcpflow numbers its sessions from 0 in its own order (flowsplit(1), FILE NAMING)";
const REASSEMBLED: &str = "documented difference: the console prints each direction reassembled, in \
stream order, one run per reassembly step; tcpflow prints packets as they arrive (out of order, \
retransmitted, or a reused connection's packets before the old one closed) (flowsplit(1), DIFFERENCES FROM TCPFLOW)";
const TAB: &str =
    "documented difference: the console shows a tab as it is; tcpflow shows it as '.' \
(flowsplit(1), CONSOLE OUTPUT)";
const HEX: &str =
    "documented difference: flowsplit's hex dump format is its own (flowsplit(1), CONSOLE OUTPUT)";
const JSON_IPV6: &str =
    "tcpflow fault: -J writes IPv6 addresses mangled (\"src_host\":\"2001.40000.\", \
\"src_port\":1); flowsplit writes their standard text form";

const KNOWN: &[Known] = &[
    Known {
        capture: "vlan.pcap",
        mode: Mode::Files,
        args: "",
        reason: VLAN,
    },
    Known {
        capture: "http-vlan-0.pcap",
        mode: Mode::Files,
        args: "",
        reason: VLAN,
    },
    Known {
        capture: "vlan.pcap",
        mode: Mode::Stdout,
        args: "",
        reason: VLAN,
    },
    Known {
        capture: "http-vlan-0.pcap",
        mode: Mode::Stdout,
        args: "",
        reason: VLAN,
    },
    Known {
        capture: "",
        mode: Mode::Files,
        args: "%S",
        reason: SESSION,
    },
    Known {
        capture: "out_of_order.pcap",
        mode: Mode::Stdout,
        args: "",
        reason: REASSEMBLED,
    },
    Known {
        capture: "port_reuse.pcap",
        mode: Mode::Stdout,
        args: "-c",
        reason: REASSEMBLED,
    },
    Known {
        capture: "test1.pcap",
        mode: Mode::Stdout,
        args: "",
        reason: REASSEMBLED,
    },
    Known {
        capture: "http.pcap",
        mode: Mode::Stdout,
        args: "",
        reason: REASSEMBLED,
    },
    Known {
        capture: "http-simple-get.pcap",
        mode: Mode::Stdout,
        args: "",
        reason: TAB,
    },
    Known {
        capture: "",
        mode: Mode::Stdout,
        args: "-D",
        reason: HEX,
    },
    Known {
        capture: "link_ethernet.pcap",
        mode: Mode::Stdout,
        args: "J",
        reason: JSON_IPV6,
    },
    Known {
        capture: "http_ip4and6.pcapng",
        mode: Mode::Stdout,
        args: "J",
        reason: JSON_IPV6,
    },
];

fn tcpflow_installed() -> bool {
    let found = Command::new("tcpflow").arg("-V").output().is_ok();
    if !found {
        eprintln!("SKIPPED: tcpflow is not installed; the comparison with tcpflow did not run");
    }
    found
}

fn corpus(path: &str) -> PathBuf {
    common::corpus_dir().join(path)
}

/// Every file under `dir` by its path relative to `dir`, with its bytes;
/// the reports (`report.xml`, `report.jsonl` and its summary, `http.jsonl`)
/// left out.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = common::tree_files(dir, common::REPORTS);
    out.remove("http.jsonl");
    out
}

/// Run `program` with `args`, then `-r INPUT` and, in [`Mode::Files`],
/// `-o DIR` (attached as `-rINPUT -oDIR` when `attached`).
fn run(
    program: &Path,
    args: &[&str],
    input: &Path,
    outdir: &Path,
    mode: Mode,
    attached: bool,
) -> Output {
    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    let pair = |flag: &str, value: &Path| -> Vec<OsString> {
        if attached {
            let mut joined = OsString::from(flag);
            joined.push(value);
            vec![joined]
        } else {
            vec![flag.into(), value.into()]
        }
    };
    argv.extend(pair("-r", input));
    if mode == Mode::Files {
        argv.extend(pair("-o", outdir));
    }
    Command::new(program)
        .args(&argv)
        .current_dir(outdir.parent().unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()))
}

fn flowsplit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flowsplit"))
}

/// What differs between tcpflow's and flowsplit's outputs for one case,
/// or `None` when they are the same.
fn compare(capture: &Path, args: &[&str], mode: Mode, attached: bool) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    let (t, f) = (tmp.path().join("tcpflow"), tmp.path().join("flowsplit"));
    if mode == Mode::Stdout {
        std::fs::create_dir_all(&t).unwrap();
        std::fs::create_dir_all(&f).unwrap();
    }
    let tout = run(Path::new("tcpflow"), args, capture, &t, mode, attached);
    let fout = run(&flowsplit_bin(), args, capture, &f, mode, attached);
    assert!(
        fout.status.success(),
        "flowsplit {args:?} on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&fout.stderr)
    );
    if !tout.status.success() {
        return Some(format!(
            "tcpflow failed: {}",
            String::from_utf8_lossy(&tout.stderr).trim()
        ));
    }
    match mode {
        Mode::Stdout => (tout.stdout != fout.stdout).then(|| {
            format!(
                "standard output: tcpflow {} bytes, flowsplit {} bytes",
                tout.stdout.len(),
                fout.stdout.len()
            )
        }),
        Mode::Files => {
            let (want, got) = (files(&t), files(&f));
            assert!(
                !got.is_empty(),
                "flowsplit {args:?} on {} wrote no files",
                capture.display()
            );
            if want.keys().ne(got.keys()) {
                let only_t: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
                let only_f: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
                return Some(format!(
                    "paths: only tcpflow's {only_t:?}, only flowsplit's {only_f:?}"
                ));
            }
            let differ: Vec<_> = want
                .iter()
                .filter(|(name, bytes)| got[*name] != **bytes)
                .map(|(name, _)| name)
                .collect();
            (!differ.is_empty()).then(|| format!("bytes of {differ:?}"))
        }
    }
}

/// Compare every case on every capture; fail on a difference [`KNOWN`]
/// does not explain, and on an entry of it that explains nothing.
#[test]
fn options_do_what_tcpflows_do() {
    if !tcpflow_installed() {
        return;
    }
    let mut captures: Vec<PathBuf> = TESTDATA.iter().map(|c| testdata(c)).collect();
    captures.extend(CORPUS.iter().map(|c| corpus(c)));
    // -U switches user, which only root may do.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let cases = FILE_CASES
        .iter()
        .filter(|a| root || !a.iter().any(|w| w.starts_with("-U")))
        .map(|a| (*a, Mode::Files))
        .chain(CONSOLE_CASES.iter().map(|a| (*a, Mode::Stdout)));
    let mut work = Vec::new();
    for (args, mode) in cases {
        for (i, capture) in captures.iter().enumerate() {
            // The attached -r and -o forms on every other run.
            work.push((args, mode, capture, i % 2 == 1));
        }
    }
    let compared = work.len();
    // Two threads (the machine this runs on has two cores).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let diffs = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(args, mode, capture, attached)) = work.get(i) else {
                    break;
                };
                if let Some(diff) = compare(capture, args, mode, attached) {
                    diffs.lock().unwrap().push((i, diff));
                }
            });
        }
    });
    let mut diffs = diffs.into_inner().unwrap();
    diffs.sort();
    let mut unexplained = Vec::new();
    let mut used = BTreeSet::new();
    let explained = diffs.len();
    for (i, diff) in diffs {
        let (args, mode, capture, _) = work[i];
        let name = capture.file_name().unwrap().to_string_lossy().into_owned();
        let joined = args.join(" ");
        let known = KNOWN.iter().position(|k| {
            k.mode == mode && (k.capture.is_empty() || k.capture == name) && joined.contains(k.args)
        });
        match known {
            Some(k) => {
                used.insert(k);
            }
            None => unexplained.push(format!("{name} {args:?} ({mode:?}): {diff}")),
        }
    }
    eprintln!("{compared} comparisons; {explained} differ, each for a reason of KNOWN");
    assert!(
        unexplained.is_empty(),
        "differences from tcpflow 1.6.1 that no entry of KNOWN explains:\n{}",
        unexplained.join("\n")
    );
    let stale: Vec<_> = KNOWN
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, k)| format!("{} {:?} {:?}: {}", k.capture, k.mode, k.args, k.reason))
        .collect();
    assert!(
        stale.is_empty(),
        "entries of KNOWN that explain no difference any more:\n{}",
        stale.join("\n")
    );
}

/// The packet records of a pcap file (everything after its 24-byte file
/// header) and its link type.
fn pcap_records(path: &Path) -> (u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() >= 24, "{}: no pcap header", path.display());
    let link = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
    (link, bytes[24..].to_vec())
}

/// `-w FILE`: the packets that were not processed, as tcpflow writes them.
/// The file headers differ in the snap length only (libpcap's savefile of
/// a dead handle says 65535, tcpflow's 262144), so the link type and the
/// packet records are compared.
#[test]
fn w_writes_the_packets_tcpflow_writes() {
    if !tcpflow_installed() {
        return;
    }
    // (capture, equal, reason when not)
    let cases: &[(PathBuf, bool, &str)] = &[
        (testdata("non_tcp.pcap"), true, ""),
        (testdata("out_of_order.pcap"), true, ""),
        (testdata("link_sll.pcap"), true, ""),
        (corpus("dpkt/examples/data/http.pcap"), true, ""),
        (
            testdata("tunnel_gre.pcap"),
            false,
            "tcpflow fault: it does not decapsulate tunnels, so it writes the GRE packets flowsplit reassembles",
        ),
        (
            testdata("ipv4_fragments.pcap"),
            false,
            "tcpflow fault: it does not reassemble IPv4 fragments, so it writes the later fragments of a datagram flowsplit reassembles",
        ),
    ];
    for (i, (capture, equal, reason)) in cases.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let (tw, fw) = (tmp.path().join("t.pcap"), tmp.path().join("f.pcap"));
        let (to, fo) = (tmp.path().join("t"), tmp.path().join("f"));
        let attached = i % 2 == 1;
        let w = |p: &Path| -> Vec<String> {
            let p = p.to_str().unwrap().to_string();
            if attached {
                vec![format!("-w{p}")]
            } else {
                vec!["-w".into(), p]
            }
        };
        let (tw_args, fw_args) = (w(&tw), w(&fw));
        let targs: Vec<&str> = tw_args.iter().map(String::as_str).collect();
        let fargs: Vec<&str> = fw_args.iter().map(String::as_str).collect();
        let t = run(
            Path::new("tcpflow"),
            &targs,
            capture,
            &to,
            Mode::Files,
            false,
        );
        assert!(
            t.status.success(),
            "tcpflow -w on {}: {t:?}",
            capture.display()
        );
        let f = run(&flowsplit_bin(), &fargs, capture, &fo, Mode::Files, false);
        assert!(
            f.status.success(),
            "flowsplit -w on {}: {f:?}",
            capture.display()
        );
        let (want, got) = (pcap_records(&tw), pcap_records(&fw));
        assert_eq!(want.0, got.0, "link type of -w on {}", capture.display());
        assert_eq!(
            want.1 == got.1,
            *equal,
            "packets of -w on {} ({reason})",
            capture.display()
        );
    }
}

/// `-R FILE` reads a capture only to finish the connections already open,
/// after the `-r` inputs whatever the order on the command line; `-l`
/// takes the words after the options as input files.
#[test]
fn r_and_l_read_rotated_files_as_tcpflow_does() {
    if !tcpflow_installed() {
        return;
    }
    let (r1, r2) = (testdata("rotated_1.pcap"), testdata("rotated_2.pcap"));
    let (r1, r2) = (r1.to_str().unwrap(), r2.to_str().unwrap());
    let attached_r = format!("-R{r2}");
    let forms: &[&[&str]] = &[
        &["-r", r1, "-R", r2],
        &["-R", r2, "-r", r1],
        &["-r", r1, &attached_r],
        &["-l", r1, r2],
        &["-b", "5", "-l", r1, r2],
    ];
    for args in forms {
        let tmp = tempfile::tempdir().unwrap();
        let (t, f) = (tmp.path().join("t"), tmp.path().join("f"));
        let with_o = |dir: &Path| -> Vec<String> {
            let mut v = vec!["-o".to_string(), dir.to_str().unwrap().to_string()];
            v.extend(args.iter().map(|a| a.to_string()));
            v
        };
        let tout = Command::new("tcpflow").args(with_o(&t)).output().unwrap();
        assert!(tout.status.success(), "tcpflow {args:?}: {tout:?}");
        let fout = Command::new(flowsplit_bin())
            .args(with_o(&f))
            .output()
            .unwrap();
        assert!(fout.status.success(), "flowsplit {args:?}: {fout:?}");
        let (want, got) = (files(&t), files(&f));
        assert!(!want.is_empty(), "tcpflow {args:?} wrote nothing");
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "paths, {args:?}"
        );
        assert!(got == want, "bytes, {args:?}");
    }
    // -R alone: no connection is open, nothing is written.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("f");
    let f = Command::new(flowsplit_bin())
        .args(["-o", out.to_str().unwrap(), "-R", r2])
        .output()
        .unwrap();
    assert!(f.status.success(), "{f:?}");
    assert!(files(&out).is_empty());
}

/// `-z DIR` (chroot) after `-U`, as tcpflow requires: the same files,
/// written inside DIR. Without `-U` it is refused with tcpflow's reason.
#[test]
fn z_chroots_after_u_as_tcpflow_does() {
    let tmp = tempfile::tempdir().unwrap();
    let refused = Command::new(flowsplit_bin())
        .args([
            "-z",
            tmp.path().to_str().unwrap(),
            "-r",
            "x.pcap",
            "-o",
            "out",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "flowsplit: -z (chroot) requires -U, as in tcpflow (\"-z option requires -U option\")\n"
    );
    assert!(!tmp.path().join("out").exists());
    // SAFETY: geteuid has no preconditions.
    if !tcpflow_installed() || unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: -z needs root (chroot); the comparison did not run");
        return;
    }
    // The capture lies inside the new root, at the same relative path as
    // outside it, so it is found whether it is opened before the chroot
    // (tcpflow) or after (flowsplit).
    let root = tmp.path();
    std::fs::copy(testdata("out_of_order.pcap"), root.join("in.pcap")).unwrap();
    for (program, out) in [(PathBuf::from("tcpflow"), "t"), (flowsplit_bin(), "f")] {
        let o = Command::new(&program)
            .args(["-U", "root", "-z", root.to_str().unwrap()])
            .args(["-r", "in.pcap", "-o", out])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}: {o:?}", program.display());
    }
    let (want, got) = (files(&root.join("t")), files(&root.join("f")));
    assert!(!want.is_empty());
    assert!(
        got == want,
        "-z: {:?} against {:?}",
        got.keys(),
        want.keys()
    );
}

/// `-L SEMLOCK` prints the console output unchanged, each run holding the
/// named semaphore. tcpflow 1.6.1 as Debian builds it cannot: it stops
/// with "attempt to create lock pthreads not present" (a tcpflow fault),
/// so flowsplit's output is compared with tcpflow's without `-L`.
#[test]
fn l_semlock_prints_what_tcpflow_prints_without_it() {
    if !tcpflow_installed() {
        return;
    }
    let name = format!("flowsplit-test-{}", std::process::id());
    let capture = testdata("link_ethernet.pcap");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    std::fs::create_dir(&dir).unwrap();
    let t = run(
        Path::new("tcpflow"),
        &["-c"],
        &capture,
        &dir,
        Mode::Stdout,
        false,
    );
    let broken = run(
        Path::new("tcpflow"),
        &["-c", "-L", &name],
        &capture,
        &dir,
        Mode::Stdout,
        false,
    );
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("pthreads not present"),
        "tcpflow -L works now: compare with it ({broken:?})"
    );
    for args in [vec!["-c", "-L", &name], vec!["-c", &format!("-L{name}")]] {
        let f = run(&flowsplit_bin(), &args, &capture, &dir, Mode::Stdout, false);
        assert!(f.status.success(), "{f:?}");
        assert_eq!(f.stdout, t.stdout, "{args:?}");
    }
    let _ = std::fs::remove_file(format!("/dev/shm/sem.{name}"));
}

/// `-H` describes the scanners and exits 0 without reading anything; an
/// unknown option is one line naming it, exit 2, before any file is written.
#[test]
fn h_describes_scanners_and_unknown_options_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let h = Command::new(flowsplit_bin()).arg("-H").output().unwrap();
    assert_eq!(h.status.code(), Some(0));
    let text = String::from_utf8_lossy(&h.stdout);
    assert!(text.contains("Scanner Name: http\n"), "{text}");
    assert!(text.contains("Scanner Name: tcpdemux\n"), "{text}");
    for (args, name) in [
        (vec!["-Q"], "-Q"),
        (vec!["-b100", "-Y5"], "-Y"),
        (vec!["--frobnicate", "-b", "1"], "--frobnicate"),
    ] {
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        argv.extend(["-r".into(), testdata("out_of_order.pcap").into()]);
        argv.extend(["-o".into(), out.clone().into()]);
        let o = Command::new(flowsplit_bin()).args(&argv).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("flowsplit: unknown option {name} (flowsplit -h lists the options)\n"),
            "{args:?}"
        );
        assert!(!out.exists(), "{args:?} wrote {out:?}");
    }
}

/// `-I`: the `.findx` index of every flow file, on captures that exercise
/// reassembly (retransmissions, overlaps, gaps, out of order, keepalive
/// probes, a SYN carrying data, a mid-stream start, sequence wraparound).
/// The flow files are compared too; where flowsplit's differ by its
/// documented overlap policy or tcpflow's index is wrong, only the other
/// files are compared, for the reason given.
#[test]
fn i_indexes_segments_as_tcpflow_does() {
    if !tcpflow_installed() {
        return;
    }
    // (capture, files left out of the comparison, reason)
    let cases: &[(&str, &[&str], &str)] = &[
        ("retransmission.pcap", &[], ""),
        ("gap.pcap", &[], ""),
        ("out_of_order.pcap", &[], ""),
        ("keepalive.pcap", &[], ""),
        ("syn_data.pcap", &[], ""),
        ("midstream.pcap", &[], ""),
        ("wraparound.pcap", &[], ""),
        ("port_reuse.pcap", &[], ""),
        (
            "midstream_late.pcap",
            &["010.000.000.001.40000-010.000.000.002.00080.findx"],
            "tcpflow fault: when bytes from before the first segment seen arrive, it moves the file's bytes but not its index (it says 0 for the segment it then writes at 10)",
        ),
        (
            "overlap_pending.pcap",
            &["010.000.000.001.40000-010.000.000.002.00080"],
            "documented difference: where retransmitted bytes conflict, flowsplit keeps the first copy, tcpflow the last (flowsplit(1), REASSEMBLY POLICY); the indexes agree",
        ),
    ];
    for (i, (capture, left_out, reason)) in cases.iter().enumerate() {
        let input = testdata(capture);
        let tmp = tempfile::tempdir().unwrap();
        let (t, f) = (tmp.path().join("t"), tmp.path().join("f"));
        let args: &[&str] = if i % 2 == 0 {
            &["-I"]
        } else {
            &["-I", "-b", "12"]
        };
        let tout = run(
            Path::new("tcpflow"),
            args,
            &input,
            &t,
            Mode::Files,
            i % 3 == 0,
        );
        assert!(
            tout.status.success(),
            "tcpflow {args:?} {capture}: {tout:?}"
        );
        let fout = run(&flowsplit_bin(), args, &input, &f, Mode::Files, i % 3 == 0);
        assert!(
            fout.status.success(),
            "flowsplit {args:?} {capture}: {fout:?}"
        );
        let (mut want, mut got) = (files(&t), files(&f));
        assert!(
            want.keys().any(|k| k.ends_with(".findx")),
            "tcpflow {args:?} {capture} wrote no index"
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "paths, {args:?} on {capture}"
        );
        for name in *left_out {
            let (w, g) = (want.remove(*name), got.remove(*name));
            assert!(
                w.is_some() && w != g,
                "{capture}: {name} is the same now ({reason})"
            );
        }
        for (name, bytes) in &want {
            assert!(
                got[name] == *bytes,
                "{name}, {args:?} on {capture}: {:?} against tcpflow's {:?}",
                String::from_utf8_lossy(&got[name]),
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

/// `-K`: each direction's packets as a pcap file, `NAME.pcap` beside the
/// flow file. tcpflow 1.6.1 writes them in place of the flow files, and
/// with link type 6 (IEEE 802) on Ethernet captures (both tcpflow faults),
/// so the packet records (everything after the 24-byte file
/// header) are compared, and the link type is checked to be the capture's.
/// Every file is the same for `-j 1` and `-j 2`, with `-I` too.
#[test]
fn k_writes_each_directions_packets_as_tcpflow_does() {
    if !tcpflow_installed() {
        return;
    }
    // (capture, its link type, pcaps tcpflow writes differently, reason)
    let cases: &[(PathBuf, u32, &[&str], &str)] = &[
        (testdata("out_of_order.pcap"), 1, &[], ""),
        (testdata("no_payload.pcap"), 1, &[], ""),
        (testdata("link_sll.pcap"), 113, &[], ""),
        (testdata("retransmission.pcap"), 1, &[], ""),
        (corpus("dpkt/examples/data/http.pcap"), 1, &[], ""),
        (
            testdata("port_reuse.pcap"),
            1,
            &[
                "010.000.000.001.40000-010.000.000.002.00080.pcap",
                "010.000.000.002.00080-010.000.000.001.40000.pcap",
            ],
            "tcpflow fault: with -K it names no counter, so a reused connection's packets go into the first connection's file; flowsplit writes them beside its c1 flow files",
        ),
        (
            corpus("tcpflow/tests/test1.pcap"),
            1,
            &["192.168.001.102.50712-017.250.248.105.00080.pcap"],
            "documented difference: a lone FIN without payload or handshake opens no connection in flowsplit, so it is in no file (flowsplit(1), -K); tcpflow writes it",
        ),
        (
            testdata("ipv4_fragments.pcap"),
            1,
            &["010.000.000.001.40000-010.000.000.002.00080.pcap"],
            "tcpflow fault: it does not reassemble IPv4 fragments; flowsplit writes a reassembled datagram's last fragment",
        ),
    ];
    for (capture, link, differ, reason) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        let tout = run(
            Path::new("tcpflow"),
            &["-K"],
            capture,
            &t,
            Mode::Files,
            false,
        );
        assert!(
            tout.status.success(),
            "tcpflow -K {}: {tout:?}",
            capture.display()
        );
        let mut outputs = Vec::new();
        for (j, args) in [["-K", "-j1"], ["-Kj", "2"]].iter().enumerate() {
            let f = tmp.path().join(format!("f{j}"));
            let fout = run(
                &flowsplit_bin(),
                &args[..],
                capture,
                &f,
                Mode::Files,
                j == 1,
            );
            assert!(
                fout.status.success(),
                "flowsplit -K {}: {fout:?}",
                capture.display()
            );
            outputs.push(files(&f));
        }
        let mut idx = Vec::new();
        for j in ["-j1", "-j2"] {
            let f = tmp.path().join(format!("i{j}"));
            let fout = run(
                &flowsplit_bin(),
                &["-K", "-I", j],
                capture,
                &f,
                Mode::Files,
                false,
            );
            assert!(fout.status.success(), "{fout:?}");
            idx.push(files(&f));
        }
        assert!(
            outputs[0] == outputs[1],
            "-K -j 1 and -j 2 differ on {}",
            capture.display()
        );
        assert!(
            idx[0] == idx[1],
            "-K -I -j 1 and -j 2 differ on {}",
            capture.display()
        );
        let want = files(&t);
        let got = &outputs[0];
        assert!(
            !want.is_empty(),
            "tcpflow -K {} wrote nothing",
            capture.display()
        );
        for (name, bytes) in &want {
            assert!(name.ends_with(".pcap"), "tcpflow -K wrote {name}");
            let tlink = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
            // On Ethernet captures tcpflow says IEEE 802 (6).
            assert!(
                tlink == *link || (*link == 1 && tlink == 6),
                "tcpflow -K's link type {tlink} on {}",
                capture.display()
            );
            let same = got
                .get(name)
                .is_some_and(|g| g[24..] == bytes[24..] && g[20..24] == link.to_le_bytes());
            assert_eq!(
                same,
                !differ.contains(&name.as_str()),
                "{name} on {} ({reason})",
                capture.display()
            );
        }
        // Each flow file has its pcap beside it.
        for name in got.keys().filter(|n| !n.ends_with(".pcap")) {
            assert!(
                got.contains_key(&format!("{name}.pcap")),
                "{name} has no pcap"
            );
        }
    }
}
