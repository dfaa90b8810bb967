//! ALSA's `file` plugin records exactly what the playback thread wrote.
//!
//! alsa-lib reads `$HOME/.asoundrc` once per process, so the playback runs
//! in a child process (this test binary again, selected by an env var)
//! with `HOME` set to a temp dir holding an asoundrc that defines
//! `pcm.rec` as the `file` plugin over `null`, and `pcm.rec2` as the same
//! over a two-channel device (two `null`s joined by the `multi` plugin),
//! which refuses mono: the sink opens it with 2 channels and copies each
//! frame to both.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use echostream::audio::{
    self, AlsaSink, Block, Counters, RtSettings, StreamParams, spawn_playback,
};
use echostream_core::time::SampleIndex;

const PARAMS: StreamParams = StreamParams {
    rate_hz: 48_000,
    period_frames: 240,
    buffer_periods: 3,
};

/// Periods of test signal: 100 ms.
const SIGNAL_PERIODS: usize = 20;

/// Env var naming the PCM the child plays to.
const CHILD: &str = "ECHOSTREAM_AUDIO_FILE_PLUGIN_CHILD";

/// A 1 kHz sine with a DC offset: never zero, so it stands out from the
/// silence the thread plays around it.
fn signal() -> Vec<i16> {
    (0..SIGNAL_PERIODS * PARAMS.period_frames)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * 1_000.0 * n as f64 / 48_000.0;
            (8_000.0 + 12_000.0 * phase.sin()).round() as i16
        })
        .collect()
}

/// Child half: plays the signal, then some silence, through the playback
/// thread on the PCM named by [`CHILD`].
#[test]
fn file_plugin_child() {
    let Some(pcm) = std::env::var_os(CHILD) else {
        return;
    };
    let pcm = pcm.to_str().expect("PCM name is UTF-8");
    let sink = AlsaSink::open(pcm, PARAMS).expect("the PCM from the test's asoundrc opens");
    println!("CHANNELS={}", sink.channels());
    let (mut tx, rx) = audio::block_ring();
    let signal = signal();
    for (i, period) in signal.chunks(PARAMS.period_frames).enumerate() {
        let index = SampleIndex((i * PARAMS.period_frames) as u64);
        tx.push(Block::from_frames(index, period))
            .expect("the ring holds the whole signal");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Counters::new();
    let thread = spawn_playback("rec", sink, rx, stop, counters.clone(), RtSettings::NORMAL)
        .expect("playback starts");
    let deadline = Instant::now() + Duration::from_secs(5);
    // The signal, then a few periods of silence after it.
    while counters.snapshot().periods < SIGNAL_PERIODS as u64 + 5 {
        assert!(
            Instant::now() < deadline,
            "playback stalled: {:?}",
            counters.snapshot()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    thread.stop().expect("playback ends cleanly");
    eprintln!("child counters: {:?}", counters.snapshot());
    println!("CHILD-OK");
}

#[test]
fn file_plugin_records_exactly_what_playback_wrote() {
    let dir = tempfile::tempdir().expect("temp dir");
    let recorded = play_in_child(dir.path(), "rec", 1);
    check_recording(&recorded);
}

#[test]
fn a_device_refusing_mono_gets_every_frame_on_both_channels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let interleaved = play_in_child(dir.path(), "rec2", 2);
    assert_eq!(interleaved.len() % 2, 0);
    let left: Vec<i16> = interleaved.iter().step_by(2).copied().collect();
    let right: Vec<i16> = interleaved.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(left, right, "both channels carry the mono signal");
    check_recording(&left);
}

/// Writes the asoundrc into `home`, runs [`file_plugin_child`] on `pcm`
/// with `HOME=home`, checks it opened `channels` channels, and returns the
/// samples the file plugin wrote (interleaved).
fn play_in_child(home: &Path, pcm: &str, channels: usize) -> Vec<i16> {
    let raw = home.join("out.raw");
    write_asoundrc(home, &raw);
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "file_plugin_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, pcm)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("CHILD-OK"),
        "child failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("CHANNELS={channels}")),
        "opened with {channels} channels:\n{stdout}"
    );
    let bytes = std::fs::read(&raw).expect("the file plugin wrote out.raw");
    assert_eq!(bytes.len() % 2, 0);
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The recording is whole periods of silence, the signal sample for
/// sample, then whole periods of silence.
fn check_recording(recorded: &[i16]) {
    let signal = signal();
    let start = recorded
        .iter()
        .position(|&s| s != 0)
        .expect("the signal was recorded");
    eprintln!(
        "recorded {} frames, signal at frame {start}, {} frames after it",
        recorded.len(),
        recorded.len().saturating_sub(start + signal.len())
    );
    assert_eq!(
        start % PARAMS.period_frames,
        0,
        "whole periods of silence before"
    );
    assert!(
        recorded.len() >= start + signal.len(),
        "the whole signal was recorded"
    );
    assert!(
        recorded[start..start + signal.len()] == signal[..],
        "the recording is the signal, sample for sample"
    );
    assert!(
        recorded[start + signal.len()..].iter().all(|&s| s == 0),
        "only silence after the signal"
    );
    assert_eq!(recorded.len() % PARAMS.period_frames, 0, "whole periods");
}

fn write_asoundrc(home: &Path, raw: &Path) {
    let raw = raw.display();
    let text = format!(
        r#"pcm.rec {{
  type file
  slave.pcm "null"
  file "{raw}"
  format "raw"
}}
pcm.stereo_only {{
  type multi
  slaves.a.pcm "null"
  slaves.a.channels 1
  slaves.b.pcm "null"
  slaves.b.channels 1
  bindings.0 {{ slave a; channel 0; }}
  bindings.1 {{ slave b; channel 0; }}
}}
pcm.rec2 {{
  type file
  slave.pcm "stereo_only"
  file "{raw}"
  format "raw"
}}
"#
    );
    std::fs::write(home.join(".asoundrc"), text).expect("write asoundrc");
}
