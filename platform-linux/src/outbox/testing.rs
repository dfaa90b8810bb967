//! Helpers of the whole-outbox tests: a small config, the usual
//! consumers, test events, and looks at the folder.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;

/// 1 KiB segments: about sixteen test events each.
pub(super) const SEGMENT_BYTES: u64 = 1024;

pub(super) fn config(dir: &Path) -> OutboxConfig {
    OutboxConfig {
        dir: dir.to_owned(),
        segment_bytes: SEGMENT_BYTES,
        max_bytes: 1 << 20,
        cursor_sync_every: 1,
    }
}

pub(super) fn mqtt_and_s3() -> Vec<ConsumerSpec> {
    vec![
        ConsumerSpec::new("mqtt", Kinds::EVENTS),
        ConsumerSpec::new("s3", Kinds::UPLOADS),
    ]
}

pub(super) fn open_with(config: OutboxConfig, specs: Vec<ConsumerSpec>) -> (Outbox, OpenReport) {
    Outbox::open(config, specs).expect("the outbox opens")
}

pub(super) fn open(dir: &Path, specs: Vec<ConsumerSpec>) -> (Outbox, OpenReport) {
    open_with(config(dir), specs)
}

pub(super) fn id(outbox: &Outbox, name: &str) -> ConsumerId {
    outbox.consumer(name).expect("a registered consumer")
}

/// An event's JSON line, 36 bytes: a 60-byte record.
pub(super) fn event(n: u64) -> Vec<u8> {
    format!(r#"{{"event_id":"e{n:05}","type":"cor"}}"#).into_bytes()
}

pub(super) fn append_events(outbox: &mut Outbox, range: std::ops::RangeInclusive<u64>) -> Vec<Seq> {
    range
        .map(|n| outbox.append(Kind::Event, &event(n)).expect("appended"))
        .collect()
}

pub(super) fn seqs(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq.0).collect()
}

/// Everything `consumer` has not acknowledged, from its cursor.
pub(super) fn all_pending(outbox: &mut Outbox, consumer: ConsumerId) -> Vec<u64> {
    seqs(&outbox.pending(consumer, READ_BATCH_MAX).expect("pending"))
}

pub(super) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("the folder lists")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

pub(super) fn disk_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .iter()
        .map(|p| fs::metadata(p).expect("metadata").len())
        .sum()
}

pub(super) fn ack_all(outbox: &mut Outbox, consumer: ConsumerId, seqs: &[Seq]) {
    for &seq in seqs {
        outbox.ack(consumer, seq).expect("acknowledged");
    }
}
