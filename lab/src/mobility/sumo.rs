//! SUMO floating car data (`sumo --fcd-output`):
//!
//! ```text
//! <fcd-export>
//!   <timestep time="0.00">
//!     <vehicle id="veh0" x="5.10" y="100.00" angle="90.00" type="car" speed="13.9" .../>
//!   </timestep>
//! </fcd-export>
//! ```
//!
//! Each vehicle becomes a track named by its id, with a keyframe per
//! timestep it is listed in. A vehicle exists while it is listed: from
//! its first timestep until the first timestep without it (it left), and
//! again if it comes back. Other elements (`person`, `container`, …) and
//! attributes are passed over; unknown elements are warned about once.

use super::{number, Trace, TraceError, Track};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use std::collections::{BTreeMap, BTreeSet};

/// The line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: u64) -> usize {
    let pos = (pos as usize).min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The attributes of `e` that we read, by name.
fn attrs(e: &BytesStart, line: usize) -> Result<BTreeMap<String, String>, TraceError> {
    let mut out = BTreeMap::new();
    for a in e.attributes() {
        let a = a.map_err(|err| TraceError {
            line,
            message: format!("bad attribute: {err}"),
        })?;
        let v = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| TraceError {
                line,
                message: format!("bad attribute value: {err}"),
            })?;
        out.insert(a.key.as_ref().to_string(), v.into_owned());
    }
    Ok(out)
}

fn need<'a>(
    a: &'a BTreeMap<String, String>,
    key: &str,
    element: &str,
    line: usize,
) -> Result<&'a str, TraceError> {
    a.get(key).map(String::as_str).ok_or_else(|| TraceError {
        line,
        message: format!("<{element}> without `{key}`"),
    })
}

/// A vehicle while the file is read.
#[derive(Default)]
struct Vehicle {
    keyframes: Vec<(f64, f64, f64)>,
    present: Vec<(f64, f64)>,
    /// The time step it was last listed in.
    last_step: Option<usize>,
}

/// Reads an FCD export. Errors name the line.
pub fn parse(text: &str) -> Result<Trace, TraceError> {
    let mut reader = Reader::from_str(text);
    let mut vehicles: BTreeMap<String, Vehicle> = BTreeMap::new();
    // First appearance order, for names and capping.
    let mut order: Vec<String> = Vec::new();
    let mut steps: Vec<f64> = Vec::new();
    let mut time: Option<f64> = None;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut root_seen = false;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| TraceError {
            line: line_of(text, reader.error_position()),
            message: format!("not well-formed XML: {e}"),
        })?;
        let line = line_of(text, pos);
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                match name.as_str() {
                    "fcd-export" => root_seen = true,
                    "timestep" => {
                        let a = attrs(&e, line)?;
                        let t = number(need(&a, "time", "timestep", line)?, "time", line)?;
                        if steps.last().is_some_and(|&p| t < p) {
                            return Err(TraceError {
                                line,
                                message: format!(
                                    "timestep {t} comes after {}",
                                    steps[steps.len() - 1]
                                ),
                            });
                        }
                        steps.push(t);
                        time = Some(t);
                    }
                    "vehicle" => {
                        let t = time.ok_or_else(|| TraceError {
                            line,
                            message: "<vehicle> outside a <timestep>".into(),
                        })?;
                        let a = attrs(&e, line)?;
                        let id = need(&a, "id", "vehicle", line)?.to_string();
                        let x = number(need(&a, "x", "vehicle", line)?, "x", line)?;
                        let y = number(need(&a, "y", "vehicle", line)?, "y", line)?;
                        let step = steps.len() - 1;
                        let v = vehicles.entry(id.clone()).or_insert_with(|| {
                            order.push(id.clone());
                            Vehicle::default()
                        });
                        // Listed in the step before too: still present.
                        let continues = v.last_step.is_some_and(|s| s + 1 == step);
                        if !continues {
                            v.present.push((t, f64::INFINITY));
                        }
                        v.last_step = Some(step);
                        v.keyframes.push((t, x, y));
                    }
                    _ => {
                        skipped.entry(format!("<{name}>")).or_insert(line);
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == "timestep" => {
                // Vehicles not listed in this step have left at its time.
                let step = steps.len().saturating_sub(1);
                let t = steps.last().copied().unwrap_or(0.0);
                for v in vehicles.values_mut() {
                    if let (Some(last), Some(p)) = (v.last_step, v.present.last_mut()) {
                        if last + 1 == step && p.1.is_infinite() {
                            p.1 = t;
                        }
                    }
                }
                time = None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(TraceError {
            line: 1,
            message: "no <fcd-export> element: not a SUMO FCD file".into(),
        });
    }
    // A vehicle missing from the last step left at that step's time.
    if let Some(&end) = steps.last() {
        let last = steps.len() - 1;
        for v in vehicles.values_mut() {
            if let (Some(l), Some(p)) = (v.last_step, v.present.last_mut()) {
                if l < last && p.1.is_infinite() {
                    p.1 = end;
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    let tracks = order
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .filter_map(|id| {
            let v = vehicles.remove(&id)?;
            Some(Track {
                name: id,
                keyframes: v.keyframes,
                present: v.present,
            })
        })
        .collect();
    let warnings = skipped
        .into_iter()
        .map(|(kind, line)| format!("SUMO FCD: skipped {kind} elements (first on line {line})"))
        .collect();
    Ok(Trace { tracks, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FCD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by SUMO -->
<fcd-export xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <timestep time="0.00">
        <vehicle id="a" x="0.00" y="10.00" angle="90.00" type="DEFAULT_VEHTYPE" speed="10.00" pos="5.10" lane="e_0" slope="0.00"/>
    </timestep>
    <timestep time="1.00">
        <vehicle id="a" x="10.00" y="10.00" speed="10.00" extra="kept out"/>
        <vehicle id="b" x="0.00" y="20.00"/>
        <person id="p" x="1" y="1"/>
    </timestep>
    <timestep time="2.00">
        <vehicle id="b" x="5.00" y="20.00"/>
    </timestep>
    <timestep time="3.00">
        <vehicle id="b" x="10.00" y="20.00"/>
        <vehicle id="a" x="40.00" y="10.00"/>
    </timestep>
</fcd-export>
"#;

    #[test]
    fn vehicles_are_present_while_listed() {
        let tr = parse(FCD).unwrap();
        let names: Vec<&str> = tr.tracks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let a = &tr.tracks[0];
        assert_eq!(a.position(0.5), Some((5.0, 10.0)));
        // Not listed at 2 s: gone from 2 s until it is listed again at 3 s.
        assert_eq!(a.position(2.5), None);
        assert_eq!(a.position(3.0), Some((40.0, 10.0)));
        let b = &tr.tracks[1];
        assert_eq!(b.position(0.5), None, "b appears at 1 s");
        assert_eq!(b.position(2.5), Some((7.5, 20.0)));
        assert_eq!(tr.warnings.len(), 1, "{:?}", tr.warnings);
        assert!(tr.warnings[0].contains("<person>"), "{:?}", tr.warnings);
    }

    #[test]
    fn bad_input_names_the_line() {
        for (text, line, what) in [
            ("<fcd-export>\n<timestep time=\"x\">", 2, "time"),
            (
                "<fcd-export>\n<timestep time=\"1\">\n<vehicle id=\"a\" x=\"1\"/>",
                3,
                "`y`",
            ),
            (
                "<fcd-export>\n<vehicle id=\"a\" x=\"1\" y=\"2\"/>",
                2,
                "outside",
            ),
            (
                "<fcd-export>\n<timestep time=\"2\"></timestep>\n<timestep time=\"1\">",
                3,
                "after",
            ),
            ("<other/>", 1, "not a SUMO FCD"),
            (
                "<fcd-export>\n<timestep time=\"1\">\n</wrong>",
                3,
                "well-formed",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.to_string().contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn any_bytes_give_a_trace_or_an_error() {
        let base = FCD.as_bytes();
        for cut in 0..base.len() {
            let mut b = base.to_vec();
            b[cut] = b"<>\"=/ x&;9"[cut % 10];
            let _ = parse(&String::from_utf8_lossy(&b));
        }
    }
}
