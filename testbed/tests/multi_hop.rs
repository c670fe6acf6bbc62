//! Multi-hop routing with real daemons in namespaces: relaying, failover
//! gap, no flapping, several RSUs, V2V, broadcast, and a 20-node network.

use std::time::{Duration, Instant};
use testbed::{
    epoch_now, longest_gap, reply_times, require_testbed, NodeOptions, Role, Testbed, Topology,
};

fn sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn obu_out_of_range_reaches_the_rsu_through_a_relay() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::chain(3));
    tb.start_all(&NodeOptions::default());
    tb.wait_ready(Duration::from_secs(15));
    let far = 3;
    assert_eq!(tb.upstream(far), Some((0, 2)), "far OBU goes via obu2");
    assert_eq!(tb.api_json(far, "/api/v1/routes")["upstream"]["hops"], 3);
    for (from, to) in [(far, 0), (0, far)] {
        for a in [tb.nodes[to].addr4.clone(), tb.nodes[to].addr6.clone()] {
            let r = tb.ping(from, &a, 10, "0.05");
            assert_eq!(r.received, 10, "{} -> {a}: {r:?}", tb.nodes[from].name);
        }
    }
    // Every relay and the RSU learned the far OBU's route from its replies.
    let rsu_routes = tb.api_json(0, "/api/v1/routes");
    let far_mac = tb.nodes[far].mac.clone();
    let entry = rsu_routes["obus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == far_mac.as_str())
        .cloned()
        .expect("RSU route");
    assert_eq!(entry["next_hop"], tb.nodes[1].mac.as_str());
    assert_eq!(entry["hops"], 3);
    for relay in [1, 2] {
        let d = tb.api_json(relay, "/api/v1/routes")["downstream"].to_string();
        assert!(d.contains(&far_mac), "relay {relay}: {d}");
    }
    assert!(tb.stat(1, "routing", "relayed") >= 40);
}

#[test]
fn failover_gap_stays_under_timeout_plus_two_intervals_then_no_flapping() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::diamond());
    let opts = NodeOptions::default();
    let limit = (opts.beacon_interval_ms * 3 + 2 * opts.beacon_interval_ms) as f64 / 1000.0;
    tb.start_all(&opts);
    tb.wait_ready(Duration::from_secs(15));
    let (rsu, far) = (0, 3);
    let cuts = 5;
    let secs = (cuts * 3 + 3).to_string();
    let rsu_addr = tb.nodes[rsu].addr4.clone();
    let ping = tb.spawn_in(
        far,
        &[
            "ping", "-n", "-D", "-i", "0.01", "-W", "1", "-w", &secs, &rsu_addr,
        ],
    );
    sleep(1000);
    let mut windows = Vec::new();
    for _ in 0..cuts {
        let (_, relay) = tb.upstream(far).expect("far has an upstream");
        let t0 = epoch_now();
        tb.cut(relay, far);
        sleep(1500);
        let (_, now_via) = tb.upstream(far).expect("failed over");
        assert_ne!(now_via, relay, "still on the cut relay");
        let t1 = epoch_now();
        tb.restore(relay, far);
        windows.push((t0, t1));
        sleep(1000);
    }
    let out = tb
        .wait_spawned(ping, Duration::from_secs(30))
        .expect("ping finished");
    let times = reply_times(&out);
    let mut gaps: Vec<f64> = windows
        .iter()
        .map(|&(t0, t1)| longest_gap(&times, t0 - 0.1, t1))
        .collect();
    gaps.sort_by(|a, b| a.partial_cmp(b).unwrap());
    eprintln!(
        "failover gaps over {cuts} cuts: min {:.0} ms, median {:.0} ms, max {:.0} ms (limit {:.0} ms)",
        gaps[0] * 1e3,
        gaps[gaps.len() / 2] * 1e3,
        gaps[gaps.len() - 1] * 1e3,
        limit * 1e3
    );
    for g in &gaps {
        assert!(
            *g > 0.0 && *g < limit,
            "gap {g:.3}s not under {limit:.3}s; all {gaps:?}"
        );
    }
    // Links back, topology stable: count upstream changes over 30 s.
    sleep(1000);
    let before: Vec<u64> = (1..=3)
        .map(|i| tb.stat(i, "routing", "upstream_changes"))
        .collect();
    sleep(30_000);
    let after: Vec<u64> = (1..=3)
        .map(|i| tb.stat(i, "routing", "upstream_changes"))
        .collect();
    assert_eq!(
        before, after,
        "upstream changes during 30 s of stable topology"
    );
}

#[test]
fn obu_stays_with_one_of_two_rsus_and_moves_when_it_goes_silent() {
    require_testbed!();
    let mut tb = Testbed::new(&Topology::two_rsus());
    tb.start_all(&NodeOptions::default());
    tb.wait_ready(Duration::from_secs(15));
    let obu = 2;
    let (first, _) = tb.upstream(obu).unwrap();
    let changes = tb.stat(obu, "routing", "upstream_changes");
    sleep(3000);
    assert_eq!(
        tb.upstream(obu).unwrap().0,
        first,
        "stays while both RSUs are fine"
    );
    assert_eq!(tb.stat(obu, "routing", "upstream_changes"), changes);
    let r = tb.ping(obu, &tb.nodes[first].addr4.clone(), 5, "0.05");
    assert_eq!(r.received, 5);
    let second = 1 - first;
    tb.cut(first, obu);
    let t = Instant::now();
    while tb.upstream(obu).map(|u| u.0) != Some(second) {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "did not move to the other RSU"
        );
        sleep(10);
    }
    eprintln!("moved to the other RSU after {:?}", t.elapsed());
    let r = tb.ping(obu, &tb.nodes[second].addr4.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "{r:?}");
    // The RSU it left forgets it once the route times out (2 reply
    // intervals + a neighbour timeout).
    sleep(2600);
    let left = tb.api_json(first, "/api/v1/routes");
    assert_eq!(left["obus"].as_array().unwrap().len(), 0, "{left}");
}

#[test]
fn v2v_is_turned_around_at_the_rsu_and_at_a_relay() {
    require_testbed!();
    let mut topo = Topology::new();
    let rsu = topo.node("rsu", Role::Rsu);
    let o1 = topo.node("obu1", Role::Obu);
    let o2 = topo.node("obu2", Role::Obu);
    let o3 = topo.node("obu3", Role::Obu);
    let o4 = topo.node("obu4", Role::Obu);
    topo.link(rsu, o1).link(o1, o2).link(rsu, o3).link(o1, o4);
    let mut tb = Testbed::new(&topo);
    tb.start_all(&NodeOptions::default());
    tb.wait_ready(Duration::from_secs(15));
    // obu2 (2 hops) <-> obu3 (1 hop): turned around at the RSU.
    let v2v0 = tb.stat(rsu, "routing", "v2v_turnaround");
    let tun0 = tb.stat(rsu, "tun", "tx_packets");
    let r = tb.ping(o2, &tb.nodes[o3].addr4.clone(), 20, "0.02");
    assert_eq!(r.received, 20, "{r:?}");
    let v2v = tb.stat(rsu, "routing", "v2v_turnaround") - v2v0;
    let tun = tb.stat(rsu, "tun", "tx_packets") - tun0;
    assert!(v2v >= 40, "RSU turned around {v2v}");
    assert!(tun < 10, "RSU TUN got {tun} packets: V2V must not touch it");
    // obu2 <-> obu4, both children of obu1: turned around at obu1.
    let v2v1 = tb.stat(rsu, "routing", "v2v_turnaround");
    let relayed0 = tb.stat(o1, "routing", "relayed");
    let r = tb.ping(o2, &tb.nodes[o4].addr6.clone(), 20, "0.02");
    assert_eq!(r.received, 20, "{r:?}");
    assert_eq!(
        tb.stat(rsu, "routing", "v2v_turnaround"),
        v2v1,
        "RSU not involved"
    );
    assert!(tb.stat(o1, "routing", "relayed") - relayed0 >= 40);
}

fn broadcast_once(ttl: u8) {
    let mut tb = Testbed::new(&Topology::chain(3));
    tb.start_all(&NodeOptions {
        broadcast_ttl: ttl,
        ..NodeOptions::default()
    });
    tb.wait_ready(Duration::from_secs(15));
    let port = 47000 + ttl as u16;
    let listeners: Vec<_> = [0, 1, 3]
        .iter()
        .map(|&i| (i, tb.udp_listen(i, port, Duration::from_millis(1500))))
        .collect();
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|k| vec![0xb0, k, ttl]).collect();
    // obu2 sends to the subnet broadcast address.
    tb.udp_send(2, "10.42.255.255", port, &payloads)
        .expect("send broadcast");
    for (i, h) in listeners {
        let got = h.join().unwrap().expect("listener");
        let mine: Vec<_> = got
            .iter()
            .filter(|p| p.len() == 3 && p[0] == 0xb0 && p[2] == ttl)
            .collect();
        let hops_away = if i == 0 { 2 } else { 1 };
        let expect = if hops_away <= ttl { 5 } else { 0 };
        assert_eq!(
            mine.len(),
            expect,
            "node {} ({hops_away} hops, ttl {ttl}) got {got:?}",
            tb.nodes[i].name
        );
    }
}

#[test]
fn broadcast_reaches_neighbours_exactly_once_with_ttl_1() {
    require_testbed!();
    broadcast_once(1);
}

#[test]
fn broadcast_with_ttl_2_reaches_two_hops_exactly_once() {
    require_testbed!();
    broadcast_once(2);
}

#[test]
fn twenty_node_network_converges_and_pings_end_to_end() {
    require_testbed!();
    let topo = Topology::chain_with_branches(7, 20);
    assert_eq!(topo.nodes.len(), 20);
    let mut tb = Testbed::new(&topo);
    let t = Instant::now();
    tb.start_all(&NodeOptions::default());
    tb.wait_ready(Duration::from_secs(60));
    eprintln!("20 nodes ready after {:?}", t.elapsed());
    // The deepest leaf hangs off obu7: 8 hops from the RSU.
    let deep = (8..20)
        .find(|&i| topo.hears(7, i))
        .expect("a leaf under obu7");
    assert_eq!(tb.api_json(deep, "/api/v1/routes")["upstream"]["hops"], 8);
    let r = tb.ping(deep, &tb.nodes[0].addr4.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "deep leaf -> RSU: {r:?}");
    let r = tb.ping(0, &tb.nodes[deep].addr6.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "RSU -> deep leaf: {r:?}");
    let shallow = (8..20)
        .find(|&i| topo.hears(1, i))
        .expect("a leaf under obu1");
    let r = tb.ping(deep, &tb.nodes[shallow].addr4.clone(), 10, "0.05");
    assert_eq!(r.received, 10, "leaf -> leaf across the RSU: {r:?}");
    let routes = tb.api_json(0, "/api/v1/routes");
    assert_eq!(
        routes["obus"].as_array().unwrap().len(),
        19,
        "RSU knows every OBU"
    );
}
