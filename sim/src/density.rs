//! Control traffic against density: one RSU and N OBUs in one radio
//! domain, or a highway with RSUs along it, no data. Counts what every
//! node sends and the airtime it takes (802.11p at 6 Mbit/s).

use crate::Sim;
use protocol::params::RoutingConfig;
use std::time::Duration;

/// Where the nodes are.
#[derive(Clone, Copy, Debug)]
pub enum Road {
    /// One RSU, N OBUs, all hear all.
    OneDomain,
    /// A straight road `length_m` long, RSUs every `rsu_every_m` (the first
    /// half that from the start), vehicles spread evenly with a random
    /// offset, radio range `range_m`.
    Highway {
        length_m: u32,
        rsu_every_m: u32,
        range_m: u32,
    },
    /// A random geometric graph: nodes placed at random in a square of
    /// `side_m`, linked within `range_m`; `rsus` RSUs among them.
    Square {
        side_m: u32,
        range_m: u32,
        rsus: usize,
    },
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub obus: usize,
    pub rsus: usize,
    pub secs: f64,
    /// Per OBU, per second: control frames and bytes sent (mean, max).
    pub frames_per_obu: (f64, f64),
    pub bytes_per_obu: f64,
    /// Share of the time the channel around the busiest node is taken by
    /// control frames (its own and those it hears), by the airtime model.
    pub control_airtime_share: f64,
    /// OBUs with an upstream at the end / OBUs that can reach an RSU.
    pub attached: usize,
    pub reachable: usize,
    /// Beacon rebroadcasts per RSU beacon (all OBUs together).
    pub rebroadcasts_per_beacon: f64,
    /// Beacon copies an OBU hears per second (mean): in the secure modes,
    /// each is a signature check.
    pub beacons_heard_per_obu: f64,
    /// Upstream changes during the measurement (a static road: none, if
    /// every OBU hears its upstream often enough).
    pub upstream_changes: u64,
}

/// A small deterministic generator (the road layout only).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Builds the road: returns the simulator and which nodes are RSUs.
pub fn build(road: Road, obus: usize, routing: RoutingConfig, seed: u64) -> (Sim, Vec<usize>) {
    build_on(Sim::new(routing), road, obus, seed)
}

/// Like [`build`], on a simulator set up already (security, a shared CPU).
pub fn build_on(mut s: Sim, road: Road, obus: usize, seed: u64) -> (Sim, Vec<usize>) {
    match road {
        Road::OneDomain => {
            let r = s.add_rsu();
            for _ in 0..obus {
                s.add_obu();
            }
            s.link_everyone();
            (s, vec![r])
        }
        Road::Highway {
            length_m,
            rsu_every_m,
            range_m,
        } => {
            let mut rng = Lcg(seed | 1);
            let mut pos: Vec<f64> = Vec::new();
            let mut rsus = Vec::new();
            let mut x = rsu_every_m / 2;
            while x < length_m {
                rsus.push(s.add_rsu());
                pos.push(x as f64);
                x += rsu_every_m;
            }
            let gap = length_m as f64 / obus.max(1) as f64;
            for k in 0..obus {
                s.add_obu();
                let jitter = (rng.next() % 1000) as f64 / 1000.0;
                pos.push((k as f64 + jitter) * gap);
            }
            for a in 0..pos.len() {
                for b in a + 1..pos.len() {
                    if (pos[a] - pos[b]).abs() <= range_m as f64 {
                        s.link(a, b);
                    }
                }
            }
            (s, rsus)
        }
        Road::Square {
            side_m,
            range_m,
            rsus: r,
        } => {
            let mut rng = Lcg(seed | 1);
            let mut pos = Vec::new();
            let mut rsus = Vec::new();
            for k in 0..r + obus {
                if k < r {
                    rsus.push(s.add_rsu());
                } else {
                    s.add_obu();
                }
                let x = (rng.next() % (side_m as u64 * 10)) as f64 / 10.0;
                let y = (rng.next() % (side_m as u64 * 10)) as f64 / 10.0;
                pos.push((x, y));
            }
            // A grid of range-sized cells: only neighbouring cells are
            // compared (thousands of nodes).
            let cell = range_m as f64;
            let mut grid: std::collections::HashMap<(i64, i64), Vec<usize>> = Default::default();
            for (i, (x, y)) in pos.iter().enumerate() {
                grid.entry(((x / cell) as i64, (y / cell) as i64))
                    .or_default()
                    .push(i);
            }
            let r2 = cell * cell;
            for (a, (x, y)) in pos.iter().enumerate() {
                let (cx, cy) = ((x / cell) as i64, (y / cell) as i64);
                for dx in -1..=1 {
                    for dy in -1..=1 {
                        for &b in grid.get(&(cx + dx, cy + dy)).into_iter().flatten() {
                            let (bx, by) = pos[b];
                            if b > a && (bx - x).powi(2) + (by - y).powi(2) <= r2 {
                                s.link(a, b);
                            }
                        }
                    }
                }
            }
            (s, rsus)
        }
    }
}

/// Nodes that can reach an RSU within `max_hops` over the links.
fn reachable(s: &Sim, rsus: &[usize], max_hops: u8) -> Vec<bool> {
    let n = s.nodes.len();
    let mut dist = vec![u32::MAX; n];
    let mut q = std::collections::VecDeque::new();
    for &r in rsus {
        dist[r] = 0;
        q.push_back(r);
    }
    while let Some(a) = q.pop_front() {
        for b in s.neighbours(a) {
            if dist[b] == u32::MAX {
                dist[b] = dist[a] + 1;
                q.push_back(b);
            }
        }
    }
    dist.iter().map(|d| *d <= max_hops as u32).collect()
}

/// Runs `warmup` then measures for `secs`.
pub fn measure(
    road: Road,
    obus: usize,
    routing: RoutingConfig,
    warmup: Duration,
    secs: Duration,
) -> Report {
    let max_hops = routing.max_hops;
    let beacon_every = routing.beacon_interval();
    let (mut s, rsus) = build(road, obus, routing, 0x5eed);
    s.run_for(warmup);
    let snap = |s: &Sim| {
        s.nodes
            .iter()
            .map(|n| {
                (
                    n.control_frames_sent,
                    n.control_bytes_sent,
                    n.airtime_us[0],
                    n.heard_control_us,
                    n.beacon_frames_sent,
                    n.beacons_heard,
                )
            })
            .collect::<Vec<_>>()
    };
    let changes = |s: &Sim| -> u64 {
        s.nodes
            .iter()
            .map(|n| common::counters::Counters::get(&n.counters.upstream_changes))
            .sum()
    };
    let before = snap(&s);
    let changes_before = changes(&s);
    s.run_for(secs);
    let after = snap(&s);
    let upstream_changes = changes(&s) - changes_before;
    let t = secs.as_secs_f64();
    let is_rsu = |i: usize| rsus.contains(&i);
    let obu_idx: Vec<usize> = (0..s.nodes.len()).filter(|i| !is_rsu(*i)).collect();
    let frames: Vec<f64> = obu_idx
        .iter()
        .map(|&i| (after[i].0 - before[i].0) as f64 / t)
        .collect();
    let bytes: f64 = obu_idx
        .iter()
        .map(|&i| (after[i].1 - before[i].1) as f64 / t)
        .sum::<f64>()
        / obu_idx.len().max(1) as f64;
    let share = (0..s.nodes.len())
        .map(|i| ((after[i].2 - before[i].2) + (after[i].3 - before[i].3)) as f64 / 1e6 / t)
        .fold(0.0, f64::max);
    let beacons = rsus.len() as f64 * t / beacon_every.as_secs_f64();
    let rebroadcasts: f64 = obu_idx
        .iter()
        .map(|&i| (after[i].4 - before[i].4) as f64)
        .sum::<f64>();
    let heard = obu_idx
        .iter()
        .map(|&i| (after[i].5 - before[i].5) as f64 / t)
        .sum::<f64>()
        / obu_idx.len().max(1) as f64;
    let reach = reachable(&s, &rsus, max_hops);
    let reachable_obus: Vec<usize> = obu_idx.iter().copied().filter(|i| reach[*i]).collect();
    let attached = reachable_obus
        .iter()
        .filter(|i| s.upstream(**i).is_some())
        .count();
    Report {
        obus: obu_idx.len(),
        rsus: rsus.len(),
        secs: t,
        frames_per_obu: (
            frames.iter().sum::<f64>() / frames.len().max(1) as f64,
            frames.iter().copied().fold(0.0, f64::max),
        ),
        bytes_per_obu: bytes,
        control_airtime_share: share,
        attached,
        reachable: reachable_obus.len(),
        rebroadcasts_per_beacon: rebroadcasts / beacons.max(1.0),
        beacons_heard_per_obu: heard,
        upstream_changes,
    }
}
