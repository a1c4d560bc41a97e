//! Spreading connections over worker threads.
//!
//! The reading thread reads, filters and decodes packets (the fragment table
//! needs every packet) and hands each segment to the worker chosen by the
//! symmetric hash of its connection ([`ConnKey::shard`]), so both directions
//! of a connection meet in one flow table. Segments travel in batches over
//! bounded channels, so memory stays bounded by what is in flight. A batch
//! holds the segments' fields and, for their payloads, references to the
//! shared blocks the input was read into (no copy), or an arena for the
//! payloads that lie in no such block (reassembled fragments, live capture).
//!
//! Output is identical to a one-thread run: expiry happens only when a new
//! second of capture time begins, and the reader tells every worker about
//! that at the same packet ([`Item::Tick`]); closed directions are keyed by
//! [`CloseKey`] and a collector writes them in that order once every worker
//! has moved past them.

use crate::capture::file::{self, InputBlock};
use crate::capture::{LinkType, Timestamp};
use crate::decode::{Encap, Frame, Segment, TcpFlags, TcpTuple};
use crate::error::Error;
use crate::flow::{ConnKey, FlowTable, StreamConsumer, TableStats};
use crate::output::{CloseKey, DirectionRecord, OrderedReport};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// Where decoded segments go: one flow table in this thread, or several in workers.
pub trait SegmentSink {
    /// Take one segment; `packet_no` is its 1-based number over all inputs.
    /// `input` is the shared block of input the packet was read into, if
    /// any: a payload lying in it may be kept by reference, not copied.
    fn segment(
        &mut self,
        seg: &Segment<'_>,
        packet_no: u64,
        input: Option<&InputBlock>,
    ) -> Result<(), Error>;
    /// Capture time moved on to `ts` without a packet (live capture, once a
    /// second of wall time): connections whose linger or idle time is over
    /// close. `packets` is the number of packets handed over so far.
    fn tick(&mut self, ts: Timestamp, packets: u64) -> Result<(), Error>;
    /// Make every byte reassembled so far visible in the flow files, and
    /// every closed direction's line visible in the report.
    fn flush(&mut self, packets: u64) -> Result<(), Error>;
    /// Close every connection, write the remaining report lines, and say what was done.
    fn finish(self: Box<Self>) -> Result<TableStats, Error>;
    /// Connections open now (with worker threads: as of the last batch
    /// each worker finished).
    fn open_connections(&self) -> u64;
    /// Bytes the flow tables hold for connection state, as `--max-memory`
    /// counts them ([`FlowTable::memory`]), summed over every table (with
    /// worker threads: as of the last batch each worker finished; read
    /// after [`SegmentSink::open_connections`], it is of the same batch or
    /// a later one).
    fn memory(&self) -> u64;
    /// From the next segment on, whether segments of connections that are
    /// not open open new ones (see [`FlowTable::set_start_new`]).
    fn set_start_new(&mut self, on: bool);
}

/// One flow table in the reading thread.
pub struct Inline<C: StreamConsumer> {
    table: FlowTable<C>,
    report: OrderedReport,
}

impl<C: StreamConsumer> Inline<C> {
    /// Reassemble in this thread.
    pub fn new(table: FlowTable<C>, report: OrderedReport) -> Inline<C> {
        Inline { table, report }
    }
}

impl<C: StreamConsumer> SegmentSink for Inline<C> {
    fn segment(
        &mut self,
        seg: &Segment<'_>,
        packet_no: u64,
        _input: Option<&InputBlock>,
    ) -> Result<(), Error> {
        let report = &mut self.report;
        self.table.process(seg, packet_no, &mut |k, r| {
            report.push(k, r);
            Ok(())
        })?;
        self.report.release_before(packet_no.saturating_add(1))
    }

    fn tick(&mut self, ts: Timestamp, packets: u64) -> Result<(), Error> {
        let report = &mut self.report;
        self.table.tick(ts, packets, &mut |k, r| {
            report.push(k, r);
            Ok(())
        })?;
        self.report.release_before(packets.saturating_add(1))
    }

    fn flush(&mut self, _packets: u64) -> Result<(), Error> {
        self.table.flush()?;
        self.report.flush()
    }

    fn finish(mut self: Box<Self>) -> Result<TableStats, Error> {
        let report = &mut self.report;
        // One table closes its connections in id order: once a connection's
        // record comes, those of every connection before it are all in, so
        // they are written (whole connections, for the close hook) instead
        // of all end-of-input records being held until the last.
        let finished = self.table.finish(&mut |k, r| {
            report.push(k, r);
            report.release_below(CloseKey { side: 0, ..k })
        });
        self.report.set_fill(self.table.stats().fill);
        let written = self.report.finish();
        finished?;
        written?;
        Ok(self.table.stats())
    }

    fn open_connections(&self) -> u64 {
        self.table.open_connections() as u64
    }

    fn memory(&self) -> u64 {
        self.table.memory()
    }

    fn set_start_new(&mut self, on: bool) {
        self.table.set_start_new(on);
    }
}

/// A segment's fields, its payload kept in the batch's arena.
struct SegMeta {
    ts: Timestamp,
    tuple: TcpTuple,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    missing: u32,
    encap: Encap,
    packet_no: u64,
    /// Where the payload is: an index into the batch's `blocks`, or [`IN_ARENA`].
    source: u32,
    /// Offset and length there (blocks and arenas are far below 4 GiB).
    start: u32,
    len: u32,
    /// The frame, when frames are passed on ([`Sharded::keep_frames`]).
    frame: Option<FrameMeta>,
}

/// Where a segment's frame is in its batch, like [`SegMeta`]'s payload.
struct FrameMeta {
    link: LinkType,
    wire_len: u32,
    source: u32,
    start: u32,
    len: u32,
}

/// [`SegMeta::source`] of a payload copied into the batch's arena.
const IN_ARENA: u32 = u32::MAX;

/// What a worker is told, in order.
// Nearly every item is a segment: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Item {
    Segment(SegMeta),
    /// A new second of capture time began at this packet.
    Tick(Timestamp, u64),
    /// Flush the flow table's output.
    Flush,
    /// [`FlowTable::set_start_new`] from here on.
    StartNew(bool),
}

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    /// Input blocks that payloads lie in (kept, not copied).
    blocks: Vec<InputBlock>,
    /// Payloads that lie in no input block (reassembled fragments, live capture).
    arena: Vec<u8>,
    /// The reader's block count when the batch's first item came.
    first_block: u64,
    /// Every packet up to this number has been dispatched.
    through: u64,
}

impl Batch {
    /// The payload of segment `m` of this batch.
    fn payload(&self, m: &SegMeta) -> &[u8] {
        self.bytes(m.source, m.start, m.len)
    }

    /// `len` bytes at `start` of `source` (a block, or [`IN_ARENA`]).
    fn bytes(&self, source: u32, start: u32, len: u32) -> &[u8] {
        let bytes = match self.blocks.get(source as usize) {
            Some(block) => block.as_slice(),
            None => &self.arena,
        };
        let start = start as usize;
        &bytes[start..start + len as usize]
    }

    /// Where `bytes` will be found in this batch: in `input`, kept, when
    /// they lie in it (an ordinary block), else copied into the arena.
    fn place(&mut self, bytes: &[u8], input: Option<&InputBlock>) -> (u32, u32) {
        let range = bytes.as_ptr_range();
        // Only ordinary blocks are kept: a block grown for one huge record
        // (up to 16 MiB) would pin far more than the payload, which is copied.
        match input {
            Some(block)
                if block.capacity() <= file::BLOCK
                    && block.as_ptr_range().start <= range.start
                    && range.end <= block.as_ptr_range().end =>
            {
                if !self
                    .blocks
                    .last()
                    .is_some_and(|b| InputBlock::ptr_eq(b, block))
                {
                    self.blocks.push(InputBlock::clone(block));
                }
                let offset = range.start as usize - block.as_ptr() as usize;
                (self.blocks.len() as u32 - 1, offset as u32)
            }
            _ => {
                let start = self.arena.len();
                self.arena.extend_from_slice(bytes);
                (IN_ARENA, start as u32)
            }
        }
    }
}

/// Send a batch when it holds this many items or arena bytes.
const BATCH_ITEMS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per worker.
const QUEUE_DEPTH: usize = 4;

/// Records a worker sends at once (fewer wake-ups of the collector).
const RECORDS_PER_MSG: usize = 256;

/// Messages in flight from the workers to the collector: at most this
/// many times [`RECORDS_PER_MSG`] records (a few MiB, part of the fixed
/// share of `--max-memory`). A worker that gets this far ahead of the
/// collector waits: at the end of input every open connection closes at
/// once, and closing is faster than writing the report (JSON Lines and
/// DFXML), so without a bound the records queued up for the collector
/// as fast as the connections' memory was freed.
const MSG_DEPTH: usize = 16;

/// Records the collector holds for a slower worker before the workers
/// ahead of it are held back (at the end of input, see [`Throttle`]).
const HELD_RECORDS: usize = 8192;

/// At the end of input every worker closes its open connections in id
/// order, and the collector can only write a record once every worker is
/// past it: a worker ahead would pile its records up there, as many as it
/// has open connections. The collector pauses the workers ahead of the
/// slowest one while it holds more than [`HELD_RECORDS`]; the slowest is
/// never paused, so the run always moves on.
struct Throttle {
    paused: Vec<AtomicBool>,
    lock: Mutex<()>,
    resumed: Condvar,
}

impl Throttle {
    fn new(workers: usize) -> Throttle {
        Throttle {
            paused: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            lock: Mutex::new(()),
            resumed: Condvar::new(),
        }
    }

    fn is_paused(&self, w: usize) -> bool {
        self.paused
            .get(w)
            .is_some_and(|p| p.load(Ordering::Acquire))
    }

    /// Block worker `w` while it is paused.
    fn wait_while_paused(&self, w: usize) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.is_paused(w) {
            guard = self.resumed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Pause exactly the workers for which `paused` says so.
    fn set(&self, paused: impl Fn(usize) -> bool) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        for (w, p) in self.paused.iter().enumerate() {
            p.store(paused(w), Ordering::Release);
        }
        self.resumed.notify_all();
    }
}

/// Lets every worker go when the collector stops, however it stops.
struct ResumeAll<'a>(&'a Throttle);

impl Drop for ResumeAll<'_> {
    fn drop(&mut self) {
        self.0.set(|_| false);
    }
}

enum Msg {
    /// Closed directions, in the order the worker closed them.
    Records(usize, Vec<(CloseKey, DirectionRecord)>),
    Progress(usize, u64),
    Done(usize, Result<TableStats, Error>),
}

/// Several flow tables in worker threads.
pub struct Sharded {
    senders: Vec<SyncSender<Batch>>,
    batches: Vec<Batch>,
    recycled: Receiver<Batch>,
    workers: Vec<JoinHandle<()>>,
    collector: JoinHandle<Result<TableStats, Error>>,
    last_second: Option<i64>,
    /// The input block the last segment came in, and how many blocks came
    /// before it. When the reader moves on to another block, the batches
    /// begun two blocks ago are sent: a batch holds at most two blocks, so
    /// the blocks kept alive are bounded by the batches in flight.
    block: Option<InputBlock>,
    block_seq: u64,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Each worker's open connections and memory, as of its last batch.
    load: Arc<Vec<Load>>,
    /// Pass each segment's frame on to the workers (`-K`).
    keep_frames: bool,
}

/// What a worker's flow table holds, stored by the worker after each batch
/// (two stores per batch, no lock) and read by the reader for `stats` events.
#[derive(Default)]
struct Load {
    /// Open connections ([`FlowTable::open_connections`]).
    open: AtomicU64,
    /// Bytes of connection state ([`FlowTable::memory`]).
    memory: AtomicU64,
}

impl Load {
    /// Store `table`'s figures. Memory goes first, so a reader that reads
    /// the connection count, then the memory, gets the memory of that
    /// batch or a later one.
    fn store<C: StreamConsumer>(&self, table: &FlowTable<C>) {
        self.memory.store(table.memory(), Ordering::Release);
        self.open
            .store(table.open_connections() as u64, Ordering::Release);
    }
}

impl Sharded {
    /// Start one worker per table and a collector writing `report` in order.
    pub fn new<C>(tables: Vec<FlowTable<C>>, report: OrderedReport) -> Sharded
    where
        C: StreamConsumer + Send + 'static,
        C::Stream: Send,
    {
        let n = tables.len();
        let (msg_tx, msg_rx) = mpsc::sync_channel::<Msg>(MSG_DEPTH);
        let (recycle_tx, recycled) = mpsc::channel::<Batch>();
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let throttle = Arc::new(Throttle::new(n));
        let load = Arc::new((0..n).map(|_| Load::default()).collect::<Vec<_>>());
        let mut senders = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for (w, table) in tables.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUE_DEPTH);
            senders.push(tx);
            let msgs = msg_tx.clone();
            let recycle = recycle_tx.clone();
            let failed = failed.clone();
            let throttle = throttle.clone();
            let load = load.clone();
            workers.push(std::thread::spawn(move || {
                let shared = Shared {
                    failed,
                    throttle: &throttle,
                    load: &load[w],
                };
                work(w, table, rx, msgs, recycle, &shared)
            }));
        }
        drop(msg_tx);
        let collector = std::thread::spawn(move || collect(n, msg_rx, report, &throttle));
        Sharded {
            senders,
            batches: (0..n).map(|_| Batch::default()).collect(),
            recycled,
            workers,
            collector,
            last_second: None,
            block: None,
            block_seq: 0,
            failed,
            load,
            keep_frames: false,
        }
    }

    /// Pass each segment's frame on to the workers' flow tables (their
    /// consumers write them, `-K`); off by default, as it costs a copy of
    /// the frame where the payload is copied.
    pub fn keep_frames(mut self, on: bool) -> Sharded {
        self.keep_frames = on;
        self
    }

    fn send(&mut self, w: usize, through: u64) -> Result<(), Error> {
        let fresh = self.recycled.try_recv().unwrap_or_default();
        let mut batch = std::mem::replace(&mut self.batches[w], fresh);
        batch.through = through;
        if self.senders[w].send(batch).is_err() {
            return Err(Error::Internal("a worker thread stopped".into()));
        }
        Ok(())
    }
}

impl SegmentSink for Sharded {
    fn segment(
        &mut self,
        seg: &Segment<'_>,
        packet_no: u64,
        input: Option<&InputBlock>,
    ) -> Result<(), Error> {
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Error::Internal("a worker failed".into()));
        }
        if let Some(block) = input {
            if !self
                .block
                .as_ref()
                .is_some_and(|b| InputBlock::ptr_eq(b, block))
            {
                self.block_seq += 1;
                for w in 0..self.batches.len() {
                    let batch = &self.batches[w];
                    if !batch.items.is_empty() && batch.first_block + 1 < self.block_seq {
                        self.send(w, packet_no - 1)?;
                    }
                }
                self.block = Some(InputBlock::clone(block));
            }
        }
        if self.last_second.is_none_or(|s| seg.ts.secs > s) {
            self.last_second = Some(seg.ts.secs);
            for w in 0..self.batches.len() {
                self.batches[w].items.push(Item::Tick(seg.ts, packet_no));
                self.send(w, packet_no - 1)?;
            }
        }
        let (key, _) = ConnKey::of(&seg.tuple);
        let w = key.shard(self.batches.len());
        let batch = &mut self.batches[w];
        if batch.items.is_empty() {
            batch.first_block = self.block_seq;
        }
        let (source, start) = batch.place(&seg.payload, input);
        let frame = match &seg.frame {
            Some(f) if self.keep_frames => {
                let (source, start) = batch.place(&f.data, input);
                Some(FrameMeta {
                    link: f.link,
                    wire_len: f.wire_len,
                    source,
                    start,
                    len: f.data.len() as u32,
                })
            }
            _ => None,
        };
        batch.items.push(Item::Segment(SegMeta {
            ts: seg.ts,
            tuple: seg.tuple,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            missing: seg.missing,
            encap: seg.encap,
            packet_no,
            source,
            start,
            len: seg.payload.len() as u32,
            frame,
        }));
        if batch.items.len() >= BATCH_ITEMS || batch.arena.len() >= BATCH_BYTES {
            self.send(w, packet_no)?;
        }
        Ok(())
    }

    fn tick(&mut self, ts: Timestamp, packets: u64) -> Result<(), Error> {
        if self.last_second.is_some_and(|s| ts.secs <= s) {
            return Ok(());
        }
        self.last_second = Some(ts.secs);
        for w in 0..self.batches.len() {
            self.batches[w].items.push(Item::Tick(ts, packets));
            self.send(w, packets)?;
        }
        Ok(())
    }

    fn flush(&mut self, packets: u64) -> Result<(), Error> {
        // Sending every batch also lets the collector release report lines.
        for w in 0..self.batches.len() {
            self.batches[w].items.push(Item::Flush);
            self.send(w, packets)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<TableStats, Error> {
        let through = u64::MAX - 1;
        for w in 0..self.batches.len() {
            // A worker that already stopped has reported why; keep going.
            let _ = self.send(w, through);
        }
        self.senders.clear();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
        match self.collector.join() {
            Ok(result) => result,
            Err(_) => Err(Error::Internal("the report thread panicked".into())),
        }
    }

    fn open_connections(&self) -> u64 {
        self.load
            .iter()
            .map(|l| l.open.load(Ordering::Acquire))
            .sum()
    }

    fn memory(&self) -> u64 {
        self.load
            .iter()
            .map(|l| l.memory.load(Ordering::Acquire))
            .sum()
    }

    fn set_start_new(&mut self, on: bool) {
        for batch in &mut self.batches {
            batch.items.push(Item::StartNew(on));
        }
    }
}

/// What a worker shares with the others and the reader.
struct Shared<'a> {
    /// Set when a worker fails.
    failed: Arc<AtomicBool>,
    throttle: &'a Throttle,
    /// This worker's open connections and memory, stored after each batch.
    load: &'a Load,
}

/// A worker's closed directions, sent to the collector in groups.
struct Closed<'a> {
    worker: usize,
    msgs: &'a SyncSender<Msg>,
    records: Vec<(CloseKey, DirectionRecord)>,
}

impl Closed<'_> {
    fn push(&mut self, key: CloseKey, record: DirectionRecord) -> Result<(), Error> {
        self.records.push((key, record));
        if self.records.len() >= RECORDS_PER_MSG {
            self.send();
        }
        Ok(())
    }

    fn send(&mut self) {
        if !self.records.is_empty() {
            let records = std::mem::take(&mut self.records);
            let _ = self.msgs.send(Msg::Records(self.worker, records));
        }
    }
}

fn work<C: StreamConsumer>(
    w: usize,
    mut table: FlowTable<C>,
    batches: Receiver<Batch>,
    msgs: SyncSender<Msg>,
    recycle: Sender<Batch>,
    shared: &Shared<'_>,
) {
    let (failed, throttle) = (&shared.failed, shared.throttle);
    let mut error = None;
    let mut closed = Closed {
        worker: w,
        msgs: &msgs,
        records: Vec::new(),
    };
    for mut batch in batches.iter() {
        if error.is_none() {
            let on_close = &mut |k, r| closed.push(k, r);
            for item in &batch.items {
                let result = match item {
                    Item::Tick(ts, packet_no) => table.tick(*ts, *packet_no, on_close),
                    Item::Flush => table.flush(),
                    Item::StartNew(on) => {
                        table.set_start_new(*on);
                        Ok(())
                    }
                    Item::Segment(m) => {
                        let seg = Segment {
                            ts: m.ts,
                            tuple: m.tuple,
                            seq: m.seq,
                            ack: m.ack,
                            flags: m.flags,
                            window: m.window,
                            payload: Cow::Borrowed(batch.payload(m)),
                            missing: m.missing,
                            encap: m.encap,
                            frame: m.frame.as_ref().map(|f| Frame {
                                link: f.link,
                                data: Cow::Borrowed(batch.bytes(f.source, f.start, f.len)),
                                wire_len: f.wire_len,
                            }),
                        };
                        table.process(&seg, m.packet_no, on_close)
                    }
                };
                if let Err(e) = result {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                    error = Some(e);
                    break;
                }
            }
        }
        shared.load.store(&table);
        // The batch's records go before the progress that lets the collector release them.
        closed.send();
        let _ = msgs.send(Msg::Progress(w, batch.through));
        batch.items.clear();
        batch.blocks.clear();
        batch.arena.clear();
        let _ = recycle.send(batch);
    }
    let finished = {
        let on_close = &mut |k, r| {
            closed.push(k, r)?;
            if throttle.is_paused(w) {
                // Ahead of a slower worker: what is closed goes out, then wait.
                closed.send();
                throttle.wait_while_paused(w);
            }
            Ok(())
        };
        match error {
            Some(e) => {
                let _ = table.finish(on_close);
                Err(e)
            }
            None => table.finish(on_close).map(|()| table.stats()),
        }
    };
    closed.send();
    let _ = msgs.send(Msg::Done(w, finished));
}

fn collect(
    workers: usize,
    msgs: Receiver<Msg>,
    mut report: OrderedReport,
    throttle: &Throttle,
) -> Result<TableStats, Error> {
    let _resume = ResumeAll(throttle);
    let mut paused = vec![false; workers];
    // The smallest key each worker may still send. Workers send records in
    // key order within a batch of packets and, at the end of input, close
    // their connections in id order, so the end-of-input records (the bulk
    // when many connections are open) stream out instead of piling up.
    let mut floor = vec![CloseKey::default(); workers];
    let done = CloseKey {
        event: u64::MAX,
        connection: u64::MAX,
        side: u8::MAX,
    };
    let mut stats = TableStats::default();
    let mut first_error = None;
    for msg in msgs.iter() {
        let moved = match msg {
            Msg::Records(w, records) => {
                let mut moved = false;
                for (k, r) in records {
                    report.push(k, r);
                    // At the end of input a worker closes its connections in id
                    // order, both sides at once: connections below this one are
                    // complete (whole connections are released together).
                    let bound = CloseKey {
                        event: u64::MAX,
                        connection: k.connection,
                        side: 0,
                    };
                    if k.event == u64::MAX && bound > floor[w] {
                        floor[w] = bound;
                        moved = true;
                    }
                }
                moved
            }
            Msg::Progress(w, through) => {
                let bound = CloseKey {
                    event: through.saturating_add(1),
                    connection: 0,
                    side: 0,
                };
                floor[w] = floor[w].max(bound);
                true
            }
            Msg::Done(w, result) => {
                floor[w] = done;
                match result {
                    Ok(s) => {
                        stats.connections += s.connections;
                        stats.directions += s.directions;
                        stats.directions_with_gaps += s.directions_with_gaps;
                        stats.fill.add(&s.fill);
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
                true
            }
        };
        if moved {
            let low = floor.iter().copied().min().unwrap_or_default();
            if let Err(e) = report.release_below(low) {
                first_error.get_or_insert(e);
            }
            let crowded = report.held() > HELD_RECORDS;
            let ahead: Vec<bool> = floor.iter().map(|f| crowded && *f > low).collect();
            if ahead != paused {
                throttle.set(|w| ahead.get(w).copied().unwrap_or(false));
                paused = ahead;
            }
        }
    }
    report.set_fill(stats.fill);
    if let Err(e) = report.finish() {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(stats), Err)
}
