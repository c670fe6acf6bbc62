//! The markdown of the comparisons in turns (`turns`): a table per
//! comparison, ratios against its first path, and the encryption targets.

use crate::cells::{cell, ratio};
use crate::net::Path;
use crate::results::{Measurement, Turns, TurnsFigures, OLD_NEW_TURNS, SECURITY_TURNS};

/// The comparisons in turns (`turns`): the price of encryption with its
/// targets, and this build against an older one when it was measured.
pub fn turns_tables(results: &[Measurement]) -> String {
    let mut md = String::new();
    let security = turns_named(results, SECURITY_TURNS);
    if let Some(t) = turns_table(&security, "The price of encryption") {
        md.push_str(&t);
        md.push_str(&security_verdicts(&security));
    }
    if let Some(t) = turns_table(
        &turns_named(results, OLD_NEW_TURNS),
        "Before and after: the other build's daemons (batched_old) against this one's, security off",
    ) {
        md.push_str(&t);
    }
    md
}

/// The comparisons in turns among `results` labelled `label`.
pub fn turns_named<'a>(results: &'a [Measurement], label: &str) -> Vec<&'a Turns> {
    results
        .iter()
        .filter_map(|r| match r {
            Measurement::Turns(t) if t.path == label => Some(t),
            _ => None,
        })
        .collect()
}

/// The markdown of the comparisons `runs`: one row per hop count and
/// path, with ratios against the first path. `None` if there are none.
pub fn turns_table(runs: &[&Turns], title: &str) -> Option<String> {
    if runs.is_empty() {
        return None;
    }
    let mut md = format!(
        "\n{title} (medians of the rounds; paths measured in turns):\n\n\
         | Hops | path | TCP Mbit/s | ÷ first | retransmits | daemons µs per segment | 64 B UDP reaching the host, pkt/s | ÷ first | idle ping median / p99 ms | added µs |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---|---:|\n"
    );
    for run in runs {
        let Some(first) = run.paths.first() else {
            continue;
        };
        let reference = run.of(first);
        for name in &run.paths {
            let v = run.of(name);
            let c = compare(v, reference);
            md.push_str(&format!(
                "| {} | {name} | {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
                run.hops,
                cell(c.tcp, 0),
                ratio(c.tcp, c.tcp_ref),
                v.map_or("null".into(), |v| v.tcp_retransmits.to_string()),
                cell(v.and_then(|v| v.daemons_median_us_per_segment), 2),
                cell(c.udp, 0),
                ratio(c.udp, c.udp_ref),
                cell(v.and_then(|v| v.ping_idle_median_ms), 3),
                cell(v.and_then(|v| v.ping_idle_p99_ms), 3),
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

/// `v` beside `reference` (either missing if that path was not measured).
fn compare(v: Option<&TurnsFigures>, reference: Option<&TurnsFigures>) -> Compared {
    let ping = |x: Option<&TurnsFigures>| x.and_then(|x| x.ping_idle_median_ms);
    let tcp = |x: Option<&TurnsFigures>| x.and_then(|x| x.tcp_median_mbps);
    let udp = |x: Option<&TurnsFigures>| x.and_then(|x| x.udp64_arrived_median_pps);
    Compared {
        tcp: tcp(v),
        tcp_ref: tcp(reference),
        udp: udp(v),
        udp_ref: udp(reference),
        added_us: ping(v).zip(ping(reference)).map(|(a, b)| (a - b) * 1e3),
    }
}

/// The encryption targets (TCP ≥ 0.9x, 64 B UDP ≥ 0.8x of security off,
/// ping added ≤ 10 µs), each met or missed, as markdown lines.
pub fn security_verdicts(runs: &[&Turns]) -> String {
    let mut md = String::from("\nTargets (TCP ≥ 0.9x, 64 B UDP ≥ 0.8x, ping added ≤ 10 µs):\n\n");
    let mark = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    };
    let x = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}x"));
    for run in runs {
        let off = run.of(Path::Batched.name());
        for p in [Path::Encrypted, Path::EncryptedPq] {
            let c = compare(run.of(p.name()), off);
            let tr = c.tcp.zip(c.tcp_ref).map(|(a, b)| a / b);
            let ur = c.udp.zip(c.udp_ref).map(|(a, b)| a / b);
            md.push_str(&format!(
                "- {} hop(s), {}: TCP {} ({}), UDP {} ({}), ping {} ({})\n",
                run.hops,
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
