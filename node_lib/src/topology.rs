//! An RSU's cell as a tree (`/api/v1/topology`, `rsu show topology`): the
//! RSU at the root, each OBU under the parent its replies name (its
//! upstream next hop), with hops, link quality and round trip; as JSON or
//! as a Graphviz graph.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// The tree of `rsu`'s cell from its routes (`/api/v1/routes` "obus").
/// An OBU whose parent is not an OBU of the cell (a direct neighbour, or a
/// relay we hold no route for) hangs under the RSU.
pub fn tree(rsu: &str, obus: &[Value]) -> Value {
    let ids: HashSet<&str> = obus.iter().filter_map(|o| o["id"].as_str()).collect();
    let mut children: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for o in obus {
        let parent = o["parent"].as_str().unwrap_or_default();
        let direct = o["hops"].as_u64().unwrap_or(1) <= 1;
        let key = if !direct && ids.contains(parent) && Some(parent) != o["id"].as_str() {
            parent.to_string()
        } else {
            rsu.to_string()
        };
        children.entry(key).or_default().push(o);
    }
    let mut seen = HashSet::new();
    let mut top = subtree(rsu, &children, &mut seen);
    // OBUs whose reported parents form a cycle never hang below the RSU:
    // shown under it anyway, each cycle cut once.
    let mut rest: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for o in obus {
        let id = o["id"].as_str().unwrap_or_default();
        if !seen.contains(id) {
            rest.entry(rsu.to_string()).or_default().push(o);
            let all = subtree(rsu, &rest, &mut seen);
            if let (Value::Array(t), Value::Array(mut more)) = (&mut top, all) {
                for m in more.iter_mut() {
                    m["children"] =
                        subtree(m["id"].as_str().unwrap_or_default(), &children, &mut seen);
                }
                t.append(&mut more);
            }
            rest.clear();
        }
    }
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
    fn relays_become_parents_and_cycles_are_cut() {
        let obus = vec![
            obu("02:00:00:00:00:01", "02:00:00:00:01:00", 1),
            obu("02:00:00:00:00:02", "02:00:00:00:00:01", 2),
            // Names a parent the RSU does not know: under the RSU.
            obu("02:00:00:00:00:03", "02:00:00:00:00:99", 2),
            // A loop of two reports that name each other.
            obu("02:00:00:00:00:04", "02:00:00:00:00:05", 3),
            obu("02:00:00:00:00:05", "02:00:00:00:00:04", 3),
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
                "02:00:00:00:00:04"
            ]
        );
        assert_eq!(t["children"][2]["children"][0]["id"], "02:00:00:00:00:05");
        assert_eq!(t["children"][0]["children"][0]["id"], "02:00:00:00:00:02");
        let d = dot(&t);
        assert!(d.contains("\"02:00:00:00:00:01\" -> \"02:00:00:00:00:02\""));
        assert!(d.contains("\"02:00:00:00:00:04\" -> \"02:00:00:00:00:05\""));
    }
}
