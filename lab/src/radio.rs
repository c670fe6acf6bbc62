//! The radio model, without I/O: who hears whom, and how badly, from the
//! positions. Full reception inside `range_m - edge_m`, then a loss that
//! rises linearly to 100 % at `range_m`, in steps of [`LOSS_STEP`] percent.
//! [`Air::update`] returns only the pairs whose state changed, so the
//! kernel's rules are touched only where something moved across a step.

use crate::scenario::RadioSettings;
use std::collections::HashMap;

/// Loss is applied in steps of this many percent (one nftables chain per
/// step).
pub const LOSS_STEP: u8 = 10;

/// The loss (percent, a multiple of [`LOSS_STEP`], below 100) between two
/// nodes `d` metres apart; `None` when they do not hear each other.
pub fn loss_percent(radio: &RadioSettings, d: f64) -> Option<u8> {
    if d >= radio.range_m {
        return None;
    }
    let full = radio.range_m - radio.edge_m;
    if d <= full {
        return Some(0);
    }
    let ramp = (d - full) / radio.edge_m.max(f64::MIN_POSITIVE) * 100.0;
    let step = f64::from(LOSS_STEP);
    let q = ((ramp / step).round() * step) as u8;
    if q >= 100 {
        None
    } else {
        Some(q)
    }
}

/// A change of one pair (a < b, both directions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkChange {
    pub a: usize,
    pub b: usize,
    /// Loss before (`None`: no link).
    pub was: Option<u8>,
    /// Loss now (`None`: no link).
    pub now: Option<u8>,
}

/// The links as last applied: (a, b) with a < b → loss percent.
#[derive(Clone, Debug, Default)]
pub struct Air {
    links: HashMap<(usize, usize), u8>,
}

/// Squared cell size for the grid below: pairs further apart than the
/// range are never looked at.
struct Grid {
    cell: f64,
    cells: HashMap<(i64, i64), Vec<usize>>,
}

impl Grid {
    fn new(cell: f64, positions: &[Option<(f64, f64)>]) -> Grid {
        let mut cells: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        for (i, p) in positions.iter().enumerate() {
            if let Some((x, y)) = p {
                cells
                    .entry(((x / cell).floor() as i64, (y / cell).floor() as i64))
                    .or_default()
                    .push(i);
            }
        }
        Grid { cell, cells }
    }

    /// Nodes in the 3x3 cells around (x, y).
    fn near(&self, x: f64, y: f64) -> impl Iterator<Item = usize> + '_ {
        let (cx, cy) = (
            (x / self.cell).floor() as i64,
            (y / self.cell).floor() as i64,
        );
        (-1..=1)
            .flat_map(move |dx| (-1..=1).map(move |dy| (cx + dx, cy + dy)))
            .filter_map(|c| self.cells.get(&c))
            .flatten()
            .copied()
    }
}

impl Air {
    pub fn new() -> Air {
        Air::default()
    }

    /// The loss between `a` and `b` as last applied.
    pub fn loss(&self, a: usize, b: usize) -> Option<u8> {
        self.links.get(&(a.min(b), a.max(b))).copied()
    }

    /// Every link (a < b) and its loss.
    pub fn links(&self) -> impl Iterator<Item = (usize, usize, u8)> + '_ {
        self.links.iter().map(|(&(a, b), &l)| (a, b, l))
    }

    /// Moves to the links of `positions` (`None`: the node hears nobody)
    /// and returns what changed, sorted by pair.
    pub fn update(
        &mut self,
        radio: &RadioSettings,
        positions: &[Option<(f64, f64)>],
    ) -> Vec<LinkChange> {
        let grid = Grid::new(radio.range_m.max(1.0), positions);
        let mut now: HashMap<(usize, usize), u8> = HashMap::new();
        for (a, p) in positions.iter().enumerate() {
            let Some((x, y)) = *p else { continue };
            for b in grid.near(x, y).filter(|&b| b > a) {
                let Some((bx, by)) = positions[b] else {
                    continue;
                };
                if let Some(l) = loss_percent(radio, (bx - x).hypot(by - y)) {
                    now.insert((a, b), l);
                }
            }
        }
        let mut changes: Vec<LinkChange> = Vec::new();
        for (&(a, b), &l) in &now {
            let was = self.links.get(&(a, b)).copied();
            if was != Some(l) {
                changes.push(LinkChange {
                    a,
                    b,
                    was,
                    now: Some(l),
                });
            }
        }
        for (&(a, b), &l) in &self.links {
            if !now.contains_key(&(a, b)) {
                changes.push(LinkChange {
                    a,
                    b,
                    was: Some(l),
                    now: None,
                });
            }
        }
        changes.sort_by_key(|c| (c.a, c.b));
        self.links = now;
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn radio() -> RadioSettings {
        RadioSettings {
            range_m: 300.0,
            edge_m: 100.0,
            bandwidth_mbps: None,
            edca: true,
            update_hz: 10.0,
        }
    }

    #[test]
    fn the_loss_ramps_from_full_reception_to_none() {
        let r = radio();
        assert_eq!(loss_percent(&r, 0.0), Some(0));
        assert_eq!(loss_percent(&r, 200.0), Some(0));
        assert_eq!(loss_percent(&r, 250.0), Some(50));
        assert_eq!(loss_percent(&r, 274.0), Some(70));
        assert_eq!(loss_percent(&r, 296.0), None);
        assert_eq!(loss_percent(&r, 300.0), None);
        let hard = RadioSettings { edge_m: 0.0, ..r };
        assert_eq!(loss_percent(&hard, 299.9), Some(0));
        assert_eq!(loss_percent(&hard, 300.0), None);
    }

    #[test]
    fn only_changed_pairs_are_reported() {
        let r = radio();
        let mut air = Air::new();
        let mut pos = vec![
            Some((0.0, 0.0)),
            Some((100.0, 0.0)),
            Some((1000.0, 0.0)),
            None,
        ];
        let c = air.update(&r, &pos);
        assert_eq!(
            c,
            vec![LinkChange {
                a: 0,
                b: 1,
                was: None,
                now: Some(0)
            }]
        );
        assert!(air.update(&r, &pos).is_empty(), "nothing moved");
        // Node 1 moves into the ramp, node 3 appears beside node 2.
        pos[1] = Some((250.0, 0.0));
        pos[3] = Some((1010.0, 0.0));
        let c = air.update(&r, &pos);
        assert_eq!(
            c,
            vec![
                LinkChange {
                    a: 0,
                    b: 1,
                    was: Some(0),
                    now: Some(50)
                },
                LinkChange {
                    a: 2,
                    b: 3,
                    was: None,
                    now: Some(0)
                },
            ]
        );
        // Node 0 leaves the map.
        pos[0] = None;
        let c = air.update(&r, &pos);
        assert_eq!(
            c,
            vec![LinkChange {
                a: 0,
                b: 1,
                was: Some(50),
                now: None
            }]
        );
        assert_eq!(air.loss(3, 2), Some(0));
    }

    #[test]
    fn the_grid_finds_every_pair_in_range() {
        // Nodes on a line 90 m apart: each hears its neighbours up to 3
        // away (270 m, in the ramp), never 4 (360 m).
        let r = radio();
        let pos: Vec<Option<(f64, f64)>> = (0..50)
            .map(|i| Some((i as f64 * 90.0 - 1000.0, 7.0)))
            .collect();
        let mut air = Air::new();
        air.update(&r, &pos);
        for a in 0..50usize {
            for b in a + 1..50 {
                assert_eq!(air.loss(a, b).is_some(), b - a <= 3, "{a} {b}");
            }
        }
    }
}
