//! The `flowsplit` binary: parse the command line, run, report one line per
//! error and exit 0 (success), 1 (runtime error) or 2 (usage error).

use clap::Parser;
use flowsplit::cli::{Cli, HttpCli};
use std::process::ExitCode;

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
    let config = match cli.into_config() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string(), e.exit_code()),
    };
    match flowsplit::run(&config) {
        Ok(summary) => {
            for e in &summary.input_errors {
                eprintln!("flowsplit: {e}");
            }
            if summary.input_errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => fail(&e.to_string(), e.exit_code()),
    }
}

fn fail(msg: &str, code: i32) -> ExitCode {
    eprintln!("flowsplit: {msg}");
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
