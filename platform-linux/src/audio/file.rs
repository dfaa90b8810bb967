//! `file:PATH.wav` devices: WAV files standing in for sound cards on
//! machines without one (the default config, tests).
//!
//! Both are paced in real time on `CLOCK_MONOTONIC`, as a card would be.
//! Neither touches the disk from the realtime thread: the source reads the
//! whole file into memory when opened; the sink hands blocks through an
//! rtrb ring to a `wav-writer` thread that writes the file (DESIGN.md:
//! "no disk I/O on RT threads"), and finishes it when the sink finishes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use echostream_core::time::SampleIndex;
use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use super::rt::Pacer;
use super::{AudioError, Block, PcmSink, PcmSource, ReadOutcome, StreamParams, WriteOutcome};

/// Capacity of the sink's ring to its writer thread, in periods: 128 (640 ms
/// at 5 ms) covers a slow disk; the writer wakes every
/// [`WRITER_POLL_MS`].
const WRITER_RING_BLOCKS: usize = 128;

/// How often the writer thread looks for blocks.
const WRITER_POLL_MS: u64 = 20;

/// Reads a WAV file as captured audio: the first channel, converted to
/// s16, at the file's rate (which must be the stream's rate).
#[derive(Debug)]
pub struct WavSource {
    samples: Vec<i16>,
    position: usize,
    looped: bool,
    period_frames: usize,
    rate_hz: u32,
    pacer: Option<Pacer>,
}

impl WavSource {
    /// Reads all of `path` into memory.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is not WAV, or its rate differs from
    /// `params.rate_hz`.
    pub fn open(path: &Path, params: StreamParams, looped: bool) -> Result<WavSource, AudioError> {
        params.check(&path.display().to_string())?;
        let wav_err = |source| AudioError::Wav {
            path: path.to_owned(),
            source,
        };
        let reader = WavReader::open(path).map_err(wav_err)?;
        let spec = reader.spec();
        if spec.sample_rate != params.rate_hz {
            return Err(AudioError::WavFormat {
                path: path.to_owned(),
                reason: format!(
                    "sample rate {} Hz, but audio.sample_rate_hz is {} Hz",
                    spec.sample_rate, params.rate_hz
                ),
            });
        }
        let channels = usize::from(spec.channels.max(1));
        let samples = match spec.sample_format {
            SampleFormat::Int => {
                let shift = i32::from(spec.bits_per_sample) - 16;
                reader
                    .into_samples::<i32>()
                    .step_by(channels)
                    .map(|s| {
                        s.map(|v| {
                            let v = if shift >= 0 { v >> shift } else { v << -shift };
                            v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            }
            SampleFormat::Float => reader
                .into_samples::<f32>()
                .step_by(channels)
                .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32_767.0).round() as i16))
                .collect::<Result<Vec<_>, _>>(),
        }
        .map_err(wav_err)?;
        Ok(WavSource {
            samples,
            position: 0,
            looped,
            period_frames: params.period_frames,
            rate_hz: params.rate_hz,
            pacer: None,
        })
    }

    /// Frames in the file (one channel).
    pub fn len_frames(&self) -> usize {
        self.samples.len()
    }

    /// The file's samples (first channel, s16), without pacing: for
    /// reading a recording back.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }
}

impl PcmSource for WavSource {
    fn period_frames(&self) -> usize {
        self.period_frames
    }

    fn read_period(&mut self, frames: &mut [i16]) -> Result<ReadOutcome, AudioError> {
        if self.position >= self.samples.len() && !self.looped {
            return Ok(ReadOutcome::EndOfStream);
        }
        let mut filled = 0;
        while filled < frames.len() {
            if self.position >= self.samples.len() {
                if !self.looped || self.samples.is_empty() {
                    // The last partial period, padded with silence.
                    frames[filled..].fill(0);
                    break;
                }
                self.position = 0;
            }
            let n = (frames.len() - filled).min(self.samples.len() - self.position);
            frames[filled..filled + n]
                .copy_from_slice(&self.samples[self.position..self.position + n]);
            filled += n;
            self.position += n;
        }
        // The period is "captured" when its last frame is due.
        let rate_hz = self.rate_hz;
        self.pacer
            .get_or_insert_with(|| Pacer::new(rate_hz))
            .advance(frames.len() as u64, 0);
        Ok(ReadOutcome::Period)
    }
}

/// Writes played audio to a mono s16 WAV file at the stream's rate.
#[derive(Debug)]
pub struct WavSink {
    path: PathBuf,
    period_frames: usize,
    rate_hz: u32,
    pacer: Option<Pacer>,
    index: SampleIndex,
    ring: Option<rtrb::Producer<Block>>,
    writer: Option<JoinHandle<Result<(), hound::Error>>>,
    dropped: Arc<AtomicU64>,
}

impl WavSink {
    /// Creates (or truncates) `path` and starts its writer thread.
    ///
    /// # Errors
    ///
    /// When the file cannot be created or the thread started.
    pub fn create(path: &Path, params: StreamParams) -> Result<WavSink, AudioError> {
        params.check(&path.display().to_string())?;
        let spec = WavSpec {
            channels: 1,
            sample_rate: params.rate_hz,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        let mut file = WavWriter::create(path, spec).map_err(|source| AudioError::Wav {
            path: path.to_owned(),
            source,
        })?;
        let (producer, mut consumer) = rtrb::RingBuffer::<Block>::new(WRITER_RING_BLOCKS);
        let writer = std::thread::Builder::new()
            .name("wav-writer".to_owned())
            .spawn(move || -> Result<(), hound::Error> {
                loop {
                    // Read "abandoned" before draining, so that nothing
                    // pushed before the sink let go is missed.
                    let done = consumer.is_abandoned();
                    while let Ok(block) = consumer.pop() {
                        for &frame in block.frames() {
                            file.write_sample(frame)?;
                        }
                    }
                    if done {
                        return file.finalize();
                    }
                    std::thread::sleep(Duration::from_millis(WRITER_POLL_MS));
                }
            })
            .map_err(|source| AudioError::Spawn {
                name: "wav-writer".to_owned(),
                source,
            })?;
        Ok(WavSink {
            path: path.to_owned(),
            period_frames: params.period_frames,
            rate_hz: params.rate_hz,
            pacer: None,
            index: SampleIndex::ZERO,
            ring: Some(producer),
            writer: Some(writer),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Periods lost because the writer thread fell behind.
    pub fn dropped_periods(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl PcmSink for WavSink {
    fn period_frames(&self) -> usize {
        self.period_frames
    }

    fn write_period(&mut self, frames: &[i16]) -> Result<WriteOutcome, AudioError> {
        let block = Block::from_frames(self.index, frames);
        self.index = self.index.add_frames(frames.len() as u64);
        if let Some(ring) = &mut self.ring
            && ring.push(block).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let rate_hz = self.rate_hz;
        self.pacer
            .get_or_insert_with(|| Pacer::new(rate_hz))
            .advance(frames.len() as u64, 0);
        Ok(WriteOutcome::Written)
    }

    fn finish(&mut self) -> Result<(), AudioError> {
        // Dropping the producer tells the writer to drain and finalize.
        self.ring = None;
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let result = writer.join().map_err(|_| AudioError::WavFormat {
            path: self.path.clone(),
            reason: "the WAV writer thread panicked".to_owned(),
        })?;
        result.map_err(|source| AudioError::Wav {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        // A sink dropped without `finish` still leaves a complete file.
        let _ = self.finish();
    }
}
