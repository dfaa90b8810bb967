#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = include!("../bodies/tones_cfg.rs");
    body(data);
});
