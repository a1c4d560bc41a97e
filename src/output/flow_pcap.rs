//! tcpflow's `-K`: beside each flow file `NAME`, `NAME.pcap` with the
//! direction's own packets, every one the flow table gave the direction
//! (the handshake, pure acknowledgements, retransmissions, the FIN), whole
//! and as captured, in the order they arrived. A direction that carried no
//! payload, and so has no flow file, still gets its pcap file, as in
//! tcpflow.
//!
//! The files are in libpcap's savefile format (`pcap-savefile(5)`:
//! little-endian, microsecond timestamps as tcpflow writes them, snap
//! length 262144), with the link type of the direction's first packet. A
//! packet of another link type (only possible when a connection crosses
//! the interfaces of a pcapng file) cannot go into that file and is left
//! out. They are written here, not through libpcap's dumper: the file of a
//! long direction is appended to as the flow file is, which the dumper
//! cannot do through a descriptor, and the `pcap` crate's path API only
//! takes UTF-8 paths.
//!
//! Owns: each direction's packet records, kept until they are written,
//! which is whenever the flow table flushes the direction (its budget for
//! collected bytes counts them) and when it settles or closes. The name is
//! the template's with the connection's counter, the flow file's. Must
//! not: write the flow files (the consumer it wraps does).

use super::report::DirectionRecord;
use super::tally::Naming;
use crate::capture::{LinkType, Timestamp};
use crate::decode::Frame;
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, Placed, StreamConsumer};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Records a direction keeps before they are written even without a flush.
const WRITE_AT: usize = 64 << 10;

/// The snap length written in each file's header.
const SNAPLEN: u32 = 262_144;

/// A consumer `C` with each direction's packets also written as a pcap file.
pub struct FlowPcaps<C> {
    inner: C,
    outdir: PathBuf,
    naming: Naming,
}

/// What [`FlowPcaps`] keeps for one direction.
#[derive(Default)]
pub struct PcapStream<S> {
    inner: S,
    /// The file's link type (the first packet's).
    link: Option<LinkType>,
    /// Packet records not written yet.
    records: Vec<u8>,
    /// The file was created (later records are appended).
    started: bool,
}

impl<C> FlowPcaps<C> {
    /// Write `inner`'s directions' packets into `outdir`, named by `naming`.
    pub fn new(inner: C, outdir: &Path, naming: Naming) -> FlowPcaps<C> {
        FlowPcaps {
            inner,
            outdir: outdir.to_path_buf(),
            naming,
        }
    }

    /// Write the records kept for the direction `info`.
    fn write<S>(&self, s: &mut PcapStream<S>, info: &DirectionInfo<'_>) -> Result<(), Error> {
        let Some(link) = s.link else {
            return Ok(());
        };
        if s.records.is_empty() && s.started {
            return Ok(());
        }
        let name = self.naming.name(info, info.counter);
        let path = self.outdir.join(format!("{name}.pcap"));
        let fail = |source| Error::Write {
            path: path.clone(),
            source,
        };
        let mut header = Vec::new();
        if !s.started {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(fail)?;
            }
            header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
            header.extend_from_slice(&2u16.to_le_bytes());
            header.extend_from_slice(&4u16.to_le_bytes());
            header.extend_from_slice(&[0; 8]);
            header.extend_from_slice(&SNAPLEN.to_le_bytes());
            header.extend_from_slice(&link.0.to_le_bytes());
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(s.started)
            .write(true)
            .truncate(!s.started)
            .open(&path)
            .map_err(fail)?;
        file.write_all(&header)
            .and_then(|()| file.write_all(&s.records))
            .map_err(fail)?;
        s.started = true;
        s.records = Vec::new();
        Ok(())
    }
}

impl<C: StreamConsumer> StreamConsumer for FlowPcaps<C> {
    type Stream = PcapStream<C::Stream>;

    fn piece(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        self.inner.piece(&mut s.inner, info, piece)
    }

    fn held(&self, s: &Self::Stream) -> usize {
        self.inner.held(&s.inner) + s.records.capacity()
    }

    fn flush(&mut self, s: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.inner.flush(&mut s.inner, info)?;
        self.write(s, info)
    }

    fn settle(&mut self, s: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.inner.settle(&mut s.inner, info)?;
        self.write(s, info)
    }

    fn close(
        &mut self,
        mut s: Self::Stream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let inner = std::mem::take(&mut s.inner);
        let record = self.inner.close(inner, info, end);
        let written = self.write(&mut s, info);
        let record = record?;
        written?;
        Ok(record)
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.inner.flush_all()
    }

    fn placed(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        at: &Placed,
    ) -> Result<(), Error> {
        self.inner.placed(&mut s.inner, info, at)
    }

    fn rebased(&mut self, s: &mut Self::Stream, info: &DirectionInfo<'_>, by: u64) {
        self.inner.rebased(&mut s.inner, info, by);
    }

    fn packet(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        ts: Timestamp,
        frame: &Frame<'_>,
    ) -> Result<(), Error> {
        self.inner.packet(&mut s.inner, info, ts, frame)?;
        if *s.link.get_or_insert(frame.link) != frame.link {
            return Ok(());
        }
        let caplen = u32::try_from(frame.data.len()).unwrap_or(u32::MAX);
        let r = &mut s.records;
        // The classic format's seconds are 32 bits, as tcpflow writes them.
        r.extend_from_slice(&(ts.secs as u32).to_le_bytes());
        r.extend_from_slice(&(ts.nanos / 1000).to_le_bytes());
        r.extend_from_slice(&caplen.to_le_bytes());
        r.extend_from_slice(&frame.wire_len.max(caplen).to_le_bytes());
        r.extend_from_slice(&frame.data);
        if s.records.len() >= WRITE_AT {
            self.write(s, info)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TEMPLATE;
    use crate::flow::consumer::Recorder;
    use crate::output::Template;
    use std::borrow::Cow;

    fn info() -> DirectionInfo<'static> {
        crate::flow::consumer::fixtures::direction(40000, 1)
    }

    fn frame(link: u32, data: &[u8]) -> Frame<'_> {
        Frame {
            link: LinkType(link),
            data: Cow::Borrowed(data),
            wire_len: data.len() as u32 + 2,
        }
    }

    #[test]
    fn packets_of_the_first_link_type_in_a_pcap_file_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let naming = Naming {
            template: Template::parse(DEFAULT_TEMPLATE).unwrap(),
            events: None,
            open_alert: None,
        };
        let mut c = FlowPcaps::new(Recorder::default(), dir.path(), naming);
        let (mut s, info) = (PcapStream::default(), info());
        c.packet(&mut s, &info, Timestamp::new(5, 7_000), &frame(1, b"ab"))
            .unwrap();
        c.flush(&mut s, &info).unwrap();
        // Another link type cannot go into the file.
        c.packet(&mut s, &info, Timestamp::new(6, 0), &frame(113, b"zz"))
            .unwrap();
        c.packet(&mut s, &info, Timestamp::new(6, 0), &frame(1, b"c"))
            .unwrap();
        let end = crate::flow::consumer::fixtures::fin_end(2, Vec::new());
        c.close(s, &info, &end).unwrap();
        let name = "010.000.000.001.40000-010.000.000.002.00080.pcap";
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        let mut want = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&SNAPLEN.to_le_bytes());
        want.extend_from_slice(&1u32.to_le_bytes());
        for (secs, usecs, data) in [(5u32, 7u32, &b"ab"[..]), (6, 0, b"c")] {
            want.extend_from_slice(&secs.to_le_bytes());
            want.extend_from_slice(&usecs.to_le_bytes());
            want.extend_from_slice(&(data.len() as u32).to_le_bytes());
            want.extend_from_slice(&(data.len() as u32 + 2).to_le_bytes());
            want.extend_from_slice(data);
        }
        assert_eq!(bytes, want);
    }
}
