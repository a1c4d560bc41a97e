//! `flowsplit view DIR...`: `report.html`, one self-contained page (no
//! network fetch: styles, charts and the script are inline) to explore an
//! output folder, a single run's or a merged one. It shows:
//! - the run's facts and totals (from `report.jsonl`, `report.summary.json`
//!   and `report.traffic.json`), and the same charts as `-e netviz`'s page
//!   (inline SVG, from [`crate::output::charts`]);
//! - per-host totals: payload bytes each address sent and received and its
//!   connections, from `report.jsonl`;
//! - a sortable, filterable table of connections (endpoints, bytes each
//!   way, duration, gaps and jumps, how each direction ended, Community
//!   ID), each linking to its flow files;
//! - the HTTP exchanges of every `http.jsonl` (method, host, URI, status,
//!   content type, size, complete or not), each linking to its carved body,
//!   and the TLS facts of the connections that carried them (SNI, ALPN,
//!   decrypted or not and why).
//!
//! The page stays small whatever the run's size: each table holds at most
//! [`ViewOptions::max_rows`] rows — the rows with a problem (bytes missing,
//! an incomplete exchange, TLS not decrypted) while they fill half of it,
//! then the largest — and says how many it left out, linking to the JSONL
//! files that hold them all. Memory is bounded the same way: the reports
//! are read line by line, and hosts are counted in a
//! [`TopCounts`](crate::output::traffic::TopCounts).
//!
//! Must not: change anything in the folder but `report.html`.

mod rows;

use crate::error::Error;
use crate::output::charts;
use crate::output::traffic::{traffic_path, Traffic};
use rows::{Connections, Exchanges, HostTotals};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The page's file name in the folder.
pub const HTML_NAME: &str = "report.html";

/// Rows each table holds at most by default (`--rows`).
pub const DEFAULT_MAX_ROWS: usize = 1000;

/// Hosts the per-host table shows.
pub const HOST_ROWS: usize = 50;

/// What the page holds.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// Rows each table (connections, HTTP exchanges, TLS) holds at most.
    pub max_rows: usize,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

/// What [`view`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ViewSummary {
    /// The page.
    pub path: PathBuf,
    /// Connections in the report.
    pub connections: u64,
    /// Connection rows on the page.
    pub connection_rows: u64,
    /// HTTP exchanges in the indexes.
    pub exchanges: u64,
    /// Exchange rows on the page.
    pub exchange_rows: u64,
}

/// The template: HTML with inline style and script.
const TEMPLATE: &str = include_str!("page.html");

/// Write `dir`'s page to `out` (`dir/report.html` when `None`).
pub fn view(dir: &Path, out: Option<&Path>, opts: &ViewOptions) -> Result<ViewSummary, Error> {
    let report = dir.join(crate::config::DEFAULT_REPORT_NAME);
    if !report.is_file() {
        return Err(Error::Usage(format!(
            "view: {}: no report.jsonl here (give a folder flowsplit wrote, or one flowsplit merge wrote)",
            dir.display()
        )));
    }
    let max_rows = opts.max_rows.max(1);
    let mut conns = Connections::new(max_rows);
    let mut hosts = HostTotals::new();
    rows::read_report(&report, &mut conns, &mut hosts)?;
    let mut exchanges = Exchanges::new(max_rows);
    rows::read_indexes(dir, &mut exchanges)?;
    let traffic_file = traffic_path(&report);
    let traffic = if traffic_file.is_file() {
        Some(Traffic::read(&traffic_file)?)
    } else {
        None
    };
    let summary_file = crate::output::summary::summary_path(&report);
    let run = if summary_file.is_file() {
        Some(crate::output::summary::SummaryRecord::read(&summary_file)?)
    } else {
        None
    };
    let page = Page::build(
        dir,
        &conns,
        &hosts,
        &exchanges,
        traffic.as_ref(),
        run.as_ref(),
    )?;
    let mut env = minijinja::Environment::new();
    env.add_template("page.html", TEMPLATE)
        .map_err(|e| Error::Internal(format!("view: the page's template: {e}")))?;
    let html = env
        .get_template("page.html")
        .and_then(|t| t.render(&page))
        .map_err(|e| Error::Internal(format!("view: rendering the page: {e}")))?;
    let path = out.map_or_else(|| dir.join(HTML_NAME), Path::to_path_buf);
    std::fs::write(&path, html).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(ViewSummary {
        path,
        connections: conns.seen,
        connection_rows: conns.kept_len() as u64,
        exchanges: exchanges.seen,
        exchange_rows: exchanges.kept_len() as u64,
    })
}

/// Everything the template draws.
#[derive(Serialize)]
struct Page {
    title: String,
    facts: Vec<(String, String)>,
    totals: Totals,
    charts: Option<ChartSet>,
    hosts: Vec<rows::HostRow>,
    host_count: u64,
    connections: Vec<rows::ConnRow>,
    connections_left_out: u64,
    exchanges: Vec<rows::ExchangeRow>,
    exchanges_left_out: u64,
    tls: Vec<rows::TlsRow>,
    tls_left_out: u64,
    indexes: Vec<String>,
    max_rows: usize,
}

/// The run's totals, each in an element of its own id on the page.
#[derive(Serialize)]
struct Totals {
    connections: u64,
    directions: u64,
    payload_bytes: u64,
    directions_with_problems: u64,
    exchanges: u64,
    tls_connections: u64,
}

#[derive(Serialize)]
struct ChartSet {
    histogram: String,
    legend: String,
    tops: Vec<TopChart>,
}

#[derive(Serialize)]
struct TopChart {
    svg: String,
    lines: Vec<String>,
}

impl Page {
    fn build(
        dir: &Path,
        conns: &Connections,
        hosts: &HostTotals,
        exchanges: &Exchanges,
        traffic: Option<&Traffic>,
        run: Option<&crate::output::summary::SummaryRecord>,
    ) -> Result<Page, Error> {
        let draw = |e: String| Error::Internal(format!("view: drawing the charts: {e}"));
        let mut facts = Vec::new();
        if let Some(t) = traffic {
            for line in crate::output::netviz::header_lines(t).into_iter().skip(1) {
                if let Some((k, v)) = line.split_once(": ") {
                    facts.push((k.to_string(), v.to_string()));
                }
            }
        }
        if let Some(r) = run {
            facts.push((
                "Run complete".into(),
                if r.complete { "yes" } else { "no" }.into(),
            ));
            if let Some(e) = &r.error {
                facts.push(("Stopped by".into(), e.clone()));
            }
        }
        let charts = match traffic {
            Some(t) => {
                let mut tops = Vec::new();
                // Two charts a row (addresses, then ports), each pair as
                // tall as its longer one, as on the netviz page.
                let all = crate::output::netviz::top_charts(t);
                for pair in all.chunks(2) {
                    let rows = pair.iter().map(|c| c.1.len()).max().unwrap_or(0);
                    let height = charts::top_height(rows);
                    for (title, entries, total) in pair {
                        tops.push(TopChart {
                            svg: charts::top_svg(title, entries, *total, (420, height))
                                .map_err(draw)?,
                            lines: crate::output::netviz::top_lines(entries, *total),
                        });
                    }
                }
                Some(ChartSet {
                    histogram: charts::histogram_svg(t, (900, 220)).map_err(draw)?,
                    legend: charts::legend_svg(t, 900).map_err(draw)?,
                    tops,
                })
            }
            None => None,
        };
        let (tls, tls_seen) = exchanges.tls_rows();
        Ok(Page {
            title: format!("flowsplit: {}", dir.display()),
            facts,
            totals: Totals {
                connections: conns.seen,
                directions: conns.directions,
                payload_bytes: conns.payload_bytes,
                directions_with_problems: conns.directions_with_problems,
                exchanges: exchanges.seen,
                tls_connections: tls_seen,
            },
            charts,
            hosts: hosts.rows(HOST_ROWS),
            host_count: hosts.count(),
            connections: conns.rows(),
            connections_left_out: conns.seen - conns.kept_len() as u64,
            exchanges: exchanges.rows(),
            exchanges_left_out: exchanges.seen - exchanges.kept_len() as u64,
            tls_left_out: tls_seen - tls.len() as u64,
            tls,
            indexes: exchanges.indexes.clone(),
            max_rows: conns.max_rows,
        })
    }
}
