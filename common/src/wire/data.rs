//! Data body (upstream and downstream): origin, destination, IP packet.

use super::{Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    pub const ORIGIN: Range<usize> = 0..6;
    pub const DEST: Range<usize> = 6..12;
    pub const PAYLOAD: usize = 12;
}

/// Bytes before the IP packet.
pub const BODY_FIXED_LEN: usize = field::PAYLOAD;

/// Checked view of a data body.
pub struct Data<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Data<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < BODY_FIXED_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Data { buffer })
    }
    pub fn origin(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::ORIGIN])
    }
    pub fn dest(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::DEST])
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

/// Parsed data message body; `payload` borrows the IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRepr<'a> {
    pub origin: NodeId,
    pub dest: NodeId,
    pub payload: &'a [u8],
}

impl<'a> DataRepr<'a> {
    pub fn parse(d: &Data<&'a [u8]>) -> Result<DataRepr<'a>> {
        let b: &'a [u8] = d.buffer;
        Ok(DataRepr {
            origin: d.origin(),
            dest: d.dest(),
            payload: &b[field::PAYLOAD..],
        })
    }

    /// Writes origin and destination (the fixed part); the payload is sent
    /// from where it already lies (gather I/O), so it is not copied here.
    pub fn emit_fixed(origin: NodeId, dest: NodeId, buf: &mut [u8]) {
        buf[field::ORIGIN].copy_from_slice(origin.as_bytes());
        buf[field::DEST].copy_from_slice(dest.as_bytes());
    }
}
