//! Link-layer headers: from a captured frame to the network-layer bytes.
//!
//! Owns the link types of [`supported`] and the EtherType chain that follows
//! them (802.1Q/802.1ad/QinQ tags). It knows nothing about IP beyond the
//! EtherType / address-family numbers that name it, and never looks past the
//! start of the network-layer payload.
//!
//! Both levels are table-driven so that an encapsulation is one small
//! function plus one match arm:
//!
//! ```text
//! link type ──link_handler()──▶ fn(frame) ─▶ Step ─┐
//!                                                  ▼
//!            ┌──────────── ethertype_handler(et) ◀─ Step::Ether { et, rest }
//!            ▼
//!  fn(rest, &mut Encap) ─▶ Step::Ether { .. }   (VLAN, later MPLS, ...)
//!                        └▶ Step::Ip { .. }      (IPv4, IPv6, raw IP)
//! ```
//!
//! The loop is bounded by [`MAX_ENCAP_DEPTH`], so a frame of nothing but
//! VLAN tags cannot keep it busy.

use super::Skip;
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

/// Most link-layer encapsulations (tags, later tunnels) walked in one frame.
pub(crate) const MAX_ENCAP_DEPTH: usize = 8;

/// `AF_INET` on every OS.
const AF_INET: u32 = 2;
/// `AF_INET6` values: Linux, OpenBSD/NetBSD/BSD/OS, FreeBSD/DragonFly, Darwin.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// The network-layer payload of a frame.
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

/// What the link layer learnt about the frame on the way in.
#[derive(Debug, Default, Clone, Copy)]
struct Encap {
    /// Innermost VLAN id seen so far.
    vlan: Option<u16>,
}

/// One step down the encapsulation chain.
enum Step<'a> {
    /// `rest` starts with a payload of this EtherType.
    Ether { ethertype: u16, rest: &'a [u8] },
    /// `payload` starts with an IP header (`ethertype` as in [`L3`]).
    Ip {
        payload: &'a [u8],
        ethertype: Option<u16>,
    },
}

/// Strips a link-layer header: the frame in, the next step out.
type LinkFn = for<'a> fn(&'a [u8]) -> Result<Step<'a>, Skip>;
/// Strips an EtherType-named header (tag, tunnel): its bytes in, the next step out.
type EtherFn = for<'a> fn(&'a [u8], &mut Encap) -> Result<Step<'a>, Skip>;

/// The link-layer table: which function strips which link type.
fn link_handler(link: LinkType) -> Option<LinkFn> {
    Some(match link {
        LinkType::NULL => null,
        LinkType::ETHERNET => ethernet,
        LinkType::RAW_12 | LinkType::RAW_14 | LinkType::RAW => raw,
        LinkType::LOOP => loop_,
        LinkType::LINUX_SLL => sll,
        LinkType::LINUX_SLL2 => sll2,
        LinkType::IPV4 => raw_ipv4,
        LinkType::IPV6 => raw_ipv6,
        _ => return None,
    })
}

/// The EtherType table: which function handles which EtherType.
/// `None` means "not IP and nothing we unwrap".
fn ethertype_handler(ethertype: u16) -> Option<EtherFn> {
    Some(match ethertype {
        ETHERTYPE_IPV4 => ipv4_payload,
        ETHERTYPE_IPV6 => ipv6_payload,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => vlan_tag,
        _ => return None,
    })
}

/// True exactly for the link types [`strip`] understands.
pub(crate) fn supported(link: LinkType) -> bool {
    link_handler(link).is_some()
}

/// Removes the link-layer header(s) of `data`, captured on a `link` interface.
pub(crate) fn strip(link: LinkType, data: &[u8]) -> Result<L3<'_>, Skip> {
    let handler = link_handler(link).ok_or(Skip::UnsupportedLink(link.0))?;
    let mut encap = Encap::default();
    let mut step = handler(data)?;
    let mut depth = 0;
    loop {
        match step {
            Step::Ip { payload, ethertype } => {
                return Ok(L3 {
                    payload,
                    ethertype,
                    vlan: encap.vlan,
                })
            }
            Step::Ether { ethertype, rest } => {
                depth += 1;
                if depth > MAX_ENCAP_DEPTH {
                    return Err(Skip::Malformed("too many nested link-layer headers"));
                }
                let next = ethertype_handler(ethertype).ok_or(Skip::NotIp)?;
                step = next(rest, &mut encap)?;
            }
        }
    }
}

// ---- link types ------------------------------------------------------------

/// Ethernet II (DLT_EN10MB). 802.3 length fields (< 0x0600) are not IP.
fn ethernet(data: &[u8]) -> Result<Step<'_>, Skip> {
    let eth = Ethernet2HeaderSlice::from_slice(data)
        .map_err(|_| Skip::Malformed("Ethernet header truncated"))?;
    let rest = data.get(eth.slice().len()..).unwrap_or_default();
    Ok(Step::Ether {
        ethertype: eth.ether_type().0,
        rest,
    })
}

/// Linux cooked capture v1: 16 bytes, protocol (EtherType) in the last two.
fn sll(data: &[u8]) -> Result<Step<'_>, Skip> {
    const LEN: usize = 16;
    let header = data
        .get(..LEN)
        .ok_or(Skip::Malformed("Linux SLL header truncated"))?;
    let ethertype = u16::from_be_bytes([header[14], header[15]]);
    Ok(Step::Ether {
        ethertype,
        rest: &data[LEN..],
    })
}

/// Linux cooked capture v2: 20 bytes, protocol (EtherType) in the first two.
fn sll2(data: &[u8]) -> Result<Step<'_>, Skip> {
    const LEN: usize = 20;
    let header = data
        .get(..LEN)
        .ok_or(Skip::Malformed("Linux SLL2 header truncated"))?;
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
fn null(data: &[u8]) -> Result<Step<'_>, Skip> {
    let (family, rest) = split4(data, "NULL header truncated")?;
    let ethertype = family_ethertype(u32::from_le_bytes(family))
        .or_else(|| family_ethertype(u32::from_be_bytes(family)))
        .ok_or(Skip::NotIp)?;
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ethertype),
    })
}

/// OpenBSD loopback (DLT_LOOP): a 4-byte address family in network byte order.
fn loop_(data: &[u8]) -> Result<Step<'_>, Skip> {
    let (family, rest) = split4(data, "LOOP header truncated")?;
    let ethertype = family_ethertype(u32::from_be_bytes(family)).ok_or(Skip::NotIp)?;
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
fn raw(data: &[u8]) -> Result<Step<'_>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: None,
    })
}

/// Raw IPv4 (LINKTYPE_IPV4).
fn raw_ipv4(data: &[u8]) -> Result<Step<'_>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: Some(ETHERTYPE_IPV4),
    })
}

/// Raw IPv6 (LINKTYPE_IPV6).
fn raw_ipv6(data: &[u8]) -> Result<Step<'_>, Skip> {
    Ok(Step::Ip {
        payload: data,
        ethertype: Some(ETHERTYPE_IPV6),
    })
}

// ---- EtherTypes ------------------------------------------------------------

/// An IPv4 payload: the end of the link layer.
fn ipv4_payload<'a>(rest: &'a [u8], _encap: &mut Encap) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ETHERTYPE_IPV4),
    })
}

/// An IPv6 payload: the end of the link layer.
fn ipv6_payload<'a>(rest: &'a [u8], _encap: &mut Encap) -> Result<Step<'a>, Skip> {
    Ok(Step::Ip {
        payload: rest,
        ethertype: Some(ETHERTYPE_IPV6),
    })
}

/// An 802.1Q / 802.1ad tag: 2 bytes TCI, 2 bytes inner EtherType. The
/// innermost tag's VLAN id wins.
fn vlan_tag<'a>(rest: &'a [u8], encap: &mut Encap) -> Result<Step<'a>, Skip> {
    let tag = SingleVlanHeaderSlice::from_slice(rest)
        .map_err(|_| Skip::Malformed("VLAN tag truncated"))?;
    encap.vlan = Some(tag.vlan_identifier().value());
    Ok(Step::Ether {
        ethertype: tag.ether_type().0,
        rest: rest.get(tag.slice().len()..).unwrap_or_default(),
    })
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
        let yes = [0, 1, 12, 14, 101, 108, 113, 276, 228, 229];
        for l in 0..1000u32 {
            assert_eq!(supported(LinkType(l)), yes.contains(&l), "link type {l}");
        }
    }

    #[test]
    fn unsupported_link_type_is_reported_with_its_number() {
        assert_eq!(strip(LinkType(127), IP4), Err(Skip::UnsupportedLink(127)));
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

    #[test]
    fn vlan_nesting_is_bounded() {
        let mut payload = vlan(9, 0x0800, IP4);
        for _ in 0..MAX_ENCAP_DEPTH {
            payload = vlan(9, 0x8100, &payload);
        }
        let f = eth(0x8100, &payload);
        assert!(matches!(
            strip(LinkType::ETHERNET, &f),
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn vlan_nesting_at_the_bound_is_accepted() {
        // Ethernet -> (MAX-1) tags -> IPv4 uses exactly MAX EtherType steps.
        let mut payload = IP4.to_vec();
        let mut inner = 0x0800;
        for _ in 0..MAX_ENCAP_DEPTH - 1 {
            payload = vlan(9, inner, &payload);
            inner = 0x8100;
        }
        let f = eth(0x8100, &payload);
        assert_eq!(strip_ok(LinkType::ETHERNET, &f).vlan, Some(9));
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
        for l in [0, 1, 12, 14, 101, 108, 113, 276, 228, 229] {
            let _ = strip(LinkType(l), &[]);
        }
    }
}
