//! Broadcast-data body: origin, sequence (for de-duplication), IP packet.

use super::{be_u32, Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    pub const ORIGIN: Range<usize> = 0..6;
    pub const SEQ: Range<usize> = 6..10;
    pub const PAYLOAD: usize = 10;
}

/// Bytes before the IP packet.
pub const BODY_FIXED_LEN: usize = field::PAYLOAD;

/// Checked view of a broadcast-data body.
pub struct Broadcast<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Broadcast<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < BODY_FIXED_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Broadcast { buffer })
    }
    pub fn origin(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::ORIGIN])
    }
    pub fn seq(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SEQ])
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

/// Parsed broadcast-data body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BroadcastRepr<'a> {
    pub origin: NodeId,
    pub seq: u32,
    pub payload: &'a [u8],
}

impl<'a> BroadcastRepr<'a> {
    pub fn parse(d: &Broadcast<&'a [u8]>) -> Result<BroadcastRepr<'a>> {
        let b: &'a [u8] = d.buffer;
        Ok(BroadcastRepr {
            origin: d.origin(),
            seq: d.seq(),
            payload: &b[field::PAYLOAD..],
        })
    }

    /// Writes origin and sequence; the payload is sent by gather I/O.
    pub fn emit_fixed(origin: NodeId, seq: u32, buf: &mut [u8]) {
        buf[field::ORIGIN].copy_from_slice(origin.as_bytes());
        buf[field::SEQ].copy_from_slice(&seq.to_be_bytes());
    }
}
