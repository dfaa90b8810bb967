//! `echostream detect` on pulsed alerts and hi-low warbles: a pulsed
//! definition alerts once per burst with its pulse count and cadence, and
//! without a config the tone finder reports warbles and pulsed tones with
//! what a user needs to write their definitions, and nothing of the kind
//! for speech or a two-tone page.

use std::path::{Path, PathBuf};
use std::process::Command;

use echostream_sim::audio::{Signal, noise_power_for_snr, voiced_speech_i16};
use serde_json::Value;

/// The recording's pulsed alert: 1010.6 Hz, 0.3 s on / 0.2 s off.
const PULSED_HZ: f64 = 1_010.6;

fn pulses(s: &mut Signal, hz: f64, on_ms: f64, off_ms: f64, count: u32) {
    for _ in 0..count {
        s.tone(hz, on_ms, 0.4).silence(off_ms);
    }
}

fn warble(s: &mut Signal, a: f64, b: f64, step_ms: f64, steps: u32) {
    for i in 0..steps {
        s.tone(if i % 2 == 0 { a } else { b }, step_ms, 0.4);
    }
}

fn write_config(dir: &Path) -> PathBuf {
    let config = serde_json::json!({
        "node_id": "test-node",
        "relay": "embedded",
        "channels": [{ "id": "dispatch", "input_device": "file:in.wav", "cor": "always" }],
        "pulsed": [{
            "tone_id": "Pulsed 1010", "channel": "dispatch", "alert_type": "fire",
            "freq_hz": PULSED_HZ, "range_hz": 10.0,
            "on_ms": 300, "off_ms": 200, "min_pulses": 6, "ignore_after_ms": 2000
        }],
    });
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn echostream(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The events `detect` prints for `wav` (the summary line left out).
fn detect(wav: &Path, config: Option<&Path>) -> Vec<Value> {
    let mut args = vec!["detect", wav.to_str().unwrap()];
    if let Some(config) = config {
        args.extend(["--config", config.to_str().unwrap()]);
    }
    let (code, stdout, stderr) = echostream(&args);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every line is JSON"))
        .filter(|l| l["type"] != "summary")
        .collect()
}

fn number(event: &Value, field: &str) -> f64 {
    event[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no {field}: {event}"))
}

#[test]
fn a_pulsed_definition_alerts_once_per_burst_with_its_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (code, stdout, stderr) = echostream(&["check-config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("1 tone definition"), "{stdout}");

    let wav = dir.path().join("pulsed.wav");
    let mut s = Signal::new(16_000);
    s.silence(800.0);
    pulses(&mut s, PULSED_HZ, 300.0, 200.0, 8);
    s.silence(3_000.0);
    pulses(&mut s, PULSED_HZ, 300.0, 200.0, 8);
    s.silence(1_000.0);
    s.add_band_noise(noise_power_for_snr(0.4, 10.0), 31);
    s.write_wav(&wav).unwrap();

    let events = detect(&wav, Some(&config));
    assert_eq!(events.len(), 2, "{events:#?}");
    for (e, burst_s) in events.iter().zip([0.8, 7.8]) {
        assert_eq!(e["type"], "pulsed", "{e}");
        assert_eq!(e["tone_id"], "Pulsed 1010");
        assert_eq!(e["alert_type"], "fire");
        assert!((number(e, "hz") - PULSED_HZ).abs() < 1.0, "{e}");
        assert_eq!(e["pulses"], 6, "{e}");
        assert!((number(e, "on_ms") - 300.0).abs() <= 40.0, "{e}");
        assert!((number(e, "off_ms") - 200.0).abs() <= 40.0, "{e}");
        assert!((number(e, "start_s") - burst_s).abs() <= 0.05, "{e}");
    }
}

#[test]
fn a_bad_pulsed_definition_is_named_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path());
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["pulsed"][0]["on_range_ms"] = 300.into();
    config["pulsed"][0]["min_pulses"] = 1.into();
    std::fs::write(&path, config.to_string()).unwrap();
    let (code, stdout, stderr) = echostream(&["check-config", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("pulsed[0].on_range_ms"), "{said}");
    assert!(said.contains("pulsed[0].min_pulses"), "{said}");
}

#[test]
fn without_a_config_the_finder_reports_warbles_and_pulsed_tones() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("finder.wav");
    let mut s = Signal::new(8_000);
    s.silence(600.0);
    warble(&mut s, 950.0, 1_270.0, 200.0, 24);
    s.silence(2_000.0);
    warble(&mut s, 807.0, 1_506.0, 250.0, 20);
    s.silence(2_000.0);
    pulses(&mut s, PULSED_HZ, 300.0, 200.0, 8);
    s.silence(2_000.0);
    s.add_band_noise(noise_power_for_snr(0.4, 15.0), 7);
    s.write_wav(&wav).unwrap();

    let events = detect(&wav, None);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["hi_low", "hi_low", "pulsed"], "{events:#?}");
    assert!(events.iter().all(|e| e["tone_id"].is_null()));
    for (e, (a, b, step)) in events
        .iter()
        .zip([(950.0, 1_270.0, 200.0), (807.0, 1_506.0, 250.0)])
    {
        assert!((number(e, "a_hz") - a).abs() < 1.0, "{e}");
        assert!((number(e, "b_hz") - b).abs() < 1.0, "{e}");
        assert!((number(e, "tone_ms") - step).abs() <= 40.0, "{e}");
        assert!(number(e, "alternations") >= 4.0, "{e}");
    }
    let p = &events[2];
    assert!((number(p, "hz") - PULSED_HZ).abs() < 1.0, "{p}");
    assert!((number(p, "on_ms") - 300.0).abs() <= 40.0, "{p}");
    assert!((number(p, "off_ms") - 200.0).abs() <= 40.0, "{p}");
    assert!(number(p, "pulses") >= 6.0, "{p}");
}

#[test]
fn the_finder_makes_no_warble_or_pulsed_tone_of_speech_or_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech-and-page.wav");
    let rate = 16_000;
    let mut s = Signal::new(rate);
    let speech: Vec<f32> = voiced_speech_i16(rate, rate as usize * 60)
        .iter()
        .map(|&x| f32::from(x) / 32_768.0)
        .collect();
    s.samples.extend(&speech);
    s.silence(500.0)
        .page(349.0, 600.9, 1_000.0, 0.0, 3_000.0, 0.4)
        .silence(500.0);
    s.samples.extend(&speech[..rate as usize * 10]);
    s.write_wav(&wav).unwrap();

    let events = detect(&wav, None);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["two_tone"], "{events:#?}");
}
