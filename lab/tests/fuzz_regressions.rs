//! Replays every input saved under `fuzz/regressions/{ns2,sumo_fcd}/`
//! (crashes the fuzzers once found, and seeds) through the target bodies.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_file() {
            f(&std::fs::read(&p).expect("read input"));
            n += 1;
        }
    }
    n
}

#[test]
fn saved_trace_fuzz_inputs_still_pass() {
    assert!(replay("ns2", lab::fuzz::ns2) >= 1);
    assert!(replay("sumo_fcd", lab::fuzz::sumo_fcd) >= 1);
}
