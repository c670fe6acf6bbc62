//! Fuzz target: see `node_lib::config::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| node_lib::config::fuzz(data));
