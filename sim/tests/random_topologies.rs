//! Property test on random topologies (2-50 nodes, 1-3 RSUs, random links,
//! then random link cuts): no forwarding loop, every OBU that can reach an
//! RSU within max_hops is attached within 3 beacon intervals (after a cut:
//! within the neighbour timeout plus 3 intervals) and its traffic arrives,
//! and the state each node holds stays bounded.

use common::counters::{Counters, DropReason};
use proptest::prelude::*;
use protocol::params::RoutingConfig;
use sim::{addr, ipv4_packet, Sim};
use std::collections::VecDeque;
use std::time::Duration;

/// Hop distance from each node to the nearest RSU over current links.
fn distances(s: &Sim, rsus: &[usize]) -> Vec<Option<u8>> {
    let n = s.nodes.len();
    let mut d = vec![None; n];
    let mut q = VecDeque::new();
    for &r in rsus {
        d[r] = Some(0u8);
        q.push_back(r);
    }
    while let Some(x) = q.pop_front() {
        for y in 0..n {
            if d[y].is_none() && s.hears(x, y) && !rsus.contains(&y) {
                d[y] = Some(d[x].unwrap() + 1);
                q.push_back(y);
            }
        }
    }
    d
}

#[allow(clippy::needless_range_loop)] // node indices are ids here
fn check(s: &mut Sim, rsus: &[usize], max_hops: u8, phase: &str) -> Result<(), TestCaseError> {
    let n = s.nodes.len();
    let dist = distances(s, rsus);
    for i in 0..n {
        if rsus.contains(&i) {
            continue;
        }
        let reachable = dist[i].is_some_and(|d| d <= max_hops);
        let up = s.upstream(i);
        prop_assert_eq!(
            up.is_some(),
            reachable,
            "{}: node {} dist {:?} upstream {:?}",
            phase,
            i,
            dist[i],
            up
        );
        // Follow next hops toward the chosen RSU: must reach it without
        // revisiting (a relay may itself be attached to another RSU and
        // still forward toward this one).
        if let Some((rsu, _, _)) = up {
            let mut at = i;
            let mut seen = vec![at];
            loop {
                let nh = s.next_hop_toward(at, rsu);
                prop_assert!(
                    nh.is_some(),
                    "{}: relay {} on the path from {} has no way to RSU {}",
                    phase,
                    at,
                    i,
                    rsu
                );
                let nh = nh.unwrap();
                prop_assert!(s.hears(at, nh), "{}: {} -> {} is not a link", phase, at, nh);
                if nh == rsu {
                    break;
                }
                prop_assert!(!seen.contains(&nh), "{}: loop {:?} -> {}", phase, seen, nh);
                prop_assert!(
                    seen.len() <= max_hops as usize,
                    "{}: path too long {:?}",
                    phase,
                    seen
                );
                seen.push(nh);
                at = nh;
            }
        }
        // Bounded state: nothing grows with time or traffic.
        let size = s.nodes[i].obu().unwrap().state_size();
        prop_assert!(
            size <= 4 * n + 3 * 3,
            "{}: node {} holds {} entries",
            phase,
            i,
            size
        );
    }
    // Traffic from every attached OBU reaches its RSU's TUN, and no data
    // message runs out of TTL on the way (a loop). Control messages may
    // run out of TTL while routes reconverge: a beacon reply is relayed by
    // each node's current next hop, and right after a cut that path can be
    // longer than the reply's TTL (max_hops) allows; it is then dropped and
    // counted, which is what the TTL is for.
    let ttl_expired = |s: &Sim| -> u64 {
        s.nodes
            .iter()
            .map(|x| x.counters.drops(DropReason::TtlExpired))
            .sum()
    };
    let ttl_before = ttl_expired(s);
    for i in 0..n {
        if let Some((rsu, _, _)) = s.upstream(i) {
            let p = ipv4_packet(addr(i), "192.0.2.7".parse().unwrap(), (i % 250) as u8, 16);
            s.send_ip(i, &p);
            s.run_for(Duration::from_millis(12));
            prop_assert!(
                s.nodes[rsu].tun_out.contains(&p),
                "{}: data from {} did not reach RSU {}",
                phase,
                i,
                rsu
            );
        }
    }
    prop_assert_eq!(
        ttl_expired(s) - ttl_before,
        0,
        "{}: data ran out of TTL somewhere (loop)",
        phase
    );
    Ok(())
}

fn topology() -> impl Strategy<Value = (usize, usize, Vec<(usize, usize)>, Vec<usize>)> {
    (2usize..=50, 1usize..=3).prop_flat_map(|(n, r)| {
        let r = r.min(n - 1).max(1);
        let pairs = n * (n - 1) / 2;
        (
            Just(n),
            Just(r),
            // About three links per node on average.
            proptest::collection::vec((0..n, 0..n), n..=3 * n),
            proptest::collection::vec(0..pairs.max(1), 0..=n / 3 + 1),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_topologies_converge_without_loops((n, r, edges, cuts) in topology()) {
        let routing = RoutingConfig::default();
        let max_hops = routing.max_hops;
        let interval = routing.beacon_interval();
        let timeout = routing.neighbor_timeout();
        let mut s = Sim::new(routing);
        let rsus: Vec<usize> = (0..r).map(|_| s.add_rsu()).collect();
        while s.nodes.len() < n {
            s.add_obu();
        }
        // A random spanning-ish chain keeps most nodes connected, plus random extras.
        for i in 1..n {
            if i % 4 != 0 {
                s.link(i - 1, i);
            }
        }
        for (a, b) in edges {
            if a != b && !(rsus.contains(&a) && rsus.contains(&b)) {
                s.link(a, b);
            }
        }
        s.run_for(interval * 3);
        check(&mut s, &rsus, max_hops, "initial")?;

        let links: Vec<(usize, usize)> = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).filter(|&(a, b)| s.hears(a, b)).collect();
        for c in cuts {
            if !links.is_empty() {
                let (a, b) = links[c % links.len()];
                s.cut(a, b);
            }
        }
        s.run_for(timeout + interval * 3);
        check(&mut s, &rsus, max_hops, "after cuts")?;

        // Let reception windows refill after the cuts: a shorter path that
        // reappears may take over once (hysteresis), then nothing may flap.
        s.run_for(interval * 20);
        let changes: Vec<u64> = s.nodes.iter().map(|x| Counters::get(&x.counters.upstream_changes)).collect();
        s.run_for(Duration::from_secs(5));
        let after: Vec<u64> = s.nodes.iter().map(|x| Counters::get(&x.counters.upstream_changes)).collect();
        prop_assert_eq!(changes, after, "upstream changes in a stable topology");
        check(&mut s, &rsus, max_hops, "stable")?;
    }
}
