//! Beacon body: RSU → flooded.

use super::{be_u16, be_u32, be_u64, Result, WireError};
use crate::NodeId;

mod field {
    use std::ops::Range;
    pub const RSU: Range<usize> = 0..6;
    pub const SEQ: Range<usize> = 6..10;
    pub const HOPS: usize = 10;
    pub const RESERVED: usize = 11;
    pub const TIMESTAMP: Range<usize> = 12..20;
    pub const INTERVAL: Range<usize> = 20..22;
    pub const EPOCH: Range<usize> = 22..26;
    pub const FLAGS: usize = 26;
    pub const PREFERENCE: usize = 27;
    pub const LEN: usize = 28;
}

pub const BODY_LEN: usize = field::LEN;
/// The body before the epoch field was added: still accepted, as epoch 0.
pub const BODY_LEN_V1_0: usize = field::EPOCH.start;
/// Body length of beacons from before the uplink state (uplink counted as
/// up, preference 0).
pub const BODY_LEN_V1_1: usize = field::FLAGS;
/// Beacon flag: the RSU's uplink to the backbone is down.
pub const FLAG_NO_UPLINK: u8 = 0x01;

/// Checked view of a beacon body.
pub struct Beacon<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Beacon<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < BODY_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Beacon { buffer })
    }
    pub fn rsu(&self) -> NodeId {
        NodeId::from_slice(&self.buffer.as_ref()[field::RSU])
    }
    pub fn seq(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SEQ])
    }
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }
    pub fn timestamp_us(&self) -> u64 {
        be_u64(&self.buffer.as_ref()[field::TIMESTAMP])
    }
    pub fn interval_ms(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::INTERVAL])
    }
    pub fn epoch(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::EPOCH])
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn preference(&self) -> u8 {
        self.buffer.as_ref()[field::PREFERENCE]
    }
}

/// Parsed beacon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconRepr {
    /// The RSU that originated the beacon.
    pub rsu: NodeId,
    /// Per-RSU sequence number (wraps).
    pub seq: u32,
    /// Hops travelled so far: 0 when sent by the RSU itself.
    pub hops: u8,
    /// The RSU's clock in microseconds when it sent the beacon.
    pub timestamp_us: u64,
    /// The RSU's beacon interval.
    pub interval_ms: u16,
    /// Chosen at random by each RSU process: a new epoch tells OBUs that
    /// the RSU restarted (its sequence starts afresh, its sessions are gone).
    /// 0: none (a 22-byte beacon of a node from before the epoch).
    pub epoch: u32,
    /// Whether the RSU's uplink to the backbone is up (`[backbone]
    /// uplink_check`; always true without one).
    pub uplink: bool,
    /// The operator's preference for this RSU (higher is preferred).
    pub preference: u8,
}

impl BeaconRepr {
    pub fn parse<T: AsRef<[u8]>>(b: &Beacon<T>) -> Result<BeaconRepr> {
        let rsu = b.rsu();
        if rsu.is_group() {
            return Err(WireError::Malformed);
        }
        Ok(BeaconRepr {
            rsu,
            seq: b.seq(),
            hops: b.hops(),
            timestamp_us: b.timestamp_us(),
            interval_ms: b.interval_ms(),
            epoch: b.epoch(),
            uplink: b.flags() & FLAG_NO_UPLINK == 0,
            preference: b.preference(),
        })
    }

    pub fn body_len(&self) -> usize {
        BODY_LEN
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::RSU].copy_from_slice(self.rsu.as_bytes());
        buf[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::HOPS] = self.hops;
        buf[field::RESERVED] = 0;
        buf[field::TIMESTAMP].copy_from_slice(&self.timestamp_us.to_be_bytes());
        buf[field::INTERVAL].copy_from_slice(&self.interval_ms.to_be_bytes());
        buf[field::EPOCH].copy_from_slice(&self.epoch.to_be_bytes());
        buf[field::FLAGS] = if self.uplink { 0 } else { FLAG_NO_UPLINK };
        buf[field::PREFERENCE] = self.preference;
    }
}
