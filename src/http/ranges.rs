//! Whole objects from range parts: the `206 Partial Content` bodies of one
//! resource, gathered across every connection carved, written into one
//! object file.
//!
//! Owns: which parts belong together (same Host and request target, same
//! `Content-Range` total, same strong validator: ETag, else
//! Last-Modified), the order they are laid in (by offset), the object file
//! (`<flow>-HTTPOBJECT-NNN[.ext]`, named after its first part's body),
//! its holes (zero-filled, within what is left of the run's amplification
//! bound, [`Room`]), disagreeing overlaps, and its record.
//!
//! ```text
//!  carve (each connection) ─▶ RangePart ─▶ Sorter (spills) ─▶ by resource, by offset
//!    ─▶ object file: parts copied in at their offsets, holes left as zeros
//!    ─▶ Record { object } ─▶ the index, right after its first part's record
//! ```
//!
//! Parts go through the external sort (`spill`), so memory does not grow
//! with the number of connections or parts: one resource's parts are read
//! one after another and only the object's record is held, its lists of
//! parts, holes and conflicts cut at [`MAX_LISTED`] entries each.
//!
//! A shard (`--shard`) assembles nothing: an object's parts may be in
//! other shards' connections. Its index lists each part instead
//! ([`PartLine`], see [`list_into`]), where the object's line would go,
//! and `flowsplit merge` runs [`assemble`] over every shard's parts
//! (`crate::merge`).
//!
//! Must not: read flow files, or change the parts' body files (they stay).

use super::index::{IndexLine, ObjectRecord, Record, OBJECT_LINE};
use super::name::{extension_for, BodyName, Folder};
use super::spill::{codec, Sorted, Sorter, Spill};
use super::INDEX_NAME;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

/// Most parts, holes or conflicts listed for one object; more are counted
/// in a note.
const MAX_LISTED: usize = 1000;
/// Bytes copied or compared at a time.
const BLOCK: usize = 64 * 1024;

/// One part of a resource: a body file holding bytes `start..=end` of it.
/// Ordered by resource, then offset, then where it was carved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct RangePart {
    /// The resource: Host, lower-cased.
    pub host: String,
    /// The resource: request target as sent.
    pub uri: String,
    /// The strong validator (see `message::validator`), or empty.
    pub validator: String,
    /// The whole length, [`u64::MAX`] when sent as `*`.
    pub total: u64,
    /// First byte's offset in the resource.
    pub start: u64,
    /// Last byte's offset (inclusive).
    pub end: u64,
    /// The folder of the index the part's record is in (the object goes
    /// there too when this part is the first). Not in a [`PartLine`]: it
    /// is the folder of the index the line is in.
    #[serde(skip)]
    pub folder: PathBuf,
    /// Its record's index order: the connection's key flow…
    pub order_file: String,
    /// …and the record's position.
    pub order_number: u64,
    /// The flow file the part's body was carved from (names the object).
    pub flow: String,
    /// The body's number in its flow (names the object).
    pub number: u64,
    /// The part's body file, in `folder`.
    pub file: String,
    /// Its Content-Type as sent (the object's extension), or empty.
    pub content_type: String,
    /// Whether the part's body file holds its whole body.
    pub complete: bool,
}

/// A shard index's line listing one range part (`{"http_range_part":
/// {...}}`): every field of [`RangePart`] but its folder. It stands where
/// the object's line would, were the part its object's first: right after
/// the part's record.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PartLine {
    /// The part.
    pub http_range_part: RangePart,
}

impl PartLine {
    /// How a part line starts (no index record does).
    pub(crate) const START: &'static [u8] = b"{\"http_range_part\":";

    /// The part a line of the index in `folder` lists, if it is a part line.
    pub(crate) fn parse(line: &[u8], folder: &Path) -> Option<RangePart> {
        if !line.starts_with(Self::START) {
            return None;
        }
        let mut part = serde_json::from_slice::<PartLine>(line)
            .ok()?
            .http_range_part;
        part.folder = folder.to_path_buf();
        Some(part)
    }
}

/// The parts `ranges` holds, in order; `None` (the error added to
/// `errors`) if its spill file could not be written.
fn sorted(ranges: Sorter<RangePart>, errors: &mut Vec<Error>) -> Option<Sorted<RangePart>> {
    let spill_dir = ranges.dir().to_path_buf();
    match ranges.finish() {
        Ok(parts) => Some(parts),
        Err(source) => {
            errors.push(Error::Write {
                path: spill_dir,
                source,
            });
            None
        }
    }
}

/// In a shard: list the parts `ranges` in `index`, each as a [`PartLine`]
/// where its object's line would go, instead of assembling them. Errors go
/// to `errors`.
pub(crate) fn list_into(
    ranges: Sorter<RangePart>,
    index: &mut Sorter<IndexLine>,
    errors: &mut Vec<Error>,
) {
    let spill_dir = ranges.dir().to_path_buf();
    let Some(parts) = sorted(ranges, errors) else {
        return;
    };
    for part in parts {
        let part = match part {
            Ok(p) => p,
            Err(source) => {
                errors.push(Error::Read {
                    path: spill_dir,
                    source,
                });
                return;
            }
        };
        let order = (part.order_file.clone(), part.order_number);
        let folder = part.folder.clone();
        let listed = serde_json::to_vec(&PartLine {
            http_range_part: part,
        })
        .map_err(io::Error::from)
        .and_then(|mut line| {
            line.push(b'\n');
            index.push(IndexLine::raw(&folder, order, OBJECT_LINE, line))
        });
        if let Err(source) = listed {
            errors.push(Error::Write {
                path: folder.join(INDEX_NAME),
                source,
            });
        }
    }
}

impl RangePart {
    fn same_resource(&self, o: &RangePart) -> bool {
        (&self.host, &self.uri, &self.validator, self.total)
            == (&o.host, &o.uri, &o.validator, o.total)
    }
}

/// The object file's name for a resource whose first part is body
/// `number` of `flow` (a validated flow-file name, so the name stays in
/// its folder), with the extension for `content_type`.
pub(crate) fn object_file_name(flow: &str, number: u64, content_type: &str) -> BodyName {
    let ext = extension_for(content_type.as_bytes())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    BodyName::new(format!("{flow}-HTTPOBJECT-{number:03}"), ext)
}

/// The zero bytes range objects may still get in their holes, all
/// together: what the run's amplification bound (see
/// [`crate::flow::fill`]) left after the flows' zero fill. Objects are
/// assembled one after another in a fixed order, so the same objects get
/// their holes whatever the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Zero bytes still allowed.
    pub left: u64,
    /// Zero bytes written into holes so far.
    pub filled: u64,
    /// Objects cut, or with a part left out, for want of room.
    pub cut: u64,
}

impl Room {
    /// Room for `left` zero bytes.
    pub fn new(left: u64) -> Room {
        Room {
            left,
            filled: 0,
            cut: 0,
        }
    }

    /// Take room for a hole of `n` bytes; false (nothing taken) when there
    /// is not enough.
    fn take(&mut self, n: u64) -> bool {
        if n > self.left {
            return false;
        }
        self.left -= n;
        self.filled += n;
        true
    }
}

/// The note of an object that hit the amplification bound.
const BOUND_NOTE: &str = "amplification bound reached";

/// Assemble every resource of `parts` (sorted) into its object file,
/// calling `emit` with each object's folder and record as it is done.
/// Folders are under `base`. No object file grows past `max_size` bytes
/// (see [`build`]), and their holes take at most what `room` has left.
/// Errors reading the parts end the assembly.
pub(crate) fn assemble(
    base: &Path,
    parts: impl Iterator<Item = io::Result<RangePart>>,
    max_size: u64,
    room: &mut Room,
    errors: &mut Vec<Error>,
    mut emit: impl FnMut(&Path, Record),
) -> u64 {
    // Each folder's names, read once (a folder per shard at most).
    let mut names: HashMap<PathBuf, Folder> = HashMap::new();
    let mut parts = parts.peekable();
    let mut objects = 0;
    loop {
        let first = match parts.next() {
            None => break,
            Some(Err(source)) => {
                errors.push(Error::Read {
                    path: base.to_path_buf(),
                    source,
                });
                break;
            }
            Some(Ok(p)) => p,
        };
        let mut group = vec![];
        while let Some(Ok(p)) = parts.next_if(|p| matches!(p, Ok(p) if first.same_resource(p))) {
            group.push(p);
        }
        let (folder, record) = build(
            base,
            &mut names,
            &first,
            group.into_iter(),
            max_size,
            room,
            errors,
        );
        if record.object.is_some() {
            objects += 1;
            emit(&folder, record);
        }
    }
    objects
}

/// Assemble the parts `ranges` sorted (folders under `base`) and keep
/// each object's record in `index`, right after its first part's record.
/// Returns the number of object files written; errors go to `errors`.
/// No object file grows past `max_size` bytes; holes take at most what
/// `room` has left.
pub(crate) fn assemble_into(
    base: &Path,
    ranges: Sorter<RangePart>,
    max_size: u64,
    room: &mut Room,
    index: &mut Sorter<IndexLine>,
    errors: &mut Vec<Error>,
) -> u64 {
    let Some(parts) = sorted(ranges, errors) else {
        return 0;
    };
    let mut kept = Vec::new();
    let objects = assemble(base, parts, max_size, room, errors, |folder, rec| {
        let line = IndexLine::new(folder, OBJECT_LINE, &rec).and_then(|l| index.push(l));
        if let Err(source) = line {
            kept.push(Error::Write {
                path: base.join(folder).join(INDEX_NAME),
                source,
            });
        }
    });
    errors.append(&mut kept);
    objects
}

/// Where the object file is being written, and what is known of it.
struct Object {
    file: File,
    path: PathBuf,
    /// Bytes `0..covered` are written (from parts or holes before them).
    covered: u64,
    /// SHA-256 of `0..covered`, while there is no hole.
    hasher: Option<Sha256>,
    rec: ObjectRecord,
}

/// Build the object of `first` and the `rest` of its resource's parts.
/// Parts reaching past `max_size` bytes are not laid in, and the file of an
/// object longer than that ends after its last covered byte (both noted):
/// a claimed length is not a reason to write terabytes of zeros. Likewise
/// for holes `room` has no room for: a part after such a hole is not laid
/// in, and the file ends after its last covered byte (noted, and counted
/// in `room` once per object).
fn build(
    base: &Path,
    names: &mut HashMap<PathBuf, Folder>,
    first: &RangePart,
    rest: impl Iterator<Item = RangePart>,
    max_size: u64,
    room: &mut Room,
    errors: &mut Vec<Error>,
) -> (PathBuf, Record) {
    let asked = object_file_name(&first.flow, first.number, &first.content_type);
    let dir = base.join(&first.folder);
    let mut record = Record {
        order: (first.order_file.clone(), first.order_number),
        ..Record::default()
    };
    // The folder's index is rewritten only after the objects are built.
    let folder = names
        .entry(dir.clone())
        .or_insert_with(|| Folder::read(&dir));
    let (file, name) = match folder.create(&dir, &asked) {
        Ok(f) => f,
        Err(source) => {
            let path = dir.join(asked.nth(0));
            errors.push(Error::Write { path, source });
            return (first.folder.clone(), record);
        }
    };
    let path = dir.join(&name);
    let mut obj = Object {
        file,
        path,
        covered: 0,
        hasher: Some(Sha256::new()),
        rec: ObjectRecord {
            file: name,
            host: first.host.clone(),
            uri: first.uri.clone(),
            validator: (!first.validator.is_empty()).then(|| first.validator.clone()),
            length: (first.total != u64::MAX).then_some(first.total),
            ..ObjectRecord::default()
        },
    };
    let mut listed_over = 0u64;
    let mut bounded = false;
    for p in std::iter::once(first.clone()).chain(rest) {
        let added = obj.add(base, first, &p, max_size, room, &mut listed_over);
        match added {
            Ok(laid) => bounded |= !laid,
            Err(e) => errors.push(e),
        }
    }
    let length = if first.total == u64::MAX {
        obj.covered
    } else {
        first.total
    };
    if obj.covered < length {
        let hole = [obj.covered, length - obj.covered];
        push_listed(&mut obj.rec.holes, hole, &mut listed_over);
        obj.hasher = None;
    }
    let mut size = length.max(obj.covered);
    if size > max_size {
        size = obj.covered;
        obj.rec.notes.push(format!(
            "object of {length} bytes longer than the decoded size limit ({max_size}): \
             its file ends after the last byte a part covers"
        ));
    } else if !room.take(size - obj.covered) {
        size = obj.covered;
        bounded = true;
        obj.rec.notes.push(format!(
            "{BOUND_NOTE}: object of {length} bytes ends after the last byte a part covers"
        ));
    }
    if bounded {
        room.cut += 1;
    }
    if let Err(source) = obj.file.set_len(size) {
        errors.push(Error::Write {
            path: obj.path.clone(),
            source,
        });
    }
    let rec = &mut obj.rec;
    rec.size = size;
    // Every note so far tells of a part that is incomplete, short or not
    // laid in.
    rec.complete = rec.holes.is_empty()
        && rec.conflicts.is_empty()
        && rec.notes.is_empty()
        && obj.hasher.is_some();
    if listed_over > 0 {
        rec.notes.push(format!(
            "{listed_over} more parts, holes or conflicts not listed (at most {MAX_LISTED} each)"
        ));
    }
    if rec.complete {
        rec.sha256 = obj.hasher.take().map(|h| hex::encode(h.finalize()));
    }
    record.complete = rec.complete;
    record.community_id = super::name::FlowName::parse(&first.flow).and_then(|n| n.community_id());
    record.host = Some(rec.host.clone());
    record.uri = Some(rec.uri.clone());
    record.object = Some(obj.rec);
    (first.folder.clone(), record)
}

/// `path` as named from folder `from` (both relative to one folder, or
/// both absolute): the path below `from`, or climbing out of it with `..`
/// as far as the two differ.
fn seen_from(from: &Path, path: &Path) -> PathBuf {
    let mut from = from.components().peekable();
    let mut path = path.components().peekable();
    while let (Some(a), Some(b)) = (from.peek(), path.peek()) {
        if a != b {
            break;
        }
        from.next();
        path.next();
    }
    let mut shown: PathBuf = from
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|_| Component::ParentDir)
        .collect();
    shown.extend(path);
    shown
}

fn push_listed(list: &mut Vec<[u64; 2]>, item: [u64; 2], over: &mut u64) {
    if list.len() < MAX_LISTED {
        list.push(item);
    } else {
        *over += 1;
    }
}

impl Object {
    /// Lay part `p` in: bytes before it no part covered are a hole (when
    /// `room` has room for it; else the part is not laid in, noted, and
    /// `false` returned), bytes it shares with earlier parts are compared,
    /// the rest copied.
    fn add(
        &mut self,
        base: &Path,
        first: &RangePart,
        p: &RangePart,
        max_size: u64,
        room: &mut Room,
        over: &mut u64,
    ) -> Result<bool, Error> {
        let part_path = base.join(&p.folder).join(&p.file);
        // Relative to the object's index, so that a single run and a
        // merge of shards (whose folders are named from different output
        // folders) name it alike.
        let shown = seen_from(&first.folder, &p.folder.join(&p.file))
            .to_string_lossy()
            .into_owned();
        if self.rec.parts.len() < MAX_LISTED {
            self.rec.parts.push((p.start, p.end, shown.clone()));
        } else {
            *over += 1;
        }
        if !p.complete {
            self.rec
                .notes
                .push(format!("part {shown} is incomplete (see its record)"));
        }
        if p.end >= max_size {
            self.rec.notes.push(format!(
                "part {shown} lies past the decoded size limit ({max_size}): not laid in"
            ));
            return Ok(true);
        }
        if p.start > self.covered && !room.take(p.start - self.covered) {
            self.rec.notes.push(format!(
                "{BOUND_NOTE}: part {shown} after a hole of {} bytes not laid in",
                p.start - self.covered
            ));
            return Ok(false);
        }
        let open_err = |source| Error::Open {
            path: part_path.clone(),
            source,
        };
        let src = File::open(&part_path).map_err(open_err)?;
        let have = src.metadata().map_err(open_err)?.len();
        let want = p.end - p.start + 1;
        let avail = have.min(want);
        if p.start > self.covered {
            push_listed(
                &mut self.rec.holes,
                [self.covered, p.start - self.covered],
                over,
            );
            self.hasher = None;
            self.covered = p.start;
        }
        let read_err = |source| Error::Read {
            path: part_path.clone(),
            source,
        };
        // The overlap with what is written: compared, never merged.
        let overlap_end = self.covered.min(p.start + avail);
        if overlap_end > p.start {
            if let Some(at) = self
                .first_difference(&src, p.start, overlap_end)
                .map_err(read_err)?
            {
                push_listed(&mut self.rec.conflicts, [at, overlap_end - at], over);
            }
        }
        // The new bytes, in order.
        let new_end = p.start + avail;
        if new_end > self.covered {
            let mut buf = vec![0u8; BLOCK];
            let mut at = self.covered;
            while at < new_end {
                let n = usize::try_from((new_end - at).min(BLOCK as u64)).unwrap_or(BLOCK);
                src.read_exact_at(&mut buf[..n], at - p.start)
                    .map_err(read_err)?;
                self.file
                    .write_all_at(&buf[..n], at)
                    .map_err(|source| Error::Write {
                        path: self.path.clone(),
                        source,
                    })?;
                if let Some(h) = &mut self.hasher {
                    h.update(&buf[..n]);
                }
                at += n as u64;
            }
            self.covered = new_end;
        }
        if have < want {
            self.rec
                .notes
                .push(format!("part {shown} holds {have} of its {want} bytes"));
        }
        Ok(true)
    }

    /// The first offset in `start..end` where `src` (holding the part that
    /// begins at `start`) differs from the object file.
    fn first_difference(&self, src: &File, start: u64, end: u64) -> io::Result<Option<u64>> {
        let (mut a, mut b) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
        let mut at = start;
        while at < end {
            let n = usize::try_from((end - at).min(BLOCK as u64)).unwrap_or(BLOCK);
            src.read_exact_at(&mut a[..n], at - start)?;
            self.file.read_exact_at(&mut b[..n], at)?;
            if let Some(i) = a[..n].iter().zip(&b[..n]).position(|(x, y)| x != y) {
                return Ok(Some(at + i as u64));
            }
            at += n as u64;
        }
        Ok(None)
    }
}

impl Spill for RangePart {
    fn encode(&self, out: &mut Vec<u8>) {
        codec::put_bytes(out, self.host.as_bytes());
        codec::put_bytes(out, self.uri.as_bytes());
        codec::put_bytes(out, self.validator.as_bytes());
        codec::put_u64(out, self.total);
        codec::put_u64(out, self.start);
        codec::put_u64(out, self.end);
        codec::put_bytes(out, self.folder.as_os_str().as_bytes());
        codec::put_bytes(out, self.order_file.as_bytes());
        codec::put_u64(out, self.order_number);
        codec::put_bytes(out, self.flow.as_bytes());
        codec::put_u64(out, self.number);
        codec::put_bytes(out, self.file.as_bytes());
        codec::put_bytes(out, self.content_type.as_bytes());
        codec::put_u64(out, u64::from(self.complete));
    }

    fn decode(bytes: &[u8]) -> Option<RangePart> {
        let mut f = codec::Fields(bytes);
        let p = RangePart {
            host: f.string()?,
            uri: f.string()?,
            validator: f.string()?,
            total: f.u64()?,
            start: f.u64()?,
            end: f.u64()?,
            folder: PathBuf::from(std::ffi::OsString::from_vec(f.bytes()?.to_vec())),
            order_file: f.string()?,
            order_number: f.u64()?,
            flow: f.string()?,
            number: f.u64()?,
            file: f.string()?,
            content_type: f.string()?,
            complete: f.u64()? != 0,
        };
        f.is_empty().then_some(p)
    }

    fn heap_bytes(&self) -> usize {
        self.host.len()
            + self.uri.len()
            + self.validator.len()
            + self.folder.as_os_str().len()
            + self.order_file.len()
            + self.flow.len()
            + self.file.len()
            + self.content_type.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn part(dir: &Path, start: u64, bytes: &[u8], total: u64, n: u64) -> RangePart {
        let file = format!("part{n}");
        fs::write(dir.join(&file), bytes).unwrap();
        RangePart {
            host: "h".into(),
            uri: "/o".into(),
            validator: "\"e\"".into(),
            total,
            start,
            end: start + bytes.len() as u64 - 1,
            folder: PathBuf::new(),
            order_file: "f".into(),
            order_number: n,
            flow: "010.000.000.002.00080-010.000.000.001.40000".into(),
            number: n,
            file,
            content_type: "image/jpeg".into(),
            complete: true,
        }
    }

    fn run(dir: &Path, parts: Vec<RangePart>) -> (Vec<ObjectRecord>, Vec<Error>) {
        run_within(dir, parts, &mut Room::new(u64::MAX))
    }

    fn run_within(
        dir: &Path,
        mut parts: Vec<RangePart>,
        room: &mut Room,
    ) -> (Vec<ObjectRecord>, Vec<Error>) {
        parts.sort();
        let mut errors = Vec::new();
        let mut out = Vec::new();
        assemble(
            dir,
            parts.into_iter().map(Ok),
            1 << 30,
            room,
            &mut errors,
            |_, r| out.extend(r.object),
        );
        (out, errors)
    }

    #[test]
    fn holes_within_the_room_left_are_zero_filled_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let parts = vec![
            part(dir.path(), 0, b"head", 200, 1),
            part(dir.path(), 100, b"tail", 200, 2),
        ];
        let mut room = Room::new(1000);
        let (objs, _) = run_within(dir.path(), parts, &mut room);
        let o = &objs[0];
        let mut expected = b"head".to_vec();
        expected.resize(100, 0);
        expected.extend_from_slice(b"tail");
        expected.resize(200, 0);
        assert_eq!(fs::read(dir.path().join(&o.file)).unwrap(), expected);
        assert_eq!(o.holes, [[4, 96], [104, 96]]);
        assert!(o.notes.is_empty(), "{:?}", o.notes);
        assert_eq!(
            room,
            Room {
                left: 808,
                filled: 192,
                cut: 0
            }
        );
    }

    #[test]
    fn holes_past_the_room_left_cut_the_object_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let parts = vec![
            part(dir.path(), 0, b"head", 200, 1),
            part(dir.path(), 100, b"tail", 200, 2),
        ];
        let mut room = Room::new(50);
        let (objs, _) = run_within(dir.path(), parts, &mut room);
        let o = &objs[0];
        assert_eq!(fs::read(dir.path().join(&o.file)).unwrap(), b"head");
        assert_eq!(o.size, 4);
        assert_eq!(o.length, Some(200));
        assert_eq!(o.holes, [[4, 196]]);
        assert_eq!(o.notes.len(), 2, "{:?}", o.notes);
        assert!(
            o.notes.iter().all(|n| n.starts_with(BOUND_NOTE)),
            "{:?}",
            o.notes
        );
        assert!(!o.complete);
        assert_eq!(
            room,
            Room {
                left: 50,
                filled: 0,
                cut: 1
            }
        );
    }

    #[test]
    fn parts_out_of_order_make_the_whole_object() {
        let dir = tempfile::tempdir().unwrap();
        let whole: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let parts = vec![
            part(dir.path(), 600, &whole[600..], 1000, 3),
            part(dir.path(), 0, &whole[..300], 1000, 1),
            part(dir.path(), 250, &whole[250..650], 1000, 2),
        ];
        let (objs, errors) = run(dir.path(), parts);
        assert!(errors.is_empty(), "{errors:?}");
        let o = &objs[0];
        assert_eq!(
            o.file,
            "010.000.000.002.00080-010.000.000.001.40000-HTTPOBJECT-001.jpg"
        );
        assert_eq!(fs::read(dir.path().join(&o.file)).unwrap(), whole);
        assert_eq!(
            o.sha256.as_deref(),
            Some(hex::encode(Sha256::digest(&whole)).as_str())
        );
        assert!(o.complete && o.holes.is_empty() && o.conflicts.is_empty());
        assert_eq!(o.size, 1000);
        assert_eq!(
            o.parts.iter().map(|p| p.0).collect::<Vec<_>>(),
            [0, 250, 600]
        );
    }

    #[test]
    fn holes_are_zero_filled_and_listed_conflicts_reported() {
        let dir = tempfile::tempdir().unwrap();
        let whole: Vec<u8> = (0..100u8).collect();
        let mut other = whole[40..60].to_vec();
        other[5] ^= 0xff;
        let parts = vec![
            part(dir.path(), 10, &whole[10..50], 200, 1),
            part(dir.path(), 40, &other, 200, 2),
            part(dir.path(), 80, &whole[80..100], 200, 3),
        ];
        let (objs, _) = run(dir.path(), parts);
        let o = &objs[0];
        let got = fs::read(dir.path().join(&o.file)).unwrap();
        let mut want = vec![0u8; 200];
        want[10..50].copy_from_slice(&whole[10..50]);
        want[50..60].copy_from_slice(&other[10..]);
        want[80..100].copy_from_slice(&whole[80..100]);
        assert_eq!(got, want);
        assert_eq!(o.holes, [[0, 10], [60, 20], [100, 100]]);
        assert_eq!(o.conflicts, [[45, 5]]);
        assert!(!o.complete);
        assert_eq!(o.sha256, None);
        assert_eq!(o.length, Some(200));
    }

    #[test]
    fn a_huge_claimed_length_is_not_written_out() {
        let dir = tempfile::tempdir().unwrap();
        let parts = vec![
            part(dir.path(), 0, b"head", 1 << 50, 1),
            part(dir.path(), 1 << 45, b"far", 1 << 50, 2),
        ];
        let (objs, _) = run(dir.path(), parts);
        let o = &objs[0];
        assert_eq!(fs::read(dir.path().join(&o.file)).unwrap(), b"head");
        assert_eq!(o.size, 4);
        assert_eq!(o.length, Some(1 << 50));
        assert_eq!(o.holes, [[4, (1 << 50) - 4]]);
        assert_eq!(o.notes.len(), 2, "{:?}", o.notes);
        assert!(!o.complete);
    }

    #[test]
    fn parts_are_named_from_the_objects_folder() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(seen_from(&p("out/80"), &p("out/80/part")), p("part"));
        assert_eq!(seen_from(&p("out/80"), &p("out/80/a/part")), p("a/part"));
        assert_eq!(seen_from(&p("out/80"), &p("out/81/part")), p("../81/part"));
        assert_eq!(seen_from(&p("80"), &p("81/part")), p("../81/part"));
        assert_eq!(seen_from(&p("a/b/c"), &p("a/x/part")), p("../../x/part"));
        assert_eq!(seen_from(&p(""), &p("81/part")), p("81/part"));
        assert_eq!(seen_from(&p("80"), &p("part")), p("../part"));
    }

    #[test]
    fn a_part_in_another_folder_is_named_alike_whatever_the_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let whole: Vec<u8> = (0..100u8).collect();
        let names = |out: &str| {
            let mut parts = Vec::new();
            for (n, (folder, range)) in [("80", 0..50), ("81", 50..100)].into_iter().enumerate() {
                let folder = Path::new(out).join(folder);
                fs::create_dir_all(dir.path().join(&folder)).unwrap();
                let mut part = part(
                    &dir.path().join(&folder),
                    range.start as u64,
                    &whole[range],
                    100,
                    n as u64 + 1,
                );
                part.folder = folder;
                parts.push(part);
            }
            let (objs, errors) = run(dir.path(), parts);
            assert!(errors.is_empty(), "{errors:?}");
            assert!(objs[0].complete);
            objs[0]
                .parts
                .iter()
                .map(|p| p.2.clone())
                .collect::<Vec<_>>()
        };
        let single = names("run/out");
        assert_eq!(single, ["part1", "../81/part2"]);
        assert_eq!(names("merged"), single);
    }

    #[test]
    fn part_lines_read_back_into_the_folder_of_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = part(dir.path(), 5, b"abc", u64::MAX, 9);
        p.folder = PathBuf::from("shard-0/80");
        let line = serde_json::to_vec(&PartLine {
            http_range_part: p.clone(),
        })
        .unwrap();
        assert!(line.starts_with(PartLine::START));
        assert!(!String::from_utf8_lossy(&line).contains("shard-0"));
        p.folder = PathBuf::from("80");
        assert_eq!(PartLine::parse(&line, Path::new("80")), Some(p));
        assert_eq!(PartLine::parse(b"{\"status\":206}", Path::new("")), None);
    }

    #[test]
    fn parts_spill_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = part(dir.path(), 5, b"abc", u64::MAX, 9);
        let mut bytes = Vec::new();
        p.encode(&mut bytes);
        assert_eq!(RangePart::decode(&bytes), Some(p));
    }
}
