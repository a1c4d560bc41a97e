//! The TCP header. (Stub: to be written.)
use super::ip::Datagram;
use super::{Segment, Skip};
use crate::capture::Timestamp;

pub(crate) fn parse(
    _d: Datagram<'_>,
    _ts: Timestamp,
    _vlan: Option<u16>,
) -> Result<Segment<'_>, Skip> {
    Err(Skip::NotTcp)
}
