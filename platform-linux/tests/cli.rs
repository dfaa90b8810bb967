//! The `echostream` command line, run as a real process.

mod node_process;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use node_process::{
    Running, default_config_dir, echostream, edit_config, events_of, of_type, station_1_then_talk,
    syllables, workspace_root, write_samples,
};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `config` to a file in a fresh directory and runs
/// `echostream check-config` on it.
fn check_config(config: &Value) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).expect("write config");
    echostream(&["check-config", "config.json"], dir.path())
}

/// The Pi example, a config using GPIO, a remote relay, MQTT and S3.
fn pi_config() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("config.pi.json"))
        .expect("config.pi.json at the workspace root");
    serde_json::from_str(&text).expect("config.pi.json is JSON")
}

#[test]
fn check_config_on_the_default_config_prints_ok_and_one_line_per_channel() {
    let output = echostream(&["check-config", "config.json"], &workspace_root());
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "ok");
    assert!(
        lines[1].starts_with("channel pages: file:samples/station-pages.wav (loop) → null, COR vox -40 dBFS, PTT none, 4 tone definitions"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("channel talk: file:samples/speech.wav"),
        "{out}"
    );
    assert_eq!(stderr(&output), "", "the default config draws no warning");
}

#[test]
fn the_pi_example_validates_and_shows_its_gpio_lines() {
    let output = echostream(&["check-config", "config.pi.json"], &workspace_root());
    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains(
            "channel fire-dispatch: plughw:CARD=Radio1,DEV=0 → plughw:CARD=Radio1,DEV=0, \
             COR gpio gpiochip0 line 20 active_low, PTT gpiochip0 line 21 active_high"
        ),
        "{out}"
    );
    assert!(
        out.contains("COR gpio gpiochip0 line 23 active_low, PTT gpiochip0 line 24"),
        "{out}"
    );
    assert_eq!(stderr(&output), "", "the Pi example draws no warning");
}

#[test]
fn misspelt_field_duplicate_gpio_line_and_missing_passthrough_exit_2_naming_all_three() {
    let mut config = pi_config();
    let gpio = config["channels"][1]["cor"]["gpio"]
        .as_object_mut()
        .expect("gpio COR");
    let line = gpio.remove("line").expect("line");
    gpio.insert("lnie".to_owned(), line);
    config["channels"][1]["ptt"]["line"] = json!(20);
    config["tones"][1]["passthrough"] = json!("engine-7");

    let output = check_config(&config);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "", "nothing on stdout for a bad config");
    let err = stderr(&output);
    for expected in [
        "error: channels[1].cor.gpio.lnie: unknown field `lnie`; did you mean `line`?",
        "error: channels[1].ptt.line: line 20 on gpiochip0 is already used by channels[0].cor.gpio.line",
        "error: tones[1].passthrough: no channel has id `engine-7`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn port_70000_and_port_0_are_both_named() {
    for (port, expected) in [
        (
            70000,
            "error: mqtt.port: 70000 is not a port number (1 to 65535)",
        ),
        (0, "error: mqtt.port: 0 is not a port number (1 to 65535)"),
    ] {
        let mut config = pi_config();
        config["mqtt"]["port"] = json!(port);
        let output = check_config(&config);
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    }
}

#[test]
fn plain_ws_to_a_remote_relay_exits_2_unless_insecure_plaintext_is_set() {
    let expected = "error: relay.url: ws:// sends the media key in clear; use wss://, \
                    or set relay.insecure_plaintext: true for a trusted network";
    let mut config = pi_config();
    config["relay"]["url"] = json!("ws://10.0.0.5:8080/echostream");

    let output = check_config(&config);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "", "nothing on stdout for a bad config");
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));

    // The node refuses it at start-up too, before the GPIO lines.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("plain.json"), config.to_string()).expect("write");
    let output = echostream(&["run", "--config", "plain.json"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));

    config["relay"]["insecure_plaintext"] = json!(true);
    let output = check_config(&config);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "an allowed ws:// draws no warning");
}

#[test]
fn unreadable_file_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = echostream(&["check-config", "no-such-config.json"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: cannot read config file `no-such-config.json`: "),
        "{err}"
    );
    assert!(err.contains("No such file or directory"), "{err}");

    // A directory is not a file either.
    let output = echostream(&["check-config", "."], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot read config file `.`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn invalid_json_exits_2_with_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("config.json"),
        "{\n  \"node_id\": \"a\",\n}\n",
    )
    .expect("write");
    let output = echostream(&["check-config", "config.json"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.starts_with("error: not valid JSON: "), "{err}");
    assert!(err.contains("line 3 column 1"), "{err}");
}

#[test]
fn five_problems_are_all_listed() {
    let mut config = pi_config();
    config["node_id"] = json!("station 12");
    config["audio"]["frame_ms"] = json!(30);
    config["channels"][0]["timers"]["timeout_s"] = json!(0);
    config["tones"][0]["tone_b_freq"] = json!(4200.0);
    config["s3"]["bucket"] = json!("Echo_Stream");

    let output = check_config(&config);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 5, "{err}");
    for path in [
        "node_id:",
        "audio.frame_ms:",
        "channels[0].timers.timeout_s:",
        "tones[0].tone_b_freq:",
        "s3.bucket:",
    ] {
        assert!(
            errors
                .iter()
                .any(|l| l.starts_with(&format!("error: {path}"))),
            "{path} not named in:\n{err}"
        );
    }
}

#[test]
fn warnings_are_prefixed_and_do_not_fail_the_check() {
    let mut config = pi_config();
    config["channels"][0]["input_device"] = json!("plughw:1,0");
    let output = check_config(&config);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("ok\n"));
    assert!(
        stderr(&output).starts_with(
            "warning: channels[0].input_device: `plughw:1,0` names the card by number"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_on_the_default_config_streams_until_sigterm_and_exits_0() {
    // The default config in a scratch folder, with its sample recordings.
    let dir = default_config_dir();
    let speech = echostream_sim::audio::voiced_speech_i16(48_000, 96_000);
    let speech: Vec<f32> = speech.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    for name in ["station-pages.wav", "speech.wav"] {
        echostream_sim::audio::write_wav_i16(
            &dir.path().join("samples").join(name),
            48_000,
            1,
            &speech,
        )
        .expect("write sample");
    }
    let mut node = Running::start(dir.path());
    // Both channels register with the embedded relay.
    node.wait_for("both channels registered", |seen| {
        seen.iter()
            .filter(|l| l.contains("registered as stream"))
            .count()
            == 2
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    let (status, seen) = node.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "exit 0 after SIGTERM; log: {seen:#?}"
    );
    assert!(seen.iter().any(|l| l.contains("stopping")), "{seen:#?}");
    // The `talk` channel's output file is complete and readable.
    let out = hound::WavReader::open(dir.path().join("recordings/talk-out.wav"))
        .expect("recordings/talk-out.wav is a complete WAV file");
    assert_eq!(out.spec().sample_rate, 48_000);
}

#[test]
fn a_page_and_a_dtmf_code_on_a_live_channel_are_alerted_by_name() {
    // The default config, its pages channel playing Station 1's page and
    // the digits 9 and #, then quiet.
    let dir = default_config_dir();
    let mut pages = echostream_sim::audio::Signal::new(48_000);
    pages
        .silence(300.0)
        .page(349.0, 707.3, 1_000.0, 0.0, 2_500.0, 0.3)
        .silence(500.0);
    for digit in ['9', '#'] {
        let (low, high) = echostream_sim::audio::dtmf_pair_hz(digit).expect("a digit");
        pages
            .dual_tone(f64::from(low), f64::from(high), 100.0, 0.15, 0.15)
            .silence(100.0);
    }
    // Longer than the 2 s sequence timeout before the file loops.
    pages.silence(4_000.0);
    pages
        .write_wav(&dir.path().join("samples/station-pages.wav"))
        .expect("write pages");
    let quiet = vec![0.0f32; 48_000];
    echostream_sim::audio::write_wav_i16(&dir.path().join("samples/speech.wav"), 48_000, 1, &quiet)
        .expect("write speech");
    let mut node = Running::start(dir.path());
    node.wait_for("the page, the digits and their sequence", |seen| {
        seen.iter().any(|l| l.contains("DTMF sequence"))
    });
    let (status, seen) = node.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "exit 0 after SIGTERM; log: {seen:#?}"
    );
    let alerts: Vec<_> = seen.iter().filter(|l| l.contains("ALERT")).collect();
    assert_eq!(alerts.len(), 1, "{seen:#?}");
    assert!(
        alerts[0].contains("ALERT Station 1 (fire) on pages: 349.") && alerts[0].contains("/707."),
        "{}",
        alerts[0]
    );
    let digits: Vec<_> = seen.iter().filter(|l| l.contains("DTMF ")).collect();
    assert_eq!(digits.len(), 3, "{seen:#?}");
    assert!(digits[0].contains("DTMF 9 on pages"), "{}", digits[0]);
    assert!(digits[1].contains("DTMF # on pages"), "{}", digits[1]);
    assert!(
        digits[2].contains("DTMF sequence 9# on pages"),
        "{}",
        digits[2]
    );
}

#[test]
fn a_missing_gpio_chip_stops_the_start_at_once_naming_channel_chip_and_line() {
    let started = std::time::Instant::now();
    let mut config = pi_config();
    // A chip this machine cannot have.
    config["channels"][0]["ptt"]["chip"] = json!("gpiochip77");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("pi.json"), config.to_string()).expect("write");
    let output = echostream(&["run", "--config", "pi.json"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("channels[0] `fire-dispatch`: PTT: gpiochip77 line 21"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refused within a second"
    );
    assert!(!dir.path().join("events.jsonl").exists() || !err.contains("started"));
}

#[test]
fn run_with_a_bad_config_exits_2_before_anything_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = pi_config();
    config["relay"]["url"] = json!("https://relay.example.org");
    std::fs::write(dir.path().join("bad.json"), config.to_string()).expect("write");
    let output = echostream(&["run", "--config", "bad.json"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("error: relay.url: `https://relay.example.org` is not a WebSocket URL"),
        "{err}"
    );
    assert!(!err.contains("not built yet"), "{err}");
}

#[test]
fn check_config_without_a_file_checks_the_config_flag() {
    let output = echostream(
        &["check-config", "--config", "config.pi.json"],
        &workspace_root(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("channel fireground:"));
}

#[test]
fn a_page_then_speech_is_recorded_from_the_tones_end_passed_through_and_journaled() {
    // Station 1's page (A 1 s, B 2.5 s from 0.3 s: the tones end at
    // 3.8 s), then 9 s of voice-like audio (short two-tone syllables no
    // detector takes for a page), then quiet before the file loops.
    let dir = default_config_dir();
    let mut pages = echostream_sim::audio::Signal::new(48_000);
    pages
        .silence(300.0)
        .page(349.0, 707.3, 1_000.0, 0.0, 2_500.0, 0.3);
    let syllables = [
        (310.0, 470.0),
        (530.0, 620.0),
        (280.0, 590.0),
        (500.0, 650.0),
    ];
    for i in 0..60 {
        let (low, high) = syllables[i % syllables.len()];
        pages.dual_tone(low, high, 150.0, 0.2, 0.1);
    }
    pages.silence(8_000.0);
    let source = dir.path().join("samples/station-pages.wav");
    pages.write_wav(&source).expect("write pages");
    let quiet = vec![0.0f32; 48_000];
    echostream_sim::audio::write_wav_i16(&dir.path().join("samples/speech.wav"), 48_000, 1, &quiet)
        .expect("write speech");

    let mut node = Running::start(dir.path());
    node.wait_for("the recording after the page", |seen| {
        seen.iter().any(|l| l.contains("RECORDING "))
    });
    let (status, seen) = node.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "exit 0 after SIGTERM; log: {seen:#?}"
    );

    // Every event line parses and has the common fields.
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).expect("events.jsonl");
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    for event in &events {
        for field in ["event_id", "type", "time", "node_id", "channel"] {
            assert!(event.get(field).is_some(), "{field} missing in {event}");
        }
    }
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["type"] == kind).collect() };
    let alerts = of("two_tone");
    assert_eq!(alerts.len(), 1, "{text}");
    assert_eq!(alerts[0]["tone_id"], "Station 1");
    assert!((alerts[0]["b_hz"].as_f64().unwrap() - 707.3).abs() < 2.0);
    assert!(alerts[0]["latency_ms"].as_u64().unwrap() <= 250);
    let edges: Vec<_> = of("passthrough")
        .iter()
        .map(|e| e["state"].clone())
        .collect();
    assert_eq!(edges, ["start", "end"], "{text}");
    assert_eq!(of("node").len(), 2, "start and stop: {text}");

    // One recording, of the alert, 8 s long (record_length_ms) ...
    let recordings = of("recording");
    assert_eq!(recordings.len(), 1, "{text}");
    let recording = recordings[0];
    assert_eq!(recording["alert_ids"][0], alerts[0]["event_id"]);
    assert_eq!(recording["truncated"], false);
    assert_eq!(recording["format"], "wav");
    let duration_ms = recording["duration_ms"].as_u64().unwrap();
    assert!((7_980..=8_020).contains(&duration_ms), "{recording}");
    // ... starting where the tones ended: its audio is the source's from
    // 3.8 s on (found by correlation, within the detector's ±40 ms).
    let path = dir.path().join(recording["path"].as_str().unwrap());
    let recorded: Vec<i16> = hound::WavReader::open(&path)
        .expect("a complete WAV under its final name")
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let source: Vec<i16> = hound::WavReader::open(&source)
        .unwrap()
        .into_samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    let window = &recorded[..24_000];
    let best = (170_000..196_000)
        .max_by(|&a, &b| {
            correlation(window, &source[a..]).total_cmp(&correlation(window, &source[b..]))
        })
        .unwrap();
    assert!(correlation(window, &source[best..]) > 0.99);
    let off_ms = (best as f64 - 182_400.0) / 48.0;
    assert!(
        off_ms.abs() <= 40.0,
        "recording starts {off_ms} ms from the tones' end"
    );
    // No temporary file is left.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("recordings"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Normalized cross-correlation of `a` with the start of `b`.
fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(1.0)
}

/// Writes the pages channel's audio (`build` makes it) and a silent talk
/// channel into the default config's folder.
#[test]
fn three_stacked_pages_make_one_recording_named_by_all_and_digits_are_events() {
    let dir = default_config_dir();
    write_samples(dir.path(), |pages| {
        pages.silence(300.0);
        for (a, b) in [(349.0, 707.3), (389.0, 832.5), (457.9, 1_034.7)] {
            pages.page(a, b, 1_000.0, 0.0, 2_500.0, 0.3).silence(300.0);
        }
        syllables(pages, 3_000.0);
        for digit in ['9', '#'] {
            let (low, high) = echostream_sim::audio::dtmf_pair_hz(digit).expect("a digit");
            pages
                .dual_tone(f64::from(low), f64::from(high), 100.0, 0.15, 0.15)
                .silence(100.0);
        }
        syllables(pages, 6_000.0);
        pages.silence(6_000.0);
    });
    let mut node = Running::start(dir.path());
    node.wait_for("the recording of the burst", |seen| {
        seen.iter().any(|l| l.contains("RECORDING "))
    });
    let (status, seen) = node.stop();
    assert_eq!(status.code(), Some(0), "log: {seen:#?}");
    let events = events_of(dir.path());
    let alerts: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "two_tone")
        .map(|e| e["tone_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        alerts,
        ["Station 1", "Station 2", "County EMS"],
        "{events:#?}"
    );
    let recordings = of_type(&events, "recording");
    assert_eq!(recordings.len(), 1, "{events:#?}");
    let recording = recordings[0];
    assert_eq!(
        recording["tone_ids"],
        json!(["Station 1", "Station 2", "County EMS"])
    );
    let ids: Vec<_> = of_type(&events, "two_tone")
        .iter()
        .map(|e| e["event_id"].clone())
        .collect();
    assert_eq!(recording["alert_ids"], Value::Array(ids));
    let file = recording["file"].as_str().unwrap();
    assert!(
        file.ends_with("_pages_Station-1+Station-2+County-EMS.wav"),
        "{file}"
    );
    assert!(dir.path().join("recordings").join(file).exists());
    // From the first page's tones (3.8 s) to 9 s (County EMS's length)
    // after the last page's (11.6 s): 16.8 s.
    let duration_ms = recording["duration_ms"].as_u64().unwrap();
    assert!((16_600..=17_000).contains(&duration_ms), "{recording}");
    let digits: Vec<_> = of_type(&events, "dtmf")
        .iter()
        .map(|e| e["digit"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(digits, ["9", "#"]);
    let sequences = of_type(&events, "dtmf_sequence");
    assert_eq!(sequences.len(), 1, "{events:#?}");
    assert_eq!(sequences[0]["digits"], "9#");
}

#[test]
fn an_unwritable_recordings_folder_is_an_error_event_and_alerts_still_arrive() {
    let dir = default_config_dir();
    station_1_then_talk(dir.path(), 3_000.0);
    // A file where the folder's parent should be: it can never be made.
    std::fs::write(dir.path().join("blocker"), b"not a folder").unwrap();
    edit_config(dir.path(), |c| {
        c["recordings"]["dir"] = json!("./blocker/recordings");
        c["recordings"]["spool_dir"] = json!("./blocker/spool");
    });
    let mut node = Running::start(dir.path());
    node.wait_for("the alert and the failed recording", |seen| {
        seen.iter().any(|l| l.contains("ALERT Station 1"))
            && seen.iter().any(|l| l.contains("recording failed"))
    });
    let (status, seen) = node.stop();
    assert_eq!(status.code(), Some(0), "log: {seen:#?}");
    let events = events_of(dir.path());
    assert_eq!(of_type(&events, "two_tone").len(), 1, "{events:#?}");
    let errors = of_type(&events, "error");
    assert!(
        errors.len() >= 2,
        "one at start, one for the recording: {events:#?}"
    );
    assert!(errors.iter().all(|e| e["component"] == "recorder"));
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .unwrap()
            .contains("blocker/recordings")),
        "{errors:#?}"
    );
    assert!(of_type(&events, "recording").is_empty());
}

#[test]
fn a_recording_cut_by_sigkill_is_finished_by_the_next_start_which_says_so() {
    let dir = default_config_dir();
    station_1_then_talk(dir.path(), 9_000.0);
    let mut node = Running::start(dir.path());
    node.wait_for("the alert", |seen| {
        seen.iter().any(|l| l.contains("ALERT Station 1"))
    });
    // The tones end 0.5 s after the alert; then 2.5 s of the recording.
    std::thread::sleep(std::time::Duration::from_secs(3));
    node.kill();
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir.join("recordings"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("pages"))
            .collect()
    };
    let left = names(dir.path());
    assert!(
        left.len() == 1 && left[0].starts_with('.') && left[0].ends_with(".wav.part"),
        "only a temporary file, nothing under a final name: {left:?}"
    );
    let mut node = Running::start(dir.path());
    node.wait_for("the restart saying what it did", |seen| {
        seen.iter().any(|l| l.contains("recordings: finished"))
    });
    let (status, seen) = node.stop();
    assert_eq!(status.code(), Some(0), "log: {seen:#?}");
    let said = seen
        .iter()
        .find(|l| l.contains("recordings: finished"))
        .unwrap();
    assert!(said.contains(&left[0]), "{said}");
    let finished = left[0].trim_start_matches('.').trim_end_matches(".part");
    let reader = hound::WavReader::open(dir.path().join("recordings").join(finished))
        .expect("the leftover is a complete WAV under its final name");
    let seconds = reader.duration() as f64 / 48_000.0;
    assert!((1.0..=4.0).contains(&seconds), "{seconds} s kept");
    assert!(!names(dir.path()).iter().any(|n| n.ends_with(".part")));
}

#[test]
fn sigterm_during_a_recording_finishes_it_marked_truncated() {
    let dir = default_config_dir();
    station_1_then_talk(dir.path(), 9_000.0);
    let mut node = Running::start(dir.path());
    node.wait_for("the alert", |seen| {
        seen.iter().any(|l| l.contains("ALERT Station 1"))
    });
    // The tones end 0.5 s after the alert; stop 2.5 s into the recording.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (status, seen) = node.stop();
    assert_eq!(status.code(), Some(0), "log: {seen:#?}");
    let events = events_of(dir.path());
    let recordings = of_type(&events, "recording");
    assert_eq!(recordings.len(), 1, "{events:#?}");
    let recording = recordings[0];
    assert_eq!(recording["truncated"], true, "{recording}");
    assert_eq!(recording["end_reason"], "shutdown", "{recording}");
    let duration_ms = recording["duration_ms"].as_u64().unwrap();
    assert!((1_500..=4_000).contains(&duration_ms), "{recording}");
    let path = dir.path().join(recording["path"].as_str().unwrap());
    hound::WavReader::open(&path).expect("a complete WAV under its final name");
    let parts: Vec<_> = std::fs::read_dir(dir.path().join("recordings"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
    assert_eq!(
        of_type(&events, "node").last().map(|e| e["state"].clone()),
        Some(json!("stop"))
    );
}

#[test]
fn below_min_free_mb_a_recording_is_refused_with_an_event_and_alerts_go_on() {
    let dir = default_config_dir();
    station_1_then_talk(dir.path(), 3_000.0);
    // No disk has this much free: every recording is refused.
    edit_config(dir.path(), |c| {
        c["recordings"]["min_free_mb"] = json!(1_000_000_000_000u64);
    });
    let mut node = Running::start(dir.path());
    node.wait_for("the alert and the refusal", |seen| {
        seen.iter().any(|l| l.contains("ALERT Station 1"))
            && seen.iter().any(|l| l.contains("recording refused"))
    });
    let (status, seen) = node.stop();
    assert_eq!(status.code(), Some(0), "log: {seen:#?}");
    let events = events_of(dir.path());
    assert_eq!(of_type(&events, "two_tone").len(), 1, "{events:#?}");
    let errors = of_type(&events, "error");
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("under recordings.min_free_mb"),
        "{errors:#?}"
    );
    assert!(of_type(&events, "recording").is_empty());
    let files: Vec<_> = std::fs::read_dir(dir.path().join("recordings"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pages"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

/// A config whose one channel has its COR (line 20) and PTT (line 21) on
/// the simulated chip under `gpio`.
fn sim_radio_config(dir: &Path) -> echostream::gpio::SimGpio {
    let gpio = echostream::gpio::SimGpio::new(dir.join("gpio"));
    gpio.create_chip("gpiochip0", 32).expect("chip");
    let mut config = pi_config();
    config["gpio_backend"] = json!(format!("sim:{}", dir.join("gpio").display()));
    let mut channel = config["channels"][0].clone();
    channel["cor"] =
        json!({ "gpio": { "chip": "gpiochip0", "line": 20, "polarity": "active_high" } });
    channel["ptt"] = json!({ "chip": "gpiochip0", "line": 21, "polarity": "active_high" });
    channel["id"] = json!("fire");
    config["channels"] = json!([channel]);
    config["tones"] = json!([]);
    config["long_tones"] = json!([]);
    config["hi_low"] = json!([]);
    config["pulsed"] = json!([]);
    // Everything it writes stays in the test's folder.
    config["events_file"] = json!("events.jsonl");
    config["recordings"]["dir"] = json!("recordings");
    config["recordings"]["spool_dir"] = json!("recordings/spool");
    config["outbox"]["dir"] = json!("outbox");
    std::fs::write(dir.join("radio.json"), config.to_string()).expect("write");
    gpio
}

#[test]
fn gpio_check_lists_the_lines_and_prints_cor_edges_live() {
    use echostream::gpio::{Level, LineId};
    let dir = tempfile::tempdir().expect("temp dir");
    let gpio = sim_radio_config(dir.path());
    let cor = LineId::new("gpiochip0", 20);
    gpio.set_level(&cor, Level::Low).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .args(["gpio-check", "--config", "radio.json", "--seconds", "2"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gpio-check");
    std::thread::sleep(std::time::Duration::from_millis(600));
    gpio.set_level(&cor, Level::High).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    gpio.set_level(&cor, Level::Low).unwrap();
    let output = child.wait_with_output().expect("gpio-check ends");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.contains("fire: COR gpiochip0 line 20 (ActiveHigh): idle"),
        "{out}"
    );
    assert!(
        out.contains("fire: PTT gpiochip0 line 21 (ActiveHigh): unkeyed"),
        "{out}"
    );
    let edges: Vec<_> = out
        .lines()
        .filter(|l| l.contains("fire: COR a") || l.contains("fire: COR i"))
        .collect();
    assert!(
        edges.len() == 2 && edges[0].ends_with("COR active") && edges[1].ends_with("COR idle"),
        "{out}"
    );
}

#[test]
fn gpio_check_keys_ptt_for_one_second_after_a_countdown() {
    use echostream::gpio::{Level, LineId};
    let dir = tempfile::tempdir().expect("temp dir");
    let gpio = sim_radio_config(dir.path());
    let output = echostream(
        &["gpio-check", "--config", "radio.json", "--key"],
        dir.path(),
    );
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    assert!(
        out.contains("fire: keying PTT gpiochip0 line 21 in 3…"),
        "{out}"
    );
    assert!(
        out.contains("fire: PTT KEYED") && out.contains("fire: PTT released"),
        "{out}"
    );
    let drives = gpio.drives(&LineId::new("gpiochip0", 21)).unwrap();
    let levels: Vec<_> = drives.iter().map(|d| d.level).collect();
    assert_eq!(
        levels[..3],
        [Level::Low, Level::High, Level::Low],
        "{drives:?}"
    );
    let keyed_ms = (drives[2].time_ns - drives[1].time_ns) / 1_000_000;
    assert!((950..=1_300).contains(&keyed_ms), "keyed {keyed_ms} ms");
}

#[test]
fn a_line_another_node_holds_stops_the_start_naming_it_and_keys_nothing() {
    use echostream::gpio::{Level, LineId};
    let dir = tempfile::tempdir().expect("temp dir");
    let gpio = sim_radio_config(dir.path());
    // A first node holds the lines; a second with the same config must
    // refuse, within a second, naming the line.
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("radio.json")).unwrap())
            .unwrap();
    config["relay"] = json!("embedded");
    config["channels"][0]["input_device"] = json!("file:silent.wav");
    config["channels"][0]["input_loop"] = json!(true);
    config["channels"][0]["output_device"] = json!("null");
    std::fs::write(dir.path().join("radio.json"), config.to_string()).unwrap();
    echostream_sim::audio::write_wav_i16(&dir.path().join("silent.wav"), 48_000, 1, &[0.0; 4_800])
        .unwrap();
    let mut first = Running::start_with(dir.path(), "radio.json");
    first.wait_for("the first node running", |seen| {
        seen.iter().any(|l| l.contains("channel fire started"))
    });
    let started = std::time::Instant::now();
    let output = echostream(&["run", "--config", "radio.json"], dir.path());
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("channels[0] `fire`: PTT: gpiochip0 line 21: busy"),
        "{err}"
    );
    let (status, _) = first.stop();
    assert_eq!(status.code(), Some(0));
    let drives = gpio.drives(&LineId::new("gpiochip0", 21)).unwrap();
    assert!(
        drives.iter().all(|d| d.level == Level::Low),
        "never keyed: {drives:?}"
    );
}
