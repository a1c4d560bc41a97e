//! Compressed captures: recognising gzip, zstd, xz and bzip2 by their first
//! bytes and decompressing them on the fly, so that `capture.pcap.gz` (or a
//! `.pcapng.zst` on standard input) is read as it is, whatever its name.
//!
//! Owns: the magic numbers of the compression formats flowsplit reads
//! ([`Compression::sniff`]), wrapping a byte stream in the matching decoder
//! ([`decompressing`]), and the hint given for archive and compression
//! formats it does not read ([`unsupported_hint`]).
//!
//! Must not: parse capture records, or seek: input is a stream (a pipe
//! works), decompressed by the reading thread as it is read. Concatenated
//! streams (several gzip members, zstd frames, xz streams, bzip2 streams)
//! are read one after the other, as `zcat` and friends do.

use std::io::{self, Read};

/// A compression format flowsplit decompresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), also several members back to back.
    Gzip,
    /// Zstandard frames.
    Zstd,
    /// xz (LZMA2) streams.
    Xz,
    /// bzip2 streams.
    Bzip2,
}

/// The longest magic number [`Compression::sniff`] looks at.
const MAGIC_LEN: usize = 6;

impl Compression {
    /// The format whose magic number `prefix` starts with, if any.
    pub fn sniff(prefix: &[u8]) -> Option<Compression> {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else if prefix.len() >= 4
            && prefix.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&prefix[3])
        {
            Some(Compression::Bzip2)
        } else {
            None
        }
    }

    /// The format's name, as messages give it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// `input` decompressed if its first bytes are one of [`Compression`]'s
/// magic numbers (and which), or `input` as it is. Reads at most
/// [`MAGIC_LEN`] bytes to decide, waiting for a pipe only as long as it
/// takes them to come; the bytes read are given back in front of the rest.
pub fn decompressing<'a, R: Read + 'a>(
    mut input: R,
) -> io::Result<(Box<dyn Read + 'a>, Option<Compression>)> {
    let mut prefix = [0u8; MAGIC_LEN];
    let mut got = 0;
    while got < MAGIC_LEN {
        match input.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let kind = Compression::sniff(&prefix[..got]);
    let whole = io::Cursor::new(prefix[..got].to_vec()).chain(input);
    let reader: Box<dyn Read + 'a> = match kind {
        None => Box::new(whole),
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Some(Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Some(Compression::Xz) => Box::new(liblzma::read::XzDecoder::new_multi_decoder(whole)),
        Some(Compression::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
    };
    Ok((reader, kind))
}

/// For a file that is not a capture: what it looks like instead, when its
/// first bytes are an archive or a compression format flowsplit does not
/// read, as advice to add to "unknown magic number".
pub fn unsupported_hint(prefix: &[u8]) -> Option<&'static str> {
    let known: [(&[u8], &str); 6] = [
        (b"PK\x03\x04", "it is a zip archive: unpack it and read the capture inside"),
        (&[0x04, 0x22, 0x4d, 0x18], "it is lz4-compressed: decompress it first (flowsplit reads gzip, zstd, xz and bzip2 as they are)"),
        (&[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], "it is a 7z archive: unpack it and read the capture inside"),
        (b"Rar!", "it is a rar archive: unpack it and read the capture inside"),
        (&[0x5d, 0x00, 0x00], "it looks lzma-compressed (not xz): decompress it first (flowsplit reads gzip, zstd, xz and bzip2 as they are)"),
        (b"\x1f\x9d", "it is compressed with compress(1) (.Z): decompress it first (flowsplit reads gzip, zstd, xz and bzip2 as they are)"),
    ];
    if prefix.len() > 262 && &prefix[257..262] == b"ustar" {
        return Some("it is a tar archive: unpack it and read the capture inside");
    }
    known
        .iter()
        .find(|(magic, _)| prefix.starts_with(magic))
        .map(|&(_, hint)| hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"not a capture, but bytes all the same\n";

    fn compressed(kind: Compression, data: &[u8]) -> Vec<u8> {
        match kind {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        }
    }

    const ALL: [Compression; 4] = [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Xz,
        Compression::Bzip2,
    ];

    #[test]
    fn each_format_is_recognised_by_content_and_decompressed() {
        for kind in ALL {
            let data = compressed(kind, TEXT);
            let (mut r, got) = decompressing(&data[..]).unwrap();
            assert_eq!(got, Some(kind));
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, TEXT, "{}", kind.name());
        }
    }

    #[test]
    fn concatenated_streams_are_read_one_after_the_other() {
        for kind in ALL {
            let mut two = compressed(kind, b"first,");
            two.extend(compressed(kind, b"second"));
            let (mut r, _) = decompressing(&two[..]).unwrap();
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"first,second", "{}", kind.name());
        }
    }

    /// A reader that hands out one byte per read, as a slow pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn uncompressed_and_short_input_comes_back_unchanged_even_a_byte_at_a_time() {
        for data in [TEXT, b"", b"\x1f", b"BZh"] {
            let (mut r, got) = decompressing(Trickle(data)).unwrap();
            assert_eq!(got, None);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
        let gz = compressed(Compression::Gzip, TEXT);
        let (mut r, got) = decompressing(Trickle(&gz)).unwrap();
        assert_eq!(got, Some(Compression::Gzip));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, TEXT);
    }

    #[test]
    fn a_damaged_stream_is_an_error_not_a_panic() {
        for kind in ALL {
            let mut bad = compressed(kind, &TEXT.repeat(50));
            let half = bad.len() / 2;
            bad.truncate(half);
            bad.extend_from_slice(&[0xa5; 40]);
            let (mut r, _) = decompressing(&bad[..]).unwrap();
            let mut out = Vec::new();
            assert!(r.read_to_end(&mut out).is_err(), "{}", kind.name());
        }
    }

    #[test]
    fn archives_and_other_compressors_get_a_hint() {
        assert!(unsupported_hint(b"PK\x03\x04rest").unwrap().contains("zip"));
        assert!(unsupported_hint(&[0x04, 0x22, 0x4d, 0x18, 0])
            .unwrap()
            .contains("lz4"));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(unsupported_hint(&tar).unwrap().contains("tar"));
        assert_eq!(unsupported_hint(b"\xd4\xc3\xb2\xa1"), None);
    }
}
