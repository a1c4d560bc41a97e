//! What every direction's output keeps account of, whatever it is written
//! to: the `-b` cut, the byte count, the sha256, and the report record
//! built from them at the end. Also the naming of a direction's output and
//! its `open` event, shared by flow files and the console.
//!
//! Must not: write anything but the `open` event.

use super::events::{Event, EventLog};
use super::naming::{NameFacts, Template};
use super::report::DirectionRecord;
use crate::flow::{DirectionEnd, DirectionInfo, Piece};
use md5::Md5;
use sha2::{Digest, Sha256};

/// Zeros hashed for gaps.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// The flag bit of [`Tally::written`]: no file holds 2^63 bytes.
const TRUNCATED: u64 = 1 << 63;

/// A direction's byte count, `-b` cut, sha256 and, when asked for, MD5.
#[derive(Default)]
pub struct Tally {
    /// Bytes stored, with [`TRUNCATED`] set once `-b` cut the direction
    /// short: one word instead of a word and a padded flag (every open
    /// direction keeps a tally).
    written: u64,
    hasher: Sha256,
    /// Boxed so that a direction without MD5 pays one pointer for it.
    md5: Option<Box<Md5>>,
}

impl Tally {
    /// Also hash the direction with MD5 (`-F M`, `-e md5`) when `on`,
    /// from its first piece on; later calls change nothing.
    fn want_md5(&mut self, on: bool) {
        if on && self.md5.is_none() && self.written() == 0 {
            self.md5 = Some(Box::default());
        }
    }

    /// The part of `piece` that fits under `max_bytes` (all of it without a
    /// limit), hashed (with MD5 too when `md5`); `None` when nothing fits.
    /// Call [`Tally::count`] once it is stored.
    pub fn take<'p>(
        &mut self,
        piece: Piece<'p>,
        max_bytes: Option<u64>,
        md5: bool,
    ) -> Option<Piece<'p>> {
        self.want_md5(md5);
        let mut len = match piece {
            Piece::Data(d) => d.len() as u64,
            Piece::Gap(n) => n,
            // Nothing is stored for a jump; it passes while there is room.
            Piece::Jump(n) => {
                let full = max_bytes.is_some_and(|max| self.written() >= max);
                return (!full && n > 0).then_some(piece);
            }
        };
        if let Some(max) = max_bytes {
            let room = max.saturating_sub(self.written());
            if len > room {
                self.written |= TRUNCATED;
                len = room;
            }
        }
        if len == 0 {
            return None;
        }
        match piece {
            Piece::Data(d) => {
                let d = &d[..len as usize];
                self.hasher.update(d);
                if let Some(md5) = self.md5.as_mut() {
                    md5.update(d);
                }
                Some(Piece::Data(d))
            }
            Piece::Gap(_) => {
                let mut left = len;
                while left > 0 {
                    let n = left.min(ZEROS.len() as u64) as usize;
                    self.hasher.update(&ZEROS[..n]);
                    if let Some(md5) = self.md5.as_mut() {
                        md5.update(&ZEROS[..n]);
                    }
                    left -= n as u64;
                }
                Some(Piece::Gap(len))
            }
            Piece::Jump(_) => None,
        }
    }

    /// `len` bytes taken by [`Tally::take`] were stored.
    pub fn count(&mut self, len: u64) {
        self.written += len;
    }

    /// Bytes stored so far.
    pub fn written(&self) -> u64 {
        self.written & !TRUNCATED
    }

    /// The report record of a direction stored as `file`.
    pub fn record(
        self,
        file: String,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> DirectionRecord {
        let outer = info.layers.and_then(|l| l.outer);
        DirectionRecord {
            file,
            connection: info.connection,
            community_id: crate::community_id::tcp(
                info.tuple.src,
                info.tuple.sport,
                info.tuple.dst,
                info.tuple.dport,
            ),
            src: info.tuple.src.to_string(),
            sport: info.tuple.sport,
            dst: info.tuple.dst.to_string(),
            dport: info.tuple.dport,
            vlan: info.tuple.vlan,
            encap: info
                .layers
                .as_ref()
                .map(|l| l.path.clone())
                .unwrap_or_default(),
            tunnel: info.tuple.tunnel,
            outer_src: outer.map(|o| o.0.to_string()),
            outer_dst: outer.map(|o| o.1.to_string()),
            first_ts: info.first_ts.to_string(),
            last_ts: end.last_ts.to_string(),
            packets: end.packets,
            bytes: self.written(),
            gap_bytes: end.gaps.iter().map(|g| g.1).sum(),
            gaps: end.gaps.clone(),
            jumps: end.jumps.clone(),
            bound_jumps: end.bound_jumps.clone(),
            truncated: self.written & TRUNCATED != 0,
            dropped_before_start: end.dropped_before_start,
            end: end.end,
            sha256: hex::encode(self.hasher.finalize()),
            md5: self.md5.map(|m| hex::encode(m.finalize())),
            grep_matches: None,
            counter: 0,
        }
    }
}

/// How a direction's output is named, and where its `open` event goes.
#[derive(Clone)]
pub struct Naming {
    /// The file-name template.
    pub template: Template,
    /// The event stream, if any.
    pub events: Option<EventLog>,
    /// Where an `open` line goes when a flow file is created (`-S
    /// tcp_alert_fd`), and the output folder its path is joined to.
    pub open_alert: Option<(super::alerts::AlertFd, std::path::PathBuf)>,
}

impl Naming {
    /// The name of `info`'s output with counter `counter`.
    pub fn name(&self, info: &DirectionInfo<'_>, counter: u32) -> String {
        self.template.render(
            &info.tuple,
            &NameFacts {
                counter,
                connection: info.connection,
                first_ts: info.first_ts,
                macs: info.layers.and_then(|l| l.macs),
            },
        )
    }

    /// Write the `open` event of `info`'s output, named `name` (and its
    /// `open` alert line, if asked for).
    pub fn opened(&self, name: &str, info: &DirectionInfo<'_>) {
        if let Some((alert, outdir)) = &self.open_alert {
            // Best effort, as in tcpflow: a closed descriptor loses the line.
            let _ = alert.line("open", &super::alerts::tcpflow_path(outdir, name));
        }
        if let Some(events) = &self.events {
            events.emit(&Event::Open {
                file: name,
                connection: info.connection,
                src: info.tuple.src.to_string(),
                sport: info.tuple.sport,
                dst: info.tuple.dst.to_string(),
                dport: info.tuple.dport,
                vlan: info.tuple.vlan,
                time: info.first_ts.to_string(),
            });
        }
    }
}
