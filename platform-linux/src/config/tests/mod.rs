//! Unit tests of the config loader and every validation rule.
//!
//! Each rule test starts from [`base`], a config that uses every section
//! and draws no problem, changes one thing, and asserts the path and the
//! reason of what is reported.

mod channels;
mod general;
mod loader;
mod services;
mod tones;

use serde_json::{Value, json};

use super::{Report, Severity, check};

/// A config using every section (GPIO and VOX COR, PTT, DTMF, all three
/// tone kinds, passthrough, MQTT, S3) that draws no problem at all.
fn base() -> Value {
    json!({
        "node_id": "station-12",
        "relay": { "url": "wss://relay.example.org/ws", "token": "0123456789abcdef0123" },
        "audio": { "sample_rate_hz": 48000, "frame_ms": 20, "period_ms": 5 },
        "channels": [
            {
                "id": "dispatch",
                "input_device": "plughw:CARD=Radio1,DEV=0",
                "output_device": "plughw:CARD=Radio1,DEV=0",
                "cor": { "gpio": { "chip": "gpiochip0", "line": 20, "polarity": "active_low" } },
                "ptt": { "chip": "gpiochip0", "line": 21, "polarity": "active_high" },
                "dtmf": {}
            },
            {
                "id": "fireground",
                "input_device": "file:samples/speech.wav",
                "input_loop": true,
                "output_device": "file:recordings/fireground.wav",
                "cor": { "vox": { "threshold_dbfs": -40 } }
            }
        ],
        "tones": [
            {
                "tone_id": "Station 1", "channel": "dispatch", "passthrough": "fireground",
                "tone_a_freq": 349.0, "tone_a_range_hz": 5.0, "tone_a_length_ms": 800,
                "tone_b_freq": 707.3, "tone_b_range_hz": 10.0, "tone_b_length_ms": 2000
            },
            {
                "tone_id": "Station 2", "channel": "dispatch",
                "tone_a_freq": 389.0, "tone_a_range_hz": 6.0, "tone_a_length_ms": 800,
                "tone_b_freq": 832.5, "tone_b_range_hz": 12.0, "tone_b_length_ms": 2000
            }
        ],
        "long_tones": [
            { "tone_id": "All Call", "channel": "dispatch",
              "freq_hz": 1153.4, "range_hz": 17.0, "length_ms": 5000 }
        ],
        "hi_low": [
            { "tone_id": "Evacuate", "channel": "fireground",
              "high_freq_hz": 1000.0, "low_freq_hz": 750.0, "range_hz": 20.0 }
        ],
        "mqtt": { "host": "mqtt.example.org", "username": "station-12", "password": "secret" },
        "s3": {
            "endpoint": "https://minio.example.org:9000", "bucket": "echostream-recordings",
            "access_key": "AKIAEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG", "path_style": true
        }
    })
}

/// Checks [`base`] after `edit`.
fn check_edited(edit: impl FnOnce(&mut Value)) -> Report {
    let mut config = base();
    edit(&mut config);
    check(&config.to_string())
}

fn listing(report: &Report) -> String {
    report.problems.iter().map(|p| format!("  {p}\n")).collect()
}

#[track_caller]
fn assert_reported(report: &Report, severity: Severity, path: &str, reason: &str) {
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.severity == severity && p.path == path && p.message.contains(reason)),
        "expected {severity} at `{path}` containing {reason:?}; got:\n{}",
        listing(report)
    );
}

/// Asserts that `edit` draws an error at `path` whose reason contains
/// `reason`, and that the config is refused.
#[track_caller]
fn error_at(edit: impl FnOnce(&mut Value), path: &str, reason: &str) -> Report {
    let report = check_edited(edit);
    assert_reported(&report, Severity::Error, path, reason);
    assert!(
        report.config.is_none(),
        "a config with an error was accepted"
    );
    report
}

/// Asserts that `edit` draws a warning at `path` whose reason contains
/// `reason`, and that the config is still accepted.
#[track_caller]
fn warning_at(edit: impl FnOnce(&mut Value), path: &str, reason: &str) -> Report {
    let report = check_edited(edit);
    assert_reported(&report, Severity::Warning, path, reason);
    assert!(
        report.config.is_some(),
        "a warning refused the config:\n{}",
        listing(&report)
    );
    report
}

#[test]
fn base_config_has_no_problems() {
    let report = check_edited(|_| {});
    assert!(report.problems.is_empty(), "{}", listing(&report));
    assert!(report.complete);
    assert!(report.config.is_some());
}
