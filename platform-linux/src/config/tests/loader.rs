//! Loader behaviour: serde errors with paths, repairs, reporting everything
//! at once, defaults.

use echostream_core::jitter::JitterConfig;
use echostream_core::tone::dtmf::DtmfConfig;
use serde_json::json;

use super::{assert_reported, check_edited, error_at, listing};
use crate::config::{Cor, Relay, Severity, check, defaults};

#[test]
fn misspelt_field_names_its_path_and_the_field_meant() {
    let report = error_at(
        |c| {
            let gpio = &mut c["channels"][0]["cor"]["gpio"];
            let line = gpio
                .as_object_mut()
                .expect("gpio")
                .remove("line")
                .expect("line");
            gpio["lnie"] = line;
        },
        "channels[0].cor.gpio.lnie",
        "unknown field `lnie`; did you mean `line`?",
    );
    // The value was kept under the name meant, so every other check ran.
    assert!(report.complete, "{}", listing(&report));
    assert_eq!(report.problems.len(), 1, "{}", listing(&report));
}

#[test]
fn unknown_field_far_from_any_lists_the_known_ones() {
    error_at(
        |c| c["audio"]["volume"] = json!(11),
        "audio.volume",
        "unknown field `volume`, expected one of `sample_rate_hz`, `frame_ms`",
    );
}

#[test]
fn field_missing_its_unit_suffix_is_recognised() {
    error_at(
        |c| c["channels"][0]["timers"] = json!({ "cor_hang": 300 }),
        "channels[0].timers.cor_hang",
        "did you mean `cor_hang_ms`?",
    );
}

#[test]
fn misspelt_enum_value_suggests_the_one_meant() {
    error_at(
        |c| c["channels"][0]["cor"]["gpio"]["polarity"] = json!("active-low"),
        "channels[0].cor.gpio.polarity",
        "`active-low` is not one of `active_high`, `active_low`; did you mean `active_low`?",
    );
    error_at(
        |c| c["relay"] = json!("embeded"),
        "relay",
        "did you mean `embedded`?",
    );
}

#[test]
fn enum_variant_written_without_its_settings_says_how() {
    error_at(
        |c| c["channels"][0]["cor"] = json!("gpio"),
        "channels[0].cor.gpio",
        "`gpio` needs its settings: write {\"gpio\": {…}}",
    );
}

#[test]
fn key_written_twice_is_an_error() {
    let mut text = super::base().to_string();
    text = text.replacen("\"node_id\":", "\"node_id\":\"a\",\"node_id\":", 1);
    let report = check(&text);
    assert_reported(
        &report,
        Severity::Error,
        "node_id",
        "appears twice in the same object",
    );
}

#[test]
fn number_written_as_text_is_named_and_read_as_meant() {
    let report = error_at(
        |c| c["channels"][0]["ptt"]["line"] = json!("20"),
        "channels[0].ptt.line",
        "\"20\" is text; write the number without quotes: 20",
    );
    // Read as 20, it collides with the COR line, and that is reported too.
    assert_reported(
        &report,
        Severity::Error,
        "channels[0].ptt.line",
        "line 20 on gpiochip0 is already used by channels[0].cor.gpio.line",
    );
}

#[test]
fn missing_required_field_is_named_and_other_checks_still_run() {
    let report = error_at(
        |c| {
            c["channels"][0]["ptt"]
                .as_object_mut()
                .expect("ptt")
                .remove("polarity");
            c["tones"][0]["passthrough"] = json!("engine-7");
        },
        "channels[0].ptt.polarity",
        "is missing, and this field has no default",
    );
    assert_reported(
        &report,
        Severity::Error,
        "tones[0].passthrough",
        "no channel has id `engine-7`",
    );
    assert!(!report.complete);
}

#[test]
fn placeholders_draw_no_problems_of_their_own() {
    let report = check_edited(|c| {
        c["channels"][0]
            .as_object_mut()
            .expect("channel")
            .remove("cor");
    });
    assert_eq!(report.problems.len(), 1, "{}", listing(&report));
    assert_reported(&report, Severity::Error, "channels[0].cor", "is missing");
}

#[test]
fn checks_comparing_with_a_missing_field_are_skipped() {
    let report = check_edited(|c| {
        c["long_tones"][0]
            .as_object_mut()
            .expect("long tone")
            .remove("freq_hz");
        c["tones"][1]["tone_a_freq"] = json!(5000.0);
    });
    let paths: Vec<&str> = report.problems.iter().map(|p| p.path.as_str()).collect();
    // No "range not less than the 0 Hz tone" about the placeholder frequency.
    assert_eq!(
        paths,
        ["long_tones[0].freq_hz", "tones[1].tone_a_freq"],
        "{}",
        listing(&report)
    );
}

#[test]
fn missing_channel_id_does_not_orphan_the_tones_that_name_it() {
    let report = check_edited(|c| {
        c["channels"][0]
            .as_object_mut()
            .expect("channel")
            .remove("id");
    });
    assert_eq!(report.problems.len(), 1, "{}", listing(&report));
    assert_reported(&report, Severity::Error, "channels[0].id", "is missing");
}

#[test]
fn wrong_type_that_cannot_be_read_is_reported_and_the_default_used() {
    let report = error_at(
        |c| {
            c["audio"]["buffer_periods"] = json!([3]);
            c["audio"]["frame_ms"] = json!(25);
        },
        "audio.buffer_periods",
        "invalid type: sequence, expected u32",
    );
    assert_reported(
        &report,
        Severity::Error,
        "audio.frame_ms",
        "not an Opus frame size",
    );
}

#[test]
fn invalid_json_reports_where() {
    let report = check("{\n  \"node_id\": \"a\",\n  \"relay\": \n}");
    assert_eq!(report.problems.len(), 1);
    let problem = &report.problems[0];
    assert_eq!(problem.path, "");
    assert!(problem.message.starts_with("not valid JSON: "), "{problem}");
    assert!(problem.message.contains("line 4 column 1"), "{problem}");
    assert!(!report.complete);
}

#[test]
fn top_level_that_is_not_an_object_is_an_error() {
    let report = check("[]");
    assert_reported(&report, Severity::Error, "", "must hold one JSON object");
}

#[test]
fn misspelt_field_duplicate_gpio_line_and_missing_passthrough_are_all_reported() {
    let report = check_edited(|c| {
        c["channels"][0]["timers"] = json!({ "timout_s": 60 });
        c["channels"][1]["ptt"] =
            json!({ "chip": "gpiochip0", "line": 20, "polarity": "active_high" });
        c["tones"][1]["passthrough"] = json!("engine-7");
    });
    let paths: Vec<&str> = report.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "channels[0].timers.timout_s",
            "channels[1].ptt.line",
            "tones[1].passthrough"
        ],
        "{}",
        listing(&report)
    );
}

#[test]
fn five_different_problems_are_all_listed() {
    let report = check_edited(|c| {
        c["node_id"] = json!("");
        c["audio"]["sample_rate_hz"] = json!(44100);
        c["channels"][0]["timers"] = json!({ "timeout_s": 0 });
        c["tones"][0]["tone_a_freq"] = json!(5000.0);
        c["mqtt"]["port"] = json!(0);
    });
    let errors = report.problems.iter().filter(|p| p.is_error()).count();
    assert_eq!(errors, 5, "{}", listing(&report));
}

#[test]
fn no_prefix_of_a_config_panics() {
    // Truncated files (a full disk, an interrupted copy) must only ever
    // produce problems.
    let text = super::base().to_string();
    for end in (0..text.len()).filter(|&end| text.is_char_boundary(end)) {
        let report = check(&text[..end]);
        assert!(report.has_errors(), "prefix of {end} bytes accepted");
    }
}

#[test]
fn minimal_config_takes_the_design_defaults() {
    let report = check(
        r#"{ "node_id": "n", "relay": "embedded",
             "channels": [ { "id": "a", "input_device": "null", "cor": "always" } ] }"#,
    );
    let config = report.config.expect("minimal config");
    assert_eq!(config.relay, Relay::Embedded);
    let audio = &config.audio;
    assert_eq!(audio.sample_rate_hz, defaults::SAMPLE_RATE_HZ);
    assert_eq!(audio.sample_rate_hz, 48_000);
    assert_eq!(audio.frame_ms, 20.0);
    assert_eq!(audio.period_ms, 5.0);
    assert_eq!(audio.buffer_periods, 3);
    assert_eq!(audio.preroll_ms, 300);
    assert_eq!((audio.jitter_min_ms, audio.jitter_max_ms), (20, 200));
    assert!(audio.opus.fec);
    let channel = &config.channels[0];
    assert_eq!(channel.cor, Cor::Always);
    assert_eq!(channel.timers.timeout_s, 180);
    assert_eq!(channel.output_device, None);
    assert_eq!(config.recordings.dir.to_str(), Some("./recordings"));
    assert_eq!(config.events_file.to_str(), Some("./events.jsonl"));
    assert!(config.mqtt.is_none() && config.s3.is_none());
}

#[test]
fn left_out_audio_and_dtmf_settings_are_the_cores_defaults() {
    let report = check(
        r#"{ "node_id": "n", "relay": "embedded",
             "channels": [ { "id": "a", "input_device": "null", "cor": "always", "dtmf": {} } ] }"#,
    );
    let config = report.config.expect("minimal config");
    assert_eq!(
        crate::runtime::jitter_config(&config),
        JitterConfig::DEFAULT
    );
    let dtmf = config.channels[0].dtmf.as_ref().expect("dtmf section");
    assert_eq!(crate::tone_plan::dtmf_config(dtmf), DtmfConfig::DEFAULT);
}
