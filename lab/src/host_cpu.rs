//! Whether the machine itself was the bottleneck: the host's CPU from
//! `/proc/stat`, sampled once a second. A second is *saturated* when the
//! CPUs were busy (anything but idle and I/O wait, over every core) for
//! at least [`SATURATED`] of it: then the daemons, the kernel's bridge
//! and the lab waited for each other, and what the run measured is not
//! the network's alone.

/// Busy share of all cores from which a second counts as saturated.
pub const SATURATED: f64 = 0.95;

/// Share of a run's seconds (outside the scenario's own CPU bursts)
/// saturated beyond which the summary warns.
pub const WARN_SHARE: f64 = 0.05;

/// The host's CPU time counters (`/proc/stat`'s `cpu` line, all cores),
/// in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

/// Reads the `cpu` line of `/proc/stat`'s text: user nice system idle
/// iowait irq softirq steal (guest time is inside user and nice already).
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle,
        total,
    })
}

/// The host's counters now (`None` where there is no `/proc/stat`).
pub fn read() -> Option<CpuTimes> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The busy share of all cores between two readings, 0..1.
pub fn busy_share(before: CpuTimes, after: CpuTimes) -> Option<f64> {
    let total = after.total.checked_sub(before.total)?;
    let busy = after.busy.checked_sub(before.busy)?;
    (total > 0).then(|| (busy as f64 / total as f64).min(1.0))
}

/// One reading a second: each second's busy share.
#[derive(Default)]
pub struct HostSampler {
    last: Option<CpuTimes>,
    /// Busy share of second `k` of the run (`None`: no reading).
    pub seconds: Vec<Option<f64>>,
}

impl HostSampler {
    /// Starts at time 0 of the run.
    pub fn start() -> HostSampler {
        HostSampler {
            last: read(),
            seconds: Vec::new(),
        }
    }

    /// Call at the first moment at or after the end of each second (the
    /// run's radio loop does, ten times a second or more).
    pub fn due(&self, t: f64) -> bool {
        t >= (self.seconds.len() + 1) as f64
    }

    /// Closes the current second with a reading now.
    pub fn sample(&mut self) {
        let now = read();
        let share = match (self.last, now) {
            (Some(a), Some(b)) => busy_share(a, b),
            _ => None,
        };
        self.seconds.push(share);
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_line_and_its_busy_share() {
        let a = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1\n";
        let b = "cpu  190 5 100 800 20 3 2 0 0 0\ncpu0 95 2 50 400 10 1 1 0 0 0\n";
        let (a, b) = (parse_proc_stat(a).unwrap(), parse_proc_stat(b).unwrap());
        assert_eq!(
            a,
            CpuTimes {
                busy: 160,
                total: 980
            }
        );
        assert_eq!(busy_share(a, b), Some(1.0));
        let c = parse_proc_stat("cpu  190 5 100 860 20 3 2 0 0 0\n").unwrap();
        assert!((busy_share(a, c).unwrap() - 0.7).abs() < 1e-9);
        // No time passed, counters that went back, text that is not stat.
        assert_eq!(busy_share(a, a), None);
        assert_eq!(busy_share(b, a), None);
        assert_eq!(parse_proc_stat("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 x 3 4\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2\n"), None);
    }

    #[test]
    fn this_host_has_a_stat_file() {
        if std::path::Path::new("/proc/stat").exists() {
            assert!(read().unwrap().total > 0);
        }
    }
}
