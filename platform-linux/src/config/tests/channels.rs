//! Channel rules: ids, devices, GPIO, timers, DTMF.

use serde_json::json;

use super::{check_edited, error_at, listing, warning_at};

#[test]
fn empty_channel_list_is_an_error() {
    error_at(
        |c| {
            c["channels"] = json!([]);
            c["tones"] = json!([]);
            c["long_tones"] = json!([]);
            c["hi_low"] = json!([]);
        },
        "channels",
        "no channels; at least one radio channel is needed",
    );
}

#[test]
fn more_channels_than_a_node_serves_is_an_error() {
    error_at(
        |c| {
            let template = json!({ "id": "x", "input_device": "null", "cor": "always" });
            let channels = c["channels"].as_array_mut().expect("channels");
            for index in 0..8 {
                let mut channel = template.clone();
                channel["id"] = json!(format!("extra-{index}"));
                channels.push(channel);
            }
        },
        "channels",
        "10 channels; one node serves at most 8",
    );
}

#[test]
fn duplicate_channel_id_is_an_error() {
    error_at(
        |c| c["channels"][1]["id"] = json!("dispatch"),
        "channels[1].id",
        "`dispatch` is already the id of channels[0]",
    );
}

#[test]
fn channel_id_with_characters_unsafe_in_a_topic_is_an_error() {
    error_at(
        |c| c["channels"][1]["id"] = json!("fire/ground"),
        "channels[1].id",
        "contains '/'",
    );
}

#[test]
fn empty_device_is_an_error() {
    error_at(
        |c| c["channels"][0]["input_device"] = json!(""),
        "channels[0].input_device",
        "is empty; give an ALSA PCM name",
    );
}

#[test]
fn device_with_spaces_around_it_is_an_error() {
    error_at(
        |c| c["channels"][0]["output_device"] = json!(" plughw:CARD=Radio1,DEV=0"),
        "channels[0].output_device",
        "has leading or trailing spaces",
    );
}

#[test]
fn file_device_without_a_path_is_an_error() {
    error_at(
        |c| c["channels"][1]["input_device"] = json!("file:"),
        "channels[1].input_device",
        "file: needs a path",
    );
}

#[test]
fn file_device_not_ending_in_wav_warns() {
    warning_at(
        |c| c["channels"][1]["input_device"] = json!("file:samples/speech.mp3"),
        "channels[1].input_device",
        "does not end in .wav",
    );
}

#[test]
fn alsa_card_by_number_warns() {
    for name in ["hw:1", "plughw:1,0", "plughw:CARD=1,DEV=0"] {
        warning_at(
            |c| c["channels"][0]["input_device"] = json!(name),
            "channels[0].input_device",
            "names the card by number",
        );
    }
}

#[test]
fn input_loop_on_an_alsa_device_warns() {
    warning_at(
        |c| c["channels"][0]["input_loop"] = json!(true),
        "channels[0].input_loop",
        "only file: sources loop",
    );
}

#[test]
fn same_output_file_for_two_channels_is_an_error() {
    error_at(
        |c| c["channels"][0]["output_device"] = json!("file:recordings/fireground.wav"),
        "channels[1].output_device",
        "file `recordings/fireground.wav` is already written by channels[0]",
    );
}

#[test]
fn same_alsa_input_for_two_channels_warns() {
    warning_at(
        |c| {
            c["channels"][1]["input_device"] = json!("plughw:CARD=Radio1,DEV=0");
            c["channels"][1]["input_loop"] = json!(false);
        },
        "channels[1].input_device",
        "is also captured by channels[0]",
    );
}

#[test]
fn same_alsa_output_for_two_channels_warns() {
    warning_at(
        |c| c["channels"][1]["output_device"] = json!("plughw:CARD=Radio1,DEV=0"),
        "channels[1].output_device",
        "is also played by channels[0]",
    );
}

#[test]
fn gpio_line_used_twice_is_an_error() {
    error_at(
        |c| {
            c["channels"][1]["cor"] =
                json!({ "gpio": { "chip": "gpiochip0", "line": 21, "polarity": "active_low" } });
        },
        "channels[1].cor.gpio.line",
        "line 21 on gpiochip0 is already used by channels[0].ptt.line",
    );
}

#[test]
fn gpio_line_used_twice_within_one_channel_is_an_error() {
    error_at(
        |c| c["channels"][0]["ptt"]["line"] = json!(20),
        "channels[0].ptt.line",
        "line 20 on gpiochip0 is already used by channels[0].cor.gpio.line",
    );
}

#[test]
fn gpio_chip_by_dev_path_is_the_same_chip() {
    error_at(
        |c| {
            c["channels"][1]["ptt"] =
                json!({ "chip": "/dev/gpiochip0", "line": 20, "polarity": "active_high" });
        },
        "channels[1].ptt.line",
        "line 20 on gpiochip0 is already used by channels[0].cor.gpio.line",
    );
    // The same line number on another chip is another line.
    let report = check_edited(|c| {
        c["channels"][1]["ptt"] =
            json!({ "chip": "gpiochip1", "line": 20, "polarity": "active_high" });
    });
    assert!(report.problems.is_empty(), "{}", listing(&report));
}

#[test]
fn empty_gpio_chip_is_an_error() {
    error_at(
        |c| c["channels"][0]["ptt"]["chip"] = json!(""),
        "channels[0].ptt.chip",
        "is empty; give the GPIO chip",
    );
}

#[test]
fn vox_threshold_outside_range_is_an_error() {
    for bad in [3.0, 0.0, -120.0] {
        error_at(
            |c| c["channels"][1]["cor"]["vox"]["threshold_dbfs"] = json!(bad),
            "channels[1].cor.vox.threshold_dbfs",
            "is outside -90 to 0 dBFS",
        );
    }
}

#[test]
fn ptt_without_an_output_device_warns() {
    warning_at(
        |c| {
            c["channels"][0]
                .as_object_mut()
                .expect("channel")
                .remove("output_device");
        },
        "channels[0].ptt",
        "no output_device, so nothing is ever played and PTT never keys",
    );
}

#[test]
fn time_out_of_zero_is_an_error() {
    error_at(
        |c| c["channels"][0]["timers"] = json!({ "timeout_s": 0 }),
        "channels[0].timers.timeout_s",
        "would switch off the time-out timer",
    );
}

#[test]
fn time_out_over_ten_minutes_warns() {
    warning_at(
        |c| c["channels"][0]["timers"] = json!({ "timeout_s": 1200 }),
        "channels[0].timers.timeout_s",
        "1200 s lets a stuck transmitter stay keyed for over 10 minutes",
    );
}

#[test]
fn long_cor_debounce_warns() {
    warning_at(
        |c| c["channels"][0]["timers"] = json!({ "cor_debounce_ms": 800 }),
        "channels[0].timers.cor_debounce_ms",
        "800 ms cuts the start of every transmission",
    );
}

#[test]
fn tx_delay_not_shorter_than_time_out_is_an_error() {
    error_at(
        |c| c["channels"][0]["timers"] = json!({ "tx_delay_ms": 5000, "timeout_s": 5 }),
        "channels[0].timers.tx_delay_ms",
        "5000 ms is not shorter than the 5 s time-out",
    );
}

#[test]
fn dtmf_twist_outside_range_is_an_error() {
    error_at(
        |c| c["channels"][0]["dtmf"] = json!({ "twist_normal_db": 25 }),
        "channels[0].dtmf.twist_normal_db",
        "25 dB is not between 0 and 20 dB",
    );
    error_at(
        |c| c["channels"][0]["dtmf"] = json!({ "twist_reverse_db": -1 }),
        "channels[0].dtmf.twist_reverse_db",
        "-1 dB is not between 0 and 20 dB",
    );
}

#[test]
fn dtmf_min_on_below_20_ms_is_an_error() {
    error_at(
        |c| c["channels"][0]["dtmf"] = json!({ "min_on_ms": 10 }),
        "channels[0].dtmf.min_on_ms",
        "10 ms is not between 20 and 1000 ms",
    );
}

#[test]
fn a_dtmf_sequence_timeout_out_of_range_is_an_error() {
    for value in [100, 60_001] {
        error_at(
            |c| c["channels"][0]["dtmf"] = json!({ "sequence_timeout_ms": value }),
            "channels[0].dtmf.sequence_timeout_ms",
            &format!("{value} ms is not between 200 and 60000 ms"),
        );
    }
}

#[test]
fn dtmf_min_off_below_15_ms_is_an_error() {
    error_at(
        |c| c["channels"][0]["dtmf"] = json!({ "min_off_ms": 0 }),
        "channels[0].dtmf.min_off_ms",
        "0 ms is not between 15 and 1000 ms",
    );
}

#[test]
fn dtmf_times_are_reported_once_under_the_files_field_name() {
    for (field, value, reason) in [
        ("min_off_ms", 10, "10 ms is not between 15 and 1000 ms"),
        ("min_off_ms", 1001, "1001 ms is not between 15 and 1000 ms"),
        ("min_off_ms", 0, "0 ms is not between 15 and 1000 ms"),
        ("min_on_ms", 1001, "1001 ms is not between 20 and 1000 ms"),
        ("min_on_ms", 10, "10 ms is not between 20 and 1000 ms"),
    ] {
        let report = error_at(
            |c| c["channels"][0]["dtmf"] = json!({ "enabled": true, field.to_owned(): value }),
            &format!("channels[0].dtmf.{field}"),
            reason,
        );
        assert_eq!(report.problems.len(), 1, "{}", listing(&report));
    }
}

#[test]
fn every_dtmf_time_out_of_range_is_named_at_once() {
    let report = error_at(
        |c| c["channels"][0]["dtmf"] = json!({ "min_on_ms": 1001, "min_off_ms": 10 }),
        "channels[0].dtmf.min_on_ms",
        "1001 ms is not between 20 and 1000 ms",
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.path == "channels[0].dtmf.min_off_ms"
                && p.message.contains("10 ms is not between 15 and 1000 ms")),
        "{}",
        listing(&report)
    );
}

#[test]
fn the_radio_encoders_fast_dtmf_setting_is_accepted() {
    let report = check_edited(|c| {
        c["channels"][0]["dtmf"] = json!({
            "min_on_ms": 20, "min_off_ms": 15, "twist_normal_db": 8, "twist_reverse_db": 8
        })
    });
    assert!(report.problems.is_empty(), "{}", listing(&report));
    assert!(report.config.is_some());
}

#[test]
fn dtmf_defaults_follow_the_design() {
    let report = check_edited(|_| {});
    let config = report.config.expect("base config");
    let dtmf = config.channels[0].dtmf.as_ref().expect("dtmf section");
    assert!(dtmf.enabled);
    assert_eq!(dtmf.twist_normal_db, 8.0);
    assert_eq!(dtmf.twist_reverse_db, 4.0);
    assert_eq!(dtmf.min_on_ms, 40);
    assert!(config.channels[1].dtmf.is_none());
}
