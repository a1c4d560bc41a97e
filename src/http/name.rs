//! Flow-file names and body-file names.
//!
//! Owns: recognising a flow file by its name (tcpflow's default template
//! `%A.%a-%B.%b%V%v%C%c`), finding the name of the opposite direction, and
//! building body-file names (`<flow>-HTTPBODY-NNN[.ext]`) from a flow name,
//! a number and an extension for the Content-Type ([`extension_for`]:
//! mime-db's table, through the `mime2ext` crate, with tcpflow's choices
//! where they differ).
//!
//! Must not: take any part of a body-file name from the traffic. The only
//! inputs are the flow file's own (validated) name, a counter and an
//! extension chosen from those constant tables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One endpoint as it appears in a flow-file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The address exactly as written in the name (`010.000.000.001`, `2001:db8::1`).
    pub addr: String,
    /// The port.
    pub port: u16,
}

impl Endpoint {
    /// The address: IPv4 from its zero-padded dotted form, IPv6 from its text.
    pub fn ip(&self) -> Option<IpAddr> {
        if self.addr.contains(':') {
            return self.addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
        }
        let mut octets = [0u8; 4];
        let mut parts = self.addr.split('.');
        for o in &mut octets {
            *o = parts.next()?.parse().ok()?;
        }
        parts
            .next()
            .is_none()
            .then_some(IpAddr::V4(Ipv4Addr::from(octets)))
    }
}

impl FlowName {
    /// The Community ID of the connection this flow belongs to (the same
    /// for both directions; see [`crate::community_id`]).
    pub fn community_id(&self) -> Option<String> {
        crate::community_id::tcp(self.src.ip()?, self.src.port, self.dst.ip()?, self.dst.port)
    }
}

/// A parsed flow-file name: source, destination, VLAN and connection count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowName {
    /// The sending endpoint.
    pub src: Endpoint,
    /// The receiving endpoint.
    pub dst: Endpoint,
    /// The VLAN id from a `--N` suffix, if any.
    pub vlan: Option<u32>,
    /// The connection count from a `cN` suffix (0 when there is none).
    pub conn: u32,
}

impl FlowName {
    /// Parse a file name written with tcpflow's default template. Returns
    /// `None` for anything else (reports, indexes, body files, ...).
    pub fn parse(name: &str) -> Option<FlowName> {
        let (left, right) = name.split_once('-')?;
        let src = parse_endpoint(left)?;
        let mut rest = right;
        let mut conn = 0;
        if let Some(i) = rest.rfind('c') {
            let digits = &rest[i + 1..];
            if all_digits(digits) && rest[..i].ends_with(|c: char| c.is_ascii_digit()) {
                conn = digits.parse().ok()?;
                rest = &rest[..i];
            }
        }
        let mut vlan = None;
        if let Some(i) = rest.rfind("--") {
            let digits = &rest[i + 2..];
            if !all_digits(digits) {
                return None;
            }
            vlan = Some(digits.parse().ok()?);
            rest = &rest[..i];
        }
        let dst = parse_endpoint(rest)?;
        Some(FlowName {
            src,
            dst,
            vlan,
            conn,
        })
    }

    /// The name of the opposite direction of the same connection.
    pub fn reversed(&self) -> FlowName {
        FlowName {
            src: self.dst.clone(),
            dst: self.src.clone(),
            vlan: self.vlan,
            conn: self.conn,
        }
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `ADDR.PPPPP`: an IPv4 address in dotted form (tcpflow pads each part to
/// three digits) or an IPv6 address in text form, then a five-digit port.
fn parse_endpoint(s: &str) -> Option<Endpoint> {
    let (addr, port) = s.rsplit_once('.')?;
    if port.len() != 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let valid = if addr.contains(':') {
        addr.parse::<Ipv6Addr>().is_ok()
    } else {
        let parts: Vec<&str> = addr.split('.').collect();
        parts.len() == 4
            && parts.iter().all(|p| {
                (1..=3).contains(&p.len())
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && p.parse::<u16>().is_ok_and(|v| v <= 255)
            })
    };
    if !valid {
        return None;
    }
    Some(Endpoint {
        addr: addr.to_string(),
        port,
    })
}

/// Which kind of body a file holds, for its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A response body: `-HTTPBODY-`.
    Response,
    /// A request body: `-HTTPREQBODY-`.
    Request,
}

/// The body file's name for message `number` (1-based) of flow file
/// `flow_file`, with the extension for `content_type` when the table knows it.
///
/// `flow_file` must be a validated flow-file name (see [`FlowName::parse`]):
/// it holds no path separators, so the result stays in the flow's folder.
pub fn body_file_name(
    flow_file: &str,
    kind: BodyKind,
    number: u64,
    content_type: Option<&[u8]>,
) -> String {
    let tag = match kind {
        BodyKind::Response => "HTTPBODY",
        BodyKind::Request => "HTTPREQBODY",
    };
    let mut name = format!("{flow_file}-{tag}-{number:03}");
    if let Some(ext) = content_type.and_then(extension_for) {
        name.push('.');
        name.push_str(ext);
    }
    name
}

/// The extension for a Content-Type value (parameters after `;` ignored,
/// case-insensitive): tcpflow 1.6.1's where [`TCPFLOW_EXTENSIONS`] has the
/// type, else mime-db's through the `mime2ext` crate, else, for a legacy
/// `x-` subtype (`application/x-javascript`), mime-db's for the subtype
/// without `x-`. The result is one of those tables' constant strings, and
/// only ever ASCII letters, digits, `+`, `-` and `_` (no `.`, no `/`).
pub fn extension_for(content_type: &[u8]) -> Option<&'static str> {
    let base = content_type.split(|&b| b == b';').next().unwrap_or(&[]);
    let base = String::from_utf8_lossy(base).trim().to_ascii_lowercase();
    let (kind, subtype) = base.split_once('/')?;
    let ext = TCPFLOW_EXTENSIONS
        .iter()
        .find(|(mime, _)| *mime == base)
        .map(|(_, ext)| *ext)
        .or_else(|| mime2ext::mime2ext(&base))
        .or_else(|| {
            let plain = subtype.strip_prefix("x-")?;
            mime2ext::mime2ext(format!("{kind}/{plain}"))
        })?;
    let safe = !ext.is_empty()
        && ext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_'));
    safe.then_some(ext)
}

/// Content-Type → extension where tcpflow 1.6.1 chooses otherwise than
/// mime-db's canonical extension (which `mime2ext` gives), or knows a type
/// mime-db does not: kept so that default names stay tcpflow's. Every
/// other type takes mime-db's extension (see [`extension_for`]).
pub const TCPFLOW_EXTENSIONS: &[(&str, &str)] = &[
    ("application/pgp-signature", "asc"),
    ("application/postscript", "ps"),
    ("application/x-font-otf", "otf"),
    ("application/x-font-ttf", "ttf"),
    ("application/x-font-woff", "woff"),
    ("application/x-mpegurl", "m3u8"),
    ("application/x-x509-ca-cert", "crt"),
    ("application/xslt+xml", "xslt"),
    ("audio/mp4", "mp4a"),
    ("audio/ogg", "ogg"),
    ("audio/x-aiff", "aiff"),
    ("image/tiff", "tiff"),
    ("text/cache-manifest", "manifest"),
    ("text/uri-list", "urls"),
    ("video/mp4", "m4v"),
    ("video/mpeg", "mpg"),
    ("video/quicktime", "mov"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_give_their_addresses_and_both_directions_one_community_id() {
        let n = FlowName::parse("001.002.003.004.01122-005.006.007.008.03344c2").unwrap();
        assert_eq!(n.src.ip(), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(n.dst.ip(), Some("5.6.7.8".parse().unwrap()));
        // The specification's TCP example.
        let want = Some("1:wCb3OG7yAFWelaUydu0D+125CLM=".to_string());
        assert_eq!(n.community_id(), want);
        assert_eq!(n.reversed().community_id(), want);
        let n = FlowName::parse("2001:db8::1.00080-::1.51234").unwrap();
        assert_eq!(n.src.ip(), Some("2001:db8::1".parse().unwrap()));
        assert!(n.community_id().is_some_and(|c| c.starts_with("1:")));
    }

    #[test]
    fn parses_ipv4_flow_name() {
        let n = FlowName::parse("192.168.001.002.00080-010.000.000.001.51234").unwrap();
        assert_eq!(n.src.addr, "192.168.001.002");
        assert_eq!(n.src.port, 80);
        assert_eq!(n.dst.addr, "010.000.000.001");
        assert_eq!(n.dst.port, 51234);
        assert_eq!(n.vlan, None);
        assert_eq!(n.conn, 0);
    }

    #[test]
    fn parses_ipv6_vlan_and_connection_suffixes() {
        let n = FlowName::parse("2001:db8::c.00080-2001:db8::1.51234--12c3").unwrap();
        assert_eq!(n.src.addr, "2001:db8::c");
        assert_eq!(n.dst.port, 51234);
        assert_eq!(n.vlan, Some(12));
        assert_eq!(n.conn, 3);
        let n = FlowName::parse("010.000.000.001.50638-010.000.000.002.00080c1").unwrap();
        assert_eq!(n.conn, 1);
        assert_eq!(n.dst.port, 80);
    }

    #[test]
    fn rejects_non_flow_files() {
        for name in [
            "report.jsonl",
            "http.jsonl",
            "192.168.001.002.00080-010.000.000.001.51234-HTTPBODY-001.html",
            "192.168.001.002.00080-010.000.000.001.51234-HTTPBODY-001",
            "192.168.001.002.00080-010.000.000.001.51234-HTTPREQBODY-002.txt",
            "192.168.001.002.0080-010.000.000.001.51234",
            "300.168.001.002.00080-010.000.000.001.51234",
            "alerts.txt",
        ] {
            assert!(FlowName::parse(name).is_none(), "{name}");
        }
    }

    #[test]
    fn reverse_swaps_endpoints_and_keeps_suffixes() {
        let n = FlowName::parse("010.000.000.001.50638-010.000.000.002.00080--7c1").unwrap();
        let r = n.reversed();
        assert_eq!(r.src, n.dst);
        assert_eq!(r.dst, n.src);
        assert_eq!((r.vlan, r.conn), (Some(7), 1));
    }

    #[test]
    fn body_names_follow_tcpflow() {
        let f = "010.000.000.002.00080-010.000.000.001.50638";
        assert_eq!(
            body_file_name(f, BodyKind::Response, 1, Some(b"text/html; charset=UTF-8")),
            format!("{f}-HTTPBODY-001.html")
        );
        assert_eq!(
            body_file_name(
                f,
                BodyKind::Request,
                12,
                Some(b"application/x-www-form-urlencoded")
            ),
            format!("{f}-HTTPREQBODY-012")
        );
        assert_eq!(
            body_file_name(f, BodyKind::Response, 1000, Some(b"../../etc/passwd")),
            format!("{f}-HTTPBODY-1000")
        );
        assert_eq!(extension_for(b" IMAGE/JPEG "), Some("jpg"));
    }

    #[test]
    fn common_types_get_an_extension() {
        for (ct, ext) in [
            ("application/x-javascript", "js"),
            ("text/javascript; charset=utf-8", "js"),
            ("text/xml", "xml"),
            ("application/xml", "xml"),
            ("application/octet-stream", "bin"),
            ("application/x-gzip", "gz"),
            ("application/gzip", "gz"),
            ("font/woff2", "woff2"),
            ("image/avif", "avif"),
            ("application/wasm", "wasm"),
            ("image/x-icon", "ico"),
        ] {
            assert_eq!(extension_for(ct.as_bytes()), Some(ext), "{ct}");
        }
    }

    #[test]
    fn tcpflow_extensions_are_kept() {
        for (ct, ext) in [
            ("image/jpeg", "jpg"),
            ("text/html", "html"),
            ("text/plain", "txt"),
            ("application/json", "json"),
            ("video/mp4", "m4v"),
            ("image/tiff", "tiff"),
            ("application/postscript", "ps"),
            ("audio/mpeg", "mpga"),
        ] {
            assert_eq!(extension_for(ct.as_bytes()), Some(ext), "{ct}");
        }
    }

    #[test]
    fn unknown_or_malformed_types_get_none() {
        for ct in [
            "application/x-www-form-urlencoded",
            "text/x-no-such-type",
            "nonsense",
            "",
            "../../etc/passwd",
        ] {
            assert_eq!(extension_for(ct.as_bytes()), None, "{ct}");
        }
    }
}
