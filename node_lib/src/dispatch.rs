//! `handle_messages_batched`: turns a batch of actions into the fewest
//! syscalls — one gather sendmmsg for everything bound for the link
//! (grouped by next hop so small messages share frames), then the TUN writes.

use crate::expedite::Expedite;
use crate::link::{LinkScratch, RawLink};
use crate::tun::{Tun, TunWriteScratch};
use common::action::{Action, Payload, Sealer, Sealing, Source};
use common::batch::{RecvBatch, SendBatch};
use common::counters::{Counters, Dir, DropReason};
use common::offload::{OffloadError, VnetHdr, GSO_ECN, GSO_TCPV4, GSO_TCPV6};
use common::wire::{DATA_OVERHEAD, SEALED_OVERHEAD};
use common::NodeId;

/// Reused state of the send path (lives on the data-plane thread).
pub struct Dispatcher {
    send: SendBatch,
    /// Link actions in send order: (bulk, next hop, index in the batch).
    order: Vec<(bool, NodeId, u32)>,
    expedite: Expedite,
    /// Whether each action of the batch is bulk (for the TUN writes).
    bulk: Vec<bool>,
    scratch: LinkScratch,
    tun_out: Vec<Payload>,
    tun_scratch: TunWriteScratch,
    batched: bool,
}

/// Resolves a payload reference to the bytes in the receive batches.
pub fn resolve<'a>(p: &Payload, link_rx: &'a RecvBatch, tun_rx: &'a RecvBatch) -> Option<&'a [u8]> {
    let b = match p.source {
        Source::Link => link_rx,
        Source::Tun => tun_rx,
    };
    b.range(p.slot as usize, p.offset as usize, p.len as usize)
}

impl Dispatcher {
    pub fn new(
        src: NodeId,
        ethertype: u16,
        link_mtu: usize,
        batched: bool,
        aggregate: bool,
        max_batch: usize,
    ) -> Dispatcher {
        // A batch of replies can be larger than the input batch (a beacon
        // plus forwards), so leave room.
        let frames = (max_batch * 2).max(16);
        Dispatcher {
            send: SendBatch::new(src, ethertype, link_mtu, aggregate && batched, frames),
            order: Vec::with_capacity(frames),
            expedite: Expedite::with_capacity(frames),
            bulk: Vec::with_capacity(frames * 2),
            scratch: LinkScratch::new(frames.min(1024)),
            tun_out: Vec::with_capacity(frames),
            tun_scratch: TunWriteScratch::default(),
            batched,
        }
    }

    /// Sends all actions. Small packets of flows with nothing bulky ahead of
    /// them go first (see `expedite`); then link actions are grouped by
    /// destination (stable within a destination, so per-flow order is
    /// kept). A TCP super-packet
    /// from the TUN (offload; `tun_meta` holds the virtio-net headers of
    /// `tun_rx`) is cut into link-MTU segments here.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_messages_batched(
        &mut self,
        actions: &[Action],
        link_rx: &RecvBatch,
        tun_rx: &RecvBatch,
        tun_meta: &[VnetHdr],
        link: &RawLink,
        tun: &Tun,
        counters: &Counters,
        mut sealer: Option<&mut dyn Sealer>,
    ) {
        if actions.is_empty() {
            return;
        }
        self.send.clear();
        self.plan(actions, link_rx, tun_rx, counters);
        for k in 0..self.order.len() {
            let a = &actions[self.order[k].2 as usize];
            if let Action::SendData {
                sealing: Sealing::Seal,
                payload,
                ..
            } = a
            {
                match sealer.as_deref_mut() {
                    Some(s) => {
                        self.push_sealed(a, *payload, tun_meta, link_rx, tun_rx, counters, s)
                    }
                    None => counters.count_drop(DropReason::NoSession),
                }
            } else if let Some(gso) = gso_of(a, tun_meta) {
                self.push_segments(a, gso, link_rx, tun_rx, counters, None);
            } else if !self.send.push_action(a) {
                counters.count_drop(DropReason::TooBig);
            }
        }
        if !self.send.is_empty() {
            link.send(
                &self.send,
                |p| resolve(p, link_rx, tun_rx),
                &mut self.scratch,
                self.batched,
                counters,
            );
        }
        if !self.tun_out.is_empty() {
            counters.batch(Dir::TunTx, self.tun_out.len());
            let out = &self.tun_out;
            tun.send_all(
                out.len(),
                |k| resolve(&out[k], link_rx, tun_rx).unwrap_or_default(),
                &mut self.tun_scratch,
                counters,
            );
        }
    }

    /// Puts the batch in send order: `order` for the link (small packets
    /// first, then by next hop, stable), `tun_out` for the TUN writes
    /// (small packets first, stable).
    fn plan(
        &mut self,
        actions: &[Action],
        link_rx: &RecvBatch,
        tun_rx: &RecvBatch,
        counters: &Counters,
    ) {
        self.order.clear();
        self.bulk.clear();
        self.tun_out.clear();
        self.expedite.start_batch();
        for (i, a) in actions.iter().enumerate() {
            let bulk = !self.batched || !self.is_expedited(a, link_rx);
            self.bulk.push(bulk);
            if let Some(dst) = a.link_dst() {
                self.order.push((bulk, dst, i as u32));
            }
        }
        if self.batched {
            // (bulk, dst, index) keys are unique, so the unstable sort is
            // stable per class and destination, and it does not allocate.
            self.order.sort_unstable();
        }
        for bulk in [false, true] {
            for (a, _) in actions.iter().zip(&self.bulk).filter(|(_, b)| **b == bulk) {
                if let Action::DeliverTun { payload } = a {
                    if resolve(payload, link_rx, tun_rx).is_some() {
                        self.tun_out.push(*payload);
                    } else {
                        counters.count_drop(DropReason::Malformed);
                    }
                }
            }
        }
    }

    /// Whether action `a` (the next of the batch) may go ahead of bulk.
    /// Only packets received from the link are judged here: what comes
    /// from the TUN was put in order by the TUN backlog already.
    fn is_expedited(&mut self, a: &Action, link_rx: &RecvBatch) -> bool {
        let payload = match a {
            // A relayed sealed box has no readable flow; control messages
            // keep their place among the data of their peer.
            Action::SendData {
                sealing: Sealing::Relay,
                ..
            }
            | Action::SendControl { .. } => return false,
            Action::SendData { payload, .. }
            | Action::SendBroadcast { payload, .. }
            | Action::DeliverTun { payload } => payload,
        };
        if payload.source != Source::Link {
            return false;
        }
        let flow = link_rx
            .range(
                usize::from(payload.slot),
                usize::from(payload.offset),
                usize::from(payload.len),
            )
            .and_then(common::ip::flow_hash);
        // Link payloads are never offload super-packets.
        self.expedite
            .is_expedited(flow, usize::from(payload.len), false)
    }

    /// A data action to seal for its destination's session: a TCP
    /// super-packet is cut and each segment sealed; anything else is sealed
    /// whole. An empty payload is a keepalive (it confirms a new session).
    #[allow(clippy::too_many_arguments)]
    fn push_sealed(
        &mut self,
        a: &Action,
        payload: Payload,
        tun_meta: &[VnetHdr],
        link_rx: &RecvBatch,
        tun_rx: &RecvBatch,
        counters: &Counters,
        sealer: &mut dyn Sealer,
    ) {
        if let Some(gso) = gso_of(a, tun_meta) {
            let dest = match a {
                Action::SendData { dest, .. } => *dest,
                _ => return,
            };
            if sealer.can_seal(dest) {
                self.push_segments(a, gso, link_rx, tun_rx, counters, Some(sealer));
            } else {
                counters.count_drop(DropReason::NoSession);
            }
            return;
        }
        let text = if payload.len == 0 {
            Some(&[][..])
        } else {
            resolve(&payload, link_rx, tun_rx)
        };
        let Some(text) = text else {
            counters.count_drop(DropReason::Malformed);
            return;
        };
        if DATA_OVERHEAD + SEALED_OVERHEAD + text.len() > self.send.mtu() {
            counters.count_drop(DropReason::TooBig);
        } else if !self.send.push_sealed(a, text, sealer) {
            counters.count_drop(DropReason::NoSession);
        }
    }

    fn push_segments(
        &mut self,
        a: &Action,
        gso: VnetHdr,
        link_rx: &RecvBatch,
        tun_rx: &RecvBatch,
        counters: &Counters,
        sealer: Option<&mut dyn Sealer>,
    ) {
        let Action::SendData { payload, .. } = a else {
            return;
        };
        let packet = resolve(payload, link_rx, tun_rx);
        push_super_packet(&mut self.send, a, packet, gso, counters, sealer);
    }
}

/// Adds the TSO super-packet `packet` of data action `a` (its virtio-net
/// header `gso`) to `send`, cut into link-MTU segments; what cannot be
/// cut (not TCP, malformed, too big) is counted as dropped.
pub fn push_super_packet(
    send: &mut SendBatch,
    a: &Action,
    packet: Option<&[u8]>,
    gso: VnetHdr,
    counters: &Counters,
    sealer: Option<&mut dyn Sealer>,
) {
    let tcp = matches!(gso.gso_type & !GSO_ECN, GSO_TCPV4 | GSO_TCPV6);
    let Some(packet) = packet.filter(|_| tcp) else {
        counters.count_drop(DropReason::Malformed);
        return;
    };
    match send.push_tcp_segments(a, packet, gso.gso_size, sealer) {
        Ok(n) => {
            Counters::inc(&counters.tso_packets, 1);
            Counters::inc(&counters.tso_segments, n as u64);
        }
        Err(OffloadError::TooBig) => counters.count_drop(DropReason::TooBig),
        Err(_) => counters.count_drop(DropReason::Malformed),
    }
}

/// The virtio-net header of a data action's TUN payload, if it is a
/// super-packet that needs cutting.
fn gso_of(a: &Action, tun_meta: &[VnetHdr]) -> Option<VnetHdr> {
    match a {
        Action::SendData { payload, .. } if payload.source == Source::Tun => tun_meta
            .get(payload.slot as usize)
            .filter(|h| h.is_gso())
            .copied(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::wire::MessageType;

    const ME: NodeId = NodeId([2, 0, 0, 0, 0, 9]);
    const HOP: NodeId = NodeId([2, 0, 0, 0, 0, 1]);

    /// An IPv4 packet of `len` bytes from 10.0.0.`src` with protocol `proto`.
    fn ip(src: u8, proto: u8, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[9] = proto;
        p[12..16].copy_from_slice(&[10, 0, 0, src]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p
    }

    /// A link receive batch holding `packets`, one per slot.
    fn link_batch(packets: &[Vec<u8>]) -> RecvBatch {
        let mut b = RecvBatch::new(packets.len(), 2048);
        for (i, p) in packets.iter().enumerate() {
            b.slot_mut(i)[..p.len()].copy_from_slice(p);
            b.set_len(i, p.len());
        }
        b.set_filled(packets.len());
        b
    }

    fn link_payload(slot: u16, len: usize) -> Payload {
        Payload {
            source: Source::Link,
            slot,
            offset: 0,
            len: len as u16,
        }
    }

    #[test]
    fn a_ping_received_among_data_frames_is_written_and_forwarded_first() {
        // Slots 0-2: bulk of one flow, 3: a ping from another host, 4: the
        // bulk flow's small tail, which must stay behind its bulk.
        let packets = [
            ip(1, 6, 1400),
            ip(1, 6, 1400),
            ip(1, 6, 1400),
            ip(3, 1, 84),
            ip(1, 6, 60),
        ];
        let link_rx = link_batch(&packets);
        let empty = RecvBatch::new(0, 1);
        let mut d = Dispatcher::new(ME, 0x88b5, 1500, true, true, 8);
        let c = Counters::default();
        let deliver: Vec<Action> = (0..5)
            .map(|i| Action::DeliverTun {
                payload: link_payload(i, packets[usize::from(i)].len()),
            })
            .collect();
        d.plan(&deliver, &link_rx, &empty, &c);
        let slots: Vec<u16> = d.tun_out.iter().map(|p| p.slot).collect();
        assert_eq!(slots, vec![3, 0, 1, 2, 4]);
        // Forwarded by a relay: the same order on the link.
        let forward: Vec<Action> = (0..5)
            .map(|i| {
                let payload = link_payload(i, packets[usize::from(i)].len());
                Action::data(HOP, MessageType::DataUp, 8, ME, HOP, payload)
            })
            .collect();
        d.plan(&forward, &link_rx, &empty, &c);
        let order: Vec<u32> = d.order.iter().map(|o| o.2).collect();
        assert_eq!(order, vec![3, 0, 1, 2, 4]);
    }

    #[test]
    fn unbatched_and_tun_sourced_batches_keep_their_order() {
        let packets = [ip(1, 6, 1400), ip(3, 1, 84)];
        let link_rx = link_batch(&packets);
        let empty = RecvBatch::new(0, 1);
        let c = Counters::default();
        let deliver: Vec<Action> = (0..2)
            .map(|i| Action::DeliverTun {
                payload: link_payload(i, packets[usize::from(i)].len()),
            })
            .collect();
        let mut unbatched = Dispatcher::new(ME, 0x88b5, 1500, false, false, 1);
        unbatched.plan(&deliver, &link_rx, &empty, &c);
        let slots: Vec<u16> = unbatched.tun_out.iter().map(|p| p.slot).collect();
        assert_eq!(slots, vec![0, 1]);
        // From the TUN the backlog has ordered the batch already.
        let mut d = Dispatcher::new(ME, 0x88b5, 1500, true, true, 8);
        let tun_rx = link_batch(&packets);
        let from_tun: Vec<Action> = (0..2)
            .map(|i| {
                let payload = Payload::tun(i, packets[usize::from(i)].len() as u16);
                Action::data(HOP, MessageType::DataUp, 8, ME, HOP, payload)
            })
            .collect();
        d.plan(&from_tun, &empty, &tun_rx, &c);
        let order: Vec<u32> = d.order.iter().map(|o| o.2).collect();
        assert_eq!(order, vec![0, 1]);
    }
}
