//! From the config file's tone definitions to the core detector's
//! [`Definitions`]: what one channel listens for, with the names its
//! events carry.
//!
//! The config is checked by the same code that builds the detector, so a
//! config that passes `check-config` never fails when the node starts:
//! [`check`] runs during validation and reports the core's refusals with
//! the field path they came from.

use echostream_core::tone::dtmf::DtmfConfig;
use echostream_core::tone::{
    DefinitionError, DefinitionIndex, Definitions, FinderConfig, HiLowDef, LongToneDef,
    MAX_DEFINITIONS, PulsedDef, TwoToneDef,
};

use crate::config::problem::Problems;
use crate::config::refusal;
use crate::config::{Config, Dtmf, ToneDefinition};

/// What an event of one definition is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The config's `tone_id`.
    pub tone_id: String,
    /// The config's `alert_type`.
    pub alert_type: String,
    /// Where it is in the config file, e.g. `tones[3]`.
    pub path: String,
    /// The config's `record_delay_ms`.
    pub record_delay_ms: u32,
    /// The config's `record_length_ms`.
    pub record_length_ms: u32,
    /// The config's `passthrough` channel id.
    pub passthrough: Option<String>,
}

/// Everything one channel's detector is built from.
#[derive(Debug, Clone)]
pub struct ChannelPlan {
    /// The definitions, in config order (two-tone, long tone, hi-low,
    /// pulsed).
    pub definitions: Definitions,
    /// `names[i]` names `DefinitionIndex` i.
    pub names: Vec<Named>,
    /// DTMF decoding, when the channel has it on.
    pub dtmf: Option<DtmfConfig>,
}

impl ChannelPlan {
    /// The names of a definition's events.
    pub fn name(&self, index: DefinitionIndex) -> Option<&Named> {
        self.names.get(index.get())
    }

    /// A plan with no definitions: the tone finder and DTMF with default
    /// settings, for discovering what a channel carries.
    pub fn finder() -> ChannelPlan {
        let mut definitions = Definitions::new();
        definitions
            .set_finder(FinderConfig::default())
            .expect("the default finder config is valid");
        ChannelPlan {
            definitions,
            names: Vec::new(),
            dtmf: Some(DtmfConfig::DEFAULT),
        }
    }
}

/// The core DTMF settings for a channel's `dtmf` section.
pub fn dtmf_config(dtmf: &Dtmf) -> DtmfConfig {
    DtmfConfig {
        twist_normal_db_max: dtmf.twist_normal_db as f32,
        twist_reverse_db_max: dtmf.twist_reverse_db as f32,
        on_ms_min: dtmf.min_on_ms,
        off_ms_min: dtmf.min_off_ms,
        ..DtmfConfig::DEFAULT
    }
}

/// Builds the plan for the definitions `listens(channel)` selects: one
/// channel's (`Some(id)`), or every definition in the file (`None`, for
/// offline detection on a recording).
///
/// # Errors
/// Every definition the core refuses, as `(path, reason)`.
pub fn plan(config: &Config, channel: Option<&str>) -> Result<ChannelPlan, Vec<(String, String)>> {
    let wanted = |id: &str| channel.is_none_or(|c| c == id);
    let mut definitions = Definitions::new();
    let mut names = Vec::new();
    let mut errors = Vec::new();
    let mut add = |path: String,
                   def: &dyn ToneDefinition,
                   result: Result<DefinitionIndex, DefinitionError>,
                   field: &dyn Fn(&DefinitionError) -> &'static str| {
        match result {
            Ok(_) => names.push(Named {
                tone_id: def.tone_id().to_owned(),
                alert_type: def.alert_type().to_owned(),
                path,
                record_delay_ms: def.record_delay_ms(),
                record_length_ms: def.record_length_ms(),
                passthrough: def.passthrough().map(str::to_owned),
            }),
            Err(DefinitionError::Full) => errors.push((
                path,
                format!(
                    "is one definition too many: a channel listens for at most {MAX_DEFINITIONS}"
                ),
            )),
            Err(e) => errors.push((format!("{path}.{}", field(&e)), e.to_string())),
        }
    };
    for (i, t) in config.tones.iter().enumerate() {
        if !wanted(&t.channel) {
            continue;
        }
        let def = TwoToneDef {
            a_hz: t.tone_a_freq as f32,
            b_hz: t.tone_b_freq as f32,
            a_length_ms: t.tone_a_length_ms,
            b_length_ms: t.tone_b_length_ms,
            a_range_hz: t.tone_a_range_hz as f32,
            b_range_hz: t.tone_b_range_hz as f32,
            max_gap_ms: t.max_gap_ms,
            ignore_after_ms: t.ignore_after_ms,
        };
        let field = |e: &DefinitionError| match *e {
            DefinitionError::FrequencyOutOfBand { hz } if hz == def.b_hz => "tone_b_freq",
            DefinitionError::RangeOutOfBounds { hz, .. } if hz == def.b_hz => "tone_b_range_hz",
            DefinitionError::RangeOutOfBounds { .. } => "tone_a_range_hz",
            DefinitionError::LengthOutOfBounds { length_ms } if length_ms == def.b_length_ms => {
                "tone_b_length_ms"
            }
            DefinitionError::LengthOutOfBounds { .. } => "tone_a_length_ms",
            DefinitionError::GapTooLong { .. } => "max_gap_ms",
            _ => "tone_a_freq",
        };
        let result = definitions.push(def);
        add(format!("tones[{i}]"), t, result, &field);
    }
    for (i, t) in config.long_tones.iter().enumerate() {
        if !wanted(&t.channel) {
            continue;
        }
        let def = LongToneDef {
            hz: t.freq_hz as f32,
            length_ms: t.length_ms,
            range_hz: t.range_hz as f32,
            ignore_after_ms: t.ignore_after_ms,
        };
        let field = |e: &DefinitionError| match e {
            DefinitionError::RangeOutOfBounds { .. } => "range_hz",
            DefinitionError::LengthOutOfBounds { .. } => "length_ms",
            _ => "freq_hz",
        };
        let result = definitions.push(def);
        add(format!("long_tones[{i}]"), t, result, &field);
    }
    for (i, t) in config.hi_low.iter().enumerate() {
        if !wanted(&t.channel) {
            continue;
        }
        let def = HiLowDef {
            a_hz: t.high_freq_hz as f32,
            b_hz: t.low_freq_hz as f32,
            a_range_hz: t.range_hz as f32,
            b_range_hz: t.range_hz as f32,
            min_tone_ms: t.min_segment_ms,
            alternations: t.min_alternations,
            max_gap_ms: t.max_gap_ms,
            ignore_after_ms: t.ignore_after_ms,
        };
        let field = |e: &DefinitionError| match *e {
            DefinitionError::FrequencyOutOfBand { hz } if hz == def.b_hz => "low_freq_hz",
            DefinitionError::RangeOutOfBounds { .. } => "range_hz",
            DefinitionError::LengthOutOfBounds { .. } => "min_segment_ms",
            DefinitionError::GapTooLong { .. } => "max_gap_ms",
            DefinitionError::AlternationsOutOfBounds { .. } => "min_alternations",
            _ => "high_freq_hz",
        };
        let result = definitions.push(def);
        add(format!("hi_low[{i}]"), t, result, &field);
    }
    for (i, t) in config.pulsed.iter().enumerate() {
        if !wanted(&t.channel) {
            continue;
        }
        let def = PulsedDef {
            hz: t.freq_hz as f32,
            range_hz: t.range_hz as f32,
            on_ms: t.on_ms,
            on_range_ms: t.on_range_ms,
            off_ms: t.off_ms,
            off_range_ms: t.off_range_ms,
            min_pulses: t.min_pulses,
            ignore_after_ms: t.ignore_after_ms,
        };
        let field = |e: &DefinitionError| match *e {
            DefinitionError::RangeOutOfBounds { .. } => "range_hz",
            DefinitionError::LengthOutOfBounds { length_ms } if length_ms == def.on_ms => "on_ms",
            DefinitionError::LengthOutOfBounds { .. } => "off_ms",
            DefinitionError::CadenceRangeOutOfBounds { length_ms, .. }
                if length_ms == def.on_ms =>
            {
                "on_range_ms"
            }
            DefinitionError::CadenceRangeOutOfBounds { .. } => "off_range_ms",
            DefinitionError::PulsesOutOfBounds { .. } => "min_pulses",
            _ => "freq_hz",
        };
        let result = definitions.push(def);
        add(format!("pulsed[{i}]"), t, result, &field);
    }
    let dtmf = config
        .channels
        .iter()
        .enumerate()
        .filter(|(_, c)| wanted(&c.id))
        .filter_map(|(i, c)| c.dtmf.as_ref().filter(|d| d.enabled).map(|d| (i, d)))
        .map(|(i, d)| {
            let core = dtmf_config(d);
            for e in core.refusals() {
                let refusal = refusal::dtmf(i, d, e);
                errors.push((refusal.path, refusal.reason));
            }
            core
        })
        .next();
    if errors.is_empty() {
        Ok(ChannelPlan {
            definitions,
            names,
            dtmf,
        })
    } else {
        Err(errors)
    }
}

/// Validation's part: builds every channel's plan and reports what the
/// core refuses, unless the config's own checks already flagged that
/// field.
pub(crate) fn check(problems: &mut Problems, config: &Config) {
    for channel in &config.channels {
        if let Err(errors) = plan(config, Some(&channel.id)) {
            for (path, reason) in errors {
                if !problems.has_error_at(&path) {
                    problems.error(path, reason);
                }
            }
        }
    }
}
