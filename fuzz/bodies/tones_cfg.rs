// The body of the `tones_cfg` fuzz target, shared with the stable corpus
// replay test: any bytes as a TwoToneDetect tones.cfg (read as the command
// reads it, bytes that are not UTF-8 replaced). The import never panics,
// and whatever it converts merges into a config that the loader reads
// back with every definition (`check` asserts the counts).
|data: &[u8]| {
    use echostream::import_tones::{self, Existing};
    let text = String::from_utf8_lossy(data);
    if let Ok(conversion) = import_tones::convert(&text, "pages", &Existing::default()) {
        let scratch = import_tones::scratch_config("pages");
        let merged = import_tones::merge(&scratch, &conversion)
            .expect("the scratch config is an object that can take both lists");
        let _ = import_tones::check(&merged, &Existing::read(&scratch), &conversion, true);
        assert!(!import_tones::definitions_json(&conversion).is_empty());
    }
}
