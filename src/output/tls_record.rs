//! The report's TLS lines: one `{"record":"tls",...}` object per direction
//! of every TLS connection that carving tried to decrypt (with a key log,
//! a PSK, an RSA key or secrets in the capture), whether it was decrypted
//! or refused.
//!
//! Owns: the line's schema ([`TlsRecord`], whose fields are named and
//! valued as in `http.jsonl`'s `tls` object), recognising such a line
//! ([`is_tls_line`]) so that readers of `report.jsonl` can skip or pick
//! them, and putting a carving pass's lines into reports
//! ([`replace_tls_lines`]): after every direction line, replacing the TLS
//! lines an earlier carving of the folder left, so carving a folder again
//! gives the same report.
//!
//! Must not: decide what goes in a line (that is the carver's, from the
//! connection's [`Facts`]) or touch the direction lines (a direction line's
//! presence still means its flow file is complete; TLS lines come only
//! after carving).

use crate::error::Error;
use crate::tls::session::{DirectionFacts, Facts};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The `record` value of a TLS line.
pub const TLS_RECORD: &str = "tls";

/// One TLS line of `report.jsonl`: one direction of a TLS connection that
/// carving tried to decrypt. The connection's fields (`version` to
/// `resumed_by`) are those of `http.jsonl`'s `tls` object for the
/// connection, the direction's (`decrypted_file` to `stopped`) those of its
/// `client` or `server` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsRecord {
    /// Always `tls` (direction lines have no `record` field).
    pub record: String,
    /// The raw (encrypted) flow file, relative to the output folder: the
    /// `file` of the direction's own line.
    pub file: String,
    /// The connection's id, as on its direction lines; `null` when the
    /// folder's report did not list the flow file.
    pub connection: Option<u64>,
    /// The connection's Community ID, as on its direction lines.
    pub community_id: Option<String>,
    /// `client` (client-to-server) or `server`.
    pub role: String,
    /// `TLS 1.2`, `TLS 1.3`, ... (`null` without a ServerHello).
    pub version: Option<String>,
    /// The IANA name of the cipher suite, or its number in hex.
    pub cipher_suite: Option<String>,
    /// The server name the client asked for.
    pub sni: Option<String>,
    /// The protocol ALPN chose.
    pub alpn: Option<String>,
    /// The connection was decrypted (at least one record of one
    /// direction); this direction's plaintext is `decrypted_file`.
    pub decrypted: bool,
    /// Why the connection was not decrypted (`null` when it was).
    pub reason: Option<String>,
    /// A HelloRetryRequest came before the ServerHello.
    pub hello_retry: bool,
    /// TLS 1.2: the extended master secret was agreed.
    pub extended_master_secret: bool,
    /// Where the secrets came from: `keylog`, `capture`, `session_cache`,
    /// `tls_psk` or `tls_rsa_key`; `null` when there were none.
    pub secret_source: Option<String>,
    /// Secrets from the session cache: what the connection resumed its
    /// session by (`session ID` or `session ticket`).
    pub resumed_by: Option<String>,
    /// The direction's plaintext file (`<file>-TLS`), relative to the
    /// output folder as `file` is, when one was written.
    pub decrypted_file: Option<String>,
    /// Records of this direction decrypted.
    pub records: u64,
    /// Application data bytes written to `decrypted_file`.
    pub bytes: u64,
    /// TLS 1.3 key updates followed.
    pub key_updates: u64,
    /// TLS 1.3 early data bytes (part of `bytes`).
    pub early_data_bytes: u64,
    /// Records passed over for want of their keys.
    pub skipped_records: u64,
    /// Why this direction's decryption stopped before its end, or why
    /// there was none.
    pub stopped: Option<String>,
}

impl TlsRecord {
    /// The line for direction `d` (`role` `client` or `server`) of the
    /// connection whose facts are `facts`; `file` is the raw flow file,
    /// and `d.decrypted_file` is named in the same folder.
    pub fn of(
        file: String,
        connection: Option<u64>,
        community_id: Option<String>,
        role: &str,
        facts: &Facts,
        d: &DirectionFacts,
    ) -> TlsRecord {
        let decrypted_file = d.decrypted_file.as_ref().map(|name| {
            let dir = Path::new(&file).parent().unwrap_or(Path::new(""));
            dir.join(name).to_string_lossy().into_owned()
        });
        TlsRecord {
            record: TLS_RECORD.to_string(),
            file,
            connection,
            community_id,
            role: role.to_string(),
            version: facts.version.clone(),
            cipher_suite: facts.cipher_suite.clone(),
            sni: facts.sni.clone(),
            alpn: facts.alpn.clone(),
            decrypted: facts.decrypted,
            reason: facts.reason.clone(),
            hello_retry: facts.hello_retry,
            extended_master_secret: facts.extended_master_secret,
            secret_source: facts.secret_source.map(str::to_string),
            resumed_by: facts.resumed_by.map(str::to_string),
            decrypted_file,
            records: d.records,
            bytes: d.bytes,
            key_updates: d.key_updates,
            early_data_bytes: d.early_data_bytes,
            skipped_records: d.skipped_records,
            stopped: d.stopped.clone(),
        }
    }
}

/// Whether a report line (without its newline) is a TLS line. Only the
/// line's start is looked at: a TLS line begins `{"record":"tls"`, as
/// [`TlsRecord`] is written; no direction line does.
pub fn is_tls_line(line: &[u8]) -> bool {
    line.starts_with(b"{\"record\":\"tls\"")
}

/// The TLS lines of the report at `path`, in order (for tests and
/// programs reading a report back).
pub fn read_tls_records(path: &Path) -> io::Result<Vec<TlsRecord>> {
    let mut out = Vec::new();
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        let line = line?;
        if is_tls_line(&line) {
            out.push(serde_json::from_slice(&line).map_err(io::Error::other)?);
        }
    }
    Ok(out)
}

/// A report that gets TLS lines: its path, and the folder the lines'
/// flow files are named relative to.
#[derive(Debug, Clone)]
pub struct TlsTarget {
    /// The folder flow files are named relative to (the output folder).
    pub root: PathBuf,
    /// The report (`report.jsonl`).
    pub report: PathBuf,
    /// True when the report can hold no TLS lines yet (this run wrote it
    /// from empty): the lines are appended without reading it.
    pub fresh: bool,
}

/// One report being given its TLS lines.
struct Open {
    target: TlsTarget,
    /// Where the lines go: the report itself (appending), or the
    /// report's replacement being written.
    out: Option<BufWriter<File>>,
    /// The replacement's path, when the report held earlier TLS lines.
    part: Option<PathBuf>,
    /// Lines written.
    lines: u64,
}

impl Open {
    fn fail(&self, source: io::Error) -> Error {
        Error::Write {
            path: self.target.report.clone(),
            source,
        }
    }

    /// Get ready to write: a report that may hold TLS lines of an earlier
    /// carving is copied without them to a replacement beside it.
    fn start(target: TlsTarget) -> Result<Open, Error> {
        let mut open = Open {
            target,
            out: None,
            part: None,
            lines: 0,
        };
        if open.target.fresh || !holds_tls_lines(&open.target.report).map_err(|e| open.fail(e))? {
            return Ok(open);
        }
        let mut part = open.target.report.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        // Set first: a replacement left half-written is removed (`Drop`).
        open.part = Some(part.clone());
        let copy = || -> io::Result<BufWriter<File>> {
            let mut out = BufWriter::new(super::files::create_truncated(&part)?);
            let old = BufReader::new(File::open(&open.target.report)?);
            for line in old.split(b'\n') {
                let line = line?;
                if !is_tls_line(&line) && !line.is_empty() {
                    out.write_all(&line)?;
                    out.write_all(b"\n")?;
                }
            }
            Ok(out)
        };
        let out = copy().map_err(|e| open.fail(e))?;
        open.out = Some(out);
        Ok(open)
    }

    fn write(&mut self, record: &TlsRecord) -> Result<(), Error> {
        if self.out.is_none() {
            let f = super::files::open_appending(&self.target.report).map_err(|e| self.fail(e))?;
            self.out = Some(BufWriter::new(f));
        }
        let mut line = serde_json::to_vec(record).map_err(|e| self.fail(e.into()))?;
        line.push(b'\n');
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let written = out.write_all(&line);
        written.map_err(|e| self.fail(e))?;
        self.lines += 1;
        Ok(())
    }

    /// Flush, and put the replacement in the report's place.
    fn finish(mut self) -> Result<u64, Error> {
        if let Some(mut out) = self.out.take() {
            out.flush().map_err(|e| self.fail(e))?;
        }
        if let Some(part) = self.part.take() {
            if let Err(e) = std::fs::rename(&part, &self.target.report) {
                let _ = std::fs::remove_file(&part);
                return Err(self.fail(e));
            }
        }
        Ok(self.lines)
    }
}

impl Drop for Open {
    /// A replacement not put in the report's place (an error stopped the
    /// writing) is removed: the report stays as it was.
    fn drop(&mut self) {
        if let Some(part) = self.part.take() {
            let _ = std::fs::remove_file(part);
        }
    }
}

/// `file` (a full path) relative to `root`, or as it is when not under it.
fn relative_to(root: &Path, file: &str) -> String {
    let p = Path::new(file);
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Whether the report at `path` holds a TLS line.
fn holds_tls_lines(path: &Path) -> io::Result<bool> {
    for line in BufReader::new(File::open(path)?).split(b'\n') {
        if is_tls_line(&line?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Put `records` (in the order they come, each `file` and
/// `decrypted_file` a full path) into the report of the target whose
/// `root` holds the flow file (the deepest one), both named relative to
/// it, after every line the report holds but
/// earlier TLS lines, which are dropped. Records under no target's root
/// are left out. A report that held TLS lines is rewritten (through a
/// replacement renamed into place); one that did not is appended to.
/// Returns the lines written.
pub fn replace_tls_lines(
    targets: Vec<TlsTarget>,
    records: impl Iterator<Item = io::Result<TlsRecord>>,
) -> Result<u64, Error> {
    let mut open = targets
        .into_iter()
        .map(Open::start)
        .collect::<Result<Vec<Open>, Error>>()?;
    for record in records {
        let mut record = record.map_err(|source| Error::Write {
            path: open
                .first()
                .map_or_else(PathBuf::new, |o| o.target.report.clone()),
            source,
        })?;
        let full = PathBuf::from(&record.file);
        let target = open
            .iter_mut()
            .filter(|o| full.starts_with(&o.target.root))
            .max_by_key(|o| o.target.root.components().count());
        let Some(target) = target else {
            continue;
        };
        let root = &target.target.root;
        record.file = relative_to(root, &record.file);
        record.decrypted_file = record
            .decrypted_file
            .as_deref()
            .map(|f| relative_to(root, f));
        target.write(&record)?;
    }
    let mut lines = 0;
    for o in open {
        lines += o.finish()?;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(file: &str, connection: u64, role: &str) -> TlsRecord {
        let facts = Facts {
            version: Some("TLS 1.3".into()),
            decrypted: true,
            secret_source: Some("keylog"),
            ..Facts::default()
        };
        let d = DirectionFacts {
            file: "ignored".into(),
            // Named in the flow file's folder, as the carver names it.
            decrypted_file: Path::new(file)
                .file_name()
                .map(|n| format!("{}-TLS", n.to_string_lossy())),
            records: 3,
            bytes: 99,
            ..DirectionFacts::default()
        };
        TlsRecord::of(file.into(), Some(connection), None, role, &facts, &d)
    }

    const DIRECTION: &str = "{\"file\":\"a\",\"connection\":1,\"gaps\":[]}";

    #[test]
    fn a_tls_line_starts_with_its_record_kind_and_reads_back() {
        let r = record("f", 7, "client");
        let line = serde_json::to_vec(&r).unwrap();
        assert!(is_tls_line(&line), "{}", String::from_utf8_lossy(&line));
        assert!(!is_tls_line(DIRECTION.as_bytes()));
        assert_eq!(serde_json::from_slice::<TlsRecord>(&line).unwrap(), r);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"record\":\"tls\",\"file\":\"f\",\"connection\":7,\"community_id\":null,\
             \"role\":\"client\",\"version\":\"TLS 1.3\",\"cipher_suite\":null,\"sni\":null,\
             \"alpn\":null,\"decrypted\":true,\"reason\":null,\"hello_retry\":false,\
             \"extended_master_secret\":false,\"secret_source\":\"keylog\",\"resumed_by\":null,\
             \"decrypted_file\":\"f-TLS\",\"records\":3,\"bytes\":99,\"key_updates\":0,\
             \"early_data_bytes\":0,\"skipped_records\":0,\"stopped\":null}"
        );
    }

    fn target(root: &Path, fresh: bool) -> TlsTarget {
        TlsTarget {
            root: root.to_path_buf(),
            report: root.join("report.jsonl"),
            fresh,
        }
    }

    #[test]
    fn lines_go_after_the_direction_lines_named_relative_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.jsonl");
        std::fs::write(&report, format!("{DIRECTION}\n")).unwrap();
        let full = dir.path().join("sub/f").to_string_lossy().into_owned();
        let elsewhere = record("/elsewhere/g", 2, "client");
        let records = [record(&full, 1, "server"), elsewhere];
        let n =
            replace_tls_lines(vec![target(dir.path(), true)], records.into_iter().map(Ok)).unwrap();
        assert_eq!(n, 1);
        let text = std::fs::read_to_string(&report).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], DIRECTION);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            read_tls_records(&report).unwrap(),
            [record("sub/f", 1, "server")]
        );
    }

    #[test]
    fn carving_again_replaces_the_earlier_tls_lines_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.jsonl");
        std::fs::write(&report, format!("{DIRECTION}\n")).unwrap();
        let full = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
        let first = [
            record(&full("a"), 1, "client"),
            record(&full("b"), 1, "server"),
        ];
        replace_tls_lines(
            vec![target(dir.path(), true)],
            first.clone().into_iter().map(Ok),
        )
        .unwrap();
        let once = std::fs::read(&report).unwrap();
        // A later run appended a direction line; carving again replaces
        // the TLS lines, which go last.
        let later = "{\"file\":\"c\",\"connection\":5,\"gaps\":[]}";
        let mut text = once.clone();
        text.extend_from_slice(format!("{later}\n").as_bytes());
        std::fs::write(&report, &text).unwrap();
        let second = [
            record(&full("a"), 1, "client"),
            record(&full("b"), 1, "server"),
            record(&full("c"), 5, "client"),
        ];
        for _ in 0..2 {
            replace_tls_lines(
                vec![target(dir.path(), false)],
                second.clone().into_iter().map(Ok),
            )
            .unwrap();
            let got = std::fs::read_to_string(&report).unwrap();
            let lines: Vec<&str> = got.lines().collect();
            assert_eq!(lines[..2], [DIRECTION, later], "{got}");
            assert_eq!(lines.len(), 5);
            let files: Vec<String> = read_tls_records(&report)
                .unwrap()
                .into_iter()
                .map(|r| r.file)
                .collect();
            assert_eq!(files, ["a", "b", "c"]);
        }
        assert!(!dir.path().join("report.jsonl.part").exists());
        // An error reading the records part way leaves the report as it
        // was, and no replacement beside it.
        let before = std::fs::read(&report).unwrap();
        let failing = [
            Ok(record(&full("a"), 1, "client")),
            Err(io::Error::other("spill file unreadable")),
        ];
        let e = replace_tls_lines(vec![target(dir.path(), false)], failing.into_iter());
        assert!(
            e.unwrap_err().to_string().contains("spill file unreadable"),
            "the error says what failed"
        );
        assert_eq!(std::fs::read(&report).unwrap(), before);
        assert!(!dir.path().join("report.jsonl.part").exists());
        // No records and no earlier TLS lines: the report is not touched.
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("report.jsonl"), format!("{DIRECTION}\n")).unwrap();
        replace_tls_lines(vec![target(&plain, false)], std::iter::empty()).unwrap();
        assert_eq!(
            std::fs::read_to_string(plain.join("report.jsonl")).unwrap(),
            format!("{DIRECTION}\n")
        );
    }
}
