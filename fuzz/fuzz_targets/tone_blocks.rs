#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = include!("../bodies/tone_blocks.rs");
    body(data);
});
