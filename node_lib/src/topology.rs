//! An RSU's cell as a tree (`/api/v1/topology`, `rsu show topology`): the
//! RSU at the root, each OBU under the parent its replies name (its
//! upstream next hop), with hops, link quality and round trip; as JSON or
//! as a Graphviz graph.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// Deepest nesting shown (the protocol's `max_hops` is at most 32).
const MAX_DEPTH: u64 = 32;

/// The tree of `rsu`'s cell from its routes (`/api/v1/routes` "obus").
/// An OBU whose parent is not an OBU of the cell one hop closer (a direct
/// neighbour, a relay we hold no route for, a node whose id is not its
/// link MAC) hangs under the RSU.
pub fn tree(rsu: &str, obus: &[Value]) -> Value {
    let hops: BTreeMap<&str, u64> = obus
        .iter()
        .filter_map(|o| Some((o["id"].as_str()?, o["hops"].as_u64()?)))
        .collect();
    let mut children: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for o in obus {
        let parent = o["parent"].as_str().unwrap_or_default();
        let h = o["hops"].as_u64().unwrap_or(1);
        // A parent must be one hop closer to the RSU: the tree is then as
        // deep as the longest path (`max_hops`), never deeper, and
        // reports that contradict each other cannot form a cycle.
        let key = if h > 1 && h <= MAX_DEPTH && hops.get(parent) == Some(&(h - 1)) {
            parent.to_string()
        } else {
            rsu.to_string()
        };
        children.entry(key).or_default().push(o);
    }
    // Every OBU is reached: by induction on hops, each hangs under the
    // RSU or under a parent placed one level up. `seen` guards anyway.
    let mut seen = HashSet::new();
    let top = subtree(rsu, &children, &mut seen);
    json!({
        "id": rsu,
        "role": "rsu",
        "children": top,
    })
}

fn subtree(
    id: &str,
    children: &BTreeMap<String, Vec<&Value>>,
    seen: &mut HashSet<String>,
) -> Value {
    let mut out = Vec::new();
    for o in children.get(id).into_iter().flatten() {
        let cid = o["id"].as_str().unwrap_or_default().to_string();
        // Parents come from the OBUs' own reports: never follow a cycle.
        if !seen.insert(cid.clone()) {
            continue;
        }
        out.push(json!({
            "id": cid,
            "role": "obu",
            "hops": o["hops"],
            "link_quality_pct": o["link_quality_pct"],
            "rtt_us": o["rtt_us"],
            "next_hop": o["next_hop"],
            "addresses": o["addresses"],
            "children": subtree(&cid, children, seen),
        }));
    }
    Value::Array(out)
}

/// The tree as a Graphviz digraph (edges from parent to child, labelled
/// with the child's link quality and hops).
pub fn dot(tree: &Value) -> String {
    let mut s = String::from("digraph cell {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n");
    let root = tree["id"].as_str().unwrap_or("rsu");
    s.push_str(&format!(
        "  \"{root}\" [shape=box, label=\"RSU\\n{root}\"];\n"
    ));
    fn walk(parent: &str, node: &Value, s: &mut String) {
        for c in node["children"].as_array().into_iter().flatten() {
            let id = c["id"].as_str().unwrap_or_default();
            let addrs: Vec<String> = c["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            s.push_str(&format!(
                "  \"{id}\" [shape=ellipse, label=\"{id}\\n{}\"];\n",
                addrs.join("\\n")
            ));
            s.push_str(&format!(
                "  \"{parent}\" -> \"{id}\" [label=\"{}% hop {}\"];\n",
                c["link_quality_pct"].as_u64().unwrap_or(0),
                c["hops"].as_u64().unwrap_or(0)
            ));
            walk(id, c, s);
        }
    }
    walk(root, tree, &mut s);
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obu(id: &str, parent: &str, hops: u64) -> Value {
        json!({"id": id, "parent": parent, "hops": hops, "link_quality_pct": 90,
               "rtt_us": 100, "next_hop": parent, "addresses": ["10.0.0.9/24"]})
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
        let t = tree("02:00:00:00:01:00", &obus);
        let top: Vec<&str> = t["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
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
            t["children"][0]["children"][1]["children"][0]["id"],
            "02:00:00:00:00:07"
        );
        assert_eq!(t["children"][0]["children"][0]["id"], "02:00:00:00:00:02");
        let d = dot(&t);
        assert!(d.contains("\"02:00:00:00:00:01\" -> \"02:00:00:00:00:02\""));
        assert!(!d.contains("\"02:00:00:00:00:04\" -> \"02:00:00:00:00:05\""));
        assert!(d.contains("\"02:00:00:00:00:06\" -> \"02:00:00:00:00:07\""));
    }
}
