//! Control traffic that does not grow with the square of the density:
//! suppressed beacon rebroadcasts and replies on change plus a refresh
//! interval, on the simulator with the daemons' own code.

use protocol::params::RoutingConfig;
use sim::density::{measure, Road};
use std::time::Duration;

fn before() -> RoutingConfig {
    RoutingConfig {
        reply_interval_ms: 0,
        suppress_rebroadcasts: false,
        ..RoutingConfig::default()
    }
}

#[test]
fn an_obu_sends_at_most_3_control_frames_a_second_in_a_dense_domain() {
    let after = measure(
        Road::OneDomain,
        60,
        RoutingConfig::default(),
        Duration::from_secs(3),
        Duration::from_secs(5),
    );
    assert_eq!(after.attached, after.reachable, "{after:?}");
    assert!(after.frames_per_obu.0 <= 3.0, "{after:?}");
    // A handful per beacon whatever the density (contention, two copies).
    assert!(after.rebroadcasts_per_beacon <= 8.0, "{after:?}");
    // 100 vehicles in range: under 10 % of a 6 Mbit/s channel.
    let hundred = measure(
        Road::OneDomain,
        100,
        RoutingConfig::default(),
        Duration::from_secs(3),
        Duration::from_secs(3),
    );
    assert!(hundred.control_airtime_share <= 0.10, "{hundred:?}");
    // The old rules send about 20 a second each (the test can fail).
    let old = measure(
        Road::OneDomain,
        60,
        before(),
        Duration::from_secs(3),
        Duration::from_secs(2),
    );
    assert!(old.frames_per_obu.0 >= 15.0, "{old:?}");
}

#[test]
fn every_obu_that_can_reach_an_rsu_stays_attached_on_a_highway() {
    let road = Road::Highway {
        length_m: 4000,
        rsu_every_m: 1000,
        range_m: 300,
    };
    for n in [40, 250] {
        let r = measure(
            road,
            n,
            RoutingConfig::default(),
            Duration::from_secs(4),
            Duration::from_secs(4),
        );
        // Relays rebroadcast every beacon for their children; coverage is
        // what must hold.
        assert_eq!(r.attached, r.reachable, "{n}: {r:?}");
    }
}

/// Random geometric graphs, sparse and dense: every OBU that can reach an
/// RSU within `max_hops` is attached, nobody's upstream flaps on the
/// static graph (each hears its upstream often enough), and rebroadcasts
/// per beacon stay well below one per node where the graph is dense.
#[test]
fn suppression_keeps_coverage_on_random_geometric_graphs() {
    let cases = [
        // (nodes, side, range, RSUs): sparse (about 8 neighbours each),
        // dense (about 150).
        (2000usize, 3000u32, 120u32, 4usize),
        (800, 600, 150, 2),
    ];
    for (n, side_m, range_m, rsus) in cases {
        let road = Road::Square {
            side_m,
            range_m,
            rsus,
        };
        let r = measure(
            road,
            n,
            RoutingConfig::default(),
            Duration::from_secs(5),
            Duration::from_secs(3),
        );
        eprintln!("{n} nodes, {side_m} m, range {range_m} m: {r:?}");
        assert!(r.reachable > n / 10, "the graph reaches some RSU: {r:?}");
        assert_eq!(r.attached, r.reachable, "coverage: {r:?}");
        assert_eq!(r.upstream_changes, 0, "upstreams flapped: {r:?}");
        if range_m * 4 > side_m {
            assert!(
                r.rebroadcasts_per_beacon < r.obus as f64 / 4.0,
                "dense: {r:?}"
            );
        }
    }
}
