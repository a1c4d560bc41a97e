//! The run's amplification bound on zero fill: which holes given up are
//! filled with zeros and which are left out as jumps.
//!
//! `-m` bounds one hole; this bounds their sum. Every TCP segment the table
//! takes in earns its budget shard (see [`super::table::BUDGET_SHARDS`])
//! credit of `ratio` times the bytes it took in the capture, counted from
//! below as its captured payload plus [`SEGMENT_FLOOR`]; each shard also
//! starts with a sixteenth of `base`. A hole is zero-filled only when it
//! is at most `-m` long and fits in what is left of its shard's credit:
//!
//! ```text
//!   shard's credit: ratio x (payload + 40 per segment) + base / 16
//!   |==== filled ====|== filled ==|........ left ........|
//!                                 ^ a hole longer than what is left: a jump
//! ```
//!
//! So over a capture whose packets hold `B` captured bytes (less than the
//! file's size) the zeros written (and hashed) add up to at most
//! `ratio x B + base`, whatever the capture holds. Credit is kept
//! per budget shard, each of which one worker reads in capture order, so the
//! same holes are filled for every `-j`.
//!
//! Must not: know about files, sequence numbers or the assembler; it only
//! answers "fill this many zeros?" and counts.

use super::assembler::Piece;

/// The least a captured TCP segment takes of the captured bytes beyond its
/// payload: an IPv4 header (20 bytes) and a TCP header (20). A link
/// header, IPv6, IP options, TCP options or tunnels only take more, so the
/// credit counted never exceeds the packets' captured bytes (the summary's
/// `bytes`), let alone the capture file's size.
pub const SEGMENT_FLOOR: u64 = 40;

/// The default of [`FillBound::ratio`] (`--fill-ratio`).
pub const DEFAULT_FILL_RATIO: u64 = 16;

/// The default of [`FillBound::base`] (`--fill-base`): 16 MiB.
pub const DEFAULT_FILL_BASE: u64 = 16 << 20;

/// The amplification bound: over a capture of `B` bytes, at most
/// `ratio x B + base` bytes of output that no captured byte carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillBound {
    /// Bytes of fill each captured byte earns (`--fill-ratio`).
    pub ratio: u64,
    /// Bytes of fill the run has before any packet (`--fill-base`), split
    /// evenly over the budget shards.
    pub base: u64,
}

impl Default for FillBound {
    fn default() -> FillBound {
        FillBound {
            ratio: DEFAULT_FILL_RATIO,
            base: DEFAULT_FILL_BASE,
        }
    }
}

impl FillBound {
    /// No bound at all (tests of other limits, and `u64::MAX` options).
    pub fn unbounded() -> FillBound {
        FillBound {
            ratio: u64::MAX,
            base: u64::MAX,
        }
    }

    /// The bound for a capture of `bytes` bytes: `ratio x bytes + base`,
    /// saturating.
    pub fn limit(&self, bytes: u64) -> u64 {
        self.ratio.saturating_mul(bytes).saturating_add(self.base)
    }
}

/// What one budget shard earned and spent of the bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FillAccount {
    /// Captured bytes counted (payload plus [`SEGMENT_FLOOR`] per segment).
    pub credited: u64,
    /// Zero bytes filled.
    pub filled: u64,
    /// Holes of at most `-m` left out as jumps because the bound was spent.
    pub bound_jumps: u64,
    /// Their bytes.
    pub bound_jump_bytes: u64,
}

impl FillAccount {
    /// Add `other`'s counts to these.
    pub fn add(&mut self, other: &FillAccount) {
        self.credited = self.credited.saturating_add(other.credited);
        self.filled = self.filled.saturating_add(other.filled);
        self.bound_jumps += other.bound_jumps;
        self.bound_jump_bytes = self.bound_jump_bytes.saturating_add(other.bound_jump_bytes);
    }

    /// A segment carrying `payload` captured bytes was taken in.
    pub fn segment(&mut self, payload: usize) {
        self.credited = self.credited.saturating_add(payload as u64 + SEGMENT_FLOOR);
    }

    /// Fill this account may still make under `bound`, holding a share of
    /// `base` of `1 / shards`.
    fn room(&self, bound: &FillBound, shards: u64) -> u64 {
        bound
            .ratio
            .saturating_mul(self.credited)
            .saturating_add(bound.base / shards.max(1))
            .saturating_sub(self.filled)
    }
}

/// What became of a hole given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoleKind {
    /// Zero-filled: a gap.
    Filled,
    /// Longer than `-m`: a jump.
    Long,
    /// At most `-m`, but more than the bound had left: a jump.
    Bound,
}

/// The fill decisions of one direction's call, against its shard's
/// account: hand each hole's piece through [`Fill::piece`], then take the
/// decisions, in the same order, with [`Fill::take_decisions`].
#[derive(Debug)]
pub struct Fill<'a> {
    max_seek: u64,
    bound: FillBound,
    shards: u64,
    account: &'a mut FillAccount,
    decided: Vec<HoleKind>,
}

impl<'a> Fill<'a> {
    /// Decisions for holes of at most `max_seek` bytes, charged to
    /// `account`, one of `shards` sharing `bound`.
    pub fn new(
        max_seek: u64,
        bound: FillBound,
        shards: usize,
        account: &'a mut FillAccount,
    ) -> Fill<'a> {
        Fill {
            max_seek,
            bound,
            shards: shards as u64,
            account,
            decided: Vec::new(),
        }
    }

    /// A piece as it is handed over: a gap is kept (and charged) when at
    /// most `-m` long and within what is left of the bound, else turned
    /// into a jump. Every gap's decision is noted.
    pub fn piece<'p>(&mut self, piece: Piece<'p>) -> Piece<'p> {
        let Piece::Gap(n) = piece else {
            return piece;
        };
        let kind = self.decide(n);
        self.decided.push(kind);
        match kind {
            HoleKind::Filled => piece,
            HoleKind::Long | HoleKind::Bound => Piece::Jump(n),
        }
    }

    fn decide(&mut self, n: u64) -> HoleKind {
        if n > self.max_seek {
            return HoleKind::Long;
        }
        if n > self.account.room(&self.bound, self.shards) {
            self.account.bound_jumps += 1;
            self.account.bound_jump_bytes = self.account.bound_jump_bytes.saturating_add(n);
            return HoleKind::Bound;
        }
        self.account.filled += n;
        HoleKind::Filled
    }

    /// The decisions made since the last call, in order.
    pub fn take_decisions(&mut self) -> Vec<HoleKind> {
        std::mem::take(&mut self.decided)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(ratio: u64, base: u64) -> FillBound {
        FillBound { ratio, base }
    }

    #[test]
    fn a_hole_within_m_and_the_credit_is_filled_and_charged() {
        let mut acc = FillAccount::default();
        acc.segment(60); // 100 bytes of credit
        let mut fill = Fill::new(1000, bound(2, 0), 1, &mut acc);
        assert_eq!(fill.piece(Piece::Gap(150)), Piece::Gap(150));
        assert_eq!(fill.piece(Piece::Gap(50)), Piece::Gap(50));
        assert_eq!(fill.take_decisions(), [HoleKind::Filled; 2]);
        assert_eq!(acc.filled, 200);
    }

    #[test]
    fn a_hole_past_the_credit_is_a_jump_and_later_smaller_ones_still_fit() {
        let mut acc = FillAccount::default();
        acc.segment(60);
        let mut fill = Fill::new(1000, bound(2, 0), 1, &mut acc);
        assert_eq!(fill.piece(Piece::Gap(150)), Piece::Gap(150));
        assert_eq!(fill.piece(Piece::Gap(60)), Piece::Jump(60));
        assert_eq!(fill.piece(Piece::Gap(50)), Piece::Gap(50));
        assert_eq!(
            fill.take_decisions(),
            [HoleKind::Filled, HoleKind::Bound, HoleKind::Filled]
        );
        assert_eq!(
            (acc.filled, acc.bound_jumps, acc.bound_jump_bytes),
            (200, 1, 60)
        );
    }

    #[test]
    fn a_hole_longer_than_m_is_a_jump_and_charges_nothing() {
        let mut acc = FillAccount::default();
        let mut fill = Fill::new(10, FillBound::unbounded(), 16, &mut acc);
        assert_eq!(fill.piece(Piece::Gap(11)), Piece::Jump(11));
        assert_eq!(fill.take_decisions(), [HoleKind::Long]);
        assert_eq!(acc, FillAccount::default());
    }

    #[test]
    fn each_shard_starts_with_its_share_of_the_base() {
        let mut acc = FillAccount::default();
        let mut fill = Fill::new(1 << 20, bound(16, 1600), 16, &mut acc);
        assert_eq!(fill.piece(Piece::Gap(101)), Piece::Jump(101));
        assert_eq!(fill.piece(Piece::Gap(100)), Piece::Gap(100));
        assert_eq!(fill.piece(Piece::Gap(1)), Piece::Jump(1));
    }

    #[test]
    fn data_and_jumps_pass_unchanged_and_decide_nothing() {
        let mut acc = FillAccount::default();
        let mut fill = Fill::new(10, bound(0, 0), 1, &mut acc);
        assert_eq!(fill.piece(Piece::Data(b"ab")), Piece::Data(b"ab"));
        assert_eq!(fill.piece(Piece::Jump(5)), Piece::Jump(5));
        assert!(fill.take_decisions().is_empty());
    }

    #[test]
    fn the_limit_saturates() {
        assert_eq!(FillBound::unbounded().limit(3), u64::MAX);
        assert_eq!(bound(16, 5).limit(10), 165);
    }
}
