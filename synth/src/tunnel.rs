//! Encapsulations for synthetic captures: wrap the raw IP packets a
//! [`super::TcpConversation`] makes (link [`super::Link::Raw`]) in tunnels
//! and link layers flowsplit must see through, GRE to 802.11.
//!
//! Owns building those headers by hand, outermost first as listed in a
//! [`TunnelSink`]'s layers, with the fields each direction needs (outer
//! addresses and UDP ports swap for server-to-client packets, GTP-U uses a
//! TEID per direction). Like the rest of this crate, it uses nothing of
//! flowsplit. Checksums (IPv4 header, UDP, GRE when asked) are valid.
//!
//! ```
//! use flowsplit_synth::tunnel::{TunnelSink, Wrap};
//! use flowsplit_synth::{Link, PcapFormat, PcapWriter, Side, TcpConversation, Timestamp};
//!
//! let layers = vec![
//!     Wrap::Ethernet,
//!     Wrap::ip("192.0.2.1", "192.0.2.2"),
//!     Wrap::Gre { key: Some(7), seq: false, checksum: false },
//! ];
//! let pcap = PcapWriter::new(Vec::new(), PcapFormat::default(), Wrap::linktype(&layers)).unwrap();
//! let client = "10.0.0.1:40000".parse().unwrap();
//! let mut sink = TunnelSink::new(pcap, layers, client);
//! let mut conv = TcpConversation::new(Link::Raw(101), client, "10.0.0.2:80".parse().unwrap(), Timestamp::new(1, 0));
//! conv.handshake(&mut sink).unwrap();
//! conv.send(Side::Client, b"through GRE", &mut sink).unwrap();
//! assert!(sink.into_inner().into_inner().len() > 24);
//! ```

use super::{PacketSink, Timestamp};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// One header to put around a packet. Layers are listed outermost first;
/// the innermost one wraps the raw IP packet of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrap {
    /// Ethernet II; the EtherType names what is inside.
    Ethernet,
    /// An 802.1Q tag with this VLAN id (inside Ethernet or another tag).
    Vlan(u16),
    /// One MPLS label stack entry; bottom-of-stack is set on the last one.
    Mpls(u32),
    /// A PPPoE session header (and the PPP protocol after it).
    PppoeSession(u16),
    /// An IPv4 or IPv6 header from `client_side` (for client-to-server
    /// packets; swapped for the others) carrying what is inside; split into
    /// IP fragments of `fragment` bytes (a multiple of 8) when given.
    Ip {
        /// Outer address on the client's side of the tunnel.
        client_side: IpAddr,
        /// Outer address on the server's side.
        server_side: IpAddr,
        /// Fragment payload size, if the outer datagram is to be fragmented.
        fragment: Option<usize>,
    },
    /// GRE version 0 with the given options; the protocol type names what
    /// is inside. Inside ERSPAN II/III the sequence number is always
    /// present, inside ERSPAN I never.
    Gre {
        /// A key, if any.
        key: Option<u32>,
        /// A sequence number field.
        seq: bool,
        /// A checksum field (computed).
        checksum: bool,
    },
    /// ERSPAN type I: no header of its own (GRE 0x88be without sequence
    /// number); an Ethernet frame inside.
    Erspan1,
    /// ERSPAN type II header with this session id; an Ethernet frame inside.
    Erspan2(u16),
    /// ERSPAN type III header with this session id and, when `subheader`,
    /// the 8-byte platform-specific subheader; an Ethernet frame inside.
    Erspan3 {
        /// Session id (10 bits).
        session: u16,
        /// Add the optional subheader (O bit).
        subheader: bool,
    },
    /// A UDP header: `client_port` → `server_port` for client-to-server
    /// packets, swapped for the others.
    Udp {
        /// Port on the client's side.
        client_port: u16,
        /// Port on the server's side.
        server_port: u16,
    },
    /// VXLAN with this VNI; an Ethernet frame inside.
    Vxlan(u32),
    /// Geneve with this VNI and `option_words` 4-byte words of options (one
    /// option); the protocol type names what is inside.
    Geneve {
        /// Virtual network id (24 bits).
        vni: u32,
        /// Option length in 4-byte words (0..=63).
        option_words: u8,
    },
    /// Teredo: optionally an authentication indicator and an origin
    /// indication before the IPv6 packet inside.
    Teredo {
        /// Add an authentication indicator (no id, no value).
        auth: bool,
        /// Add an origin indication.
        origin: bool,
    },
    /// GTP-U G-PDU with a TEID per direction, optionally with one
    /// extension header (PDU session container).
    GtpU {
        /// TEID of client-to-server packets.
        client_teid: u32,
        /// TEID of server-to-client packets.
        server_teid: u32,
        /// Add the E flag, sequence fields and one extension header.
        extension: bool,
    },
    /// AYIYA forward message with a 16-byte identity and a 20-byte signature.
    Ayiya,
    /// L2TPv2 data message (length and sequence fields present) carrying PPP.
    L2tp {
        /// Tunnel id.
        tunnel: u16,
        /// Session id.
        session: u16,
    },
    /// Linux cooked capture v1 (outermost only).
    Sll,
    /// NFLOG (outermost only): packet header, prefix and payload TLVs,
    /// lengths and types little-endian unless `big_endian`.
    Nflog {
        /// Write TLV lengths and types big-endian.
        big_endian: bool,
    },
    /// Cisco HDLC (outermost only).
    CiscoHdlc,
    /// PPP with address and control bytes; outermost, the capture's link
    /// type is `linktype` (9 PPP or 50 PPP in HDLC framing).
    Ppp {
        /// 9 or 50.
        linktype: u32,
    },
    /// An 802.11 data frame with LLC/SNAP (outermost, or inside radiotap or
    /// PPI). Client-to-server frames go to the AP (ToDS), the others come
    /// from it (FromDS); `four_address` sets both and adds the fourth
    /// address. `data_pad` pads the header to 4 bytes (only inside radiotap
    /// saying so).
    Wlan {
        /// QoS data frame (2-byte QoS control field).
        qos: bool,
        /// WDS frame with four addresses.
        four_address: bool,
        /// Pad the 802.11 header to a multiple of 4 bytes.
        data_pad: bool,
    },
    /// Radiotap header (outermost) with Flags and Rate; `data_pad` sets the
    /// data-pad flag (the 802.11 layer inside must pad too), `fcs` appends a
    /// 4-byte FCS and sets the FCS flag.
    Radiotap {
        /// Data-pad flag.
        data_pad: bool,
        /// Append an FCS.
        fcs: bool,
    },
    /// PPI header (outermost) naming 802.11 as the DLT.
    Ppi,
}

/// What a header carries, as the next header out needs to name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Ipv4,
    Ipv6,
    Ethernet,
    Vlan,
    Mpls,
    Pppoe,
    Gre,
    Udp,
    Erspan1,
    Erspan2,
    Erspan3,
    Ppp,
    Wlan,
    /// Something that must be outermost (a link layer).
    Link,
    /// A header with nothing to name it by (VXLAN, Teredo, ...: UDP payloads).
    UdpPayload,
}

impl Inner {
    fn ethertype(self) -> u16 {
        match self {
            Inner::Ipv4 => 0x0800,
            Inner::Ipv6 => 0x86dd,
            Inner::Ethernet => 0x6558,
            Inner::Vlan => 0x8100,
            Inner::Mpls => 0x8847,
            Inner::Pppoe => 0x8864,
            Inner::Erspan1 | Inner::Erspan2 => 0x88be,
            Inner::Erspan3 => 0x22eb,
            Inner::Ppp => 0x880b,
            other => panic!("{other:?} has no EtherType"),
        }
    }

    fn ppp_protocol(self) -> u16 {
        match self {
            Inner::Ipv4 => 0x0021,
            Inner::Ipv6 => 0x0057,
            Inner::Mpls => 0x0281,
            other => panic!("{other:?} has no PPP protocol number"),
        }
    }

    fn ip_protocol(self) -> u8 {
        match self {
            Inner::Ipv4 => 4,
            Inner::Ipv6 => 41,
            Inner::Gre | Inner::Erspan1 | Inner::Erspan2 | Inner::Erspan3 => 47,
            Inner::Udp => 17,
            other => panic!("{other:?} has no IP protocol number"),
        }
    }
}

impl Wrap {
    /// An unfragmented IP layer between two literal addresses.
    ///
    /// # Panics
    /// When an address does not parse.
    pub fn ip(client_side: &str, server_side: &str) -> Wrap {
        Wrap::Ip {
            client_side: client_side.parse().expect("an IP address"),
            server_side: server_side.parse().expect("an IP address"),
            fragment: None,
        }
    }

    /// The `LINKTYPE_*` of a capture whose frames start with `layers[0]`
    /// (raw IP, 101, when the first layer is not a link layer).
    pub fn linktype(layers: &[Wrap]) -> u32 {
        match layers.first() {
            Some(Wrap::Ethernet) => 1,
            Some(Wrap::Sll) => 113,
            Some(Wrap::Nflog { .. }) => 239,
            Some(Wrap::CiscoHdlc) => 104,
            Some(Wrap::Ppp { linktype }) => *linktype,
            Some(Wrap::Wlan { .. }) => 105,
            Some(Wrap::Radiotap { .. }) => 127,
            Some(Wrap::Ppi) => 192,
            _ => 101,
        }
    }
}

/// A [`PacketSink`] that wraps every raw IP packet in `layers` before
/// handing it on. Packets whose source is the client's address travel
/// client to server; the others the other way.
#[derive(Debug)]
pub struct TunnelSink<S> {
    out: S,
    layers: Vec<Wrap>,
    client: IpAddr,
    ident: u16,
}

impl<S: PacketSink> TunnelSink<S> {
    /// Wraps packets in `layers` (outermost first) and writes them to `out`;
    /// `client` is the inner client endpoint.
    pub fn new(out: S, layers: Vec<Wrap>, client: SocketAddr) -> Self {
        TunnelSink {
            out,
            layers,
            client: client.ip(),
            ident: 0x4000,
        }
    }

    /// The sink frames are written to.
    pub fn into_inner(self) -> S {
        self.out
    }

    /// The sink, to write frames of its own in between (e.g. non-IP frames).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.out
    }

    /// The frames (more than one when the outer IP layer fragments) that
    /// carry the raw IP packet `packet`.
    ///
    /// # Panics
    /// When the layers do not fit together (e.g. VXLAN directly inside IP).
    pub fn wrap(&mut self, packet: &[u8]) -> Vec<Vec<u8>> {
        let (inner, src) = match packet.first().map(|b| b >> 4) {
            Some(4) => (Inner::Ipv4, ip_at(packet, 12, 4)),
            Some(6) => (Inner::Ipv6, ip_at(packet, 8, 16)),
            _ => panic!("not an IP packet"),
        };
        let forward = src == Some(self.client);
        let mut packets = vec![packet.to_vec()];
        let mut inner = inner;
        let mut mpls_bottom = true;
        for i in (0..self.layers.len()).rev() {
            let layer = self.layers[i].clone();
            let mut next = Vec::with_capacity(packets.len());
            let mut kind = inner;
            for p in &packets {
                let (frames, k) = self.wrap_one(&layer, inner, forward, mpls_bottom, p);
                kind = k;
                next.extend(frames);
            }
            mpls_bottom = !matches!(layer, Wrap::Mpls(_));
            inner = kind;
            packets = next;
        }
        packets
    }

    /// Puts `layer` around `p` (what is inside: `inner`).
    fn wrap_one(
        &mut self,
        layer: &Wrap,
        inner: Inner,
        forward: bool,
        bottom: bool,
        p: &[u8],
    ) -> (Vec<Vec<u8>>, Inner) {
        let one = |h: Vec<u8>, kind| (vec![cat(&h, p)], kind);
        match layer {
            Wrap::Ethernet => {
                let mut h = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
                if !forward {
                    h.rotate_left(6);
                }
                h.extend(inner.ethertype().to_be_bytes());
                one(h, Inner::Ethernet)
            }
            Wrap::Vlan(vid) => {
                let mut h = (vid & 0x0fff).to_be_bytes().to_vec();
                h.extend(inner.ethertype().to_be_bytes());
                one(h, Inner::Vlan)
            }
            Wrap::Mpls(label) => {
                let word = (label << 12) | (u32::from(bottom) << 8) | 64;
                one(word.to_be_bytes().to_vec(), Inner::Mpls)
            }
            Wrap::PppoeSession(session) => {
                let mut h = vec![0x11, 0x00];
                h.extend(session.to_be_bytes());
                h.extend(((p.len() + 2) as u16).to_be_bytes());
                h.extend(inner.ppp_protocol().to_be_bytes());
                one(h, Inner::Pppoe)
            }
            Wrap::Ip {
                client_side,
                server_side,
                fragment,
            } => {
                let (src, dst) = if forward {
                    (*client_side, *server_side)
                } else {
                    (*server_side, *client_side)
                };
                self.ident = self.ident.wrapping_add(1);
                let kind = if src.is_ipv4() {
                    Inner::Ipv4
                } else {
                    Inner::Ipv6
                };
                let frames = ip_packets(src, dst, inner.ip_protocol(), self.ident, *fragment, p);
                (frames, kind)
            }
            Wrap::Gre { key, seq, checksum } => {
                let seq = match inner {
                    Inner::Erspan1 => false,
                    Inner::Erspan2 | Inner::Erspan3 => true,
                    _ => *seq,
                };
                let mut flags = 0u16;
                let mut opts = Vec::new();
                if *checksum {
                    flags |= 0x8000;
                    opts.extend([0, 0, 0, 0]);
                }
                if let Some(k) = key {
                    flags |= 0x2000;
                    opts.extend(k.to_be_bytes());
                }
                if seq {
                    flags |= 0x1000;
                    opts.extend(u32::from(self.ident).to_be_bytes());
                }
                let mut h = flags.to_be_bytes().to_vec();
                h.extend(inner.ethertype().to_be_bytes());
                h.extend(opts);
                let mut g = cat(&h, p);
                if *checksum {
                    let ck = fold(ones_sum(&g));
                    g[4..6].copy_from_slice(&ck.to_be_bytes());
                }
                (vec![g], Inner::Gre)
            }
            Wrap::Erspan1 => (vec![p.to_vec()], Inner::Erspan1),
            Wrap::Erspan2(session) => {
                let s = session & 0x3ff;
                let h = vec![0x10, 0x00, (s >> 8) as u8, s as u8, 0, 0, 0, 1];
                one(h, Inner::Erspan2)
            }
            Wrap::Erspan3 { session, subheader } => {
                let s = session & 0x3ff;
                let mut h = vec![0x20, 0x00, (s >> 8) as u8, s as u8];
                h.extend(0x1234_5678u32.to_be_bytes()); // timestamp
                h.extend([0, 0, 0, u8::from(*subheader)]); // SGT, FT 0 (Ethernet), O
                if *subheader {
                    h.extend([0xee; 8]);
                }
                one(h, Inner::Erspan3)
            }
            Wrap::Udp {
                client_port,
                server_port,
            } => {
                let (s, d) = if forward {
                    (*client_port, *server_port)
                } else {
                    (*server_port, *client_port)
                };
                let mut h = s.to_be_bytes().to_vec();
                h.extend(d.to_be_bytes());
                h.extend(((p.len() + 8) as u16).to_be_bytes());
                h.extend([0, 0]); // checksum, filled in by the IP layer
                one(h, Inner::Udp)
            }
            Wrap::Vxlan(vni) => {
                assert_eq!(inner, Inner::Ethernet, "VXLAN carries Ethernet");
                let v = vni.to_be_bytes();
                one(vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0], Inner::UdpPayload)
            }
            Wrap::Geneve { vni, option_words } => {
                let words = option_words & 0x3f;
                let v = vni.to_be_bytes();
                let mut h = vec![words, 0];
                h.extend(inner.ethertype().to_be_bytes());
                h.extend([v[1], v[2], v[3], 0]);
                if words > 0 {
                    h.extend([0x01, 0x02, 0x80, words - 1]); // class, type, length
                    h.extend(std::iter::repeat_n(0xcc, usize::from(words - 1) * 4));
                }
                one(h, Inner::UdpPayload)
            }
            Wrap::Teredo { auth, origin } => {
                assert_eq!(inner, Inner::Ipv6, "Teredo carries IPv6");
                let mut h = Vec::new();
                if *auth {
                    h.extend([0, 1, 0, 0]);
                    h.extend([0x5a; 8]); // nonce
                    h.push(0); // confirmation
                }
                if *origin {
                    h.extend([0, 0, !0x0d, !0x96]); // port 3433, obscured
                    h.extend([!192, !0, !2, !1]);
                }
                one(h, Inner::UdpPayload)
            }
            Wrap::GtpU {
                client_teid,
                server_teid,
                extension,
            } => {
                let teid = if forward { client_teid } else { server_teid };
                let ext: &[u8] = if *extension {
                    &[0, 1, 0, 0x85, 1, 0x10, 0x09, 0]
                } else {
                    &[]
                };
                let mut h = vec![if *extension { 0x34 } else { 0x30 }, 0xff];
                h.extend(((ext.len() + p.len()) as u16).to_be_bytes());
                h.extend(teid.to_be_bytes());
                h.extend_from_slice(ext);
                one(h, Inner::UdpPayload)
            }
            Wrap::Ayiya => {
                let mut h = vec![0x41, 0x52, 0x11, inner.ip_protocol()];
                h.extend(0x4af6_4bfdu32.to_be_bytes());
                h.extend([
                    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42,
                ]);
                h.extend([0x77; 20]);
                one(h, Inner::UdpPayload)
            }
            Wrap::L2tp { tunnel, session } => {
                let mut h = vec![0x48, 0x02];
                h.extend(((12 + 4 + p.len()) as u16).to_be_bytes());
                h.extend(tunnel.to_be_bytes());
                h.extend(session.to_be_bytes());
                h.extend(self.ident.to_be_bytes()); // Ns
                h.extend([0, 0]); // Nr
                h.extend([0xff, 0x03]);
                h.extend(inner.ppp_protocol().to_be_bytes());
                one(h, Inner::UdpPayload)
            }
            Wrap::Sll => {
                let mut h = vec![0, if forward { 4 } else { 0 }, 0, 1, 0, 6];
                h.extend([0x02, 0, 0, 0, 0, 0x01, 0, 0]);
                h.extend(inner.ethertype().to_be_bytes());
                one(h, Inner::Link)
            }
            Wrap::Nflog { big_endian } => {
                let w = |v: u16| {
                    if *big_endian {
                        v.to_be_bytes()
                    } else {
                        v.to_le_bytes()
                    }
                };
                let family = if inner == Inner::Ipv6 { 10 } else { 2 };
                let mut h = vec![family, 0, 0, 1];
                h.extend(w(8));
                h.extend(w(1)); // NFULA_PACKET_HDR
                h.extend(inner.ethertype().to_be_bytes());
                h.extend([3, 0]); // hook, pad
                let prefix = b"flowsplit\0";
                h.extend(w(4 + prefix.len() as u16));
                h.extend(w(10)); // NFULA_PREFIX
                h.extend_from_slice(prefix);
                h.extend([0, 0]); // pad to 4
                h.extend(w(4 + p.len() as u16));
                h.extend(w(9)); // NFULA_PAYLOAD
                let mut f = cat(&h, p);
                while f.len() % 4 != 0 {
                    f.push(0);
                }
                (vec![f], Inner::Link)
            }
            Wrap::CiscoHdlc => {
                let mut h = vec![0x0f, 0x00];
                h.extend(inner.ethertype().to_be_bytes());
                one(h, Inner::Link)
            }
            Wrap::Ppp { .. } => {
                let mut h = vec![0xff, 0x03];
                h.extend(inner.ppp_protocol().to_be_bytes());
                one(h, Inner::Ppp)
            }
            Wrap::Wlan {
                qos,
                four_address,
                data_pad,
            } => {
                let fc = if *qos { 0x88 } else { 0x08 };
                let flags = if *four_address {
                    0x03
                } else if forward {
                    0x01
                } else {
                    0x02
                };
                let mut h = vec![fc, flags, 0x3a, 0x01];
                h.extend([0x02, 0, 0, 0, 0, 0x0a]); // addr1
                h.extend([0x02, 0, 0, 0, 0, 0x0b]); // addr2
                h.extend([0x02, 0, 0, 0, 0, 0x0c]); // addr3
                h.extend([0x10, 0x00]); // sequence control
                if *four_address {
                    h.extend([0x02, 0, 0, 0, 0, 0x0d]);
                }
                if *qos {
                    h.extend([0x00, 0x00]);
                }
                if *data_pad {
                    while h.len() % 4 != 0 {
                        h.push(0);
                    }
                }
                h.extend([0xaa, 0xaa, 0x03, 0, 0, 0]);
                h.extend(inner.ethertype().to_be_bytes());
                one(h, Inner::Wlan)
            }
            Wrap::Radiotap { data_pad, fcs } => {
                assert_eq!(inner, Inner::Wlan, "radiotap carries 802.11");
                let flags = if *data_pad { 0x20 } else { 0 } | if *fcs { 0x10 } else { 0 };
                let mut h = vec![0, 0, 12, 0];
                h.extend(0x0000_0006u32.to_le_bytes()); // Flags, Rate
                h.extend([flags, 0x6c, 0, 0]); // flags, 54 Mb/s, padding
                let mut f = cat(&h, p);
                if *fcs {
                    f.extend([0xde, 0xad, 0xbe, 0xef]);
                }
                (vec![f], Inner::Link)
            }
            Wrap::Ppi => {
                assert_eq!(inner, Inner::Wlan, "PPI carries 802.11 here");
                let mut h = vec![0, 0, 8, 0];
                h.extend(105u32.to_le_bytes());
                one(h, Inner::Link)
            }
        }
    }
}

impl<S: PacketSink> PacketSink for TunnelSink<S> {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        for f in self.wrap(data) {
            self.out.frame(ts, &f)?;
        }
        Ok(())
    }
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

/// The address of `len` bytes at `at` in an IP header.
fn ip_at(p: &[u8], at: usize, len: usize) -> Option<IpAddr> {
    let b = p.get(at..at + len)?;
    if len == 4 {
        Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?))
    } else {
        Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?))
    }
}

/// One IP packet `src` → `dst` of `proto` around `body` (a UDP header in
/// `body` gets its checksum), or its fragments of `fragment` bytes.
fn ip_packets(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ident: u16,
    fragment: Option<usize>,
    body: &[u8],
) -> Vec<Vec<u8>> {
    let mut body = body.to_vec();
    if proto == 17 && body.len() >= 8 {
        body[6..8].copy_from_slice(&[0, 0]);
        let sum = pseudo_sum(src, dst, proto, body.len()) + ones_sum(&body);
        let ck = match fold(sum) {
            0 => 0xffff,
            c => c,
        };
        body[6..8].copy_from_slice(&ck.to_be_bytes());
    }
    let size = fragment
        .map(|s| (s / 8 * 8).max(8))
        .unwrap_or(body.len().max(1));
    let pieces: Vec<(usize, &[u8])> = body
        .chunks(size)
        .enumerate()
        .map(|(i, c)| (i * size, c))
        .collect();
    let count = pieces.len();
    let mut out = Vec::new();
    for (i, (off, chunk)) in pieces.into_iter().enumerate() {
        let more = i + 1 < count;
        let frag = fragment.map(|_| (off, more));
        out.push(ip_header(src, dst, proto, ident, frag, chunk));
    }
    if out.is_empty() {
        out.push(ip_header(src, dst, proto, ident, None, &[]));
    }
    out
}

/// An IP header (and a Fragment header for fragmented IPv6) plus `body`.
fn ip_header(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ident: u16,
    frag: Option<(usize, bool)>,
    body: &[u8],
) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0];
            h.extend(((20 + body.len()) as u16).to_be_bytes());
            h.extend(ident.to_be_bytes());
            let field = match frag {
                Some((off, more)) => (off / 8) as u16 | if more { 0x2000 } else { 0 },
                None => 0,
            };
            h.extend(field.to_be_bytes());
            h.extend([64, proto, 0, 0]);
            h.extend(s.octets());
            h.extend(d.octets());
            let ck = fold(ones_sum(&h));
            h[10..12].copy_from_slice(&ck.to_be_bytes());
            cat(&h, body)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ext = if frag.is_some() { 8 } else { 0 };
            let mut h = vec![0x60, 0, 0, 0];
            h.extend(((ext + body.len()) as u16).to_be_bytes());
            h.push(if frag.is_some() { 44 } else { proto });
            h.push(64);
            h.extend(s.octets());
            h.extend(d.octets());
            if let Some((off, more)) = frag {
                h.extend([proto, 0]);
                h.extend(((off as u16) & !7 | u16::from(more)).to_be_bytes());
                h.extend(u32::from(ident).to_be_bytes());
            }
            cat(&h, body)
        }
        _ => panic!("outer addresses {src} and {dst} are of different IP versions"),
    }
}

/// Ones'-complement sum of the UDP pseudo header.
fn pseudo_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ones_sum(&s.octets()) + ones_sum(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => ones_sum(&s.octets()) + ones_sum(&d.octets()),
        _ => 0,
    };
    addrs + u32::from(proto) + (len as u32 >> 16) + (len as u32 & 0xffff)
}

/// Sum of big-endian 16-bit words (an odd last byte padded with zero).
fn ones_sum(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .fold(0u32, u32::wrapping_add)
}

/// Folds a 32-bit sum into the 16-bit ones'-complement checksum.
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

    fn v4_packet() -> Vec<u8> {
        // 10.0.0.1 -> 10.0.0.2, protocol 6, 4 bytes of body.
        let mut p = vec![
            0x45, 0, 0, 24, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend(b"body");
        p
    }

    fn sink(layers: Vec<Wrap>) -> TunnelSink<Vec<(Timestamp, Vec<u8>)>> {
        TunnelSink::new(Vec::new(), layers, "10.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn udp_vxlan_frame_parses_with_valid_checksums() {
        let mut s = sink(vec![
            Wrap::Ethernet,
            Wrap::ip("192.0.2.1", "192.0.2.2"),
            Wrap::Udp {
                client_port: 50000,
                server_port: 4789,
            },
            Wrap::Vxlan(42),
            Wrap::Ethernet,
        ]);
        let frames = s.wrap(&v4_packet());
        assert_eq!(frames.len(), 1);
        let p = SlicedPacket::from_ethernet(&frames[0]).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        assert_eq!(
            ip.header().to_header().calc_header_checksum(),
            ip.header().header_checksum()
        );
        let Some(TransportSlice::Udp(udp)) = &p.transport else {
            panic!("not UDP")
        };
        assert_eq!((udp.source_port(), udp.destination_port()), (50000, 4789));
        let h = udp.to_header();
        assert_eq!(
            h.calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
                .unwrap(),
            h.checksum
        );
        assert_eq!(&udp.payload()[..8], &[0x08, 0, 0, 0, 0, 0, 42, 0]);
        assert!(frames[0].ends_with(&v4_packet()));
    }

    #[test]
    fn reverse_direction_swaps_outer_endpoints_and_teid() {
        let mut s = sink(vec![
            Wrap::ip("192.0.2.1", "192.0.2.2"),
            Wrap::Udp {
                client_port: 2152,
                server_port: 2152,
            },
            Wrap::GtpU {
                client_teid: 1,
                server_teid: 2,
                extension: false,
            },
        ]);
        let mut back = v4_packet();
        back[12..20].copy_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1]);
        let f = &s.wrap(&back)[0];
        assert_eq!(&f[12..20], &[192, 0, 2, 2, 192, 0, 2, 1]);
        assert_eq!(&f[28 + 4..28 + 8], &2u32.to_be_bytes());
    }

    #[test]
    fn outer_fragmentation_splits_the_datagram() {
        let mut s = sink(vec![
            Wrap::Ethernet,
            Wrap::Ip {
                client_side: "192.0.2.1".parse().unwrap(),
                server_side: "192.0.2.2".parse().unwrap(),
                fragment: Some(16),
            },
            Wrap::Gre {
                key: None,
                seq: false,
                checksum: false,
            },
        ]);
        let frames = s.wrap(&v4_packet()); // 4 + 24 = 28 bytes: 16 + 12
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0][14 + 6], 0x20); // MF
        assert_eq!(frames[1][14 + 7], 2); // offset 16 / 8
    }

    #[test]
    fn gre_checksum_verifies() {
        let mut s = sink(vec![Wrap::Gre {
            key: Some(5),
            seq: true,
            checksum: true,
        }]);
        let g = &s.wrap(&v4_packet())[0];
        assert_eq!(fold(ones_sum(g)), 0);
        assert_eq!(&g[..4], &[0xb0, 0, 0x08, 0x00]);
    }

    #[test]
    fn mpls_bottom_of_stack_only_on_the_last_label() {
        let mut s = sink(vec![Wrap::Ethernet, Wrap::Mpls(100), Wrap::Mpls(200)]);
        let f = &s.wrap(&v4_packet())[0];
        assert_eq!(&f[12..14], &[0x88, 0x47]);
        assert_eq!(f[16] & 1, 0);
        assert_eq!(f[20] & 1, 1);
    }

    #[test]
    fn linktype_follows_the_outermost_layer() {
        assert_eq!(Wrap::linktype(&[Wrap::Ethernet]), 1);
        assert_eq!(Wrap::linktype(&[Wrap::Ppp { linktype: 50 }]), 50);
        assert_eq!(Wrap::linktype(&[Wrap::ip("192.0.2.1", "192.0.2.2")]), 101);
    }
}
