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

    'inputs: for input in &config.inputs {
        for (name, source) in expand(input, &mut summary.input_errors) {
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
                Source::File(path) => file::read_path(path, &mut on_packet),
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
                break 'inputs;
            }
        }
    }
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
        summary.input_errors.extend(carved.errors.iter().map(|e| e.to_string()));
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
