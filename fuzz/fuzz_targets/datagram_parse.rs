#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = include!("../bodies/datagram_parse.rs");
    body(data);
});
