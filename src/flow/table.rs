//! The flow table: finds each segment's connection, starts new connections
//! (including port reuse), closes finished, reset and idle ones, keeps the
//! per-shard memory budgets, and hands each direction's ordered stream to
//! its [`StreamConsumer`] and each closed direction's record to the report.
//!
//! Where one connection ends and the next begins on the same 4-tuple
//! (`FlowTable::verdict`): a segment on a 4-tuple already in the table
//! starts a new connection (the counter, tcpflow's `%c`, one higher) when
//!
//! - it is a SYN (without ACK) and the connection finished (both FINs or a
//!   RST) or its SYN had another sequence number;
//! - it is a SYN-ACK with another ISN than the one its direction is
//!   anchored to, and data of that direction was already taken in (before
//!   any, the direction is anchored again at the new ISN instead, and a
//!   finished connection is open again: a handshake completed after a
//!   reset);
//! - it carries data, the connection finished, and it starts more than
//!   [`CLOSED_WINDOW`] from its direction's end, either way;
//! - it carries data, no SYN of the connection was ever seen, and it starts
//!   more than `-m` ([`DirectionLimits::max_seek`]) from its direction's
//!   end, either way (tcpflow's rule).
//!
//! Anything else belongs to the connection there; in a connection whose
//! handshake was seen, a hole longer than `-m` is a jump, not filled (see
//! [`super::direction`]).
//!
//! A connection is keyed by its two endpoints in a canonical order plus the
//! VLAN id, so both directions meet in one entry; [`ConnKey::shard`] gives a
//! symmetric hash for spreading connections over workers.

use super::conns::{ConnMap, Handle, Identified};
use super::consumer::{Bound, DirectionInfo, StreamConsumer};
use super::direction::{Direction, DirectionLimits};
use super::fill::{Fill, FillAccount, FillBound};
use super::layers::{Layers, LayersCache};
use super::stamp::Stamp;
use crate::capture::Timestamp;
use crate::decode::{Segment, TcpTuple};
use crate::error::Error;
use crate::output::report::{CloseKey, DirectionRecord, End};
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Arc;

/// Where a closed direction's record goes, with the key that orders it.
pub type OnClose<'a> = dyn FnMut(CloseKey, DirectionRecord) -> Result<(), Error> + 'a;

/// Both endpoints of a connection in canonical order, plus its VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    lo: (IpAddr, u16),
    hi: (IpAddr, u16),
    vlan: Option<u16>,
    /// Tunnel discriminator (0 when not tunnelled): the same inner 4-tuple
    /// seen through two tunnels is two connections.
    tunnel: u32,
}

/// Out-of-order budgets are kept per budget shard, a fixed split of the
/// connections by hash, so that when a budget is hit the same holes are
/// given up however many workers there are. Workers take whole shards,
/// so at most this many workers are used.
pub const BUDGET_SHARDS: usize = 16;

/// The hash behind [`ConnKey::budget_shard`], seeded by a constant.
const SHARD_HASH: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x666c_6f77_7370_6c74);

impl ConnKey {
    /// The key of `tuple`'s connection and the side `tuple` travels on
    /// (0: from the lower endpoint, 1: from the higher).
    pub fn of(tuple: &TcpTuple) -> (ConnKey, usize) {
        let a = (tuple.src, tuple.sport);
        let b = (tuple.dst, tuple.dport);
        let (lo, hi, side) = if a <= b { (a, b, 0) } else { (b, a, 1) };
        let key = ConnKey {
            lo,
            hi,
            vlan: tuple.vlan,
            tunnel: tuple.tunnel,
        };
        (key, side)
    }

    /// The addresses and ports sent from the lower endpoint to the higher
    /// (side 0 of the connection).
    pub fn tuple(&self) -> TcpTuple {
        TcpTuple {
            src: self.lo.0,
            sport: self.lo.1,
            dst: self.hi.0,
            dport: self.hi.1,
            vlan: self.vlan,
            tunnel: self.tunnel,
        }
    }

    /// The budget shard: a hash equal for both directions and for every
    /// tunnel carrying the same 4-tuple (so they share a worker, and file
    /// names given out by counter do not depend on threads).
    pub fn budget_shard(&self) -> usize {
        // A fixed seed: shards must be the same on every run.
        let h = SHARD_HASH.hash_one((self.lo, self.hi, self.vlan));
        (h % BUDGET_SHARDS as u64) as usize
    }

    /// The worker (of `workers`) this connection belongs to.
    pub fn shard(&self, workers: usize) -> usize {
        self.budget_shard() % workers.clamp(1, BUDGET_SHARDS)
    }
}

/// One direction: its reassembly state, what the consumer keeps for it,
/// and what its first packet said.
struct Side<S> {
    dir: Direction,
    stream: S,
    /// Capture time of its first packet.
    first_ts: Stamp,
    /// How its first packet arrived.
    layers: Option<Arc<Layers>>,
}

impl<S: Default> Side<S> {
    fn new() -> Side<S> {
        Side {
            dir: Direction::new(),
            stream: S::default(),
            first_ts: Stamp::default(),
            layers: None,
        }
    }
}

/// What both directions of a connection share, seen from one of them.
#[derive(Debug, Clone, Copy)]
struct Ident {
    tuple: TcpTuple,
    connection: u64,
    counter: u32,
    /// The direction's first packet was a SYN without ACK.
    client: bool,
}

impl Ident {
    /// The consumers' view of the direction.
    fn info<'a>(self, first_ts: Timestamp, layers: Option<&'a Layers>) -> DirectionInfo<'a> {
        DirectionInfo {
            tuple: self.tuple,
            connection: self.connection,
            counter: self.counter,
            first_ts,
            layers,
            client: self.client,
        }
    }
}

/// An open connection. Every one costs this struct (576 bytes with
/// flow files, pinned by a test) plus its allocation, its slot in the
/// table and its wheel entries ([`CONNECTION_OVERHEAD`]): its addresses
/// are those of its key (side 0 is sent by the lower endpoint), its last
/// packet's time is the later of its directions'.
struct Connection<S> {
    id: u64,
    counter: u32,
    /// Bit `side` set when that side's first packet was a SYN without ACK
    /// (tcpflow's client-to-server direction, blue with `-g`).
    clients: u8,
    sides: [Side<S>; 2],
    /// Set once both FINs are in or a RST was seen: the connection lingers
    /// for late packets and is finalised [`LINGER_SECS`] later.
    closing: Option<End>,
    /// Second of capture time under which this connection sits in the idle wheel.
    idle_sec: i64,
    /// Second of capture time under which this connection sits in the linger wheel.
    linger_sec: i64,
}

impl<S> Identified for Connection<S> {
    fn id(&self) -> u64 {
        self.id
    }
}

impl<S> Connection<S> {
    /// True once a SYN of either side was seen.
    fn handshake_seen(&self) -> bool {
        self.sides.iter().any(|s| s.dir.isn().is_some())
    }

    /// Capture time of its latest packet.
    fn last_ts(&self) -> Timestamp {
        self.sides[0].dir.last_ts().max(self.sides[1].dir.last_ts())
    }

    /// Who side `side` is, the connection being under `key`.
    fn ident(&self, key: &ConnKey, side: usize) -> Ident {
        let tuple = match side {
            0 => key.tuple(),
            _ => key.tuple().reversed(),
        };
        Ident {
            tuple,
            connection: self.id,
            counter: self.counter,
            client: self.clients & (1 << side) != 0,
        }
    }

    /// Note what `seg` (already taken in) says about the connection's end:
    /// a RST, or the last byte before both FINs. True when the connection
    /// began closing just now.
    fn begins_closing(&mut self, seg: &Segment<'_>) -> bool {
        let was_closing = self.closing.is_some();
        if seg.flags.rst() {
            self.closing = Some(End::Rst);
        } else if self.closing.is_none()
            && self.sides[0].dir.fin_complete()
            && self.sides[1].dir.fin_complete()
        {
            self.closing = Some(End::Fin);
        }
        self.closing.is_some() && !was_closing
    }
}

/// Seconds of capture time a finished (FIN or RST) connection stays in the
/// table to take in late packets (retransmissions, data sent after a RST)
/// before its files are closed and reported.
pub const LINGER_SECS: u64 = 3;

/// Bytes around a finished connection's end (both FINs in, or a RST) within
/// which data still belongs to it: retransmissions and data in flight
/// after a RST. Data further away, either way, starts a new connection on
/// the 4-tuple (one without a SYN in the capture). A new connection's
/// random ISN falls this close by chance once in 2,048.
pub const CLOSED_WINDOW: u64 = 1 << 20;

/// What a segment on a 4-tuple already in the table means for the
/// connection there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It belongs to it.
    Same,
    /// It belongs to it, and anchors its direction again at this SYN-ACK.
    Reanchor,
    /// It starts the next connection on the 4-tuple.
    Next,
}

/// A FIFO of connections ordered by a capture second, each named by its
/// [`Handle`] (24 bytes an entry). Entries are checked lazily against the
/// connection when they reach the front; an entry is stale once its
/// connection was active in a later second (and pushed again) or closed.
#[derive(Default)]
struct Wheel {
    queue: VecDeque<(i64, Handle)>,
}

/// Wheels smaller than this are never compacted.
const WHEEL_COMPACT_MIN: usize = 1024;

impl Wheel {
    /// Append `conn` under second `sec`. A full queue first drops its stale
    /// entries (`live` tells which are not), and grows only when that frees
    /// less than an eighth of it: the queue stays within about twice the
    /// entries that are live (one per open connection), however long the
    /// capture, at an amortised constant cost per push.
    fn push(&mut self, sec: i64, conn: Handle, live: impl Fn(i64, Handle) -> bool) {
        let q = &mut self.queue;
        if q.len() == q.capacity() && q.len() >= WHEEL_COMPACT_MIN {
            q.retain(|(s, h)| live(*s, *h));
            if q.len() > q.capacity() / 8 * 7 {
                q.reserve(q.capacity());
            }
        }
        q.push_back((sec, conn));
    }
}

/// Bytes consumers may hold for writing per budget shard (run buffers,
/// counted by capacity) before the direction that grows passes its bytes
/// on at once: the shared write pool, 8 MiB over all shards however many
/// connections are open.
pub const COLLECT_BUDGET: usize = 512 << 10;

/// What an open connection costs besides its own struct, measured: going
/// from 100,000 to 200,000 connections open at once (bench_gen's
/// open-200k at scales 0.5 and 1, `-S enable_report=NO`) added 812 bytes
/// each to peak RSS with two workers and 818 with one (1,098 when the
/// struct was 720 and the wheels held keys), of which the struct
/// (`Connection` with flow-file streams) is 576; the rest (236 to 242) is
/// its allocation, its slot in the table (56 bytes), its entries in the
/// idle and linger wheels (24 bytes each) and the growth of both by
/// doubling. Just after they double, slots and entries cost up to about
/// 70 bytes more than that average: rounded up to 320, so the budget
/// errs on the safe side.
const CONNECTION_OVERHEAD: usize = 320;

/// Open connections kept at most, by default (split evenly over the budget shards).
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4_000_000;

/// Settings of the flow table.
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// Close connections idle this many seconds of capture time.
    pub idle_timeout: Option<u64>,
    /// Open connections kept at most (split evenly over the budget shards);
    /// past it the least recently active connection of the shard is closed
    /// (`evicted`), so a SYN flood cannot grow the table without bound.
    pub max_connections: usize,
    /// Memory for connection state per budget shard (`--max-memory`, less
    /// what is set aside for fixed buffers, split evenly over the shards):
    /// open connections at [`FlowTable::connection_cost`] each plus their
    /// out-of-order bytes. Past it the policy of [`FlowTable`] applies.
    pub memory_per_shard: usize,
    /// Per-direction limits.
    pub limits: DirectionLimits,
    /// The run's amplification bound on zero fill (see [`super::fill`]),
    /// split over the budget shards.
    pub fill: FillBound,
}

/// Counters of what the table did.
#[derive(Debug, Default, Clone, Copy)]
pub struct TableStats {
    /// Connections started.
    pub connections: u64,
    /// Directions written (with a file).
    pub directions: u64,
    /// Directions written with bytes missing (a gap or a jump).
    pub directions_with_gaps: u64,
    /// What the directions' zero fill earned and spent of the bound, over
    /// every budget shard.
    pub fill: FillAccount,
}

/// What one direction holds in memory, as the budgets count it.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    /// Out-of-order bytes in its assembler.
    pending: usize,
    /// In-order bytes its consumer collected and has not passed on.
    collected: usize,
}

impl Held {
    fn of<C: StreamConsumer>(consumer: &C, side: &Side<C::Stream>) -> Held {
        Held {
            pending: side.dir.pending_bytes(),
            collected: consumer.held(&side.stream),
        }
    }
}

/// The two memory ledgers of every budget shard: out-of-order bytes
/// buffered and in-order bytes collected, over all its directions.
#[derive(Debug, Default)]
struct Ledger {
    shards: [Held; BUDGET_SHARDS],
}

impl Ledger {
    /// A direction of `shard` went from holding `before` to holding `after`.
    fn update(&mut self, shard: usize, before: Held, after: Held) {
        let h = &mut self.shards[shard];
        h.pending = (h.pending + after.pending).saturating_sub(before.pending);
        h.collected = (h.collected + after.collected).saturating_sub(before.collected);
    }

    /// A direction of `shard` holding `held` let go of all of it.
    fn release(&mut self, shard: usize, held: Held) {
        self.update(shard, held, Held::default());
    }

    fn pending(&self, shard: usize) -> usize {
        self.shards[shard].pending
    }

    fn collected(&self, shard: usize) -> usize {
        self.shards[shard].collected
    }

    /// Every direction passed on what it collected.
    fn flushed(&mut self) {
        for h in self.shards.iter_mut() {
            h.collected = 0;
        }
    }
}

/// The consumer together with the ledgers of what the directions hold, so
/// that every change to a direction is counted.
struct Streams<C> {
    consumer: C,
    ledger: Ledger,
    /// The longest hole zero-filled (`-m`).
    max_seek: u64,
    /// The amplification bound on zero fill.
    bound: FillBound,
    /// What each budget shard earned and spent of it.
    accounts: [FillAccount; BUDGET_SHARDS],
    /// The number of the packet being handled (0 outside
    /// [`FlowTable::process`]).
    packet: u64,
}

impl<C: StreamConsumer> Streams<C> {
    /// Run `f` on one direction of budget shard `shard` (its reassembly
    /// state, the shard's fill decisions and the consumer bound to it),
    /// then count what it holds.
    fn tracked<T>(
        &mut self,
        shard: usize,
        ident: Ident,
        side: &mut Side<C::Stream>,
        f: impl FnOnce(&mut Direction, &mut Fill<'_>, &mut Bound<'_, C>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let before = Held::of(&self.consumer, side);
        let Side {
            dir,
            stream,
            first_ts,
            layers,
        } = side;
        let mut out = Bound {
            consumer: &mut self.consumer,
            stream,
            info: ident.info(first_ts.get(), layers.as_deref()),
            packet: self.packet,
        };
        let mut fill = Fill::new(
            self.max_seek,
            self.bound,
            BUDGET_SHARDS,
            &mut self.accounts[shard],
        );
        let result = f(dir, &mut fill, &mut out);
        self.ledger
            .update(shard, before, Held::of(&self.consumer, side));
        result
    }

    /// Close one direction of budget shard `shard`: hand over what is left,
    /// then let the consumer describe it.
    fn close(
        &mut self,
        shard: usize,
        ident: Ident,
        mut side: Side<C::Stream>,
        end: End,
    ) -> Result<Option<DirectionRecord>, Error> {
        self.ledger.release(shard, Held::of(&self.consumer, &side));
        let info = ident.info(side.first_ts.get(), side.layers.as_deref());
        let mut out = Bound {
            consumer: &mut self.consumer,
            stream: &mut side.stream,
            info,
            packet: self.packet,
        };
        let mut fill = Fill::new(
            self.max_seek,
            self.bound,
            BUDGET_SHARDS,
            &mut self.accounts[shard],
        );
        let ending = side.dir.close(end, &mut fill, &mut out)?;
        self.consumer.close(side.stream, &info, &ending)
    }
}

/// All open connections, and the consumer their streams go to.
///
/// Memory policy, per budget shard, once its connections' state passes
/// [`TableConfig::memory_per_shard`]: write buffers come from the fixed
/// pool ([`COLLECT_BUDGET`]) and are passed on whenever it is full; then
/// the holes of the largest out-of-order buffers are given up as recorded
/// gaps; then the least recently active connections are closed as
/// `evicted`. Both steps go on until the shard is a sixteenth below its
/// budget, so the next step is not taken at the next packet.
pub struct FlowTable<C: StreamConsumer> {
    /// Boxed: the table's slots stay small however large a connection is.
    conns: ConnMap<Connection<C::Stream>>,
    /// Open connections of each budget shard by the second of their last
    /// packet: for the idle timeout and for eviction.
    idle: Vec<Wheel>,
    /// Open connections per budget shard.
    shard_conns: [usize; BUDGET_SHARDS],
    /// Finished connections by the second of their last packet.
    linger: Wheel,
    config: TableConfig,
    /// How directions' first packets arrived, shared.
    layers: LayersCache,
    streams: Streams<C>,
    stats: TableStats,
    now: Timestamp,
    /// Number of the packet being handled (the [`CloseKey::event`] of closes it causes).
    event: u64,
    /// Whether a segment of a connection not open yet opens one (false
    /// while reading tcpflow's `-R` inputs, only to finish connections).
    start_new: bool,
}

impl<C: StreamConsumer> FlowTable<C> {
    /// An empty table handing every direction's stream to `consumer`.
    pub fn new(config: TableConfig, consumer: C) -> FlowTable<C> {
        let max_seek = config.limits.max_seek;
        let bound = config.fill;
        FlowTable {
            conns: ConnMap::default(),
            idle: (0..BUDGET_SHARDS).map(|_| Wheel::default()).collect(),
            shard_conns: [0; BUDGET_SHARDS],
            linger: Wheel::default(),
            config,
            layers: LayersCache::default(),
            streams: Streams {
                consumer,
                ledger: Ledger::default(),
                max_seek,
                bound,
                accounts: [FillAccount::default(); BUDGET_SHARDS],
                packet: 0,
            },
            stats: TableStats::default(),
            now: Timestamp::default(),
            event: 0,
            start_new: true,
        }
    }

    /// Whether segments of connections that are not open open new ones
    /// (the default); with `false`, they are ignored and only connections
    /// already open go on (tcpflow's `-R`: read only to finish them).
    pub fn set_start_new(&mut self, on: bool) {
        self.start_new = on;
    }

    /// What one open connection with nothing buffered costs, as the budget
    /// counts it: the connection itself and, measured, what comes with it
    /// (its allocation, its slot in the table, its entries in the wheels,
    /// a share of the shared encapsulations).
    pub fn connection_cost() -> usize {
        std::mem::size_of::<Connection<C::Stream>>() + CONNECTION_OVERHEAD
    }

    /// Memory the connections of budget shard `shard` hold, as the budget counts it.
    fn shard_memory(&self, shard: usize) -> usize {
        self.shard_conns[shard] * Self::connection_cost() + self.streams.ledger.pending(shard)
    }

    /// Apply the memory policy (see [`FlowTable`]) to budget shard `shard`.
    fn enforce_budget(&mut self, shard: usize, on_close: &mut OnClose<'_>) -> Result<(), Error> {
        let limit = self.config.memory_per_shard;
        if self.shard_memory(shard) <= limit {
            return Ok(());
        }
        let target = limit - limit / 16;
        if self.streams.ledger.pending(shard) > 0 {
            // The largest out-of-order buffers first; ties by connection
            // and side, so every -j gives up the same holes.
            let mut pending: Vec<(usize, u64, usize, ConnKey)> = self
                .conns
                .iter()
                .filter(|(k, _)| k.budget_shard() == shard)
                .flat_map(|(k, c)| {
                    c.sides
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.dir.pending_bytes() > 0)
                        .map(move |(i, s)| (s.dir.pending_bytes(), c.id, i, *k))
                })
                .collect();
            pending.sort_unstable_by(|a, b| b.0.cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            for (_, _, side, key) in pending {
                if self.shard_memory(shard) <= target {
                    break;
                }
                if let Some(conn) = self.conns.get_mut(&key) {
                    let ident = conn.ident(&key, side);
                    let this = &mut conn.sides[side];
                    self.streams.tracked(shard, ident, this, |dir, fill, out| {
                        dir.shed_pending(0, fill, out)
                    })?;
                }
            }
        }
        while self.shard_memory(shard) > target {
            match self.least_recent(shard) {
                Some(old) => self.close(old, End::Evicted, on_close)?,
                None => break,
            }
        }
        Ok(())
    }

    /// The consumer (to read back what it kept, in tests and tools).
    pub fn consumer(&self) -> &C {
        &self.streams.consumer
    }

    /// What the table did so far.
    pub fn stats(&self) -> TableStats {
        let mut stats = self.stats;
        for account in &self.streams.accounts {
            stats.fill.add(account);
        }
        stats
    }

    /// Flush the output's buffers so readers see every byte written so far
    /// (live capture calls this about once a second).
    pub fn flush(&mut self) -> Result<(), Error> {
        for (key, conn) in self.conns.iter_mut() {
            let idents = [conn.ident(key, 0), conn.ident(key, 1)];
            for (side, ident) in conn.sides.iter_mut().zip(idents) {
                let info = ident.info(side.first_ts.get(), side.layers.as_deref());
                self.streams.consumer.flush(&mut side.stream, &info)?;
            }
        }
        self.streams.ledger.flushed();
        self.streams.consumer.flush_all()
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Bytes the table's connections hold as `--max-memory` counts them,
    /// over every budget shard: open connections at
    /// [`FlowTable::connection_cost`] each, their out-of-order bytes, and
    /// the write buffers their consumer collected and has not passed on.
    /// Reads sixteen counters: cheap enough for every batch of packets.
    pub fn memory(&self) -> u64 {
        (0..BUDGET_SHARDS)
            .map(|s| (self.shard_memory(s) + self.streams.ledger.collected(s)) as u64)
            .sum()
    }

    /// Take in one segment; `packet_no` is its 1-based number over all inputs.
    /// Records of directions that closed are passed to `on_close`.
    pub fn process(
        &mut self,
        seg: &Segment<'_>,
        packet_no: u64,
        on_close: &mut OnClose<'_>,
    ) -> Result<(), Error> {
        self.tick(seg.ts, packet_no, on_close)?;
        self.event = packet_no;
        self.streams.packet = packet_no;
        let (key, side) = ConnKey::of(&seg.tuple);
        let shard = key.budget_shard();
        // Every segment of the shard earns it fill, whether it opens,
        // joins or is refused a connection: its bytes are in the capture.
        self.streams.accounts[shard].segment(seg.payload.len());
        let counter = self.end_if_next(key, side, seg, on_close)?;
        if !self.conns.contains_key(&key)
            && (!self.start_new || !self.admit(key, seg, packet_no, counter, on_close)?)
        {
            return Ok(());
        }
        // The wheels are keyed by the capture's time so far (the latest
        // second any packet has reached), not by this segment's own: so a
        // wheel's queue is in time order even when the capture's timestamps
        // go back and forth, an entry that is due is never stuck behind
        // one that is not, and which connections expire at a tick does not
        // depend on which others share the table (every -j alike).
        let now_sec = self.now.secs;
        let Some(conn) = self.conns.get_mut(&key) else {
            return Ok(());
        };
        let idle_again = conn.idle_sec != now_sec;
        conn.idle_sec = now_sec;
        if seg.flags.ack() {
            let believe = match conn.closing {
                Some(_) => CLOSED_WINDOW,
                None if !conn.handshake_seen() => self.config.limits.max_seek,
                None => u64::MAX,
            };
            conn.sides[1 - side].dir.peer_acked(seg.ack, believe);
        }
        let limits = &self.config.limits;
        let streams = &mut self.streams;
        if conn.sides[side].dir.is_unseen() && seg.flags.syn() && !seg.flags.ack() {
            conn.clients |= 1 << side;
        }
        let ident = conn.ident(&key, side);
        let this = &mut conn.sides[side];
        if this.dir.is_unseen() {
            this.first_ts = Stamp::pack(seg.ts);
            this.layers = Some(self.layers.get(&seg.encap));
        }
        streams.tracked(shard, ident, this, |dir, fill, out| {
            dir.segment(seg, limits, fill, out)
        })?;
        if streams.ledger.pending(shard) > limits.max_pending_total {
            // Over the shard's budget: the direction that just grew gives up its holes.
            streams.tracked(shard, ident, this, |dir, fill, out| {
                dir.shed_pending(0, fill, out)
            })?;
        }
        if streams.ledger.collected(shard) > COLLECT_BUDGET {
            // Over the shard's budget for collected bytes: this direction writes now.
            streams.tracked(shard, ident, this, |_, _, out| {
                out.consumer.flush(out.stream, &out.info)
            })?;
        }
        if conn.begins_closing(seg) {
            // Lingering connections hold no buffers and no descriptors.
            let idents = [conn.ident(&key, 0), conn.ident(&key, 1)];
            for (this, ident) in conn.sides.iter_mut().zip(idents) {
                streams.tracked(shard, ident, this, |_, _, out| {
                    out.consumer.settle(out.stream, &out.info)
                })?;
            }
        }
        let linger_again = conn.closing.is_some() && conn.linger_sec != now_sec;
        if linger_again {
            conn.linger_sec = now_sec;
        }
        let id = conn.id;
        let conns = &self.conns;
        if idle_again || linger_again {
            let handle = conns.handle(&key, id);
            if idle_again {
                self.idle[shard].push(now_sec, handle, |sec, h| {
                    conns.by_handle(h).is_some_and(|(_, c)| c.idle_sec == sec)
                });
            }
            if linger_again {
                self.linger.push(now_sec, handle, |sec, h| {
                    conns.by_handle(h).is_some_and(|(_, c)| c.linger_sec == sec)
                });
            }
        }
        self.enforce_budget(shard, on_close)
    }

    /// Where `seg` (sent by side `side`) goes when `conn` is on its
    /// 4-tuple: the rules of the module documentation.
    fn verdict(
        conn: &Connection<C::Stream>,
        side: usize,
        seg: &Segment<'_>,
        max_seek: u64,
    ) -> Verdict {
        let dir = &conn.sides[side].dir;
        let flags = seg.flags;
        if flags.syn() && !flags.ack() {
            // A retransmitted SYN of the connection itself, or the next one.
            return match conn.closing.is_none() && dir.isn() == Some(seg.seq) {
                true => Verdict::Same,
                false => Verdict::Next,
            };
        }
        if flags.syn() {
            return match (dir.isn(), dir.syn_offset(seg.seq)) {
                (Some(isn), _) if isn == seg.seq => Verdict::Same,
                (_, None) => Verdict::Same,
                (_, Some(_)) if !dir.has_data() => match dir.isn().is_some() {
                    true => Verdict::Reanchor,
                    // Anchored by a FIN or an empty segment: again only
                    // when the SYN-ACK says the stream starts elsewhere.
                    false if dir.syn_offset(seg.seq) != Some(0) => Verdict::Reanchor,
                    false => Verdict::Same,
                },
                // Data was taken in: a SYN-ACK stored after it that puts
                // the start before it (not far) is this connection's.
                (None, Some(at)) if at <= 0 && at.unsigned_abs() <= max_seek => Verdict::Same,
                _ => Verdict::Next,
            };
        }
        if seg.payload.is_empty() && seg.missing == 0 {
            return Verdict::Same;
        }
        let Some(distance) = dir.distance(seg.seq) else {
            return Verdict::Same;
        };
        let reach = match conn.closing {
            Some(_) => CLOSED_WINDOW,
            None if !conn.handshake_seen() => max_seek,
            None => return Verdict::Same,
        };
        match distance.unsigned_abs() > reach {
            true => Verdict::Next,
            false => Verdict::Same,
        }
    }

    /// Apply [`FlowTable::verdict`] to `seg`: re-anchor its direction, or
    /// end the connection on its 4-tuple when `seg` starts the next one.
    /// Returns the counter a connection opened by `seg` gets: one more than
    /// the one it ended, else 0.
    fn end_if_next(
        &mut self,
        key: ConnKey,
        side: usize,
        seg: &Segment<'_>,
        on_close: &mut OnClose<'_>,
    ) -> Result<u32, Error> {
        let Some(conn) = self.conns.get_mut(&key) else {
            return Ok(0);
        };
        match Self::verdict(conn, side, seg, self.config.limits.max_seek) {
            Verdict::Same => Ok(0),
            Verdict::Reanchor => {
                conn.sides[side].dir.reanchor(seg.seq);
                // A handshake completed after a reset: open again.
                conn.closing = None;
                conn.linger_sec = i64::MIN;
                Ok(0)
            }
            Verdict::Next => {
                let counter = conn.counter.saturating_add(1);
                let end = conn.closing.unwrap_or(End::Reused);
                self.close(key, end, on_close)?;
                Ok(counter)
            }
        }
    }

    /// Open a connection for `seg`, first evicting the least recently
    /// active ones of its shard while the shard is full. Returns false when
    /// `seg` opens nothing: a bare ACK, FIN or RST of a connection never
    /// seen or already closed.
    fn admit(
        &mut self,
        key: ConnKey,
        seg: &Segment<'_>,
        packet_no: u64,
        counter: u32,
        on_close: &mut OnClose<'_>,
    ) -> Result<bool, Error> {
        if !seg.flags.syn() && seg.payload.is_empty() && seg.missing == 0 {
            return Ok(false);
        }
        let shard = key.budget_shard();
        let cap = (self.config.max_connections / BUDGET_SHARDS).max(1);
        while self.shard_conns[shard] >= cap {
            match self.least_recent(shard) {
                Some(old) => self.close(old, End::Evicted, on_close)?,
                None => break,
            }
        }
        self.shard_conns[shard] += 1;
        self.stats.connections += 1;
        self.conns.insert(
            key,
            Box::new(Connection {
                id: packet_no,
                counter,
                clients: 0,
                sides: [Side::new(), Side::new()],
                closing: None,
                idle_sec: i64::MIN,
                linger_sec: i64::MIN,
            }),
        );
        Ok(true)
    }

    /// Advance capture time to `ts` (packet number `packet_no`). When a new
    /// second begins, connections whose linger or idle time is over are
    /// closed; expiry looks at whole seconds only, so it happens at the same
    /// packet however connections are spread over workers.
    pub fn tick(
        &mut self,
        ts: Timestamp,
        packet_no: u64,
        on_close: &mut OnClose<'_>,
    ) -> Result<(), Error> {
        if ts.secs <= self.now.secs {
            self.now = self.now.max(ts);
            return Ok(());
        }
        self.now = self.now.max(ts);
        self.event = packet_no;
        self.expire(on_close)
    }

    /// Finalise finished connections whose linger is over and close
    /// connections idle for longer than the timeout. Amortised O(1) per
    /// packet: a connection enters a wheel at most once per second of
    /// capture time in which it is active.
    fn expire(&mut self, on_close: &mut OnClose<'_>) -> Result<(), Error> {
        let linger = i64::try_from(LINGER_SECS).unwrap_or(i64::MAX);
        while let Some(key) = self.due(None, linger) {
            let end = self
                .conns
                .get(&key)
                .and_then(|c| c.closing)
                .unwrap_or(End::Fin);
            self.close(key, end, on_close)?;
        }
        if let Some(timeout) = self.config.idle_timeout {
            let timeout = i64::try_from(timeout).unwrap_or(i64::MAX);
            // Shard by shard: a connection's place in the report does not
            // depend on which other shards share its worker.
            for shard in 0..BUDGET_SHARDS {
                while let Some(key) = self.due(Some(shard), timeout) {
                    let end = self
                        .conns
                        .get(&key)
                        .and_then(|c| c.closing)
                        .unwrap_or(End::Timeout);
                    self.close(key, end, on_close)?;
                }
            }
        }
        Ok(())
    }

    /// The next connection of the linger wheel (`None`) or of a shard's
    /// idle wheel silent for more than `limit` seconds, removing stale
    /// entries on the way.
    fn due(&mut self, idle_shard: Option<usize>, limit: i64) -> Option<ConnKey> {
        let wheel = match idle_shard {
            None => &mut self.linger,
            Some(shard) => &mut self.idle[shard],
        };
        while let Some(&(sec, handle)) = wheel.queue.front() {
            if self.now.secs.saturating_sub(sec) <= limit {
                return None;
            }
            wheel.queue.pop_front();
            let Some((key, conn)) = self.conns.by_handle(handle) else {
                continue;
            };
            let current = match idle_shard {
                None => conn.linger_sec,
                Some(_) => conn.idle_sec,
            };
            if current == sec && self.now.secs.saturating_sub(conn.last_ts().secs) > limit {
                return Some(*key);
            }
        }
        None
    }

    /// The least recently active open connection of budget shard `shard`.
    fn least_recent(&mut self, shard: usize) -> Option<ConnKey> {
        let wheel = &mut self.idle[shard];
        while let Some((sec, handle)) = wheel.queue.pop_front() {
            match self.conns.by_handle(handle) {
                Some((key, c)) if c.idle_sec == sec => return Some(*key),
                _ => {}
            }
        }
        None
    }

    /// Close the connection under `key`: both directions give up their
    /// holes, files are closed and records passed on (the side that sent
    /// first, first).
    fn close(&mut self, key: ConnKey, end: End, on_close: &mut OnClose<'_>) -> Result<(), Error> {
        let Some(conn) = self.conns.remove(&key) else {
            return Ok(());
        };
        let shard = key.budget_shard();
        self.shard_conns[shard] = self.shard_conns[shard].saturating_sub(1);
        let mut first_err = None;
        let idents = [conn.ident(&key, 0), conn.ident(&key, 1)];
        let Connection { id, sides, .. } = *conn;
        for (side, (this, ident)) in sides.into_iter().zip(idents).enumerate() {
            match self.streams.close(shard, ident, this, end) {
                Ok(Some(record)) => {
                    self.stats.directions += 1;
                    if !record.gaps.is_empty() || !record.jumps.is_empty() {
                        self.stats.directions_with_gaps += 1;
                    }
                    let key = CloseKey {
                        event: self.event,
                        connection: id,
                        side: side as u8,
                    };
                    if let Err(e) = on_close(key, record) {
                        first_err.get_or_insert(e);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Close every open connection (end of input), in order of connection id.
    pub fn finish(&mut self, on_close: &mut OnClose<'_>) -> Result<(), Error> {
        let mut keys: Vec<(u64, ConnKey)> = self.conns.iter().map(|(k, c)| (c.id, *k)).collect();
        keys.sort_unstable_by_key(|&(id, _)| id);
        self.event = u64::MAX;
        let mut first_err = None;
        for (_, key) in keys {
            let end = self
                .conns
                .get(&key)
                .and_then(|c| c.closing)
                .unwrap_or(End::EndOfInput);
            if let Err(e) = self.close(key, end, on_close) {
                first_err.get_or_insert(e);
            }
        }
        self.idle.iter_mut().for_each(|w| w.queue.clear());
        self.linger.queue.clear();
        if let Err(e) = self.streams.consumer.flush_all() {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Encap, TcpFlags};
    use crate::flow::DirectionLimits;
    use crate::output::{FileSink, FlowFiles, Naming, Template};
    use std::borrow::Cow;

    fn table(dir: &std::path::Path, max_connections: usize) -> FlowTable<FlowFiles> {
        let config = TableConfig {
            idle_timeout: None,
            max_connections,
            // No memory budget: these tests are about other limits.
            memory_per_shard: usize::MAX / BUDGET_SHARDS,
            fill: crate::flow::fill::FillBound::unbounded(),
            limits: DirectionLimits {
                max_pending: 1 << 20,
                max_pending_total: 1 << 20,
                max_seek: crate::flow::direction::DEFAULT_MAX_SEEK,
            },
        };
        let template = Template::parse(crate::config::DEFAULT_TEMPLATE).unwrap();
        let naming = Naming {
            template,
            events: None,
            open_alert: None,
        };
        let files = FlowFiles::new(FileSink::new(dir, 8).unwrap(), naming, None);
        FlowTable::new(config, files)
    }

    fn segment(sport: u16, flags: u8, seq: u32, payload: &'static [u8]) -> Segment<'static> {
        Segment {
            ts: Timestamp::new(1_700_000_000, u32::from(sport)),
            tuple: TcpTuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                sport,
                dport: 80,
                vlan: None,
                tunnel: 0,
            },
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            window: 1000,
            payload: Cow::Borrowed(payload),
            missing: 0,
            encap: Encap::default(),
            frame: None,
        }
    }

    /// Client ports whose connections (to port 80) fall in budget shard 0.
    fn ports_in_shard_zero(n: usize) -> Vec<u16> {
        (1000..u16::MAX)
            .filter(|&p| ConnKey::of(&segment(p, 0, 0, b"").tuple).0.budget_shard() == 0)
            .take(n)
            .collect()
    }

    /// A table handing streams to a [`Recorder`], with room for `conns`
    /// connections with nothing buffered (plus `slack` bytes) per shard.
    fn budget_table(conns: usize, slack: usize) -> FlowTable<crate::flow::consumer::Recorder> {
        let config = TableConfig {
            idle_timeout: None,
            max_connections: 1 << 20,
            memory_per_shard: conns
                * FlowTable::<crate::flow::consumer::Recorder>::connection_cost()
                + slack,
            fill: crate::flow::fill::FillBound::unbounded(),
            limits: DirectionLimits {
                max_pending: 1 << 20,
                max_pending_total: 1 << 20,
                max_seek: crate::flow::direction::DEFAULT_MAX_SEEK,
            },
        };
        FlowTable::new(config, crate::flow::consumer::Recorder::default())
    }

    /// The one 4-tuple of the connection-boundary tests: 10.0.0.1:1000 (the
    /// client, side 0) and 10.0.0.2:80.
    fn bound_seg(
        from_client: bool,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: &'static [u8],
    ) -> Segment<'static> {
        let mut seg = segment(1000, flags, seq, payload);
        seg.ack = ack;
        if !from_client {
            seg.tuple = seg.tuple.reversed();
        }
        seg
    }

    /// A recording table with `-m` at `max_seek`, and a way to feed it.
    struct Bounds {
        t: FlowTable<crate::flow::consumer::Recorder>,
        n: u64,
    }

    impl Bounds {
        fn new(max_seek: u64) -> Bounds {
            let config = TableConfig {
                idle_timeout: None,
                max_connections: 1 << 20,
                memory_per_shard: usize::MAX / BUDGET_SHARDS,
                fill: crate::flow::fill::FillBound::unbounded(),
                limits: DirectionLimits {
                    max_pending: 1 << 20,
                    max_pending_total: 1 << 20,
                    max_seek,
                },
            };
            Bounds {
                t: FlowTable::new(config, crate::flow::consumer::Recorder::default()),
                n: 0,
            }
        }

        fn send(&mut self, seg: Segment<'static>) {
            self.n += 1;
            let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
            self.t.process(&seg, self.n, &mut on_close).unwrap();
        }

        fn c(&mut self, flags: u8, seq: u32, ack: u32, payload: &'static [u8]) {
            self.send(bound_seg(true, flags, seq, ack, payload));
        }

        fn s(&mut self, flags: u8, seq: u32, ack: u32, payload: &'static [u8]) {
            self.send(bound_seg(false, flags, seq, ack, payload));
        }

        /// The counter of the connection open on the 4-tuple.
        fn counter(&self) -> Option<u32> {
            let key = ConnKey::of(&bound_seg(true, 0, 0, 0, b"").tuple).0;
            self.t.conns.get(&key).map(|c| c.counter)
        }

        /// Every direction closed so far and, after finishing, the rest:
        /// (connection id, from the client, bytes as a file holds them, end).
        fn finish(mut self) -> Vec<(u64, bool, Vec<u8>, End)> {
            let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
            self.t.finish(&mut on_close).unwrap();
            let client: std::net::IpAddr = "10.0.0.1".parse().unwrap();
            self.t
                .consumer()
                .closed
                .iter()
                .filter(|d| !d.bytes().is_empty())
                .map(|d| (d.connection, d.src.0 == client, d.bytes(), d.end.end))
                .collect()
        }
    }

    const S: u8 = TcpFlags::SYN;
    const A: u8 = TcpFlags::ACK;
    const F: u8 = TcpFlags::FIN;
    const R: u8 = TcpFlags::RST;

    /// A connection without its handshake in the capture: request, answer,
    /// both FINs, at client sequence 5000 and server sequence 9000.
    fn closed_midstream(b: &mut Bounds) {
        b.c(A, 5000, 9000, b"request");
        b.s(A, 9000, 5007, b"answer");
        b.c(F | A, 5007, 9006, b"");
        b.s(F | A, 9006, 5008, b"");
        b.c(A, 5008, 9007, b"");
    }

    #[test]
    fn data_far_from_a_finished_connections_end_starts_the_next_connection() {
        let mut b = Bounds::new(16 << 20);
        closed_midstream(&mut b);
        // Within the linger time, the 4-tuple carries another connection
        // whose SYNs the capture lacks: far from the old ends.
        b.c(A, 3_000_000_000, 70_000, b"second request");
        assert_eq!(b.counter(), Some(1), "a new connection, counter 1");
        b.s(A, 70_000, 3_000_000_014, b"second answer");
        let got = b.finish();
        assert_eq!(
            got,
            [
                (1, true, b"request".to_vec(), End::Fin),
                (1, false, b"answer".to_vec(), End::Fin),
                (6, true, b"second request".to_vec(), End::EndOfInput),
                (6, false, b"second answer".to_vec(), End::EndOfInput),
            ]
        );
    }

    #[test]
    fn connection_seen_from_mid_stream_finishes_once_both_fins_are_in() {
        let mut b = Bounds::new(16 << 20);
        closed_midstream(&mut b);
        let key = ConnKey::of(&bound_seg(true, 0, 0, 0, b"").tuple).0;
        assert_eq!(
            b.t.conns.get(&key).unwrap().closing,
            Some(End::Fin),
            "its bytes are still held (the start may move), but nothing is missing"
        );
    }

    #[test]
    fn retransmission_after_both_fins_stays_with_the_finished_connection() {
        let mut b = Bounds::new(16 << 20);
        closed_midstream(&mut b);
        b.s(A, 9000, 5008, b"answer");
        b.c(A, 5003, 9007, b"est");
        assert_eq!(b.counter(), Some(0));
        let got = b.finish();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, b"request");
        assert_eq!(got[1].2, b"answer");
    }

    #[test]
    fn data_just_outside_the_closed_window_starts_the_next_connection() {
        let window = CLOSED_WINDOW as u32;
        let mut b = Bounds::new(16 << 20);
        closed_midstream(&mut b);
        // The client's end is offset 8 (after its FIN): 8 + window is inside.
        b.c(A, 5000 + 8 + window, 9007, b"x");
        assert_eq!(b.counter(), Some(0), "inside the window");
        let mut b = Bounds::new(16 << 20);
        closed_midstream(&mut b);
        b.c(A, 5000 + 8 + window + 1, 9007, b"x");
        assert_eq!(b.counter(), Some(1), "outside the window");
    }

    #[test]
    fn without_a_handshake_a_jump_beyond_max_seek_starts_the_next_connection() {
        let m = 1000u32;
        let mut b = Bounds::new(u64::from(m));
        b.c(A, 5000, 0, b"0123456789");
        // Highest offset 10: a jump of exactly m is a gap of m - 0 zeros...
        b.c(A, 5010 + m, 0, b"near");
        assert_eq!(b.counter(), Some(0));
        // ...and one byte further than m from the new end is the next connection.
        b.c(A, 5010 + m + 4 + m + 1, 0, b"far");
        assert_eq!(b.counter(), Some(1));
        let got = b.finish();
        let mut first = b"0123456789".to_vec();
        first.extend(std::iter::repeat_n(0, m as usize));
        first.extend_from_slice(b"near");
        assert_eq!(got[0].2, first);
        assert_eq!(got[0].3, End::Reused);
        assert_eq!(got[1].2, b"far");
    }

    #[test]
    fn without_a_handshake_a_jump_back_beyond_max_seek_starts_the_next_connection() {
        let mut b = Bounds::new(1000);
        b.c(A, 50_000, 0, b"later bytes");
        b.c(A, 50_000 - 2000, 0, b"far before");
        assert_eq!(b.counter(), Some(1));
    }

    #[test]
    fn with_a_handshake_a_jump_beyond_max_seek_is_a_jump_in_the_same_connection() {
        let mut b = Bounds::new(1000);
        b.c(S, 99, 0, b"");
        b.s(S | A, 499, 100, b"");
        b.c(A, 100, 500, b"abc");
        b.c(A, 103 + 5000, 500, b"def");
        assert_eq!(b.counter(), Some(0));
        let got = b.finish();
        assert_eq!(got, [(1, true, b"abcdef".to_vec(), End::EndOfInput)]);
    }

    #[test]
    fn syn_ack_with_a_new_isn_after_a_reset_anchors_the_direction_again() {
        // The evasion capture of issue 13: SYN; RST+ACK and FIN from the
        // server; RST from the client; then a SYN-ACK with another ISN, the
        // client's ACK and data both ways.
        let mut b = Bounds::new(16 << 20);
        b.c(S, 1000, 0, b"");
        b.s(R | A, 0, 1001, b"");
        b.s(F | A, 20_000, 1001, b"");
        b.c(R, 1001, 0, b"");
        b.s(S | A, 46_175, 1001, b"");
        b.c(A, 1001, 46_176, b"");
        b.c(A | TcpFlags::PSH, 1001, 46_176, b"GET / HTTP/1.1");
        b.s(A | TcpFlags::PSH, 46_176, 1015, b"HTTP/1.1 200");
        assert_eq!(b.counter(), Some(0), "one connection");
        let got = b.finish();
        assert_eq!(
            got,
            [
                (1, true, b"GET / HTTP/1.1".to_vec(), End::EndOfInput),
                (1, false, b"HTTP/1.1 200".to_vec(), End::EndOfInput),
            ]
        );
    }

    #[test]
    fn syn_ack_with_a_new_isn_after_data_starts_the_next_connection() {
        let mut b = Bounds::new(16 << 20);
        b.c(S, 1000, 0, b"");
        b.s(S | A, 500, 1001, b"");
        b.s(A, 501, 1001, b"old answer");
        b.s(S | A, 800_000, 1001, b"");
        assert_eq!(b.counter(), Some(1));
        b.s(A, 800_001, 1001, b"new answer");
        let got = b.finish();
        assert_eq!(
            got,
            [
                (1, false, b"old answer".to_vec(), End::Reused),
                (4, false, b"new answer".to_vec(), End::EndOfInput),
            ]
        );
    }

    #[test]
    fn retransmitted_syn_ack_changes_nothing() {
        let mut b = Bounds::new(16 << 20);
        b.c(S, 1000, 0, b"");
        b.s(S | A, 500, 1001, b"");
        b.s(A, 501, 1001, b"answer");
        b.s(S | A, 500, 1001, b"");
        assert_eq!(b.counter(), Some(0));
        assert_eq!(b.finish().len(), 1);
    }

    #[test]
    fn far_ack_of_the_next_connection_does_not_stretch_a_finished_one() {
        let mut b = Bounds::new(16 << 20);
        b.c(S, 4999, 0, b"");
        b.s(S | A, 8999, 5000, b"");
        b.c(A, 5000, 9000, b"request");
        b.s(A, 9000, 5007, b"answer");
        b.c(F | A, 5007, 9006, b"");
        b.s(F | A, 9006, 5008, b"");
        // The next connection's server ACKs client data 100 KB past the old
        // end (a window a plain ACK could stretch the old stream to), then
        // the data comes: it must not be glued on with zeros.
        b.s(A, 700_000, 5008 + 3_000_000, b"");
        b.c(A, 5008 + 3_000_000, 700_000, b"next");
        assert_eq!(b.counter(), Some(1));
        let got = b.finish();
        assert_eq!(got[0].2, b"request");
        assert_eq!(got[2].2, b"next");
    }

    #[test]
    fn over_the_memory_budget_the_largest_out_of_order_buffer_goes_first() {
        let ports = ports_in_shard_zero(3);
        let mut t = budget_table(3, 4096);
        let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
        let mut n = 0;
        let mut send = |t: &mut FlowTable<crate::flow::consumer::Recorder>,
                        port,
                        flags,
                        seq,
                        data: &'static [u8]| {
            n += 1;
            t.process(&segment(port, flags, seq, data), n, &mut on_close)
                .unwrap();
        };
        for &p in &ports {
            send(&mut t, p, TcpFlags::SYN, 0, b"");
            send(&mut t, p, TcpFlags::ACK, 1, b"a");
        }
        // Two holes: 1 KiB buffered on the first connection, then 5 KiB on
        // the second, which passes the budget's 4 KiB of slack.
        send(&mut t, ports[0], TcpFlags::ACK, 10, &[b'x'; 1024]);
        send(&mut t, ports[1], TcpFlags::ACK, 10, &[b'y'; 5 * 1024]);
        assert_eq!(
            t.open_connections(),
            3,
            "nothing is evicted while holes can go"
        );
        // The larger buffer gave up its hole (a gap, then its bytes); the
        // smaller one still waits for its hole to fill.
        let conn = |t: &FlowTable<crate::flow::consumer::Recorder>, p: u16| {
            let key = ConnKey::of(&segment(p, 0, 0, b"").tuple).0;
            t.conns.get(&key).unwrap().sides[0].stream.clone()
        };
        use crate::flow::consumer::Recorded;
        assert_eq!(
            conn(&t, ports[1]),
            [
                Recorded::Data(b"a".to_vec()),
                Recorded::Gap(8),
                Recorded::Data(vec![b'y'; 5 * 1024])
            ]
        );
        assert_eq!(conn(&t, ports[0]), [Recorded::Data(b"a".to_vec())]);
    }

    #[test]
    fn over_the_memory_budget_the_least_recently_active_are_evicted() {
        let ports = ports_in_shard_zero(6);
        let mut t = budget_table(4, 0);
        let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
        for (i, &p) in ports.iter().enumerate() {
            let mut seg = segment(p, TcpFlags::SYN, 0, b"");
            // One connection a second: the first opened is the least recently active.
            seg.ts = Timestamp::new(1_700_000_000 + i as i64, 0);
            t.process(&seg, 1 + i as u64, &mut on_close).unwrap();
            assert!(
                t.shard_memory(0)
                    <= 4 * FlowTable::<crate::flow::consumer::Recorder>::connection_cost()
            );
        }
        // Past four connections the shard goes down to a sixteenth below its
        // budget: the oldest are closed as evicted, oldest first.
        let closed: Vec<(u64, End)> = t
            .consumer()
            .closed
            .iter()
            .map(|d| (d.connection, d.end.end))
            .collect();
        assert!(!closed.is_empty());
        assert!(closed.iter().all(|&(_, end)| end == End::Evicted));
        let mut ids: Vec<u64> = closed.iter().map(|c| c.0).collect();
        ids.dedup();
        assert_eq!(
            ids,
            (1..=ids.len() as u64).collect::<Vec<_>>(),
            "oldest first"
        );
        assert_eq!(t.open_connections(), 6 - ids.len());
    }

    #[test]
    fn syn_flood_keeps_the_table_bounded_and_evicts_the_least_recent() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), 32);
        let mut records = Vec::new();
        let mut on_close = |_k: CloseKey, r: DirectionRecord| {
            records.push(r);
            Ok(())
        };
        // One connection with data first, then a flood of bare SYNs.
        t.process(&segment(1000, TcpFlags::SYN, 10, b""), 1, &mut on_close)
            .unwrap();
        t.process(&segment(1000, TcpFlags::ACK, 11, b"kept"), 2, &mut on_close)
            .unwrap();
        for (i, port) in (2000..12_000u16).enumerate() {
            let n = 3 + i as u64;
            t.process(&segment(port, TcpFlags::SYN, 1, b""), n, &mut on_close)
                .unwrap();
            assert!(
                t.open_connections() <= 32,
                "table grew to {}",
                t.open_connections()
            );
        }
        // The first connection was the least recently active of its shard:
        // it was evicted, its bytes written and reported.
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].end, End::Evicted);
        assert_eq!(records[0].bytes, 4);
        assert_eq!(
            std::fs::read(dir.path().join(&records[0].file)).unwrap(),
            b"kept"
        );
        assert_eq!(t.stats().connections, 10_001);
    }

    #[test]
    fn memory_counts_connections_out_of_order_bytes_and_write_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), 1 << 20);
        let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
        assert_eq!(t.memory(), 0);
        let cost = FlowTable::<FlowFiles>::connection_cost() as u64;
        for port in [1000, 1001] {
            t.process(&segment(port, TcpFlags::SYN, 10, b""), 1, &mut on_close)
                .unwrap();
        }
        assert_eq!(t.open_connections(), 2);
        assert_eq!(t.memory(), 2 * cost);
        // Ten bytes out of order (the byte at 11 is missing) are held.
        t.process(
            &segment(1000, TcpFlags::ACK, 12, b"0123456789"),
            2,
            &mut on_close,
        )
        .unwrap();
        assert_eq!(t.memory(), 2 * cost + 10);
        // The hole filled: the bytes are in order, and whatever the writer
        // collected is counted until flushed.
        t.process(&segment(1000, TcpFlags::ACK, 11, b"x"), 3, &mut on_close)
            .unwrap();
        let collected = t.memory() - 2 * cost;
        assert!(collected >= 11, "{collected} bytes collected for writing");
        t.flush().unwrap();
        assert_eq!(t.memory(), 2 * cost);
        t.finish(&mut on_close).unwrap();
        assert_eq!(t.memory(), 0);
    }

    #[test]
    fn idle_wheel_stays_proportional_to_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = table(dir.path(), 1 << 20);
        let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
        t.process(&segment(1000, TcpFlags::SYN, 10, b""), 1, &mut on_close)
            .unwrap();
        // One connection active in 100,000 distinct seconds.
        for i in 0..100_000u32 {
            let mut seg = segment(1000, TcpFlags::ACK, 11 + i, b"x");
            seg.ts = Timestamp::new(1_700_000_000 + i64::from(i), 0);
            t.process(&seg, 2 + u64::from(i), &mut on_close).unwrap();
        }
        let queued: usize = t.idle.iter().map(|w| w.queue.len()).sum();
        assert!(
            queued <= 2 + 1024 + 1,
            "{queued} wheel entries for one connection"
        );
    }

    #[test]
    fn without_start_new_only_open_connections_go_on() {
        let mut t = budget_table(16, 1 << 20);
        let mut on_close = |_k: CloseKey, _r: DirectionRecord| Ok(());
        const SYN: u8 = 0x02;
        t.process(&segment(1000, SYN, 99, b""), 1, &mut on_close)
            .unwrap();
        t.process(&segment(1000, 0, 100, b"ab"), 2, &mut on_close)
            .unwrap();
        // Read only to finish: port 1001 opens nothing, port 1000 goes on.
        t.set_start_new(false);
        t.process(&segment(1001, SYN, 99, b""), 3, &mut on_close)
            .unwrap();
        t.process(&segment(1001, 0, 100, b"zz"), 4, &mut on_close)
            .unwrap();
        t.process(&segment(1000, 0, 102, b"cd"), 5, &mut on_close)
            .unwrap();
        assert_eq!(t.open_connections(), 1);
        t.finish(&mut on_close).unwrap();
        let closed = &t.streams.consumer.closed;
        // Both directions of the one connection, none of port 1001's.
        assert_eq!(closed.len(), 2, "{closed:?}");
        assert!(closed.iter().all(|d| d.connection == 1), "{closed:?}");
        assert_eq!(closed[0].src.1, 1000);
        assert_eq!(closed[0].bytes(), b"abcd");
    }

    /// What every open connection keeps, pinned: a field added here is a
    /// cost a million open connections pay twice, and the man page
    /// (`--max-memory`) and [`CONNECTION_OVERHEAD`] say what one costs.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn open_connection_state_stays_small() {
        use crate::output::flow_files::FileStream;
        use std::mem::size_of;
        assert_eq!(size_of::<Direction>(), 80);
        assert_eq!(size_of::<crate::output::tally::Tally>(), 128);
        assert_eq!(size_of::<FileStream>(), 168);
        assert_eq!(size_of::<Side<FileStream>>(), 272);
        assert_eq!(size_of::<Connection<FileStream>>(), 576);
        assert_eq!(FlowTable::<FlowFiles>::connection_cost(), 576 + 320);
        assert_eq!(size_of::<ConnKey>(), 48);
        assert_eq!(size_of::<(ConnKey, Box<Connection<FileStream>>)>(), 56);
        assert_eq!(size_of::<(i64, Handle)>(), 24, "a wheel entry");
    }
}
