//! A city grid, the model behind the lab's shipped city traces
//! (`v2xd-lab trace city-grid`): streets every `block_m` metres in both
//! directions over `blocks_x` × `blocks_y` blocks. Each vehicle starts at
//! a random intersection and drives block by block at a speed drawn per
//! block from `speed_kmh`; at each intersection it goes straight (half the
//! time), turns left or right, never back unless at the edge; it waits
//! 0–`max_wait_s` at an intersection (a traffic light) with probability
//! one in three. Some vehicles enter late and some leave early (`churn`),
//! so a trace carries presence as well as motion. Seeded.
//!
//! [`to_ns2`] and [`to_sumo_fcd`] write any trace in the formats the lab
//! reads, as BonnMotion and SUMO would.

use super::rng::Rng;
use super::{Trace, Track};

/// The model's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CityGrid {
    pub blocks_x: u32,
    pub blocks_y: u32,
    pub block_m: f64,
    pub vehicles: usize,
    pub speed_kmh: (f64, f64),
    pub max_wait_s: f64,
    pub duration_s: f64,
    /// Share of vehicles that enter late or leave early, 0..1.
    pub churn: f64,
    pub seed: u64,
}

const DIRS: [(i64, i64); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];

impl CityGrid {
    /// The vehicles, named `obu0`, `obu1`, … .
    pub fn tracks(&self) -> Trace {
        let mut rng = Rng(self.seed);
        let (nx, ny) = (i64::from(self.blocks_x), i64::from(self.blocks_y));
        let mut tracks = Vec::new();
        for v in 0..self.vehicles {
            let (mut cx, mut cy) = (
                rng.below(nx as u64 + 1) as i64,
                rng.below(ny as u64 + 1) as i64,
            );
            let mut dir = rng.below(4) as usize;
            let churned = rng.unit() < self.churn;
            let (enter, leave) = if churned {
                if rng.below(2) == 0 {
                    (
                        rng.range(0.0, self.duration_s * 0.5).round(),
                        self.duration_s,
                    )
                } else {
                    (
                        0.0,
                        rng.range(self.duration_s * 0.5, self.duration_s).round(),
                    )
                }
            } else {
                (0.0, self.duration_s)
            };
            let mut t = enter;
            let mut keyframes = vec![(t, cx as f64 * self.block_m, cy as f64 * self.block_m)];
            while t < leave {
                // Straight, left or right; back only at a dead end.
                let choices: Vec<usize> = [dir, (dir + 1) % 4, (dir + 3) % 4]
                    .into_iter()
                    .filter(|&d| {
                        let (x, y) = (cx + DIRS[d].0, cy + DIRS[d].1);
                        (0..=nx).contains(&x) && (0..=ny).contains(&y)
                    })
                    .collect();
                dir = match choices.len() {
                    0 => (dir + 2) % 4,
                    n => {
                        if rng.unit() < 0.5 && choices[0] == dir {
                            dir
                        } else {
                            choices[rng.below(n as u64) as usize]
                        }
                    }
                };
                cx += DIRS[dir].0;
                cy += DIRS[dir].1;
                let speed = rng.range(self.speed_kmh.0, self.speed_kmh.1) / 3.6;
                t += self.block_m / speed.max(0.1);
                t = (t * 1000.0).round() / 1000.0;
                let (x, y) = (cx as f64 * self.block_m, cy as f64 * self.block_m);
                keyframes.push((t, x, y));
                if rng.below(3) == 0 && self.max_wait_s > 0.0 {
                    t += (rng.range(0.0, self.max_wait_s) * 10.0).round() / 10.0;
                    keyframes.push((t, x, y));
                }
            }
            tracks.push(Track {
                name: format!("obu{v}"),
                keyframes,
                present: vec![(enter, leave)],
            });
        }
        Trace {
            tracks,
            warnings: Vec::new(),
        }
    }
}

/// `trace` as an ns-2 movement file: BonnMotion's start positions and
/// `setdest` lines, and `$g(i) start/stop` presence lines (as SUMO's
/// traceExporter writes in its activity file) for vehicles that do not
/// exist from 0 to the end. Node `i` is the `i`-th track.
pub fn to_ns2(trace: &Trace, header: &str) -> String {
    let mut s = String::new();
    for l in header.lines() {
        s += &format!("# {l}\n");
    }
    let end = trace.end();
    for (i, k) in trace.tracks.iter().enumerate() {
        let Some(&(_, x, y)) = k.keyframes.first() else {
            continue;
        };
        s += &format!(
            "$node_({i}) set X_ {x:.2}\n$node_({i}) set Y_ {y:.2}\n$node_({i}) set Z_ 0.00\n"
        );
    }
    for (i, k) in trace.tracks.iter().enumerate() {
        for w in k.keyframes.windows(2) {
            let ((t0, x0, y0), (t1, x1, y1)) = (w[0], w[1]);
            let d = (x1 - x0).hypot(y1 - y0);
            if d == 0.0 {
                continue;
            }
            let speed = d / (t1 - t0).max(1e-3);
            s += &format!("$ns_ at {t0:.3} \"$node_({i}) setdest {x1:.2} {y1:.2} {speed:.4}\"\n");
        }
        for &(a, b) in &k.present {
            if a > 0.0 || b < end {
                s += &format!("$ns_ at {a:.3} \"$g({i}) start\"\n");
                if b.is_finite() {
                    s += &format!("$ns_ at {b:.3} \"$g({i}) stop\"\n");
                }
            }
        }
    }
    s
}

/// `trace` as SUMO FCD XML, a `<timestep>` every `step_s` listing the
/// vehicles present then (with the extra attributes SUMO writes).
pub fn to_sumo_fcd(trace: &Trace, step_s: f64) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- written by v2xd-lab trace -->\n<fcd-export xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
    let end = trace.end();
    let mut k = 0u64;
    loop {
        let t = k as f64 * step_s;
        if t > end {
            break;
        }
        s += &format!("    <timestep time=\"{t:.2}\">\n");
        for tr in &trace.tracks {
            if let Some((x, y)) = tr.position(t) {
                s += &format!(
                    "        <vehicle id=\"{}\" x=\"{x:.2}\" y=\"{y:.2}\" angle=\"0.00\" type=\"DEFAULT_VEHTYPE\" speed=\"0.00\" pos=\"0.00\" lane=\"e0_0\" slope=\"0.00\"/>\n",
                    tr.name
                );
            }
        }
        s += "    </timestep>\n";
        k += 1;
    }
    s += "</fcd-export>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mobility::{ns2, sumo};

    fn grid() -> CityGrid {
        CityGrid {
            blocks_x: 4,
            blocks_y: 4,
            block_m: 150.0,
            vehicles: 12,
            speed_kmh: (30.0, 50.0),
            max_wait_s: 10.0,
            duration_s: 120.0,
            churn: 0.3,
            seed: 3,
        }
    }

    #[test]
    fn vehicles_stay_on_the_streets() {
        let tr = grid().tracks();
        assert_eq!(tr.tracks.len(), 12);
        for k in &tr.tracks {
            for t in (0..1200).map(|i| i as f64 / 10.0) {
                if let Some((x, y)) = k.position(t) {
                    let on_street = |v: f64| (v / 150.0 - (v / 150.0).round()).abs() < 1e-6;
                    assert!(
                        (0.0..=600.0).contains(&x) && (0.0..=600.0).contains(&y),
                        "{x} {y}"
                    );
                    assert!(on_street(x) || on_street(y), "{} at {t}: {x} {y}", k.name);
                }
            }
        }
        assert!(
            tr.tracks.iter().any(|k| k.appears() > 0.0),
            "some enter late"
        );
    }

    #[test]
    fn the_written_traces_read_back_as_the_same_motion() {
        let tr = grid().tracks();
        let from_ns2 = ns2::parse(&to_ns2(&tr, "city grid")).unwrap();
        let from_fcd = sumo::parse(&to_sumo_fcd(&tr, 1.0)).unwrap();
        assert!(from_ns2.warnings.is_empty(), "{:?}", from_ns2.warnings);
        for (i, k) in tr.tracks.iter().enumerate() {
            let n = &from_ns2.tracks[i];
            let f = from_fcd.tracks.iter().find(|f| f.name == k.name).unwrap();
            for t in [1.0, 10.0, 33.0, 77.0, 110.0] {
                match (k.position(t), n.position(t)) {
                    (Some(a), Some(b)) => {
                        assert!(
                            (a.0 - b.0).hypot(a.1 - b.1) < 0.5,
                            "ns2 {i} at {t}: {a:?} {b:?}"
                        )
                    }
                    (None, None) => {}
                    other => panic!("ns2 {i} at {t}: {other:?}"),
                }
                if let (Some(a), Some(b)) = (k.position(t), f.position(t)) {
                    assert!(
                        (a.0 - b.0).hypot(a.1 - b.1) < 0.5,
                        "fcd {i} at {t}: {a:?} {b:?}"
                    );
                }
            }
        }
    }
}
