//! The device seam: what the data path needs of a link and of a TUN.

use common::action::Payload;
use common::batch::{RecvBatch, SendBatch};
use common::counters::Counters;
use common::offload::{TunWrite, VnetHdr};
use common::priority::Lane;
use protocol::plan::Coalesce;
use std::io;

/// What one TUN read gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunRead {
    /// A packet of this many bytes, with its virtio-net header (default
    /// without offload).
    Packet(usize, VnetHdr),
    /// A packet that was malformed, counted and dropped.
    Dropped,
    /// Nothing to read now.
    Empty,
}

/// The radio side: frames in and out, in batches.
pub trait LinkDevice {
    /// Receives up to `max` frames into `batch` (cleared first) without
    /// blocking; `batched`: in one call if the device can. `Ok(0)` when
    /// nothing waits. A frame too large for its slot gets length 0 and is
    /// counted.
    fn recv(
        &mut self,
        batch: &mut RecvBatch,
        max: usize,
        batched: bool,
        counters: &Counters,
    ) -> io::Result<usize>;

    /// Sends every frame of `frames` into `lane`, its payload segments
    /// resolved by `payload`; frames the device refuses are counted as
    /// dropped. Returns the number of frames sent.
    fn send<'a>(
        &mut self,
        frames: &'a SendBatch,
        payload: &dyn Fn(&Payload) -> Option<&'a [u8]>,
        batched: bool,
        counters: &Counters,
        lane: Lane,
    ) -> usize;

    /// Bytes the bulk lane takes now without its queue in the kernel
    /// growing past its bound (`usize::MAX`: no bound).
    fn bulk_room(&self) -> usize {
        usize::MAX
    }

    /// Whether the bulk lane is bounded (without asking the kernel).
    fn has_bulk_lane(&self) -> bool {
        false
    }
}

/// The host side: IP packets in (one read at a time, as the kernel's TUN
/// gives them) and planned writes out.
pub trait TunDevice {
    /// Reads one packet into `slot` (at least the read capacity the data
    /// path was built with).
    fn read_one(&mut self, slot: &mut [u8], counters: &Counters) -> io::Result<TunRead>;

    /// How deliveries to this device may be coalesced (GRO).
    fn coalesce(&self) -> Coalesce;

    /// Carries out planned writes (`common::offload::plan_tun_writes`):
    /// packet `k` of the plan is `packet(k)`. Failures are counted.
    fn write_planned<'a>(
        &mut self,
        writes: &[TunWrite],
        packet: &dyn Fn(usize) -> &'a [u8],
        counters: &Counters,
    );
}
