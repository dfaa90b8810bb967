//! Tone-definition checks: frequencies, windows, lengths, references.

use std::collections::HashMap;

use super::TONE_BAND_HZ;
use crate::config::problem::Problems;
use crate::config::schema::Config;
use crate::config::tones::{ToneDefinition, Window};

pub(super) fn check(problems: &mut Problems, config: &Config) {
    check_common(problems, config);

    for (index, def) in config.tones.iter().enumerate() {
        let base = format!("tones[{index}]");
        check_freq(problems, &format!("{base}.tone_a_freq"), def.tone_a_freq);
        check_freq(problems, &format!("{base}.tone_b_freq"), def.tone_b_freq);
        check_range(
            problems,
            &format!("{base}.tone_a_range_hz"),
            def.tone_a_range_hz,
            def.tone_a_freq,
        );
        check_range(
            problems,
            &format!("{base}.tone_b_range_hz"),
            def.tone_b_range_hz,
            def.tone_b_freq,
        );
        check_length(
            problems,
            &format!("{base}.tone_a_length_ms"),
            def.tone_a_length_ms,
        );
        check_length(
            problems,
            &format!("{base}.tone_b_length_ms"),
            def.tone_b_length_ms,
        );
        if def.window_a().overlaps(def.window_b()) {
            problems.warning(
                base.clone(),
                format!(
                    "tone A ({}) and tone B ({}) windows overlap; one steady tone could match both",
                    describe(def.window_a()),
                    describe(def.window_b())
                ),
            );
        }
        for (earlier, other) in config.tones[..index].iter().enumerate() {
            if other.channel == def.channel
                && other.window_a().overlaps(def.window_a())
                && other.window_b().overlaps(def.window_b())
            {
                problems.warning(
                    base.clone(),
                    format!(
                        "windows overlap tones[{earlier}] (`{}`): A {} vs {}, B {} vs {}; \
                         one page could match both",
                        other.tone_id,
                        describe(def.window_a()),
                        describe(other.window_a()),
                        describe(def.window_b()),
                        describe(other.window_b()),
                    ),
                );
            }
        }
    }

    for (index, def) in config.long_tones.iter().enumerate() {
        let base = format!("long_tones[{index}]");
        check_freq(problems, &format!("{base}.freq_hz"), def.freq_hz);
        check_range(
            problems,
            &format!("{base}.range_hz"),
            def.range_hz,
            def.freq_hz,
        );
        check_length(problems, &format!("{base}.length_ms"), def.length_ms);
        for (earlier, other) in config.long_tones[..index].iter().enumerate() {
            if other.channel == def.channel && other.window().overlaps(def.window()) {
                problems.warning(
                    base.clone(),
                    format!(
                        "window {} overlaps long_tones[{earlier}] (`{}`, {}); one tone could match both",
                        describe(def.window()),
                        other.tone_id,
                        describe(other.window()),
                    ),
                );
            }
        }
    }

    for (index, def) in config.hi_low.iter().enumerate() {
        let base = format!("hi_low[{index}]");
        check_freq(problems, &format!("{base}.high_freq_hz"), def.high_freq_hz);
        check_freq(problems, &format!("{base}.low_freq_hz"), def.low_freq_hz);
        let low = def.low_freq_hz.min(def.high_freq_hz);
        check_range(problems, &format!("{base}.range_hz"), def.range_hz, low);
        if def.high_freq_hz <= def.low_freq_hz {
            problems.error(
                format!("{base}.high_freq_hz"),
                format!(
                    "{} Hz is not above low_freq_hz ({} Hz)",
                    def.high_freq_hz, def.low_freq_hz
                ),
            );
        } else if def.range_hz > 0.0 && def.window_high().overlaps(def.window_low()) {
            problems.error(
                format!("{base}.range_hz"),
                format!(
                    "±{} Hz makes the high ({}) and low ({}) windows overlap; the detector could \
                     not tell them apart",
                    def.range_hz,
                    describe(def.window_high()),
                    describe(def.window_low()),
                ),
            );
        }
        if def.min_alternations < 2 {
            problems.error(
                format!("{base}.min_alternations"),
                format!(
                    "{} is too few to tell a warble from two tones in a row; use at least 2",
                    def.min_alternations
                ),
            );
        }
        check_length(
            problems,
            &format!("{base}.min_segment_ms"),
            def.min_segment_ms,
        );
    }

    check_pulsed(problems, config);
}

fn check_pulsed(problems: &mut Problems, config: &Config) {
    for (index, def) in config.pulsed.iter().enumerate() {
        let base = format!("pulsed[{index}]");
        check_freq(problems, &format!("{base}.freq_hz"), def.freq_hz);
        check_range(
            problems,
            &format!("{base}.range_hz"),
            def.range_hz,
            def.freq_hz,
        );
        for (field, length_ms, range_field, range_ms) in [
            ("on_ms", def.on_ms, "on_range_ms", def.on_range_ms),
            ("off_ms", def.off_ms, "off_range_ms", def.off_range_ms),
        ] {
            check_length(problems, &format!("{base}.{field}"), length_ms);
            if length_ms > 0 && range_ms >= length_ms {
                problems.error(
                    format!("{base}.{range_field}"),
                    format!(
                        "±{range_ms} ms is not less than {field} ({length_ms} ms); a quarter of                          it is usual"
                    ),
                );
            }
        }
        if def.min_pulses < 2 {
            problems.error(
                format!("{base}.min_pulses"),
                format!(
                    "{} is too few to tell pulses from one tone; use at least 2",
                    def.min_pulses
                ),
            );
        }
        for (earlier, other) in config.pulsed[..index].iter().enumerate() {
            let cadence = |a: u32, ra: u32, b: u32, rb: u32| a.abs_diff(b) <= ra + rb;
            if other.channel == def.channel
                && other.window().overlaps(def.window())
                && cadence(other.on_ms, other.on_range_ms, def.on_ms, def.on_range_ms)
                && cadence(
                    other.off_ms,
                    other.off_range_ms,
                    def.off_ms,
                    def.off_range_ms,
                )
            {
                problems.warning(
                    base.clone(),
                    format!(
                        "window {} and cadence overlap pulsed[{earlier}] (`{}`, {}); one pulsed \
                         tone could match both",
                        describe(def.window()),
                        other.tone_id,
                        describe(other.window()),
                    ),
                );
            }
        }
    }
}

/// What every kind of definition shares: a unique id, a channel that
/// exists, a passthrough target that exists and is another channel.
fn check_common(problems: &mut Problems, config: &Config) {
    let all = config
        .tones
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("tones[{i}]"), d as &dyn ToneDefinition))
        .chain(
            config
                .long_tones
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("long_tones[{i}]"), d as &dyn ToneDefinition)),
        )
        .chain(
            config
                .hi_low
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("hi_low[{i}]"), d as &dyn ToneDefinition)),
        )
        .chain(
            config
                .pulsed
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("pulsed[{i}]"), d as &dyn ToneDefinition)),
        );
    let channel_ids: Vec<&str> = config.channels.iter().map(|c| c.id.as_str()).collect();
    let named: Vec<&str> = channel_ids
        .iter()
        .copied()
        .filter(|id| !id.is_empty())
        .collect();
    let known = if named.is_empty() {
        "there are no channels".to_owned()
    } else {
        format!("channels: {}", named.join(", "))
    };

    let mut seen: HashMap<String, String> = HashMap::new();
    for (base, def) in all {
        let tone_id = def.tone_id();
        if tone_id.trim().is_empty() {
            problems.error(
                format!("{base}.tone_id"),
                "is empty; name the page, e.g. `Station 12`",
            );
        } else if let Some(first) = seen.get(tone_id) {
            problems.error(
                format!("{base}.tone_id"),
                format!("`{tone_id}` is already the tone_id of {first}"),
            );
        } else {
            seen.insert(tone_id.to_owned(), base.clone());
        }
        if !tone_id.trim().is_empty() {
            check_label(problems, &format!("{base}.tone_id"), tone_id);
        }
        if !def.alert_type().trim().is_empty() {
            check_label(problems, &format!("{base}.alert_type"), def.alert_type());
        }
        if def.alert_type().trim().is_empty() {
            problems.error(
                format!("{base}.alert_type"),
                "is empty; use a label such as `fire` or `ems`, or leave it out for `default`",
            );
        }
        if !channel_ids.contains(&def.channel()) {
            problems.error(
                format!("{base}.channel"),
                format!("no channel has id `{}` ({known})", def.channel()),
            );
        }
        if let Some(target) = def.passthrough() {
            if !channel_ids.contains(&target) {
                problems.error(
                    format!("{base}.passthrough"),
                    format!("no channel has id `{target}` ({known})"),
                );
            } else if target == def.channel() {
                problems.error(
                    format!("{base}.passthrough"),
                    format!(
                        "`{target}` is the channel this definition listens on; passthrough \
                         carries audio to another channel"
                    ),
                );
            }
            if def.record_length_ms() == 0 {
                problems.error(
                    format!("{base}.record_length_ms"),
                    format!(
                        "is 0, so the passthrough to `{target}` would last no time; it lasts \
                         record_length_ms"
                    ),
                );
            }
        }
    }
}

fn check_freq(problems: &mut Problems, path: &str, freq_hz: f64) {
    let (low, high) = TONE_BAND_HZ;
    if !(freq_hz.is_finite() && (low..=high).contains(&freq_hz)) {
        problems.error(
            path,
            format!("{freq_hz} Hz is outside {low}-{high} Hz, the band the detectors listen to"),
        );
    }
}

fn check_range(problems: &mut Problems, path: &str, range_hz: f64, freq_hz: f64) {
    if !(range_hz.is_finite() && range_hz > 0.0) {
        problems.error(
            path,
            format!("{range_hz} Hz must be more than 0 Hz, or nothing would ever match"),
        );
    } else if range_hz >= freq_hz {
        problems.error(
            path,
            format!(
                "±{range_hz} Hz is not less than the {freq_hz} Hz tone itself; the window would \
                 reach 0 Hz (about 1.5 % of the frequency is usual)"
            ),
        );
    }
}

fn check_length(problems: &mut Problems, path: &str, length_ms: u32) {
    if length_ms == 0 {
        problems.error(
            path,
            "is 0 ms; a tone must last some time to be told from noise",
        );
    }
}

/// `349±5 Hz`.
fn describe(window: Window) -> String {
    format!("{}±{} Hz", window.center_hz, window.range_hz)
}

/// Tone ids and alert types travel in `tone_detected` messages and events:
/// they follow the signaling label rules, checked by the same code.
fn check_label(problems: &mut Problems, path: &str, label: &str) {
    use echostream_core::wire::signal::{MAX_ID_LEN, ToneId};
    if ToneId::new(label).is_err() {
        problems.error(
            path,
            format!(
                "`{label}` is not a valid label: up to {MAX_ID_LEN} characters of printable ASCII, \
                 starting with a letter or digit, no trailing space, no `\"`, `\\` or `/`"
            ),
        );
    }
}
