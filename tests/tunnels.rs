//! Tunnels and link types end to end: the flowsplit binary on every capture
//! `examples/make_tunnel_testdata.rs` writes into `testdata/`, each inner
//! stream compared byte for byte (file names and contents, nothing else in
//! the folder but the report). Also: the committed captures and README
//! section are what the generator makes.

#[path = "../examples/make_tunnel_testdata.rs"]
mod gen;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Runs `flowsplit -r CAPTURE -o DIR` and returns every file but the report.
fn run(capture: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("-r")
        .arg(testdata(capture))
        .arg("-o")
        .arg(dir.path())
        .output()
        .expect("flowsplit runs");
    assert!(
        out.status.success(),
        "{capture}: flowsplit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir.path()).expect("the output folder") {
        let e = e.expect("a folder entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if name != "report.jsonl"
            && name != "report.summary.json"
            && name != "report.traffic.json"
            && name != "report.xml"
        {
            files.insert(name, std::fs::read(e.path()).expect("a flow file"));
        }
    }
    files
}

fn check(c: &gen::Capture) {
    let got = run(c.name);
    let want: BTreeMap<String, Vec<u8>> = c.expect.iter().cloned().collect();
    let show = |m: &BTreeMap<String, Vec<u8>>| -> Vec<(String, String)> {
        m.iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    };
    assert_eq!(show(&got), show(&want), "{}", c.name);
}

fn capture(name: &str) -> gen::Capture {
    gen::all()
        .expect("the generator runs")
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no capture {name}"))
}

#[test]
fn committed_captures_and_readme_section_match_the_generator() {
    let caps = gen::all().expect("the generator runs");
    let mut stale = Vec::new();
    for c in &caps {
        match std::fs::read(testdata(c.name)) {
            Ok(b) if b == c.bytes => {}
            Ok(_) => stale.push(format!("{} differs", c.name)),
            Err(e) => stale.push(format!("{}: {e}", c.name)),
        }
    }
    let readme = std::fs::read_to_string(testdata("README.md")).unwrap_or_default();
    if !readme.contains(&gen::readme_section(&caps)) {
        stale.push("README.md does not hold the current tunnel section".into());
    }
    assert!(
        stale.is_empty(),
        "run `cargo run --example make_tunnel_testdata`: {stale:?}"
    );
}

#[test]
fn captures_are_tiny() {
    for c in gen::all().unwrap() {
        assert!(
            c.bytes.len() < 8192,
            "{} is {} bytes",
            c.name,
            c.bytes.len()
        );
    }
}

/// Every capture but the one that needs the flow table to key connections
/// by tunnel (see `same_tuple_through_two_tunnels_is_two_connections`).
#[test]
fn every_inner_stream_is_written_byte_for_byte() {
    for c in gen::all().unwrap() {
        if c.name != "tunnel_two_tunnels.pcap" {
            check(&c);
        }
    }
}

#[test]
fn gre() {
    check(&capture("tunnel_gre.pcap"));
    check(&capture("tunnel_gre_options.pcap"));
    check(&capture("tunnel_gre_ethernet.pcap"));
    check(&capture("tunnel_gre_ipv6.pcap"));
}

#[test]
fn erspan() {
    check(&capture("tunnel_erspan1.pcap"));
    check(&capture("tunnel_erspan2.pcap"));
    check(&capture("tunnel_erspan3.pcap"));
}

#[test]
fn vxlan_geneve_and_nested() {
    check(&capture("tunnel_vxlan.pcap"));
    check(&capture("tunnel_geneve.pcap"));
    check(&capture("tunnel_nested.pcap"));
}

#[test]
fn mpls_and_pppoe() {
    check(&capture("tunnel_mpls.pcap"));
    check(&capture("tunnel_mpls_sll.pcap"));
    check(&capture("tunnel_pppoe.pcap"));
}

#[test]
fn ip_in_ip() {
    for n in ["4in4", "6in4", "4in6", "6in6"] {
        check(&capture(&format!("tunnel_{n}.pcap")));
    }
}

#[test]
fn udp_tunnels() {
    check(&capture("tunnel_teredo.pcap"));
    check(&capture("tunnel_gtpu.pcap"));
    check(&capture("tunnel_ayiya.pcap"));
    check(&capture("tunnel_l2tp.pcap"));
}

#[test]
fn outer_fragments_are_reassembled() {
    check(&capture("tunnel_outer_fragments.pcap"));
}

#[test]
fn link_types() {
    for n in [
        "link_nflog.pcap",
        "link_nflog_be.pcap",
        "link_chdlc.pcap",
        "link_ppp.pcap",
        "link_ppp_hdlc.pcap",
        "link_ieee802_11.pcap",
        "link_radiotap.pcap",
        "link_radiotap_pad.pcap",
        "link_ppi.pcap",
        "link_ipv4_228.pcap",
        "link_ipv6_229.pcap",
    ] {
        check(&capture(n));
    }
}

#[test]
fn same_tuple_through_two_tunnels_is_two_connections() {
    // Which connection gets the plain name and which the c1 suffix is the
    // flow side's naming policy; what matters is two connections, each with
    // both of its own streams under one name.
    let got = run("tunnel_two_tunnels.pcap");
    let (cs, sc) = (gen::CS, gen::SC);
    let pair = |suffix: &str| {
        (
            got.get(&format!("{cs}{suffix}")).cloned(),
            got.get(&format!("{sc}{suffix}")).cloned(),
        )
    };
    let conn = |i: usize| {
        (
            Some(gen::TWO_TUNNELS_CLIENT[i].to_vec()),
            Some(gen::TWO_TUNNELS_SERVER[i].to_vec()),
        )
    };
    assert_eq!(got.len(), 4, "{:?}", got.keys());
    let (a, b) = (pair(""), pair("c1"));
    assert!(
        (a == conn(0) && b == conn(1)) || (a == conn(1) && b == conn(0)),
        "{got:?}"
    );
}
