//! A run's figures: computed from the plan, the daemons' answers, the
//! flows and the lab's own bookkeeping; written as `results.json` (the
//! names listed in docs/LAB.md are a contract) and `summary.md`.

use crate::flows::{quantile, FlowResult};
use crate::observe::Sample;
use crate::plan::{Plan, Role};
use crate::stability::Stability;
use serde::Serialize;
use std::collections::BTreeMap;

/// p50, p99 and max of a list of values, and how many.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        Spread {
            count: v.len(),
            p50: quantile(&v, 0.5),
            p99: quantile(&v, 0.99),
            max: v.last().copied(),
        }
    }
}

/// Flows listed one by one in the summary (all are in results.json).
const SUMMARY_FLOWS: usize = 12;

/// One daemon's cost over the run.
#[derive(Clone, Debug, Serialize)]
pub struct NodeCost {
    pub name: String,
    pub role: String,
    /// CPU seconds over the daemon's life (start-up included).
    pub cpu_s: f64,
    /// CPU ms per second of the driven run (radio on to the end).
    pub run_cpu_ms_per_s: f64,
    pub peak_rss_kib: u64,
}

/// The daemons' CPU during the run, ms per second, by kind of node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DaemonCpu {
    pub rsu: Spread,
    /// OBUs at an end of a flow of 10 packets a second or more, or TCP.
    pub obu_busy: Spread,
    /// The other OBUs (beacons, routing, at most light traffic).
    pub obu_quiet: Spread,
}

impl DaemonCpu {
    pub fn of(plan: &Plan, nodes: &[NodeCost], busy: &[bool]) -> DaemonCpu {
        let pick = |f: &dyn Fn(usize) -> bool| {
            Spread::of(
                (0..nodes.len())
                    .filter(|&i| f(i))
                    .map(|i| nodes[i].run_cpu_ms_per_s)
                    .collect(),
            )
        };
        DaemonCpu {
            rsu: pick(&|i| plan.nodes[i].role == Role::Rsu),
            obu_busy: pick(&|i| plan.nodes[i].role == Role::Obu && busy[i]),
            obu_quiet: pick(&|i| plan.nodes[i].role == Role::Obu && !busy[i]),
        }
    }
}

/// Per node: whether it is an end of a flow of 10 pps or more, or TCP.
pub fn busy_nodes(plan: &Plan) -> Vec<bool> {
    let mut busy = vec![false; plan.nodes.len()];
    for f in &plan.flows {
        if f.kind == crate::scenario::FlowKind::Tcp || f.rate_pps >= 10.0 {
            for e in [f.from, f.to] {
                if let crate::plan::Endpoint::Node(i) = e {
                    busy[i] = true;
                }
            }
        }
    }
    busy
}

/// The lab's own work.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LabCost {
    /// The lab process (every thread) and the `nft` runs it started, CPU
    /// seconds over the run.
    pub cpu_s: f64,
    /// Radio updates applied.
    pub ticks: u64,
    /// Per radio update: the lab's computing (positions, changed pairs)
    /// plus the `nft` run's CPU, ms.
    pub tick_cpu_ms: Spread,
    /// Pairs changed per update.
    pub changes_per_tick: Spread,
    /// CPU the scenario's cpu-bursts burnt in the lab's process (left out
    /// of `cpu_s`).
    pub burst_cpu_s: f64,
}

/// Everything the run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub scenario: String,
    pub security: String,
    pub duration_s: f64,
    /// Time 0 of the run (every `_s` below counts from it) in Unix time,
    /// s: to find a moment in the daemons' logs (UTC).
    pub started_unix_s: f64,
    pub rsus: usize,
    pub obus: usize,
    /// From the first namespace to every daemon answering (and BGP up).
    pub startup_s: f64,
    /// Share of OBU-time with an upstream while in some RSU's range, 0..1
    /// (from the daemons' answers, one per OBU per poll interval).
    pub attached_share: Option<f64>,
    /// The same after the first `warmup_s`.
    pub attached_share_warm: Option<f64>,
    pub warmup_s: f64,
    /// Changes of an OBU's RSU.
    pub handovers: u64,
    /// Per handover of an OBU with a flow to or from the server: the
    /// longest silence of its flows around the switch beyond the flow's
    /// own packet spacing, ms (0: no packet went missing; the resolution
    /// is the spacing).
    pub handover_gaps_ms: Spread,
    /// Changes of RSU across a jump of the trace (a vehicle that reached
    /// the road's end and starts again from its beginning): not
    /// handovers a radio could make, so left out of the gaps.
    pub handover_jumps: u64,
    /// The handovers whose gap lost a packet, the longest first (at most
    /// [`WORST_HANDOVERS`]): where to look in the daemons' logs.
    pub handovers_with_loss: Vec<HandoverGap>,
    /// The daemons' CPU over the run, ms per second.
    pub daemon_cpu_ms_per_s: DaemonCpu,
    pub flows: Vec<FlowResult>,
    /// Per RSU cell, the channel busy ratio its daemon measured (0..1,
    /// one reading a second after the warm-up): p50, p99.
    pub channel_busy: Vec<crate::channel_watch::CellBusy>,
    pub nodes: Vec<NodeCost>,
    pub lab: LabCost,
    /// How late each radio update reached the kernel after the trace time
    /// it was computed for, ms.
    pub trace_drift_ms: Spread,
    /// Trace time and wall time at the end of the run, s: the trace clock
    /// is the wall clock, so they differ only by the end's own lateness.
    pub trace_end_s: f64,
    pub wall_end_s: f64,
    /// Events, upstream changes, host saturation, the run second by
    /// second (at the top level of results.json).
    #[serde(flatten)]
    pub stability: Stability,
    pub warnings: Vec<String>,
}

/// Attached share over OBU samples taken while in an RSU's range and
/// after `from_s`.
pub fn attached_share(plan: &Plan, samples: &[Sample], from_s: f64) -> Option<f64> {
    let mut inside = 0u64;
    let mut attached = 0u64;
    for s in samples.iter().filter(|s| s.t >= from_s) {
        if plan.in_rsu_range(s.node, s.t) {
            inside += 1;
            attached += u64::from(s.upstream.is_some());
        }
    }
    (inside > 0).then(|| attached as f64 / inside as f64)
}

/// Handovers: (node, time of the last sample on the old RSU, time of the
/// first on the new one).
pub fn handovers(samples: &[Sample]) -> Vec<(usize, f64, f64)> {
    let mut by_node: BTreeMap<usize, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        by_node.entry(s.node).or_default().push(s);
    }
    let mut out = Vec::new();
    for (node, mut v) in by_node {
        v.sort_by(|a, b| a.t.total_cmp(&b.t));
        let mut last: Option<(usize, f64)> = None;
        for s in v {
            if let Some((rsu, _)) = s.upstream {
                match last {
                    Some((old, t_old)) if old != rsu => out.push((node, t_old, s.t)),
                    _ => {}
                }
                last = Some((rsu, s.t));
            }
        }
    }
    out
}

/// The run's warm-up, s: a quarter of the run, at most 10 s (the daemons
/// starting together load the host; figures "once warm" leave it out).
pub fn warmup_s(duration_s: f64) -> f64 {
    (duration_s / 4.0).min(10.0)
}

/// How many of the handovers that lost a packet `results.json` lists.
pub const WORST_HANDOVERS: usize = 50;

/// One handover whose flows lost a packet.
#[derive(Clone, Debug, Serialize)]
pub struct HandoverGap {
    /// The vehicle.
    pub node: String,
    /// The last poll before (old RSU) and the first after (new RSU), s
    /// since the run's start.
    pub from_s: f64,
    pub to_s: f64,
    /// The gap beyond the flows' packet spacing, ms.
    pub gap_ms: f64,
}

/// The handovers among `gaps` (node, t0, t1, gap ms) whose gap is at
/// least `min_ms`, the longest first, at most [`WORST_HANDOVERS`].
pub fn handovers_with_loss(
    plan: &Plan,
    gaps: &[(usize, f64, f64, f64)],
    min_ms: f64,
) -> Vec<HandoverGap> {
    let mut v: Vec<&(usize, f64, f64, f64)> = gaps.iter().filter(|g| g.3 >= min_ms).collect();
    v.sort_by(|a, b| b.3.total_cmp(&a.3).then(a.1.total_cmp(&b.1)));
    v.into_iter()
        .take(WORST_HANDOVERS)
        .map(|&(node, t0, t1, gap)| HandoverGap {
            node: plan.nodes[node].name.clone(),
            from_s: (t0 * 1000.0).round() / 1000.0,
            to_s: (t1 * 1000.0).round() / 1000.0,
            gap_ms: (gap * 10.0).round() / 10.0,
        })
        .collect()
}

/// Fastest a vehicle moves, m/s: a trace that moves one farther between
/// two looks 0.1 s apart jumped (a vehicle put back at the road's start).
const JUMP_SPEED_MS: f64 = 150.0;

/// How long before its last answer with the old RSU a vehicle's jump
/// still explains its change of RSU, s: after a jump the old RSU is
/// judged gone only at the neighbour timeout (up to 2 x 300 ms), and the
/// observer looks once a second, so the last answer with the old RSU can
/// come after the jump.
const JUMP_LOOKBACK_S: f64 = 2.0;

/// Whether `node`'s change of RSU seen between its answers at `t0` (old
/// RSU) and `t1` (new) is the trace's jump, not a handover: a jump in
/// [t0 - [`JUMP_LOOKBACK_S`], t1].
pub fn handover_across_jump(plan: &Plan, node: usize, t0: f64, t1: f64) -> bool {
    jumped(plan, node, (t0 - JUMP_LOOKBACK_S).max(0.0), t1)
}

/// Whether `node`'s trace jumps between `t0` and `t1` (or it leaves the
/// map meanwhile): a change of RSU then is the trace's, not a handover.
pub fn jumped(plan: &Plan, node: usize, t0: f64, t1: f64) -> bool {
    let n = &plan.nodes[node];
    let step = 0.1;
    let mut t = t0;
    let mut last = n.position(t0);
    while t < t1 {
        t = (t + step).min(t1);
        let p = n.position(t);
        match (last, p) {
            (Some((x0, y0)), Some((x1, y1))) => {
                if (x1 - x0).hypot(y1 - y0) > JUMP_SPEED_MS * step + 1.0 {
                    return true;
                }
            }
            _ => return true,
        }
        last = p;
    }
    false
}

/// The longest time between packets of `node`'s flows to or from the
/// server that overlaps the handover window [t0, t1], in ms; `None` when
/// it has no such packet-counting flow.
pub fn handover_gap(
    plan: &Plan,
    flows: &[FlowResult],
    node: usize,
    t0: f64,
    t1: f64,
) -> Option<f64> {
    let mut best: Option<f64> = None;
    for r in flows.iter().filter(|r| !r.arrivals.is_empty()) {
        let f = &plan.flows[r.id];
        // Only flows over the backbone: a flow to one RSU stops, rightly,
        // whenever its vehicle is in another RSU's cell.
        use crate::plan::Endpoint;
        let via_backbone = f.from == Endpoint::Server || f.to == Endpoint::Server;
        let mine = [f.from, f.to].contains(&Endpoint::Node(node));
        if !mine || !via_backbone || t1 < f.start_s || t0 > f.stop_s {
            continue;
        }
        let a = &r.arrivals;
        // Gaps between consecutive arrivals that overlap the window, less
        // the flow's own spacing: 0 when no packet went missing.
        let spacing = 1.0 / f.rate_pps.max(1e-9);
        let gap = a
            .windows(2)
            .filter(|w| w[1] >= t0 && w[0] <= t1)
            .map(|w| (w[1] - w[0] - spacing).max(0.0))
            .fold(0.0, f64::max);
        best = Some(best.unwrap_or(0.0).max(gap * 1000.0));
    }
    best
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.1} %", v * 100.0))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1}"))
}

/// Failed sends by reason, the most frequent first: "network is
/// unreachable 40, no route to host 2".
fn reasons(why: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = why.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(w, n)| format!("{w} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Results {
    /// `summary.md`: the figures for people.
    pub fn summary(&self) -> String {
        let mut s = format!("# {}\n\n", self.scenario);
        let st = &self.stability;
        if st.host_saturated {
            let sampled = st.seconds.iter().filter(|x| x.host_busy.is_some()).count();
            let bursts = st.host_saturated_s - st.host_saturated_outside_bursts_s;
            s += &format!(
                "> **Warning: host saturated {} s of {sampled}{}: network figures are not the network's alone.**\n\n",
                st.host_saturated_s,
                if bursts > 0 {
                    format!(
                        " ({} outside the scenario's cpu-bursts)",
                        st.host_saturated_outside_bursts_s
                    )
                } else {
                    String::new()
                }
            );
        }
        s += &format!(
            "{} RSUs, {} OBUs, security {}, {:.0} s (started in {:.1} s)\n\n",
            self.rsus, self.obus, self.security, self.duration_s, self.startup_s
        );
        s += &self.summary_figures();
        s += &self.summary_events();
        s += &self.summary_flows();
        if !self.warnings.is_empty() {
            s += "\nWarnings:\n\n";
            for w in &self.warnings {
                s += &format!("- {w}\n");
            }
        }
        s
    }

    /// The channel busy ratio of the busiest cells (at most 4), p50 / p99.
    fn summary_channel(&self) -> String {
        let mut cells: Vec<_> = self
            .channel_busy
            .iter()
            .filter(|c| c.p99.is_some())
            .collect();
        if cells.is_empty() {
            return String::new();
        }
        cells.sort_by(|a, b| b.p99.unwrap_or(0.0).total_cmp(&a.p99.unwrap_or(0.0)));
        let shown: Vec<String> = cells
            .iter()
            .take(4)
            .map(|c| {
                format!(
                    "{} {:.2} / {:.2}",
                    c.rsu,
                    c.p50.unwrap_or(0.0),
                    c.p99.unwrap_or(0.0)
                )
            })
            .collect();
        format!(
            "| channel busy ratio per cell p50 / p99 (daemons' estimate; busiest {} of {}) | {} |\n",
            shown.len(),
            self.channel_busy.len(),
            shown.join("; ")
        )
    }

    fn summary_figures(&self) -> String {
        let mut s = "| figure | value |\n|---|---|\n".to_string();
        s += &format!(
            "| attached share (in an RSU's range) | {} |\n",
            pct(self.attached_share)
        );
        s += &format!(
            "| attached share after {:.0} s | {} |\n",
            self.warmup_s,
            pct(self.attached_share_warm)
        );
        s += &format!(
            "| handovers | {} ({} across a jump of the trace) |\n",
            self.handovers, self.handover_jumps
        );
        s += &format!(
            "| handover gap beyond packet spacing, ms p50 / p99 / max ({} with a server flow) | {} / {} / {} |\n",
            self.handover_gaps_ms.count,
            ms(self.handover_gaps_ms.p50),
            ms(self.handover_gaps_ms.p99),
            ms(self.handover_gaps_ms.max)
        );
        let st = &self.stability;
        let per_min = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.2}"));
        s += &format!(
            "| upstream changes (all OBUs) / per OBU-minute, whole run; once warm | {} / {}; {} / {} |\n",
            st.upstream_changes,
            per_min(st.upstream_changes_per_obu_min),
            st.upstream_changes_warm
                .map_or("n/a".into(), |c| c.to_string()),
            per_min(st.upstream_changes_per_obu_min_warm)
        );
        s += &self.summary_channel();
        s += &format!(
            "| host saturated (CPUs ≥ 95 % busy), s | {} of {} ({} outside cpu-bursts) |\n",
            st.host_saturated_s,
            st.seconds.iter().filter(|x| x.host_busy.is_some()).count(),
            st.host_saturated_outside_bursts_s
        );
        s += &format!(
            "| lab CPU | {:.1} s, {:.0} % of a core ({} radio updates, {} ms CPU each p50, {} p99) |\n",
            self.lab.cpu_s,
            self.lab.cpu_s * 100.0 / self.wall_end_s.max(1e-3),
            self.lab.ticks,
            ms(self.lab.tick_cpu_ms.p50),
            ms(self.lab.tick_cpu_ms.p99)
        );
        s += &format!(
            "| trace time → kernel, ms p50 / p99 / max | {} / {} / {} |\n",
            ms(self.trace_drift_ms.p50),
            ms(self.trace_drift_ms.p99),
            ms(self.trace_drift_ms.max)
        );
        let rss = Spread::of(self.nodes.iter().map(|n| n.peak_rss_kib as f64).collect());
        let c = &self.daemon_cpu_ms_per_s;
        for (what, sp) in [
            ("RSU", &c.rsu),
            ("busy OBU", &c.obu_busy),
            ("quiet OBU", &c.obu_quiet),
        ] {
            if sp.count > 0 {
                s += &format!(
                    "| {what} daemon CPU, ms per s p50 / max ({}) | {} / {} |\n",
                    sp.count,
                    ms(sp.p50),
                    ms(sp.max)
                );
            }
        }
        s += &format!(
            "| daemon peak RSS MiB p50 / max | {} / {} |\n",
            ms(rss.p50.map(|v| v / 1024.0)),
            ms(rss.max.map(|v| v / 1024.0))
        );
        s
    }

    /// A line per event with its recovery.
    fn summary_events(&self) -> String {
        let events = &self.stability.events;
        if events.is_empty() {
            return String::new();
        }
        let mut s =
            "\n| at s | event | recovered after | level before | note |\n|---:|---|---|---:|---|\n"
                .to_string();
        for e in events {
            let what = match (&e.node, &e.link, e.duration_s) {
                (Some(n), Some(l), _) => format!("{} {n} {l}", e.kind),
                (Some(n), None, _) => format!("{} {n}", e.kind),
                (None, _, Some(d)) => format!("{} {d} s", e.kind),
                _ => e.kind.clone(),
            };
            let rec = match (e.fired_s, e.recovered_s) {
                (None, _) => "—".to_string(),
                (Some(_), Some(r)) => format!("{r:.1} s (from {:.1} s)", e.end_s),
                (Some(_), None) => "not within the run".to_string(),
            };
            s += &format!(
                "| {:.1} | {what} | {rec} | {} | {} |\n",
                e.at_s,
                pct(e.baseline_share),
                e.error.as_deref().unwrap_or("")
            );
        }
        s
    }

    fn summary_flows(&self) -> String {
        if self.flows.is_empty() {
            return String::new();
        }
        let mut s = "\n| flow | kind | sent | received | delivery | p50 ms | p99 ms | note |\n|---|---|---:|---:|---:|---:|---:|---|\n".to_string();
        if self.flows.len() > SUMMARY_FLOWS {
            // Packets: TCP flows count bytes and stay out of the sums.
            let (sent, recv) = self
                .flows
                .iter()
                .filter(|f| f.kind != "tcp")
                .fold((0, 0), |(a, b), f| (a + f.sent, b + f.received));
            let d = Spread::of(self.flows.iter().map(|f| f.delivery).collect());
            let lowest = self.flows.iter().map(|f| f.delivery).fold(1.0, f64::min);
            let p99 = Spread::of(self.flows.iter().filter_map(|f| f.latency_p99_ms).collect());
            s += &format!(
                "| all {} flows | | {sent} packets | {recv} packets | {:.1} % (lowest {:.1} %) | | {} (worst) | |\n",
                self.flows.len(),
                d.p50.unwrap_or(0.0) * 100.0,
                lowest * 100.0,
                ms(p99.max)
            );
        }
        for f in self.flows.iter().take(SUMMARY_FLOWS) {
            let mut note = match (&f.error, f.throughput_mbps) {
                (Some(e), _) => e.clone(),
                (None, Some(t)) => {
                    format!("{t:.1} Mbit/s, {} retransmits", f.retransmits.unwrap_or(0))
                }
                _ => f.latency.clone().unwrap_or_default(),
            };
            if f.kind == "tcp" && !f.failed_why.is_empty() {
                note += &format!(
                    "; {:.1} s without a connection: {}",
                    f.failed_s,
                    reasons(&f.failed_why)
                );
            } else if f.failed_sends > 0 {
                note += &format!(
                    "; {} sends failed: {}",
                    f.failed_sends,
                    reasons(&f.failed_why)
                );
            }
            s += &format!(
                "| {} → {} | {} | {} | {} | {:.1} % | {} | {} | {} |\n",
                f.from,
                f.to,
                f.kind,
                f.sent,
                f.received,
                f.delivery * 100.0,
                ms(f.latency_p50_ms),
                ms(f.latency_p99_ms),
                note
            );
        }
        if self.flows.len() > SUMMARY_FLOWS {
            s += &format!(
                "\n({} more flows in results.json)\n",
                self.flows.len() - SUMMARY_FLOWS
            );
        }
        // Packet flows (TCP counts connection attempts, not sends).
        let packets = || self.flows.iter().filter(|f| f.kind != "tcp");
        let mut why: BTreeMap<String, u64> = BTreeMap::new();
        for f in packets() {
            for (w, n) in &f.failed_why {
                *why.entry(w.clone()).or_default() += n;
            }
        }
        let failed: u64 = packets().map(|f| f.failed_sends).sum();
        let flows_failing = packets().filter(|f| f.failed_sends > 0).count();
        if flows_failing > 0 {
            s += &format!(
                "\nSends that failed (counted as sent and lost): {failed} in {flows_failing} flows: {}\n",
                reasons(&why)
            );
        }
        s
    }
}

/// The role's name as `results.json` writes it.
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Rsu => "rsu",
        Role::Obu => "obu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::path::Path;

    fn plan() -> Plan {
        let text = "name = \"t\"\nduration_s = 60\n[radio]\nrange_m = 300\n[[rsu]]\nname = \"a\"\nx = 0\ny = 0\n[[rsu]]\nname = \"b\"\nx = 1000\ny = 0\n[mobility]\nkind = \"road\"\nlength_m = 1000\nvehicles = 1\n[backbone]\nenabled = true\n[[flow]]\nkind = \"udp\"\nfrom = \"obu0\"\nto = \"server\"\n[[flow]]\nkind = \"udp\"\nfrom = \"obu0\"\nto = \"a\"\n";
        Plan::new(Scenario::parse(text, Path::new(".")).unwrap()).unwrap()
    }

    #[test]
    fn a_vehicle_put_back_at_the_roads_start_jumped() {
        let mut p = plan();
        let obu = p.nodes.iter().position(|n| n.track.is_some()).unwrap();
        let track = p.nodes[obu].track.as_mut().unwrap();
        // 30 m/s along the road, then back from 900 m to 0 at t = 30.
        track.keyframes = vec![
            (0.0, 0.0, 0.0),
            (30.0, 900.0, 0.0),
            (30.001, 0.0, 0.0),
            (60.0, 900.0, 0.0),
        ];
        track.present = vec![(0.0, 60.0)];
        assert!(!jumped(&p, obu, 10.0, 12.0), "driving");
        assert!(jumped(&p, obu, 29.5, 30.5), "put back at the start");
        assert!(!jumped(&p, obu, 31.0, 33.0));
        // Seen late: the old RSU still answered for half a second after
        // the jump (its timeout), then the poll a second later.
        assert!(!jumped(&p, obu, 30.5, 31.5));
        assert!(handover_across_jump(&p, obu, 30.5, 31.5));
        assert!(!handover_across_jump(&p, obu, 33.0, 34.0));
    }

    fn sample(t: f64, node: usize, rsu: Option<usize>) -> Sample {
        Sample {
            t,
            node,
            upstream: rsu.map(|r| (r, 1)),
            next_hop: rsu,
            answered: true,
        }
    }

    #[test]
    fn handovers_are_changes_of_rsu_across_gaps() {
        let s = vec![
            sample(1.0, 2, Some(0)),
            sample(2.0, 2, Some(0)),
            sample(3.0, 2, None),
            sample(4.0, 2, Some(1)),
            sample(5.0, 2, Some(1)),
            sample(1.5, 3, Some(1)),
        ];
        assert_eq!(handovers(&s), vec![(2, 2.0, 4.0)]);
    }

    #[test]
    fn the_gap_is_the_longest_silence_around_the_switch() {
        let p = plan();
        let mut r = FlowResult {
            id: 0,
            arrivals: vec![1.0, 1.1, 1.2, 1.9, 2.0, 5.0],
            ..FlowResult::default()
        };
        let g = handover_gap(&p, std::slice::from_ref(&r), 2, 1.15, 1.95).unwrap();
        assert!((g - 600.0).abs() < 1e-6, "{g}");
        // Another node's handover.
        assert_eq!(
            handover_gap(&p, std::slice::from_ref(&r), 0, 1.15, 1.95),
            None
        );
        // A flow to one RSU stops by design when the vehicle is elsewhere.
        let to_rsu = FlowResult { id: 1, ..r.clone() };
        assert_eq!(handover_gap(&p, &[to_rsu], 2, 1.15, 1.95), None);
        r.arrivals.clear();
        assert_eq!(handover_gap(&p, &[r], 2, 1.0, 2.0), None);
    }

    fn results(stability: Stability, flows: Vec<FlowResult>) -> Results {
        Results {
            scenario: "t".into(),
            security: "off".into(),
            duration_s: 60.0,
            started_unix_s: 0.0,
            rsus: 1,
            obus: 2,
            startup_s: 1.0,
            attached_share: Some(1.0),
            attached_share_warm: Some(1.0),
            warmup_s: 10.0,
            handovers: 0,
            handover_gaps_ms: Spread::default(),
            handover_jumps: 0,
            handovers_with_loss: Vec::new(),
            daemon_cpu_ms_per_s: DaemonCpu::default(),
            flows,
            channel_busy: Vec::new(),
            nodes: Vec::new(),
            lab: LabCost::default(),
            trace_drift_ms: Spread::default(),
            trace_end_s: 60.0,
            wall_end_s: 60.0,
            stability,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_summary_says_events_failed_sends_and_a_saturated_host() {
        use crate::stability::{EventResult, SecondResult};
        let second = |t| SecondResult {
            t,
            attached_share: Some(1.0),
            host_busy: Some(0.99),
            radio_updates: 10,
            radio_late_ms_max: None,
        };
        let event = |kind: &str, node: Option<&str>, rec: Option<f64>| EventResult {
            at_s: 40.0,
            kind: kind.into(),
            node: node.map(str::to_string),
            link: None,
            duration_s: node.is_none().then_some(5.0),
            fired_s: Some(40.0),
            end_s: 45.0,
            baseline_share: Some(0.99),
            recovered_s: rec,
            error: None,
        };
        let st = Stability {
            events: vec![
                event("cpu-burst", None, Some(2.5)),
                event("kill", Some("rsu5"), None),
            ],
            upstream_changes: 30,
            upstream_changes_per_obu_min: Some(15.0),
            upstream_changes_warm: Some(10),
            upstream_changes_per_obu_min_warm: Some(6.0),
            host_saturated_s: 12,
            host_saturated_outside_bursts_s: 7,
            host_saturated: true,
            seconds: (0..60).map(second).collect(),
        };
        let mut udp = FlowResult {
            kind: "udp".into(),
            from: "server".into(),
            to: "obu1".into(),
            sent: 100,
            received: 60,
            failed_sends: 30,
            ..FlowResult::default()
        };
        udp.failed_why.insert("network is unreachable".into(), 30);
        let mut tcp = FlowResult {
            kind: "tcp".into(),
            failed_s: 3.0,
            ..FlowResult::default()
        };
        tcp.failed_why.insert("unable to connect".into(), 2);
        let mut r = results(st, vec![udp, tcp]);
        let names = ["rsu1", "rsu2", "rsu3"].map(String::from);
        r.channel_busy = crate::channel_watch::cells(
            &names,
            &[vec![0.3, 0.2, 0.4], vec![0.5, 0.7, 0.6], vec![]],
        );
        let s = r.summary();
        assert!(
            s.contains("| channel busy ratio per cell p50 / p99 (daemons' estimate; busiest 2 of 3) | rsu2 0.60 / 0.70; rsu1 0.30 / 0.40 |"),
            "{s}"
        );
        let first = s.lines().nth(2).unwrap();
        assert!(
            first.contains("host saturated 12 s of 60 (7 outside the scenario's cpu-bursts)")
                && first.contains("not the network's alone"),
            "{s}"
        );
        assert!(
            s.contains("| 40.0 | cpu-burst 5 s | 2.5 s (from 45.0 s) | 99.0 % |"),
            "{s}"
        );
        assert!(
            s.contains("| 40.0 | kill rsu5 | not within the run |"),
            "{s}"
        );
        assert!(
            s.contains("| upstream changes (all OBUs) / per OBU-minute, whole run; once warm | 30 / 15.00; 10 / 6.00 |"),
            "{s}"
        );
        assert!(
            s.contains("30 sends failed: network is unreachable 30"),
            "{s}"
        );
        assert!(
            s.contains("3.0 s without a connection: unable to connect 2"),
            "{s}"
        );
        assert!(
            s.contains("Sends that failed (counted as sent and lost): 30 in 1 flows"),
            "{s}"
        );
        // A host that kept up: no warning.
        let calm = results(Stability::default(), Vec::new()).summary();
        assert!(!calm.contains("Warning"), "{calm}");
        assert!(!calm.contains("| at s |"), "{calm}");
    }

    #[test]
    fn attached_share_counts_only_time_in_range() {
        let p = plan();
        let obu = p.obus().next().unwrap();
        // Find a time in range and one out of range of both RSUs.
        let inside = (0..600)
            .map(|k| k as f64 / 10.0)
            .find(|&t| p.in_rsu_range(obu, t))
            .unwrap();
        let outside = (0..600)
            .map(|k| k as f64 / 10.0)
            .find(|&t| !p.in_rsu_range(obu, t))
            .unwrap();
        let s = vec![
            sample(inside, obu, Some(0)),
            sample(inside, obu, None),
            sample(outside, obu, None),
        ];
        assert_eq!(attached_share(&p, &s, 0.0), Some(0.5));
        assert_eq!(attached_share(&p, &s, 1e9), None);
    }
}
