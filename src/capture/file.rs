//! Reading capture files: classic pcap (both byte orders, micro- and
//! nanosecond timestamps) and pcapng (several sections, interfaces with
//! different link types and timestamp resolutions).
//!
//! Files are parsed with the `pcap-parser` crate rather than libpcap because
//! libpcap refuses pcapng files whose interfaces have different link types,
//! which flowsplit must read; libpcap is still used for BPF filters and live
//! capture. Reading is streaming: the input is read into shared blocks of
//! [`BLOCK`] bytes (larger only for a larger record, up to [`MAX_RECORD`]),
//! and each packet is handed over together with the block it lies in, so
//! that worker threads can keep a reference to the payload instead of a
//! copy. Memory is bounded by the blocks in flight, never by the file's size.

use super::{LinkType, Packet, Timestamp};
use crate::error::Error;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The size of a read block; larger records get a block of their own.
pub const BLOCK: usize = 1 << 20;

/// The largest record accepted; a record claiming more is reported as corrupt.
pub const MAX_RECORD: usize = 16 << 20;

/// Bytes of the input that packets borrow: shared, so that a packet's bytes
/// can be kept (by another thread) without copying them.
pub type InputBlock = Arc<Vec<u8>>;

/// What reading one input produced.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Packet records handed to the callback.
    pub packets: u64,
    /// Bytes of the input consumed.
    pub bytes: u64,
}

/// Per-interface facts a pcapng file declares.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    /// Seconds added to every timestamp.
    offset_secs: i64,
}

/// Open `path` and hand every packet record to `on_packet` in file order.
///
/// On a truncated or corrupt file, every packet before the damage has
/// already been handed over when the error is returned.
pub fn read_path(
    path: &Path,
    on_packet: &mut dyn FnMut(&Packet<'_>, &InputBlock),
) -> Result<ReadStats, Error> {
    read_stream(path, open(path)?, on_packet)
}

/// Open a capture file for [`read_stream`]; a folder or unreadable path is an error.
pub fn open(path: &Path) -> Result<std::fs::File, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::NotACapture {
            path: path.to_path_buf(),
            detail: "it is a folder".into(),
        });
    }
    Ok(file)
}

/// Parses one classic pcap record.
type FrameParser =
    fn(
        &[u8],
    ) -> pcap_parser::nom::IResult<&[u8], pcap_parser::LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// How the records of the input are laid out.
#[derive(Clone, Copy)]
enum Format {
    /// Classic pcap, with the parser for its byte order and variant.
    Legacy(FrameParser),
    /// pcapng, in the byte order of the current section.
    Ng { big_endian: bool },
}

/// The input read into shared blocks, and a position in the current one.
struct Blocks<R> {
    input: R,
    block: InputBlock,
    /// Parsing position in `block`.
    pos: usize,
    /// The input has no more bytes (or failed: see `failed`).
    eof: bool,
    /// The read error that ended the input after some bytes of the last
    /// refill had come: those bytes are parsed first, then this is reported.
    failed: Option<std::io::Error>,
    /// Blocks handed out before, reused once nothing else holds them.
    pool: Vec<InputBlock>,
}

/// Blocks kept for reuse.
const POOL: usize = 32;

impl<R: Read> Blocks<R> {
    fn new(input: R) -> Blocks<R> {
        Blocks {
            input,
            block: Arc::new(Vec::with_capacity(BLOCK)),
            pos: 0,
            eof: false,
            failed: None,
            pool: Vec::new(),
        }
    }

    /// The bytes read and not yet parsed.
    fn data(&self) -> &[u8] {
        &self.block[self.pos..]
    }

    /// Read more of the input, into a fresh block of at least `capacity`
    /// bytes that starts with the unparsed rest of the current one (the
    /// current block stays with whoever still holds it). Reads until the
    /// block holds `need` unparsed bytes (and at least one new one), is
    /// full, or the input ends; a file fills the block in one read, a pipe
    /// is not waited on longer than needed. Returns the bytes added. A read
    /// error after new bytes came ends the input there and is kept in
    /// `failed`; one before any is returned.
    fn refill(&mut self, capacity: usize, need: usize) -> std::io::Result<usize> {
        let mut next = self.take_block(capacity.max(BLOCK));
        let fresh = Arc::get_mut(&mut next).expect("a block taken from the pool is not shared");
        fresh.clear();
        fresh.extend_from_slice(&self.block[self.pos..]);
        let kept = fresh.len();
        let room = fresh.capacity();
        fresh.resize(room, 0);
        let mut filled = kept;
        let need = need.max(kept + 1);
        while filled < need && filled < room && !self.eof {
            match self.input.read(&mut fresh[filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if filled > kept => {
                    // What came before the error is parsed first.
                    self.failed = Some(e);
                    self.eof = true;
                }
                Err(e) => {
                    fresh.truncate(filled);
                    self.retire(next);
                    return Err(e);
                }
            }
        }
        fresh.truncate(filled);
        let old = std::mem::replace(&mut self.block, next);
        self.retire(old);
        self.pos = 0;
        Ok(filled - kept)
    }

    /// A block of at least `capacity` bytes nobody else holds.
    fn take_block(&mut self, capacity: usize) -> InputBlock {
        if let Some(i) = self
            .pool
            .iter_mut()
            .position(|b| b.capacity() >= capacity && Arc::get_mut(b).is_some())
        {
            return self.pool.swap_remove(i);
        }
        Arc::new(Vec::with_capacity(capacity))
    }

    /// Keep `block` for reuse (if the pool has room).
    fn retire(&mut self, block: InputBlock) {
        if self.pool.len() < POOL && block.capacity() <= BLOCK {
            self.pool.push(block);
        }
    }
}

/// Read a capture from any byte stream (`name` is used in messages only),
/// decompressing it first when its content is gzip, zstd, xz or bzip2
/// ([`super::compressed`]); offsets in messages are then offsets in the
/// decompressed data.
pub fn read_stream(
    name: &Path,
    input: impl Read,
    on_packet: &mut dyn FnMut(&Packet<'_>, &InputBlock),
) -> Result<ReadStats, Error> {
    read_stream_with(name, input, on_packet, &mut |_| {})
}

/// [`read_stream`], also handing the TLS key log of every pcapng
/// Decryption Secrets Block (secrets type `TLSK`) to `on_tls_secrets`,
/// in file order among the packets (cut to the block's stated length;
/// other secrets types are passed over).
pub fn read_stream_with(
    name: &Path,
    input: impl Read,
    on_packet: &mut dyn FnMut(&Packet<'_>, &InputBlock),
    on_tls_secrets: &mut dyn FnMut(&[u8]),
) -> Result<ReadStats, Error> {
    let not_capture = |detail: &str| Error::NotACapture {
        path: name.to_path_buf(),
        detail: detail.to_string(),
    };
    let read_failed = |source: std::io::Error| Error::Open {
        path: name.to_path_buf(),
        source,
    };
    let (input, compression) = super::compressed::decompressing(input).map_err(read_failed)?;
    let mut blocks = Blocks::new(input);
    // Enough for any file header, also from a pipe that delivers little at a time.
    if let Err(e) = blocks.refill(BLOCK, 4096) {
        return Err(match compression {
            Some(c) => not_capture(&format!(
                "{} data that cannot be decompressed: {e}",
                c.name()
            )),
            None => read_failed(e),
        });
    }
    if blocks.data().is_empty() {
        return Err(not_capture(match compression {
            Some(_) => "the file decompresses to nothing",
            None => "the file is empty",
        }));
    }
    let within = match compression {
        Some(c) => format!(" (in the {}-decompressed data)", c.name()),
        None => String::new(),
    };
    let mut format = if pcap_parser::pcapng::parse_sectionheaderblock(blocks.data()).is_ok() {
        Format::Ng { big_endian: false }
    } else {
        match pcap_parser::parse_pcap_header(blocks.data()) {
            Ok((_, header)) => Format::Legacy(if header.is_modified_format() {
                pcap_parser::pcap::parse_pcap_frame_modified
            } else if header.is_bigendian() {
                pcap_parser::pcap::parse_pcap_frame_be
            } else {
                pcap_parser::pcap::parse_pcap_frame
            }),
            Err(pcap_parser::nom::Err::Incomplete(_)) => {
                return Err(not_capture("the file is shorter than a capture header"))
            }
            Err(_) => {
                let detail = match super::compressed::unsupported_hint(blocks.data()) {
                    Some(hint) => format!("unknown magic number{within}: {hint}"),
                    None => format!("unknown magic number{within}"),
                };
                return Err(not_capture(&detail));
            }
        }
    };
    let mut stats = ReadStats::default();
    let mut state = State::default();
    let mut header_done = false;
    loop {
        let corrupt = |stats: &ReadStats, detail: String| Error::Corrupt {
            path: name.to_path_buf(),
            offset: stats.bytes,
            detail,
        };
        let failure = |stats: &ReadStats, e: &std::io::Error| {
            corrupt(
                stats,
                match compression {
                    Some(c) => format!("{} data that cannot be decompressed: {e}", c.name()),
                    None => format!("read error: {e}"),
                },
            )
        };
        let data = &blocks.block[blocks.pos..];
        if data.is_empty() && blocks.eof {
            return match &blocks.failed {
                Some(e) => Err(failure(&stats, e)),
                None => Ok(stats),
            };
        }
        let parsed = match format {
            Format::Legacy(_) if !header_done => {
                pcap_parser::parse_pcap_header(data).map(|(rem, h)| (rem, PcapBlockOwned::from(h)))
            }
            Format::Legacy(parse) => parse(data).map(|(rem, b)| (rem, PcapBlockOwned::from(b))),
            Format::Ng { big_endian } => {
                let parse = if big_endian {
                    pcap_parser::pcapng::parse_block_be
                } else {
                    pcap_parser::pcapng::parse_block_le
                };
                parse(data).map(|(rem, b)| (rem, PcapBlockOwned::from(b)))
            }
        };
        match parsed {
            Ok((rem, block)) => {
                let consumed = data.len() - rem.len();
                if let PcapBlockOwned::NG(Block::SectionHeader(shb)) = &block {
                    format = Format::Ng {
                        big_endian: shb.big_endian(),
                    };
                }
                header_done = true;
                if let PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) = &block {
                    if let Some(text) = tls_key_log(dsb) {
                        on_tls_secrets(text);
                    }
                }
                state.handle(block, &blocks.block, &mut stats, on_packet, &corrupt)?;
                stats.bytes += consumed as u64;
                blocks.pos += consumed;
            }
            Err(pcap_parser::nom::Err::Incomplete(needed)) => {
                if blocks.eof {
                    return Err(match &blocks.failed {
                        Some(e) => failure(&stats, e),
                        None => corrupt(&stats, "truncated record".into()),
                    });
                }
                let more = match needed {
                    pcap_parser::nom::Needed::Size(n) => n.get(),
                    pcap_parser::nom::Needed::Unknown => 1,
                };
                let want = data.len().saturating_add(more);
                let mut capacity = blocks.block.capacity().max(BLOCK);
                if want >= capacity {
                    if capacity >= MAX_RECORD {
                        return Err(corrupt(
                            &stats,
                            format!("a record is larger than {MAX_RECORD} bytes"),
                        ));
                    }
                    capacity = (capacity * 4).min(MAX_RECORD);
                }
                if let Err(e) = blocks.refill(capacity, want) {
                    return Err(failure(&stats, &e));
                }
            }
            Err(_) => return Err(corrupt(&stats, "corrupt record".into())),
        }
    }
}

/// What the records read so far declared.
#[derive(Default)]
struct State {
    /// Classic pcap: the link type and whether timestamps are in nanoseconds.
    legacy: Option<(LinkType, bool)>,
    /// pcapng: the interfaces of the current section.
    interfaces: Vec<Interface>,
}

impl State {
    /// Take one record: remember what it declares, or hand its packet over.
    fn handle(
        &mut self,
        block: PcapBlockOwned<'_>,
        input: &InputBlock,
        stats: &mut ReadStats,
        on_packet: &mut dyn FnMut(&Packet<'_>, &InputBlock),
        corrupt: &dyn Fn(&ReadStats, String) -> Error,
    ) -> Result<(), Error> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                let nanos = matches!(h.magic_number, 0xa1b2_3c4d | 0x4d3c_b2a1);
                self.legacy = Some((LinkType(h.network.0 as u32), nanos));
            }
            PcapBlockOwned::Legacy(b) => {
                if let Some((link, nanos)) = self.legacy {
                    let frac = if nanos {
                        b.ts_usec
                    } else {
                        b.ts_usec.saturating_mul(1000)
                    };
                    stats.packets += 1;
                    let packet = Packet {
                        ts: Timestamp::new(i64::from(b.ts_sec), frac),
                        link,
                        data: b.data,
                        orig_len: b.origlen,
                    };
                    on_packet(&packet, input);
                }
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => self.interfaces.clear(),
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let Some(resolution) = ts_units_per_second(idb.if_tsresol) else {
                    return Err(corrupt(
                        stats,
                        format!(
                            "interface {} has an unusable timestamp resolution {:#04x}",
                            self.interfaces.len(),
                            idb.if_tsresol
                        ),
                    ));
                };
                self.interfaces.push(Interface {
                    link: LinkType(idb.linktype.0 as u32),
                    resolution,
                    offset_secs: idb.ts_offset(),
                })
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = usize::try_from(epb.if_id)
                    .ok()
                    .and_then(|i| self.interfaces.get(i))
                else {
                    return Err(corrupt(
                        stats,
                        format!(
                            "packet names interface {} that was never described",
                            epb.if_id
                        ),
                    ));
                };
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let caplen = (epb.caplen as usize).min(epb.data.len());
                stats.packets += 1;
                let packet = Packet {
                    ts: pcapng_time(raw, iface),
                    link: iface.link,
                    data: &epb.data[..caplen],
                    orig_len: epb.origlen,
                };
                on_packet(&packet, input);
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                if let Some(iface) = self.interfaces.first() {
                    stats.packets += 1;
                    let caplen = (spb.origlen as usize).min(spb.data.len());
                    let packet = Packet {
                        ts: Timestamp::default(),
                        link: iface.link,
                        data: &spb.data[..caplen],
                        orig_len: spb.origlen,
                    };
                    on_packet(&packet, input);
                }
            }
            PcapBlockOwned::NG(_) => {}
        }
        Ok(())
    }
}

/// The TLS key log a Decryption Secrets Block holds: its data cut to the
/// stated length, when its secrets type is `TLSK`.
fn tls_key_log<'a>(dsb: &pcap_parser::pcapng::DecryptionSecretsBlock<'a>) -> Option<&'a [u8]> {
    if dsb.secrets_type != pcap_parser::pcapng::SecretsType::TlsKeyLog {
        return None;
    }
    let len = usize::try_from(dsb.secrets_len).ok()?.min(dsb.data.len());
    Some(&dsb.data[..len])
}

/// Timestamp units per second for a pcapng `if_tsresol` value: 10^n, or
/// 2^n when the top bit is set. (pcap-parser 0.17 rejects every binary
/// resolution, so this is computed here.) `None` when it does not fit a u64.
fn ts_units_per_second(tsresol: u8) -> Option<u64> {
    let exp = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(exp).filter(|_| exp < 64)
    } else {
        10u64.checked_pow(exp)
    }
}

/// A pcapng timestamp in `iface`'s units, converted without overflow.
fn pcapng_time(raw: u64, iface: &Interface) -> Timestamp {
    let secs = raw / iface.resolution;
    let frac = raw % iface.resolution;
    let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(iface.resolution)) as u32;
    let secs = i64::try_from(secs)
        .unwrap_or(i64::MAX)
        .saturating_add(iface.offset_secs);
    Timestamp::new(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most a few bytes per call (1 to 37, in a
    /// fixed pseudo-random pattern), like a slow pipe.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.step = (self.step * 7 + 3) % 37;
            let n = (self.step + 1).min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every packet of `input` as (time, link, bytes, original length), and
    /// the outcome (stats, or the error's text).
    type Packets = Vec<(Timestamp, LinkType, Vec<u8>, u32)>;
    fn packets(input: impl Read) -> (Packets, Result<(u64, u64), String>) {
        let mut got = Vec::new();
        let result = read_stream(Path::new("x"), input, &mut |p, block| {
            let range = block.as_ptr_range();
            assert!(range.start <= p.data.as_ptr() && p.data.as_ptr_range().end <= range.end);
            got.push((p.ts, p.link, p.data.to_vec(), p.orig_len));
        });
        (
            got,
            result
                .map(|s| (s.packets, s.bytes))
                .map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn a_trickling_input_gives_the_same_packets_as_a_whole_one() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        for name in [
            "out_of_order.pcap",
            "big_endian.pcap",
            "big_endian_nanosecond.pcap",
            "pcapng_mixed.pcapng",
            "truncated.pcap",
        ] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let whole = packets(&bytes[..]);
            let trickled = packets(Trickle {
                data: &bytes,
                step: 0,
            });
            assert!(!whole.0.is_empty(), "{name}");
            assert_eq!(whole, trickled, "{name}");
        }
    }

    #[test]
    fn records_across_block_ends_are_read_whole() {
        // Records of 1000 bytes from offset 24: every block end cuts one.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        let n = 3 * BLOCK / 1016 + 5;
        for i in 0..n as u32 {
            bytes.extend_from_slice(&i.to_le_bytes());
            bytes.extend_from_slice(&0u32.to_le_bytes());
            bytes.extend_from_slice(&1000u32.to_le_bytes());
            bytes.extend_from_slice(&1000u32.to_le_bytes());
            bytes.extend(std::iter::repeat_n(i as u8, 1000));
        }
        let (got, outcome) = packets(&bytes[..]);
        assert_eq!(outcome, Ok((n as u64, bytes.len() as u64)));
        assert_eq!(got.len(), n);
        for (i, (ts, _, data, _)) in got.iter().enumerate() {
            assert_eq!(ts.secs, i as i64);
            assert_eq!(data, &vec![i as u8; 1000]);
        }
    }

    #[test]
    fn decimal_and_binary_timestamp_resolutions() {
        assert_eq!(ts_units_per_second(6), Some(1_000_000));
        assert_eq!(ts_units_per_second(9), Some(1_000_000_000));
        assert_eq!(ts_units_per_second(0x80 | 20), Some(1 << 20));
        assert_eq!(ts_units_per_second(0x80 | 64), None);
        assert_eq!(ts_units_per_second(20), None);
    }

    #[test]
    fn binary_units_become_nanoseconds() {
        let iface = Interface {
            link: LinkType::ETHERNET,
            resolution: 1 << 20,
            offset_secs: 0,
        };
        let ts = pcapng_time((5u64 << 20) | (1 << 19), &iface);
        assert_eq!(ts, Timestamp::new(5, 500_000_000));
    }
}
