//! Pages through the node engine on virtual time: an alert's recording
//! (start after the tones, length, stacking) and its passthrough (the
//! target channel transmits the source's audio to the other sites and
//! plays it locally), against the relay engine.

mod node_support;

use echostream_core::node::{ChannelIndex, Event, PassthroughEdge};
use echostream_core::record::{AlertId, Effect, RecordConfig, RecordingId, StopReason};
use echostream_core::time::{Duration, SampleIndex};
use echostream_core::tone::{DefinitionIndex, Measured, ToneEvent};

use node_support::{FRAME_UNITS, Harness, World, payload};

const PAGES: usize = 0;
const TALK: usize = 1;

fn ch(i: usize) -> ChannelIndex {
    ChannelIndex::new(i).expect("a channel index")
}

/// Node 0 ("dispatch") pages on `pages`: its definition 0 records 2 s and
/// passes through to `talk`; definition 1 records 1 s, no passthrough.
/// Node 1 ("station") listens on both.
fn world() -> World {
    let mut world = World::with(&["dispatch", "station"], &["pages", "talk"], |i, config| {
        if i != 0 {
            return;
        }
        let record = RecordConfig {
            rate_hz: 48_000,
            silence_stop_ms: 0,
            min_ms: 0,
            silence_threshold_dbfs: -50,
        };
        config
            .set_audio(ch(PAGES), 48_000, Some(record))
            .expect("audio");
        config
            .add_alert(ch(PAGES), "Station 1", "fire", 0, 2_000, Some(ch(TALK)))
            .expect("alert");
        config
            .add_alert(ch(PAGES), "Station 2", "fire", 500, 1_000, None)
            .expect("alert");
    });
    world.connect_all();
    world
}

fn page(definition: usize, frame: u32) -> ToneEvent {
    let at = SampleIndex(u64::from(frame + 1) * u64::from(FRAME_UNITS));
    ToneEvent {
        definition: DefinitionIndex::new(definition),
        measured: Measured::TwoTone {
            a_hz: 349.0,
            b_hz: 707.3,
        },
        start: SampleIndex(0),
        end: at,
        detected_at: at,
        latency_ms: 10,
    }
}

/// Frames `from..to` of the pages channel, quiet, one per 20 ms; `at`
/// says what else happens before a frame.
fn run(world: &mut World, from: u32, to: u32, mut at: impl FnMut(&mut World, u32)) {
    for n in from..to {
        at(world, n);
        world.capture(0, PAGES, n, false);
        world.run_for(Duration::from_millis(20));
    }
}

#[test]
fn a_page_records_from_its_tones_end_and_passes_through_for_its_length() {
    let mut world = world();
    run(&mut world, 0, 300, |w, n| {
        if n == 50 {
            let now = w.now;
            w.nodes[0].engine.handle_tone(now, ch(PAGES), page(0, 49));
        }
        if n == 60 {
            // The tone ended at frame 55, the detector knew by 60.
            let now = w.now;
            let end = SampleIndex(56 * u64::from(FRAME_UNITS));
            w.nodes[0].engine.handle_tones_end(now, ch(PAGES), end);
        }
    });
    let dispatch = &world.nodes[0];
    assert_eq!(
        dispatch.count(|e| matches!(
            e,
            Event::Tone {
                alert: Some(AlertId(1)),
                ..
            }
        )),
        1
    );
    let effects: Vec<Effect> = dispatch.records.iter().map(|(_, _, e)| *e).collect();
    let from = SampleIndex(56 * 960);
    assert_eq!(
        effects,
        [
            Effect::Start {
                recording: RecordingId(1),
                from
            },
            Effect::Joined {
                recording: RecordingId(1),
                alert: AlertId(1)
            },
            Effect::Stop {
                recording: RecordingId(1),
                at: SampleIndex(from.0 + 96_000),
                reason: StopReason::Length
            },
        ]
    );
    // Passthrough: from the alert (frame 50) for 2 s, i.e. 100 frames.
    let edges: Vec<_> = dispatch
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Passthrough {
                source,
                target,
                edge,
                ..
            } => Some((*source, *target, *edge)),
            _ => None,
        })
        .collect();
    assert_eq!(
        edges,
        [
            (ch(PAGES), ch(TALK), PassthroughEdge::Started),
            (ch(PAGES), ch(TALK), PassthroughEdge::Ended)
        ]
    );
    // Played out of the target locally: the source's frames 50..150, one
    // talk-spurt, then its end.
    let local = dispatch.frames(TALK);
    let audio: Vec<_> = local.iter().filter(|(r, _)| !r.end).collect();
    assert_eq!(audio.len(), 100, "{} frames played", audio.len());
    assert_eq!(audio[0].1, payload(50));
    assert_eq!(audio[99].1, payload(149));
    assert!(
        local.last().is_some_and(|(r, _)| r.end),
        "ends with an end marker"
    );
    // Sent as the target's transmission: the station hears it on `talk`.
    let heard = world.nodes[1].frames(TALK);
    let audio: Vec<_> = heard.iter().filter(|(r, _)| !r.end).collect();
    assert_eq!(audio.len(), 100);
    assert_eq!(audio[0].1, payload(50));
    assert!(heard.last().is_some_and(|(r, _)| r.end));
    assert!(
        world.nodes[1].frames(PAGES).is_empty(),
        "quiet pages stay off air"
    );
    // The other site hears of the page, naming who heard it.
    let remote: Vec<_> = world.nodes[1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::RemoteAlert {
                channel,
                node,
                tone_id,
                alert_type,
            } => Some((
                *channel,
                node.as_str().to_owned(),
                tone_id.as_str().to_owned(),
                alert_type.as_str().to_owned(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        remote,
        [(
            ch(PAGES),
            "dispatch".to_owned(),
            "Station 1".to_owned(),
            "fire".to_owned()
        )]
    );
}

#[test]
fn stacked_pages_share_a_recording_and_a_second_alert_extends_the_passthrough() {
    let mut world = world();
    run(&mut world, 0, 400, |w, n| {
        let now = w.now;
        let engine = &mut w.nodes[0].engine;
        match n {
            50 => engine.handle_tone(now, ch(PAGES), page(0, 49)),
            60 => engine.handle_tones_end(now, ch(PAGES), SampleIndex(56 * 960)),
            // Station 2 while recording, then Station 1 again (extends).
            100 => engine.handle_tone(now, ch(PAGES), page(1, 99)),
            110 => engine.handle_tones_end(now, ch(PAGES), SampleIndex(106 * 960)),
            120 => engine.handle_tone(now, ch(PAGES), page(0, 119)),
            130 => engine.handle_tones_end(now, ch(PAGES), SampleIndex(126 * 960)),
            _ => {}
        }
    });
    let dispatch = &world.nodes[0];
    let joined: Vec<_> = dispatch
        .records
        .iter()
        .filter_map(|(_, _, e)| match e {
            Effect::Joined { recording, alert } => Some((recording.0, alert.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        joined,
        [(1, 1), (1, 2), (1, 3)],
        "one recording, three alerts"
    );
    let stop = dispatch.records.iter().find_map(|(_, _, e)| match e {
        Effect::Stop { at, .. } => Some(*at),
        _ => None,
    });
    // Longest length (2 s) after the last page's tones (frame 126) plus
    // its delay (0).
    assert_eq!(stop, Some(SampleIndex(126 * 960 + 96_000)));
    let extended = dispatch.count(|e| {
        matches!(
            e,
            Event::Passthrough {
                edge: PassthroughEdge::Extended,
                ..
            }
        )
    });
    assert_eq!(extended, 1);
    // 50..220: from the first alert to 2 s after the third.
    let played = dispatch.frames(TALK).iter().filter(|(r, _)| !r.end).count();
    assert_eq!(played, 170);
}

#[test]
fn the_capture_side_ending_stops_a_recording_truncated_and_ends_the_passthrough() {
    let mut world = world();
    run(&mut world, 0, 80, |w, n| {
        let now = w.now;
        let engine = &mut w.nodes[0].engine;
        match n {
            50 => engine.handle_tone(now, ch(PAGES), page(0, 49)),
            60 => engine.handle_tones_end(now, ch(PAGES), SampleIndex(56 * 960)),
            _ => {}
        }
    });
    let now = world.now;
    world.nodes[0].engine.handle_shutdown(now);
    world.run_for(Duration::from_millis(100));
    let dispatch = &world.nodes[0];
    assert!(dispatch.records.iter().any(|(_, _, e)| matches!(
        e,
        Effect::Stop {
            reason: StopReason::Shutdown,
            at: SampleIndex(76_800),
            ..
        }
    )));
    assert!(dispatch.saw(|e| matches!(
        e,
        Event::Passthrough {
            edge: PassthroughEdge::Ended,
            ..
        }
    )));
}

#[test]
fn a_target_already_talking_starts_a_new_talk_spurt_for_the_passthrough_and_back() {
    let mut world = world();
    run(&mut world, 0, 250, |w, n| {
        // The talk channel's own audio is loud throughout.
        w.capture(0, TALK, n, true);
        if n == 50 {
            let now = w.now;
            w.nodes[0].engine.handle_tone(now, ch(PAGES), page(0, 49));
        }
    });
    let starts: Vec<_> = world.nodes[0]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Talkspurt {
                channel,
                active: true,
            } if *channel == ch(TALK) => Some(()),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 3, "its own, the passthrough's, its own again");
    assert!(world.nodes[0].engine.is_open(ch(TALK)));
}

#[test]
fn a_passthrough_keys_the_target_radio_and_releases_it_after_the_hang() {
    use echostream_core::node::RadioConfig;
    use echostream_core::ptt::{PttReason, Timers};
    let mut world = World::with(&["dispatch", "station"], &["pages", "talk"], |i, config| {
        if i != 0 {
            return;
        }
        config
            .add_alert(ch(PAGES), "Station 1", "fire", 0, 2_000, Some(ch(TALK)))
            .expect("alert");
        let radio = RadioConfig {
            timers: Timers {
                tx_delay_ms: 100,
                ptt_hang_ms: 300,
                ..Timers::DEFAULT
            },
            cor_line: false,
            ptt: true,
            full_duplex: false,
            busy_lockout: false,
            busy_wait_ms: 1_000,
        };
        config.set_radio(ch(TALK), radio).expect("radio");
    });
    world.connect_all();
    run(&mut world, 0, 250, |w, n| {
        if n == 50 {
            let now = w.now;
            w.nodes[0].engine.handle_tone(now, ch(PAGES), page(0, 49));
        }
    });
    let dispatch = &world.nodes[0];
    let keyed: Vec<_> = dispatch.ptt.iter().map(|&(at, c, k)| (at, c, k)).collect();
    assert_eq!(keyed.len(), 2, "{keyed:?}");
    assert!(keyed[0].1 == ch(TALK) && keyed[0].2 && !keyed[1].2);
    // 2 s of passthrough, then the 300 ms hang.
    let span = keyed[1].0.saturating_duration_since(keyed[0].0);
    assert!(
        span >= Duration::from_millis(2_200) && span <= Duration::from_millis(2_400),
        "{span:?}"
    );
    let reasons: Vec<_> = dispatch
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Ptt { event, .. } if event.line_changed() => Some(event.reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [PttReason::Passthrough, PttReason::Hang]);
    // Its playback got the source's frames, held for the TX delay, all.
    let played = dispatch.frames(TALK).iter().filter(|(r, _)| !r.end).count();
    assert_eq!(played, 100);
}
