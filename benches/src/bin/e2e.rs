//! End-to-end benchmark driver: real traffic (iperf3, ping) through the
//! daemons in namespace topologies, in one run against the kernel's own
//! path over the same bridge (the ceiling) and against the daemons with
//! batching disabled. Prints a markdown table and writes JSON.
//!
//!     scripts/bench-e2e.sh [--duration SECS] [--out FILE.json]
//!         [--pin] [--dataplane 'TOML LINES']
//!
//! By default the kernel places the daemons' data planes, and it tends to
//! put the sender's and the receiver's on one CPU, where they take turns;
//! `--pin` binds node i's data plane to CPU i modulo the count, as if each
//! node were its own box (see docs/BENCHMARKS.md).

use benches::wakeup::{self, Answer};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;
use testbed::{ns_exec, ns_output, NodeOptions, Testbed, Topology};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    Kernel,
    /// The kernel path with every frame on the radio at most the link MTU
    /// (no GSO/TSO super-frames), as the daemons must send them.
    KernelMtu,
    Batched,
    BatchedNoAggregation,
    BatchedNoOffload,
    Unbatched,
    /// Batched, with `[security] mode = "encrypted"`.
    Encrypted,
    /// Batched, with `[dataplane] realtime_priority = 1` (realtime while
    /// the CPUs are contended).
    Realtime,
}

impl Path {
    fn name(&self) -> &'static str {
        match self {
            Path::Kernel => "kernel",
            Path::KernelMtu => "kernel_mtu",
            Path::Batched => "batched",
            Path::BatchedNoAggregation => "batched_no_aggregation",
            Path::BatchedNoOffload => "batched_no_offload",
            Path::Unbatched => "unbatched",
            Path::Encrypted => "encrypted",
            Path::Realtime => "realtime",
        }
    }
}

struct Net {
    tb: Testbed,
    /// Client node index, server node index, server address.
    client: usize,
    server: usize,
    dst: String,
    daemons: bool,
}

/// How every daemon's data plane is set up in this run.
struct DataplaneOpts {
    /// TOML lines inside `[dataplane]`.
    lines: String,
    /// One CPU per node's data plane.
    pin: bool,
}

static DATAPLANE: OnceLock<DataplaneOpts> = OnceLock::new();

fn dataplane_opts() -> &'static DataplaneOpts {
    DATAPLANE.get_or_init(|| DataplaneOpts {
        lines: String::new(),
        pin: false,
    })
}

fn build(path: Path, hops: usize) -> Net {
    build_with(path, hops, "")
}

/// `extra`: TOML appended to every daemon's config.
fn build_with(path: Path, hops: usize, extra: &str) -> Net {
    let mut tb = Testbed::new(&Topology::chain(hops));
    let (client, server) = (hops, 0);
    if matches!(path, Path::Kernel | Path::KernelMtu) {
        // Plain IP on the same radios and bridge; middle nodes route.
        for i in 0..=hops {
            let ns = tb.nodes[i].ns.clone();
            ns_exec(
                &ns,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("10.99.0.{}/24", i + 1),
                    "dev",
                    "radio0",
                ],
            );
            ns_exec(&ns, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            if path == Path::KernelMtu {
                // One segment per skb: TCP cuts to the MTU itself.
                ns_exec(
                    &ns,
                    &[
                        "ethtool", "-K", "radio0", "tso", "off", "gso", "off", "gro", "off",
                    ],
                );
            }
            ns_exec(
                &ns,
                &["sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0"],
            );
            ns_exec(
                &ns,
                &["sysctl", "-qw", "net.ipv4.conf.radio0.send_redirects=0"],
            );
            ns_exec(
                &ns,
                &["sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0"],
            );
        }
        // Host routes along the chain: toward the RSU via i-1, away via i+1.
        for i in 0..=hops {
            let ns = tb.nodes[i].ns.clone();
            for j in 0..=hops {
                // Next hop toward j: one step along the chain (direct
                // neighbours are on-link).
                let via = if j + 1 < i {
                    i
                } else if j > i + 1 {
                    i + 2
                } else {
                    continue;
                };
                let dst = format!("10.99.0.{}/32", j + 1);
                let gw = format!("10.99.0.{via}");
                ns_exec(&ns, &["ip", "route", "add", &dst, "via", &gw]);
            }
        }
        return Net {
            tb,
            client,
            server,
            dst: "10.99.0.1".into(),
            daemons: false,
        };
    }
    let dp = dataplane_opts();
    let opts = NodeOptions {
        batching: path != Path::Unbatched,
        aggregate: path != Path::BatchedNoAggregation,
        offload: path != Path::BatchedNoOffload,
        log_level: "warn".into(),
        security: (path == Path::Encrypted).then(|| "encrypted".to_string()),
        dataplane: if path == Path::Realtime {
            format!("realtime_priority = 1\n{}", dp.lines)
        } else {
            dp.lines.clone()
        },
        pin_cpus: dp.pin,
        extra: extra.to_string(),
        ..NodeOptions::default()
    };
    tb.start_all(&opts);
    if path == Path::Encrypted {
        // Ready means attached; wait for the sessions too.
        let c = (0..100).position(|_| {
            std::thread::sleep(Duration::from_millis(100));
            (1..=hops).all(|i| tb.stat(i, "routing", "handshakes") >= 1)
        });
        assert!(c.is_some(), "sessions did not come up");
    }
    tb.wait_ready(Duration::from_secs(20));
    let dst = tb.nodes[server].addr4.clone();
    Net {
        tb,
        client,
        server,
        dst,
        daemons: true,
    }
}

fn iperf(net: &mut Net, args: &[&str], secs: u64) -> Value {
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
    let client: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let server: Value = serde_json::from_str(&srv).unwrap_or(Value::Null);
    let busy = stat1.0.saturating_sub(stat0.0) as f64;
    let all = stat1.1.saturating_sub(stat0.1) as f64;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    json!({ "client": client, "server": server,
            "machine": { "busy_cpu_s": busy / hz, "busy_share": busy / all.max(1.0) } })
}

/// The whole machine's CPU ticks from `/proc/stat`: (busy, all). Busy is
/// user, nice, system, irq and softirq; all adds idle, iowait and steal.
fn machine_ticks() -> (u64, u64) {
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

/// Whole-machine CPU per 1430 bytes of TCP payload (one full segment of
/// the daemons' path) in the TCP run `t`, and the machine's busy share.
fn machine_per_segment(t: &Value) -> Option<(f64, f64)> {
    let bytes = f(&t["server"]["end"]["sum_received"]["bytes"])?;
    let busy = f(&t["machine"]["busy_cpu_s"])?;
    (bytes > 0.0).then(|| {
        (
            busy * 1e6 / (bytes / 1430.0),
            f(&t["machine"]["busy_share"]).unwrap_or(0.0),
        )
    })
}

/// One UDP run at full offered load.
struct Udp {
    /// Packets per second the receiving iperf3 got.
    delivered_pps: f64,
    /// Share of the sent packets it did not get.
    loss: f64,
    /// Packets per second iperf3's client sent.
    sent_pps: f64,
    /// Packets per second that reached the receiving host's UDP layer: what
    /// the network delivered, whether or not the receiving program then had
    /// the CPU to read them (the rest overflow its socket buffer).
    arrived_pps: f64,
}

/// The receiving namespace's UDP counters (InDatagrams, RcvbufErrors) from
/// /proc/net/snmp.
fn udp_counters(ns: &str) -> (u64, u64) {
    let out = ns_output(ns, &["cat", "/proc/net/snmp"]).stdout;
    let mut rows = out.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
        return (0, 0);
    };
    let get = |k: &str| {
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    (get("InDatagrams"), get("RcvbufErrors"))
}

/// UDP with `len`-byte payloads at unlimited offered rate.
fn udp_run(net: &mut Net, len: usize, secs: u64) -> Udp {
    let l = len.to_string();
    let ns = net.tb.nodes[net.server].ns.clone();
    let (in0, full0) = udp_counters(&ns);
    let u = iperf(net, &["-u", "-b", "0", "-l", &l], secs);
    let (in1, full1) = udp_counters(&ns);
    let s = &u["server"]["end"]["sum"];
    let pk = s["packets"].as_f64().unwrap_or(0.0);
    let lost = s["lost_packets"].as_f64().unwrap_or(0.0);
    let dur = s["seconds"].as_f64().unwrap_or(secs as f64).max(0.001);
    Udp {
        delivered_pps: (pk - lost) / dur,
        loss: if pk > 0.0 { lost / pk } else { 1.0 },
        sent_pps: pk / dur,
        arrived_pps: (in1.saturating_sub(in0) + full1.saturating_sub(full0)) as f64 / dur,
    }
}

/// Puts a UDP run into `r` under `{prefix}_pps` (read by iperf3), `_loss`,
/// `_arrived_pps` and `_sent_pps`.
fn put_udp(r: &mut Value, prefix: &str, u: &Udp) {
    r[format!("{prefix}_pps")] = json!(u.delivered_pps);
    r[format!("{prefix}_loss")] = json!(u.loss);
    r[format!("{prefix}_arrived_pps")] = json!(u.arrived_pps);
    r[format!("{prefix}_sent_pps")] = json!(u.sent_pps);
}

/// UDP 64 B at full load through the batched and the unbatched daemons,
/// both networks up at once and measured in turns (`rounds` each), so slow
/// phases of a shared machine hit both alike: median packets/s of each.
fn run_udp64_paired(hops: usize, secs: u64, rounds: usize) -> Value {
    eprintln!("== UDP 64 B batched/unbatched in turns, {hops} hop(s)");
    let mut b = build(Path::Batched, hops);
    let mut u = build(Path::Unbatched, hops);
    let (mut vb, mut vu) = (Vec::new(), Vec::new());
    let (mut ab, mut au) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (x, y) = (udp_run(&mut b, 64, secs), udp_run(&mut u, 64, secs));
        vb.push(x.delivered_pps);
        vu.push(y.delivered_pps);
        ab.push(x.arrived_pps);
        au.push(y.arrived_pps);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        pct(v, 0.5)
    };
    let (mb, mu) = (med(&mut vb), med(&mut vu));
    let (amb, amu) = (med(&mut ab), med(&mut au));
    json!({ "path": "udp64_paired", "hops": hops, "batched_pps": vb, "unbatched_pps": vu,
            "batched_median_pps": mb, "unbatched_median_pps": mu,
            "batched_arrived_pps": ab, "unbatched_arrived_pps": au,
            "batched_arrived_median_pps": amb, "unbatched_arrived_median_pps": amu })
}

/// Idle ping through the kernel, batched and unbatched networks, all up at
/// once and pinged in turns (`rounds` × `count` pings 10 ms apart, the
/// order rotating each round), so slow phases of a shared machine hit all
/// three alike: pooled median and p99 of each, and each round's medians.
/// `batched` is the batched path (a variant of it in probes), reported
/// under the name "batched"; `extra` is TOML for its daemons only.
fn run_ping_idle_turns(
    hops: usize,
    rounds: usize,
    count: u32,
    batched: Path,
    extra: &str,
) -> Value {
    eprintln!("== idle ping kernel/batched/unbatched in turns, {hops} hop(s)");
    let paths = [Path::Kernel, Path::Batched, Path::Unbatched];
    let nets: Vec<Net> = paths
        .iter()
        .map(|&p| match p {
            Path::Batched => build_with(batched, hops, extra),
            _ => build(p, hops),
        })
        .collect();
    let mut pooled = vec![Vec::new(); paths.len()];
    let mut per_round = vec![Vec::new(); paths.len()];
    let c = count.to_string();
    for round in 0..rounds {
        for k in 0..paths.len() {
            let i = (round + k) % paths.len();
            let net = &nets[i];
            let out = ns_output(
                &net.tb.nodes[net.client].ns,
                &["ping", "-n", "-i", "0.01", "-c", &c, &net.dst],
            );
            let v = rtts(&out.stdout);
            per_round[i].push(pct(&v, 0.5));
            pooled[i].extend(v);
        }
    }
    let mut r =
        json!({ "path": "ping_idle_turns", "hops": hops, "rounds": rounds, "count": count });
    for (i, p) in paths.iter().enumerate() {
        pooled[i].sort_by(|a, b| a.partial_cmp(b).unwrap());
        r[format!("{}_median_ms", p.name())] = json!(pct(&pooled[i], 0.5));
        r[format!("{}_p99_ms", p.name())] = json!(pct(&pooled[i], 0.99));
        r[format!("{}_round_medians_ms", p.name())] = json!(per_round[i]);
    }
    r
}

/// The markdown line for one `run_ping_idle_turns` result.
fn ping_turns_line(t: &Value) -> Option<String> {
    let (k, b, u) = (
        f(&t["kernel_median_ms"])?,
        f(&t["batched_median_ms"])?,
        f(&t["unbatched_median_ms"])?,
    );
    let rb = t["batched_round_medians_ms"].as_array()?;
    let ru = t["unbatched_round_medians_ms"].as_array()?;
    let mut ratios: Vec<f64> = rb
        .iter()
        .zip(ru)
        .filter_map(|(x, y)| Some(f(x)? / f(y)?))
        .collect();
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let over = ratios.iter().filter(|&&x| x > 1.10).count();
    Some(format!(
        "{} hop(s): median kernel {k:.3}, batched {b:.3}, unbatched {u:.3} ms; batched ÷ unbatched {:.2} × (per round {:.2}–{:.2} ×, median {:.2} ×, above 1.10 × in {over} of {}); added over the kernel path: batched {:.0} µs, unbatched {:.0} µs",
        t["hops"],
        b / u,
        ratios.first()?,
        ratios.last()?,
        pct(&ratios, 0.5)?,
        ratios.len(),
        (b - k) * 1000.0,
        (u - k) * 1000.0,
    ))
}

/// Sum of user+system CPU seconds of a process.
fn cpu_seconds(pid: u32) -> f64 {
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
fn moved(tb: &Testbed, i: usize) -> u64 {
    let super_packets = tb.stat(i, "offload", "tso_packets");
    let segments = tb.stat(i, "offload", "tso_segments");
    tb.stat(i, "link", "rx_messages") + tb.stat(i, "tun", "rx_packets") - super_packets + segments
}

fn rtts(out: &str) -> Vec<f64> {
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

fn pct(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    Some(v[i])
}

/// TCP bulk only (for the offload on/off comparison).
fn run_tcp_only(path: Path, hops: usize, secs: u64) -> Value {
    eprintln!("== {} {hops} hop(s), TCP only", path.name());
    let mut net = build(path, hops);
    let t = iperf(&mut net, &[], secs);
    let m = machine_per_segment(&t);
    json!({
        "path": path.name(),
        "hops": hops,
        "tcp_machine_us_per_segment": m.map(|x| x.0),
        "tcp_machine_busy_share": m.map(|x| x.1),
        "tcp_mbps": t["client"]["end"]["sum_received"]["bits_per_second"].as_f64().unwrap_or(0.0) / 1e6,
        "tcp_retransmits": t["client"]["end"]["sum_sent"]["retransmits"].clone(),
    })
}

/// The emulated radio's ceiling for full-MTU frames from one sending
/// thread (`benches::link_ceiling`), on the 1-hop kernel path's namespaces
/// (no daemons running): batched and one frame per syscall, each the best
/// of `rounds` alternating runs.
fn run_link_ceiling(secs: u64, rounds: usize) -> Value {
    eprintln!("== link ceiling, 1 hop");
    let net = build(Path::Kernel, 1);
    let mut r = json!({ "path": "link_ceiling", "hops": 1 });
    link_ceilings(&net, secs, rounds, &mut r);
    r
}

/// Both ceilings on `net` (which must run no daemons) into `r`, each the
/// best of `rounds`.
fn link_ceilings(net: &Net, secs: u64, rounds: usize, r: &mut Value) {
    for _ in 0..rounds {
        for batched in [true, false] {
            let key = if batched { "batched" } else { "unbatched" };
            match link_ceiling(net, batched, secs) {
                Ok(c) => {
                    if f(&r[format!("{key}_received_fps")])
                        .is_none_or(|best| c.received_per_s > best)
                    {
                        r[format!("{key}_received_fps")] = json!(c.received_per_s);
                        r[format!("{key}_sent_fps")] = json!(c.sent_per_s);
                        r[format!("{key}_tcp_mbps")] = json!(c.tcp_mbps());
                        r["tcp_payload_per_frame"] = json!(c.tcp_payload);
                    }
                }
                Err(e) => eprintln!("link ceiling ({key}): {e}"),
            }
        }
    }
}

fn link_ceiling(
    net: &Net,
    batched: bool,
    secs: u64,
) -> Result<benches::link_ceiling::Ceiling, String> {
    benches::link_ceiling::measure(
        &net.tb.nodes[net.client].ns,
        &net.tb.nodes[net.server].ns,
        "radio0",
        batched,
        Duration::from_secs(secs),
    )
}

fn run_path(path: Path, hops: usize, secs: u64, only_udp64: bool) -> Value {
    eprintln!("== {} {hops} hop(s)", path.name());
    let mut net = build(path, hops);
    let pids: Vec<u32> = (0..net.tb.nodes.len())
        .filter_map(|i| net.tb.pid(i))
        .collect();
    let mut r = json!({ "path": path.name(), "hops": hops });
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
    put_udp(&mut r, "udp64", &udp_run(&mut net, 64, secs));
    if net.daemons {
        let f = net.tb.stat(net.client, "link", "tx_frames") - tx0.0;
        let m = net.tb.stat(net.client, "link", "tx_messages") - tx0.1;
        r["udp64_frames_per_packet"] = json!(f as f64 / m.max(1) as f64);
    }
    if only_udp64 {
        return r;
    }
    // UDP 1400-byte payloads.
    put_udp(&mut r, "udp1400", &udp_run(&mut net, 1400, secs));
    // TCP bulk, with the sending daemon's CPU time over it.
    let sender = net.tb.pid(net.client);
    let sender0 = sender.map(cpu_seconds);
    let t = iperf(&mut net, &[], secs);
    if let (Some(p), Some(c0)) = (sender, sender0) {
        r["tcp_sender_cpu_s"] = json!(cpu_seconds(p) - c0);
    }
    r["tcp_bytes"] = t["server"]["end"]["sum_received"]["bytes"].clone();
    if let Some((us, share)) = machine_per_segment(&t) {
        r["tcp_machine_us_per_segment"] = json!(us);
        r["tcp_machine_busy_share"] = json!(share);
    }
    let tcp_bps = t["client"]["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    r["tcp_mbps"] = json!(tcp_bps / 1e6);
    r["tcp_retransmits"] = t["client"]["end"]["sum_sent"]["retransmits"].clone();
    if net.daemons {
        let cpu: Vec<f64> = pids
            .iter()
            .zip(&cpu0)
            .map(|(p, c)| cpu_seconds(*p) - c)
            .collect();
        let per: Vec<Value> = (0..net.tb.nodes.len())
            .map(|i| {
                let m = moved(&net.tb, i) - moved0[i];
                json!({ "node": net.tb.nodes[i].name, "cpu_s": cpu[i], "packets": m, "us_per_packet": if m > 0 { cpu[i] * 1e6 / m as f64 } else { 0.0 } })
            })
            .collect();
        r["cpu"] = Value::Array(per);
    }
    // Ping: idle, then under 50% of the TCP rate.
    ping_idle(&net, &mut r);
    if !net.daemons {
        wakeup_cost(&net, &mut r);
    }
    ping_under_load(&mut net, secs, Some(tcp_bps), &mut r);
    r
}

/// 300 pings 10 ms apart on an otherwise idle path: median and p99 into `r`.
fn ping_idle(net: &Net, r: &mut Value) {
    let idle = ns_output(
        &net.tb.nodes[net.client].ns,
        &["ping", "-n", "-i", "0.01", "-c", "300", &net.dst],
    );
    let v = rtts(&idle.stdout);
    r["ping_idle_median_ms"] = json!(pct(&v, 0.5));
    r["ping_idle_p99_ms"] = json!(pct(&v, 0.99));
}

/// Ping every 10 ms while iperf3 TCP runs at half of `tcp_bps` (measured
/// first when not given): median and p99 RTT in ms.
/// At the same time, a UDP echo over loopback in the client's namespace
/// (two ordinary-thread wake-ups per round trip, no daemon involved) gives
/// the scheduler's own tail under this load.
fn ping_under_load(net: &mut Net, secs: u64, tcp_bps: Option<f64>, r: &mut Value) {
    let tcp_bps = tcp_bps.unwrap_or_else(|| {
        iperf(net, &[], secs)["client"]["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0)
    });
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
    let cns = net.tb.nodes[net.client].ns.clone();
    let count = secs as usize * 80;
    let local = std::thread::spawn(move || {
        let _server = wakeup::EchoServer::start(&cns, "127.0.0.1:47996")?;
        wakeup::round_trips(
            &cns,
            "127.0.0.1:47996",
            Answer::Echo,
            count,
            Duration::from_millis(10),
        )
    });
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
    r["ping_load50_median_ms"] = json!(pct(&v, 0.5));
    r["ping_load50_p99_ms"] = json!(pct(&v, 0.99));
    match local
        .join()
        .unwrap_or_else(|_| Err("echo thread panicked".into()))
    {
        Ok(mut w) => {
            w.sort_by(|a, b| a.total_cmp(b));
            r["wake_load50_median_us"] = json!(pct(&w, 0.5));
            r["wake_load50_p99_us"] = json!(pct(&w, 0.99));
        }
        Err(e) => eprintln!("loopback echo under load: {e}"),
    }
}

/// Median UDP round trip from the client to the server namespace, timed by
/// the same client, answered by the server's kernel (closed port) and by an
/// echo thread there: the difference is one process wake-up (`wakeup`).
fn wakeup_cost(net: &Net, r: &mut Value) {
    let (sns, cns) = (&net.tb.nodes[net.server].ns, &net.tb.nodes[net.client].ns);
    wakeup::allow_icmp_errors(sns);
    let gap = Duration::from_millis(5);
    let kernel = wakeup::round_trips(cns, &format!("{}:47997", net.dst), Answer::Kernel, 300, gap);
    let echo = wakeup::EchoServer::start(sns, &format!("{}:47999", net.dst)).and_then(|_server| {
        wakeup::round_trips(cns, &format!("{}:47999", net.dst), Answer::Echo, 300, gap)
    });
    for (key, v) in [
        ("udp_kernel_median_us", kernel),
        ("udp_echo_median_us", echo),
    ] {
        match v {
            Ok(mut v) => {
                v.sort_by(|a, b| a.total_cmp(b));
                r[key] = json!(pct(&v, 0.5));
            }
            Err(e) => eprintln!("{key}: {e}"),
        }
    }
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// Encryption cost: TCP bulk with `[security] mode = "encrypted"` against
/// the same batched path with security off (first result of each kind).
fn security_table(results: &[Value]) -> String {
    let tcp = |p: &str, h: u64| {
        results
            .iter()
            .find(|r| r["path"] == p && r["hops"] == h)
            .and_then(|r| f(&r["tcp_mbps"]))
    };
    let mut md = String::from(
        "\nEncryption cost, TCP bulk (Mbit/s):\n\n| Hops | security off | encrypted | encrypted ÷ off |\n|---:|---:|---:|---:|\n",
    );
    for h in [1u64, 2] {
        let (off, on) = (tcp("batched", h), tcp("encrypted", h));
        md.push_str(&format!(
            "| {h} | {} | {} | {} |\n",
            cell(off, 0),
            cell(on, 0),
            ratio(on, off)
        ));
    }
    md
}

/// Sets every thread of `pid` to `sched`: "fifo" (SCHED_FIFO priority 1)
/// or "nice:N" (nice value N). For experiments with the daemons' priority.
fn set_sched(pid: u32, sched: &str) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if sched == "fifo" {
            let p = libc::sched_param { sched_priority: 1 };
            // SAFETY: plain syscall on a thread id with a valid parameter.
            unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &p) };
        } else if let Some(n) = sched
            .strip_prefix("nice:")
            .and_then(|n| n.parse::<i32>().ok())
        {
            // SAFETY: plain syscall; PRIO_PROCESS with a thread id sets that thread.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as u32, n) };
        }
    }
}

/// The value after option `k` on the command line.
fn arg(args: &[String], k: &str) -> Option<String> {
    args.iter()
        .position(|a| a == k)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A quick partial run for development: selected measurements on selected
/// paths, printed as JSON lines.
fn run_probe(args: &[String], secs: u64) {
    let get = |k: &str| arg(args, k);
    let probes = get("--probe").unwrap_or_default();
    let hops: usize = get("--hops").and_then(|s| s.parse().ok()).unwrap_or(1);
    let extra = get("--daemon-extra")
        .unwrap_or_default()
        .replace("\\n", "\n");
    let sched = get("--sched");
    let paths = get("--paths").unwrap_or_else(|| "kernel,batched".into());
    let path_named = |p: &str| match p {
        "kernel" => Some(Path::Kernel),
        "kernel_mtu" => Some(Path::KernelMtu),
        "batched" => Some(Path::Batched),
        "unbatched" => Some(Path::Unbatched),
        "encrypted" => Some(Path::Encrypted),
        "no_offload" => Some(Path::BatchedNoOffload),
        "no_aggregation" => Some(Path::BatchedNoAggregation),
        "realtime" => Some(Path::Realtime),
        _ => None,
    };
    if probes.split(',').any(|p| p == "ping_turns") {
        // The batched network of the turns, or a variant of it named in --paths.
        let variant = paths
            .split(',')
            .filter_map(path_named)
            .find(|p| !matches!(p, Path::Kernel | Path::KernelMtu | Path::Unbatched))
            .unwrap_or(Path::Batched);
        let t = run_ping_idle_turns(hops, 10, 100, variant, &extra);
        eprintln!("{}", ping_turns_line(&t).unwrap_or_default());
        println!("{t}");
        if probes.split(',').all(|p| p == "ping_turns") {
            return;
        }
    }
    for p in paths.split(',') {
        let Some(path) = path_named(p) else {
            continue;
        };
        let mut net = build_with(path, hops, &extra);
        if let Some(s) = &sched {
            for i in 0..net.tb.nodes.len() {
                if let Some(pid) = net.tb.pid(i) {
                    set_sched(pid, s);
                }
            }
        }
        if let Some(h) = get("--hold").and_then(|s| s.parse().ok()) {
            // Time to attach a profiler or tracer to the running network.
            for (i, n) in net.tb.nodes.iter().enumerate() {
                eprintln!("node {i}: ns {} pid {:?}", n.ns, net.tb.pid(i));
            }
            std::thread::sleep(Duration::from_secs(h));
        }
        let mut r = json!({ "path": path.name(), "hops": hops });
        for probe in probes.split(',') {
            match probe {
                "tcp" => {
                    let t = iperf(&mut net, &[], secs);
                    r["tcp_mbps"] = json!(
                        t["client"]["end"]["sum_received"]["bits_per_second"]
                            .as_f64()
                            .unwrap_or(0.0)
                            / 1e6
                    );
                    r["tcp_retransmits"] = t["client"]["end"]["sum_sent"]["retransmits"].clone();
                    if let Some((us, share)) = machine_per_segment(&t) {
                        r["tcp_machine_us_per_segment"] = json!(us);
                        r["tcp_machine_busy_share"] = json!(share);
                    }
                }
                "udp64" | "udp1400" => {
                    let len = if probe == "udp64" { 64 } else { 1400 };
                    put_udp(&mut r, probe, &udp_run(&mut net, len, secs));
                }
                "ping" => ping_idle(&net, &mut r),
                "wake" => wakeup_cost(&net, &mut r),
                "ceiling" if net.daemons => {
                    eprintln!("the ceiling probe needs a path without daemons (kernel)")
                }
                "ceiling" => {
                    let mut c = json!({});
                    link_ceilings(&net, secs, 1, &mut c);
                    r["ceiling"] = c;
                }
                "load" => {
                    ping_under_load(&mut net, secs, None, &mut r);
                }
                _ => {}
            }
        }
        if net.daemons {
            let cpu: Vec<f64> = (0..net.tb.nodes.len())
                .filter_map(|i| net.tb.pid(i))
                .map(cpu_seconds)
                .collect();
            r["cpu_s"] = json!(cpu);
        }
        println!("{r}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| arg(&args, k);
    let secs: u64 = get("--duration").and_then(|s| s.parse().ok()).unwrap_or(5);
    let _ = DATAPLANE.set(DataplaneOpts {
        lines: get("--dataplane").unwrap_or_default().replace("\\n", "\n"),
        pin: args.iter().any(|a| a == "--pin"),
    });
    let out = get("--out").unwrap_or_else(|| "target/e2e-results.json".into());
    if let Err(why) = testbed::available() {
        eprintln!("cannot run: {why}");
        std::process::exit(1);
    }
    if testbed::which("iperf3").is_none() {
        eprintln!("cannot run: iperf3 not installed");
        std::process::exit(1);
    }
    if args.iter().any(|a| a == "--probe") {
        run_probe(&args, secs);
        return;
    }
    let mut results = Vec::new();
    if args.iter().any(|a| a == "--security-only") {
        // Encryption cost alone: TCP bulk with security off and on, one run.
        for hops in [1usize, 2] {
            results.push(run_tcp_only(Path::Batched, hops, secs));
            results.push(run_tcp_only(Path::Encrypted, hops, secs));
        }
        let md = security_table(&results);
        println!("{md}");
        let doc = json!({ "duration_s": secs, "pinned": dataplane_opts().pin, "results": results, "markdown": md });
        let _ = std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default());
        return;
    }
    for hops in [1usize, 2] {
        for path in [Path::Kernel, Path::Batched, Path::Unbatched] {
            results.push(run_path(path, hops, secs, false));
        }
    }
    results.push(run_path(Path::BatchedNoAggregation, 1, secs, true));
    results.push(run_tcp_only(Path::BatchedNoOffload, 1, secs));
    results.push(run_path(Path::Realtime, 1, secs, false));
    results.push(run_udp64_paired(1, secs, 3));
    for hops in [1usize, 2] {
        results.push(run_ping_idle_turns(hops, 10, 100, Path::Batched, ""));
    }
    results.push(run_link_ceiling(secs, 2));
    for hops in [1usize, 2] {
        results.push(run_tcp_only(Path::KernelMtu, hops, secs));
    }
    for hops in [1usize, 2] {
        results.push(run_tcp_only(Path::Encrypted, hops, secs));
    }
    let find = |p: &str, h: u64| {
        results
            .iter()
            .find(|r| r["path"] == p && r["hops"] == h)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut md = String::new();
    let dp = dataplane_opts();
    md.push_str(&format!(
        "Duration per measurement: {secs} s. Ratios are from this one run. Data planes {}.{}\n\n",
        if dp.pin {
            "bound to a CPU each (`--pin`: node i to CPU i mod count)"
        } else {
            "placed by the kernel"
        },
        if dp.lines.is_empty() {
            String::new()
        } else {
            format!(" `[dataplane]` lines: `{}`.", dp.lines.replace('\n', "; "))
        }
    ));
    md.push_str("| Scenario | Hops | kernel | batched | unbatched | batched ÷ unbatched | batched ÷ kernel |\n|---|---:|---:|---:|---:|---:|---:|\n");
    let rows: [(&str, &str, usize); 11] = [
        ("TCP bulk (Mbit/s)", "tcp_mbps", 0),
        ("UDP 64 B sent by iperf3 (pkt/s)", "udp64_sent_pps", 0),
        ("UDP 64 B delivered (pkt/s)", "udp64_pps", 0),
        (
            "UDP 64 B reaching the receiving host (pkt/s)",
            "udp64_arrived_pps",
            0,
        ),
        ("UDP 1400 B delivered (pkt/s)", "udp1400_pps", 0),
        (
            "UDP 1400 B reaching the receiving host (pkt/s)",
            "udp1400_arrived_pps",
            0,
        ),
        ("UDP 64 B loss", "udp64_loss", 3),
        ("ping idle median (ms)", "ping_idle_median_ms", 3),
        ("ping idle p99 (ms)", "ping_idle_p99_ms", 3),
        ("ping at 50% load median (ms)", "ping_load50_median_ms", 3),
        ("ping at 50% load p99 (ms)", "ping_load50_p99_ms", 3),
    ];
    for hops in [1u64, 2] {
        let (k, b, u) = (
            find("kernel", hops),
            find("batched", hops),
            find("unbatched", hops),
        );
        for (label, key, d) in rows {
            md.push_str(&format!(
                "| {label} | {hops} | {} | {} | {} | {} | {} |\n",
                cell(f(&k[key]), d),
                cell(f(&b[key]), d),
                cell(f(&u[key]), d),
                ratio(f(&b[key]), f(&u[key])),
                ratio(f(&b[key]), f(&k[key]))
            ));
        }
    }
    md.push_str("\nIdle ping RTT added over the kernel path (median): ");
    for hops in [1u64, 2] {
        let (k, b) = (find("kernel", hops), find("batched", hops));
        if let (Some(kk), Some(bb)) = (f(&k["ping_idle_median_ms"]), f(&b["ping_idle_median_ms"])) {
            md.push_str(&format!("{hops} hop(s): {:.0} µs; ", (bb - kk) * 1000.0));
        }
    }
    let turns: Vec<String> = [1u64, 2]
        .iter()
        .filter_map(|&h| ping_turns_line(&find("ping_idle_turns", h)))
        .collect();
    if !turns.is_empty() {
        md.push_str(&format!(
            "\n\nIdle ping with the kernel, batched and unbatched networks up together and pinged in turns (10 rounds of 100 pings 10 ms apart each, the order rotating): {}.",
            turns.join("; ")
        ));
    }
    if let (Some(echo), Some(kern)) = (
        f(&find("kernel", 1)["udp_echo_median_us"]),
        f(&find("kernel", 1)["udp_kernel_median_us"]),
    ) {
        md.push_str(&format!(
            "\n\nWake-up cost on this machine (kernel path, 1 hop, UDP round trips timed by one user-space client, median of 300): answered by the far kernel (port unreachable) {kern:.0} µs, answered by an echo thread there {echo:.0} µs, so one process wake-up with its two syscalls costs about {:.0} µs. A round trip through one hop of daemons needs three more: the OBU for the request and for the reply, the RSU for the request (its reply is already waiting when it next polls).",
            echo - kern
        ));
    }
    let wake: Vec<String> = ["kernel", "batched", "unbatched"]
        .iter()
        .filter_map(|p| {
            let r = find(p, 1);
            Some(format!(
                "{p} {:.0} / {:.0} µs",
                f(&r["wake_load50_median_us"])?,
                f(&r["wake_load50_p99_us"])?
            ))
        })
        .collect();
    if !wake.is_empty() {
        md.push_str(&format!(
            "\n\nThe scheduler's own tail at 50 % load (1 hop): a UDP echo over loopback in the sending namespace, two ordinary-thread wake-ups per round trip and no daemon on its path, run beside the loaded ping; median / p99 while the load went through each path: {}.",
            wake.join(", ")
        ));
    }
    let lc = find("link_ceiling", 1);
    if let (Some(cb), Some(cu)) = (f(&lc["batched_tcp_mbps"]), f(&lc["unbatched_tcp_mbps"])) {
        let (b, u) = (
            f(&find("batched", 1)["tcp_mbps"]).unwrap_or(0.0),
            f(&find("unbatched", 1)["tcp_mbps"]).unwrap_or(0.0),
        );
        md.push_str(&format!(
            "\n\nLink ceiling (1 hop, no daemons): one thread sending full-MTU data frames through the emulated radio with the data plane's own send path, another reading them, nothing else running, best of 2: {:.0} frames/s batched and {:.0} frames/s one frame per syscall ({:.2} ×), that is {cb:.0} and {cu:.0} Mbit/s of TCP payload at {} bytes per frame. The batched daemons' TCP reached {:.0} % of the batched ceiling; 3 × the unbatched daemons' TCP ({:.0} Mbit/s) would be {:.0} % of it.",
            f(&lc["batched_received_fps"]).unwrap_or(0.0),
            f(&lc["unbatched_received_fps"]).unwrap_or(0.0),
            cb / cu.max(1e-9),
            lc["tcp_payload_per_frame"],
            100.0 * b / cb.max(1e-9),
            3.0 * u,
            300.0 * u / cb.max(1e-9),
        ));
    }
    let b1 = find("batched", 1);
    if let (Some(cpu_s), Some(bytes_b), Some(sent), Some(u), Some(seg)) = (
        f(&b1["tcp_sender_cpu_s"]),
        f(&b1["tcp_bytes"]),
        f(&lc["batched_sent_fps"]),
        f(&find("unbatched", 1)["tcp_mbps"]),
        f(&lc["tcp_payload_per_frame"]),
    ) {
        // The ceiling's sender never sleeps: one CPU over the frames it sent.
        let link = 1e6 / sent.max(1.0);
        let per_seg = cpu_s * 1e6 / (bytes_b / seg).max(1.0);
        let need = 3.0 * u * 1e6 / 8.0 / seg;
        let left = 1e6 / need - link;
        md.push_str(&format!(
            "\n\nCPU budget of the sending OBU's data plane (one thread) for 1-hop TCP at 3 × unbatched, {need:.0} segments/s of {seg:.0} bytes: handing one frame to the link costs a thread {link:.2} µs (the ceiling's sender, which never sleeps), so one CPU leaves {left:.2} µs per segment for everything else the thread does (reading the TUN, cutting and checksumming segments, writing the receiver's ACKs to its TUN, with the TCP processing that runs inside those writes). In the batched run the OBU spent {per_seg:.2} µs per segment in all ({:.0} % of a CPU), {:.2} µs of it beyond the link.",
            100.0 * cpu_s / secs as f64,
            per_seg - link
        ));
    }
    let machine: Vec<String> = ["kernel", "kernel_mtu", "batched", "unbatched"]
        .iter()
        .filter_map(|p| {
            let r = find(p, 1);
            Some(format!(
                "{p} {:.2} µs ({:.0} % busy)",
                f(&r["tcp_machine_us_per_segment"])?,
                100.0 * f(&r["tcp_machine_busy_share"])?
            ))
        })
        .collect();
    if let (true, Some(ub), Some(share)) = (
        machine.len() == 4,
        f(&find("unbatched", 1)["tcp_machine_us_per_segment"]),
        f(&find("batched", 1)["tcp_machine_busy_share"]),
    ) {
        let ushare = f(&find("unbatched", 1)["tcp_machine_busy_share"]).unwrap_or(share);
        // At 3 × the unbatched rate with the machine as busy as in the
        // batched run, one segment may cost the whole machine this much.
        let need = ub * share / ushare.max(1e-9) / 3.0;
        md.push_str(&format!(
            "\n\nThe whole machine during 1-hop TCP (`/proc/stat` over each iperf3 run, all CPUs): CPU per 1430 bytes of payload and the machine's busy share: {}. At the batched run's busy share, 3 × the unbatched rate allows {need:.2} µs per segment.",
            machine.join(", ")
        ));
    }
    md.push_str("\n\nCPU time per packet forwarded (messages received from the link + packets read from the TUN, super-packets counted per segment), during the UDP and TCP runs:\n\n| Path | Hops | Node | CPU s | Packets | µs/packet |\n|---|---:|---|---:|---:|---:|\n");
    for r in &results {
        if let Some(cpu) = r["cpu"].as_array() {
            for c in cpu {
                md.push_str(&format!(
                    "| {} | {} | {} | {:.2} | {} | {:.2} |\n",
                    r["path"].as_str().unwrap_or(""),
                    r["hops"],
                    c["node"].as_str().unwrap_or(""),
                    f(&c["cpu_s"]).unwrap_or(0.0),
                    c["packets"],
                    f(&c["us_per_packet"]).unwrap_or(0.0)
                ));
            }
        }
    }
    let agg_on = f(&find("batched", 1)["udp64_frames_per_packet"]);
    let agg_off = f(&find("batched_no_aggregation", 1)["udp64_frames_per_packet"]);
    md.push_str(&format!(
        "\nFrames on the wire per packet, UDP 64 B at full load, 1 hop: aggregation on {} , off {} (pkt/s reaching the receiving host: on {}, off {}; read by iperf3: on {}, off {}).\n",
        cell(agg_on, 3),
        cell(agg_off, 3),
        cell(f(&find("batched", 1)["udp64_arrived_pps"]), 0),
        cell(f(&find("batched_no_aggregation", 1)["udp64_arrived_pps"]), 0),
        cell(f(&find("batched", 1)["udp64_pps"]), 0),
        cell(f(&find("batched_no_aggregation", 1)["udp64_pps"]), 0)
    ));
    md.push_str(&format!(
        "\nTUN offload, TCP bulk 1 hop: on {} Mbit/s, off {} Mbit/s ({}×).\n",
        cell(f(&find("batched", 1)["tcp_mbps"]), 0),
        cell(f(&find("batched_no_offload", 1)["tcp_mbps"]), 0),
        ratio(
            f(&find("batched", 1)["tcp_mbps"]),
            f(&find("batched_no_offload", 1)["tcp_mbps"])
        )
    ));
    let paired = find("udp64_paired", 1);
    let (pb, pu) = (
        f(&paired["batched_median_pps"]),
        f(&paired["unbatched_median_pps"]),
    );
    let (ab, au) = (
        f(&paired["batched_arrived_median_pps"]),
        f(&paired["unbatched_arrived_median_pps"]),
    );
    md.push_str(&format!(
        "\nUDP 64 B, 1 hop, batched and unbatched networks up together and measured in turns (3 × {secs} s each; median pkt/s): delivered to iperf3: batched {}, unbatched {}, batched ÷ unbatched {} (all runs: batched {}, unbatched {}); reaching the receiving host: batched {}, unbatched {}, batched ÷ unbatched {} (all runs: batched {}, unbatched {}).\n",
        cell(pb, 0),
        cell(pu, 0),
        ratio(pb, pu),
        paired["batched_pps"],
        paired["unbatched_pps"],
        cell(ab, 0),
        cell(au, 0),
        ratio(ab, au),
        paired["batched_arrived_pps"],
        paired["unbatched_arrived_pps"]
    ));
    md.push_str("\nThe kernel path with every radio frame at most the link MTU (TSO, GSO and GRO off on the radio interfaces), TCP bulk, against the daemons (which must cut to the MTU):\n\n| Hops | kernel (GSO) | kernel (MTU frames) | batched | MTU-frame kernel ÷ GSO kernel | batched ÷ MTU-frame kernel |\n|---:|---:|---:|---:|---:|---:|\n");
    for hops in [1u64, 2] {
        let (k, km, b) = (
            f(&find("kernel", hops)["tcp_mbps"]),
            f(&find("kernel_mtu", hops)["tcp_mbps"]),
            f(&find("batched", hops)["tcp_mbps"]),
        );
        md.push_str(&format!(
            "| {hops} | {} | {} | {} | {} | {} |\n",
            cell(k, 0),
            cell(km, 0),
            cell(b, 0),
            ratio(km, k),
            ratio(b, km)
        ));
    }
    let rt = find("realtime", 1);
    let b1 = find("batched", 1);
    md.push_str("\nRealtime priority while the CPUs are contended (`[dataplane] realtime_priority = 1`, `realtime = \"auto\"`) against the default (normal scheduling), 1 hop:\n\n| Measurement | batched (default) | batched, realtime |\n|---|---:|---:|\n");
    for (label, key, d) in [
        ("TCP bulk (Mbit/s)", "tcp_mbps", 0),
        ("UDP 64 B delivered (pkt/s)", "udp64_pps", 0),
        (
            "UDP 64 B reaching the receiving host (pkt/s)",
            "udp64_arrived_pps",
            0,
        ),
        ("UDP 64 B frames per packet", "udp64_frames_per_packet", 3),
        ("ping idle median (ms)", "ping_idle_median_ms", 3),
        ("ping at 50% load median (ms)", "ping_load50_median_ms", 3),
        ("ping at 50% load p99 (ms)", "ping_load50_p99_ms", 3),
    ] {
        md.push_str(&format!(
            "| {label} | {} | {} |\n",
            cell(f(&b1[key]), d),
            cell(f(&rt[key]), d)
        ));
    }
    md.push_str(&security_table(&results));
    println!("{md}");
    let doc = json!({ "duration_s": secs, "pinned": dataplane_opts().pin, "results": results, "markdown": md });
    if let Err(e) = std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
        eprintln!("cannot write {out}: {e}");
    } else {
        eprintln!("JSON written to {out}");
    }
}
