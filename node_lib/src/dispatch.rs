//! `handle_messages_batched`: turns a batch of actions into the fewest
//! syscalls — one gather sendmmsg for everything bound for the link
//! (grouped by next hop so small messages share frames), then the TUN writes.

use crate::link::{LinkScratch, RawLink};
use crate::tun::Tun;
use common::action::{Action, Payload, Source};
use common::batch::{RecvBatch, SendBatch};
use common::counters::{Counters, Dir, DropReason};
use common::NodeId;

/// Reused state of the send path (lives on the data-plane thread).
pub struct Dispatcher {
    send: SendBatch,
    order: Vec<(NodeId, u32)>,
    scratch: LinkScratch,
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
            scratch: LinkScratch::new(frames.min(1024)),
            batched,
        }
    }

    /// Sends all actions. Link actions are grouped by destination (stable
    /// within a destination, so per-flow order is kept).
    pub fn handle_messages_batched(
        &mut self,
        actions: &[Action],
        link_rx: &RecvBatch,
        tun_rx: &RecvBatch,
        link: &RawLink,
        tun: &Tun,
        counters: &Counters,
    ) {
        if actions.is_empty() {
            return;
        }
        self.send.clear();
        self.order.clear();
        let mut tun_count = 0;
        for (i, a) in actions.iter().enumerate() {
            match a.link_dst() {
                Some(dst) => self.order.push((dst, i as u32)),
                None => tun_count += 1,
            }
        }
        if self.batched {
            // (dst, index) keys are unique, so the unstable sort is stable per
            // destination, and it does not allocate.
            self.order.sort_unstable();
        }
        for &(_, i) in &self.order {
            if !self.send.push_action(&actions[i as usize]) {
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
            for a in actions {
                if let Action::DeliverTun { payload } = a {
                    match resolve(payload, link_rx, tun_rx) {
                        Some(pkt) => {
                            tun.send(pkt, counters);
                        }
                        None => counters.count_drop(DropReason::Malformed),
                    }
                }
            }
        }
    }
}
