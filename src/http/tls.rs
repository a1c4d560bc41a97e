//! Carving HTTP out of TLS connections, decrypted with a key log.
//!
//! Owns: recognising a connection whose flows carry TLS ([`tls_pair`]),
//! having [`crate::tls::session`] write each direction's application data
//! beside its raw flow file (`<flow>-TLS`), carving that pair as `conn`
//! carves plain flows, and the index's `tls` object: every record carved
//! from a decrypted connection carries the connection's
//! [`crate::tls::session::Facts`], and a TLS connection that was not
//! decrypted (no secrets in the key log, an unsupported suite) gets one
//! record of its own with the facts and the reason, so that it is
//! counted and listed, not silently left out.
//!
//! Must not: carve HTTP itself (that is `conn`'s), or write anything but
//! the plaintext files (through `crate::tls`) and the body files `conn`
//! writes.

use super::conn::{self, Connection, FlowFile};
use super::index::Record;
use super::name::FlowName;
use crate::error::Error;
use crate::tls::cache::{Order, SessionCache};
use crate::tls::hello::{ClientHello, ServerHello};
use crate::tls::resume;
use crate::tls::session::{self, Lookup, Role, Side};
use crate::tls::{KeyLog, SUFFIX};
use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use crate::tls::session::Facts;

/// What carving TLS connections added to the counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TlsCounts {
    /// TLS connections decrypted (at least one record of one direction).
    pub decrypted: u64,
    /// TLS connections left as they are: no secrets, an unsupported suite,
    /// a missing hello.
    pub not_decrypted: u64,
    /// Directions whose decryption stopped at a record that failed
    /// authentication.
    pub failed_records: u64,
}

impl TlsCounts {
    /// Add `other`'s counts.
    pub fn add(&mut self, other: TlsCounts) {
        self.decrypted += other.decrypted;
        self.not_decrypted += other.not_decrypted;
        self.failed_records += other.failed_records;
    }
}

/// The role of the flow at `path` (a flow that cannot be read has none:
/// `pair` notes read errors).
fn role(path: &Path) -> Option<Role> {
    session::role(path).ok().flatten()
}

/// When the flows `a` and `b` (neither of which looked like HTTP) are a
/// TLS connection, its client flow and server flow. `path` gives a flow's
/// path.
pub(crate) fn tls_pair<T>(
    a: T,
    b: Option<T>,
    path: impl Fn(&T) -> &Path,
) -> Result<(T, Option<T>), (T, Option<T>)> {
    let ra = role(path(&a));
    let rb = b.as_ref().and_then(|b| role(path(b)));
    match (ra, rb, b) {
        (Some(Role::Client), _, b) => Ok((a, b)),
        (_, Some(Role::Client), Some(b)) => Ok((b, Some(a))),
        (_, _, b) => Err((a, b)),
    }
}

/// The session cache of a run's TLS connections, and the connections
/// waiting for it.
///
/// A TLS 1.2 connection that resumes a session (by session ID or ticket)
/// and has no key log line of its own waits: it is decrypted once every
/// other connection has been, in capture order ([`Order`]), with the master
/// secret of the latest connection before it that handed out the session
/// ID or ticket it offered. Every connection decrypted adds the sessions it
/// handed out to the cache. So what the cache answers does not depend on
/// the order connections close or finish in, nor on `-j`.
///
/// Memory: the cache and the waiting connections are held within
/// `budget` bytes each (see [`crate::config::TLS_SESSION_MEMORY`]);
/// past it, the cache drops the sessions earliest in capture order, and a
/// resuming connection that finds no room to wait is not decrypted (its
/// reason says so).
pub(crate) struct Sessions {
    cache: Mutex<SessionCache>,
    waiting: Mutex<Waiting>,
}

/// Connections waiting for the session cache.
#[derive(Default)]
struct Waiting {
    jobs: Vec<(Order, u64, Connection)>,
    bytes: usize,
    budget: usize,
    /// Connections refused for want of room.
    refused: u64,
}

/// Bytes counted for a waiting connection besides its paths and gaps.
const WAITING_BYTES: usize = 256;

fn waiting_cost(c: &Connection) -> usize {
    let flow = |f: &Option<FlowFile>| {
        f.as_ref().map_or(0, |f| {
            f.name.len() + f.path.as_os_str().len() + f.gaps.len() * 16
        })
    };
    WAITING_BYTES + c.dir.as_os_str().len() + flow(&c.request) + flow(&c.response)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sessions {
    /// An empty cache and queue, each within `budget` bytes.
    pub(crate) fn new(budget: usize) -> Sessions {
        Sessions {
            cache: Mutex::new(SessionCache::new(budget)),
            waiting: Mutex::new(Waiting {
                budget,
                ..Waiting::default()
            }),
        }
    }

    /// Decrypt and carve the connections that waited for the cache, in
    /// capture order: `(number, connection, what carving it gave)`.
    pub(crate) fn finish(
        &self,
        log: &KeyLog,
        opts: &super::HttpOptions,
    ) -> Vec<(u64, Connection, conn::Outcome, TlsCounts)> {
        let mut jobs = std::mem::take(&mut lock(&self.waiting).jobs);
        jobs.sort_by_key(|(order, _, _)| *order);
        let mut out = Vec::with_capacity(jobs.len());
        for (order, number, c) in jobs {
            let pass = Pass {
                sessions: self,
                order,
                last: true,
            };
            let (outcome, counts) = carve_with(&c, log, opts, &pass)
                .unwrap_or_else(|| (conn::Outcome::default(), TlsCounts::default()));
            out.push((number, c, outcome, counts));
        }
        out
    }
}

/// The session cache as one connection (at `order`) sees it: while
/// connections are still coming (`last` false) a resuming one waits;
/// afterwards it is answered from the cache.
struct Pass<'a> {
    sessions: &'a Sessions,
    order: Order,
    last: bool,
}

impl session::Sessions for Pass<'_> {
    fn master(&self, ch: &ClientHello, sh: &ServerHello, server: &Path) -> io::Result<Lookup> {
        let s = resume::session(ch, sh, server)?;
        if !s.resumed {
            return Ok(Lookup::Missing(String::new()));
        }
        if !self.last {
            return Ok(Lookup::Later);
        }
        let cache = lock(&self.sessions.cache);
        for key in &s.offered {
            if let Some(m) = cache.lookup(key, self.order) {
                return Ok(Lookup::Found(m.to_vec(), key.kind()));
            }
        }
        let kinds: Vec<&str> = s.offered.iter().map(resume::SessionKey::kind).collect();
        Ok(Lookup::Missing(format!(
            "it resumes a session (by {}) that no earlier connection with known secrets set up",
            kinds.join(" or ")
        )))
    }

    fn learned(
        &self,
        ch: &ClientHello,
        sh: &ServerHello,
        server: &Path,
        master: &[u8],
    ) -> io::Result<()> {
        let Ok(master) = <[u8; 48]>::try_from(master) else {
            return Ok(());
        };
        let s = resume::session(ch, sh, server)?;
        let mut cache = lock(&self.sessions.cache);
        for key in s.issued {
            cache.insert(key, self.order, master);
        }
        Ok(())
    }
}

/// Decrypt the TLS connection `c` (its request flow the client's, its
/// response flow the server's) with `log`, and carve HTTP out of the
/// plaintext as [`conn::carve`] carves plain flows. `order` is where the
/// connection falls in capture order and `number` its place in carving
/// order. `None` when the connection waits for the session cache
/// (see [`Sessions`]): [`Sessions::finish`] carves it.
pub(crate) fn carve(
    c: &Connection,
    order: Order,
    number: u64,
    log: &KeyLog,
    opts: &super::HttpOptions,
    sessions: &Sessions,
) -> Option<(conn::Outcome, TlsCounts)> {
    let pass = Pass {
        sessions,
        order,
        last: false,
    };
    let done = carve_with(c, log, opts, &pass);
    if done.is_none() {
        let cost = waiting_cost(c);
        let mut w = lock(&sessions.waiting);
        if w.bytes + cost > w.budget {
            w.refused += 1;
            drop(w);
            // No room to wait: answered now, from what the cache holds.
            let now = Pass {
                sessions,
                order,
                last: true,
            };
            return Some(
                carve_with(c, log, opts, &now)
                    .unwrap_or_else(|| (conn::Outcome::default(), TlsCounts::default())),
            );
        }
        w.bytes += cost;
        w.jobs.push((order, number, c.clone()));
    }
    done
}

/// [`carve`] with the session cache as `pass` sees it; `None` when the
/// connection is to wait.
fn carve_with(
    c: &Connection,
    log: &KeyLog,
    opts: &super::HttpOptions,
    pass: &Pass<'_>,
) -> Option<(conn::Outcome, TlsCounts)> {
    let mut counts = TlsCounts::default();
    let mut out = conn::Outcome::default();
    let Some(client) = &c.request else {
        return Some((out, counts));
    };
    let plain = |f: &FlowFile| {
        let name = format!("{}{SUFFIX}", f.name);
        let path = c.dir.join(&name);
        (name, path)
    };
    let (cname, cpath) = plain(client);
    let server_plain = c.response.as_ref().map(plain);
    let cside = Side {
        path: &client.path,
        name: &client.name,
        gaps: &client.gaps,
        output: &cpath,
        output_name: &cname,
    };
    let sside = c
        .response
        .as_ref()
        .zip(server_plain.as_ref())
        .map(|(f, (n, p))| Side {
            path: &f.path,
            name: &f.name,
            gaps: &f.gaps,
            output: p,
            output_name: n,
        });
    let facts = match session::decrypt_with(&cside, sside.as_ref(), log, &opts.tls_keys, pass) {
        Ok(Some(f)) => f,
        Ok(None) => return None,
        Err(source) => {
            out.errors.push(Error::Write {
                path: cpath.clone(),
                source,
            });
            return Some((out, counts));
        }
    };
    let raw_key = c.response.as_ref().unwrap_or(client).name.clone();
    let community_id = FlowName::parse(&raw_key).and_then(|n| n.community_id());
    let failed = [Some(&facts.client), facts.server.as_ref()]
        .into_iter()
        .flatten()
        .filter(|d| {
            d.stopped
                .as_deref()
                .is_some_and(|s| s.ends_with("failed authentication"))
        })
        .count() as u64;
    counts.failed_records += failed;
    let report_lines = report_lines(c, pass.order, community_id.as_deref(), &facts);
    if !facts.decrypted {
        counts.not_decrypted += 1;
        let mut notes = vec![format!(
            "TLS not decrypted: {}",
            facts.reason.as_deref().unwrap_or("unknown")
        )];
        notes.retain(|n| !n.is_empty());
        let rec = Record {
            community_id,
            request_file: Some(client.name.clone()),
            response_file: c.response.as_ref().map(|f| f.name.clone()),
            notes,
            tls: Some(facts),
            order: (raw_key, 0),
            ..Record::default()
        };
        out.records.push(rec);
        out.tls = report_lines;
        return Some((out, counts));
    }
    counts.decrypted += 1;
    let flow = |name: String, path: std::path::PathBuf| FlowFile {
        name,
        path,
        gaps: Vec::new(),
    };
    let plain_conn = Connection {
        dir: c.dir.clone(),
        request: Some(flow(cname.clone(), cpath.clone())),
        response: server_plain.clone().map(|(n, p)| flow(n, p)),
        folder: c.folder.clone(),
    };
    let h2 = facts.alpn.as_deref() == Some("h2") || super::h2::starts_with_preface(&cpath);
    let mut carved = if h2 {
        super::h2::carve(&plain_conn, opts)
    } else {
        conn::carve(&plain_conn, opts)
    };
    let key = format!("{raw_key}{SUFFIX}");
    if carved.records.is_empty() {
        carved.records.push(Record {
            request_file: Some(cname),
            response_file: server_plain.map(|(n, _)| n),
            notes: vec![format!(
                "no HTTP{} message in the decrypted streams",
                if h2 { "/2" } else { "/1.x" }
            )],
            order: (key.clone(), 0),
            ..Record::default()
        });
    }
    for (i, r) in carved.records.iter_mut().enumerate() {
        r.community_id.clone_from(&community_id);
        r.tls = Some(facts.clone());
        r.order = (key.clone(), i as u64);
        for d in [Some(&facts.client), facts.server.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Some(why) = &d.stopped {
                r.notes
                    .push(format!("TLS decryption of {} stopped: {why}", d.file));
            }
        }
    }
    carved.tls = report_lines;
    Some((carved, counts))
}

/// The report's TLS lines for connection `c` (at `order`: its id first,
/// `u64::MAX` when unknown), whose facts are `facts`: its client
/// direction's, then its server direction's when it has one; each names
/// its raw flow file by its full path (see `tls_lines`).
fn report_lines(
    c: &Connection,
    order: Order,
    community_id: Option<&str>,
    facts: &Facts,
) -> Vec<crate::output::tls_record::TlsRecord> {
    let connection = (order.0 != u64::MAX).then_some(order.0);
    let sides = [
        ("client", Some(&facts.client)),
        ("server", facts.server.as_ref()),
    ];
    sides
        .into_iter()
        .filter_map(|(role, d)| {
            let d = d?;
            Some(crate::output::tls_record::TlsRecord::of(
                c.dir.join(&d.file).to_string_lossy().into_owned(),
                connection,
                community_id.map(str::to_string),
                role,
                facts,
                d,
            ))
        })
        .collect()
}
