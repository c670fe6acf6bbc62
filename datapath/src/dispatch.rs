//! `handle_messages_batched`: carries out a planned batch with the fewest
//! syscalls. The plan itself (order, aggregation, TSO cutting, sealing,
//! GRO) is `protocol::plan::SendPlanner`'s, pure and shared with the
//! simulator; here it is flushed: one gather sendmmsg for everything bound
//! for the link, then the TUN writes.

use crate::device::{LinkDevice, TunDevice};
use common::action::{Action, Payload, Sending, Source};
use common::batch::RecvBatch;
use common::counters::{Counters, Dir};
use common::offload::VnetHdr;
use common::priority::Lane;
use common::NodeId;
use protocol::plan::{Payloads, SendPlanner};

pub use protocol::plan::push_super_packet;

/// Reused state of the send path (lives on the data-plane thread).
pub struct Dispatcher {
    planner: SendPlanner,
    batched: bool,
}

/// The frames the link must be able to send in one flush of `max_batch`
/// actions (TSO-cut super-packets make many): what a link device's send
/// arrays are sized for.
pub fn frames_for(max_batch: usize) -> usize {
    SendPlanner::frames_for(max_batch).min(1024)
}

/// Resolves a payload reference to the bytes in the receive batches.
pub fn resolve<'a>(p: &Payload, link_rx: &'a RecvBatch, tun_rx: &'a RecvBatch) -> Option<&'a [u8]> {
    let b = match p.source {
        Source::Link => link_rx,
        Source::Tun => tun_rx,
    };
    b.range(p.slot as usize, p.offset as usize, p.len as usize)
}

/// The data plane's payloads: the link and TUN receive batches, and the
/// TUN packets' offload headers.
pub struct Received<'a> {
    pub link_rx: &'a RecvBatch,
    pub tun_rx: &'a RecvBatch,
    pub tun_meta: &'a [VnetHdr],
}

impl Payloads for Received<'_> {
    fn bytes(&self, p: &Payload) -> Option<&[u8]> {
        resolve(p, self.link_rx, self.tun_rx)
    }
    fn gso(&self, slot: u16) -> Option<VnetHdr> {
        self.tun_meta.get(usize::from(slot)).copied()
    }
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
        let planner = SendPlanner::new(src, ethertype, link_mtu, batched, aggregate, max_batch);
        Dispatcher { planner, batched }
    }

    /// The classes actions are sent in, highest first.
    pub fn set_classes(&mut self, classes: common::priority::ClassMap) {
        self.planner.set_classes(classes);
    }

    /// Plans all actions (see `SendPlanner::plan`) and flushes the plan:
    /// the link frames in one gather sendmmsg into `lane`, then the TUN
    /// writes. The actions' payloads lie in `rx`.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_messages_batched<L: LinkDevice + ?Sized, T: TunDevice + ?Sized>(
        &mut self,
        actions: &[Action],
        rx: Received<'_>,
        link: &mut L,
        tun: &mut T,
        counters: &Counters,
        sending: Sending<'_>,
        lane: Lane,
    ) {
        if actions.is_empty() {
            return;
        }
        let p = &mut self.planner;
        p.plan(actions, &rx, tun.coalesce(), counters, sending);
        if !p.link().is_empty() {
            link.send(p.link(), &|x| rx.bytes(x), self.batched, counters, lane);
        }
        let out = p.tun();
        if !out.is_empty() {
            counters.batch(Dir::TunTx, out.len());
            tun.write_planned(
                p.tun_writes(),
                &|k| rx.bytes(&out[k]).unwrap_or_default(),
                counters,
            );
        }
    }
}
