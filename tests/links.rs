//! Link layers, IP variants and capture formats: every link type flowsplit
//! reads, VLAN and QinQ tags, Ethernet padding, IPv4 options and fragments,
//! IPv6 extension headers and fragments, big-endian and nanosecond pcap, and
//! pcapng with interfaces of different link types. Captures come from
//! `testdata/` (made by `examples/make_testdata.rs`).

mod common;

use common::{gen, run, CS, CS6, SC, SC6};
use serde_json::json;

/// Each link-type capture holds the standard IPv4 exchange, then the IPv6
/// one: four files, both connections closed by FIN.
fn standard_link_capture(name: &str) {
    let out = run(&[name]);
    out.assert_flows(&[(CS, gen::C4), (SC, gen::S4), (CS6, gen::C6), (SC6, gen::S6)]);
    for f in [CS, SC, CS6, SC6] {
        assert_eq!(out.end(f), "fin", "{name}: {f}");
        assert_eq!(out.line(f)["vlan"], json!(null), "{name}: {f}");
    }
    assert_eq!(out.line(CS)["connection"], 1, "{name}");
    assert_eq!(out.line(CS6)["connection"], 9, "{name}");
}

macro_rules! link_tests {
    ($($test:ident: $file:literal,)*) => {$(
        #[test]
        fn $test() {
            standard_link_capture($file);
        }
    )*};
}

link_tests! {
    link_ethernet: "link_ethernet.pcap",
    link_linux_sll: "link_sll.pcap",
    link_linux_sll2: "link_sll2.pcap",
    link_null_little_endian_family_24: "link_null_le_24.pcap",
    link_null_little_endian_family_28: "link_null_le_28.pcap",
    link_null_little_endian_family_30: "link_null_le_30.pcap",
    link_null_big_endian_family_24: "link_null_be_24.pcap",
    link_null_big_endian_family_28: "link_null_be_28.pcap",
    link_null_big_endian_family_30: "link_null_be_30.pcap",
    link_loop: "link_loop.pcap",
    link_raw_12: "link_raw12.pcap",
    link_raw_14: "link_raw14.pcap",
    link_raw_101: "link_raw101.pcap",
}

#[test]
fn every_link_capture_is_tested() {
    let names: Vec<&str> = gen::link_files().iter().map(|(n, _)| *n).collect();
    let src = include_str!("links.rs");
    for n in names {
        assert!(src.contains(&format!("\"{n}\"")), "{n} has no test");
    }
}

fn standard_ipv4(name: &str) -> common::Outcome {
    let out = run(&[name]);
    out.assert_flows(&[(CS, gen::C4), (SC, gen::S4)]);
    out
}

#[test]
fn nanosecond_pcap_keeps_nanoseconds() {
    for name in ["nanosecond.pcap", "big_endian_nanosecond.pcap"] {
        let out = standard_ipv4(name);
        assert_eq!(out.line(CS)["first_ts"], "1700000000.123456789", "{name}");
        assert_eq!(out.line(CS)["last_ts"], "1700000000.130456796", "{name}");
        assert_eq!(out.line(SC)["first_ts"], "1700000000.124456790", "{name}");
        assert_eq!(out.line(SC)["last_ts"], "1700000000.129456795", "{name}");
    }
}

#[test]
fn ipv4_options_are_skipped() {
    standard_ipv4("ipv4_options.pcap");
}

#[test]
fn big_endian_microsecond_pcap() {
    let out = standard_ipv4("big_endian.pcap");
    assert_eq!(out.line(CS)["first_ts"], "1700000000.000000000");
    assert_eq!(out.line(SC)["last_ts"], "1700000000.006000000");
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let out = run(&["ipv6_ext_headers.pcap"]);
    out.assert_flows(&[(CS6, gen::C6), (SC6, gen::S6)]);
}

#[test]
fn ipv6_files_use_the_standard_text_form() {
    let out = run(&["ipv6.pcap"]);
    let (a, b) = (
        "2001:db8:0:1::10.50000-fe80::1.00443",
        "fe80::1.00443-2001:db8:0:1::10.50000",
    );
    out.assert_flows(&[
        (CS6, gen::C6),
        (SC6, gen::S6),
        (a, b"second v6 client"),
        (b, b"second v6 server"),
    ]);
    assert_eq!(out.line(a)["src"], "2001:db8:0:1::10");
    assert_eq!(out.line(a)["dst"], "fe80::1");
    assert_eq!(out.line(a)["dport"], 443);
}

#[test]
fn ipv4_fragments_are_reassembled() {
    let out = run(&["ipv4_fragments.pcap"]);
    let mut client = gen::frag_client();
    client.extend_from_slice(b"tail");
    out.assert_flows(&[(CS, &client), (SC, &gen::frag_server())]);
    assert_eq!(out.line(CS)["gaps"], json!([]));
}

#[test]
fn ipv6_fragments_are_reassembled() {
    let out = run(&["ipv6_fragments.pcap"]);
    let mut client = gen::frag_client();
    client.extend_from_slice(b"tail");
    out.assert_flows(&[(CS6, &client), (SC6, &gen::frag_server())]);
}

#[test]
fn vlan_id_is_in_the_name_and_separates_flows() {
    let out = run(&["vlan.pcap"]);
    let f = |base: &str, v: u16| format!("{base}--{v}");
    out.assert_flows(&[
        (&f(CS, 100), b"on vlan 100"),
        (&f(SC, 100), b"reply on vlan 100"),
        (&f(CS, 101), b"on vlan 101"),
        (&f(SC, 101), b"reply on vlan 101"),
    ]);
    // The tag of VLAN 100 carries priority 3: the name and the report use the
    // 12-bit id only (tcpflow would print the whole tag, 24676).
    assert_eq!(out.line(&f(CS, 100))["vlan"], 100);
    assert_eq!(out.line(&f(SC, 101))["vlan"], 101);
    assert_eq!(out.line(&f(CS, 100))["connection"], 1);
    assert_eq!(out.line(&f(CS, 101))["connection"], 9);
}

#[test]
fn qinq_uses_the_inner_vlan_id() {
    let out = run(&["qinq.pcap"]);
    let (a, b) = (format!("{CS}--300"), format!("{SC}--300"));
    out.assert_flows(&[(&a, b"inside QinQ"), (&b, b"reply inside QinQ")]);
    assert_eq!(out.line(&a)["vlan"], 300);
}

#[test]
fn ethernet_padding_never_reaches_the_stream() {
    let out = run(&["padding.pcap"]);
    out.assert_flows(&[(CS, b"abcdefghijklmno"), (SC, b"123456")]);
}

#[test]
fn pcapng_with_mixed_link_types() {
    let out = run(&["pcapng_mixed.pcapng"]);
    let [(_, e_c, e_s), (_, r_c, r_s), (_, s_c, s_s)] = gen::PCAPNG_CONNS;
    let raw_c = "2001:db8::1.40002-2001:db8::2.00080";
    let raw_s = "2001:db8::2.00080-2001:db8::1.40002";
    let sll_c = "010.000.000.003.40003-010.000.000.002.00080";
    let sll_s = "010.000.000.002.00080-010.000.000.003.40003";
    out.assert_flows(&[
        (&common::cs(40001), e_c),
        (&common::sc(40001), e_s),
        (raw_c, r_c),
        (raw_s, r_s),
        (sll_c, s_c),
        (sll_s, s_s),
    ]);
    // Interleaved: the three SYNs are packets 1, 2 and 3.
    assert_eq!(out.line(&common::cs(40001))["connection"], 1);
    assert_eq!(out.line(raw_c)["connection"], 2);
    assert_eq!(out.line(sll_c)["connection"], 3);
    // Microsecond and nanosecond interfaces.
    assert_eq!(
        out.line(&common::cs(40001))["first_ts"],
        "1700000000.000000000"
    );
    assert_eq!(out.line(raw_c)["first_ts"], "1700000000.000333337");
}

#[test]
fn pcapng_binary_timestamp_resolution() {
    // The SLL interface of pcapng_mixed.pcapng counts time in 2^-20 s
    // (if_tsresol 0x94). Its first packet was stamped 1700000000.000666016,
    // stored as 698 units after the second: 1700000000.000665664 and change.
    let out = run(&["pcapng_mixed.pcapng"]);
    let line = out.line("010.000.000.003.40003-010.000.000.002.00080");
    let (secs, nanos) = common::ts(&line["first_ts"]);
    assert_eq!(secs, 1_700_000_000, "{line}");
    assert!((665_663..=665_665).contains(&nanos), "{line}");
}
