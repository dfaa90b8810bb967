//! Tone detection per channel: the whole `ChannelDetector` (decimator,
//! tracker, run segmenter, 32 two-tone definitions and the tone finder)
//! over 60 s of audio with pages in noise, fed in 10 ms blocks as the
//! capture thread does (at 8 kHz also with DTMF on, and with 32 pulsed
//! definitions over pulsed alerts); and its kernels alone (decimator,
//! tracker, DTMF decoder). Throughput is in
//! device samples: divide the rate by the time for × realtime.
//!
//! `cargo bench -p echostream-benches --bench tone`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echostream_core::time::SampleIndex;
use echostream_core::tone::dtmf::{DtmfConfig, DtmfDetector};
use echostream_core::tone::tracker::Tracker;
use echostream_core::tone::{
    ChannelDetector, Decimator, Definitions, FinderConfig, MAX_DEFINITIONS, PulsedDef, TwoToneDef,
};

const SECONDS: usize = 60;

/// 60 s at `rate_hz`: a page every 6 s (A 1 s, B 3 s) over pseudo-random
/// noise 10 dB down, deterministic.
fn audio(rate_hz: u32) -> Vec<f32> {
    let mut state = 0x1234_5678u32;
    let mut phase = 0.0f64;
    (0..rate_hz as usize * SECONDS)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.1;
            let t = i as f64 / rate_hz as f64;
            let in_page = t % 6.0;
            let hz = if in_page < 1.0 { 600.9 } else { 1_092.4 };
            phase += std::f64::consts::TAU * hz / rate_hz as f64;
            let tone = if in_page < 4.0 {
                0.2 * phase.sin()
            } else {
                0.0
            };
            tone as f32 + noise
        })
        .collect()
}

/// 60 s at 8 kHz: a pulsed alert (1010.6 Hz, 0.3 s on, 0.2 s off, eight
/// pulses) every 6 s over the same noise.
fn pulsed_audio() -> Vec<f32> {
    let rate_hz = 8_000;
    let mut state = 0x1234_5678u32;
    let mut phase = 0.0f64;
    (0..rate_hz * SECONDS)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.1;
            let t = i as f64 / rate_hz as f64;
            phase += std::f64::consts::TAU * 1_010.6 / rate_hz as f64;
            let on = t % 6.0 < 4.0 && t % 0.5 < 0.3;
            let tone = if on { 0.2 * phase.sin() } else { 0.0 };
            tone as f32 + noise
        })
        .collect()
}

/// 32 pulsed definitions (one the audio's) and the finder.
fn pulsed_definitions() -> Definitions {
    let mut defs = Definitions::new();
    for i in 0..MAX_DEFINITIONS {
        let hz = 1_010.6 + 40.0 * i as f32;
        defs.push(PulsedDef {
            hz,
            range_hz: hz * 0.01,
            on_ms: 300,
            on_range_ms: 50,
            off_ms: 200,
            off_range_ms: 50,
            min_pulses: 6,
            ignore_after_ms: 0,
        })
        .expect("valid");
    }
    defs.set_finder(FinderConfig::default()).expect("valid");
    defs
}

fn definitions() -> Definitions {
    let mut defs = Definitions::new();
    for i in 0..MAX_DEFINITIONS {
        defs.push(TwoToneDef::quick_call(330.5 + 20.0 * i as f32, 2_468.2))
            .expect("valid");
    }
    defs.set_finder(FinderConfig::default()).expect("valid");
    defs
}

fn tone(c: &mut Criterion) {
    let defs = definitions();
    let mut group = c.benchmark_group("tone");
    group.sample_size(20);
    for rate in [8_000u32, 16_000, 44_100, 48_000] {
        let x = audio(rate);
        group.throughput(Throughput::Elements(x.len() as u64));
        group.bench_function(format!("channel_detector_{rate}hz_60s"), |b| {
            let mut det = ChannelDetector::new(rate, &defs).expect("rate");
            let mut at = 0u64;
            b.iter(|| {
                for block in x.chunks(rate as usize / 100) {
                    det.process_f32(SampleIndex(at), black_box(block));
                    at += block.len() as u64;
                    while let Some(e) = det.poll_event() {
                        black_box(e);
                    }
                }
            });
        });
        if rate != 8_000 {
            group.bench_function(format!("decimator_{rate}hz_60s"), |b| {
                let mut d = Decimator::new(rate).expect("rate");
                let mut out = vec![0.0f32; x.len()];
                b.iter(|| black_box(d.process(black_box(&x), &mut out)));
            });
        }
    }
    let x = audio(8_000);
    group.throughput(Throughput::Elements(x.len() as u64));
    let pulsed = pulsed_audio();
    let pulsed_defs = pulsed_definitions();
    group.bench_function("channel_detector_8000hz_60s_pulsed", |b| {
        let mut det = ChannelDetector::new(8_000, &pulsed_defs).expect("rate");
        let mut at = 0u64;
        b.iter(|| {
            for block in pulsed.chunks(80) {
                det.process_f32(SampleIndex(at), black_box(block));
                at += block.len() as u64;
                while let Some(e) = det.poll_event() {
                    black_box(e);
                }
            }
        });
    });
    group.bench_function("channel_detector_8000hz_60s_with_dtmf", |b| {
        let mut det = ChannelDetector::new(8_000, &defs).expect("rate");
        det.set_dtmf(Some(&DtmfConfig::default())).expect("valid");
        let mut at = 0u64;
        b.iter(|| {
            for block in x.chunks(80) {
                det.process_f32(SampleIndex(at), black_box(block));
                at += block.len() as u64;
                while let Some(e) = det.poll_event() {
                    black_box(e);
                }
            }
        });
    });
    group.bench_function("dtmf_8000hz_60s", |b| {
        let mut det = DtmfDetector::new(&DtmfConfig::default()).expect("valid");
        let mut at = 0u64;
        b.iter(|| {
            for block in x.chunks(80) {
                det.process(at, black_box(block));
                at += block.len() as u64;
                while let Some(e) = det.poll_event() {
                    black_box(e);
                }
            }
        });
    });
    group.bench_function("tracker_8000hz_60s", |b| {
        let mut t = Tracker::new();
        b.iter(|| {
            let mut rest = &x[..];
            while !rest.is_empty() {
                let (n, frame) = t.push(rest);
                rest = &rest[n..];
                black_box(frame);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, tone);
criterion_main!(benches);
