#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| zhangban_fuzz_harness::grant(data));
