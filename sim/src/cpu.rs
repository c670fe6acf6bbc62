//! One shared CPU for all simulated nodes: the machine on which hundreds of
//! daemons run side by side (the lab), or a busy node's own processor.
//!
//! Without it every node handles what it hears in the millisecond it
//! arrives. With it, work waits its turn: a node with frames waiting, or a
//! timer due, joins a first-come queue, and each simulated millisecond the
//! machine does `capacity_us` of work from the front of that queue. What a
//! piece of work costs comes from what it handled and sent (a signed
//! beacon costs a verification, a handshake several key agreements, see
//! [`Costs`]). When the work asked for exceeds the capacity, a backlog
//! grows and every node reads its frames and runs its timers late: a
//! relayed beacon reaches the next vehicle late, a timeout fires, a
//! failover sends more (signed replies, handshakes), and the backlog
//! grows further. That loop is what the stability tests drive.

use common::wire::{MessageType, ETH_HEADER_LEN};
use std::collections::VecDeque;

/// What one piece of work costs, µs (the orders of magnitude measured in
/// the daemons on the 2-core machine: docs/BENCHMARKS.md).
#[derive(Clone, Copy, Debug)]
pub struct Costs {
    /// Waking up and reading a batch, or running the timers.
    pub wakeup_us: u64,
    /// Any frame received or sent, before its message's own cost.
    pub frame_us: u64,
    /// A beacon (a signature checked, or found in the cache).
    pub beacon_us: u64,
    /// A reply or a leave (a signature checked or made).
    pub reply_us: u64,
    /// A handshake message, made or answered (key agreements).
    pub handshake_us: u64,
    /// A certificate (a signature made or checked).
    pub certificate_us: u64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            wakeup_us: 8,
            frame_us: 3,
            beacon_us: 15,
            reply_us: 40,
            handshake_us: 400,
            certificate_us: 40,
        }
    }
}

impl Costs {
    /// The cost of one frame, by its first message's type.
    pub fn of_frame(&self, bytes: &[u8]) -> u64 {
        let kind = bytes
            .get(ETH_HEADER_LEN + 1)
            .and_then(|b| MessageType::from_u8(*b));
        self.frame_us
            + match kind {
                Some(MessageType::Beacon) => self.beacon_us,
                Some(MessageType::BeaconReply) => self.reply_us,
                Some(MessageType::HandshakeInit | MessageType::HandshakeResponse) => {
                    self.handshake_us
                }
                Some(MessageType::Certificate) => self.certificate_us,
                _ => 0,
            }
    }
}

/// A piece of work waiting for the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Node `i` reads every frame waiting on its link.
    Receive(usize),
    /// Node `i` runs its due timers.
    Tick(usize),
}

impl Work {
    pub fn node(self) -> usize {
        match self {
            Work::Receive(i) | Work::Tick(i) => i,
        }
    }
}

/// The shared CPU: its capacity, its queue, and what it measured.
#[derive(Clone, Debug)]
pub struct Cpu {
    /// µs of work done per simulated millisecond (1000: one core).
    pub capacity_us: u64,
    pub costs: Costs,
    /// Work done ahead of time (positive) or owed (negative), µs.
    credit: i64,
    queue: VecDeque<Work>,
    queued: Vec<[bool; 2]>,
    /// Milliseconds that ended with work still waiting (saturated).
    pub saturated_ms: u64,
    /// Work done in all, µs.
    pub busy_us: u64,
}

impl Cpu {
    pub fn new(capacity_us: u64, costs: Costs) -> Cpu {
        Cpu {
            capacity_us,
            costs,
            credit: 0,
            queue: VecDeque::new(),
            queued: Vec::new(),
            saturated_ms: 0,
            busy_us: 0,
        }
    }

    /// Queues `w` unless the same work waits already.
    pub fn push(&mut self, w: Work) {
        let i = w.node();
        if self.queued.len() <= i {
            self.queued.resize(i + 1, [false; 2]);
        }
        let slot = &mut self.queued[i][matches!(w, Work::Tick(_)) as usize];
        if !*slot {
            *slot = true;
            self.queue.push_back(w);
        }
    }

    /// A new millisecond: its capacity becomes available (unused capacity
    /// is not saved up beyond one millisecond).
    pub fn refill(&mut self) {
        let cap = self.capacity_us as i64;
        self.credit = (self.credit + cap).min(cap);
    }

    /// The next piece of work, if the CPU has time for it this millisecond.
    pub fn take(&mut self) -> Option<Work> {
        if self.credit <= 0 {
            return None;
        }
        let w = self.queue.pop_front()?;
        self.queued[w.node()][matches!(w, Work::Tick(_)) as usize] = false;
        Some(w)
    }

    /// Charges the work just done.
    pub fn charge(&mut self, us: u64) {
        self.credit -= us as i64;
        self.busy_us += us;
    }

    /// The millisecond ends: count it as saturated if work still waits.
    pub fn end_ms(&mut self) {
        if !self.queue.is_empty() {
            self.saturated_ms += 1;
        }
    }

    /// Pieces of work waiting.
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_waits_for_capacity_and_is_queued_once() {
        let mut cpu = Cpu::new(100, Costs::default());
        cpu.push(Work::Receive(1));
        cpu.push(Work::Receive(1));
        cpu.push(Work::Tick(1));
        cpu.push(Work::Tick(2));
        assert_eq!(cpu.backlog(), 3);
        cpu.refill();
        assert_eq!(cpu.take(), Some(Work::Receive(1)));
        cpu.charge(250);
        assert_eq!(cpu.take(), None, "the millisecond's capacity is spent");
        cpu.end_ms();
        cpu.refill();
        assert_eq!(cpu.take(), None, "still owed from the last millisecond");
        cpu.end_ms();
        cpu.refill();
        assert_eq!(cpu.take(), Some(Work::Tick(1)));
        assert_eq!(cpu.saturated_ms, 2);
        cpu.push(Work::Receive(1));
        assert_eq!(cpu.backlog(), 2, "queued again once taken");
    }
}
