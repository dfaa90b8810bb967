//! `echostream detect` on recordings made here: what a dispatcher checking
//! a recording would see.

use std::path::Path;
use std::process::Command;

use echostream_sim::audio::{Signal, band_noise, write_wav_f32, write_wav_i16};
use serde_json::Value;

/// (tone_id, A Hz, B Hz) of the stations in the test config.
const STATIONS: [(&str, f64, f64); 3] = [
    ("Station 1", 349.0, 600.9),
    ("Station 7", 1_122.5, 457.9),
    ("Engine 3", 288.5, 296.5),
];

fn write_config(dir: &Path) -> std::path::PathBuf {
    let tones: Vec<Value> = STATIONS
        .iter()
        .map(|(id, a, b)| {
            serde_json::json!({
                "tone_id": id, "channel": "dispatch", "alert_type": "fire",
                "tone_a_freq": a, "tone_a_range_hz": a * 0.01, "tone_a_length_ms": 800,
                "tone_b_freq": b, "tone_b_range_hz": b * 0.01, "tone_b_length_ms": 2000
            })
        })
        .collect();
    let config = serde_json::json!({
        "node_id": "test-node",
        "relay": "embedded",
        "channels": [{ "id": "dispatch", "input_device": "file:in.wav", "cor": "always", "dtmf": {} }],
        "tones": tones,
    });
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn stacked_pages(rate_hz: u32) -> Signal {
    let mut s = Signal::new(rate_hz);
    s.silence(700.0);
    for (_, a, b) in STATIONS {
        s.page(a, b, 1_000.0, 0.0, 3_000.0, 0.4).silence(1_000.0);
    }
    s
}

fn detect(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .arg("detect")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn events(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] != "summary").collect()
}

#[test]
fn three_stacked_pages_print_three_events_with_measured_frequencies() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let wav = dir.path().join("pages.wav");
    stacked_pages(16_000).write_wav(&wav).unwrap();
    let (code, lines, stderr) =
        detect(&[wav.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let events = events(&lines);
    assert_eq!(events.len(), 3, "{lines:#?}");
    for (event, (id, a, b)) in events.iter().zip(STATIONS) {
        assert_eq!(event["type"], "two_tone");
        assert_eq!(event["tone_id"], id);
        assert_eq!(event["alert_type"], "fire");
        let (ma, mb) = (
            event["a_hz"].as_f64().unwrap(),
            event["b_hz"].as_f64().unwrap(),
        );
        assert!(
            (ma - a).abs() < a * 0.005 && (mb - b).abs() < b * 0.005,
            "{id}: measured {ma}/{mb}"
        );
        assert!(event["latency_ms"].as_u64().unwrap() <= 250);
    }
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["events"], 3);
    assert!((summary["audio_s"].as_f64().unwrap() - 15.7).abs() < 0.01);
}

#[test]
fn a_recording_without_tones_prints_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let wav = dir.path().join("quiet.wav");
    let mut s = Signal::new(8_000);
    s.silence(2_000.0);
    s.samples.extend(band_noise(8_000 * 20, 8_000, 0.01, 5));
    s.write_wav(&wav).unwrap();
    for args in [
        vec![wav.to_str().unwrap(), "--config", config.to_str().unwrap()],
        vec![wav.to_str().unwrap()],
    ] {
        let (code, lines, stderr) = detect(&args);
        assert_eq!(code, 0, "{stderr}");
        assert!(events(&lines).is_empty(), "{lines:#?}");
        assert_eq!(lines.last().unwrap()["events"], 0);
    }
}

#[test]
fn without_a_config_it_finds_unknown_pairs_and_digits() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("finder.wav");
    let mut s = stacked_pages(8_000);
    for digit in ['4', '1', '1'] {
        let (low, high) = echostream_sim::audio::dtmf_pair_hz(digit).unwrap();
        s.dual_tone(low as f64, high as f64, 80.0, 0.2, 0.2)
            .silence(80.0);
    }
    s.silence(500.0);
    s.write_wav(&wav).unwrap();
    let (code, lines, stderr) = detect(&[wav.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let pairs: Vec<(f64, f64)> = events(&lines)
        .iter()
        .filter(|e| e["type"] == "two_tone")
        .map(|e| {
            assert!(e["tone_id"].is_null(), "the finder names no station");
            (e["a_hz"].as_f64().unwrap(), e["b_hz"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(pairs.len(), 3, "{lines:#?}");
    for ((a, b), (_, ea, eb)) in pairs.iter().zip(STATIONS) {
        assert!(
            (a - ea).abs() < 1.0 && (b - eb).abs() < 1.0,
            "{a}/{b} vs {ea}/{eb}"
        );
    }
    let digits: String = events(&lines)
        .iter()
        .filter(|e| e["type"] == "dtmf")
        .map(|e| e["digit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(digits, "411");
}

#[test]
fn stereo_float_and_16_bit_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let wav = dir.path().join("stereo.wav");
    let mono = stacked_pages(44_100);
    let stereo: Vec<f32> = mono.samples.iter().flat_map(|&s| [s, s * 0.5]).collect();
    write_wav_f32(&wav, 44_100, 2, &stereo).unwrap();
    let (code, lines, stderr) = detect(&[wav.to_str().unwrap(), "-c", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events(&lines).len(), 3, "{lines:#?}");
    assert_eq!(lines.last().unwrap()["channels"], 2);

    // 16-bit stereo takes the bulk path; one channel silent.
    let pcm = dir.path().join("stereo16.wav");
    let mono = stacked_pages(16_000);
    let stereo: Vec<f32> = mono.samples.iter().flat_map(|&s| [0.0, s]).collect();
    write_wav_i16(&pcm, 16_000, 2, &stereo).unwrap();
    let (code, lines, stderr) = detect(&[pcm.to_str().unwrap(), "-c", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(events(&lines).len(), 3, "{lines:#?}");
    assert!((lines.last().unwrap()["audio_s"].as_f64().unwrap() - 15.7).abs() < 0.01);
}

#[test]
fn unusable_recordings_exit_2_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let fast = dir.path().join("fast.wav");
    Signal::new(96_000).silence(100.0).write_wav(&fast).unwrap();
    let (code, _, stderr) = detect(&[fast.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("96000 Hz") && stderr.contains("sox"),
        "{stderr}"
    );

    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "not audio").unwrap();
    let (code, _, stderr) = detect(&[text.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read") && stderr.contains("notes.wav"),
        "{stderr}"
    );

    let missing = dir.path().join("missing.wav");
    let (code, _, stderr) = detect(&[missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_channel_that_does_not_exist_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let wav = dir.path().join("x.wav");
    Signal::new(8_000).silence(100.0).write_wav(&wav).unwrap();
    let (code, _, stderr) = detect(&[
        wav.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--channel",
        "nope",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no channel `nope`"), "{stderr}");
}

#[test]
fn several_files_in_one_run_each_get_their_events_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let pages = dir.path().join("pages.wav");
    stacked_pages(16_000).write_wav(&pages).unwrap();
    let quiet = dir.path().join("quiet.wav");
    let mut s = Signal::new(8_000);
    s.samples.extend(band_noise(8_000 * 5, 8_000, 0.01, 7));
    s.write_wav(&quiet).unwrap();
    let missing = dir.path().join("missing.wav");
    let (code, lines, stderr) = detect(&[
        pages.to_str().unwrap(),
        missing.to_str().unwrap(),
        quiet.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    // The unusable file is named and fails the run; the others still ran.
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.wav"), "{stderr}");
    let summaries: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["type"] == "summary")
        .collect();
    assert_eq!(summaries.len(), 2, "{lines:#?}");
    // Each file's events come before its own summary line.
    let (first, second) = (&lines[summaries[0]], &lines[summaries[1]]);
    assert_eq!(first["file"], pages.to_str().unwrap());
    assert_eq!(first["events"], 3);
    assert_eq!(summaries[0], 3, "three events, then the first summary");
    assert!(lines[..3].iter().all(|e| e["type"] == "two_tone"));
    assert_eq!(second["file"], quiet.to_str().unwrap());
    assert_eq!(second["events"], 0);
    assert_eq!(summaries[1], summaries[0] + 1);
    for summary in [first, second] {
        let cpu_s = summary["cpu_s"].as_f64().unwrap();
        let elapsed_s = summary["elapsed_s"].as_f64().unwrap();
        assert!(cpu_s > 0.0 && cpu_s < 5.0, "{summary}");
        // CPU of one thread cannot much exceed its wall time.
        assert!(cpu_s <= elapsed_s + 0.01, "{summary}");
    }
}

#[test]
fn the_same_file_twice_gives_the_same_events_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let pages = dir.path().join("pages.wav");
    stacked_pages(8_000).write_wav(&pages).unwrap();
    let path = pages.to_str().unwrap();
    let (code, lines, stderr) = detect(&[path, path, "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let per_file: Vec<&[Value]> = lines.split(|l| l["type"] == "summary").collect();
    assert_eq!(per_file.len(), 3, "two files and nothing after: {lines:#?}");
    assert_eq!(per_file[0].len(), 3);
    // Every file starts afresh: nothing carries over from the first.
    assert_eq!(per_file[0], per_file[1]);
    assert!(per_file[2].is_empty());
}
