//! Opus per frame at 48 kHz mono with the product's encoder defaults
//! (`config/defaults.rs`: voip, 24 kbit/s, complexity 5, VBR, in-band FEC
//! for 10 % loss, no DTX), on speech-like input, for 20 ms and 10 ms
//! frames: encode one frame, decode one packet, and both (one full-duplex
//! channel's work per frame period). Share of one core per full-duplex
//! channel = (encode + decode) time / frame duration.
//!
//! `cargo bench -p echostream-benches --bench opus`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use echostream::config::Audio;
use echostream::opus::{
    Decoder, Encoder, EncoderConfig, FrameDuration, MAX_PACKET_LEN, MAX_PACKET_SAMPLES,
};

const RATE_HZ: u32 = 48_000;
/// Frames cycled through: 5 s of speech at 20 ms, so the encoder sees
/// pitch glides, vowel changes and syllable dips rather than one frame.
const FRAMES: usize = 250;

/// A voiced-speech stand-in: harmonics of a pitch gliding between 100 and
/// 180 Hz, three formants moving between four vowels every 150 ms, a 4 Hz
/// syllable envelope; peak about −6 dBFS.
fn speech_like(rate_hz: u32, len: usize) -> Vec<i16> {
    const VOWELS_HZ: [[f64; 3]; 4] = [
        [730.0, 1090.0, 2440.0],
        [270.0, 2290.0, 3010.0],
        [300.0, 870.0, 2240.0],
        [530.0, 1840.0, 2480.0],
    ];
    let rate = f64::from(rate_hz);
    let mut phase = 0.0f64;
    let raw: Vec<f64> = (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            let f0 = 140.0 + 40.0 * (std::f64::consts::TAU * 0.7 * t).sin();
            phase += std::f64::consts::TAU * f0 / rate;
            let pos = t / 0.15;
            let (i, frac) = (pos as usize, pos.fract());
            let w = frac * frac * (3.0 - 2.0 * frac);
            let (a, b) = (VOWELS_HZ[i % 4], VOWELS_HZ[(i + 1) % 4]);
            let mut s = 0.0;
            let mut h = 1.0;
            while h * f0 < 4_000.0 {
                let f = h * f0;
                let gain: f64 = (0..3)
                    .map(|k| {
                        let fk = a[k] + (b[k] - a[k]) * w;
                        1.0 / (1.0 + ((f - fk) / 90.0).powi(2)) / (k + 1) as f64
                    })
                    .sum();
                s += gain / h.sqrt() * (h * phase).sin();
                h += 1.0;
            }
            s * (0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin())
        })
        .collect();
    let peak = raw.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    raw.iter()
        .map(|x| (x / peak * 16_000.0).round() as i16)
        .collect()
}

fn config(frame: FrameDuration) -> EncoderConfig {
    let cfg = EncoderConfig::from_audio(&Audio::default()).expect("the default config is valid");
    EncoderConfig { frame, ..cfg }
}

fn opus(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus");
    for (name, frame) in [("20ms", FrameDuration::Ms20), ("10ms", FrameDuration::Ms10)] {
        let cfg = config(frame);
        let frame_samples = frame.samples_per_channel(RATE_HZ);
        let pcm = speech_like(RATE_HZ, frame_samples * FRAMES);
        let frames: Vec<&[i16]> = pcm.chunks_exact(frame_samples).collect();
        let mut packet = [0u8; MAX_PACKET_LEN];
        let mut out = [0i16; MAX_PACKET_SAMPLES];

        let mut encoder = Encoder::new(cfg).expect("valid config");
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let len = encoder.encode(f, &mut packet).expect("one frame");
                packet[..len].to_vec()
            })
            .collect();
        let bytes: usize = packets.iter().map(Vec::len).sum();
        eprintln!(
            "opus {name}: {:.1} bytes per packet, {:.1} kbit/s",
            bytes as f64 / FRAMES as f64,
            bytes as f64 * 8.0 / (FRAMES as f64 * frame.ms())
        );

        group.bench_function(format!("encode/{name}"), |b| {
            let mut encoder = Encoder::new(cfg).expect("valid config");
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % FRAMES;
                black_box(
                    encoder
                        .encode(black_box(frames[i]), &mut packet)
                        .expect("one frame"),
                )
            });
        });

        group.bench_function(format!("decode/{name}"), |b| {
            let mut decoder = Decoder::new(RATE_HZ, 1).expect("valid format");
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % FRAMES;
                black_box(
                    decoder
                        .decode(black_box(&packets[i]), &mut out)
                        .expect("valid packet"),
                )
            });
        });

        group.bench_function(format!("encode+decode/{name}"), |b| {
            let mut encoder = Encoder::new(cfg).expect("valid config");
            let mut decoder = Decoder::new(RATE_HZ, 1).expect("valid format");
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % FRAMES;
                let len = encoder
                    .encode(black_box(frames[i]), &mut packet)
                    .expect("one frame");
                black_box(
                    decoder
                        .decode(&packet[..len], &mut out)
                        .expect("valid packet"),
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, opus);
criterion_main!(benches);
