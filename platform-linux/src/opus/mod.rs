//! Opus (RFC 6716) encoder and decoder: a safe wrapper over `opusic-sys`
//! (libopus 1.6, bundled and built with cmake; DESIGN.md, "Dependencies").
//!
//! Both sides are created once, at startup, and then run on an audio
//! thread without allocating:
//!
//! - the codec state lives in one block we allocate at construction
//!   (`opus_*_get_size` + `opus_*_init`, 16-byte aligned like `malloc`'s;
//!   `state.rs`) and free on drop;
//! - libopus takes its per-frame scratch from the stack (opusic-sys' cmake
//!   build detects C99 variable-length arrays and defines `VAR_ARRAYS`), so
//!   an encode or decode never calls `malloc`. `tests/opus_alloc.rs` counts
//!   both Rust and C allocations across 1000 frames to keep it that way.
//!   The scratch reaches tens of KiB (`opus_decode` alone puts a float
//!   copy of its output, up to 23 KiB for a 120 ms packet, on the stack):
//!   audio threads need an ordinary stack (Rust's 2 MiB default), not a
//!   tiny one.
//!
//! [`Encoder::encode`] takes exactly one frame of interleaved `i16` PCM and
//! writes one packet; [`Decoder`] turns packets back into PCM, conceals a
//! missing frame ([`Decoder::conceal`], libopus' PLC) or rebuilds it from
//! the in-band FEC of the packet after it ([`Decoder::decode_fec`]).
//! Lengths are checked before libopus sees a pointer: bad input is an
//! [`OpusError`], never a panic.

mod decoder;
mod encoder;
mod error;
mod packet;
mod state;

pub use decoder::Decoder;
pub use encoder::{Encoder, EncoderConfig};
pub use error::{BAD_ARG, BUFFER_TOO_SMALL, INVALID_PACKET, OpusError};
pub use packet::{packet_has_fec, packet_samples};

use crate::config::{Audio, OpusApplication};

/// Largest packet [`Encoder::encode`] needs room for: the 4000 bytes the
/// libopus documentation recommends for `max_data_bytes` (opus.h). At the
/// bitrates EchoStream uses a 20 ms packet is well under 100 bytes.
pub const MAX_PACKET_LEN: usize = 4000;

/// Samples per channel in the longest Opus packet (120 ms at 48 kHz): a
/// decode buffer this long takes any packet a peer can send.
pub const MAX_PACKET_SAMPLES: usize = 5760;

/// The sample rates Opus runs at natively.
pub const SAMPLE_RATES_HZ: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// Checks a sample rate and channel count the way `opus_*_init` would,
/// and returns them as C ints.
fn check_format(sample_rate_hz: u32, channels: u8) -> Result<(i32, i32), OpusError> {
    if !SAMPLE_RATES_HZ.contains(&sample_rate_hz) {
        return Err(OpusError::SampleRate(sample_rate_hz));
    }
    if !(1..=2).contains(&channels) {
        return Err(OpusError::Channels(channels));
    }
    Ok((sample_rate_hz as i32, i32::from(channels)))
}

/// The libopus version, e.g. `libopus 1.6` (`opus_get_version_string`):
/// what an Ogg Opus file names as its encoder.
pub fn version() -> &'static str {
    // SAFETY: opus_get_version_string takes nothing and returns a pointer
    // to a static NUL-terminated ASCII string that lives as long as the
    // program; it never returns NULL.
    let text = unsafe { core::ffi::CStr::from_ptr(opusic_sys::opus_get_version_string()) };
    text.to_str().unwrap_or("libopus")
}

/// Samples per channel in `ms_x10` tenths of a millisecond at `rate_hz`.
const fn samples_in_tenth_ms(ms_x10: u32, rate_hz: u32) -> usize {
    (rate_hz as usize * ms_x10 as usize) / 10_000
}

/// The frame lengths Opus encodes (RFC 6716 §2.1.4).
///
/// 2.5 and 5 ms frames are CELT only: no in-band FEC, whatever the
/// encoder's `fec` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDuration {
    /// 2.5 ms.
    Ms2_5,
    /// 5 ms.
    Ms5,
    /// 10 ms.
    Ms10,
    /// 20 ms (EchoStream's default).
    Ms20,
    /// 40 ms.
    Ms40,
    /// 60 ms.
    Ms60,
}

impl FrameDuration {
    /// Every duration, shortest first.
    pub const ALL: [FrameDuration; 6] = [
        FrameDuration::Ms2_5,
        FrameDuration::Ms5,
        FrameDuration::Ms10,
        FrameDuration::Ms20,
        FrameDuration::Ms40,
        FrameDuration::Ms60,
    ];

    /// The duration in tenths of a millisecond (exact for 2.5 ms).
    pub const fn tenth_ms(self) -> u32 {
        match self {
            FrameDuration::Ms2_5 => 25,
            FrameDuration::Ms5 => 50,
            FrameDuration::Ms10 => 100,
            FrameDuration::Ms20 => 200,
            FrameDuration::Ms40 => 400,
            FrameDuration::Ms60 => 600,
        }
    }

    /// The duration in milliseconds.
    pub fn ms(self) -> f64 {
        f64::from(self.tenth_ms()) / 10.0
    }

    /// The duration for `ms` (2.5, 5, 10, 20, 40 or 60, as
    /// `audio.frame_ms` writes it); `None` for anything else.
    pub fn from_ms(ms: f64) -> Option<FrameDuration> {
        FrameDuration::ALL.into_iter().find(|d| d.ms() == ms)
    }

    /// Samples per channel in one frame at `rate_hz` (960 for 20 ms at 48
    /// kHz; 20 for 2.5 ms at 8 kHz). Whole for every Opus rate.
    pub const fn samples_per_channel(self, rate_hz: u32) -> usize {
        samples_in_tenth_ms(self.tenth_ms(), rate_hz)
    }
}

// Every frame length is a whole number of samples at every Opus rate.
const _: () = {
    let mut r = 0;
    while r < SAMPLE_RATES_HZ.len() {
        assert!((SAMPLE_RATES_HZ[r] as usize * 25).is_multiple_of(10_000));
        r += 1;
    }
};

/// The Opus application mode (`OPUS_APPLICATION_*`): what the encoder
/// tunes for. Fixed for the life of an encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Application {
    /// Speech intelligibility (SILK/hybrid for speech; in-band FEC works).
    Voip,
    /// Fidelity to the input (music, tones).
    Audio,
    /// CELT only, the lowest algorithmic delay (2.5 ms of look-ahead instead
    /// of 6.5 ms); no in-band FEC.
    RestrictedLowDelay,
}

impl Application {
    fn to_c(self) -> i32 {
        match self {
            Application::Voip => opusic_sys::OPUS_APPLICATION_VOIP,
            Application::Audio => opusic_sys::OPUS_APPLICATION_AUDIO,
            Application::RestrictedLowDelay => opusic_sys::OPUS_APPLICATION_RESTRICTED_LOWDELAY,
        }
    }
}

impl From<OpusApplication> for Application {
    fn from(app: OpusApplication) -> Application {
        match app {
            OpusApplication::Voip => Application::Voip,
            OpusApplication::Audio => Application::Audio,
            OpusApplication::RestrictedLowdelay => Application::RestrictedLowDelay,
        }
    }
}

impl EncoderConfig {
    /// The encoder settings of a config file's `audio` section (mono).
    ///
    /// # Errors
    ///
    /// `audio.frame_ms` not an Opus frame length ([`OpusError::OutOfRange`]
    /// naming `frame_ms`); a validated config never has one.
    pub fn from_audio(audio: &Audio) -> Result<EncoderConfig, OpusError> {
        let frame = FrameDuration::from_ms(audio.frame_ms).ok_or(OpusError::OutOfRange {
            name: "frame_ms",
            value: audio.frame_ms as u32,
            min: 2,
            max: 60,
        })?;
        Ok(EncoderConfig {
            sample_rate_hz: audio.sample_rate_hz,
            channels: 1,
            application: audio.opus.application.into(),
            bitrate_bps: audio.opus.bitrate_bps,
            complexity: audio.opus.complexity,
            vbr: true,
            fec: audio.opus.fec,
            expected_loss_pct: audio.opus.expected_loss_pct,
            dtx: audio.opus.dtx,
            frame,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_samples() {
        assert_eq!(FrameDuration::Ms20.samples_per_channel(48_000), 960);
        assert_eq!(FrameDuration::Ms10.samples_per_channel(48_000), 480);
        assert_eq!(FrameDuration::Ms2_5.samples_per_channel(48_000), 120);
        assert_eq!(FrameDuration::Ms2_5.samples_per_channel(8_000), 20);
        assert_eq!(FrameDuration::Ms60.samples_per_channel(16_000), 960);
    }

    #[test]
    fn from_ms_round_trips() {
        for d in FrameDuration::ALL {
            assert_eq!(FrameDuration::from_ms(d.ms()), Some(d));
        }
        assert_eq!(FrameDuration::from_ms(2.0), None);
        assert_eq!(FrameDuration::from_ms(f64::NAN), None);
    }

    #[test]
    fn config_defaults_make_an_encoder_config() {
        let cfg = EncoderConfig::from_audio(&Audio::default()).unwrap();
        assert_eq!(cfg.frame, FrameDuration::Ms20);
        assert_eq!(cfg.sample_rate_hz, 48_000);
        assert_eq!(cfg.application, Application::Voip);
        assert_eq!(cfg.bitrate_bps, 24_000);
        Encoder::new(cfg).unwrap();
    }
}
