//! A scenario made concrete: the nodes (RSUs, then one OBU per vehicle
//! track) with where each is at any time, and the flows resolved to
//! nodes. Everything `v2xd-lab check` can find wrong is found here, before
//! anything is built.

use crate::mobility::{ns2, sumo, Trace, Track};
use crate::scenario::{
    check_name, in_time_order, EventKind, FlowKind, Link, MobilitySource, Scenario, ScenarioError,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Rsu,
    Obu,
}

/// Most nodes of one lab (each is a namespace, two veths and a daemon;
/// interface names have room for five digits).
pub const MAX_NODES: usize = 10_000;

/// One node of the lab.
#[derive(Clone, Debug)]
pub struct PlanNode {
    pub name: String,
    pub role: Role,
    /// An RSU stands still here.
    pub fixed: Option<(f64, f64)>,
    /// An OBU drives this.
    pub track: Option<Track>,
}

impl PlanNode {
    /// Where the node is at `t`, `None` while an OBU is off the map.
    pub fn position(&self, t: f64) -> Option<(f64, f64)> {
        match (&self.fixed, &self.track) {
            (Some(p), _) => Some(*p),
            (None, Some(track)) => track.position(t),
            (None, None) => None,
        }
    }
}

/// One end of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Node(usize),
    /// The server behind the backbone.
    Server,
}

/// A flow between two ends, with its own number (its UDP port, its row in
/// the results).
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub id: usize,
    pub kind: FlowKind,
    pub from: Endpoint,
    pub to: Endpoint,
    pub rate_pps: f64,
    pub size: usize,
    pub start_s: f64,
    pub stop_s: f64,
    /// The DSCP of its packets.
    pub dscp: u8,
}

/// An `[[event]]` resolved to its node.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Its place in the scenario's `[[event]]` list (its row in the
    /// results).
    pub id: usize,
    pub at_s: f64,
    pub kind: EventKind,
    pub node: Option<usize>,
    pub link: Option<Link>,
    pub duration_s: Option<f64>,
}

/// The scenario, resolved.
#[derive(Clone, Debug)]
pub struct Plan {
    pub scenario: Scenario,
    pub nodes: Vec<PlanNode>,
    pub flows: Vec<Flow>,
    /// The events in the order they happen (by time, then the file's
    /// order).
    pub events: Vec<Event>,
    /// What the trace readers passed over, and caps applied.
    pub warnings: Vec<String>,
}

/// Puts tracks that never overlap in time one after another into one
/// track (a "slot"): each slot is one OBU daemon that drives the road again
/// when its vehicle has left. Greedy by appearance, so the number of slots
/// is the most vehicles on the road at once.
pub fn into_slots(tracks: Vec<Track>) -> Vec<Track> {
    let mut order = tracks;
    order.sort_by(|a, b| a.appears().total_cmp(&b.appears()));
    let mut slots: Vec<Track> = Vec::new();
    for t in order {
        let free = slots
            .iter_mut()
            .find(|s| s.present.last().is_none_or(|last| last.1 <= t.appears()));
        match free {
            Some(s) => {
                s.keyframes.extend(t.keyframes);
                s.present.extend(t.present);
            }
            None => slots.push(t),
        }
    }
    for (i, s) in slots.iter_mut().enumerate() {
        s.name = format!("obu{i}");
    }
    slots
}

impl Plan {
    pub fn new(scenario: Scenario) -> Result<Plan, ScenarioError> {
        let mut trace = vehicles(&scenario)?;
        if let Some(max) = scenario.mobility.max_obus {
            trace.cap(max);
        }
        if trace.tracks.len() + scenario.rsus.len() > MAX_NODES {
            return Err(ScenarioError::key(
                "mobility.max_obus",
                format!(
                    "{} vehicles and {} RSUs: at most {MAX_NODES} nodes on one machine; cap the trace with max_obus",
                    trace.tracks.len(),
                    scenario.rsus.len()
                ),
            ));
        }
        if trace.tracks.is_empty() {
            return Err(ScenarioError::key(
                "mobility",
                "no vehicle: the trace or road has no OBU in the scenario's time",
            ));
        }
        let mut nodes: Vec<PlanNode> = scenario
            .rsus
            .iter()
            .map(|r| PlanNode {
                name: r.name.clone(),
                role: Role::Rsu,
                fixed: Some((r.x, r.y)),
                track: None,
            })
            .collect();
        for t in trace.tracks {
            check_name("mobility (a vehicle's name)", &t.name)?;
            if nodes.iter().any(|n| n.name == t.name) {
                return Err(ScenarioError::key(
                    "mobility",
                    format!("vehicle \"{}\" has the name of an RSU", t.name),
                ));
            }
            nodes.push(PlanNode {
                name: t.name.clone(),
                role: Role::Obu,
                fixed: None,
                track: Some(t),
            });
        }
        let flows = resolve_flows(&scenario, &nodes)?;
        let events = resolve_events(&scenario, &nodes)?;
        Ok(Plan {
            scenario,
            nodes,
            flows,
            events,
            warnings: trace.warnings,
        })
    }

    pub fn obus(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].role == Role::Obu)
    }

    pub fn rsus(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].role == Role::Rsu)
    }

    /// Every node's position at `t`.
    pub fn positions(&self, t: f64) -> Vec<Option<(f64, f64)>> {
        self.nodes.iter().map(|n| n.position(t)).collect()
    }

    /// Whether node `i` is within radio range of some RSU at `t`.
    pub fn in_rsu_range(&self, i: usize, t: f64) -> bool {
        let Some((x, y)) = self.nodes[i].position(t) else {
            return false;
        };
        let r = self.scenario.radio.range_m;
        self.rsus().any(|k| {
            self.nodes[k]
                .position(t)
                .is_some_and(|(a, b)| (a - x).hypot(b - y) < r)
        })
    }

    pub fn endpoint_name(&self, e: Endpoint) -> &str {
        match e {
            Endpoint::Node(i) => &self.nodes[i].name,
            Endpoint::Server => "server",
        }
    }
}

/// The vehicles of the scenario's mobility, read or generated.
fn vehicles(s: &Scenario) -> Result<Trace, ScenarioError> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::key("mobility.file", format!("{}: {e}", path.display())))
    };
    let traced = |r: Result<Trace, crate::mobility::TraceError>, path: &std::path::Path| {
        r.map_err(|e| ScenarioError::key("mobility.file", format!("{}: {e}", path.display())))
    };
    match &s.mobility.source {
        MobilitySource::Road(road) => {
            let mut t = road.tracks(s.duration_s);
            t.tracks = into_slots(t.tracks);
            Ok(t)
        }
        MobilitySource::Ns2(p) => traced(ns2::parse(&read(p)?), p),
        MobilitySource::SumoFcd(p) => traced(sumo::parse(&read(p)?), p),
    }
}

fn resolve_flows(s: &Scenario, nodes: &[PlanNode]) -> Result<Vec<Flow>, ScenarioError> {
    let mut flows = Vec::new();
    for (i, f) in s.flows.iter().enumerate() {
        let find = |key: &str, name: &str| -> Result<Endpoint, ScenarioError> {
            if name == "server" {
                return if s.backbone {
                    Ok(Endpoint::Server)
                } else {
                    Err(ScenarioError::key(
                        &format!("flow[{i}].{key}"),
                        "\"server\": there is a server only with [backbone] enabled = true",
                    ))
                };
            }
            nodes
                .iter()
                .position(|n| n.name == name)
                .map(Endpoint::Node)
                .ok_or_else(|| {
                    let names: Vec<&str> = nodes.iter().take(6).map(|n| n.name.as_str()).collect();
                    ScenarioError::key(
                        &format!("flow[{i}].{key}"),
                        format!(
                            "\"{name}\": no such node (there are {}: {}{})",
                            nodes.len(),
                            names.join(", "),
                            if nodes.len() > 6 { ", …" } else { "" }
                        ),
                    )
                })
        };
        // `each-obu` at one end: every OBU but the other end.
        let each_obu = |other: Option<Endpoint>| -> Vec<Endpoint> {
            (0..nodes.len())
                .filter(|&k| nodes[k].role == Role::Obu && Some(Endpoint::Node(k)) != other)
                .map(Endpoint::Node)
                .collect()
        };
        let pairs: Vec<(Endpoint, Endpoint)> = if f.from == "each-obu" {
            let to = find("to", &f.to)?;
            each_obu(Some(to)).into_iter().map(|a| (a, to)).collect()
        } else if f.to == "each-obu" {
            let from = find("from", &f.from)?;
            each_obu(Some(from))
                .into_iter()
                .map(|b| (from, b))
                .collect()
        } else {
            vec![(find("from", &f.from)?, find("to", &f.to)?)]
        };
        for (a, b) in pairs {
            if a == b {
                return Err(ScenarioError::key(
                    &format!("flow[{i}].to"),
                    format!("\"{}\": a flow needs two different ends", f.to),
                ));
            }
            flows.push(Flow {
                id: flows.len(),
                kind: f.kind,
                from: a,
                to: b,
                rate_pps: f.rate_pps,
                size: f.size,
                start_s: f.start_s,
                stop_s: f.stop_s.unwrap_or(s.duration_s).min(s.duration_s),
                dscp: f.dscp,
            });
        }
    }
    Ok(flows)
}

/// The scenario's events in time order, each with its node: one that
/// exists, and an RSU for a backbone link.
fn resolve_events(s: &Scenario, nodes: &[PlanNode]) -> Result<Vec<Event>, ScenarioError> {
    let mut events = Vec::new();
    for i in in_time_order(&s.events) {
        let e = &s.events[i];
        let node = match &e.node {
            None => None,
            Some(name) => {
                let k = nodes.iter().position(|n| &n.name == name).ok_or_else(|| {
                    ScenarioError::key(
                        &format!("event[{i}].node"),
                        format!("\"{name}\": no such node (RSUs by name; vehicles obu0, obu1, … or the trace's names)"),
                    )
                })?;
                if e.link == Some(Link::Backbone) && nodes[k].role != Role::Rsu {
                    return Err(ScenarioError::key(
                        &format!("event[{i}].link"),
                        format!(
                            "\"backbone\": {name} is a vehicle; only RSUs have a backbone link"
                        ),
                    ));
                }
                Some(k)
            }
        };
        events.push(Event {
            id: i,
            at_s: e.at_s,
            kind: e.kind,
            node,
            link: e.link,
            duration_s: e.duration_s,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn track(name: &str, from: f64, to: f64) -> Track {
        Track {
            name: name.into(),
            keyframes: vec![(from, 0.0, 0.0), (to, 100.0, 0.0)],
            present: vec![(from, to)],
        }
    }

    #[test]
    fn tracks_that_follow_each_other_share_a_slot() {
        let slots = into_slots(vec![
            track("a", 0.0, 10.0),
            track("b", 5.0, 15.0),
            track("c", 10.0, 20.0),
            track("d", 12.0, 30.0),
        ]);
        assert_eq!(slots.len(), 3);
        assert_eq!(slots[0].present, vec![(0.0, 10.0), (10.0, 20.0)]);
        assert_eq!(slots[1].present, vec![(5.0, 15.0)]);
        // d found no free slot at 12 s: a third slot.
        let slots = into_slots(vec![
            track("a", 0.0, 10.0),
            track("b", 5.0, 15.0),
            track("d", 12.0, 30.0),
        ]);
        assert_eq!(slots.len(), 2, "{slots:?}");
        assert_eq!(slots[0].position(20.0), Some((100.0 * 8.0 / 18.0, 0.0)));
    }

    const BASE: &str = r#"
name = "t"
duration_s = 60
[radio]
range_m = 300
edge_m = 50
[[rsu]]
name = "rsu1"
x = 500
y = 0
[mobility]
kind = "road"
length_m = 1000
vehicles = 5
"#;

    fn plan(extra: &str) -> Result<Plan, ScenarioError> {
        Plan::new(Scenario::parse(&format!("{BASE}{extra}"), Path::new("."))?)
    }

    #[test]
    fn a_fixed_count_road_is_that_many_obus() {
        let p = plan("").unwrap();
        assert_eq!(p.obus().count(), 5);
        assert_eq!(p.rsus().count(), 1);
        for t in [0.0, 20.0, 59.0] {
            let on = p.positions(t).iter().filter(|x| x.is_some()).count();
            assert_eq!(on, 6, "at {t}");
        }
    }

    #[test]
    fn each_obu_makes_a_flow_per_obu_and_names_are_checked() {
        let p = plan("[[flow]]\nkind = \"ping\"\nfrom = \"rsu1\"\nto = \"each-obu\"\n").unwrap();
        assert_eq!(p.flows.len(), 5);
        assert!(p.flows.iter().all(|f| f.from == Endpoint::Node(0)));
        let e = plan("[[flow]]\nkind = \"ping\"\nfrom = \"obu0\"\nto = \"obu77\"\n").unwrap_err();
        assert!(
            e.to_string().contains("flow[0].to") && e.to_string().contains("obu77"),
            "{e}"
        );
        let e = plan("[[flow]]\nkind = \"ping\"\nfrom = \"obu0\"\nto = \"server\"\n").unwrap_err();
        assert!(e.to_string().contains("backbone"), "{e}");
    }

    #[test]
    fn each_obu_as_the_source_makes_a_flow_from_every_vehicle() {
        let p = plan("[[flow]]\nkind = \"udp\"\nfrom = \"each-obu\"\nto = \"rsu1\"\n").unwrap();
        assert_eq!(p.flows.len(), 5);
        assert!(p.flows.iter().all(|f| f.to == Endpoint::Node(0)));
        let from: Vec<Endpoint> = p.flows.iter().map(|f| f.from).collect();
        assert_eq!(from, p.obus().map(Endpoint::Node).collect::<Vec<_>>());
        // To a vehicle: from every other one.
        let p = plan("[[flow]]\nkind = \"udp\"\nfrom = \"each-obu\"\nto = \"obu2\"\n").unwrap();
        assert_eq!(p.flows.len(), 4);
        let e =
            plan("[[flow]]\nkind = \"udp\"\nfrom = \"each-obu\"\nto = \"each-obu\"\n").unwrap_err();
        assert!(e.to_string().contains("flow[0].from"), "{e}");
    }

    #[test]
    fn events_are_resolved_to_nodes_in_time_order() {
        let p = plan(
            "[[event]]\nat_s = 20\nkind = \"start\"\nnode = \"rsu1\"\n\
             [[event]]\nat_s = 10\nkind = \"kill\"\nnode = \"rsu1\"\n\
             [[event]]\nat_s = 5\nkind = \"link-down\"\nnode = \"obu3\"\nlink = \"radio\"\n",
        )
        .unwrap();
        let order: Vec<(usize, f64)> = p.events.iter().map(|e| (e.id, e.at_s)).collect();
        assert_eq!(order, vec![(2, 5.0), (1, 10.0), (0, 20.0)]);
        assert_eq!(p.events[1].node, Some(0));
        assert_eq!(p.nodes[p.events[0].node.unwrap()].name, "obu3");
        let e = plan("[[event]]\nat_s = 5\nkind = \"kill\"\nnode = \"obu9\"\n").unwrap_err();
        assert!(
            e.to_string().contains("event[0].node") && e.to_string().contains("obu9"),
            "{e}"
        );
        let e = plan(
            "[backbone]\nenabled = true\n[[event]]\nat_s = 5\nkind = \"link-down\"\nnode = \"obu1\"\nlink = \"backbone\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("event[0].link"), "{e}");
    }

    #[test]
    fn a_missing_trace_names_the_file_key() {
        let text = BASE.replace(
            "kind = \"road\"\nlength_m = 1000\nvehicles = 5",
            "kind = \"ns2\"\nfile = \"nope.ns\"",
        );
        let e = Plan::new(Scenario::parse(&text, Path::new("/nonexistent")).unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("mobility.file") && e.to_string().contains("nope.ns"),
            "{e}"
        );
    }

    #[test]
    fn in_range_follows_the_geometry() {
        let p = plan("").unwrap();
        let i = p.obus().next().unwrap();
        let t = (0..600)
            .map(|k| k as f64 * 0.1)
            .find(|&t| {
                p.nodes[i]
                    .position(t)
                    .is_some_and(|(x, _)| (x - 500.0).abs() < 10.0)
            })
            .expect("passes the RSU");
        assert!(p.in_rsu_range(i, t));
    }
}
