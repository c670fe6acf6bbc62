//! The common message header that starts every v2xd message.

use super::{be_u16, MessageType, Result, WireError, VERSION};

mod field {
    use std::ops::Range;
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const FLAGS: usize = 2;
    pub const TTL: usize = 3;
    pub const LENGTH: Range<usize> = 4..6;
    pub const BODY: usize = 6;
}

/// Length of the common header in bytes.
pub const HEADER_LEN: usize = field::BODY;

/// Checked view of one message (common header + body).
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Checks that the header and the whole body its length field announces fit.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let h = Header { buffer };
        if h.buffer.as_ref().len() < HEADER_LEN + h.body_len() as usize {
            return Err(WireError::Truncated);
        }
        Ok(h)
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn body_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::LENGTH])
    }
    /// The body, exactly `body_len` bytes.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..field::BODY + self.body_len() as usize]
    }
    /// Total bytes of this message (header + body).
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.body_len() as usize
    }
}

/// Parsed common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderRepr {
    pub msg_type: MessageType,
    pub flags: u8,
    pub ttl: u8,
    pub body_len: u16,
}

impl HeaderRepr {
    pub fn parse<T: AsRef<[u8]>>(h: &Header<T>) -> Result<HeaderRepr> {
        if h.version() != VERSION {
            return Err(WireError::UnknownVersion);
        }
        let msg_type = MessageType::from_u8(h.msg_type()).ok_or(WireError::UnknownType)?;
        Ok(HeaderRepr {
            msg_type,
            flags: h.flags(),
            ttl: h.ttl(),
            body_len: h.body_len(),
        })
    }

    /// Writes the 6-byte header to the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::VERSION] = VERSION;
        buf[field::TYPE] = self.msg_type as u8;
        buf[field::FLAGS] = self.flags;
        buf[field::TTL] = self.ttl;
        buf[field::LENGTH].copy_from_slice(&self.body_len.to_be_bytes());
    }
}
