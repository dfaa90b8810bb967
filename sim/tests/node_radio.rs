//! A channel's radio through the node engine on virtual time, against the
//! relay engine: remote audio keys the transmitter and waits out its TX
//! delay, the hang, the time-out and lock-out, COR from a line, half
//! duplex, a busy receiver, and shutdown.

mod node_support;

use echostream_core::node::{ChannelIndex, ChannelState, Event, RadioConfig};
use echostream_core::ptt::{PttReason, Timers};
use echostream_core::time::{Duration, Instant};

use node_support::{Harness, World, payload};

const FIRE: usize = 0;

fn ch() -> ChannelIndex {
    ChannelIndex::new(FIRE).expect("a channel index")
}

/// Node 0 ("base") talks; node 1 ("station") has a radio on `fire`.
fn world(radio: impl Fn(&mut RadioConfig)) -> World {
    let mut world = World::with(&["base", "station"], &["fire"], |i, config| {
        if i != 1 {
            return;
        }
        let mut r = RadioConfig {
            timers: Timers {
                tx_delay_ms: 150,
                ptt_hang_ms: 500,
                timeout_s: 2,
                lockout_s: 1,
                ..Timers::DEFAULT
            },
            cor_line: true,
            ptt: true,
            full_duplex: false,
            busy_lockout: false,
            busy_wait_ms: 1_000,
        };
        radio(&mut r);
        config.set_radio(ch(), r).expect("radio");
    });
    world.connect_all();
    world
}

fn keyed_changes(world: &World) -> Vec<(Instant, bool)> {
    world.nodes[1]
        .ptt
        .iter()
        .map(|&(at, _, k)| (at, k))
        .collect()
}

/// When the station handed out its first audio frame, and how many.
fn played(world: &World) -> (Option<Instant>, Vec<u32>) {
    let node = &world.nodes[1];
    let first = node
        .delivered
        .iter()
        .zip(&node.delivered_at)
        .find(|((_, r, _), _)| !r.end)
        .map(|(_, at)| *at);
    let frames = node
        .delivered
        .iter()
        .filter(|(_, r, _)| !r.end)
        .map(|(_, _, p)| (0..500).find(|&n| payload(n) == *p).expect("a known frame"))
        .collect();
    (first, frames)
}

#[test]
fn remote_audio_keys_the_transmitter_plays_after_the_tx_delay_and_hangs_after_the_end() {
    let mut world = world(|_| {});
    world.talk(0, FIRE, 0, 50);
    world.run_for(Duration::from_secs(2));
    let changes = keyed_changes(&world);
    assert_eq!(changes.len(), 2, "keyed once, released once: {changes:?}");
    let (keyed_at, released_at) = (changes[0].0, changes[1].0);
    assert!(changes[0].1 && !changes[1].1);
    let (first_played, frames) = played(&world);
    let first_played = first_played.expect("audio played");
    assert_eq!(
        first_played.saturating_duration_since(keyed_at),
        Duration::from_millis(150),
        "audio starts exactly the TX delay after PTT"
    );
    assert_eq!(
        frames,
        (0..50).collect::<Vec<_>>(),
        "held, not lost, in order"
    );
    let end_at = world.nodes[1]
        .delivered
        .iter()
        .zip(&world.nodes[1].delivered_at)
        .find(|((_, r, _), _)| r.end)
        .map(|(_, at)| *at)
        .expect("the end of transmission");
    assert_eq!(
        released_at.saturating_duration_since(end_at),
        Duration::from_millis(500),
        "released the hang time after the end"
    );
    let reasons: Vec<_> = world.nodes[1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Ptt { event, .. } if event.line_changed() => Some(event.reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [PttReason::Remote, PttReason::Hang]);
}

#[test]
fn a_talker_who_never_stops_times_out_is_locked_out_and_keys_again_after_a_pause() {
    let mut world = world(|_| {});
    world.talk(0, FIRE, 0, 200); // 4 s against a 2 s time-out
    world.run_for(Duration::from_millis(500));
    let changes = keyed_changes(&world);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(
        changes[1].0.saturating_duration_since(changes[0].0),
        Duration::from_secs(2),
        "released at the time-out"
    );
    assert!(world.nodes[1].saw(|e| matches!(
        e,
        Event::Ptt { event, .. } if event.reason == PttReason::Timeout
    )));
    // 1.5 s after the talker stopped (lock-out 1 s), a new talker keys.
    world.run_for(Duration::from_secs(1));
    world.talk(0, FIRE, 300, 10);
    world.run_for(Duration::from_secs(1));
    let changes = keyed_changes(&world);
    assert_eq!(
        changes.len(),
        4,
        "keyed again after the lock-out: {changes:?}"
    );
    assert!(changes[2].1);
}

#[test]
fn the_status_state_follows_receive_transmit_time_out_and_lock_out() {
    let mut world = world(|_| {});
    let state = |world: &World, node: usize| world.nodes[node].engine.channel_state(ch());
    assert_eq!(state(&world, 1), ChannelState::Idle);
    // 3 s of talk against a 2 s time-out.
    for n in 0..150 {
        world.capture(0, FIRE, n, true);
        world.run_for(Duration::from_millis(20));
        if n == 25 {
            assert_eq!(
                state(&world, 0),
                ChannelState::Receiving,
                "the talker's site"
            );
            assert_eq!(state(&world, 1), ChannelState::Transmitting);
        }
        if n == 130 {
            // Cut at the time-out while the talker goes on.
            assert_eq!(state(&world, 1), ChannelState::LockedOut);
        }
    }
    world.capture(0, FIRE, 150, false);
    // The 1 s lock-out ends a second after the talker stopped.
    world.run_for(Duration::from_secs(2));
    assert_eq!(state(&world, 1), ChannelState::Idle);
    assert_eq!(state(&world, 0), ChannelState::Idle);
    assert_eq!(world.nodes[1].engine.cor_open(ch()), Some(false));
    assert_eq!(world.nodes[0].engine.cor_open(ch()), None, "no COR line");
}

#[test]
fn a_half_duplex_radio_does_not_send_what_it_hears_while_keyed() {
    for full_duplex in [false, true] {
        let mut world = world(|r| r.full_duplex = full_duplex);
        // A remote talker keys the station's transmitter ...
        for n in 0..20 {
            world.capture(0, FIRE, n, true);
            world.run_for(Duration::from_millis(20));
        }
        assert!(world.nodes[1].engine.is_keyed(ch()));
        // ... and its receiver hears it (its COR line opens).
        let now = world.now;
        world.nodes[1].engine.handle_cor(now, ch(), true);
        world.run_for(Duration::from_millis(100));
        assert_eq!(
            world.nodes[1].engine.is_open(ch()),
            full_duplex,
            "half duplex sends nothing while keyed; full duplex: {full_duplex}"
        );
        // The talker stops; once unkeyed, what the receiver hears goes out.
        world.capture(0, FIRE, 20, false);
        world.run_for(Duration::from_secs(1));
        assert!(!world.nodes[1].engine.is_keyed(ch()));
        assert!(world.nodes[1].engine.is_open(ch()));
    }
}

#[test]
fn with_busy_lockout_remote_audio_waits_for_the_receiver_then_is_dropped() {
    let mut world = world(|r| {
        r.busy_lockout = true;
        r.busy_wait_ms = 400;
    });
    let now = world.now;
    world.nodes[1].engine.handle_cor(now, ch(), true);
    world.run_for(Duration::from_millis(100));
    // Busy: the talker's audio waits, nothing keys.
    world.talk(0, FIRE, 0, 10);
    assert!(
        keyed_changes(&world).is_empty(),
        "never keyed over a busy channel"
    );
    world.run_for(Duration::from_millis(500));
    assert!(world.nodes[1].saw(|e| matches!(e, Event::RemoteAudioDropped { .. })));
    assert!(played(&world).1.is_empty());
    // Free again (COR closed): the next talker keys and plays.
    let now = world.now;
    world.nodes[1].engine.handle_cor(now, ch(), false);
    world.run_for(Duration::from_secs(1));
    world.talk(0, FIRE, 50, 10);
    world.run_for(Duration::from_secs(1));
    assert_eq!(played(&world).1, (50..60).collect::<Vec<_>>());
}

#[test]
fn shutdown_unkeys_at_once_and_for_good() {
    let mut world = world(|_| {});
    for n in 0..20 {
        world.capture(0, FIRE, n, true);
        world.run_for(Duration::from_millis(20));
    }
    assert!(world.nodes[1].engine.is_keyed(ch()));
    let now = world.now;
    world.nodes[1].engine.handle_shutdown(now);
    world.run_for(Duration::from_millis(1));
    assert!(!world.nodes[1].engine.is_keyed(ch()));
    assert_eq!(keyed_changes(&world).last().map(|c| c.1), Some(false));
    // The talker goes on: nothing keys it again.
    world.talk(0, FIRE, 20, 20);
    world.run_for(Duration::from_secs(1));
    assert_eq!(keyed_changes(&world).len(), 2);
}
