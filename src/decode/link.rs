//! Link-layer headers. (Stub: to be written.)
use super::Skip;
use crate::capture::LinkType;

/// The network-layer payload of a frame.
pub(crate) struct L3<'a> {
    pub payload: &'a [u8],
    /// EtherType of the payload when the link layer names it (0x0800, 0x86dd); `None` means "look at the IP version nibble".
    pub ethertype: Option<u16>,
    pub vlan: Option<u16>,
}

pub(crate) fn supported(_link: LinkType) -> bool {
    false
}

pub(crate) fn strip(link: LinkType, _data: &[u8]) -> Result<L3<'_>, Skip> {
    Err(Skip::UnsupportedLink(link.0))
}
