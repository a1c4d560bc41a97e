//! The run's summary: one JSON object written beside the report when the
//! run ends (`report.summary.json` for `report.jsonl`), with the figures a
//! `stats` event carries (packets, bytes, capture loss) for the whole run,
//! and whether the run got to its end.
//!
//! It is a file of its own, not a last line of `report.jsonl`, so every
//! report line stays one direction and shard reports merge line by line.
//! It is written to a temporary name and renamed, so a summary that exists
//! is whole. Must not: read the report or the flow files.

use super::files::create_truncated;
use crate::error::Error;
use crate::pipeline::RunSummary;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The summary's file name for a report at `report`: its name with the
/// extension replaced by `summary.json`, in the same folder.
pub fn summary_path(report: &Path) -> PathBuf {
    report.with_extension("summary.json")
}

/// The summary's contents, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    /// The flowsplit version that wrote it.
    pub flowsplit: String,
    /// True when the run got to its end: every input read (or live capture
    /// stopped by a signal) and every direction closed and reported. False
    /// when an error stopped it (the report then holds what was done), or
    /// when an input could not be read at all (`inputs_failed`).
    pub complete: bool,
    /// The error that stopped the run, if one did.
    pub error: Option<String>,
    /// Packets read from the inputs (live: those decoded, which leaves out
    /// the ones flowsplit dropped).
    pub packets: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// TCP connections seen.
    pub connections: u64,
    /// Directions reported.
    pub directions: u64,
    /// Directions reported with bytes missing (gaps or jumps).
    #[serde(default)]
    pub directions_with_gaps: u64,
    /// Inputs given, after folders are walked (0 in live capture).
    #[serde(default)]
    pub inputs: u64,
    /// Inputs none of whose packets could be read (named in `input_errors`).
    #[serde(default)]
    pub inputs_failed: u64,
    /// HTTP bodies carved (`-e http`).
    pub http_bodies: u64,
    /// Errors that did not stop the run, one line each, in the order met.
    pub input_errors: Vec<String>,
    /// The memory budget (`--max-memory`), in bytes.
    pub max_memory: u64,
    /// Live capture's account; `null` when reading files.
    pub capture: Option<CaptureRecord>,
    /// The amplification bound and what the run spent of it. (Read as
    /// zeros from summaries written before it existed.)
    #[serde(default)]
    pub amplification: AmplificationRecord,
    /// What `--grep` found; left out without `--grep`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grep: Option<GrepRecord>,
}

/// `--grep`'s account of the connections reported (those with bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrepRecord {
    /// Connections with a match in either direction.
    pub connections_matching: u64,
    /// Connections without one: with `only_matching`, those dropped (no
    /// flow files, no report lines, not in `directions`).
    pub connections_not_matching: u64,
    /// `--only-matching` was given.
    pub only_matching: bool,
}

/// The amplification bound (`--max-amplification`,
/// `--amplification-base`) and what zero fill spent of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AmplificationRecord {
    /// Bytes of fill each captured byte allows.
    pub ratio: u64,
    /// Bytes of fill allowed whatever the capture's size.
    pub base: u64,
    /// The captured bytes the bound is counted on: every TCP segment's
    /// captured payload plus 40 bytes for its IP and TCP headers (at most
    /// `bytes`).
    #[serde(default)]
    pub credited: u64,
    /// The bound for this run: `ratio x credited + base`.
    pub limit: u64,
    /// Zero bytes written (and hashed) for holes, over all directions.
    pub filled: u64,
    /// Holes of at most `-m` left out as jumps because the bound was spent
    /// (the report lists each in its direction's `bound_jumps`).
    pub bound_jumps: u64,
    /// Their bytes.
    pub bound_jump_bytes: u64,
    /// Zero bytes written into the holes of range objects (`-e http`):
    /// with `filled`, at most `limit`.
    #[serde(default)]
    pub object_filled: u64,
    /// Range objects cut (incomplete, noted in their records) because the
    /// bound had no room left for their holes.
    #[serde(default)]
    pub objects_cut: u64,
    /// Bytes decoded bodies (`-e http`) grew by beyond their encoded
    /// bytes: held on its own to `ratio` times the bytes of each body's
    /// connection plus `base` (see the man page's `--max-amplification`).
    #[serde(default)]
    pub decoded_growth: u64,
    /// Decoded bodies cut (incomplete, with the reason in their records)
    /// because that bound was spent.
    #[serde(default)]
    pub bodies_cut: u64,
    /// Bodies kept as sent, not decoded, because that bound was spent
    /// before they decoded to a byte (noted in their records).
    #[serde(default)]
    pub bodies_not_decoded: u64,
}

/// Live capture's account of loss, as `stats` events give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRecord {
    /// The interface captured on.
    pub interface: String,
    /// Packets that passed the filter, as the kernel counts them; `null`
    /// when the kernel's counters could not be read.
    pub kernel_received: Option<u64>,
    /// Packets the kernel dropped because its buffer was full.
    pub kernel_dropped: Option<u64>,
    /// Packets the interface or its driver dropped.
    pub interface_dropped: Option<u64>,
    /// Packets flowsplit took from the kernel and dropped because its
    /// queue had no room in time (only once decoding had stopped, or the
    /// drain after a stop ran out of time).
    pub flowsplit_dropped: u64,
    /// Milliseconds the capture thread waited for room in its queue,
    /// leaving the backlog in the kernel's buffer.
    #[serde(default)]
    pub flowsplit_waited_ms: u64,
    /// Why the kernel's counters are missing, if they are.
    pub kernel_error: Option<String>,
}

impl SummaryRecord {
    /// The record for a run that did `summary`, stopped by `fatal` if that
    /// is `Some`, under a budget of `max_memory` bytes.
    pub fn new(summary: &RunSummary, fatal: Option<&Error>, max_memory: u64) -> SummaryRecord {
        let capture = summary.capture_stats.as_ref().map(|live| {
            let kernel = live.stats.as_ref().ok();
            CaptureRecord {
                interface: live.interface.clone(),
                kernel_received: kernel.map(|s| u64::from(s.received)),
                kernel_dropped: kernel.map(|s| u64::from(s.dropped_by_kernel)),
                interface_dropped: kernel.map(|s| u64::from(s.dropped_by_interface)),
                flowsplit_dropped: live.dropped_by_flowsplit,
                flowsplit_waited_ms: live.waited_ms,
                kernel_error: live.stats.as_ref().err().map(ToString::to_string),
            }
        });
        SummaryRecord {
            flowsplit: env!("CARGO_PKG_VERSION").to_string(),
            complete: fatal.is_none() && summary.inputs_failed == 0,
            error: fatal.map(ToString::to_string),
            packets: summary.packets,
            bytes: summary.bytes,
            connections: summary.connections,
            directions: summary.directions,
            directions_with_gaps: summary.directions_with_gaps,
            inputs: summary.inputs,
            inputs_failed: summary.inputs_failed,
            http_bodies: summary.http_bodies,
            input_errors: summary
                .input_errors
                .iter()
                .map(ToString::to_string)
                .collect(),
            max_memory,
            capture,
            amplification: AmplificationRecord {
                ratio: summary.fill_bound.ratio,
                base: summary.fill_bound.base,
                credited: summary.fill.credited,
                limit: summary.fill_bound.limit(summary.fill.credited),
                filled: summary.fill.filled,
                bound_jumps: summary.fill.bound_jumps,
                bound_jump_bytes: summary.fill.bound_jump_bytes,
                object_filled: summary.http_spent.object_fill,
                objects_cut: summary.http_spent.objects_cut,
                decoded_growth: summary.http_spent.decoded_growth,
                bodies_cut: summary.http_spent.bodies_cut,
                bodies_not_decoded: summary.http_spent.bodies_not_decoded,
            },
            grep: summary.grep.map(|g| GrepRecord {
                connections_matching: g.matching,
                connections_not_matching: g.not_matching,
                only_matching: g.only_matching,
            }),
        }
    }

    /// Read a summary written by [`SummaryRecord::write`].
    pub fn read(path: &Path) -> Result<SummaryRecord, Error> {
        let text = std::fs::read(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| Error::Open {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// The summary a single run would have written, from the summaries of
    /// its shards (`--shard K/N`, in order of K), each of which read every
    /// packet and kept its own connections: the packets, bytes, budget and
    /// input errors are every shard's (the first one's are taken), the
    /// connections, directions and bodies add up, and so do the bytes the
    /// amplification bound is counted on (each shard counted its own
    /// connections'), the fill and the jumps. `None` for no shards.
    pub fn of_shards(shards: &[SummaryRecord]) -> Option<SummaryRecord> {
        let first = shards.first()?;
        let mut all = first.clone();
        all.connections = shards.iter().map(|s| s.connections).sum();
        all.directions = shards.iter().map(|s| s.directions).sum();
        all.directions_with_gaps = shards.iter().map(|s| s.directions_with_gaps).sum();
        all.http_bodies = shards.iter().map(|s| s.http_bodies).sum();
        if let Some(g) = all.grep.as_mut() {
            let each = shards.iter().filter_map(|s| s.grep.as_ref());
            g.connections_matching = each.clone().map(|g| g.connections_matching).sum();
            g.connections_not_matching = each.map(|g| g.connections_not_matching).sum();
        }
        let fill = |f: fn(&AmplificationRecord) -> u64| {
            shards.iter().map(|s| f(&s.amplification)).sum::<u64>()
        };
        all.amplification.credited = fill(|a| a.credited);
        // Each shard held its share of the base (see --shard).
        all.amplification.base = fill(|a| a.base);
        let a = &mut all.amplification;
        a.limit = a.ratio.saturating_mul(a.credited).saturating_add(a.base);
        all.amplification.filled = fill(|a| a.filled);
        all.amplification.bound_jumps = fill(|a| a.bound_jumps);
        all.amplification.bound_jump_bytes = fill(|a| a.bound_jump_bytes);
        all.amplification.object_filled = fill(|a| a.object_filled);
        all.amplification.objects_cut = fill(|a| a.objects_cut);
        all.amplification.decoded_growth = fill(|a| a.decoded_growth);
        all.amplification.bodies_cut = fill(|a| a.bodies_cut);
        all.amplification.bodies_not_decoded = fill(|a| a.bodies_not_decoded);
        all.complete = shards.iter().all(|s| s.complete);
        all.error = shards.iter().find_map(|s| s.error.clone());
        Some(all)
    }

    /// Write the record to `path` (one JSON object and a newline), through
    /// a temporary name beside it that is renamed into place.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let fail = |source: std::io::Error| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut text = serde_json::to_vec(self).map_err(|e| fail(std::io::Error::other(e)))?;
        text.push(b'\n');
        let mut file = create_truncated(&tmp).map_err(fail)?;
        file.write_all(&text).map_err(fail)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::live::CaptureStats;
    use crate::pipeline::LiveStats;

    #[test]
    fn the_summary_sits_beside_the_report() {
        assert_eq!(
            summary_path(Path::new("out/report.jsonl")),
            PathBuf::from("out/report.summary.json")
        );
        assert_eq!(
            summary_path(Path::new("/tmp/r")),
            PathBuf::from("/tmp/r.summary.json")
        );
    }

    #[test]
    fn a_live_run_records_its_loss_and_a_stopped_run_says_why() {
        let summary = RunSummary {
            packets: 10,
            bytes: 1500,
            connections: 2,
            directions: 4,
            directions_with_gaps: 1,
            capture_stats: Some(LiveStats {
                interface: "lo".into(),
                stats: Ok(CaptureStats {
                    received: 12,
                    dropped_by_kernel: 1,
                    dropped_by_interface: 0,
                }),
                dropped_by_flowsplit: 1,
                waited_ms: 250,
            }),
            fill: crate::flow::fill::FillAccount {
                credited: 1200,
                filled: 700,
                bound_jumps: 1,
                bound_jump_bytes: 9000,
            },
            ..RunSummary::default()
        };
        let fatal = Error::Internal("disk gone".into());
        let record = SummaryRecord::new(&summary, Some(&fatal), 64 << 20);
        let json = serde_json::to_string(&record).unwrap();
        let expected = format!(
            "{{\"flowsplit\":\"{}\",\"complete\":false,\"error\":\"{}\",\"packets\":10,\"bytes\":1500,\
             \"connections\":2,\"directions\":4,\"directions_with_gaps\":1,\"inputs\":0,\"inputs_failed\":0,\
             \"http_bodies\":0,\"input_errors\":[],\"max_memory\":67108864,\
             \"capture\":{{\"interface\":\"lo\",\"kernel_received\":12,\"kernel_dropped\":1,\
             \"interface_dropped\":0,\"flowsplit_dropped\":1,\"flowsplit_waited_ms\":250,\"kernel_error\":null}},\
             \"amplification\":{{\"ratio\":16,\"base\":16777216,\"credited\":1200,\"limit\":16796416,\"filled\":700,\
             \"bound_jumps\":1,\"bound_jump_bytes\":9000,\"object_filled\":0,\"objects_cut\":0,\
             \"decoded_growth\":0,\"bodies_cut\":0,\"bodies_not_decoded\":0}}}}",
            env!("CARGO_PKG_VERSION"),
            fatal
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn shards_add_up_their_connections_and_share_their_packets() {
        let shard = |connections, directions, bodies| SummaryRecord {
            connections,
            directions,
            http_bodies: bodies,
            packets: 100,
            bytes: 9000,
            ..SummaryRecord::new(&RunSummary::default(), None, 1 << 30)
        };
        let all = SummaryRecord::of_shards(&[shard(3, 6, 2), shard(4, 7, 0)]).unwrap();
        assert_eq!(
            (all.connections, all.directions, all.http_bodies),
            (7, 13, 2)
        );
        assert_eq!((all.packets, all.bytes, all.complete), (100, 9000, true));
        assert_eq!(SummaryRecord::of_shards(&[]), None);
    }

    #[test]
    fn shards_add_up_their_fill_and_their_shares_of_the_bound() {
        // Each shard held its share of the base (--shard K/N: shard 0 51,
        // shard 1 50 of 101).
        let shard = |base, filled, jumps| {
            let mut s = SummaryRecord::new(&RunSummary::default(), None, 1 << 30);
            s.amplification = AmplificationRecord {
                ratio: 16,
                base,
                credited: 4500,
                limit: 16 * 4500 + base,
                filled,
                bound_jumps: jumps,
                bound_jump_bytes: jumps * 10,
                object_filled: 5,
                objects_cut: 0,
                decoded_growth: 1000 + filled,
                bodies_cut: jumps,
                bodies_not_decoded: 1,
            };
            s
        };
        let all = SummaryRecord::of_shards(&[shard(51, 300, 1), shard(50, 40, 2)]).unwrap();
        assert_eq!(
            all.amplification,
            AmplificationRecord {
                ratio: 16,
                base: 101,
                credited: 9000,
                limit: 144_101,
                filled: 340,
                bound_jumps: 3,
                bound_jump_bytes: 30,
                object_filled: 10,
                objects_cut: 0,
                decoded_growth: 2340,
                bodies_cut: 3,
                bodies_not_decoded: 2,
            }
        );
    }

    #[test]
    fn written_through_a_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.summary.json");
        let record = SummaryRecord::new(&RunSummary::default(), None, 1);
        record.write(&path).unwrap();
        assert_eq!(SummaryRecord::read(&path).unwrap(), record);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"flowsplit\":") && text.ends_with("}\n"));
        assert!(text.contains("\"complete\":true,\"error\":null"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
