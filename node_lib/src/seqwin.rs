//! Sequence numbers with wrap-around: freshness, de-duplication windows and
//! reception-ratio windows.

/// True when `a` is newer than `b` in 32-bit serial-number arithmetic.
pub fn seq_newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Remembers which of the last 64 sequence numbers of one origin were seen,
/// so each (origin, seq) is accepted once. Older than the window: rejected.
#[derive(Clone, Copy, Debug, Default)]
pub struct DedupWindow {
    highest: u32,
    /// Bit i set: `highest - i` seen.
    bits: u64,
    started: bool,
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

    /// Returns true (and records it) if `seq` was not seen before.
    pub fn accept(&mut self, seq: u32) -> bool {
        if !self.started {
            *self = DedupWindow {
                highest: seq,
                bits: 1,
                started: true,
            };
            return true;
        }
        if seq_newer(seq, self.highest) {
            self.slide_to(seq);
            self.bits |= 1;
            return true;
        }
        let back = self.highest.wrapping_sub(seq);
        if back >= Self::SIZE {
            return false;
        }
        let mask = 1u64 << back;
        if self.bits & mask != 0 {
            return false;
        }
        self.bits |= mask;
        true
    }
}

/// Fraction of the last [`ReceptionWindow::SIZE`] beacons heard from one
/// neighbour for one RSU: a [`DedupWindow`] read over its newest bits.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReceptionWindow(DedupWindow);

impl ReceptionWindow {
    pub const SIZE: u32 = 16;

    pub fn record(&mut self, seq: u32) {
        self.0.accept(seq);
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

    #[test]
    fn dedup_accepts_each_once_with_reordering() {
        let mut w = DedupWindow::default();
        assert!(w.accept(10));
        assert!(!w.accept(10));
        assert!(w.accept(12));
        assert!(w.accept(11)); // late but new
        assert!(!w.accept(11));
        assert!(w.accept(100)); // jump
        assert!(!w.accept(12)); // too old now
        assert!(w.accept(99));
    }

    #[test]
    fn dedup_across_wrap() {
        let mut w = DedupWindow::default();
        assert!(w.accept(u32::MAX - 1));
        assert!(w.accept(u32::MAX));
        assert!(w.accept(0));
        assert!(w.accept(1));
        assert!(!w.accept(u32::MAX));
        assert!(!w.accept(0));
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
}
