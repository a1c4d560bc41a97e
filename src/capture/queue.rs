//! The capture thread of live capture and its bounded queue of packet
//! blocks.
//!
//! Owns: a thread that does nothing but drain libpcap ([`LiveCapture`])
//! into a fixed pool of [`QUEUE_BLOCKS`] blocks of [`BLOCK`] bytes, each
//! holding many packets back to back with a small header, and hands filled
//! blocks over a channel to the thread that decodes them; the count of
//! packets dropped because no block was free; the capture's counters
//! ([`LiveCounters`]), read by the decoding thread while capture goes on.
//! Must not: decode, reassemble, write or flush anything, allocate per
//! packet, or throw a packet away while the decoding thread is still at
//! work: when every block is still in use downstream, the capture thread
//! stops reading the ring until one is let go, so the kernel's buffer
//! (`--buffer-size`) absorbs the backlog and what is lost is lost there,
//! counted by the kernel. Packets are dropped by flowsplit only once nobody
//! will take blocks any more (the decoding side has gone) or the drain after
//! a stop has run out of time.
//!
//! ```text
//!   kernel ring ──▶ capture thread ──(block: [hdr|pkt][hdr|pkt]...)──▶ decoding thread
//!                        ▲                                                │ workers keep
//!                        └──── reused once nobody holds it any more ◀─────┘ payloads by reference
//! ```
//!
//! A block is the same shared [`InputBlock`] that file input is read into,
//! so the per-packet path downstream is the one files take, and worker
//! threads keep payloads by reference. The capture thread keeps a handle on
//! every block of the pool and takes one again once it holds the only
//! handle. A block is handed over when the next packet does not fit, or
//! once it has waited [`MAX_HOLD`] since its first packet (so that light
//! traffic still flows within milliseconds).

use super::file::{InputBlock, BLOCK};
use super::live::{CaptureStats, LiveCapture};
use super::{LinkType, Packet, Timestamp};
use crate::error::Error;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Blocks in the pool: with [`BLOCK`] bytes each, 32 MiB, the share of the
/// fixed memory budget ([`crate::config::FIXED_MEMORY`]) that input blocks
/// in flight take when reading files.
pub const QUEUE_BLOCKS: usize = 32;

/// The queue's memory: [`QUEUE_BLOCKS`] blocks of [`BLOCK`] bytes.
pub const QUEUE_BYTES: usize = QUEUE_BLOCKS * BLOCK;

/// How long a block with packets in it waits for more before it is handed
/// over anyway.
pub const MAX_HOLD: Duration = Duration::from_millis(20);

/// How often the capture thread reads the kernel's counters.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// How long the capture thread keeps draining the ring once told to stop:
/// long enough to empty a full default kernel buffer (128 MiB) at the rate
/// a disk takes flow files, short enough that a stopped capture ends.
const DRAIN_FOR: Duration = Duration::from_secs(10);

/// How long the capture thread sleeps between looks for a free block while
/// every block is held downstream (the kernel buffer fills meanwhile: at
/// 1 Gb/s, 25 KB in this time).
const FREE_BLOCK_POLL: Duration = Duration::from_micros(200);

/// Bytes before each packet in a block: seconds (i64), nanoseconds (u32),
/// captured length (u32), length on the wire (u32), native byte order.
const RECORD_HEADER: usize = 20;

/// The capture's counters so far, shared by the capture thread (which
/// writes them) and whoever reads them while capture goes on.
#[derive(Debug, Default)]
pub struct LiveCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    dropped_by_flowsplit: AtomicU64,
    waited_us: AtomicU64,
    kernel_received: AtomicU64,
    kernel_dropped: AtomicU64,
    interface_dropped: AtomicU64,
}

/// A reading of [`LiveCounters`]; every figure counts from the start of capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Packets taken from the ring into the queue.
    pub packets: u64,
    /// Their captured bytes (after the snap length).
    pub bytes: u64,
    /// Packets taken from the ring and dropped because no block of the
    /// queue came free in time: the decoding side had gone, or the drain
    /// after a stop ran out of time (never while capture goes on; then the
    /// capture thread waits and the kernel buffer fills).
    pub dropped_by_flowsplit: u64,
    /// Microseconds the capture thread waited for a free block, leaving
    /// the backlog in the kernel buffer.
    pub waited_us: u64,
    /// The kernel's count of packets that passed the filter, as last read
    /// (about once a second, and when capture stops).
    pub kernel_received: u64,
    /// Packets the kernel dropped because its buffer was full, as last read.
    pub kernel_dropped: u64,
    /// Packets the interface or its driver dropped, as last read.
    pub interface_dropped: u64,
}

impl LiveCounters {
    /// The counters now.
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            packets: get(&self.packets),
            bytes: get(&self.bytes),
            dropped_by_flowsplit: get(&self.dropped_by_flowsplit),
            waited_us: get(&self.waited_us),
            kernel_received: get(&self.kernel_received),
            kernel_dropped: get(&self.kernel_dropped),
            interface_dropped: get(&self.interface_dropped),
        }
    }

    fn set_kernel(&self, s: &CaptureStats) {
        self.kernel_received
            .store(u64::from(s.received), Ordering::Relaxed);
        self.kernel_dropped
            .store(u64::from(s.dropped_by_kernel), Ordering::Relaxed);
        self.interface_dropped
            .store(u64::from(s.dropped_by_interface), Ordering::Relaxed);
    }
}

/// What [`CaptureThread::next_block`] got.
pub enum Next {
    /// A block of packets, to be read with [`packets`].
    Block(InputBlock),
    /// Nothing came within the wait.
    Idle,
    /// The capture thread has stopped and every block it filled was taken.
    Ended,
}

/// How the capture thread ended: the kernel's final counters (or why they
/// could not be read) and the error that stopped the capture, if any.
pub struct Ended {
    /// The kernel's counters, read once the ring was drained.
    pub kernel: Result<CaptureStats, Error>,
    /// The capture's counters at the end (the kernel's included when read).
    pub counters: CounterSnapshot,
    /// A libpcap error that stopped the capture early.
    pub error: Option<Error>,
}

/// A running capture thread and the receiving end of its queue.
pub struct CaptureThread {
    blocks: Receiver<InputBlock>,
    counters: Arc<LiveCounters>,
    consumer: ConsumerPresent,
    handle: JoinHandle<(Result<CaptureStats, Error>, Option<Error>)>,
}

/// Tells the capture thread, when dropped, that no more blocks will be
/// taken, so it stops waiting for free ones.
struct ConsumerPresent(Arc<AtomicBool>);

impl Drop for ConsumerPresent {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl CaptureThread {
    /// Start draining `cap` on a thread of its own until `stop` is set
    /// (by a signal handler, or by the caller), then drain what the ring
    /// still holds, hand the last block over and end.
    pub fn start(cap: LiveCapture, stop: Arc<AtomicBool>) -> Result<CaptureThread, Error> {
        CaptureThread::with_blocks(cap, stop, QUEUE_BLOCKS)
    }

    /// [`CaptureThread::start`] with a pool of `blocks` blocks (at least
    /// one) instead of [`QUEUE_BLOCKS`]: for tests that starve the queue.
    pub fn with_blocks(
        cap: LiveCapture,
        stop: Arc<AtomicBool>,
        blocks: usize,
    ) -> Result<CaptureThread, Error> {
        let blocks_in_pool = blocks.max(1);
        let (tx, blocks) = mpsc::sync_channel(blocks_in_pool);
        let counters = Arc::new(LiveCounters::default());
        let shared = counters.clone();
        let gone = Arc::new(AtomicBool::new(false));
        let consumer_gone = gone.clone();
        let handle = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || Drain::new(cap, tx, shared, consumer_gone, blocks_in_pool).run(&stop))
            .map_err(|e| Error::Internal(format!("cannot start the capture thread: {e}")))?;
        Ok(CaptureThread {
            blocks,
            counters,
            consumer: ConsumerPresent(gone),
            handle,
        })
    }

    /// The next block of packets, waiting at most `wait` for one.
    pub fn next_block(&self, wait: Duration) -> Next {
        match self.blocks.recv_timeout(wait) {
            Ok(block) => Next::Block(block),
            Err(RecvTimeoutError::Timeout) => Next::Idle,
            Err(RecvTimeoutError::Disconnected) => Next::Ended,
        }
    }

    /// The capture's counters so far.
    pub fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    /// Wait for the capture thread to end (after [`Next::Ended`], or after
    /// setting its stop flag) and say how it ended.
    pub fn finish(self) -> Ended {
        // Blocks still queued are dropped, and the thread, should it wait
        // for a free block, waits no more.
        drop(self.blocks);
        drop(self.consumer);
        let (kernel, error) = match self.handle.join() {
            Ok(r) => r,
            Err(_) => (
                Err(Error::Internal("the capture thread panicked".into())),
                None,
            ),
        };
        Ended {
            kernel,
            counters: self.counters.snapshot(),
            error,
        }
    }
}

/// Hand every packet of `block` (as filled by the capture thread) to
/// `on_packet`, with `link` as its link type.
pub fn packets(block: &[u8], link: LinkType, on_packet: &mut dyn FnMut(&Packet<'_>)) {
    let mut rest = block;
    while rest.len() >= RECORD_HEADER {
        let word =
            |at: usize| u32::from_ne_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&rest[..8]);
        let (nanos, caplen, orig_len) = (word(8), word(12) as usize, word(16));
        let Some(data) = rest.get(RECORD_HEADER..RECORD_HEADER + caplen) else {
            return;
        };
        on_packet(&Packet {
            ts: Timestamp::new(i64::from_ne_bytes(secs), nanos),
            link,
            data,
            orig_len,
        });
        rest = &rest[RECORD_HEADER + caplen..];
    }
}

/// The capture thread's state.
struct Drain {
    cap: LiveCapture,
    tx: SyncSender<InputBlock>,
    counters: Arc<LiveCounters>,
    /// Set once nobody will take blocks any more.
    consumer_gone: Arc<AtomicBool>,
    /// Every block of the queue; one is free when this is its only handle.
    pool: Vec<InputBlock>,
    /// The block being filled (an index into `pool`) and when its first packet came.
    current: Option<(usize, Instant)>,
    tally: Tally,
    last_stats: Instant,
}

/// What the capture thread has counted so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    packets: u64,
    bytes: u64,
    dropped: u64,
    waited_us: u64,
}

/// How long [`take`] may wait for a free block: until the consumer has
/// gone, or past `until` (the end of the drain after a stop).
struct Patience<'a> {
    consumer_gone: &'a AtomicBool,
    until: Option<Instant>,
}

impl Patience<'_> {
    /// Whether waiting for a free block is still worth it.
    fn may_wait(&self) -> bool {
        !self.consumer_gone.load(Ordering::Relaxed) && self.until.is_none_or(|t| Instant::now() < t)
    }
}

impl Drain {
    fn new(
        cap: LiveCapture,
        tx: SyncSender<InputBlock>,
        counters: Arc<LiveCounters>,
        consumer_gone: Arc<AtomicBool>,
        blocks: usize,
    ) -> Drain {
        Drain {
            cap,
            tx,
            counters,
            consumer_gone,
            pool: (0..blocks)
                .map(|_| Arc::new(Vec::with_capacity(BLOCK)))
                .collect(),
            current: None,
            tally: Tally::default(),
            last_stats: Instant::now(),
        }
    }

    /// Drain until `stop`, then drain what is left (for at most
    /// [`DRAIN_FOR`]); returns the kernel's final counters and the error
    /// that stopped capture, if any.
    fn run(mut self, stop: &AtomicBool) -> (Result<CaptureStats, Error>, Option<Error>) {
        let mut error = None;
        let mut draining: Option<Instant> = None;
        loop {
            if draining.is_none() && stop.load(Ordering::Relaxed) {
                draining = Some(Instant::now());
            }
            let wait_ms = match (draining, self.current) {
                (Some(_), _) => 0,
                (None, Some((_, since))) => {
                    let left = MAX_HOLD.saturating_sub(since.elapsed());
                    i32::try_from(left.as_millis()).unwrap_or(0).max(1)
                }
                (None, None) => self.cap.read_timeout_ms(),
            };
            let got = {
                let Drain {
                    cap,
                    pool,
                    current,
                    tx,
                    tally,
                    consumer_gone,
                    ..
                } = &mut self;
                let patience = Patience {
                    consumer_gone,
                    until: draining.map(|t| t + DRAIN_FOR),
                };
                cap.next_wait(wait_ms, &mut |pkt| {
                    take(pool, current, tx, pkt, tally, &patience);
                })
            };
            match got {
                Ok(true) => {}
                Ok(false) => {
                    if draining.is_some() {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
            if let Some((_, since)) = self.current {
                if since.elapsed() >= MAX_HOLD {
                    self.hand_over();
                }
            }
            self.publish(false);
            if draining.is_some_and(|t| t.elapsed() >= DRAIN_FOR) {
                break;
            }
        }
        self.hand_over();
        let kernel = self.cap.stats();
        if let Ok(s) = &kernel {
            self.counters.set_kernel(s);
        }
        self.publish(true);
        (kernel, error)
    }

    /// Send the block being filled, if it holds anything.
    fn hand_over(&mut self) {
        if let Some((i, _)) = self.current.take() {
            send(&self.pool, &self.tx, i);
        }
    }

    /// Store the counters where readers see them; the kernel's are read
    /// about once a second (`now` reads them at once).
    fn publish(&mut self, now: bool) {
        let (c, t) = (&self.counters, &self.tally);
        c.packets.store(t.packets, Ordering::Relaxed);
        c.bytes.store(t.bytes, Ordering::Relaxed);
        c.dropped_by_flowsplit.store(t.dropped, Ordering::Relaxed);
        c.waited_us.store(t.waited_us, Ordering::Relaxed);
        if !now && self.last_stats.elapsed() >= STATS_EVERY {
            self.last_stats = Instant::now();
            if let Ok(s) = self.cap.stats() {
                self.counters.set_kernel(&s);
            }
        }
    }
}

/// A block of `pool` that nobody downstream holds any more, if there is one.
fn free_block(pool: &mut [InputBlock]) -> Option<usize> {
    pool.iter_mut().position(|b| Arc::get_mut(b).is_some())
}

/// Copy `pkt` into the block being filled (handing it over first when the
/// packet does not fit, and taking a free one). When every block is held
/// downstream, wait for one to come free, as long as `patience` allows;
/// the packet is counted as dropped only when it runs out.
fn take(
    pool: &mut [InputBlock],
    current: &mut Option<(usize, Instant)>,
    tx: &SyncSender<InputBlock>,
    pkt: &Packet<'_>,
    tally: &mut Tally,
    patience: &Patience<'_>,
) {
    // A packet longer than a block (a snap length above 1 MiB) is cut as
    // by the snap length; the bytes cut off are a gap downstream.
    let data = &pkt.data[..pkt.data.len().min(BLOCK - RECORD_HEADER)];
    let need = RECORD_HEADER + data.len();
    if let Some((i, _)) = *current {
        if pool[i].len() + need > BLOCK {
            *current = None;
            send(pool, tx, i);
        }
    }
    if current.is_none() {
        let mut free = free_block(pool);
        if free.is_none() {
            let began = Instant::now();
            while free.is_none() && patience.may_wait() {
                std::thread::sleep(FREE_BLOCK_POLL);
                free = free_block(pool);
            }
            tally.waited_us += u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
        }
        let Some(i) = free else {
            tally.dropped += 1;
            return;
        };
        if let Some(b) = Arc::get_mut(&mut pool[i]) {
            b.clear();
        }
        *current = Some((i, Instant::now()));
    }
    let Some(block) = current.and_then(|(i, _)| Arc::get_mut(&mut pool[i])) else {
        tally.dropped += 1;
        return;
    };
    block.extend_from_slice(&pkt.ts.secs.to_ne_bytes());
    block.extend_from_slice(&pkt.ts.nanos.to_ne_bytes());
    block.extend_from_slice(&(data.len() as u32).to_ne_bytes());
    block.extend_from_slice(&pkt.orig_len.to_ne_bytes());
    block.extend_from_slice(data);
    tally.packets += 1;
    tally.bytes += data.len() as u64;
}

/// Hand block `i` of `pool` to the decoding thread. The channel holds as
/// many blocks as the pool, so this never waits; when the receiver is gone
/// the block simply stays in the pool.
fn send(pool: &[InputBlock], tx: &SyncSender<InputBlock>, i: usize) {
    if !pool[i].is_empty() {
        let _ = tx.try_send(InputBlock::clone(&pool[i]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(ts: i64, data: &[u8]) -> Packet<'_> {
        Packet {
            ts: Timestamp::new(ts, 7),
            link: LinkType::ETHERNET,
            data,
            orig_len: data.len() as u32 + 3,
        }
    }

    /// The packets `packets` reads from `block`, as (seconds, bytes, original length).
    fn read(block: &[u8]) -> Vec<(i64, Vec<u8>, u32)> {
        let mut got = Vec::new();
        packets(block, LinkType::ETHERNET, &mut |p| {
            assert_eq!(p.ts.nanos, 7);
            got.push((p.ts.secs, p.data.to_vec(), p.orig_len))
        });
        got
    }

    /// A consumer that never goes away.
    static PRESENT: AtomicBool = AtomicBool::new(false);

    /// Patience without end: the consumer stays and no drain runs out.
    fn patient() -> Patience<'static> {
        Patience {
            consumer_gone: &PRESENT,
            until: None,
        }
    }

    fn pool(blocks: usize) -> Vec<InputBlock> {
        (0..blocks)
            .map(|_| Arc::new(Vec::with_capacity(BLOCK)))
            .collect()
    }

    #[test]
    fn packets_go_back_to_back_into_one_block_and_read_back_the_same() {
        let mut pool = pool(1);
        let (tx, rx) = mpsc::sync_channel(1);
        let patience = patient();
        let (mut current, mut tally) = (None, Tally::default());
        for (ts, data) in [(1, &b"abc"[..]), (2, b""), (3, &[9u8; 1500][..])] {
            take(
                &mut pool,
                &mut current,
                &tx,
                &pkt(ts, data),
                &mut tally,
                &patience,
            );
        }
        assert_eq!((tally.packets, tally.bytes, tally.dropped), (3, 1503, 0));
        assert!(
            rx.try_recv().is_err(),
            "nothing handed over before it is full"
        );
        let got = read(&pool[0]);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, b"abc".to_vec(), 6));
        assert_eq!(got[1], (2, Vec::new(), 3));
        assert_eq!(got[2], (3, vec![9u8; 1500], 1503));
    }

    #[test]
    fn with_every_block_held_the_capture_waits_until_one_is_let_go_and_drops_nothing() {
        let mut pool = pool(2);
        let (tx, rx) = mpsc::sync_channel(2);
        let patience = patient();
        let (mut current, mut tally) = (None, Tally::default());
        let big = vec![1u8; 400_000];
        // Two packets per block: the fifth packet finds both blocks held
        // downstream. The reader lets the first go 100 ms later; the
        // capture thread waits for it instead of dropping the packet.
        for ts in 0..4 {
            take(
                &mut pool,
                &mut current,
                &tx,
                &pkt(ts, &big),
                &mut tally,
                &patience,
            );
        }
        let reader = std::thread::spawn(move || {
            let first = rx.recv().expect("the first block was handed over");
            let seen: Vec<i64> = read(&first).iter().map(|p| p.0).collect();
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
            let second = rx.recv().expect("the second block was handed over");
            (
                seen,
                read(&second).iter().map(|p| p.0).collect::<Vec<_>>(),
                second,
            )
        });
        take(
            &mut pool,
            &mut current,
            &tx,
            &pkt(4, &big),
            &mut tally,
            &patience,
        );
        let (first, second, _held) = reader.join().unwrap();
        assert_eq!(first, [0, 1]);
        assert_eq!(second, [2, 3]);
        assert_eq!((tally.packets, tally.dropped), (5, 0));
        assert!(tally.waited_us >= 90_000, "waited {} µs", tally.waited_us);
        let (i, _) = current.expect("a block is being filled");
        assert_eq!(read(&pool[i]).iter().map(|p| p.0).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn packets_are_dropped_only_once_the_consumer_has_gone_or_the_drain_is_over() {
        let big = vec![1u8; 600_000];
        for (consumer_gone, until) in [(true, None), (false, Some(Instant::now()))] {
            let mut pool = pool(1);
            let (tx, rx) = mpsc::sync_channel(1);
            let gone = AtomicBool::new(consumer_gone);
            let patience = Patience {
                consumer_gone: &gone,
                until,
            };
            let (mut current, mut tally) = (None, Tally::default());
            // The second packet does not fit the block; the first block is
            // held by the channel, so nothing is free.
            for ts in 0..3 {
                take(
                    &mut pool,
                    &mut current,
                    &tx,
                    &pkt(ts, &big),
                    &mut tally,
                    &patience,
                );
            }
            assert_eq!((tally.packets, tally.dropped), (1, 2));
            assert_eq!(read(&rx.try_recv().unwrap()).len(), 1);
        }
    }

    #[test]
    fn a_packet_longer_than_a_block_is_cut_to_fit() {
        let mut pool = pool(1);
        let (tx, _rx) = mpsc::sync_channel(1);
        let patience = patient();
        let (mut current, mut tally) = (None, Tally::default());
        let huge = vec![5u8; BLOCK + 10];
        take(
            &mut pool,
            &mut current,
            &tx,
            &pkt(1, &huge),
            &mut tally,
            &patience,
        );
        let got = read(&pool[0]);
        assert_eq!(got[0].1.len(), BLOCK - RECORD_HEADER);
        assert_eq!(got[0].2, BLOCK as u32 + 13);
        assert_eq!(pool[0].capacity(), BLOCK, "the block did not grow");
    }
}
