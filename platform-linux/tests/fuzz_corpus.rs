//! Replays every file in each fuzz target's corpus (`fuzz/corpus/<target>/`)
//! through the same body the fuzz target runs, so stable `cargo test` and
//! CI cover what the fuzzers found, without nightly.

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus folder {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "corpus folder {} is empty: seed it",
        dir.display()
    );
    files
}

fn replay(target: &str, body: impl Fn(&[u8])) {
    let files = corpus(target);
    for (path, bytes) in &files {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(bytes)));
        assert!(
            outcome.is_ok(),
            "{target}: {} panicked (replay: cargo +nightly fuzz run {target} {})",
            path.display(),
            path.display()
        );
    }
    eprintln!("{target}: {} corpus files replayed", files.len());
}

#[test]
fn datagram_parse_corpus() {
    replay(
        "datagram_parse",
        include!("../../fuzz/bodies/datagram_parse.rs"),
    );
}

#[test]
fn open_corpus() {
    replay("open", include!("../../fuzz/bodies/open.rs"));
}

#[test]
fn signal_parse_corpus() {
    replay(
        "signal_parse",
        include!("../../fuzz/bodies/signal_parse.rs"),
    );
}

#[test]
fn config_parse_corpus() {
    replay(
        "config_parse",
        include!("../../fuzz/bodies/config_parse.rs"),
    );
}

#[test]
fn tones_cfg_corpus() {
    replay("tones_cfg", include!("../../fuzz/bodies/tones_cfg.rs"));
}

#[test]
fn jitter_ops_corpus() {
    replay("jitter_ops", include!("../../fuzz/bodies/jitter_ops.rs"));
}

#[test]
fn tone_blocks_corpus() {
    replay("tone_blocks", include!("../../fuzz/bodies/tone_blocks.rs"));
}

#[test]
fn node_inputs_corpus() {
    replay("node_inputs", include!("../../fuzz/bodies/node_inputs.rs"));
}
