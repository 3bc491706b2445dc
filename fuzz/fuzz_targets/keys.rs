//! Fuzz target: `r0c::fuzzing::keys` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| r0c::fuzzing::keys(data));
