//! The flow table's open connections, found by their key (every packet)
//! or by a [`Handle`] (the timing wheels' entries). A handle is the hash of
//! the key and the connection's id, 16 bytes where the key is 48: the
//! wheels hold one or two entries per open connection, so this is most of
//! what an open connection costs besides its own state.

use super::table::ConnKey;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Names one connection of a [`ConnMap`]: the hash of its key and its id,
/// which no other connection shares (the number of its first packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    hash: u64,
    id: u64,
}

/// What a connection tells a [`ConnMap`] for handles to find it.
pub trait Identified {
    /// The connection's id: never the same for two connections of a map.
    fn id(&self) -> u64;
}

/// Open connections by key, each boxed (the slots stay small however
/// large a connection is).
pub struct ConnMap<V> {
    table: HashTable<(ConnKey, Box<V>)>,
    hasher: foldhash::fast::RandomState,
}

impl<V: Identified> Default for ConnMap<V> {
    fn default() -> Self {
        ConnMap {
            table: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<V: Identified> ConnMap<V> {
    fn hash(&self, key: &ConnKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Connections held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// True when a connection is held under `key`.
    pub fn contains_key(&self, key: &ConnKey) -> bool {
        self.get(key).is_some()
    }

    /// The connection under `key`.
    pub fn get(&self, key: &ConnKey) -> Option<&V> {
        self.table
            .find(self.hash(key), |(k, _)| k == key)
            .map(|(_, v)| &**v)
    }

    /// The connection under `key`, to change.
    pub fn get_mut(&mut self, key: &ConnKey) -> Option<&mut V> {
        let hash = self.hash(key);
        self.table
            .find_mut(hash, |(k, _)| k == key)
            .map(|(_, v)| &mut **v)
    }

    /// The handle of connection `id` under `key`.
    pub fn handle(&self, key: &ConnKey, id: u64) -> Handle {
        Handle {
            hash: self.hash(key),
            id,
        }
    }

    /// The connection `handle` names, with its key, if it is still held.
    pub fn by_handle(&self, handle: Handle) -> Option<(&ConnKey, &V)> {
        self.table
            .find(handle.hash, |(_, v)| v.id() == handle.id)
            .map(|(k, v)| (k, &**v))
    }

    /// Hold `conn` under `key`, in place of the connection there, if any.
    pub fn insert(&mut self, key: ConnKey, conn: Box<V>) {
        let hash = self.hash(&key);
        if let Some(slot) = self.table.find_mut(hash, |(k, _)| *k == key) {
            slot.1 = conn;
            return;
        }
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, (key, conn), |(k, _)| hasher.hash_one(k));
    }

    /// Take out the connection under `key`.
    pub fn remove(&mut self, key: &ConnKey) -> Option<Box<V>> {
        let hash = self.hash(key);
        match self.table.find_entry(hash, |(k, _)| k == key) {
            Ok(entry) => Some(entry.remove().0 .1),
            Err(_) => None,
        }
    }

    /// Every connection with its key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&ConnKey, &V)> {
        self.table.iter().map(|(k, v)| (k, &**v))
    }

    /// Every connection with its key, to change, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&ConnKey, &mut V)> {
        self.table.iter_mut().map(|(k, v)| (&*k, &mut **v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpTuple;

    struct Conn(u64);

    impl Identified for Conn {
        fn id(&self) -> u64 {
            self.0
        }
    }

    fn key(port: u16) -> ConnKey {
        let tuple = TcpTuple {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport: port,
            dport: 80,
            vlan: None,
            tunnel: 0,
        };
        ConnKey::of(&tuple).0
    }

    #[test]
    fn handles_find_their_connection_and_no_later_one_on_the_same_key() {
        let mut map = ConnMap::default();
        for port in 1000..3000u16 {
            map.insert(key(port), Box::new(Conn(u64::from(port))));
        }
        assert_eq!(map.len(), 2000);
        let old = map.handle(&key(1500), 1500);
        let (k, c) = map.by_handle(old).unwrap();
        assert_eq!((*k, c.0), (key(1500), 1500));
        // The next connection on the same key: the old handle names nothing.
        map.insert(key(1500), Box::new(Conn(9999)));
        assert_eq!(map.len(), 2000);
        assert!(map.by_handle(old).is_none());
        assert_eq!(map.get(&key(1500)).map(|c| c.0), Some(9999));
        assert_eq!(map.remove(&key(1500)).map(|c| c.0), Some(9999));
        assert!(!map.contains_key(&key(1500)));
        assert!(map.remove(&key(1500)).is_none());
        assert!(map.by_handle(map.handle(&key(1501), 1501)).is_some());
        assert_eq!(map.iter().count(), 1999);
        for (_, c) in map.iter_mut() {
            c.0 += 1;
        }
        assert_eq!(map.get(&key(1000)).map(|c| c.0), Some(1001));
    }

    #[test]
    fn a_handle_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Handle>(), 16);
        assert_eq!(std::mem::size_of::<(i64, Handle)>(), 24);
    }
}
