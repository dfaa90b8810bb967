//! The real `echostream-relay` binary on loopback, with edge-node clients:
//! registration, member lists, audio fan-out, talker events, channel
//! isolation, and a clean stop on SIGTERM.

mod support;

use std::time::Duration;

use echostream_core::wire::{Flags, Kind};
use support::{Event, Msg, Node, RelayProcess, assert_audio_flows};

const TOKEN: &str = "any-token";

fn users(channel: &str, users: &[&str]) -> Msg {
    Msg::Users {
        channel: channel.into(),
        users: users.iter().map(|u| (*u).to_owned()).collect(),
    }
}

#[test]
fn two_nodes_on_a_channel_hear_each_other_and_another_channel_hears_nothing() {
    let relay = RelayProcess::start(&[]);
    let mut a = Node::join(&relay, "station-a", TOKEN);
    let mut b = Node::join(&relay, "station-b", TOKEN);
    let mut c = Node::join(&relay, "station-c", TOKEN);
    a.register("fire");
    b.register("fire");
    c.register("ems");
    let both = users("fire", &["station-a", "station-b"]);
    assert_eq!(a.wait_for(|m| *m == both), both);
    assert_eq!(b.wait_for(|m| *m == both), both);
    assert_eq!(
        c.wait_for(|m| matches!(m, Msg::Users { .. })),
        users("ems", &["station-c"])
    );

    // A talks: the first frame starts a talk-spurt.
    let frames: Vec<Vec<u8>> = (0..20u8).map(|n| vec![n; 40 + usize::from(n)]).collect();
    for (n, frame) in frames.iter().enumerate() {
        let flags = if n == 0 {
            Flags::START_OF_TALKSPURT
        } else {
            Flags::NONE
        };
        a.send_audio("fire", flags, frame);
    }
    for (n, frame) in frames.iter().enumerate() {
        let got = b
            .receive_media()
            .unwrap_or_else(|| panic!("frame {n} lost"));
        assert_eq!(got.kind, Kind::Audio);
        // Re-sealed for B: B's own stream and keys, A's payload and flags.
        assert_eq!(got.stream, b.streams["fire"]);
        assert_eq!(&got.payload, frame);
        assert_eq!(got.flags.contains(Flags::START_OF_TALKSPURT), n == 0);
    }
    let talking = Msg::Transmit {
        channel: "fire".into(),
        node: "station-a".into(),
        active: true,
    };
    assert_eq!(b.wait_for(|m| *m == talking), talking);

    let end = a.seal("fire", Kind::EndOfTransmission, Flags::NONE, &[]);
    a.send_datagram(&end);
    let got = b.receive_media().expect("end-of-transmission passed on");
    assert_eq!(got.kind, Kind::EndOfTransmission);
    let released = Msg::Transmit {
        channel: "fire".into(),
        node: "station-a".into(),
        active: false,
    };
    assert_eq!(b.wait_for(|m| *m == released), released);

    // The talker hears nothing of its own, and the other channel nothing
    // at all: no datagram, no transmit event.
    a.assert_no_datagram(Duration::from_millis(300));
    c.assert_no_datagram(Duration::from_millis(100));
    let c_saw = c.messages_within(Duration::from_millis(100));
    assert!(
        !c_saw
            .iter()
            .any(|e| matches!(e, Event::Msg(Msg::Transmit { .. }))),
        "{c_saw:?}"
    );

    // B can take the channel once A released it.
    assert_audio_flows(&mut b, &mut a, "fire", 3);

    let stats = relay.stop();
    assert_eq!(stats.get("sessions_welcomed"), 3);
    assert_eq!(stats.get("audio_in"), 23);
    assert_eq!(stats.get("eot_in"), 1);
    assert_eq!(stats.get("drop_not_talker"), 0);
    assert_eq!(stats.get("ws_reset"), 0);
}

#[test]
fn a_leaving_node_is_dropped_from_the_member_list() {
    let relay = RelayProcess::start(&[]);
    let mut a = Node::join(&relay, "station-a", TOKEN);
    let mut b = Node::join(&relay, "station-b", TOKEN);
    a.register("fire");
    b.register("fire");
    let both = users("fire", &["station-a", "station-b"]);
    a.wait_for(|m| *m == both);
    // Forget the older list (A alone, before B came): only a list sent
    // after B leaves may count.
    drop(a.messages_within(std::time::Duration::ZERO));
    drop(b);
    let alone = users("fire", &["station-a"]);
    assert_eq!(a.wait_for(|m| *m == alone), alone);
    let stats = relay.stop();
    assert_eq!(stats.get("sessions_active"), 1, "A, when the relay stopped");
    assert_eq!(stats.get("conn_accepted"), 2);
    assert_eq!(stats.get("ws_reset"), 0, "B closed with a close handshake");
}
