//! `flowsplit grep PATTERN DIR...`: searching flow files already written,
//! by flowsplit or tcpflow, with the matcher and output a capture search
//! uses.
//!
//! Owns: walking the folders for flow files (and the decrypted `-TLS`
//! files beside them), what the folder's `report.jsonl` says of each file
//! (its connection, Community ID and zero-filled gaps, so a gap breaks a
//! match here as it does in a capture search), and [`UnitSearch`]: one
//! file's (or one body's, or one head's) search, fed in pieces.
//!
//! Must not: write anything but the matches. Memory per file searched is
//! the read buffer and the matcher's window, whatever the file's size.

use super::context::{ContextStream, InContext};
use super::matcher::{Found, Matcher, StreamSearch};
use super::{print_end, print_in_context, stdout_error, FirstByte, GrepOptions, Owner};
use crate::error::Error;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// What searching folders found.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirsSearched {
    /// Files searched.
    pub files: u64,
    /// Matches found.
    pub matches: u64,
}

/// One file's, body's or head's search, fed its bytes and holes in order.
#[derive(Default)]
pub(crate) struct UnitSearch {
    search: StreamSearch,
    context: ContextStream<FirstByte>,
    matches: u64,
}

impl UnitSearch {
    /// Matches found so far.
    pub(crate) fn matches(&self) -> u64 {
        self.matches
    }

    /// Bytes seen so far, holes included.
    pub(crate) fn offset(&self) -> u64 {
        self.search.offset()
    }

    /// Whether nothing more can be printed: `--max-count` is reached and
    /// no context after is owed.
    pub(crate) fn done(&self, opts: &GrepOptions) -> bool {
        opts.max_count.is_some_and(|max| self.matches >= max) && opts.context.after == 0
    }

    /// The next `data` of the unit: its matches are printed for `owner`.
    pub(crate) fn data(
        &mut self,
        matcher: &Matcher,
        opts: &GrepOptions,
        data: &[u8],
        scratch: &mut Vec<u8>,
        owner: &Owner<'_>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        let mut found: Vec<Found> = Vec::new();
        if opts.max_count.is_some_and(|max| self.matches >= max) {
            // Only the context after the last matches is still wanted.
            self.search.gap(data.len() as u64);
        } else {
            self.search
                .feed(matcher, data, scratch, &mut |f| found.push(f));
        }
        let mut counted = Vec::new();
        for f in found {
            if opts.max_count.is_some_and(|max| self.matches >= max) {
                break;
            }
            self.matches += 1;
            counted.push((f, None));
        }
        let mut ready = Vec::new();
        if opts.context.any() {
            self.context
                .data(opts.context, matcher.longest(), data, counted, &mut |c| {
                    ready.push(c)
                });
        } else {
            ready.extend(counted.into_iter().map(|(f, tag)| InContext::bare(f, tag)));
        }
        print_in_context(out, opts, owner, ready).map_err(stdout_error)
    }

    /// `len` bytes that are not the sender's (a zero-filled gap, or what
    /// comes before a head): nothing spans them.
    pub(crate) fn gap(
        &mut self,
        opts: &GrepOptions,
        len: u64,
        owner: &Owner<'_>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        self.search.gap(len);
        let mut ready = Vec::new();
        if opts.context.any() {
            self.context.gap(opts.context, len, &mut |c| ready.push(c));
        }
        print_in_context(out, opts, owner, ready).map_err(stdout_error)
    }

    /// The unit ended: print the matches still waiting for context after.
    pub(crate) fn finish(
        &mut self,
        opts: &GrepOptions,
        owner: &Owner<'_>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        let mut ready = Vec::new();
        self.context.flush(opts.context, &mut |c| ready.push(c));
        print_in_context(out, opts, owner, ready).map_err(stdout_error)
    }
}

/// What a folder's `report.jsonl` says of one of its flow files.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct Known {
    /// The report's connection id.
    pub(crate) connection: u64,
    /// The connection's Community ID.
    pub(crate) community_id: Option<String>,
    /// Zero-filled holes, `(offset, length)` in the file.
    pub(crate) gaps: Vec<(u64, u64)>,
}

/// A direction line of `report.jsonl`: other lines (those of other
/// kinds, or unreadable ones) lack `sha256` or `end` and are passed over.
#[derive(serde::Deserialize)]
struct DirectionLine {
    file: String,
    #[serde(flatten)]
    known: Known,
    #[allow(dead_code)]
    sha256: String,
    #[allow(dead_code)]
    end: serde_json::Value,
}

/// What `dir/report.jsonl` says of each flow file, by its path relative to
/// `dir`; empty when there is no report (a tcpflow folder).
pub(crate) fn report_of(dir: &Path) -> HashMap<String, Known> {
    let Ok(text) = std::fs::read_to_string(dir.join("report.jsonl")) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<DirectionLine>(l).ok())
        .map(|d| (d.file, d.known))
        .collect()
}

/// Whether `name` is a flow file's name: tcpflow's default template, or
/// such a name with `-TLS` after it (a decrypted direction's plaintext).
pub(crate) fn is_flow_name(name: &str) -> bool {
    let stem = name.strip_suffix("-TLS").unwrap_or(name);
    crate::http::name::FlowName::parse(stem).is_some()
}

/// Search the flow files in `dirs` (walked recursively, in name order;
/// files whose names are not flow-file names, such as reports and body
/// files, are left out) with the same matcher and output as a capture
/// search, printing to `out`. Offsets are offsets in each file. Where the
/// folder's `report.jsonl` lists a file's zero-filled gaps, no match spans
/// them and none is found in them; a folder without a report (tcpflow's)
/// does not say where they are, and its zeros are matched as zeros.
pub fn grep_dirs(
    dirs: &[PathBuf],
    opts: &GrepOptions,
    out: &mut dyn Write,
) -> Result<(DirsSearched, Vec<Error>), Error> {
    let matcher = Matcher::new(&opts.patterns, &opts.pattern)
        .map_err(|e| Error::Usage(format!("grep: {e}")))?;
    let mut done = DirsSearched::default();
    let mut errors = Vec::new();
    let mut scratch = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for dir in dirs {
        if !dir.is_dir() {
            errors.push(not_a_folder(dir));
            continue;
        }
        let report = report_of(dir);
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(Error::Folder {
                        path: dir.clone(),
                        source: e.into(),
                    });
                    continue;
                }
            };
            let name = entry.file_name().to_string_lossy();
            if !entry.file_type().is_file() || !is_flow_name(&name) {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Decrypted plaintext belongs to its direction's connection;
            // the direction's gaps are not in it.
            let plaintext = relative.strip_suffix("-TLS");
            let known = report.get(plaintext.unwrap_or(&relative));
            let owner = Owner {
                name: &name,
                connection: known.map(|k| k.connection),
                community_id: known.and_then(|k| k.community_id.clone()),
                extra: None,
            };
            let gaps = match (known, plaintext) {
                (Some(k), None) => &k.gaps[..],
                _ => &[][..],
            };
            let mut unit = UnitSearch::default();
            let searched = File {
                path: entry.path(),
                gaps,
            }
            .search(
                &mut unit,
                &matcher,
                opts,
                &owner,
                out,
                &mut scratch,
                &mut buf,
            );
            match searched {
                Ok(()) => {
                    if unit.offset() > 0 {
                        print_end(out, opts.format, &name, unit.matches()).map_err(stdout_error)?;
                    }
                    done.files += 1;
                    done.matches += unit.matches();
                }
                Err(e) => errors.push(e),
            }
        }
    }
    opts.matches.fetch_add(done.matches, Ordering::Relaxed);
    out.flush().map_err(stdout_error)?;
    Ok((done, errors))
}

/// The error for a folder argument that is not one.
pub(crate) fn not_a_folder(dir: &Path) -> Error {
    Error::Open {
        path: dir.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
    }
}

/// A file to search, with the holes in it that are not the sender's bytes.
pub(crate) struct File<'a> {
    /// Where it is.
    pub(crate) path: &'a Path,
    /// Zero-filled holes, `(offset, length)`, in file order.
    pub(crate) gaps: &'a [(u64, u64)],
}

impl File<'_> {
    /// Feed the whole file to `unit` (its holes as holes), printing
    /// matches for `owner`; stops early once nothing more can be printed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search(
        &self,
        unit: &mut UnitSearch,
        matcher: &Matcher,
        opts: &GrepOptions,
        owner: &Owner<'_>,
        out: &mut dyn Write,
        scratch: &mut Vec<u8>,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let path = self.path;
        let mut file = open_no_follow(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut at = 0u64;
        loop {
            if unit.done(opts) {
                break;
            }
            let n = match file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Read {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            };
            for (start, end, hole) in split_at_gaps(at, n, self.gaps) {
                if hole {
                    unit.gap(opts, (end - start) as u64, owner, out)?;
                } else {
                    unit.data(matcher, opts, &buf[start..end], scratch, owner, out)?;
                }
            }
            at += n as u64;
        }
        unit.finish(opts, owner, out)
    }
}

/// Open `path` for reading, refusing a symbolic link in its last
/// component: a folder from elsewhere does not get a file outside it read.
pub(crate) fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The `len` bytes read at file offset `at`, cut where `gaps` begin and
/// end: `(start, end, is_hole)` ranges of the buffer, in order.
fn split_at_gaps(at: u64, len: usize, gaps: &[(u64, u64)]) -> Vec<(usize, usize, bool)> {
    let end = at + len as u64;
    let mut pieces = Vec::new();
    let mut pos = at;
    for &(g_start, g_len) in gaps {
        let g_end = g_start.saturating_add(g_len);
        if g_end <= pos || g_start >= end {
            continue;
        }
        if g_start > pos {
            pieces.push(((pos - at) as usize, (g_start - at) as usize, false));
            pos = g_start;
        }
        let hole_end = g_end.min(end);
        pieces.push(((pos - at) as usize, (hole_end - at) as usize, true));
        pos = hole_end;
    }
    if pos < end {
        pieces.push(((pos - at) as usize, len, false));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_cut_where_gaps_begin_and_end() {
        // Bytes 100..200 read; gaps at 90..110, 150..160 and 190..250.
        let gaps = [(90, 20), (150, 10), (190, 60), (300, 5)];
        assert_eq!(
            split_at_gaps(100, 100, &gaps),
            vec![
                (0, 10, true),
                (10, 50, false),
                (50, 60, true),
                (60, 90, false),
                (90, 100, true)
            ]
        );
        assert_eq!(split_at_gaps(0, 50, &gaps), vec![(0, 50, false)]);
        assert_eq!(split_at_gaps(95, 5, &gaps), vec![(0, 5, true)]);
    }

    #[test]
    fn plaintext_files_are_flow_files_and_bodies_are_not() {
        let flow = "127.000.000.001.47683-127.000.000.001.48554";
        assert!(is_flow_name(flow));
        assert!(is_flow_name(&format!("{flow}-TLS")));
        assert!(!is_flow_name(&format!("{flow}-TLS-HTTPBODY-001.txt")));
        assert!(!is_flow_name(&format!("{flow}-HTTPBODY-001.txt")));
        assert!(!is_flow_name("report.jsonl"));
    }
}
