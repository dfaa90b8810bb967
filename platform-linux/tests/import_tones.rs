//! `echostream import-tones`, run as a real process on tones.cfg files
//! written the way TwoToneDetect writes them: what a department moving its
//! tone sets over would see.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use echostream_sim::audio::Signal;
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("platform-linux sits in the workspace")
        .to_owned()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/twotonedetect")
        .join(name)
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

fn echostream(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_echostream"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("echostream runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8")
}

/// A scratch folder holding a copy of the shipped config.json.
fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        workspace_root().join("config.json"),
        dir.path().join("config.json"),
    )
    .expect("copy config.json");
    std::fs::create_dir(dir.path().join("samples")).expect("samples folder");
    dir
}

#[test]
fn imported_into_config_json_the_result_passes_check_config_and_hears_the_pages() {
    let dir = config_dir();
    let before = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let out = echostream(
        &[
            "import-tones",
            &fixture("tones.cfg"),
            "--channel",
            "pages",
            "--into",
            "config.json",
        ],
        dir.path(),
    );
    let report = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(out.stdout.is_empty(), "the definitions went into the file");
    assert!(
        report.contains(
            "7 definitions on channel `pages` (5 two-tone, 2 long tone), added to config.json"
        ),
        "{report}"
    );

    // Everything that was in the file is still there, in its order and
    // formatting: the file up to the end of its last tone definition is
    // unchanged, and so is everything after the new ones.
    let after = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let old_tones_end = before
        .find("\"channel\": \"pages\"\n    }\n  ],\n  \"long_tones\"")
        .unwrap()
        + "\"channel\": \"pages\"\n    }".len();
    assert_eq!(after[..old_tones_end], before[..old_tones_end]);
    let tail = &before[before.find("\n  \"recordings\"").unwrap()..];
    assert!(after.ends_with(tail), "{after}");
    let (old, new): (Value, Value) = (
        serde_json::from_str(&before).unwrap(),
        serde_json::from_str(&after).unwrap(),
    );
    for (key, value) in old.as_object().unwrap() {
        if key != "tones" && key != "long_tones" {
            assert_eq!(&new[key], value, "{key}");
        }
    }
    let ids = |key: &str| -> Vec<String> {
        new[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["tone_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("tones"),
        [
            "Station 1",
            "Station 2",
            "County EMS",
            "Maple Grove Fire",
            "Cedar Hollow Vol. Fire Co.",
            "Birch Creek EMS",
            "Lakeside Rescue",
            "Pine Ridge Fire-EMS 'Station 6'"
        ]
    );
    assert_eq!(
        ids("long_tones"),
        ["All Call", "Birch Creek EMS long", "County All Call"]
    );

    let check = echostream(&["check-config", "config.json"], dir.path());
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("ok\n"));

    // A Lakeside Rescue page (A 1 s, B 3 s, as Quick Call II sends it),
    // then the county all-call held for 9 s.
    let wav = dir.path().join("pages.wav");
    let mut signal = Signal::new(16_000);
    signal
        .silence(700.0)
        .page(870.2, 1_488.9, 1_000.0, 0.0, 3_000.0, 0.4)
        .silence(1_500.0)
        .tone(1_642.5, 9_000.0, 0.4)
        .silence(1_000.0);
    signal.write_wav(&wav).unwrap();
    let detect = echostream(
        &["detect", "pages.wav", "--config", "config.json"],
        dir.path(),
    );
    assert_eq!(detect.status.code(), Some(0), "{}", stderr(&detect));
    let events: Vec<Value> = String::from_utf8(detect.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .filter(|e: &Value| e["type"] != "summary")
        .collect();
    let heard: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["tone_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        heard,
        [
            ("two_tone", "Lakeside Rescue"),
            ("long_tone", "County All Call")
        ],
        "{events:#?}"
    );
}

#[test]
fn without_into_the_definitions_are_printed_and_the_report_says_what_to_use_instead() {
    let dir = tempfile::tempdir().unwrap();
    let out = echostream(
        &[
            "import-tones",
            &fixture("tones.cfg"),
            "--channel",
            "dispatch",
        ],
        dir.path(),
    );
    let report = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(printed["tones"].as_array().unwrap().len(), 5);
    assert_eq!(printed["long_tones"].as_array().unwrap().len(), 2);
    let cedar = &printed["tones"][1];
    assert_eq!(cedar["tone_id"], "Cedar Hollow Vol. Fire Co.");
    assert_eq!(cedar["channel"], "dispatch");
    assert_eq!(cedar["tone_a_length_ms"], 800);
    assert_eq!(cedar["tone_b_length_ms"], 1500);
    assert_eq!(cedar["tone_a_range_hz"], 9.3);
    assert_eq!(cedar["max_gap_ms"], 250);
    assert!(
        cedar.get("ignore_after_ms").is_none(),
        "empty: EchoStream's default"
    );

    for said in [
        "[Birch Creek EMS] long tone `Birch Creek EMS long`: 1875 Hz",
        "[Old Mill Station] skipped: no tones",
        "no equivalent (see below): mp3_emails, text_emails, alert_command, playback_during_record, radio_frequency",
        "EchoStream sends no e-mail",
        "JSON on standard input",
        "      [Maple Grove Fire] python3 /home/pi/ttd/siren.py [d]",
        "      [Lakeside Rescue] /opt/ttd/upload.sh [mp3] [d]",
    ] {
        assert!(report.contains(said), "{said:?} not in:\n{report}");
    }
    for secret in ["@", "axq81kfz0example", "o.pbexample"] {
        assert!(
            !report.contains(secret),
            "{secret:?} repeated in:\n{report}"
        );
    }
}

#[test]
fn malformed_values_exit_2_each_named_by_file_section_and_key_and_nothing_is_written() {
    let dir = config_dir();
    let before = std::fs::read(dir.path().join("config.json")).unwrap();
    let file = fixture("tones-malformed.cfg");
    let out = echostream(
        &[
            "import-tones",
            &file,
            "--channel",
            "pages",
            "--into",
            "config.json",
        ],
        dir.path(),
    );
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    let expected = [
        format!("error: {file}:5: [Harbor Point Fire] atone: `35O.5` is not a number"),
        format!("error: {file}:14: [Willow Bend] btonelength: -0.8 is negative"),
        format!("error: {file}:15: [Willow Bend] tone_tolerance: 0.75 is more than 0.5"),
        format!("error: {file}:20: [Granite Falls] `longtonelength 6` is not `key = value`"),
        format!("error: {file}:21: [Granite Falls] record_seconds: `forty` is not a number"),
    ];
    let lines: Vec<&str> = said.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), expected.len(), "{said}");
    for (line, expected) in lines.iter().zip(&expected) {
        assert!(
            line.starts_with(expected.as_str()),
            "{line:?}\nwanted {expected:?}"
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("config.json")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no file left behind"
    );
}

#[test]
fn a_second_import_is_refused_naming_the_tone_ids_and_a_wrong_channel_is_named() {
    let dir = config_dir();
    let args = |channel: &'static str| {
        [
            "import-tones".to_owned(),
            fixture("tones.cfg"),
            "--channel".to_owned(),
            channel.to_owned(),
            "--into".to_owned(),
            "config.json".to_owned(),
        ]
    };
    let run = |channel| {
        let args = args(channel);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        echostream(&args, dir.path())
    };

    let wrong = run("fire-main");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("`config.json` has no channel `fire-main` (channels: pages, talk)"),
        "{}",
        stderr(&wrong)
    );

    assert_eq!(run("pages").status.code(), Some(0));
    let once = std::fs::read(dir.path().join("config.json")).unwrap();
    let again = run("pages");
    let said = stderr(&again);
    assert_eq!(again.status.code(), Some(2), "{said}");
    assert!(
        said.contains(
            "[Lakeside Rescue] description: tone_id `Lakeside Rescue` is taken: tones[6]"
        ),
        "{said}"
    );
    assert_eq!(std::fs::read(dir.path().join("config.json")).unwrap(), once);
}

#[test]
fn into_a_config_with_one_channel_that_channel_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"{
    "node_id": "station-9",
    "relay": "embedded",
    "channels": [
        { "id": "county", "input_device": "null", "cor": "always" }
    ]
}
"#;
    std::fs::write(dir.path().join("site.json"), config).unwrap();
    let out = echostream(
        &["import-tones", &fixture("tones.cfg"), "--into", "site.json"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = std::fs::read_to_string(dir.path().join("site.json")).unwrap();
    assert!(
        after.starts_with(config.trim_end_matches("\n}\n")),
        "{after}"
    );
    // Indented like the file's own members: four spaces, then eight.
    assert!(
        after.contains(
            "\n    \"tones\": [\n        {\n            \"tone_id\": \"Maple Grove Fire\","
        ),
        "{after}"
    );
    let check = echostream(&["check-config", "site.json"], dir.path());
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn into_a_config_with_pulsed_definitions_they_are_kept_and_their_tone_ids_taken() {
    let dir = tempfile::tempdir().unwrap();
    let config = |pulsed_id: &str| {
        format!(
            r#"{{
    "node_id": "station-9",
    "relay": "embedded",
    "channels": [
        {{ "id": "county", "input_device": "null", "cor": "always" }}
    ],
    "pulsed": [
        {{ "tone_id": "{pulsed_id}", "channel": "county", "freq_hz": 1010.6,
          "range_hz": 10.0, "on_ms": 300, "off_ms": 200, "min_pulses": 6 }}
    ]
}}
"#
        )
    };
    // A pulsed alert already named like a tone set: the import is refused
    // and names it.
    std::fs::write(dir.path().join("site.json"), config("Lakeside Rescue")).unwrap();
    let clash = echostream(
        &["import-tones", &fixture("tones.cfg"), "--into", "site.json"],
        dir.path(),
    );
    let said = stderr(&clash);
    assert_eq!(clash.status.code(), Some(2), "{said}");
    assert!(
        said.contains("tone_id `Lakeside Rescue` is taken: pulsed[0]"),
        "{said}"
    );

    // Named otherwise: the sets join it, it stays, and the file checks.
    std::fs::write(dir.path().join("site.json"), config("County pulsed")).unwrap();
    let out = echostream(
        &["import-tones", &fixture("tones.cfg"), "--into", "site.json"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("site.json")).unwrap())
            .unwrap();
    assert_eq!(after["pulsed"][0]["tone_id"], "County pulsed");
    assert!(!after["tones"].as_array().unwrap().is_empty());
    let check = echostream(&["check-config", "site.json"], dir.path());
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}
