//! A scripted TCP connection: the caller lists what happens (handshake, data
//! from either side at any stream offset, retransmissions, probes, FIN, RST)
//! and [`TcpConversation`] numbers the segments, fills in acknowledgments and
//! windows, and stamps each frame with an increasing capture time.
//!
//! Stream offsets are relative: offset 0 is the first data byte after the
//! SYN, whose sequence number is ISN + 1. Sequence numbers wrap modulo 2^32,
//! offsets do not.

use super::frame::{
    FragOrder, Fragmentation, FrameBuilder, Link, TcpHeader, ACK, FIN, PSH, RST, SYN,
};
use super::PacketSink;
use crate::Timestamp;
use std::io;
use std::net::SocketAddr;

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The end that sends the first SYN.
    Client,
    /// The end that answers it.
    Server,
}

impl Side {
    /// The other end.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    fn idx(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}

/// Capture time for the next frame: every frame takes the current time, then
/// the clock moves on by `step_nanos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The time the next frame gets.
    pub now: Timestamp,
    /// How far the clock moves after each frame.
    pub step_nanos: u64,
}

impl Clock {
    /// A clock at `start` moving `step_nanos` per frame.
    pub fn new(start: Timestamp, step_nanos: u64) -> Self {
        Clock {
            now: start,
            step_nanos,
        }
    }

    /// The current time; the clock then moves one step on.
    pub fn tick(&mut self) -> Timestamp {
        let t = self.now;
        self.advance(self.step_nanos);
        t
    }

    /// Move the clock `nanos` nanoseconds on without emitting a frame (idle time).
    pub fn advance(&mut self, nanos: u64) {
        let total = u64::from(self.now.nanos) + nanos % 1_000_000_000;
        let secs = (nanos / 1_000_000_000 + total / 1_000_000_000) as i64;
        self.now = Timestamp::new(self.now.secs + secs, (total % 1_000_000_000) as u32);
    }
}

/// A scripted TCP connection between a client and a server endpoint.
///
/// Every method that emits frames takes the [`PacketSink`] to write them to,
/// so several conversations can be interleaved into one capture (share a
/// time line by copying [`TcpConversation::clock`] between them).
#[derive(Debug, Clone)]
pub struct TcpConversation {
    /// Builds the frames; change its link or IP options at any point.
    pub builder: FrameBuilder,
    /// Capture time of the next frame.
    pub clock: Clock,
    /// Put a TCP timestamps option on every segment (on by default, as Linux does).
    pub tcp_timestamps: bool,
    ends: [SocketAddr; 2],
    isn: [u32; 2],
    /// Per side: stream offset of the next new byte.
    next: [u64; 2],
    /// Per side: a FIN has been sent (it takes one sequence number).
    fin: [bool; 2],
    ident: [u32; 2],
    window: [u16; 2],
    frames: u32,
}

impl TcpConversation {
    /// A conversation between `client` and `server` (both IPv4 or both IPv6)
    /// over `link`, its first frame at `start`, one millisecond between
    /// frames, client ISN 1000 and server ISN 500000.
    pub fn new(link: Link, client: SocketAddr, server: SocketAddr, start: Timestamp) -> Self {
        TcpConversation {
            builder: FrameBuilder::new(link),
            clock: Clock::new(start, 1_000_000),
            tcp_timestamps: true,
            ends: [client, server],
            isn: [1000, 500_000],
            next: [0, 0],
            fin: [false, false],
            ident: [0x1000, 0x8000],
            window: [64240, 65160],
            frames: 0,
        }
    }

    /// Set the initial sequence numbers (e.g. near 2^32 for wraparound).
    pub fn with_isn(mut self, client: u32, server: u32) -> Self {
        self.isn = [client, server];
        self
    }

    /// The endpoint of `side`.
    pub fn endpoint(&self, side: Side) -> SocketAddr {
        self.ends[side.idx()]
    }

    /// The sequence number of stream offset `offset` of `side`.
    pub fn seq_of(&self, side: Side, offset: u64) -> u32 {
        self.isn[side.idx()]
            .wrapping_add(1)
            .wrapping_add(offset as u32)
    }

    /// Stream offset of the next new byte `side` will send.
    pub fn next_offset(&self, side: Side) -> u64 {
        self.next[side.idx()]
    }

    /// The window `side` advertises from now on.
    pub fn set_window(&mut self, side: Side, window: u16) {
        self.window[side.idx()] = window;
    }

    /// What `side` acknowledges: everything the other side has sent so far.
    fn ack_of(&self, side: Side) -> u32 {
        let o = side.other().idx();
        self.seq_of(side.other(), self.next[o])
            .wrapping_add(u32::from(self.fin[o]))
    }

    fn header(&mut self, side: Side, seq: u32, flags: u8) -> TcpHeader {
        let i = side.idx();
        self.frames += 1;
        let ack = if flags & ACK != 0 {
            self.ack_of(side)
        } else {
            0
        };
        TcpHeader {
            sport: self.ends[i].port(),
            dport: self.ends[1 - i].port(),
            seq,
            ack,
            flags,
            window: self.window[i],
            mss: if flags & SYN != 0 { Some(1460) } else { None },
            timestamps: if self.tcp_timestamps {
                Some((self.frames, self.frames.saturating_sub(1)))
            } else {
                None
            },
        }
    }

    /// Emit one segment from `side` with sequence number `seq`, `flags` and
    /// `data`, changing no state: the primitive under every other method, and
    /// the way to send anything unusual.
    pub fn send_seq(
        &mut self,
        side: Side,
        seq: u32,
        flags: u8,
        data: &[u8],
        out: &mut impl PacketSink,
    ) -> io::Result<()> {
        let h = self.header(side, seq, flags);
        let i = side.idx();
        let (src, dst) = (self.ends[i].ip(), self.ends[1 - i].ip());
        let ident = self.ident[i];
        self.ident[i] = ident.wrapping_add(1);
        let ts = self.clock.tick();
        let frame = self.builder.tcp(src, dst, ident, &h, data);
        out.frame(ts, frame)
    }

    /// `side` opens: SYN from the client, SYN+ACK from the server.
    pub fn syn(&mut self, side: Side, out: &mut impl PacketSink) -> io::Result<()> {
        let flags = match side {
            Side::Client => SYN,
            Side::Server => SYN | ACK,
        };
        let seq = self.isn[side.idx()];
        self.send_seq(side, seq, flags, &[], out)
    }

    /// A pure ACK from `side` of everything received so far.
    pub fn ack(&mut self, side: Side, out: &mut impl PacketSink) -> io::Result<()> {
        let seq = self
            .seq_of(side, self.next[side.idx()])
            .wrapping_add(u32::from(self.fin[side.idx()]));
        self.send_seq(side, seq, ACK, &[], out)
    }

    /// The three-way handshake: SYN, SYN+ACK, ACK.
    pub fn handshake(&mut self, out: &mut impl PacketSink) -> io::Result<()> {
        self.syn(Side::Client, out)?;
        self.syn(Side::Server, out)?;
        self.ack(Side::Client, out)
    }

    /// `side` sends `data` as its next bytes (PSH+ACK).
    pub fn send(&mut self, side: Side, data: &[u8], out: &mut impl PacketSink) -> io::Result<()> {
        let at = self.next[side.idx()];
        self.send_at(side, at, data, out)
    }

    /// `side` sends `data` at stream offset `offset`: before the next new byte
    /// it is a retransmission or overlap, after it the bytes between are left
    /// out (until sent later, or for ever: a gap). The next new byte becomes
    /// the end of `data` if that is further on.
    pub fn send_at(
        &mut self,
        side: Side,
        offset: u64,
        data: &[u8],
        out: &mut impl PacketSink,
    ) -> io::Result<()> {
        self.send_at_with_flags(side, offset, PSH | ACK, data, out)
    }

    /// [`TcpConversation::send_at`] with explicit flags (e.g. `ACK | FIN` to
    /// piggyback a FIN on the last data; the FIN is then recorded as sent).
    pub fn send_at_with_flags(
        &mut self,
        side: Side,
        offset: u64,
        flags: u8,
        data: &[u8],
        out: &mut impl PacketSink,
    ) -> io::Result<()> {
        let i = side.idx();
        let end = offset + data.len() as u64;
        if end > self.next[i] {
            self.next[i] = end;
        }
        let seq = self.seq_of(side, offset);
        self.send_seq(side, seq, flags, data, out)?;
        if flags & FIN != 0 {
            self.fin[i] = true;
        }
        Ok(())
    }

    /// `side` sends `data` as its next bytes in one TCP segment split into IP
    /// fragments of `frag_size` bytes (see [`Fragmentation`]),
    /// each frame getting its own capture time.
    pub fn send_fragmented(
        &mut self,
        side: Side,
        data: &[u8],
        frag_size: usize,
        order: FragOrder,
        out: &mut impl PacketSink,
    ) -> io::Result<()> {
        let i = side.idx();
        let seq = self.seq_of(side, self.next[i]);
        self.next[i] += data.len() as u64;
        let h = self.header(side, seq, PSH | ACK);
        let (src, dst) = (self.ends[i].ip(), self.ends[1 - i].ip());
        let ident = self.ident[i];
        self.ident[i] = ident.wrapping_add(1);
        let frag = Fragmentation {
            ident,
            size: frag_size,
            order,
        };
        let clock = &mut self.clock;
        self.builder
            .tcp_fragments(src, dst, &h, data, frag, |f| out.frame(clock.tick(), f))
    }

    /// Skip `n` bytes of `side`'s stream: they are never sent (a gap), and the
    /// next [`TcpConversation::send`] continues after them.
    pub fn skip(&mut self, side: Side, n: u64) {
        self.next[side.idx()] += n;
    }

    /// `side` sends a FIN (with ACK) after its last byte.
    pub fn fin(&mut self, side: Side, out: &mut impl PacketSink) -> io::Result<()> {
        let i = side.idx();
        let seq = self.seq_of(side, self.next[i]);
        self.send_seq(side, seq, FIN | ACK, &[], out)?;
        self.fin[i] = true;
        Ok(())
    }

    /// The usual orderly close: client FIN, server FIN, client ACK.
    pub fn close(&mut self, out: &mut impl PacketSink) -> io::Result<()> {
        self.fin(Side::Client, out)?;
        self.fin(Side::Server, out)?;
        self.ack(Side::Client, out)
    }

    /// `side` resets the connection (RST with ACK, at its next sequence number).
    pub fn rst(&mut self, side: Side, out: &mut impl PacketSink) -> io::Result<()> {
        let i = side.idx();
        let seq = self.seq_of(side, self.next[i]);
        self.send_seq(side, seq, RST | ACK, &[], out)
    }

    /// A keepalive probe from `side`: an ACK with sequence number one below the
    /// next byte, carrying no data (Linux) or one garbage byte (`Some(b)`, as
    /// older BSD and Windows stacks do). That byte repeats an offset already
    /// sent, with different contents; it must never reach the stream.
    pub fn keepalive(
        &mut self,
        side: Side,
        garbage: Option<u8>,
        out: &mut impl PacketSink,
    ) -> io::Result<()> {
        let seq = self.seq_of(side, self.next[side.idx()]).wrapping_sub(1);
        match garbage {
            Some(b) => self.send_seq(side, seq, ACK, &[b], out),
            None => self.send_seq(side, seq, ACK, &[], out),
        }
    }

    /// A zero-window probe from `side`: the next byte of its stream (`byte`),
    /// sent while the peer advertises a zero window. The probe does not move
    /// the stream on: the same byte is sent again by the next
    /// [`TcpConversation::send`].
    pub fn zero_window_probe(
        &mut self,
        side: Side,
        byte: u8,
        out: &mut impl PacketSink,
    ) -> io::Result<()> {
        let seq = self.seq_of(side, self.next[side.idx()]);
        self.send_seq(side, seq, ACK, &[byte], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{SlicedPacket, TransportSlice};

    fn segments(frames: &[(Timestamp, Vec<u8>)]) -> Vec<(u32, u32, u8, Vec<u8>)> {
        frames
            .iter()
            .map(|(_, f)| {
                let p = SlicedPacket::from_ethernet(f).unwrap();
                let Some(TransportSlice::Tcp(t)) = p.transport else {
                    panic!("not TCP")
                };
                let flags = u8::from(t.fin())
                    | u8::from(t.syn()) << 1
                    | u8::from(t.rst()) << 2
                    | u8::from(t.psh()) << 3
                    | u8::from(t.ack()) << 4;
                (
                    t.sequence_number(),
                    t.acknowledgment_number(),
                    flags,
                    t.payload().to_vec(),
                )
            })
            .collect()
    }

    fn conv() -> TcpConversation {
        TcpConversation::new(
            Link::ethernet(),
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            Timestamp::new(100, 999_500_000),
        )
    }

    #[test]
    fn handshake_data_and_close_are_numbered() {
        let mut c = conv();
        let mut v: Vec<(Timestamp, Vec<u8>)> = Vec::new();
        c.handshake(&mut v).unwrap();
        c.send(Side::Client, b"abc", &mut v).unwrap();
        c.send(Side::Server, b"hello", &mut v).unwrap();
        c.close(&mut v).unwrap();
        let s = segments(&v);
        assert_eq!(s[0], (1000, 0, SYN, vec![]));
        assert_eq!(s[1], (500_000, 1001, SYN | ACK, vec![]));
        assert_eq!(s[2], (1001, 500_001, ACK, vec![]));
        assert_eq!(s[3], (1001, 500_001, PSH | ACK, b"abc".to_vec()));
        assert_eq!(s[4], (500_001, 1004, PSH | ACK, b"hello".to_vec()));
        assert_eq!(s[5], (1004, 500_006, FIN | ACK, vec![]));
        assert_eq!(s[6], (500_006, 1005, FIN | ACK, vec![]));
        assert_eq!(s[7], (1005, 500_007, ACK, vec![]));
        assert_eq!(v[0].0, Timestamp::new(100, 999_500_000));
        assert_eq!(v[1].0, Timestamp::new(101, 500_000));
    }

    #[test]
    fn offsets_wrap_sequence_numbers_and_gaps_advance() {
        let mut c = conv().with_isn(0xffff_fffe, 7);
        let mut v: Vec<(Timestamp, Vec<u8>)> = Vec::new();
        c.send(Side::Client, b"ab", &mut v).unwrap();
        c.skip(Side::Client, 3);
        c.send(Side::Client, b"cd", &mut v).unwrap();
        c.send_at(Side::Client, 1, b"b", &mut v).unwrap();
        c.keepalive(Side::Client, Some(0), &mut v).unwrap();
        c.zero_window_probe(Side::Client, b'e', &mut v).unwrap();
        let s = segments(&v);
        assert_eq!(s[0].0, 0xffff_ffff);
        assert_eq!(s[1].0, 4);
        assert_eq!(s[2].0, 0);
        assert_eq!((s[3].0, &s[3].3[..]), (5, &[0u8][..]));
        assert_eq!((s[4].0, &s[4].3[..]), (6, &b"e"[..]));
        assert_eq!(c.next_offset(Side::Client), 7);
    }

    #[test]
    fn clock_carries_seconds() {
        let mut k = Clock::new(Timestamp::new(1, 900_000_000), 250_000_000);
        k.tick();
        assert_eq!(k.now, Timestamp::new(2, 150_000_000));
        k.advance(61_900_000_000);
        assert_eq!(k.now, Timestamp::new(64, 50_000_000));
    }
}
