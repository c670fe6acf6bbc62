//! Replays every input saved under `fuzz/regressions/<target>/` (crashes the
//! fuzzers once found, and seeds) through the fuzz target bodies.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_file() {
            let data = std::fs::read(&p).expect("read input");
            f(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn saved_fuzz_inputs_still_pass() {
    let total = replay("frame", sim::fuzz::frame)
        + replay("obu", sim::fuzz::obu)
        + replay("rsu", sim::fuzz::rsu)
        + replay("handshake", secure::fuzz::handshake);
    assert!(
        total >= 3,
        "expected at least the seed inputs, found {total}"
    );
}
