//! Looking inside an Opus packet without decoding it (RFC 6716 §3.1).

use opusic_sys as sys;

use super::error::{OpusError, check};

/// Duration of `packet` in samples per channel at `rate_hz`, from its
/// table-of-contents byte and frame count.
///
/// # Errors
///
/// Empty ([`OpusError::EmptyPacket`]), longer than `i32::MAX` or not an
/// Opus packet ([`OpusError::Codec`] with `OPUS_INVALID_PACKET`).
pub fn packet_samples(packet: &[u8], rate_hz: u32) -> Result<usize, OpusError> {
    if packet.is_empty() {
        return Err(OpusError::EmptyPacket);
    }
    let Ok(len) = i32::try_from(packet.len()) else {
        return Err(OpusError::from_code(sys::OPUS_INVALID_PACKET));
    };
    let rate = i32::try_from(rate_hz).unwrap_or(i32::MAX);
    // SAFETY: a pure function that reads at most `len` bytes of `packet`
    // (its TOC and, for code 3, the frame-count byte); `len` ≥ 1 is the
    // slice's length.
    check(unsafe { sys::opus_packet_get_nb_samples(packet.as_ptr(), len, rate) })
}

/// Whether `packet` carries in-band FEC (SILK LBRR data) for the frame
/// before it: what the wire header's "FEC present" flag reports, and what
/// tells the receiver [`Decoder::decode_fec`](super::Decoder::decode_fec)
/// can do better than concealment. `false` for anything that is not a
/// valid packet.
pub fn packet_has_fec(packet: &[u8]) -> bool {
    let Ok(len) = i32::try_from(packet.len()) else {
        return false;
    };
    if len == 0 {
        return false;
    }
    // SAFETY: reads at most `len` bytes of `packet` (parses the frame
    // sizes and the first SILK frame's header bits); `len` ≥ 1 is the
    // slice's length. Returns 1, 0 or a negative error.
    unsafe { sys::opus_packet_has_lbrr(packet.as_ptr(), len) == 1 }
}
