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
    /// The neighbour was lately our next hop and timed out: it ranks
    /// below every other path until its hold-down ends.
    pub held: bool,
    /// Beacons recorded since it became a candidate (or its RSU started
    /// afresh), saturating: a young window's low ratio means little.
    pub heard: u16,
    /// How late its beacons have been arriving lately (see `Lateness`).
    pub late: Lateness,
}

impl Candidate {
    /// A new candidate, first heard at `now` at `hops`.
    pub fn new(now: Time, hops: u8) -> Candidate {
        Candidate {
            hops,
            window: Default::default(),
            last_heard: now,
            held: false,
            heard: 0,
            late: Lateness::default(),
        }
    }

    /// Beacon `seq` heard through it at `now` (beacons every `interval`).
    pub fn record(&mut self, now: Time, seq: u32, hops: u8, interval: Duration) {
        self.late.heard(now, seq, interval);
        self.hops = hops;
        self.window.record(seq);
        self.heard = self.heard.saturating_add(1);
        self.last_heard = now;
    }

    /// Heard through it for a whole window at least: its ratio is its
    /// reception, not its youth.
    pub fn seasoned(&self) -> bool {
        u32::from(self.heard) >= ReceptionWindow::SIZE
    }

    /// Reception over the newest beacons at `now`, counting those due
    /// since the last one heard (one every `interval`) as lost.
    pub fn recent_permille(&self, now: Time, interval: Duration) -> u32 {
        let due = now.since(self.last_heard).as_micros() / interval.as_micros().max(1);
        self.window
            .recent_permille_missing(u32::try_from(due).unwrap_or(u32::MAX))
    }
}

/// The most a neighbour's timeout grows to, in configured timeouts.
pub const MAX_TIMEOUT_FACTOR: u32 = 2;
/// A timeout is this many times the longest recent gap (in eighths).
const TIMEOUT_PER_GAP_EIGHTHS: u64 = 12;
/// The longest recent gap halves its excess over nothing this often.
const PEAK_HALF_LIFE: Duration = Duration::from_secs(10);
/// A next hop that timed out is held down this long.
pub const HOLD_DOWN: Duration = Duration::from_secs(2);

/// The largest of some recent values, forgetting: its excess over
/// nothing halves every `PEAK_HALF_LIFE` (linearly within one).
#[derive(Clone, Copy, Debug, Default)]
pub struct DecayingPeak {
    peak_us: u64,
    at: Time,
}

impl DecayingPeak {
    /// Takes `value` at `now`.
    pub fn note(&mut self, now: Time, value: Duration) {
        let v = value.as_micros() as u64;
        if v >= self.get_us(now) {
            self.peak_us = v;
            self.at = now;
        }
    }

    fn get_us(&self, now: Time) -> u64 {
        let h = PEAK_HALF_LIFE.as_micros() as u64;
        let age = now.since(self.at).as_micros() as u64;
        let halved = self.peak_us >> (age / h).min(63);
        halved - halved * (age % h) / h / 2
    }

    /// The peak, decayed to `now`.
    pub fn get(&self, now: Time) -> Duration {
        Duration::from_micros(self.get_us(now))
    }
}

/// How a neighbour's beacons have been arriving, kept while it is not a
/// candidate too (a relay that was starved for a while and comes back is
/// remembered as one that can be late): the longest gap between two of
/// its frames lately, decaying, and a hold-down.
///
/// Its timeout is 1.5 times that gap, at least the configured neighbour
/// timeout and at most `MAX_TIMEOUT_FACTOR` times it: a neighbour that was
/// once silent for 400 ms (a busy machine, a congested channel) is given
/// 600 ms before it is judged dead, for some tens of seconds after, while
/// a neighbour that beacons like clockwork keeps the configured timeout.
/// At most twice: a failover must stay well within a second (section 10's
/// recovery; a hard handover in the backbone test). Lateness proven by
/// sequence numbers may stretch further (`Lateness`).
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    pub last_heard: Time,
    peak_gap: DecayingPeak,
    /// Until when it ranks below every other path (it timed out as ours).
    pub held_until: Time,
}

impl Liveness {
    pub fn new(now: Time) -> Liveness {
        Liveness {
            last_heard: now,
            peak_gap: DecayingPeak {
                peak_us: 0,
                at: now,
            },
            held_until: Time::ZERO,
        }
    }

    /// A frame of it was handled at `now`. A gap longer than the longest
    /// timeout was an absence (out of range), not lateness: not counted.
    pub fn heard(&mut self, now: Time, configured: Duration) {
        let gap = now.since(self.last_heard);
        let late = if gap <= configured * MAX_TIMEOUT_FACTOR {
            gap
        } else {
            Duration::ZERO
        };
        self.peak_gap.note(now, late);
        self.last_heard = now;
    }

    /// How long it may be silent before it counts as gone.
    pub fn timeout(&self, now: Time, configured: Duration) -> Duration {
        let t = self.peak_gap.get(now) * TIMEOUT_PER_GAP_EIGHTHS as u32 / 8;
        t.clamp(configured, configured * MAX_TIMEOUT_FACTOR)
    }

    pub fn held(&self, now: Time) -> bool {
        now < self.held_until
    }
}

/// The most a path's timeout grows to for lateness its beacons' sequence
/// numbers prove, in configured timeouts.
pub const MAX_LATE_FACTOR: u32 = 8;

/// How late a path's beacons arrive, told apart from how many are lost by
/// their sequence numbers: beacon `s` heard after beacon `p` was due
/// `(s - p)` intervals after it; what it took beyond that is lateness (a
/// starved sender or relay, a receiver that got round to it late, a queue
/// on the air), while a gap that lost beacons is not. A path that has been
/// late lately is late, not gone, when it is silent for a while: it is
/// given 1.5 times (interval + its recent peak lateness), up to
/// `MAX_LATE_FACTOR` times the configured timeout. A path that beaconed
/// like clockwork and stops is still judged at the configured timeout.
///
/// Kept per path and per RSU (its newest beacons by whichever path came
/// first): a path just found, after a failover on a late road, has no
/// history of its own and takes its RSU's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lateness {
    /// The newest beacon heard, and when.
    prev: Option<(u32, Time)>,
    peak: DecayingPeak,
}

impl Lateness {
    /// Beacon `seq` arrived at `now` (older or repeated ones say nothing).
    pub fn heard(&mut self, now: Time, seq: u32, interval: Duration) {
        if let Some((p, at)) = self.prev {
            if !protocol::seqwin::seq_newer(seq, p) {
                return;
            }
            let due = seq.wrapping_sub(p);
            if due <= ReceptionWindow::SIZE {
                self.peak
                    .note(now, now.since(at).saturating_sub(interval * due));
            }
        }
        self.prev = Some((seq, now));
    }

    /// The sequence starts afresh: the next beacon is compared with none
    /// (what was seen of lateness stays).
    pub fn restart(&mut self) {
        self.prev = None;
    }

    /// The timeout this lateness asks for (zero when on time).
    pub fn timeout(&self, now: Time, configured: Duration, interval: Duration) -> Duration {
        let late = self.peak.get(now);
        if late.is_zero() {
            return Duration::ZERO;
        }
        ((interval + late) * TIMEOUT_PER_GAP_EIGHTHS as u32 / 8).min(configured * MAX_LATE_FACTOR)
    }
}

/// What we know of one RSU.
#[derive(Clone, Debug)]
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
    /// From its latest beacon: whether its uplink to the backbone is up,
    /// and the operator's preference for it (higher is preferred).
    pub uplink: bool,
    pub preference: u8,
    /// How late its newest beacons arrive, by whichever path.
    pub late: Lateness,
}

impl Default for RsuInfo {
    fn default() -> Self {
        RsuInfo {
            dedup: Default::default(),
            latest_seq: 0,
            latest_ts_us: 0,
            last_heard: Time::ZERO,
            candidates: HashMap::new(),
            key: None,
            auth_time_us: 0,
            epoch: None,
            epoch_heard: Time::ZERO,
            logged_at: None,
            uplink: true,
            preference: 0,
            late: Lateness::default(),
        }
    }
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
/// Hop gain that lets a working RSU be left for another one (so does a
/// same-hops path with `SAME_HOPS_MARGIN` better reception, an uplink the
/// current RSU lacks, or a higher operator preference).
pub const RSU_SWITCH_HOPS: u8 = 1;
/// Most RSUs tracked.
pub const MAX_RSUS: usize = 64;

impl RsuInfo {
    /// Best candidate: fewest hops, then not held down, then best
    /// reception ratio, then MAC (stable). Hops first: a hold-down must
    /// never make a longer path win, which may be our own child echoing
    /// our beacons (a loop).
    pub fn best(&self) -> Option<(NodeId, Candidate)> {
        self.candidates
            .iter()
            .min_by_key(|(mac, c)| (c.hops, c.held, u32::MAX - c.window.ratio_permille(), **mac))
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

    /// Drops candidates whose beacons stopped (each neighbour by its own
    /// timeout, given the RSU's lateness); returns whether `current` went.
    pub fn expire(
        &mut self,
        now: Time,
        timeout: impl Fn(&Lateness, &NodeId, &Candidate) -> Duration,
        current: Option<NodeId>,
    ) -> bool {
        let mut lost_current = false;
        let late = self.late;
        self.candidates.retain(|mac, c| {
            let alive = now.since(c.last_heard) < timeout(&late, mac, c);
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
        self.late.restart();
        for c in self.candidates.values_mut() {
            c.window.reset();
            c.heard = 0;
            c.late.restart();
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

/// How a path to an RSU ranks, best first: an RSU with an uplink, fewer
/// hops, the operator's preference, better reception, then ids (stable).
fn rank(u: &Upstream, info: &RsuInfo, ratio: u32) -> impl Ord {
    let held = info.candidates.get(&u.next_hop).is_some_and(|c| c.held);
    (
        !info.uplink,
        u.hops,
        held,
        u8::MAX - info.preference,
        u32::MAX - ratio,
        u.rsu,
        u.next_hop,
    )
}

/// The best usable direct path to an RSU other than `current`'s (heard
/// directly, with an uplink, reception at least `SHORTER_MIN_RATIO`): the
/// RSU a vehicle is likely to move to next, with which an encrypted OBU
/// sets up a session ahead of time, so that a move there, planned or
/// forced, waits for no handshake. Only direct: a relay learns a route to
/// us once we attach through it, so a handshake's answer could not come
/// back through one before that.
pub fn runner_up(rsus: &HashMap<NodeId, RsuInfo>, current: NodeId) -> Option<Upstream> {
    rsus.iter()
        .filter(|(r, i)| **r != current && i.uplink)
        .filter_map(|(r, i)| {
            let (nh, c) = i.best().filter(|(_, c)| c.hops == 1)?;
            let ratio = c.window.ratio_permille();
            let u = Upstream {
                rsu: *r,
                next_hop: nh,
                hops: c.hops,
            };
            (ratio >= SHORTER_MIN_RATIO && !c.held).then_some((u, ratio))
        })
        .min_by_key(|(u, ratio)| rank(u, &rsus[&u.rsu], *ratio))
        .map(|(u, _)| u)
}

/// How rarely a path that is alive but lossy may look dead: the chance,
/// per beacon, that it loses as many in a row as its timeout allows.
const FALSE_TIMEOUT_CHANCE: f64 = 0.001;

/// How long a candidate may be silent: its neighbour's own timeout
/// (`Liveness`), at least the configured one, and for a lossy path to an
/// RSU heard directly long enough that its losses alone run that long
/// only with `FALSE_TIMEOUT_CHANCE` (losing a third of the beacons, it
/// loses three in a row 4 % of the time, six only 0.1 %): at a cell's edge, where
/// both RSUs are heard at a loss, a vehicle moves by make-before-break
/// instead of failing over on a short run of losses. At most
/// `MAX_TIMEOUT_FACTOR` times the configured; a relay that dies while
/// heard well is still dropped at the configured timeout. A path whose
/// beacons have been late (not lost) lately may have longer (`Lateness`).
pub fn candidate_timeout(
    c: &Candidate,
    rsu_late: &Lateness,
    now: Time,
    neighbour: Duration,
    configured: Duration,
    interval: Duration,
) -> Duration {
    // A young window's low ratio is its youth, not loss; through a relay
    // it is the relay's suppression (it rebroadcasts some beacons only).
    let loss = if c.seasoned() && c.hops == 1 {
        1.0 - f64::from(c.window.ratio_permille()) / 1000.0
    } else {
        0.0
    };
    let run = if loss <= 0.0 {
        0.0
    } else {
        FALSE_TIMEOUT_CHANCE.ln() / loss.min(0.99).ln()
    };
    let lossy = interval.mul_f64(run.min(f64::from(MAX_TIMEOUT_FACTOR) * 10.0));
    neighbour
        .max(configured)
        .max(lossy)
        .min(configured * MAX_TIMEOUT_FACTOR)
        .max(c.late.timeout(now, configured, interval))
        .max(rsu_late.timeout(now, configured, interval))
}

/// Chooses the upstream among all RSUs at `now` (beacons every
/// `interval`). With a current upstream that still works, only a clearly
/// better path replaces it (no flapping).
pub fn choose(
    rsus: &HashMap<NodeId, RsuInfo>,
    current: Option<Upstream>,
    now: Time,
    interval: Duration,
) -> Option<Upstream> {
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
    let overall = rsus
        .iter()
        .filter_map(|(r, i)| best_of(r, i))
        .min_by_key(|(u, ratio)| rank(u, &rsus[&u.rsu], *ratio));
    let Some(cur) = current else {
        return overall.map(|(u, _)| u);
    };
    let cur_info = rsus.get(&cur.rsu);
    let cur_cand = cur_info.and_then(|i| i.candidates.get(&cur.next_hop).filter(|c| i.eligible(c)));
    let (Some(cur_info), Some(cur_cand)) = (cur_info, cur_cand) else {
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
    let same_hops_better = cand.hops == cur_now.hops && ratio >= cur_ratio + SAME_HOPS_MARGIN;
    let clearly_better = if cand.rsu != cur.rsu {
        let info = &rsus[&cand.rsu];
        let usable = ratio >= SHORTER_MIN_RATIO;
        // A vehicle driving from one RSU to the next: the whole window
        // lags the links by half its length (0.8 s, a third of the loss
        // ramp at 30 m/s), so by the time it shows the margin the old RSU
        // already loses most frames, and downlink data sent through it
        // is lost. The newest half shows the margin half as late; the
        // whole window must still agree, so one lucky run does not move
        // us. Both heard directly only: through a relay a window's holes
        // are its suppression and its load, not our movement (and hop
        // counts have their own rules); seasoned windows only: a young
        // one's newest half is all it has.
        let recently_better = cand.hops == 1
            && cur_now.hops == 1
            && ratio >= cur_ratio
            && cur_cand.seasoned()
            && info.candidates.get(&cand.next_hop).is_some_and(|c| {
                c.seasoned()
                    && c.recent_permille(now, interval)
                        >= cur_cand.recent_permille(now, interval) + SAME_HOPS_MARGIN
            });
        if info.uplink != cur_info.uplink {
            // Only an RSU with an uplink ranks above one without.
            usable
        } else {
            (cand.hops + RSU_SWITCH_HOPS <= cur_now.hops && usable)
                || same_hops_better
                || (recently_better && usable)
                || (cand.hops == cur_now.hops
                    && info.preference > cur_info.preference
                    && usable
                    && ratio >= cur_ratio)
        }
    } else if cand.hops < cur_now.hops {
        ratio >= SHORTER_MIN_RATIO
    } else {
        same_hops_better
    };
    Some(if clearly_better { cand } else { cur_now })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::seqwin::ReceptionWindow;

    fn node(n: u8) -> NodeId {
        NodeId([2, 0, 0, 0, 0, n])
    }

    /// The time of the choices below (every candidate last heard then) and
    /// the beacon interval.
    const T0: Time = Time::ZERO;
    const BI: Duration = Duration::from_millis(100);

    /// A candidate `hops` away that heard `heard` of the last 16 beacons,
    /// the newest ones.
    fn cand(hops: u8, heard: u32) -> Candidate {
        let mut window = ReceptionWindow::default();
        for s in 0..heard {
            window.record(115 - s);
        }
        window.advance_to(115);
        Candidate {
            window,
            heard: 16,
            ..Candidate::new(Time::ZERO, hops)
        }
    }

    fn rsu(cands: &[(u8, Candidate)]) -> RsuInfo {
        let mut info = RsuInfo::default();
        for (n, c) in cands {
            info.candidates.insert(node(*n), *c);
        }
        info
    }

    fn up(rsu: u8, nh: u8, hops: u8) -> Upstream {
        Upstream {
            rsu: node(rsu),
            next_hop: node(nh),
            hops,
        }
    }

    #[test]
    fn fewest_hops_then_best_ratio() {
        let mut rsus = HashMap::new();
        rsus.insert(
            node(100),
            rsu(&[(1, cand(2, 16)), (2, cand(1, 8)), (3, cand(1, 12))]),
        );
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(100, 3, 1)));
    }

    #[test]
    fn a_working_upstream_is_kept_unless_another_is_clearly_better() {
        let mut rsus = HashMap::new();
        // Same hops, a little better: kept.
        rsus.insert(node(100), rsu(&[(1, cand(1, 12)), (2, cand(1, 15))]));
        let cur = Some(up(100, 1, 1));
        assert_eq!(choose(&rsus, cur, T0, BI), cur);
        // Same hops, at least 0.25 better: taken.
        rsus.insert(node(100), rsu(&[(1, cand(1, 12)), (2, cand(1, 16))]));
        assert_eq!(choose(&rsus, cur, T0, BI), Some(up(100, 2, 1)));
        // Fewer hops with a ratio under 0.5: not yet.
        rsus.insert(node(100), rsu(&[(1, cand(2, 16)), (2, cand(1, 7))]));
        let cur = Some(up(100, 1, 2));
        assert_eq!(choose(&rsus, cur, T0, BI), cur);
        rsus.insert(node(100), rsu(&[(1, cand(2, 16)), (2, cand(1, 8))]));
        assert_eq!(choose(&rsus, cur, T0, BI), Some(up(100, 2, 1)));
    }

    #[test]
    fn another_rsu_must_be_a_hop_closer_or_clearly_better_heard() {
        let mut rsus = HashMap::new();
        rsus.insert(node(100), rsu(&[(1, cand(2, 12))]));
        rsus.insert(node(101), rsu(&[(2, cand(2, 15))]));
        let cur = Some(up(100, 1, 2));
        assert_eq!(
            choose(&rsus, cur, T0, BI),
            cur,
            "same hops, a little better heard: stay"
        );
        rsus.insert(node(100), rsu(&[(1, cand(2, 11))]));
        assert_eq!(
            choose(&rsus, cur, T0, BI),
            Some(up(101, 2, 2)),
            "same hops, 0.25 better heard: move (the old RSU fades)"
        );
        rsus.insert(node(100), rsu(&[(1, cand(2, 8))]));
        rsus.insert(node(101), rsu(&[(2, cand(2, 8))]));
        assert_eq!(
            choose(&rsus, cur, T0, BI),
            cur,
            "same hops, same ratio: stay"
        );
        rsus.insert(node(101), rsu(&[(2, cand(1, 16))]));
        assert_eq!(
            choose(&rsus, cur, T0, BI),
            Some(up(101, 2, 1)),
            "a hop closer: move"
        );
    }

    /// A direct candidate that heard the beacons of the last 16 whose bit
    /// is set in `bits` (bit 0 the newest).
    fn heard_as(bits: u16) -> Candidate {
        let mut c = cand(1, 0);
        for i in 0..16u32 {
            if bits & (1 << i) != 0 {
                c.window.record(200 - i);
            }
        }
        c.window.advance_to(200);
        c
    }

    #[test]
    fn another_rsu_recently_better_heard_is_taken_before_the_whole_window_shows_it() {
        // Driving from RSU 100 towards RSU 101: the old one heard at 10
        // of 16, 3 of the newest 8; the new one 12 of 16, all the newest
        // 8. The whole window is short of the margin (0.125), the newest
        // half is well past it (0.625): move.
        let old = heard_as(0b1111_1110_1001_0100);
        let new = heard_as(0b0000_1111_1111_1111);
        assert_eq!(
            (old.window.ratio_permille(), old.window.recent_permille()),
            (625, 375)
        );
        assert_eq!(
            (new.window.ratio_permille(), new.window.recent_permille()),
            (750, 1000)
        );
        let mut rsus = HashMap::new();
        rsus.insert(node(100), rsu(&[(1, old)]));
        rsus.insert(node(101), rsu(&[(2, new)]));
        let cur = Some(up(100, 1, 1));
        assert_eq!(choose(&rsus, cur, T0, BI), Some(up(101, 2, 1)));
        // Only the newest half better, the whole window worse: a lucky
        // run, stay.
        let lucky = heard_as(0b0000_0000_1111_1111);
        rsus.insert(node(101), rsu(&[(2, lucky)]));
        assert_eq!(choose(&rsus, cur, T0, BI), cur);
        // The newest half better by less than the margin: stay.
        let close = heard_as(0b1111_1111_0000_1111);
        assert_eq!(close.window.recent_permille(), 500);
        assert_eq!(close.window.ratio_permille(), 750);
        rsus.insert(node(101), rsu(&[(2, close)]));
        assert_eq!(choose(&rsus, cur, T0, BI), cur);
        // The old RSU's newest half looks as good as the new one's, but
        // its next beacons are overdue (its window moves only when one
        // comes): at 90 ms none is due, at 250 ms two are, 6 of the newest
        // 8, and the new one heard at 8 of 8 takes over.
        let fading = heard_as(0b0000_1111_1111_1111);
        let mut strong = heard_as(0b0001_1111_1111_1111);
        strong.last_heard = Time::from_millis(250);
        rsus.insert(node(100), rsu(&[(1, fading)]));
        rsus.insert(node(101), rsu(&[(2, strong)]));
        assert_eq!(choose(&rsus, cur, Time::from_millis(90), BI), cur);
        assert_eq!(
            choose(&rsus, cur, Time::from_millis(250), BI),
            Some(up(101, 2, 1))
        );
    }

    #[test]
    fn fail_over_at_once_when_the_next_hop_goes_and_never_to_a_child() {
        let mut rsus = HashMap::new();
        rsus.insert(node(100), rsu(&[(2, cand(2, 4))]));
        // The current next hop is gone: the remaining candidate at once.
        assert_eq!(
            choose(&rsus, Some(up(100, 1, 2)), T0, BI),
            Some(up(100, 2, 2))
        );
        // A neighbour two hops farther than the best may be our child
        // echoing our floods: not eligible, so not kept either.
        let info = rsu(&[(1, cand(1, 16)), (3, cand(3, 16))]);
        assert!(info.eligible(&info.candidates[&node(1)]));
        assert!(!info.eligible(&info.candidates[&node(3)]));
        rsus.insert(node(100), info);
        assert_eq!(
            choose(&rsus, Some(up(100, 3, 3)), T0, BI),
            Some(up(100, 1, 1))
        );
        // Nothing left: no upstream.
        assert_eq!(choose(&HashMap::new(), Some(up(100, 1, 1)), T0, BI), None);
    }

    #[test]
    fn expiry_says_whether_the_current_next_hop_went_and_pruning_keeps_the_best() {
        let mut info = rsu(&[(1, cand(1, 16)), (2, cand(2, 16)), (3, cand(1, 4))]);
        info.candidates.get_mut(&node(1)).unwrap().last_heard = Time::from_millis(1000);
        let timeout = Duration::from_millis(300);
        assert!(info.expire(Time::from_millis(1200), |_, _, _| timeout, Some(node(2))));
        assert_eq!(info.candidates.len(), 1);
        let mut info = rsu(&[(1, cand(1, 16)), (2, cand(2, 16)), (3, cand(1, 4))]);
        info.prune(2);
        let mut kept: Vec<NodeId> = info.candidates.keys().copied().collect();
        kept.sort();
        assert_eq!(kept, vec![node(1), node(3)]);
    }

    #[test]
    fn rsus_without_an_uplink_are_avoided_and_left() {
        let mut rsus = HashMap::new();
        let mut a = rsu(&[(1, cand(1, 16))]);
        a.uplink = false;
        rsus.insert(node(100), a.clone());
        // The only RSU, without an uplink: still better than nothing.
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(100, 1, 1)));
        // One with an uplink, farther and worse heard: preferred...
        rsus.insert(node(101), rsu(&[(2, cand(2, 9))]));
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(101, 2, 2)));
        // ...and taken from the current one once usable (ratio >= 0.5).
        let cur = Some(up(100, 1, 1));
        assert_eq!(choose(&rsus, cur, T0, BI), Some(up(101, 2, 2)));
        rsus.insert(node(101), rsu(&[(2, cand(2, 7))]));
        assert_eq!(choose(&rsus, cur, T0, BI), cur, "not usable yet");
        // Its uplink comes back: a hop closer, so taken again.
        rsus.insert(node(101), rsu(&[(2, cand(2, 16))]));
        a.uplink = true;
        rsus.insert(node(100), a);
        assert_eq!(
            choose(&rsus, Some(up(101, 2, 2)), T0, BI),
            Some(up(100, 1, 1))
        );
    }

    #[test]
    fn the_operators_preference_breaks_ties() {
        let mut rsus = HashMap::new();
        rsus.insert(node(100), rsu(&[(1, cand(1, 16))]));
        let mut b = rsu(&[(2, cand(1, 14))]);
        b.preference = 10;
        rsus.insert(node(101), b);
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(101, 2, 1)));
        // From the other one: moves only when not worse heard.
        let cur = Some(up(100, 1, 1));
        assert_eq!(choose(&rsus, cur, T0, BI), cur);
        let mut b = rsu(&[(2, cand(1, 16))]);
        b.preference = 10;
        rsus.insert(node(101), b);
        assert_eq!(choose(&rsus, cur, T0, BI), Some(up(101, 2, 1)));
    }

    #[test]
    fn restart_logs_are_rate_limited() {
        let mut info = RsuInfo::default();
        assert!(info.may_log(Time::from_millis(0)));
        assert!(!info.may_log(Time::from_millis(9_999)));
        assert!(info.may_log(Time::from_millis(10_000)));
    }

    #[test]
    fn a_neighbour_once_late_is_given_longer_for_a_while() {
        let nt = Duration::from_millis(300);
        let mut l = Liveness::new(Time::ZERO);
        for k in 1..=20 {
            l.heard(Time::from_millis(100 * k), nt);
        }
        assert_eq!(l.timeout(Time::from_millis(2000), nt), nt, "like clockwork");
        // Silent for 350 ms once (a starved relay): 525 ms from then on...
        l.heard(Time::from_millis(2350), nt);
        assert_eq!(l.timeout(Time::from_millis(2350), nt).as_millis(), 525);
        // ...decaying (half the excess per 10 s) back to the configured.
        let t = l.timeout(Time::from_millis(7_350), nt).as_millis();
        assert!((390..=400).contains(&t), "{t}");
        assert_eq!(l.timeout(Time::from_millis(60_000), nt), nt);
        // Never more than 2 timeouts; a longer silence was an absence.
        l.heard(Time::from_millis(61_000), nt);
        l.heard(Time::from_millis(61_550), nt);
        assert_eq!(l.timeout(Time::from_millis(61_550), nt), nt * 2);
        l.heard(Time::from_millis(62_200), nt);
        l.heard(Time::from_millis(200_000), nt);
        assert_eq!(l.timeout(Time::from_millis(200_000), nt), nt);
        l.heard(Time::from_millis(200_000), nt);
        assert_eq!(l.timeout(Time::from_millis(200_000), nt), nt);
    }

    #[test]
    fn a_held_down_next_hop_is_taken_only_when_nothing_as_short_is_left() {
        let mut rsus = HashMap::new();
        let mut held = cand(1, 16);
        held.held = true;
        rsus.insert(node(100), rsu(&[(1, held), (2, cand(1, 9))]));
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(100, 2, 1)));
        rsus.insert(node(100), rsu(&[(1, held)]));
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(100, 1, 1)));
        // Never a longer path instead (it may be our child: a loop).
        rsus.insert(node(100), rsu(&[(1, held), (2, cand(2, 16))]));
        assert_eq!(choose(&rsus, None, T0, BI), Some(up(100, 1, 1)));
    }

    #[test]
    fn a_lossy_path_is_given_longer_and_the_next_rsu_is_prepared() {
        let (nt, bi) = (Duration::from_millis(300), Duration::from_millis(100));
        let ms = |heard, own| {
            candidate_timeout(&cand(1, heard), &Lateness::default(), T0, own, nt, bi).as_millis()
        };
        assert_eq!(ms(16, nt), 300, "heard well: the configured timeout");
        assert_eq!(ms(14, nt), 332, "1/8 lost: 3.3 beacons");
        assert_eq!(ms(12, nt), 498, "1/4 lost: 5 beacons");
        assert_eq!(ms(8, nt), 600, "half lost: 10 beacons, at most 2 timeouts");
        assert_eq!(ms(16, nt * 2), 600, "the neighbour's own");
        let mut young = cand(1, 8);
        young.heard = 8;
        assert_eq!(
            candidate_timeout(&young, &Lateness::default(), T0, nt, nt, bi),
            nt,
            "young, not lossy"
        );
        let mut rsus = HashMap::new();
        rsus.insert(node(100), rsu(&[(1, cand(1, 16))]));
        rsus.insert(node(101), rsu(&[(2, cand(1, 7))]));
        assert_eq!(runner_up(&rsus, node(100)), None, "not usable yet");
        rsus.insert(node(101), rsu(&[(2, cand(1, 9)), (3, cand(2, 16))]));
        assert_eq!(runner_up(&rsus, node(100)), Some(up(101, 2, 1)));
        rsus.insert(node(101), rsu(&[(3, cand(2, 16))]));
        assert_eq!(runner_up(&rsus, node(100)), None, "only direct");
    }

    #[test]
    fn a_path_proven_late_is_given_longer_and_one_that_lost_beacons_is_not() {
        let (nt, bi) = (Duration::from_millis(300), Duration::from_millis(100));
        let at = |ms| Time::from_millis(ms);
        let late = |c: &Candidate, now| c.late.timeout(now, nt, bi).as_millis();
        let none = Lateness::default();
        // Like clockwork: nothing asked for, so a path that dies is left
        // at the configured timeout.
        let mut c = Candidate::new(at(0), 1);
        for k in 0..20u32 {
            c.record(at(u64::from(k) * 100), k, 1, bi);
        }
        assert_eq!(late(&c, at(1900)), 0);
        assert_eq!(candidate_timeout(&c, &none, at(1900), nt, nt, bi), nt);
        // Beacons 20-22 lost (out of range for a moment): a gap, but not
        // lateness (the loss rule has its own say).
        c.record(at(2300), 23, 1, bi);
        assert_eq!(late(&c, at(2300)), 0);
        // Beacon 24 comes 1.2 s after beacon 23 (a starved sender or
        // relay; nothing lost): 1.5 x (100 + 1100) ms from then on, beyond
        // the 2 timeouts lateness without proof may have...
        c.record(at(3500), 24, 1, bi);
        assert_eq!(late(&c, at(3500)), 1800);
        assert_eq!(
            candidate_timeout(&c, &none, at(3500), nt, nt, bi).as_millis(),
            1800
        );
        // ...at most 8 configured timeouts...
        c.record(at(8000), 25, 1, bi);
        assert_eq!(late(&c, at(8000)), 2400);
        // ...decaying (half per 10 s) back to nothing that counts.
        for k in 26..(26 + 600u32) {
            c.record(at(8000 + u64::from(k - 25) * 100), k, 1, bi);
        }
        let t = late(&c, at(38_000));
        assert_eq!(t, 975, "4.4 s / 8 late: 1.5 x 650 ms");
        assert!(late(&c, at(68_000)) < 300);
        assert_eq!(candidate_timeout(&c, &none, at(68_000), nt, nt, bi), nt);
        // Copies out of order or repeated say nothing.
        let before = late(&c, at(70_000));
        c.record(at(70_000), 30, 1, bi);
        assert_eq!(late(&c, at(70_000)), before);
        // A path found just now, of an RSU whose beacons were late: the
        // RSU's lateness.
        let mut rsu = Lateness::default();
        rsu.heard(at(0), 1, bi);
        rsu.heard(at(1000), 2, bi);
        let young = Candidate::new(at(1000), 1);
        assert_eq!(candidate_timeout(&young, &none, at(1000), nt, nt, bi), nt);
        assert_eq!(
            candidate_timeout(&young, &rsu, at(1000), nt, nt, bi).as_millis(),
            1500
        );
    }
}
