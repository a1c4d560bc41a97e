//! Frame builders: a TCP segment inside IPv4 or IPv6 (with options, extension
//! headers and fragmentation) inside any link-layer header flowsplit reads.
//! Headers are built by hand so that every field (padding, tag bytes, family
//! byte order, fragment layout) is under the caller's control. IPv4 header
//! and TCP checksums are computed.

use super::pcap::Endian;
use std::io;
use std::net::IpAddr;

/// TCP FIN flag.
pub const FIN: u8 = 0x01;
/// TCP SYN flag.
pub const SYN: u8 = 0x02;
/// TCP RST flag.
pub const RST: u8 = 0x04;
/// TCP PSH flag.
pub const PSH: u8 = 0x08;
/// TCP ACK flag.
pub const ACK: u8 = 0x10;
/// TCP URG flag.
pub const URG: u8 = 0x20;

/// 802.1Q tagging of an Ethernet frame. Tag values are whole TCIs (priority,
/// drop-eligible bit and 12-bit VLAN id), written as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vlan {
    /// No tag.
    #[default]
    None,
    /// One 802.1Q tag (TPID 0x8100) with this TCI.
    Dot1Q(u16),
    /// 802.1ad QinQ: an outer service tag (TPID 0x88a8) and an inner 802.1Q tag.
    QinQ {
        /// The outer (service) tag's TCI.
        outer: u16,
        /// The inner (customer) tag's TCI.
        inner: u16,
    },
}

/// Settings of the Ethernet link layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetOptions {
    /// Source MAC address.
    pub src: [u8; 6],
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// VLAN tags.
    pub vlan: Vlan,
    /// Pad frames shorter than 60 bytes to 60, as a NIC does (the padding is
    /// not part of the IP datagram and must never reach a stream).
    pub pad_to_60: bool,
    /// The byte padding is made of.
    pub pad_byte: u8,
}

impl Default for EthernetOptions {
    /// Fixed locally administered MACs, no tags, no padding.
    fn default() -> Self {
        EthernetOptions {
            src: [0x02, 0, 0, 0, 0, 0x01],
            dst: [0x02, 0, 0, 0, 0, 0x02],
            vlan: Vlan::None,
            pad_to_60: false,
            pad_byte: 0,
        }
    }
}

/// The link-layer header frames get, and so the capture's link type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II (LINKTYPE 1).
    Ethernet(EthernetOptions),
    /// Linux cooked capture v1 (LINKTYPE 113): 16-byte header.
    Sll,
    /// Linux cooked capture v2 (LINKTYPE 276): 20-byte header.
    Sll2 {
        /// The interface index written in the header.
        ifindex: u32,
    },
    /// BSD loopback (LINKTYPE 0): 4-byte address family in the writing host's
    /// byte order. IPv4 is family 2; IPv6 is 24 (NetBSD, OpenBSD), 28
    /// (FreeBSD) or 30 (macOS).
    Null {
        /// Family value written for IPv6 packets.
        v6_family: u32,
        /// Byte order of the family field.
        order: Endian,
    },
    /// OpenBSD loopback (LINKTYPE 108): 4-byte address family in network
    /// byte order; IPv4 is 2.
    Loop {
        /// Family value written for IPv6 packets.
        v6_family: u32,
    },
    /// Raw IP, no link header. The value is the link type to record: 12 or 14
    /// (the BSD DLT_RAW numbers) or 101 (LINKTYPE_RAW).
    Raw(u32),
}

impl Link {
    /// Untagged, unpadded Ethernet with default addresses.
    pub fn ethernet() -> Link {
        Link::Ethernet(EthernetOptions::default())
    }

    /// The `LINKTYPE_*` value a capture of these frames declares.
    pub fn linktype(&self) -> u32 {
        match self {
            Link::Ethernet(_) => 1,
            Link::Sll => 113,
            Link::Sll2 { .. } => 276,
            Link::Null { .. } => 0,
            Link::Loop { .. } => 108,
            Link::Raw(t) => *t,
        }
    }

    /// Append this link's header for a payload of `ethertype` (0x0800 IPv4,
    /// 0x86dd IPv6, or anything else for non-IP traffic).
    fn write_header(&self, ethertype: u16, buf: &mut Vec<u8>) {
        let v6 = ethertype == 0x86dd;
        match self {
            Link::Ethernet(o) => {
                buf.extend_from_slice(&o.dst);
                buf.extend_from_slice(&o.src);
                match o.vlan {
                    Vlan::None => {}
                    Vlan::Dot1Q(tci) => {
                        buf.extend_from_slice(&[0x81, 0x00]);
                        buf.extend_from_slice(&tci.to_be_bytes());
                    }
                    Vlan::QinQ { outer, inner } => {
                        buf.extend_from_slice(&[0x88, 0xa8]);
                        buf.extend_from_slice(&outer.to_be_bytes());
                        buf.extend_from_slice(&[0x81, 0x00]);
                        buf.extend_from_slice(&inner.to_be_bytes());
                    }
                }
                buf.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                buf.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
                buf.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                buf.extend_from_slice(&6u16.to_be_bytes()); // address length
                buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
                buf.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 { ifindex } => {
                buf.extend_from_slice(&ethertype.to_be_bytes());
                buf.extend_from_slice(&[0, 0]); // reserved
                buf.extend_from_slice(&ifindex.to_be_bytes());
                buf.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                buf.push(0); // packet type: to us
                buf.push(6); // address length
                buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0, 0]);
            }
            Link::Null { v6_family, order } => {
                let family = if v6 { *v6_family } else { 2 };
                buf.extend_from_slice(&order.u32(family));
            }
            Link::Loop { v6_family } => {
                let family = if v6 { *v6_family } else { 2 };
                buf.extend_from_slice(&family.to_be_bytes());
            }
            Link::Raw(_) => {}
        }
    }
}

/// An IPv6 extension header placed before the TCP header (each is the
/// minimal 8 bytes). With fragmentation they all go in the unfragmentable
/// part, before the Fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-Hop Options (next-header value 0), holding one PadN option.
    HopByHop,
    /// Destination Options (60), holding one PadN option.
    DestinationOptions,
    /// Routing header (43), type 0 with no segments left.
    Routing,
}

impl Ipv6Ext {
    fn protocol(self) -> u8 {
        match self {
            Ipv6Ext::HopByHop => 0,
            Ipv6Ext::DestinationOptions => 60,
            Ipv6Ext::Routing => 43,
        }
    }
}

/// Settings of the IP layer shared by every packet a builder makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpOptions {
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// Raw IPv4 option bytes (padded with End-of-Options to a multiple of 4;
    /// at most 40 bytes).
    pub ipv4_options: Vec<u8>,
    /// IPv6 extension headers, in order.
    pub ipv6_ext: Vec<Ipv6Ext>,
    /// Set the IPv4 Don't Fragment bit on unfragmented packets.
    pub dont_fragment: bool,
}

impl Default for IpOptions {
    /// TTL 64, no options, no extension headers, DF clear.
    fn default() -> Self {
        IpOptions {
            ttl: 64,
            ipv4_options: Vec::new(),
            ipv6_ext: Vec::new(),
            dont_fragment: false,
        }
    }
}

/// The fields of a TCP header. Options are limited to the two that matter
/// for realism: MSS (on SYNs) and timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpHeader {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags ([`SYN`], [`ACK`], ... or-ed together).
    pub flags: u8,
    /// Advertised window.
    pub window: u16,
    /// An MSS option, if any.
    pub mss: Option<u16>,
    /// A timestamps option (TSval, TSecr), if any.
    pub timestamps: Option<(u32, u32)>,
}

impl TcpHeader {
    /// Header length in bytes (20 plus options, padded to 4).
    pub fn len(&self) -> usize {
        20 + if self.mss.is_some() { 4 } else { 0 } + if self.timestamps.is_some() { 12 } else { 0 }
    }

    /// Always false: a TCP header is at least 20 bytes (for clippy's sake).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// How [`FrameBuilder::tcp_fragments`] splits a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragmentation {
    /// The datagram's identification (16 bits used for IPv4, 32 for IPv6).
    pub ident: u32,
    /// Bytes of the TCP segment per fragment, rounded down to a multiple of 8
    /// (at least 8). The last fragment holds what is left.
    pub size: usize,
    /// The order fragments are emitted in.
    pub order: FragOrder,
}

/// In what order the fragments of a datagram are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragOrder {
    /// First fragment first.
    InOrder,
    /// Last fragment first.
    Reverse,
}

/// Builds frames into a buffer it owns and reuses: each call returns a
/// borrow of that buffer, valid until the next call.
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    /// The link-layer header every frame gets.
    pub link: Link,
    /// IP-layer settings.
    pub ip: IpOptions,
    frame: Vec<u8>,
    l4: Vec<u8>,
}

impl FrameBuilder {
    /// A builder for `link` with default IP settings.
    pub fn new(link: Link) -> Self {
        FrameBuilder {
            link,
            ip: IpOptions::default(),
            frame: Vec::with_capacity(2048),
            l4: Vec::with_capacity(2048),
        }
    }

    /// One frame carrying a TCP segment from `src` to `dst`. `ident` is the
    /// IPv4 identification (low 16 bits; unused for IPv6 unless fragmented).
    ///
    /// # Panics
    /// When `src` and `dst` are not of the same IP version.
    pub fn tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        ident: u32,
        tcp: &TcpHeader,
        payload: &[u8],
    ) -> &[u8] {
        self.build_tcp(src, dst, tcp, payload);
        let l4 = std::mem::take(&mut self.l4);
        self.datagram(src, dst, ident, 6, None, &l4);
        self.l4 = l4;
        &self.frame
    }

    /// The same segment as [`FrameBuilder::tcp`], split into IP fragments as
    /// `frag` says, each handed to `emit`.
    pub fn tcp_fragments(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tcp: &TcpHeader,
        payload: &[u8],
        frag: Fragmentation,
        mut emit: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let Fragmentation { ident, size, order } = frag;
        self.build_tcp(src, dst, tcp, payload);
        let l4 = std::mem::take(&mut self.l4);
        let size = (size / 8 * 8).max(8);
        let count = l4.len().div_ceil(size);
        let mut result = Ok(());
        for i in 0..count {
            let k = match order {
                FragOrder::InOrder => i,
                FragOrder::Reverse => count - 1 - i,
            };
            let start = k * size;
            let end = (start + size).min(l4.len());
            let more = end < l4.len();
            self.datagram(src, dst, ident, 6, Some((start, more)), &l4[start..end]);
            result = emit(&self.frame);
            if result.is_err() {
                break;
            }
        }
        self.l4 = l4;
        result
    }

    /// One frame carrying an IP datagram with protocol `protocol` and payload
    /// `body` (for non-TCP traffic such as UDP, which flowsplit must skip).
    pub fn ip(&mut self, src: IpAddr, dst: IpAddr, ident: u32, protocol: u8, body: &[u8]) -> &[u8] {
        self.datagram(src, dst, ident, protocol, None, body);
        &self.frame
    }

    /// One frame carrying `body` after the link header for `ethertype`
    /// (e.g. 0x0806 for ARP).
    pub fn raw_l3(&mut self, ethertype: u16, body: &[u8]) -> &[u8] {
        self.frame.clear();
        self.link.write_header(ethertype, &mut self.frame);
        self.frame.extend_from_slice(body);
        self.pad();
        &self.frame
    }

    /// Fill `self.l4` with the TCP header and payload, checksum included.
    fn build_tcp(&mut self, src: IpAddr, dst: IpAddr, tcp: &TcpHeader, payload: &[u8]) {
        let l4 = &mut self.l4;
        l4.clear();
        let hlen = tcp.len();
        l4.extend_from_slice(&tcp.sport.to_be_bytes());
        l4.extend_from_slice(&tcp.dport.to_be_bytes());
        l4.extend_from_slice(&tcp.seq.to_be_bytes());
        l4.extend_from_slice(&tcp.ack.to_be_bytes());
        l4.push(((hlen / 4) as u8) << 4);
        l4.push(tcp.flags);
        l4.extend_from_slice(&tcp.window.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        if let Some(mss) = tcp.mss {
            l4.extend_from_slice(&[2, 4]);
            l4.extend_from_slice(&mss.to_be_bytes());
        }
        if let Some((val, ecr)) = tcp.timestamps {
            l4.extend_from_slice(&[1, 1, 8, 10]);
            l4.extend_from_slice(&val.to_be_bytes());
            l4.extend_from_slice(&ecr.to_be_bytes());
        }
        l4.extend_from_slice(payload);
        let sum = pseudo_header_sum(src, dst, 6, l4.len()) + ones_sum(l4);
        let ck = fold(sum);
        l4[16..18].copy_from_slice(&ck.to_be_bytes());
    }

    /// Fill `self.frame` with link header, IP header (a fragment of the
    /// datagram when `frag` is `Some((byte offset, more fragments))`) and `body`.
    fn datagram(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        ident: u32,
        protocol: u8,
        frag: Option<(usize, bool)>,
        body: &[u8],
    ) {
        let f = &mut self.frame;
        f.clear();
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                self.link.write_header(0x0800, f);
                let start = f.len();
                let opts = &self.ip.ipv4_options;
                assert!(opts.len() <= 40, "at most 40 bytes of IPv4 options");
                let olen = opts.len().div_ceil(4) * 4;
                let hlen = 20 + olen;
                let total = hlen + body.len();
                f.push(0x40 | (hlen / 4) as u8);
                f.push(0);
                f.extend_from_slice(&(total as u16).to_be_bytes());
                f.extend_from_slice(&(ident as u16).to_be_bytes());
                let frag_field: u16 = match frag {
                    None if self.ip.dont_fragment => 0x4000,
                    None => 0,
                    Some((off, more)) => ((off / 8) as u16) | if more { 0x2000 } else { 0 },
                };
                f.extend_from_slice(&frag_field.to_be_bytes());
                f.push(self.ip.ttl);
                f.push(protocol);
                f.extend_from_slice(&[0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
                f.extend_from_slice(opts);
                f.resize(start + hlen, 0);
                let ck = fold(ones_sum(&f[start..start + hlen]));
                f[start + 10..start + 12].copy_from_slice(&ck.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                self.link.write_header(0x86dd, f);
                let exts = &self.ip.ipv6_ext;
                let ext_len = exts.len() * 8 + if frag.is_some() { 8 } else { 0 };
                let first = exts
                    .first()
                    .map(|e| e.protocol())
                    .unwrap_or(if frag.is_some() { 44 } else { protocol });
                f.extend_from_slice(&[0x60, 0, 0, 0]);
                f.extend_from_slice(&((ext_len + body.len()) as u16).to_be_bytes());
                f.push(first);
                f.push(self.ip.ttl);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
                for (i, e) in exts.iter().enumerate() {
                    let next = exts
                        .get(i + 1)
                        .map(|n| n.protocol())
                        .unwrap_or(if frag.is_some() { 44 } else { protocol });
                    f.push(next);
                    f.push(0); // length: 8 bytes
                    match e {
                        Ipv6Ext::HopByHop | Ipv6Ext::DestinationOptions => {
                            f.extend_from_slice(&[1, 4, 0, 0, 0, 0]) // PadN
                        }
                        Ipv6Ext::Routing => f.extend_from_slice(&[0, 0, 0, 0, 0, 0]),
                    }
                }
                if let Some((off, more)) = frag {
                    f.push(protocol);
                    f.push(0);
                    let v = (off as u16 & !7) | u16::from(more);
                    f.extend_from_slice(&v.to_be_bytes());
                    f.extend_from_slice(&ident.to_be_bytes());
                }
            }
            _ => panic!("source {src} and destination {dst} are of different IP versions"),
        }
        f.extend_from_slice(body);
        self.pad();
    }

    fn pad(&mut self) {
        if let Link::Ethernet(o) = &self.link {
            if o.pad_to_60 && self.frame.len() < 60 {
                self.frame.resize(60, o.pad_byte);
            }
        }
    }
}

/// The 32-bit ones'-complement sum of the TCP/UDP pseudo header.
fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u32 {
    let mut sum = 0u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum += ones_sum(&s.octets()) + ones_sum(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            sum += ones_sum(&s.octets()) + ones_sum(&d.octets());
        }
        _ => {}
    }
    sum + u32::from(protocol) + (len as u32 >> 16) + (len as u32 & 0xffff)
}

/// Sum of big-endian 16-bit words (an odd last byte padded with zero).
fn ones_sum(data: &[u8]) -> u32 {
    let mut sum = 0u32;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [b] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*b) << 8);
    }
    sum
}

/// Fold a 32-bit sum into the 16-bit ones'-complement checksum.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn hdr() -> TcpHeader {
        TcpHeader {
            sport: 40000,
            dport: 80,
            seq: 1000,
            ack: 2000,
            flags: ACK | PSH,
            window: 512,
            mss: None,
            timestamps: Some((7, 9)),
        }
    }

    #[test]
    fn ipv4_tcp_over_ethernet_parses_with_valid_checksums() {
        let mut b = FrameBuilder::new(Link::ethernet());
        b.ip.ipv4_options = vec![1, 1, 1]; // three NOPs, padded to 4
        let (s, d) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let frame = b.tcp(s, d, 7, &hdr(), b"hello").to_vec();
        let p = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().ihl(), 6);
        assert_eq!(
            ip.header().to_header().calc_header_checksum(),
            ip.header().header_checksum()
        );
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            panic!("not TCP")
        };
        assert_eq!(tcp.payload(), b"hello");
        assert_eq!(tcp.sequence_number(), 1000);
        let expect = tcp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), expect);
    }

    #[test]
    fn ipv6_with_extension_headers_parses() {
        let mut b = FrameBuilder::new(Link::Raw(101));
        b.ip.ipv6_ext = vec![
            Ipv6Ext::HopByHop,
            Ipv6Ext::Routing,
            Ipv6Ext::DestinationOptions,
        ];
        let (s, d) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let frame = b.tcp(s, d, 0, &hdr(), b"hello v6").to_vec();
        let p = SlicedPacket::from_ip(&frame).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
            panic!("not TCP")
        };
        assert_eq!(tcp.payload(), b"hello v6");
        let Some(NetSlice::Ipv6(ip)) = &p.net else {
            panic!("not IPv6")
        };
        let expect = tcp
            .to_header()
            .calc_checksum_ipv6(&ip.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), expect);
    }

    #[test]
    fn ethernet_padding_and_vlan_tags() {
        let opts = EthernetOptions {
            vlan: Vlan::QinQ {
                outer: 200,
                inner: (5 << 13) | 300,
            },
            pad_to_60: true,
            pad_byte: 0xee,
            ..EthernetOptions::default()
        };
        let mut b = FrameBuilder::new(Link::Ethernet(opts));
        let (s, d) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let h = TcpHeader {
            timestamps: None,
            ..hdr()
        };
        let frame = b.tcp(s, d, 1, &h, b"x");
        // 14 + 8 (tags) + 20 + 20 + 1 = 63: no padding needed
        assert_eq!(frame.len(), 63);
        assert_eq!(&frame[12..14], &[0x88, 0xa8]);
        assert_eq!(&frame[16..18], &[0x81, 0x00]);
        assert_eq!(u16::from_be_bytes([frame[18], frame[19]]) & 0xfff, 300);
        let frame = b.raw_l3(0x0806, &[0; 28]).to_vec();
        assert_eq!(frame.len(), 60);
        assert_eq!(frame[59], 0xee);
    }

    #[test]
    fn null_and_loop_families() {
        let (s, d): (IpAddr, IpAddr) = ("::1".parse().unwrap(), "::2".parse().unwrap());
        let mut b = FrameBuilder::new(Link::Null {
            v6_family: 30,
            order: Endian::Big,
        });
        assert_eq!(&b.tcp(s, d, 0, &hdr(), b"")[..4], &[0, 0, 0, 30]);
        b.link = Link::Null {
            v6_family: 28,
            order: Endian::Little,
        };
        assert_eq!(&b.tcp(s, d, 0, &hdr(), b"")[..4], &[28, 0, 0, 0]);
        b.link = Link::Loop { v6_family: 24 };
        assert_eq!(&b.tcp(s, d, 0, &hdr(), b"")[..4], &[0, 0, 0, 24]);
        let (s4, d4): (IpAddr, IpAddr) =
            ("127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap());
        assert_eq!(&b.tcp(s4, d4, 0, &hdr(), b"")[..4], &[0, 0, 0, 2]);
    }

    #[test]
    fn sll_headers_carry_the_ethertype() {
        let (s, d): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut b = FrameBuilder::new(Link::Sll);
        let f = b.tcp(s, d, 0, &hdr(), b"abc").to_vec();
        assert_eq!(&f[14..16], &[0x08, 0x00]);
        assert_eq!(f[16], 0x45);
        b.link = Link::Sll2 { ifindex: 3 };
        let f = b.tcp(s, d, 0, &hdr(), b"abc").to_vec();
        assert_eq!(&f[0..2], &[0x08, 0x00]);
        assert_eq!(f[20], 0x45);
    }

    fn reassemble_v4(frags: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0u8; 0];
        for f in frags {
            let ip = &f[14..];
            let hlen = usize::from(ip[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let off = usize::from(u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff) * 8;
            let body = &ip[hlen..total];
            if out.len() < off + body.len() {
                out.resize(off + body.len(), 0);
            }
            out[off..off + body.len()].copy_from_slice(body);
        }
        out
    }

    #[test]
    fn ipv4_fragments_cover_the_segment() {
        let mut b = FrameBuilder::new(Link::ethernet());
        let (s, d) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let payload: Vec<u8> = (0..100u8).collect();
        let whole = b.tcp(s, d, 9, &hdr(), &payload).to_vec();
        let mut frags = Vec::new();
        let frag = Fragmentation {
            ident: 9,
            size: 30,
            order: FragOrder::Reverse,
        };
        b.tcp_fragments(s, d, &hdr(), &payload, frag, |f| {
            frags.push(f.to_vec());
            Ok(())
        })
        .unwrap();
        // 132-byte segment in 24-byte pieces: 6 fragments, last first
        assert_eq!(frags.len(), 6);
        assert_eq!(frags[0][14 + 6] & 0x20, 0, "the last fragment has MF clear");
        assert_eq!(reassemble_v4(&frags), &whole[34..]);
    }

    #[test]
    fn ipv6_fragments_carry_a_fragment_header() {
        let mut b = FrameBuilder::new(Link::Raw(101));
        b.ip.ipv6_ext = vec![Ipv6Ext::HopByHop];
        let (s, d) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mut frags = Vec::new();
        let frag = Fragmentation {
            ident: 0xdead_beef,
            size: 16,
            order: FragOrder::InOrder,
        };
        b.tcp_fragments(s, d, &hdr(), &[7u8; 40], frag, |f| {
            frags.push(f.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(frags.len(), 5); // 72 bytes in 16-byte pieces
        let f = &frags[1];
        assert_eq!(f[6], 0); // hop-by-hop first
        assert_eq!(f[40], 44); // then fragment
        assert_eq!(&f[48..50], &[6, 0]);
        assert_eq!(u16::from_be_bytes([f[50], f[51]]), 16 | 1);
        assert_eq!(&f[52..56], &0xdead_beefu32.to_be_bytes());
        assert_eq!(u16::from_be_bytes([f[4], f[5]]) as usize, f.len() - 40);
    }
}
