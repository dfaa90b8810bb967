//! The audio threads on ALSA's `null` device: open, stream in real time
//! through the rings, stop cleanly; and a refused realtime promotion only
//! warns.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use echostream::audio::{
    self, AlsaSink, AlsaSource, Block, Counters, RtSettings, StreamParams, spawn_capture,
    spawn_playback,
};

/// 48 kHz, 5 ms periods, 3 periods of buffer: the defaults.
const PARAMS: StreamParams = StreamParams {
    rate_hz: 48_000,
    period_frames: 240,
    buffer_periods: 3,
};

/// Starts capture and playback on `null`, moves captured blocks to
/// playback for `run`, stops both; returns (capture, playback) counters
/// and how long stopping took.
fn stream_null(
    run: Duration,
    rt: RtSettings,
) -> (
    audio::CounterValues,
    audio::CounterValues,
    Duration,
    Vec<String>,
) {
    let source = AlsaSource::open("null", PARAMS).expect("null opens for capture");
    let sink = AlsaSink::open("null", PARAMS).expect("null opens for playback");
    assert_eq!(source.channels(), 1);
    let (capture_tx, mut capture_rx) = audio::block_ring();
    let (mut playback_tx, playback_rx) = audio::block_ring();
    let stop = Arc::new(AtomicBool::new(false));
    let capture = spawn_capture(
        "test",
        source,
        capture_tx,
        stop.clone(),
        Counters::new(),
        rt,
    )
    .expect("capture thread starts");
    let playback = spawn_playback("test", sink, playback_rx, stop.clone(), Counters::new(), rt)
        .expect("playback thread starts");
    assert_eq!(capture.name(), "capture-test");
    assert_eq!(playback.name(), "playback-test");
    let mut warnings = capture.rt_status().warnings.clone();
    warnings.extend(playback.rt_status().warnings.iter().cloned());

    let start = Instant::now();
    let mut next_index = 0;
    while start.elapsed() < run {
        while let Ok(block) = capture_rx.pop() {
            assert_eq!(block.len(), PARAMS.period_frames);
            assert_eq!(block.index.0, next_index, "capture indices are contiguous");
            next_index += block.len() as u64;
            let _ = playback_tx.push(block);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let capture_counters = capture.counters().clone();
    let playback_counters = playback.counters().clone();
    let stopping = Instant::now();
    capture.stop().expect("capture ends cleanly");
    playback.stop().expect("playback ends cleanly");
    let stop_time = stopping.elapsed();
    (
        capture_counters.snapshot(),
        playback_counters.snapshot(),
        stop_time,
        warnings,
    )
}

#[test]
fn null_device_streams_in_real_time_and_stops() {
    let run = Duration::from_millis(300);
    let (capture, playback, stop_time, _) = stream_null(run, RtSettings::NORMAL);
    let expected = 300 / 5;
    eprintln!("null 300 ms: capture {capture:?}, playback {playback:?}, stopped in {stop_time:?}");
    for (what, counters) in [("capture", capture), ("playback", playback)] {
        let periods = counters.periods as f64;
        assert!(
            (expected as f64 * 0.7..=expected as f64 * 1.3).contains(&periods),
            "{what}: {periods} periods in 300 ms, expected about {expected}"
        );
        assert_eq!(counters.xruns, 0, "{what}: no xruns on null");
    }
    assert_eq!(
        capture.ring_full_drops, 0,
        "the test drains the capture ring"
    );
    assert!(
        stop_time < Duration::from_millis(500),
        "stop took {stop_time:?}"
    );
}

#[test]
fn bad_parameters_and_unknown_pcms_are_errors() {
    let params = StreamParams {
        rate_hz: 48_000,
        period_frames: 0,
        buffer_periods: 3,
    };
    let err = AlsaSource::open("null", params).expect_err("zero period refused");
    assert!(err.to_string().contains("period"), "{err}");
    let err = AlsaSink::open("no-such-pcm-xyz", PARAMS).expect_err("unknown PCM refused");
    assert!(err.to_string().contains("no-such-pcm-xyz"), "{err}");
}

/// Env var selecting the child half of [`refused_realtime_only_warns`].
const CHILD: &str = "ECHOSTREAM_AUDIO_RT_CHILD";

/// Child process: drop the right to SCHED_FIFO (RLIMIT_RTPRIO 0, and no
/// root), then ask for priority 70 and memory locking.
#[test]
fn rt_refused_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on this (single-purpose child) process with
    // valid arguments.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_RTPRIO, &zero), 0);
        assert_eq!(libc::setrlimit(libc::RLIMIT_MEMLOCK, &zero), 0);
        if libc::geteuid() == 0 {
            assert_eq!(libc::setgid(65_534), 0);
            assert_eq!(libc::setuid(65_534), 0);
        }
    }
    let rt = RtSettings {
        priority: 70,
        lock_memory: true,
    };
    let (capture, playback, _, warnings) = stream_null(Duration::from_millis(200), rt);
    eprintln!("warnings: {warnings:#?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("SCHED_FIFO priority 70 refused")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("mlockall refused")),
        "{warnings:?}"
    );
    assert!(capture.periods >= 20, "capture ran: {capture:?}");
    assert!(playback.periods >= 20, "playback ran: {playback:?}");
    println!("CHILD-OK");
}

#[test]
fn refused_realtime_only_warns() {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "rt_refused_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("CHILD-OK"),
        "child failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn block_holds_a_period() {
    let block = Block::from_frames(echostream_core::time::SampleIndex(480), &[1, 2, 3]);
    assert_eq!(block.frames(), &[1, 2, 3]);
    assert_eq!(block.index.0, 480);
}
