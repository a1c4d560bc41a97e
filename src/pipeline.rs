//! One run: capture → decode → flow → output, then the HTTP post-pass.
//!
//! Inputs are read in the order given (folders walked in name order) with
//! one flow table across all of them, so a connection split over rotated
//! files stays one flow. A bad input is reported and skipped; everything
//! read before its damage is kept.
//!
//! Live capture ([`run_live`]) feeds the same per-packet path
//! ([`PacketPath`]) from an interface until a signal stops it: a capture
//! thread drains libpcap into a bounded queue of blocks
//! ([`crate::capture::queue`]) and this thread reads packets out of them as
//! out of a file's blocks; outputs then flush about once a second, capture
//! time moves on with the wall clock between packets, and with `-e http`
//! each connection is carved as it closes instead of in a post-pass.

use crate::capture::file::InputBlock;
use crate::capture::live::{drop_privileges, CaptureStats, LiveCapture, LiveOptions};
use crate::capture::queue::{self, CaptureThread, CounterSnapshot, Next};
use crate::capture::{file, LinkType, Packet, Timestamp};
use crate::config::{Config, Input, Output, Source};
use crate::decode::{DecodeOptions, Decoder, FragmentLimits};
use crate::error::Error;
use crate::flow::table::BUDGET_SHARDS;
use crate::flow::{DirectionLimits, FlowTable, StreamConsumer, TableConfig};
use crate::hooks::{Notice, Progress};
use crate::output::summary::{summary_path, SummaryRecord};
use crate::output::{CloseHook, ConsoleFlows, ConsoleSink, DirectionRecord, Event, EventLog};
use crate::output::{FileSink, FlowFiles, Naming, Template};
use crate::output::{OrderedReport, ReportWriter};
use crate::parallel::{Inline, SegmentSink, Sharded};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a run did, for the binary's closing lines. The library prints none
/// of it.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Packets read from all inputs.
    pub packets: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// TCP connections seen.
    pub connections: u64,
    /// Directions written.
    pub directions: u64,
    /// HTTP bodies carved (with `-e http`).
    pub http_bodies: u64,
    /// Errors that did not stop the run, in the order met: inputs that
    /// could not be read (wholly or in part), and bodies that could not be
    /// carved. Each displays as one full line.
    pub input_errors: Vec<Error>,
    /// Live capture: what the kernel counted once capture stopped. `None`
    /// when reading files, or when the run stopped before capturing.
    pub capture_stats: Option<LiveStats>,
}

/// The account of a live capture, read when capture stops.
#[derive(Debug)]
pub struct LiveStats {
    /// The interface captured on.
    pub interface: String,
    /// The kernel's counters, or why they could not be read.
    pub stats: Result<CaptureStats, Error>,
    /// Packets flowsplit took from the kernel and dropped because its queue
    /// was full (every block still in use downstream); see
    /// [`crate::capture::queue`].
    pub dropped_by_flowsplit: u64,
}

/// BPF programs compiled per link type, as libpcap needs the link type to compile.
struct Filter {
    expr: String,
    programs: HashMap<LinkType, pcap::BpfProgram>,
}

impl Filter {
    fn new(expr: &str) -> Result<Filter, Error> {
        let mut filter = Filter {
            expr: expr.to_string(),
            programs: HashMap::new(),
        };
        // Compile once up front so a bad expression is a usage error before any work.
        filter.program(LinkType::ETHERNET)?;
        Ok(filter)
    }

    fn program(&mut self, link: LinkType) -> Result<&pcap::BpfProgram, Error> {
        if !self.programs.contains_key(&link) {
            let bad = |e: pcap::Error| Error::Filter {
                expr: self.expr.clone(),
                detail: e.to_string(),
            };
            let linktype = pcap::Linktype(i32::try_from(link.0).unwrap_or(i32::MAX));
            let dead = pcap::Capture::dead(linktype).map_err(bad)?;
            let program = dead.compile(&self.expr, true).map_err(bad)?;
            self.programs.insert(link, program);
        }
        self.programs
            .get(&link)
            .ok_or_else(|| Error::Internal("no compiled filter".into()))
    }

    fn matches(&mut self, pkt: &Packet<'_>) -> bool {
        match self.program(pkt.link) {
            Ok(p) => p.filter(pkt.data),
            Err(_) => false,
        }
    }
}

/// Read every input of `config` (or capture live, as its source says),
/// reassemble and write the flows, write the report, and carve HTTP
/// bodies when asked. An error that stops the run is returned as `Err`,
/// and what was done up to then is lost; [`run_to_end`] keeps it.
pub fn run(config: &Config) -> Result<RunSummary, Error> {
    match run_to_end(config) {
        (_, Some(e)) => Err(e),
        (summary, None) => Ok(summary),
    }
}

/// Like [`run`], but returns what the run did even when an error stopped
/// it: the summary as far as the run got (live capture's statistics
/// included, once capture has started) and the error that stopped it, if
/// any.
pub fn run_to_end(config: &Config) -> (RunSummary, Option<Error>) {
    let mut summary = RunSummary::default();
    let result = match &config.source {
        Source::Live(live) => run_live(config, live, &mut summary),
        Source::Files(inputs) => run_files(config, inputs, &mut summary),
    };
    let mut fatal = result.err();
    if let Some(report) = &config.report {
        let record = SummaryRecord::new(&summary, fatal.as_ref(), config.max_memory);
        let written = record.write(&summary_path(report));
        // The error that stopped the run says more than a summary that
        // could not be written after it.
        if let (Err(e), None) = (written, &fatal) {
            fatal = Some(e);
        }
    }
    (summary, fatal)
}

/// Read `inputs` in order, then carve HTTP bodies when asked.
fn run_files(config: &Config, inputs: &[Input], summary: &mut RunSummary) -> Result<(), Error> {
    if let Some(user) = &config.user {
        crate::capture::live::drop_privileges(user)?;
    }
    let filter = config.filter.as_deref().map(Filter::new).transpose()?;
    if let Some((_, h)) = config
        .output
        .http_carving()
        .filter(|(_, h)| !h.tls_keylogs.is_empty())
    {
        // A bad key log is said before the capture is read, not after.
        crate::tls::KeyLog::load(&h.tls_keylogs)?;
    }
    let outputs = Outputs::new(config, false)?;
    let events = outputs.events;
    let mut path = PacketPath::new(config, filter, outputs.sink);

    let sources: Vec<(PathBuf, Capture)> = inputs
        .iter()
        .flat_map(|input| expand(input, &mut summary.input_errors))
        .collect();
    let progress = config.hooks.progress.as_ref();
    if let Some(p) = progress {
        p.start(total_bytes(&sources));
    }
    for (name, source) in sources {
        path.unsupported = None;
        let mut on_packet = |pkt: &Packet<'_>, block: &InputBlock| path.packet(pkt, Some(block));
        let result = match &source {
            Capture::File(p) => match file::open(p) {
                Ok(f) => file::read_stream(p, Progressed { inner: f, progress }, &mut on_packet),
                Err(e) => Err(e),
            },
            Capture::Stdin => file::read_stream(Path::new("-"), std::io::stdin(), &mut on_packet),
        };
        if let Some(link) = path.unsupported {
            summary.input_errors.push(Error::UnsupportedLink {
                path: name.clone(),
                linktype: link.to_string(),
            });
        }
        if let Err(e) = result {
            summary.input_errors.push(e);
        }
        if path.fatal.is_some() {
            break;
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(events) = &events {
        // As live capture's last one: before the connections still open close.
        let figures = (path.packets, path.bytes);
        emit_stats(events, figures, None, path.sink.as_ref(), true);
    }
    path.finish(summary)?;
    if let Some((outdir, http_options)) = config.output.http_carving() {
        let carved = crate::http::carve_dirs(std::slice::from_ref(outdir), http_options)?;
        summary.http_bodies = carved.bodies;
        summary.input_errors.extend(carved.errors);
    }
    Ok(())
}

/// Capture on an interface until SIGINT, SIGTERM or SIGHUP, then close
/// everything as at the end of a file and keep the kernel's statistics.
///
/// A capture thread ([`CaptureThread`]) only drains libpcap into a bounded
/// queue of blocks; this thread takes the blocks and runs every packet
/// through the same path as a file's, and flushes once a second: nothing
/// slow ever keeps the ring from being drained.
fn run_live(config: &Config, live: &LiveOptions, summary: &mut RunSummary) -> Result<(), Error> {
    // Open the interface first: without the rights to capture nothing else is done.
    let cap = LiveCapture::open(live, config.filter.as_deref())?;
    if let Some(user) = &config.user {
        drop_privileges(user)?;
    }
    // From here on a signal only sets the flag: the capture thread sees it
    // within one read timeout, and a second signal during shutdown changes
    // nothing (the default action, which would kill the process mid-write,
    // is never restored).
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Error::Internal(format!("cannot handle signal {sig}: {e}")))?;
    }
    let outputs = Outputs::new(config, true)?;
    let http = outputs.http.clone();
    let events = outputs.events;
    let mut path = PacketPath::new(config, None, outputs.sink);
    let (interface, link) = (cap.interface().to_string(), cap.link());
    config.hooks.notify(&Notice::Capturing {
        interface: interface.clone(),
        link,
    });
    let starve = starve_queue();
    let capture = match starve {
        Some(_) => CaptureThread::with_blocks(cap, Arc::clone(&stop), 1)?,
        None => CaptureThread::start(cap, Arc::clone(&stop))?,
    };
    let stats_every = (live.stats_interval > 0).then(|| Duration::from_secs(live.stats_interval));
    let mut last_flush = Instant::now();
    let mut last_stats = Instant::now();
    loop {
        match capture.next_block(FLUSH_EVERY / 10) {
            Next::Block(block) => {
                queue::packets(&block, link, &mut |pkt| path.packet(pkt, Some(&block)));
                if let Some(hold) = starve {
                    // Test only: the one block stays in use, so the capture
                    // thread drops what comes meanwhile.
                    std::thread::sleep(hold);
                }
            }
            Next::Idle => {}
            Next::Ended => break,
        }
        if path.fatal.is_some() {
            // The capture thread stops too; what it still hands over is skipped.
            stop.store(true, Ordering::Relaxed);
            continue;
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            last_flush = Instant::now();
            // Capture time also moves on without packets, so lingering and
            // idle connections close and get reported.
            let now = Timestamp::from(std::time::SystemTime::now());
            let packets = path.packets;
            let result = path
                .sink
                .tick(now, packets)
                .and_then(|()| path.sink.flush(packets));
            if let Err(e) = result {
                path.fatal = Some(e);
            }
        }
        if let (Some(events), Some(every)) = (&events, stats_every) {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                emit_live_stats(events, &capture.counters(), path.sink.as_ref(), false);
            }
        }
    }
    let ended = capture.finish();
    if let Some(events) = &events {
        emit_live_stats(events, &ended.counters, path.sink.as_ref(), true);
    }
    summary.capture_stats = Some(LiveStats {
        interface: interface.clone(),
        stats: ended.kernel,
        dropped_by_flowsplit: ended.counters.dropped_by_flowsplit,
    });
    if let Some(link) = path.unsupported {
        summary.input_errors.push(Error::UnsupportedLink {
            path: PathBuf::from(&interface),
            linktype: link.to_string(),
        });
    }
    let finished = path.finish(summary);
    if let Some(http) = http {
        if let Ok(mut h) = http.lock() {
            summary.http_bodies = h.bodies;
            summary.input_errors.append(&mut h.errors);
        }
    }
    finished?;
    match ended.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Write a `stats` event: `packets` and `bytes` so far, live capture's
/// drop counters when capturing (`live`), and the connections `sink` holds
/// open and the memory their state takes.
fn emit_stats(
    events: &EventLog,
    (packets, bytes): (u64, u64),
    live: Option<&CounterSnapshot>,
    sink: &dyn SegmentSink,
    last: bool,
) {
    let open_connections = sink.open_connections();
    events.emit(&Event::Stats {
        time: Timestamp::from(std::time::SystemTime::now()).to_string(),
        packets,
        bytes,
        kernel_received: live.map(|c| c.kernel_received),
        kernel_dropped: live.map(|c| c.kernel_dropped),
        interface_dropped: live.map(|c| c.interface_dropped),
        flowsplit_dropped: live.map(|c| c.dropped_by_flowsplit),
        open_connections,
        // Read after the connections (see [`SegmentSink::memory`]).
        memory: sink.memory(),
        last,
    });
}

/// [`emit_stats`] for live capture's `counters`.
fn emit_live_stats(
    events: &EventLog,
    counters: &CounterSnapshot,
    sink: &dyn SegmentSink,
    last: bool,
) {
    let figures = (counters.packets, counters.bytes);
    emit_stats(events, figures, Some(counters), sink, last);
}

/// Test only, not a user setting: with this environment variable set to a
/// number of milliseconds, live capture's queue has a single block and the
/// decoding thread holds each block that long after reading it, so packets
/// that come meanwhile are dropped by flowsplit (counted, and gaps in their
/// directions). The tests of tests/live.rs use it to drop packets on
/// purpose; it is not in the man page.
pub const STARVE_QUEUE_ENV: &str = "FLOWSPLIT_TEST_STARVE_QUEUE_MS";

/// How long to hold each block, when [`STARVE_QUEUE_ENV`] asks for it.
fn starve_queue() -> Option<Duration> {
    let ms = std::env::var(STARVE_QUEUE_ENV).ok()?.trim().parse().ok()?;
    Some(Duration::from_millis(ms))
}

/// How often live capture flushes flow files and moves capture time on.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The per-packet path shared by files and live capture: filter, decode,
/// hand the segment to the flow tables.
struct PacketPath {
    filter: Option<Filter>,
    decoder: Decoder,
    sink: Box<dyn SegmentSink>,
    /// Packets seen (before filtering), over all inputs.
    packets: u64,
    /// Their captured bytes.
    bytes: u64,
    /// The error that stops the run.
    fatal: Option<Error>,
    /// A link type met on the current input that cannot be decoded.
    unsupported: Option<LinkType>,
}

impl PacketPath {
    fn new(config: &Config, filter: Option<Filter>, sink: Box<dyn SegmentSink>) -> PacketPath {
        PacketPath {
            filter,
            decoder: Decoder::with_options(DecodeOptions {
                fragments: FragmentLimits::default(),
                udp_ports: config.udp_tunnels.clone(),
            }),
            sink,
            packets: 0,
            bytes: 0,
            fatal: None,
            unsupported: None,
        }
    }

    /// Take one packet; `input` is the shared block its bytes lie in, if any.
    fn packet(&mut self, pkt: &Packet<'_>, input: Option<&InputBlock>) {
        if self.fatal.is_some() {
            return;
        }
        self.packets += 1;
        self.bytes += pkt.data.len() as u64;
        if let Some(f) = self.filter.as_mut() {
            if !f.matches(pkt) {
                return;
            }
        }
        match self.decoder.decode(pkt) {
            Ok(seg) => {
                if let Err(e) = self.sink.segment(&seg, self.packets, input) {
                    self.fatal = Some(e);
                }
            }
            Err(crate::decode::Skip::UnsupportedLink(_)) => {
                self.unsupported.get_or_insert(pkt.link);
            }
            Err(_) => {}
        }
    }

    /// Close every connection and write the rest of the report.
    fn finish(self, summary: &mut RunSummary) -> Result<(), Error> {
        summary.packets = self.packets;
        summary.bytes = self.bytes;
        let finished = self.sink.finish();
        if let Ok(stats) = &finished {
            summary.connections = stats.connections;
            summary.directions = stats.directions;
        }
        // A worker's own error says more than the reader's note that it stopped.
        finished?;
        match self.fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What live HTTP carving did, read back after the run.
#[derive(Debug, Default)]
struct HttpTally {
    bodies: u64,
    errors: Vec<Error>,
}

/// The flow tables and everything behind them, built from the configuration.
struct Outputs {
    sink: Box<dyn SegmentSink>,
    http: Option<Arc<Mutex<HttpTally>>>,
    /// The event stream, if any (live capture writes its `stats` events there).
    events: Option<EventLog>,
}

impl Outputs {
    /// Flow tables writing files (or to the console), the ordered report,
    /// the event stream and, in live mode with `-e http`, per-connection
    /// HTTP carving. `live` makes every output flush promptly.
    fn new(config: &Config, live: bool) -> Result<Outputs, Error> {
        let template = Template::parse(&config.template)?;
        let events = config
            .events
            .as_ref()
            .map(|t| EventLog::create(t, live))
            .transpose()?;
        let report = config
            .report
            .as_deref()
            .map(ReportWriter::create)
            .transpose()?;
        let mut http = None;
        let carving = config.output.http_carving().filter(|_| live);
        let hook: Option<Box<dyn CloseHook>> = if let Some((outdir, http_options)) = carving {
            let tally = Arc::new(Mutex::new(HttpTally::default()));
            http = Some(tally.clone());
            Some(Box::new(LiveHttp {
                carver: crate::http::live::LiveCarver::new(outdir, http_options.clone()),
                events: events.clone(),
                tally,
            }))
        } else {
            None
        };
        let report = OrderedReport::new(report)
            .with_events(events.clone())
            .with_hook(hook)
            .flush_on_release(live);
        // Console output must come out in one order: one flow table.
        let threads = if matches!(config.output, Output::Console(_)) {
            1
        } else {
            config.threads.clamp(1, BUDGET_SHARDS)
        };
        let table_config = TableConfig {
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections,
            memory_per_shard: crate::config::memory_per_shard(config.max_memory),
            limits: DirectionLimits {
                max_pending: config.max_pending_per_direction,
                max_pending_total: (config.max_pending_total / BUDGET_SHARDS).max(1),
            },
        };
        let naming = Naming {
            template,
            events: events.clone(),
        };
        let sink = match &config.output {
            Output::Console(opts) => {
                let console = ConsoleSink::stdout(*opts, live);
                let consumer = ConsoleFlows::new(console, naming, config.max_bytes);
                tables_behind(vec![FlowTable::new(table_config, consumer)], report)
            }
            Output::Files(files) => {
                let mut tables = Vec::with_capacity(threads);
                for _ in 0..threads {
                    let sink =
                        FileSink::new(&files.outdir, (files.max_open_files / threads).max(1))?;
                    let consumer = FlowFiles::new(sink, naming.clone(), config.max_bytes);
                    tables.push(FlowTable::new(table_config.clone(), consumer));
                }
                tables_behind(tables, report)
            }
        };
        Ok(Outputs { sink, http, events })
    }
}

/// One flow table in this thread, or one per worker thread.
fn tables_behind<C>(mut tables: Vec<FlowTable<C>>, report: OrderedReport) -> Box<dyn SegmentSink>
where
    C: StreamConsumer + Send + 'static,
    C::Stream: Send,
{
    if tables.len() == 1 {
        if let Some(table) = tables.pop() {
            return Box::new(Inline::new(table, report));
        }
    }
    Box::new(Sharded::new(tables, report))
}

/// Live `-e http`: carve each connection's bodies once both its files are
/// closed, and write the index when capture ends.
struct LiveHttp {
    carver: crate::http::live::LiveCarver,
    events: Option<EventLog>,
    tally: Arc<Mutex<HttpTally>>,
}

impl CloseHook for LiveHttp {
    fn connection_closed(&mut self, records: &[DirectionRecord]) -> Result<(), Error> {
        let flows: Vec<crate::http::live::ClosedFlow<'_>> = records
            .iter()
            .map(|r| crate::http::live::ClosedFlow {
                file: &r.file,
                gaps: &r.gaps,
            })
            .collect();
        let carved = self.carver.connection_closed(&flows);
        if let Some(events) = &self.events {
            for b in &carved.bodies {
                events.emit(&Event::HttpBody {
                    file: &b.file,
                    flow: &b.flow,
                    kind: b.kind,
                    size: b.size,
                    sha256: &b.sha256,
                    complete: b.complete,
                });
            }
        }
        if let Ok(mut t) = self.tally.lock() {
            t.bodies += carved.bodies.len() as u64;
            t.errors.extend(carved.errors);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        let errors = self.carver.finish();
        if let Ok(mut t) = self.tally.lock() {
            t.errors.extend(errors);
        }
        Ok(())
    }
}

/// One capture to read.
enum Capture {
    File(PathBuf),
    Stdin,
}

/// The captures an input names: itself, or a folder's files in name order.
fn expand(input: &Input, errors: &mut Vec<Error>) -> Vec<(PathBuf, Capture)> {
    match input {
        Input::Stdin => vec![(PathBuf::from("-"), Capture::Stdin)],
        Input::Path(p) if p.is_dir() => {
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() => files.push((
                        e.path().to_path_buf(),
                        Capture::File(e.path().to_path_buf()),
                    )),
                    Ok(_) => {}
                    Err(e) => errors.push(Error::Folder {
                        path: p.clone(),
                        source: e.into(),
                    }),
                }
            }
            files
        }
        Input::Path(p) => vec![(p.clone(), Capture::File(p.clone()))],
    }
}

/// A reader that tells the progress hook, if any, the bytes it reads.
struct Progressed<'a, R> {
    inner: R,
    progress: Option<&'a Arc<dyn Progress>>,
}

impl<R: std::io::Read> std::io::Read for Progressed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = self.progress {
            p.advance(n as u64);
        }
        Ok(n)
    }
}

/// The bytes of all input files together (standard input is not counted).
fn total_bytes(sources: &[(PathBuf, Capture)]) -> u64 {
    sources
        .iter()
        .filter_map(|(_, s)| match s {
            Capture::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Capture::Stdin => None,
        })
        .sum()
}
