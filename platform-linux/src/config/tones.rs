//! Paging-tone definitions: two-tone sequential, long tone, hi-low,
//! pulsed.
//!
//! The two-tone fields keep the names of the seed format (`tone_a_freq`,
//! `tone_a_length_ms`, …) so existing TwoToneDetect / icad_tone_detection
//! lists carry over; fields added here carry their unit last.
//! Every definition listens on one `channel` and, on a match, raises an
//! alert, records `record_length_ms` of audio and optionally routes the
//! audio to a `passthrough` channel.

use serde::Deserialize;

use super::defaults;

/// A two-tone sequential page (Motorola Quick Call II and alikes): tone A
/// for at least `tone_a_length_ms`, then tone B for at least
/// `tone_b_length_ms`. The alert fires as soon as B reaches its minimum.
///
/// ```json
/// { "tone_id": "Station 12", "channel": "fire-main",
///   "tone_a_freq": 349.0, "tone_a_range_hz": 5.0, "tone_a_length_ms": 800,
///   "tone_b_freq": 707.3, "tone_b_range_hz": 10.0, "tone_b_length_ms": 2000,
///   "record_length_ms": 30000, "alert_type": "fire" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoTone {
    /// Name of the page, unique across all definitions; reported in every
    /// event (e.g. `"Station 12"`).
    pub tone_id: String,
    /// Tone A frequency in Hz, 100 to 3500.
    pub tone_a_freq: f64,
    /// Tone B frequency in Hz, 100 to 3500.
    pub tone_b_freq: f64,
    /// Tone A must last at least this long (QC-II sends 1000 ms; 600 to
    /// 800 is a usual minimum).
    pub tone_a_length_ms: u32,
    /// Tone B must last at least this long (QC-II sends 3000 ms; 1000 to
    /// 2000 is a usual minimum). The alert fires when it is reached.
    pub tone_b_length_ms: u32,
    /// Tone A matches within `tone_a_freq` ± this. Keep it under half the
    /// distance to the neighbouring table tones (QC-II neighbours can be
    /// 2.5 % apart).
    pub tone_a_range_hz: f64,
    /// Tone B matches within `tone_b_freq` ± this.
    pub tone_b_range_hz: f64,
    /// Audio recorded after the alert (default 30000 ms); also how long a
    /// passthrough lasts. 0: alert only, no recording.
    #[serde(default = "record_length_ms")]
    pub record_length_ms: u32,
    /// Free-form label carried in events so receivers can act on it
    /// (e.g. `"fire"`, `"ems"`; default `"default"`).
    #[serde(default = "alert_type")]
    pub alert_type: String,
    /// Longest silence allowed between A and B (default 500 ms).
    #[serde(default = "max_gap_ms")]
    pub max_gap_ms: u32,
    /// The recording starts this long after the page's last tone ends
    /// (default 0 ms).
    #[serde(default = "record_delay_ms")]
    pub record_delay_ms: u32,
    /// The same definition does not alert again for this long after an
    /// alert (duplicate suppression; default 10000 ms).
    #[serde(default = "ignore_after_ms")]
    pub ignore_after_ms: u32,
    /// Id of the channel whose audio is listened to.
    pub channel: String,
    /// Id of a channel that carries this channel's audio for
    /// `record_length_ms` after the alert (streamed as its transmission).
    /// Absent: no passthrough.
    #[serde(default)]
    pub passthrough: Option<String>,
}

/// One frequency held for a long time (an "all call" or a single-tone
/// alert).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongTone {
    /// Name of the alert, unique across all definitions.
    pub tone_id: String,
    /// Frequency in Hz, 100 to 3500.
    pub freq_hz: f64,
    /// Matches within `freq_hz` ± this.
    pub range_hz: f64,
    /// The tone must last at least this long (e.g. 5000 ms).
    pub length_ms: u32,
    /// Audio recorded after the alert (default 30000 ms); 0: alert only.
    #[serde(default = "record_length_ms")]
    pub record_length_ms: u32,
    /// Label carried in events (default `"default"`).
    #[serde(default = "alert_type")]
    pub alert_type: String,
    /// The recording starts this long after the page's last tone ends
    /// (default 0 ms).
    #[serde(default = "record_delay_ms")]
    pub record_delay_ms: u32,
    /// No second alert from this definition for this long (default 10000 ms).
    #[serde(default = "ignore_after_ms")]
    pub ignore_after_ms: u32,
    /// Id of the channel listened to.
    pub channel: String,
    /// Id of a channel that carries the audio after the alert. Absent: none.
    #[serde(default)]
    pub passthrough: Option<String>,
}

/// Two frequencies alternating (a hi-low warble, as used for evacuation
/// and some European fire alerts).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HiLow {
    /// Name of the alert, unique across all definitions.
    pub tone_id: String,
    /// The higher frequency in Hz, 100 to 3500.
    pub high_freq_hz: f64,
    /// The lower frequency in Hz, 100 to 3500.
    pub low_freq_hz: f64,
    /// Each frequency matches within ± this; the two windows must not touch.
    pub range_hz: f64,
    /// Changes between high and low needed before the alert, at least 2
    /// (default 4).
    #[serde(default = "hi_low_min_alternations")]
    pub min_alternations: u32,
    /// A high or low segment shorter than this breaks the sequence
    /// (default 150 ms).
    #[serde(default = "hi_low_min_segment_ms")]
    pub min_segment_ms: u32,
    /// Longest silence allowed between a high and a low segment
    /// (default 250 ms).
    #[serde(default = "hi_low_max_gap_ms")]
    pub max_gap_ms: u32,
    /// Audio recorded after the alert (default 30000 ms); 0: alert only.
    #[serde(default = "record_length_ms")]
    pub record_length_ms: u32,
    /// Label carried in events (default `"default"`).
    #[serde(default = "alert_type")]
    pub alert_type: String,
    /// The recording starts this long after the page's last tone ends
    /// (default 0 ms).
    #[serde(default = "record_delay_ms")]
    pub record_delay_ms: u32,
    /// No second alert from this definition for this long (default 10000 ms).
    #[serde(default = "ignore_after_ms")]
    pub ignore_after_ms: u32,
    /// Id of the channel listened to.
    pub channel: String,
    /// Id of a channel that carries the audio after the alert. Absent: none.
    #[serde(default)]
    pub passthrough: Option<String>,
}

/// One tone keyed on and off in a cadence (a pulsed single-tone alert):
/// pulses of `on_ms` with pauses of `off_ms` between them. The alert
/// fires when the `min_pulses`-th pulse in a row has lasted
/// `on_ms - on_range_ms`.
///
/// ```json
/// { "tone_id": "Pulsed 1010", "channel": "fire-main",
///   "freq_hz": 1010.6, "range_hz": 10.0,
///   "on_ms": 300, "off_ms": 200, "min_pulses": 6,
///   "record_length_ms": 30000, "alert_type": "fire" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pulsed {
    /// Name of the alert, unique across all definitions.
    pub tone_id: String,
    /// Frequency in Hz, 100 to 3500.
    pub freq_hz: f64,
    /// Matches within `freq_hz` ± this.
    pub range_hz: f64,
    /// How long each pulse lasts, 128 to 60000 ms.
    pub on_ms: u32,
    /// A pulse may be this much shorter or longer (default 50 ms; the
    /// detector measures in 64 ms steps and adds one step itself).
    #[serde(default = "pulsed_range_ms")]
    pub on_range_ms: u32,
    /// How long each pause between pulses lasts, 128 to 60000 ms.
    pub off_ms: u32,
    /// A pause may be this much shorter or longer (default 50 ms).
    #[serde(default = "pulsed_range_ms")]
    pub off_range_ms: u32,
    /// Pulses in a row needed before the alert, 2 to 64 (default 4).
    #[serde(default = "pulsed_min_pulses")]
    pub min_pulses: u32,
    /// Audio recorded after the alert (default 30000 ms); 0: alert only.
    #[serde(default = "record_length_ms")]
    pub record_length_ms: u32,
    /// Label carried in events (default `"default"`).
    #[serde(default = "alert_type")]
    pub alert_type: String,
    /// The recording starts this long after the pulse the alert fired on
    /// ends (default 0 ms).
    #[serde(default = "record_delay_ms")]
    pub record_delay_ms: u32,
    /// No second alert from this definition for this long (default 10000 ms).
    #[serde(default = "ignore_after_ms")]
    pub ignore_after_ms: u32,
    /// Id of the channel listened to.
    pub channel: String,
    /// Id of a channel that carries the audio after the alert. Absent: none.
    #[serde(default)]
    pub passthrough: Option<String>,
}

// serde's `default = "…"` wants functions.

fn record_length_ms() -> u32 {
    defaults::RECORD_LENGTH_MS
}
fn record_delay_ms() -> u32 {
    defaults::RECORD_DELAY_MS
}
fn ignore_after_ms() -> u32 {
    defaults::IGNORE_AFTER_MS
}
fn alert_type() -> String {
    defaults::ALERT_TYPE.to_owned()
}
fn max_gap_ms() -> u32 {
    defaults::MAX_GAP_MS
}
fn hi_low_min_alternations() -> u32 {
    defaults::HI_LOW_MIN_ALTERNATIONS
}
fn hi_low_min_segment_ms() -> u32 {
    defaults::HI_LOW_MIN_SEGMENT_MS
}
fn hi_low_max_gap_ms() -> u32 {
    defaults::HI_LOW_MAX_GAP_MS
}
fn pulsed_range_ms() -> u32 {
    defaults::PULSED_RANGE_MS
}
fn pulsed_min_pulses() -> u32 {
    defaults::PULSED_MIN_PULSES
}

/// What every kind of tone definition has: identity, where it listens,
/// and what happens on a match.
pub trait ToneDefinition {
    /// The definition's `tone_id`.
    fn tone_id(&self) -> &str;
    /// The channel it listens on.
    fn channel(&self) -> &str;
    /// The passthrough target, if any.
    fn passthrough(&self) -> Option<&str>;
    /// Audio recorded (and passed through) after the alert.
    fn record_length_ms(&self) -> u32;
    /// The recording starts this long after the page's tones end.
    fn record_delay_ms(&self) -> u32;
    /// Label carried in events.
    fn alert_type(&self) -> &str;
}

macro_rules! impl_tone_definition {
    ($($ty:ty),*) => {$(
        impl ToneDefinition for $ty {
            fn tone_id(&self) -> &str {
                &self.tone_id
            }
            fn channel(&self) -> &str {
                &self.channel
            }
            fn passthrough(&self) -> Option<&str> {
                self.passthrough.as_deref()
            }
            fn record_length_ms(&self) -> u32 {
                self.record_length_ms
            }
            fn record_delay_ms(&self) -> u32 {
                self.record_delay_ms
            }
            fn alert_type(&self) -> &str {
                &self.alert_type
            }
        }
    )*};
}

impl_tone_definition!(TwoTone, LongTone, HiLow, Pulsed);

/// A frequency window, `center_hz ± range_hz`, both ends included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Nominal frequency.
    pub center_hz: f64,
    /// Half-width.
    pub range_hz: f64,
}

impl Window {
    /// A window around `center_hz`.
    pub fn new(center_hz: f64, range_hz: f64) -> Self {
        Self {
            center_hz,
            range_hz,
        }
    }

    /// Whether some frequency lies in both windows.
    pub fn overlaps(self, other: Window) -> bool {
        (self.center_hz - other.center_hz).abs() <= self.range_hz + other.range_hz
    }
}

impl TwoTone {
    /// Where tone A matches.
    pub fn window_a(&self) -> Window {
        Window::new(self.tone_a_freq, self.tone_a_range_hz)
    }

    /// Where tone B matches.
    pub fn window_b(&self) -> Window {
        Window::new(self.tone_b_freq, self.tone_b_range_hz)
    }
}

impl LongTone {
    /// Where the tone matches.
    pub fn window(&self) -> Window {
        Window::new(self.freq_hz, self.range_hz)
    }
}

impl HiLow {
    /// Where the high tone matches.
    pub fn window_high(&self) -> Window {
        Window::new(self.high_freq_hz, self.range_hz)
    }

    /// Where the low tone matches.
    pub fn window_low(&self) -> Window {
        Window::new(self.low_freq_hz, self.range_hz)
    }
}

impl Pulsed {
    /// Where the tone matches.
    pub fn window(&self) -> Window {
        Window::new(self.freq_hz, self.range_hz)
    }
}
