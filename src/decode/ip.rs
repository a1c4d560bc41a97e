//! IPv4 and IPv6. (Stub: to be written.)
use super::frag::FragmentTable;
use super::Skip;
use crate::capture::Timestamp;
use std::borrow::Cow;
use std::net::IpAddr;

/// A complete IP datagram carrying TCP.
pub(crate) struct Datagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The TCP header and payload, as far as captured.
    pub tcp: Cow<'a, [u8]>,
    /// Bytes the IP length promises beyond what was captured.
    pub missing: u32,
}

pub(crate) fn parse<'a>(
    _data: &'a [u8],
    _ethertype: Option<u16>,
    _ts: Timestamp,
    _frags: &mut FragmentTable,
) -> Result<Datagram<'a>, Skip> {
    Err(Skip::NotIp)
}
