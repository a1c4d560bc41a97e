//! Tunnels over IP: from the payload of an outer IP header to the next
//! header inside (an Ethernet frame, an EtherType-named payload, or IP).
//!
//! Owns two tables and one small function per tunnel:
//!
//! ```text
//! IP protocol ──ip_proto_handler()──▶ GRE (47), UDP (17), IPv4-in-IP (4), IPv6-in-IP (41)
//! UDP port    ──udp_tunnel()────────▶ VXLAN 4789, Geneve 6081, Teredo 3544,
//!                                     GTP-U 2152, AYIYA 5072, L2TPv2 1701 (+ configured ports)
//! GRE protocol = EtherType ─────────▶ link's EtherType table (0x6558 Ethernet,
//!                                     0x88be ERSPAN II, 0x22eb ERSPAN III, 0x880b PPP, IP, MPLS)
//! ```
//!
//! Each handler reads its header, records it in the [`Ctx`] path and returns
//! the next [`Step`]; the decoder's walk takes it from there, so nesting
//! (ERSPAN carrying VXLAN carrying IP-in-IP ...) needs nothing special and
//! is bounded by the path length. Nothing here keeps state or looks at TCP.
//! A UDP datagram on a tunnel port whose header does not fit is "not TCP".

use super::encap::{Ctx, LayerKind};
use super::link::{Handler, Step, ETHERTYPE_ERSPAN2, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::link::{ETHERTYPE_PPP, ETHERTYPE_TEB};
use super::{ppp, FragmentLimits, Skip};
use std::fmt;
use std::str::FromStr;

/// IP protocol: IPv4 encapsulated in IP.
const PROTO_IPIP: u8 = 4;
/// IP protocol: UDP.
const PROTO_UDP: u8 = 17;
/// IP protocol: IPv6 encapsulated in IP.
const PROTO_IPV6: u8 = 41;
/// IP protocol: GRE.
const PROTO_GRE: u8 = 47;

/// The IP-protocol table: which function unwraps which protocol.
pub(crate) fn ip_proto_handler(proto: u8) -> Option<Handler> {
    Some(match proto {
        PROTO_IPIP => ipip4,
        PROTO_IPV6 => ipip6,
        PROTO_GRE => gre,
        PROTO_UDP => udp,
        _ => return None,
    })
}

/// A tunnel carried over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpTunnel {
    /// VXLAN (RFC 7348), standard port 4789.
    Vxlan,
    /// Geneve (RFC 8926), standard port 6081.
    Geneve,
    /// Teredo (RFC 4380), standard port 3544.
    Teredo,
    /// GTP-U (3GPP TS 29.281), standard port 2152.
    GtpU,
    /// AYIYA, standard port 5072.
    Ayiya,
    /// L2TPv2 data messages (RFC 2661), standard port 1701.
    L2tp,
}

impl UdpTunnel {
    /// Every kind, in the order of [`UdpTunnel::standard_port`].
    pub const ALL: [UdpTunnel; 6] = [
        UdpTunnel::Vxlan,
        UdpTunnel::Geneve,
        UdpTunnel::Teredo,
        UdpTunnel::GtpU,
        UdpTunnel::Ayiya,
        UdpTunnel::L2tp,
    ];

    /// The IANA port it is recognised on without configuration.
    pub fn standard_port(self) -> u16 {
        match self {
            UdpTunnel::Vxlan => 4789,
            UdpTunnel::Geneve => 6081,
            UdpTunnel::Teredo => 3544,
            UdpTunnel::GtpU => 2152,
            UdpTunnel::Ayiya => 5072,
            UdpTunnel::L2tp => 1701,
        }
    }

    /// The name [`FromStr`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            UdpTunnel::Vxlan => "vxlan",
            UdpTunnel::Geneve => "geneve",
            UdpTunnel::Teredo => "teredo",
            UdpTunnel::GtpU => "gtp-u",
            UdpTunnel::Ayiya => "ayiya",
            UdpTunnel::L2tp => "l2tp",
        }
    }

    fn handler(self) -> Handler {
        match self {
            UdpTunnel::Vxlan => vxlan,
            UdpTunnel::Geneve => geneve,
            UdpTunnel::Teredo => teredo,
            UdpTunnel::GtpU => gtp_u,
            UdpTunnel::Ayiya => ayiya,
            UdpTunnel::L2tp => l2tp,
        }
    }

    fn standard(port: u16) -> Option<UdpTunnel> {
        UdpTunnel::ALL
            .into_iter()
            .find(|t| t.standard_port() == port)
    }
}

impl fmt::Display for UdpTunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UdpTunnel {
    type Err = String;

    /// `vxlan`, `geneve`, `teredo`, `gtp-u` (or `gtpu`), `ayiya`, `l2tp`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase();
        UdpTunnel::ALL
            .into_iter()
            .find(|t| t.name() == s || (s == "gtpu" && *t == UdpTunnel::GtpU))
            .ok_or_else(|| {
                format!("unknown UDP tunnel {s:?}: expected vxlan, geneve, teredo, gtp-u, ayiya or l2tp")
            })
    }
}

/// Settings of a [`super::Decoder`].
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// Bounds on the IP fragment table.
    pub fragments: FragmentLimits,
    /// UDP ports on which a tunnel is decoded besides its standard port
    /// (e.g. `(8472, UdpTunnel::Vxlan)`, the Linux kernel's old VXLAN port).
    /// Looked up before the standard ports.
    pub udp_ports: Vec<(u16, UdpTunnel)>,
}

impl DecodeOptions {
    /// These options plus `tunnel` recognised on UDP `port`.
    pub fn with_udp_port(mut self, port: u16, tunnel: UdpTunnel) -> Self {
        self.udp_ports.push((port, tunnel));
        self
    }

    /// The tunnel decoded on UDP `port`, if any.
    pub fn udp_tunnel(&self, port: u16) -> Option<UdpTunnel> {
        self.udp_ports
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, t)| *t)
            .or_else(|| UdpTunnel::standard(port))
    }
}

/// Reads a big-endian u16 at `at`.
fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian u32 at `at`.
fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

// ---- IP protocols ----------------------------------------------------------

/// IPv4 in IP (4in4, 4in6).
fn ipip4<'a>(data: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: Some(ETHERTYPE_IPV4),
    })
}

/// IPv6 in IP (6in4, 6in6).
fn ipip6<'a>(data: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: Some(ETHERTYPE_IPV6),
    })
}

/// GRE flag bits (RFC 2784, RFC 2890, RFC 2637).
const GRE_CHECKSUM: u16 = 0x8000;
const GRE_ROUTING: u16 = 0x4000;
const GRE_KEY: u16 = 0x2000;
const GRE_SEQ: u16 = 0x1000;
const GRE_ACK: u16 = 0x0080;

/// GRE, version 0 (with checksum, key and sequence options) and version 1
/// (PPTP: key = payload length and call id, optional sequence and ack
/// numbers, PPP inside). The protocol type is an EtherType, handed to the
/// EtherType table; 0x88be without a sequence number is ERSPAN type I,
/// which has no header of its own.
///
/// ```text
/// C R K S . . . . A . . . . ver(3) | protocol(2) | [checksum(2) reserved(2)]
/// [key(4)] [sequence(4)] [ack(4), version 1]
/// ```
fn gre<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("GRE header truncated");
    let flags = be16(data, 0).ok_or(TRUNCATED)?;
    let protocol = be16(data, 2).ok_or(TRUNCATED)?;
    let version = flags & 7;
    if version > 1 || flags & GRE_ROUTING != 0 {
        return Err(Skip::NotTcp); // unknown version; obsolete source routing
    }
    let mut len = 4usize;
    if flags & GRE_CHECKSUM != 0 {
        len += 4;
    }
    let key = if flags & GRE_KEY != 0 {
        let k = be32(data, len).ok_or(TRUNCATED)?;
        len += 4;
        Some(k)
    } else {
        None
    };
    let seq = flags & GRE_SEQ != 0;
    if seq {
        len += 4;
    }
    if version == 1 {
        if protocol != ETHERTYPE_PPP {
            return Err(Skip::NotTcp);
        }
        if flags & GRE_ACK != 0 {
            len += 4;
        }
    }
    let rest = data.get(len..).ok_or(TRUNCATED)?;
    match key {
        Some(k) => ctx.push(LayerKind::GreKey, k)?,
        None => ctx.push(LayerKind::Gre, 0)?,
    }
    if protocol == ETHERTYPE_ERSPAN2 && !seq {
        ctx.push(LayerKind::Erspan1, 0)?;
        return Ok(Step::Ether {
            ethertype: ETHERTYPE_TEB,
            rest,
        });
    }
    Ok(Step::Ether {
        ethertype: protocol,
        rest,
    })
}

/// ERSPAN type II (GRE protocol 0x88be with a sequence number): 8 bytes,
/// version 1, a 10-bit session id; an Ethernet frame follows.
///
/// ```text
/// ver(4)=1 vlan(12) | cos(3) en(2) t(1) session(10) | reserved(12) index(20)
/// ```
pub(crate) fn erspan2<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let header = data
        .get(..8)
        .ok_or(Skip::Malformed("ERSPAN II header truncated"))?;
    if header[0] >> 4 != 1 {
        return Err(Skip::Malformed("ERSPAN II version is not 1"));
    }
    let session = u16::from_be_bytes([header[2], header[3]]) & 0x3ff;
    ctx.push(LayerKind::Erspan2, u32::from(session))?;
    Ok(Step::Ether {
        ethertype: ETHERTYPE_TEB,
        rest: &data[8..],
    })
}

/// ERSPAN type III (GRE protocol 0x22eb): 12 bytes, version 2, plus an
/// 8-byte platform-specific subheader when the O bit is set. Frame type 0
/// is Ethernet, 2 is IP.
///
/// ```text
/// ver(4)=2 vlan(12) | cos(3) bso(2) t(1) session(10)
/// timestamp(32)
/// sgt(16) | p(1) ft(5) hw(6) d(1) gra(2) o(1)
/// ```
pub(crate) fn erspan3<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("ERSPAN III header truncated");
    let header = data.get(..12).ok_or(TRUNCATED)?;
    if header[0] >> 4 != 2 {
        return Err(Skip::Malformed("ERSPAN III version is not 2"));
    }
    let session = u16::from_be_bytes([header[2], header[3]]) & 0x3ff;
    let word = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    let len = if word & 1 != 0 { 20 } else { 12 };
    let rest = data.get(len..).ok_or(TRUNCATED)?;
    ctx.push(LayerKind::Erspan3, u32::from(session))?;
    match (word >> 10) & 0x1f {
        0 => Ok(Step::Ether {
            ethertype: ETHERTYPE_TEB,
            rest,
        }),
        2 => Ok(Step::Ip {
            payload: rest,
            ethertype: None,
        }),
        _ => Err(Skip::NotIp),
    }
}

// ---- UDP -------------------------------------------------------------------

/// UDP: the header, then the tunnel of the lower port if it names one, else
/// of the higher (as Wireshark tries them). The UDP length bounds the
/// payload when it is sane.
fn udp<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let (sport, dport) = match (be16(data, 0), be16(data, 2)) {
        (Some(s), Some(d)) => (s, d),
        _ => return Err(Skip::Malformed("UDP header truncated")),
    };
    let len = usize::from(be16(data, 4).ok_or(Skip::Malformed("UDP header truncated"))?);
    let payload = data
        .get(8..)
        .ok_or(Skip::Malformed("UDP header truncated"))?;
    let payload = if len >= 8 {
        payload.get(..len - 8).unwrap_or(payload)
    } else {
        payload
    };
    let (lo, hi) = (sport.min(dport), sport.max(dport));
    let tunnel = ctx
        .opts
        .udp_tunnel(lo)
        .or_else(|| ctx.opts.udp_tunnel(hi))
        .ok_or(Skip::NotTcp)?;
    ctx.push(LayerKind::Udp, 0)?;
    ctx.fold(&[tunnel as u8]);
    (tunnel.handler())(payload, ctx)
}

/// VXLAN: 8 bytes (flags, VNI), then an Ethernet frame. The VNI names a
/// network, so it is part of the tunnel discriminator.
fn vxlan<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let header = data.get(..8).ok_or(Skip::NotTcp)?;
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    ctx.push(LayerKind::Vxlan, vni)?;
    ctx.fold(&vni.to_be_bytes());
    Ok(Step::Ether {
        ethertype: ETHERTYPE_TEB,
        rest: &data[8..],
    })
}

/// Geneve: 8 bytes plus options (length in 4-byte words), version 0, the
/// payload named by EtherType (0x6558 Ethernet, or IP). The VNI is part of
/// the tunnel discriminator.
///
/// ```text
/// ver(2) optlen(6) | O C rsvd(6) | protocol(16) | vni(24) rsvd(8) | options
/// ```
fn geneve<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let header = data.get(..8).ok_or(Skip::NotTcp)?;
    if header[0] >> 6 != 0 {
        return Err(Skip::NotTcp);
    }
    let len = 8 + usize::from(header[0] & 0x3f) * 4;
    let rest = data
        .get(len..)
        .ok_or(Skip::Malformed("Geneve options truncated"))?;
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    ctx.push(LayerKind::Geneve, vni)?;
    ctx.fold(&vni.to_be_bytes());
    Ok(Step::Ether {
        ethertype: u16::from_be_bytes([header[2], header[3]]),
        rest,
    })
}

/// Teredo: an IPv6 packet, optionally after an authentication indicator
/// (`00 01`) and/or an origin indication (`00 00`, 8 bytes).
fn teredo<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("Teredo indicator truncated");
    let mut rest = data;
    for _ in 0..2 {
        match rest {
            [0x00, 0x01, id_len, au_len, ..] => {
                // client id, authentication value, nonce (8), confirmation (1)
                let len = 4 + usize::from(*id_len) + usize::from(*au_len) + 9;
                rest = rest.get(len..).ok_or(TRUNCATED)?;
            }
            [0x00, 0x00, ..] => rest = rest.get(8..).ok_or(TRUNCATED)?,
            _ => break,
        }
    }
    if rest.first().map(|b| b >> 4) != Some(6) {
        return Err(Skip::NotTcp);
    }
    ctx.push(LayerKind::Teredo, 0)?;
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ETHERTYPE_IPV6),
    })
}

/// Most GTP-U extension headers walked.
const MAX_GTP_EXTENSIONS: usize = 16;

/// GTP-U version 1, G-PDU messages only (type 255): 8 bytes, 4 more when
/// any of the E, S, PN flags is set, then extension headers (length in
/// 4-byte words, next type in their last byte), then an IP packet. The
/// TEID differs per direction, so it is recorded but not part of the
/// tunnel discriminator.
fn gtp_u<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("GTP-U header truncated");
    let header = data.get(..8).ok_or(Skip::NotTcp)?;
    let flags = header[0];
    if flags >> 5 != 1 || flags & 0x10 == 0 || header[1] != 0xff {
        return Err(Skip::NotTcp); // not GTPv1, not GTP (GTP'), or not a G-PDU
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let teid = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let mut off = 8usize;
    if flags & 0x07 != 0 {
        let next = *data.get(11).ok_or(TRUNCATED)?;
        off = 12;
        let mut next = if flags & 0x04 != 0 { next } else { 0 };
        let mut walked = 0;
        while next != 0 {
            walked += 1;
            if walked > MAX_GTP_EXTENSIONS {
                return Err(Skip::Malformed("too many GTP-U extension headers"));
            }
            let words = usize::from(*data.get(off).ok_or(TRUNCATED)?);
            if words == 0 {
                return Err(Skip::Malformed("GTP-U extension header length 0"));
            }
            let end = off + words * 4;
            next = *data.get(end - 1).ok_or(TRUNCATED)?;
            off = end;
        }
    }
    let rest = data.get(off..).ok_or(TRUNCATED)?;
    // The length counts everything after the first 8 bytes.
    let rest = rest.get(..(8 + length).saturating_sub(off)).unwrap_or(rest);
    ctx.push(LayerKind::GtpU, teid)?;
    Ok(Step::Ip {
        payload: rest,
        ethertype: None,
    })
}

/// AYIYA ("anything in anything"): a header of 8 bytes, the identity
/// (2^idlen bytes) and the signature (siglen 4-byte words); only forward
/// messages (opcode 1) carry a packet, named by IP protocol (4 or 41).
///
/// ```text
/// idlen(4) idtype(4) | siglen(4) hshmeth(4) | autmeth(4) opcode(4) | next header(8)
/// epoch time(32) | identity | signature | payload
/// ```
fn ayiya<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let header = data.get(..8).ok_or(Skip::NotTcp)?;
    if header[2] & 0x0f != 1 {
        return Err(Skip::NotTcp); // not a forward message
    }
    let ethertype = match header[3] {
        PROTO_IPIP => ETHERTYPE_IPV4,
        PROTO_IPV6 => ETHERTYPE_IPV6,
        _ => return Err(Skip::NotTcp),
    };
    let len = 8 + (1usize << (header[0] >> 4)) + usize::from(header[1] >> 4) * 4;
    let rest = data
        .get(len..)
        .ok_or(Skip::Malformed("AYIYA header truncated"))?;
    ctx.push(LayerKind::Ayiya, 0)?;
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ethertype),
    })
}

/// L2TPv2 flag bits.
const L2TP_CONTROL: u16 = 0x8000;
const L2TP_LENGTH: u16 = 0x4000;
const L2TP_SEQUENCE: u16 = 0x0800;
const L2TP_OFFSET: u16 = 0x0200;

/// L2TP version 2 data messages: flags, optional length, tunnel and
/// session ids, optional Ns/Nr, optional offset padding, then a PPP frame.
/// Control messages and L2TPv3 are not TCP to us.
fn l2tp<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("L2TP header truncated");
    let flags = be16(data, 0).ok_or(Skip::NotTcp)?;
    if flags & 0x000f != 2 || flags & L2TP_CONTROL != 0 {
        return Err(Skip::NotTcp);
    }
    let mut off = 2usize;
    if flags & L2TP_LENGTH != 0 {
        off += 2;
    }
    let session = be16(data, off + 2).ok_or(TRUNCATED)?;
    off += 4;
    if flags & L2TP_SEQUENCE != 0 {
        off += 4;
    }
    if flags & L2TP_OFFSET != 0 {
        let pad = usize::from(be16(data, off).ok_or(TRUNCATED)?);
        off += 2 + pad;
    }
    let rest = data.get(off..).ok_or(TRUNCATED)?;
    ctx.push(LayerKind::L2tp, u32::from(session))?;
    match rest {
        [0xff, 0x03, ppp @ ..] => ppp::protocol(ppp),
        _ => ppp::protocol(rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::link::{ETHERTYPE_ERSPAN3, ETHERTYPE_MPLS};

    fn ctx_run(
        f: Handler,
        data: &[u8],
        opts: &DecodeOptions,
    ) -> Result<(String, Vec<u8>, Option<u16>), Skip> {
        let mut ctx = Ctx::new(opts);
        let (rest, et) = match f(data, &mut ctx)? {
            Step::Ether { ethertype, rest } => (rest, Some(ethertype)),
            Step::Ip { payload, ethertype } => (payload, ethertype),
        };
        Ok((ctx.encap.path.render(), rest.to_vec(), et))
    }

    fn run(f: Handler, data: &[u8]) -> Result<(String, Vec<u8>, Option<u16>), Skip> {
        ctx_run(f, data, &DecodeOptions::default())
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn gre_plain() {
        let f = cat(&[&[0, 0, 0x08, 0x00], b"IP"]);
        assert_eq!(
            run(gre, &f),
            Ok(("gre".into(), b"IP".to_vec(), Some(ETHERTYPE_IPV4)))
        );
    }

    #[test]
    fn gre_checksum_key_and_sequence() {
        let f = cat(&[
            &[0xb0, 0, 0x86, 0xdd],
            &[0x12, 0x34, 0, 0], // checksum, reserved
            &7u32.to_be_bytes(), // key
            &9u32.to_be_bytes(), // sequence
            b"IP",
        ]);
        assert_eq!(
            run(gre, &f),
            Ok(("gre key 7".into(), b"IP".to_vec(), Some(ETHERTYPE_IPV6)))
        );
    }

    #[test]
    fn gre_transparent_ethernet() {
        let f = cat(&[&[0x20, 0, 0x65, 0x58, 0, 0, 0, 0], b"ETH"]);
        assert_eq!(run(gre, &f).unwrap().2, Some(ETHERTYPE_TEB));
    }

    #[test]
    fn gre_erspan_type_i_has_no_header() {
        let f = cat(&[&[0, 0, 0x88, 0xbe], b"ETH"]);
        assert_eq!(
            run(gre, &f),
            Ok(("gre/erspan1".into(), b"ETH".to_vec(), Some(ETHERTYPE_TEB)))
        );
    }

    #[test]
    fn gre_erspan_type_ii_goes_to_the_erspan_handler() {
        let f = cat(&[&[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1], b"X"]);
        assert_eq!(run(gre, &f).unwrap().2, Some(ETHERTYPE_ERSPAN2));
    }

    #[test]
    fn gre_pptp_version_1() {
        let f = cat(&[
            &[0x30, 0x81, 0x88, 0x0b],
            &[0, 4, 0, 9], // payload length, call id
            &1u32.to_be_bytes(),
            &2u32.to_be_bytes(), // ack
            &[0xff, 0x03, 0x00, 0x21],
        ]);
        assert_eq!(run(gre, &f).unwrap().2, Some(ETHERTYPE_PPP));
        assert_eq!(run(gre, &f).unwrap().1, &[0xff, 0x03, 0x00, 0x21]);
    }

    #[test]
    fn gre_routing_and_unknown_versions_are_not_followed() {
        assert_eq!(run(gre, &[0x40, 0, 8, 0, 0, 0, 0, 0]), Err(Skip::NotTcp));
        assert_eq!(run(gre, &[0, 2, 8, 0]), Err(Skip::NotTcp));
        assert_eq!(run(gre, &[0, 1, 8, 0, 0, 0, 0, 0]), Err(Skip::NotTcp));
    }

    #[test]
    fn gre_truncated_options_are_malformed() {
        assert!(matches!(
            run(gre, &[0x20, 0, 8, 0, 0]),
            Err(Skip::Malformed(_))
        ));
        assert!(matches!(run(gre, &[0x80, 0, 8]), Err(Skip::Malformed(_))));
    }

    #[test]
    fn erspan_ii_session_and_ethernet() {
        let f = cat(&[&[0x10, 0x64, 0x03, 0xff, 0, 0, 0, 0], b"ETH"]);
        assert_eq!(
            run(erspan2, &f),
            Ok(("erspan2 1023".into(), b"ETH".to_vec(), Some(ETHERTYPE_TEB)))
        );
        assert!(matches!(run(erspan2, &f[..7]), Err(Skip::Malformed(_))));
        let mut bad = f.clone();
        bad[0] = 0x20;
        assert!(matches!(run(erspan2, &bad), Err(Skip::Malformed(_))));
    }

    #[test]
    fn erspan_iii_with_and_without_subheader() {
        let base = [0x20, 0, 0x00, 0x05, 1, 2, 3, 4, 0, 0, 0, 0];
        let f = cat(&[&base, b"ETH"]);
        assert_eq!(
            run(erspan3, &f),
            Ok(("erspan3 5".into(), b"ETH".to_vec(), Some(ETHERTYPE_TEB)))
        );
        let mut o = base;
        o[11] = 1;
        let f = cat(&[&o, &[0xee; 8], b"ETH"]);
        assert_eq!(run(erspan3, &f).unwrap().1, b"ETH");
        let mut ip = base;
        ip[10] = 2 << 2; // frame type 2: IP
        let f = cat(&[&ip, b"\x45"]);
        assert_eq!(run(erspan3, &f).unwrap().2, None);
        let _ = ETHERTYPE_ERSPAN3;
    }

    fn udp_header(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let len = (8 + payload.len()) as u16;
        cat(&[
            &sport.to_be_bytes(),
            &dport.to_be_bytes(),
            &len.to_be_bytes(),
            &[0, 0],
            payload,
        ])
    }

    #[test]
    fn udp_vxlan_on_either_port_with_vni() {
        let vx = cat(&[&[0x08, 0, 0, 0, 0, 0x01, 0x02, 0], b"ETH"]);
        for (s, d) in [(50000, 4789), (4789, 4790)] {
            assert_eq!(
                run(udp, &udp_header(s, d, &vx)),
                Ok(("udp/vxlan 258".into(), b"ETH".to_vec(), Some(ETHERTYPE_TEB)))
            );
        }
    }

    #[test]
    fn udp_length_cuts_trailing_bytes() {
        let mut f = udp_header(1, 4789, &[0x08, 0, 0, 0, 0, 0, 1, 0, b'E']);
        f.extend([0; 5]);
        assert_eq!(run(udp, &f).unwrap().1, b"E");
    }

    #[test]
    fn udp_unknown_port_is_not_tcp() {
        assert_eq!(run(udp, &udp_header(53, 40000, b"dns?")), Err(Skip::NotTcp));
        assert!(matches!(run(udp, &[0, 53, 0]), Err(Skip::Malformed(_))));
    }

    #[test]
    fn udp_configured_port() {
        let o = DecodeOptions::default().with_udp_port(8472, UdpTunnel::Vxlan);
        let f = udp_header(40000, 8472, &[0x08, 0, 0, 0, 0, 0, 9, 0]);
        assert_eq!(ctx_run(udp, &f, &o).unwrap().0, "udp/vxlan 9");
        assert_eq!(run(udp, &f), Err(Skip::NotTcp));
    }

    #[test]
    fn udp_tunnel_names_parse() {
        for t in UdpTunnel::ALL {
            assert_eq!(t.name().parse::<UdpTunnel>(), Ok(t));
        }
        assert_eq!("GTPU".parse::<UdpTunnel>(), Ok(UdpTunnel::GtpU));
        assert!("ipsec".parse::<UdpTunnel>().is_err());
    }

    #[test]
    fn geneve_with_options_and_protocol() {
        let f = cat(&[&[0x02, 0, 0x65, 0x58, 0, 0, 0x2a, 0], &[0xcc; 8], b"ETH"]);
        assert_eq!(
            run(geneve, &f),
            Ok(("geneve 42".into(), b"ETH".to_vec(), Some(ETHERTYPE_TEB)))
        );
        let f = cat(&[&[0x00, 0, 0x08, 0x00, 0, 0, 1, 0], b"IP"]);
        assert_eq!(run(geneve, &f).unwrap().2, Some(ETHERTYPE_IPV4));
        assert!(matches!(
            run(geneve, &[0x01, 0, 0x65, 0x58, 0, 0, 1, 0]),
            Err(Skip::Malformed(_))
        ));
        assert_eq!(
            run(geneve, &[0x40, 0, 0x65, 0x58, 0, 0, 1, 0]),
            Err(Skip::NotTcp)
        );
    }

    #[test]
    fn teredo_plain_origin_and_authentication() {
        let v6 = [0x60, 0, 0, 0];
        assert_eq!(run(teredo, &v6).unwrap().1, v6);
        let f = cat(&[&[0, 0, 1, 2, 3, 4, 5, 6], &v6]);
        assert_eq!(run(teredo, &f).unwrap().1, v6);
        let auth = cat(&[&[0, 1, 2, 1], &[9, 9], &[8], &[0; 8], &[0]]);
        let f = cat(&[&auth, &[0, 0, 1, 2, 3, 4, 5, 6], &v6]);
        assert_eq!(
            run(teredo, &f),
            Ok(("teredo".into(), v6.to_vec(), Some(ETHERTYPE_IPV6)))
        );
        assert_eq!(run(teredo, &[0x45, 0]), Err(Skip::NotTcp));
    }

    #[test]
    fn gtp_u_plain_and_with_extension_headers() {
        let ip = [0x45, 0, 0, 20];
        let f = cat(&[&[0x30, 0xff, 0, 4], &0x1234u32.to_be_bytes(), &ip]);
        assert_eq!(run(gtp_u, &f), Ok(("gtp-u 4660".into(), ip.to_vec(), None)));
        // E flag: seq, N-PDU, next type 0x85 (PDU session container, 1 word), then none.
        let f = cat(&[
            &[0x34, 0xff, 0, 12],
            &1u32.to_be_bytes(),
            &[0, 0, 0, 0x85],
            &[1, 0x10, 0x05, 0x00],
            &ip,
            &[0xaa; 3], // beyond the GTP length
        ]);
        assert_eq!(run(gtp_u, &f).unwrap().1, ip);
    }

    #[test]
    fn gtp_u_non_gpdu_and_bad_extensions() {
        let echo = cat(&[&[0x32, 0x01, 0, 4], &[0; 4], &[0; 4]]);
        assert_eq!(run(gtp_u, &echo), Err(Skip::NotTcp));
        let zero_len = cat(&[
            &[0x34, 0xff, 0, 8],
            &[0; 4],
            &[0, 0, 0, 0x85],
            &[0, 0, 0, 0],
        ]);
        assert!(matches!(run(gtp_u, &zero_len), Err(Skip::Malformed(_))));
        let mut chain = cat(&[&[0x34, 0xff, 0, 0], &[0; 4], &[0, 0, 0, 0x85]]);
        for _ in 0..20 {
            chain.extend([1, 0, 0, 0x85]);
        }
        assert!(matches!(run(gtp_u, &chain), Err(Skip::Malformed(_))));
    }

    #[test]
    fn ayiya_forward_ipv6() {
        let h = cat(&[&[0x41, 0x52, 0x11, 41], &[0; 4], &[0x11; 16], &[0x22; 20]]);
        let f = cat(&[&h, &[0x60, 0]]);
        assert_eq!(
            run(ayiya, &f),
            Ok(("ayiya".into(), vec![0x60, 0], Some(ETHERTYPE_IPV6)))
        );
        let mut echo = f.clone();
        echo[2] = 0x12;
        assert_eq!(run(ayiya, &echo), Err(Skip::NotTcp));
        assert!(matches!(run(ayiya, &f[..30]), Err(Skip::Malformed(_))));
    }

    #[test]
    fn l2tp_data_with_offset_and_sequence() {
        let f = cat(&[
            &[0x0a, 0x02], // S, O, version 2
            &[0x4a, 0x32], // tunnel
            &[0xd3, 0x5e], // session
            &[0, 1, 0, 2], // Ns, Nr
            &[0, 2, 0, 0], // offset size 2, padding
            &[0xff, 0x03, 0x00, 0x57, 0x60],
        ]);
        assert_eq!(
            run(l2tp, &f),
            Ok(("l2tp 54110".into(), vec![0x60], Some(ETHERTYPE_IPV6)))
        );
        let g = cat(&[&[0x40, 0x02, 0, 10, 0, 1, 0, 2], &[0x00, 0x21, 0x45]]);
        assert_eq!(run(l2tp, &g).unwrap().2, Some(ETHERTYPE_IPV4));
    }

    #[test]
    fn l2tp_control_and_v3_are_not_tcp() {
        assert_eq!(
            run(l2tp, &[0xc8, 0x02, 0, 12, 0, 0, 0, 0]),
            Err(Skip::NotTcp)
        );
        assert_eq!(
            run(l2tp, &[0x00, 0x03, 0, 0, 0, 0, 0, 1]),
            Err(Skip::NotTcp)
        );
    }

    #[test]
    fn ip_in_ip_names_the_version() {
        assert_eq!(run(ipip4, &[0x45]).unwrap().2, Some(ETHERTYPE_IPV4));
        assert_eq!(run(ipip6, &[0x60]).unwrap().2, Some(ETHERTYPE_IPV6));
    }

    #[test]
    fn every_handler_survives_empty_and_short_input() {
        let handlers: [Handler; 12] = [
            gre, erspan2, erspan3, udp, vxlan, geneve, teredo, gtp_u, ayiya, l2tp, ipip4, ipip6,
        ];
        for h in handlers {
            for n in 0..24 {
                let _ = run(h, &vec![0xff; n]);
                let _ = run(h, &vec![0x00; n]);
            }
        }
        let _ = ETHERTYPE_MPLS;
    }
}
