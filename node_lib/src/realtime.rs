//! When the data-plane thread should run under realtime scheduling, in
//! `[dataplane] realtime = "auto"` mode. Sans-IO: it takes samples of two
//! cumulative clocks and says when to switch; `sys` reads the clocks and
//! switches.
//!
//! Realtime priority only helps when tasks compete for the CPUs: then a
//! woken data plane forwards at once instead of waiting behind them (the
//! tail latency under load). On an idle machine it costs: a realtime
//! thread is woken on the CPU it last ran on instead of next to the task
//! that woke it, which adds an idle CPU's wake-up to every packet (higher
//! idle latency). So the thread is realtime while the machine's CPU
//! pressure (the share of time some task waited for a CPU, from the
//! kernel's pressure-stall information) is high, and normal otherwise.

/// One reading of the cumulative clocks, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Monotonic wall clock.
    pub at_us: u64,
    /// Time some task waited for a CPU (PSI `cpu some total`), system-wide.
    pub cpu_pressure_us: u64,
}

/// Shares of one sampling window at which the policy switches. Entering
/// and leaving differ so that a load near a threshold does not flap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Go realtime when CPU pressure is at least this...
    pub enter: f64,
    /// ...and back to normal when it falls below this.
    pub leave: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        // An idle machine shows 0-2 %; the 2-vCPU test machine under a
        // 50 % forwarding load 15-25 % (docs/BENCHMARKS.md).
        Thresholds {
            enter: 0.05,
            leave: 0.02,
        }
    }
}

/// The auto-realtime decision, fed one sample per window.
#[derive(Debug)]
pub struct AutoRealtime {
    thresholds: Thresholds,
    realtime: bool,
    last: Option<Sample>,
}

impl AutoRealtime {
    pub fn new(thresholds: Thresholds) -> AutoRealtime {
        AutoRealtime {
            thresholds,
            realtime: false,
            last: None,
        }
    }

    /// Whether the thread should be realtime now.
    pub fn is_realtime(&self) -> bool {
        self.realtime
    }

    /// Takes the next sample; returns the new state when it changes. A
    /// sample that does not move the wall clock forward, or a pressure
    /// clock that went backwards, only restarts the window.
    pub fn on_sample(&mut self, s: Sample) -> Option<bool> {
        let prev = self.last.replace(s)?;
        let window = s.at_us.checked_sub(prev.at_us).filter(|&w| w > 0)? as f64;
        let pressure = s.cpu_pressure_us.checked_sub(prev.cpu_pressure_us)? as f64 / window;
        let want = if self.realtime {
            pressure >= self.thresholds.leave
        } else {
            pressure >= self.thresholds.enter
        };
        if want == self.realtime {
            return None;
        }
        self.realtime = want;
        Some(want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds 100 ms windows with the given CPU pressure shares and returns
    /// the state after each.
    fn run(policy: &mut AutoRealtime, windows: &[f64]) -> Vec<bool> {
        const WINDOW_US: u64 = 100_000;
        let mut s = Sample {
            at_us: 0,
            cpu_pressure_us: 0,
        };
        policy.on_sample(s);
        windows
            .iter()
            .map(|&pressure| {
                s.at_us += WINDOW_US;
                s.cpu_pressure_us += (pressure * WINDOW_US as f64) as u64;
                policy.on_sample(s);
                policy.is_realtime()
            })
            .collect()
    }

    #[test]
    fn idle_machine_stays_normal() {
        let mut p = AutoRealtime::new(Thresholds::default());
        assert_eq!(run(&mut p, &[0.0, 0.01, 0.04, 0.02]), [false; 4]);
    }

    #[test]
    fn contention_makes_it_realtime_and_the_end_of_it_normal_again() {
        let mut p = AutoRealtime::new(Thresholds::default());
        let states = run(&mut p, &[0.20, 0.15, 0.03, 0.01, 0.04, 0.06]);
        // In at 20 %, held at 3 % (not below the 2 % to leave), out at 1 %,
        // not back at 4 % (below the 5 % to enter), back at 6 %.
        assert_eq!(states, [true, true, true, false, false, true]);
    }

    #[test]
    fn clocks_going_backwards_or_standing_still_change_nothing() {
        let mut p = AutoRealtime::new(Thresholds::default());
        let s = |at_us, cpu_pressure_us| Sample {
            at_us,
            cpu_pressure_us,
        };
        assert_eq!(p.on_sample(s(1_000, 500)), None);
        assert_eq!(p.on_sample(s(1_000, 90_000)), None, "no time passed");
        assert_eq!(p.on_sample(s(2_000, 100)), None, "pressure went back");
        assert!(!p.is_realtime());
        // And it still works from the latest sample on.
        assert_eq!(p.on_sample(s(102_000, 30_100)), Some(true));
        assert_eq!(p.on_sample(s(202_000, 30_200)), Some(false));
    }
}
