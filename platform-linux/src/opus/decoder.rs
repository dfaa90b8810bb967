//! The Opus decoder: packets to PCM, loss concealment, FEC recovery.

use core::ffi::c_int;
use core::ptr;

use opusic_sys as sys;

use super::error::{OpusError, check};
use super::state::StateBuf;
use super::{FrameDuration, check_format, packet_samples};

/// An Opus decoder for one stream, its state in memory allocated once.
///
/// Made at startup, moved into the playback thread (it is `Send`), then
/// once per frame the jitter buffer says which of three calls to make:
///
/// - the packet is there: [`decode`](Decoder::decode);
/// - it is missing and so is the next one: [`conceal`](Decoder::conceal)
///   (libopus' PLC, fading out over successive losses);
/// - it is missing but the next one has arrived:
///   [`decode_fec`](Decoder::decode_fec) with the next packet, then
///   `decode` of that same packet for the frame after.
///
/// No call allocates, locks or makes a system call. Sample counts are per
/// channel; PCM is interleaved.
#[derive(Debug)]
pub struct Decoder {
    state: StateBuf,
    sample_rate_hz: u32,
    channels: u8,
    /// Samples per channel of the last frame produced; what `conceal`
    /// fills.
    last_frame_samples: usize,
}

impl Decoder {
    /// Allocates and initialises a decoder for `channels` (1 or 2) at
    /// `sample_rate_hz` (8000, 12000, 16000, 24000 or 48000; the packets
    /// may have been encoded at any rate). Until it has decoded a packet,
    /// [`conceal`](Decoder::conceal) fills 20 ms.
    ///
    /// # Errors
    ///
    /// [`OpusError::SampleRate`], [`OpusError::Channels`], or libopus
    /// refusing ([`OpusError::Codec`]).
    pub fn new(sample_rate_hz: u32, channels: u8) -> Result<Decoder, OpusError> {
        let (rate, channels_c) = check_format(sample_rate_hz, channels)?;
        // SAFETY: plain function of an int; channels is 1 or 2.
        let size = unsafe { sys::opus_decoder_get_size(channels_c) };
        let mut state = StateBuf::zeroed(usize::try_from(size).unwrap_or(0));
        // SAFETY: the block is opus_decoder_get_size(channels) bytes,
        // aligned like malloc's, zeroed and ours alone; opus_decoder_init
        // writes only inside it.
        let ret = unsafe { sys::opus_decoder_init(state.as_mut_ptr(), rate, channels_c) };
        check(ret)?;
        Ok(Decoder {
            state,
            sample_rate_hz,
            channels,
            last_frame_samples: FrameDuration::Ms20.samples_per_channel(sample_rate_hz),
        })
    }

    /// Decodes one packet into `out`; returns samples per channel written
    /// (the packet's duration).
    ///
    /// # Errors
    ///
    /// `packet` empty ([`OpusError::EmptyPacket`]) or not Opus
    /// ([`OpusError::Codec`] with `OPUS_INVALID_PACKET`); `out` shorter
    /// than the packet's duration × channels
    /// ([`OpusError::OutputTooSmall`]). Bytes with a valid table of
    /// contents but a garbage payload decode to noise, not an error (Opus
    /// has no checksum; the AES-GCM tag upstream is what rejects them).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        let samples = self.packet_samples(packet)?;
        self.check_out(samples, out)?;
        // SAFETY: initialised state, borrowed mutably; `packet` is readable
        // for its length (1 to i32::MAX, checked by packet_samples); `out` has
        // room for `samples` × channels (checked above), and opus_decode
        // writes at most frame_size × channels samples. samples ≤ 5760.
        let ret = unsafe {
            sys::opus_decode(
                self.state.as_mut_ptr(),
                packet.as_ptr(),
                packet.len() as i32,
                out.as_mut_ptr(),
                samples as c_int,
                0,
            )
        };
        self.produced(ret)
    }

    /// Conceals one missing frame (libopus' packet loss concealment):
    /// writes as many samples as the last frame produced and returns that
    /// count. Successive calls fade towards silence rather than click.
    ///
    /// # Errors
    ///
    /// `out` shorter than the last frame × channels
    /// ([`OpusError::OutputTooSmall`]).
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        let samples = self.last_frame_samples;
        self.check_out(samples, out)?;
        // SAFETY: initialised state, borrowed mutably; a NULL packet of
        // length 0 asks for PLC and is never read; `out` has room for
        // `samples` × channels; `samples` is a whole number of 2.5 ms
        // (every Opus frame is), which PLC requires.
        let ret = unsafe {
            sys::opus_decode(
                self.state.as_mut_ptr(),
                ptr::null(),
                0,
                out.as_mut_ptr(),
                samples as c_int,
                0,
            )
        };
        self.produced(ret)
    }

    /// Rebuilds the missing frame before `next_packet` from the in-band
    /// FEC copy `next_packet` carries; returns samples per channel written.
    /// The missing frame is taken to be as long as `next_packet` (a stream
    /// keeps one frame duration). Without FEC in the packet (FEC off, CELT
    /// mode, frames under 10 ms) libopus falls back to PLC. Afterwards
    /// decode `next_packet` itself with [`decode`](Decoder::decode).
    ///
    /// # Errors
    ///
    /// As [`decode`](Decoder::decode).
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        let samples = self.packet_samples(next_packet)?;
        self.check_out(samples, out)?;
        // SAFETY: as in `decode`; with decode_fec = 1 opus_decode writes
        // exactly frame_size × channels samples, for which `out` has room.
        let ret = unsafe {
            sys::opus_decode(
                self.state.as_mut_ptr(),
                next_packet.as_ptr(),
                next_packet.len() as i32,
                out.as_mut_ptr(),
                samples as c_int,
                1,
            )
        };
        self.produced(ret)
    }

    /// Forgets the signal history (`OPUS_RESET_STATE`): for the start of a
    /// new talk-spurt, so concealment does not continue the last one.
    ///
    /// # Errors
    ///
    /// A request libopus refuses; not expected.
    pub fn reset(&mut self) -> Result<(), OpusError> {
        // SAFETY: initialised state, borrowed mutably; OPUS_RESET_STATE
        // takes no variadic argument.
        let ret = unsafe { sys::opus_decoder_ctl(self.state.as_mut_ptr(), sys::OPUS_RESET_STATE) };
        check(ret).map(drop)
    }

    /// The output rate.
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// Output channels.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// Samples per channel of the last frame produced, the length
    /// [`conceal`](Decoder::conceal) fills.
    pub fn last_frame_samples(&self) -> usize {
        self.last_frame_samples
    }

    /// The packet's duration in samples per channel at the output rate.
    fn packet_samples(&self, packet: &[u8]) -> Result<usize, OpusError> {
        packet_samples(packet, self.sample_rate_hz)
    }

    fn check_out(&self, samples: usize, out: &[i16]) -> Result<(), OpusError> {
        let needed = samples * usize::from(self.channels);
        if out.len() < needed {
            return Err(OpusError::OutputTooSmall {
                needed,
                actual: out.len(),
            });
        }
        Ok(())
    }

    fn produced(&mut self, ret: c_int) -> Result<usize, OpusError> {
        let samples = check(ret)?;
        self.last_frame_samples = samples;
        Ok(samples)
    }
}
