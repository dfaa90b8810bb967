//! `echostream detect FILE.wav...`: the live tone detectors run over
//! recordings, one JSON line per event and a summary line per file.
//!
//! Exactly the per-channel detector the capture threads run
//! ([`ChannelDetector`]), fed from a WAV file in 20 ms blocks, so what it
//! finds in a recording is what the node would have alerted on. Each
//! file gets a fresh detector; the summary line says how much CPU time
//! the file took (reading, detecting and printing its events), so that
//! many files can be timed in one process without its start-up.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use echostream_core::time::SampleIndex;
use echostream_core::tone::{
    ChannelDetector, MAX_DEVICE_RATE_HZ, MIN_DEVICE_RATE_HZ, Measured, ToneEvent,
};
use serde_json::{Value, json};

use crate::tone_plan::ChannelPlan;

/// Frames per block handed to the detector: 20 ms at the file's rate, as
/// a capture thread would.
const BLOCK_MS: u32 = 20;
/// Files longer than this report progress on standard error.
const PROGRESS_AFTER_S: f64 = 600.0;
/// Bytes of samples read from the file at a time (4 s of 8 kHz mono):
/// small enough that the buffers stay in the CPU's cache and are reused
/// from the heap file after file (a megabyte cost more in page faults and
/// cache misses than the extra reads), large enough that the reads are few.
const READ_BYTES: usize = 64 << 10;

/// Why a recording cannot be analysed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Not a WAV file we can read.
    #[error("cannot read `{path}` as WAV: {source}")]
    Wav {
        /// The file.
        path: String,
        /// What the WAV reader said.
        source: hound::Error,
    },
    /// A rate the detectors cannot take.
    #[error(
        "`{path}` is sampled at {rate_hz} Hz; the detectors take {MIN_DEVICE_RATE_HZ} to {MAX_DEVICE_RATE_HZ} Hz \
         (convert it, e.g. `sox IN.wav -r 16000 OUT.wav`)"
    )]
    Rate {
        /// The file.
        path: String,
        /// Its rate.
        rate_hz: u32,
    },
    /// Writing the events failed.
    #[error("writing events: {0}")]
    Output(#[from] std::io::Error),
}

/// What a run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Events printed.
    pub events: u64,
    /// Seconds of audio analysed.
    pub audio_s: f64,
    /// Wall-clock seconds spent.
    pub elapsed_s: f64,
    /// CPU seconds (user and system) the process spent on the file:
    /// opening and reading it, detecting and writing its events.
    pub cpu_s: f64,
}

/// Runs `plan`'s detectors over the WAV file at `path`, writing one JSON
/// line per event and a final summary line to `out`.
///
/// Stereo (or more) is mixed down to mono; 8- to 32-bit integer and 32-bit
/// float samples are read.
///
/// # Errors
/// [`DetectError`] for an unreadable file, an unsupported rate, or a
/// failed write.
pub fn detect_file(
    path: &Path,
    plan: &ChannelPlan,
    out: &mut dyn Write,
) -> Result<Summary, DetectError> {
    let cpu_started = process_cpu_s();
    let started = Instant::now();
    let shown = path.display().to_string();
    let wav_error = |source| DetectError::Wav {
        path: shown.clone(),
        source,
    };
    let reader = hound::WavReader::open(path).map_err(wav_error)?;
    let spec = reader.spec();
    let Ok(mut detector) = ChannelDetector::new(spec.sample_rate, &plan.definitions) else {
        return Err(DetectError::Rate {
            path: shown,
            rate_hz: spec.sample_rate,
        });
    };
    detector
        .set_dtmf(plan.dtmf.as_ref())
        .expect("the DTMF settings were validated with the config");

    let channels = usize::from(spec.channels.max(1));
    let total_frames = u64::from(reader.duration());
    let rate = spec.sample_rate;
    let block_frames = (rate * BLOCK_MS / 1_000) as usize;
    let show_progress = total_frames as f64 / f64::from(rate) > PROGRESS_AFTER_S;
    let mut next_progress = 0.1;

    let mut summary = Summary::default();
    let mut position = 0u64;
    let bytes_per_frame = channels * usize::from(spec.bits_per_sample.div_ceil(8)).max(1);
    let blocks_per_read = (READ_BYTES / (block_frames * bytes_per_frame)).max(1);
    let mut source = Source::new(reader, spec, block_frames * blocks_per_read);
    loop {
        let read = source.next_blocks().map_err(wav_error)?;
        if read == 0 {
            break;
        }
        for block in source.blocks(block_frames) {
            let start = SampleIndex(position);
            match block {
                Block::Int16(samples) => detector.process_i16(start, samples),
                Block::Float(samples) => detector.process_f32(start, samples),
            }
            position += block.len() as u64;
            drain(&mut detector, plan, rate, out, &mut summary)?;
        }
        if show_progress && position as f64 >= next_progress * total_frames as f64 {
            eprintln!("detect: {:.0} % of {shown}", next_progress * 100.0);
            next_progress += 0.1;
        }
    }
    detector.flush();
    drain(&mut detector, plan, rate, out, &mut summary)?;
    summary.audio_s = position as f64 / f64::from(rate);
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.cpu_s = process_cpu_s() - cpu_started;
    let stats = detector.stats();
    let line = json!({
        "type": "summary",
        "file": shown,
        "rate_hz": rate,
        "channels": channels,
        "audio_s": round3(summary.audio_s),
        "events": summary.events,
        "elapsed_s": round3(summary.elapsed_s),
        "cpu_s": round6(summary.cpu_s),
        "events_dropped": stats.events_dropped,
        "duplicates_suppressed": stats.duplicates_suppressed,
        "mode": if plan.names.is_empty() { "finder" } else { "definitions" },
    });
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(summary)
}

/// CPU seconds (user and system) this process has used so far.
pub fn process_cpu_s() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec the call writes;
    // CLOCK_PROCESS_CPUTIME_ID always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "CLOCK_PROCESS_CPUTIME_ID is always readable");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

fn drain(
    detector: &mut ChannelDetector,
    plan: &ChannelPlan,
    rate_hz: u32,
    out: &mut dyn Write,
    summary: &mut Summary,
) -> Result<(), DetectError> {
    while let Some(event) = detector.poll_event() {
        writeln!(out, "{}", event_json(&event, plan, rate_hz))?;
        summary.events += 1;
    }
    Ok(())
}

/// One event as the JSON line `detect` prints.
pub fn event_json(event: &ToneEvent, plan: &ChannelPlan, rate_hz: u32) -> Value {
    let named = event.definition.and_then(|i| plan.name(i));
    let seconds = |s: SampleIndex| round3(s.0 as f64 / f64::from(rate_hz));
    let mut line = json!({
        "tone_id": named.map(|n| n.tone_id.as_str()),
        "alert_type": named.map(|n| n.alert_type.as_str()),
        "start_s": seconds(event.start),
        "end_s": seconds(event.end),
        "detected_s": seconds(event.detected_at),
        "start_sample": event.start.0,
        "end_sample": event.end.0,
        "latency_ms": event.latency_ms,
    });
    let fields = match event.measured {
        Measured::TwoTone { a_hz, b_hz } => {
            json!({"type": "two_tone", "a_hz": round2(a_hz), "b_hz": round2(b_hz)})
        }
        Measured::LongTone { hz } => json!({"type": "long_tone", "hz": round2(hz)}),
        Measured::HiLow {
            a_hz,
            b_hz,
            alternations,
            tone_ms,
        } => json!({
            "type": "hi_low", "a_hz": round2(a_hz), "b_hz": round2(b_hz),
            "alternations": alternations, "tone_ms": tone_ms
        }),
        Measured::Pulsed {
            hz,
            pulses,
            on_ms,
            off_ms,
        } => json!({
            "type": "pulsed", "hz": round2(hz), "pulses": pulses, "on_ms": on_ms, "off_ms": off_ms
        }),
        Measured::Dtmf {
            digit,
            low_hz,
            high_hz,
            twist_db,
        } => json!({
            "type": "dtmf",
            "digit": char::from(digit).to_string(),
            "low_hz": round2(low_hz),
            "high_hz": round2(high_hz),
            "twist_db": round2(twist_db),
        }),
    };
    if let (Value::Object(map), Value::Object(extra)) = (&mut line, fields) {
        map.extend(extra);
    }
    line
}

fn round2(x: f32) -> f64 {
    (f64::from(x) * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

fn round6(x: f64) -> f64 {
    (x * 1_000_000.0).round() / 1_000_000.0
}

type FileReader = std::io::BufReader<std::fs::File>;

/// A WAV file's audio, [`READ_BYTES`] at a time, as mono blocks in [-1, 1]
/// (16-bit mono as the integers themselves), whatever its format.
///
/// 16-bit PCM, by far the most common, is read in bulk straight from the
/// data chunk (hound leaves its reader there); other formats go through
/// hound sample by sample.
struct Source {
    kind: SourceKind,
    channels: usize,
    /// Frames per read.
    frames: usize,
    /// The last read, for 16-bit mono.
    int16: Vec<i16>,
    /// The last read, for everything else.
    float: Vec<f32>,
}

enum SourceKind {
    Pcm16 {
        data: FileReader,
        /// Samples (all channels) not yet read.
        remaining: u64,
        bytes: Vec<u8>,
    },
    Other {
        reader: hound::WavReader<FileReader>,
        spec: hound::WavSpec,
    },
}

/// One block of mono audio for the detector.
#[derive(Debug, Clone, Copy)]
enum Block<'a> {
    Int16(&'a [i16]),
    Float(&'a [f32]),
}

impl Block<'_> {
    fn len(&self) -> usize {
        match self {
            Block::Int16(s) => s.len(),
            Block::Float(s) => s.len(),
        }
    }
}

impl Source {
    fn new(reader: hound::WavReader<FileReader>, spec: hound::WavSpec, frames: usize) -> Source {
        let channels = usize::from(spec.channels.max(1));
        let kind = if spec.sample_format == hound::SampleFormat::Int && spec.bits_per_sample == 16 {
            let remaining = u64::from(reader.len());
            SourceKind::Pcm16 {
                data: reader.into_inner(),
                remaining,
                bytes: Vec::new(),
            }
        } else {
            SourceKind::Other { reader, spec }
        };
        Source {
            kind,
            channels,
            frames,
            int16: Vec::new(),
            float: Vec::new(),
        }
    }

    /// Reads up to its read size of frames; returns how many (0 at the
    /// end).
    fn next_blocks(&mut self) -> Result<usize, hound::Error> {
        let channels = self.channels;
        self.float.clear();
        match &mut self.kind {
            SourceKind::Pcm16 {
                data,
                remaining,
                bytes,
            } => {
                use std::io::Read as _;
                let samples =
                    (self.frames * channels).min(*remaining as usize) / channels * channels;
                *remaining -= samples as u64;
                if channels == 1 {
                    // Straight into the samples, with no copy between:
                    // the data chunk is little-endian 16-bit, so on a
                    // little-endian machine the bytes are the values. (Not
                    // cleared first: every value is overwritten.)
                    self.int16.resize(samples, 0);
                    data.read_exact(bytemuck::cast_slice_mut(&mut self.int16))?;
                    for v in &mut self.int16 {
                        *v = i16::from_le(*v);
                    }
                    return Ok(self.int16.len());
                }
                self.int16.clear();
                bytes.resize(samples * 2, 0);
                data.read_exact(bytes)?;
                let scale = 1.0 / (32_768.0 * channels as f32);
                self.float
                    .extend(bytes.chunks_exact(2 * channels).map(|frame| {
                        let sum: i32 = frame
                            .chunks_exact(2)
                            .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])))
                            .sum();
                        sum as f32 * scale
                    }));
            }
            SourceKind::Other { reader, spec } => {
                self.int16.clear();
                let mut frame = Vec::with_capacity(channels);
                while self.float.len() < self.frames {
                    frame.clear();
                    for _ in 0..channels {
                        match next_sample(reader, *spec) {
                            Some(s) => frame.push(s?),
                            None => break,
                        }
                    }
                    if frame.len() < channels {
                        break;
                    }
                    self.float.push(frame.iter().sum::<f32>() / channels as f32);
                }
            }
        }
        Ok(self.float.len())
    }

    /// The last read in blocks of `frames` (the last one shorter).
    fn blocks(&self, frames: usize) -> impl Iterator<Item = Block<'_>> {
        self.int16
            .chunks(frames)
            .map(Block::Int16)
            .chain(self.float.chunks(frames).map(Block::Float))
    }
}

fn next_sample(
    reader: &mut hound::WavReader<FileReader>,
    spec: hound::WavSpec,
) -> Option<Result<f32, hound::Error>> {
    match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().next(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .next()
                .map(|s| s.map(|v| v as f32 * scale))
        }
    }
}
