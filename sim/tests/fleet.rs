//! What a fleet needs, on the simulated radio: certificates for OBU keys
//! (relays learn routes only under certified keys), signed broadcast in
//! the secure modes, revocation when trust lists are reloaded, and overlay
//! probes (ping, traceroute).
//!
//! Topology of most tests: RSU 0 — OBU 1 (relay) — OBUs 2 and 3, which
//! hear only OBU 1.

use common::action::{Action, Control};
use common::counters::DropReason;
use common::wire::{
    BroadcastRepr, MessageType, ProbeTarget, BROADCAST_OVERHEAD, ETH_HEADER_LEN, HEADER_LEN,
};
use protocol::params::{RoutingConfig, SecurityMode};
use protocol::probe::ProbeRequest;
use secure::Identity;
use sim::{addr, ipv4_packet, mac, rsu_fleet_key, Sim, WALL_AT_ZERO_US};
use std::net::IpAddr;
use std::time::Duration;

const SECURE: [SecurityMode; 2] = [SecurityMode::Authenticated, SecurityMode::Encrypted];
const EVERY: [SecurityMode; 3] = [
    SecurityMode::Off,
    SecurityMode::Authenticated,
    SecurityMode::Encrypted,
];

fn drops(s: &Sim, i: usize, r: DropReason) -> u64 {
    s.nodes[i].counters.drops(r)
}

fn cell(mode: SecurityMode) -> Sim {
    let routing = RoutingConfig {
        broadcast_ttl: 2,
        ..RoutingConfig::default()
    };
    let mut s = Sim::new(routing);
    if mode != SecurityMode::Off {
        s = s.with_security(mode);
    }
    let r = s.add_rsu();
    let relay = s.add_obu();
    let a = s.add_obu();
    let b = s.add_obu();
    s.link(r, relay);
    s.link(relay, a);
    s.link(relay, b);
    s
}

/// Every OBU attached, certified (secure modes) and known to the RSU.
fn settle(s: &mut Sim, mode: SecurityMode) {
    let took = s.run_until(Duration::from_secs(5), |s| {
        (1..=3).all(|o| {
            let obu = s.nodes[o].obu().unwrap();
            obu.upstream().is_some()
                && (mode != SecurityMode::Encrypted || obu.has_session())
                && s.nodes[0].rsu().unwrap().routes().get(&mac(o)).is_some()
                && (mode == SecurityMode::Off || obu.certified(s.now))
        })
    });
    assert!(took.is_some(), "{mode:?}: cell did not settle");
    s.run_for(Duration::from_millis(50));
}

/// The RSU (node 0) allows exactly the keys of `obus` (a trust reload).
fn rsu_allows_only(s: &mut Sim, obus: &[usize]) {
    let keys: Vec<_> = obus.iter().map(|&i| s.public_key(i)).collect();
    s.reload_security(0, |c| {
        c.allow_any_obu = false;
        c.allowed_obus = keys;
    });
}

fn broadcast_packet(from: usize, marker: u8) -> Vec<u8> {
    ipv4_packet(addr(from), "255.255.255.255".parse().unwrap(), marker, 40)
}

fn count(s: &Sim, i: usize, p: &[u8]) -> usize {
    s.nodes[i]
        .tun_out
        .iter()
        .filter(|x| x.as_slice() == p)
        .count()
}

#[test]
fn broadcast_reaches_the_rsu_and_the_other_obus_exactly_once_in_every_mode() {
    for mode in EVERY {
        let mut s = cell(mode);
        settle(&mut s, mode);
        let p = broadcast_packet(2, 0x42);
        s.send_ip(2, &p);
        s.run_for(Duration::from_millis(20));
        for i in [0, 1, 3] {
            assert_eq!(count(&s, i, &p), 1, "{mode:?}: node {i}");
        }
        assert_eq!(count(&s, 2, &p), 0, "{mode:?}: the origin");
        if mode != SecurityMode::Off {
            // The relay's copy reaches 0 and 3; theirs are checked once each.
            for i in [0, 1, 3] {
                assert_eq!(
                    s.nodes[i]
                        .counters
                        .broadcasts_verified
                        .load(std::sync::atomic::Ordering::Relaxed),
                    1,
                    "{mode:?}: node {i}"
                );
            }
        }
    }
}

/// A broadcast frame from OBU `from`'s radio claiming `origin`, signed by
/// `signer` under `cert` (or unsigned).
fn broadcast_frame(
    s: &Sim,
    from: usize,
    origin: common::NodeId,
    signer: Option<(&Identity, &common::wire::CertRepr)>,
    wall_us: u64,
    seq: u32,
) -> Vec<u8> {
    let p = broadcast_packet(from, 0x77);
    let fixed = BROADCAST_OVERHEAD - HEADER_LEN;
    let mut body = vec![0u8; fixed + p.len()];
    BroadcastRepr::emit_fixed(origin, seq, &mut body);
    body[fixed..].copy_from_slice(&p);
    let msg = match signer {
        Some((id, cert)) => Control::Raw(Box::new(secure::cert::sign_certified(
            id,
            cert,
            MessageType::Broadcast,
            &body,
            wall_us,
            &mut Vec::new(),
        ))),
        None => Control::Raw(Box::new(common::action::RawMessage {
            msg_type: MessageType::Broadcast,
            flags: 0,
            body,
        })),
    };
    let a = Action::SendControl {
        dst: common::NodeId::BROADCAST,
        ttl: 1,
        msg,
    };
    s.frame_for(from, &a, &[])
}

#[test]
fn forged_unsigned_expired_and_replayed_broadcasts_are_dropped_and_counted() {
    for mode in SECURE {
        let mut s = cell(mode);
        settle(&mut s, mode);
        let wall = |s: &Sim| WALL_AT_ZERO_US + s.now.0;
        // Captured on the air: OBU 2's genuine broadcast.
        let p = broadcast_packet(2, 0x43);
        s.send_ip(2, &p);
        let captured: Vec<u8> = s
            .in_flight()
            .find(|(from, f)| *from == 2 && f.get(ETH_HEADER_LEN + 1) == Some(&5))
            .map(|(_, f)| f.to_vec())
            .expect("OBU 2 sent its broadcast");
        s.run_for(Duration::from_millis(20));
        assert_eq!(count(&s, 1, &p), 1);
        // Forgeries use the next numbers of OBU 2's sequence.
        let at = ETH_HEADER_LEN + HEADER_LEN + 6;
        let seq = u32::from_be_bytes(captured[at..at + 4].try_into().unwrap());
        // Played again at once: a duplicate (no second delivery).
        let dup = drops(&s, 1, DropReason::Duplicate);
        s.inject_frame(1, &captured);
        assert_eq!(drops(&s, 1, DropReason::Duplicate), dup + 1, "{mode:?}");
        // Unsigned.
        let plain = broadcast_frame(&s, 2, mac(2), None, 0, seq + 1);
        s.inject_frame(1, &plain);
        assert_eq!(drops(&s, 1, DropReason::Unprotected), 1, "{mode:?}");
        // An outsider's key with a certificate it made itself.
        let outsider = Identity::from_seed(&[0x66; 32]);
        let own = secure::cert::issue(
            &outsider,
            mac(2),
            &outsider.public(),
            wall(&s),
            600_000_000,
            0,
        );
        let forged = broadcast_frame(&s, 2, mac(2), Some((&outsider, &own)), wall(&s), seq + 2);
        s.inject_frame(1, &forged);
        // OBU 2's real certificate, but a signature by another key.
        let real = s.nodes[2].obu().unwrap().own_cert().expect("certified");
        let fake = broadcast_frame(&s, 2, mac(2), Some((&outsider, &real)), wall(&s), seq + 3);
        s.inject_frame(1, &fake);
        assert_eq!(drops(&s, 1, DropReason::AuthFailed), 2, "{mode:?}");
        // A certificate out of its lifetime (issued by a trusted RSU key).
        let obu2 = s.public_key(2);
        let old = secure::cert::issue(
            &rsu_fleet_key(),
            mac(2),
            &obu2,
            wall(&s) - 700_000_000,
            600_000_000,
            0,
        );
        // (Signed by another key: an expired certificate is refused before
        // any signature is checked.)
        let frame = broadcast_frame(&s, 2, mac(2), Some((&outsider, &old)), wall(&s), seq + 4);
        s.inject_frame(1, &frame);
        assert_eq!(drops(&s, 1, DropReason::CertExpired), 1, "{mode:?}");
        // The captured frame after the clock-skew window: replayed.
        s.run_for(Duration::from_secs(6));
        s.inject_frame(3, &captured);
        assert!(drops(&s, 3, DropReason::Replayed) >= 1, "{mode:?}");
        for i in [1, 3] {
            assert_eq!(count(&s, i, &p), 1, "{mode:?}: node {i} delivered once");
            assert!(
                !s.nodes[i]
                    .tun_out
                    .iter()
                    .any(|x| x.get(8..10) == Some(&[64, 17]) && x[20] == 0x77),
                "{mode:?}: a refused broadcast reached node {i}"
            );
        }
    }
}

#[test]
fn relays_learn_routes_only_under_certified_keys() {
    for mode in SECURE {
        let mut s = cell(mode);
        settle(&mut s, mode);
        // The RSU allows our three OBUs only.
        rsu_allows_only(&mut s, &[1, 2, 3]);
        // The relay learned OBUs 2 and 3 under their certified keys.
        let relay = s.nodes[1].obu().unwrap();
        assert!(relay.downstream().get(&mac(2)).is_some());
        assert!(relay.downstream().get(&mac(3)).is_some());
        // An outsider in range of the relay signs replies for a new id.
        let victim = common::NodeId([0x02, 0, 0, 0, 0x0e, 0x01]);
        let outsider = Identity::from_seed(&[0x77; 32]);
        let rsu = mac(0);
        let reply = |cert| common::wire::BeaconReplyRepr {
            obu: victim,
            rsu,
            seq: 1,
            timestamp_us: 0,
            hops: 2,
            addrs: common::wire::AddrList::from_slice(&["10.99.0.1/32".parse().unwrap()]).unwrap(),
            attach_seq: 1,
            leaving: false,
            cert,
            parent: mac(1),
            quality_pct: 100,
        };
        let wall = WALL_AT_ZERO_US + s.now.0;
        for cert in [
            None,
            Some(secure::cert::issue(
                &outsider,
                victim,
                &outsider.public(),
                wall,
                600_000_000,
                0,
            )),
        ] {
            let raw = secure::control::sign_reply(&outsider, &reply(cert), wall, &mut Vec::new());
            let a = Action::SendControl {
                dst: mac(1),
                ttl: 4,
                msg: Control::Raw(Box::new(raw)),
            };
            let f = s.frame_for(2, &a, &[]);
            s.inject_frame(1, &f);
            s.run_for(Duration::from_millis(30));
            assert!(
                s.nodes[1]
                    .obu()
                    .unwrap()
                    .downstream()
                    .get(&victim)
                    .is_none(),
                "{mode:?}: the relay learned an outsider's route"
            );
        }
        // Both went up as uncertified (a self-made certificate counts for
        // nothing) and the RSU, which allows only our OBUs, refused them
        // and never certified the key.
        assert!(s.nodes[0].rsu().unwrap().routes().get(&victim).is_none());
        let refused = drops(&s, 0, DropReason::AuthFailed) + drops(&s, 0, DropReason::Replayed);
        assert!(refused >= 2, "{mode:?}: the RSU saw {refused}");
    }
}

#[test]
fn revocation_cuts_an_obu_at_once_and_allowing_it_again_restores_it() {
    for mode in SECURE {
        let mut s = cell(mode);
        settle(&mut s, mode);
        // OBU 3 is removed from the RSU's list.
        rsu_allows_only(&mut s, &[1, 2]);
        assert!(
            s.nodes[0].rsu().unwrap().routes().get(&mac(3)).is_none(),
            "{mode:?}"
        );
        let down = ipv4_packet("192.0.2.1".parse().unwrap(), addr(3), 0x51, 10);
        s.send_ip(0, &down);
        s.run_for(Duration::from_millis(1500));
        assert_eq!(count(&s, 3, &down), 0, "{mode:?}: still reached");
        assert!(
            s.nodes[0].rsu().unwrap().routes().get(&mac(3)).is_none(),
            "{mode:?}: came back"
        );
        // Its broadcasts are void at the RSU that revoked it (its
        // certificate still holds at the relay until it runs out).
        let b3 = broadcast_packet(3, 0x53);
        s.send_ip(3, &b3);
        s.run_for(Duration::from_millis(20));
        assert_eq!(
            count(&s, 0, &b3),
            0,
            "{mode:?}: RSU took a revoked OBU's broadcast"
        );
        assert_eq!(count(&s, 1, &b3), 1, "{mode:?}");
        // OBU 2 kept its service.
        let to2 = ipv4_packet("192.0.2.1".parse().unwrap(), addr(2), 0x52, 10);
        s.send_ip(0, &to2);
        s.run_for(Duration::from_millis(20));
        assert_eq!(count(&s, 2, &to2), 1, "{mode:?}");
        // Allowed again: back within a few seconds (its next reply; in
        // encrypted mode a new session, asked for by the certificate).
        rsu_allows_only(&mut s, &[1, 2, 3]);
        let back = s.run_until(Duration::from_secs(5), |s| {
            s.nodes[0].rsu().unwrap().routes().get(&mac(3)).is_some()
        });
        assert!(back.is_some(), "{mode:?}: not restored");
        let mut delivered = false;
        for k in 0..40 {
            let p = ipv4_packet("192.0.2.1".parse().unwrap(), addr(3), 0x60 + k, 10);
            s.send_ip(0, &p);
            s.run_for(Duration::from_millis(100));
            if count(&s, 3, &p) == 1 {
                delivered = true;
                break;
            }
        }
        assert!(delivered, "{mode:?}: traffic not restored");
    }
}

#[test]
fn an_obu_leaves_an_rsu_whose_key_is_no_longer_trusted() {
    for mode in SECURE {
        let mut s = cell(mode);
        settle(&mut s, mode);
        s.reload_security(1, |c| c.trusted_rsus.clear());
        s.run_for(Duration::from_millis(10));
        assert_eq!(s.upstream(1), None, "{mode:?}");
        assert!(!s.nodes[1].obu().unwrap().certified(s.now), "{mode:?}");
        // And it stays away: the RSU's beacons are refused now.
        s.run_for(Duration::from_secs(1));
        assert_eq!(s.upstream(1), None, "{mode:?}");
    }
}

#[test]
fn ping_and_traceroute_across_two_hops_in_every_mode() {
    for mode in EVERY {
        let mut s = cell(mode);
        settle(&mut s, mode);
        let req = |id, target, ttl| ProbeRequest {
            id,
            seq: 0,
            target,
            ttl,
        };
        // Ping the RSU by id and OBU 3 by address, from OBU 2.
        s.probe(2, req(1, ProbeTarget::Node(mac(0)), 16)).unwrap();
        s.probe(2, req(2, ProbeTarget::Addr(addr(3)), 16)).unwrap();
        // Traceroute to the RSU: TTL 1 ends at the relay.
        s.probe(2, req(3, ProbeTarget::Node(mac(0)), 1)).unwrap();
        s.run_for(Duration::from_millis(30));
        let mut r = s.probe_results(2);
        r.sort_by_key(|x| x.id);
        let got: Vec<_> = r.iter().map(|x| (x.id, x.kind, x.from, x.hops)).collect();
        assert_eq!(
            got,
            [
                (1, "reply", mac(0), 2),
                (2, "reply", mac(3), 2),
                (3, "ttl_exceeded", mac(1), 1),
            ],
            "{mode:?}"
        );
        assert!(r.iter().all(|x| x.rtt_us >= 2_000), "{mode:?}: {r:?}");
        // Nobody by that address: no route at the RSU, no answer.
        let nobody: IpAddr = "10.250.0.1".parse().unwrap();
        s.probe(2, req(4, ProbeTarget::Addr(nobody), 16)).unwrap();
        s.run_for(Duration::from_millis(30));
        assert!(s.probe_results(2).is_empty(), "{mode:?}");
    }
}

#[test]
fn a_flood_of_forged_broadcasts_costs_bounded_checks_and_known_senders_still_get_through() {
    let mode = SecurityMode::Authenticated;
    let mut s = cell(mode);
    settle(&mut s, mode);
    // OBU 2 is a known origin at the relay once one broadcast verified.
    let p = broadcast_packet(2, 0x44);
    s.send_ip(2, &p);
    s.run_for(Duration::from_millis(20));
    assert_eq!(count(&s, 1, &p), 1);
    // 3000 forgeries from made-up origins at one instant.
    let outsider = Identity::from_seed(&[0x67; 32]);
    let wall = WALL_AT_ZERO_US + s.now.0;
    let before = (
        drops(&s, 1, DropReason::AuthFailed),
        drops(&s, 1, DropReason::RateLimited),
    );
    for k in 0..3000u32 {
        let origin = common::NodeId([0x02, 0xaa, 0, (k >> 16) as u8, (k >> 8) as u8, k as u8]);
        let cert = secure::cert::issue(&outsider, origin, &outsider.public(), wall, 600_000_000, 0);
        let f = broadcast_frame(&s, 2, origin, Some((&outsider, &cert)), wall, 1);
        s.inject_frame(1, &f);
    }
    let checked = drops(&s, 1, DropReason::AuthFailed) - before.0;
    let limited = drops(&s, 1, DropReason::RateLimited) - before.1;
    assert_eq!(checked + limited, 3000);
    assert!(
        checked <= 150,
        "{checked} signature checks for a burst of forgeries"
    );
    // The known sender is still checked and delivered.
    let p = broadcast_packet(2, 0x45);
    s.send_ip(2, &p);
    s.run_for(Duration::from_millis(20));
    assert_eq!(count(&s, 1, &p), 1);
}

/// A recording of a broadcast from before its origin's window moved on
/// (65 or more numbers behind) cannot pass for a restarted origin: a
/// window re-synchronises only for a message signed later than anything
/// accepted from that origin.
#[test]
fn an_old_broadcast_cannot_pass_for_a_restart() {
    for mode in SECURE {
        let mut s = cell(mode);
        settle(&mut s, mode);
        let first = broadcast_packet(2, 0x50);
        s.send_ip(2, &first);
        let captured: Vec<u8> = s
            .in_flight()
            .find(|(from, f)| *from == 2 && f.get(ETH_HEADER_LEN + 1) == Some(&5))
            .map(|(_, f)| f.to_vec())
            .expect("OBU 2's broadcast");
        s.run_for(Duration::from_millis(5));
        for k in 0..70u8 {
            s.send_ip(2, &broadcast_packet(2, k));
            s.run_for(Duration::from_millis(2));
        }
        // Past the resync time (neighbor_timeout_ms), within the skew.
        s.run_for(Duration::from_millis(500));
        let replayed = drops(&s, 1, DropReason::Replayed);
        s.inject_frame(1, &captured);
        assert_eq!(drops(&s, 1, DropReason::Replayed), replayed + 1, "{mode:?}");
        assert_eq!(count(&s, 1, &first), 1, "{mode:?}: delivered again");
        // A real restart (new numbers, signed now) is taken at once.
        let later = broadcast_packet(2, 0x51);
        s.restart(2);
        settle(&mut s, mode);
        s.send_ip(2, &later);
        s.run_for(Duration::from_millis(20));
        assert_eq!(count(&s, 1, &later), 1, "{mode:?}: after the restart");
    }
}

/// A relay keeps the paths of uncertified replies for their certificates;
/// a flood of signed replies for made-up ids (an outsider's own key)
/// cannot keep a new OBU from being certified behind it.
#[test]
fn a_flood_of_uncertified_replies_does_not_keep_a_new_obu_from_its_certificate() {
    let mode = SecurityMode::Authenticated;
    let mut s = cell(mode);
    settle(&mut s, mode);
    let outsider = Identity::from_seed(&[0x68; 32]);
    let wall = WALL_AT_ZERO_US + s.now.0;
    for k in 0..3000u32 {
        let id = common::NodeId([0x02, 0xbb, 0, (k >> 16) as u8, (k >> 8) as u8, k as u8]);
        let r = common::wire::BeaconReplyRepr {
            obu: id,
            rsu: mac(0),
            seq: 1,
            timestamp_us: 0,
            hops: 2,
            addrs: common::wire::AddrList::default(),
            attach_seq: 1,
            leaving: false,
            cert: None,
            parent: mac(1),
            quality_pct: 100,
        };
        let raw = secure::control::sign_reply(&outsider, &r, wall, &mut Vec::new());
        let a = Action::SendControl {
            dst: mac(1),
            ttl: 4,
            msg: Control::Raw(Box::new(raw)),
        };
        let f = s.frame_for(2, &a, &[]);
        s.inject_frame(1, &f);
    }
    // A new OBU behind the relay attaches and is certified.
    let n = s.add_obu();
    s.link(1, n);
    let ok = s.run_until(Duration::from_secs(5), |s| {
        s.nodes[n].obu().unwrap().certified(s.now)
            && s.nodes[1]
                .obu()
                .unwrap()
                .downstream()
                .get(&mac(n))
                .is_some()
    });
    assert!(ok.is_some(), "the new OBU was never certified");
}

/// Certificates are renewed before they expire: with a 10 s lifetime the
/// OBUs hold valid ones and the relay keeps its routes for a minute, and
/// each OBU was certified again and again.
#[test]
fn certificates_are_renewed_before_they_expire() {
    for mode in SECURE {
        let routing = RoutingConfig {
            broadcast_ttl: 2,
            ..RoutingConfig::default()
        };
        let mut s = Sim::new(routing).with_security_config(protocol::params::SecurityConfig {
            mode,
            cert_lifetime_secs: 10,
            ..Default::default()
        });
        let r = s.add_rsu();
        let relay = s.add_obu();
        let far = s.add_obu();
        s.link(r, relay);
        s.link(relay, far);
        s.run_for(Duration::from_secs(3));
        let first = s.nodes[far].obu().unwrap().own_cert().expect("certified");
        for _ in 0..60 {
            s.run_for(Duration::from_secs(1));
            for o in [relay, far] {
                assert!(
                    s.nodes[o].obu().unwrap().certified(s.now),
                    "{mode:?}: OBU {o}"
                );
            }
            assert!(
                s.nodes[relay]
                    .obu()
                    .unwrap()
                    .downstream()
                    .get(&mac(far))
                    .is_some(),
                "{mode:?}: the relay lost the route"
            );
        }
        let last = s.nodes[far].obu().unwrap().own_cert().unwrap();
        assert!(last.issued_us >= first.issued_us + 50_000_000, "{mode:?}");
        let accepted = s.nodes[far]
            .counters
            .certs_accepted
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            accepted >= 10,
            "{mode:?}: {accepted} certificates in a minute"
        );
        // Traffic still flows both ways.
        let p = ipv4_packet("192.0.2.1".parse().unwrap(), addr(far), 0x70, 10);
        s.send_ip(r, &p);
        s.run_for(Duration::from_millis(20));
        assert_eq!(count(&s, far, &p), 1, "{mode:?}");
    }
}
