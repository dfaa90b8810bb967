//! The relay core driven by simulated nodes on virtual time: every byte a
//! node sees is what the core emitted, parsed and opened with core's own
//! signaling and crypto types.

use std::collections::HashMap;
use std::net::SocketAddr;

use echostream_core::crypto::{Direction, OpenErrorKind, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::{Duration, Instant};
use echostream_core::wire::signal::{ToNode, ToRelay};
use echostream_core::wire::{
    Flags, HEADER_LEN, KeyId, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, Packet, Seq, StreamId,
};
use echostream_relay::engine::{
    CloseReason, ConnId, MAX_OUTPUT_LEN, Output, Relay, RelayConfig, TokenPolicy,
};

const TOKEN: &str = "good-token";
const CH: &str = "fire";

/// What a node was told, owned.
#[derive(Debug, Clone, PartialEq)]
enum Msg {
    Welcome {
        secret: [u8; 32],
        key_id: u8,
        port: u16,
        heartbeat_ms: u32,
    },
    Registered {
        channel: String,
        stream: u32,
    },
    Transmit {
        channel: String,
        node: String,
        active: bool,
    },
    Users {
        channel: String,
        users: Vec<String>,
    },
    ToneDetected {
        channel: String,
        node: String,
        tone_id: String,
        alert_type: String,
    },
    Rekey {
        secret: [u8; 32],
        key_id: u8,
    },
    Error {
        code: u16,
    },
    Pong {
        t: u64,
    },
    Other,
}

fn parse(bytes: &[u8]) -> Msg {
    match ToNode::parse(bytes).expect("the relay emits valid messages") {
        ToNode::Welcome {
            udp_port,
            key,
            key_id,
            heartbeat_ms,
            ..
        } => Msg::Welcome {
            secret: key.into_bytes(),
            key_id: key_id.0,
            port: udp_port,
            heartbeat_ms,
        },
        ToNode::Registered {
            channel_id,
            stream_id,
        } => Msg::Registered {
            channel: channel_id.as_str().into(),
            stream: stream_id.0,
        },
        ToNode::Transmit {
            channel_id,
            node_id,
            active,
        } => Msg::Transmit {
            channel: channel_id.as_str().into(),
            node: node_id.as_str().into(),
            active,
        },
        ToNode::ToneDetected {
            channel_id,
            node_id,
            tone_id,
            alert_type,
        } => Msg::ToneDetected {
            channel: channel_id.as_str().into(),
            node: node_id.as_str().into(),
            tone_id: tone_id.as_str().into(),
            alert_type: alert_type.as_str().into(),
        },
        ToNode::UsersConnected { channel_id, users } => Msg::Users {
            channel: channel_id.as_str().into(),
            users: users.iter().map(|u| u.as_str().to_owned()).collect(),
        },
        ToNode::Rekey { key, key_id } => Msg::Rekey {
            secret: key.into_bytes(),
            key_id: key_id.0,
        },
        ToNode::Error { code, .. } => Msg::Error { code },
        ToNode::Pong { t } => Msg::Pong { t },
        ToNode::Ping { .. } => Msg::Other,
    }
}

/// One output a node was handed, in the relay's order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Text(Msg),
    /// A datagram, by the key id in its header.
    Datagram(KeyId),
}

/// One datagram a node opened.
#[derive(Debug, Clone, PartialEq)]
struct Heard {
    kind: Kind,
    stream: StreamId,
    seq: Seq,
    timestamp: MediaTimestamp,
    payload: Vec<u8>,
}

/// A simulated edge node.
struct Node {
    id: &'static str,
    conn: ConnId,
    addr: SocketAddr,
    keys: Option<SessionKeys>,
    receiver: Option<Receiver<8>>,
    senders: HashMap<String, Sender>,
    streams: HashMap<String, StreamId>,
    inbox: Vec<Msg>,
    datagrams: Vec<Vec<u8>>,
    /// Texts and datagrams in the order `poll_output` handed them out.
    seen: Vec<Seen>,
    closed: Option<CloseReason>,
}

struct World {
    relay: Relay,
    now: Instant,
    nodes: Vec<Node>,
    /// Where datagrams went that no node's address matches.
    strays: Vec<SocketAddr>,
}

fn config() -> RelayConfig {
    let mut config = RelayConfig::new("127.0.0.1", 40000, TokenPolicy::tokens([TOKEN]));
    config.heartbeat_ms = 1000;
    config
}

impl World {
    fn new(config: RelayConfig, ids: &[&'static str]) -> World {
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Node {
                id,
                conn: ConnId(i as u64 + 1),
                addr: SocketAddr::from(([10, 0, 0, i as u8 + 1], 5000)),
                keys: None,
                receiver: None,
                senders: HashMap::new(),
                streams: HashMap::new(),
                inbox: Vec::new(),
                datagrams: Vec::new(),
                seen: Vec::new(),
                closed: None,
            })
            .collect();
        World {
            relay: Relay::new(config).unwrap(),
            now: Instant::from_millis(1),
            nodes,
            strays: Vec::new(),
        }
    }

    /// Drains every output into the nodes' inboxes.
    fn drain(&mut self) {
        let mut buf = [0u8; MAX_OUTPUT_LEN];
        while let Some(output) = self.relay.poll_output(&mut buf) {
            match &output {
                Output::SendText { conn, .. } => {
                    let node = self.nodes.iter_mut().find(|n| n.conn == *conn).unwrap();
                    let msg = parse(output.payload(&buf));
                    if let Msg::Welcome { secret, key_id, .. } | Msg::Rekey { secret, key_id } = msg
                    {
                        let keys = SessionKeys::derive(
                            &Secret::from_bytes(secret),
                            echostream_core::wire::KeyId(key_id),
                        );
                        match &mut node.receiver {
                            None => {
                                node.receiver = Some(Receiver::new(&keys, Direction::RelayToNode))
                            }
                            Some(r) => r.rekey(self.now, &keys, Duration::from_secs(5)).unwrap(),
                        }
                        for (channel, stream) in &node.streams {
                            node.senders.insert(
                                channel.clone(),
                                Sender::new(&keys, Direction::NodeToRelay, *stream),
                            );
                        }
                        node.keys = Some(keys);
                    }
                    if let Msg::Registered { channel, stream } = &msg {
                        let keys = node.keys.as_ref().unwrap();
                        node.streams.insert(channel.clone(), StreamId(*stream));
                        node.senders.entry(channel.clone()).or_insert_with(|| {
                            Sender::new(keys, Direction::NodeToRelay, StreamId(*stream))
                        });
                    }
                    node.seen.push(Seen::Text(msg.clone()));
                    node.inbox.push(msg);
                }
                Output::SendDatagram { to, .. } => {
                    let Some(node) = self.nodes.iter_mut().find(|n| n.addr == *to) else {
                        self.strays.push(*to);
                        continue;
                    };
                    let bytes = output.payload(&buf);
                    let key_id = Packet::new_checked(bytes).unwrap().key_id();
                    node.seen.push(Seen::Datagram(key_id));
                    node.datagrams.push(bytes.to_vec());
                }
                Output::Close { conn, reason } => {
                    if let Some(node) = self.nodes.iter_mut().find(|n| n.conn == *conn) {
                        node.closed = Some(*reason);
                    }
                }
            }
        }
    }

    /// Node `i`'s WebSocket opens, from its UDP address's IP.
    fn connect(&mut self, i: usize) {
        let peer = self.nodes[i].addr.ip();
        self.relay
            .handle_connect(self.now, self.nodes[i].conn, peer);
    }

    fn text(&mut self, i: usize, message: &ToRelay<'_>) {
        let mut buf = [0u8; 4096];
        let len = message.emit(&mut buf).unwrap();
        self.relay
            .handle_text(self.now, self.nodes[i].conn, &buf[..len]);
        self.drain();
    }

    fn raw_text(&mut self, i: usize, bytes: &[u8]) {
        self.relay.handle_text(self.now, self.nodes[i].conn, bytes);
        self.drain();
    }

    /// Node `i` connects, is welcomed and registers on [`CH`].
    fn join(&mut self, i: usize) {
        self.join_channel(i, CH);
    }

    /// Node `i` says `hello` with the good token.
    fn hello(&mut self, i: usize) {
        let node_id = echostream_core::wire::signal::NodeId::new(self.nodes[i].id).unwrap();
        let token = echostream_core::wire::signal::Token::new(TOKEN).unwrap();
        self.text(
            i,
            &ToRelay::Hello {
                node_id,
                token,
                version: 1,
            },
        );
    }

    /// Node `i` connects, is welcomed and registers on `channel`.
    fn join_channel(&mut self, i: usize, channel: &str) {
        self.connect(i);
        let node_id = echostream_core::wire::signal::NodeId::new(self.nodes[i].id).unwrap();
        let token = echostream_core::wire::signal::Token::new(TOKEN).unwrap();
        self.text(
            i,
            &ToRelay::Hello {
                node_id,
                token,
                version: 1,
            },
        );
        let channel_id = echostream_core::wire::signal::ChannelId::new(channel).unwrap();
        self.text(i, &ToRelay::Register { channel_id });
    }

    /// Node `i` reports a page on `channel`.
    fn tone_detected(&mut self, i: usize, channel: &str, tone_id: &str, alert_type: &str) {
        use echostream_core::wire::signal::{AlertType, ChannelId, ToneId};
        self.text(
            i,
            &ToRelay::ToneDetected {
                channel_id: ChannelId::new(channel).unwrap(),
                tone_id: ToneId::new(tone_id).unwrap(),
                alert_type: AlertType::new(alert_type).unwrap(),
            },
        );
    }

    /// Seals a datagram from node `i` on the channel.
    fn seal(&mut self, i: usize, kind: Kind, payload: &[u8]) -> Vec<u8> {
        self.seal_at(i, kind, MediaTimestamp(960), payload)
    }

    /// Seals a datagram from node `i` on the channel at media time
    /// `timestamp`.
    fn seal_at(
        &mut self,
        i: usize,
        kind: Kind,
        timestamp: MediaTimestamp,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let sender = self.nodes[i].senders.get_mut(CH).unwrap();
        let len = sender
            .seal(kind, Flags::NONE, timestamp, payload.len(), &mut buf)
            .unwrap();
        buf[..len].to_vec()
    }

    fn send_datagram(&mut self, i: usize, datagram: Vec<u8>) {
        let from = self.nodes[i].addr;
        self.send_from(from, datagram);
    }

    /// `datagram` arrives from `from` (a node that moved, or an attacker
    /// replaying what it captured).
    fn send_from(&mut self, from: SocketAddr, mut datagram: Vec<u8>) {
        self.relay.handle_datagram(self.now, from, &mut datagram);
        self.drain();
    }

    fn send(&mut self, i: usize, kind: Kind, payload: &[u8]) {
        let datagram = self.seal(i, kind, payload);
        self.send_datagram(i, datagram);
    }

    /// Opens every datagram node `i` got: (kind, stream, payload).
    fn received(&mut self, i: usize) -> Vec<(Kind, StreamId, Vec<u8>)> {
        self.heard(i)
            .into_iter()
            .map(|h| (h.kind, h.stream, h.payload))
            .collect()
    }

    /// Opens every datagram node `i` got, with its header.
    fn heard(&mut self, i: usize) -> Vec<Heard> {
        let now = self.now;
        let node = &mut self.nodes[i];
        let receiver = node.receiver.as_mut().unwrap();
        node.datagrams
            .drain(..)
            .map(|mut d| {
                let opened = receiver.open(now, &mut d).expect("relay datagrams open");
                Heard {
                    kind: opened.repr.kind,
                    stream: opened.repr.stream_id,
                    seq: opened.repr.seq,
                    timestamp: opened.repr.timestamp,
                    payload: d[opened.payload].to_vec(),
                }
            })
            .collect()
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.relay.handle_timeout(self.now);
        self.drain();
    }
}

/// Three nodes on one channel, each having sent a heartbeat so the relay
/// knows its address; inboxes cleared.
fn three_on_channel() -> World {
    let mut w = World::new(config(), &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
    }
    for i in 0..3 {
        w.send(i, Kind::Heartbeat, &7u64.to_be_bytes());
        w.received(i);
        w.nodes[i].inbox.clear();
    }
    w
}

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

#[test]
fn audio_reaches_the_others_intact_and_not_the_sender() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"opus frame one");
    assert!(w.nodes[0].datagrams.is_empty());
    for i in [1, 2] {
        let got = w.received(i);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Kind::Audio);
        // Sealed under the recipient's own stream for the channel.
        assert_eq!(got[0].1, w.nodes[i].streams[CH]);
        assert_eq!(got[0].2, b"opus frame one");
        assert!(w.nodes[i].inbox.contains(&Msg::Transmit {
            channel: CH.into(),
            node: "alpha".into(),
            active: true
        }));
    }
}

#[test]
fn a_second_talker_is_dropped_and_told_who_holds_the_channel() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"a1");
    w.received(1);
    w.received(2);
    w.nodes[1].inbox.clear();
    w.send(1, Kind::Audio, b"b1");
    assert!(w.nodes[0].datagrams.is_empty() && w.nodes[2].datagrams.is_empty());
    assert_eq!(w.relay.counters().drops.not_talker, 1);
    assert_eq!(
        w.nodes[1].inbox,
        vec![Msg::Transmit {
            channel: CH.into(),
            node: "alpha".into(),
            active: true
        }]
    );
}

#[test]
fn end_of_transmission_releases_the_channel() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"a1");
    w.send(0, Kind::EndOfTransmission, b"");
    let got = w.received(1);
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        vec![Kind::Audio, Kind::EndOfTransmission]
    );
    assert!(w.nodes[1].inbox.contains(&Msg::Transmit {
        channel: CH.into(),
        node: "alpha".into(),
        active: false
    }));
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(w.received(0)[0].2, b"b1");
    assert_eq!(w.relay.counters().eot_in, 1);
}

#[test]
fn three_seconds_of_silence_release_the_channel() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"a1");
    w.received(2);
    w.nodes[2].inbox.clear();
    w.advance(2999);
    w.send(1, Kind::Audio, b"b1");
    assert!(w.nodes[2].datagrams.is_empty());
    // Keep everyone alive across the session timeout boundary.
    for i in 0..3 {
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    assert_eq!(
        w.relay.poll_timeout(),
        Some(Instant::from_millis(1) + Duration::from_millis(3000))
    );
    w.advance(1);
    assert!(w.nodes[2].inbox.contains(&Msg::Transmit {
        channel: CH.into(),
        node: "alpha".into(),
        active: false
    }));
    w.send(1, Kind::Audio, b"b2");
    let got = w.received(2);
    assert_eq!(got[0].0, Kind::EndOfTransmission, "alpha's, in its place");
    assert_eq!(got[1].2, b"b2");
    assert_eq!(w.relay.counters().talker_timeouts, 1);
}

#[test]
fn heartbeats_are_echoed() {
    let mut w = three_on_channel();
    w.send(1, Kind::Heartbeat, &123_456u64.to_be_bytes());
    let got = w.received(1);
    assert_eq!(
        got,
        vec![(
            Kind::HeartbeatEcho,
            w.nodes[1].streams[CH],
            123_456u64.to_be_bytes().to_vec()
        )]
    );
    assert!(w.nodes[0].datagrams.is_empty());
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
fn forged_replayed_and_unknown_datagrams_are_dropped_and_counted() {
    let mut w = three_on_channel();
    let good = w.seal(0, Kind::Audio, b"a1");
    w.send_datagram(0, good.clone());
    w.received(1);
    w.received(2);
    w.send_datagram(0, good.clone());
    let mut forged = w.seal(0, Kind::Audio, b"a2");
    forged[HEADER_LEN] ^= 1;
    w.send_datagram(0, forged);
    let mut unknown = w.seal(0, Kind::Audio, b"a3");
    unknown[4..8].copy_from_slice(&999u32.to_be_bytes());
    w.send_datagram(0, unknown);
    w.send_datagram(0, vec![1, 2, 3]);
    assert!(w.nodes[1].datagrams.is_empty() && w.nodes[2].datagrams.is_empty());
    let drops = &w.relay.counters().drops;
    assert_eq!(drops.open(OpenErrorKind::Duplicate), 1);
    assert_eq!(drops.open(OpenErrorKind::Forged), 1);
    assert_eq!(drops.unknown_stream, 1);
    assert_eq!(drops.malformed, 1);
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

/// Alpha, bravo and charlie on [`CH`]; delta on another channel; inboxes
/// cleared.
fn three_on_channel_and_one_elsewhere() -> World {
    let mut w = World::new(config(), &["alpha", "bravo", "charlie", "delta"]);
    for i in 0..3 {
        w.join(i);
    }
    w.join_channel(3, "water");
    for node in &mut w.nodes {
        node.inbox.clear();
    }
    w
}

#[test]
fn a_page_reaches_the_other_members_naming_who_heard_it() {
    let mut w = three_on_channel_and_one_elsewhere();
    w.tone_detected(1, CH, "Station 1", "fire");
    let page = Msg::ToneDetected {
        channel: CH.into(),
        node: "bravo".into(),
        tone_id: "Station 1".into(),
        alert_type: "fire".into(),
    };
    assert_eq!(w.nodes[0].inbox, vec![page.clone()]);
    assert_eq!(w.nodes[2].inbox, vec![page]);
    assert!(w.nodes[1].inbox.is_empty(), "not back to the sender");
    assert!(w.nodes[3].inbox.is_empty(), "not to another channel");
    assert_eq!(w.relay.counters().tone_reports, 1);
    assert_eq!(w.relay.counters().tone_reports_unregistered, 0);
    assert!(w.nodes.iter().all(|n| n.closed.is_none()));
}

#[test]
fn a_page_for_a_channel_not_registered_is_ignored_and_counted() {
    let mut w = three_on_channel_and_one_elsewhere();
    // Delta is on "water" only: it may not page "fire", and a channel no
    // one holds is no different.
    w.tone_detected(3, CH, "Station 1", "fire");
    w.tone_detected(3, "nowhere", "Station 1", "fire");
    assert!(
        w.nodes.iter().all(|n| n.inbox.is_empty()),
        "no answer, no copy"
    );
    assert_eq!(w.relay.counters().tone_reports_unregistered, 2);
    assert_eq!(w.relay.counters().tone_reports, 0);
    assert_eq!(w.relay.counters().signal_refused, 0);
    assert_eq!(w.nodes[3].closed, None);
    // Its own channel still takes its pages (no one else is on it).
    w.tone_detected(3, "water", "Station 1", "fire");
    assert_eq!(w.relay.counters().tone_reports, 1);
    assert!(w.nodes.iter().all(|n| n.inbox.is_empty()));
}

#[test]
fn a_page_before_hello_closes_like_any_message() {
    let mut w = World::new(config(), &["alpha"]);
    w.connect(0);
    w.raw_text(
        0,
        br#"{"type":"tone_detected","channel_id":"fire","tone_id":"t","alert_type":"a"}"#,
    );
    assert_eq!(w.nodes[0].inbox, vec![Msg::Error { code: 401 }]);
    assert_eq!(w.nodes[0].closed, Some(CloseReason::ProtocolViolation));
    assert_eq!(w.relay.counters().tone_reports, 0);
}

#[test]
fn a_page_with_an_empty_label_is_malformed_and_not_passed_on() {
    let mut w = three_on_channel_and_one_elsewhere();
    w.raw_text(
        1,
        br#"{"type":"tone_detected","channel_id":"fire","tone_id":"","alert_type":"fire"}"#,
    );
    assert_eq!(w.nodes[1].inbox, vec![Msg::Error { code: 400 }]);
    assert!(w.nodes[0].inbox.is_empty() && w.nodes[2].inbox.is_empty());
    assert_eq!(w.relay.counters().signal_malformed, 1);
    assert_eq!(w.relay.counters().tone_reports, 0);
}

/// Node `i` talks `frames` 20 ms frames from media time 0, as one burst.
fn talk(w: &mut World, i: usize, frames: u32) {
    for n in 0..frames {
        let d = w.seal_at(
            i,
            Kind::Audio,
            MediaTimestamp(n * 960),
            format!("frame {n}").as_bytes(),
        );
        w.send_datagram(i, d);
    }
}

/// Every node sends a heartbeat (keeping its session alive); the echoes
/// stay in its datagrams.
fn keep_alive(w: &mut World) {
    for i in 0..w.nodes.len() {
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
    }
}

/// Listener `i` heard `frames` frames of a talk from media time 0, then
/// exactly one end-of-transmission: on its own stream, on the sequence
/// number after the datagram before it, one frame after the last audio.
fn assert_ended_once(w: &mut World, i: usize, frames: u32) {
    let heard = w.heard(i);
    let media: Vec<_> = heard
        .iter()
        .filter(|h| h.kind != Kind::HeartbeatEcho)
        .map(|h| h.kind)
        .collect();
    let mut expected = vec![Kind::Audio; frames as usize];
    expected.push(Kind::EndOfTransmission);
    assert_eq!(media, expected, "node {i}");
    let at = heard
        .iter()
        .position(|h| h.kind == Kind::EndOfTransmission)
        .unwrap();
    let end = &heard[at];
    assert_eq!(end.stream, w.nodes[i].streams[CH]);
    assert_eq!(
        end.seq.0,
        heard[at - 1].seq.0 + 1,
        "the next sequence number"
    );
    assert_eq!(end.timestamp, MediaTimestamp(frames * 960));
    assert!(end.payload.is_empty());
}

fn released_by(node: &str) -> Msg {
    Msg::Transmit {
        channel: CH.into(),
        node: node.into(),
        active: false,
    }
}

#[test]
fn a_talker_released_by_transmit_false_has_each_listener_sent_one_end() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 5);
    let channel_id = echostream_core::wire::signal::ChannelId::new(CH).unwrap();
    w.text(
        0,
        &ToRelay::Transmit {
            channel_id,
            active: false,
        },
    );
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 5);
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    assert!(w.heard(0).is_empty(), "nothing back to the talker");
    // Its own end, overtaken by the message: not passed on a second time.
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(5 * 960), b"");
    w.send_datagram(0, own);
    assert!(w.heard(1).is_empty() && w.heard(2).is_empty());
    let c = w.relay.counters();
    assert_eq!((c.transmit_releases, c.eot_made, c.eot_in), (1, 1, 0));
    assert_eq!(c.drops.not_talker, 1);
    // The channel is free for the next talker.
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(w.received(2)[0].2, b"b1");
}

#[test]
fn a_talker_released_by_silence_has_each_listener_sent_one_end() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 3);
    for _ in 0..2 {
        w.advance(1000);
        keep_alive(&mut w);
    }
    w.advance(999);
    keep_alive(&mut w);
    assert_eq!(w.relay.counters().eot_made, 0, "not silent long enough");
    w.advance(1);
    let c = w.relay.counters();
    assert_eq!((c.talker_timeouts, c.eot_made), (1, 1));
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 3);
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    // A late end of its own, and more silence: nothing more.
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(3 * 960), b"");
    w.send_datagram(0, own);
    for _ in 0..4 {
        keep_alive(&mut w);
        w.advance(1000);
    }
    for i in [1, 2] {
        let heard = w.heard(i);
        assert!(
            heard.iter().all(|h| h.kind == Kind::HeartbeatEcho),
            "{heard:?}"
        );
    }
    assert_eq!(w.relay.counters().eot_made, 1);
    assert_eq!(w.relay.counters().eot_in, 0);
}

#[test]
fn a_talker_silent_past_the_time_out_that_talks_again_starts_anew() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 2);
    w.heard(1);
    // The driver is late: the audio itself finds the talker expired.
    w.now += Duration::from_millis(3500);
    keep_alive(&mut w);
    let d = w.seal_at(0, Kind::Audio, MediaTimestamp(200 * 960), b"again");
    w.send_datagram(0, d);
    let media: Vec<_> = w
        .heard(1)
        .into_iter()
        .filter(|h| h.kind != Kind::HeartbeatEcho)
        .map(|h| (h.kind, h.timestamp))
        .collect();
    assert_eq!(
        media,
        [
            (Kind::EndOfTransmission, MediaTimestamp(2 * 960)),
            (Kind::Audio, MediaTimestamp(200 * 960))
        ]
    );
    let c = w.relay.counters();
    assert_eq!((c.talker_timeouts, c.eot_made, c.audio_in), (1, 1, 3));
}

#[test]
fn a_talkers_own_end_goes_through_once_and_nothing_stands_in() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 4);
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(4 * 960), b"");
    w.send_datagram(0, own);
    // The node's `transmit: false` follows its end; then silence.
    let channel_id = echostream_core::wire::signal::ChannelId::new(CH).unwrap();
    w.text(
        0,
        &ToRelay::Transmit {
            channel_id,
            active: false,
        },
    );
    for _ in 0..4 {
        keep_alive(&mut w);
        w.advance(1000);
    }
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 4);
        let releases = w.nodes[i]
            .inbox
            .iter()
            .filter(|m| **m == released_by("alpha"))
            .count();
        assert_eq!(releases, 1);
    }
    let c = w.relay.counters();
    assert_eq!(
        (c.eot_in, c.eot_made, c.transmit_releases, c.talker_timeouts),
        (1, 0, 0, 0)
    );
}

#[test]
fn a_talker_that_leaves_has_each_listener_sent_one_end() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 2);
    let conn = w.nodes[0].conn;
    w.relay.handle_disconnect(w.now, conn);
    w.drain();
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 2);
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    assert_eq!(w.relay.counters().eot_made, 1);
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

/// The media kinds listener `i` heard, heartbeat echoes left out.
fn media_kinds(w: &mut World, i: usize) -> Vec<Kind> {
    w.heard(i)
        .into_iter()
        .filter(|h| h.kind != Kind::HeartbeatEcho)
        .map(|h| h.kind)
        .collect()
}

#[test]
fn a_talker_trickling_one_byte_every_two_and_a_half_seconds_loses_the_channel() {
    let mut w = three_on_channel();
    let trickle = |w: &mut World, n: u32| {
        let d = w.seal_at(0, Kind::Audio, MediaTimestamp(n * 960), b"x");
        w.send_datagram(0, d);
    };
    trickle(&mut w, 0);
    for _ in 0..5 {
        w.advance(500);
        keep_alive(&mut w);
    }
    trickle(&mut w, 1);
    for _ in 0..5 {
        w.advance(500);
        keep_alive(&mut w);
    }
    assert_eq!(
        w.relay.counters().talker_trickles,
        0,
        "the silence timer never fires"
    );
    // Its third in 5 s: three datagrams in the 3 s up to it is no stream.
    trickle(&mut w, 2);
    assert_eq!(w.relay.counters().talker_trickles, 1);
    for i in [1, 2] {
        assert_eq!(
            media_kinds(&mut w, i),
            [Kind::Audio, Kind::Audio, Kind::EndOfTransmission]
        );
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    // Another talker takes it; the trickle goes on and is refused.
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(media_kinds(&mut w, 2), [Kind::Audio]);
    for n in 3..8 {
        for _ in 0..5 {
            w.advance(500);
            keep_alive(&mut w);
            // Packets batched: what counts is the number per 3 s.
            for _ in 0..5 {
                w.send(1, Kind::Audio, b"b");
            }
        }
        trickle(&mut w, n);
    }
    assert!(media_kinds(&mut w, 2).iter().all(|k| *k == Kind::Audio));
    let c = w.relay.counters();
    assert_eq!(c.drops.locked_out, 6, "the cut one and five more");
    assert_eq!(
        (c.talker_trickles, c.talker_timeouts, c.eot_made),
        (1, 0, 1)
    );
    // Bravo, at a real rate, kept it all along.
    assert!(!w.nodes[2].inbox.contains(&released_by("bravo")));
}

#[test]
fn a_talker_at_a_normal_rate_is_cut_at_max_talk_s_until_it_ends_its_transmission() {
    let mut config = config();
    config.max_talk_s = 5;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    for node in &mut w.nodes {
        node.inbox.clear();
    }
    // 20 ms frames for 6 s, without a pause.
    for n in 0..300u32 {
        let d = w.seal_at(0, Kind::Audio, MediaTimestamp(n * 960), b"frame");
        w.send_datagram(0, d);
        if n % 50 == 49 {
            keep_alive(&mut w);
        }
        w.advance(20);
    }
    let c = w.relay.counters();
    assert_eq!(
        (c.talk_time_limits, c.talker_timeouts, c.eot_made),
        (1, 0, 1)
    );
    // 5 s of it: 250 frames, then the end in its place.
    assert_ended_once(&mut w, 1, 250);
    assert!(w.nodes[2].inbox.contains(&released_by("alpha")));
    assert_eq!(w.relay.counters().drops.locked_out, 50);
    // Its own end closes the transmission; it may talk again.
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(300 * 960), b"");
    w.send_datagram(0, own);
    w.send(0, Kind::Audio, b"again");
    assert_eq!(
        w.received(2)
            .into_iter()
            .filter(|h| h.0 != Kind::HeartbeatEcho)
            .map(|h| h.2)
            .collect::<Vec<_>>()
            .last(),
        Some(&b"again".to_vec())
    );
}

/// Bravo talks; whether alpha (node 0) heard it at its address, and where
/// else datagrams went.
fn alpha_hears_bravo(w: &mut World) -> (bool, Vec<SocketAddr>) {
    w.send(1, Kind::Audio, b"opus");
    let heard = w
        .received(0)
        .iter()
        .any(|(kind, _, p)| *kind == Kind::Audio && p == b"opus");
    w.received(2);
    w.send(1, Kind::EndOfTransmission, &[]);
    w.received(0);
    w.received(2);
    (heard, std::mem::take(&mut w.strays))
}

#[test]
fn an_old_datagram_replayed_from_elsewhere_leaves_the_return_address() {
    let mut w = three_on_channel();
    let old = w.seal(0, Kind::Heartbeat, &1u64.to_be_bytes());
    let older = w.seal(0, Kind::Heartbeat, &2u64.to_be_bytes());
    w.send(0, Kind::Heartbeat, &3u64.to_be_bytes());
    w.received(0);
    // Captured on the path and replayed, still inside the replay window
    // and never seen by the relay: from another port of alpha's own IP
    // (so only its age can refuse it) and from another IP.
    let same_ip = SocketAddr::from(([10, 0, 0, 1], 6666));
    let elsewhere = SocketAddr::from(([192, 0, 2, 66], 4000));
    w.send_from(same_ip, old);
    w.send_from(elsewhere, older);
    assert_eq!(w.relay.counters().return_addr_kept_not_newest, 2);
    assert_eq!(w.relay.counters().return_addr_moves, 0);
    // The replayed heartbeats' echoes went to alpha, not to the replayer.
    let echoes: Vec<_> = w.received(0).into_iter().map(|(kind, ..)| kind).collect();
    assert_eq!(echoes, [Kind::HeartbeatEcho, Kind::HeartbeatEcho]);
    assert_eq!(w.strays, []);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
}

#[test]
fn a_newer_datagram_moves_the_return_address_only_within_the_peers_ip() {
    let mut w = three_on_channel();
    // Another IP: a newer datagram is used but moves nothing.
    let elsewhere = SocketAddr::from(([192, 0, 2, 66], 4000));
    let hb = w.seal(0, Kind::Heartbeat, &2u64.to_be_bytes());
    w.send_from(elsewhere, hb);
    assert_eq!(w.relay.counters().return_addr_kept_foreign_ip, 1);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
    // Another port of alpha's IP (its NAT mapping changed): it moves.
    w.nodes[0].addr = SocketAddr::from(([10, 0, 0, 1], 6000));
    w.send(0, Kind::Heartbeat, &3u64.to_be_bytes());
    assert_eq!(w.relay.counters().return_addr_moves, 1);
    assert_eq!(w.received(0)[0].0, Kind::HeartbeatEcho);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
}

#[test]
fn with_roaming_allowed_a_newer_datagram_moves_the_return_address_anywhere() {
    let mut config = config();
    config.allow_roaming = true;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    w.nodes[0].addr = SocketAddr::from(([192, 0, 2, 7], 5000));
    w.send(0, Kind::Heartbeat, &2u64.to_be_bytes());
    assert_eq!(w.relay.counters().return_addr_moves, 1);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
    // Even roaming, an old datagram does not move it back.
    let old = w.seal(0, Kind::Heartbeat, &3u64.to_be_bytes());
    w.send(0, Kind::Heartbeat, &4u64.to_be_bytes());
    w.send_from(SocketAddr::from(([10, 0, 0, 1], 5000)), old);
    assert_eq!(w.relay.counters().return_addr_kept_not_newest, 1);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
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
