//! What `echostream check-config` says when a core state machine refuses a
//! config value: the file's own path and field name, never core's (one
//! test per kind of refusal).

mod node_process;

use std::process::Output;

use serde_json::{Value, json};

use node_process::{echostream, workspace_root};

/// The Pi example, a config using GPIO, a remote relay, MQTT and S3, a
/// DTMF section on its first channel and an output on every channel.
fn pi_config() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("config.pi.json"))
        .expect("config.pi.json at the workspace root");
    serde_json::from_str(&text).expect("config.pi.json is JSON")
}

/// `echostream check-config` on `config` after `edit`: its error lines.
fn errors_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut config = pi_config();
    edit(&mut config);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("write config");
    let output: Output = echostream(&["check-config", "config.json"], dir.path());
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{err}");
    err.lines()
        .filter(|l| l.starts_with("error: "))
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn assert_said(errors: &[String], line: &str) {
    assert!(
        errors.iter().any(|l| l == line),
        "expected\n  {line}\ngot\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn the_dtmf_detectors_refusals_name_the_dtmf_fields() {
    let errors = errors_after(|c| {
        c["channels"][0]["dtmf"] = json!({
            "min_on_ms": 10, "min_off_ms": 10, "twist_normal_db": 25, "twist_reverse_db": -1
        })
    });
    assert_said(
        &errors,
        "error: channels[0].dtmf.min_on_ms: 10 ms is not between 20 and 1000 ms \
         (40 is usual; 20 for radio encoders' fast DTMF)",
    );
    assert_said(
        &errors,
        "error: channels[0].dtmf.min_off_ms: 10 ms is not between 15 and 1000 ms \
         (40 is usual; 20 for radio encoders' fast DTMF)",
    );
    assert_said(
        &errors,
        "error: channels[0].dtmf.twist_normal_db: 25 dB is not between 0 and 20 dB",
    );
    assert_said(
        &errors,
        "error: channels[0].dtmf.twist_reverse_db: -1 dB is not between 0 and 20 dB",
    );
    // Once each, and never in core's words.
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(!errors.iter().any(|l| l.contains("off_ms_min")));
}

#[test]
fn a_disabled_dtmf_section_is_checked_all_the_same() {
    let errors =
        errors_after(|c| c["channels"][0]["dtmf"] = json!({ "enabled": false, "min_off_ms": 5 }));
    assert_said(
        &errors,
        "error: channels[0].dtmf.min_off_ms: 5 ms is not between 15 and 1000 ms \
         (40 is usual; 20 for radio encoders' fast DTMF)",
    );
}

#[test]
fn the_dtmf_sequencers_refusal_names_sequence_timeout_ms() {
    let errors = errors_after(|c| c["channels"][0]["dtmf"] = json!({ "sequence_timeout_ms": 100 }));
    assert_said(
        &errors,
        "error: channels[0].dtmf.sequence_timeout_ms: 100 ms is not between 200 and 60000 ms",
    );
}

#[test]
fn the_radio_timers_refusals_name_the_timers_fields() {
    let errors = errors_after(|c| {
        c["channels"][1]["timers"] = json!({ "tx_delay_ms": 5000, "timeout_s": 5 })
    });
    assert_said(
        &errors,
        "error: channels[1].timers.tx_delay_ms: 5000 ms is not shorter than the 5 s time-out \
         (timers.timeout_s); the transmitter would time out before any audio",
    );
    let errors = errors_after(|c| c["channels"][0]["timers"] = json!({ "timeout_s": 0 }));
    assert_said(
        &errors,
        "error: channels[0].timers.timeout_s: is 0, which would switch off the time-out timer; \
         a stuck stream must never hold the transmitter keyed",
    );
}

#[test]
fn the_jitter_buffers_refusals_name_the_audio_fields() {
    // 64 slots of 20 ms frames hold 1280 ms: the longest delay plus two
    // frames must fit, and a stream silent for 1000 ms counts as ended.
    let errors = errors_after(|c| c["audio"]["jitter_max_ms"] = json!(1250));
    assert_said(
        &errors,
        "error: audio.jitter_max_ms: 1250 ms plus two 20 ms frames is more than the jitter \
         buffer holds at this frame length (1280 ms)",
    );
    let errors = errors_after(|c| c["audio"]["jitter_max_ms"] = json!(990));
    assert_said(
        &errors,
        "error: audio.jitter_max_ms: 990 ms plus one 20 ms frame is more than the 1000 ms \
         after which a silent stream counts as ended",
    );
}

#[test]
fn the_tone_definitions_refusals_name_the_definitions_fields() {
    let errors = errors_after(|c| c["tones"][0]["tone_a_length_ms"] = json!(0));
    assert!(
        errors
            .iter()
            .any(|l| l.starts_with("error: tones[0].tone_a_length_ms: ")),
        "{errors:?}"
    );
}
