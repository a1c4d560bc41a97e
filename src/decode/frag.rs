//! IP fragment reassembly: the only state the decoder keeps.
//!
//! Owns the table of datagrams under reassembly, for IPv4 and IPv6 alike. It
//! does not parse headers: `ip` hands it a [`FragKey`] and a [`Fragment`]
//! (offset, more-fragments flag, bytes) and gets back an [`Outcome`]. It
//! knows nothing about TCP.
//!
//! One datagram under reassembly is a buffer as long as the furthest byte
//! seen, plus the sorted, disjoint ranges of it that fragments have filled:
//!
//! ```text
//! buf:   |xxxxxxxx|........|xxxxxxxxxxxxxxxx|
//!         0      8         16               32   total = 32 (last fragment seen)
//! have:  [(0, 8), (16, 32)]                      hole: 8..16
//! ```
//!
//! Policies:
//! - **Overlap**: bytes already received win; a later fragment only fills holes.
//! - **Size**: a datagram whose fragments reach past `max_len` (65535 bytes of
//!   IP payload less the headers) is dropped at once (teardrop-safe), as is one
//!   whose last fragments disagree about its length or that sprouts more than
//!   [`MAX_HOLES`] separate pieces.
//! - **Memory**: at most [`FragmentLimits::max_datagrams`] datagrams and
//!   [`FragmentLimits::max_bytes`] buffered bytes; to make room, the datagram
//!   first seen longest ago is evicted.
//! - **Time**: a datagram is expired once [`FragmentLimits::timeout_secs`] of
//!   capture time have passed since its first fragment. Entries sit in a
//!   queue in first-seen order, so expiry only ever looks at the front.

use crate::capture::Timestamp;
use std::collections::{HashMap, VecDeque};

/// Bounds on the fragment table.
#[derive(Debug, Clone, Copy)]
pub struct FragmentLimits {
    /// Datagrams under reassembly at once.
    pub max_datagrams: usize,
    /// Bytes held in all fragments at once.
    pub max_bytes: usize,
    /// Seconds of capture time a datagram may wait for its fragments.
    pub timeout_secs: u64,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits {
            max_datagrams: 4096,
            max_bytes: 32 << 20,
            timeout_secs: 30,
        }
    }
}

/// Counters of what the fragment table did, for the run report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Datagrams completed from their fragments.
    pub reassembled: u64,
    /// Datagrams abandoned because their time ran out.
    pub expired: u64,
    /// Datagrams abandoned to make room for newer ones (table limits).
    pub evicted: u64,
    /// Datagrams dropped as invalid (oversized, inconsistent, too many pieces).
    pub dropped: u64,
    /// Datagrams under reassembly right now.
    pub pending: usize,
    /// Bytes buffered for them right now.
    pub pending_bytes: usize,
}

/// Most separate pieces one datagram may be in before it is dropped.
pub(crate) const MAX_HOLES: usize = 1024;

/// Identifies one datagram under reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FragKey {
    /// IPv4: source, destination, protocol, identification.
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        proto: u8,
        id: u16,
    },
    /// IPv6: source, destination, identification of the Fragment header.
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        id: u32,
    },
}

/// One fragment, as the IP layer saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fragment<'a> {
    /// Byte offset of `data` in the reassembled payload.
    pub offset: usize,
    /// More fragments follow (false: this one ends the datagram).
    pub more: bool,
    /// The fragment's payload bytes.
    pub data: &'a [u8],
    /// Longest reassembled payload allowed; beyond it the datagram is dropped.
    pub max_len: usize,
    /// Protocol / next header of the reassembled payload (meaningful in the
    /// fragment at offset 0).
    pub next_header: u8,
}

/// What became of a fragment handed to [`FragmentTable::insert`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored; the datagram is not complete yet.
    Held,
    /// The datagram is complete: its payload and the protocol that starts it.
    Complete { data: Vec<u8>, next_header: u8 },
    /// The fragment's datagram was discarded, for this reason.
    Dropped(&'static str),
}

/// One datagram under reassembly.
#[derive(Debug)]
struct Entry {
    /// Distinguishes this entry from an earlier one under the same key.
    serial: u64,
    first_seen: Timestamp,
    buf: Vec<u8>,
    /// Filled ranges of `buf`, sorted, disjoint and not touching.
    have: Vec<(usize, usize)>,
    /// Payload length, once the last fragment has been seen.
    total: Option<usize>,
    /// Protocol of the payload, once the first fragment has been seen.
    next_header: Option<u8>,
}

/// The table of datagrams under reassembly. See the module documentation.
#[derive(Debug)]
pub(crate) struct FragmentTable {
    limits: FragmentLimits,
    entries: HashMap<FragKey, Entry>,
    /// Keys in first-seen order, with the serial of the entry they were
    /// queued for; items whose entry is gone are skipped lazily.
    order: VecDeque<(FragKey, u64)>,
    /// Sum of `buf.len()` over all entries.
    bytes: usize,
    next_serial: u64,
    stats: FragmentStats,
}

impl Default for FragmentTable {
    fn default() -> Self {
        FragmentTable::new(FragmentLimits::default())
    }
}

impl FragmentTable {
    /// An empty table with the given limits.
    pub(crate) fn new(limits: FragmentLimits) -> Self {
        FragmentTable {
            limits,
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            next_serial: 0,
            stats: FragmentStats::default(),
        }
    }

    /// What the table has done so far, and what it holds now.
    pub(crate) fn stats(&self) -> FragmentStats {
        FragmentStats {
            pending: self.entries.len(),
            pending_bytes: self.bytes,
            ..self.stats
        }
    }

    /// Adds one fragment of datagram `key`, captured at `now`.
    pub(crate) fn insert(&mut self, key: FragKey, frag: Fragment<'_>, now: Timestamp) -> Outcome {
        self.expire(now);
        match self.add(key, frag, now) {
            Ok(outcome) => outcome,
            Err(why) => {
                self.remove(&key);
                self.stats.dropped += 1;
                Outcome::Dropped(why)
            }
        }
    }

    fn add(
        &mut self,
        key: FragKey,
        frag: Fragment<'_>,
        now: Timestamp,
    ) -> Result<Outcome, &'static str> {
        let end = frag
            .offset
            .checked_add(frag.data.len())
            .filter(|&end| end <= frag.max_len)
            .ok_or("fragmented datagram longer than 65535 bytes")?;
        if !self.entries.contains_key(&key) {
            self.make_room_for_one()?;
            let serial = self.next_serial;
            self.next_serial = self.next_serial.wrapping_add(1);
            self.entries.insert(
                key,
                Entry {
                    serial,
                    first_seen: now,
                    buf: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    next_header: None,
                },
            );
            self.order.push_back((key, serial));
        }
        let growth = {
            let entry = self
                .entries
                .get(&key)
                .ok_or("fragment table lost an entry")?;
            check_length(entry, &frag, end)?;
            end.saturating_sub(entry.buf.len())
        };
        self.make_room_for_bytes(&key, growth)?;
        let entry = self
            .entries
            .get_mut(&key)
            .ok_or("fragment table lost an entry")?;
        if entry.buf.len() < end {
            entry.buf.resize(end, 0);
            self.bytes = self.bytes.saturating_add(growth);
        }
        if !frag.more {
            entry.total = Some(end);
        }
        if frag.offset == 0 {
            entry.next_header = Some(frag.next_header);
        }
        fill(entry, frag.offset, frag.data)?;
        match (entry.total, entry.have.as_slice()) {
            (Some(total), &[(0, have_end)]) if have_end == total && total > 0 => {
                let next_header = entry.next_header.ok_or("first fragment missing")?;
                let entry = self.remove(&key).ok_or("fragment table lost an entry")?;
                let mut data = entry.buf;
                data.truncate(total);
                self.stats.reassembled += 1;
                Ok(Outcome::Complete { data, next_header })
            }
            _ => Ok(Outcome::Held),
        }
    }

    /// Abandons every datagram first seen more than the timeout before `now`.
    pub(crate) fn expire(&mut self, now: Timestamp) {
        while let Some(&(key, serial)) = self.order.front() {
            match self.entries.get(&key) {
                Some(e) if e.serial == serial => {
                    if now.seconds_since(e.first_seen) <= self.limits.timeout_secs {
                        break;
                    }
                    self.remove(&key);
                    self.stats.expired += 1;
                }
                _ => {}
            }
            self.order.pop_front();
        }
        // Completed and dropped entries leave their queue items behind; keep
        // the queue within a constant factor of the table.
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(k, s)| entries.get(k).is_some_and(|e| e.serial == *s));
        }
    }

    /// Removes `key`'s entry and its bytes from the accounts.
    fn remove(&mut self, key: &FragKey) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.bytes = self.bytes.saturating_sub(entry.buf.len());
        Some(entry)
    }

    /// Evicts the entry first seen longest ago, other than `keep`.
    fn evict_oldest(&mut self, keep: Option<&FragKey>) -> bool {
        let mut i = 0;
        while let Some(&(key, serial)) = self.order.get(i) {
            let live = self.entries.get(&key).is_some_and(|e| e.serial == serial);
            if !live {
                self.order.remove(i);
                continue;
            }
            if Some(&key) == keep {
                i += 1;
                continue;
            }
            self.order.remove(i);
            self.remove(&key);
            self.stats.evicted += 1;
            return true;
        }
        false
    }

    /// Makes room for one more datagram.
    fn make_room_for_one(&mut self) -> Result<(), &'static str> {
        if self.limits.max_datagrams == 0 {
            return Err("fragment table disabled (max_datagrams = 0)");
        }
        while self.entries.len() >= self.limits.max_datagrams {
            if !self.evict_oldest(None) {
                return Err("fragment table full");
            }
        }
        Ok(())
    }

    /// Makes room for `growth` more buffered bytes for `key`.
    fn make_room_for_bytes(&mut self, key: &FragKey, growth: usize) -> Result<(), &'static str> {
        while self.bytes.saturating_add(growth) > self.limits.max_bytes {
            if !self.evict_oldest(Some(key)) {
                return Err("fragmented datagram exceeds the fragment memory limit");
            }
        }
        Ok(())
    }
}

/// Rejects a fragment that disagrees with what is known of the datagram's length.
fn check_length(entry: &Entry, frag: &Fragment<'_>, end: usize) -> Result<(), &'static str> {
    let furthest = entry.have.last().map_or(0, |&(_, e)| e);
    match (entry.total, frag.more) {
        (Some(total), false) if total != end => Err("IP fragments disagree on the datagram length"),
        (Some(total), true) if end > total => Err("IP fragment beyond the last fragment"),
        (None, false) if furthest > end => Err("IP fragment beyond the last fragment"),
        _ => Ok(()),
    }
}

/// Copies the parts of `data` (at `offset`) that fill holes in `entry`, and
/// records them as filled. Bytes already received win.
fn fill(entry: &mut Entry, offset: usize, data: &[u8]) -> Result<(), &'static str> {
    let end = offset.saturating_add(data.len());
    if offset >= end {
        return Ok(());
    }
    // Copy into the holes of [offset, end).
    let mut pos = offset;
    for &(s, e) in &entry.have {
        if e <= pos {
            continue;
        }
        if s >= end {
            break;
        }
        if s > pos {
            copy(&mut entry.buf, data, offset, pos, s)?;
        }
        pos = pos.max(e);
        if pos >= end {
            break;
        }
    }
    if pos < end {
        copy(&mut entry.buf, data, offset, pos, end)?;
    }
    // Merge [offset, end) into the range list.
    let first = entry.have.partition_point(|&(_, e)| e < offset);
    let last = entry.have.partition_point(|&(s, _)| s <= end);
    let (mut s, mut e) = (offset, end);
    if first < last {
        s = s.min(entry.have[first].0);
        e = e.max(entry.have[last - 1].1);
    }
    entry.have.splice(first..last, [(s, e)]);
    if entry.have.len() > MAX_HOLES {
        return Err("IP datagram in too many fragments");
    }
    Ok(())
}

/// Copies `data[from - offset .. to - offset]` to `buf[from..to]`.
fn copy(
    buf: &mut [u8],
    data: &[u8],
    offset: usize,
    from: usize,
    to: usize,
) -> Result<(), &'static str> {
    let src = data
        .get(from.saturating_sub(offset)..to.saturating_sub(offset))
        .ok_or("fragment bookkeeping out of range")?;
    buf.get_mut(from..to)
        .ok_or("fragment bookkeeping out of range")?
        .copy_from_slice(src);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::new(secs, 0)
    }

    fn key(id: u16) -> FragKey {
        FragKey::V4 {
            src: [1, 1, 1, 1],
            dst: [2, 2, 2, 2],
            proto: 6,
            id,
        }
    }

    fn frag(offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            offset,
            more,
            data,
            max_len: 65515,
            next_header: 6,
        }
    }

    fn limits(max_datagrams: usize, max_bytes: usize, timeout_secs: u64) -> FragmentLimits {
        FragmentLimits {
            max_datagrams,
            max_bytes,
            timeout_secs,
        }
    }

    fn complete(o: Outcome) -> Vec<u8> {
        match o {
            Outcome::Complete { data, .. } => data,
            other => panic!("expected a complete datagram, got {other:?}"),
        }
    }

    #[test]
    fn in_order_completes_on_last() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(0, true, &[1; 8]), at(0)),
            Outcome::Held
        );
        assert_eq!(
            t.insert(key(1), frag(8, true, &[2; 8]), at(0)),
            Outcome::Held
        );
        let data = complete(t.insert(key(1), frag(16, false, &[3; 4]), at(0)));
        assert_eq!(data, [[1; 8].as_slice(), &[2; 8], &[3; 4]].concat());
        assert_eq!(t.stats().reassembled, 1);
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn last_first_completes_on_the_hole() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(16, false, &[3; 4]), at(0)),
            Outcome::Held
        );
        assert_eq!(
            t.insert(key(1), frag(0, true, &[1; 8]), at(0)),
            Outcome::Held
        );
        let data = complete(t.insert(key(1), frag(8, true, &[2; 8]), at(0)));
        assert_eq!(data.len(), 20);
    }

    #[test]
    fn next_header_comes_from_the_first_fragment() {
        let mut t = FragmentTable::default();
        let mut f = frag(8, false, &[0; 8]);
        f.next_header = 99;
        assert_eq!(t.insert(key(1), f, at(0)), Outcome::Held);
        let mut f = frag(0, true, &[0; 8]);
        f.next_header = 60;
        match t.insert(key(1), f, at(0)) {
            Outcome::Complete { next_header, .. } => assert_eq!(next_header, 60),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overlap_earlier_bytes_win_both_sides() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(8, true, &[2; 8]), at(0)),
            Outcome::Held
        );
        // Covers 0..24: only 0..8 and 16..24 are holes.
        assert_eq!(
            t.insert(key(1), frag(0, true, &[9; 24]), at(0)),
            Outcome::Held
        );
        let data = complete(t.insert(key(1), frag(16, false, &[3; 8]), at(0)));
        assert_eq!(data, [[9; 8].as_slice(), &[2; 8], &[9; 8]].concat());
    }

    #[test]
    fn duplicate_fragment_changes_nothing() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(0, true, &[1; 8]), at(0)),
            Outcome::Held
        );
        assert_eq!(
            t.insert(key(1), frag(0, true, &[5; 8]), at(0)),
            Outcome::Held
        );
        assert_eq!(t.stats().pending_bytes, 8);
        let data = complete(t.insert(key(1), frag(8, false, &[2; 8]), at(0)));
        assert_eq!(&data[..8], &[1; 8]);
    }

    #[test]
    fn oversized_datagram_is_dropped() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(0, true, &[1; 8]), at(0)),
            Outcome::Held
        );
        let o = t.insert(key(1), frag(65512, false, &[0; 8]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
        assert_eq!(t.stats().pending, 0);
        assert_eq!(t.stats().pending_bytes, 0);
        assert_eq!(t.stats().dropped, 1);
    }

    #[test]
    fn offset_overflow_is_dropped_not_panicking() {
        let mut t = FragmentTable::default();
        let o = t.insert(key(1), frag(usize::MAX - 2, true, &[0; 8]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
    }

    #[test]
    fn conflicting_last_fragments_drop_the_datagram() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(16, false, &[1; 8]), at(0)),
            Outcome::Held
        );
        let o = t.insert(key(1), frag(8, false, &[1; 8]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn fragment_past_the_last_drops_the_datagram() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(8, false, &[1; 8]), at(0)),
            Outcome::Held
        );
        let o = t.insert(key(1), frag(16, true, &[1; 8]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
    }

    #[test]
    fn last_fragment_before_data_already_held_drops_the_datagram() {
        let mut t = FragmentTable::default();
        assert_eq!(
            t.insert(key(1), frag(16, true, &[1; 8]), at(0)),
            Outcome::Held
        );
        let o = t.insert(key(1), frag(0, false, &[1; 8]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
    }

    #[test]
    fn too_many_pieces_drop_the_datagram() {
        let mut t = FragmentTable::default();
        let mut last = Outcome::Held;
        for i in 0..=MAX_HOLES {
            last = t.insert(key(1), frag(16 * i + 8, true, &[0; 8]), at(0));
            if last != Outcome::Held {
                break;
            }
        }
        assert!(matches!(last, Outcome::Dropped(_)));
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn limit_max_datagrams_evicts_the_oldest() {
        let mut t = FragmentTable::new(limits(2, 1 << 20, 30));
        for id in 1..=3 {
            assert_eq!(
                t.insert(key(id), frag(0, true, &[0; 8]), at(0)),
                Outcome::Held
            );
        }
        let s = t.stats();
        assert_eq!((s.pending, s.evicted), (2, 1));
        // Datagram 1 is gone: its last fragment alone does not complete it.
        assert_eq!(
            t.insert(key(1), frag(8, false, &[0; 8]), at(0)),
            Outcome::Held
        );
        // Datagram 3 survived.
        assert!(matches!(
            t.insert(key(3), frag(8, false, &[0; 8]), at(0)),
            Outcome::Complete { .. }
        ));
    }

    #[test]
    fn limit_max_bytes_evicts_the_oldest() {
        let mut t = FragmentTable::new(limits(100, 40, 30));
        assert_eq!(
            t.insert(key(1), frag(0, true, &[0; 24]), at(0)),
            Outcome::Held
        );
        assert_eq!(
            t.insert(key(2), frag(0, true, &[0; 24]), at(0)),
            Outcome::Held
        );
        let s = t.stats();
        assert_eq!((s.pending, s.pending_bytes, s.evicted), (1, 24, 1));
    }

    #[test]
    fn limit_max_bytes_counts_the_buffer_up_to_the_furthest_byte() {
        let mut t = FragmentTable::new(limits(100, 1000, 30));
        let o = t.insert(key(1), frag(2000, true, &[0; 8]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
        assert_eq!(t.stats().pending_bytes, 0);
    }

    #[test]
    fn limit_max_bytes_never_evicts_the_growing_datagram_itself() {
        let mut t = FragmentTable::new(limits(100, 32, 30));
        assert_eq!(
            t.insert(key(1), frag(0, true, &[0; 24]), at(0)),
            Outcome::Held
        );
        let o = t.insert(key(1), frag(24, true, &[0; 16]), at(0));
        assert!(matches!(o, Outcome::Dropped(_)));
        assert_eq!(t.stats().evicted, 0);
        assert_eq!(t.stats().pending, 0);
    }

    #[test]
    fn limit_zero_datagrams_drops_every_fragment() {
        let mut t = FragmentTable::new(limits(0, 1 << 20, 30));
        assert!(matches!(
            t.insert(key(1), frag(0, true, &[0; 8]), at(0)),
            Outcome::Dropped(_)
        ));
    }

    #[test]
    fn timeout_expires_by_capture_time() {
        let mut t = FragmentTable::new(limits(100, 1 << 20, 30));
        assert_eq!(
            t.insert(key(1), frag(0, true, &[0; 8]), at(100)),
            Outcome::Held
        );
        assert_eq!(
            t.insert(key(2), frag(0, true, &[0; 8]), at(120)),
            Outcome::Held
        );
        t.expire(at(130));
        assert_eq!(t.stats().pending, 2);
        t.expire(at(131));
        let s = t.stats();
        assert_eq!((s.pending, s.expired), (1, 1));
        // The expired datagram's late fragment starts a new, incomplete one.
        assert_eq!(
            t.insert(key(1), frag(8, false, &[0; 8]), at(131)),
            Outcome::Held
        );
    }

    #[test]
    fn timeout_with_time_going_backwards_expires_nothing() {
        let mut t = FragmentTable::new(limits(100, 1 << 20, 30));
        assert_eq!(
            t.insert(key(1), frag(0, true, &[0; 8]), at(100)),
            Outcome::Held
        );
        t.expire(at(5));
        assert_eq!(t.stats().pending, 1);
    }

    #[test]
    fn queue_stays_bounded_when_datagrams_complete() {
        let mut t = FragmentTable::default();
        // One datagram stays pending at the front of the queue...
        assert_eq!(
            t.insert(key(0), frag(0, true, &[0; 8]), at(0)),
            Outcome::Held
        );
        // ...while thousands complete behind it.
        for id in 1..5000 {
            assert_eq!(
                t.insert(key(id), frag(8, false, &[0; 8]), at(0)),
                Outcome::Held
            );
            assert!(matches!(
                t.insert(key(id), frag(0, true, &[0; 8]), at(0)),
                Outcome::Complete { .. }
            ));
        }
        assert!(
            t.order.len() <= 2 * t.entries.len() + 65,
            "{}",
            t.order.len()
        );
    }

    #[test]
    fn v4_and_v6_keys_are_distinct() {
        let mut t = FragmentTable::default();
        let v6 = FragKey::V6 {
            src: [1; 16],
            dst: [2; 16],
            id: 1,
        };
        assert_eq!(
            t.insert(key(1), frag(0, true, &[0; 8]), at(0)),
            Outcome::Held
        );
        assert_eq!(t.insert(v6, frag(8, false, &[0; 8]), at(0)), Outcome::Held);
        assert_eq!(t.stats().pending, 2);
    }
}
