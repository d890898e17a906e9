#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portunus_node::fuzzing::config_file(data));
