//! One direction of a TCP connection: from sequence numbers to stream
//! offsets, through the [`Assembler`], to the table's consumer as
//! [`Piece`](super::assembler::Piece)s (see [`super::consumer`]). Nothing here writes or names files.
//!
//! Stream offset 0 is the byte after the SYN. When the capture began
//! mid-connection, it is the lowest sequence number among the first
//! [`HOLD_BYTES`] bytes seen: until then the direction's bytes are held, so a
//! segment from before the first one seen that arrives late still goes in
//! front. Data older than that cannot be placed and is counted in the
//! report (`dropped_before_start`). Sequence numbers are unwrapped against
//! the highest offset seen, so wraparound is invisible, offsets are 64-bit,
//! and a hole does not stop later laps of the sequence space from being
//! placed right.

use super::assembler::Assembler;
use super::consumer::{Bound, DirectionEnd, DirectionInfo, StreamConsumer};
use crate::capture::Timestamp;
use crate::decode::{Segment, TcpTuple};
use crate::error::Error;
use crate::output::report::End;

/// A segment further ahead of the stream than any TCP window allows is
/// ignored rather than turned into a gigabyte-sized hole.
const MAX_JUMP: i64 = 1 << 30;

/// Bytes a direction that began mid-connection holds before fixing its start.
pub const HOLD_BYTES: usize = 64 << 10;

/// Settings shared by every direction.
#[derive(Debug, Clone)]
pub struct DirectionLimits {
    /// Out-of-order bytes buffered before the first hole is given up.
    pub max_pending: usize,
    /// Out-of-order bytes buffered by all directions of one budget shard
    /// together (see [`crate::flow::table::BUDGET_SHARDS`]).
    pub max_pending_total: usize,
}

/// One direction's reassembly state.
pub struct Direction {
    info: DirectionInfo,
    isn: Option<u32>,
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    asm: Assembler,
    /// Highest stream offset seen (end of the furthest segment, or acknowledged).
    high: u64,
    /// An acknowledged offset too far ahead to believe on its own.
    acked_far: Option<u64>,
    fin_at: Option<u64>,
    packets: u64,
    last_ts: Timestamp,
    /// Holes given up, `(offset, length)`.
    gaps: Vec<(u64, u64)>,
    /// Lowest (negative) offset at which data arrived before stream offset 0.
    lowest_start: i64,
}

impl Direction {
    /// A direction of connection `connection` (the `counter`th on its 4-tuple).
    pub fn new(tuple: TcpTuple, connection: u64, counter: u32) -> Direction {
        Direction {
            info: DirectionInfo::new(tuple, connection, counter),
            isn: None,
            base: None,
            asm: Assembler::new(),
            high: 0,
            acked_far: None,
            fin_at: None,
            packets: 0,
            last_ts: Timestamp::default(),
            gaps: Vec::new(),
            lowest_start: 0,
        }
    }

    /// Who this direction is.
    pub fn info(&self) -> &DirectionInfo {
        &self.info
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

    /// Take in one segment sent in this direction, handing whatever became
    /// contiguous to `out`.
    pub fn segment<C: StreamConsumer>(
        &mut self,
        seg: &Segment<'_>,
        limits: &DirectionLimits,
        out: &mut Bound<'_, C>,
    ) -> Result<(), Error> {
        if self.packets == 0 {
            self.info.first_ts = seg.ts;
            self.info.encap = seg.encap.path.render();
            self.info.outer = seg.encap.outer;
        }
        self.packets += 1;
        self.last_ts = self.last_ts.max(seg.ts);
        let mut data_seq = seg.seq;
        if seg.flags.syn() {
            data_seq = seg.seq.wrapping_add(1);
            self.syn(seg.seq, out)?;
        }
        if seg.flags.rst() {
            return Ok(());
        }
        let carried = seg.payload.len() as u64 + u64::from(seg.missing);
        if self.base.is_none() {
            if carried == 0 && !seg.flags.fin() {
                return Ok(());
            }
            // The capture began mid-connection: hold until the start is sure.
            self.base = Some(data_seq);
            self.asm.hold();
        }
        let Some(mut start) = self.place(data_seq) else {
            return Ok(());
        };
        if start < 0 && !seg.payload.is_empty() {
            if self.asm.is_held() && start >= -(MAX_JUMP) && self.asm.shift(start.unsigned_abs()) {
                // A late segment from before the first one seen: the stream starts here.
                self.rebase(start.unsigned_abs(), data_seq);
                start = 0;
            } else {
                // Too late to put in front of bytes already written: counted instead.
                self.lowest_start = self.lowest_start.min(start);
            }
        }
        let seg_end = start + carried as i64;
        let data_end = start + seg.payload.len() as i64;
        if data_end > 0 {
            let skip = usize::try_from(-start.min(0)).unwrap_or(0);
            let offset = start.max(0) as u64;
            self.high = self.high.max(data_end as u64);
            let info = &self.info;
            self.asm
                .insert(offset, &seg.payload[skip..], &mut |p| out.piece(info, p))?;
        }
        if seg.missing > 0 && seg_end > 0 {
            // Snap-length truncation: the rest of this segment is on the wire
            // but not in the capture; it will never arrive. Give it up now.
            self.high = self.high.max(seg_end as u64);
            self.release(out)?;
            if self.asm.next_offset() as i64 == data_end {
                let info = &self.info;
                let gaps = self
                    .asm
                    .skip_to(seg_end as u64, &mut |p| out.piece(info, p))?;
                self.gaps.extend(gaps);
            }
        }
        if seg.flags.fin() && seg_end >= 0 {
            self.fin_at = Some(seg_end as u64);
        }
        if self.asm.is_held() && self.asm.pending_bytes() >= HOLD_BYTES {
            self.release(out)?;
        }
        self.shed_pending(limits.max_pending, out)
    }

    /// The stream offset of a segment starting at sequence number
    /// `data_seq`, or `None` when it lies further ahead than any TCP window
    /// allows and no acknowledgement vouches for it (it is ignored rather
    /// than turned into a gigabyte-sized hole).
    fn place(&mut self, data_seq: u32) -> Option<i64> {
        let start = self.offset_of(data_seq);
        if start - (self.high as i64) <= MAX_JUMP {
            return Some(start);
        }
        match self.acked_far {
            Some(far) if (self.offset_from(far, data_seq) - far as i64).abs() <= MAX_JUMP => {
                self.high = far;
                self.acked_far = None;
                Some(self.offset_of(data_seq))
            }
            _ => None,
        }
    }

    /// The other side acknowledged every byte before sequence number `ack`:
    /// they were sent, so the stream reaches at least that far. Moving the
    /// highest offset there keeps later segments placed right after a long
    /// stretch the capture missed (a sampled capture, a transfer of
    /// gigabytes whose sequence numbers wrap between captured segments).
    pub fn peer_acked(&mut self, ack: u32) {
        if self.base.is_none() {
            return;
        }
        let at = self.offset_from(self.high, ack);
        if at <= self.high as i64 {
            return;
        }
        if at - self.high as i64 <= MAX_JUMP {
            self.high = at as u64;
        } else {
            // A long jump is only believed once a segment lands near it too
            // (one flipped bit cannot fake both an ACK and the data).
            self.acked_far = Some(at as u64);
        }
    }

    /// A SYN with sequence number `seq`: it fixes the start of the stream,
    /// unless bytes were already handed over.
    fn syn<C: StreamConsumer>(&mut self, seq: u32, out: &mut Bound<'_, C>) -> Result<(), Error> {
        if self.isn.is_some() {
            return Ok(());
        }
        let data_seq = seq.wrapping_add(1);
        if self.base.is_none() {
            self.isn = Some(seq);
            self.base = Some(data_seq);
        } else if self.asm.is_held() {
            // Data came first (packets stored out of order): the SYN says
            // where the stream really starts.
            let at = self.offset_of(data_seq);
            if at <= 0 && self.asm.shift(at.unsigned_abs()) {
                self.rebase(at.unsigned_abs(), data_seq);
                self.isn = Some(seq);
                self.release(out)?;
            }
        }
        Ok(())
    }

    /// The stream turned out to start `by` bytes earlier, at `base`.
    fn rebase(&mut self, by: u64, base: u32) {
        self.base = Some(base);
        self.high += by;
        self.fin_at = self.fin_at.map(|f| f + by);
    }

    /// Stop holding: the start of the stream is fixed.
    fn release<C: StreamConsumer>(&mut self, out: &mut Bound<'_, C>) -> Result<(), Error> {
        if self.asm.is_held() {
            let info = &self.info;
            self.asm.release(&mut |p| out.piece(info, p))?;
        }
        Ok(())
    }

    /// Give up holes, first to last, until at most `limit` out-of-order
    /// bytes stay buffered. Each hole given up is handed over as a gap and
    /// recorded.
    pub fn shed_pending<C: StreamConsumer>(
        &mut self,
        limit: usize,
        out: &mut Bound<'_, C>,
    ) -> Result<(), Error> {
        while self.asm.pending_bytes() > limit {
            let info = &self.info;
            if let Some(g) = self.asm.skip_hole(&mut |p| out.piece(info, p))? {
                self.gaps.push(g);
            }
        }
        Ok(())
    }

    /// Offset of sequence number `seq`, unwrapped against the highest offset seen.
    fn offset_of(&self, seq: u32) -> i64 {
        self.offset_from(self.high, seq)
    }

    /// Offset of sequence number `seq`, unwrapped against offset `reference`.
    fn offset_from(&self, reference: u64, seq: u32) -> i64 {
        let base = self.base.unwrap_or(seq);
        let rel = seq.wrapping_sub(base);
        let delta = i64::from(rel.wrapping_sub(reference as u32) as i32);
        reference as i64 + delta
    }

    /// Give up every hole and describe how the direction ended (`end`,
    /// unless every byte up to its FIN arrived). The consumer's
    /// [`StreamConsumer::close`] comes next.
    pub fn close<C: StreamConsumer>(
        &mut self,
        end: End,
        out: &mut Bound<'_, C>,
    ) -> Result<DirectionEnd, Error> {
        let info = &self.info;
        let gaps = self.asm.finish(&mut |p| out.piece(info, p))?;
        self.gaps.extend(gaps);
        let end = if self.fin_complete() { End::Fin } else { end };
        Ok(DirectionEnd {
            end,
            packets: self.packets,
            last_ts: self.last_ts,
            gaps: std::mem::take(&mut self.gaps),
            dropped_before_start: self.lowest_start.unsigned_abs(),
        })
    }
}
