//! A frame's payload holds one or more messages back to back. [`Messages`]
//! walks them; Ethernet padding after the last message is ignored.

use super::auth::{BEACON_AUTH_LEN, CERT_AUTH_LEN, REPLY_AUTH_LEN};
use super::beacon::{self, Beacon, BeaconRepr};
use super::beacon_reply::{BeaconReply, BeaconReplyRepr};
use super::broadcast::{self, Broadcast, BroadcastRepr};
use super::cert::CertMsgRepr;
use super::data::{self, Data, DataRepr};
use super::handshake::{Handshake, HandshakeRepr};
use super::header::{Header, HeaderRepr, HEADER_LEN};
use super::probe::ProbeRepr;
use super::solicit::{Solicit, SolicitRepr};
use super::{MessageType, Result, WireError, FLAG_SEALED, FLAG_SIGNED, SEALED_OVERHEAD};

/// The parsed body of one message. A transient stack value, so the large
/// reply variant is kept inline rather than boxed (no allocation on parse).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    Beacon(BeaconRepr),
    BeaconReply(BeaconReplyRepr),
    /// DataUp or DataDown (see the header's type).
    Data(DataRepr<'a>),
    Broadcast(BroadcastRepr<'a>),
    Handshake(HandshakeRepr<'a>),
    Solicit(SolicitRepr),
    Certificate(CertMsgRepr),
    Probe(ProbeRepr),
}

/// One message of a frame, with where it starts in the walked buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedMessage<'a> {
    /// Offset of the message's first header byte in the buffer given to [`Messages::new`].
    pub offset: usize,
    pub header: HeaderRepr,
    pub body: Body<'a>,
    /// The whole message (header and body) as received.
    pub raw: &'a [u8],
    /// A signed message's authentication trailer (empty if unsigned).
    pub trailer: &'a [u8],
}

impl ParsedMessage<'_> {
    /// Offset of the carried IP packet in the walked buffer (data messages only).
    pub fn payload_offset(&self) -> Option<usize> {
        let fixed = match self.body {
            Body::Data(_) => data::BODY_FIXED_LEN,
            Body::Broadcast(_) => broadcast::BODY_FIXED_LEN,
            _ => return None,
        };
        Some(self.offset + HEADER_LEN + fixed)
    }
}

/// Iterator over the messages of a frame payload (after the Ethernet header).
///
/// Yields `Err` for a message it cannot use. An unknown type or a bad body is
/// skipped (its length is known) and the walk goes on; a truncated header or an
/// unknown version ends the walk, since nothing after it can be trusted.
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Messages<'a> {
        Messages {
            buf,
            pos: 0,
            done: false,
        }
    }
}

/// Splits a body into (plain body, trailer) by the header flags, and
/// rejects flags a message type does not allow.
fn split_trailer(ty: MessageType, flags: u8, body: &[u8]) -> Result<(&[u8], &[u8])> {
    let (allowed, trailer_len) = match ty {
        MessageType::Beacon => (FLAG_SIGNED, BEACON_AUTH_LEN),
        MessageType::BeaconReply => (FLAG_SIGNED, REPLY_AUTH_LEN),
        MessageType::DataUp | MessageType::DataDown => (FLAG_SEALED, 0),
        MessageType::Broadcast | MessageType::Probe => (FLAG_SIGNED, CERT_AUTH_LEN),
        _ => (0, 0),
    };
    if flags & !allowed != 0 {
        return Err(WireError::Malformed);
    }
    if flags & FLAG_SIGNED == 0 {
        return Ok((body, &[]));
    }
    let at = body
        .len()
        .checked_sub(trailer_len)
        .ok_or(WireError::Truncated)?;
    Ok(body.split_at(at))
}

fn parse_body(ty: MessageType, flags: u8, body: &[u8]) -> Result<Body<'_>> {
    Ok(match ty {
        MessageType::Beacon => {
            if body.len() == beacon::BODY_LEN_V1_0 || body.len() == beacon::BODY_LEN_V1_1 {
                // A node from before the epoch (epoch 0) or the uplink
                // state (uplink up, preference 0): zeros mean just that.
                let mut padded = [0u8; beacon::BODY_LEN];
                padded[..body.len()].copy_from_slice(body);
                return Ok(Body::Beacon(BeaconRepr::parse(&Beacon::new_checked(
                    &padded[..],
                )?)?));
            }
            let b = Beacon::new_checked(body)?;
            if body.len() != beacon::BODY_LEN {
                return Err(WireError::Malformed);
            }
            Body::Beacon(BeaconRepr::parse(&b)?)
        }
        MessageType::BeaconReply => {
            Body::BeaconReply(BeaconReplyRepr::parse(&BeaconReply::new_checked(body)?)?)
        }
        MessageType::DataUp | MessageType::DataDown => {
            let d = DataRepr::parse(&Data::new_checked(body)?)?;
            if flags & FLAG_SEALED != 0 && d.payload.len() < SEALED_OVERHEAD {
                return Err(WireError::Truncated);
            }
            Body::Data(d)
        }
        MessageType::Broadcast => {
            Body::Broadcast(BroadcastRepr::parse(&Broadcast::new_checked(body)?)?)
        }
        MessageType::HandshakeInit | MessageType::HandshakeResponse => {
            Body::Handshake(HandshakeRepr::parse(ty, &Handshake::new_checked(body)?)?)
        }
        MessageType::Solicit => Body::Solicit(SolicitRepr::parse(&Solicit::new_checked(body)?)?),
        MessageType::Certificate => Body::Certificate(CertMsgRepr::parse(body)?),
        MessageType::Probe => Body::Probe(ProbeRepr::parse(body)?),
    })
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<ParsedMessage<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.buf[self.pos..];
        // Ethernet pads short frames with zeros; version 0 never starts a message.
        if rest.len() < HEADER_LEN || rest[0] == 0 {
            self.done = true;
            return None;
        }
        let header = match Header::new_checked(rest) {
            Ok(h) => h,
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let offset = self.pos;
        let total = header.total_len();
        let repr = match HeaderRepr::parse(&header) {
            Ok(r) => r,
            Err(WireError::UnknownVersion) => {
                self.done = true;
                return Some(Err(WireError::UnknownVersion));
            }
            Err(e) => {
                self.pos += total;
                return Some(Err(e));
            }
        };
        self.pos += total;
        let raw: &'a [u8] = &self.buf[offset..offset + total];
        let parsed = split_trailer(repr.msg_type, repr.flags, &raw[HEADER_LEN..]).and_then(
            |(body, trailer)| {
                parse_body(repr.msg_type, repr.flags, body).map(|body| ParsedMessage {
                    offset,
                    header: repr,
                    body,
                    raw,
                    trailer,
                })
            },
        );
        Some(parsed)
    }
}
