//! End-to-end decapsulation tests: a TCP segment built by `synth`, wrapped
//! by `synth::tunnel` in each encapsulation and link type, decoded by
//! [`Decoder`]; the inner tuple, payload, path and outer endpoints are
//! checked. Test-only.

use super::*;
use crate::capture::LinkType;
use flowsplit_synth::tunnel::{TunnelSink, Wrap};
use flowsplit_synth::{FrameBuilder, Link, TcpHeader, ACK, PSH};
use std::net::SocketAddr;

const PAYLOAD: &[u8] = b"inner payload bytes";

fn client4() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}
fn server4() -> SocketAddr {
    "10.0.0.2:80".parse().unwrap()
}
fn client6() -> SocketAddr {
    "[2001:db8::1]:40000".parse().unwrap()
}
fn server6() -> SocketAddr {
    "[2001:db8::2]:80".parse().unwrap()
}

/// A raw IP packet carrying a TCP segment `from` → `to` with [`PAYLOAD`].
fn inner(from: SocketAddr, to: SocketAddr) -> Vec<u8> {
    let mut b = FrameBuilder::new(Link::Raw(101));
    let h = TcpHeader {
        sport: from.port(),
        dport: to.port(),
        seq: 1234,
        ack: 99,
        flags: ACK | PSH,
        window: 1000,
        mss: None,
        timestamps: None,
    };
    b.tcp(from.ip(), to.ip(), 1, &h, PAYLOAD).to_vec()
}

/// The frames carrying `from` → `to` inside `layers`.
fn frames(layers: &[Wrap], from: SocketAddr, to: SocketAddr, client: SocketAddr) -> Vec<Vec<u8>> {
    let mut s = TunnelSink::new(Vec::new(), layers.to_vec(), client);
    s.wrap(&inner(from, to))
}

/// Decoded segment (owned) plus what the decoder says it came through.
struct Decoded {
    seg: Segment<'static>,
    encap: Encap,
    tunnel: u32,
}

fn decode_all(d: &mut Decoder, link: u32, frames: &[Vec<u8>]) -> Result<Decoded, Skip> {
    let mut last = Err(Skip::NotIp);
    for f in frames {
        let pkt = Packet {
            ts: Timestamp::new(1, 0),
            link: LinkType(link),
            data: f,
            orig_len: f.len() as u32,
        };
        last = d.decode(&pkt).map(|s| {
            assert_eq!(s.encap, *d.last_encap());
            assert_eq!(s.tuple.tunnel, d.last_tunnel());
            Decoded {
                encap: s.encap,
                tunnel: s.tuple.tunnel,
                seg: s.into_owned(),
            }
        });
    }
    last
}

/// Decodes both directions through `layers`, checks the inner tuple and
/// payload, and that both directions share one tunnel id; returns the
/// client-to-server result.
fn check(layers: &[Wrap], v6: bool) -> Decoded {
    let (c, s) = if v6 {
        (client6(), server6())
    } else {
        (client4(), server4())
    };
    let link = Wrap::linktype(layers);
    let mut d = Decoder::default();
    let fwd = decode_all(&mut d, link, &frames(layers, c, s, c)).unwrap();
    let back = decode_all(&mut d, link, &frames(layers, s, c, c)).unwrap();
    assert_eq!(fwd.seg.tuple.src, c.ip());
    assert_eq!(fwd.seg.tuple.dst, s.ip());
    assert_eq!((fwd.seg.tuple.sport, fwd.seg.tuple.dport), (40000, 80));
    assert_eq!(&*fwd.seg.payload, PAYLOAD);
    assert_eq!(fwd.seg.seq, 1234);
    assert_eq!(fwd.seg.missing, 0);
    assert_eq!(back.seg.tuple, fwd.seg.tuple.reversed());
    assert_eq!(&*back.seg.payload, PAYLOAD);
    assert_eq!(
        back.tunnel, fwd.tunnel,
        "tunnel id must not depend on direction"
    );
    assert_eq!(back.encap.path.len(), fwd.encap.path.len());
    fwd
}

fn v4(a: &str, b: &str) -> Wrap {
    Wrap::ip(a, b)
}

fn gre(key: Option<u32>, seq: bool, checksum: bool) -> Wrap {
    Wrap::Gre { key, seq, checksum }
}

fn udp(port: u16) -> Wrap {
    Wrap::Udp {
        client_port: 50123,
        server_port: port,
    }
}

fn outer4() -> Option<(IpAddr, IpAddr)> {
    Some(("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()))
}

#[test]
fn gre_ipv4() {
    let r = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            gre(None, false, false),
        ],
        false,
    );
    assert_eq!(r.encap.path.render(), "ethernet/ipv4/gre/ipv4");
    assert_eq!(r.encap.outer, outer4());
    assert_ne!(r.tunnel, 0);
}

#[test]
fn gre_key_sequence_checksum() {
    let r = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            gre(Some(77), true, true),
        ],
        false,
    );
    assert_eq!(r.encap.path.render(), "ethernet/ipv4/gre key 77/ipv4");
}

#[test]
fn gre_ethernet_payload() {
    let r = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            gre(Some(0), false, false),
            Wrap::Ethernet,
            Wrap::Vlan(12),
        ],
        false,
    );
    assert_eq!(
        r.encap.path.render(),
        "ethernet/ipv4/gre key 0/ethernet/vlan 12/ipv4"
    );
    assert_eq!(r.seg.tuple.vlan, Some(12));
}

#[test]
fn gre_over_ipv6_carrying_ipv6() {
    let r = check(
        &[
            Wrap::Ethernet,
            v4("2001:db8:ff::1", "2001:db8:ff::2"),
            gre(None, false, false),
        ],
        true,
    );
    assert_eq!(r.encap.path.render(), "ethernet/ipv6/gre/ipv6");
}

#[test]
fn erspan_types_one_two_three() {
    for (erspan, path) in [
        (Wrap::Erspan1, "ethernet/ipv4/gre/erspan1/ethernet/ipv4"),
        (
            Wrap::Erspan2(100),
            "ethernet/ipv4/gre/erspan2 100/ethernet/ipv4",
        ),
        (
            Wrap::Erspan3 {
                session: 3,
                subheader: false,
            },
            "ethernet/ipv4/gre/erspan3 3/ethernet/ipv4",
        ),
        (
            Wrap::Erspan3 {
                session: 1023,
                subheader: true,
            },
            "ethernet/ipv4/gre/erspan3 1023/ethernet/ipv4",
        ),
    ] {
        let r = check(
            &[
                Wrap::Ethernet,
                v4("192.0.2.1", "192.0.2.2"),
                gre(None, false, false),
                erspan,
                Wrap::Ethernet,
            ],
            false,
        );
        assert_eq!(r.encap.path.render(), path);
    }
}

#[test]
fn vxlan_and_geneve() {
    let r = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            udp(4789),
            Wrap::Vxlan(5000),
            Wrap::Ethernet,
        ],
        false,
    );
    assert_eq!(
        r.encap.path.render(),
        "ethernet/ipv4/udp/vxlan 5000/ethernet/ipv4"
    );
    let g = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            udp(6081),
            Wrap::Geneve {
                vni: 7,
                option_words: 3,
            },
            Wrap::Ethernet,
        ],
        true,
    );
    assert_eq!(
        g.encap.path.render(),
        "ethernet/ipv4/udp/geneve 7/ethernet/ipv6"
    );
    // Geneve may carry IP directly.
    let ip = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            udp(6081),
            Wrap::Geneve {
                vni: 7,
                option_words: 0,
            },
        ],
        false,
    );
    assert_eq!(ip.encap.path.render(), "ethernet/ipv4/udp/geneve 7/ipv4");
}

#[test]
fn vni_is_part_of_the_tunnel_id() {
    let layers = |vni| {
        vec![
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            udp(4789),
            Wrap::Vxlan(vni),
            Wrap::Ethernet,
        ]
    };
    assert_ne!(
        check(&layers(1), false).tunnel,
        check(&layers(2), false).tunnel
    );
}

#[test]
fn vxlan_on_a_configured_port() {
    let layers = [
        Wrap::Ethernet,
        v4("192.0.2.1", "192.0.2.2"),
        udp(8472),
        Wrap::Vxlan(1),
        Wrap::Ethernet,
    ];
    let f = frames(&layers, client4(), server4(), client4());
    assert_eq!(
        decode_all(&mut Decoder::default(), 1, &f).err(),
        Some(Skip::NotTcp)
    );
    let opts = DecodeOptions::default().with_udp_port(8472, UdpTunnel::Vxlan);
    let mut d = Decoder::with_options(opts);
    assert_eq!(d.options().udp_ports, vec![(8472, UdpTunnel::Vxlan)]);
    let r = decode_all(&mut d, 1, &f).unwrap();
    assert_eq!(&*r.seg.payload, PAYLOAD);
}

#[test]
fn mpls_over_ethernet_and_sll() {
    let r = check(&[Wrap::Ethernet, Wrap::Mpls(100), Wrap::Mpls(200)], false);
    assert_eq!(r.encap.path.render(), "ethernet/mpls 100/mpls 200/ipv4");
    assert_eq!((r.tunnel, r.encap.outer), (0, None));
    let r = check(&[Wrap::Sll, Wrap::Mpls(16)], true);
    assert_eq!(r.encap.path.render(), "sll/mpls 16/ipv6");
}

#[test]
fn pppoe_session() {
    let r = check(
        &[Wrap::Ethernet, Wrap::Vlan(30), Wrap::PppoeSession(0x3b1a)],
        false,
    );
    assert_eq!(r.encap.path.render(), "ethernet/vlan 30/pppoe 15130/ipv4");
    assert_eq!(r.seg.tuple.vlan, Some(30));
    assert_eq!(r.tunnel, 0);
}

#[test]
fn ip_in_ip_all_four() {
    for (outer, inner6, path) in [
        (v4("192.0.2.1", "192.0.2.2"), false, "ethernet/ipv4/ipv4"),
        (v4("192.0.2.1", "192.0.2.2"), true, "ethernet/ipv4/ipv6"),
        (
            v4("2001:db8:ff::1", "2001:db8:ff::2"),
            false,
            "ethernet/ipv6/ipv4",
        ),
        (
            v4("2001:db8:ff::1", "2001:db8:ff::2"),
            true,
            "ethernet/ipv6/ipv6",
        ),
    ] {
        let r = check(&[Wrap::Ethernet, outer.clone()], inner6);
        assert_eq!(r.encap.path.render(), path);
        let Wrap::Ip {
            client_side,
            server_side,
            ..
        } = outer
        else {
            unreachable!()
        };
        assert_eq!(r.encap.outer, Some((client_side, server_side)));
    }
}

#[test]
fn teredo_gtp_ayiya_l2tp() {
    let base = || vec![Wrap::Ethernet, v4("192.0.2.1", "192.0.2.2")];
    let cases: Vec<(Vec<Wrap>, bool, &str)> = vec![
        (
            vec![
                udp(3544),
                Wrap::Teredo {
                    auth: true,
                    origin: true,
                },
            ],
            true,
            "ethernet/ipv4/udp/teredo/ipv6",
        ),
        (
            vec![
                Wrap::Udp {
                    client_port: 5906,
                    server_port: 2152,
                },
                Wrap::GtpU {
                    client_teid: 11,
                    server_teid: 11,
                    extension: true,
                },
            ],
            false,
            "ethernet/ipv4/udp/gtp-u 11/ipv4",
        ),
        (
            vec![udp(5072), Wrap::Ayiya],
            true,
            "ethernet/ipv4/udp/ayiya/ipv6",
        ),
        (
            vec![udp(5072), Wrap::Ayiya],
            false,
            "ethernet/ipv4/udp/ayiya/ipv4",
        ),
        (
            vec![
                udp(1701),
                Wrap::L2tp {
                    tunnel: 4,
                    session: 9,
                },
            ],
            true,
            "ethernet/ipv4/udp/l2tp 9/ipv6",
        ),
    ];
    for (tail, v6, path) in cases {
        let mut layers = base();
        layers.extend(tail);
        let r = check(&layers, v6);
        assert_eq!(r.encap.path.render(), path);
        assert_eq!(r.encap.outer, outer4());
    }
}

#[test]
fn gtp_teids_differ_per_direction_but_the_tunnel_id_does_not() {
    let r = check(
        &[
            Wrap::Ethernet,
            v4("192.0.2.1", "192.0.2.2"),
            udp(2152),
            Wrap::GtpU {
                client_teid: 1,
                server_teid: 2,
                extension: false,
            },
        ],
        false,
    );
    assert_eq!(r.encap.path.render(), "ethernet/ipv4/udp/gtp-u 1/ipv4");
}

#[test]
fn nested_gre_erspan_vxlan_like_the_arkime_capture() {
    let r = check(
        &[
            Wrap::Ethernet,
            Wrap::Vlan(100),
            v4("100.20.9.2", "100.20.9.1"),
            gre(None, true, false),
            Wrap::Erspan2(1),
            Wrap::Ethernet,
            v4("172.16.27.131", "172.16.27.121"),
            udp(4789),
            Wrap::Vxlan(0),
            Wrap::Ethernet,
        ],
        false,
    );
    assert_eq!(
        r.encap.path.render(),
        "ethernet/vlan 100/ipv4/gre/erspan2 1/ethernet/ipv4/udp/vxlan 0/ethernet/ipv4"
    );
    // The innermost tunnel's outer endpoints; the underlay VLAN is not the flow's.
    assert_eq!(
        r.encap.outer,
        Some((
            "172.16.27.131".parse().unwrap(),
            "172.16.27.121".parse().unwrap()
        ))
    );
    assert_eq!(r.seg.tuple.vlan, None);
}

#[test]
fn different_outer_endpoints_give_different_tunnel_ids() {
    let via = |a, b| check(&[Wrap::Ethernet, v4(a, b), gre(None, false, false)], false).tunnel;
    let one = via("192.0.2.1", "192.0.2.2");
    assert_eq!(one, via("192.0.2.2", "192.0.2.1"));
    assert_ne!(one, via("192.0.2.1", "192.0.2.3"));
    let plain = check(&[Wrap::Ethernet], false);
    assert_eq!((plain.tunnel, plain.encap.outer), (0, None));
    assert_eq!(plain.encap.path.render(), "ethernet/ipv4");
}

#[test]
fn underlay_vlan_counts_in_the_tunnel_id() {
    let via = |vlan| {
        check(
            &[
                Wrap::Ethernet,
                Wrap::Vlan(vlan),
                v4("192.0.2.1", "192.0.2.2"),
                gre(None, false, false),
            ],
            false,
        )
    };
    let (a, b) = (via(10), via(11));
    assert_ne!(a.tunnel, b.tunnel);
    assert_eq!(a.seg.tuple.vlan, None);
}

#[test]
fn fragmented_outer_datagram_is_reassembled_then_decapsulated() {
    for outer in [
        ("192.0.2.1", "192.0.2.2"),
        ("2001:db8:ff::1", "2001:db8:ff::2"),
    ] {
        let layers = [
            Wrap::Ethernet,
            Wrap::Ip {
                client_side: outer.0.parse().unwrap(),
                server_side: outer.1.parse().unwrap(),
                fragment: Some(24),
            },
            gre(Some(1), false, false),
        ];
        let f = frames(&layers, client4(), server4(), client4());
        assert!(f.len() > 2);
        let mut d = Decoder::default();
        let r = decode_all(&mut d, 1, &f).unwrap();
        assert_eq!(&*r.seg.payload, PAYLOAD);
        assert!(matches!(r.seg.payload, Cow::Owned(_)));
        assert_eq!(d.fragment_stats().reassembled, 1);
        let r = check(&layers, false);
        assert_eq!(r.encap.path.len(), 4);
    }
}

#[test]
fn link_types_nflog_hdlc_ppp() {
    for (layers, v6, path) in [
        (vec![Wrap::Nflog { big_endian: false }], false, "nflog/ipv4"),
        (vec![Wrap::Nflog { big_endian: true }], true, "nflog/ipv6"),
        (vec![Wrap::CiscoHdlc], false, "chdlc/ipv4"),
        (vec![Wrap::Ppp { linktype: 9 }], true, "ppp/ipv6"),
        (vec![Wrap::Ppp { linktype: 50 }], false, "ppp/ipv4"),
        (
            vec![Wrap::Ppp { linktype: 9 }, Wrap::Mpls(5)],
            false,
            "ppp/mpls 5/ipv4",
        ),
        (vec![], false, "ipv4"),
    ] {
        assert_eq!(check(&layers, v6).encap.path.render(), path);
    }
}

#[test]
fn link_types_802_11_radiotap_ppi() {
    let wlan = |qos, four_address, data_pad| Wrap::Wlan {
        qos,
        four_address,
        data_pad,
    };
    for (layers, path) in [
        (vec![wlan(false, false, false)], "802.11/ipv4"),
        (vec![wlan(true, false, false)], "802.11/ipv4"),
        (vec![wlan(true, true, false)], "802.11/ipv4"),
        (
            vec![
                Wrap::Radiotap {
                    data_pad: false,
                    fcs: true,
                },
                wlan(true, false, false),
            ],
            "radiotap/802.11/ipv4",
        ),
        (
            vec![
                Wrap::Radiotap {
                    data_pad: true,
                    fcs: false,
                },
                wlan(true, false, true),
            ],
            "radiotap/802.11/ipv4",
        ),
        (
            vec![Wrap::Ppi, wlan(false, false, false)],
            "ppi/802.11/ipv4",
        ),
    ] {
        assert_eq!(check(&layers, false).encap.path.render(), path);
    }
}

#[test]
fn raw_ipv4_and_ipv6_link_types() {
    let mut d = Decoder::default();
    let r = decode_all(&mut d, 228, &[inner(client4(), server4())]).unwrap();
    assert_eq!(&*r.seg.payload, PAYLOAD);
    let r = decode_all(&mut d, 229, &[inner(client6(), server6())]).unwrap();
    assert_eq!(r.encap.path.render(), "ipv6");
    assert_eq!(
        decode_all(&mut d, 229, &[inner(client4(), server4())]).err(),
        Some(Skip::Malformed("IP version does not match the link layer"))
    );
}

#[test]
fn tunnel_nesting_is_bounded() {
    // IPv4-in-IPv4 twenty deep: more layers than MAX_LAYERS.
    let mut layers = vec![Wrap::Ethernet];
    for i in 0..20 {
        layers.push(v4("192.0.2.1", &format!("192.0.2.{}", i + 2)));
    }
    let f = frames(&layers, client4(), server4(), client4());
    assert_eq!(
        decode_all(&mut Decoder::default(), 1, &f).err(),
        Some(Skip::Malformed("too many nested encapsulations"))
    );
    // Fourteen deep still fits: ethernet + 14 + inner = 16 layers.
    let f = frames(&layers[..15], client4(), server4(), client4());
    let r = decode_all(&mut Decoder::default(), 1, &f).unwrap();
    assert_eq!(r.encap.path.len(), MAX_LAYERS);
}

#[test]
fn snaplen_inside_a_tunnel_reports_missing() {
    let layers = [
        Wrap::Ethernet,
        v4("192.0.2.1", "192.0.2.2"),
        gre(None, false, false),
    ];
    let f = frames(&layers, client4(), server4(), client4());
    let cut = f[0][..f[0].len() - 5].to_vec();
    let r = decode_all(&mut Decoder::default(), 1, &[cut]).unwrap();
    assert_eq!(&*r.seg.payload, &PAYLOAD[..PAYLOAD.len() - 5]);
    assert_eq!(r.seg.missing, 5);
}

#[test]
fn non_tcp_inside_a_tunnel_is_not_tcp() {
    let layers = [
        Wrap::Ethernet,
        v4("192.0.2.1", "192.0.2.2"),
        gre(None, false, false),
    ];
    let mut s = TunnelSink::new(Vec::new(), layers.to_vec(), client4());
    let mut icmp = inner(client4(), server4());
    icmp[9] = 1;
    let f = s.wrap(&icmp);
    assert_eq!(
        decode_all(&mut Decoder::default(), 1, &f).err(),
        Some(Skip::NotTcp)
    );
}

/// xorshift64*.
fn noise(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn mutated_tunnel_frames_never_panic() {
    let wlan = Wrap::Wlan {
        qos: true,
        four_address: false,
        data_pad: false,
    };
    let seeds: Vec<(u32, Vec<u8>)> = [
        vec![
            Wrap::Ethernet,
            Wrap::Vlan(1),
            Wrap::PppoeSession(5),
            v4("192.0.2.1", "192.0.2.2"),
            gre(Some(1), true, true),
            Wrap::Erspan3 {
                session: 1,
                subheader: true,
            },
            Wrap::Ethernet,
            v4("192.0.2.3", "192.0.2.4"),
            udp(4789),
            Wrap::Vxlan(3),
            Wrap::Ethernet,
            Wrap::Mpls(4),
        ],
        vec![
            Wrap::Nflog { big_endian: false },
            v4("192.0.2.1", "192.0.2.2"),
            udp(2152),
            Wrap::GtpU {
                client_teid: 1,
                server_teid: 2,
                extension: true,
            },
        ],
        vec![
            Wrap::Radiotap {
                data_pad: false,
                fcs: true,
            },
            wlan,
            v4("192.0.2.1", "192.0.2.2"),
            udp(1701),
            Wrap::L2tp {
                tunnel: 1,
                session: 2,
            },
        ],
        vec![
            Wrap::Ppi,
            Wrap::Wlan {
                qos: false,
                four_address: true,
                data_pad: false,
            },
            v4("192.0.2.1", "192.0.2.2"),
            udp(6081),
            Wrap::Geneve {
                vni: 1,
                option_words: 2,
            },
            Wrap::Ethernet,
        ],
        vec![
            Wrap::Ppp { linktype: 50 },
            v4("192.0.2.1", "192.0.2.2"),
            udp(3544),
            Wrap::Teredo {
                auth: true,
                origin: true,
            },
        ],
        vec![
            Wrap::CiscoHdlc,
            v4("192.0.2.1", "192.0.2.2"),
            udp(5072),
            Wrap::Ayiya,
        ],
    ]
    .into_iter()
    .map(|layers| {
        let v6 = layers.iter().any(|l| matches!(l, Wrap::Teredo { .. }));
        let (c, s) = if v6 {
            (client6(), server6())
        } else {
            (client4(), server4())
        };
        (Wrap::linktype(&layers), frames(&layers, c, s, c).remove(0))
    })
    .collect();
    let mut d = Decoder::default();
    for (link, f) in &seeds {
        let r = decode_all(&mut d, *link, std::slice::from_ref(f));
        assert_eq!(
            r.map(|r| r.seg.payload.to_vec()),
            Ok(PAYLOAD.to_vec()),
            "seed on link {link}"
        );
    }
    let mut rng = 0x0123_4567_89ab_cdefu64;
    for i in 0..20_000u32 {
        let r = noise(&mut rng);
        let (link, seed) = &seeds[(r % seeds.len() as u64) as usize];
        let mut frame = seed.clone();
        for _ in 0..1 + (r >> 8) % 4 {
            let x = noise(&mut rng);
            let at = (x % frame.len() as u64) as usize;
            frame[at] = (x >> 32) as u8;
        }
        if r & 0x10000 != 0 {
            frame.truncate((noise(&mut rng) % (frame.len() as u64 + 1)) as usize);
        }
        let pkt = Packet {
            ts: Timestamp::new(i64::from(i / 100), 0),
            link: LinkType(*link),
            data: &frame,
            orig_len: frame.len() as u32,
        };
        let _ = d.decode(&pkt);
    }
}
