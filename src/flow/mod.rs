//! The flow table and per-direction reassembly.
//!
//! [`assembler`] orders bytes by stream offset (no I/O, no TCP);
//! [`direction`] maps one direction's sequence numbers onto offsets and
//! writes the ordered stream; [`table`] finds connections, handles SYN,
//! FIN, RST, port reuse and idle timeouts.

pub mod assembler;
pub mod direction;
pub mod table;

pub use assembler::{Assembler, Piece};
pub use direction::DirectionLimits;
pub use table::{ConnKey, FlowTable, OnClose, TableConfig, TableStats};
