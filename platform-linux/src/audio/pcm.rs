//! ALSA capture and playback through the `alsa` crate (alsa-lib).
//!
//! The stream is opened blocking, interleaved s16, mono at the config's
//! rate; period and buffer are asked for and ALSA's nearest values taken
//! (reads and writes still move exactly one of our periods: `readi`/`writei`
//! block until it is through). A card that refuses mono (many USB cards
//! are stereo-only on `hw:`) is opened with its smallest channel count;
//! capture keeps the first channel and playback copies each frame to every
//! channel. A rate the card does not have is an error naming `plughw:`,
//! whose plug plugin converts rate, format and channels.
//!
//! ALSA errno meanings used (alsa-lib `snd_pcm_readi(3)`): `EPIPE` an
//! overrun/underrun, `ESTRPIPE` a suspend, both mended by
//! `snd_pcm_recover` and counted as xruns; `EAGAIN`/`EINTR` try again;
//! anything else (`ENODEV`: the card is gone, `EBADFD`) ends the thread.
//!
//! A PCM whose chain ends in ALSA's `null` plugin (`null`, or a `file`
//! plugin writing over `null`) is not clocked: its reads and writes return
//! at once. Those are held to real time on `CLOCK_MONOTONIC`, allowing the
//! buffer's worth of run-ahead a real card allows, so that tests and
//! card-less machines stream at the rate a card would.

use alsa::pcm::{Access, Format, HwParams, IO, PCM};
use alsa::{Direction, Output, ValueOr};

use super::rt::Pacer;
use super::{
    AudioError, MAX_PERIOD_FRAMES, PcmSink, PcmSource, ReadOutcome, StreamParams, WriteOutcome,
};

/// How many times one write re-tries after recovering an underrun before
/// giving up on the period.
const WRITE_RECOVERIES_MAX: u32 = 3;

/// The most channels a card may insist on (we use one of them).
const CHANNELS_MAX: u32 = 8;

/// An open, configured ALSA PCM.
struct Stream {
    pcm: PCM,
    /// Channels the device was opened with (1 unless it refused mono).
    channels: usize,
    period_frames: usize,
    /// Interleaved scratch for multi-channel devices, sized at open.
    interleaved: Vec<i16>,
    /// True for unclocked (`null`) chains, which we pace ourselves.
    unclocked: bool,
    rate_hz: u32,
    /// Started at the first period of an unclocked chain.
    pacer: Option<Pacer>,
    /// Frames the pacer lets the stream run ahead (the buffer).
    slack_frames: u64,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("channels", &self.channels)
            .field("period_frames", &self.period_frames)
            .field("unclocked", &self.unclocked)
            .finish_non_exhaustive()
    }
}

fn alsa_err(device: &str, what: impl Into<String>) -> impl FnOnce(alsa::Error) -> AudioError {
    let device = device.to_owned();
    let what = what.into();
    move |source| AudioError::Alsa {
        device,
        what,
        source,
    }
}

impl Stream {
    fn open(name: &str, direction: Direction, params: StreamParams) -> Result<Stream, AudioError> {
        params.check(name)?;
        let pcm = PCM::new(name, direction, false).map_err(alsa_err(name, "open"))?;
        let (channels, buffer_frames) = {
            let hw = HwParams::any(&pcm).map_err(alsa_err(name, "read hardware parameters"))?;
            hw.set_access(Access::RWInterleaved)
                .map_err(alsa_err(name, "set interleaved access"))?;
            hw.set_format(Format::s16()).map_err(alsa_err(
                name,
                "set format S16_LE (use `plughw:` to convert)",
            ))?;
            let channels = match hw.set_channels(1) {
                Ok(()) => 1,
                Err(_) => {
                    let min = hw
                        .get_channels_min()
                        .map_err(alsa_err(name, "read channel counts"))?;
                    if min > CHANNELS_MAX {
                        return Err(AudioError::Params {
                            device: name.to_owned(),
                            reason: "the device needs more than 8 channels",
                        });
                    }
                    hw.set_channels(min)
                        .map_err(alsa_err(name, format!("set {min} channels")))?;
                    min
                }
            };
            hw.set_rate(params.rate_hz, ValueOr::Nearest)
                .map_err(alsa_err(
                    name,
                    format!("set rate {} Hz (use `plughw:` to resample)", params.rate_hz),
                ))?;
            let rate = hw.get_rate().map_err(alsa_err(name, "read rate"))?;
            if rate != params.rate_hz {
                return Err(AudioError::Alsa {
                    device: name.to_owned(),
                    what: format!(
                        "rate {} Hz not available (nearest {rate} Hz; use `plughw:` to resample)",
                        params.rate_hz
                    ),
                    source: alsa::Error::new("snd_pcm_hw_params_set_rate_near", libc::EINVAL),
                });
            }
            let period = hw
                .set_period_size_near(params.period_frames as alsa::pcm::Frames, ValueOr::Nearest)
                .map_err(alsa_err(
                    name,
                    format!("set period {} frames", params.period_frames),
                ))?;
            let buffer = hw
                .set_buffer_size_near(period * alsa::pcm::Frames::from(params.buffer_periods))
                .map_err(alsa_err(
                    name,
                    format!("set buffer {} periods", params.buffer_periods),
                ))?;
            pcm.hw_params(&hw)
                .map_err(alsa_err(name, "apply hardware parameters"))?;
            (channels as usize, buffer)
        };
        if direction == Direction::Playback {
            // Start playing once the buffer is full: the first periods
            // written are the latency margin the config asked for.
            let sw = pcm
                .sw_params_current()
                .map_err(alsa_err(name, "read software parameters"))?;
            sw.set_start_threshold(buffer_frames)
                .map_err(alsa_err(name, "set start threshold"))?;
            pcm.sw_params(&sw)
                .map_err(alsa_err(name, "apply software parameters"))?;
        }
        let unclocked = is_unclocked(&pcm);
        let interleaved = if channels > 1 {
            vec![0; params.period_frames * channels]
        } else {
            Vec::new()
        };
        debug_assert!(params.period_frames <= MAX_PERIOD_FRAMES);
        Ok(Stream {
            pcm,
            channels,
            period_frames: params.period_frames,
            interleaved,
            unclocked,
            rate_hz: params.rate_hz,
            pacer: None,
            slack_frames: u64::try_from(buffer_frames).unwrap_or(0),
        })
    }

    fn pace(&mut self) {
        if self.unclocked {
            let rate_hz = self.rate_hz;
            self.pacer
                .get_or_insert_with(|| Pacer::new(rate_hz))
                .advance(self.period_frames as u64, self.slack_frames);
        }
    }
}

/// Is the PCM chain's last slave ALSA's `null` plugin? Read from
/// `snd_pcm_dump`, which names each plugin ("Null PCM").
fn is_unclocked(pcm: &PCM) -> bool {
    let Ok(mut out) = Output::buffer_open() else {
        return false;
    };
    if pcm.dump(&mut out).is_err() {
        return false;
    }
    out.buffer_string(|text| String::from_utf8_lossy(text).contains("Null PCM"))
}

/// The PCM's i16 reader/writer, for one call.
fn io_i16(pcm: &PCM) -> IO<'_, i16> {
    // SAFETY: the format was set to S16_LE (i16) in `Stream::open`, and no
    // other IO object for this PCM exists: each is made for one call and
    // dropped before the next. (`io_i16()` checks the same thing by reading
    // the hardware parameters, which mallocs.)
    unsafe { pcm.io_unchecked::<i16>() }
}

fn is_xrun(err: &alsa::Error) -> bool {
    matches!(err.errno(), libc::EPIPE | libc::ESTRPIPE)
}

fn is_retry(err: &alsa::Error) -> bool {
    matches!(err.errno(), libc::EAGAIN | libc::EINTR)
}

/// Captures from an ALSA PCM (any name: `plughw:CARD=Radio1,DEV=0`,
/// `default`, `null`…).
#[derive(Debug)]
pub struct AlsaSource {
    stream: Stream,
}

impl AlsaSource {
    /// Opens and configures `name` for capture.
    ///
    /// # Errors
    ///
    /// When ALSA cannot open the PCM or refuses the parameters.
    pub fn open(name: &str, params: StreamParams) -> Result<AlsaSource, AudioError> {
        Ok(AlsaSource {
            stream: Stream::open(name, Direction::Capture, params)?,
        })
    }

    /// Channels the device was opened with (1 unless it refused mono).
    pub fn channels(&self) -> usize {
        self.stream.channels
    }
}

impl PcmSource for AlsaSource {
    fn period_frames(&self) -> usize {
        self.stream.period_frames
    }

    fn read_period(&mut self, frames: &mut [i16]) -> Result<ReadOutcome, AudioError> {
        let stream = &mut self.stream;
        let channels = stream.channels;
        let len = frames.len().min(stream.period_frames);
        let frames = &mut frames[..len];
        let mut filled = 0;
        while filled < frames.len() {
            let result = {
                let io = io_i16(&stream.pcm);
                if channels == 1 {
                    io.readi(&mut frames[filled..])
                } else {
                    io.readi(&mut stream.interleaved[filled * channels..frames.len() * channels])
                }
            };
            match result {
                Ok(n) => filled += n,
                Err(err) if is_retry(&err) => {}
                Err(err) if is_xrun(&err) => {
                    stream
                        .pcm
                        .try_recover(err, true)
                        .map_err(AudioError::Stream)?;
                    return Ok(ReadOutcome::Xrun);
                }
                Err(err) => return Err(AudioError::Stream(err)),
            }
        }
        if channels > 1 {
            // Keep the first channel: a radio's audio is on one side (or
            // both, identically).
            for (frame, chunk) in frames
                .iter_mut()
                .zip(stream.interleaved.chunks_exact(channels))
            {
                *frame = chunk[0];
            }
        }
        stream.pace();
        Ok(ReadOutcome::Period)
    }
}

/// Plays to an ALSA PCM.
#[derive(Debug)]
pub struct AlsaSink {
    stream: Stream,
}

impl AlsaSink {
    /// Opens and configures `name` for playback.
    ///
    /// # Errors
    ///
    /// When ALSA cannot open the PCM or refuses the parameters.
    pub fn open(name: &str, params: StreamParams) -> Result<AlsaSink, AudioError> {
        Ok(AlsaSink {
            stream: Stream::open(name, Direction::Playback, params)?,
        })
    }

    /// Channels the device was opened with (1 unless it refused mono).
    pub fn channels(&self) -> usize {
        self.stream.channels
    }
}

impl PcmSink for AlsaSink {
    fn period_frames(&self) -> usize {
        self.stream.period_frames
    }

    fn write_period(&mut self, frames: &[i16]) -> Result<WriteOutcome, AudioError> {
        let stream = &mut self.stream;
        let channels = stream.channels;
        let frames = &frames[..frames.len().min(stream.period_frames)];
        if channels > 1 {
            for (frame, chunk) in frames
                .iter()
                .zip(stream.interleaved.chunks_exact_mut(channels))
            {
                chunk.fill(*frame);
            }
        }
        let mut outcome = WriteOutcome::Written;
        let mut recoveries = 0;
        let mut written = 0;
        while written < frames.len() {
            let result = {
                let io = io_i16(&stream.pcm);
                if channels == 1 {
                    io.writei(&frames[written..])
                } else {
                    io.writei(&stream.interleaved[written * channels..frames.len() * channels])
                }
            };
            match result {
                Ok(n) => written += n,
                Err(err) if is_retry(&err) => {}
                Err(err) if is_xrun(&err) => {
                    stream
                        .pcm
                        .try_recover(err, true)
                        .map_err(AudioError::Stream)?;
                    outcome = WriteOutcome::Xrun;
                    recoveries += 1;
                    if recoveries > WRITE_RECOVERIES_MAX {
                        break;
                    }
                }
                Err(err) => return Err(AudioError::Stream(err)),
            }
        }
        stream.pace();
        Ok(outcome)
    }

    fn finish(&mut self) -> Result<(), AudioError> {
        // Let what is queued play out (at once on unclocked chains).
        self.stream.pcm.drain().map_err(AudioError::Stream)
    }
}
