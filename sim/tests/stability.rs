//! Stability under load: the road runs on one shared CPU (as the lab's
//! daemons do on one machine), a burst of other work takes most of that
//! CPU for a while, and the network must come back by itself once the
//! burst ends instead of sustaining a storm of failovers and handshakes.

use common::counters::Counters;
use protocol::params::{RoutingConfig, SecurityMode};
use sim::cpu::{Costs, Cpu};
use sim::density::{build_on, Road};
use sim::Sim;
use std::time::Duration;

const OBUS: usize = 80;

/// A highway of 4 RSUs 1 km apart, 80 vehicles, 400 m radio range (up to
/// two hops), encrypted, on one CPU of `capacity_us` per millisecond.
fn road(capacity_us: u64) -> (Sim, Vec<usize>) {
    let s = Sim::new(RoutingConfig::default())
        .with_security(SecurityMode::Encrypted)
        .with_cpu(Cpu::new(capacity_us, Costs::default()));
    build_on(
        s,
        Road::Highway {
            length_m: 4000,
            rsu_every_m: 1000,
            range_m: 400,
        },
        OBUS,
        0x5eed,
    )
}

fn total(s: &Sim, f: impl Fn(&Counters) -> u64) -> u64 {
    s.nodes.iter().map(|n| f(&n.counters)).sum()
}

fn attached(s: &Sim, rsus: &[usize]) -> usize {
    (0..s.nodes.len())
        .filter(|i| !rsus.contains(i))
        .filter(|i| s.nodes[*i].obu().is_some_and(|o| o.has_session()))
        .count()
}

/// One second of the road, as seen from outside.
#[derive(Clone, Copy, Debug)]
struct Second {
    attached: usize,
    changes: u64,
    handshakes: u64,
    /// Share of the CPU's capacity used.
    load: f64,
    /// Frames led by a beacon (RSUs' own and rebroadcasts).
    beacon_frames: u64,
}

fn seconds(s: &mut Sim, rsus: &[usize], secs: u64, label: &str) -> Vec<Second> {
    let mut out = Vec::new();
    for _ in 0..secs {
        let ch0 = total(s, |c| Counters::get(&c.upstream_changes));
        let hs0 = total(s, |c| Counters::get(&c.handshakes));
        let busy0 = s.cpu().unwrap().busy_us;
        let bc0: u64 = s.nodes.iter().map(|n| n.beacon_frames_sent).sum();
        s.run_for(Duration::from_secs(1));
        let cap = s.cpu().unwrap().capacity_us as f64 * 1000.0;
        let sec = Second {
            attached: attached(s, rsus),
            changes: total(s, |c| Counters::get(&c.upstream_changes)) - ch0,
            handshakes: total(s, |c| Counters::get(&c.handshakes)) - hs0,
            load: (s.cpu().unwrap().busy_us - busy0) as f64 / cap,
            beacon_frames: s.nodes.iter().map(|n| n.beacon_frames_sent).sum::<u64>() - bc0,
        };
        eprintln!("{label} t={:>3} {sec:?}", s.now.0 / 1_000_000);
        out.push(sec);
    }
    out
}

fn mean_load(v: &[Second]) -> f64 {
    v.iter().map(|x| x.load).sum::<f64>() / v.len() as f64
}

/// The road at about 85 % of its CPU; a burst of other work leaves it a
/// fifth of that for 3 s. With the configured timeout alone (before the
/// neighbours' own timeouts and hold-downs), 21 of 80 vehicles lost their
/// upstream, about 150 upstream changes followed, and afterwards the road
/// stayed at 100 % of its CPU with a third more beacon rebroadcasts (more
/// vehicles had become relays) instead of going back to 85 %: a worse
/// state that held itself. Now it bends and comes back: nobody left
/// detached, no upstream change from 5 s after the burst on.
///
/// What varies between runs (the roles' hash seeds and handshake indices
/// are per process): most runs end within 0.05 of their load before with
/// a handful of changes; some (about one in three) make 60-116 changes
/// and settle with vehicles spread over more relays, up to a fifth more
/// beacon rebroadcasts and a load up to 0.12 higher, quiet all the same.
/// The bounds hold for both; that costlier resting state is open work.
#[test]
fn a_cpu_burst_ends_and_the_road_comes_back() {
    let (mut s, rsus) = road(1000);
    seconds(&mut s, &rsus, 8, "warm");
    s.set_cpu_capacity(100);
    let before = seconds(&mut s, &rsus, 4, "loaded");
    s.set_cpu_capacity(20);
    let burst = seconds(&mut s, &rsus, 3, "burst");
    s.set_cpu_capacity(100);
    let after = seconds(&mut s, &rsus, 15, "after");
    let changes: u64 = burst.iter().chain(&after).map(|x| x.changes).sum();
    let settled = &after[5..];
    let beacons = |v: &[Second]| v.iter().map(|x| x.beacon_frames).sum::<u64>() / v.len() as u64;
    eprintln!(
        "changes {changes}, load {:.2} -> {:.2}, beacon frames {} -> {}",
        mean_load(&before),
        mean_load(settled),
        beacons(&before),
        beacons(settled)
    );
    // The earlier daemons: about 150, and never quiet.
    assert!(
        changes <= 130,
        "{changes} upstream changes: {burst:?} {after:?}"
    );
    let least = burst
        .iter()
        .chain(&after)
        .map(|x| x.attached)
        .min()
        .unwrap();
    assert!(least >= OBUS * 9 / 10, "{least} attached at the worst");
    // Quiet: everybody attached, no upstream change; a handshake now and
    // then is a session prepared with a next RSU, not a failover.
    assert!(
        settled.iter().all(|x| x.attached == OBUS && x.changes == 0),
        "{settled:?}"
    );
    let handshakes: u64 = settled.iter().map(|x| x.handshakes).sum();
    assert!(
        handshakes <= 5,
        "{handshakes} handshakes once settled: {settled:?}"
    );
    let (was, is) = (mean_load(&before), mean_load(settled));
    assert!(is <= was + 0.15, "load {was:.2} before, {is:.2} after");
    assert!(
        beacons(settled) * 10 <= beacons(&before) * 13,
        "beacon frames {} before, {} after",
        beacons(&before),
        beacons(settled)
    );
}

/// RSUs 0 and 1; relay 2 hears RSU 0, relay 3 hears RSU 1; vehicle 4
/// hears both relays only. Encrypted.
fn two_relays() -> Sim {
    let mut s = Sim::new(RoutingConfig::default()).with_security(SecurityMode::Encrypted);
    let (a, b) = (s.add_rsu(), s.add_rsu());
    let (r1, r2, v) = (s.add_obu(), s.add_obu(), s.add_obu());
    s.link(a, r1);
    s.link(b, r2);
    s.link(r1, v);
    s.link(r2, v);
    s
}

/// Upstream changes of node `i` so far.
fn changes(s: &Sim, i: usize) -> u64 {
    Counters::get(&s.nodes[i].counters.upstream_changes)
}

/// Both relays are starved now and then (350-450 ms without a turn, as a
/// daemon on a saturated machine): neither is dead, and the vehicle
/// behind them must not flap between them on every stall.
#[test]
fn a_starved_relay_is_late_not_dead() {
    let mut s = two_relays();
    let v = 4;
    let ok = s.run_until(Duration::from_secs(5), |s| {
        s.nodes[v].obu().is_some_and(|o| o.has_session())
    });
    assert!(ok.is_some(), "the vehicle attached");
    s.run_for(Duration::from_secs(3));
    let before = changes(&s, v);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut stalls = 0;
    for _ in 0..60 {
        for relay in [2, 3] {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng.is_multiple_of(3) {
                s.stall(relay, Duration::from_millis(350 + rng % 100));
                stalls += 1;
            }
        }
        s.run_for(Duration::from_millis(500));
    }
    let flaps = changes(&s, v) - before;
    eprintln!("{stalls} stalls of the relays in 30 s: {flaps} upstream changes");
    assert!(s.upstream(v).is_some(), "still attached");
    // With the configured timeout alone (300 ms) it was 50 changes.
    assert!(flaps <= 6, "{flaps} upstream changes for {stalls} stalls");
}

/// A quarter of one core for a road that needs 85 % of a core: more than
/// three times the work the CPU can do, for good.
const OVERLOADED_US: u64 = 25;

/// More work than the CPU can do, for good (the lab's 500 daemons on two
/// cores): every node reads its frames and runs its timers late, for as
/// long as the overload lasts. The road must degrade, not storm: beacons
/// that come late but come are lateness, not death, and the copies a slow
/// relay passes on after a faster path are copies, not replays. Before
/// those rules (and a young path taking its RSU's lateness) 11 of the 80
/// vehicles were detached at the worst and 278 upstream changes were made
/// in the last 15 s; with them, none and none.
#[test]
fn an_overloaded_road_degrades_and_does_not_storm() {
    let (mut s, rsus) = road(1000);
    seconds(&mut s, &rsus, 8, "warm");
    s.set_cpu_capacity(OVERLOADED_US);
    let overloaded = seconds(&mut s, &rsus, 20, "overloaded");
    let late = &overloaded[5..];
    let changes: u64 = late.iter().map(|x| x.changes).sum();
    let least = late.iter().map(|x| x.attached).min().unwrap();
    let saturated = late.iter().filter(|x| x.load >= 0.99).count();
    eprintln!("overloaded: {least} attached at the worst, {changes} upstream changes in 15 s, saturated {saturated} of 15 s");
    assert!(saturated >= 10, "not overloaded: {late:?}");
    assert!(
        least >= OBUS * 9 / 10,
        "{least} attached at the worst: {late:?}"
    );
    assert!(changes <= 40, "{changes} upstream changes: {late:?}");
}
