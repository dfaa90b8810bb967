//! What to listen for: two-tone sequential, long tone, hi-low and pulsed
//! definitions, the tone finder's settings, and the fixed-capacity set
//! that validates them.
//!
//! Every value here comes from a config file, so every bad value is a
//! typed [`DefinitionError`], never a panic. Frequencies are in Hz,
//! tolerances (`*_range_hz`) are ± Hz around them, durations in ms.
//!
//! The recommended tolerance is ±1 % of the tone
//! ([`RECOMMENDED_RANGE_FRACTION`]; [`recommended_range_hz`]): the tracker
//! measures a tone's mean frequency to 0.2 % or better down to −12 dB SNR,
//! and Quick Call II neighbours are at least 2.45 % apart, so ±1 % windows
//! around table tones never overlap while leaving room for an encoder that
//! is 0.5 % off. From ±1.25 % up, some neighbouring windows overlap
//! (2043.8/2094.5 Hz first), and one tone may then match two stations.

use core::fmt;

use heapless::Vec;

use super::MAX_DEFINITIONS;
use super::runs::track_tolerance_hz;
use super::tracker::{HOP_MS, TRACK_MAX_HZ, TRACK_MIN_HZ};

/// The recommended tolerance as a fraction of the tone's frequency.
pub const RECOMMENDED_RANGE_FRACTION: f32 = 0.01;
/// The widest tolerance accepted, as a fraction of the tone's frequency.
pub const MAX_RANGE_FRACTION: f32 = 0.1;
/// The shortest tone length a definition may ask for: two frames, the
/// shortest run the tracker can see.
pub const MIN_LENGTH_MS: u32 = 2 * HOP_MS;
/// The longest tone length a definition may ask for.
pub const MAX_LENGTH_MS: u32 = 60_000;
/// The longest gap between tones a definition may allow.
pub const MAX_GAP_MS: u32 = 5_000;
/// The most alternations a hi-low definition may ask for.
pub const MAX_ALTERNATIONS: u32 = 64;
/// The most pulses a pulsed definition may ask for.
pub const MAX_PULSES: u32 = 64;

/// The recommended `±range` for a tone at `hz`: 1 %.
pub fn recommended_range_hz(hz: f32) -> f32 {
    hz * RECOMMENDED_RANGE_FRACTION
}

/// Two-tone sequential ("Quick Call II"): tone A held for at least
/// `a_length_ms`, then, after at most `max_gap_ms`, tone B held for at
/// least `b_length_ms`. The alert fires as soon as B has lasted its
/// minimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoToneDef {
    /// Tone A, Hz.
    pub a_hz: f32,
    /// Tone B, Hz.
    pub b_hz: f32,
    /// The least time A must be held, ms.
    pub a_length_ms: u32,
    /// The least time B must be held, ms.
    pub b_length_ms: u32,
    /// A's measured frequency may be off by this much, ± Hz.
    pub a_range_hz: f32,
    /// B's measured frequency may be off by this much, ± Hz.
    pub b_range_hz: f32,
    /// The longest silence allowed between A and B, ms.
    pub max_gap_ms: u32,
    /// After an alert, the same definition stays quiet this long, ms.
    pub ignore_after_ms: u32,
}

impl TwoToneDef {
    /// A definition for standard Quick Call II timing (A 1 s, B 3 s, no
    /// gap) with the recommended margins: A at least 800 ms, B at least
    /// 2 s, ±1 % on each tone, gaps up to 250 ms, duplicates ignored for
    /// 10 s.
    pub fn quick_call(a_hz: f32, b_hz: f32) -> TwoToneDef {
        TwoToneDef {
            a_hz,
            b_hz,
            a_length_ms: 800,
            b_length_ms: 2_000,
            a_range_hz: recommended_range_hz(a_hz),
            b_range_hz: recommended_range_hz(b_hz),
            max_gap_ms: 250,
            ignore_after_ms: 10_000,
        }
    }

    fn validate(&self) -> Result<(), DefinitionError> {
        check_tone(self.a_hz, self.a_range_hz)?;
        check_tone(self.b_hz, self.b_range_hz)?;
        check_length(self.a_length_ms)?;
        check_length(self.b_length_ms)?;
        check_gap(self.max_gap_ms)?;
        check_apart(self.a_hz, self.b_hz)
    }
}

/// One tone held for at least `length_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LongToneDef {
    /// The tone, Hz.
    pub hz: f32,
    /// The least time it must be held, ms.
    pub length_ms: u32,
    /// Its measured frequency may be off by this much, ± Hz.
    pub range_hz: f32,
    /// After an alert, the definition stays quiet this long, ms.
    pub ignore_after_ms: u32,
}

impl LongToneDef {
    fn validate(&self) -> Result<(), DefinitionError> {
        check_tone(self.hz, self.range_hz)?;
        check_length(self.length_ms)
    }
}

/// Hi-low: tones A and B alternating, each held at least `min_tone_ms`,
/// gaps at most `max_gap_ms`; the alert fires when the `alternations`-th
/// consecutive tone (A B A B … counts each tone) has lasted its minimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HiLowDef {
    /// Tone A, Hz.
    pub a_hz: f32,
    /// Tone B, Hz.
    pub b_hz: f32,
    /// A's measured frequency may be off by this much, ± Hz.
    pub a_range_hz: f32,
    /// B's measured frequency may be off by this much, ± Hz.
    pub b_range_hz: f32,
    /// The least time each tone must be held, ms.
    pub min_tone_ms: u32,
    /// How many alternating tones make an alert (at least 2).
    pub alternations: u32,
    /// The longest silence allowed between tones, ms.
    pub max_gap_ms: u32,
    /// After an alert, the definition stays quiet this long, ms.
    pub ignore_after_ms: u32,
}

impl HiLowDef {
    fn validate(&self) -> Result<(), DefinitionError> {
        check_tone(self.a_hz, self.a_range_hz)?;
        check_tone(self.b_hz, self.b_range_hz)?;
        check_length(self.min_tone_ms)?;
        check_gap(self.max_gap_ms)?;
        if !(2..=MAX_ALTERNATIONS).contains(&self.alternations) {
            return Err(DefinitionError::AlternationsOutOfBounds {
                alternations: self.alternations,
            });
        }
        check_apart(self.a_hz, self.b_hz)
    }
}

/// Pulsed: one tone keyed on and off in a cadence. Each pulse lasts
/// `on_ms` ± `on_range_ms`, each pause between pulses `off_ms` ±
/// `off_range_ms`; the alert fires when the `min_pulses`-th consecutive
/// pulse has lasted its minimum. A pulse or pause out of its window, or
/// another held tone, starts the count again.
///
/// Durations are measured in whole 64 ms tracker frames, so each window
/// is widened by one frame; pauses under about 130 ms are not heard as
/// pauses (the tracker's frames are 128 ms long).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PulsedDef {
    /// The tone, Hz.
    pub hz: f32,
    /// Its measured frequency may be off by this much, ± Hz.
    pub range_hz: f32,
    /// How long each pulse lasts, ms.
    pub on_ms: u32,
    /// A pulse may be this much shorter or longer, ms.
    pub on_range_ms: u32,
    /// How long each pause between pulses lasts, ms.
    pub off_ms: u32,
    /// A pause may be this much shorter or longer, ms.
    pub off_range_ms: u32,
    /// How many consecutive pulses make an alert (at least 2).
    pub min_pulses: u32,
    /// After an alert, the definition stays quiet this long, ms.
    pub ignore_after_ms: u32,
}

impl PulsedDef {
    fn validate(&self) -> Result<(), DefinitionError> {
        check_tone(self.hz, self.range_hz)?;
        check_length(self.on_ms)?;
        check_length(self.off_ms)?;
        for (length_ms, range_ms) in [
            (self.on_ms, self.on_range_ms),
            (self.off_ms, self.off_range_ms),
        ] {
            if range_ms >= length_ms {
                return Err(DefinitionError::CadenceRangeOutOfBounds {
                    length_ms,
                    range_ms,
                });
            }
        }
        if !(2..=MAX_PULSES).contains(&self.min_pulses) {
            return Err(DefinitionError::PulsesOutOfBounds {
                pulses: self.min_pulses,
            });
        }
        Ok(())
    }
}

/// The tone finder: with no definitions at all, report every stable
/// two-tone pair, long tone, hi-low warble and pulsed tone heard, with
/// measured frequencies and cadence, so that users can discover the codes
/// on their channel and copy them into definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinderConfig {
    /// A pair's first tone must last at least this long, ms.
    pub min_a_ms: u32,
    /// A pair is reported when its second tone has lasted this long, ms.
    pub min_b_ms: u32,
    /// A lone tone is reported when it has lasted this long, ms.
    pub long_ms: u32,
    /// The longest silence allowed between a pair's tones, ms.
    pub max_gap_ms: u32,
    /// A hi-low warble is reported when this many tones have alternated
    /// (A B A B … counts each tone; 2 to [`MAX_ALTERNATIONS`]).
    pub hi_low_alternations: u32,
    /// A pulsed tone is reported when this many pulses have come in a
    /// steady cadence (2 to [`MAX_PULSES`]).
    pub min_pulses: u32,
}

impl Default for FinderConfig {
    /// A ≥ 500 ms, B ≥ 1 s, long tones ≥ 2 s, gaps ≤ 500 ms: catches
    /// every Quick Call II variant in use and nothing in speech (see the
    /// acceptance suite). Hi-low after six alternating tones (five
    /// changes; as icad_tone_detection), each 128 ms to 1 s: four made
    /// two reports in 39 minutes of speech, five none; pulsed after six
    /// pulses in a steady cadence (as icad_tone_detection), pulses and
    /// pauses 128 ms to 1 s.
    fn default() -> FinderConfig {
        FinderConfig {
            min_a_ms: 500,
            min_b_ms: 1_000,
            long_ms: 2_000,
            max_gap_ms: 500,
            hi_low_alternations: 6,
            min_pulses: 6,
        }
    }
}

impl FinderConfig {
    fn validate(&self) -> Result<(), DefinitionError> {
        check_length(self.min_a_ms)?;
        check_length(self.min_b_ms)?;
        check_length(self.long_ms)?;
        check_gap(self.max_gap_ms)?;
        if !(2..=MAX_ALTERNATIONS).contains(&self.hi_low_alternations) {
            return Err(DefinitionError::AlternationsOutOfBounds {
                alternations: self.hi_low_alternations,
            });
        }
        if !(2..=MAX_PULSES).contains(&self.min_pulses) {
            return Err(DefinitionError::PulsesOutOfBounds {
                pulses: self.min_pulses,
            });
        }
        Ok(())
    }
}

/// One definition of any kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Definition {
    /// See [`TwoToneDef`].
    TwoTone(TwoToneDef),
    /// See [`LongToneDef`].
    LongTone(LongToneDef),
    /// See [`HiLowDef`].
    HiLow(HiLowDef),
    /// See [`PulsedDef`].
    Pulsed(PulsedDef),
}

impl Definition {
    fn validate(&self) -> Result<(), DefinitionError> {
        match self {
            Definition::TwoTone(d) => d.validate(),
            Definition::LongTone(d) => d.validate(),
            Definition::HiLow(d) => d.validate(),
            Definition::Pulsed(d) => d.validate(),
        }
    }

    fn ignore_after_ms(&self) -> u32 {
        match self {
            Definition::TwoTone(d) => d.ignore_after_ms,
            Definition::LongTone(d) => d.ignore_after_ms,
            Definition::HiLow(d) => d.ignore_after_ms,
            Definition::Pulsed(d) => d.ignore_after_ms,
        }
    }

    /// Whether one signal could match both `self` and `other`: every tone
    /// window of one overlaps the corresponding window of the other, and
    /// for two pulsed definitions the cadence windows too. Definitions of
    /// different kinds never match one signal (a pulsed tone is not a
    /// warble, a steady tone has no pauses). Config validation warns about
    /// such pairs; the detector reports both.
    pub fn overlaps(&self, other: &Definition) -> bool {
        let over = |a: f32, ra: f32, b: f32, rb: f32| (a - b).abs() <= ra + rb;
        match (self, other) {
            (Definition::TwoTone(x), Definition::TwoTone(y)) => {
                over(x.a_hz, x.a_range_hz, y.a_hz, y.a_range_hz)
                    && over(x.b_hz, x.b_range_hz, y.b_hz, y.b_range_hz)
            }
            (Definition::LongTone(x), Definition::LongTone(y)) => {
                over(x.hz, x.range_hz, y.hz, y.range_hz)
            }
            (Definition::HiLow(x), Definition::HiLow(y)) => {
                let same = over(x.a_hz, x.a_range_hz, y.a_hz, y.a_range_hz)
                    && over(x.b_hz, x.b_range_hz, y.b_hz, y.b_range_hz);
                let swapped = over(x.a_hz, x.a_range_hz, y.b_hz, y.b_range_hz)
                    && over(x.b_hz, x.b_range_hz, y.a_hz, y.a_range_hz);
                same || swapped
            }
            (Definition::Pulsed(x), Definition::Pulsed(y)) => {
                let cadence = |a: u32, ra: u32, b: u32, rb: u32| a.abs_diff(b) <= ra + rb;
                over(x.hz, x.range_hz, y.hz, y.range_hz)
                    && cadence(x.on_ms, x.on_range_ms, y.on_ms, y.on_range_ms)
                    && cadence(x.off_ms, x.off_range_ms, y.off_ms, y.off_range_ms)
            }
            _ => false,
        }
    }
}

impl From<TwoToneDef> for Definition {
    fn from(d: TwoToneDef) -> Definition {
        Definition::TwoTone(d)
    }
}

impl From<LongToneDef> for Definition {
    fn from(d: LongToneDef) -> Definition {
        Definition::LongTone(d)
    }
}

impl From<HiLowDef> for Definition {
    fn from(d: HiLowDef) -> Definition {
        Definition::HiLow(d)
    }
}

impl From<PulsedDef> for Definition {
    fn from(d: PulsedDef) -> Definition {
        Definition::Pulsed(d)
    }
}

/// A definition's place in its [`Definitions`] set, in insertion order:
/// the caller maps it to its `tone_id` and `alert_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DefinitionIndex(u8);

impl DefinitionIndex {
    /// The index `index`, if a set can hold that many definitions (for
    /// callers that keep per-definition tables in the same order).
    pub const fn new(index: usize) -> Option<DefinitionIndex> {
        if index < super::MAX_DEFINITIONS {
            Some(DefinitionIndex(index as u8))
        } else {
            None
        }
    }

    /// The index as a `usize`, `0..MAX_DEFINITIONS`.
    pub const fn get(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for DefinitionIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "definition {}", self.0)
    }
}

/// Why a definition (or the finder's settings) was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefinitionError {
    /// The set already holds [`MAX_DEFINITIONS`].
    Full,
    /// A frequency outside the tracked band ([`TRACK_MIN_HZ`] to
    /// [`TRACK_MAX_HZ`]), or not a number.
    FrequencyOutOfBand {
        /// The refused frequency.
        hz: f32,
    },
    /// A tolerance that is not positive, not finite, or wider than
    /// [`MAX_RANGE_FRACTION`] of its tone.
    RangeOutOfBounds {
        /// The tone.
        hz: f32,
        /// The refused tolerance.
        range_hz: f32,
    },
    /// A length outside [`MIN_LENGTH_MS`]..=[`MAX_LENGTH_MS`].
    LengthOutOfBounds {
        /// The refused length.
        length_ms: u32,
    },
    /// A gap above [`MAX_GAP_MS`].
    GapTooLong {
        /// The refused gap.
        max_gap_ms: u32,
    },
    /// Two tones of one definition too close for the tracker to tell
    /// apart as two tones: within 1.2 % (at least 4 Hz) of each other.
    /// (Quick Call II neighbours are 2.45 % or more apart.)
    TonesTooClose {
        /// The first tone.
        a_hz: f32,
        /// The second tone.
        b_hz: f32,
    },
    /// A hi-low alternation count outside 2..=[`MAX_ALTERNATIONS`].
    AlternationsOutOfBounds {
        /// The refused count.
        alternations: u32,
    },
    /// A pulse count outside 2..=[`MAX_PULSES`].
    PulsesOutOfBounds {
        /// The refused count.
        pulses: u32,
    },
    /// A pulse or pause tolerance not shorter than the duration it
    /// widens.
    CadenceRangeOutOfBounds {
        /// The pulse or pause length.
        length_ms: u32,
        /// The refused tolerance.
        range_ms: u32,
    },
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DefinitionError::Full => {
                write!(
                    f,
                    "more than {MAX_DEFINITIONS} tone definitions on one channel"
                )
            }
            DefinitionError::FrequencyOutOfBand { hz } => write!(
                f,
                "tone {hz} Hz is outside the detectable band, {TRACK_MIN_HZ} to {TRACK_MAX_HZ} Hz"
            ),
            DefinitionError::RangeOutOfBounds { hz, range_hz } => write!(
                f,
                "range ±{range_hz} Hz for tone {hz} Hz must be positive and at most {}% of the tone",
                MAX_RANGE_FRACTION * 100.0
            ),
            DefinitionError::LengthOutOfBounds { length_ms } => write!(
                f,
                "length {length_ms} ms is outside {MIN_LENGTH_MS} to {MAX_LENGTH_MS} ms"
            ),
            DefinitionError::GapTooLong { max_gap_ms } => {
                write!(f, "max gap {max_gap_ms} ms is above {MAX_GAP_MS} ms")
            }
            DefinitionError::TonesTooClose { a_hz, b_hz } => write!(
                f,
                "tones {a_hz} Hz and {b_hz} Hz are too close to tell apart: they must be more than 1.2 % (and 4 Hz) apart"
            ),
            DefinitionError::AlternationsOutOfBounds { alternations } => write!(
                f,
                "{alternations} alternations is outside 2 to {MAX_ALTERNATIONS}"
            ),
            DefinitionError::PulsesOutOfBounds { pulses } => {
                write!(f, "{pulses} pulses is outside 2 to {MAX_PULSES}")
            }
            DefinitionError::CadenceRangeOutOfBounds {
                length_ms,
                range_ms,
            } => write!(
                f,
                "tolerance ±{range_ms} ms must be shorter than the {length_ms} ms it widens"
            ),
        }
    }
}

impl core::error::Error for DefinitionError {}

fn check_tone(hz: f32, range_hz: f32) -> Result<(), DefinitionError> {
    if !(TRACK_MIN_HZ..=TRACK_MAX_HZ).contains(&hz) {
        return Err(DefinitionError::FrequencyOutOfBand { hz });
    }
    if !(range_hz > 0.0 && range_hz <= hz * MAX_RANGE_FRACTION) {
        return Err(DefinitionError::RangeOutOfBounds { hz, range_hz });
    }
    Ok(())
}

fn check_length(length_ms: u32) -> Result<(), DefinitionError> {
    if !(MIN_LENGTH_MS..=MAX_LENGTH_MS).contains(&length_ms) {
        return Err(DefinitionError::LengthOutOfBounds { length_ms });
    }
    Ok(())
}

fn check_gap(max_gap_ms: u32) -> Result<(), DefinitionError> {
    if max_gap_ms > MAX_GAP_MS {
        return Err(DefinitionError::GapTooLong { max_gap_ms });
    }
    Ok(())
}

/// Two tones of one definition must be far enough apart for the tracker
/// to hear them as two tones. Their windows may overlap (a wide tolerance
/// copied from another tool on an adjacent pair): that widens what
/// matches, it does not stop the definition from working.
fn check_apart(a_hz: f32, b_hz: f32) -> Result<(), DefinitionError> {
    if (a_hz - b_hz).abs() <= track_tolerance_hz(a_hz.min(b_hz)) {
        return Err(DefinitionError::TonesTooClose { a_hz, b_hz });
    }
    Ok(())
}

/// The definitions of one channel (at most [`MAX_DEFINITIONS`]) and,
/// optionally, the tone finder. Built with validating `push`es; once
/// built, everything in it is known to be usable.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definitions {
    items: Vec<Definition, MAX_DEFINITIONS>,
    finder: Option<FinderConfig>,
}

impl Definitions {
    /// An empty set, finder off.
    pub const fn new() -> Definitions {
        Definitions {
            items: Vec::new(),
            finder: None,
        }
    }

    /// Adds a definition; returns its index.
    ///
    /// # Errors
    /// [`DefinitionError::Full`] when the set holds [`MAX_DEFINITIONS`];
    /// any of the other variants for a value out of bounds (see each).
    pub fn push(
        &mut self,
        definition: impl Into<Definition>,
    ) -> Result<DefinitionIndex, DefinitionError> {
        let definition = definition.into();
        definition.validate()?;
        let index = DefinitionIndex(self.items.len() as u8);
        self.items
            .push(definition)
            .map_err(|_| DefinitionError::Full)?;
        Ok(index)
    }

    /// Turns the tone finder on with `config`.
    ///
    /// # Errors
    /// [`DefinitionError::LengthOutOfBounds`] or
    /// [`DefinitionError::GapTooLong`] for a value out of bounds.
    pub fn set_finder(&mut self, config: FinderConfig) -> Result<(), DefinitionError> {
        config.validate()?;
        self.finder = Some(config);
        Ok(())
    }

    /// The finder's settings, if it is on.
    pub fn finder(&self) -> Option<&FinderConfig> {
        self.finder.as_ref()
    }

    /// How many definitions the set holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the set holds no definitions (the finder may be on).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The definition at `index`.
    pub fn get(&self, index: DefinitionIndex) -> Option<&Definition> {
        self.items.get(index.get())
    }

    /// Every definition with its index, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (DefinitionIndex, &Definition)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, d)| (DefinitionIndex(i as u8), d))
    }

    /// Every pair of definitions one signal could match (see
    /// [`Definition::overlaps`]), for config validation to warn about.
    pub fn overlapping(&self) -> impl Iterator<Item = (DefinitionIndex, DefinitionIndex)> + '_ {
        self.iter().flat_map(move |(i, x)| {
            self.iter()
                .skip(i.get() + 1)
                .filter(move |(_, y)| x.overlaps(y))
                .map(move |(j, _)| (i, j))
        })
    }

    pub(crate) fn ignore_after_ms(&self, index: usize) -> u32 {
        self.items.get(index).map_or(0, Definition::ignore_after_ms)
    }

    pub(crate) fn as_slice(&self) -> &[Definition] {
        &self.items
    }
}

const _: () = assert!(MAX_DEFINITIONS <= u8::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    fn qc(a: f32, b: f32) -> TwoToneDef {
        TwoToneDef::quick_call(a, b)
    }

    #[test]
    fn adjacent_quick_call_tones_are_accepted_with_recommended_ranges() {
        let mut d = Definitions::new();
        assert_eq!(d.push(qc(288.5, 296.5)).unwrap().get(), 0);
        assert_eq!(d.push(qc(2_043.8, 2_094.5)).unwrap().get(), 1);
        // ±2 % (a tolerance copied from another tool) makes an adjacent
        // pair's windows overlap: allowed, the tones are still 2.5 % apart.
        let wide = TwoToneDef {
            a_range_hz: 40.9,
            b_range_hz: 41.9,
            ..qc(2_043.8, 2_094.5)
        };
        assert_eq!(d.push(wide).unwrap().get(), 2);
        assert_eq!(d.len(), 3);
        // Only the same station twice overlaps (a config warning).
        let pairs: std::vec::Vec<_> = d.overlapping().map(|(i, j)| (i.get(), j.get())).collect();
        assert_eq!(pairs, [(1, 2)]);
    }

    #[test]
    fn bad_values_are_errors() {
        let mut d = Definitions::new();
        let bad = [
            (
                TwoToneDef {
                    a_hz: f32::NAN,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::FrequencyOutOfBand { hz: f32::NAN },
            ),
            (
                TwoToneDef {
                    a_hz: 100.0,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::FrequencyOutOfBand { hz: 100.0 },
            ),
            (
                TwoToneDef {
                    b_hz: 3_600.0,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::FrequencyOutOfBand { hz: 3_600.0 },
            ),
            (
                TwoToneDef {
                    a_range_hz: 0.0,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::RangeOutOfBounds {
                    hz: 500.0,
                    range_hz: 0.0,
                },
            ),
            (
                TwoToneDef {
                    a_range_hz: 60.0,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::RangeOutOfBounds {
                    hz: 500.0,
                    range_hz: 60.0,
                },
            ),
            (
                TwoToneDef {
                    b_range_hz: f32::INFINITY,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::RangeOutOfBounds {
                    hz: 700.0,
                    range_hz: f32::INFINITY,
                },
            ),
            (
                TwoToneDef {
                    a_length_ms: 50,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::LengthOutOfBounds { length_ms: 50 },
            ),
            (
                TwoToneDef {
                    b_length_ms: 600_000,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::LengthOutOfBounds { length_ms: 600_000 },
            ),
            (
                TwoToneDef {
                    max_gap_ms: 9_999,
                    ..qc(500.0, 700.0)
                },
                DefinitionError::GapTooLong { max_gap_ms: 9_999 },
            ),
            (
                qc(500.0, 504.0),
                DefinitionError::TonesTooClose {
                    a_hz: 500.0,
                    b_hz: 504.0,
                },
            ),
            (
                qc(1_000.0, 1_011.0),
                DefinitionError::TonesTooClose {
                    a_hz: 1_000.0,
                    b_hz: 1_011.0,
                },
            ),
        ];
        for (def, want) in bad {
            let got = d.push(def).unwrap_err();
            // NaN != NaN: compare the Display text instead.
            assert_eq!(std::format!("{got}"), std::format!("{want}"), "{def:?}");
        }
        assert!(d.is_empty());
        let hl = HiLowDef {
            a_hz: 600.0,
            b_hz: 900.0,
            a_range_hz: 6.0,
            b_range_hz: 9.0,
            min_tone_ms: 200,
            alternations: 1,
            max_gap_ms: 100,
            ignore_after_ms: 0,
        };
        assert_eq!(
            d.push(hl),
            Err(DefinitionError::AlternationsOutOfBounds { alternations: 1 })
        );
        let long = LongToneDef {
            hz: 1_000.0,
            length_ms: 100,
            range_hz: 10.0,
            ignore_after_ms: 0,
        };
        assert_eq!(
            d.push(long),
            Err(DefinitionError::LengthOutOfBounds { length_ms: 100 })
        );
        let finder = FinderConfig {
            max_gap_ms: 6_000,
            ..FinderConfig::default()
        };
        assert_eq!(
            d.set_finder(finder),
            Err(DefinitionError::GapTooLong { max_gap_ms: 6_000 })
        );
        assert!(d.finder().is_none());
    }

    #[test]
    fn the_set_is_bounded() {
        let mut d = Definitions::new();
        for i in 0..MAX_DEFINITIONS {
            d.push(qc(300.0 + 10.0 * i as f32, 2_000.0)).unwrap();
        }
        assert_eq!(d.push(qc(1_000.0, 2_000.0)), Err(DefinitionError::Full));
        assert_eq!(d.len(), MAX_DEFINITIONS);
    }

    #[test]
    fn overlapping_definitions_are_listed_for_a_warning() {
        let mut d = Definitions::new();
        let a = d.push(qc(600.9, 1_000.0)).unwrap();
        d.push(qc(669.9, 1_000.0)).unwrap();
        let c = d
            .push(TwoToneDef {
                a_range_hz: 10.0,
                ..qc(610.0, 1_005.0)
            })
            .unwrap();
        let pairs: std::vec::Vec<_> = d.overlapping().collect();
        assert_eq!(pairs, std::vec![(a, c)]);
    }

    extern crate std;
}
