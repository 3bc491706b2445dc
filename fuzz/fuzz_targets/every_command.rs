//! Fuzz target: `r0c::fuzzing::every_command` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| r0c::fuzzing::every_command(data));
