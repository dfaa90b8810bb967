//! Holding a channel or a stream without playing by the rules, against
//! the real `echostream-relay` on loopback: a talker that only trickles
//! loses the channel, a datagram captured and replayed from elsewhere
//! does not move a stream, and a node that stops reading is closed rather
//! than left with a wrong view, and gets the current one back on
//! reconnecting.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use echostream_core::wire::{Flags, Kind};
use support::{Event, Msg, Node, RelayProcess, Signaling, assert_audio_flows};
use tungstenite::Message;

const TOKEN: &str = "station-token-0123456789";

fn pair(relay: &RelayProcess) -> (Node, Node) {
    let mut a = Node::join(relay, "station-a", TOKEN);
    let mut b = Node::join(relay, "station-b", TOKEN);
    a.register("fire");
    b.register("fire");
    (a, b)
}

#[test]
fn a_talker_trickling_a_byte_every_two_and_a_half_seconds_loses_the_channel() {
    let relay = RelayProcess::start(&[]);
    let (mut a, mut b) = pair(&relay);
    let started = Instant::now();
    let mut kinds = Vec::new();
    for n in 0..3u32 {
        if n > 0 {
            std::thread::sleep(Duration::from_millis(2500));
        }
        // Pings keep the session itself alive; only the channel is at
        // stake.
        a.send_text(r#"{"type":"ping","t":1}"#);
        b.send_text(r#"{"type":"ping","t":1}"#);
        a.send_audio("fire", Flags::NONE, b"x");
        while let Some(got) = b.receive(Duration::from_millis(300), false) {
            kinds.push(got.kind);
        }
    }
    assert_eq!(
        kinds,
        [Kind::Audio, Kind::Audio, Kind::EndOfTransmission],
        "the third byte in 5 s is no stream: cut, with an end for the listener"
    );
    b.wait_for(|m| matches!(m, Msg::Transmit { node, active: false, .. } if node == "station-a"));
    // The trickler is told why.
    a.wait_for(|m| matches!(m, Msg::Error { code: 429, message } if message.contains("cut")));
    // The channel is free for a real talker; the trickler is refused.
    a.send_audio("fire", Flags::NONE, b"x");
    assert_audio_flows(&mut b, &mut a, "fire", 3);
    assert!(started.elapsed() < Duration::from_secs(10));
    let stats = relay.stop();
    assert_eq!(stats.get("talker_trickles"), 1, "{stats:?}");
}

#[test]
fn an_old_datagram_replayed_from_another_address_does_not_move_the_stream() {
    let relay = RelayProcess::start(&[]);
    let (mut a, mut b) = pair(&relay);
    // Captured on the path before the relay saw them, then replayed from
    // another host, still inside the replay window.
    let old = a.seal("fire", Kind::Heartbeat, Flags::NONE, &1u64.to_be_bytes());
    let newest = a.seal("fire", Kind::Heartbeat, Flags::NONE, &2u64.to_be_bytes());
    a.send_datagram(&newest);
    assert_eq!(
        a.receive(support::PATIENCE, true).map(|g| g.kind),
        Some(Kind::HeartbeatEcho)
    );
    let attacker = UdpSocket::bind("127.0.0.2:0").expect("bind another loopback IP");
    attacker.send_to(&old, relay.udp).expect("replay");
    // Its echo goes to station-a, not to the replayer, and so does audio.
    assert_eq!(
        a.receive(support::PATIENCE, true).map(|g| g.kind),
        Some(Kind::HeartbeatEcho)
    );
    assert_audio_flows(&mut b, &mut a, "fire", 3);
    attacker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        attacker.recv_from(&mut [0u8; 2048]).is_err(),
        "the replayer got a datagram"
    );
    let stats = relay.stop();
    assert_eq!(stats.get("return_addr_kept_not_newest"), 1, "{stats:?}");
    assert_eq!(stats.get("return_addr_moves"), 0, "{stats:?}");
}

#[test]
fn a_node_that_stops_reading_is_closed_and_reconnects_to_the_current_members() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b) = pair(&relay);
    let mut slow = Signaling::connect(relay.ws);
    slow.hello("station-s", TOKEN);
    assert!(matches!(
        slow.next(support::PATIENCE),
        Some(Event::Msg(Msg::Welcome { .. }))
    ));
    // Each `register` of a channel it holds is answered with `registered`
    // (state): ask for far more than its socket and write queue hold, and
    // read nothing. Meanwhile the channel's members change.
    let register = r#"{"type":"register","channel_id":"fire"}"#;
    let mut x = None;
    for n in 0..20_000 {
        if slow.send_raw(Message::text(register)).is_err() {
            break;
        }
        if n == 100 {
            let mut node = Node::join(&relay, "station-x", TOKEN);
            node.register("fire");
            x = Some(node);
        }
    }
    let closed = relay
        .wait_log(
            "node=station-s reason=write_queue_full",
            Duration::from_secs(20),
        )
        .expect("the slow reader is closed");
    assert!(closed.contains("session closed"), "{closed}");
    assert!(x.is_some(), "station-x joined while station-s was stalled");

    // Back, it gets the members as they are now, itself included.
    let mut again = Node::join(&relay, "station-s", TOKEN);
    again.register("fire");
    again.wait_for(|m| {
        matches!(m, Msg::Users { channel, users }
            if channel == "fire" && users == &["station-a", "station-b", "station-x", "station-s"])
    });
    assert_audio_flows(&mut a, &mut b, "fire", 2);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("ws_closed_queue_full"), 1, "{stats:?}");
}
