#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| zhangban_fuzz_harness::sync_response(data));
