#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portunus_ops::api::fuzzing::api_call(data));
