//! Writing one body: undoing its content codings, bounding what decoding
//! may produce, hashing, and creating the body file only once a byte is due.
//!
//! Owns: the decoder chain (`gzip`/`x-gzip`, `deflate` with or without the
//! zlib wrapper, `br`, in sequence; a gzip member's header is read here and
//! its trailer checked but not enforced, as browsers do not), the size and
//! ratio limits, the SHA-256
//! of the bytes written, and the fallback to the encoded bytes when a body
//! that claims a coding does not decode from its first byte.
//!
//! ```text
//!  encoded bytes ─▶ [last coding's decoder] ─▶ … ─▶ [first coding's] ─▶ Output
//!                                                     (limit, sha256, file)
//! ```
//!
//! Must not: know about HTTP framing or choose the file's name (the caller
//! passes a [`Target`]; `name::Folder` picks the free name).

use super::growth::{BoundSpent, ConnGrowth, BOUND_NOTE, NOT_DECODED_NOTE};
use super::name::{BodyName, Folder};
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;

/// Decoded output allowed whatever the ratio: small bodies that expand a lot
/// (a page of spaces) are not bombs.
const RATIO_FLOOR: u64 = 1 << 20;
/// Encoded bytes kept to fall back on if decoding fails before any output.
const FALLBACK_KEEP: usize = 64 * 1024;

/// A content coding flowsplit can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// gzip, x-gzip (and zlib or raw deflate mislabelled as gzip).
    Gzip,
    /// deflate: zlib-wrapped, or raw deflate as some servers send.
    Deflate,
    /// Brotli.
    Brotli,
}

impl Coding {
    /// The coding for a Content-Encoding token; `Err` for unknown ones.
    /// `identity` is `Ok(None)`.
    pub(crate) fn from_token(t: &str) -> Result<Option<Coding>, ()> {
        match t {
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "deflate" => Ok(Some(Coding::Deflate)),
            "br" => Ok(Some(Coding::Brotli)),
            "identity" => Ok(None),
            _ => Err(()),
        }
    }
}

/// Limits on decoding.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Most decoded bytes kept.
    pub max_bytes: u64,
    /// Most decoded bytes per encoded byte (beyond [`RATIO_FLOOR`]).
    pub max_ratio: u64,
    /// The connection's share of the run's amplification bound: what the
    /// decoded bytes may exceed the encoded ones by (see `growth`).
    pub growth: Rc<ConnGrowth>,
}

/// Where a body file goes: its folder, the name it asks for, and the
/// folder's naming state (see `name::Folder::create`).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The folder the body file is created in.
    pub dir: PathBuf,
    /// The name asked for; a numbered one if it is taken.
    pub name: BodyName,
    /// The folder's names, shared by the connections carved in it.
    pub folder: Folder,
}

/// The final stage: counts, hashes and writes to the body file, which is
/// created on the first byte.
struct OutState {
    target: Target,
    /// The name the file was created under.
    taken: Option<String>,
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    written: u64,
    limit: Option<Limits>,
    encoded_in: Rc<Cell<u64>>,
    /// Growth (decoded less encoded bytes) granted so far.
    grown: u64,
    truncated: bool,
    /// Cut by the run's amplification bound (not by the body's own limits).
    bound_cut: bool,
    io_error: Option<io::Error>,
    /// Set while an abandoned chain is dropped: its last words are ignored.
    sealed: bool,
}

impl OutState {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.sealed {
            return Err(io::Error::other("decoder abandoned"));
        }
        let mut take = buf.len() as u64;
        if let Some(l) = &self.limit {
            let encoded = self.encoded_in.get();
            let by_ratio = encoded.saturating_mul(l.max_ratio).max(RATIO_FLOOR);
            let allowed = l.max_bytes.min(by_ratio).saturating_sub(self.written);
            if take > allowed {
                take = allowed;
                self.truncated = true;
            }
            // Growth past what was granted asks the run's bound for more.
            let growth = (self.written + take).saturating_sub(encoded);
            if growth > self.grown {
                let want = growth - self.grown;
                let granted = l.growth.grow(want);
                self.grown += granted;
                if granted < want {
                    take -= want - granted;
                    self.truncated = true;
                    self.bound_cut = true;
                }
            }
        }
        let part = &buf[..usize::try_from(take).unwrap_or(buf.len())];
        if !part.is_empty() {
            if let Err(e) = self.write_file(part) {
                let kind = e.kind();
                self.io_error = Some(e);
                return Err(io::Error::new(kind, "body file write failed"));
            }
            self.hasher.update(part);
            self.written += part.len() as u64;
        }
        if self.truncated {
            return Err(io::Error::other("decoded size limit reached"));
        }
        Ok(buf.len())
    }

    /// Start the body again from nothing: an empty file (if one was
    /// created), no bytes counted or hashed, no limit.
    fn restart(&mut self) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        if let Some(f) = &mut self.file {
            f.flush()?;
            let inner = f.get_mut();
            inner.set_len(0)?;
            inner.seek(SeekFrom::Start(0))?;
        }
        self.hasher = Sha256::new();
        self.written = 0;
        self.grown = 0;
        self.truncated = false;
        self.bound_cut = false;
        self.limit = None;
        Ok(())
    }

    /// Why the body was cut (once `truncated`).
    fn cut_note(&self) -> &'static str {
        if self.bound_cut {
            BOUND_NOTE
        } else {
            "decoded size limit reached (bomb?): truncated"
        }
    }

    fn write_file(&mut self, part: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let (f, name) = self
                .target
                .folder
                .create(&self.target.dir, &self.target.name)?;
            self.file = Some(BufWriter::new(f));
            self.taken = Some(name);
        }
        match &mut self.file {
            Some(f) => f.write_all(part),
            None => Ok(()),
        }
    }
}

/// A stage of the chain: a writer that can be finished.
trait Sink: Write {
    /// Flush everything through, ending the stream.
    fn finish(&mut self) -> io::Result<()>;
}

/// The chain's end, writing into the shared [`OutState`].
struct Output(Rc<RefCell<OutState>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Output {
    fn finish(&mut self) -> io::Result<()> {
        let mut st = self.0.borrow_mut();
        if let Some(f) = &mut st.file {
            if let Err(e) = f.flush() {
                let kind = e.kind();
                st.io_error = Some(e);
                return Err(io::Error::new(kind, "body file write failed"));
            }
        }
        Ok(())
    }
}

type Next = Box<dyn Sink>;

/// The window of the brotli stream whose first byte is `first` (RFC 7932,
/// 9.1): the most its decoder may produce before its first output. A
/// large-window stream (a non-standard extension, up to 1 GiB) counts as
/// 1 GiB.
fn brotli_window(first: u8) -> u64 {
    let wbits = if first & 1 == 0 {
        16
    } else if (first >> 1) & 7 != 0 {
        17 + u32::from((first >> 1) & 7)
    } else {
        match (first >> 4) & 7 {
            0 => 17,
            1 => 30,
            m => 8 + u32::from(m),
        }
    };
    (1u64 << wbits) - 16
}

/// Longest gzip header accepted (with its optional name, comment, extra).
const MAX_GZIP_HEADER: usize = 64 * 1024;

/// The length of the gzip header (RFC 1952) at the front of `b`: `Ok(None)`
/// when more bytes are needed, `Err` when it is not a gzip header.
fn gzip_header_len(b: &[u8]) -> Result<Option<usize>, ()> {
    if b.len() < 10 {
        return Ok(None);
    }
    if b[..3] != [0x1f, 0x8b, 8] {
        return Err(());
    }
    let flags = b[3];
    let mut at = 10usize;
    if flags & 4 != 0 {
        let Some(x) = b.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            let Some(rest) = b.get(at..) else {
                return Ok(None);
            };
            match rest.iter().position(|&c| c == 0) {
                Some(i) => at += i + 1,
                None if b.len() >= MAX_GZIP_HEADER => return Err(()),
                None => return Ok(None),
            }
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    if at > MAX_GZIP_HEADER {
        return Err(());
    }
    Ok((b.len() >= at).then_some(at))
}

/// Counts the CRC-32 and length of what passes to the next stage (a gzip
/// member's trailer is checked against it).
struct CrcSink {
    next: Next,
    crc: Rc<RefCell<flate2::Crc>>,
}

impl Write for CrcSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.next.write(buf)?;
        self.crc.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.next.flush()
    }
}

impl Sink for CrcSink {
    fn finish(&mut self) -> io::Result<()> {
        self.next.finish()
    }
}

/// One decoder in the chain.
enum Decoder {
    /// Waiting for two bytes to tell gzip, zlib and raw deflate apart.
    Sniff(Vec<u8>, Option<Next>),
    /// Reading a gzip member's header.
    GzipHeader(Vec<u8>, Option<Next>),
    /// A gzip member's deflate data; its trailer is collected once it ends
    /// and checked, but not enforced (browsers ignore it).
    Gzip(
        flate2::write::DeflateDecoder<Next>,
        Rc<RefCell<flate2::Crc>>,
        Vec<u8>,
    ),
    Zlib(flate2::write::ZlibDecoder<Next>),
    Raw(flate2::write::DeflateDecoder<Next>),
    Brotli(Box<brotli::DecompressorWriter<Next>>),
}

/// A decoder plus whether its stream has ended (later bytes are ignored).
struct Stage {
    dec: Decoder,
    /// A brotli stage, until its first byte: the account its window must
    /// fit in (see [`ConnGrowth::room`]).
    window_room: Option<Rc<ConnGrowth>>,
    ended: bool,
    trailing: Rc<Cell<u64>>,
    /// Oddities browsers accept, for the body's notes.
    notes: Rc<RefCell<Vec<String>>>,
}

impl Stage {
    fn new(
        coding: Coding,
        next: Next,
        growth: &Rc<ConnGrowth>,
        trailing: Rc<Cell<u64>>,
        notes: Rc<RefCell<Vec<String>>>,
    ) -> Stage {
        let window_room = (coding == Coding::Brotli).then(|| growth.clone());
        let dec = match coding {
            Coding::Gzip | Coding::Deflate => Decoder::Sniff(Vec::new(), Some(next)),
            Coding::Brotli => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(next, 4096)))
            }
        };
        Stage {
            dec,
            window_room,
            ended: false,
            trailing,
            notes,
        }
    }

    /// Pick the inflater from the first two bytes: `1f 8b` is gzip, a valid
    /// zlib header is zlib, anything else is raw deflate.
    fn choose(&mut self) {
        if let Decoder::Sniff(buf, next) = &mut self.dec {
            let Some(next) = next.take() else { return };
            let dec = match buf.as_slice() {
                [0x1f, 0x8b, ..] => Decoder::GzipHeader(Vec::new(), Some(next)),
                [cmf, flg, ..]
                    if cmf & 0x0f == 8
                        && cmf >> 4 <= 7
                        && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 =>
                {
                    Decoder::Zlib(flate2::write::ZlibDecoder::new(next))
                }
                _ => Decoder::Raw(flate2::write::DeflateDecoder::new(next)),
            };
            let pending = std::mem::take(buf);
            self.dec = dec;
            if !pending.is_empty() {
                // Errors surface again on the next write or at finish.
                let _ = self.write_all_ended(&pending);
            }
        }
    }

    /// Take bytes of a gzip header; once it is whole, go on with the
    /// deflate data after it.
    fn gzip_header(&mut self, buf: &[u8]) -> io::Result<()> {
        let Decoder::GzipHeader(head, next) = &mut self.dec else {
            return Ok(());
        };
        head.extend_from_slice(buf);
        let len = match gzip_header_len(head) {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(()),
            Err(()) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "invalid gzip header",
                ))
            }
        };
        let Some(next) = next.take() else {
            return Ok(());
        };
        let rest = head.split_off(len);
        let crc = Rc::new(RefCell::new(flate2::Crc::new()));
        let sink: Next = Box::new(CrcSink {
            next,
            crc: crc.clone(),
        });
        self.dec = Decoder::Gzip(flate2::write::DeflateDecoder::new(sink), crc, Vec::new());
        self.write_all_ended(&rest)
    }

    fn write_all_ended(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            if self.ended {
                // A gzip member's 8-byte trailer, then whatever follows.
                if let Decoder::Gzip(_, _, trailer) = &mut self.dec {
                    let take = (8 - trailer.len()).min(buf.len());
                    trailer.extend_from_slice(&buf[..take]);
                    buf = &buf[take..];
                    if buf.is_empty() {
                        return Ok(());
                    }
                }
                self.trailing.set(self.trailing.get() + buf.len() as u64);
                return Ok(());
            }
            let n = match &mut self.dec {
                Decoder::Sniff(..) => return Ok(()),
                Decoder::GzipHeader(..) => return self.gzip_header(buf),
                Decoder::Gzip(d, _, _) => d.write(buf)?,
                Decoder::Zlib(d) => d.write(buf)?,
                Decoder::Raw(d) => d.write(buf)?,
                Decoder::Brotli(d) => {
                    let n = d.write(buf)?;
                    if n < buf.len() {
                        // Brotli reports its stream's end by taking less.
                        self.ended = true;
                    }
                    n
                }
            };
            if n == 0 {
                self.ended = true;
            }
            buf = &buf[n..];
        }
        Ok(())
    }
}

impl Write for Stage {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let (Some(growth), Some(&first)) = (&self.window_room, buf.first()) {
            if growth.room() < brotli_window(first) {
                return Err(BoundSpent::error());
            }
            self.window_room = None;
        }
        if let Decoder::Sniff(pending, _) = &mut self.dec {
            pending.extend_from_slice(buf);
            if pending.len() >= 2 {
                self.choose();
            }
            return Ok(buf.len());
        }
        self.write_all_ended(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Stage {
    fn finish(&mut self) -> io::Result<()> {
        self.choose();
        match &mut self.dec {
            Decoder::Sniff(_, next) => match next {
                Some(n) => n.finish(),
                None => Ok(()),
            },
            Decoder::GzipHeader(..) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "gzip header cut short",
            )),
            Decoder::Gzip(d, crc, trailer) => {
                d.try_finish()?;
                if !self.ended {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "deflate stream cut short",
                    ));
                }
                // The data is whole; browsers do not check the trailer.
                let crc = crc.borrow();
                let note = match trailer.as_slice() {
                    [c0, c1, c2, c3, l0, l1, l2, l3] => {
                        let sum = u32::from_le_bytes([*c0, *c1, *c2, *c3]);
                        let len = u32::from_le_bytes([*l0, *l1, *l2, *l3]);
                        (sum != crc.sum() || len != crc.amount()).then_some(
                            "gzip trailer (CRC-32 or length) does not match the data: ignored, as browsers do",
                        )
                    }
                    _ => Some("gzip trailer missing or cut short: ignored, as browsers do"),
                };
                self.notes.borrow_mut().extend(note.map(String::from));
                d.get_mut().finish()
            }
            Decoder::Zlib(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Decoder::Raw(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Decoder::Brotli(d) => {
                d.close()?;
                d.get_mut().finish()
            }
        }
    }
}

/// What happened to a body once written.
#[derive(Debug, Default)]
pub(crate) struct BodyResult {
    /// Whether a file was created (at least one byte written).
    pub file_written: bool,
    /// The name the file was created under (the target's, or a numbered
    /// one when that was taken), if it was.
    pub file: Option<String>,
    /// Bytes received before decoding (after de-chunking).
    pub encoded_len: u64,
    /// Bytes written to the file.
    pub decoded_len: u64,
    /// SHA-256 of the bytes written, in hex.
    pub sha256: String,
    /// Whether content codings were undone.
    pub decoded: bool,
    /// Reasons the file is not the whole decoded body.
    pub incomplete: Vec<String>,
    /// Other observations.
    pub notes: Vec<String>,
    /// A write error on the body file, if any.
    pub io_error: Option<io::Error>,
}

/// Receives one body's encoded bytes and writes the decoded result.
pub(crate) struct BodyWriter {
    out: Rc<RefCell<OutState>>,
    /// The connection's share of the amplification bound.
    growth: Rc<ConnGrowth>,
    chain: Option<Next>,
    encoded_in: Rc<Cell<u64>>,
    trailing: Rc<Cell<u64>>,
    /// Notes from the decoders (oddities browsers accept).
    stage_notes: Rc<RefCell<Vec<String>>>,
    decoding: bool,
    fallback: Option<Vec<u8>>,
    failed: Option<String>,
    notes: Vec<String>,
}

impl BodyWriter {
    /// A writer for a body with the given Content-Encoding tokens (in header
    /// order), writing to a file created for `target` on the first byte.
    /// With `decode` false, or codings unknown, bytes are kept as sent
    /// (unknown codings are noted).
    pub(crate) fn new(target: Target, codings: &[String], decode: bool, limits: Limits) -> Self {
        let encoded_in = Rc::new(Cell::new(0));
        let growth = limits.growth.clone();
        let trailing = Rc::new(Cell::new(0));
        let stage_notes = Rc::new(RefCell::new(Vec::new()));
        let mut notes = Vec::new();
        // Codings were applied in header order. An unknown one is skipped
        // and the others still undone, as Firefox does (Chrome shows such a
        // body as sent); if the result does not decode from its first byte
        // the body is kept as sent (see `on_error`).
        let mut known = Vec::new();
        for t in codings {
            match Coding::from_token(t) {
                Ok(Some(c)) => known.push(c),
                Ok(None) => {}
                Err(()) => {
                    notes.push(format!("unknown content coding {t:?}: skipped"));
                }
            }
        }
        if !decode {
            known.clear();
        }
        let decoding = !known.is_empty();
        let out = Rc::new(RefCell::new(OutState {
            target,
            taken: None,
            file: None,
            hasher: Sha256::new(),
            written: 0,
            limit: decoding.then_some(limits),
            encoded_in: encoded_in.clone(),
            grown: 0,
            truncated: false,
            bound_cut: false,
            io_error: None,
            sealed: false,
        }));
        let mut chain: Next = Box::new(Output(out.clone()));
        for c in known {
            chain = Box::new(Stage::new(
                c,
                chain,
                &growth,
                trailing.clone(),
                stage_notes.clone(),
            ));
        }
        BodyWriter {
            out,
            growth,
            chain: Some(chain),
            encoded_in,
            trailing,
            stage_notes,
            decoding,
            fallback: decoding.then(Vec::new),
            failed: None,
            notes,
        }
    }

    /// Feed encoded bytes. Returns `false` once no more bytes are wanted
    /// (decoding cut off or failed, or the file cannot be written).
    pub(crate) fn write(&mut self, buf: &[u8]) -> bool {
        self.encoded_in
            .set(self.encoded_in.get() + buf.len() as u64);
        if self.failed.is_some() {
            return false;
        }
        if let Some(fb) = &mut self.fallback {
            if fb.len() + buf.len() <= FALLBACK_KEEP {
                fb.extend_from_slice(buf);
            } else {
                self.fallback = None;
            }
        }
        let Some(chain) = &mut self.chain else {
            return false;
        };
        match chain.write_all(buf) {
            Ok(()) => true,
            Err(e) => {
                self.on_error(e);
                self.failed.is_none()
            }
        }
    }

    /// After an error from the chain: a limit, a write error, or bad data.
    /// Bad data before any output switches to keeping the encoded bytes,
    /// and so does the amplification bound.
    fn on_error(&mut self, e: io::Error) {
        // Drop the failed chain first; flate2 and brotli flush on drop, and
        // nothing more from them may reach the file.
        self.out.borrow_mut().sealed = true;
        drop(self.chain.take());
        self.out.borrow_mut().sealed = false;
        let (truncated, bound, io_failed, written) = {
            let st = self.out.borrow();
            let bound = st.bound_cut || BoundSpent::is(&e);
            (st.truncated, bound, st.io_error.is_some(), st.written)
        };
        if bound && self.decoding && self.fallback.is_some() {
            self.growth.body_not_decoded(self.out.borrow().grown);
            self.keep_encoded(NOT_DECODED_NOTE.into());
            return;
        }
        if truncated || bound {
            if bound {
                self.growth.body_cut();
            }
            self.failed = Some(self.out.borrow().cut_note().into());
        } else if io_failed {
            self.failed = Some("body file write failed".into());
        } else if written == 0 && self.decoding && self.fallback.is_some() {
            // Undecodable from the start: keep the bytes as sent.
            self.keep_encoded(format!("content coding did not decode ({e}): kept encoded"));
            return;
        } else {
            self.failed = Some(format!("decoding failed: {e}"));
        }
        self.chain = None;
    }

    /// Go on keeping the bytes as sent (those fed so far are the
    /// fallback's), from the start of the body file, with `note`.
    fn keep_encoded(&mut self, note: String) {
        let Some(fb) = self.fallback.take() else {
            return;
        };
        self.notes.push(note);
        self.decoding = false;
        let out = Output(self.out.clone());
        let restarted = out.0.borrow_mut().restart();
        if let Err(e) = restarted {
            self.failed = Some(format!("body file write failed: {e}"));
            self.out.borrow_mut().io_error = Some(e);
            return;
        }
        self.chain = Some(Box::new(out));
        if let Some(chain) = &mut self.chain {
            if let Err(e) = chain.write_all(&fb) {
                self.failed = Some(format!("body file write failed: {e}"));
            }
        }
    }

    /// End the body: flush decoders and the file, and report.
    pub(crate) fn finish(mut self) -> BodyResult {
        if let Some(mut chain) = self.chain.take() {
            let mut result = chain.finish();
            let bound = match &result {
                Err(e) => self.out.borrow().bound_cut || BoundSpent::is(e),
                Ok(()) => false,
            };
            if bound && self.fallback.is_some() {
                // Spent before a byte decoded: the bytes as sent instead.
                self.out.borrow_mut().sealed = true;
                drop(chain);
                self.out.borrow_mut().sealed = false;
                self.growth.body_not_decoded(self.out.borrow().grown);
                self.keep_encoded(NOT_DECODED_NOTE.into());
                result = match self.chain.take() {
                    Some(mut kept) => kept.finish(),
                    None => Ok(()),
                };
            }
            if let Err(e) = result {
                let st = self.out.borrow();
                if st.truncated {
                    if st.bound_cut {
                        self.growth.body_cut();
                    }
                    self.failed.get_or_insert_with(|| st.cut_note().into());
                } else if st.io_error.is_some() {
                    self.failed
                        .get_or_insert_with(|| "body file write failed".into());
                } else {
                    self.failed
                        .get_or_insert_with(|| format!("decoding ended early: {e}"));
                }
            }
        }
        let mut st = self.out.borrow_mut();
        if let Some(f) = st.file.take() {
            if let Err(e) = f.into_inner().map_err(|e| e.into_error()) {
                st.io_error.get_or_insert(e);
            }
        }
        if self.decoding {
            self.notes.append(&mut self.stage_notes.borrow_mut());
        }
        let trailing = self.trailing.get();
        if trailing > 0 {
            self.notes.push(format!(
                "{trailing} bytes after the end of the coded stream ignored"
            ));
        }
        let hasher = std::mem::take(&mut st.hasher);
        BodyResult {
            file_written: st.written > 0,
            file: st.taken.take(),
            encoded_len: self.encoded_in.get(),
            decoded_len: st.written,
            sha256: hex::encode(hasher.finalize()),
            decoded: self.decoding,
            incomplete: self.failed.into_iter().collect(),
            notes: self.notes,
            io_error: st.io_error.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::fill::FillBound;
    use crate::http::growth::RunGrowth;
    use flate2::Compression;
    use std::fs;

    /// An account with no bound on growth.
    fn unbounded() -> Rc<ConnGrowth> {
        let run = std::sync::Arc::new(RunGrowth::new(FillBound::unbounded()));
        Rc::new(ConnGrowth::new(&run, 0))
    }

    /// The default body limits, with no bound on growth.
    #[allow(non_snake_case)]
    fn LIMITS() -> Limits {
        Limits {
            max_bytes: 1 << 30,
            max_ratio: 1000,
            growth: unbounded(),
        }
    }

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    fn run(codings: &[&str], decode: bool, limits: Limits, input: &[u8]) -> (BodyResult, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        let codings: Vec<String> = codings.iter().map(|s| s.to_string()).collect();
        let target = Target {
            dir: dir.path().to_path_buf(),
            name: BodyName::url("/body").unwrap(),
            folder: Folder::default(),
        };
        let mut w = BodyWriter::new(target, &codings, decode, limits);
        for part in input.chunks(7) {
            if !w.write(part) {
                break;
            }
        }
        let r = w.finish();
        let bytes = fs::read(&path).unwrap_or_default();
        (r, bytes)
    }

    pub(crate) fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn raw(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn br(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            e.write_all(b).unwrap();
        }
        out
    }

    const TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog. The quick brown fox.";

    #[test]
    fn identity_is_copied() {
        let (r, bytes) = run(&[], true, LIMITS(), TEXT);
        assert_eq!(bytes, TEXT);
        assert_eq!(r.sha256, sha(TEXT));
        assert!(!r.decoded && r.incomplete.is_empty());
    }

    #[test]
    fn gzip_and_x_gzip_decode() {
        for c in ["gzip", "x-gzip"] {
            let (r, bytes) = run(&[c], true, LIMITS(), &gzip(TEXT));
            assert_eq!(bytes, TEXT);
            assert!(r.decoded && r.incomplete.is_empty(), "{r:?}");
        }
    }

    #[test]
    fn deflate_zlib_and_raw_decode() {
        let (r, bytes) = run(&["deflate"], true, LIMITS(), &zlib(TEXT));
        assert_eq!(bytes, TEXT);
        assert!(r.incomplete.is_empty());
        let (r, bytes) = run(&["deflate"], true, LIMITS(), &raw(TEXT));
        assert_eq!(bytes, TEXT);
        assert!(r.incomplete.is_empty());
    }

    #[test]
    fn brotli_decodes() {
        let (r, bytes) = run(&["br"], true, LIMITS(), &br(TEXT));
        assert_eq!(bytes, TEXT);
        assert_eq!(r.sha256, sha(TEXT));
        assert!(r.incomplete.is_empty(), "{r:?}");
    }

    #[test]
    fn codings_in_sequence() {
        // "gzip, br": gzip applied first, then br.
        let (r, bytes) = run(&["gzip", "br"], true, LIMITS(), &br(&gzip(TEXT)));
        assert_eq!(bytes, TEXT);
        assert!(r.incomplete.is_empty());
    }

    #[test]
    fn a_coding_twice_is_undone_twice() {
        for (codings, enc) in [
            (&["gzip", "gzip"][..], gzip(&gzip(TEXT))),
            (&["gzip", "deflate"][..], zlib(&gzip(TEXT))),
            (&["deflate", "gzip"][..], gzip(&raw(TEXT))),
        ] {
            let (r, bytes) = run(codings, true, LIMITS(), &enc);
            assert_eq!(bytes, TEXT, "{codings:?}");
            assert!(
                r.decoded && r.incomplete.is_empty() && r.notes.is_empty(),
                "{r:?}"
            );
        }
    }

    #[test]
    fn unknown_coding_is_skipped_and_the_rest_undone() {
        let (r, bytes) = run(&["gzip", "x-foo"], true, LIMITS(), &gzip(TEXT));
        assert_eq!(bytes, TEXT);
        assert!(r.decoded);
        assert_eq!(r.notes, ["unknown content coding \"x-foo\": skipped"]);
    }

    #[test]
    fn no_decode_keeps_encoded() {
        let enc = gzip(TEXT);
        let (r, bytes) = run(&["gzip"], false, LIMITS(), &enc);
        assert_eq!(bytes, enc);
        assert!(!r.decoded);
    }

    #[test]
    fn unknown_coding_kept_and_noted() {
        let enc = gzip(TEXT);
        let (r, bytes) = run(&["compress"], true, LIMITS(), &enc);
        assert_eq!(bytes, enc);
        assert!(r.notes[0].contains("unknown content coding"));
    }

    #[test]
    fn undecodable_body_falls_back_to_encoded() {
        let (r, bytes) = run(&["gzip"], true, LIMITS(), b"\x1f\x8bnot really gzip at all");
        assert_eq!(bytes, b"\x1f\x8bnot really gzip at all");
        assert!(!r.decoded);
        assert!(
            r.notes.iter().any(|n| n.contains("did not decode")),
            "{r:?}"
        );
    }

    #[test]
    fn gzip_bomb_is_truncated() {
        let zeros = vec![0u8; 50 << 20];
        let enc = gzip(&zeros);
        let limits = Limits {
            max_bytes: 1 << 30,
            max_ratio: 100,
            growth: unbounded(),
        };
        let (r, bytes) = run(&["gzip"], true, limits, &enc);
        assert!(!r.incomplete.is_empty(), "{r:?}");
        assert!(r.incomplete[0].contains("limit"));
        assert!(bytes.len() as u64 <= (enc.len() as u64 * 100).max(RATIO_FLOOR));
        assert!(bytes.iter().all(|&b| b == 0));
        let limits = Limits {
            max_bytes: 12345,
            max_ratio: 1_000_000,
            growth: unbounded(),
        };
        let (r, bytes) = run(&["gzip"], true, limits, &enc);
        assert_eq!(bytes.len(), 12345);
        assert_eq!(r.decoded_len, 12345);
        assert!(!r.incomplete.is_empty());
    }

    #[test]
    fn growth_past_the_runs_bound_cuts_the_body_with_the_reason() {
        // 100,000 bytes that do not compress (more encoded bytes than are
        // kept to fall back on), then 4 MiB of zeros.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut data: Vec<u8> = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        data.resize(data.len() + (4 << 20), 0);
        let enc = gzip(&data);
        // Own credit 2 x 1,000 bytes, shared base 50,000: the body may
        // exceed its encoded bytes by 52,000 in all.
        let run_growth = std::sync::Arc::new(RunGrowth::new(FillBound {
            ratio: 2,
            base: 50_000,
        }));
        let growth = Rc::new(ConnGrowth::new(&run_growth, 1_000));
        let limits = Limits {
            max_bytes: 1 << 30,
            max_ratio: 1_000_000,
            growth,
        };
        let (r, bytes) = run(&["gzip"], true, limits, &enc);
        assert_eq!(r.incomplete, vec![BOUND_NOTE.to_string()], "{r:?}");
        assert!(r.decoded);
        assert_eq!(bytes[..], data[..bytes.len()], "the body's first bytes");
        // Cut where it had grown by 52,000 beyond the encoded bytes read.
        assert_eq!(bytes.len() as u64, 52_000 + r.encoded_len);
        assert_eq!(run_growth.grown(), 52_000);
        assert_eq!((run_growth.cut(), run_growth.not_decoded()), (1, 0));
        // Within the bound, nothing is cut and the growth is counted.
        let roomy = std::sync::Arc::new(RunGrowth::new(FillBound {
            ratio: 2,
            base: 8 << 20,
        }));
        let limits = Limits {
            max_bytes: 1 << 30,
            max_ratio: 1_000_000,
            growth: Rc::new(ConnGrowth::new(&roomy, 0)),
        };
        let (r, bytes) = run(&["gzip"], true, limits, &enc);
        assert!(r.incomplete.is_empty(), "{r:?}");
        assert_eq!(bytes, data);
        // Growth is charged at its peak: the decoded bytes less the
        // encoded ones read when the last came out (the gzip trailer after).
        let peak = roomy.grown() as usize;
        assert!((data.len() - enc.len()..data.len() - enc.len() + 16).contains(&peak));
        assert_eq!(roomy.cut(), 0);
    }

    /// Limits whose account has `room` bytes of growth left in all.
    fn with_room(room: u64) -> (Limits, std::sync::Arc<RunGrowth>) {
        let run = std::sync::Arc::new(RunGrowth::new(FillBound {
            ratio: 1,
            base: room,
        }));
        let limits = Limits {
            max_bytes: 1 << 30,
            max_ratio: 1_000_000,
            growth: Rc::new(ConnGrowth::new(&run, 0)),
        };
        (limits, run)
    }

    #[test]
    fn a_body_met_with_the_bound_spent_is_kept_as_sent() {
        let enc = gzip(&vec![0u8; 1 << 20]);
        let (limits, run_growth) = with_room(0);
        let (r, bytes) = run(&["gzip"], true, limits, &enc);
        assert_eq!(bytes, enc);
        assert!(!r.decoded);
        assert!(r.incomplete.is_empty(), "{r:?}");
        assert_eq!(r.notes, vec![NOT_DECODED_NOTE.to_string()]);
        assert_eq!((run_growth.not_decoded(), run_growth.cut()), (1, 0));
        assert_eq!(run_growth.grown(), 0);
    }

    #[test]
    fn a_brotli_body_starts_only_when_its_window_fits_in_the_bound() {
        let text = vec![b'x'; 100_000];
        let enc = br(&text); // window 4 MiB (lgwin 22)
        assert_eq!(brotli_window(enc[0]), (1 << 22) - 16);
        let (limits, run_growth) = with_room((1 << 22) - 17);
        let (r, bytes) = run(&["br"], true, limits, &enc);
        assert_eq!(bytes, enc, "kept as sent: the window does not fit");
        assert_eq!(r.notes, vec![NOT_DECODED_NOTE.to_string()]);
        assert_eq!(run_growth.not_decoded(), 1);
        let (limits, run_growth) = with_room((1 << 22) - 16);
        let (r, bytes) = run(&["br"], true, limits, &enc);
        assert_eq!(bytes, text);
        assert!(r.decoded && r.incomplete.is_empty(), "{r:?}");
        assert_eq!(run_growth.grown(), (text.len() - enc.len()) as u64);
    }

    #[test]
    fn brotli_windows_are_read_from_the_first_byte() {
        // RFC 7932 9.1: 0 -> 16 bits; xxx1 with n = bits 1-3 -> 17 + n;
        // 0001 with m = bits 4-6 -> 8 + m, 17 for m = 0, large for m = 1.
        assert_eq!(brotli_window(0b0000_0000), (1 << 16) - 16);
        assert_eq!(brotli_window(0b0000_1011), (1 << 22) - 16);
        assert_eq!(brotli_window(0b0000_1111), (1 << 24) - 16);
        assert_eq!(brotli_window(0b0000_0001), (1 << 17) - 16);
        assert_eq!(brotli_window(0b0010_0001), (1 << 10) - 16);
        assert_eq!(brotli_window(0b0001_0001), (1 << 30) - 16);
    }

    #[test]
    fn truncated_gzip_is_flagged() {
        let enc = gzip(&vec![b'a'; 100_000]);
        let (r, _) = run(&["gzip"], true, LIMITS(), &enc[..enc.len() / 2]);
        assert!(!r.incomplete.is_empty(), "{r:?}");
    }

    #[test]
    fn trailing_bytes_after_gzip_are_ignored() {
        let mut enc = gzip(TEXT);
        enc.extend_from_slice(b"\r\n");
        let (r, bytes) = run(&["gzip"], true, LIMITS(), &enc);
        assert_eq!(bytes, TEXT);
        assert!(r.incomplete.is_empty(), "{r:?}");
    }

    #[test]
    fn a_gzip_trailer_that_does_not_match_is_ignored_and_noted() {
        let mut enc = gzip(TEXT);
        let n = enc.len();
        enc[n - 8] ^= 0xff; // CRC-32
        let (r, bytes) = run(&["gzip"], true, LIMITS(), &enc);
        assert_eq!(bytes, TEXT);
        assert!(r.decoded && r.incomplete.is_empty(), "{r:?}");
        assert_eq!(
            r.notes,
            ["gzip trailer (CRC-32 or length) does not match the data: ignored, as browsers do"]
        );
        let (r, bytes) = run(&["gzip"], true, LIMITS(), &enc[..n - 3]);
        assert_eq!(bytes, TEXT);
        assert!(r.incomplete.is_empty(), "{r:?}");
        assert_eq!(
            r.notes,
            ["gzip trailer missing or cut short: ignored, as browsers do"]
        );
    }

    #[test]
    fn gzip_headers_with_name_comment_and_extra_decode() {
        let mut e = flate2::GzBuilder::new()
            .filename("a.txt")
            .comment("made here")
            .extra(vec![1, 2, 3, 4])
            .write(Vec::new(), Compression::default());
        e.write_all(TEXT).unwrap();
        let enc = e.finish().unwrap();
        let (r, bytes) = run(&["gzip"], true, LIMITS(), &enc);
        assert_eq!(bytes, TEXT);
        assert!(r.incomplete.is_empty() && r.notes.is_empty(), "{r:?}");
        assert_eq!(
            gzip_header_len(&[0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0]),
            Err(())
        );
        assert_eq!(
            gzip_header_len(&[0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 0, b'a']),
            Ok(None)
        );
    }

    #[test]
    fn empty_body_writes_no_file() {
        let (r, bytes) = run(&["gzip"], true, LIMITS(), b"");
        assert!(!r.file_written);
        assert!(bytes.is_empty());
    }
}
