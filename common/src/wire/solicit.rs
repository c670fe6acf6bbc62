//! Solicit body: an OBU without an upstream asks its neighbours to
//! rebroadcast the beacons they would otherwise keep to themselves (beacon
//! suppression). Broadcast, one hop, never signed: it only makes
//! neighbours repeat beacons that carry their own proof.

use super::{Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    pub const OBU: Range<usize> = 0..6;
    pub const LEN: usize = 6;
}

pub const BODY_LEN: usize = field::LEN;

/// A checked view of a solicit body.
pub struct Solicit<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Solicit<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        match buffer.as_ref().len() {
            n if n < BODY_LEN => Err(WireError::Truncated),
            BODY_LEN => Ok(Solicit { buffer }),
            _ => Err(WireError::Malformed),
        }
    }
    pub fn obu(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::OBU])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SolicitRepr {
    /// The OBU that has no upstream.
    pub obu: NodeId,
}

impl SolicitRepr {
    pub fn parse<T: AsRef<[u8]>>(s: &Solicit<T>) -> Result<SolicitRepr> {
        let obu = s.obu();
        if obu.is_group() {
            return Err(WireError::Malformed);
        }
        Ok(SolicitRepr { obu })
    }

    pub fn body_len(&self) -> usize {
        BODY_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::OBU].copy_from_slice(self.obu.as_bytes());
    }
}
