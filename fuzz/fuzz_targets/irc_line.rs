//! Fuzz target: `r0c::fuzzing::irc_line` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| r0c::fuzzing::irc_line(data));
