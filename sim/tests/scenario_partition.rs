//! Partition and heal: a station is cut off from the relay (both ways,
//! signaling and datagrams) for 20 s while another talks. Its radio is
//! not keyed by anything during the partition, it notices the dead link
//! and reconnects by itself when the path heals, and it hears the next
//! transmission whole.

mod scenario_support;

use echostream_sim::world::{Action, Direction, Path, What, WorldBuilder};
use scenario_support::*;

#[test]
fn a_partitioned_station_reconnects_after_the_heal_and_hears_the_next_transmission() {
    let a = station("station-a", speech(&[(2.0, 4.0), (12.0, 4.0), (40.0, 4.0)]));
    let b = station("station-b", speech(&[]));
    let mut world = WorldBuilder::new(1111)
        .relay(|r| r.heartbeat_ms = 1_000)
        .node(a)
        .node(b)
        .at(
            secs(8.0),
            Action::Outage {
                node: Some(1),
                direction: Direction::Both,
                path: Path::Both,
                duration: secs(20.0),
            },
        )
        .build()
        .expect("a world");
    run_clean(&mut world, 50.0);
    print_timeline(&world);

    let keyed = keyed_spans(&world, 1, 0);
    assert_eq!(
        keyed.len(),
        2,
        "before and after the partition only: {keyed:?}"
    );
    assert!(keyed[0].1 < 8.0, "{keyed:?}");
    assert!((40.0..40.3).contains(&keyed[1].0), "{keyed:?}");
    // It saw the link die and was welcomed again after the heal.
    let welcomes = count(&world, 1, |w| matches!(w, What::Welcomed { .. }));
    assert!(welcomes >= 2, "{welcomes} welcomes");
    let last_welcome = world
        .timeline
        .filter(|e| {
            e.node.as_deref() == Some("station-b") && matches!(e.what, What::Welcomed { .. })
        })
        .last()
        .map(|e| at_s(e.at))
        .expect("welcomed");
    assert!(
        (28.0..35.0).contains(&last_welcome),
        "welcomed again at {last_welcome}"
    );
    let (frames, concealed) = heard(&world, 1, "fire");
    assert!(frames >= frames_in(8.0), "{frames}");
    assert_eq!(concealed, 0);
}
