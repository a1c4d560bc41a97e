//! Flow-file names and body-file names.
//!
//! Owns: recognising a flow file by its name (tcpflow's default template
//! `%A.%a-%B.%b%V%v%C%c`), finding the name of the opposite direction,
//! building body-file names, and creating body files under them without
//! overwriting what is not flowsplit's ([`Folder`]). Body files are named
//! one of two ways ([`HttpNames`](crate::config::HttpNames)):
//!
//! - tcpflow's (the default): `<flow>-HTTPBODY-NNN[.ext]` from the flow
//!   file's own (validated) name, a counter and an extension for the
//!   Content-Type ([`extension_for`]: mime-db's table, through the
//!   `mime2ext` crate, with tcpflow's choices where they differ);
//! - `--http-names url`: as `tshark --export-objects http` names objects,
//!   after the last segment of the request target ([`url_file_name`]).
//!
//! A name taken by a file that is not a body an earlier run listed in the
//! folder's `http.jsonl`, or by a body of this run, is numbered as tshark
//! numbers duplicates: `(N)` before the extension (`index(1).html`).
//!
//! Must not: let the traffic choose where a file goes. In tcpflow's naming
//! no part of a body-file name comes from the traffic but the extension,
//! chosen from constant tables. In URL naming the name is the traffic's
//! (the request target's last segment), sanitised: every byte that could
//! make it a path or a device name (`/`, `\`, `:`, NUL, control bytes, `<>"|?*`)
//! is written `%xx`, `.` and `..` are refused, and so are the names of the
//! run's own files (`http.jsonl`, the reports, flow files); it is always
//! one component inside the flow's folder.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

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
    BodyName::tcpflow(flow_file, kind, number, content_type).nth(0)
}

/// A body file's name before a free one is chosen: its stem and its
/// extension (with the dot, or empty). Duplicates are numbered between the
/// two, as tshark numbers them (see [`BodyName::nth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyName {
    stem: String,
    ext: String,
}

/// The longest file name written, in bytes (tshark's
/// `EXPORT_OBJECT_MAXFILELEN`, and most file systems' limit).
pub const MAX_NAME: usize = 255;

/// Duplicates of one name tried before giving up: tshark's default
/// `gui.max_export_objects`.
pub const MAX_DUPLICATES: u32 = 1000;

impl BodyName {
    /// A name of `stem` and `ext` (with its dot, or empty), both built
    /// from flow-file names and constant tables (part and object files).
    pub fn new(stem: String, ext: String) -> BodyName {
        BodyName { stem, ext }
    }

    /// tcpflow's name (see [`body_file_name`]).
    pub fn tcpflow(
        flow_file: &str,
        kind: BodyKind,
        number: u64,
        content_type: Option<&[u8]>,
    ) -> BodyName {
        let tag = match kind {
            BodyKind::Response => "HTTPBODY",
            BodyKind::Request => "HTTPREQBODY",
        };
        BodyName {
            stem: format!("{flow_file}-{tag}-{number:03}"),
            ext: content_type
                .and_then(extension_for)
                .map(|e| format!(".{e}"))
                .unwrap_or_default(),
        }
    }

    /// tshark's name for a body of the request with target `uri` (see
    /// [`url_file_name`]), its extension from its last `.` as tshark
    /// takes it; `None` when the target gives no usable name.
    pub fn url(uri: &str) -> Option<BodyName> {
        let name = url_file_name(uri)?;
        let (stem, ext) = match name.rfind('.') {
            Some(i) => (name[..i].to_string(), name[i..].to_string()),
            None => (name, String::new()),
        };
        Some(BodyName { stem, ext })
    }

    /// The `n`th name: the name itself for 0, else `stem(n)ext` (tshark's
    /// `eo_massage_str` with `dup` = `n`). The stem is cut (at a character
    /// boundary) so that the whole stays within [`MAX_NAME`] bytes.
    pub fn nth(&self, n: u32) -> String {
        let number = if n == 0 {
            String::new()
        } else {
            format!("({n})")
        };
        let room = MAX_NAME.saturating_sub(self.ext.len() + number.len());
        let mut end = self.stem.len().min(room);
        while !self.stem.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}{number}{}", &self.stem[..end], self.ext)
    }
}

/// tshark's object name for a request target (`--export-objects http`):
/// the target's last path segment as GLib's `g_path_get_basename` gives
/// it (trailing `/` dropped, so `/dir/` gives `dir` and `/` gives `/`;
/// the query string is part of the segment, as in tshark), then every
/// byte of `<>:"/\|?*`, NUL and the other control bytes below 0x20 written
/// `%xx` (tshark's `eo_massage_str`), then cut to [`MAX_NAME`] bytes
/// keeping the extension.
///
/// `None` when that gives `.` or `..` (tshark would write outside its
/// folder or a name of dots), or a name of the run's own files
/// ([`is_reserved`]): such a body keeps tcpflow's name.
pub fn url_file_name(uri: &str) -> Option<String> {
    let trimmed = uri.trim_end_matches('/');
    let base = if uri.is_empty() {
        "."
    } else if trimmed.is_empty() {
        "/"
    } else {
        trimmed.rsplit('/').next().unwrap_or(trimmed)
    };
    let mut out = String::with_capacity(base.len());
    for c in base.chars() {
        if matches!(c, '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*') || c < ' ' {
            out.push_str(&format!("%{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    if out.len() > MAX_NAME {
        let ext_at = out.rfind('.').filter(|&i| out.len() - i < MAX_NAME);
        let ext = ext_at.map(|i| out[i..].to_string()).unwrap_or_default();
        let mut end = MAX_NAME - ext.len();
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(&ext);
    }
    (out != "." && out != ".." && !is_reserved(&out)).then_some(out)
}

/// Whether `name` is one of the names flowsplit gives its own files in an
/// output folder: the index, the reports, a flow file. A body never takes
/// such a name.
pub fn is_reserved(name: &str) -> bool {
    [
        super::INDEX_NAME,
        super::REPORT_NAME,
        crate::config::DEFAULT_REPORT_NAME,
        crate::output::dfxml::DEFAULT_DFXML_NAME,
        "report.summary.json",
    ]
    .contains(&name)
        || FlowName::parse(name).is_some()
        || name
            .strip_suffix(".findx")
            .or_else(|| name.strip_suffix(".pcap"))
            .is_some_and(|n| FlowName::parse(n).is_some())
}

/// One folder's body files as far as naming goes: which files an earlier
/// run listed in the folder's `http.jsonl` (those a body may replace), and
/// which of those this run has written (never replaced again). Shared by
/// every connection carved in the folder; cloning is cheap.
///
/// The earlier names are held as 64-bit hashes (16 bytes each in the set),
/// so a re-run over a folder of a million bodies holds some 32 MiB.
#[derive(Debug, Clone, Default)]
pub struct Folder(Arc<FolderState>);

#[derive(Debug, Default)]
struct FolderState {
    /// Hashes of the body file names the earlier index lists.
    earlier: HashSet<u64>,
    /// Hashes of the earlier names this run has written.
    claimed: Mutex<HashSet<u64>>,
}

fn name_hash(name: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

impl Folder {
    /// The folder `dir` as its `http.jsonl` (if any) left it: every string
    /// under a `"file"` key of its lines that is a single file name (body
    /// files, part files, object files). An index that cannot be read
    /// lists nothing, so nothing is replaced.
    pub fn read(dir: &Path) -> Folder {
        let mut earlier = HashSet::new();
        if let Ok(f) = File::open(dir.join(super::INDEX_NAME)) {
            for line in BufReader::new(f).split(b'\n').map_while(Result::ok) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                    collect_files(&v, &mut earlier);
                }
            }
        }
        Folder(Arc::new(FolderState {
            earlier,
            claimed: Mutex::new(HashSet::new()),
        }))
    }

    /// Create the body file for `name` in `dir` (this folder), never
    /// through a link planted there: the first of `name.nth(0)`,
    /// `name.nth(1)`, ... that is free, or that holds a body an earlier
    /// run listed and this run has not written yet (that file is
    /// replaced). Returns the file and the name taken.
    pub fn create(&self, dir: &Path, name: &BodyName) -> io::Result<(File, String)> {
        let create = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(p)
        };
        for n in 0..MAX_DUPLICATES {
            let candidate = name.nth(n);
            let path = dir.join(&candidate);
            let hash = name_hash(&candidate);
            let listed = self.0.earlier.contains(&hash);
            // Only the earlier run's names need the lock: any other name is
            // taken by whoever creates it first.
            let mut claimed = listed.then(|| {
                self.0
                    .claimed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            });
            if claimed.as_ref().is_some_and(|c| c.contains(&hash)) {
                continue;
            }
            let made = match create(&path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && listed => {
                    fs::remove_file(&path)?;
                    create(&path)
                }
                other => other,
            };
            match made {
                Ok(f) => {
                    if let Some(c) = claimed.as_mut() {
                        c.insert(hash);
                    }
                    return Ok((f, candidate));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} and {MAX_DUPLICATES} numbered names after it are taken",
                name.nth(0)
            ),
        ))
    }
}

/// Add the hash of every single-component string under a `"file"` key in
/// `v` to `out`.
fn collect_files(v: &serde_json::Value, out: &mut HashSet<u64>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match x {
                    serde_json::Value::String(s) if k == "file" => {
                        if !s.contains('/') && !s.is_empty() {
                            out.insert(name_hash(s));
                        }
                    }
                    _ => collect_files(x, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| collect_files(x, out)),
        _ => {}
    }
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

    #[test]
    fn url_names_are_tsharks() {
        for (uri, want) in [
            ("/big.txt", Some("big.txt")),
            ("/a/b/c.html", Some("c.html")),
            ("/dir/", Some("dir")),
            ("/", Some("%2f")),
            ("//", Some("%2f")),
            ("/items?x=1", Some("items%3fx=1")),
            ("/a?next=/b/c", Some("c")),
            ("http://example.com/", Some("example.com")),
            ("http://example.com/x/y.js?v=2", Some("y.js%3fv=2")),
            ("/a:b<c>d\"e|f*g\\h", Some("a%3ab%3cc%3ed%22e%7cf%2ag%5ch")),
            ("/tab\there\u{1}", Some("tab%09here%01")),
            ("/nul\0byte", Some("nul%00byte")),
            ("/caf\u{e9}.txt", Some("caf\u{e9}.txt")),
            ("*", Some("%2a")),
            ("", None),
            ("/.", None),
            ("/..", None),
            ("/a/../", None),
            ("/http.jsonl", None),
            ("/report.jsonl", None),
            ("/010.000.000.002.00080-010.000.000.001.50638", None),
        ] {
            assert_eq!(url_file_name(uri).as_deref(), want, "{uri:?}");
        }
    }

    #[test]
    fn url_names_never_leave_the_folder() {
        for uri in [
            "/../../etc/passwd",
            "/a/..",
            "..",
            "/x/.%2e",
            "\\..\\..",
            "/\0/",
        ] {
            if let Some(n) = url_file_name(uri) {
                assert!(
                    !n.contains('/') && !n.contains('\0') && n != ".." && n != ".",
                    "{n}"
                );
                assert_eq!(Path::new(&n).components().count(), 1, "{n}");
            }
        }
    }

    #[test]
    fn long_url_names_keep_their_extension() {
        let uri = format!("/{}.html", "x".repeat(400));
        let n = url_file_name(&uri).unwrap();
        assert_eq!(n.len(), MAX_NAME);
        assert!(n.ends_with("xx.html"));
        let numbered = BodyName::url(&uri).unwrap().nth(12);
        assert_eq!(numbered.len(), MAX_NAME);
        assert!(numbered.ends_with("x(12).html"), "{numbered}");
        let n = url_file_name(&format!("/{}", "\u{e9}".repeat(200))).unwrap();
        assert!(n.len() <= MAX_NAME && n.chars().all(|c| c == '\u{e9}'));
    }

    #[test]
    fn duplicates_are_numbered_before_the_extension() {
        let n = BodyName::url("/index.html").unwrap();
        assert_eq!(
            (n.nth(0), n.nth(1), n.nth(2)),
            (
                "index.html".into(),
                "index(1).html".into(),
                "index(2).html".into()
            )
        );
        assert_eq!(BodyName::url("/%2f").unwrap().nth(1), "%2f(1)");
        assert_eq!(BodyName::url("/.htaccess").unwrap().nth(1), "(1).htaccess");
        assert_eq!(BodyName::url("/a.tar.gz").unwrap().nth(3), "a.tar(3).gz");
        let t = BodyName::tcpflow(
            "010.000.000.002.00080-010.000.000.001.50638",
            BodyKind::Response,
            7,
            None,
        );
        assert_eq!(
            t.nth(1),
            "010.000.000.002.00080-010.000.000.001.50638-HTTPBODY-007(1)"
        );
    }

    #[test]
    fn a_foreign_file_keeps_its_name_and_a_listed_body_is_replaced_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("mine.txt"), "listed by an earlier run").unwrap();
        fs::write(d.join("theirs.txt"), "planted").unwrap();
        fs::write(
            d.join(super::super::INDEX_NAME),
            "{\"response_body\":{\"file\":\"mine.txt\",\"parts\":[{\"file\":\"p\"}]}}\n",
        )
        .unwrap();
        let folder = Folder::read(d);
        let create = |uri: &str| {
            let (mut f, name) = folder.create(d, &BodyName::url(uri).unwrap()).unwrap();
            std::io::Write::write_all(&mut f, uri.as_bytes()).unwrap();
            name
        };
        assert_eq!(create("/theirs.txt"), "theirs(1).txt");
        assert_eq!(fs::read_to_string(d.join("theirs.txt")).unwrap(), "planted");
        assert_eq!(create("/mine.txt"), "mine.txt");
        assert_eq!(fs::read_to_string(d.join("mine.txt")).unwrap(), "/mine.txt");
        // Written by this run now: the next body with the name is numbered.
        assert_eq!(create("/a/mine.txt"), "mine(1).txt");
        assert_eq!(fs::read_to_string(d.join("mine.txt")).unwrap(), "/mine.txt");
        assert_eq!(create("/new.txt"), "new.txt");
        assert_eq!(create("/b/new.txt"), "new(1).txt");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let outside = d.join("outside");
        fs::write(&outside, "keep").unwrap();
        let inner = d.join("in");
        fs::create_dir(&inner).unwrap();
        std::os::unix::fs::symlink(&outside, inner.join("x.txt")).unwrap();
        let (_, name) = Folder::read(&inner)
            .create(&inner, &BodyName::url("/x.txt").unwrap())
            .unwrap();
        assert_eq!(name, "x(1).txt");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep");
    }
}
