//! One channel's encode and decode sides as allocation-free steps
//! (DESIGN.md "Audio path"): the pieces the capture and playback threads
//! call between their device and the network.
//!
//! ```text
//! capture:  Block (period) ─► Packetizer::push_block ─► core Framer + Opus encode ─► rtrb<EncodedFrame>
//! playback: EncodedFrame ─► Depacketizer::insert (jitter buffer)
//!           once per frame: Depacketizer::play_frame ─► core Player: decode / FEC / PLC / silence
//!                          ─► period Blocks ─► rtrb<Block> ─► PlaybackLoop
//! ```
//!
//! What is decided (framing, media time, the end marker, the pop and what
//! it plays) is `echostream_core::audio`'s; Opus sits behind its codec
//! traits here, and this file only adds the rings and the fixed-size
//! [`EncodedFrame`] that crosses them. The running node's threads drive
//! core's `Capture` and `Player` directly (`runtime::capture`,
//! `runtime::playback`); these two steps remain for callers that keep
//! their own cadence (the pipeline tests).
//!
//! Both are made at startup (the codec state, the jitter buffer's slots and
//! every scratch buffer are allocated then) and afterwards allocate, lock
//! and log nothing (`tests/audio_pipeline.rs` counts). What happens is
//! counted in plain [`PacketizerStats`] / [`DepacketizerStats`], read by
//! whoever owns the step.

use echostream_core::audio::{CodedFrame, FrameKind, Framer, Player, PlayerError, PlayerStats};
use echostream_core::jitter::{InsertResult, JitterBuffer, JitterConfig, MEDIA_RATE_HZ};
use echostream_core::node::Captured;
use echostream_core::time::{Instant, SampleIndex};
use echostream_core::wire::{
    Flags, KeyId, Kind, MAX_PAYLOAD_LEN, MediaTimestamp, Repr, Seq, StreamId,
};

use super::{Block, MAX_PERIOD_FRAMES};
use crate::opus::{Decoder, Encoder, OpusError, packet_has_fec};

pub use echostream_core::audio::{FRAME_RING_FRAMES, LEVEL_FLOOR_DBFS, Played, level_dbfs};

// The framer and the player hold frames in arrays of core's longest
// frame; a device period is as long.
const _: () = assert!(MAX_PERIOD_FRAMES == echostream_core::audio::MAX_FRAME_SAMPLES);

/// Opus as core's audio path codes: one frame of the encoder's length.
impl echostream_core::audio::Encoder for Encoder {
    type Error = OpusError;

    fn frame_pcm_len(&self) -> usize {
        self.frame_samples() * usize::from(self.config().channels)
    }

    fn frame_media_units(&self) -> u32 {
        media_units(self.frame_samples(), self.config().sample_rate_hz)
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        Encoder::encode(self, pcm, out)
    }

    fn has_fec(&self, packet: &[u8]) -> bool {
        packet_has_fec(packet)
    }

    fn reset(&mut self) {
        // A reset only fails on an encoder state that was never made.
        let _ = Encoder::reset(self);
    }
}

/// Opus as core's audio path decodes: packets, in-band FEC, PLC.
impl echostream_core::audio::Decoder for Decoder {
    type Error = OpusError;

    fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        Decoder::decode(self, packet, out)
    }

    fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        Decoder::decode_fec(self, next_packet, out)
    }

    fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        Decoder::conceal(self, out)
    }

    fn reset(&mut self) {
        // A reset only fails on a decoder state that was never made.
        let _ = Decoder::reset(self);
    }
}

/// Bytes an [`EncodedFrame`] holds: the largest wire payload (one Opus
/// packet, RFC 6716's 1275-byte maximum).
pub const ENCODED_FRAME_LEN_MAX: usize = MAX_PAYLOAD_LEN;

/// One encoded Opus frame and its place in the stream: what the capture
/// thread hands to the network, and the network to the playback side.
///
/// Fixed size, so moving it through a ring never allocates.
#[derive(Clone)]
pub struct EncodedFrame {
    /// What it is: a packet, the marks of a frame not coded, a late
    /// packet, or the end of a talk-spurt (an end-of-transmission packet).
    pub kind: FrameKind,
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
            .field("kind", &self.kind)
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
            kind: FrameKind::End,
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

    /// A frame as core's capture side made it (the network thread's
    /// `arrived` is not known yet).
    pub fn from_coded(coded: &CodedFrame<'_>) -> EncodedFrame {
        let mut bytes = [0; ENCODED_FRAME_LEN_MAX];
        bytes[..coded.payload.len()].copy_from_slice(coded.payload);
        EncodedFrame {
            kind: coded.kind,
            seq: coded.seq,
            timestamp: coded.timestamp,
            flags: coded.flags,
            len: coded.payload.len() as u16,
            bytes,
            arrived: None,
            active: coded.active,
            reached: coded.reached,
            level_dbfs: coded.level_dbfs,
        }
    }

    /// The frame as core's audio path names it.
    pub fn coded(&self) -> CodedFrame<'_> {
        CodedFrame {
            kind: self.kind,
            seq: self.seq,
            timestamp: self.timestamp,
            flags: self.flags,
            payload: self.payload(),
            active: self.active,
            reached: self.reached,
            level_dbfs: self.level_dbfs,
        }
    }

    /// The frame as the node engine takes it from the capture side: an
    /// end-of-transmission marker says the capture side stopped.
    pub fn captured(&self) -> Captured<'_> {
        self.coded().captured()
    }

    /// The Opus packet.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A frame received from the network: `payload` empty for an end of
    /// transmission.
    pub fn received(
        seq: Seq,
        timestamp: MediaTimestamp,
        flags: Flags,
        payload: &[u8],
        arrived: std::time::Instant,
    ) -> EncodedFrame {
        let mut frame = EncodedFrame::end_of_transmission(seq, timestamp);
        if !payload.is_empty() {
            frame.kind = FrameKind::Coded;
        }
        frame.flags = flags;
        frame.len = payload.len() as u16;
        frame.bytes[..payload.len()].copy_from_slice(payload);
        frame.arrived = Some(arrived);
        frame
    }

    /// True for an end-of-transmission marker.
    pub fn is_end_of_transmission(&self) -> bool {
        self.kind == FrameKind::End
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
/// frame out into an rtrb ring. Core's [`Framer`] decides the framing
/// (periods of any length, media time, talk-spurt flags, the end marker);
/// this only moves its frames into the ring.
#[derive(Debug)]
pub struct Packetizer {
    framer: Framer<Encoder>,
    ring: rtrb::Producer<EncodedFrame>,
    ring_full_drops: u64,
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
        Packetizer {
            framer: Framer::new(encoder, first_seq, first_timestamp),
            ring,
            ring_full_drops: 0,
        }
    }

    /// Adds one captured period; encodes and pushes every frame it
    /// completes. Returns the number of frames completed. No allocation,
    /// lock or logging.
    pub fn push_block(&mut self, block: &Block) -> usize {
        let Packetizer {
            framer,
            ring,
            ring_full_drops,
        } = self;
        framer.push(block.frames(), &mut |frame| {
            push_counted(ring, ring_full_drops, frame)
        })
    }

    /// Ends the talk-spurt: the partial frame is dropped and an
    /// end-of-transmission marker takes the next sequence number. The next
    /// frame starts a new talk-spurt. Nothing happens outside one.
    pub fn end_talkspurt(&mut self) {
        let Packetizer {
            framer,
            ring,
            ring_full_drops,
        } = self;
        framer.end_talkspurt(&mut |frame| push_counted(ring, ring_full_drops, frame));
    }

    /// What has happened so far.
    pub fn stats(&self) -> PacketizerStats {
        let framer = self.framer.stats();
        PacketizerStats {
            frames: framer.frames,
            fec_frames: framer.fec_frames,
            ring_full_drops: self.ring_full_drops,
            encode_errors: framer.encode_errors,
            ends: framer.ends,
        }
    }

    /// The encoder (to change bitrate or expected loss between frames).
    pub fn encoder_mut(&mut self) -> &mut Encoder {
        self.framer.encoder_mut()
    }

    /// The framer, for a capture side that hands its frames on itself
    /// (the ring is let go).
    pub fn into_framer(self) -> Framer<Encoder> {
        self.framer
    }
}

fn push_counted(ring: &mut rtrb::Producer<EncodedFrame>, drops: &mut u64, frame: &CodedFrame<'_>) {
    if ring.push(EncodedFrame::from_coded(frame)).is_err() {
        *drops += 1;
    }
}

/// What a [`Depacketizer`] has done: core's [`PlayerStats`] (read
/// through, `stats.decoded`), and the period blocks dropped because the
/// playback ring was full. The jitter buffer keeps its own finer counters
/// ([`Depacketizer::jitter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepacketizerStats {
    /// What the player did.
    pub player: PlayerStats,
    /// Period blocks dropped because the playback ring was full.
    pub ring_full_drops: u64,
}

impl DepacketizerStats {
    /// Core's counters, with the ring's drops.
    pub fn new(player: PlayerStats, ring_full_drops: u64) -> DepacketizerStats {
        DepacketizerStats {
            player,
            ring_full_drops,
        }
    }
}

impl std::ops::Deref for DepacketizerStats {
    type Target = PlayerStats;

    fn deref(&self) -> &PlayerStats {
        &self.player
    }
}

/// Jitter buffer slots of a channel's playback: what the config's
/// `audio.jitter_max_ms` must fit (with two frames) at its frame length.
pub const JITTER_SLOTS: usize = 64;

/// The decode side: [`EncodedFrame`]s into a jitter buffer as they arrive;
/// once per frame period one frame of PCM out, sliced into period
/// [`Block`]s for the playback loop. Core's [`Player`] decides (the pop,
/// decode / FEC / PLC / silence, one frame whatever came out, the decoder
/// reset at an end); this only moves its periods into the ring.
///
/// `SLOTS` is the jitter buffer's window (a power of two; 64 by default,
/// 1.28 s of 20 ms frames).
pub struct Depacketizer<const SLOTS: usize = JITTER_SLOTS> {
    player: Player<Decoder, SLOTS>,
    stream_id: StreamId,
    block: Block,
    index: SampleIndex,
    ring_full_drops: u64,
}

impl<const SLOTS: usize> std::fmt::Debug for Depacketizer<SLOTS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Depacketizer")
            .field("stream_id", &self.stream_id)
            .field("frame_samples", &self.player.frame_samples())
            .field("period_frames", &self.player.period_frames())
            .field("stats", &self.stats())
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
        let player = Player::new(jitter, decoder, rate_hz, period_frames).map_err(|e| match e {
            PlayerError::Jitter(e) => PipelineError::Jitter(e),
            PlayerError::Shape => PipelineError::Shape(
                "the frame must be a whole number of periods of 1 to 2880 frames",
            ),
        })?;
        Ok(Depacketizer {
            player,
            stream_id,
            block: Block::silent(SampleIndex::ZERO, period_frames),
            index: SampleIndex::ZERO,
            ring_full_drops: 0,
        })
    }

    /// Inserts a frame that arrived at `now`. No allocation.
    pub fn insert(&mut self, now: Instant, frame: &EncodedFrame) -> InsertResult {
        let repr = frame.repr(self.stream_id, KeyId(0));
        self.player.insert(now, &repr, frame.payload())
    }

    /// One frame period: pops the jitter buffer at `now`, turns its answer
    /// into one frame of PCM and pushes it to `ring` as period blocks
    /// (a full ring drops and counts). Call exactly once per frame period.
    /// No allocation, lock or logging.
    pub fn play_frame(&mut self, now: Instant, ring: &mut rtrb::Producer<Block>) -> Played {
        let played = self.player.play_frame(now);
        let period_frames = self.player.period_frames();
        for chunk in self.player.frame_pcm().chunks_exact(period_frames) {
            self.block.frames_mut().copy_from_slice(chunk);
            self.block.index = self.index;
            self.index = self.index.add_frames(period_frames as u64);
            if ring.push(self.block.clone()).is_err() {
                self.ring_full_drops += 1;
            }
        }
        played
    }

    /// Period blocks one [`play_frame`](Self::play_frame) pushes.
    pub fn blocks_per_frame(&self) -> usize {
        self.player.periods_per_frame()
    }

    /// Samples in one frame at the device rate.
    pub fn frame_samples(&self) -> usize {
        self.player.frame_samples()
    }

    /// The device rate.
    pub fn rate_hz(&self) -> u32 {
        self.player.rate_hz()
    }

    /// What has happened so far.
    pub fn stats(&self) -> DepacketizerStats {
        DepacketizerStats::new(self.player.stats(), self.ring_full_drops)
    }

    /// The jitter buffer (its state and counters).
    pub fn jitter(&self) -> &JitterBuffer<SLOTS> {
        self.player.jitter()
    }

    /// The player and the stream id its frames are inserted under, for a
    /// playback side that keeps the device's cadence itself.
    pub fn into_player(self) -> (Player<Decoder, SLOTS>, StreamId) {
        (self.player, self.stream_id)
    }
}
