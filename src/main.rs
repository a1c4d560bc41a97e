//! The `flowsplit` binary: parse the command line, run, report one line per
//! error and exit 0 (success), 1 (runtime or internal error) or 2 (usage
//! error). Everything flowsplit says on standard error is printed here: the
//! library reports through [`flowsplit::hooks`] and [`flowsplit::RunSummary`].
//!
//! The first argument picks a subcommand from [`SUBCOMMANDS`]; anything
//! else is tcpflow's bare form, `flowsplit [options] [expression]`
//! ([`split`]). Every subcommand ends through [`exit`], the one place that
//! turns an outcome into error lines and an exit code.

mod cli;

use cli::{Cli, HttpCli, MergeCli};
use flowsplit::hooks::{Notice, Progress};
use flowsplit::Error;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

/// A subcommand's entry point. It gets the arguments from the subcommand's
/// name on (so clap sees the name where the program name goes), prints what
/// is its own to print, and leaves errors and the exit code to [`exit`].
type Subcommand = fn(Vec<OsString>) -> Result<Done, Error>;

/// The subcommands, by the name given as the first argument. A first
/// argument that names none of them starts the bare form ([`split`]), so
/// `flowsplit -r x.pcap port 80` works as in tcpflow. A new subcommand is
/// one entry here and one parser in `cli.rs` (which `--dump-cli`, and so
/// the man page test, must list too).
const SUBCOMMANDS: &[(&str, Subcommand)] = &[("http", http), ("merge", merge)];

/// How a subcommand ended when no error stopped it.
#[derive(Debug, Default)]
struct Done {
    /// Errors that did not stop it; each is printed, and any makes the exit code 1.
    errors: Vec<Error>,
    /// A closing line, printed after the errors.
    closing: Option<String>,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let chosen = args.get(1).and_then(|first| {
        SUBCOMMANDS
            .iter()
            .find(|(name, _)| first == name)
            .map(|&(_, run)| run)
    });
    exit(match chosen {
        Some(run) => run(args.into_iter().skip(1).collect()),
        None => split(args),
    })
}

/// The one exit path: print the errors that did not stop the run, then the
/// closing line, and exit 0 or 1; or print the error that stopped it and
/// exit with its code (2 for usage errors).
fn exit(outcome: Result<Done, Error>) -> ExitCode {
    match outcome {
        Ok(done) => {
            for e in &done.errors {
                eprintln!("flowsplit: {e}");
            }
            if let Some(line) = &done.closing {
                eprintln!("flowsplit: {line}");
            }
            if done.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("flowsplit: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

/// The bare form: split captures (or a live capture) into flow files.
fn split(args: Vec<OsString>) -> Result<Done, Error> {
    let Some(cli) = cli::parse::<Cli>(args)? else {
        return Ok(Done::default());
    };
    if cli.dump_cli {
        cli::dump(&mut std::io::stdout().lock()).map_err(|source| Error::Write {
            path: "-".into(),
            source,
        })?;
        return Ok(Done::default());
    }
    if cli.describe_scanners {
        print!("{}", cli::SCANNERS);
        return Ok(Done::default());
    }
    // tcpflow's debug level 0 says nothing but errors.
    let quiet = cli.verbosity.quiet || cli.debug == Some(0);
    let live = cli.read.is_empty();
    let mut config = cli.into_config()?;
    if !quiet {
        config.hooks.notice = Some(Arc::new(print_notice));
        if !live && std::io::stderr().is_terminal() {
            config.hooks.progress = Some(Arc::new(Bar::default()));
        }
    }
    let (summary, fatal) = flowsplit::run_to_end(&config);
    // The kernel's counts come before the errors, and also when one stopped the run.
    if let Some(live) = &summary.capture_stats {
        match &live.stats {
            Ok(s) => eprintln!(
                "flowsplit: {}: {} packets received, {} dropped by kernel, {} dropped by interface, {} dropped by flowsplit",
                live.interface,
                s.received,
                s.dropped_by_kernel,
                s.dropped_by_interface,
                live.dropped_by_flowsplit
            ),
            Err(e) => eprintln!(
                "flowsplit: {e}; {} packets dropped by flowsplit",
                live.dropped_by_flowsplit
            ),
        }
    }
    match fatal {
        Some(e) => Err(e),
        None => Ok(Done {
            errors: summary.input_errors,
            closing: None,
        }),
    }
}

/// `flowsplit http DIR...`: carve HTTP bodies out of folders of flow files.
fn http(args: Vec<OsString>) -> Result<Done, Error> {
    let Some(cli) = cli::parse::<HttpCli>(args)? else {
        return Ok(Done::default());
    };
    let s = flowsplit::http::carve_dirs(&cli.dirs, &cli.http.options())?;
    if !cli.verbosity.quiet {
        for u in &s.unusable_keylogs {
            eprintln!("flowsplit: warning: {u}");
        }
    }
    let tls = (!cli.http.options().tls_keylogs.is_empty()).then(|| {
        format!(
            "; TLS connections: {} decrypted, {} not decrypted, {} stopped at a record failing authentication",
            s.tls.decrypted, s.tls.not_decrypted, s.tls.failed_records
        )
    });
    let closing = (!cli.verbosity.quiet).then(|| {
        format!(
            "{} HTTP messages in {} connections, {} bodies written ({} incomplete), {} objects assembled, index in {} folders{}",
            s.messages,
            s.connections,
            s.bodies,
            s.incomplete,
            s.objects,
            s.folders,
            tls.unwrap_or_default()
        )
    });
    Ok(Done {
        errors: s.errors,
        closing,
    })
}

/// `flowsplit merge -o OUT DIR...`: combine the shards of a split run.
fn merge(args: Vec<OsString>) -> Result<Done, Error> {
    let Some(cli) = cli::parse::<MergeCli>(args)? else {
        return Ok(Done::default());
    };
    let s = flowsplit::merge::merge(&cli.out, &cli.dirs)?;
    let closing = (!cli.verbosity.quiet).then(|| {
        format!(
            "merged {} shards into {}: {} files linked, {} report lines, {} HTTP indexes, {} objects from range parts",
            s.shards,
            cli.out.display(),
            s.linked,
            s.report_lines,
            s.indexes,
            s.objects
        )
    });
    Ok(Done {
        errors: Vec::new(),
        closing,
    })
}

/// Print a notice of the run on standard error (installed unless `-q`).
fn print_notice(notice: &Notice) {
    // Kinds of notice this binary does not know yet are not printed.
    if let Notice::Capturing { interface, link } = notice {
        eprintln!(
            "flowsplit: capturing on {interface} (link type {link}); SIGINT, SIGTERM or SIGHUP stops"
        );
    }
    if let Notice::KeyLogUnusable(u) = notice {
        eprintln!("flowsplit: warning: {u}");
    }
    if let Notice::ReportAppended { path } = notice {
        eprintln!(
            "flowsplit: {} holds an earlier run's lines: this run's are added after them (flow files already there are kept; a name taken gets the next counter)",
            path.display()
        );
    }
}

/// The progress bar over the bytes of all input files, drawn on standard
/// error when it is a terminal (and not with `-q`).
#[derive(Default)]
struct Bar(OnceLock<ProgressBar>);

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        let bar =
            ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr_with_hz(4));
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        let _ = self.0.set(bar);
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.0.get() {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}
