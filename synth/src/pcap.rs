//! Capture-file writers: classic pcap and pcapng, streaming over any
//! [`Write`]. Wrap files in a `BufWriter`: every record is a few small writes.

use super::PacketSink;
use crate::Timestamp;
use std::io::{self, Write};

/// Byte order of a capture file (or of a BSD NULL family field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endian {
    /// Least significant byte first (what x86 machines write).
    #[default]
    Little,
    /// Most significant byte first (network order; SPARC, PowerPC, MIPS writers).
    Big,
}

impl Endian {
    /// `v` in this byte order.
    pub fn u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    /// `v` in this byte order.
    pub fn u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// How a classic pcap file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapFormat {
    /// Byte order of the file header and record headers.
    pub endian: Endian,
    /// Nanosecond timestamps (magic `0xa1b23c4d`) instead of microseconds (`0xa1b2c3d4`).
    pub nanos: bool,
    /// The snap length written in the header; records longer than it are cut to it.
    pub snaplen: u32,
}

impl Default for PcapFormat {
    /// Little endian, microseconds, snap length 262144 (tcpdump's default).
    fn default() -> Self {
        PcapFormat {
            endian: Endian::Little,
            nanos: false,
            snaplen: 262_144,
        }
    }
}

/// Writes a classic libpcap file: a 24-byte header, then one record per packet.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    format: PcapFormat,
}

impl<W: Write> PcapWriter<W> {
    /// Write the file header for link type `linktype` (a `LINKTYPE_*` value) and
    /// return a writer for records.
    pub fn new(mut out: W, format: PcapFormat, linktype: u32) -> io::Result<Self> {
        let e = format.endian;
        let magic: u32 = if format.nanos {
            0xa1b2_3c4d
        } else {
            0xa1b2_c3d4
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&e.u32(magic));
        h[4..6].copy_from_slice(&e.u16(2));
        h[6..8].copy_from_slice(&e.u16(4));
        // thiszone and sigfigs stay zero, as every writer leaves them.
        h[16..20].copy_from_slice(&e.u32(format.snaplen));
        h[20..24].copy_from_slice(&e.u32(linktype));
        out.write_all(&h)?;
        Ok(PcapWriter { out, format })
    }

    /// Write one record: captured at `ts`, frame bytes `data` (cut to the snap
    /// length), `orig_len` the frame's length on the wire. Timestamps are
    /// stored in the file's resolution (nanoseconds truncated to microseconds
    /// in a microsecond file); seconds are stored as 32 bits.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let e = self.format.endian;
        let caplen = data.len().min(self.format.snaplen as usize);
        let frac = if self.format.nanos {
            ts.nanos
        } else {
            ts.nanos / 1000
        };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&e.u32(ts.secs as u32));
        h[4..8].copy_from_slice(&e.u32(frac));
        h[8..12].copy_from_slice(&e.u32(caplen as u32));
        h[12..16].copy_from_slice(&e.u32(orig_len));
        self.out.write_all(&h)?;
        self.out.write_all(&data[..caplen])
    }

    /// The underlying writer (e.g. to see how many bytes a `Vec` holds so far).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The layout this writer uses.
    pub fn format(&self) -> PcapFormat {
        self.format
    }

    /// Flush and hand back the underlying writer.
    pub fn into_inner(mut self) -> W {
        let _ = self.out.flush();
        self.out
    }
}

impl<W: Write> PacketSink for PcapWriter<W> {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        self.write_packet(ts, data, data.len() as u32)
    }
}

/// Writes a pcapng file: one Section Header Block, then Interface Description
/// Blocks (each with its own link type and timestamp resolution) and Enhanced
/// Packet Blocks, in the order the caller asks for them.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: W,
    endian: Endian,
    /// Per interface: (snaplen, timestamp units per second).
    ifaces: Vec<(u32, u64)>,
}

impl<W: Write> PcapngWriter<W> {
    /// Write the Section Header Block (version 1.0, section length unknown).
    pub fn new(mut out: W, endian: Endian) -> io::Result<Self> {
        let e = endian;
        let mut b = [0u8; 28];
        b[0..4].copy_from_slice(&e.u32(0x0a0d_0d0a));
        b[4..8].copy_from_slice(&e.u32(28));
        b[8..12].copy_from_slice(&e.u32(0x1a2b_3c4d));
        b[12..14].copy_from_slice(&e.u16(1));
        b[14..16].copy_from_slice(&e.u16(0));
        b[16..24].copy_from_slice(&[0xff; 8]); // section length: -1
        b[24..28].copy_from_slice(&e.u32(28));
        out.write_all(&b)?;
        Ok(PcapngWriter {
            out,
            endian,
            ifaces: Vec::new(),
        })
    }

    /// Write an Interface Description Block and return the new interface's id
    /// (0, 1, ... in order). `if_tsresol` is the pcapng option value: a decimal
    /// exponent (6 = microseconds, 9 = nanoseconds) or, with the top bit set, a
    /// binary one (`0x80 | n` = 2^-n s). The option is written only when it is
    /// not the default 6.
    pub fn add_interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        if_tsresol: u8,
    ) -> io::Result<u32> {
        let units = tsresol_units(if_tsresol).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("if_tsresol {if_tsresol:#x} is finer than a u64 can count"),
            )
        })?;
        let e = self.endian;
        let with_opt = if_tsresol != 6;
        let len: u32 = if with_opt { 20 + 8 + 4 } else { 20 };
        let mut b = [0u8; 32];
        b[0..4].copy_from_slice(&e.u32(1));
        b[4..8].copy_from_slice(&e.u32(len));
        b[8..10].copy_from_slice(&e.u16(linktype));
        // b[10..12] reserved
        b[12..16].copy_from_slice(&e.u32(snaplen));
        let mut at = 16;
        if with_opt {
            b[16..18].copy_from_slice(&e.u16(9)); // if_tsresol
            b[18..20].copy_from_slice(&e.u16(1));
            b[20] = if_tsresol; // then 3 bytes of padding
            b[24..28].copy_from_slice(&[0; 4]); // opt_endofopt
            at = 28;
        }
        b[at..at + 4].copy_from_slice(&e.u32(len));
        self.out.write_all(&b[..len as usize])?;
        self.ifaces.push((snaplen, units));
        Ok(self.ifaces.len() as u32 - 1)
    }

    /// Write an Enhanced Packet Block on interface `iface`: captured at `ts`,
    /// frame bytes `data` (cut to the interface's snap length when it is not
    /// zero), `orig_len` the length on the wire.
    ///
    /// # Panics
    /// When `iface` was not returned by [`PcapngWriter::add_interface`].
    pub fn write_packet(
        &mut self,
        iface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let (snaplen, units) = self.ifaces[iface as usize];
        let caplen = if snaplen == 0 {
            data.len()
        } else {
            data.len().min(snaplen as usize)
        };
        let pad = (4 - caplen % 4) % 4;
        let len = (32 + caplen + pad) as u32;
        let t = ts.secs as u128 * units as u128 + ts.nanos as u128 * units as u128 / 1_000_000_000;
        let t = t as u64;
        let e = self.endian;
        let mut h = [0u8; 28];
        h[0..4].copy_from_slice(&e.u32(6));
        h[4..8].copy_from_slice(&e.u32(len));
        h[8..12].copy_from_slice(&e.u32(iface));
        h[12..16].copy_from_slice(&e.u32((t >> 32) as u32));
        h[16..20].copy_from_slice(&e.u32(t as u32));
        h[20..24].copy_from_slice(&e.u32(caplen as u32));
        h[24..28].copy_from_slice(&e.u32(orig_len));
        self.out.write_all(&h)?;
        self.out.write_all(&data[..caplen])?;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(&e.u32(len))
    }

    /// A [`PacketSink`] writing to interface `iface` of this file.
    pub fn interface(&mut self, iface: u32) -> PcapngInterface<'_, W> {
        PcapngInterface {
            writer: self,
            iface,
        }
    }

    /// Flush and hand back the underlying writer.
    pub fn into_inner(mut self) -> W {
        let _ = self.out.flush();
        self.out
    }
}

/// Timestamp units per second for a pcapng `if_tsresol` value.
fn tsresol_units(v: u8) -> Option<u64> {
    let n = u32::from(v & 0x7f);
    if v & 0x80 != 0 {
        1u64.checked_shl(n).filter(|_| n < 64)
    } else {
        10u64.checked_pow(n)
    }
}

/// One interface of a [`PcapngWriter`], usable wherever a [`PacketSink`] is wanted.
#[derive(Debug)]
pub struct PcapngInterface<'a, W: Write> {
    writer: &'a mut PcapngWriter<W>,
    iface: u32,
}

impl<W: Write> PacketSink for PcapngInterface<'_, W> {
    fn frame(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        self.writer
            .write_packet(self.iface, ts, data, data.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::pcapng::Block;
    use pcap_parser::{PcapCapture, PcapNGCapture};

    fn ts(secs: i64, nanos: u32) -> Timestamp {
        Timestamp::new(secs, nanos)
    }

    #[test]
    fn pcap_little_endian_microseconds_parses() {
        let mut w = PcapWriter::new(Vec::new(), PcapFormat::default(), 1).unwrap();
        w.write_packet(ts(1_700_000_000, 123_456_789), b"abcdef", 6)
            .unwrap();
        w.write_packet(ts(1_700_000_001, 0), b"xyz", 100).unwrap();
        let bytes = w.into_inner();
        let cap = PcapCapture::from_file(&bytes).unwrap();
        assert_eq!(cap.header.magic_number, 0xa1b2_c3d4);
        assert_eq!(cap.header.network.0, 1);
        assert_eq!(cap.header.snaplen, 262_144);
        assert_eq!(cap.blocks.len(), 2);
        assert_eq!(cap.blocks[0].ts_sec, 1_700_000_000);
        assert_eq!(cap.blocks[0].ts_usec, 123_456);
        assert_eq!(cap.blocks[0].data, b"abcdef");
        assert_eq!(cap.blocks[1].origlen, 100);
        assert_eq!(cap.blocks[1].caplen, 3);
    }

    #[test]
    fn pcap_big_endian_nanoseconds_parses() {
        let format = PcapFormat {
            endian: Endian::Big,
            nanos: true,
            snaplen: 65535,
        };
        let mut w = PcapWriter::new(Vec::new(), format, 101).unwrap();
        w.write_packet(ts(5, 123_456_789), b"\x45hello", 6).unwrap();
        let bytes = w.into_inner();
        assert_eq!(&bytes[..4], &[0xa1, 0xb2, 0x3c, 0x4d]);
        // PcapCapture reads little-endian records only: parse by hand.
        let (rest, header) = pcap_parser::parse_pcap_header(&bytes).unwrap();
        assert_eq!(header.network.0, 101);
        assert!(header.is_nanosecond_precision());
        assert!(header.is_bigendian());
        let (rest, block) = pcap_parser::parse_pcap_frame_be(rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(block.ts_sec, 5);
        assert_eq!(block.ts_usec, 123_456_789);
        assert_eq!(block.data, b"\x45hello");
    }

    #[test]
    fn pcap_record_is_cut_to_snaplen() {
        let format = PcapFormat {
            snaplen: 4,
            ..PcapFormat::default()
        };
        let mut w = PcapWriter::new(Vec::new(), format, 1).unwrap();
        w.frame(ts(1, 0), b"0123456789").unwrap();
        let bytes = w.into_inner();
        let cap = PcapCapture::from_file(&bytes).unwrap();
        assert_eq!(cap.blocks[0].data, b"0123");
        assert_eq!(cap.blocks[0].caplen, 4);
        assert_eq!(cap.blocks[0].origlen, 10);
    }

    fn pcapng_two_interfaces(endian: Endian) {
        let mut w = PcapngWriter::new(Vec::new(), endian).unwrap();
        let eth = w.add_interface(1, 65535, 6).unwrap();
        let raw = w.add_interface(101, 0, 9).unwrap();
        assert_eq!((eth, raw), (0, 1));
        w.write_packet(eth, ts(1_700_000_000, 1_000), b"ethernet frame", 14)
            .unwrap();
        w.interface(raw)
            .frame(ts(1_700_000_000, 123_456_789), b"raw")
            .unwrap();
        let bytes = w.into_inner();
        let cap = PcapNGCapture::from_file(&bytes).unwrap();
        let blocks = &cap.sections[0].blocks;
        assert_eq!(blocks.len(), 5);
        let mut links = Vec::new();
        let mut resol = Vec::new();
        let mut packets = Vec::new();
        for b in blocks {
            match b {
                Block::InterfaceDescription(idb) => {
                    links.push(idb.linktype.0);
                    resol.push(idb.ts_resolution().unwrap());
                }
                Block::EnhancedPacket(epb) => {
                    let t = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                    packets.push((epb.if_id, t, &epb.data[..epb.caplen as usize], epb.origlen));
                }
                Block::SectionHeader(shb) => assert_eq!(shb.big_endian(), endian == Endian::Big),
                other => panic!("unexpected block {other:?}"),
            }
        }
        assert_eq!(links, [1, 101]);
        assert_eq!(resol, [1_000_000, 1_000_000_000]);
        assert_eq!(
            packets[0],
            (0, 1_700_000_000_000_001, &b"ethernet frame"[..], 14)
        );
        assert_eq!(packets[1], (1, 1_700_000_000_123_456_789, &b"raw"[..], 3));
    }

    #[test]
    fn pcapng_mixed_interfaces_parse_little_endian() {
        pcapng_two_interfaces(Endian::Little);
    }

    #[test]
    fn pcapng_mixed_interfaces_parse_big_endian() {
        pcapng_two_interfaces(Endian::Big);
    }

    #[test]
    fn pcapng_binary_tsresol() {
        let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
        let i = w.add_interface(1, 0, 0x80 | 20).unwrap();
        w.write_packet(i, ts(2, 500_000_000), b"x", 1).unwrap();
        let bytes = w.into_inner();
        let cap = PcapNGCapture::from_file(&bytes).unwrap();
        let Block::EnhancedPacket(epb) = &cap.sections[0].blocks[2] else {
            panic!("no EPB");
        };
        let t = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
        assert_eq!(t, (2 << 20) + (1 << 19));
        assert!(w_rejects_absurd_resolution());
    }

    fn w_rejects_absurd_resolution() -> bool {
        let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
        w.add_interface(1, 0, 30).is_err() && w.add_interface(1, 0, 0x80 | 64).is_err()
    }
}
