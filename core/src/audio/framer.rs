//! [`Framer`]: device periods in, one frame per codec frame out, each
//! named by its sequence number and media time: coded when somebody wants
//! the channel's packets, otherwise kept uncoded in a short backlog (the
//! pre-roll) and coded from it when they are wanted.

use crate::node::Captured;
use crate::time::SampleIndex;
use crate::wire::{Flags, MAX_PAYLOAD_LEN, MediaTimestamp, Seq};

use super::codec::Encoder;
use super::{LEVEL_FLOOR_DBFS, MAX_FRAME_SAMPLES};

/// Frames of the backlog coded per [`Framer::push_gated`] call while it
/// catches up: a 300 ms pre-roll of 20 ms frames is out within four 5 ms
/// periods, and no period pays for more than four encodes on top of its
/// own (a whole pre-roll at once would be fifteen, too long a burst for a
/// slow core inside a 15 ms card buffer).
pub const CATCH_UP_FRAMES: usize = 4;

/// What a [`CodedFrame`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Coded as it completed: its packet and its marks.
    Coded,
    /// Completed while nobody wanted packets: its marks only (no packet).
    /// Its audio waits in the framer's backlog and comes out later as a
    /// [`Late`](FrameKind::Late) packet if coding starts before newer
    /// frames push it out.
    Uncoded,
    /// The packet of a frame handed out as
    /// [`Uncoded`](FrameKind::Uncoded) earlier (the pre-roll, coded when
    /// the channel's packets became wanted); its marks were given then.
    Late,
    /// The end of a talk-spurt (no packet).
    End,
}

/// One frame and its place in the stream, lent to whoever takes it (the
/// capture side's sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodedFrame<'a> {
    /// What it is.
    pub kind: FrameKind,
    /// Its sequence number among the packets (unused by an
    /// [`Uncoded`](FrameKind::Uncoded) frame).
    pub seq: Seq,
    /// The media time of its first sample, in 48 kHz units.
    pub timestamp: MediaTimestamp,
    /// [`Flags::START_OF_TALKSPURT`] on a talk-spurt's first packet,
    /// [`Flags::FEC`] when the packet carries in-band FEC.
    pub flags: Flags,
    /// The packet (empty unless [`Coded`](FrameKind::Coded) or
    /// [`Late`](FrameKind::Late)).
    pub payload: &'a [u8],
    /// Whether the channel's own sources (VOX, or "always") call it
    /// active. Set by the [`Capture`](super::Capture); `false` from a bare
    /// framer and on a late packet.
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
        self.kind == FrameKind::End
    }

    /// The frame as the node engine takes it from the capture side: an
    /// end-of-transmission marker says the capture side stopped.
    pub fn captured(&self) -> Captured<'a> {
        match self.kind {
            FrameKind::End => Captured::End {
                timestamp: self.timestamp,
            },
            FrameKind::Coded => Captured::Frame {
                timestamp: self.timestamp,
                fec: self.flags.contains(Flags::FEC),
                payload: self.payload,
                active: self.active,
                reached: self.reached,
                level_dbfs: self.level_dbfs,
            },
            FrameKind::Uncoded => Captured::Uncoded {
                timestamp: self.timestamp,
                active: self.active,
                reached: self.reached,
                level_dbfs: self.level_dbfs,
            },
            FrameKind::Late => Captured::Late {
                timestamp: self.timestamp,
                fec: self.flags.contains(Flags::FEC),
                payload: self.payload,
            },
        }
    }
}

/// What a [`Framer`] has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FramerStats {
    /// Frames encoded and handed out (as they completed or late).
    pub frames: u64,
    /// Of `frames`, those whose packet carries in-band FEC.
    pub fec_frames: u64,
    /// Of `frames`, those coded late from the backlog.
    pub late_frames: u64,
    /// Frames handed out uncoded (nobody wanted their packets then).
    pub uncoded_frames: u64,
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
/// periods) is handed out as soon as its last period arrives. The media
/// time advances by one frame per frame, coded or not.
///
/// Coding costs most of a quiet channel's CPU, so it runs only while the
/// caller says packets are wanted ([`push_gated`](Self::push_gated)).
/// Meanwhile each frame is handed out [`Uncoded`](FrameKind::Uncoded) (its
/// marks keep the engine's clock and gate going) and its PCM kept in a
/// backlog of the last few frames (the caller's buffer: the pre-roll).
/// When packets are wanted again the encoder starts from a clean state and
/// codes the backlog first, oldest first, at most [`CATCH_UP_FRAMES`] per
/// call, as [`Late`](FrameKind::Late) packets; frames that complete
/// meanwhile join the backlog, so packets always leave in media order.
///
/// Sans-IO and allocation-free: the frame's PCM and its packet live in
/// fixed arrays, the backlog in the caller's buffer, and every frame is
/// handed out before [`push`](Self::push) returns.
#[derive(Debug)]
pub struct Framer<E, B = [i16; 0]> {
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
    backlog: Backlog<B>,
    /// The last frame was coded (or none was made yet).
    coding: bool,
    stats: FramerStats,
}

/// Uncoded frames, oldest first, in the caller's buffer: consecutive in
/// media time, so only the oldest's is kept.
#[derive(Debug)]
struct Backlog<B> {
    buffer: B,
    /// Frames it holds at most.
    capacity: usize,
    /// The oldest frame's slot.
    head: usize,
    len: usize,
    /// The oldest frame's media time.
    timestamp: u32,
}

impl<E: Encoder> Framer<E> {
    /// A framer for `encoder` whose stream starts at sequence number
    /// `first_seq` and media time `first_timestamp`, without a backlog
    /// (uncoded frames are not kept).
    ///
    /// # Panics
    ///
    /// If the encoder's frame is empty or longer than
    /// [`MAX_FRAME_SAMPLES`] (an encoder's config is checked before one is
    /// made: never).
    pub fn new(encoder: E, first_seq: Seq, first_timestamp: MediaTimestamp) -> Framer<E> {
        Framer::with_backlog(encoder, first_seq, first_timestamp, [])
    }
}

impl<E: Encoder, B: AsRef<[i16]> + AsMut<[i16]>> Framer<E, B> {
    /// As [`new`](Framer::new), keeping as many uncoded frames as whole
    /// frames fit in `backlog` (the pre-roll's length).
    ///
    /// # Panics
    ///
    /// As [`new`](Framer::new).
    pub fn with_backlog(
        encoder: E,
        first_seq: Seq,
        first_timestamp: MediaTimestamp,
        backlog: B,
    ) -> Framer<E, B> {
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
            backlog: Backlog {
                capacity: backlog.as_ref().len() / frame_samples,
                buffer: backlog,
                head: 0,
                len: 0,
                timestamp: first_timestamp.0,
            },
            coding: true,
            stats: FramerStats::default(),
        }
    }

    /// Adds one period, coding every frame it completes (see
    /// [`push_gated`](Self::push_gated)).
    pub fn push(&mut self, samples: &[i16], emit: &mut impl FnMut(&CodedFrame<'_>)) -> usize {
        self.push_gated(samples, true, emit)
    }

    /// Adds one period; hands every frame it completes to `emit`: coded if
    /// `wanted` (after up to [`CATCH_UP_FRAMES`] of the backlog), else
    /// uncoded into the backlog. Returns the number of frames completed
    /// (coded, kept or refused).
    pub fn push_gated(
        &mut self,
        mut samples: &[i16],
        wanted: bool,
        emit: &mut impl FnMut(&CodedFrame<'_>),
    ) -> usize {
        if wanted {
            if !self.coding {
                // What it coded last is long gone: no prediction from it.
                self.encoder.reset();
                self.coding = true;
            }
            self.catch_up(CATCH_UP_FRAMES, emit);
        } else {
            self.coding = false;
        }
        let mut completed = 0;
        while !samples.is_empty() {
            let take = (self.frame_samples - self.filled).min(samples.len());
            self.pcm[self.filled..self.filled + take].copy_from_slice(&samples[..take]);
            self.filled += take;
            samples = &samples[take..];
            if self.filled == self.frame_samples {
                self.filled = 0;
                if wanted && self.backlog.len == 0 {
                    self.code_frame(emit);
                } else {
                    self.keep_frame(emit);
                }
                completed += 1;
            }
        }
        completed
    }

    /// Ends the talk-spurt: frames still waiting to be coded while packets
    /// are wanted go out first, the partial frame and any other backlog
    /// are dropped, and an end-of-transmission marker, at the media time
    /// the next frame would have had, takes the next sequence number. The
    /// next frame starts a new talk-spurt. Outside a talk-spurt no marker
    /// is handed out; returns whether one was.
    pub fn end_talkspurt(&mut self, emit: &mut impl FnMut(&CodedFrame<'_>)) -> bool {
        self.filled = 0;
        if self.coding {
            self.catch_up(usize::MAX, emit);
        }
        self.backlog.len = 0;
        if !self.in_talkspurt {
            return false;
        }
        self.in_talkspurt = false;
        let end = CodedFrame {
            kind: FrameKind::End,
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

    /// Frames waiting uncoded in the backlog.
    pub fn backlog_frames(&self) -> usize {
        self.backlog.len
    }

    /// Codes the frame just completed in `pcm` and hands it out.
    fn code_frame(&mut self, emit: &mut impl FnMut(&CodedFrame<'_>)) {
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(self.frame_units);
        let Framer {
            encoder,
            pcm,
            frame_samples,
            packet,
            ..
        } = self;
        let len = encoder.encode(&pcm[..*frame_samples], packet);
        self.hand_out(FrameKind::Coded, timestamp, len, emit);
    }

    /// Keeps the frame just completed in `pcm` in the backlog (the oldest
    /// gives way when it is full) and hands out its marks.
    fn keep_frame(&mut self, emit: &mut impl FnMut(&CodedFrame<'_>)) {
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(self.frame_units);
        let backlog = &mut self.backlog;
        if backlog.capacity > 0 {
            if backlog.len == backlog.capacity {
                backlog.head = (backlog.head + 1) % backlog.capacity;
                backlog.timestamp = backlog.timestamp.wrapping_add(self.frame_units);
                backlog.len -= 1;
            }
            if backlog.len == 0 {
                backlog.timestamp = timestamp;
            }
            let slot = (backlog.head + backlog.len) % backlog.capacity;
            let n = self.frame_samples;
            backlog.buffer.as_mut()[slot * n..(slot + 1) * n].copy_from_slice(&self.pcm[..n]);
            backlog.len += 1;
        }
        self.stats.uncoded_frames += 1;
        emit(&CodedFrame {
            kind: FrameKind::Uncoded,
            seq: Seq(self.seq),
            timestamp: MediaTimestamp(timestamp),
            flags: Flags::NONE,
            payload: &[],
            active: false,
            reached: SampleIndex::ZERO,
            level_dbfs: LEVEL_FLOOR_DBFS,
        });
    }

    /// Codes up to `limit` frames of the backlog, oldest first.
    fn catch_up(&mut self, limit: usize, emit: &mut impl FnMut(&CodedFrame<'_>)) {
        for _ in 0..limit {
            if self.backlog.len == 0 {
                return;
            }
            let Framer {
                encoder,
                frame_samples,
                frame_units,
                packet,
                backlog,
                ..
            } = self;
            let n = *frame_samples;
            let slot = backlog.head;
            let timestamp = backlog.timestamp;
            backlog.head = (backlog.head + 1) % backlog.capacity;
            backlog.timestamp = backlog.timestamp.wrapping_add(*frame_units);
            backlog.len -= 1;
            let len = encoder.encode(&backlog.buffer.as_ref()[slot * n..(slot + 1) * n], packet);
            self.hand_out(FrameKind::Late, timestamp, len, emit);
        }
    }

    /// Hands out the packet the encoder made (`len`), or counts the
    /// refusal.
    fn hand_out<X>(
        &mut self,
        kind: FrameKind,
        timestamp: u32,
        len: Result<usize, X>,
        emit: &mut impl FnMut(&CodedFrame<'_>),
    ) {
        let len = match len {
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
        if kind == FrameKind::Late {
            self.stats.late_frames += 1;
        }
        let frame = CodedFrame {
            kind,
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

    /// Frames handed out as (kind, timestamp, tag): the tag is the coded
    /// frame's first sample (0 when uncoded).
    fn gated(
        framer: &mut Framer<Tagger, [i16; 3 * 960]>,
        samples: &[i16],
        wanted: bool,
        out: &mut [(FrameKind, u32, u8); 16],
    ) -> usize {
        let mut n = 0;
        framer.push_gated(samples, wanted, &mut |f| {
            out[n] = (
                f.kind,
                f.timestamp.0,
                f.payload.first().copied().unwrap_or(0),
            );
            n += 1;
        });
        n
    }

    #[test]
    fn unwanted_frames_go_out_uncoded_and_the_newest_wait_in_the_backlog() {
        let mut framer =
            Framer::with_backlog(Tagger::new(960), Seq(0), MediaTimestamp(0), [0; 3 * 960]);
        let mut out = [(FrameKind::End, 0, 0); 16];
        for tag in 1..=5 {
            assert_eq!(gated(&mut framer, &[tag; 960], false, &mut out), 1);
            assert_eq!(out[0], (FrameKind::Uncoded, (tag as u32 - 1) * 960, 0));
        }
        assert_eq!(framer.backlog_frames(), 3, "the newest three");
        assert_eq!(framer.stats().frames, 0, "nothing coded");
        assert_eq!(framer.stats().uncoded_frames, 5);
        // Wanted: the backlog first, oldest first, then the frame that
        // completes, each at its own media time.
        assert_eq!(gated(&mut framer, &[6; 960], true, &mut out), 4);
        assert_eq!(
            out[..4],
            [
                (FrameKind::Late, 2 * 960, 3),
                (FrameKind::Late, 3 * 960, 4),
                (FrameKind::Late, 4 * 960, 5),
                (FrameKind::Coded, 5 * 960, 6),
            ]
        );
        assert_eq!(framer.encoder().resets, 1, "a clean start after the gap");
        assert_eq!(framer.stats().late_frames, 3);
        assert_eq!(framer.backlog_frames(), 0);
    }

    #[test]
    fn catching_up_is_spread_over_periods_and_keeps_media_order() {
        let mut framer =
            Framer::with_backlog(Tagger::new(960), Seq(0), MediaTimestamp(0), [0; 3 * 960]);
        let mut out = [(FrameKind::End, 0, 0); 16];
        // Periods of 120 samples: a frame every eight; the backlog is full.
        let mut tag = 0;
        for _ in 0..3 {
            tag += 1;
            for _ in 0..8 {
                gated(&mut framer, &[tag; 120], false, &mut out);
            }
        }
        assert_eq!(framer.backlog_frames(), 3);
        // A limit of CATCH_UP_FRAMES per call; a tiny limit shows the
        // order when a frame completes while the backlog drains.
        let mut packets = [(FrameKind::End, 0, 0); 16];
        let mut len = 0;
        tag += 1;
        for _ in 0..8 {
            let n = gated(&mut framer, &[tag; 120], true, &mut out);
            packets[len..len + n].copy_from_slice(&out[..n]);
            len += n;
        }
        const { assert!(CATCH_UP_FRAMES >= 3, "a 3-frame backlog drains at once") };
        assert_eq!(
            packets[..len],
            [
                (FrameKind::Late, 0, 1),
                (FrameKind::Late, 960, 2),
                (FrameKind::Late, 1_920, 3),
                (FrameKind::Coded, 2_880, 4),
            ]
        );
    }

    #[test]
    fn a_backlog_longer_than_a_call_drains_in_media_order() {
        let mut framer =
            Framer::with_backlog(Tagger::new(240), Seq(0), MediaTimestamp(0), [0; 3 * 960]);
        let mut out = [(FrameKind::End, 0, 0); 16];
        // 240-sample frames: the backlog holds twelve.
        for tag in 1..=12 {
            gated(&mut framer, &[tag; 240], false, &mut out);
        }
        let mut seen = [0u8; 32];
        let mut len = 0;
        let mut calls = 0;
        let mut tag = 12;
        while len < 16 {
            tag += 1;
            let n = gated(&mut framer, &[tag; 240], true, &mut out);
            for &(kind, _, t) in &out[..n] {
                if kind != FrameKind::Uncoded {
                    seen[len] = t;
                    len += 1;
                }
            }
            calls += 1;
        }
        let expected: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        assert_eq!(seen[..16], expected, "every frame once, in order");
        assert_eq!(
            calls, 4,
            "CATCH_UP_FRAMES a call, the new frames queued behind"
        );
    }

    #[test]
    fn the_end_codes_what_is_wanted_and_drops_the_rest() {
        let mut framer =
            Framer::with_backlog(Tagger::new(960), Seq(0), MediaTimestamp(0), [0; 3 * 960]);
        let mut out = [(FrameKind::End, 0, 0); 16];
        gated(&mut framer, &[1; 960], true, &mut out);
        gated(&mut framer, &[2; 960], false, &mut out);
        let mut kinds = [FrameKind::Coded; 4];
        let mut n = 0;
        framer.end_talkspurt(&mut |f| {
            kinds[n] = f.kind;
            n += 1;
        });
        assert_eq!(
            kinds[..n],
            [FrameKind::End],
            "the uncoded frame is not wanted"
        );
        assert_eq!(framer.backlog_frames(), 0);
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
