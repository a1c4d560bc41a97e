//! `flowsplit grep`: searching every direction's reassembled bytes as they
//! are reassembled, so a pattern split over segments, sent a byte at a
//! time, reordered or retransmitted is found once, where per-packet tools
//! miss it or find it twice.
//!
//! Owns: the grep consumer ([`GrepFlows`], a [`StreamConsumer`] like the
//! console's: one flow table, so the output keeps one order), what it
//! prints ([`GrepFormat`]), and searching flow files already written
//! ([`grep_dirs`]) with the same [`matcher`]; and `--grep` on a normal
//! run ([`counted`]: each direction searched as its flow file is written).
//!
//! Must not: write flow files or reports. Each direction keeps its
//! [`matcher::StreamSearch`]: at most the longest match allowed, less one
//! byte; nothing else of the stream is held.

pub mod context;
pub mod counted;
pub mod folder;
pub mod http;
pub mod matcher;

pub use folder::{grep_dirs, DirsSearched};

use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, Placed, StreamConsumer};
use crate::output::report::DirectionRecord;
use crate::output::tally::Naming;
use context::{Context, ContextStream, InContext};
use matcher::{Found, Matcher, PatternOptions, StreamSearch};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What is printed for the matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrepFormat {
    /// One line per match: `NAME:OFFSET:excerpt`.
    Lines,
    /// One JSON object per match (`--json`).
    Json,
    /// One line per matching direction, `NAME:COUNT` (`-c`).
    Count,
    /// The name of each matching direction (`-l`).
    Names,
    /// The name of each direction with no match (`-L`, `--files-without-match`).
    NamesWithout,
}

/// The settings of a search.
#[derive(Debug, Clone)]
pub struct GrepOptions {
    /// The patterns, in the order given (their index is reported).
    pub patterns: Vec<String>,
    /// How they are read.
    pub pattern: PatternOptions,
    /// What is printed.
    pub format: GrepFormat,
    /// Stop searching a direction after this many matches (`--max-count`).
    pub max_count: Option<u64>,
    /// Highlight the match in text lines (a terminal).
    pub colour: bool,
    /// Bytes of context printed before and after each match (`-B`, `-A`).
    pub context: Context,
    /// Matches found in the whole run, set as the run goes (the binary's
    /// exit status: 0 when any, 1 when none).
    pub matches: Arc<AtomicU64>,
}

/// The longest excerpt printed of one match; longer ones end with `...`.
const EXCERPT: usize = 200;

/// A segment as it arrived: stream start and end, and its packet.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    start: u64,
    end: u64,
    packet: Packet,
}

/// The packet that carried a match's first byte: its capture time and its
/// 1-based number over the inputs (tshark's frame number for one input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// When it was captured.
    pub ts: crate::capture::Timestamp,
    /// Its number.
    pub number: u64,
}

/// What [`GrepFlows`] keeps for one direction.
#[derive(Default)]
pub struct GrepStream {
    search: StreamSearch,
    matches: u64,
    name: Option<String>,
    /// Segments as they arrived and not yet searched past: (stream start,
    /// stream end, capture time), to give a match its first byte's time.
    arrivals: std::collections::VecDeque<Arrival>,
    /// Bytes of the jumps so far (holes longer than `-m`, not in the flow
    /// file): a stream offset less this is a flow-file offset.
    jumped: u64,
    /// Matches waiting for their context after, and the bytes before.
    context: ContextStream<FirstByte>,
}

impl GrepStream {
    /// Stream offset before which no match can start any more.
    fn searched_past(&self, window: usize) -> u64 {
        (self.search.offset() + self.jumped).saturating_sub(window as u64)
    }

    /// The first packet (in the order read) that carried the byte at
    /// flow-file offset `offset`.
    fn first_packet(&self, offset: u64) -> FirstByte {
        let at = offset + self.jumped;
        self.arrivals
            .iter()
            .filter(|a| a.start <= at && at < a.end)
            .map(|a| a.packet)
            .min_by_key(|p| p.number)
    }
}

/// The grep consumer: every direction's pieces go through the matcher.
pub struct GrepFlows {
    matcher: Arc<Matcher>,
    opts: GrepOptions,
    naming: Naming,
    out: Box<dyn Write + Send>,
    scratch: Vec<u8>,
}

impl GrepFlows {
    /// Search with `matcher` as `opts` says, naming directions by `naming`,
    /// printing to `out`.
    pub fn new(
        matcher: Arc<Matcher>,
        opts: GrepOptions,
        naming: Naming,
        out: Box<dyn Write + Send>,
    ) -> GrepFlows {
        GrepFlows {
            matcher,
            opts,
            naming,
            out,
            scratch: Vec::new(),
        }
    }
}

/// Who a match belongs to, for printing.
pub(crate) struct Owner<'a> {
    /// The name printed: a flow file's, a body file's.
    pub(crate) name: &'a str,
    /// The report's connection id, when known.
    pub(crate) connection: Option<u64>,
    /// The connection's Community ID, when known.
    pub(crate) community_id: Option<String>,
    /// More fields for each `--json` line (`--http`: the exchange, the part).
    pub(crate) extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// When a match's first byte was captured, if known.
pub(crate) type FirstByte = Option<Packet>;

/// Print `found` as `format` says.
fn print_match(
    out: &mut dyn Write,
    format: GrepFormat,
    colour: bool,
    owner: &Owner<'_>,
    found: &Found,
    time: FirstByte,
    context: Option<(&[u8], &[u8])>,
) -> std::io::Result<()> {
    match format {
        GrepFormat::Lines => {
            let text = escaped(&found.bytes);
            let (before, after) = context.map_or((String::new(), String::new()), |(b, a)| {
                (escaped_whole(b), escaped_whole(a))
            });
            if colour {
                writeln!(
                    out,
                    "{}:{}:{before}\x1b[1;31m{text}\x1b[0m{after}",
                    owner.name, found.offset
                )
            } else {
                writeln!(out, "{}:{}:{before}{text}{after}", owner.name, found.offset)
            }
        }
        GrepFormat::Json => {
            let mut line = serde_json::json!({
                "file": owner.name,
                "connection": owner.connection,
                "community_id": owner.community_id,
                "offset": found.offset,
                "time": time.map(|p| p.ts.to_string()),
                "packet": time.map(|p| p.number),
                "pattern": found.pattern,
                "match": escaped(&found.bytes),
            });
            if let Some(obj) = line.as_object_mut() {
                if let Some((before, after)) = context {
                    obj.insert("before".into(), escaped_whole(before).into());
                    obj.insert("after".into(), escaped_whole(after).into());
                }
                for (k, v) in owner.extra.into_iter().flatten() {
                    obj.insert(k.clone(), v.clone());
                }
            }
            writeln!(out, "{line}")
        }
        _ => Ok(()),
    }
}

/// Print each of `ready` (matches with their context) as `format` says.
pub(crate) fn print_in_context(
    out: &mut dyn Write,
    opts: &GrepOptions,
    owner: &Owner<'_>,
    ready: Vec<InContext<FirstByte>>,
) -> std::io::Result<()> {
    for c in ready {
        let context = opts
            .context
            .any()
            .then_some((c.before.as_slice(), c.after.as_slice()));
        print_match(
            out,
            opts.format,
            opts.colour,
            owner,
            &c.found,
            c.tag,
            context,
        )?;
    }
    Ok(())
}

/// `bytes` as printable text: ASCII graphics and space as they are, `\`
/// doubled, the rest as `\xNN`; at most [`EXCERPT`] bytes, then `...`.
pub fn escaped(bytes: &[u8]) -> String {
    let mut s = escaped_whole(&bytes[..bytes.len().min(EXCERPT)]);
    if bytes.len() > EXCERPT {
        s.push_str("...");
    }
    s
}

/// Every byte of `bytes` as printable text, as [`escaped`] writes them
/// (context is printed whole: its length is what `-A`/`-B` asked for).
fn escaped_whole(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

pub(crate) fn stdout_error(source: std::io::Error) -> Error {
    Error::Write {
        path: PathBuf::from("standard output"),
        source,
    }
}

/// What is printed once a direction is done (counts and names).
pub(crate) fn print_end(
    out: &mut dyn Write,
    format: GrepFormat,
    name: &str,
    matches: u64,
) -> std::io::Result<()> {
    match format {
        GrepFormat::Count if matches > 0 => writeln!(out, "{name}:{matches}"),
        GrepFormat::Names if matches > 0 => writeln!(out, "{name}"),
        GrepFormat::NamesWithout if matches == 0 => writeln!(out, "{name}"),
        _ => Ok(()),
    }
}

impl GrepFlows {
    /// Print `ready`, matches of the direction `s` (`info`) with their
    /// context, if any was asked for.
    fn print_ready(
        &mut self,
        s: &mut GrepStream,
        info: &DirectionInfo<'_>,
        ready: Vec<InContext<FirstByte>>,
    ) -> Result<(), Error> {
        if ready.is_empty() {
            return Ok(());
        }
        let name = s
            .name
            .get_or_insert_with(|| self.naming.name(info, info.counter))
            .clone();
        let owner = Owner {
            name: &name,
            connection: Some(info.connection),
            community_id: crate::community_id::tcp(
                info.tuple.src,
                info.tuple.sport,
                info.tuple.dst,
                info.tuple.dport,
            ),
            extra: None,
        };
        print_in_context(&mut self.out, &self.opts, &owner, ready).map_err(stdout_error)
    }
}

impl StreamConsumer for GrepFlows {
    type Stream = GrepStream;

    fn piece(
        &mut self,
        s: &mut GrepStream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        let ctx = self.opts.context;
        let mut ready = Vec::new();
        match piece {
            // Not in the flow file, a jump: offsets go on as the file's do.
            Piece::Gap(_) | Piece::Jump(_) => {
                let (len, jumped) = match piece {
                    Piece::Gap(n) => (n, 0),
                    Piece::Jump(n) => (0, n),
                    Piece::Data(_) => (0, 0),
                };
                s.search.gap(len);
                s.jumped += jumped;
                if ctx.any() {
                    s.context.gap(ctx, len, &mut |c| ready.push(c));
                }
            }
            Piece::Data(d) => {
                let mut found = Vec::new();
                if self.opts.max_count.is_some_and(|max| s.matches >= max) {
                    s.search.gap(d.len() as u64);
                } else {
                    s.search
                        .feed(&self.matcher, d, &mut self.scratch, &mut |f| found.push(f));
                }
                let mut counted = Vec::new();
                for f in found {
                    if self.opts.max_count.is_some_and(|max| s.matches >= max) {
                        break;
                    }
                    s.matches += 1;
                    self.opts.matches.fetch_add(1, Ordering::Relaxed);
                    let time = s.first_packet(f.offset);
                    counted.push((f, time));
                }
                if ctx.any() {
                    let longest = self.matcher.longest();
                    s.context
                        .data(ctx, longest, d, counted, &mut |c| ready.push(c));
                } else {
                    ready.extend(counted.into_iter().map(|(f, tag)| InContext::bare(f, tag)));
                }
            }
        }
        self.print_ready(s, info, ready)?;
        let past = s.searched_past(self.matcher.longest());
        s.arrivals.retain(|a| a.end > past);
        Ok(())
    }

    fn placed(
        &mut self,
        s: &mut GrepStream,
        _info: &DirectionInfo<'_>,
        at: &Placed,
    ) -> Result<(), Error> {
        let end = at.offset + at.len as u64;
        // A late copy of bytes already searched past says nothing new.
        if end > s.searched_past(self.matcher.longest()) {
            s.arrivals.push_back(Arrival {
                start: at.offset,
                end,
                packet: Packet {
                    ts: at.ts,
                    number: at.packet,
                },
            });
        }
        Ok(())
    }

    fn rebased(&mut self, s: &mut GrepStream, _info: &DirectionInfo<'_>, by: u64) {
        for a in &mut s.arrivals {
            a.start += by;
            a.end += by;
        }
    }

    fn held(&self, s: &GrepStream) -> usize {
        s.search.held() + s.arrivals.capacity() * std::mem::size_of::<Arrival>() + s.context.held()
    }

    fn close(
        &mut self,
        mut s: GrepStream,
        info: &DirectionInfo<'_>,
        _end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let mut ready = Vec::new();
        s.context.flush(self.opts.context, &mut |c| ready.push(c));
        self.print_ready(&mut s, info, ready)?;
        if s.search.offset() > 0 {
            let name = s
                .name
                .unwrap_or_else(|| self.naming.name(info, info.counter));
            print_end(&mut self.out, self.opts.format, &name, s.matches).map_err(stdout_error)?;
        }
        Ok(None)
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(stdout_error)
    }
}
