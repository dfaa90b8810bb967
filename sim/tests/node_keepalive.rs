//! Keep-alives at the relay's default heartbeat (2.5 s), node and relay
//! engines on virtual time: what an idle node costs the relay (one
//! heartbeat a period, a `ping` every fourth round), and how soon a dead
//! path or a silent relay is found (probes every 500 ms once an echo is
//! late). Each test fails if a timing moves.

mod node_support;

use echostream_core::node::{
    DisconnectReason, Event, NodeConfig, PATH_DEAD_PROBES, PATH_LOST_PROBES, PING_EVERY_ROUNDS,
    PROBES_PER_HEARTBEAT,
};
use echostream_core::time::{Duration, Instant};
use echostream_relay::engine::HEARTBEAT_MS_DEFAULT;
use echostream_sim::world::{LinkModel, NodeSpec, World, WorldBuilder};

const HEARTBEAT: Duration = Duration::from_millis(HEARTBEAT_MS_DEFAULT as u64);
const PROBE: Duration = Duration::from_millis(500);

/// One node on channel "fire", 5 ms links, the relay's defaults, not yet
/// started.
fn one_node_world() -> World {
    let mut config = NodeConfig::new(
        "alpha",
        "test-token-0123456789",
        Duration::from_secs(2),
        Duration::from_secs(1),
        1,
    )
    .expect("valid node config");
    config.add_channel("fire", 0).expect("valid channel");
    WorldBuilder::new(1)
        .connect_rtts(0)
        .node(NodeSpec::from_config(config).links(LinkModel::clean(5)))
        .build()
        .expect("a valid world")
}

/// [`one_node_world`], welcomed.
fn one_node() -> World {
    let mut world = one_node_world();
    world.run_for(Duration::from_millis(500));
    assert!(world.nodes[0].engine.is_welcomed());
    world
}

fn pings(world: &World) -> usize {
    world.nodes[0]
        .sent
        .iter()
        .filter(|t| t.starts_with("{\"type\":\"ping\""))
        .count()
}

/// Runs until the first echo of a round comes back; returns when that
/// round was sent (the grid of the node's rounds).
fn until_echo(world: &mut World) -> Instant {
    let seen = world.nodes[0].events.len();
    for _ in 0..4000 {
        world.run_for(Duration::from_millis(1));
        if let Some((at, rtt)) = world.nodes[0].events[seen..]
            .iter()
            .find_map(|(at, e)| match e {
                Event::Rtt { rtt } => Some((*at, *rtt)),
                _ => None,
            })
        {
            return Instant::from_micros(at.as_micros() - rtt.as_micros());
        }
    }
    panic!("no heartbeat echo within 4 s");
}

/// Runs the world on to `at`.
fn run_until(world: &mut World, at: Instant) {
    world.run_for(Duration::from_micros(
        at.as_micros() - world.now.as_micros(),
    ));
}

/// When the node left its session, and why.
fn disconnected(world: &World) -> Option<(Instant, DisconnectReason)> {
    world.nodes[0].events.iter().find_map(|(at, e)| match e {
        Event::Disconnected { reason, .. } => Some((*at, *reason)),
        _ => None,
    })
}

fn event_at(world: &World, matches: impl Fn(&Event) -> bool) -> Option<Instant> {
    world.nodes[0]
        .events
        .iter()
        .find(|(_, e)| matches(e))
        .map(|(at, _)| *at)
}

/// Within a few ms of `expected` (the sim's links and turns).
fn assert_near(what: &str, at: Instant, expected: Instant) {
    let early = at.as_micros() < expected.as_micros();
    let off = at.as_micros().abs_diff(expected.as_micros());
    assert!(
        !early && off <= 20_000,
        "{what} at {} ms, expected {} ms",
        at.as_micros() / 1000,
        expected.as_micros() / 1000
    );
}

#[test]
fn the_constants_give_the_documented_times() {
    assert_eq!(HEARTBEAT, Duration::from_millis(2500));
    assert_eq!(
        Duration::from_micros(HEARTBEAT.as_micros() / PROBES_PER_HEARTBEAT),
        PROBE
    );
    assert_eq!(PROBE.as_micros() * u64::from(PATH_LOST_PROBES), 3_000_000);
    assert_eq!(PROBE.as_micros() * u64::from(PATH_DEAD_PROBES), 10_000_000);
    assert_eq!(
        HEARTBEAT.as_micros() * u64::from(PING_EVERY_ROUNDS),
        10_000_000
    );
}

/// An idle node on one channel: over 50 s, 20 heartbeats (each echoed)
/// and 5 pings (each answered): 0.5 keep-alives a second for the relay.
#[test]
fn an_idle_node_beats_every_2_5_s_and_pings_every_10_s() {
    let mut world = one_node();
    let round = until_echo(&mut world);
    // Just after a round, so that the window holds whole rounds.
    run_until(&mut world, round + Duration::from_millis(100));
    let sent = world.nodes[0].engine.counters().heartbeats_sent;
    let echoed = world.nodes[0].engine.counters().heartbeats_echoed;
    let relay_heartbeats = world.relay.counters().heartbeats;
    let pinged = pings(&world);
    world.run_for(Duration::from_secs(50));
    let counters = world.nodes[0].engine.counters();
    assert_eq!(counters.heartbeats_sent - sent, 20, "one a period");
    assert_eq!(counters.heartbeats_echoed - echoed, 20);
    assert_eq!(world.relay.counters().heartbeats - relay_heartbeats, 20);
    assert_eq!(pings(&world) - pinged, 5, "one every fourth round");
    assert!(world.nodes[0].engine.is_welcomed());
    assert_eq!(counters.path_lost, 0);
}

/// UDP cut just after an echo: the next round's heartbeat (2.5 s on) is
/// the first unanswered; probes follow every 500 ms, the first with a
/// `ping` (and every round while unanswered), so the relay keeps the
/// session; the path is lost 3 s after that heartbeat, restored within a
/// probe of UDP coming back; cut again, the node gives the session up 10 s
/// after the first unanswered heartbeat.
#[test]
fn a_dead_path_is_lost_3_s_after_the_first_unanswered_heartbeat_and_dead_after_10_s() {
    let mut world = one_node();
    let round = until_echo(&mut world);
    world.udp_cut[0] = true;
    let first_unanswered = round + HEARTBEAT;
    let sent = world.nodes[0].engine.counters().heartbeats_sent;
    let pinged = pings(&world);
    run_until(&mut world, first_unanswered + Duration::from_millis(3_100));
    let lost = event_at(&world, |e| matches!(e, Event::PathLost { .. })).expect("path lost");
    assert_near("path lost", lost, first_unanswered + Duration::from_secs(3));
    // The round, 5 probes, and the one at 3 s.
    assert_eq!(world.nodes[0].engine.counters().heartbeats_sent - sent, 7);
    // With the first probe, and with the round 2.5 s on.
    assert_eq!(pings(&world) - pinged, 2);
    assert!(
        world.nodes[0]
            .events
            .iter()
            .all(|(_, e)| !matches!(e, Event::Disconnected { .. })),
        "the relay keeps a node whose signaling is up"
    );

    world.udp_cut[0] = false;
    let back = world.now;
    world.run_for(Duration::from_secs(1));
    let restored =
        event_at(&world, |e| matches!(e, Event::PathRestored { .. })).expect("path restored");
    assert!(
        restored.as_micros() - back.as_micros() <= PROBE.as_micros() + 20_000,
        "restored {} ms after UDP came back",
        (restored.as_micros() - back.as_micros()) / 1000
    );

    let round = until_echo(&mut world);
    world.udp_cut[0] = true;
    let first_unanswered = round + HEARTBEAT;
    run_until(&mut world, first_unanswered + Duration::from_millis(9_900));
    assert!(
        world.nodes[0]
            .events
            .iter()
            .all(|(_, e)| !matches!(e, Event::Disconnected { .. })),
        "not before 10 s"
    );
    world.run_for(Duration::from_millis(200));
    let (at, reason) = disconnected(&world).expect("the session is given up");
    assert!(
        matches!(reason, DisconnectReason::PathDead { .. }),
        "{reason:?}"
    );
    assert_near("path dead", at, first_unanswered + Duration::from_secs(10));
}

/// Nothing comes back from the relay (signaling too): the first probe's
/// `ping` waits one period for an answer, so the node leaves 3 s after
/// its first unanswered heartbeat (0.5 s of probing + 2.5 s).
#[test]
fn a_silent_relay_is_left_3_s_after_the_first_unanswered_heartbeat() {
    let mut world = one_node();
    let round = until_echo(&mut world);
    world.relay_mute[0] = true;
    let first_unanswered = round + HEARTBEAT;
    run_until(&mut world, first_unanswered + Duration::from_millis(3_100));
    let (at, reason) = disconnected(&world).expect("the relay is left");
    assert!(
        matches!(reason, DisconnectReason::SignalSilent { .. }),
        "{reason:?}"
    );
    assert_near("left", at, first_unanswered + PROBE + HEARTBEAT);
}

/// The heartbeat a node sends when its stream registers tells the relay
/// where to send the channel's audio. Lost, it is probed for like a
/// round's: the relay learns the address a probe (500 ms) later, not a
/// period later, and the node hears the channel that much sooner.
#[test]
fn a_lost_first_heartbeat_is_probed_for_within_500_ms() {
    let mut world = one_node_world();
    world.udp_cut[0] = true;
    let mut registered = None;
    for _ in 0..2000 {
        world.run_for(Duration::from_millis(1));
        registered = event_at(&world, |e| matches!(e, Event::Registered { .. }));
        if registered.is_some() {
            break;
        }
    }
    let registered = registered.expect("the stream registers");
    // Its heartbeat went out with the registration, into the cut.
    world.run_for(Duration::from_millis(100));
    world.udp_cut[0] = false;
    let sent = until_echo(&mut world);
    assert_near("the first echoed heartbeat", sent, registered + PROBE);
    assert_eq!(world.relay.counters().heartbeats, 1);
}
