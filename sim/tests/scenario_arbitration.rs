//! Simultaneous keying: two stations' receivers open (COR) in the same
//! 20 ms, and both radios are set not to key over a busy receiver. The
//! relay gives the channel to one; a third station's transmitter carries
//! that one's whole spurt and nothing of the other, and the refused
//! station's radio is not keyed over its own receiver.

mod scenario_support;

use echostream_core::ptt::Timers;
use echostream_sim::world::{CorScript, GateSpec, NodeSpec, What, WorldBuilder};
use scenario_support::*;

#[test]
fn one_of_two_simultaneous_talkers_gets_the_channel_and_the_other_is_not_mixed_in() {
    // Both radios refuse to key over their own busy receiver.
    let busy = |id: &str| {
        let mut channel = radio("fire", Timers::DEFAULT)
            .gate(GateSpec::CorLine)
            .source(speech(&[(3.0, 5.0)]));
        channel.busy_lockout = true;
        channel.busy_wait_ms = 1_000;
        NodeSpec::new(id, vec![channel]).expect("valid node")
    };
    // Both receivers open their COR lines for the same 5 s.
    let talk = CorScript::Pulses(vec![(secs(3.0), secs(8.0))]);
    let a = busy("station-a");
    let b = busy("station-b");
    let c = NodeSpec::new("station-c", vec![radio("fire", Timers::DEFAULT)]).expect("valid node");
    let mut world = WorldBuilder::new(202)
        .node(a)
        .node(b)
        .node(c)
        .cor(0, 0, &talk)
        .cor(1, 0, &talk)
        .log_deliveries(true)
        .build()
        .expect("a world");
    run_clean(&mut world, 12.0);
    print_timeline(&world);

    // C heard one talker for the whole spurt: one keyed span, frames from
    // one sender only (a sender's media times sit in its own 2²⁸ range).
    let c_keyed = keyed_spans(&world, 2, 0);
    assert_eq!(c_keyed.len(), 1, "{c_keyed:?}");
    let frames = world.nodes[2].frames(0);
    let senders: std::collections::BTreeSet<u32> =
        frames.iter().map(|(r, _)| r.timestamp.0 >> 28).collect();
    assert_eq!(senders.len(), 1, "C got frames of {senders:?}");
    assert!(
        frames.len() as u64 >= frames_in(5.0),
        "C got {} frames",
        frames.len()
    );

    // Neither talker's transmitter keyed over its own receiver: the
    // loser's radio let the winner's audio wait, then dropped it.
    for node in 0..2 {
        let spans = keyed_spans(&world, node, 0);
        for &(from, to) in &spans {
            assert!(
                to <= 3.0 || from >= 8.0,
                "node {node} keyed while talking: {spans:?}"
            );
        }
    }
    let dropped = (0..2)
        .map(|n| count(&world, n, |w| matches!(w, What::AudioDropped { .. })))
        .sum::<usize>();
    assert!(dropped >= 1, "the loser dropped the winner's audio");
}
