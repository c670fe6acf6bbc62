//! Fuzz target: see `secure::fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| secure::fuzz::handshake(data));
