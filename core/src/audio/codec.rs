//! The codec as the audio path sees it: one frame of PCM in, one opaque
//! packet out, and back. Opus on the Linux node, the simulator's G.711
//! stand-in in the world; nothing in core knows which.

/// Encodes one frame of PCM at a time.
///
/// The frame's length is fixed for the encoder's life: the
/// [`Framer`](super::Framer) gathers exactly
/// [`frame_pcm_len`](Self::frame_pcm_len) samples before each call.
pub trait Encoder {
    /// Why a frame could not be encoded.
    type Error;

    /// Samples one frame holds at the device rate (all channels
    /// interleaved).
    fn frame_pcm_len(&self) -> usize;

    /// One frame's length on the media clock (48 kHz units, RFC 7587).
    fn frame_media_units(&self) -> u32;

    /// Encodes `pcm` (exactly one frame) into `out`; returns the packet's
    /// length. A packet of length 0 is treated as a failure.
    ///
    /// # Errors
    ///
    /// The codec refused the frame; the frame's media time passes and the
    /// receiver conceals it.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Self::Error>;

    /// Whether `packet` carries in-band FEC for the frame before it.
    fn has_fec(&self, packet: &[u8]) -> bool {
        let _ = packet;
        false
    }

    /// Forgets the audio coded so far: the next frame is coded as a
    /// stream's first (after frames that were not coded, it must not be
    /// predicted from older ones).
    fn reset(&mut self) {}
}

/// Decodes one frame of PCM at a time, and makes up frames that are
/// missing.
///
/// Each call writes at most `out.len()` samples and returns how many it
/// wrote; the [`Player`](super::Player) pads or cuts to one frame.
pub trait Decoder {
    /// Why a packet could not be decoded.
    type Error;

    /// Decodes `packet`.
    ///
    /// # Errors
    ///
    /// A packet the codec refuses (the player conceals instead).
    fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, Self::Error>;

    /// Rebuilds the frame before `next_packet` from its in-band FEC.
    ///
    /// # Errors
    ///
    /// A packet the codec refuses (the player conceals instead).
    fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, Self::Error>;

    /// Conceals a missing frame (packet loss concealment).
    ///
    /// # Errors
    ///
    /// The codec could not (the player plays silence).
    fn conceal(&mut self, out: &mut [i16]) -> Result<usize, Self::Error>;

    /// Forgets the talk-spurt that ended: the next one must not continue
    /// its concealment.
    fn reset(&mut self);
}
