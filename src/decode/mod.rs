//! Link, IP and TCP decoding: from a captured frame to a TCP segment.
//!
//! This module owns everything between the raw frame and the TCP header:
//! link-layer headers (Ethernet with 802.1Q/QinQ, Linux SLL/SLL2, BSD
//! NULL/LOOP, raw IP, NFLOG, PPP, Cisco HDLC, 802.11 with radiotap or PPI),
//! MPLS and PPPoE, tunnels (GRE, ERSPAN I/II/III, VXLAN, Geneve, IP-in-IP,
//! Teredo, GTP-U, AYIYA, L2TPv2), IPv4 (with options and fragment
//! reassembly), IPv6 (extension headers and fragment reassembly) and the TCP
//! header itself. It must not keep any per-connection state: that belongs
//! to `flow`. The only state it holds is the IP fragment table.
//!
//! Decapsulation is one bounded walk over three tables (link type,
//! EtherType, IP protocol / UDP port), each entry a small function:
//!
//! ```text
//! frame ─link type─▶ … ─EtherType─▶ … ─▶ IP ─┬─ TCP ─▶ Segment
//!                                             └─ GRE/UDP/IP-in-IP ─▶ tunnel ─▶ (EtherType or IP again)
//! ```
//!
//! A segment is keyed by its innermost addresses and ports; what it came
//! through is in [`Segment::encap`] and, as a discriminator for the flow
//! table, in [`TcpTuple::tunnel`] (see `encap`).
//!
//! The TCP payload length always comes from the IP length fields, clamped to
//! the captured bytes, so link-layer padding never becomes stream data; bytes
//! the IP header promises but the capture cut off are reported in
//! [`Segment::missing`].

#[cfg(test)]
mod decap_tests;
mod encap;
mod frag;
mod ip;
mod link;
mod ppp;
mod tcp;
#[cfg(test)]
mod testutil;
mod tunnel;
mod wlan;

pub use encap::{Encap, EncapPath, Layer, LayerKind, MAX_LAYERS};
pub use frag::{FragmentLimits, FragmentStats};
pub use tunnel::{DecodeOptions, UdpTunnel};

use crate::capture::{LinkType, Packet, Timestamp};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

/// The addresses, ports and VLAN of one TCP direction, as seen on the wire
/// (the innermost ones, for tunnelled traffic), and which tunnel it came
/// through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TcpTuple {
    /// Sender's address.
    pub src: IpAddr,
    /// Receiver's address.
    pub dst: IpAddr,
    /// Sender's port.
    pub sport: u16,
    /// Receiver's port.
    pub dport: u16,
    /// The 12-bit id of the innermost 802.1Q tag of the innermost network
    /// (tags outside a tunnel belong to the underlay: they count in
    /// `tunnel`, not here).
    pub vlan: Option<u16>,
    /// Tunnel discriminator: 0 when the segment was not tunnelled,
    /// otherwise a hash of the tunnels' outer address pairs, protocols,
    /// underlay VLANs and VXLAN/Geneve network ids, the same for both
    /// directions of a connection. Two equal 4-tuples with different
    /// `tunnel` are different connections.
    pub tunnel: u32,
}

impl TcpTuple {
    /// The same connection seen from the other side.
    pub fn reversed(&self) -> TcpTuple {
        TcpTuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            vlan: self.vlan,
            tunnel: self.tunnel,
        }
    }
}

impl fmt::Display for TcpTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{}",
            self.src, self.sport, self.dst, self.dport
        )
    }
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: the sender has no more data.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK: the acknowledgment field is significant.
    pub const ACK: u8 = 0x10;

    /// True when the FIN bit is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// True when the SYN bit is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// True when the RST bit is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// True when the ACK bit is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// One decoded TCP segment.
#[derive(Debug, Clone)]
pub struct Segment<'a> {
    /// Capture time of the frame (of the last fragment, for reassembled datagrams).
    pub ts: Timestamp,
    /// Who sent it to whom.
    pub tuple: TcpTuple,
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// Advertised window (unscaled).
    pub window: u16,
    /// The payload bytes that were captured: borrowed from the frame, or owned
    /// when the datagram was reassembled from fragments.
    pub payload: Cow<'a, [u8]>,
    /// Payload bytes the IP header accounts for that the capture does not hold
    /// (snap-length truncation). They follow `payload` in sequence space.
    pub missing: u32,
    /// The headers the segment came through and the outer endpoints of the
    /// innermost tunnel. Fixed size: nothing is allocated per packet; render
    /// the path with [`EncapPath::render`] once per direction.
    pub encap: Encap,
    /// The frame the segment came in, as captured (for a datagram
    /// reassembled from fragments, its last fragment's); `None` where the
    /// segment was made without one.
    pub frame: Option<Frame<'a>>,
}

/// A captured frame: its bytes, its link type and its length on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The link-layer type of its interface.
    pub link: LinkType,
    /// The captured bytes.
    pub data: Cow<'a, [u8]>,
    /// Its length on the wire (at least `data.len()`).
    pub wire_len: u32,
}

impl Segment<'_> {
    /// The same segment owning its payload and frame.
    pub fn into_owned(self) -> Segment<'static> {
        Segment {
            ts: self.ts,
            tuple: self.tuple,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: Cow::Owned(self.payload.into_owned()),
            missing: self.missing,
            encap: self.encap,
            frame: self.frame.map(|f| Frame {
                link: f.link,
                data: Cow::Owned(f.data.into_owned()),
                wire_len: f.wire_len,
            }),
        }
    }
}

/// Why a frame yielded no TCP segment. None of these is an error of the run;
/// they are counted for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The link-layer type is not one this decoder understands.
    UnsupportedLink(u32),
    /// A link-layer payload that is not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// An IP datagram that does not carry TCP.
    NotTcp,
    /// A fragment was stored; the datagram is not complete yet.
    FragmentHeld,
    /// A header was shorter than it must be or claimed more than was there.
    Malformed(&'static str),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::UnsupportedLink(l) => write!(f, "unsupported link type {l}"),
            Skip::NotIp => f.write_str("not IP"),
            Skip::NotTcp => f.write_str("not TCP"),
            Skip::FragmentHeld => f.write_str("fragment held for reassembly"),
            Skip::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// Turns captured frames into TCP segments. Holds the IP fragment table and
/// its settings, and what the last decoded segment came through.
#[derive(Debug, Default)]
pub struct Decoder {
    frags: frag::FragmentTable,
    opts: DecodeOptions,
    last: (Encap, u32),
    /// The outermost IP header of the frame last decoded, when no TCP
    /// segment came of it ([`Decoder::last_not_tcp`]).
    not_tcp: Option<NotTcp>,
}

/// The outermost IP header of a frame no TCP segment came of (a datagram
/// of another protocol, a fragment held for reassembly, a tunnel whose
/// inside is not TCP, a header damaged past the IP layer): who sent it to
/// whom, its protocol, and its UDP ports when it is an unfragmented UDP
/// datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTcp {
    /// Sender's address.
    pub src: IpAddr,
    /// Receiver's address.
    pub dst: IpAddr,
    /// The IP protocol number of its payload (after IPv6 extension headers).
    pub proto: u8,
    /// Source and destination port of a UDP datagram.
    pub udp_ports: Option<(u16, u16)>,
}

impl NotTcp {
    /// Read the IP header at the start of `ip` (lax: a datagram cut by the
    /// snap length still gives its addresses); `None` when it is not one.
    fn parse(ip: &[u8]) -> Option<NotTcp> {
        let (slice, _) = etherparse::LaxIpSlice::from_slice(ip).ok()?;
        let payload = slice.payload();
        let proto = payload.ip_number.0;
        let udp_ports = (proto == 17 && !payload.fragmented)
            .then(|| payload.payload.get(..4))
            .flatten()
            .map(|p| {
                (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                )
            });
        Some(NotTcp {
            src: slice.source_addr(),
            dst: slice.destination_addr(),
            proto,
            udp_ports,
        })
    }
}

impl Decoder {
    /// A decoder with the given fragment-table limits and default options.
    pub fn new(limits: FragmentLimits) -> Self {
        Decoder::with_options(DecodeOptions {
            fragments: limits,
            ..DecodeOptions::default()
        })
    }

    /// A decoder with the given options (fragment limits, extra UDP ports
    /// for tunnels).
    pub fn with_options(opts: DecodeOptions) -> Self {
        Decoder {
            frags: frag::FragmentTable::new(opts.fragments),
            opts,
            last: (Encap::default(), 0),
            not_tcp: None,
        }
    }

    /// The outermost IP header of the frame last given to
    /// [`Decoder::decode`] when it was an IP datagram but gave no TCP
    /// segment (see [`NotTcp`]); `None` after a segment, and after a frame
    /// that is not IP.
    pub fn last_not_tcp(&self) -> Option<&NotTcp> {
        self.not_tcp.as_ref()
    }

    /// What the segment last returned by [`Decoder::decode`] came through:
    /// the encapsulation path and the outer endpoints of its innermost
    /// tunnel. Fixed size, nothing allocated; render the path with
    /// [`EncapPath::render`] once per direction.
    pub fn last_encap(&self) -> &Encap {
        &self.last.0
    }

    /// The tunnel discriminator of the segment last returned by
    /// [`Decoder::decode`]: 0 when it was not tunnelled, otherwise a hash of
    /// the tunnels' outer address pairs, protocols, underlay VLANs and
    /// VXLAN/Geneve network ids, the same for both directions of a
    /// connection. Two equal 4-tuples with different discriminators are
    /// different connections.
    pub fn last_tunnel(&self) -> u32 {
        self.last.1
    }

    /// The options this decoder runs with.
    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// True when `link` is a link-layer type [`Decoder::decode`] understands.
    pub fn supports(link: crate::capture::LinkType) -> bool {
        link::supported(link)
    }

    /// What the fragment table has done so far and what it holds now.
    pub fn fragment_stats(&self) -> FragmentStats {
        self.frags.stats()
    }

    /// Decode one frame. Returns the TCP segment it carries, or why it carries none.
    /// Never panics, whatever the bytes.
    pub fn decode<'a>(&mut self, pkt: &Packet<'a>) -> Result<Segment<'a>, Skip> {
        let handler = link::link_handler(pkt.link).ok_or(Skip::UnsupportedLink(pkt.link.0))?;
        let mut ctx = encap::Ctx::new(&self.opts);
        if pkt.link == LinkType::ETHERNET {
            ctx.encap.macs = pkt.data.get(..12).and_then(|b| b.try_into().ok());
        }
        self.not_tcp = None;
        let step = handler(pkt.data, &mut ctx)?;
        let mut outer = None;
        let walked = walk(step, &mut ctx, pkt.ts, &mut self.frags, &mut outer);
        if let (Err(_), Some(ip)) = (&walked, outer) {
            self.not_tcp = NotTcp::parse(ip);
        }
        let mut seg = walked?;
        self.last = (ctx.encap, ctx.tunnel_id());
        seg.frame = Some(Frame {
            link: pkt.link,
            data: Cow::Borrowed(pkt.data),
            wire_len: pkt
                .orig_len
                .max(u32::try_from(pkt.data.len()).unwrap_or(u32::MAX)),
        });
        Ok(seg)
    }
}

/// From `step` down through link headers, IP headers and tunnels to TCP.
/// Each round peels at least one IP header and records it in the path, so
/// the path bound ends the walk. A tunnel inside a datagram reassembled from
/// fragments is walked in that buffer, and the segment then copied out.
fn walk<'a>(
    mut step: link::Step<'a>,
    ctx: &mut encap::Ctx<'_>,
    ts: Timestamp,
    frags: &mut frag::FragmentTable,
    outer: &mut Option<&'a [u8]>,
) -> Result<Segment<'a>, Skip> {
    for _ in 0..MAX_LAYERS {
        let (bytes, ethertype) = link::to_ip(step, ctx)?;
        outer.get_or_insert(bytes);
        let d = ip::parse(bytes, ethertype, ts, frags)?;
        let kind = if d.src.is_ipv4() {
            LayerKind::Ipv4
        } else {
            LayerKind::Ipv6
        };
        ctx.push(kind, 0)?;
        if d.proto == ip::PROTO_TCP {
            return tcp::parse(d, ts, ctx);
        }
        let next = tunnel::ip_proto_handler(d.proto).ok_or(Skip::NotTcp)?;
        ctx.enter_tunnel(d.src, d.dst, d.proto);
        match d.payload {
            Cow::Borrowed(b) => step = next(b, ctx)?,
            Cow::Owned(buf) => {
                let inner = next(&buf, ctx)?;
                return walk(inner, ctx, ts, frags, &mut None).map(Segment::into_owned);
            }
        }
    }
    Err(Skip::Malformed("too many nested encapsulations"))
}

#[cfg(test)]
mod tests {
    use super::testutil::{eth, frag6, ipv4, ipv6, tcp, vlan, V4};
    use super::*;
    use crate::capture::LinkType;

    fn packet(link: LinkType, data: &[u8], secs: i64) -> Packet<'_> {
        Packet {
            ts: Timestamp::new(secs, 0),
            link,
            data,
            orig_len: data.len() as u32,
        }
    }

    fn within(frame: &[u8], part: &[u8]) -> bool {
        let f = frame.as_ptr_range();
        let p = part.as_ptr_range();
        f.start <= p.start && p.end <= f.end
    }

    #[test]
    fn supports_matches_the_link_table() {
        assert!(Decoder::supports(LinkType::ETHERNET));
        assert!(Decoder::supports(LinkType::LINUX_SLL2));
        assert!(Decoder::supports(LinkType(105)));
        assert!(!Decoder::supports(LinkType(147)));
    }

    #[test]
    fn ethernet_vlan_ipv4_tcp_end_to_end_borrows_the_frame() {
        let seg = tcp(80, 40000, 1000, 0x18, b"GET / HTTP/1.1\r\n");
        let frame = eth(0x8100, &vlan(30, 0x0800, &ipv4(&V4::default(), &seg)));
        let mut d = Decoder::default();
        let s = d.decode(&packet(LinkType::ETHERNET, &frame, 1)).unwrap();
        assert_eq!(s.tuple.to_string(), "10.0.0.1:80 -> 10.0.0.2:40000");
        assert_eq!(s.tuple.vlan, Some(30));
        assert_eq!(s.seq, 1000);
        assert_eq!(&*s.payload, b"GET / HTTP/1.1\r\n");
        assert!(matches!(&s.payload, Cow::Borrowed(p) if within(&frame, p)));
    }

    #[test]
    fn a_datagram_without_tcp_leaves_its_addresses_and_udp_ports() {
        let mut d = Decoder::default();
        let udp = [0x9c, 0x40, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4];
        let h = V4 {
            proto: 17,
            ..V4::default()
        };
        let frame = eth(0x0800, &ipv4(&h, &udp));
        assert_eq!(
            d.decode(&packet(LinkType::ETHERNET, &frame, 1))
                .unwrap_err(),
            Skip::NotTcp
        );
        let got = *d.last_not_tcp().expect("the datagram's header");
        assert_eq!(got.src.to_string(), "10.0.0.1");
        assert_eq!(got.dst.to_string(), "10.0.0.2");
        assert_eq!((got.proto, got.udp_ports), (17, Some((40000, 53))));
        // ICMP: no ports; a TCP segment after it clears it.
        let icmp = V4 {
            proto: 1,
            ..V4::default()
        };
        let frame = eth(0x0800, &ipv4(&icmp, &[8, 0, 0, 0]));
        assert!(d.decode(&packet(LinkType::ETHERNET, &frame, 1)).is_err());
        assert_eq!(
            d.last_not_tcp().map(|n| (n.proto, n.udp_ports)),
            Some((1, None))
        );
        let seg = eth(0x0800, &ipv4(&V4::default(), &tcp(1, 2, 3, 0x10, b"")));
        assert!(d.decode(&packet(LinkType::ETHERNET, &seg, 1)).is_ok());
        assert_eq!(d.last_not_tcp(), None);
        // Not IP at all (ARP): nothing.
        let arp = eth(0x0806, &[0; 28]);
        assert_eq!(
            d.decode(&packet(LinkType::ETHERNET, &arp, 1)).unwrap_err(),
            Skip::NotIp
        );
        assert_eq!(d.last_not_tcp(), None);
    }

    #[test]
    fn ethernet_minimum_frame_padding_is_not_payload() {
        let frame = {
            let mut f = eth(0x0800, &ipv4(&V4::default(), &tcp(1, 2, 3, 0x10, b"")));
            f.resize(60, 0xaa);
            f
        };
        let s = Decoder::default()
            .decode(&packet(LinkType::ETHERNET, &frame, 1))
            .unwrap();
        assert!(s.payload.is_empty());
        assert_eq!(s.missing, 0);
    }

    #[test]
    fn snaplen_truncated_frame_reports_missing() {
        let frame = eth(
            0x0800,
            &ipv4(&V4::default(), &tcp(1, 2, 3, 0x18, &[5; 1000])),
        );
        let cut = &frame[..96]; // 14 + 20 + 20 + 42 bytes of payload
        let s = Decoder::default()
            .decode(&packet(LinkType::ETHERNET, cut, 1))
            .unwrap();
        assert_eq!(s.payload.len(), 42);
        assert_eq!(s.missing, 958);
    }

    #[test]
    fn null_ipv6_end_to_end() {
        let mut frame = 30u32.to_le_bytes().to_vec();
        frame.extend(ipv6(6, &tcp(5, 6, 7, 0x02, b"")));
        let s = Decoder::default()
            .decode(&packet(LinkType::NULL, &frame, 1))
            .unwrap();
        assert!(s.tuple.src.is_ipv6());
        assert!(s.flags.syn());
    }

    #[test]
    fn ipv4_fragments_end_to_end_give_an_owned_segment() {
        let seg = tcp(80, 1234, 77, 0x18, &[0x5a; 40]);
        let f = |off: u16, more: bool, data: &[u8]| {
            let h = V4 {
                frag_offset: off,
                more_fragments: more,
                ..V4::default()
            };
            eth(0x0800, &ipv4(&h, data))
        };
        let (f1, f2) = (f(0, true, &seg[..32]), f(4, false, &seg[32..]));
        let mut d = Decoder::new(FragmentLimits::default());
        assert_eq!(
            d.decode(&packet(LinkType::ETHERNET, &f1, 1)).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(d.fragment_stats().pending, 1);
        // The held fragment's header is left for the traffic summary.
        assert_eq!(
            d.last_not_tcp().map(|n| (n.proto, n.udp_ports)),
            Some((6, None))
        );
        let s = d.decode(&packet(LinkType::ETHERNET, &f2, 2)).unwrap();
        assert_eq!(s.ts, Timestamp::new(2, 0));
        assert_eq!(s.seq, 77);
        assert!(matches!(s.payload, Cow::Owned(_)));
        assert_eq!(&*s.payload, &[0x5a; 40]);
        assert_eq!(d.fragment_stats().reassembled, 1);
    }

    #[test]
    fn ipv6_fragments_end_to_end() {
        let seg = tcp(80, 1234, 78, 0x18, &[0x6b; 20]);
        let f = |off: u16, more: bool, data: &[u8]| {
            let mut body = frag6(6, off, more, 42);
            body.extend_from_slice(data);
            eth(0x86dd, &ipv6(44, &body))
        };
        let (f1, f2) = (f(0, true, &seg[..24]), f(3, false, &seg[24..]));
        let mut d = Decoder::default();
        assert_eq!(
            d.decode(&packet(LinkType::ETHERNET, &f2, 1)).unwrap_err(),
            Skip::FragmentHeld
        );
        let s = d.decode(&packet(LinkType::ETHERNET, &f1, 1)).unwrap();
        assert_eq!(&*s.payload, &[0x6b; 20]);
    }

    #[test]
    fn fragments_expire_by_capture_time_through_the_decoder() {
        let h = V4 {
            more_fragments: true,
            ..V4::default()
        };
        let f1 = eth(0x0800, &ipv4(&h, &[0; 24]));
        let other = eth(0x0800, &ipv4(&V4 { id: 9, ..h }, &[0; 24]));
        let mut d = Decoder::new(FragmentLimits {
            timeout_secs: 10,
            ..FragmentLimits::default()
        });
        let _ = d.decode(&packet(LinkType::ETHERNET, &f1, 100));
        let _ = d.decode(&packet(LinkType::ETHERNET, &other, 111));
        let st = d.fragment_stats();
        assert_eq!((st.pending, st.expired), (1, 1));
    }

    #[test]
    fn unsupported_link_type_is_skipped() {
        assert_eq!(
            Decoder::default()
                .decode(&packet(LinkType(147), &[0; 64], 1))
                .unwrap_err(),
            Skip::UnsupportedLink(147)
        );
    }

    /// xorshift64*: deterministic noise without a dependency.
    fn noise(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn random_and_mutated_frames_never_panic() {
        let links = [0, 1, 12, 14, 101, 108, 113, 276, 228, 229];
        let seeds: Vec<Vec<u8>> = vec![
            eth(0x0800, &ipv4(&V4::default(), &tcp(1, 2, 3, 0x18, b"seed"))),
            eth(
                0x8100,
                &vlan(3, 0x86dd, &ipv6(6, &tcp(1, 2, 3, 0x18, b"v6"))),
            ),
            {
                let mut b = frag6(6, 1, true, 5);
                b.extend([0; 16]);
                eth(0x86dd, &ipv6(44, &b))
            },
            eth(
                0x0800,
                &ipv4(
                    &V4 {
                        more_fragments: true,
                        frag_offset: 3,
                        ..V4::default()
                    },
                    &[1; 16],
                ),
            ),
        ];
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut d = Decoder::new(FragmentLimits {
            max_datagrams: 16,
            max_bytes: 4096,
            timeout_secs: 2,
        });
        for i in 0..20_000u32 {
            let r = noise(&mut rng);
            let mut frame = seeds[(r % seeds.len() as u64) as usize].clone();
            // Flip a few bytes, then maybe cut the frame short.
            for _ in 0..(r >> 8) % 6 {
                let x = noise(&mut rng);
                let at = (x % frame.len() as u64) as usize;
                frame[at] = (x >> 32) as u8;
            }
            let cut = (noise(&mut rng) % (frame.len() as u64 + 1)) as usize;
            if r & 0x10000 != 0 {
                frame.truncate(cut);
            }
            let link = LinkType(links[(r >> 20) as usize % links.len()]);
            let data = if link == LinkType::ETHERNET {
                &frame[..]
            } else {
                &frame[frame.len().min(14)..]
            };
            let _ = d.decode(&packet(link, data, i64::from(i / 100)));
        }
        let st = d.fragment_stats();
        assert!(st.pending <= 16 && st.pending_bytes <= 4096);
    }
}
