//! Where reassembled streams go: the contract between reassembly and
//! everything that uses its output.
//!
//! A [`crate::flow::FlowTable`] owns one [`StreamConsumer`]. The consumer is
//! the factory and the shared state (open files, the console, an HTTP
//! carver); for each direction it keeps a [`StreamConsumer::Stream`], made
//! empty when the connection opens and stored in the table next to the
//! direction's reassembly state. Reassembly then hands the consumer, per
//! direction and in stream order:
//!
//! - [`Piece::Data`] and [`Piece::Gap`] (bytes that never arrived, with
//!   their length so offsets stay exact) through [`StreamConsumer::piece`],
//!   and [`Piece::Jump`] for a hole longer than `-m`, which is not filled;
//! - the direction's end, with what reassembly knows of it
//!   ([`DirectionEnd`]), through [`StreamConsumer::close`].
//!
//! Every call may fail; the first error stops the call that met it and is
//! returned to the table's caller. Flow files with their report record
//! ([`crate::output::FlowFiles`]) and the console modes
//! ([`crate::output::ConsoleSink`]) are consumers; [`Tee`] hands one stream
//! to two of them. A new stage between reassembly and its users (TLS
//! decryption, range assembly) is a consumer that passes on what it makes
//! to another one.

use super::assembler::Piece;
use super::layers::Layers;
use crate::capture::Timestamp;
use crate::decode::{Frame, TcpTuple};
use crate::error::Error;
use crate::output::report::{DirectionRecord, End};
use std::net::IpAddr;

/// Who a direction is: fixed when the connection opens, except `first_ts`,
/// `layers` and `client`, which are set by its first packet (before any piece is
/// handed over). A view the table builds for each call from what the
/// connection keeps once for both directions.
#[derive(Debug, Clone, Copy)]
pub struct DirectionInfo<'a> {
    /// The sender's and receiver's addresses and ports, VLAN and tunnel.
    pub tuple: TcpTuple,
    /// The connection id, shared by both directions (the packet number that opened it).
    pub connection: u64,
    /// How many connections came before this one on the same 4-tuple (tcpflow's `%c`).
    pub counter: u32,
    /// Capture time of the direction's first packet.
    pub first_ts: Timestamp,
    /// How the first packet arrived (shared with other directions that
    /// came the same way).
    pub layers: Option<&'a Layers>,
    /// The direction's first packet was a SYN without ACK: it is the
    /// client's (tcpflow's client-to-server direction).
    pub client: bool,
}

impl DirectionInfo<'_> {
    /// A direction of connection `connection` on `tuple`, before its first packet.
    pub fn new(tuple: TcpTuple, connection: u64, counter: u32) -> DirectionInfo<'static> {
        DirectionInfo {
            tuple,
            connection,
            counter,
            first_ts: Timestamp::default(),
            layers: None,
            client: false,
        }
    }
}

/// What reassembly knows about a direction when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionEnd {
    /// How it ended.
    pub end: End,
    /// Packets seen in this direction.
    pub packets: u64,
    /// Capture time of its last packet.
    pub last_ts: Timestamp,
    /// Every hole given up and zero-filled, `(offset, length)`, in stream
    /// order; offsets are where the zeros sit in the output (the stream
    /// offset less the jumps before).
    pub gaps: Vec<(u64, u64)>,
    /// Every hole longer than `-m`, not filled (a [`Piece::Jump`]):
    /// `(offset, length)`, the offset being where the output goes on after
    /// it, in stream order.
    pub jumps: Vec<(u64, u64)>,
    /// The jumps of at most `-m` made only because the run's amplification
    /// bound was spent (see [`crate::flow::fill`]): also among `jumps`.
    pub bound_jumps: Vec<(u64, u64)>,
    /// Bytes that arrived before the stream's start and could not be placed.
    pub dropped_before_start: u64,
}

/// Takes the ordered streams of a flow table's directions; see the module
/// documentation. Runs in the thread of the table that owns it.
pub trait StreamConsumer {
    /// What the consumer keeps for one direction; `Default` is the state
    /// of a direction nothing was handed to yet. Must be cheap: a million
    /// open connections hold two each.
    type Stream: Default;

    /// The next piece of `info`'s direction, at the end of what was handed
    /// over before.
    fn piece(
        &mut self,
        stream: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error>;

    /// In-order bytes held for the direction and not passed on yet (they
    /// count against the table's budget for collected bytes).
    fn held(&self, _stream: &Self::Stream) -> usize {
        0
    }

    /// Pass on what is held for the direction now (live capture, memory
    /// pressure).
    fn flush(
        &mut self,
        _stream: &mut Self::Stream,
        _info: &DirectionInfo<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// The connection finished (FIN or RST) and only lingers for late
    /// packets: pass on what is held and give back what the direction
    /// holds (a descriptor). More pieces may still come.
    fn settle(&mut self, stream: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.flush(stream, info)
    }

    /// The direction ended: every piece was handed over. Returns its report
    /// record, or `None` when the consumer made nothing of it (no bytes).
    fn close(
        &mut self,
        stream: Self::Stream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error>;

    /// Make everything passed on so far visible (flush buffered output).
    fn flush_all(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// A segment of the direction was placed in the stream as `at` says,
    /// as it arrived: before reassembly, so out of order, retransmitted and
    /// overlapping segments alike (not a keepalive probe's one byte, nor
    /// bytes from before the stream's start). tcpflow's `-I` index and
    /// `flowsplit grep` (a match's first packet) use it.
    fn placed(
        &mut self,
        _stream: &mut Self::Stream,
        _info: &DirectionInfo<'_>,
        _at: &Placed,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// The direction's stream turned out to start `by` bytes earlier than
    /// assumed (a capture that began mid-connection, or stored out of
    /// order): every offset given to [`StreamConsumer::placed`] so far is
    /// `by` too small. Comes only before any piece was handed over.
    fn rebased(&mut self, _stream: &mut Self::Stream, _info: &DirectionInfo<'_>, _by: u64) {}

    /// A packet of the direction (every one the table gives it, with or
    /// without payload) arrived at `ts` in `frame`. Only tcpflow's `-K`
    /// (each direction's packets as a pcap file) uses it.
    fn packet(
        &mut self,
        _stream: &mut Self::Stream,
        _info: &DirectionInfo<'_>,
        _ts: Timestamp,
        _frame: &Frame<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }
}

/// Where a segment's payload went in its direction's stream (see
/// [`StreamConsumer::placed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Stream offset of its first payload byte.
    pub offset: u64,
    /// Payload bytes it carried.
    pub len: usize,
    /// When it was captured.
    pub ts: Timestamp,
    /// The 1-based number of its packet over all inputs, in the order
    /// read (tshark's frame number for a single input).
    pub packet: u64,
}

/// A consumer bound to one direction's state: where a
/// [`crate::flow::direction::Direction`] hands its pieces.
pub struct Bound<'a, C: StreamConsumer> {
    /// The table's consumer.
    pub consumer: &'a mut C,
    /// What it keeps for this direction.
    pub stream: &'a mut C::Stream,
    /// Who the direction is.
    pub info: DirectionInfo<'a>,
    /// The number of the packet being handled (see [`Placed::packet`]).
    pub packet: u64,
}

impl<C: StreamConsumer> Bound<'_, C> {
    /// Hand over the next piece of the direction.
    #[inline]
    pub fn piece(&mut self, piece: Piece<'_>) -> Result<(), Error> {
        self.consumer.piece(self.stream, &self.info, piece)
    }

    /// See [`StreamConsumer::placed`].
    #[inline]
    pub fn placed(&mut self, at: &Placed) -> Result<(), Error> {
        self.consumer.placed(self.stream, &self.info, at)
    }

    /// See [`StreamConsumer::rebased`].
    pub fn rebased(&mut self, by: u64) {
        self.consumer.rebased(self.stream, &self.info, by);
    }

    /// See [`StreamConsumer::packet`].
    pub fn packet(&mut self, ts: Timestamp, frame: &Frame<'_>) -> Result<(), Error> {
        self.consumer.packet(self.stream, &self.info, ts, frame)
    }
}

/// Hands every direction to two consumers: `A` first, then `B`. The report
/// record is `A`'s.
#[derive(Debug, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: StreamConsumer, B: StreamConsumer> StreamConsumer for Tee<A, B> {
    type Stream = (A::Stream, B::Stream);

    fn piece(
        &mut self,
        stream: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        self.0.piece(&mut stream.0, info, piece)?;
        self.1.piece(&mut stream.1, info, piece)
    }

    fn held(&self, stream: &Self::Stream) -> usize {
        self.0.held(&stream.0) + self.1.held(&stream.1)
    }

    fn flush(&mut self, stream: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.0.flush(&mut stream.0, info)?;
        self.1.flush(&mut stream.1, info)
    }

    fn settle(&mut self, stream: &mut Self::Stream, info: &DirectionInfo<'_>) -> Result<(), Error> {
        self.0.settle(&mut stream.0, info)?;
        self.1.settle(&mut stream.1, info)
    }

    fn close(
        &mut self,
        stream: Self::Stream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        let first = self.0.close(stream.0, info, end);
        let second = self.1.close(stream.1, info, end);
        let record = first?;
        second?;
        Ok(record)
    }

    fn flush_all(&mut self) -> Result<(), Error> {
        let first = self.0.flush_all();
        let second = self.1.flush_all();
        first.and(second)
    }

    fn placed(
        &mut self,
        stream: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        at: &Placed,
    ) -> Result<(), Error> {
        self.0.placed(&mut stream.0, info, at)?;
        self.1.placed(&mut stream.1, info, at)
    }

    fn rebased(&mut self, stream: &mut Self::Stream, info: &DirectionInfo<'_>, by: u64) {
        self.0.rebased(&mut stream.0, info, by);
        self.1.rebased(&mut stream.1, info, by);
    }

    fn packet(
        &mut self,
        stream: &mut Self::Stream,
        info: &DirectionInfo<'_>,
        ts: Timestamp,
        frame: &Frame<'_>,
    ) -> Result<(), Error> {
        self.0.packet(&mut stream.0, info, ts, frame)?;
        self.1.packet(&mut stream.1, info, ts, frame)
    }
}

/// A consumer that keeps every direction's stream in memory, gaps as
/// [`Recorded::Gap`] entries: for tests of reassembly without any I/O, and
/// for tools that want a connection's bytes as values.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Closed directions, in the order they closed.
    pub closed: Vec<RecordedDirection>,
}

/// One piece as a [`Recorder`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Bytes, merged with the data piece before when there was no gap between.
    Data(Vec<u8>),
    /// Bytes that never arrived.
    Gap(u64),
    /// Bytes that never arrived, too many to fill (see [`Piece::Jump`]).
    Jump(u64),
}

/// A direction as a [`Recorder`] kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDirection {
    /// Its connection id.
    pub connection: u64,
    /// Its sender.
    pub src: (IpAddr, u16),
    /// Its pieces in stream order.
    pub pieces: Vec<Recorded>,
    /// What reassembly said at its end.
    pub end: DirectionEnd,
}

impl RecordedDirection {
    /// The stream as a flow file would hold it: gaps zero-filled, jumps left out.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.pieces {
            match p {
                Recorded::Data(d) => out.extend_from_slice(d),
                Recorded::Gap(n) => out.resize(out.len() + *n as usize, 0),
                Recorded::Jump(_) => {}
            }
        }
        out
    }
}

impl StreamConsumer for Recorder {
    type Stream = Vec<Recorded>;

    fn piece(
        &mut self,
        stream: &mut Self::Stream,
        _info: &DirectionInfo<'_>,
        piece: Piece<'_>,
    ) -> Result<(), Error> {
        match (piece, stream.last_mut()) {
            (Piece::Data(d), Some(Recorded::Data(last))) => last.extend_from_slice(d),
            (Piece::Data(d), _) => stream.push(Recorded::Data(d.to_vec())),
            (Piece::Gap(n), _) => stream.push(Recorded::Gap(n)),
            (Piece::Jump(n), _) => stream.push(Recorded::Jump(n)),
        }
        Ok(())
    }

    fn close(
        &mut self,
        stream: Self::Stream,
        info: &DirectionInfo<'_>,
        end: &DirectionEnd,
    ) -> Result<Option<DirectionRecord>, Error> {
        self.closed.push(RecordedDirection {
            connection: info.connection,
            src: (info.tuple.src, info.tuple.sport),
            pieces: stream,
            end: end.clone(),
        });
        Ok(None)
    }
}

/// What the consumers' unit tests share: a direction and its end.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// 10.0.0.1:`sport` to 10.0.0.2:80, of connection `connection`, counter 0.
    pub(crate) fn direction(sport: u16, connection: u64) -> DirectionInfo<'static> {
        let tuple = TcpTuple {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport,
            dport: 80,
            vlan: None,
            tunnel: 0,
        };
        DirectionInfo::new(tuple, connection, 0)
    }

    /// An end by FIN after `packets` packets, with these gaps and no jump.
    pub(crate) fn fin_end(packets: u64, gaps: Vec<(u64, u64)>) -> DirectionEnd {
        DirectionEnd {
            end: End::Fin,
            packets,
            last_ts: Timestamp::default(),
            gaps,
            jumps: Vec::new(),
            bound_jumps: Vec::new(),
            dropped_before_start: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{direction, fin_end};
    use super::*;

    fn info() -> DirectionInfo<'static> {
        direction(1234, 7)
    }

    fn ending() -> DirectionEnd {
        fin_end(3, vec![(3, 2)])
    }

    /// A consumer that records like [`Recorder`] and also returns a record,
    /// so a test can see whose record a [`Tee`] passes on.
    #[derive(Default)]
    struct Named(Recorder, &'static str);

    impl StreamConsumer for Named {
        type Stream = Vec<Recorded>;

        fn piece(
            &mut self,
            stream: &mut Self::Stream,
            info: &DirectionInfo<'_>,
            piece: Piece<'_>,
        ) -> Result<(), Error> {
            self.0.piece(stream, info, piece)
        }

        fn close(
            &mut self,
            stream: Self::Stream,
            info: &DirectionInfo<'_>,
            end: &DirectionEnd,
        ) -> Result<Option<DirectionRecord>, Error> {
            self.0.close(stream, info, end)?;
            let record = crate::output::tally::Tally::default().record(self.1.into(), info, end);
            Ok(Some(record))
        }
    }

    #[test]
    fn tee_hands_every_piece_to_both_and_passes_on_the_first_record() {
        let mut tee = Tee(
            Named(Recorder::default(), "a"),
            Named(Recorder::default(), "b"),
        );
        let mut stream = <Tee<Named, Named> as StreamConsumer>::Stream::default();
        let info = info();
        for piece in [Piece::Data(b"abc"), Piece::Gap(2), Piece::Data(b"de")] {
            tee.piece(&mut stream, &info, piece).unwrap();
        }
        let record = tee.close(stream, &info, &ending()).unwrap().unwrap();
        assert_eq!(record.file, "a");
        for side in [&tee.0 .0, &tee.1 .0] {
            assert_eq!(side.closed.len(), 1);
            let d = &side.closed[0];
            assert_eq!(d.connection, 7);
            assert_eq!(d.bytes(), b"abc\0\0de");
            assert_eq!(
                d.pieces,
                [
                    Recorded::Data(b"abc".to_vec()),
                    Recorded::Gap(2),
                    Recorded::Data(b"de".to_vec())
                ]
            );
            assert_eq!(d.end, ending());
        }
    }

    #[test]
    fn recorder_merges_adjacent_data_but_not_across_a_gap() {
        let mut r = Recorder::default();
        let mut s = Vec::new();
        let info = info();
        r.piece(&mut s, &info, Piece::Data(b"ab")).unwrap();
        r.piece(&mut s, &info, Piece::Data(b"cd")).unwrap();
        r.piece(&mut s, &info, Piece::Gap(1)).unwrap();
        r.piece(&mut s, &info, Piece::Data(b"e")).unwrap();
        assert_eq!(
            s,
            [
                Recorded::Data(b"abcd".to_vec()),
                Recorded::Gap(1),
                Recorded::Data(b"e".to_vec())
            ]
        );
    }
}
