//! PPP and HDLC framing: PPP link types (9, 50), Cisco HDLC (104), PPPoE
//! sessions (EtherType 0x8864, link type 51), and the PPP frames GRE (PPTP)
//! and L2TP carry.
//!
//! Owns reading these headers and mapping the PPP protocol number to the
//! EtherType that names the same payload, so everything after them goes
//! through the EtherType table of `link`. It never looks at the payload.
//!
//! ```text
//! PPP:         [ff 03] protocol(1 or 2) payload      (address/control optional)
//! Cisco HDLC:  0f|8f  00  ethertype(2)   payload
//! PPPoE:       11 00 session(2) length(2) protocol(2) payload
//! ```

use super::encap::{Ctx, LayerKind};
use super::link::{Step, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_MPLS};
use super::Skip;

/// PPP protocol: IPv4.
const PPP_IPV4: u16 = 0x0021;
/// PPP protocol: IPv6.
const PPP_IPV6: u16 = 0x0057;
/// PPP protocol: MPLS unicast.
const PPP_MPLS: u16 = 0x0281;
/// PPP protocol: MPLS multicast.
const PPP_MPLS_MC: u16 = 0x0283;

/// The EtherType naming the same payload as a PPP protocol number.
fn ppp_ethertype(protocol: u16) -> Option<u16> {
    match protocol {
        PPP_IPV4 => Some(ETHERTYPE_IPV4),
        PPP_IPV6 => Some(ETHERTYPE_IPV6),
        PPP_MPLS | PPP_MPLS_MC => Some(ETHERTYPE_MPLS),
        _ => None,
    }
}

/// Reads a PPP protocol field (1 byte when compressed: odd first byte) and
/// maps it; the payload follows. Non-IP protocols (LCP, IPCP, ...) are not IP.
pub(crate) fn protocol(data: &[u8]) -> Result<Step<'_>, Skip> {
    let (proto, rest) = match data {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(Skip::Malformed("PPP protocol truncated")),
    };
    let ethertype = ppp_ethertype(proto).ok_or(Skip::NotIp)?;
    Ok(Step::Ether { ethertype, rest })
}

/// A PPP frame with optional address and control bytes (ff 03).
fn frame(data: &[u8]) -> Result<Step<'_>, Skip> {
    match data {
        [0xff, 0x03, rest @ ..] => protocol(rest),
        _ => protocol(data),
    }
}

/// LINKTYPE_PPP (9).
pub(crate) fn ppp_link<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    ctx.push(LayerKind::Ppp, 0)?;
    frame(data)
}

/// A PPP frame named by EtherType 0x880b (PPTP's enhanced GRE).
pub(crate) fn ppp_frame<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    ppp_link(data, ctx)
}

/// LINKTYPE_PPP_HDLC (50): PPP in HDLC-like framing, or Cisco HDLC when
/// the address byte says so.
pub(crate) fn ppp_hdlc<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    match data.first() {
        Some(0x0f | 0x8f) => cisco_hdlc(data, ctx),
        _ => ppp_link(data, ctx),
    }
}

/// Cisco HDLC (LINKTYPE_C_HDLC, 104): address, control, EtherType.
pub(crate) fn cisco_hdlc<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    match data {
        [0x0f | 0x8f, _, a, b, rest @ ..] => {
            ctx.push(LayerKind::CiscoHdlc, 0)?;
            Ok(Step::Ether {
                ethertype: u16::from_be_bytes([*a, *b]),
                rest,
            })
        }
        [_, _, _, _, ..] => Err(Skip::Malformed("Cisco HDLC address is not 0x0f or 0x8f")),
        _ => Err(Skip::Malformed("Cisco HDLC header truncated")),
    }
}

/// A PPPoE session-stage header (version 1, type 1, code 0) and the PPP
/// protocol after it. Discovery packets and other codes are not IP.
pub(crate) fn pppoe<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    match data {
        [0x11, 0x00, s0, s1, _, _, rest @ ..] => {
            ctx.push(LayerKind::Pppoe, u32::from(u16::from_be_bytes([*s0, *s1])))?;
            protocol(rest)
        }
        [_, _, _, _, _, _, ..] => Err(Skip::NotIp),
        _ => Err(Skip::Malformed("PPPoE header truncated")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DecodeOptions;

    fn run<'a>(
        f: fn(&'a [u8], &mut Ctx<'_>) -> Result<Step<'a>, Skip>,
        data: &'a [u8],
    ) -> (Result<Step<'a>, Skip>, String) {
        let o = DecodeOptions::default();
        let mut ctx = Ctx::new(&o);
        let r = f(data, &mut ctx);
        (r, ctx.encap.path.render())
    }

    fn ether(r: Result<Step<'_>, Skip>) -> (u16, &[u8]) {
        match r {
            Ok(Step::Ether { ethertype, rest }) => (ethertype, rest),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ppp_with_and_without_address_control() {
        let (r, path) = run(ppp_link, &[0xff, 0x03, 0x00, 0x21, 0x45]);
        assert_eq!(ether(r), (ETHERTYPE_IPV4, &[0x45][..]));
        assert_eq!(path, "ppp");
        let (r, _) = run(ppp_link, &[0x00, 0x57, 0x60]);
        assert_eq!(ether(r), (ETHERTYPE_IPV6, &[0x60][..]));
    }

    #[test]
    fn ppp_compressed_protocol_field() {
        let (r, _) = run(ppp_link, &[0x21, 0x45]);
        assert_eq!(ether(r), (ETHERTYPE_IPV4, &[0x45][..]));
    }

    #[test]
    fn ppp_lcp_is_not_ip() {
        let (r, _) = run(ppp_link, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4]);
        assert!(matches!(r, Err(Skip::NotIp)));
    }

    #[test]
    fn ppp_mpls() {
        let (r, _) = run(ppp_link, &[0x02, 0x81, 0, 0, 0x11, 0x40]);
        assert_eq!(ether(r).0, ETHERTYPE_MPLS);
    }

    #[test]
    fn ppp_hdlc_picks_cisco_or_ppp() {
        let (r, path) = run(ppp_hdlc, &[0x0f, 0x00, 0x86, 0xdd, 0x60]);
        assert_eq!(ether(r), (ETHERTYPE_IPV6, &[0x60][..]));
        assert_eq!(path, "chdlc");
        let (r, path) = run(ppp_hdlc, &[0xff, 0x03, 0x00, 0x21, 0x45]);
        assert_eq!(ether(r).0, ETHERTYPE_IPV4);
        assert_eq!(path, "ppp");
    }

    #[test]
    fn cisco_hdlc_checks_address_and_length() {
        let (r, _) = run(cisco_hdlc, &[0x8f, 0x00, 0x08, 0x00, 0x45]);
        assert_eq!(ether(r), (ETHERTYPE_IPV4, &[0x45][..]));
        assert!(matches!(
            run(cisco_hdlc, &[0x0f, 0x00, 0x08]).0,
            Err(Skip::Malformed(_))
        ));
        assert!(matches!(
            run(cisco_hdlc, &[0x42, 0x00, 0x08, 0x00]).0,
            Err(Skip::Malformed(_))
        ));
    }

    #[test]
    fn pppoe_session_records_the_session_id() {
        let (r, path) = run(
            pppoe,
            &[0x11, 0x00, 0x3b, 0x1a, 0x00, 0x03, 0x00, 0x21, 0x45],
        );
        assert_eq!(ether(r), (ETHERTYPE_IPV4, &[0x45][..]));
        assert_eq!(path, "pppoe 15130");
    }

    #[test]
    fn pppoe_discovery_is_not_ip_and_short_is_malformed() {
        let (r, _) = run(pppoe, &[0x11, 0x09, 0, 0, 0, 0]);
        assert!(matches!(r, Err(Skip::NotIp)));
        let (r, _) = run(pppoe, &[0x11, 0x00, 0, 1]);
        assert!(matches!(r, Err(Skip::Malformed(_))));
    }

    #[test]
    fn empty_input_never_panics() {
        for f in [ppp_link, ppp_hdlc, cisco_hdlc, pppoe, ppp_frame] {
            assert!(run(f, &[]).0.is_err());
        }
    }
}
