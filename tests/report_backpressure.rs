//! The records of closed directions reach the report thread through a
//! bounded channel: while the report is slow to write (here: stopped), the
//! workers closing connections at the end of input wait for it instead of
//! piling up every record in memory.

use flowsplit::capture::Timestamp;
use flowsplit::decode::{Encap, Segment, TcpFlags, TcpTuple};
use flowsplit::error::Error;
use flowsplit::flow::{
    DirectionEnd, DirectionInfo, DirectionLimits, FlowTable, Piece, StreamConsumer, TableConfig,
};
use flowsplit::output::report_only::ReportOnly;
use flowsplit::output::{CloseHook, DirectionRecord, Naming, OrderedReport, Template};
use flowsplit::parallel::{SegmentSink, Sharded};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// [`ReportOnly`], counting the records it made (one for each direction
/// that carried bytes).
struct Counting {
    inner: ReportOnly,
    closed: Arc<AtomicUsize>,
}

impl StreamConsumer for Counting {
    type Stream = <ReportOnly as StreamConsumer>::Stream;

    fn piece(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        self.inner.piece(s, info, piece)
    }

    fn close(
        &mut self,
        s: Self::Stream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let record = self.inner.close(s, info, end)?;
        if record.is_some() {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
        Ok(record)
    }
}

/// A report that stops at its first connection until told to go on.
struct Stalled {
    reached: Option<mpsc::Sender<()>>,
    go: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl CloseHook for Stalled {
    fn connection_closed(&mut self, _records: &[DirectionRecord]) -> Result<(), Error> {
        if let Some(reached) = self.reached.take() {
            let _ = reached.send(());
            let _ = self.go.lock().unwrap().recv();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

fn segment(port: u16, flags: u8, seq: u32, payload: &'static [u8]) -> Segment<'static> {
    Segment {
        ts: Timestamp::new(1_700_000_000, 0),
        tuple: TcpTuple {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport: port,
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

#[test]
fn a_stalled_report_holds_back_the_workers_closing_connections() {
    const CONNECTIONS: usize = 40_000;
    let closed = Arc::new(AtomicUsize::new(0));
    let naming = Naming {
        template: Template::parse(flowsplit::config::DEFAULT_TEMPLATE).unwrap(),
        events: None,
        open_alert: None,
    };
    let config = TableConfig {
        idle_timeout: None,
        max_connections: 1 << 22,
        memory_per_shard: usize::MAX / 16,
        fill: flowsplit::flow::fill::FillBound::unbounded(),
        limits: DirectionLimits {
            max_pending: 1 << 20,
            max_pending_total: 1 << 20,
            max_seek: 16 << 20,
        },
    };
    let tables = (0..2)
        .map(|_| {
            let consumer = Counting {
                inner: ReportOnly::new(naming.clone(), None, false),
                closed: closed.clone(),
            };
            FlowTable::new(config.clone(), consumer)
        })
        .collect();
    let (reached_tx, reached) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let hook = Stalled {
        reached: Some(reached_tx),
        go: Arc::new(Mutex::new(go_rx)),
    };
    let report = OrderedReport::new(None).with_hook(Some(Box::new(hook)));
    let mut sink = Box::new(Sharded::new(tables, report));
    let mut n = 0;
    for port in 0..CONNECTIONS as u16 {
        n += 1;
        sink.segment(&segment(port, TcpFlags::SYN, 100, b""), n, None)
            .unwrap();
        n += 1;
        sink.segment(&segment(port, TcpFlags::ACK, 101, b"x"), n, None)
            .unwrap();
    }
    // Every connection is open; finishing closes them all at once.
    let finishing = std::thread::spawn(move || sink.finish());
    reached.recv_timeout(Duration::from_secs(60)).unwrap();
    // The report is stopped at its first connection: give the workers
    // time to run as far ahead as they can.
    std::thread::sleep(Duration::from_millis(500));
    let ahead = closed.load(Ordering::SeqCst);
    // Held back, not merely slow: half a second later no more were made.
    std::thread::sleep(Duration::from_millis(500));
    let later = closed.load(Ordering::SeqCst);
    go.send(()).unwrap();
    let stats = finishing.join().unwrap().unwrap();
    assert_eq!(stats.connections, CONNECTIONS as u64);
    // One record a connection: only the client sent bytes.
    assert_eq!(closed.load(Ordering::SeqCst), CONNECTIONS);
    // Made at most: what the report held back for the slower worker when
    // it paused the worker ahead (8,192), and twice what can be in flight
    // (16 messages of 256 records in the channel, the one being written,
    // each worker's message waiting to go in and the one it fills): once
    // made before the pause took effect and drained into the report, once
    // made after the report stopped. (The first version of this test
    // counted the in-flight messages once, and failed in CI with 14,974.)
    // Without the bound, every record would be made and queued.
    assert_eq!(later, ahead, "records were still being made");
    assert!(
        ahead <= 8192 + 2 * (16 + 1 + 2 * 2) * 256,
        "{ahead} records made while the report was stopped"
    );
    assert!(ahead < CONNECTIONS / 2, "{ahead}");
}
