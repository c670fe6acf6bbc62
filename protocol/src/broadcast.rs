//! Broadcast data, shared by both roles: IP broadcast/multicast from the
//! TUN goes out as Broadcast messages; received ones are delivered once
//! (de-duplicated by origin and sequence) and relayed while TTL > 1. In the
//! secure modes they are signed under the origin's certificate (the role
//! core signs and checks, `RoleCore::tun_unicast` and `on_broadcast`); this
//! keeps the sequences and the de-duplication for both.

use crate::inbound::link_payload;
use crate::seqwin::{DedupWindow, SeqCheck};
use common::action::{Action, Control, Payload, RawMessage};
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
    /// Secure modes, per origin: the newest signed time accepted, and the
    /// signed time of the message that started the current window. A
    /// window re-synchronises (the origin restarted) only for a message
    /// signed later than anything accepted, and nothing signed before the
    /// window started is taken, so recordings can pass neither as a
    /// restart nor, after one, as new numbers.
    signed_time: HashMap<NodeId, SignedTimes>,
    capacity: usize,
}

impl BroadcastDedup {
    pub fn new(capacity: usize) -> BroadcastDedup {
        BroadcastDedup {
            seen: HashMap::new(),
            signed_time: HashMap::new(),
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

    /// Whether `origin` has a window (a message of it was accepted lately).
    pub fn knows(&self, origin: &NodeId) -> bool {
        self.seen.contains_key(origin)
    }

    /// What [`check`](Self::check) would say, without recording anything.
    pub fn peek(&self, origin: NodeId, seq: u32, now: Time, resync: Duration) -> SeqCheck {
        match self.seen.get(&origin) {
            Some((w, _)) => {
                let mut w = *w;
                w.check(seq, now, resync)
            }
            None if self.seen.len() >= self.capacity => SeqCheck::Duplicate,
            None => SeqCheck::Fresh,
        }
    }

    pub fn expire(&mut self, now: Time, timeout: Duration) {
        self.seen.retain(|_, (_, t)| now.since(*t) < timeout);
        let seen = &self.seen;
        self.signed_time.retain(|o, _| seen.contains_key(o));
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SignedTimes {
    newest: u64,
    window_start: u64,
}

/// A role's broadcast side: its own sequence and what it has seen.
pub struct Broadcaster {
    id: NodeId,
    seq: u32,
    seen: BroadcastDedup,
}

impl Broadcaster {
    /// `first_seq`: where this process's sequence starts; random per
    /// process, so a restarted origin is almost never inside the window
    /// its receivers remember (and the window rule covers the rest).
    pub fn new(id: NodeId, first_seq: u32) -> Broadcaster {
        Broadcaster {
            id,
            seq: first_seq,
            seen: BroadcastDedup::new(MAX_BROADCAST_ORIGINS),
        }
    }

    /// The sequence number of our next broadcast.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Whether a TUN packet to `dst` is broadcast data: multicast, the
    /// limited broadcast, or a subnet broadcast of one of `addrs`.
    pub fn is_broadcast(addrs: &[IpPrefix], dst: &IpAddr) -> bool {
        ip::is_group(dst) || addrs.iter().any(|p| p.broadcast() == Some(*dst))
    }

    /// Sends a broadcast from our TUN with a fresh sequence number.
    pub fn originate(&mut self, ttl: u8, payload: Payload, out: &mut Vec<Action>) {
        let seq = self.next_seq();
        out.push(Action::SendBroadcast {
            ttl,
            origin: self.id,
            seq,
            payload,
        });
    }

    /// Whether a message of `origin` was accepted lately.
    pub fn knows(&self, origin: &NodeId) -> bool {
        self.seen.knows(origin)
    }

    /// The cheap checks before a signature is checked: not ours, not seen,
    /// and (signed at `time_us`) a message that would re-synchronise its
    /// origin's window signed later than anything accepted from it.
    pub fn precheck(
        &self,
        now: Time,
        b: &BroadcastRepr,
        resync: Duration,
        time_us: u64,
    ) -> Result<(), DropReason> {
        if b.origin == self.id {
            return Err(DropReason::Duplicate);
        }
        let times = self.seen.signed_time.get(&b.origin);
        if times.is_some_and(|t| time_us < t.window_start) {
            return Err(DropReason::Replayed);
        }
        match self.seen.peek(b.origin, b.seq, now, resync) {
            SeqCheck::Duplicate => Err(DropReason::Duplicate),
            SeqCheck::Resynced if times.is_some_and(|t| time_us <= t.newest) => {
                Err(DropReason::Replayed)
            }
            _ => Ok(()),
        }
    }

    fn record(
        &mut self,
        now: Time,
        b: &BroadcastRepr,
        resync: Duration,
        counters: &Counters,
    ) -> Result<SeqCheck, DropReason> {
        if b.origin == self.id {
            return Err(DropReason::Duplicate);
        }
        match self.seen.check(b.origin, b.seq, now, resync) {
            SeqCheck::Duplicate => Err(DropReason::Duplicate),
            SeqCheck::Resynced => {
                Counters::inc(&counters.seq_resyncs, 1);
                Ok(SeqCheck::Resynced)
            }
            SeqCheck::Fresh => Ok(SeqCheck::Fresh),
        }
    }

    /// A received broadcast (in the secure modes: its signature, made at
    /// `signed_at`, checked already): recorded, delivered to the TUN once,
    /// and relayed while the TTL lasts, plain by reference into the receive
    /// batch, signed as a copy of the whole message (relays cannot
    /// re-sign). An origin whose numbers jumped out of its window is
    /// re-synchronised after `resync` without an accepted message.
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
        signed_at: Option<u64>,
    ) -> crate::outcome::Handled {
        let new_window = !self.seen.signed_time.contains_key(&b.origin);
        let check = self.record(now, b, resync, counters)?;
        let pl = link_payload(slot, m, b.payload.len());
        out.push(Action::DeliverTun { payload: pl });
        if m.header.ttl > 1 {
            let ttl = m.header.ttl - 1;
            out.push(match signed_at {
                Some(_) => Action::SendControl {
                    dst: NodeId::BROADCAST,
                    ttl,
                    msg: Control::Raw(Box::new(RawMessage::copy_of(m))),
                },
                None => Action::SendBroadcast {
                    ttl,
                    origin: b.origin,
                    seq: b.seq,
                    payload: pl,
                },
            });
        }
        if let Some(time_us) = signed_at {
            let t = self.seen.signed_time.entry(b.origin).or_default();
            if new_window || check == SeqCheck::Resynced {
                t.window_start = time_us;
            }
            t.newest = t.newest.max(time_us);
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
        if let Err(reason) =
            b.on_received(Time::ZERO, 0, &m, &repr, resync, counters, &mut out, None)
        {
            counters.count_drop(reason);
        }
        out
    }

    #[test]
    fn plain_broadcast_is_delivered_and_relayed_once() {
        let addrs = [IpPrefix::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 24).unwrap()];
        assert!(Broadcaster::is_broadcast(
            &addrs,
            &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 255))
        ));
        assert!(!Broadcaster::is_broadcast(
            &addrs,
            &IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))
        ));
        let c = Counters::default();
        let mut b = Broadcaster::new(NodeId([2, 0, 0, 0, 0, 1]), 0);
        // Open: delivered to the TUN and relayed (TTL 3), then a duplicate.
        assert_eq!(received(&mut b, &c).len(), 2);
        assert_eq!(received(&mut b, &c).len(), 0);
        assert_eq!(c.drops(DropReason::Duplicate), 1);
    }

    /// Signed path, as `RoleCore::on_broadcast` drives it after the
    /// signature checked out: precheck, then accept.
    fn signed(b: &mut Broadcaster, now: Time, seq: u32, time_us: u64) -> Result<(), DropReason> {
        let payload = packet_to([255, 255, 255, 255]);
        let repr = BroadcastRepr {
            origin: NodeId([2, 0, 0, 0, 0, 9]),
            seq,
            payload: &payload,
        };
        let m = ParsedMessage {
            offset: 0,
            header: HeaderRepr {
                msg_type: MessageType::Broadcast,
                flags: common::wire::FLAG_SIGNED,
                ttl: 1,
                body_len: 0,
            },
            body: Body::Broadcast(repr),
            raw: &[],
            trailer: &[],
        };
        let resync = Duration::from_millis(300);
        b.precheck(now, &repr, resync, time_us)?;
        let c = Counters::default();
        b.on_received(
            now,
            0,
            &m,
            &repr,
            resync,
            &c,
            &mut Vec::new(),
            Some(time_us),
        )
    }

    #[test]
    fn signed_recordings_pass_neither_as_a_restart_nor_after_one() {
        let mut b = Broadcaster::new(NodeId([2, 0, 0, 0, 0, 1]), 0);
        let t = |ms: u64| Time::from_millis(ms);
        assert_eq!(signed(&mut b, t(0), 1000, 100), Ok(()));
        assert_eq!(signed(&mut b, t(1), 1001, 101), Ok(()));
        // Far behind after the resync time, but signed earlier: a
        // recording, not a restart.
        assert_eq!(signed(&mut b, t(500), 10, 90), Err(DropReason::Replayed));
        // The origin restarted (new numbers, behind the old ones), signed
        // later: taken, and the window starts there.
        assert_eq!(signed(&mut b, t(501), 10, 200), Ok(()));
        // A recording from before the restart carries numbers ahead of the
        // new window: refused by its signed time.
        assert_eq!(signed(&mut b, t(502), 1002, 150), Err(DropReason::Replayed));
        assert_eq!(signed(&mut b, t(503), 11, 201), Ok(()));
    }
}
