//! Burst loss: a 30 s transmission over a path losing 8 % of datagrams in
//! bursts of about 4 (Gilbert–Elliott). The far transmitter stays keyed
//! through the whole transmission (no drop-outs on the air), the gaps are
//! concealed, and nothing is played twice or out of order.

mod scenario_support;

use echostream_sim::world::{BurstLoss, LinkModel, WorldBuilder};
use scenario_support::*;

#[test]
fn a_transmission_over_bursty_loss_keys_the_far_radio_once_and_conceals_the_gaps() {
    let lossy = LinkModel {
        loss: BurstLoss::bursts(0.08, 4.0),
        jitter: echostream_core::time::Duration::from_millis(10),
        ..LinkModel::clean(30)
    };
    let a = station("station-a", speech(&[(2.0, 30.0)])).links(lossy);
    let b = station("station-b", speech(&[]));
    let mut world = WorldBuilder::new(303)
        .node(a)
        .node(b)
        .build()
        .expect("a world");
    run_clean(&mut world, 36.0);
    print_timeline(&world);

    let lost = world.nodes[0].up.stats.lost;
    assert!(lost > 50, "the path lost {lost} datagrams");
    let keyed = keyed_spans(&world, 1, 0);
    assert_eq!(keyed.len(), 1, "one key for one transmission: {keyed:?}");
    assert!(keyed[0].1 - keyed[0].0 >= 30.0, "{keyed:?}");
    let (frames, concealed) = heard(&world, 1, "fire");
    // The transmission is played whole: a frame or its concealment for
    // almost every 20 ms (the jitter buffer may skip a lost frame rather
    // than conceal it when it is behind).
    assert!(
        frames + concealed >= frames_in(30.0) * 95 / 100,
        "{frames} + {concealed} of {} ({lost} lost)",
        frames_in(30.0)
    );
    assert!(
        concealed > 0 && concealed <= lost,
        "{concealed} concealed of {lost} lost"
    );
}
