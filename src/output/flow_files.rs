//! The flow-file consumer: each direction's stream into its own file, named
//! by the template, with the byte count, sha256 and report record.
//!
//! Owns: when a direction's bytes are written. Small directions are
//! collected into runs of [`RUN_BYTES`] so most flow files are written with
//! one system call; a finished connection's files are written out and give
//! their descriptor back at once. Run buffers are lent from a small pool of
//! spares ([`SPARE_RUNS`]) and given back when written, so a bulk direction
//! keeps no buffer of its own between runs; what directions hold is
//! reported through [`StreamConsumer::held`] (capacity, not length) and
//! bounded by the flow table's budget for collected bytes. Must not: decide what the bytes are (the
//! flow table does) or manage descriptors (the [`FileSink`] does).

use super::files::{FileId, FileSink};
use super::kept::KeepBudget;
use super::report::DirectionRecord;
use super::tally::{Naming, Tally};
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, StreamConsumer};
use std::sync::Arc;

/// A direction's bytes are collected into runs of this size before they
/// are written, so most flow files are written with one system call.
pub const RUN_BYTES: usize = 64 << 10;

/// Run buffers kept for reuse per table: bulk directions take one when they
/// collect again instead of growing a new one.
pub const SPARE_RUNS: usize = 8;

/// Writes every direction of a flow table to its own file.
pub struct FlowFiles {
    sink: FileSink,
    naming: Naming,
    max_bytes: Option<u64>,
    /// Also hash every direction with MD5.
    md5: bool,
    /// Empty run buffers of at least [`RUN_BYTES`], for the next bulk run.
    spare: Vec<Vec<u8>>,
    /// Where a direction written with one write at close keeps its bytes
    /// for the next stage, when one reads them (see [`super::kept`]).
    keep: Option<Arc<KeepBudget>>,
}

/// What [`FlowFiles`] keeps for one direction (every open direction keeps
/// one: 168 bytes, pinned by a test).
#[derive(Default)]
pub struct FileStream {
    /// The file, once created.
    file: Option<FileId>,
    /// The counter the file's name was rendered with (the name is
    /// rendered again when needed, not kept); kept apart from `file` so
    /// that it takes no padded word of its own.
    counter: u32,
    /// Bytes taken but not yet written.
    run: Vec<u8>,
    tally: Tally,
}

impl FlowFiles {
    /// Files in `sink`'s folder, named by `naming`, each holding at most
    /// `max_bytes` (`-b`).
    pub fn new(sink: FileSink, naming: Naming, max_bytes: Option<u64>) -> FlowFiles {
        FlowFiles {
            sink,
            naming,
            max_bytes,
            md5: false,
            spare: Vec::new(),
            keep: None,
        }
    }

    /// Keep the bytes of each direction written whole at close in
    /// `budget`, as far as it has room, on the direction's record
    /// ([`DirectionRecord::kept`]).
    pub fn keeping(mut self, budget: Option<Arc<KeepBudget>>) -> FlowFiles {
        self.keep = budget;
        self
    }

    /// Also hash every direction with MD5 (`-F M`, `-e md5`) when `on`.
    pub fn with_md5(mut self, on: bool) -> FlowFiles {
        self.md5 = on;
        self
    }

    /// Write the collected run (creating the file first if needed) and let
    /// its buffer go: an idle direction costs nothing.
    fn flush_run(&mut self, s: &mut FileStream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        if !s.run.is_empty() {
            let (id, counter) = self.file_id(s, info)?;
            let naming = &self.naming;
            self.sink
                .write(id, &|| naming.name(info, counter), &s.run)?;
        }
        let mut buffer = std::mem::take(&mut s.run);
        if buffer.capacity() >= RUN_BYTES && self.spare.len() < SPARE_RUNS {
            buffer.clear();
            self.spare.push(buffer);
        }
        Ok(())
    }

    /// The direction's file, created (named and opened) on first need.
    fn file_id(
        &mut self,
        s: &mut FileStream,
        info: &DirectionInfo<'_>,
    ) -> Result<(FileId, u32), Error> {
        if let Some(id) = s.file {
            return Ok((id, s.counter));
        }
        let naming = &self.naming;
        let (id, name, counter) = self.sink.create(info.counter, &|c| naming.name(info, c))?;
        naming.opened(&name, info);
        s.file = Some(id);
        s.counter = counter;
        Ok((id, counter))
    }

    /// The name of the direction's file (relative to the output folder),
    /// once it has been created.
    pub fn file_name(&self, s: &FileStream, info: &DirectionInfo<'_>) -> Option<String> {
        s.file.map(|_| self.naming.name(info, s.counter))
    }

    /// Append `data` to the direction's file (created first if needed).
    fn write(
        &mut self,
        s: &mut FileStream,
        info: &DirectionInfo<'_>,
        data: &[u8],
    ) -> Result<(), Error> {
        let (id, counter) = self.file_id(s, info)?;
        let naming = &self.naming;
        self.sink.write(id, &|| naming.name(info, counter), data)
    }
}

impl StreamConsumer for FlowFiles {
    type Stream = FileStream;

    fn piece(
        &mut self,
        s: &mut FileStream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        let Some(piece) = s.tally.take(piece, self.max_bytes, self.md5) else {
            return Ok(());
        };
        let len = match piece {
            Piece::Data(d) => {
                if s.run.is_empty() && d.len() >= RUN_BYTES {
                    self.write(s, info, d)?;
                } else {
                    if s.run.capacity() == 0 && s.tally.written() > RUN_BYTES as u64 {
                        // Bulk again after a pause: take a whole run's buffer at once.
                        // (A fresh direction's run starts at its first segment's
                        // size: a million open connections must not take a page each.)
                        s.run = match self.spare.pop() {
                            Some(buffer) => buffer,
                            None => Vec::with_capacity(RUN_BYTES + d.len()),
                        };
                    }
                    s.run.extend_from_slice(d);
                }
                d.len() as u64
            }
            Piece::Gap(n) => {
                if n < RUN_BYTES as u64 {
                    s.run.resize(s.run.len() + n as usize, 0);
                } else {
                    self.flush_run(s, info)?;
                    let (id, counter) = self.file_id(s, info)?;
                    let naming = &self.naming;
                    self.sink
                        .write_zeros(id, &|| naming.name(info, counter), n)?;
                }
                n
            }
            // Not filled: nothing goes into the file.
            Piece::Jump(_) => 0,
        };
        s.tally.count(len);
        if s.run.len() >= RUN_BYTES {
            // A bulk direction: write the run and keep its buffer for the
            // next one (the table's budget for collected bytes takes it back
            // when too many directions hold one).
            let run = std::mem::take(&mut s.run);
            let written = self.write(s, info, &run);
            s.run = run;
            written?;
            s.run.clear();
        }
        Ok(())
    }

    fn held(&self, s: &FileStream) -> usize {
        s.run.capacity()
    }

    fn flush(&mut self, s: &mut FileStream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.flush_run(s, info)
    }

    fn settle(&mut self, s: &mut FileStream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.flush_run(s, info)?;
        if let Some(id) = s.file {
            self.sink.release(id, info.first_ts);
        }
        Ok(())
    }

    fn close(
        &mut self,
        mut s: FileStream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let mut kept = None;
        if self.keep.is_some() && s.file.is_none() && !s.run.is_empty() {
            // Nothing written yet: the run is the whole file.
            let run = std::mem::take(&mut s.run);
            self.write(&mut s, info, &run)?;
            kept = self.keep.as_ref().and_then(|b| b.keep(run)).map(Arc::new);
        }
        self.flush_run(&mut s, info)?;
        let Some(id) = s.file.take() else {
            return Ok(None);
        };
        let counter = s.counter;
        let name = self.naming.name(info, counter);
        self.sink.close(id, &|| name.clone(), info.first_ts)?;
        let mut record = s.tally.record(name, info, end);
        record.kept = kept;
        Ok(Some(record))
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.sink.flush_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TEMPLATE;
    use crate::flow::consumer::fixtures;
    use crate::output::kept::KeepBudget;
    use crate::output::Template;

    fn files(dir: &std::path::Path, keep: Option<Arc<KeepBudget>>) -> FlowFiles {
        let naming = Naming {
            template: Template::parse(DEFAULT_TEMPLATE).unwrap(),
            events: None,
            open_alert: None,
        };
        FlowFiles::new(FileSink::new(dir, 4).unwrap(), naming, None).keeping(keep)
    }

    /// Write `pieces` to one direction, flushing after the first when
    /// `flush_first`, and close it.
    fn direction(c: &mut FlowFiles, pieces: &[Piece<'_>], flush_first: bool) -> DirectionRecord {
        let info = fixtures::direction(40000, 1);
        let mut s = FileStream::default();
        for (i, p) in pieces.iter().enumerate() {
            c.piece(&mut s, &info, *p).unwrap();
            if i == 0 && flush_first {
                c.flush(&mut s, &info).unwrap();
            }
        }
        c.close(s, &info, &fixtures::fin_end(3, Vec::new()))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_direction_written_whole_at_close_keeps_exactly_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let budget = KeepBudget::new(1 << 20);
        let mut c = files(dir.path(), Some(budget.clone()));
        let record = direction(&mut c, &[Piece::Data(b"GET / "), Piece::Gap(3)], false);
        let file = std::fs::read(dir.path().join(&record.file)).unwrap();
        assert_eq!(file, b"GET / \0\0\0");
        let kept = record.kept.as_ref().expect("kept");
        assert_eq!(kept.bytes(), &file[..]);
        assert!(budget.held() >= file.len());
        drop(record);
        assert_eq!(budget.held(), 0, "given back when the record goes");
    }

    #[test]
    fn nothing_is_kept_without_a_budget_with_room_or_once_written_before_close() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = files(dir.path(), None);
        assert!(direction(&mut plain, &[Piece::Data(b"one")], false)
            .kept
            .is_none());

        let dir = tempfile::tempdir().unwrap();
        let mut small = files(dir.path(), Some(KeepBudget::new(2)));
        assert!(direction(&mut small, &[Piece::Data(b"two")], false)
            .kept
            .is_none());

        let dir = tempfile::tempdir().unwrap();
        let mut c = files(dir.path(), Some(KeepBudget::new(1 << 20)));
        let r = direction(&mut c, &[Piece::Data(b"abc"), Piece::Data(b"def")], true);
        assert!(r.kept.is_none(), "part of the file was written earlier");
        assert_eq!(std::fs::read(dir.path().join(&r.file)).unwrap(), b"abcdef");

        let dir = tempfile::tempdir().unwrap();
        let mut c = files(dir.path(), Some(KeepBudget::new(1 << 20)));
        let bulk = vec![7u8; RUN_BYTES + 1];
        let r = direction(&mut c, &[Piece::Data(&bulk)], false);
        assert!(r.kept.is_none(), "a bulk write goes straight to the file");
        assert_eq!(std::fs::read(dir.path().join(&r.file)).unwrap(), bulk);
    }
}
