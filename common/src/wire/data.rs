//! Data body (upstream and downstream): origin, destination, IP packet.
//!
//! With the header flag [`FLAG_SEALED`](super::FLAG_SEALED) (encrypted
//! mode) the IP packet is replaced by a sealed box: the receiver's session
//! index, the nonce counter, the ciphertext and the AEAD tag. Relays
//! forward the box unchanged; only the destination opens it.

use super::{be_u32, be_u64, HeaderRepr, MessageType, Result, WireError, HEADER_LEN};
use crate::NodeId;
use std::ops::Range;

mod field {
    use std::ops::Range;
    pub const ORIGIN: Range<usize> = 0..6;
    pub const DEST: Range<usize> = 6..12;
    pub const PAYLOAD: usize = 12;
    // Inside a sealed payload.
    pub const SEALED_INDEX: Range<usize> = 0..4;
    pub const SEALED_COUNTER: Range<usize> = 4..12;
    pub const SEALED_CIPHERTEXT: usize = 12;
}

/// Bytes before the IP packet.
pub const BODY_FIXED_LEN: usize = field::PAYLOAD;
/// Bytes of a sealed payload before the ciphertext (index + counter).
pub const SEALED_PREFIX_LEN: usize = field::SEALED_CIPHERTEXT;
/// Bytes of the AEAD tag after the ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes sealing adds to an IP packet.
pub const SEALED_OVERHEAD: usize = SEALED_PREFIX_LEN + TAG_LEN;

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

/// Checked view of a sealed payload (index, counter, ciphertext, tag).
pub struct Sealed<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sealed<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < SEALED_OVERHEAD {
            return Err(WireError::Truncated);
        }
        Ok(Sealed { buffer })
    }
    pub fn index(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SEALED_INDEX])
    }
    pub fn counter(&self) -> u64 {
        be_u64(&self.buffer.as_ref()[field::SEALED_COUNTER])
    }
    /// Where the ciphertext (later: the plaintext) lies in the payload.
    pub fn text_range(&self) -> Range<usize> {
        field::SEALED_CIPHERTEXT..self.buffer.as_ref().len() - TAG_LEN
    }
    pub fn tag_range(&self) -> Range<usize> {
        let n = self.buffer.as_ref().len();
        n - TAG_LEN..n
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Sealed<T> {
    pub fn set_index(&mut self, i: u32) {
        self.buffer.as_mut()[field::SEALED_INDEX].copy_from_slice(&i.to_be_bytes());
    }
    pub fn set_counter(&mut self, c: u64) {
        self.buffer.as_mut()[field::SEALED_COUNTER].copy_from_slice(&c.to_be_bytes());
    }
}

/// Parsed data message body; `payload` borrows the IP packet (or, sealed,
/// the sealed box).
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

/// Writes a data message's common header and its origin/destination into
/// `h`; `body_len` counts everything after the common header.
#[allow(clippy::too_many_arguments)]
pub fn emit_data_header(
    h: &mut [u8],
    kind: MessageType,
    flags: u8,
    ttl: u8,
    body_len: usize,
    origin: NodeId,
    dest: NodeId,
) {
    HeaderRepr {
        msg_type: kind,
        flags,
        ttl,
        body_len: body_len as u16,
    }
    .emit(h);
    DataRepr::emit_fixed(origin, dest, &mut h[HEADER_LEN..]);
}

/// A whole sealed-data message from `origin` to `dest` with `text` where
/// the plaintext goes, ready to be sealed in place: what the session code
/// seals (tests, benches). The send path builds the same in its header store.
pub fn sealable_data_message(
    kind: MessageType,
    ttl: u8,
    origin: NodeId,
    dest: NodeId,
    text: &[u8],
) -> Vec<u8> {
    let mut m = vec![0u8; super::DATA_OVERHEAD + SEALED_OVERHEAD + text.len()];
    let body_len = m.len() - HEADER_LEN;
    emit_data_header(
        &mut m,
        kind,
        super::FLAG_SEALED,
        ttl,
        body_len,
        origin,
        dest,
    );
    let t = super::DATA_OVERHEAD + SEALED_PREFIX_LEN;
    m[t..t + text.len()].copy_from_slice(text);
    m
}
