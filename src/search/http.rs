//! `flowsplit grep --http`: searching HTTP exchanges as carving left them,
//! each message's head as sent and each body as carved (de-chunked,
//! decompressed, decrypted when TLS was), instead of the raw streams where
//! a gzip body or a chunk boundary hides a pattern.
//!
//! Owns: reading each folder's `http.jsonl` (written by `-e http` or
//! `flowsplit http DIR`), searching every exchange's parts in index order
//! ([`Part`]), and the `--json` fields that say which exchange and part a
//! match is in.
//!
//! Must not: carve (the HTTP consumer did, once) or write anything but the
//! matches. Memory per part searched is the read buffer and the matcher's
//! window, whatever the body's size; an index is read a line at a time.

use super::folder::{not_a_folder, report_of, DirsSearched, File, Known, UnitSearch};
use super::matcher::Matcher;
use super::{print_end, stdout_error, GrepFormat, GrepOptions, Owner};
use crate::error::Error;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The longest message head searched: heads longer than this are searched
/// up to here (the carver gives up on longer ones too).
pub const MAX_HEAD: usize = 64 * 1024;

/// The part of an exchange a match is in (`--json` `part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The request line and header fields, as sent (HTTP/1.x).
    RequestHead,
    /// The request body as carved.
    RequestBody,
    /// The status line and header fields, as sent (HTTP/1.x).
    ResponseHead,
    /// The response body as carved.
    ResponseBody,
    /// An object assembled from range parts.
    Object,
}

impl Part {
    /// The name `--json` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Part::RequestHead => "request_head",
            Part::RequestBody => "request_body",
            Part::ResponseHead => "response_head",
            Part::ResponseBody => "response_body",
            Part::Object => "object",
        }
    }
}

/// A body as the index gives it.
#[derive(Debug, serde::Deserialize)]
struct BodyEntry {
    file: Option<String>,
    offset: u64,
    #[serde(default)]
    framing: String,
    #[serde(default)]
    decoded: bool,
    #[serde(default)]
    gaps: Vec<[u64; 2]>,
}

impl BodyEntry {
    /// The holes in the body file, `(offset, length)`: known where the file
    /// holds the bytes as sent (not decoded, not chunked).
    fn holes(&self) -> Vec<(u64, u64)> {
        if self.decoded || !matches!(self.framing.as_str(), "length" | "close") {
            return Vec::new();
        }
        self.gaps
            .iter()
            .filter_map(|&[at, len]| Some((at.checked_sub(self.offset)?, len)))
            .collect()
    }
}

/// An object line of the index.
#[derive(Debug, serde::Deserialize)]
struct ObjectEntry {
    file: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    uri: String,
    #[serde(default)]
    holes: Vec<[u64; 2]>,
}

/// One line of `http.jsonl`, what the search needs of it.
#[derive(Debug, serde::Deserialize)]
struct Entry {
    community_id: Option<String>,
    request_file: Option<String>,
    request_offset: Option<u64>,
    request_number: Option<u64>,
    method: Option<String>,
    host: Option<String>,
    uri: Option<String>,
    request_body: Option<BodyEntry>,
    response_file: Option<String>,
    response_offset: Option<u64>,
    response_number: Option<u64>,
    status: Option<u16>,
    response_body: Option<BodyEntry>,
    stream_id: Option<u32>,
    object: Option<ObjectEntry>,
}

impl Entry {
    /// The `--json` `exchange` field: what names the exchange.
    fn identity(&self) -> Value {
        serde_json::json!({
            "request_file": self.request_file,
            "request_number": self.request_number,
            "response_file": self.response_file,
            "response_number": self.response_number,
            "stream_id": self.stream_id,
            "method": self.method,
            "host": self.host,
            "uri": self.uri,
            "status": self.status,
        })
    }
}

/// One thing to search in an exchange: a part of a file.
struct Target {
    part: Part,
    /// The file, relative to the index's folder.
    file: String,
    /// Where the part begins in it (a head's offset in its flow file).
    offset: u64,
    /// Holes in the file, `(offset, length)`.
    holes: Vec<(u64, u64)>,
}

/// Search the HTTP exchanges indexed in `dirs` (every `http.jsonl` under
/// each, in name order; lines in index order): each HTTP/1.x head in its
/// flow file (or decrypted `-TLS` file), each body file and each assembled
/// object, printing to `out`. A match in a head is reported at its offset
/// in the flow file; one in a body or object at its offset in that file
/// (the body offset), the file named being the body file. A folder with no
/// index is an error naming the command that writes one.
pub fn grep_http_dirs(
    dirs: &[PathBuf],
    opts: &GrepOptions,
    out: &mut dyn Write,
) -> Result<(DirsSearched, Vec<Error>), Error> {
    let mut search = ExchangeSearch::new(opts)?;
    for dir in dirs {
        if !dir.is_dir() {
            search.errors.push(not_a_folder(dir));
            continue;
        }
        let indexes = indexes_under(dir, &mut search.errors);
        if indexes.is_empty() {
            search.errors.push(Error::Search(format!(
                "{}: no http.jsonl here: run flowsplit http {} first (or flowsplit -e http on the capture)",
                dir.display(),
                dir.display()
            )));
            continue;
        }
        let report = report_of(dir);
        for index in indexes {
            search.index(dir, &index, &report, out)?;
            search.print_counts(out)?;
        }
    }
    search.finish(out)
}

/// Every `http.jsonl` under `dir`, in name order.
fn indexes_under(dir: &Path, errors: &mut Vec<Error>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        match entry {
            Ok(e) if e.file_type().is_file() && e.file_name() == crate::http::INDEX_NAME => {
                found.push(e.into_path());
            }
            Ok(_) => {}
            Err(e) => errors.push(Error::Folder {
                path: dir.to_path_buf(),
                source: e.into(),
            }),
        }
    }
    found
}

/// Searches exchanges, one index line at a time: read from an index, or
/// handed over as carving writes it ([`ExchangeSearch::index_line`], live
/// capture); counts what it found.
pub struct ExchangeSearch {
    matcher: Matcher,
    opts: GrepOptions,
    scratch: Vec<u8>,
    buf: Vec<u8>,
    done: DirsSearched,
    errors: Vec<Error>,
    /// Matches by file searched (for `-c`, `-l`, `-L`), in name order.
    per_file: BTreeMap<String, u64>,
}

impl ExchangeSearch {
    /// A search as `opts` says; a bad pattern is a usage error.
    pub fn new(opts: &GrepOptions) -> Result<ExchangeSearch, Error> {
        Ok(ExchangeSearch {
            matcher: Matcher::new(&opts.patterns, &opts.pattern)
                .map_err(|e| Error::Usage(format!("grep: {e}")))?,
            opts: opts.clone(),
            scratch: Vec::new(),
            buf: vec![0u8; 1 << 20],
            done: DirsSearched::default(),
            errors: Vec::new(),
            per_file: BTreeMap::new(),
        })
    }

    /// Search the exchange of one `http.jsonl` line (without its newline)
    /// whose files are in `folder`, printing to `out`; its connection is
    /// not known here (null in `--json`). A line that cannot be read is an
    /// error kept for [`ExchangeSearch::finish`].
    pub fn index_line(
        &mut self,
        folder: &Path,
        line: &str,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        match serde_json::from_str::<Entry>(line) {
            Ok(entry) => self.entry(folder, &entry, None, out),
            Err(e) => {
                self.errors.push(Error::Search(format!(
                    "{}: index line: {e}",
                    folder.display()
                )));
                Ok(())
            }
        }
    }

    /// Print the counts or names (`-c`, `-l`, `-L`) of the files searched
    /// since the last call, in name order.
    pub fn print_counts(&mut self, out: &mut dyn Write) -> Result<(), Error> {
        if matches!(
            self.opts.format,
            GrepFormat::Count | GrepFormat::Names | GrepFormat::NamesWithout
        ) {
            for (name, matches) in std::mem::take(&mut self.per_file) {
                print_end(out, self.opts.format, &name, matches).map_err(stdout_error)?;
            }
        }
        Ok(())
    }

    /// Print what is left, count the matches in the run's total and hand
    /// back what was searched and the errors met.
    pub fn finish(mut self, out: &mut dyn Write) -> Result<(DirsSearched, Vec<Error>), Error> {
        self.print_counts(out)?;
        self.opts
            .matches
            .fetch_add(self.done.matches, Ordering::Relaxed);
        out.flush().map_err(stdout_error)?;
        Ok((self.done, self.errors))
    }

    /// Search every exchange of the index at `index`, under the output
    /// folder `top` whose report is `report`.
    fn index(
        &mut self,
        top: &Path,
        index: &Path,
        report: &HashMap<String, Known>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        let folder = index.parent().unwrap_or(top).to_path_buf();
        let prefix = folder
            .strip_prefix(top)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let file = match std::fs::File::open(index) {
            Ok(f) => f,
            Err(source) => {
                self.errors.push(Error::Open {
                    path: index.to_path_buf(),
                    source,
                });
                return Ok(());
            }
        };
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(source) => {
                    self.errors.push(Error::Read {
                        path: index.to_path_buf(),
                        source,
                    });
                    break;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let entry: Entry = match serde_json::from_str(&line) {
                Ok(e) => e,
                Err(e) => {
                    self.errors.push(Error::Search(format!(
                        "{}: line {}: {e}",
                        index.display(),
                        n + 1
                    )));
                    continue;
                }
            };
            let connection = [&entry.request_file, &entry.response_file]
                .into_iter()
                .flatten()
                .find_map(|f| {
                    let f = f.strip_suffix("-TLS").unwrap_or(f);
                    report.get(&prefix.join(f).to_string_lossy().into_owned())
                })
                .map(|k| k.connection);
            self.entry(&folder, &entry, connection, out)?;
        }
        Ok(())
    }

    /// Search every part of `entry`, whose files are in `folder`.
    fn entry(
        &mut self,
        folder: &Path,
        entry: &Entry,
        connection: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<(), Error> {
        for target in targets(entry) {
            let mut extra = Map::new();
            extra.insert("part".into(), target.part.name().into());
            match &entry.object {
                Some(o) => extra.insert(
                    "object".into(),
                    serde_json::json!({"host": o.host, "uri": o.uri}),
                ),
                None => extra.insert("exchange".into(), entry.identity()),
            };
            let owner = Owner {
                name: &target.file,
                connection,
                community_id: entry.community_id.clone(),
                extra: Some(&extra),
            };
            let matches = self.target(folder, &target, &owner, out)?;
            *self.per_file.entry(target.file).or_default() += matches;
        }
        Ok(())
    }

    /// Search one part; returns its matches (0 when it could not be read,
    /// the error kept for the end).
    fn target(
        &mut self,
        folder: &Path,
        target: &Target,
        owner: &Owner<'_>,
        out: &mut dyn Write,
    ) -> Result<u64, Error> {
        // The index names files in its own folder: a name that would
        // lead out of it (a crafted index) is not followed.
        if !is_plain_name(&target.file) {
            self.errors.push(Error::Search(format!(
                "{}: the index names {:?}, which is not a file in its folder",
                folder.display(),
                target.file
            )));
            return Ok(0);
        }
        let path = folder.join(&target.file);
        let mut unit = UnitSearch::default();
        let result = if target.part_is_head() {
            // A head: its bytes, at its offset in the flow file.
            match read_head(&path, target.offset) {
                Ok(head) => {
                    unit.gap(&self.opts, target.offset, owner, out)?;
                    unit.data(
                        &self.matcher,
                        &self.opts,
                        &head,
                        &mut self.scratch,
                        owner,
                        out,
                    )?;
                    unit.finish(&self.opts, owner, out)
                }
                Err(source) => Err(Error::Read { path, source }),
            }
        } else {
            File {
                path: &path,
                gaps: &target.holes,
            }
            .search(
                &mut unit,
                &self.matcher,
                &self.opts,
                owner,
                out,
                &mut self.scratch,
                &mut self.buf,
            )
        };
        match result {
            Ok(()) => {
                self.done.files += 1;
                self.done.matches += unit.matches();
                Ok(unit.matches())
            }
            // Standard output failing ends the search.
            Err(e @ Error::Write { .. }) => Err(e),
            Err(e) => {
                self.errors.push(e);
                Ok(0)
            }
        }
    }
}

impl Target {
    fn part_is_head(&self) -> bool {
        matches!(self.part, Part::RequestHead | Part::ResponseHead)
    }
}

/// What to search of `entry`, in order: request head and body, response
/// head and body (or the object). HTTP/2 heads are HPACK-compressed in
/// the stream and are not searched; their bodies are.
fn targets(entry: &Entry) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(o) = &entry.object {
        out.push(Target {
            part: Part::Object,
            file: o.file.clone(),
            offset: 0,
            holes: o.holes.iter().map(|&[a, l]| (a, l)).collect(),
        });
        return out;
    }
    let sides = [
        (
            Part::RequestHead,
            Part::RequestBody,
            &entry.request_file,
            entry.request_offset,
            &entry.request_body,
        ),
        (
            Part::ResponseHead,
            Part::ResponseBody,
            &entry.response_file,
            entry.response_offset,
            &entry.response_body,
        ),
    ];
    for (head, body_part, flow, offset, body) in sides {
        if let (Some(flow), Some(offset), None) = (flow, offset, entry.stream_id) {
            out.push(Target {
                part: head,
                file: flow.clone(),
                offset,
                holes: Vec::new(),
            });
        }
        if let Some(BodyEntry { file: Some(f), .. }) = body {
            let holes = body.as_ref().map(BodyEntry::holes).unwrap_or_default();
            out.push(Target {
                part: body_part,
                file: f.clone(),
                offset: 0,
                holes,
            });
        }
    }
    out
}

/// Whether `name` is one plain file name: no folder, no `..`, not absolute.
fn is_plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    )
}

/// The message head at `offset` in the flow file at `path`: through the
/// blank line that ends it, at most [`MAX_HEAD`] bytes.
fn read_head(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut file = super::folder::open_no_follow(path)?;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut head = Vec::new();
    file.take(MAX_HEAD as u64).read_to_end(&mut head)?;
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| head.windows(2).position(|w| w == b"\n\n").map(|i| i + 2));
    if let Some(end) = end {
        head.truncate(end);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_in_the_folder_are_searched() {
        assert!(is_plain_name(
            "127.000.000.001.00080-127.000.000.001.40000-HTTPBODY-001.txt"
        ));
        for name in ["../x", "/etc/passwd", "a/b", "..", "", "."] {
            assert!(!is_plain_name(name), "{name}");
        }
    }

    #[test]
    fn a_head_ends_at_its_blank_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flow");
        std::fs::write(&path, b"xxGET / HTTP/1.1\r\nHost: a\r\n\r\nBODY GET").unwrap();
        assert_eq!(
            read_head(&path, 2).unwrap(),
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        );
    }

    #[test]
    fn body_holes_are_known_only_for_bodies_kept_as_sent() {
        let mut body = BodyEntry {
            file: Some("b".into()),
            offset: 100,
            framing: "length".into(),
            decoded: false,
            gaps: vec![[150, 10]],
        };
        assert_eq!(body.holes(), vec![(50, 10)]);
        body.decoded = true;
        assert!(body.holes().is_empty());
        body.decoded = false;
        body.framing = "chunked".into();
        assert!(body.holes().is_empty());
    }
}
