//! Threads carving closed connections while capture goes on: the capture
//! pipeline hands each closed connection over and goes back to its
//! packets; the pool's threads carve with one shared
//! [`InlineCarver`](super::inline::InlineCarver).
//!
//! Owns: the threads, the bounded queue in front of them (connections go
//! in batches of [`BATCH`] from files, alone in live capture; the queue
//! holds at most [`QUEUE`] connections, plus the batch being gathered:
//! when carving falls behind, handing over waits, so memory does not grow
//! with the capture), and calling the caller's `on_carved` with each
//! connection's body files.
//!
//! Must not: decide what is carved or how (that is `inline`'s), or order
//! anything: the index is ordered when written, whatever order the
//! connections finish in.

use super::inline::{CarvedConnection, ClosedFlow, InlineCarver};
use super::CarveSummary;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Connections waiting for a carving thread, at most (in batches).
pub const QUEUE: usize = 256;

/// Connections handed to a carving thread at once (from files): one
/// wake-up per batch instead of per connection. Live capture hands each
/// over alone, so that a connection is carved as soon as it closes.
pub const BATCH: usize = 8;

/// One closed direction, owned, as it waits in the queue.
#[derive(Debug, Clone)]
pub struct OwnedFlow {
    /// The flow file, relative to the output folder.
    pub file: String,
    /// Its zero-filled holes, `(offset, length)`.
    pub gaps: Vec<(u64, u64)>,
    /// The number of its connection's first packet (see
    /// [`ClosedFlow::connection`]).
    pub connection: Option<u64>,
}

/// Called on a carving thread with each connection's body files (live
/// capture's events and tcpflow's HTTP hooks); calls never overlap.
pub type OnCarved = Box<dyn FnMut(&CarvedConnection) + Send>;

/// A closed connection waiting: its place in close order, its directions.
type Job = (u64, Vec<OwnedFlow>);

/// Connections handed over together.
type Batch = Vec<Job>;

/// Carving threads behind a bounded queue.
pub struct CarvePool {
    queue: Option<SyncSender<Batch>>,
    threads: Vec<JoinHandle<()>>,
    carver: Arc<InlineCarver>,
    on_carved: Arc<Mutex<OnCarved>>,
    next: u64,
    /// Connections not handed over yet, and how many make a batch.
    batch: Batch,
    batch_size: usize,
}

impl CarvePool {
    /// `threads` threads (at least one) carving with `carver`, calling
    /// `on_carved` after each connection; connections are handed over in
    /// batches of `batch_size` (at least one).
    pub fn new(
        carver: InlineCarver,
        threads: usize,
        batch_size: usize,
        on_carved: OnCarved,
    ) -> CarvePool {
        let batch_size = batch_size.clamp(1, QUEUE);
        let (queue, jobs) = sync_channel::<Batch>(QUEUE / batch_size);
        let jobs = Arc::new(Mutex::new(jobs));
        let carver = Arc::new(carver);
        let on_carved = Arc::new(Mutex::new(on_carved));
        let threads = (0..threads.max(1))
            .map(|_| {
                let (jobs, carver, on_carved) = (jobs.clone(), carver.clone(), on_carved.clone());
                std::thread::spawn(move || work(&jobs, &carver, &on_carved))
            })
            .collect();
        CarvePool {
            queue: Some(queue),
            threads,
            carver,
            on_carved,
            next: 0,
            batch: Vec::new(),
            batch_size,
        }
    }

    /// Hand over the connection whose closed directions are `flows`
    /// (waiting while the queue is full).
    pub fn submit(&mut self, flows: Vec<OwnedFlow>) {
        let number = self.next;
        self.next += 1;
        self.batch.push((number, flows));
        if self.batch.len() >= self.batch_size {
            self.hand_over();
        }
    }

    /// Send the connections gathered so far to the threads.
    fn hand_over(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
        if let (Some(queue), false) = (&self.queue, batch.is_empty()) {
            // The threads end only when the queue closes, so this cannot
            // fail unless one panicked; `finish` then says nothing more.
            let _ = queue.send(batch);
        }
    }

    /// Wait for every connection handed over to be carved, then write the
    /// indexes (`marked`: a shard's), with at most `object_fill` zero bytes
    /// in the holes of range objects, and say what carving did.
    pub fn finish(mut self, marked: bool, object_fill: u64) -> CarveSummary {
        self.hand_over();
        self.queue = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // TLS connections that waited for the session cache.
        for carved in self.carver.carve_waiting() {
            if !carved.bodies.is_empty() {
                (self
                    .on_carved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner))(&carved);
            }
        }
        self.carver.finish(marked, object_fill)
    }
}

/// A carving thread: take connections until the queue closes.
fn work(jobs: &Mutex<Receiver<Batch>>, carver: &InlineCarver, on_carved: &Mutex<OnCarved>) {
    loop {
        let batch = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(batch) = batch else {
            return;
        };
        for (number, flows) in batch {
            carve_one(carver, on_carved, number, &flows);
        }
    }
}

/// Carve connection `number`, whose closed directions are `flows`.
fn carve_one(carver: &InlineCarver, on_carved: &Mutex<OnCarved>, number: u64, flows: &[OwnedFlow]) {
    let closed: Vec<ClosedFlow<'_>> = flows
        .iter()
        .map(|f| ClosedFlow {
            file: &f.file,
            gaps: &f.gaps,
            connection: f.connection,
        })
        .collect();
    let carved = carver.connection_closed(number, &closed);
    if !carved.bodies.is_empty() {
        (on_carved.lock().unwrap_or_else(PoisonError::into_inner))(&carved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;

    /// Connections fewer than a batch, and more than one: the last, partial
    /// batch is handed over at `finish`, and every connection is carved
    /// exactly once.
    #[test]
    fn every_connection_is_carved_once_whatever_the_batches() {
        for (connections, batch) in [(3, BATCH), (BATCH * 2 + 1, BATCH), (5, 1)] {
            let dir = tempfile::tempdir().unwrap();
            let mut jobs = Vec::new();
            for port in (40000..).take(connections) {
                let client = format!("010.000.000.001.{port:05}-010.000.000.002.00080");
                let server = format!("010.000.000.002.00080-010.000.000.001.{port:05}");
                std::fs::write(
                    dir.path().join(&client),
                    b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
                )
                .unwrap();
                let response = format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{port}");
                std::fs::write(dir.path().join(&server), response).unwrap();
                jobs.push([client, server]);
            }
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            let on_carved: OnCarved = Box::new(move |c| {
                let mut log = log.lock().unwrap();
                log.extend(c.bodies.iter().map(|b| b.file.clone()));
            });
            let carver = InlineCarver::new(dir.path(), HttpOptions::default());
            let mut pool = CarvePool::new(carver, 2, batch, on_carved);
            for [client, server] in jobs {
                let flow = |file| OwnedFlow {
                    file,
                    gaps: Vec::new(),
                    connection: None,
                };
                pool.submit(vec![flow(server), flow(client)]);
            }
            let summary = pool.finish(false, u64::MAX);
            assert!(summary.errors.is_empty(), "{:?}", summary.errors);
            assert_eq!(summary.bodies, connections as u64);
            let mut seen = seen.lock().unwrap().clone();
            seen.sort();
            let want: Vec<String> = (40000..)
                .take(connections)
                .map(|p| format!("010.000.000.002.00080-010.000.000.001.{p:05}-HTTPBODY-001"))
                .collect();
            assert_eq!(
                seen, want,
                "{connections} connections in batches of {batch}"
            );
            for (port, name) in (40000..).zip(&want) {
                let body = std::fs::read(dir.path().join(name)).unwrap();
                assert_eq!(body, port.to_string().as_bytes());
            }
        }
    }
}
