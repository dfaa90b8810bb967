//! The receive jitter buffer: Opus packets in by sequence number, one
//! playout decision out per frame period, with a target delay that adapts
//! to the network at each talk-spurt (the NetEq idea).
//!
//! ```text
//! net ─► open ─► insert(now, repr, payload) ─► slots[seq % SLOTS] ─┐
//!                   │ relative arrival delay                       │
//!                   ▼                                              ▼
//!          ArrivalReference + DelayHistogram ─► target ─► pop(now) once per frame
//!                                                        ─► Frame | Fec | Conceal | Silence | EndOfTransmission
//! ```
//!
//! # Contract
//!
//! [`JitterBuffer`] is sans-IO and single-threaded (it lives on the
//! playback thread). `insert` takes every opened audio and
//! end-of-transmission packet with its arrival time and returns an
//! [`InsertResult`] at once; `pop` is called exactly once per frame period
//! (`frame_samples` of audio, driven by the sound card) with the current
//! time and returns the one [`Playout`] for that period. Both take `now`
//! from one monotonic clock; nothing reads a clock, allocates or panics on
//! any input. There is no `poll_timeout`: the playback cadence is the only
//! timer, and a pop while idle is cheap.
//!
//! # Playout model
//!
//! Each pop plays one frame of media. The buffer keeps a *play position*
//! (the timestamp the next pop plays, unwrapped from 32 bits) and the next
//! sequence number to play; one packet is one frame.
//!
//! - **Alignment points**: a talk-spurt start (the first packet after
//!   idle, after an end-of-transmission or a stall, or one flagged
//!   `START_OF_TALKSPURT`) and the first packet after a pause inside one
//!   (its timestamp jumps: the sender's DTX sent nothing). There the
//!   target is recomputed and the packet waits until its delay after the
//!   fastest path (below) is within half a frame of the target, then
//!   plays; the next frames follow one per pop. So every talk-spurt and
//!   every pause ends at the target ± half a frame, whatever the phase of
//!   the pops, and a pause is stretched or shortened to get there.
//! - **Missing frame**, a later packet held: `Fec` if the very next packet
//!   carries FEC, else `Conceal`, in the missing frame's turn; the
//!   position moves on (counted `lost`).
//! - **Underrun** (nothing held at all): `Conceal` for up to
//!   `underrun_conceal_frames_max` pops, then `Silence` (only `Silence`
//!   after a DTX frame: that is the talker's pause). The position is held
//!   while the delay stays within `jitter_max_ms` (a frame that turns up
//!   late still plays, a frame late: NetEq's expand), after which time
//!   passes and late frames are dropped. When packets come back, the held
//!   pops stand in for frames that never came. With nothing inserted for
//!   `stall_timeout_ms` the talk-spurt ends with `EndOfTransmission`: a
//!   sender that died without its end packet never keeps a radio keyed,
//!   and never gets more than `underrun_conceal_frames_max` concealed
//!   frames.
//! - **End of transmission**: the end packet takes the next sequence
//!   number; when the position reaches it (every frame before it played or
//!   concealed) the pop says `EndOfTransmission` once. Packets of the next
//!   talk-spurt already held start buffering at once.
//!
//! # Delay estimator
//!
//! For every packet, `offset = arrival − media time of its timestamp`.
//! The *fastest path* is the leaky minimum of the offsets
//! ([`ArrivalReference`]: rises 1 ms per second, falls at once), and a
//! packet's *relative arrival delay* is its offset above it. Clock offset
//! between sender and receiver cancels; the reference outlives talk-spurts,
//! so a talk-spurt whose first packet was slow is still measured against
//! the path (a jump above `jitter_max_ms` at a talk-spurt's start, or
//! above `stall_timeout_ms` inside one, restarts it: a new timestamp
//! origin). Relative delays of packets that arrive while playing go into
//! a forgetting histogram ([`DelayHistogram`], memory ≈ 20 s of packets);
//! packets that arrive while a talk-spurt is still buffering are the
//! sender's pre-roll burst, late by design, and are left out. The target
//! is
//!
//! ```text
//! target = clamp(quantile(delay_quantile_permille) + one frame, jitter_min_ms, jitter_max_ms)
//! ```
//!
//! or `jitter_start_ms` (clamped) before anything has been measured. The
//! frame added covers the pop grid: a frame that arrives just after a pop
//! waits up to a frame for the next.
//!
//! # Drift and catching up
//!
//! A sender clock off by ±100 ppm moves the delay by 6 ms a minute. The
//! reference follows it (its leak is ten times faster), so the estimate
//! does not run away; the delay itself is corrected only where no speech
//! is lost:
//!
//! - *in silence*: at each pause (an alignment point, above), and by
//!   dropping DTX frames (≤ [`DTX_PAYLOAD_LEN_MAX`] bytes) while the delay
//!   is half a frame above the target or holding them while it is half a
//!   frame below;
//! - *at the next talk-spurt*, which starts at the target;
//! - *in continuous speech* only upwards: when a speech frame's delay is
//!   below the current quantile of the histogram (a slow sender drained
//!   the buffer, or the network got worse since the talk-spurt started),
//!   one `Conceal` is inserted before it (counted `stretched`) instead of
//!   letting frames arrive late; an underrun does the same when a frame is
//!   simply not there yet. At 100 ppm that is one frame every 200 s. A
//!   fast sender's surplus (60 ms after ten minutes at 100 ppm) waits for
//!   silence, up to `jitter_max_ms`: a speech frame that would play later
//!   than that is dropped (counted `speech_dropped`), so the delay stays
//!   bounded in the longest transmission (one frame every 50 s at
//!   400 ppm, once the surplus has reached the bound).
//!
//! A stall followed by a burst therefore plays everything a stall late
//! (up to `jitter_max_ms`; beyond it, the oldest frames' time passes) and
//! sheds the extra delay in the next pause or talk-spurt.

mod buffer;
mod config;
mod estimator;
mod outcome;
mod slot;

#[cfg(test)]
mod tests;

pub use buffer::{DTX_PAYLOAD_LEN_MAX, JitterBuffer};
pub use config::{
    ConfigError, DELAY_QUANTILE_PERMILLE_RANGE, JitterConfig, MEDIA_RATE_HZ, OPUS_FRAME_SAMPLES,
};
pub use estimator::{
    ArrivalReference, BUCKET_US, BUCKETS, DelayHistogram, HISTORY_US, REFERENCE_LEAK_PPM,
};
pub use outcome::{InsertResult, Playout, State, Stats};

/// The buffer the playback threads use: 64 slots (1.28 s of 20 ms frames,
/// 320 ms of 5 ms frames) of full-size Opus packets.
pub type DefaultJitterBuffer = JitterBuffer<64>;
