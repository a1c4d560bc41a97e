//! Patterns matched against a stream that arrives in pieces.
//!
//! Owns: compiling the patterns ([`Matcher::new`]: literals with
//! `aho-corasick`, regular expressions over bytes with `regex-automata`'s
//! meta engine, case folding, hex patterns), and the per-direction state
//! that lets a match span pieces ([`StreamSearch`]): the last
//! `longest - 1` bytes seen, where `longest` is the longest match allowed
//! (the longest literal, a bounded regex's own bound, or `--max-match`).
//!
//! Must not: know about directions, files or output. A match is reported
//! once, when its last byte arrives; matches do not overlap (the next one
//! starts at or after the end of the last). A gap ends the window: bytes
//! never seen are not matched, as zeros or otherwise, and no match spans a
//! hole.
//!
//! ```text
//!   window (≤ longest-1 bytes)   new piece
//!   |-----------------------|--------------------|
//!            a match ending in the new piece is reported;
//!            one that ended in the window was reported before
//! ```

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::meta::Regex;
use regex_automata::util::syntax;

/// How patterns are read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatternOptions {
    /// Patterns are literal bytes, not regular expressions (`-F`).
    pub fixed: bool,
    /// Patterns are hex (`--hex`: `474554` or `47 45 54`): literal bytes.
    pub hex: bool,
    /// ASCII letters match either case (`-y`, `--ignore-case`).
    pub ignore_case: bool,
    /// The longest match allowed for a regular expression whose own
    /// longest match is unbounded (`--max-match`).
    pub max_match: usize,
}

/// Default `--max-match`: 4 KiB.
pub const DEFAULT_MAX_MATCH: usize = 4096;

/// One match: where it is in the stream and which pattern made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Stream offset of its first byte.
    pub offset: u64,
    /// Index of the pattern, in the order given.
    pub pattern: usize,
    /// The matched bytes.
    pub bytes: Vec<u8>,
}

/// Why patterns cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// No pattern was given.
    #[error("no pattern given")]
    None,
    /// A pattern matches the empty string, so it would match everywhere.
    #[error("pattern {0} matches the empty string")]
    Empty(usize),
    /// A hex pattern is not hex.
    #[error("pattern {index}: not hex: {text}")]
    Hex {
        /// The pattern's index.
        index: usize,
        /// The pattern.
        text: String,
    },
    /// A regular expression does not compile.
    #[error("{0}")]
    Regex(String),
}

enum Engine {
    Literals(AhoCorasick),
    Regex(Regex),
}

/// Compiled patterns, shared by every direction searched.
pub struct Matcher {
    engine: Engine,
    /// The longest match allowed, in bytes.
    longest: usize,
}

impl Matcher {
    /// Compile `patterns` as `opts` says.
    pub fn new(patterns: &[String], opts: &PatternOptions) -> Result<Matcher, PatternError> {
        if patterns.is_empty() {
            return Err(PatternError::None);
        }
        if opts.fixed || opts.hex {
            let mut literals = Vec::with_capacity(patterns.len());
            for (index, p) in patterns.iter().enumerate() {
                let bytes = if opts.hex {
                    parse_hex(p).ok_or_else(|| PatternError::Hex {
                        index,
                        text: p.clone(),
                    })?
                } else {
                    p.as_bytes().to_vec()
                };
                if bytes.is_empty() {
                    return Err(PatternError::Empty(index));
                }
                literals.push(bytes);
            }
            let longest = literals.iter().map(Vec::len).max().unwrap_or(1);
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .ascii_case_insensitive(opts.ignore_case)
                .build(&literals)
                .map_err(|e| PatternError::Regex(e.to_string()))?;
            return Ok(Matcher {
                engine: Engine::Literals(ac),
                longest,
            });
        }
        let config = syntax::Config::new()
            .unicode(false)
            .utf8(false)
            .case_insensitive(opts.ignore_case);
        let mut longest = 1usize;
        for (index, p) in patterns.iter().enumerate() {
            let hir = regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .case_insensitive(opts.ignore_case)
                .build()
                .parse(p)
                .map_err(|e| PatternError::Regex(format!("pattern {index}: {e}")))?;
            if hir.properties().minimum_len() == Some(0) {
                return Err(PatternError::Empty(index));
            }
            let bound = hir
                .properties()
                .maximum_len()
                .unwrap_or(opts.max_match.max(1));
            longest = longest.max(bound.min(opts.max_match.max(1)));
        }
        let regex = Regex::builder()
            .syntax(config)
            .build_many(patterns)
            .map_err(|e| PatternError::Regex(e.to_string()))?;
        Ok(Matcher {
            engine: Engine::Regex(regex),
            longest,
        })
    }

    /// The longest match allowed: a direction keeps one byte less than this.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Every non-overlapping match in `haystack` at or after `from`, as
    /// (start, end, pattern).
    fn find_all(&self, haystack: &[u8], from: usize, out: &mut Vec<(usize, usize, usize)>) {
        match &self.engine {
            Engine::Literals(ac) => {
                let input = aho_corasick::Input::new(haystack).range(from..);
                for m in ac.find_iter(input) {
                    out.push((m.start(), m.end(), m.pattern().as_usize()));
                }
            }
            Engine::Regex(re) => {
                let input = regex_automata::Input::new(haystack).range(from..);
                for m in re.find_iter(input) {
                    out.push((m.start(), m.end(), m.pattern().as_usize()));
                }
            }
        }
    }
}

/// `12 ab`, `12ab`, `0x12ab`: bytes; anything else is `None`.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What one direction keeps between pieces: the window and where it is.
#[derive(Debug, Default)]
pub struct StreamSearch {
    /// The last bytes seen (at most `longest - 1`), contiguous up to now.
    window: Vec<u8>,
    /// Stream offset just past the last byte seen (data or gap).
    end: u64,
    /// Stream offset where the last reported match ended: no match before
    /// it is reported again.
    reported_until: u64,
}

impl StreamSearch {
    /// Stream offset just past the last byte seen.
    pub fn offset(&self) -> u64 {
        self.end
    }

    /// Bytes held between pieces.
    pub fn held(&self) -> usize {
        self.window.capacity()
    }

    /// `len` bytes never seen: nothing spans them.
    pub fn gap(&mut self, len: u64) {
        self.window.clear();
        self.end += len;
    }

    /// The next `data` of the stream: every match that ends in it is handed
    /// to `found`, in order; `scratch` is reused between calls.
    pub fn feed(
        &mut self,
        matcher: &Matcher,
        data: &[u8],
        scratch: &mut Vec<u8>,
        found: &mut dyn FnMut(Found),
    ) {
        if data.is_empty() {
            return;
        }
        scratch.clear();
        scratch.extend_from_slice(&self.window);
        scratch.extend_from_slice(data);
        let base = self.end - self.window.len() as u64;
        let from = usize::try_from(self.reported_until.saturating_sub(base)).unwrap_or(usize::MAX);
        let mut spans = Vec::new();
        if from < scratch.len() {
            matcher.find_all(scratch, from, &mut spans);
        }
        for (start, end, pattern) in spans {
            // Ended in the window: reported when its last byte came.
            if end <= self.window.len() {
                continue;
            }
            self.reported_until = base + end as u64;
            found(Found {
                offset: base + start as u64,
                pattern,
                bytes: scratch[start..end].to_vec(),
            });
        }
        self.end += data.len() as u64;
        let keep = matcher.longest.saturating_sub(1).min(scratch.len());
        self.window.clear();
        self.window
            .extend_from_slice(&scratch[scratch.len() - keep..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals(p: &[&str]) -> Matcher {
        let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
        let opts = PatternOptions {
            fixed: true,
            max_match: DEFAULT_MAX_MATCH,
            ..PatternOptions::default()
        };
        Matcher::new(&p, &opts).unwrap()
    }

    /// Feed `pieces` (`None` is a gap of 3 bytes) and list (offset, pattern, bytes).
    fn search(m: &Matcher, pieces: &[Option<&[u8]>]) -> Vec<(u64, usize, String)> {
        let (mut st, mut scratch, mut got) = (StreamSearch::default(), Vec::new(), Vec::new());
        for p in pieces {
            match p {
                Some(d) => st.feed(m, d, &mut scratch, &mut |f| {
                    got.push((
                        f.offset,
                        f.pattern,
                        String::from_utf8_lossy(&f.bytes).into_owned(),
                    ))
                }),
                None => st.gap(3),
            }
        }
        got
    }

    #[test]
    fn a_literal_split_over_pieces_is_found_once_at_its_stream_offset() {
        let m = literals(&["secret"]);
        let got = search(&m, &[Some(b"xxsec"), Some(b"r"), Some(b"etyy secret")]);
        assert_eq!(got, [(2, 0, "secret".into()), (11, 0, "secret".into())]);
    }

    #[test]
    fn one_byte_pieces_find_every_match() {
        let m = literals(&["abc", "bcd"]);
        let text = b"abcdabcd";
        let pieces: Vec<Option<&[u8]>> = text.chunks(1).map(Some).collect();
        assert_eq!(
            search(&m, &pieces),
            [(0, 0, "abc".into()), (4, 0, "abc".into())]
        );
    }

    #[test]
    fn no_match_spans_a_gap() {
        let m = literals(&["secret"]);
        assert_eq!(search(&m, &[Some(b"sec"), None, Some(b"ret")]), []);
        // After the gap, offsets count the missing bytes.
        assert_eq!(
            search(&m, &[Some(b"sec"), None, Some(b"secret")]),
            [(6, 0, "secret".into())]
        );
    }

    #[test]
    fn case_folding_and_hex_patterns() {
        let p = vec!["SeCrEt".to_string()];
        let opts = PatternOptions {
            fixed: true,
            ignore_case: true,
            max_match: 16,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&p, &opts).unwrap();
        assert_eq!(search(&m, &[Some(b"a secRET")]).len(), 1);
        let hex = vec!["00 ff 7f".to_string()];
        let opts = PatternOptions {
            hex: true,
            max_match: 16,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&hex, &opts).unwrap();
        let got = search(&m, &[Some(b"\x01\x00\xff"), Some(b"\x7f")]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 1);
        assert!(Matcher::new(&["0g".to_string()], &opts).is_err());
    }

    #[test]
    fn a_regex_over_bytes_across_pieces_and_its_bound() {
        let p = vec![r"user=[a-z]{3,8}&".to_string()];
        let opts = PatternOptions {
            max_match: DEFAULT_MAX_MATCH,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&p, &opts).unwrap();
        assert_eq!(m.longest(), 14);
        let got = search(&m, &[Some(b"GET /?us"), Some(b"er=ali"), Some(b"ce& x")]);
        assert_eq!(got, [(6, 0, "user=alice&".into())]);
        // Unbounded: bounded by --max-match.
        let p = vec![r"a[^z]*z".to_string()];
        let opts = PatternOptions {
            max_match: 10,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&p, &opts).unwrap();
        assert_eq!(m.longest(), 10);
        assert!(
            Matcher::new(&["x*".to_string()], &opts).is_err(),
            "empty match"
        );
    }

    #[test]
    fn ten_thousand_literals_at_once() {
        let p: Vec<String> = (0..10_000).map(|i| format!("token-{i:05}")).collect();
        let opts = PatternOptions {
            fixed: true,
            max_match: DEFAULT_MAX_MATCH,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&p, &opts).unwrap();
        let got = search(&m, &[Some(b"..token-0"), Some(b"9999.. token-04242")]);
        assert_eq!(
            got,
            [
                (2, 9999, "token-09999".into()),
                (16, 4242, "token-04242".into())
            ]
        );
    }
}
