//! An external merge sort: items are held in memory up to a byte budget,
//! written out as sorted runs to a temporary file in an output folder when
//! the budget is reached, and merged back in order at the end.
//!
//! ```text
//!  push ─▶ held (≤ budget) ──sorted──▶ spill file: |run 0|run 1|run 2|...
//!  finish ─▶ merge(run 0, run 1, ..., held) ─▶ items in order
//! ```
//!
//! Owns: the spill file, the runs in it and the merge. The file never has
//! a name anyone could plant something at, and is never left behind (see
//! [`spill_file`]). Memory is the budget plus, while merging, one read
//! buffer of [`RUN_BUFFER`] bytes and one item per merged run, at most
//! [`FAN_IN`] runs at a time (more are first merged into longer runs).
//! The sort is stable: equal items come out in the order they were pushed.
//!
//! Must not: know what the items mean. They say how they order, how they
//! are written and how much memory they hold ([`Spill`]).

use std::borrow::Borrow;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

/// Most runs merged at once; with more, the first ones are merged into one
/// longer run first.
pub(crate) const FAN_IN: usize = 64;
/// Read buffer per run while merging.
pub(crate) const RUN_BUFFER: usize = 64 * 1024;

/// An item the sorter can hold, write to its spill file and read back.
pub(crate) trait Spill: Ord + Sized {
    /// Append the item's bytes to `out` (read back by [`Spill::decode`]).
    fn encode(&self, out: &mut Vec<u8>);
    /// The item [`Spill::encode`] wrote as `bytes`; `None` if they are not one.
    fn decode(bytes: &[u8]) -> Option<Self>;
    /// Heap bytes the item holds, for the budget (its inline size is
    /// counted by the sorter).
    fn heap_bytes(&self) -> usize;
}

/// Sorts items pushed in any order, within a memory budget.
pub(crate) struct Sorter<T> {
    /// Where the spill file is created.
    dir: PathBuf,
    /// Bytes of items held before a run is written.
    budget: usize,
    /// Runs merged at once.
    fan_in: usize,
    held: Vec<T>,
    held_bytes: usize,
    runs: Option<Runs>,
    /// Writing a run failed once: everything is held from then on.
    memory_only: bool,
}

impl<T: Spill> Sorter<T> {
    /// A sorter holding up to about `budget` bytes of items, spilling into
    /// a temporary file in `dir`.
    pub(crate) fn new(dir: &Path, budget: usize) -> Sorter<T> {
        #[cfg(test)]
        let budget = TEST_BUDGET.with(|b| b.get()).unwrap_or(budget);
        Sorter {
            dir: dir.to_path_buf(),
            budget,
            fan_in: FAN_IN,
            held: Vec::new(),
            held_bytes: 0,
            runs: None,
            memory_only: false,
        }
    }

    /// The folder the spill file goes in (named in errors).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Add `item`. When the budget is reached the items held are written as
    /// a run. If that fails the error is returned once and the sorter holds
    /// every item from then on: nothing is lost, but memory is no longer
    /// bounded.
    pub(crate) fn push(&mut self, item: T) -> io::Result<()> {
        self.held_bytes += std::mem::size_of::<T>() + item.heap_bytes();
        self.held.push(item);
        if self.held_bytes < self.budget || self.memory_only {
            return Ok(());
        }
        match self.write_run() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.memory_only = true;
                Err(e)
            }
        }
    }

    /// Runs written to the spill file so far.
    #[cfg(test)]
    pub(crate) fn runs_written(&self) -> usize {
        self.runs.as_ref().map_or(0, |r| r.list.len())
    }

    /// Sort the items held and append them to the spill file as one run.
    fn write_run(&mut self) -> io::Result<()> {
        self.held.sort();
        let runs = match &mut self.runs {
            Some(r) => r,
            None => self.runs.insert(Runs::new(&self.dir)?),
        };
        // Items are only let go once the run is safely written.
        let run = runs.append::<T, _>(self.held.iter().map(Ok))?;
        runs.list.push(run);
        self.held.clear();
        self.held_bytes = 0;
        Ok(())
    }

    /// Every item pushed, in order. Runs beyond [`FAN_IN`] are merged into
    /// longer ones first; an error doing so is returned.
    pub(crate) fn finish(mut self) -> io::Result<Sorted<T>> {
        self.held.sort();
        let held = std::mem::take(&mut self.held).into_iter();
        let Some(mut runs) = self.runs.take() else {
            return Ok(Sorted {
                merge: Merge::new(Vec::new(), held),
                _runs: None,
            });
        };
        // The held items are one more source: while there are more than
        // `fan_in` sources in all, merge each `fan_in` consecutive runs into
        // one (so equal items stay in the order they were pushed), reading
        // and writing every item once per round.
        let fan_in = self.fan_in.max(2);
        while runs.list.len() >= fan_in {
            let old = std::mem::take(&mut runs.list);
            for group in old.chunks(fan_in) {
                let readers = group.iter().map(|r| runs.reader(*r)).collect();
                let merged = runs.append::<T, T>(Merge::new(readers, Vec::new().into_iter()))?;
                runs.list.push(merged);
            }
        }
        let readers = runs.list.iter().map(|r| runs.reader(*r)).collect();
        Ok(Sorted {
            merge: Merge::new(readers, held),
            _runs: Some(runs),
        })
    }
}

#[cfg(test)]
thread_local! {
    /// The budget of every sorter made in this thread, while set.
    static TEST_BUDGET: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Run `f` with every sorter it makes (in this thread) on a budget of
/// `budget` bytes, to make small inputs spill.
#[cfg(test)]
pub(crate) fn with_budget<R>(budget: usize, f: impl FnOnce() -> R) -> R {
    TEST_BUDGET.with(|b| b.set(Some(budget)));
    let r = f();
    TEST_BUDGET.with(|b| b.set(None));
    r
}

#[cfg(test)]
impl<T: Spill> Sorter<T> {
    /// A sorter merging at most `fan_in` runs at a time (at least 2).
    pub(crate) fn with_fan_in(mut self, fan_in: usize) -> Sorter<T> {
        self.fan_in = fan_in;
        self
    }
}

/// The items of a [`Sorter`], in order. After an error reading the spill
/// file, nothing more comes.
pub(crate) struct Sorted<T> {
    merge: Merge<T>,
    /// Keeps the spill file open until the last item is read.
    _runs: Option<Runs>,
}

impl<T: Spill> Sorted<T> {
    /// No items.
    pub(crate) fn empty() -> Sorted<T> {
        Sorted {
            merge: Merge::new(Vec::new(), Vec::new().into_iter()),
            _runs: None,
        }
    }
}

impl<T: Spill> Iterator for Sorted<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        self.merge.next()
    }
}

/// One run: a stretch of the spill file.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    len: u64,
}

/// The spill file and the runs in it, in the order they were written.
struct Runs {
    file: Arc<File>,
    /// The file's length (where the next run starts).
    end: u64,
    list: Vec<Run>,
}

impl Runs {
    fn new(dir: &Path) -> io::Result<Runs> {
        Ok(Runs {
            file: Arc::new(spill_file(dir)?),
            end: 0,
            list: Vec::new(),
        })
    }

    /// Write `items` (each framed by its length) at the end of the file as a
    /// new run, and return it (not yet listed).
    fn append<T: Spill, B: Borrow<T>>(
        &mut self,
        items: impl Iterator<Item = io::Result<B>>,
    ) -> io::Result<Run> {
        let start = self.end;
        let mut w = BufWriter::with_capacity(RUN_BUFFER, RunWriter { runs: self });
        let mut bytes = Vec::new();
        for item in items {
            bytes.clear();
            item?.borrow().encode(&mut bytes);
            let len = u32::try_from(bytes.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "item over 4 GiB"))?;
            w.write_all(&len.to_le_bytes())?;
            w.write_all(&bytes)?;
        }
        w.flush()?;
        drop(w);
        Ok(Run {
            start,
            len: self.end - start,
        })
    }

    /// A reader of `run`'s items.
    fn reader<T: Spill>(&self, run: Run) -> RunItems<T> {
        RunItems {
            input: BufReader::with_capacity(
                RUN_BUFFER,
                RunReader {
                    file: Arc::clone(&self.file),
                    pos: run.start,
                },
            ),
            left: run.len,
            bytes: Vec::new(),
            _item: std::marker::PhantomData,
        }
    }
}

/// Appends to the spill file at its end, counting what was written.
struct RunWriter<'a> {
    runs: &'a mut Runs,
}

impl Write for RunWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.runs.file.write_at(buf, self.runs.end)?;
        self.runs.end += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the spill file from `pos` on, without moving the file's cursor.
struct RunReader {
    file: Arc<File>,
    pos: u64,
}

impl Read for RunReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The items of one run, read back.
struct RunItems<T> {
    input: BufReader<RunReader>,
    /// Bytes of the run not read yet.
    left: u64,
    bytes: Vec<u8>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T: Spill> RunItems<T> {
    fn next_item(&mut self) -> io::Result<Option<T>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut len = [0u8; 4];
        self.input.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len);
        self.bytes.resize(len as usize, 0);
        self.input.read_exact(&mut self.bytes)?;
        let framed = 4 + u64::from(len);
        if framed > self.left {
            return Err(corrupt());
        }
        self.left -= framed;
        T::decode(&self.bytes).map(Some).ok_or_else(corrupt)
    }
}

fn corrupt() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "spill file does not hold what was written to it",
    )
}

/// The next item of each source, smallest first; ties go to the source
/// listed first.
struct Head<T> {
    item: T,
    source: usize,
}

impl<T: Ord> PartialEq for Head<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Head<T> {}

impl<T: Ord> PartialOrd for Head<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Head<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.item
            .cmp(&other.item)
            .then(self.source.cmp(&other.source))
    }
}

/// A k-way merge of sorted runs, then the sorted items still held (listed
/// last, so they lose ties: they were pushed last).
struct Merge<T> {
    runs: Vec<RunItems<T>>,
    held: std::vec::IntoIter<T>,
    heap: BinaryHeap<Reverse<Head<T>>>,
    started: bool,
    failed: bool,
}

impl<T: Spill> Merge<T> {
    fn new(runs: Vec<RunItems<T>>, held: std::vec::IntoIter<T>) -> Merge<T> {
        Merge {
            runs,
            held,
            heap: BinaryHeap::new(),
            started: false,
            failed: false,
        }
    }

    /// Put source `source`'s next item (if any) in the heap.
    fn refill(&mut self, source: usize) -> io::Result<()> {
        let item = match self.runs.get_mut(source) {
            Some(run) => run.next_item()?,
            None => self.held.next(),
        };
        if let Some(item) = item {
            self.heap.push(Reverse(Head { item, source }));
        }
        Ok(())
    }

    fn step(&mut self) -> io::Result<Option<T>> {
        if !self.started {
            self.started = true;
            for source in 0..=self.runs.len() {
                self.refill(source)?;
            }
        }
        let Some(Reverse(head)) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill(head.source)?;
        Ok(Some(head.item))
    }
}

impl<T: Spill> Iterator for Merge<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(item) => item.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// A new, empty temporary file in `dir`, open for reading and writing,
/// that no other process can reach by name: an unnamed file (`O_TMPFILE`)
/// where the file system allows one, otherwise a new file (`O_EXCL`, never
/// through a link planted at its name) that is unlinked at once. Either
/// way it is gone when closed, however the run ends.
pub(crate) fn spill_file(dir: &Path) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
    {
        Ok(f) => Ok(f),
        // Not a folder, or not there: the named file would fail the same way.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Err(e),
        Err(_) => named_spill_file(dir),
    }
}

/// [`spill_file`]'s fallback: a file created under a fresh name (never
/// opening anything already there, link or not) and unlinked at once.
pub(crate) fn named_spill_file(dir: &Path) -> io::Result<File> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, AtomicOrdering::Relaxed);
        let path = dir.join(format!(".flowsplit-spill-{}-{n}", std::process::id()));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writing and reading the fields of a [`Spill`] item.
pub(crate) mod codec {
    /// Append `v`.
    pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
        out.extend_from_slice(&v.to_le_bytes());
    }

    /// Append `bytes`, preceded by their length.
    pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
        put_u64(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    /// Reads back what the `put_` functions wrote, in the same order.
    pub(crate) struct Fields<'a>(pub(crate) &'a [u8]);

    impl<'a> Fields<'a> {
        /// The next number.
        pub(crate) fn u64(&mut self) -> Option<u64> {
            let (head, rest) = self.0.split_first_chunk::<8>()?;
            self.0 = rest;
            Some(u64::from_le_bytes(*head))
        }

        /// The next byte string.
        pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
            let len = usize::try_from(self.u64()?).ok()?;
            if len > self.0.len() {
                return None;
            }
            let (head, rest) = self.0.split_at(len);
            self.0 = rest;
            Some(head)
        }

        /// The next string.
        pub(crate) fn string(&mut self) -> Option<String> {
            std::str::from_utf8(self.bytes()?).ok().map(str::to_string)
        }

        /// Whether every field was read.
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::codec::{put_bytes, put_u64, Fields};
    use super::*;

    /// A key and the order it was pushed in (not part of the order).
    #[derive(Debug, Clone)]
    struct Item {
        key: u64,
        name: String,
        pushed: u64,
    }

    impl PartialEq for Item {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == Ordering::Equal
        }
    }
    impl Eq for Item {}
    impl PartialOrd for Item {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Item {
        fn cmp(&self, other: &Self) -> Ordering {
            (self.key, &self.name).cmp(&(other.key, &other.name))
        }
    }

    impl Spill for Item {
        fn encode(&self, out: &mut Vec<u8>) {
            put_u64(out, self.key);
            put_bytes(out, self.name.as_bytes());
            put_u64(out, self.pushed);
        }
        fn decode(bytes: &[u8]) -> Option<Self> {
            let mut f = Fields(bytes);
            let item = Item {
                key: f.u64()?,
                name: f.string()?,
                pushed: f.u64()?,
            };
            f.is_empty().then_some(item)
        }
        fn heap_bytes(&self) -> usize {
            self.name.len()
        }
    }

    /// `n` items with keys in a scrambled order, some keys repeated.
    fn scrambled(n: u64) -> Vec<Item> {
        (0..n)
            .map(|i| Item {
                key: (i * 7919) % (n / 2 + 1),
                name: format!("n{}", i % 3),
                pushed: i,
            })
            .collect()
    }

    /// What a stable in-memory sort gives.
    fn expected(items: &[Item]) -> Vec<(u64, String, u64)> {
        let mut v = items.to_vec();
        v.sort();
        v.into_iter().map(|i| (i.key, i.name, i.pushed)).collect()
    }

    fn drain(sorter: Sorter<Item>) -> Vec<(u64, String, u64)> {
        sorter
            .finish()
            .unwrap()
            .map(|i| i.unwrap())
            .map(|i| (i.key, i.name, i.pushed))
            .collect()
    }

    /// Names in `dir`.
    fn listing(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn items_pushed_out_of_order_come_out_sorted_without_spilling() {
        let dir = tempfile::tempdir().unwrap();
        let items = scrambled(1000);
        let mut s = Sorter::new(dir.path(), 1 << 20);
        for i in &items {
            s.push(i.clone()).unwrap();
        }
        assert_eq!(s.runs_written(), 0);
        assert_eq!(drain(s), expected(&items));
    }

    #[test]
    fn spills_across_several_runs_and_merges_them_stably() {
        let dir = tempfile::tempdir().unwrap();
        let items = scrambled(5000);
        // About 60 items per run.
        let mut s = Sorter::new(dir.path(), 60 * (std::mem::size_of::<Item>() + 2));
        for i in &items {
            s.push(i.clone()).unwrap();
        }
        assert!(s.runs_written() > 50, "{} runs", s.runs_written());
        assert_eq!(listing(dir.path()), Vec::<String>::new());
        assert_eq!(drain(s), expected(&items));
    }

    #[test]
    fn more_runs_than_the_fan_in_are_merged_in_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let items = scrambled(3000);
        let mut s = Sorter::new(dir.path(), 10 * (std::mem::size_of::<Item>() + 2)).with_fan_in(3);
        for i in &items {
            s.push(i.clone()).unwrap();
        }
        assert!(s.runs_written() > 100);
        assert_eq!(drain(s), expected(&items));
    }

    #[test]
    fn an_empty_sorter_yields_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(drain(Sorter::new(dir.path(), 0)), vec![]);
    }

    #[test]
    fn the_spill_file_is_gone_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let items = scrambled(500);
        let mut s = Sorter::new(dir.path(), 1);
        for i in &items {
            s.push(i.clone()).unwrap();
        }
        let mut sorted = s.finish().unwrap();
        // Half read, then dropped (as on an error path).
        for _ in 0..250 {
            sorted.next().unwrap().unwrap();
        }
        assert_eq!(listing(dir.path()), Vec::<String>::new());
        drop(sorted);
        assert_eq!(listing(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn the_named_fallback_leaves_no_name_and_never_follows_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = named_spill_file(dir.path()).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(listing(dir.path()), Vec::<String>::new());
        // A link planted at the next name is skipped, not opened.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        for n in 0..1000 {
            let name = format!(".flowsplit-spill-{}-{n}", std::process::id());
            let _ = std::os::unix::fs::symlink(&victim, dir.path().join(name));
        }
        let mut g = named_spill_file(dir.path()).unwrap();
        g.write_all(b"spilled").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn a_folder_that_cannot_hold_the_spill_file_keeps_everything_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let items = scrambled(100);
        let mut s = Sorter::new(&missing, 1);
        let mut failures = 0;
        for i in &items {
            failures += usize::from(s.push(i.clone()).is_err());
        }
        assert_eq!(failures, 1);
        assert_eq!(drain(s), expected(&items));
    }
}
