//! The flow table and per-direction reassembly.
//!
//! [`assembler`] orders bytes by stream offset (no I/O, no TCP);
//! [`direction`] maps one direction's sequence numbers onto offsets and
//! hands the ordered stream on; [`table`] finds connections, handles SYN,
//! FIN, RST, port reuse and idle timeouts, and keeps the memory budgets;
//! [`fill`] decides which holes given up are zero-filled under the run's
//! amplification bound;
//! [`consumer`] is the contract with whatever takes the streams (files, the
//! console, later stages such as decryption); [`layers`] keeps one record of
//! each distinct encapsulation for the directions that came that way;
//! [`stamp`] packs the capture times every direction keeps; [`conns`]
//! holds the table's connections, found by key or by a wheel's handle.

pub mod assembler;
pub mod conns;
pub mod consumer;
pub mod direction;
pub mod fill;
pub mod layers;
pub mod stamp;
pub mod table;

pub use assembler::{Assembler, Piece};
pub use consumer::{DirectionEnd, DirectionInfo, Placed, StreamConsumer, Tee};
pub use direction::DirectionLimits;
pub use layers::{Layers, LayersCache};
pub use table::{ConnKey, FlowTable, OnClose, TableConfig, TableStats};
