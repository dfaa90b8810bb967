//! The node engine (`echostream_core::node`) against the relay engine on
//! virtual time: whole sessions, faults and hostile signaling, in
//! milliseconds of real time and the same every run.

mod node_support;

use echostream_core::crypto::OpenErrorKind;
use echostream_core::node::{
    ChannelIndex, DisconnectReason, Event, Node, NodeConfig, PARKED_AGE_MAX, PATH_DEAD_PROBES,
    PROBES_PER_HEARTBEAT, RadioConfig, TRANSMIT_END_DELAY, Unexpected,
};
use echostream_core::time::Duration;
use echostream_core::wire::StreamId;
use echostream_relay::engine::TALKER_SILENCE_TIMEOUT;

use node_support::{Harness, RELAY_UDP, World, assert_intact};

const CH0: ChannelIndex = match ChannelIndex::new(0) {
    Some(c) => c,
    None => panic!("index 0 names a channel"),
};

fn two_nodes() -> World {
    let mut world = World::of(&["alpha", "bravo"], &["fire"]);
    world.connect_all();
    world
}

fn disconnects(world: &World, i: usize) -> Vec<DisconnectReason> {
    world.nodes[i]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Disconnected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn nodes_are_welcomed_register_and_see_each_other() {
    let world = two_nodes();
    for node in &world.nodes {
        assert!(node.saw(|e| matches!(e, Event::Connected)));
        assert!(
            node.saw(|e| matches!(e, Event::Welcomed { relay_udp, .. } if *relay_udp == RELAY_UDP))
        );
        assert!(node.saw(|e| matches!(e, Event::Registered { channel, .. } if *channel == CH0)));
        assert!(node.engine.stream_id(CH0).is_some());
        assert!(
            node.sent[0].starts_with("{\"type\":\"hello\""),
            "{}",
            node.sent[0]
        );
        assert!(
            node.engine.counters().heartbeats_echoed > 0,
            "the relay knows its address"
        );
    }
    assert_eq!(world.nodes[1].engine.users_count(CH0), 2);
    assert_eq!(world.relay.members("fire"), ["alpha", "bravo"]);
}

#[test]
fn audio_crosses_both_ways_with_transmit_announced_and_released() {
    let mut world = two_nodes();
    world.talk(0, 0, 0, 50);
    world.run_for(Duration::from_millis(500));
    assert_intact(&world.nodes[1].frames(0), 0, 50);
    assert!(
        world.nodes[0].frames(0).is_empty(),
        "the talker does not hear itself"
    );
    let b = &world.nodes[1];
    let heard_alpha = |active: bool| {
        b.count(|e| matches!(e, Event::RemoteTransmit { node, active: a, .. } if node == "alpha" && *a == active))
    };
    assert_eq!((heard_alpha(true), heard_alpha(false)), (1, 1));
    let a = world.nodes[0].engine.counters();
    assert_eq!((a.audio_out, a.eot_out), (50, 1));
    // `transmit active:true` went out with the talk-spurt, `false` after it.
    let transmits: Vec<_> = world.nodes[0]
        .sent
        .iter()
        .filter(|t| t.contains("\"transmit\""))
        .collect();
    assert_eq!(transmits.len(), 2, "{transmits:?}");
    assert!(transmits[0].contains("true") && transmits[1].contains("false"));

    world.talk(1, 0, 100, 10);
    world.run_for(Duration::from_millis(500));
    assert_intact(&world.nodes[0].frames(0), 100, 10);
}

/// Alpha talks frames `0..count` on channel 0, one per 20 ms, and then
/// stops making frames at all: its gate stays open.
fn talk_and_freeze(world: &mut World, count: u32) {
    for n in 0..count {
        world.capture(0, 0, n, true);
        world.run_for(Duration::from_millis(20));
    }
}

/// How long after the last audio frame the end arrived at node `i`.
fn end_after_last_audio(world: &World, i: usize) -> Duration {
    let heard = world.nodes[i].frames(0);
    let (end, last) = (&heard[heard.len() - 1].0, &heard[heard.len() - 2].0);
    assert!(end.end && !last.end);
    Duration::from_micros(end.arrived.as_micros() - last.arrived.as_micros())
}

#[test]
fn a_remote_talker_gone_silent_without_an_end_is_ended_by_the_relay() {
    let mut world = two_nodes();
    // Alpha's capture side stops mid-talk: no end of transmission, no
    // `transmit: false`. The relay's silence time-out ends it for bravo.
    talk_and_freeze(&mut world, 10);
    world.run_for(TALKER_SILENCE_TIMEOUT + Duration::from_millis(500));
    assert_intact(&world.nodes[1].frames(0), 0, 10);
    let after = end_after_last_audio(&world, 1);
    assert!(
        after >= TALKER_SILENCE_TIMEOUT
            && after <= TALKER_SILENCE_TIMEOUT + Duration::from_millis(50),
        "the end came {after:?} after the last audio"
    );
    let b = &world.nodes[1];
    assert_eq!(
        b.count(|e| matches!(e, Event::RemoteTransmit { active: false, .. })),
        1
    );
    assert_eq!(b.engine.counters().eot_in, 1);
    let r = world.relay.counters();
    assert_eq!((r.talker_timeouts, r.eot_made, r.eot_in), (1, 1, 0));
}

#[test]
fn a_lost_end_marker_is_stood_in_for_when_the_talker_says_transmit_false() {
    let mut world = two_nodes();
    talk_and_freeze(&mut world, 10);
    // Alpha's end of transmission is lost on the way; its `transmit:
    // false` follows over signaling.
    world.udp_cut[0] = true;
    world.capture(0, 0, 10, false);
    world.run_for(Duration::from_millis(100));
    world.udp_cut[0] = false;
    world.run_for(Duration::from_millis(500));
    assert_eq!(world.nodes[0].engine.counters().eot_out, 1);
    assert_intact(&world.nodes[1].frames(0), 0, 10);
    let after = end_after_last_audio(&world, 1);
    assert!(
        after <= TRANSMIT_END_DELAY + Duration::from_millis(50),
        "the end came {after:?} after the last audio"
    );
    let r = world.relay.counters();
    assert_eq!((r.transmit_releases, r.eot_made, r.eot_in), (1, 1, 0));
}

#[test]
fn a_quiet_channel_sends_nothing_and_its_preroll_leads_the_talk_spurt() {
    let mut world = World::of(&["alpha", "bravo"], &["fire"]);
    // Alpha keeps five frames of pre-roll.
    let old = world.nodes[0].engine.config().clone();
    let mut config = NodeConfig::new(
        old.node_id(),
        "test-token-0123456789",
        old.connect_timeout,
        old.reconnect_max,
        old.seed,
    )
    .unwrap();
    config.add_channel("fire", 5).unwrap();
    *world.nodes[0].engine = Node::new(config);
    world.connect_all();
    for n in 0..20 {
        world.capture(0, 0, n, false);
        world.run_for(Duration::from_millis(20));
    }
    assert_eq!(
        world.nodes[0].engine.counters().audio_out,
        0,
        "quiet is not sent"
    );
    world.talk(0, 0, 20, 10);
    world.run_for(Duration::from_millis(300));
    // The five quiet frames before the talk, then the talk, as one spurt.
    assert_intact(&world.nodes[1].frames(0), 15, 15);
}

/// Two nodes; alpha keeps `preroll` frames of pre-roll on `fire`.
fn with_preroll(preroll: usize, radio: Option<RadioConfig>) -> World {
    let mut world = World::with(&["alpha", "bravo"], &[], |i, config| {
        let preroll = if i == 0 { preroll } else { 0 };
        config.add_channel("fire", preroll).unwrap();
        if let (0, Some(radio)) = (i, radio) {
            config.set_radio(CH0, radio).unwrap();
        }
    });
    world.connect_all();
    world
}

#[test]
fn an_uncoded_preroll_coded_late_leads_the_talk_spurt() {
    let mut world = with_preroll(5, None);
    for n in 0..20 {
        world.capture_uncoded(0, 0, n, false);
        world.run_for(Duration::from_millis(20));
        assert!(
            !world.nodes[0].engine.wants_packets(CH0),
            "quiet: not coded"
        );
    }
    // The VOX opens: the capture side codes its backlog, then the talk.
    for n in 15..20 {
        world.capture_late(0, 0, n);
    }
    world.talk(0, 0, 20, 10);
    world.run_for(Duration::from_millis(300));
    assert_intact(&world.nodes[1].frames(0), 15, 15);
    assert_eq!(world.nodes[0].engine.counters().late_packets, 5);
}

#[test]
fn a_cor_line_wants_packets_from_its_first_edge_and_its_late_preroll_goes_out_first() {
    let radio = RadioConfig {
        timers: echostream_core::ptt::Timers {
            cor_debounce_ms: 40,
            cor_hang_ms: 0,
            ..echostream_core::ptt::Timers::DEFAULT
        },
        cor_line: true,
        ptt: false,
        full_duplex: true,
        busy_lockout: false,
        busy_wait_ms: 1_000,
    };
    let mut world = with_preroll(5, Some(radio));
    for n in 0..20 {
        world.capture_uncoded(0, 0, n, false);
        world.run_for(Duration::from_millis(20));
    }
    assert!(!world.nodes[0].engine.wants_packets(CH0));
    let now = world.now;
    world.nodes[0].engine.handle_cor(now, CH0, true);
    assert!(
        world.nodes[0].engine.wants_packets(CH0),
        "wanted during the debounce, so the pre-roll is ready at the opening"
    );
    assert!(!world.nodes[0].engine.is_open(CH0));
    // The capture side's next period: the backlog, late, then live frames
    // (a COR line's audio is never active by itself).
    for n in 15..20 {
        world.capture_late(0, 0, n);
    }
    for n in 20..30 {
        world.capture(0, 0, n, false);
        world.run_for(Duration::from_millis(20));
    }
    assert!(
        world.nodes[0].engine.is_open(CH0),
        "opened after the debounce"
    );
    let now = world.now;
    world.nodes[0].engine.handle_cor(now, CH0, false);
    world.capture(0, 0, 30, false);
    world.run_for(Duration::from_millis(300));
    assert!(
        !world.nodes[0].engine.wants_packets(CH0),
        "closed: not coded"
    );
    // The pre-roll is the five frames before the opening, 40 ms (two
    // frames) after the edge: 17 to 21, two of them coded late.
    assert_intact(&world.nodes[1].frames(0), 17, 13);
}

#[test]
fn packets_kept_from_long_ago_are_not_a_later_talk_spurts_preroll() {
    let mut world = with_preroll(5, None);
    world.talk(0, 0, 0, 10);
    // Coded for a little longer after the gate closed (the capture side
    // hears of it a period late) ...
    for n in 11..13 {
        world.capture(0, 0, n, false);
        world.run_for(Duration::from_millis(20));
    }
    // ... then a long quiet, uncoded.
    for n in 13..200 {
        world.capture_uncoded(0, 0, n, false);
        world.run_for(Duration::from_millis(20));
    }
    for n in 195..200 {
        world.capture_late(0, 0, n);
    }
    world.talk(0, 0, 200, 5);
    world.run_for(Duration::from_millis(300));
    let heard = world.nodes[1].frames(0);
    assert_intact(&heard[..11], 0, 10);
    assert_intact(&heard[11..], 195, 10);
}

#[test]
fn a_rekey_mid_talk_spurt_loses_nothing_even_when_audio_outruns_it() {
    let mut world = two_nodes();
    world.rekey_delay = Duration::from_millis(60);
    for n in 0..40 {
        if n == 20 {
            let conns: Vec<_> = world.nodes.iter().filter_map(|n| n.conn).collect();
            for conn in conns {
                world.relay.rekey(world.now, conn).expect("welcomed");
            }
        }
        world.capture(0, 0, n, true);
        world.run_for(Duration::from_millis(20));
    }
    world.capture(0, 0, 40, false);
    world.run_for(Duration::from_millis(500));
    assert_intact(&world.nodes[1].frames(0), 0, 40);
    let b = world.nodes[1].engine.counters();
    assert!(b.datagrams_parked >= 2, "{b:?}");
    assert_eq!(b.drop_open[OpenErrorKind::UnknownKey.index()], 0);
    assert_eq!(b.rekeys, 1);
    assert!(disconnects(&world, 1).is_empty());
}

#[test]
fn audio_that_outruns_its_registration_is_held_and_played() {
    let mut world = World::of(&["alpha", "bravo"], &["fire", "water"]);
    world.connect_all();
    // Bravo leaves and comes back while alpha talks on "water"; its
    // `registered` for "water" is slow, while the relay already knows
    // bravo's address from "fire" and sends the audio at once.
    world.registered_delay = Some(("water", Duration::from_millis(60)));
    world.capture(0, 1, 0, true);
    let conn = world.nodes[1].conn.take().unwrap();
    world.relay.handle_disconnect(world.now, conn);
    world.nodes[1]
        .engine
        .handle_disconnected(world.now, echostream_core::node::LinkDown::Eof);
    for n in 1..60 {
        world.capture(0, 1, n, true);
        world.run_for(Duration::from_millis(20));
    }
    world.capture(0, 1, 60, false);
    world.run_for(Duration::from_millis(500));
    let b = world.nodes[1].engine.counters();
    let heard = world.nodes[1].frames(1);
    assert!(b.datagrams_parked >= 1, "{b:?}");
    assert_eq!(b.drop_unknown_stream, 0, "nothing was lost: {b:?}");
    // Everything from the first held frame on, in order, then the end.
    assert!(heard.len() >= 20, "{} frames", heard.len());
    for pair in heard.windows(2) {
        assert_eq!(pair[1].0.seq.0, pair[0].0.seq.0 + 1);
    }
    assert!(heard.last().unwrap().0.end);
}

#[test]
fn a_silent_relay_is_left_and_reconnected_to_with_backoff() {
    let mut world = two_nodes();
    world.relay_mute[0] = true;
    world.run_for(Duration::from_secs(2));
    let reasons = disconnects(&world, 0);
    assert!(
        matches!(reasons[0], DisconnectReason::SignalSilent { silent_for } if silent_for >= Duration::from_millis(800)),
        "{reasons:?}"
    );
    let retry = world.nodes[0]
        .events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Disconnected { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .unwrap();
    assert!(
        retry <= Duration::from_millis(250),
        "the first backoff ceiling"
    );
    world.relay_mute[0] = false;
    world.run_for(Duration::from_secs(3));
    assert!(world.nodes[0].engine.is_welcomed());
    assert!(world.nodes[0].engine.counters().sessions >= 2);
    world.talk(0, 0, 0, 5);
    world.run_for(Duration::from_millis(300));
    assert_intact(&world.nodes[1].frames(0), 0, 5);
}

#[test]
fn a_relay_that_is_down_is_retried_with_growing_delays() {
    let mut world = World::of(&["alpha"], &["fire"]);
    world.relay_up = false;
    world.run_for(Duration::from_secs(10));
    let delays: Vec<_> = world.nodes[0]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Disconnected { retry_in, .. } => Some(*retry_in),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 8, "{delays:?}");
    assert!(
        delays.iter().all(|d| *d <= Duration::from_secs(1)),
        "capped"
    );
    world.relay_up = true;
    world.run_for(Duration::from_secs(2));
    assert!(world.nodes[0].engine.is_welcomed());
}

#[test]
fn a_udp_host_that_never_resolves_counts_against_the_connect_time_out() {
    let mut world = World::of(&["alpha"], &["fire"]);
    world.udp_host_stuck = true;
    world.run_for(Duration::from_millis(2_100));
    assert_eq!(
        disconnects(&world, 0),
        [DisconnectReason::NoWelcome {
            within: Duration::from_secs(2)
        }]
    );
    world.udp_host_stuck = false;
    world.run_for(Duration::from_secs(2));
    assert!(world.nodes[0].engine.is_welcomed());
}

#[test]
fn a_lost_udp_path_is_reported_then_restored_and_a_dead_one_reconnects() {
    let mut world = two_nodes();
    world.udp_cut[0] = true;
    world.run_for(Duration::from_millis(500));
    assert!(world.nodes[0].saw(|e| matches!(e, Event::PathLost { .. })));
    world.udp_cut[0] = false;
    world.run_for(Duration::from_millis(500));
    assert!(world.nodes[0].saw(|e| matches!(e, Event::PathRestored { .. })));
    assert!(disconnects(&world, 0).is_empty(), "signaling stayed up");

    world.udp_cut[0] = true;
    let heartbeat_ms = 200;
    // The next round, then probes until the path is given up, and a
    // probe's worth of slack.
    let probe_ms = heartbeat_ms / PROBES_PER_HEARTBEAT;
    world.run_for(Duration::from_millis(
        heartbeat_ms + probe_ms * u64::from(PATH_DEAD_PROBES + 1),
    ));
    assert!(
        matches!(
            disconnects(&world, 0)[..],
            [DisconnectReason::PathDead { .. }, ..]
        ),
        "{:?}",
        disconnects(&world, 0)
    );
    world.udp_cut[0] = false;
    world.run_for(Duration::from_secs(2));
    assert!(world.nodes[0].engine.is_welcomed());
}

#[test]
fn a_second_welcome_and_a_rekey_before_welcome_are_ignored_and_counted() {
    let mut world = World::of(&["alpha"], &["fire"]);
    // Before any welcome: the link is not even open, the text is stale.
    world.run_for(Duration::from_micros(1));
    let key = "A".repeat(43) + "=";
    world.inject_text(
        0,
        &format!("{{\"type\":\"rekey\",\"key\":\"{key}\",\"key_id\":3}}"),
    );
    assert!(world.nodes[0].saw(|e| matches!(
        e,
        Event::Unexpected {
            what: Unexpected::RekeyBeforeWelcome
        }
    )));
    world.connect_all();
    let welcome = format!(
        "{{\"type\":\"welcome\",\"udp_host\":\"127.0.0.9\",\"udp_port\":1,\"key\":\"{key}\",\"key_id\":9,\"heartbeat_ms\":50}}"
    );
    world.inject_text(0, &welcome);
    assert!(world.nodes[0].saw(|e| matches!(
        e,
        Event::Unexpected {
            what: Unexpected::SecondWelcome
        }
    )));
    assert_eq!(world.nodes[0].engine.counters().signal_unexpected, 2);
    assert!(world.nodes[0].engine.is_welcomed());
    world.run_for(Duration::from_secs(1));
    assert!(disconnects(&world, 0).is_empty(), "the session went on");
}

#[test]
fn hostile_signaling_is_counted_and_changes_nothing() {
    let mut world = two_nodes();
    let users: Vec<String> = (0..200).map(|i| format!("\"n{i}\"")).collect();
    let hostile = [
        "{\"type\":\"surprise\",\"x\":1}".to_owned(),
        "not json".to_owned(),
        "{\"type\":\"registered\"}".to_owned(),
        format!(
            "{{\"type\":\"users_connected\",\"channel_id\":\"fire\",\"users\":[{}]}}",
            users.join(",")
        ),
        "{\"type\":\"registered\",\"channel_id\":\"water\",\"stream_id\":5}".to_owned(),
        "{\"type\":\"transmit\",\"channel_id\":\"water\",\"node_id\":\"x\",\"active\":true}"
            .to_owned(),
    ];
    for text in &hostile {
        world.inject_text(1, text);
    }
    let c = world.nodes[1].engine.counters();
    assert_eq!(c.signal_unknown_type, 1, "{c:?}");
    assert_eq!(c.signal_malformed, 3, "{c:?}");
    assert_eq!(c.signal_unexpected, 2, "{c:?}");
    world.talk(0, 0, 0, 10);
    world.run_for(Duration::from_millis(300));
    assert_intact(&world.nodes[1].frames(0), 0, 10);
    assert!(disconnects(&world, 1).is_empty());
}

#[test]
fn a_stream_id_is_never_sealed_on_twice_under_one_key() {
    let mut world = two_nodes();
    let original = world.nodes[0].engine.stream_id(CH0).unwrap();
    let to =
        |id: u32| format!("{{\"type\":\"registered\",\"channel_id\":\"fire\",\"stream_id\":{id}}}");
    world.inject_text(0, &to(9001));
    assert_eq!(world.nodes[0].engine.stream_id(CH0), Some(StreamId(9001)));
    world.inject_text(0, &to(9002));
    assert!(disconnects(&world, 0).is_empty());
    // Back to an id already sealed on under this key: nonces would repeat.
    world.inject_text(0, &to(original.0));
    assert_eq!(
        disconnects(&world, 0),
        [DisconnectReason::StreamIdReused {
            stream_id: original
        }]
    );
    world.run_for(Duration::from_secs(2));
    assert!(
        world.nodes[0].engine.is_welcomed(),
        "a new session, a new key"
    );
}

/// A datagram header on `stream` under `key_id` with a tag that cannot
/// verify.
fn forged(key_id: u8, stream: StreamId, seq: u32) -> Vec<u8> {
    let mut d = vec![1, 1, 0, key_id];
    d.extend_from_slice(&stream.0.to_be_bytes());
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&0u32.to_be_bytes());
    d.extend_from_slice(&[0x5a; 40]);
    d
}

fn key_id_of(world: &World, i: usize) -> u8 {
    world.nodes[i]
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::Welcomed { key_id, .. } | Event::Rekeyed { key_id } => Some(key_id.0),
            _ => None,
        })
        .unwrap()
}

#[test]
fn only_the_relays_next_key_is_held_and_a_key_never_announced_ends_the_session() {
    let mut world = two_nodes();
    let stream = world.nodes[1].engine.stream_id(CH0).unwrap();
    let key = key_id_of(&world, 1);
    let stranger = std::net::SocketAddr::from(([127, 0, 0, 66], 4000));
    // From a stranger, or under a key two ahead: refused at once.
    world.inject_datagram(1, stranger, forged(key.wrapping_add(1), stream, 1));
    world.inject_datagram(1, RELAY_UDP, forged(key.wrapping_add(2), stream, 1));
    let c = world.nodes[1].engine.counters();
    assert_eq!(c.datagrams_parked, 0);
    assert_eq!(c.drop_open[OpenErrorKind::UnknownKey.index()], 2);
    // From the relay under its next key: held, and when no rekey comes
    // the session is given up for a fresh one.
    world.inject_datagram(1, RELAY_UDP, forged(key.wrapping_add(1), stream, 1));
    assert_eq!(world.nodes[1].engine.counters().datagrams_parked, 1);
    world.run_for(PARKED_AGE_MAX + Duration::from_millis(10));
    assert_eq!(
        disconnects(&world, 1),
        [DisconnectReason::KeyNeverAnnounced]
    );
    world.run_for(Duration::from_secs(2));
    assert!(world.nodes[1].engine.is_welcomed());
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = || {
        let mut world = two_nodes();
        world.relay_mute[0] = true;
        world.run_for(Duration::from_secs(3));
        world.relay_mute[0] = false;
        world.talk(0, 0, 0, 20);
        world.run_for(Duration::from_secs(1));
        (
            world.nodes[0].events.clone(),
            world.nodes[1].delivered.len(),
            world.nodes[0].engine.counters().clone(),
        )
    };
    assert_eq!(run(), run());
}

/// Every remote alert node `i` reported: (channel, node, tone id, alert type).
fn remote_alerts(world: &World, i: usize) -> Vec<(usize, String, String, String)> {
    world.nodes[i]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::RemoteAlert {
                channel,
                node,
                tone_id,
                alert_type,
            } => Some((
                channel.get(),
                node.to_string(),
                tone_id.to_string(),
                alert_type.to_string(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_page_reaches_the_other_site_on_its_channel_and_no_one_else() {
    // Alpha and bravo share "pages"; charlie is on "fire" only.
    let mut world = World::of(&["alpha", "bravo", "charlie"], &["pages"]);
    let old = world.nodes[2].engine.config().clone();
    let mut config = NodeConfig::new(
        old.node_id(),
        "test-token-0123456789",
        old.connect_timeout,
        old.reconnect_max,
        old.seed,
    )
    .unwrap();
    config.add_channel("fire", 0).unwrap();
    *world.nodes[2].engine = Node::new(config);
    world.connect_all();

    world.nodes[0]
        .engine
        .report_alert(world.now, CH0, "Station 1", "fire");
    world.run_for(Duration::from_millis(100));

    assert_eq!(
        remote_alerts(&world, 1),
        [(0, "alpha".into(), "Station 1".into(), "fire".into())]
    );
    assert!(
        remote_alerts(&world, 0).is_empty(),
        "not back to the sender"
    );
    assert!(
        remote_alerts(&world, 2).is_empty(),
        "not to another channel"
    );
    let sent: Vec<_> = world.nodes[0]
        .sent
        .iter()
        .filter(|t| t.contains("tone_detected"))
        .collect();
    assert_eq!(
        sent,
        [
            r#"{"type":"tone_detected","channel_id":"pages","tone_id":"Station 1","alert_type":"fire"}"#
        ]
    );
    assert_eq!(world.relay.counters().tone_reports, 1);
    for node in &world.nodes {
        assert_eq!(node.engine.counters().signal_unexpected, 0);
    }
}

#[test]
fn a_page_that_cannot_be_reported_is_counted_and_a_stray_one_ignored() {
    let mut world = World::of(&["alpha", "bravo"], &["fire"]);
    // Before any session: nowhere to send it.
    world.nodes[0]
        .engine
        .report_alert(world.now, CH0, "Station 1", "fire");
    world.connect_all();
    // Labels signaling cannot carry.
    for (tone_id, alert_type) in [("", "fire"), ("Station 1", ""), (&*"x".repeat(49), "fire")] {
        world.nodes[0]
            .engine
            .report_alert(world.now, CH0, tone_id, alert_type);
    }
    // More than the queue holds before a drain: the ninth is dropped.
    for n in 0..9 {
        world.nodes[0]
            .engine
            .report_alert(world.now, CH0, &format!("Station {n}"), "fire");
    }
    world.run_for(Duration::from_millis(100));
    let a = world.nodes[0].engine.counters();
    assert_eq!(a.tone_reports_unsent, 1, "{a:?}");
    assert_eq!(a.tone_reports_invalid, 3, "{a:?}");
    assert_eq!(a.drop_tone_reports_full, 1, "{a:?}");
    let heard: Vec<_> = remote_alerts(&world, 1)
        .into_iter()
        .map(|(_, _, tone_id, _)| tone_id)
        .collect();
    let expected: Vec<_> = (0..8).map(|n| format!("Station {n}")).collect();
    assert_eq!(heard, expected, "the first eight, in order");

    // From the relay, about a channel bravo does not have.
    world.inject_text(
        1,
        r#"{"type":"tone_detected","channel_id":"water","node_id":"alpha","tone_id":"t","alert_type":"a"}"#,
    );
    assert!(world.nodes[1].saw(|e| matches!(
        e,
        Event::Unexpected {
            what: Unexpected::UnknownChannel
        }
    )));
    assert_eq!(world.nodes[1].engine.counters().signal_unexpected, 1);
    assert_eq!(remote_alerts(&world, 1).len(), 8);
    assert!(disconnects(&world, 1).is_empty());
}

#[test]
fn a_page_caught_by_a_link_drop_is_counted_and_the_next_one_goes_out() {
    let mut world = two_nodes();
    world.nodes[0]
        .engine
        .report_alert(world.now, CH0, "Station 1", "fire");
    // The link fails before the driver drains.
    world.nodes[0]
        .engine
        .handle_disconnected(world.now, echostream_core::node::LinkDown::Eof);
    world.run_for(Duration::from_secs(2));
    assert!(world.nodes[0].engine.is_welcomed(), "back on a new session");
    world.nodes[0]
        .engine
        .report_alert(world.now, CH0, "Station 2", "ems");
    world.run_for(Duration::from_millis(100));
    assert_eq!(
        remote_alerts(&world, 1),
        [(0, "alpha".into(), "Station 2".into(), "ems".into())]
    );
    assert_eq!(world.nodes[0].engine.counters().tone_reports_unsent, 1);
}

#[test]
fn a_page_from_the_relay_on_a_channel_not_yet_registered_is_out_of_place() {
    let mut world = World::of(&["alpha"], &["fire"]);
    // Welcomed, but the UDP side never comes up: nothing registers.
    world.udp_host_stuck = true;
    world.run_for(Duration::from_millis(100));
    world.inject_text(
        0,
        r#"{"type":"tone_detected","channel_id":"fire","node_id":"bravo","tone_id":"t","alert_type":"a"}"#,
    );
    assert!(world.nodes[0].saw(|e| matches!(
        e,
        Event::Unexpected {
            what: Unexpected::NotRegistered
        }
    )));
    assert!(remote_alerts(&world, 0).is_empty());
    assert_eq!(world.nodes[0].engine.counters().signal_unexpected, 1);
}
