//! A stuck COR line: a receiver's COR line goes active and stays so (a
//! failed squelch, a shorted cable). The channel sends for as long as
//! the relay lets one talker hold it; no transmitter anywhere stays
//! keyed past its time-out, and the other stations can still talk once
//! the relay has cut the stuck one.

mod scenario_support;

use echostream_core::ptt::Timers;
use echostream_sim::world::{CorScript, GateSpec, NodeSpec, SourceSpec, WorldBuilder};
use scenario_support::*;

#[test]
fn a_stuck_cor_line_never_holds_a_transmitter_past_its_time_out() {
    let timers = Timers {
        timeout_s: 30,
        lockout_s: 5,
        ..Timers::DEFAULT
    };
    let stuck = NodeSpec::new(
        "station-a",
        vec![
            radio("fire", timers)
                .gate(GateSpec::CorLine)
                .source(SourceSpec {
                    noise_dbfs: Some(-30.0),
                    ..SourceSpec::default()
                }),
        ],
    )
    .expect("valid node");
    let b = NodeSpec::new("station-b", vec![radio("fire", timers)]).expect("valid node");
    let c = NodeSpec::new(
        "station-c",
        vec![radio("fire", timers).source(speech(&[(150.0, 4.0)]))],
    )
    .expect("valid node");
    // The relay lets one talker hold the channel 60 s.
    let mut world = WorldBuilder::new(909)
        .relay(|r| r.max_talk_s = 60)
        .node(stuck)
        .node(b)
        .node(c)
        .cor(0, 0, &CorScript::Stuck { at: secs(5.0) })
        .build()
        .expect("a world");
    run_clean(&mut world, 170.0);
    print_timeline(&world);

    for node in 1..3 {
        for (from, to) in keyed_spans(&world, node, 0) {
            let to = to.min(170.0);
            assert!(to - from <= 30.05, "node {node} keyed {from:.2}..{to:.2}");
        }
    }
    // B's transmitter tripped its time-out on the stuck station, stayed
    // locked out while the stuck station was still heard, and carried
    // C's call at 150 s once the relay had cut the stuck talker.
    let keyed = keyed_spans(&world, 1, 0);
    // (After C, the stuck station takes the channel again: a third key,
    // still open when the run ends.)
    assert_eq!(keyed.len(), 3, "{keyed:?}");
    assert!((keyed[0].1 - keyed[0].0 - 30.0).abs() < 0.05, "{keyed:?}");
    assert!((150.0..150.3).contains(&keyed[1].0), "{keyed:?}");
    let (frames, _) = heard(&world, 1, "fire");
    assert!(frames >= frames_in(30.0 + 4.0), "{frames}");
}
