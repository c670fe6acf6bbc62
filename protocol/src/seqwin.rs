//! Sequence numbers with wrap-around: freshness, de-duplication windows and
//! reception-ratio windows.
//!
//! Every window re-synchronises: a number behind the window is refused
//! while its source keeps sending numbers the window accepts, but once
//! nothing was accepted for the resync time (the caller's, typically the
//! neighbour timeout), the next number starts the window afresh. So a
//! forged far-ahead number, or a source that restarted at 0, can lock the
//! real source out for at most the resync time after the last forged
//! message (the rule Babel and OLSR apply to their sequence numbers).

use common::Time;
use std::time::Duration;

/// True when `a` is newer than `b` in 32-bit serial-number arithmetic.
pub fn seq_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// What a window said of one sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqCheck {
    /// Not seen before: recorded.
    Fresh,
    /// Seen before, or behind the window while the source is live.
    Duplicate,
    /// Behind the window after the source was silent for the resync time:
    /// the window now starts at this number (a restart, or the end of a
    /// far-ahead forgery). Recorded, and to be treated as fresh.
    Resynced,
}

impl SeqCheck {
    /// Fresh or resynced: the message is new.
    pub fn is_new(self) -> bool {
        self != SeqCheck::Duplicate
    }
}

/// Remembers which of the last 64 sequence numbers of one origin were seen,
/// so each (origin, seq) is accepted once. Older than the window: refused,
/// until the window re-synchronises (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct DedupWindow {
    highest: u32,
    /// Bit i set: `highest - i` seen.
    bits: u64,
    started: bool,
    /// When the window last accepted a number (fresh or resynced).
    last_accepted: Time,
}

impl DedupWindow {
    pub const SIZE: u32 = 64;

    /// Moves the newest end of the window to `seq` without recording it.
    pub fn slide_to(&mut self, seq: u32) {
        if self.started && seq_newer(seq, self.highest) {
            let shift = seq.wrapping_sub(self.highest);
            self.bits = if shift >= Self::SIZE {
                0
            } else {
                self.bits << shift
            };
            self.highest = seq;
        }
    }

    /// Starts the window afresh at `seq` (recorded).
    pub fn reset_to(&mut self, seq: u32, now: Time) {
        *self = DedupWindow {
            highest: seq,
            bits: 1,
            started: true,
            last_accepted: now,
        };
    }

    /// The newest number seen (meaningless before the first).
    pub fn highest(&self) -> u32 {
        self.highest
    }

    /// Checks `seq` at `now` and records it when new. A number behind the
    /// window re-synchronises it when nothing was accepted for `resync`.
    pub fn check(&mut self, seq: u32, now: Time, resync: Duration) -> SeqCheck {
        if !self.started {
            self.reset_to(seq, now);
            return SeqCheck::Fresh;
        }
        if seq_newer(seq, self.highest) {
            self.slide_to(seq);
            self.bits |= 1;
            self.last_accepted = now;
            return SeqCheck::Fresh;
        }
        let back = self.highest.wrapping_sub(seq);
        if back >= Self::SIZE {
            if now.since(self.last_accepted) >= resync {
                self.reset_to(seq, now);
                return SeqCheck::Resynced;
            }
            return SeqCheck::Duplicate;
        }
        let mask = 1u64 << back;
        if self.bits & mask != 0 {
            return SeqCheck::Duplicate;
        }
        self.bits |= mask;
        self.last_accepted = now;
        SeqCheck::Fresh
    }
}

/// Fraction of the last [`ReceptionWindow::SIZE`] beacons heard from one
/// neighbour for one RSU: a [`DedupWindow`] read over its newest bits.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReceptionWindow(DedupWindow);

impl ReceptionWindow {
    pub const SIZE: u32 = 16;

    /// Records a heard beacon. A number behind the window is ignored: the
    /// owner resets the window when the source's sequence resynchronises.
    pub fn record(&mut self, seq: u32) {
        self.0.check(seq, Time::ZERO, Duration::MAX);
    }

    /// Forgets everything heard (the source restarted or resynchronised).
    pub fn reset(&mut self) {
        *self = ReceptionWindow::default();
    }

    /// Advances the window to the RSU's latest sequence as heard via any
    /// neighbour, so a neighbour that stopped forwarding loses ratio.
    pub fn advance_to(&mut self, seq: u32) {
        self.0.slide_to(seq);
    }

    /// Heard fraction in per-mille (0..=1000).
    pub fn ratio_permille(&self) -> u32 {
        let mask = (1u64 << Self::SIZE) - 1;
        (self.0.bits & mask).count_ones() * 1000 / Self::SIZE
    }

    /// The newest beacons [`Self::recent_permille`] counts: half the
    /// window, so half its lag behind a link that is changing.
    pub const RECENT: u32 = 8;

    /// Heard fraction of the newest [`Self::RECENT`] beacons, per mille.
    pub fn recent_permille(&self) -> u32 {
        self.recent_permille_missing(0)
    }

    /// The same when the `missing` beacons after the newest one recorded
    /// are due but not heard (the window moves only when a beacon comes,
    /// so without this the newest beacon of a fading source always looks
    /// heard).
    pub fn recent_permille_missing(&self, missing: u32) -> u32 {
        let mask = (1u64 << Self::RECENT) - 1;
        let bits = self.0.bits.checked_shl(missing).unwrap_or(0);
        (bits & mask).count_ones() * 1000 / Self::RECENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_wraps() {
        assert!(seq_newer(1, 0));
        assert!(!seq_newer(0, 1));
        assert!(seq_newer(0, u32::MAX));
        assert!(seq_newer(5, u32::MAX - 5));
        assert!(!seq_newer(7, 7));
    }

    const RESYNC: Duration = Duration::from_millis(300);

    fn t(ms: u64) -> Time {
        Time::from_millis(ms)
    }

    /// Checks at a fixed time, where no resync can happen.
    fn accept(w: &mut DedupWindow, seq: u32) -> bool {
        w.check(seq, t(0), RESYNC).is_new()
    }

    #[test]
    fn dedup_accepts_each_once_with_reordering() {
        let mut w = DedupWindow::default();
        assert!(accept(&mut w, 10));
        assert!(!accept(&mut w, 10));
        assert!(accept(&mut w, 12));
        assert!(accept(&mut w, 11)); // late but new
        assert!(!accept(&mut w, 11));
        assert!(accept(&mut w, 100)); // jump
        assert!(!accept(&mut w, 12)); // too old now
        assert!(accept(&mut w, 99));
    }

    #[test]
    fn dedup_across_wrap() {
        let mut w = DedupWindow::default();
        assert!(accept(&mut w, u32::MAX - 1));
        assert!(accept(&mut w, u32::MAX));
        assert!(accept(&mut w, 0));
        assert!(accept(&mut w, 1));
        assert!(!accept(&mut w, u32::MAX));
        assert!(!accept(&mut w, 0));
    }

    /// A real source sending every 100 ms from `seq` at `start_ms`; returns
    /// the time (ms) its first message was accepted again.
    fn real_source_back(w: &mut DedupWindow, mut seq: u32, start_ms: u64) -> Option<u64> {
        for k in 0..100u64 {
            let now = start_ms + 100 * k;
            if w.check(seq, t(now), RESYNC).is_new() {
                return Some(now);
            }
            seq = seq.wrapping_add(1);
        }
        None
    }

    #[test]
    fn a_far_ahead_forgery_locks_out_for_at_most_the_resync_time_after_it_ends() {
        for forged_ahead in [65u32, 1000, 1 << 20, 1 << 30] {
            let mut w = DedupWindow::default();
            // The real source at 100 ms intervals, seq 1..=20.
            for s in 1..=20u32 {
                assert!(w.check(s, t(100 * s as u64), RESYNC).is_new());
            }
            // Forged numbers far ahead, for 2 s (every 10 ms), ending at 4000 ms.
            for k in 0..200u64 {
                let now = 2000 + 10 * k;
                w.check(20 + forged_ahead + k as u32, t(now), RESYNC);
                // Meanwhile the real source is refused.
                if k % 10 == 0 {
                    let real = 21 + (k / 10) as u32;
                    assert!(
                        !w.check(real, t(now + 1), RESYNC).is_new(),
                        "ahead {forged_ahead}"
                    );
                }
            }
            let back = real_source_back(&mut w, 41, 4000).expect("resynchronised");
            assert!(
                back - 3990 <= RESYNC.as_millis() as u64 + 100,
                "ahead {forged_ahead}: back at {back} ms"
            );
            // And from then on the real source is accepted in order.
            let s = w.highest();
            assert!(w.check(s.wrapping_add(1), t(back + 100), RESYNC) == SeqCheck::Fresh);
            assert!(w.check(s, t(back + 100), RESYNC) == SeqCheck::Duplicate);
        }
    }

    #[test]
    fn a_restarted_source_at_zero_is_taken_back() {
        let mut w = DedupWindow::default();
        for s in 1..=500u32 {
            w.check(s, t(100 * s as u64), RESYNC);
        }
        // Restarted quickly (100 ms gap): refused until the resync time
        // since the last accepted number has passed, then accepted.
        let back = real_source_back(&mut w, 0, 50_100).expect("resynchronised");
        assert!(
            back - 50_000 <= RESYNC.as_millis() as u64 + 100,
            "back at {back}"
        );
        assert_eq!(w.highest(), ((back - 50_100) / 100) as u32);
        // Restarted after a long silence: the first number resynchronises.
        let mut w = DedupWindow::default();
        w.check(900, t(0), RESYNC);
        assert_eq!(w.check(0, t(1000), RESYNC), SeqCheck::Resynced);
        assert_eq!(w.check(1, t(1100), RESYNC), SeqCheck::Fresh);
    }

    #[test]
    fn resync_works_across_wrap_and_never_lets_duplicates_through_while_live() {
        let mut w = DedupWindow::default();
        let start = u32::MAX - 30;
        for k in 0..60u32 {
            let s = start.wrapping_add(k);
            assert_eq!(w.check(s, t(10 * k as u64), RESYNC), SeqCheck::Fresh);
            // Every earlier number inside the window is a duplicate.
            assert_eq!(
                w.check(s.wrapping_sub(1), t(10 * k as u64), RESYNC),
                if k == 0 {
                    SeqCheck::Fresh
                } else {
                    SeqCheck::Duplicate
                }
            );
        }
        // Behind the window but the source is live: refused, not resynced.
        assert_eq!(
            w.check(start.wrapping_sub(100), t(600), RESYNC),
            SeqCheck::Duplicate
        );
        // Silent for the resync time: the old number restarts the window.
        assert_eq!(
            w.check(start.wrapping_sub(100), t(590 + 300), RESYNC),
            SeqCheck::Resynced
        );
    }

    #[test]
    fn reception_ratio() {
        let mut r = ReceptionWindow::default();
        for s in 0..16u32 {
            r.record(s);
        }
        assert_eq!(r.ratio_permille(), 1000);
        for s in (17..32u32).step_by(2) {
            r.record(s);
        }
        assert_eq!(r.ratio_permille(), 500);
        r.advance_to(100);
        assert_eq!(r.ratio_permille(), 0);
    }

    #[test]
    fn the_recent_ratio_counts_the_newest_half() {
        let mut r = ReceptionWindow::default();
        // All of 0..8 heard, none of 8..16: a link that just faded.
        for s in 0..8u32 {
            r.record(s);
        }
        r.advance_to(15);
        assert_eq!(r.ratio_permille(), 500);
        assert_eq!(r.recent_permille(), 0);
        // The opposite: a link that just came up.
        let mut r = ReceptionWindow::default();
        r.advance_to(7);
        for s in 8..16u32 {
            r.record(s);
        }
        assert_eq!(r.ratio_permille(), 500);
        assert_eq!(r.recent_permille(), 1000);
        // Three more due and not heard: 5 of the newest 8.
        assert_eq!(r.recent_permille_missing(3), 625);
        assert_eq!(r.recent_permille_missing(8), 0);
        assert_eq!(r.recent_permille_missing(200), 0);
    }
}
