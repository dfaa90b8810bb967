//! The simulator's stand-in for Opus: 48 kHz → 8 kHz by averaging six
//! samples, then G.711 µ-law; one 20 ms frame is 160 bytes. Decoding
//! expands each byte and holds it for six samples.
//!
//! Why not Opus: an hour of virtual time for two nodes must run in a few
//! seconds of wall time (µ-law is a table lookup, Opus is ~1000× the
//! work), the bytes must be the same on every machine and every run (no
//! SIMD paths or library versions in the result), and the simulator links
//! no C library. What the node engine, the relay and the jitter buffer see
//! is the same: one opaque packet per 20 ms frame, one frame's media time
//! per packet. There is no FEC and no DTX (no packet is two bytes or
//! less), and concealment is the decoder's: the last frame, 6 dB quieter
//! each time (then silence).

/// Device samples one frame holds (20 ms at 48 kHz).
pub const FRAME_SAMPLES: usize = 960;
/// Device samples averaged into one coded sample.
pub const DECIMATION: usize = 6;
/// Bytes of one coded frame.
pub const FRAME_BYTES: usize = FRAME_SAMPLES / DECIMATION;

const _: () = assert!(FRAME_SAMPLES.is_multiple_of(DECIMATION));
// Fits the node engine's held-frame slots (radio TX delay).
const _: () = assert!(FRAME_BYTES <= echostream_core::node::HELD_PAYLOAD_MAX);

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

/// One linear sample as G.711 µ-law (ITU-T G.711, the Sun reference
/// implementation's segment search).
pub fn mulaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    let pcm = pcm.min(CLIP) + BIAS;
    let exponent = (31 - (pcm as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (pcm >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// One µ-law byte as a linear sample.
pub fn mulaw_decode(byte: u8) -> i16 {
    let byte = !byte;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if byte & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one frame of 48 kHz samples into `out`.
pub fn encode(pcm: &[i16; FRAME_SAMPLES], out: &mut [u8; FRAME_BYTES]) {
    for (byte, six) in out.iter_mut().zip(pcm.chunks_exact(DECIMATION)) {
        let sum: i32 = six.iter().map(|&s| i32::from(s)).sum();
        *byte = mulaw_encode((sum / DECIMATION as i32) as i16);
    }
}

/// The decoder: one frame of 48 kHz samples per packet, or concealment.
#[derive(Debug, Clone)]
pub struct Decoder {
    last: [i16; FRAME_BYTES],
    /// Concealed frames since the last decoded one.
    concealed: u32,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            last: [0; FRAME_BYTES],
            concealed: 0,
        }
    }
}

/// Concealed frames after which the decoder plays silence.
pub const CONCEAL_FRAMES_MAX: u32 = 5;

impl Decoder {
    /// Decodes `packet` into `out`. A packet that is not one frame long is
    /// concealed instead (a damaged packet the tag did not catch cannot
    /// get here; this is for the caller's mistakes).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16; FRAME_SAMPLES]) {
        if packet.len() != FRAME_BYTES {
            self.conceal(out);
            return;
        }
        for (i, &byte) in packet.iter().enumerate() {
            self.last[i] = mulaw_decode(byte);
        }
        self.concealed = 0;
        self.expand(out, 0);
    }

    /// Conceals a missing frame: the last one, 6 dB quieter each time,
    /// then silence.
    pub fn conceal(&mut self, out: &mut [i16; FRAME_SAMPLES]) {
        self.concealed += 1;
        if self.concealed > CONCEAL_FRAMES_MAX {
            out.fill(0);
            return;
        }
        self.expand(out, self.concealed);
    }

    /// Forgets the last frame (a talk-spurt ended).
    pub fn reset(&mut self) {
        *self = Decoder::default();
    }

    fn expand(&self, out: &mut [i16; FRAME_SAMPLES], shift: u32) {
        for (six, &s) in out.chunks_exact_mut(DECIMATION).zip(&self.last) {
            six.fill(s >> shift);
        }
    }
}

/// The encoder, as core's [`Framer`](echostream_core::audio::Framer)
/// drives it: one 20 ms frame of 48 kHz samples into 160 bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Encoder;

impl echostream_core::audio::Encoder for Encoder {
    /// A frame or a packet buffer of the wrong length (the caller's
    /// mistake).
    type Error = ();

    fn frame_pcm_len(&self) -> usize {
        FRAME_SAMPLES
    }

    fn frame_media_units(&self) -> u32 {
        FRAME_SAMPLES as u32
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, ()> {
        let pcm: &[i16; FRAME_SAMPLES] = pcm.try_into().map_err(|_| ())?;
        let out: &mut [u8; FRAME_BYTES] = out
            .get_mut(..FRAME_BYTES)
            .and_then(|o| o.try_into().ok())
            .ok_or(())?;
        encode(pcm, out);
        Ok(FRAME_BYTES)
    }
}

/// The decoder, as core's [`Player`](echostream_core::audio::Player)
/// drives it. There is no FEC: a frame the next packet could rebuild is
/// concealed.
impl echostream_core::audio::Decoder for Decoder {
    /// A packet that is not one frame long, or a buffer that is not one
    /// frame (the player conceals instead).
    type Error = ();

    fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, ()> {
        let out: &mut [i16; FRAME_SAMPLES] = out.try_into().map_err(|_| ())?;
        if packet.len() != FRAME_BYTES {
            return Err(());
        }
        Decoder::decode(self, packet, out);
        Ok(FRAME_SAMPLES)
    }

    fn decode_fec(&mut self, _next_packet: &[u8], out: &mut [i16]) -> Result<usize, ()> {
        echostream_core::audio::Decoder::conceal(self, out)
    }

    fn conceal(&mut self, out: &mut [i16]) -> Result<usize, ()> {
        let out: &mut [i16; FRAME_SAMPLES] = out.try_into().map_err(|_| ())?;
        Decoder::conceal(self, out);
        Ok(FRAME_SAMPLES)
    }

    fn reset(&mut self) {
        Decoder::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_round_trips_within_its_quantisation_and_keeps_the_sign() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let back = mulaw_decode(mulaw_encode(s));
            let error = (i32::from(back) - i32::from(s)).abs();
            let allowed = (i32::from(s).abs() / 16).max(8) + 2;
            assert!(error <= allowed, "{s} -> {back}");
        }
        assert_eq!(mulaw_encode(0), 0xff, "silence is 0xff");
        assert_eq!(mulaw_decode(0xff), 0);
    }

    #[test]
    fn a_frame_decodes_to_a_held_copy_of_its_averages() {
        let mut pcm = [0i16; FRAME_SAMPLES];
        for (i, s) in pcm.iter_mut().enumerate() {
            *s = ((i / DECIMATION) as i16 - 80) * 100;
        }
        let mut packet = [0u8; FRAME_BYTES];
        encode(&pcm, &mut packet);
        let mut out = [0i16; FRAME_SAMPLES];
        let mut decoder = Decoder::default();
        decoder.decode(&packet, &mut out);
        for (a, b) in pcm.iter().zip(&out) {
            assert!((i32::from(*a) - i32::from(*b)).abs() <= 300, "{a} {b}");
        }
        decoder.conceal(&mut out);
        assert!(
            out.iter()
                .zip(&pcm)
                .all(|(c, p)| c.abs() <= p.abs() / 2 + 150)
        );
        for _ in 0..CONCEAL_FRAMES_MAX {
            decoder.conceal(&mut out);
        }
        assert!(out.iter().all(|&s| s == 0), "silence after the concealment");
    }
}
