//! The buffer itself: slots by sequence number, one pop per frame period.

use core::fmt;

use super::config::{ConfigError, JitterConfig, MEDIA_RATE_HZ};
use super::estimator::{ArrivalReference, DelayHistogram};
use super::outcome::{InsertResult, Playout, State, Stats};
use super::slot::{Content, Slot, SlotState};
use crate::time::Instant;
use crate::wire::{Flags, Kind, MAX_PAYLOAD_LEN, Repr, Seq, StreamId};

/// The largest Opus packet that is discontinuous-transmission silence:
/// libopus' `opus_encode` documents that a result of "2 bytes or less"
/// need not be transmitted (DTX). Such frames may be dropped or stretched
/// to move the delay without touching speech.
pub const DTX_PAYLOAD_LEN_MAX: usize = 2;

/// A fixed-capacity jitter buffer for one Opus stream, with a target delay
/// adapted at each talk-spurt. See the [module docs](super) for the
/// playout model.
///
/// `SLOTS` (a power of two, 4 to 32768) is the window of sequence numbers
/// it holds; `PAYLOAD_LEN_MAX` the largest packet a slot stores (every
/// Opus packet by default). Nothing allocates; [`core::mem::size_of`] is
/// about `SLOTS × (PAYLOAD_LEN_MAX + 32)` plus 1 KiB of histogram.
///
/// Drive it from the playback thread: [`insert`](Self::insert) every
/// packet that opened (audio and end-of-transmission), in arrival order,
/// with its arrival time; call [`pop`](Self::pop) exactly once per frame
/// period with the current time and play what it says. Both take `now`
/// from the same monotonic clock; neither reads one.
pub struct JitterBuffer<const SLOTS: usize, const PAYLOAD_LEN_MAX: usize = MAX_PAYLOAD_LEN> {
    config: JitterConfig,
    /// One frame in 48 kHz units.
    frame: i64,
    frame_us: i64,
    half_frame_us: i64,
    jitter_min_us: i64,
    jitter_max_us: i64,
    stall_timeout_us: i64,
    slots: [Slot<PAYLOAD_LEN_MAX>; SLOTS],
    /// Slots in [`SlotState::Held`]; all lie in `next_seq..next_seq + SLOTS`.
    held: usize,
    state: State,
    /// The stream of the current (or last) talk-spurt.
    stream: StreamId,
    /// The next sequence number to play.
    next_seq: u32,
    /// The highest sequence number held in this talk-spurt.
    highest_seq: u32,
    /// The media position the next pop plays, in 48 kHz units, unwrapped
    /// from the 32-bit timestamps (every timestamp is read relative to it).
    play_position: i64,
    /// The delay applied to the current talk-spurt.
    target_us: i64,
    /// The quantile of the relative delays now, updated with every sample:
    /// a speech frame whose delay is below it is stretched by a concealed
    /// frame.
    quantile_live_us: i64,
    /// The packet the target was last computed for.
    retarget_seq: Option<u32>,
    /// Consecutive pops that found nothing at all to play.
    underrun_pops: u32,
    /// Underrun pops that held the position and may stand in for missing
    /// frames once later packets arrive.
    underrun_credit: u32,
    /// The last frame played was DTX silence: an underrun after it is the
    /// talker's pause, not a loss.
    after_dtx: bool,
    last_insert_us: i64,
    /// Where the previous talk-spurt ended, to refuse its stragglers.
    floor: Option<(StreamId, u32)>,
    reference: ArrivalReference,
    histogram: DelayHistogram,
    stats: Stats,
}

impl<const SLOTS: usize, const PAYLOAD_LEN_MAX: usize> JitterBuffer<SLOTS, PAYLOAD_LEN_MAX> {
    const CAPACITY_OK: () = {
        assert!(SLOTS.is_power_of_two(), "SLOTS must be a power of two");
        assert!(SLOTS >= 4 && SLOTS <= 1 << 15, "SLOTS must be 4..=32768");
        assert!(PAYLOAD_LEN_MAX >= 1 && PAYLOAD_LEN_MAX <= MAX_PAYLOAD_LEN);
    };

    /// An idle buffer.
    ///
    /// # Errors
    /// The [`ConfigError`] of the first invalid field.
    pub fn new(config: JitterConfig) -> Result<Self, ConfigError> {
        let () = Self::CAPACITY_OK;
        config.validate(SLOTS)?;
        let frame_us = config.frame_us() as i64;
        Ok(JitterBuffer {
            config,
            frame: i64::from(config.frame_samples),
            frame_us,
            half_frame_us: frame_us / 2,
            jitter_min_us: i64::from(config.jitter_min_ms) * 1_000,
            jitter_max_us: i64::from(config.jitter_max_ms) * 1_000,
            stall_timeout_us: i64::from(config.stall_timeout_ms) * 1_000,
            slots: [const { Slot::EMPTY }; SLOTS],
            held: 0,
            state: State::Idle,
            stream: StreamId(0),
            next_seq: 0,
            highest_seq: 0,
            play_position: 0,
            target_us: i64::from(config.jitter_min_ms) * 1_000,
            quantile_live_us: 0,
            retarget_seq: None,
            underrun_pops: 0,
            underrun_credit: 0,
            after_dtx: false,
            last_insert_us: 0,
            floor: None,
            reference: ArrivalReference::new(),
            histogram: DelayHistogram::new(frame_us),
            stats: Stats {
                delay_target_ms: config.jitter_min_ms,
                ..Stats::default()
            },
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Where the buffer is in a talk-spurt.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters and delays.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Zeroes the counters (the delays stay).
    pub fn reset_stats(&mut self) {
        self.stats = Stats {
            delay_current_ms: self.stats.delay_current_ms,
            delay_target_ms: self.stats.delay_target_ms,
            ..Stats::default()
        };
    }

    /// Packets held and not yet played.
    pub fn held_len(&self) -> usize {
        self.held
    }

    /// The sequence number the next pop plays or conceals (while not
    /// idle; while idle, where the last talk-spurt ended). A pop that
    /// answers `Conceal` or `Fec` and moves it on covered that frame; one
    /// that leaves it was an underrun or a stretch.
    pub fn next_seq(&self) -> Seq {
        Seq(self.next_seq)
    }

    /// The target the next talk-spurt would get from the delays seen so
    /// far (ms).
    pub fn delay_target_next_ms(&self) -> u32 {
        ms(self.estimate().1)
    }

    /// Forgets every packet and the talk-spurt in progress (a new stream,
    /// a rekey that restarted sequence numbers). Keeps the config, the
    /// learned arrival delays and the counters.
    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.state = SlotState::Empty;
        }
        self.held = 0;
        self.state = State::Idle;
        self.floor = None;
        self.retarget_seq = None;
        self.underrun_pops = 0;
        self.underrun_credit = 0;
    }

    /// Takes one packet that arrived at `now`: an audio packet (`payload`
    /// is the Opus packet) or an end-of-transmission (payload ignored).
    /// Never panics; see [`InsertResult`] for what happened.
    pub fn insert(&mut self, now: Instant, repr: &Repr, payload: &[u8]) -> InsertResult {
        let result = self.insert_packet(micros(now), repr, payload);
        let counter = match result {
            InsertResult::Inserted => &mut self.stats.inserted,
            InsertResult::Duplicate => &mut self.stats.duplicates,
            InsertResult::TooLate => &mut self.stats.late,
            InsertResult::TooEarly => &mut self.stats.too_early,
            InsertResult::NotAudio | InsertResult::OtherStream | InsertResult::BadPayload => {
                &mut self.stats.rejected
            }
        };
        *counter += 1;
        result
    }

    /// What to play for the frame period starting at `now`. Call exactly
    /// once per frame period (`frame_samples` of media), also while idle.
    pub fn pop(&mut self, now: Instant) -> Playout<'_> {
        let now_us = micros(now);
        if self.state == State::Idle {
            return Playout::Silence;
        }
        // Each round either answers or consumes one sequence number, so
        // the window bounds the loop.
        for _ in 0..=SLOTS {
            let Some(index) = self.first_held() else {
                return self.underrun(now_us);
            };
            let slot = &self.slots[index];
            let (seq, content, flags, arrival_us, len) = (
                slot.seq,
                slot.content,
                slot.flags,
                slot.arrival_us,
                slot.len,
            );
            let gap = seq.wrapping_sub(self.next_seq);
            let waited_us = now_us.saturating_sub(arrival_us);
            let position = match content {
                Content::Audio => self.unwrap(slot.timestamp),
                // An end-of-transmission's timestamp is not trusted: it
                // follows the frames before it.
                Content::EndOfTransmission => self.play_position + i64::from(gap) * self.frame,
            };
            let half = self.frame / 2;

            if gap == 0 {
                if content == Content::EndOfTransmission {
                    self.consume(index);
                    self.finish_talk_spurt();
                    return Playout::EndOfTransmission;
                }
                let starts_spurt =
                    self.state == State::Buffering || flags.contains(Flags::START_OF_TALKSPURT);
                let after_pause = position > self.play_position + half;
                let delay_us = self.delay_us(now_us, position);
                if starts_spurt || after_pause {
                    // An alignment point: the target is recomputed and the
                    // frame plays once it has waited the target after the
                    // fastest path, so the silence before it is stretched
                    // or shortened to meet the target.
                    if self.retarget_seq != Some(seq) {
                        self.retarget(seq);
                    }
                    if delay_us < self.target_us - self.half_frame_us
                        && waited_us < self.jitter_max_us
                    {
                        return Playout::Silence;
                    }
                    self.state = State::Playing;
                    return self.play(index, now_us, position);
                }
                if usize::from(len) <= DTX_PAYLOAD_LEN_MAX {
                    if delay_us >= self.target_us + self.half_frame_us {
                        // Ahead of the target in silence: drop it.
                        self.consume(index);
                        self.play_position = position + self.frame;
                        self.after_dtx = true;
                        self.stats.silence_dropped += 1;
                        continue;
                    }
                    if delay_us < self.target_us - self.half_frame_us
                        && delay_us + self.frame_us <= self.jitter_max_us
                    {
                        // Behind in silence: hold it one more frame.
                        return Playout::Silence;
                    }
                } else if delay_us > self.jitter_max_us + self.half_frame_us {
                    // A fast sender clock has carried the delay past its
                    // bound in continuous speech, with no pause to shed
                    // it in: one frame goes, so the delay stays bounded.
                    self.consume(index);
                    self.play_position = position + self.frame;
                    self.stats.speech_dropped += 1;
                    continue;
                } else if delay_us
                    < self
                        .quantile_live_us
                        .min(self.jitter_max_us - self.frame_us)
                    && delay_us + self.frame_us <= self.jitter_max_us
                {
                    // The delay fell below what the network needs now (a
                    // slow sender clock, more jitter than at the start)
                    // with no pause to stretch: one concealed frame now
                    // instead of late frames later.
                    self.stats.concealed += 1;
                    self.stats.stretched += 1;
                    return Playout::Conceal;
                }
                return self.play(index, now_us, position);
            }

            // `next_seq` is missing; `slot` is the first packet after it.
            let missing_at = position - i64::from(gap) * self.frame;
            if missing_at > self.play_position + half {
                if waited_us < self.jitter_max_us {
                    // The missing frame follows a pause: time passes.
                    self.play_position += self.frame;
                    return Playout::Silence;
                }
                // A timestamp jump: resynchronise on the packets.
                self.play_position = missing_at;
            }
            let passed = missing_at < self.play_position - half;
            if passed || self.underrun_credit > 0 {
                // Its time was already covered by underrun frames.
                if !passed {
                    self.underrun_credit -= 1;
                    self.play_position += self.frame;
                }
                self.skip_missing();
                continue;
            }
            let fec = gap == 1
                && content == Content::Audio
                && flags.contains(Flags::FEC)
                && usize::from(len) > DTX_PAYLOAD_LEN_MAX;
            self.skip_missing();
            self.play_position += self.frame;
            self.underrun_pops = 0;
            self.after_dtx = false;
            self.note_delay(now_us, missing_at);
            if fec {
                self.stats.fec_recovered += 1;
                return Playout::Fec(self.slots[index].payload());
            }
            self.stats.concealed += 1;
            return Playout::Conceal;
        }
        Playout::Silence
    }

    fn insert_packet(&mut self, now_us: i64, repr: &Repr, payload: &[u8]) -> InsertResult {
        let content = match repr.kind {
            Kind::Audio => Content::Audio,
            Kind::EndOfTransmission => Content::EndOfTransmission,
            Kind::Heartbeat | Kind::HeartbeatEcho | Kind::Unknown(_) => {
                return InsertResult::NotAudio;
            }
        };
        if content == Content::Audio && (payload.is_empty() || payload.len() > PAYLOAD_LEN_MAX) {
            return InsertResult::BadPayload;
        }
        let seq = repr.seq.0;
        let timestamp = repr.timestamp.0;

        if self.state == State::Idle {
            if let Some((stream, floor)) = self.floor
                && stream == repr.stream_id
                && (1..=SLOTS as u32).contains(&floor.wrapping_sub(seq))
            {
                // A straggler of the talk-spurt that just ended.
                return self.behind(seq);
            }
            if content == Content::EndOfTransmission {
                // Nothing of its talk-spurt arrived: nothing to end.
                return InsertResult::TooLate;
            }
            self.stream = repr.stream_id;
            self.play_position = self.unwrap(timestamp);
            self.next_seq = seq;
            self.highest_seq = seq;
            self.state = State::Buffering;
            self.observe_arrival(now_us, timestamp);
            self.store(now_us, repr, content, payload);
            return InsertResult::Inserted;
        }

        if repr.stream_id != self.stream {
            return InsertResult::OtherStream;
        }
        let ahead = seq.wrapping_sub(self.next_seq);
        if ahead < SLOTS as u32 {
            let slot = &self.slots[self.index(seq)];
            if slot.state == SlotState::Held {
                debug_assert_eq!(slot.seq, seq, "held slots lie in the window");
                return InsertResult::Duplicate;
            }
            if content == Content::Audio {
                if self.state == State::Playing {
                    let behind = self.play_position - self.unwrap(timestamp);
                    if behind > self.frame / 2 && behind <= self.discontinuity_samples() {
                        // Its time was spent on underrun frames.
                        self.observe_arrival(now_us, timestamp);
                        return InsertResult::TooLate;
                    }
                }
                self.observe_arrival(now_us, timestamp);
            }
            self.store(now_us, repr, content, payload);
            return InsertResult::Inserted;
        }
        if ahead < 1 << 31 {
            return InsertResult::TooEarly;
        }
        // Behind the next frame to play.
        if self.state == State::Buffering
            && content == Content::Audio
            && self.may_start_at(seq, repr.stream_id)
        {
            // Reordered at the start of a talk-spurt: start earlier (with
            // the target already computed for it).
            if self.retarget_seq == Some(self.next_seq) {
                self.retarget_seq = Some(seq);
            }
            self.next_seq = seq;
            self.play_position = self.unwrap(timestamp);
            self.observe_arrival(now_us, timestamp);
            self.store(now_us, repr, content, payload);
            return InsertResult::Inserted;
        }
        let result = self.behind(seq);
        if result == InsertResult::TooLate && content == Content::Audio {
            self.observe_arrival(now_us, timestamp);
        }
        result
    }

    /// Duplicate or late, for a sequence number behind `next_seq`.
    fn behind(&self, seq: u32) -> InsertResult {
        let back = self.next_seq.wrapping_sub(seq);
        let slot = &self.slots[self.index(seq)];
        if back <= SLOTS as u32 && slot.seq == seq && slot.state != SlotState::Empty {
            InsertResult::Duplicate
        } else {
            InsertResult::TooLate
        }
    }

    /// Whether a talk-spurt still buffering may start at `seq` instead.
    fn may_start_at(&self, seq: u32, stream: StreamId) -> bool {
        let cursor = &self.slots[self.index(self.next_seq)];
        let pinned = cursor.state == SlotState::Held
            && cursor.seq == self.next_seq
            && cursor.flags.contains(Flags::START_OF_TALKSPURT);
        let before_floor = match self.floor {
            Some((floor_stream, floor)) if floor_stream == stream => {
                (seq.wrapping_sub(floor) as i32) < 0
            }
            _ => false,
        };
        !pinned && !before_floor && self.highest_seq.wrapping_sub(seq) < SLOTS as u32
    }

    fn store(&mut self, now_us: i64, repr: &Repr, content: Content, payload: &[u8]) {
        let seq = repr.seq.0;
        let index = self.index(seq);
        let slot = &mut self.slots[index];
        debug_assert_ne!(slot.state, SlotState::Held);
        slot.state = SlotState::Held;
        slot.content = content;
        slot.seq = seq;
        slot.timestamp = repr.timestamp.0;
        slot.flags = repr.flags;
        slot.arrival_us = now_us;
        let len = match content {
            Content::Audio => payload.len().min(PAYLOAD_LEN_MAX),
            Content::EndOfTransmission => 0,
        };
        slot.payload[..len].copy_from_slice(&payload[..len]);
        slot.len = len as u16;
        self.held += 1;
        if (seq.wrapping_sub(self.highest_seq) as i32) > 0 {
            self.highest_seq = seq;
        }
        self.last_insert_us = now_us;
    }

    /// Records a packet's relative arrival delay; restarts the reference
    /// when the timestamps jumped (a new sender clock).
    fn observe_arrival(&mut self, now_us: i64, timestamp: u32) {
        let offset_us = now_us.saturating_sub(media_us(self.unwrap(timestamp)));
        // At a talk-spurt's start more than the maximum delay behind the
        // remembered path is a different path or clock; inside one, only
        // what no stall could explain.
        let limit_us = match self.state {
            State::Buffering | State::Idle => self.jitter_max_us,
            State::Playing => self.stall_timeout_us,
        };
        match self.reference.at(now_us) {
            Some(reference_us) if offset_us.saturating_sub(reference_us) > limit_us => {
                self.reference.restart(now_us, offset_us);
            }
            _ => {
                let delay_us = self.reference.observe(now_us, offset_us);
                // While a talk-spurt buffers, packets come in a burst (the
                // sender's pre-roll) whose lateness is not the network's.
                if self.state == State::Playing {
                    self.histogram.add(delay_us);
                    self.quantile_live_us = self.estimate().0;
                }
            }
        }
    }

    /// The current quantile (µs) and the target it gives (µs).
    fn estimate(&self) -> (i64, i64) {
        let (quantile_us, target_us) = match self
            .histogram
            .quantile_us(self.config.delay_quantile_permille)
        {
            Some(q) => (q, q + self.frame_us),
            None => (0, i64::from(self.config.jitter_start_ms) * 1_000),
        };
        let target_us = target_us.clamp(self.jitter_min_us, self.jitter_max_us);
        (quantile_us, target_us)
    }

    fn retarget(&mut self, seq: u32) {
        let (quantile_us, target_us) = self.estimate();
        self.target_us = target_us;
        self.quantile_live_us = quantile_us;
        self.retarget_seq = Some(seq);
        self.stats.retargets += 1;
        self.stats.delay_target_ms = ms(target_us);
    }

    /// Nothing held at or after `next_seq`.
    fn underrun(&mut self, now_us: i64) -> Playout<'static> {
        if now_us.saturating_sub(self.last_insert_us) >= self.stall_timeout_us {
            self.stats.stalls += 1;
            self.finish_talk_spurt();
            return Playout::EndOfTransmission;
        }
        if self.state != State::Playing {
            return Playout::Silence;
        }
        if self.delay_us(now_us, self.play_position) + self.frame_us <= self.jitter_max_us {
            // Hold the position: if the frame comes, it plays a frame late.
            self.underrun_credit = self.underrun_credit.saturating_add(1);
        } else {
            // No more delay allowed: its time passes.
            self.play_position += self.frame;
        }
        self.underrun_pops = self.underrun_pops.saturating_add(1);
        if !self.after_dtx
            && self.underrun_pops <= u32::from(self.config.underrun_conceal_frames_max)
        {
            self.stats.concealed += 1;
            Playout::Conceal
        } else {
            Playout::Silence
        }
    }

    fn play(&mut self, index: usize, now_us: i64, position: i64) -> Playout<'_> {
        self.consume(index);
        self.play_position = position + self.frame;
        self.underrun_credit = 0;
        self.underrun_pops = 0;
        self.after_dtx = usize::from(self.slots[index].len) <= DTX_PAYLOAD_LEN_MAX;
        self.stats.frames_played += 1;
        self.note_delay(now_us, position);
        Playout::Frame(self.slots[index].payload())
    }

    /// Marks the slot at `next_seq` played and moves on.
    fn consume(&mut self, index: usize) {
        debug_assert_eq!(self.slots[index].seq, self.next_seq);
        debug_assert_eq!(self.slots[index].state, SlotState::Held);
        self.slots[index].state = SlotState::Consumed;
        self.held -= 1;
        self.next_seq = self.next_seq.wrapping_add(1);
    }

    fn skip_missing(&mut self) {
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stats.lost += 1;
    }

    /// Ends the talk-spurt; starts the next one if its packets are here.
    fn finish_talk_spurt(&mut self) {
        self.floor = Some((self.stream, self.next_seq));
        self.retarget_seq = None;
        self.underrun_credit = 0;
        self.underrun_pops = 0;
        self.state = State::Idle;
        if let Some(index) = self.first_held() {
            let slot = &self.slots[index];
            let (seq, timestamp) = (slot.seq, slot.timestamp);
            self.next_seq = seq;
            self.play_position = self.unwrap(timestamp);
            self.state = State::Buffering;
        }
    }

    /// The slot of the first held sequence number at or after `next_seq`.
    fn first_held(&self) -> Option<usize> {
        if self.held == 0 {
            return None;
        }
        (0..SLOTS as u32).find_map(|i| {
            let seq = self.next_seq.wrapping_add(i);
            let index = self.index(seq);
            let slot = &self.slots[index];
            (slot.state == SlotState::Held && slot.seq == seq).then_some(index)
        })
    }

    fn index(&self, seq: u32) -> usize {
        seq as usize & (SLOTS - 1)
    }

    /// A 32-bit timestamp as a position near the playout position.
    fn unwrap(&self, timestamp: u32) -> i64 {
        let delta = timestamp.wrapping_sub(self.play_position as u32) as i32;
        self.play_position.wrapping_add(i64::from(delta))
    }

    /// How long after the fastest path media at `position` is played now.
    fn delay_us(&self, now_us: i64, position: i64) -> i64 {
        let expected_us = self
            .reference
            .at(now_us)
            .unwrap_or(now_us)
            .saturating_add(media_us(position));
        now_us.saturating_sub(expected_us)
    }

    fn note_delay(&mut self, now_us: i64, position: i64) {
        self.stats.delay_current_ms = ms(self.delay_us(now_us, position));
    }

    /// Timestamp steps this large are a new clock, not lateness.
    fn discontinuity_samples(&self) -> i64 {
        self.stall_timeout_us * i64::from(MEDIA_RATE_HZ) / 1_000_000
    }
}

impl<const SLOTS: usize, const PAYLOAD_LEN_MAX: usize> fmt::Debug
    for JitterBuffer<SLOTS, PAYLOAD_LEN_MAX>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("state", &self.state)
            .field("stream", &self.stream)
            .field("next_seq", &self.next_seq)
            .field("held", &self.held)
            .field("play_position", &self.play_position)
            .field("target_us", &self.target_us)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// An instant as signed microseconds (saturating past 292 000 years).
fn micros(now: Instant) -> i64 {
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// 48 kHz samples as microseconds (1000/48 = 125/6 µs each).
fn media_us(samples: i64) -> i64 {
    samples.saturating_mul(125) / 6
}

/// Microseconds as whole milliseconds for the stats, clamped at zero.
fn ms(us: i64) -> u32 {
    u32::try_from(us.max(0) / 1_000).unwrap_or(u32::MAX)
}
