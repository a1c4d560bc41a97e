//! Reading capture files: classic pcap (both byte orders, micro- and
//! nanosecond timestamps) and pcapng (several sections, interfaces with
//! different link types and timestamp resolutions).
//!
//! Files are parsed with the `pcap-parser` crate rather than libpcap because
//! libpcap refuses pcapng files whose interfaces have different link types,
//! which flowsplit must read; libpcap is still used for BPF filters and live
//! capture. Reading is streaming: memory is bounded by the largest record,
//! never by the file's size.

use super::{LinkType, Packet, Timestamp};
use crate::error::Error;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::path::Path;

/// The reader's starting buffer; it grows for larger records up to [`MAX_RECORD`].
const INITIAL_BUFFER: usize = 1 << 18;

/// The largest record accepted; a record claiming more is reported as corrupt.
pub const MAX_RECORD: usize = 16 << 20;

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
pub fn read_path(path: &Path, on_packet: &mut dyn FnMut(&Packet<'_>)) -> Result<ReadStats, Error> {
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

/// Read a capture from any byte stream (`name` is used in messages only).
pub fn read_stream(
    name: &Path,
    input: impl Read + Send,
    on_packet: &mut dyn FnMut(&Packet<'_>),
) -> Result<ReadStats, Error> {
    let not_capture = |detail: &str| Error::NotACapture {
        path: name.to_path_buf(),
        detail: detail.to_string(),
    };
    let mut reader = match pcap_parser::create_reader(INITIAL_BUFFER, input) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err(not_capture("the file is empty")),
        Err(PcapError::ReadError) => {
            return Err(Error::Open {
                path: name.to_path_buf(),
                source: std::io::Error::other("read failed"),
            })
        }
        Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
            return Err(not_capture("the file is shorter than a capture header"))
        }
        Err(_) => return Err(not_capture("unknown magic number")),
    };
    let mut stats = ReadStats::default();
    let mut legacy: Option<(LinkType, bool)> = None;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut capacity = INITIAL_BUFFER;
    loop {
        let corrupt = |stats: &ReadStats, detail: String| Error::Corrupt {
            path: name.to_path_buf(),
            offset: stats.bytes,
            detail,
        };
        match reader.next() {
            Ok((consumed, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        let nanos = matches!(h.magic_number, 0xa1b2_3c4d | 0x4d3c_b2a1);
                        legacy = Some((LinkType(h.network.0 as u32), nanos));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        if let Some((link, nanos)) = legacy {
                            let frac = if nanos {
                                b.ts_usec
                            } else {
                                b.ts_usec.saturating_mul(1000)
                            };
                            stats.packets += 1;
                            on_packet(&Packet {
                                ts: Timestamp::new(i64::from(b.ts_sec), frac),
                                link,
                                data: b.data,
                                orig_len: b.origlen,
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => interfaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            link: LinkType(idb.linktype.0 as u32),
                            resolution: match ts_units_per_second(idb.if_tsresol) {
                                Some(r) => r,
                                None => {
                                    let err = corrupt(
                                        &stats,
                                        format!(
                                            "interface {} has an unusable timestamp resolution {:#04x}",
                                            interfaces.len(),
                                            idb.if_tsresol
                                        ),
                                    );
                                    return Err(err);
                                }
                            },
                            offset_secs: idb.ts_offset(),
                        })
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let Some(iface) = usize::try_from(epb.if_id)
                            .ok()
                            .and_then(|i| interfaces.get(i))
                        else {
                            let err = corrupt(
                                &stats,
                                format!(
                                    "packet names interface {} that was never described",
                                    epb.if_id
                                ),
                            );
                            return Err(err);
                        };
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ts = pcapng_time(raw, iface);
                        let caplen = (epb.caplen as usize).min(epb.data.len());
                        stats.packets += 1;
                        on_packet(&Packet {
                            ts,
                            link: iface.link,
                            data: &epb.data[..caplen],
                            orig_len: epb.origlen,
                        });
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        if let Some(iface) = interfaces.first() {
                            stats.packets += 1;
                            let caplen = (spb.origlen as usize).min(spb.data.len());
                            on_packet(&Packet {
                                ts: Timestamp::default(),
                                link: iface.link,
                                data: &spb.data[..caplen],
                                orig_len: spb.origlen,
                            });
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                stats.bytes += consumed as u64;
                reader.consume(consumed);
            }
            Err(PcapError::Eof) => return Ok(stats),
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    return Err(corrupt(&stats, "read error".into()));
                }
            }
            Err(PcapError::BufferTooSmall) => {
                if capacity >= MAX_RECORD {
                    return Err(corrupt(
                        &stats,
                        format!("a record is larger than {MAX_RECORD} bytes"),
                    ));
                }
                capacity = (capacity * 4).min(MAX_RECORD);
                if !reader.grow(capacity) {
                    return Err(corrupt(&stats, "cannot grow the read buffer".into()));
                }
                if reader.refill().is_err() {
                    return Err(corrupt(&stats, "read error".into()));
                }
            }
            Err(PcapError::UnexpectedEof) => {
                return Err(corrupt(&stats, "truncated record".into()))
            }
            Err(PcapError::ReadError) => return Err(corrupt(&stats, "read error".into())),
            Err(_) => return Err(corrupt(&stats, "corrupt record".into())),
        }
    }
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
