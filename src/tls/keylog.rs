//! NSS key log files (`SSLKEYLOGFILE`): the session secrets browsers, curl,
//! OpenSSL, Python's `ssl` and many test harnesses write.
//!
//! Owns: parsing the format (`LABEL <client random, 64 hex digits> <secret
//! in hex>` per line, `#` comments) into secrets by client random, and the
//! limits on a hostile file: lines longer than [`MAX_LINE`] bytes, unknown
//! labels, bad hex and secrets of the wrong size are skipped and counted,
//! never trusted. A file with lines but not one usable is kept as
//! [`Unusable`] (a warning for the caller to give), not an error: the run
//! goes on without its secrets.
//!
//! Must not: panic on any bytes, or hold more than the file's valid
//! secrets.

use crate::error::Error;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The longest line read; longer lines are skipped.
pub const MAX_LINE: usize = 1024;

/// Where a connection's secrets were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// A key log file (`--tls-keylog`).
    #[default]
    KeyLog,
    /// A Decryption Secrets Block of the capture (pcapng).
    Capture,
}

/// The secrets logged for one connection (one client random).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Where they were read: a key log file's lines win over the
    /// capture's for the same connection (see [`KeyLog::merge`]).
    pub origin: Origin,
    /// TLS 1.2 and earlier: `CLIENT_RANDOM`, the 48-byte master secret.
    pub master: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_EARLY_TRAFFIC_SECRET`.
    pub client_early: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3 `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3 `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic: Option<Vec<u8>>,
}

/// Secrets by client random, from one or more key log files.
#[derive(Debug, Clone, Default)]
pub struct KeyLog {
    secrets: HashMap<[u8; 32], Secrets>,
    /// Lines skipped as malformed (comments and blank lines are not counted).
    pub skipped: u64,
    /// The files read that had lines but not one usable.
    pub unusable: Vec<Unusable>,
}

/// A key log file with lines but not one usable: what a warning says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The file.
    pub path: PathBuf,
    /// Its first line that is not a usable key log line (1-based).
    pub line: u64,
    /// That line, as text (invalid UTF-8 replaced), cut at 80 characters.
    pub text: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: not an NSS key log file, no usable line (first bad line {}: {:?}); \
             the TLS connections it was meant for are not decrypted",
            self.path.display(),
            self.line,
            self.text
        )
    }
}

/// What a key log line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Master,
    ClientEarly,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic,
    ServerTraffic,
    /// Known labels flowsplit has no use for (`EXPORTER_SECRET`, ...).
    Unused,
}

fn label(s: &str) -> Option<Label> {
    Some(match s {
        "CLIENT_RANDOM" => Label::Master,
        "CLIENT_EARLY_TRAFFIC_SECRET" => Label::ClientEarly,
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
        "SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
        "CLIENT_TRAFFIC_SECRET_0" => Label::ClientTraffic,
        "SERVER_TRAFFIC_SECRET_0" => Label::ServerTraffic,
        "EXPORTER_SECRET" | "EARLY_EXPORTER_SECRET" | "RSA" => Label::Unused,
        _ => return None,
    })
}

impl KeyLog {
    /// Read every file of `paths` (later lines win for the same secret). A
    /// file that cannot be opened or read is an error naming it; one that
    /// has lines but not one valid key log line (not a key log at all) is
    /// listed in [`KeyLog::unusable`], with its first bad line, and the
    /// other files are read.
    pub fn load(paths: &[PathBuf]) -> Result<KeyLog, Error> {
        let mut log = KeyLog::default();
        for p in paths {
            let file = std::fs::File::open(p).map_err(|source| Error::Open {
                path: p.clone(),
                source,
            })?;
            let before = (log.len(), log.skipped);
            let stats = log
                .read(BufReader::new(file))
                .map_err(|source| Error::Read {
                    path: p.clone(),
                    source,
                })?;
            if let (0, Some((line, text))) = (stats.valid, stats.first_bad) {
                debug_assert!(log.skipped > before.1);
                log.unusable.push(Unusable {
                    path: p.clone(),
                    line,
                    text,
                });
            }
        }
        Ok(log)
    }

    /// Add the lines of `r`. Returns how many valid lines it had.
    pub fn read(&mut self, r: impl Read) -> io::Result<ReadStats> {
        let mut r = BufReader::new(r);
        let mut stats = ReadStats::default();
        let mut line = Vec::new();
        let mut number = 0u64;
        let bad = |number: u64, line: &[u8], stats: &mut ReadStats| {
            if stats.first_bad.is_none() {
                let text: String = String::from_utf8_lossy(line)
                    .trim_end()
                    .chars()
                    .take(80)
                    .collect();
                stats.first_bad = Some((number, text));
            }
        };
        loop {
            line.clear();
            // Read at most MAX_LINE + 1 bytes of a line, then skip the rest.
            let n = (&mut r)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            number += 1;
            if line.last() != Some(&b'\n') && n > MAX_LINE {
                bad(number, &line, &mut stats);
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    let m = (&mut r).take(64 * 1024).read_until(b'\n', &mut rest)?;
                    if m == 0 || rest.last() == Some(&b'\n') {
                        break;
                    }
                }
                self.skipped += 1;
                continue;
            }
            match self.add_line(&line) {
                Some(true) => stats.valid += 1,
                Some(false) => {
                    bad(number, &line, &mut stats);
                    self.skipped += 1;
                }
                None => {}
            }
        }
        Ok(stats)
    }

    /// Add one line: `Some(true)` if it was a valid key log line,
    /// `Some(false)` if malformed, `None` for a comment or blank line.
    fn add_line(&mut self, line: &[u8]) -> Option<bool> {
        let Ok(text) = std::str::from_utf8(line) else {
            return Some(false);
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        let mut parts = text.split_ascii_whitespace();
        let (Some(l), Some(random), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Some(false);
        };
        let Some(l) = label(l) else {
            return Some(false);
        };
        if l == Label::Unused {
            return Some(true);
        }
        let (Ok(random), Ok(secret)) = (hex::decode(random), hex::decode(secret)) else {
            return Some(false);
        };
        let Ok(random) = <[u8; 32]>::try_from(random.as_slice()) else {
            return Some(false);
        };
        let size_ok = match l {
            Label::Master => secret.len() == 48,
            // SHA-256 or SHA-384 sized traffic secrets.
            _ => secret.len() == 32 || secret.len() == 48,
        };
        if !size_ok {
            return Some(false);
        }
        let s = self.secrets.entry(random).or_default();
        let slot = match l {
            Label::Master => &mut s.master,
            Label::ClientEarly => &mut s.client_early,
            Label::ClientHandshake => &mut s.client_handshake,
            Label::ServerHandshake => &mut s.server_handshake,
            Label::ClientTraffic => &mut s.client_traffic,
            Label::ServerTraffic => &mut s.server_traffic,
            Label::Unused => return Some(true),
        };
        *slot = Some(secret);
        Some(true)
    }

    /// Add the secrets of `other` (read from `origin`) for the connections
    /// `self` has no line of: where both have a secret, `self`'s stays.
    pub fn merge(&mut self, other: &KeyLog, origin: Origin) {
        for (random, theirs) in &other.secrets {
            let ours = self.secrets.entry(*random).or_insert_with(|| Secrets {
                origin,
                ..Secrets::default()
            });
            for (o, t) in [
                (&mut ours.master, &theirs.master),
                (&mut ours.client_early, &theirs.client_early),
                (&mut ours.client_handshake, &theirs.client_handshake),
                (&mut ours.server_handshake, &theirs.server_handshake),
                (&mut ours.client_traffic, &theirs.client_traffic),
                (&mut ours.server_traffic, &theirs.server_traffic),
            ] {
                if o.is_none() {
                    o.clone_from(t);
                }
            }
        }
        self.skipped += other.skipped;
    }

    /// The secrets logged for the connection whose ClientHello carried
    /// `client_random`.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.secrets.get(client_random)
    }

    /// How many connections have secrets.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when no secrets were read.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// What one read added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Valid key log lines.
    pub valid: u64,
    /// The first malformed line: its number (1-based) and text, cut at 80
    /// characters.
    pub first_bad: Option<(u64, String)>,
}

/// Bytes set aside for the secrets kept from the capture's Decryption
/// Secrets Blocks, part of [`crate::config::FIXED_MEMORY`]: counted as
/// [`CAPTURE_SECRET_BYTES`] per connection, some 8,000 connections; the
/// secrets of connections past it are dropped and counted
/// ([`CaptureSecrets::dropped`]).
pub const CAPTURE_SECRETS_BUDGET: usize = 8 << 20;

/// Bytes counted for each connection's secrets read from the capture: a
/// TLS 1.3 connection's five secrets with their table entry take some 530
/// bytes, held at most twice (as read, and merged with the key log
/// files' secrets).
pub const CAPTURE_SECRET_BYTES: usize = 1024;

/// The TLS key logs a pcapng capture carries in Decryption Secrets Blocks
/// (`editcap --inject-secrets tls,KEYLOG`), as the capture is read: the
/// reader adds each block's key log ([`CaptureSecrets::add`]), the carvers
/// take what was added so far ([`CaptureSecrets::current`]). Clones share
/// the secrets. Bounded by [`CAPTURE_SECRETS_BUDGET`].
#[derive(Debug, Clone, Default)]
pub struct CaptureSecrets(Arc<Mutex<CaptureState>>);

#[derive(Debug, Default)]
struct CaptureState {
    /// The secrets so far: copied on a block's arrival only while a
    /// carver still holds the last ones handed out.
    log: Arc<KeyLog>,
    /// Blocks added so far: changes whenever `log` does.
    blocks: u64,
    /// Connections whose secrets were dropped past the budget.
    dropped: u64,
}

impl CaptureSecrets {
    fn state(&self) -> MutexGuard<'_, CaptureState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add the key log text of one Decryption Secrets Block. Malformed
    /// lines are skipped and counted (in the log's `skipped`), as in a
    /// key log file; returns how many valid lines it had.
    pub fn add(&self, text: &[u8]) -> u64 {
        let mut block = KeyLog::default();
        // Reading from a slice cannot fail.
        let stats = block.read(text).unwrap_or_default();
        let mut state = self.state();
        let state = &mut *state;
        let room = (CAPTURE_SECRETS_BUDGET / CAPTURE_SECRET_BYTES).saturating_sub(state.log.len());
        let mut fresh = 0usize;
        block.secrets.retain(|random, _| {
            if state.log.secrets.contains_key(random) {
                return true;
            }
            fresh += 1;
            fresh <= room
        });
        state.dropped += fresh.saturating_sub(room) as u64;
        Arc::make_mut(&mut state.log).merge(&block, Origin::Capture);
        state.blocks += 1;
        stats.valid
    }

    /// The secrets added so far, and how many blocks added them.
    pub fn current(&self) -> (Arc<KeyLog>, u64) {
        let state = self.state();
        (state.log.clone(), state.blocks)
    }

    /// True while no block was added.
    pub fn is_empty(&self) -> bool {
        self.state().blocks == 0
    }

    /// Connections whose secrets were dropped past the budget.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

/// The secrets of the key log files `files` (if any) with those the
/// capture carries added (see [`KeyLog::merge`]).
pub fn with_capture(files: &KeyLog, capture: &KeyLog) -> KeyLog {
    let mut log = files.clone();
    log.merge(capture, Origin::Capture);
    log
}

/// Key log files read again when they change: for live capture, where the
/// browser or client writes secrets while the capture runs.
#[derive(Debug, Default)]
pub struct Reloading {
    paths: Vec<PathBuf>,
    /// Each file's length and modification time when last read.
    stamps: Vec<Option<(u64, std::time::SystemTime)>>,
    /// Shared with the threads carving with it while a newer one is read.
    log: std::sync::Arc<KeyLog>,
}

impl Reloading {
    /// The key logs at `paths`, not read yet.
    pub fn new(paths: Vec<PathBuf>) -> Reloading {
        Reloading {
            paths,
            stamps: Vec::new(),
            log: std::sync::Arc::default(),
        }
    }

    /// The secrets, read again first if a file's length or modification
    /// time changed since the last read. An error reading leaves the
    /// secrets read before.
    pub fn current(&mut self) -> (std::sync::Arc<KeyLog>, Option<Error>) {
        let stamps: Vec<_> = self
            .paths
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.len(), m.modified().ok()?))
            })
            .collect();
        let mut error = None;
        if stamps != self.stamps {
            match KeyLog::load(&self.paths) {
                Ok(log) => self.log = std::sync::Arc::new(log),
                Err(e) => error = Some(e),
            }
            self.stamps = stamps;
        }
        (self.log.clone(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "0102030405060708091011121314151617181920212223242526272829303132";

    fn parse(text: &[u8]) -> KeyLog {
        let mut k = KeyLog::default();
        k.read(text).unwrap();
        k
    }

    #[test]
    fn reads_tls12_and_tls13_lines() {
        let master = "ab".repeat(48);
        let secret = "cd".repeat(32);
        let text = format!(
            "# comment\n\nCLIENT_RANDOM {R} {master}\nCLIENT_TRAFFIC_SECRET_0 {R} {secret}\r\nEXPORTER_SECRET {R} {secret}\n"
        );
        let k = parse(text.as_bytes());
        assert_eq!(k.skipped, 0);
        let random: [u8; 32] = hex::decode(R).unwrap().try_into().unwrap();
        let s = k.get(&random).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.client_traffic.as_deref(), Some(&[0xcd; 32][..]));
        assert!(s.server_traffic.is_none());
    }

    #[test]
    fn a_capture_s_secrets_fill_in_what_the_files_lack() {
        let other = "0202030405060708091011121314151617181920212223242526272829303132";
        let mut files = parse(format!("CLIENT_RANDOM {R} {}\n", "ab".repeat(48)).as_bytes());
        let capture = parse(
            format!(
                "CLIENT_RANDOM {R} {}\nCLIENT_RANDOM {other} {}\n",
                "cd".repeat(48),
                "ef".repeat(48)
            )
            .as_bytes(),
        );
        files.merge(&capture, Origin::Capture);
        assert_eq!(files.len(), 2);
        let r: [u8; 32] = hex::decode(R).unwrap().try_into().unwrap();
        let s = files.get(&r).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.origin, Origin::KeyLog);
        let o: [u8; 32] = hex::decode(other).unwrap().try_into().unwrap();
        let s = files.get(&o).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xef; 48][..]));
        assert_eq!(s.origin, Origin::Capture);
    }

    #[test]
    fn capture_secrets_are_shared_bounded_and_hostile_blocks_harmless() {
        let secrets = CaptureSecrets::default();
        let reader = secrets.clone();
        assert!(reader.is_empty());
        let line = format!("CLIENT_RANDOM {R} {}\n", "ab".repeat(48));
        assert_eq!(secrets.add(line.as_bytes()), 1);
        let (log, blocks) = reader.current();
        assert_eq!((log.len(), blocks), (1, 1));
        let r: [u8; 32] = hex::decode(R).unwrap().try_into().unwrap();
        assert_eq!(log.get(&r).unwrap().origin, Origin::Capture);
        // Garbage, binary, an empty block: skipped lines, nothing kept.
        for junk in [
            &b"\x00\xff\x13garbage"[..],
            b"",
            &[b'\n'; 3000],
            &[0xc3; 70000],
        ] {
            assert_eq!(secrets.add(junk), 0);
        }
        assert_eq!(reader.current().0.len(), 1);
        // Past the budget, new connections' secrets are dropped.
        let many: String = (0..(CAPTURE_SECRETS_BUDGET / CAPTURE_SECRET_BYTES) + 10)
            .map(|i| format!("CLIENT_RANDOM {:064x} {}\n", i + 1, "cd".repeat(48)))
            .collect();
        secrets.add(many.as_bytes());
        assert_eq!(
            reader.current().0.len(),
            CAPTURE_SECRETS_BUDGET / CAPTURE_SECRET_BYTES
        );
        assert_eq!(reader.dropped(), 11);
    }

    #[test]
    fn hostile_lines_are_skipped_and_counted() {
        let long = format!("CLIENT_RANDOM {R} {}\n", "ab".repeat(5000));
        let lines: Vec<Vec<u8>> = vec![
            b"CLIENT_RANDOM zz abab\n".to_vec(),
            format!("CLIENT_RANDOM {R} abab\n").into_bytes(), // wrong size
            format!("NOT_A_LABEL {R} {}\n", "ab".repeat(32)).into_bytes(),
            format!("CLIENT_RANDOM {} {}\n", &R[..62], "ab".repeat(48)).into_bytes(),
            format!("CLIENT_RANDOM {R} {} extra\n", "ab".repeat(48)).into_bytes(),
            b"\xff\xfe\x00garbage\n".to_vec(),
            long.into_bytes(),
            vec![b'x'; 100_000],
        ];
        let k = parse(&lines.concat());
        assert_eq!(k.skipped, 8);
        assert!(k.is_empty());
    }

    #[test]
    fn a_file_with_no_valid_line_is_listed_with_its_first_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"# keys\n\nhello\nworld\n").unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, format!("CLIENT_RANDOM {R} {}\n", "ab".repeat(48))).unwrap();
        let log = KeyLog::load(&[bad.clone(), good]).unwrap();
        assert_eq!(log.len(), 1, "the other file is still read");
        assert_eq!(
            log.unusable,
            [Unusable {
                path: bad.clone(),
                line: 3,
                text: "hello".into()
            }]
        );
        let said = log.unusable[0].to_string();
        assert!(said.starts_with(&format!("{}: not an NSS key log file", bad.display())));
        assert!(said.contains("first bad line 3: \"hello\""), "{said}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        let log = KeyLog::load(&[empty]).unwrap();
        assert!(log.is_empty() && log.unusable.is_empty());
        let missing = dir.path().join("missing");
        let e = KeyLog::load(std::slice::from_ref(&missing)).unwrap_err();
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
    }
}
