//! Tone-definition rules.

use serde_json::json;

use super::{check_edited, error_at, listing, warning_at};

#[test]
fn tone_channel_that_does_not_exist_is_an_error() {
    error_at(
        |c| c["tones"][1]["channel"] = json!("engine-7"),
        "tones[1].channel",
        "no channel has id `engine-7` (channels: dispatch, fireground)",
    );
}

#[test]
fn passthrough_target_that_does_not_exist_is_an_error() {
    error_at(
        |c| c["tones"][0]["passthrough"] = json!("engine-7"),
        "tones[0].passthrough",
        "no channel has id `engine-7` (channels: dispatch, fireground)",
    );
}

#[test]
fn passthrough_to_its_own_channel_is_an_error() {
    error_at(
        |c| c["tones"][0]["passthrough"] = json!("dispatch"),
        "tones[0].passthrough",
        "`dispatch` is the channel this definition listens on",
    );
}

#[test]
fn passthrough_with_zero_record_length_is_an_error() {
    error_at(
        |c| c["tones"][0]["record_length_ms"] = json!(0),
        "tones[0].record_length_ms",
        "the passthrough to `fireground` would last no time",
    );
}

#[test]
fn duplicate_tone_id_is_an_error_across_kinds() {
    error_at(
        |c| c["long_tones"][0]["tone_id"] = json!("Station 1"),
        "long_tones[0].tone_id",
        "`Station 1` is already the tone_id of tones[0]",
    );
}

#[test]
fn empty_tone_id_is_an_error() {
    error_at(
        |c| c["hi_low"][0]["tone_id"] = json!(" "),
        "hi_low[0].tone_id",
        "is empty",
    );
}

#[test]
fn empty_alert_type_is_an_error() {
    error_at(
        |c| c["tones"][1]["alert_type"] = json!(""),
        "tones[1].alert_type",
        "is empty; use a label such as `fire`",
    );
}

#[test]
fn tone_frequency_outside_the_band_is_an_error() {
    error_at(
        |c| c["tones"][0]["tone_b_freq"] = json!(4000.0),
        "tones[0].tone_b_freq",
        "4000 Hz is outside 281.25-3500 Hz",
    );
    error_at(
        |c| c["long_tones"][0]["freq_hz"] = json!(67.0),
        "long_tones[0].freq_hz",
        "67 Hz is outside 281.25-3500 Hz",
    );
}

#[test]
fn tone_range_of_zero_is_an_error() {
    error_at(
        |c| c["tones"][0]["tone_a_range_hz"] = json!(0),
        "tones[0].tone_a_range_hz",
        "must be more than 0 Hz",
    );
}

#[test]
fn tone_range_not_below_its_frequency_is_an_error() {
    error_at(
        |c| c["tones"][1]["tone_b_range_hz"] = json!(900.0),
        "tones[1].tone_b_range_hz",
        "±900 Hz is not less than the 832.5 Hz tone itself",
    );
}

#[test]
fn tone_length_of_zero_is_an_error() {
    error_at(
        |c| c["tones"][0]["tone_a_length_ms"] = json!(0),
        "tones[0].tone_a_length_ms",
        "is 0 ms",
    );
    error_at(
        |c| c["long_tones"][0]["length_ms"] = json!(0),
        "long_tones[0].length_ms",
        "is 0 ms",
    );
}

#[test]
fn overlapping_two_tone_windows_on_one_channel_warn() {
    warning_at(
        |c| {
            c["tones"][1]["tone_a_freq"] = json!(352.0);
            c["tones"][1]["tone_b_freq"] = json!(712.0);
        },
        "tones[1]",
        "windows overlap tones[0] (`Station 1`): A 352±6 Hz vs 349±5 Hz, B 712±12 Hz vs 707.3±10 Hz; one page could match both",
    );
}

#[test]
fn overlapping_two_tone_windows_on_different_channels_do_not_warn() {
    let report = check_edited(|c| {
        c["tones"][1]["tone_a_freq"] = json!(352.0);
        c["tones"][1]["tone_b_freq"] = json!(712.0);
        c["tones"][1]["channel"] = json!("fireground");
    });
    assert!(report.problems.is_empty(), "{}", listing(&report));
}

#[test]
fn only_one_overlapping_tone_window_does_not_warn() {
    // Same A tone, different B: the classic QC-II group; no ambiguity.
    let report = check_edited(|c| c["tones"][1]["tone_a_freq"] = json!(349.0));
    assert!(report.problems.is_empty(), "{}", listing(&report));
}

#[test]
fn tone_a_and_b_windows_overlapping_warn() {
    warning_at(
        |c| c["tones"][1]["tone_b_freq"] = json!(396.0),
        "tones[1]",
        "tone A (389±6 Hz) and tone B (396±12 Hz) windows overlap",
    );
}

#[test]
fn tones_too_close_for_the_detector_are_an_error() {
    error_at(
        |c| c["tones"][1]["tone_b_freq"] = json!(392.0),
        "tones[1].tone_a_freq",
        "tones 389 Hz and 392 Hz are too close to tell apart",
    );
}

#[test]
fn more_definitions_than_a_channel_listens_for_is_an_error() {
    error_at(
        |c| {
            let template = c["tones"][1].clone();
            let tones = c["tones"].as_array_mut().unwrap();
            for i in 0..40 {
                let mut t = template.clone();
                t["tone_id"] = json!(format!("Extra {i}"));
                t["tone_a_freq"] = json!(400.0 + 20.0 * f64::from(i));
                t["tone_b_freq"] = json!(2_000.0 + 20.0 * f64::from(i));
                tones.push(t);
            }
        },
        "tones[32]",
        "a channel listens for at most 32",
    );
}

#[test]
fn overlapping_long_tone_windows_on_one_channel_warn() {
    warning_at(
        |c| {
            c["long_tones"]
                .as_array_mut()
                .expect("long_tones")
                .push(json!({
                    "tone_id": "All Call 2", "channel": "dispatch",
                    "freq_hz": 1160.0, "range_hz": 17.0, "length_ms": 5000
                }));
        },
        "long_tones[1]",
        "window 1160±17 Hz overlaps long_tones[0] (`All Call`, 1153.4±17 Hz)",
    );
}

#[test]
fn hi_low_high_not_above_low_is_an_error() {
    error_at(
        |c| c["hi_low"][0]["high_freq_hz"] = json!(700.0),
        "hi_low[0].high_freq_hz",
        "700 Hz is not above low_freq_hz (750 Hz)",
    );
}

#[test]
fn hi_low_windows_overlapping_is_an_error() {
    error_at(
        |c| c["hi_low"][0]["range_hz"] = json!(150.0),
        "hi_low[0].range_hz",
        "makes the high (1000±150 Hz) and low (750±150 Hz) windows overlap",
    );
}

#[test]
fn lengths_and_counts_the_detector_refuses_name_the_files_field_in_words() {
    error_at(
        |c| c["tones"][0]["tone_a_length_ms"] = json!(10),
        "tones[0].tone_a_length_ms",
        "length 10 ms is outside 128 to 60000 ms",
    );
    error_at(
        |c| c["hi_low"][0]["min_segment_ms"] = json!(70_000),
        "hi_low[0].min_segment_ms",
        "length 70000 ms is outside 128 to 60000 ms",
    );
    error_at(
        |c| c["hi_low"][0]["min_alternations"] = json!(100),
        "hi_low[0].min_alternations",
        "100 alternations is outside 2 to 64",
    );
}

#[test]
fn hi_low_fewer_than_two_alternations_is_an_error() {
    error_at(
        |c| c["hi_low"][0]["min_alternations"] = json!(1),
        "hi_low[0].min_alternations",
        "1 is too few",
    );
}

#[test]
fn hi_low_min_segment_of_zero_is_an_error() {
    error_at(
        |c| c["hi_low"][0]["min_segment_ms"] = json!(0),
        "hi_low[0].min_segment_ms",
        "is 0 ms",
    );
}

#[test]
fn hi_low_gap_longer_than_the_detector_bridges_is_an_error() {
    error_at(
        |c| c["hi_low"][0]["max_gap_ms"] = json!(60_000),
        "hi_low[0].max_gap_ms",
        "max gap 60000 ms is above 5000 ms",
    );
}

#[test]
fn two_tone_defaults_follow_the_design() {
    let config = check_edited(|_| {}).config.expect("base config");
    let tone = &config.tones[1];
    assert_eq!(tone.record_length_ms, 30_000);
    assert_eq!(tone.alert_type, "default");
    assert_eq!(tone.max_gap_ms, 500);
    assert_eq!(tone.record_delay_ms, 0);
    assert_eq!(tone.ignore_after_ms, 10_000);
    assert_eq!(tone.passthrough, None);
    assert_eq!(config.tones[0].passthrough.as_deref(), Some("fireground"));
}

#[test]
fn tone_id_and_alert_type_outside_the_label_rules_are_errors() {
    error_at(
        |c| c["tones"][0]["tone_id"] = json!("Station/12"),
        "tones[0].tone_id",
        "not a valid label",
    );
    error_at(
        |c| c["tones"][0]["alert_type"] = json!("fire "),
        "tones[0].alert_type",
        "not a valid label",
    );
    error_at(
        |c| c["tones"][0]["tone_id"] = json!("S".repeat(49)),
        "tones[0].tone_id",
        "up to 48 characters",
    );
}
