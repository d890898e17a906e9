#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portunus_db::fuzzing::mysql_client(data));
