//! What counts as a digit: the config, its validation, and what it means
//! in the analysis' units.

use core::fmt;

use super::analysis::Limits;
use super::{SUB_MS, WINDOW_LEN, WINDOW_SUBS};

/// Windows a 10 ms interruption can spoil: it touches at most three
/// sub-blocks, and a window holding any of them with too little signal
/// fails (five hold the middle one, one more each side at most).
const INTERRUPTION_WINDOWS_MAX: u32 = 7;

/// The measured silence that ends a digit is never set below this:
/// midway between Q.24's 10 ms interruption, which must never split a
/// digit, and the shortest [`DtmfConfig::off_ms_min`], 15 ms, which must.
const SILENCE_MS_MIN: f32 = 12.5;

/// The shortest accepted [`DtmfConfig::on_ms_min`]: one window of signal
/// validates a digit from here on (radio encoders' fast DTMF).
const ON_MS_MIN: u32 = 20;
/// The shortest accepted [`DtmfConfig::off_ms_min`].
const OFF_MS_MIN: u32 = 15;
const _: () =
    assert!((OFF_MS_MIN * 3) as f32 / 4.0 < SILENCE_MS_MIN && SILENCE_MS_MIN < OFF_MS_MIN as f32);
const _: () = assert!(INTERRUPTION_WINDOWS_MAX == 2 + WINDOW_SUBS as u32);

/// Measured twist may exceed the configured limit by this much (dB), so
/// that a signal exactly at the limit (which Q.24 says must pass) is not
/// left to measurement noise. Twist is measured to 0.05 dB on clean
/// tones, 0.25 dB with 8 dB of twist.
const TWIST_ALLOWANCE_DB: f32 = 0.5;

/// What counts as a digit. Every field is input: check it with
/// [`DtmfConfig::validate`] (which
/// [`DtmfDetector::new`](super::DtmfDetector::new) does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfConfig {
    /// How much weaker the high tone may be than the low one (normal
    /// twist), dB, `0..=20`. Q.24 (AT&T): 8. Signals at the limit pass:
    /// the measured twist is compared with the limit plus 0.5 dB.
    pub twist_normal_db_max: f32,
    /// How much stronger the high tone may be than the low one (reverse
    /// twist), dB, `0..=20`. Q.24 (AT&T): 4. Radio links: 8. Also with
    /// 0.5 dB allowance.
    pub twist_reverse_db_max: f32,
    /// Tones at least this long are reported; tones shorter than about
    /// half of it are not (the decision point is 3/4 of it, at 5 ms
    /// resolution), `20..=1000`. Q.24 (AT&T): 40. At 33 and below one
    /// 25 ms window validates a digit: tones from 25 ms always pass, from
    /// 20 ms sometimes, under 18 ms never (radio encoders' fast DTMF
    /// sends 40 ms tones; Q.24's 23 ms must-reject holds only from 34).
    pub on_ms_min: u32,
    /// Gaps at least this long separate two digits (so a repeated digit is
    /// reported again); interruptions of 10 ms never do, `15..=1000`.
    /// Q.24 (AT&T): 40. A digit ends when windows without it span 3/4 of
    /// this, or when the measured silence reaches 3/4 of it (at least
    /// 12.5 ms); radio encoders' fast DTMF needs 15 or 20.
    pub off_ms_min: u32,
    /// Largest accepted deviation of each measured frequency from nominal,
    /// percent, `0.5..=5`. Q.24 (AT&T) requires acceptance up to 1.5 and
    /// rejection from 3.5; the default 2.5 sits in the middle.
    pub deviation_percent_max: f32,
    /// Quietest accepted tone, dBFS per tone (0 dBFS is a full-scale sine),
    /// `-100..=0`.
    pub level_dbfs_min: f32,
    /// Least fraction of the window's energy (each 5 ms sub-block's mean
    /// removed) the two tones must hold together, `0.1..=1`: the
    /// tone-to-total talk-off guard. The default 0.7 passes a pair in band
    /// noise down to about +1 dB per-tone SNR. On the talk-off corpora
    /// (143 minutes, with the harmonic guards) 0.7 let no digit through,
    /// 0.65 one, 0.6 five.
    pub tone_ratio_min: f32,
}

impl Default for DtmfConfig {
    fn default() -> DtmfConfig {
        DtmfConfig::DEFAULT
    }
}

impl DtmfConfig {
    /// Q.24 (AT&T) twist and timing, 2.5 % deviation, -50 dBFS, 0.7 of the
    /// window's energy in the pair. Also what a config file's `dtmf`
    /// section falls back to, so each number is written here only.
    pub const DEFAULT: DtmfConfig = DtmfConfig {
        twist_normal_db_max: 8.0,
        twist_reverse_db_max: 4.0,
        on_ms_min: 40,
        off_ms_min: 40,
        deviation_percent_max: 2.5,
        level_dbfs_min: -50.0,
        tone_ratio_min: 0.7,
    };

    /// Checks every field against its [`DtmfConfigError::range`].
    ///
    /// # Errors
    /// The first field out of range, in field order (NaN is out of every
    /// range).
    pub fn validate(&self) -> Result<(), DtmfConfigError> {
        match self.refusals().next() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Every field out of its range, in field order (none: valid), so
    /// that a config check can name them all at once.
    pub fn refusals(&self) -> impl Iterator<Item = DtmfConfigError> {
        // Exact: the times checked are far below 2^24, and a larger one is
        // out of range as an f32 too.
        let fields = [
            (self.twist_normal_db_max, DtmfConfigError::TwistNormal),
            (self.twist_reverse_db_max, DtmfConfigError::TwistReverse),
            (self.on_ms_min as f32, DtmfConfigError::OnTime),
            (self.off_ms_min as f32, DtmfConfigError::OffTime),
            (self.deviation_percent_max, DtmfConfigError::Deviation),
            (self.level_dbfs_min, DtmfConfigError::Level),
            (self.tone_ratio_min, DtmfConfigError::ToneRatio),
        ];
        fields
            .into_iter()
            .filter(|&(value, error)| !error.range().contains(value))
            .map(|(_, error)| error)
    }

    pub(super) fn limits(&self) -> Limits {
        // A sine of peak 10^(dBFS/20) has mean square 10^(dBFS/10)/2.
        let tone_power_min = db_to_power(self.level_dbfs_min) / 2.0;
        Limits {
            tone_energy_min: tone_power_min * WINDOW_LEN as f32,
            normal_twist_max: db_to_power(self.twist_normal_db_max + TWIST_ALLOWANCE_DB),
            reverse_twist_max: db_to_power(self.twist_reverse_db_max + TWIST_ALLOWANCE_DB),
            deviation_max: self.deviation_percent_max / 100.0,
            tone_ratio_min: self.tone_ratio_min,
        }
    }

    /// Consecutive winning windows that validate a digit: they span
    /// `WINDOW_SUBS + n - 1` sub-blocks, which must reach 3/4 of the
    /// minimum on-time.
    pub(super) fn hits_to_validate(&self) -> u32 {
        let subs = (self.on_ms_min * 3).div_ceil(4 * SUB_MS);
        subs.saturating_sub(WINDOW_SUBS as u32 - 1).max(1)
    }

    /// Consecutive windows without the digit that end it: a gap of `g`
    /// sub-blocks spoils `g + WINDOW_SUBS - 1` windows. Never fewer than
    /// a 10 ms interruption can spoil, plus one.
    pub(super) fn misses_to_end(&self) -> u32 {
        let windows = (self.off_ms_min * 3).div_ceil(4 * SUB_MS) + WINDOW_SUBS as u32 - 1;
        windows.max(INTERRUPTION_WINDOWS_MAX + 1)
    }

    /// Measured silence, in sub-blocks, that ends a digit once at least
    /// [`SILENCE_MISSES_MIN`](super::timing::SILENCE_MISSES_MIN) windows
    /// have missed it: 3/4 of the minimum off-time, never under 12.5 ms.
    pub(super) fn silence_subs_to_end(&self) -> f32 {
        (self.off_ms_min as f32 * 0.75).max(SILENCE_MS_MIN) / SUB_MS as f32
    }
}

/// Which [`DtmfConfig`] field is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfConfigError {
    /// [`DtmfConfig::twist_normal_db_max`].
    TwistNormal,
    /// [`DtmfConfig::twist_reverse_db_max`].
    TwistReverse,
    /// [`DtmfConfig::on_ms_min`].
    OnTime,
    /// [`DtmfConfig::off_ms_min`].
    OffTime,
    /// [`DtmfConfig::deviation_percent_max`].
    Deviation,
    /// [`DtmfConfig::level_dbfs_min`].
    Level,
    /// [`DtmfConfig::tone_ratio_min`].
    ToneRatio,
}

impl DtmfConfigError {
    /// The config field's name.
    pub const fn field(&self) -> &'static str {
        match self {
            DtmfConfigError::TwistNormal => "twist_normal_db_max",
            DtmfConfigError::TwistReverse => "twist_reverse_db_max",
            DtmfConfigError::OnTime => "on_ms_min",
            DtmfConfigError::OffTime => "off_ms_min",
            DtmfConfigError::Deviation => "deviation_percent_max",
            DtmfConfigError::Level => "level_dbfs_min",
            DtmfConfigError::ToneRatio => "tone_ratio_min",
        }
    }

    /// The values the field accepts: what [`DtmfConfig::validate`]
    /// checks, and what messages quote.
    pub const fn range(&self) -> FieldRange {
        let (min, max, unit) = match self {
            DtmfConfigError::TwistNormal | DtmfConfigError::TwistReverse => (0.0, 20.0, "dB"),
            DtmfConfigError::OnTime => (ON_MS_MIN as f32, 1_000.0, "ms"),
            DtmfConfigError::OffTime => (OFF_MS_MIN as f32, 1_000.0, "ms"),
            DtmfConfigError::Deviation => (0.5, 5.0, "percent"),
            DtmfConfigError::Level => (-100.0, 0.0, "dBFS"),
            DtmfConfigError::ToneRatio => (0.1, 1.0, ""),
        };
        FieldRange { min, max, unit }
    }
}

impl fmt::Display for DtmfConfigError {
    /// `on_ms_min must be between 20 and 1000 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be {}", self.field(), self.range())
    }
}

impl core::error::Error for DtmfConfigError {}

/// The values one [`DtmfConfig`] field accepts, both ends included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldRange {
    /// The least accepted value.
    pub min: f32,
    /// The greatest accepted value.
    pub max: f32,
    /// The field's unit, empty for a plain ratio.
    pub unit: &'static str,
}

impl FieldRange {
    /// Whether `value` is accepted (NaN never is).
    pub fn contains(&self, value: f32) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

impl fmt::Display for FieldRange {
    /// `between 20 and 1000 ms`: the words after "must be".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "between {} and {}", self.min, self.max)?;
        if !self.unit.is_empty() {
            write!(f, " {}", self.unit)?;
        }
        Ok(())
    }
}

fn db_to_power(db: f32) -> f32 {
    libm::powf(10.0, db / 10.0)
}
