//! Sliding replay window over 64-bit nonce counters (the scheme of
//! WireGuard and RFC 6479): the highest counter seen and a bitmap of the
//! [`WINDOW`] counters below it. Reordered packets inside the window are
//! accepted once; duplicates and anything older are rejected, told apart
//! ([`Seen`]): a copy inside the window is what a sender repeating on a
//! weak link makes, an older counter is a replay.

/// Counters this far behind the highest one seen are still accepted.
pub const WINDOW: u64 = 2048 - 64;
const BLOCKS: usize = 2048 / 64;

#[derive(Clone)]
pub struct ReplayWindow {
    /// Highest counter accepted plus one (0: none yet).
    next: u64,
    bitmap: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            next: 0,
            bitmap: [0; BLOCKS],
        }
    }
}

/// What the window says about a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not seen: accept.
    New,
    /// Inside the window and accepted before: a copy.
    Copy,
    /// Behind the window (or the reserved last counter): a replay.
    TooOld,
}

impl ReplayWindow {
    /// Whether `counter` would be accepted (call before the tag check, so a
    /// replay costs no decryption).
    pub fn check(&self, counter: u64) -> bool {
        self.seen(counter) == Seen::New
    }

    /// Whether `counter` is new, a copy of one accepted, or too old.
    pub fn seen(&self, counter: u64) -> Seen {
        if counter == u64::MAX {
            return Seen::TooOld;
        }
        if counter >= self.next {
            return Seen::New;
        }
        if self.next - counter > WINDOW {
            return Seen::TooOld;
        }
        let (block, bit) = Self::pos(counter);
        if self.bitmap[block] & (1 << bit) == 0 {
            Seen::New
        } else {
            Seen::Copy
        }
    }

    /// Records `counter` as seen (after the tag verified). Returns false if
    /// it was not acceptable.
    pub fn update(&mut self, counter: u64) -> bool {
        if !self.check(counter) {
            return false;
        }
        if counter >= self.next {
            // Clear the blocks the window slides over.
            let old_block = if self.next == 0 {
                None
            } else {
                Some((self.next - 1) / 64)
            };
            let new_block = counter / 64;
            match old_block {
                Some(ob) if new_block - ob < BLOCKS as u64 => {
                    for b in ob + 1..=new_block {
                        self.bitmap[(b % BLOCKS as u64) as usize] = 0;
                    }
                }
                Some(_) => self.bitmap = [0; BLOCKS],
                None => {}
            }
            self.next = counter + 1;
        }
        let (block, bit) = Self::pos(counter);
        self.bitmap[block] |= 1 << bit;
        true
    }

    fn pos(counter: u64) -> (usize, u32) {
        (
            ((counter / 64) % BLOCKS as u64) as usize,
            (counter % 64) as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_duplicates() {
        let mut w = ReplayWindow::default();
        for c in 0..5000 {
            assert!(w.update(c), "{c}");
            assert!(!w.update(c), "duplicate {c}");
        }
    }

    #[test]
    fn a_copy_inside_the_window_is_told_from_an_old_counter() {
        let mut w = ReplayWindow::default();
        assert!(w.update(5000));
        assert_eq!(w.seen(5000), Seen::Copy);
        assert_eq!(w.seen(4999), Seen::New);
        assert_eq!(w.seen(5000 - WINDOW), Seen::TooOld);
        assert_eq!(w.seen(u64::MAX), Seen::TooOld);
        assert_eq!(w.seen(5001), Seen::New);
    }

    #[test]
    fn reordering_inside_the_window_once() {
        let mut w = ReplayWindow::default();
        assert!(w.update(100));
        assert!(w.update(90));
        assert!(!w.update(90));
        assert!(w.update(99));
        assert!(w.update(101));
        assert!(!w.update(100));
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::default();
        assert!(w.update(10_000));
        // Exactly WINDOW behind is still inside; one more is not.
        assert!(w.check(10_000 + 1 - WINDOW));
        assert!(!w.check(10_000 - WINDOW));
        assert!(w.update(10_000 + 1 - WINDOW));
        assert!(!w.update(10_000 - WINDOW));
        assert!(!w.update(0));
    }

    #[test]
    fn big_jump_clears_old_bits() {
        let mut w = ReplayWindow::default();
        for c in 0..64 {
            assert!(w.update(c));
        }
        // Jump by more than the whole bitmap: every old bit must be gone, so
        // counters that alias old slots are accepted exactly once.
        let far = 64 + 2048 * 3;
        assert!(w.update(far));
        assert!(w.update(far - 64));
        assert!(!w.update(far - 64));
        assert!(!w.update(63));
    }

    #[test]
    fn slide_by_one_block_clears_that_block() {
        let mut w = ReplayWindow::default();
        assert!(w.update(5));
        // Counter 5 + 2048 lands in the same bitmap slot as 5.
        assert!(w.update(5 + 2048));
        assert!(!w.update(5 + 2048));
        assert!(!w.check(5));
    }

    #[test]
    fn counter_wrap_is_refused() {
        let mut w = ReplayWindow::default();
        assert!(w.update(u64::MAX - 1));
        assert!(!w.update(u64::MAX));
        assert!(!w.update(0), "no wrap back to the start");
    }

    #[test]
    fn random_orders_match_a_set_model() {
        use std::collections::HashSet;
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20 {
            let mut w = ReplayWindow::default();
            let mut seen = HashSet::new();
            let mut max = 0u64;
            for _ in 0..5000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let c = (max + 200).saturating_sub(x % 3000);
                let expect = !seen.contains(&c) && (seen.is_empty() || c > max || max - c < WINDOW);
                assert_eq!(w.update(c), expect, "counter {c}, max {max}");
                if expect {
                    seen.insert(c);
                    max = max.max(c);
                }
            }
        }
    }
}
