//! `--grep` on a normal run: every direction is searched as it is handed
//! to the flow files (or the report alone, `-F X`), in the same pass, and
//! its report record says how many matches it held (`grep_matches`).
//!
//! Owns: [`Counted`], a [`StreamConsumer`] in front of another one. It
//! passes every call on unchanged and feeds the same pieces to a
//! [`StreamSearch`] per direction: a gap or a jump breaks a match, and a
//! direction holds at most the longest match allowed less one byte, which
//! it reports through [`StreamConsumer::held`].
//!
//! Must not: decide what is kept. With `--only-matching` the report drops
//! connections none of whose records has a match
//! ([`crate::output::keep`]).

use super::matcher::{Matcher, StreamSearch};
use crate::capture::Timestamp;
use crate::decode::Frame;
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, Placed, StreamConsumer};
use crate::output::report::DirectionRecord;
use std::sync::Arc;

/// Searches every direction handed to `C` and counts its matches in `C`'s
/// record.
pub struct Counted<C> {
    inner: C,
    matcher: Arc<Matcher>,
    scratch: Vec<u8>,
}

/// What [`Counted`] keeps for one direction: the inner consumer's state,
/// the search window and the matches so far.
#[derive(Default)]
pub struct CountedStream<S> {
    inner: S,
    search: StreamSearch,
    matches: u64,
}

impl<C> Counted<C> {
    /// Search with `matcher` in front of `inner`.
    pub fn new(inner: C, matcher: Arc<Matcher>) -> Counted<C> {
        Counted {
            inner,
            matcher,
            scratch: Vec::new(),
        }
    }
}

impl<C: StreamConsumer> StreamConsumer for Counted<C> {
    type Stream = CountedStream<C::Stream>;

    fn piece(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        match piece {
            Piece::Data(d) => {
                let mut found = 0u64;
                s.search
                    .feed(&self.matcher, d, &mut self.scratch, &mut |_| found += 1);
                s.matches += found;
            }
            Piece::Gap(n) => s.search.gap(n),
            Piece::Jump(_) => s.search.gap(0),
        }
        self.inner.piece(&mut s.inner, info, piece)
    }

    fn held(&self, s: &Self::Stream) -> usize {
        self.inner.held(&s.inner) + s.search.held()
    }

    fn flush(&mut self, s: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.inner.flush(&mut s.inner, info)
    }

    fn settle(&mut self, s: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.inner.settle(&mut s.inner, info)
    }

    fn close(
        &mut self,
        s: Self::Stream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let matches = s.matches;
        let record = self.inner.close(s.inner, info, end)?;
        Ok(record.map(|r| DirectionRecord {
            grep_matches: Some(matches),
            ..r
        }))
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        self.inner.flush_all()
    }

    fn placed(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        at: &Placed,
    ) -> Result<(), Error> {
        self.inner.placed(&mut s.inner, info, at)
    }

    fn rebased(&mut self, s: &mut Self::Stream, info: &DirectionInfo<'_>, by: u64) {
        self.inner.rebased(&mut s.inner, info, by);
    }

    fn packet(
        &mut self,
        s: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        ts: Timestamp,
        frame: &Frame<'_>,
    ) -> Result<(), Error> {
        self.inner.packet(&mut s.inner, info, ts, frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::consumer::fixtures::{direction, fin_end};
    use crate::search::matcher::{PatternOptions, DEFAULT_MAX_MATCH};

    /// Records every piece, and gives a record whose `bytes` is the data
    /// length it saw, so a test sees the pieces were passed on.
    #[derive(Default)]
    struct Inner;

    impl StreamConsumer for Inner {
        type Stream = u64;

        fn piece(
            &mut self,
            s: &mut u64,
            _info: &DirectionInfo<'_>,
            piece: Piece<'_>,
        ) -> Result<(), Error> {
            *s += match piece {
                Piece::Data(d) => d.len() as u64,
                Piece::Gap(n) => n,
                Piece::Jump(_) => 0,
            };
            Ok(())
        }

        fn held(&self, _s: &u64) -> usize {
            7
        }

        fn close(
            &mut self,
            s: u64,
            info: &DirectionInfo<'_>,
            end: &DirectionEnd,
        ) -> Result<Option<DirectionRecord>, Error> {
            if s == 0 {
                return Ok(None);
            }
            let mut r = crate::output::tally::Tally::default().record("f".into(), info, end);
            r.bytes = s;
            Ok(Some(r))
        }
    }

    fn counted(pattern: &str) -> Counted<Inner> {
        let opts = PatternOptions {
            fixed: true,
            max_match: DEFAULT_MAX_MATCH,
            ..PatternOptions::default()
        };
        Counted::new(
            Inner,
            Arc::new(Matcher::new(&[pattern.to_string()], &opts).unwrap()),
        )
    }

    /// Feed `pieces` to one direction and close it: (bytes, grep_matches).
    fn run(c: &mut Counted<Inner>, pieces: &[Piece<'_>]) -> Option<(u64, Option<u64>)> {
        let info = direction(1000, 1);
        let mut s = CountedStream::default();
        for p in pieces {
            c.piece(&mut s, &info, *p).unwrap();
        }
        c.close(s, &info, &fin_end(1, Vec::new()))
            .unwrap()
            .map(|r| (r.bytes, r.grep_matches))
    }

    #[test]
    fn matches_across_pieces_are_counted_in_the_inner_record() {
        let mut c = counted("secret");
        let got = run(
            &mut c,
            &[
                Piece::Data(b"a sec"),
                Piece::Data(b"ret and "),
                Piece::Data(b"secret"),
            ],
        );
        assert_eq!(got, Some((19, Some(2))));
        assert_eq!(run(&mut c, &[Piece::Data(b"nothing")]), Some((7, Some(0))));
    }

    #[test]
    fn a_gap_or_a_jump_breaks_a_match() {
        let mut c = counted("secret");
        let gap = [Piece::Data(b"sec"), Piece::Gap(2), Piece::Data(b"ret")];
        assert_eq!(run(&mut c, &gap), Some((8, Some(0))));
        let jump = [Piece::Data(b"sec"), Piece::Jump(9), Piece::Data(b"ret")];
        assert_eq!(run(&mut c, &jump), Some((6, Some(0))));
    }

    #[test]
    fn no_record_stays_no_record_and_the_window_is_counted_as_held() {
        let mut c = counted("secret");
        assert_eq!(run(&mut c, &[]), None);
        let info = direction(1000, 1);
        let mut s = CountedStream::default();
        c.piece(&mut s, &info, Piece::Data(b"0123456789")).unwrap();
        // The inner consumer's 7 bytes and the last 5 bytes ("secret" less one).
        assert!(s.search.held() >= 5, "{}", s.search.held());
        assert_eq!(c.held(&s), 7 + s.search.held());
    }
}
