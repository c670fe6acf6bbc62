//! Fuzz target: see `sim::fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::config(data));
