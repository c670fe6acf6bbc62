//! Where the lab's vehicles are: tracks of timed positions, from the
//! built-in road ([`road`]), an ns-2 `setdest` movement file ([`ns2`]) or a
//! SUMO FCD export ([`sumo`]). A track is piecewise linear between its
//! keyframes and holds its last position after them; a vehicle exists
//! only inside its presence intervals (it appears late, leaves early).

pub mod city;
pub mod ns2;
mod rng;
pub mod road;
pub mod sumo;

use std::fmt;

/// One vehicle's movement.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// The OBU's name: `obu0`, `obu1`, … by index for ns-2 and the road,
    /// the vehicle id for SUMO.
    pub name: String,
    /// (time s, x m, y m), sorted by time.
    pub keyframes: Vec<(f64, f64, f64)>,
    /// [from, to) intervals in which the vehicle exists, sorted.
    pub present: Vec<(f64, f64)>,
}

impl Track {
    /// The position at `t`, or `None` while the vehicle is absent.
    pub fn position(&self, t: f64) -> Option<(f64, f64)> {
        if !self.present.iter().any(|&(a, b)| a <= t && t < b) {
            return None;
        }
        interpolate(&self.keyframes, t)
    }

    /// When the vehicle first exists.
    pub fn appears(&self) -> f64 {
        self.present.first().map_or(f64::INFINITY, |p| p.0)
    }
}

/// The position on the piecewise-linear path `k` (sorted by time) at `t`:
/// the first keyframe before it, the last after it.
fn interpolate(k: &[(f64, f64, f64)], t: f64) -> Option<(f64, f64)> {
    let first = k.first()?;
    if t <= first.0 {
        return Some((first.1, first.2));
    }
    // The last keyframe at or before t, and the one after it.
    let i = k.partition_point(|f| f.0 <= t) - 1;
    let a = k[i];
    let Some(&b) = k.get(i + 1) else {
        return Some((a.1, a.2));
    };
    let span = b.0 - a.0;
    if span <= 0.0 {
        return Some((b.1, b.2));
    }
    let f = (t - a.0) / span;
    Some((a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f))
}

/// Tracks read from a trace, and what the reader passed over.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub tracks: Vec<Track>,
    /// One line per kind of input that was skipped (unknown commands,
    /// elements), with the first line it was seen on.
    pub warnings: Vec<String>,
}

impl Trace {
    /// At most `max` vehicles: the first to appear (ties by name order in
    /// the file) are kept.
    pub fn cap(&mut self, max: usize) {
        if self.tracks.len() <= max {
            return;
        }
        let mut order: Vec<usize> = (0..self.tracks.len()).collect();
        order.sort_by(|&a, &b| {
            self.tracks[a]
                .appears()
                .total_cmp(&self.tracks[b].appears())
                .then(a.cmp(&b))
        });
        let keep: std::collections::BTreeSet<usize> = order.into_iter().take(max).collect();
        let mut i = 0;
        self.tracks.retain(|_| {
            let k = keep.contains(&i);
            i += 1;
            k
        });
        self.warnings.push(format!(
            "only the first {max} vehicles to appear are used (max_obus)"
        ));
    }

    /// The time the last keyframe or presence interval ends (finite).
    pub fn end(&self) -> f64 {
        self.tracks
            .iter()
            .flat_map(|t| {
                t.keyframes
                    .last()
                    .map(|k| k.0)
                    .into_iter()
                    .chain(t.present.iter().map(|p| p.1).filter(|e| e.is_finite()))
            })
            .fold(0.0, f64::max)
    }
}

/// A trace that cannot be read: where and why.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TraceError {}

/// A finite, non-negative number from `s`, or an error naming `what`.
fn number(s: &str, what: &str, line: usize) -> Result<f64, TraceError> {
    let v: f64 = s.trim().parse().map_err(|_| TraceError {
        line,
        message: format!("{what}: `{s}` is not a number"),
    })?;
    if !v.is_finite() {
        return Err(TraceError {
            line,
            message: format!("{what}: `{s}` is not a finite number"),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track() -> Track {
        Track {
            name: "obu0".into(),
            keyframes: vec![(0.0, 0.0, 0.0), (10.0, 100.0, 0.0), (20.0, 100.0, 50.0)],
            present: vec![(0.0, 15.0), (18.0, f64::INFINITY)],
        }
    }

    #[test]
    fn positions_are_linear_between_keyframes_and_absent_outside_presence() {
        let t = track();
        assert_eq!(t.position(5.0), Some((50.0, 0.0)));
        assert_eq!(t.position(10.0), Some((100.0, 0.0)));
        assert_eq!(t.position(16.0), None);
        assert_eq!(t.position(19.0), Some((100.0, 45.0)));
        assert_eq!(t.position(99.0), Some((100.0, 50.0)));
        assert_eq!(t.position(-1.0), None);
    }

    #[test]
    fn capping_keeps_the_first_to_appear() {
        let mut tr = Trace::default();
        for (i, start) in [5.0, 1.0, 3.0].iter().enumerate() {
            tr.tracks.push(Track {
                name: format!("obu{i}"),
                keyframes: vec![(*start, 0.0, 0.0)],
                present: vec![(*start, f64::INFINITY)],
            });
        }
        tr.cap(2);
        let names: Vec<&str> = tr.tracks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["obu1", "obu2"]);
        assert_eq!(tr.warnings.len(), 1);
    }
}
