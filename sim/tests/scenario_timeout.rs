//! Time-out trip and lock-out: a far station talks for 40 s into a radio
//! whose transmitter times out at 10 s with a 5 s lock-out. The
//! transmitter is released at 10 s, stays released while the far side
//! keeps talking, and keys again only after the far side has been quiet
//! for the lock-out and talks anew.

mod scenario_support;

use echostream_core::ptt::Timers;
use echostream_sim::world::{NodeSpec, WorldBuilder};
use scenario_support::*;

#[test]
fn a_long_transmission_trips_the_time_out_and_the_lock_out_holds_until_the_far_side_stops() {
    let timers = Timers {
        timeout_s: 10,
        lockout_s: 5,
        ..Timers::DEFAULT
    };
    let a = station("station-a", speech(&[(2.0, 40.0), (50.0, 3.0)]));
    let b = NodeSpec::new("station-b", vec![radio("fire", timers)]).expect("valid node");
    let mut world = WorldBuilder::new(808)
        .node(a)
        .node(b)
        .build()
        .expect("a world");
    // ptt_timeout and ptt_lockout are checked on every step.
    run_clean(&mut world, 60.0);
    print_timeline(&world);

    let keyed = keyed_spans(&world, 1, 0);
    assert_eq!(keyed.len(), 2, "{keyed:?}");
    let (from, to) = keyed[0];
    assert!(
        (to - from - 10.0).abs() < 0.05,
        "released at the 10 s time-out: {keyed:?}"
    );
    // Locked out through the rest of the 40 s transmission and its 5 s of
    // quiet; the next transmission at 50 s keys it.
    assert!((50.0..50.3).contains(&keyed[1].0), "{keyed:?}");
    assert!(keyed[1].1 < 54.0, "{keyed:?}");
}
