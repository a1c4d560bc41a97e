//! The encapsulation path of a segment: which headers were peeled off on the
//! way from the frame to the innermost IP header, the outer endpoints of the
//! innermost tunnel, and the tunnel discriminator that keeps the same inner
//! 4-tuple seen through two different tunnels apart.
//!
//! Owns [`Encap`] (what a [`super::Segment`] carries, fixed size, `Copy`, no
//! heap) and the walk context [`Ctx`] the link and tunnel handlers record
//! into. It parses nothing itself.
//!
//! ```text
//! frame:  |eth|vlan 100|ipv4 A→B|gre|ipv4 a→b|tcp ...|
//! path:    ethernet/vlan 100/ipv4/gre/ipv4
//! outer:   (A, B)          the IP header that carries the innermost tunnel
//! tunnel:  hash({A,B} unordered, proto 47, vlan 100)   0 when not tunnelled
//! vlan:    None            tags of the underlay do not name the inner flow
//! ```
//!
//! The discriminator is the same for both directions of a connection: it
//! folds in the outer address pair in sorted order, the tunnel protocol and
//! the underlay VLAN, and the VXLAN/Geneve network id, but nothing that
//! differs between the two directions (UDP source ports, GTP TEIDs, MPLS
//! labels, L2TP session ids, GRE keys). Link-layer framing alone (MPLS,
//! PPPoE, 802.11, ERSPAN mirroring) is not a tunnel: it does not change the
//! discriminator. It is a 32-bit FNV-1a hash, stable across runs and threads.

use super::Skip;
use std::fmt;
use std::net::IpAddr;

/// Most layers recorded (and walked) in one frame: the bound on nesting.
pub const MAX_LAYERS: usize = 16;

/// One kind of header peeled off a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LayerKind {
    /// Unused slot.
    #[default]
    None = 0,
    /// Ethernet II.
    Ethernet,
    /// Linux cooked capture v1.
    Sll,
    /// Linux cooked capture v2.
    Sll2,
    /// BSD loopback (DLT_NULL).
    Null,
    /// OpenBSD loopback (DLT_LOOP).
    Loop,
    /// Linux NFLOG (LINKTYPE 239).
    Nflog,
    /// Cisco HDLC (LINKTYPE 104).
    CiscoHdlc,
    /// PPP (link type, PPTP GRE or L2TP payload).
    Ppp,
    /// An IEEE 802.11 data frame.
    Wlan,
    /// A radiotap header.
    Radiotap,
    /// A PPI header.
    Ppi,
    /// An 802.1Q/802.1ad tag; id: the VLAN id.
    Vlan,
    /// An MPLS label stack entry; id: the label.
    Mpls,
    /// PPPoE session; id: the session id.
    Pppoe,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// GRE without a key.
    Gre,
    /// GRE with a key; id: the key.
    GreKey,
    /// ERSPAN type I (GRE 0x88be without sequence number, no header).
    Erspan1,
    /// ERSPAN type II; id: the session id.
    Erspan2,
    /// ERSPAN type III; id: the session id.
    Erspan3,
    /// UDP.
    Udp,
    /// VXLAN; id: the VNI.
    Vxlan,
    /// Geneve; id: the VNI.
    Geneve,
    /// Teredo.
    Teredo,
    /// GTP-U; id: the TEID.
    GtpU,
    /// AYIYA.
    Ayiya,
    /// L2TPv2; id: the session id.
    L2tp,
}

impl LayerKind {
    /// The name used in [`EncapPath`]'s rendering.
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::None => "?",
            LayerKind::Ethernet => "ethernet",
            LayerKind::Sll => "sll",
            LayerKind::Sll2 => "sll2",
            LayerKind::Null => "null",
            LayerKind::Loop => "loop",
            LayerKind::Nflog => "nflog",
            LayerKind::CiscoHdlc => "chdlc",
            LayerKind::Ppp => "ppp",
            LayerKind::Wlan => "802.11",
            LayerKind::Radiotap => "radiotap",
            LayerKind::Ppi => "ppi",
            LayerKind::Vlan => "vlan",
            LayerKind::Mpls => "mpls",
            LayerKind::Pppoe => "pppoe",
            LayerKind::Ipv4 => "ipv4",
            LayerKind::Ipv6 => "ipv6",
            LayerKind::Gre => "gre",
            LayerKind::GreKey => "gre key",
            LayerKind::Erspan1 => "erspan1",
            LayerKind::Erspan2 => "erspan2",
            LayerKind::Erspan3 => "erspan3",
            LayerKind::Udp => "udp",
            LayerKind::Vxlan => "vxlan",
            LayerKind::Geneve => "geneve",
            LayerKind::Teredo => "teredo",
            LayerKind::GtpU => "gtp-u",
            LayerKind::Ayiya => "ayiya",
            LayerKind::L2tp => "l2tp",
        }
    }

    /// True when the layer's id is worth printing.
    fn has_id(self) -> bool {
        matches!(
            self,
            LayerKind::Vlan
                | LayerKind::Mpls
                | LayerKind::Pppoe
                | LayerKind::GreKey
                | LayerKind::Erspan2
                | LayerKind::Erspan3
                | LayerKind::Vxlan
                | LayerKind::Geneve
                | LayerKind::GtpU
                | LayerKind::L2tp
        )
    }
}

/// One recorded layer: its kind and its id (VLAN id, label, VNI, key, ...;
/// 0 when the kind has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Layer {
    /// What the header was.
    pub kind: LayerKind,
    /// Its identifier, see [`LayerKind`].
    pub id: u32,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        if self.kind.has_id() {
            write!(f, " {}", self.id)?;
        }
        Ok(())
    }
}

/// The headers of a frame from the link layer down to the innermost IP
/// header, outermost first (TCP is not listed). Fixed size, no heap.
/// Renders as `ethernet/vlan 100/ipv4/gre/ipv4`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncapPath {
    kinds: [LayerKind; MAX_LAYERS],
    ids: [u32; MAX_LAYERS],
    len: u8,
}

impl EncapPath {
    /// Number of layers.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when nothing was recorded (only for a default value).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The layers, outermost first.
    pub fn iter(&self) -> impl Iterator<Item = Layer> + '_ {
        self.kinds
            .iter()
            .zip(self.ids.iter())
            .take(self.len())
            .map(|(&kind, &id)| Layer { kind, id })
    }

    /// Appends a layer; fails past [`MAX_LAYERS`].
    pub(crate) fn push(&mut self, kind: LayerKind, id: u32) -> Result<(), Skip> {
        let i = self.len();
        match (self.kinds.get_mut(i), self.ids.get_mut(i)) {
            (Some(k), Some(v)) => {
                *k = kind;
                *v = id;
                self.len += 1;
                Ok(())
            }
            _ => Err(Skip::Malformed("too many nested encapsulations")),
        }
    }

    /// The path as text (call once per direction, not per packet).
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for EncapPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, layer) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EncapPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncapPath({self})")
    }
}

/// How a segment reached us: the encapsulation path and the outer
/// endpoints of the innermost tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Encap {
    /// Every header from the link layer to the innermost IP header.
    pub path: EncapPath,
    /// Source and destination of the IP header that carries the innermost
    /// IP-level tunnel (GRE, IP-in-IP, a UDP tunnel); `None` when the
    /// segment was not tunnelled.
    pub outer: Option<(IpAddr, IpAddr)>,
    /// The first 12 bytes of the frame when its link type is Ethernet: the
    /// destination and then the source MAC address (tcpflow's `%e`, `%E`).
    /// `None` on every other link type.
    pub macs: Option<[u8; 12]>,
}

impl Encap {
    /// True when the segment came through an IP-level tunnel.
    pub fn tunnelled(&self) -> bool {
        self.outer.is_some()
    }
}

/// FNV-1a, 32 bits.
const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// What the handlers learn on the way in; owned by one `decode` call.
#[derive(Debug)]
pub(crate) struct Ctx<'o> {
    /// Decoder settings (extra UDP tunnel ports).
    pub opts: &'o super::DecodeOptions,
    /// The path and outer endpoints so far.
    pub encap: Encap,
    /// Innermost VLAN id of the current (innermost so far) network.
    pub vlan: Option<u16>,
    /// Tunnel discriminator state (FNV-1a), meaningful once `tunnelled`.
    hash: u32,
}

impl<'o> Ctx<'o> {
    /// A fresh context.
    pub fn new(opts: &'o super::DecodeOptions) -> Self {
        Ctx {
            opts,
            encap: Encap::default(),
            vlan: None,
            hash: FNV_OFFSET,
        }
    }

    /// Records a layer.
    pub fn push(&mut self, kind: LayerKind, id: u32) -> Result<(), Skip> {
        self.encap.path.push(kind, id)
    }

    /// Folds bytes into the tunnel discriminator.
    pub fn fold(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash = (self.hash ^ u32::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    /// The IP header `src → dst` carries a tunnel of protocol `proto`: fold
    /// the unordered address pair, the protocol and the underlay VLAN into
    /// the discriminator, make them the outer endpoints, and start a new
    /// network (no VLAN yet).
    pub fn enter_tunnel(&mut self, src: IpAddr, dst: IpAddr, proto: u8) {
        let (lo, hi) = if src <= dst { (src, dst) } else { (dst, src) };
        for a in [lo, hi] {
            match a {
                IpAddr::V4(v4) => self.fold(&v4.octets()),
                IpAddr::V6(v6) => self.fold(&v6.octets()),
            }
        }
        self.fold(&[proto]);
        match self.vlan.take() {
            Some(v) => self.fold(&[1, (v >> 8) as u8, v as u8]),
            None => self.fold(&[0]),
        }
        self.encap.outer = Some((src, dst));
    }

    /// The tunnel discriminator: 0 when not tunnelled, never 0 otherwise.
    pub fn tunnel_id(&self) -> u32 {
        if self.encap.outer.is_none() {
            0
        } else {
            self.hash.max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DecodeOptions;

    #[test]
    fn path_renders_with_ids_where_they_mean_something() {
        let mut p = EncapPath::default();
        for (k, id) in [
            (LayerKind::Ethernet, 0),
            (LayerKind::Vlan, 100),
            (LayerKind::Ipv4, 0),
            (LayerKind::Gre, 0),
            (LayerKind::Ipv4, 0),
        ] {
            p.push(k, id).unwrap();
        }
        assert_eq!(p.render(), "ethernet/vlan 100/ipv4/gre/ipv4");
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn path_is_bounded() {
        let mut p = EncapPath::default();
        for _ in 0..MAX_LAYERS {
            p.push(LayerKind::Mpls, 1).unwrap();
        }
        assert!(matches!(
            p.push(LayerKind::Ipv4, 0),
            Err(Skip::Malformed(_))
        ));
        assert_eq!(p.len(), MAX_LAYERS);
    }

    #[test]
    fn empty_path_renders_empty() {
        assert_eq!(EncapPath::default().render(), "");
        assert!(EncapPath::default().is_empty());
    }

    #[test]
    fn tunnel_id_is_zero_without_tunnel_and_symmetric_with_one() {
        let o = DecodeOptions::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(Ctx::new(&o).tunnel_id(), 0);
        let id = |s, d, proto| {
            let mut x = Ctx::new(&o);
            x.enter_tunnel(s, d, proto);
            x.tunnel_id()
        };
        assert_ne!(id(a, b, 47), 0);
        assert_eq!(id(a, b, 47), id(b, a, 47));
        assert_ne!(id(a, b, 47), id(a, c, 47));
        assert_ne!(id(a, b, 47), id(a, b, 4));
    }

    #[test]
    fn underlay_vlan_is_folded_and_cleared() {
        let o = DecodeOptions::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut x = Ctx::new(&o);
        x.vlan = Some(7);
        x.enter_tunnel(a, b, 47);
        assert_eq!(x.vlan, None);
        let mut y = Ctx::new(&o);
        y.enter_tunnel(a, b, 47);
        assert_ne!(x.tunnel_id(), y.tunnel_id());
        assert_eq!(x.encap.outer, Some((a, b)));
    }
}
