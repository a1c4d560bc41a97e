//! The report's TLS lines as carving gathers them: every TLS connection
//! that carving tried to decrypt gives one [`TlsRecord`] per direction
//! (made by `tls`), and they are sorted by the connection's id, then by
//! flow file, through `spill`, so that memory does not grow with the
//! number of connections and the report gets them in one order whatever
//! order connections were carved in (any `-j`, a single run or merged
//! shards).
//!
//! Owns: the sort key and the spill encoding of a line, and handing the
//! sorted lines to [`crate::output::tls_record::replace_tls_lines`].
//!
//! Must not: decide what goes in a line, or write the report itself.

use super::spill::{codec, Sorted, Spill};
use crate::error::Error;
use crate::output::tls_record::{replace_tls_lines, TlsRecord, TlsTarget};
use std::cmp::Ordering;
use std::io;

/// Bytes of TLS lines held before a run of them is written to the spill
/// file.
pub const TLS_LINES_BUDGET: usize = 1 << 20;

/// One TLS line waiting for its place: by connection id (unknown ones
/// last), then by its flow file's full path.
#[derive(Debug)]
pub(crate) struct TlsLine {
    connection: u64,
    file: String,
    /// The record as JSON (its `file` the full path).
    json: Vec<u8>,
}

impl TlsLine {
    /// `record` (its `file` the flow file's full path) as a line to sort.
    pub(crate) fn new(record: &TlsRecord) -> io::Result<TlsLine> {
        Ok(TlsLine {
            connection: record.connection.unwrap_or(u64::MAX),
            file: record.file.clone(),
            json: serde_json::to_vec(record)?,
        })
    }

    fn key(&self) -> (u64, &str) {
        (self.connection, &self.file)
    }
}

impl PartialEq for TlsLine {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for TlsLine {}

impl PartialOrd for TlsLine {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TlsLine {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl Spill for TlsLine {
    fn encode(&self, out: &mut Vec<u8>) {
        codec::put_u64(out, self.connection);
        codec::put_bytes(out, self.file.as_bytes());
        codec::put_bytes(out, &self.json);
    }

    fn decode(bytes: &[u8]) -> Option<TlsLine> {
        let mut f = codec::Fields(bytes);
        let line = TlsLine {
            connection: f.u64()?,
            file: f.string()?,
            json: f.bytes()?.to_vec(),
        };
        f.is_empty().then_some(line)
    }

    fn heap_bytes(&self) -> usize {
        self.file.len() + self.json.len()
    }
}

/// The TLS lines a carving pass gathered, in report order, for the
/// reports to put them in ([`TlsLines::write`]).
#[derive(Default)]
pub struct TlsLines {
    sorted: Option<Sorted<TlsLine>>,
    count: u64,
}

impl std::fmt::Debug for TlsLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLines")
            .field("count", &self.count)
            .finish()
    }
}

impl TlsLines {
    /// The lines `sorter` holds (`count` of them).
    pub(crate) fn new(sorted: Sorted<TlsLine>, count: u64) -> TlsLines {
        TlsLines {
            sorted: Some(sorted),
            count,
        }
    }

    /// How many lines there are (two per TLS connection with both
    /// directions).
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when carving tried to decrypt no TLS connection.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Put the lines into the reports of `targets` (see
    /// [`replace_tls_lines`]), replacing the TLS lines they held; returns
    /// the lines written.
    pub fn write(self, targets: Vec<TlsTarget>) -> Result<u64, Error> {
        let records = self.sorted.into_iter().flatten().map(|line| {
            line.and_then(|l| {
                serde_json::from_slice::<TlsRecord>(&l.json).map_err(io::Error::other)
            })
        });
        replace_tls_lines(targets, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::spill::Sorter;
    use crate::tls::session::{DirectionFacts, Facts};

    fn record(file: &str, connection: Option<u64>) -> TlsRecord {
        TlsRecord::of(
            file.into(),
            connection,
            None,
            "client",
            &Facts::default(),
            &DirectionFacts::default(),
        )
    }

    #[test]
    fn lines_come_out_by_connection_then_file_whatever_the_spilling() {
        let dir = tempfile::tempdir().unwrap();
        let pushed = [
            record("/o/b", Some(9)),
            record("/o/z", None),
            record("/o/a", Some(9)),
            record("/o/c", Some(2)),
        ];
        for budget in [1, 1 << 20] {
            let mut sorter = Sorter::new(dir.path(), budget);
            for r in &pushed {
                sorter.push(TlsLine::new(r).unwrap()).unwrap();
            }
            let got: Vec<(u64, String)> = sorter
                .finish()
                .unwrap()
                .map(|l| {
                    let l = l.unwrap();
                    (l.connection, l.file)
                })
                .collect();
            let want = [(2, "/o/c"), (9, "/o/a"), (9, "/o/b"), (u64::MAX, "/o/z")];
            let want: Vec<(u64, String)> = want.iter().map(|&(c, f)| (c, f.into())).collect();
            assert_eq!(got, want, "budget {budget}");
        }
    }
}
