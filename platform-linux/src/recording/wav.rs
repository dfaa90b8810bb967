//! RIFF/WAVE files of 16-bit mono PCM: the one 44-byte header we write,
//! a writer that fixes its sizes when the file is finished, and the repair
//! of a file whose writer was killed (sizes from the data on disk).
//!
//! Layout (the canonical PCM header; Microsoft "Multimedia Programming
//! Interface and Data Specifications 1.0", RIFF and WAVE form):
//!
//! ```text
//!  0 "RIFF"  4 riff_size = 36 + data_size  8 "WAVE"
//! 12 "fmt "  16 fmt_size = 16  20 format = 1 (PCM)  22 channels = 1
//! 24 rate_hz  28 byte_rate = 2 × rate_hz  32 block_align = 2  34 bits = 16
//! 36 "data"  40 data_size  44 samples, s16 little-endian
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;

/// Bytes before the first sample.
pub(super) const HEADER_LEN: usize = 44;
/// Bytes per sample (s16 mono).
pub(super) const SAMPLE_LEN: u64 = 2;
/// The fastest rate a header may state (byte rate well inside 32 bits).
pub(super) const RATE_HZ_MAX: u32 = 384_000;
/// The most sample bytes the 32-bit RIFF size can count (it adds 36).
pub(super) const DATA_LEN_MAX: u64 = (u32::MAX as u64 - 36) & !(SAMPLE_LEN - 1);

const RIFF_SIZE: Range<usize> = 4..8;
const RATE: Range<usize> = 24..28;
const DATA_SIZE: Range<usize> = 40..44;
/// Everything but the sizes and the rates: what makes a header ours.
const FIXED: [(Range<usize>, &[u8]); 5] = [
    (0..4, b"RIFF"),
    (8..16, b"WAVEfmt "),
    // fmt size 16, PCM, mono.
    (16..24, &[16, 0, 0, 0, 1, 0, 1, 0]),
    // block align 2, 16 bits.
    (32..36, &[2, 0, 16, 0]),
    (36..40, b"data"),
];
const BYTE_RATE: Range<usize> = 28..32;

const _: () = assert!(DATA_SIZE.end == HEADER_LEN);
const _: () = assert!(RATE_HZ_MAX as u64 * SAMPLE_LEN <= u32::MAX as u64);

/// The header of a file holding `data_len` bytes of samples at `rate_hz`.
pub(super) fn header(rate_hz: u32, data_len: u32) -> [u8; HEADER_LEN] {
    assert!(rate_hz <= RATE_HZ_MAX, "the rate was checked at create");
    let mut h = [0u8; HEADER_LEN];
    for (range, bytes) in FIXED {
        h[range].copy_from_slice(bytes);
    }
    h[RIFF_SIZE].copy_from_slice(&riff_size(data_len).to_le_bytes());
    h[RATE].copy_from_slice(&rate_hz.to_le_bytes());
    h[BYTE_RATE].copy_from_slice(&(rate_hz * SAMPLE_LEN as u32).to_le_bytes());
    h[DATA_SIZE].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// The rate of a header this module wrote (sizes not looked at); `None`
/// for anything else.
pub(super) fn parse_header(h: &[u8; HEADER_LEN]) -> Option<u32> {
    if FIXED
        .iter()
        .any(|(range, bytes)| &h[range.clone()] != *bytes)
    {
        return None;
    }
    let rate_hz = u32::from_le_bytes(h[RATE].try_into().ok()?);
    let byte_rate = u32::from_le_bytes(h[BYTE_RATE].try_into().ok()?);
    let ok = (1..=RATE_HZ_MAX).contains(&rate_hz) && byte_rate == rate_hz * SAMPLE_LEN as u32;
    ok.then_some(rate_hz)
}

fn riff_size(data_len: u32) -> u32 {
    data_len.saturating_add(36)
}

/// Writes both sizes into the header of `file` for `data_len` bytes.
pub(super) fn write_sizes(file: &File, data_len: u32) -> io::Result<()> {
    file.write_all_at(&riff_size(data_len).to_le_bytes(), RIFF_SIZE.start as u64)?;
    file.write_all_at(&data_len.to_le_bytes(), DATA_SIZE.start as u64)
}

/// Appends samples to a WAV file whose header says "empty" until
/// [`finish`](WavWriter::finish): a reader of a killed writer's file sees
/// no audio rather than a wrong length, and recovery fixes it.
#[derive(Debug)]
pub(super) struct WavWriter {
    out: BufWriter<File>,
    data_len: u64,
}

impl WavWriter {
    /// Writes the header (sizes 0) to the start of `file`, which is empty.
    pub(super) fn new(file: File, rate_hz: u32) -> io::Result<WavWriter> {
        let mut out = BufWriter::new(file);
        out.write_all(&header(rate_hz, 0))?;
        Ok(WavWriter { out, data_len: 0 })
    }

    /// Samples the file can still take.
    pub(super) fn room_samples(&self) -> u64 {
        (DATA_LEN_MAX - self.data_len) / SAMPLE_LEN
    }

    /// Appends `samples`; the caller has checked
    /// [`room_samples`](WavWriter::room_samples).
    pub(super) fn write(&mut self, samples: &[i16]) -> io::Result<()> {
        assert!(
            samples.len() as u64 <= self.room_samples(),
            "checked by the caller"
        );
        for s in samples {
            self.out.write_all(&s.to_le_bytes())?;
        }
        self.data_len += samples.len() as u64 * SAMPLE_LEN;
        Ok(())
    }

    /// Bytes in the file once finished.
    pub(super) fn file_len(&self) -> u64 {
        HEADER_LEN as u64 + self.data_len
    }

    /// Flushes the samples and writes the real sizes; returns the file for
    /// the caller to fsync.
    pub(super) fn finish(self) -> io::Result<File> {
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let data_len = u32::try_from(self.data_len).expect("bounded by DATA_LEN_MAX");
        write_sizes(&file, data_len)?;
        Ok(file)
    }
}

/// What a leftover WAV file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Salvage {
    /// A whole header and `data_len` bytes of whole samples after it.
    Audio {
        /// The header's rate.
        rate_hz: u32,
        /// Sample bytes to keep (even, at most [`DATA_LEN_MAX`]).
        data_len: u64,
    },
    /// Shorter than a header.
    TornHeader,
    /// A full-length header this module did not write.
    ForeignHeader,
}

/// Looks at a leftover file of `file_len` bytes: how much of it is audio.
pub(super) fn salvage(file: &File, file_len: u64) -> io::Result<Salvage> {
    if file_len < HEADER_LEN as u64 {
        return Ok(Salvage::TornHeader);
    }
    let mut h = [0u8; HEADER_LEN];
    file.read_exact_at(&mut h, 0)?;
    let Some(rate_hz) = parse_header(&h) else {
        return Ok(Salvage::ForeignHeader);
    };
    // A sample cut in half by the kill is dropped.
    let data_len = (file_len - HEADER_LEN as u64).min(DATA_LEN_MAX) & !(SAMPLE_LEN - 1);
    Ok(Salvage::Audio { rate_hz, data_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of one second at 16 kHz, byte by byte.
    const ONE_SECOND_16K: [u8; HEADER_LEN] = [
        b'R', b'I', b'F', b'F', //
        0x24, 0x7d, 0x00, 0x00, // riff size 36 + 32000
        b'W', b'A', b'V', b'E', b'f', b'm', b't', b' ', //
        16, 0, 0, 0, // fmt size
        1, 0, // PCM
        1, 0, // mono
        0x80, 0x3e, 0, 0, // 16000 Hz
        0x00, 0x7d, 0, 0, // 32000 bytes/s
        2, 0, // block align
        16, 0, // bits
        b'd', b'a', b't', b'a', //
        0x00, 0x7d, 0x00, 0x00, // 32000 bytes of samples
    ];

    #[test]
    fn header_matches_the_canonical_layout() {
        assert_eq!(header(16_000, 32_000), ONE_SECOND_16K);
        assert_eq!(parse_header(&ONE_SECOND_16K), Some(16_000));
    }

    #[test]
    fn foreign_headers_are_not_ours() {
        let mut stereo = ONE_SECOND_16K;
        stereo[22] = 2;
        assert_eq!(parse_header(&stereo), None);
        let mut float = ONE_SECOND_16K;
        float[20] = 3;
        assert_eq!(parse_header(&float), None);
        let mut zero_rate = header(16_000, 0);
        zero_rate[RATE].fill(0);
        assert_eq!(parse_header(&zero_rate), None);
    }

    #[test]
    fn the_largest_file_still_has_a_32_bit_riff_size() {
        let h = header(48_000, DATA_LEN_MAX as u32);
        let riff = u32::from_le_bytes(h[RIFF_SIZE].try_into().unwrap());
        assert_eq!(u64::from(riff), DATA_LEN_MAX + 36);
    }
}
