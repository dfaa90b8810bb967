//! The relay core driven by simulated nodes on virtual time: bounded
//! queues and stores under floods and slow readers, and rekeys in queue
//! order.

mod engine_support;

use echostream_core::wire::signal::ToRelay;
use echostream_core::wire::{Kind, MediaTimestamp};
use echostream_relay::engine::{CloseReason, ConnId};

use engine_support::{CH, Msg, Seen, TOKEN, World, config, three_on_channel};

#[test]
fn a_flood_fills_only_bounded_queues_and_others_still_get_through() {
    let mut config = config();
    config.limits.datagram_queue_len_max = 16;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    // Alpha floods without the driver draining in between.
    for n in 0..200u32 {
        let mut d = w.seal(0, Kind::Audio, &n.to_be_bytes());
        let from = w.nodes[0].addr;
        w.relay.handle_datagram(w.now, from, &mut d);
    }
    let mut hb = w.seal(2, Kind::Heartbeat, &5u64.to_be_bytes());
    let from = w.nodes[2].addr;
    w.relay.handle_datagram(w.now, from, &mut hb);
    w.drain();
    assert_eq!(
        w.relay.counters().drops.datagram_queue_full,
        2 * (200 - 16) + 1
    );
    assert_eq!(w.received(1).len(), 16);
    // Charlie's full queue dropped that echo (counted above); once the
    // driver drains, the next heartbeat is answered at once.
    assert_eq!(w.received(2).len(), 16);
    w.send(2, Kind::Heartbeat, &6u64.to_be_bytes());
    assert_eq!(w.received(2)[0].0, Kind::HeartbeatEcho);
    // Signaling is queued apart from datagrams: bravo's ping still answered.
    w.text(1, &ToRelay::Ping { t: 3 });
    assert!(w.nodes[1].inbox.contains(&Msg::Pong { t: 3 }));
}

#[test]
fn rekey_delivers_a_new_key_and_audio_continues() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"before");
    assert_eq!(w.received(1)[0].2, b"before");
    let old_sender_datagram = w.seal(0, Kind::Audio, b"late old key");
    for i in 0..2 {
        let conn = w.nodes[i].conn;
        w.relay.rekey(w.now, conn).unwrap();
    }
    w.drain();
    assert!(matches!(
        w.nodes[1].inbox.last(),
        Some(Msg::Rekey { key_id: 1, .. })
    ));
    // Sealed before the node switched: still opens within the grace period.
    w.send_datagram(0, old_sender_datagram);
    assert_eq!(w.received(1)[0].2, b"late old key");
    w.send(0, Kind::Audio, b"after");
    let got = w.received(1);
    assert_eq!(got[0].2, b"after");
    assert_eq!(w.relay.counters().rekeys, 2);
}

#[test]
fn a_full_payload_store_drops_and_counts_and_empties_once_drained() {
    let mut config = config();
    // Room for one longest payload: a few short ones.
    config.limits.queued_payload_bytes_max = echostream_core::wire::MAX_PAYLOAD_LEN;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    // Alpha floods without the driver draining in between.
    for n in 0..200u32 {
        let mut d = w.seal(0, Kind::Audio, &n.to_be_bytes());
        let from = w.nodes[0].addr;
        w.relay.handle_datagram(w.now, from, &mut d);
    }
    w.drain();
    let heard = w.received(1);
    assert!(!heard.is_empty() && heard.len() < 200);
    assert_eq!(w.received(2).len(), heard.len());
    // The first ones got through, in order; the rest were counted once
    // per listener.
    for (n, (_, _, payload)) in heard.iter().enumerate() {
        assert_eq!(payload[..], (n as u32).to_be_bytes());
    }
    let drops = &w.relay.counters().drops;
    assert_eq!(drops.payload_store_full, 2 * (200 - heard.len() as u64));
    assert_eq!(drops.datagram_queue_full, 0);
    // Drained, the store is free again.
    w.send(0, Kind::Audio, b"after");
    assert_eq!(w.received(1)[0].2, b"after");
    assert_eq!(w.received(2)[0].2, b"after");
}

#[test]
fn a_full_text_store_drops_and_counts_and_empties_once_drained() {
    let mut config = config();
    // Room for one longest frame: a few dozen pongs.
    config.limits.queued_text_bytes_max = echostream_core::wire::signal::MAX_MESSAGE_LEN;
    let mut w = World::new(config, &["alpha"]);
    w.join(0);
    w.nodes[0].inbox.clear();
    let pings = 60u64;
    for t in 0..pings {
        let mut buf = [0u8; 64];
        let len = ToRelay::Ping { t }.emit(&mut buf).unwrap();
        w.relay.handle_text(w.now, w.nodes[0].conn, &buf[..len]);
    }
    w.drain();
    let pongs = w.nodes[0].inbox.len() as u64;
    let drops = &w.relay.counters().drops;
    assert!(drops.text_store_full > 0);
    assert_eq!(drops.text_queue_full, 0);
    assert_eq!(pongs + drops.text_store_full, pings);
    let expected: Vec<Msg> = (0..pongs).map(|t| Msg::Pong { t }).collect();
    assert_eq!(w.nodes[0].inbox, expected);
    w.nodes[0].inbox.clear();
    w.text(0, &ToRelay::Ping { t: 99 });
    assert_eq!(w.nodes[0].inbox, vec![Msg::Pong { t: 99 }]);
}

/// Node `i`'s outputs, in order, as `R` (its `rekey`), `k` (a datagram
/// under key id k) and `t` (any other frame).
fn order(w: &World, i: usize) -> String {
    w.nodes[i]
        .seen
        .iter()
        .map(|s| match s {
            Seen::Text(Msg::Rekey { .. }) => "R".to_owned(),
            Seen::Text(_) => "t".to_owned(),
            Seen::Datagram(key_id) => key_id.0.to_string(),
        })
        .collect()
}

/// Alpha sends `frames` audio frames without the driver draining.
fn talk_undrained(w: &mut World, frames: u32) {
    for n in 0..frames {
        let mut d = w.seal_at(0, Kind::Audio, MediaTimestamp(n * 960), b"x");
        let from = w.nodes[0].addr;
        w.relay.handle_datagram(w.now, from, &mut d);
    }
}

#[test]
fn rekey_is_handed_out_before_any_datagram_under_its_key() {
    let mut w = three_on_channel();
    w.nodes[1].seen.clear();
    // Audio queued for bravo before and after its rekey, and frames
    // after it too, all waiting for one drain.
    talk_undrained(&mut w, 3);
    let conn = w.nodes[1].conn;
    w.relay.rekey(w.now, conn).unwrap();
    // A second request while the first waits issues nothing.
    w.relay.rekey(w.now, conn).unwrap();
    talk_undrained(&mut w, 3);
    let mut buf = [0u8; 64];
    let len = ToRelay::Ping { t: 1 }.emit(&mut buf).unwrap();
    w.relay.handle_text(w.now, conn, &buf[..len]);
    w.drain();
    // Transmit, rekey, pong, then six datagrams, all under the new key.
    assert_eq!(order(&w, 1), "tRt111111");
    assert_eq!(w.received(1).len(), 6, "every one opens");
    assert_eq!(w.relay.counters().rekeys, 1);
    // Charlie was not rekeyed: its datagrams stay under its first key.
    assert_eq!(w.received(2).len(), 6);
}

/// Node `i` asks, without the driver draining, for `n` answers that
/// carry state (`error`: `transmit` on a channel it has not joined).
fn queue_errors_undrained(w: &mut World, i: usize, n: usize) {
    let conn = w.nodes[i].conn;
    for _ in 0..n {
        let frame = br#"{"type":"transmit","channel_id":"nowhere","active":false}"#;
        w.relay.handle_text(w.now, conn, frame);
    }
}

/// Node `i` restarts and connects on a new connection `conn`: no keys,
/// no streams, an empty inbox.
fn restart(w: &mut World, i: usize, conn: u64) {
    let node = &mut w.nodes[i];
    node.conn = ConnId(conn);
    node.keys = None;
    node.receiver = None;
    node.senders.clear();
    node.streams.clear();
    node.inbox.clear();
    node.datagrams.clear();
    node.closed = None;
}

#[test]
fn a_rekey_that_finds_no_room_closes_the_session_and_no_key_is_left_unannounced() {
    let mut config = config();
    config.limits.text_queue_len_max = 4;
    let mut w = World::new(config, &["alpha", "bravo"]);
    for i in 0..2 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
        w.nodes[i].seen.clear();
        w.nodes[i].inbox.clear();
    }
    // Bravo's frame queue is full (four answers wait) when its rekey comes.
    queue_errors_undrained(&mut w, 1, 4);
    let conn = w.nodes[1].conn;
    assert_eq!(
        w.relay.rekey(w.now, conn),
        Err(echostream_relay::engine::RekeyRefused::QueueFull)
    );
    talk_undrained(&mut w, 2);
    w.drain();
    // Nothing under a key bravo never got: its queue went with it, and it
    // was told why.
    assert_eq!(order(&w, 1), "t");
    assert_eq!(w.nodes[1].inbox, vec![Msg::Error { code: 429 }]);
    assert_eq!(w.nodes[1].closed, Some(CloseReason::QueueFull));
    assert!(w.received(1).is_empty());
    let c = w.relay.counters();
    assert_eq!((c.rekeys, c.rekey_failures), (0, 1));
    assert_eq!(c.sessions_closed_queue_full, 1);
    assert_eq!(w.relay.members(CH), vec!["alpha"]);
    // Bravo reconnects under a fresh key and is heard.
    restart(&mut w, 1, 20);
    w.join(1);
    w.send(1, Kind::Heartbeat, &1u64.to_be_bytes());
    w.received(1);
    w.send(0, Kind::EndOfTransmission, b"");
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(w.received(0).last().unwrap().2, b"b1");
}

#[test]
fn a_session_whose_queue_is_full_when_state_is_due_is_closed_not_desynchronised() {
    let mut config = config();
    config.limits.text_queue_len_max = 4;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    for node in &mut w.nodes {
        node.inbox.clear();
    }
    // Bravo reads nothing for a while: its queue fills with answers.
    queue_errors_undrained(&mut w, 1, 4);
    // Alpha takes the channel: bravo's `transmit` has no room.
    talk_undrained(&mut w, 3);
    w.drain();
    assert_eq!(w.nodes[1].closed, Some(CloseReason::QueueFull));
    assert_eq!(
        w.nodes[1].inbox,
        vec![Msg::Error { code: 429 }],
        "only why, never a partial state"
    );
    assert!(w.received(1).is_empty());
    // Charlie is told who talks and who is left, and hears the audio.
    assert_eq!(
        w.nodes[2].inbox,
        vec![
            Msg::Transmit {
                channel: CH.into(),
                node: "alpha".into(),
                active: true
            },
            Msg::Users {
                channel: CH.into(),
                users: vec!["alpha".into(), "charlie".into()]
            },
        ]
    );
    assert_eq!(w.received(2).len(), 3);
    let c = w.relay.counters();
    assert_eq!((c.sessions_closed_queue_full, c.sessions_closed), (1, 1));
    assert_eq!(c.drops.text_queue_full, 1);
    // Reconnected, bravo has the current member list.
    restart(&mut w, 1, 20);
    w.join(1);
    assert_eq!(
        w.nodes[1].inbox.last(),
        Some(&Msg::Users {
            channel: CH.into(),
            users: vec!["alpha".into(), "charlie".into(), "bravo".into()]
        })
    );
}

#[test]
fn a_slow_reader_has_at_most_the_latest_member_list_per_channel_queued() {
    let mut w = World::new(config(), &["alpha", "bravo"]);
    w.join(0);
    let water = echostream_core::wire::signal::ChannelId::new("water").unwrap();
    w.text(0, &ToRelay::Register { channel_id: water });
    w.join(1);
    w.nodes[0].inbox.clear();
    w.nodes[1].inbox.clear();
    // 300 membership changes on two channels while alpha reads nothing:
    // nodes come and go, one on a fresh connection each time.
    let mut changes = 0;
    for n in 0..150u64 {
        let conn = ConnId(100 + n);
        let channel = if n % 2 == 0 { CH } else { "water" };
        w.relay
            .handle_connect(w.now, conn, std::net::IpAddr::from([127, 0, 0, 1]));
        let hello = format!(r#"{{"type":"hello","node_id":"n{n}","token":"{TOKEN}","version":1}}"#);
        w.relay.handle_text(w.now, conn, hello.as_bytes());
        let register = format!(r#"{{"type":"register","channel_id":"{channel}"}}"#);
        w.relay.handle_text(w.now, conn, register.as_bytes());
        w.relay.handle_disconnect(w.now, conn);
        changes += 2;
    }
    assert_eq!(changes, 300);
    w.drain();
    assert_eq!(w.nodes[0].closed, None);
    assert_eq!(
        w.nodes[0].inbox,
        vec![
            Msg::Users {
                channel: CH.into(),
                users: vec!["alpha".into(), "bravo".into()]
            },
            Msg::Users {
                channel: "water".into(),
                users: vec!["alpha".into()]
            },
        ]
    );
    let c = w.relay.counters();
    // Alpha's 298 replaced lists, and bravo's (a slow reader too).
    assert!(c.users_connected_coalesced >= 298, "{c:?}");
    assert_eq!(c.drops.text_queue_full + c.drops.text_store_full, 0);
    assert_eq!(c.sessions_closed, 0);
    let lists: Vec<_> = w.nodes[1]
        .inbox
        .iter()
        .filter(|m| matches!(m, Msg::Users { .. }))
        .collect();
    assert_eq!(
        lists,
        [&Msg::Users {
            channel: CH.into(),
            users: vec!["alpha".into(), "bravo".into()]
        }]
    );
}

#[test]
fn pongs_to_a_reader_that_lags_are_dropped_and_state_still_fits() {
    let mut config = config();
    config.limits.text_queue_len_max = 4;
    let mut w = World::new(config, &["alpha", "bravo"]);
    for i in 0..2 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
        w.nodes[i].inbox.clear();
    }
    let conn = w.nodes[1].conn;
    for t in 0..10 {
        let mut buf = [0u8; 64];
        let len = ToRelay::Ping { t }.emit(&mut buf).unwrap();
        w.relay.handle_text(w.now, conn, &buf[..len]);
    }
    talk_undrained(&mut w, 1);
    w.drain();
    // Half the queue for pongs, the rest kept for state.
    assert_eq!(
        w.nodes[1].inbox,
        vec![
            Msg::Pong { t: 0 },
            Msg::Pong { t: 1 },
            Msg::Transmit {
                channel: CH.into(),
                node: "alpha".into(),
                active: true
            }
        ]
    );
    assert_eq!(w.nodes[1].closed, None);
    assert_eq!(w.relay.counters().drops.text_queue_full, 8);
}
