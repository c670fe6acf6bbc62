//! Fuzz target: see `sim::fuzz::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::frame(data));
