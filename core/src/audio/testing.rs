//! Codecs for the tests beside the audio code: they make bytes a test can
//! read back, not sound.

use super::codec::{Decoder, Encoder};

/// One byte per frame: the frame's first sample's low byte.
#[derive(Debug)]
pub struct Tagger {
    frame: usize,
    /// Times it was reset.
    pub resets: u32,
}

impl Tagger {
    pub fn new(frame: usize) -> Tagger {
        Tagger { frame, resets: 0 }
    }
}

impl Encoder for Tagger {
    type Error = ();
    fn frame_pcm_len(&self) -> usize {
        self.frame
    }
    fn frame_media_units(&self) -> u32 {
        self.frame as u32
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, ()> {
        out[0] = pcm[0] as u8;
        Ok(1)
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
}

/// A [`Tagger`] that refuses every `every`-th frame.
#[derive(Debug)]
pub struct FailEvery {
    inner: Tagger,
    every: u32,
    count: u32,
}

impl FailEvery {
    pub fn new(frame: usize, every: u32) -> FailEvery {
        FailEvery {
            inner: Tagger::new(frame),
            every,
            count: 0,
        }
    }
}

impl Encoder for FailEvery {
    type Error = ();
    fn frame_pcm_len(&self) -> usize {
        self.inner.frame_pcm_len()
    }
    fn frame_media_units(&self) -> u32 {
        self.inner.frame_media_units()
    }
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, ()> {
        self.count += 1;
        if self.count.is_multiple_of(self.every) {
            return Err(());
        }
        self.inner.encode(pcm, out)
    }
}

/// Plays each packet's first byte as every sample of the frame; conceals
/// with -1; counts resets.
#[derive(Debug, Default)]
pub struct Echo {
    pub resets: u32,
}

impl Decoder for Echo {
    type Error = ();
    fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, ()> {
        let byte = packet.first().ok_or(())?;
        out.fill(i16::from(*byte));
        Ok(out.len())
    }
    fn decode_fec(&mut self, _: &[u8], out: &mut [i16]) -> Result<usize, ()> {
        self.conceal(out)
    }
    fn conceal(&mut self, out: &mut [i16]) -> Result<usize, ()> {
        out.fill(-1);
        Ok(out.len())
    }
    fn reset(&mut self) {
        self.resets += 1;
    }
}

/// Fills `block` with a 1 kHz sine at `amplitude` of full scale, its
/// first sample at `at` (48 kHz).
pub fn tone(block: &mut [i16], at: u64, amplitude: f32) {
    for (i, s) in block.iter_mut().enumerate() {
        let t = (at + i as u64) as f32 / 48_000.0;
        *s = (amplitude * 32_767.0 * libm::sinf(core::f32::consts::TAU * 1_000.0 * t)) as i16;
    }
}
