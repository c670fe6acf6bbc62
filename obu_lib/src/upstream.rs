//! Per-RSU candidate next hops and the upstream choice with hysteresis.
//! Pure data and rules; the OBU state machine feeds it beacons and time.

use common::wire::BeaconRepr;
use common::{NodeId, Time};
use protocol::seqwin::{DedupWindow, ReceptionWindow};
use std::collections::HashMap;
use std::time::Duration;

/// A neighbour through which an RSU's beacons arrive.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Our distance to the RSU through this neighbour.
    pub hops: u8,
    pub window: ReceptionWindow,
    /// Last beacon of this RSU heard through it.
    pub last_heard: Time,
}

/// What we know of one RSU.
#[derive(Clone, Debug, Default)]
pub struct RsuInfo {
    pub dedup: DedupWindow,
    pub latest_seq: u32,
    pub latest_ts_us: u64,
    pub last_heard: Time,
    pub candidates: HashMap<NodeId, Candidate>,
    /// Security on: the RSU's verified key and the newest signed beacon
    /// time accepted from it (older ones are replays).
    pub key: Option<secure::PublicKey>,
    pub auth_time_us: u64,
    /// The epoch of the RSU process whose beacons we follow (a new one:
    /// it restarted), and when a beacon of it was last heard.
    pub epoch: Option<u32>,
    pub epoch_heard: Time,
    /// When a restart or resync of this RSU was last logged: at most one
    /// line per `LOG_EVERY`, so forged beacons cannot flood the log.
    pub logged_at: Option<Time>,
}

/// Least time between two log lines about one RSU's restarts or resyncs.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The chosen way to an RSU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub rsu: NodeId,
    pub next_hop: NodeId,
    pub hops: u8,
}

/// Ratio gain (per mille) that a same-hops candidate needs to take over.
pub const SAME_HOPS_MARGIN: u32 = 250;
/// Ratio a shorter path needs before we move to it.
pub const SHORTER_MIN_RATIO: u32 = 500;
/// Hop gain needed to leave a working RSU for another one.
pub const RSU_SWITCH_HOPS: u8 = 1;
/// Most RSUs tracked.
pub const MAX_RSUS: usize = 64;

impl RsuInfo {
    /// Best candidate: fewest hops, then best reception ratio, then MAC (stable).
    pub fn best(&self) -> Option<(NodeId, Candidate)> {
        self.candidates
            .iter()
            .min_by_key(|(mac, c)| (c.hops, u32::MAX - c.window.ratio_permille(), **mac))
            .map(|(m, c)| (*m, *c))
    }

    /// Fewest hops among the candidates.
    pub fn min_hops(&self) -> Option<u8> {
        self.candidates.values().map(|c| c.hops).min()
    }

    /// A candidate may carry our traffic only if its neighbour is not
    /// farther from the RSU than we are by our best path: hops at most one
    /// more than the best. A farther neighbour may be our own child, whose
    /// copies of the beacons we flooded would otherwise look like a path
    /// and keep a loop alive after our real path dies.
    pub fn eligible(&self, c: &Candidate) -> bool {
        self.min_hops()
            .is_some_and(|m| c.hops <= m.saturating_add(1))
    }

    /// Keeps only the `n` best candidates.
    pub fn prune(&mut self, n: usize) {
        while self.candidates.len() > n {
            let worst = self
                .candidates
                .iter()
                .max_by_key(|(mac, c)| (c.hops, u32::MAX - c.window.ratio_permille(), **mac))
                .map(|(m, _)| *m);
            match worst {
                Some(m) => {
                    self.candidates.remove(&m);
                }
                None => break,
            }
        }
    }

    /// Drops candidates whose beacons stopped; returns whether `current` went.
    pub fn expire(&mut self, now: Time, timeout: Duration, current: Option<NodeId>) -> bool {
        let mut lost_current = false;
        self.candidates.retain(|mac, c| {
            let alive = now.since(c.last_heard) < timeout;
            if !alive && Some(*mac) == current {
                lost_current = true;
            }
            alive
        });
        lost_current
    }

    /// Whether an event of this RSU may be logged now (see `logged_at`).
    pub fn may_log(&mut self, now: Time) -> bool {
        let ok = self.logged_at.is_none_or(|t| now.since(t) >= LOG_EVERY);
        if ok {
            self.logged_at = Some(now);
        }
        ok
    }

    /// The RSU's sequence starts afresh at `b` (it restarted, or its window
    /// resynchronised): reception windows and the latest sequence follow
    /// `b`; the candidates stay (their neighbours are still heard).
    pub fn start_afresh(&mut self, b: &BeaconRepr) {
        self.latest_seq = b.seq;
        self.latest_ts_us = b.timestamp_us;
        for c in self.candidates.values_mut() {
            c.window.reset();
        }
    }

    /// Ages every candidate's window to the RSU's latest sequence.
    pub fn age_windows(&mut self) {
        let latest = self.latest_seq;
        for c in self.candidates.values_mut() {
            c.window.advance_to(latest);
        }
    }
}

/// Chooses the upstream among all RSUs. With a current upstream that still
/// works, only a clearly better path replaces it (no flapping).
pub fn choose(rsus: &HashMap<NodeId, RsuInfo>, current: Option<Upstream>) -> Option<Upstream> {
    let best_of = |rsu: &NodeId, info: &RsuInfo| {
        info.best().map(|(nh, c)| {
            (
                Upstream {
                    rsu: *rsu,
                    next_hop: nh,
                    hops: c.hops,
                },
                c.window.ratio_permille(),
            )
        })
    };
    // Overall best: fewest hops, then ratio, then RSU id for determinism.
    let overall = rsus
        .iter()
        .filter_map(|(r, i)| best_of(r, i))
        .min_by_key(|(u, ratio)| (u.hops, u32::MAX - ratio, u.rsu, u.next_hop));
    let Some(cur) = current else {
        return overall.map(|(u, _)| u);
    };
    let cur_cand = rsus
        .get(&cur.rsu)
        .and_then(|i| i.candidates.get(&cur.next_hop).filter(|c| i.eligible(c)));
    let Some(cur_cand) = cur_cand else {
        // Current path is gone, or now leads away from the RSU: fail over
        // at once to the best remaining.
        return overall.map(|(u, _)| u);
    };
    let cur_ratio = cur_cand.window.ratio_permille();
    let cur_now = Upstream {
        hops: cur_cand.hops,
        ..cur
    };
    let Some((cand, ratio)) = overall else {
        return Some(cur_now);
    };
    if cand.rsu == cur.rsu && cand.next_hop == cur.next_hop {
        return Some(cur_now);
    }
    let clearly_better = if cand.rsu != cur.rsu {
        cand.hops + RSU_SWITCH_HOPS <= cur_now.hops && ratio >= SHORTER_MIN_RATIO
    } else if cand.hops < cur_now.hops {
        ratio >= SHORTER_MIN_RATIO
    } else {
        cand.hops == cur_now.hops && ratio >= cur_ratio + SAME_HOPS_MARGIN
    };
    Some(if clearly_better { cand } else { cur_now })
}
