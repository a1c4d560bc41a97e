//! One direction of a TCP connection: from sequence numbers to stream
//! offsets, through the [`Assembler`], into its output (a file).
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

/// Bytes a direction that began mid-connection holds before fixing its start.
pub const HOLD_BYTES: usize = 64 << 10;

/// A direction's bytes are collected into runs of this size before they
/// are written, so most flow files are written with one system call.
pub const RUN_BYTES: usize = 64 << 10;

/// Zeros hashed for gaps.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Settings shared by every direction.
#[derive(Debug, Clone)]
pub struct DirectionLimits {
    /// Store at most this many bytes (zero-filled gaps included).
    pub max_bytes: Option<u64>,
    /// Out-of-order bytes buffered before the first hole is given up.
    pub max_pending: usize,
    /// Out-of-order bytes buffered by all directions of one budget shard
    /// together (see [`crate::flow::table::BUDGET_SHARDS`]).
    pub max_pending_total: usize,
}

/// Where a direction's bytes go: its file, hash and bookkeeping.
struct Output {
    tuple: TcpTuple,
    /// The encapsulation path of the first segment, rendered.
    encap: String,
    /// Outer endpoints of the innermost tunnel of the first segment.
    outer: Option<(std::net::IpAddr, std::net::IpAddr)>,
    connection: u64,
    counter: u32,
    first_ts: Timestamp,
    file: Option<(FileId, String)>,
    /// Bytes accepted but not yet handed to the sink.
    run: Vec<u8>,
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
    out: Output,
    /// Lowest (negative) offset at which data arrived before stream offset 0.
    lowest_start: i64,
}

impl Direction {
    /// A direction of connection `connection` (the `counter`th on its 4-tuple).
    pub fn new(tuple: TcpTuple, connection: u64, counter: u32) -> Direction {
        Direction {
            isn: None,
            base: None,
            asm: Assembler::new(),
            high: 0,
            acked_far: None,
            fin_at: None,
            packets: 0,
            last_ts: Timestamp::default(),
            out: Output {
                tuple,
                encap: String::new(),
                outer: None,
                connection,
                counter,
                first_ts: Timestamp::default(),
                file: None,
                run: Vec::new(),
                written: 0,
                gaps: Vec::new(),
                truncated: false,
                hasher: Sha256::new(),
            },
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

    /// In-order bytes collected but not yet written.
    pub fn collected_bytes(&self) -> usize {
        self.out.run.len()
    }

    /// Write the collected bytes now (live capture, memory pressure).
    pub fn flush(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        self.out.flush_run(ctx)
    }

    /// The connection finished (FIN or RST) and only lingers for late
    /// packets: write what was collected and give the descriptor back.
    pub fn settle(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        self.out.flush_run(ctx)?;
        if let Some((id, _)) = &self.out.file {
            ctx.sink.release(*id, self.out.first_ts);
        }
        Ok(())
    }

    /// Take in one segment sent in this direction.
    pub fn segment(&mut self, seg: &Segment<'_>, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        if self.packets == 0 {
            self.out.first_ts = seg.ts;
            self.out.encap = seg.encap.path.render();
            self.out.outer = seg.encap.outer;
        }
        self.packets += 1;
        self.last_ts = self.last_ts.max(seg.ts);
        let mut err = None;
        let mut data_seq = seg.seq;
        if seg.flags.syn() {
            data_seq = seg.seq.wrapping_add(1);
            self.syn(seg.seq, ctx, &mut err);
        }
        if seg.flags.rst() {
            return err.map_or(Ok(()), Err);
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
        let mut start = self.offset_of(data_seq);
        if start - (self.high as i64) > MAX_JUMP {
            match self.acked_far {
                Some(far) if (self.offset_from(far, data_seq) - far as i64).abs() <= MAX_JUMP => {
                    self.high = far;
                    self.acked_far = None;
                    start = self.offset_of(data_seq);
                }
                _ => return Ok(()),
            }
        }
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
            self.asm.insert(
                offset,
                &seg.payload[skip..],
                &mut emitter(&mut self.out, ctx, &mut err),
            );
        }
        if seg.missing > 0 && seg_end > 0 {
            // Snap-length truncation: the rest of this segment is on the wire
            // but not in the capture; it will never arrive. Give it up now.
            self.high = self.high.max(seg_end as u64);
            self.release(ctx, &mut err);
            if self.asm.next_offset() as i64 == data_end {
                let gaps = self
                    .asm
                    .skip_to(seg_end as u64, &mut emitter(&mut self.out, ctx, &mut err));
                self.out.gaps.extend(gaps);
            }
        }
        if seg.flags.fin() && seg_end >= 0 {
            self.fin_at = Some(seg_end as u64);
        }
        if self.asm.is_held() && self.asm.pending_bytes() >= HOLD_BYTES {
            self.release(ctx, &mut err);
        }
        if let Some(e) = err {
            return Err(e);
        }
        self.shed_pending(ctx.limits.max_pending, ctx)
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
    /// unless bytes were already written.
    fn syn(&mut self, seq: u32, ctx: &mut WriteCtx<'_>, err: &mut Option<Error>) {
        if self.isn.is_some() {
            return;
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
                self.release(ctx, err);
            }
        }
    }

    /// The stream turned out to start `by` bytes earlier, at `base`.
    fn rebase(&mut self, by: u64, base: u32) {
        self.base = Some(base);
        self.high += by;
        self.fin_at = self.fin_at.map(|f| f + by);
    }

    /// Stop holding: the start of the stream is fixed.
    fn release(&mut self, ctx: &mut WriteCtx<'_>, err: &mut Option<Error>) {
        if self.asm.is_held() {
            self.asm.release(&mut emitter(&mut self.out, ctx, err));
        }
    }

    /// Give up holes, first to last, until at most `limit` out-of-order
    /// bytes stay buffered. Each hole given up is zero-filled and recorded
    /// as a gap.
    pub fn shed_pending(&mut self, limit: usize, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        let mut err = None;
        while self.asm.pending_bytes() > limit && err.is_none() {
            let gap = self
                .asm
                .skip_hole(&mut emitter(&mut self.out, ctx, &mut err));
            if let Some(g) = gap {
                self.out.gaps.push(g);
            }
        }
        err.map_or(Ok(()), Err)
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

    /// Give up every hole, close the file and describe the direction.
    /// Returns `None` when the direction carried no bytes (no file was made).
    pub fn close(
        &mut self,
        end: End,
        ctx: &mut WriteCtx<'_>,
    ) -> Result<Option<DirectionRecord>, Error> {
        let mut err = None;
        let gaps = self.asm.finish(&mut emitter(&mut self.out, ctx, &mut err));
        self.out.gaps.extend(gaps);
        if let Some(e) = err {
            return Err(e);
        }
        self.out.flush_run(ctx)?;
        let Some((id, name)) = self.out.file.take() else {
            return Ok(None);
        };
        ctx.sink.close(id, self.out.first_ts)?;
        let hasher = std::mem::take(&mut self.out.hasher);
        let end = if self.fin_complete() { End::Fin } else { end };
        Ok(Some(DirectionRecord {
            file: name,
            connection: self.out.connection,
            src: self.out.tuple.src.to_string(),
            sport: self.out.tuple.sport,
            dst: self.out.tuple.dst.to_string(),
            dport: self.out.tuple.dport,
            vlan: self.out.tuple.vlan,
            encap: std::mem::take(&mut self.out.encap),
            tunnel: self.out.tuple.tunnel,
            outer_src: self.out.outer.map(|o| o.0.to_string()),
            outer_dst: self.out.outer.map(|o| o.1.to_string()),
            first_ts: self.out.first_ts.to_string(),
            last_ts: self.last_ts.to_string(),
            packets: self.packets,
            bytes: self.out.written,
            gap_bytes: self.out.gaps.iter().map(|g| g.1).sum(),
            gaps: std::mem::take(&mut self.out.gaps),
            truncated: self.out.truncated,
            dropped_before_start: self.lowest_start.unsigned_abs(),
            end,
            sha256: hex::encode(hasher.finalize()),
        }))
    }
}

impl Output {
    /// Write one piece of the ordered stream, creating the file on the first.
    fn accept(&mut self, piece: Piece<'_>, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
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
        let collect = ctx.sink.collects_runs();
        match piece {
            Piece::Data(d) => {
                let d = &d[..len as usize];
                self.hasher.update(d);
                if !collect || (self.run.is_empty() && d.len() >= RUN_BYTES) {
                    let id = self.file_id(ctx)?;
                    ctx.sink.write(id, d)?;
                } else {
                    if self.run.capacity() == 0 && self.written > RUN_BYTES as u64 {
                        // Bulk again after a pause: take a whole run's buffer at once.
                        // (A fresh direction's run starts at its first segment's
                        // size: a million open connections must not take a page each.)
                        self.run.reserve_exact(RUN_BYTES + d.len());
                    }
                    self.run.extend_from_slice(d);
                }
            }
            Piece::Gap(_) => {
                let mut left = len;
                while left > 0 {
                    let n = left.min(ZEROS.len() as u64) as usize;
                    self.hasher.update(&ZEROS[..n]);
                    left -= n as u64;
                }
                if collect && len < RUN_BYTES as u64 {
                    self.run.resize(self.run.len() + len as usize, 0);
                } else {
                    self.flush_run(ctx)?;
                    let id = self.file_id(ctx)?;
                    ctx.sink.write_zeros(id, len)?;
                }
            }
        }
        self.written += len;
        if self.run.len() >= RUN_BYTES {
            // A bulk direction: write the run and keep its buffer for the next.
            let id = self.file_id(ctx)?;
            ctx.sink.write(id, &self.run)?;
            self.run.clear();
        }
        Ok(())
    }

    /// Hand the collected run to the sink (creating the file first if needed).
    fn flush_run(&mut self, ctx: &mut WriteCtx<'_>) -> Result<(), Error> {
        if self.run.is_empty() {
            return Ok(());
        }
        let id = self.file_id(ctx)?;
        ctx.sink.write(id, &self.run)?;
        // No buffer is kept between runs: an idle direction costs nothing.
        self.run = Vec::new();
        Ok(())
    }

    /// The direction's file, created (named and opened) on first need.
    fn file_id(&mut self, ctx: &mut WriteCtx<'_>) -> Result<FileId, Error> {
        if let Some((id, _)) = &self.file {
            return Ok(*id);
        }
        let (tuple, connection, first_ts) = (self.tuple, self.connection, self.first_ts);
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
        let (id, name) = ctx.sink.create(self.counter, &name_for, &opened)?;
        self.file = Some((id, name));
        Ok(id)
    }
}

/// The callback that writes an assembler's pieces to `out`, keeping the
/// first error in `err` (later pieces are dropped once writing failed).
fn emitter<'x, 'c: 'x>(
    out: &'x mut Output,
    ctx: &'x mut WriteCtx<'c>,
    err: &'x mut Option<Error>,
) -> impl FnMut(Piece<'_>) + use<'x, 'c> {
    move |piece| {
        if err.is_none() {
            *err = out.accept(piece, ctx).err();
        }
    }
}
