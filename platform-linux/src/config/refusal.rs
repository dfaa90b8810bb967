//! Core's refusals of config values, said in the file's words: the one
//! place that knows which field of the config file each core setting
//! comes from, so that a message names `channels[0].dtmf.min_off_ms`,
//! never core's `off_ms_min`.
//!
//! Validation (`check-config`) reports every refusal through here, so a
//! node whose config passed never meets one when it starts; should it
//! all the same, its start error says the same words. (The tone
//! definitions' refusals are mapped per definition kind beside the
//! kinds, in `tone_plan`.)

use std::fmt;

use echostream_core::jitter::ConfigError as JitterConfigError;
use echostream_core::level::VoxConfigError;
use echostream_core::ptt::TimersError;
use echostream_core::tone::RateError;
use echostream_core::tone::dtmf::{DtmfConfigError, SequenceConfig, SequenceConfigError};

use super::channel::Dtmf;
use super::schema::Audio;

/// A core refusal in the file's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The field as the file spells it: `channels[0].dtmf.min_off_ms`.
    pub path: String,
    /// Why, starting with the value given: `10 ms is not between 15 and
    /// 1000 ms`.
    pub reason: String,
}

impl Refusal {
    fn new(path: impl Into<String>, reason: impl Into<String>) -> Refusal {
        Refusal {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    /// `channels[0].dtmf.min_off_ms: 10 ms is not between 15 and 1000 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for Refusal {}

/// `channels[{channel}].dtmf`'s settings, refused by the DTMF detector.
pub fn dtmf(channel: usize, dtmf: &Dtmf, error: DtmfConfigError) -> Refusal {
    let base = format!("channels[{channel}].dtmf");
    let range = error.range();
    let (field, value) = match error {
        DtmfConfigError::TwistNormal => ("twist_normal_db", dtmf.twist_normal_db),
        DtmfConfigError::TwistReverse => ("twist_reverse_db", dtmf.twist_reverse_db),
        DtmfConfigError::OnTime => ("min_on_ms", f64::from(dtmf.min_on_ms)),
        DtmfConfigError::OffTime => ("min_off_ms", f64::from(dtmf.min_off_ms)),
        // The file cannot set these: they are DtmfConfig::DEFAULT's, which
        // the core's tests hold valid. Said in the core's words all the same.
        DtmfConfigError::Deviation | DtmfConfigError::Level | DtmfConfigError::ToneRatio => {
            return Refusal::new(base, format!("the detector's built-in {error}"));
        }
    };
    let usual = match error {
        DtmfConfigError::OnTime | DtmfConfigError::OffTime => {
            " (40 is usual; 20 for radio encoders' fast DTMF)"
        }
        _ => "",
    };
    Refusal::new(
        format!("{base}.{field}"),
        format!("{value} {} is not {range}{usual}", range.unit),
    )
}

/// `channels[{channel}].dtmf.sequence_timeout_ms`, refused by the digit
/// sequencer (or the device rate it runs at).
pub fn dtmf_sequence(channel: usize, error: SequenceConfigError) -> Refusal {
    match error {
        SequenceConfigError::Timeout { timeout_ms } => Refusal::new(
            format!("channels[{channel}].dtmf.sequence_timeout_ms"),
            format!(
                "{timeout_ms} ms is not between {} and {} ms",
                SequenceConfig::TIMEOUT_MS_MIN,
                SequenceConfig::TIMEOUT_MS_MAX
            ),
        ),
        SequenceConfigError::ZeroRate => zero_rate(),
    }
}

/// `channels[{channel}].cor.vox`, refused by the VOX (or the device rate
/// it runs at).
pub fn vox(channel: usize, threshold_dbfs: f64, error: VoxConfigError) -> Refusal {
    match error {
        VoxConfigError::Threshold => Refusal::new(
            format!("channels[{channel}].cor.vox.threshold_dbfs"),
            format!(
                "{threshold_dbfs} dBFS is not a level below 0 dBFS (levels are below full \
                 scale, so negative; e.g. -40)"
            ),
        ),
        VoxConfigError::Rate => zero_rate(),
    }
}

/// `channels[{channel}].timers`, refused by the COR/PTT machines.
pub fn timers(channel: usize, error: TimersError) -> Refusal {
    let reason = match error {
        TimersError::TimeoutZero => "is 0, which would switch off the time-out timer; a stuck \
                                     stream must never hold the transmitter keyed"
            .to_owned(),
        TimersError::TxDelayNotShorterThanTimeout {
            tx_delay_ms,
            timeout_s,
        } => format!(
            "{tx_delay_ms} ms is not shorter than the {timeout_s} s time-out \
             (timers.timeout_s); the transmitter would time out before any audio"
        ),
    };
    Refusal::new(
        format!("channels[{channel}].timers.{}", error.field()),
        reason,
    )
}

/// `audio`'s jitter buffer settings, refused by the jitter buffer.
pub fn jitter(audio: &Audio, error: JitterConfigError) -> Refusal {
    let max = audio.jitter_max_ms;
    let (field, reason) = match error {
        JitterConfigError::FrameSamples(_) => (
            "frame_ms",
            format!(
                "{} ms is not an Opus frame size; use 2.5, 5, 10, 20, 40 or 60",
                audio.frame_ms
            ),
        ),
        JitterConfigError::JitterMinAboveMax { jitter_min_ms, .. } => (
            "jitter_min_ms",
            format!("{jitter_min_ms} ms is more than audio.jitter_max_ms ({max} ms)"),
        ),
        JitterConfigError::JitterMaxBelowFrame { .. } => (
            "jitter_max_ms",
            format!(
                "{max} ms is less than one {} ms frame; the jitter buffer must hold at least one",
                audio.frame_ms
            ),
        ),
        JitterConfigError::JitterMaxBeyondSlots { capacity_ms, .. } => (
            "jitter_max_ms",
            format!(
                "{max} ms plus two {} ms frames is more than the jitter buffer holds at this \
                 frame length ({capacity_ms} ms)",
                audio.frame_ms
            ),
        ),
        JitterConfigError::StallTimeoutTooShort {
            stall_timeout_ms, ..
        } => (
            "jitter_max_ms",
            format!(
                "{max} ms plus one {} ms frame is more than the {stall_timeout_ms} ms after \
                 which a silent stream counts as ended",
                audio.frame_ms
            ),
        ),
        // Not a field of the file: JitterConfig::DEFAULT's, which the
        // core's tests hold valid.
        JitterConfigError::DelayQuantile(_) => {
            return Refusal::new("audio", format!("the jitter buffer's built-in {error}"));
        }
    };
    Refusal::new(format!("audio.{field}"), reason)
}

/// `audio.sample_rate_hz`, refused by the tone detectors' decimator.
pub fn detector_rate(error: RateError) -> Refusal {
    Refusal::new("audio.sample_rate_hz", error.to_string())
}

fn zero_rate() -> Refusal {
    Refusal::new("audio.sample_rate_hz", "is 0 Hz; use 8000 to 48000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtmf_refusal_names_the_files_field_and_value() {
        let file = Dtmf {
            twist_normal_db: 25.0,
            twist_reverse_db: -1.0,
            min_on_ms: 19,
            min_off_ms: 14,
            ..Dtmf::default()
        };
        let core = crate::tone_plan::dtmf_config(&file);
        let said: Vec<String> = core
            .refusals()
            .map(|e| dtmf(2, &file, e).to_string())
            .collect();
        assert_eq!(
            said,
            [
                "channels[2].dtmf.twist_normal_db: 25 dB is not between 0 and 20 dB",
                "channels[2].dtmf.twist_reverse_db: -1 dB is not between 0 and 20 dB",
                "channels[2].dtmf.min_on_ms: 19 ms is not between 20 and 1000 ms \
                 (40 is usual; 20 for radio encoders' fast DTMF)",
                "channels[2].dtmf.min_off_ms: 14 ms is not between 15 and 1000 ms \
                 (40 is usual; 20 for radio encoders' fast DTMF)",
            ]
        );
        // The ones the file cannot set still name the section.
        assert!(
            dtmf(0, &file, DtmfConfigError::Level)
                .to_string()
                .starts_with("channels[0].dtmf: the detector's built-in level_dbfs_min")
        );
    }

    #[test]
    fn sequence_vox_timers_and_rate_refusals_name_the_files_fields() {
        assert_eq!(
            dtmf_sequence(1, SequenceConfigError::Timeout { timeout_ms: 100 }).to_string(),
            "channels[1].dtmf.sequence_timeout_ms: 100 ms is not between 200 and 60000 ms"
        );
        assert_eq!(
            dtmf_sequence(1, SequenceConfigError::ZeroRate).path,
            "audio.sample_rate_hz"
        );
        assert_eq!(
            vox(3, 5.0, VoxConfigError::Threshold).path,
            "channels[3].cor.vox.threshold_dbfs"
        );
        assert!(
            vox(3, 5.0, VoxConfigError::Threshold)
                .reason
                .starts_with("5 dBFS is not a level below 0 dBFS")
        );
        assert_eq!(
            timers(0, TimersError::TimeoutZero).path,
            "channels[0].timers.timeout_s"
        );
        assert_eq!(
            detector_rate(RateError::OutOfRange { rate_hz: 4_000 }).path,
            "audio.sample_rate_hz"
        );
    }
}
