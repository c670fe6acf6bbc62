//! Ethernet II header.

use super::{be_u16, Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

pub const ETH_HEADER_LEN: usize = field::PAYLOAD;

/// Checked view of an Ethernet II frame.
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < ETH_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EthernetFrame { buffer })
    }
    pub fn dst(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::DST])
    }
    pub fn src(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::SRC])
    }
    pub fn ethertype(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::ETHERTYPE])
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

/// Parsed Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: NodeId,
    pub src: NodeId,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr {
            dst: f.dst(),
            src: f.src(),
            ethertype: f.ethertype(),
        }
    }

    /// Writes the 14-byte header to the start of `buf` (at least 14 bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::DST].copy_from_slice(self.dst.as_bytes());
        buf[field::SRC].copy_from_slice(self.src.as_bytes());
        buf[field::ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes());
    }
}
