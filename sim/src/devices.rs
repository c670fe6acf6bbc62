//! A simulated node's devices: the air as its link and memory as its TUN,
//! for the daemons' own data path (`datapath::Engine`).

use common::action::Payload;
use common::batch::{RecvBatch, SendBatch};
use common::counters::{Counters, Dir, DropReason};
use common::offload::{TunWrite, VnetHdr};
use common::NodeId;
use datapath::{LinkDevice, TunDevice, TunRead};
use protocol::plan::Coalesce;
use std::collections::VecDeque;
use std::io;

/// The radio as one node hears it: frames heard wait in `rx` until the
/// data path reads them; frames it sends collect in `tx` until the
/// simulator puts them on the air.
#[derive(Default)]
pub struct AirLink {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: Vec<(NodeId, Vec<u8>)>,
}

impl LinkDevice for AirLink {
    fn recv(
        &mut self,
        batch: &mut RecvBatch,
        max: usize,
        batched: bool,
        counters: &Counters,
    ) -> io::Result<usize> {
        batch.clear();
        let max = if batched {
            max.min(batch.capacity())
        } else {
            1
        };
        let mut n = 0;
        while n < max {
            let Some(frame) = self.rx.pop_front() else {
                break;
            };
            let slot = batch.slot_mut(n);
            if frame.len() > slot.len() {
                counters.count_drop(DropReason::TooBig);
                batch.set_len(n, 0);
            } else {
                slot[..frame.len()].copy_from_slice(&frame);
                batch.set_len(n, frame.len());
            }
            n += 1;
        }
        batch.set_filled(n);
        if n > 0 {
            counters.batch(Dir::LinkRx, n);
        }
        Ok(n)
    }

    fn send<'a>(
        &mut self,
        frames: &'a SendBatch,
        payload: &dyn Fn(&Payload) -> Option<&'a [u8]>,
        _batched: bool,
        counters: &Counters,
    ) -> usize {
        let mut sent = 0;
        for (f, frame) in frames.frames().iter().enumerate() {
            match frames.frame_bytes(f, payload) {
                Some(bytes) => {
                    Counters::inc(&counters.link_tx_frames, 1);
                    Counters::inc(&counters.link_tx_bytes, bytes.len() as u64);
                    self.tx.push((frame.dst, bytes));
                    sent += 1;
                }
                None => counters.count_drops(DropReason::Malformed, u64::from(frame.messages)),
            }
        }
        counters.batch(Dir::LinkTx, sent);
        sent
    }
}

/// A TUN in memory: packets an application wrote wait in `rx` (with the
/// offload header the kernel would give them); packets delivered collect
/// in `out`, and the writes that carried them (GRO) in `writes`.
#[derive(Default)]
pub struct MemTun {
    pub rx: VecDeque<(Vec<u8>, VnetHdr)>,
    pub out: Vec<Vec<u8>>,
    pub writes: Vec<TunWrite>,
    /// Whether deliveries may be coalesced (a TUN with offload).
    pub coalesce: Coalesce,
}

impl TunDevice for MemTun {
    fn read_one(&mut self, slot: &mut [u8], counters: &Counters) -> io::Result<TunRead> {
        let Some((packet, hdr)) = self.rx.pop_front() else {
            return Ok(TunRead::Empty);
        };
        let Some(dst) = slot.get_mut(..packet.len()) else {
            counters.count_drop(DropReason::TooBig);
            return Ok(TunRead::Dropped);
        };
        dst.copy_from_slice(&packet);
        Ok(TunRead::Packet(packet.len(), hdr))
    }

    fn coalesce(&self) -> Coalesce {
        self.coalesce
    }

    fn write_planned<'a>(
        &mut self,
        writes: &[TunWrite],
        packet: &dyn Fn(usize) -> &'a [u8],
        counters: &Counters,
    ) {
        for w in writes {
            self.writes.push(*w);
            for k in w.start..w.start + w.count {
                let p = packet(k);
                Counters::inc(&counters.tun_tx_packets, 1);
                Counters::inc(&counters.tun_tx_bytes, p.len() as u64);
                self.out.push(p.to_vec());
            }
        }
    }
}
