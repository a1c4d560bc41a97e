//! Bytes of context around each match (`-B`, `-A`), for a stream that
//! arrives in pieces.
//!
//! Owns: holding a direction's matches until the bytes after them have
//! arrived, and the last bytes of the stream they need, then handing each
//! match out with its context ([`InContext`]), in the order found.
//!
//! Must not: find matches (the [`super::matcher`] does) or print. Context
//! never spans a gap: bytes never seen are not shown, as zeros or
//! otherwise; a match just before a gap (or the end of the stream) gets
//! the context that came before it.
//!
//! ```text
//!   held: the last  before + longest + after  bytes of the stream
//!   |--before--|==match==|--after--|
//!              a match is handed out once `after` bytes follow it,
//!              or a gap or the end of the stream comes first
//! ```
//!
//! Memory: per direction at most `before + longest + after` bytes, plus
//! the matches waiting for their `after` bytes (matches do not overlap,
//! so at most `after` of them).

use super::matcher::Found;
use std::collections::VecDeque;

/// The most bytes of context asked for on either side (`-A`, `-B`, `-C`):
/// 1 MiB, so a direction holds at most 2 MiB and the longest match.
pub const MAX_CONTEXT: usize = 1 << 20;

/// How many bytes of context each match gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// Bytes shown before each match (`-B`).
    pub before: usize,
    /// Bytes shown after each match (`-A`).
    pub after: usize,
}

impl Context {
    /// Whether any context is asked for.
    pub fn any(&self) -> bool {
        self.before > 0 || self.after > 0
    }
}

/// A match with its context, and what was known of it when it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InContext<T> {
    /// The match.
    pub found: Found,
    /// Up to `before` bytes just before it (fewer after a gap or at the
    /// start of the stream).
    pub before: Vec<u8>,
    /// Up to `after` bytes just after it (fewer before a gap or at the
    /// end of the stream).
    pub after: Vec<u8>,
    /// What the caller attached to the match when it was found.
    pub tag: T,
}

impl<T> InContext<T> {
    /// `found` with no context (none was asked for).
    pub fn bare(found: Found, tag: T) -> InContext<T> {
        InContext {
            found,
            before: Vec::new(),
            after: Vec::new(),
            tag,
        }
    }
}

/// One direction's context state (see the module documentation).
#[derive(Debug)]
pub struct ContextStream<T> {
    /// The last bytes seen, contiguous, ending at `end`.
    recent: VecDeque<u8>,
    /// Stream offset just past the last byte seen (data or gap).
    end: u64,
    /// Matches waiting for their `after` bytes, in the order found.
    waiting: VecDeque<(Found, T)>,
}

impl<T> Default for ContextStream<T> {
    fn default() -> Self {
        ContextStream {
            recent: VecDeque::new(),
            end: 0,
            waiting: VecDeque::new(),
        }
    }
}

impl<T> ContextStream<T> {
    /// Bytes held between pieces.
    pub fn held(&self) -> usize {
        self.recent.capacity()
            + self
                .waiting
                .iter()
                .map(|(f, _)| f.bytes.capacity() + std::mem::size_of::<(Found, T)>())
                .sum::<usize>()
    }

    /// The next `data` of the stream, and the matches the matcher found
    /// ending in it (with `tag`s), under `ctx`, with `longest` the longest
    /// match allowed. Each match whose `after` bytes are all here is handed
    /// to `ready`, in order.
    pub fn data(
        &mut self,
        ctx: Context,
        longest: usize,
        data: &[u8],
        found: impl IntoIterator<Item = (Found, T)>,
        ready: &mut dyn FnMut(InContext<T>),
    ) {
        self.recent.extend(data);
        self.end += data.len() as u64;
        self.waiting.extend(found);
        while let Some((f, _)) = self.waiting.front() {
            let match_end = f.offset + f.bytes.len() as u64;
            if match_end + ctx.after as u64 > self.end {
                break;
            }
            self.hand_out(ctx, ready);
        }
        let keep = ctx.before.saturating_add(longest).saturating_add(ctx.after);
        let excess = self.recent.len().saturating_sub(keep);
        self.recent.drain(..excess);
    }

    /// `len` bytes never seen: the matches waiting get what came before,
    /// and nothing before the gap is context for what follows.
    pub fn gap(&mut self, ctx: Context, len: u64, ready: &mut dyn FnMut(InContext<T>)) {
        self.flush(ctx, ready);
        self.recent.clear();
        self.end += len;
    }

    /// The end of the stream: hand out every match still waiting.
    pub fn flush(&mut self, ctx: Context, ready: &mut dyn FnMut(InContext<T>)) {
        while !self.waiting.is_empty() {
            self.hand_out(ctx, ready);
        }
    }

    /// Hand out the first match waiting with the context held for it.
    fn hand_out(&mut self, ctx: Context, ready: &mut dyn FnMut(InContext<T>)) {
        let Some((found, tag)) = self.waiting.pop_front() else {
            return;
        };
        let start = self.end - self.recent.len() as u64;
        // Offsets into `recent`, clamped to what it holds.
        let at = |offset: u64| -> usize {
            usize::try_from(offset.saturating_sub(start))
                .unwrap_or(usize::MAX)
                .min(self.recent.len())
        };
        let match_end = found.offset + found.bytes.len() as u64;
        let before = self
            .recent
            .range(at(found.offset.saturating_sub(ctx.before as u64))..at(found.offset))
            .copied()
            .collect();
        let after = self
            .recent
            .range(at(match_end)..at(match_end.saturating_add(ctx.after as u64)))
            .copied()
            .collect();
        ready(InContext {
            found,
            before,
            after,
            tag,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::matcher::{Matcher, PatternOptions, StreamSearch};

    /// Feed `pieces` (`None`: a gap of 3 bytes) through a literal search
    /// for `pattern` with `ctx`; list (offset, before, match, after).
    fn search(pattern: &str, ctx: Context, pieces: &[Option<&[u8]>]) -> Vec<(u64, String, String)> {
        let opts = PatternOptions {
            fixed: true,
            max_match: 64,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&[pattern.to_string()], &opts).unwrap();
        let (mut search, mut scratch) = (StreamSearch::default(), Vec::new());
        let mut ctx_stream = ContextStream::<()>::default();
        let mut got = Vec::new();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut ready = |c: InContext<()>| {
            got.push((
                c.found.offset,
                text(&c.before),
                format!("[{}]{}", text(&c.found.bytes), text(&c.after)),
            ))
        };
        for p in pieces {
            match p {
                Some(d) => {
                    let mut found = Vec::new();
                    search.feed(&m, d, &mut scratch, &mut |f| found.push((f, ())));
                    ctx_stream.data(ctx, m.longest(), d, found, &mut ready);
                }
                None => {
                    search.gap(3);
                    ctx_stream.gap(ctx, 3, &mut ready);
                }
            }
        }
        ctx_stream.flush(ctx, &mut ready);
        got
    }

    const BOTH: Context = Context {
        before: 4,
        after: 3,
    };

    #[test]
    fn context_before_and_after_a_match_split_over_pieces() {
        let got = search(
            "key",
            BOTH,
            &[Some(b"GET /?k"), Some(b"e"), Some(b"y=1&x=2")],
        );
        assert_eq!(got, [(6, "T /?".into(), "[key]=1&".into())]);
    }

    #[test]
    fn context_one_byte_a_piece_equals_context_in_one_piece() {
        let text = b"aa secret bb secret cc";
        let whole = search("secret", BOTH, &[Some(text)]);
        let pieces: Vec<Option<&[u8]>> = text.chunks(1).map(Some).collect();
        assert_eq!(search("secret", BOTH, &pieces), whole);
        assert_eq!(
            whole,
            [
                (3, "aa ".into(), "[secret] bb".into()),
                (13, " bb ".into(), "[secret] cc".into())
            ]
        );
    }

    #[test]
    fn context_stops_at_a_gap_and_at_the_end() {
        let got = search("key", BOTH, &[Some(b"xxkey"), None, Some(b"zzkey!")]);
        assert_eq!(
            got,
            [
                (2, "xx".into(), "[key]".into()),
                (10, "zz".into(), "[key]!".into())
            ]
        );
    }

    #[test]
    fn context_of_close_matches_overlaps_and_keeps_their_order() {
        let got = search(
            "ab",
            Context {
                before: 2,
                after: 2,
            },
            &[Some(b"abab"), Some(b"ab")],
        );
        assert_eq!(
            got,
            [
                (0, "".into(), "[ab]ab".into()),
                (2, "ab".into(), "[ab]ab".into()),
                (4, "ab".into(), "[ab]".into())
            ]
        );
    }

    #[test]
    fn held_bytes_stay_within_the_stated_bound() {
        let opts = PatternOptions {
            fixed: true,
            max_match: 64,
            ..PatternOptions::default()
        };
        let m = Matcher::new(&["zz".to_string()], &opts).unwrap();
        let mut c = ContextStream::<()>::default();
        for _ in 0..1_000 {
            c.data(BOTH, m.longest(), &[b'a'; 100], Vec::new(), &mut |_| {});
            assert!(c.recent.len() <= BOTH.before + m.longest() + BOTH.after);
        }
    }
}
