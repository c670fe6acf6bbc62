//! Broadcast data, shared by both roles: IP broadcast/multicast from the
//! TUN goes out as Broadcast messages; received ones are delivered once
//! (de-duplicated by origin and sequence) and relayed while TTL > 1.

use crate::inbound::link_payload;
use crate::seqwin::{DedupWindow, SeqCheck};
use common::action::{Action, Payload};
use common::counters::{Counters, DropReason};
use common::ip::{self, IpPrefix};
use common::wire::{BroadcastRepr, ParsedMessage};
use common::{NodeId, Time};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// Most broadcast origins tracked for de-duplication.
pub const MAX_BROADCAST_ORIGINS: usize = 4096;
/// A silent origin's window is forgotten after this long.
const ORIGIN_FORGET_AFTER: Duration = Duration::from_secs(30);

/// Remembers which (origin, seq) were seen. Bounded.
pub struct BroadcastDedup {
    seen: HashMap<NodeId, (DedupWindow, Time)>,
    capacity: usize,
}

impl BroadcastDedup {
    pub fn new(capacity: usize) -> BroadcastDedup {
        BroadcastDedup {
            seen: HashMap::new(),
            capacity,
        }
    }

    /// Whether (origin, seq) is new: seen for the first time, or its
    /// origin's window re-synchronised (`resync`, see [`DedupWindow`]). A new
    /// origin beyond the capacity is refused (duplicate) rather than growing
    /// the table.
    pub fn check(&mut self, origin: NodeId, seq: u32, now: Time, resync: Duration) -> SeqCheck {
        if let Some((w, t)) = self.seen.get_mut(&origin) {
            *t = now;
            return w.check(seq, now, resync);
        }
        if self.seen.len() >= self.capacity {
            return SeqCheck::Duplicate;
        }
        let mut w = DedupWindow::default();
        w.reset_to(seq, now);
        self.seen.insert(origin, (w, now));
        SeqCheck::Fresh
    }

    pub fn expire(&mut self, now: Time, timeout: Duration) {
        self.seen.retain(|_, (_, t)| now.since(*t) < timeout);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A role's broadcast side: its own sequence and what it has seen.
pub struct Broadcaster {
    id: NodeId,
    seq: u32,
    seen: BroadcastDedup,
    /// Encrypted mode: broadcast has no group key yet, so it is refused
    /// both ways (counted `unprotected`), neither sent nor accepted.
    sealed: bool,
}

impl Broadcaster {
    /// `first_seq`: where this process's sequence starts; random per
    /// process, so a restarted origin is almost never inside the window
    /// its receivers remember (and the window rule covers the rest).
    pub fn new(id: NodeId, sealed: bool, first_seq: u32) -> Broadcaster {
        Broadcaster {
            id,
            seq: first_seq,
            seen: BroadcastDedup::new(MAX_BROADCAST_ORIGINS),
            sealed,
        }
    }

    /// Whether a TUN packet to `dst` is broadcast data: multicast, the
    /// limited broadcast, or a subnet broadcast of one of `addrs`.
    pub fn is_broadcast(addrs: &[IpPrefix], dst: &IpAddr) -> bool {
        ip::is_group(dst) || addrs.iter().any(|p| p.broadcast() == Some(*dst))
    }

    /// Sends a broadcast from our TUN with a fresh sequence number.
    pub fn originate(&mut self, ttl: u8, payload: Payload, out: &mut Vec<Action>) {
        self.seq = self.seq.wrapping_add(1);
        out.push(Action::SendBroadcast {
            ttl,
            origin: self.id,
            seq: self.seq,
            payload,
        });
    }

    /// First steps for a TUN packet in either role: broadcast or
    /// multicast goes out as broadcast data (TTL `ttl`) and is done
    /// (`Ok(None)`); anything else is returned with its destination and
    /// reference (`Ok(Some)`) for the role to route as unicast. Not IP, or
    /// broadcast when sealed: the drop reason.
    pub fn classify_tun(
        &mut self,
        addrs: &[IpPrefix],
        ttl: u8,
        slot: u16,
        packet: &[u8],
        out: &mut Vec<Action>,
    ) -> Result<Option<(IpAddr, Payload)>, DropReason> {
        let dst = ip::destination(packet).ok_or(DropReason::NotIp)?;
        let payload = crate::inbound::tun_payload(slot, packet.len());
        if Self::is_broadcast(addrs, &dst) {
            if self.sealed {
                return Err(DropReason::Unprotected);
            }
            self.originate(ttl, payload, out);
            return Ok(None);
        }
        Ok(Some((dst, payload)))
    }

    /// An origin whose numbers jumped out of its window is re-synchronised
    /// after `resync` without an accepted message.
    #[allow(clippy::too_many_arguments)]
    pub fn on_received(
        &mut self,
        now: Time,
        slot: u16,
        m: &ParsedMessage,
        b: &BroadcastRepr,
        resync: Duration,
        counters: &Counters,
        out: &mut Vec<Action>,
    ) -> crate::core::Handled {
        if self.sealed {
            return Err(DropReason::Unprotected);
        }
        if b.origin == self.id {
            return Err(DropReason::Duplicate);
        }
        match self.seen.check(b.origin, b.seq, now, resync) {
            SeqCheck::Fresh => {}
            SeqCheck::Resynced => Counters::inc(&counters.seq_resyncs, 1),
            SeqCheck::Duplicate => return Err(DropReason::Duplicate),
        }
        let pl = link_payload(slot, m, b.payload.len());
        out.push(Action::DeliverTun { payload: pl });
        if m.header.ttl > 1 {
            out.push(Action::SendBroadcast {
                ttl: m.header.ttl - 1,
                origin: b.origin,
                seq: b.seq,
                payload: pl,
            });
        }
        Ok(())
    }

    pub fn expire(&mut self, now: Time) {
        self.seen.expire(now, ORIGIN_FORGET_AFTER);
    }

    /// Origins tracked (for bounded-state checks).
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::wire::{Body, HeaderRepr, MessageType};
    use std::net::Ipv4Addr;

    /// A bare IPv4 header to `dst`.
    fn packet_to(dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&dst);
        p
    }

    fn received(b: &mut Broadcaster, counters: &Counters) -> Vec<Action> {
        let payload = packet_to([255, 255, 255, 255]);
        let repr = BroadcastRepr {
            origin: NodeId([2, 0, 0, 0, 0, 9]),
            seq: 1,
            payload: &payload,
        };
        let m = ParsedMessage {
            offset: 0,
            header: HeaderRepr {
                msg_type: MessageType::Broadcast,
                flags: 0,
                ttl: 3,
                body_len: 0,
            },
            body: Body::Broadcast(repr),
            raw: &[],
            trailer: &[],
        };
        let mut out = Vec::new();
        let resync = Duration::from_millis(300);
        if let Err(reason) = b.on_received(Time::ZERO, 0, &m, &repr, resync, counters, &mut out) {
            counters.count_drop(reason);
        }
        out
    }

    #[test]
    fn sealed_refuses_broadcast_both_ways_and_still_passes_unicast() {
        let addrs = [IpPrefix::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 24).unwrap()];
        for sealed in [false, true] {
            let c = Counters::default();
            let mut b = Broadcaster::new(NodeId([2, 0, 0, 0, 0, 1]), sealed, 0);
            let mut out = Vec::new();
            let bc = b.classify_tun(&addrs, 4, 0, &packet_to([10, 0, 0, 255]), &mut out);
            match bc {
                Err(reason) => c.count_drop(reason),
                Ok(x) => assert!(x.is_none()),
            }
            assert_eq!(out.len(), usize::from(!sealed), "sealed {sealed}");
            let uc = b.classify_tun(&addrs, 4, 0, &packet_to([10, 0, 0, 7]), &mut out);
            assert_eq!(
                uc.ok().flatten().map(|x| x.0),
                Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)))
            );
            let delivered = received(&mut b, &c);
            // Open: delivered to the TUN and relayed (TTL 3).
            assert_eq!(delivered.len(), if sealed { 0 } else { 2 });
            assert_eq!(c.drops(DropReason::Unprotected), if sealed { 2 } else { 0 });
        }
    }
}
