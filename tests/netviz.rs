//! tcpflow's netviz page (`-e netviz`, issue 31): `report.pdf`, read back
//! with `pdftotext` (poppler-utils, installed by .ci/run), says what
//! tcpflow 1.6.1's page says on the same capture wherever tcpflow counts
//! right; the traffic summary beside the report; a split run merged draws
//! what a single run draws.

mod common;

use common::{corpus_dir, flowsplit, testdata};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The words of `pdf` as `pdftotext -layout` lays them out, each run of
/// text between wide spaces on a line of its own.
fn pdf_cells(pdf: &Path) -> Vec<String> {
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs (poppler-utils)");
    assert!(out.status.success(), "pdftotext {pdf:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .flat_map(|l| l.split("  ").map(str::trim).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The facts both pages state: date range, packets and bytes, transports,
/// and the top-3 lines of the four charts (`1) KEY - BYTES (SHARE%)`), in
/// page order.
fn facts(pdf: &Path) -> Vec<String> {
    pdf_cells(pdf)
        .into_iter()
        .filter(|c| {
            c.starts_with("Date range:")
                || c.starts_with("Packets analyzed:")
                || c.starts_with("Transports:")
                || (c.len() > 3 && c.as_bytes()[0].is_ascii_digit() && &c[1..3] == ") ")
        })
        .collect()
}

fn tcpflow_page(capture: &Path, out: &Path) -> PathBuf {
    let status = Command::new("tcpflow")
        .env("TZ", "UTC")
        .arg("-e")
        .arg("netviz")
        .arg("-o")
        .arg(out)
        .arg("-r")
        .arg(capture)
        .output()
        .expect("tcpflow runs");
    assert!(status.status.success(), "tcpflow on {capture:?}");
    out.join("report.pdf")
}

fn flowsplit_page(capture: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "-q".as_ref(),
        "-e".as_ref(),
        "netviz".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "-r".as_ref(),
        capture.as_os_str(),
    ];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    let o = flowsplit(&args);
    assert!(
        o.status.success(),
        "flowsplit on {capture:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.join("report.pdf")
}

/// Captures on which tcpflow decodes every packet (Ethernet or the link
/// types it knows, no VLAN, PPPoE, MPLS or tunnels, no IP options or
/// fragments it would read ports from): its page's facts are right there.
const COUNTED_RIGHT: &[&str] = &[
    "chrissanders-packets/ek_to_cryptowall4.pcapng",
    "chrissanders-packets/http_ip4and6.pcapng",
    "chrissanders-packets/http_espn.pcapng",
    "chrissanders-packets/tcp_retransmissions.pcapng",
    "tcpflow/tests/bug2.pcap",
    "tcpflow/tests/test1.pcap",
    "tcpflow/tests/test7-three-flows.pcap",
    "tcpflow/tests/airsnort-linux-browser_page_load.pcap",
    "zeek/testing/btest/Traces/ftp/bigtransfer.pcap",
    "zeek/testing/btest/Traces/workshop_2011_browse.pcap",
    "zeek/testing/btest/Traces/wikipedia.pcap",
    "zeek/testing/btest/Traces/http/1000-requests-one-dropped-response.pcap",
    "arkime/tests/pcap/http-100-continue.pcap",
    "dpkt/examples/data/http.pcap",
];

#[test]
fn the_page_states_what_tcpflows_netviz_page_states_where_tcpflow_counts_right() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus_dir();
    let mut captures: Vec<PathBuf> = ["non_tcp.pcap", "ipv6.pcap", "fin_rst.pcap"]
        .iter()
        .map(|n| testdata(n))
        .collect();
    captures.extend(COUNTED_RIGHT.iter().map(|c| corpus.join(c)));
    for (i, capture) in captures.iter().enumerate() {
        let theirs = facts(&tcpflow_page(capture, &tmp.path().join(format!("t{i}"))));
        let ours = facts(&flowsplit_page(
            capture,
            &tmp.path().join(format!("f{i}")),
            &[],
        ));
        // The header and at least the first entry of each chart.
        assert!(theirs.len() >= 7, "{capture:?}: tcpflow's page: {theirs:?}");
        assert_eq!(ours, theirs, "{capture:?}");
    }
}

#[test]
fn non_tcp_capture_page_and_dump() {
    // ARP, UDP and ICMP around one HTTP connection: tcpflow's page counts
    // the 10 IP packets (675 bytes on the wire), addresses over all of
    // them and ports over TCP's 587 bytes.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = flowsplit(&[
        "-q".as_ref(),
        "-a".as_ref(),
        "-S".as_ref(),
        "netviz_histogram_dump=1".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        "-r".as_ref(),
        testdata("non_tcp.pcap").as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "src_tree:\nexact up to: 16384  undercount: 0\nhistogram size: 2\n10.0.0.1  count=397\n10.0.0.2  count=278\n\n\
         dst_tree:\nexact up to: 16384  undercount: 0\nhistogram size: 2\n10.0.0.2  count=397\n10.0.0.1  count=278\n\n"
    );
    assert_eq!(
        facts(&out.join("report.pdf")),
        [
            "Date range: 2023-11-14 22:13:20 -- 2023-11-14 22:13:20",
            "Packets analyzed: 10 (675 B)",
            "Transports: IPv4 100%",
            "1) 10.0.0.1 - 397 B (58%)",
            "1) 10.0.0.2 - 397 B (58%)",
            "2) 10.0.0.2 - 278 B (41%)",
            "2) 10.0.0.1 - 278 B (41%)",
            "1) 40000 - 351 B (59%)",
            "1) 80 - 351 B (59%)",
            "2) 80 - 236 B (40%)",
            "2) 40000 - 236 B (40%)",
        ]
    );
    let cells = pdf_cells(&out.join("report.pdf"));
    for want in [
        &format!("Input: {}", testdata("non_tcp.pcap").display())[..],
        "Top Source Addresses",
        "Top Destination Ports",
        "bars of 1 second (UTC)",
        "HTTP",
        "UDP",
        "other IP",
    ] {
        assert!(cells.iter().any(|c| c == want), "{want:?} in {cells:?}");
    }
    // The summary beside the report says the same.
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.traffic.json")).unwrap()).unwrap();
    assert_eq!(t["packets"], 10);
    assert_eq!(t["bytes"], 675);
    assert_eq!(t["netviz"], true);
    assert_eq!(t["bucket_seconds"], 1);
    assert_eq!(
        t["src_addresses"]["bytes"],
        serde_json::json!([["10.0.0.1", 397], ["10.0.0.2", 278]])
    );
    assert_eq!(t["dst_ports"], serde_json::json!([[80, 351], [40000, 236]]));
    // One bucket: HTTP 587 bytes in 8 packets, UDP 46 in 1, ICMP 42 in 1.
    assert_eq!(
        t["series"],
        serde_json::json!([[1_700_000_000, {
            "bytes": [587, 0, 0, 0, 0, 46, 42],
            "packets": [8, 0, 0, 0, 0, 1, 1]
        }]])
    );
}

#[test]
fn netviz_is_off_unless_asked_and_x_turns_it_off() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (args, pdf)) in [
        (&[][..], false),
        (&["-e", "netviz"][..], true),
        (&["-a", "-x", "netviz"][..], false),
        (&["-E", "netviz"][..], true),
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("o{i}"));
        let mut argv: Vec<&std::ffi::OsStr> =
            vec!["-q".as_ref(), "-o".as_ref(), out.as_os_str(), "-r".as_ref()];
        let input = testdata("out_of_order.pcap");
        argv.push(input.as_os_str());
        argv.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        assert!(flowsplit(&argv).status.success(), "{args:?}");
        assert_eq!(out.join("report.pdf").exists(), pdf, "{args:?}");
        // The traffic summary is kept whenever the report is.
        assert!(out.join("report.traffic.json").is_file(), "{args:?}");
    }
}

/// The merged folder of 3 shards draws what the single run draws: the
/// same traffic summary, byte for byte, and the same page.
#[test]
fn three_shards_merged_draw_what_a_single_run_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = corpus_dir();
    for (i, capture) in [
        corpus.join("zeek/testing/btest/Traces/workshop_2011_browse.pcap"),
        corpus.join("chrissanders-packets/http_ip4and6.pcapng"),
        testdata("non_tcp.pcap"),
    ]
    .iter()
    .enumerate()
    {
        let single = tmp.path().join(format!("single{i}"));
        flowsplit_page(capture, &single, &[]);
        let mut merge: Vec<std::ffi::OsString> = vec!["merge".into(), "-q".into(), "-o".into()];
        let merged = tmp.path().join(format!("merged{i}"));
        merge.push(merged.clone().into());
        for k in 0..3 {
            let dir = tmp.path().join(format!("shard{i}-{k}"));
            flowsplit_page(capture, &dir, &["--shard", &format!("{k}/3")]);
            // A shard leaves the page to the merge.
            assert!(!dir.join("report.pdf").exists());
            merge.push(dir.into());
        }
        let args: Vec<&std::ffi::OsStr> = merge.iter().map(|a| a.as_os_str()).collect();
        let o = flowsplit(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let read = |d: &Path| std::fs::read(d.join("report.traffic.json")).unwrap();
        assert_eq!(
            String::from_utf8(read(&merged)).unwrap(),
            String::from_utf8(read(&single)).unwrap(),
            "{capture:?}"
        );
        assert_eq!(
            pdf_cells(&merged.join("report.pdf")),
            pdf_cells(&single.join("report.pdf")),
            "{capture:?}"
        );
    }
}

/// A capture of UDP datagrams: one from each of `sources` distinct
/// addresses (10.0.0.0/8 upwards) to 192.0.2.1, 100 bytes of payload, and
/// every 10th one from the heavy 192.0.2.99 with 1,000 bytes.
fn many_sources(path: &Path, sources: u32) {
    use flowsplit_synth::{FrameBuilder, Link, PcapFormat, PcapWriter, Timestamp};
    use std::net::{IpAddr, Ipv4Addr};
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = PcapWriter::new(file, PcapFormat::default(), 1).unwrap();
    let mut f = FrameBuilder::new(Link::ethernet());
    let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let heavy = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99));
    let udp = |len: usize| {
        let mut b = vec![0u8; 8 + len];
        b[0..2].copy_from_slice(&5353u16.to_be_bytes());
        b[2..4].copy_from_slice(&53u16.to_be_bytes());
        b[4..6].copy_from_slice(&((8 + len) as u16).to_be_bytes());
        b
    };
    let (light, big) = (udp(100), udp(1000));
    for i in 0..sources {
        let ts = Timestamp {
            secs: 1_700_000_000 + i64::from(i / 10_000),
            nanos: 0,
        };
        let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let frame = f.ip(src, dst, i, 17, &light).to_vec();
        w.write_packet(ts, &frame, frame.len() as u32).unwrap();
        if i % 10 == 0 {
            let frame = f.ip(heavy, dst, i, 17, &big).to_vec();
            w.write_packet(ts, &frame, frame.len() as u32).unwrap();
        }
    }
    w.into_inner().into_inner().unwrap();
}

/// Run `-e netviz` on `capture` under GNU time: the summary and peak RSS in KiB.
fn summary_and_rss(capture: &Path, out: &Path, extra: &[&str]) -> (serde_json::Value, u64) {
    let rss = out.with_extension("rss");
    let o = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_flowsplit"))
        .args(["-q", "-e", "netviz", "-o"])
        .arg(out)
        .arg("-r")
        .arg(capture)
        .args(extra)
        .output()
        .expect("/usr/bin/time (Debian package time) runs flowsplit");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t =
        serde_json::from_slice(&std::fs::read(out.join("report.traffic.json")).unwrap()).unwrap();
    let rss = std::fs::read_to_string(&rss).unwrap();
    (t, rss.trim().lines().last().unwrap().parse().unwrap())
}

/// Past the cap the address counts keep at most cap+1 addresses, the
/// heavy one among them within the stated undercount, which is within its
/// bound; and memory does not grow with the number of distinct addresses.
#[test]
fn address_counts_stay_bounded_past_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, large) = (tmp.path().join("small.pcap"), tmp.path().join("large.pcap"));
    many_sources(&small, 10_000);
    many_sources(&large, 400_000);

    let (t, _) = summary_and_rss(
        &large,
        &tmp.path().join("capped"),
        &["-S", "netviz_histogram_size=1000"],
    );
    let src = &t["src_addresses"];
    let total = src["total"].as_u64().unwrap();
    // 400,000 light frames of 142 bytes, 40,000 heavy ones of 1,042.
    assert_eq!(total, 400_000 * 142 + 40_000 * 1042);
    let undercount = src["undercount"].as_u64().unwrap();
    assert!(undercount > 0, "past the cap the counts are not exact");
    assert!(
        undercount <= total / (1000 / 2 + 1),
        "{undercount} of {total}"
    );
    let kept = src["bytes"].as_array().unwrap();
    assert!(kept.len() <= 1001, "{} addresses kept", kept.len());
    assert_eq!(kept[0][0], "192.0.2.99");
    let heavy = kept[0][1].as_u64().unwrap();
    assert!(heavy <= 40_000 * 1042 && heavy + undercount >= 40_000 * 1042);
    // One destination: exact.
    assert_eq!(t["dst_addresses"]["undercount"], 0);
    assert_eq!(
        t["dst_addresses"]["bytes"],
        serde_json::json!([["192.0.2.1", total]])
    );

    // At the default cap (16,384), 40 times the distinct addresses cost
    // no more than a few MiB more (counted exactly, with
    // netviz_histogram_size=1000000, the large one takes 47 MiB against
    // 14 MiB at the default cap).
    let (t_small, rss_small) = summary_and_rss(&small, &tmp.path().join("s"), &[]);
    let (t_large, rss_large) = summary_and_rss(&large, &tmp.path().join("l"), &[]);
    assert_eq!(t_small["src_addresses"]["undercount"], 0);
    assert!(t_large["src_addresses"]["undercount"].as_u64().unwrap() > 0);
    assert!(
        rss_large <= rss_small + 6 * 1024,
        "peak RSS {rss_small} KiB for 10,000 addresses, {rss_large} KiB for 400,000"
    );
}
