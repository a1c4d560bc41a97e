//! Decoded bodies' share of the run's amplification bound: the bytes
//! undoing a `Content-Encoding` writes beyond the encoded bytes it read.
//!
//! A body's own limits (`--max-decoded`, `--max-ratio` past its first MiB)
//! hold one body; nothing held their sum, so a small capture of many tiny
//! compressed bodies (a brotli body of 20 bytes decodes to a MiB) could
//! make gigabytes. This holds the sum over the run to the amplification
//! bound (`--max-amplification` ratio, `--amplification-base` base):
//!
//! ```text
//!   a connection's own credit: ratio x its captured bytes
//!       (its flow files' bytes less their zero-filled holes)
//!   the run's shared credit:   base, first come, first served
//!   a body grows (decoded - encoded so far) while credit is left;
//!   past it the body is cut and marked incomplete
//! ```
//!
//! So decoded bodies grow by at most `ratio x B + base` over a capture of
//! `B` captured bytes, beside the zero fill and range objects' holes,
//! which are held to the same `ratio x B + base` on their own (see
//! [`crate::flow::fill`]). A body that grows within its connection's own
//! credit is cut or not whatever `-j` is; the shared base goes to bodies
//! in the order they are decoded, so once a capture spends it, which
//! bodies are cut may depend on `-j`. Real captures stay far inside the
//! bound: an HTML page compressed tenfold grows by nine times its bytes.
//!
//! Must not: know about codings or files; it only answers "may this body
//! grow by so many bytes?" and counts.

use crate::flow::fill::FillBound;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The note of a body cut because the run's amplification bound was
/// spent.
pub(crate) const BOUND_NOTE: &str =
    "amplification bound reached (--max-amplification): decoded body cut";

/// The note of a body kept as sent because the bound was spent before it
/// decoded to a byte.
pub(crate) const NOT_DECODED_NOTE: &str =
    "amplification bound reached (--max-amplification): not decoded, kept as sent";

/// The error a decoding stage returns when the bound has no room for it
/// (see [`ConnGrowth::room`]).
#[derive(Debug)]
pub(crate) struct BoundSpent;

impl std::fmt::Display for BoundSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("amplification bound reached")
    }
}

impl std::error::Error for BoundSpent {}

impl BoundSpent {
    /// The error, as decoders pass it on.
    pub(crate) fn error() -> std::io::Error {
        std::io::Error::other(BoundSpent)
    }

    /// Whether `e` is (or wraps) this error.
    pub(crate) fn is(e: &std::io::Error) -> bool {
        e.get_ref().is_some_and(|r| r.is::<BoundSpent>())
    }
}

/// A carving run's account of decoded growth, shared by the threads
/// carving in it (an [`super::HttpOptions`] field). Opaque: every carving
/// run starts a fresh one under [`super::HttpOptions::amplification`],
/// whatever the options held.
#[derive(Debug, Clone, Default)]
pub struct GrowthAccount(pub(crate) Arc<RunGrowth>);

/// One carving run's account of decoded growth.
#[derive(Debug)]
pub(crate) struct RunGrowth {
    ratio: u64,
    /// The shared credit (`base`) not yet spent.
    base_left: AtomicU64,
    /// Bytes the bodies as kept grew by (see [`ConnGrowth::body_not_decoded`]).
    grown: AtomicU64,
    /// Bodies cut by the bound.
    cut: AtomicU64,
    /// Bodies kept as sent because the bound was spent.
    not_decoded: AtomicU64,
}

impl Default for RunGrowth {
    fn default() -> RunGrowth {
        RunGrowth::new(FillBound::default())
    }
}

impl RunGrowth {
    /// A fresh account under `bound`.
    pub(crate) fn new(bound: FillBound) -> RunGrowth {
        RunGrowth {
            ratio: bound.ratio,
            base_left: AtomicU64::new(bound.base),
            grown: AtomicU64::new(0),
            cut: AtomicU64::new(0),
            not_decoded: AtomicU64::new(0),
        }
    }

    /// Bytes decoded bodies grew by, over the run so far.
    pub(crate) fn grown(&self) -> u64 {
        self.grown.load(Ordering::Relaxed)
    }

    /// Bodies cut by the bound so far.
    pub(crate) fn cut(&self) -> u64 {
        self.cut.load(Ordering::Relaxed)
    }

    /// Bodies kept as sent by the bound so far.
    pub(crate) fn not_decoded(&self) -> u64 {
        self.not_decoded.load(Ordering::Relaxed)
    }

    /// Take up to `want` bytes of the shared credit; what was taken.
    fn take_shared(&self, want: u64) -> u64 {
        let mut taken = 0;
        // fetch_update's closure only fails when nothing is left.
        let _ = self
            .base_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                taken = want.min(left);
                (taken > 0).then(|| left - taken)
            });
        taken
    }
}

/// One connection's account: its own credit, then the run's.
#[derive(Debug)]
pub(crate) struct ConnGrowth {
    run: Arc<RunGrowth>,
    own_left: Cell<u64>,
}

impl ConnGrowth {
    /// The account of a connection whose flows carry `captured` bytes
    /// that were in the capture (not zero fill).
    pub(crate) fn new(run: &Arc<RunGrowth>, captured: u64) -> ConnGrowth {
        ConnGrowth {
            run: run.clone(),
            own_left: Cell::new(run.ratio.saturating_mul(captured)),
        }
    }

    /// Let a body grow by up to `want` more bytes: from the connection's
    /// own credit first, then the run's shared one. Returns the bytes
    /// granted (all of `want`, or less once both are spent).
    pub(crate) fn grow(&self, want: u64) -> u64 {
        let own = want.min(self.own_left.get());
        self.own_left.set(self.own_left.get() - own);
        let granted = own + self.run.take_shared(want - own);
        self.run.grown.fetch_add(granted, Ordering::Relaxed);
        granted
    }

    /// What the body may still grow by: the connection's own credit and
    /// the run's shared one left. A decoder that does up to `w` bytes of
    /// work before its first output byte (brotli fills a window of up to
    /// 16 MiB) starts only when `w` fits here, so its work is paid for by
    /// the growth it may make.
    pub(crate) fn room(&self) -> u64 {
        let shared = self.run.base_left.load(Ordering::Relaxed);
        self.own_left.get().saturating_add(shared)
    }

    /// A body was cut because [`ConnGrowth::grow`] granted less than asked.
    pub(crate) fn body_cut(&self) {
        self.run.cut.fetch_add(1, Ordering::Relaxed);
    }

    /// A body was kept as sent because the bound was spent early in it;
    /// `undone` is the growth it had been granted. That credit stays
    /// spent (the decoding was done, and must not be done again for
    /// free), but the run's growth counts only bodies as they are kept,
    /// so it does not depend on how much credit a run had when it gave up.
    pub(crate) fn body_not_decoded(&self, undone: u64) {
        self.run.not_decoded.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .run
            .grown
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
                Some(g.saturating_sub(undone))
            });
    }
}

/// The bytes of a connection's flow files that came from the capture:
/// each file's length less its zero-filled holes (`(offset, len)`; jumps,
/// of no length, take nothing). A file that cannot be read counts as
/// empty.
pub(crate) fn captured_bytes<'a>(
    flows: impl IntoIterator<Item = (&'a std::path::Path, &'a [(u64, u64)])>,
) -> u64 {
    flows
        .into_iter()
        .map(|(path, gaps)| {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let holes: u64 = gaps.iter().map(|g| g.1).sum();
            len.saturating_sub(holes)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_credit_first_then_the_shared_base_then_nothing() {
        let run = Arc::new(RunGrowth::new(FillBound { ratio: 4, base: 10 }));
        let a = ConnGrowth::new(&run, 5); // own credit 20
        assert_eq!(a.grow(15), 15);
        assert_eq!(a.grow(10), 10, "5 own + 5 of the base");
        let b = ConnGrowth::new(&run, 0);
        assert_eq!(b.grow(8), 5, "only 5 of the base is left");
        assert_eq!(b.grow(1), 0);
        assert_eq!(run.grown(), 30);
        b.body_cut();
        assert_eq!(run.cut(), 1);
    }

    #[test]
    fn an_unbounded_run_grants_everything() {
        let run = Arc::new(RunGrowth::new(FillBound::unbounded()));
        let a = ConnGrowth::new(&run, 0);
        assert_eq!(a.grow(u64::MAX / 2), u64::MAX / 2);
        assert_eq!(a.grow(u64::MAX / 2), u64::MAX / 2);
    }

    #[test]
    fn captured_bytes_leave_out_the_zero_fill() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("flow");
        std::fs::write(&f, vec![0u8; 100]).expect("write");
        let gaps = [(10u64, 30u64), (50, 0)];
        let missing = dir.path().join("missing");
        let flows = [(f.as_path(), &gaps[..]), (missing.as_path(), &[][..])];
        assert_eq!(captured_bytes(flows), 70);
    }
}
