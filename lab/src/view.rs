//! What the web view shows, without I/O: a [`Frame`] is the network at one
//! moment in compact form (what the run records in `timeline.jsonl` twice
//! a second, and what the live view is built from); [`NetworkView`] is
//! `GET /api/network`'s answer (the names the specification lists, plus
//! more). The same conversion serves a live run and a replay.

use serde::{Deserialize, Serialize};

/// One OBU's upstream: RSU, next hop (node indices) and hops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Up {
    pub rsu: u32,
    pub next: u32,
    pub hops: u8,
}

/// A handover seen in the daemons' answers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    pub t: f64,
    pub node: u32,
    pub from: u32,
    pub to: u32,
}

/// The figures plotted over time, one point a second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: f64,
    /// Share of OBUs in an RSU's range that have an upstream, 0..1.
    pub attached: Option<f64>,
    /// Packets received / sent by the UDP and ping flows in the last
    /// second (by send time), 0..1.
    pub delivery: Option<f64>,
    /// Handovers in the last second.
    pub handovers: u32,
}

/// The network at one moment, compact (node indices, f32 positions).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub t: f64,
    /// Per node: where it is, `None` while absent.
    pub pos: Vec<Option<[f32; 2]>>,
    /// Per node: its upstream, from its latest answer.
    pub up: Vec<Option<Up>>,
    /// Pairs (a < b) that hear each other and their loss in percent.
    pub links: Vec<(u32, u32, u8)>,
    /// Per flow: sent, received so far.
    pub flows: Vec<(u64, u64)>,
    /// Handovers of the last few seconds.
    pub handovers: Vec<Handover>,
    /// The newest plot point.
    pub point: Point,
}

/// What does not change during a run: names, roles, the map's size.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub scenario: String,
    pub duration_s: f64,
    pub range_m: f64,
    pub edge_m: f64,
    pub names: Vec<String>,
    pub roles: Vec<String>,
    /// Flows: (kind, from, to).
    pub flows: Vec<(String, String, String)>,
    /// The map's bounds over the whole run: [min x, min y, max x, max y].
    pub bounds: [f64; 4],
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub role: String,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub present: bool,
    /// The RSU it is attached to (OBUs).
    pub upstream: Option<String>,
    pub next_hop: Option<String>,
    pub hops: Option<u8>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LinkView {
    pub a: String,
    pub b: String,
    /// 0..1.
    pub loss: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FlowView {
    pub id: usize,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub sent: u64,
    pub received: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HandoverView {
    pub t: f64,
    pub node: String,
    pub from: String,
    pub to: String,
}

/// `GET /api/network`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NetworkView {
    pub scenario: String,
    pub time_s: f64,
    pub duration_s: f64,
    pub nodes: Vec<NodeView>,
    pub links: Vec<LinkView>,
    pub flows: Vec<FlowView>,
    pub handovers: Vec<HandoverView>,
    pub point: Point,
}

impl NetworkView {
    pub fn new(layout: &Layout, f: &Frame) -> NetworkView {
        let name = |i: u32| layout.names.get(i as usize).cloned().unwrap_or_default();
        let nodes = layout
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let p = f.pos.get(i).copied().flatten();
                let up = f.up.get(i).copied().flatten();
                NodeView {
                    name: n.clone(),
                    role: layout.roles.get(i).cloned().unwrap_or_default(),
                    x: p.map(|p| f64::from(p[0])),
                    y: p.map(|p| f64::from(p[1])),
                    present: p.is_some(),
                    upstream: up.map(|u| name(u.rsu)),
                    next_hop: up.map(|u| name(u.next)),
                    hops: up.map(|u| u.hops),
                }
            })
            .collect();
        NetworkView {
            scenario: layout.scenario.clone(),
            time_s: f.t,
            duration_s: layout.duration_s,
            nodes,
            links: f
                .links
                .iter()
                .map(|&(a, b, l)| LinkView {
                    a: name(a),
                    b: name(b),
                    loss: f64::from(l) / 100.0,
                })
                .collect(),
            flows: layout
                .flows
                .iter()
                .enumerate()
                .map(|(id, (kind, from, to))| {
                    let (sent, received) = f.flows.get(id).copied().unwrap_or_default();
                    FlowView {
                        id,
                        kind: kind.clone(),
                        from: from.clone(),
                        to: to.clone(),
                        sent,
                        received,
                    }
                })
                .collect(),
            handovers: f
                .handovers
                .iter()
                .map(|h| HandoverView {
                    t: h.t,
                    node: name(h.node),
                    from: name(h.from),
                    to: name(h.to),
                })
                .collect(),
            point: f.point,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_becomes_the_specified_answer() {
        let layout = Layout {
            scenario: "s".into(),
            duration_s: 10.0,
            names: vec!["rsu1".into(), "obu0".into(), "obu1".into()],
            roles: vec!["rsu".into(), "obu".into(), "obu".into()],
            flows: vec![("udp".into(), "obu0".into(), "server".into())],
            ..Layout::default()
        };
        let f = Frame {
            t: 2.5,
            pos: vec![Some([0.0, 0.0]), Some([10.0, 4.0]), None],
            up: vec![
                None,
                Some(Up {
                    rsu: 0,
                    next: 0,
                    hops: 1,
                }),
                None,
            ],
            links: vec![(0, 1, 30)],
            flows: vec![(10, 9)],
            ..Frame::default()
        };
        let v = serde_json::to_value(NetworkView::new(&layout, &f)).unwrap();
        assert_eq!(v["time_s"], 2.5);
        assert_eq!(v["nodes"][1]["name"], "obu0");
        assert_eq!(v["nodes"][1]["upstream"], "rsu1");
        assert_eq!(v["nodes"][1]["hops"], 1);
        assert_eq!(v["nodes"][1]["x"], 10.0);
        assert_eq!(v["nodes"][2]["present"], false);
        assert_eq!(v["links"][0]["a"], "rsu1");
        assert_eq!(v["links"][0]["loss"], 0.3);
        assert_eq!(v["flows"][0]["received"], 9);
        for k in ["name", "role", "x", "y", "upstream", "hops"] {
            assert!(v["nodes"][0].get(k).is_some(), "{k}");
        }
    }
}
