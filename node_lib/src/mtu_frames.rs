//! A batch of full-MTU data frames on a raw link socket, for link-level
//! tests and benches that push traffic without a daemon: every frame carries
//! one data message whose payload fills the link MTU.

use crate::link::{LinkScratch, RawLink};
use common::action::{Action, Payload};
use common::batch::SendBatch;
use common::counters::Counters;
use common::wire::{MessageType, DATA_OVERHEAD};
use common::NodeId;

pub struct MtuFrames {
    batch: SendBatch,
    payload: Vec<u8>,
    scratch: LinkScratch,
    counters: Counters,
}

impl MtuFrames {
    /// `frames` frames from `link` to the radio `next_hop`, each a
    /// `kind` data message addressed to `dest`.
    pub fn new(
        link: &RawLink,
        next_hop: NodeId,
        kind: MessageType,
        dest: NodeId,
        frames: usize,
    ) -> MtuFrames {
        let len = link.mtu() - DATA_OVERHEAD;
        let src = NodeId(link.mac());
        let mut batch = SendBatch::new(src, link.ethertype(), link.mtu(), false, frames);
        for _ in 0..frames {
            let a = Action::data(next_hop, kind, 16, src, dest, Payload::tun(0, len as u16));
            assert!(batch.push_action(&a), "a full-MTU message fits a frame");
        }
        MtuFrames {
            batch,
            payload: vec![0x45; len],
            scratch: LinkScratch::new(frames),
            counters: Counters::default(),
        }
    }

    /// Bytes after the Ethernet header of each frame (the link MTU).
    pub fn frame_payload(&self) -> usize {
        self.batch.mtu()
    }

    /// Sends the whole batch once, with `sendmmsg` when `batched`, else one
    /// `sendmsg` per frame. Returns the frames sent.
    pub fn send(&mut self, link: &RawLink, batched: bool) -> usize {
        let payload = &self.payload[..];
        link.send(
            &self.batch,
            |_| Some(payload),
            &mut self.scratch,
            (batched, common::priority::Lane::Priority),
            &self.counters,
        )
    }
}
