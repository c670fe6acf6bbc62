//! RSU beacons on simulated time: period with ±10% jitter, fresh sequence
//! numbers, its own timestamp.

use common::action::{Action, Control};
use common::counters::Counters;
use common::{NodeId, Time};
use protocol::params::RoutingConfig;
use protocol::role::Role;
use protocol::role_params::RoleParams;
use rsu_lib::Rsu;
use std::sync::Arc;

fn rsu(interval: u64) -> Rsu {
    Rsu::new(RoleParams {
        id: NodeId([2, 0, 0, 0, 0, 1]),
        mac: NodeId([2, 0, 0, 0, 0, 1]),
        addresses: vec!["10.42.0.1/24".parse().unwrap()],
        routing: RoutingConfig {
            beacon_interval_ms: interval,
            neighbor_timeout_ms: interval * 3,
            ..Default::default()
        },
        seed: 42,
        counters: Arc::new(Counters::default()),
        security: None,
        preference: 0,
        attach_seq_start: 1,
    })
}

#[test]
fn beacons_every_interval_with_jitter_and_increasing_seq() {
    for interval in [10u64, 100, 1000] {
        let mut r = rsu(interval);
        let mut out = Vec::new();
        let mut sent = Vec::new();
        let mut now = Time::ZERO;
        while now < Time::from_millis(interval * 200) {
            if now >= r.next_tick() {
                r.on_tick(now, &mut out);
                for a in out.drain(..) {
                    if let Action::SendControl {
                        dst,
                        msg: Control::Beacon(b),
                        ..
                    } = a
                    {
                        assert!(dst.is_broadcast());
                        assert_eq!(b.hops, 0);
                        assert_eq!(b.timestamp_us, now.0);
                        assert_eq!(b.interval_ms as u64, interval);
                        sent.push((now, b.seq));
                    }
                }
            }
            now = Time(now.0 + 100);
        }
        assert!(sent.len() >= 180, "{interval}: {} beacons", sent.len());
        for w in sent.windows(2) {
            let gap = w[1].0.since(w[0].0).as_micros() as u64;
            let lo = interval * 1000 * 9 / 10;
            let hi = interval * 1000 * 11 / 10 + 100;
            assert!((lo..=hi).contains(&gap), "{interval}: gap {gap}us");
            assert_eq!(w[1].1, w[0].1.wrapping_add(1));
        }
        // Jitter actually varies the gaps.
        let gaps: std::collections::HashSet<u64> =
            sent.windows(2).map(|w| w[1].0 .0 - w[0].0 .0).collect();
        assert!(gaps.len() > 5, "{interval}: no jitter");
    }
}
