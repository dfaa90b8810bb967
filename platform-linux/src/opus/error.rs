//! The one error type of the Opus wrapper.

use core::ffi::{CStr, c_int};

/// What went wrong in an Opus call.
///
/// Bad input (a frame of the wrong length, a buffer too small, garbage
/// packet bytes, a setting out of range) is always one of these, never a
/// panic and never undefined behaviour: the wrapper checks lengths before
/// libopus sees a pointer. Creating the value allocates nothing, so the
/// audio threads can return it from their loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpusError {
    /// libopus refused: `code` is its negative return value
    /// (`OPUS_BAD_ARG`, `OPUS_BUFFER_TOO_SMALL`, `OPUS_INVALID_PACKET`, …),
    /// `message` its `opus_strerror` text.
    #[error("libopus: {message} ({code})")]
    Codec {
        /// The libopus error code (negative).
        code: i32,
        /// `opus_strerror(code)`.
        message: &'static str,
    },
    /// The PCM block handed to `encode` is not exactly one frame.
    #[error("pcm block of {actual} samples; one frame is {expected} (samples × channels)")]
    FrameLength {
        /// Samples one frame takes (per channel × channels).
        expected: usize,
        /// Samples handed in.
        actual: usize,
    },
    /// An output buffer cannot hold what the call would write.
    #[error("output buffer of {actual}; the call needs at least {needed}")]
    OutputTooSmall {
        /// Minimum length (bytes for packets, samples × channels for PCM).
        needed: usize,
        /// Length handed in.
        actual: usize,
    },
    /// `decode` or `decode_fec` got a zero-length packet; a missing packet
    /// is concealed with `conceal`.
    #[error("empty packet (use conceal for a missing packet)")]
    EmptyPacket,
    /// Not one of the rates Opus runs at.
    #[error("sample rate {0} Hz; Opus takes 8000, 12000, 16000, 24000 or 48000")]
    SampleRate(u32),
    /// Not mono or stereo.
    #[error("{0} channels; Opus takes 1 or 2")]
    Channels(u8),
    /// An encoder setting outside what libopus accepts.
    #[error("{name} = {value} is outside {min} to {max}")]
    OutOfRange {
        /// The `EncoderConfig` field.
        name: &'static str,
        /// The value given.
        value: u32,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
}

impl OpusError {
    /// The error for a negative libopus return value.
    pub(crate) fn from_code(code: c_int) -> OpusError {
        // SAFETY: opus_strerror takes any int and returns a pointer into a
        // static table of NUL-terminated ASCII strings ("unknown error" for
        // codes it does not know); it never returns NULL and the strings
        // live as long as the program, so 'static is right.
        let text = unsafe { CStr::from_ptr(opusic_sys::opus_strerror(code)) };
        OpusError::Codec {
            code,
            message: text.to_str().unwrap_or("unknown error"),
        }
    }

    /// The libopus error code, if libopus raised this error.
    pub fn code(&self) -> Option<i32> {
        match self {
            OpusError::Codec { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `OPUS_BAD_ARG`: an argument libopus refused.
pub const BAD_ARG: i32 = opusic_sys::OPUS_BAD_ARG;
/// `OPUS_BUFFER_TOO_SMALL`: the output buffer cannot hold the result.
pub const BUFFER_TOO_SMALL: i32 = opusic_sys::OPUS_BUFFER_TOO_SMALL;
/// `OPUS_INVALID_PACKET`: the bytes are not an Opus packet.
pub const INVALID_PACKET: i32 = opusic_sys::OPUS_INVALID_PACKET;

/// Turns a libopus return value into the count it carries, or the error.
pub(crate) fn check(ret: c_int) -> Result<usize, OpusError> {
    usize::try_from(ret).map_err(|_| OpusError::from_code(ret))
}
