//! A simulated node's devices: the air as its link and memory as its TUN,
//! for the daemons' own data path (`datapath::Engine`).

use common::action::Payload;
use common::batch::{RecvBatch, SendBatch};
use common::counters::{Counters, Dir, DropReason};
use common::offload::{TunWrite, VnetHdr};
use common::priority::Lane;
use common::NodeId;
use datapath::{LinkDevice, TunDevice, TunRead};
use protocol::plan::Coalesce;
use std::collections::VecDeque;
use std::io;

/// The radio as one node hears it: frames heard wait in `rx` until the
/// data path reads them; frames it sends collect in `tx` until the
/// simulator puts them on the air. With a [`Radio`], sent frames first
/// wait in the radio's queue (the kernel's, one FIFO for both lanes),
/// which sends a channel's worth each simulated millisecond.
#[derive(Default)]
pub struct AirLink {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: Vec<(NodeId, Vec<u8>)>,
    pub radio: Option<Radio>,
}

/// A radio with a rate: its transmit queue, and the bound on the bulk
/// lane's bytes in it (`[link] bulk_queue_bytes`).
#[derive(Clone, Debug, Default)]
pub struct Radio {
    /// Bytes the channel carries per simulated millisecond.
    pub bytes_per_ms: usize,
    /// Most bulk-lane bytes queued (`usize::MAX`: no bound).
    pub bulk_limit: usize,
    queue: VecDeque<(NodeId, Vec<u8>, Lane)>,
    queued: usize,
    bulk_queued: usize,
    credit: usize,
    /// The most bytes the queue has held.
    pub peak_queued: usize,
}

impl Radio {
    pub fn new(bytes_per_ms: usize, bulk_limit: usize) -> Radio {
        Radio {
            bytes_per_ms,
            bulk_limit,
            ..Radio::default()
        }
    }

    /// Bytes queued, both lanes.
    pub fn queued(&self) -> usize {
        self.queued
    }
}

impl AirLink {
    /// One millisecond of the radio: what its channel carries moves from
    /// its queue to `tx` (whole frames; a frame larger than what is left
    /// waits for the next millisecond's credit).
    pub fn transmit_step(&mut self) {
        let Some(r) = &mut self.radio else {
            return;
        };
        r.credit += r.bytes_per_ms;
        while let Some((dst, bytes, lane)) = r.queue.front() {
            if bytes.len() > r.credit {
                break;
            }
            r.credit -= bytes.len();
            r.queued -= bytes.len();
            if *lane == Lane::Bulk {
                r.bulk_queued -= bytes.len();
            }
            let dst = *dst;
            let (_, bytes, _) = r.queue.pop_front().expect("front exists");
            self.tx.push((dst, bytes));
        }
        if r.queue.is_empty() {
            // An idle channel saves no airtime for later.
            r.credit = 0;
        }
    }
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
        lane: Lane,
    ) -> usize {
        let mut sent = 0;
        for (f, frame) in frames.frames().iter().enumerate() {
            match frames.frame_bytes(f, payload) {
                Some(bytes) => {
                    Counters::inc(&counters.link_tx_frames, 1);
                    Counters::inc(&counters.link_tx_bytes, bytes.len() as u64);
                    match &mut self.radio {
                        Some(r) => {
                            if lane == Lane::Bulk {
                                r.bulk_queued += bytes.len();
                            }
                            r.queued += bytes.len();
                            r.queue.push_back((frame.dst, bytes, lane));
                            r.peak_queued = r.peak_queued.max(r.queued);
                        }
                        None => self.tx.push((frame.dst, bytes)),
                    }
                    sent += 1;
                }
                None => counters.count_drops(DropReason::Malformed, u64::from(frame.messages)),
            }
        }
        counters.batch(Dir::LinkTx, sent);
        sent
    }

    fn has_bulk_lane(&self) -> bool {
        self.radio
            .as_ref()
            .is_some_and(|r| r.bulk_limit != usize::MAX)
    }

    fn bulk_room(&self) -> usize {
        match &self.radio {
            Some(r) if r.bulk_limit != usize::MAX => r.bulk_limit.saturating_sub(r.bulk_queued),
            _ => usize::MAX,
        }
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
