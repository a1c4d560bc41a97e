//! Objects assembled from range parts, at the merge: the `206` parts of
//! one resource may have been carved on connections of different shards,
//! so a shard assembles nothing and lists its parts in its index instead
//! (`{"http_range_part": ...}` lines, see `crate::http::ranges`); the
//! merge assembles every shard's, as a single run does over all its
//! connections.
//!
//! ```text
//!  shards' http.jsonl ──part lines──▶ Sorter (spills) ─▶ ranges::assemble
//!    ─▶ object files in OUT, object lines ─▶ Sorter (spills)
//!  merged http.jsonl: each part line is dropped, and the object lines
//!    whose first part it lists are written in its place
//! ```
//!
//! Owns: reading the part lines (first pass over the shards' indexes),
//! running the single run's assembly (`crate::http::ranges`, reused as is)
//! over them with the merged folder as its base (so object files, their
//! names and their records are those of a single run into OUT), and
//! handing the object lines to the index merge at the place of their first
//! part's line, which is where a single run's index has them (right after
//! the first part's record). Memory stays flat: parts and object lines go
//! through the external sort.
//!
//! Must not: write anywhere but OUT, or change the part files (linked in
//! from the shards).

use super::Lines;
use crate::error::Error;
use crate::http::index::{IndexLine, OBJECT_LINE};
use crate::http::ranges::{self, PartLine, RangePart};
use crate::http::spill::{Sorted, Sorter};
use crate::http::{INDEX_BUDGET, INDEX_NAME, RANGE_BUDGET};
use std::collections::BTreeMap;
use std::io::Write;
use std::iter::Peekable;
use std::path::{Path, PathBuf};

/// The object lines assembled, in index order, waiting for their place.
pub(super) struct Objects {
    lines: Peekable<Sorted<IndexLine>>,
    /// Object files written.
    pub(super) count: u64,
    /// What their holes took of the room they were given.
    pub(super) room: ranges::Room,
}

/// Assemble the range parts listed in the shards' `indexes` (by folder
/// relative to OUT) into object files under `out`, none longer than
/// `max_object` bytes (the shards' decoded size limit), their holes
/// taking at most `object_fill` zero bytes together (what the shards left
/// of the amplification bound). The part files must already be linked
/// into `out`. Any error ends the merge.
pub(super) fn assemble(
    out: &Path,
    indexes: &BTreeMap<PathBuf, Vec<PathBuf>>,
    max_object: u64,
    object_fill: u64,
) -> Result<Objects, Error> {
    let spill_err = |source| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut parts: Sorter<RangePart> = Sorter::new(out, RANGE_BUDGET);
    for (folder, files) in indexes {
        for path in files {
            let mut lines = Lines::open(path)?;
            while lines.advance()? {
                if !lines.line.starts_with(PartLine::START) {
                    continue;
                }
                let part = PartLine::parse(&lines.line, folder)
                    .ok_or_else(|| lines.bad("a bad http_range_part line"))?;
                parts.push(part).map_err(spill_err)?;
            }
        }
    }
    let parts = parts.finish().map_err(spill_err)?;
    let mut objects: Sorter<IndexLine> = Sorter::new(out, INDEX_BUDGET);
    let (mut errors, mut kept) = (Vec::new(), Vec::new());
    let mut room = ranges::Room::new(object_fill);
    let count = ranges::assemble(
        out,
        parts,
        max_object,
        &mut room,
        &mut errors,
        |folder, rec| {
            let line = IndexLine::new(folder, OBJECT_LINE, &rec).and_then(|l| objects.push(l));
            if let Err(source) = line {
                kept.push(Error::Write {
                    path: out.join(folder).join(INDEX_NAME),
                    source,
                });
            }
        },
    );
    if let Some(e) = errors.into_iter().chain(kept).next() {
        return Err(e);
    }
    Ok(Objects {
        lines: objects.finish().map_err(spill_err)?.peekable(),
        count,
        room,
    })
}

impl Objects {
    /// Write to `w` (the merged index at `path` of `folder`) the object
    /// lines that go where the part line `part` stood: those whose first
    /// part it is (and any before it, of which there are none).
    pub(super) fn write_at(
        &mut self,
        folder: &Path,
        part: &RangePart,
        w: &mut impl Write,
        path: &Path,
    ) -> Result<(), Error> {
        let place = (folder, part.order_file.as_str(), part.order_number);
        self.write_while(|p| p <= place, w, path)
    }

    /// Write the object lines left for `folder` at the end of its index
    /// (none: every object's first part has its line).
    pub(super) fn write_rest(
        &mut self,
        folder: &Path,
        w: &mut impl Write,
        path: &Path,
    ) -> Result<(), Error> {
        self.write_while(|p| p.0 <= folder, w, path)
    }

    fn write_while(
        &mut self,
        mut goes: impl FnMut((&Path, &str, u64)) -> bool,
        w: &mut impl Write,
        path: &Path,
    ) -> Result<(), Error> {
        let write_err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        loop {
            match self.lines.peek() {
                Some(Ok(l)) if goes(l.place()) => {
                    w.write_all(l.bytes()).map_err(write_err)?;
                    self.lines.next();
                }
                Some(Err(_)) => {
                    if let Some(Err(source)) = self.lines.next() {
                        return Err(Error::Read {
                            path: path.to_path_buf(),
                            source,
                        });
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}
