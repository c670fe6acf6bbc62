//! Traffic between the lab's nodes, measured by the lab itself.
//!
//! * `udp`: the lab sends numbered, timestamped datagrams from a socket in
//!   the source's namespace and receives them in the destination's; one
//!   clock serves both ends (one machine), so latency is one-way.
//! * `ping` and `tcp` run outside tools ([`crate::tools`]).
//!
//! A flow never dies of a missing route: a datagram the kernel refuses
//! (no route to a vehicle that has not attached yet, a sender whose
//! daemon is down) counts as sent and lost, by reason.
//!
//! One thread sends every UDP flow and one receives them all (sockets keep
//! the namespace they were made in, so neither thread has to move).

use crate::plan::{Endpoint, Flow, Plan};
use crate::scenario::FlowKind;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The lab's header in each UDP datagram: flow id (u32), sequence number
/// (u32), send time in ns since the run's start (u64).
pub const UDP_HEADER_BYTES: usize = crate::scenario::MIN_UDP_SIZE;
/// Flow `i` listens on this port plus `i`.
pub const BASE_PORT: u16 = 20_000;

/// Where a flow's end lives.
pub trait Ends {
    /// The namespace of `e`.
    fn ns(&self, e: Endpoint) -> String;
    /// The IPv4 address others reach `e` at.
    fn addr(&self, e: Endpoint) -> String;
}

/// One flow's figures (`results.json` `flows[]`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlowResult {
    pub id: usize,
    pub kind: String,
    pub from: String,
    pub to: String,
    /// Packets (ping, udp) or bytes (tcp) sent.
    pub sent: u64,
    /// Packets (ping, udp) or bytes (tcp) received.
    pub received: u64,
    /// received / sent, 0..1.
    pub delivery: f64,
    /// `one-way` (udp) or `round-trip` (ping); absent for tcp.
    pub latency: Option<String>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// tcp: megabits per second received over the flow's time.
    pub throughput_mbps: Option<f64>,
    /// tcp: segments retransmitted.
    pub retransmits: Option<u64>,
    /// Sends counted as sent and lost because they could not be made:
    /// datagrams the kernel refused (udp); for ping, its rate times the
    /// seconds it could not run plus the sends it reported failing.
    pub failed_sends: u64,
    /// Why: each reason with its failed sends (tcp: failed connection
    /// attempts), e.g. `{"network is unreachable": 42}`.
    pub failed_why: BTreeMap<String, u64>,
    /// ping, tcp: seconds in which the flow's tool could not run (it
    /// failed and was started again until the flow's end).
    pub failed_s: f64,
    /// Why a flow has no figures (a tool that failed, …).
    pub error: Option<String>,
    /// Receive times (s since the run's start) of the packets, for the
    /// handover gaps; not written out.
    #[serde(skip)]
    pub arrivals: Vec<f64>,
}

/// The `p`-quantile (0..1) of sorted `v`.
pub fn quantile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

#[derive(Default)]
struct UdpTally {
    sent: u64,
    /// Refused sends by reason.
    failed: BTreeMap<String, u64>,
    received: u64,
    latencies_ms: Vec<f64>,
    arrivals: Vec<f64>,
}

struct UdpFlow {
    id: usize,
    socket: UdpSocket,
    dst: std::net::SocketAddr,
    /// The presence intervals of each end that is a vehicle.
    exists: Vec<Vec<(f64, f64)>>,
    size: usize,
    rate_pps: f64,
    start_s: f64,
    stop_s: f64,
}

/// Runs `f` on a thread inside namespace `ns` (to make a socket there).
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        testbed::enter_netns(&ns)?;
        f()
    })
    .join()
    .map_err(|_| Error::ThreadEnded("socket"))?
}

/// Marks the socket's datagrams with TOS byte `tos` (DSCP << 2).
fn set_tos(s: &UdpSocket, tos: i32) -> Result<()> {
    if tos == 0 {
        return Ok(());
    }
    // SAFETY: setsockopt on a valid socket with a pointer to an int that
    // outlives the call and its exact size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_TOS,
            &tos as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(Error::io("IP_TOS")(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The UDP flows of a run.
pub struct UdpFlows {
    stop: Arc<AtomicBool>,
    tallies: Arc<Mutex<Vec<UdpTally>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    ids: Vec<usize>,
}

impl UdpFlows {
    /// Makes every UDP flow's sockets and starts the two threads; `epoch`
    /// is time 0 of the run. A datagram is sent only while both ends exist
    /// (a vehicle may enter late or leave early).
    pub fn start(plan: &Plan, ends: &dyn Ends, epoch: Instant) -> Result<UdpFlows> {
        let udp: Vec<&Flow> = plan
            .flows
            .iter()
            .filter(|f| f.kind == FlowKind::Udp)
            .collect();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for f in &udp {
            let port = BASE_PORT + f.id as u16;
            let rx = in_ns(&ends.ns(f.to), move || {
                let s = UdpSocket::bind(("0.0.0.0", port))
                    .map_err(Error::io(format!("bind UDP port {port}")))?;
                s.set_nonblocking(true).map_err(Error::io("O_NONBLOCK"))?;
                Ok(s)
            })?;
            let dst: std::net::SocketAddr = format!("{}:{port}", ends.addr(f.to))
                .parse()
                .map_err(Error::malformed(format!("flow {} address", f.id)))?;
            // Not connected: the route to a vehicle may appear only once
            // it has attached; until then a send fails and is counted.
            let tos = i32::from(f.dscp) << 2;
            let tx = in_ns(&ends.ns(f.from), move || {
                let s = UdpSocket::bind("0.0.0.0:0").map_err(Error::io("bind UDP"))?;
                set_tos(&s, tos)?;
                Ok(s)
            })?;
            receivers.push(rx);
            senders.push(UdpFlow {
                id: f.id,
                socket: tx,
                dst,
                exists: [f.from, f.to]
                    .iter()
                    .filter_map(|e| match e {
                        Endpoint::Node(i) => {
                            plan.nodes[*i].track.as_ref().map(|t| t.present.clone())
                        }
                        Endpoint::Server => None,
                    })
                    .collect(),
                size: f.size,
                rate_pps: f.rate_pps,
                start_s: f.start_s,
                stop_s: f.stop_s,
            });
        }
        let ids: Vec<usize> = udp.iter().map(|f| f.id).collect();
        let index = |id: usize| ids.iter().position(|&k| k == id);
        let tallies = Arc::new(Mutex::new(
            (0..ids.len())
                .map(|_| UdpTally::default())
                .collect::<Vec<_>>(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        if !ids.is_empty() {
            let (st, ta) = (stop.clone(), tallies.clone());
            let idx: Vec<Option<usize>> = (0..=ids.iter().max().copied().unwrap_or(0))
                .map(index)
                .collect();
            threads.push(spawn("udp-send", move || {
                send_loop(senders, &st, &ta, epoch)
            }));
            let (st, ta) = (stop.clone(), tallies.clone());
            threads.push(spawn("udp-receive", move || {
                receive_loop(receivers, &idx, &st, &ta, epoch)
            }));
        }
        Ok(UdpFlows {
            stop,
            tallies,
            threads,
            ids,
        })
    }

    /// Each UDP flow's (id, sent, received) so far.
    pub fn totals(&self) -> Vec<(usize, u64, u64)> {
        let t = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        self.ids
            .iter()
            .zip(t.iter())
            .map(|(&id, t)| (id, t.sent, t.received))
            .collect()
    }

    /// Stops both threads (after a short drain for packets in flight) and
    /// returns each flow's tally by flow id.
    pub fn finish(mut self) -> Vec<(usize, FlowResult)> {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        self.ids
            .iter()
            .zip(tallies.iter_mut())
            .map(|(&id, t)| {
                t.latencies_ms.sort_by(f64::total_cmp);
                t.arrivals.sort_by(f64::total_cmp);
                let r = FlowResult {
                    id,
                    sent: t.sent,
                    received: t.received,
                    latency: Some("one-way".into()),
                    latency_p50_ms: quantile(&t.latencies_ms, 0.5),
                    latency_p99_ms: quantile(&t.latencies_ms, 0.99),
                    failed_sends: t.failed.values().sum(),
                    failed_why: std::mem::take(&mut t.failed),
                    arrivals: std::mem::take(&mut t.arrivals),
                    ..FlowResult::default()
                };
                (id, r)
            })
            .collect()
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawn a flow thread")
}

/// Sends every flow's datagrams on time (each flow's `n`-th at
/// `start + n / rate`), sleeping until the next is due.
fn send_loop(
    flows: Vec<UdpFlow>,
    stop: &AtomicBool,
    tallies: &Mutex<Vec<UdpTally>>,
    epoch: Instant,
) {
    let mut seq = vec![0u64; flows.len()];
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = epoch.elapsed().as_secs_f64();
        let mut next_due = f64::INFINITY;
        for (k, f) in flows.iter().enumerate() {
            loop {
                let due = f.start_s + seq[k] as f64 / f.rate_pps;
                if due >= f.stop_s {
                    break;
                }
                if due > now {
                    next_due = next_due.min(due);
                    break;
                }
                let both_exist = f
                    .exists
                    .iter()
                    .all(|p| p.iter().any(|&(a, b)| a <= due && due < b));
                if !both_exist {
                    seq[k] += 1;
                    continue;
                }
                buf.clear();
                buf.extend_from_slice(&(f.id as u32).to_be_bytes());
                buf.extend_from_slice(&(seq[k] as u32).to_be_bytes());
                buf.extend_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
                buf.resize(f.size.max(UDP_HEADER_BYTES), 0);
                let sent = f.socket.send_to(&buf, f.dst);
                let mut t = tallies.lock().unwrap_or_else(|e| e.into_inner());
                t[k].sent += 1;
                if let Err(e) = sent {
                    *t[k].failed.entry(reason(&e)).or_default() += 1;
                }
                seq[k] += 1;
            }
        }
        if next_due.is_infinite() {
            return;
        }
        let wait = (next_due - epoch.elapsed().as_secs_f64()).clamp(0.0, 0.05);
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

/// Receives on every flow's socket (poll), recording latency and arrival.
fn receive_loop(
    sockets: Vec<UdpSocket>,
    index: &[Option<usize>],
    stop: &AtomicBool,
    tallies: &Mutex<Vec<UdpTally>>,
    epoch: Instant,
) {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if n <= 0 {
            continue;
        }
        for (k, pfd) in fds.iter_mut().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            while let Ok(len) = sockets[k].recv(&mut buf) {
                let now = epoch.elapsed();
                if len < UDP_HEADER_BYTES {
                    continue;
                }
                let id = u32::from_be_bytes(buf[0..4].try_into().unwrap_or_default()) as usize;
                let sent_ns = u64::from_be_bytes(buf[8..16].try_into().unwrap_or_default());
                let Some(Some(slot)) = index.get(id) else {
                    continue;
                };
                let lat = now.as_nanos().saturating_sub(u128::from(sent_ns)) as f64 / 1e6;
                let mut t = tallies.lock().unwrap_or_else(|e| e.into_inner());
                t[*slot].received += 1;
                t[*slot].latencies_ms.push(lat);
                t[*slot].arrivals.push(now.as_secs_f64());
            }
        }
    }
}

/// Why a send failed, as people say it: the system's message without its
/// number ("network is unreachable").
pub fn reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    text.trim().to_lowercase()
}

/// Names, kind and delivery filled in from the plan.
pub fn complete(plan: &Plan, mut r: FlowResult) -> FlowResult {
    let f = &plan.flows[r.id];
    r.kind = f.kind.name().into();
    r.from = plan.endpoint_name(f.from).into();
    r.to = plan.endpoint_name(f.to).into();
    r.delivery = if r.sent > 0 {
        (r.received as f64 / r.sent as f64).min(1.0)
    } else {
        0.0
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_send_says_why_in_words() {
        let e = std::io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(reason(&e), "network is unreachable");
        let e = std::io::Error::other("Something Odd");
        assert_eq!(reason(&e), "something odd");
    }

    #[test]
    fn quantiles_of_sorted_values() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(51.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
