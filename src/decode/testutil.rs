//! Frame builders for the decode tests. Test-only; builds headers by hand so
//! tests can also write the wrong values on purpose.

/// A TCP header (no options unless given) followed by `payload`.
pub(crate) fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    tcp_with_options(sport, dport, seq, flags, &[], payload)
}

/// A TCP header with `options` (padded to 4 bytes) followed by `payload`.
pub(crate) fn tcp_with_options(
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut opts = options.to_vec();
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let doff = (20 + opts.len()) / 4;
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&0x1122_3344u32.to_be_bytes()); // ack
    v.push((doff as u8) << 4);
    v.push(flags);
    v.extend_from_slice(&0xfaf0u16.to_be_bytes()); // window
    v.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
    v.extend_from_slice(&opts);
    v.extend_from_slice(payload);
    v
}

/// Fields of an IPv4 header to build.
pub(crate) struct V4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    pub id: u16,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
    pub more_fragments: bool,
    pub options: Vec<u8>,
    /// Overrides the computed total length.
    pub total_len: Option<u16>,
}

impl Default for V4 {
    fn default() -> Self {
        V4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            proto: 6,
            id: 0x1234,
            frag_offset: 0,
            more_fragments: false,
            options: Vec::new(),
            total_len: None,
        }
    }
}

/// An IPv4 header as described by `h`, followed by `payload`.
pub(crate) fn ipv4(h: &V4, payload: &[u8]) -> Vec<u8> {
    let mut opts = h.options.clone();
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    let hlen = 20 + opts.len();
    let total = h.total_len.unwrap_or((hlen + payload.len()) as u16);
    let mut v = Vec::new();
    v.push(0x40 | (hlen / 4) as u8);
    v.push(0);
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&h.id.to_be_bytes());
    let frag = (h.frag_offset & 0x1fff) | if h.more_fragments { 0x2000 } else { 0 };
    v.extend_from_slice(&frag.to_be_bytes());
    v.push(64);
    v.push(h.proto);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&h.src);
    v.extend_from_slice(&h.dst);
    v.extend_from_slice(&opts);
    v.extend_from_slice(payload);
    v
}

/// Default IPv6 source address used by the builders.
pub(crate) const V6_SRC: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// Default IPv6 destination address used by the builders.
pub(crate) const V6_DST: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An IPv6 header whose payload (extension headers included) is `payload`.
pub(crate) fn ipv6(next_header: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_with_len(next_header, payload.len() as u16, payload)
}

/// An IPv6 header with an explicit payload length field.
pub(crate) fn ipv6_with_len(next_header: u8, payload_len: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&payload_len.to_be_bytes());
    v.push(next_header);
    v.push(64);
    v.extend_from_slice(&V6_SRC);
    v.extend_from_slice(&V6_DST);
    v.extend_from_slice(payload);
    v
}

/// A generic IPv6 extension header (hop-by-hop, routing, destination
/// options) of `8 * (1 + len_units)` bytes, zero-filled.
pub(crate) fn ext(next_header: u8, len_units: u8) -> Vec<u8> {
    let mut v = vec![0u8; 8 * (1 + usize::from(len_units))];
    v[0] = next_header;
    v[1] = len_units;
    v
}

/// An IPv6 fragment header; `offset` in 8-byte units.
pub(crate) fn frag6(next_header: u8, offset: u16, more: bool, id: u32) -> Vec<u8> {
    let mut v = vec![next_header, 0];
    let field = (offset << 3) | u16::from(more);
    v.extend_from_slice(&field.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v
}

/// An Ethernet II header (made-up MACs) with `ethertype`, then `payload`.
pub(crate) fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A VLAN tag (TCI with `vid`, priority 5) followed by `inner` EtherType and `payload`.
pub(crate) fn vlan(vid: u16, inner: u16, payload: &[u8]) -> Vec<u8> {
    let tci = (5u16 << 13) | (vid & 0x0fff);
    let mut v = tci.to_be_bytes().to_vec();
    v.extend_from_slice(&inner.to_be_bytes());
    v.extend_from_slice(payload);
    v
}
