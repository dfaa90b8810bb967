//! One channel's playback side: [`Player`], and what it reports.

use crate::jitter::{
    ConfigError, InsertResult, JitterBuffer, JitterConfig, MEDIA_RATE_HZ, Playout,
    State as JitterState,
};
use crate::time::Instant;
use crate::wire::Repr;

use super::MAX_FRAME_SAMPLES;
use super::codec::Decoder;

/// What one frame period played.
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

/// What a [`Player`] has done. The jitter buffer keeps its own finer
/// counters ([`Player::jitter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayerStats {
    /// Frames inserted into the jitter buffer.
    pub inserted: u64,
    /// Frames the jitter buffer refused (late, duplicate, too early…).
    pub refused: u64,
    /// Frames decoded from their packet.
    pub decoded: u64,
    /// Frames rebuilt from the next packet's in-band FEC.
    pub fec: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Frames of silence (idle, buffering, pauses, end of transmission).
    pub silence: u64,
    /// End-of-transmission answers.
    pub ends: u64,
    /// Packets the decoder refused (played as concealment).
    pub decode_errors: u64,
}

/// Why a [`Player`] cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerError {
    /// The jitter buffer's settings are refused.
    Jitter(ConfigError),
    /// The frame and period lengths do not fit together.
    Shape,
}

impl core::fmt::Display for PlayerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlayerError::Jitter(e) => write!(f, "jitter buffer: {e}"),
            PlayerError::Shape => {
                f.write_str("the frame must be a whole number of periods of 1 to 2880 frames")
            }
        }
    }
}

impl core::error::Error for PlayerError {}

/// One channel's playback side: coded frames into the jitter
/// buffer as they arrive, one frame decoded per frame period, played
/// period by period on the output device's own clock.
///
/// ```text
/// frame from the network ─► insert(arrival(waited_us), ..) ─► jitter buffer
/// each device period:        next_period() ─► (pop ─► decode / FEC / PLC / silence)? ─► one period
/// ```
///
/// The device's sample clock is the jitter buffer's time base: playout
/// runs at the rate the sound card consumes, whatever the sender's clock,
/// so drift between the two is the jitter buffer's to absorb.
///
/// # Contract
///
/// Sans-IO and single-threaded. Call [`Player::next_period`] once per
/// device period, after inserting what arrived since the last one (each
/// with [`Player::arrival`]); it says what the jitter buffer was asked, if
/// it was, and lends the period's samples. [`Player::play_frame`] is the
/// step underneath for callers that keep their own cadence (one call per
/// frame period, the frame's samples in [`Player::frame_pcm`]). Nothing
/// allocates or reads a clock.
///
/// `SLOTS` is the jitter buffer's window (a power of two; 64 by default,
/// 1.28 s of 20 ms frames).
#[derive(Debug)]
pub struct Player<D, const SLOTS: usize = 64> {
    jitter: JitterBuffer<SLOTS>,
    decoder: D,
    rate_hz: u32,
    /// Samples in one frame at the device rate.
    frame_samples: usize,
    period_frames: usize,
    pcm: [i16; MAX_FRAME_SAMPLES],
    /// Periods of `pcm` still to play, and where the next starts.
    left: usize,
    at: usize,
    /// Samples handed to the device so far: the clock.
    played_frames: u64,
    stats: PlayerStats,
}

impl<D: Decoder, const SLOTS: usize> Player<D, SLOTS> {
    /// A player decoding with `decoder` at `rate_hz` through a jitter
    /// buffer for `jitter.frame_samples` (48 kHz units), playing periods
    /// of `period_frames`.
    ///
    /// # Errors
    ///
    /// A refused jitter config, or a frame that is not a whole number of
    /// periods of 1 to [`MAX_FRAME_SAMPLES`].
    pub fn new(
        jitter: JitterConfig,
        decoder: D,
        rate_hz: u32,
        period_frames: usize,
    ) -> Result<Self, PlayerError> {
        let buffer = JitterBuffer::new(jitter).map_err(PlayerError::Jitter)?;
        let frame_samples = (u64::from(jitter.frame_samples) * u64::from(rate_hz)
            / u64::from(MEDIA_RATE_HZ)) as usize;
        if period_frames == 0
            || frame_samples > MAX_FRAME_SAMPLES
            || !frame_samples.is_multiple_of(period_frames)
        {
            return Err(PlayerError::Shape);
        }
        Ok(Player {
            jitter: buffer,
            decoder,
            rate_hz,
            frame_samples,
            period_frames,
            pcm: [0; MAX_FRAME_SAMPLES],
            left: 0,
            at: 0,
            played_frames: 0,
            stats: PlayerStats::default(),
        })
    }

    /// The device clock now (the samples played so far), as the jitter
    /// buffer's time.
    pub fn device_now(&self) -> Instant {
        Instant::from_micros(self.played_frames * 1_000_000 / u64::from(self.rate_hz))
    }

    /// When a frame that has waited `waited_us` since the network took it
    /// arrived, on the device clock: now less the wait, so that the
    /// jitter estimate is not inflated by the playback period.
    pub fn arrival(&self, waited_us: u64) -> Instant {
        Instant::from_micros(self.device_now().as_micros().saturating_sub(waited_us))
    }

    /// Inserts a frame that arrived at `arrived`; refusals (late,
    /// duplicate) are counted.
    pub fn insert(&mut self, arrived: Instant, repr: &Repr, payload: &[u8]) -> InsertResult {
        let result = self.jitter.insert(arrived, repr, payload);
        if result == InsertResult::Inserted {
            self.stats.inserted += 1;
        } else {
            self.stats.refused += 1;
        }
        result
    }

    /// The next device period: when the last frame is used up, pops the
    /// jitter buffer at the device clock and decodes one frame (while idle
    /// or waiting for the target delay only one period of its silence is
    /// played, so that playout starts within a period of the target, not
    /// within a frame). Returns what the pop played, if there was one, and
    /// the period's samples.
    pub fn next_period(&mut self) -> (Option<Played>, &[i16]) {
        let mut popped = None;
        if self.left == 0 {
            let played = self.play_frame(self.device_now());
            if played == Played::Silence && self.jitter.state() != JitterState::Playing {
                self.left = 1;
            }
            popped = Some(played);
        }
        let from = self.at;
        self.at += self.period_frames;
        self.left -= 1;
        self.played_frames += self.period_frames as u64;
        (popped, &self.pcm[from..self.at])
    }

    /// One frame period: pops the jitter buffer at `now` and turns its
    /// answer into exactly one frame of PCM ([`frame_pcm`](Self::frame_pcm)),
    /// whatever came out (a packet of another duration is cut or padded
    /// with silence). The decoder is reset at an end, so that the next
    /// talk-spurt does not continue this one's concealment.
    pub fn play_frame(&mut self, now: Instant) -> Played {
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
        let produced = produced.min(frame_samples);
        out[produced..].fill(0);
        match played {
            Played::Frame => self.stats.decoded += 1,
            Played::Fec => self.stats.fec += 1,
            Played::Conceal => self.stats.concealed += 1,
            Played::Silence => self.stats.silence += 1,
            Played::EndOfTransmission => {
                self.stats.ends += 1;
                self.decoder.reset();
            }
        }
        self.left = frame_samples / self.period_frames;
        self.at = 0;
        played
    }

    /// The last frame [`play_frame`](Self::play_frame) made.
    pub fn frame_pcm(&self) -> &[i16] {
        &self.pcm[..self.frame_samples]
    }

    /// Whether a talk-spurt is playing (the jitter buffer's own state).
    pub fn is_playing(&self) -> bool {
        self.jitter.state() == JitterState::Playing
    }

    /// Periods in one frame.
    pub fn periods_per_frame(&self) -> usize {
        self.frame_samples / self.period_frames
    }

    /// Samples in one frame at the device rate.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Samples in one period.
    pub fn period_frames(&self) -> usize {
        self.period_frames
    }

    /// The device rate.
    pub fn rate_hz(&self) -> u32 {
        self.rate_hz
    }

    /// Samples played so far by [`next_period`](Self::next_period).
    pub fn played_frames(&self) -> u64 {
        self.played_frames
    }

    /// What has happened so far.
    pub fn stats(&self) -> PlayerStats {
        self.stats
    }

    /// The jitter buffer (its state and counters).
    pub fn jitter(&self) -> &JitterBuffer<SLOTS> {
        &self.jitter
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Echo;
    use super::*;
    use crate::wire::{Flags, KeyId, Kind, MediaTimestamp, Seq, StreamId};

    const PERIOD: usize = 240;

    fn player() -> Player<Echo> {
        Player::new(JitterConfig::DEFAULT, Echo::default(), 48_000, PERIOD).expect("a player")
    }

    fn repr(seq: u32, end: bool, payload_len: usize) -> Repr {
        Repr {
            kind: if end {
                Kind::EndOfTransmission
            } else {
                Kind::Audio
            },
            flags: if seq == 0 {
                Flags::START_OF_TALKSPURT
            } else {
                Flags::NONE
            },
            key_id: KeyId(0),
            stream_id: StreamId(0),
            seq: Seq(seq),
            timestamp: MediaTimestamp(seq * 960),
            payload_len,
        }
    }

    #[test]
    fn idle_plays_one_period_of_silence_per_pop() {
        let mut player = player();
        for _ in 0..8 {
            let (popped, pcm) = player.next_period();
            assert_eq!(
                popped,
                Some(Played::Silence),
                "asked every period while idle"
            );
            assert_eq!(pcm.len(), PERIOD);
            assert!(pcm.iter().all(|&s| s == 0));
        }
        assert_eq!(player.played_frames(), 8 * PERIOD as u64);
        assert_eq!(player.device_now(), Instant::from_micros(40_000));
    }

    #[test]
    fn a_talkspurt_plays_a_frame_per_four_periods_and_its_end_resets_the_decoder() {
        let mut player = player();
        // Each frame arrives on time, 20 ms of device clock apart.
        let mut heard = [0u8; 32];
        let mut ended = None;
        let mut pops = 0;
        for period in 0..200u32 {
            if period % 4 == 0 && period / 4 < 10 {
                let seq = period / 4;
                let arrived = player.arrival(0);
                let byte = [seq as u8 + 1];
                let result = player.insert(arrived, &repr(seq, false, 1), &byte);
                assert_eq!(result, InsertResult::Inserted);
            }
            if period == 40 {
                let result = player.insert(player.arrival(0), &repr(10, true, 0), &[]);
                assert_eq!(result, InsertResult::Inserted);
            }
            let (popped, pcm) = player.next_period();
            if let Some(played) = popped {
                pops += 1;
                if played == Played::Frame {
                    heard[usize::from(pcm[0] as u8)] += 1;
                }
                if played == Played::EndOfTransmission {
                    ended.get_or_insert(period);
                }
            }
        }
        assert!(
            heard[1..=10].iter().all(|&n| n == 1),
            "each frame once: {heard:?}"
        );
        assert!(ended.is_some(), "the end was reached");
        assert_eq!(player.stats().decoded, 10);
        assert_eq!(player.stats().ends, 1);
        assert!(
            player.decoder.resets >= 1,
            "the decoder was reset at the end"
        );
        assert!(pops > 50, "silence is asked each period once idle again");
    }

    #[test]
    fn a_frame_that_waited_arrived_earlier_on_the_device_clock() {
        let mut player = player();
        for _ in 0..8 {
            let _ = player.next_period();
        }
        assert_eq!(player.arrival(15_000), Instant::from_micros(25_000));
        assert_eq!(
            player.arrival(90_000),
            Instant::ZERO,
            "not before the clock started"
        );
    }

    #[test]
    fn a_frame_that_is_not_a_whole_number_of_periods_is_refused() {
        assert_eq!(
            Player::<Echo>::new(JitterConfig::DEFAULT, Echo::default(), 48_000, 250).err(),
            Some(PlayerError::Shape)
        );
    }
}
