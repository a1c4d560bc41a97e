//! The `flowsplit` binary: parse the command line, run, report one line per
//! error and exit 0 (success), 1 (runtime or internal error) or 2 (usage
//! error). Everything flowsplit says on standard error is printed here: the
//! library reports through [`flowsplit::hooks`] and [`flowsplit::RunSummary`].

use clap::Parser;
use flowsplit::cli::{Cli, HttpCli};
use flowsplit::hooks::{Notice, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "http") {
        let cli = HttpCli::parse_from(args.iter().skip(1));
        return match flowsplit::http::carve_dirs(&cli.dirs, &cli.options()) {
            Ok(s) => {
                for e in &s.errors {
                    eprintln!("flowsplit: {e}");
                }
                if !cli.quiet {
                    eprintln!(
                        "flowsplit: {} HTTP messages in {} connections, {} bodies written ({} incomplete), index in {} folders",
                        s.messages, s.connections, s.bodies, s.incomplete, s.folders
                    );
                }
                if s.errors.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(&e.to_string(), e.exit_code()),
        };
    }
    let cli = Cli::parse_from(args);
    let quiet = cli.quiet;
    let live = cli.read.is_empty();
    let mut config = match cli.into_config() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string(), e.exit_code()),
    };
    if !quiet {
        config.hooks.notice = Some(Arc::new(print_notice));
        if !live && std::io::stderr().is_terminal() {
            config.hooks.progress = Some(Arc::new(Bar::default()));
        }
    }
    let (summary, fatal) = flowsplit::run_to_end(&config);
    if let Some(live) = &summary.capture_stats {
        match &live.stats {
            Ok(s) => eprintln!(
                "flowsplit: {}: {} packets received, {} dropped by kernel, {} dropped by interface",
                live.interface, s.received, s.dropped_by_kernel, s.dropped_by_interface
            ),
            Err(e) => eprintln!("flowsplit: {e}"),
        }
    }
    if let Some(e) = fatal {
        return fail(&e.to_string(), e.exit_code());
    }
    for e in &summary.input_errors {
        eprintln!("flowsplit: {e}");
    }
    if summary.input_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Print a notice of the run on standard error (not with `-q`).
fn print_notice(notice: &Notice) {
    // Notices yet to come are not printed until this binary knows them.
    if let Notice::Capturing { interface, link } = notice {
        eprintln!(
            "flowsplit: capturing on {interface} (link type {link}); SIGINT, SIGTERM or SIGHUP stops"
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

fn fail(msg: &str, code: i32) -> ExitCode {
    eprintln!("flowsplit: {msg}");
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
