//! [`Framer`]: device periods in, one coded frame per codec frame out,
//! each named by its sequence number and media time.

use crate::node::Captured;
use crate::time::SampleIndex;
use crate::wire::{Flags, MAX_PAYLOAD_LEN, MediaTimestamp, Seq};

use super::codec::Encoder;
use super::{LEVEL_FLOOR_DBFS, MAX_FRAME_SAMPLES};

/// One coded frame and its place in the stream, lent to whoever takes it
/// (the capture side's sink). An empty payload marks the end of a
/// talk-spurt (an end-of-transmission packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodedFrame<'a> {
    /// Its sequence number in the stream.
    pub seq: Seq,
    /// The media time of its first sample, in 48 kHz units.
    pub timestamp: MediaTimestamp,
    /// [`Flags::START_OF_TALKSPURT`] on a talk-spurt's first frame,
    /// [`Flags::FEC`] when the packet carries in-band FEC.
    pub flags: Flags,
    /// The packet (empty: end of transmission).
    pub payload: &'a [u8],
    /// Whether the channel's own sources (VOX, or "always") call it
    /// active. Set by the [`Capture`](super::Capture); `false` from a bare
    /// framer.
    pub active: bool,
    /// The device frame just past the audio heard when it was made (the
    /// channel's media clock). Set by the capture side.
    pub reached: SampleIndex,
    /// The loudest period's level in it, dBFS. Set by the capture side.
    pub level_dbfs: i16,
}

impl<'a> CodedFrame<'a> {
    /// True for an end-of-transmission marker.
    pub fn is_end_of_transmission(&self) -> bool {
        self.payload.is_empty()
    }

    /// The frame as the node engine takes it from the capture side: an
    /// end-of-transmission marker says the capture side stopped.
    pub fn captured(&self) -> Captured<'a> {
        if self.is_end_of_transmission() {
            Captured::End {
                timestamp: self.timestamp,
            }
        } else {
            Captured::Frame {
                timestamp: self.timestamp,
                fec: self.flags.contains(Flags::FEC),
                payload: self.payload,
                active: self.active,
                reached: self.reached,
                level_dbfs: self.level_dbfs,
            }
        }
    }
}

/// What a [`Framer`] has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FramerStats {
    /// Frames encoded and handed out.
    pub frames: u64,
    /// Of `frames`, those whose packet carries in-band FEC.
    pub fec_frames: u64,
    /// Frames the encoder refused (their media time passes; the receiver
    /// conceals them).
    pub encode_errors: u64,
    /// End-of-transmission markers handed out.
    pub ends: u64,
}

/// The encode side: periods of any length in, one [`CodedFrame`] per
/// codec frame out to the caller's `emit`.
///
/// A block that straddles a frame boundary is split across the two
/// frames; a frame that is a whole number of periods (20 ms of 5 ms
/// periods) is encoded as soon as its last period arrives. The media time
/// advances by one frame per frame, encoded or not. Sans-IO and
/// allocation-free: the frame's PCM and its packet live in fixed arrays,
/// and every frame is handed out before [`push`](Self::push) returns.
#[derive(Debug)]
pub struct Framer<E> {
    encoder: E,
    pcm: [i16; MAX_FRAME_SAMPLES],
    filled: usize,
    frame_samples: usize,
    /// One frame in 48 kHz units.
    frame_units: u32,
    seq: u32,
    timestamp: u32,
    in_talkspurt: bool,
    packet: [u8; MAX_PAYLOAD_LEN],
    stats: FramerStats,
}

impl<E: Encoder> Framer<E> {
    /// A framer for `encoder` whose stream starts at sequence number
    /// `first_seq` and media time `first_timestamp`.
    ///
    /// # Panics
    ///
    /// If the encoder's frame is empty or longer than
    /// [`MAX_FRAME_SAMPLES`] (an encoder's config is checked before one is
    /// made: never).
    pub fn new(encoder: E, first_seq: Seq, first_timestamp: MediaTimestamp) -> Framer<E> {
        let frame_samples = encoder.frame_pcm_len();
        assert!(
            (1..=MAX_FRAME_SAMPLES).contains(&frame_samples),
            "a codec frame is 1 to MAX_FRAME_SAMPLES samples"
        );
        Framer {
            frame_units: encoder.frame_media_units(),
            encoder,
            pcm: [0; MAX_FRAME_SAMPLES],
            filled: 0,
            frame_samples,
            seq: first_seq.0,
            timestamp: first_timestamp.0,
            in_talkspurt: false,
            packet: [0; MAX_PAYLOAD_LEN],
            stats: FramerStats::default(),
        }
    }

    /// Adds one period; encodes every frame it completes and hands each
    /// to `emit`. Returns the number of frames completed (encoded or
    /// refused).
    pub fn push(&mut self, mut samples: &[i16], emit: &mut impl FnMut(&CodedFrame<'_>)) -> usize {
        let mut completed = 0;
        while !samples.is_empty() {
            let take = (self.frame_samples - self.filled).min(samples.len());
            self.pcm[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            self.filled += take;
            samples = &samples[take..];
            if self.filled == self.frame_samples {
                self.filled = 0;
                self.encode_frame(emit);
                completed += 1;
            }
        }
        completed
    }

    /// Ends the talk-spurt: the partial frame is dropped and an
    /// end-of-transmission marker, at the media time the next frame would
    /// have had, takes the next sequence number. The next frame starts a
    /// new talk-spurt. Outside a talk-spurt nothing is handed out; returns
    /// whether a marker was.
    pub fn end_talkspurt(&mut self, emit: &mut impl FnMut(&CodedFrame<'_>)) -> bool {
        self.filled = 0;
        if !self.in_talkspurt {
            return false;
        }
        self.in_talkspurt = false;
        let end = CodedFrame {
            seq: Seq(self.seq),
            timestamp: MediaTimestamp(self.timestamp),
            flags: Flags::NONE,
            payload: &[],
            active: false,
            reached: SampleIndex::ZERO,
            level_dbfs: LEVEL_FLOOR_DBFS,
        };
        self.seq = self.seq.wrapping_add(1);
        self.stats.ends += 1;
        emit(&end);
        true
    }

    /// What has happened so far.
    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The encoder (to change bitrate or expected loss between frames).
    pub fn encoder_mut(&mut self) -> &mut E {
        &mut self.encoder
    }

    /// Samples one frame holds.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    fn encode_frame(&mut self, emit: &mut impl FnMut(&CodedFrame<'_>)) {
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(self.frame_units);
        let pcm = &self.pcm[..self.frame_samples];
        let len = match self.encoder.encode(pcm, &mut self.packet) {
            Ok(len) if len > 0 => len.min(MAX_PAYLOAD_LEN),
            _ => {
                // The frame's media time passes; the receiver conceals it.
                self.stats.encode_errors += 1;
                return;
            }
        };
        let mut flags = Flags::NONE;
        if !self.in_talkspurt {
            flags = flags.union(Flags::START_OF_TALKSPURT);
            self.in_talkspurt = true;
        }
        let payload = &self.packet[..len];
        if self.encoder.has_fec(payload) {
            flags = flags.union(Flags::FEC);
            self.stats.fec_frames += 1;
        }
        let frame = CodedFrame {
            seq: Seq(self.seq),
            timestamp: MediaTimestamp(timestamp),
            flags,
            payload,
            active: false,
            reached: SampleIndex::ZERO,
            level_dbfs: LEVEL_FLOOR_DBFS,
        };
        self.seq = self.seq.wrapping_add(1);
        self.stats.frames += 1;
        emit(&frame);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{FailEvery, Tagger};
    use super::*;

    fn collect(
        framer: &mut Framer<impl Encoder>,
        samples: &[i16],
        out: &mut [(u32, u32, Flags)],
    ) -> usize {
        let mut n = 0;
        framer.push(samples, &mut |f| {
            out[n] = (f.seq.0, f.timestamp.0, f.flags);
            n += 1;
        });
        n
    }

    #[test]
    fn periods_make_frames_one_frame_of_media_time_apart_and_the_first_starts_a_talkspurt() {
        let mut framer = Framer::new(Tagger::new(960), Seq(7), MediaTimestamp(100));
        let mut out = [(0, 0, Flags::NONE); 8];
        // Three periods of 400: the second frame straddles.
        assert_eq!(collect(&mut framer, &[1; 400], &mut out), 0);
        assert_eq!(collect(&mut framer, &[1; 400], &mut out), 0);
        assert_eq!(collect(&mut framer, &[1; 400], &mut out), 1);
        assert_eq!(out[0], (7, 100, Flags::START_OF_TALKSPURT));
        assert_eq!(collect(&mut framer, &[1; 960], &mut out), 1);
        assert_eq!(
            out[0],
            (8, 1_060, Flags::NONE),
            "media time +960, one talk-spurt"
        );
        assert_eq!(framer.stats().frames, 2);
    }

    #[test]
    fn the_end_drops_the_partial_frame_and_takes_the_next_frames_media_time() {
        let mut framer = Framer::new(Tagger::new(960), Seq(0), MediaTimestamp(0));
        framer.push(&[1; 960 + 500], &mut |_| {});
        let mut end = None;
        assert!(
            framer.end_talkspurt(
                &mut |f| end = Some((f.seq, f.timestamp, f.is_end_of_transmission()))
            )
        );
        assert_eq!(end, Some((Seq(1), MediaTimestamp(960), true)));
        assert!(!framer.end_talkspurt(&mut |_| panic!("no talk-spurt open")));
        // The next frame starts afresh, at the end's media time (the marker
        // holds no audio) and the sequence number after it.
        let mut out = [(0, 0, Flags::NONE); 2];
        assert_eq!(collect(&mut framer, &[1; 500], &mut out), 0);
        assert_eq!(collect(&mut framer, &[1; 460], &mut out), 1);
        assert_eq!(out[0], (2, 960, Flags::START_OF_TALKSPURT));
    }

    #[test]
    fn a_refused_frame_passes_its_media_time_and_is_counted() {
        let mut framer = Framer::new(FailEvery::new(960, 2), Seq(0), MediaTimestamp(0));
        let mut out = [(0, 0, Flags::NONE); 4];
        assert_eq!(collect(&mut framer, &[1; 3 * 960], &mut out), 2);
        assert_eq!(out[0].1, 0);
        assert_eq!(
            out[1],
            (1, 1_920, Flags::NONE),
            "the refused frame's time passed"
        );
        assert_eq!(framer.stats().encode_errors, 1);
        assert_eq!(framer.stats().frames, 2);
    }
}
