//! `--grep` on a normal run: which connections the report keeps.
//!
//! Owns: the decision on one closed connection, made when the report
//! releases its records ([`crate::output::OrderedReport`] hands over both
//! directions' records at once, as they closed together): it matched when
//! any of its records counts a match (`grep_matches`, set by
//! [`crate::search::counted::Counted`]). With `--only-matching` a
//! connection that did not match has its flow files (and their `.findx`
//! indexes) removed, and the report writes nothing of it: no report line,
//! no DFXML entry, no `close` event, no HTTP carving. Without it every
//! connection is kept. Both ways the connections are counted
//! ([`KeepCounts`]).
//!
//! Must not: search (the records say what matched) or touch a file the
//! run did not write (names are resolved from the open output folder,
//! never through a symbolic link: [`FileSink::remove`]).

use super::files::FileSink;
use super::report::DirectionRecord;
use crate::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Connections decided so far, read by the run once it ends (the report
/// runs in its own thread with `-j`).
#[derive(Debug, Default)]
pub struct KeepCounts {
    matching: AtomicU64,
    not_matching: AtomicU64,
    dropped_directions: AtomicU64,
    dropped_with_gaps: AtomicU64,
}

impl KeepCounts {
    /// Connections with a match in either direction.
    pub fn matching(&self) -> u64 {
        self.matching.load(Ordering::Relaxed)
    }

    /// Connections reported without one (with `--only-matching`: the
    /// connections dropped).
    pub fn not_matching(&self) -> u64 {
        self.not_matching.load(Ordering::Relaxed)
    }

    /// Directions dropped (`--only-matching`), and those of them with
    /// bytes missing: the run's counts of directions reported leave them
    /// out.
    pub fn dropped_directions(&self) -> (u64, u64) {
        (
            self.dropped_directions.load(Ordering::Relaxed),
            self.dropped_with_gaps.load(Ordering::Relaxed),
        )
    }
}

/// Decides, connection by connection, what the report keeps.
pub struct KeepMatching {
    /// The output folder, to remove the files of connections dropped;
    /// `None` when nothing is dropped or no flow files are written (`-F X`).
    files: Option<FileSink>,
    /// Files beside each flow file, by suffix (`.findx` with `-I`).
    companions: Vec<&'static str>,
    /// Drop connections that did not match (`--only-matching`).
    only_matching: bool,
    counts: Arc<KeepCounts>,
}

impl KeepMatching {
    /// Count every connection, keeping them all.
    pub fn counting(counts: Arc<KeepCounts>) -> KeepMatching {
        KeepMatching {
            files: None,
            companions: Vec::new(),
            only_matching: false,
            counts,
        }
    }

    /// Keep only the connections that matched; remove the flow files of
    /// the others from `files` (`None`: no flow files are written), with
    /// the files named as each flow file plus one of `companions`.
    pub fn only_matching(
        files: Option<FileSink>,
        companions: Vec<&'static str>,
        counts: Arc<KeepCounts>,
    ) -> KeepMatching {
        KeepMatching {
            files,
            companions,
            only_matching: true,
            counts,
        }
    }

    /// Decide on one connection, given its records (one or two): true when
    /// the report is to write them. A connection dropped has its files
    /// removed before this returns.
    pub fn connection(&mut self, records: &[DirectionRecord]) -> Result<bool, Error> {
        let matched = records.iter().any(|r| r.grep_matches.unwrap_or(0) > 0);
        let counter = match matched {
            true => &self.counts.matching,
            false => &self.counts.not_matching,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if matched || !self.only_matching {
            return Ok(true);
        }
        let with_gaps = records
            .iter()
            .filter(|r| !r.gaps.is_empty() || !r.jumps.is_empty())
            .count();
        let c = &self.counts;
        c.dropped_directions
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        c.dropped_with_gaps
            .fetch_add(with_gaps as u64, Ordering::Relaxed);
        if let Some(files) = &self.files {
            for r in records {
                files.remove(&r.file)?;
                for suffix in &self.companions {
                    files.remove(&format!("{}{suffix}", r.file))?;
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::consumer::fixtures::{direction, fin_end};

    fn record(file: &str, matches: u64) -> DirectionRecord {
        let info = direction(1000, 1);
        let mut r =
            crate::output::tally::Tally::default().record(file.into(), &info, &fin_end(1, vec![]));
        r.grep_matches = Some(matches);
        r
    }

    #[test]
    fn a_connection_is_kept_when_either_direction_matched() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a", "b", "c", "c.findx", "d"] {
            std::fs::write(dir.path().join(f), f).unwrap();
        }
        let counts = Arc::new(KeepCounts::default());
        let sink = FileSink::new(dir.path(), 4).unwrap();
        let mut keep = KeepMatching::only_matching(Some(sink), vec![".findx"], counts.clone());
        assert!(keep.connection(&[record("a", 0), record("b", 2)]).unwrap());
        assert!(!keep.connection(&[record("c", 0)]).unwrap());
        assert_eq!((counts.matching(), counts.not_matching()), (1, 1));
        assert_eq!(counts.dropped_directions(), (1, 0));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a", "b", "d"]);
    }

    #[test]
    fn counting_keeps_every_connection_and_removes_nothing() {
        let counts = Arc::new(KeepCounts::default());
        let mut keep = KeepMatching::counting(counts.clone());
        assert!(keep.connection(&[record("a", 0), record("b", 0)]).unwrap());
        assert!(keep.connection(&[record("c", 1)]).unwrap());
        assert_eq!((counts.matching(), counts.not_matching()), (1, 1));
        assert_eq!(counts.dropped_directions(), (0, 0));
    }
}
