//! The session cache: TLS 1.2 master secrets by session ID and ticket, for
//! the connections that resume a session set up earlier in the capture.
//!
//! Owns: remembering, for each session ID or ticket a server handed out,
//! the master secret of the connection it was handed out on and where that
//! connection falls in capture order ([`Order`]); answering, for a
//! resuming connection, with the secret of the latest connection before
//! it that handed out the key it offers; and its bound ([`SessionCache::new`]):
//! past it, the entries of the connections earliest in capture order go
//! first, so which entries are kept does not depend on the order they came
//! in.
//!
//! ```text
//!  (Id a, conn 3) -> M1    (Id a, conn 9) -> M2    (Ticket t, conn 3) -> M1
//!  lookup(Id a, before conn 7) = M1;  lookup(Id a, before conn 12) = M2
//! ```
//!
//! Must not: hold more than its budget, or answer with a secret from a
//! connection later in capture order than the one asking.

use super::resume::SessionKey;
use std::collections::{BTreeMap, BTreeSet};

/// Where a connection falls in capture order: the number of its first
/// packet over every input (the report's `connection`; `u64::MAX` when
/// unknown, as for flow files without a report), then its place in the
/// order connections are carved (which is the same for every `-j`).
pub type Order = (u64, u64);

/// A TLS 1.2 master secret.
pub type Master = [u8; 48];

/// Bytes counted for an entry besides its key: the master secret, two
/// orders, and the two tree nodes' share.
const ENTRY_BYTES: usize = 48 + 2 * 16 + 96;

/// Master secrets by session key and capture order, within a budget.
#[derive(Debug)]
pub struct SessionCache {
    by_key: BTreeMap<(SessionKey, Order), Master>,
    by_order: BTreeSet<(Order, SessionKey)>,
    bytes: usize,
    budget: usize,
    /// Entries dropped to stay within the budget.
    pub evicted: u64,
}

impl SessionCache {
    /// An empty cache holding at most `budget` bytes of entries (each
    /// counted as its key's bytes twice plus [`ENTRY_BYTES`]).
    pub fn new(budget: usize) -> SessionCache {
        SessionCache {
            by_key: BTreeMap::new(),
            by_order: BTreeSet::new(),
            bytes: 0,
            budget,
            evicted: 0,
        }
    }

    fn cost(key: &SessionKey) -> usize {
        ENTRY_BYTES + 2 * key.len()
    }

    /// Remember that the connection at `order` handed out `key` for the
    /// session whose master secret is `master`. Past the budget, the
    /// entries earliest in capture order are dropped (this one, if it is).
    pub fn insert(&mut self, key: SessionKey, order: Order, master: Master) {
        if self.by_key.insert((key.clone(), order), master).is_none() {
            self.bytes += Self::cost(&key);
            self.by_order.insert((order, key));
        }
        while self.bytes > self.budget {
            let Some((o, k)) = self.by_order.pop_first() else {
                break;
            };
            self.bytes -= Self::cost(&k);
            self.by_key.remove(&(k, o));
            self.evicted += 1;
        }
    }

    /// The master secret of the latest connection before `order` in
    /// capture order that handed out `key`. A connection whose first
    /// packet is unknown (`order.0 == u64::MAX`) is taken to come after
    /// every connection whose first packet is known.
    pub fn lookup(&self, key: &SessionKey, order: Order) -> Option<&Master> {
        let from = (key.clone(), (0, 0));
        let to = (key.clone(), order);
        self.by_key.range(from..to).next_back().map(|(_, m)| m)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Bytes counted for the entries held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> SessionKey {
        SessionKey::Id(vec![b; 32])
    }

    #[test]
    fn lookup_takes_the_latest_earlier_connection() {
        let mut c = SessionCache::new(1 << 20);
        c.insert(id(1), (9, 0), [2; 48]);
        c.insert(id(1), (3, 0), [1; 48]);
        c.insert(SessionKey::ticket(b"t"), (3, 0), [1; 48]);
        assert_eq!(c.lookup(&id(1), (2, 5)), None);
        assert_eq!(c.lookup(&id(1), (3, 0)), None, "not itself");
        assert_eq!(c.lookup(&id(1), (7, 0)), Some(&[1; 48]));
        assert_eq!(c.lookup(&id(1), (12, 0)), Some(&[2; 48]));
        assert_eq!(c.lookup(&id(1), (u64::MAX, 0)), Some(&[2; 48]));
        assert_eq!(c.lookup(&id(2), (12, 0)), None);
        assert_eq!(c.lookup(&SessionKey::ticket(b"t"), (4, 0)), Some(&[1; 48]));
        assert_eq!(c.lookup(&SessionKey::ticket(b"u"), (4, 0)), None);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn past_the_budget_the_earliest_go_whatever_the_insertion_order() {
        let one = ENTRY_BYTES + 64;
        let orders = [5u64, 1, 4, 2, 3];
        let mut a = SessionCache::new(3 * one);
        for &o in &orders {
            a.insert(id(o as u8), (o, 0), [o as u8; 48]);
        }
        let mut b = SessionCache::new(3 * one);
        for &o in orders.iter().rev() {
            b.insert(id(o as u8), (o, 0), [o as u8; 48]);
        }
        for c in [&a, &b] {
            assert_eq!(c.len(), 3);
            assert_eq!(c.evicted, 2);
            assert!(c.bytes() <= 3 * one);
            for o in 1..=2u8 {
                assert_eq!(c.lookup(&id(o), (u64::MAX, 0)), None);
            }
            for o in 3..=5u8 {
                assert_eq!(c.lookup(&id(o), (u64::MAX, 0)), Some(&[o; 48]));
            }
        }
        let mut none = SessionCache::new(0);
        none.insert(id(1), (1, 0), [0; 48]);
        assert!(none.is_empty());
        assert_eq!(none.bytes(), 0);
    }
}
