//! Ogg Opus files (RFC 7845): the identification and comment headers, and
//! a writer that encodes 20 ms frames and gathers them into pages of about
//! a second.
//!
//! Granule positions count 48 kHz samples whatever the input rate (RFC
//! 7845 §4). Every page ends on a packet boundary; a page's granule
//! position is every sample decoded up to its last packet, pre-skip
//! included. The last page (EOS) says instead `pre_skip + input samples`,
//! fewer than were decoded: the decoder trims the zeros that filled the
//! last frame and pushed the encoder's look-ahead out (§4.4 end trimming).

use std::fs::File;
use std::io::{self, Write};

use super::OpusSettings;
use super::ogg::{FLAG_BOS, FLAG_EOS, PageBuilder, PageHeader};
use crate::opus::{Application, Encoder, EncoderConfig, FrameDuration, MAX_PACKET_LEN, OpusError};

/// The rate granule positions and pre-skip count in (RFC 7845 §4).
pub(super) const GRANULE_RATE_HZ: u32 = 48_000;
/// Frame length the writer encodes.
pub(super) const FRAME: FrameDuration = FrameDuration::Ms20;
/// Packets per audio page: 50 × 20 ms, a page about every second, so a
/// killed writer loses about a second.
pub(super) const PAGE_PACKETS: usize = 50;
/// Length of the identification header (mapping family 0).
pub(super) const OPUS_HEAD_LEN: usize = 19;
/// What the comment header says wrote the file.
const ENCODER_TAG: &str = concat!("ENCODER=echostream ", env!("CARGO_PKG_VERSION"));

// A page of PAGE_PACKETS of the longest packet the encoder can write
// would not fit the lacing table; the writer starts a new page early then,
// but the usual page (packets under 255 bytes) must hold them all.
const _: () = assert!(PAGE_PACKETS <= super::ogg::SEGMENTS_MAX);
const _: () = assert!(PageBuilder::segments_for(MAX_PACKET_LEN) <= super::ogg::SEGMENTS_MAX);

/// The identification header's fields EchoStream writes and reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpusHead {
    /// Output channels.
    pub(super) channels: u8,
    /// 48 kHz samples the decoder drops at the start.
    pub(super) pre_skip: u16,
    /// The rate the audio was captured at (informational).
    pub(super) input_rate_hz: u32,
}

impl OpusHead {
    /// The 19-byte identification header (RFC 7845 §5.1): version 1,
    /// output gain 0, channel mapping family 0 (mono or stereo).
    pub(super) fn emit(&self) -> [u8; OPUS_HEAD_LEN] {
        let mut h = [0u8; OPUS_HEAD_LEN];
        h[0..8].copy_from_slice(b"OpusHead");
        h[8] = 1;
        h[9] = self.channels;
        h[10..12].copy_from_slice(&self.pre_skip.to_le_bytes());
        h[12..16].copy_from_slice(&self.input_rate_hz.to_le_bytes());
        // 16..18 output gain 0 dB, 18 mapping family 0: already zero.
        h
    }

    /// Reads an identification header of major version 0 (versions 1 to
    /// 15; RFC 7845 §5.1: the upper four bits are the major version) and
    /// mapping family 0.
    pub(super) fn parse(packet: &[u8]) -> Option<OpusHead> {
        let h = packet.get(..OPUS_HEAD_LEN)?;
        let ok = &h[0..8] == b"OpusHead" && h[8] >> 4 == 0 && (1..=2).contains(&h[9]) && h[18] == 0;
        ok.then(|| OpusHead {
            channels: h[9],
            pre_skip: u16::from_le_bytes([h[10], h[11]]),
            input_rate_hz: u32::from_le_bytes([h[12], h[13], h[14], h[15]]),
        })
    }
}

/// The comment header (RFC 7845 §5.2): the vendor (the libopus version)
/// and one comment naming EchoStream.
pub(super) fn opus_tags(vendor: &str) -> Vec<u8> {
    let mut t = Vec::with_capacity(8 + 4 + vendor.len() + 4 + 4 + ENCODER_TAG.len());
    t.extend_from_slice(b"OpusTags");
    let len = |s: &str| u32::try_from(s.len()).expect("short strings").to_le_bytes();
    t.extend_from_slice(&len(vendor));
    t.extend_from_slice(vendor.as_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&len(ENCODER_TAG));
    t.extend_from_slice(ENCODER_TAG.as_bytes());
    t
}

/// 48 kHz samples per sample at `rate_hz` (an Opus rate divides 48000).
fn upsample_factor(rate_hz: u32) -> u64 {
    debug_assert!(GRANULE_RATE_HZ.is_multiple_of(rate_hz));
    u64::from(GRANULE_RATE_HZ / rate_hz)
}

/// Why the writer stopped.
#[derive(Debug)]
pub(super) enum WriteError {
    /// Writing a page.
    Io(io::Error),
    /// Encoding a frame.
    Opus(OpusError),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> WriteError {
        WriteError::Io(e)
    }
}

impl From<OpusError> for WriteError {
    fn from(e: OpusError) -> WriteError {
        WriteError::Opus(e)
    }
}

/// Encodes mono samples at one Opus rate into an Ogg Opus file.
///
/// Pages go straight to the file (one `write` a second), so what a killed
/// process leaves is whole pages and perhaps the start of one.
#[derive(Debug)]
pub(super) struct OggOpusWriter {
    file: File,
    encoder: Encoder,
    serial: u32,
    /// The next page's sequence number.
    sequence: u32,
    rate_hz: u32,
    /// Encoder look-ahead at `rate_hz`: the first output sample that is
    /// input, and how much silence must follow the input at the end.
    lookahead_samples: u64,
    pre_skip: u16,
    /// Input not yet a whole frame.
    pcm: Vec<i16>,
    packet: Vec<u8>,
    page: PageBuilder,
    /// The page being written out (reused).
    out: Vec<u8>,
    /// Packets encoded, all pages.
    packets: u64,
    /// Input samples taken.
    samples: u64,
    /// Bytes written to the file.
    bytes: u64,
}

impl OggOpusWriter {
    /// Makes the encoder (20 ms, VoIP, no FEC, no DTX) and writes the two
    /// header pages to the start of `file`, which is empty.
    ///
    /// `rate_hz` must be an Opus rate (the caller checked).
    pub(super) fn new(
        file: File,
        rate_hz: u32,
        settings: &OpusSettings,
        serial: u32,
    ) -> Result<OggOpusWriter, WriteError> {
        let mut encoder = Encoder::new(EncoderConfig {
            sample_rate_hz: rate_hz,
            channels: 1,
            application: Application::Voip,
            bitrate_bps: settings.bitrate_bps,
            complexity: settings.complexity,
            vbr: true,
            fec: false,
            expected_loss_pct: 0,
            dtx: false,
            frame: FRAME,
        })?;
        let lookahead_samples = encoder.lookahead_samples()? as u64;
        let pre_skip = u16::try_from(lookahead_samples * upsample_factor(rate_hz))
            .expect("libopus look-ahead is a few ms");
        let mut w = OggOpusWriter {
            file,
            serial,
            sequence: 0,
            rate_hz,
            lookahead_samples,
            pre_skip,
            pcm: Vec::with_capacity(encoder.frame_samples()),
            packet: vec![0; MAX_PACKET_LEN],
            page: PageBuilder::new(),
            out: Vec::with_capacity(super::ogg::PAGE_LEN_MAX),
            packets: 0,
            samples: 0,
            bytes: 0,
            encoder,
        };
        // RFC 7845 §3: the identification header alone on the first page
        // (BOS), the comment header on the next, audio from a fresh page.
        let head = OpusHead {
            channels: 1,
            pre_skip,
            input_rate_hz: rate_hz,
        };
        w.page.push(&head.emit());
        w.write_page(FLAG_BOS, 0)?;
        w.page.push(&opus_tags(crate::opus::version()));
        w.write_page(0, 0)?;
        Ok(w)
    }

    /// Takes samples; encodes every whole frame.
    pub(super) fn write(&mut self, mut samples: &[i16]) -> Result<(), WriteError> {
        let frame_samples = self.encoder.frame_samples();
        while !samples.is_empty() {
            let n = (frame_samples - self.pcm.len()).min(samples.len());
            self.pcm.extend_from_slice(&samples[..n]);
            self.samples += n as u64;
            samples = &samples[n..];
            if self.pcm.len() == frame_samples {
                self.encode_frame()?;
            }
        }
        Ok(())
    }

    /// Encodes the zeros that carry the last input out of the encoder,
    /// writes the last page (EOS, end-trimmed granule position); returns
    /// the file for the caller to fsync, and its length.
    pub(super) fn finish(mut self) -> Result<(File, u64), WriteError> {
        let frame_samples = self.encoder.frame_samples();
        // Input plus look-ahead must be inside the packets, or the
        // decoder never outputs the last look-ahead of input; at least one
        // packet more, so the last page is never empty.
        let needed = self.samples + self.lookahead_samples;
        let packets = needed.div_ceil(frame_samples as u64).max(self.packets + 1);
        while self.packets < packets {
            self.pcm.resize(frame_samples, 0);
            self.encode_frame()?;
        }
        let granule = u64::from(self.pre_skip) + self.samples * upsample_factor(self.rate_hz);
        assert!(granule <= self.decoded_48k(), "end trimming only shortens");
        self.write_page(FLAG_EOS, granule)?;
        Ok((self.file, self.bytes))
    }

    /// 48 kHz samples a decoder outputs for every packet so far.
    fn decoded_48k(&self) -> u64 {
        self.packets * self.encoder.frame_samples() as u64 * upsample_factor(self.rate_hz)
    }

    fn encode_frame(&mut self) -> Result<(), WriteError> {
        let len = self.encoder.encode(&self.pcm, &mut self.packet)?;
        self.pcm.clear();
        // Pages are emitted when the next packet arrives, never empty: the
        // last page always has a packet to carry EOS.
        if self.page.packets() == PAGE_PACKETS || !self.page.fits(len) {
            self.write_page(0, self.decoded_48k())?;
        }
        self.page.push(&self.packet[..len]);
        self.packets += 1;
        Ok(())
    }

    fn write_page(&mut self, header_type: u8, granule: u64) -> io::Result<()> {
        let header = PageHeader {
            header_type,
            granule: i64::try_from(granule).expect("2^63 samples is millions of years"),
            serial: self.serial,
            sequence: self.sequence,
        };
        self.out.clear();
        self.page.emit(header, &mut self.out);
        self.file.write_all(&self.out)?;
        self.sequence += 1;
        self.bytes += self.out.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_head_has_the_rfc_7845_layout() {
        let head = OpusHead {
            channels: 1,
            pre_skip: 312,
            input_rate_hz: 16_000,
        };
        #[rustfmt::skip]
        let expected = [
            b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd',
            1,                 // version
            1,                 // channels
            0x38, 0x01,        // pre-skip 312
            0x80, 0x3e, 0, 0,  // input rate 16000
            0, 0,              // output gain
            0,                 // mapping family
        ];
        assert_eq!(head.emit(), expected);
        assert_eq!(OpusHead::parse(&expected), Some(head));
        let mut v2 = expected;
        v2[8] = 0x10;
        assert_eq!(
            OpusHead::parse(&v2),
            None,
            "major version 1 is a format we do not read"
        );
    }

    #[test]
    fn opus_tags_name_the_vendor_and_the_encoder() {
        let t = opus_tags("libopus 1.6");
        assert_eq!(&t[..8], b"OpusTags");
        assert_eq!(t[8..12], 11u32.to_le_bytes());
        assert_eq!(&t[12..23], b"libopus 1.6");
        assert_eq!(t[23..27], 1u32.to_le_bytes());
        let len = u32::from_le_bytes(t[27..31].try_into().unwrap()) as usize;
        assert_eq!(&t[31..31 + len], ENCODER_TAG.as_bytes());
        assert!(ENCODER_TAG.starts_with("ENCODER=echostream"));
        assert_eq!(t.len(), 31 + len);
    }
}
