//! Recovery with the real daemons: restarts (kill -9 and clean stops) in
//! every security mode, and a flood of forged handshakes at an RSU.
//!
//! `V2XD_RECOVERY_REPS=N` repeats every restart N times and prints min /
//! median / max (the figures in docs/OPERATIONS.md); the default, one.

use common::wire::HeaderRepr;
use common::NodeId;
use std::time::Duration;
use testbed::{
    epoch_now, mac_bytes, reply_times, require_testbed, NodeOptions, Role, Testbed, Topology,
};

fn opts(mode: Option<&str>) -> NodeOptions {
    NodeOptions {
        security: mode.map(|m| m.parse().expect("a security mode")),
        ..NodeOptions::default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill9,
    Stop,
    /// kill -9, start, and kill -9 again 300 ms after that start.
    QuickTwice,
}

/// Faults `victim` while `pinger` pings `target` every 10 ms, starts it
/// again, and returns the seconds from the (last) start to the first reply.
fn restart_gap(
    tb: &mut Testbed,
    victim: usize,
    pinger: usize,
    target: &str,
    fault: Fault,
) -> Option<f64> {
    let h = tb.spawn_in(
        pinger,
        &[
            "ping", "-D", "-n", "-i", "0.01", "-W", "1", "-w", "6", target,
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    match fault {
        Fault::Kill9 => tb.kill9(victim),
        Fault::Stop => {
            tb.stop(victim);
        }
        Fault::QuickTwice => {
            tb.kill9(victim);
            // Killed again 300 ms after this start, during its start-up.
            tb.restart_nowait(victim);
            std::thread::sleep(Duration::from_millis(300));
            tb.kill9(victim);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let started = epoch_now();
    tb.restart(victim);
    let out = tb
        .wait_spawned(h, Duration::from_secs(12))
        .unwrap_or_default();
    reply_times(&out)
        .into_iter()
        .find(|t| *t > started)
        .map(|t| t - started)
}

fn reps() -> usize {
    std::env::var("V2XD_RECOVERY_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

fn summary(v: &mut [f64]) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "min {:.3} / median {:.3} / max {:.3} s over {}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1],
        v.len()
    )
}

fn restarts_in_mode(mode: Option<&str>) {
    restarts_with(mode, "")
}

fn restarts_with(mode: Option<&str>, security_extra: &str) {
    let mut tb = Testbed::new(&Topology::star(1));
    tb.start_all(&NodeOptions {
        security_extra: security_extra.into(),
        ..opts(mode)
    });
    tb.wait_ready(Duration::from_secs(10));
    if mode == Some("encrypted") {
        let up = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            tb.stat(1, "routing", "handshakes") >= 1
        });
        assert!(up, "session up\n{}", tb.log_tail(1, 100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let rsu4 = tb.nodes[0].addr4.clone();
    for (victim, fault) in [
        (0, Fault::Kill9),
        (0, Fault::Stop),
        (0, Fault::QuickTwice),
        (1, Fault::Kill9),
        (1, Fault::Stop),
    ] {
        let mut gaps = Vec::new();
        for _ in 0..reps() {
            let gap = restart_gap(&mut tb, victim, 1, &rsu4, fault);
            let gap = gap.unwrap_or_else(|| {
                panic!(
                    "{mode:?}: node {victim} after {fault:?}: no reply within 6 s\nRSU:\n{}\nOBU:\n{}",
                    tb.log_tail(0, 100),
                    tb.log_tail(1, 100)
                )
            });
            assert!(
                gap <= 1.0,
                "{mode:?}: node {victim} after {fault:?}: back after {gap:.3} s\nOBU:\n{}",
                tb.log_tail(1, 100)
            );
            gaps.push(gap);
            // Both sides are up again before the next fault.
            tb.wait_ready(Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(300));
        }
        let who = if victim == 0 { "RSU" } else { "OBU" };
        eprintln!(
            "recovery {}{}: {who} {fault:?}: {}",
            mode.unwrap_or("off"),
            if security_extra.is_empty() {
                ""
            } else {
                " (post-quantum)"
            },
            summary(&mut gaps)
        );
    }
}

#[test]
fn restarts_are_back_within_a_second_mode_off() {
    require_testbed!();
    restarts_in_mode(None);
}

#[test]
fn restarts_are_back_within_a_second_authenticated() {
    require_testbed!();
    restarts_in_mode(Some("authenticated"));
}

#[test]
fn restarts_are_back_within_a_second_encrypted() {
    require_testbed!();
    restarts_in_mode(Some("encrypted"));
}

/// The hybrid handshake (ML-KEM-768 beside X25519) keeps section 8's
/// one second.
#[test]
fn restarts_are_back_within_a_second_encrypted_post_quantum() {
    require_testbed!();
    restarts_with(Some("encrypted"), "post_quantum = true");
}

/// Round-trip times (ms) of a `ping` run's replies.
fn rtts(out: &str) -> Vec<f64> {
    out.lines()
        .filter_map(|l| l.split("time=").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Handshake inits made with throwaway keys and ids, for RSU `rsu_id`
/// (whose key is `rsu_key`), framed from made-up MACs.
fn forged_inits(rsu_mac: [u8; 6], rsu_key: &str, count: usize) -> Vec<Vec<u8>> {
    let rsu_key = secure::PublicKey::from_hex(rsu_key).expect("RSU key");
    let rsu_id = NodeId(rsu_mac);
    (0..count)
        .map(|k| {
            let id = NodeId([0x06, 0xee, 0x77, (k >> 16) as u8, (k >> 8) as u8, k as u8]);
            let ident = std::sync::Arc::new(secure::Identity::generate().expect("key"));
            let mut s = secure::Sessions::new(id, ident, secure::Limits::default(), 4);
            let wall = (epoch_now() * 1e6) as u64;
            let init = s
                .initiate(common::Time::ZERO, wall, rsu_id, rsu_key)
                .expect("init");
            let mut f = rsu_mac.to_vec();
            f.extend_from_slice(&id.0);
            f.extend_from_slice(&[0x88, 0xb5]);
            let mut h = [0u8; common::wire::HEADER_LEN];
            HeaderRepr {
                msg_type: init.msg_type,
                flags: init.flags,
                ttl: 8,
                body_len: init.body.len() as u16,
            }
            .emit(&mut h);
            f.extend_from_slice(&h);
            f.extend_from_slice(&init.body);
            f
        })
        .collect()
}

#[test]
fn a_handshake_flood_leaves_attached_obus_served_and_costs_bounded_cpu() {
    require_testbed!();
    let mut t = Topology::new();
    let rsu = t.node("rsu", Role::Rsu);
    let obu = t.node("obu", Role::Obu);
    let attacker = t.node("attacker", Role::Obu);
    let _ = (rsu, obu, attacker);
    let mut tb = Testbed::new(&t);
    tb.ensure_keys();
    tb.distrusted.push(attacker);
    for i in [rsu, obu] {
        tb.start(i, &opts(Some("encrypted")));
    }
    assert!(
        tb.wait_node_ready(obu, Duration::from_secs(10)),
        "{}",
        tb.log_tail(obu, 100)
    );
    let up = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        tb.stat(obu, "routing", "handshakes") >= 1
    });
    assert!(up, "session up");
    let frames = forged_inits(mac_bytes(&tb.nodes[rsu].mac), &tb.keys[rsu].clone(), 256);
    let rsu4 = tb.nodes[rsu].addr4.clone();
    let flood_secs = 8u64;
    let limited0 = tb.stat(rsu, "drops", "rate_limited");
    let failed0 = tb.stat(rsu, "drops", "auth_failed");
    let cpu0 = tb.cpu_time(rsu).expect("rsu cpu");
    let spray = tb.spray(attacker, frames, 10_000, Duration::from_secs(flood_secs));
    std::thread::sleep(Duration::from_millis(300));
    // 10 ms pings over the flood.
    let count = ((flood_secs - 1) * 100).to_string();
    let ping = tb.spawn_in(
        obu,
        &["ping", "-n", "-i", "0.01", "-W", "1", "-c", &count, &rsu4],
    );
    let out = tb
        .wait_spawned(ping, Duration::from_secs(flood_secs + 10))
        .unwrap_or_default();
    let sent = spray.join().expect("spray").expect("spray ran");
    let cpu = tb.cpu_time(rsu).expect("rsu cpu") - cpu0;
    let limited = tb.stat(rsu, "drops", "rate_limited") - limited0;
    let answered = tb.stat(rsu, "drops", "auth_failed") - failed0;
    let r = testbed::PingResult::parse(&out);
    let mut t = rtts(&out);
    t.sort_by(|a, b| a.total_cmp(b));
    let p99 = t.get(t.len() * 99 / 100).copied().unwrap_or(f64::MAX);
    let loss = 1.0 - f64::from(r.received) / f64::from(r.transmitted.max(1));
    eprintln!(
        "flood: {sent} forged inits in {flood_secs} s; {limited} rate-limited, {answered} checked; RSU CPU {:.2} s; ping {}/{} (loss {:.2} %), p99 {p99:.2} ms",
        cpu.as_secs_f64(),
        r.received,
        r.transmitted,
        loss * 100.0
    );
    assert!(sent >= 10_000 * (flood_secs - 1), "the flood ran: {sent}");
    // CPU for handshakes is bounded: the forged inits the RSU checked stay
    // within the unknown ids' rate (200 a second plus the burst).
    let (rate, burst) = protocol::ratelimit::HANDSHAKES_UNKNOWN;
    assert!(
        answered <= u64::from(rate) * (flood_secs + 1) + u64::from(burst),
        "{answered} forged inits checked"
    );
    assert!(limited >= sent / 2, "{limited} of {sent} rate-limited");
    assert!(r.transmitted >= 600, "{out}");
    assert!(
        loss <= 0.01,
        "ping loss {:.2} % over the flood",
        loss * 100.0
    );
    // The tail is measured in debug builds on a shared machine: 5 ms is the
    // target (release figures in docs/OPERATIONS.md); the test allows 20.
    assert!(p99 <= 20.0, "ping p99 {p99:.2} ms over the flood");
    // Service goes on after the flood.
    let r = tb.ping(obu, &rsu4, 20, "0.01");
    assert_eq!(r.received, 20, "{r:?}");
}
