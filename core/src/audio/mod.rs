//! The audio path's decisions (DESIGN.md "Audio path"), between a sound
//! card and the node engine, as the Linux threads and the simulator both
//! run them:
//!
//! ```text
//! capture:  period ─► Capture (detector, gate, level) ─► Framer + Encoder ─► CaptureSink
//!                                                         (frames, detections: bounded queues)
//! playback: frame ─► Player::insert (arrival on the device clock) ─► jitter buffer
//!           each period: Player::next_period ─► (pop ─► Decoder: decode / FEC / PLC) ─► period
//! ```
//!
//! The codec is a trait ([`Encoder`], [`Decoder`]): Opus on the node, a
//! G.711 stand-in in the simulator. The queues between the audio and the
//! network are the caller's (rtrb rings on Linux, bounded queues in the
//! simulator), of the sizes here. Nothing here allocates, locks or reads a
//! clock: every entry point takes a [`crate::time::SampleIndex`]
//! or the device clock, and hands its output to a sink or lends it.

mod capture;
mod codec;
mod framer;
mod player;
#[cfg(test)]
mod testing;

pub use self::capture::{Capture, CaptureSink, CaptureStats, Detection, Gate, GateSource};
pub use self::codec::{Decoder, Encoder};
pub use self::framer::{CATCH_UP_FRAMES, CodedFrame, FrameKind, Framer, FramerStats};
pub use self::player::{Played, Player, PlayerError, PlayerStats};

use crate::time::SampleIndex;
use crate::tone::ToneEvent;
use crate::tone::dtmf::DtmfSequence;

/// The longest codec frame, in samples: 60 ms at 48 kHz (Opus's longest
/// frame, RFC 6716).
pub const MAX_FRAME_SAMPLES: usize = 2_880;

/// Frames a channel's capture → network queue holds, and the network →
/// playback queue: 1.28 s of 20 ms frames, the pre-roll and a slow
/// network turn with room to spare.
pub const FRAME_RING_FRAMES: usize = 64;

/// Detections a channel's capture → network queue holds.
pub const TONE_RING_EVENTS: usize = 64;

const _: () = assert!(MAX_FRAME_SAMPLES == 60 * 48_000 / 1_000);
// The pre-roll the engine keeps (300 ms by default) fits with room for a
// network turn that is late by as much again.
const _: () = assert!(FRAME_RING_FRAMES * 20 >= 4 * 300);

/// The level reported for digital silence, dBFS.
pub const LEVEL_FLOOR_DBFS: i16 = -120;

/// The RMS level of `samples`, dBFS (full-scale sine: −3), rounded, not
/// under [`LEVEL_FLOOR_DBFS`]. What a frame reports (its loudest period)
/// and recordings stop on.
pub fn level_dbfs(samples: &[i16]) -> i16 {
    if samples.is_empty() {
        return LEVEL_FLOOR_DBFS;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = libm::sqrt(sum / samples.len() as f64) / 32_768.0;
    if rms <= 0.0 {
        return LEVEL_FLOOR_DBFS;
    }
    libm::round(20.0 * libm::log10(rms)).max(f64::from(LEVEL_FLOOR_DBFS)) as i16
}

/// What a channel's detector heard, for the network turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// A page or a DTMF digit.
    Tone(ToneEvent),
    /// DTMF digits that ended a sequence (a code such as `4711#`).
    Sequence(DtmfSequence),
    /// The tone of the latest page alert stopped here (its recording
    /// starts after it).
    TonesEnd(SampleIndex),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_silence_full_scale_and_a_sine() {
        assert_eq!(level_dbfs(&[]), LEVEL_FLOOR_DBFS);
        assert_eq!(level_dbfs(&[0; 240]), LEVEL_FLOOR_DBFS);
        assert_eq!(level_dbfs(&[i16::MIN; 240]), 0);
        let mut sine = [0i16; 480];
        testing::tone(&mut sine, 0, 1.0);
        assert_eq!(level_dbfs(&sine), -3);
        assert_eq!(level_dbfs(&[1; 240]), -90, "one LSB");
    }
}
