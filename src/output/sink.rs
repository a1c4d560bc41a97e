//! Where a flow table's directions go: flow files ([`FileSink`]) or the
//! console ([`ConsoleSink`]), plus the `open` events of the event stream.
//!
//! Owns: the choice between the two and the open events. Must not: format
//! anything itself (see `files` and `console`).
//!
//! A small enum rather than a trait object: the per-write cost is one
//! predictable branch.

use super::console::ConsoleSink;
use super::events::{Event, EventLog};
use super::files::{FileId, FileSink};
use crate::capture::Timestamp;
use crate::decode::TcpTuple;
use crate::error::Error;

/// What is known about a direction when its output opens.
#[derive(Debug, Clone, Copy)]
pub struct Opened<'a> {
    /// The direction's addresses and ports.
    pub tuple: &'a TcpTuple,
    /// Its connection id.
    pub connection: u64,
    /// Its first packet's time.
    pub first_ts: Timestamp,
}

enum Kind {
    Files(FileSink),
    Console(ConsoleSink),
}

/// The output of one flow table.
pub struct FlowSink {
    kind: Kind,
    events: Option<EventLog>,
}

impl From<FileSink> for FlowSink {
    fn from(sink: FileSink) -> FlowSink {
        FlowSink {
            kind: Kind::Files(sink),
            events: None,
        }
    }
}

impl From<ConsoleSink> for FlowSink {
    fn from(sink: ConsoleSink) -> FlowSink {
        FlowSink {
            kind: Kind::Console(sink),
            events: None,
        }
    }
}

impl FlowSink {
    /// Also write an `open` event for every direction opened.
    pub fn with_events(mut self, events: Option<EventLog>) -> FlowSink {
        self.events = events;
        self
    }

    /// Open a direction's output named by `name_for(counter)`: for files,
    /// the first counter from `first_counter` whose name is free; on the
    /// console, `first_counter`'s. Returns its id and the name taken.
    pub fn create(
        &mut self,
        first_counter: u32,
        name_for: &dyn Fn(u32) -> String,
        opened: &Opened<'_>,
    ) -> Result<(FileId, String), Error> {
        let (id, name) = match &mut self.kind {
            Kind::Files(f) => f.create(first_counter, name_for)?,
            Kind::Console(c) => {
                let name = name_for(first_counter);
                (c.create(name.clone()), name)
            }
        };
        if let Some(events) = &self.events {
            events.emit(&Event::Open {
                file: &name,
                connection: opened.connection,
                src: opened.tuple.src.to_string(),
                sport: opened.tuple.sport,
                dst: opened.tuple.dst.to_string(),
                dport: opened.tuple.dport,
                vlan: opened.tuple.vlan,
                time: opened.first_ts.to_string(),
            });
        }
        Ok((id, name))
    }

    /// True when callers should collect bytes into large runs before
    /// writing (files); false when every piece should go out at once
    /// (the console, whose output interleaves directions as they happen).
    #[inline]
    pub fn collects_runs(&self) -> bool {
        matches!(self.kind, Kind::Files(_))
    }

    /// Append `data` to direction `id`.
    #[inline]
    pub fn write(&mut self, id: FileId, data: &[u8]) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Files(f) => f.write(id, data),
            Kind::Console(c) => c.write(id, data),
        }
    }

    /// Append `n` zero bytes (a gap) to direction `id`.
    pub fn write_zeros(&mut self, id: FileId, n: u64) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Files(f) => f.write_zeros(id, n),
            Kind::Console(c) => c.write_gap(id, n),
        }
    }

    /// Close direction `id`; a file gets `mtime` as its modification time.
    pub fn close(&mut self, id: FileId, mtime: Timestamp) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Files(f) => f.close(id, mtime),
            Kind::Console(c) => {
                c.close(id);
                Ok(())
            }
        }
    }

    /// Let go of direction `id`'s file descriptor until it is written
    /// again, setting the file's modification time to `mtime` first.
    pub fn release(&mut self, id: FileId, mtime: Timestamp) {
        if let Kind::Files(f) = &mut self.kind {
            f.release(id, mtime);
        }
    }

    /// Flush everything buffered (files stay open).
    pub fn flush_all(&mut self) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Files(f) => f.flush_all(),
            Kind::Console(c) => c.flush(),
        }
    }
}
