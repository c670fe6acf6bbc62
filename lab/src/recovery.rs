//! How long the network took to come back after an event (specification
//! section 13): pure arithmetic over the OBUs' answers.
//!
//! * The answers: those taken while the vehicle was in some RSU's range,
//!   each attached (an upstream) or not; answers of a vehicle whose
//!   daemon or radio the lab had taken down are left out (the lab meant
//!   it).
//! * The level before: the attached share of the answers of the
//!   [`BASELINE_S`] seconds before the event began (for a start, the kill
//!   or stop it undoes; for a link-up, its link-down).
//! * Recovered: the first moment `w` at or after the event's end, in steps
//!   of [`STEP_S`], from which the share of the next [`WINDOW_S`] seconds
//!   of answers is at least the level before less a tolerance:
//!   [`TOLERANCE`], or one answer of the window where that is more (a lab
//!   of six vehicles cannot come closer than one answer in eighteen).
//!   `recovered_s` is `w - end`: 0 when service never dropped; `None`
//!   when the run ended first. It cannot be finer than the lab's poll
//!   interval (each OBU is asked once a second by default).

/// Seconds before an event that give the level to return to.
pub const BASELINE_S: f64 = 5.0;
/// Seconds the share must hold to count as back.
pub const WINDOW_S: f64 = 3.0;
/// How far below the level before the share may stay (1 percentage point).
pub const TOLERANCE: f64 = 0.01;
/// The steps in which the window moves on from the event's end.
pub const STEP_S: f64 = 0.1;

/// The OBU answers of one second of the run (the run's timeline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Second {
    /// Answers taken while the vehicle was in an RSU's range.
    pub inside: u32,
    /// Those with an upstream.
    pub attached: u32,
}

impl Second {
    pub fn share(&self) -> Option<f64> {
        (self.inside > 0).then(|| f64::from(self.attached) / f64::from(self.inside))
    }
}

/// One answer of a vehicle in an RSU's range: when, and whether it had an
/// upstream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Answer {
    pub t: f64,
    pub attached: bool,
}

/// What [`recovery`] found for one event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recovery {
    /// The attached share before the event began, 0..1.
    pub baseline: Option<f64>,
    /// Seconds from the event's end until the share was back.
    pub recovered_s: Option<f64>,
}

/// The answers in time order, counted for windows.
pub struct Timeline {
    t: Vec<f64>,
    /// Attached answers before index i.
    attached_before: Vec<u32>,
    /// Where the run ended, s.
    end_s: f64,
}

impl Timeline {
    /// The answers of a run that ended at `end_s` (any order).
    pub fn new(mut answers: Vec<Answer>, end_s: f64) -> Timeline {
        answers.sort_by(|a, b| a.t.total_cmp(&b.t));
        let mut attached_before = vec![0];
        for a in &answers {
            let last = *attached_before.last().unwrap_or(&0);
            attached_before.push(last + u32::from(a.attached));
        }
        Timeline {
            t: answers.iter().map(|a| a.t).collect(),
            attached_before,
            end_s,
        }
    }

    /// The share of answers in [from, to), with how many there were.
    fn share(&self, from: f64, to: f64) -> Option<(f64, u32)> {
        let a = self.t.partition_point(|&t| t < from);
        let b = self.t.partition_point(|&t| t < to);
        let n = (b - a) as u32;
        let attached = self.attached_before[b] - self.attached_before[a];
        (n > 0).then(|| (f64::from(attached) / f64::from(n), n))
    }
}

/// The recovery of an event that disturbed the road from `began_s` and
/// ended at `end_s`; `baseline_s` and `window_s` as [`BASELINE_S`] and
/// [`WINDOW_S`] (longer when the lab polls more slowly).
pub fn recovery(
    answers: &Timeline,
    began_s: f64,
    end_s: f64,
    baseline_s: f64,
    window_s: f64,
) -> Recovery {
    let Some((baseline, _)) = answers.share(began_s - baseline_s, began_s) else {
        return Recovery {
            baseline: None,
            recovered_s: None,
        };
    };
    let steps = ((answers.end_s - window_s - end_s) / STEP_S).floor();
    let recovered_s = (0..=steps.max(-1.0) as i64)
        .map(|k| k as f64 * STEP_S)
        .find(|&d| {
            let w = end_s + d;
            answers.share(w, w + window_s).is_some_and(|(share, n)| {
                share >= baseline - TOLERANCE.max(1.0 / f64::from(n)) - 1e-9
            })
        });
    Recovery {
        baseline: Some(baseline),
        recovered_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` OBUs answering at the middle of each second, `attached[b]` of
    /// them attached in second `b`; the run ends after the last second.
    fn run(n: u32, attached: &[u32]) -> Timeline {
        let mut v = Vec::new();
        for (b, &a) in attached.iter().enumerate() {
            for k in 0..n {
                v.push(Answer {
                    t: b as f64 + 0.5,
                    attached: k < a,
                });
            }
        }
        Timeline::new(v, attached.len() as f64)
    }

    fn rec(t: &Timeline, began: f64, end: f64) -> Recovery {
        recovery(t, began, end, BASELINE_S, WINDOW_S)
    }

    fn near(v: Option<f64>, want: f64) -> bool {
        v.is_some_and(|v| (v - want).abs() < 1e-6)
    }

    #[test]
    fn back_when_the_share_holds_its_level_again() {
        // 100 OBUs, all attached, 40 lost at 10 s, back one by one: the
        // last answers short of the level are those at 14.5 s, so the
        // window holds from the next step on.
        let mut a = vec![100; 10];
        a.extend([60, 60, 70, 80, 90, 100, 100, 100, 100, 100]);
        let s = run(100, &a);
        let r = rec(&s, 10.0, 10.0);
        assert_eq!(r.baseline, Some(1.0));
        assert!(near(r.recovered_s, 4.6), "{r:?}");
        // Measured from the end (a burst of 2 s from 10 s).
        assert!(near(rec(&s, 10.0, 12.0).recovered_s, 2.6));
        // An end that is not on a whole second.
        assert!(near(rec(&s, 10.0, 12.05).recovered_s, 2.5));
    }

    #[test]
    fn an_event_that_costs_nothing_recovers_at_once() {
        let s = run(50, &[49; 20]);
        let r = rec(&s, 8.0, 8.0);
        assert_eq!(r.baseline, Some(0.98));
        assert_eq!(r.recovered_s, Some(0.0));
        // The lab acts a little after the whole second: still at once.
        assert_eq!(rec(&s, 8.00007, 8.00007).recovered_s, Some(0.0));
    }

    #[test]
    fn the_level_is_the_one_before_the_event_began() {
        // Killed at 5 s, started at 10 s: the baseline is before 5 s, not
        // the dip before the start.
        let s = run(
            10,
            &[10, 10, 10, 10, 10, 5, 5, 5, 5, 5, 5, 9, 10, 10, 10, 10],
        );
        let r = rec(&s, 5.0, 10.0);
        assert_eq!(r.baseline, Some(1.0));
        // Past the answers at 10.5: 9, 10, 10 of 30 is within one answer
        // (1/30) of the level.
        assert!(near(r.recovered_s, 0.6), "{r:?}");
    }

    #[test]
    fn small_labs_are_allowed_one_answer_below_the_level() {
        // Six OBUs; 5 of 6 attached in one second of the window.
        let s = run(6, &[6, 6, 6, 6, 6, 0, 0, 5, 6, 6, 6]);
        assert!(near(rec(&s, 5.0, 5.0).recovered_s, 1.6));
        // Two answers below is not back: the window must move past them.
        let s = run(6, &[6, 6, 6, 6, 6, 0, 0, 4, 6, 6, 6]);
        assert!(near(rec(&s, 5.0, 5.0).recovered_s, 2.6));
    }

    #[test]
    fn never_back_or_nothing_to_compare_is_none() {
        let s = run(10, &[10, 10, 10, 10, 10, 2, 2, 2, 2, 2, 2]);
        assert_eq!(rec(&s, 5.0, 5.0).recovered_s, None);
        // Back only in the last two seconds: a window of three does not fit.
        let s = run(10, &[10, 10, 10, 10, 10, 2, 2, 2, 10, 10]);
        assert_eq!(rec(&s, 5.0, 5.0).recovered_s, None);
        // No vehicle in range before the event: no level to return to.
        let s = run(0, &[0; 10]);
        assert_eq!(
            rec(&s, 5.0, 5.0),
            Recovery {
                baseline: None,
                recovered_s: None
            }
        );
        // An event at 0 s has nothing before it.
        let s = run(10, &[10; 10]);
        assert_eq!(rec(&s, 0.0, 0.0).baseline, None);
        // An event too near the end for a window.
        assert_eq!(rec(&s, 8.0, 8.0).recovered_s, None);
    }

    #[test]
    fn the_baseline_uses_only_the_answers_before() {
        // An event at 2.2 s: the answers at 0.5 and 1.5 are before it.
        let s = run(4, &[4, 4, 0, 0, 4, 4, 4, 4]);
        let r = rec(&s, 2.2, 2.2);
        assert_eq!(r.baseline, Some(1.0));
        assert!(near(r.recovered_s, 1.4), "{r:?}");
    }

    #[test]
    fn seconds_give_their_share() {
        assert_eq!(
            Second {
                inside: 4,
                attached: 3
            }
            .share(),
            Some(0.75)
        );
        assert_eq!(Second::default().share(), None);
    }
}
