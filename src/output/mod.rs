//! The consumers of reassembled streams (see [`crate::flow::consumer`]):
//! flow files ([`flow_files`], over the descriptor-bounded [`files`]) and
//! the console ([`console`]); the `.findx` index beside flow files
//! ([`findx`], `-I`) and each direction's packets as pcap ([`flow_pcap`],
//! `-K`); what both keep account of ([`tally`]), their names ([`naming`]),
//! the run reports ([`report`], JSON Lines, with its TLS lines after
//! carving ([`tls_record`]) and its closing [`summary`],
//! and [`dfxml`], tcpflow's DFXML), the event stream ([`events`]), tcpflow's
//! per-file alerts and commands ([`alerts`]) and packets written as pcap
//! ([`unprocessed`], `-w`); the traffic summary kept beside the report
//! ([`traffic`]), its charts ([`charts`]), which connections `--grep
//! --only-matching` keeps ([`keep`]) and tcpflow's netviz page drawn
//! from it ([`netviz`], `-e netviz`). Nothing here knows about TCP; the flow table decides what
//! is handed over and when.

pub mod alerts;
pub mod charts;
pub mod console;
pub mod dfxml;
pub mod events;
pub mod files;
pub mod findx;
pub mod flow_files;
pub mod flow_pcap;
pub mod keep;
pub mod naming;
pub mod netviz;
pub mod report;
pub mod report_only;
pub mod semlock;
#[cfg(test)]
mod shared_buffer;
pub mod summary;
pub mod tally;
pub mod tls_record;
pub mod traffic;
pub mod unprocessed;

pub use console::{ConsoleFlows, ConsoleFormat, ConsoleOptions, ConsoleSink};
pub use events::{Event, EventLog, EventTarget};
pub use files::{FileId, FileSink};
pub use flow_files::FlowFiles;
pub use naming::{NameFacts, Template};
pub use report::{CloseHook, CloseKey, DirectionRecord, End, OrderedReport, ReportWriter};
pub use tally::Naming;
