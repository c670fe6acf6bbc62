//! Rate limits that bound the CPU a flood of costly messages can take
//! (handshakes cost several X25519 operations, signed replies an Ed25519
//! verification), while nodes already known keep their service. Sans-IO:
//! time comes in; nothing here allocates past its fixed capacity.

use common::{NodeId, Time};
use std::collections::HashMap;
use std::time::Duration;

/// A token bucket in the form of the generic cell rate algorithm: one
/// message per `interval` on average, up to `burst` at once.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    /// When the bucket would be full again ("theoretical arrival time").
    tat: Time,
    interval: Duration,
    burst: u32,
}

impl Bucket {
    /// `per_second` messages a second on average, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> Bucket {
        Bucket {
            tat: Time::ZERO,
            interval: Duration::from_micros(1_000_000 / u64::from(per_second.max(1))),
            burst: burst.max(1),
        }
    }

    /// Takes one token at `now`; false when the bucket is empty.
    pub fn allow(&mut self, now: Time) -> bool {
        let tat = self.tat.max(now);
        if tat.since(now) > self.interval * (self.burst - 1) {
            return false;
        }
        self.tat = tat + self.interval;
        true
    }

    /// Whether a token could be taken at `now` (without taking it).
    pub fn would_allow(&self, now: Time) -> bool {
        self.tat.max(now).since(now) <= self.interval * (self.burst - 1)
    }

    /// Whether more than half the burst is used at `now` (under pressure).
    pub fn half_used(&self, now: Time) -> bool {
        self.tat.max(now).since(now) > self.interval * (self.burst / 2)
    }

    /// Whether the bucket has refilled completely by `now` (nothing to remember).
    pub fn is_full(&self, now: Time) -> bool {
        self.tat <= now
    }
}

/// Signed broadcasts checked a second (each at least one Ed25519
/// verification, two for a certificate not seen before): from origins
/// already verified, and from new ones. About 20 % and 5 % of a core at
/// the measured cost (docs/BENCHMARKS.md); beyond that, `rate_limited`.
pub const BROADCAST_CHECKS_KNOWN: (u32, u32) = (4000, 400);
pub const BROADCAST_CHECKS_NEW: (u32, u32) = (500, 100);
/// Once the known origins' share is half used, each origin is also held
/// to this (safety messages come at 10 Hz): forgeries that claim a known
/// origin use up that origin's share, not everyone's.
pub const BROADCAST_CHECKS_PER_ORIGIN: (u32, u32) = (50, 20);
/// Origins with a share of their own at most.
const MAX_ORIGIN_BUCKETS: usize = 4096;

/// Bounds the signature checks of broadcast data: origins whose messages
/// verified before share one budget (and, under pressure, each has its
/// own), new origins (where a forger's made-up ones land) a smaller one,
/// so a flood of forgeries neither takes the CPU nor keeps other known
/// senders from being checked.
#[derive(Clone, Debug)]
pub struct BroadcastChecks {
    known: Bucket,
    new: Bucket,
    per_origin: HashMap<NodeId, Bucket>,
}

impl Default for BroadcastChecks {
    fn default() -> Self {
        let (k, kb) = BROADCAST_CHECKS_KNOWN;
        let (n, nb) = BROADCAST_CHECKS_NEW;
        BroadcastChecks {
            known: Bucket::new(k, kb),
            new: Bucket::new(n, nb),
            per_origin: HashMap::new(),
        }
    }
}

impl BroadcastChecks {
    pub fn allow(&mut self, now: Time, origin: NodeId, known_origin: bool) -> bool {
        if !known_origin {
            return self.new.allow(now);
        }
        if self.known.half_used(now) {
            if self.per_origin.len() >= MAX_ORIGIN_BUCKETS && !self.per_origin.contains_key(&origin)
            {
                self.forget_idle(now);
                if self.per_origin.len() >= MAX_ORIGIN_BUCKETS {
                    return false;
                }
            }
            let (r, b) = BROADCAST_CHECKS_PER_ORIGIN;
            if !self
                .per_origin
                .entry(origin)
                .or_insert_with(|| Bucket::new(r, b))
                .allow(now)
            {
                return false;
            }
        }
        self.known.allow(now)
    }

    /// Drops the per-origin shares that have refilled (nothing to remember).
    pub fn forget_idle(&mut self, now: Time) {
        self.per_origin.retain(|_, b| !b.is_full(now));
    }
}

/// Handshakes a second any one OBU id may start (it retries once a second).
pub const HANDSHAKES_PER_ID: (u32, u32) = (2, 4);
/// Handshakes a second from ids the RSU knows (a route from a verified
/// reply, or a session): enough for a whole cell renewing after a restart.
pub const HANDSHAKES_KNOWN: (u32, u32) = (2000, 2000);
/// Handshakes a second from ids the RSU does not know yet: new OBUs, or a
/// flood of throwaway keys.
pub const HANDSHAKES_UNKNOWN: (u32, u32) = (200, 200);
/// Signed replies a second from ids without a route yet.
pub const REPLIES_UNKNOWN: (u32, u32) = (500, 500);
/// Mode off: new routes a second (nothing to verify, but a flood of
/// made-up ids must not grow the tables without bound).
pub const ROUTES_UNKNOWN_PLAIN: (u32, u32) = (2000, 2000);
/// Most known ids with a bucket of their own (an RSU's route capacity).
pub const MAX_TRACKED_IDS: usize = 8192;

/// Why a costly message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// This id is over its own rate.
    PerId,
    /// Its class (known or unknown ids) is over the shared rate.
    Class,
}

/// An RSU's limits on handshakes and on replies from unknown OBUs.
pub struct CostLimiter {
    per_id: HashMap<NodeId, Bucket>,
    known: Bucket,
    unknown: Bucket,
    replies_unknown: Bucket,
    routes_unknown_plain: Bucket,
}

impl Default for CostLimiter {
    fn default() -> Self {
        CostLimiter::new()
    }
}

impl CostLimiter {
    pub fn new() -> CostLimiter {
        let b = |(rate, burst): (u32, u32)| Bucket::new(rate, burst);
        CostLimiter {
            per_id: HashMap::new(),
            known: b(HANDSHAKES_KNOWN),
            unknown: b(HANDSHAKES_UNKNOWN),
            replies_unknown: b(REPLIES_UNKNOWN),
            routes_unknown_plain: b(ROUTES_UNKNOWN_PLAIN),
        }
    }

    /// May a handshake from `id` be answered now? `known`: the RSU has a
    /// route or a session for `id`; such ids draw on the larger shared
    /// rate. Anyone can claim a known id, so once that rate is more than
    /// half used each id is held to a rate of its own as well: a flood
    /// claiming one id takes at most half the share, and a few forged
    /// inits claiming a victim's id cannot block its real handshakes while
    /// the RSU is not under pressure. Unknown ids share one smaller rate
    /// and get no state of their own, so a flood of throwaway ids costs no
    /// memory.
    pub fn handshake(&mut self, id: NodeId, known: bool, now: Time) -> Result<(), Limited> {
        if !known {
            return if self.unknown.allow(now) {
                Ok(())
            } else {
                Err(Limited::Class)
            };
        }
        if !self.per_id.contains_key(&id) && self.per_id.len() >= MAX_TRACKED_IDS {
            self.forget_idle(now);
        }
        let pressed = self.known.half_used(now);
        if !self.per_id.contains_key(&id) {
            if self.per_id.len() >= MAX_TRACKED_IDS {
                // Every tracked id is busy: no bucket for this one.
                return if pressed {
                    Err(Limited::PerId)
                } else if self.known.allow(now) {
                    Ok(())
                } else {
                    Err(Limited::Class)
                };
            }
            let (rate, burst) = HANDSHAKES_PER_ID;
            self.per_id.insert(id, Bucket::new(rate, burst));
        }
        let own = self.per_id.get_mut(&id).ok_or(Limited::PerId)?;
        if pressed && !own.would_allow(now) {
            return Err(Limited::PerId);
        }
        if !self.known.allow(now) {
            return Err(Limited::Class);
        }
        own.allow(now);
        Ok(())
    }

    /// May a signed reply from an id without a route be verified now?
    pub fn unknown_reply(&mut self, now: Time) -> bool {
        self.replies_unknown.allow(now)
    }

    /// Mode off: may an unsigned reply create a route for a new id now?
    pub fn unknown_plain_reply(&mut self, now: Time) -> bool {
        self.routes_unknown_plain.allow(now)
    }

    /// Forgets ids whose buckets are full again (housekeeping).
    pub fn forget_idle(&mut self, now: Time) {
        self.per_id.retain(|_, b| !b.is_full(now));
    }

    /// Ids tracked (for bounded-state checks).
    pub fn tracked(&self) -> usize {
        self.per_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Time {
        Time::from_millis(n)
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let mut b = Bucket::new(10, 3);
        assert!(b.allow(ms(0)) && b.allow(ms(0)) && b.allow(ms(0)));
        assert!(!b.allow(ms(0)));
        assert!(!b.allow(ms(50)));
        assert!(b.allow(ms(100)));
        assert!(!b.allow(ms(120)));
        // Over a long run: 10 a second, whatever is asked.
        let allowed = (0..10_000u64).filter(|k| b.allow(ms(1000 + k))).count();
        assert!((99..=104).contains(&allowed), "{allowed} in 10 s");
        assert!(b.is_full(ms(20_000)));
    }

    #[test]
    fn a_flood_of_unknown_ids_is_bounded_and_known_ids_keep_their_rate() {
        let mut l = CostLimiter::new();
        let known = NodeId([2, 0, 0, 0, 0, 1]);
        let mut passed_unknown = 0;
        let mut passed_known = 0;
        // 10 000 forged inits a second from random ids for 2 s, and one
        // real retry a second from a known id.
        for k in 0..20_000u64 {
            let now = Time(k * 100);
            let id = NodeId([
                6,
                0xee,
                (k >> 24) as u8,
                (k >> 16) as u8,
                (k >> 8) as u8,
                k as u8,
            ]);
            if l.handshake(id, false, now).is_ok() {
                passed_unknown += 1;
            }
            if k % 10_000 == 0 && l.handshake(known, true, now).is_ok() {
                passed_known += 1;
            }
        }
        let (rate, burst) = HANDSHAKES_UNKNOWN;
        assert!(
            passed_unknown <= (2 * rate + burst) as usize,
            "{passed_unknown}"
        );
        assert_eq!(passed_known, 2);
        assert_eq!(l.tracked(), 1, "unknown ids hold no state");
        l.forget_idle(Time(20_000 * 100) + Duration::from_secs(10));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn one_id_cannot_hog_the_handshakes_nor_be_blocked_by_a_few_forgeries() {
        let mut l = CostLimiter::new();
        let victim = NodeId([2, 0, 0, 0, 0, 7]);
        // A few forged inits a second claiming the victim's id: the RSU is
        // not under pressure, so the real retry (once a second) passes.
        for s in 0..5u64 {
            for k in 0..3u64 {
                let _ = l.handshake(victim, true, ms(1000 * s + 100 * k));
            }
            assert_eq!(
                l.handshake(victim, true, ms(1000 * s + 500)),
                Ok(()),
                "second {s}"
            );
        }
        // A flood claiming one id: once the shared rate is half used the id
        // is held to its own rate whenever the share is under pressure, so
        // it never takes more than the share's refill and half its burst,
        // and the other half stays for the other ids.
        let hog = NodeId([2, 0, 0, 0, 0, 8]);
        let ok = (0..20_000u64)
            .filter(|k| l.handshake(hog, true, Time(10_000_000 + k * 50)).is_ok())
            .count();
        let (rate, burst) = HANDSHAKES_KNOWN;
        assert!(ok <= (burst / 2 + rate + 10) as usize, "{ok} in 1 s");
        // Other known ids still get through meanwhile.
        assert_eq!(l.handshake(victim, true, Time(11_000_000)), Ok(()));
    }
}
