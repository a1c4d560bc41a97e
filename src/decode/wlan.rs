//! IEEE 802.11: data frames (LINKTYPE 105), behind a radiotap (127) or PPI
//! (192) header or bare.
//!
//! Owns the 802.11 MAC header arithmetic and the LLC/SNAP header that names
//! the payload by EtherType; the EtherType table of `link` takes it from
//! there. Only unencrypted data frames carry anything: management and
//! control frames, null-data frames, protected frames (WEP/WPA: the payload
//! is ciphertext) and A-MSDU aggregates are not IP to us. A trailing FCS
//! needs no care: the IP length never reaches it.
//!
//! ```text
//! 802.11: fc(2) dur(2) a1(6) a2(6) a3(6) seq(2) [a4(6) if ToDS&FromDS]
//!         [QoS(2) if QoS subtype] [HT control(4) if QoS and Order]
//!         [pad to 4 if radiotap says so] LLC aa aa 03 OUI(3) EtherType(2)
//! radiotap: version(1)=0 pad(1) length(2, LE) present(4, LE)... fields
//! PPI:      version(1)=0 flags(1) length(2, LE) DLT(4, LE) fields...
//! ```

use super::encap::{Ctx, LayerKind};
use super::link::{link_handler, Step, LINK_IEEE802_11};
use super::Skip;
use crate::capture::LinkType;

/// Frame-control type of data frames.
const TYPE_DATA: u8 = 2;
/// Frame-control flags: to and from the distribution system.
const TO_DS: u8 = 0x01;
const FROM_DS: u8 = 0x02;
/// Frame-control flag: the body is encrypted.
const PROTECTED: u8 = 0x40;
/// Frame-control flag: +HTC/Order (an HT control field in QoS data frames).
const ORDER: u8 = 0x80;
/// Subtype bit: QoS data.
const SUBTYPE_QOS: u8 = 0x8;
/// Subtype bit: no data (null function).
const SUBTYPE_NO_DATA: u8 = 0x4;
/// QoS control bit: the body is an A-MSDU.
const QOS_AMSDU: u8 = 0x80;
/// Radiotap flags: 802.11 header padded to a 32-bit boundary.
const RADIOTAP_DATA_PAD: u8 = 0x20;

/// A bare 802.11 frame (LINKTYPE_IEEE802_11).
pub(crate) fn dot11<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    frame(data, ctx, false)
}

/// An 802.11 frame; `data_pad`: the header is padded to 4 bytes.
fn frame<'a>(data: &'a [u8], ctx: &mut Ctx<'_>, data_pad: bool) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("802.11 header truncated");
    let (&fc, &flags) = match data {
        [fc, flags, ..] => (fc, flags),
        _ => return Err(TRUNCATED),
    };
    let subtype = fc >> 4;
    if (fc >> 2) & 3 != TYPE_DATA || subtype & SUBTYPE_NO_DATA != 0 {
        return Err(Skip::NotIp);
    }
    if fc & 3 != 0 {
        return Err(Skip::Malformed("802.11 protocol version is not 0"));
    }
    if flags & PROTECTED != 0 {
        return Err(Skip::NotIp);
    }
    let mut len = 24usize;
    if flags & (TO_DS | FROM_DS) == TO_DS | FROM_DS {
        len += 6;
    }
    if subtype & SUBTYPE_QOS != 0 {
        let qos = *data.get(len).ok_or(TRUNCATED)?;
        if qos & QOS_AMSDU != 0 {
            return Err(Skip::NotIp);
        }
        len += 2;
        if flags & ORDER != 0 {
            len += 4;
        }
    }
    if data_pad {
        len = (len + 3) & !3;
    }
    let body = data.get(len..).ok_or(TRUNCATED)?;
    ctx.push(LayerKind::Wlan, 0)?;
    match body {
        [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00 | 0xf8, a, b, rest @ ..] => Ok(Step::Ether {
            ethertype: u16::from_be_bytes([*a, *b]),
            rest,
        }),
        [_, _, _, _, _, _, _, _, ..] => Err(Skip::NotIp),
        _ => Err(Skip::Malformed("802.11 LLC header truncated")),
    }
}

/// Radiotap + 802.11 (LINKTYPE_IEEE802_11_RADIOTAP). The header's length
/// says where the frame starts; its Flags field (present bit 1, after the
/// 8-byte TSFT of bit 0 when present) says whether the 802.11 header is
/// padded.
pub(crate) fn radiotap<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("radiotap header truncated");
    let header = data.get(..8).ok_or(TRUNCATED)?;
    if header[0] != 0 {
        return Err(Skip::Malformed("radiotap version is not 0"));
    }
    let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
    let fields = data.get(..len).ok_or(TRUNCATED)?;
    let present = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    // Skip the extended present words (bit 31: another word follows).
    let mut off = 8usize;
    let mut word = present;
    while word & 0x8000_0000 != 0 {
        let w = fields.get(off..off + 4).ok_or(TRUNCATED)?;
        word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        off += 4;
    }
    let mut pad = false;
    if present & 0b10 != 0 {
        if present & 0b01 != 0 {
            off = ((off + 7) & !7) + 8; // TSFT: 8 bytes, 8-aligned
        }
        pad = fields.get(off).ok_or(TRUNCATED)? & RADIOTAP_DATA_PAD != 0;
    }
    ctx.push(LayerKind::Radiotap, 0)?;
    frame(data.get(len..).unwrap_or_default(), ctx, pad)
}

/// PPI (LINKTYPE_PPI): a header of the given length, then a frame of the
/// DLT it names (802.11 normally; any other link type we read except PPI).
pub(crate) fn ppi<'a>(data: &'a [u8], ctx: &mut Ctx<'_>) -> Result<Step<'a>, Skip> {
    const TRUNCATED: Skip = Skip::Malformed("PPI header truncated");
    let header = data.get(..8).ok_or(TRUNCATED)?;
    if header[0] != 0 {
        return Err(Skip::Malformed("PPI version is not 0"));
    }
    let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
    let dlt = LinkType(u32::from_le_bytes([
        header[4], header[5], header[6], header[7],
    ]));
    let rest = data.get(len..).ok_or(TRUNCATED)?;
    if len < 8 {
        return Err(Skip::Malformed("PPI header length below 8"));
    }
    ctx.push(LayerKind::Ppi, 0)?;
    if dlt == LINK_IEEE802_11 {
        return frame(rest, ctx, false);
    }
    match link_handler(dlt) {
        Some(h) if dlt.0 != 192 => h(rest, ctx),
        _ => Err(Skip::UnsupportedLink(dlt.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::link::ETHERTYPE_IPV4;
    use crate::decode::DecodeOptions;

    const LLC_IPV4: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];

    /// An 802.11 data header: `fc` byte 0 and flags, `extra` bytes after
    /// the 24 fixed ones, then LLC/SNAP for IPv4 and `payload`.
    fn dot11_frame(fc: u8, flags: u8, extra: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![fc, flags, 0, 0];
        v.extend([0x11; 18]); // three addresses
        v.extend([0, 0]); // sequence control
        v.extend_from_slice(extra);
        v.extend(LLC_IPV4);
        v.extend_from_slice(payload);
        v
    }

    fn run(
        f: for<'a> fn(&'a [u8], &mut Ctx<'_>) -> Result<Step<'a>, Skip>,
        data: &[u8],
    ) -> Result<(u16, Vec<u8>, String), Skip> {
        let o = DecodeOptions::default();
        let mut ctx = Ctx::new(&o);
        match f(data, &mut ctx)? {
            Step::Ether { ethertype, rest } => {
                Ok((ethertype, rest.to_vec(), ctx.encap.path.render()))
            }
            Step::Ip { .. } => panic!("802.11 names its payload by EtherType"),
        }
    }

    #[test]
    fn plain_data_frame() {
        let f = dot11_frame(0x08, 0x01, &[], b"IP");
        assert_eq!(
            run(dot11, &f).unwrap(),
            (ETHERTYPE_IPV4, b"IP".to_vec(), "802.11".into())
        );
    }

    #[test]
    fn qos_data_skips_the_qos_field() {
        let f = dot11_frame(0x88, 0x02, &[0x05, 0x00], b"IP");
        assert_eq!(run(dot11, &f).unwrap().1, b"IP");
    }

    #[test]
    fn qos_with_order_bit_skips_ht_control() {
        let f = dot11_frame(0x88, 0x80, &[0, 0, 1, 2, 3, 4], b"IP");
        assert_eq!(run(dot11, &f).unwrap().1, b"IP");
    }

    #[test]
    fn four_address_frame() {
        let f = dot11_frame(0x08, 0x03, &[0x22; 6], b"IP");
        assert_eq!(run(dot11, &f).unwrap().1, b"IP");
    }

    #[test]
    fn four_address_qos_frame() {
        let mut extra = vec![0x22; 6];
        extra.extend([0, 0]);
        let f = dot11_frame(0x88, 0x03, &extra, b"IP");
        assert_eq!(run(dot11, &f).unwrap().1, b"IP");
    }

    #[test]
    fn protected_null_management_and_amsdu_frames_are_not_ip() {
        for f in [
            dot11_frame(0x08, 0x41, &[], b"ciphertext"),
            dot11_frame(0x48, 0x01, &[], b""), // null function
            dot11_frame(0x80, 0x00, &[], b"beacon"),
            dot11_frame(0x88, 0x01, &[0x80, 0x00], b"amsdu"),
        ] {
            assert_eq!(run(dot11, &f), Err(Skip::NotIp));
        }
    }

    #[test]
    fn non_snap_llc_is_not_ip() {
        let mut f = dot11_frame(0x08, 0x01, &[], b"");
        f[24..32].copy_from_slice(&[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]);
        assert_eq!(run(dot11, &f), Err(Skip::NotIp));
    }

    #[test]
    fn truncated_frames_are_malformed() {
        let f = dot11_frame(0x88, 0x01, &[0, 0], b"IP");
        for cut in [0, 1, 10, 25, 27, 30] {
            assert!(
                matches!(run(dot11, &f[..cut]), Err(Skip::Malformed(_))),
                "cut at {cut}"
            );
        }
    }

    fn radiotap_header(present: u32, fields: &[u8]) -> Vec<u8> {
        let len = 8 + fields.len();
        let mut v = vec![0, 0];
        v.extend((len as u16).to_le_bytes());
        v.extend(present.to_le_bytes());
        v.extend_from_slice(fields);
        v
    }

    #[test]
    fn radiotap_is_skipped_by_its_length() {
        let mut f = radiotap_header(0x0000_0004, &[0x02, 0]); // rate, pad
        f.extend(dot11_frame(0x08, 0x02, &[], b"IP"));
        assert_eq!(
            run(radiotap, &f).unwrap(),
            (ETHERTYPE_IPV4, b"IP".to_vec(), "radiotap/802.11".into())
        );
    }

    #[test]
    fn radiotap_data_pad_flag_aligns_the_802_11_header() {
        // TSFT (8 bytes) then Flags with the data-pad bit; QoS header of 26
        // bytes padded to 28.
        let mut fields = vec![0u8; 8];
        fields.extend([RADIOTAP_DATA_PAD, 0, 0, 0]);
        let mut f = radiotap_header(0b11, &fields);
        f.extend(dot11_frame(0x88, 0x01, &[0, 0, 0xee, 0xee], b"IP"));
        assert_eq!(run(radiotap, &f).unwrap().1, b"IP");
    }

    #[test]
    fn radiotap_extended_present_words_are_walked() {
        let mut fields = 0x0000_0000u32.to_le_bytes().to_vec(); // 2nd present word
        fields.extend([0x10, 0, 0, 0]); // Flags: FCS at end (no pad)
        let mut f = radiotap_header(0x8000_0002, &fields);
        f.extend(dot11_frame(0x08, 0x01, &[], b"IP"));
        f.extend([1, 2, 3, 4]); // FCS
        assert_eq!(run(radiotap, &f).unwrap().1, b"IP\x01\x02\x03\x04");
    }

    #[test]
    fn radiotap_bad_version_or_length_is_malformed() {
        let mut f = radiotap_header(0, &[]);
        f[0] = 1;
        assert!(matches!(run(radiotap, &f), Err(Skip::Malformed(_))));
        let mut f = radiotap_header(0, &[]);
        f[2] = 200;
        assert!(matches!(run(radiotap, &f), Err(Skip::Malformed(_))));
    }

    #[test]
    fn ppi_with_802_11() {
        let mut f = vec![0, 0, 12, 0];
        f.extend(105u32.to_le_bytes());
        f.extend([0; 4]); // a field we ignore
        f.extend(dot11_frame(0x08, 0x01, &[], b"IP"));
        assert_eq!(
            run(ppi, &f).unwrap(),
            (ETHERTYPE_IPV4, b"IP".to_vec(), "ppi/802.11".into())
        );
    }

    #[test]
    fn ppi_with_ethernet_and_unknown_dlt() {
        let mut f = vec![0, 0, 8, 0];
        f.extend(1u32.to_le_bytes());
        f.extend([2; 12]);
        f.extend([0x08, 0x00]);
        f.extend(b"IP");
        assert_eq!(run(ppi, &f).unwrap().0, ETHERTYPE_IPV4);
        let mut g = vec![0, 0, 8, 0];
        g.extend(192u32.to_le_bytes());
        assert_eq!(run(ppi, &g), Err(Skip::UnsupportedLink(192)));
    }
}
