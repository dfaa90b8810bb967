//! Each checker fed by hand: it names the broken invariant, and says
//! nothing of the same story told right. (The world feeds them in the
//! scenario tests; these show each can fail.)

use echostream_core::jitter::JitterConfig;
use echostream_core::node::Received;
use echostream_core::ptt::{PttEvent, PttReason, PttState, Timers};
use echostream_core::record::{AlertId, RecordConfig};
use echostream_core::time::{Instant, SampleIndex};
use echostream_core::tone::{DefinitionIndex, Measured, ToneEvent};
use echostream_core::wire::{Flags, MediaTimestamp, Seq};

use super::*;

fn facts() -> Vec<NodeFacts> {
    vec![NodeFacts {
        id: "station-a".into(),
        channels: vec![ChannelFacts {
            id: "fire".into(),
            rate_hz: 48_000,
            ptt: Some(Timers {
                timeout_s: 10,
                lockout_s: 5,
                ..Timers::DEFAULT
            }),
            jitter: Some(JitterConfig::DEFAULT),
            record: Some(RecordConfig {
                rate_hz: 48_000,
                silence_stop_ms: 0,
                min_ms: 0,
                silence_threshold_dbfs: -50,
            }),
            alerts: vec![("Station 1".into(), 5_000), ("Station 2".into(), 5_000)],
            pages_known: true,
        }],
    }]
}

fn s(seconds: f64) -> Instant {
    Instant::from_micros((seconds * 1e6) as u64)
}

/// Feeds `story` (time, observation) to `checker`, then finishes at
/// `end`; returns what it found.
fn run(mut checker: impl Checker, story: &[(f64, Observation<'_>)], end: f64) -> Vec<String> {
    let mut found = Vec::new();
    for (at, observation) in story {
        checker.observe(s(*at), observation, &mut found);
    }
    checker.finish(s(end), &mut found);
    found
}

fn line(keyed: bool) -> Observation<'static> {
    Observation::PttLine {
        node: 0,
        channel: 0,
        keyed,
    }
}

#[test]
fn ptt_timeout_names_a_line_keyed_past_its_time_out_and_only_that() {
    let good = run(
        PttTimeout::new(&facts()),
        &[(1.0, line(true)), (10.9, line(false))],
        20.0,
    );
    assert!(good.is_empty(), "{good:?}");
    let bad = run(
        PttTimeout::new(&facts()),
        &[(1.0, line(true)), (11.5, line(false))],
        20.0,
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].contains("station-a `fire`") && bad[0].contains("10 s time-out"),
        "{bad:?}"
    );
    // Still keyed when the run ends is judged too.
    let stuck = run(PttTimeout::new(&facts()), &[(1.0, line(true))], 30.0);
    assert_eq!(stuck.len(), 1, "{stuck:?}");
}

#[test]
fn ptt_lockout_names_a_key_within_the_lock_out_after_a_time_out() {
    let machine = |to, reason| Observation::PttMachine {
        node: 0,
        channel: 0,
        event: PttEvent {
            from: PttState::Keyed,
            to,
            reason,
        },
    };
    let story = [
        (0.0, line(true)),
        (10.0, machine(PttState::LockedOut, PttReason::Timeout)),
        (10.0, line(false)),
        (12.0, line(true)),
    ];
    let bad = run(PttLockout::new(&facts()), &story, 20.0);
    assert!(!bad.is_empty(), "keyed 2 s into a 5 s lock-out");
    assert!(bad.iter().any(|l| l.contains("lock-out")), "{bad:?}");
    let story = [
        (0.0, line(true)),
        (10.0, machine(PttState::LockedOut, PttReason::Timeout)),
        (10.0, line(false)),
        (15.5, machine(PttState::Unkeyed, PttReason::LockoutEnded)),
        (16.0, line(true)),
    ];
    let good = run(PttLockout::new(&facts()), &story, 20.0);
    assert!(good.is_empty(), "{good:?}");
}

#[test]
fn ptt_after_shutdown_names_a_line_left_keyed_by_a_stop() {
    let stop = Observation::Shutdown { node: 0 };
    let bad = run(
        PttAfterShutdown::new(&facts()),
        &[(1.0, line(true)), (2.0, stop)],
        3.0,
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    let good = run(
        PttAfterShutdown::new(&facts()),
        &[(1.0, line(true)), (2.0, stop), (2.0, line(false))],
        3.0,
    );
    assert!(good.is_empty(), "{good:?}");
}

fn received(seq: u32, timestamp: u32) -> Received {
    Received {
        seq: Seq(seq),
        timestamp: MediaTimestamp(timestamp),
        flags: Flags::NONE,
        end: false,
        arrived: Instant::ZERO,
        len: 3,
    }
}

#[test]
fn packet_checkers_name_a_forged_and_a_repeated_frame() {
    let captured = Observation::Captured {
        node: 1,
        channel: 0,
        timestamp: MediaTimestamp(960),
        payload: b"abc",
    };
    let delivered = |payload: &'static [u8]| Observation::Delivered {
        node: 0,
        channel: 0,
        frame: received(7, 960),
        payload,
    };
    let forged = run(
        PacketAuthentic::default(),
        &[(0.0, captured), (0.1, delivered(b"abd"))],
        1.0,
    );
    assert_eq!(forged.len(), 1, "{forged:?}");
    let good = run(
        PacketAuthentic::default(),
        &[(0.0, captured), (0.1, delivered(b"abc"))],
        1.0,
    );
    assert!(good.is_empty(), "{good:?}");
    let twice = run(
        PacketOnce::default(),
        &[
            (0.0, captured),
            (0.1, delivered(b"abc")),
            (0.2, delivered(b"abc")),
        ],
        1.0,
    );
    assert_eq!(twice.len(), 1, "{twice:?}");
}

#[test]
fn playout_monotonic_names_a_frame_played_after_a_later_one() {
    let played = |seq, timestamp| Observation::Played {
        node: 0,
        channel: 0,
        played: Played::Frame {
            seq: Seq(seq),
            timestamp: MediaTimestamp(timestamp),
        },
    };
    let bad = run(
        PlayoutMonotonic::default(),
        &[(0.0, played(1, 960)), (0.02, played(2, 0))],
        1.0,
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    let good = run(
        PlayoutMonotonic::default(),
        &[
            (0.0, played(1, 0)),
            (0.02, played(2, 960)),
            (0.04, played(4, 2_880)),
        ],
        1.0,
    );
    assert!(good.is_empty(), "{good:?}");
}

fn page(tone_id: &str, start: u64, end: u64) -> PageTruth {
    PageTruth {
        tone_id: tone_id.into(),
        start,
        end,
    }
}

fn alert(definition: usize, at: u64, id: u32) -> Observation<'static> {
    Observation::Alert {
        node: 0,
        channel: 0,
        event: ToneEvent {
            definition: DefinitionIndex::new(definition),
            measured: Measured::TwoTone {
                a_hz: 349.0,
                b_hz: 707.3,
            },
            start: SampleIndex(at - 100_000),
            end: SampleIndex(at),
            detected_at: SampleIndex(at),
            latency_ms: 18,
        },
        alert: AlertId(id),
    }
}

#[test]
fn page_alerted_once_names_a_missed_a_doubled_and_a_wrong_alert() {
    let truth = page("Station 1", 48_000, 216_000);
    let placed = Observation::Page {
        node: 0,
        channel: 0,
        page: &truth,
    };
    let reached = Observation::Reached {
        node: 0,
        channel: 0,
        sample: 480_000,
    };
    let good = run(
        PageAlertedOnce::new(&facts()),
        &[(0.0, placed), (4.0, alert(0, 200_000, 1)), (10.0, reached)],
        10.0,
    );
    assert!(good.is_empty(), "{good:?}");
    let missed = run(
        PageAlertedOnce::new(&facts()),
        &[(0.0, placed), (10.0, reached)],
        10.0,
    );
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert!(missed[0].contains("never alerted"), "{missed:?}");
    let doubled = run(
        PageAlertedOnce::new(&facts()),
        &[
            (0.0, placed),
            (4.0, alert(0, 200_000, 1)),
            (4.1, alert(0, 205_000, 2)),
            (10.0, reached),
        ],
        10.0,
    );
    assert_eq!(doubled.len(), 1, "{doubled:?}");
    let wrong = run(
        PageAlertedOnce::new(&facts()),
        &[(0.0, placed), (4.0, alert(1, 200_000, 1)), (10.0, reached)],
        10.0,
    );
    // Alerted as Station 2 where Station 1 was paged: a false alert and a
    // missed page.
    assert_eq!(wrong.len(), 2, "{wrong:?}");
}

#[test]
fn recording_length_names_a_short_recording_unless_its_stop_says_why() {
    use echostream_core::record::{Effect, RecordingId, StopReason};
    let record = |effect| Observation::Record {
        node: 0,
        channel: 0,
        effect,
    };
    let start = record(Effect::Start {
        recording: RecordingId(1),
        from: SampleIndex(240_000),
    });
    let joined = record(Effect::Joined {
        recording: RecordingId(1),
        alert: AlertId(1),
    });
    let stop = |seconds: u64, reason| {
        record(Effect::Stop {
            recording: RecordingId(1),
            at: SampleIndex(240_000 + seconds * 48_000),
            reason,
        })
    };
    // The alert's definition records 5 s.
    let story = |stopped| {
        [
            (4.0, alert(0, 200_000, 1)),
            (5.0, start),
            (5.0, joined),
            (8.0, stopped),
        ]
    };
    let good = run(
        RecordingLength::new(&facts()),
        &story(stop(5, StopReason::Length)),
        20.0,
    );
    assert!(good.is_empty(), "{good:?}");
    let short = run(
        RecordingLength::new(&facts()),
        &story(stop(3, StopReason::Length)),
        20.0,
    );
    assert_eq!(short.len(), 1, "{short:?}");
    let cut = run(
        RecordingLength::new(&facts()),
        &story(stop(3, StopReason::Shutdown)),
        20.0,
    );
    assert!(
        cut.is_empty(),
        "a stop by shutdown says it is truncated: {cut:?}"
    );
}
