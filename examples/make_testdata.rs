//! Rewrites `testdata/`: one tiny capture per behaviour flowsplit must get
//! right, and `testdata/README.md` describing them. Deterministic: running it
//! twice gives the same bytes.
//!
//! ```text
//! cargo run --example make_testdata            # rewrites testdata/
//! cargo run --example make_testdata -- DIR     # writes into DIR instead
//! ```
//!
//! The integration tests include this file as a module (`tests/common`) to
//! check that the committed captures are what this generator makes, and to
//! share the few payloads too long to repeat literally.

use flowsplit_synth::{
    Endian, EthernetOptions, FragOrder, Ipv6Ext, Link, PacketSink, PcapFormat, PcapWriter,
    PcapngWriter, Side, TcpConversation, Timestamp, Vlan,
};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One generated capture.
pub struct Capture {
    /// File name inside `testdata/`.
    pub name: &'static str,
    /// What it holds (one line of `testdata/README.md`).
    pub about: &'static str,
    /// The capture file's bytes.
    pub bytes: Vec<u8>,
}

/// Capture time of the first packet of every capture: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000;

/// The IPv4 client most captures use.
pub const CLIENT4: &str = "10.0.0.1:40000";
/// The IPv4 server most captures use.
pub const SERVER4: &str = "10.0.0.2:80";
/// The IPv6 client.
pub const CLIENT6: &str = "[2001:db8::1]:40000";
/// The IPv6 server.
pub const SERVER6: &str = "[2001:db8::2]:80";

/// Payloads of the standard exchange in the link-type captures.
pub const C4: &[u8] = b"IPv4 client data\n";
/// See [`C4`].
pub const S4: &[u8] = b"IPv4 server data, a little longer\n";
/// See [`C4`].
pub const C6: &[u8] = b"IPv6 client data\n";
/// See [`C4`].
pub const S6: &[u8] = b"IPv6 server data, a little longer\n";

/// Deterministic printable bytes: `n` of them, varying with `seed`.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + usize::from(seed)) % 36])
        .collect()
}

/// Every capture the generator makes, in README order.
pub fn all() -> io::Result<Vec<Capture>> {
    let mut v = vec![
        cap("out_of_order.pcap", "Client data arrives as offsets 20, 10, 0; server data as 5, 0. Expect `ABCDEFGHIJKLMNOPQRSTUVWXYZ` / `helloworld`.", out_of_order()?),
        cap("retransmission.pcap", "Exact and partial retransmissions, one extending past the end. Expect `hello world! bye` / `ok`.", retransmission()?),
        cap("overlap_conflict.pcap", "Overlapping segments with different bytes at the same offsets; the bytes accepted first win. Expect `abcdefghijklmnop` / `012345`.", overlap_conflict()?),
        cap("wraparound.pcap", "ISNs 0xfffffff0 and 0xfffffffa: both directions cross 2^32 (the server's out of order). Expect `0123456789abcdefghijABCDEFGHIJ` / `abcde0123456789`.", wraparound()?),
        cap("overlap_pending.pcap", "A buffered out-of-order segment (offset 8) is overlapped by a later segment with different bytes; the buffered bytes win. Expect `ABCDefghwxyzMN` / `ok`.", overlap_pending()?),
        cap("syn_data.pcap", "The client's SYN carries data (as with TCP Fast Open). Expect `early+later` / `ok`.", syn_data()?),
        cap("syn_retransmission.pcap", "The client's SYN is sent twice (same ISN) before the SYN+ACK: one connection, no c1 file. Expect `one connection` / `ok`.", syn_retransmission()?),
        cap("port_reuse_open.pcap", "A new SYN (new ISNs) on the 4-tuple of a connection that never closed (at packet 6): the old connection ends, the new one gets c1 files.", port_reuse_open()?),
        cap("port_reuse.pcap", "Two connections on the same 4-tuple, one after the other (second SYN is packet 9). Expect files X and Xc1 per direction.", port_reuse()?),
        cap("midstream.pcap", "No handshake: the capture starts mid-connection; no FIN. Expect `middle of a stream, then more` / `reply`.", midstream()?),
        cap("midstream_late.pcap", "No handshake; the first client segment seen is at offset 10 (`0123456789`), then the 10 bytes before it arrive (still within the 64 KiB a mid-stream direction holds before fixing its start). Expect `early part0123456789` / `ok`.", midstream_late()?),
        cap("gap.pcap", "Segments never sent: client bytes 4..8, server bytes 5..8. No FIN. Expect zero-filled holes and gaps [[4,4]] / [[5,3]].", gap()?),
        cap("snaplen.pcap", "Snap length 64: a 20-byte segment keeps 10 bytes. Expect `0123456789` + 10 zero bytes + `short` and gap [[10,10]].", snaplen()?),
        cap("ipv4_fragments.pcap", "IPv4 segments fragmented: client 200 bytes in 24-byte fragments in order, server 120 bytes in 16-byte fragments in reverse.", ipv4_fragments()?),
        cap("ipv6_fragments.pcap", "The same over IPv6 with Hop-by-Hop and Destination Options headers before the Fragment header.", ipv6_fragments()?),
        cap("ipv4_options.pcap", "Every IPv4 header carries options (NOP + Record Route: IHL 7).", ipv4_options()?),
        cap("ipv6_ext_headers.pcap", "Every IPv6 packet carries Hop-by-Hop, Routing and Destination Options headers.", ipv6_ext_headers()?),
        cap("ipv6.pcap", "Plain IPv6 connections over Ethernet, one between 2001:db8::1 and 2001:db8::2, one between 2001:db8:0:1::10 and fe80::1.", ipv6()?),
        cap("vlan.pcap", "The same 4-tuple on 802.1Q VLAN 100 (priority 3) and VLAN 101: two connections, files suffixed --100 and --101.", vlan()?),
        cap("qinq.pcap", "QinQ: outer service tag 200 (0x88a8), inner tag 300 with priority 5. Files suffixed --300.", qinq()?),
        cap("padding.pcap", "Short Ethernet frames padded to 60 bytes (no TCP timestamps). Padding must not reach the streams. Expect `abcdefghijklmno` / `123456`.", padding()?),
        cap("big_endian.pcap", "Classic pcap written big-endian (microseconds), the standard exchange.", endian_nanos(Endian::Big, false)?),
        cap("nanosecond.pcap", "Classic pcap with nanosecond timestamps (magic a1b23c4d): first packet at 1700000000.123456789, then every 1.000001 ms.", endian_nanos(Endian::Little, true)?),
        cap("big_endian_nanosecond.pcap", "Big-endian and nanosecond at once; same packets and times as nanosecond.pcap.", endian_nanos(Endian::Big, true)?),
        cap("keepalive.pcap", "Keepalive probes (seq = next-1, empty or with one garbage byte), including one from the server before it sent any data. Expect `before keepalive|after keepalive` / `ok`.", keepalive()?),
        cap("zero_window.pcap", "The server advertises a zero window; the client sends two one-byte zero-window probes, then the data. Expect `0123456789ABCDEFGHIJ` / empty.", zero_window()?),
        cap("fin_rst.pcap", "Port 40001 closes with FINs; port 40002 ends with a server RST; port 40003 half-closes (client FIN, then server data, then server FIN).", fin_rst()?),
        cap("no_payload.pcap", "Port 40001: handshake and close, no data (no files). Port 40002: only the client sends data (one file).", no_payload()?),
        cap("non_tcp.pcap", "ARP, UDP and ICMP frames around one TCP connection: only the TCP connection makes files.", non_tcp()?),
        cap("timeout.pcap", "Port 40001 goes silent; 120 s later port 40002 runs a whole connection. With --timeout 60 the first connection ends by timeout.", timeout()?),
        cap("truncated.pcap", "Port 40001 complete; port 40002 sends `partial request`; the file ends in the middle of the next record (the server's reply).", truncated()?),
        cap("rotated_1.pcap", "First half of a connection split across two files (read with -r rotated_1.pcap -r rotated_2.pcap).", rotated(1)?),
        cap("rotated_2.pcap", "Second half; a second connection (port 40002) starts at its 3rd packet, so overall at packet 9.", rotated(2)?),
        cap("pcapng_mixed.pcapng", "pcapng with three interfaces: Ethernet (µs), raw IP (ns) and Linux SLL (2^-20 s), one connection on each, packets interleaved.", pcapng_mixed()?),
        cap("unknown_link.pcap", "Link type 147 (USER0): flowsplit cannot decode it.", unknown_link()?),
    ];
    for (name, link) in link_files() {
        v.push(Capture {
            name,
            about: "Link-type capture: an IPv4 connection, then an IPv6 one, each sending C4/S4 or C6/S6 and closing.",
            bytes: link_capture(link)?,
        });
    }
    Ok(v)
}

/// The link-type captures: name and link.
pub fn link_files() -> Vec<(&'static str, Link)> {
    let null = |v6_family, order| Link::Null { v6_family, order };
    vec![
        ("link_ethernet.pcap", Link::ethernet()),
        ("link_sll.pcap", Link::Sll),
        ("link_sll2.pcap", Link::Sll2 { ifindex: 2 }),
        ("link_null_le_24.pcap", null(24, Endian::Little)),
        ("link_null_le_28.pcap", null(28, Endian::Little)),
        ("link_null_le_30.pcap", null(30, Endian::Little)),
        ("link_null_be_24.pcap", null(24, Endian::Big)),
        ("link_null_be_28.pcap", null(28, Endian::Big)),
        ("link_null_be_30.pcap", null(30, Endian::Big)),
        ("link_loop.pcap", Link::Loop { v6_family: 24 }),
        ("link_raw12.pcap", Link::Raw(12)),
        ("link_raw14.pcap", Link::Raw(14)),
        ("link_raw101.pcap", Link::Raw(101)),
    ]
}

fn cap(name: &'static str, about: &'static str, bytes: Vec<u8>) -> Capture {
    Capture { name, about, bytes }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

fn t0() -> Timestamp {
    Timestamp::new(T0, 0)
}

/// An IPv4 conversation between `client` and `server` over `link`, starting at `start`.
fn conv(link: Link, client: &str, server: &str, start: Timestamp) -> TcpConversation {
    TcpConversation::new(link, addr(client), addr(server), start)
}

fn pcap(link: &Link) -> io::Result<PcapWriter<Vec<u8>>> {
    PcapWriter::new(Vec::new(), PcapFormat::default(), link.linktype())
}

/// Handshake, `c` from the client, `s` from the server, close.
fn exchange(
    conv: &mut TcpConversation,
    c: &[u8],
    s: &[u8],
    out: &mut impl PacketSink,
) -> io::Result<()> {
    conv.handshake(out)?;
    conv.send(Side::Client, c, out)?;
    conv.send(Side::Server, s, out)?;
    conv.close(out)
}

fn out_of_order() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send_at(Side::Client, 20, b"UVWXYZ", &mut w)?;
    c.send_at(Side::Client, 10, b"KLMNOPQRST", &mut w)?;
    c.send_at(Side::Client, 0, b"ABCDEFGHIJ", &mut w)?;
    c.send_at(Side::Server, 5, b"world", &mut w)?;
    c.send_at(Side::Server, 0, b"hello", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn retransmission() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send_at(Side::Client, 0, b"hello ", &mut w)?;
    c.send_at(Side::Client, 6, b"world", &mut w)?;
    c.send_at(Side::Client, 0, b"hello ", &mut w)?; // exact retransmission
    c.send_at(Side::Client, 3, b"lo wor", &mut w)?; // inside what was sent
    c.send_at(Side::Client, 11, b"!", &mut w)?;
    c.send_at(Side::Client, 9, b"ld! bye", &mut w)?; // 3 old bytes, 4 new
    c.send(Side::Server, b"ok", &mut w)?;
    c.send_at(Side::Server, 0, b"ok", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn overlap_conflict() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send_at(Side::Client, 0, b"abcdefgh", &mut w)?;
    c.send_at(Side::Client, 4, b"XXXXijkl", &mut w)?; // 4..8 conflicts, 8..12 new
    c.send_at(Side::Client, 12, b"mnop", &mut w)?;
    c.send_at(Side::Server, 0, b"0123", &mut w)?;
    c.send_at(Side::Server, 1, b"ZZ", &mut w)?; // wholly inside, conflicting
    c.send_at(Side::Server, 4, b"45", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn wraparound() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0()).with_isn(0xffff_fff0, 0xffff_fffa);
    c.handshake(&mut w)?;
    c.send(Side::Client, b"0123456789", &mut w)?; // seq 0xfffffff1..
    c.send(Side::Client, b"abcdefghij", &mut w)?; // crosses 2^32 at offset 15
    c.send(Side::Client, b"ABCDEFGHIJ", &mut w)?;
    c.send_at(Side::Server, 5, b"0123456789", &mut w)?; // seq 0, after the wrap
    c.send_at(Side::Server, 0, b"abcde", &mut w)?; // seq 0xfffffffb, before it
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn overlap_pending() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send_at(Side::Client, 0, b"ABCD", &mut w)?;
    c.send_at(Side::Client, 8, b"wxyz", &mut w)?; // buffered beyond a hole
    c.send_at(Side::Client, 4, b"efghIJKL", &mut w)?; // fills 4..8, conflicts on 8..12
    c.send_at(Side::Client, 12, b"MN", &mut w)?;
    c.send(Side::Server, b"ok", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn syn_data() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    let isn = c.seq_of(Side::Client, 0).wrapping_sub(1);
    c.send_seq(Side::Client, isn, flowsplit_synth::SYN, b"early", &mut w)?;
    c.skip(Side::Client, 5); // the SYN's data: the SYN+ACK acknowledges it
    c.syn(Side::Server, &mut w)?;
    c.ack(Side::Client, &mut w)?;
    c.send(Side::Client, b"+later", &mut w)?;
    c.send(Side::Server, b"ok", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn syn_retransmission() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.syn(Side::Client, &mut w)?;
    c.clock.advance(1_000_000_000);
    c.syn(Side::Client, &mut w)?;
    c.syn(Side::Server, &mut w)?;
    c.ack(Side::Client, &mut w)?;
    c.send(Side::Client, b"one connection", &mut w)?;
    c.send(Side::Server, b"ok", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn port_reuse_open() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send(Side::Client, b"never closed", &mut w)?;
    c.send(Side::Server, b"never closed either", &mut w)?; // packet 5
    let mut later = c.clock;
    later.advance(30_000_000_000);
    let mut c = conv(link, CLIENT4, SERVER4, later.now).with_isn(3_000_000_000, 40_000);
    exchange(&mut c, b"new connection", b"new reply", &mut w)?;
    Ok(w.into_inner())
}

fn port_reuse() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    exchange(&mut c, b"first request", b"first response", &mut w)?; // 8 packets
    let mut later = c.clock;
    later.advance(1_000_000_000);
    let mut c = conv(link, CLIENT4, SERVER4, later.now).with_isn(90_000, 7_000_000);
    exchange(&mut c, b"second request", b"second response", &mut w)?;
    Ok(w.into_inner())
}

fn midstream() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0()).with_isn(123_456, 987_654);
    c.send(Side::Client, b"middle of a stream", &mut w)?;
    c.send(Side::Server, b"reply", &mut w)?;
    c.send(Side::Client, b", then more", &mut w)?;
    c.ack(Side::Server, &mut w)?;
    Ok(w.into_inner())
}

fn midstream_late() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0()).with_isn(5_000, 9_000);
    c.send_at(Side::Client, 10, b"0123456789", &mut w)?;
    c.send_at(Side::Client, 0, b"early part", &mut w)?;
    c.send(Side::Server, b"ok", &mut w)?;
    Ok(w.into_inner())
}

fn gap() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send(Side::Client, b"AAAA", &mut w)?;
    c.skip(Side::Client, 4);
    c.send(Side::Client, b"CCCC", &mut w)?;
    c.send(Side::Client, b"DDDD", &mut w)?;
    c.send(Side::Server, b"hello", &mut w)?;
    c.skip(Side::Server, 3);
    c.send(Side::Server, b"world", &mut w)?;
    c.ack(Side::Client, &mut w)?;
    Ok(w.into_inner())
}

fn snaplen() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let format = PcapFormat {
        snaplen: 64,
        ..PcapFormat::default()
    };
    let mut w = PcapWriter::new(Vec::new(), format, link.linktype())?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.tcp_timestamps = false; // 54 bytes of headers: 10 payload bytes fit in 64
    c.handshake(&mut w)?;
    c.send(Side::Client, b"0123456789ABCDEFGHIJ", &mut w)?;
    c.send(Side::Client, b"short", &mut w)?;
    c.send(Side::Server, b"ok", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

/// Client payload of the fragment captures.
pub fn frag_client() -> Vec<u8> {
    pattern(200, 1)
}

/// Server payload of the fragment captures.
pub fn frag_server() -> Vec<u8> {
    pattern(120, 2)
}

fn fragments(mut c: TcpConversation) -> io::Result<Vec<u8>> {
    let mut w = pcap(&c.builder.link)?;
    c.handshake(&mut w)?;
    c.send_fragmented(Side::Client, &frag_client(), 24, FragOrder::InOrder, &mut w)?;
    c.send_fragmented(Side::Server, &frag_server(), 16, FragOrder::Reverse, &mut w)?;
    c.send(Side::Client, b"tail", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn ipv4_fragments() -> io::Result<Vec<u8>> {
    fragments(conv(Link::ethernet(), CLIENT4, SERVER4, t0()))
}

fn ipv6_fragments() -> io::Result<Vec<u8>> {
    let mut c = conv(Link::ethernet(), CLIENT6, SERVER6, t0());
    c.builder.ip.ipv6_ext = vec![Ipv6Ext::HopByHop, Ipv6Ext::DestinationOptions];
    fragments(c)
}

fn ipv4_options() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    // NOP, then Record Route (type 7, length 7, pointer 4, room for one address)
    c.builder.ip.ipv4_options = vec![1, 7, 7, 4, 0, 0, 0, 0];
    exchange(&mut c, C4, S4, &mut w)?;
    Ok(w.into_inner())
}

fn ipv6_ext_headers() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT6, SERVER6, t0());
    c.builder.ip.ipv6_ext = vec![
        Ipv6Ext::HopByHop,
        Ipv6Ext::Routing,
        Ipv6Ext::DestinationOptions,
    ];
    exchange(&mut c, C6, S6, &mut w)?;
    Ok(w.into_inner())
}

fn ipv6() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT6, SERVER6, t0());
    exchange(&mut c, C6, S6, &mut w)?;
    let mut c = conv(
        link,
        "[2001:db8:0:1::10]:50000",
        "[fe80::1]:443",
        c.clock.now,
    );
    exchange(&mut c, b"second v6 client", b"second v6 server", &mut w)?;
    Ok(w.into_inner())
}

fn tagged(vlan: Vlan) -> Link {
    Link::Ethernet(EthernetOptions {
        vlan,
        ..EthernetOptions::default()
    })
}

fn vlan() -> io::Result<Vec<u8>> {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1)?;
    let mut a = conv(tagged(Vlan::Dot1Q((3 << 13) | 100)), CLIENT4, SERVER4, t0());
    exchange(&mut a, b"on vlan 100", b"reply on vlan 100", &mut w)?;
    let mut b = conv(tagged(Vlan::Dot1Q(101)), CLIENT4, SERVER4, a.clock.now);
    exchange(&mut b, b"on vlan 101", b"reply on vlan 101", &mut w)?;
    Ok(w.into_inner())
}

fn qinq() -> io::Result<Vec<u8>> {
    let link = tagged(Vlan::QinQ {
        outer: 200,
        inner: (5 << 13) | 300,
    });
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    exchange(&mut c, b"inside QinQ", b"reply inside QinQ", &mut w)?;
    Ok(w.into_inner())
}

fn padding() -> io::Result<Vec<u8>> {
    let link = Link::Ethernet(EthernetOptions {
        pad_to_60: true,
        ..EthernetOptions::default()
    });
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.tcp_timestamps = false;
    c.handshake(&mut w)?;
    for p in [&b"a"[..], b"bc", b"def", b"ghij", b"klmno"] {
        c.send(Side::Client, p, &mut w)?;
    }
    for p in [&b"1"[..], b"23", b"456"] {
        c.send(Side::Server, p, &mut w)?;
    }
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn endian_nanos(endian: Endian, nanos: bool) -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let format = PcapFormat {
        endian,
        nanos,
        ..PcapFormat::default()
    };
    let mut w = PcapWriter::new(Vec::new(), format, link.linktype())?;
    let start = if nanos {
        Timestamp::new(T0, 123_456_789)
    } else {
        t0()
    };
    let mut c = conv(link, CLIENT4, SERVER4, start);
    if nanos {
        c.clock.step_nanos = 1_000_001;
    }
    exchange(&mut c, C4, S4, &mut w)?;
    Ok(w.into_inner())
}

fn keepalive() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send(Side::Client, b"before keepalive|", &mut w)?;
    c.ack(Side::Server, &mut w)?;
    c.clock.advance(45_000_000_000);
    c.keepalive(Side::Client, None, &mut w)?;
    c.ack(Side::Server, &mut w)?;
    c.keepalive(Side::Client, Some(b'X'), &mut w)?;
    c.ack(Side::Server, &mut w)?;
    c.keepalive(Side::Server, Some(b'?'), &mut w)?; // before any server data
    c.ack(Side::Client, &mut w)?;
    c.send(Side::Client, b"after keepalive", &mut w)?;
    c.send(Side::Server, b"ok", &mut w)?;
    c.keepalive(Side::Server, Some(b'!'), &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn zero_window() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    c.handshake(&mut w)?;
    c.send(Side::Client, b"0123456789", &mut w)?;
    c.set_window(Side::Server, 0);
    c.ack(Side::Server, &mut w)?;
    c.zero_window_probe(Side::Client, b'A', &mut w)?;
    c.ack(Side::Server, &mut w)?;
    c.clock.advance(200_000_000);
    c.zero_window_probe(Side::Client, b'A', &mut w)?;
    c.ack(Side::Server, &mut w)?;
    c.set_window(Side::Server, 65535);
    c.ack(Side::Server, &mut w)?;
    c.send(Side::Client, b"ABCDEFGHIJ", &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn fin_rst() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut a = conv(link, "10.0.0.1:40001", SERVER4, t0());
    exchange(&mut a, b"closed with fin", b"fin reply", &mut w)?;
    let mut b = conv(link, "10.0.0.1:40002", SERVER4, a.clock.now);
    b.handshake(&mut w)?;
    b.send(Side::Client, b"request", &mut w)?;
    b.send(Side::Server, b"partial resp", &mut w)?;
    b.rst(Side::Server, &mut w)?;
    let mut h = conv(link, "10.0.0.1:40003", SERVER4, b.clock.now);
    h.handshake(&mut w)?;
    h.send(Side::Client, b"upload", &mut w)?;
    h.fin(Side::Client, &mut w)?;
    h.send(Side::Server, b"response after client FIN", &mut w)?;
    h.fin(Side::Server, &mut w)?;
    h.ack(Side::Client, &mut w)?;
    Ok(w.into_inner())
}

fn no_payload() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut a = conv(link, "10.0.0.1:40001", SERVER4, t0());
    a.handshake(&mut w)?;
    a.close(&mut w)?;
    let mut b = conv(link, "10.0.0.1:40002", SERVER4, a.clock.now);
    b.handshake(&mut w)?;
    b.send(Side::Client, b"one-way", &mut w)?;
    b.ack(Side::Server, &mut w)?;
    b.close(&mut w)?;
    Ok(w.into_inner())
}

fn non_tcp() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    let (a, b) = (addr(CLIENT4).ip(), addr(SERVER4).ip());
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    let ts = c.clock.tick();
    w.write_packet(ts, c.builder.raw_l3(0x0806, &arp), 60)?;
    c.handshake(&mut w)?;
    let udp = [
        0x9c, 0x40, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'd', b'n', b's', b'?',
    ];
    let ts = c.clock.tick();
    w.frame(ts, c.builder.ip(a, b, 1, 17, &udp))?;
    c.send(Side::Client, C4, &mut w)?;
    let icmp = [8, 0, 0xf7, 0xfe, 0, 1, 0, 0];
    let ts = c.clock.tick();
    w.frame(ts, c.builder.ip(b, a, 2, 1, &icmp))?;
    c.send(Side::Server, S4, &mut w)?;
    c.close(&mut w)?;
    Ok(w.into_inner())
}

fn timeout() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut a = conv(link, "10.0.0.1:40001", SERVER4, t0());
    a.handshake(&mut w)?;
    a.send(Side::Client, b"idle soon", &mut w)?;
    a.ack(Side::Server, &mut w)?;
    let mut later = a.clock;
    later.advance(120_000_000_000);
    let mut b = conv(link, "10.0.0.1:40002", SERVER4, later.now);
    exchange(&mut b, b"later", b"later reply", &mut w)?;
    Ok(w.into_inner())
}

fn truncated() -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut a = conv(link, "10.0.0.1:40001", SERVER4, t0());
    exchange(&mut a, b"complete request", b"complete response", &mut w)?;
    let mut b = conv(link, "10.0.0.1:40002", SERVER4, a.clock.now);
    b.handshake(&mut w)?;
    b.send(Side::Client, b"partial request", &mut w)?;
    let before = w.get_ref().len();
    b.send(Side::Server, b"response that is cut off", &mut w)?;
    let mut bytes = w.into_inner();
    let record = bytes.len() - before;
    bytes.truncate(before + 16 + (record - 16) / 2);
    Ok(bytes)
}

/// Client payloads of the rotated captures, per file.
pub const ROTATED_CLIENT: [&[u8]; 2] = [b"part one|", b"part two"];
/// Server payloads of the rotated captures, per file.
pub const ROTATED_SERVER: [&[u8]; 2] = [b"ack one|", b"ack two"];

fn rotated(part: usize) -> io::Result<Vec<u8>> {
    let link = Link::ethernet();
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    let mut sink: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    // The whole conversation, then keep this file's part of it.
    c.handshake(&mut sink)?; // 3
    c.send(Side::Client, ROTATED_CLIENT[0], &mut sink)?; // 4
    c.send(Side::Server, ROTATED_SERVER[0], &mut sink)?; // 5
    c.ack(Side::Client, &mut sink)?; // 6: end of file 1
    c.send(Side::Client, ROTATED_CLIENT[1], &mut sink)?; // 7
    c.send(Side::Server, ROTATED_SERVER[1], &mut sink)?; // 8
    let mut d = conv(link, "10.0.0.1:40002", SERVER4, c.clock.now);
    exchange(&mut d, b"new in file 2", b"new reply", &mut sink)?; // 9..16
    c.clock = d.clock;
    c.close(&mut sink)?;
    let range = if part == 1 { 0..6 } else { 6..sink.len() };
    for (ts, f) in &sink[range] {
        w.frame(*ts, f)?;
    }
    Ok(w.into_inner())
}

/// Ports and payloads of the pcapng_mixed connections: (client port, client bytes, server bytes).
pub const PCAPNG_CONNS: [(u16, &[u8], &[u8]); 3] = [
    (40001, b"over ethernet", b"ethernet reply"),
    (40002, b"over raw ipv6", b"raw ipv6 reply"),
    (40003, b"over linux sll", b"sll reply"),
];

fn pcapng_mixed() -> io::Result<Vec<u8>> {
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little)?;
    let eth = w.add_interface(1, 262_144, 6)?;
    let raw = w.add_interface(101, 262_144, 9)?;
    let sll = w.add_interface(113, 0, 0x80 | 20)?;
    let setups: [(u32, Link, String, String, u32); 3] = [
        (
            eth,
            Link::ethernet(),
            "10.0.0.1:40001".into(),
            SERVER4.into(),
            0,
        ),
        (
            raw,
            Link::Raw(101),
            "[2001:db8::1]:40002".into(),
            SERVER6.into(),
            333_337,
        ),
        (
            sll,
            Link::Sll,
            "10.0.0.3:40003".into(),
            SERVER4.into(),
            666_016,
        ),
    ];
    let mut frames: Vec<(Timestamp, u32, Vec<u8>)> = Vec::new();
    for ((iface, link, client, server, offset), (_, cdata, sdata)) in
        setups.iter().zip(PCAPNG_CONNS)
    {
        let mut c = conv(*link, client, server, Timestamp::new(T0, *offset));
        let mut sink: Vec<(Timestamp, Vec<u8>)> = Vec::new();
        exchange(&mut c, cdata, sdata, &mut sink)?;
        frames.extend(sink.into_iter().map(|(t, f)| (t, *iface, f)));
    }
    frames.sort_by_key(|(t, i, _)| (*t, *i));
    for (t, i, f) in &frames {
        w.write_packet(*i, *t, f, f.len() as u32)?;
    }
    Ok(w.into_inner())
}

fn unknown_link() -> io::Result<Vec<u8>> {
    let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 147)?;
    let mut c = conv(Link::Raw(147), CLIENT4, SERVER4, t0());
    exchange(&mut c, C4, S4, &mut w)?;
    Ok(w.into_inner())
}

fn link_capture(link: Link) -> io::Result<Vec<u8>> {
    let mut w = pcap(&link)?;
    let mut c = conv(link, CLIENT4, SERVER4, t0());
    exchange(&mut c, C4, S4, &mut w)?;
    let mut c6 = conv(link, CLIENT6, SERVER6, c.clock.now);
    exchange(&mut c6, C6, S6, &mut w)?;
    Ok(w.into_inner())
}

/// The line ending the generated part of `testdata/README.md`. Captures made
/// some other way are described after it, by hand; the generator keeps that part.
pub const OTHERS_MARKER: &str = "<!-- Generated above by examples/make_testdata.rs; captures made otherwise are described below. -->\n";

/// The generated part of `testdata/README.md`, ending with [`OTHERS_MARKER`].
pub fn readme(caps: &[Capture]) -> String {
    let mut s = String::from(
        "# testdata\n\n\
         Every capture here is synthetic and was written by `examples/make_testdata.rs` \
         (`cargo run --example make_testdata`), using the `flowsplit_synth` library: scripted \
         TCP conversations (`synth::TcpConversation`) framed for each link type and written with \
         `synth::PcapWriter` / `synth::PcapngWriter`. Do not edit them by hand: change the \
         generator and run it again (it is deterministic; `tests/testdata.rs` fails when a file \
         differs from what the generator makes).\n\n\
         Unless a line says otherwise: Ethernet, little-endian microsecond pcap, first packet at \
         1700000000.000000000 (2023-11-14T22:13:20Z) and one packet per millisecond; IPv4 client \
         10.0.0.1:40000, server 10.0.0.2:80 (files `010.000.000.001.40000-010.000.000.002.00080` \
         and `010.000.000.002.00080-010.000.000.001.40000`); IPv6 client [2001:db8::1]:40000, \
         server [2001:db8::2]:80; TCP timestamps option on every segment; client ISN 1000, server \
         ISN 500000; checksums valid. \"Expect A / B\" gives the client and server streams.\n\n\
         The integration tests (`tests/reassembly.rs`, `tests/links.rs`, `tests/cli.rs`) state \
         the exact files, contents and report lines expected from each capture.\n\n\
         | file | what it holds |\n|---|---|\n",
    );
    for c in caps {
        s.push_str(&format!("| `{}` | {} |\n", c.name, c.about));
    }
    s.push_str(
        "\nThe standard exchange of the link-type captures: the client sends `IPv4 client data\\n`, \
         the server `IPv4 server data, a little longer\\n`, then FINs; then the same over IPv6 \
         (`IPv6 client data\\n` / `IPv6 server data, a little longer\\n`). NULL captures write \
         family 2 for IPv4 and the number in their name for IPv6, in little- (`le`) or big-endian \
         (`be`) order inside a little-endian pcap; LOOP writes 2 and 24 in network order.\n\n",
    );
    s.push_str(OTHERS_MARKER);
    s
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
    // Keep whatever others wrote after the marker (captures made elsewhere).
    let path = dir.join("README.md");
    let kept = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| {
            t.split_once(OTHERS_MARKER)
                .map(|(_, rest)| rest.to_string())
        })
        .unwrap_or_else(|| "\n".to_string());
    std::fs::write(&path, readme(&caps) + &kept)?;
    println!("wrote {} captures to {}", caps.len(), dir.display());
    Ok(())
}
