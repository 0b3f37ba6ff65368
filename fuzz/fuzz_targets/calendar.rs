#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mpx_proto::fuzzing::calendar_file(data));
