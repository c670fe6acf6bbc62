//! The run as the web view sees it: after each radio update the run hands
//! [`Live`] what it knows (positions, links, the daemons' latest answers,
//! the flows' counts); `Live` makes a [`Frame`], keeps a plot point a
//! second, notes handovers as they appear, shares the newest frame with
//! the web server, and records a frame every [`RECORD_EVERY_S`] into
//! `timeline.jsonl` for `v2xd-lab view`.

use crate::observe::Sample;
use crate::plan::{Plan, Role};
use crate::view::{Frame, Handover, Layout, Point, Up};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Frames recorded per second of run (the replay's resolution).
pub const RECORD_EVERY_S: f64 = 0.5;
/// How long a handover stays in the frames (marked on the map).
const HANDOVER_SHOWN_S: f64 = 3.0;

/// What the web server reads: the layout, the newest frame, the plot.
#[derive(Default)]
pub struct Shared {
    pub layout: Layout,
    pub frame: Frame,
    pub series: Vec<Point>,
}

pub type SharedView = Arc<Mutex<Shared>>;

/// The layout of a plan: names, roles, flows and the map's bounds.
pub fn layout(plan: &Plan) -> Layout {
    let s = &plan.scenario;
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut grow = |x: f64, y: f64| {
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    };
    for n in &plan.nodes {
        if let Some((x, y)) = n.fixed {
            grow(x, y);
        }
        if let Some(t) = &n.track {
            for k in &t.keyframes {
                grow(k.1, k.2);
            }
        }
    }
    if !b[0].is_finite() {
        b = [0.0, 0.0, 1.0, 1.0];
    }
    Layout {
        scenario: s.name.clone(),
        duration_s: s.duration_s,
        range_m: s.radio.range_m,
        edge_m: s.radio.edge_m,
        names: plan.nodes.iter().map(|n| n.name.clone()).collect(),
        roles: plan
            .nodes
            .iter()
            .map(|n| crate::results::role_name(n.role).to_string())
            .collect(),
        flows: plan
            .flows
            .iter()
            .map(|f| {
                (
                    f.kind.name().to_string(),
                    plan.endpoint_name(f.from).to_string(),
                    plan.endpoint_name(f.to).to_string(),
                )
            })
            .collect(),
        bounds: b,
    }
}

/// The live view's bookkeeping.
pub struct Live {
    shared: SharedView,
    timeline: Option<std::io::BufWriter<std::fs::File>>,
    next_record: f64,
    next_point: f64,
    last_rsu: Vec<Option<u32>>,
    handovers: Vec<Handover>,
    handovers_this_second: u32,
    last_totals: (u64, u64),
}

impl Live {
    /// Starts the view of `plan`; records into `out` (`layout.json`,
    /// `timeline.jsonl`) when given.
    pub fn new(plan: &Plan, out: Option<&Path>) -> crate::Result<Live> {
        let layout = layout(plan);
        let timeline = match out {
            Some(dir) => {
                let l = serde_json::to_string(&layout)
                    .map_err(crate::Error::malformed("layout.json"))?;
                let (lp, tp) = (dir.join("layout.json"), dir.join("timeline.jsonl"));
                std::fs::write(&lp, l + "\n").map_err(crate::Error::io(lp.display()))?;
                let f = std::fs::File::create(&tp).map_err(crate::Error::io(tp.display()))?;
                Some(std::io::BufWriter::new(f))
            }
            None => None,
        };
        let n = plan.nodes.len();
        Ok(Live {
            shared: Arc::new(Mutex::new(Shared {
                layout,
                ..Shared::default()
            })),
            timeline,
            next_record: 0.0,
            next_point: 1.0,
            last_rsu: vec![None; n],
            handovers: Vec::new(),
            handovers_this_second: 0,
            last_totals: (0, 0),
        })
    }

    pub fn shared(&self) -> SharedView {
        self.shared.clone()
    }

    /// One update at trace time `t`: positions, links (a < b, loss %),
    /// the newest answers, and per flow (sent, received).
    pub fn update(
        &mut self,
        plan: &Plan,
        t: f64,
        links: Vec<(u32, u32, u8)>,
        latest: &[Option<Sample>],
        flows: Vec<(u64, u64)>,
    ) {
        let pos: Vec<Option<[f32; 2]>> = plan
            .positions(t)
            .into_iter()
            .map(|p| p.map(|(x, y)| [x as f32, y as f32]))
            .collect();
        let up: Vec<Option<Up>> = (0..plan.nodes.len())
            .map(|i| {
                let s = latest.get(i).copied().flatten()?;
                let (rsu, hops) = s.upstream?;
                Some(Up {
                    rsu: rsu as u32,
                    next: s.next_hop.unwrap_or(rsu) as u32,
                    hops,
                })
            })
            .collect();
        self.note_handovers(t, &up);
        let mut point = None;
        if t >= self.next_point {
            point = Some(self.point(plan, t, &up, &flows));
            self.next_point = t.floor() + 1.0;
        }
        let frame = Frame {
            t,
            pos,
            up,
            links,
            flows,
            handovers: self.handovers.clone(),
            point: point.unwrap_or_else(|| self.last_point()),
        };
        if t >= self.next_record {
            self.next_record = t + RECORD_EVERY_S;
            if let Some(w) = &mut self.timeline {
                if let Ok(line) = serde_json::to_string(&frame) {
                    let _ = writeln!(w, "{line}");
                }
            }
        }
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = point {
            s.series.push(p);
        }
        s.frame = frame;
    }

    fn last_point(&self) -> Point {
        let s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.series.last().copied().unwrap_or_default()
    }

    fn note_handovers(&mut self, t: f64, up: &[Option<Up>]) {
        for (i, u) in up.iter().enumerate() {
            let Some(u) = u else { continue };
            if let Some(old) = self.last_rsu[i] {
                if old != u.rsu {
                    self.handovers.push(Handover {
                        t,
                        node: i as u32,
                        from: old,
                        to: u.rsu,
                    });
                    self.handovers_this_second += 1;
                }
            }
            self.last_rsu[i] = Some(u.rsu);
        }
        self.handovers.retain(|h| t - h.t < HANDOVER_SHOWN_S);
    }

    /// The plot point of the second ending at `t`.
    fn point(&mut self, plan: &Plan, t: f64, up: &[Option<Up>], flows: &[(u64, u64)]) -> Point {
        let mut inside = 0u32;
        let mut attached = 0u32;
        for i in (0..plan.nodes.len()).filter(|&i| plan.nodes[i].role == Role::Obu) {
            if plan.in_rsu_range(i, t) {
                inside += 1;
                attached += u32::from(up[i].is_some());
            }
        }
        // Packet flows only (TCP counts bytes).
        let totals = plan
            .flows
            .iter()
            .zip(flows)
            .filter(|(f, _)| f.kind != crate::scenario::FlowKind::Tcp)
            .fold((0, 0), |(a, b), (_, &(s, r))| (a + s, b + r));
        let (ds, dr) = (
            totals.0.saturating_sub(self.last_totals.0),
            totals.1.saturating_sub(self.last_totals.1),
        );
        self.last_totals = totals;
        let p = Point {
            t,
            attached: (inside > 0).then(|| f64::from(attached) / f64::from(inside)),
            delivery: (ds > 0).then(|| (dr as f64 / ds as f64).min(1.0)),
            handovers: self.handovers_this_second,
        };
        self.handovers_this_second = 0;
        p
    }

    /// Writes what is buffered of the timeline.
    pub fn finish(&mut self) {
        if let Some(w) = &mut self.timeline {
            let _ = w.flush();
        }
    }
}

/// A recorded run: its layout and frames (`v2xd-lab view`).
pub fn load_recording(dir: &Path) -> crate::Result<(Layout, Vec<Frame>)> {
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(crate::Error::io(format!(
            "{} (a directory written by `v2xd-lab run --out`?)",
            p.display()
        )))
    };
    let layout: Layout = serde_json::from_str(&read("layout.json")?)
        .map_err(crate::Error::malformed("layout.json"))?;
    let mut frames = Vec::new();
    let text = read("timeline.jsonl")?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (n, line) in lines.iter().enumerate() {
        match serde_json::from_str::<Frame>(line) {
            Ok(f) => frames.push(f),
            // A run killed mid-write leaves a partial last line: keep the rest.
            Err(_) if n + 1 == lines.len() && n > 0 => {}
            Err(e) => {
                return Err(crate::Error::malformed(format!(
                    "timeline.jsonl frame {}",
                    n + 1
                ))(e))
            }
        }
    }
    if frames.is_empty() {
        return Err(crate::Error::Malformed {
            what: "timeline.jsonl".into(),
            reason: "no frames".into(),
        });
    }
    Ok((layout, frames))
}
