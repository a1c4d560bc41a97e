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
//!
//! The reports are written as directions close, in one order whatever the
//! number of workers; the DFXML report is finished last, once the carved
//! bodies it lists as `byte_run`s are known, and with the post-pass,
//! tcpflow's `http_alert_fd` and `http_cmd` run on every body then.

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
use crate::output::alerts::Runner;
use crate::output::dfxml::{DfxmlOptions, DfxmlReport};
use crate::output::findx::Indexed;
use crate::output::flow_pcap::FlowPcaps;
use crate::output::keep::{KeepCounts, KeepMatching};
use crate::output::report_only::ReportOnly;
use crate::output::summary::{summary_path, SummaryRecord};
use crate::output::traffic::{traffic_path, PacketFacts, PortClass, Traffic};
use crate::output::unprocessed::Unprocessed;
use crate::output::{CloseHook, ConsoleFlows, ConsoleSink, DirectionRecord, Event, EventLog};
use crate::output::{FileSink, FlowFiles, Naming, Template};
use crate::output::{OrderedReport, ReportWriter};
use crate::parallel::{Inline, SegmentSink, Sharded};
use crate::search::counted::Counted;
use crate::search::matcher::Matcher;
use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a run did, for the binary's closing lines. The library prints none
/// of it.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Packets read from all inputs.
    pub packets: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// True once the outputs (report, flow-file folder) were set up: a run
    /// that stopped before, on a usage or setup error, wrote nothing, not
    /// even its summary.
    pub started: bool,
    /// TCP connections seen.
    pub connections: u64,
    /// Directions written.
    pub directions: u64,
    /// Directions written with bytes missing (a gap or a jump).
    pub directions_with_gaps: u64,
    /// Inputs given (files, after folders are walked, and standard input).
    pub inputs: u64,
    /// Inputs none of whose packets could be read: not found, not
    /// readable, not a capture, or damaged before their first packet.
    pub inputs_failed: u64,
    /// The output folder when this run created it (it did not exist
    /// before): removed again when no input could be read.
    pub created_outdir: Option<PathBuf>,
    /// HTTP bodies carved (with `-e http`).
    pub http_bodies: u64,
    /// Errors that did not stop the run, in the order met: inputs that
    /// could not be read (wholly or in part), and bodies that could not be
    /// carved. Each displays as one full line.
    pub input_errors: Vec<Error>,
    /// Live capture: what the kernel counted once capture stopped. `None`
    /// when reading files, or when the run stopped before capturing.
    pub capture_stats: Option<LiveStats>,
    /// The amplification bound the run was held to.
    pub fill_bound: crate::flow::fill::FillBound,
    /// What the directions' zero fill earned and spent of it.
    pub fill: crate::flow::fill::FillAccount,
    /// What `-e http` spent of the bound: range objects' holes (within
    /// what the directions left of it) and decoded bodies' growth.
    pub http_spent: crate::http::HttpSpent,
    /// The traffic summary, kept when a report or `-e netviz` is asked
    /// for (see [`crate::output::traffic`]).
    pub traffic: Option<Traffic>,
    /// With `--grep`: connections reported with a match in either
    /// direction, and without one (with `--only-matching`, those dropped:
    /// no files, no report lines). `None` without `--grep`.
    pub grep: Option<GrepCounts>,
}

/// What `--grep` found over the connections reported (those with bytes in
/// either direction).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GrepCounts {
    /// Connections with a match.
    pub matching: u64,
    /// Connections without one.
    pub not_matching: u64,
    /// True with `--only-matching`: those without one were dropped.
    pub only_matching: bool,
}

/// The account of a live capture, read when capture stops.
#[derive(Debug)]
pub struct LiveStats {
    /// The interface captured on.
    pub interface: String,
    /// The kernel's counters, or why they could not be read.
    pub stats: Result<CaptureStats, Error>,
    /// Packets flowsplit took from the kernel and dropped because no block
    /// of its queue came free in time (only once the decoding side had
    /// gone, or the drain after a stop ran out); see
    /// [`crate::capture::queue`].
    pub dropped_by_flowsplit: u64,
    /// Milliseconds the capture thread waited for a free block of its
    /// queue, leaving the backlog in the kernel's buffer.
    pub waited_ms: u64,
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

/// `options` held to this process's own bound ([`Config::own_fill_bound`]):
/// a shard's decoded bodies grow within its share, as its zero fill does.
fn own_http_options(
    config: &Config,
    options: &crate::http::HttpOptions,
) -> crate::http::HttpOptions {
    crate::http::HttpOptions {
        amplification: config.own_fill_bound(),
        ..options.clone()
    }
}

/// Like [`run`], but returns what the run did even when an error stopped
/// it: the summary as far as the run got (live capture's statistics
/// included, once capture has started) and the error that stopped it, if
/// any.
pub fn run_to_end(config: &Config) -> (RunSummary, Option<Error>) {
    let mut summary = RunSummary {
        fill_bound: config.own_fill_bound(),
        ..RunSummary::default()
    };
    let result = match &config.source {
        Source::Live(live) => run_live(config, live, &mut summary),
        Source::Files(inputs) => run_files(config, inputs, &mut summary),
    };
    let mut fatal = result.err();
    if summary.started && summary.inputs > 0 && summary.inputs_failed == summary.inputs {
        // Nothing could be read: the folder this run made holds nothing
        // but empty reports, and goes again.
        if let Some(dir) = summary.created_outdir.take() {
            let _ = std::fs::remove_dir_all(&dir);
            summary.started = false;
            fatal.get_or_insert(Error::NoInput);
        }
    }
    if let Some(report) = config.report.as_ref().filter(|_| summary.started) {
        let record = SummaryRecord::new(&summary, fatal.as_ref(), config.max_memory);
        let written = record.write(&summary_path(report));
        // The error that stopped the run says more than a summary that
        // could not be written after it.
        if let (Err(e), None) = (written, &fatal) {
            fatal = Some(e);
        }
    }
    if summary.started {
        if let Err(e) = write_traffic(config, &summary) {
            fatal.get_or_insert(e);
        }
    }
    (summary, fatal)
}

/// Write the traffic summary beside the report, and draw `-e netviz`'s
/// page (a shard leaves the page to `flowsplit merge`).
fn write_traffic(config: &Config, summary: &RunSummary) -> Result<(), Error> {
    let Some(traffic) = summary.traffic.as_ref() else {
        return Ok(());
    };
    if let Some(report) = &config.report {
        traffic.write(&traffic_path(report))?;
    }
    match &config.netviz {
        Some(n) if config.shard.is_none() => {
            if n.dump {
                crate::output::netviz::dump(traffic, &mut std::io::stdout().lock())?;
            }
            crate::output::netviz::write_pdf(traffic, &n.path)
        }
        _ => Ok(()),
    }
}

/// The inputs as the netviz page names them: the files given, joined by
/// ", ", or the interface captured on.
fn input_name(source: &Source) -> String {
    match source {
        Source::Files(inputs) => inputs
            .iter()
            .map(|i| match i {
                Input::Stdin => "-".to_string(),
                Input::Path(p) => p.display().to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Source::Live(live) => live.interface.clone().unwrap_or_else(|| "live".into()),
    }
}

/// Say what is wrong with the key logs (`--tls-keylog`) before the
/// capture is read, not after: one that cannot be read stops the run, one
/// with no usable line is a warning (the run goes on, and its TLS
/// connections are reported undecrypted with the reason). In live capture
/// (`live`) a key log that does not exist yet is no error: it is read once
/// the client creating it writes its first secrets.
fn check_keylogs(config: &Config, live: bool) -> Result<(), Error> {
    let Some((_, h)) = config
        .output
        .http_carving()
        .filter(|(_, h)| !h.tls_keylogs.is_empty())
    else {
        return Ok(());
    };
    let log = match crate::tls::KeyLog::load(&h.tls_keylogs) {
        Ok(log) => log,
        Err(Error::Open { source, .. })
            if live && source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    for u in log.unusable {
        config.hooks.notify(&Notice::KeyLogUnusable(u));
    }
    Ok(())
}

/// Read `inputs` in order, then carve HTTP bodies when asked.
fn run_files(config: &Config, inputs: &[Input], summary: &mut RunSummary) -> Result<(), Error> {
    if let Some(user) = &config.user {
        crate::capture::live::drop_privileges(user, config.chroot.as_deref())?;
    }
    let filter = config.filter.as_deref().map(Filter::new).transpose()?;
    check_keylogs(config, false)?;
    // The inputs, then those read only to finish connections (`-R`).
    let mut sources: Vec<(PathBuf, Capture, bool)> = Vec::new();
    for (list, finish) in [(inputs, false), (&config.finish_inputs[..], true)] {
        for input in list {
            let expanded = expand(input, &mut summary.input_errors);
            sources.extend(expanded.into_iter().map(|(n, c)| (n, c, finish)));
        }
    }
    summary.inputs = sources.len() as u64;
    // Inputs that cannot be opened are said before anything is written;
    // when none is left, nothing is.
    sources.retain(|(_, source, _)| match source {
        Capture::File(p) => match file::open(p) {
            Ok(_) => true,
            Err(e) => {
                summary.input_errors.push(e);
                summary.inputs_failed += 1;
                false
            }
        },
        Capture::Stdin => true,
    });
    if sources.is_empty() {
        return Err(Error::NoInput);
    }
    let header = match config.shard {
        Some(spec) => Some(shard_header(config, spec, &sources)?),
        None => None,
    };
    summary.created_outdir = create_outdir(config)?;
    let outputs = Outputs::new(config, false, header.as_ref())?;
    summary.started = true;
    let events = outputs.events;
    let dfxml = outputs.dfxml;
    let http = outputs.http;
    let kept = outputs.kept;
    let report_fresh = outputs.report_fresh;
    let mut path = PacketPath::new(config, filter, outputs.sink);
    let progress = config.hooks.progress.as_ref();
    if let Some(p) = progress {
        p.start(total_bytes(sources.iter().map(|(_, c, _)| c)));
    }
    let mut finishing = false;
    for (name, source, finish) in sources {
        if config.hooks.cancelled() {
            break;
        }
        if finish != finishing {
            finishing = finish;
            path.sink.set_start_new(!finish);
        }
        path.unsupported = None;
        let packets_before = path.packets;
        let mut on_packet = |pkt: &Packet<'_>, block: &InputBlock| path.packet(pkt, Some(block));
        // The TLS key logs of pcapng Decryption Secrets Blocks, for
        // decrypting as carving goes (with -e http only).
        let secrets = config
            .output
            .http_carving()
            .map(|(_, h)| h.capture_secrets.clone());
        let mut on_secrets = |text: &[u8]| {
            if let Some(s) = &secrets {
                s.add(text);
            }
        };
        let result = match &source {
            Capture::File(p) => match file::open(p) {
                Ok(f) => {
                    let input = Progressed {
                        inner: f,
                        progress,
                        cancel: config.hooks.cancel.as_deref(),
                    };
                    file::read_stream_with(p, input, &mut on_packet, &mut on_secrets)
                }
                Err(e) => Err(e),
            },
            Capture::Stdin => file::read_stream_with(
                Path::new("-"),
                std::io::stdin(),
                &mut on_packet,
                &mut on_secrets,
            ),
        };
        if let Some(link) = path.unsupported {
            summary.input_errors.push(Error::UnsupportedLink {
                path: name.clone(),
                linktype: link.to_string(),
            });
        }
        if let Err(e) = result {
            if path.packets == packets_before {
                summary.inputs_failed += 1;
            }
            summary.input_errors.push(e);
        }
        if path.fatal.is_some() {
            break;
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    if let Some((_, h)) = config.output.http_carving() {
        let connections = h.capture_secrets.dropped();
        if connections > 0 {
            config
                .hooks
                .notify(&Notice::CaptureSecretsDropped { connections });
        }
    }
    if let Some(events) = &events {
        // As live capture's last one: before the connections still open close.
        let figures = (path.packets, path.bytes);
        emit_stats(events, figures, None, path.sink.as_ref(), true);
    }
    let finished = path.finish(summary);
    summary.grep = grep_counts(config, kept.as_deref(), summary);
    if let Err(e) = finished {
        // Still a well-formed document, with what was reported.
        let _ = dfxml.as_ref().map(|d| d.finish(&[]));
        return Err(e);
    }
    let mut tls_lines = None;
    if let Some(http) = &http {
        // Carved as the connections closed.
        let mut h = http.lock().unwrap_or_else(PoisonError::into_inner);
        summary.http_bodies = h.bodies;
        summary.http_spent = h.spent;
        summary.input_errors.append(&mut h.errors);
        tls_lines = Some(std::mem::take(&mut h.tls_lines));
    } else if let Some((outdir, http_options)) = config.output.http_carving() {
        let dirs = std::slice::from_ref(outdir);
        let room = config
            .own_fill_bound()
            .limit(summary.fill.credited)
            .saturating_sub(summary.fill.filled);
        let http_options = &own_http_options(config, http_options);
        let carved = match config.shard {
            Some(_) => crate::http::carve_dirs_marked(dirs, http_options),
            None => crate::http::carve_dirs_within(dirs, http_options, room),
        };
        match carved {
            Ok(carved) => {
                summary.http_bodies = carved.bodies;
                summary.http_spent = carved.spent();
                summary.input_errors.extend(carved.errors);
                tls_lines = Some(carved.tls_lines);
            }
            Err(e) => {
                let _ = dfxml.as_ref().map(|d| d.finish(&[]));
                return Err(e);
            }
        }
    }
    if let Some(lines) = tls_lines {
        if let Err(e) = write_tls_lines(config, lines, report_fresh) {
            let _ = dfxml.as_ref().map(|d| d.finish(&[]));
            return Err(e);
        }
    }
    finish_reports(config, dfxml.as_ref(), true)?;
    // Last: the record saying the shard finished, HTTP pass included.
    if let (Some(spec), Some(report)) = (config.shard, &config.report) {
        finish_shard_report(report, spec, summary)?;
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
    if config.shard.is_some() {
        return Err(Error::Usage(
            "--shard splits capture files, not a live capture".into(),
        ));
    }
    // Open the interface first: without the rights to capture nothing else is done.
    let cap = LiveCapture::open(live, config.filter.as_deref())?;
    if let Some(user) = &config.user {
        drop_privileges(user, config.chroot.as_deref())?;
    }
    check_keylogs(config, true)?;
    // From here on a signal only sets the flag: the capture thread sees it
    // within one read timeout, and a second signal during shutdown changes
    // nothing (the default action, which would kill the process mid-write,
    // is never restored).
    // A program that embeds the library and gives a cancel flag (the
    // Python package) keeps its own signal handling and stops the capture
    // through the flag instead.
    let stop = match &config.hooks.cancel {
        Some(cancel) => Arc::clone(cancel),
        None => {
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGHUP,
            ] {
                signal_hook::flag::register(sig, Arc::clone(&stop))
                    .map_err(|e| Error::Internal(format!("cannot handle signal {sig}: {e}")))?;
            }
            stop
        }
    };
    let outputs = Outputs::new(config, true, None)?;
    summary.started = true;
    let http = outputs.http.clone();
    let report_fresh = outputs.report_fresh;
    let events = outputs.events;
    let dfxml = outputs.dfxml;
    let kept = outputs.kept;
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
            if let Some(hook) = &config.hooks.live_stats {
                hook(&capture.counters());
            }
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
    if let Some(hook) = &config.hooks.live_stats {
        hook(&ended.counters);
    }
    if let Some(events) = &events {
        emit_live_stats(events, &ended.counters, path.sink.as_ref(), true);
    }
    summary.capture_stats = Some(LiveStats {
        interface: interface.clone(),
        stats: ended.kernel,
        dropped_by_flowsplit: ended.counters.dropped_by_flowsplit,
        waited_ms: ended.counters.waited_us / 1000,
    });
    if let Some(link) = path.unsupported {
        summary.input_errors.push(Error::UnsupportedLink {
            path: PathBuf::from(&interface),
            linktype: link.to_string(),
        });
    }
    let finished = path.finish(summary);
    summary.grep = grep_counts(config, kept.as_deref(), summary);
    let mut tls = Ok(());
    if let Some(http) = http {
        if let Ok(mut h) = http.lock() {
            summary.http_bodies = h.bodies;
            summary.http_spent = h.spent;
            summary.input_errors.append(&mut h.errors);
            // Live capture too puts the TLS lines in once capture stops.
            let lines = std::mem::take(&mut h.tls_lines);
            tls = write_tls_lines(config, lines, report_fresh);
        }
    }
    let reports = finish_reports(config, dfxml.as_ref(), false);
    finished?;
    tls?;
    reports?;
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
        flowsplit_waited_ms: live.map(|c| c.waited_us / 1000),
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
    /// Keep only this shard's connections (`--shard`).
    shard: Option<crate::shard::ShardSpec>,
    /// Where packets that carried no TCP segment go (`-w`), if anywhere.
    unprocessed: Option<Unprocessed>,
    /// The traffic summary, when kept.
    traffic: Option<Traffic>,
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
            shard: config.shard,
            unprocessed: config.unprocessed.as_deref().map(Unprocessed::new),
            traffic: (config.report.is_some() || config.netviz.is_some()).then(|| {
                let mut t = Traffic::new(config.traffic_address_cap);
                t.netviz = config.netviz.is_some();
                t.input = input_name(&config.source);
                t
            }),
        }
    }

    /// Take one packet; `input` is the shared block its bytes lie in, if any.
    fn packet(&mut self, pkt: &Packet<'_>, input: Option<&InputBlock>) {
        if self.fatal.is_some() {
            return;
        }
        self.packets += 1;
        self.bytes += pkt.data.len() as u64;
        if let Some(w) = self.unprocessed.as_mut() {
            if let Err(e) = w.seen(pkt.link) {
                self.fatal = Some(e);
                return;
            }
        }
        if let Some(f) = self.filter.as_mut() {
            if !f.matches(pkt) {
                return;
            }
        }
        let skip = match self.decoder.decode(pkt) {
            Ok(seg) if self.shard.is_some_and(|s| !s.keeps(&seg.tuple)) => {
                // Another shard's: nothing of it is kept, but capture time
                // moves on at this packet as in a single run, so idle and
                // lingering connections close at the same packet.
                if let Err(e) = self.sink.tick(seg.ts, self.packets) {
                    self.fatal = Some(e);
                }
                return;
            }
            Ok(seg) => {
                if let Some(t) = self.traffic.as_mut() {
                    t.packet(&PacketFacts {
                        ts: pkt.ts,
                        wire_len: pkt.orig_len.max(pkt.data.len() as u32),
                        src: seg.tuple.src,
                        dst: seg.tuple.dst,
                        tcp_ports: Some((seg.tuple.sport, seg.tuple.dport)),
                        class: PortClass::of_tcp(seg.tuple.sport, seg.tuple.dport),
                    });
                }
                if let Err(e) = self.sink.segment(&seg, self.packets, input) {
                    self.fatal = Some(e);
                }
                return;
            }
            Err(skip) => skip,
        };
        if let Some(t) = self.traffic.as_mut() {
            // IP packets no segment came of are counted once over the
            // shards: by shard 0.
            if let Some(ip) = self
                .decoder
                .last_not_tcp()
                .filter(|_| self.shard.is_none_or(|s| s.index == 0))
            {
                t.packet(&PacketFacts {
                    ts: pkt.ts,
                    wire_len: pkt.orig_len.max(pkt.data.len() as u32),
                    src: ip.src,
                    dst: ip.dst,
                    tcp_ports: None,
                    class: match ip.proto {
                        6 => PortClass::OtherTcp,
                        17 => PortClass::Udp,
                        _ => PortClass::Other,
                    },
                });
            }
        }
        if let crate::decode::Skip::UnsupportedLink(_) = skip {
            self.unsupported.get_or_insert(pkt.link);
        }
        // As tcpflow's -w: frames that are not IP are not written, and a
        // fragment held for reassembly is being processed.
        if !matches!(
            skip,
            crate::decode::Skip::FragmentHeld | crate::decode::Skip::NotIp
        ) {
            if let Some(w) = self.unprocessed.as_mut() {
                if let Err(e) = w.write(pkt) {
                    self.fatal = Some(e);
                }
            }
        }
    }

    /// Close every connection and write the rest of the report.
    fn finish(self, summary: &mut RunSummary) -> Result<(), Error> {
        summary.packets = self.packets;
        summary.bytes = self.bytes;
        summary.traffic = self.traffic;
        if let Some(w) = self.unprocessed {
            if let Err(e) = w.finish() {
                summary.input_errors.push(e);
            }
        }
        let finished = self.sink.finish();
        if let Ok(stats) = &finished {
            summary.connections = stats.connections;
            summary.directions = stats.directions;
            summary.directions_with_gaps = stats.directions_with_gaps;
            summary.fill = stats.fill;
        }
        // A worker's own error says more than the reader's note that it stopped.
        finished?;
        match self.fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What `--grep` counted, read once every connection is reported.
/// The directions dropped are taken out of the directions reported.
fn grep_counts(
    config: &Config,
    kept: Option<&KeepCounts>,
    summary: &mut RunSummary,
) -> Option<GrepCounts> {
    let (grep, kept) = (config.grep.as_ref()?, kept?);
    let (directions, with_gaps) = kept.dropped_directions();
    summary.directions = summary.directions.saturating_sub(directions);
    summary.directions_with_gaps = summary.directions_with_gaps.saturating_sub(with_gaps);
    Some(GrepCounts {
        matching: kept.matching(),
        not_matching: kept.not_matching(),
        only_matching: grep.only_matching,
    })
}

/// What HTTP carving as connections close did, read back after the run.
#[derive(Debug, Default)]
struct HttpTally {
    bodies: u64,
    /// What carving spent of the amplification bound.
    spent: crate::http::HttpSpent,
    errors: Vec<Error>,
    /// The first of tcpflow's HTTP hooks that failed (ends the run).
    hook_error: Option<Error>,
    /// The report's TLS lines, once every connection is carved.
    tls_lines: crate::http::tls_lines::TlsLines,
}

/// The flow tables and everything behind them, built from the configuration.
struct Outputs {
    sink: Box<dyn SegmentSink>,
    /// What carving as connections close did (`None`: not carving so).
    http: Option<Arc<Mutex<HttpTally>>>,
    /// The event stream, if any (live capture writes its `stats` events there).
    events: Option<EventLog>,
    /// The DFXML report, finished once HTTP carving is done.
    dfxml: Option<DfxmlReport>,
    /// What `--grep` counted, once the report is finished.
    kept: Option<Arc<KeepCounts>>,
    /// True when the report held no earlier run's lines when opened (so
    /// no TLS lines either), or there is none.
    report_fresh: bool,
}

impl Outputs {
    /// Flow tables writing files (or to the console), the ordered report,
    /// the event stream and, with `-e http`, carving each connection as it
    /// closes (live, and from files into a folder without earlier flows).
    /// `live` makes every output flush promptly.
    /// `shard` is the header of a shard's report (`--shard`).
    fn new(
        config: &Config,
        live: bool,
        shard: Option<&crate::shard::Header>,
    ) -> Result<Outputs, Error> {
        let template = Template::parse(&config.template)?;
        // Before any output is opened: a pattern that does not compile is
        // a usage error, with nothing written.
        let grep = grep_setup(config)?;
        let events = config
            .events
            .as_ref()
            .map(|t| EventLog::create(t, live))
            .transpose()?;
        let report = config
            .report
            .as_deref()
            .map(ReportWriter::open)
            .transpose()?;
        if let (Some(writer), Some(path)) = (&report, &config.report) {
            if writer.has_earlier_lines() && shard.is_some() {
                // A shard's files must be a single run's: a second run into
                // the folder would name its files c1 and double the report.
                return Err(Error::Usage(format!(
                    "{} already holds a shard's report: run each shard into a new or empty folder",
                    path.display()
                )));
            }
            if writer.has_earlier_lines() {
                config
                    .hooks
                    .notify(&crate::hooks::Notice::ReportAppended { path: path.clone() });
            }
        }
        let report_fresh = report.as_ref().is_none_or(|w| !w.has_earlier_lines());
        let report = match (report, shard) {
            (Some(w), Some(header)) => Some(w.for_shard(header)?),
            (report, _) => report,
        };
        let files = config.output.files();
        let dfxml = match &config.dfxml {
            // A shard's is written by flowsplit merge (see shard_header).
            Some(_) if shard.is_some() => None,
            Some(path) => Some(DfxmlReport::create(
                path,
                DfxmlOptions {
                    outdir: files.filter(|f| f.flow_files).map(|f| f.outdir.clone()),
                    byte_runs: config.dfxml_byte_runs && config.output.http_carving().is_some(),
                },
            )?),
            None => None,
        };
        // tcpflow's `open`/`close` alerts and `tcp_cmd`, for flow files only.
        let tcp_hooks = files
            .filter(|f| f.flow_files && !config.file_hooks.tcp.is_empty())
            .map(|f| f.outdir.clone());
        let open_alert = tcp_hooks.as_ref().and_then(|outdir| {
            let alert = config.file_hooks.tcp.alert.clone()?;
            Some((alert, outdir.clone()))
        });
        let file_hooks = tcp_hooks.map(|outdir| {
            let runner = Runner::new(config.file_hooks.tcp.clone(), "tcp_cmd");
            (runner, outdir)
        });
        let mut http = None;
        // Carved as connections close: always live, and from files when
        // the folder holds no earlier flows (the index then covers this
        // run's connections, as the post-pass's would; otherwise the
        // post-pass carves the whole folder after the run).
        let carving = config
            .output
            .http_carving()
            .filter(|(outdir, _)| live || !crate::http::holds_flow_files(outdir));
        let hook: Option<Box<dyn CloseHook>> = if let Some((outdir, http_options)) = carving {
            let tally = Arc::new(Mutex::new(HttpTally::default()));
            http = Some(tally.clone());
            let mut carver = crate::http::inline::InlineCarver::new(
                outdir,
                own_http_options(config, http_options),
            );
            if config.hooks.http_carved.is_some() {
                carver = carver.handing_over_lines();
            }
            let exchanges = config.hooks.http_carved.clone();
            let to_hook = move |c: &crate::http::inline::CarvedConnection| {
                if let Some(hook) = &exchanges {
                    for (folder, line) in &c.index_lines {
                        hook(folder, line);
                    }
                }
            };
            let on_carved: crate::http::pool::OnCarved = if live {
                let mut bodies = LiveBodies {
                    events: events.clone(),
                    outdir: outdir.clone(),
                    hooks: (!config.file_hooks.http.is_empty())
                        .then(|| Runner::new(config.file_hooks.http.clone(), "http_cmd")),
                    tally: tally.clone(),
                };
                Box::new(move |c| {
                    bodies.carved(c);
                    to_hook(c);
                })
            } else {
                // tcpflow's HTTP hooks run after the run, in name order.
                Box::new(to_hook)
            };
            Some(Box::new(InlineHttp {
                pool: Some(crate::http::pool::CarvePool::new(
                    carver,
                    carving_threads(config.threads),
                    if live { 1 } else { crate::http::pool::BATCH },
                    on_carved,
                )),
                tally,
                marked: shard.is_some(),
                bound: config.own_fill_bound(),
                spent: None,
            }))
        } else {
            None
        };
        let report = OrderedReport::new(report)
            .with_keep(grep.as_ref().map(|g| g.keep()).transpose()?)
            .with_events(events.clone())
            .with_hook(hook)
            .with_closed(config.hooks.closed.clone())
            .with_dfxml(dfxml.clone())
            .with_file_hooks(file_hooks)
            .flush_on_release(live);
        // Console output must come out in one order: one flow table.
        let threads = if matches!(config.output, Output::Console(_) | Output::Grep(_)) {
            1
        } else {
            config.threads.clamp(1, BUDGET_SHARDS)
        };
        let table_config = TableConfig {
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections,
            memory_per_shard: crate::config::memory_per_shard(config.max_memory),
            fill: config.own_fill_bound(),
            limits: DirectionLimits {
                max_pending: config.max_pending_per_direction,
                max_pending_total: (config.max_pending_total / BUDGET_SHARDS).max(1),
                max_seek: config.max_seek,
            },
        };
        let naming = Naming {
            template,
            events: events.clone(),
            open_alert,
        };
        let sink = match &config.output {
            Output::Grep(opts) => {
                let matcher = crate::search::matcher::Matcher::new(&opts.patterns, &opts.pattern)
                    .map_err(|e| Error::Usage(format!("grep: {e}")))?;
                let out = Box::new(std::io::BufWriter::new(std::io::stdout()));
                let consumer =
                    crate::search::GrepFlows::new(Arc::new(matcher), opts.clone(), naming, out);
                tables_behind(vec![FlowTable::new(table_config, consumer)], report, false)
            }
            Output::Console(opts) => {
                let console = ConsoleSink::stdout(opts.clone(), live)?;
                let consumer =
                    ConsoleFlows::new(console, naming, config.max_bytes).with_md5(config.md5);
                tables_behind(vec![FlowTable::new(table_config, consumer)], report, false)
            }
            Output::Files(files) if !files.flow_files => {
                let consumer = || ReportOnly::new(naming.clone(), config.max_bytes, config.md5);
                match grep.as_ref() {
                    Some(g) => {
                        let tables = (0..threads)
                            .map(|_| {
                                let consumer = Counted::new(consumer(), g.matcher.clone());
                                FlowTable::new(table_config.clone(), consumer)
                            })
                            .collect();
                        tables_behind(tables, report, false)
                    }
                    None => {
                        let tables = (0..threads)
                            .map(|_| FlowTable::new(table_config.clone(), consumer()))
                            .collect();
                        tables_behind(tables, report, false)
                    }
                }
            }
            Output::Files(files) => {
                let (outdir, max) = (&files.outdir, config.max_bytes);
                let flow_files =
                    |sink| FlowFiles::new(sink, naming.clone(), max).with_md5(config.md5);
                let tables = FileTables {
                    files,
                    threads,
                    config: &table_config,
                    matcher: grep.as_ref().map(|g| g.matcher.clone()),
                };
                // -I and -K are consumers in front of the flow files.
                match (files.findx, files.pcaps) {
                    (false, false) => tables.build(report, flow_files)?,
                    (true, false) => {
                        tables.build(report, |s| Indexed::new(flow_files(s), outdir, max))?
                    }
                    (false, true) => tables.build(report, |s| {
                        FlowPcaps::new(flow_files(s), outdir, naming.clone())
                    })?,
                    (true, true) => tables.build(report, |s| {
                        let indexed = Indexed::new(flow_files(s), outdir, max);
                        FlowPcaps::new(indexed, outdir, naming.clone())
                    })?,
                }
            }
        };
        Ok(Outputs {
            sink,
            http,
            events,
            dfxml,
            kept: grep.map(|g| g.counts),
            report_fresh,
        })
    }
}

/// `--grep` on a normal run, set up: the patterns compiled once for every
/// table, and what the report counts.
struct GrepSetup {
    matcher: Arc<Matcher>,
    counts: Arc<KeepCounts>,
    /// Where the files of connections dropped are (`--only-matching`
    /// with flow files), and the files beside each flow file.
    remove_from: Option<(PathBuf, Vec<&'static str>)>,
    only_matching: bool,
}

impl GrepSetup {
    /// The report's decision on each connection.
    fn keep(&self) -> Result<KeepMatching, Error> {
        if !self.only_matching {
            return Ok(KeepMatching::counting(self.counts.clone()));
        }
        let files = match &self.remove_from {
            Some((outdir, _)) => Some(FileSink::new(outdir, 1)?),
            None => None,
        };
        let companions = self
            .remove_from
            .as_ref()
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        Ok(KeepMatching::only_matching(
            files,
            companions,
            self.counts.clone(),
        ))
    }
}

/// Check `--grep` against the rest of the configuration and compile its
/// patterns; `None` without it.
fn grep_setup(config: &Config) -> Result<Option<GrepSetup>, Error> {
    let Some(grep) = &config.grep else {
        return Ok(None);
    };
    let files = match &config.output {
        Output::Files(files) => files,
        Output::Console(_) => {
            return Err(Error::Usage(
                "--grep keeps flow files and report lines: it cannot be used with -c, -C or -D".into(),
            ))
        }
        Output::Grep(_) => {
            return Err(Error::Usage(
                "--grep is for a run that writes flow files: flowsplit grep takes its patterns before the capture".into(),
            ))
        }
    };
    if grep.only_matching && files.pcaps {
        return Err(Error::Usage(
            "--only-matching cannot be used with -K: a direction without bytes has a pcap file but no report line to decide it by".into(),
        ));
    }
    let matcher = Matcher::new(&grep.patterns, &grep.pattern)
        .map_err(|e| Error::Usage(format!("--grep: {e}")))?;
    let companions = if files.findx {
        vec![".findx"]
    } else {
        Vec::new()
    };
    Ok(Some(GrepSetup {
        matcher: Arc::new(matcher),
        counts: Arc::default(),
        remove_from: files.flow_files.then(|| (files.outdir.clone(), companions)),
        only_matching: grep.only_matching,
    }))
}

/// The flow tables of flow-file output: one per thread, each with its own
/// share of the open files.
struct FileTables<'a> {
    files: &'a crate::config::FileOutput,
    threads: usize,
    config: &'a TableConfig,
    /// `--grep`: each table's consumer searched in front ([`Counted`]).
    matcher: Option<Arc<Matcher>>,
}

impl FileTables<'_> {
    /// The tables, each with the consumer `make` builds over its file sink
    /// (behind the search, with `--grep`), behind `report`.
    fn build<C>(
        &self,
        report: OrderedReport,
        make: impl Fn(FileSink) -> C,
    ) -> Result<Box<dyn SegmentSink>, Error>
    where
        C: StreamConsumer + Send + 'static,
        C::Stream: Send,
    {
        match &self.matcher {
            Some(m) => self.build_with(report, |s| Counted::new(make(s), m.clone())),
            None => self.build_with(report, make),
        }
    }

    fn build_with<C>(
        &self,
        report: OrderedReport,
        make: impl Fn(FileSink) -> C,
    ) -> Result<Box<dyn SegmentSink>, Error>
    where
        C: StreamConsumer + Send + 'static,
        C::Stream: Send,
    {
        let mut tables = Vec::with_capacity(self.threads);
        for _ in 0..self.threads {
            let open = (self.files.max_open_files / self.threads).max(1);
            let sink = FileSink::new(&self.files.outdir, open)?;
            tables.push(FlowTable::new(self.config.clone(), make(sink)));
        }
        Ok(tables_behind(tables, report, self.files.pcaps))
    }
}

/// One flow table in this thread, or one per worker thread (passing each
/// segment's frame on with `keep_frames`).
fn tables_behind<C>(
    mut tables: Vec<FlowTable<C>>,
    report: OrderedReport,
    keep_frames: bool,
) -> Box<dyn SegmentSink>
where
    C: StreamConsumer + Send + 'static,
    C::Stream: Send,
{
    if tables.len() == 1 {
        if let Some(table) = tables.pop() {
            return Box::new(Inline::new(table, report));
        }
    }
    Box::new(Sharded::new(tables, report).keep_frames(keep_frames))
}

/// Threads carving connections as they close, for `-j threads`: twice as
/// many, so that carving (mostly creating, writing and reading files, where
/// a thread often waits in the kernel) keeps up with reassembly instead of
/// holding it back. On the 80,000-connection benchmark capture at half
/// length, two threads took 5.4–5.8 s, four 5.2–5.4 s (`-j 2`, tmpfs).
fn carving_threads(threads: usize) -> usize {
    threads.max(1) * 2
}

/// `-e http` as connections close: hand each to the carving pool, and
/// write the index once every connection is carved.
struct InlineHttp {
    pool: Option<crate::http::pool::CarvePool>,
    tally: Arc<Mutex<HttpTally>>,
    /// A shard's index (`--shard`), with the marks `flowsplit merge` orders by.
    marked: bool,
    /// The run's amplification bound.
    bound: crate::flow::fill::FillBound,
    /// What the flows spent of it, once every connection closed.
    spent: Option<crate::flow::fill::FillAccount>,
}

impl InlineHttp {
    /// What range objects may still fill: the bound on the bytes the flows
    /// counted (their segments' payload plus headers, at most the captured
    /// bytes) less what the flows filled.
    fn object_fill(&self) -> u64 {
        let spent = self.spent.unwrap_or_default();
        self.bound
            .limit(spent.credited)
            .saturating_sub(spent.filled)
    }
}

impl CloseHook for InlineHttp {
    fn connection_closed(&mut self, records: &[DirectionRecord]) -> Result<(), Error> {
        // A jump (a hole longer than -m, not filled) breaks a body as a
        // gap does: it goes in as a hole of no length at its offset.
        let flows = records
            .iter()
            .map(|r| crate::http::pool::OwnedFlow {
                file: r.file.clone(),
                gaps: crate::http::index::with_jumps(&r.gaps, &r.jumps),
                connection: Some(r.connection),
            })
            .collect();
        if let Some(pool) = self.pool.as_mut() {
            pool.submit(flows);
        }
        Ok(())
    }

    fn fill_spent(&mut self, spent: &crate::flow::fill::FillAccount) {
        self.spent = Some(*spent);
    }

    fn finish(&mut self) -> Result<(), Error> {
        let Some(pool) = self.pool.take() else {
            return Ok(());
        };
        let carved = pool.finish(self.marked, self.object_fill());
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        tally.bodies = carved.bodies;
        tally.spent = carved.spent();
        tally.errors.extend(carved.errors);
        tally.tls_lines = carved.tls_lines;
        match tally.hook_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Live capture's account of each carved body: its `http_body` event, and
/// tcpflow's `http_alert_fd`/`http_cmd` hooks.
struct LiveBodies {
    events: Option<EventLog>,
    outdir: PathBuf,
    hooks: Option<Runner>,
    tally: Arc<Mutex<HttpTally>>,
}

impl LiveBodies {
    fn carved(&mut self, carved: &crate::http::inline::CarvedConnection) {
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
        if let Some(runner) = self.hooks.as_mut() {
            for b in &carved.bodies {
                if let Err(e) = body_completed(runner, &self.outdir, &b.file) {
                    let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
                    tally.hook_error.get_or_insert(e);
                }
            }
        }
    }
}

/// tcpflow's hooks for one carved body, `file` relative to `outdir`: its
/// `open` and `close` alert lines (tcpflow writes `open` when the body's
/// headers are read; here both come once the body is written), then
/// `http_cmd`.
fn body_completed(runner: &mut Runner, outdir: &Path, file: &str) -> Result<(), Error> {
    let path = crate::output::alerts::tcpflow_path(outdir, file);
    runner.opened(&path)?;
    runner.completed(&path)
}

/// Put the TLS lines carving gathered into the report, after every
/// direction line (see [`crate::output::tls_record`]): appended to a report
/// this run wrote from empty (`fresh`), and otherwise in place of the TLS
/// lines an earlier carving of the folder left there (carving covered the
/// whole folder again).
fn write_tls_lines(
    config: &Config,
    lines: crate::http::tls_lines::TlsLines,
    fresh: bool,
) -> Result<(), Error> {
    let (Some(report), Some((outdir, _))) = (&config.report, config.output.http_carving()) else {
        return Ok(());
    };
    if fresh && lines.is_empty() {
        return Ok(());
    }
    let target = crate::output::tls_record::TlsTarget {
        root: outdir.clone(),
        report: report.clone(),
        fresh,
    };
    lines.write(vec![target]).map(|_| ())
}

/// Finish the DFXML report (with the `byte_run`s of the bodies carved in
/// `outdir`, when carving) and, in a run that carved after its last input,
/// run tcpflow's HTTP hooks on every body.
fn finish_reports(
    config: &Config,
    dfxml: Option<&DfxmlReport>,
    post_pass_hooks: bool,
) -> Result<(), Error> {
    let carving = config.output.http_carving().map(|(outdir, _)| outdir);
    let hooks = &config.file_hooks.http;
    let runs = match carving {
        Some(outdir)
            if (dfxml.is_some() && config.dfxml_byte_runs)
                || (post_pass_hooks && !hooks.is_empty()) =>
        {
            crate::output::dfxml::carved_bodies(outdir)?
        }
        _ => Vec::new(),
    };
    if let (Some(outdir), true) = (carving, post_pass_hooks && !hooks.is_empty()) {
        let mut runner = Runner::new(hooks.clone(), "http_cmd");
        for run in &runs {
            body_completed(&mut runner, outdir, &run.file)?;
        }
        runner.finish();
    }
    match dfxml {
        Some(d) => d.finish(&runs),
        None => Ok(()),
    }
}

/// One capture to read.
enum Capture {
    File(PathBuf),
    Stdin,
}

/// The captures an input names: itself, or a folder's files in name order.
/// Create the output folder (with its parents) before anything is written
/// into it, so that a folder that cannot be made is the error, named as
/// such; returns the folder when it did not exist before.
fn create_outdir(config: &Config) -> Result<Option<PathBuf>, Error> {
    let Some(files) = config.output.files() else {
        return Ok(None);
    };
    let dir = &files.outdir;
    if dir.is_dir() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::OutputFolder {
        path: dir.clone(),
        source,
    })?;
    Ok(Some(dir.clone()))
}

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
            if files.is_empty() {
                errors.push(Error::NoCaptureInFolder { path: p.clone() });
            }
            files
        }
        Input::Path(p) => vec![(p.clone(), Capture::File(p.clone()))],
    }
}

/// The first record of shard `spec`'s report: the shard, the split and
/// the identity of `sources` and of the settings that shape the output.
/// Every shard must read the same files, so standard input is refused.
fn shard_header(
    config: &Config,
    spec: crate::shard::ShardSpec,
    sources: &[(PathBuf, Capture, bool)],
) -> Result<crate::shard::Header, Error> {
    let mut files = Vec::with_capacity(sources.len());
    for (_, source, _) in sources {
        match source {
            Capture::File(p) => files.push(p.as_path()),
            Capture::Stdin => {
                return Err(Error::Usage(
                    "--shard: every shard must read the same capture files, not standard input"
                        .into(),
                ))
            }
        }
    }
    // The DFXML report the single run writes: its file name, which
    // flowsplit merge writes into the merged folder (the CLI gives a
    // shard no other), and what it holds.
    let dfxml = config.dfxml.as_ref().map(|path| crate::shard::DfxmlWish {
        file: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        filenames: config.output.files().is_some_and(|f| f.flow_files),
        byte_runs: config.dfxml_byte_runs && config.output.http_carving().is_some(),
    });
    let settings = format!(
        "{:?}",
        (
            &config.filter,
            &config.template,
            config.max_bytes,
            config.idle_timeout,
            config.max_pending_per_direction,
            config.max_pending_total,
            config.max_connections,
            (config.max_seek, config.fill_bound),
            sources.iter().filter(|(_, _, finish)| *finish).count(),
            // Not --max-memory: its default follows the machine's memory,
            // and the limits are each shard's own anyway (flowsplit(1)).
            &config.udp_tunnels,
            config.output.http_carving().map(|(_, o)| o),
            &dfxml,
        )
    );
    Ok(crate::shard::Header {
        flowsplit_shard: spec.index,
        shards: spec.count,
        inputs: crate::shard::identity(&settings, &files)?,
        flowsplit: env!("CARGO_PKG_VERSION").to_string(),
        dfxml,
        http_max_object: config
            .output
            .http_carving()
            .map(|(_, o)| o.max_decoded_bytes),
    })
}

/// Append the last record of shard `spec`'s report at `path`, which says
/// the shard finished (see [`crate::shard::Done`]).
fn finish_shard_report(
    path: &Path,
    spec: crate::shard::ShardSpec,
    summary: &RunSummary,
) -> Result<(), Error> {
    use std::io::Write;
    let wrap = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let done = crate::shard::Done {
        shard_done: spec.index,
        packets: summary.packets,
        directions: summary.directions,
    };
    let mut line = serde_json::to_vec(&done).map_err(|e| wrap(e.into()))?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(wrap)?;
    f.write_all(&line).map_err(wrap)
}

/// A reader that tells the progress hook, if any, the bytes it reads.
/// It also ends the input early, as at its end, once `cancel` is set.
struct Progressed<'a, R> {
    inner: R,
    progress: Option<&'a Arc<dyn Progress>>,
    cancel: Option<&'a AtomicBool>,
}

impl<R: std::io::Read> std::io::Read for Progressed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if let Some(p) = self.progress {
            p.advance(n as u64);
        }
        Ok(n)
    }
}

/// The bytes of all input files together (standard input is not counted).
fn total_bytes<'a>(sources: impl Iterator<Item = &'a Capture>) -> u64 {
    sources
        .filter_map(|s| match s {
            Capture::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Capture::Stdin => None,
        })
        .sum()
}
