//! Writes the tunnel and link-type captures of `testdata/` (`tunnel_*`,
//! `link_*` beyond the basic ones) and the section describing them at the
//! end of `testdata/README.md`. Deterministic: running it twice gives the
//! same bytes. The section goes after the marker line of the README, below
//! which `examples/make_testdata.rs` keeps whatever is there.
//!
//! ```text
//! cargo run --example make_tunnel_testdata            # writes into testdata/
//! cargo run --example make_tunnel_testdata -- DIR     # writes into DIR instead
//! ```
//!
//! `tests/tunnels.rs` includes this file as a module: it checks that the
//! committed captures are what this generator makes, and takes the expected
//! streams of each capture from [`Capture::expect`].

use flowsplit_synth::tunnel::{TunnelSink, Wrap};
use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One generated capture and the streams flowsplit must write from it.
pub struct Capture {
    /// File name inside `testdata/`.
    pub name: &'static str,
    /// What it holds (one line of the README section).
    pub about: String,
    /// The capture file's bytes.
    pub bytes: Vec<u8>,
    /// Every file flowsplit writes for it: name and exact contents.
    pub expect: Vec<(String, Vec<u8>)>,
}

/// Capture time of the first packet: 2023-11-14T22:13:20Z, as in the other captures.
pub const T0: i64 = 1_700_000_000;

/// Client-to-server payload of every capture.
pub const CLIENT_DATA: &[u8] = b"tunnelled client data\n";
/// Server-to-client payload of every capture.
pub const SERVER_DATA: &[u8] = b"tunnelled server data, a little longer\n";

/// Heading of the README section this generator owns.
pub const SECTION: &str = "## Tunnels and more link types";

const CLIENT4: &str = "10.0.0.1:40000";
const SERVER4: &str = "10.0.0.2:80";
const CLIENT6: &str = "[2001:db8::1]:40000";
const SERVER6: &str = "[2001:db8::2]:80";
/// File names of the IPv4 connection.
pub const CS: &str = "010.000.000.001.40000-010.000.000.002.00080";
/// See [`CS`].
pub const SC: &str = "010.000.000.002.00080-010.000.000.001.40000";
/// File names of the IPv6 connection.
pub const CS6: &str = "2001:db8::1.40000-2001:db8::2.00080";
/// See [`CS6`].
pub const SC6: &str = "2001:db8::2.00080-2001:db8::1.40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

fn ip(a: &str, b: &str) -> Wrap {
    Wrap::ip(a, b)
}

fn gre(key: Option<u32>, seq: bool, checksum: bool) -> Wrap {
    Wrap::Gre { key, seq, checksum }
}

fn udp(port: u16) -> Wrap {
    Wrap::Udp {
        client_port: 50123,
        server_port: port,
    }
}

const A4: &str = "192.0.2.1";
const B4: &str = "192.0.2.2";
const A6: &str = "2001:db8:ffff::1";
const B6: &str = "2001:db8:ffff::2";

/// The standard exchange (handshake, one send each way, close) between
/// `client` and `server`, inside `layers`.
fn exchange(layers: Vec<Wrap>, client: &str, server: &str) -> io::Result<Vec<u8>> {
    let pcap = PcapWriter::new(Vec::new(), PcapFormat::default(), Wrap::linktype(&layers))?;
    let mut sink = TunnelSink::new(pcap, layers, addr(client));
    let mut c = TcpConversation::new(
        Link::Raw(101),
        addr(client),
        addr(server),
        Timestamp::new(T0, 0),
    );
    c.handshake(&mut sink)?;
    c.send(Side::Client, CLIENT_DATA, &mut sink)?;
    c.send(Side::Server, SERVER_DATA, &mut sink)?;
    c.close(&mut sink)?;
    Ok(sink.into_inner().into_inner())
}

fn v4(name: &'static str, about: &str, layers: Vec<Wrap>) -> io::Result<Capture> {
    Ok(Capture {
        name,
        about: about.into(),
        bytes: exchange(layers, CLIENT4, SERVER4)?,
        expect: standard(false),
    })
}

fn v6(name: &'static str, about: &str, layers: Vec<Wrap>) -> io::Result<Capture> {
    Ok(Capture {
        name,
        about: about.into(),
        bytes: exchange(layers, CLIENT6, SERVER6)?,
        expect: standard(true),
    })
}

/// The two files of the standard exchange.
fn standard(v6: bool) -> Vec<(String, Vec<u8>)> {
    let (cs, sc) = if v6 { (CS6, SC6) } else { (CS, SC) };
    vec![
        (cs.to_string(), CLIENT_DATA.to_vec()),
        (sc.to_string(), SERVER_DATA.to_vec()),
    ]
}

/// Every capture, in README order.
pub fn all() -> io::Result<Vec<Capture>> {
    let e = || Wrap::Ethernet;
    let wlan = |qos, data_pad| Wrap::Wlan {
        qos,
        four_address: false,
        data_pad,
    };
    Ok(vec![
        v4("tunnel_gre.pcap", "`ethernet/ipv4/gre/ipv4`: plain GRE.", vec![e(), ip(A4, B4), gre(None, false, false)])?,
        v4("tunnel_gre_options.pcap", "`ethernet/ipv4/gre key 77/ipv4`: GRE with checksum, key 77 and sequence numbers.", vec![e(), ip(A4, B4), gre(Some(77), true, true)])?,
        v4("tunnel_gre_ethernet.pcap", "`ethernet/ipv4/gre key 0/ethernet/ipv4`: GRE carrying Ethernet (0x6558), as Zeek's erspan.pcap.", vec![e(), ip(A4, B4), gre(Some(0), false, false), e()])?,
        v6("tunnel_gre_ipv6.pcap", "`ethernet/ipv6/gre/ipv6`: GRE over IPv6 carrying IPv6.", vec![e(), ip(A6, B6), gre(None, false, false)])?,
        v4("tunnel_erspan1.pcap", "`ethernet/ipv4/gre/erspan1/ethernet/ipv4`: ERSPAN type I (GRE 0x88be, no sequence number, no header).", vec![e(), ip(A4, B4), gre(None, false, false), Wrap::Erspan1, e()])?,
        v4("tunnel_erspan2.pcap", "`ethernet/ipv4/gre/erspan2 100/ethernet/ipv4`: ERSPAN type II, session 100.", vec![e(), ip(A4, B4), gre(None, true, false), Wrap::Erspan2(100), e()])?,
        v4("tunnel_erspan3.pcap", "`ethernet/ipv4/gre/erspan3 5/ethernet/ipv4`: ERSPAN type III, session 5, with the platform-specific subheader.", vec![e(), ip(A4, B4), gre(None, true, false), Wrap::Erspan3 { session: 5, subheader: true }, e()])?,
        v4("tunnel_vxlan.pcap", "`ethernet/ipv4/udp/vxlan 5000/ethernet/ipv4`: VXLAN on UDP 4789, VNI 5000.", vec![e(), ip(A4, B4), udp(4789), Wrap::Vxlan(5000), e()])?,
        v6("tunnel_geneve.pcap", "`ethernet/ipv4/udp/geneve 7/ethernet/ipv6`: Geneve on UDP 6081, VNI 7, 12 bytes of options.", vec![e(), ip(A4, B4), udp(6081), Wrap::Geneve { vni: 7, option_words: 3 }, e()])?,
        v4("tunnel_mpls.pcap", "`ethernet/mpls 100/mpls 200/ipv4`: a two-label MPLS stack.", vec![e(), Wrap::Mpls(100), Wrap::Mpls(200)])?,
        v6("tunnel_mpls_sll.pcap", "`sll/mpls 16/ipv6`: MPLS in a Linux cooked capture.", vec![Wrap::Sll, Wrap::Mpls(16)])?,
        v4("tunnel_pppoe.pcap", "`ethernet/vlan 30/pppoe 15130/ipv4`: a PPPoE session on VLAN 30 (files suffixed `--30`).", vec![e(), Wrap::Vlan(30), Wrap::PppoeSession(0x3b1a)])?.with_vlan(30),
        v4("tunnel_4in4.pcap", "`ethernet/ipv4/ipv4`: IPv4 in IPv4.", vec![e(), ip(A4, B4)])?,
        v6("tunnel_6in4.pcap", "`ethernet/ipv4/ipv6`: IPv6 in IPv4 (protocol 41).", vec![e(), ip(A4, B4)])?,
        v4("tunnel_4in6.pcap", "`ethernet/ipv6/ipv4`: IPv4 in IPv6.", vec![e(), ip(A6, B6)])?,
        v6("tunnel_6in6.pcap", "`ethernet/ipv6/ipv6`: IPv6 in IPv6.", vec![e(), ip(A6, B6)])?,
        v6("tunnel_teredo.pcap", "`ethernet/ipv4/udp/teredo/ipv6`: Teredo on UDP 3544 with authentication and origin indicators.", vec![e(), ip(A4, B4), udp(3544), Wrap::Teredo { auth: true, origin: true }])?,
        v4("tunnel_gtpu.pcap", "`ethernet/ipv4/udp/gtp-u 4096/ipv4`: GTP-U from UDP 5906 to 2152, TEID 4096 up and 8192 down, one extension header.", vec![e(), ip(A4, B4), Wrap::Udp { client_port: 5906, server_port: 2152 }, Wrap::GtpU { client_teid: 4096, server_teid: 8192, extension: true }])?,
        v6("tunnel_ayiya.pcap", "`ethernet/ipv4/udp/ayiya/ipv6`: AYIYA on UDP 5072.", vec![e(), ip(A4, B4), udp(5072), Wrap::Ayiya])?,
        v6("tunnel_l2tp.pcap", "`ethernet/ipv4/udp/l2tp 9/ipv6`: L2TPv2 data messages on UDP 1701 carrying PPP.", vec![e(), ip(A4, B4), udp(1701), Wrap::L2tp { tunnel: 4, session: 9 }])?,
        v4("tunnel_nested.pcap", "`ethernet/vlan 100/ipv4/gre/erspan2 1/ethernet/ipv4/udp/vxlan 0/ethernet/ipv4`: as Arkime's gre-erspan-vxlan.pcap; the underlay VLAN does not name the files.", vec![e(), Wrap::Vlan(100), ip("100.20.9.2", "100.20.9.1"), gre(None, true, false), Wrap::Erspan2(1), e(), ip("172.16.27.131", "172.16.27.121"), udp(4789), Wrap::Vxlan(0), e()])?,
        v4("tunnel_outer_fragments.pcap", "`ethernet/ipv4/gre key 1/ipv4` with every outer datagram split into 32-byte IPv4 fragments.", vec![e(), Wrap::Ip { client_side: A4.parse().expect("address"), server_side: B4.parse().expect("address"), fragment: Some(32) }, gre(Some(1), false, false)])?,
        two_tunnels()?,
        v4("link_nflog.pcap", "NFLOG (LINKTYPE 239): packet header, prefix and payload TLVs, little-endian.", vec![Wrap::Nflog { big_endian: false }])?,
        v6("link_nflog_be.pcap", "NFLOG with big-endian TLV lengths and types, IPv6.", vec![Wrap::Nflog { big_endian: true }])?,
        v4("link_chdlc.pcap", "Cisco HDLC (LINKTYPE 104).", vec![Wrap::CiscoHdlc])?,
        v6("link_ppp.pcap", "PPP (LINKTYPE 9) with address and control bytes, IPv6.", vec![Wrap::Ppp { linktype: 9 }])?,
        v4("link_ppp_hdlc.pcap", "PPP in HDLC-like framing (LINKTYPE 50).", vec![Wrap::Ppp { linktype: 50 }])?,
        wlan_capture()?,
        v4("link_radiotap.pcap", "Radiotap + 802.11 QoS data (LINKTYPE 127), FCS at the end of every frame.", vec![Wrap::Radiotap { data_pad: false, fcs: true }, wlan(true, false)])?,
        v4("link_radiotap_pad.pcap", "Radiotap with the data-pad flag: the 26-byte QoS header is padded to 28.", vec![Wrap::Radiotap { data_pad: true, fcs: false }, wlan(true, true)])?,
        v4("link_ppi.pcap", "PPI (LINKTYPE 192) naming 802.11.", vec![Wrap::Ppi, wlan(false, false)])?,
        v4("link_ipv4_228.pcap", "Raw IPv4 (LINKTYPE 228).", vec![])?.relinked(228),
        v6("link_ipv6_229.pcap", "Raw IPv6 (LINKTYPE 229).", vec![])?.relinked(229),
    ])
}

impl Capture {
    /// The expected files carry the VLAN suffix `--vid`.
    fn with_vlan(mut self, vid: u16) -> Capture {
        for (name, _) in &mut self.expect {
            name.push_str(&format!("--{vid}"));
        }
        self
    }

    /// The same capture declaring link type `linktype` (bytes 20..24 of a
    /// little-endian pcap header).
    fn relinked(mut self, linktype: u32) -> Capture {
        self.bytes[20..24].copy_from_slice(&linktype.to_le_bytes());
        self
    }
}

/// Client data of the two connections of `tunnel_two_tunnels.pcap`.
pub const TWO_TUNNELS_CLIENT: [&[u8]; 2] = [
    b"through tunnel one\n",
    b"through tunnel two, same 4-tuple\n",
];
/// Server data of the two connections.
pub const TWO_TUNNELS_SERVER: [&[u8]; 2] = [b"reply one\n", b"reply two\n"];

/// The same inner 4-tuple through two GRE tunnels with different outer
/// endpoints, at the same time: two connections, never merged.
fn two_tunnels() -> io::Result<Capture> {
    let layers = |b: &str| vec![Wrap::Ethernet, ip(A4, b), gre(None, false, false)];
    let mut frames: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    for (i, b) in ["192.0.2.2", "192.0.2.3"].into_iter().enumerate() {
        let mut sink = TunnelSink::new(Vec::new(), layers(b), addr(CLIENT4));
        let start = Timestamp::new(T0, 500_000 * i as u32);
        let mut c = TcpConversation::new(Link::Raw(101), addr(CLIENT4), addr(SERVER4), start)
            .with_isn(1000 + 7777 * i as u32, 500_000 + 9999 * i as u32);
        c.handshake(&mut sink)?;
        c.send(Side::Client, TWO_TUNNELS_CLIENT[i], &mut sink)?;
        c.send(Side::Server, TWO_TUNNELS_SERVER[i], &mut sink)?;
        c.close(&mut sink)?;
        frames.extend(sink.into_inner());
    }
    frames.sort_by_key(|(t, _)| *t);
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1)?;
    for (t, f) in &frames {
        w.write_packet(*t, f, f.len() as u32)?;
    }
    Ok(Capture {
        name: "tunnel_two_tunnels.pcap",
        about: "The same inner 4-tuple through GRE tunnels 192.0.2.1-192.0.2.2 and 192.0.2.1-192.0.2.3 at the same time (frames interleaved): two connections, files X and Xc1 per direction.".into(),
        bytes: w.into_inner(),
        expect: vec![
            (CS.to_string(), TWO_TUNNELS_CLIENT[0].to_vec()),
            (SC.to_string(), TWO_TUNNELS_SERVER[0].to_vec()),
            (format!("{CS}c1"), TWO_TUNNELS_CLIENT[1].to_vec()),
            (format!("{SC}c1"), TWO_TUNNELS_SERVER[1].to_vec()),
        ],
    })
}

/// 802.11 data frames, with a beacon, a null-data frame and a protected
/// (encrypted) data frame between them that must be skipped.
fn wlan_capture() -> io::Result<Capture> {
    let layers = vec![Wrap::Wlan {
        qos: true,
        four_address: false,
        data_pad: false,
    }];
    let pcap = PcapWriter::new(Vec::new(), PcapFormat::default(), Wrap::linktype(&layers))?;
    let mut sink = TunnelSink::new(pcap, layers, addr(CLIENT4));
    let mut c = TcpConversation::new(
        Link::Raw(101),
        addr(CLIENT4),
        addr(SERVER4),
        Timestamp::new(T0, 0),
    );
    c.handshake(&mut sink)?;
    let header = |fc: u8, flags: u8| {
        let mut v = vec![fc, flags, 0, 0];
        v.extend([
            0x02, 0, 0, 0, 0, 0x0a, 0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0c,
        ]);
        v.extend([0x20, 0x00]);
        v
    };
    let mut beacon = header(0x80, 0);
    beacon.extend([0; 12]);
    let null = header(0x48, 0x01);
    let mut protected = header(0x08, 0x41);
    protected.extend(b"\x01\x00\x00\x20ciphertext that is not IP at all");
    for f in [&beacon, &null, &protected] {
        let ts = c.clock.tick();
        sink.get_mut().write_packet(ts, f, f.len() as u32)?;
    }
    c.send(Side::Client, CLIENT_DATA, &mut sink)?;
    c.send(Side::Server, SERVER_DATA, &mut sink)?;
    c.close(&mut sink)?;
    Ok(Capture {
        name: "link_ieee802_11.pcap",
        about: "802.11 QoS data frames (LINKTYPE 105), ToDS from the client and FromDS to it; a beacon, a null-data frame and a protected data frame after the handshake are skipped.".into(),
        bytes: sink.into_inner().into_inner(),
        expect: standard(false),
    })
}

/// The README section describing these captures.
pub fn readme_section(caps: &[Capture]) -> String {
    let mut s = format!(
        "\n{SECTION}\n\n\
         Written by `examples/make_tunnel_testdata.rs` (`cargo run --example make_tunnel_testdata`); \
         checked by \
         `tests/tunnels.rs`, which runs flowsplit on each and compares every file byte for byte. \
         Each capture holds the standard exchange inside the encapsulation named in backquotes \
         (the path flowsplit reports): handshake, the client sends `tunnelled client data\\n`, \
         the server `tunnelled server data, a little longer\\n`, both close. The inner endpoints \
         are the usual ones (10.0.0.1:40000 / 10.0.0.2:80, or [2001:db8::1]:40000 / \
         [2001:db8::2]:80), so the files have the usual names; outer endpoints are 192.0.2.1 \
         (client side) and 192.0.2.2, or 2001:db8:ffff::1 and ::2. Inner packets are built \
         without link header and wrapped by `synth::tunnel`.\n\n\
         | file | what it holds |\n|---|---|\n"
    );
    for c in caps {
        s.push_str(&format!("| `{}` | {} |\n", c.name, c.about));
    }
    s
}

/// `readme` with this generator's section replaced by the current one
/// (up to the next `## ` heading, so sections others add after it stay),
/// or, when absent, followed by it.
pub fn with_section(readme: &str, caps: &[Capture]) -> String {
    let section = readme_section(caps);
    match readme.find(&format!("\n{SECTION}\n")) {
        Some(i) => {
            let head = readme[..i].trim_end_matches('\n');
            let after = &readme[i + 1..];
            let tail = after[SECTION.len()..]
                .find("\n## ")
                .map(|k| &after[SECTION.len() + k..])
                .unwrap_or("");
            format!("{head}\n{section}{tail}")
        }
        None => format!("{}\n{section}", readme.trim_end_matches('\n')),
    }
}

#[allow(dead_code)]
fn main() -> io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata"));
    std::fs::create_dir_all(&dir)?;
    let caps = all()?;
    for c in &caps {
        std::fs::write(dir.join(c.name), &c.bytes)?;
    }
    let readme_path = dir.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap_or_default();
    std::fs::write(&readme_path, with_section(&readme, &caps))?;
    println!("wrote {} captures to {}", caps.len(), dir.display());
    Ok(())
}
