//! Fuzz target bodies for the trace readers (`fuzz/fuzz_targets/ns2.rs`,
//! `sumo_fcd.rs`); `tests/fuzz_regressions.rs` replays the saved inputs in
//! the normal test run. Any bytes: a trace or an error, never a panic.

use crate::mobility::{ns2, sumo, Trace};

fn exercise(trace: &mut Trace) {
    let end = trace.end();
    for k in &trace.tracks {
        for t in [0.0, end * 0.5, end, end + 1.0, -1.0] {
            let _ = k.position(t);
        }
    }
    trace.cap(3);
}

/// An ns-2 movement file.
pub fn ns2(data: &[u8]) {
    if let Ok(mut t) = ns2::parse(&String::from_utf8_lossy(data)) {
        exercise(&mut t);
    }
}

/// A SUMO FCD export.
pub fn sumo_fcd(data: &[u8]) {
    if let Ok(mut t) = sumo::parse(&String::from_utf8_lossy(data)) {
        exercise(&mut t);
    }
}
