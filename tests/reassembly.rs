//! Reassembly behaviour, one test per situation, on the captures in
//! `testdata/` (see `testdata/README.md` and `examples/make_testdata.rs` for
//! how each was scripted). Every test states the exact files expected and
//! their exact bytes, and checks the report against them.

mod common;

use common::{cs, gen, run, run_with, sc, testdata, CS, SC};
use serde_json::json;

#[test]
fn report_line_has_every_field() {
    let out = run(&["link_ethernet.pcap"]);
    let c2s = out.line(CS);
    let want = json!({
        "file": CS,
        "connection": 1,
        // Python's hashlib over the spec's layout, seed 0 (both directions).
        "community_id": "1:3k1SoWXs/FltHw2aBCgUTgbDQF4=",
        "src": "10.0.0.1", "sport": 40000, "dst": "10.0.0.2", "dport": 80, "vlan": null,
        "encap": "ethernet/ipv4", "tunnel": 0, "outer_src": null, "outer_dst": null,
        "first_ts": "1700000000.000000000",
        "last_ts": "1700000000.007000000",
        "packets": 5,
        "bytes": gen::C4.len(),
        "gaps": [], "gap_bytes": 0, "jumps": [],
        "truncated": false,
        "dropped_before_start": 0,
        "end": "fin",
        "sha256": common::sha256_hex(gen::C4),
    });
    assert_eq!(c2s, &want);
    let s2c = out.line(SC);
    let want = json!({
        "file": SC,
        "connection": 1,
        // Python's hashlib over the spec's layout, seed 0 (both directions).
        "community_id": "1:3k1SoWXs/FltHw2aBCgUTgbDQF4=",
        "src": "10.0.0.2", "sport": 80, "dst": "10.0.0.1", "dport": 40000, "vlan": null,
        "encap": "ethernet/ipv4", "tunnel": 0, "outer_src": null, "outer_dst": null,
        "first_ts": "1700000000.001000000",
        "last_ts": "1700000000.006000000",
        "packets": 3,
        "bytes": gen::S4.len(),
        "gaps": [], "gap_bytes": 0, "jumps": [],
        "truncated": false,
        "dropped_before_start": 0,
        "end": "fin",
        "sha256": common::sha256_hex(gen::S4),
    });
    assert_eq!(s2c, &want);
    // The IPv6 connection's SYN is the 9th packet of the file.
    assert_eq!(out.line(common::CS6)["connection"], 9);
    assert_eq!(out.line(common::CS6)["src"], "2001:db8::1");
    assert_eq!(out.report.len(), 4);
}

#[test]
fn out_of_order_segments_are_written_in_order() {
    let out = run(&["out_of_order.pcap"]);
    out.assert_flows(&[(CS, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), (SC, b"helloworld")]);
    assert_eq!(out.end(CS), "fin");
    assert_eq!(out.end(SC), "fin");
}

#[test]
fn retransmissions_are_written_once() {
    let out = run(&["retransmission.pcap"]);
    out.assert_flows(&[(CS, b"hello world! bye"), (SC, b"ok")]);
    assert_eq!(out.line(CS)["gaps"], json!([]));
}

#[test]
fn conflicting_overlap_keeps_the_bytes_accepted_first() {
    let out = run(&["overlap_conflict.pcap"]);
    out.assert_flows(&[(CS, b"abcdefghijklmnop"), (SC, b"012345")]);
}

#[test]
fn buffered_bytes_win_over_a_later_conflicting_overlap() {
    let out = run(&["overlap_pending.pcap"]);
    out.assert_flows(&[(CS, b"ABCDefghwxyzMN"), (SC, b"ok")]);
    assert_eq!(out.line(CS)["gaps"], json!([]));
}

#[test]
fn data_carried_by_the_syn_is_the_start_of_the_stream() {
    let out = run(&["syn_data.pcap"]);
    out.assert_flows(&[(CS, b"early+later"), (SC, b"ok")]);
}

#[test]
fn a_retransmitted_syn_is_not_a_new_connection() {
    let out = run(&["syn_retransmission.pcap"]);
    out.assert_flows(&[(CS, b"one connection"), (SC, b"ok")]);
    assert_eq!(out.line(CS)["connection"], 1);
    assert_eq!(out.line(CS)["first_ts"], "1700000000.000000000");
}

#[test]
fn sequence_numbers_wrap_around_2_to_the_32() {
    let out = run(&["wraparound.pcap"]);
    out.assert_flows(&[
        (CS, b"0123456789abcdefghijABCDEFGHIJ"),
        (SC, b"abcde0123456789"),
    ]);
}

#[test]
fn port_reuse_makes_c1_files() {
    let out = run(&["port_reuse.pcap"]);
    let (cs1, sc1) = (format!("{CS}c1"), format!("{SC}c1"));
    out.assert_flows(&[
        (CS, b"first request"),
        (SC, b"first response"),
        (&cs1, b"second request"),
        (&sc1, b"second response"),
    ]);
    assert_eq!(out.line(CS)["connection"], 1);
    assert_eq!(out.line(SC)["connection"], 1);
    assert_eq!(out.line(&cs1)["connection"], 9);
    assert_eq!(out.line(&sc1)["connection"], 9);
    for f in [CS, SC, &cs1, &sc1] {
        assert_eq!(out.end(f), "fin", "{f}");
    }
}

#[test]
fn a_new_syn_on_an_open_connection_starts_the_next_one() {
    let out = run(&["port_reuse_open.pcap"]);
    let (cs1, sc1) = (format!("{CS}c1"), format!("{SC}c1"));
    out.assert_flows(&[
        (CS, b"never closed"),
        (SC, b"never closed either"),
        (&cs1, b"new connection"),
        (&sc1, b"new reply"),
    ]);
    assert_eq!(out.line(&cs1)["connection"], 6);
    assert_eq!(out.end(CS), "reused");
    assert_eq!(out.end(SC), "reused");
    assert_eq!(out.end(&cs1), "fin");
}

#[test]
fn capture_starting_mid_stream_starts_at_the_first_data() {
    let out = run(&["midstream.pcap"]);
    out.assert_flows(&[(CS, b"middle of a stream, then more"), (SC, b"reply")]);
    assert_eq!(out.end(CS), "end_of_input");
    assert_eq!(out.end(SC), "end_of_input");
    assert_eq!(out.line(CS)["connection"], 1);
    assert_eq!(out.line(CS)["gaps"], json!([]));
}

#[test]
fn late_data_from_before_a_mid_stream_start_goes_in_front() {
    let out = run(&["midstream_late.pcap"]);
    out.assert_flows(&[(CS, b"early part0123456789"), (SC, b"ok")]);
    assert_eq!(out.line(CS)["dropped_before_start"], 0);
    assert_eq!(out.line(CS)["gaps"], json!([]));
}

#[test]
fn missing_segments_are_zero_filled_gaps() {
    let out = run(&["gap.pcap"]);
    out.assert_flows(&[(CS, b"AAAA\0\0\0\0CCCCDDDD"), (SC, b"hello\0\0\0world")]);
    assert_eq!(out.line(CS)["gaps"], json!([[4, 4]]));
    assert_eq!(out.line(CS)["gap_bytes"], 4);
    assert_eq!(out.line(SC)["gaps"], json!([[5, 3]]));
    assert_eq!(out.line(SC)["gap_bytes"], 3);
}

#[test]
fn bytes_cut_by_the_snap_length_are_a_gap() {
    let out = run(&["snaplen.pcap"]);
    out.assert_flows(&[(CS, b"0123456789\0\0\0\0\0\0\0\0\0\0short"), (SC, b"ok")]);
    assert_eq!(out.line(CS)["gaps"], json!([[10, 10]]));
    assert_eq!(out.line(CS)["gap_bytes"], 10);
}

#[test]
fn keepalive_probes_do_not_corrupt_the_stream() {
    let out = run(&["keepalive.pcap"]);
    out.assert_flows(&[(CS, b"before keepalive|after keepalive"), (SC, b"ok")]);
    assert_eq!(out.line(CS)["gaps"], json!([]));
    assert_eq!(out.line(SC)["gaps"], json!([]));
}

#[test]
fn zero_window_probes_do_not_corrupt_the_stream() {
    // The server sends no data: it gets no file.
    let out = run(&["zero_window.pcap"]);
    out.assert_flows(&[(CS, b"0123456789ABCDEFGHIJ")]);
    assert_eq!(out.report.len(), 1);
}

#[test]
fn fin_and_rst_endings_are_reported() {
    let out = run(&["fin_rst.pcap"]);
    out.assert_flows(&[
        (&cs(40001), b"closed with fin"),
        (&sc(40001), b"fin reply"),
        (&cs(40002), b"request"),
        (&sc(40002), b"partial resp"),
        (&cs(40003), b"upload"),
        (&sc(40003), b"response after client FIN"),
    ]);
    assert_eq!(out.end(&cs(40001)), "fin");
    assert_eq!(out.end(&sc(40001)), "fin");
    // A reset ends the whole connection, both directions.
    assert_eq!(out.end(&sc(40002)), "rst");
    assert_eq!(out.end(&cs(40002)), "rst");
    // Half close: the server's data after the client's FIN is all there.
    assert_eq!(out.end(&cs(40003)), "fin");
    assert_eq!(out.end(&sc(40003)), "fin");
}

#[test]
fn directions_without_payload_get_no_file_and_no_report_line() {
    let out = run(&["no_payload.pcap"]);
    out.assert_flows(&[(&cs(40002), b"one-way")]);
    assert_eq!(out.report.len(), 1);
}

#[test]
fn non_tcp_traffic_is_skipped() {
    let out = run(&["non_tcp.pcap"]);
    out.assert_flows(&[(CS, gen::C4), (SC, gen::S4)]);
}

#[test]
fn without_timeout_an_idle_connection_ends_with_the_input() {
    let out = run(&["timeout.pcap"]);
    out.assert_flows(&[
        (&cs(40001), b"idle soon"),
        (&cs(40002), b"later"),
        (&sc(40002), b"later reply"),
    ]);
    assert_eq!(out.end(&cs(40001)), "end_of_input");
    assert_eq!(out.end(&cs(40002)), "fin");
}

#[test]
fn idle_timeout_closes_silent_connections() {
    let out = run_with(&[testdata("timeout.pcap")], |c| c.idle_timeout = Some(60));
    out.assert_flows(&[
        (&cs(40001), b"idle soon"),
        (&cs(40002), b"later"),
        (&sc(40002), b"later reply"),
    ]);
    assert_eq!(out.end(&cs(40001)), "timeout");
    assert_eq!(out.end(&cs(40002)), "fin");
}

#[test]
fn flow_state_carries_across_inputs() {
    let out = run(&["rotated_1.pcap", "rotated_2.pcap"]);
    out.assert_flows(&[
        (CS, b"part one|part two"),
        (SC, b"ack one|ack two"),
        (&cs(40002), b"new in file 2"),
        (&sc(40002), b"new reply"),
    ]);
    assert_eq!(out.line(CS)["connection"], 1);
    // Packets are counted across inputs: rotated_1 holds 6, so the third
    // packet of rotated_2 is the 9th.
    assert_eq!(out.line(&cs(40002))["connection"], 9);
    assert_eq!(out.end(CS), "fin");
    assert_eq!(out.line(CS)["first_ts"], "1700000000.000000000");
}

#[test]
fn max_bytes_cuts_directions_and_says_so() {
    let out = run_with(&[testdata("out_of_order.pcap")], |c| c.max_bytes = Some(5));
    out.assert_flows(&[(CS, b"ABCDE"), (SC, b"hello")]);
    assert_eq!(out.line(CS)["truncated"], true);
    assert_eq!(out.line(SC)["truncated"], true);
    let out = run_with(&[testdata("out_of_order.pcap")], |c| {
        c.max_bytes = Some(100)
    });
    assert_eq!(out.line(CS)["truncated"], false);
}

#[test]
fn one_open_file_gives_the_same_output() {
    let inputs = [testdata("pcapng_mixed.pcapng")];
    let many = run_with(&inputs, |_| {});
    let one = run_with(&inputs, |c| {
        c.output.files_mut().expect("flow files").max_open_files = 1
    });
    assert_eq!(many.files.len(), 6);
    assert_eq!(many.files, one.files);
    let sort = |r: &[serde_json::Value]| {
        let mut v: Vec<String> = r.iter().map(|l| l.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(sort(&many.report), sort(&one.report));
    common::check_report(&one);
}

#[test]
fn truncated_capture_keeps_what_was_read() {
    let out = run(&["truncated.pcap"]);
    let errors = match &out.result {
        Ok(errors) => errors.clone(),
        Err(e) => vec![e.clone()],
    };
    assert_eq!(
        errors.len(),
        1,
        "one error for the truncated input: {errors:?}"
    );
    assert!(errors[0].contains("truncated.pcap"), "{errors:?}");
    out.assert_flows(&[
        (&cs(40001), b"complete request"),
        (&sc(40001), b"complete response"),
        (&cs(40002), b"partial request"),
    ]);
    assert_eq!(out.end(&cs(40001)), "fin");
    assert_eq!(out.end(&cs(40002)), "end_of_input");
}

#[test]
fn report_can_be_turned_off() {
    let out = run_with(&[testdata("out_of_order.pcap")], |c| c.report = None);
    assert!(out.report.is_empty());
    assert_eq!(out.names(), [CS, SC]);
    assert!(!out.dir.path().join("out").join("report.jsonl").exists());
}
