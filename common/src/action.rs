//! What a role state machine asks the I/O layer to do.
//!
//! Actions never own packet bytes: a data action names where the IP packet
//! already lies ([`Payload`]), so forwarding is zero-copy (gather I/O).

use crate::wire::{
    BeaconReplyRepr, BeaconRepr, HeaderRepr, MessageType, ParsedMessage, SolicitRepr, HEADER_LEN,
};
use crate::NodeId;

/// Where a packet's bytes are: a slot of the link receive batch or of the
/// TUN read batch, and a byte range inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload {
    pub source: Source,
    pub slot: u16,
    pub offset: u16,
    pub len: u16,
}

impl Payload {
    /// No bytes (a sealed keepalive).
    pub const EMPTY: Payload = Payload {
        source: Source::Tun,
        slot: 0,
        offset: 0,
        len: 0,
    };

    /// The first `len` bytes of TUN read slot `slot`: a packet as read.
    pub fn tun(slot: u16, len: u16) -> Payload {
        Payload {
            source: Source::Tun,
            slot,
            offset: 0,
            len,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Link,
    Tun,
}

/// A small control message, serialised whole into the send batch.
/// The reply is boxed so that every [`Action`] stays small: control
/// messages are rare (per beacon), data actions are per packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Beacon(BeaconRepr),
    BeaconReply(Box<BeaconReplyRepr>),
    Solicit(SolicitRepr),
    /// A message serialised beforehand (signed control messages, handshakes).
    Raw(Box<RawMessage>),
}

/// A whole message body, already serialised (with its trailer if signed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    pub msg_type: MessageType,
    pub flags: u8,
    pub body: Vec<u8>,
}

impl Control {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Control::Beacon(_) => MessageType::Beacon,
            Control::BeaconReply(_) => MessageType::BeaconReply,
            Control::Solicit(_) => MessageType::Solicit,
            Control::Raw(r) => r.msg_type,
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Control::Beacon(b) => b.body_len(),
            Control::BeaconReply(r) => r.body_len(),
            Control::Solicit(s) => s.body_len(),
            Control::Raw(r) => r.body.len(),
        }
    }

    /// Bytes this message takes on the wire (header + body).
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.body_len()
    }

    /// Writes header + body into `buf` (at least `wire_len()` bytes).
    pub fn emit(&self, ttl: u8, buf: &mut [u8]) {
        let body_len = self.body_len();
        let flags = match self {
            Control::Raw(r) => r.flags,
            _ => 0,
        };
        HeaderRepr {
            msg_type: self.msg_type(),
            flags,
            ttl,
            body_len: body_len as u16,
        }
        .emit(buf);
        let body = &mut buf[HEADER_LEN..HEADER_LEN + body_len];
        match self {
            Control::Beacon(b) => b.emit(body),
            Control::BeaconReply(r) => r.emit(body),
            Control::Solicit(s) => s.emit(body),
            Control::Raw(r) => body.copy_from_slice(&r.body),
        }
    }
}

impl RawMessage {
    /// A received message passed on unchanged but for its TTL (signed
    /// replies, handshakes: relays must not touch what they cannot re-sign).
    pub fn copy_of(m: &ParsedMessage) -> RawMessage {
        RawMessage {
            msg_type: m.header.msg_type,
            flags: m.header.flags,
            body: m.raw.get(HEADER_LEN..).unwrap_or_default().to_vec(),
        }
    }
}

/// How a data message's payload is protected on the way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sealing {
    /// Plain IP packet (security off or authenticated-only).
    #[default]
    Plain,
    /// Already a sealed box (a relay forwarding it unchanged).
    Relay,
    /// Seal it here for the session with the message's destination.
    Seal,
}

/// Seals outgoing data for the session with a peer (the I/O layer calls it
/// while building frames; the role owns the sessions).
pub trait Sealer {
    /// `msg` is a whole data message: header and origin/destination filled
    /// in, then [`SEALED_PREFIX_LEN`](crate::wire::SEALED_PREFIX_LEN) bytes
    /// to fill, the plaintext, and [`TAG_LEN`](crate::wire::TAG_LEN) bytes
    /// for the tag. Encrypts in place; false (nothing to send) if there is
    /// no usable session with `peer`.
    fn seal(&mut self, peer: NodeId, msg: &mut [u8]) -> bool;
    /// Whether there is a session to seal for `peer` with.
    fn can_seal(&self, peer: NodeId) -> bool;
}

/// What the send path needs from a role besides the actions: the
/// sessions that seal data (encrypted mode), the neighbours heard so
/// weakly that small sealed frames to them are sent twice, and how many
/// such copies may go now (the role refills it over time: repetition
/// never grows without bound, whatever the load).
pub struct Sending<'a> {
    pub sealer: Option<&'a mut dyn Sealer>,
    pub repeat_to: &'a [NodeId],
    pub repeat_budget: &'a mut u32,
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send a control message to a neighbour (or `NodeId::BROADCAST`).
    SendControl { dst: NodeId, ttl: u8, msg: Control },
    /// Send a unicast data message (DataUp or DataDown) to the next hop.
    SendData {
        next_hop: NodeId,
        kind: MessageType,
        ttl: u8,
        origin: NodeId,
        dest: NodeId,
        payload: Payload,
        sealing: Sealing,
    },
    /// Send broadcast data to every neighbour.
    SendBroadcast {
        ttl: u8,
        origin: NodeId,
        seq: u32,
        payload: Payload,
    },
    /// Write the IP packet to the local TUN device.
    DeliverTun { payload: Payload },
}

impl Action {
    /// A data message, plain (not sealed here), from `origin` to `dest` via
    /// `next_hop`.
    pub fn data(
        next_hop: NodeId,
        kind: MessageType,
        ttl: u8,
        origin: NodeId,
        dest: NodeId,
        payload: Payload,
    ) -> Action {
        Action::SendData {
            next_hop,
            kind,
            ttl,
            origin,
            dest,
            payload,
            sealing: Sealing::Plain,
        }
    }

    /// Link-layer destination for wire actions, `None` for TUN delivery.
    pub fn link_dst(&self) -> Option<NodeId> {
        match self {
            Action::SendControl { dst, .. } => Some(*dst),
            Action::SendData { next_hop, .. } => Some(*next_hop),
            Action::SendBroadcast { .. } => Some(NodeId::BROADCAST),
            Action::DeliverTun { .. } => None,
        }
    }
}
