//! Synthetic captures for flowsplit's tests, examples, benchmarks and fuzzing.
//!
//! This crate owns building packet captures from a script: capture-file
//! writers ([`PcapWriter`], [`PcapngWriter`]), frame builders for every link
//! type flowsplit reads ([`FrameBuilder`] with a [`Link`]), and a scripted TCP
//! connection ([`TcpConversation`]) that turns "client sends these bytes at
//! this offset" into correctly numbered segments; [`tunnel`] wraps the frames
//! in encapsulations and [`bench`](mod@bench) makes the benchmark's traffic.
//!
//! What it promises:
//!
//! - Independence: it does not depend on the `flowsplit` crate (not even for
//!   its [`Timestamp`], which is its own), so the captures it makes are
//!   evidence built without any of the decoding or reassembly code they test,
//!   and `flowsplit` can use it as a dev-dependency without a cycle.
//! - Determinism: the same script (and, for [`bench`](mod@bench), the same
//!   seed) gives the same bytes on every run; `testdata/` is checked against
//!   it byte for byte (`tests/testdata.rs`).
//! - Test-only: it is a workspace member used as a dev-dependency, never
//!   published (`publish = false`) and not part of the released `flowsplit`
//!   library or binary. Its API follows what the tests need, with no
//!   stability promise beyond this repository.
//!
//! Everything streams: writers wrap any [`std::io::Write`], frames are built
//! into a buffer owned by the [`FrameBuilder`] and reused for every packet, and
//! nothing is allocated per packet once the buffers have grown. A benchmark
//! generator can therefore write gigabytes through the same code the tests use.
//!
//! ```
//! use flowsplit_synth::{Link, PcapWriter, PcapFormat, Side, TcpConversation, Timestamp};
//!
//! let mut pcap = PcapWriter::new(Vec::new(), PcapFormat::default(), Link::ethernet().linktype()).unwrap();
//! let mut conv = TcpConversation::new(
//!     Link::ethernet(),
//!     "10.0.0.1:40000".parse().unwrap(),
//!     "10.0.0.2:80".parse().unwrap(),
//!     Timestamp::new(1_700_000_000, 0),
//! );
//! conv.handshake(&mut pcap).unwrap();
//! conv.send(Side::Client, b"GET / HTTP/1.0\r\n\r\n", &mut pcap).unwrap();
//! conv.send(Side::Server, b"HTTP/1.0 200 OK\r\n\r\n", &mut pcap).unwrap();
//! conv.close(&mut pcap).unwrap();
//! let bytes = pcap.into_inner();
//! assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
//! ```

pub mod bench;
mod conv;
mod frame;
mod pcap;
pub mod tunnel;

pub use conv::{Clock, Side, TcpConversation};
pub use frame::{
    EthernetOptions, FragOrder, Fragmentation, FrameBuilder, IpOptions, Ipv6Ext, Link, TcpHeader,
    Vlan, ACK, FIN, PSH, RST, SYN, URG,
};
pub use pcap::{Endian, PcapFormat, PcapWriter, PcapngInterface, PcapngWriter};

/// A capture timestamp: seconds and nanoseconds since the Unix epoch, as
/// written into capture records. Deliberately this crate's own type, not
/// flowsplit's, so the generator depends on nothing of the product.
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
}

/// Anything that accepts whole link-layer frames with their capture time:
/// a capture writer, one interface of a pcapng writer, or a `Vec` collecting
/// frames for later reordering.
pub trait PacketSink {
    /// Record one frame captured at `ts` (its full length is its length on the wire).
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> std::io::Result<()>;
}

impl<S: PacketSink + ?Sized> PacketSink for &mut S {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> std::io::Result<()> {
        (**self).frame(ts, data)
    }
}

/// Collects frames in memory (one allocation per frame: for tests that
/// reorder or drop whole frames before writing them).
impl PacketSink for Vec<(Timestamp, Vec<u8>)> {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> std::io::Result<()> {
        self.push((ts, data.to_vec()));
        Ok(())
    }
}
