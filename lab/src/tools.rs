//! Flows run by outside tools, for their whole time whatever the route
//! does.
//!
//! * `ping`: the system's `ping` in the source's namespace, bound to the
//!   source's address (`-I`: without it ping gives up at once when there
//!   is no route yet, `connect: Network is unreachable`; with it, it sends
//!   on and counts the failed sends as lost); round-trip times and reply
//!   times from its output.
//! * `tcp`: `iperf3` (a server in the destination's namespace serving one
//!   test, a client in the source's); bytes and retransmits from its JSON
//!   report.
//!
//! A tool that ends before the flow's stop (it could not bind the
//! address of a vehicle whose daemon is down, iperf3 found no route to
//! connect) is started again after [`RETRY_S`] for the time that is left;
//! the time between counts as lost: a ping flow at rate r that could not
//! run for t seconds sent r·t packets and lost them, by the reason the
//! tool gave.

use crate::flows::{quantile, Ends, FlowResult, BASE_PORT};
use crate::plan::Flow;
use crate::scenario::FlowKind;
use std::collections::BTreeMap;
use std::time::Duration;
use testbed::Testbed;

/// How long a flow waits after its tool failed before it starts it again.
pub const RETRY_S: f64 = 1.0;
/// The shortest run worth starting (iperf3 runs whole seconds).
const MIN_RUN_S: f64 = 1.0;

/// One run of a flow's client.
struct Run {
    /// The testbed's handle of the process.
    handle: usize,
    started: f64,
    /// ping: the packets this run is to send.
    count: u64,
}

/// What the flow's runs came to so far.
#[derive(Default)]
struct Tally {
    sent: u64,
    received: u64,
    rtts_ms: Vec<f64>,
    /// Reply times, s since the run's start.
    arrivals: Vec<f64>,
    retransmits: u64,
    /// tcp: seconds iperf3 measured.
    secs: f64,
    failed_sends: u64,
    failed_why: BTreeMap<String, u64>,
    failed_s: f64,
    runs: u32,
}

/// A flow run by an outside tool (ping, iperf3).
pub struct ToolFlow {
    pub flow: Flow,
    client: Option<Run>,
    /// The iperf3 server's handle.
    server: Option<usize>,
    /// The earliest time of the next run after a failed one.
    next_try: f64,
    /// Since when no run covers the flow, and why (after a failed run).
    gap: Option<(f64, String)>,
    tally: Tally,
    /// The run's time 0, s since the Unix epoch (ping's `-D` stamps).
    wall_epoch: f64,
}

/// The command line of a flow's client: from `from_addr` to `to_addr`,
/// for `secs` seconds.
pub fn client_args(f: &Flow, from_addr: &str, to_addr: &str, secs: f64) -> Vec<String> {
    let secs = secs.max(MIN_RUN_S);
    let mut v: Vec<String> = match f.kind {
        FlowKind::Ping => {
            let interval = (1.0 / f.rate_pps).max(0.002);
            let payload = f.size.saturating_sub(28).max(16);
            vec![
                "ping".into(),
                "-n".into(),
                "-D".into(),
                "-I".into(),
                from_addr.into(),
                "-i".into(),
                format!("{interval:.3}"),
                "-c".into(),
                ping_count(f, secs).to_string(),
                "-w".into(),
                format!("{}", secs.ceil() as u64 + 2),
                "-W".into(),
                "1".into(),
                "-s".into(),
                payload.to_string(),
                to_addr.into(),
            ]
        }
        _ => [
            "iperf3",
            "-c",
            to_addr,
            "-B",
            from_addr,
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
        .collect(),
    };
    if f.dscp != 0 {
        // The TOS byte: DSCP in its upper six bits.
        let tos = (u32::from(f.dscp) << 2).to_string();
        match f.kind {
            FlowKind::Ping => v.splice(1..1, ["-Q".to_string(), tos]),
            _ => v.splice(1..1, ["-S".to_string(), tos]),
        };
    }
    if f.kind == FlowKind::Tcp && f.rate_pps > 0.0 {
        v.push("-b".into());
        v.push(format!("{}", (f.rate_pps * f.size as f64 * 8.0) as u64));
    }
    v
}

/// The packets a ping run of `secs` sends.
fn ping_count(f: &Flow, secs: f64) -> u64 {
    ((secs * f.rate_pps).floor() as u64).max(1)
}

/// What ping printed: packets sent and received, sorted round-trip times
/// (ms), the wall-clock times of the replies (s since the Unix epoch,
/// from `-D`), and its sends that failed by reason (`sendmsg` errors,
/// "Destination Host Unreachable" answers).
#[derive(Clone, Debug, PartialEq)]
pub struct PingReport {
    pub sent: u64,
    pub received: u64,
    pub rtts_ms: Vec<f64>,
    pub reply_times: Vec<f64>,
    pub failed: BTreeMap<String, u64>,
}

/// A failed send in one of ping's lines, as its reason.
fn ping_failure(line: &str) -> Option<String> {
    let l = line.trim();
    let l = match l.strip_prefix('[') {
        Some(r) => r.split_once(']').map_or(r, |(_, rest)| rest).trim(),
        None => l,
    };
    if let Some(e) = l.strip_prefix("ping: sendmsg: ") {
        return Some(e.trim().to_lowercase());
    }
    // "From 10.42.0.2 icmp_seq=3 Destination Host Unreachable"
    let rest = l.strip_prefix("From ")?;
    let after = rest.split_once("icmp_seq=")?.1;
    let why = after.split_once(' ')?.1.trim();
    (!why.is_empty()).then(|| why.to_lowercase())
}

/// Reads ping's output; `None` when it printed no statistics (it did not
/// run: `bind: Cannot assign requested address`).
pub fn parse_ping(out: &str) -> Option<PingReport> {
    let mut rtts: Vec<f64> = Vec::new();
    let mut reply_times = Vec::new();
    let mut failed: BTreeMap<String, u64> = BTreeMap::new();
    for l in out.lines() {
        let Some(t) = l.split("time=").nth(1) else {
            if let Some(why) = ping_failure(l) {
                *failed.entry(why).or_default() += 1;
            }
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
        failed,
    })
}

/// What the lab reads of iperf3's JSON report (`--json`).
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct IperfReport {
    /// Why the run failed, when it did ("unable to connect to server").
    pub error: Option<String>,
    pub end: IperfEnd,
}

/// The totals at the report's end.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct IperfEnd {
    pub sum_sent: IperfSum,
    pub sum_received: IperfSum,
}

/// One direction's totals (the sender reports retransmits).
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct IperfSum {
    pub bytes: u64,
    pub retransmits: u64,
    pub seconds: f64,
}

/// Why an iperf3 run gave no figures.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum IperfError {
    /// It printed no JSON (it did not start, or died).
    #[error("iperf3 said no JSON ({0})")]
    NoReport(String),
    /// It reported a failure in its JSON.
    #[error("iperf3: {0}")]
    Failed(String),
}

/// iperf3's JSON report, or why the run failed.
pub fn parse_iperf(out: &str) -> Result<IperfEnd, IperfError> {
    let r: IperfReport =
        serde_json::from_str(out).map_err(|e| IperfError::NoReport(e.to_string()))?;
    match r.error {
        Some(e) => Err(IperfError::Failed(e)),
        None => Ok(r.end),
    }
}

/// Why a tool run gave nothing: its last words, without the tool's name.
fn last_words(out: &str) -> String {
    let line = out
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("it ended without a word");
    line.trim_start_matches("ping: ").to_lowercase()
}

impl ToolFlow {
    /// A flow not started yet; `wall_epoch` is the run's time 0 in
    /// seconds since the Unix epoch.
    pub fn new(flow: Flow, wall_epoch: f64) -> ToolFlow {
        ToolFlow {
            next_try: flow.start_s,
            flow,
            client: None,
            server: None,
            gap: None,
            tally: Tally::default(),
            wall_epoch,
        }
    }

    /// TCP: starts the iperf3 server that serves the next test.
    pub fn start_server(&mut self, tb: &mut Testbed, ends: &dyn Ends) {
        if self.flow.kind == FlowKind::Tcp {
            let ns = ends.ns(self.flow.to);
            let port = (BASE_PORT + self.flow.id as u16).to_string();
            self.server = Some(tb.spawn_in_ns(&ns, &["iperf3", "-s", "-1", "-p", &port]));
        }
    }

    /// At run time `t`: takes in a run that has ended, and starts one when
    /// the flow is due and has none. Quick: no waiting on processes.
    pub fn tend(&mut self, t: f64, tb: &mut Testbed, ends: &dyn Ends) {
        if let Some(run) = &self.client {
            let Some(out) = tb.spawned_output(run.handle) else {
                return;
            };
            let run = self.client.take().expect("a run");
            let failure = self.absorb(&out, &run);
            if t < self.flow.stop_s - MIN_RUN_S {
                // Ended early: nothing covers the flow until the next run.
                let from = if failure.is_some() { run.started } else { t };
                let why = failure.unwrap_or_else(|| "the tool ended early".into());
                self.gap = Some((from, why));
                self.next_try = t + RETRY_S;
            }
        }
        if t < self.next_try || self.flow.stop_s - t < MIN_RUN_S {
            return;
        }
        if self.flow.kind == FlowKind::Tcp {
            // The server serves one test: after a test that ran (or
            // failed on its side), it is started again first.
            if self.server.is_none_or(|h| tb.spawned_output(h).is_some()) {
                self.start_server(tb, ends);
                self.next_try = t + 0.5;
                return;
            }
        }
        let secs = self.flow.stop_s - t;
        let (from, to) = (ends.addr(self.flow.from), ends.addr(self.flow.to));
        let args = client_args(&self.flow, &from, &to, secs);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let handle = tb.spawn_in_ns(&ends.ns(self.flow.from), &args);
        self.close_gap(t);
        self.tally.runs += 1;
        self.client = Some(Run {
            handle,
            started: t,
            count: ping_count(&self.flow, secs),
        });
    }

    /// Counts the time since a failed run as lost, up to `t`.
    fn close_gap(&mut self, t: f64) {
        let Some((from, why)) = self.gap.take() else {
            return;
        };
        let lost_s = (t - from).max(0.0);
        self.tally.failed_s += lost_s;
        if self.flow.kind == FlowKind::Ping {
            let n = (lost_s * self.flow.rate_pps).round() as u64;
            self.tally.sent += n;
            self.tally.failed_sends += n;
            *self.tally.failed_why.entry(why).or_default() += n;
        }
    }

    /// Adds a finished run's report; returns why it failed, if it did.
    fn absorb(&mut self, out: &str, run: &Run) -> Option<String> {
        let t = &mut self.tally;
        if self.flow.kind != FlowKind::Ping {
            return match parse_iperf(out) {
                Ok(end) => {
                    t.sent += end.sum_sent.bytes;
                    t.received += end.sum_received.bytes;
                    t.retransmits += end.sum_sent.retransmits;
                    t.secs += end.sum_received.seconds;
                    None
                }
                Err(e) => {
                    let why = match e {
                        IperfError::Failed(why) => why.to_lowercase(),
                        e @ IperfError::NoReport(_) => e.to_string().to_lowercase(),
                    };
                    *t.failed_why.entry(why.clone()).or_default() += 1;
                    Some(why)
                }
            };
        }
        let Some(p) = parse_ping(out) else {
            return Some(last_words(out));
        };
        // Failed sends do not end ping's count: it may send past it until
        // its deadline; the flow planned `count`.
        let sent = p.sent.min(run.count);
        t.sent += sent;
        t.received += p.received.min(sent);
        t.rtts_ms.extend(p.rtts_ms);
        t.arrivals
            .extend(p.reply_times.iter().map(|r| r - self.wall_epoch));
        for (why, n) in p.failed {
            t.failed_sends += n;
            *t.failed_why.entry(why).or_default() += n;
        }
        None
    }

    /// The flow's figures at the end of the run (time `t_end`): waits up
    /// to `wait` for a run still going (ping's last replies, iperf3's
    /// report).
    pub fn finish(mut self, t_end: f64, tb: &mut Testbed, wait: Duration) -> FlowResult {
        let mut error = None;
        if let Some(run) = self.client.take() {
            match tb.wait_spawned(run.handle, wait) {
                Some(out) => {
                    if let Some(why) = self.absorb(&out, &run) {
                        self.gap = Some((run.started, why));
                    }
                }
                None => error = Some(format!("{} did not finish", self.flow.kind.name())),
            }
        }
        self.close_gap(t_end.min(self.flow.stop_s));
        let t = self.tally;
        if t.runs == 0 {
            error = Some("not started: the run ended before its start_s".into());
        } else if t.sent == 0 && error.is_none() {
            error = t.failed_why.keys().next().cloned();
        }
        t_result(&self.flow, t, error)
    }
}

fn t_result(f: &Flow, mut t: Tally, error: Option<String>) -> FlowResult {
    t.rtts_ms.sort_by(f64::total_cmp);
    t.arrivals.sort_by(f64::total_cmp);
    let ping = f.kind == FlowKind::Ping;
    FlowResult {
        id: f.id,
        sent: t.sent,
        received: t.received,
        latency: ping.then(|| "round-trip".into()),
        latency_p50_ms: quantile(&t.rtts_ms, 0.5),
        latency_p99_ms: quantile(&t.rtts_ms, 0.99),
        throughput_mbps: (!ping && t.secs > 0.0).then(|| t.received as f64 * 8.0 / t.secs / 1e6),
        retransmits: (!ping).then_some(t.retransmits),
        failed_sends: t.failed_sends,
        failed_why: t.failed_why,
        failed_s: t.failed_s,
        error,
        arrivals: t.arrivals,
        ..FlowResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Endpoint;

    #[test]
    fn reads_ping_and_iperf_reports() {
        let ping = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n[1764860000.250000] 64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.045 ms\n[1764860002.5] 64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=1.50 ms\n\n--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 2 received, 33.3333% packet loss, time 2003ms\n";
        let p = parse_ping(ping).unwrap();
        assert_eq!((p.sent, p.received), (3, 2));
        assert_eq!(p.rtts_ms, vec![0.045, 1.5]);
        assert_eq!(p.reply_times, vec![1764860000.25, 1764860002.5]);
        assert!(p.failed.is_empty());
        assert!(parse_ping("ping: connect: Network is unreachable\n").is_none());
        let j = r#"{"end":{"sum_sent":{"bytes":1000,"retransmits":3},"sum_received":{"bytes":900,"seconds":2.0}}}"#;
        let end = parse_iperf(j).unwrap();
        assert_eq!((end.sum_sent.bytes, end.sum_received.bytes), (1000, 900));
        assert_eq!(end.sum_sent.retransmits, 3);
        assert_eq!(end.sum_received.seconds, 2.0);
        let e = parse_iperf(r#"{"error":"unable to connect to server"}"#).unwrap_err();
        assert_eq!(e, IperfError::Failed("unable to connect to server".into()));
        assert!(matches!(
            parse_iperf("iperf3: error"),
            Err(IperfError::NoReport(_))
        ));
    }

    #[test]
    fn pings_failed_sends_are_counted_by_reason() {
        let out = "PING 10.98.0.1 (10.98.0.1) from 10.42.0.3 : 56(84) bytes of data.\nping: sendmsg: Network is unreachable\nping: sendmsg: Network is unreachable\n[1796647444.293993] From 10.42.0.3 icmp_seq=12 Destination Host Unreachable\n[1796647445.1] 64 bytes from 10.98.0.1: icmp_seq=13 ttl=63 time=2.1 ms\n\n--- 10.98.0.1 ping statistics ---\n13 packets transmitted, 1 received, +1 errors, 92.3% packet loss, time 3077ms\n";
        let p = parse_ping(out).unwrap();
        assert_eq!((p.sent, p.received), (13, 1));
        assert_eq!(p.failed["network is unreachable"], 2);
        assert_eq!(p.failed["destination host unreachable"], 1);
        assert_eq!(
            last_words("ping: bind: Cannot assign requested address\n\n"),
            "bind: cannot assign requested address"
        );
    }

    fn flow(kind: FlowKind) -> Flow {
        Flow {
            id: 3,
            kind,
            from: Endpoint::Node(1),
            to: Endpoint::Server,
            rate_pps: 5.0,
            size: 100,
            start_s: 2.0,
            stop_s: 30.0,
            dscp: 0,
        }
    }

    #[test]
    fn a_marked_flow_asks_its_tool_for_the_tos_byte() {
        let mut f = flow(FlowKind::Ping);
        f.dscp = 46;
        let a = client_args(&f, "10.42.0.2", "10.98.0.1", 28.0);
        assert_eq!(&a[..3], ["ping", "-Q", "184"]);
        f.kind = FlowKind::Tcp;
        let a = client_args(&f, "10.42.0.2", "10.98.0.1", 28.0);
        assert_eq!(&a[..3], ["iperf3", "-S", "184"]);
        f.dscp = 0;
        assert!(!client_args(&f, "a", "b", 5.0).contains(&"-S".to_string()));
    }

    #[test]
    fn a_ping_is_bound_to_its_source_and_keeps_going() {
        let a = client_args(&flow(FlowKind::Ping), "10.42.0.2", "10.98.0.1", 28.0);
        let s = a.join(" ");
        assert!(
            s.starts_with("ping -n -D -I 10.42.0.2 -i 0.200 -c 140 -w 30"),
            "{s}"
        );
        assert!(s.ends_with("-s 72 10.98.0.1"), "{s}");
        let t = client_args(&flow(FlowKind::Tcp), "10.42.0.2", "10.98.0.1", 9.5).join(" ");
        assert!(
            t.contains("-c 10.98.0.1 -B 10.42.0.2 -p 20003 -t 9 -J"),
            "{t}"
        );
    }

    #[test]
    fn the_time_a_ping_could_not_run_is_sent_and_lost() {
        let mut tf = ToolFlow::new(flow(FlowKind::Ping), 1000.0);
        // A first run that could not bind (the vehicle's daemon was down).
        let run = Run {
            handle: 0,
            started: 2.0,
            count: 140,
        };
        let why = tf.absorb("ping: bind: Cannot assign requested address\n", &run);
        assert_eq!(
            why.as_deref(),
            Some("bind: cannot assign requested address")
        );
        tf.gap = Some((2.0, why.unwrap()));
        // The next run, 4 s later, sends 100 and gets 90 back.
        tf.close_gap(6.0);
        let run = Run {
            handle: 1,
            started: 6.0,
            count: 120,
        };
        let out = "[1006.5] 64 bytes from 10.98.0.1: icmp_seq=1 ttl=63 time=1.0 ms\n--- s ---\n130 packets transmitted, 90 received\n";
        assert_eq!(tf.absorb(out, &run), None);
        let r = t_result(&tf.flow, tf.tally, None);
        // 4 s at 5 a second lost, and the run's count (not ping's 130).
        assert_eq!((r.sent, r.received, r.failed_sends), (140, 90, 20));
        assert_eq!(r.failed_why["bind: cannot assign requested address"], 20);
        assert_eq!(r.failed_s, 4.0);
        assert_eq!(r.arrivals, vec![6.5]);
        assert_eq!(r.latency.as_deref(), Some("round-trip"));
    }

    #[test]
    fn a_tcp_flow_that_could_not_connect_says_why() {
        let mut tf = ToolFlow::new(flow(FlowKind::Tcp), 0.0);
        let run = Run {
            handle: 0,
            started: 2.0,
            count: 1,
        };
        let why = tf.absorb(
            r#"{"error":"unable to connect to server: Network is unreachable"}"#,
            &run,
        );
        assert_eq!(
            why.as_deref(),
            Some("unable to connect to server: network is unreachable")
        );
        let ok = r#"{"end":{"sum_sent":{"bytes":5000,"retransmits":1},"sum_received":{"bytes":4000,"seconds":2.0}}}"#;
        assert_eq!(tf.absorb(ok, &run), None);
        let r = t_result(&tf.flow, tf.tally, None);
        assert_eq!((r.sent, r.received, r.retransmits), (5000, 4000, Some(1)));
        assert_eq!(r.failed_why.values().sum::<u64>(), 1);
        assert_eq!(r.throughput_mbps, Some(4000.0 * 8.0 / 2.0 / 1e6));
    }
}
