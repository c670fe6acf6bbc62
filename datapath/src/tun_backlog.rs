//! The TUN side of the batched data plane: packets are read from the TUN as
//! deep as free slots allow, small ones leave at once, bulk waits in a FIFO
//! per priority class and leaves a bounded amount per loop turn, the
//! highest class first; best effort and background only as far as the
//! radio's bulk lane has room (`common::priority`).
//!
//! Why: the kernel's TUN queue is a FIFO without priorities, and the host's
//! TCP fills it freely (the TUN releases each packet's socket memory when it
//! queues it, so TCP Small Queues never hold TCP back). When the data plane
//! is descheduled for a moment, megabytes build up there, and a ping or an
//! packet to another host behind them waits until all are cut and sent.
//! Reading is cheap next to sending, so the packets are taken into our
//! memory, where small ones can pass the bulk (see `expedite`) and the turn
//! stays short enough to come back to the TUN and the link soon.

use crate::device::{TunDevice, TunRead};
use common::action::{Action, Payload, Source};
use common::batch::RecvBatch;
use common::counters::{Counters, Dir, DropReason};
use common::offload::VnetHdr;
use common::priority::{Class, ClassMap};
use protocol::expedite::Expedite;
use std::collections::VecDeque;
use std::io;

/// Packets read from the TUN and not yet sent.
pub struct TunBacklog {
    /// Every slot is readable by index; which are in use is `refs`.
    pool: RecvBatch,
    meta: Vec<VnetHdr>,
    free: Vec<u16>,
    /// Actions still to send per slot; the slot is free again at zero.
    refs: Vec<u16>,
    /// Slots read by the last [`TunBacklog::read`], in arrival order.
    fresh: Vec<u16>,
    /// Bulk actions per class (highest first), each in arrival order, with
    /// their packet's flow.
    queues: [VecDeque<(Action, Option<u32>)>; 4],
    /// Flows with bulk in `queues`.
    expedite: Expedite,
    /// What to send now through the priority lane: expedited actions, then
    /// voice and video from their queues.
    out: Vec<Action>,
    /// What to send now through the bulk lane: best effort, background.
    out_bulk: Vec<Action>,
    /// Bulk bytes sent per turn.
    budget: usize,
    /// Which class a packet is in, by its DSCP.
    classes: ClassMap,
    /// Whether the last turn left bulk queued for want of room in the
    /// radio's bulk lane (the channel, not this host, is the bottleneck).
    room_limited: bool,
}

impl TunBacklog {
    /// `slots` packets of `slot_size` bytes (one more is kept to read
    /// into while the queue is full: see [`Self::read`]); `budget`: bulk
    /// bytes per turn.
    pub fn new(slots: usize, slot_size: usize, budget: usize) -> TunBacklog {
        let slots = (slots + 1).min(usize::from(u16::MAX));
        let mut pool = RecvBatch::new(slots, slot_size);
        pool.set_filled(slots);
        TunBacklog {
            pool,
            meta: vec![VnetHdr::default(); slots],
            free: (0..slots as u16).rev().collect(),
            refs: vec![0; slots],
            fresh: Vec::with_capacity(slots),
            queues: std::array::from_fn(|_| VecDeque::with_capacity(slots * 4)),
            expedite: Expedite::with_capacity(slots * 4),
            out: Vec::with_capacity(slots * 4),
            out_bulk: Vec::with_capacity(slots * 4),
            budget,
            classes: ClassMap::default(),
            room_limited: false,
        }
    }

    /// Whether the last turn left bulk queued for want of room in the
    /// radio's bulk lane: then a full backlog sheds ([`Self::read`]).
    pub fn room_limited(&self) -> bool {
        self.room_limited
    }

    /// The DSCP map packets are classed by.
    pub fn set_classes(&mut self, classes: ClassMap) {
        self.classes = classes;
    }

    /// Bulk bytes sent per turn (the link MTU can change when the radio
    /// interface is re-created).
    pub fn set_budget(&mut self, budget: usize) {
        self.budget = budget;
    }

    /// Whether bulk waits to be sent.
    pub fn has_bulk(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }

    /// Whether a turn would send something with `room` bytes free in the
    /// bulk lane (the loop must not sleep then).
    pub fn can_send(&self, room: usize) -> bool {
        Class::ALL
            .iter()
            .any(|c| !self.queues[c.index()].is_empty() && (!c.is_bulk_lane() || room > 0))
    }

    /// Actions waiting per class, highest first.
    pub fn queued(&self) -> [usize; 4] {
        std::array::from_fn(|k| self.queues[k].len())
    }

    /// Reads packets into free slots until the TUN is empty or no slot is
    /// free; they are then in [`Self::fresh`]. With `shed` (the radio's
    /// bulk lane is full: the channel carries less than arrives), a full
    /// queue makes room by dropping its oldest packet of the lowest class
    /// waiting for the bulk lane, so the TUN's own queue (a FIFO) stays
    /// short and a safety message read behind bulk is not held there.
    /// One slot is kept back for this: a packet is dropped only for one
    /// read. Errors other than EAGAIN are returned only when nothing was
    /// read.
    pub fn read<T: TunDevice + ?Sized>(
        &mut self,
        tun: &mut T,
        counters: &Counters,
        shed: bool,
    ) -> io::Result<usize> {
        self.fresh.clear();
        while let Some(&slot) = self.free.last() {
            if self.free.len() == 1 && !shed {
                break;
            }
            let i = usize::from(slot);
            match tun.read_one(self.pool.slot_mut(i), counters) {
                Ok(TunRead::Packet(len, hdr)) => {
                    self.pool.set_len(i, len);
                    self.meta[i] = hdr;
                    self.free.pop();
                    self.fresh.push(slot);
                    if self.free.is_empty() && !self.shed_one(counters) {
                        break;
                    }
                }
                Ok(TunRead::Dropped) => continue,
                Ok(TunRead::Empty) => break,
                Err(e) if self.fresh.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        counters.batch(Dir::TunRx, self.fresh.len());
        Ok(self.fresh.len())
    }

    /// Drops the oldest packet of the lowest class waiting for the bulk
    /// lane until a slot is free; false if none waits.
    fn shed_one(&mut self, counters: &Counters) -> bool {
        for class in Class::ALL.into_iter().rev().filter(|c| c.is_bulk_lane()) {
            while let Some((a, flow)) = self.queues[class.index()].pop_front() {
                self.expedite.left(flow);
                counters.count_drop(DropReason::Shed);
                Counters::inc(&counters.class_dropped[class.index()], 1);
                if self.release(&a) {
                    return true;
                }
            }
        }
        false
    }

    /// An action that refers to a pool slot is done with it: true if the
    /// slot is free now.
    fn release(&mut self, a: &Action) -> bool {
        let Some(slot) = pooled(a).map(|p| p.slot) else {
            return false;
        };
        match self.refs.get_mut(usize::from(slot)) {
            Some(r) if *r > 0 => {
                *r -= 1;
                if *r == 0 {
                    self.free.push(slot);
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    /// Takes a packet from memory instead of the TUN (tests, benches): as
    /// if [`Self::read`] had read it (without shedding). False if no slot
    /// is free (the one kept back for shedding aside) or it does not fit.
    pub fn push_packet(&mut self, bytes: &[u8], hdr: VnetHdr) -> bool {
        let Some(&slot) = self.free.last().filter(|_| self.free.len() > 1) else {
            return false;
        };
        let i = usize::from(slot);
        let Some(dst) = self.pool.slot_mut(i).get_mut(..bytes.len()) else {
            return false;
        };
        dst.copy_from_slice(bytes);
        self.pool.set_len(i, bytes.len());
        self.meta[i] = hdr;
        self.free.pop();
        self.fresh.push(slot);
        true
    }

    /// Starts a new set of fresh packets for [`Self::push_packet`].
    pub fn clear_fresh(&mut self) {
        self.fresh.clear();
    }

    /// Slots free for reading (the one kept back for shedding aside).
    pub fn free_slots(&self) -> usize {
        self.free.len().saturating_sub(1)
    }

    /// Slots read by the last [`Self::read`].
    pub fn fresh(&self) -> &[u16] {
        &self.fresh
    }

    /// The packet in `slot`.
    pub fn packet(&self, slot: u16) -> &[u8] {
        self.pool.get(usize::from(slot))
    }

    /// Takes the actions the role made of the fresh packet in `slot`
    /// (drained from `actions`): to send now if the packet is small and its
    /// flow has no bulk waiting, else to the back of the queue.
    pub fn file(&mut self, slot: u16, actions: &mut Vec<Action>) {
        let i = usize::from(slot);
        let refs = actions
            .iter()
            .filter(|a| pooled(a).is_some_and(|p| p.slot == slot))
            .count();
        // A role refers to the packet it was given and to nothing else in
        // the pool: anything else would free a slot still in use.
        debug_assert_eq!(
            refs,
            actions.iter().filter(|a| pooled(a).is_some()).count(),
            "an action refers to another pool slot"
        );
        if refs == 0 {
            self.free.push(slot);
            self.queue_or_send(actions, None, Class::Voice, true);
            return;
        }
        self.refs[i] = refs as u16;
        let packet = self.pool.get(i);
        let flow = common::ip::flow_hash(packet);
        let class = self.classes.of_packet(packet);
        let mut now = true;
        for _ in 0..actions.len() {
            // One verdict per action: each queued one counts for its flow.
            now &= self
                .expedite
                .is_expedited(flow, packet.len(), self.meta[i].is_gso());
        }
        self.queue_or_send(actions, flow, class, now);
    }

    fn queue_or_send(
        &mut self,
        actions: &mut Vec<Action>,
        flow: Option<u32>,
        class: Class,
        now: bool,
    ) {
        if now {
            self.out.append(actions);
        } else {
            self.queues[class.index()].extend(actions.drain(..).map(|a| (a, flow)));
        }
    }

    /// Moves bulk from the heads of the queues to the send lists, the
    /// highest class first, up to the per-turn budget (at least one
    /// action, so the queues always drain); best effort and background
    /// also only up to `room`, the bytes the radio's bulk lane takes now.
    pub fn take_bulk(&mut self, room: usize) {
        let (mut total, mut bulk, mut took) = (0, 0, 0);
        self.room_limited = false;
        for class in Class::ALL {
            let in_bulk_lane = class.is_bulk_lane();
            let queue = &mut self.queues[class.index()];
            loop {
                let within = took == 0 || total < self.budget;
                if !within {
                    break;
                }
                if in_bulk_lane && bulk >= room {
                    self.room_limited |= !queue.is_empty();
                    break;
                }
                let Some((a, flow)) = queue.pop_front() else {
                    break;
                };
                self.expedite.left(flow);
                let len = pooled(&a).map_or(0, |p| usize::from(p.len));
                total += len;
                took += 1;
                if in_bulk_lane {
                    bulk += len;
                    self.out_bulk.push(a);
                } else {
                    self.out.push(a);
                }
            }
        }
    }

    /// What to send now through the priority lane, with the batch and
    /// headers its payloads refer to.
    pub fn to_send(&self) -> (&[Action], &RecvBatch, &[VnetHdr]) {
        (&self.out, &self.pool, &self.meta)
    }

    /// What to send now through the bulk lane (after [`Self::to_send`]).
    pub fn to_send_bulk(&self) -> (&[Action], &RecvBatch, &[VnetHdr]) {
        (&self.out_bulk, &self.pool, &self.meta)
    }

    /// After the send list went out: frees the slots nothing refers to now.
    pub fn sent(&mut self) {
        // Taken out and put back: the lists keep their capacity.
        let (mut out, mut out_bulk) = (
            std::mem::take(&mut self.out),
            std::mem::take(&mut self.out_bulk),
        );
        for a in out.iter().chain(&out_bulk) {
            self.release(a);
        }
        out.clear();
        out_bulk.clear();
        (self.out, self.out_bulk) = (out, out_bulk);
        if !self.has_bulk() {
            self.expedite.start_batch();
        }
    }
}

/// The pool payload an action refers to (not the empty keepalive).
fn pooled(a: &Action) -> Option<&Payload> {
    match a {
        Action::SendData { payload, .. }
        | Action::SendBroadcast { payload, .. }
        | Action::DeliverTun { payload } => {
            (payload.source == Source::Tun && payload.len > 0).then_some(payload)
        }
        Action::SendControl { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::wire::MessageType;
    use common::NodeId;

    fn packet(proto: u8, sport: u16, len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[9] = proto;
        // The flow is the address pair and protocol: one source address
        // per port.
        p[12..16].copy_from_slice(&[10, 0, (sport >> 8) as u8, sport as u8]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p
    }

    /// What a role makes of a packet: one data action naming its slot.
    fn forward(b: &TunBacklog, slot: u16, out: &mut Vec<Action>) {
        let (a, z) = (NodeId([2, 0, 0, 0, 0, 1]), NodeId([2, 0, 0, 0, 0, 2]));
        let payload = Payload::tun(slot, b.packet(slot).len() as u16);
        out.push(Action::data(a, MessageType::DataUp, 8, z, a, payload));
    }

    /// Files every fresh packet, then returns the source ports of what one
    /// turn sends (the bulk lane unbounded).
    fn turn(b: &mut TunBacklog) -> Vec<u16> {
        let (priority, bulk) = turn_with_room(b, usize::MAX);
        [priority, bulk].concat()
    }

    /// As [`turn`] with `room` bytes in the bulk lane: the ports sent in
    /// the priority lane and in the bulk lane.
    fn turn_with_room(b: &mut TunBacklog, room: usize) -> (Vec<u16>, Vec<u16>) {
        let mut actions = Vec::new();
        for k in 0..b.fresh().len() {
            let slot = b.fresh()[k];
            forward(b, slot, &mut actions);
            b.file(slot, &mut actions);
        }
        b.clear_fresh();
        b.take_bulk(room);
        let ports = |(out, pool, _): (&[Action], &RecvBatch, &[VnetHdr])| -> Vec<u16> {
            out.iter()
                .map(|a| match a {
                    Action::SendData { payload, .. } => {
                        let p = pool.get(usize::from(payload.slot));
                        u16::from_be_bytes([p[20], p[21]])
                    }
                    _ => 0,
                })
                .collect()
        };
        let sent = (ports(b.to_send()), ports(b.to_send_bulk()));
        b.sent();
        sent
    }

    /// `packet` with the DSCP `dscp`.
    fn marked(dscp: u8, proto: u8, sport: u16, len: usize) -> Vec<u8> {
        let mut p = packet(proto, sport, len);
        p[1] = dscp << 2;
        p
    }

    #[test]
    fn bulk_leaves_by_class_the_highest_first() {
        let mut b = TunBacklog::new(16, 2048, 100_000);
        // Background (CS1), best effort, video (AF41), each 1400 bytes,
        // read in that order; then a large voice (EF) packet.
        for (dscp, port) in [(8, 1), (0, 2), (34, 3), (8, 4), (0, 5), (46, 6)] {
            assert!(b.push_packet(&marked(dscp, 17, port, 1_400), VnetHdr::default()));
        }
        let (priority, bulk) = turn_with_room(&mut b, usize::MAX);
        assert_eq!(priority, vec![6, 3], "voice, then video");
        assert_eq!(bulk, vec![2, 5, 1, 4], "best effort, then background");
        assert_eq!(b.free_slots(), 16);
    }

    /// Reads `packets` through `b` as the TUN would give them.
    struct Packets(std::collections::VecDeque<Vec<u8>>);

    impl TunDevice for Packets {
        fn read_one(&mut self, slot: &mut [u8], _: &Counters) -> io::Result<TunRead> {
            let Some(p) = self.0.pop_front() else {
                return Ok(TunRead::Empty);
            };
            slot[..p.len()].copy_from_slice(&p);
            Ok(TunRead::Packet(p.len(), VnetHdr::default()))
        }
        fn coalesce(&self) -> protocol::plan::Coalesce {
            protocol::plan::Coalesce::default()
        }
        fn write_planned<'a>(
            &mut self,
            _: &[common::offload::TunWrite],
            _: &dyn Fn(usize) -> &'a [u8],
            _: &Counters,
        ) {
        }
    }

    #[test]
    fn a_full_queue_sheds_its_oldest_bulk_of_the_lowest_class() {
        let counters = Counters::default();
        let mut b = TunBacklog::new(4, 2048, 100_000);
        // Two background, two best effort fill the queue; then voice.
        let mut tun = Packets(
            [(8, 1), (8, 2), (0, 3), (0, 4), (46, 5)]
                .iter()
                .map(|&(dscp, port)| marked(dscp, 17, port, 1_400))
                .collect(),
        );
        // Without shedding the voice packet stays in the TUN.
        b.read(&mut tun, &counters, false).unwrap();
        assert_eq!(b.fresh().len(), 4);
        let _ = turn_with_room(&mut b, 0);
        assert_eq!(b.queued(), [0, 0, 2, 2]);
        assert_eq!(tun.0.len(), 1);
        // With it, the oldest background packet makes room.
        b.read(&mut tun, &counters, true).unwrap();
        assert_eq!(b.fresh().len(), 1);
        assert_eq!(counters.drops(DropReason::Shed), 1);
        assert_eq!(Counters::get(&counters.class_dropped[3]), 1);
        let (priority, bulk) = turn_with_room(&mut b, 0);
        assert_eq!((priority, bulk), (vec![5], vec![]));
        assert_eq!(turn_with_room(&mut b, usize::MAX).1, vec![3, 4, 2]);
        // An empty TUN sheds nothing.
        b.read(&mut tun, &counters, true).unwrap();
        assert_eq!(counters.drops(DropReason::Shed), 1);
        assert_eq!(b.free_slots(), 4);
    }

    #[test]
    fn the_bulk_lane_takes_only_what_the_radio_has_room_for() {
        let mut b = TunBacklog::new(16, 2048, 100_000);
        for port in 1..=4 {
            assert!(b.push_packet(&marked(0, 17, port, 1_400), VnetHdr::default()));
        }
        // No room: best effort waits, and a turn would send nothing.
        assert_eq!(turn_with_room(&mut b, 0), (vec![], vec![]));
        assert!(b.has_bulk() && !b.can_send(0) && b.can_send(1));
        assert!(
            b.room_limited(),
            "bulk left for want of room: shed when full"
        );
        assert_eq!(b.queued(), [0, 0, 4, 0]);
        // Voice read meanwhile is not held by the bulk lane's room.
        assert!(b.push_packet(&marked(46, 17, 9, 1_400), VnetHdr::default()));
        assert_eq!(turn_with_room(&mut b, 0), (vec![9], vec![]));
        // Room for two packets' worth: two (the second starts below it).
        assert_eq!(turn_with_room(&mut b, 2_000), (vec![], vec![1, 2]));
        assert_eq!(turn_with_room(&mut b, 1), (vec![], vec![3]));
        assert_eq!(turn_with_room(&mut b, 1), (vec![], vec![4]));
        assert!(!b.has_bulk() && !b.room_limited());
        assert_eq!(b.free_slots(), 16);
    }

    #[test]
    fn a_ping_read_behind_bulk_leaves_in_the_first_turn() {
        // Budget: two 1400-byte packets per turn.
        let mut b = TunBacklog::new(16, 2048, 2_800);
        for port in 1..=6 {
            assert!(b.push_packet(&packet(6, port, 1_400), VnetHdr::default()));
        }
        assert!(b.push_packet(&packet(1, 99, 84), VnetHdr::default()));
        assert_eq!(turn(&mut b), vec![99, 1, 2]);
        assert!(b.has_bulk());
        assert_eq!(turn(&mut b), vec![3, 4]);
        assert_eq!(turn(&mut b), vec![5, 6]);
        assert!(!b.has_bulk());
        assert_eq!(b.free_slots(), 16, "every slot is free again");
    }

    #[test]
    fn a_small_packet_of_a_flow_with_bulk_waiting_keeps_its_place() {
        let mut b = TunBacklog::new(16, 2048, 1_400);
        // Same flow (TCP, port 7): bulk, then a small packet.
        assert!(b.push_packet(&packet(6, 7, 1_400), VnetHdr::default()));
        assert!(b.push_packet(&packet(6, 7, 1_400), VnetHdr::default()));
        assert_eq!(turn(&mut b), vec![7]);
        assert!(b.push_packet(&packet(6, 7, 60), VnetHdr::default()));
        assert!(b.push_packet(&packet(6, 8, 60), VnetHdr::default()));
        // Port 8 passes; port 7's small packet waits behind its own bulk.
        assert_eq!(turn(&mut b), vec![8, 7]);
        assert_eq!(turn(&mut b), vec![7]);
        assert!(!b.has_bulk());
        // With the bulk gone, flow 7 may be expedited again.
        assert!(b.push_packet(&packet(6, 9, 1_400), VnetHdr::default()));
        assert!(b.push_packet(&packet(6, 7, 60), VnetHdr::default()));
        assert_eq!(turn(&mut b), vec![7, 9]);
        assert_eq!(b.free_slots(), 16);
    }

    #[test]
    fn a_full_pool_takes_no_more_and_frees_as_it_sends() {
        let mut b = TunBacklog::new(3, 2048, 1_400);
        for port in 1..=3 {
            assert!(b.push_packet(&packet(17, port, 1_400), VnetHdr::default()));
        }
        assert!(!b.push_packet(&packet(17, 4, 1_400), VnetHdr::default()));
        assert_eq!(turn(&mut b), vec![1]);
        assert_eq!(b.free_slots(), 1);
        assert!(b.push_packet(&packet(17, 4, 1_400), VnetHdr::default()));
        assert_eq!(turn(&mut b), vec![2]);
        assert_eq!(turn(&mut b), vec![3]);
        assert_eq!(turn(&mut b), vec![4]);
        assert_eq!(b.free_slots(), 3);
    }

    #[test]
    fn a_zero_budget_still_drains_one_action_per_turn() {
        let mut b = TunBacklog::new(4, 2048, 0);
        for port in 1..=2 {
            assert!(b.push_packet(&packet(17, port, 1_400), VnetHdr::default()));
        }
        assert_eq!(turn(&mut b), vec![1]);
        assert_eq!(turn(&mut b), vec![2]);
        assert!(!b.has_bulk());
    }

    #[test]
    fn packets_the_role_drops_free_their_slot_at_once() {
        let mut b = TunBacklog::new(2, 2048, 1_400);
        assert!(b.push_packet(&packet(17, 1, 100), VnetHdr::default()));
        let slot = b.fresh()[0];
        b.file(slot, &mut Vec::new());
        assert_eq!(b.free_slots(), 2);
        // Too big for a slot: refused, nothing taken.
        assert!(!b.push_packet(&[0x45; 4096], VnetHdr::default()));
        assert_eq!(b.free_slots(), 2);
    }
}
