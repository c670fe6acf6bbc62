//! The built-in road: a straight road along x from 0 to `length_m`, lanes
//! 4 m apart along y, vehicles driving towards +x at a constant speed drawn
//! from a range. Either a fixed number of vehicles (spread over the road at
//! the start; each that leaves at the far end is replaced by a new one
//! entering at 0) or an entry rate (the road starts empty; vehicles enter
//! evenly spaced in time, with jitter). Seeded: the same scenario gives the
//! same road.

use super::rng::Rng;
use super::{Trace, Track};

/// Lane spacing, metres.
pub const LANE_WIDTH_M: f64 = 4.0;

/// How many vehicles the road carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Traffic {
    /// This many on the road at every moment.
    Vehicles(usize),
    /// This many entering per minute.
    EntryPerMin(f64),
}

/// The road's settings (the scenario's `[mobility]` with `kind = "road"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Road {
    pub length_m: f64,
    pub lanes: usize,
    /// km/h, min ≤ max.
    pub speed_kmh: (f64, f64),
    pub traffic: Traffic,
    pub seed: u64,
}

impl Road {
    /// The vehicles of the first `duration_s` seconds.
    pub fn tracks(&self, duration_s: f64) -> Trace {
        let mut rng = Rng(self.seed);
        let mut tracks = Vec::new();
        // A vehicle entering at `t0` at `x0` in a random lane and speed.
        let add = |t0: f64, x0: f64, rng: &mut Rng, tracks: &mut Vec<Track>| -> f64 {
            let lane = (rng.next() % self.lanes.max(1) as u64) as f64;
            let y = lane * LANE_WIDTH_M;
            let v = rng.range(self.speed_kmh.0, self.speed_kmh.1) / 3.6;
            let t1 = t0 + (self.length_m - x0) / v.max(0.1);
            tracks.push(Track {
                name: format!("obu{}", tracks.len()),
                keyframes: vec![(t0, x0, y), (t1, self.length_m, y)],
                present: vec![(t0, t1)],
            });
            t1
        };
        match self.traffic {
            Traffic::Vehicles(n) => {
                // Each slot holds one vehicle at a time: the one that
                // leaves is followed by one entering at 0.
                for _ in 0..n {
                    let x0 = rng.range(0.0, self.length_m);
                    let mut t = add(0.0, x0, &mut rng, &mut tracks);
                    while t < duration_s {
                        t = add(t, 0.0, &mut rng, &mut tracks);
                    }
                }
            }
            Traffic::EntryPerMin(rate) => {
                let gap = 60.0 / rate.max(1e-6);
                let mut t = rng.range(0.0, gap);
                while t < duration_s {
                    add(t, 0.0, &mut rng, &mut tracks);
                    t += gap * rng.range(0.5, 1.5);
                }
            }
        }
        // Named in order of appearance.
        tracks.sort_by(|a, b| a.appears().total_cmp(&b.appears()));
        for (i, t) in tracks.iter_mut().enumerate() {
            t.name = format!("obu{i}");
        }
        Trace {
            tracks,
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn road(traffic: Traffic) -> Road {
        Road {
            length_m: 1000.0,
            lanes: 2,
            speed_kmh: (72.0, 108.0),
            traffic,
            seed: 7,
        }
    }

    fn on_road(tr: &Trace, t: f64) -> usize {
        tr.tracks.iter().filter(|k| k.position(t).is_some()).count()
    }

    #[test]
    fn a_fixed_count_stays_on_the_road() {
        let tr = road(Traffic::Vehicles(10)).tracks(120.0);
        for t in [0.0, 30.0, 59.9, 119.0] {
            assert_eq!(on_road(&tr, t), 10, "at {t} s");
        }
        // 1000 m at 20..30 m/s takes at most 50 s: each of the 10 slots
        // saw at least three vehicles in 120 s.
        assert!(tr.tracks.len() >= 30, "{}", tr.tracks.len());
        for k in &tr.tracks {
            let (x, y) = k.position(k.appears()).unwrap();
            assert!(
                (0.0..=1000.0).contains(&x) && (y == 0.0 || y == 4.0),
                "{k:?}"
            );
        }
    }

    #[test]
    fn an_entry_rate_fills_an_empty_road() {
        let tr = road(Traffic::EntryPerMin(60.0)).tracks(300.0);
        assert_eq!(on_road(&tr, 0.0), 0);
        // About one a second for 300 s.
        assert!(
            (240..=360).contains(&tr.tracks.len()),
            "{}",
            tr.tracks.len()
        );
        // Once warmed up, about 40 s of road at one a second.
        let n = on_road(&tr, 200.0);
        assert!((25..=55).contains(&n), "{n}");
    }

    #[test]
    fn the_same_seed_gives_the_same_road() {
        let a = road(Traffic::Vehicles(5)).tracks(60.0);
        let b = road(Traffic::Vehicles(5)).tracks(60.0);
        assert_eq!(a.tracks, b.tracks);
        let mut other = road(Traffic::Vehicles(5));
        other.seed = 8;
        assert_ne!(a.tracks, other.tracks(60.0).tracks);
    }
}
