//! `[[event]]`: what the lab does to the road while it runs (specification
//! section 13): a daemon killed, stopped, started or restarted, a radio or
//! backbone link taken down and up, a burst of CPU load on the host.
//!
//! Checked here by name and time alone: each event's keys, and that the
//! events of one node follow each other sensibly (a start only for a
//! daemon an earlier event took down, a link-up only after its
//! link-down). Whether the node exists, and is an RSU for a backbone link,
//! is the plan's check (the vehicles' names come from the trace).

use super::{check_name, not_negative, positive, ScenarioError};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    at_s: f64,
    kind: String,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    duration_s: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// SIGKILL to the node's daemon, as a crash: it stays down.
    Kill,
    /// SIGTERM (a graceful stop): it stays down.
    Stop,
    /// The daemon of a node taken down before started again (same config
    /// and key).
    Start,
    /// Stop, then start.
    Restart,
    LinkDown,
    LinkUp,
    /// A busy loop on every core of the host for `duration_s`.
    CpuBurst,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Kill => "kill",
            EventKind::Stop => "stop",
            EventKind::Start => "start",
            EventKind::Restart => "restart",
            EventKind::LinkDown => "link-down",
            EventKind::LinkUp => "link-up",
            EventKind::CpuBurst => "cpu-burst",
        }
    }

    const ALL: [EventKind; 7] = [
        EventKind::Kill,
        EventKind::Stop,
        EventKind::Start,
        EventKind::Restart,
        EventKind::LinkDown,
        EventKind::LinkUp,
        EventKind::CpuBurst,
    ];

    fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn is_link(&self) -> bool {
        matches!(self, EventKind::LinkDown | EventKind::LinkUp)
    }
}

/// Which of a node's links a link event takes down or up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    /// The node drops out of the air: nobody hears it, it hears nobody.
    Radio,
    /// An RSU's veth to the backbone's core.
    Backbone,
}

impl Link {
    pub fn name(&self) -> &'static str {
        match self {
            Link::Radio => "radio",
            Link::Backbone => "backbone",
        }
    }
}

/// One `[[event]]`, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSpec {
    pub at_s: f64,
    pub kind: EventKind,
    /// The node acted on (every kind but cpu-burst).
    pub node: Option<String>,
    pub link: Option<Link>,
    /// cpu-burst: how long.
    pub duration_s: Option<f64>,
}

impl EventSpec {
    /// When the event is over: the end of a burst, else its time.
    pub fn end_s(&self) -> f64 {
        self.at_s + self.duration_s.unwrap_or(0.0)
    }
}

/// Checks every `[[event]]` of a scenario of `duration_s`.
pub(super) fn parse_events(
    raw: &[RawEvent],
    duration_s: f64,
    backbone: bool,
) -> Result<Vec<EventSpec>, ScenarioError> {
    let events = raw
        .iter()
        .enumerate()
        .map(|(i, e)| parse_event(i, e, duration_s, backbone))
        .collect::<Result<Vec<_>, _>>()?;
    check_sequence(&events)?;
    Ok(events)
}

fn parse_event(
    i: usize,
    e: &RawEvent,
    duration_s: f64,
    backbone: bool,
) -> Result<EventSpec, ScenarioError> {
    let key = |k: &str| format!("event[{i}].{k}");
    let at_s = not_negative(&key("at_s"), e.at_s)?;
    if at_s >= duration_s {
        return Err(ScenarioError::key(
            &key("at_s"),
            format!("{at_s}: the scenario ends at {duration_s} s"),
        ));
    }
    let kind = EventKind::parse(&e.kind).ok_or_else(|| {
        let names: Vec<String> = EventKind::ALL
            .iter()
            .map(|k| format!("\"{}\"", k.name()))
            .collect();
        ScenarioError::key(
            &key("kind"),
            format!("\"{}\": expected one of {}", e.kind, names.join(", ")),
        )
    })?;
    let node = match (&e.node, kind) {
        (Some(_), EventKind::CpuBurst) => {
            return Err(ScenarioError::key(
                &key("node"),
                "not for kind = \"cpu-burst\" (a burst loads the whole host)",
            ))
        }
        (None, EventKind::CpuBurst) => None,
        (Some(n), _) => {
            check_name(&key("node"), n)?;
            Some(n.clone())
        }
        (None, k) => {
            return Err(ScenarioError::key(
                &key("node"),
                format!("missing: kind = \"{}\" acts on a node", k.name()),
            ))
        }
    };
    let link = parse_link(&key("link"), e.link.as_deref(), kind, backbone)?;
    let burst = match (e.duration_s, kind) {
        (Some(d), EventKind::CpuBurst) => Some(positive(&key("duration_s"), d)?),
        (None, EventKind::CpuBurst) => {
            return Err(ScenarioError::key(
                &key("duration_s"),
                "missing: kind = \"cpu-burst\" lasts duration_s seconds",
            ))
        }
        (Some(_), k) => {
            return Err(ScenarioError::key(
                &key("duration_s"),
                format!("only for kind = \"cpu-burst\", not \"{}\"", k.name()),
            ))
        }
        (None, _) => None,
    };
    if let Some(d) = burst {
        if at_s + d > duration_s {
            return Err(ScenarioError::key(
                &key("duration_s"),
                format!("{d}: the burst from {at_s} s would outlast the scenario ({duration_s} s)"),
            ));
        }
    }
    Ok(EventSpec {
        at_s,
        kind,
        node,
        link,
        duration_s: burst,
    })
}

fn parse_link(
    key: &str,
    link: Option<&str>,
    kind: EventKind,
    backbone: bool,
) -> Result<Option<Link>, ScenarioError> {
    match (link, kind.is_link()) {
        (None, false) => Ok(None),
        (Some(_), false) => Err(ScenarioError::key(
            key,
            format!(
                "only for kind = \"link-down\" or \"link-up\", not \"{}\"",
                kind.name()
            ),
        )),
        (None, true) => Err(ScenarioError::key(
            key,
            format!(
                "missing: kind = \"{}\" names the link, \"radio\" or \"backbone\"",
                kind.name()
            ),
        )),
        (Some("radio"), true) => Ok(Some(Link::Radio)),
        (Some("backbone"), true) if backbone => Ok(Some(Link::Backbone)),
        (Some("backbone"), true) => Err(ScenarioError::key(
            key,
            "\"backbone\": there is a backbone only with [backbone] enabled = true",
        )),
        (Some(other), true) => Err(ScenarioError::key(
            key,
            format!("\"{other}\": expected \"radio\" or \"backbone\""),
        )),
    }
}

/// The events in the order they happen: by time, events at the same time
/// in the file's order. Returns indices into `events`.
pub fn in_time_order(events: &[EventSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| events[a].at_s.total_cmp(&events[b].at_s));
    order
}

/// Each node's daemon and links go down and up in a sensible order: a
/// daemon is started only when an earlier kill or stop took it down, is
/// killed, stopped or restarted only while it runs; a link goes up only
/// after it went down, and down only while up.
fn check_sequence(events: &[EventSpec]) -> Result<(), ScenarioError> {
    let mut daemon_down: BTreeMap<&str, bool> = BTreeMap::new();
    let mut link_down: BTreeMap<(&str, Link), bool> = BTreeMap::new();
    for i in in_time_order(events) {
        let e = &events[i];
        let Some(node) = e.node.as_deref() else {
            continue;
        };
        let at = e.at_s;
        let bad = |why: String| Err(ScenarioError::key(&format!("event[{i}].kind"), why));
        let kind = e.kind.name();
        match (e.kind, e.link) {
            (EventKind::Kill | EventKind::Stop | EventKind::Restart, _) => {
                if daemon_down.get(node) == Some(&true) {
                    return bad(format!(
                        "\"{kind}\" at {at} s: {node}'s daemon is down then (an earlier kill or stop; use \"start\")"
                    ));
                }
                if e.kind != EventKind::Restart {
                    daemon_down.insert(node, true);
                }
            }
            (EventKind::Start, _) => {
                if daemon_down.get(node) != Some(&true) {
                    return bad(format!(
                        "\"start\" at {at} s: {node}'s daemon runs then (start follows a kill or stop of it)"
                    ));
                }
                daemon_down.insert(node, false);
            }
            (EventKind::LinkDown | EventKind::LinkUp, Some(link)) => {
                let down = e.kind == EventKind::LinkDown;
                let was = link_down.get(&(node, link)).copied().unwrap_or(false);
                if was == down {
                    let state = if down { "down already" } else { "up" };
                    return bad(format!(
                        "\"{kind}\" at {at} s: {node}'s {} link is {state} then",
                        link.name()
                    ));
                }
                link_down.insert((node, link), down);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::scenario::{Scenario, ScenarioError};
    use std::path::Path;

    const BASE: &str = r#"
name = "t"
duration_s = 60
[radio]
range_m = 300
[[rsu]]
name = "rsu1"
x = 0
y = 0
[mobility]
kind = "road"
length_m = 1000
vehicles = 4
[backbone]
enabled = true
"#;

    fn parse(events: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(&format!("{BASE}{events}"), Path::new("."))
    }

    fn ev(fields: &str) -> String {
        format!("[[event]]\n{}\n", fields.replace("; ", "\n"))
    }

    #[test]
    fn every_kind_reads() {
        let text = [
            ev("at_s = 5; kind = \"cpu-burst\"; duration_s = 2"),
            ev("at_s = 10; kind = \"kill\"; node = \"rsu1\""),
            ev("at_s = 15; kind = \"start\"; node = \"rsu1\""),
            ev("at_s = 20; kind = \"restart\"; node = \"obu1\""),
            ev("at_s = 25; kind = \"stop\"; node = \"obu1\""),
            ev("at_s = 30; kind = \"link-down\"; node = \"rsu1\"; link = \"backbone\""),
            ev("at_s = 32; kind = \"link-down\"; node = \"rsu1\"; link = \"radio\""),
            ev("at_s = 35; kind = \"link-up\"; node = \"rsu1\"; link = \"backbone\""),
        ]
        .concat();
        let s = parse(&text).unwrap();
        assert_eq!(s.events.len(), 8);
        assert_eq!(s.events[0].end_s(), 7.0);
        assert_eq!(s.events[0].node, None);
        assert_eq!(s.events[5].link, Some(super::Link::Backbone));
        assert_eq!(s.events[1].kind.name(), "kill");
        assert!(parse("").unwrap().events.is_empty());
    }

    #[test]
    fn bad_events_name_the_key_and_the_value() {
        for (text, key, says) in [
            (
                "at_s = 60; kind = \"kill\"; node = \"rsu1\"",
                "event[0].at_s",
                "60",
            ),
            (
                "at_s = -1; kind = \"kill\"; node = \"rsu1\"",
                "event[0].at_s",
                "-1",
            ),
            (
                "at_s = 1; kind = \"explode\"; node = \"rsu1\"",
                "event[0].kind",
                "explode",
            ),
            ("at_s = 1; kind = \"kill\"", "event[0].node", "missing"),
            (
                "at_s = 1; kind = \"cpu-burst\"",
                "event[0].duration_s",
                "missing",
            ),
            (
                "at_s = 1; kind = \"cpu-burst\"; duration_s = 0",
                "event[0].duration_s",
                "0",
            ),
            (
                "at_s = 50; kind = \"cpu-burst\"; duration_s = 20",
                "event[0].duration_s",
                "outlast",
            ),
            (
                "at_s = 1; kind = \"cpu-burst\"; duration_s = 2; node = \"rsu1\"",
                "event[0].node",
                "cpu-burst",
            ),
            (
                "at_s = 1; kind = \"kill\"; node = \"rsu1\"; duration_s = 2",
                "event[0].duration_s",
                "kill",
            ),
            (
                "at_s = 1; kind = \"kill\"; node = \"rsu1\"; link = \"radio\"",
                "event[0].link",
                "kill",
            ),
            (
                "at_s = 1; kind = \"link-down\"; node = \"rsu1\"",
                "event[0].link",
                "missing",
            ),
            (
                "at_s = 1; kind = \"link-down\"; node = \"rsu1\"; link = \"wifi\"",
                "event[0].link",
                "wifi",
            ),
            (
                "at_s = 1; kind = \"kill\"; node = \"rsu 1\"",
                "event[0].node",
                "rsu 1",
            ),
            (
                "at_s = 1; kind = \"kill\"; node = \"server\"",
                "event[0].node",
                "server",
            ),
            ("at_s = 1; kind = \"kill\"; nod = \"rsu1\"", "", "nod"),
        ] {
            let e = parse(&ev(text)).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_backbone_link_needs_a_backbone() {
        let text = BASE.replace("enabled = true", "enabled = false");
        let e = Scenario::parse(
            &format!(
                "{text}{}",
                ev("at_s = 1; kind = \"link-down\"; node = \"rsu1\"; link = \"backbone\"")
            ),
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("event[0].link") && e.contains("backbone"), "{e}");
    }

    #[test]
    fn a_node_goes_down_before_it_comes_up() {
        let kill = ev("at_s = 10; kind = \"kill\"; node = \"rsu1\"");
        let start = |at: u32| ev(&format!("at_s = {at}; kind = \"start\"; node = \"rsu1\""));
        // A start with no kill before it (in time, whatever the file's order).
        let e = parse(&format!("{}{kill}", start(5))).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("event[0].kind"), "{e}");
        assert!(e.message.contains("runs"), "{e}");
        assert!(parse(&format!("{}{kill}", start(15))).is_ok());
        // Killed twice; restarted while down.
        let e = parse(&format!("{kill}{kill}")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("event[1].kind"), "{e}");
        assert!(e.message.contains("down"), "{e}");
        let restart = ev("at_s = 12; kind = \"restart\"; node = \"rsu1\"");
        let e = parse(&format!("{kill}{restart}")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("event[1].kind"), "{e}");
        assert!(e.message.contains("start"), "{e}");
        // Links: up only after down; nodes are independent.
        let up = ev("at_s = 3; kind = \"link-up\"; node = \"rsu1\"; link = \"radio\"");
        let e = parse(&up).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("event[0].kind"), "{e}");
        assert!(e.message.contains("radio link is up"), "{e}");
        let down = ev("at_s = 2; kind = \"link-down\"; node = \"rsu1\"; link = \"radio\"");
        assert!(parse(&format!("{up}{down}")).is_ok());
        let other = ev("at_s = 2; kind = \"link-down\"; node = \"rsu1\"; link = \"backbone\"");
        let e = parse(&format!("{down}{other}{up}{up}")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("event[3].kind"), "{e}");
    }
}
