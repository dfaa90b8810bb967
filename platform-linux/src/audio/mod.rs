//! The realtime audio threads: one capture and one playback thread per
//! channel (DESIGN.md "Threads on Linux", "Audio path").
//!
//! - [`PcmSource`] / [`PcmSink`]: one period in or out of a device. Opening
//!   and configuring happen before the loop; in the loop only
//!   [`PcmSource::read_period`] / [`PcmSink::write_period`] run.
//!   Implementations: ALSA ([`AlsaSource`], [`AlsaSink`], any PCM name) and
//!   WAV files ([`WavSource`], [`WavSink`], the `file:PATH.wav` devices for
//!   machines without sound cards). [`open_source`] / [`open_sink`] pick one
//!   from a device string.
//! - [`spawn_capture`] / [`spawn_playback`]: the named threads
//!   (`capture-<ch>`, `playback-<ch>`). Each promotes itself to SCHED_FIFO
//!   and locks memory ([`rt`]; a refusal is a warning), then loops over
//!   [`CaptureLoop::step`] / [`PlaybackLoop::step`] until its stop flag is
//!   set. The loops exchange [`Block`]s with the rest of the process only
//!   through rtrb rings made at startup ([`block_ring`]); they take no
//!   lock, log nothing and allocate nothing (`tests/audio_alloc.rs` counts).
//!   What happens is counted in [`Counters`].
//! - [`devices`]: the `echostream devices` listing (cards, USB paths,
//!   stable names).

pub mod devices;
mod file;
mod pcm;
pub mod pipeline;
pub mod rt;
mod thread;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use echostream_core::time::SampleIndex;

use crate::config::Device;

pub use file::{WavSink, WavSource};
pub use pcm::{AlsaSink, AlsaSource};
pub use rt::{RtSettings, RtStatus};
pub(crate) use thread::spawn as spawn_audio_thread;
pub use thread::{AudioThread, CaptureLoop, PlaybackLoop, Step, spawn_capture, spawn_playback};

/// The most frames one period may hold: 60 ms (the longest Opus frame, and
/// a period is at most one frame) at 48 kHz, the highest rate.
pub const MAX_PERIOD_FRAMES: usize = 2_880;

/// Ring capacity in blocks made by [`block_ring`]: 32 periods, 160 ms at
/// the default 5 ms period; enough to ride out a slow consumer without
/// holding stale audio for long.
pub const RING_BLOCKS: usize = 32;

const _: () = assert!(MAX_PERIOD_FRAMES == 60 * 48_000 / 1_000);
const _: () = assert!(MAX_PERIOD_FRAMES <= u16::MAX as usize);

/// One period of mono s16 audio and where it sits on the device's clock.
///
/// Fixed size, so moving it through a ring never allocates. Only the first
/// [`Block::len`] frames are audio.
#[derive(Clone)]
pub struct Block {
    /// The device clock at the first frame: frames delivered since the
    /// device started (frames lost to an overrun are not counted).
    pub index: SampleIndex,
    len: u16,
    frames: [i16; MAX_PERIOD_FRAMES],
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Block {
    /// A block of `len` silent frames at `index`.
    ///
    /// # Panics
    ///
    /// If `len` exceeds [`MAX_PERIOD_FRAMES`] (a period is checked against
    /// it when the device is opened).
    pub fn silent(index: SampleIndex, len: usize) -> Block {
        assert!(
            len <= MAX_PERIOD_FRAMES,
            "period longer than MAX_PERIOD_FRAMES"
        );
        Block {
            index,
            len: len as u16,
            frames: [0; MAX_PERIOD_FRAMES],
        }
    }

    /// A block holding a copy of `frames` at `index`.
    ///
    /// # Panics
    ///
    /// If `frames` is longer than [`MAX_PERIOD_FRAMES`].
    pub fn from_frames(index: SampleIndex, frames: &[i16]) -> Block {
        let mut block = Block::silent(index, frames.len());
        block.frames_mut().copy_from_slice(frames);
        block
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for a block with no frames.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The audio.
    pub fn frames(&self) -> &[i16] {
        &self.frames[..self.len()]
    }

    /// The audio, to fill in place.
    pub fn frames_mut(&mut self) -> &mut [i16] {
        let len = self.len();
        &mut self.frames[..len]
    }

    /// Sets the number of frames (the contents past the old length are
    /// whatever was there).
    ///
    /// # Panics
    ///
    /// If `len` exceeds [`MAX_PERIOD_FRAMES`].
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= MAX_PERIOD_FRAMES,
            "period longer than MAX_PERIOD_FRAMES"
        );
        self.len = len as u16;
    }
}

/// A ring of [`RING_BLOCKS`] blocks, allocated now (startup), never again.
pub fn block_ring() -> (rtrb::Producer<Block>, rtrb::Consumer<Block>) {
    rtrb::RingBuffer::new(RING_BLOCKS)
}

/// What one audio thread has done, readable from any thread while it runs.
///
/// Relaxed atomics: each is a statistic, read for logs and status, never
/// used to order other memory.
#[derive(Debug, Default)]
pub struct Counters {
    /// Periods moved (read from the source, or written to the sink,
    /// silence included).
    pub periods: AtomicU64,
    /// Overruns (capture) or underruns (playback) the device reported
    /// (ALSA `EPIPE`) and that were recovered, plus suspends (`ESTRPIPE`).
    pub xruns: AtomicU64,
    /// Captured periods dropped because the ring was full (the consumer
    /// is late).
    pub ring_full_drops: AtomicU64,
    /// Playback periods that found the ring empty and played silence.
    pub underruns: AtomicU64,
}

impl Counters {
    /// A fresh set, shared.
    pub fn new() -> Arc<Counters> {
        Arc::new(Counters::default())
    }

    /// A copy of the current values.
    pub fn snapshot(&self) -> CounterValues {
        CounterValues {
            periods: self.periods.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            ring_full_drops: self.ring_full_drops.load(Ordering::Relaxed),
            underruns: self.underruns.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The values of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterValues {
    /// See [`Counters::periods`].
    pub periods: u64,
    /// See [`Counters::xruns`].
    pub xruns: u64,
    /// See [`Counters::ring_full_drops`].
    pub ring_full_drops: u64,
    /// See [`Counters::underruns`].
    pub underruns: u64,
}

/// How a device is opened: the shape of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamParams {
    /// Sample rate (mono, s16).
    pub rate_hz: u32,
    /// Frames per period: one read or write.
    pub period_frames: usize,
    /// ALSA buffer length in periods (at least 2).
    pub buffer_periods: u32,
}

impl StreamParams {
    /// The parameters the `audio` section of a config asks for.
    pub fn from_config(audio: &crate::config::Audio) -> StreamParams {
        let period_frames = (audio.period_ms * f64::from(audio.sample_rate_hz) / 1_000.0).round();
        StreamParams {
            rate_hz: audio.sample_rate_hz,
            period_frames: period_frames as usize,
            buffer_periods: audio.buffer_periods,
        }
    }

    /// Checks the limits every source and sink relies on.
    fn check(&self, device: &str) -> Result<(), AudioError> {
        let reason = if self.rate_hz == 0 {
            "the sample rate is zero"
        } else if self.period_frames == 0 || self.period_frames > MAX_PERIOD_FRAMES {
            "the period must be 1 to 2880 frames (60 ms at 48 kHz)"
        } else if self.buffer_periods < 2 {
            "the buffer needs at least 2 periods"
        } else {
            return Ok(());
        };
        Err(AudioError::Params {
            device: device.to_owned(),
            reason,
        })
    }
}

/// Why a device cannot be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The stream parameters are outside what the threads support.
    #[error("audio device `{device}`: {reason}")]
    Params {
        /// The device string.
        device: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// ALSA refused to open or configure the PCM.
    #[error("ALSA device `{device}`: {what}: {source}")]
    Alsa {
        /// The PCM name.
        device: String,
        /// The step that failed (`open`, `set rate 48000 Hz`…).
        what: String,
        /// ALSA's error (its errno names the reason).
        source: alsa::Error,
    },
    /// A read or write failed in a way `snd_pcm_recover` cannot mend (the
    /// card was unplugged: `ENODEV`); the thread stops.
    #[error("ALSA stream failed: {0}")]
    Stream(alsa::Error),
    /// A WAV file cannot be read or written.
    #[error("WAV file `{}`: {source}", path.display())]
    Wav {
        /// The file.
        path: PathBuf,
        /// What hound said.
        source: hound::Error,
    },
    /// A WAV source does not match the stream.
    #[error("WAV file `{}`: {reason}", path.display())]
    WavFormat {
        /// The file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A thread could not be started.
    #[error("cannot start thread `{name}`: {source}")]
    Spawn {
        /// The thread name.
        name: String,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What one [`PcmSource::read_period`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The buffer holds a full period.
    Period,
    /// The device overran (`EPIPE`) or was suspended (`ESTRPIPE`) and was
    /// recovered; the buffer holds nothing usable this time.
    Xrun,
    /// A file source reached its end (no loop): nothing more will come.
    EndOfStream,
}

/// What one [`PcmSink::write_period`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The period was written.
    Written,
    /// The device underran and was recovered; the period was then written.
    Xrun,
}

/// Where captured audio comes from, one period at a time.
///
/// Everything that can allocate or block on anything but the device
/// happens when the source is made; `read_period` must not allocate, lock
/// or log: it runs on the realtime thread.
pub trait PcmSource: Send {
    /// Frames per period: the length `read_period` fills.
    fn period_frames(&self) -> usize;

    /// Fills `frames` (exactly [`PcmSource::period_frames`] long) with the
    /// next period, waiting for it in real time.
    ///
    /// # Errors
    ///
    /// [`AudioError::Stream`] when the device fails beyond recovery.
    fn read_period(&mut self, frames: &mut [i16]) -> Result<ReadOutcome, AudioError>;
}

/// Where playback audio goes, one period at a time.
///
/// As for [`PcmSource`]: `write_period` must not allocate, lock or log.
pub trait PcmSink: Send {
    /// Frames per period.
    fn period_frames(&self) -> usize;

    /// Plays `frames` (at most [`MAX_PERIOD_FRAMES`]), waiting in real time
    /// for room.
    ///
    /// # Errors
    ///
    /// [`AudioError::Stream`] when the device fails beyond recovery.
    fn write_period(&mut self, frames: &[i16]) -> Result<WriteOutcome, AudioError>;

    /// Called once after the loop: lets queued audio play out and closes
    /// files. May allocate, block and do disk I/O.
    ///
    /// # Errors
    ///
    /// When a file cannot be completed.
    fn finish(&mut self) -> Result<(), AudioError>;
}

/// Opens the input named by a config device string: `file:PATH.wav` (a
/// [`WavSource`], looping if `looped`) or any ALSA PCM name.
///
/// # Errors
///
/// When the device cannot be opened or does not take `params`.
pub fn open_source(
    spec: &str,
    params: StreamParams,
    looped: bool,
) -> Result<Box<dyn PcmSource>, AudioError> {
    Ok(match Device::parse(spec) {
        Device::File(path) => Box::new(WavSource::open(path, params, looped)?),
        Device::Alsa(name) => Box::new(AlsaSource::open(name, params)?),
    })
}

/// Opens the output named by a config device string: `file:PATH.wav` (a
/// [`WavSink`]) or any ALSA PCM name.
///
/// # Errors
///
/// When the device cannot be opened or does not take `params`.
pub fn open_sink(spec: &str, params: StreamParams) -> Result<Box<dyn PcmSink>, AudioError> {
    Ok(match Device::parse(spec) {
        Device::File(path) => Box::new(WavSink::create(path, params)?),
        Device::Alsa(name) => Box::new(AlsaSink::open(name, params)?),
    })
}

impl<T: PcmSource + ?Sized> PcmSource for Box<T> {
    fn period_frames(&self) -> usize {
        (**self).period_frames()
    }
    fn read_period(&mut self, frames: &mut [i16]) -> Result<ReadOutcome, AudioError> {
        (**self).read_period(frames)
    }
}

impl<T: PcmSink + ?Sized> PcmSink for Box<T> {
    fn period_frames(&self) -> usize {
        (**self).period_frames()
    }
    fn write_period(&mut self, frames: &[i16]) -> Result<WriteOutcome, AudioError> {
        (**self).write_period(frames)
    }
    fn finish(&mut self) -> Result<(), AudioError> {
        (**self).finish()
    }
}
