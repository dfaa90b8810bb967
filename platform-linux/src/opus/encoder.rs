//! The Opus encoder: one state, configured once, one frame per call.

use core::ffi::c_int;

use opusic_sys as sys;

use super::error::{OpusError, check};
use super::state::StateBuf;
use super::{Application, FrameDuration, check_format};

/// Everything an [`Encoder`] is created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// 8000, 12000, 16000, 24000 or 48000.
    pub sample_rate_hz: u32,
    /// 1 (EchoStream is mono) or 2; PCM is interleaved.
    pub channels: u8,
    /// What the encoder tunes for; fixed for its life.
    pub application: Application,
    /// Target bitrate, 6000 to 510000 bit/s (RFC 6716 §2.1.1).
    pub bitrate_bps: u32,
    /// Effort, 0 (cheapest) to 10 (best).
    pub complexity: u32,
    /// Variable bitrate (libopus' default) or constant (`false`).
    pub vbr: bool,
    /// In-band FEC: each SILK packet carries a low-rate copy of the frame
    /// before it. Set as `OPUS_SET_INBAND_FEC(2)`, libopus 1.5's mode that
    /// adds FEC without forcing SILK onto music or tones. No effect with
    /// [`Application::RestrictedLowDelay`] or frames under 10 ms (CELT).
    pub fec: bool,
    /// Loss the encoder plans for, 0 to 100 %; with `fec`, more loss means
    /// a stronger FEC copy at the cost of the main signal.
    pub expected_loss_pct: u32,
    /// Discontinuous transmission: during silence most packets are 1–2
    /// bytes (a TOC alone), which the sender may skip.
    pub dtx: bool,
    /// Frame length; [`Encoder::encode`] takes exactly one.
    pub frame: FrameDuration,
}

/// `OPUS_SET_INBAND_FEC` value for `fec: true` (see [`EncoderConfig::fec`]).
const INBAND_FEC_ON: i32 = 2;

/// An Opus encoder for one stream, its state in memory allocated once.
///
/// Made at startup, moved into the capture thread (it is `Send`), then
/// [`encode`](Encoder::encode) once per frame: no allocation, no lock, no
/// system call.
#[derive(Debug)]
pub struct Encoder {
    state: StateBuf,
    config: EncoderConfig,
    /// Samples per channel in one frame.
    frame_samples: usize,
}

impl Encoder {
    /// Allocates and initialises an encoder and applies every setting.
    ///
    /// # Errors
    ///
    /// A rate, channel count or setting Opus does not take
    /// ([`OpusError::SampleRate`], [`OpusError::Channels`],
    /// [`OpusError::OutOfRange`]), or libopus refusing one
    /// ([`OpusError::Codec`]).
    pub fn new(config: EncoderConfig) -> Result<Encoder, OpusError> {
        let (rate, channels) = check_format(config.sample_rate_hz, config.channels)?;
        in_range("bitrate_bps", config.bitrate_bps, 6_000, 510_000)?;
        in_range("complexity", config.complexity, 0, 10)?;
        in_range("expected_loss_pct", config.expected_loss_pct, 0, 100)?;

        // SAFETY: plain function of an int; channels is 1 or 2.
        let size = unsafe { sys::opus_encoder_get_size(channels) };
        let mut state = StateBuf::zeroed(usize::try_from(size).unwrap_or(0));
        // SAFETY: the block is opus_encoder_get_size(channels) bytes,
        // aligned like malloc's (what opus_encoder_create uses), zeroed,
        // and ours alone; opus_encoder_init writes only inside it.
        let ret = unsafe {
            sys::opus_encoder_init(
                state.as_mut_ptr(),
                rate,
                channels,
                config.application.to_c(),
            )
        };
        check(ret)?;

        let mut encoder = Encoder {
            state,
            config,
            frame_samples: config.frame.samples_per_channel(config.sample_rate_hz),
        };
        encoder.set(sys::OPUS_SET_BITRATE_REQUEST, config.bitrate_bps as i32)?;
        encoder.set(sys::OPUS_SET_COMPLEXITY_REQUEST, config.complexity as i32)?;
        encoder.set(sys::OPUS_SET_VBR_REQUEST, i32::from(config.vbr))?;
        let fec = if config.fec { INBAND_FEC_ON } else { 0 };
        encoder.set(sys::OPUS_SET_INBAND_FEC_REQUEST, fec)?;
        encoder.set(
            sys::OPUS_SET_PACKET_LOSS_PERC_REQUEST,
            config.expected_loss_pct as i32,
        )?;
        encoder.set(sys::OPUS_SET_DTX_REQUEST, i32::from(config.dtx))?;
        // The input is 16-bit: tell the encoder not to spend bits below it.
        encoder.set(sys::OPUS_SET_LSB_DEPTH_REQUEST, 16)?;
        Ok(encoder)
    }

    /// Encodes one frame of interleaved PCM into `out`; returns the packet
    /// length in bytes. With `dtx`, a packet of 1–2 bytes means "silence,
    /// nothing worth sending" (the decoder conceals the gap).
    ///
    /// `out` of [`MAX_PACKET_LEN`](super::MAX_PACKET_LEN) always suffices;
    /// a shorter one caps the packet (libopus lowers the bitrate to fit).
    ///
    /// # Errors
    ///
    /// `pcm` not exactly one frame ([`OpusError::FrameLength`]); `out`
    /// empty ([`OpusError::OutputTooSmall`]); libopus failing
    /// ([`OpusError::Codec`], e.g. `OPUS_BUFFER_TOO_SMALL` when `out` cannot
    /// hold even a minimal packet).
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        let expected = self.frame_samples * usize::from(self.config.channels);
        if pcm.len() != expected {
            return Err(OpusError::FrameLength {
                expected,
                actual: pcm.len(),
            });
        }
        if out.is_empty() {
            return Err(OpusError::OutputTooSmall {
                needed: 1,
                actual: 0,
            });
        }
        let max_bytes = i32::try_from(out.len()).unwrap_or(i32::MAX);
        // SAFETY: the state was initialised in `new` and is borrowed
        // mutably; `pcm` holds exactly frame_samples × channels samples
        // (checked above), which is what opus_encode reads for
        // `frame_samples`; `out` is writable for `max_bytes` ≤ out.len()
        // bytes, the most opus_encode writes. frame_samples ≤ 2880 fits c_int.
        let ret = unsafe {
            sys::opus_encode(
                self.state.as_mut_ptr(),
                pcm.as_ptr(),
                self.frame_samples as c_int,
                out.as_mut_ptr(),
                max_bytes,
            )
        };
        check(ret)
    }

    /// The settings this encoder was created with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Samples per channel [`encode`](Encoder::encode) takes.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// The settings as libopus reports them (`OPUS_GET_*`), to check that
    /// what was asked for took effect.
    ///
    /// # Errors
    ///
    /// A request libopus refuses ([`OpusError::Codec`]); not expected.
    pub fn applied(&mut self) -> Result<EncoderConfig, OpusError> {
        let application = match self.get(sys::OPUS_GET_APPLICATION_REQUEST)? {
            sys::OPUS_APPLICATION_VOIP => Application::Voip,
            sys::OPUS_APPLICATION_AUDIO => Application::Audio,
            _ => Application::RestrictedLowDelay,
        };
        Ok(EncoderConfig {
            sample_rate_hz: self.get(sys::OPUS_GET_SAMPLE_RATE_REQUEST)? as u32,
            channels: self.config.channels,
            application,
            bitrate_bps: self.get(sys::OPUS_GET_BITRATE_REQUEST)? as u32,
            complexity: self.get(sys::OPUS_GET_COMPLEXITY_REQUEST)? as u32,
            vbr: self.get(sys::OPUS_GET_VBR_REQUEST)? != 0,
            fec: self.get(sys::OPUS_GET_INBAND_FEC_REQUEST)? != 0,
            expected_loss_pct: self.get(sys::OPUS_GET_PACKET_LOSS_PERC_REQUEST)? as u32,
            dtx: self.get(sys::OPUS_GET_DTX_REQUEST)? != 0,
            frame: self.config.frame,
        })
    }

    /// The encoder's look-ahead in samples per channel at its rate
    /// (`OPUS_GET_LOOKAHEAD`): part of the end-to-end delay.
    ///
    /// # Errors
    ///
    /// A request libopus refuses; not expected.
    pub fn lookahead_samples(&mut self) -> Result<usize, OpusError> {
        Ok(self.get(sys::OPUS_GET_LOOKAHEAD_REQUEST)?.max(0) as usize)
    }

    /// Whether the last frame was treated as silence under DTX
    /// (`OPUS_GET_IN_DTX`).
    ///
    /// # Errors
    ///
    /// A request libopus refuses; not expected.
    pub fn in_dtx(&mut self) -> Result<bool, OpusError> {
        Ok(self.get(sys::OPUS_GET_IN_DTX_REQUEST)? != 0)
    }

    /// Changes the target bitrate between frames (allocation-free).
    ///
    /// # Errors
    ///
    /// Outside 6000 to 510000 ([`OpusError::OutOfRange`]).
    pub fn set_bitrate_bps(&mut self, bitrate_bps: u32) -> Result<(), OpusError> {
        in_range("bitrate_bps", bitrate_bps, 6_000, 510_000)?;
        self.set(sys::OPUS_SET_BITRATE_REQUEST, bitrate_bps as i32)?;
        self.config.bitrate_bps = bitrate_bps;
        Ok(())
    }

    /// Changes the loss the FEC plans for between frames, e.g. from the
    /// loss the receiver reports (allocation-free).
    ///
    /// # Errors
    ///
    /// Over 100 ([`OpusError::OutOfRange`]).
    pub fn set_expected_loss_pct(&mut self, loss_pct: u32) -> Result<(), OpusError> {
        in_range("expected_loss_pct", loss_pct, 0, 100)?;
        self.set(sys::OPUS_SET_PACKET_LOSS_PERC_REQUEST, loss_pct as i32)?;
        self.config.expected_loss_pct = loss_pct;
        Ok(())
    }

    /// Forgets the signal history (`OPUS_RESET_STATE`), keeping the
    /// settings: for the start of a new talk-spurt after a long gap.
    ///
    /// # Errors
    ///
    /// A request libopus refuses; not expected.
    pub fn reset(&mut self) -> Result<(), OpusError> {
        // SAFETY: initialised state, borrowed mutably; OPUS_RESET_STATE
        // takes no variadic argument.
        let ret = unsafe { sys::opus_encoder_ctl(self.state.as_mut_ptr(), sys::OPUS_RESET_STATE) };
        check(ret).map(drop)
    }

    /// An `OPUS_SET_*` request taking one `opus_int32`.
    fn set(&mut self, request: c_int, value: i32) -> Result<(), OpusError> {
        // SAFETY: initialised state, borrowed mutably; every SET request
        // used here reads exactly one opus_int32 (i32) vararg.
        let ret = unsafe { sys::opus_encoder_ctl(self.state.as_mut_ptr(), request, value) };
        check(ret).map(drop)
    }

    /// An `OPUS_GET_*` request writing one `opus_int32`.
    fn get(&mut self, request: c_int) -> Result<i32, OpusError> {
        let mut value: i32 = 0;
        // SAFETY: initialised state, borrowed mutably; every GET request
        // used here reads one `opus_int32 *` vararg and writes one i32
        // through it; `value` outlives the call.
        let ret = unsafe {
            sys::opus_encoder_ctl(self.state.as_mut_ptr(), request, &mut value as *mut i32)
        };
        check(ret)?;
        Ok(value)
    }
}

fn in_range(name: &'static str, value: u32, min: u32, max: u32) -> Result<(), OpusError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(OpusError::OutOfRange {
            name,
            value,
            min,
            max,
        })
    }
}
