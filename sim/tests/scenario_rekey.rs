//! Rekey mid-transmission: the relay gives both nodes new keys three
//! times during a 20 s transmission. Not one frame is lost or concealed
//! across a key change, and the far radio stays keyed throughout.

mod scenario_support;

use echostream_sim::world::{Action, What, WorldBuilder};
use scenario_support::*;

#[test]
fn rekeys_mid_transmission_lose_nothing_and_keep_the_far_radio_keyed() {
    let a = station("station-a", speech(&[(2.0, 20.0)]));
    let b = station("station-b", speech(&[]));
    let mut world = WorldBuilder::new(707)
        .node(a)
        .node(b)
        .at(secs(5.0), Action::Rekey { node: None })
        .at(secs(9.51), Action::Rekey { node: Some(0) })
        .at(secs(14.013), Action::Rekey { node: Some(1) })
        .build()
        .expect("a world");
    run_clean(&mut world, 26.0);
    print_timeline(&world);

    let rekeys: usize = (0..2)
        .map(|n| count(&world, n, |w| matches!(w, What::Rekeyed { .. })))
        .sum();
    assert_eq!(rekeys, 4, "both nodes, then each once");
    let keyed = keyed_spans(&world, 1, 0);
    assert_eq!(keyed.len(), 1, "{keyed:?}");
    let (frames, concealed) = heard(&world, 1, "fire");
    assert!(frames >= frames_in(20.0), "{frames}");
    assert_eq!(concealed, 0, "a frame lost at a key change");
}
