//! A capture time packed for per-direction state: the same value as a
//! [`Timestamp`], in 12 bytes aligned to 4 instead of 16 aligned to 8, so
//! that it packs with the 4-byte fields around it. A million open
//! connections keep three each.

use crate::capture::Timestamp;

/// A [`Timestamp`] in 12 bytes, without loss: seconds split into two
/// halves, nanoseconds as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    secs_lo: u32,
    secs_hi: u32,
    nanos: u32,
}

impl Stamp {
    /// The timestamp packed.
    #[inline]
    pub fn pack(ts: Timestamp) -> Stamp {
        let secs = ts.secs as u64;
        Stamp {
            secs_lo: secs as u32,
            secs_hi: (secs >> 32) as u32,
            nanos: ts.nanos,
        }
    }

    /// The timestamp back, exactly as packed.
    #[inline]
    pub fn get(self) -> Timestamp {
        let secs = (u64::from(self.secs_hi) << 32 | u64::from(self.secs_lo)) as i64;
        Timestamp {
            secs,
            nanos: self.nanos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timestamp_comes_back_exactly() {
        for secs in [
            0,
            1,
            -1,
            1_700_000_000,
            i64::MAX,
            i64::MIN,
            1 << 32,
            -(1 << 32) - 7,
        ] {
            for nanos in [0, 1, 999_999_999] {
                let ts = Timestamp { secs, nanos };
                assert_eq!(Stamp::pack(ts).get(), ts);
            }
        }
        assert_eq!(Stamp::default().get(), Timestamp::default());
        assert_eq!(std::mem::size_of::<Stamp>(), 12);
    }
}
