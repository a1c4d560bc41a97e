//! A run on a thread of its own, and what Python sees of it: the
//! [`Directions`] iterator and each [`Direction`] it yields, and
//! [`split`]'s summary.
//!
//! Where a direction's bytes wait: the run writes flow files, exactly as
//! the CLI does, into a private folder ([`Workdir`]); a direction is
//! handed over once its report line is written, when its file is complete,
//! and `read()`/`open()` read that file. The folder is deleted once the
//! iterator and every `Direction` of the run are gone. So a stream of any
//! size waits on disk, never in memory: memory stays within the run's
//! `max_memory`, and the disk holds what the CLI's output folder would.
//!
//! The channel between the run and the iterator holds [`QUEUE`] records;
//! when it is full the run's report thread waits, and so, through the
//! run's own bounded queues, does reading.
//!
//! Must not: reassemble, name or hash anything itself.

use crate::errors;
use crate::options::{self, Call};
use flowsplit::capture::queue::CounterSnapshot;
use flowsplit::output::summary::SummaryRecord;
use flowsplit::output::DirectionRecord;
use flowsplit::{Config, Error, RunSummary};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Directions handed over and not yet taken by the iterator, at most.
pub const QUEUE: usize = 256;

/// How often a wait for the run looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// The private folder a run writes its flow files into; deleted when
/// dropped (when the last of the iterator, its run and its `Direction`s
/// lets go of it).
#[derive(Debug)]
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// A new folder under `parent` (`None`: the system's temporary folder).
    fn new(parent: Option<&Path>) -> Result<Workdir, Error> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("flowsplit-");
        let made = match parent {
            Some(p) => builder.tempdir_in(p),
            None => builder.tempdir(),
        };
        made.map(|dir| Workdir { dir })
            .map_err(|source| Error::Write {
                path: parent.map_or_else(std::env::temp_dir, Path::to_path_buf),
                source,
            })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// What the run sends the iterator.
enum Message {
    /// A closed direction.
    Closed(Box<DirectionRecord>),
    /// An HTTP exchange as its connection was carved (live capture with
    /// `http`): its index's folder and its `http.jsonl` line.
    Exchange(PathBuf, String),
    /// The run ended: what it did, and the error that stopped it, if any.
    Done(Box<RunSummary>, Option<Error>),
}

/// A run going on in the background, handing closed directions over.
struct Running {
    rx: Option<Receiver<Message>>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// What `Directions.stats()` reads.
    stats: Arc<LiveStats>,
}

/// Live capture's counters as last handed over by the run, and the
/// directions waiting in the queue for Python.
#[derive(Default)]
struct LiveStats {
    last: Mutex<Option<CounterSnapshot>>,
    queued: AtomicU64,
}

impl Running {
    /// Start `config` on a thread of its own, writing into `workdir`;
    /// with `exchanges`, each HTTP exchange carved during the run is handed
    /// over too.
    fn start(
        mut config: Config,
        workdir: Option<Arc<Workdir>>,
        exchanges: bool,
    ) -> PyResult<Running> {
        let (tx, rx) = sync_channel::<Message>(QUEUE);
        let cancel = Arc::new(AtomicBool::new(false));
        let closed_tx = tx.clone();
        let stats = Arc::new(LiveStats::default());
        let queued = Arc::clone(&stats);
        config.hooks.closed = Some(Arc::new(move |record: &DirectionRecord| {
            // Fails only once the iterator is gone; the run is being
            // cancelled then, and the record is not wanted.
            if closed_tx
                .send(Message::Closed(Box::new(record.clone())))
                .is_ok()
            {
                queued.queued.fetch_add(1, Ordering::Relaxed);
            }
        }));
        if exchanges {
            let exchange_tx = tx.clone();
            config.hooks.http_carved = Some(Arc::new(move |folder: &Path, line: &str| {
                let _ = exchange_tx.send(Message::Exchange(folder.to_path_buf(), line.to_string()));
            }));
        }
        let last = Arc::clone(&stats);
        config.hooks.live_stats = Some(Arc::new(move |c: &CounterSnapshot| {
            *last.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(*c);
        }));
        config.hooks.cancel = Some(Arc::clone(&cancel));
        let thread = std::thread::Builder::new()
            .name("flowsplit-run".into())
            .spawn(move || {
                let (summary, fatal) = flowsplit::run_to_end(&config);
                // The hook (and its sender) goes before the last message.
                drop(config);
                let _ = tx.send(Message::Done(Box::new(summary), fatal));
                drop(workdir);
            })
            .map_err(|e| errors::to_py_internal(&format!("cannot start the run's thread: {e}")))?;
        Ok(Running {
            rx: Some(rx),
            cancel,
            thread: Some(thread),
            stats,
        })
    }

    /// The next message, waiting with the GIL released and raising
    /// `KeyboardInterrupt` (after cancelling the run) on Ctrl-C; `None`
    /// once the run's thread is gone.
    fn next(&mut self, py: Python<'_>) -> PyResult<Option<Message>> {
        loop {
            let Some(rx) = self.rx.take() else {
                return Ok(None);
            };
            let (rx, got) = py.allow_threads(move || {
                let got = rx.recv_timeout(POLL);
                (rx, got)
            });
            self.rx = Some(rx);
            match got {
                Ok(m) => {
                    if let Message::Closed(_) = m {
                        let _ = self.stats.queued.fetch_update(
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                            |q| Some(q.saturating_sub(1)),
                        );
                    }
                    return Ok(Some(m));
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        self.cancel.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Cancel the run and wait (GIL released) until its thread is gone,
    /// its files closed and its folder deleted.
    fn stop(&mut self, py: Python<'_>) {
        self.cancel.store(true, Ordering::Relaxed);
        // Dropping the receiver lets a run blocked on a full channel go on.
        self.rx = None;
        if let Some(thread) = self.thread.take() {
            py.allow_threads(move || {
                let _ = thread.join();
            });
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Without the GIL to release: cancel, and let the thread end on
        // its own (the receiver's drop lets a blocked send fail).
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// One direction of a TCP connection, as the CLI's `report.jsonl` line
/// gives it, with its bytes in the flow file the CLI would write.
#[pyclass(module = "flowsplit", frozen)]
pub struct Direction {
    /// Sender's address.
    #[pyo3(get)]
    src: String,
    /// Sender's port.
    #[pyo3(get)]
    sport: u16,
    /// Receiver's address.
    #[pyo3(get)]
    dst: String,
    /// Receiver's port.
    #[pyo3(get)]
    dport: u16,
    /// 12-bit VLAN id, or `None`.
    #[pyo3(get)]
    vlan: Option<u16>,
    /// Connection id shared by both directions.
    #[pyo3(get)]
    connection: u64,
    /// The name's connection counter (0 unless an earlier file took it).
    #[pyo3(get)]
    counter: u32,
    /// First packet time, float seconds.
    #[pyo3(get)]
    first_ts: f64,
    /// Last packet time, float seconds.
    #[pyo3(get)]
    last_ts: f64,
    /// First packet time, integer nanoseconds since the epoch.
    #[pyo3(get)]
    first_ts_ns: i128,
    /// Last packet time, integer nanoseconds since the epoch.
    #[pyo3(get)]
    last_ts_ns: i128,
    /// Packets seen.
    #[pyo3(get)]
    packets: u64,
    /// Bytes in the stream, zero-filled gaps included.
    #[pyo3(get)]
    bytes: u64,
    /// Zero-filled holes, `(offset, length)`.
    #[pyo3(get)]
    gaps: Vec<(u64, u64)>,
    /// Total of the gap lengths.
    #[pyo3(get)]
    gap_bytes: u64,
    /// Holes longer than `max_seek`, not filled: `(offset, length)`.
    #[pyo3(get)]
    jumps: Vec<(u64, u64)>,
    /// How the direction ended: `fin`, `rst`, `timeout`, `reused`,
    /// `evicted` or `end_of_input`.
    #[pyo3(get)]
    end: String,
    /// True when `max_bytes` cut it short.
    #[pyo3(get)]
    truncated: bool,
    /// SHA-256 of the stream, lower-case hex.
    #[pyo3(get)]
    sha256: String,
    /// MD5 of the stream when asked for (`md5=True`), else `None`.
    #[pyo3(get)]
    md5: Option<String>,
    /// Matches of the `grep=` patterns in the stream (none spans a gap),
    /// `None` without `grep=`.
    #[pyo3(get)]
    grep_matches: Option<u64>,
    /// The connection's Community ID.
    #[pyo3(get)]
    community_id: Option<String>,
    /// The headers the first segment came through, e.g. `ethernet/ipv4`.
    #[pyo3(get)]
    encap: String,
    /// The flow file's name under the template (the default's unless
    /// `template=` is given).
    #[pyo3(get)]
    name: String,
    /// The report line, as JSON.
    #[pyo3(get)]
    record: String,
    /// Where the flow file lies.
    #[pyo3(get)]
    path: PathBuf,
    /// Keeps the run's folder, and so this flow file, until the
    /// `Direction` is gone.
    _keep: Option<Arc<Workdir>>,
}

#[pymethods]
impl Direction {
    /// The stream's bytes, gaps zero-filled as in the flow file.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let read = py.allow_threads(|| std::fs::read(&self.path));
        match read {
            Ok(bytes) => Ok(PyBytes::new(py, &bytes)),
            Err(source) => Err(errors::to_py(
                py,
                &Error::Read {
                    path: self.path.clone(),
                    source,
                },
            )),
        }
    }

    /// A binary file object reading the stream from its flow file.
    fn open<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("builtins")?
            .getattr("open")?
            .call1((self.path.clone(), "rb"))
    }

    fn __repr__(&self) -> String {
        format!(
            "Direction({}:{} -> {}:{}, connection={}, bytes={}, end={})",
            self.src, self.sport, self.dst, self.dport, self.connection, self.bytes, self.end
        )
    }
}

impl Direction {
    fn new(r: DirectionRecord, workdir: Option<Arc<Workdir>>, outdir: &Path) -> Direction {
        let record = serde_json::to_string(&r).unwrap_or_default();
        let end = serde_json::to_value(r.end)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let (first_ts, first_ts_ns) = time(&r.first_ts);
        let (last_ts, last_ts_ns) = time(&r.last_ts);
        Direction {
            path: outdir.join(&r.file),
            src: r.src,
            sport: r.sport,
            dst: r.dst,
            dport: r.dport,
            vlan: r.vlan,
            connection: r.connection,
            counter: r.counter,
            first_ts,
            last_ts,
            first_ts_ns,
            last_ts_ns,
            packets: r.packets,
            bytes: r.bytes,
            gaps: r.gaps,
            gap_bytes: r.gap_bytes,
            jumps: r.jumps,
            end,
            truncated: r.truncated,
            sha256: r.sha256,
            md5: r.md5,
            grep_matches: r.grep_matches,
            community_id: r.community_id,
            encap: r.encap,
            name: r.file,
            record,
            _keep: workdir,
        }
    }
}

/// A report time, `SECS.NANOS`, as float seconds and integer nanoseconds.
fn time(text: &str) -> (f64, i128) {
    let (secs, nanos) = text.split_once('.').unwrap_or((text, "0"));
    let negative = secs.starts_with('-');
    let s: i128 = secs.parse().unwrap_or(0);
    let n: i128 = format!("{nanos:0<9}")[..9].parse().unwrap_or(0);
    let ns = if negative {
        s * 1_000_000_000 - n
    } else {
        s * 1_000_000_000 + n
    };
    (ns as f64 / 1e9, ns)
}

/// What the run hands over next.
enum Item {
    Direction(Box<Direction>),
    Exchange(PathBuf, String),
}

impl Directions {
    /// The next direction or exchange; at the end, the run's summary is
    /// kept and the error that stopped it raised.
    fn next_item(&mut self, py: Python<'_>) -> PyResult<Option<Item>> {
        let Some(running) = self.running.as_mut() else {
            return Ok(None);
        };
        match running.next(py)? {
            Some(Message::Closed(record)) => Ok(Some(Item::Direction(Box::new(Direction::new(
                *record,
                self.workdir.clone(),
                &self.outdir,
            ))))),
            Some(Message::Exchange(folder, line)) => Ok(Some(Item::Exchange(folder, line))),
            Some(Message::Done(summary, fatal)) => {
                if let Some(mut r) = self.running.take() {
                    r.stop(py);
                }
                let record = SummaryRecord::new(&summary, fatal.as_ref(), self.max_memory);
                self.summary = serde_json::to_string(&record).ok();
                match errors::raised(fatal.as_ref(), &summary.input_errors) {
                    Some(e) => Err(errors::to_py(py, e)),
                    None => Ok(None),
                }
            }
            None => {
                self.running = None;
                Err(errors::to_py_internal("the run's thread stopped"))
            }
        }
    }
}

/// The directions of a run, as they close; see `flowsplit.read`.
#[pyclass(module = "flowsplit", unsendable)]
pub struct Directions {
    running: Option<Running>,
    workdir: Option<Arc<Workdir>>,
    outdir: PathBuf,
    summary: Option<String>,
    max_memory: u64,
    stats: Arc<LiveStats>,
}

#[pymethods]
impl Directions {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Direction>> {
        loop {
            match self.next_item(py)? {
                Some(Item::Direction(d)) => return Ok(Some(*d)),
                Some(Item::Exchange(..)) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next direction, or with a live capture started with `http`, the
    /// next exchange as `(folder, http.jsonl line)`; `None` at the end.
    /// For `flowsplit.live(..., http=True)`'s exchanges.
    fn _next_item<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(match self.next_item(py)? {
            Some(Item::Direction(d)) => Some(Bound::new(py, *d)?.into_any()),
            Some(Item::Exchange(folder, line)) => {
                Some((folder, line).into_pyobject(py)?.into_any())
            }
            None => None,
        })
    }

    /// Stop the run, if it is still going, and wait until its thread has
    /// ended and its files are closed. Directions already yielded stay
    /// readable.
    fn close(&mut self, py: Python<'_>) {
        if let Some(mut r) = self.running.take() {
            r.stop(py);
        }
    }

    /// The run's private folder (flow files, and with `http` the body
    /// files and `http.jsonl`); it lasts as long as this iterator or one
    /// of its `Direction`s.
    #[getter]
    fn folder(&self) -> PathBuf {
        self.outdir.clone()
    }

    /// Live capture's counters so far (see `flowsplit.live`), as a dict;
    /// `None` for a run over files, and before capture's first second.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let last = *self
            .stats
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(c) = last else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("packets", c.packets)?;
        d.set_item("bytes", c.bytes)?;
        d.set_item("kernel_received", c.kernel_received)?;
        d.set_item("kernel_dropped", c.kernel_dropped)?;
        d.set_item("interface_dropped", c.interface_dropped)?;
        d.set_item("flowsplit_dropped", c.dropped_by_flowsplit)?;
        d.set_item("flowsplit_waited_ms", c.waited_us / 1000)?;
        d.set_item("queued", self.stats.queued.load(Ordering::Relaxed))?;
        Ok(Some(d))
    }

    /// The run's summary as JSON (as `split()` returns it), once the
    /// iterator is exhausted; `None` before.
    #[getter]
    fn summary_json(&self) -> Option<String> {
        self.summary.clone()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }
}

/// Paths as the library's inputs.
fn strings(paths: Vec<PathBuf>) -> Vec<String> {
    paths
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// Start reading `paths` (see `flowsplit.read`); `http` also carves
/// HTTP into the private folder, for `flowsplit.http`.
#[pyfunction]
#[pyo3(signature = (paths, filter=None, options=None, workdir=None, http=false))]
pub fn read(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    filter: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
    workdir: Option<PathBuf>,
    http: bool,
) -> PyResult<Directions> {
    let paths = strings(paths);
    let from = options::From::Files(&paths);
    start_directions(py, Call::Stream, from, filter, options, workdir, http)
}

/// Start a live capture on `interface` into a private folder (see
/// `flowsplit.live`).
#[pyfunction]
#[pyo3(signature = (interface=None, filter=None, options=None, workdir=None, http=false))]
pub fn live(
    py: Python<'_>,
    interface: Option<&str>,
    filter: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
    workdir: Option<PathBuf>,
    http: bool,
) -> PyResult<Directions> {
    let from = options::From::Interface(interface);
    start_directions(py, Call::Live, from, filter, options, workdir, http)
}

/// Start a run of `call` on `from` into a private folder (under `workdir`
/// if given), with `-e http` when `http`, and hand back its iterator.
fn start_directions(
    py: Python<'_>,
    call: Call,
    from: options::From<'_>,
    filter: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
    workdir: Option<PathBuf>,
    http: bool,
) -> PyResult<Directions> {
    let work = Workdir::new(workdir.as_deref()).map_err(|e| errors::to_py(py, &e))?;
    let outdir = work.path().to_path_buf();
    let extra: &[&str] = if http { &["-e", "http"] } else { &[] };
    let config = options::config(py, call, from, &outdir, filter, options, extra)?;
    let max_memory = config.max_memory;
    let work = Arc::new(work);
    let running = Running::start(
        config,
        Some(Arc::clone(&work)),
        http && matches!(call, Call::Live),
    )?;
    let stats = Arc::clone(&running.stats);
    Ok(Directions {
        running: Some(running),
        workdir: Some(work),
        outdir,
        summary: None,
        max_memory,
        stats,
    })
}

/// Do the CLI's whole job on `paths` into `out_dir`; returns the summary
/// (as JSON) and raises the error that stopped the run, or else the first
/// input error, with the summary as its `summary_json` attribute.
#[pyfunction]
#[pyo3(signature = (paths, out_dir, filter=None, options=None))]
pub fn split(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    out_dir: PathBuf,
    filter: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let paths = strings(paths);
    let mut config = options::config(
        py,
        Call::Split,
        options::From::Files(&paths),
        &out_dir,
        filter,
        options,
        &[],
    )?;
    let max_memory = config.max_memory;
    let cancel = Arc::new(AtomicBool::new(false));
    config.hooks.cancel = Some(Arc::clone(&cancel));
    let (tx, rx) = sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("flowsplit-split".into())
        .spawn(move || {
            let _ = tx.send(flowsplit::run_to_end(&config));
        })
        .map_err(|e| errors::to_py_internal(&format!("cannot start the run's thread: {e}")))?;
    let mut rx = Some(rx);
    let (summary, fatal) = loop {
        let Some(r) = rx.take() else {
            return Err(errors::to_py_internal("the run's thread stopped"));
        };
        let (r, got) = py.allow_threads(move || {
            let got = r.recv_timeout(POLL);
            (r, got)
        });
        rx = Some(r);
        match got {
            Ok(done) => break done,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    cancel.store(true, Ordering::Relaxed);
                    py.allow_threads(|| {
                        let _ = thread.join();
                    });
                    return Err(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(errors::to_py_internal("the run's thread stopped"));
            }
        }
    };
    py.allow_threads(|| {
        let _ = thread.join();
    });
    let record = SummaryRecord::new(&summary, fatal.as_ref(), max_memory);
    let json = serde_json::to_string(&record)
        .map_err(|e| errors::to_py_internal(&format!("summary: {e}")))?;
    let raised = errors::raised(fatal.as_ref(), &summary.input_errors);
    if let Some(e) = raised {
        let err = errors::to_py(py, e);
        let _ = err.value(py).setattr("summary_json", json);
        return Err(err);
    }
    Ok(json)
}

/// The header fields of the HTTP/1.x head at `offset` in the flow file
/// `path`, in wire order (see `flowsplit::http::head_fields`).
#[pyfunction]
pub fn head_fields(
    py: Python<'_>,
    path: PathBuf,
    offset: u64,
    request: bool,
) -> PyResult<Vec<(Py<PyBytes>, Py<PyBytes>)>> {
    let fields = py
        .allow_threads(|| flowsplit::http::head_fields(&path, offset, request))
        .map_err(|source| errors::to_py(py, &Error::Read { path, source }))?;
    Ok(fields
        .into_iter()
        .map(|(n, v)| (PyBytes::new(py, &n).unbind(), PyBytes::new(py, &v).unbind()))
        .collect())
}
