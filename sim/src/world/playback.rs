//! One channel's playback side, as `platform-linux/src/runtime/playback.rs`
//! runs it on its thread: frames from the network turn wait in a bounded
//! queue ([`FRAME_RING_FRAMES`]); each period they go into core's
//! [`Player`] with their arrival on the device's own clock, the player
//! plays a period (decoding one frame when the last is used up, only one
//! period of silence while idle, the decoder reset at an end), and the
//! virtual output device remembers what the radio played. What is decided
//! is core's; this side keeps the queue, the device and what the checkers
//! and the timeline are told.

use std::collections::VecDeque;

use echostream_core::audio::{FRAME_RING_FRAMES, Played as CorePlayed, Player};
use echostream_core::jitter::{DefaultJitterBuffer, JitterConfig, Stats as JitterStats};
use echostream_core::node::Received;
use echostream_core::time::Instant;
use echostream_core::wire::{KeyId, Kind, MediaTimestamp, Repr, Seq, StreamId};

use super::check::Played;
use super::codec::{Decoder, FRAME_SAMPLES};
use super::source::CardClock;

/// Media time of recent frames by sequence number (mod this), as the
/// platform's playback keeps them.
const TIMESTAMP_TABLE_LEN: usize = 256;

/// A frame from the network turn.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// As the engine delivered it.
    pub frame: Received,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What the output device heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputDevice {
    /// Every sample played, hashed in order (FNV-1a over little-endian
    /// samples): equal for equal runs.
    pub hash: u64,
    /// Samples played.
    pub len: u64,
    /// The samples, when kept.
    pub samples: Option<Vec<i16>>,
}

/// What the playback side counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaybackStats {
    /// Frames dropped: the incoming queue was full.
    pub incoming_dropped: u64,
    /// Frames the jitter buffer refused.
    pub refused: u64,
    /// Frames decoded.
    pub decoded: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Talk-spurts ended.
    pub ends: u64,
}

/// What one period did, for the checkers and the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// A frame period was popped: what it played and the buffer after.
    pub popped: Option<(Played, JitterStats)>,
    /// A talk-spurt started playing.
    pub started: bool,
    /// A talk-spurt ended: frames decoded and concealed in it.
    pub ended: Option<(u64, u64)>,
}

/// One channel's playback side. See the [module docs](self).
#[derive(Debug)]
pub struct Playback {
    player: Box<Player<Decoder>>,
    /// Frames waiting for the next period.
    pub incoming: VecDeque<Incoming>,
    /// The output device's clock.
    pub clock: CardClock,
    /// Device samples per period.
    pub period_frames: usize,
    /// Periods are taken up to this late, µs.
    pub period_jitter_us: u32,
    timestamps: [u32; TIMESTAMP_TABLE_LEN],
    playing: bool,
    spurt: (u64, u64),
    /// What the radio played.
    pub output: OutputDevice,
    /// What it counted.
    pub stats: PlaybackStats,
}

impl Playback {
    /// A playback side for `jitter`, playing periods of `period_frames`
    /// on `clock`; `keep_samples` keeps what it plays.
    ///
    /// # Errors
    /// A jitter config the buffer refuses, or a frame that is not a whole
    /// number of periods.
    pub fn new(
        jitter: JitterConfig,
        clock: CardClock,
        period_frames: usize,
        period_jitter_us: u32,
        keep_samples: bool,
    ) -> Result<Playback, String> {
        if period_frames == 0 || !FRAME_SAMPLES.is_multiple_of(period_frames) {
            return Err(format!(
                "a period of {period_frames} frames does not divide a 20 ms frame"
            ));
        }
        if jitter.frame_samples as usize != FRAME_SAMPLES || clock.rate_hz != 48_000 {
            return Err("the simulator's codec plays 20 ms frames at 48 kHz".into());
        }
        let player = Player::new(jitter, Decoder::default(), clock.rate_hz, period_frames)
            .map_err(|e| e.to_string())?;
        Ok(Playback {
            player: Box::new(player),
            incoming: VecDeque::with_capacity(FRAME_RING_FRAMES),
            clock,
            period_frames,
            period_jitter_us,
            timestamps: [0; TIMESTAMP_TABLE_LEN],
            playing: false,
            spurt: (0, 0),
            output: OutputDevice {
                hash: 0xcbf2_9ce4_8422_2325,
                len: 0,
                samples: keep_samples.then(Vec::new),
            },
            stats: PlaybackStats::default(),
        })
    }

    /// Samples played so far (the device clock).
    pub fn played_frames(&self) -> u64 {
        self.player.played_frames()
    }

    /// The jitter buffer.
    pub fn jitter(&self) -> &DefaultJitterBuffer {
        self.player.jitter()
    }

    /// Queues a frame the engine delivered (a full queue drops, counted).
    pub fn deliver(&mut self, frame: Received, payload: &[u8]) {
        if self.incoming.len() < FRAME_RING_FRAMES {
            self.incoming.push_back(Incoming {
                frame,
                payload: payload.to_vec(),
            });
        } else {
            self.stats.incoming_dropped += 1;
        }
    }

    /// Plays one period at virtual time `now`.
    pub fn period(&mut self, now: Instant) -> Tick {
        while let Some(incoming) = self.incoming.pop_front() {
            // How long the frame waited since the network turn received
            // it: the player takes it off its arrival.
            let waited = now.saturating_duration_since(incoming.frame.arrived);
            let arrived = self.player.arrival(waited.as_micros());
            let f = incoming.frame;
            self.timestamps[f.seq.0 as usize % TIMESTAMP_TABLE_LEN] = f.timestamp.0;
            let repr = Repr {
                kind: if f.end {
                    Kind::EndOfTransmission
                } else {
                    Kind::Audio
                },
                flags: f.flags,
                key_id: KeyId(0),
                stream_id: StreamId(0),
                seq: f.seq,
                timestamp: f.timestamp,
                payload_len: incoming.payload.len(),
            };
            // Refusals are counted by the player.
            let _ = self.player.insert(arrived, &repr, &incoming.payload);
        }
        let (popped, pcm) = self.player.next_period();
        let output = &mut self.output;
        for &s in pcm {
            for b in s.to_le_bytes() {
                output.hash ^= u64::from(b);
                output.hash = output.hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        output.len += pcm.len() as u64;
        if let Some(samples) = &mut output.samples {
            samples.extend_from_slice(pcm);
        }
        let mut tick = Tick {
            popped: None,
            started: false,
            ended: None,
        };
        if let Some(played) = popped {
            let played = self.note(played, &mut tick);
            tick.popped = Some((played, self.player.jitter().stats()));
        }
        let stats = self.player.stats();
        self.stats.refused = stats.refused;
        self.stats.decoded = stats.decoded;
        self.stats.concealed = stats.fec + stats.concealed;
        self.stats.ends = stats.ends;
        tick
    }

    /// What a pop played, for the checkers, and the talk-spurt's account.
    fn note(&mut self, played: CorePlayed, tick: &mut Tick) -> Played {
        match played {
            CorePlayed::Frame => {
                let seq = self.player.jitter().next_seq().0.wrapping_sub(1);
                let timestamp = self.timestamps[seq as usize % TIMESTAMP_TABLE_LEN];
                self.spurt.0 += 1;
                if !self.playing {
                    self.playing = true;
                    tick.started = true;
                }
                Played::Frame {
                    seq: Seq(seq),
                    timestamp: MediaTimestamp(timestamp),
                }
            }
            // The stand-in codec has no FEC: the frame was concealed.
            CorePlayed::Fec | CorePlayed::Conceal => {
                self.spurt.1 += 1;
                Played::Conceal
            }
            CorePlayed::Silence => Played::Silence,
            CorePlayed::EndOfTransmission => {
                if self.playing {
                    tick.ended = Some(std::mem::take(&mut self.spurt));
                }
                self.spurt = (0, 0);
                self.playing = false;
                Played::End
            }
        }
    }
}
