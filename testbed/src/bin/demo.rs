//! The demo: an RSU and two OBUs in network namespaces (obu2 out of the
//! RSU's range, relayed by obu1), real traffic through them, then their
//! routes and counters. Run as root: `scripts/demo.sh`.

use std::time::Duration;
use testbed::{ns_output, NodeOptions, Role, Testbed, Topology};

fn show(tb: &Testbed, i: usize, what: &str) {
    let bin = testbed::bin_dir().join(tb.nodes[i].role.binary());
    let out = ns_output(
        &tb.nodes[i].ns,
        &[bin.to_str().unwrap_or("obu"), "show", what],
    );
    println!(
        "$ {} show {what}    # in {}\n{}{}",
        tb.nodes[i].role.binary(),
        tb.nodes[i].name,
        out.stdout,
        out.stderr
    );
}

fn main() {
    if let Err(why) = testbed::available() {
        eprintln!("demo cannot run: {why}");
        std::process::exit(1);
    }
    let mut topo = Topology::new();
    let rsu = topo.node("rsu", Role::Rsu);
    let obu1 = topo.node("obu1", Role::Obu);
    let obu2 = topo.node("obu2", Role::Obu);
    topo.link(rsu, obu1).link(obu1, obu2);
    println!("== topology: rsu <-> obu1 <-> obu2 (obu2 cannot hear the rsu)\n");
    let mut tb = Testbed::new(&topo);
    // Every node gets its own key pair from the daemons' `keygen`; OBUs
    // trust the RSU's key, the RSU allows the OBUs' keys.
    tb.ensure_keys();
    println!("== security: encrypted; keys made with `obu keygen` / `rsu keygen`:");
    for (n, k) in tb.nodes.iter().zip(&tb.keys) {
        println!("{:5} {k}", n.name);
    }
    tb.start_all(&NodeOptions {
        security: Some(testbed::SecurityMode::Encrypted),
        ..NodeOptions::default()
    });
    tb.wait_ready(Duration::from_secs(15));
    // Attached; now wait for both OBUs' sessions with the RSU.
    for _ in 0..100 {
        if (1..=2).all(|i| tb.stat(i, "routing", "handshakes") >= 1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!();
    for n in &tb.nodes {
        println!(
            "{:5} ns={} mac={} tun v2x0 {} {}",
            n.name, n.ns, n.mac, n.addr4, n.addr6
        );
    }
    let addrs: Vec<String> = tb.nodes.iter().map(|n| n.addr4.clone()).collect();
    let addr = |i: usize| addrs[i].clone();
    for (from, to, label) in [
        (obu1, rsu, "obu1 -> rsu"),
        (obu2, rsu, "obu2 -> rsu (2 hops)"),
        (rsu, obu2, "rsu -> obu2"),
        (obu2, obu1, "obu2 -> obu1 (V2V)"),
    ] {
        let r = tb.ping(from, &addr(to), 20, "0.05");
        println!(
            "\n== ping {label}: {}/{} replies, avg rtt {:.3} ms",
            r.received,
            r.transmitted,
            r.rtt_avg_ms.unwrap_or(f64::NAN)
        );
    }
    let r = tb.ping(obu2, &tb.nodes[rsu].addr6.clone(), 10, "0.05");
    println!(
        "== ping6 obu2 -> rsu: {}/{} replies",
        r.received, r.transmitted
    );
    if testbed::which("iperf3").is_some() {
        let server = tb.spawn_in(rsu, &["iperf3", "-s", "-1", "-B", &addr(rsu)]);
        std::thread::sleep(Duration::from_millis(300));
        let out = ns_output(
            &tb.nodes[obu1].ns,
            &["iperf3", "-c", &addr(rsu), "-t", "3", "-J"],
        );
        tb.wait_spawned(server, Duration::from_secs(5));
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        let bps = v["end"]["sum_sent"]["bits_per_second"]
            .as_f64()
            .unwrap_or(0.0);
        println!("\n== iperf3 TCP obu1 -> rsu, 3 s: {:.1} Mbit/s", bps / 1e6);
    }
    println!();
    show(&tb, obu2, "routes");
    show(&tb, obu1, "routes");
    show(&tb, rsu, "routes");
    for i in [rsu, obu1, obu2] {
        show(&tb, i, "stats");
    }
    println!("== done; the testbed is removed now");
}
