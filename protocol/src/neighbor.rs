//! Neighbour table: who was heard on the link and when. Bounded.

use common::{NodeId, Time};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbor {
    pub first_heard: Time,
    pub last_heard: Time,
    pub frames: u64,
}

/// Link neighbours keyed by MAC. Holds at most `capacity` entries; a new
/// neighbour beyond that is not added (counted by the caller as a drop of
/// what it sent), so hostile MAC floods cannot grow memory.
pub struct NeighborTable {
    map: HashMap<NodeId, Neighbor>,
    capacity: usize,
}

impl NeighborTable {
    pub fn new(capacity: usize) -> NeighborTable {
        NeighborTable {
            map: HashMap::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    /// Records a frame from `mac`. Returns false if the table is full.
    pub fn heard(&mut self, mac: NodeId, now: Time) -> bool {
        if let Some(n) = self.map.get_mut(&mac) {
            n.last_heard = now;
            n.frames += 1;
            return true;
        }
        if self.map.len() >= self.capacity {
            return false;
        }
        self.map.insert(
            mac,
            Neighbor {
                first_heard: now,
                last_heard: now,
                frames: 1,
            },
        );
        true
    }

    pub fn get(&self, mac: &NodeId) -> Option<&Neighbor> {
        self.map.get(mac)
    }

    pub fn contains(&self, mac: &NodeId) -> bool {
        self.map.contains_key(mac)
    }

    /// Removes neighbours not heard for `timeout`, appending their MACs to `gone`.
    pub fn expire(&mut self, now: Time, timeout: Duration, gone: &mut Vec<NodeId>) {
        self.map.retain(|mac, n| {
            let alive = now.since(n.last_heard) < timeout;
            if !alive {
                gone.push(*mac);
            }
            alive
        });
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Neighbor)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_bounds() {
        let mut t = NeighborTable::new(2);
        let a = NodeId([2, 0, 0, 0, 0, 1]);
        let b = NodeId([2, 0, 0, 0, 0, 2]);
        let c = NodeId([2, 0, 0, 0, 0, 3]);
        assert!(t.heard(a, Time::from_millis(0)));
        assert!(t.heard(b, Time::from_millis(100)));
        assert!(!t.heard(c, Time::from_millis(100)));
        let mut gone = Vec::new();
        t.expire(
            Time::from_millis(350),
            Duration::from_millis(300),
            &mut gone,
        );
        assert_eq!(gone, vec![a]);
        assert_eq!(t.len(), 1);
        assert!(t.heard(c, Time::from_millis(360)));
    }
}
