//! tcpflow's `-w FILE`: the packets that were not processed written to a
//! pcap file (libpcap's savefile, through the `pcap` crate) as they were
//! captured: IP datagrams that carry no TCP segment and frames the decoder
//! rejected (malformed headers, link types it cannot read). As in tcpflow,
//! frames that are not IP (ARP, LLDP) are not written, and a fragment held
//! for reassembly is being processed and is not written either.
//!
//! Owns: the savefile and its one link type. The file is opened at the
//! first packet read (any packet, so its link type is the capture's, as
//! tcpflow's is), or at the end with Ethernet's when no packet came, so it
//! always exists. A pcap file has one link type: a packet of another one
//! (a pcapng input mixing link types, a second input) is not written but
//! counted, and [`Unprocessed::finish`] says how many. Timestamps are
//! written in microseconds, as tcpflow writes them. Must not: decide which
//! packets are unprocessed (the pipeline does).

use crate::capture::{LinkType, Packet};
use crate::error::Error;
use std::os::fd::IntoRawFd;
use std::path::{Path, PathBuf};

/// The `-w` savefile.
pub struct Unprocessed {
    path: PathBuf,
    file: Option<(LinkType, pcap::Savefile)>,
    /// Packets left out because their link type differs from the file's.
    other_link: u64,
}

impl Unprocessed {
    /// A savefile at `path`, created at the first packet.
    pub fn new(path: &Path) -> Unprocessed {
        Unprocessed {
            path: path.to_path_buf(),
            file: None,
            other_link: 0,
        }
    }

    /// A packet was read: the file is opened now with its link type if it
    /// is not open yet.
    pub fn seen(&mut self, link: LinkType) -> Result<(), Error> {
        if self.file.is_none() {
            let savefile = self.open(link)?;
            self.file = Some((link, savefile));
        }
        Ok(())
    }

    /// Write `pkt`, which was not processed.
    pub fn write(&mut self, pkt: &Packet<'_>) -> Result<(), Error> {
        self.seen(pkt.link)?;
        match &mut self.file {
            Some((link, savefile)) if *link == pkt.link => {
                let header = pcap::PacketHeader {
                    ts: libc::timeval {
                        tv_sec: pkt.ts.secs as libc::time_t,
                        tv_usec: (pkt.ts.nanos / 1000) as libc::suseconds_t,
                    },
                    caplen: u32::try_from(pkt.data.len()).unwrap_or(u32::MAX),
                    len: pkt.orig_len.max(pkt.data.len() as u32),
                };
                savefile.write(&pcap::Packet::new(&header, pkt.data));
            }
            _ => self.other_link += 1,
        }
        Ok(())
    }

    /// Flush and close the file (created now if no packet came). An error
    /// when it could not be written, or when packets were left out for
    /// their link type.
    pub fn finish(mut self) -> Result<(), Error> {
        self.seen(LinkType::ETHERNET)?;
        let link = self.file.as_ref().map_or(LinkType::ETHERNET, |f| f.0);
        if let Some((_, mut savefile)) = self.file.take() {
            savefile.flush().map_err(|e| self.error(e.to_string()))?;
        }
        if self.other_link > 0 {
            return Err(self.error(format!(
                "{} packets not written: their link type is not the file's ({link})",
                self.other_link
            )));
        }
        Ok(())
    }

    fn open(&self, link: LinkType) -> Result<pcap::Savefile, Error> {
        let file = std::fs::File::create(&self.path).map_err(|source| Error::Write {
            path: self.path.clone(),
            source,
        })?;
        let linktype = pcap::Linktype(i32::try_from(link.0).unwrap_or(i32::MAX));
        let dead = pcap::Capture::dead(linktype).map_err(|e| self.error(e.to_string()))?;
        // SAFETY: the descriptor is open for writing and handed over:
        // libpcap owns it from here and closes it with the savefile.
        unsafe { dead.savefile_raw_fd(file.into_raw_fd()) }.map_err(|e| self.error(e.to_string()))
    }

    fn error(&self, detail: String) -> Error {
        Error::Write {
            path: self.path.clone(),
            source: std::io::Error::other(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    fn packet(link: u32, data: &[u8]) -> Packet<'_> {
        Packet {
            ts: Timestamp::new(1, 2_500),
            link: LinkType(link),
            data,
            orig_len: data.len() as u32,
        }
    }

    #[test]
    fn packets_of_another_link_type_are_counted_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rest.pcap");
        let mut w = Unprocessed::new(&path);
        w.write(&packet(1, b"abc")).unwrap();
        w.write(&packet(113, b"zz")).unwrap();
        let e = w.finish().unwrap_err().to_string();
        assert!(e.contains("1 packets not written"), "{e}");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[20..24], &1u32.to_le_bytes());
        // One record: 16 bytes of header (1 s, 2 µs, 3, 3) and the bytes.
        assert_eq!(bytes.len(), 24 + 16 + 3);
        assert_eq!(&bytes[24..28], &1u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &2u32.to_le_bytes());
        assert_eq!(&bytes[40..], b"abc");
    }

    #[test]
    fn the_file_exists_without_packets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rest.pcap");
        Unprocessed::new(&path).finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 24);
    }
}
