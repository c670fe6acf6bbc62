//! Recovery on the simulated radio: restarted nodes and forged sequence
//! numbers heal by themselves, within bounded time, in every mode.

use common::action::{Action, Control};
use common::counters::{Counters, DropReason};
use common::wire::BeaconRepr;
use common::NodeId;
use protocol::params::{RoutingConfig, SecurityMode};
use protocol::role::{Role, RoleView};
use sim::{addr, ipv4_packet, mac, Sim};
use std::time::Duration;

const MODES: [SecurityMode; 3] = [
    SecurityMode::Off,
    SecurityMode::Authenticated,
    SecurityMode::Encrypted,
];

/// RSU 0 — OBU 1 — OBU 2 (OBU 2 only hears OBU 1).
fn chain(mode: SecurityMode) -> Sim {
    let s = Sim::new(RoutingConfig::default());
    let mut s = if mode == SecurityMode::Off {
        s
    } else {
        s.with_security(mode)
    };
    let r = s.add_rsu();
    let a = s.add_obu();
    let b = s.add_obu();
    s.link(r, a);
    s.link(a, b);
    s
}

/// Sends one packet up from OBU `obu` to the RSU and one down, runs 20 ms,
/// and says whether both arrived.
fn round_trip(s: &mut Sim, obu: usize, marker: u8) -> bool {
    let up = ipv4_packet(addr(obu), addr(0), marker, 8);
    let down = ipv4_packet(addr(0), addr(obu), marker, 8);
    let (n0, n1) = (s.nodes[0].tun_out.len(), s.nodes[obu].tun_out.len());
    s.send_ip(obu, &up);
    s.send_ip(0, &down);
    s.run_for(Duration::from_millis(20));
    s.nodes[0].tun_out[n0..].contains(&up) && s.nodes[obu].tun_out[n1..].contains(&down)
}

/// Time until round trips from every OBU in `obus` work again (at most `limit`).
fn back_in_service(s: &mut Sim, obus: &[usize], limit: Duration) -> Option<Duration> {
    let start = s.now;
    let mut marker = 0u8;
    while s.now.since(start) < limit {
        marker = marker.wrapping_add(1);
        let mut all = true;
        for &o in obus {
            all &= round_trip(s, o, marker);
        }
        if all {
            return Some(s.now.since(start));
        }
    }
    None
}

fn settle(s: &mut Sim) {
    s.run_for(Duration::from_secs(3));
    assert!(
        back_in_service(s, &[1, 2], Duration::from_secs(1)).is_some(),
        "chain works before the fault"
    );
}

#[test]
fn a_restarted_rsu_is_back_within_a_second_in_every_mode() {
    for mode in MODES {
        for downtime_ms in [0u64, 150, 2000] {
            let mut s = chain(mode);
            settle(&mut s);
            // Down (nothing sent, nothing heard), then a new process.
            s.cut(0, 1);
            s.run_for(Duration::from_millis(downtime_ms));
            s.restart(0);
            s.link(0, 1);
            let took = back_in_service(&mut s, &[1, 2], Duration::from_secs(5));
            let took =
                took.unwrap_or_else(|| panic!("{mode:?}, down {downtime_ms} ms: not back in 5 s"));
            assert!(
                took <= Duration::from_secs(1),
                "{mode:?}, down {downtime_ms} ms: back after {took:?}"
            );
            if mode == SecurityMode::Encrypted {
                let seen: u64 = (1..3)
                    .map(|i| Counters::get(&s.nodes[i].counters.restarts_seen))
                    .sum();
                assert!(seen >= 2, "{mode:?}: both OBUs saw the restart ({seen})");
            }
        }
    }
}

#[test]
fn a_restarted_obu_is_back_within_a_second_in_every_mode() {
    for mode in MODES {
        for victim in [1usize, 2] {
            let mut s = chain(mode);
            settle(&mut s);
            s.restart(victim);
            let took = back_in_service(&mut s, &[1, 2], Duration::from_secs(5));
            let took = took.unwrap_or_else(|| panic!("{mode:?}, OBU {victim}: not back in 5 s"));
            assert!(
                took <= Duration::from_secs(1),
                "{mode:?}, OBU {victim}: back after {took:?}"
            );
        }
    }
}

/// A beacon of RSU 0 as an attacker would forge it (mode off: unsigned),
/// sent with the RSU's own MAC.
fn forged_beacon(s: &Sim, seq: u32, epoch: u32) -> Vec<u8> {
    let beacon = BeaconRepr {
        rsu: mac(0),
        seq,
        hops: 0,
        timestamp_us: 1,
        interval_ms: 100,
        epoch,
        uplink: true,
        preference: 0,
    };
    let action = Action::SendControl {
        dst: NodeId::BROADCAST,
        ttl: 1,
        msg: Control::Beacon(beacon),
    };
    s.frame_for(0, &action, &[])
}

#[test]
fn forged_far_ahead_beacons_lock_nobody_out_after_the_attack() {
    for same_epoch in [true, false] {
        let mut s = chain(SecurityMode::Off);
        settle(&mut s);
        let epoch = s.nodes[0].rsu().expect("rsu").epoch();
        let forged_epoch = if same_epoch { epoch } else { epoch ^ 0x5555 };
        // Two seconds of forged beacons far ahead, every 10 ms, at the relay.
        for k in 0..200u32 {
            let f = forged_beacon(&s, 1_000_000 + k, forged_epoch);
            s.inject_frame(1, &f);
            s.run_for(Duration::from_millis(10));
        }
        let resync = RoutingConfig::default().neighbor_timeout();
        let took = back_in_service(&mut s, &[1, 2], Duration::from_secs(5))
            .unwrap_or_else(|| panic!("same epoch {same_epoch}: locked out after the attack"));
        assert!(
            took <= resync + Duration::from_millis(400),
            "same epoch {same_epoch}: back after {took:?}"
        );
        // The real RSU is heard again at a full reception ratio.
        s.run_for(Duration::from_secs(2));
        let RoleView::Obu { candidates, .. } = s.nodes[1].obu().expect("obu").snapshot(s.now).role
        else {
            panic!("an OBU's view");
        };
        let ratio = candidates.first().map_or(0, |c| c.reception_permille);
        assert!(
            ratio >= 900,
            "same epoch {same_epoch}: ratio {ratio} per mille: {candidates:?}"
        );
        let c = &s.nodes[1].counters;
        if same_epoch {
            assert!(
                Counters::get(&c.seq_resyncs) >= 1,
                "the window was resynchronised"
            );
        } else {
            // Another epoch while the real RSU is heard: refused as stale,
            // never taken for a restart.
            assert_eq!(Counters::get(&c.restarts_seen), 0);
            assert!(c.drops(common::counters::DropReason::Duplicate) >= 200);
        }
    }
}

#[test]
fn a_restarted_broadcast_source_is_heard_again() {
    let mut s = chain(SecurityMode::Off);
    settle(&mut s);
    let group: std::net::IpAddr = "224.0.0.251".parse().unwrap();
    for k in 0..100u8 {
        s.send_ip(2, &ipv4_packet(addr(2), group, k, 8));
        s.run_for(Duration::from_millis(5));
    }
    let before = s.nodes[1].tun_out.len();
    s.restart(2);
    s.run_for(Duration::from_millis(600));
    let p = ipv4_packet(addr(2), group, 200, 8);
    s.send_ip(2, &p);
    s.run_for(Duration::from_millis(20));
    assert!(
        s.nodes[1].tun_out[before..].contains(&p),
        "the restarted source's broadcast (sequence 1 again) is delivered"
    );
    assert!(Counters::get(&s.nodes[1].counters.seq_resyncs) >= 1);
}

/// The next frame the RSU (node 0) sends, recorded off the air.
fn record_from_rsu(s: &mut Sim) -> Vec<u8> {
    loop {
        if let Some(f) = s
            .in_flight()
            .find(|(from, _)| *from == 0)
            .map(|(_, f)| f.to_vec())
        {
            return f;
        }
        s.step();
    }
}

#[test]
fn an_old_epoch_played_back_never_tears_down_a_live_session() {
    for mode in [SecurityMode::Authenticated, SecurityMode::Encrypted] {
        let mut s = chain(mode);
        settle(&mut s);
        // Record a beacon of the RSU's first process off the air.
        let old = record_from_rsu(&mut s);
        s.restart(0);
        assert!(back_in_service(&mut s, &[1, 2], Duration::from_secs(1)).is_some());
        s.run_for(Duration::from_millis(500));
        let seen = Counters::get(&s.nodes[1].counters.restarts_seen);
        let handshakes = Counters::get(&s.nodes[1].counters.handshakes);
        // The old process's beacon (its epoch, its older signed time),
        // played back at the relay again and again.
        for _ in 0..20 {
            s.inject_frame(1, &old);
            s.run_for(Duration::from_millis(10));
        }
        assert_eq!(
            Counters::get(&s.nodes[1].counters.restarts_seen),
            seen,
            "{mode:?}"
        );
        assert_eq!(
            Counters::get(&s.nodes[1].counters.handshakes),
            handshakes,
            "{mode:?}"
        );
        assert!(
            s.nodes[1]
                .counters
                .drops(common::counters::DropReason::Replayed)
                >= 20,
            "{mode:?}"
        );
        assert!(
            back_in_service(&mut s, &[1, 2], Duration::from_millis(100)).is_some(),
            "{mode:?}"
        );
    }
}

/// Whether `bytes` carries sealed upstream data (a keepalive, alone or
/// riding along with a reply).
fn carries_sealed_up(bytes: &[u8]) -> bool {
    use common::wire::{Body, MessageType, Messages, ETH_HEADER_LEN};
    Messages::new(&bytes[ETH_HEADER_LEN..]).any(|m| {
        matches!(m, Ok(m) if matches!(m.body, Body::Data(_)) && m.header.msg_type == MessageType::DataUp)
    })
}

/// A restarted OBU handshakes again, and every message that would confirm
/// the new session to the RSU is lost: the RSU still seals the downlink
/// with the old session, which the OBU no longer holds (counted
/// `no_session`). The OBU answers such data with a keepalive on its
/// session (`sessions_confirmed`), the RSU moves to it and the downlink
/// flows again within a second. (Before, a vehicle that only received
/// stayed dark until it moved on: 33 s once in the lab.)
#[test]
fn a_lost_session_confirmation_does_not_darken_the_downlink() {
    let mut s = Sim::attached_pair(Some(SecurityMode::Encrypted));
    let (rsu, obu) = (0, 1);
    s.run_for(Duration::from_secs(1));
    s.restart(obu);
    // The new session's confirmations (the keepalive at its start and
    // those riding with replies while it is young) are lost.
    let mut lost = 0;
    let until = s.now + Duration::from_millis(1500);
    while s.now < until {
        lost += s.drop_in_flight(|from, bytes| from == obu && carries_sealed_up(bytes));
        s.step();
    }
    assert!(lost > 0, "a confirmation was sent (and lost)");
    assert!(
        s.nodes[obu].obu().unwrap().has_session(),
        "the OBU has its new session"
    );
    let confirmed = |s: &Sim| Counters::get(&s.nodes[obu].counters.sessions_confirmed);
    assert_eq!(confirmed(&s), 0);
    // Downlink data: the first is sealed with the old session and lost;
    // the OBU confirms, and data sent a moment later arrives.
    let down = ipv4_packet(addr(rsu), addr(obu), 9, 20);
    let start = s.now;
    let mut arrived = None;
    while s.now.since(start) < Duration::from_secs(3) {
        let n = s.nodes[obu].tun_out.len();
        s.send_ip(rsu, &down);
        s.run_for(Duration::from_millis(50));
        if s.nodes[obu].tun_out[n..].contains(&down) {
            arrived = Some(s.now.since(start));
            break;
        }
    }
    let took = arrived.expect("the downlink never came back");
    assert!(took <= Duration::from_secs(1), "back after {took:?}");
    assert!(confirmed(&s) >= 1);
    assert!(s.nodes[obu].counters.drops(DropReason::NoSession) >= 1);
}

/// A copy of a beacon that comes after newer ones (a slow relay on a
/// loaded road) counts for its path if it is at most `LATE_COPY` older
/// than the newest and comes through a neighbour that is already that
/// path; a recording played back later, or by another neighbour, is still
/// a replay.
#[test]
fn a_late_copy_counts_and_an_old_recording_is_a_replay() {
    for mode in [SecurityMode::Authenticated, SecurityMode::Encrypted] {
        let mut s = chain(mode);
        settle(&mut s);
        let replayed = |s: &Sim| {
            s.nodes[1]
                .counters
                .drops(common::counters::DropReason::Replayed)
        };
        // Half a second late: taken (a duplicate of a beacon heard, so
        // nothing else changes), not refused.
        let late = record_from_rsu(&mut s);
        s.run_for(Duration::from_millis(500));
        let before = replayed(&s);
        s.inject_frame(1, &late);
        s.run_for(Duration::from_millis(10));
        assert_eq!(
            replayed(&s),
            before,
            "{mode:?}: a late copy is not a replay"
        );
        // The same copy from a neighbour that is no path to the RSU at that
        // hop count (the vehicle at the end of the chain, node 2, heard by
        // the relay, node 1): refused, it makes no path.
        let late = record_from_rsu(&mut s);
        s.run_for(Duration::from_millis(500));
        let before = replayed(&s);
        s.inject_frame_from(1, 2, &late);
        s.run_for(Duration::from_millis(10));
        assert_eq!(
            replayed(&s),
            before + 1,
            "{mode:?}: a copy by another neighbour"
        );
        // Older than the newest by more than LATE_COPY: refused.
        let old = record_from_rsu(&mut s);
        s.run_for(obu_lib::state::LATE_COPY + Duration::from_millis(300));
        let before = replayed(&s);
        s.inject_frame(1, &old);
        s.run_for(Duration::from_millis(10));
        assert_eq!(replayed(&s), before + 1, "{mode:?}: an old recording");
        assert!(
            back_in_service(&mut s, &[1, 2], Duration::from_millis(100)).is_some(),
            "{mode:?}"
        );
    }
}
