//! A weak link at the edge of a cell: small sealed frames to a neighbour
//! heard below `[routing] repeat_below_pct` go twice, so a packet is lost
//! only if both copies are; the receiver drops the copy it does not need
//! by its counter (`duplicate`) and delivers each packet once.

use common::counters::{Counters, DropReason};
use common::wire::{Body, Messages, ETH_HEADER_LEN};
use common::NodeId;
use protocol::core::REPEAT_PER_S;
use protocol::params::{RoutingConfig, SecurityMode};
use protocol::role::Role;
use sim::{addr, ipv4_packet, Sim};
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

const RSU: usize = 0;
const OBU: usize = 1;
const PACKETS: u8 = 20;

fn server() -> IpAddr {
    "192.0.2.9".parse().unwrap()
}

fn pair(repeat_below_pct: u8) -> Sim {
    let mut s = Sim::new(RoutingConfig {
        repeat_below_pct,
        ..RoutingConfig::default()
    })
    .with_security(SecurityMode::Encrypted);
    let (r, o) = (s.add_rsu(), s.add_obu());
    s.link(r, o);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.upstream(o), Some((r, r, 1)), "attached");
    s
}

fn is_broadcast(bytes: &[u8]) -> bool {
    bytes.get(..6) == Some(&NodeId::BROADCAST.0[..])
}

fn carries_data(bytes: &[u8]) -> bool {
    Messages::new(&bytes[ETH_HEADER_LEN..])
        .any(|m| matches!(m, Ok(m) if matches!(m.body, Body::Data(_))))
}

fn repeated(s: &Sim, i: usize) -> u64 {
    Counters::get(&s.nodes[i].counters.link_repeated_frames)
}

fn copies_dropped(s: &Sim, i: usize) -> u64 {
    Counters::get(&s.nodes[i].counters.drops[DropReason::Duplicate as usize])
}

/// Runs `d` on a link where the OBU hears every other beacon of the RSU
/// (reception 50 %); with `lose_first_copy`, the first copy of every data
/// frame is lost on the air as well.
fn run_weak(s: &mut Sim, beacons: &mut u32, d: Duration, lose_first_copy: bool) {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let until = s.now + d;
    while s.now < until {
        s.drop_in_flight(|from, bytes| {
            if from == RSU && is_broadcast(bytes) {
                *beacons += 1;
                return beacons.is_multiple_of(2);
            }
            lose_first_copy && carries_data(bytes) && seen.insert(bytes.to_vec())
        });
        s.step();
    }
}

fn send_both_ways(s: &mut Sim, marker: u8) {
    s.send_ip(RSU, &ipv4_packet(server(), addr(OBU), marker, 100));
    s.send_ip(OBU, &ipv4_packet(addr(OBU), server(), marker, 100));
}

/// Sends [`PACKETS`] packets each way (markers from `first`), 50 ms apart,
/// on the weak link; the packets delivered (down at the OBU, up at the
/// RSU).
fn exchange(s: &mut Sim, beacons: &mut u32, first: u8, lose_first_copy: bool) -> (usize, usize) {
    let (down0, up0) = (s.nodes[OBU].tun_out.len(), s.nodes[RSU].tun_out.len());
    for k in 0..PACKETS {
        send_both_ways(s, first + k);
        run_weak(s, beacons, Duration::from_millis(50), lose_first_copy);
    }
    run_weak(s, beacons, Duration::from_millis(200), lose_first_copy);
    (
        s.nodes[OBU].tun_out.len() - down0,
        s.nodes[RSU].tun_out.len() - up0,
    )
}

/// With every first copy lost, each packet still arrives, once, both
/// ways; with both copies arriving, the second is dropped as a copy.
#[test]
fn a_weak_link_repeats_small_sealed_frames_and_delivers_each_packet_once() {
    let mut s = pair(80);
    let mut beacons = 0;
    // The OBU learns that it hears its RSU weakly and says so at once.
    run_weak(&mut s, &mut beacons, Duration::from_secs(3), false);
    let snap = s.nodes[RSU].rsu().unwrap().snapshot(s.now);
    let quality = snap.downstream[0].1.quality_pct;
    assert!(
        (30..80).contains(&quality),
        "reported reception {quality} %"
    );

    let (rep_rsu, rep_obu) = (repeated(&s, RSU), repeated(&s, OBU));
    let delivered = exchange(&mut s, &mut beacons, 0, true);
    assert_eq!(
        delivered,
        (PACKETS.into(), PACKETS.into()),
        "each packet once"
    );
    assert!(
        repeated(&s, RSU) - rep_rsu >= u64::from(PACKETS),
        "RSU repeated"
    );
    assert!(
        repeated(&s, OBU) - rep_obu >= u64::from(PACKETS),
        "OBU repeated"
    );

    // Both copies heard: the second is dropped as a copy, counted.
    let (dup_obu, dup_rsu) = (copies_dropped(&s, OBU), copies_dropped(&s, RSU));
    let delivered = exchange(&mut s, &mut beacons, 100, false);
    assert_eq!(
        delivered,
        (PACKETS.into(), PACKETS.into()),
        "no packet twice"
    );
    assert!(copies_dropped(&s, OBU) - dup_obu >= u64::from(PACKETS));
    assert!(copies_dropped(&s, RSU) - dup_rsu >= u64::from(PACKETS));
    assert_eq!(
        Counters::get(&s.nodes[OBU].counters.drops[DropReason::Replayed as usize]),
        0
    );
}

/// A link heard well sends everything once; so does a weak one with
/// repetition off, and then a lost frame is a lost packet.
#[test]
fn a_strong_link_or_repetition_off_sends_once() {
    let mut s = pair(80);
    s.run_for(Duration::from_secs(2));
    let rep = repeated(&s, RSU) + repeated(&s, OBU);
    for k in 0..PACKETS {
        send_both_ways(&mut s, k);
        s.run_for(Duration::from_millis(50));
    }
    assert_eq!(repeated(&s, RSU) + repeated(&s, OBU), rep, "strong link");

    let mut s = pair(0);
    let mut beacons = 0;
    run_weak(&mut s, &mut beacons, Duration::from_secs(3), false);
    let delivered = exchange(&mut s, &mut beacons, 0, true);
    assert_eq!(repeated(&s, RSU) + repeated(&s, OBU), 0, "off");
    assert_eq!(delivered, (0, 0), "every first copy was the only one");
}

/// Beacons lost to load look like a weak link too: the copies have a
/// budget ([`REPEAT_PER_S`] a second, as many at once), so a flood of
/// small packets is not doubled into the congestion.
#[test]
fn copies_stay_within_their_budget_under_a_flood() {
    let mut s = pair(80);
    let mut beacons = 0;
    run_weak(&mut s, &mut beacons, Duration::from_secs(3), false);
    let before = repeated(&s, RSU);
    // 2 s of 400 small packets a second toward the OBU.
    for k in 0..200u32 {
        s.send_ip(RSU, &ipv4_packet(server(), addr(OBU), k as u8, 100));
        s.send_ip(RSU, &ipv4_packet(server(), addr(OBU), k as u8, 101));
        run_weak(&mut s, &mut beacons, Duration::from_millis(5), false);
        run_weak(&mut s, &mut beacons, Duration::from_millis(5), false);
    }
    let copies = repeated(&s, RSU) - before;
    let bound = u64::from(REPEAT_PER_S) * 3;
    assert!(
        copies >= u64::from(REPEAT_PER_S),
        "the budget is used: {copies}"
    );
    assert!(copies <= bound, "{copies} copies in 2 s (at most {bound})");
}
