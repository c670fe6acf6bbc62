//! Traffic between the lab's nodes, measured by the lab itself.
//!
//! * `udp`: the lab sends numbered, timestamped datagrams from a socket in
//!   the source's namespace and receives them in the destination's; one
//!   clock serves both ends (one machine), so latency is one-way.
//! * `ping`: the system's `ping` in the source's namespace; round-trip
//!   times from its replies.
//! * `tcp`: `iperf3` (a server in the destination's namespace, a client in
//!   the source's); bytes and retransmits from its JSON report.
//!
//! One thread sends every UDP flow and one receives them all (sockets keep
//! the namespace they were made in, so neither thread has to move).

use crate::plan::{Endpoint, Flow, Plan};
use crate::scenario::FlowKind;
use serde::Serialize;
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
    send_errors: u64,
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
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        testbed::enter_netns(&ns)?;
        f()
    })
    .join()
    .map_err(|_| "socket thread panicked".to_string())?
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
    pub fn start(plan: &Plan, ends: &dyn Ends, epoch: Instant) -> Result<UdpFlows, String> {
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
                let s =
                    UdpSocket::bind(("0.0.0.0", port)).map_err(|e| format!("bind :{port}: {e}"))?;
                s.set_nonblocking(true).map_err(|e| e.to_string())?;
                Ok(s)
            })?;
            let dst: std::net::SocketAddr = format!("{}:{port}", ends.addr(f.to))
                .parse()
                .map_err(|e| format!("flow {}: address: {e}", f.id))?;
            // Not connected: the route to a vehicle may appear only once
            // it has attached; until then a send fails and is counted.
            let tx = in_ns(&ends.ns(f.from), move || {
                UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))
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
                    error: (t.send_errors > 0).then(|| {
                        format!("{} sends refused by the kernel (no route?)", t.send_errors)
                    }),
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
                let ok = f.socket.send_to(&buf, f.dst).is_ok();
                let mut t = tallies.lock().unwrap_or_else(|e| e.into_inner());
                t[k].sent += 1;
                if !ok {
                    t[k].send_errors += 1;
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

/// A flow run by an outside tool (ping, iperf3).
pub struct ToolFlow {
    pub flow: Flow,
    /// The testbed's handle of the client process, once started.
    pub client: Option<usize>,
    /// The iperf3 server's handle.
    pub server: Option<usize>,
}

/// The command line of a tool flow's client, started at its `start_s`.
pub fn client_args(f: &Flow, addr: &str) -> Vec<String> {
    let secs = (f.stop_s - f.start_s).max(1.0);
    match f.kind {
        FlowKind::Ping => {
            let interval = (1.0 / f.rate_pps).max(0.002);
            let count = ((secs * f.rate_pps).floor() as u64).max(1);
            let payload = f.size.saturating_sub(28).max(16);
            vec![
                "ping".into(),
                "-n".into(),
                "-D".into(),
                "-i".into(),
                format!("{interval:.3}"),
                "-c".into(),
                count.to_string(),
                "-w".into(),
                format!("{}", secs.ceil() as u64 + 2),
                "-W".into(),
                "1".into(),
                "-s".into(),
                payload.to_string(),
                addr.into(),
            ]
        }
        _ => {
            let mut v: Vec<String> = [
                "iperf3",
                "-c",
                addr,
                "-p",
                &(BASE_PORT + f.id as u16).to_string(),
                "-t",
                &format!("{}", secs.floor().max(1.0) as u64),
                "-J",
                "--connect-timeout",
                "3000",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if f.rate_pps > 0.0 {
                v.push("-b".into());
                v.push(format!("{}", (f.rate_pps * f.size as f64 * 8.0) as u64));
            }
            v
        }
    }
}

/// What ping printed: packets sent and received, sorted round-trip times
/// (ms), and the wall-clock times of the replies (s since the Unix epoch,
/// from `-D`).
#[derive(Clone, Debug, PartialEq)]
pub struct PingReport {
    pub sent: u64,
    pub received: u64,
    pub rtts_ms: Vec<f64>,
    pub reply_times: Vec<f64>,
}

/// Reads ping's output.
pub fn parse_ping(out: &str) -> Option<PingReport> {
    let mut rtts: Vec<f64> = Vec::new();
    let mut reply_times = Vec::new();
    for l in out.lines() {
        let Some(t) = l.split("time=").nth(1) else {
            continue;
        };
        let Some(rtt) = t.split_whitespace().next().and_then(|v| v.parse().ok()) else {
            continue;
        };
        rtts.push(rtt);
        if let Some(stamp) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            if let Ok(v) = stamp.parse::<f64>() {
                reply_times.push(v);
            }
        }
    }
    rtts.sort_by(f64::total_cmp);
    let summary = out.lines().find(|l| l.contains("packets transmitted"))?;
    let nums: Vec<u64> = summary
        .split(',')
        .filter_map(|p| p.split_whitespace().next()?.parse().ok())
        .collect();
    Some(PingReport {
        sent: *nums.first()?,
        received: *nums.get(1)?,
        rtts_ms: rtts,
        reply_times,
    })
}

/// iperf3's JSON: bytes sent, bytes received, retransmits, seconds.
pub fn parse_iperf(out: &str) -> Result<(u64, u64, u64, f64), String> {
    let v: serde_json::Value =
        serde_json::from_str(out).map_err(|e| format!("iperf3 said no JSON ({e})"))?;
    if let Some(e) = v["error"].as_str() {
        return Err(format!("iperf3: {e}"));
    }
    let sent = &v["end"]["sum_sent"];
    let recv = &v["end"]["sum_received"];
    Ok((
        sent["bytes"].as_u64().unwrap_or(0),
        recv["bytes"].as_u64().unwrap_or(0),
        sent["retransmits"].as_u64().unwrap_or(0),
        recv["seconds"].as_f64().unwrap_or(0.0),
    ))
}

/// A tool flow's figures from its output; `wall_epoch` is the run's time
/// 0 in seconds since the Unix epoch.
pub fn tool_result(f: &Flow, out: Option<&str>, wall_epoch: f64) -> FlowResult {
    let mut r = FlowResult {
        id: f.id,
        ..FlowResult::default()
    };
    let Some(out) = out else {
        r.error = Some(format!("{} did not finish", f.kind.name()));
        return r;
    };
    match f.kind {
        FlowKind::Ping => match parse_ping(out) {
            Some(p) => {
                r.sent = p.sent;
                r.received = p.received;
                r.latency = Some("round-trip".into());
                r.latency_p50_ms = quantile(&p.rtts_ms, 0.5);
                r.latency_p99_ms = quantile(&p.rtts_ms, 0.99);
                r.arrivals = p.reply_times.iter().map(|t| t - wall_epoch).collect();
            }
            None => r.error = Some(format!("ping: {}", out.trim().lines().last().unwrap_or(""))),
        },
        _ => match parse_iperf(out) {
            Ok((sent, received, retransmits, secs)) => {
                r.sent = sent;
                r.received = received;
                r.retransmits = Some(retransmits);
                r.throughput_mbps = (secs > 0.0).then(|| received as f64 * 8.0 / secs / 1e6);
            }
            Err(e) => r.error = Some(e),
        },
    }
    r
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
    fn reads_ping_and_iperf_reports() {
        let ping = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n[1764860000.250000] 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.045 ms\n[1764860002.5] 64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=1.50 ms\n\n--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n";
        let p = parse_ping(ping).unwrap();
        assert_eq!((p.sent, p.received), (3, 2));
        assert_eq!(p.rtts_ms, vec![0.045, 1.5]);
        assert_eq!(p.reply_times, vec![1764860000.25, 1764860002.5]);
        assert!(parse_ping("ping: connect: Network is unreachable\n").is_none());
        let j = r#"{"end":{"sum_sent":{"bytes":1000,"retransmits":3},"sum_received":{"bytes":900,"seconds":2.0}}}"#;
        assert_eq!(parse_iperf(j).unwrap(), (1000, 900, 3, 2.0));
        let e = parse_iperf(r#"{"error":"unable to connect to server"}"#).unwrap_err();
        assert!(e.contains("unable to connect"));
    }

    #[test]
    fn quantiles_of_sorted_values() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(51.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
