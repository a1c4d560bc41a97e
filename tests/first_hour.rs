//! What a new user meets first (issue 27): a run that says what it did in
//! one closing line, inputs that cannot be read never passing for success,
//! and errors that name the path at fault.

mod common;

use common::{flowsplit, split_into, stderr_lines, testdata};
use std::ffi::OsStr;
use std::path::Path;

fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_successful_run_ends_with_one_closing_line_of_its_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cap = testdata("out_of_order.pcap");
    let o = split_into(&cap, &out);
    assert!(o.status.success());
    let lines = stderr_lines(&o);
    let report = out.join("report.jsonl");
    let summary_file = out.join("report.summary.json");
    assert_eq!(
        lines,
        [format!(
            "flowsplit: 1 input, 11 packets, 1 TCP connection, 2 flow files; report in {}, summary in {}",
            report.display(),
            summary_file.display()
        )]
    );
    // The figures are the summary's.
    let s = summary(&out);
    assert_eq!(
        (s["inputs"].as_u64(), s["packets"].as_u64()),
        (Some(1), Some(11))
    );
    assert_eq!(
        (s["connections"].as_u64(), s["directions"].as_u64()),
        (Some(1), Some(2))
    );
}

#[test]
fn the_closing_line_counts_bodies_gaps_and_errors_and_minus_q_silences_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (http, gap) = (testdata("http/gzip.pcap"), testdata("gap.pcap"));
    let missing = tmp.path().join("missing.pcap");
    let args: Vec<&OsStr> = vec![
        "-e".as_ref(),
        "http".as_ref(),
        "-r".as_ref(),
        http.as_os_str(),
        "-r".as_ref(),
        gap.as_os_str(),
        "-r".as_ref(),
        missing.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ];
    let o = flowsplit(&args);
    assert_eq!(o.status.code(), Some(1), "an input was not read");
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(&format!("flowsplit: {}: cannot open", missing.display())));
    let s = summary(&out);
    let bodies = s["http_bodies"].as_u64().unwrap();
    let closing = format!(
        "flowsplit: 3 inputs (1 not read), {} packets, {} TCP connections, {} flow files ({} with bytes missing), {bodies} {} carved, 1 error; report in ",
        s["packets"],
        s["connections"],
        s["directions"],
        s["directions_with_gaps"],
        if bodies == 1 { "HTTP body" } else { "HTTP bodies" }
    );
    assert!(
        lines[1].starts_with(&closing),
        "{}\nnot\n{closing}",
        lines[1]
    );
    assert!(s["directions_with_gaps"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["http_bodies"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["complete"], false, "an input was not read: {s}");
    assert_eq!(
        (s["inputs"].as_u64(), s["inputs_failed"].as_u64()),
        (Some(3), Some(1))
    );

    let quiet = tmp.path().join("quiet");
    let mut args = args;
    args.pop();
    args.push(quiet.as_os_str());
    args.insert(0, "-q".as_ref());
    let o = flowsplit(&args);
    assert_eq!(o.status.code(), Some(1));
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "-q leaves only the error: {lines:?}");
}

#[test]
fn a_run_none_of_whose_inputs_can_be_read_leaves_no_folder_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.pcap");
    let zip = tmp.path().join("x.pcap");
    std::fs::write(&zip, b"PK\x03\x04 not a capture at all").unwrap();
    for input in [&missing, &zip] {
        let out = tmp.path().join("out");
        let o = split_into(input, &out);
        assert_eq!(o.status.code(), Some(1));
        let lines = stderr_lines(&o);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("flowsplit: {}: ", input.display())),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "flowsplit: no input could be read; nothing was written"
        );
        assert!(!out.exists(), "{} was left behind", out.display());
    }
    // A folder that was there before stays, with a summary that says the
    // run is not complete.
    let out = tmp.path().join("existing");
    std::fs::create_dir(&out).unwrap();
    let o = split_into(&zip, &out);
    assert_eq!(o.status.code(), Some(1));
    let s = summary(&out);
    assert_eq!(s["complete"], false, "{s}");
    assert_eq!(s["inputs_failed"], 1, "{s}");
}

#[test]
fn an_input_folder_without_captures_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("out");
    let o = split_into(&empty, &out);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&o),
        [
            format!(
                "flowsplit: {}: no capture files in this folder",
                empty.display()
            ),
            "flowsplit: no input could be read; nothing was written".to_string()
        ]
    );
    assert!(!out.exists());
}

#[test]
fn an_output_folder_that_cannot_be_made_is_named_as_the_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = file.join("out");
    let cap = testdata("out_of_order.pcap");
    let o = split_into(&cap, &out);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&o),
        [format!(
            "flowsplit: {}: cannot create the output folder: Not a directory (os error 20)",
            out.display()
        )]
    );
}
