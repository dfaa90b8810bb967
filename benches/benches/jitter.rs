//! The jitter buffer's per-frame work on the playback side: one `insert`
//! of a 60-byte Opus packet and one `pop`, in steady state (20 ms frames,
//! packets arriving on time with a little jitter), as the playback thread
//! does once per frame period.
//!
//! `cargo bench -p echostream-benches --bench jitter`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use echostream_core::jitter::{DefaultJitterBuffer, JitterConfig, Playout};
use echostream_core::time::Instant;
use echostream_core::wire::{Flags, KeyId, Kind, MediaTimestamp, Repr, Seq, StreamId};

const FRAME_US: u64 = 20_000;
const FRAME_SAMPLES: u32 = 960;

fn jitter(c: &mut Criterion) {
    let payload = [0x5au8; 60];
    let mut buffer = DefaultJitterBuffer::new(JitterConfig::default()).expect("default config");
    let mut seq = 0u32;
    let mut now_us = 0u64;
    let mut step = |buffer: &mut DefaultJitterBuffer| {
        let repr = Repr {
            kind: Kind::Audio,
            flags: if seq == 0 {
                Flags::START_OF_TALKSPURT
            } else {
                Flags::NONE
            },
            key_id: KeyId(0),
            stream_id: StreamId(1),
            seq: Seq(seq),
            timestamp: MediaTimestamp(seq.wrapping_mul(FRAME_SAMPLES)),
            payload_len: payload.len(),
        };
        // Up to 3 ms of jitter, deterministic.
        let jitter_us = u64::from(seq.wrapping_mul(2_654_435_761) >> 20) % 3_000;
        let inserted = buffer.insert(Instant::from_micros(now_us + jitter_us), &repr, &payload);
        let _ = black_box(inserted);
        let played = match buffer.pop(Instant::from_micros(now_us + FRAME_US / 2)) {
            Playout::Frame(p) | Playout::Fec(p) => p.len(),
            _ => 0,
        };
        black_box(played);
        seq = seq.wrapping_add(1);
        now_us += FRAME_US;
    };
    // Past the first talk-spurt's start delay, into steady playout.
    for _ in 0..200 {
        step(&mut buffer);
    }
    c.bench_function("jitter/insert+pop_60B_20ms", |b| {
        b.iter(|| step(&mut buffer))
    });
}

criterion_group!(benches, jitter);
criterion_main!(benches);
