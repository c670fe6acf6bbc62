//! The channel as each RSU's daemon sees it: one thread asks every RSU's
//! API once a second for its channel busy ratio (`/api/v1/stats`
//! `airtime.channel_busy_ratio`: the share of the last second its radio
//! heard or sent frames, by the 802.11p airtime model) and keeps the
//! readings after the warm-up, for `results.json` `channel_busy` (per
//! cell: p50, p99).

use crate::flows::quantile;
use crate::observe::Target;
use serde::Serialize;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often each RSU is asked.
const EVERY: Duration = Duration::from_secs(1);

/// One RSU cell's channel over the run (after the warm-up).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CellBusy {
    pub rsu: String,
    /// Busy ratio, 0..1 (`None`: the daemon never answered).
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    /// Readings behind them.
    pub samples: usize,
}

pub struct ChannelWatch {
    stop: Arc<AtomicBool>,
    readings: Arc<Mutex<Vec<Vec<f64>>>>,
    names: Vec<String>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChannelWatch {
    /// Starts asking the RSUs `targets` (named `names`) once a second,
    /// keeping the readings from `warm_after` past `epoch` on.
    pub fn start(
        targets: &[Target],
        names: Vec<String>,
        epoch: Instant,
        warm_after: Duration,
    ) -> crate::Result<ChannelWatch> {
        let mut netns = Vec::new();
        for t in targets {
            let f = std::fs::File::open(format!("/run/netns/{}", t.ns))
                .map_err(crate::Error::io(format!("netns {}", t.ns)))?;
            netns.push(f);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let readings = Arc::new(Mutex::new(vec![Vec::new(); netns.len()]));
        let (st, rd) = (stop.clone(), readings.clone());
        let thread = std::thread::Builder::new()
            .name("channel-watch".into())
            .spawn(move || {
                let client = api::Client::with_timeout(testbed::API_ADDR, EVERY);
                while !st.load(Ordering::Relaxed) {
                    let round = Instant::now();
                    for (i, ns) in netns.iter().enumerate() {
                        // SAFETY: setns on an open namespace fd moves only this thread.
                        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                            continue;
                        }
                        let busy = client.stats().ok().map(|s| s.airtime.channel_busy_ratio);
                        if let Some(b) = busy.filter(|_| epoch.elapsed() >= warm_after) {
                            rd.lock().unwrap_or_else(|e| e.into_inner())[i].push(b);
                        }
                    }
                    // Sleep in short steps so that a stop is quick.
                    while round.elapsed() < EVERY && !st.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
            .map_err(crate::Error::io("channel-watch thread"))?;
        Ok(ChannelWatch {
            stop,
            readings,
            names,
            thread: Some(thread),
        })
    }

    /// Stops asking; each cell's figures.
    pub fn finish(mut self) -> Vec<CellBusy> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let readings = self.readings.lock().unwrap_or_else(|e| e.into_inner());
        cells(&self.names, &readings)
    }
}

impl Drop for ChannelWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Each cell's p50 and p99 of its readings.
pub fn cells(names: &[String], readings: &[Vec<f64>]) -> Vec<CellBusy> {
    names
        .iter()
        .zip(readings)
        .map(|(rsu, r)| {
            let mut r = r.clone();
            r.sort_by(f64::total_cmp);
            CellBusy {
                rsu: rsu.clone(),
                p50: quantile(&r, 0.5),
                p99: quantile(&r, 0.99),
                samples: r.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_reports_its_quantiles_and_a_silent_one_none() {
        let names = vec!["rsu1".to_string(), "rsu2".to_string()];
        let r = cells(&names, &[vec![0.3, 0.1, 0.2, 0.9], vec![]]);
        assert_eq!(r[0].rsu, "rsu1");
        assert_eq!(r[0].samples, 4);
        assert!(r[0].p50.is_some_and(|p| (0.1..=0.3).contains(&p)), "{r:?}");
        assert!(r[0].p99.is_some_and(|p| p >= 0.3), "{r:?}");
        assert_eq!((r[1].p50, r[1].samples), (None, 0));
    }
}
