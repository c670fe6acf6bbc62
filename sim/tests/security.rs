//! Security modes on the simulated radio: signed control plane, sealed
//! data, rogue RSUs, replays, bit flips and rekeying.

use common::counters::DropReason;
use common::wire::{Body, Messages, ETH_HEADER_LEN, FLAG_SEALED};
use common::NodeId;
use protocol::params::{RoutingConfig, SecurityConfig, SecurityMode};
use sim::{addr, ipv4_packet, Sim};
use std::time::Duration;

fn drops(s: &Sim, i: usize, r: DropReason) -> u64 {
    s.nodes[i].counters.drops(r)
}

/// RSU 0 — OBU 1 — OBU 2 (OBU 2 only hears OBU 1).
fn chain(mode: SecurityMode) -> Sim {
    chain_of(Sim::new(RoutingConfig::default()).with_security(mode))
}

/// Adds RSU 0 — OBU 1 — OBU 2 to `s`.
fn chain_of(mut s: Sim) -> Sim {
    let r = s.add_rsu();
    let a = s.add_obu();
    let b = s.add_obu();
    s.link(r, a);
    s.link(a, b);
    s
}

fn ready(s: &mut Sim, obus: &[usize]) {
    let obus = obus.to_vec();
    s.run_until(Duration::from_secs(3), |s| {
        obus.iter()
            .all(|&o| s.nodes[o].obu().is_some_and(|x| x.has_session()))
    })
    .expect("sessions established");
    // Let the keepalives confirm the sessions at the RSU.
    s.run_for(Duration::from_millis(20));
}

#[test]
fn encrypted_multi_hop_traffic_both_ways_and_v2v() {
    let mut s = chain(SecurityMode::Encrypted);
    ready(&mut s, &[1, 2]);
    assert_eq!(s.upstream(2), Some((0, 1, 2)));
    let marker = b"SECRET-PAYLOAD-MARKER";
    let mut up = ipv4_packet(addr(2), "192.0.2.9".parse().unwrap(), 1, 0);
    up.extend_from_slice(marker);
    fix_len(&mut up);
    s.send_ip(2, &up);
    // On the air, no frame shows the payload.
    for _ in 0..5 {
        for (_, f) in s.in_flight() {
            assert!(
                !f.windows(marker.len()).any(|w| w == marker),
                "plaintext on the air"
            );
        }
        s.step();
    }
    s.run_for(Duration::from_millis(5));
    assert_eq!(
        s.nodes[0].tun_out,
        vec![up],
        "2-hop upstream, decrypted at the RSU"
    );
    let down = ipv4_packet("192.0.2.9".parse().unwrap(), addr(2), 2, 64);
    s.send_ip(0, &down);
    s.run_for(Duration::from_millis(10));
    assert_eq!(s.nodes[2].tun_out, vec![down], "2-hop downstream");
    assert!(s.nodes[1].tun_out.is_empty(), "the relay delivers nothing");
    // V2V between the relay and its child goes through the RSU, re-sealed.
    let v2v = ipv4_packet(addr(2), addr(1), 3, 64);
    s.send_ip(2, &v2v);
    s.run_for(Duration::from_millis(10));
    assert_eq!(s.nodes[1].tun_out, vec![v2v]);
    assert!(
        s.nodes[0]
            .counters
            .v2v_turnaround
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

fn fix_len(p: &mut [u8]) {
    let n = p.len() as u16;
    p[2..4].copy_from_slice(&n.to_be_bytes());
    p[10..12].fill(0);
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[test]
fn authenticated_mode_signs_control_and_carries_plain_data() {
    let mut s = chain(SecurityMode::Authenticated);
    s.run_until(Duration::from_secs(1), |s| s.upstream(2).is_some())
        .expect("attached through the relay");
    s.run_for(Duration::from_millis(200));
    let up = ipv4_packet(addr(2), "192.0.2.9".parse().unwrap(), 1, 10);
    s.send_ip(2, &up);
    s.run_for(Duration::from_millis(5));
    assert_eq!(s.nodes[0].tun_out, vec![up]);
    assert_eq!(drops(&s, 1, DropReason::AuthFailed), 0);
}

#[test]
fn rogue_rsu_is_never_attached_to() {
    let mut s = Sim::new(RoutingConfig::default()).with_security(SecurityMode::Encrypted);
    let rogue = s.add_rogue_rsu();
    let o = s.add_obu();
    s.link(rogue, o);
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.upstream(o), None, "attached to an untrusted RSU");
    assert!(drops(&s, o, DropReason::AuthFailed) >= 5);
    // With an honest RSU in range too, the OBU picks the honest one.
    let honest = s.add_rsu();
    s.link(honest, o);
    s.run_until(Duration::from_secs(1), |s| s.upstream(o).is_some())
        .expect("attached to the trusted RSU");
    assert_eq!(s.upstream(o).map(|u| u.0), Some(honest));
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.upstream(o).map(|u| u.0), Some(honest), "stays");
}

#[test]
fn unsigned_beacons_are_refused_when_security_is_on() {
    // A plain (security off) RSU next to a secured OBU.
    let mut plain = Sim::new(RoutingConfig::default());
    plain.add_rsu();
    plain.run_for(Duration::from_millis(1));
    let beacon: Vec<u8> = plain.in_flight().next().expect("a beacon").1.to_vec();
    let mut s = Sim::new(RoutingConfig::default()).with_security(SecurityMode::Authenticated);
    s.add_obu(); // node 0: the plain RSU's MAC must not be ours
    let o = s.add_obu();
    for _ in 0..5 {
        s.inject_frame(o, &beacon);
    }
    assert_eq!(s.upstream(o), None);
    assert_eq!(drops(&s, o, DropReason::Unprotected), 5);
}

#[test]
fn replayed_frames_are_dropped_and_counted() {
    let mut s = chain(SecurityMode::Encrypted);
    ready(&mut s, &[1, 2]);
    // Record everything on the air for a while, with traffic.
    let mut recorded: Vec<(usize, Vec<u8>)> = Vec::new();
    for k in 0..50u8 {
        s.send_ip(
            2,
            &ipv4_packet(addr(2), "192.0.2.9".parse().unwrap(), k, 40),
        );
        s.send_ip(
            0,
            &ipv4_packet("192.0.2.9".parse().unwrap(), addr(2), k, 40),
        );
        for (from, f) in s.in_flight() {
            recorded.push((from, f.to_vec()));
        }
        s.run_for(Duration::from_millis(20));
    }
    let delivered = (s.nodes[0].tun_out.len(), s.nodes[2].tun_out.len());
    assert_eq!(delivered, (50, 50));
    recorded.sort();
    recorded.dedup();
    // Play it all again, later, to everyone who heard it the first time.
    s.run_for(Duration::from_secs(3));
    // Played back inside a session's counter window, sealed data counts as
    // a copy (`duplicate`, what a sender repeating on a weak link makes);
    // control messages and anything older as `replayed`. Both are refused.
    let refused = |s: &Sim| -> u64 {
        (0..3)
            .map(|i| drops(s, i, DropReason::Replayed) + drops(s, i, DropReason::Duplicate))
            .sum()
    };
    let before_replayed = refused(&s);
    for (from, f) in &recorded {
        for to in 0..3 {
            if to != *from && s.hears(*from, to) {
                s.inject_frame(to, f);
            }
        }
    }
    s.run_for(Duration::from_millis(50));
    let replayed = refused(&s) - before_replayed;
    assert!(replayed >= 100, "replays counted: {replayed}");
    assert_eq!(
        (s.nodes[0].tun_out.len(), s.nodes[2].tun_out.len()),
        delivered,
        "no replayed packet delivered again"
    );
    // Traffic keeps flowing afterwards.
    let up = ipv4_packet(addr(2), "192.0.2.9".parse().unwrap(), 99, 40);
    s.send_ip(2, &up);
    s.run_for(Duration::from_millis(10));
    assert_eq!(s.nodes[0].tun_out.last(), Some(&up));
}

#[test]
fn flipped_bits_in_sealed_data_are_dropped_and_counted() {
    let mut s = chain(SecurityMode::Encrypted);
    ready(&mut s, &[1]);
    // Keep the original off the air so it is still fresh when the forged
    // copies arrive (a replay of a seen counter is refused before decryption).
    s.cut(0, 1);
    s.send_ip(
        1,
        &ipv4_packet(addr(1), "192.0.2.9".parse().unwrap(), 1, 200),
    );
    let frame: Vec<u8> = s
        .in_flight()
        .map(|(_, f)| f.to_vec())
        .find(|f| {
            Messages::new(&f[ETH_HEADER_LEN..])
                .any(|m| matches!(m, Ok(m) if matches!(m.body, Body::Data(_)) && m.header.flags & FLAG_SEALED != 0))
        })
        .expect("a sealed data frame in flight");
    s.run_for(Duration::from_millis(5));
    assert!(s.nodes[0].tun_out.is_empty());
    // Flip one bit at many positions of the sealed part (index excluded:
    // a changed index finds no session, counted as such).
    let mut flips = 0;
    for at in (ETH_HEADER_LEN + 28..frame.len()).step_by(7) {
        let mut f = frame.clone();
        f[at] ^= 0x01;
        s.inject_frame(0, &f);
        flips += 1;
    }
    assert_eq!(drops(&s, 0, DropReason::DecryptFailed), flips);
    assert!(s.nodes[0].tun_out.is_empty(), "nothing forged delivered");
    s.inject_frame(0, &frame);
    assert_eq!(s.nodes[0].tun_out.len(), 1, "the genuine frame still opens");
    s.link(0, 1);
}

#[test]
fn rekeying_under_traffic_loses_nothing() {
    let cfg = SecurityConfig {
        mode: SecurityMode::Encrypted,
        rekey_after_messages: 1000,
        ..SecurityConfig::default()
    };
    let mut s = Sim::new(RoutingConfig::default()).with_security_config(cfg);
    let r = s.add_rsu();
    let o = s.add_obu();
    s.link(r, o);
    ready(&mut s, &[o]);
    let n = 5000;
    for k in 0..n {
        s.send_ip(
            o,
            &ipv4_packet(addr(o), "192.0.2.9".parse().unwrap(), k as u8, 20),
        );
        s.send_ip(
            r,
            &ipv4_packet("192.0.2.9".parse().unwrap(), addr(o), k as u8, 20),
        );
        if k % 4 == 0 {
            s.step();
        }
    }
    s.run_for(Duration::from_millis(50));
    assert_eq!(s.nodes[r].tun_out.len(), n, "upstream packets delivered");
    assert_eq!(s.nodes[o].tun_out.len(), n, "downstream packets delivered");
    let hs = s.nodes[o]
        .counters
        .handshakes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(hs >= 5, "rekeyed: {hs} handshakes");
}

#[test]
fn relays_refuse_replies_for_a_known_obu_under_another_key() {
    use common::wire::{AddrList, BeaconReplyRepr, HeaderRepr, HEADER_LEN};
    let mut s = chain(SecurityMode::Encrypted);
    ready(&mut s, &[1, 2]);
    // An outsider signs a reply claiming OBU 2's id with its own key.
    let outsider = secure::Identity::from_seed(&[0x99; 32]);
    let reply = BeaconReplyRepr {
        obu: s.nodes[2].mac,
        rsu: s.nodes[0].mac,
        seq: 1,
        timestamp_us: 0,
        hops: 1,
        addrs: AddrList::default(),
        attach_seq: 0,
        leaving: false,
        cert: None,
        parent: NodeId::default(),
        quality_pct: 0,
    };
    let wall = sim::WALL_AT_ZERO_US + s.now.0;
    let raw = secure::control::sign_reply(&outsider, &reply, wall, &mut Vec::new());
    let mut frame = Vec::new();
    frame.extend_from_slice(&s.nodes[1].mac.0);
    frame.extend_from_slice(&[0x06, 0xee, 0, 0, 0, 1]);
    frame.extend_from_slice(&[0x88, 0xb5]);
    let mut hdr = [0u8; HEADER_LEN];
    HeaderRepr {
        msg_type: raw.msg_type,
        flags: raw.flags,
        ttl: 8,
        body_len: raw.body.len() as u16,
    }
    .emit(&mut hdr);
    frame.extend_from_slice(&hdr);
    frame.extend_from_slice(&raw.body);
    let before = drops(&s, 1, DropReason::AuthFailed);
    s.inject_frame(1, &frame);
    assert_eq!(drops(&s, 1, DropReason::AuthFailed), before + 1);
    // OBU 2 is still reached through its real path.
    let down = ipv4_packet("192.0.2.9".parse().unwrap(), addr(2), 5, 20);
    s.send_ip(0, &down);
    s.run_for(Duration::from_millis(10));
    assert_eq!(s.nodes[2].tun_out, vec![down]);
}

/// A change to one node's security settings.
type Edit<'a> = &'a dyn Fn(&mut SecurityConfig);

/// Settings for every node, then some nodes changed (as a reload would).
fn chain_with(all: impl Fn(&mut SecurityConfig), per_node: &[(usize, Edit)]) -> Sim {
    let mut c = SecurityConfig {
        mode: SecurityMode::Encrypted,
        ..SecurityConfig::default()
    };
    all(&mut c);
    let mut s = chain_of(Sim::new(RoutingConfig::default()).with_security_config(c));
    for (i, edit) in per_node {
        s.reload_security(*i, |c| edit(c));
    }
    s
}

fn traffic_both_ways(s: &mut Sim) {
    let up = ipv4_packet(addr(2), "192.0.2.9".parse().unwrap(), 1, 64);
    s.send_ip(2, &up);
    s.run_for(Duration::from_millis(10));
    assert_eq!(
        s.nodes[0].tun_out,
        vec![up],
        "2-hop upstream, opened at the RSU"
    );
    let down = ipv4_packet("192.0.2.9".parse().unwrap(), addr(2), 2, 64);
    s.send_ip(0, &down);
    s.run_for(Duration::from_millis(10));
    assert_eq!(s.nodes[2].tun_out, vec![down], "2-hop downstream");
}

#[test]
fn each_cipher_and_post_quantum_carry_traffic_over_two_hops() {
    use secure::{Cipher, CipherSetting};
    for (cipher, pq) in [
        (CipherSetting::Only(Cipher::Aes256Gcm), false),
        (CipherSetting::Only(Cipher::ChaCha20Poly1305), false),
        (CipherSetting::Auto, true),
        (CipherSetting::Only(Cipher::ChaCha20Poly1305), true),
    ] {
        let mut s = chain_with(
            |c| {
                c.cipher = cipher;
                c.post_quantum = pq;
            },
            &[],
        );
        // Post-quantum handshakes are the largest frames on the air.
        let mut largest = 0;
        s.run_until(Duration::from_secs(3), |s| {
            for (_, f) in s.in_flight() {
                largest = largest.max(f.len());
            }
            [1, 2]
                .iter()
                .all(|&o| s.nodes[o].obu().is_some_and(|x| x.has_session()))
        })
        .expect("sessions established");
        s.run_for(Duration::from_millis(20));
        let want = match cipher {
            CipherSetting::Only(c) => c,
            CipherSetting::Auto => Cipher::preferred_by_cpu(),
        };
        for o in [1, 2] {
            assert_eq!(
                s.nodes[o].obu().unwrap().session_suite(),
                Some((want, pq)),
                "{cipher:?} {pq}"
            );
        }
        assert_eq!(
            largest > secure::hybrid::EK_LEN,
            pq,
            "largest frame {largest}"
        );
        traffic_both_ways(&mut s);
        for i in 0..3 {
            assert_eq!(drops(&s, i, DropReason::Incompatible), 0);
        }
    }
}

#[test]
fn mismatched_cipher_or_post_quantum_makes_no_session_and_is_counted_at_both_ends() {
    use secure::{Cipher, CipherSetting};
    let chacha: Edit = &|c| c.cipher = CipherSetting::Only(Cipher::ChaCha20Poly1305);
    let pq: Edit = &|c| c.post_quantum = true;
    for (all, rsu) in [
        (CipherSetting::Only(Cipher::Aes256Gcm), chacha),
        (CipherSetting::Auto, pq),
    ] {
        let mut s = chain_with(|c| c.cipher = all, &[(0, rsu)]);
        s.run_for(Duration::from_secs(3));
        assert!(!s.nodes[1].obu().unwrap().has_session());
        assert!(
            drops(&s, 0, DropReason::Incompatible) >= 1,
            "counted at the RSU"
        );
        assert!(
            drops(&s, 1, DropReason::Incompatible) >= 1,
            "counted at the OBU"
        );
        // It backs off: one refusal per OBU per 10 s, not one a second.
        assert!(drops(&s, 0, DropReason::Incompatible) <= 2);
        // Once the RSU is set like the others, sessions come up by themselves.
        s.reload_security(0, |c| c.cipher = all);
        s.run_until(Duration::from_secs(15), |s| {
            [1, 2]
                .iter()
                .all(|&o| s.nodes[o].obu().is_some_and(|x| x.has_session()))
        })
        .expect("sessions after the fix");
        s.run_for(Duration::from_millis(20));
        traffic_both_ways(&mut s);
    }
}
