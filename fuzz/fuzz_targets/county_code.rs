#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mpx_proto::fuzzing::county_code(data));
