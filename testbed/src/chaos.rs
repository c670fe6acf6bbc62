//! Faults for the chaos test and the soak: a road of five daemons and an
//! attacker's radio, and a driver that applies one random fault at a time
//! (kill -9 and restart, radio flap, link cut, spray of random and mutated
//! frames) and heals it. Replayable from a seed.

use crate::{ns_output, NodeOptions, Role, Testbed, Topology};
use std::time::Duration;

/// xorshift64*: the driver's choices, replayable from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// A duration between `lo` and `hi` milliseconds.
    pub fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi.saturating_sub(lo)))
    }
}

/// The road's RSU.
pub const RSU: usize = 0;
/// A far OBU (two hops, through either relay).
pub const FAR: usize = 3;
/// The daemons: the RSU, relays 1 and 2, far OBUs 3 and 4.
pub const DAEMONS: usize = 5;
/// An attacker's radio (no daemon) that hears everyone.
pub const ATTACKER: usize = 5;

/// RSU 0; relays 1 and 2 hear it and each other; far OBUs 3 and 4 hear
/// both relays and each other; the attacker hears everyone.
pub fn road() -> Topology {
    let mut t = Topology::new();
    let r = t.node("rsu", Role::Rsu);
    let a = t.node("relay1", Role::Obu);
    let b = t.node("relay2", Role::Obu);
    let c = t.node("far3", Role::Obu);
    let d = t.node("far4", Role::Obu);
    let x = t.node("attacker", Role::Obu);
    t.link(r, a).link(r, b).link(a, b);
    t.link(a, c).link(b, c).link(a, d).link(b, d).link(c, d);
    for n in [r, a, b, c, d] {
        t.link(x, n);
    }
    t
}

/// Frames of ours heard on the air, mutated: bytes replaced, beacon
/// sequences pushed far ahead, lengths cut, and some pure garbage from
/// made-up source MACs.
pub fn mutated(learned: &[Vec<u8>], rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| {
            let copy = learned
                .get(rng.below(learned.len() as u64) as usize)
                .filter(|f| f.len() > 15);
            let Some(copy) = copy.filter(|_| rng.below(4) != 0) else {
                let mut f = vec![0xffu8; 6];
                f.extend_from_slice(&[
                    0x06,
                    0xcc,
                    0,
                    0,
                    rng.next_u64() as u8,
                    rng.next_u64() as u8,
                ]);
                f.extend_from_slice(&[0x88, 0xb5, 1]);
                let n = rng.below(300) as usize;
                f.extend((0..n).map(|_| rng.next_u64() as u8));
                return f;
            };
            let mut f = copy.clone();
            for _ in 0..1 + rng.below(4) {
                let at = 14 + rng.below((f.len() - 14) as u64) as usize;
                f[at] = rng.next_u64() as u8;
            }
            // A beacon (type 1) whose sequence jumps far ahead.
            if f.len() > 14 + 6 + 10 && f[15] == 1 && rng.below(2) == 0 {
                f[14 + 6 + 6] = 0x40 | (rng.next_u64() as u8 & 0x3f);
            }
            if rng.below(8) == 0 {
                let n = 14 + rng.below((f.len() - 14) as u64) as usize;
                f.truncate(n);
            }
            f
        })
        .collect()
}

/// What one fault did, for the report.
pub type FaultLog = String;

/// Applies one random fault to the road and heals it (restarts, brings the
/// radio up, restores the link, stops the spray) before returning.
/// `kill` allows kill -9; `on_kill` is told of each killed daemon first.
pub fn one_fault(
    tb: &mut Testbed,
    rng: &mut Rng,
    learned: &[Vec<u8>],
    kill: bool,
    mut on_kill: impl FnMut(usize),
) -> FaultLog {
    let victim = rng.below(DAEMONS as u64) as usize;
    let kinds = if kill { 4 } else { 3 };
    match rng.below(kinds) {
        0 => {
            let ns = tb.nodes[victim].ns.clone();
            let down = rng.ms(100, 1500);
            ns_output(&ns, &["ip", "link", "set", "radio0", "down"]);
            std::thread::sleep(down);
            ns_output(&ns, &["ip", "link", "set", "radio0", "up"]);
            format!("flap {victim} {down:?}")
        }
        1 => {
            let other = (victim + 1 + rng.below(DAEMONS as u64 - 1) as usize) % DAEMONS;
            let cut = rng.ms(300, 2000);
            tb.cut(victim, other);
            std::thread::sleep(cut);
            tb.restore(victim, other);
            format!("cut {victim}-{other} {cut:?}")
        }
        2 => {
            let frames = mutated(learned, rng, 500);
            let d = rng.ms(500, 2000);
            let sent = tb.spray(ATTACKER, frames, 2000, d).join();
            format!("spray {d:?} ({:?} frames)", sent.ok().and_then(Result::ok))
        }
        _ => {
            on_kill(victim);
            let down = rng.ms(100, 1500);
            tb.kill9(victim);
            std::thread::sleep(down);
            // Not waited for: a daemon that does not come back is the
            // driver's finding (it checks every daemon runs), not a panic.
            tb.restart_nowait(victim);
            format!("kill -9 {victim} {down:?}")
        }
    }
}

/// Builds the road, starts its five daemons in `mode` (None: off) and
/// waits until they are ready; returns it with 2 s of frames heard on the
/// air (the attacker's material for sprays).
pub fn start_road(mode: Option<&str>) -> (Testbed, Vec<Vec<u8>>) {
    let mut tb = Testbed::new(&road());
    tb.hub_mode();
    tb.ensure_keys();
    tb.distrusted.push(ATTACKER);
    let opts = NodeOptions {
        security: mode.map(|m| m.parse().expect("a security mode")),
        ..NodeOptions::default()
    };
    for i in 0..DAEMONS {
        tb.start(i, &opts);
    }
    for i in 1..DAEMONS {
        assert!(
            tb.wait_node_ready(i, Duration::from_secs(15)),
            "{}",
            tb.log(i)
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let learned = tb
        .capture(ATTACKER, Duration::from_secs(2))
        .join()
        .expect("capture thread")
        .expect("capture");
    assert!(!learned.is_empty(), "frames heard on the air");
    (tb, learned)
}
