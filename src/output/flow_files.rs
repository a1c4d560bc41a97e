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
use super::report::DirectionRecord;
use super::tally::{Naming, Tally};
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, StreamConsumer};

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
        }
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
        self.flush_run(&mut s, info)?;
        let Some(id) = s.file.take() else {
            return Ok(None);
        };
        let counter = s.counter;
        let name = self.naming.name(info, counter);
        self.sink.close(id, &|| name.clone(), info.first_ts)?;
        let mut record = s.tally.record(name, info, end);
        record.counter = counter;
        Ok(Some(record))
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.sink.flush_all()
    }
}
