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

/// Everything a run needs to know. Where packets come from ([`Source`])
/// and where directions go ([`Output`]) are each one choice, so a live
/// capture that also reads files, or console output that also carves HTTP
/// bodies, cannot be built.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where packets come from: capture files or a live interface.
    pub source: Source,
    /// Captures read after those of [`Source::Files`] only to finish the
    /// connections already open (tcpflow's `-R`): segments of other
    /// connections are ignored. Empty for a live capture.
    pub finish_inputs: Vec<Input>,
    /// A BPF filter expression applied to every packet, if any (compiled by
    /// libpcap; in the kernel for live capture).
    pub filter: Option<String>,
    /// Where reassembled directions go: flow files or standard output.
    pub output: Output,
    /// The file-name template, tcpflow's %-codes (the console modes name
    /// directions with it too).
    pub template: String,
    /// At most this many bytes are stored per direction.
    pub max_bytes: Option<u64>,
    /// Where the JSON Lines report goes; `None` turns it off.
    pub report: Option<PathBuf>,
    /// Where the DFXML report (tcpflow's `report.xml`, `-X`) goes; `None`
    /// turns it off. [`Config::new`] leaves it off; the binary writes
    /// `report.xml` in the output folder unless told not to, as tcpflow does.
    /// A shard (`shard`) writes none: its file name is recorded for
    /// `flowsplit merge`, which writes it into the merged folder.
    pub dfxml: Option<PathBuf>,
    /// With HTTP carving, list each flow's carved bodies in the DFXML report
    /// (`byte_runs`). The report then waits for the carving, holding every
    /// body's name in memory, so the binary asks for it only with an
    /// explicit `-X`: the default `report.xml` keeps memory flat.
    pub dfxml_byte_runs: bool,
    /// Hash every direction with MD5 too (`-F M`, `-e md5`): the DFXML
    /// report's `hashdigest` and the JSON report's `md5`.
    pub md5: bool,
    /// tcpflow's per-file alert descriptors and commands (`-S tcp_alert_fd`,
    /// `tcp_cmd`, `http_alert_fd`, `http_cmd`).
    pub file_hooks: crate::output::alerts::Hooks,
    /// Where the event stream goes, if anywhere.
    pub events: Option<crate::output::EventTarget>,
    /// Capture-time idle timeout in seconds; `None` is no timeout.
    pub idle_timeout: Option<u64>,
    /// Buffered out-of-order bytes allowed per direction before the hole is given up as a gap.
    pub max_pending_per_direction: usize,
    /// Buffered out-of-order bytes allowed over all directions (split between workers).
    pub max_pending_total: usize,
    /// Open connections kept at most; past it the least recently active is closed.
    pub max_connections: usize,
    /// `-m`: the longest hole zero-filled in a flow file (a longer one is
    /// a jump, not filled, and listed as such), and how far data may lie
    /// from its direction's stream, in a connection whose handshake was not
    /// seen, before it starts a new connection on the 4-tuple (see
    /// [`crate::flow::table`]).
    pub max_seek: u64,
    /// The run's amplification bound (`--max-amplification`,
    /// `--amplification-base`): the zero fill of every direction together
    /// stays within `ratio x B + base` for a capture of `B` bytes (see
    /// [`crate::flow::fill`]). With `--shard` this is the whole split's
    /// bound, as asked; each shard holds itself to
    /// [`Config::own_fill_bound`].
    pub fill_bound: crate::flow::fill::FillBound,
    /// Memory for connection state, in bytes (`--max-memory`): see
    /// [`crate::flow::FlowTable`] for what it counts and the policy past it.
    pub max_memory: u64,
    /// UDP ports on which tunnels are decoded besides their standard ports.
    pub udp_tunnels: Vec<(u16, crate::decode::UdpTunnel)>,
    /// Worker threads reassembling connections (1: everything in the
    /// reading thread). Console output always uses one.
    pub threads: usize,
    /// Switch to this user once the capture is open (`-U`).
    pub user: Option<String>,
    /// Change the root folder to this one just before switching user
    /// (`-z`, only with `-U`): every path opened afterwards (flow files,
    /// the report, the inputs of a file run) is inside it.
    pub chroot: Option<PathBuf>,
    /// Write the packets that carried no TCP segment to this pcap file (`-w`).
    pub unprocessed: Option<PathBuf>,
    /// Where notices and reading progress go; by default nowhere.
    pub hooks: crate::hooks::Hooks,
    /// Keep only this shard's connections (`--shard K/N`): the report then
    /// starts with the shard's identity and marks the close events (see
    /// [`crate::shard`]). `None`: every connection, a plain report.
    pub shard: Option<crate::shard::ShardSpec>,
    /// tcpflow's netviz scanner (`-e netviz`): draw `report.pdf` in the
    /// output folder from the traffic summary. `None`: not asked for.
    pub netviz: Option<NetvizOptions>,
    /// Addresses the traffic summary counts exactly (see
    /// [`crate::output::traffic::TopCounts`]; `-S netviz_histogram_size`).
    pub traffic_address_cap: usize,
    /// `--grep` on a normal run: search every direction as it is written
    /// and count its matches in the report; with `--only-matching`, keep
    /// only the connections that matched. `None`: no search.
    pub grep: Option<GrepRun>,
}

/// `--grep`'s settings on a normal run (see [`crate::search::counted`]
/// and [`crate::output::keep`]).
#[derive(Debug, Clone)]
pub struct GrepRun {
    /// The patterns, in the order given.
    pub patterns: Vec<String>,
    /// How they are read.
    pub pattern: crate::search::matcher::PatternOptions,
    /// Keep the flow files, report lines and carved bodies of the
    /// connections that matched only (`--only-matching`).
    pub only_matching: bool,
}

/// How carved HTTP body files are named (`--http-names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpNames {
    /// tcpflow's names: `<flow>-HTTPBODY-NNN[.ext]` (see
    /// [`crate::http::name::body_file_name`]).
    #[default]
    Tcpflow,
    /// `tshark --export-objects http`'s names: the last segment of the
    /// request target, sanitised, duplicates numbered `name(N).ext`; tcpflow's
    /// name where the target gives none (see
    /// [`crate::http::name::url_file_name`]).
    Url,
}

/// Where packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Capture inputs, read in this order with flow state carried across them.
    Files(Vec<Input>),
    /// A live capture on an interface, until SIGINT, SIGTERM or SIGHUP.
    Live(crate::capture::live::LiveOptions),
}

/// Where reassembled directions go.
#[derive(Debug, Clone)]
pub enum Output {
    /// One flow file per direction in a folder, HTTP bodies carved if asked.
    Files(FileOutput),
    /// Each direction printed to standard output as it is reassembled; no
    /// flow files, no HTTP carving.
    Console(crate::output::ConsoleOptions),
    /// Each direction searched for patterns as it is reassembled
    /// (`flowsplit grep`); matches printed to standard output, no flow
    /// files, no HTTP carving.
    Grep(crate::search::GrepOptions),
}

/// Flow files: where, how many open at once, and HTTP carving.
#[derive(Debug, Clone)]
pub struct FileOutput {
    /// The folder flow files are written to (created with parents).
    pub outdir: PathBuf,
    /// At most this many flow files are open at once (split between workers).
    pub max_open_files: usize,
    /// Carve HTTP bodies out of the flows written (`-e http`) with these
    /// settings: after the last input, or in live capture as each
    /// connection closes. `None` carves nothing.
    pub http: Option<crate::http::HttpOptions>,
    /// Write a `.findx` index beside each flow file (`-I`, see
    /// [`crate::output::findx`]).
    pub findx: bool,
    /// Write each direction's packets as a pcap file beside its flow file
    /// (`-K`, see [`crate::output::flow_pcap`]).
    pub pcaps: bool,
    /// Write the flow files (false with `-F X`: directions are only counted
    /// and hashed for the reports, and `http` must be `None`).
    pub flow_files: bool,
}

impl Output {
    /// The flow-file settings, when directions go to files.
    pub fn files(&self) -> Option<&FileOutput> {
        match self {
            Output::Files(f) => Some(f),
            Output::Console(_) | Output::Grep(_) => None,
        }
    }

    /// The folder and settings of HTTP carving, when it is asked for (it
    /// needs flow files).
    pub fn http_carving(&self) -> Option<(&PathBuf, &crate::http::HttpOptions)> {
        let files = self.files()?;
        Some((&files.outdir, files.http.as_ref()?))
    }

    /// The flow-file settings to change, when directions go to files.
    pub fn files_mut(&mut self) -> Option<&mut FileOutput> {
        match self {
            Output::Files(f) => Some(f),
            Output::Console(_) | Output::Grep(_) => None,
        }
    }
}

/// The largest default `--max-memory`: 1 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;

/// The part of `--max-memory` set aside for what does not grow with the
/// connections: input blocks and batches in flight to the workers (in live
/// capture, the queue of packet blocks,
/// [`QUEUE_BYTES`](crate::capture::queue::QUEUE_BYTES)), the shared write
/// pool, the report's reordering and the records on their way to it
/// (a bounded channel from the workers), the TLS session cache and the
/// connections waiting for it ([`TLS_SESSION_MEMORY`] each, with
/// `--tls-keylog`), the secrets of the capture's Decryption Secrets Blocks
/// ([`CAPTURE_SECRETS_BUDGET`](crate::tls::keylog::CAPTURE_SECRETS_BUDGET)),
/// the program itself. The
/// rest is split evenly over the budget shards for connection state, the
/// same for every `-j`.
pub const FIXED_MEMORY: u64 = 40 << 20;

/// The TLS session cache's share of [`FIXED_MEMORY`], and as much again
/// for the resuming connections waiting for it (see
/// `crate::http::tls::Sessions`): some 20,000 sessions.
pub const TLS_SESSION_MEMORY: u64 = 4 << 20;

/// The smallest `--max-memory` accepted: the fixed part and 16 MiB for connections.
pub const MIN_MAX_MEMORY: u64 = FIXED_MEMORY + (16 << 20);

/// The default `--max-memory`: [`DEFAULT_MAX_MEMORY`], or a quarter of the
/// physical memory when that is less (never below [`MIN_MAX_MEMORY`]).
pub fn default_max_memory() -> u64 {
    // SAFETY: sysconf only reads system configuration values.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let physical = u64::try_from(pages)
        .ok()
        .zip(u64::try_from(page).ok())
        .map(|(n, size)| n.saturating_mul(size))
        .filter(|&bytes| bytes > 0);
    match physical {
        Some(bytes) => (bytes / 4).clamp(MIN_MAX_MEMORY, DEFAULT_MAX_MEMORY),
        None => DEFAULT_MAX_MEMORY,
    }
}

/// Memory for connection state per budget shard under `max_memory`.
pub fn memory_per_shard(max_memory: u64) -> usize {
    let shards = crate::flow::table::BUDGET_SHARDS as u64;
    usize::try_from(max_memory.saturating_sub(FIXED_MEMORY) / shards).unwrap_or(usize::MAX)
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
    /// The bound this process holds its own output to: [`Config::fill_bound`],
    /// or with `--shard K/N` that bound with shard K's share of its base
    /// (shard 0 takes the remainder), so the shards' bounds add up to a
    /// single run's.
    pub fn own_fill_bound(&self) -> crate::flow::fill::FillBound {
        let whole = self.fill_bound;
        crate::flow::fill::FillBound {
            base: self.shard.map_or(whole.base, |s| s.share_of(whole.base)),
            ..whole
        }
    }

    /// A configuration with tcpflow's defaults, reading `inputs` into flow
    /// files in `outdir`, with the report in `outdir`.
    pub fn new(inputs: Vec<Input>, outdir: impl Into<PathBuf>) -> Self {
        let outdir = outdir.into();
        Config {
            source: Source::Files(inputs),
            finish_inputs: Vec::new(),
            filter: None,
            report: Some(outdir.join(DEFAULT_REPORT_NAME)),
            dfxml: None,
            dfxml_byte_runs: false,
            md5: false,
            file_hooks: Default::default(),
            output: Output::Files(FileOutput {
                outdir,
                max_open_files: 64,
                http: None,
                findx: false,
                pcaps: false,
                flow_files: true,
            }),
            template: DEFAULT_TEMPLATE.to_string(),
            max_bytes: None,
            idle_timeout: None,
            max_pending_per_direction: DEFAULT_MAX_PENDING,
            max_pending_total: DEFAULT_MAX_PENDING_TOTAL,
            threads: 1,
            udp_tunnels: Vec::new(),
            max_connections: crate::flow::table::DEFAULT_MAX_CONNECTIONS as usize,
            max_seek: crate::flow::direction::DEFAULT_MAX_SEEK,
            fill_bound: crate::flow::fill::FillBound::default(),
            max_memory: default_max_memory(),
            events: None,
            user: None,
            chroot: None,
            unprocessed: None,
            hooks: crate::hooks::Hooks::default(),
            shard: None,
            netviz: None,
            traffic_address_cap: crate::output::traffic::DEFAULT_ADDRESS_CAP,
            grep: None,
        }
    }
}

/// `-e netviz`'s settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetvizOptions {
    /// Where the page goes: `report.pdf` in the output folder.
    pub path: PathBuf,
    /// Print the address histograms on standard output at the end
    /// (`-S netviz_histogram_dump=1`).
    pub dump: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_reads_files_into_flow_files_with_the_report_beside_them() {
        let c = Config::new(vec![Input::Stdin], "out");
        assert_eq!(c.source, Source::Files(vec![Input::Stdin]));
        let files = c.output.files().expect("flow files");
        assert_eq!(files.outdir, PathBuf::from("out"));
        assert!(files.http.is_none());
        assert_eq!(
            c.report,
            Some(PathBuf::from("out").join(DEFAULT_REPORT_NAME))
        );
    }

    #[test]
    fn http_carving_needs_flow_files_and_the_scanner() {
        let mut c = Config::new(Vec::new(), "out");
        assert!(c.output.http_carving().is_none());
        c.output.files_mut().expect("flow files").http = Some(Default::default());
        let (outdir, _) = c.output.http_carving().expect("carving asked for");
        assert_eq!(outdir, &PathBuf::from("out"));
        c.output = Output::Console(crate::output::ConsoleOptions::new(
            crate::output::ConsoleFormat::Prefixed,
        ));
        assert!(c.output.http_carving().is_none());
        assert!(c.output.files_mut().is_none());
    }
}
