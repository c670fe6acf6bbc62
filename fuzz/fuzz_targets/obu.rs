//! Fuzz target: see `sim::fuzz::obu`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::obu(data));
