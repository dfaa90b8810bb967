//! Harness for the engine tests: simulated nodes that drive the relay
//! core on virtual time. Every byte a node sees is what the core emitted,
//! parsed and opened with core's own signaling and crypto types.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::collections::HashMap;
use std::net::SocketAddr;

use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::{Duration, Instant};
use echostream_core::wire::signal::{ToNode, ToRelay};
use echostream_core::wire::{
    Flags, HEADER_LEN, KeyId, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, Packet, Seq, StreamId,
};
use echostream_relay::engine::{
    CloseReason, ConnId, MAX_OUTPUT_LEN, Output, Relay, RelayConfig, TokenPolicy,
};

pub const TOKEN: &str = "good-token";
pub const CH: &str = "fire";

/// What a node was told, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
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
pub enum Seen {
    Text(Msg),
    /// A datagram, by the key id in its header.
    Datagram(KeyId),
}

/// One datagram a node opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub kind: Kind,
    pub stream: StreamId,
    pub seq: Seq,
    pub timestamp: MediaTimestamp,
    pub payload: Vec<u8>,
}

/// A simulated edge node.
pub struct Node {
    pub id: &'static str,
    pub conn: ConnId,
    pub addr: SocketAddr,
    pub keys: Option<SessionKeys>,
    pub receiver: Option<Receiver<8>>,
    pub senders: HashMap<String, Sender>,
    pub streams: HashMap<String, StreamId>,
    pub inbox: Vec<Msg>,
    pub datagrams: Vec<Vec<u8>>,
    /// Texts and datagrams in the order `poll_output` handed them out.
    pub seen: Vec<Seen>,
    pub closed: Option<CloseReason>,
}

pub struct World {
    pub relay: Relay,
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// Where datagrams went that no node's address matches.
    pub strays: Vec<SocketAddr>,
}

pub fn config() -> RelayConfig {
    let mut config = RelayConfig::new("127.0.0.1", 40000, TokenPolicy::tokens([TOKEN]));
    config.heartbeat_ms = 1000;
    config
}

impl World {
    pub fn new(config: RelayConfig, ids: &[&'static str]) -> World {
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
    pub fn drain(&mut self) {
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
    pub fn connect(&mut self, i: usize) {
        let peer = self.nodes[i].addr.ip();
        self.relay
            .handle_connect(self.now, self.nodes[i].conn, peer);
    }

    pub fn text(&mut self, i: usize, message: &ToRelay<'_>) {
        let mut buf = [0u8; 4096];
        let len = message.emit(&mut buf).unwrap();
        self.relay
            .handle_text(self.now, self.nodes[i].conn, &buf[..len]);
        self.drain();
    }

    pub fn raw_text(&mut self, i: usize, bytes: &[u8]) {
        self.relay.handle_text(self.now, self.nodes[i].conn, bytes);
        self.drain();
    }

    /// Node `i` connects, is welcomed and registers on [`CH`].
    pub fn join(&mut self, i: usize) {
        self.join_channel(i, CH);
    }

    /// Node `i` says `hello` with the good token.
    pub fn hello(&mut self, i: usize) {
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
    pub fn join_channel(&mut self, i: usize, channel: &str) {
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
    pub fn tone_detected(&mut self, i: usize, channel: &str, tone_id: &str, alert_type: &str) {
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
    pub fn seal(&mut self, i: usize, kind: Kind, payload: &[u8]) -> Vec<u8> {
        self.seal_at(i, kind, MediaTimestamp(960), payload)
    }

    /// Seals a datagram from node `i` on the channel at media time
    /// `timestamp`.
    pub fn seal_at(
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

    pub fn send_datagram(&mut self, i: usize, datagram: Vec<u8>) {
        let from = self.nodes[i].addr;
        self.send_from(from, datagram);
    }

    /// `datagram` arrives from `from` (a node that moved, or an attacker
    /// replaying what it captured).
    pub fn send_from(&mut self, from: SocketAddr, mut datagram: Vec<u8>) {
        self.relay.handle_datagram(self.now, from, &mut datagram);
        self.drain();
    }

    pub fn send(&mut self, i: usize, kind: Kind, payload: &[u8]) {
        let datagram = self.seal(i, kind, payload);
        self.send_datagram(i, datagram);
    }

    /// Opens every datagram node `i` got: (kind, stream, payload).
    pub fn received(&mut self, i: usize) -> Vec<(Kind, StreamId, Vec<u8>)> {
        self.heard(i)
            .into_iter()
            .map(|h| (h.kind, h.stream, h.payload))
            .collect()
    }

    /// Opens every datagram node `i` got, with its header.
    pub fn heard(&mut self, i: usize) -> Vec<Heard> {
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

    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.relay.handle_timeout(self.now);
        self.drain();
    }
}

/// Three nodes on one channel, each having sent a heartbeat so the relay
/// knows its address; inboxes cleared.
pub fn three_on_channel() -> World {
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
