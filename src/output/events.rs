//! The event stream (`--events FILE|-`): one JSON object per line, written
//! when a direction's file opens, when it closes (its report record), when
//! an HTTP body is carved, so a script can act on finished files at once,
//! and the run's counters: in live capture every few seconds and when
//! capture stops, and once when a file run has read its inputs.
//!
//! Owns: the event schema (documented on [`Event`] and in flowsplit(1)) and
//! the shared writer. Must not: decide when things happen; the flow table,
//! the report, the HTTP pass and live capture's loop call in.
//!
//! The writer is shared between threads (open events come from the worker
//! that owns the connection) behind a mutex; events are rare next to
//! packets, so the lock is not on the hot path.

use super::report::DirectionRecord;
use crate::error::Error;
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One line of the event stream. The `event` member says which kind it is.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// A direction's file was created (its first byte is about to be written).
    Open {
        /// File name relative to the output folder (the flow name in console modes).
        file: &'a str,
        /// Connection id shared by both directions (as in the report).
        connection: u64,
        /// Sender's address.
        src: String,
        /// Sender's port.
        sport: u16,
        /// Receiver's address.
        dst: String,
        /// Receiver's port.
        dport: u16,
        /// 12-bit VLAN id, if tagged.
        vlan: Option<u16>,
        /// Capture time of the direction's first packet, `SECS.NANOS`.
        time: String,
    },
    /// A direction was closed: its file is complete. The members are those
    /// of its report line.
    Close {
        /// The report record.
        #[serde(flatten)]
        record: &'a DirectionRecord,
    },
    /// An HTTP body file was written (live mode with `-e http`).
    HttpBody {
        /// Body file name relative to the output folder.
        file: &'a str,
        /// The flow file it was carved from.
        flow: &'a str,
        /// `request` or `response`.
        kind: &'a str,
        /// Bytes in the body file.
        size: u64,
        /// SHA-256 of the body file, lower-case hex.
        sha256: &'a str,
        /// True when the file holds the whole body.
        complete: bool,
    },
    /// Live capture's counters, all counted from the start of capture:
    /// every `--stats-interval` seconds, and once more when capture has
    /// stopped. When reading files, one event once every input is read,
    /// without the capture's drop counters.
    Stats {
        /// Wall-clock time of the reading, `SECS.NANOS`.
        time: String,
        /// Packets flowsplit took from the kernel's buffer (files: packets read).
        packets: u64,
        /// Their captured bytes.
        bytes: u64,
        /// Packets that passed the filter, as the kernel counts them (read
        /// about once a second). Absent when reading files.
        #[serde(skip_serializing_if = "Option::is_none")]
        kernel_received: Option<u64>,
        /// Packets the kernel dropped because its buffer was full. Absent
        /// when reading files.
        #[serde(skip_serializing_if = "Option::is_none")]
        kernel_dropped: Option<u64>,
        /// Packets the interface or its driver dropped. Absent when reading files.
        #[serde(skip_serializing_if = "Option::is_none")]
        interface_dropped: Option<u64>,
        /// Packets flowsplit took and dropped because its queue had no room
        /// in time (only at the end of a capture). Absent when reading files.
        #[serde(skip_serializing_if = "Option::is_none")]
        flowsplit_dropped: Option<u64>,
        /// Milliseconds flowsplit's capture thread waited for room in its
        /// queue, the backlog held in the kernel's buffer meanwhile.
        /// Absent when reading files.
        #[serde(skip_serializing_if = "Option::is_none")]
        flowsplit_waited_ms: Option<u64>,
        /// Connections open.
        open_connections: u64,
        /// Bytes of connection state, as `--max-memory` counts them: open
        /// connections at a fixed cost each, their out-of-order bytes and
        /// their collected write buffers, over every flow table.
        memory: u64,
        /// True on the event written once capture has stopped.
        #[serde(rename = "final")]
        last: bool,
    },
}

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTarget {
    /// A file, created or truncated (never through a symbolic link).
    File(PathBuf),
    /// Standard output (`--events -`).
    Stdout,
}

struct Inner {
    out: Box<dyn Write + Send>,
    name: PathBuf,
    flush_each: bool,
    error: Option<std::io::Error>,
}

/// A cloneable handle on the event stream.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
}

impl EventLog {
    /// Open `target`. With `flush_each`, every line is flushed as written
    /// (live capture); otherwise lines are buffered until [`EventLog::flush`].
    pub fn create(target: &EventTarget, flush_each: bool) -> Result<EventLog, Error> {
        let (out, name): (Box<dyn Write + Send>, PathBuf) = match target {
            EventTarget::Stdout => (
                Box::new(BufWriter::new(std::io::stdout())),
                PathBuf::from("-"),
            ),
            EventTarget::File(path) => {
                let file = super::files::create_truncated(path).map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })?;
                (Box::new(BufWriter::new(file)), path.clone())
            }
        };
        Ok(EventLog::from_writer(out, &name, flush_each))
    }

    /// Events written to any writer (`name` is used in error messages).
    pub fn from_writer(out: Box<dyn Write + Send>, name: &Path, flush_each: bool) -> EventLog {
        EventLog {
            inner: Arc::new(Mutex::new(Inner {
                out,
                name: name.to_path_buf(),
                flush_each,
                error: None,
            })),
        }
    }

    /// Write one event. A write error is kept and reported by [`EventLog::flush`];
    /// later events are dropped.
    pub fn emit(&self, event: &Event<'_>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.error.is_some() {
            return;
        }
        let flush_each = inner.flush_each;
        let result = serde_json::to_writer(&mut inner.out, event)
            .map_err(std::io::Error::from)
            .and_then(|()| inner.out.write_all(b"\n"))
            .and_then(|()| {
                if flush_each {
                    inner.out.flush()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = result {
            inner.error = Some(e);
        }
    }

    /// Flush what was written; reports the first write error met so far.
    pub fn flush(&self) -> Result<(), Error> {
        let Ok(mut inner) = self.inner.lock() else {
            return Ok(());
        };
        let result = match inner.error.take() {
            Some(e) => Err(e),
            None => inner.out.flush(),
        };
        result.map_err(|source| Error::Write {
            path: inner.name.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::shared_buffer::Shared;

    #[test]
    fn events_are_one_json_object_per_line_tagged_by_kind() {
        let buf = Shared::default();
        let log = EventLog::from_writer(Box::new(buf.clone()), Path::new("t"), true);
        log.emit(&Event::Open {
            file: "a-b",
            connection: 3,
            src: "10.0.0.1".into(),
            sport: 1,
            dst: "10.0.0.2".into(),
            dport: 80,
            vlan: None,
            time: "1.000000000".into(),
        });
        log.emit(&Event::HttpBody {
            file: "a-b-HTTPBODY-001",
            flow: "a-b",
            kind: "response",
            size: 5,
            sha256: "00",
            complete: true,
        });
        log.flush().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "open");
        assert_eq!(lines[0]["file"], "a-b");
        assert_eq!(lines[0]["connection"], 3);
        assert_eq!(lines[1]["event"], "http_body");
        assert_eq!(lines[1]["size"], 5);
    }
}
