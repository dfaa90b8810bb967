//! The whole audio path of one channel on `file:` devices:
//!
//! ```text
//! WAV ─► capture thread ─► Packetizer (Opus encode) ─► seeded loss ─► Depacketizer
//!     (jitter buffer, decode / FEC / PLC) ─► playback thread ─► WAV
//! ```
//!
//! The output is read back, aligned with the source by cross-correlation
//! and compared: without loss the waveform must correlate ≥ 0.9; with 5 %
//! of frames dropped (seeded) it must still correlate ≥ 0.9, every dropped
//! frame concealed; both with no click (no sample-to-sample step above 1.5
//! × the source's largest) and no gap (no run of exact zeros longer than
//! 2 ms) inside the signal. Measured (Opus CELT, `Application::Audio`, 32
//! kbit/s, 20 ms): lag ≈ 146 ms, correlation 0.991 without loss and 0.960
//! with 6 of 150 frames dropped, largest step 2306 against the source's
//! 2221. Run with `--nocapture` for the figures.
//!
//! A second test counts allocations of the `Packetizer` and `Depacketizer`
//! steps after warm-up under a counting global allocator. Counts are per
//! thread (a const thread-local), so the other test's threads and the test
//! harness cannot disturb them.

use echostream_sim::alloc::{Counting, allocations};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use echostream::audio::pipeline::{
    Depacketizer, DepacketizerStats, Packetizer, PacketizerStats, Played, frame_ring,
};
use echostream::audio::{
    self, Block, Counters, RtSettings, StreamParams, spawn_capture, spawn_playback,
};
use echostream::opus::{Application, Encoder, EncoderConfig, FrameDuration};
use echostream_core::jitter::{InsertResult, JitterConfig, Stats};
use echostream_core::time::{Instant, SampleIndex};
use echostream_core::wire::{MediaTimestamp, Seq, StreamId};
use echostream_sim::audio::{correlation, read_wav_i16};
use echostream_sim::rng::Rng;

#[global_allocator]
static GLOBAL: Counting = Counting;

const RATE_HZ: u32 = 48_000;
const PERIOD_FRAMES: usize = 240;

const PARAMS: StreamParams = StreamParams {
    rate_hz: RATE_HZ,
    period_frames: PERIOD_FRAMES,
    buffer_periods: 3,
};

/// Length of the test signal.
const SIGNAL_SECS: f64 = 3.0;

/// Period blocks kept queued for the playback thread: three 20 ms frames.
const PLAYBACK_QUEUE_BLOCKS: usize = 12;

/// The end-to-end runs share two cores with everything else: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn encoder_config() -> EncoderConfig {
    EncoderConfig {
        sample_rate_hz: RATE_HZ,
        channels: 1,
        application: Application::Audio,
        bitrate_bps: 32_000,
        complexity: 5,
        vbr: true,
        fec: true,
        expected_loss_pct: 5,
        dtx: false,
        frame: FrameDuration::Ms20,
    }
}

/// SILK/hybrid with in-band FEC, so that the allocation count covers
/// `decode_fec` as well.
fn fec_encoder_config() -> EncoderConfig {
    EncoderConfig {
        application: Application::Voip,
        bitrate_bps: 48_000,
        expected_loss_pct: 10,
        ..encoder_config()
    }
}

/// Speech-like audio in [-1, 1]: twelve harmonics (1/k) of a pitch gliding
/// between 110 and 220 Hz, under a syllable-rate envelope that never
/// reaches zero.
fn speech_like(secs: f64) -> Vec<f32> {
    let n = (secs * f64::from(RATE_HZ)) as usize;
    let rate = f64::from(RATE_HZ);
    let tau = std::f64::consts::TAU;
    let mut phase = 0.0f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let f0 = 165.0 + 55.0 * (tau * 0.7 * t).sin();
            phase = (phase + tau * f0 / rate) % tau;
            let voice: f64 = (1..=12).map(|k| (phase * k as f64).sin() / k as f64).sum();
            let envelope = 0.6 + 0.4 * (tau * 2.5 * t).sin();
            (0.2 * envelope * voice) as f32
        })
        .collect()
}

struct Run {
    output: Vec<i16>,
    dropped: u64,
    packetizer: PacketizerStats,
    depacketizer: DepacketizerStats,
    jitter: Stats,
    playback_underruns: u64,
}

/// Plays `input` through capture → encode → loss → jitter buffer → decode
/// → playback, in real time; returns what the sink wrote.
fn run_pipeline(dir: &Path, input: &Path, loss: f64, seed: u64) -> Run {
    let output_path = dir.join(format!("out-{seed}.wav"));
    let (capture_tx, mut capture_rx) = audio::block_ring();
    let (mut play_tx, play_rx) = audio::block_ring();
    let (frame_tx, mut frame_rx) = frame_ring();

    let encoder = Encoder::new(encoder_config()).expect("encoder");
    let mut packetizer = Packetizer::new(encoder, frame_tx, Seq(1_000), MediaTimestamp(77));
    let mut depacketizer: Depacketizer =
        Depacketizer::new(JitterConfig::DEFAULT, RATE_HZ, PERIOD_FRAMES, StreamId(7))
            .expect("depacketizer");
    let mut rng = Rng::new(seed);

    let source = audio::open_source(&format!("file:{}", input.display()), PARAMS, false)
        .expect("wav source");
    let sink =
        audio::open_sink(&format!("file:{}", output_path.display()), PARAMS).expect("wav sink");
    let capture = spawn_capture(
        "test",
        source,
        capture_tx,
        Arc::new(AtomicBool::new(false)),
        Counters::new(),
        RtSettings::NORMAL,
    )
    .expect("capture thread");
    let playback = spawn_playback(
        "test",
        sink,
        play_rx,
        Arc::new(AtomicBool::new(false)),
        Counters::new(),
        RtSettings::NORMAL,
    )
    .expect("playback thread");

    let start = std::time::Instant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as u64);
    let capacity = play_tx.buffer().capacity();
    let mut dropped = 0;
    let mut ended = false;
    let mut done = false;
    while !done {
        assert!(start.elapsed() < Duration::from_secs(10), "pipeline stuck");
        while let Ok(block) = capture_rx.pop() {
            packetizer.push_block(&block);
        }
        if !ended && capture.is_finished() && capture_rx.is_empty() {
            packetizer.end_talkspurt();
            ended = true;
        }
        while let Ok(frame) = frame_rx.pop() {
            if !frame.is_end_of_transmission() && rng.chance(loss) {
                dropped += 1;
                continue;
            }
            let result = depacketizer.insert(now(), &frame);
            assert_eq!(result, InsertResult::Inserted, "{frame:?}");
        }
        while capacity - play_tx.slots() + depacketizer.blocks_per_frame() <= PLAYBACK_QUEUE_BLOCKS
        {
            if depacketizer.play_frame(now(), &mut play_tx) == Played::EndOfTransmission {
                done = true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the queued frames play out.
    while play_tx.slots() < capacity {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    capture.join().expect("capture ran");
    let playback_underruns = playback.counters().snapshot().underruns;
    playback.stop().expect("playback ran");
    Run {
        output: read_wav_i16(&output_path).expect("read wav"),
        dropped,
        packetizer: packetizer.stats(),
        depacketizer: depacketizer.stats(),
        jitter: depacketizer.jitter().stats(),
        playback_underruns,
    }
}

/// The lag (output index − source index) at which a 200 ms window of the
/// source best matches the output, searched up to 500 ms.
fn find_lag(source: &[i16], output: &[i16]) -> usize {
    find_lag_at(source, output, source.len() / 2)
}

fn find_lag_at(source: &[i16], output: &[i16], window_start: usize) -> usize {
    let window = &source[window_start..window_start + 9_600];
    let max_lag = 24_000.min(output.len().saturating_sub(window_start + window.len()));
    (0..=max_lag)
        .max_by(|&a, &b| {
            let at = |lag: usize| {
                let o = &output[window_start + lag..];
                window
                    .iter()
                    .zip(o)
                    .map(|(&x, &y)| i64::from(x) * i64::from(y))
                    .sum::<i64>()
            };
            at(a).cmp(&at(b))
        })
        .expect("a lag")
}

fn largest_step(samples: &[i16]) -> i32 {
    samples
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

fn longest_zero_run(samples: &[i16]) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for &s in samples {
        run = if s == 0 { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

struct Measured {
    lag: usize,
    correlation: f64,
    largest_step: i32,
    source_step: i32,
    longest_zero_run: usize,
}

fn measure(source: &[i16], run: &Run) -> Measured {
    let lag = find_lag(source, &run.output);
    let aligned = &run.output[lag..];
    assert!(
        aligned.len() >= source.len(),
        "the whole signal was played: {} of {} samples after the lag",
        aligned.len(),
        source.len()
    );
    // The last frame's final samples (the encoder's look-ahead) are still
    // inside the encoder when the talk-spurt ends: compare up to there.
    let len = source.len() - TAIL_SAMPLES;
    let source = &source[..len];
    let aligned = &aligned[..len];
    Measured {
        lag,
        correlation: correlation(source, aligned),
        largest_step: largest_step(aligned),
        source_step: largest_step(source),
        longest_zero_run: longest_zero_run(aligned),
    }
}

fn report(name: &str, run: &Run, m: &Measured) {
    eprintln!(
        "{name}: lag {} samples ({:.1} ms), correlation {:.4}, largest step {} (source {}), \
         longest zero run {} samples, dropped {}, playback underruns {}",
        m.lag,
        m.lag as f64 * 1_000.0 / f64::from(RATE_HZ),
        m.correlation,
        m.largest_step,
        m.source_step,
        m.longest_zero_run,
        run.dropped,
        run.playback_underruns,
    );
    eprintln!("{name}: packetizer {:?}", run.packetizer);
    eprintln!("{name}: depacketizer {:?}", run.depacketizer);
    eprintln!("{name}: jitter {:?}", run.jitter);
}

fn source_file(dir: &Path) -> (std::path::PathBuf, Vec<i16>) {
    let path = dir.join("speech.wav");
    echostream_sim::audio::write_wav_i16(&path, RATE_HZ, 1, &speech_like(SIGNAL_SECS))
        .expect("write source wav");
    let source = read_wav_i16(&path).expect("read wav");
    (path, source)
}

/// The end of the source left out of the comparison: one 20 ms frame,
/// more than the encoder's look-ahead (6.5 ms) that never comes out.
const TAIL_SAMPLES: usize = 960;

/// Clicks: no step in the output above this many times the source's
/// largest.
const STEP_FACTOR: f64 = 1.5;
/// Gaps: no run of exact zeros in the signal longer than 2 ms.
const ZERO_RUN_MAX: usize = 96;

#[test]
fn wav_through_the_pipeline_without_loss() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, source) = source_file(dir.path());
    let run = run_pipeline(dir.path(), &input, 0.0, 1);
    let m = measure(&source, &run);
    report("no loss", &run, &m);
    assert_eq!(run.dropped, 0);
    assert_eq!(run.packetizer.frames, 150, "3 s of 20 ms frames");
    assert_eq!(run.packetizer.ring_full_drops, 0);
    assert_eq!(run.depacketizer.decoded, 150, "every frame decoded");
    assert_eq!(run.depacketizer.fec + run.depacketizer.concealed, 0);
    assert_eq!(run.depacketizer.ends, 1);
    assert!(m.correlation >= 0.9, "correlation {:.4}", m.correlation);
    assert!(
        f64::from(m.largest_step) <= STEP_FACTOR * f64::from(m.source_step),
        "click: step {} vs source {}",
        m.largest_step,
        m.source_step
    );
    assert!(
        m.longest_zero_run <= ZERO_RUN_MAX,
        "gap of {} samples",
        m.longest_zero_run
    );
}

#[test]
fn wav_through_the_pipeline_with_five_percent_loss() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, source) = source_file(dir.path());
    let run = run_pipeline(dir.path(), &input, 0.05, 5);
    let m = measure(&source, &run);
    report("5 % loss", &run, &m);
    assert!(
        run.dropped >= 3,
        "the loss injector dropped {}",
        run.dropped
    );
    assert_eq!(
        run.depacketizer.fec + run.depacketizer.concealed,
        run.dropped,
        "every dropped frame rebuilt or concealed"
    );
    assert_eq!(run.depacketizer.decoded + run.dropped, 150);
    assert!(m.correlation >= 0.9, "correlation {:.4}", m.correlation);
    assert!(
        f64::from(m.largest_step) <= STEP_FACTOR * f64::from(m.source_step),
        "click: step {} vs source {}",
        m.largest_step,
        m.source_step
    );
    assert!(
        m.longest_zero_run <= ZERO_RUN_MAX,
        "gap of {} samples",
        m.longest_zero_run
    );
}

#[test]
fn packetizer_and_depacketizer_steps_do_not_allocate() {
    let (frame_tx, mut frame_rx) = frame_ring();
    let (mut play_tx, mut play_rx) = audio::block_ring();
    let encoder = Encoder::new(fec_encoder_config()).expect("encoder");
    let mut packetizer = Packetizer::new(encoder, frame_tx, Seq(0), MediaTimestamp(0));
    let mut depacketizer: Depacketizer =
        Depacketizer::new(JitterConfig::DEFAULT, RATE_HZ, PERIOD_FRAMES, StreamId(1))
            .expect("depacketizer");
    let signal: Vec<i16> = speech_like(1.0)
        .iter()
        .map(|&s| (s * f32::from(i16::MAX)) as i16)
        .collect();
    let mut block = Block::silent(SampleIndex::ZERO, PERIOD_FRAMES);
    let mut rng = Rng::new(9);
    let mut position = 0usize;
    let mut played = [0u64; 5];
    // One 20 ms frame period: four captured periods, the frames they make
    // (some lost), one pop, the played blocks consumed.
    let mut step = |frame: u64| {
        for _ in 0..4 {
            let start = position % (signal.len() - PERIOD_FRAMES);
            block
                .frames_mut()
                .copy_from_slice(&signal[start..start + PERIOD_FRAMES]);
            position += PERIOD_FRAMES;
            packetizer.push_block(&block);
        }
        let now = Instant::from_micros(frame * 20_000);
        while let Ok(encoded) = frame_rx.pop() {
            if !rng.chance(0.1) {
                let _ = depacketizer.insert(now, &encoded);
            }
        }
        let kind = depacketizer.play_frame(now, &mut play_tx);
        played[kind as usize] += 1;
        while play_rx.pop().is_ok() {}
    };
    const WARM_UP: u64 = 20;
    const COUNTED: u64 = 200;
    for frame in 0..WARM_UP {
        step(frame);
    }
    let before = allocations();
    for frame in WARM_UP..WARM_UP + COUNTED {
        step(frame);
    }
    let counted = allocations() - before;
    eprintln!(
        "played Frame/Fec/Conceal/Silence/End: {played:?}, {:?}",
        depacketizer.stats()
    );
    assert_eq!(counted, 0, "allocations in {COUNTED} frame periods");
    let stats = depacketizer.stats();
    assert!(stats.decoded > 100, "{stats:?}");
    assert!(
        stats.fec + stats.concealed > 0,
        "losses were covered: {stats:?}"
    );
    assert_eq!(packetizer.stats().frames, WARM_UP + COUNTED);
    // The counter sees allocations on this thread at all.
    let before = allocations();
    drop(std::hint::black_box(vec![1u8; 16]));
    assert_eq!(allocations() - before, 1, "the counting allocator counts");
}

#[test]
fn a_capture_step_with_32_definitions_and_dtmf_does_not_allocate() {
    use echostream::runtime::capture::{ChannelCapture, Gate, Heard, Wake, tone_ring};
    use echostream_core::level::{Vox, VoxConfig};
    use echostream_core::tone::dtmf::{DtmfConfig, DtmfSequencer, SequenceConfig};
    use echostream_core::tone::{
        ChannelDetector, Definitions, MAX_DEFINITIONS, Measured, TwoToneDef,
    };
    use echostream_sim::audio::{Signal, qc2_sorted_hz};

    struct NoWake;
    impl Wake for NoWake {
        fn wake(&self) {}
    }

    // A full channel: 32 Quick Call II pairs and DTMF, with VOX and Opus.
    let hz = qc2_sorted_hz();
    let mut definitions = Definitions::new();
    for i in 0..MAX_DEFINITIONS {
        let (a, b) = (hz[(2 * i) % hz.len()], hz[(2 * i + 9) % hz.len()]);
        definitions
            .push(TwoToneDef::quick_call(a, b))
            .expect("a valid definition");
    }
    let mut detector = ChannelDetector::new(RATE_HZ, &definitions).expect("detector");
    detector
        .set_dtmf(Some(&DtmfConfig::DEFAULT))
        .expect("DTMF settings");
    let (events_tx, mut events_rx) = tone_ring();
    let (pcm_tx, mut pcm_rx) = echostream::runtime::capture::pcm_ring();
    let (to_net, mut from_capture) = frame_ring();
    let vox = Vox::new(VoxConfig {
        rate_hz: RATE_HZ,
        threshold_dbfs: -40.0,
        debounce_ms: 20,
        hang_ms: 250,
    })
    .expect("vox");
    let mut capture = ChannelCapture::new(
        Gate::Vox(vox),
        Encoder::new(fec_encoder_config()).expect("encoder"),
        to_net,
        Arc::new(NoWake),
        Arc::default(),
        15,
    )
    .with_detector(
        Box::new(detector),
        Some(
            DtmfSequencer::new(SequenceConfig {
                rate_hz: RATE_HZ,
                timeout_ms: 200,
            })
            .expect("sequencer"),
        ),
        events_tx,
    )
    // The audio goes to the recorder too, as in the running node.
    .with_recorder(pcm_tx);

    // Speech, a page for definition 0, then the digit 5.
    let mut signal = Signal::new(RATE_HZ);
    signal
        .silence(500.0)
        .page(
            f64::from(hz[0]),
            f64::from(hz[9]),
            1_000.0,
            0.0,
            2_200.0,
            0.3,
        )
        .silence(300.0)
        .dual_tone(770.0, 1_336.0, 100.0, 0.2, 0.2)
        .silence(500.0);
    let mut speech = speech_like(1.0);
    speech.extend(&signal.samples);
    let samples: Vec<i16> = speech
        .iter()
        .map(|&s| (s * f32::from(i16::MAX)) as i16)
        .collect();

    let mut block = Block::silent(SampleIndex::ZERO, PERIOD_FRAMES);
    let blocks = samples.len() / PERIOD_FRAMES;
    const WARM_UP: usize = 20;
    let mut counted = 0;
    for i in 0..blocks {
        block.index = SampleIndex((i * PERIOD_FRAMES) as u64);
        block
            .frames_mut()
            .copy_from_slice(&samples[i * PERIOD_FRAMES..(i + 1) * PERIOD_FRAMES]);
        let before = allocations();
        capture.push_block(&block);
        while from_capture.pop().is_ok() {}
        while pcm_rx.pop().is_ok() {}
        if i >= WARM_UP {
            counted += allocations() - before;
        }
    }
    assert_eq!(
        counted,
        0,
        "allocations in {} capture steps",
        blocks - WARM_UP
    );

    let heard: Vec<_> = std::iter::from_fn(|| events_rx.pop().ok()).collect();
    let tones: Vec<_> = heard
        .iter()
        .filter_map(|h| match h {
            Heard::Tone(e) => Some(e),
            Heard::Sequence(_) | Heard::TonesEnd(_) => None,
        })
        .collect();
    assert!(
        tones
            .iter()
            .any(|e| e.definition.map(|d| d.get()) == Some(0)
                && matches!(e.measured, Measured::TwoTone { .. })),
        "the page was heard: {heard:?}"
    );
    assert!(
        tones
            .iter()
            .any(|e| matches!(e.measured, Measured::Dtmf { digit: b'5', .. })),
        "the digit was heard: {heard:?}"
    );
    assert!(
        heard
            .iter()
            .any(|h| matches!(h, Heard::Sequence(s) if s.digits.as_str() == "5")),
        "the digit ended a sequence: {heard:?}"
    );
    let stats = capture.stats();
    assert_eq!(
        stats.tone_events.load(std::sync::atomic::Ordering::Relaxed),
        heard.len() as u64
    );
}

/// Ten minutes of speech in noise through the pages channel's capture
/// step exactly as the running node builds it from `config.json` (its
/// definitions, DTMF settings and sequencer, VOX, Opus, the rings to the
/// network and the recorder), unpaced: not one page alert.
#[test]
fn ten_minutes_of_speech_and_noise_on_the_live_path_raise_no_alert() {
    use echostream::runtime::capture::{ChannelCapture, Gate, Heard, Wake, pcm_ring, tone_ring};
    use echostream_core::level::{Vox, VoxConfig};
    use echostream_core::tone::ChannelDetector;
    use echostream_core::tone::dtmf::{DtmfSequencer, SequenceConfig};

    struct NoWake;
    impl Wake for NoWake {
        fn wake(&self) {}
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("config.json")).expect("config.json");
    let config = echostream::config::check(&text)
        .config
        .expect("the default config is valid");
    let plan = echostream::tone_plan::plan(&config, Some("pages")).expect("the pages plan");
    assert_eq!(plan.names.len(), 4, "the default config's four pages");
    let mut detector = ChannelDetector::new(RATE_HZ, &plan.definitions).expect("detector");
    detector
        .set_dtmf(plan.dtmf.as_ref())
        .expect("DTMF settings");
    let sequencer = DtmfSequencer::new(SequenceConfig {
        rate_hz: RATE_HZ,
        timeout_ms: 2_000,
    })
    .expect("sequencer");
    let (events_tx, mut events_rx) = tone_ring();
    let (pcm_tx, mut pcm_rx) = pcm_ring();
    let (to_net, mut from_capture) = frame_ring();
    let encoder = Encoder::new(EncoderConfig {
        sample_rate_hz: RATE_HZ,
        channels: 1,
        application: Application::Voip,
        bitrate_bps: 24_000,
        complexity: 5,
        vbr: true,
        fec: true,
        expected_loss_pct: 10,
        dtx: false,
        frame: FrameDuration::Ms20,
    })
    .expect("encoder");
    let vox = Vox::new(VoxConfig {
        rate_hz: RATE_HZ,
        threshold_dbfs: -40.0,
        debounce_ms: 20,
        hang_ms: 250,
    })
    .expect("vox");
    let mut capture = ChannelCapture::new(
        Gate::Vox(vox),
        encoder,
        to_net,
        Arc::new(NoWake),
        Arc::default(),
        15,
    )
    .with_detector(Box::new(detector), Some(sequencer), events_tx)
    .with_recorder(pcm_tx);

    // One minute of voiced speech over band noise at −30 dBFS, ten times
    // over with fresh noise.
    let minute = 60 * RATE_HZ as usize;
    let speech = echostream_sim::audio::voiced_speech_i16(RATE_HZ, minute);
    let mut heard = Vec::new();
    let mut at = 0u64;
    for round in 0..10u64 {
        let noise = echostream_sim::audio::band_noise(minute, RATE_HZ, 1e-3, round + 1);
        let audio: Vec<i16> = speech
            .iter()
            .zip(&noise)
            .map(|(&s, &n)| (f32::from(s) + n * 32_767.0).clamp(-32_768.0, 32_767.0) as i16)
            .collect();
        for period in audio.chunks(240) {
            capture.push_block(&Block::from_frames(SampleIndex(at), period));
            at += period.len() as u64;
            while from_capture.pop().is_ok() {}
            while pcm_rx.pop().is_ok() {}
            heard.extend(std::iter::from_fn(|| events_rx.pop().ok()));
        }
    }
    let pages: Vec<_> = heard
        .iter()
        .filter(|h| matches!(h, Heard::Tone(e) if e.definition.is_some()))
        .collect();
    let digits = heard
        .iter()
        .filter(|h| matches!(h, Heard::Tone(e) if e.definition.is_none()))
        .count();
    eprintln!(
        "10 min of speech in noise: {} page alerts, {digits} DTMF digits",
        pages.len()
    );
    assert!(pages.is_empty(), "alerts on speech: {pages:?}");
    assert_eq!(digits, 0, "DTMF talk-off on speech: {heard:?}");
    let stats = capture.stats();
    assert_eq!(
        stats
            .tone_events_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
