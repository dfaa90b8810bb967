//! `echostream import-tones`: TwoToneDetect's `tones.cfg` as EchoStream
//! tone definitions.
//!
//! A department moving from TwoToneDetect brings its tone sets along
//! instead of retyping them. The work is split by layer:
//!
//! - [`ini`] reads the file's INI dialect;
//! - [`convert`] maps each set to definitions (the mapping table is there),
//!   [`label`] makes its tone_id, [`advice`] lists the settings no
//!   definition holds with what to use instead;
//! - [`splice`] adds them to a config file's text, keeping the rest of it;
//! - [`check`] runs the config loader on the result, so what is printed or
//!   written passes `check-config`, and names the tone set behind any
//!   problem;
//! - [`report`] says what became of each set, and the advice;
//! - [`replace`] writes a config file atomically.
//!
//! Everything but [`replace`] is text in, text out.

pub mod advice;
pub mod convert;
pub mod ini;
pub mod label;
pub mod replace;
pub mod report;
pub mod splice;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

pub use convert::{Conversion, NewLongTone, NewTwoTone, SetReport};
pub use splice::SpliceError;

use crate::config::{self, Severity};

/// The largest tones.cfg read: hundreds of times a large department's.
pub const MAX_FILE_LEN: u64 = 1 << 20;

/// Which file a [`Problem`] is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The tones.cfg.
    Tones,
    /// The config file imported into (or, without one, the `--channel`).
    Config,
}

/// One thing that stops the import, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file it is in.
    pub origin: Origin,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The tone set, when it concerns one.
    pub section: Option<String>,
    /// The tones.cfg key (or, in the config, the field path).
    pub key: Option<String>,
    /// What is wrong.
    pub fault: Fault,
}

impl fmt::Display for Problem {
    /// `[Station 9] atone: `35O.5` is not a number`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(section) = &self.section {
            write!(f, "[{section}] ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.fault)
    }
}

/// What is wrong with a value, a line or the result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    /// A line the INI reader cannot read.
    #[error(transparent)]
    Ini(#[from] ini::IniError),
    /// Not a number at all.
    #[error("`{value}` is not a number")]
    NotANumber {
        /// As written.
        value: String,
    },
    /// A number whose value an indented line continues.
    #[error(
        "the indented line `{next}` below continues this value (as in any INI file); \
         unindent it"
    )]
    Continued {
        /// The first continuation line.
        next: String,
    },
    /// `inf`, `nan`.
    #[error("`{value}` is not a finite number")]
    NotFinite {
        /// As written.
        value: String,
    },
    /// A length, delay or tolerance below 0.
    #[error("{value} is negative")]
    Negative {
        /// As written.
        value: f64,
    },
    /// A frequency EchoStream's detectors do not hear.
    #[error(
        "{hz} Hz is outside {}-{} Hz, the band EchoStream's tone detectors listen to",
        echostream_core::tone::TRACK_MIN_HZ,
        echostream_core::tone::TRACK_MAX_HZ
    )]
    OutOfBand {
        /// As written.
        hz: f64,
    },
    /// A `tone_tolerance` that cannot be a fraction.
    #[error(
        "{value} is more than {max}: tone_tolerance is a fraction of the frequency (0.02 = 2 %)",
        max = convert::TOLERANCE_MAX
    )]
    ToleranceTooWide {
        /// As written.
        value: f64,
    },
    /// A time that does not fit EchoStream's milliseconds.
    #[error("{seconds} s is more than EchoStream can count (49 days)")]
    TooLong {
        /// As written.
        seconds: f64,
    },
    /// The tone_id a set would get is already in the config.
    #[error(
        "tone_id `{tone_id}` is taken: {path} in the config has it; rename this set's \
         description or that definition"
    )]
    ToneIdTaken {
        /// The tone_id.
        tone_id: String,
        /// Where it is, e.g. `tones[0]`.
        path: String,
    },
    /// The file has no tone set with usable tones.
    #[error("no tone set has usable tones (atone and btone, or longtone); nothing to import")]
    NothingToImport,
    /// The definitions could not be added to the config's text.
    #[error(transparent)]
    Splice(#[from] SpliceError),
    /// The config loader's finding on the result.
    #[error("{0}")]
    Check(String),
}

/// What an existing config already has that the import must respect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    /// Its channels' ids.
    pub channel_ids: Vec<String>,
    /// Every definition's tone_id with its path (`long_tones[2]`).
    pub tone_ids: Vec<(String, String)>,
    /// Entries in its `tones` array.
    pub tones_len: usize,
    /// Entries in its `long_tones` array.
    pub long_tones_len: usize,
}

impl Existing {
    /// Reads what it can from a config's text; a text that is not JSON
    /// gives an empty one (the loader reports it when the result is
    /// checked).
    pub fn read(text: &str) -> Existing {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return Existing::default();
        };
        let list = |key: &str| value[key].as_array().cloned().unwrap_or_default();
        let ids = |key: &str, field: &str| -> Vec<(String, String)> {
            list(key)
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((v[field].as_str()?.to_owned(), format!("{key}[{i}]"))))
                .collect()
        };
        Existing {
            channel_ids: ids("channels", "id")
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
            tone_ids: ["tones", "long_tones", "hi_low", "pulsed"]
                .into_iter()
                .flat_map(|key| ids(key, "tone_id"))
                .collect(),
            tones_len: list("tones").len(),
            long_tones_len: list("long_tones").len(),
        }
    }
}

/// Reads a tones.cfg's text and converts every set.
///
/// # Errors
///
/// Every unreadable line and malformed value, each with its section and
/// key; [`Fault::NothingToImport`] when no set has usable tones.
pub fn convert(text: &str, channel: &str, existing: &Existing) -> Result<Conversion, Vec<Problem>> {
    let doc = ini::parse(text);
    let mut problems: Vec<Problem> = doc
        .errors
        .into_iter()
        .map(|error| Problem {
            origin: Origin::Tones,
            line: Some(error.line()),
            section: error.section().map(str::to_owned),
            key: None,
            fault: error.into(),
        })
        .collect();
    match convert::convert(&doc.sections, channel, &existing.tone_ids) {
        Ok(conversion) if problems.is_empty() => {
            if conversion.tones.is_empty() && conversion.long_tones.is_empty() {
                problems.push(Problem {
                    origin: Origin::Tones,
                    line: None,
                    section: None,
                    key: None,
                    fault: Fault::NothingToImport,
                });
                return Err(problems);
            }
            Ok(conversion)
        }
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            problems.sort_by_key(|p| p.line);
            Err(problems)
        }
    }
}

/// The definitions as a JSON object with `tones` and `long_tones` arrays
/// (an empty one left out), ready to paste into a config.
pub fn definitions_json(conversion: &Conversion) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        tones: &'a [NewTwoTone],
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        long_tones: &'a [NewLongTone],
    }
    serde_json::to_string_pretty(&Out {
        tones: &conversion.tones,
        long_tones: &conversion.long_tones,
    })
    .expect("plain structs of strings and numbers serialize")
}

/// `config_text` with the conversion's definitions appended.
///
/// # Errors
///
/// When the text is not a JSON object or its `tones` / `long_tones` is
/// not a list.
pub fn merge(config_text: &str, conversion: &Conversion) -> Result<String, SpliceError> {
    fn pretty<T: Serialize>(definition: &T) -> String {
        serde_json::to_string_pretty(definition).expect("definitions serialize")
    }
    let tones: Vec<String> = conversion.tones.iter().map(pretty).collect();
    let long: Vec<String> = conversion.long_tones.iter().map(pretty).collect();
    splice::splice(config_text, &tones, &long)
}

/// A config holding only `channel`, for checking definitions that are
/// printed rather than written into a config.
pub fn scratch_config(channel: &str) -> String {
    let channel = serde_json::to_string(channel).expect("a string serializes");
    format!(
        "{{\n  \"node_id\": \"import-check\",\n  \"relay\": \"embedded\",\n  \"channels\": [\n    \
         {{ \"id\": {channel}, \"input_device\": \"null\", \"cor\": \"always\" }}\n  ]\n}}\n"
    )
}

/// What the config loader says about a merged config.
#[derive(Debug, Default)]
pub struct Checked {
    /// Every error: the import stops.
    pub errors: Vec<Problem>,
    /// Warnings about the imported definitions (others were there before).
    pub warnings: Vec<Problem>,
}

/// Runs the loader (what `check-config` runs) on `merged`, the config
/// `existing` was read from with `conversion` appended, and says each
/// finding about an imported definition in tones.cfg terms: its set and
/// key. `scratch` says the config is [`scratch_config`]'s, whose only
/// problem can be the channel id.
pub fn check(merged: &str, existing: &Existing, conversion: &Conversion, scratch: bool) -> Checked {
    let report = config::check(merged);
    let mut checked = Checked::default();
    for problem in report.problems {
        let located = locate(&problem, existing, conversion, scratch);
        let imported = located.origin == Origin::Tones;
        match problem.severity {
            Severity::Error => checked.errors.push(located),
            Severity::Warning if imported => checked.warnings.push(located),
            Severity::Warning => {}
        }
    }
    if checked.errors.is_empty() {
        let config = report.config.expect("a config without errors is returned");
        assert_eq!(
            (config.tones.len(), config.long_tones.len()),
            (
                existing.tones_len + conversion.tones.len(),
                existing.long_tones_len + conversion.long_tones.len()
            ),
            "the merged config holds the old and the new definitions"
        );
    }
    checked
}

/// The set and key behind a loader finding at `tones[7].tone_a_freq`.
fn locate(
    problem: &config::Problem,
    existing: &Existing,
    conversion: &Conversion,
    scratch: bool,
) -> Problem {
    let in_config = |key: String| Problem {
        origin: Origin::Config,
        line: None,
        section: None,
        key: (!key.is_empty()).then_some(key),
        fault: Fault::Check(problem.message.clone()),
    };
    if scratch && problem.path.starts_with("channels[0].id") {
        return in_config("--channel".to_owned());
    }
    let imported = [
        ("tones[", existing.tones_len, true),
        ("long_tones[", existing.long_tones_len, false),
    ]
    .into_iter()
    .find_map(|(prefix, before, two_tone)| {
        let rest = problem.path.strip_prefix(prefix)?;
        let close = rest.find(']')?;
        let index = rest[..close].parse::<usize>().ok()?.checked_sub(before)?;
        let field = rest[close + 1..].strip_prefix('.').unwrap_or("");
        let set = conversion.sets.iter().find(|s| {
            if two_tone {
                s.two_tone == Some(index)
            } else {
                s.long_tone == Some(index)
            }
        })?;
        Some((set, field))
    });
    let Some((set, field)) = imported else {
        return in_config(problem.path.clone());
    };
    Problem {
        origin: Origin::Tones,
        line: Some(set.line),
        section: Some(set.section.clone()),
        key: Some(tones_key(field).to_owned()),
        fault: Fault::Check(problem.message.clone()),
    }
}

/// The tones.cfg key a definition field came from (`tone_a_freq` →
/// `atone`); the field itself when none did.
fn tones_key(field: &str) -> &str {
    match field {
        "" => "set",
        "tone_id" => "description",
        "tone_a_freq" => "atone",
        "tone_b_freq" => "btone",
        "freq_hz" => "longtone",
        "tone_a_length_ms" => "atonelength",
        "tone_b_length_ms" => "btonelength",
        "length_ms" => "longtonelength",
        "tone_a_range_hz" | "tone_b_range_hz" | "range_hz" => "tone_tolerance",
        "max_gap_ms" => "gaplength",
        "ignore_after_ms" => "ignore_after",
        "record_delay_ms" => "record_delay",
        "record_length_ms" => "record_seconds",
        "channel" => "--channel",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETS: &str = "[North]\ndescription = North Station\natone = 349\nbtone = 707.3\n\
                        [All]\nlongtone = 1598\nlongtonelength = 8\n";

    #[test]
    fn printed_definitions_pass_the_loader_on_a_scratch_config() {
        let conversion = convert(SETS, "pages", &Existing::default()).unwrap();
        let scratch = scratch_config("pages");
        let existing = Existing::read(&scratch);
        let merged = merge(&scratch, &conversion).unwrap();
        let checked = check(&merged, &existing, &conversion, true);
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        let json: Value = serde_json::from_str(&definitions_json(&conversion)).unwrap();
        assert_eq!(json["tones"][0]["tone_id"], "North Station");
        assert_eq!(json["long_tones"][0]["length_ms"], 8000);
    }

    #[test]
    fn loader_findings_are_named_by_set_and_key() {
        // 300 and 302 Hz: in the band, but too close for the tracker to
        // hear two tones; only the loader knows that.
        let text = "[Close]\natone = 300\nbtone = 302\n";
        let conversion = convert(text, "bad channel", &Existing::default()).unwrap();
        let scratch = scratch_config("bad channel");
        let existing = Existing::read(&scratch);
        let merged = merge(&scratch, &conversion).unwrap();
        let checked = check(&merged, &existing, &conversion, true);
        let said: Vec<String> = checked.errors.iter().map(ToString::to_string).collect();
        assert!(
            said.iter().any(|s| s.starts_with("--channel: ")),
            "{said:#?}"
        );
        assert!(
            said.iter()
                .any(|s| s.starts_with("[Close] atone: ") && s.contains("too close")),
            "{said:#?}"
        );
    }

    #[test]
    fn existing_ids_counts_and_channels_are_read() {
        let existing = Existing::read(
            r#"{"channels": [{"id": "a"}, {"id": "b"}], "tones": [{"tone_id": "T"}],
                "long_tones": [{"tone_id": "L"}, {}], "hi_low": [{"tone_id": "H"}],
                "pulsed": [{"tone_id": "P"}]}"#,
        );
        assert_eq!(existing.channel_ids, ["a", "b"]);
        assert_eq!(
            existing.tone_ids,
            [
                ("T".to_owned(), "tones[0]".to_owned()),
                ("L".to_owned(), "long_tones[0]".to_owned()),
                ("H".to_owned(), "hi_low[0]".to_owned()),
                ("P".to_owned(), "pulsed[0]".to_owned()),
            ]
        );
        assert_eq!((existing.tones_len, existing.long_tones_len), (1, 2));
    }

    #[test]
    fn a_file_without_usable_sets_is_refused() {
        let problems = convert("[Spare]\natone =\n", "pages", &Existing::default()).unwrap_err();
        assert_eq!(problems[0].fault, Fault::NothingToImport);
    }

    #[test]
    fn unreadable_lines_and_bad_values_are_all_reported_in_line_order() {
        let problems = convert(
            "[A]\natone = x\nbtone = 707.3\nnonsense\n[B]\nlongtone = -4\n",
            "pages",
            &Existing::default(),
        )
        .unwrap_err();
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(2), Some(4), Some(6)], "{problems:?}");
    }
}
