//! Ordering one direction's bytes by stream offset.
//!
//! An [`Assembler`] knows nothing of TCP flags, sequence numbers or files: it
//! takes byte runs at 64-bit stream offsets and emits an in-order stream of
//! [`Piece`]s. Its state is the offset of the next byte to emit and the runs
//! buffered beyond it:
//!
//! ```text
//!   emitted          next        pending runs (never overlapping)
//! |=========|........|---- 100 ----|.....|--- 50 ---|
//!                    ^ hole: bytes not seen yet
//! ```
//!
//! Overlap policy: **bytes accepted first win.** Bytes below `next` were
//! already emitted and are never changed; a new run that overlaps buffered
//! runs only fills the holes between them. Retransmissions, keepalive probes
//! (one old byte) and zero-window probes (one byte that is sent again later)
//! therefore never change the stream.
//!
//! Holes are only given up when asked ([`Assembler::skip_hole`],
//! [`Assembler::skip_to`], [`Assembler::finish`]); each becomes a
//! [`Piece::Gap`] so that downstream keeps offsets exact.
//!
//! Pieces go to an `emit` callback that may fail (a consumer that cannot
//! write): the first error stops the call and is returned. The bytes of the
//! piece that failed count as emitted; runs not yet emitted stay buffered.

use std::collections::BTreeMap;

/// One in-order item of a reassembled stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Bytes that arrived, at the current end of the stream.
    Data(&'a [u8]),
    /// This many bytes never arrived.
    Gap(u64),
    /// This many bytes never arrived and are more than a direction may
    /// zero-fill (`-m`): nothing stands for them in the output, so what
    /// follows sits this much lower in the file than in the stream. The
    /// assembler itself never makes one; a direction turns a gap that is too
    /// long into it.
    Jump(u64),
}

impl Piece<'_> {
    /// The bytes this piece puts into a flow file: the data, the zeros of a
    /// gap, nothing for a jump (which is not filled).
    pub fn stored_len(&self) -> u64 {
        match self {
            Piece::Data(d) => d.len() as u64,
            Piece::Gap(n) => *n,
            Piece::Jump(_) => 0,
        }
    }
}

/// Where an assembler's pieces go, in stream order; an error stops the call.
pub type Emit<'a, E> = dyn FnMut(Piece<'_>) -> Result<(), E> + 'a;

/// Runs buffered beyond a hole, never empty and never overlapping: boxed,
/// so a direction with nothing pending (nearly all of them) keeps one
/// pointer instead of a map and a count.
#[derive(Debug, Default)]
struct Pending(Option<Box<Runs>>);

#[derive(Debug, Default)]
struct Runs {
    map: BTreeMap<u64, Vec<u8>>,
    bytes: usize,
}

impl Pending {
    fn map(&self) -> Option<&BTreeMap<u64, Vec<u8>>> {
        self.0.as_deref().map(|r| &r.map)
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.bytes)
    }

    /// Where the first buffered run starts.
    fn first_start(&self) -> Option<u64> {
        self.map()?.keys().next().copied()
    }

    /// Buffer `run` (not empty) at `at`.
    fn insert(&mut self, at: u64, run: Vec<u8>) {
        let runs = self.0.get_or_insert_with(Box::default);
        runs.bytes += run.len();
        runs.map.insert(at, run);
    }

    /// Take out the first run if it starts at `at`.
    fn take_at(&mut self, at: u64) -> Option<Vec<u8>> {
        let runs = self.0.as_mut()?;
        let entry = runs.map.first_entry()?;
        if *entry.key() != at {
            return None;
        }
        let run = entry.remove();
        runs.bytes -= run.len();
        if runs.map.is_empty() {
            self.0 = None;
        }
        Some(run)
    }

    /// Move every run `by` bytes further from the start.
    fn shift(&mut self, by: u64) {
        if let Some(runs) = self.0.as_mut() {
            let map = std::mem::take(&mut runs.map);
            runs.map = map.into_iter().map(|(k, v)| (k + by, v)).collect();
        }
    }
}

/// Reorders byte runs into a stream; see the module documentation.
#[derive(Debug, Default)]
pub struct Assembler {
    next: u64,
    pending: Pending,
    /// While held, nothing is emitted: runs are only buffered (see [`Assembler::hold`]).
    held: bool,
}

impl Assembler {
    /// An empty assembler whose stream starts at offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offset of the next byte to be emitted (everything below was emitted).
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Bytes buffered beyond a hole.
    pub fn pending_bytes(&self) -> usize {
        self.pending.bytes()
    }

    /// True when nothing is buffered.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// Where the stream would end if it were released now: the end of the
    /// buffered runs when they follow on from the next offset without a
    /// hole (the next offset when nothing is buffered), `None` when a hole
    /// is left.
    pub fn gapless_end(&self) -> Option<u64> {
        let mut end = self.next;
        if let Some(map) = self.pending.map() {
            for (&start, run) in map {
                if start != end {
                    return None;
                }
                end += run.len() as u64;
            }
        }
        Some(end)
    }

    /// Accept `data` found at stream offset `offset`, emitting whatever has
    /// become contiguous. Bytes already accepted are never replaced.
    pub fn insert<E>(&mut self, offset: u64, data: &[u8], emit: &mut Emit<'_, E>) -> Result<(), E> {
        let end = offset.saturating_add(data.len() as u64);
        if data.is_empty() || end <= self.next {
            return Ok(());
        }
        let (offset, data) = if offset < self.next {
            let cut = usize::try_from(self.next - offset).unwrap_or(data.len());
            (self.next, &data[cut.min(data.len())..])
        } else {
            (offset, data)
        };
        if offset == self.next && self.pending.is_empty() && !self.held {
            // The common case: in order, nothing buffered. No copy.
            self.next = end;
            return emit(Piece::Data(data));
        }
        self.store_uncovered(offset, data);
        self.drain(emit)
    }

    /// Buffer the parts of `data` (at `offset`) that no pending run covers.
    fn store_uncovered(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        let mut fresh: Vec<(u64, u64)> = Vec::new();
        let mut cursor = offset;
        let empty = BTreeMap::new();
        let runs = self.pending.map().unwrap_or(&empty);
        let first = runs
            .range(..=offset)
            .next_back()
            .map(|(&k, _)| k)
            .unwrap_or(offset);
        for (&start, run) in runs.range(first..end) {
            let stop = start + run.len() as u64;
            if stop <= cursor {
                continue;
            }
            if start > cursor {
                fresh.push((cursor, start));
            }
            cursor = cursor.max(stop);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            fresh.push((cursor, end));
        }
        for (from, to) in fresh {
            let lo = (from - offset) as usize;
            let hi = (to - offset) as usize;
            self.pending.insert(from, data[lo..hi].to_vec());
        }
    }

    /// Stop emitting: until [`Assembler::release`], every run is buffered,
    /// so that the start of the stream can still move (see [`Assembler::shift`]).
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// True while held.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Move every buffered run `by` bytes further from the start: the stream
    /// turned out to begin earlier. Only possible while nothing was emitted;
    /// returns false (and changes nothing) otherwise.
    pub fn shift(&mut self, by: u64) -> bool {
        if self.next != 0 {
            return false;
        }
        self.pending.shift(by);
        true
    }

    /// Stop holding and emit whatever is contiguous.
    pub fn release<E>(&mut self, emit: &mut Emit<'_, E>) -> Result<(), E> {
        self.held = false;
        self.drain(emit)
    }

    /// Emit buffered runs that start exactly at `next`.
    fn drain<E>(&mut self, emit: &mut Emit<'_, E>) -> Result<(), E> {
        if self.held {
            return Ok(());
        }
        while let Some(run) = self.pending.take_at(self.next) {
            self.next += run.len() as u64;
            emit(Piece::Data(&run))?;
        }
        Ok(())
    }

    /// Give up the first hole: emit it as a gap and then everything that
    /// follows it contiguously. Returns the gap `(offset, length)`, or `None`
    /// when nothing is buffered.
    pub fn skip_hole<E>(&mut self, emit: &mut Emit<'_, E>) -> Result<Option<(u64, u64)>, E> {
        self.held = false;
        let Some(start) = self.pending.first_start() else {
            return Ok(None);
        };
        let gap = (self.next, start - self.next);
        self.next = start;
        if gap.1 > 0 {
            emit(Piece::Gap(gap.1))?;
        }
        self.drain(emit)?;
        Ok((gap.1 > 0).then_some(gap))
    }

    /// Move the stream end forward to `offset`, emitting buffered runs and
    /// gaps on the way. Returns the gaps emitted. Runs at or beyond `offset`
    /// stay buffered.
    pub fn skip_to<E>(
        &mut self,
        offset: u64,
        emit: &mut Emit<'_, E>,
    ) -> Result<Vec<(u64, u64)>, E> {
        self.held = false;
        let mut gaps = Vec::new();
        while self.next < offset {
            match self.pending.first_start() {
                Some(start) if start < offset => {
                    if let Some(g) = self.skip_hole(emit)? {
                        gaps.push(g);
                    }
                }
                _ => {
                    let gap = offset - self.next;
                    gaps.push((self.next, gap));
                    self.next = offset;
                    emit(Piece::Gap(gap))?;
                    self.drain(emit)?;
                }
            }
        }
        Ok(gaps)
    }

    /// Give up every hole: emit all buffered runs with gaps between them.
    /// Returns the gaps emitted.
    pub fn finish<E>(&mut self, emit: &mut Emit<'_, E>) -> Result<Vec<(u64, u64)>, E> {
        self.release(emit)?;
        let mut gaps = Vec::new();
        while !self.pending.is_empty() {
            if let Some(g) = self.skip_hole(emit)? {
                gaps.push(g);
            }
        }
        Ok(gaps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed runs in order and return the emitted stream, gaps shown as `_`.
    fn run(steps: &[(u64, &[u8])]) -> (Assembler, Vec<u8>) {
        let mut asm = Assembler::new();
        let mut out = Vec::new();
        for &(off, data) in steps {
            asm.insert(off, data, &mut |p| collect(&mut out, p))
                .unwrap();
        }
        (asm, out)
    }

    fn collect(out: &mut Vec<u8>, p: Piece<'_>) -> Result<(), Never> {
        match p {
            Piece::Data(d) => out.extend_from_slice(d),
            Piece::Gap(n) => out.extend(std::iter::repeat_n(b'_', n as usize)),
            Piece::Jump(_) => out.push(b'|'),
        }
        Ok(())
    }

    /// The error of an emitter that cannot fail.
    #[derive(Debug)]
    enum Never {}

    #[test]
    fn in_order_runs_pass_straight_through() {
        let (asm, out) = run(&[(0, b"abc"), (3, b"def")]);
        assert_eq!(out, b"abcdef");
        assert!(asm.is_idle());
        assert_eq!(asm.next_offset(), 6);
    }

    #[test]
    fn out_of_order_run_waits_for_the_hole() {
        let (asm, out) = run(&[(3, b"def")]);
        assert_eq!(out, b"");
        assert_eq!(asm.pending_bytes(), 3);
        let (asm, out) = run(&[(3, b"def"), (0, b"abc")]);
        assert_eq!(out, b"abcdef");
        assert_eq!(asm.pending_bytes(), 0);
    }

    #[test]
    fn exact_retransmission_is_ignored() {
        let (_, out) = run(&[(0, b"abc"), (0, b"abc"), (3, b"d")]);
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn conflicting_retransmission_of_emitted_bytes_loses() {
        // Offsets 1..5 carry "XYZW": only "ZW" at 3..5 is new.
        let (_, out) = run(&[(0, b"abc"), (1, b"XYZW")]);
        assert_eq!(out, b"abcZW");
    }

    #[test]
    fn conflicting_overlap_of_buffered_bytes_loses() {
        // "cd" buffered at 2; a later run "XXXXe" at 1 only fills around it.
        let (_, out) = run(&[(2, b"cd"), (1, b"XXXXe"), (0, b"a")]);
        assert_eq!(out, b"aXcdXe");
    }

    #[test]
    fn run_spanning_several_buffered_runs_fills_between_them() {
        let (_, out) = run(&[(2, b"c"), (4, b"e"), (6, b"g"), (0, b"abXdXfgh")]);
        assert_eq!(out, b"abcdefgh");
    }

    #[test]
    fn keepalive_probe_one_old_byte_changes_nothing() {
        let (asm, out) = run(&[(0, b"hello"), (4, b"\0")]);
        assert_eq!(out, b"hello");
        assert_eq!(asm.next_offset(), 5);
    }

    #[test]
    fn skip_hole_emits_gap_then_buffered_bytes() {
        let (mut asm, mut out) = run(&[(0, b"ab"), (5, b"fg")]);
        let gap = asm.skip_hole(&mut |p| collect(&mut out, p)).unwrap();
        assert_eq!(gap, Some((2, 3)));
        assert_eq!(out, b"ab___fg");
    }

    #[test]
    fn finish_gives_up_every_hole() {
        let (mut asm, mut out) = run(&[(2, b"c"), (5, b"f")]);
        let gaps = asm.finish(&mut |p| collect(&mut out, p)).unwrap();
        assert_eq!(gaps, vec![(0, 2), (3, 2)]);
        assert_eq!(out, b"__c__f");
        assert!(asm.is_idle());
    }

    #[test]
    fn skip_to_known_end_adds_trailing_gap() {
        let (mut asm, mut out) = run(&[(0, b"ab"), (4, b"e")]);
        let gaps = asm.skip_to(7, &mut |p| collect(&mut out, p)).unwrap();
        assert_eq!(gaps, vec![(2, 2), (5, 2)]);
        assert_eq!(out, b"ab__e__");
    }

    #[test]
    fn skip_to_keeps_runs_beyond_the_target() {
        let (mut asm, mut out) = run(&[(0, b"a"), (5, b"f")]);
        let gaps = asm.skip_to(3, &mut |p| collect(&mut out, p)).unwrap();
        assert_eq!(gaps, vec![(1, 2)]);
        assert_eq!(out, b"a__");
        assert_eq!(asm.pending_bytes(), 1);
    }

    #[test]
    fn held_runs_wait_for_release_even_when_contiguous() {
        let mut asm = Assembler::new();
        let mut out = Vec::new();
        asm.hold();
        asm.insert(0, b"abc", &mut |p| collect(&mut out, p))
            .unwrap();
        assert_eq!(out, b"");
        asm.release(&mut |p| collect(&mut out, p)).unwrap();
        assert_eq!(out, b"abc");
    }

    #[test]
    fn shift_moves_held_runs_so_earlier_bytes_fit_in_front() {
        let mut asm = Assembler::new();
        let mut out = Vec::new();
        asm.hold();
        asm.insert(0, b"later", &mut |p| collect(&mut out, p))
            .unwrap();
        assert!(asm.shift(5));
        asm.insert(0, b"early", &mut |p| collect(&mut out, p))
            .unwrap();
        asm.release(&mut |p| collect(&mut out, p)).unwrap();
        assert_eq!(out, b"earlylater");
    }

    #[test]
    fn shift_refused_once_bytes_were_emitted() {
        let (mut asm, _) = run(&[(0, b"a")]);
        assert!(!asm.shift(3));
    }

    #[test]
    fn gapless_end_sees_through_held_runs_but_not_holes() {
        let mut asm = Assembler::new();
        let mut out = Vec::new();
        asm.hold();
        assert_eq!(asm.gapless_end(), Some(0));
        asm.insert(3, b"def", &mut |p| collect(&mut out, p))
            .unwrap();
        assert_eq!(asm.gapless_end(), None, "a hole at 0..3");
        asm.insert(0, b"abc", &mut |p| collect(&mut out, p))
            .unwrap();
        assert_eq!(asm.gapless_end(), Some(6));
        assert_eq!(out, b"", "still held");
    }

    #[test]
    fn offsets_beyond_four_gib_work() {
        let big = 5u64 << 30;
        let mut asm = Assembler::new();
        let mut out = Vec::new();
        asm.skip_to(big, &mut |_| Ok::<(), Never>(())).unwrap();
        asm.insert(big + 1, b"y", &mut |p| collect(&mut out, p))
            .unwrap();
        asm.insert(big, b"x", &mut |p| collect(&mut out, p))
            .unwrap();
        assert_eq!(out, b"xy");
        assert_eq!(asm.next_offset(), big + 2);
    }
}
