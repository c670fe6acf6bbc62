//! Replays every input saved under `fuzz/regressions/config/` (crashes the
//! config fuzzer once found, and seeds) through its target body.

use std::path::Path;

#[test]
fn saved_config_fuzz_inputs_still_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/config");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_file() {
            node_lib::config::fuzz(&std::fs::read(&p).expect("read input"));
            n += 1;
        }
    }
    assert!(n >= 1, "expected at least the seed input, found {n}");
}
