#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| exchange_node::fuzzing::envelope(data));
