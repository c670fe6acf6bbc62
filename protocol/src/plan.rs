//! The send planner: a batch of actions in, a planned batch out. Link
//! frames are put in send order (small packets of flows with nothing bulky
//! ahead first, then grouped by next hop, stable within each), aggregated
//! into frames up to the link MTU, TCP super-packets from the TUN cut into
//! segments (TSO) and sealed data sealed; TUN deliveries are ordered the
//! same way and grouped into writes, consecutive TCP or UDP segments of a
//! flow coalesced into one super-packet write (GRO). Pure: the daemon's
//! I/O layer only flushes the plan (one sendmmsg, the TUN writes), and the
//! simulator puts the same frames on its simulated air.

use crate::expedite::Expedite;
use common::action::{Action, Payload, Sealer, Sealing, Sending, Source};
use common::batch::SendBatch;
use common::counters::{Counters, DropReason};
use common::offload::{self, OffloadError, TunWrite, VnetHdr, GSO_ECN, GSO_TCPV4, GSO_TCPV6};
use common::priority::{Class, ClassMap};
use common::wire::{DATA_OVERHEAD, SEALED_OVERHEAD};
use common::NodeId;

/// The largest frame (bytes after the Ethernet header) sent twice to a
/// weak neighbour: pings, small datagrams, safety messages and TCP
/// acknowledgements, not bulk (TCP repairs its own losses, and bulk would
/// double the airtime where it is scarcest).
pub const REPEAT_MAX_LEN: usize = 512;

/// Where the payloads the actions refer to lie: the bytes of a payload,
/// and the virtio-net header of a TUN packet (offload).
pub trait Payloads {
    fn bytes(&self, p: &Payload) -> Option<&[u8]>;
    /// The offload header of the TUN packet in `slot`, if it is a
    /// super-packet that needs cutting.
    fn gso(&self, slot: u16) -> Option<VnetHdr>;
}

/// How TUN deliveries may be coalesced (what the TUN device accepts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coalesce {
    pub tcp: bool,
    pub udp: bool,
}

/// Reused state of the send path, and the last plan.
pub struct SendPlanner {
    send: SendBatch,
    /// Link actions in send order: (class, bulk, next hop, index in the
    /// batch).
    order: Vec<(Class, bool, NodeId, u32)>,
    /// Which class an action is in.
    classes: ClassMap,
    expedite: Expedite,
    /// Whether each action of the batch is bulk (for the TUN writes).
    bulk: Vec<bool>,
    tun_out: Vec<Payload>,
    tun_writes: Vec<TunWrite>,
    batched: bool,
}

impl SendPlanner {
    /// `batched = false` plans one frame per message in arrival order
    /// (the unbatched escape hatch); `aggregate` lets small messages for
    /// one next hop share a frame.
    pub fn new(
        src: NodeId,
        ethertype: u16,
        link_mtu: usize,
        batched: bool,
        aggregate: bool,
        max_batch: usize,
    ) -> SendPlanner {
        let frames = Self::frames_for(max_batch);
        SendPlanner {
            send: SendBatch::new(src, ethertype, link_mtu, aggregate && batched, frames),
            order: Vec::with_capacity(frames),
            classes: ClassMap::default(),
            expedite: Expedite::with_capacity(frames),
            bulk: Vec::with_capacity(frames * 2),
            tun_out: Vec::with_capacity(frames),
            tun_writes: Vec::with_capacity(frames),
            batched,
        }
    }

    /// The classes actions are sent in, highest first.
    pub fn set_classes(&mut self, classes: ClassMap) {
        self.classes = classes;
    }

    /// Frames one plan holds room for: a batch of replies can be larger
    /// than the input batch (a beacon plus forwards), so leave room.
    pub fn frames_for(max_batch: usize) -> usize {
        (max_batch * 2).max(16)
    }

    /// Plans `actions`: afterwards [`SendPlanner::link`] holds the frames
    /// and [`SendPlanner::tun`] / [`SendPlanner::tun_writes`] the TUN
    /// deliveries. What cannot be sent is counted as dropped. Small frames
    /// of sealed data to a neighbour in `sending.repeat_to` go twice (the
    /// receiver drops the copy it does not need by its counter): on a weak
    /// link a second try turns a loss of p into p squared.
    pub fn plan(
        &mut self,
        actions: &[Action],
        payloads: &impl Payloads,
        coalesce: Coalesce,
        counters: &Counters,
        sending: Sending<'_>,
    ) {
        let mut sealer = sending.sealer;
        self.send.clear();
        self.tun_writes.clear();
        self.order_batch(actions, payloads, counters);
        for k in 0..self.order.len() {
            let (class, _, _, i) = self.order[k];
            let drops_before = Counters::get(&counters.drops_total);
            let a = &actions[i as usize];
            if let Action::SendData {
                sealing: Sealing::Seal,
                payload,
                ..
            } = a
            {
                match sealer.as_deref_mut() {
                    Some(s) => self.push_sealed(a, *payload, payloads, counters, s),
                    None => counters.count_drop(DropReason::NoSession),
                }
            } else if let Some(gso) = gso_of(a, payloads) {
                let packet = data_payload(a).and_then(|p| payloads.bytes(&p));
                push_super_packet(&mut self.send, a, packet, gso, counters, None);
            } else if !self.send.push_action(a) {
                counters.count_drop(DropReason::TooBig);
            }
            let dropped = Counters::get(&counters.drops_total) - drops_before;
            let c = class.index();
            Counters::inc(&counters.class_tx_packets[c], 1 - dropped.min(1));
            Counters::inc(&counters.class_dropped[c], dropped);
        }
        if !sending.repeat_to.is_empty() && *sending.repeat_budget > 0 {
            let weak = sending.repeat_to;
            let budget = *sending.repeat_budget;
            let copies = self
                .send
                .repeat(|n| weak.contains(&n), REPEAT_MAX_LEN, budget);
            *sending.repeat_budget -= copies;
            Counters::inc(&counters.link_repeated_frames, u64::from(copies));
        }
        let out = &self.tun_out;
        offload::plan_tun_writes(
            out.len(),
            |k| payloads.bytes(&out[k]).unwrap_or_default(),
            coalesce.tcp,
            coalesce.udp,
            &mut self.tun_writes,
        );
    }

    /// The planned link frames (headers here, payloads by reference).
    pub fn link(&self) -> &SendBatch {
        &self.send
    }

    /// The planned TUN deliveries, in write order.
    pub fn tun(&self) -> &[Payload] {
        &self.tun_out
    }

    /// The TUN deliveries grouped into writes (runs of [`SendPlanner::tun`]).
    pub fn tun_writes(&self) -> &[TunWrite] {
        &self.tun_writes
    }

    /// Puts the batch in send order: `order` for the link (by class, the
    /// highest first; in a class small packets first, then by next hop,
    /// stable), `tun_out` for the TUN writes (small packets first, stable).
    fn order_batch(&mut self, actions: &[Action], payloads: &impl Payloads, counters: &Counters) {
        self.order.clear();
        self.bulk.clear();
        self.tun_out.clear();
        self.expedite.start_batch();
        for (i, a) in actions.iter().enumerate() {
            let bulk = !self.batched || !self.is_expedited(a, payloads);
            self.bulk.push(bulk);
            if let Some(dst) = a.link_dst() {
                let class = self.class_of(a, payloads);
                self.order.push((class, bulk, dst, i as u32));
            }
        }
        if self.batched {
            // (class, bulk, dst, index) keys are unique, so the unstable
            // sort is stable per class and destination, and it does not
            // allocate.
            self.order.sort_unstable();
        }
        for bulk in [false, true] {
            for (a, _) in actions.iter().zip(&self.bulk).filter(|(_, b)| **b == bulk) {
                if let Action::DeliverTun { payload } = a {
                    if payloads.bytes(payload).is_some() {
                        self.tun_out.push(*payload);
                    } else {
                        counters.count_drop(DropReason::Malformed);
                    }
                }
            }
        }
    }

    /// The class of link action `a`: the overlay's control frames and
    /// broadcast by the map's choice, data by its packet's DSCP (a relayed
    /// sealed box, unreadable here, as best effort).
    fn class_of(&self, a: &Action, payloads: &impl Payloads) -> Class {
        match a {
            Action::SendControl { .. } => self.classes.control,
            Action::SendBroadcast { .. } => self.classes.broadcast,
            Action::SendData {
                sealing: Sealing::Relay,
                ..
            }
            | Action::DeliverTun { .. } => Class::BestEffort,
            Action::SendData { payload, .. } => payloads
                .bytes(payload)
                .map_or(Class::BestEffort, |p| self.classes.of_packet(p)),
        }
    }

    /// Whether action `a` (the next of the batch) may go ahead of bulk.
    /// Only packets received from the link are judged here: what comes
    /// from the TUN was put in order by the TUN backlog already.
    fn is_expedited(&mut self, a: &Action, payloads: &impl Payloads) -> bool {
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
        let flow = payloads.bytes(payload).and_then(common::ip::flow_hash);
        // Link payloads are never offload super-packets.
        self.expedite
            .is_expedited(flow, usize::from(payload.len), false)
    }

    /// A data action to seal for its destination's session: a TCP
    /// super-packet is cut and each segment sealed; anything else is sealed
    /// whole. An empty payload is a keepalive (it confirms a new session).
    fn push_sealed(
        &mut self,
        a: &Action,
        payload: Payload,
        payloads: &impl Payloads,
        counters: &Counters,
        sealer: &mut dyn Sealer,
    ) {
        if let Some(gso) = gso_of(a, payloads) {
            let Action::SendData { dest, .. } = a else {
                return;
            };
            if sealer.can_seal(*dest) {
                let packet = payloads.bytes(&payload);
                push_super_packet(&mut self.send, a, packet, gso, counters, Some(sealer));
            } else {
                counters.count_drop(DropReason::NoSession);
            }
            return;
        }
        let text = if payload.len == 0 {
            Some(&[][..])
        } else {
            payloads.bytes(&payload)
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

    /// The link order of the last plan, as indices into its actions.
    pub fn link_order(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().map(|o| o.3)
    }
}

fn data_payload(a: &Action) -> Option<Payload> {
    match a {
        Action::SendData { payload, .. } => Some(*payload),
        _ => None,
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
fn gso_of(a: &Action, payloads: &impl Payloads) -> Option<VnetHdr> {
    match a {
        Action::SendData { payload, .. } if payload.source == Source::Tun => {
            payloads.gso(payload.slot).filter(|h| h.is_gso())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::batch::RecvBatch;
    use common::wire::MessageType;

    struct Rx<'a> {
        link: &'a RecvBatch,
        tun: &'a RecvBatch,
    }

    impl Payloads for Rx<'_> {
        fn bytes(&self, p: &Payload) -> Option<&[u8]> {
            let b = match p.source {
                Source::Link => self.link,
                Source::Tun => self.tun,
            };
            b.range(p.slot as usize, p.offset as usize, p.len as usize)
        }
        fn gso(&self, _: u16) -> Option<VnetHdr> {
            None
        }
    }

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
        let mut d = SendPlanner::new(ME, 0x88b5, 1500, true, true, 8);
        let c = Counters::default();
        let deliver: Vec<Action> = (0..5)
            .map(|i| Action::DeliverTun {
                payload: link_payload(i, packets[usize::from(i)].len()),
            })
            .collect();
        d.order_batch(
            &deliver,
            &Rx {
                link: &link_rx,
                tun: &empty,
            },
            &c,
        );
        let slots: Vec<u16> = d.tun_out.iter().map(|p| p.slot).collect();
        assert_eq!(slots, vec![3, 0, 1, 2, 4]);
        // Forwarded by a relay: the same order on the link.
        let forward: Vec<Action> = (0..5)
            .map(|i| {
                let payload = link_payload(i, packets[usize::from(i)].len());
                Action::data(HOP, MessageType::DataUp, 8, ME, HOP, payload)
            })
            .collect();
        d.order_batch(
            &forward,
            &Rx {
                link: &link_rx,
                tun: &empty,
            },
            &c,
        );
        let order: Vec<u32> = d.link_order().collect();
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
        let mut unbatched = SendPlanner::new(ME, 0x88b5, 1500, false, false, 1);
        unbatched.order_batch(
            &deliver,
            &Rx {
                link: &link_rx,
                tun: &empty,
            },
            &c,
        );
        let slots: Vec<u16> = unbatched.tun_out.iter().map(|p| p.slot).collect();
        assert_eq!(slots, vec![0, 1]);
        // From the TUN the backlog has ordered the batch already.
        let mut d = SendPlanner::new(ME, 0x88b5, 1500, true, true, 8);
        let tun_rx = link_batch(&packets);
        let from_tun: Vec<Action> = (0..2)
            .map(|i| {
                let payload = Payload::tun(i, packets[usize::from(i)].len() as u16);
                Action::data(HOP, MessageType::DataUp, 8, ME, HOP, payload)
            })
            .collect();
        d.order_batch(
            &from_tun,
            &Rx {
                link: &empty,
                tun: &tun_rx,
            },
            &c,
        );
        let order: Vec<u32> = d.link_order().collect();
        assert_eq!(order, vec![0, 1]);
    }
}
