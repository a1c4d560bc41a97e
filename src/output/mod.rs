//! Output sinks: flow files ([`files`]) or the console ([`console`]) behind
//! [`FlowSink`], their names ([`naming`]), the run report ([`report`]) and
//! the event stream ([`events`]). Nothing here knows about TCP; the flow
//! table decides what to write and when.

pub mod console;
pub mod events;
pub mod files;
pub mod naming;
pub mod report;
#[cfg(test)]
mod shared_buffer;
pub mod sink;

pub use console::{ConsoleFormat, ConsoleOptions, ConsoleSink};
pub use events::{Event, EventLog, EventTarget};
pub use files::{FileId, FileSink};
pub use naming::{NameFacts, Template};
pub use report::{CloseHook, CloseKey, DirectionRecord, End, OrderedReport, ReportWriter};
pub use sink::{FlowSink, Opened};
