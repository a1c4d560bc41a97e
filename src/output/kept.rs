//! A closed direction's bytes, kept in memory after its flow file is
//! written, for the next stage (carving HTTP as connections close) to read
//! instead of opening and reading the file again.
//!
//! Owns: the budget for such bytes. Every [`KeptBytes`] alive counts
//! against one [`KeepBudget`] (by the capacity it holds) until it is
//! dropped; a direction whose bytes do not fit is simply not kept, and the
//! next stage reads its file. So keeping is an optimisation only: what is
//! kept is exactly what the file holds, and nothing waits for room.
//!
//! Must not: decide which directions are worth keeping (the flow-file
//! consumer keeps those written with one write at close) or read them.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes kept at most, over every direction, while carving runs beside
/// reassembly: a few hundred small connections, enough for the carving
/// queue when carving keeps up. Part of
/// [`FIXED_MEMORY`](crate::config::FIXED_MEMORY).
pub const KEPT_BYTES: usize = 4 << 20;

/// The shared allowance for [`KeptBytes`].
#[derive(Debug)]
pub struct KeepBudget {
    limit: usize,
    held: AtomicUsize,
}

impl KeepBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<KeepBudget> {
        Arc::new(KeepBudget {
            limit,
            held: AtomicUsize::new(0),
        })
    }

    /// Bytes held by the [`KeptBytes`] alive now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Keep `bytes` if their capacity fits in what is left; `None` (and the
    /// buffer dropped) if not. A buffer with much spare capacity is
    /// shrunk first, so the budget counts bytes, not growth.
    pub fn keep(self: &Arc<KeepBudget>, mut bytes: Vec<u8>) -> Option<KeptBytes> {
        if bytes.capacity() - bytes.len() > bytes.len() / 4 {
            bytes.shrink_to_fit();
        }
        let size = bytes.capacity();
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(size).filter(|&after| after <= self.limit)
            })
            .ok()?;
        Some(KeptBytes {
            bytes,
            budget: self.clone(),
        })
    }
}

/// A direction's whole flow file, in memory; its room in the budget is
/// given back when it is dropped.
pub struct KeptBytes {
    bytes: Vec<u8>,
    budget: Arc<KeepBudget>,
}

impl KeptBytes {
    /// The bytes (exactly the flow file's).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for KeptBytes {
    fn drop(&mut self) {
        self.budget
            .held
            .fetch_sub(self.bytes.capacity(), Ordering::AcqRel);
    }
}

impl PartialEq for KeptBytes {
    fn eq(&self, other: &KeptBytes) -> bool {
        self.bytes == other.bytes
    }
}

impl fmt::Debug for KeptBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeptBytes({} bytes)", self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_bytes_count_until_dropped() {
        let budget = KeepBudget::new(100);
        let a = budget.keep(vec![1; 60]).expect("fits");
        assert_eq!(a.bytes(), &[1; 60][..]);
        assert_eq!(budget.held(), 60);
        assert!(budget.keep(vec![2; 41]).is_none(), "101 > 100");
        assert_eq!(budget.held(), 60, "a refused buffer takes nothing");
        let b = budget.keep(vec![3; 40]).expect("exactly fills it");
        assert_eq!(budget.held(), 100);
        drop(a);
        assert_eq!(budget.held(), 40);
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn spare_capacity_is_shrunk_before_counting() {
        let budget = KeepBudget::new(1 << 20);
        let mut v = Vec::with_capacity(64 << 10);
        v.extend_from_slice(b"small");
        let kept = budget.keep(v).expect("fits");
        assert!(budget.held() < 1024, "held {}", budget.held());
        assert_eq!(kept.bytes(), b"small");
    }
}
