//! Relay restart mid-transmission: the relay dies 4 s into a 14 s
//! transmission and comes back 2 s later. The far transmitter is
//! released while nothing arrives (never left keyed on a dead link), both
//! nodes come back by themselves, and the rest of the transmission is
//! heard.

mod scenario_support;

use echostream_sim::world::{Action, What, WorldBuilder};
use scenario_support::*;

#[test]
fn a_relay_restart_mid_transmission_releases_the_far_radio_and_the_rest_is_heard() {
    let a = station("station-a", speech(&[(2.0, 14.0)]));
    let b = station("station-b", speech(&[]));
    let mut world = WorldBuilder::new(606)
        .node(a)
        .node(b)
        .at(
            secs(6.0),
            Action::RelayRestart {
                down_for: secs(2.0),
            },
        )
        .build()
        .expect("a world");
    run_clean(&mut world, 22.0);
    print_timeline(&world);

    for node in 0..2 {
        let welcomes = count(&world, node, |w| matches!(w, What::Welcomed { .. }));
        assert_eq!(
            welcomes, 2,
            "node {node} welcomed before and after the restart"
        );
    }
    // B keyed for the first part, released soon after the relay died
    // (remote silence + hang), keyed again for the rest.
    let keyed = keyed_spans(&world, 1, 0);
    assert_eq!(keyed.len(), 2, "{keyed:?}");
    assert!(
        (6.0..7.5).contains(&keyed[0].1),
        "released after the relay died: {keyed:?}"
    );
    assert!(
        (8.0..12.0).contains(&keyed[1].0),
        "keyed again after it came back: {keyed:?}"
    );
    assert!(keyed[1].1 >= 16.0 && keyed[1].1 < 17.5, "{keyed:?}");
    let (frames, _) = heard(&world, 1, "fire");
    assert!(frames >= frames_in(9.0), "{frames} frames heard of 14 s");
}
