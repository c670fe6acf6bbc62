//! The scenario's `[[event]]`s as the run plays them. The run's radio loop
//! calls [`Events::tick`] at every radio update; each event fires at the
//! first update at or after its time and does only what is quick (a
//! signal, a spawn, a flag): a daemon that was sent a signal is looked at
//! again at each update until it is gone (SIGKILL after [`STOP_GRACE_S`]),
//! and a burst's threads are joined once they have ended, so the radio
//! never waits for a process or a thread (a daemon's exit takes the
//! kernel a while: its TUN device goes with it). What the lab does to the
//! machine goes through [`Actions`] (the run's namespaces and daemons; a
//! fake in the tests).
//!
//! The events of one node keep their order: an event waits while an
//! earlier one of the same node is still in progress (a restart whose
//! daemon has not ended yet).

use crate::burst::Burst;
use crate::plan::Event;
use crate::scenario::{EventKind, Link};
use crate::{Error, Result};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// How long a daemon may take to end after SIGTERM before it gets
/// SIGKILL (the testbed's own grace when it removes a lab).
pub const STOP_GRACE_S: f64 = 8.0;

/// A signal to a daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: a graceful stop.
    Term,
    /// SIGKILL: a crash.
    Kill,
}

/// What events do to the lab's nodes; none of them waits.
pub trait Actions {
    /// Sends the signal to the node's daemon (nothing if it has ended).
    fn signal(&mut self, node: usize, sig: Signal) -> Result<()>;
    /// Reaps the node's daemon once it has ended, and forgets it.
    fn forget(&mut self, node: usize);
    /// Whether the node's daemon process still runs.
    fn running(&mut self, node: usize) -> bool;
    /// Starts the node's daemon again (same config and key), not waiting
    /// for it to answer.
    fn start(&mut self, node: usize) -> Result<()>;
    /// Takes an RSU's backbone link down or brings it up.
    fn backbone(&mut self, node: usize, up: bool) -> Result<()>;
}

/// What happened to one event (same order as the plan's events).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// When the lab acted, s since the run's start (`None`: the run ended
    /// first).
    pub fired_s: Option<f64>,
    /// When the action was complete: the daemon gone (stop), running
    /// again (restart), the burst over; the firing time for the rest.
    pub done_s: Option<f64>,
    pub error: Option<String>,
}

/// Why the lab holds a node out of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    Daemon,
    Radio,
}

/// A time in which the lab held a node down: its daemon stopped or its
/// radio off (`to`: `None` until the end of the run).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Held {
    pub node: usize,
    pub why: Hold,
    pub from: f64,
    pub to: Option<f64>,
}

/// Whether `node` was held down at `t`.
pub fn held_at(held: &[Held], node: usize, t: f64) -> bool {
    held.iter()
        .any(|h| h.node == node && h.from <= t && h.to.is_none_or(|to| t < to))
}

/// A daemon that was sent a signal, until it has ended.
struct Stopping {
    event: usize,
    node: usize,
    since: f64,
    /// SIGKILL sent (at once for a kill, after the grace for a stop).
    killed: bool,
    then_start: bool,
    errors: Vec<String>,
}

/// The events of a run in progress.
pub struct Events {
    events: Vec<Event>,
    records: Vec<Record>,
    stopping: Vec<Stopping>,
    radio_off: Vec<bool>,
    /// Bursts by event, until their threads have ended.
    bursts: Vec<(usize, Burst)>,
    burst_cpu: Duration,
    held: Vec<Held>,
    stop: Arc<AtomicBool>,
}

/// What the run's events came to.
pub struct Finished {
    pub records: Vec<Record>,
    pub held: Vec<Held>,
    /// CPU the bursts burnt in the lab's process (not the lab's own cost).
    pub burst_cpu: Duration,
}

impl Events {
    /// The plan's `events` for a lab of `nodes` nodes; `stop` (Ctrl-C)
    /// also ends a burst.
    pub fn new(events: &[Event], nodes: usize, stop: Arc<AtomicBool>) -> Events {
        Events {
            events: events.to_vec(),
            records: vec![Record::default(); events.len()],
            stopping: Vec::new(),
            radio_off: vec![false; nodes],
            bursts: Vec::new(),
            burst_cpu: Duration::ZERO,
            held: Vec::new(),
            stop,
        }
    }

    /// Per node, whether the lab has taken its radio off the air.
    pub fn radio_off(&self) -> &[bool] {
        &self.radio_off
    }

    /// At run time `t`: moves what is in progress on, then fires every
    /// event that is due.
    pub fn tick(&mut self, t: f64, act: &mut dyn Actions) {
        self.progress(t, act);
        for i in 0..self.events.len() {
            if self.records[i].fired_s.is_some() || self.events[i].at_s > t {
                continue;
            }
            if let Some(n) = self.events[i].node {
                let busy = self.stopping.iter().any(|s| s.node == n)
                    || (0..i).any(|j| {
                        self.records[j].fired_s.is_none() && self.events[j].node == Some(n)
                    });
                if busy {
                    continue;
                }
            }
            self.records[i].fired_s = Some(t);
            if let Err(e) = self.fire(i, t, act) {
                self.records[i].error = Some(e.to_string());
            }
        }
    }

    fn hold(&mut self, node: usize, why: Hold, t: f64) {
        self.held.push(Held {
            node,
            why,
            from: t,
            to: None,
        });
    }

    fn release(&mut self, node: usize, why: Hold, t: f64) {
        for h in &mut self.held {
            if h.node == node && h.why == why && h.to.is_none() {
                h.to = Some(t);
            }
        }
    }

    fn fire(&mut self, i: usize, t: f64, act: &mut dyn Actions) -> Result<()> {
        let e = self.events[i].clone();
        let done = Some(t);
        match (e.kind, e.node, e.link) {
            (EventKind::CpuBurst, _, _) => {
                let d = Duration::from_secs_f64(e.duration_s.unwrap_or(0.0));
                self.bursts.push((i, Burst::start(d, self.stop.clone())?));
                return Ok(());
            }
            (EventKind::Kill | EventKind::Stop | EventKind::Restart, Some(n), _) => {
                let kill = e.kind == EventKind::Kill;
                act.signal(n, if kill { Signal::Kill } else { Signal::Term })?;
                self.hold(n, Hold::Daemon, t);
                self.stopping.push(Stopping {
                    event: i,
                    node: n,
                    since: t,
                    killed: kill,
                    then_start: e.kind == EventKind::Restart,
                    errors: Vec::new(),
                });
                return Ok(());
            }
            (EventKind::Start, Some(n), _) => {
                act.start(n)?;
                self.release(n, Hold::Daemon, t);
            }
            (EventKind::LinkDown | EventKind::LinkUp, Some(n), Some(link)) => {
                let up = e.kind == EventKind::LinkUp;
                match link {
                    Link::Radio => {
                        self.radio_off[n] = !up;
                        if up {
                            self.release(n, Hold::Radio, t);
                        } else {
                            self.hold(n, Hold::Radio, t);
                        }
                    }
                    Link::Backbone => act.backbone(n, up)?,
                }
            }
            (kind, _, _) => {
                return Err(Error::Malformed {
                    what: format!("event {}", kind.name()),
                    reason: "without its node or link (a plan not checked)".into(),
                })
            }
        }
        self.records[i].done_s = done;
        Ok(())
    }

    /// Daemons that have ended since their signal (SIGKILL to those that
    /// outlived their grace), and bursts whose time is up.
    fn progress(&mut self, t: f64, act: &mut dyn Actions) {
        let mut k = 0;
        while k < self.stopping.len() {
            let s = &mut self.stopping[k];
            if act.running(s.node) {
                if !s.killed && t - s.since >= STOP_GRACE_S {
                    s.killed = true;
                    s.errors.push(format!(
                        "the daemon did not end within {STOP_GRACE_S} s of SIGTERM: killed"
                    ));
                    if let Err(e) = act.signal(s.node, Signal::Kill) {
                        s.errors.push(e.to_string());
                    }
                }
                k += 1;
                continue;
            }
            let mut s = self.stopping.remove(k);
            act.forget(s.node);
            if s.then_start {
                match act.start(s.node) {
                    Ok(()) => self.release(s.node, Hold::Daemon, t),
                    Err(e) => s.errors.push(e.to_string()),
                }
            }
            let r = &mut self.records[s.event];
            r.done_s = Some(t);
            if !s.errors.is_empty() {
                r.error = Some(s.errors.join("; "));
            }
        }
        for (i, b) in &self.bursts {
            let r = &mut self.records[*i];
            let end = r.fired_s.unwrap_or(t) + self.events[*i].duration_s.unwrap_or(0.0);
            if r.done_s.is_none() && t >= end {
                r.done_s = Some(t);
                b.end();
            }
        }
        let mut k = 0;
        while k < self.bursts.len() {
            if self.bursts[k].1.ended() {
                let (_, b) = self.bursts.remove(k);
                self.burst_cpu += b.finish();
            } else {
                k += 1;
            }
        }
    }

    /// The run is over at `t`: bursts end, what is still in progress is
    /// noted, open holds run to the end.
    pub fn finish(mut self, t: f64) -> Finished {
        for (i, b) in self.bursts.drain(..) {
            self.burst_cpu += b.finish();
            self.records[i].done_s.get_or_insert(t);
        }
        for s in &self.stopping {
            let r = &mut self.records[s.event];
            r.error = Some(format!(
                "the run ended before the daemon stopped{}",
                if s.then_start {
                    " and started again"
                } else {
                    ""
                }
            ));
        }
        Finished {
            records: self.records,
            held: self.held,
            burst_cpu: self.burst_cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Daemons that end `lag` ticks after SIGTERM (never if `None`).
    #[derive(Default)]
    struct Fake {
        log: Vec<String>,
        running: Vec<bool>,
        lag: Option<u32>,
        dying: Vec<(usize, u32)>,
    }

    impl Actions for Fake {
        fn signal(&mut self, n: usize, sig: Signal) -> Result<()> {
            match sig {
                Signal::Kill => {
                    self.log.push(format!("kill {n}"));
                    // Gone at the next look (the kernel takes a moment).
                    self.dying.retain(|d| d.0 != n);
                    self.dying.push((n, 0));
                }
                Signal::Term => {
                    self.log.push(format!("term {n}"));
                    if let Some(l) = self.lag {
                        self.dying.push((n, l));
                    }
                }
            }
            Ok(())
        }
        fn forget(&mut self, n: usize) {
            self.log.push(format!("forget {n}"));
        }
        fn running(&mut self, n: usize) -> bool {
            for d in &mut self.dying {
                if d.0 == n {
                    if d.1 == 0 {
                        self.running[n] = false;
                    }
                    d.1 = d.1.saturating_sub(1);
                }
            }
            self.running[n]
        }
        fn start(&mut self, n: usize) -> Result<()> {
            self.log.push(format!("start {n}"));
            if self.running[n] {
                return Err(Error::Node {
                    node: n.to_string(),
                    reason: "runs".into(),
                });
            }
            self.running[n] = true;
            self.dying.retain(|d| d.0 != n);
            Ok(())
        }
        fn backbone(&mut self, n: usize, up: bool) -> Result<()> {
            self.log.push(format!("backbone {n} {up}"));
            Ok(())
        }
    }

    fn event(at_s: f64, kind: EventKind, node: Option<usize>, link: Option<Link>) -> Event {
        Event {
            id: 0,
            at_s,
            kind,
            node,
            link,
            duration_s: None,
        }
    }

    fn play(events: &[Event], fake: &mut Fake, until: f64) -> Finished {
        let mut ev = Events::new(events, 3, Arc::new(AtomicBool::new(false)));
        let mut t = 0.0;
        while t <= until {
            ev.tick(t, fake);
            t += 0.1;
        }
        ev.finish(until)
    }

    #[test]
    fn kill_then_start_on_time_and_held_between() {
        let mut f = Fake {
            running: vec![true; 3],
            ..Fake::default()
        };
        let r = play(
            &[
                event(1.0, EventKind::Kill, Some(1), None),
                event(2.0, EventKind::Start, Some(1), None),
            ],
            &mut f,
            3.0,
        );
        assert_eq!(f.log, ["kill 1", "forget 1", "start 1"]);
        let fired: Vec<f64> = r.records.iter().map(|r| r.fired_s.unwrap()).collect();
        assert!(
            (fired[0] - 1.0).abs() < 0.11 && (fired[1] - 2.0).abs() < 0.11,
            "{fired:?}"
        );
        assert_eq!(r.held.len(), 1);
        assert!(held_at(&r.held, 1, 1.5) && !held_at(&r.held, 1, 2.5));
        assert!(!held_at(&r.held, 0, 1.5));
    }

    #[test]
    fn a_restart_waits_for_the_daemon_to_end_and_holds_later_events() {
        let mut f = Fake {
            running: vec![true; 3],
            lag: Some(5),
            ..Fake::default()
        };
        let r = play(
            &[
                event(1.0, EventKind::Restart, Some(2), None),
                // Due while the restart is in progress: waits for it.
                event(1.2, EventKind::Kill, Some(2), None),
                // Another node is not held back.
                event(1.2, EventKind::LinkDown, Some(0), Some(Link::Backbone)),
            ],
            &mut f,
            3.0,
        );
        assert_eq!(
            f.log,
            [
                "term 2",
                "backbone 0 false",
                "forget 2",
                "start 2",
                "kill 2",
                "forget 2"
            ]
        );
        let restart = &r.records[0];
        let done = restart.done_s.unwrap();
        assert!(done > restart.fired_s.unwrap() + 0.4, "{restart:?}");
        assert!(r.records[1].fired_s.unwrap() >= done);
        assert!(r.records[2].fired_s.unwrap() < 1.4);
        assert!(
            r.records.iter().all(|r| r.error.is_none()),
            "{r:?}",
            r = r.records
        );
    }

    #[test]
    fn a_daemon_that_ignores_sigterm_is_killed_after_the_grace() {
        let mut f = Fake {
            running: vec![true; 3],
            lag: None,
            ..Fake::default()
        };
        let r = play(&[event(0.5, EventKind::Stop, Some(0), None)], &mut f, 10.0);
        assert_eq!(f.log, ["term 0", "kill 0", "forget 0"]);
        let rec = &r.records[0];
        assert!(rec.done_s.unwrap() >= 0.5 + STOP_GRACE_S - 0.01, "{rec:?}");
        assert!(
            rec.error.as_deref().unwrap_or("").contains("SIGTERM"),
            "{rec:?}"
        );
        // Stopped for good: held to the end.
        assert!(held_at(&r.held, 0, 9.9));
    }

    #[test]
    fn a_radio_link_is_the_labs_own_and_a_failure_is_recorded() {
        let mut f = Fake {
            running: vec![true; 3],
            ..Fake::default()
        };
        let events = [
            event(0.5, EventKind::LinkDown, Some(2), Some(Link::Radio)),
            event(1.0, EventKind::Start, Some(1), None),
            event(1.5, EventKind::LinkUp, Some(2), Some(Link::Radio)),
        ];
        let mut ev = Events::new(&events, 3, Arc::new(AtomicBool::new(false)));
        ev.tick(0.6, &mut f);
        assert_eq!(ev.radio_off(), [false, false, true]);
        ev.tick(1.6, &mut f);
        assert_eq!(ev.radio_off(), [false; 3]);
        let r = ev.finish(2.0);
        assert!(held_at(&r.held, 2, 1.0) && !held_at(&r.held, 2, 1.7));
        // Starting a daemon that runs fails, and says so.
        assert_eq!(r.records[1].error.as_deref(), Some("1: runs"));
        assert_eq!(f.log, ["start 1"]);
        // Events not reached have no record.
        let ev = Events::new(&events, 3, Arc::new(AtomicBool::new(false)));
        assert!(ev.finish(0.1).records.iter().all(|r| r.fired_s.is_none()));
    }

    #[test]
    fn a_burst_ends_on_time_and_its_cpu_is_counted_apart() {
        let mut f = Fake {
            running: vec![true; 3],
            ..Fake::default()
        };
        let mut e = event(0.0, EventKind::CpuBurst, None, None);
        e.duration_s = Some(0.2);
        let mut ev = Events::new(&[e], 3, Arc::new(AtomicBool::new(false)));
        let t0 = std::time::Instant::now();
        ev.tick(0.0, &mut f);
        std::thread::sleep(Duration::from_millis(300));
        ev.tick(t0.elapsed().as_secs_f64(), &mut f);
        let r = ev.finish(1.0);
        assert!(r.records[0].done_s.unwrap() < 1.0, "{:?}", r.records);
        assert!(r.burst_cpu > Duration::ZERO);
        assert!(f.log.is_empty());
    }
}
