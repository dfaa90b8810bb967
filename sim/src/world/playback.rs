//! One channel's playback side, as `platform-linux/src/runtime/playback.rs`
//! runs it on its thread: frames from the network turn wait in a bounded
//! queue; each period the side takes them into the jitter buffer with
//! their arrival on the device's own clock, decodes one frame when the
//! last is used up (only one period of silence while idle, so playout
//! starts within a period of its target), and plays a period to the
//! virtual output device, which remembers what the radio played.
//!
//! Copied decisions (see the world's TODO list): `ChannelPlayback::
//! next_block` (arrival time, when to pop, the idle period) and
//! `Depacketizer::play_frame` (one frame per pop whatever came out, the
//! decoder reset at an end), with the stand-in codec.

use std::collections::VecDeque;

use echostream_core::jitter::{
    DefaultJitterBuffer, JitterBuffer, JitterConfig, Playout, State as JitterState,
    Stats as JitterStats,
};
use echostream_core::node::Received;
use echostream_core::time::Instant;
use echostream_core::wire::{KeyId, Kind, Repr, StreamId};

use super::check::Played;
use super::codec::{Decoder, FRAME_SAMPLES};
use super::source::CardClock;

/// Frames the network → playback queue holds (`FRAME_RING_FRAMES`).
pub const INCOMING_QUEUE_LEN: usize = 64;

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
    jitter: Box<DefaultJitterBuffer>,
    decoder: Decoder,
    /// Frames waiting for the next period.
    pub incoming: VecDeque<Incoming>,
    /// The output device's clock.
    pub clock: CardClock,
    /// Device samples per period.
    pub period_frames: usize,
    /// Periods are taken up to this late, µs.
    pub period_jitter_us: u32,
    played_frames: u64,
    pcm: Box<[i16; FRAME_SAMPLES]>,
    /// Periods of `pcm` still to play, and where the next starts.
    left: usize,
    at: usize,
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
        let buffer: DefaultJitterBuffer =
            JitterBuffer::new(jitter).map_err(|e| format!("jitter buffer: {e}"))?;
        if period_frames == 0 || !FRAME_SAMPLES.is_multiple_of(period_frames) {
            return Err(format!(
                "a period of {period_frames} frames does not divide a 20 ms frame"
            ));
        }
        if jitter.frame_samples as usize != FRAME_SAMPLES || clock.rate_hz != 48_000 {
            return Err("the simulator's codec plays 20 ms frames at 48 kHz".into());
        }
        Ok(Playback {
            jitter: Box::new(buffer),
            decoder: Decoder::default(),
            incoming: VecDeque::with_capacity(INCOMING_QUEUE_LEN),
            clock,
            period_frames,
            period_jitter_us,
            played_frames: 0,
            pcm: Box::new([0; FRAME_SAMPLES]),
            left: 0,
            at: 0,
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
        self.played_frames
    }

    /// The jitter buffer.
    pub fn jitter(&self) -> &DefaultJitterBuffer {
        &self.jitter
    }

    /// Queues a frame the engine delivered (a full queue drops, counted).
    pub fn deliver(&mut self, frame: Received, payload: &[u8]) {
        if self.incoming.len() < INCOMING_QUEUE_LEN {
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
        let device_now =
            Instant::from_micros(self.played_frames * 1_000_000 / u64::from(self.clock.rate_hz));
        while let Some(incoming) = self.incoming.pop_front() {
            // Arrival on the device clock: now, less how long the frame
            // waited since the network turn received it.
            let waited = now.saturating_duration_since(incoming.frame.arrived);
            let arrived =
                Instant::from_micros(device_now.as_micros().saturating_sub(waited.as_micros()));
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
            let result = self.jitter.insert(arrived, &repr, &incoming.payload);
            if result != echostream_core::jitter::InsertResult::Inserted {
                self.stats.refused += 1;
            }
        }
        let mut tick = Tick {
            popped: None,
            started: false,
            ended: None,
        };
        if self.left == 0 {
            let played = self.play_frame(device_now, &mut tick);
            self.left = FRAME_SAMPLES / self.period_frames;
            self.at = 0;
            if played == Played::Silence && self.jitter.state() != JitterState::Playing {
                // Idle or buffering: one period of the silence, then ask
                // again, so playout starts within a period of its target.
                self.left = 1;
            }
            tick.popped = Some((played, self.jitter.stats()));
        }
        let from = self.at;
        let to = from + self.period_frames;
        self.at = to;
        self.left -= 1;
        self.played_frames += self.period_frames as u64;
        let output = &mut self.output;
        for &s in &self.pcm[from..to] {
            for b in s.to_le_bytes() {
                output.hash ^= u64::from(b);
                output.hash = output.hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        output.len += self.period_frames as u64;
        if let Some(samples) = &mut output.samples {
            samples.extend_from_slice(&self.pcm[from..to]);
        }
        tick
    }

    fn play_frame(&mut self, now: Instant, tick: &mut Tick) -> Played {
        let pcm = &mut *self.pcm;
        match self.jitter.pop(now) {
            Playout::Frame(packet) => {
                self.decoder.decode(packet, pcm);
                let seq = self.jitter.next_seq().0.wrapping_sub(1);
                let timestamp = self.timestamps[seq as usize % TIMESTAMP_TABLE_LEN];
                self.stats.decoded += 1;
                self.spurt.0 += 1;
                if !self.playing {
                    self.playing = true;
                    tick.started = true;
                }
                Played::Frame {
                    seq: echostream_core::wire::Seq(seq),
                    timestamp: echostream_core::wire::MediaTimestamp(timestamp),
                }
            }
            // The stand-in codec has no FEC: a missing frame is concealed.
            Playout::Fec(_) | Playout::Conceal => {
                self.decoder.conceal(pcm);
                self.stats.concealed += 1;
                self.spurt.1 += 1;
                Played::Conceal
            }
            Playout::Silence => {
                pcm.fill(0);
                Played::Silence
            }
            Playout::EndOfTransmission => {
                pcm.fill(0);
                self.decoder.reset();
                self.stats.ends += 1;
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
