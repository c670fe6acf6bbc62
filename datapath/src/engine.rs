//! One node's data path on two devices: the steps of a loop turn that move
//! packets (the daemon's loop adds waiting, the watchdog, the API's
//! snapshot and reloads around them; the simulator, its clock and air).
//!
//! ```text
//!  tick          the role's timers when due, and what they send
//!  receive_link  up to 4 receive batches (after a quiet spell, a lone
//!                frame by a plain receive): each frame to the role, the
//!                role's actions planned and flushed
//!  receive_tun   batched: read into the backlog, each packet to the role,
//!                small packets now and a turn's share of bulk; unbatched:
//!                one packet at a time, as the link
//!  drain         at shutdown: everything the backlog holds
//! ```
//!
//! Each step takes the role and the current time; nothing here reads a
//! clock or makes a syscall of its own.

use crate::device::{LinkDevice, TunDevice, TunRead};
use crate::dispatch::{Dispatcher, Received};
use crate::tun_backlog::TunBacklog;
use common::action::Action;
use common::airtime::Airtime;
use common::batch::RecvBatch;
use common::counters::{Counters, Dir};
use common::offload::VnetHdr;
use common::priority::{ClassMap, Lane};
use common::{NodeId, Time};
use protocol::role::Role;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Batches handled from one source before the loop looks at the other, so
/// a flood on one side cannot starve the other.
pub const BATCHES_PER_TURN: usize = 4;
/// Batches read, at most, before the role's timers judge its neighbours
/// (`drain_link`): everything a starved daemon found waiting (4096 frames
/// at 64 a batch), bounded so that a flood still lets the timers run.
pub const DRAIN_BATCHES: usize = 64;
/// A link whose receive queue has been empty this long is read one frame
/// at a time first: a plain `recv` of a lone frame is cheaper than a
/// `recvmmsg` that then tries the empty queue again (paired idle pings).
/// A queue that has not been seen empty is always read in batches.
const LINK_QUIET: Duration = Duration::from_millis(1);

/// What a data path is built for.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// The link: our MAC (frames' source), EtherType, MTU, and the bytes a
    /// received frame may take.
    pub mac: NodeId,
    pub ethertype: u16,
    pub link_mtu: usize,
    pub frame_capacity: usize,
    /// Bytes one TUN read can return (64 KiB with offload).
    pub tun_read_capacity: usize,
    pub batched: bool,
    pub aggregate: bool,
    /// Frames per receive batch, packets per TUN read (1 unbatched).
    pub max_batch: usize,
    /// `[link] phy_rate_mbps` in kbit/s, for the airtime of heard frames.
    pub phy_rate_kbps: u64,
}

/// What the TUN backlog holds ([`Engine::backlog`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backlog {
    Empty,
    Ready,
    WaitsForRoom,
}

/// Where the actions being flushed point their payloads.
#[derive(Clone, Copy)]
enum Input {
    /// Timers, reloads, probes: control messages only.
    Timers,
    /// The link receive batch.
    Link,
    /// The TUN receive batch (unbatched mode).
    Tun,
}

/// The reused buffers and the devices of one node's data path.
pub struct Engine<L, T> {
    pub link: L,
    pub tun: T,
    counters: Arc<Counters>,
    batched: bool,
    aggregate: bool,
    max_batch: usize,
    link_rx: RecvBatch,
    /// Unbatched mode's TUN reads (batched: the backlog's pool).
    tun_rx: RecvBatch,
    tun_meta: Vec<VnetHdr>,
    backlog: TunBacklog,
    empty: RecvBatch,
    dispatch: Dispatcher,
    actions: Vec<Action>,
    airtime: Airtime,
    /// Since when the link's receive queue is known to be empty (None:
    /// frames may be waiting).
    link_empty_since: Option<Time>,
    /// The classes packets and frames are sent in.
    classes: ClassMap,
}

impl<L: LinkDevice, T: TunDevice> Engine<L, T> {
    pub fn new(c: EngineConfig, link: L, tun: T, counters: Arc<Counters>) -> Engine<L, T> {
        let max_batch = if c.batched { c.max_batch.max(1) } else { 1 };
        // Batched: the TUN is read through the backlog; unbatched: one
        // packet at a time through `tun_rx`.
        let unbatched_slots = if c.batched { 0 } else { max_batch };
        Engine {
            link,
            tun,
            counters,
            batched: c.batched,
            aggregate: c.aggregate,
            max_batch,
            link_rx: RecvBatch::new(max_batch, c.frame_capacity),
            tun_rx: RecvBatch::new(unbatched_slots, c.tun_read_capacity),
            tun_meta: vec![VnetHdr::default(); unbatched_slots],
            backlog: TunBacklog::new(
                if c.batched { max_batch } else { 0 },
                c.tun_read_capacity,
                // Bulk per turn: about one send of link frames, so the loop
                // is back at the link and the TUN within a fraction of a ms.
                max_batch * c.link_mtu,
            ),
            empty: RecvBatch::new(0, 1),
            dispatch: Dispatcher::new(
                c.mac,
                c.ethertype,
                c.link_mtu,
                c.batched,
                c.aggregate,
                max_batch,
            ),
            actions: Vec::with_capacity(max_batch * 4),
            airtime: Airtime::new(c.phy_rate_kbps),
            link_empty_since: Some(Time::ZERO),
            classes: ClassMap::default(),
        }
    }

    /// The link was opened anew (a re-created interface): its MTU sets the
    /// bulk budget, a new MAC a new sender address.
    pub fn relink(&mut self, mac: NodeId, ethertype: u16, link_mtu: usize) {
        self.backlog.set_budget(self.max_batch * link_mtu);
        self.dispatch = Dispatcher::new(
            mac,
            ethertype,
            link_mtu,
            self.batched,
            self.aggregate,
            self.max_batch,
        );
        self.dispatch.set_classes(self.classes.clone());
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Where a caller's role puts actions (reloads, probes) before
    /// [`Engine::flush_actions`].
    pub fn actions(&mut self) -> &mut Vec<Action> {
        &mut self.actions
    }

    /// What the TUN backlog holds: nothing, something a turn would send
    /// now (the loop must not sleep), or only bulk waiting for room in the
    /// link's bulk lane (the loop looks again soon).
    pub fn backlog(&self) -> Backlog {
        if !self.backlog.has_bulk() {
            Backlog::Empty
        } else if self.backlog.can_send(self.link.bulk_room()) {
            Backlog::Ready
        } else {
            Backlog::WaitsForRoom
        }
    }

    /// Whether the backlog has something a turn would send now.
    pub fn has_bulk(&self) -> bool {
        self.backlog() == Backlog::Ready
    }

    /// The classes packets and frames are sent in (the DSCP map).
    pub fn set_classes(&mut self, classes: ClassMap) {
        self.backlog.set_classes(classes.clone());
        self.dispatch.set_classes(classes.clone());
        self.classes = classes;
    }

    /// Plans and sends the role's pending actions, whose payloads lie in
    /// `input`'s batch.
    fn flush<R: Role + ?Sized>(&mut self, role: &mut R, input: Input) {
        let (link_rx, tun_rx, tun_meta) = match input {
            Input::Timers => (&self.empty, &self.empty, &[][..]),
            Input::Link => (&self.link_rx, &self.empty, &[][..]),
            Input::Tun => (&self.empty, &self.tun_rx, &self.tun_meta[..]),
        };
        // Unbatched, a TUN packet is read and sent alone: best effort and
        // background take the bulk lane (marked so for the radio), the
        // rest the main socket.
        let lane = match input {
            Input::Tun if !tun_rx.is_empty() => {
                match self.classes.of_packet(tun_rx.get(0)).is_bulk_lane() {
                    true => Lane::Bulk,
                    false => Lane::Priority,
                }
            }
            _ => Lane::Priority,
        };
        let rx = Received {
            link_rx,
            tun_rx,
            tun_meta,
        };
        self.dispatch.handle_messages_batched(
            &self.actions,
            rx,
            &mut self.link,
            &mut self.tun,
            &self.counters,
            role.sending(),
            lane,
        );
        self.actions.clear();
    }

    /// Sends what the caller's role put into [`Engine::actions`]
    /// (control messages only: their payloads lie in no receive batch).
    pub fn flush_actions<R: Role + ?Sized>(&mut self, role: &mut R) {
        self.flush(role, Input::Timers);
    }

    /// The role's timers, when due, and what they send.
    pub fn tick<R: Role + ?Sized>(&mut self, role: &mut R, now: Time) {
        if now >= role.next_tick() {
            role.on_tick(now, &mut self.actions);
            self.flush(role, Input::Timers);
        }
    }

    /// Receive batches from the link (`readable`: the device said frames
    /// wait), each through the role and out; `clock` is read after each
    /// receive, so frames carry the time they were read. An error of the
    /// device ends the step and is returned (counted by the caller, who
    /// knows what it means).
    pub fn receive_link<R: Role + ?Sized>(
        &mut self,
        role: &mut R,
        clock: &dyn Fn() -> Time,
        readable: bool,
    ) -> io::Result<()> {
        self.receive_link_batches(role, clock, readable, BATCHES_PER_TURN)
    }

    /// What waits on the link, all of it (up to `DRAIN_BATCHES`), through
    /// the role: read before its timers run, so that a timeout judges a
    /// neighbour by when its frames reached this host, not by when a busy
    /// daemon got round to them. A starved daemon finds hundreds of frames
    /// waiting; reading only a turn's share would judge with some unread.
    pub fn drain_link<R: Role + ?Sized>(
        &mut self,
        role: &mut R,
        clock: &dyn Fn() -> Time,
    ) -> io::Result<()> {
        self.receive_link_batches(role, clock, true, DRAIN_BATCHES)
    }

    fn receive_link_batches<R: Role + ?Sized>(
        &mut self,
        role: &mut R,
        clock: &dyn Fn() -> Time,
        readable: bool,
        batches: usize,
    ) -> io::Result<()> {
        if !readable {
            self.link_empty_since.get_or_insert_with(clock);
            return Ok(());
        }
        // After a quiet spell, one frame by a plain receive; if more are
        // queued, the next turn reads them in batches.
        let lone = self.batched
            && self
                .link_empty_since
                .is_some_and(|t| clock().since(t) >= LINK_QUIET);
        for _ in 0..batches {
            let batch = self.batched && !lone;
            let n = self
                .link
                .recv(&mut self.link_rx, self.max_batch, batch, &self.counters)?;
            if n == 0 {
                self.link_empty_since.get_or_insert_with(clock);
                break;
            }
            let now = clock();
            // A batched read that came back short emptied the queue; after
            // a full batch or a lone read frames may wait.
            self.link_empty_since = (!lone && n < self.max_batch).then_some(now);
            self.frames_to_role(role, now, n);
            self.flush(role, Input::Link);
            if n < self.max_batch {
                break;
            }
        }
        Ok(())
    }

    fn frames_to_role<R: Role + ?Sized>(&mut self, role: &mut R, now: Time, n: usize) {
        let c = &*self.counters;
        for i in 0..n {
            let frame = self.link_rx.get_mut(i);
            if frame.is_empty() {
                continue;
            }
            Counters::inc(&c.link_rx_frames, 1);
            Counters::inc(&c.link_rx_bytes, frame.len() as u64);
            let group = frame.first().is_some_and(|b| b & 1 == 1);
            let kind = common::airtime::kind_of(frame);
            let us = self.airtime.frame_us(frame.len(), group, kind);
            Counters::inc(&c.airtime_rx_us, us);
            role.on_frame(now, i as u16, frame, &mut self.actions);
        }
    }

    /// Packets from the TUN (`readable`: the device said packets wait)
    /// through the role and out; `clock` is read after each read. A read
    /// error is returned: the TUN is the node's own, so the caller decides
    /// (the daemon stops).
    pub fn receive_tun<R: Role + ?Sized>(
        &mut self,
        role: &mut R,
        clock: &dyn Fn() -> Time,
        readable: bool,
    ) -> io::Result<()> {
        if self.batched {
            if readable {
                self.read_into_backlog(role, clock)?;
            }
            // One look at the bulk lane's room a turn (a syscall on a radio).
            if readable || self.backlog.has_bulk() {
                let room = self.link.bulk_room();
                if readable || self.backlog.can_send(room) {
                    self.send_backlog_turn(role, room);
                }
            }
            return Ok(());
        }
        if !readable {
            return Ok(());
        }
        for _ in 0..BATCHES_PER_TURN {
            let n = self.read_unbatched()?;
            if n == 0 {
                break;
            }
            let now = clock();
            let c = &*self.counters;
            for i in 0..n {
                let pkt = self.tun_rx.get(i);
                Counters::inc(&c.tun_rx_packets, 1);
                Counters::inc(&c.tun_rx_bytes, pkt.len() as u64);
                role.on_tun(now, i as u16, pkt, &mut self.actions);
            }
            self.flush(role, Input::Tun);
            if n < self.max_batch {
                break;
            }
        }
        Ok(())
    }

    /// Unbatched: reads one packet into `tun_rx` (0 when none waits).
    fn read_unbatched(&mut self) -> io::Result<usize> {
        self.tun_rx.clear();
        loop {
            match self.tun.read_one(self.tun_rx.slot_mut(0), &self.counters)? {
                TunRead::Packet(len, hdr) => {
                    self.tun_meta[0] = hdr;
                    self.tun_rx.set_len(0, len);
                    self.tun_rx.set_filled(1);
                    self.counters.batch(Dir::TunRx, 1);
                    return Ok(1);
                }
                TunRead::Dropped => continue,
                TunRead::Empty => return Ok(0),
            }
        }
    }

    /// Batched: reads what the TUN has into the backlog; each new packet
    /// goes through the role and its actions are filed (small now, bulk
    /// queued).
    fn read_into_backlog<R: Role + ?Sized>(
        &mut self,
        role: &mut R,
        clock: &dyn Fn() -> Time,
    ) -> io::Result<()> {
        // When the last turn left bulk for want of room in the bulk lane,
        // the channel, not this host, is the bottleneck: a full backlog
        // sheds its oldest bulk rather than leave new packets in the TUN's
        // FIFO. (A backlog full for want of CPU drains at the host's pace,
        // and new packets wait in the TUN as before.)
        let shed = self.backlog.room_limited();
        self.backlog.read(&mut self.tun, &self.counters, shed)?;
        let now = clock();
        let c = &*self.counters;
        for k in 0..self.backlog.fresh().len() {
            let slot = self.backlog.fresh()[k];
            let pkt = self.backlog.packet(slot);
            Counters::inc(&c.tun_rx_packets, 1);
            Counters::inc(&c.tun_rx_bytes, pkt.len() as u64);
            role.on_tun(now, slot, pkt, &mut self.actions);
            self.backlog.file(slot, &mut self.actions);
        }
        Ok(())
    }

    /// Sends what the TUN backlog has for this turn: the small packets
    /// just read and a turn's share of queued voice and video through the
    /// priority lane, then best effort and background through the bulk
    /// lane, as far as its `room` goes.
    fn send_backlog_turn<R: Role + ?Sized>(&mut self, role: &mut R, room: usize) {
        self.backlog.take_bulk(room);
        for (lane, (out, tun_rx, tun_meta)) in [
            (Lane::Priority, self.backlog.to_send()),
            (Lane::Bulk, self.backlog.to_send_bulk()),
        ] {
            let rx = Received {
                link_rx: &self.empty,
                tun_rx,
                tun_meta,
            };
            self.dispatch.handle_messages_batched(
                out,
                rx,
                &mut self.link,
                &mut self.tun,
                &self.counters,
                role.sending(),
                lane,
            );
        }
        self.backlog.sent();
        self.counters.set_class_queued(self.backlog.queued());
    }

    /// Shutdown: what was read from the TUN is accepted, so send it all
    /// (the bulk lane's bound no longer matters: the link waits for room).
    pub fn drain<R: Role + ?Sized>(&mut self, role: &mut R) {
        while self.backlog.has_bulk() {
            self.send_backlog_turn(role, usize::MAX);
        }
    }
}
