//! Stacked pages over a lossy link: three pages back to back on one
//! channel, at a station whose path to the relay loses 10 % of datagrams
//! in bursts and jitters. Each page alerts exactly once there with its
//! own tone id (page_alerted_once), one recording holds all three, and
//! every other site is told of each page once, in order.

mod scenario_support;

use echostream_core::ptt::Timers;
use echostream_core::record::Effect;
use echostream_core::time::Duration;
use echostream_sim::world::{BurstLoss, LinkModel, NodeSpec, SourceSpec, WorldBuilder};
use scenario_support::*;

#[test]
fn three_stacked_pages_over_a_lossy_link_alert_once_each_everywhere() {
    let lossy = LinkModel {
        loss: BurstLoss::bursts(0.10, 3.0),
        jitter: Duration::from_millis(40),
        ..LinkModel::clean(40)
    };
    let source = SourceSpec {
        noise_dbfs: Some(-45.0),
        ..SourceSpec::default()
    };
    let source = page(source, 2.0, "Station 1");
    let source = page(source, 5.6, "Station 2");
    let source = page(source, 9.2, "County EMS");
    let pages = paging_station("dispatch", source).links(lossy);
    // The other sites are on the paging channel too.
    let listener =
        |id: &str| NodeSpec::new(id, vec![radio("pages", Timers::DEFAULT)]).expect("valid node");
    let b = listener("station-b");
    let c = listener("station-c");
    let mut world = WorldBuilder::new(1010)
        .node(pages)
        .node(b)
        .node(c)
        .build()
        .expect("a world");
    run_clean(&mut world, 30.0);
    print_timeline(&world);

    let expected = ["Station 1", "Station 2", "County EMS"];
    assert_eq!(alerts(&world, 0), expected);
    for node in 1..3 {
        let told: Vec<String> = remote_alerts(&world, node)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(told, expected, "node {node}");
    }
    // One recording, joined by the three alerts.
    let starts = world.nodes[0]
        .records
        .iter()
        .filter(|(_, _, e)| matches!(e, Effect::Start { .. }))
        .count();
    let joined = world.nodes[0]
        .records
        .iter()
        .filter(|(_, _, e)| matches!(e, Effect::Joined { .. }))
        .count();
    assert_eq!((starts, joined), (1, 3));
    assert!(world.nodes[0].up.stats.lost > 20);
}
