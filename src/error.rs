//! Typed errors of the library. The binary turns each into one line on
//! stderr and an exit code (1 for runtime and internal errors, 2 for usage
//! errors).

use std::path::PathBuf;

/// Everything that can make a run fail or leave part of its work undone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A capture input could not be opened.
    #[error("{path}: cannot open: {source}")]
    Open {
        /// The input's path (`-` for standard input).
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// An input is not a pcap or pcapng capture.
    #[error("{path}: not a pcap or pcapng capture ({detail})")]
    NotACapture {
        /// The input's path.
        path: PathBuf,
        /// What was found instead.
        detail: String,
    },
    /// An input ended in the middle of a record, or a record is corrupt.
    #[error("{path}: {detail} at byte {offset}; packets before it were processed")]
    Corrupt {
        /// The input's path.
        path: PathBuf,
        /// Byte offset in the input where the problem was found.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// An input uses a link-layer type that flowsplit cannot decode.
    #[error("{path}: unsupported link type {linktype}")]
    UnsupportedLink {
        /// The input's path.
        path: PathBuf,
        /// The link type, number and name.
        linktype: String,
    },
    /// The BPF filter expression did not compile.
    #[error("bad filter expression '{expr}': {detail}")]
    Filter {
        /// The expression as given.
        expr: String,
        /// libpcap's message.
        detail: String,
    },
    /// Reading a file failed part way (e.g. a flow file during HTTP carving).
    #[error("{path}: read error: {source}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A folder of captures (`-r DIR`) could not be walked completely; the
    /// captures found in it are read all the same.
    #[error("{path}: {source}")]
    Folder {
        /// The folder given.
        path: PathBuf,
        /// What went wrong while walking it.
        source: std::io::Error,
    },
    /// Writing output failed.
    #[error("{path}: {source}")]
    Write {
        /// The file or folder that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A live capture could not be opened or read.
    #[error("{interface}: cannot capture: {detail}")]
    Capture {
        /// The interface.
        interface: String,
        /// What libpcap said, and what is needed.
        detail: String,
    },
    /// `-U`: the switch to another user failed.
    #[error("-U {user}: cannot switch to this user: {detail}")]
    Privileges {
        /// The user asked for.
        user: String,
        /// Why not.
        detail: String,
    },
    /// A command asked for with `-S tcp_cmd` or `-S http_cmd` could not be
    /// started.
    #[error("-S {setting}: cannot run '{command}': {source}")]
    Command {
        /// The setting (`tcp_cmd` or `http_cmd`).
        setting: &'static str,
        /// The command line.
        command: String,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// An invalid setting (a usage error: exit code 2).
    /// The output folder (`-o`) could not be created.
    #[error("{path}: cannot create the output folder: {source}")]
    OutputFolder {
        /// The folder.
        path: PathBuf,
        /// Why it could not be created.
        source: std::io::Error,
    },
    /// A folder given as an input holds no file at all.
    #[error("{path}: no capture files in this folder")]
    NoCaptureInFolder {
        /// The folder.
        path: PathBuf,
    },
    /// `flowsplit grep` could not search (exit status 2, as grep's).
    #[error("{0}")]
    Search(String),
    /// `flowsplit grep` found nothing (exit status 1, as grep's; nothing
    /// is printed for it).
    #[error("")]
    NoMatch,
    /// Not one input could be read; nothing was written.
    #[error("no input could be read; nothing was written")]
    NoInput,
    #[error("{0}")]
    Usage(String),
    /// `--tls-rsa-key`: the file is not an RSA private key flowsplit reads.
    #[error("{path}: not a usable RSA private key: {detail}")]
    TlsKey {
        /// The key file.
        path: PathBuf,
        /// Why not.
        detail: String,
    },
    /// A failure inside flowsplit itself, not caused by the settings or the
    /// inputs: a worker thread that stopped or panicked, a signal handler
    /// that could not be installed (exit code 1, never 2).
    #[error("{0}")]
    Internal(String),

    /// `flowsplit merge` refused a set of shards, or could not place a file.
    #[error("merge: {0}")]
    Merge(String),
}

impl Error {
    /// The process exit code this error calls for: 2 for usage errors (a bad
    /// flag or filter expression), 1 for everything else, internal failures
    /// included.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Filter { .. } | Error::Search(_) => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_filter_errors_exit_2() {
        assert_eq!(
            Error::Usage("-T: the template is empty".into()).exit_code(),
            2
        );
        let filter = Error::Filter {
            expr: "tcp port".into(),
            detail: "syntax error".into(),
        };
        assert_eq!(filter.exit_code(), 2);
    }

    #[test]
    fn internal_errors_exit_1_not_2() {
        let e = Error::Internal("a worker thread stopped".into());
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "a worker thread stopped");
    }

    #[test]
    fn runtime_errors_exit_1() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let errors = [
            Error::Open {
                path: "a.pcap".into(),
                source: io(),
            },
            Error::Write {
                path: "out".into(),
                source: io(),
            },
            Error::Capture {
                interface: "lo".into(),
                detail: "no rights".into(),
            },
        ];
        for e in errors {
            assert_eq!(e.exit_code(), 1, "{e}");
        }
    }
}
