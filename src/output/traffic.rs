//! The run's traffic summary: the shape of the capture at a glance, kept
//! while packets are read and written beside the report when the run ends
//! (`report.traffic.json` for `report.jsonl`). It is what `-e netviz`'s
//! `report.pdf` and `flowsplit view`'s page draw.
//!
//! It holds, over the IP packets the run analysed (after the filter; a
//! shard counts its own connections' packets, and shard 0 the packets that
//! carry no TCP):
//! - the first and last packet's capture time, packets and bytes (the
//!   length on the wire), and bytes per IP version;
//! - bytes and packets per [`TimeSeries`] bucket of capture time (one
//!   second, doubled as often as needed to stay within
//!   [`MAX_BUCKETS`]), by [`PortClass`];
//! - bytes per source and destination address ([`TopCounts`]: exact up to
//!   its cap, then a Misra-Gries summary whose undercount is stated), and
//!   per TCP source and destination port (exact).
//!
//! Memory is bounded whatever the capture holds. Summaries of shards
//! combine ([`Traffic::merge`]) into what a single run keeps.
//!
//! Must not: read the report or the flow files; allocate per packet.

use super::files::create_truncated;
use crate::capture::Timestamp;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The traffic summary's file name for a report at `report`: its name with
/// the extension replaced by `traffic.json`, in the same folder.
pub fn traffic_path(report: &Path) -> PathBuf {
    report.with_extension("traffic.json")
}

/// Buckets a [`TimeSeries`] holds at most: past this, its bucket width
/// doubles.
pub const MAX_BUCKETS: usize = 4096;

/// Addresses counted exactly by default (`-S netviz_histogram_size=N`
/// changes it): past this, [`TopCounts`] keeps the heaviest.
pub const DEFAULT_ADDRESS_CAP: usize = 16_384;

/// What a packet's bytes are drawn as: its service, known by a TCP port,
/// or its transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortClass {
    /// TCP port 80, 81, 8000, 8008, 8080 or 8888.
    Http,
    /// TCP port 443 or 8443.
    Https,
    /// TCP port 22.
    Ssh,
    /// TCP port 20 or 21.
    Ftp,
    /// Any other TCP.
    OtherTcp,
    /// UDP.
    Udp,
    /// Any other IP protocol (ICMP, ...).
    Other,
}

/// Every class, in the order of the series' columns.
pub const CLASSES: [PortClass; 7] = [
    PortClass::Http,
    PortClass::Https,
    PortClass::Ssh,
    PortClass::Ftp,
    PortClass::OtherTcp,
    PortClass::Udp,
    PortClass::Other,
];

impl PortClass {
    /// The class of a TCP port, if it names a service.
    pub fn of_port(port: u16) -> Option<PortClass> {
        match port {
            80 | 81 | 8000 | 8008 | 8080 | 8888 => Some(PortClass::Http),
            443 | 8443 => Some(PortClass::Https),
            22 => Some(PortClass::Ssh),
            20 | 21 => Some(PortClass::Ftp),
            _ => None,
        }
    }

    /// A TCP segment's class: the source port's service, else the
    /// destination's, else [`PortClass::OtherTcp`].
    pub fn of_tcp(sport: u16, dport: u16) -> PortClass {
        PortClass::of_port(sport)
            .or_else(|| PortClass::of_port(dport))
            .unwrap_or(PortClass::OtherTcp)
    }

    /// Its name in the summary and on the charts.
    pub fn name(self) -> &'static str {
        match self {
            PortClass::Http => "HTTP",
            PortClass::Https => "HTTPS",
            PortClass::Ssh => "SSH",
            PortClass::Ftp => "FTP",
            PortClass::OtherTcp => "other TCP",
            PortClass::Udp => "UDP",
            PortClass::Other => "other IP",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One IP packet as the summary counts it.
#[derive(Debug, Clone, Copy)]
pub struct PacketFacts {
    /// Capture time.
    pub ts: Timestamp,
    /// Length on the wire.
    pub wire_len: u32,
    /// Sender's address.
    pub src: IpAddr,
    /// Receiver's address.
    pub dst: IpAddr,
    /// TCP source and destination ports; `None` for other protocols.
    pub tcp_ports: Option<(u16, u16)>,
    /// Its class on the time histogram.
    pub class: PortClass,
}

/// Bytes and packets per class in one bucket of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Bytes per class, in the order of [`CLASSES`].
    pub bytes: [u64; CLASSES.len()],
    /// Packets per class, in the same order.
    pub packets: [u64; CLASSES.len()],
}

impl Bucket {
    fn add(&mut self, other: &Bucket) {
        for i in 0..CLASSES.len() {
            self.bytes[i] += other.bytes[i];
            self.packets[i] += other.packets[i];
        }
    }

    /// Bytes over every class.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

/// Traffic per bucket of capture time. Buckets are `width` seconds long
/// (a power of two), start at multiples of `width` since the epoch, and
/// only those with traffic are kept. The width is the smallest that keeps
/// at most [`MAX_BUCKETS`] of them, whatever the order packets come in,
/// so shards' series merge into a single run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeSeries {
    width: i64,
    buckets: BTreeMap<i64, Bucket>,
}

impl Default for TimeSeries {
    fn default() -> Self {
        TimeSeries {
            width: 1,
            buckets: BTreeMap::new(),
        }
    }
}

impl TimeSeries {
    /// Count `bytes` of one packet of `class` at `secs`.
    pub fn add(&mut self, secs: i64, class: PortClass, bytes: u64) {
        let start = secs.div_euclid(self.width) * self.width;
        let b = self.buckets.entry(start).or_default();
        b.bytes[class.index()] += bytes;
        b.packets[class.index()] += 1;
        self.fit();
    }

    /// Double the width until the buckets fit.
    fn fit(&mut self) {
        while self.buckets.len() > MAX_BUCKETS {
            self.widen(self.width.saturating_mul(2));
        }
    }

    /// Re-bucket at `width` (a multiple of the current one).
    fn widen(&mut self, width: i64) {
        if width <= self.width {
            return;
        }
        let old = std::mem::take(&mut self.buckets);
        for (start, b) in old {
            let s = start.div_euclid(width) * width;
            self.buckets.entry(s).or_default().add(&b);
        }
        self.width = width;
    }

    /// Add `other`'s traffic (at the wider of the two widths, widened
    /// further if needed).
    pub fn merge(&mut self, other: &TimeSeries) {
        let width = self.width.max(other.width);
        self.widen(width);
        for (start, b) in &other.buckets {
            let s = start.div_euclid(width) * width;
            self.buckets.entry(s).or_default().add(b);
        }
        self.fit();
    }

    /// The bucket width in seconds.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// The buckets with traffic, by start second, in time order.
    pub fn buckets(&self) -> &BTreeMap<i64, Bucket> {
        &self.buckets
    }
}

/// Weights per key, exact while at most `cap` keys are seen; past that a
/// Misra-Gries summary (in the mergeable form of Agarwal et al., 2012):
/// when the map holds more than `cap` keys, the weight of its
/// (`cap/2`+1)-th heaviest key is taken off every key and those left at
/// zero are dropped. Each kept weight is then at most
/// [`TopCounts::undercount`] below the key's true weight, and that is at
/// most `total / (cap/2 + 1)`; a key heavier than that bound is never
/// dropped. Memory: at most `cap` + 1 keys.
#[derive(Debug, Clone)]
pub struct TopCounts<K> {
    map: HashMap<K, u64, foldhash::fast::FixedState>,
    cap: usize,
    total: u64,
    undercount: u64,
}

impl<K: Hash + Eq + Copy + Ord> TopCounts<K> {
    /// Empty, exact up to `cap` keys (at least 2).
    pub fn new(cap: usize) -> Self {
        TopCounts {
            map: HashMap::default(),
            cap: cap.max(2),
            total: 0,
            undercount: 0,
        }
    }

    /// Count `weight` for `key`.
    pub fn add(&mut self, key: K, weight: u64) {
        *self.map.entry(key).or_insert(0) += weight;
        self.total += weight;
        if self.map.len() > self.cap {
            self.prune();
        }
    }

    fn prune(&mut self) {
        let keep = self.cap / 2;
        let mut weights: Vec<u64> = self.map.values().copied().collect();
        if weights.len() <= keep {
            return;
        }
        let (_, cut, _) = weights.select_nth_unstable_by(keep, |a, b| b.cmp(a));
        let cut = *cut;
        self.map.retain(|_, w| {
            *w -= cut.min(*w);
            *w > 0
        });
        self.undercount += cut;
    }

    /// Add `other`'s counts (its undercount adds to this one's).
    pub fn merge(&mut self, other: &TopCounts<K>) {
        self.cap = self.cap.max(other.cap);
        for (k, w) in &other.map {
            *self.map.entry(*k).or_insert(0) += w;
            if self.map.len() > self.cap {
                self.prune();
            }
        }
        self.total += other.total;
        self.undercount += other.undercount;
    }

    /// The weight kept for `key` (0 when not kept).
    pub fn get(&self, key: &K) -> u64 {
        self.map.get(key).copied().unwrap_or(0)
    }

    /// Keys kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The weight counted over every key, exact.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How far below its true weight any kept weight may be (0 while
    /// exact), and by how much a key not kept may have weighed at most.
    pub fn undercount(&self) -> u64 {
        self.undercount
    }

    /// Keys counted exactly up to this many.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Every kept key with its weight, heaviest first (ties: the greater
    /// key first, as tcpflow's netviz orders addresses).
    pub fn sorted(&self) -> Vec<(K, u64)> {
        let mut v: Vec<(K, u64)> = self.map.iter().map(|(k, w)| (*k, *w)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        v
    }

    /// The `n` heaviest keys, as [`TopCounts::sorted`].
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        let mut v = self.sorted();
        v.truncate(n);
        v
    }
}

/// Bytes per port, exact (65,536 counters, allocated once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCounts {
    bytes: Vec<u64>,
}

impl Default for PortCounts {
    fn default() -> Self {
        PortCounts {
            bytes: vec![0; 1 << 16],
        }
    }
}

impl PortCounts {
    /// Count `bytes` for `port`.
    pub fn add(&mut self, port: u16, bytes: u64) {
        self.bytes[usize::from(port)] += bytes;
    }

    /// Every port with bytes, heaviest first (ties: the lower port first).
    pub fn sorted(&self) -> Vec<(u16, u64)> {
        let mut v: Vec<(u16, u64)> = (0..=u16::MAX)
            .zip(self.bytes.iter().copied())
            .filter(|(_, b)| *b > 0)
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The bytes over every port.
    pub fn total(&self) -> u64 {
        self.bytes.iter().sum()
    }

    fn merge(&mut self, other: &PortCounts) {
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a += b;
        }
    }
}

/// The run's traffic summary (see the module doc).
#[derive(Debug, Clone)]
pub struct Traffic {
    /// `-e netviz` was on: `report.pdf` is drawn from this summary.
    pub netviz: bool,
    /// The inputs, as named on the command line (joined by ", ").
    pub input: String,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    packets: u64,
    bytes: u64,
    /// Bytes over IPv4 and over IPv6.
    ip_bytes: [u64; 2],
    series: TimeSeries,
    src_addresses: TopCounts<IpAddr>,
    dst_addresses: TopCounts<IpAddr>,
    src_ports: PortCounts,
    dst_ports: PortCounts,
}

impl Traffic {
    /// Empty, counting up to `address_cap` addresses exactly.
    pub fn new(address_cap: usize) -> Traffic {
        Traffic {
            netviz: false,
            input: String::new(),
            first: None,
            last: None,
            packets: 0,
            bytes: 0,
            ip_bytes: [0; 2],
            series: TimeSeries::default(),
            src_addresses: TopCounts::new(address_cap),
            dst_addresses: TopCounts::new(address_cap),
            src_ports: PortCounts::default(),
            dst_ports: PortCounts::default(),
        }
    }

    /// Count one IP packet.
    pub fn packet(&mut self, p: &PacketFacts) {
        let len = u64::from(p.wire_len);
        if self.first.is_none_or(|f| p.ts < f) {
            self.first = Some(p.ts);
        }
        if self.last.is_none_or(|l| p.ts > l) {
            self.last = Some(p.ts);
        }
        self.packets += 1;
        self.bytes += len;
        self.ip_bytes[usize::from(p.src.is_ipv6())] += len;
        self.series.add(p.ts.secs, p.class, len);
        self.src_addresses.add(p.src, len);
        self.dst_addresses.add(p.dst, len);
        if let Some((s, d)) = p.tcp_ports {
            self.src_ports.add(s, len);
            self.dst_ports.add(d, len);
        }
    }

    /// Add a shard's summary to this one.
    pub fn merge(&mut self, other: &Traffic) {
        self.netviz |= other.netviz;
        if self.input.is_empty() {
            self.input.clone_from(&other.input);
        }
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, other.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.ip_bytes[0] += other.ip_bytes[0];
        self.ip_bytes[1] += other.ip_bytes[1];
        self.series.merge(&other.series);
        self.src_addresses.merge(&other.src_addresses);
        self.dst_addresses.merge(&other.dst_addresses);
        self.src_ports.merge(&other.src_ports);
        self.dst_ports.merge(&other.dst_ports);
    }

    /// The first and last packet's capture time; `None` without packets.
    pub fn range(&self) -> Option<(Timestamp, Timestamp)> {
        self.first.zip(self.last)
    }

    /// IP packets counted.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Their bytes on the wire.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes over IPv4 and over IPv6.
    pub fn ip_bytes(&self) -> [u64; 2] {
        self.ip_bytes
    }

    /// Traffic over time.
    pub fn series(&self) -> &TimeSeries {
        &self.series
    }

    /// Bytes per source address.
    pub fn src_addresses(&self) -> &TopCounts<IpAddr> {
        &self.src_addresses
    }

    /// Bytes per destination address.
    pub fn dst_addresses(&self) -> &TopCounts<IpAddr> {
        &self.dst_addresses
    }

    /// Bytes per TCP source port.
    pub fn src_ports(&self) -> &PortCounts {
        &self.src_ports
    }

    /// Bytes per TCP destination port.
    pub fn dst_ports(&self) -> &PortCounts {
        &self.dst_ports
    }

    /// Write it to `path` (through a temporary name, so a file that exists
    /// is whole).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let part = path.with_extension("json.part");
        let werr = |source| Error::Write {
            path: part.clone(),
            source,
        };
        let mut f = create_truncated(&part).map_err(werr)?;
        let record = TrafficRecord::from(self);
        serde_json::to_writer(&mut f, &record).map_err(|e| werr(e.into()))?;
        f.write_all(b"\n").map_err(werr)?;
        f.sync_all().map_err(werr)?;
        std::fs::rename(&part, path).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Read a summary written by [`Traffic::write`].
    pub fn read(path: &Path) -> Result<Traffic, Error> {
        let bad = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read(path).map_err(bad)?;
        let record: TrafficRecord = serde_json::from_slice(&text)
            .map_err(|e| bad(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        record
            .into_traffic()
            .map_err(|e| bad(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    /// The summary a single run would have written, from its shards'.
    pub fn of_shards(shards: &[Traffic]) -> Option<Traffic> {
        let (first, rest) = shards.split_first()?;
        let mut all = first.clone();
        for s in rest {
            all.merge(s);
        }
        Some(all)
    }
}

/// The summary as written: plain numbers and strings.
#[derive(Debug, Serialize, Deserialize)]
struct TrafficRecord {
    flowsplit: String,
    netviz: bool,
    input: String,
    /// First and last packet: seconds and nanoseconds since the epoch.
    first: Option<(i64, u32)>,
    last: Option<(i64, u32)>,
    packets: u64,
    bytes: u64,
    ipv4_bytes: u64,
    ipv6_bytes: u64,
    classes: Vec<String>,
    bucket_seconds: i64,
    series: Vec<(i64, Bucket)>,
    address_cap: usize,
    src_addresses: AddressRecord,
    dst_addresses: AddressRecord,
    src_ports: Vec<(u16, u64)>,
    dst_ports: Vec<(u16, u64)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AddressRecord {
    total: u64,
    undercount: u64,
    bytes: Vec<(IpAddr, u64)>,
}

impl From<&TopCounts<IpAddr>> for AddressRecord {
    fn from(t: &TopCounts<IpAddr>) -> Self {
        AddressRecord {
            total: t.total,
            undercount: t.undercount,
            bytes: t.sorted(),
        }
    }
}

impl AddressRecord {
    fn into_counts(self, cap: usize) -> TopCounts<IpAddr> {
        let mut t = TopCounts::new(cap);
        t.map.extend(self.bytes);
        t.total = self.total;
        t.undercount = self.undercount;
        t
    }
}

impl From<&Traffic> for TrafficRecord {
    fn from(t: &Traffic) -> Self {
        TrafficRecord {
            flowsplit: env!("CARGO_PKG_VERSION").to_string(),
            netviz: t.netviz,
            input: t.input.clone(),
            first: t.first.map(|ts| (ts.secs, ts.nanos)),
            last: t.last.map(|ts| (ts.secs, ts.nanos)),
            packets: t.packets,
            bytes: t.bytes,
            ipv4_bytes: t.ip_bytes[0],
            ipv6_bytes: t.ip_bytes[1],
            classes: CLASSES.iter().map(|c| c.name().to_string()).collect(),
            bucket_seconds: t.series.width,
            series: t.series.buckets.iter().map(|(s, b)| (*s, *b)).collect(),
            address_cap: t.src_addresses.cap,
            src_addresses: (&t.src_addresses).into(),
            dst_addresses: (&t.dst_addresses).into(),
            src_ports: t.src_ports.sorted(),
            dst_ports: t.dst_ports.sorted(),
        }
    }
}

impl TrafficRecord {
    fn into_traffic(self) -> Result<Traffic, String> {
        let names: Vec<&str> = CLASSES.iter().map(|c| c.name()).collect();
        if self.classes != names {
            return Err(format!(
                "port classes {:?}, expected {names:?}",
                self.classes
            ));
        }
        if self.bucket_seconds < 1 || self.bucket_seconds.count_ones() != 1 {
            return Err(format!(
                "bucket_seconds {} is not a power of two",
                self.bucket_seconds
            ));
        }
        let ports = |list: Vec<(u16, u64)>| {
            let mut p = PortCounts::default();
            for (port, b) in list {
                p.add(port, b);
            }
            p
        };
        let ts = |t: Option<(i64, u32)>| t.map(|(s, n)| Timestamp::new(s, n));
        let mut series = TimeSeries {
            width: self.bucket_seconds,
            buckets: self.series.into_iter().collect(),
        };
        series.fit();
        Ok(Traffic {
            netviz: self.netviz,
            input: self.input,
            first: ts(self.first),
            last: ts(self.last),
            packets: self.packets,
            bytes: self.bytes,
            ip_bytes: [self.ipv4_bytes, self.ipv6_bytes],
            series,
            src_addresses: self.src_addresses.into_counts(self.address_cap),
            dst_addresses: self.dst_addresses.into_counts(self.address_cap),
            src_ports: ports(self.src_ports),
            dst_ports: ports(self.dst_ports),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn top_counts_are_exact_up_to_the_cap() {
        let mut t = TopCounts::new(4);
        for (k, w) in [(1u32, 5), (2, 7), (3, 1), (1, 2), (4, 9)] {
            t.add(k, w);
        }
        assert_eq!(t.sorted(), vec![(4, 9), (2, 7), (1, 7), (3, 1)]);
        assert_eq!(t.undercount(), 0);
        assert_eq!(t.total(), 24);
    }

    #[test]
    fn top_counts_past_the_cap_keep_heavy_keys_within_the_stated_undercount() {
        // 1,000 light keys (weight 1) and 3 heavy ones, cap 16.
        let mut t = TopCounts::new(16);
        let mut truth: HashMap<u32, u64> = HashMap::new();
        for i in 0..1000u32 {
            for (k, w) in [(10_000 + i, 1u64), (1, 50), (2, 30), (3, 20)] {
                if k < 10 && i % 10 != 0 {
                    continue;
                }
                t.add(k, w);
                *truth.entry(k).or_default() += w;
            }
        }
        let total: u64 = truth.values().sum();
        assert_eq!(t.total(), total);
        assert!(t.undercount() > 0);
        assert!(t.undercount() <= total / (16 / 2 + 1));
        assert!(t.map.len() <= 16);
        let top: Vec<u32> = t.top(3).into_iter().map(|(k, _)| k).collect();
        assert_eq!(top, vec![1, 2, 3]);
        for (k, w) in t.sorted() {
            let real = truth[&k];
            assert!(
                w <= real && real - w <= t.undercount(),
                "{k}: {w} vs {real}"
            );
        }
    }

    #[test]
    fn top_counts_merge_equals_one_count_below_the_cap() {
        let mut one = TopCounts::new(100);
        let mut a = TopCounts::new(100);
        let mut b = TopCounts::new(100);
        for i in 0..60u32 {
            one.add(i % 7, u64::from(i));
            if i % 2 == 0 { &mut a } else { &mut b }.add(i % 7, u64::from(i));
        }
        a.merge(&b);
        assert_eq!(a.sorted(), one.sorted());
        assert_eq!(a.total(), one.total());
    }

    #[test]
    fn series_widens_to_the_smallest_width_that_fits_and_merges_to_it() {
        let mut one = TimeSeries::default();
        let mut parts = [TimeSeries::default(), TimeSeries::default()];
        // 5,000 seconds with traffic: one doubling (2,500 buckets of 2 s).
        for s in 0..5000i64 {
            one.add(s, PortClass::Http, 10);
            parts[(s % 2) as usize].add(s, PortClass::Http, 10);
        }
        assert_eq!(one.width(), 2);
        assert_eq!(one.buckets().len(), 2500);
        assert_eq!(one.buckets()[&0].bytes[0], 20);
        // Each half has 2,500 distinct seconds: width 1 fits.
        assert_eq!(parts[0].width(), 1);
        let mut merged = parts[0].clone();
        merged.merge(&parts[1]);
        assert_eq!(merged, one);
    }

    #[test]
    fn written_and_read_back_it_is_the_same_summary() {
        let mut t = Traffic::new(8);
        t.input = "in.pcap".into();
        for (i, (s, d)) in [(1, 2), (2, 1), (1, 3)].into_iter().enumerate() {
            t.packet(&PacketFacts {
                ts: Timestamp::new(1_700_000_000 + i as i64, 5),
                wire_len: 100 + i as u32,
                src: v4(s),
                dst: v4(d),
                tcp_ports: (i != 2).then_some((40000, 80)),
                class: if i == 2 {
                    PortClass::Udp
                } else {
                    PortClass::Http
                },
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.traffic.json");
        t.write(&path).unwrap();
        let back = Traffic::read(&path).unwrap();
        assert_eq!(
            TrafficRecord::from(&back).series,
            TrafficRecord::from(&t).series
        );
        assert_eq!(back.packets(), 3);
        assert_eq!(back.bytes(), 303);
        assert_eq!(back.src_addresses().top(1), vec![(v4(1), 202)]);
        assert_eq!(back.dst_ports().sorted(), vec![(80, 201)]);
        assert_eq!(
            back.range(),
            Some((
                Timestamp::new(1_700_000_000, 5),
                Timestamp::new(1_700_000_002, 5)
            ))
        );
        assert_eq!(
            serde_json::to_value(TrafficRecord::from(&back)).unwrap(),
            serde_json::to_value(TrafficRecord::from(&t)).unwrap()
        );
    }
}
