#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portunus_proxy::ssh::fuzzing::login_name(data));
