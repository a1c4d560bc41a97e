//! The Community ID (version 1) of a TCP connection: the flow hash that
//! Zeek, Suricata, Arkime and Wireshark write, so that flowsplit's report
//! and HTTP index can be joined to their logs
//! (<https://github.com/corelight/community-id-spec>).
//!
//! Owns: the one call into the `community-id` crate, with protocol 6 and
//! [`SEED`]. The value is the same for both directions of a connection; a
//! connection's VLAN, tunnel and outer addresses are not part of it.
//!
//! Must not: hash anything itself (the crate does it with RustCrypto's SHA-1).

use std::net::IpAddr;

/// The seed hashed in front of the tuple: 0, the default of every tool
/// that writes Community IDs.
pub const SEED: u16 = 0;

/// IANA protocol number of TCP.
const TCP: u8 = 6;

/// The Community ID of the TCP connection between `src`:`sport` and
/// `dst`:`dport` (either order gives the same value), e.g.
/// `1:wCb3OG7yAFWelaUydu0D+125CLM=`. `None` only when the two addresses
/// are not of the same family, which a decoded segment never has.
pub fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Option<String> {
    community_id::calculate_community_id(SEED, src, dst, Some(sport), Some(dport), TCP, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_tcp_example_and_its_reverse() {
        let (a, b): (IpAddr, IpAddr) = ("1.2.3.4".parse().unwrap(), "5.6.7.8".parse().unwrap());
        let want = Some("1:wCb3OG7yAFWelaUydu0D+125CLM=".to_string());
        assert_eq!(tcp(a, 1122, b, 3344), want);
        assert_eq!(tcp(b, 3344, a, 1122), want);
    }

    #[test]
    fn mixed_address_families_have_none() {
        assert_eq!(
            tcp("1.2.3.4".parse().unwrap(), 1, "::1".parse().unwrap(), 2),
            None
        );
    }
}
