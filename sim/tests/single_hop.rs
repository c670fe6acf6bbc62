//! Single-hop behaviour of the real state machines on the simulated radio.

use common::counters::{Counters, DropReason};
use protocol::params::RoutingConfig;
use sim::{addr, ipv4_packet, Sim};
use std::time::Duration;

fn star(obus: usize) -> Sim {
    let mut s = Sim::new(RoutingConfig::default());
    let r = s.add_rsu();
    for _ in 0..obus {
        let o = s.add_obu();
        s.link(r, o);
    }
    for a in 1..=obus {
        for b in a + 1..=obus {
            s.link(a, b);
        }
    }
    s
}

#[test]
fn obu_attaches_within_one_beacon_interval_and_rsu_learns_its_address() {
    let mut s = star(1);
    let t = s
        .run_until(Duration::from_millis(500), |s| s.upstream(1).is_some())
        .expect("attached");
    assert!(t <= Duration::from_millis(115), "took {t:?}");
    assert_eq!(s.upstream(1), Some((0, 0, 1)));
    s.run_for(Duration::from_millis(10));
    let rsu = s.nodes[0].rsu().unwrap();
    let (obu, route) = rsu
        .routes()
        .lookup_addr(&addr(1))
        .expect("route to the OBU's address");
    assert_eq!(obu, s.nodes[1].mac);
    assert_eq!(route.next_hop, s.nodes[1].mac);
    assert_eq!(route.hops, 1);
}

#[test]
fn data_flows_both_ways_and_unknown_destinations_are_counted() {
    let mut s = star(1);
    s.run_for(Duration::from_millis(300));
    let up = ipv4_packet(addr(1), "192.0.2.9".parse().unwrap(), 7, 100);
    s.send_ip(1, &up);
    s.run_for(Duration::from_millis(5));
    assert_eq!(
        s.nodes[0].tun_out,
        vec![up.clone()],
        "upstream reaches the RSU's TUN"
    );
    let down = ipv4_packet("192.0.2.9".parse().unwrap(), addr(1), 8, 100);
    s.send_ip(0, &down);
    s.run_for(Duration::from_millis(5));
    assert_eq!(
        s.nodes[1].tun_out,
        vec![down],
        "downstream reaches the OBU's TUN"
    );
    let nowhere = ipv4_packet(
        "192.0.2.9".parse().unwrap(),
        "10.200.0.1".parse().unwrap(),
        9,
        10,
    );
    s.send_ip(0, &nowhere);
    assert_eq!(s.nodes[0].counters.drops(DropReason::NoRoute), 1);
    // Not an IP packet at all.
    s.send_ip(0, &[0x12; 30]);
    assert_eq!(s.nodes[0].counters.drops(DropReason::NotIp), 1);
}

#[test]
fn obu_without_upstream_drops_and_counts() {
    let mut s = Sim::new(RoutingConfig::default());
    let o = s.add_obu();
    s.run_for(Duration::from_millis(50));
    s.send_ip(
        o,
        &ipv4_packet(addr(o), "192.0.2.1".parse().unwrap(), 1, 10),
    );
    assert_eq!(s.nodes[o].counters.drops(DropReason::NoRoute), 1);
    // Only control went out (a solicit for beacons), no data.
    assert_eq!(s.nodes[o].frames_sent, s.nodes[o].control_frames_sent);
    assert_eq!(s.nodes[o].airtime_us[1], 0);
}

#[test]
fn v2v_is_turned_around_at_the_rsu_without_touching_its_tun() {
    let mut s = Sim::new(RoutingConfig::default());
    let r = s.add_rsu();
    let a = s.add_obu();
    let b = s.add_obu();
    s.link(r, a);
    s.link(r, b); // a and b do not hear each other
    s.run_for(Duration::from_millis(300));
    let p = ipv4_packet(addr(a), addr(b), 3, 64);
    s.send_ip(a, &p);
    s.run_for(Duration::from_millis(5));
    assert_eq!(s.nodes[b].tun_out, vec![p]);
    assert!(
        s.nodes[r].tun_out.is_empty(),
        "RSU TUN must not see V2V traffic"
    );
    assert_eq!(Counters::get(&s.nodes[r].counters.v2v_turnaround), 1);
}

#[test]
fn broadcast_reaches_each_neighbour_exactly_once() {
    let mut s = star(3);
    s.run_for(Duration::from_millis(300));
    let p = ipv4_packet(addr(1), "255.255.255.255".parse().unwrap(), 4, 20);
    s.send_ip(1, &p);
    s.run_for(Duration::from_millis(20));
    for n in [0, 2, 3] {
        assert_eq!(s.nodes[n].tun_out, vec![p.clone()], "node {n}");
    }
    assert!(s.nodes[1].tun_out.is_empty(), "sender does not hear itself");
}

#[test]
fn broadcast_with_ttl_is_relayed_once_and_deduplicated() {
    let mut s = Sim::new(RoutingConfig {
        broadcast_ttl: 3,
        ..RoutingConfig::default()
    });
    let r = s.add_rsu();
    let a = s.add_obu();
    let b = s.add_obu();
    let c = s.add_obu();
    // A triangle of OBUs plus the RSU hearing a: copies arrive twice.
    s.link(r, a);
    s.link(a, b);
    s.link(b, c);
    s.link(a, c);
    s.run_for(Duration::from_millis(300));
    let p = ipv4_packet(addr(c), "224.0.0.251".parse().unwrap(), 5, 20);
    s.send_ip(c, &p);
    s.run_for(Duration::from_millis(20));
    for n in [r, a, b] {
        assert_eq!(s.nodes[n].tun_out, vec![p.clone()], "node {n} gets it once");
    }
    let dups: u64 = s
        .nodes
        .iter()
        .map(|n| n.counters.drops(DropReason::Duplicate))
        .sum();
    assert!(dups > 0, "duplicates were seen and suppressed");
}

#[test]
fn garbage_frames_are_counted_never_panic() {
    let mut s = star(1);
    s.run_for(Duration::from_millis(300));
    let before: u64 = DropReason::ALL
        .iter()
        .map(|r| s.nodes[1].counters.drops(*r))
        .sum();
    // Frames with our EtherType but truncated or corrupt bodies.
    let own = s.nodes[1].mac;
    let mut f = vec![0u8; 14];
    f[0..6].copy_from_slice(own.as_bytes());
    f[6..12].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    for body in [
        vec![1u8, 3, 0, 5, 0, 200],
        vec![9u8, 1, 0, 1, 0, 0],
        vec![1u8, 77, 0, 1, 0, 1, 0],
    ] {
        let mut frame = f.clone();
        frame.extend(body);
        let mut out = Vec::new();
        use protocol::role::Role;
        if let sim::Machine::Obu(o) = &mut s.nodes[1].machine {
            o.on_frame(s.now, 0, &mut frame.clone(), &mut out);
            o.on_frame(s.now, 0, &mut frame[..10], &mut out);
        }
        assert!(out.is_empty());
    }
    let after: u64 = DropReason::ALL
        .iter()
        .map(|r| s.nodes[1].counters.drops(*r))
        .sum();
    assert_eq!(after - before, 6);
}
