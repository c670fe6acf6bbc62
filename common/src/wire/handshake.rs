//! Handshake bodies (encrypted mode): a Noise IK exchange between an OBU
//! and its RSU, carried hop by hop like replies (init, toward the RSU) and
//! downstream data (response, toward the OBU).

use super::{be_u32, MessageType, Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    /// Sender of this message (OBU for init, RSU for response).
    pub const FROM: Range<usize> = 0..6;
    /// Its final receiver.
    pub const TO: Range<usize> = 6..12;
    /// The sender's session index (the peer puts it in its sealed data).
    pub const SENDER_INDEX: Range<usize> = 12..16;
    /// Response only: the initiator's index being answered (0 in an init).
    pub const RECEIVER_INDEX: Range<usize> = 16..20;
    pub const NOISE: usize = 20;
}

/// Bytes before the Noise message.
pub const BODY_FIXED_LEN: usize = field::NOISE;
/// Largest Noise message carried (IK messages are 96 + payload bytes; a
/// post-quantum init carries 47 + 1184 payload bytes: 1327).
pub const MAX_NOISE_LEN: usize = 1400;

/// Checked view of a handshake body.
pub struct Handshake<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Handshake<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < BODY_FIXED_LEN {
            return Err(WireError::Truncated);
        }
        if len > BODY_FIXED_LEN + MAX_NOISE_LEN {
            return Err(WireError::Malformed);
        }
        Ok(Handshake { buffer })
    }
    pub fn from(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::FROM])
    }
    pub fn to(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::TO])
    }
    pub fn sender_index(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SENDER_INDEX])
    }
    pub fn receiver_index(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::RECEIVER_INDEX])
    }
    pub fn noise(&self) -> &[u8] {
        &self.buffer.as_ref()[field::NOISE..]
    }
}

/// Parsed handshake message; `noise` borrows the Noise bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeRepr<'a> {
    /// `HandshakeInit` or `HandshakeResponse`.
    pub kind: MessageType,
    pub from: NodeId,
    pub to: NodeId,
    pub sender_index: u32,
    pub receiver_index: u32,
    pub noise: &'a [u8],
}

impl<'a> HandshakeRepr<'a> {
    pub fn parse(kind: MessageType, h: &Handshake<&'a [u8]>) -> Result<HandshakeRepr<'a>> {
        let (from, to) = (h.from(), h.to());
        if from.is_group() || to.is_group() || h.sender_index() == 0 {
            return Err(WireError::Malformed);
        }
        let b: &'a [u8] = h.buffer;
        Ok(HandshakeRepr {
            kind,
            from,
            to,
            sender_index: h.sender_index(),
            receiver_index: h.receiver_index(),
            noise: &b[field::NOISE..],
        })
    }

    pub fn body_len(&self) -> usize {
        BODY_FIXED_LEN + self.noise.len()
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::FROM].copy_from_slice(self.from.as_bytes());
        buf[field::TO].copy_from_slice(self.to.as_bytes());
        buf[field::SENDER_INDEX].copy_from_slice(&self.sender_index.to_be_bytes());
        buf[field::RECEIVER_INDEX].copy_from_slice(&self.receiver_index.to_be_bytes());
        buf[field::NOISE..field::NOISE + self.noise.len()].copy_from_slice(self.noise);
    }
}
