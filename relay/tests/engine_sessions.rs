//! The relay core driven by simulated nodes on virtual time: the
//! handshake, tokens, admission of connections, malformed and oversized
//! frames, and sessions that time out or are replaced.

mod engine_support;

use std::net::SocketAddr;

use echostream_core::time::Duration;
use echostream_core::wire::Kind;
use echostream_core::wire::signal::ToRelay;
use echostream_relay::engine::{CloseReason, ConnId, RelayConfig, TokenPolicy};

use engine_support::{CH, Msg, TOKEN, World, config, three_on_channel};

#[test]
fn hello_is_welcomed_with_the_udp_endpoint_and_a_key() {
    let mut w = World::new(config(), &["alpha"]);
    w.connect(0);
    let node_id = echostream_core::wire::signal::NodeId::new("alpha").unwrap();
    let token = echostream_core::wire::signal::Token::new(TOKEN).unwrap();
    w.text(
        0,
        &ToRelay::Hello {
            node_id,
            token,
            version: 1,
        },
    );
    match &w.nodes[0].inbox[..] {
        [
            Msg::Welcome {
                port,
                heartbeat_ms,
                secret,
                ..
            },
        ] => {
            assert_eq!(*port, 40000);
            assert_eq!(*heartbeat_ms, 1000);
            assert_ne!(*secret, [0u8; 32]);
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    assert_eq!(w.relay.counters().sessions_welcomed, 1);
    assert_eq!(w.relay.node_id(w.nodes[0].conn), Some("alpha"));
    assert_eq!(w.relay.node_id(ConnId(77)), None);
}

#[test]
fn a_wrong_token_gets_an_error_then_close() {
    let mut w = World::new(config(), &["alpha"]);
    w.connect(0);
    let node_id = echostream_core::wire::signal::NodeId::new("alpha").unwrap();
    let token = echostream_core::wire::signal::Token::new("bad-token").unwrap();
    w.text(
        0,
        &ToRelay::Hello {
            node_id,
            token,
            version: 1,
        },
    );
    assert_eq!(w.nodes[0].inbox, vec![Msg::Error { code: 401 }]);
    assert_eq!(w.nodes[0].closed, Some(CloseReason::Unauthorized));
    assert_eq!(w.relay.counters().auth_failures, 1);
    assert_eq!(w.relay.counters().sessions_active, 0);
}

#[test]
fn a_message_before_hello_closes() {
    let mut w = World::new(config(), &["alpha"]);
    w.connect(0);
    w.raw_text(0, br#"{"type":"register","channel_id":"fire"}"#);
    assert_eq!(w.nodes[0].inbox, vec![Msg::Error { code: 401 }]);
    assert_eq!(w.nodes[0].closed, Some(CloseReason::ProtocolViolation));
}

#[test]
fn register_answers_with_a_stream_and_tells_every_member() {
    let mut w = World::new(config(), &["alpha", "bravo"]);
    w.join(0);
    w.join(1);
    let a = &w.nodes[0].inbox;
    assert!(matches!(a[1], Msg::Registered { ref channel, .. } if channel == CH));
    assert_eq!(
        a[2],
        Msg::Users {
            channel: CH.into(),
            users: vec!["alpha".into()]
        }
    );
    assert_eq!(
        a[3],
        Msg::Users {
            channel: CH.into(),
            users: vec!["alpha".into(), "bravo".into()]
        }
    );
    let b = &w.nodes[1].inbox;
    assert_eq!(
        b[2],
        Msg::Users {
            channel: CH.into(),
            users: vec!["alpha".into(), "bravo".into()]
        }
    );
    assert_ne!(w.nodes[0].streams[CH], w.nodes[1].streams[CH]);
}

/// How soon the relay finds a dead node: two heartbeat periods of the
/// default relay (2 × 2.5 s = 5 s) after its last heartbeat, ping or
/// datagram, not before, and its timer asks to be woken at exactly that
/// moment (the server sleeps until then). A live node beating once a
/// period is not closed.
#[test]
fn a_dead_node_is_closed_five_seconds_after_its_last_sign_of_life() {
    let default = RelayConfig::new("127.0.0.1", 40000, TokenPolicy::AnyToken);
    assert_eq!(default.heartbeat_ms, 2500);
    assert_eq!(default.session_timeout(), Duration::from_secs(5));
    let mut config = config();
    config.heartbeat_ms = default.heartbeat_ms;
    let mut w = World::new(config, &["alpha", "bravo"]);
    for i in 0..2 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    let last_heard = w.now;
    w.advance(2500);
    w.send(0, Kind::Heartbeat, &1u64.to_be_bytes());
    w.advance(2499);
    assert_eq!(w.nodes[1].closed, None);
    assert_eq!(
        w.relay.poll_timeout(),
        Some(last_heard + Duration::from_secs(5))
    );
    w.advance(1);
    assert_eq!(w.nodes[1].closed, Some(CloseReason::Timeout));
    assert_eq!(w.nodes[0].closed, None);
    assert_eq!(w.relay.members(CH), ["alpha"]);
    // Alpha keeps beating every period: never closed.
    for _ in 0..8 {
        w.send(0, Kind::Heartbeat, &1u64.to_be_bytes());
        w.advance(2500);
    }
    assert_eq!(w.nodes[0].closed, None);
}

#[test]
fn a_silent_session_times_out_and_leaves_its_channels() {
    let mut w = three_on_channel();
    for _ in 0..5 {
        w.advance(900);
        w.send(0, Kind::Heartbeat, &1u64.to_be_bytes());
        w.text(1, &ToRelay::Ping { t: 9 });
    }
    assert_eq!(w.nodes[2].closed, Some(CloseReason::Timeout));
    assert_eq!(w.nodes[0].closed, None);
    assert_eq!(w.nodes[1].closed, None);
    assert!(w.nodes[1].inbox.contains(&Msg::Pong { t: 9 }));
    assert!(w.nodes[0].inbox.contains(&Msg::Users {
        channel: CH.into(),
        users: vec!["alpha".into(), "bravo".into()]
    }));
    assert_eq!(w.relay.members(CH), vec!["alpha", "bravo"]);
}

#[test]
fn unknown_types_are_ignored_and_malformed_ones_close_after_the_limit() {
    let mut w = three_on_channel();
    w.raw_text(0, br#"{"type":"future_thing","x":1}"#);
    assert!(w.nodes[0].inbox.is_empty());
    assert_eq!(w.relay.counters().signal_unknown_type, 1);
    assert_eq!(w.nodes[0].closed, None);
    for _ in 0..8 {
        w.raw_text(1, b"{not json");
    }
    assert_eq!(w.relay.counters().signal_malformed, 8);
    assert_eq!(w.nodes[1].closed, Some(CloseReason::TooManyMalformed));
}

#[test]
fn an_oversized_message_is_refused() {
    let mut w = three_on_channel();
    let mut big = br#"{"type":"ping","t":1,"pad":""#.to_vec();
    big.resize(5000, b'a');
    big.extend_from_slice(br#""}"#);
    w.raw_text(0, &big);
    assert_eq!(w.nodes[0].inbox, vec![Msg::Error { code: 413 }]);
    assert_eq!(w.nodes[0].closed, Some(CloseReason::MessageTooLong));
}

#[test]
fn a_full_relay_refuses_connections_and_a_reconnect_replaces_the_old_session() {
    let mut config = config();
    config.limits.sessions_max = 2;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    w.join(0);
    w.join(1);
    // A third node may connect (its own pool) but not be welcomed.
    w.connect(2);
    w.hello(2);
    assert_eq!(w.nodes[2].inbox, vec![Msg::Error { code: 503 }]);
    assert_eq!(w.nodes[2].closed, Some(CloseReason::RelayFull));
    assert_eq!(w.relay.counters().sessions_refused_full, 1);
    // Alpha comes back on a new connection once a slot frees up.
    w.relay.handle_disconnect(w.now, w.nodes[1].conn);
    w.nodes[1].conn = ConnId(99);
    w.nodes[1].id = "alpha";
    // A restarted node starts without keys or streams.
    w.nodes[1].keys = None;
    w.nodes[1].receiver = None;
    w.nodes[1].senders.clear();
    w.nodes[1].streams.clear();
    w.join(1);
    assert_eq!(w.nodes[0].closed, Some(CloseReason::Replaced));
    assert_eq!(w.relay.members(CH), vec!["alpha"]);
}

#[test]
fn connections_without_hello_have_their_own_pool_and_a_deadline() {
    let mut config = config();
    config.limits.sessions_max = 1;
    config.limits.pending_max = 3;
    config.limits.pending_per_ip_max = 2;
    let ids = ["alpha", "x1", "x2", "x3", "y1", "y2"];
    let mut w = World::new(config, &ids);
    // Two idle connections from alpha's IP fill its share; a third from
    // there is refused, one from elsewhere fits, the next finds the pool
    // full.
    for i in [1, 2, 3, 4, 5] {
        w.nodes[i].addr =
            SocketAddr::from(([10, 0, 0, if i <= 3 { 1 } else { 9 }], 7000 + i as u16));
        w.connect(i);
        w.drain();
    }
    let refused: Vec<_> = (1..6).map(|i| w.nodes[i].closed).collect();
    let full = Some(CloseReason::RelayFull);
    assert_eq!(refused, [None, None, full, None, full]);
    assert_eq!(w.relay.counters().sessions_refused_per_ip, 1);
    assert_eq!(w.relay.counters().sessions_refused_pending_full, 1);
    // Idle connections are closed at their hello deadline, and took no
    // welcomed room: alpha, from the same IP, gets in...
    w.advance(2000);
    assert_eq!(w.nodes[1].closed, Some(CloseReason::Timeout));
    assert_eq!(w.nodes[4].closed, Some(CloseReason::Timeout));
    w.join(0);
    assert!(matches!(w.nodes[0].inbox[0], Msg::Welcome { .. }));
    // ...and a first frame that is not hello closes, even an unknown type.
    w.nodes[1].closed = None;
    w.connect(1);
    w.raw_text(1, br#"{"type":"chatter"}"#);
    assert_eq!(w.nodes[1].closed, Some(CloseReason::ProtocolViolation));
    assert_eq!(w.relay.counters().sessions_refused_not_hello, 1);
}

#[test]
fn a_full_pending_pool_evicts_the_oldest_of_the_ip_holding_the_most() {
    let mut config = config();
    config.limits.pending_max = 3;
    config.limits.pending_per_ip_max = 2;
    let ids = ["x1", "x2", "y1", "alpha"];
    let mut w = World::new(config, &ids);
    for (i, host) in [(0, 1), (1, 1), (2, 9), (3, 5)] {
        w.nodes[i].addr = SocketAddr::from(([10, 0, 0, host], 7000 + i as u16));
    }
    for i in 0..3 {
        w.connect(i);
        w.advance(10);
        w.drain();
    }
    // alpha's IP holds none of the pool, 10.0.0.1 two: its oldest goes.
    w.join(3);
    assert!(matches!(w.nodes[3].inbox[0], Msg::Welcome { .. }));
    let closed: Vec<_> = (0..3).map(|i| w.nodes[i].closed).collect();
    assert_eq!(closed, [Some(CloseReason::RelayFull), None, None]);
    assert_eq!(w.relay.counters().sessions_evicted_pending, 1);
}
