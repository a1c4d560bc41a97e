//! The `flowsplit` binary: exit codes, one-line errors on stderr for bad
//! input, report placement flags, standard input, folders as input, BPF
//! filters and never overwriting existing files.

mod common;

use common::{cs, flowsplit, sc, stderr_lines, testdata, CS, SC};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Run the binary with `-r` for each input and `-o outdir`, plus `extra` args.
fn run_bin(inputs: &[&Path], outdir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&OsStr> = Vec::new();
    for i in inputs {
        args.push(os("-r"));
        args.push(i.as_os_str());
    }
    args.push(os("-o"));
    args.push(outdir.as_os_str());
    args.extend(extra.iter().map(|s| os(s)));
    flowsplit(&args)
}

fn outcome(
    dir: tempfile::TempDir,
    out: &std::process::Output,
    report: Option<&Path>,
) -> common::Outcome {
    let (files, report) = common::collect(&dir.path().join("out"), report);
    common::Outcome {
        dir,
        files,
        report,
        result: Ok(stderr_lines(out)),
    }
}

#[test]
fn a_good_run_exits_zero_and_writes_the_report_in_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out").join("nested"); // created with parents
    let out = run_bin(&[&testdata("out_of_order.pcap")], &outdir, &["-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stderr_lines(&out).is_empty(),
        "-q prints nothing: {:?}",
        stderr_lines(&out)
    );
    let report = outdir.join("report.jsonl");
    assert!(report.is_file());
    let (files, lines) = common::collect(&outdir, Some(&report));
    assert_eq!(files[CS], b"ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    assert_eq!(files[SC], b"helloworld");
    assert_eq!(lines.len(), 2);
}

#[test]
fn report_flag_moves_the_report() {
    // tcpflow's -X (DFXML) is refused: see tcpflow_options_flowsplit_lacks_are_refused.
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let report = dir.path().join("elsewhere.jsonl");
    let out = run_bin(
        &[&testdata("out_of_order.pcap")],
        &outdir,
        &["-q", "--report", report.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(!outdir.join("report.jsonl").exists());
    let o = outcome(dir, &out, Some(&report));
    o.assert_flows(&[(CS, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (SC, b"helloworld")]);
}

#[test]
fn no_report_flag_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = run_bin(
        &[&testdata("out_of_order.pcap")],
        &outdir,
        &["-q", "--no-report"],
    );
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<String> = std::fs::read_dir(&outdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, [CS, SC]);
}

/// Exactly one line on stderr, the error that stopped the run before it
/// wrote anything, mentioning each of `needles`; exit code 1.
fn assert_only_line(out: &std::process::Output, needles: &[&str]) {
    let lines = stderr_lines(out);
    assert_eq!(lines.len(), 1, "one line on stderr, got {lines:?}");
    for n in needles {
        assert!(
            lines[0].contains(n),
            "{:?} does not mention {n:?}",
            lines[0]
        );
    }
    assert_eq!(out.status.code(), Some(1), "exit code; stderr {lines:?}");
}

/// Exactly one error line on stderr, mentioning each of `needles`, then
/// the run's last line: its closing line, or, when no input could be read,
/// the line that says nothing was written (issue 27); exit code 1.
fn assert_one_error(out: &std::process::Output, needles: &[&str]) {
    let lines = stderr_lines(out);
    assert_eq!(
        lines.len(),
        2,
        "an error and a last line on stderr, got {lines:?}"
    );
    assert!(
        lines[1] == "flowsplit: no input could be read; nothing was written"
            || (lines[1].contains(" input") && lines[1].contains(", 1 error; report in ")),
        "not a last line: {lines:?}"
    );
    for n in needles {
        assert!(
            lines[0].contains(n),
            "{:?} does not mention {n:?}",
            lines[0]
        );
    }
    assert_eq!(out.status.code(), Some(1), "exit code; stderr {lines:?}");
}

#[test]
fn missing_input_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-capture.pcap");
    let out = run_bin(&[&missing], &dir.path().join("out"), &[]);
    assert_one_error(&out, &["no-such-capture.pcap"]);
}

#[test]
fn a_file_that_is_not_a_capture_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "these are not packets\n".repeat(10)).unwrap();
    let out = run_bin(&[&text], &dir.path().join("out"), &[]);
    assert_one_error(&out, &["notes.txt"]);
}

#[test]
fn truncated_capture_fails_but_writes_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = run_bin(&[&testdata("truncated.pcap")], &outdir, &[]);
    assert_one_error(&out, &["truncated.pcap"]);
    let o = outcome(dir, &out, Some(&outdir.join("report.jsonl")));
    o.assert_flows(&[
        (&cs(40001), b"complete request"),
        (&sc(40001), b"complete response"),
        (&cs(40002), b"partial request"),
    ]);
    assert_eq!(o.report.len(), 3);
}

#[test]
fn unwritable_output_folder_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    // A folder under a regular file cannot be made, even by root.
    let blocker = dir.path().join("plain-file");
    std::fs::write(&blocker, b"x").unwrap();
    let outdir = blocker.join("out");
    let out = run_bin(&[&testdata("out_of_order.pcap")], &outdir, &[]);
    assert_only_line(&out, &["plain-file/out: cannot create the output folder"]);
}

#[test]
fn unknown_link_type_names_file_and_type_and_other_inputs_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = run_bin(
        &[
            &testdata("unknown_link.pcap"),
            &testdata("out_of_order.pcap"),
        ],
        &outdir,
        &[],
    );
    assert_one_error(&out, &["unknown_link.pcap", "147"]);
    let o = outcome(dir, &out, Some(&outdir.join("report.jsonl")));
    o.assert_flows(&[(CS, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (SC, b"helloworld")]);
}

#[test]
fn standard_input_is_read_with_dash() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args([os("-q"), os("-r"), os("-"), os("-o"), outdir.as_os_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(testdata("out_of_order.pcap")).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = outcome(dir, &out, Some(&outdir.join("report.jsonl")));
    o.assert_flows(&[(CS, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (SC, b"helloworld")]);
}

#[test]
fn a_folder_is_read_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("captures");
    std::fs::create_dir(&input).unwrap();
    // Written second-first: name order, not creation order, must count.
    for n in ["rotated_2.pcap", "rotated_1.pcap"] {
        std::fs::copy(testdata(n), input.join(n)).unwrap();
    }
    let outdir = dir.path().join("out");
    let out = run_bin(&[&input], &outdir, &["-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = outcome(dir, &out, Some(&outdir.join("report.jsonl")));
    o.assert_flows(&[
        (CS, b"part one|part two"),
        (SC, b"ack one|ack two"),
        (&cs(40002), b"new in file 2"),
        (&sc(40002), b"new reply"),
    ]);
}

#[test]
fn trailing_arguments_are_a_bpf_filter() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = run_bin(
        &[&testdata("fin_rst.pcap")],
        &outdir,
        &["-q", "port", "40002"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = outcome(dir, &out, Some(&outdir.join("report.jsonl")));
    o.assert_flows(&[(&cs(40002), b"request"), (&sc(40002), b"partial resp")]);
}

#[test]
fn a_bad_filter_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(
        &[&testdata("fin_rst.pcap")],
        &dir.path().join("out"),
        &["port", "banana"],
    );
    assert_eq!(stderr_lines(&out).len(), 1, "{:?}", stderr_lines(&out));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn existing_files_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    for _ in 0..2 {
        let out = run_bin(
            &[&testdata("out_of_order.pcap")],
            &outdir,
            &["-q", "--no-report"],
        );
        assert_eq!(out.status.code(), Some(0));
    }
    let (files, _) = common::collect(&outdir, None);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    let (cs1, sc1) = (format!("{CS}c1"), format!("{SC}c1"));
    assert_eq!(names, [CS, cs1.as_str(), SC, sc1.as_str()]);
    assert_eq!(files[CS], files[&cs1]);
    assert_eq!(files[SC], files[&sc1]);
}

#[test]
fn template_flag_names_files() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = run_bin(
        &[&testdata("vlan.pcap")],
        &outdir,
        &["-q", "--no-report", "-T", "%a-%b%V%v"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (files, _) = common::collect(&outdir, None);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "00080-40000--100",
            "00080-40000--101",
            "40000-00080--100",
            "40000-00080--101"
        ]
    );
    assert_eq!(files["40000-00080--101"], b"on vlan 101");
}

#[test]
fn one_open_file_gives_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let input = testdata("pcapng_mixed.pcapng");
    assert_eq!(
        run_bin(&[&input], &a, &["-q", "--no-report"]).status.code(),
        Some(0)
    );
    assert_eq!(
        run_bin(&[&input], &b, &["-q", "--no-report", "-f", "1"])
            .status
            .code(),
        Some(0)
    );
    let (fa, _) = common::collect(&a, None);
    let (fb, _) = common::collect(&b, None);
    assert_eq!(fa.len(), 6);
    assert_eq!(fa, fb);
}

#[test]
fn zero_open_files_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(
        &[&testdata("out_of_order.pcap")],
        &dir.path().join("out"),
        &["-f", "0"],
    );
    assert_eq!(out.status.code(), Some(2));
}

/// The records of the HTTP index (`http.jsonl`) in `outdir`.
fn http_index(outdir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(outdir.join("http.jsonl")).expect("an http.jsonl index");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("index line {l:?}: {e}")))
        .collect()
}

/// `-e http` takes the carving limits of `flowsplit http`.
#[test]
fn max_decoded_and_max_ratio_take_effect_with_e_http() {
    let capture = |name: &str| testdata(&format!("http/{name}.pcap"));

    // A gzip body of 80 lines of 15 bytes, cut to its first 100 decoded bytes.
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let args = ["-q", "-e", "http", "--max-decoded", "100"];
    let out = run_bin(&[&capture("gzip")], &outdir, &args);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let index = http_index(&outdir);
    assert_eq!(index.len(), 1, "{index:?}");
    let b = &index[0]["response_body"];
    assert_eq!(b["decoded"], true, "{b}");
    assert_eq!(b["decoded_length"], 100, "{b}");
    assert_eq!(b["complete"], false, "{b}");
    let body = std::fs::read(outdir.join(b["file"].as_str().unwrap())).unwrap();
    assert_eq!(body.len(), 100);
    assert!(
        body.starts_with(b"gzip line 0000\ngzip line 0001\n"),
        "{body:?}"
    );

    // A gzip bomb cut at 20 decoded bytes per encoded byte instead of 1000.
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let args = ["-q", "-e", "http", "--max-ratio", "20"];
    let out = run_bin(&[&capture("gzip_bomb")], &outdir, &args);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let index = http_index(&outdir);
    let b = &index[0]["response_body"];
    let encoded = b["encoded_length"].as_u64().unwrap();
    assert!(encoded * 20 > 1 << 20, "past the 1 MiB floor: {encoded}");
    assert_eq!(b["decoded_length"], encoded * 20, "{b}");
    assert_eq!(b["complete"], false, "{b}");
}

/// Run the binary with exactly `args` (no `-r`/`-o` added).
fn run_args(args: &[&str]) -> std::process::Output {
    let args: Vec<&OsStr> = args.iter().map(|s| os(s)).collect();
    flowsplit(&args)
}

/// The flow files and report lines a run wrote in `outdir`, or a panic
/// showing its stderr when it did not exit 0.
fn written(
    out: &std::process::Output,
    outdir: &Path,
) -> (BTreeMap<String, Vec<u8>>, Vec<serde_json::Value>) {
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(out));
    common::collect(outdir, Some(&outdir.join("report.jsonl")))
}

/// Values attached to their option, as getopt takes them: `-j1`, `-b5`,
/// `-o/dir`, `-Tx`, give what the separate forms give.
#[test]
fn attached_values_are_read_as_getopt_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = testdata("out_of_order.pcap");
    let input = input.to_str().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    let separate = run_args(&["-q", "-r", input, "-o", a_s, "-j", "1", "-b", "5"]);
    let attached_o = format!("-o{b_s}");
    let attached = run_args(&["-q", &format!("-r{input}"), &attached_o, "-j1", "-b5"]);
    let (fa, ra) = written(&separate, &a);
    let (fb, rb) = written(&attached, &b);
    assert_eq!(fa, fb);
    assert_eq!(ra, rb);
    assert_eq!(fb[CS], b"ABCDE", "-b5 keeps 5 bytes");
    assert_eq!(fb[SC], b"hello");
    assert!(rb.iter().all(|l| l["truncated"] == true), "{rb:?}");

    // A repeated single-valued option: the last one wins, as in getopt.
    let c = dir.path().join("c");
    let out = run_args(&[
        "-q",
        "-r",
        input,
        "-o/nonexistent/x",
        &format!("-o{}", c.display()),
    ]);
    let (fc, _) = written(&out, &c);
    assert!(
        !Path::new("/nonexistent").exists(),
        "the first -o was overridden"
    );
    assert_eq!(fc[CS], b"ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    assert_eq!(fc[SC], b"helloworld");
}

/// Flags grouped in one word (`-cD`, `-qZ`) are each set.
#[test]
fn grouped_flags_are_each_set() {
    let input = testdata("out_of_order.pcap");
    let input = input.to_str().unwrap();
    let separate = run_args(&["-r", input, "-c", "-D"]);
    let grouped = run_args(&["-r", input, "-cD"]);
    assert_eq!(
        separate.status.code(),
        Some(0),
        "{:?}",
        stderr_lines(&separate)
    );
    assert_eq!(
        grouped.status.code(),
        Some(0),
        "{:?}",
        stderr_lines(&grouped)
    );
    assert!(!separate.stdout.is_empty());
    assert_eq!(separate.stdout, grouped.stdout, "-cD is -c -D");
    assert!(
        String::from_utf8_lossy(&grouped.stdout).contains("00000000: 4142 4344"),
        "hex dump: {}",
        String::from_utf8_lossy(&grouped.stdout)
    );
    // -q and -Z grouped, with -e's value attached.
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let gzip = testdata("http/gzip.pcap");
    let out = run_args(&[
        "-qZ",
        "-ehttp",
        "-r",
        gzip.to_str().unwrap(),
        "-o",
        outdir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    assert!(
        stderr_lines(&out).is_empty(),
        "-q: {:?}",
        stderr_lines(&out)
    );
    let index = http_index(&outdir);
    assert_eq!(index[0]["response_body"]["decoded"], false, "-Z: {index:?}");
}

/// `--` ends the options: what follows is the expression, even a word
/// starting with `-`.
#[test]
fn double_dash_ends_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let out = run_bin(
        &[&testdata("fin_rst.pcap")],
        &outdir,
        &["-q", "--", "port", "40002"],
    );
    let (files, _) = written(&out, &outdir);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, [cs(40002), sc(40002)]);

    let out = run_bin(
        &[&testdata("fin_rst.pcap")],
        &dir.path().join("o2"),
        &["--", "-Q"],
    );
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("flowsplit: bad filter expression '-Q': "),
        "{lines:?}"
    );
}

/// An unknown option before the expression is a usage error naming it, on
/// one line, exit 2, before anything is written; never a BPF expression.
#[test]
fn an_unknown_option_is_named_and_nothing_is_written() {
    let input = testdata("out_of_order.pcap");
    for (args, named) in [
        (&["-Q"][..], "-Q"),
        (&["-cQ"][..], "-Q"),
        (&["-q", "--frobnicate", "port", "80"][..], "--frobnicate"),
        (&["-Q", "port", "80"][..], "-Q"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let outdir = dir.path().join("out");
        let out = run_bin(&[&input], &outdir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("flowsplit: unknown option {named} (flowsplit -h lists the options)\n"),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!outdir.exists(), "{args:?}: nothing written");
    }
    let out = run_args(&["http", "-Q", "somewhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "flowsplit: unknown option -Q (flowsplit http -h lists the options)\n"
    );
}

/// Other parse errors are one line too.
#[test]
fn a_missing_or_bad_value_is_one_usage_line() {
    let input = testdata("out_of_order.pcap");
    let input = input.to_str().unwrap();
    for (args, want) in [
        (
            &["-r", input, "-j"][..],
            "flowsplit: a value is required for '--threads <N>' but none was supplied\n",
        ),
        (
            &["-r", input, "-jx"][..],
            "flowsplit: invalid value 'x' for '--threads <N>': invalid digit found in string\n",
        ),
    ] {
        let out = run_args(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), want, "{args:?}");
    }
}

/// Every tcpflow 1.6.1 option is implemented (tests/tcpflow_options.rs and
/// tests/dfxml.rs compare them with tcpflow); what flowsplit still refuses
/// is tcpflow's scanners it lacks, each named with its reason, exit 2.
#[test]
fn tcpflow_scanners_flowsplit_lacks_are_refused_with_the_reason() {
    let input = testdata("out_of_order.pcap");
    // tcpflow's scanners flowsplit lacks, named with their reason
    // (tests/dfxml.rs has the rest of scanner control).
    let out = run_bin(
        &[&input],
        &tempfile::tempdir().unwrap().path().join("o"),
        &["-e", "wifiviz"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "flowsplit: invalid value 'wifiviz' for '-e <SCANNER>': tcpflow's wifiviz scanner is not supported; flowsplit has http, md5 and netviz\n"
    );
    // -s asks for what the console output already does.
    let plain = run_args(&["-r", input.to_str().unwrap(), "-c"]);
    let s = run_args(&["-r", input.to_str().unwrap(), "-cs"]);
    assert_eq!(s.status.code(), Some(0), "{:?}", stderr_lines(&s));
    assert_eq!(plain.stdout, s.stdout);
}

/// Packets and captured bytes of a classic pcap file, counted from its
/// record headers (the test's own reading, not flowsplit's).
fn pcap_totals(path: &Path) -> (u64, u64) {
    let data = std::fs::read(path).unwrap();
    let le = data[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || data[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let word = |at: usize| {
        let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
        u64::from(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let (mut at, mut packets, mut bytes) = (24, 0, 0);
    while at + 16 <= data.len() {
        let caplen = word(at + 8);
        at += 16 + caplen as usize;
        packets += 1;
        bytes += caplen;
    }
    (packets, bytes)
}

/// The run's summary (`report.summary.json` beside the report) counts the
/// packets and bytes read, the connections and directions, says the run
/// got to its end, and lists the errors that did not stop it.
#[test]
fn the_run_summary_counts_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("out");
    let input = testdata("out_of_order.pcap");
    let out = run_bin(&[&input], &outdir, &["--max-memory", "512M"]);
    let (_, report) = written(&out, &outdir);
    let text = std::fs::read_to_string(outdir.join("report.summary.json")).unwrap();
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (packets, bytes) = pcap_totals(&input);
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["error"], serde_json::Value::Null, "{s}");
    assert_eq!(s["packets"], packets, "{s}");
    assert_eq!(s["bytes"], bytes, "{s}");
    assert_eq!(s["connections"], 1, "{s}");
    assert_eq!(s["directions"], report.len(), "{s}");
    assert_eq!(s["max_memory"], 512u64 << 20, "{s}");
    assert_eq!(s["capture"], serde_json::Value::Null, "{s}");
    assert_eq!(s["input_errors"], serde_json::json!([]), "{s}");

    // An input error does not stop the run: the summary lists it.
    let outdir = dir.path().join("out2");
    let out = run_bin(&[&testdata("truncated.pcap")], &outdir, &[]);
    assert_one_error(&out, &["truncated.pcap"]);
    let text = std::fs::read_to_string(outdir.join("report.summary.json")).unwrap();
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(s["complete"], true, "{s}");
    let errors = s["input_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{s}");
    assert!(
        errors[0].as_str().unwrap().contains("truncated.pcap"),
        "{s}"
    );
    // With --no-report there is no summary either.
    let outdir = dir.path().join("out3");
    let out = run_bin(&[&input], &outdir, &["--no-report"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!outdir.join("report.summary.json").exists());
}

/// Each subcommand's help names it as it is typed (issue 27: `flowsplit
/// http --help` said `Usage: http [OPTIONS] <DIR>...`).
#[test]
fn help_usage_lines_name_the_command_as_typed() {
    for (args, usage) in [
        (
            &["--help"][..],
            "Usage: flowsplit [OPTIONS] [EXPRESSION]...",
        ),
        (
            &["http", "--help"][..],
            "Usage: flowsplit http [OPTIONS] <DIR>...",
        ),
        (
            &["merge", "--help"][..],
            "Usage: flowsplit merge [OPTIONS] -o <OUT> <DIR>...",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().any(|l| l == usage),
            "{args:?}: no line {usage:?} in\n{text}"
        );
    }
}
