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
        self.order.clear();
        self.bulk.clear();
        self.expedite.start_batch();
        let mut tun_count = 0;
        for (i, a) in actions.iter().enumerate() {
            let bulk = !self.batched || !self.is_expedited(a, link_rx, tun_rx, tun_meta);
            self.bulk.push(bulk);
            match a.link_dst() {
                Some(dst) => self.order.push((bulk, dst, i as u32)),
                None => tun_count += 1,
            }
        }
        if self.batched {
            // (bulk, dst, index) keys are unique, so the unstable sort is
            // stable per class and destination, and it does not allocate.
            self.order.sort_unstable();
        }
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
        if tun_count > 0 {
            counters.batch(Dir::TunTx, tun_count);
            self.tun_out.clear();
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
            let out = &self.tun_out;
            tun.send_all(
                out.len(),
                |k| resolve(&out[k], link_rx, tun_rx).unwrap_or_default(),
                &mut self.tun_scratch,
                counters,
            );
        }
    }

    /// Whether action `a` (the next of the batch) may go ahead of bulk.
    fn is_expedited(
        &mut self,
        a: &Action,
        link_rx: &RecvBatch,
        tun_rx: &RecvBatch,
        tun_meta: &[VnetHdr],
    ) -> bool {
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
        let flow = resolve(payload, link_rx, tun_rx).and_then(common::ip::flow_hash);
        let super_packet = gso_of(a, tun_meta).is_some();
        self.expedite
            .is_expedited(flow, usize::from(payload.len), super_packet)
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
        let tcp = matches!(gso.gso_type & !GSO_ECN, GSO_TCPV4 | GSO_TCPV6);
        let Some(packet) = resolve(payload, link_rx, tun_rx).filter(|_| tcp) else {
            counters.count_drop(DropReason::Malformed);
            return;
        };
        match self.send.push_tcp_segments(a, packet, gso.gso_size, sealer) {
            Ok(n) => {
                Counters::inc(&counters.tso_packets, 1);
                Counters::inc(&counters.tso_segments, n as u64);
            }
            Err(OffloadError::TooBig) => counters.count_drop(DropReason::TooBig),
            Err(_) => counters.count_drop(DropReason::Malformed),
        }
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
