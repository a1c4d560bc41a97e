//! Carving connections as the capture pipeline closes them, instead of a
//! post-pass over whole folders: live capture always, and a file run whose
//! output folder held no flow files when it started (its index then covers
//! exactly this run's connections, as the post-pass's would).
//!
//! Owns: turning the pipeline's closed directions into a [`Connection`]
//! and carving it; the carver is shared by the threads of a
//! [`super::pool::CarvePool`], each carving its own connection, and
//! gathering what they produce (index lines, range parts, errors, counts)
//! in the post-pass's own collector (`Carved`) under one lock. Reuses the
//! post-pass's pieces unchanged: `pair` (which direction carries requests,
//! by the rule `carve_dirs` applies to a pair), `conn::carve`, `h2::carve`
//! and `tls::carve` (the carving itself) and the index order and writer
//! (`index`), so the body files and index written here are those
//! `flowsplit http` writes for the same folder, whatever order the
//! connections close or finish in.
//!
//! Must not: walk folders or read `report.jsonl` (the pipeline hands over
//! each direction's gaps directly).

use super::conn::{self, Connection, FlowFile};
use super::index::{IndexLine, Record};
use super::name::{FlowName, Folder};
use super::{pair, tls, CarveSummary, Carved, HttpOptions};
use crate::error::Error;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One closed direction as the capture pipeline wrote it.
#[derive(Debug, Clone, Copy)]
pub struct ClosedFlow<'a> {
    /// The flow file, relative to the output folder (the report's `file`).
    pub file: &'a str,
    /// Its zero-filled holes, `(offset, length)`.
    pub gaps: &'a [(u64, u64)],
    /// The report's `connection`: the number of the connection's first
    /// packet, its place in capture order (for the TLS session cache);
    /// `None` when not known.
    pub connection: Option<u64>,
}

/// A body file written for a connection.
#[derive(Debug, Clone)]
pub struct CarvedBody {
    /// The body file, relative to the output folder.
    pub file: String,
    /// The flow file it came from, relative to the output folder.
    pub flow: String,
    /// `request` or `response`.
    pub kind: &'static str,
    /// Bytes in the body file.
    pub size: u64,
    /// SHA-256 of the body file, lower-case hex.
    pub sha256: String,
    /// True when the file holds the whole body.
    pub complete: bool,
}

/// What carving one connection produced.
#[derive(Debug, Default)]
pub struct CarvedConnection {
    /// Body files written, in index order. (Errors are kept for the
    /// summary [`InlineCarver::finish`] returns.)
    pub bodies: Vec<CarvedBody>,
    /// With [`InlineCarver::handing_over_lines`], the connection's exchanges
    /// as `http.jsonl` lines (JSON, without the newline), each with the
    /// folder whose index it goes in; objects assembled from range parts
    /// come only at the end, in the index. Empty otherwise.
    pub index_lines: Vec<(PathBuf, String)>,
}

/// Carves connections as they close, from any number of threads at once,
/// and writes the indexes at the end.
pub struct InlineCarver {
    outdir: PathBuf,
    opts: HttpOptions,
    /// The key logs (`--tls-keylog`), read again when they change.
    keylog: Option<Mutex<crate::tls::keylog::Reloading>>,
    /// The TLS session cache, and the resuming connections waiting for it.
    sessions: tls::Sessions,
    /// The key log files' secrets merged with the capture's, with what
    /// they were merged from (the files' secrets and the capture's block
    /// count): merged again only when either changed.
    #[allow(clippy::type_complexity)]
    merged: Mutex<Option<(Arc<crate::tls::KeyLog>, u64, Arc<crate::tls::KeyLog>)>>,
    /// What the connections carved so far produced.
    collected: Mutex<Collected>,
    /// Each folder's body names (read on its first connection; one entry
    /// per folder).
    names: Mutex<HashMap<PathBuf, Folder>>,
    /// Whether each [`CarvedConnection`] lists its index lines.
    lines_wanted: bool,
}

/// What the carving threads gather, under one lock.
struct Collected {
    /// Index lines, range parts, errors and counts, as the post-pass
    /// gathers them.
    carved: Carved,
    /// The folders the closed flow files are in (relative to the output
    /// folder): each gets an index, as the post-pass gives every folder
    /// holding flow files one.
    folders: BTreeSet<PathBuf>,
}

impl Collected {
    fn new(outdir: &Path, max_object: u64) -> Collected {
        Collected {
            carved: Carved::new(outdir, max_object),
            folders: BTreeSet::new(),
        }
    }
}

impl InlineCarver {
    /// A carver for flow files under `outdir`.
    pub fn new(outdir: &Path, opts: HttpOptions) -> InlineCarver {
        let opts = opts.armed();
        InlineCarver {
            outdir: outdir.to_path_buf(),
            collected: Mutex::new(Collected::new(outdir, opts.max_decoded_bytes)),
            names: Mutex::new(HashMap::new()),
            keylog: opts
                .decrypts_tls()
                .then(|| Mutex::new(crate::tls::keylog::Reloading::new(opts.tls_keylogs.clone()))),
            sessions: tls::Sessions::new(crate::config::TLS_SESSION_MEMORY as usize),
            merged: Mutex::new(None),
            opts,
            lines_wanted: false,
        }
    }

    /// This carver, listing each connection's index lines in its
    /// [`CarvedConnection`] (for a caller that hands exchanges on as they
    /// are carved).
    pub fn handing_over_lines(self) -> InlineCarver {
        InlineCarver {
            lines_wanted: true,
            ..self
        }
    }

    /// Carve the connection whose closed directions are `flows` (one or
    /// two; any after the second are ignored); `number` is its place in
    /// close order, which orders the errors listed at the end. Files whose
    /// names are not flow-file names are left alone, as `carve_dirs` leaves
    /// them. Which direction carries requests is decided by
    /// [`pair::decide`], as `carve_dirs` decides it for a pair; flows that
    /// are neither are carved as HTTP/2 when one begins with the client
    /// preface, and as TLS (with a key log) when one begins with a
    /// ClientHello, as `carve_dirs` carves them.
    ///
    /// Two directions whose files are in different folders (a template
    /// naming folders by one endpoint) are carved apart, each as a flow
    /// alone, as `carve_dirs` finds them (it pairs flows within a folder).
    pub fn connection_closed(&self, number: u64, flows: &[ClosedFlow<'_>]) -> CarvedConnection {
        let mut out = CarvedConnection::default();
        let first = flows.iter().filter_map(|f| f.connection).min();
        let order = (first.unwrap_or(u64::MAX), number);
        let mut files = flows.iter().filter_map(|f| self.flow_file(f));
        let Some(a) = files.next() else {
            return out;
        };
        let b = files.next();
        {
            let mut collected = self.collected();
            collected.folders.insert(a.0.clone());
            if let Some(b) = &b {
                collected.folders.insert(b.0.clone());
            }
        }
        match b {
            Some(b) if b.0 != a.0 => {
                self.carve_pair(order, a, None, &mut out);
                self.carve_pair(order, b, None, &mut out);
            }
            b => self.carve_pair(order, a, b, &mut out),
        }
        out
    }

    /// Carve flow `a` and, if there is one, the reverse flow `b` in the
    /// same folder, as one connection (at `order`: its place in capture
    /// order, then its number); list what was written in `out`.
    fn carve_pair(
        &self,
        order: (u64, u64),
        a: (PathBuf, FlowFile),
        b: Option<(PathBuf, FlowFile)>,
        out: &mut CarvedConnection,
    ) {
        let number = order.1;
        let mut sniff_errors = Vec::new();
        let sa = pair::sniff_or_note(&a.1.path, &mut sniff_errors);
        let sb = b
            .as_ref()
            .and_then(|b| pair::sniff_or_note(&b.1.path, &mut sniff_errors));
        if !sniff_errors.is_empty() {
            self.keep(number, &a.0, no_outcome(sniff_errors), out);
        }
        if sa.is_none() && sb.is_none() {
            // HTTP/2 with prior knowledge, as the post-pass finds it.
            let h2 = |f: &(PathBuf, FlowFile)| super::h2::starts_with_preface(&f.1.path);
            let (client, server) = match b {
                Some(b) if !h2(&a) && h2(&b) => (b, Some(a)),
                b => (a, b),
            };
            if h2(&client) {
                let c = self.connection(&client.0, Some(client.1), server.map(|(_, f)| f));
                let outcome = super::h2::carve(&c, &self.opts);
                self.keep(number, &client.0, outcome, out);
                return;
            }
            if self.decrypts() {
                if let Ok((client, server)) = tls::tls_pair(client, server, |f| &f.1.path) {
                    self.carve_tls(order, client, server, out);
                }
            }
            return;
        }
        // Carved apart, the first direction's connection comes first here
        // (the post-pass puts the reverse flow's first).
        for h in pair::decide(sa, sb).connections(a, b) {
            // Both directions are in one folder here (`connection_closed`
            // carves flows in different folders apart).
            let Some((folder, _)) = h.request.as_ref().or(h.response.as_ref()) else {
                continue;
            };
            let folder = folder.clone();
            let c = self.connection(
                &folder,
                h.request.map(|(_, f)| f),
                h.response.map(|(_, f)| f),
            );
            let outcome = conn::carve(&c, &self.opts);
            self.keep(number, &folder, outcome, out);
        }
    }

    fn collected(&self) -> MutexGuard<'_, Collected> {
        self.collected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection of `request` and `response` in `folder` (relative
    /// to the output folder).
    fn connection(
        &self,
        folder: &Path,
        request: Option<FlowFile>,
        response: Option<FlowFile>,
    ) -> Connection {
        let dir = self.outdir.join(folder);
        let names = self
            .names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(dir.clone())
            .or_insert_with(|| Folder::read(&dir))
            .clone();
        Connection {
            dir,
            request,
            response,
            folder: names,
        }
    }

    /// The flow file a closed direction names, with its folder relative to
    /// the output folder; `None` if its name is not a flow-file name.
    fn flow_file(&self, f: &ClosedFlow<'_>) -> Option<(PathBuf, FlowFile)> {
        let rel = Path::new(f.file);
        let name = rel.file_name().and_then(|n| n.to_str())?;
        let folder = rel.parent().unwrap_or(Path::new(""));
        FlowName::parse(name)?;
        Some((
            folder.to_path_buf(),
            FlowFile {
                name: name.to_string(),
                path: self.outdir.join(folder).join(name),
                gaps: f.gaps.to_vec(),
            },
        ))
    }

    /// Decrypt and carve the TLS connection of `client` and `server` (in
    /// the client's folder), as `carve_dirs` does.
    fn carve_tls(
        &self,
        order: (u64, u64),
        client: (PathBuf, FlowFile),
        server: Option<(PathBuf, FlowFile)>,
        out: &mut CarvedConnection,
    ) {
        let number = order.1;
        let Some((log, error)) = self.current_keylog() else {
            return;
        };
        if let Some(e) = error {
            self.keep(number, &client.0, no_outcome(vec![e]), out);
        }
        let c = self.connection(&client.0, Some(client.1), server.map(|(_, f)| f));
        // `None`: it resumes a session and waits for the session cache,
        // carved by `carve_waiting`.
        if let Some((outcome, counts)) =
            tls::carve(&c, order, number, &log, &self.opts, &self.sessions)
        {
            self.collected().carved.tls.add(counts);
            self.keep(number, &client.0, outcome, out);
        }
    }

    /// True when TLS connections are decrypted: with key log files, or
    /// once the capture has given secrets (a Decryption Secrets Block).
    fn decrypts(&self) -> bool {
        self.keylog.is_some() || !self.opts.capture_secrets.is_empty()
    }

    /// The secrets now: the key log files' (read again when they changed,
    /// with an error doing so) and the capture's; `None` when there are
    /// neither.
    fn current_keylog(&self) -> Option<(Arc<crate::tls::KeyLog>, Option<Error>)> {
        if !self.decrypts() {
            return None;
        }
        let (files, error) = match &self.keylog {
            Some(source) => source
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .current(),
            None => (Arc::default(), None),
        };
        let (capture, blocks) = self.opts.capture_secrets.current();
        if blocks == 0 {
            return Some((files, error));
        }
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        match &*merged {
            Some((f, b, log)) if Arc::ptr_eq(f, &files) && *b == blocks => {
                Some((log.clone(), error))
            }
            _ => {
                let log = Arc::new(crate::tls::keylog::with_capture(&files, &capture));
                *merged = Some((files, blocks, log.clone()));
                Some((log, error))
            }
        }
    }

    /// Decrypt and carve the TLS connections that waited for the session
    /// cache (they resume a session and have no key log line of their
    /// own), in capture order, once every connection has closed: call it
    /// before [`InlineCarver::finish`]. Returns what each wrote.
    pub fn carve_waiting(&self) -> Vec<CarvedConnection> {
        let Some((log, _)) = self.current_keylog() else {
            return Vec::new();
        };
        let mut done = Vec::new();
        for (number, c, outcome, counts) in self.sessions.finish(&log, &self.opts) {
            let mut out = CarvedConnection::default();
            let folder = c
                .dir
                .strip_prefix(&self.outdir)
                .unwrap_or(&c.dir)
                .to_path_buf();
            self.collected().carved.tls.add(counts);
            self.keep(number, &folder, outcome, &mut out);
            done.push(out);
        }
        done
    }

    /// List `outcome`'s body files and errors in `out`, and keep its
    /// records and range parts (of connection `number`, in `folder`) for
    /// the index.
    fn keep(&self, number: u64, folder: &Path, outcome: conn::Outcome, out: &mut CarvedConnection) {
        out.bodies.extend(
            outcome
                .records
                .iter()
                .flat_map(|r| carved_bodies(folder, r)),
        );
        let dir = self.outdir.join(folder);
        let lines: Vec<_> = outcome
            .records
            .iter()
            .map(|r| IndexLine::new(&dir, number, r))
            .collect();
        if self.lines_wanted {
            out.index_lines.extend(
                lines
                    .iter()
                    .flatten()
                    .map(|l| (dir.clone(), String::from_utf8_lossy(l.json()).into_owned())),
            );
        }
        self.collected().carved.add(number, &dir, outcome, lines);
    }

    /// Assemble the range parts, write `http.jsonl` in every folder that
    /// held flow files or records, ordered as `carve_dirs` orders them
    /// (with `marked`, a shard's index, as `carve_dirs_marked` writes it),
    /// with at most `object_fill` zero bytes in the holes of range objects
    /// (see [`crate::http::carve_dirs_within`]), and say what carving did.
    /// Connections still waiting for the session cache are carved first
    /// (see [`InlineCarver::carve_waiting`]).
    pub fn finish(&self, marked: bool, object_fill: u64) -> CarveSummary {
        self.carve_waiting();
        let fresh = Collected::new(&self.outdir, self.opts.max_decoded_bytes);
        let Collected { carved, folders } = std::mem::replace(&mut *self.collected(), fresh);
        let folders = folders.into_iter().map(|f| self.outdir.join(f)).collect();
        let mut summary = CarveSummary::default();
        carved.finish(folders, &mut summary, marked, object_fill);
        summary.decoded_growth = self.opts.growth().grown();
        summary.bodies_cut = self.opts.growth().cut();
        summary.bodies_not_decoded = self.opts.growth().not_decoded();
        summary
    }
}

/// An outcome holding only `errors`.
fn no_outcome(errors: Vec<Error>) -> conn::Outcome {
    conn::Outcome {
        errors,
        ..conn::Outcome::default()
    }
}

/// The body files of record `r` (request's, then response's), named
/// relative to the output folder.
fn carved_bodies<'r>(folder: &'r Path, r: &'r Record) -> impl Iterator<Item = CarvedBody> + 'r {
    let bodies = [
        (&r.request_body, &r.request_file, "request"),
        (&r.response_body, &r.response_file, "response"),
    ];
    bodies.into_iter().filter_map(move |(body, flow, kind)| {
        let (Some(body), Some(flow)) = (body, flow) else {
            return None;
        };
        let file = body.file.as_ref()?;
        Some(CarvedBody {
            file: rel_name(folder, file),
            flow: rel_name(folder, flow),
            kind,
            size: body.decoded_length,
            sha256: body.sha256.clone(),
            complete: body.complete,
        })
    })
}

/// `name` in `folder`, as a path relative to the output folder.
fn rel_name(folder: &Path, name: &str) -> String {
    folder.join(name).to_string_lossy().into_owned()
}
