//! Fuzz target: `r0c::fuzzing::command_parse` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| r0c::fuzzing::command_parse(data));
