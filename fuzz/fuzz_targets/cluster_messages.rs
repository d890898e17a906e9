#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portunus_raft::fuzzing::network(data));
