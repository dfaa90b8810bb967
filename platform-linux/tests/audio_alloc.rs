//! The loop bodies allocate nothing: each runs under a counting global
//! allocator, on the `null` device and on `file:` devices, and after a
//! warm-up every step must leave the count where it was.
//!
//! Counts are per thread, so the test harness and the WAV sink's writer
//! thread (which may allocate: it is not realtime) do not disturb them.
//! alsa-lib's own mallocs bypass Rust's allocator; the loop body calls only
//! `snd_pcm_readi`/`writei`/`recover`, which do not allocate.

use echostream::audio::{
    self, AlsaSink, AlsaSource, CaptureLoop, Counters, PlaybackLoop, StreamParams, WavSink,
    WavSource,
};
use echostream_sim::alloc::{Counting, allocations};

#[global_allocator]
static GLOBAL: Counting = Counting;

const PARAMS: StreamParams = StreamParams {
    rate_hz: 48_000,
    period_frames: 240,
    buffer_periods: 3,
};

const WARM_UP_STEPS: usize = 5;
const COUNTED_STEPS: usize = 40;

/// Runs capture and playback steps, moving each captured block to the
/// playback ring as the rest of the process would; returns allocations
/// during the counted steps.
fn count<S: audio::PcmSource, K: audio::PcmSink>(
    capture: &mut CaptureLoop<S>,
    captured: &mut rtrb::Consumer<audio::Block>,
    playback: &mut PlaybackLoop<K>,
    to_play: &mut rtrb::Producer<audio::Block>,
) -> u64 {
    let mut step = || {
        capture.step().expect("capture step");
        if let Ok(block) = captured.pop() {
            let _ = to_play.push(block);
        }
        playback.step().expect("playback step");
    };
    for _ in 0..WARM_UP_STEPS {
        step();
    }
    let before = allocations();
    for _ in 0..COUNTED_STEPS {
        step();
    }
    allocations() - before
}

#[test]
fn null_device_loop_bodies_do_not_allocate() {
    let (capture_tx, mut capture_rx) = audio::block_ring();
    let (mut playback_tx, playback_rx) = audio::block_ring();
    let capture_counters = Counters::new();
    let playback_counters = Counters::new();
    let mut capture = CaptureLoop::new(
        AlsaSource::open("null", PARAMS).expect("null capture"),
        capture_tx,
        capture_counters.clone(),
    );
    let mut playback = PlaybackLoop::new(
        AlsaSink::open("null", PARAMS).expect("null playback"),
        playback_rx,
        playback_counters.clone(),
    );
    let counted = count(
        &mut capture,
        &mut capture_rx,
        &mut playback,
        &mut playback_tx,
    );
    assert_eq!(counted, 0, "allocations in {COUNTED_STEPS} null steps");
    let total = (WARM_UP_STEPS + COUNTED_STEPS) as u64;
    assert_eq!(capture_counters.snapshot().periods, total);
    assert_eq!(playback_counters.snapshot().periods, total);
    // The counter sees allocations on this thread at all.
    let before = allocations();
    drop(std::hint::black_box(vec![1u8; 16]));
    assert_eq!(allocations() - before, 1, "the counting allocator counts");
}

#[test]
fn file_device_loop_bodies_do_not_allocate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&input, spec).expect("create wav");
    for n in 0..2_400i32 {
        writer.write_sample((n % 1_000) as i16).expect("write");
    }
    writer.finalize().expect("finalize");

    let (capture_tx, mut capture_rx) = audio::block_ring();
    let (mut playback_tx, playback_rx) = audio::block_ring();
    let source = WavSource::open(&input, PARAMS, true).expect("wav source");
    let sink = WavSink::create(&dir.path().join("out.wav"), PARAMS).expect("wav sink");
    let mut capture = CaptureLoop::new(source, capture_tx, Counters::new());
    let mut playback = PlaybackLoop::new(sink, playback_rx, Counters::new());
    let counted = count(
        &mut capture,
        &mut capture_rx,
        &mut playback,
        &mut playback_tx,
    );
    assert_eq!(counted, 0, "allocations in {COUNTED_STEPS} file steps");
    playback.finish().expect("the WAV file is finished");
}
