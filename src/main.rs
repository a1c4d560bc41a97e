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

use cli::{Cli, GrepCli, HttpCli, MergeCli, ViewCli};
use flowsplit::hooks::{Notice, Progress};
use flowsplit::Error;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// A subcommand's entry point. It gets the arguments from the subcommand's
/// name on (so clap sees the name where the program name goes), prints what
/// is its own to print, and leaves errors and the exit code to [`exit`].
type Subcommand = fn(Vec<OsString>) -> Result<Done, Error>;

/// The subcommands, by the name given as the first argument. A first
/// argument that names none of them starts the bare form ([`split`]), so
/// `flowsplit -r x.pcap port 80` works as in tcpflow. A new subcommand is
/// one entry here and one parser in `cli.rs` (which `--dump-cli`, and so
/// the man page test, must list too).
const SUBCOMMANDS: &[(&str, Subcommand)] = &[
    ("http", http),
    ("merge", merge),
    ("grep", grep),
    ("view", view),
];

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
        // flowsplit grep found nothing: grep's status 1, nothing to say.
        Err(Error::NoMatch) => ExitCode::from(1),
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
        // On a loopback interface every packet passes twice, going out and
        // coming in; the kernel counts both, flowsplit decodes one.
        let twice = if is_loopback(&live.interface) {
            " (the kernel counts each loopback packet twice, out and in)"
        } else {
            ""
        };
        match &live.stats {
            Ok(s) => eprintln!(
                "flowsplit: {}: {} packets received{twice}, {} dropped by kernel, {} dropped by interface, {} dropped by flowsplit",
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
        Some(e) => {
            // What could not be read explains the error that followed.
            for e in &summary.input_errors {
                eprintln!("flowsplit: {e}");
            }
            Err(e)
        }
        None => Ok(Done {
            closing: (!quiet).then(|| closing_line(&config, &summary)),
            errors: summary.input_errors,
        }),
    }
}

/// True for the loopback interface's usual names on Linux and the BSDs.
fn is_loopback(interface: &str) -> bool {
    interface == "lo"
        || interface
            .strip_prefix("lo")
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

/// `n` with the word for one or for many.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The closing line of a run: what was read, what was written, what went
/// wrong and where the reports are.
fn closing_line(config: &flowsplit::Config, s: &flowsplit::RunSummary) -> String {
    let mut parts = Vec::new();
    if s.capture_stats.is_none() {
        let mut inputs = count(s.inputs, "input", "inputs");
        if s.inputs_failed > 0 {
            inputs.push_str(&format!(" ({} not read)", s.inputs_failed));
        }
        parts.push(inputs);
    }
    parts.push(count(s.packets, "packet", "packets"));
    parts.push(count(s.connections, "TCP connection", "TCP connections"));
    let written = if config.output.files().is_some_and(|f| f.flow_files) {
        count(s.directions, "flow file", "flow files")
    } else {
        count(s.directions, "direction", "directions")
    };
    parts.push(if s.directions_with_gaps > 0 {
        format!("{written} ({} with bytes missing)", s.directions_with_gaps)
    } else {
        written
    });
    if let Some(g) = s.grep {
        let matching = count(g.matching, "connection", "connections");
        parts.push(match g.only_matching {
            true => format!("{matching} matching --grep ({} dropped)", g.not_matching),
            false => format!("{matching} matching --grep ({} not)", g.not_matching),
        });
    }
    if config.output.http_carving().is_some() {
        parts.push(format!(
            "{} carved",
            count(s.http_bodies, "HTTP body", "HTTP bodies")
        ));
    }
    if !s.input_errors.is_empty() {
        parts.push(count(s.input_errors.len() as u64, "error", "errors"));
    }
    let mut line = parts.join(", ");
    if let Some(report) = &config.report {
        let summary = flowsplit::output::summary::summary_path(report);
        line.push_str(&format!(
            "; report in {}, summary in {}",
            report.display(),
            summary.display()
        ));
    } else if let Some(files) = config.output.files() {
        line.push_str(&format!("; written to {}", files.outdir.display()));
    }
    line
}

/// `flowsplit http DIR...`: carve HTTP bodies out of folders of flow files.
fn http(args: Vec<OsString>) -> Result<Done, Error> {
    let Some(cli) = cli::parse::<HttpCli>(args)? else {
        return Ok(Done::default());
    };
    // Decoded bodies are held to the bound the run recorded unless an
    // option says otherwise.
    let recorded = flowsplit::http::bound_of_runs(&cli.dirs).unwrap_or_default();
    let opts = flowsplit::http::HttpOptions {
        amplification: cli.amplification.over(recorded),
        ..cli.http.options_loaded()?
    };
    let s = flowsplit::http::carve_dirs(&cli.dirs, &opts)?;
    if !cli.verbosity.quiet {
        for u in &s.unusable_keylogs {
            eprintln!("flowsplit: warning: {u}");
        }
    }
    let tls = opts.decrypts_tls().then(|| {
        format!(
            "; TLS connections: {} decrypted, {} not decrypted, {} stopped at a record failing authentication",
            s.tls.decrypted, s.tls.not_decrypted, s.tls.failed_records
        )
    });
    let closing = (!cli.verbosity.quiet).then(|| {
        format!(
            "{} in {}, {} written ({} incomplete), {} assembled, index in {}{}",
            count(s.messages, "HTTP message", "HTTP messages"),
            count(s.connections, "connection", "connections"),
            count(s.bodies, "body", "bodies"),
            s.incomplete,
            count(s.objects, "object", "objects"),
            count(s.folders, "folder", "folders"),
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
            "merged {} into {}: {} linked, {}, {}, {} from range parts",
            count(u64::from(s.shards), "shard", "shards"),
            cli.out.display(),
            count(s.linked, "file", "files"),
            count(s.report_lines, "report line", "report lines"),
            count(s.indexes, "HTTP index", "HTTP indexes"),
            count(s.objects, "object", "objects")
        )
    });
    Ok(Done {
        errors: Vec::new(),
        closing,
    })
}

/// `flowsplit view DIR...`: write each folder's `report.html`.
fn view(args: Vec<OsString>) -> Result<Done, Error> {
    let Some(cli) = cli::parse::<ViewCli>(args)? else {
        return Ok(Done::default());
    };
    if cli.out.is_some() && cli.dirs.len() > 1 {
        return Err(Error::Usage(
            "view: -o names one page; give one DIR with it".into(),
        ));
    }
    if cli.rows == 0 {
        return Err(Error::Usage("view: --rows must be at least 1".into()));
    }
    let opts = flowsplit::view::ViewOptions { max_rows: cli.rows };
    let mut lines = Vec::new();
    for dir in &cli.dirs {
        let s = flowsplit::view::view(dir, cli.out.as_deref(), &opts)?;
        lines.push(format!(
            "wrote {}: {} of {}, {} of {}",
            s.path.display(),
            count(s.connection_rows, "connection row", "connection rows"),
            count(s.connections, "connection", "connections"),
            count(s.exchange_rows, "HTTP row", "HTTP rows"),
            count(s.exchanges, "exchange", "exchanges"),
        ));
    }
    Ok(Done {
        errors: Vec::new(),
        closing: (!cli.verbosity.quiet).then(|| lines.join("\nflowsplit: ")),
    })
}

/// `flowsplit grep`: search reassembled streams. Exits 0 when something
/// matched, 1 when nothing did (as grep), 2 on a usage error.
fn grep(args: Vec<OsString>) -> Result<Done, Error> {
    let (own, rest) = split_grep_args(args)?;
    let Some(mut cli) = cli::parse::<GrepCli>(own)? else {
        return Ok(Done::default());
    };
    cli.rest.extend(rest);
    let patterns = cli.take_patterns()?;
    let terminal = std::io::stdout().is_terminal();
    let opts = cli.options(patterns, terminal);
    let matches = opts.matches.clone();
    let folders = !cli.rest.is_empty()
        && cli
            .rest
            .iter()
            .all(|a| !a.to_string_lossy().starts_with('-') && std::path::Path::new(a).is_dir());
    let searched = if folders {
        let dirs: Vec<std::path::PathBuf> = cli.rest.iter().map(Into::into).collect();
        search_folders(&dirs, cli.http, &opts)?
    } else {
        if let Some(word) = misplaced_grep_option(&cli.rest) {
            return Err(Error::Usage(format!(
                "{word}: grep's own options come before PATTERN (flowsplit grep [GREP OPTIONS] PATTERN [FLOWSPLIT OPTIONS] [EXPRESSION])"
            )));
        }
        let mut argv: Vec<OsString> = vec!["flowsplit grep".into()];
        argv.extend(cli.rest);
        let Some(mut split) = cli::parse::<Cli>(argv)? else {
            return Ok(Done::default());
        };
        if cli.http || !split.tls_secret_flags().is_empty() {
            // Carving (and TLS decryption) reads flow files: write them
            // and carve them, then search what carving left.
            split.enable_http_first();
            grep_carved(split, cli.http, &opts)?
        } else {
            let mut config = grep_config(split)?;
            config.output = flowsplit::config::Output::Grep(opts);
            config.report = None;
            run_for_grep(&config)?
        }
    };
    // A reader that stopped reading (`| head`) ends the search, as grep.
    let Some(errors) = searched else {
        return Ok(Done::default());
    };
    for e in &errors {
        eprintln!("flowsplit: {e}");
    }
    if !errors.is_empty() {
        return Err(Error::Search("some inputs could not be searched".into()));
    }
    if matches.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return Err(Error::NoMatch);
    }
    Ok(Done::default())
}

/// The `Config` of `flowsplit grep`'s own run: the split's, saying its
/// notices ("capturing on", key-log warnings) as a split does unless `-q`,
/// and writing no DFXML report or events.
fn grep_config(split: Cli) -> Result<flowsplit::config::Config, Error> {
    let quiet = split.verbosity.quiet;
    let mut config = split.into_config()?;
    if !quiet {
        config.hooks.notice = Some(Arc::new(print_notice));
    }
    config.dfxml = None;
    config.events = None;
    Ok(config)
}

/// Run `config` for `flowsplit grep`: the inputs' errors, `None` when
/// standard output's reader went away, or the run's fatal error as grep's
/// (exit status 2), after the inputs' errors.
fn run_for_grep(config: &flowsplit::config::Config) -> Result<Option<Vec<Error>>, Error> {
    let (summary, fatal) = flowsplit::run_to_end(config);
    match fatal {
        None => Ok(Some(summary.input_errors)),
        Some(e) if stopped_reading(&e) => Ok(None),
        Some(e) => {
            for e in &summary.input_errors {
                eprintln!("flowsplit: {e}");
            }
            Err(Error::Search(e.to_string()))
        }
    }
}

/// Search the folders `dirs`: their HTTP exchanges (`http`) or their flow
/// files. The errors met, or `None` when standard output's reader went
/// away.
fn search_folders(
    dirs: &[std::path::PathBuf],
    http: bool,
    opts: &flowsplit::search::GrepOptions,
) -> Result<Option<Vec<Error>>, Error> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let searched = if http {
        flowsplit::search::http::grep_http_dirs(dirs, opts, &mut out)
    } else {
        flowsplit::search::grep_dirs(dirs, opts, &mut out)
    };
    match searched {
        Ok((_, errors)) => Ok(Some(errors)),
        Err(e) if stopped_reading(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `e` says standard output's reader went away (`| head`).
fn stopped_reading(e: &Error) -> bool {
    matches!(e, Error::Write { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `flowsplit grep --http`, or with TLS secrets: write the capture's flow
/// files and carve them (`split` has `-e http`) in a work folder (`-o DIR`,
/// kept; else a fresh folder in the system's temporary folder, removed at
/// the end), then search the carved exchanges (`http`) or the flow files
/// with the decrypted plaintext beside them. Returns the errors met, or
/// `None` when the reader stopped reading (`| head`).
fn grep_carved(
    mut split: Cli,
    http: bool,
    opts: &flowsplit::search::GrepOptions,
) -> Result<Option<Vec<Error>>, Error> {
    let work = if split.outdir_given {
        None
    } else {
        let dir = tempfile::Builder::new()
            .prefix("flowsplit-grep-")
            .tempdir()
            .map_err(|source| Error::OutputFolder {
                path: std::env::temp_dir(),
                source,
            })?;
        split.outdir = dir.path().to_path_buf();
        Some(dir)
    };
    let outdir = split.outdir.clone();
    let mut config = grep_config(split)?;
    // Live capture: each exchange is searched as it is carved, not when
    // the capture ends.
    let live = (http && matches!(config.source, flowsplit::config::Source::Live(_)))
        .then(|| flowsplit::search::http::ExchangeSearch::new(opts))
        .transpose()?
        .map(|search| Arc::new(Mutex::new(search)));
    if let Some(search) = &live {
        let search = search.clone();
        config.hooks.http_carved = Some(Arc::new(move |folder: &std::path::Path, line: &str| {
            use std::io::Write;
            let mut search = search.lock().unwrap_or_else(PoisonError::into_inner);
            let mut out = std::io::stdout().lock();
            // A reader gone away (`| head`) gets nothing more; Ctrl-C ends
            // the capture.
            if search.index_line(folder, line, &mut out).is_ok() {
                let _ = out.flush();
            }
        }));
    }
    let ran = run_for_grep(&config);
    drop(config);
    let Some(mut errors) = ran? else {
        return Ok(None);
    };
    let searched = match live.map(Arc::try_unwrap) {
        Some(Ok(search)) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match search
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .finish(&mut out)
            {
                Ok((_, more)) => Some(more),
                Err(e) if stopped_reading(&e) => None,
                Err(e) => return Err(e),
            }
        }
        Some(Err(_)) => return Err(Error::Search("the live search is still in use".into())),
        None => search_folders(&[outdir], http, opts)?,
    };
    drop(work);
    Ok(searched.map(|more| {
        errors.extend(more);
        errors
    }))
}

/// The first of `rest` (what follows the pattern) that is one of grep's
/// own long options and not one of flowsplit's: given after the pattern,
/// where flowsplit's options go.
fn misplaced_grep_option(rest: &[OsString]) -> Option<String> {
    use clap::CommandFactory;
    let (grep, split) = (GrepCli::command(), Cli::command());
    rest.iter().find_map(|word| {
        let text = word.to_string_lossy();
        let name = text.strip_prefix("--")?.split('=').next()?.to_string();
        let is_grep = grep
            .get_arguments()
            .any(|a| a.get_long() == Some(name.as_str()));
        let is_split = split
            .get_arguments()
            .any(|a| a.get_long() == Some(name.as_str()));
        (is_grep && !is_split).then(|| text.into_owned())
    })
}

/// Whether `word` is one of `cmd`'s options: `--NAME[=...]`, or `-X...`
/// whose first letter is one of its short options.
fn is_option_of(cmd: &clap::Command, word: &str) -> bool {
    if let Some(long) = word.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or(long);
        return cmd.get_arguments().any(|a| a.get_long() == Some(name));
    }
    word.strip_prefix('-')
        .and_then(|shorts| shorts.chars().next())
        .is_some_and(|c| cmd.get_arguments().any(|a| a.get_short() == Some(c)))
}

/// Split `flowsplit grep`'s arguments (its name first) at the end of its
/// own options: the first word that is not one of them (or `--`, dropped).
/// Options that take a value take the next word unless attached
/// (`--max-count=3`, `-eFOO`). Unless `-e` or `--file` gave the patterns,
/// one of flowsplit's own options where the pattern should be is a usage
/// error rather than the pattern (`-V`; `-r` with the pattern forgotten).
fn split_grep_args(args: Vec<OsString>) -> Result<(Vec<OsString>, Vec<OsString>), Error> {
    use clap::CommandFactory;
    let mut cmd = GrepCli::command();
    let mut split = Cli::command();
    // Built, so that clap's own -h/--help (and -V) are among their arguments.
    cmd.build();
    split.build();
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let mut own = Vec::new();
    let mut it = args.into_iter();
    own.extend(it.next());
    let mut rest = Vec::new();
    // Whether -e or --file gave the patterns (then the first other word
    // may be one of flowsplit's options).
    let mut patterns_given = false;
    while let Some(word) = it.next() {
        let text = word.to_string_lossy().into_owned();
        if text == "--" {
            break;
        }
        let arg = if let Some(long) = text.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            cmd.get_arguments()
                .find(|a| a.get_long() == Some(name))
                .map(|a| (a, !long.contains('=')))
        } else if let Some(shorts) = text.strip_prefix('-').filter(|s| !s.is_empty()) {
            // -yF (flags grouped), -e PATTERN or -ePATTERN.
            let mut found = None;
            for (i, c) in shorts.char_indices() {
                match cmd.get_arguments().find(|a| a.get_short() == Some(c)) {
                    Some(a) if takes_value(a) => {
                        found = Some((a, i + c.len_utf8() == shorts.len()));
                        break;
                    }
                    Some(a) => found = Some((a, false)),
                    None => {
                        found = None;
                        break;
                    }
                }
            }
            found
        } else {
            None
        };
        match arg {
            Some((a, needs_next)) => {
                patterns_given |= matches!(a.get_id().as_str(), "regexp" | "pattern_files");
                own.push(word);
                if needs_next && takes_value(a) {
                    own.extend(it.next());
                }
                if a.get_id() == "help" {
                    break;
                }
            }
            // Where PATTERN should be, one of flowsplit's own options
            // (`-V`, or `-r` with the pattern forgotten): not taken for
            // the pattern. Other words are, `-42` too.
            None if !patterns_given && is_option_of(&split, &text) => {
                return Err(Error::Usage(format!(
                    "{text}: not one of grep's options, and PATTERN goes before flowsplit's \
                     (flowsplit grep -h lists grep's; a pattern that begins with - goes after -- or -e)"
                )));
            }
            None => {
                rest.push(word);
                break;
            }
        }
    }
    rest.extend(it);
    Ok((own, rest))
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
    if let Notice::CaptureSecretsDropped { connections } = notice {
        eprintln!(
            "flowsplit: warning: the capture's Decryption Secrets Blocks hold secrets for more connections than are kept: {connections} dropped (give them with --tls-keylog)"
        );
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
