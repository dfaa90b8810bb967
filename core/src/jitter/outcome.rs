//! What the jitter buffer answers: insert results, playout decisions, state
//! and counters.

use core::fmt;

/// What [`JitterBuffer::insert`](super::JitterBuffer::insert) did with a
/// packet. Only [`InsertResult::Inserted`] keeps it; every other variant
/// is counted in [`Stats`] and the packet is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum InsertResult {
    /// Stored; it will be played (or end the talk-spurt) in its turn.
    Inserted,
    /// This sequence number is already held or was already played.
    Duplicate,
    /// Its playout time has passed: the frame was concealed or skipped, or
    /// it belongs to a talk-spurt that has ended.
    TooLate,
    /// Beyond the slot window: more than `SLOTS` packets ahead of the next
    /// one to play.
    TooEarly,
    /// Not audio or end-of-transmission (a heartbeat or unknown kind).
    NotAudio,
    /// From another stream while a talk-spurt of this one is playing.
    OtherStream,
    /// An audio packet with an empty payload or one longer than a slot.
    BadPayload,
}

impl InsertResult {
    /// A short fixed name for counters and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            InsertResult::Inserted => "inserted",
            InsertResult::Duplicate => "duplicate",
            InsertResult::TooLate => "too_late",
            InsertResult::TooEarly => "too_early",
            InsertResult::NotAudio => "not_audio",
            InsertResult::OtherStream => "other_stream",
            InsertResult::BadPayload => "bad_payload",
        }
    }
}

impl fmt::Display for InsertResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InsertResult::Inserted => "inserted",
            InsertResult::Duplicate => "already held or played",
            InsertResult::TooLate => "its playout time has passed",
            InsertResult::TooEarly => "beyond the jitter buffer's window",
            InsertResult::NotAudio => "not an audio or end-of-transmission packet",
            InsertResult::OtherStream => "another stream is playing",
            InsertResult::BadPayload => "empty or oversized audio payload",
        })
    }
}

/// What to play for one frame period; the answer of
/// [`JitterBuffer::pop`](super::JitterBuffer::pop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Playout<'a> {
    /// Decode this Opus packet.
    Frame(&'a [u8]),
    /// This frame is missing but the next packet (these bytes) carries
    /// in-band FEC for it: decode them with `decode_fec = 1`. The packet
    /// itself is played by the next pop.
    Fec(&'a [u8]),
    /// Missing: run Opus packet-loss concealment for one frame.
    Conceal,
    /// Nothing to play: output silence (or comfort noise). The buffer is
    /// idle, waiting for its target delay, or in a pause of the talker.
    Silence,
    /// The talk-spurt is over (its end-of-transmission packet was reached,
    /// or the sender went silent past the stall timeout). Said once; the
    /// caller releases PTT after its hang time.
    EndOfTransmission,
}

/// Where the buffer is in a talk-spurt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// No talk-spurt: pops say `Silence`.
    Idle,
    /// A talk-spurt has arrived; waiting until its first frame has been
    /// delayed by the target.
    Buffering,
    /// Playing a talk-spurt.
    Playing,
}

/// Counters since construction or the last
/// [`JitterBuffer::reset_stats`](super::JitterBuffer::reset_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Packets stored.
    pub inserted: u64,
    /// Packets already held or played.
    pub duplicates: u64,
    /// Packets that came after their playout time.
    pub late: u64,
    /// Packets beyond the slot window.
    pub too_early: u64,
    /// Packets refused for their kind, stream or payload.
    pub rejected: u64,
    /// Frames whose packet was not there when their turn came (lost in the
    /// network or late); each was concealed, FEC-recovered, or covered by
    /// an underrun frame already played.
    pub lost: u64,
    /// `Conceal` answers: missing frames, underrun frames, and `stretched`
    /// frames.
    pub concealed: u64,
    /// Of `concealed`, frames inserted before a speech frame whose delay
    /// had fallen below the jitter quantile (slow sender clock, worse
    /// network): they lengthen the delay, nothing was missing.
    pub stretched: u64,
    /// `Fec` answers.
    pub fec_recovered: u64,
    /// `Frame` answers.
    pub frames_played: u64,
    /// Silent (DTX) frames dropped to bring the delay back to the target.
    pub silence_dropped: u64,
    /// Speech frames dropped because the delay had grown past
    /// `jitter_max_ms` in continuous speech (a fast sender clock).
    pub speech_dropped: u64,
    /// Talk-spurts ended by the stall timeout instead of an
    /// end-of-transmission packet.
    pub stalls: u64,
    /// Times a target delay was applied (talk-spurt starts).
    pub retargets: u64,
    /// How long the last played or concealed frame waited after the
    /// fastest path would have delivered it.
    pub delay_current_ms: u32,
    /// The target delay applied to the current talk-spurt.
    pub delay_target_ms: u32,
}
