//! Link, IP and TCP decoding: from a captured frame to a TCP segment.
//!
//! This module owns everything between the raw frame and the TCP header:
//! link-layer headers (Ethernet with 802.1Q/QinQ, Linux SLL/SLL2, BSD
//! NULL/LOOP, raw IP), IPv4 (with options and fragment reassembly), IPv6
//! (extension headers and fragment reassembly) and the TCP header itself.
//! It must not keep any per-connection state: that belongs to `flow`.
//! The only state it holds is the IP fragment table.
//!
//! The TCP payload length always comes from the IP length fields, clamped to
//! the captured bytes, so link-layer padding never becomes stream data; bytes
//! the IP header promises but the capture cut off are reported in
//! [`Segment::missing`].

mod frag;
mod ip;
mod link;
mod tcp;
#[cfg(test)]
mod testutil;

pub use frag::{FragmentLimits, FragmentStats};

use crate::capture::{Packet, Timestamp};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

/// The addresses, ports and VLAN of one TCP direction, as seen on the wire.
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
    /// The 12-bit id of the innermost 802.1Q tag, if the frame had one.
    pub vlan: Option<u16>,
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
/// nothing else.
#[derive(Debug, Default)]
pub struct Decoder {
    frags: frag::FragmentTable,
}

impl Decoder {
    /// A decoder with the given fragment-table limits.
    pub fn new(limits: FragmentLimits) -> Self {
        Decoder {
            frags: frag::FragmentTable::new(limits),
        }
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
        let l3 = link::strip(pkt.link, pkt.data)?;
        let datagram = ip::parse(l3.payload, l3.ethertype, pkt.ts, &mut self.frags)?;
        tcp::parse(datagram, pkt.ts, l3.vlan)
    }
}
