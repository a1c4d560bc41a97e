//! The TCP header: from the TCP bytes of a datagram to a [`Segment`].
//!
//! Owns reading the TCP header fields and splitting header from payload. It
//! keeps no state and interprets nothing (no options, no sequence
//! arithmetic): that belongs to `flow`.

use super::encap::Ctx;
use super::ip::Datagram;
use super::{Segment, Skip, TcpFlags, TcpTuple};
use crate::capture::Timestamp;
use etherparse::err::tcp::{HeaderError, HeaderSliceError};
use etherparse::TcpHeaderSlice;
use std::borrow::Cow;

/// Header fields of a TCP segment, read before the payload is split off.
struct Header {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    len: usize,
}

/// Reads the TCP header at the start of `bytes`.
fn header(bytes: &[u8]) -> Result<Header, Skip> {
    let h = TcpHeaderSlice::from_slice(bytes).map_err(|e| match e {
        HeaderSliceError::Content(HeaderError::DataOffsetTooSmall { .. }) => {
            Skip::Malformed("TCP data offset below 5")
        }
        HeaderSliceError::Len(l) if l.len < 20 => Skip::Malformed("TCP header truncated"),
        HeaderSliceError::Len(_) => Skip::Malformed("TCP data offset beyond the captured bytes"),
    })?;
    let raw = h.slice();
    Ok(Header {
        sport: h.source_port(),
        dport: h.destination_port(),
        seq: h.sequence_number(),
        ack: h.acknowledgment_number(),
        // Byte 13: CWR ECE URG ACK PSH RST SYN FIN, the bits TcpFlags names.
        flags: raw.get(13).copied().unwrap_or(0),
        window: h.window_size(),
        len: raw.len(),
    })
}

/// Turns the TCP bytes of `d` into a segment, with the VLAN `ctx` gathered
/// on the way in. Borrowed bytes stay borrowed;
/// a reassembled datagram's buffer is reused for the payload.
pub(crate) fn parse<'a>(
    d: Datagram<'a>,
    ts: Timestamp,
    ctx: &Ctx<'_>,
) -> Result<Segment<'a>, Skip> {
    let h = header(&d.payload)?;
    let payload = match d.payload {
        Cow::Borrowed(b) => Cow::Borrowed(b.get(h.len..).unwrap_or_default()),
        Cow::Owned(mut v) => {
            v.drain(..h.len.min(v.len()));
            Cow::Owned(v)
        }
    };
    Ok(Segment {
        ts,
        tuple: TcpTuple {
            src: d.src,
            dst: d.dst,
            sport: h.sport,
            dport: h.dport,
            vlan: ctx.vlan,
            tunnel: ctx.tunnel_id(),
        },
        seq: h.seq,
        ack: h.ack,
        flags: TcpFlags(h.flags),
        window: h.window,
        payload,
        missing: d.missing,
        encap: ctx.encap,
        frame: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::testutil::{tcp, tcp_with_options};
    use crate::decode::DecodeOptions;
    use std::net::IpAddr;

    const TS: Timestamp = Timestamp { secs: 5, nanos: 6 };

    fn datagram(tcp: Cow<'_, [u8]>, missing: u32) -> Datagram<'_> {
        Datagram {
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([10, 0, 0, 2]),
            proto: 6,
            payload: tcp,
            missing,
        }
    }

    /// Parses with a context that saw VLAN `vlan` and no tunnel.
    fn parse<'a>(d: Datagram<'a>, ts: Timestamp, vlan: Option<u16>) -> Result<Segment<'a>, Skip> {
        let o = DecodeOptions::default();
        let mut ctx = Ctx::new(&o);
        ctx.vlan = vlan;
        super::parse(d, ts, &ctx)
    }

    #[test]
    fn fields_are_filled() {
        let bytes = tcp(443, 50000, 0xdead_beef, 0x18, b"payload");
        let s = parse(datagram(Cow::Borrowed(&bytes), 0), TS, Some(7)).unwrap();
        assert_eq!(s.ts, TS);
        assert_eq!(s.tuple.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(s.tuple.dst, IpAddr::from([10, 0, 0, 2]));
        assert_eq!((s.tuple.sport, s.tuple.dport), (443, 50000));
        assert_eq!(s.tuple.vlan, Some(7));
        assert_eq!(s.seq, 0xdead_beef);
        assert_eq!(s.ack, 0x1122_3344);
        assert_eq!(s.flags, TcpFlags(0x18));
        assert!(s.flags.ack() && !s.flags.syn());
        assert_eq!(s.window, 0xfaf0);
        assert_eq!(&*s.payload, b"payload");
        assert_eq!(s.missing, 0);
    }

    #[test]
    fn borrowed_payload_stays_borrowed() {
        let bytes = tcp(1, 2, 3, 0x10, b"abc");
        let s = parse(datagram(Cow::Borrowed(&bytes), 0), TS, None).unwrap();
        assert!(matches!(s.payload, Cow::Borrowed(_)));
    }

    #[test]
    fn owned_payload_reuses_the_buffer() {
        let bytes = tcp(1, 2, 3, 0x10, b"reassembled");
        let s = parse(datagram(Cow::Owned(bytes), 0), TS, None).unwrap();
        assert!(matches!(s.payload, Cow::Owned(_)));
        assert_eq!(&*s.payload, b"reassembled");
    }

    #[test]
    fn options_are_skipped() {
        let mss = [2, 4, 0x05, 0xb4, 1, 1, 4, 2]; // MSS, NOP, NOP, SACK-permitted
        let bytes = tcp_with_options(1, 2, 3, 0x02, &mss, b"");
        let s = parse(datagram(Cow::Borrowed(&bytes), 0), TS, None).unwrap();
        assert!(s.flags.syn());
        assert!(s.payload.is_empty());
    }

    #[test]
    fn all_flag_bits_are_kept() {
        let bytes = tcp(1, 2, 3, 0xff, b"");
        let s = parse(datagram(Cow::Borrowed(&bytes), 0), TS, None).unwrap();
        assert_eq!(s.flags, TcpFlags(0xff));
        assert!(s.flags.fin() && s.flags.syn() && s.flags.rst() && s.flags.ack());
    }

    #[test]
    fn missing_is_passed_through() {
        let bytes = tcp(1, 2, 3, 0x18, b"cut");
        let s = parse(datagram(Cow::Borrowed(&bytes), 1200), TS, None).unwrap();
        assert_eq!(s.missing, 1200);
        assert_eq!(&*s.payload, b"cut");
    }

    #[test]
    fn data_offset_below_5_is_malformed() {
        let mut bytes = tcp(1, 2, 3, 0x18, b"xxxx");
        bytes[12] = 4 << 4;
        assert_eq!(
            parse(datagram(Cow::Borrowed(&bytes), 0), TS, None).unwrap_err(),
            Skip::Malformed("TCP data offset below 5")
        );
    }

    #[test]
    fn data_offset_beyond_captured_bytes_is_malformed() {
        let mut bytes = tcp(1, 2, 3, 0x18, b"xxxx");
        bytes[12] = 15 << 4; // 60-byte header in 24 bytes
        assert_eq!(
            parse(datagram(Cow::Borrowed(&bytes), 0), TS, None).unwrap_err(),
            Skip::Malformed("TCP data offset beyond the captured bytes")
        );
    }

    #[test]
    fn truncated_header_is_malformed() {
        let bytes = tcp(1, 2, 3, 0x18, b"");
        assert_eq!(
            parse(datagram(Cow::Borrowed(&bytes[..19]), 0), TS, None).unwrap_err(),
            Skip::Malformed("TCP header truncated")
        );
    }

    #[test]
    fn owned_with_bad_data_offset_is_malformed() {
        let mut bytes = tcp(1, 2, 3, 0x18, b"");
        bytes[12] = 0;
        assert!(matches!(
            parse(datagram(Cow::Owned(bytes), 0), TS, None),
            Err(Skip::Malformed(_))
        ));
    }
}
