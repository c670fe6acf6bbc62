//! Recovery: every fault heals by itself, fast, in every security mode.

use std::time::Duration;
use testbed::{epoch_now, reply_times, require_testbed, NodeOptions, Testbed, Topology};

fn opts(mode: Option<&str>) -> NodeOptions {
    NodeOptions {
        security: mode.map(str::to_string),
        ..NodeOptions::default()
    }
}

/// Kills `victim` with SIGKILL while `pinger` pings `target` every 10 ms,
/// starts it again, and returns the seconds from the restart to the first
/// reply (None: no reply within `window`).
fn restart_gap(
    tb: &mut Testbed,
    victim: usize,
    pinger: usize,
    target: &str,
    window: u64,
) -> Option<f64> {
    let w = window.to_string();
    let h = tb.spawn_in(
        pinger,
        &[
            "ping", "-D", "-n", "-i", "0.01", "-W", "1", "-w", &w, target,
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    tb.kill9(victim);
    std::thread::sleep(Duration::from_millis(200));
    let started = epoch_now();
    tb.restart(victim);
    let out = tb
        .wait_spawned(h, Duration::from_secs(window + 5))
        .unwrap_or_default();
    reply_times(&out)
        .into_iter()
        .find(|t| *t > started)
        .map(|t| t - started)
}

#[test]
fn experiment() {
    require_testbed!();
    for mode in [None, Some("authenticated"), Some("encrypted")] {
        for victim in [0usize, 1] {
            let mut tb = Testbed::new(&Topology::star(1));
            tb.start_all(&opts(mode));
            tb.wait_ready(Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1500));
            let rsu4 = tb.nodes[0].addr4.clone();
            let gap = restart_gap(&mut tb, victim, 1, &rsu4, 8);
            eprintln!("mode {mode:?} victim {victim}: {gap:?}");
        }
    }
}
