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
use echostream_sim::audio::voiced_speech_i16;

const RATE_HZ: u32 = 48_000;
/// Frames cycled through: 5 s of speech at 20 ms, so the encoder sees
/// pitch glides, vowel changes and syllable dips rather than one frame.
const FRAMES: usize = 250;

fn config(frame: FrameDuration) -> EncoderConfig {
    let cfg = EncoderConfig::from_audio(&Audio::default()).expect("the default config is valid");
    EncoderConfig { frame, ..cfg }
}

fn opus(c: &mut Criterion) {
    let mut group = c.benchmark_group("opus");
    for (name, frame) in [("20ms", FrameDuration::Ms20), ("10ms", FrameDuration::Ms10)] {
        let cfg = config(frame);
        let frame_samples = frame.samples_per_channel(RATE_HZ);
        let pcm = voiced_speech_i16(RATE_HZ, frame_samples * FRAMES);
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
