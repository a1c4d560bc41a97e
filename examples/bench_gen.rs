//! The benchmark's capture generator and checker (issue 5; `bench/run.sh`
//! drives it). The traffic model lives in `flowsplit_synth::bench`.
//!
//! ```text
//! cargo run --release --example bench_gen -- --shape small -o /tmp/small.pcap
//! cargo run --release --example bench_gen -- --shape large --scale 2 -o /tmp/large2.pcap
//! cargo run --release --example bench_gen -- --concurrent-million -o /tmp/million.pcap
//! cargo run --release --example bench_gen -- --shape open-4096 -o /tmp/open4096.pcap
//! cargo run --release --example bench_gen -- --shape open-200k -o /tmp/open200k.pcap
//! cargo run --release --example bench_gen -- --connections 200 --concurrency 20 -o /tmp/t.pcap
//! cargo run --release --example bench_gen -- --connections 5000 --loopback -o /tmp/lo.pcap
//! cargo run --release --example bench_gen -- verify /tmp/t.pcap.expected.tsv OUTDIR [--report OUTDIR/report.jsonl]
//! cargo run --release --example bench_gen -- verify --http-bodies /tmp/t.pcap.expected.tsv OUTDIR_OF_E_HTTP
//! ```
//!
//! Generating writes `FILE` and `FILE.expected.tsv` (one line per direction:
//! tcpflow file name, byte count, sha256), each first under a `.part` name
//! renamed into place at the end, so a file with the final name is complete.
//! `verify` exits 0 when the folder holds exactly the expected files with the
//! expected contents (and the report agrees), 1 when it does not, 2 on error.
//! With `--http-bodies` (an output folder of `-e http`), the HTTP body files
//! of expected flows and `http.jsonl` are counted and otherwise left alone:
//! the expected list holds the flows only, not the bodies.

use clap::{Parser, Subcommand, ValueEnum};
use flowsplit_synth::bench::{self, BenchParams, Shape};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Generate a reproducible benchmark capture of interleaved HTTP/1.1 connections.
#[derive(Debug, Parser)]
#[command(name = "bench_gen", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Write the capture to FILE (and the expected list to FILE.expected.tsv).
    #[arg(short = 'o', value_name = "FILE", required = false)]
    out: Option<PathBuf>,

    /// Start from this traffic shape.
    #[arg(long, value_enum, default_value = "small")]
    shape: ShapeArg,

    /// Shorthand for `--shape concurrent-million`.
    #[arg(long, conflicts_with = "shape")]
    concurrent_million: bool,

    /// Multiply the capture's length (its connection count) by F.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    scale: f64,

    /// Connection count (after --scale: overrides it).
    #[arg(long, value_name = "N")]
    connections: Option<u64>,

    /// Connections open at once.
    #[arg(long, value_name = "N")]
    concurrency: Option<u64>,

    /// Request/response pairs per connection, LOW-HIGH.
    #[arg(long, value_name = "LOW-HIGH", value_parser = range)]
    exchanges: Option<(u64, u64)>,

    /// Request body bytes, LOW-HIGH.
    #[arg(long, value_name = "LOW-HIGH", value_parser = range)]
    request_body: Option<(u64, u64)>,

    /// Response body bytes, LOW-HIGH.
    #[arg(long, value_name = "LOW-HIGH", value_parser = range)]
    response_body: Option<(u64, u64)>,

    /// Probability that a segment is swapped with its neighbour.
    #[arg(long, value_name = "P")]
    reorder: Option<f64>,

    /// Probability that a segment is sent twice.
    #[arg(long, value_name = "P")]
    retransmit: Option<f64>,

    /// Seed of every random choice.
    #[arg(long)]
    seed: Option<u64>,

    /// Every address in 127.0.0.0/8 (clients 127.1.0.1 up, servers
    /// 127.0.1.1-127.0.4.250), to replay onto the loopback interface.
    #[arg(long)]
    loopback: bool,

    /// Plant N tokens FSGREP-NNNNNN-TK in first responses, half of them
    /// split across two segments; they are listed, one per line with
    /// `split` or `whole`, in FILE.tokens (bench/grep.sh).
    #[arg(long, value_name = "N", default_value_t = 0)]
    plant: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an output folder against an expected list.
    Verify {
        /// The FILE.expected.tsv written with the capture.
        expected: PathBuf,
        /// The folder of flow files.
        dir: PathBuf,
        /// Also check this flowsplit report (file, bytes, sha256 per line).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// File names in DIR that are not flow files (repeatable).
        #[arg(long, value_name = "NAME", default_values = ["report.jsonl", "report.summary.json", "report.xml"])]
        ignore: Vec<String>,
        /// The folder was written with `-e http`: leave its HTTP body files
        /// (`FLOW-HTTPBODY-NNN`, `FLOW-HTTPREQBODY-NNN`, of expected flows)
        /// and `http.jsonl` out of the check, and say how many there are.
        #[arg(long)]
        http_bodies: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ShapeArg {
    Small,
    Large,
    ConcurrentMillion,
    /// 20,000 connections of the small shape's traffic, 4,096 open at once.
    #[value(name = "open-4096")]
    Open4096,
    /// 200,000 tiny connections, all open at once.
    #[value(name = "open-200k")]
    Open200k,
}

fn range(s: &str) -> Result<(u64, u64), String> {
    let parse = |t: &str| t.trim().parse::<u64>().map_err(|e| format!("{t:?}: {e}"));
    match s.split_once('-') {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => parse(s).map(|n| (n, n)),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Some(Command::Verify {
            ref expected,
            ref dir,
            ref report,
            ref ignore,
            http_bodies,
        }) => verify(expected, dir, report.as_deref(), ignore, http_bodies),
        None => generate(&cli).map(|()| true),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench_gen: {e}");
            ExitCode::from(2)
        }
    }
}

fn params(cli: &Cli) -> Result<BenchParams, String> {
    let shape = match (cli.concurrent_million, cli.shape) {
        (true, _) | (_, ShapeArg::ConcurrentMillion) => Shape::ConcurrentMillion,
        (_, ShapeArg::Small) => Shape::Small,
        (_, ShapeArg::Large) => Shape::Large,
        (_, ShapeArg::Open4096) => Shape::Open4096,
        (_, ShapeArg::Open200k) => Shape::Open200k,
    };
    if !(cli.scale > 0.0 && cli.scale.is_finite()) {
        return Err(format!("--scale {}: must be a positive number", cli.scale));
    }
    let mut p = BenchParams::shape(shape).scaled(cli.scale);
    if let Some(n) = cli.connections {
        p = p.with_connections(n);
    }
    if let Some(n) = cli.concurrency {
        p.concurrency = n;
    }
    if let Some((a, b)) = cli.exchanges {
        let conv = |v: u64| u32::try_from(v).map_err(|_| "--exchanges: too large".to_string());
        p.exchanges = (conv(a)?, conv(b)?);
    }
    if let Some(r) = cli.request_body {
        p.request_body = r;
    }
    if let Some(r) = cli.response_body {
        p.response_body = r;
    }
    if let Some(r) = cli.reorder {
        p.reorder_rate = r;
    }
    if let Some(r) = cli.retransmit {
        p.retransmit_rate = r;
    }
    if let Some(s) = cli.seed {
        p.seed = s;
    }
    p.loopback = cli.loopback;
    p.plant = cli.plant;
    Ok(p)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn generate(cli: &Cli) -> Result<(), String> {
    let out = cli
        .out
        .as_deref()
        .ok_or("give the capture to write with -o FILE (or use `verify`)")?;
    let p = params(cli)?;
    let expected = with_suffix(out, ".expected.tsv");
    let (out_part, exp_part) = (with_suffix(out, ".part"), with_suffix(&expected, ".part"));
    let create = |path: &Path| {
        File::create(path)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    eprintln!("bench_gen: {p:?}");
    let t = Instant::now();
    let summary = bench::generate(&p, create(&out_part)?, create(&exp_part)?)
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    std::fs::rename(&exp_part, &expected).map_err(|e| format!("{}: {e}", expected.display()))?;
    std::fs::rename(&out_part, out).map_err(|e| format!("{}: {e}", out.display()))?;
    if p.plant > 0 {
        let list: String = summary
            .planted
            .iter()
            .map(|(t, split)| format!("{t}\t{}\n", if *split { "split" } else { "whole" }))
            .collect();
        let tokens = with_suffix(out, ".tokens");
        std::fs::write(&tokens, list).map_err(|e| format!("{}: {e}", tokens.display()))?;
    }
    eprintln!(
        "bench_gen: {} connections (at most {} open), {} directions, {} frames, capture {} bytes ({:.2} GB), payload {} bytes, {:.1} s",
        summary.connections,
        summary.peak_open,
        summary.directions,
        summary.frames,
        summary.capture_bytes,
        summary.capture_bytes as f64 / 1e9,
        summary.payload_bytes,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn verify(
    expected: &Path,
    dir: &Path,
    report: Option<&Path>,
    ignore: &[String],
    http_bodies: bool,
) -> Result<bool, String> {
    let f = File::open(expected).map_err(|e| format!("{}: {e}", expected.display()))?;
    let list = bench::read_expected(BufReader::new(f))
        .map_err(|e| format!("{}: {e}", expected.display()))?;
    let bodies = if http_bodies {
        http_body_files(&list, dir)?
    } else {
        Vec::new()
    };
    let mut ignore: Vec<&str> = ignore.iter().map(String::as_str).collect();
    ignore.extend(bodies.iter().map(String::as_str));
    let v = bench::verify(&list, dir, &ignore, report)
        .map_err(|e| format!("checking {}: {e}", dir.display()))?;
    if v.ok() {
        eprintln!(
            "bench_gen verify: {}: all {} directions present and correct",
            dir.display(),
            v.matched
        );
        Ok(true)
    } else {
        eprint!(
            "bench_gen verify: {}: {} of {} directions correct\n{}",
            dir.display(),
            v.matched,
            v.expected,
            v.describe(5)
        );
        Ok(false)
    }
}

/// The HTTP body files in `dir` (not below it: bodies lie next to their
/// flow) carved from flows of `list`, and `http.jsonl` if there; prints how
/// many response and request bodies there are.
fn http_body_files(list: &[bench::Expected], dir: &Path) -> Result<Vec<String>, String> {
    let flows: HashSet<&str> = list.iter().map(|e| e.file.as_str()).collect();
    let (mut responses, mut requests) = (0u64, 0u64);
    let mut names = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        match bench::http_body_flow(&name) {
            Some((flow, request)) if flows.contains(flow) => {
                if request {
                    requests += 1;
                } else {
                    responses += 1;
                }
            }
            _ if name == "http.jsonl" => {}
            _ => continue,
        }
        names.push(name);
    }
    eprintln!(
        "bench_gen verify: {}: {responses} response and {requests} request body files (not checked)",
        dir.display()
    );
    Ok(names)
}
