//! Control traffic against density, before (a reply to every beacon,
//! every beacon rebroadcast) and after (replies every `reply_interval_ms`,
//! suppressed rebroadcasts): the table in docs/BENCHMARKS.md.
//!
//!     cargo run --release -p sim --example density [N ...]

use protocol::params::RoutingConfig;
use sim::density::{measure, Road};
use std::time::Duration;

fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() {
        vec![10, 50, 100, 250, 1000]
    } else {
        ns
    };
    let before = RoutingConfig {
        reply_interval_ms: 0,
        suppress_rebroadcasts: false,
        ..RoutingConfig::default()
    };
    let after = RoutingConfig::default();
    let highway = Road::Highway {
        length_m: 4000,
        rsu_every_m: 1000,
        range_m: 300,
    };
    println!("| road | N | rules | control frames/s per OBU (mean / max) | control bytes/s per OBU | control airtime share at 6 Mbit/s (busiest node) | rebroadcasts per beacon | beacon copies heard/s per OBU | attached / reachable |");
    println!("|---|---:|---|---|---:|---:|---:|---:|---|");
    for (name, road) in [("one domain", Road::OneDomain), ("highway 4 km", highway)] {
        for &n in &ns {
            for (rules, r) in [("before", &before), ("after", &after)] {
                // Big "before" runs are n² deliveries per beacon: shorter.
                let secs = if n >= 500 && rules == "before" { 2 } else { 10 };
                let rep = measure(
                    road,
                    n,
                    r.clone(),
                    Duration::from_secs(3),
                    Duration::from_secs(secs),
                );
                println!(
                    "| {name} | {n} | {rules} | {:.2} / {:.1} | {:.0} | {:.1} % | {:.2} | {:.0} | {} / {} |",
                    rep.frames_per_obu.0,
                    rep.frames_per_obu.1,
                    rep.bytes_per_obu,
                    rep.control_airtime_share * 100.0,
                    rep.rebroadcasts_per_beacon,
                    rep.beacons_heard_per_obu,
                    rep.attached,
                    rep.reachable
                );
            }
        }
    }
}
