//! Topologies as data: nodes and who hears whom.

use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Rsu,
    Obu,
}

impl Role {
    pub fn binary(&self) -> &'static str {
        match self {
            Role::Rsu => "rsu",
            Role::Obu => "obu",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub role: Role,
}

/// Nodes plus radio links. `links = None` means everyone hears everyone.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub nodes: Vec<NodeSpec>,
    pub links: Option<HashSet<(usize, usize)>>,
}

impl Topology {
    pub fn new() -> Topology {
        Topology::default()
    }

    /// Adds a node; returns its index.
    pub fn node(&mut self, name: &str, role: Role) -> usize {
        self.nodes.push(NodeSpec {
            name: name.to_string(),
            role,
        });
        self.nodes.len() - 1
    }

    /// Adds a bidirectional radio link (switches the topology to explicit links).
    pub fn link(&mut self, a: usize, b: usize) -> &mut Self {
        let l = self.links.get_or_insert_with(HashSet::new);
        l.insert((a.min(b), a.max(b)));
        self
    }

    pub fn hears(&self, a: usize, b: usize) -> bool {
        match &self.links {
            None => true,
            Some(l) => l.contains(&(a.min(b), a.max(b))),
        }
    }

    /// One RSU and `obus` OBUs that all hear each other.
    pub fn star(obus: usize) -> Topology {
        let mut t = Topology::new();
        t.node("rsu", Role::Rsu);
        for i in 0..obus {
            t.node(&format!("obu{}", i + 1), Role::Obu);
        }
        t
    }

    /// RSU — obu1 — obu2 — ... — obuN, each hearing only its neighbours.
    pub fn chain(obus: usize) -> Topology {
        let mut t = Topology::new();
        let mut prev = t.node("rsu", Role::Rsu);
        t.links = Some(HashSet::new());
        for i in 0..obus {
            let n = t.node(&format!("obu{}", i + 1), Role::Obu);
            t.link(prev, n);
            prev = n;
        }
        t
    }

    /// RSU, two relays in parallel (both hear the RSU and the far OBU), and a
    /// far OBU that hears only the relays. Indices: rsu 0, relays 1 and 2, far 3.
    pub fn diamond() -> Topology {
        let mut t = Topology::new();
        let r = t.node("rsu", Role::Rsu);
        let a = t.node("relay1", Role::Obu);
        let b = t.node("relay2", Role::Obu);
        let f = t.node("far", Role::Obu);
        t.link(r, a).link(r, b).link(a, f).link(b, f);
        t
    }

    /// Two RSUs and one OBU hearing both. Indices: rsu1 0, rsu2 1, obu 2.
    pub fn two_rsus() -> Topology {
        let mut t = Topology::new();
        let r1 = t.node("rsu1", Role::Rsu);
        let r2 = t.node("rsu2", Role::Rsu);
        let o = t.node("obu", Role::Obu);
        t.link(r1, o).link(r2, o);
        t
    }

    /// An RSU, a chain of `depth` OBUs, and `branches` leaf OBUs hanging off
    /// each chain node (round-robin) until there are `total` nodes.
    pub fn chain_with_branches(depth: usize, total: usize) -> Topology {
        let mut t = Topology::chain(depth);
        let mut k = 0;
        while t.nodes.len() < total {
            let parent = 1 + k % depth;
            let n = t.node(&format!("leaf{}", t.nodes.len()), Role::Obu);
            t.link(parent, n);
            k += 1;
        }
        t
    }
}
