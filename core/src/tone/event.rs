//! What the detector reports: one [`ToneEvent`] per alert.

use crate::time::SampleIndex;

use super::definition::DefinitionIndex;

/// The kind of pattern an event reports (the "alert type" of the
/// detection; the definition's own `alert_type` label is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToneKind {
    /// Two-tone sequential.
    TwoTone,
    /// One long tone.
    LongTone,
    /// Two tones alternating.
    HiLow,
    /// One tone keyed on and off in a cadence.
    Pulsed,
    /// A DTMF digit.
    Dtmf,
}

/// The frequencies the detector measured: each the mean over the whole
/// tone as heard so far (not the definition's nominal values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measured {
    /// Two-tone sequential.
    TwoTone {
        /// Tone A, Hz.
        a_hz: f32,
        /// Tone B, Hz.
        b_hz: f32,
    },
    /// One long tone.
    LongTone {
        /// The tone, Hz.
        hz: f32,
    },
    /// Hi-low.
    HiLow {
        /// The definition's tone A as last heard, Hz.
        a_hz: f32,
        /// The definition's tone B as last heard, Hz.
        b_hz: f32,
        /// Consecutive alternating tones counted when it fired.
        alternations: u32,
        /// The mean length of the tones counted before the one it fired
        /// on (the warble's step), ms, to a 64 ms frame each.
        tone_ms: u32,
    },
    /// Pulsed.
    Pulsed {
        /// The tone, mean over the pulses counted, Hz.
        hz: f32,
        /// Consecutive pulses counted when it fired.
        pulses: u32,
        /// The mean length of the pulses before the one it fired on, ms.
        on_ms: u32,
        /// The mean length of the pauses between them, ms.
        off_ms: u32,
    },
    /// A DTMF digit.
    Dtmf {
        /// `b'0'..=b'9'`, `b'*'`, `b'#'` or `b'A'..=b'D'`.
        digit: u8,
        /// Row (low-group) tone, Hz.
        low_hz: f32,
        /// Column (high-group) tone, Hz.
        high_hz: f32,
        /// High-group level minus low-group level, dB.
        twist_db: f32,
    },
}

impl Measured {
    /// The kind of pattern.
    pub fn kind(&self) -> ToneKind {
        match self {
            Measured::TwoTone { .. } => ToneKind::TwoTone,
            Measured::LongTone { .. } => ToneKind::LongTone,
            Measured::HiLow { .. } => ToneKind::HiLow,
            Measured::Pulsed { .. } => ToneKind::Pulsed,
            Measured::Dtmf { .. } => ToneKind::Dtmf,
        }
    }
}

/// One detection.
///
/// Positions are device-rate frames on the caller's media clock (the
/// `start` indices it passed in), accurate to about half a frame of the
/// tracker (±32 ms) at the edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneEvent {
    /// The definition that matched, or `None` for the tone finder and DTMF.
    pub definition: Option<DefinitionIndex>,
    /// What was heard.
    pub measured: Measured,
    /// Where the pattern began (tone A's start; the long tone's start;
    /// the first counted hi-low tone's or pulse's start).
    pub start: SampleIndex,
    /// Where the last tone had reached when the alert fired (the tone may
    /// go on).
    pub end: SampleIndex,
    /// The device frame at which the detector had heard enough: the
    /// sample that completed the deciding frame.
    pub detected_at: SampleIndex,
    /// How long after the pattern met its minimums (as measured: B's
    /// start + `b_length_ms`; the long tone's start + `length_ms`; the
    /// last hi-low tone's start + `min_tone_ms`; the last pulse's start +
    /// its shortest length) the alert fired, in ms,
    /// 0 if it fired at or before that moment (durations are measured to
    /// one 64 ms frame, so it may be slightly early).
    pub latency_ms: u32,
}

impl ToneEvent {
    /// The kind of pattern.
    pub fn kind(&self) -> ToneKind {
        self.measured.kind()
    }
}

/// A matcher's verdict, in detection-rate positions, before the detector
/// turns it into a [`ToneEvent`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Match {
    pub start_pos: i64,
    pub end_pos: i64,
    /// Where the pattern met its minimums.
    pub met_pos: i64,
    pub measured: Measured,
}

/// Detection-rate samples in `ms`.
pub(crate) fn ms_to_pos(ms: u32) -> i64 {
    ms as i64 * (super::DETECTION_RATE_HZ / 1_000) as i64
}
