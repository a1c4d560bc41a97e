//! The validated settings a run works from. Built once from the command line
//! by the binary (or directly by tests and benchmarks); nothing below this
//! sees raw arguments.

use std::path::PathBuf;

/// Where packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A capture file, or a directory whose captures are read in name order.
    Path(PathBuf),
    /// Standard input (`-r -`).
    Stdin,
}

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// Capture inputs, read in this order with flow state carried across them.
    pub inputs: Vec<Input>,
    /// A BPF filter expression applied to every packet, if any.
    pub filter: Option<String>,
    /// The folder flow files are written to (created with parents).
    pub outdir: PathBuf,
    /// The file-name template, tcpflow's %-codes.
    pub template: String,
    /// At most this many bytes are stored per direction.
    pub max_bytes: Option<u64>,
    /// At most this many flow files are open at once.
    pub max_open_files: usize,
    /// Where the JSON Lines report goes; `None` turns it off.
    pub report: Option<PathBuf>,
    /// Capture-time idle timeout in seconds; `None` is no timeout.
    pub idle_timeout: Option<u64>,
    /// Buffered out-of-order bytes allowed per direction before the hole is given up as a gap.
    pub max_pending_per_direction: usize,
    /// Buffered out-of-order bytes allowed over all directions (split between workers).
    pub max_pending_total: usize,
    /// Run the HTTP post-pass over the flows written.
    pub http: bool,
    /// Settings for the HTTP post-pass.
    pub http_options: crate::http::HttpOptions,
    /// Open connections kept at most; past it the least recently active is closed.
    pub max_connections: usize,
    /// UDP ports on which tunnels are decoded besides their standard ports.
    pub udp_tunnels: Vec<(u16, crate::decode::UdpTunnel)>,
    /// Worker threads reassembling connections (1: everything in the reading thread).
    pub threads: usize,
    /// Capture live from an interface instead of reading `inputs` (which is then empty).
    pub live: Option<crate::capture::live::LiveOptions>,
    /// Print directions to standard output instead of writing flow files.
    pub console: Option<crate::output::ConsoleOptions>,
    /// Where the event stream goes, if anywhere.
    pub events: Option<crate::output::EventTarget>,
    /// Switch to this user once the capture is open (`-U`).
    pub user: Option<String>,
    /// Where notices and reading progress go; by default nowhere.
    pub hooks: crate::hooks::Hooks,
}

/// tcpflow's default file-name template.
pub const DEFAULT_TEMPLATE: &str = "%A.%a-%B.%b%V%v%C%c";

/// Default cap on buffered out-of-order bytes per direction.
pub const DEFAULT_MAX_PENDING: usize = 4 << 20;

/// Default cap on buffered out-of-order bytes over all directions.
pub const DEFAULT_MAX_PENDING_TOTAL: usize = 64 << 20;

/// The report's file name inside the output folder when no path is given.
pub const DEFAULT_REPORT_NAME: &str = "report.jsonl";

impl Config {
    /// A configuration with tcpflow's defaults, reading `inputs` into `outdir`.
    pub fn new(inputs: Vec<Input>, outdir: impl Into<PathBuf>) -> Self {
        let outdir = outdir.into();
        Config {
            inputs,
            filter: None,
            report: Some(outdir.join(DEFAULT_REPORT_NAME)),
            outdir,
            template: DEFAULT_TEMPLATE.to_string(),
            max_bytes: None,
            max_open_files: 64,
            idle_timeout: None,
            max_pending_per_direction: DEFAULT_MAX_PENDING,
            max_pending_total: DEFAULT_MAX_PENDING_TOTAL,
            http: false,
            http_options: crate::http::HttpOptions::default(),
            threads: 1,
            udp_tunnels: Vec::new(),
            max_connections: crate::flow::table::DEFAULT_MAX_CONNECTIONS as usize,
            live: None,
            console: None,
            events: None,
            user: None,
            hooks: crate::hooks::Hooks::default(),
        }
    }
}
