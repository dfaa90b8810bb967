//! The capture thread's work per channel at 48 kHz, as the running node
//! does it: [`ChannelCapture::push_block`] on every 5 ms period (240
//! samples), with a VOX gate and the product's Opus encoder (voip, 24
//! kbit/s, complexity 5, VBR, in-band FEC for 10 % loss, 20 ms frames:
//! `config.json`'s `audio.opus`, which are also the defaults) through a
//! core framer into the network ring, and the eventfd `mio::Waker` the
//! node wakes its network thread with.
//!
//! Rows:
//! - **detector+recorder**: also `with_detector` (32 Quick Call II
//!   definitions, DTMF on with the product limits, a `DtmfSequencer`) and
//!   `with_recorder` (every period copied into the recorder's ring): a
//!   paging channel as the node runs it.
//! - **plain**: `ChannelCapture::new` only (a talk channel).
//! - **detector alone**: what `push_block` adds for the detector, run by
//!   itself on the same periods (`process_i16`, draining its events and
//!   tone ends into the sequencer, polling the sequencer).
//! - **recorder tap alone**: what it adds for the recorder (a copy of the
//!   period's `Block` pushed into a `pcm_ring`).
//!
//! The difference of the first two is the detector's and the recorder's
//! share, but it is a few per cent of the whole, about what the machine's
//! load moves a run by; the last two measure those shares directly.
//!
//! One iteration is one second of audio (200 periods) taken in turn from
//! a 30 s program (see [`program`]), so criterion's time per iteration is
//! the CPU per audio second; the sample index runs on across iterations
//! as a device clock does. The time is the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not the wall clock: on a shared machine a
//! thread preempted mid-second would otherwise be charged for the other
//! process's work. It covers filling each period's block from the program
//! (the device read's copy) and `push_block`. The rings' other ends (the
//! network thread's and the recorder's) are drained after every second,
//! outside the timing: that is other threads' work, and the rings hold
//! more than a second (64 frames, 400 periods). Nothing waits on the
//! eventfd, so the cost of waking a sleeping network thread is not in it,
//! only the write. After each row the bench prints its wall-clock time
//! over its CPU time: how much the thread waited for the core.
//!
//! Before timing, one untimed pass over the program checks that the
//! detector hears its page and DTMF code and that no ring overflowed.
//!
//! `cargo bench -p echostream-benches --bench capture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use echostream::audio::Block;
use echostream::audio::pipeline::{EncodedFrame, frame_ring};
use echostream::config::Audio;
use echostream::opus::{Encoder, EncoderConfig};
use echostream::runtime::capture::{ChannelCapture, Gate, Heard, pcm_ring, tone_ring};
use echostream_core::level::{Vox, VoxConfig};
use echostream_core::time::SampleIndex;
use echostream_core::tone::dtmf::{DtmfConfig, DtmfSequencer, SequenceConfig};
use echostream_core::tone::{ChannelDetector, Definitions, MAX_DEFINITIONS, TwoToneDef};
use echostream_sim::audio::{
    Signal, dbfs_to_amplitude, dtmf_pair_hz, qc2_sorted_hz, sine_power, voiced_speech_i16,
};

const RATE_HZ: u32 = 48_000;
/// One 5 ms period.
const PERIOD_FRAMES: usize = 240;
/// The default pre-roll (300 ms of 20 ms frames), kept uncoded while quiet.
const PREROLL_FRAMES: usize = 15;
const PERIODS_PER_SECOND: usize = RATE_HZ as usize / PERIOD_FRAMES;
const _: () = assert!(PERIODS_PER_SECOND * PERIOD_FRAMES == RATE_HZ as usize);
/// Length of the program the iterations step through.
const PROGRAM_SECONDS: usize = 30;
/// Tone level: −10 dBFS peak, as the sample recordings
/// (`echostream-sim samples`) send them.
const TONE_AMPLITUDE: f64 = 0.316;
/// The receiver's noise under everything, dBFS (sine-equivalent power):
/// well under the VOX threshold, so quiet stretches keep it closed.
const NOISE_FLOOR_DBFS: f64 = -55.0;
/// The DTMF code in the program, as a siren controller sends it.
const SIREN_CODE: &str = "4711#";

/// The 32 definitions of `platform-linux/tests/audio_pipeline.rs`
/// (`a_capture_step_with_32_definitions_and_dtmf_does_not_allocate`).
fn definition_tones_hz(i: usize) -> (f32, f32) {
    let hz = qc2_sorted_hz();
    (hz[(2 * i) % hz.len()], hz[(2 * i + 9) % hz.len()])
}

/// 30 s of a busy paging channel, 16-bit: 1 s quiet; a Quick Call II page
/// for definition 0 (A 1 s, B 3 s, −10 dBFS); 0.7 s quiet; 8 s of speech
/// (the dispatcher); 2 s quiet; 6 s of speech (a reply); 1.5 s quiet; the
/// DTMF code `4711#` (100 ms digits, 100 ms apart); quiet to the end
/// (longer than the sequencer's 2 s timeout and the VOX hang). Speech is
/// [`voiced_speech_i16`] (peak about −6 dBFS); band noise at −55 dBFS
/// runs under everything. Speech 47 %, tones 17 %, quiet 37 %.
fn program() -> Vec<i16> {
    let mut signal = Signal::new(RATE_HZ);
    let (a_hz, b_hz) = definition_tones_hz(0);
    signal.silence(1_000.0).page(
        f64::from(a_hz),
        f64::from(b_hz),
        1_000.0,
        0.0,
        3_000.0,
        TONE_AMPLITUDE,
    );
    signal.silence(700.0);
    append_speech(&mut signal, 8.0);
    signal.silence(2_000.0);
    append_speech(&mut signal, 6.0);
    signal.silence(1_500.0);
    for digit in SIREN_CODE.chars() {
        let (low, high) = dtmf_pair_hz(digit).expect("a DTMF digit");
        let amplitude = TONE_AMPLITUDE / 2.0;
        signal.dual_tone(f64::from(low), f64::from(high), 100.0, amplitude, amplitude);
        signal.silence(100.0);
    }
    let len = PROGRAM_SECONDS * RATE_HZ as usize;
    assert!(signal.samples.len() < len, "the program fits in 30 s");
    signal.samples.resize(len, 0.0);
    let floor = sine_power(dbfs_to_amplitude(NOISE_FLOOR_DBFS));
    signal.add_band_noise(floor, 1);
    signal
        .samples
        .iter()
        .map(|&s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
        .collect()
}

fn append_speech(signal: &mut Signal, seconds: f64) {
    let len = (seconds * f64::from(RATE_HZ)) as usize;
    signal.samples.extend(
        voiced_speech_i16(RATE_HZ, len)
            .iter()
            .map(|&s| f32::from(s) / 32_768.0),
    );
}

/// Something that does a capture thread's work one second at a time.
trait Second {
    /// The timed work for the next second of `program`.
    fn second(&mut self, program: &[i16]);
    /// The other threads' share, untimed: empties the rings.
    fn drain(&mut self);
}

/// What the channel runs besides VOX and Opus.
#[derive(Debug, Clone, Copy)]
struct Taps {
    detector: bool,
    recorder: bool,
}

/// One channel's capture side and the far ends of its rings.
struct Rig {
    capture: ChannelCapture,
    from_capture: rtrb::Consumer<EncodedFrame>,
    pcm: Option<rtrb::Consumer<Block>>,
    heard: Option<rtrb::Consumer<Heard>>,
    block: Block,
    /// Samples fed so far: the device clock.
    fed: u64,
    /// Kept alive for the waker, never polled (nothing waits on it).
    _poll: mio::Poll,
}

impl Rig {
    fn new(taps: Taps) -> Rig {
        let poll = mio::Poll::new().expect("an epoll instance");
        let waker =
            Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("an eventfd waker"));
        let encoder = EncoderConfig::from_audio(&Audio::default())
            .and_then(Encoder::new)
            .expect("the default Opus settings are valid");
        let (to_net, from_capture) = frame_ring();
        // The product's VOX: −40 dBFS, 20 ms debounce, 250 ms hang.
        let vox = Vox::new(VoxConfig {
            rate_hz: RATE_HZ,
            threshold_dbfs: -40.0,
            debounce_ms: 20,
            hang_ms: 250,
        })
        .expect("valid VOX settings");
        // As the running node: coded while the VOX is open (the engine
        // wants nothing more of a channel nobody passes through).
        let mut capture = ChannelCapture::new(
            Gate::Vox(vox),
            encoder,
            to_net,
            waker,
            Arc::default(),
            PREROLL_FRAMES,
        );
        let mut heard = None;
        if taps.detector {
            let (events_tx, events_rx) = tone_ring();
            capture = capture.with_detector(Box::new(detector()), Some(sequencer()), events_tx);
            heard = Some(events_rx);
        }
        let mut pcm = None;
        if taps.recorder {
            let (pcm_tx, pcm_rx) = pcm_ring();
            capture = capture.with_recorder(pcm_tx);
            pcm = Some(pcm_rx);
        }
        Rig {
            capture,
            from_capture,
            pcm,
            heard,
            block: Block::silent(SampleIndex::ZERO, PERIOD_FRAMES),
            fed: 0,
            _poll: poll,
        }
    }

    /// The network thread's and the recorder's share: empties the rings,
    /// adding what the detector heard to `heard`.
    fn drain_into(&mut self, heard: &mut Vec<Heard>) {
        while self.from_capture.pop().is_ok() {}
        if let Some(pcm) = &mut self.pcm {
            while pcm.pop().is_ok() {}
        }
        if let Some(events) = &mut self.heard {
            heard.extend(std::iter::from_fn(|| events.pop().ok()));
        }
    }
}

impl Second for Rig {
    fn second(&mut self, program: &[i16]) {
        for _ in 0..PERIODS_PER_SECOND {
            let at = (self.fed % program.len() as u64) as usize;
            self.block.index = SampleIndex(self.fed);
            self.block
                .frames_mut()
                .copy_from_slice(&program[at..at + PERIOD_FRAMES]);
            self.capture.push_block(&self.block);
            self.fed += PERIOD_FRAMES as u64;
        }
    }

    fn drain(&mut self) {
        // A page or a code a pass: the vector stays tiny.
        self.drain_into(&mut Vec::new());
    }
}

/// The detector's part of `push_block`, by itself: the same calls in the
/// same order as `ChannelCapture`'s, with the events counted instead of
/// queued.
struct DetectorAlone {
    detector: Box<ChannelDetector>,
    sequencer: DtmfSequencer,
    fed: u64,
    heard: u64,
}

impl DetectorAlone {
    fn new() -> DetectorAlone {
        DetectorAlone {
            detector: Box::new(detector()),
            sequencer: sequencer(),
            fed: 0,
            heard: 0,
        }
    }
}

impl Second for DetectorAlone {
    fn second(&mut self, program: &[i16]) {
        for _ in 0..PERIODS_PER_SECOND {
            let at = (self.fed % program.len() as u64) as usize;
            let start = SampleIndex(self.fed);
            self.detector
                .process_i16(start, &program[at..at + PERIOD_FRAMES]);
            while let Some(event) = self.detector.poll_event() {
                self.sequencer.push(&event);
                self.heard += 1;
            }
            while self.detector.poll_tones_end().is_some() {
                self.heard += 1;
            }
            self.fed += PERIOD_FRAMES as u64;
            if self.sequencer.poll(SampleIndex(self.fed)).is_some() {
                self.heard += 1;
            }
        }
    }

    fn drain(&mut self) {}
}

/// The recorder's part of `push_block`, by itself: the period's block
/// copied into the recorder's ring.
struct RecorderTap {
    pcm_tx: rtrb::Producer<Block>,
    pcm_rx: rtrb::Consumer<Block>,
    block: Block,
    fed: u64,
}

impl Second for RecorderTap {
    fn second(&mut self, program: &[i16]) {
        for _ in 0..PERIODS_PER_SECOND {
            let at = (self.fed % program.len() as u64) as usize;
            self.block.index = SampleIndex(self.fed);
            self.block
                .frames_mut()
                .copy_from_slice(&program[at..at + PERIOD_FRAMES]);
            self.pcm_tx
                .push(self.block.clone())
                .expect("drained every second, the ring holds two");
            self.fed += PERIOD_FRAMES as u64;
        }
    }

    fn drain(&mut self) {
        while self.pcm_rx.pop().is_ok() {}
    }
}

/// CPU time this thread has used so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the whole call,
    // and the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "Linux always has a thread CPU clock");
    Duration::new(
        u64::try_from(ts.tv_sec).expect("CPU time is not negative"),
        u32::try_from(ts.tv_nsec).expect("nanoseconds under a second"),
    )
}

/// Times `iters` seconds of `work` in thread CPU time, adding the
/// wall-clock and CPU time spent to `totals`.
fn seconds(
    b: &mut Bencher<'_>,
    work: &mut impl Second,
    program: &[i16],
    totals: &mut (Duration, Duration),
) {
    b.iter_custom(|iters| {
        let mut cpu = Duration::ZERO;
        for _ in 0..iters {
            let (wall_start, cpu_start) = (Instant::now(), thread_cpu());
            work.second(program);
            let spent = thread_cpu() - cpu_start;
            totals.0 += wall_start.elapsed();
            totals.1 += spent;
            cpu += spent;
            work.drain();
        }
        cpu
    });
}

fn detector() -> ChannelDetector {
    let mut definitions = Definitions::new();
    for i in 0..MAX_DEFINITIONS {
        let (a, b) = definition_tones_hz(i);
        definitions
            .push(TwoToneDef::quick_call(a, b))
            .expect("a valid definition");
    }
    let mut detector = ChannelDetector::new(RATE_HZ, &definitions).expect("48 kHz is supported");
    detector
        .set_dtmf(Some(&DtmfConfig::DEFAULT))
        .expect("the default DTMF limits are valid");
    detector
}

fn sequencer() -> DtmfSequencer {
    DtmfSequencer::new(SequenceConfig {
        rate_hz: RATE_HZ,
        timeout_ms: SequenceConfig::TIMEOUT_MS_DEFAULT,
    })
    .expect("the default sequence timeout is valid")
}

/// One untimed pass over the program: the page and the code are heard,
/// every frame reaches the network ring, no ring overflows.
fn check(taps: Taps, program: &[i16]) {
    let mut rig = Rig::new(taps);
    let mut heard = Vec::new();
    for _ in 0..PROGRAM_SECONDS {
        rig.second(program);
        rig.drain_into(&mut heard);
    }
    let stats = rig.capture.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let pages = heard
        .iter()
        .filter(|h| matches!(h, Heard::Tone(e) if e.definition.is_some()))
        .count();
    let codes: Vec<&str> = heard
        .iter()
        .filter_map(|h| match h {
            Heard::Sequence(s) => Some(s.digits.as_str()),
            Heard::Tone(_) | Heard::TonesEnd(_) => None,
        })
        .collect();
    eprintln!(
        "capture {taps:?}: {} frames, {} VOX openings, {} detections \
         ({pages} pages, codes {codes:?}), {} encode errors",
        load(&stats.frames),
        load(&stats.vox_openings),
        load(&stats.tone_events),
        load(&stats.encode_errors),
    );
    assert_eq!(
        load(&stats.frames),
        (PROGRAM_SECONDS * 50) as u64,
        "a 20 ms frame for every 20 ms"
    );
    assert!(
        load(&stats.vox_openings) >= 3,
        "the VOX opens on each burst"
    );
    assert_eq!(load(&stats.encode_errors), 0);
    assert_eq!(load(&stats.net_ring_full), 0);
    assert_eq!(load(&stats.recorder_ring_full), 0);
    assert_eq!(load(&stats.tone_events_dropped), 0);
    if taps.detector {
        assert_eq!(pages, 1, "the page for definition 0 is heard once");
        assert_eq!(codes, [SIREN_CODE], "the siren code is heard");
    }
}

fn capture(c: &mut Criterion) {
    let program = program();
    let full = Taps {
        detector: true,
        recorder: true,
    };
    let plain = Taps {
        detector: false,
        recorder: false,
    };
    check(full, &program);
    check(plain, &program);
    let mut alone = DetectorAlone::new();
    for _ in 0..PROGRAM_SECONDS {
        alone.second(&program);
    }
    assert_eq!(
        alone.heard, 8,
        "alone, the detector hears what it hears in the capture step"
    );

    let mut group = c.benchmark_group("capture");
    // An iteration is ~10 ms: flat sampling, and samples of about ten
    // passes over the program each, so every sample hears nearly the same
    // mix of speech, tones and quiet.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(5));
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(u64::from(RATE_HZ)));
    let report = |name: &str, totals: (Duration, Duration)| {
        eprintln!(
            "{name}: wall clock / thread CPU = {:.3}",
            totals.0.as_secs_f64() / totals.1.as_secs_f64()
        );
    };
    // Each row's state lives across criterion's calls, as a channel runs
    // on: the device clock, the encoder and the detector carry on.
    for (name, taps) in [("detector+recorder", full), ("plain", plain)] {
        let mut rig = Rig::new(taps);
        let mut totals = Default::default();
        group.bench_function(format!("{name}/48000hz_1s"), |b| {
            seconds(b, &mut rig, &program, &mut totals);
        });
        report(name, totals);
    }
    let mut alone = DetectorAlone::new();
    let mut totals = Default::default();
    group.bench_function("detector_alone/48000hz_1s", |b| {
        seconds(b, &mut alone, &program, &mut totals);
    });
    report("detector_alone", totals);
    let (pcm_tx, pcm_rx) = pcm_ring();
    let mut tap = RecorderTap {
        pcm_tx,
        pcm_rx,
        block: Block::silent(SampleIndex::ZERO, PERIOD_FRAMES),
        fed: 0,
    };
    let mut totals = Default::default();
    group.bench_function("recorder_tap_alone/48000hz_1s", |b| {
        seconds(b, &mut tap, &program, &mut totals);
    });
    report("recorder_tap_alone", totals);
    group.finish();
}

criterion_group!(benches, capture);
criterion_main!(benches);
