//! IPv4 and IPv6: from the network-layer bytes to the TCP bytes, or to the
//! bytes of a tunnel protocol `tunnel` follows (GRE, UDP, IP-in-IP).
//!
//! Owns the IP headers: IPv4 with options, IPv6 with its extension-header
//! chain, the length arithmetic that keeps link-layer padding out of the
//! payload and reports snap-length truncation, and the hand-off of fragments
//! to [`FragmentTable`]. It does not look inside the TCP header or the
//! tunnel header; [`followed`] says which protocols are worth returning (and
//! worth holding fragments for).
//!
//! Lengths come from the IP header, clamped to the captured bytes:
//!
//! ```text
//! captured:  |IP hdr|TCP hdr + payload ......|padding|         (Ethernet min frame)
//! total len: |<------------------------>|                      → padding dropped
//! captured:  |IP hdr|TCP hdr + pay|                            (snap length)
//! total len: |<------------------------------->|               → missing = the rest
//! ```
//!
//! A length field of zero (IPv4 total length, IPv6 payload length) is what
//! TCP segmentation offload and IPv6 jumbograms put on the wire as seen by
//! the capturing host; it is read as "as long as the capture".

use super::frag::{FragKey, Fragment, FragmentTable, Outcome};
use super::link::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::Skip;
use crate::capture::Timestamp;
use etherparse::err::{ip_auth, ipv4, ipv6};
use etherparse::{IpAuthHeaderSlice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice};
use etherparse::{Ipv6Header, Ipv6RawExtHeaderSlice};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of TCP.
pub(crate) const PROTO_TCP: u8 = 6;
/// IPv6 next header: hop-by-hop options.
const HOP_BY_HOP: u8 = 0;
/// IPv6 next header: routing.
const ROUTING: u8 = 43;
/// IPv6 next header: fragment.
const FRAGMENT: u8 = 44;
/// IPv6 next header: authentication header.
const AUTH: u8 = 51;
/// IPv6 next header: no next header.
const NO_NEXT: u8 = 59;
/// IPv6 next header: destination options.
const DEST_OPTS: u8 = 60;
/// IPv6 next header: mobility, HIP, shim6 (same generic layout as options).
const OTHER_EXT: [u8; 3] = [135, 139, 140];

/// Most IPv6 extension headers walked in one datagram.
pub(crate) const MAX_EXT_HEADERS: usize = 16;
/// Largest IP payload (IPv4 total length / IPv6 payload length field).
const MAX_IP_LEN: usize = 65535;

/// A complete IP datagram carrying TCP or a followed tunnel protocol.
#[derive(Debug)]
pub(crate) struct Datagram<'a> {
    /// Sender's address.
    pub src: IpAddr,
    /// Receiver's address.
    pub dst: IpAddr,
    /// The upper-layer protocol: TCP or one of [`followed`].
    pub proto: u8,
    /// The upper-layer header and payload, as far as captured.
    pub payload: Cow<'a, [u8]>,
    /// Bytes the IP length promises beyond what was captured.
    pub missing: u32,
}

/// True for the upper-layer protocols worth returning: TCP and the tunnel
/// protocols `tunnel` unwraps.
pub(crate) fn followed(proto: u8) -> bool {
    proto == PROTO_TCP || super::tunnel::ip_proto_handler(proto).is_some()
}

/// Parses the IP datagram at the start of `data`. `ethertype` is what the
/// link layer said it is (`None`: read the version nibble).
pub(crate) fn parse<'a>(
    data: &'a [u8],
    ethertype: Option<u16>,
    ts: Timestamp,
    frags: &mut FragmentTable,
) -> Result<Datagram<'a>, Skip> {
    let nibble = data
        .first()
        .map(|b| b >> 4)
        .ok_or(Skip::Malformed("empty IP packet"))?;
    let version = match ethertype {
        None => nibble,
        Some(ETHERTYPE_IPV4) => 4,
        Some(ETHERTYPE_IPV6) => 6,
        Some(_) => return Err(Skip::NotIp),
    };
    if nibble != version {
        return Err(Skip::Malformed("IP version does not match the link layer"));
    }
    match version {
        4 => parse_v4(data, ts, frags),
        6 => parse_v6(data, ts, frags),
        _ => Err(Skip::NotIp),
    }
}

/// Splits `data` at the IP length `total` (0: TSO, take the capture):
/// the captured bytes within it, and how many it promises beyond the capture.
fn clamp(data: &[u8], total: usize) -> (&[u8], u32) {
    let total = if total == 0 { data.len() } else { total };
    let end = total.min(data.len());
    let missing = u32::try_from(total.saturating_sub(end)).unwrap_or(u32::MAX);
    (data.get(..end).unwrap_or(data), missing)
}

fn parse_v4<'a>(
    data: &'a [u8],
    ts: Timestamp,
    frags: &mut FragmentTable,
) -> Result<Datagram<'a>, Skip> {
    let h = Ipv4HeaderSlice::from_slice(data).map_err(|e| match e {
        ipv4::HeaderSliceError::Content(ipv4::HeaderError::HeaderLengthSmallerThanHeader {
            ..
        }) => Skip::Malformed("IPv4 header length (IHL) below 5"),
        ipv4::HeaderSliceError::Content(_) => Skip::Malformed("IPv4 version mismatch"),
        ipv4::HeaderSliceError::Len(_) => Skip::Malformed("IPv4 header beyond the captured bytes"),
    })?;
    let hlen = h.slice().len();
    let total = usize::from(h.total_len());
    if total != 0 && total < hlen {
        return Err(Skip::Malformed("IPv4 total length smaller than its header"));
    }
    let (datagram, missing) = clamp(data, total);
    let payload = datagram.get(hlen..).unwrap_or_default();
    let src = h.source();
    let dst = h.destination();
    let proto = h.protocol().0;
    if !followed(proto) {
        return Err(Skip::NotTcp);
    }
    let datagram = |payload, missing| Datagram {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        proto,
        payload,
        missing,
    };
    if !h.is_fragmenting_payload() {
        return Ok(datagram(Cow::Borrowed(payload), missing));
    }
    if missing != 0 {
        return Err(Skip::Malformed("IPv4 fragment cut by the snap length"));
    }
    let key = FragKey::V4 {
        src,
        dst,
        proto,
        id: h.identification(),
    };
    let frag = Fragment {
        offset: usize::from(h.fragments_offset().value()) * 8,
        more: h.more_fragments(),
        data: payload,
        max_len: MAX_IP_LEN.saturating_sub(hlen),
        next_header: proto,
    };
    match frags.insert(key, frag, ts) {
        Outcome::Held => Err(Skip::FragmentHeld),
        Outcome::Dropped(why) => Err(Skip::Malformed(why)),
        Outcome::Complete { data, .. } => Ok(datagram(Cow::Owned(data), 0)),
    }
}

/// Where an IPv6 extension-header chain led.
#[derive(Debug, PartialEq, Eq)]
enum ChainEnd {
    /// TCP or a followed protocol starts at this offset.
    Upper(usize, u8),
    /// A Fragment header that really fragments starts at this offset.
    Fragment(usize),
}

/// Walks the extension-header chain at the start of `body`, beginning with
/// header type `next`. Stops at TCP or a followed protocol, at a fragmenting
/// Fragment header, or with why the datagram carries nothing we follow.
fn walk_chain(body: &[u8], mut next: u8) -> Result<ChainEnd, Skip> {
    const PAST_END: Skip = Skip::Malformed("IPv6 extension headers run past the packet");
    let mut off = 0usize;
    for _ in 0..=MAX_EXT_HEADERS {
        let rest = body.get(off..).ok_or(PAST_END)?;
        let (len, following) = match next {
            p if followed(p) => return Ok(ChainEnd::Upper(off, p)),
            NO_NEXT => return Err(Skip::NotTcp),
            HOP_BY_HOP | ROUTING | DEST_OPTS => ext_len(rest)?,
            n if OTHER_EXT.contains(&n) => ext_len(rest)?,
            AUTH => match IpAuthHeaderSlice::from_slice(rest) {
                Ok(ah) => (ah.slice().len(), ah.next_header().0),
                Err(ip_auth::HeaderSliceError::Len(_)) => return Err(PAST_END),
                Err(ip_auth::HeaderSliceError::Content(_)) => {
                    return Err(Skip::Malformed("IPv6 authentication header length zero"))
                }
            },
            FRAGMENT => {
                let fh = Ipv6FragmentHeaderSlice::from_slice(rest).map_err(|_| PAST_END)?;
                if fh.is_fragmenting_payload() {
                    return Ok(ChainEnd::Fragment(off));
                }
                // An atomic fragment (offset 0, no more): just a header.
                (fh.slice().len(), fh.next_header().0)
            }
            _ => return Err(Skip::NotTcp),
        };
        off = off.checked_add(len).ok_or(PAST_END)?;
        next = following;
    }
    Err(Skip::Malformed("too many IPv6 extension headers"))
}

/// Length and next header of a generic extension header at the start of `rest`.
fn ext_len(rest: &[u8]) -> Result<(usize, u8), Skip> {
    let h = Ipv6RawExtHeaderSlice::from_slice(rest)
        .map_err(|_| Skip::Malformed("IPv6 extension headers run past the packet"))?;
    Ok((h.slice().len(), h.next_header().0))
}

/// True when `next` may start the fragmentable part of a datagram we follow.
fn may_lead_to_followed(next: u8) -> bool {
    matches!(next, HOP_BY_HOP | ROUTING | DEST_OPTS | AUTH | FRAGMENT)
        || OTHER_EXT.contains(&next)
        || followed(next)
}

fn parse_v6<'a>(
    data: &'a [u8],
    ts: Timestamp,
    frags: &mut FragmentTable,
) -> Result<Datagram<'a>, Skip> {
    let h = Ipv6HeaderSlice::from_slice(data).map_err(|e| match e {
        ipv6::HeaderSliceError::Len(_) => Skip::Malformed("IPv6 header beyond the captured bytes"),
        ipv6::HeaderSliceError::Content(_) => Skip::Malformed("IPv6 version mismatch"),
    })?;
    let plen = usize::from(h.payload_length());
    let total = if plen == 0 { 0 } else { Ipv6Header::LEN + plen };
    let (datagram, missing) = clamp(data, total);
    let body = datagram.get(Ipv6Header::LEN..).unwrap_or_default();
    let src = h.source();
    let dst = h.destination();
    let datagram = |proto, payload, missing| Datagram {
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        proto,
        payload,
        missing,
    };
    let frag_off = match walk_chain(body, h.next_header().0)? {
        ChainEnd::Upper(off, proto) => {
            let upper = body.get(off..).unwrap_or_default();
            return Ok(datagram(proto, Cow::Borrowed(upper), missing));
        }
        ChainEnd::Fragment(off) => off,
    };
    let fh = body
        .get(frag_off..)
        .and_then(|rest| Ipv6FragmentHeaderSlice::from_slice(rest).ok())
        .ok_or(Skip::Malformed(
            "IPv6 extension headers run past the packet",
        ))?;
    let next = fh.next_header().0;
    if !may_lead_to_followed(next) {
        return Err(Skip::NotTcp);
    }
    if missing != 0 {
        return Err(Skip::Malformed("IPv6 fragment cut by the snap length"));
    }
    let key = FragKey::V6 {
        src,
        dst,
        id: fh.identification(),
    };
    let frag = Fragment {
        offset: usize::from(fh.fragment_offset().value()) * 8,
        more: fh.more_fragments(),
        data: body
            .get(frag_off.saturating_add(fh.slice().len())..)
            .unwrap_or_default(),
        max_len: MAX_IP_LEN.saturating_sub(frag_off),
        next_header: next,
    };
    match frags.insert(key, frag, ts) {
        Outcome::Held => Err(Skip::FragmentHeld),
        Outcome::Dropped(why) => Err(Skip::Malformed(why)),
        Outcome::Complete {
            mut data,
            next_header,
        } => match walk_chain(&data, next_header)? {
            ChainEnd::Upper(off, proto) => {
                data.drain(..off.min(data.len()));
                Ok(datagram(proto, Cow::Owned(data), 0))
            }
            ChainEnd::Fragment(_) => Err(Skip::Malformed("IPv6 fragment inside a fragment")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::frag::FragmentLimits;
    use crate::decode::testutil::{ext, frag6, ipv4, ipv6, ipv6_with_len, tcp, V4, V6_DST, V6_SRC};

    const T0: Timestamp = Timestamp {
        secs: 1000,
        nanos: 0,
    };

    fn table() -> FragmentTable {
        FragmentTable::new(FragmentLimits::default())
    }

    fn parse_v4_only(data: &[u8]) -> Result<Datagram<'_>, Skip> {
        parse(data, Some(ETHERTYPE_IPV4), T0, &mut table())
    }

    fn parse_v6_only(data: &[u8]) -> Result<Datagram<'_>, Skip> {
        parse(data, Some(ETHERTYPE_IPV6), T0, &mut table())
    }

    fn malformed<T: std::fmt::Debug>(r: Result<T, Skip>) -> bool {
        matches!(r, Err(Skip::Malformed(_)))
    }

    #[test]
    fn ipv4_plain_borrows_tcp_bytes() {
        let seg = tcp(1, 2, 3, 0x18, b"hello");
        let p = ipv4(&V4::default(), &seg);
        let d = parse_v4_only(&p).unwrap();
        assert_eq!(d.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(d.dst, IpAddr::from([10, 0, 0, 2]));
        assert!(matches!(d.payload, Cow::Borrowed(_)));
        assert_eq!(&*d.payload, &seg[..]);
        assert_eq!(d.missing, 0);
    }

    #[test]
    fn ipv4_with_options_skips_them() {
        let seg = tcp(1, 2, 3, 0x18, b"data");
        let h = V4 {
            options: vec![0x94, 4, 0, 0, 1, 1, 1, 0], // router alert, NOP x3, EOL
            ..V4::default()
        };
        let p = ipv4(&h, &seg);
        assert_eq!(p[0] & 0xf, 7);
        assert_eq!(&*parse_v4_only(&p).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv4_max_ihl_15_options() {
        let seg = tcp(1, 2, 3, 0x18, b"x");
        let h = V4 {
            options: vec![1; 40],
            ..V4::default()
        };
        let p = ipv4(&h, &seg);
        assert_eq!(p[0] & 0xf, 15);
        assert_eq!(&*parse_v4_only(&p).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv4_ihl_below_5_is_malformed() {
        let mut p = ipv4(&V4::default(), &tcp(1, 2, 3, 0, b""));
        p[0] = 0x44;
        assert_eq!(
            parse_v4_only(&p).unwrap_err(),
            Skip::Malformed("IPv4 header length (IHL) below 5")
        );
    }

    #[test]
    fn ipv4_ihl_beyond_packet_is_malformed() {
        let mut p = ipv4(&V4::default(), &[]);
        p[0] = 0x4f; // 60-byte header in a 20-byte packet
        assert!(malformed(parse_v4_only(&p)));
    }

    #[test]
    fn ipv4_truncated_header_is_malformed() {
        let p = ipv4(&V4::default(), &[]);
        assert!(malformed(parse_v4_only(&p[..19])));
    }

    #[test]
    fn ipv4_ethernet_padding_is_not_payload() {
        let seg = tcp(1, 2, 3, 0x10, b"");
        let mut p = ipv4(&V4::default(), &seg);
        p.extend_from_slice(&[0; 6]); // 40-byte datagram padded to 46
        let d = parse_v4_only(&p).unwrap();
        assert_eq!(&*d.payload, &seg[..]);
        assert_eq!(d.missing, 0);
    }

    #[test]
    fn ipv4_snaplen_truncation_reports_missing() {
        let seg = tcp(1, 2, 3, 0x18, &[7; 100]);
        let p = ipv4(&V4::default(), &seg);
        let cut = &p[..p.len() - 30];
        let d = parse_v4_only(cut).unwrap();
        assert_eq!(d.payload.len(), seg.len() - 30);
        assert_eq!(d.missing, 30);
    }

    #[test]
    fn ipv4_total_length_below_header_is_malformed() {
        let h = V4 {
            total_len: Some(19),
            ..V4::default()
        };
        let p = ipv4(&h, &tcp(1, 2, 3, 0, b""));
        assert_eq!(
            parse_v4_only(&p).unwrap_err(),
            Skip::Malformed("IPv4 total length smaller than its header")
        );
    }

    #[test]
    fn ipv4_total_length_below_options_is_malformed() {
        let h = V4 {
            options: vec![1; 8],
            total_len: Some(24),
            ..V4::default()
        };
        assert!(malformed(parse_v4_only(&ipv4(&h, &tcp(1, 2, 3, 0, b"")))));
    }

    #[test]
    fn ipv4_total_length_zero_tso_takes_the_capture() {
        let seg = tcp(1, 2, 3, 0x18, &[1; 3000]);
        let h = V4 {
            total_len: Some(0),
            ..V4::default()
        };
        let p = ipv4(&h, &seg);
        let d = parse_v4_only(&p).unwrap();
        assert_eq!(d.payload.len(), seg.len());
        assert_eq!(d.missing, 0);
    }

    #[test]
    fn ipv4_icmp_is_not_tcp() {
        let h = V4 {
            proto: 1,
            ..V4::default()
        };
        assert_eq!(parse_v4_only(&ipv4(&h, &[0; 8])).unwrap_err(), Skip::NotTcp);
    }

    #[test]
    fn ipv4_tunnel_protocols_are_returned() {
        for proto in [4, 17, 41, 47] {
            let h = V4 {
                proto,
                ..V4::default()
            };
            let p = ipv4(&h, &[7; 8]);
            let d = parse_v4_only(&p).unwrap();
            assert_eq!(d.proto, proto);
            assert_eq!(&*d.payload, &[7; 8]);
        }
    }

    #[test]
    fn ipv6_tunnel_protocol_after_extension_is_returned() {
        let mut body = ext(47, 0);
        body.extend([9; 8]);
        let d = parse_v6_only(&ipv6(HOP_BY_HOP, &body)).map(|d| (d.proto, d.payload.to_vec()));
        assert_eq!(d, Ok((47, vec![9; 8])));
    }

    #[test]
    fn ipv4_fragments_of_a_tunnel_protocol_reassemble() {
        let f = |off: u16, more: bool, data: &[u8]| {
            let h = V4 {
                proto: 47,
                frag_offset: off,
                more_fragments: more,
                ..V4::default()
            };
            ipv4(&h, data)
        };
        let mut t = table();
        let body: Vec<u8> = (0..40).collect();
        let (f1, f2) = (f(0, true, &body[..24]), f(3, false, &body[24..]));
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        let d = parse(&f2, None, T0, &mut t).unwrap();
        assert_eq!((d.proto, &*d.payload), (47, &body[..]));
    }

    #[test]
    fn ipv4_fragment_of_icmp_is_dropped_early() {
        let h = V4 {
            proto: 1,
            more_fragments: true,
            ..V4::default()
        };
        let mut t = table();
        let p = ipv4(&h, &[0; 16]);
        assert_eq!(parse(&p, None, T0, &mut t).unwrap_err(), Skip::NotTcp);
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn version_nibble_decides_on_raw_links() {
        let p4 = ipv4(&V4::default(), &tcp(1, 2, 3, 0, b""));
        let p6 = ipv6(6, &tcp(1, 2, 3, 0, b""));
        let mut t = table();
        assert!(parse(&p4, None, T0, &mut t).unwrap().src.is_ipv4());
        assert!(parse(&p6, None, T0, &mut t).unwrap().src.is_ipv6());
    }

    #[test]
    fn version_mismatching_ethertype_is_malformed() {
        let p6 = ipv6(6, &tcp(1, 2, 3, 0, b""));
        assert!(malformed(parse_v4_only(&p6)));
    }

    #[test]
    fn unknown_version_on_raw_link_is_not_ip() {
        let mut t = table();
        assert_eq!(
            parse(&[0x50; 40], None, T0, &mut t).unwrap_err(),
            Skip::NotIp
        );
    }

    #[test]
    fn empty_ip_packet_is_malformed() {
        assert!(malformed(parse(&[], None, T0, &mut table())));
    }

    fn v4_frag(offset8: u16, more: bool, payload: &[u8]) -> Vec<u8> {
        let h = V4 {
            id: 77,
            frag_offset: offset8,
            more_fragments: more,
            ..V4::default()
        };
        ipv4(&h, payload)
    }

    #[test]
    fn ipv4_fragments_in_order_reassemble() {
        let seg = tcp(80, 1234, 9, 0x18, &[0xab; 40]); // 60 bytes
        let mut t = table();
        let f1 = v4_frag(0, true, &seg[..24]);
        let f2 = v4_frag(3, true, &seg[24..48]);
        let f3 = v4_frag(6, false, &seg[48..]);
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(
            parse(&f2, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        let d = parse(&f3, None, T0, &mut t).unwrap();
        assert!(matches!(d.payload, Cow::Owned(_)));
        assert_eq!(&*d.payload, &seg[..]);
        assert_eq!(t.stats().pending, 0);
        assert_eq!(t.stats().pending_bytes, 0);
    }

    #[test]
    fn ipv4_fragments_out_of_order_reassemble() {
        let seg = tcp(80, 1234, 9, 0x18, &[0xcd; 40]);
        let mut t = table();
        let f1 = v4_frag(0, true, &seg[..24]);
        let f2 = v4_frag(3, true, &seg[24..48]);
        let f3 = v4_frag(6, false, &seg[48..]);
        assert_eq!(
            parse(&f3, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(&*parse(&f2, None, T0, &mut t).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv4_fragments_with_ethernet_padding_reassemble_without_it() {
        let seg = tcp(80, 1234, 9, 0x18, &[0x11; 12]); // 32 bytes
        let mut t = table();
        let f1 = v4_frag(0, true, &seg[..24]);
        let mut f2 = v4_frag(3, false, &seg[24..]);
        f2.extend_from_slice(&[0xee; 18]);
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(&*parse(&f2, None, T0, &mut t).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv4_overlapping_fragments_first_bytes_win() {
        let seg = tcp(80, 1234, 9, 0x18, &[0x22; 28]); // 48 bytes
        let mut t = table();
        let f1 = v4_frag(0, true, &seg[..32]);
        let mut evil = seg[16..48].to_vec();
        evil[..16].copy_from_slice(&[0xff; 16]); // rewrites bytes 16..32
        let f2 = v4_frag(2, false, &evil);
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(&*parse(&f2, None, T0, &mut t).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv4_oversized_reassembly_is_dropped() {
        let mut t = table();
        let f1 = v4_frag(0, true, &tcp(1, 2, 3, 0, &[0; 4]));
        // Offset 8189*8 = 65512, + 20 header + 24 bytes > 65535.
        let f2 = v4_frag(8189, false, &[0; 24]);
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert!(malformed(parse(&f2, None, T0, &mut t)));
        assert_eq!(t.stats().pending, 0);
        assert_eq!(t.stats().dropped, 1);
    }

    #[test]
    fn ipv4_fragment_cut_by_snaplen_is_malformed() {
        let f1 = v4_frag(0, true, &[0; 64]);
        assert!(malformed(parse(&f1[..50], None, T0, &mut table())));
    }

    #[test]
    fn ipv4_fragments_of_different_ids_do_not_mix() {
        let seg = tcp(80, 1234, 9, 0x18, &[0x33; 12]);
        let mut t = table();
        let f1 = v4_frag(0, true, &seg[..16]);
        let other = ipv4(
            &V4 {
                id: 78,
                frag_offset: 2,
                ..V4::default()
            },
            &seg[16..],
        );
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(
            parse(&other, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(t.stats().pending, 2);
    }

    #[test]
    fn ipv6_plain_borrows_tcp_bytes() {
        let seg = tcp(1, 2, 3, 0x18, b"six");
        let p = ipv6(6, &seg);
        let d = parse_v6_only(&p).unwrap();
        assert_eq!(d.src, IpAddr::from(V6_SRC));
        assert_eq!(d.dst, IpAddr::from(V6_DST));
        assert!(matches!(d.payload, Cow::Borrowed(_)));
        assert_eq!(&*d.payload, &seg[..]);
    }

    #[test]
    fn ipv6_truncated_header_is_malformed() {
        let p = ipv6(6, &[]);
        assert!(malformed(parse_v6_only(&p[..39])));
    }

    #[test]
    fn ipv6_ethernet_padding_is_not_payload() {
        let seg = tcp(1, 2, 3, 0x10, b"");
        let mut p = ipv6(6, &seg);
        p.extend_from_slice(&[0; 4]);
        assert_eq!(&*parse_v6_only(&p).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv6_snaplen_truncation_reports_missing() {
        let seg = tcp(1, 2, 3, 0x18, &[9; 50]);
        let p = ipv6(6, &seg);
        let d = parse_v6_only(&p[..p.len() - 10]).unwrap();
        assert_eq!(d.payload.len(), seg.len() - 10);
        assert_eq!(d.missing, 10);
    }

    #[test]
    fn ipv6_payload_length_zero_takes_the_capture() {
        let seg = tcp(1, 2, 3, 0x18, &[9; 50]);
        let p = ipv6_with_len(6, 0, &seg);
        let d = parse_v6_only(&p).unwrap();
        assert_eq!(&*d.payload, &seg[..]);
        assert_eq!(d.missing, 0);
    }

    #[test]
    fn ipv6_extension_chain_is_walked() {
        let seg = tcp(1, 2, 3, 0x18, b"ext");
        let mut body = ext(ROUTING, 0); // hop-by-hop -> routing
        body.extend(ext(FRAGMENT, 1)); // routing (16 bytes) -> fragment
        body.extend(frag6(AUTH, 0, false, 5)); // atomic fragment -> AH
        body.extend([DEST_OPTS, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]); // AH (12 bytes) -> dest opts
        body.extend(ext(PROTO_TCP, 0)); // dest opts -> TCP
        body.extend(&seg);
        let p = ipv6(HOP_BY_HOP, &body);
        assert_eq!(&*parse_v6_only(&p).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv6_no_next_header_is_not_tcp() {
        let mut body = ext(NO_NEXT, 0);
        body.extend([0; 8]);
        assert_eq!(
            parse_v6_only(&ipv6(DEST_OPTS, &body)).unwrap_err(),
            Skip::NotTcp
        );
    }

    #[test]
    fn ipv6_icmp_after_extension_is_not_tcp() {
        let mut body = ext(58, 0);
        body.extend([0; 8]);
        assert_eq!(
            parse_v6_only(&ipv6(HOP_BY_HOP, &body)).unwrap_err(),
            Skip::NotTcp
        );
    }

    #[test]
    fn ipv6_truncated_extension_chain_is_malformed() {
        let mut body = ext(PROTO_TCP, 2); // claims 24 bytes
        body.truncate(16);
        let p = ipv6(HOP_BY_HOP, &body);
        assert_eq!(
            parse_v6_only(&p).unwrap_err(),
            Skip::Malformed("IPv6 extension headers run past the packet")
        );
    }

    #[test]
    fn ipv6_extension_chain_past_payload_length_is_malformed() {
        // The header fits in the capture but not in the payload length.
        let mut body = ext(PROTO_TCP, 1);
        body.extend(tcp(1, 2, 3, 0, b""));
        let p = ipv6_with_len(HOP_BY_HOP, 8, &body);
        assert!(malformed(parse_v6_only(&p)));
    }

    #[test]
    fn ipv6_too_many_extension_headers_is_malformed() {
        let mut body = Vec::new();
        for _ in 0..=MAX_EXT_HEADERS {
            body.extend(ext(DEST_OPTS, 0));
        }
        body.extend(tcp(1, 2, 3, 0, b""));
        assert_eq!(
            parse_v6_only(&ipv6(DEST_OPTS, &body)).unwrap_err(),
            Skip::Malformed("too many IPv6 extension headers")
        );
    }

    fn v6_frag(unfrag: &[u8], first: u8, offset8: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let mut body = unfrag.to_vec();
        body.extend(frag6(PROTO_TCP, offset8, more, 0xdead_beef));
        body.extend_from_slice(data);
        ipv6(first, &body)
    }

    #[test]
    fn ipv6_fragments_reassemble() {
        let seg = tcp(443, 5555, 1, 0x18, &[0x66; 44]); // 64 bytes
        let mut t = table();
        let f2 = v6_frag(&[], FRAGMENT, 4, false, &seg[32..]);
        let f1 = v6_frag(&[], FRAGMENT, 0, true, &seg[..32]);
        assert_eq!(
            parse(&f2, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        let d = parse(&f1, None, T0, &mut t).unwrap();
        assert!(matches!(d.payload, Cow::Owned(_)));
        assert_eq!(&*d.payload, &seg[..]);
        assert_eq!(d.src, IpAddr::from(V6_SRC));
    }

    #[test]
    fn ipv6_fragments_after_hop_by_hop_reassemble() {
        let seg = tcp(443, 5555, 1, 0x18, &[0x67; 20]); // 40 bytes
        let hbh = ext(FRAGMENT, 0);
        let mut t = table();
        let f1 = v6_frag(&hbh, HOP_BY_HOP, 0, true, &seg[..24]);
        let f2 = v6_frag(&hbh, HOP_BY_HOP, 3, false, &seg[24..]);
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(&*parse(&f2, None, T0, &mut t).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv6_fragmentable_part_with_destination_options_reassembles() {
        let seg = tcp(443, 5555, 1, 0x18, &[0x68; 20]);
        let mut part = ext(PROTO_TCP, 0);
        part.extend(&seg); // 48 bytes
        let frag = |off: u16, more: bool, data: &[u8]| {
            let mut body = frag6(DEST_OPTS, off, more, 9);
            body.extend_from_slice(data);
            ipv6(FRAGMENT, &body)
        };
        let mut t = table();
        let f1 = frag(0, true, &part[..16]);
        let f2 = frag(2, false, &part[16..]);
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert_eq!(&*parse(&f2, None, T0, &mut t).unwrap().payload, &seg[..]);
    }

    #[test]
    fn ipv6_fragment_of_icmp_is_dropped_early() {
        let mut body = frag6(58, 0, true, 1);
        body.extend([0; 16]);
        let mut t = table();
        assert_eq!(
            parse(&ipv6(FRAGMENT, &body), None, T0, &mut t).unwrap_err(),
            Skip::NotTcp
        );
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn ipv6_oversized_reassembly_is_dropped() {
        let mut t = table();
        let f1 = v6_frag(&[], FRAGMENT, 0, true, &tcp(1, 2, 3, 0, &[0; 4]));
        let f2 = v6_frag(&[], FRAGMENT, 8190, false, &[0; 16]); // 65520 + 16 > 65535 - 8
        assert_eq!(
            parse(&f1, None, T0, &mut t).unwrap_err(),
            Skip::FragmentHeld
        );
        assert!(malformed(parse(&f2, None, T0, &mut t)));
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn ipv6_truncated_fragment_header_is_malformed() {
        let body = frag6(PROTO_TCP, 1, true, 1);
        let p = ipv6_with_len(FRAGMENT, 8, &body[..6]);
        assert!(malformed(parse_v6_only(&p)));
    }
}
