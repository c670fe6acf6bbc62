//! Fuzz target: see `lab::fuzz::ns2`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lab::fuzz::ns2(data));
