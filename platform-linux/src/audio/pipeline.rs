//! One channel's encode and decode sides as allocation-free steps
//! (DESIGN.md "Audio path"): the pieces the capture and playback threads
//! call between their device and the network.
//!
//! ```text
//! capture:  Block (period) ─► Packetizer::push_block ─► Opus encode ─► rtrb<EncodedFrame>
//! playback: EncodedFrame ─► Depacketizer::insert (jitter buffer)
//!           once per frame: Depacketizer::play_frame ─► decode / FEC / PLC / silence
//!                          ─► period Blocks ─► rtrb<Block> ─► PlaybackLoop
//! ```
//!
//! Both are made at startup (the codec state, the jitter buffer's slots and
//! every scratch buffer are allocated then) and afterwards allocate, lock
//! and log nothing (`tests/audio_pipeline.rs` counts). What happens is
//! counted in plain [`PacketizerStats`] / [`DepacketizerStats`], read by
//! whoever owns the step.

use echostream_core::jitter::{InsertResult, JitterBuffer, JitterConfig, MEDIA_RATE_HZ, Playout};
use echostream_core::node::Captured;
use echostream_core::time::{Instant, SampleIndex};
use echostream_core::wire::{
    Flags, KeyId, Kind, MAX_PAYLOAD_LEN, MediaTimestamp, Repr, Seq, StreamId,
};

use super::{Block, MAX_PERIOD_FRAMES};

/// The level reported for digital silence, dBFS.
pub const LEVEL_FLOOR_DBFS: i16 = -120;

/// The RMS level of `samples`, dBFS (full-scale sine: −3), rounded, not
/// under [`LEVEL_FLOOR_DBFS`].
pub fn level_dbfs(samples: &[i16]) -> i16 {
    if samples.is_empty() {
        return LEVEL_FLOOR_DBFS;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        return LEVEL_FLOOR_DBFS;
    }
    (20.0 * rms.log10())
        .round()
        .max(f64::from(LEVEL_FLOOR_DBFS)) as i16
}
use crate::opus::{Decoder, Encoder, MAX_PACKET_SAMPLES, OpusError, packet_has_fec};

/// Bytes an [`EncodedFrame`] holds: the largest wire payload (one Opus
/// packet, RFC 6716's 1275-byte maximum).
pub const ENCODED_FRAME_LEN_MAX: usize = MAX_PAYLOAD_LEN;

/// Ring capacity in frames made by [`frame_ring`]: 64 frames (1.28 s of 20
/// ms frames), the pre-roll and a slow network thread with room to spare.
pub const FRAME_RING_FRAMES: usize = 64;

/// One encoded Opus frame and its place in the stream: what the capture
/// thread hands to the network, and the network to the playback side.
///
/// Fixed size, so moving it through a ring never allocates. A `len` of 0
/// marks the end of a talk-spurt (an end-of-transmission packet).
#[derive(Clone)]
pub struct EncodedFrame {
    /// Its sequence number in the stream.
    pub seq: Seq,
    /// The media time of its first sample, in 48 kHz units.
    pub timestamp: MediaTimestamp,
    /// [`Flags::START_OF_TALKSPURT`] on a talk-spurt's first frame,
    /// [`Flags::FEC`] when the packet carries in-band FEC.
    pub flags: Flags,
    /// Bytes of `bytes` that are the packet (0: end of transmission).
    pub len: u16,
    /// The Opus packet, in the first `len` bytes.
    pub bytes: [u8; ENCODED_FRAME_LEN_MAX],
    /// When the network thread received it (`None` for frames made
    /// locally): the playback side measures arrival jitter from this, not
    /// from when it happened to look at its ring.
    pub arrived: Option<std::time::Instant>,
    /// For captured frames: whether the channel's own sources (VOX, or a
    /// channel set to "always") call it active. The node engine decides
    /// from this, and its other sources, whether the frame is sent.
    pub active: bool,
    /// For captured frames: the device frame just past the audio heard
    /// when it was made (the channel's media clock).
    pub reached: SampleIndex,
    /// For captured frames: the loudest period's level in it, dBFS.
    pub level_dbfs: i16,
}

impl std::fmt::Debug for EncodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedFrame")
            .field("seq", &self.seq)
            .field("timestamp", &self.timestamp)
            .field("flags", &self.flags)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl EncodedFrame {
    /// An empty frame (an end-of-transmission marker) at `seq`/`timestamp`.
    pub fn end_of_transmission(seq: Seq, timestamp: MediaTimestamp) -> EncodedFrame {
        EncodedFrame {
            seq,
            timestamp,
            flags: Flags::NONE,
            len: 0,
            bytes: [0; ENCODED_FRAME_LEN_MAX],
            arrived: None,
            active: false,
            reached: SampleIndex::ZERO,
            level_dbfs: LEVEL_FLOOR_DBFS,
        }
    }

    /// The frame as the node engine takes it from the capture side: an
    /// end-of-transmission marker says the capture side stopped.
    pub fn captured(&self) -> Captured<'_> {
        if self.is_end_of_transmission() {
            Captured::End {
                timestamp: self.timestamp,
            }
        } else {
            Captured::Frame {
                timestamp: self.timestamp,
                fec: self.flags.contains(Flags::FEC),
                payload: self.payload(),
                active: self.active,
                reached: self.reached,
                level_dbfs: self.level_dbfs,
            }
        }
    }

    /// The Opus packet.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// True for an end-of-transmission marker.
    pub fn is_end_of_transmission(&self) -> bool {
        self.len == 0
    }

    /// The wire header this frame travels under on `stream_id`.
    pub fn repr(&self, stream_id: StreamId, key_id: KeyId) -> Repr {
        Repr {
            kind: if self.is_end_of_transmission() {
                Kind::EndOfTransmission
            } else {
                Kind::Audio
            },
            flags: self.flags,
            key_id,
            stream_id,
            seq: self.seq,
            timestamp: self.timestamp,
            payload_len: usize::from(self.len),
        }
    }
}

/// A ring of [`FRAME_RING_FRAMES`] frames, allocated now (startup).
pub fn frame_ring() -> (rtrb::Producer<EncodedFrame>, rtrb::Consumer<EncodedFrame>) {
    rtrb::RingBuffer::new(FRAME_RING_FRAMES)
}

/// Media-clock (48 kHz) units in `samples` at `rate_hz`.
fn media_units(samples: usize, rate_hz: u32) -> u32 {
    (samples as u64 * u64::from(MEDIA_RATE_HZ) / u64::from(rate_hz)) as u32
}

/// What a [`Packetizer`] has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketizerStats {
    /// Frames encoded and pushed.
    pub frames: u64,
    /// Of `frames`, those whose packet carries in-band FEC.
    pub fec_frames: u64,
    /// Frames (and end markers) dropped because the ring was full.
    pub ring_full_drops: u64,
    /// Frames the encoder refused (not expected; the audio is lost).
    pub encode_errors: u64,
    /// End-of-transmission markers pushed.
    pub ends: u64,
}

/// The encode side: capture periods in, one [`EncodedFrame`] per Opus
/// frame out into an rtrb ring.
///
/// Any period length works (a block that straddles a frame boundary is
/// split across the two frames); a frame that is a whole number of periods
/// (20 ms of 5 ms periods) encodes as soon as its last period arrives.
#[derive(Debug)]
pub struct Packetizer {
    encoder: Encoder,
    ring: rtrb::Producer<EncodedFrame>,
    pcm: [i16; MAX_PERIOD_FRAMES],
    filled: usize,
    frame_samples: usize,
    /// One frame in 48 kHz units.
    frame_units: u32,
    seq: u32,
    timestamp: u32,
    in_talkspurt: bool,
    out: EncodedFrame,
    stats: PacketizerStats,
}

impl Packetizer {
    /// Everything the step needs, made now. The stream starts at sequence
    /// number `first_seq` and media time `first_timestamp`.
    ///
    /// # Panics
    ///
    /// If the encoder's frame is longer than [`MAX_PERIOD_FRAMES`] (never:
    /// that is the longest Opus frame at 48 kHz).
    pub fn new(
        encoder: Encoder,
        ring: rtrb::Producer<EncodedFrame>,
        first_seq: Seq,
        first_timestamp: MediaTimestamp,
    ) -> Packetizer {
        let frame_samples = encoder.frame_samples() * usize::from(encoder.config().channels);
        assert!(frame_samples <= MAX_PERIOD_FRAMES, "Opus frame too long");
        let frame_units = media_units(encoder.frame_samples(), encoder.config().sample_rate_hz);
        Packetizer {
            encoder,
            ring,
            pcm: [0; MAX_PERIOD_FRAMES],
            filled: 0,
            frame_samples,
            frame_units,
            seq: first_seq.0,
            timestamp: first_timestamp.0,
            in_talkspurt: false,
            out: EncodedFrame::end_of_transmission(first_seq, first_timestamp),
            stats: PacketizerStats::default(),
        }
    }

    /// Adds one captured period; encodes and pushes every frame it
    /// completes. Returns the number of frames completed. No allocation,
    /// lock or logging.
    pub fn push_block(&mut self, block: &Block) -> usize {
        let mut frames = block.frames();
        let mut completed = 0;
        while !frames.is_empty() {
            let take = (self.frame_samples - self.filled).min(frames.len());
            self.pcm[self.filled..self.filled + take].copy_from_slice(&frames[..take]);
            self.filled += take;
            frames = &frames[take..];
            if self.filled == self.frame_samples {
                self.filled = 0;
                self.encode_frame();
                completed += 1;
            }
        }
        completed
    }

    /// Ends the talk-spurt: the partial frame is dropped and an
    /// end-of-transmission marker takes the next sequence number. The next
    /// frame starts a new talk-spurt. Nothing happens outside one.
    pub fn end_talkspurt(&mut self) {
        self.filled = 0;
        if !self.in_talkspurt {
            return;
        }
        self.in_talkspurt = false;
        self.out.seq = Seq(self.seq);
        self.out.timestamp = MediaTimestamp(self.timestamp);
        self.out.flags = Flags::NONE;
        self.out.len = 0;
        self.seq = self.seq.wrapping_add(1);
        self.push_out();
        self.stats.ends += 1;
    }

    /// What has happened so far.
    pub fn stats(&self) -> PacketizerStats {
        self.stats
    }

    /// The encoder (to change bitrate or expected loss between frames).
    pub fn encoder_mut(&mut self) -> &mut Encoder {
        &mut self.encoder
    }

    fn encode_frame(&mut self) {
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(self.frame_units);
        let pcm = &self.pcm[..self.frame_samples];
        let len = match self.encoder.encode(pcm, &mut self.out.bytes) {
            Ok(len) if len > 0 => len,
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
        let payload = &self.out.bytes[..len];
        if packet_has_fec(payload) {
            flags = flags.union(Flags::FEC);
            self.stats.fec_frames += 1;
        }
        self.out.seq = Seq(self.seq);
        self.out.timestamp = MediaTimestamp(timestamp);
        self.out.flags = flags;
        self.out.len = len as u16;
        self.seq = self.seq.wrapping_add(1);
        self.stats.frames += 1;
        self.push_out();
    }

    fn push_out(&mut self) {
        if self.ring.push(self.out.clone()).is_err() {
            self.stats.ring_full_drops += 1;
        }
    }
}

/// What a [`Depacketizer`] has done. The jitter buffer keeps its own
/// finer counters ([`Depacketizer::jitter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepacketizerStats {
    /// Frames inserted into the jitter buffer.
    pub inserted: u64,
    /// Frames the jitter buffer refused (late, duplicate, too early…).
    pub refused: u64,
    /// Frames decoded from their packet.
    pub decoded: u64,
    /// Frames rebuilt from the next packet's in-band FEC.
    pub fec: u64,
    /// Frames concealed (Opus PLC).
    pub concealed: u64,
    /// Frames of silence (idle, buffering, pauses, end of transmission).
    pub silence: u64,
    /// End-of-transmission answers.
    pub ends: u64,
    /// Packets the decoder refused (played as concealment).
    pub decode_errors: u64,
    /// Period blocks dropped because the playback ring was full.
    pub ring_full_drops: u64,
}

/// What one [`Depacketizer::play_frame`] played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// A packet, decoded.
    Frame,
    /// The missing frame, rebuilt from the next packet's FEC.
    Fec,
    /// The missing frame, concealed.
    Conceal,
    /// Silence.
    Silence,
    /// Silence, and the talk-spurt is over (release PTT after the hang
    /// time).
    EndOfTransmission,
}

/// The decode side: [`EncodedFrame`]s into a jitter buffer as they arrive;
/// once per frame period one frame of PCM out, sliced into period
/// [`Block`]s for the playback loop.
///
/// `SLOTS` is the jitter buffer's window (a power of two; 64 by default,
/// 1.28 s of 20 ms frames).
pub struct Depacketizer<const SLOTS: usize = 64> {
    jitter: JitterBuffer<SLOTS>,
    decoder: Decoder,
    stream_id: StreamId,
    rate_hz: u32,
    /// Samples in one frame at the device rate.
    frame_samples: usize,
    period_frames: usize,
    pcm: [i16; MAX_PACKET_SAMPLES],
    block: Block,
    index: SampleIndex,
    stats: DepacketizerStats,
}

impl<const SLOTS: usize> std::fmt::Debug for Depacketizer<SLOTS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Depacketizer")
            .field("stream_id", &self.stream_id)
            .field("frame_samples", &self.frame_samples)
            .field("period_frames", &self.period_frames)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Why a [`Depacketizer`] cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The jitter buffer's settings are refused.
    #[error("jitter buffer: {0}")]
    Jitter(echostream_core::jitter::ConfigError),
    /// The decoder cannot be made.
    #[error("Opus decoder: {0}")]
    Opus(#[from] OpusError),
    /// The frame and period lengths do not fit together.
    #[error("{0}")]
    Shape(&'static str),
}

impl<const SLOTS: usize> Depacketizer<SLOTS> {
    /// Everything the step needs, made now: a mono decoder at `rate_hz`
    /// and a jitter buffer for `jitter.frame_samples` (48 kHz units);
    /// frames are sliced into periods of `period_frames`.
    ///
    /// # Errors
    ///
    /// A refused jitter config, a rate Opus does not take, or a frame that
    /// is not a whole number of periods.
    pub fn new(
        jitter: JitterConfig,
        rate_hz: u32,
        period_frames: usize,
        stream_id: StreamId,
    ) -> Result<Self, PipelineError> {
        let decoder = Decoder::new(rate_hz, 1)?;
        let buffer = JitterBuffer::new(jitter).map_err(PipelineError::Jitter)?;
        let frame_samples = (u64::from(jitter.frame_samples) * u64::from(rate_hz)
            / u64::from(MEDIA_RATE_HZ)) as usize;
        if period_frames == 0
            || period_frames > MAX_PERIOD_FRAMES
            || !frame_samples.is_multiple_of(period_frames)
        {
            return Err(PipelineError::Shape(
                "the frame must be a whole number of periods of 1 to 2880 frames",
            ));
        }
        Ok(Depacketizer {
            jitter: buffer,
            decoder,
            stream_id,
            rate_hz,
            frame_samples,
            period_frames,
            pcm: [0; MAX_PACKET_SAMPLES],
            block: Block::silent(SampleIndex::ZERO, period_frames),
            index: SampleIndex::ZERO,
            stats: DepacketizerStats::default(),
        })
    }

    /// Inserts a frame that arrived at `now`. No allocation.
    pub fn insert(&mut self, now: Instant, frame: &EncodedFrame) -> InsertResult {
        let repr = frame.repr(self.stream_id, KeyId(0));
        let result = self.jitter.insert(now, &repr, frame.payload());
        if result == InsertResult::Inserted {
            self.stats.inserted += 1;
        } else {
            self.stats.refused += 1;
        }
        result
    }

    /// One frame period: pops the jitter buffer at `now`, turns its answer
    /// into one frame of PCM and pushes it to `ring` as period blocks
    /// (a full ring drops and counts). Call exactly once per frame period.
    /// No allocation, lock or logging.
    pub fn play_frame(&mut self, now: Instant, ring: &mut rtrb::Producer<Block>) -> Played {
        let frame_samples = self.frame_samples;
        let out = &mut self.pcm[..frame_samples];
        let (played, result) = match self.jitter.pop(now) {
            Playout::Frame(packet) => (Played::Frame, self.decoder.decode(packet, out)),
            Playout::Fec(next) => (Played::Fec, self.decoder.decode_fec(next, out)),
            Playout::Conceal => (Played::Conceal, self.decoder.conceal(out)),
            Playout::Silence => (Played::Silence, Ok(0)),
            Playout::EndOfTransmission => (Played::EndOfTransmission, Ok(0)),
        };
        let produced = match result {
            Ok(n) => n,
            Err(_) => {
                self.stats.decode_errors += 1;
                self.decoder.conceal(out).unwrap_or(0)
            }
        };
        // Whatever came out, exactly one frame is played: a packet of
        // another duration is cut or padded with silence.
        let produced = produced.min(frame_samples);
        out[produced..].fill(0);
        match played {
            Played::Frame => self.stats.decoded += 1,
            Played::Fec => self.stats.fec += 1,
            Played::Conceal => self.stats.concealed += 1,
            Played::Silence => self.stats.silence += 1,
            Played::EndOfTransmission => {
                self.stats.ends += 1;
                // The next talk-spurt must not continue this one's PLC.
                let _ = self.decoder.reset();
            }
        }
        for chunk in self.pcm[..frame_samples].chunks_exact(self.period_frames) {
            self.block.frames_mut().copy_from_slice(chunk);
            self.block.index = self.index;
            self.index = self.index.add_frames(self.period_frames as u64);
            if ring.push(self.block.clone()).is_err() {
                self.stats.ring_full_drops += 1;
            }
        }
        played
    }

    /// Period blocks one [`play_frame`](Self::play_frame) pushes.
    pub fn blocks_per_frame(&self) -> usize {
        self.frame_samples / self.period_frames
    }

    /// Samples in one frame at the device rate.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// The device rate.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// What has happened so far.
    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// The jitter buffer (its state and counters).
    pub fn jitter(&self) -> &JitterBuffer<SLOTS> {
        &self.jitter
    }
}
