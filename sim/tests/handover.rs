//! Handover between two RSUs on the simulated radio: make-before-break
//! moves the OBU's route and the old RSU withdraws at once on the leave;
//! forged and played-back leaves never detach anyone; uplink state and
//! attachment sequences.

use common::action::{Action, Control};
use common::counters::{Counters, DropReason};
use common::wire::{BeaconReplyRepr, Body, Messages, ETH_HEADER_LEN};
use common::NodeId;
use protocol::params::{RoutingConfig, SecurityMode};
use protocol::role::{Role, RoleView};
use secure::Identity;
use sim::{mac, Sim, WALL_AT_ZERO_US};
use std::time::Duration;

const MODES: [SecurityMode; 3] = [
    SecurityMode::Off,
    SecurityMode::Authenticated,
    SecurityMode::Encrypted,
];

/// RSUs 0 and 1, OBU 2 hearing both; attached to RSU 0 (RSU 1's uplink
/// is down until the OBU has settled there).
fn road(mode: SecurityMode) -> Sim {
    let s = Sim::new(RoutingConfig::default());
    let mut s = if mode == SecurityMode::Off {
        s
    } else {
        s.with_security(mode)
    };
    let a = s.add_rsu();
    let b = s.add_rsu();
    let o = s.add_obu();
    s.link(a, o);
    s.link(b, o);
    s.set_uplink(b, false);
    let ok = s.run_until(Duration::from_secs(3), |s| {
        s.upstream(o).map(|u| u.0) == Some(a) && route_seq(s, a, o).is_some()
    });
    assert!(ok.is_some(), "{mode:?}: attached to RSU 0");
    if mode == SecurityMode::Encrypted {
        s.run_for(Duration::from_millis(500));
    }
    s.set_uplink(b, true);
    // Full reception windows (16 beacons) for both RSUs.
    s.run_for(Duration::from_millis(2000));
    s
}

/// RSU `rsu`'s route for OBU `obu`: its attachment sequence.
fn route_seq(s: &Sim, rsu: usize, obu: usize) -> Option<u32> {
    let r = s.nodes[rsu].rsu()?;
    r.routes().get(&mac(obu)).map(|r| r.attach_seq)
}

/// The leaves (replies flagged leaving) in flight from `from`.
fn leaves_in_flight(s: &Sim, from: usize) -> Vec<Vec<u8>> {
    s.in_flight()
        .filter(|(f, _)| *f == from)
        .filter(|(_, bytes)| {
            Messages::new(&bytes[ETH_HEADER_LEN..])
                .any(|m| matches!(m, Ok(m) if matches!(m.body, Body::BeaconReply(r) if r.leaving)))
        })
        .map(|(_, b)| b.to_vec())
        .collect()
}

/// Moves the OBU to RSU 1 by taking RSU 0's uplink away (make-before-break:
/// RSU 0 is still heard). Returns a leave captured on the air, and the time
/// from the move to RSU 0 dropping the route.
fn move_to_rsu1(s: &mut Sim) -> (Vec<u8>, Duration) {
    s.set_uplink(0, false);
    let mut leave = None;
    let start = s.now;
    let moved = s.run_until(Duration::from_secs(2), |s| {
        s.upstream(2).map(|u| u.0) == Some(1)
    });
    assert!(moved.is_some(), "moved to RSU 1");
    let moved_at = s.now;
    let gone = loop {
        if leave.is_none() {
            leave = leaves_in_flight(s, 2).into_iter().next();
        }
        if route_seq(s, 0, 2).is_none() {
            break s.now.since(moved_at);
        }
        assert!(
            s.now.since(start) < Duration::from_secs(3),
            "RSU 0 kept the route"
        );
        s.step();
    };
    while leave.is_none() && s.now.since(start) < Duration::from_secs(3) {
        leave = leaves_in_flight(s, 2).into_iter().next();
        s.step();
    }
    (leave.expect("a leave went out"), gone)
}

#[test]
fn make_before_break_moves_the_route_and_the_old_rsu_withdraws_on_the_leave() {
    for mode in MODES {
        let mut s = road(mode);
        let before = route_seq(&s, 0, 2).expect("route at RSU 0");
        let (_, gone) = move_to_rsu1(&mut s);
        // The leave goes out `handover_leave_ms` (100) after the move; the
        // route would otherwise live 2 x neighbor_timeout (600 ms) longer.
        let leave_after = RoutingConfig::default().handover_leave();
        assert!(
            gone < leave_after + Duration::from_millis(50),
            "{mode:?}: RSU 0 withdrew {gone:?} after the move"
        );
        s.run_for(Duration::from_millis(100));
        let after = route_seq(&s, 1, 2).expect("route at RSU 1");
        assert_eq!(after, before.wrapping_add(1), "{mode:?}: a new attachment");
        assert_eq!(Counters::get(&s.nodes[0].counters.obus_left), 1, "{mode:?}");
        assert_eq!(Counters::get(&s.nodes[2].counters.handovers), 1, "{mode:?}");
        // Data flows through RSU 1.
        let up = sim::ipv4_packet(sim::addr(2), sim::addr(1), 7, 8);
        let n = s.nodes[1].tun_out.len();
        s.send_ip(2, &up);
        s.run_for(Duration::from_millis(20));
        assert!(
            s.nodes[1].tun_out[n..].contains(&up),
            "{mode:?}: data via RSU 1"
        );
    }
}

#[test]
fn a_played_back_leave_never_detaches_the_obu_again() {
    for mode in MODES {
        let mut s = road(mode);
        let (leave, _) = move_to_rsu1(&mut s);
        // Back to RSU 0: a newer attachment there.
        s.set_uplink(0, true);
        s.set_uplink(1, false);
        let back = s.run_until(Duration::from_secs(3), |s| route_seq(s, 0, 2).is_some());
        assert!(back.is_some(), "{mode:?}: back at RSU 0");
        s.run_for(Duration::from_millis(300));
        let dropped = |s: &Sim| {
            let c = &s.nodes[0].counters;
            Counters::get(&c.drops[DropReason::Replayed as usize])
        };
        let before = dropped(&s);
        s.inject_frame(0, &leave);
        s.run_for(Duration::from_millis(50));
        assert!(
            route_seq(&s, 0, 2).is_some(),
            "{mode:?}: the played-back leave detached the OBU"
        );
        assert!(dropped(&s) > before, "{mode:?}: counted as replayed");
        assert_eq!(Counters::get(&s.nodes[0].counters.obus_left), 1, "{mode:?}");
    }
}

/// A leave for OBU 2 at RSU 0 as an attacker makes it: signed with the
/// attacker's own key in the secure modes, unsigned in mode off.
fn forged_leave(s: &Sim, signer: Option<&Identity>, attach_seq: u32) -> Vec<u8> {
    let r = BeaconReplyRepr {
        obu: mac(2),
        rsu: mac(0),
        seq: 1,
        timestamp_us: 0,
        hops: 1,
        addrs: Default::default(),
        attach_seq,
        leaving: true,
        cert: None,
        parent: NodeId::default(),
        quality_pct: 0,
    };
    let msg = match signer {
        Some(id) => {
            let wall = WALL_AT_ZERO_US + s.now.0;
            Control::Raw(Box::new(secure::control::sign_reply(
                id,
                &r,
                wall,
                &mut Vec::new(),
            )))
        }
        None => Control::BeaconReply(Box::new(r)),
    };
    let a = Action::SendControl {
        dst: mac(0),
        ttl: 8,
        msg,
    };
    s.frame_for(2, &a, &[])
}

#[test]
fn forged_leaves_never_detach_anyone_in_the_secure_modes() {
    for mode in [SecurityMode::Authenticated, SecurityMode::Encrypted] {
        let mut s = road(mode);
        let seq = route_seq(&s, 0, 2).expect("route");
        let attacker = Identity::from_seed(&[0x77; 32]);
        for (signer, what) in [(Some(&attacker), "another key"), (None, "unsigned")] {
            // Within the beacon window and with a newer attachment, so
            // only the signature stands in the way.
            for _ in 0..5 {
                let f = forged_leave(&s, signer, seq.wrapping_add(10));
                s.inject_frame(0, &f);
                s.run_for(Duration::from_millis(10));
            }
            assert!(
                route_seq(&s, 0, 2).is_some(),
                "{mode:?}: a leave with {what} detached the OBU"
            );
        }
        assert_eq!(Counters::get(&s.nodes[0].counters.obus_left), 0, "{mode:?}");
        let c = &s.nodes[0].counters;
        let refused = [
            DropReason::AuthFailed,
            DropReason::Unprotected,
            DropReason::Replayed,
        ]
        .iter()
        .map(|d| Counters::get(&c.drops[*d as usize]))
        .sum::<u64>();
        assert!(refused >= 10, "{mode:?}: forged leaves counted ({refused})");
    }
}

#[test]
fn uplink_state_reaches_the_obu_and_an_rsu_without_one_is_left() {
    let mut s = road(SecurityMode::Off);
    s.set_uplink(0, false);
    let left = s.run_until(Duration::from_secs(2), |s| {
        s.upstream(2).map(|u| u.0) == Some(1)
    });
    let left = left.expect("left RSU 0");
    assert!(left <= Duration::from_millis(300), "left after {left:?}");
    let RoleView::Obu { candidates, .. } = s.nodes[2].obu().expect("obu").snapshot(s.now).role
    else {
        panic!("an OBU's view");
    };
    let c = candidates
        .iter()
        .find(|c| c.rsu == mac(0))
        .expect("RSU 0 candidate");
    assert!(!c.uplink, "{candidates:?}");
}
