//! tcpflow's `-I`: beside each flow file `NAME`, a text file `NAME.findx`
//! saying when each of its bytes arrived, in tcpflow's format: one line per
//! segment that carried payload, in the order they arrived,
//!
//! ```text
//! byte-index|timestamp|length
//! 20|1700000000.003000|6
//! ```
//!
//! the segment's offset in the flow file, its capture time in seconds with
//! six decimals, and the number of its bytes the file holds (with `-b`, what
//! is left under the limit, 0 past it, as tcpflow writes it). Out of order,
//! retransmitted and overlapping segments each get their line; a keepalive
//! probe's byte and bytes from before the stream's start do not.
//!
//! Owns: the index lines of each direction, a consumer ([`Indexed`]) in
//! front of [`FlowFiles`] that is told where each segment was placed
//! ([`StreamConsumer::placed`]). Lines are kept until the flow file has a
//! name (the index of a direction whose first segments came out of order
//! cannot be written earlier), then appended whenever the flow file is
//! flushed; what they hold counts against the flow table's budget for
//! collected bytes like the flow file's own run. Must not: decide where
//! segments go (the flow table does) or write the flow files.

use super::flow_files::{FileStream, FlowFiles};
use super::report::DirectionRecord;
use crate::capture::Timestamp;
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, Placed, StreamConsumer};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Flow files with a `.findx` index beside each.
pub struct Indexed {
    files: FlowFiles,
    outdir: PathBuf,
    max_bytes: Option<u64>,
}

/// One segment's line, kept until it can be written.
#[derive(Debug, Clone, Copy)]
struct Line {
    offset: u64,
    ts: Timestamp,
    len: u32,
}

/// What [`Indexed`] keeps for one direction.
#[derive(Default)]
pub struct IndexedStream {
    files: FileStream,
    lines: Vec<Line>,
    /// The index file was created (later lines are appended).
    started: bool,
}

impl Indexed {
    /// Index `files`, which writes into `outdir` and keeps at most
    /// `max_bytes` per direction.
    pub fn new(files: FlowFiles, outdir: &Path, max_bytes: Option<u64>) -> Indexed {
        Indexed {
            files,
            outdir: outdir.to_path_buf(),
            max_bytes,
        }
    }

    /// Write the lines kept for the direction whose flow file is `name`.
    fn write(&self, s: &mut IndexedStream, name: &str) -> Result<(), Error> {
        if s.lines.is_empty() {
            return Ok(());
        }
        let path = self.outdir.join(format!("{name}.findx"));
        let mut text = Vec::with_capacity(s.lines.len() * 32);
        for l in &s.lines {
            let len = match self.max_bytes {
                Some(max) => (l.offset + u64::from(l.len))
                    .min(max)
                    .saturating_sub(l.offset),
                None => u64::from(l.len),
            };
            // Writing to a Vec cannot fail.
            let _ = writeln!(
                text,
                "{}|{}.{:06}|{len}",
                l.offset,
                l.ts.secs,
                l.ts.nanos / 1000
            );
        }
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(s.started)
            .write(true)
            .truncate(!s.started)
            .open(&path)
            .and_then(|mut f| f.write_all(&text));
        written.map_err(|source| Error::Write { path, source })?;
        s.started = true;
        s.lines = Vec::new();
        Ok(())
    }

    /// Write the kept lines if the flow file has a name by now.
    fn write_if_named(&self, s: &mut IndexedStream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        if s.lines.is_empty() {
            return Ok(());
        }
        match self.files.file_name(&s.files, info) {
            Some(name) => self.write(s, &name),
            None => Ok(()),
        }
    }
}

impl StreamConsumer for Indexed {
    type Stream = IndexedStream;

    fn piece(
        &mut self,
        s: &mut IndexedStream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        self.files.piece(&mut s.files, info, piece)
    }

    fn held(&self, s: &IndexedStream) -> usize {
        self.files.held(&s.files) + s.lines.capacity() * std::mem::size_of::<Line>()
    }

    fn flush(&mut self, s: &mut IndexedStream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.files.flush(&mut s.files, info)?;
        self.write_if_named(s, info)
    }

    fn settle(&mut self, s: &mut IndexedStream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.files.settle(&mut s.files, info)?;
        self.write_if_named(s, info)
    }

    fn close(
        &mut self,
        mut s: IndexedStream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let files = std::mem::take(&mut s.files);
        let record = self.files.close(files, info, end)?;
        if let Some(r) = &record {
            self.write(&mut s, &r.file)?;
        }
        Ok(record)
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.files.flush_all()
    }

    fn placed(
        &mut self,
        s: &mut IndexedStream,
        _info: &DirectionInfo<'_>,
        at: &Placed,
    ) -> Result<(), Error> {
        s.lines.push(Line {
            offset: at.offset,
            ts: at.ts,
            len: u32::try_from(at.len).unwrap_or(u32::MAX),
        });
        Ok(())
    }

    fn rebased(&mut self, s: &mut IndexedStream, _info: &DirectionInfo<'_>, by: u64) {
        for l in &mut s.lines {
            l.offset += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TEMPLATE;
    use crate::output::{FileSink, Naming, Template};

    fn indexed(dir: &Path, max_bytes: Option<u64>) -> Indexed {
        let naming = Naming {
            template: Template::parse(DEFAULT_TEMPLATE).unwrap(),
            events: None,
            open_alert: None,
        };
        let files = FlowFiles::new(FileSink::new(dir, 4).unwrap(), naming, max_bytes);
        Indexed::new(files, dir, max_bytes)
    }

    fn info() -> DirectionInfo<'static> {
        crate::flow::consumer::fixtures::direction(40000, 1)
    }

    fn end() -> DirectionEnd {
        crate::flow::consumer::fixtures::fin_end(3, Vec::new())
    }

    const NAME: &str = "010.000.000.001.40000-010.000.000.002.00080";

    fn at(offset: u64, ts: Timestamp, len: usize) -> Placed {
        Placed {
            offset,
            len,
            ts,
            packet: 1,
        }
    }

    #[test]
    fn lines_in_arrival_order_beside_the_flow_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = indexed(dir.path(), None);
        let (mut s, info) = (IndexedStream::default(), info());
        let t = |us: u32| Timestamp::new(1_700_000_000, us * 1000);
        c.placed(&mut s, &info, &at(4, t(3), 2)).unwrap();
        c.placed(&mut s, &info, &at(0, t(5), 4)).unwrap();
        c.piece(&mut s, &info, Piece::Data(b"abcdef")).unwrap();
        let record = c.close(s, &info, &end()).unwrap().unwrap();
        assert_eq!(record.file, NAME);
        let text = std::fs::read_to_string(dir.path().join(format!("{NAME}.findx"))).unwrap();
        assert_eq!(text, "4|1700000000.000003|2\n0|1700000000.000005|4\n");
    }

    #[test]
    fn lengths_are_cut_by_max_bytes_and_offsets_follow_a_rebase() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = indexed(dir.path(), Some(5));
        let (mut s, info) = (IndexedStream::default(), info());
        let t = Timestamp::new(7, 0);
        c.placed(&mut s, &info, &at(0, t, 4)).unwrap();
        // The stream turned out to start 2 bytes earlier.
        c.rebased(&mut s, &info, 2);
        c.placed(&mut s, &info, &at(0, t, 2)).unwrap();
        c.placed(&mut s, &info, &at(6, t, 3)).unwrap();
        c.piece(&mut s, &info, Piece::Data(b"xyabcd")).unwrap();
        c.close(s, &info, &end()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(format!("{NAME}.findx"))).unwrap();
        assert_eq!(text, "2|7.000000|3\n0|7.000000|2\n6|7.000000|0\n");
    }

    #[test]
    fn a_direction_without_a_flow_file_has_no_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = indexed(dir.path(), None);
        let (mut s, info) = (IndexedStream::default(), info());
        c.placed(&mut s, &info, &at(0, Timestamp::default(), 1))
            .unwrap();
        c.flush(&mut s, &info).unwrap();
        assert!(c.close(s, &info, &end()).unwrap().is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
