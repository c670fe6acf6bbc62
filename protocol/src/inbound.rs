//! First checks on a received frame, shared by both roles.

use common::action::{Payload, Source};
use common::counters::{Counters, DropReason};
use common::wire::{EthernetFrame, ParsedMessage, ETH_HEADER_LEN};
use common::NodeId;

/// A frame that passed the link-level checks.
pub struct Inbound<'a> {
    /// Link MAC of the neighbour that sent it.
    pub src: NodeId,
    /// Messages, after the Ethernet header.
    pub payload: &'a [u8],
}

/// Offset of the messages inside a received frame.
pub const PAYLOAD_OFFSET: usize = ETH_HEADER_LEN;

/// Checks the Ethernet header: long enough, not our own frame, addressed to
/// us or broadcast. Drops are counted.
pub fn accept<'a>(frame: &'a [u8], own_mac: NodeId, counters: &Counters) -> Option<Inbound<'a>> {
    let eth = match EthernetFrame::new_checked(frame) {
        Ok(e) => e,
        Err(_) => {
            counters.count_drop(DropReason::Truncated);
            return None;
        }
    };
    let src = eth.src();
    if src == own_mac {
        counters.count_drop(DropReason::OwnFrame);
        return None;
    }
    let dst = eth.dst();
    if dst != own_mac && !dst.is_broadcast() {
        counters.count_drop(DropReason::NotForUs);
        return None;
    }
    if src.is_group() {
        counters.count_drop(DropReason::Malformed);
        return None;
    }
    Some(Inbound {
        src,
        payload: &frame[ETH_HEADER_LEN..],
    })
}

/// Whether a frame is addressed to us (or broadcast) and not our own; no
/// counting (that is [`accept`]'s job). Sealed data is opened only then.
pub fn addressed_to(frame: &[u8], own_mac: NodeId) -> bool {
    EthernetFrame::new_checked(frame).is_ok_and(|e| {
        let dst = e.dst();
        e.src() != own_mac && (dst == own_mac || dst.is_broadcast())
    })
}

/// Counts one message walked from a frame, and drops (by reason) one that
/// is invalid; returns the valid ones. Used as
/// `Messages::new(payload).filter_map(|m| counted(m, counters))`-style
/// loops that keep the role free to borrow itself mutably.
pub fn counted<'a>(
    m: common::wire::Result<ParsedMessage<'a>>,
    counters: &Counters,
) -> Option<ParsedMessage<'a>> {
    Counters::inc(&counters.link_rx_messages, 1);
    match m {
        Ok(m) => Some(m),
        Err(e) => {
            counters.count_drop(e.into());
            None
        }
    }
}

/// Where a received data message's IP packet lies in the link batch
/// (`m` was parsed from the payload of the frame in `slot`).
pub fn link_payload(slot: u16, m: &ParsedMessage, len: usize) -> Payload {
    Payload {
        source: Source::Link,
        slot,
        offset: (PAYLOAD_OFFSET + m.payload_offset().unwrap_or(0)) as u16,
        len: len as u16,
    }
}

/// A packet read from the TUN, whole, in TUN batch slot `slot`.
pub fn tun_payload(slot: u16, len: usize) -> Payload {
    Payload {
        source: Source::Tun,
        slot,
        offset: 0,
        len: len as u16,
    }
}

/// A small xorshift generator for beacon jitter (deterministic per seed).
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// `base` ± `percent`%.
    pub fn around(&mut self, base: std::time::Duration, percent: u64) -> std::time::Duration {
        let us = base.as_micros() as u64;
        let span = us * percent / 100;
        if span == 0 {
            return base;
        }
        let off = self.next_u64() % (2 * span + 1);
        std::time::Duration::from_micros(us - span + off)
    }
}
