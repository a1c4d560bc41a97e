//! Capture sources: where packets come from.
//!
//! This module owns reading capture files ([`file`]: classic pcap in both
//! byte orders, micro- and nanosecond; pcapng with per-interface link types;
//! gzip, zstd, xz or bzip2 compressed, recognised by content: [`compressed`])
//! and live interfaces ([`live`], drained by a thread of its own into a
//! bounded queue of blocks: [`queue`]). It hands each record to a callback as a
//! [`Packet`] that borrows the reader's buffer. It knows nothing about IP or
//! TCP.

pub mod compressed;
pub mod file;
pub mod live;
pub mod queue;

use std::fmt;

/// A capture timestamp: seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second, always below 1_000_000_000.
    pub nanos: u32,
}

impl Timestamp {
    /// A timestamp from seconds and nanoseconds; nanoseconds past one second carry over.
    pub fn new(secs: i64, nanos: u32) -> Self {
        Timestamp {
            secs: secs.saturating_add(i64::from(nanos / 1_000_000_000)),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// The timestamp as fractional seconds (for reports).
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// Seconds elapsed from `earlier` to `self`, saturating at zero.
    pub fn seconds_since(self, earlier: Timestamp) -> u64 {
        if self <= earlier {
            return 0;
        }
        let mut secs = self.secs.saturating_sub(earlier.secs);
        if self.nanos < earlier.nanos {
            secs = secs.saturating_sub(1);
        }
        u64::try_from(secs).unwrap_or(0)
    }
}

impl From<std::time::SystemTime> for Timestamp {
    /// The wall-clock time `t` (live capture moves capture time on with it).
    fn from(t: std::time::SystemTime) -> Timestamp {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp::new(
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(_) => Timestamp::default(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// A libpcap link-layer header type (`LINKTYPE_*` / `DLT_*` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (DLT_RAW on most BSDs).
    pub const RAW_12: LinkType = LinkType(12);
    /// Raw IP (DLT_RAW on OpenBSD).
    pub const RAW_14: LinkType = LinkType(14);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Raw IP (LINKTYPE_RAW).
    pub const RAW: LinkType = LinkType(101);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "NULL",
            1 => "EN10MB",
            12 | 14 | 101 => "RAW",
            108 => "LOOP",
            113 => "LINUX_SLL",
            276 => "LINUX_SLL2",
            228 => "IPV4",
            229 => "IPV6",
            _ => return write!(f, "{}", self.0),
        };
        write!(f, "{} ({})", self.0, name)
    }
}

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// When the frame was captured.
    pub ts: Timestamp,
    /// The link-layer type of the interface it was captured on.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than `orig_len` when cut by the snap length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}
