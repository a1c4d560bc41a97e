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
use crate::tls::session::{self, Role, Side};
use crate::tls::{KeyLog, SUFFIX};
use std::path::Path;

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

/// Decrypt the TLS connection `c` (its request flow the client's, its
/// response flow the server's) with `log`, and carve HTTP out of the
/// plaintext as [`conn::carve`] carves plain flows.
pub(crate) fn carve(
    c: &Connection,
    log: &KeyLog,
    opts: &super::HttpOptions,
) -> (conn::Outcome, TlsCounts) {
    let mut counts = TlsCounts::default();
    let mut out = conn::Outcome::default();
    let Some(client) = &c.request else {
        return (out, counts);
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
    let facts = match session::decrypt(&cside, sside.as_ref(), log, &opts.tls_keys) {
        Ok(f) => f,
        Err(source) => {
            out.errors.push(Error::Write {
                path: cpath.clone(),
                source,
            });
            return (out, counts);
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
        return (out, counts);
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
    (carved, counts)
}
