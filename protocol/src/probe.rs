//! A role's probe state (`obu ping`, `obu traceroute`): the answers
//! waiting for the API, our probes awaiting answers, and the budgets that
//! bound the signatures probes may cost. How probes travel is
//! [`crate::diagnostics`].

use crate::ratelimit::Bucket;
use common::wire::ProbeTarget;
use common::{NodeId, Time};

/// Answers (replies, TTL exceeded) a node sends at most per second, burst
/// included: forged or replayed requests cannot make it sign without end.
const ANSWERS_PER_SECOND: u32 = 100;
/// Results kept for the API to collect.
pub(crate) const MAX_RESULTS: usize = 1024;
/// Signature checks of probes a second (secure modes), before any answer.
const CHECKS_PER_SECOND: u32 = 200;
/// Probes of ours awaiting an answer at most, and for how long: answers
/// to anything else are dropped before their signature is checked.
const MAX_PENDING: usize = 256;
const PENDING_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// Where a probe goes next, by the role's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeRoute {
    /// We are the node it is for.
    Mine,
    /// On to this neighbour.
    Via(NodeId),
    /// Nobody we know.
    Unknown,
}

/// A probe the operator asked for (through the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    pub id: u16,
    pub seq: u16,
    pub target: ProbeTarget,
    pub ttl: u8,
}

/// An answer that came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProbeResult {
    pub id: u16,
    pub seq: u16,
    /// "reply" (from the target) or "ttl_exceeded" (from a relay).
    pub kind: &'static str,
    /// The node that answered.
    pub from: NodeId,
    /// Hops the request took to it.
    pub hops: u8,
    pub rtt_us: u64,
}

/// A role's probe state: answers waiting for the API, the answer budget.
pub struct Probes {
    pub(crate) results: Vec<ProbeResult>,
    pub(crate) answers: Bucket,
    pub(crate) checks: Bucket,
    /// Ids of our probes still awaiting answers, with when they left.
    pending: std::collections::VecDeque<(u16, Time)>,
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            results: Vec::new(),
            answers: Bucket::new(ANSWERS_PER_SECOND, ANSWERS_PER_SECOND),
            checks: Bucket::new(CHECKS_PER_SECOND, CHECKS_PER_SECOND),
            pending: std::collections::VecDeque::new(),
        }
    }
}

impl Probes {
    /// Moves the answers received since the last call into `out`.
    pub fn take_results(&mut self, out: &mut Vec<ProbeResult>) {
        out.append(&mut self.results);
    }

    pub(crate) fn sent(&mut self, id: u16, now: Time) {
        while self
            .pending
            .front()
            .is_some_and(|(_, t)| now.since(*t) >= PENDING_FOR)
            || self.pending.len() >= MAX_PENDING
        {
            self.pending.pop_front();
        }
        self.pending.push_back((id, now));
    }

    pub(crate) fn is_pending(&self, id: u16, now: Time) -> bool {
        self.pending
            .iter()
            .any(|(p, t)| *p == id && now.since(*t) < PENDING_FOR)
    }
}
