//! Console output (`-c`, `-C`, `-D`): each direction's bytes printed to
//! standard output as they are reassembled, in stream order, instead of
//! being written to files.
//!
//! Owns: the console formats. Must not: decide what is written when (the
//! flow table does) or touch files.
//!
//! Every call to [`ConsoleSink::write`] is one *run*: the bytes that just
//! became contiguous in one direction. Formats, per run:
//!
//! - `-c` (text, prefixed): `NAME: ` then the bytes, then a newline.
//! - `-C` (text, bare): the bytes, then a newline.
//! - `-D` (hex): with `-c` or alone, a line `NAME:` first; then lines of 16
//!   bytes, `OOOOOOOO: ` (the stream offset of the line's first byte, 8 or
//!   more hex digits), the bytes in hex in groups of two separated by a
//!   space and padded to 39 columns, two spaces, and the bytes as text
//!   (`.` for anything outside `0x20..=0x7e`).
//!
//! In the text formats bytes outside `0x20..=0x7e` other than `\n`, `\r`
//! and `\t` are printed as `.`, unless raw output (`-B`, `--raw`) is asked
//! for. A zero-filled gap (bytes never captured) is not printed as bytes:
//! it is a run of its own, `NAME: [N bytes missing]` (`-c`),
//! `[N bytes missing]` (`-C`) or `OOOOOOOO: [N bytes missing]` (`-D`).

use super::files::FileId;
use super::report::DirectionRecord;
use super::tally::{Naming, Tally};
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, StreamConsumer};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// Which console format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleFormat {
    /// `-c`: each run prefixed with the flow name.
    Prefixed,
    /// `-C`: the bytes alone.
    Bare,
    /// `-D` (alone or with `-c`): a hex dump under a `NAME:` line.
    Hex,
    /// `-C -D`: a hex dump without the name line.
    BareHex,
}

/// Console settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// The format.
    pub format: ConsoleFormat,
    /// Print bytes as they are (text formats only).
    pub raw: bool,
}

struct Flow {
    name: String,
    offset: u64,
}

/// Prints directions to a writer (standard output in the binary).
pub struct ConsoleSink {
    out: Box<dyn Write + Send>,
    options: ConsoleOptions,
    flows: HashMap<FileId, Flow>,
    next_id: FileId,
    flush_each: bool,
    line: Vec<u8>,
}

impl ConsoleSink {
    /// A sink printing to standard output. With `flush_each`, output is
    /// flushed after every run (live capture).
    pub fn stdout(options: ConsoleOptions, flush_each: bool) -> ConsoleSink {
        ConsoleSink::new(
            Box::new(std::io::BufWriter::with_capacity(
                64 << 10,
                std::io::stdout(),
            )),
            options,
            flush_each,
        )
    }

    /// A sink printing to `out`.
    pub fn new(out: Box<dyn Write + Send>, options: ConsoleOptions, flush_each: bool) -> Self {
        ConsoleSink {
            out,
            options,
            flows: HashMap::new(),
            next_id: super::files::FIRST_FILE_ID,
            flush_each,
            line: Vec::with_capacity(128),
        }
    }

    /// Start a direction named `name`.
    pub fn create(&mut self, name: String) -> FileId {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        self.flows.insert(id, Flow { name, offset: 0 });
        id
    }

    /// Print one run of direction `id`.
    pub fn write(&mut self, id: FileId, data: &[u8]) -> Result<(), Error> {
        let Some(flow) = self.flows.get_mut(&id) else {
            return Ok(());
        };
        let out = &mut self.out;
        let result = match self.options.format {
            ConsoleFormat::Prefixed | ConsoleFormat::Bare => {
                let prefixed = self.options.format == ConsoleFormat::Prefixed;
                text_run(out, prefixed.then_some(&flow.name), data, self.options.raw)
            }
            ConsoleFormat::Hex | ConsoleFormat::BareHex => {
                let named = self.options.format == ConsoleFormat::Hex;
                hex_run(
                    out,
                    &mut self.line,
                    named.then_some(&flow.name),
                    flow.offset,
                    data,
                )
            }
        };
        flow.offset += data.len() as u64;
        result.map_err(stdout_error)?;
        self.after_run()
    }

    /// Note `n` bytes that never arrived in direction `id`.
    pub fn write_gap(&mut self, id: FileId, n: u64) -> Result<(), Error> {
        let Some(flow) = self.flows.get_mut(&id) else {
            return Ok(());
        };
        let result = match self.options.format {
            ConsoleFormat::Prefixed => writeln!(self.out, "{}: [{n} bytes missing]", flow.name),
            ConsoleFormat::Bare => writeln!(self.out, "[{n} bytes missing]"),
            ConsoleFormat::Hex => writeln!(
                self.out,
                "{}:\n{:08x}: [{n} bytes missing]",
                flow.name, flow.offset
            ),
            ConsoleFormat::BareHex => {
                writeln!(self.out, "{:08x}: [{n} bytes missing]", flow.offset)
            }
        };
        flow.offset += n;
        result.map_err(stdout_error)?;
        self.after_run()
    }

    /// Forget direction `id` (it closed).
    pub fn close(&mut self, id: FileId) {
        self.flows.remove(&id);
    }

    /// Flush what was printed.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(stdout_error)
    }

    fn after_run(&mut self) -> Result<(), Error> {
        if self.flush_each {
            self.flush()
        } else {
            Ok(())
        }
    }
}

/// The console consumer: every piece printed as it comes, in the order
/// pieces of all directions come (`-c`, `-C`, `-D`), with the same byte
/// count, sha256 and report record as a flow file would have.
pub struct ConsoleFlows {
    sink: ConsoleSink,
    naming: Naming,
    max_bytes: Option<u64>,
    md5: bool,
}

/// What [`ConsoleFlows`] keeps for one direction.
#[derive(Default)]
pub struct ConsoleStream {
    /// The direction's id in the sink and its name, once printed.
    flow: Option<(FileId, String)>,
    tally: Tally,
}

impl ConsoleFlows {
    /// Print to `sink`, naming directions by `naming`, at most `max_bytes` each.
    pub fn new(sink: ConsoleSink, naming: Naming, max_bytes: Option<u64>) -> ConsoleFlows {
        ConsoleFlows {
            sink,
            naming,
            max_bytes,
            md5: false,
        }
    }

    /// Also hash every direction with MD5 (for the reports) when `on`.
    pub fn with_md5(mut self, on: bool) -> ConsoleFlows {
        self.md5 = on;
        self
    }

    fn flow_id(&mut self, s: &mut ConsoleStream, info: &DirectionInfo<'_>) -> FileId {
        if let Some((id, _)) = &s.flow {
            return *id;
        }
        let name = self.naming.name(info, info.counter);
        let id = self.sink.create(name.clone());
        self.naming.opened(&name, info);
        s.flow = Some((id, name));
        id
    }
}

impl StreamConsumer for ConsoleFlows {
    type Stream = ConsoleStream;

    fn piece(
        &mut self,
        s: &mut ConsoleStream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        s.tally.want_md5(self.md5);
        let Some(piece) = s.tally.take(piece, self.max_bytes) else {
            return Ok(());
        };
        let id = self.flow_id(s, info);
        let len = match piece {
            Piece::Data(d) => {
                self.sink.write(id, d)?;
                d.len() as u64
            }
            Piece::Gap(n) => {
                self.sink.write_gap(id, n)?;
                n
            }
        };
        s.tally.count(len);
        Ok(())
    }

    fn close(
        &mut self,
        mut s: ConsoleStream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let Some((id, name)) = s.flow.take() else {
            return Ok(None);
        };
        self.sink.close(id);
        Ok(Some(s.tally.record(name, info, end)))
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.sink.flush()
    }
}

fn stdout_error(source: std::io::Error) -> Error {
    Error::Write {
        path: PathBuf::from("standard output"),
        source,
    }
}

/// True for bytes printed as themselves in the text formats.
fn printable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t')
}

fn text_run(
    out: &mut dyn Write,
    name: Option<&String>,
    data: &[u8],
    raw: bool,
) -> std::io::Result<()> {
    if let Some(name) = name {
        out.write_all(name.as_bytes())?;
        out.write_all(b": ")?;
    }
    if raw {
        out.write_all(data)?;
    } else {
        let mut rest = data;
        while !rest.is_empty() {
            let good = rest
                .iter()
                .position(|&b| !printable(b))
                .unwrap_or(rest.len());
            out.write_all(&rest[..good])?;
            let bad = rest[good..]
                .iter()
                .position(|&b| printable(b))
                .unwrap_or(rest.len() - good);
            for _ in 0..bad {
                out.write_all(b".")?;
            }
            rest = &rest[good + bad..];
        }
    }
    out.write_all(b"\n")
}

fn hex_run(
    out: &mut dyn Write,
    line: &mut Vec<u8>,
    name: Option<&String>,
    offset: u64,
    data: &[u8],
) -> std::io::Result<()> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    if let Some(name) = name {
        out.write_all(name.as_bytes())?;
        out.write_all(b":\n")?;
    }
    for (i, chunk) in data.chunks(16).enumerate() {
        line.clear();
        let _ = write!(line, "{:08x}: ", offset + (i as u64) * 16);
        for (j, &b) in chunk.iter().enumerate() {
            if j > 0 && j % 2 == 0 {
                line.push(b' ');
            }
            line.push(DIGITS[usize::from(b >> 4)]);
            line.push(DIGITS[usize::from(b & 15)]);
        }
        // 16 bytes take 32 digits and 7 spaces.
        let width = chunk.len() * 2 + chunk.len().saturating_sub(1) / 2;
        line.resize(line.len() + (39 - width) + 2, b' ');
        line.extend(
            chunk
                .iter()
                .map(|&b| if (0x20..=0x7e).contains(&b) { b } else { b'.' }),
        );
        line.push(b'\n');
        out.write_all(line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::shared_buffer::Shared;

    fn printed(format: ConsoleFormat, raw: bool, runs: &[&[u8]]) -> String {
        let buf = Shared::default();
        let mut sink =
            ConsoleSink::new(Box::new(buf.clone()), ConsoleOptions { format, raw }, false);
        let id = sink.create("a-b".into());
        for r in runs {
            sink.write(id, r).unwrap();
        }
        sink.write_gap(id, 3).unwrap();
        sink.flush().unwrap();
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn prefixed_text_replaces_non_printables() {
        let s = printed(
            ConsoleFormat::Prefixed,
            false,
            &[b"GET /\r\n", b"\x00\x01ok\xff"],
        );
        assert_eq!(s, "a-b: GET /\r\n\na-b: ..ok.\na-b: [3 bytes missing]\n");
    }

    #[test]
    fn bare_raw_text_keeps_bytes() {
        let buf = printed(ConsoleFormat::Bare, true, &[b"x\x01y"]);
        assert_eq!(buf, "x\u{1}y\n[3 bytes missing]\n");
    }

    #[test]
    fn hex_dump_lines_carry_stream_offsets() {
        let s = printed(
            ConsoleFormat::Hex,
            false,
            &[b"0123456789abcdefXYZ", b"\x00q"],
        );
        let expected = "a-b:\n\
00000000: 3031 3233 3435 3637 3839 6162 6364 6566  0123456789abcdef\n\
00000010: 5859 5a                                  XYZ\n\
a-b:\n\
00000013: 0071                                     .q\n\
a-b:\n\
00000015: [3 bytes missing]\n";
        assert_eq!(s, expected);
    }

    #[test]
    fn bare_hex_has_no_name_lines() {
        let s = printed(ConsoleFormat::BareHex, false, &[b"A"]);
        assert_eq!(
            s,
            "00000000: 41                                       A\n00000001: [3 bytes missing]\n"
        );
    }
}
