//! Files out of multipart bodies: the parts of a `multipart/form-data`
//! request body (uploads) or a `multipart/byteranges` response body, each
//! written to a file of its own beside the body file.
//!
//! Owns: deciding which bodies are split ([`splits`]), parsing them (with
//! the `mailparse` crate: nested multiparts, RFC 2231 and RFC 2047
//! parameters, base64 and quoted-printable), naming the part files
//! (`<body>-PART-NN[.ext]`, numbered from 01 over the leaf parts in order,
//! nested ones included), sanitising the `filename` a part claims (kept in
//! the index only, never used in a path), and each part's record.
//!
//! A body is split from its body file, read whole into memory: bodies
//! larger than [`MAX_SPLIT`] bytes are not split (noted).
//!
//! Must not: take any part of a file name from the traffic, or change the
//! body file.

use super::index::ByteRange;
use super::message::content_range;
use super::name::{extension_for, BodyName, Folder};
use crate::error::Error;
use mailparse::body::Body;
use mailparse::{MailHeaderMap, ParsedMail};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Largest body split into parts, in bytes (it is read into memory).
pub const MAX_SPLIT: u64 = 64 << 20;
/// Longest filename kept in the index, in characters.
const MAX_FILENAME: usize = 255;

/// One leaf part of a multipart body.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct PartRecord {
    /// The part file (`<body>-PART-NN[.ext]`), or `null` when the part is
    /// empty.
    pub file: Option<String>,
    /// The form field's `name`, from Content-Disposition.
    pub name: Option<String>,
    /// The `filename` the part claims, sanitised: its last path component,
    /// control characters replaced by `_`, at most 255 characters. Never
    /// used to name a file.
    pub filename: Option<String>,
    /// The part's Content-Type as sent.
    pub content_type: Option<String>,
    /// The part's Content-Transfer-Encoding as sent (base64 and
    /// quoted-printable are undone in the file).
    pub transfer_encoding: Option<String>,
    /// For a `multipart/byteranges` part, the range it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    /// The part's header fields, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Bytes in the part file.
    pub size: u64,
    /// SHA-256 of the part file, in hex.
    pub sha256: String,
    /// Observations: a filename with a path, a transfer encoding that did
    /// not decode (kept as sent).
    pub notes: Vec<String>,
}

/// Whether a body with this Content-Type is split: `multipart/form-data`
/// (requests) and `multipart/byteranges` (responses), case ignored.
pub(crate) fn splits(content_type: &[u8]) -> bool {
    let base = content_type.split(|&b| b == b';').next().unwrap_or(&[]);
    let base = String::from_utf8_lossy(base).trim().to_ascii_lowercase();
    base == "multipart/form-data" || base == "multipart/byteranges"
}

/// What splitting a body gave.
#[derive(Debug, Default)]
pub(crate) struct Split {
    /// The leaf parts, in order.
    pub parts: Vec<PartRecord>,
    /// Notes for the body's record (not split, and why).
    pub notes: Vec<String>,
    /// Part files that could not be written, or the body file read.
    pub errors: Vec<Error>,
}

/// Split the body file `body` in `dir`, sent with `content_type`, into part
/// files named `<stem>-PART-NN[.ext]` (`stem` is the body file's name
/// without its extension, built from a flow-file name).
/// Part files are created through `folder` (see `name::Folder::create`):
/// a name taken by a file that is not an earlier run's is numbered.
pub(crate) fn split(
    dir: &Path,
    folder: &Folder,
    body: &str,
    stem: &str,
    content_type: &[u8],
) -> Split {
    let mut out = Split::default();
    let path = dir.join(body);
    let size = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(source) => {
            out.errors.push(Error::Open { path, source });
            return out;
        }
    };
    if size > MAX_SPLIT {
        out.notes.push(format!(
            "multipart body larger than {MAX_SPLIT} bytes: not split into parts"
        ));
        return out;
    }
    let mut raw = b"Content-Type: ".to_vec();
    raw.extend_from_slice(content_type);
    raw.extend_from_slice(b"\r\n\r\n");
    match fs::read(&path) {
        Ok(b) => raw.extend_from_slice(&b),
        Err(source) => {
            out.errors.push(Error::Read { path, source });
            return out;
        }
    }
    let mail = match mailparse::parse_mail(&raw) {
        Ok(m) => m,
        Err(e) => {
            out.notes
                .push(format!("multipart body did not parse ({e}): not split"));
            return out;
        }
    };
    if mail.subparts.is_empty() {
        out.notes
            .push("multipart body without parts (boundary missing or not found): not split".into());
        return out;
    }
    let mut leaves = Vec::new();
    collect_leaves(&mail, &mut leaves);
    for (i, p) in leaves.into_iter().enumerate() {
        let rec = part_record(dir, folder, stem, i + 1, p, &mut out.errors);
        out.parts.push(rec);
    }
    out
}

fn collect_leaves<'a, 'm>(m: &'m ParsedMail<'a>, out: &mut Vec<&'m ParsedMail<'a>>) {
    for p in &m.subparts {
        if p.subparts.is_empty() {
            out.push(p);
        } else {
            collect_leaves(p, out);
        }
    }
}

/// Write leaf part number `n` and build its record.
fn part_record(
    dir: &Path,
    folder: &Folder,
    stem: &str,
    n: usize,
    p: &ParsedMail<'_>,
    errors: &mut Vec<Error>,
) -> PartRecord {
    let mut rec = PartRecord {
        content_type: p.headers.get_first_value("Content-Type"),
        transfer_encoding: p.headers.get_first_value("Content-Transfer-Encoding"),
        headers: p
            .headers
            .iter()
            .map(|h| (h.get_key(), h.get_value()))
            .collect(),
        range: p
            .headers
            .get_first_value("Content-Range")
            .and_then(|v| content_range(v.as_bytes())),
        ..PartRecord::default()
    };
    if p.headers.get_first_value("Content-Disposition").is_some() {
        let d = p.get_content_disposition();
        rec.name = d.params.get("name").cloned();
        if let Some(f) = d.params.get("filename") {
            let (clean, changed) = sanitise(f);
            if changed {
                rec.notes
                    .push("filename had a path or control characters: sanitised".into());
            }
            rec.filename = Some(clean);
        }
    }
    let bytes = match p.get_body_raw() {
        Ok(b) => b,
        Err(e) => {
            rec.notes.push(format!(
                "transfer encoding did not decode ({e}): kept as sent"
            ));
            match p.get_body_encoded() {
                Body::Base64(b) | Body::QuotedPrintable(b) => b.get_raw().to_vec(),
                Body::SevenBit(b) | Body::EightBit(b) => b.get_raw().to_vec(),
                Body::Binary(b) => b.get_raw().to_vec(),
            }
        }
    };
    rec.size = bytes.len() as u64;
    rec.sha256 = hex::encode(Sha256::digest(&bytes));
    if bytes.is_empty() {
        return rec;
    }
    let ext = rec
        .content_type
        .as_deref()
        .and_then(|c| extension_for(c.as_bytes()))
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let name = BodyName::new(format!("{stem}-PART-{n:02}"), ext);
    match write_new(dir, folder, &name, &bytes) {
        Ok(taken) => rec.file = Some(taken),
        Err(source) => errors.push(Error::Write {
            path: dir.join(name.nth(0)),
            source,
        }),
    }
    rec
}

/// Write `bytes` to a new file for `name` in `dir` (never through a
/// planted link, never over a file that is not an earlier run's); returns
/// the name taken.
fn write_new(dir: &Path, folder: &Folder, name: &BodyName, bytes: &[u8]) -> io::Result<String> {
    let (mut f, taken) = folder.create(dir, name)?;
    f.write_all(bytes)?;
    f.flush()?;
    Ok(taken)
}

/// A claimed filename made safe to show: its last `/` or `\` component,
/// control characters replaced by `_`, cut to [`MAX_FILENAME`] characters.
/// Also whether anything changed.
fn sanitise(name: &str) -> (String, bool) {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = last
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .take(MAX_FILENAME)
        .collect();
    let changed = clean != name;
    (clean, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\
\r\n\
hello\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"../../etc/a.txt\"\r\n\
Content-Type: text/plain\r\n\
\r\n\
line one\r\nline two\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"b\"; filename=\"b.bin\"\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAEC/w==\r\n\
--XyZ--\r\n";

    #[test]
    fn form_data_parts_become_files_with_their_names() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("body"), FORM).unwrap();
        let s = split(
            dir.path(),
            &Folder::default(),
            "body",
            "stem",
            b"multipart/form-data; boundary=XyZ",
        );
        assert!(s.errors.is_empty() && s.notes.is_empty(), "{s:?}");
        assert_eq!(s.parts.len(), 3);
        let read = |n: &str| fs::read(dir.path().join(n)).unwrap();
        assert_eq!(s.parts[0].file.as_deref(), Some("stem-PART-01"));
        assert_eq!(s.parts[0].name.as_deref(), Some("title"));
        assert_eq!(read("stem-PART-01"), b"hello");
        assert_eq!(s.parts[1].file.as_deref(), Some("stem-PART-02.txt"));
        assert_eq!(s.parts[1].filename.as_deref(), Some("a.txt"));
        assert_eq!(s.parts[1].notes.len(), 1);
        assert_eq!(read("stem-PART-02.txt"), b"line one\r\nline two");
        // application/octet-stream: mime-db's extension.
        assert_eq!(s.parts[2].file.as_deref(), Some("stem-PART-03.bin"));
        assert_eq!(read("stem-PART-03.bin"), [0, 1, 2, 255]);
        assert_eq!(s.parts[2].transfer_encoding.as_deref(), Some("base64"));
        assert_eq!(
            s.parts[2].sha256,
            hex::encode(Sha256::digest([0, 1, 2, 255]))
        );
        assert!(!dir.path().join("a.txt").exists());
    }

    #[test]
    fn a_planted_file_keeps_its_name_and_the_part_takes_the_next() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("body"), FORM).unwrap();
        fs::write(dir.path().join("stem-PART-02.txt"), "planted").unwrap();
        let s = split(
            dir.path(),
            &Folder::read(dir.path()),
            "body",
            "stem",
            b"multipart/form-data; boundary=XyZ",
        );
        assert_eq!(s.parts[1].file.as_deref(), Some("stem-PART-02(1).txt"));
        let read = |n: &str| fs::read(dir.path().join(n)).unwrap();
        assert_eq!(read("stem-PART-02.txt"), b"planted");
        assert_eq!(read("stem-PART-02(1).txt"), b"line one\r\nline two");
    }

    #[test]
    fn what_is_split_and_what_is_not() {
        assert!(splits(b"Multipart/Form-Data; boundary=x"));
        assert!(splits(b"multipart/byteranges; boundary=x"));
        assert!(!splits(b"multipart/mixed; boundary=x"));
        assert!(!splits(b"text/plain"));
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("body"), b"no boundary here").unwrap();
        let s = split(
            dir.path(),
            &Folder::default(),
            "body",
            "stem",
            b"multipart/form-data",
        );
        assert!(s.parts.is_empty());
        assert_eq!(s.notes.len(), 1);
    }

    #[test]
    fn sanitising_keeps_the_last_component() {
        assert_eq!(
            sanitise("C:\\Users\\x\\evil.exe"),
            ("evil.exe".into(), true)
        );
        assert_eq!(sanitise("a\nb"), ("a_b".into(), true));
        assert_eq!(sanitise("ok.pdf"), ("ok.pdf".into(), false));
    }
}
