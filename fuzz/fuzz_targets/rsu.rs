//! Fuzz target: see `sim::fuzz::rsu`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::rsu(data));
