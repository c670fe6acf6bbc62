//! ns-2 movement files (`setdest` scenarios, as BonnMotion and SUMO's
//! traceExporter write them):
//!
//! ```text
//! $node_(0) set X_ 150.0             # where node 0 is at the start
//! $node_(0) set Y_ 93.9
//! $node_(0) set Z_ 0.0               # height: ignored
//! $ns_ at 2.0 "$node_(0) setdest 300.0 93.9 20.0"   # move there at 20 m/s from t = 2 s
//! $ns_ at 0.0 "$g(0) start"          # presence (traceExporter's activity file)
//! $ns_ at 9.5 "$g(0) stop"
//! ```
//!
//! A `setdest` moves the node in a straight line from where it is at that
//! time; a later one takes over from where it has got to. A node with no
//! initial `X_`/`Y_` appears at its first command, where that command puts
//! it (the usual idiom: a first `setdest` at a huge speed). A node exists
//! from its first position on, unless `start`/`stop` say otherwise. Trace
//! time is kept exactly (seconds as written). Comments (whole-line `#` and
//! trailing `;#`), blank lines and `Z_` are passed over; other `$ns_ at`
//! commands and other lines are skipped with one warning per kind.

use super::{interpolate, number, Trace, TraceError, Track};
use std::collections::BTreeMap;

/// What one line said of one node, at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Command {
    SetX(f64),
    SetY(f64),
    Setdest { x: f64, y: f64, speed: f64 },
    Start,
    Stop,
}

/// The node index in `$node_(N)` or `$g(N)`.
fn node_index(s: &str, line: usize) -> Result<Option<usize>, TraceError> {
    let s = s.trim();
    let inner = match s
        .strip_prefix("$node_(")
        .or_else(|| s.strip_prefix("$g("))
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(i) => i,
        None => return Ok(None),
    };
    inner
        .trim()
        .parse::<usize>()
        .map(Some)
        .map_err(|_| TraceError {
            line,
            message: format!("`{s}`: node index `{inner}` is not a whole number"),
        })
}

/// A node command: `$node_(N) set X_ V`, `$node_(N) setdest X Y S`,
/// `$g(N) start|stop`. `Ok(None)`: a command of another kind.
fn command(words: &[&str], line: usize) -> Result<Option<(usize, Command)>, TraceError> {
    let Some(first) = words.first() else {
        return Ok(None);
    };
    let Some(node) = node_index(first, line)? else {
        return Ok(None);
    };
    let c = match &words[1..] {
        ["set", "X_", v] => Command::SetX(number(v, "X_", line)?),
        ["set", "Y_", v] => Command::SetY(number(v, "Y_", line)?),
        ["set", "Z_", v] => {
            number(v, "Z_", line)?;
            return Ok(None);
        }
        ["setdest", x, y, s] => {
            let speed = number(s, "setdest speed", line)?;
            if speed < 0.0 {
                return Err(TraceError {
                    line,
                    message: format!("setdest speed `{s}` is negative"),
                });
            }
            Command::Setdest {
                x: number(x, "setdest x", line)?,
                y: number(y, "setdest y", line)?,
                speed,
            }
        }
        ["start"] => Command::Start,
        ["stop"] => Command::Stop,
        _ => return Ok(None),
    };
    Ok(Some((node, c)))
}

/// The line without its comment (`#` at the start, `;#` after a command).
fn strip_comment(l: &str) -> &str {
    let l = l.trim();
    if l.starts_with('#') {
        return "";
    }
    match l.find(";#") {
        Some(i) => l[..i].trim(),
        None => l.trim_end_matches(';').trim(),
    }
}

/// Reads a movement file. Errors name the line; anything else is a
/// warning (once per kind).
pub fn parse(text: &str) -> Result<Trace, TraceError> {
    // (time, order in the file, node, command); initial settings at -inf.
    let mut cmds: Vec<(f64, usize, usize, Command)> = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        let l = strip_comment(raw);
        if l.is_empty() {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        let (time, inner): (f64, Vec<&str>) = if words.first() == Some(&"$ns_") {
            if words.get(1) != Some(&"at") || words.len() < 4 {
                skipped
                    .entry(format!("`{}`", words.join(" ")))
                    .or_insert(line);
                continue;
            }
            let t = number(words[2], "time", line)?;
            if t < 0.0 {
                return Err(TraceError {
                    line,
                    message: format!("time `{}` is negative", words[2]),
                });
            }
            // The quoted command, however it is spaced.
            let quoted = words[3..]
                .iter()
                .map(|w| w.trim_matches('"'))
                .filter(|w| !w.is_empty())
                .collect();
            (t, quoted)
        } else {
            (f64::NEG_INFINITY, words.clone())
        };
        match command(&inner, line)? {
            Some((node, c)) => cmds.push((time, cmds.len(), node, c)),
            None => {
                let kind = inner.iter().take(2).copied().collect::<Vec<_>>().join(" ");
                let is_z = inner.get(1) == Some(&"set") && inner.get(2) == Some(&"Z_");
                if !is_z {
                    skipped.entry(format!("`{kind}`")).or_insert(line);
                }
            }
        }
    }
    // Commands in time order; the file's order among equal times.
    cmds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut nodes: BTreeMap<usize, NodeState> = BTreeMap::new();
    for (t, _, node, c) in cmds {
        nodes.entry(node).or_default().apply(t, c);
    }
    let tracks = nodes
        .into_iter()
        .filter_map(|(i, n)| n.into_track(format!("obu{i}")))
        .collect();
    let warnings = skipped
        .into_iter()
        .map(|(kind, line)| format!("ns-2 trace: skipped {kind} commands (first on line {line})"))
        .collect();
    Ok(Trace { tracks, warnings })
}

/// A node while its commands are applied.
#[derive(Default)]
struct NodeState {
    /// Initial position parts (`set X_`/`Y_` before any time).
    x0: Option<f64>,
    y0: Option<f64>,
    keyframes: Vec<(f64, f64, f64)>,
    /// `start`/`stop` times, if any.
    starts: Vec<f64>,
    stops: Vec<f64>,
}

impl NodeState {
    /// Where the node is at `t` (its initial position before any
    /// keyframe; `None` if it has none yet).
    fn where_at(&self, t: f64) -> Option<(f64, f64)> {
        if self.keyframes.is_empty() {
            return Some((self.x0?, self.y0?));
        }
        interpolate(&self.keyframes, t)
    }

    /// Keyframes after `t` no longer happen: the node goes on from `t`.
    fn cut_after(&mut self, t: f64) {
        let here = self.where_at(t);
        self.keyframes.retain(|k| k.0 < t);
        if let Some((x, y)) = here {
            self.keyframes.push((t, x, y));
        }
    }

    /// A timed `set X_`/`Y_`: the node is at the new coordinate from `t`
    /// (the other one where it was), and what it was doing after `t` ends.
    fn jump(&mut self, t: f64, x: Option<f64>, y: Option<f64>) {
        let here = self.where_at(t);
        self.keyframes.retain(|k| k.0 < t);
        let x = x.or(here.map(|p| p.0)).or(self.x0).unwrap_or(0.0);
        let y = y.or(here.map(|p| p.1)).or(self.y0).unwrap_or(0.0);
        self.keyframes.push((t, x, y));
    }

    fn apply(&mut self, t: f64, c: Command) {
        let timed = t.is_finite();
        match c {
            Command::SetX(x) if !timed => self.x0 = Some(x),
            Command::SetY(y) if !timed => self.y0 = Some(y),
            Command::SetX(x) => self.jump(t, Some(x), None),
            Command::SetY(y) => self.jump(t, None, Some(y)),
            Command::Setdest { x, y, speed } => {
                let t = if timed { t } else { 0.0 };
                self.cut_after(t);
                match self.where_at(t) {
                    // No position yet: it appears where it is sent.
                    None => self.keyframes.push((t, x, y)),
                    Some((px, py)) => {
                        if self.keyframes.is_empty() {
                            self.keyframes.push((t, px, py));
                        }
                        // Speed 0 or already there: it stays.
                        let d = ((x - px).powi(2) + (y - py).powi(2)).sqrt();
                        if speed > 0.0 && d > 0.0 {
                            self.keyframes.push((t + d / speed, x, y));
                        }
                    }
                }
            }
            Command::Start => self.starts.push(if timed { t } else { 0.0 }),
            Command::Stop => self.stops.push(if timed { t } else { 0.0 }),
        }
    }

    fn into_track(mut self, name: String) -> Option<Track> {
        if let (Some(x), Some(y)) = (self.x0, self.y0) {
            // The initial position holds from the start.
            if self.keyframes.first().is_none_or(|k| k.0 > 0.0) {
                self.keyframes.insert(0, (0.0, x, y));
            }
        }
        if self.keyframes.is_empty() {
            return None;
        }
        let first = self.keyframes[0].0.max(0.0);
        let present = if self.starts.is_empty() && self.stops.is_empty() {
            vec![(first, f64::INFINITY)]
        } else {
            presence(&self.starts, &self.stops)
        };
        Some(Track {
            name,
            keyframes: self.keyframes,
            present,
        })
    }
}

/// Presence intervals from `start` and `stop` times (a stop without a
/// start ends presence from 0; a start without a stop lasts).
fn presence(starts: &[f64], stops: &[f64]) -> Vec<(f64, f64)> {
    let mut events: Vec<(f64, bool)> = starts
        .iter()
        .map(|&t| (t, true))
        .chain(stops.iter().map(|&t| (t, false)))
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    let mut since: Option<f64> = if starts.is_empty() { Some(0.0) } else { None };
    for (t, start) in events {
        match (start, since) {
            (true, None) => since = Some(t),
            (false, Some(s)) => {
                if t > s {
                    out.push((s, t));
                }
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, f64::INFINITY));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(tr: &Trace, name: &str, t: f64) -> Option<(f64, f64)> {
        tr.tracks.iter().find(|k| k.name == name)?.position(t)
    }

    fn close(a: Option<(f64, f64)>, b: (f64, f64)) -> bool {
        a.is_some_and(|(x, y)| (x - b.0).abs() < 1e-6 && (y - b.1).abs() < 1e-6)
    }

    /// BonnMotion's export, with comments and Z_ as others write them.
    const BONN: &str = r#"
# nodes: 2, max time: 100.00
$node_(0) set X_ 100.0
$node_(0) set Y_ 50.0
$node_(0) set Z_ 0.0
$node_(1) set X_ 0.0 ;# a trailing comment
$node_(1) set Y_ 0.0

$ns_ at 10.0 "$node_(0) setdest 200.0 50.0 10.0"
$ns_ at 15.0 "$node_(0) setdest 150.0 50.0 5.0"
$god_ set-dist 0 1 2
$ns_ at 5.0 "$node_(1) setdest 0.0 30.0 3.0"
$ns_ at 3.0 "$node_(1) dump-state"
"#;

    #[test]
    fn setdest_moves_in_straight_lines_and_a_later_one_takes_over() {
        let tr = parse(BONN).unwrap();
        assert_eq!(tr.tracks.len(), 2);
        assert!(close(pos(&tr, "obu0", 0.0), (100.0, 50.0)));
        assert!(close(pos(&tr, "obu0", 10.0), (100.0, 50.0)));
        assert!(close(pos(&tr, "obu0", 12.0), (120.0, 50.0)));
        // At 15 s it is at 150 and is sent back to 150: it stays.
        assert!(close(pos(&tr, "obu0", 15.0), (150.0, 50.0)));
        assert!(close(pos(&tr, "obu0", 30.0), (150.0, 50.0)));
        assert!(close(pos(&tr, "obu1", 9.0), (0.0, 12.0)));
        assert!(close(pos(&tr, "obu1", 99.0), (0.0, 30.0)));
        // The god line and the unknown command: one warning each.
        assert_eq!(tr.warnings.len(), 2, "{:?}", tr.warnings);
        assert!(
            tr.warnings.iter().any(|w| w.contains("line 11")),
            "{:?}",
            tr.warnings
        );
    }

    #[test]
    fn a_first_setdest_at_a_huge_speed_places_a_late_node() {
        let t = r#"$ns_ at 20.0 "$node_(7) setdest 500.0 20.0 1000000000.0"
$ns_ at 21.0 "$node_(7) setdest 510.0 20.0 10.0""#;
        let tr = parse(t).unwrap();
        assert_eq!(pos(&tr, "obu7", 19.0), None, "absent before it appears");
        assert!(close(pos(&tr, "obu7", 20.5), (500.0, 20.0)));
        assert!(close(pos(&tr, "obu7", 21.5), (505.0, 20.0)));
    }

    #[test]
    fn start_and_stop_bound_presence() {
        let t = r#"$node_(0) set X_ 1.0
$node_(0) set Y_ 2.0
$ns_ at 3.0 "$g(0) start"
$ns_ at 8.0 "$g(0) stop""#;
        let tr = parse(t).unwrap();
        assert_eq!(pos(&tr, "obu0", 2.0), None);
        assert!(close(pos(&tr, "obu0", 5.0), (1.0, 2.0)));
        assert_eq!(pos(&tr, "obu0", 8.0), None);
    }

    #[test]
    fn bad_input_names_the_line() {
        for (text, line, what) in [
            ("$node_(0) set X_ abc", 1, "X_"),
            ("\n$ns_ at -1 \"$node_(0) setdest 1 1 1\"", 2, "negative"),
            ("\n\n$ns_ at 1 \"$node_(x) setdest 1 1 1\"", 3, "node index"),
            ("$ns_ at 1 \"$node_(0) setdest 1 1 -5\"", 1, "negative"),
            ("$ns_ at nan \"$node_(0) setdest 1 1 1\"", 1, "finite"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.to_string().contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn spacing_and_tabs_do_not_matter() {
        let t = "$node_(0)\tset X_   1\n$node_(0) set Y_ 2\n$ns_  at  1.0   \" $node_(0)  setdest 11 2 10 \"";
        let tr = parse(t).unwrap();
        assert!(close(pos(&tr, "obu0", 1.5), (6.0, 2.0)), "{tr:?}");
        assert!(tr.warnings.is_empty(), "{:?}", tr.warnings);
    }

    #[test]
    fn time_is_kept_as_written() {
        let t = r#"$node_(0) set X_ 0
$node_(0) set Y_ 0
$ns_ at 0.123456789 "$node_(0) setdest 1000 0 1""#;
        let tr = parse(t).unwrap();
        let k = &tr.tracks[0].keyframes;
        assert_eq!(k[0].0, 0.0);
        assert_eq!(k[1].0, 0.123456789);
        assert_eq!(k[2].0, 1000.123456789);
    }

    #[test]
    fn any_bytes_give_a_trace_or_an_error() {
        // A cheap stand-in for the fuzzer in the unit tests: mangled lines.
        let base = BONN.as_bytes();
        for cut in 0..base.len() {
            let mut b = base.to_vec();
            b[cut] = b"(\"$ 9.e-x;#"[cut % 11];
            let _ = parse(&String::from_utf8_lossy(&b));
        }
    }
}
