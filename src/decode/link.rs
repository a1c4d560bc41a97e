//! Link-layer headers: from a captured frame to the network-layer bytes.
//!
//! Owns the link types of [`supported`] and the EtherType chain that follows
//! them (802.1Q/802.1ad/QinQ tags, MPLS label stacks, PPPoE sessions, and
//! Ethernet frames inside tunnels, EtherType 0x6558). It knows nothing about
//! IP beyond the EtherType / address-family numbers that name it, and never
//! looks past the start of the network-layer payload. PPP and HDLC framing
//! live in `ppp`, 802.11 in `wlan`, tunnels over IP in `tunnel`; they plug
//! into the two tables here.
//!
//! Both levels are table-driven so that an encapsulation is one small
//! function plus one match arm:
//!
//! ```text
//! link type ──link_handler()──▶ fn(frame, ctx) ─▶ Step ─┐
//!                                                      ▼
//!            ┌──────────── ethertype_handler(et) ◀─ Step::Ether { et, rest }
//!            ▼
//!  fn(rest, ctx) ─▶ Step::Ether { .. }   (VLAN, MPLS, PPPoE, ERSPAN, ...)
//!                └▶ Step::Ip { .. }      (IPv4, IPv6, raw IP)
//! ```
//!
//! Every handler that consumes a header records it in the [`Ctx`] path,
//! whose length is bounded by [`MAX_LAYERS`], so a frame of nothing but
//! VLAN tags or MPLS labels cannot keep the walk busy.

use super::encap::{Ctx, LayerKind, MAX_LAYERS};
use super::{ppp, tunnel, wlan, Skip};
use crate::capture::LinkType;
use etherparse::{Ethernet2HeaderSlice, SingleVlanHeaderSlice};

/// EtherType of IPv4.
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q VLAN tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of an 802.1ad service tag (QinQ outer tag).
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tag.
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// Transparent Ethernet Bridging: an Ethernet frame follows (GRE, Geneve).
pub(crate) const ETHERTYPE_TEB: u16 = 0x6558;
/// MPLS unicast.
pub(crate) const ETHERTYPE_MPLS: u16 = 0x8847;
/// MPLS multicast.
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
/// PPPoE session stage.
const ETHERTYPE_PPPOE: u16 = 0x8864;
/// PPP (GRE protocol type of PPTP).
pub(crate) const ETHERTYPE_PPP: u16 = 0x880b;
/// ERSPAN type I/II (GRE protocol type).
pub(crate) const ETHERTYPE_ERSPAN2: u16 = 0x88be;
/// ERSPAN type III (GRE protocol type).
pub(crate) const ETHERTYPE_ERSPAN3: u16 = 0x22eb;

/// LINKTYPE_PPP.
const LINK_PPP: LinkType = LinkType(9);
/// LINKTYPE_PPP_HDLC: PPP or Cisco HDLC in HDLC-like framing.
const LINK_PPP_HDLC: LinkType = LinkType(50);
/// LINKTYPE_PPP_ETHER: a PPPoE header, no Ethernet header.
const LINK_PPP_ETHER: LinkType = LinkType(51);
/// LINKTYPE_C_HDLC: Cisco HDLC.
const LINK_C_HDLC: LinkType = LinkType(104);
/// LINKTYPE_IEEE802_11.
pub(crate) const LINK_IEEE802_11: LinkType = LinkType(105);
/// LINKTYPE_IEEE802_11_RADIOTAP.
const LINK_RADIOTAP: LinkType = LinkType(127);
/// LINKTYPE_PPI.
const LINK_PPI: LinkType = LinkType(192);
/// LINKTYPE_NFLOG.
const LINK_NFLOG: LinkType = LinkType(239);

/// `AF_INET` on every OS.
const AF_INET: u32 = 2;
/// `AF_INET6` values: Linux, OpenBSD/NetBSD/BSD/OS, FreeBSD/DragonFly, Darwin.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// The network-layer payload of a frame.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L3<'a> {
    /// The bytes from the first byte of the IP header to the end of the capture.
    pub payload: &'a [u8],
    /// EtherType of the payload when the link layer names it (0x0800, 0x86dd);
    /// `None` means "look at the IP version nibble".
    pub ethertype: Option<u16>,
    /// The 12-bit id of the innermost VLAN tag.
    pub vlan: Option<u16>,
}

/// One step down the encapsulation chain.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// `rest` starts with a payload of this EtherType.
    Ether { ethertype: u16, rest: &'a [u8] },
    /// `payload` starts with an IP header (`ethertype` 0x0800 or 0x86dd when
    /// known, `None`: read the version nibble).
    Ip {
        payload: &'a [u8],
        ethertype: Option<u16>,
    },
}

/// Strips one header (link type, tag, tunnel): its bytes in, the next step
/// out. Records what it stripped in the context.
pub(crate) type Handler = for<'a> fn(&'a [u8], &mut Ctx<'_>) -> Result<Step<'a>, Skip>;

/// The link-layer table: which function strips which link type.
pub(crate) fn link_handler(link: LinkType) -> Option<Handler> {
    Some(match link {
        LinkType::NULL => null,
        LinkType::ETHERNET => ethernet,
        LinkType::RAW_12 | LinkType::RAW_14 | LinkType::RAW => raw,
        LinkType::LOOP => loop_,
        LinkType::LINUX_SLL => sll,
        LinkType::LINUX_SLL2 => sll2,
        LinkType::IPV4 => raw_ipv4,
        LinkType::IPV6 => raw_ipv6,
        LINK_PPP => ppp::ppp_link,
        LINK_PPP_HDLC => ppp::ppp_hdlc,
        LINK_PPP_ETHER => ppp::pppoe,
        LINK_C_HDLC => ppp::cisco_hdlc,
        LINK_IEEE802_11 => wlan::dot11,
        LINK_RADIOTAP => wlan::radiotap,
        LINK_PPI => wlan::ppi,
        LINK_NFLOG => nflog,
        _ => return None,
    })
}

/// The EtherType table: which function handles which EtherType (also GRE
/// protocol types and PPP protocols, which are mapped to EtherTypes).
/// `None` means "not IP and nothing we unwrap".
fn ethertype_handler(ethertype: u16) -> Option<Handler> {
    Some(match ethertype {
        ETHERTYPE_IPV4 => ipv4_payload,
        ETHERTYPE_IPV6 => ipv6_payload,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => vlan_tag,
        ETHERTYPE_TEB => ethernet,
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => mpls,
        ETHERTYPE_PPPOE => ppp::pppoe,
        ETHERTYPE_PPP => ppp::ppp_frame,
        ETHERTYPE_ERSPAN2 => tunnel::erspan2,
        ETHERTYPE_ERSPAN3 => tunnel::erspan3,
        _ => return None,
    })
}

/// True exactly for the link types [`strip`] understands.
pub(crate) fn supported(link: LinkType) -> bool {
    link_handler(link).is_some()
}

/// Follows `step` through EtherType-named headers to the start of an IP
/// header: its bytes and EtherType (`None`: by version nibble).
pub(crate) fn to_ip<'a>(
    mut step: Step<'a>,
    ctx: &mut Ctx<'_>,
) -> Result<(&'a [u8], Option<u16>), Skip> {
    // Every handler that returns `Step::Ether` records a layer, so the path
    // bound ends the walk; the count is a second, independent bound.
    for _ in 0..=MAX_LAYERS {
        match step {
            Step::Ip { payload, ethertype } => return Ok((payload, ethertype)),
            Step::Ether { ethertype, rest } => {
                let next = ethertype_handler(ethertype).ok_or(Skip::NotIp)?;
                step = next(rest, ctx)?;
            }
        }
    }
    Err(Skip::Malformed("too many nested encapsulations"))
}

/// Removes the link-layer header(s) of `data`, captured on a `link`
/// interface, down to the first IP header.
#[cfg(test)]
pub(crate) fn strip(link: LinkType, data: &[u8]) -> Result<L3<'_>, Skip> {
    let opts = super::DecodeOptions::default();
    let mut ctx = Ctx::new(&opts);
    let handler = link_handler(link).ok_or(Skip::UnsupportedLink(link.0))?;
    let (payload, ethertype) = to_ip(handler(data, &mut ctx)?, &mut ctx)?;
    Ok(L3 {
        payload,
        ethertype,
        vlan: ctx.vlan,
    })
}

// ---- link types ------------------------------------------------------------

/// Ethernet II (DLT_EN10MB, and EtherType 0x6558 inside tunnels). 802.3
/// length fields (< 0x0600) are not IP.
fn ethernet<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let eth = Ethernet2HeaderSlice::from_slice(data)
        .map_err(|_| Skip::Malformed("Ethernet header truncated"))?;
    ctx.push(LayerKind::Ethernet, 0)?;
    let rest = data.get(eth.slice().len()..).unwrap_or_default();
    Ok(Step::Ether {
        ethertype: eth.ether_type().0,
        rest,
    })
}

/// Linux cooked capture v1: 16 bytes, protocol (EtherType) in the last two.
fn sll<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const LEN: usize = 16;
    let header = data
        .get(..LEN)
        .ok_or(Skip::Malformed("Linux SLL header truncated"))?;
    ctx.push(LayerKind::Sll, 0)?;
    let ethertype = u16::from_be_bytes([header[14], header[15]]);
    Ok(Step::Ether {
        ethertype,
        rest: &data[LEN..],
    })
}

/// Linux cooked capture v2: 20 bytes, protocol (EtherType) in the first two.
fn sll2<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const LEN: usize = 20;
    let header = data
        .get(..LEN)
        .ok_or(Skip::Malformed("Linux SLL2 header truncated"))?;
    ctx.push(LayerKind::Sll2, 0)?;
    let ethertype = u16::from_be_bytes([header[0], header[1]]);
    Ok(Step::Ether {
        ethertype,
        rest: &data[LEN..],
    })
}

/// The EtherType of an address family, if it is an IP one.
fn family_ethertype(family: u32) -> Option<u16> {
    if family == AF_INET {
        Some(ETHERTYPE_IPV4)
    } else if AF_INET6.contains(&family) {
        Some(ETHERTYPE_IPV6)
    } else {
        None
    }
}

/// BSD loopback (DLT_NULL): a 4-byte address family in the byte order of the
/// host that captured, which we do not know, so both orders are tried.
fn null<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let (family, rest) = split4(data, "NULL header truncated")?;
    let ethertype = family_ethertype(u32::from_le_bytes(family))
        .or_else(|| family_ethertype(u32::from_be_bytes(family)))
        .ok_or(Skip::NotIp)?;
    ctx.push(LayerKind::Null, 0)?;
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ethertype),
    })
}

/// OpenBSD loopback (DLT_LOOP): a 4-byte address family in network byte order.
fn loop_<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let (family, rest) = split4(data, "LOOP header truncated")?;
    let ethertype = family_ethertype(u32::from_be_bytes(family)).ok_or(Skip::NotIp)?;
    ctx.push(LayerKind::Loop, 0)?;
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ethertype),
    })
}

/// Splits off a leading 4-byte field.
fn split4<'a>(data: &'a [u8], why: &'static str) -> Result<([u8; 4], &'a [u8]), Skip> {
    match data {
        [a, b, c, d, rest @ ..] => Ok(([*a, *b, *c, *d], rest)),
        _ => Err(Skip::Malformed(why)),
    }
}

/// Raw IP, version from the first nibble (LINKTYPE_RAW, DLT_RAW 12/14).
fn raw<'a>(data: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: None,
    })
}

/// Raw IPv4 (LINKTYPE_IPV4).
fn raw_ipv4<'a>(data: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: Some(ETHERTYPE_IPV4),
    })
}

/// Raw IPv6 (LINKTYPE_IPV6).
fn raw_ipv6<'a>(data: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: Some(ETHERTYPE_IPV6),
    })
}

/// NFLOG TLV type of the packet payload.
const NFULA_PAYLOAD: u16 = 9;
/// Most TLVs looked at in one NFLOG record.
const MAX_NFLOG_TLVS: usize = 64;

/// Linux NFLOG (LINKTYPE 239): a 4-byte header (address family, version,
/// resource id) and TLVs whose length and type are in the capturing host's
/// byte order (tried little-endian first); the packet is the value of the
/// `NFULA_PAYLOAD` TLV. Lengths include the 4-byte TLV header; values are
/// padded to 4 bytes.
fn nflog<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("NFLOG header truncated");
    let (header, mut tlvs) = split4(data, "NFLOG header truncated")?;
    if header[1] != 0 {
        return Err(Skip::Malformed("NFLOG version is not 0"));
    }
    ctx.push(LayerKind::Nflog, 0)?;
    let ethertype = family_ethertype(u32::from(header[0]));
    let first = tlvs.get(..2).ok_or(TRUNCATED)?;
    let le_len = usize::from(u16::from_le_bytes([first[0], first[1]]));
    let little = (4..=tlvs.len()).contains(&le_len);
    let read = |b: [u8; 2]| {
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    for _ in 0..MAX_NFLOG_TLVS {
        let (h, _) = split4(tlvs, "NFLOG TLV truncated")?;
        let len = usize::from(read([h[0], h[1]]));
        let kind = read([h[2], h[3]]) & 0x3fff; // without the nested/byte-order flags
        if len < 4 {
            return Err(Skip::Malformed("NFLOG TLV length below 4"));
        }
        let value = tlvs.get(4..len).ok_or(TRUNCATED)?;
        if kind == NFULA_PAYLOAD {
            return Ok(Step::Ip {
                payload: value,
                ethertype,
            });
        }
        let padded = len.checked_add(3).ok_or(TRUNCATED)? & !3;
        tlvs = tlvs.get(padded..).unwrap_or_default();
        if tlvs.is_empty() {
            break;
        }
    }
    Err(Skip::NotIp)
}

// ---- EtherTypes ------------------------------------------------------------

/// An IPv4 payload: the end of the link layer.
fn ipv4_payload<'a>(rest: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ETHERTYPE_IPV4),
    })
}

/// An IPv6 payload: the end of the link layer.
fn ipv6_payload<'a>(rest: &'a [u8], _ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ETHERTYPE_IPV6),
    })
}

/// An 802.1Q / 802.1ad tag: 2 bytes TCI, 2 bytes inner EtherType. The
/// innermost tag's VLAN id wins.
fn vlan_tag<'a>(rest: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let tag = SingleVlanHeaderSlice::from_slice(rest)
        .map_err(|_| Skip::Malformed("VLAN tag truncated"))?;
    let vid = tag.vlan_identifier().value();
    ctx.push(LayerKind::Vlan, u32::from(vid))?;
    ctx.vlan = Some(vid);
    Ok(Step::Ether {
        ethertype: tag.ether_type().0,
        rest: rest.get(tag.slice().len()..).unwrap_or_default(),
    })
}

/// One MPLS label stack entry (label 20 bits, TC 3, bottom-of-stack 1, TTL
/// 8). Below the bottom entry the payload is not named; like Wireshark we
/// look at the first nibble: 4 and 6 are IP, 0 is a pseudowire control word
/// followed by Ethernet, anything else is Ethernet without control word.
fn mpls<'a>(rest: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    let (entry, payload) = split4(rest, "MPLS label truncated")?;
    let word = u32::from_be_bytes(entry);
    ctx.push(LayerKind::Mpls, word >> 12)?;
    if word & 0x100 == 0 {
        return Ok(Step::Ether {
            ethertype: ETHERTYPE_MPLS,
            rest: payload,
        });
    }
    match payload.first().map(|b| b >> 4) {
        Some(4) => Ok(Step::Ip {
            payload,
            ethertype: Some(ETHERTYPE_IPV4),
        }),
        Some(6) => Ok(Step::Ip {
            payload,
            ethertype: Some(ETHERTYPE_IPV6),
        }),
        Some(0) => Ok(Step::Ether {
            ethertype: ETHERTYPE_TEB,
            rest: payload.get(4..).unwrap_or_default(),
        }),
        Some(_) => Ok(Step::Ether {
            ethertype: ETHERTYPE_TEB,
            rest: payload,
        }),
        None => Err(Skip::Malformed("MPLS payload empty")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::{eth, vlan};

    const IP4: &[u8] = &[0x45, 0, 0, 20];
    const IP6: &[u8] = &[0x60, 0, 0, 0];

    fn strip_ok(link: LinkType, data: &[u8]) -> L3<'_> {
        match strip(link, data) {
            Ok(l3) => l3,
            Err(e) => panic!("{link}: {e}"),
        }
    }

    #[test]
    fn supported_exactly_the_listed_link_types() {
        let yes = [
            0, 1, 9, 12, 14, 50, 51, 101, 104, 105, 108, 113, 127, 192, 228, 229, 239, 276,
        ];
        for l in 0..1000u32 {
            assert_eq!(supported(LinkType(l)), yes.contains(&l), "link type {l}");
        }
    }

    #[test]
    fn unsupported_link_type_is_reported_with_its_number() {
        assert_eq!(strip(LinkType(147), IP4), Err(Skip::UnsupportedLink(147)));
    }

    #[test]
    fn ethernet_ipv4() {
        let f = eth(0x0800, IP4);
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
        assert_eq!(l3.vlan, None);
    }

    #[test]
    fn ethernet_ipv6() {
        let f = eth(0x86dd, IP6);
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!(l3.payload, IP6);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV6));
    }

    #[test]
    fn ethernet_arp_is_not_ip() {
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x0806, &[0; 28])),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn ethernet_8023_length_field_is_not_ip() {
        assert_eq!(
            strip(LinkType::ETHERNET, &eth(0x002e, &[0; 46])),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn ethernet_truncated_header_is_malformed() {
        assert!(matches!(
            strip(LinkType::ETHERNET, &[0; 13]),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn vlan_8021q_reports_vid() {
        let f = eth(0x8100, &vlan(42, 0x0800, IP4));
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
        assert_eq!(l3.vlan, Some(42));
    }

    #[test]
    fn qinq_88a8_reports_innermost_vid() {
        let f = eth(0x88a8, &vlan(100, 0x8100, &vlan(7, 0x86dd, IP6)));
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!(l3.payload, IP6);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV6));
        assert_eq!(l3.vlan, Some(7));
    }

    #[test]
    fn qinq_9100_three_tags_reports_innermost_vid() {
        let inner = vlan(3, 0x0800, IP4);
        let f = eth(0x9100, &vlan(1, 0x9100, &vlan(2, 0x8100, &inner)));
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.vlan, Some(3));
    }

    #[test]
    fn vlan_id_is_12_bits_without_priority() {
        let f = eth(0x8100, &vlan(0xfff, 0x0800, IP4));
        assert_eq!(strip_ok(LinkType::ETHERNET, &f).vlan, Some(0xfff));
    }

    #[test]
    fn vlan_truncated_tag_is_malformed() {
        let f = eth(0x8100, &[0, 42, 8]);
        assert!(matches!(
            strip(LinkType::ETHERNET, &f),
            Err(Skip::Malformed(_))
        ));
    }

    /// Ethernet, then `tags` VLAN tags, then IPv4.
    fn tagged(tags: usize) -> Vec<u8> {
        let mut payload = IP4.to_vec();
        let mut inner = 0x0800;
        for _ in 0..tags {
            payload = vlan(9, inner, &payload);
            inner = 0x8100;
        }
        eth(inner, &payload)
    }

    #[test]
    fn vlan_nesting_is_bounded() {
        // Ethernet + MAX tags is one layer too many.
        let f = tagged(MAX_LAYERS);
        assert_eq!(
            strip(LinkType::ETHERNET, &f),
            Err(Skip::Malformed("too many nested encapsulations"))
        );
    }

    #[test]
    fn vlan_nesting_at_the_bound_is_accepted() {
        // Ethernet + (MAX - 1) tags fills the path exactly.
        let f = tagged(MAX_LAYERS - 1);
        assert_eq!(strip_ok(LinkType::ETHERNET, &f).vlan, Some(9));
    }

    /// An MPLS label stack entry.
    fn label(label: u32, bottom: bool) -> [u8; 4] {
        ((label << 12) | (u32::from(bottom) << 8) | 64).to_be_bytes()
    }

    #[test]
    fn mpls_stack_over_ethernet_to_ipv4_and_ipv6() {
        for (ip, et) in [(IP4, ETHERTYPE_IPV4), (IP6, ETHERTYPE_IPV6)] {
            let mut body = label(100, false).to_vec();
            body.extend(label(200, true));
            body.extend_from_slice(ip);
            let f = eth(0x8847, &body);
            let l3 = strip_ok(LinkType::ETHERNET, &f);
            assert_eq!(l3.payload, ip);
            assert_eq!(l3.ethertype, Some(et));
        }
    }

    #[test]
    fn mpls_over_sll_and_multicast() {
        let mut body = label(16, true).to_vec();
        body.extend_from_slice(IP4);
        assert_eq!(
            strip_ok(LinkType::LINUX_SLL, &sll_frame(0x8847, &body)).payload,
            IP4
        );
        assert_eq!(
            strip_ok(LinkType::ETHERNET, &eth(0x8848, &body)).payload,
            IP4
        );
    }

    #[test]
    fn mpls_pseudowire_with_control_word_carries_ethernet() {
        let mut body = label(30, true).to_vec();
        body.extend([0, 0, 0, 0]); // control word
        body.extend(eth(0x8100, &vlan(5, 0x0800, IP4)));
        let f = eth(0x8847, &body);
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!((l3.payload, l3.vlan), (IP4, Some(5)));
    }

    #[test]
    fn mpls_truncated_or_endless_stack_is_malformed() {
        assert!(matches!(
            strip(LinkType::ETHERNET, &eth(0x8847, &[0, 1])),
            Err(Skip::Malformed(_))
        ));
        let endless: Vec<u8> = (0..40).flat_map(|_| label(1, false)).collect();
        assert!(matches!(
            strip(LinkType::ETHERNET, &eth(0x8847, &endless)),
            Err(Skip::Malformed(_))
        ));
    }

    /// An NFLOG record: header for `family`, a prefix TLV, then the payload
    /// TLV, lengths and types written by `word`.
    fn nflog_frame(family: u8, payload: &[u8], word: fn(u16) -> [u8; 2]) -> Vec<u8> {
        let mut v = vec![family, 0, 0, 1];
        let prefix = b"log\0";
        v.extend(word(4 + prefix.len() as u16));
        v.extend(word(10)); // NFULA_PREFIX
        v.extend_from_slice(prefix);
        v.extend(word(4 + payload.len() as u16));
        v.extend(word(9)); // NFULA_PAYLOAD
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn nflog_payload_tlv_little_and_big_endian() {
        for word in [u16::to_le_bytes as fn(u16) -> [u8; 2], u16::to_be_bytes] {
            let f = nflog_frame(2, &[0x45, 0, 0, 20, 1], word);
            let l3 = strip_ok(LinkType(239), &f);
            assert_eq!(l3.payload, &[0x45, 0, 0, 20, 1]);
            assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
        }
        let f = nflog_frame(10, IP6, u16::to_le_bytes);
        assert_eq!(strip_ok(LinkType(239), &f).ethertype, Some(ETHERTYPE_IPV6));
    }

    #[test]
    fn nflog_without_payload_is_not_ip_and_bad_tlvs_are_malformed() {
        let mut f = vec![2, 0, 0, 1];
        f.extend(8u16.to_le_bytes());
        f.extend(10u16.to_le_bytes());
        f.extend(b"abcd");
        assert_eq!(strip(LinkType(239), &f), Err(Skip::NotIp));
        let mut g = vec![2, 0, 0, 1];
        g.extend([2, 0, 9, 0]); // length 2 < 4 either way round
        assert!(matches!(strip(LinkType(239), &g), Err(Skip::Malformed(_))));
        let mut h = vec![2, 0, 0, 1];
        h.extend(200u16.to_le_bytes());
        h.extend(9u16.to_le_bytes());
        assert!(matches!(strip(LinkType(239), &h), Err(Skip::Malformed(_))));
        assert!(matches!(
            strip(LinkType(239), &[2, 1, 0, 0, 8, 0, 9, 0]),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn teb_ethertype_is_an_ethernet_frame() {
        let inner = eth(0x0800, IP4);
        let f = eth(0x6558, &inner);
        let l3 = strip_ok(LinkType::ETHERNET, &f);
        assert_eq!(l3.payload, IP4);
    }

    fn sll_frame(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        v.extend_from_slice(&protocol.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn sll2_frame(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = protocol.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn linux_sll_ipv4() {
        let f = sll_frame(0x0800, IP4);
        let l3 = strip_ok(LinkType::LINUX_SLL, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
    }

    #[test]
    fn linux_sll_ipv6() {
        let f = sll_frame(0x86dd, IP6);
        assert_eq!(
            strip_ok(LinkType::LINUX_SLL, &f).ethertype,
            Some(ETHERTYPE_IPV6)
        );
    }

    #[test]
    fn linux_sll_vlan_tag_is_unwrapped() {
        let f = sll_frame(0x8100, &vlan(12, 0x0800, IP4));
        let l3 = strip_ok(LinkType::LINUX_SLL, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.vlan, Some(12));
    }

    #[test]
    fn linux_sll_truncated_is_malformed() {
        assert!(matches!(
            strip(LinkType::LINUX_SLL, &[0; 15]),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn linux_sll2_ipv4() {
        let f = sll2_frame(0x0800, IP4);
        let l3 = strip_ok(LinkType::LINUX_SLL2, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
    }

    #[test]
    fn linux_sll2_ipv6() {
        let f = sll2_frame(0x86dd, IP6);
        assert_eq!(
            strip_ok(LinkType::LINUX_SLL2, &f).ethertype,
            Some(ETHERTYPE_IPV6)
        );
    }

    #[test]
    fn linux_sll2_non_ip_protocol() {
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &sll2_frame(0x0806, &[0; 28])),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn linux_sll2_truncated_is_malformed() {
        assert!(matches!(
            strip(LinkType::LINUX_SLL2, &[0; 19]),
            Err(Skip::Malformed(_))
        ));
    }

    fn with_family(family: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = family.to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn null_af_inet_little_endian() {
        let f = with_family(2u32.to_le_bytes(), IP4);
        let l3 = strip_ok(LinkType::NULL, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
    }

    #[test]
    fn null_af_inet_big_endian() {
        let f = with_family(2u32.to_be_bytes(), IP4);
        assert_eq!(strip_ok(LinkType::NULL, &f).ethertype, Some(ETHERTYPE_IPV4));
    }

    #[test]
    fn null_af_inet6_every_os_value_little_endian() {
        for family in [10u32, 24, 28, 30] {
            let f = with_family(family.to_le_bytes(), IP6);
            let l3 = strip_ok(LinkType::NULL, &f);
            assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV6), "family {family}");
            assert_eq!(l3.payload, IP6);
        }
    }

    #[test]
    fn null_af_inet6_every_os_value_big_endian() {
        for family in [10u32, 24, 28, 30] {
            let f = with_family(family.to_be_bytes(), IP6);
            let l3 = strip_ok(LinkType::NULL, &f);
            assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV6), "family {family}");
        }
    }

    #[test]
    fn null_unknown_family_is_not_ip() {
        let f = with_family(7u32.to_le_bytes(), IP4);
        assert_eq!(strip(LinkType::NULL, &f), Err(Skip::NotIp));
    }

    #[test]
    fn null_truncated_is_malformed() {
        assert!(matches!(
            strip(LinkType::NULL, &[2, 0, 0]),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn loop_af_inet_network_order() {
        let f = with_family(2u32.to_be_bytes(), IP4);
        let l3 = strip_ok(LinkType::LOOP, &f);
        assert_eq!(l3.payload, IP4);
        assert_eq!(l3.ethertype, Some(ETHERTYPE_IPV4));
    }

    #[test]
    fn loop_af_inet6_every_os_value() {
        for family in [10u32, 24, 28, 30] {
            let f = with_family(family.to_be_bytes(), IP6);
            assert_eq!(
                strip_ok(LinkType::LOOP, &f).ethertype,
                Some(ETHERTYPE_IPV6),
                "family {family}"
            );
        }
    }

    #[test]
    fn loop_little_endian_family_is_not_ip() {
        let f = with_family(2u32.to_le_bytes(), IP4);
        assert_eq!(strip(LinkType::LOOP, &f), Err(Skip::NotIp));
    }

    #[test]
    fn raw_link_types_leave_version_to_ip() {
        for link in [LinkType::RAW_12, LinkType::RAW_14, LinkType::RAW] {
            for payload in [IP4, IP6] {
                let l3 = strip_ok(link, payload);
                assert_eq!(l3.payload, payload);
                assert_eq!(l3.ethertype, None);
                assert_eq!(l3.vlan, None);
            }
        }
    }

    #[test]
    fn raw_ipv4_link_type_names_ipv4() {
        assert_eq!(
            strip_ok(LinkType::IPV4, IP4).ethertype,
            Some(ETHERTYPE_IPV4)
        );
    }

    #[test]
    fn raw_ipv6_link_type_names_ipv6() {
        assert_eq!(
            strip_ok(LinkType::IPV6, IP6).ethertype,
            Some(ETHERTYPE_IPV6)
        );
    }

    #[test]
    fn empty_frame_never_panics_on_any_link_type() {
        for l in [
            0, 1, 9, 12, 14, 50, 51, 101, 104, 105, 108, 113, 127, 192, 228, 229, 239, 276,
        ] {
            let _ = strip(LinkType(l), &[]);
        }
    }
}
