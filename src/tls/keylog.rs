//! NSS key log files (`SSLKEYLOGFILE`): the session secrets browsers, curl,
//! OpenSSL, Python's `ssl` and many test harnesses write.
//!
//! Owns: parsing the format (`LABEL <client random, 64 hex digits> <secret
//! in hex>` per line, `#` comments) into secrets by client random, and the
//! limits on a hostile file: lines longer than [`MAX_LINE`] bytes, unknown
//! labels, bad hex and secrets of the wrong size are skipped and counted,
//! never trusted.
//!
//! Must not: panic on any bytes, or hold more than the file's valid
//! secrets.

use crate::error::Error;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The longest line read; longer lines are skipped.
pub const MAX_LINE: usize = 1024;

/// The secrets logged for one connection (one client random).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
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
    /// file that cannot be read, or that has lines but not one valid key
    /// log line (not a key log at all), is an error naming it.
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
            if stats.valid == 0 && log.skipped > before.1 {
                return Err(not_a_key_log(p));
            }
        }
        Ok(log)
    }

    /// Add the lines of `r`. Returns how many valid lines it had.
    pub fn read(&mut self, r: impl Read) -> io::Result<ReadStats> {
        let mut r = BufReader::new(r);
        let mut stats = ReadStats::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            // Read at most MAX_LINE + 1 bytes of a line, then skip the rest.
            let n = (&mut r)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') && n > MAX_LINE {
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
                Some(false) => self.skipped += 1,
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Valid key log lines.
    pub valid: u64,
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

fn not_a_key_log(p: &Path) -> Error {
    Error::Read {
        path: p.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            "not an NSS key log file (no line of the form LABEL <64 hex digits> <hex secret>)",
        ),
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
    fn a_file_with_no_valid_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"hello\nworld\n").unwrap();
        let e = KeyLog::load(std::slice::from_ref(&bad)).unwrap_err();
        assert!(e.to_string().contains("not an NSS key log file"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert!(KeyLog::load(&[empty]).unwrap().is_empty());
        let missing = dir.path().join("missing");
        assert!(KeyLog::load(&[missing]).is_err());
    }
}
