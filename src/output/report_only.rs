//! The consumer of `-F X` (tcpflow's "no flow files, reports only"): each
//! direction is counted and hashed (sha256, MD5 when asked for) for the
//! reports, and nothing else is written.
//!
//! Owns: nothing but the tally of each direction. A record's `file` is the
//! name its flow file would have had (the template rendered with the
//! connection's counter), so that reports of runs with and without `-F X`
//! line up; no file of that name is made.

use super::report::DirectionRecord;
use super::tally::{Naming, Tally};
use crate::error::Error;
use crate::flow::{DirectionEnd, DirectionInfo, Piece, StreamConsumer};

/// Counts and hashes directions for the reports; writes no flow file.
pub struct ReportOnly {
    naming: Naming,
    max_bytes: Option<u64>,
    md5: bool,
}

/// What [`ReportOnly`] keeps for one direction.
#[derive(Default)]
pub struct CountedStream {
    tally: Tally,
    /// The `open` event was written.
    opened: bool,
}

impl ReportOnly {
    /// Directions named by `naming`, each counted up to `max_bytes` (`-b`),
    /// with MD5 when `md5`.
    pub fn new(naming: Naming, max_bytes: Option<u64>, md5: bool) -> ReportOnly {
        ReportOnly {
            naming,
            max_bytes,
            md5,
        }
    }
}

impl StreamConsumer for ReportOnly {
    type Stream = CountedStream;

    fn piece(
        &mut self,
        s: &mut CountedStream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        let Some(piece) = s.tally.take(piece, self.max_bytes, self.md5) else {
            return Ok(());
        };
        if !s.opened {
            s.opened = true;
            self.naming
                .opened(&self.naming.name(info, info.counter), info);
        }
        s.tally.count(piece.stored_len());
        Ok(())
    }

    fn close(
        &mut self,
        s: CountedStream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        if s.tally.written() == 0 {
            return Ok(None);
        }
        let name = self.naming.name(info, info.counter);
        Ok(Some(s.tally.record(name, info, end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpTuple;
    use crate::output::report::End;
    use crate::output::Template;

    #[test]
    fn directions_are_counted_and_hashed_without_files() {
        let naming = Naming {
            template: Template::parse(crate::config::DEFAULT_TEMPLATE).unwrap(),
            events: None,
            open_alert: None,
        };
        let mut c = ReportOnly::new(naming, None, true);
        let tuple = TcpTuple {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport: 1,
            dport: 2,
            vlan: None,
            tunnel: 0,
        };
        let info = DirectionInfo::new(tuple, 7, 0);
        let mut s = CountedStream::default();
        c.piece(&mut s, &info, Piece::Data(b"ab")).unwrap();
        c.piece(&mut s, &info, Piece::Gap(1)).unwrap();
        let end = DirectionEnd {
            end: End::Fin,
            packets: 2,
            last_ts: Default::default(),
            gaps: vec![(2, 1)],
            jumps: Vec::new(),
            bound_jumps: Vec::new(),
            dropped_before_start: 0,
        };
        let r = c.close(s, &info, &end).unwrap().expect("a record");
        assert_eq!(r.file, "010.000.000.001.00001-010.000.000.002.00002");
        assert_eq!(r.bytes, 3);
        // MD5 of "ab\0" (the gap is zeros).
        assert_eq!(r.md5.as_deref(), Some("5d36fe0e221c3fd97c6b87a46c9faf43"));
        let empty = c.close(CountedStream::default(), &info, &end).unwrap();
        assert!(empty.is_none());
    }
}
