//! Duplicated and replayed packets: a path duplicating 10 % of datagrams,
//! damaging 2 % of copies and replaying 5 % from up to 64 back. No copy,
//! damaged datagram or replay is accepted (packet_once, packet_authentic
//! on every step); the far radio plays the transmission once.

mod scenario_support;

use echostream_sim::world::{LinkModel, WorldBuilder};
use scenario_support::*;

#[test]
fn copies_damaged_datagrams_and_replays_are_refused_and_the_audio_plays_once() {
    let noisy = LinkModel {
        duplicate: 0.10,
        bit_flip: 0.02,
        replay: 0.05,
        replay_depth: 64,
        ..LinkModel::clean(15)
    };
    let a = station("station-a", speech(&[(2.0, 10.0), (15.0, 5.0)])).links(noisy.clone());
    let b = station("station-b", speech(&[])).links(noisy);
    let mut world = WorldBuilder::new(505)
        .node(a)
        .node(b)
        .log_deliveries(true)
        .build()
        .expect("a world");
    run_clean(&mut world, 24.0);
    print_timeline(&world);

    let up = world.nodes[0].up.stats;
    let down = world.nodes[1].down.stats;
    assert!(up.duplicated + down.duplicated > 50, "{up:?} {down:?}");
    assert!(up.replayed + down.replayed > 20, "{up:?} {down:?}");
    assert!(up.flipped + down.flipped > 5, "{up:?} {down:?}");
    // Each frame delivered once: as many deliveries as distinct frames.
    let frames = world.nodes[1].frames(0);
    let distinct: std::collections::BTreeSet<u32> =
        frames.iter().map(|(r, _)| r.timestamp.0).collect();
    assert_eq!(frames.len(), distinct.len(), "a frame delivered twice");
    let (played, concealed) = heard(&world, 1, "fire");
    assert!(played >= frames_in(15.0), "{played} played");
    assert_eq!(concealed, 0, "nothing was lost, nothing is concealed");
    assert_eq!(
        keyed_spans(&world, 1, 0).len(),
        2,
        "one key per transmission"
    );
}
