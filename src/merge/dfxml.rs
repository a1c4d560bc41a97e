//! The merged folder's DFXML report (`report.xml`, tcpflow's): a shard
//! writes none, so `flowsplit merge` writes the one a single run of the
//! shards' command writes, with the single run's writer
//! ([`crate::output::dfxml`]) fed the merged `report.jsonl` lines as they
//! are written.
//!
//! Owns: whether there is one and how (the shards' [`DfxmlWish`]), where it
//! goes (its file name in the merged folder), what its `filename`s are
//! joined to (the merged folder as `-o` names it: what a single run with
//! `-o OUT` writes), and its `byte_runs` (the bodies the merged indexes
//! list, read once they are written, as a single run reads its own).
//!
//! Must not: decide what a `fileobject` says (the writer does), hold the
//! report's lines (they stream through), or write over a file linked in
//! from a shard.

use super::refuse;
use crate::error::Error;
use crate::output::dfxml::{carved_bodies, DfxmlOptions, DfxmlReport};
use crate::output::report::DirectionRecord;
use crate::shard::DfxmlWish;
use std::path::{Component, Path, PathBuf};

/// The DFXML report being written into the merged folder.
pub(super) struct MergedDfxml {
    report: DfxmlReport,
    /// The merged folder, for the byte runs.
    out: PathBuf,
    byte_runs: bool,
}

/// Where the report `wish` asks for goes in `out`: its file name there.
/// Refused when the name is not a plain file name (a shard's header is
/// read from disk).
pub(super) fn path(out: &Path, wish: &DfxmlWish) -> Result<PathBuf, Error> {
    let mut parts = Path::new(&wish.file).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(out.join(&wish.file)),
        _ => Err(refuse(format!(
            "the shards ask for a DFXML report named {:?}, which is not a file name",
            wish.file
        ))),
    }
}

impl MergedDfxml {
    /// Start the report `wish` asks for in `out`. Refused if a file is
    /// already there (one linked in from a shard must not be overwritten).
    pub(super) fn create(out: &Path, wish: &DfxmlWish) -> Result<MergedDfxml, Error> {
        let path = path(out, wish)?;
        let mut part = path.clone().into_os_string();
        part.push(".part");
        for p in [&path, &PathBuf::from(part)] {
            if std::fs::symlink_metadata(p).is_ok() {
                return Err(refuse(format!(
                    "{}: already exists where the DFXML report goes",
                    p.display()
                )));
            }
        }
        let options = DfxmlOptions {
            outdir: wish.filenames.then(|| out.to_path_buf()),
            byte_runs: wish.byte_runs,
        };
        Ok(MergedDfxml {
            report: DfxmlReport::create(&path, options)?,
            out: out.to_path_buf(),
            byte_runs: wish.byte_runs,
        })
    }

    /// Add the `fileobject` of one merged report line (`line`, read from
    /// `from`).
    pub(super) fn line(&self, line: &[u8], from: &Path) -> Result<(), Error> {
        let record: DirectionRecord = serde_json::from_slice(line).map_err(|_| {
            refuse(format!(
                "{}: a direction line that is not a report record",
                from.display()
            ))
        })?;
        self.report.record(&record)
    }

    /// Finish the document, once the merged indexes are written: with
    /// byte runs, those of every body they list.
    pub(super) fn finish(self) -> Result<(), Error> {
        let runs = if self.byte_runs {
            carved_bodies(&self.out)?
        } else {
            Vec::new()
        };
        self.report.finish(&runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_file_name_is_taken() {
        let wish = |file: &str| DfxmlWish {
            file: file.into(),
            filenames: true,
            byte_runs: false,
        };
        let out = Path::new("out");
        assert_eq!(path(out, &wish("r.xml")).unwrap(), Path::new("out/r.xml"));
        for bad in ["", "../r.xml", "/etc/r.xml", "a/r.xml", ".", ".."] {
            let e = path(out, &wish(bad)).unwrap_err();
            assert!(e.to_string().contains("not a file name"), "{bad}: {e}");
        }
    }
}
