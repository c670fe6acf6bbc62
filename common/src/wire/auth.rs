//! Authentication trailers of signed control messages (header flag
//! [`FLAG_SIGNED`](super::FLAG_SIGNED)), and which bytes a signature covers.
//!
//! A signed Beacon or BeaconReply is its plain body followed by a trailer.
//! The signature covers the whole message except the fields relays change
//! (header TTL, beacon hop count and hop-chain element) and itself.

use super::{be_u64, HEADER_LEN};
use std::ops::Range;

mod field {
    use std::ops::Range;
    // Beacon trailer.
    pub const B_TIME: Range<usize> = 0..8;
    pub const B_ANCHOR: Range<usize> = 8..24;
    pub const B_ELEMENT: Range<usize> = 24..40;
    pub const B_KEY: Range<usize> = 40..72;
    pub const B_SIG: Range<usize> = 72..136;
    pub const B_LEN: usize = 136;
    // BeaconReply trailer.
    pub const R_TIME: Range<usize> = 0..8;
    pub const R_KEY: Range<usize> = 8..40;
    pub const R_SIG: Range<usize> = 40..104;
    pub const R_LEN: usize = 104;
    // Trailer of broadcast data and probes: signed under a certified key.
    pub const C_TIME: Range<usize> = 0..8;
    pub const C_CERT: Range<usize> = 8..159;
    pub const C_SIG: Range<usize> = 159..223;
    pub const C_LEN: usize = 223;
}

/// Bytes of a beacon's trailer.
pub const BEACON_AUTH_LEN: usize = field::B_LEN;
/// Bytes of a beacon reply's trailer.
pub const REPLY_AUTH_LEN: usize = field::R_LEN;
/// Bytes of the trailer of signed broadcast data and probes.
pub const CERT_AUTH_LEN: usize = field::C_LEN;
/// Bytes of one element of a beacon's hop chain.
pub const CHAIN_LEN: usize = 16;
/// Bytes of a public key / signature.
pub const KEY_LEN: usize = 32;
pub const SIG_LEN: usize = 64;

/// Offset of the TTL inside a message (excluded from signatures).
const TTL_OFFSET: usize = 3;
/// Offset of the hop count inside a beacon body (see `beacon.rs`).
const BEACON_HOPS_OFFSET: usize = 10;

/// Checked view of a beacon's trailer.
pub struct BeaconAuth<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> BeaconAuth<T> {
    /// `None` unless exactly [`BEACON_AUTH_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() == BEACON_AUTH_LEN).then_some(BeaconAuth { buffer })
    }
    /// Generation time, microseconds since the Unix epoch.
    pub fn time_us(&self) -> u64 {
        be_u64(&self.buffer.as_ref()[field::B_TIME])
    }
    /// Last element of the hop chain, signed by the RSU.
    pub fn anchor(&self) -> &[u8] {
        &self.buffer.as_ref()[field::B_ANCHOR]
    }
    /// Hop-chain element for the hop count carried.
    pub fn element(&self) -> &[u8] {
        &self.buffer.as_ref()[field::B_ELEMENT]
    }
    pub fn key(&self) -> &[u8] {
        &self.buffer.as_ref()[field::B_KEY]
    }
    pub fn signature(&self) -> &[u8] {
        &self.buffer.as_ref()[field::B_SIG]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> BeaconAuth<T> {
    pub fn set_time_us(&mut self, t: u64) {
        self.buffer.as_mut()[field::B_TIME].copy_from_slice(&t.to_be_bytes());
    }
    pub fn anchor_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::B_ANCHOR]
    }
    pub fn element_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::B_ELEMENT]
    }
    pub fn key_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::B_KEY]
    }
    pub fn signature_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::B_SIG]
    }
}

/// Checked view of a beacon reply's trailer.
pub struct ReplyAuth<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ReplyAuth<T> {
    /// `None` unless exactly [`REPLY_AUTH_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() == REPLY_AUTH_LEN).then_some(ReplyAuth { buffer })
    }
    pub fn time_us(&self) -> u64 {
        be_u64(&self.buffer.as_ref()[field::R_TIME])
    }
    pub fn key(&self) -> &[u8] {
        &self.buffer.as_ref()[field::R_KEY]
    }
    pub fn signature(&self) -> &[u8] {
        &self.buffer.as_ref()[field::R_SIG]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReplyAuth<T> {
    pub fn set_time_us(&mut self, t: u64) {
        self.buffer.as_mut()[field::R_TIME].copy_from_slice(&t.to_be_bytes());
    }
    pub fn key_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::R_KEY]
    }
    pub fn signature_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::R_SIG]
    }
}

/// Checked view of the trailer of a message signed under a certified key
/// (broadcast data, probes): generation time, the signer's certificate, the
/// signature.
pub struct CertAuth<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CertAuth<T> {
    /// `None` unless exactly [`CERT_AUTH_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Option<Self> {
        (buffer.as_ref().len() == CERT_AUTH_LEN).then_some(CertAuth { buffer })
    }
    pub fn time_us(&self) -> u64 {
        be_u64(&self.buffer.as_ref()[field::C_TIME])
    }
    pub fn cert(&self) -> &[u8] {
        &self.buffer.as_ref()[field::C_CERT]
    }
    pub fn signature(&self) -> &[u8] {
        &self.buffer.as_ref()[field::C_SIG]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CertAuth<T> {
    pub fn set_time_us(&mut self, t: u64) {
        self.buffer.as_mut()[field::C_TIME].copy_from_slice(&t.to_be_bytes());
    }
    pub fn cert_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::C_CERT]
    }
}

/// Where the trailer starts in a signed message of `msg_len` bytes.
fn trailer_start(msg_len: usize, trailer_len: usize) -> Option<usize> {
    msg_len
        .checked_sub(trailer_len)
        .filter(|s| *s >= HEADER_LEN)
}

/// The bytes a beacon's signature covers, written into `out` (cleared
/// first): the message without its signature, with TTL, hop count and
/// hop-chain element zeroed. `None` if `msg` is not a whole signed beacon.
pub fn beacon_signed_bytes(msg: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = trailer_start(msg.len(), BEACON_AUTH_LEN)?;
    if start < HEADER_LEN + BEACON_HOPS_OFFSET + 1 {
        return None;
    }
    out.clear();
    out.extend_from_slice(&msg[..start + field::B_SIG.start]);
    out[TTL_OFFSET] = 0;
    out[HEADER_LEN + BEACON_HOPS_OFFSET] = 0;
    out[start + field::B_ELEMENT.start..start + field::B_ELEMENT.end].fill(0);
    Some(())
}

/// The bytes a reply's signature covers: the message without its
/// signature, TTL zeroed.
pub fn reply_signed_bytes(msg: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = trailer_start(msg.len(), REPLY_AUTH_LEN)?;
    out.clear();
    out.extend_from_slice(&msg[..start + field::R_SIG.start]);
    out[TTL_OFFSET] = 0;
    Some(())
}

/// The bytes a certified signature (broadcast data, probes) covers: the
/// message without its signature, TTL zeroed.
pub fn certified_signed_bytes(msg: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = trailer_start(msg.len(), CERT_AUTH_LEN)?;
    out.clear();
    out.extend_from_slice(&msg[..start + field::C_SIG.start]);
    out[TTL_OFFSET] = 0;
    Some(())
}

/// Range of the beacon hop-count byte inside a whole message.
pub fn beacon_hops_offset() -> usize {
    HEADER_LEN + BEACON_HOPS_OFFSET
}

/// Range of the trailer inside a whole signed message of `msg_len` bytes.
pub fn trailer_range(msg_len: usize, trailer_len: usize) -> Option<Range<usize>> {
    trailer_start(msg_len, trailer_len).map(|s| s..msg_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bytes_ignore_mutable_fields() {
        let mut msg = vec![7u8; HEADER_LEN + crate::wire::BEACON_BODY_LEN + BEACON_AUTH_LEN];
        let mut a = Vec::new();
        beacon_signed_bytes(&msg, &mut a).unwrap();
        msg[3] = 1; // TTL
        msg[HEADER_LEN + 10] = 9; // hops
        let t = HEADER_LEN + crate::wire::BEACON_BODY_LEN;
        msg[t + 30] ^= 0xff; // chain element
        let n = msg.len();
        msg[n - 1] ^= 0xff; // signature
        let mut b = Vec::new();
        beacon_signed_bytes(&msg, &mut b).unwrap();
        assert_eq!(a, b);
        msg[t + 2] ^= 1; // generation time is covered
        beacon_signed_bytes(&msg, &mut b).unwrap();
        assert_ne!(a, b);
        assert!(beacon_signed_bytes(&msg[..50], &mut b).is_none());
    }

    #[test]
    fn reply_signed_bytes_cover_all_but_ttl_and_signature() {
        let mut msg = vec![3u8; HEADER_LEN + 26 + REPLY_AUTH_LEN];
        let mut a = Vec::new();
        reply_signed_bytes(&msg, &mut a).unwrap();
        msg[3] = 0;
        let mut b = Vec::new();
        reply_signed_bytes(&msg, &mut b).unwrap();
        assert_eq!(a, b);
        msg[HEADER_LEN + 24] ^= 1; // hops are covered
        reply_signed_bytes(&msg, &mut b).unwrap();
        assert_ne!(a, b);
        assert!(reply_signed_bytes(&msg[..20], &mut b).is_none());
    }
}
