//! Wire protocol v1 (see docs/PROTOCOL.md for the byte layout).
//!
//! Every type comes in two forms, as in smoltcp: a checked zero-copy view
//! (`Foo<T: AsRef<[u8]>>`, field accessors over a byte buffer) and a parsed
//! representation (`FooRepr`, with `parse` and `emit`). Byte offsets live
//! only in the `field` module of each file.

pub mod auth;
mod beacon;
mod beacon_reply;
mod broadcast;
mod cert;
mod data;
mod ethernet;
mod frame;
mod handshake;
mod header;
mod probe;
mod solicit;

pub use beacon::{Beacon, BeaconRepr, BODY_LEN as BEACON_BODY_LEN, FLAG_NO_UPLINK};
pub use beacon_reply::{AddrList, BeaconReply, BeaconReplyRepr, MAX_ADDRS, REPLY_FLAG_LEAVING};
pub use broadcast::{Broadcast, BroadcastRepr};
pub use cert::{
    CertMsgRepr, CertRepr, CERT_FLAG_NO_SESSION, CERT_LEN, CERT_MSG_LEN, CERT_SIGNED_LEN,
};
pub use data::{
    emit_data_header, sealable_data_message, Data, DataRepr, Sealed, SEALED_OVERHEAD,
    SEALED_PREFIX_LEN, TAG_LEN,
};
pub use ethernet::{EthernetFrame, EthernetRepr, ETH_HEADER_LEN};
pub use frame::{Body, Messages, ParsedMessage};
pub use handshake::{Handshake, HandshakeRepr, MAX_NOISE_LEN};
pub use header::{Header, HeaderRepr, HEADER_LEN};
pub use probe::{ProbeKind, ProbeRepr, ProbeTarget, PROBE_LEN};
pub use solicit::{Solicit, SolicitRepr};

use std::fmt;

/// Protocol version carried in every message header.
pub const VERSION: u8 = 1;
/// Default EtherType of v2xd frames (IEEE local experimental 0x88B5).
pub const DEFAULT_ETHERTYPE: u16 = 0x88b5;
/// Header flag: a Beacon, BeaconReply, Broadcast or Probe carries an
/// authentication trailer.
pub const FLAG_SIGNED: u8 = 0x01;
/// Header flag: a data message's payload is a sealed (encrypted) box.
pub const FLAG_SEALED: u8 = 0x02;

/// Bytes a data message adds in front of an IP packet (header + origin + destination).
pub const DATA_OVERHEAD: usize = HEADER_LEN + data::BODY_FIXED_LEN;
/// Bytes a broadcast-data message adds in front of an IP packet.
pub const BROADCAST_OVERHEAD: usize = HEADER_LEN + broadcast::BODY_FIXED_LEN;
/// Largest per-packet overhead of any data-carrying message; the TUN MTU
/// must be at most link MTU minus this.
pub const MAX_DATA_OVERHEAD: usize = if DATA_OVERHEAD > BROADCAST_OVERHEAD {
    DATA_OVERHEAD
} else {
    BROADCAST_OVERHEAD
};

/// Message types of protocol v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    Beacon = 1,
    BeaconReply = 2,
    DataUp = 3,
    DataDown = 4,
    Broadcast = 5,
    HandshakeInit = 6,
    HandshakeResponse = 7,
    /// An OBU without an upstream asks for beacons (beacon suppression).
    Solicit = 8,
    /// An RSU's certificate for an OBU, on its way down to it.
    Certificate = 9,
    /// Overlay diagnostics (ping, traceroute).
    Probe = 10,
}

impl MessageType {
    pub fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::Beacon,
            2 => MessageType::BeaconReply,
            3 => MessageType::DataUp,
            4 => MessageType::DataDown,
            5 => MessageType::Broadcast,
            6 => MessageType::HandshakeInit,
            7 => MessageType::HandshakeResponse,
            8 => MessageType::Solicit,
            9 => MessageType::Certificate,
            10 => MessageType::Probe,
            _ => return None,
        })
    }
}

/// Why a frame or message was rejected. Each maps to a drop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// Shorter than its fixed part or than its length field says.
    Truncated,
    /// A protocol version this node does not speak.
    UnknownVersion,
    /// A message type this node does not know (skipped, the rest is parsed).
    UnknownType,
    /// A field holds a value that is not allowed (e.g. address family 7).
    Malformed,
}

impl WireError {
    pub fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::UnknownVersion => "unknown_version",
            WireError::UnknownType => "unknown_type",
            WireError::Malformed => "malformed",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}

pub type Result<T> = std::result::Result<T, WireError>;

pub(crate) fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
pub(crate) fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
pub(crate) fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}
