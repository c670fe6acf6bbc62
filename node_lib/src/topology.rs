//! An RSU's cell as a tree (`/api/v1/topology`, `rsu show topology`): the
//! RSU at the root, each OBU under the parent its replies name (its
//! upstream next hop), with hops, link quality and round trip; as JSON or
//! as a Graphviz graph.

use api::{DownstreamRoute, TopologyNode, TopologyObu};
use common::NodeId;
use std::collections::{BTreeMap, HashSet};

/// Deepest nesting shown (the protocol's `max_hops` is at most 32).
const MAX_DEPTH: u8 = 32;

/// The tree of `rsu`'s cell from its routes (`/api/v1/routes` "obus").
/// An OBU whose parent is not an OBU of the cell one hop closer (a direct
/// neighbour, a relay we hold no route for, a node whose id is not its
/// link MAC) hangs under the RSU.
pub fn tree(rsu: NodeId, obus: &[DownstreamRoute]) -> TopologyNode {
    let hops: BTreeMap<NodeId, u8> = obus.iter().map(|o| (o.id, o.hops)).collect();
    let mut children: BTreeMap<NodeId, Vec<&DownstreamRoute>> = BTreeMap::new();
    for o in obus {
        // A parent must be one hop closer to the RSU: the tree is then as
        // deep as the longest path (`max_hops`), never deeper, and
        // reports that contradict each other cannot form a cycle.
        let h = o.hops;
        let key = if h > 1 && h <= MAX_DEPTH && hops.get(&o.parent) == Some(&(h - 1)) {
            o.parent
        } else {
            rsu
        };
        children.entry(key).or_default().push(o);
    }
    // Every OBU is reached: by induction on hops, each hangs under the
    // RSU or under a parent placed one level up. `seen` guards anyway.
    let mut seen = HashSet::new();
    TopologyNode {
        id: rsu,
        role: "rsu".into(),
        obu: None,
        children: subtree(rsu, &children, &mut seen),
    }
}

fn subtree(
    id: NodeId,
    children: &BTreeMap<NodeId, Vec<&DownstreamRoute>>,
    seen: &mut HashSet<NodeId>,
) -> Vec<TopologyNode> {
    let mut out = Vec::new();
    for o in children.get(&id).into_iter().flatten() {
        // Parents come from the OBUs' own reports: never follow a cycle.
        if !seen.insert(o.id) {
            continue;
        }
        out.push(TopologyNode {
            id: o.id,
            role: "obu".into(),
            obu: Some(TopologyObu {
                hops: o.hops,
                link_quality_pct: o.link_quality_pct,
                rtt_us: o.rtt_us,
                next_hop: o.next_hop,
                addresses: o.addresses.clone(),
            }),
            children: subtree(o.id, children, seen),
        });
    }
    out
}

/// The tree as a Graphviz digraph (edges from parent to child, labelled
/// with the child's link quality and hops).
pub fn dot(tree: &TopologyNode) -> String {
    let mut s = String::from("digraph cell {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n");
    let root = tree.id;
    s.push_str(&format!(
        "  \"{root}\" [shape=box, label=\"RSU\\n{root}\"];\n"
    ));
    fn walk(parent: NodeId, node: &TopologyNode, s: &mut String) {
        for c in &node.children {
            let id = c.id;
            let addrs: Vec<String> = c
                .obu
                .iter()
                .flat_map(|o| o.addresses.iter().map(|a| a.to_string()))
                .collect();
            s.push_str(&format!(
                "  \"{id}\" [shape=ellipse, label=\"{id}\\n{}\"];\n",
                addrs.join("\\n")
            ));
            let (quality, hops) = c
                .obu
                .as_ref()
                .map_or((0, 0), |o| (o.link_quality_pct, o.hops));
            s.push_str(&format!(
                "  \"{parent}\" -> \"{id}\" [label=\"{quality}% hop {hops}\"];\n"
            ));
            walk(id, c, s);
        }
    }
    walk(root, tree, &mut s);
    s.push_str("}\n");
    s
}

/// The tree as indented text, one node a line (`show topology`).
pub fn text(tree: &TopologyNode) -> String {
    fn walk(n: &TopologyNode, depth: usize, out: &mut String) {
        for c in &n.children {
            let Some(o) = &c.obu else { continue };
            let addrs: Vec<String> = o.addresses.iter().map(|a| a.to_string()).collect();
            out.push_str(&format!(
                "{}└─ {}  hops {}  link {}%  rtt {}  {}\n",
                "   ".repeat(depth),
                c.id,
                o.hops,
                o.link_quality_pct,
                o.rtt_us.map_or("-".to_string(), |us| format!(
                    "{:.1} ms",
                    us as f64 / 1000.0
                )),
                addrs.join(" ")
            ));
            walk(c, depth + 1, out);
        }
    }
    let mut out = format!("{} (rsu)\n", tree.id);
    walk(tree, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        s.parse().unwrap()
    }

    fn obu(me: &str, parent: &str, hops: u8) -> DownstreamRoute {
        DownstreamRoute {
            id: id(me),
            next_hop: id(parent),
            hops,
            addresses: vec!["10.0.0.9/24".parse().unwrap()],
            rsu: id("02:00:00:00:01:00"),
            age_ms: 0,
            rtt_us: Some(100),
            attach_seq: 0,
            parent: id(parent),
            link_quality_pct: 90,
        }
    }

    #[test]
    fn relays_become_parents_and_contradictions_hang_under_the_rsu() {
        let obus = vec![
            obu("02:00:00:00:00:01", "02:00:00:00:01:00", 1),
            obu("02:00:00:00:00:02", "02:00:00:00:00:01", 2),
            // Names a parent the RSU does not know: under the RSU.
            obu("02:00:00:00:00:03", "02:00:00:00:00:99", 2),
            // Two reports that name each other: neither is one hop closer.
            obu("02:00:00:00:00:04", "02:00:00:00:00:05", 3),
            obu("02:00:00:00:00:05", "02:00:00:00:00:04", 3),
            // A chain below the relay: 1 (hop 1) -> 6 (hop 2) -> 7 (hop 3).
            obu("02:00:00:00:00:06", "02:00:00:00:00:01", 2),
            obu("02:00:00:00:00:07", "02:00:00:00:00:06", 3),
        ];
        let t = tree(id("02:00:00:00:01:00"), &obus);
        let top: Vec<String> = t.children.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(
            top,
            [
                "02:00:00:00:00:01",
                "02:00:00:00:00:03",
                "02:00:00:00:00:04",
                "02:00:00:00:00:05"
            ]
        );
        assert_eq!(
            t.children[0].children[1].children[0].id,
            id("02:00:00:00:00:07")
        );
        assert_eq!(t.children[0].children[0].id, id("02:00:00:00:00:02"));
        assert_eq!(t.descendants(), 7);
        let d = dot(&t);
        assert!(d.contains("\"02:00:00:00:00:01\" -> \"02:00:00:00:00:02\""));
        assert!(!d.contains("\"02:00:00:00:00:04\" -> \"02:00:00:00:00:05\""));
        assert!(d.contains("\"02:00:00:00:00:06\" -> \"02:00:00:00:00:07\""));
        // The JSON keeps its fields: the root has none of an OBU's.
        let j = serde_json::to_value(&t).unwrap();
        assert!(
            j.get("hops").is_none() && j["children"][0]["hops"] == 1,
            "{j}"
        );
        let back: TopologyNode = serde_json::from_value(j).unwrap();
        assert_eq!(back.descendants(), 7);
    }
}
