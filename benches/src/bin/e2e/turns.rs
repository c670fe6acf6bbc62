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

use crate::measure::{cpu_seconds, iperf, median, pct, ping_in_turns, tcp_of, udp_run};
use crate::net::{build, Net, Path, Setup};
use crate::results::{Turns, TurnsFigures};

/// The encryption comparison, security off first (the reference).
pub const SECURITY: [Path; 3] = [Path::Batched, Path::Encrypted, Path::EncryptedPq];

/// The before/after comparison, the old build first (the reference).
pub const OLD_NEW: [Path; 2] = [Path::Old, Path::Batched];

/// Bytes of TCP payload in one full segment of the daemons' path.
const SEGMENT: f64 = 1430.0;

/// `rounds` rounds of TCP then 64-byte UDP on each of `paths`, then idle
/// ping in turns; the result is named `label`.
pub fn run_turns(
    setup: &Setup,
    label: &str,
    paths: &[Path],
    hops: usize,
    secs: u64,
    rounds: usize,
) -> Turns {
    let names: Vec<&str> = paths.iter().map(|p| p.name()).collect();
    eprintln!("== {} in turns, {hops} hop(s)", names.join(" / "));
    let mut nets: Vec<Net> = paths.iter().map(|&p| build(setup, p, hops)).collect();
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
            let r = tcp_of(&t);
            tcp[i].push(r.tcp_mbps);
            retrans[i] += r.tcp_retransmits.unwrap_or(0);
            if let Some(bytes) = r.tcp_bytes.map(|b| b as f64).filter(|b| *b > 0.0) {
                seg_us[i].push(cpu * 1e6 / (bytes / SEGMENT));
            }
            udp[i].push(udp_run(net, 64, secs).arrived_pps);
        }
    }
    let refs: Vec<&Net> = nets.iter().collect();
    let (mut pings, _) = ping_in_turns(&refs, 10, 100);
    let mut r = Turns {
        path: label.into(),
        hops,
        rounds,
        paths: names.iter().map(|n| n.to_string()).collect(),
        ..Turns::default()
    };
    for (i, p) in paths.iter().enumerate() {
        pings[i].sort_by(|a, b| a.total_cmp(b));
        let figures = TurnsFigures {
            tcp_median_mbps: median(&tcp[i]),
            tcp_mbps: std::mem::take(&mut tcp[i]),
            tcp_retransmits: retrans[i],
            daemons_median_us_per_segment: median(&seg_us[i]),
            daemons_us_per_segment: std::mem::take(&mut seg_us[i]),
            udp64_arrived_median_pps: median(&udp[i]),
            udp64_arrived_pps: std::mem::take(&mut udp[i]),
            ping_idle_median_ms: pct(&pings[i], 0.5),
            ping_idle_p99_ms: pct(&pings[i], 0.99),
        };
        r.figures.insert(p.name().into(), figures);
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
