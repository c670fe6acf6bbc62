//! Multi-hop routing on the simulated radio: relaying, failover, several
//! RSUs, V2V at different depths, no flapping.

use common::counters::{Counters, DropReason};
use protocol::params::RoutingConfig;
use sim::{addr, ipv4_packet, Sim};
use std::time::Duration;

fn routing() -> RoutingConfig {
    RoutingConfig::default()
}

/// Whether a packet from `from` to `to`'s address arrives at `to`'s TUN.
fn delivers(s: &mut Sim, from: usize, to: usize, marker: u8) -> bool {
    let p = ipv4_packet(addr(from), addr(to), marker, 32);
    s.send_ip(from, &p);
    s.run_for(Duration::from_millis(20));
    s.nodes[to].tun_out.contains(&p)
}

#[test]
fn chain_of_relays_converges_and_carries_traffic_both_ways() {
    let mut s = Sim::new(routing());
    let r = s.add_rsu();
    let mut prev = r;
    let mut obus = Vec::new();
    for _ in 0..6 {
        let o = s.add_obu();
        s.link(prev, o);
        obus.push(o);
        prev = o;
    }
    let far = *obus.last().unwrap();
    let t = s
        .run_until(Duration::from_secs(2), |s| s.upstream(far).is_some())
        .expect("far OBU attached");
    assert!(t <= Duration::from_millis(3 * 110), "converged in {t:?}");
    assert_eq!(s.upstream(far).unwrap().2, 6, "six hops");
    s.run_for(Duration::from_millis(50));
    assert!(delivers(&mut s, far, r, 1), "far -> RSU");
    assert!(delivers(&mut s, r, far, 2), "RSU -> far");
    // Each relay learned the far OBU downstream.
    for o in &obus[..5] {
        assert!(
            s.nodes[*o]
                .obu()
                .unwrap()
                .downstream()
                .lookup_addr(&addr(far))
                .is_some(),
            "relay {o}"
        );
    }
}

#[test]
fn beacons_stop_at_max_hops() {
    let mut s = Sim::new(RoutingConfig {
        max_hops: 3,
        ..routing()
    });
    let r = s.add_rsu();
    let mut prev = r;
    for _ in 0..5 {
        let o = s.add_obu();
        s.link(prev, o);
        prev = o;
    }
    s.run_for(Duration::from_secs(1));
    assert!(s.upstream(3).is_some());
    assert!(s.upstream(4).is_none(), "4 hops > max_hops 3");
    assert!(s.upstream(5).is_none());
}

/// RSU, relays a and b (both hear the RSU and the far OBU), far OBU f.
fn diamond() -> (Sim, usize, usize, usize, usize) {
    let mut s = Sim::new(routing());
    let r = s.add_rsu();
    let a = s.add_obu();
    let b = s.add_obu();
    let f = s.add_obu();
    s.link(r, a);
    s.link(r, b);
    s.link(a, f);
    s.link(b, f);
    s.run_for(Duration::from_secs(1));
    (s, r, a, b, f)
}

#[test]
fn failover_to_the_other_relay_within_timeout_plus_two_intervals() {
    let (mut s, r, a, b, f) = diamond();
    let (_, active, hops) = s.upstream(f).expect("attached");
    assert_eq!(hops, 2);
    let other = if active == a { b } else { a };
    s.cut(active, f);
    let cut_at = s.now;
    // Send a packet every ms; find when they reach the RSU again.
    let mut resumed = None;
    for k in 0..1000u32 {
        let p = ipv4_packet(addr(f), "192.0.2.1".parse().unwrap(), (k % 250) as u8, 8);
        let before = s.nodes[r].tun_out.len();
        s.send_ip(f, &p);
        s.run_for(Duration::from_millis(3));
        if k > 0 && s.nodes[r].tun_out.len() > before && s.upstream(f).map(|u| u.1) == Some(other) {
            resumed = Some(s.now.since(cut_at));
            break;
        }
    }
    let gap = resumed.expect("traffic resumed");
    let limit = Duration::from_millis(300 + 2 * 100);
    assert!(gap < limit, "gap {gap:?} >= {limit:?}");
    // Downstream follows too: the RSU's route now goes via the other relay.
    s.run_for(Duration::from_millis(5));
    let (_, route) = s.nodes[r]
        .rsu()
        .unwrap()
        .routes()
        .lookup_addr(&addr(f))
        .unwrap();
    assert_eq!(route.next_hop, s.nodes[other].mac);
    assert!(delivers(&mut s, r, f, 77));
}

#[test]
fn stable_topology_never_flaps() {
    let (mut s, _, a, b, f) = diamond();
    let before: Vec<u64> = [a, b, f]
        .iter()
        .map(|&n| Counters::get(&s.nodes[n].counters.upstream_changes))
        .collect();
    s.run_for(Duration::from_secs(30));
    let after: Vec<u64> = [a, b, f]
        .iter()
        .map(|&n| Counters::get(&s.nodes[n].counters.upstream_changes))
        .collect();
    assert_eq!(
        before, after,
        "upstream changes during 30 s of stable topology"
    );
}

#[test]
fn link_restored_after_failover_causes_no_flapping() {
    let (mut s, _, _, _, f) = diamond();
    let (_, active, _) = s.upstream(f).unwrap();
    s.cut(active, f);
    s.run_for(Duration::from_secs(1));
    s.link(active, f);
    s.run_for(Duration::from_secs(2));
    let c = Counters::get(&s.nodes[f].counters.upstream_changes);
    s.run_for(Duration::from_secs(30));
    assert_eq!(
        Counters::get(&s.nodes[f].counters.upstream_changes),
        c,
        "flapped after restore"
    );
}

#[test]
fn obu_stays_with_its_rsu_then_moves_when_it_goes_silent_and_old_rsu_forgets() {
    let mut s = Sim::new(routing());
    let r1 = s.add_rsu();
    let r2 = s.add_rsu();
    let o = s.add_obu();
    s.link(r1, o);
    s.link(r2, o);
    s.run_for(Duration::from_secs(1));
    let (first, _, _) = s.upstream(o).expect("attached");
    let changes = Counters::get(&s.nodes[o].counters.upstream_changes);
    s.run_for(Duration::from_secs(10));
    assert_eq!(s.upstream(o).unwrap().0, first, "stays while both are fine");
    assert_eq!(
        Counters::get(&s.nodes[o].counters.upstream_changes),
        changes
    );
    let second = if first == r1 { r2 } else { r1 };
    s.cut(first, o);
    let t = s
        .run_until(Duration::from_secs(2), |s| {
            s.upstream(o).map(|u| u.0) == Some(second)
        })
        .expect("moved");
    assert!(
        t < Duration::from_millis(300 + 2 * 100),
        "moved after {t:?}"
    );
    assert!(delivers(&mut s, o, second, 9));
    // The RSU it left forgets it once the route expires.
    s.run_for(routing().route_timeout());
    assert!(s.nodes[first]
        .rsu()
        .unwrap()
        .routes()
        .lookup_addr(&addr(o))
        .is_none());
}

#[test]
fn v2v_at_different_depths_and_turnaround_at_a_relay() {
    let mut s = Sim::new(routing());
    let r = s.add_rsu();
    let a = s.add_obu(); // relay
    let b = s.add_obu(); // child of a
    let d = s.add_obu(); // another child of a
    let c = s.add_obu(); // direct under the RSU
    s.link(r, a);
    s.link(a, b);
    s.link(a, d);
    s.link(r, c);
    s.run_for(Duration::from_secs(1));
    // b (2 hops) <-> c (1 hop): through the RSU, not its TUN.
    assert!(delivers(&mut s, b, c, 1));
    assert!(delivers(&mut s, c, b, 2));
    assert!(s.nodes[r].tun_out.is_empty());
    assert_eq!(Counters::get(&s.nodes[r].counters.v2v_turnaround), 2);
    // b <-> d, both children of a: turned around at a, the RSU never sees it.
    let rx_before = s.nodes[r]
        .counters
        .link_rx_messages
        .load(std::sync::atomic::Ordering::Relaxed);
    let p = ipv4_packet(addr(b), addr(d), 3, 32);
    s.send_ip(b, &p);
    s.run_for(Duration::from_millis(5));
    assert_eq!(s.nodes[d].tun_out, vec![p]);
    assert_eq!(Counters::get(&s.nodes[r].counters.v2v_turnaround), 2);
    let rx_after = s.nodes[r]
        .counters
        .link_rx_messages
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        rx_after - rx_before <= 3,
        "only control traffic reached the RSU"
    );
    // A relay delivers data for its own address directly.
    assert!(delivers(&mut s, b, a, 4));
    assert_eq!(s.nodes[r].counters.drops(DropReason::Loop), 0);
}

#[test]
fn ttl_stops_forwarding_and_nothing_goes_back_where_it_came_from() {
    use common::action::{Action, Payload, Source};
    use common::wire::MessageType;
    let mut s = Sim::new(routing());
    let r = s.add_rsu();
    let a = s.add_obu();
    let b = s.add_obu();
    s.link(r, a);
    s.link(a, b);
    s.run_for(Duration::from_secs(1));
    let ip = ipv4_packet(addr(b), "192.0.2.1".parse().unwrap(), 1, 8);
    let (amac, bmac, rmac) = (s.nodes[a].mac, s.nodes[b].mac, s.nodes[r].mac);
    let data = |ttl: u8, dest| Action::SendData {
        next_hop: amac,
        kind: MessageType::DataUp,
        ttl,
        origin: bmac,
        dest,
        payload: Payload {
            source: Source::Tun,
            slot: 0,
            offset: 0,
            len: ip.len() as u16,
        },
        sealing: Default::default(),
    };
    // TTL 1 arriving at a relay: dropped and counted, not forwarded.
    let f = s.frame_for(b, &data(1, rmac), &ip);
    let sent = s.nodes[a].frames_sent;
    s.inject_frame(a, &f);
    assert_eq!(s.nodes[a].counters.drops(DropReason::TtlExpired), 1);
    assert_eq!(s.nodes[a].frames_sent, sent);
    // TTL 2: forwarded with TTL 1 and reaches the RSU.
    let f = s.frame_for(b, &data(2, rmac), &ip);
    s.inject_frame(a, &f);
    s.run_for(Duration::from_millis(5));
    assert_eq!(s.nodes[r].tun_out.last(), Some(&ip));
    // Upstream data that arrives from a's own upstream would go straight
    // back: dropped as a loop.
    let f = s.frame_for(r, &data(9, rmac), &ip);
    s.inject_frame(a, &f);
    assert_eq!(s.nodes[a].counters.drops(DropReason::Loop), 1);
}

#[test]
fn one_rsu_serves_a_thousand_obus() {
    let mut s = Sim::new(routing());
    let r = s.add_rsu();
    for _ in 0..1000 {
        let o = s.add_obu();
        s.link(r, o);
    }
    let t = s
        .run_until(Duration::from_secs(1), |s| {
            s.nodes[r].rsu().unwrap().routes().len() == 1000
        })
        .expect("all 1000 attached");
    assert!(t <= Duration::from_millis(3 * 110), "{t:?}");
    for o in [1, 500, 1000] {
        assert!(delivers(&mut s, r, o, 1), "RSU -> OBU {o}");
    }
}
