//! One run: capture → decode → flow → output, then the HTTP post-pass.
//!
//! Inputs are read in the order given (folders walked in name order) with
//! one flow table across all of them, so a connection split over rotated
//! files stays one flow. A bad input is reported and skipped; everything
//! read before its damage is kept.

use crate::capture::{file, LinkType, Packet};
use crate::config::{Config, Input};
use crate::decode::{Decoder, FragmentLimits};
use crate::error::Error;
use crate::flow::{DirectionLimits, FlowTable, TableConfig};
use crate::output::{FileSink, Template};
use crate::output::{OrderedReport, ReportWriter};
use crate::parallel::{Inline, SegmentSink, Sharded};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a run did, for the binary's closing line.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// Packets read from all inputs.
    pub packets: u64,
    /// TCP connections seen.
    pub connections: u64,
    /// Directions written.
    pub directions: u64,
    /// HTTP bodies carved (with `-e http`).
    pub http_bodies: u64,
    /// Errors met on inputs that did not stop the run (each already a full message).
    pub input_errors: Vec<String>,
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
            .ok_or_else(|| Error::Usage("filter".into()))
    }

    fn matches(&mut self, pkt: &Packet<'_>) -> bool {
        match self.program(pkt.link) {
            Ok(p) => p.filter(pkt.data),
            Err(_) => false,
        }
    }
}

/// Read every input of `config`, reassemble and write the flows, write the
/// report, and carve HTTP bodies when asked.
pub fn run(config: &Config) -> Result<RunSummary, Error> {
    let template = Template::parse(&config.template)?;
    let mut filter = config.filter.as_deref().map(Filter::new).transpose()?;
    let report = config
        .report
        .as_deref()
        .map(ReportWriter::create)
        .transpose()?;
    let report = OrderedReport::new(report);
    let table_config = TableConfig {
        idle_timeout: config.idle_timeout,
        limits: DirectionLimits {
            max_bytes: config.max_bytes,
            max_pending: config.max_pending_per_direction,
            max_pending_total: (config.max_pending_total / config.threads.max(1)).max(1),
        },
    };
    let threads = config.threads.max(1);
    let mut tables = Vec::with_capacity(threads);
    for _ in 0..threads {
        let sink = FileSink::new(&config.outdir, (config.max_open_files / threads).max(1))?;
        tables.push(FlowTable::new(table_config.clone(), template.clone(), sink));
    }
    let mut sink: Box<dyn SegmentSink> = if threads == 1 {
        let table = tables
            .pop()
            .ok_or_else(|| Error::Usage("no flow table".into()))?;
        Box::new(Inline::new(table, report))
    } else {
        Box::new(Sharded::new(tables, report))
    };
    let mut decoder = Decoder::new(FragmentLimits::default());
    let mut summary = RunSummary::default();
    let mut fatal: Option<Error> = None;

    let sources: Vec<(PathBuf, Source)> = config
        .inputs
        .iter()
        .flat_map(|input| expand(input, &mut summary.input_errors))
        .collect();
    let bar = progress_bar(config.progress, &sources);
    for (name, source) in sources {
        {
            let mut unsupported: Option<LinkType> = None;
            let mut on_packet = |pkt: &Packet<'_>| {
                if fatal.is_some() {
                    return;
                }
                summary.packets += 1;
                if let Some(f) = filter.as_mut() {
                    if !f.matches(pkt) {
                        return;
                    }
                }
                match decoder.decode(pkt) {
                    Ok(seg) => {
                        if let Err(e) = sink.segment(&seg, summary.packets) {
                            fatal = Some(e);
                        }
                    }
                    Err(crate::decode::Skip::UnsupportedLink(_)) => {
                        unsupported.get_or_insert(pkt.link);
                    }
                    Err(_) => {}
                }
            };
            let result = match &source {
                Source::File(path) => match file::open(path) {
                    Ok(f) => file::read_stream(
                        path,
                        Progressed {
                            inner: f,
                            bar: bar.clone(),
                        },
                        &mut on_packet,
                    ),
                    Err(e) => Err(e),
                },
                Source::Stdin => {
                    file::read_stream(Path::new("-"), std::io::stdin(), &mut on_packet)
                }
            };
            if let Some(link) = unsupported {
                summary.input_errors.push(
                    Error::UnsupportedLink {
                        path: name.clone(),
                        linktype: link.to_string(),
                    }
                    .to_string(),
                );
            }
            if let Err(e) = result {
                summary.input_errors.push(e.to_string());
            }
            if fatal.is_some() {
                break;
            }
        }
    }
    bar.finish_and_clear();
    let finished = sink.finish();
    if let Ok(stats) = &finished {
        summary.connections = stats.connections;
        summary.directions = stats.directions;
    }
    // A worker's own error says more than the reader's note that it stopped.
    finished?;
    if let Some(e) = fatal {
        return Err(e);
    }
    if config.http {
        let carved =
            crate::http::carve_dirs(std::slice::from_ref(&config.outdir), &config.http_options)?;
        summary.http_bodies = carved.bodies;
        summary
            .input_errors
            .extend(carved.errors.iter().map(|e| e.to_string()));
    }
    Ok(summary)
}

/// One capture to read.
enum Source {
    File(PathBuf),
    Stdin,
}

/// The captures an input names: itself, or a folder's files in name order.
fn expand(input: &Input, errors: &mut Vec<String>) -> Vec<(PathBuf, Source)> {
    match input {
        Input::Stdin => vec![(PathBuf::from("-"), Source::Stdin)],
        Input::Path(p) if p.is_dir() => {
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(p).sort_by_file_name() {
                match entry {
                    Ok(e) if e.file_type().is_file() => {
                        files.push((e.path().to_path_buf(), Source::File(e.path().to_path_buf())))
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(format!("{}: {e}", p.display())),
                }
            }
            files
        }
        Input::Path(p) => vec![(p.clone(), Source::File(p.clone()))],
    }
}

/// A reader that advances the progress bar by the bytes it reads.
struct Progressed<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: std::io::Read> std::io::Read for Progressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// A bar counting bytes of all input files, or a hidden one.
fn progress_bar(shown: bool, sources: &[(PathBuf, Source)]) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    let total: u64 = sources
        .iter()
        .filter_map(|(_, s)| match s {
            Source::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Source::Stdin => None,
        })
        .sum();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
