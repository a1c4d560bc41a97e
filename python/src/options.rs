//! Keyword options to a [`Config`]: each keyword names one of the CLI's
//! flags ([`FLAGS`]), its value becomes the flag's argument, and the CLI's
//! own parser and validation (`src/cli.rs`, compiled in here) build the
//! `Config`, so every option means, defaults and is refused exactly as on
//! the command line.
//!
//! A value of `True` gives a flag without an argument, `False` and `None`
//! leave the flag out, a list or tuple repeats the flag once per item, and
//! anything else is given as `str(value)`.
//!
//! Must not: define an option's meaning or default, or check a value.

use crate::errors;
use flowsplit::config::{Config, Output};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::ffi::OsString;
use std::path::Path;

#[allow(dead_code)]
#[path = "../../src/cli.rs"]
mod cli;

/// Which calls take an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `flowsplit.read()` and `flowsplit.http()`: the run's folder is
    /// private, so only options that shape the streams and bodies apply.
    Stream,
    /// `flowsplit.split()`: the CLI's whole job into a folder.
    Split,
    /// `flowsplit.live()`.
    Live,
}

/// Keyword, the CLI flag it stands for, and the calls that take it.
pub const FLAGS: &[(&str, &str, &[Call])] = {
    use Call::{Live, Split, Stream};
    const ALL: &[Call] = &[Stream, Split, Live];
    const FILES: &[Call] = &[Stream, Split];
    const SPLIT_LIVE: &[Call] = &[Split, Live];
    &[
        ("timeout", "--timeout", ALL),
        ("max_seek", "-m", ALL),
        ("max_pending", "--max-pending", ALL),
        ("max_pending_total", "--max-pending-total", ALL),
        ("max_connections", "--max-connections", ALL),
        ("max_memory", "--max-memory", ALL),
        ("max_bytes", "-b", ALL),
        ("threads", "-j", ALL),
        ("udp_tunnel", "--udp-tunnel", ALL),
        ("template", "-T", ALL),
        ("file_letters", "-F", ALL),
        ("md5", "-e md5", ALL),
        ("keep_encoding", "-Z", ALL),
        ("max_decoded", "--max-decoded", ALL),
        ("max_ratio", "--max-ratio", ALL),
        ("tls_keylog", "--tls-keylog", ALL),
        ("tls_rsa_key", "--tls-rsa-key", ALL),
        ("tls_psk", "--tls-psk", ALL),
        ("max_amplification", "--max-amplification", ALL),
        ("amplification_base", "--amplification-base", ALL),
        ("grep", "--grep", ALL),
        ("grep_file", "--grep-file", ALL),
        ("grep_fixed", "--grep-fixed", ALL),
        ("grep_hex", "--grep-hex", ALL),
        ("grep_ignore_case", "--grep-ignore-case", ALL),
        ("grep_max_match", "--grep-max-match", ALL),
        ("only_matching", "--only-matching", ALL),
        ("shard", "--shard", FILES),
        ("finish", "-R", FILES),
        ("http", "-e http", SPLIT_LIVE),
        ("report", "--report", SPLIT_LIVE),
        ("no_report", "--no-report", SPLIT_LIVE),
        ("dfxml", "-X", SPLIT_LIVE),
        ("events", "--events", SPLIT_LIVE),
        ("findx", "-I", SPLIT_LIVE),
        ("pcaps", "-K", SPLIT_LIVE),
        ("unprocessed", "-w", SPLIT_LIVE),
        ("max_open_files", "-f", SPLIT_LIVE),
        ("settings", "-S", SPLIT_LIVE),
        ("snaplen", "--snaplen", &[Live]),
        ("buffer_size", "--buffer-size", &[Live]),
        ("no_promisc", "--no-promisc", &[Live]),
        ("stats_interval", "--stats-interval", &[Live]),
    ]
};

/// Where packets come from.
pub enum From<'a> {
    /// Capture files (or folders of them), read in order.
    Files(&'a [String]),
    /// A live interface (`None`: the first libpcap lists).
    Interface(Option<&'a str>),
}

/// The `Config` for `call` reading `from` into `outdir`, filtered by
/// `filter`, with the keyword `options`; `extra` are flags the binding
/// itself adds (`-e http` for `flowsplit.http()`).
pub fn config(
    py: Python<'_>,
    call: Call,
    from: From<'_>,
    outdir: &Path,
    filter: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
    extra: &[&str],
) -> PyResult<Config> {
    let mut args: Vec<OsString> = vec!["flowsplit".into(), "-q".into()];
    args.push("-o".into());
    args.push(outdir.as_os_str().to_owned());
    match from {
        From::Files(paths) => {
            if paths.is_empty() {
                return Err(errors::option_error(
                    py,
                    "no capture to read: give at least one path".into(),
                ));
            }
            for p in paths {
                args.push("-r".into());
                args.push(p.into());
            }
        }
        From::Interface(Some(name)) => {
            args.push("-i".into());
            args.push(name.into());
        }
        From::Interface(None) => {}
    }
    args.extend(extra.iter().map(OsString::from));
    if let Some(options) = options {
        for (key, value) in options.iter() {
            let key: String = key.extract()?;
            let Some(&(_, flag, calls)) = FLAGS.iter().find(|(k, _, _)| *k == key) else {
                return Err(errors::option_error(
                    py,
                    format!("unknown option {key:?} (flowsplit.OPTIONS lists the options)"),
                ));
            };
            if !calls.contains(&call) {
                return Err(errors::option_error(
                    py,
                    format!("option {key:?} does not apply here ({call:?})"),
                ));
            }
            push_flag(&mut args, flag, &value)?;
        }
    }
    if let Some(expr) = filter {
        args.push("--".into());
        args.push(expr.into());
    }
    let parsed = cli::parse::<cli::Cli>(args).map_err(|e| errors::to_py(py, &e))?;
    let Some(cli) = parsed else {
        return Err(errors::option_error(
            py,
            "help and version are not options of the Python API".into(),
        ));
    };
    let mut config = cli.into_config().map_err(|e| errors::to_py(py, &e))?;
    if call == Call::Stream {
        // The private folder's DFXML report would only cost time.
        config.dfxml = None;
    }
    if let (Call::Live, Output::Files(_)) = (call, &config.output) {
        config.dfxml = config
            .dfxml
            .take()
            .filter(|_| options_has(options, "dfxml"));
    }
    Ok(config)
}

/// True when `options` holds `key` with a value that gives its flag.
fn options_has(options: Option<&Bound<'_, PyDict>>, key: &str) -> bool {
    options
        .and_then(|o| o.get_item(key).ok().flatten())
        .is_some_and(|v| !v.is_none() && !v.is(pyo3::types::PyBool::new(v.py(), false)))
}

/// Add `flag` (a flag, or a flag and its fixed argument such as `-e md5`)
/// for `value`.
fn push_flag(args: &mut Vec<OsString>, flag: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let words: Vec<&str> = flag.split(' ').collect();
    if value.is_none() {
        return Ok(());
    }
    if let Ok(b) = value.downcast::<pyo3::types::PyBool>() {
        if b.is_true() {
            args.extend(words.iter().map(OsString::from));
        }
        return Ok(());
    }
    if words.len() > 1 {
        // A fixed flag such as `-e http` takes only True or False.
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{flag}: give True or False"
        )));
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = value.downcast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = value.downcast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        vec![value.clone()]
    };
    for item in items {
        args.push(flag.into());
        args.push(argument(&item)?);
    }
    Ok(())
}

/// One value as the flag's argument: a path-like as its path, anything
/// else as its `str()`.
fn argument(value: &Bound<'_, PyAny>) -> PyResult<OsString> {
    let py = value.py();
    let os = py.import("os")?;
    if value.hasattr("__fspath__")? {
        let p: std::path::PathBuf = os.getattr("fspath")?.call1((value,))?.extract()?;
        return Ok(p.into_os_string());
    }
    Ok(value.str()?.to_string().into())
}

/// The keyword options each call takes, for `flowsplit.OPTIONS`.
pub fn listing() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    FLAGS
        .iter()
        .map(|(k, f, calls)| {
            let names = calls
                .iter()
                .map(|c| match c {
                    Call::Stream => "read",
                    Call::Split => "split",
                    Call::Live => "live",
                })
                .collect();
            (*k, *f, names)
        })
        .collect()
}
