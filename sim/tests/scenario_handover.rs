//! PTT handover: station A talks, then station B answers. Each radio's
//! transmitter keys for the other's talk-spurt only, and every frame
//! of each arrives.

mod scenario_support;

use echostream_sim::world::WorldBuilder;
use scenario_support::*;

#[test]
fn two_stations_take_turns_and_each_transmitter_keys_for_the_other_only() {
    let a = station("station-a", speech(&[(2.0, 4.0), (14.0, 3.0)]));
    let b = station("station-b", speech(&[(8.0, 4.0)]));
    let mut world = WorldBuilder::new(101)
        .node(a)
        .node(b)
        .build()
        .expect("a world");
    run_clean(&mut world, 22.0);
    print_timeline(&world);

    // B's transmitter carries A's two spurts; A's carries B's one.
    let b_keyed = keyed_spans(&world, 1, 0);
    let a_keyed = keyed_spans(&world, 0, 0);
    assert_eq!(b_keyed.len(), 2, "B keyed once per A spurt: {b_keyed:?}");
    assert_eq!(a_keyed.len(), 1, "A keyed once for B's spurt: {a_keyed:?}");
    // Keyed within a few frames of the far side starting, released within
    // the hang after it stops, never while its own receiver talks.
    assert!((2.0..2.3).contains(&b_keyed[0].0), "{b_keyed:?}");
    assert!((6.0..7.0).contains(&b_keyed[0].1), "{b_keyed:?}");
    assert!((8.0..8.3).contains(&a_keyed[0].0), "{a_keyed:?}");
    assert!((12.0..13.0).contains(&a_keyed[0].1), "{a_keyed:?}");
    assert!((14.0..14.3).contains(&b_keyed[1].0), "{b_keyed:?}");
    for &(from, to) in &a_keyed {
        assert!(
            to <= 14.0 || from >= 17.5,
            "A keyed over its own talk: {a_keyed:?}"
        );
    }

    // Every frame heard: 4 s + 3 s at B, 4 s at A, none concealed.
    let (b_frames, b_concealed) = heard(&world, 1, "fire");
    let (a_frames, a_concealed) = heard(&world, 0, "fire");
    assert!(
        b_frames.abs_diff(frames_in(7.0)) <= 30,
        "B heard {b_frames}"
    );
    assert!(
        a_frames.abs_diff(frames_in(4.0)) <= 20,
        "A heard {a_frames}"
    );
    assert_eq!((a_concealed, b_concealed), (0, 0));
}
