//! The markdown of the comparisons in turns (`turns`): a table per
//! comparison, ratios against its first path, and the encryption targets.

use crate::cells::{cell, ratio};
use crate::measure::f;
use crate::net::Path;
use serde_json::Value;

/// The comparisons in turns (`turns`): the price of encryption with its
/// targets, and this build against an older one when it was measured.
pub fn turns_tables(results: &[Value]) -> String {
    let mut md = String::new();
    if let Some(t) = turns_table(results, "security_turns", "The price of encryption") {
        md.push_str(&t);
        md.push_str(&security_verdicts(results, "security_turns"));
    }
    if let Some(t) = turns_table(
        results,
        "old_new_turns",
        "Before and after: the other build's daemons (batched_old) against this one's, security off",
    ) {
        md.push_str(&t);
    }
    md
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
