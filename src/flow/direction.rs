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
//!
//! A hole given up is zero-filled when it is at most
//! [`DirectionLimits::max_seek`] (`-m`) long and the run's amplification
//! bound has room for it (see [`super::fill`]), and handed over as a
//! [`Piece::Jump`](super::assembler::Piece::Jump) (nothing written) otherwise, so no output holds a run
//! of zeros it made up longer than `-m`, and all of them together stay
//! within the bound. Gaps are recorded where their zeros sit in the
//! output, jumps where the output goes on after them; jumps made only
//! because the bound was spent are also listed apart.
//!
//! Whether a segment belongs to this direction at all (or starts a new
//! connection on the same 4-tuple) is the flow table's call; this module
//! answers the questions it asks ([`Direction::distance`],
//! [`Direction::has_data`]) and re-anchors the stream when told to
//! ([`Direction::reanchor`]).

use super::assembler::Assembler;
use super::consumer::{Bound, DirectionEnd, Placed, StreamConsumer};
use super::fill::{Fill, HoleKind};
use super::stamp::Stamp;
use crate::capture::Timestamp;
use crate::decode::Segment;
use crate::error::Error;
use crate::output::report::End;
use std::num::NonZeroU64;

/// A segment further ahead of the stream than any TCP window allows is
/// ignored rather than turned into a gigabyte-sized hole.
const MAX_JUMP: i64 = 1 << 30;

/// Bytes a direction that began mid-connection holds before fixing its start.
pub const HOLD_BYTES: usize = 64 << 10;

/// `(offset, length)`.
type Span = (u64, u64);

/// One hole given up: where it sits in the output, its length, and
/// what became of it (zero-filled, a gap; or not, a jump).
#[derive(Debug, Clone, Copy)]
struct Hole {
    at: u64,
    len: u64,
    kind: HoleKind,
}

impl Hole {
    fn filled(&self) -> bool {
        self.kind == HoleKind::Filled
    }
}

/// What only a few directions need: holes given up, an acknowledgement
/// too far ahead to believe yet, data from before the stream's start.
#[derive(Debug, Default)]
struct Rare {
    /// Holes given up, in stream order.
    holes: Vec<Hole>,
    /// An acknowledged offset too far ahead to believe on its own (never 0).
    acked_far: Option<NonZeroU64>,
    /// Lowest (negative) offset at which data arrived before stream offset 0.
    lowest_start: i64,
}

/// A direction's [`Rare`] state: boxed, so that the directions that need
/// none of it (nearly all) pay one pointer.
#[derive(Debug, Default)]
struct Extra(Option<Box<Rare>>);

impl Extra {
    fn get(&self) -> Option<&Rare> {
        self.0.as_deref()
    }

    fn get_mut(&mut self) -> &mut Rare {
        self.0.get_or_insert_with(Box::default)
    }

    fn acked_far(&self) -> Option<NonZeroU64> {
        self.get().and_then(|r| r.acked_far)
    }

    fn set_acked_far(&mut self, far: Option<NonZeroU64>) {
        if far.is_some() || self.acked_far().is_some() {
            self.get_mut().acked_far = far;
        }
    }

    fn lowest_start(&self) -> i64 {
        self.get().map_or(0, |r| r.lowest_start)
    }

    /// Record holes given up at these stream offsets, in stream order,
    /// with what `fill` decided for each as it was handed over, placed in
    /// output offsets (the stream offset less the jumps before it).
    fn record(&mut self, holes: Vec<(u64, u64)>, fill: &mut Fill<'_>) {
        let decided = fill.take_decisions();
        for ((offset, len), kind) in holes.into_iter().zip(decided) {
            let jumped = self.jumped();
            let at = offset.saturating_sub(jumped);
            let hole = Hole { at, len, kind };
            self.get_mut().holes.push(hole);
        }
    }

    /// Bytes of the stream left out of the output so far.
    fn jumped(&self) -> u64 {
        self.get().map_or(0, |r| {
            r.holes.iter().filter(|h| !h.filled()).map(|h| h.len).sum()
        })
    }

    /// The gaps, the jumps, and the jumps made only because the bound was
    /// spent (also among the jumps), each `(offset, length)` in stream order.
    fn take(&mut self) -> (Vec<Span>, Vec<Span>, Vec<Span>) {
        let holes = self
            .0
            .as_mut()
            .map(|r| std::mem::take(&mut r.holes))
            .unwrap_or_default();
        let pick = |keep: &dyn Fn(&Hole) -> bool| {
            holes
                .iter()
                .filter(|h| keep(h))
                .map(|h| (h.at, h.len))
                .collect()
        };
        (
            pick(&|h| h.filled()),
            pick(&|h| !h.filled()),
            pick(&|h| h.kind == HoleKind::Bound),
        )
    }
}

/// Settings shared by every direction.
#[derive(Debug, Clone)]
pub struct DirectionLimits {
    /// Out-of-order bytes buffered before the first hole is given up.
    pub max_pending: usize,
    /// Out-of-order bytes buffered by all directions of one budget shard
    /// together (see [`crate::flow::table::BUDGET_SHARDS`]).
    pub max_pending_total: usize,
    /// `-m`: the longest hole that is zero-filled (a longer one is a jump,
    /// not filled), and, in a connection whose handshake was not seen, the
    /// furthest a segment may lie from the stream before it starts a new
    /// connection.
    pub max_seek: u64,
}

/// tcpflow's default `-m`: 16 MiB.
pub const DEFAULT_MAX_SEEK: u64 = 16 << 20;

/// [`Direction::anchors`]: an ISN was seen.
const HAS_ISN: u8 = 1;
/// [`Direction::anchors`]: the sequence number of stream offset 0 is known.
const HAS_BASE: u8 = 2;

/// One direction's reassembly state. Every open connection keeps two, so
/// it is kept small (80 bytes, pinned by a test): sequence numbers without
/// `Option`'s padding, the FIN's offset in one word, times packed, and
/// what few directions need boxed ([`Rare`]).
#[derive(Default)]
pub struct Direction {
    asm: Assembler,
    /// Highest stream offset seen (end of the furthest segment, or acknowledged).
    high: u64,
    /// One more than the stream offset of the FIN, once one arrived.
    fin_end: Option<NonZeroU64>,
    packets: u64,
    last_ts: Stamp,
    /// The SYN's sequence number, valid with [`HAS_ISN`].
    isn: u32,
    /// Sequence number of stream offset 0, valid with [`HAS_BASE`].
    base: u32,
    /// [`HAS_ISN`] and [`HAS_BASE`].
    anchors: u8,
    extra: Extra,
}

impl Direction {
    /// A direction nothing was seen of yet.
    pub fn new() -> Direction {
        Direction::default()
    }

    /// The sequence number of this direction's SYN, if one was seen.
    pub fn isn(&self) -> Option<u32> {
        (self.anchors & HAS_ISN != 0).then_some(self.isn)
    }

    /// Sequence number of stream offset 0, once known.
    fn base(&self) -> Option<u32> {
        (self.anchors & HAS_BASE != 0).then_some(self.base)
    }

    fn set_isn(&mut self, isn: u32) {
        self.isn = isn;
        self.anchors |= HAS_ISN;
    }

    fn set_base(&mut self, base: u32) {
        self.base = base;
        self.anchors |= HAS_BASE;
    }

    /// Stream offset of the FIN, once one arrived.
    fn fin_at(&self) -> Option<u64> {
        self.fin_end.map(|f| f.get() - 1)
    }

    /// Note a FIN at stream offset `at` (below 2^63: offsets come from `i64`s).
    fn set_fin_at(&mut self, at: Option<u64>) {
        self.fin_end = at.and_then(|a| NonZeroU64::new(a.wrapping_add(1)));
    }

    /// Capture time of the latest packet.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts.get()
    }

    /// True once a FIN arrived and every byte before it is in (handed over,
    /// or held without a hole while a mid-stream start is not yet fixed).
    pub fn fin_complete(&self) -> bool {
        self.fin_at()
            .is_some_and(|f| self.asm.gapless_end().is_some_and(|end| end >= f))
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
        fill: &mut Fill<'_>,
        out: &mut Bound<'_, C>,
    ) -> Result<(), Error> {
        self.packets += 1;
        if seg.ts > self.last_ts.get() {
            self.last_ts = Stamp::pack(seg.ts);
        }
        if let Some(frame) = &seg.frame {
            out.packet(seg.ts, frame)?;
        }
        let mut data_seq = seg.seq;
        if seg.flags.syn() {
            data_seq = seg.seq.wrapping_add(1);
            self.syn(seg.seq, limits.max_seek, out)?;
        }
        if seg.flags.rst() {
            return Ok(());
        }
        let carried = seg.payload.len() as u64 + u64::from(seg.missing);
        if self.base().is_none() {
            if carried == 0 && !seg.flags.fin() {
                return Ok(());
            }
            // The capture began mid-connection: hold until the start is sure.
            self.set_base(data_seq);
            self.asm.hold();
        }
        let Some(mut start) = self.place(data_seq) else {
            return Ok(());
        };
        if start < 0 && !seg.payload.is_empty() {
            let reach = i64::try_from(limits.max_seek)
                .unwrap_or(i64::MAX)
                .min(MAX_JUMP);
            if self.asm.is_held() && start >= -reach && self.asm.shift(start.unsigned_abs()) {
                // A late segment from before the first one seen: the stream starts here.
                self.rebase(start.unsigned_abs(), data_seq, out);
                start = 0;
            } else {
                // Too late to put in front of bytes already written: counted instead.
                let rare = self.extra.get_mut();
                rare.lowest_start = rare.lowest_start.min(start);
            }
        }
        let seg_end = start + carried as i64;
        let data_end = start + seg.payload.len() as i64;
        // A keepalive probe repeats the last byte sent; tcpflow leaves it out
        // of its index too.
        let keepalive = seg.payload.len() == 1 && data_end == self.high as i64;
        if start >= 0 && !seg.payload.is_empty() && !keepalive {
            let packet = out.packet;
            out.placed(&Placed {
                offset: start as u64,
                len: seg.payload.len(),
                ts: seg.ts,
                packet,
            })?;
        }
        if data_end > 0 {
            let skip = usize::try_from(-start.min(0)).unwrap_or(0);
            let offset = start.max(0) as u64;
            self.high = self.high.max(data_end as u64);
            self.asm
                .insert(offset, &seg.payload[skip..], &mut |p| out.piece(p))?;
        }
        if seg.missing > 0 && seg_end > 0 {
            // Snap-length truncation: the rest of this segment is on the wire
            // but not in the capture; it will never arrive. Give it up now.
            self.high = self.high.max(seg_end as u64);
            self.release(out)?;
            if self.asm.next_offset() as i64 == data_end {
                let gaps = self
                    .asm
                    .skip_to(seg_end as u64, &mut |p| out.piece(fill.piece(p)))?;
                self.extra.record(gaps, fill);
            }
        }
        if seg.flags.fin() && seg_end >= 0 {
            self.set_fin_at(Some(seg_end as u64));
        }
        if self.asm.is_held() && self.asm.pending_bytes() >= HOLD_BYTES {
            self.release(out)?;
        }
        self.shed_pending(limits.max_pending, fill, out)
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
        match self.extra.acked_far() {
            Some(far)
                if (self.offset_from(far.get(), data_seq) - far.get() as i64).abs() <= MAX_JUMP =>
            {
                self.high = far.get();
                self.extra.set_acked_far(None);
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
    /// An acknowledgement more than `believe` bytes ahead is only noted (see
    /// `Direction::place`): the table passes `-m` for a connection whose
    /// handshake was not seen, where such an ACK more likely belongs to a
    /// new connection on the same 4-tuple.
    pub fn peer_acked(&mut self, ack: u32, believe: u64) {
        if self.base().is_none() {
            return;
        }
        let at = self.offset_from(self.high, ack);
        if at <= self.high as i64 {
            return;
        }
        let believe = i64::try_from(believe).unwrap_or(i64::MAX).min(MAX_JUMP);
        if at - self.high as i64 <= believe {
            self.high = at as u64;
        } else {
            // A long jump is only believed once a segment lands near it too
            // (one flipped bit cannot fake both an ACK and the data).
            self.extra.set_acked_far(NonZeroU64::new(at as u64));
        }
    }

    /// A SYN with sequence number `seq`: it fixes the start of the stream,
    /// unless bytes were already handed over or it lies more than
    /// `max_seek` before the bytes seen.
    fn syn<C: StreamConsumer>(
        &mut self,
        seq: u32,
        max_seek: u64,
        out: &mut Bound<'_, C>,
    ) -> Result<(), Error> {
        if self.isn().is_some() {
            return Ok(());
        }
        let data_seq = seq.wrapping_add(1);
        if self.base().is_none() {
            self.set_isn(seq);
            self.set_base(data_seq);
        } else if self.asm.is_held() {
            // Data came first (packets stored out of order): the SYN says
            // where the stream really starts.
            let at = self.offset_of(data_seq);
            if at <= 0 && at.unsigned_abs() <= max_seek && self.asm.shift(at.unsigned_abs()) {
                self.rebase(at.unsigned_abs(), data_seq, out);
                self.set_isn(seq);
                self.release(out)?;
            }
        }
        Ok(())
    }

    /// The stream turned out to start `by` bytes earlier, at `base`.
    fn rebase<C: StreamConsumer>(&mut self, by: u64, base: u32, out: &mut Bound<'_, C>) {
        out.rebased(by);
        self.set_base(base);
        self.high += by;
        self.set_fin_at(self.fin_at().map(|f| f + by));
    }

    /// Stop holding: the start of the stream is fixed.
    fn release<C: StreamConsumer>(&mut self, out: &mut Bound<'_, C>) -> Result<(), Error> {
        if self.asm.is_held() {
            self.asm.release(&mut |p| out.piece(p))?;
        }
        Ok(())
    }

    /// Give up holes, first to last, until at most `limit` out-of-order
    /// bytes stay buffered. Each hole given up is handed over and recorded:
    /// a gap when `fill` fills it, else a jump.
    pub fn shed_pending<C: StreamConsumer>(
        &mut self,
        limit: usize,
        fill: &mut Fill<'_>,
        out: &mut Bound<'_, C>,
    ) -> Result<(), Error> {
        while self.asm.pending_bytes() > limit {
            if let Some(g) = self.asm.skip_hole(&mut |p| out.piece(fill.piece(p)))? {
                self.extra.record(vec![g], fill);
            }
        }
        Ok(())
    }

    /// True once a data byte was taken in (handed over, buffered, or
    /// counted as arriving before the start).
    pub fn has_data(&self) -> bool {
        self.asm.next_offset() > 0 || !self.asm.is_idle() || self.extra.lowest_start() < 0
    }

    /// How far a segment starting at sequence number `seq` lies from the
    /// stream seen so far: its offset less the highest offset seen
    /// (negative: it starts behind that). `None` before the stream's start
    /// is fixed.
    pub fn distance(&self, seq: u32) -> Option<i64> {
        self.base()?;
        Some(self.offset_of(seq) - self.high as i64)
    }

    /// The stream offset at which a SYN with sequence number `isn` says the
    /// stream starts, against the current anchor (0: the same start;
    /// negative: before the bytes seen). `None` before the stream's start
    /// is fixed.
    pub fn syn_offset(&self, isn: u32) -> Option<i64> {
        self.base()?;
        Some(self.offset_of(isn.wrapping_add(1)))
    }

    /// Anchor the stream afresh at a SYN with sequence number `isn` (a
    /// SYN-ACK answering again with another ISN, before any data of this
    /// direction was taken in): what was known of the old anchor (a FIN, an
    /// acknowledgement) is forgotten; the packet count and first time stay.
    pub fn reanchor(&mut self, isn: u32) {
        debug_assert!(!self.has_data());
        self.set_isn(isn);
        self.set_base(isn.wrapping_add(1));
        self.asm = Assembler::new();
        self.high = 0;
        self.extra.set_acked_far(None);
        self.set_fin_at(None);
    }

    /// Offset of sequence number `seq`, unwrapped against the highest offset seen.
    fn offset_of(&self, seq: u32) -> i64 {
        self.offset_from(self.high, seq)
    }

    /// Offset of sequence number `seq`, unwrapped against offset `reference`.
    fn offset_from(&self, reference: u64, seq: u32) -> i64 {
        let base = self.base().unwrap_or(seq);
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
        fill: &mut Fill<'_>,
        out: &mut Bound<'_, C>,
    ) -> Result<DirectionEnd, Error> {
        let gaps = self.asm.finish(&mut |p| out.piece(fill.piece(p)))?;
        self.extra.record(gaps, fill);
        let end = if self.fin_complete() { End::Fin } else { end };
        let (gaps, jumps, bound_jumps) = self.extra.take();
        Ok(DirectionEnd {
            end,
            packets: self.packets,
            last_ts: self.last_ts(),
            gaps,
            jumps,
            bound_jumps,
            dropped_before_start: self.extra.lowest_start().unsigned_abs(),
        })
    }
}

#[cfg(test)]
mod tests {
    //! Sequence handling on its own: segments in, pieces recorded, no I/O.
    use super::*;
    use crate::decode::{Encap, TcpFlags, TcpTuple};
    use crate::flow::consumer::{DirectionInfo, Recorded, RecordedDirection, Recorder};
    use crate::flow::fill::{FillAccount, FillBound};
    use std::borrow::Cow;

    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN: u8 = TcpFlags::FIN;

    /// One direction fed by hand, recording what it hands over.
    struct Harness {
        dir: Direction,
        info: DirectionInfo<'static>,
        recorder: Recorder,
        stream: Vec<Recorded>,
        limits: DirectionLimits,
        bound: FillBound,
        account: FillAccount,
    }

    impl Harness {
        fn new() -> Harness {
            let tuple = TcpTuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                sport: 40000,
                dport: 80,
                vlan: None,
                tunnel: 0,
            };
            Harness {
                dir: Direction::new(),
                info: DirectionInfo::new(tuple, 1, 0),
                recorder: Recorder::default(),
                stream: Vec::new(),
                limits: DirectionLimits {
                    max_pending: usize::MAX,
                    max_pending_total: usize::MAX,
                    max_seek: DEFAULT_MAX_SEEK,
                },
                bound: FillBound::unbounded(),
                account: FillAccount::default(),
            }
        }

        fn send(&mut self, flags: u8, seq: u32, payload: &[u8]) {
            let seg = Segment {
                ts: Timestamp::new(1_700_000_000, 0),
                tuple: self.info.tuple,
                seq,
                ack: 0,
                flags: TcpFlags(flags),
                window: 1000,
                payload: Cow::Owned(payload.to_vec()),
                missing: 0,
                encap: Encap::default(),
                frame: None,
            };
            self.account.segment(seg.payload.len());
            let mut fill = Fill::new(self.limits.max_seek, self.bound, 1, &mut self.account);
            let mut out = Bound {
                consumer: &mut self.recorder,
                stream: &mut self.stream,
                info: self.info,
                packet: 0,
            };
            self.dir
                .segment(&seg, &self.limits, &mut fill, &mut out)
                .unwrap();
        }

        /// The pieces handed over so far, without closing.
        fn so_far(&self) -> &[Recorded] {
            &self.stream
        }

        fn close(mut self) -> RecordedDirection {
            let mut fill = Fill::new(self.limits.max_seek, self.bound, 1, &mut self.account);
            let mut out = Bound {
                consumer: &mut self.recorder,
                stream: &mut self.stream,
                info: self.info,
                packet: 0,
            };
            let end = self
                .dir
                .close(End::EndOfInput, &mut fill, &mut out)
                .unwrap();
            self.recorder
                .close(std::mem::take(&mut self.stream), &self.info, &end)
                .unwrap();
            self.recorder.closed.pop().unwrap()
        }
    }

    fn data(d: &[u8]) -> Recorded {
        Recorded::Data(d.to_vec())
    }

    #[test]
    fn in_order_after_syn_passes_straight_through() {
        let mut h = Harness::new();
        h.send(SYN, 999, b"");
        h.send(ACK, 1000, b"hello ");
        assert_eq!(h.so_far(), [data(b"hello ")]);
        h.send(ACK | FIN, 1006, b"world");
        assert!(h.dir.fin_complete());
        let d = h.close();
        assert_eq!(d.pieces, [data(b"hello world")]);
        assert_eq!(d.end.end, End::Fin);
        assert_eq!(d.end.packets, 3);
        assert!(d.end.gaps.is_empty());
    }

    #[test]
    fn sequence_wraparound_is_invisible() {
        let mut h = Harness::new();
        let isn = u32::MAX - 3;
        h.send(SYN, isn, b"");
        // Data from isn+1 = MAX-2: three bytes before the wrap, three after.
        h.send(ACK, isn.wrapping_add(4), b"def");
        h.send(ACK, isn.wrapping_add(1), b"abc");
        h.send(ACK, isn.wrapping_add(7), b"ghi");
        let d = h.close();
        assert_eq!(d.bytes(), b"abcdefghi");
        assert!(d.end.gaps.is_empty());
    }

    #[test]
    fn wraparound_over_many_laps_keeps_offsets_64_bit() {
        // Acknowledgements carry the stream over 4 GiB without data in the
        // capture; later segments land after one 5-GiB gap, not in lap 0.
        let mut h = Harness::new();
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        let mut at: u64 = 1;
        let step = 1u64 << 29;
        for _ in 0..10 {
            at += step;
            h.dir.peer_acked((at as u32).wrapping_add(1), u64::MAX);
        }
        h.send(ACK, (at as u32).wrapping_add(1), b"z");
        let d = h.close();
        // 5 GiB is more than -m: a jump, not filled, after which the file
        // goes on at offset 1.
        assert_eq!(
            d.pieces,
            [data(b"a"), Recorded::Jump(at - 1), data(b"z")],
            "the late byte sits 5 GiB in"
        );
        assert_eq!(d.end.jumps, [(1, at - 1)]);
        assert!(d.end.gaps.is_empty());
    }

    #[test]
    fn mid_stream_start_holds_so_a_late_earlier_segment_goes_in_front() {
        let mut h = Harness::new();
        // No SYN: the capture began mid-connection.
        h.send(ACK, 5005, b"later");
        assert_eq!(h.so_far(), [], "held until the start is sure");
        h.send(ACK, 5000, b"early");
        let d = h.close();
        assert_eq!(d.bytes(), b"earlylater");
        assert_eq!(d.end.dropped_before_start, 0);
    }

    #[test]
    fn syn_stored_after_data_rebases_the_held_stream() {
        let mut h = Harness::new();
        h.send(ACK, 101, b"bc");
        h.send(SYN, 99, b"");
        assert_eq!(h.dir.isn(), Some(99));
        assert_eq!(h.so_far(), [], "offset 0 (seq 100) is still missing");
        h.send(ACK, 100, b"a");
        assert_eq!(h.so_far(), [data(b"abc")]);
    }

    #[test]
    fn data_older_than_the_released_start_is_counted_not_placed() {
        let mut h = Harness::new();
        let first = vec![b'x'; HOLD_BYTES];
        h.send(ACK, 10_000, &first);
        assert_eq!(h.so_far().len(), 1, "a full hold is released");
        h.send(ACK, 9_990, b"0123456789");
        let d = h.close();
        assert_eq!(d.bytes(), first);
        assert_eq!(d.end.dropped_before_start, 10);
    }

    #[test]
    fn segment_beyond_any_window_is_ignored_unless_an_ack_vouches_for_it() {
        let far = (MAX_JUMP as u32) * 2; // 2 GiB ahead
        let mut h = Harness::new();
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        h.send(ACK, 1 + far, b"bogus");
        let d = h.close();
        assert_eq!(
            d.bytes(),
            b"a",
            "one far segment alone does not make a hole"
        );

        let mut h = Harness::new();
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        // The peer acknowledged up to there: too far to believe at once...
        h.dir.peer_acked(1 + far, u64::MAX);
        assert_eq!(
            h.dir.extra.acked_far().map(|f| f.get()),
            Some(u64::from(far))
        );
        // ...until a segment lands near it.
        h.send(ACK, 1 + far, b"real");
        let d = h.close();
        assert_eq!(
            d.pieces,
            [
                data(b"a"),
                Recorded::Jump(u64::from(far) - 1),
                data(b"real")
            ]
        );
    }

    #[test]
    fn over_the_pending_limit_the_first_hole_is_given_up() {
        let mut h = Harness::new();
        h.limits.max_pending = 4;
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"ab");
        h.send(ACK, 5, b"ef");
        assert_eq!(h.so_far(), [data(b"ab")]);
        h.send(ACK, 7, b"ghi");
        assert_eq!(h.so_far(), [data(b"ab"), Recorded::Gap(2), data(b"efghi")]);
        h.send(ACK, 3, b"CD");
        let d = h.close();
        assert_eq!(
            d.bytes(),
            b"ab\0\0efghi",
            "bytes of a hole given up stay out"
        );
        assert_eq!(d.end.gaps, [(2, 2)]);
    }

    #[test]
    fn hole_up_to_max_seek_is_zero_filled_and_a_longer_one_is_a_jump() {
        let mut h = Harness::new();
        h.limits.max_seek = 10;
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"ab");
        // A hole of exactly 10 bytes, then one of 11.
        h.send(ACK, 13, b"cd");
        h.send(ACK, 26, b"ef");
        let d = h.close();
        assert_eq!(
            d.pieces,
            [
                data(b"ab"),
                Recorded::Gap(10),
                data(b"cd"),
                Recorded::Jump(11),
                data(b"ef")
            ]
        );
        assert_eq!(d.bytes(), b"ab\0\0\0\0\0\0\0\0\0\0cdef");
        assert_eq!(d.end.gaps, [(2, 10)]);
        assert_eq!(d.end.jumps, [(14, 11)], "where the output goes on");
    }

    #[test]
    fn holes_past_the_amplification_bound_are_jumps_listed_apart() {
        let mut h = Harness::new();
        // A SYN and three segments of 1 byte earn 40 + 3 x 41 = 163 bytes
        // of fill.
        h.bound = FillBound { ratio: 1, base: 0 };
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        h.send(ACK, 1 + 1 + 100, b"b");
        h.send(ACK, 1 + 2 + 100 + 200, b"c");
        let d = h.close();
        // The first hole (100) fits, the second (200) no longer does and
        // is a jump; offsets after it are lower.
        assert_eq!(
            d.pieces,
            [
                data(b"a"),
                Recorded::Gap(100),
                data(b"b"),
                Recorded::Jump(200),
                data(b"c")
            ]
        );
        assert_eq!(d.end.gaps, [(1, 100)]);
        assert_eq!(d.end.jumps, [(102, 200)]);
        assert_eq!(d.end.bound_jumps, [(102, 200)]);
    }

    #[test]
    fn a_hole_longer_than_m_is_not_listed_as_a_bound_jump() {
        let mut h = Harness::new();
        h.limits.max_seek = 10;
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        h.send(ACK, 1 + 1 + 11, b"b");
        let d = h.close();
        assert_eq!(d.end.jumps, [(1, 11)]);
        assert!(d.end.bound_jumps.is_empty());
    }

    #[test]
    fn gaps_after_a_jump_are_listed_at_their_place_in_the_output() {
        let mut h = Harness::new();
        h.limits.max_seek = 100;
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        h.send(ACK, 1 + 1000, b"b");
        h.send(ACK, 1 + 1005, b"c");
        let d = h.close();
        assert_eq!(d.bytes(), b"ab\0\0\0\0c");
        assert_eq!(d.end.jumps, [(1, 999)]);
        assert_eq!(d.end.gaps, [(2, 4)], "stream offset 1001 is file offset 2");
    }

    #[test]
    fn jump_across_the_wrap_of_the_sequence_space_is_measured_unwrapped() {
        let mut h = Harness::new();
        h.limits.max_seek = 1 << 20;
        let isn = u32::MAX - 10;
        h.send(SYN, isn, b"");
        h.send(ACK, isn.wrapping_add(1), b"end of lap");
        // 2 MiB further, past 2^32.
        let far = isn.wrapping_add(11).wrapping_add(2 << 20);
        assert!(far < isn, "wrapped");
        h.send(ACK, far, b"next lap");
        let d = h.close();
        assert_eq!(d.bytes(), b"end of lapnext lap");
        assert_eq!(d.end.jumps, [(10, 2 << 20)]);
        assert!(d.end.gaps.is_empty());
    }

    #[test]
    fn reanchor_forgets_the_old_fin_and_places_data_at_the_new_isn() {
        let mut h = Harness::new();
        // A FIN anchors the direction without data, then a SYN-ACK with
        // another ISN (a handshake completed after a reset).
        h.send(FIN | ACK, 5000, b"");
        assert!(!h.dir.has_data());
        assert_eq!(h.dir.syn_offset(90_000), Some(85_001));
        h.dir.reanchor(90_000);
        assert!(!h.dir.fin_complete());
        h.send(SYN | ACK, 90_000, b"");
        h.send(ACK, 90_001, b"real bytes");
        let d = h.close();
        assert_eq!(d.pieces, [data(b"real bytes")]);
        assert!(d.end.gaps.is_empty());
        assert_eq!(d.end.packets, 3);
    }

    #[test]
    fn distance_is_measured_from_the_highest_offset_either_way() {
        let mut h = Harness::new();
        assert_eq!(h.dir.distance(7), None, "nothing anchored yet");
        h.send(SYN, 99, b"");
        h.send(ACK, 100, b"0123456789");
        assert_eq!(h.dir.distance(110), Some(0));
        assert_eq!(h.dir.distance(100), Some(-10));
        assert_eq!(h.dir.distance(1110), Some(1000));
        assert_eq!(h.dir.distance(100u32.wrapping_sub(5000)), Some(-5010));
        assert!(h.dir.has_data());
    }

    #[test]
    fn ack_beyond_what_is_believed_waits_for_data_near_it() {
        let mut h = Harness::new();
        h.send(SYN, 0, b"");
        h.send(ACK, 1, b"a");
        h.dir.peer_acked(1 + 5000, 1000);
        assert_eq!(
            h.dir.distance(2),
            Some(0),
            "the far ACK did not move the stream"
        );
        h.dir.peer_acked(1 + 500, 1000);
        assert_eq!(h.dir.distance(2), Some(-499), "a near one does");
    }

    /// A small deterministic generator (xorshift64*), so failures replay.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// What a direction must hand over, worked out from a bitmap of the
    /// bytes delivered (as smoltcp checks its assembler): the stream starts
    /// at offset 0 when the SYN was delivered, else at the lowest byte
    /// delivered; it ends at the highest byte delivered; every byte not
    /// delivered in between is a zero in a gap.
    fn reference(stream: &[u8], delivered: &[bool], syn: bool) -> (Vec<u8>, Vec<(u64, u64)>) {
        let Some(last) = delivered.iter().rposition(|&d| d) else {
            return (Vec::new(), Vec::new());
        };
        let first = if syn {
            0
        } else {
            delivered.iter().position(|&d| d).unwrap_or(0)
        };
        let mut bytes = Vec::new();
        let mut gaps: Vec<(u64, u64)> = Vec::new();
        for i in first..=last {
            let at = (i - first) as u64;
            if delivered[i] {
                bytes.push(stream[i]);
            } else {
                bytes.push(0);
                match gaps.last_mut() {
                    Some(g) if g.0 + g.1 == at => g.1 += 1,
                    _ => gaps.push((at, 1)),
                }
            }
        }
        (bytes, gaps)
    }

    #[test]
    fn randomized_segments_match_the_bitmap_reference() {
        let mut rng = Rng(0x5eed_f10e_5911_7001);
        for case in 0..2000 {
            let len = 1 + rng.below(20_000) as usize;
            let stream: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let isn = if rng.below(2) == 0 {
                u32::MAX - rng.below(30_000) as u32
            } else {
                rng.next() as u32
            };
            // Cut into segments; some are lost, some sent twice, some
            // retransmitted as overlapping re-cuts of the same bytes.
            let mut segments: Vec<(usize, usize)> = Vec::new();
            let mut at = 0;
            while at < len {
                let n = (1 + rng.below(1500) as usize).min(len - at);
                segments.push((at, at + n));
                at += n;
            }
            let lose = rng.below(4) == 0;
            segments.retain(|_| !lose || rng.below(8) != 0);
            for _ in 0..rng.below(5) {
                let a = rng.below(len as u64) as usize;
                let b = (a + 1 + rng.below(3000) as usize).min(len);
                let covered = segments.iter().any(|&(s, e)| s <= a && b <= e);
                if !lose || covered {
                    segments.push((a, b));
                }
            }
            // Shuffle (Fisher-Yates), then send the SYN at a random place
            // (or not at all).
            for i in (1..segments.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                segments.swap(i, j);
            }
            let syn = rng.below(5) != 0;
            let syn_at = rng.below(segments.len() as u64 + 1) as usize;
            let mut delivered = vec![false; len];
            let mut h = Harness::new();
            for (i, &(s, e)) in segments.iter().enumerate() {
                if syn && i == syn_at {
                    h.send(SYN, isn, b"");
                }
                h.send(
                    ACK,
                    isn.wrapping_add(1).wrapping_add(s as u32),
                    &stream[s..e],
                );
                delivered[s..e].iter_mut().for_each(|d| *d = true);
            }
            if syn && syn_at == segments.len() {
                h.send(SYN, isn, b"");
            }
            let d = h.close();
            let (bytes, gaps) = reference(&stream, &delivered, syn);
            assert!(
                d.bytes() == bytes,
                "case {case}: stream differs (len {len}, isn {isn}, syn {syn} at {syn_at})"
            );
            assert_eq!(d.end.gaps, gaps, "case {case}: gaps differ");
            assert_eq!(d.end.dropped_before_start, 0, "case {case}");
        }
    }
}
