//! Fuzz target: see `lab::fuzz::sumo_fcd`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lab::fuzz::sumo_fcd(data));
