//! `file:` devices: a WAV source read in real time (once or looped), a WAV
//! sink that writes exactly what was played, and both on their threads.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use echostream::audio::{
    self, Block, Counters, PcmSink, PcmSource, ReadOutcome, RtSettings, StreamParams, WavSink,
    WavSource, spawn_capture, spawn_playback,
};
use echostream_core::time::SampleIndex;
use echostream_sim::audio::read_wav_i16;

const PARAMS: StreamParams = StreamParams {
    rate_hz: 48_000,
    period_frames: 240,
    buffer_periods: 3,
};

/// A recognisable, never-silent test signal.
fn signal(frames: usize) -> Vec<i16> {
    (0..frames)
        .map(|n| ((n * 7_919) % 20_000) as i16 + 1_000)
        .collect()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        writer.write_sample(s).expect("write sample");
    }
    writer.finalize().expect("finalize wav");
}

#[test]
fn one_second_file_takes_one_second() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("in.wav");
    let samples = signal(48_000);
    write_wav(&path, &samples);
    let mut source = WavSource::open(&path, PARAMS, false).expect("opens");
    assert_eq!(source.len_frames(), 48_000);
    let mut read = Vec::new();
    let mut period = [0i16; 240];
    let start = Instant::now();
    while source.read_period(&mut period).expect("reads") == ReadOutcome::Period {
        read.extend_from_slice(&period);
    }
    let elapsed = start.elapsed();
    eprintln!("1 s WAV read in {elapsed:?}");
    assert!(
        (Duration::from_millis(900)..=Duration::from_millis(1_200)).contains(&elapsed),
        "read in {elapsed:?}"
    );
    assert_eq!(read, samples, "every frame, in order");
    assert_eq!(
        source.read_period(&mut period).expect("reads"),
        ReadOutcome::EndOfStream,
        "stays ended"
    );
}

#[test]
fn looped_file_wraps_and_a_partial_last_period_is_padded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("in.wav");
    // 10.5 periods.
    let samples = signal(2_520);
    write_wav(&path, &samples);

    let mut looped = WavSource::open(&path, PARAMS, true).expect("opens");
    let mut read = Vec::new();
    let mut period = [0i16; 240];
    for _ in 0..30 {
        assert_eq!(
            looped.read_period(&mut period).expect("reads"),
            ReadOutcome::Period
        );
        read.extend_from_slice(&period);
    }
    let expected: Vec<i16> = samples.iter().copied().cycle().take(30 * 240).collect();
    assert_eq!(read, expected, "the file repeats without a gap");

    let mut once = WavSource::open(&path, PARAMS, false).expect("opens");
    let mut periods = 0;
    while once.read_period(&mut period).expect("reads") == ReadOutcome::Period {
        periods += 1;
    }
    assert_eq!(periods, 11);
    assert_eq!(&period[..120], &samples[2_400..]);
    assert!(period[120..].iter().all(|&s| s == 0), "padded with silence");
}

#[test]
fn wav_source_rate_must_match() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("in.wav");
    write_wav(&path, &signal(480));
    let params = StreamParams {
        rate_hz: 16_000,
        ..PARAMS
    };
    let err = WavSource::open(&path, params, false).expect_err("48 kHz file, 16 kHz stream");
    assert!(err.to_string().contains("48000 Hz"), "{err}");
}

#[test]
fn wav_sink_writes_exactly_what_was_played() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.wav");
    let samples = signal(24 * 240);
    let mut sink = WavSink::create(&path, PARAMS).expect("creates");
    let start = Instant::now();
    for period in samples.chunks(240) {
        sink.write_period(period).expect("writes");
    }
    let elapsed = start.elapsed();
    sink.finish().expect("finishes");
    assert_eq!(sink.dropped_periods(), 0);
    eprintln!("120 ms written in {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(110), "paced: {elapsed:?}");
    assert_eq!(read_wav_i16(&path).expect("read wav"), samples);
}

#[test]
fn threads_move_a_file_through_the_rings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.wav");
    let output = dir.path().join("out.wav");
    let samples = signal(20 * 240);
    write_wav(&input, &samples);

    let source = audio::open_source(&format!("file:{}", input.display()), PARAMS, false)
        .expect("file source opens");
    let (capture_tx, mut capture_rx) = audio::block_ring();
    let stop = Arc::new(AtomicBool::new(false));
    let capture = spawn_capture(
        "wav",
        source,
        capture_tx,
        stop.clone(),
        Counters::new(),
        RtSettings::NORMAL,
    )
    .expect("capture starts");
    let capture_counters = capture.counters().clone();
    // The file ends by itself: the thread stops at its end.
    capture.join().expect("capture ends at end of file");
    assert_eq!(capture_counters.snapshot().periods, 20);

    let sink =
        audio::open_sink(&format!("file:{}", output.display()), PARAMS).expect("file sink opens");
    let (mut playback_tx, playback_rx) = audio::block_ring();
    let mut blocks: Vec<Block> = Vec::new();
    while let Ok(block) = capture_rx.pop() {
        assert_eq!(block.index, SampleIndex((blocks.len() * 240) as u64));
        blocks.push(block);
    }
    assert_eq!(blocks.len(), 20);
    for block in blocks {
        playback_tx.push(block).expect("ring holds 20 blocks");
    }
    let counters = Counters::new();
    let playback = spawn_playback(
        "wav",
        sink,
        playback_rx,
        stop,
        counters.clone(),
        RtSettings::NORMAL,
    )
    .expect("playback starts");
    while counters.snapshot().periods < 22 {
        std::thread::sleep(Duration::from_millis(5));
    }
    playback
        .stop()
        .expect("playback ends and the file is finished");
    let written = read_wav_i16(&output).expect("read wav");
    let after = counters.snapshot();
    eprintln!("wav threads: playback {after:?}");
    assert_eq!(written.len() as u64, after.periods * 240);
    assert_eq!(
        &written[..samples.len()],
        &samples[..],
        "the file, then silence"
    );
    assert!(written[samples.len()..].iter().all(|&s| s == 0));
    assert_eq!(after.underruns, after.periods - 20);
}
