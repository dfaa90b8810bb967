//! `echostream-sim try` on the shipped `config.json` and the sample it
//! plays: the alerts, DTMF, recordings and passthrough the live node
//! logs for one pass of that file, and exit status 2 for a bad config or
//! audio file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SIM: &str = env!("CARGO_BIN_EXE_echostream-sim");

/// What `echostream run --config config.json` logged for one pass of
/// `samples/station-pages.wav` (observed on the live node, ALSA file and
/// null plugins, embedded relay): these alerts, in this order, then the
/// DTMF sequence 4711#.
const LIVE_ALERTS: [&str; 4] = ["Station 1", "Station 2", "County EMS", "All Call"];

/// The live node's recordings for that pass: name suffix and length.
const LIVE_RECORDINGS: [(&str, &str); 4] = [
    ("Z_pages_Station-1.wav on pages: 8.0 s", "(Station 1)"),
    ("Z_pages_Station-2.wav on pages: 8.0 s", "(Station 2)"),
    ("Z_pages_County-EMS.wav on pages: 9.0 s", "(County EMS)"),
    ("Z_pages_All-Call.wav on pages: 8.0 s", "(All Call)"),
];

/// A folder with the shipped config and the samples it plays, as a
/// fresh checkout has after `echostream-sim samples`.
fn station(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("try-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp folder");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.json");
    std::fs::copy(&shipped, dir.join("config.json")).expect("the shipped config");
    let made = Command::new(SIM)
        .args(["samples", "--config", "config.json", "--out", "samples"])
        .current_dir(&dir)
        .output()
        .expect("echostream-sim runs");
    assert!(made.status.success(), "{}", text(&made.stderr));
    dir
}

fn try_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(SIM)
        .arg("try")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("echostream-sim runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The tone ids of the `ALERT` lines, in order.
fn alerts(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once("  ALERT ").map(|(_, rest)| rest))
        .map(|rest| rest.split(" (").next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn the_shipped_config_alerts_records_and_passes_through_as_the_live_node_does() {
    let dir = station("shipped");
    let out = try_in(
        &dir,
        &[
            "--config",
            "config.json",
            "--audio",
            "samples/station-pages.wav",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("channel pages hears 52.8 s"), "{stdout}");
    assert_eq!(alerts(&stdout), LIVE_ALERTS, "{stdout}");
    // The live node's own words for the first page.
    assert!(
        stdout.contains(
            "ALERT Station 1 (fire) on pages: 349.0/707.4 Hz, recording starts 0.0 s after \
             the tones, passthrough to talk ("
        ),
        "{stdout}"
    );
    assert!(stdout.contains("DTMF sequence 4711# on pages"), "{stdout}");
    assert!(
        stdout.contains("PASSTHROUGH pages -> talk started: 8.0 s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASSTHROUGH pages -> talk ended"),
        "{stdout}"
    );
    let recordings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("RECORDING "))
        .collect();
    assert_eq!(recordings.len(), LIVE_RECORDINGS.len(), "{stdout}");
    for (line, (name, alerts)) in recordings.iter().zip(LIVE_RECORDINGS) {
        assert!(line.starts_with("RECORDING ./recordings/"), "{line}");
        assert!(line.contains(name) && line.ends_with(alerts), "{line}");
    }
    assert!(
        stdout.contains(
            "summary: 4 alerts, 1 DTMF sequence, 4 recordings, 1 passthrough, 0 PTT keyings \
             in 52.8 s of audio"
        ),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_stereo_recording_at_another_rate_alerts_the_same() {
    let dir = station("stereo");
    let mono = hound::WavReader::open(dir.join("samples/station-pages.wav")).expect("the sample");
    let samples: Vec<i16> = mono
        .into_samples()
        .collect::<Result<_, _>>()
        .expect("16-bit");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(dir.join("stereo.wav"), spec).expect("create");
    // 48 kHz to 44.1 kHz by nearest sample: what a recorder's export might do.
    let frames = samples.len() as u64 * 44_100 / 48_000;
    for i in 0..frames {
        let s = samples[(i * 48_000 / 44_100) as usize];
        w.write_sample(s).expect("write");
        w.write_sample(s / 2).expect("write");
    }
    w.finalize().expect("finalize");
    let out = try_in(&dir, &["--audio", "stereo.wav", "--channel", "pages"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("stereo 16-bit 44100 Hz, converted to mono 16-bit 48000 Hz"),
        "{stdout}"
    );
    assert_eq!(alerts(&stdout), LIVE_ALERTS, "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_config_exits_2_naming_the_field_as_check_config_does() {
    let dir = station("bad");
    let config = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let bad = config.replacen("\"tone_b_freq\": 707.3", "\"tone_b_freq\": 9000.0", 1);
    assert_ne!(bad, config, "the shipped config has Station 1 at 707.3 Hz");
    std::fs::write(dir.join("bad.json"), bad).expect("write");
    let out = try_in(
        &dir,
        &[
            "--config",
            "bad.json",
            "--audio",
            "samples/station-pages.wav",
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: tones[0].tone_b_freq: 9000 Hz is outside"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_missing_or_unusable_audio_file_exits_2_saying_what_is_taken() {
    let dir = station("audio");
    let out = try_in(&dir, &["--audio", "samples/missing.wav"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("audio file `samples/missing.wav`: cannot read it"),
        "{stderr}"
    );

    let out = try_in(&dir, &["--audio", "config.json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a usable WAV file") && stderr.contains("mono 16-bit"),
        "{stderr}"
    );

    let out = try_in(
        &dir,
        &["--audio", "samples/station-pages.wav", "--channel", "nope"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("it has pages, talk"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
