//! From TwoToneDetect tone sets to EchoStream definitions: the mapping.
//!
//! | tones.cfg | EchoStream |
//! |---|---|
//! | `atone`, `btone` (Hz) | a `tones` entry: `tone_a_freq`, `tone_b_freq` |
//! | `longtone` (Hz) | a `long_tones` entry: `freq_hz` |
//! | `atonelength`, `btonelength`, `longtonelength` (s, minimums) | `tone_a_length_ms`, `tone_b_length_ms`, `length_ms` (minimums) |
//! | `tone_tolerance` (fraction) | `*_range_hz` = fraction × frequency, within 0.5 % to 10 % |
//! | `gaplength` (s) | `max_gap_ms` (two-tone only) |
//! | `ignore_after`, `record_delay`, `record_seconds` (s) | `ignore_after_ms`, `record_delay_ms`, `record_length_ms` |
//! | `description` (else the section name) | `tone_id`, made a valid label and unique ([`label`]) |
//! | e-mail, Pushbullet, Pushover, commands | listed with what to use instead ([`advice`]) |
//!
//! Both kinds of lengths are minimums: TwoToneDetect's own tone sets say
//! `atonelength = .6` for Quick Call II pages whose A tone lasts 1 s, and
//! EchoStream's `*_length_ms` are the least time a tone must be heard, so
//! seconds become milliseconds unchanged. An empty value takes EchoStream's
//! default: the field is left out where the schema has a default, and
//! where it has none (lengths, ranges) the value EchoStream recommends is
//! written: A 800 ms, B 2000 ms ([`TwoToneDef::quick_call`]), long tone
//! [`LONG_LENGTH_MS`], ±1 % ([`RECOMMENDED_RANGE_FRACTION`]).

use std::collections::HashSet;

use echostream_core::tone::{
    MAX_GAP_MS, MAX_LENGTH_MS, MAX_RANGE_FRACTION, MIN_LENGTH_MS, RECOMMENDED_RANGE_FRACTION,
    TRACK_MAX_HZ, TRACK_MIN_HZ, TwoToneDef,
};
use serde::Serialize;

use super::advice::{self, Unmapped};
use super::ini::{Entry, Section};
use super::label;
use super::{Fault, Origin, Problem};

/// A long tone's length when `longtonelength` is empty: what the shipped
/// configs' all-call uses.
pub const LONG_LENGTH_MS: u32 = 5_000;
/// The narrowest tolerance written, as a fraction of the tone: the tracker
/// measures a tone to 0.2 %, and an encoder may be 0.5 % off; a window
/// narrower than this misses good pages.
pub const RANGE_FLOOR_FRACTION: f64 = 0.005;
/// A `tone_tolerance` above this is not a fraction someone meant
/// (`2` for 2 %): refused.
pub const TOLERANCE_MAX: f64 = 0.5;

/// A `tones` entry, its fields in the order config.json writes them.
/// `None` fields are left out and take the schema's default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTwoTone {
    /// The label the events carry.
    pub tone_id: String,
    /// Tone A, Hz.
    pub tone_a_freq: f64,
    /// Tone B, Hz.
    pub tone_b_freq: f64,
    /// Least time A is heard, ms.
    pub tone_a_length_ms: u32,
    /// Least time B is heard, ms.
    pub tone_b_length_ms: u32,
    /// ± Hz around A.
    pub tone_a_range_hz: f64,
    /// ± Hz around B.
    pub tone_b_range_hz: f64,
    /// Audio recorded after the alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_length_ms: Option<u32>,
    /// Longest silence between A and B.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gap_ms: Option<u32>,
    /// Delay before the recording starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_delay_ms: Option<u32>,
    /// Duplicate suppression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_after_ms: Option<u32>,
    /// The channel listened to.
    pub channel: String,
}

/// A `long_tones` entry, its fields in the order config.json writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewLongTone {
    /// The label the events carry.
    pub tone_id: String,
    /// The tone, Hz.
    pub freq_hz: f64,
    /// ± Hz around it.
    pub range_hz: f64,
    /// Least time it is heard, ms.
    pub length_ms: u32,
    /// Audio recorded after the alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_length_ms: Option<u32>,
    /// Delay before the recording starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_delay_ms: Option<u32>,
    /// Duplicate suppression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_after_ms: Option<u32>,
    /// The channel listened to.
    pub channel: String,
}

/// What became of one tone set.
#[derive(Debug, Clone, PartialEq)]
pub struct SetReport {
    /// The section name.
    pub section: String,
    /// Its header's line.
    pub line: usize,
    /// Index into [`Conversion::tones`], when a two-tone page was made.
    pub two_tone: Option<usize>,
    /// Index into [`Conversion::long_tones`], when a long tone was made.
    pub long_tone: Option<usize>,
    /// Values changed on the way, and halves left out.
    pub notes: Vec<Note>,
    /// Keys that were empty (or absent, for lengths and tolerance) and took
    /// EchoStream's default.
    pub defaults: Vec<&'static str>,
    /// Keys with a value and no equivalent, in file order.
    pub unmapped: Vec<Unmapped>,
}

impl SetReport {
    /// Whether the set made no definition.
    pub fn skipped(&self) -> bool {
        self.two_tone.is_none() && self.long_tone.is_none()
    }
}

/// A value the import changed, or a part of a set it left out.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// The `tone_id` is not the description as written (characters a label
    /// cannot hold, too long, taken by an earlier set, or no description).
    ToneId {
        /// The description, or the section name it came from.
        original: String,
        /// The `tone_id` written.
        tone_id: String,
    },
    /// `tone_tolerance` was raised to [`RANGE_FLOOR_FRACTION`].
    ToleranceRaised {
        /// As written.
        fraction: f64,
    },
    /// `tone_tolerance` was lowered to EchoStream's widest,
    /// [`MAX_RANGE_FRACTION`].
    ToleranceLowered {
        /// As written.
        fraction: f64,
    },
    /// A length under EchoStream's shortest was raised to it.
    LengthRaised {
        /// The key.
        key: &'static str,
        /// As written, ms.
        from_ms: u64,
    },
    /// A length over EchoStream's longest was lowered to it.
    LengthLowered {
        /// The key.
        key: &'static str,
        /// As written, ms.
        from_ms: u64,
    },
    /// `gaplength` over EchoStream's longest gap was lowered to it.
    GapLowered {
        /// As written, ms.
        from_ms: u64,
    },
    /// `gaplength` on a set without a two-tone page: long tones have no gap.
    GapUnused,
    /// One tone of a pair without the other: no two-tone page made.
    HalfPair {
        /// The key with a value.
        has: &'static str,
        /// The empty or absent one.
        lacks: &'static str,
    },
}

/// The definitions made from a whole file, and what became of each set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversion {
    /// One report per section, in file order.
    pub sets: Vec<SetReport>,
    /// The two-tone pages, in file order.
    pub tones: Vec<NewTwoTone>,
    /// The long tones, in file order.
    pub long_tones: Vec<NewLongTone>,
}

/// Converts the sections read from a tones.cfg. `taken` holds the tone_ids
/// already in the config with where they are (`tones[0]`).
///
/// # Errors
///
/// Every malformed value, and every tone_id that is already taken.
pub(super) fn convert(
    sections: &[Section],
    channel: &str,
    taken: &[(String, String)],
) -> Result<Conversion, Vec<Problem>> {
    let mut converter = Converter {
        channel,
        taken,
        used: HashSet::new(),
        conversion: Conversion::default(),
        problems: Vec::new(),
    };
    for section in sections {
        converter.section(section);
    }
    if converter.problems.is_empty() {
        Ok(converter.conversion)
    } else {
        Err(converter.problems)
    }
}

/// A set's values as EchoStream takes them.
struct Values {
    a_hz: Option<f64>,
    b_hz: Option<f64>,
    long_hz: Option<f64>,
    a_length_ms: u32,
    b_length_ms: u32,
    long_length_ms: u32,
    /// The tolerance as a fraction, within the floor and EchoStream's most.
    range_fraction: f64,
    max_gap_ms: Option<u32>,
    ignore_after_ms: Option<u32>,
    record_delay_ms: Option<u32>,
    record_length_ms: Option<u32>,
}

/// The file's conversion so far.
struct Converter<'a> {
    channel: &'a str,
    taken: &'a [(String, String)],
    /// The tone_ids given to earlier sets.
    used: HashSet<String>,
    conversion: Conversion,
    problems: Vec<Problem>,
}

impl Converter<'_> {
    /// Converts one tone set.
    fn section(&mut self, section: &Section) {
        let mut set = SetReport {
            section: section.name.clone(),
            line: section.line,
            two_tone: None,
            long_tone: None,
            notes: Vec::new(),
            defaults: Vec::new(),
            unmapped: advice::unmapped(section),
        };
        let values = Read {
            section,
            problems: &mut self.problems,
            set: &mut set,
        }
        .values();
        if let Some(values) = values {
            self.add_definitions(&mut set, &values, section);
        }
        self.conversion.sets.push(set);
    }

    fn add_definitions(&mut self, set: &mut SetReport, values: &Values, section: &Section) {
        let (original, base) = label::base_label(section);
        let pair = match (values.a_hz, values.b_hz) {
            (Some(a), Some(b)) => Some((a, b)),
            (Some(_), None) => {
                set.notes.push(Note::HalfPair {
                    has: "atone",
                    lacks: "btone",
                });
                None
            }
            (None, Some(_)) => {
                set.notes.push(Note::HalfPair {
                    has: "btone",
                    lacks: "atone",
                });
                None
            }
            (None, None) => None,
        };
        if let Some((a_hz, b_hz)) = pair
            && let Some(tone_id) = self.claim(set, section, &original, &base, base.clone())
        {
            set.two_tone = Some(self.conversion.tones.len());
            self.conversion.tones.push(NewTwoTone {
                tone_id,
                tone_a_freq: a_hz,
                tone_b_freq: b_hz,
                tone_a_length_ms: values.a_length_ms,
                tone_b_length_ms: values.b_length_ms,
                tone_a_range_hz: range_hz(a_hz, values.range_fraction),
                tone_b_range_hz: range_hz(b_hz, values.range_fraction),
                record_length_ms: values.record_length_ms,
                max_gap_ms: values.max_gap_ms,
                record_delay_ms: values.record_delay_ms,
                ignore_after_ms: values.ignore_after_ms,
                channel: self.channel.to_owned(),
            });
        }
        if let Some(hz) = values.long_hz {
            if pair.is_none() && values.max_gap_ms.is_some() {
                set.notes.push(Note::GapUnused);
            }
            let wanted = if pair.is_some() {
                label::with_suffix(&base, label::LONG_SUFFIX)
            } else {
                base.clone()
            };
            if let Some(tone_id) = self.claim(set, section, &original, &base, wanted) {
                set.long_tone = Some(self.conversion.long_tones.len());
                self.conversion.long_tones.push(NewLongTone {
                    tone_id,
                    freq_hz: hz,
                    range_hz: range_hz(hz, values.range_fraction),
                    length_ms: values.long_length_ms,
                    record_length_ms: values.record_length_ms,
                    record_delay_ms: values.record_delay_ms,
                    ignore_after_ms: values.ignore_after_ms,
                    channel: self.channel.to_owned(),
                });
            }
        }
        // Only the defaults of what was made: a two-tone set's empty
        // `longtonelength` is nothing to report.
        let made = (set.two_tone.is_some(), set.long_tone.is_some());
        set.defaults.retain(|key| match *key {
            "atonelength" | "btonelength" => made.0,
            "longtonelength" => made.1,
            _ => made.0 || made.1,
        });
    }

    /// The tone_id for `wanted` (made from the set's `original` name, as
    /// the label `base`), unique among the imported ones; `None`, reported,
    /// when the config already has it.
    fn claim(
        &mut self,
        set: &mut SetReport,
        section: &Section,
        original: &str,
        base: &str,
        wanted: String,
    ) -> Option<String> {
        let tone_id = label::unique(&wanted, &mut self.used);
        // A long tone's suffix is the rule, not news; a changed name is.
        if tone_id != wanted || base != original {
            set.notes.push(Note::ToneId {
                original: original.to_owned(),
                tone_id: tone_id.clone(),
            });
        }
        if let Some((_, path)) = self.taken.iter().find(|(id, _)| *id == tone_id) {
            let line = section
                .entry("description")
                .map_or(section.line, |e| e.line);
            self.problems.push(Problem {
                origin: Origin::Tones,
                line: Some(line),
                section: Some(section.name.clone()),
                key: Some("description".to_owned()),
                fault: Fault::ToneIdTaken {
                    tone_id,
                    path: path.clone(),
                },
            });
            return None;
        }
        Some(tone_id)
    }
}

/// Reads one section's values, reporting each malformed one.
struct Read<'a> {
    section: &'a Section,
    problems: &'a mut Vec<Problem>,
    set: &'a mut SetReport,
}

impl Read<'_> {
    /// Every value of the set, or `None` when one is malformed (each
    /// reported).
    fn values(&mut self) -> Option<Values> {
        let before = self.problems.len();
        let a_hz = self.frequency("atone");
        let b_hz = self.frequency("btone");
        let long_hz = self.frequency("longtone");
        // EchoStream's recommended minimums; they do not depend on the tones.
        let quick_call = TwoToneDef::quick_call(1_000.0, 2_000.0);
        let a_length_ms = self.length("atonelength", quick_call.a_length_ms);
        let b_length_ms = self.length("btonelength", quick_call.b_length_ms);
        let long_length_ms = self.length("longtonelength", LONG_LENGTH_MS);
        let range_fraction = self.tolerance();
        let max_gap_ms = self.seconds("gaplength").map(|ms| {
            if ms > u64::from(MAX_GAP_MS) {
                self.set.notes.push(Note::GapLowered { from_ms: ms });
            }
            ms.min(u64::from(MAX_GAP_MS)) as u32
        });
        let ignore_after_ms = self.seconds_u32("ignore_after");
        let record_delay_ms = self.seconds_u32("record_delay");
        let record_length_ms = self.seconds_u32("record_seconds");
        if self.problems.len() > before {
            return None;
        }
        Some(Values {
            a_hz,
            b_hz,
            long_hz,
            a_length_ms,
            b_length_ms,
            long_length_ms,
            range_fraction,
            max_gap_ms,
            ignore_after_ms,
            record_delay_ms,
            record_length_ms,
        })
    }

    fn problem(&mut self, entry: &Entry, fault: Fault) {
        self.problems.push(Problem {
            origin: Origin::Tones,
            line: Some(entry.line),
            section: Some(self.section.name.clone()),
            key: Some(entry.key.clone()),
            fault,
        });
    }

    /// The key's number; `None` when absent, empty or malformed (reported).
    fn number(&mut self, key: &'static str) -> Option<f64> {
        let entry = self.section.entry(key)?;
        if entry.value.is_empty() {
            return None;
        }
        if let Some((_, next)) = entry.value.split_once('\n') {
            self.problem(
                entry,
                Fault::Continued {
                    next: next.lines().next().unwrap_or_default().to_owned(),
                },
            );
            return None;
        }
        match entry.value.parse::<f64>() {
            Ok(value) if value.is_finite() => Some(value),
            Ok(_) => {
                self.problem(
                    entry,
                    Fault::NotFinite {
                        value: entry.value.clone(),
                    },
                );
                None
            }
            Err(_) => {
                self.problem(
                    entry,
                    Fault::NotANumber {
                        value: entry.value.clone(),
                    },
                );
                None
            }
        }
    }

    fn entry(&self, key: &str) -> &Entry {
        self.section
            .entry(key)
            .expect("only called for a key `number` found")
    }

    fn frequency(&mut self, key: &'static str) -> Option<f64> {
        let hz = self.number(key)?;
        if !(f64::from(TRACK_MIN_HZ)..=f64::from(TRACK_MAX_HZ)).contains(&hz) {
            let entry = self.entry(key).clone();
            self.problem(&entry, Fault::OutOfBand { hz });
            return None;
        }
        Some(hz)
    }

    /// Seconds as whole ms, `None` when absent or empty; negative values
    /// are reported.
    fn seconds(&mut self, key: &'static str) -> Option<u64> {
        let seconds = self.number(key)?;
        if seconds < 0.0 {
            let entry = self.entry(key).clone();
            self.problem(&entry, Fault::Negative { value: seconds });
            return None;
        }
        // Finite and at least 0: the cast saturates at u64::MAX, which
        // every caller treats as too long.
        Some((seconds * 1_000.0).round() as u64)
    }

    /// Seconds that must fit a u32 of ms (49 days).
    fn seconds_u32(&mut self, key: &'static str) -> Option<u32> {
        let ms = self.seconds(key)?;
        match u32::try_from(ms) {
            Ok(ms) => Some(ms),
            Err(_) => {
                let entry = self.entry(key).clone();
                self.problem(
                    &entry,
                    Fault::TooLong {
                        seconds: ms as f64 / 1_000.0,
                    },
                );
                None
            }
        }
    }

    /// A tone length within EchoStream's bounds; `default_ms` when empty.
    fn length(&mut self, key: &'static str, default_ms: u32) -> u32 {
        let Some(ms) = self.seconds(key) else {
            if self.section.entry(key).is_none_or(|e| e.value.is_empty()) {
                self.set.defaults.push(key);
            }
            return default_ms;
        };
        if ms < u64::from(MIN_LENGTH_MS) {
            self.set.notes.push(Note::LengthRaised { key, from_ms: ms });
        } else if ms > u64::from(MAX_LENGTH_MS) {
            self.set
                .notes
                .push(Note::LengthLowered { key, from_ms: ms });
        }
        ms.clamp(u64::from(MIN_LENGTH_MS), u64::from(MAX_LENGTH_MS)) as u32
    }

    /// `tone_tolerance` as a fraction within [`RANGE_FLOOR_FRACTION`] and
    /// [`MAX_RANGE_FRACTION`]; EchoStream's recommended 1 % when empty.
    fn tolerance(&mut self) -> f64 {
        let key = "tone_tolerance";
        let Some(fraction) = self.number(key) else {
            if self.section.entry(key).is_none_or(|e| e.value.is_empty()) {
                self.set.defaults.push(key);
            }
            return f64::from(RECOMMENDED_RANGE_FRACTION);
        };
        let entry = self.entry(key).clone();
        if fraction < 0.0 {
            self.problem(&entry, Fault::Negative { value: fraction });
        } else if fraction > TOLERANCE_MAX {
            self.problem(&entry, Fault::ToleranceTooWide { value: fraction });
        } else if fraction < RANGE_FLOOR_FRACTION {
            self.set.notes.push(Note::ToleranceRaised { fraction });
            return RANGE_FLOOR_FRACTION;
        } else if fraction > f64::from(MAX_RANGE_FRACTION) {
            self.set.notes.push(Note::ToleranceLowered { fraction });
            return f64::from(MAX_RANGE_FRACTION);
        } else {
            return fraction;
        }
        f64::from(RECOMMENDED_RANGE_FRACTION)
    }
}

/// ± Hz for a tone: the fraction of it, to 0.1 Hz, never above what the
/// core accepts (it compares in f32: [`MAX_RANGE_FRACTION`] × the tone).
pub fn range_hz(hz: f64, fraction: f64) -> f64 {
    let limit = hz as f32 * MAX_RANGE_FRACTION;
    let mut most = (f64::from(limit) * 10.0).floor() / 10.0;
    if most as f32 > limit {
        most -= 0.1;
    }
    ((hz * fraction * 10.0).round() / 10.0).clamp(0.1, most)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_tones::ini;

    fn convert_text(text: &str) -> Result<Conversion, Vec<Problem>> {
        let doc = ini::parse(text);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        convert(&doc.sections, "pages", &[])
    }

    fn faults(text: &str) -> Vec<(String, String, String)> {
        convert_text(text)
            .expect_err("malformed")
            .into_iter()
            .map(|p| (p.section.unwrap(), p.key.unwrap(), p.fault.to_string()))
            .collect()
    }

    #[test]
    fn a_pair_becomes_a_two_tone_page_with_seconds_as_minimum_ms() {
        let c = convert_text(
            "[Maple Grove Fire]\ndescription = Maple Grove Fire\natone = 569.1\nbtone = 1217.8\n\
             atonelength = .6\nbtonelength = 0.8\ntone_tolerance = 0.02\ngaplength = 0.3\n\
             ignore_after = 45\nrecord_delay = 1.5\nrecord_seconds = 40\n",
        )
        .unwrap();
        assert_eq!(
            c.tones,
            [NewTwoTone {
                tone_id: "Maple Grove Fire".into(),
                tone_a_freq: 569.1,
                tone_b_freq: 1217.8,
                tone_a_length_ms: 600,
                tone_b_length_ms: 800,
                tone_a_range_hz: 11.4,
                tone_b_range_hz: 24.4,
                record_length_ms: Some(40_000),
                max_gap_ms: Some(300),
                record_delay_ms: Some(1_500),
                ignore_after_ms: Some(45_000),
                channel: "pages".into(),
            }]
        );
        assert!(c.long_tones.is_empty());
        assert_eq!(c.sets[0].two_tone, Some(0));
        assert!(c.sets[0].notes.is_empty(), "{:?}", c.sets[0].notes);
        assert!(c.sets[0].defaults.is_empty());
    }

    #[test]
    fn empty_values_take_echostream_defaults() {
        let c = convert_text(
            "[Cedar Hollow]\natone = 600.9\nbtone = 1285.8\natonelength =\nbtonelength =\n\
             tone_tolerance =\ngaplength =\nignore_after =\nrecord_delay =\nrecord_seconds =\n",
        )
        .unwrap();
        let t = &c.tones[0];
        assert_eq!((t.tone_a_length_ms, t.tone_b_length_ms), (800, 2_000));
        assert_eq!((t.tone_a_range_hz, t.tone_b_range_hz), (6.0, 12.9));
        assert_eq!(
            (
                t.record_length_ms,
                t.max_gap_ms,
                t.record_delay_ms,
                t.ignore_after_ms
            ),
            (None, None, None, None)
        );
        assert_eq!(
            c.sets[0].defaults,
            ["atonelength", "btonelength", "tone_tolerance"]
        );
        let json = serde_json::to_string(t).unwrap();
        assert!(!json.contains("max_gap_ms"), "{json}");
    }

    #[test]
    fn a_long_tone_only_set_becomes_a_long_tone() {
        let c = convert_text(
            "[County All Call]\nlongtone = 1598\nlongtonelength = 8\ntone_tolerance = 0.015\n\
             gaplength = 1\n",
        )
        .unwrap();
        assert!(c.tones.is_empty());
        assert_eq!(
            c.long_tones,
            [NewLongTone {
                tone_id: "County All Call".into(),
                freq_hz: 1598.0,
                range_hz: 24.0,
                length_ms: 8_000,
                record_length_ms: None,
                record_delay_ms: None,
                ignore_after_ms: None,
                channel: "pages".into(),
            }]
        );
        assert_eq!(c.sets[0].notes, [Note::GapUnused]);
    }

    #[test]
    fn a_set_with_both_makes_two_definitions_with_derived_names() {
        let c = convert_text(
            "[Ridgeview]\ndescription = Ridgeview EMS\natone = 457.9\nbtone = 1034.7\n\
             longtone = 1153.4\n",
        )
        .unwrap();
        assert_eq!(c.tones[0].tone_id, "Ridgeview EMS");
        assert_eq!(c.long_tones[0].tone_id, "Ridgeview EMS long");
        assert_eq!(c.long_tones[0].length_ms, LONG_LENGTH_MS);
        assert_eq!(
            (c.sets[0].two_tone, c.sets[0].long_tone),
            (Some(0), Some(0))
        );
    }

    #[test]
    fn sets_without_usable_tones_are_skipped_not_fatal() {
        let c = convert_text(
            "[Spare]\natone =\nbtone =\nmp3_emails = a@example.org\n[Half]\natone = 349\n\
             [Good]\natone = 349\nbtone = 707.3\n",
        )
        .unwrap();
        assert!(c.sets[0].skipped() && c.sets[1].skipped() && !c.sets[2].skipped());
        assert_eq!(
            c.sets[1].notes,
            [Note::HalfPair {
                has: "atone",
                lacks: "btone"
            }]
        );
        assert_eq!(c.tones.len(), 1);
    }

    #[test]
    fn every_malformed_value_is_named_with_its_section_and_key() {
        let found = faults(
            "[Station 9]\natone = 35O.5\nbtone = 707.3\natonelength = -1\n\
             [Station 10]\natone = 349\nbtone = 9000\ntone_tolerance = 2\nrecord_seconds = nan\n\
             [Station 11]\nlongtone = 1000\ntone_tolerance = -0.01\nrecord_delay = 1e12\n",
        );
        let keys: Vec<(&str, &str)> = found
            .iter()
            .map(|(s, k, _)| (s.as_str(), k.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("Station 9", "atone"),
                ("Station 9", "atonelength"),
                ("Station 10", "btone"),
                ("Station 10", "tone_tolerance"),
                ("Station 10", "record_seconds"),
                ("Station 11", "tone_tolerance"),
                ("Station 11", "record_delay"),
            ]
        );
        assert!(found[0].2.contains("`35O.5` is not a number"), "{found:?}");
        assert!(found[2].2.contains("281.25"), "{found:?}");
        assert!(found[3].2.contains("0.02 = 2 %"), "{found:?}");
    }

    #[test]
    fn an_indented_key_continues_the_value_above_and_is_named() {
        let found = faults("[A]\natone = 349\n  btone = 707.3\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0.as_str(), found[0].1.as_str()), ("A", "atone"));
        assert!(found[0].2.contains("`btone = 707.3`"), "{found:?}");
    }

    #[test]
    fn tolerance_outside_what_echostream_takes_is_moved_into_it() {
        let c = convert_text(
            "[Narrow]\natone = 1000\nbtone = 2000\ntone_tolerance = 0\n\
             [Wide]\natone = 853.2\nbtone = 1500\ntone_tolerance = 0.3\n",
        )
        .unwrap();
        assert_eq!(
            (c.tones[0].tone_a_range_hz, c.tones[0].tone_b_range_hz),
            (5.0, 10.0)
        );
        assert_eq!(c.sets[0].notes, [Note::ToleranceRaised { fraction: 0.0 }]);
        assert_eq!(
            (c.tones[1].tone_a_range_hz, c.tones[1].tone_b_range_hz),
            (85.3, 150.0)
        );
        assert_eq!(c.sets[1].notes, [Note::ToleranceLowered { fraction: 0.3 }]);
    }

    #[test]
    fn the_widest_range_always_passes_the_cores_f32_check() {
        let mut hz = f64::from(TRACK_MIN_HZ);
        while hz <= f64::from(TRACK_MAX_HZ) {
            let range = range_hz(hz, 1.0);
            assert!(
                range as f32 <= hz as f32 * MAX_RANGE_FRACTION && range > 0.0,
                "{hz} Hz: ±{range}"
            );
            hz += 0.7;
        }
    }

    #[test]
    fn lengths_and_gaps_outside_echostreams_bounds_are_moved_into_them() {
        let c = convert_text(
            "[A]\natone = 349\nbtone = 707.3\natonelength = 0.05\nbtonelength = 75\ngaplength = 9\n",
        )
        .unwrap();
        let t = &c.tones[0];
        assert_eq!(
            (t.tone_a_length_ms, t.tone_b_length_ms, t.max_gap_ms),
            (MIN_LENGTH_MS, MAX_LENGTH_MS, Some(MAX_GAP_MS))
        );
        assert_eq!(
            c.sets[0].notes,
            [
                Note::LengthRaised {
                    key: "atonelength",
                    from_ms: 50
                },
                Note::LengthLowered {
                    key: "btonelength",
                    from_ms: 75_000
                },
                Note::GapLowered { from_ms: 9_000 },
            ]
        );
    }

    #[test]
    fn tone_ids_are_unique_and_fall_back_to_the_section_name() {
        let c = convert_text(
            "[Station 4]\ndescription = Engine 4\natone = 349\nbtone = 707.3\n\
             [Station 4 B]\ndescription = Engine 4\natone = 389\nbtone = 832.5\n\
             [Tanker 2]\ndescription =\natone = 457.9\nbtone = 1034.7\n\
             [Weird]\ndescription = ☎☎\natone = 600.9\nbtone = 1285.8\n",
        )
        .unwrap();
        let ids: Vec<&str> = c.tones.iter().map(|t| t.tone_id.as_str()).collect();
        assert_eq!(ids, ["Engine 4", "Engine 4 2", "Tanker 2", "Weird"]);
        assert_eq!(
            c.sets[1].notes,
            [Note::ToneId {
                original: "Engine 4".into(),
                tone_id: "Engine 4 2".into()
            }]
        );
        assert!(c.sets[2].notes.is_empty(), "the section name is the name");
    }

    #[test]
    fn a_tone_id_already_in_the_config_is_refused_by_name() {
        let doc = ini::parse("[S1]\ndescription = Station 1\natone = 349\nbtone = 707.3\n");
        let taken = [("Station 1".to_owned(), "tones[0]".to_owned())];
        let problems = convert(&doc.sections, "pages", &taken).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key.as_deref(), Some("description"));
        assert!(
            problems[0].fault.to_string().contains("`Station 1`")
                && problems[0].fault.to_string().contains("tones[0]"),
            "{}",
            problems[0].fault
        );
    }
}
