//! Paths compared side by side: their networks all up at once and
//! measured in turns (TCP bulk, 64-byte UDP, idle ping), the order
//! rotating each round, so that slow phases of a shared machine hit each
//! alike. Two comparisons use it:
//!
//! - the price of encryption: security off, encrypted, and encrypted with
//!   the post-quantum handshake (the targets: encrypted ÷ off for TCP and
//!   for 64-byte UDP reaching the receiving host, and the idle ping
//!   median encryption adds);
//! - before and after: the daemons of this build against another build's
//!   (`--old-bin-dir`), security off.

use crate::measure::{cpu_seconds, f, iperf, median, pct, ping_in_turns, put_tcp, udp_run};
use crate::net::{build, Net, Path};
use crate::report::{cell, ratio};
use serde_json::{json, Value};

/// The encryption comparison, security off first (the reference).
pub const SECURITY: [Path; 3] = [Path::Batched, Path::Encrypted, Path::EncryptedPq];

/// The before/after comparison, the old build first (the reference).
pub const OLD_NEW: [Path; 2] = [Path::Old, Path::Batched];

/// Bytes of TCP payload in one full segment of the daemons' path.
const SEGMENT: f64 = 1430.0;

/// `rounds` rounds of TCP then 64-byte UDP on each of `paths`, then idle
/// ping in turns; the result is named `label`.
pub fn run_turns(label: &str, paths: &[Path], hops: usize, secs: u64, rounds: usize) -> Value {
    let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
    eprintln!("== {} in turns, {hops} hop(s)", names.join(" / "));
    let mut nets: Vec<Net> = paths.iter().map(|&p| build(p, hops)).collect();
    let n = paths.len();
    let (mut tcp, mut seg_us, mut udp) = (vec![vec![]; n], vec![vec![]; n], vec![vec![]; n]);
    let mut retrans = vec![0u64; n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let net = &mut nets[i];
            let cpu0 = daemons_cpu(net);
            let t = iperf(net, &[], secs);
            let cpu = daemons_cpu(net) - cpu0;
            let mut r = json!({});
            tcp[i].push(put_tcp(&mut r, &t) / 1e6);
            retrans[i] += r["tcp_retransmits"].as_u64().unwrap_or(0);
            if let Some(bytes) = f(&r["tcp_bytes"]).filter(|b| *b > 0.0) {
                seg_us[i].push(cpu * 1e6 / (bytes / SEGMENT));
            }
            udp[i].push(udp_run(net, 64, secs).arrived_pps);
        }
    }
    let refs: Vec<&Net> = nets.iter().collect();
    let (mut pings, _) = ping_in_turns(&refs, 10, 100);
    let mut r = json!({ "path": label, "hops": hops, "rounds": rounds, "paths": names });
    for (i, p) in paths.iter().enumerate() {
        pings[i].sort_by(|a, b| a.total_cmp(b));
        r[p.name()] = json!({
            "tcp_mbps": tcp[i], "tcp_median_mbps": median(&tcp[i]),
            "tcp_retransmits": retrans[i],
            "daemons_us_per_segment": seg_us[i],
            "daemons_median_us_per_segment": median(&seg_us[i]),
            "udp64_arrived_pps": udp[i], "udp64_arrived_median_pps": median(&udp[i]),
            "ping_idle_median_ms": pct(&pings[i], 0.5),
            "ping_idle_p99_ms": pct(&pings[i], 0.99),
        });
    }
    r
}

/// CPU seconds of every daemon of `net` so far.
fn daemons_cpu(net: &Net) -> f64 {
    (0..net.tb.nodes.len())
        .filter_map(|i| net.tb.pid(i))
        .map(cpu_seconds)
        .sum()
}

/// The markdown of the results named `label`: one row per hop count and
/// path, with ratios against the first path. `None` if there are none.
pub fn turns_table(results: &[Value], label: &str, title: &str) -> Option<String> {
    let runs: Vec<&Value> = results.iter().filter(|r| r["path"] == label).collect();
    if runs.is_empty() {
        return None;
    }
    let mut md = format!(
        "\n{title} (medians of the rounds; paths measured in turns):\n\n\
         | Hops | path | TCP Mbit/s | ÷ first | retransmits | daemons µs per segment | 64 B UDP reaching the host, pkt/s | ÷ first | idle ping median / p99 ms | added µs |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---|---:|\n"
    );
    for run in &runs {
        let names = run["paths"].as_array().cloned().unwrap_or_default();
        let Some(first) = names.first().and_then(|n| n.as_str()) else {
            continue;
        };
        let reference = &run[first];
        for name in names.iter().filter_map(|n| n.as_str()) {
            let v = &run[name];
            let c = compare(v, reference);
            md.push_str(&format!(
                "| {} | {name} | {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
                run["hops"],
                cell(c.tcp, 0),
                ratio(c.tcp, c.tcp_ref),
                v["tcp_retransmits"],
                cell(f(&v["daemons_median_us_per_segment"]), 2),
                cell(c.udp, 0),
                ratio(c.udp, c.udp_ref),
                cell(f(&v["ping_idle_median_ms"]), 3),
                cell(f(&v["ping_idle_p99_ms"]), 3),
                if name == first {
                    "-".into()
                } else {
                    cell(c.added_us, 0)
                },
            ));
        }
    }
    Some(md)
}

/// One path's figures beside the reference path's.
struct Compared {
    tcp: Option<f64>,
    tcp_ref: Option<f64>,
    udp: Option<f64>,
    udp_ref: Option<f64>,
    /// Idle ping median added over the reference, µs.
    added_us: Option<f64>,
}

fn compare(v: &Value, reference: &Value) -> Compared {
    let ping = |x: &Value| f(&x["ping_idle_median_ms"]);
    Compared {
        tcp: f(&v["tcp_median_mbps"]),
        tcp_ref: f(&reference["tcp_median_mbps"]),
        udp: f(&v["udp64_arrived_median_pps"]),
        udp_ref: f(&reference["udp64_arrived_median_pps"]),
        added_us: ping(v).zip(ping(reference)).map(|(a, b)| (a - b) * 1e3),
    }
}

/// The encryption targets (TCP ≥ 0.9x, 64 B UDP ≥ 0.8x of security off,
/// ping added ≤ 10 µs), each met or missed, as markdown lines.
pub fn security_verdicts(results: &[Value], label: &str) -> String {
    let mut md = String::from("\nTargets (TCP ≥ 0.9x, 64 B UDP ≥ 0.8x, ping added ≤ 10 µs):\n\n");
    let mark = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    };
    let x = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}x"));
    for run in results.iter().filter(|r| r["path"] == label) {
        let off = &run[Path::Batched.name()];
        for p in [Path::Encrypted, Path::EncryptedPq] {
            let c = compare(&run[p.name()], off);
            let tr = c.tcp.zip(c.tcp_ref).map(|(a, b)| a / b);
            let ur = c.udp.zip(c.udp_ref).map(|(a, b)| a / b);
            md.push_str(&format!(
                "- {} hop(s), {}: TCP {} ({}), UDP {} ({}), ping {} ({})\n",
                run["hops"],
                p.name(),
                x(tr),
                mark(tr.map(|r| r >= 0.9)),
                x(ur),
                mark(ur.map(|r| r >= 0.8)),
                c.added_us.map_or("-".into(), |a| format!("{a:+.0} µs")),
                mark(c.added_us.map(|a| a <= 10.0)),
            ));
        }
    }
    md
}
