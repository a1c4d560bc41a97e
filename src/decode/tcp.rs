//! The TCP header: from the TCP bytes of a datagram to a [`Segment`].
//!
//! Owns reading the TCP header fields and splitting header from payload. It
//! keeps no state and interprets nothing (no options, no sequence
//! arithmetic): that belongs to `flow`.

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

/// Turns the TCP bytes of `d` into a segment. Borrowed bytes stay borrowed;
/// a reassembled datagram's buffer is reused for the payload.
pub(crate) fn parse<'a>(
    d: Datagram<'a>,
    ts: Timestamp,
    vlan: Option<u16>,
) -> Result<Segment<'a>, Skip> {
    let h = header(&d.tcp)?;
    let payload = match d.tcp {
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
            vlan,
        },
        seq: h.seq,
        ack: h.ack,
        flags: TcpFlags(h.flags),
        window: h.window,
        payload,
        missing: d.missing,
    })
}
