//! Splitting one capture's work over many processes or machines
//! (`--shard K/N`): which connections a shard keeps, and what its report
//! says about itself so that `flowsplit merge` ([`crate::merge`]) can check
//! a set of shards and put their reports back in a single run's order.
//!
//! Owns: the shard hash ([`shard_hash`], stable across versions and
//! machines), the choice of a segment's shard ([`ShardSpec::keeps`]), the
//! identity of a run's inputs and output settings ([`identity`]), the names
//! of a shard's report ([`ShardSpec::report_name`]) and the records a shard
//! report holds besides the single run's direction lines ([`Header`],
//! [`ClosedAt`], [`Done`]).
//!
//! Must not: decide anything about connections beyond which shard they are
//! in; a shard runs the same code as a single run.

use crate::decode::TcpTuple;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::path::Path;

/// One shard of a split: `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// K: which shard this is.
    pub index: u32,
    /// N: how many shards the connections are split into.
    pub count: u32,
}

/// Shards a split may have at most.
pub const MAX_SHARDS: u32 = 65_536;

impl ShardSpec {
    /// This shard's share of `total` split over the N shards: a
    /// `1 / N`, shard 0 also taking the remainder, so the shares add up
    /// to `total`.
    pub fn share_of(&self, total: u64) -> u64 {
        let n = u64::from(self.count.max(1));
        let share = total / n;
        if self.index == 0 {
            share + total % n
        } else {
            share
        }
    }

    /// Parse `K/N` (0 ≤ K < N ≤ [`MAX_SHARDS`]); the error says what is wrong.
    pub fn parse(text: &str) -> Result<ShardSpec, String> {
        let bad = || format!("{text:?} is not K/N with 0 <= K < N <= {MAX_SHARDS} (e.g. 0/4)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(k) || !digits(n) {
            return Err(bad());
        }
        let (index, count) = match (k.parse::<u32>(), n.parse::<u32>()) {
            (Ok(k), Ok(n)) => (k, n),
            _ => return Err(bad()),
        };
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(ShardSpec { index, count })
    }

    /// True when the connection `tuple` belongs to (either direction) is
    /// this shard's: `shard_hash(tuple) mod N == K`.
    pub fn keeps(&self, tuple: &TcpTuple) -> bool {
        shard_of(tuple, self.count) == self.index
    }

    /// The shard's report file name: `report-K-of-N.jsonl`.
    pub fn report_name(&self) -> String {
        format!("report-{}-of-{}.jsonl", self.index, self.count)
    }

    /// Parse a shard report's file name back (`report-K-of-N.jsonl`).
    pub fn from_report_name(name: &str) -> Option<ShardSpec> {
        let rest = name.strip_prefix("report-")?.strip_suffix(".jsonl")?;
        let (k, n) = rest.split_once("-of-")?;
        let spec = ShardSpec::parse(&format!("{k}/{n}")).ok()?;
        // Only the canonical spelling (no leading zeros) is a shard report.
        (spec.report_name() == name).then_some(spec)
    }
}

/// The shard (of `count`) the connection of `tuple` belongs to.
pub fn shard_of(tuple: &TcpTuple, count: u32) -> u32 {
    let h = shard_hash(tuple);
    ((h ^ (h >> 32)) % u64::from(count.max(1))) as u32
}

/// The shard hash of the connection `tuple` belongs to, equal for both
/// directions and for every tunnel carrying the same addresses, ports and
/// VLAN (so connections whose names can collide stay in one shard, as for
/// worker threads). Fixed by this definition on every version and machine:
/// 64-bit FNV-1a over the bytes of the endpoint that sorts first (address
/// family, then address bytes, then port) as its address (4 or 16 bytes)
/// and port (2 bytes, big-endian), then the other endpoint the same way,
/// then the VLAN id (2 bytes, big-endian; `ff ff` when untagged).
pub fn shard_hash(tuple: &TcpTuple) -> u64 {
    let a = (tuple.src, tuple.sport);
    let b = (tuple.dst, tuple.dport);
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h = Fnv1a::new();
    for (addr, port) in [lo, hi] {
        match addr {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write(&port.to_be_bytes());
    }
    h.write(&tuple.vlan.unwrap_or(0xffff).to_be_bytes());
    h.0
}

/// 64-bit FNV-1a (Fowler, Noll, Vo): a published hash defined by two
/// constants, so its values never change (a hashing crate promises that
/// for no version, and the standard library's `Hash` for no release).
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Fnv1a {
        Fnv1a(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }
}

/// The first record of a shard report: which shard of which split of which
/// inputs it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// K.
    pub flowsplit_shard: u32,
    /// N.
    pub shards: u32,
    /// [`identity`] of the inputs and the settings that shape the output.
    pub inputs: String,
    /// The version of flowsplit that wrote the shard.
    pub flowsplit: String,
    /// The DFXML report a single run of the same command writes, which
    /// `flowsplit merge` writes in the shards' stead (a shard writes
    /// none); left out when a single run writes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dfxml: Option<DfxmlWish>,
    /// With `-e http`: the decoded size limit (`--max-decoded`) objects
    /// assembled from range parts are held to. A shard writes no such
    /// object: its index lists the parts and `flowsplit merge` assembles
    /// them over every shard's (see `crate::merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_max_object: Option<u64>,
}

/// What a shard records of the DFXML report (`report.xml`, `-X`) a single
/// run writes. Its MD5 hashes (`-e md5`, `-F M`) are in the report lines
/// themselves, so they need no mention here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DfxmlWish {
    /// Its file name in the merged folder: `report.xml`, or the name `-X`
    /// gave the shards.
    pub file: String,
    /// Each `fileobject` names its flow file (false with `-F X`, which
    /// writes none).
    pub filenames: bool,
    /// Carved bodies are listed as `byte_runs` of their flow files (`-X`
    /// with `-e http`).
    pub byte_runs: bool,
}

/// The record before each run of direction lines closed by the same
/// packet: its 1-based number over all inputs, or `"end"` for the
/// directions closed at the end of the input. `flowsplit merge` orders the
/// shards' lines by it, then by connection, as a single run does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedAt {
    /// The packet number, or `"end"`.
    pub closed_at: serde_json::Value,
}

impl ClosedAt {
    /// The record for the close event `event` (`u64::MAX`: end of input).
    pub fn new(event: u64) -> ClosedAt {
        let closed_at = match event {
            u64::MAX => serde_json::Value::from("end"),
            n => serde_json::Value::from(n),
        };
        ClosedAt { closed_at }
    }

    /// The close event back (`u64::MAX` for `"end"`), if the value is one.
    pub fn event(&self) -> Option<u64> {
        match &self.closed_at {
            serde_json::Value::String(s) if s == "end" => Some(u64::MAX),
            v => v.as_u64(),
        }
    }
}

/// The last record of a shard report, written once the shard finished
/// without an error that stopped it: a report without it is of a shard
/// that did not finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// K.
    pub shard_done: u32,
    /// Packets read over all inputs (every shard reads them all).
    pub packets: u64,
    /// Direction lines in this report.
    pub directions: u64,
}

/// Bytes read from each end of every input for [`identity`].
const IDENTITY_SPAN: u64 = 1 << 20;

/// The identity of a run's inputs and output settings: SHA-256 (hex) over
/// `settings`, then for every input file in reading order its length and
/// its first and last MiB (the path is left out: machines may mount the
/// capture at different places). Reads at most 2 MiB per input.
pub fn identity(settings: &str, files: &[&Path]) -> Result<String, Error> {
    let mut h = Sha256::new();
    h.update((settings.len() as u64).to_be_bytes());
    h.update(settings.as_bytes());
    let mut buf = Vec::with_capacity(IDENTITY_SPAN as usize);
    for path in files {
        let open = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::File::open(path).map_err(open)?;
        let len = f.metadata().map_err(open)?.len();
        h.update(len.to_be_bytes());
        let read = |f: &mut std::fs::File, buf: &mut Vec<u8>, from: u64| {
            buf.clear();
            f.seek(SeekFrom::Start(from))?;
            f.by_ref().take(IDENTITY_SPAN).read_to_end(buf)
        };
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        read(&mut f, &mut buf, 0).map_err(read_err)?;
        h.update(&buf);
        read(&mut f, &mut buf, len.saturating_sub(IDENTITY_SPAN)).map_err(read_err)?;
        h.update(&buf);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_a_total_add_up_to_it_with_shard_zero_taking_the_remainder() {
        let spec = |index| ShardSpec { index, count: 3 };
        assert_eq!(spec(0).share_of(101), 35);
        assert_eq!(spec(1).share_of(101), 33);
        assert_eq!(spec(2).share_of(101), 33);
        let total: u64 = (0..3).map(|k| spec(k).share_of(16 << 20)).sum();
        assert_eq!(total, 16 << 20);
        let max: u64 = (0..3)
            .map(|k| spec(k).share_of(u64::MAX) as u128)
            .sum::<u128>() as u64;
        assert_eq!(max, u64::MAX);
    }

    fn tuple(src: &str, sport: u16, dst: &str, dport: u16, vlan: Option<u16>) -> TcpTuple {
        TcpTuple {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport,
            dport,
            vlan,
            tunnel: 0,
        }
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        let of = |s: &[u8]| {
            let mut h = Fnv1a::new();
            h.write(s);
            h.0
        };
        assert_eq!(of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(of(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(of(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_is_pinned_and_symmetric() {
        let t = tuple("10.0.0.1", 51234, "192.168.1.2", 80, None);
        // Pinned (computed independently from the definition): a change here
        // splits captures differently from older versions.
        assert_eq!(
            shard_hash(&t),
            0xbe2e_5740_3b21_7517,
            "{:#x}",
            shard_hash(&t)
        );
        assert_eq!(shard_hash(&t), shard_hash(&t.reversed()));
        let mut tunnelled = t;
        tunnelled.tunnel = 7;
        assert_eq!(shard_hash(&t), shard_hash(&tunnelled));
        let tagged = tuple("10.0.0.1", 51234, "192.168.1.2", 80, Some(5));
        assert_ne!(shard_hash(&t), shard_hash(&tagged));
        let v6 = tuple("2001:db8::1", 443, "2001:db8::2", 50000, None);
        assert_eq!(shard_hash(&v6), shard_hash(&v6.reversed()));
    }

    #[test]
    fn every_connection_is_in_exactly_one_shard_and_shards_are_even() {
        for n in [1u32, 2, 3, 7, 16] {
            let mut counts = vec![0u32; n as usize];
            for port in 0..7000u16 {
                let t = tuple("10.0.0.1", 1024 + port, "10.0.0.2", 80, None);
                let owners: Vec<u32> = (0..n)
                    .filter(|&k| ShardSpec { index: k, count: n }.keeps(&t))
                    .collect();
                assert_eq!(owners.len(), 1);
                counts[owners[0] as usize] += 1;
            }
            let even = 7000 / n;
            for c in counts {
                assert!(c > even * 9 / 10 && c < even * 11 / 10, "{n}: {c}");
            }
        }
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!(
            ShardSpec::parse("2/3"),
            Ok(ShardSpec { index: 2, count: 3 })
        );
        for bad in [
            "3/3", "0/0", "-1/2", "1", "a/2", "1/2/3", "", "0/65537", " 1/2",
        ] {
            let e = ShardSpec::parse(bad).unwrap_err();
            assert!(e.contains("is not K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn report_names_round_trip() {
        let s = ShardSpec { index: 4, count: 7 };
        assert_eq!(s.report_name(), "report-4-of-7.jsonl");
        assert_eq!(ShardSpec::from_report_name("report-4-of-7.jsonl"), Some(s));
        for other in [
            "report.jsonl",
            "report-04-of-7.jsonl",
            "report-7-of-7.jsonl",
            "report-1-of-2.json",
        ] {
            assert_eq!(ShardSpec::from_report_name(other), None, "{other}");
        }
    }

    #[test]
    fn closed_at_round_trips_packets_and_end() {
        for e in [1, 12345, u64::MAX] {
            let line = serde_json::to_string(&ClosedAt::new(e)).unwrap();
            let back: ClosedAt = serde_json::from_str(&line).unwrap();
            assert_eq!(back.event(), Some(e), "{line}");
        }
        assert_eq!(
            serde_json::to_string(&ClosedAt::new(u64::MAX)).unwrap(),
            r#"{"closed_at":"end"}"#
        );
    }

    #[test]
    fn identity_changes_with_settings_and_content_not_path() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&a, b"same bytes").unwrap();
        std::fs::write(&b, b"same bytes").unwrap();
        std::fs::write(&c, b"other bytes").unwrap();
        let id = identity("s", &[&a]).unwrap();
        assert_eq!(id, identity("s", &[&b]).unwrap());
        assert_ne!(id, identity("s", &[&c]).unwrap());
        assert_ne!(id, identity("t", &[&a]).unwrap());
        assert_ne!(id, identity("s", &[&a, &a]).unwrap());
    }
}
