//! Downstream routes learned from BeaconReplies: "OBU X and its addresses
//! are reachable via neighbour N". Used by the RSU and by relaying OBUs.
//! Bounded, and every entry expires.

use common::ip::IpPrefix;
use common::wire::AddrList;
use common::{NodeId, Time};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// How often upstream data refreshes a route at most (`refresh`).
const REFRESH_EVERY: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownRoute {
    /// Link MAC of the neighbour that leads to the OBU.
    pub next_hop: NodeId,
    /// The OBU's distance from its RSU, as it reported.
    pub hops: u8,
    pub addrs: AddrList,
    pub last_seen: Time,
    /// The RSU the OBU is attached to.
    pub rsu: NodeId,
    /// Round trip measured from the echoed beacon timestamp (RSU only).
    pub rtt_us: Option<u64>,
    /// Security on: the key that signed the replies for this route. While
    /// the route lives, replies for the same OBU id under another key are
    /// refused.
    pub key: Option<[u8; 32]>,
    /// The OBU's attachment sequence from its latest reply (RSU: exported
    /// with the routes, so the backbone prefers the newest attachment).
    pub attach_seq: u32,
    /// The OBU's own upstream next hop and how well it hears beacons
    /// through it (percent), as its latest reply said (the topology view).
    pub parent: NodeId,
    pub quality_pct: u8,
}

impl DownstreamTable {
    /// Whether a reply for `obu` signed by `key` may update its route: no
    /// route yet, or the route was learned from the same key.
    pub fn key_matches(&self, obu: &NodeId, key: &[u8; 32]) -> bool {
        self.get(obu)
            .is_none_or(|r| r.key.is_none_or(|k| k == *key))
    }
}

/// Outcome of [`DownstreamTable::learn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    New,
    /// Refreshed, nothing the routes depend on changed.
    Updated,
    /// Refreshed with other addresses, next hop or attachment sequence.
    Changed,
    /// Table full: not stored.
    Full,
}

pub struct DownstreamTable {
    routes: HashMap<NodeId, DownRoute>,
    by_addr: HashMap<IpAddr, NodeId>,
    capacity: usize,
}

impl DownstreamTable {
    pub fn new(capacity: usize) -> DownstreamTable {
        DownstreamTable {
            routes: HashMap::new(),
            by_addr: HashMap::new(),
            capacity,
        }
    }

    pub fn learn(&mut self, obu: NodeId, route: DownRoute) -> Learned {
        let outcome = match self.routes.get(&obu) {
            Some(old) => {
                let moved = old.attach_seq != route.attach_seq || old.next_hop != route.next_hop;
                if old.addrs != route.addrs {
                    let stale = old.addrs;
                    self.unindex(obu, stale.as_slice());
                    self.index(obu, route.addrs.as_slice());
                    Learned::Changed
                } else if moved {
                    Learned::Changed
                } else {
                    Learned::Updated
                }
            }
            None if self.routes.len() >= self.capacity => return Learned::Full,
            None => {
                self.index(obu, route.addrs.as_slice());
                Learned::New
            }
        };
        self.routes.insert(obu, route);
        outcome
    }

    fn index(&mut self, obu: NodeId, addrs: &[IpPrefix]) {
        for p in addrs {
            self.by_addr.insert(p.addr, obu);
        }
    }

    fn unindex(&mut self, obu: NodeId, addrs: &[IpPrefix]) {
        for p in addrs {
            if self.by_addr.get(&p.addr) == Some(&obu) {
                self.by_addr.remove(&p.addr);
            }
        }
    }

    /// The OBU owning `addr` and its route.
    pub fn lookup_addr(&self, addr: &IpAddr) -> Option<(NodeId, &DownRoute)> {
        let obu = self.by_addr.get(addr)?;
        self.routes.get(obu).map(|r| (*obu, r))
    }

    pub fn get(&self, obu: &NodeId) -> Option<&DownRoute> {
        self.routes.get(obu)
    }

    fn remove_where(&mut self, mut dead: impl FnMut(&DownRoute) -> bool) {
        let by_addr = &mut self.by_addr;
        self.routes.retain(|obu, r| {
            if dead(r) {
                for p in r.addrs.as_slice() {
                    if by_addr.get(&p.addr) == Some(obu) {
                        by_addr.remove(&p.addr);
                    }
                }
                false
            } else {
                true
            }
        });
    }

    /// Drops routes not refreshed within `timeout`.
    pub fn expire(&mut self, now: Time, timeout: Duration) {
        self.remove_where(|r| now.since(r.last_seen) >= timeout);
    }

    /// Drops routes through a neighbour that is gone.
    /// Upstream data from `obu` arrived via `next_hop`: its route (if we
    /// have one) is fresh and leads there. Returns whether the next hop
    /// changed. Only for data whose origin is known to be genuine (sealed
    /// and opened) or where nothing is (mode off): a route broken by loss or
    /// a forged reply is repaired by the OBU's next packet, not its next
    /// reply.
    pub fn refresh(&mut self, obu: &NodeId, next_hop: NodeId, now: Time) -> bool {
        let Some(r) = self.routes.get_mut(obu) else {
            return false;
        };
        let moved = r.next_hop != next_hop;
        // Once per REFRESH_EVERY at most: one lookup per packet otherwise.
        if !moved && now.since(r.last_seen) < REFRESH_EVERY {
            return false;
        }
        r.last_seen = now;
        r.next_hop = next_hop;
        let addrs = r.addrs;
        // Its addresses are its own again (a forged reply may have
        // claimed them for another id).
        self.index(*obu, addrs.as_slice());
        moved
    }

    /// Forgets one OBU's route; returns whether it had one.
    pub fn remove(&mut self, obu: &NodeId) -> bool {
        let before = self.routes.len();
        self.remove_where_id(obu);
        self.routes.len() != before
    }

    fn remove_where_id(&mut self, obu: &NodeId) {
        if let Some(r) = self.routes.remove(obu) {
            self.unindex(*obu, r.addrs.as_slice());
        }
    }

    pub fn remove_via(&mut self, next_hop: NodeId) {
        self.remove_where(|r| r.next_hop == next_hop);
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
    pub fn addr_count(&self) -> usize {
        self.by_addr.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &DownRoute)> {
        self.routes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(nh: u8, addr: &str, t: u64) -> DownRoute {
        DownRoute {
            key: None,
            next_hop: NodeId([2, 0, 0, 0, 0, nh]),
            hops: 1,
            addrs: AddrList::from_slice(&[addr.parse().unwrap()]).unwrap(),
            last_seen: Time::from_millis(t),
            rsu: NodeId([2, 0, 0, 0, 1, 0]),
            rtt_us: None,
            attach_seq: 0,
            parent: NodeId::default(),
            quality_pct: 0,
        }
    }

    #[test]
    fn learn_lookup_move_expire() {
        let mut t = DownstreamTable::new(2);
        let x = NodeId([2, 0, 0, 0, 0, 0x10]);
        let y = NodeId([2, 0, 0, 0, 0, 0x11]);
        let z = NodeId([2, 0, 0, 0, 0, 0x12]);
        assert_eq!(t.learn(x, route(1, "10.0.0.2/24", 0)), Learned::New);
        assert_eq!(t.lookup_addr(&"10.0.0.2".parse().unwrap()).unwrap().0, x);
        // Address change re-indexes.
        assert_eq!(t.learn(x, route(2, "10.0.0.3/24", 10)), Learned::Changed);
        assert_eq!(t.learn(x, route(2, "10.0.0.3/24", 11)), Learned::Updated);
        assert!(t.lookup_addr(&"10.0.0.2".parse().unwrap()).is_none());
        assert_eq!(
            t.lookup_addr(&"10.0.0.3".parse().unwrap())
                .unwrap()
                .1
                .next_hop
                .0[5],
            2
        );
        assert_eq!(t.learn(y, route(1, "10.0.0.4/24", 20)), Learned::New);
        assert_eq!(t.learn(z, route(1, "10.0.0.5/24", 20)), Learned::Full);
        t.remove_via(NodeId([2, 0, 0, 0, 0, 1]));
        assert_eq!(t.len(), 1);
        t.expire(Time::from_millis(1000), Duration::from_millis(500));
        assert!(t.is_empty());
        assert_eq!(t.addr_count(), 0);
    }
}
