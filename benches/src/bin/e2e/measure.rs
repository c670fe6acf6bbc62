//! The measurements: iperf3 TCP and UDP, ping idle and under load, the
//! wake-up cost, the link ceiling and the CPU each run costs, each giving
//! its figures as a typed result (`results`).

use crate::net::{build, build_with, Net, Path, Setup};
use crate::results::{
    Ceilings, LinkCeilingRun, Load, NodeCpu, PathRun, PingIdle, PingTurns, Tcp, Udp1400, Udp64,
    Udp64Paired, WakeCost, LINK_CEILING, PING_IDLE_TURNS, UDP64_PAIRED,
};
use benches::wakeup::{self, Answer};
use benches::Error;
use serde::Deserialize;
use std::time::Duration;
use testbed::{ns_output, Testbed};

/// The parts of iperf3's JSON report (`-J`) the measurements read.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub struct Iperf3Report {
    pub end: Iperf3End,
}

/// The totals at the end of an iperf3 run.
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub struct Iperf3End {
    /// TCP: what the receiver got.
    pub sum_received: Iperf3Sum,
    /// TCP: what the sender sent (with its retransmits).
    pub sum_sent: Iperf3Sum,
    /// UDP: the totals of the run.
    pub sum: Iperf3Sum,
}

/// One of iperf3's sums (numbers as f64: iperf3 writes some integers
/// with a fraction).
#[derive(Deserialize, Debug, Default)]
#[serde(default)]
pub struct Iperf3Sum {
    pub bits_per_second: Option<f64>,
    pub retransmits: Option<f64>,
    pub bytes: Option<f64>,
    pub packets: Option<f64>,
    pub lost_packets: Option<f64>,
    pub seconds: Option<f64>,
}

/// The whole machine's busy CPU over an iperf3 client's run.
#[derive(Debug, Default)]
pub struct Machine {
    pub busy_cpu_s: f64,
    pub busy_share: f64,
}

/// One iperf3 run: both ends' reports and the machine's busy CPU.
#[derive(Debug, Default)]
pub struct IperfRun {
    pub client: Iperf3Report,
    pub server: Iperf3Report,
    pub machine: Machine,
}

impl IperfRun {
    /// TCP: the rate the receiver got, bits/s (0 without a report).
    pub fn received_bps(&self) -> f64 {
        self.client.end.sum_received.bits_per_second.unwrap_or(0.0)
    }
}

/// iperf3 from the client to the server for `secs` (TCP unless `args`
/// say otherwise): both JSON reports, and the whole machine's busy CPU
/// over the client's run.
pub fn iperf(net: &mut Net, args: &[&str], secs: u64) -> IperfRun {
    let server = net.tb.spawn_in(
        net.server,
        &["iperf3", "-s", "-1", "-J", "-B", &net.dst.clone()],
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = secs.to_string();
    let mut a = vec!["iperf3", "-c", &net.dst, "-t", &t, "-J"];
    a.extend_from_slice(args);
    let stat0 = machine_ticks();
    let out = ns_output(&net.tb.nodes[net.client].ns, &a);
    let stat1 = machine_ticks();
    let srv = net
        .tb
        .wait_spawned(server, Duration::from_secs(secs + 10))
        .unwrap_or_default();
    let busy = stat1.0.saturating_sub(stat0.0) as f64;
    let all = stat1.1.saturating_sub(stat0.1) as f64;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    IperfRun {
        client: serde_json::from_str(&out.stdout).unwrap_or_default(),
        server: serde_json::from_str(&srv).unwrap_or_default(),
        machine: Machine {
            busy_cpu_s: busy / hz,
            busy_share: busy / all.max(1.0),
        },
    }
}

/// The whole machine's CPU ticks from `/proc/stat`: (busy, all). Busy is
/// user, nice, system, irq and softirq; all adds idle, iowait and steal.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return (0, 0);
    }
    let busy = v[0] + v[1] + v[2] + v[5] + v[6];
    (busy, busy + v[3] + v[4] + v[7])
}

/// The figures of one iperf3 TCP run `t`: rate, retransmits, bytes
/// received, and what a segment cost the whole machine.
pub fn tcp_of(t: &IperfRun) -> Tcp {
    let machine = machine_per_segment(t);
    Tcp {
        tcp_mbps: t.received_bps() / 1e6,
        tcp_retransmits: t.client.end.sum_sent.retransmits.map(|n| n as u64),
        tcp_bytes: t.server.end.sum_received.bytes.map(|n| n as u64),
        tcp_machine_us_per_segment: machine.map(|m| m.0),
        tcp_machine_busy_share: machine.map(|m| m.1),
    }
}

/// Whole-machine CPU per 1430 bytes of TCP payload (one full segment of
/// the daemons' path) in the TCP run `t`, and the machine's busy share.
fn machine_per_segment(t: &IperfRun) -> Option<(f64, f64)> {
    let bytes = t.server.end.sum_received.bytes?;
    let busy = t.machine.busy_cpu_s;
    (bytes > 0.0).then(|| (busy * 1e6 / (bytes / 1430.0), t.machine.busy_share))
}

/// One UDP run at full offered load.
pub struct Udp {
    /// Packets per second the receiving iperf3 got.
    pub delivered_pps: f64,
    /// Share of the sent packets it did not get.
    pub loss: f64,
    /// Packets per second iperf3's client sent.
    pub sent_pps: f64,
    /// Packets per second that reached the receiving host's UDP layer: what
    /// the network delivered, whether or not the receiving program then had
    /// the CPU to read them (the rest overflow its socket buffer).
    pub arrived_pps: f64,
}

/// The receiving namespace's UDP counters (InDatagrams, RcvbufErrors) from
/// /proc/net/snmp.
pub fn udp_counters(ns: &str) -> (u64, u64) {
    match snmp_counters(ns, "Udp:", &["InDatagrams", "RcvbufErrors"])[..] {
        [received, overflowed] => (received, overflowed),
        _ => (0, 0),
    }
}

/// Counters of one protocol's rows (`proto` such as "Ip:" or "Udp:") in
/// `ns`'s /proc/net/snmp, in the order of `keys` (0 for one not there).
pub fn snmp_counters(ns: &str, proto: &str, keys: &[&str]) -> Vec<u64> {
    let out = ns_output(ns, &["cat", "/proc/net/snmp"]).stdout;
    let mut rows = out.lines().filter(|l| l.starts_with(proto));
    let (names, values) = (rows.next().unwrap_or(""), rows.next().unwrap_or(""));
    keys.iter()
        .map(|k| {
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// UDP with `len`-byte payloads at unlimited offered rate.
pub fn udp_run(net: &mut Net, len: usize, secs: u64) -> Udp {
    let l = len.to_string();
    let ns = net.tb.nodes[net.server].ns.clone();
    let (in0, full0) = udp_counters(&ns);
    let u = iperf(net, &["-u", "-b", "0", "-l", &l], secs);
    let (in1, full1) = udp_counters(&ns);
    let s = &u.server.end.sum;
    let pk = s.packets.unwrap_or(0.0);
    let lost = s.lost_packets.unwrap_or(0.0);
    let dur = s.seconds.unwrap_or(secs as f64).max(0.001);
    Udp {
        delivered_pps: (pk - lost) / dur,
        loss: if pk > 0.0 { lost / pk } else { 1.0 },
        sent_pps: pk / dur,
        arrived_pps: (in1.saturating_sub(in0) + full1.saturating_sub(full0)) as f64 / dur,
    }
}

impl From<&Udp> for Udp64 {
    fn from(u: &Udp) -> Udp64 {
        Udp64 {
            udp64_pps: u.delivered_pps,
            udp64_loss: u.loss,
            udp64_arrived_pps: u.arrived_pps,
            udp64_sent_pps: u.sent_pps,
        }
    }
}

impl From<&Udp> for Udp1400 {
    fn from(u: &Udp) -> Udp1400 {
        Udp1400 {
            udp1400_pps: u.delivered_pps,
            udp1400_loss: u.loss,
            udp1400_arrived_pps: u.arrived_pps,
            udp1400_sent_pps: u.sent_pps,
        }
    }
}

/// UDP 64 B at full load through the batched and the unbatched daemons,
/// both networks up at once and measured in turns (`rounds` each), so slow
/// phases of a shared machine hit both alike: median packets/s of each.
pub fn run_udp64_paired(setup: &Setup, hops: usize, secs: u64, rounds: usize) -> Udp64Paired {
    eprintln!("== UDP 64 B batched/unbatched in turns, {hops} hop(s)");
    let mut b = build(setup, Path::Batched, hops);
    let mut u = build(setup, Path::Unbatched, hops);
    let (mut vb, mut vu) = (Vec::new(), Vec::new());
    let (mut ab, mut au) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (x, y) = (udp_run(&mut b, 64, secs), udp_run(&mut u, 64, secs));
        vb.push(x.delivered_pps);
        vu.push(y.delivered_pps);
        ab.push(x.arrived_pps);
        au.push(y.arrived_pps);
    }
    Udp64Paired {
        path: UDP64_PAIRED.into(),
        hops,
        batched_median_pps: median(&vb),
        unbatched_median_pps: median(&vu),
        batched_arrived_median_pps: median(&ab),
        unbatched_arrived_median_pps: median(&au),
        batched_pps: vb,
        unbatched_pps: vu,
        batched_arrived_pps: ab,
        unbatched_arrived_pps: au,
    }
}

/// Idle ping through the kernel, batched and unbatched networks, all up at
/// once and pinged in turns (`rounds` × `count` pings 10 ms apart, the
/// order rotating each round), so slow phases of a shared machine hit all
/// three alike: pooled median and p99 of each, and each round's medians.
/// `batched` is the batched path (a variant of it in probes), reported
/// under the name "batched"; `extra` is TOML for its daemons only.
pub fn run_ping_idle_turns(
    setup: &Setup,
    hops: usize,
    rounds: usize,
    count: u32,
    batched: Path,
    extra: &str,
) -> PingTurns {
    eprintln!("== idle ping kernel/batched/unbatched in turns, {hops} hop(s)");
    let paths = [Path::Kernel, Path::Batched, Path::Unbatched];
    let nets: Vec<Net> = paths
        .iter()
        .map(|&p| match p {
            Path::Batched => build_with(setup, batched, hops, extra),
            _ => build(setup, p, hops),
        })
        .collect();
    let refs: Vec<&Net> = nets.iter().collect();
    let (mut pooled, mut per_round) = ping_in_turns(&refs, rounds, count);
    for v in &mut pooled {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    // In the order of `paths`: kernel, batched, unbatched.
    let mut rounds_of = |i: usize| std::mem::take(&mut per_round[i]);
    PingTurns {
        path: PING_IDLE_TURNS.into(),
        hops,
        rounds,
        count,
        kernel_median_ms: pct(&pooled[0], 0.5),
        kernel_p99_ms: pct(&pooled[0], 0.99),
        kernel_round_medians_ms: rounds_of(0),
        batched_median_ms: pct(&pooled[1], 0.5),
        batched_p99_ms: pct(&pooled[1], 0.99),
        batched_round_medians_ms: rounds_of(1),
        unbatched_median_ms: pct(&pooled[2], 0.5),
        unbatched_p99_ms: pct(&pooled[2], 0.99),
        unbatched_round_medians_ms: rounds_of(2),
    }
}

/// Pings each of `nets` in turns, `rounds` × `count` pings 10 ms apart,
/// the order rotating each round: every RTT of each (unsorted) and each
/// round's median.
pub fn ping_in_turns(
    nets: &[&Net],
    rounds: usize,
    count: u32,
) -> (Vec<Vec<f64>>, Vec<Vec<Option<f64>>>) {
    let mut pooled = vec![Vec::new(); nets.len()];
    let mut per_round = vec![Vec::new(); nets.len()];
    let c = count.to_string();
    for round in 0..rounds {
        for k in 0..nets.len() {
            let i = (round + k) % nets.len();
            let net = nets[i];
            let out = ns_output(
                &net.tb.nodes[net.client].ns,
                &["ping", "-n", "-i", "0.01", "-c", &c, &net.dst],
            );
            let v = rtts(&out.stdout);
            per_round[i].push(pct(&v, 0.5));
            pooled[i].extend(v);
        }
    }
    (pooled, per_round)
}

/// Sum of user+system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after "(comm) ".
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz
}

/// Packets a daemon forwarded: each enters once, as a message from the link
/// or a packet read from its TUN (a TSO super-packet counts once per
/// segment it was cut into).
pub fn moved(tb: &Testbed, i: usize) -> u64 {
    let super_packets = tb.stat(i, "offload", "tso_packets");
    let segments = tb.stat(i, "offload", "tso_segments");
    tb.stat(i, "link", "rx_messages") + tb.stat(i, "tun", "rx_packets") - super_packets + segments
}

pub fn rtts(out: &str) -> Vec<f64> {
    let mut v: Vec<f64> = out
        .lines()
        .filter_map(|l| {
            l.split("time=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// The median of `v` (any order; the upper one of an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    pct(&v, 0.5)
}

pub fn pct(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    Some(v[i])
}

/// TCP bulk only (for the offload on/off comparison).
pub fn run_tcp_only(setup: &Setup, path: Path, hops: usize, secs: u64) -> PathRun {
    eprintln!("== {} {hops} hop(s), TCP only", path.name());
    let mut net = build(setup, path, hops);
    let t = iperf(&mut net, &[], secs);
    PathRun {
        tcp: Some(tcp_of(&t)),
        ..PathRun::new(path.name(), hops)
    }
}

/// The emulated radio's ceiling for full-MTU frames from one sending
/// thread (`benches::link_ceiling`), on the 1-hop kernel path's namespaces
/// (no daemons running): batched and one frame per syscall, each the best
/// of `rounds` alternating runs.
pub fn run_link_ceiling(setup: &Setup, secs: u64, rounds: usize) -> LinkCeilingRun {
    eprintln!("== link ceiling, 1 hop");
    let net = build(setup, Path::Kernel, 1);
    LinkCeilingRun {
        path: LINK_CEILING.into(),
        hops: 1,
        ceiling: link_ceilings(&net, secs, rounds),
    }
}

/// Both ceilings on `net` (which must run no daemons), each the best of
/// `rounds`.
pub fn link_ceilings(net: &Net, secs: u64, rounds: usize) -> Ceilings {
    let mut r = Ceilings::default();
    for _ in 0..rounds {
        for batched in [true, false] {
            let key = if batched { "batched" } else { "unbatched" };
            let (received, sent, mbps) = if batched {
                (
                    &mut r.batched_received_fps,
                    &mut r.batched_sent_fps,
                    &mut r.batched_tcp_mbps,
                )
            } else {
                (
                    &mut r.unbatched_received_fps,
                    &mut r.unbatched_sent_fps,
                    &mut r.unbatched_tcp_mbps,
                )
            };
            match link_ceiling(net, batched, secs) {
                Ok(c) => {
                    if received.is_none_or(|best| c.received_per_s > best) {
                        *received = Some(c.received_per_s);
                        *sent = Some(c.sent_per_s);
                        *mbps = Some(c.tcp_mbps());
                        r.tcp_payload_per_frame = Some(c.tcp_payload);
                    }
                }
                Err(e) => eprintln!("link ceiling ({key}): {e}"),
            }
        }
    }
    r
}

pub fn link_ceiling(
    net: &Net,
    batched: bool,
    secs: u64,
) -> Result<benches::link_ceiling::Ceiling, Error> {
    benches::link_ceiling::measure(
        &net.tb.nodes[net.client].ns,
        &net.tb.nodes[net.server].ns,
        "radio0",
        batched,
        Duration::from_secs(secs),
    )
}

/// UDP 64 B (and, unless `only_udp64`, UDP 1400 B, TCP bulk with the
/// daemons' CPU, idle ping, the wake-up cost and ping under load) on one
/// network of `path`.
pub fn run_path(setup: &Setup, path: Path, hops: usize, secs: u64, only_udp64: bool) -> PathRun {
    eprintln!("== {} {hops} hop(s)", path.name());
    let mut net = build(setup, path, hops);
    let pids: Vec<u32> = (0..net.tb.nodes.len())
        .filter_map(|i| net.tb.pid(i))
        .collect();
    let mut r = PathRun::new(path.name(), hops);
    let cpu0: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    let moved0: Vec<u64> = if net.daemons {
        (0..net.tb.nodes.len()).map(|i| moved(&net.tb, i)).collect()
    } else {
        vec![]
    };
    let tx0 = if net.daemons {
        (
            net.tb.stat(net.client, "link", "tx_frames"),
            net.tb.stat(net.client, "link", "tx_messages"),
        )
    } else {
        (0, 0)
    };
    // UDP 64-byte payloads at full offered load.
    r.udp64 = Some(Udp64::from(&udp_run(&mut net, 64, secs)));
    if net.daemons {
        let f = net.tb.stat(net.client, "link", "tx_frames") - tx0.0;
        let m = net.tb.stat(net.client, "link", "tx_messages") - tx0.1;
        r.udp64_frames_per_packet = Some(f as f64 / m.max(1) as f64);
    }
    if only_udp64 {
        return r;
    }
    // UDP 1400-byte payloads.
    r.udp1400 = Some(Udp1400::from(&udp_run(&mut net, 1400, secs)));
    // TCP bulk, with the sending daemon's CPU time over it.
    let sender = net.tb.pid(net.client);
    let sender0 = sender.map(cpu_seconds);
    let t = iperf(&mut net, &[], secs);
    if let (Some(p), Some(c0)) = (sender, sender0) {
        r.tcp_sender_cpu_s = Some(cpu_seconds(p) - c0);
    }
    r.tcp = Some(tcp_of(&t));
    let tcp_bps = t.received_bps();
    if net.daemons {
        r.cpu = Some(cpu_per_packet(&net, &pids, &cpu0, &moved0));
    }
    // Ping: idle, then under 50% of the TCP rate.
    r.ping_idle = ping_idle(&net);
    if !net.daemons {
        r.wake = wakeup_cost(&net);
    }
    r.load = ping_under_load(&mut net, secs, Some(tcp_bps));
    r
}

/// Each daemon's CPU seconds since `cpu0` (of `pids`) and packets moved
/// since `moved0`, and the CPU per packet.
fn cpu_per_packet(net: &Net, pids: &[u32], cpu0: &[f64], moved0: &[u64]) -> Vec<NodeCpu> {
    let cpu: Vec<f64> = pids
        .iter()
        .zip(cpu0)
        .map(|(p, c)| cpu_seconds(*p) - c)
        .collect();
    (0..net.tb.nodes.len())
        .map(|i| {
            let m = moved(&net.tb, i) - moved0[i];
            NodeCpu {
                node: net.tb.nodes[i].name.clone(),
                cpu_s: cpu[i],
                packets: m,
                us_per_packet: if m > 0 { cpu[i] * 1e6 / m as f64 } else { 0.0 },
            }
        })
        .collect()
}

/// 300 pings 10 ms apart on an otherwise idle path: median and p99.
pub fn ping_idle(net: &Net) -> PingIdle {
    let idle = ns_output(
        &net.tb.nodes[net.client].ns,
        &["ping", "-n", "-i", "0.01", "-c", "300", &net.dst],
    );
    let v = rtts(&idle.stdout);
    PingIdle {
        ping_idle_median_ms: pct(&v, 0.5),
        ping_idle_p99_ms: pct(&v, 0.99),
    }
}
/// Ping every 10 ms while iperf3 TCP runs at half of `tcp_bps` (measured
/// first when not given): median and p99 RTT in ms.
/// At the same time, a UDP echo over loopback in the client's namespace
/// (two ordinary-thread wake-ups per round trip, no daemon involved) gives
/// the scheduler's own tail under this load, and a second one with both
/// threads under `SCHED_FIFO` the same for realtime threads.
pub fn ping_under_load(net: &mut Net, secs: u64, tcp_bps: Option<f64>) -> Load {
    let tcp_bps = tcp_bps.unwrap_or_else(|| iperf(net, &[], secs).received_bps());
    let dst = net.dst.clone();
    let rate = format!("{}", (tcp_bps * 0.5) as u64);
    let server = net
        .tb
        .spawn_in(net.server, &["iperf3", "-s", "-1", "-B", &dst]);
    std::thread::sleep(Duration::from_millis(300));
    let load = net.tb.spawn_in(
        net.client,
        &[
            "iperf3",
            "-c",
            &dst,
            "-t",
            &(secs + 2).to_string(),
            "-b",
            &rate,
        ],
    );
    std::thread::sleep(Duration::from_millis(700));
    // The scheduler's tail for ordinary and for realtime threads, side by
    // side on two ports.
    let echo = |port: u16, realtime: bool| {
        let cns = net.tb.nodes[net.client].ns.clone();
        let count = secs as usize * 80;
        std::thread::spawn(move || {
            let addr = format!("127.0.0.1:{port}");
            let _server = wakeup::EchoServer::start_with(&cns, &addr, realtime)?;
            wakeup::round_trips_with(
                &cns,
                &addr,
                Answer::Echo,
                count,
                Duration::from_millis(10),
                realtime,
            )
        })
    };
    let local = echo(47996, false);
    let local_rt = echo(47995, true);
    let loaded = ns_output(
        &net.tb.nodes[net.client].ns,
        &[
            "ping",
            "-n",
            "-i",
            "0.01",
            "-c",
            &(secs * 80).to_string(),
            &dst,
        ],
    );
    net.tb.wait_spawned(load, Duration::from_secs(secs + 10));
    net.tb.wait_spawned(server, Duration::from_secs(5));
    let v = rtts(&loaded.stdout);
    let mut r = Load {
        ping_load50_median_ms: pct(&v, 0.5),
        ping_load50_p99_ms: pct(&v, 0.99),
        ..Load::default()
    };
    let slots = [
        (
            "wake_load50",
            local,
            &mut r.wake_load50_median_us,
            &mut r.wake_load50_p99_us,
        ),
        (
            "wake_rt_load50",
            local_rt,
            &mut r.wake_rt_load50_median_us,
            &mut r.wake_rt_load50_p99_us,
        ),
    ];
    for (key, thread, median, p99) in slots {
        match thread.join().unwrap_or(Err(Error::Panicked("echo thread"))) {
            Ok(mut w) => {
                w.sort_by(|a, b| a.total_cmp(b));
                *median = pct(&w, 0.5);
                *p99 = pct(&w, 0.99);
            }
            Err(e) => eprintln!("loopback echo under load ({key}): {e}"),
        }
    }
    r
}

/// Median UDP round trip from the client to the server namespace, timed by
/// the same client, answered by the server's kernel (closed port) and by an
/// echo thread there: the difference is one process wake-up (`wakeup`).
pub fn wakeup_cost(net: &Net) -> WakeCost {
    let (sns, cns) = (&net.tb.nodes[net.server].ns, &net.tb.nodes[net.client].ns);
    wakeup::allow_icmp_errors(sns);
    let gap = Duration::from_millis(5);
    let kernel = wakeup::round_trips(cns, &format!("{}:47997", net.dst), Answer::Kernel, 300, gap);
    let echo = wakeup::EchoServer::start(sns, &format!("{}:47999", net.dst)).and_then(|_server| {
        wakeup::round_trips(cns, &format!("{}:47999", net.dst), Answer::Echo, 300, gap)
    });
    let median_of = |key: &str, v: Result<Vec<f64>, Error>| match v {
        Ok(mut v) => {
            v.sort_by(|a, b| a.total_cmp(b));
            pct(&v, 0.5)
        }
        Err(e) => {
            eprintln!("{key}: {e}");
            None
        }
    };
    WakeCost {
        udp_kernel_median_us: median_of("udp_kernel_median_us", kernel),
        udp_echo_median_us: median_of("udp_echo_median_us", echo),
    }
}
