//! Keeps `man/flowsplit.1` in step with the command line defined in
//! `src/cli.rs`: every argument of `Cli` and `HttpCli`, every flag the
//! binary's `--help` lists and every non-trivial default value must appear
//! in the man page, and the page must render without warnings.
//!
//! The command line lives in the binary, not the library, so the arguments
//! and their defaults are read from the binary itself: its hidden
//! `--dump-cli` flag prints clap's definitions of every parser, one JSON
//! line per argument (see `dump` in `src/cli.rs`).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The man page's source.
fn man_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/flowsplit.1");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Roff source reduced to plain text: `\-` becomes `-`, font changes and
/// other escapes that carry no text are dropped.
fn unroff(s: &str) -> String {
    s.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\c", "")
        .replace("\\(bu", "")
        .replace("\\(dq", "\"")
        .replace("\\&", "")
}

/// The words of `text`: runs of letters, digits, `-`, `_` and `%`.
fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%')))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The words of every `.TP` tag line (the line after `.TP`): the terms the
/// page documents as options and arguments.
fn tagged_terms(src: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut terms = BTreeSet::new();
    for pair in lines.windows(2) {
        if pair[0].trim_end() == ".TP" {
            terms.extend(words(&unroff(pair[1])));
        }
    }
    terms
}

/// Every argument of every parser of the binary, as `flowsplit --dump-cli`
/// lists them: one object per argument with `command`, `id`, `short`,
/// `long`, `value_name` (positionals only) and `defaults`.
fn cli_arguments() -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .arg("--dump-cli")
        .output()
        .expect("run flowsplit --dump-cli");
    assert!(out.status.success(), "flowsplit --dump-cli failed: {out:?}");
    let text = String::from_utf8(out.stdout).expect("--dump-cli is UTF-8");
    let args: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("--dump-cli line {l:?}: {e}")))
        .collect();
    for name in ["flowsplit", "flowsplit http", "flowsplit merge"] {
        assert!(
            args.iter().any(|a| a["command"] == name),
            "--dump-cli lists no argument of {name}"
        );
    }
    args
}

/// The arguments of the parser named `command` (e.g. `flowsplit http`).
fn command(command: &str) -> Vec<Value> {
    cli_arguments()
        .into_iter()
        .filter(|a| a["command"] == command)
        .collect()
}

/// The flags (`-x`, `--long`) and positional names of a parser's arguments.
fn command_terms(args: Vec<Value>) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for arg in args {
        let mut forms = Vec::new();
        for key in ["short", "long"] {
            if let Some(f) = arg[key].as_str() {
                forms.push(f.to_string());
            }
        }
        if let Some(name) = arg["value_name"].as_str() {
            forms.push(name.to_lowercase());
        }
        let id = arg["id"].as_str().expect("an argument has an id");
        out.push((id.to_string(), forms));
    }
    out
}

fn check_command(args: Vec<Value>, what: &str) {
    assert!(!args.is_empty(), "{what}: no arguments");
    let src = man_source();
    let tags = tagged_terms(&src);
    let mut missing = Vec::new();
    for (id, forms) in command_terms(args) {
        assert!(
            !forms.is_empty(),
            "{what}: argument {id} has no flag and no name"
        );
        for f in forms {
            if !tags.contains(&f) {
                missing.push(format!("{what} {id}: {f}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "man/flowsplit.1 does not document (as a .TP item) these arguments from src/cli.rs:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_main_argument_is_in_the_man_page() {
    check_command(command("flowsplit"), "flowsplit");
}

#[test]
fn every_http_argument_is_in_the_man_page() {
    check_command(command("flowsplit http"), "flowsplit http");
}

#[test]
fn every_merge_argument_is_in_the_man_page() {
    check_command(command("flowsplit merge"), "flowsplit merge");
}

#[test]
fn defaults_are_in_the_man_page() {
    let text = unroff(&man_source());
    for arg in cli_arguments() {
        let defaults = arg["defaults"].as_array().expect("defaults is an array");
        for v in defaults {
            let v = v.as_str().expect("a default is a string");
            // "." (the current directory) is documented in words.
            if v != "." {
                assert!(
                    text.contains(v),
                    "the default of {} {} ({v}) is not in man/flowsplit.1",
                    arg["command"],
                    arg["id"]
                );
            }
        }
    }
    assert!(text.contains(flowsplit::config::DEFAULT_TEMPLATE));
    assert!(text.contains(flowsplit::config::DEFAULT_REPORT_NAME));
}

/// The flags (`-x`, `--long`) listed in a `--help` text: the words starting
/// with `-` on lines that start (after indentation) with a flag.
fn help_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in help.lines() {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        // The flag column ends at the first run of two spaces.
        let head = t.split("  ").next().unwrap_or("");
        for w in head.split([' ', ',', '=', '<', '>', '[', ']']) {
            if w.starts_with('-') && w.len() > 1 {
                flags.insert(w.to_string());
            }
        }
    }
    flags
}

fn run_help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flowsplit"))
        .args(args)
        .output()
        .expect("run flowsplit");
    assert!(out.status.success(), "flowsplit {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("--help is UTF-8")
}

#[test]
fn every_flag_in_help_is_in_the_man_page() {
    let tags = tagged_terms(&man_source());
    for args in [
        &["--help"][..],
        &["http", "--help"][..],
        &["merge", "--help"][..],
    ] {
        let flags = help_flags(&run_help(args));
        assert!(
            flags.contains("-r") || args[0] != "--help",
            "no flags parsed from flowsplit {args:?}: {flags:?}"
        );
        assert!(flags.contains("--help"), "no --help in flowsplit {args:?}");
        let missing: Vec<_> = flags.iter().filter(|f| !tags.contains(*f)).collect();
        assert!(
            missing.is_empty(),
            "flowsplit {args:?} lists flags man/flowsplit.1 does not document: {missing:?}"
        );
    }
}

#[test]
fn man_page_renders_without_warnings() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man/flowsplit.1");
    let out = match Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&path)
        .env("LC_ALL", "C.UTF-8")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("groff not available ({e}); skipping the rendering check");
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "groff warns about man/flowsplit.1:\n{stderr}"
    );
    // `man -l` goes through the same formatter with man's own settings.
    if let Ok(out) = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&path)
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
    {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "man -l warns about man/flowsplit.1:\n{stderr}"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("REPORT FORMAT"),
            "man -l output lacks REPORT FORMAT"
        );
    }
}

/// The option letters `tcpflow -hh` lists: its usage line's flag groups
/// and every help line starting with `-x` (`-F{p}`, `-S name=value` too).
fn tcpflow_letters(help: &str) -> BTreeSet<char> {
    let mut letters = BTreeSet::new();
    for line in help.lines() {
        for group in line.split("[-").skip(1) {
            let flags = group.split([']', ' ', '|']).next().unwrap_or("");
            if flags.chars().all(|c| c.is_ascii_alphanumeric()) {
                letters.extend(flags.chars());
            }
        }
        let t: Vec<char> = line.trim_start().chars().collect();
        if t.len() >= 3
            && t[0] == '-'
            && t[1].is_ascii_alphanumeric()
            && !t[2].is_ascii_alphanumeric()
        {
            letters.insert(t[1]);
        }
    }
    letters
}

/// Every option of tcpflow (as installed, 1.6.1) is an argument of the
/// bare form (flowsplit's own, or one it refuses with a reason) and has its
/// entry in the man page's TCPFLOW OPTIONS section.
#[test]
fn every_tcpflow_option_is_parsed_and_in_the_tcpflow_options_section() {
    let Ok(out) = Command::new("tcpflow").arg("-hh").output() else {
        eprintln!("tcpflow is not installed: skipped");
        return;
    };
    let help =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let letters = tcpflow_letters(&help);
    assert!(letters.len() > 30, "{letters:?} from {help}");
    let shorts: BTreeSet<String> = command("flowsplit")
        .iter()
        .filter_map(|a| a["short"].as_str().map(str::to_string))
        .collect();
    let src = man_source();
    let start = src
        .find(".SH TCPFLOW OPTIONS")
        .expect("a TCPFLOW OPTIONS section");
    let end = start + src[start..].find("\n.SH ").expect("a section after it");
    let section = tagged_terms(&src[start..end]);
    for c in letters {
        let flag = format!("-{c}");
        assert!(
            shorts.contains(&flag),
            "tcpflow's {flag} is not an argument of flowsplit"
        );
        assert!(
            section.contains(&flag),
            "tcpflow's {flag} is not in TCPFLOW OPTIONS"
        );
    }
}

#[test]
fn every_grep_argument_is_in_the_man_page() {
    check_command(command("flowsplit grep"), "flowsplit grep");
}
