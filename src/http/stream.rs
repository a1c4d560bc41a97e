//! A bounded look-ahead window over a flow file.
//!
//! Owns: reading a flow file in blocks and keeping only the unconsumed part
//! of the last blocks, so a parser can look ahead a bounded amount (a message
//! head, a chunk-size line) and hand body bytes on without holding the file.
//!
//! ```text
//!  file: |---- consumed ----|== window ==|---- not read yet ----|
//!                           ^ offset()
//! ```
//!
//! Must not: interpret the bytes. Memory is the window, which only grows as
//! far as a caller asks with [`Stream::ensure`]. A window's buffer goes back
//! to a small per-thread stock when the stream is dropped and is taken again
//! by the thread's next stream (carving opens two per connection: without
//! the stock, each allocated and zeroed a new one).

use std::cell::RefCell;
use std::io::{self, Read};

/// Buffers kept per thread for the next streams, at most.
const SPARE_BUFFERS: usize = 4;
/// Largest buffer kept for reuse (one grown far by a long head is freed).
const SPARE_MAX: usize = 4 * BLOCK;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// How much is read from the file at a time.
const BLOCK: usize = 64 * 1024;

/// A look-ahead window over a byte source, with the absolute offset of its
/// first byte.
pub(crate) struct Stream<R> {
    inner: R,
    /// The window is `buf[pos..end]`; past `end` is room for the next read
    /// (zeroed once when the buffer grows, not before every read).
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    base: u64,
    eof: bool,
}

impl<R: Read> Stream<R> {
    /// A window at offset 0 of `inner`.
    pub(crate) fn new(inner: R) -> Self {
        let buf = SPARE
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        Stream {
            inner,
            buf,
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Offset in the source of the first unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The unconsumed bytes read so far.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Read one more block. Returns the number of bytes added (0 at end).
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.pos > 0 && (self.pos >= self.end / 2 || self.pos >= BLOCK) {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() < self.end + BLOCK {
            self.buf.resize(self.end + BLOCK, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..self.end + BLOCK]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    /// Make at least `n` unconsumed bytes available if the source has them.
    /// Returns whether it has.
    pub(crate) fn ensure(&mut self, n: usize) -> io::Result<bool> {
        while self.data().len() < n {
            if self.fill()? == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether no unconsumed byte is left and none will arrive.
    pub(crate) fn is_empty(&mut self) -> io::Result<bool> {
        Ok(!self.ensure(1)?)
    }

    /// Drop `n` bytes from the front of the window (at most what is there).
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos += n.min(self.end - self.pos);
    }

    /// Pass the next `n` bytes (or fewer at end of source) to `f`, block by
    /// block, consuming them. Returns how many were passed. Stops early,
    /// without consuming the rest, if `f` returns `false`.
    pub(crate) fn take(&mut self, n: u64, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<u64> {
        let mut done = 0u64;
        while done < n {
            if self.data().is_empty() && self.fill()? == 0 {
                break;
            }
            let avail = self.data();
            let k = usize::try_from(n - done)
                .unwrap_or(usize::MAX)
                .min(avail.len());
            let keep_going = f(&avail[..k]);
            self.consume(k);
            done += k as u64;
            if !keep_going {
                break;
            }
        }
        Ok(done)
    }
}

impl<R> Drop for Stream<R> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() <= SPARE_MAX {
            // Gone at thread exit: nothing to keep then.
            let _ = SPARE.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SPARE_BUFFERS {
                    s.push(buf);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_tracks_offsets_across_blocks() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = Stream::new(&data[..]);
        assert!(s.ensure(10).unwrap());
        s.consume(10);
        assert_eq!(s.offset(), 10);
        let mut seen = Vec::new();
        let n = s
            .take(150_000, |b| {
                seen.extend_from_slice(b);
                true
            })
            .unwrap();
        assert_eq!(n, 150_000);
        assert_eq!(&seen[..], &data[10..150_010]);
        assert_eq!(s.offset(), 150_010);
        assert!(s.ensure(5).unwrap());
        assert_eq!(&s.data()[..5], &data[150_010..150_015]);
        assert_eq!(s.take(u64::MAX, |_| true).unwrap(), 200_000 - 150_010);
        assert!(s.is_empty().unwrap());
    }
}
