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
//! - `-J` with `-c` or `-C` (JSON, tcpflow's format): one object per run,
//!   `{"src_host":"10.0.0.1","src_port":40000,"dst_host":"10.0.0.2","dst_port":80,"payload": [71,69,84]}`,
//!   the bytes as decimal numbers, then a newline.
//!
//! In the text formats bytes outside `0x20..=0x7e` other than `\n`, `\r`
//! and `\t` are printed as `.`, unless raw output (`-B`, `--raw`) is asked
//! for. With `-0` the newline ending a text or JSON run is left out; with
//! `-g` every run is coloured as tcpflow colours it, blue (`ESC[0;34m`) for
//! a direction whose first packet was a SYN without ACK, red (`ESC[0;31m`)
//! for the others, up to `ESC[0m` before the newline. With `-L NAME` each
//! run is printed and flushed holding the named POSIX semaphore NAME
//! ([`super::semlock`]), so several processes printing to one terminal do
//! not mix their runs. A zero-filled gap (bytes never captured) is not printed as bytes:
//! it is a run of its own, `NAME: [N bytes missing]` (`-c`),
//! `[N bytes missing]` (`-C`), `OOOOOOOO: [N bytes missing]` (`-D`) or
//! the JSON object with `"missing": N` in place of the payload (`-J`).

use super::files::FileId;
use super::report::DirectionRecord;
use super::tally::{Naming, Tally};
use crate::decode::TcpTuple;
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
    /// `-J` (with `-c` or `-C`): one JSON object per run, as tcpflow's.
    Json,
}

/// Console settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// The format.
    pub format: ConsoleFormat,
    /// Print bytes as they are (text formats only).
    pub raw: bool,
    /// End each text or JSON run with a newline (not with `-0`).
    pub newline: bool,
    /// Colour each run by its direction (`-g`).
    pub colour: bool,
    /// Print each run holding this named POSIX semaphore (`-L`).
    pub semlock: Option<String>,
}

impl ConsoleOptions {
    /// `format` with the defaults: non-printables as `.`, a newline after
    /// each run, no colour, no semaphore.
    pub fn new(format: ConsoleFormat) -> ConsoleOptions {
        ConsoleOptions {
            format,
            raw: false,
            newline: true,
            colour: false,
            semlock: None,
        }
    }
}

struct Flow {
    name: String,
    offset: u64,
    /// The JSON object's opening up to the payload (`-J` only).
    json_head: String,
    /// Blue with `-g`.
    client: bool,
}

/// Colours of `-g`, as tcpflow's: client to server, server to client, reset.
const BLUE: &[u8] = b"\x1b[0;34m";
const RED: &[u8] = b"\x1b[0;31m";
const RESET: &[u8] = b"\x1b[0m";

/// Prints directions to a writer (standard output in the binary).
pub struct ConsoleSink {
    out: Box<dyn Write + Send>,
    options: ConsoleOptions,
    flows: HashMap<FileId, Flow>,
    next_id: FileId,
    flush_each: bool,
    line: Vec<u8>,
    semlock: Option<super::semlock::Semlock>,
}

impl ConsoleSink {
    /// A sink printing to standard output. With `flush_each`, output is
    /// flushed after every run (live capture). Fails when the semaphore of
    /// `-L` cannot be opened.
    pub fn stdout(options: ConsoleOptions, flush_each: bool) -> Result<ConsoleSink, Error> {
        ConsoleSink::new(
            Box::new(std::io::BufWriter::with_capacity(
                64 << 10,
                std::io::stdout(),
            )),
            options,
            flush_each,
        )
    }

    /// A sink printing to `out`. Fails when the semaphore of `-L` cannot be opened.
    pub fn new(
        out: Box<dyn Write + Send>,
        options: ConsoleOptions,
        flush_each: bool,
    ) -> Result<Self, Error> {
        let semlock = options
            .semlock
            .as_deref()
            .map(super::semlock::Semlock::open)
            .transpose()?;
        Ok(ConsoleSink {
            out,
            options,
            flows: HashMap::new(),
            next_id: super::files::FIRST_FILE_ID,
            // Under a semaphore every run is flushed before it is let go.
            flush_each: flush_each || semlock.is_some(),
            line: Vec::with_capacity(128),
            semlock,
        })
    }

    /// Start the direction `tuple` named `name`; `client` when its first
    /// packet was a SYN without ACK.
    pub fn create(&mut self, name: String, tuple: &TcpTuple, client: bool) -> FileId {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let json_head = if self.options.format == ConsoleFormat::Json {
            format!(
                "{{\"src_host\":\"{}\",\"src_port\":{},\"dst_host\":\"{}\",\"dst_port\":{},",
                tuple.src, tuple.sport, tuple.dst, tuple.dport
            )
        } else {
            String::new()
        };
        self.flows.insert(
            id,
            Flow {
                name,
                offset: 0,
                json_head,
                client,
            },
        );
        id
    }

    /// Print one run of direction `id`.
    pub fn write(&mut self, id: FileId, data: &[u8]) -> Result<(), Error> {
        self.run(id, Run::Data(data))
    }

    /// Note `n` bytes that never arrived in direction `id`.
    pub fn write_gap(&mut self, id: FileId, n: u64) -> Result<(), Error> {
        self.run(id, Run::Gap(n))
    }

    /// Print one run of direction `id`, under the semaphore if any.
    fn run(&mut self, id: FileId, run: Run<'_>) -> Result<(), Error> {
        let Some(flow) = self.flows.get_mut(&id) else {
            return Ok(());
        };
        let _held = self.semlock.as_ref().map(|s| s.hold()).transpose()?;
        let result = print_run(&mut self.out, &mut self.line, &self.options, flow, run);
        flow.offset += match run {
            Run::Data(d) => d.len() as u64,
            Run::Gap(n) => n,
        };
        result.map_err(stdout_error)?;
        if self.flush_each {
            // Flushed before the semaphore is let go.
            self.out.flush().map_err(stdout_error)?;
        }
        Ok(())
    }

    /// Forget direction `id` (it closed).
    pub fn close(&mut self, id: FileId) {
        self.flows.remove(&id);
    }

    /// Flush what was printed.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(stdout_error)
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
        let id = self.sink.create(name.clone(), &info.tuple, info.client);
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
        let Some(piece) = s.tally.take(piece, self.max_bytes, self.md5) else {
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
            // Noted like a gap (hex offsets stay stream offsets), counted as nothing.
            Piece::Jump(n) => {
                self.sink.write_gap(id, n)?;
                0
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

/// What one run prints: bytes that arrived, or a count of missing ones.
#[derive(Clone, Copy)]
enum Run<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

/// Print `run` of `flow` in the format of `options`, coloured and ended
/// as they say.
fn print_run(
    out: &mut dyn Write,
    line: &mut Vec<u8>,
    options: &ConsoleOptions,
    flow: &Flow,
    run: Run<'_>,
) -> std::io::Result<()> {
    if options.colour {
        out.write_all(if flow.client { BLUE } else { RED })?;
    }
    let name = &flow.name;
    let mut newline = options.newline;
    match (options.format, run) {
        (ConsoleFormat::Prefixed, Run::Data(d)) => text_run(out, Some(name), d, options.raw)?,
        (ConsoleFormat::Bare, Run::Data(d)) => text_run(out, None, d, options.raw)?,
        (ConsoleFormat::Prefixed, Run::Gap(n)) => write!(out, "{name}: [{n} bytes missing]")?,
        (ConsoleFormat::Bare, Run::Gap(n)) => write!(out, "[{n} bytes missing]")?,
        (ConsoleFormat::Json, run) => {
            out.write_all(flow.json_head.as_bytes())?;
            match run {
                Run::Data(d) => {
                    out.write_all(b"\"payload\": [")?;
                    for (i, b) in d.iter().enumerate() {
                        if i > 0 {
                            out.write_all(b",")?;
                        }
                        write!(out, "{b}")?;
                    }
                    out.write_all(b"]}")?;
                }
                Run::Gap(n) => write!(out, "\"missing\": {n}}}")?,
            }
        }
        (ConsoleFormat::Hex | ConsoleFormat::BareHex, run) => {
            // Hex lines end with their own newlines.
            newline = false;
            let named = (options.format == ConsoleFormat::Hex).then_some(name);
            match run {
                Run::Data(d) => hex_run(out, line, named, flow.offset, d)?,
                Run::Gap(n) => {
                    if let Some(name) = named {
                        writeln!(out, "{name}:")?;
                    }
                    writeln!(out, "{:08x}: [{n} bytes missing]", flow.offset)?;
                }
            }
        }
    }
    if options.colour {
        out.write_all(RESET)?;
    }
    if newline {
        out.write_all(b"\n")?;
    }
    Ok(())
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
    Ok(())
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
        let options = ConsoleOptions {
            raw,
            ..ConsoleOptions::new(format)
        };
        printed_with(options, runs)
    }

    fn tuple() -> TcpTuple {
        TcpTuple {
            src: "10.0.0.1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            sport: 40000,
            dport: 80,
            vlan: None,
            tunnel: 0,
        }
    }

    fn printed_with(options: ConsoleOptions, runs: &[&[u8]]) -> String {
        let buf = Shared::default();
        let mut sink = ConsoleSink::new(Box::new(buf.clone()), options, false).unwrap();
        let id = sink.create("a-b".into(), &tuple(), true);
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

    #[test]
    fn json_runs_are_tcpflows_objects() {
        let s = printed(ConsoleFormat::Json, false, &[b"GE", b"\x00"]);
        let head =
            r#"{"src_host":"10.0.0.1","src_port":40000,"dst_host":"2001:db8::2","dst_port":80,"#;
        assert_eq!(
            s,
            format!(
                "{head}\"payload\": [71,69]}}\n{head}\"payload\": [0]}}\n{head}\"missing\": 3}}\n"
            )
        );
    }

    #[test]
    fn colour_and_no_newline() {
        let options = ConsoleOptions {
            colour: true,
            newline: false,
            ..ConsoleOptions::new(ConsoleFormat::Prefixed)
        };
        let s = printed_with(options, &[b"hi"]);
        assert_eq!(
            s,
            "\x1b[0;34ma-b: hi\x1b[0m\x1b[0;34ma-b: [3 bytes missing]\x1b[0m"
        );
    }
}
