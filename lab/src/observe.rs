//! What the daemons say: one thread asks each OBU's API for its upstream
//! (`/api/v1/routes`) once per poll interval, spread evenly over it. The
//! thread moves into a node's namespace before each request (the API
//! listens on the node's loopback); a request opens its own connection.

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
    samples: Arc<Mutex<Vec<Sample>>>,
    latest: Arc<Mutex<Vec<Option<Sample>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How long one request may take before the daemon counts as not answering.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(800);

impl Observer {
    /// Starts asking `targets` every `interval`; `macs` maps a radio MAC to
    /// its node index; `epoch` is time 0 of the run.
    pub fn start(
        targets: Vec<Target>,
        macs: HashMap<String, usize>,
        interval: Duration,
        epoch: Instant,
    ) -> Result<Observer, String> {
        let mut netns = Vec::new();
        for t in &targets {
            let f = std::fs::File::open(format!("/run/netns/{}", t.ns))
                .map_err(|e| format!("netns {}: {e}", t.ns))?;
            netns.push(f);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let nodes = macs.values().copied().max().map_or(0, |m| m + 1);
        let latest = Arc::new(Mutex::new(vec![None; nodes]));
        let (st, sa, la) = (stop.clone(), samples.clone(), latest.clone());
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
                    k += 1;
                    // SAFETY: setns on an open namespace fd moves only this thread.
                    if unsafe { libc::setns(netns[i].as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        continue;
                    }
                    let answer = client.routes();
                    let t = epoch.elapsed().as_secs_f64();
                    let up = match &answer {
                        Ok(api::Routes::Obu(r)) => r.upstream.as_ref(),
                        _ => None,
                    };
                    let upstream = up.and_then(|u| Some((*macs.get(&u.rsu.to_string())?, u.hops)));
                    let next_hop = up.and_then(|u| macs.get(&u.next_hop.to_string()).copied());
                    let sample = Sample {
                        t,
                        node: targets[i].node,
                        upstream,
                        next_hop,
                        answered: answer.is_ok(),
                    };
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
            })
            .map_err(|e| format!("observer thread: {e}"))?;
        Ok(Observer {
            stop,
            samples,
            latest,
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

    /// Stops asking; returns every sample.
    pub fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples()
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
