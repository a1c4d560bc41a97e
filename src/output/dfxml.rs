//! The DFXML report (`report.xml`, `-X FILE`), as tcpflow 1.6.1 writes it:
//! one `fileobject` per direction, fed from the same records as the JSON
//! Lines report and in the same order, so that scripts that read
//! tcpflow's report read flowsplit's.
//!
//! Each `fileobject` holds `filename` (tcpflow's path: the output folder
//! and the file's name, see [`tcpflow_path`]; left out with `-F X`, which
//! writes no file), `filesize`, the `tcpflow` element with tcpflow's
//! attributes (`startime`, `endtime`, `family`, `src_ipn`, `dst_ipn`,
//! `srcport`, `dstport`, `packets`), `hashdigest type="MD5"` when MD5 is
//! on, and with HTTP carving a `byte_runs` element naming each body carved
//! from the flow file (`byte_run file_offset=`, the body's `filename` and
//! `filesize`).
//!
//! Owns: the document's layout and its writing. The XML is written with
//! quick-xml's indenting writer, so names are escaped whatever a template
//! puts in them; each `fileobject`, one per closed direction, is written
//! straight in the bytes that writer would give it, escaped by quick-xml
//! (a test holds the two to the same bytes), which costs the thread that
//! writes the report a fraction of building an event per element.
//! Bodies are known only once carving has run, after the directions
//! closed: with carving on, records are kept in a side file next to the
//! report (`FILE.part`, one JSON line each) and the document is written at
//! [`DfxmlReport::finish`], with each flow's bodies (held in memory: a
//! few dozen bytes per body). Without carving it is written as directions
//! close. Must not: decide what a record says (the tally does).

use super::alerts::tcpflow_path;
use super::report::DirectionRecord;
use crate::error::Error;
use quick_xml::escape::escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The DFXML report's file name in the output folder when `-X` is not given.
pub const DEFAULT_DFXML_NAME: &str = "report.xml";

/// One carved HTTP body, as a `byte_run` of the flow file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteRun {
    /// The flow file, relative to the output folder (a record's `file`).
    pub flow: String,
    /// Offset of the body's first byte in the flow file.
    pub file_offset: u64,
    /// The body file, relative to the output folder.
    pub file: String,
    /// Bytes in the body file.
    pub filesize: u64,
}

/// What a DFXML report needs besides the records.
#[derive(Debug, Clone)]
pub struct DfxmlOptions {
    /// The output folder file names are joined to; `None` when no flow
    /// file is written (`-F X`), which leaves `filename` out, as tcpflow does.
    pub outdir: Option<PathBuf>,
    /// HTTP bodies will be carved: keep the records until they are known.
    pub byte_runs: bool,
}

/// The DFXML report being written; cloned handles write to the same file.
#[derive(Clone)]
pub struct DfxmlReport(Arc<Mutex<State>>);

impl std::fmt::Debug for DfxmlReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DfxmlReport")
    }
}

struct State {
    path: PathBuf,
    outdir: Option<PathBuf>,
    /// The document, once its head is written (without carving).
    xml: Option<Writer<BufWriter<File>>>,
    /// The side file of records, with carving.
    part: Option<(PathBuf, BufWriter<File>)>,
}

impl DfxmlReport {
    /// Create (or truncate) the report at `path`, never through a symbolic link.
    pub fn create(path: &Path, options: DfxmlOptions) -> Result<DfxmlReport, Error> {
        let mut state = State {
            path: path.to_path_buf(),
            outdir: options.outdir,
            xml: None,
            part: None,
        };
        let file = super::files::create_truncated(path).map_err(|e| state.error(e))?;
        if options.byte_runs {
            let mut part_path = path.as_os_str().to_os_string();
            part_path.push(".part");
            let part_path = PathBuf::from(part_path);
            let part =
                super::files::create_truncated(&part_path).map_err(|source| Error::Write {
                    path: part_path.clone(),
                    source,
                })?;
            drop(file);
            state.part = Some((part_path, BufWriter::new(part)));
        } else {
            let mut xml = Writer::new_with_indent(BufWriter::new(file), b' ', 2);
            head(&mut xml).map_err(|e| state.error(e))?;
            state.xml = Some(xml);
        }
        Ok(DfxmlReport(Arc::new(Mutex::new(state))))
    }

    /// Add one direction's `fileobject`.
    pub fn record(&self, record: &DirectionRecord) -> Result<(), Error> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        if let Some((path, part)) = state.part.as_mut() {
            let wrap = |source| Error::Write {
                path: path.clone(),
                source,
            };
            serde_json::to_writer(&mut *part, record).map_err(|e| wrap(e.into()))?;
            return part.write_all(b"\n").map_err(wrap);
        }
        let outdir = state.outdir.clone();
        let result = match state.xml.as_mut() {
            Some(xml) => fileobject(xml, record, outdir.as_deref(), &[]),
            None => Ok(()),
        };
        result.map_err(|e| state.error(e))
    }

    /// Flush what was written so far (live capture).
    pub fn flush(&self) -> Result<(), Error> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let result = match (state.xml.as_mut(), state.part.as_mut()) {
            (Some(xml), _) => xml.get_mut().flush(),
            (None, Some((_, part))) => part.flush(),
            (None, None) => Ok(()),
        };
        result.map_err(|e| state.error(e))
    }

    /// Write the rest of the document: with carving, every record kept with
    /// the bodies in `runs` that came from its flow file; then the closing
    /// tags. Later calls do nothing.
    pub fn finish(&self, runs: &[ByteRun]) -> Result<(), Error> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        if let Some((part_path, part)) = state.part.take() {
            let result = write_deferred(state, &part_path, part, runs);
            let _ = std::fs::remove_file(&part_path);
            result?;
        }
        let Some(mut xml) = state.xml.take() else {
            return Ok(());
        };
        let result = xml
            .write_event(Event::End(BytesEnd::new("configuration")))
            .and_then(|()| xml.write_event(Event::End(BytesEnd::new("dfxml"))))
            .and_then(|()| {
                let out = xml.get_mut();
                out.write_all(b"\n")?;
                out.flush()
            });
        result.map_err(|e| state.error(e))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, Error> {
        self.0
            .lock()
            .map_err(|_| Error::Internal("the DFXML report's lock was poisoned".into()))
    }
}

impl State {
    fn error(&self, source: io::Error) -> Error {
        Error::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// Write the head and every kept record, with its bodies.
fn write_deferred(
    state: &mut State,
    part_path: &Path,
    part: BufWriter<File>,
    runs: &[ByteRun],
) -> Result<(), Error> {
    let read_error = |source| Error::Read {
        path: part_path.to_path_buf(),
        source,
    };
    let part = part.into_inner().map_err(|e| read_error(e.into_error()))?;
    drop(part);
    let mut by_flow: HashMap<&str, Vec<&ByteRun>> = HashMap::new();
    for run in runs {
        by_flow.entry(run.flow.as_str()).or_default().push(run);
    }
    let file = super::files::create_truncated(&state.path).map_err(|e| state.error(e))?;
    let mut xml = Writer::new_with_indent(BufWriter::new(file), b' ', 2);
    head(&mut xml).map_err(|e| state.error(e))?;
    let reader = BufReader::new(File::open(part_path).map_err(read_error)?);
    for line in reader.lines() {
        let line = line.map_err(read_error)?;
        if line.is_empty() {
            continue;
        }
        let record: DirectionRecord =
            serde_json::from_str(&line).map_err(|e| read_error(e.into()))?;
        let runs = by_flow.get(record.file.as_str()).map_or(&[][..], |v| v);
        fileobject(&mut xml, &record, state.outdir.as_deref(), runs).map_err(|e| state.error(e))?;
    }
    state.xml = Some(xml);
    Ok(())
}

/// The XML declaration, the metadata, the creator, and the opening of the
/// `configuration` that holds the fileobjects (tcpflow's layout).
fn head<W: Write>(xml: &mut Writer<W>) -> io::Result<()> {
    xml.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    xml.write_event(Event::Start(
        BytesStart::new("dfxml").with_attributes([("xmloutputversion", "1.0")]),
    ))?;
    xml.create_element("metadata")
        .with_attributes([
            ("xmlns", "http://afflib.org/tcpflow/"),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xmlns:dc", "http://purl.org/dc/elements/1.1/"),
        ])
        .write_inner_content(|w| {
            w.create_element("dc:type")
                .write_text_content(BytesText::new("Feature Extraction"))?;
            Ok::<(), io::Error>(())
        })?;
    xml.create_element("creator")
        .with_attribute(("version", "1.0"))
        .write_inner_content(|w| {
            w.create_element("program")
                .write_text_content(BytesText::new("flowsplit"))?;
            w.create_element("version")
                .write_text_content(BytesText::new(env!("CARGO_PKG_VERSION")))?;
            Ok::<(), io::Error>(())
        })?;
    xml.write_event(Event::Start(BytesStart::new("configuration")))
}

/// One direction's `fileobject`, written straight to `xml`'s output in
/// the bytes quick-xml's indenting writer would give it (two spaces a
/// level, the `fileobject` at level 2, escaping with
/// [`quick_xml::escape::escape`]; a test holds the two to the same
/// bytes). Every closed direction passes here, in the thread that writes
/// the report, so it is written without building an event per element.
/// The writer's own state is the same before and after: a `fileobject`
/// ends where it began, at level 2, after a closing tag.
fn fileobject<W: Write>(
    xml: &mut Writer<W>,
    r: &DirectionRecord,
    outdir: Option<&Path>,
    runs: &[&ByteRun],
) -> io::Result<()> {
    let out = xml.get_mut();
    out.write_all(b"\n    <fileobject>")?;
    if let Some(outdir) = outdir {
        out.write_all(b"\n      <filename>")?;
        out.write_all(escape(tcpflow_path(outdir, &r.file)).as_bytes())?;
        out.write_all(b"</filename>")?;
    }
    write!(out, "\n      <filesize>{}</filesize>", r.bytes)?;
    let family = if r.src.contains(':') { "10" } else { "2" };
    out.write_all(b"\n      <tcpflow startime=\"")?;
    out.write_all(escape(iso8601(&r.first_ts)).as_bytes())?;
    out.write_all(b"\" endtime=\"")?;
    out.write_all(escape(iso8601(&r.last_ts)).as_bytes())?;
    write!(out, "\" family=\"{family}\" src_ipn=\"")?;
    out.write_all(escape(r.src.as_str()).as_bytes())?;
    out.write_all(b"\" dst_ipn=\"")?;
    out.write_all(escape(r.dst.as_str()).as_bytes())?;
    write!(
        out,
        "\" srcport=\"{}\" dstport=\"{}\" packets=\"{}\"/>",
        r.sport, r.dport, r.packets
    )?;
    if let Some(md5) = &r.md5 {
        out.write_all(b"\n      <hashdigest type=\"MD5\">")?;
        out.write_all(escape(md5.as_str()).as_bytes())?;
        out.write_all(b"</hashdigest>")?;
    }
    if !runs.is_empty() {
        out.write_all(b"\n      <byte_runs>")?;
        for run in runs {
            let name = match outdir {
                Some(o) => tcpflow_path(o, &run.file),
                None => run.file.clone(),
            };
            write!(
                out,
                "\n        <byte_run file_offset=\"{}\">\n          <fileobject>\n            <filename>",
                run.file_offset
            )?;
            out.write_all(escape(name).as_bytes())?;
            write!(
                out,
                "</filename>\n            <filesize>{}</filesize>\n          </fileobject>\n        </byte_run>",
                run.filesize
            )?;
        }
        out.write_all(b"\n      </byte_runs>")?;
    }
    out.write_all(b"\n    </fileobject>")
}

/// A report time (`SECS.NANOS`) as tcpflow writes it: ISO 8601 in UTC,
/// with microseconds unless they are zero (`2023-11-14T22:13:20Z`,
/// `2023-11-14T22:13:20.008000Z`).
fn iso8601(ts: &str) -> String {
    let (secs, nanos) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = secs.parse().unwrap_or(0);
    let nanos: u32 = nanos.parse().unwrap_or(0);
    let mut out = String::with_capacity(27);
    let _ = super::naming::write_iso8601(&mut out, crate::capture::Timestamp { secs, nanos });
    let micros = nanos / 1000;
    if micros != 0 {
        use std::fmt::Write as _;
        out.pop();
        let _ = write!(out, ".{micros:06}Z");
    }
    out
}

/// The bodies listed in every `http.jsonl` index under `outdir`, as
/// `byte_run`s of the flow files they came from (names relative to
/// `outdir`), in the indexes' order. Request and response bodies both;
/// bodies that wrote no file are left out. A chunked body's offset is that
/// of its first chunk's data, as tcpflow gives it.
pub fn carved_bodies(outdir: &Path) -> Result<Vec<ByteRun>, Error> {
    let mut runs = Vec::new();
    for entry in walkdir::WalkDir::new(outdir).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Read {
            path: outdir.to_path_buf(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() || entry.file_name() != crate::http::INDEX_NAME {
            continue;
        }
        let folder = entry
            .path()
            .parent()
            .and_then(|p| p.strip_prefix(outdir).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let join = |name: &str| {
            if folder.is_empty() {
                name.to_string()
            } else {
                format!("{folder}/{name}")
            }
        };
        let read_error = |source| Error::Read {
            path: entry.path().to_path_buf(),
            source,
        };
        let reader = BufReader::new(File::open(entry.path()).map_err(read_error)?);
        for line in reader.lines() {
            let line = line.map_err(read_error)?;
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            for (flow, body) in [
                ("request_file", "request_body"),
                ("response_file", "response_body"),
            ] {
                let (Some(flow), Some(body)) = (v[flow].as_str(), v.get(body)) else {
                    continue;
                };
                let Some(file) = body["file"].as_str() else {
                    continue;
                };
                let mut file_offset = body["offset"].as_u64().unwrap_or(0);
                if body["framing"] == "chunked" {
                    // tcpflow's offset is that of the first chunk's data.
                    file_offset += chunk_line_len(&outdir.join(join(flow)), file_offset);
                }
                runs.push(ByteRun {
                    flow: join(flow),
                    file_offset,
                    file: join(file),
                    filesize: body["decoded_length"].as_u64().unwrap_or(0),
                });
            }
        }
    }
    Ok(runs)
}

/// The length of the chunk-size line (up to and with its line feed) at
/// `offset` in the flow file at `path`; 0 when there is none to read.
fn chunk_line_len(path: &Path, offset: u64) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let mut line = [0u8; 1024];
    let read = File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.read(&mut line)
    });
    let n = read.unwrap_or(0);
    line[..n]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |i| i as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::report::End;

    /// One direction's `fileobject` through quick-xml's writer, as it was
    /// written before [`fileobject`] wrote the bytes itself: the oracle.
    fn fileobject_by_events<W: Write>(
        xml: &mut Writer<W>,
        r: &DirectionRecord,
        outdir: Option<&Path>,
        runs: &[&ByteRun],
    ) -> io::Result<()> {
        xml.create_element("fileobject").write_inner_content(|w| {
            if let Some(outdir) = outdir {
                w.create_element("filename")
                    .write_text_content(BytesText::new(&tcpflow_path(outdir, &r.file)))?;
            }
            w.create_element("filesize")
                .write_text_content(BytesText::new(&r.bytes.to_string()))?;
            let family = if r.src.contains(':') { "10" } else { "2" };
            let (sport, dport, packets) = (
                r.sport.to_string(),
                r.dport.to_string(),
                r.packets.to_string(),
            );
            w.create_element("tcpflow")
                .with_attributes([
                    ("startime", iso8601(&r.first_ts).as_str()),
                    ("endtime", iso8601(&r.last_ts).as_str()),
                    ("family", family),
                    ("src_ipn", r.src.as_str()),
                    ("dst_ipn", r.dst.as_str()),
                    ("srcport", sport.as_str()),
                    ("dstport", dport.as_str()),
                    ("packets", packets.as_str()),
                ])
                .write_empty()?;
            if let Some(md5) = &r.md5 {
                w.create_element("hashdigest")
                    .with_attribute(("type", "MD5"))
                    .write_text_content(BytesText::new(md5))?;
            }
            if !runs.is_empty() {
                w.create_element("byte_runs").write_inner_content(|w| {
                    for run in runs {
                        let offset = run.file_offset.to_string();
                        w.create_element("byte_run")
                            .with_attribute(("file_offset", offset.as_str()))
                            .write_inner_content(|w| {
                                w.create_element("fileobject").write_inner_content(|w| {
                                    let name = match outdir {
                                        Some(o) => tcpflow_path(o, &run.file),
                                        None => run.file.clone(),
                                    };
                                    w.create_element("filename")
                                        .write_text_content(BytesText::new(&name))?;
                                    w.create_element("filesize").write_text_content(
                                        BytesText::new(&run.filesize.to_string()),
                                    )?;
                                    Ok::<(), io::Error>(())
                                })?;
                                Ok::<(), io::Error>(())
                            })?;
                    }
                    Ok::<(), io::Error>(())
                })?;
            }
            Ok::<(), io::Error>(())
        })?;
        Ok(())
    }

    fn record(file: &str, md5: Option<&str>) -> DirectionRecord {
        DirectionRecord {
            file: file.into(),
            connection: 1,
            community_id: None,
            src: "10.0.0.1".into(),
            sport: 40000,
            dst: "10.0.0.2".into(),
            dport: 80,
            vlan: None,
            encap: "ethernet/ipv4".into(),
            tunnel: 0,
            outer_src: None,
            outer_dst: None,
            first_ts: "1700000000.000000000".into(),
            last_ts: "1700000000.008000500".into(),
            packets: 6,
            bytes: 26,
            gaps: Vec::new(),
            gap_bytes: 0,
            jumps: Vec::new(),
            bound_jumps: Vec::new(),
            truncated: false,
            dropped_before_start: 0,
            end: End::Fin,
            sha256: String::new(),
            md5: md5.map(String::from),
            grep_matches: None,
            counter: 0,
        }
    }

    /// A way to write one `fileobject` into a document in memory.
    type WriteObject =
        fn(&mut Writer<Vec<u8>>, &DirectionRecord, Option<&Path>, &[&ByteRun]) -> io::Result<()>;

    /// A whole document, each record written by `write` with the runs of
    /// its file and the given output folder.
    fn document(
        records: &[DirectionRecord],
        runs: &[ByteRun],
        outdir: Option<&Path>,
        write: WriteObject,
    ) -> String {
        let mut xml = Writer::new_with_indent(Vec::new(), b' ', 2);
        head(&mut xml).unwrap();
        for r in records {
            let runs: Vec<&ByteRun> = runs.iter().filter(|b| b.flow == r.file).collect();
            write(&mut xml, r, outdir, &runs).unwrap();
        }
        xml.write_event(Event::End(BytesEnd::new("configuration")))
            .unwrap();
        xml.write_event(Event::End(BytesEnd::new("dfxml"))).unwrap();
        String::from_utf8(xml.into_inner()).unwrap()
    }

    #[test]
    fn fileobjects_are_the_bytes_quick_xml_writes() {
        let mut records = vec![
            record("plain", None),
            record("a&b<c>'d\"e", Some("00ff")),
            record("dir/é €", Some("<md5&>")),
            record("", None),
        ];
        records[1].src = "2001:db8::1".into();
        records[1].dst = "2001:db8::\"2&".into();
        records[2].first_ts = "1700000000.999999999".into();
        records[2].last_ts = "not a time".into();
        records[3].packets = u64::MAX;
        records[3].bytes = 0;
        records[3].sport = 0;
        let runs = [
            ByteRun {
                flow: "plain".into(),
                file_offset: 177,
                file: "plain-HTTPBODY-001.json".into(),
                filesize: 197,
            },
            ByteRun {
                flow: "plain".into(),
                file_offset: 0,
                file: "x&<y>'\"".into(),
                filesize: 0,
            },
            ByteRun {
                flow: "dir/é €".into(),
                file_offset: u64::MAX,
                file: "b".into(),
                filesize: 1,
            },
        ];
        for outdir in [
            None,
            Some(Path::new(".")),
            Some(Path::new("out &<'\"> dir")),
        ] {
            let fast = document(&records, &runs, outdir, fileobject);
            let oracle = document(&records, &runs, outdir, fileobject_by_events);
            assert_eq!(fast, oracle, "outdir {outdir:?}");
            assert!(fast.contains("<byte_run file_offset=\"177\">"), "{fast}");
        }
    }

    #[test]
    fn times_are_tcpflows_iso8601_with_microseconds() {
        assert_eq!(iso8601("1700000000.000000000"), "2023-11-14T22:13:20Z");
        assert_eq!(
            iso8601("1700000000.008000999"),
            "2023-11-14T22:13:20.008000Z"
        );
        assert_eq!(iso8601("0.000000999"), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn fileobjects_carry_tcpflows_elements() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.xml");
        let options = DfxmlOptions {
            outdir: Some("out".into()),
            byte_runs: false,
        };
        let report = DfxmlReport::create(&path, options).unwrap();
        report.record(&record("a&b", Some("00ff"))).unwrap();
        report.finish(&[]).unwrap();
        report.finish(&[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<dfxml"));
        assert!(text.ends_with("</configuration>\n</dfxml>\n"), "{text}");
        let object = "    <fileobject>\n      <filename>out/a&amp;b</filename>\n      <filesize>26</filesize>\n      <tcpflow startime=\"2023-11-14T22:13:20Z\" endtime=\"2023-11-14T22:13:20.008000Z\" family=\"2\" src_ipn=\"10.0.0.1\" dst_ipn=\"10.0.0.2\" srcport=\"40000\" dstport=\"80\" packets=\"6\"/>\n      <hashdigest type=\"MD5\">00ff</hashdigest>\n    </fileobject>\n";
        assert!(text.contains(object), "{text}");
    }

    #[test]
    fn with_carving_bodies_are_byte_runs_of_their_flow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xml");
        let options = DfxmlOptions {
            outdir: Some(".".into()),
            byte_runs: true,
        };
        let report = DfxmlReport::create(&path, options).unwrap();
        report.record(&record("s2c", None)).unwrap();
        report.record(&record("c2s", None)).unwrap();
        assert!(dir.path().join("report.xml.part").exists());
        let runs = [ByteRun {
            flow: "s2c".into(),
            file_offset: 177,
            file: "s2c-HTTPBODY-001.json".into(),
            filesize: 197,
        }];
        report.finish(&runs).unwrap();
        assert!(!dir.path().join("report.xml.part").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        let runs = "      <byte_runs>\n        <byte_run file_offset=\"177\">\n          <fileobject>\n            <filename>s2c-HTTPBODY-001.json</filename>\n            <filesize>197</filesize>\n          </fileobject>\n        </byte_run>\n      </byte_runs>\n    </fileobject>\n    <fileobject>\n      <filename>c2s</filename>";
        assert!(text.contains(runs), "{text}");
        assert_eq!(text.matches("<byte_run ").count(), 1);
    }

    #[test]
    fn without_flow_files_there_is_no_filename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.xml");
        let options = DfxmlOptions {
            outdir: None,
            byte_runs: false,
        };
        let report = DfxmlReport::create(&path, options).unwrap();
        report.record(&record("x", None)).unwrap();
        report.finish(&[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("<filename>"), "{text}");
        assert!(text.contains("<filesize>26</filesize>"), "{text}");
    }
}
