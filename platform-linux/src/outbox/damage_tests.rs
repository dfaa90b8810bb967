//! Damage on disk, each case in its own temp folder: torn writes, flipped
//! bits, a bad cursors file. Never a panic; every good record kept; the
//! damage reported.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use super::record::HEADER_LEN;
use super::testing::*;
use super::*;

/// Appends five events, cuts the last record `cut` bytes in, reopens.
fn reopen_after_cut(cut: usize) {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    append_events(&mut outbox, 1..=5);
    drop(outbox);
    let path = segment_files(dir.path()).pop().expect("a segment");
    let len = fs::metadata(&path).expect("metadata").len();
    let last_start = len - (HEADER_LEN + event(5).len()) as u64;
    let file = OpenOptions::new().write(true).open(&path).expect("opens");
    file.set_len(last_start + cut as u64).expect("cut");
    drop(file);

    let (mut outbox, report) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    assert_eq!(report.records_recovered, 4, "cut at {cut}");
    if cut == 0 {
        assert!(!report.is_damaged());
    } else {
        assert_eq!(report.damage.len(), 1);
        let damage = &report.damage[0];
        assert_eq!(damage.kind, DamageKind::TornTail);
        assert_eq!((damage.offset, damage.len), (last_start, cut as u64));
        assert_eq!(damage.path, path);
        assert_eq!(report.bytes_discarded, cut as u64);
    }
    assert_eq!(fs::metadata(&path).expect("metadata").len(), last_start);
    assert_eq!(all_pending(&mut outbox, mqtt), [1, 2, 3, 4]);
    // The torn record never returned from append: its seq goes again.
    assert_eq!(
        outbox.append(Kind::Event, &event(6)).expect("appended"),
        Seq(5)
    );
    assert_eq!(
        outbox.append(Kind::Event, &event(7)).expect("appended"),
        Seq(6)
    );
    drop(outbox);
    let (mut outbox, report) = open(dir.path(), mqtt_and_s3());
    assert!(!report.is_damaged(), "the cut was repaired");
    let entries = outbox.pending(mqtt, 100).expect("pending");
    assert_eq!(seqs(&entries), [1, 2, 3, 4, 5, 6]);
    assert_eq!(entries[4].payload, event(6));
}

#[test]
fn a_torn_last_write_is_cut_off_and_reported_wherever_it_stops() {
    let record_len = HEADER_LEN + event(5).len();
    // Nothing, in the magic, in the length, in the seq, just before the
    // checksum ends, at the payload's start, one byte short.
    for cut in [0, 2, 6, 12, HEADER_LEN - 1, HEADER_LEN, record_len - 1] {
        reopen_after_cut(cut);
    }
}

#[test]
fn zeros_after_the_last_record_are_a_torn_tail() {
    // A power cut can leave the file longer with its new block unwritten.
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    append_events(&mut outbox, 1..=3);
    drop(outbox);
    let path = segment_files(dir.path()).pop().expect("a segment");
    let len = fs::metadata(&path).expect("metadata").len();
    let file = OpenOptions::new().write(true).open(&path).expect("opens");
    file.set_len(len + 4096).expect("zeros");
    drop(file);
    let (mut outbox, report) = open(dir.path(), mqtt_and_s3());
    assert_eq!(report.damage[0].kind, DamageKind::TornTail);
    assert_eq!(report.bytes_discarded, 4096);
    let mqtt = id(&outbox, "mqtt");
    assert_eq!(all_pending(&mut outbox, mqtt), [1, 2, 3]);
}

/// Flips bit `bit` of byte `at` of record `n` (from 0) of five appended
/// events, reopens; returns the pending seqs and the report.
fn reopen_after_flip(n: usize, at: usize, bit: u8) -> (Vec<u64>, OpenReport) {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    append_events(&mut outbox, 1..=5);
    drop(outbox);
    let path = segment_files(dir.path()).pop().expect("a segment");
    let record_len = HEADER_LEN + event(1).len();
    let offset = (n * record_len + at) as u64;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("opens");
    let mut byte = [0];
    file.read_exact_at(&mut byte, offset).expect("read");
    file.write_all_at(&[byte[0] ^ (1 << bit)], offset)
        .expect("written");
    drop(file);
    let (mut outbox, report) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    let pending = all_pending(&mut outbox, mqtt);
    drop(outbox);
    let (_, again) = open(dir.path(), mqtt_and_s3());
    assert!(
        !again.is_damaged(),
        "the segment was rewritten without the damage"
    );
    (pending, report)
}

#[test]
fn a_flipped_bit_inside_a_record_is_reported_and_the_others_kept() {
    let record_len = (HEADER_LEN + event(1).len()) as u64;
    // In the payload, the length, the magic, the checksum of record 2.
    for at in [HEADER_LEN + 3, 5, 0, 21] {
        let (pending, report) = reopen_after_flip(2, at, 3);
        assert_eq!(pending, [1, 2, 4, 5], "flip at {at}");
        assert_eq!(report.records_recovered, 4);
        assert_eq!(report.damage.len(), 1);
        let damage = &report.damage[0];
        assert_eq!(damage.kind, DamageKind::Corrupt);
        assert_eq!((damage.offset, damage.len), (2 * record_len, record_len));
    }
    // In the last record nothing follows to tell damage from a torn write.
    let (pending, report) = reopen_after_flip(4, HEADER_LEN, 0);
    assert_eq!(pending, [1, 2, 3, 4]);
    assert_eq!(report.damage[0].kind, DamageKind::TornTail);
}

#[test]
fn an_entry_damaged_after_open_is_dropped_and_reported() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    append_events(&mut outbox, 1..=3);
    let path = segment_files(dir.path()).pop().expect("a segment");
    let offset = (HEADER_LEN + event(1).len() + HEADER_LEN + 1) as u64;
    let file = OpenOptions::new().write(true).open(&path).expect("opens");
    file.write_all_at(b"X", offset).expect("written");
    assert_eq!(seqs(&outbox.read(mqtt, 10).expect("read")), [1, 3]);
    let notice = outbox.poll_notice().expect("a notice");
    let Notice::Unreadable { damage, seq, kind } = notice else {
        panic!("unexpected {notice:?}")
    };
    assert_eq!(
        (seq, kind, damage.kind),
        (Seq(2), Kind::Event, DamageKind::Unreadable)
    );
    assert_eq!(damage.path, path);
    let figures = outbox.figures();
    assert_eq!((figures.unreadable, figures.entries), (1, 2));
    assert_eq!(outbox.depth(mqtt).expect("depth"), 2);
}

#[test]
fn a_damaged_cursors_file_means_delivery_again_not_loss() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (mut outbox, _) = open(dir.path(), mqtt_and_s3());
    let mqtt = id(&outbox, "mqtt");
    let appended = append_events(&mut outbox, 1..=3);
    outbox.ack(mqtt, appended[0]).expect("ack");
    drop(outbox);
    fs::write(dir.path().join("cursors"), b"garbage").expect("written");
    let (mut outbox, report) = open(dir.path(), mqtt_and_s3());
    assert_eq!(report.damage[0].kind, DamageKind::Cursors);
    assert_eq!(all_pending(&mut outbox, mqtt), [1, 2, 3]);
}
