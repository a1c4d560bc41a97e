//! flowsplit: reassemble every TCP connection in a packet capture into one
//! exact file per direction, in the tradition of tcpflow, and carve HTTP
//! bodies out of those files.
//!
//! The modules follow the data:
//! [`capture`] (files, later live interfaces) → [`decode`] (link, IP, TCP)
//! → [`flow`] (flow table and per-direction reassembly) → [`output`]
//! (flow files and the report) → [`http`] (the HTTP post-pass).
//! [`run`] wires them together from a validated [`Config`]; the `flowsplit`
//! binary parses the command line (clap lives there, not here) into that
//! `Config`, and prints what the run reports through [`hooks`] and
//! [`RunSummary`]: the library writes nothing to the terminal.
//!
//! The synthetic captures the tests, examples and benchmarks are built from
//! come from the separate `flowsplit-synth` crate (`synth/` in the
//! workspace), a dev-dependency only: it is not part of this library.

pub mod capture;
pub mod community_id;
pub mod config;
pub mod decode;
pub mod error;
pub mod flow;
pub mod hooks;
pub mod http;
pub mod merge;
pub mod output;
pub mod parallel;
pub mod pipeline;
pub mod search;
pub mod shard;
pub mod tls;
pub mod view;

pub use config::Config;
pub use error::Error;
pub use pipeline::{run, run_to_end, RunSummary};
