//! What the daemons say: one thread asks each OBU's API for its upstream
//! (`/api/v1/routes`) once per poll interval, spread evenly over it, and
//! for its counters (`/api/v1/stats`: `routing.upstream_changes`) every
//! [`STATS_EVERY`] rounds and once more at the end. The thread moves into
//! a node's namespace before each request (the API listens on the node's
//! loopback); a request opens its own connection.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One answer of one OBU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since the run's start.
    pub t: f64,
    pub node: usize,
    /// The RSU (node index) it is attached to and over how many hops;
    /// `None`: no upstream, or the daemon did not answer.
    pub upstream: Option<(usize, u8)>,
    /// The neighbour it sends through towards that RSU (node index).
    pub next_hop: Option<usize>,
    /// Whether the daemon answered at all.
    pub answered: bool,
}

/// A node to ask: its index and namespace.
pub struct Target {
    pub node: usize,
    pub ns: String,
}

pub struct Observer {
    stop: Arc<AtomicBool>,
    /// Set by [`Observer::finish`] only: read every counter once more
    /// before the thread ends.
    last_sweep: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    latest: Arc<Mutex<Vec<Option<Sample>>>>,
    changes: Arc<Mutex<Vec<Changes>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long one request may take before the daemon counts as not answering.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(800);

/// Every this many rounds the observer also reads each OBU's counters
/// (ten seconds at the default poll interval: the counters are totals,
/// only a restart between two readings loses what it counted since the
/// first).
pub const STATS_EVERY: usize = 10;

/// The most the last reading of every OBU's counters may take: on a
/// saturated machine hundreds of daemons answer slowly, and the run must
/// end (the OBUs not read by then keep their last periodic reading).
const LAST_SWEEP_LIMIT: Duration = Duration::from_secs(10);

/// One daemon's `routing.upstream_changes` over its restarts: the counter
/// starts at 0 with each daemon, so a reading below the one before is a
/// new daemon and the old one's last reading is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    banked: u64,
    last: Option<u64>,
    /// The total at the first reading after the warm-up.
    at_warm: Option<u64>,
}

impl Changes {
    /// A reading; `warm`: taken after the run's warm-up.
    pub fn see(&mut self, value: u64, warm: bool) {
        if let Some(last) = self.last {
            if value < last {
                self.banked += last;
            }
        }
        self.last = Some(value);
        if warm && self.at_warm.is_none() {
            self.at_warm = Some(self.total());
        }
    }

    /// Changes counted by every daemon of the node so far.
    pub fn total(&self) -> u64 {
        self.banked + self.last.unwrap_or(0)
    }

    /// Changes since the first reading after the warm-up (`None`: no
    /// reading after it).
    pub fn since_warm(&self) -> Option<u64> {
        self.at_warm.map(|w| self.total() - w)
    }
}

/// What the observer gathered over a run.
pub struct Observed {
    pub samples: Vec<Sample>,
    /// `routing.upstream_changes` summed over the OBUs (each one's first
    /// choice of an upstream included).
    pub upstream_changes: u64,
    /// The same from each OBU's first reading after the warm-up (`None`:
    /// no OBU answered after it, as on a saturated host).
    pub upstream_changes_warm: Option<u64>,
}

/// Asks the daemon of the current namespace for its upstream.
fn ask_routes(
    client: &api::Client,
    macs: &HashMap<String, usize>,
    node: usize,
    epoch: Instant,
) -> Sample {
    let answer = client.routes();
    let t = epoch.elapsed().as_secs_f64();
    let up = match &answer {
        Ok(api::Routes::Obu(r)) => r.upstream.as_ref(),
        _ => None,
    };
    Sample {
        t,
        node,
        upstream: up.and_then(|u| Some((*macs.get(&u.rsu.to_string())?, u.hops))),
        next_hop: up.and_then(|u| macs.get(&u.next_hop.to_string()).copied()),
        answered: answer.is_ok(),
    }
}

/// Reads the upstream changes of the daemon of the current namespace.
fn ask_changes(client: &api::Client, changes: &Mutex<Vec<Changes>>, i: usize, warm: bool) {
    if let Some(v) = client
        .stats()
        .ok()
        .and_then(|s| s.get("routing", "upstream_changes"))
    {
        if let Some(c) = changes.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i) {
            c.see(v, warm);
        }
    }
}

impl Observer {
    /// Starts asking `targets` every `interval`; `macs` maps a radio MAC to
    /// its node index; `epoch` is time 0 of the run; counters read from
    /// `warm_after` on count towards the changes after the warm-up.
    pub fn start(
        targets: Vec<Target>,
        macs: HashMap<String, usize>,
        interval: Duration,
        epoch: Instant,
        warm_after: Duration,
    ) -> crate::Result<Observer> {
        let mut netns = Vec::new();
        for t in &targets {
            let f = std::fs::File::open(format!("/run/netns/{}", t.ns))
                .map_err(crate::Error::io(format!("netns {}", t.ns)))?;
            netns.push(f);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let last_sweep = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let nodes = macs.values().copied().max().map_or(0, |m| m + 1);
        let latest = Arc::new(Mutex::new(vec![None; nodes]));
        let changes = Arc::new(Mutex::new(vec![Changes::default(); targets.len()]));
        let (st, sw, sa, la, ch) = (
            stop.clone(),
            last_sweep.clone(),
            samples.clone(),
            latest.clone(),
            changes.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("observe".into())
            .spawn(move || {
                let client = api::Client::with_timeout(testbed::API_ADDR, REQUEST_TIMEOUT);
                let n = targets.len().max(1);
                let step = interval / n as u32;
                let mut k = 0usize;
                let mut next = Instant::now();
                while !st.load(Ordering::Relaxed) && !targets.is_empty() {
                    let i = k % targets.len();
                    let round = k / targets.len();
                    k += 1;
                    // SAFETY: setns on an open namespace fd moves only this thread.
                    if unsafe { libc::setns(netns[i].as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        continue;
                    }
                    let sample = ask_routes(&client, &macs, targets[i].node, epoch);
                    if round % STATS_EVERY == STATS_EVERY - 1 {
                        ask_changes(&client, &ch, i, epoch.elapsed() >= warm_after);
                    }
                    sa.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
                    if let Some(slot) = la
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_mut(sample.node)
                    {
                        *slot = Some(sample);
                    }
                    next += step;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else if now - next > interval {
                        // Far behind (a slow daemon): do not try to catch up.
                        next = now;
                    }
                }
                if sw.load(Ordering::SeqCst) {
                    let until = Instant::now() + LAST_SWEEP_LIMIT;
                    for (i, ns) in netns.iter().enumerate() {
                        if Instant::now() > until {
                            break;
                        }
                        // SAFETY: as above.
                        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } == 0 {
                            ask_changes(&client, &ch, i, true);
                        }
                    }
                }
            })
            .map_err(crate::Error::io("observer thread"))?;
        Ok(Observer {
            stop,
            last_sweep,
            samples,
            latest,
            changes,
            thread: Some(thread),
        })
    }

    /// Per node, its newest answer (`None` for RSUs and before the first).
    pub fn latest(&self) -> Vec<Option<Sample>> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops asking after a last reading of every OBU's counters; returns
    /// every sample and the upstream changes.
    pub fn finish(mut self) -> Observed {
        self.last_sweep.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let upstream_changes = changes.iter().map(Changes::total).sum();
        let warm: Vec<u64> = changes.iter().filter_map(Changes::since_warm).collect();
        let upstream_changes_warm = (!warm.is_empty()).then(|| warm.iter().sum());
        drop(changes);
        Observed {
            samples: self.samples(),
            upstream_changes,
            upstream_changes_warm,
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_changes_add_up_over_restarts() {
        let mut c = Changes::default();
        assert_eq!(c.total(), 0);
        for v in [1, 3, 3, 7] {
            c.see(v, false);
        }
        assert_eq!(c.total(), 7);
        assert_eq!(c.since_warm(), None);
        // A new daemon counts from 0 again: 7 before, 2 since.
        c.see(0, true);
        c.see(2, true);
        assert_eq!(c.total(), 9);
        c.see(1, true);
        assert_eq!(c.total(), 10);
        // Warm from the reading at 7 (banked) + 0.
        assert_eq!(c.since_warm(), Some(3));
    }
}
