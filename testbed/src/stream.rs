//! A paced UDP probe stream (e.g. 100 packets a second) between two
//! namespaces, for loss and gaps across handovers. Each datagram carries
//! its sequence number and send time; the receiver notes arrival times.

use crate::cmd::enter_netns;
use crate::{Error, Result};
use std::net::UdpSocket;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (shared clock of all namespaces).
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One datagram as received: sequence, send time, arrival time.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    pub seq: u64,
    pub sent: f64,
    pub at: f64,
}

/// What a stream did: sent (seq, time) and arrivals.
#[derive(Debug, Default)]
pub struct StreamResult {
    pub sent: Vec<f64>,
    pub arrivals: Vec<Arrival>,
}

impl StreamResult {
    /// Within sends in `[from, to)` (seconds since the epoch): how many
    /// never arrived, and the longest time between two consecutive
    /// arrivals that spans part of the window (the arrival before the
    /// window counts, so a loss at its very start widens the gap too).
    pub fn window(&self, from: f64, to: f64) -> (usize, f64) {
        let mut got = vec![false; self.sent.len()];
        let mut firsts: Vec<Arrival> = Vec::new();
        for a in &self.arrivals {
            if let Some(g) = got.get_mut(a.seq as usize) {
                if !*g {
                    firsts.push(*a);
                }
                *g = true;
            }
        }
        let lost = self
            .sent
            .iter()
            .zip(&got)
            .filter(|(t, g)| **t >= from && **t < to && !**g)
            .count();
        firsts.sort_by(|a, b| a.at.total_cmp(&b.at));
        let gap = firsts
            .windows(2)
            .filter(|w| w[1].sent >= from && w[0].sent < to)
            .map(|w| w[1].at - w[0].at)
            .fold(0.0, f64::max);
        (lost, gap)
    }
}

/// Receives the stream on `port` in `ns` for `dur`.
pub fn receive(ns: &str, port: u16, dur: Duration) -> JoinHandle<Result<Vec<Arrival>>> {
    let ns = ns.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        enter_netns(&ns)?;
        let s =
            UdpSocket::bind(("::", port)).map_err(Error::io(format!("bind UDP port {port}")))?;
        let _ = tx.send(());
        let end = Instant::now() + dur;
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok();
            if let Ok((n, _)) = s.recv_from(&mut buf) {
                if n >= 16 {
                    let seq = u64::from_be_bytes(buf[..8].try_into().unwrap_or_default());
                    let sent = f64::from_be_bytes(buf[8..16].try_into().unwrap_or_default());
                    got.push(Arrival {
                        seq,
                        sent,
                        at: now(),
                    });
                }
            }
        }
        Ok(got)
    });
    let _ = rx.recv_timeout(Duration::from_secs(5));
    h
}

/// Sends `pps` datagrams a second from `ns` to `dst:port` for `dur`;
/// returns the send times (index = sequence). Send errors (no route for a
/// moment) count as sent and lost.
pub fn send(
    ns: &str,
    dst: &str,
    port: u16,
    pps: u32,
    dur: Duration,
) -> JoinHandle<Result<Vec<f64>>> {
    let (ns, dst) = (ns.to_string(), dst.to_string());
    std::thread::spawn(move || {
        enter_netns(&ns)?;
        let bind = if dst.contains(':') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let s = UdpSocket::bind(bind).map_err(Error::io(format!("bind {bind}")))?;
        let target = if dst.contains(':') {
            format!("[{dst}]:{port}")
        } else {
            format!("{dst}:{port}")
        };
        let every = Duration::from_secs_f64(1.0 / pps as f64);
        let start = Instant::now();
        let mut sent = Vec::new();
        while start.elapsed() < dur {
            let due = start + every * sent.len() as u32;
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            let t = now();
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&(sent.len() as u64).to_be_bytes());
            b[8..].copy_from_slice(&t.to_be_bytes());
            let _ = s.send_to(&b, &target);
            sent.push(t);
        }
        Ok(sent)
    })
}
