//! Output sinks: flow files ([`files`]), their names ([`naming`]) and the
//! run report ([`report`]). Nothing here knows about TCP; the flow table
//! decides what to write and when.

pub mod files;
pub mod naming;
pub mod report;

pub use files::{FileId, FileSink};
pub use naming::{NameFacts, Template};
pub use report::{CloseKey, DirectionRecord, End, OrderedReport, ReportWriter};
