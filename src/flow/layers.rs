//! The headers a direction's first packet came through (its encapsulation
//! path and tunnel endpoints), kept once per distinct value instead of once
//! per direction: on most captures every direction came the same way, and a
//! rendered path per direction was a tenth of an open connection's memory.

use crate::decode::Encap;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// How a direction's first packet arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    /// The encapsulation path, rendered (`ethernet/vlan 100/ipv4/gre/ipv4`).
    pub path: String,
    /// Outer endpoints of the innermost tunnel, if tunnelled.
    pub outer: Option<(IpAddr, IpAddr)>,
    /// The destination and source MAC addresses of the first packet, when
    /// it came on an Ethernet link (see [`Encap::macs`]).
    pub macs: Option<[u8; 12]>,
}

/// Hands out one shared [`Layers`] per distinct [`Encap`]. Values no
/// direction holds any more are forgotten whenever the cache has doubled
/// since it was last swept, so it stays proportional to the encapsulations
/// of open connections, however many a capture holds in all.
#[derive(Debug, Default)]
pub struct LayersCache {
    map: HashMap<Encap, Arc<Layers>, foldhash::fast::RandomState>,
    sweep_at: usize,
}

/// Entries a cache holds before its first sweep.
const FIRST_SWEEP: usize = 64;

impl LayersCache {
    /// The shared [`Layers`] of `encap`.
    pub fn get(&mut self, encap: &Encap) -> Arc<Layers> {
        if let Some(layers) = self.map.get(encap) {
            return Arc::clone(layers);
        }
        if self.map.len() >= self.sweep_at.max(FIRST_SWEEP) {
            self.map.retain(|_, l| Arc::strong_count(l) > 1);
            self.sweep_at = self.map.len() * 2;
        }
        let layers = Arc::new(Layers {
            path: encap.path.render(),
            outer: encap.outer,
            macs: encap.macs,
        });
        self.map.insert(*encap, Arc::clone(&layers));
        layers
    }

    /// Distinct values held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnelled(last: u8) -> Encap {
        Encap {
            outer: Some((
                "192.0.2.1".parse().unwrap(),
                IpAddr::from([198, 51, 100, last]),
            )),
            ..Encap::default()
        }
    }

    #[test]
    fn equal_encapsulations_share_one_value() {
        let mut cache = LayersCache::default();
        let a = cache.get(&Encap::default());
        let b = cache.get(&Encap::default());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
        let c = cache.get(&tunnelled(1));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.outer.map(|o| o.1), Some(IpAddr::from([198, 51, 100, 1])));
    }

    #[test]
    fn values_nobody_holds_are_forgotten() {
        let mut cache = LayersCache::default();
        let kept = cache.get(&tunnelled(0));
        for i in 1..=250u8 {
            drop(cache.get(&tunnelled(i)));
        }
        assert!(cache.len() <= 2 * FIRST_SWEEP, "{} held", cache.len());
        assert!(Arc::ptr_eq(&kept, &cache.get(&tunnelled(0))));
    }
}
