#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let body = include!("../bodies/node_inputs.rs");
    body(data);
});
