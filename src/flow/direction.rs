//! One direction of a TCP connection: from sequence numbers to stream
//! offsets, through the [`Assembler`], into a file of the [`FileSink`].
//!
//! Stream offset 0 is the byte after the SYN, or the first payload byte seen
//! when the capture began mid-connection (payload before it is dropped, as
//! tshark does). Sequence numbers are unwrapped against the next expected
//! offset, so wraparound is invisible and offsets are 64-bit.

use super::assembler::{Assembler, Piece};
use crate::capture::Timestamp;
use crate::decode::{Segment, TcpTuple};
use crate::error::Error;
use crate::output::report::{DirectionRecord, End};
use crate::output::{FileId, FlowSink, NameFacts, Opened, Template};
use sha2::{Digest, Sha256};

/// A segment further ahead of the stream than any TCP window allows is
/// ignored rather than turned into a gigabyte-sized hole.
const MAX_JUMP: i64 = 1 << 30;

/// Zeros written for gaps.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Settings shared by every direction.
#[derive(Debug, Clone)]
pub struct DirectionLimits {
    /// Store at most this many bytes (zero-filled gaps included).
    pub max_bytes: Option<u64>,
    /// Out-of-order bytes buffered before the first hole is given up.
    pub max_pending: usize,
    /// Out-of-order bytes buffered in one flow table, all directions together.
    pub max_pending_total: usize,
}

/// Where a direction's bytes go: its file, hash and bookkeeping.
#[derive(Default)]
struct Output {
    file: Option<(FileId, String)>,
    written: u64,
    gaps: Vec<(u64, u64)>,
    truncated: bool,
    hasher: Sha256,
}

/// Everything the direction needs to name and write its file.
pub struct WriteCtx<'a> {
    /// Where files (or console output) go.
    pub sink: &'a mut FlowSink,
    /// How files are named.
    pub template: &'a Template,
    /// Limits.
    pub limits: &'a DirectionLimits,
}

/// One direction's reassembly state.
pub struct Direction {
    tuple: TcpTuple,
    connection: u64,
    counter: u32,
    isn: Option<u32>,
    base: Option<u32>,
    asm: Assembler,
    fin_at: Option<u64>,
    packets: u64,
    first_ts: Timestamp,
    last_ts: Timestamp,
    out: Output,
    /// Lowest (negative) offset at which data arrived before stream offset 0.
    lowest_start: i64,
}

impl Direction {
    /// A direction of connection `connection` (the `counter`th on its 4-tuple).
    pub fn new(tuple: TcpTuple, connection: u64, counter: u32) -> Direction {
        Direction {
            tuple,
            connection,
            counter,
            isn: None,
            base: None,
            asm: Assembler::new(),
            fin_at: None,
            packets: 0,
            first_ts: Timestamp::default(),
            last_ts: Timestamp::default(),
            out: Output::default(),
            lowest_start: 0,
        }
    }

    /// The sequence number of this direction's SYN, if one was seen.
    pub fn isn(&self) -> Option<u32> {
        self.isn
    }

    /// True once a FIN arrived and every byte before it is in.
    pub fn fin_complete(&self) -> bool {
        self.fin_at
            .is_some_and(|f| self.asm.next_offset() >= f && self.asm.is_idle())
    }

    /// True when nothing was seen in this direction.
    pub fn is_unseen(&self) -> bool {
        self.packets == 0
    }

    /// Out-of-order bytes currently buffered.
    pub fn pending_bytes(&self) -> usize {
        self.asm.pending_bytes()
    }

    /// Take in one segment sent in this direction.
    pub fn segment(&mut self, seg: &Segment<'_>, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        if self.packets == 0 {
            self.first_ts = seg.ts;
        }
        self.packets += 1;
        self.last_ts = self.last_ts.max(seg.ts);
        let mut data_seq = seg.seq;
        if seg.flags.syn() {
            data_seq = seg.seq.wrapping_add(1);
            if self.isn.is_none() && self.asm.next_offset() == 0 && self.out.file.is_none() {
                self.isn = Some(seg.seq);
                self.base = Some(data_seq);
            }
        }
        if seg.flags.rst() {
            return Ok(());
        }
        let carried = seg.payload.len() as u64 + u64::from(seg.missing);
        if self.base.is_none() {
            if carried == 0 && !seg.flags.fin() {
                return Ok(());
            }
            self.base = Some(data_seq);
        }
        let start = self.offset_of(data_seq);
        if start - (self.asm.next_offset() as i64) > MAX_JUMP {
            return Ok(());
        }
        let mut err = None;
        if !seg.payload.is_empty() {
            let end = start + seg.payload.len() as i64;
            if start < 0 {
                // Data from before the first byte seen (the capture began
                // mid-connection): it cannot be put in front of bytes already
                // written, so it is counted in the report instead.
                self.lowest_start = self.lowest_start.min(start);
            }
            if end > 0 {
                let skip = usize::try_from(-start.min(0)).unwrap_or(0);
                let offset = start.max(0) as u64;
                let out = &mut self.out;
                self.asm.insert(offset, &seg.payload[skip..], &mut |p| {
                    if err.is_none() {
                        err = out
                            .accept(
                                p,
                                self.tuple,
                                self.connection,
                                self.counter,
                                self.first_ts,
                                ctx,
                            )
                            .err();
                    }
                });
            }
        }
        let seg_end = start + carried as i64;
        if seg.missing > 0
            && seg_end > 0
            && self.asm.next_offset() as i64 == start + seg.payload.len() as i64
        {
            // Snap-length truncation: the rest of this segment is on the wire
            // but not in the capture; it will never arrive. Give it up now.
            self.skip_to(seg_end as u64, ctx, &mut err);
        }
        if seg.flags.fin() && seg_end >= 0 {
            self.fin_at = Some(seg_end as u64);
        }
        if let Some(e) = err {
            return Err(e);
        }
        self.shed_pending(ctx.limits.max_pending, ctx)
    }

    /// Give up holes, first to last, until at most `limit` out-of-order
    /// bytes stay buffered. Each hole given up is zero-filled and recorded
    /// as a gap.
    pub fn shed_pending(&mut self, limit: usize, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        let mut err = None;
        while self.asm.pending_bytes() > limit && err.is_none() {
            let out = &mut self.out;
            let gap = self.asm.skip_hole(&mut |p| {
                if err.is_none() {
                    err = out
                        .accept(
                            p,
                            self.tuple,
                            self.connection,
                            self.counter,
                            self.first_ts,
                            ctx,
                        )
                        .err();
                }
            });
            if let Some(g) = gap {
                self.out.gaps.push(g);
            }
        }
        err.map_or(Ok(()), Err)
    }

    /// Offset of sequence number `seq`, unwrapped against the stream's next offset.
    fn offset_of(&self, seq: u32) -> i64 {
        let base = self.base.unwrap_or(seq);
        let rel = seq.wrapping_sub(base);
        let next = self.asm.next_offset();
        let delta = i64::from(rel.wrapping_sub(next as u32) as i32);
        next as i64 + delta
    }

    fn skip_to(&mut self, offset: u64, ctx: &mut WriteCtx<'_>, err: &mut Option<Error>) {
        let out = &mut self.out;
        let gaps = self.asm.skip_to(offset, &mut |p| {
            if err.is_none() {
                *err = out
                    .accept(
                        p,
                        self.tuple,
                        self.connection,
                        self.counter,
                        self.first_ts,
                        ctx,
                    )
                    .err();
            }
        });
        self.out.gaps.extend(gaps);
    }

    /// Give up every hole, close the file and describe the direction.
    /// Returns `None` when the direction carried no bytes (no file was made).
    pub fn close(
        &mut self,
        end: End,
        ctx: &mut WriteCtx<'_>,
    ) -> Result<Option<DirectionRecord>, Error> {
        let mut err = None;
        let out = &mut self.out;
        let gaps = self.asm.finish(&mut |p| {
            if err.is_none() {
                err = out
                    .accept(
                        p,
                        self.tuple,
                        self.connection,
                        self.counter,
                        self.first_ts,
                        ctx,
                    )
                    .err();
            }
        });
        self.out.gaps.extend(gaps);
        if let Some(e) = err {
            return Err(e);
        }
        let Some((id, name)) = self.out.file.take() else {
            return Ok(None);
        };
        ctx.sink.close(id, self.first_ts)?;
        let hasher = std::mem::take(&mut self.out.hasher);
        let end = if self.fin_complete() { End::Fin } else { end };
        Ok(Some(DirectionRecord {
            file: name,
            connection: self.connection,
            src: self.tuple.src.to_string(),
            sport: self.tuple.sport,
            dst: self.tuple.dst.to_string(),
            dport: self.tuple.dport,
            vlan: self.tuple.vlan,
            first_ts: self.first_ts.to_string(),
            last_ts: self.last_ts.to_string(),
            packets: self.packets,
            bytes: self.out.written,
            gap_bytes: self.out.gaps.iter().map(|g| g.1).sum(),
            gaps: std::mem::take(&mut self.out.gaps),
            truncated: self.out.truncated,
            dropped_before_start: self.lowest_start.unsigned_abs(),
            end,
            sha256: hex(&hasher.finalize()),
        }))
    }
}

impl Output {
    /// Write one piece of the ordered stream, creating the file on the first.
    fn accept(
        &mut self,
        piece: Piece<'_>,
        tuple: TcpTuple,
        connection: u64,
        counter: u32,
        first_ts: Timestamp,
        ctx: &mut WriteCtx<'_>,
    ) -> Result<(), Error> {
        let mut len = match piece {
            Piece::Data(d) => d.len() as u64,
            Piece::Gap(n) => n,
        };
        if let Some(max) = ctx.limits.max_bytes {
            let room = max.saturating_sub(self.written);
            if len > room {
                self.truncated = true;
                len = room;
            }
        }
        if len == 0 {
            return Ok(());
        }
        let id = match &self.file {
            Some((id, _)) => *id,
            None => {
                let template = ctx.template;
                let name_for = |c: u32| {
                    template.render(
                        &tuple,
                        &NameFacts {
                            counter: c,
                            connection,
                            first_ts,
                        },
                    )
                };
                let opened = Opened {
                    tuple: &tuple,
                    connection,
                    first_ts,
                };
                let (id, name) = ctx.sink.create(counter, &name_for, &opened)?;
                self.file = Some((id, name));
                id
            }
        };
        match piece {
            Piece::Data(d) => {
                let d = &d[..len as usize];
                self.hasher.update(d);
                ctx.sink.write(id, d)?;
            }
            Piece::Gap(_) => {
                let mut left = len;
                while left > 0 {
                    let n = left.min(ZEROS.len() as u64) as usize;
                    self.hasher.update(&ZEROS[..n]);
                    left -= n as u64;
                }
                ctx.sink.write_zeros(id, len)?;
            }
        }
        self.written += len;
        Ok(())
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
