//! The run's stability figures (specification section 13): each event and
//! how long service took to come back after it ([`crate::recovery`]), the
//! OBUs' upstream changes, whether the host itself was saturated
//! ([`crate::host_cpu`]), and the run second by second.

use crate::events::{held_at, Held, Record};
use crate::host_cpu::{SATURATED, WARN_SHARE};
use crate::observe::Sample;
use crate::plan::{Event, Plan};
use crate::recovery::{self, Answer, Second, Timeline, BASELINE_S, WINDOW_S};
use crate::scenario::EventKind;
use serde::Serialize;

/// One event of the run (`results.json` `events[]`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EventResult {
    pub at_s: f64,
    pub kind: String,
    /// The node acted on (`null` for a cpu-burst).
    pub node: Option<String>,
    /// link-down, link-up: `radio` or `backbone`.
    pub link: Option<String>,
    /// cpu-burst: how long.
    pub duration_s: Option<f64>,
    /// When the lab acted (`null`: the run ended first).
    pub fired_s: Option<f64>,
    /// Where recovery is measured from: the end of a burst, the start
    /// that undid a kill or stop, the link-up after a link-down, the new
    /// daemon of a restart; else the event itself.
    pub end_s: f64,
    /// The attached share over the seconds before the disturbance began.
    pub baseline_share: Option<f64>,
    /// Seconds from `end_s` until the attached share was back to the
    /// baseline (docs/LAB.md, "Recovery"); `null`: not within the run.
    pub recovered_s: Option<f64>,
    pub error: Option<String>,
}

/// One second of the run (`results.json` `seconds[]`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SecondResult {
    /// The second's start, s since the run's start.
    pub t: u64,
    /// Attached share of the OBU answers taken in it while in range.
    pub attached_share: Option<f64>,
    /// The host's CPUs' busy share, 0..1.
    pub host_busy: Option<f64>,
    /// Radio updates applied in it, and the latest one's lateness.
    pub radio_updates: u32,
    pub radio_late_ms_max: Option<f64>,
}

/// The section 13 figures of `results.json` (at its top level).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stability {
    pub events: Vec<EventResult>,
    /// `routing.upstream_changes` summed over every OBU daemon (the first
    /// choice of an upstream counts, and so does losing all of them).
    pub upstream_changes: u64,
    /// The same per minute of vehicle presence.
    pub upstream_changes_per_obu_min: Option<f64>,
    /// The same from each OBU's first reading of its counters after the
    /// warm-up (they are read every 10 s), and per minute of presence
    /// after the warm-up: without the daemons' start, when all of them
    /// load the host at once.
    pub upstream_changes_warm: Option<u64>,
    pub upstream_changes_per_obu_min_warm: Option<f64>,
    /// Seconds in which the host's CPUs were at least 95 % busy.
    pub host_saturated_s: u64,
    /// The same outside the scenario's cpu-bursts.
    pub host_saturated_outside_bursts_s: u64,
    /// Saturated more than 5 % of the seconds outside cpu-bursts: the
    /// network's figures are not the network's alone.
    pub host_saturated: bool,
    pub seconds: Vec<SecondResult>,
}

/// What the run gathered for these figures.
pub struct Inputs<'a> {
    pub samples: &'a [Sample],
    pub records: &'a [Record],
    pub held: &'a [Held],
    pub upstream_changes: u64,
    /// The same after the warm-up (see [`Stability`]).
    pub upstream_changes_warm: Option<u64>,
    pub warmup_s: f64,
    /// Each second's host busy share.
    pub host_busy: &'a [Option<f64>],
    /// (run time, lateness ms) of each radio update.
    pub ticks: &'a [(f64, f64)],
    /// How long the run drove, s.
    pub end_s: f64,
}

/// The OBU answers taken while the vehicle was in an RSU's range, those of
/// vehicles the lab held down left out.
pub fn answers(plan: &Plan, samples: &[Sample], held: &[Held]) -> Vec<Answer> {
    samples
        .iter()
        .filter(|s| !held_at(held, s.node, s.t) && plan.in_rsu_range(s.node, s.t))
        .map(|s| Answer {
            t: s.t,
            attached: s.upstream.is_some(),
        })
        .collect()
}

/// The answers of each second of a run that lasted `end_s`.
pub fn seconds(answers: &[Answer], end_s: f64) -> Vec<Second> {
    let n = end_s.max(0.0).ceil() as usize;
    let mut out = vec![Second::default(); n];
    for a in answers {
        if let Some(s) = out.get_mut(a.t.max(0.0) as usize) {
            s.inside += 1;
            s.attached += u32::from(a.attached);
        }
    }
    out
}

/// When event `k` (of `events`, in time order) began disturbing the road
/// and when it ended: a start is the end of the kill or stop before it, a
/// link-up of its link-down.
pub fn span(events: &[Event], records: &[Record], k: usize) -> (f64, f64) {
    let e = &events[k];
    let at = |j: usize| records[j].fired_s.unwrap_or(events[j].at_s);
    let same_node = |j: &usize| events[*j].node == e.node;
    let undoes = |j: &Event| match e.kind {
        EventKind::Start => matches!(j.kind, EventKind::Kill | EventKind::Stop),
        _ => j.kind == EventKind::LinkDown && j.link == e.link,
    };
    let undone_by = |j: &Event| match e.kind {
        EventKind::Kill | EventKind::Stop => j.kind == EventKind::Start,
        _ => j.kind == EventKind::LinkUp && j.link == e.link,
    };
    match e.kind {
        EventKind::CpuBurst => (at(k), at(k) + e.duration_s.unwrap_or(0.0)),
        EventKind::Restart => (at(k), records[k].done_s.unwrap_or(at(k))),
        EventKind::Start | EventKind::LinkUp => {
            let before = (0..k).rev().filter(same_node).find(|&j| undoes(&events[j]));
            (before.map_or(at(k), at), at(k))
        }
        EventKind::Kill | EventKind::Stop | EventKind::LinkDown => {
            let after = (k + 1..events.len())
                .filter(same_node)
                .find(|&j| undone_by(&events[j]));
            (at(k), after.map_or(at(k), at))
        }
    }
}

/// Whether second `b` overlaps a cpu-burst of the run.
fn in_burst(events: &[Event], records: &[Record], b: usize) -> bool {
    (0..events.len()).any(|k| {
        let Some(from) = records[k].fired_s else {
            return false;
        };
        if events[k].kind != EventKind::CpuBurst {
            return false;
        }
        let to = records[k]
            .done_s
            .unwrap_or(from + events[k].duration_s.unwrap_or(0.0));
        (b as f64) < to && from < (b + 1) as f64
    })
}

/// Every figure of this module.
pub fn figures(plan: &Plan, i: &Inputs) -> Stability {
    let answers = answers(plan, i.samples, i.held);
    let secs = seconds(&answers, i.end_s);
    let timeline = Timeline::new(answers, i.end_s);
    let poll_s = plan.scenario.poll_interval_ms as f64 / 1000.0;
    let (baseline_s, window_s) = (BASELINE_S.max(5.0 * poll_s), WINDOW_S.max(3.0 * poll_s));
    let events = (0..plan.events.len())
        .map(|k| {
            let e = &plan.events[k];
            let r = &i.records[k];
            let (began, end) = span(&plan.events, i.records, k);
            let rec = recovery::recovery(&timeline, began, end, baseline_s, window_s);
            EventResult {
                at_s: e.at_s,
                kind: e.kind.name().into(),
                node: e.node.map(|n| plan.nodes[n].name.clone()),
                link: e.link.map(|l| l.name().into()),
                duration_s: e.duration_s,
                fired_s: r.fired_s,
                end_s: end,
                baseline_share: rec.baseline,
                recovered_s: r.fired_s.and(rec.recovered_s),
                error: match r.fired_s {
                    None => Some("not reached: the run ended first".into()),
                    Some(_) => r.error.clone(),
                },
            }
        })
        .collect();
    let saturated = |b: usize| i.host_busy[b].is_some_and(|x| x >= SATURATED);
    let outside: Vec<usize> = (0..i.host_busy.len())
        .filter(|&b| i.host_busy[b].is_some() && !in_burst(&plan.events, i.records, b))
        .collect();
    let outside_saturated = outside.iter().filter(|&&b| saturated(b)).count();
    let obu_min_from = |from: f64| -> f64 {
        plan.obus()
            .filter_map(|k| plan.nodes[k].track.as_ref())
            .flat_map(|t| t.present.iter())
            .map(|&(a, b)| (b.min(i.end_s) - a.max(from)).max(0.0) / 60.0)
            .sum()
    };
    let (obu_min, obu_min_warm) = (obu_min_from(0.0), obu_min_from(i.warmup_s));
    Stability {
        events,
        upstream_changes: i.upstream_changes,
        upstream_changes_per_obu_min: (obu_min > 0.0).then(|| i.upstream_changes as f64 / obu_min),
        upstream_changes_warm: i.upstream_changes_warm,
        upstream_changes_per_obu_min_warm: i
            .upstream_changes_warm
            .filter(|_| obu_min_warm > 0.0)
            .map(|c| c as f64 / obu_min_warm),
        host_saturated_s: (0..i.host_busy.len()).filter(|&b| saturated(b)).count() as u64,
        host_saturated_outside_bursts_s: outside_saturated as u64,
        host_saturated: outside_saturated as f64 > WARN_SHARE * outside.len() as f64,
        seconds: per_second(&secs, i.host_busy, i.ticks),
    }
}

fn per_second(secs: &[Second], host: &[Option<f64>], ticks: &[(f64, f64)]) -> Vec<SecondResult> {
    let mut out: Vec<SecondResult> = (0..secs.len())
        .map(|b| SecondResult {
            t: b as u64,
            attached_share: secs[b].share(),
            host_busy: host.get(b).copied().flatten(),
            radio_updates: 0,
            radio_late_ms_max: None,
        })
        .collect();
    for &(t, late) in ticks {
        if let Some(s) = out.get_mut(t.max(0.0) as usize) {
            s.radio_updates += 1;
            s.radio_late_ms_max = Some(s.radio_late_ms_max.map_or(late, |m: f64| m.max(late)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;
    use std::path::Path;

    fn plan(events: &str) -> Plan {
        let text = format!("name = \"t\"\nduration_s = 60\n[radio]\nrange_m = 2000\n[[rsu]]\nname = \"a\"\nx = 500\ny = 0\n[[rsu]]\nname = \"b\"\nx = 600\ny = 0\n[mobility]\nkind = \"road\"\nlength_m = 1000\nvehicles = 2\n{events}");
        Plan::new(Scenario::parse(&text, Path::new(".")).unwrap()).unwrap()
    }

    fn fired(events: &[Event]) -> Vec<Record> {
        events
            .iter()
            .map(|e| Record {
                fired_s: Some(e.at_s),
                done_s: Some(e.at_s + e.duration_s.unwrap_or(0.0)),
                error: None,
            })
            .collect()
    }

    #[test]
    fn a_start_ends_its_kill_and_a_link_up_its_link_down() {
        let p = plan(
            "[[event]]\nat_s = 10\nkind = \"kill\"\nnode = \"a\"\n\
             [[event]]\nat_s = 15\nkind = \"start\"\nnode = \"a\"\n\
             [[event]]\nat_s = 12\nkind = \"link-down\"\nnode = \"b\"\nlink = \"radio\"\n\
             [[event]]\nat_s = 20\nkind = \"cpu-burst\"\nduration_s = 3\n\
             [[event]]\nat_s = 25\nkind = \"stop\"\nnode = \"b\"\n",
        );
        let mut r = fired(&p.events);
        let spans: Vec<(f64, f64)> = (0..p.events.len())
            .map(|k| span(&p.events, &r, k))
            .collect();
        // In time order: kill 10, link-down 12, start 15, burst 20, stop 25.
        assert_eq!(
            spans,
            vec![
                (10.0, 15.0),
                (12.0, 12.0),
                (10.0, 15.0),
                (20.0, 23.0),
                (25.0, 25.0)
            ]
        );
        // The lab acted late: its times count.
        r[2].fired_s = Some(15.4);
        assert_eq!(span(&p.events, &r, 0), (10.0, 15.4));
        let p = plan("[[event]]\nat_s = 10\nkind = \"restart\"\nnode = \"a\"\n");
        let r = vec![Record {
            fired_s: Some(10.0),
            done_s: Some(11.5),
            error: None,
        }];
        assert_eq!(span(&p.events, &r, 0), (10.0, 11.5));
    }

    fn sample(t: f64, node: usize, up: bool) -> Sample {
        Sample {
            t,
            node,
            upstream: up.then_some((0, 1)),
            next_hop: None,
            answered: true,
        }
    }

    #[test]
    fn held_vehicles_are_left_out_and_bursts_do_not_warn() {
        let p = plan("[[event]]\nat_s = 5\nkind = \"cpu-burst\"\nduration_s = 2\n");
        let (o1, o2) = (2, 3);
        let mut samples = Vec::new();
        for b in 0..10 {
            samples.push(sample(b as f64 + 0.5, o1, true));
            // o2 is held down from 3 s to 6 s and answers nothing then.
            samples.push(sample(b as f64 + 0.5, o2, !(3..6).contains(&b)));
        }
        let held = [Held {
            node: o2,
            why: crate::events::Hold::Daemon,
            from: 3.0,
            to: Some(6.0),
        }];
        let s = seconds(&answers(&p, &samples, &held), 10.0);
        assert_eq!(
            s[4],
            Second {
                inside: 1,
                attached: 1
            }
        );
        assert_eq!(
            s[7],
            Second {
                inside: 2,
                attached: 2
            }
        );
        // Saturated in the burst (5, 6) and once outside it: 1 of 8.
        let mut host = vec![Some(0.5); 10];
        for b in [5, 6, 9] {
            host[b] = Some(0.99);
        }
        let records = fired(&p.events);
        let ticks = [(0.05, 3.0), (0.15, 9.0), (1.2, 1.0)];
        let inputs = |host: &[Option<f64>]| {
            figures(
                &p,
                &Inputs {
                    samples: &samples,
                    records: &records,
                    held: &held,
                    upstream_changes: 6,
                    upstream_changes_warm: Some(3),
                    warmup_s: 5.0,
                    host_busy: host,
                    ticks: &ticks,
                    end_s: 10.0,
                },
            )
        };
        let f = inputs(&host);
        assert_eq!(
            (f.host_saturated_s, f.host_saturated_outside_bursts_s),
            (3, 1)
        );
        assert!(f.host_saturated, "1 of 8 is more than 5 %");
        host[9] = Some(0.5);
        assert!(!inputs(&host).host_saturated);
        // Two vehicles for 10 s: a third of an OBU-minute, 6 changes.
        assert!((f.upstream_changes_per_obu_min.unwrap() - 18.0).abs() < 1e-9);
        // After the 5 s warm-up: a sixth of an OBU-minute, 3 changes.
        assert!((f.upstream_changes_per_obu_min_warm.unwrap() - 18.0).abs() < 1e-9);
        assert_eq!(f.seconds[0].radio_updates, 2);
        assert_eq!(f.seconds[0].radio_late_ms_max, Some(9.0));
        assert_eq!(f.seconds[1].radio_late_ms_max, Some(1.0));
        assert_eq!(f.seconds[2].radio_late_ms_max, None);
        let e = &f.events[0];
        assert_eq!(
            (e.kind.as_str(), e.node.as_ref(), e.end_s),
            ("cpu-burst", None, 7.0)
        );
        assert_eq!(e.recovered_s, Some(0.0));
        assert_eq!(e.baseline_share, Some(1.0));
    }

    #[test]
    fn an_event_not_reached_says_so() {
        let p = plan("[[event]]\nat_s = 50\nkind = \"kill\"\nnode = \"a\"\n");
        let records = vec![Record::default()];
        let f = figures(
            &p,
            &Inputs {
                samples: &[sample(0.5, 2, true)],
                records: &records,
                held: &[],
                upstream_changes: 0,
                upstream_changes_warm: None,
                warmup_s: 5.0,
                host_busy: &[],
                ticks: &[],
                end_s: 20.0,
            },
        );
        assert_eq!(f.events[0].recovered_s, None);
        assert!(f.events[0]
            .error
            .as_deref()
            .unwrap()
            .contains("not reached"));
        assert!(!f.host_saturated);
    }
}
