//! Node engines and the relay engine wired together in one thread on
//! virtual time: a tiny deterministic world with per-direction latencies
//! and switches to cut links, for the node engine's tests. No sockets, no
//! sleeps, no clock: every run is the same run.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use echostream_core::node::{
    Captured, ChannelIndex, Event, LinkDown, Node, NodeConfig, OUTPUT_BUF_LEN, Output, Received,
};
use echostream_core::record::Effect as RecordEffect;
use echostream_core::time::{Duration, Instant, SampleIndex};
use echostream_core::wire::MediaTimestamp;
use echostream_relay::engine::{
    ConnId, MAX_OUTPUT_LEN, Output as RelayOutput, Relay, RelayConfig, TokenPolicy,
};

/// The relay's UDP address as every node sees it.
pub const RELAY_UDP: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    40000,
);

/// Media time of one 20 ms frame.
pub const FRAME_UNITS: u32 = 960;

/// A frame's payload: recognisable, of varying length.
pub fn payload(n: u32) -> Vec<u8> {
    let mut bytes = format!("opus frame {n:05} ").into_bytes();
    bytes.resize(40 + (n as usize * 7) % 120, (n % 251) as u8);
    bytes
}

/// Something in flight.
#[derive(Debug)]
enum Flight {
    ToRelayText {
        conn: ConnId,
        text: String,
    },
    ToNodeText {
        node: usize,
        conn: ConnId,
        text: String,
    },
    ToRelayDatagram {
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    ToNodeDatagram {
        node: usize,
        bytes: Vec<u8>,
    },
    /// The relay closed a connection.
    Closed {
        node: usize,
        conn: ConnId,
    },
}

/// One node under test and what it did.
pub struct SimNode {
    pub engine: Box<Node>,
    /// The connection it has with the relay, if any.
    pub conn: Option<ConnId>,
    pub udp: SocketAddr,
    /// Every frame delivered, per channel, with its payload.
    pub delivered: Vec<(ChannelIndex, Received, Vec<u8>)>,
    /// Every event, with the time it happened.
    pub events: Vec<(Instant, Event)>,
    /// Every text it sent.
    pub sent: Vec<String>,
    /// Every recording effect, with the time it was handed out.
    pub records: Vec<(Instant, ChannelIndex, RecordEffect)>,
    /// Every PTT line change, with its time.
    pub ptt: Vec<(Instant, ChannelIndex, bool)>,
    /// When each delivered frame was handed out (parallel to `delivered`).
    pub delivered_at: Vec<Instant>,
}

impl SimNode {
    /// Whether any event so far matches.
    pub fn saw(&self, matches: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|(_, e)| matches(e))
    }

    /// How many events so far match.
    pub fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| matches(e)).count()
    }

    /// The frames delivered on `channel`.
    pub fn frames(&self, channel: usize) -> Vec<(Received, Vec<u8>)> {
        self.delivered
            .iter()
            .filter(|(c, _, _)| c.get() == channel)
            .map(|(_, r, p)| (*r, p.clone()))
            .collect()
    }
}

/// The world: the relay, the nodes, what is in flight, and the switches.
pub struct World {
    pub now: Instant,
    pub relay: Relay,
    pub nodes: Vec<SimNode>,
    in_flight: BTreeMap<(Instant, u64), Flight>,
    order: u64,
    next_conn: u64,
    /// Latency of signaling and of datagrams, each direction.
    pub ws_latency: Duration,
    pub udp_latency: Duration,
    /// Extra delay for `registered` messages of one channel (to let audio
    /// outrun them).
    pub registered_delay: Option<(&'static str, Duration)>,
    /// Extra delay for `rekey` messages (to let datagrams outrun them).
    pub rekey_delay: Duration,
    /// The relay accepts connections.
    pub relay_up: bool,
    /// Node `i`'s datagrams are lost, both ways.
    pub udp_cut: Vec<bool>,
    /// Everything from the relay to node `i` is lost (signaling too).
    pub relay_mute: Vec<bool>,
    /// The welcome's UDP host never resolves.
    pub udp_host_stuck: bool,
}

impl World {
    /// A relay (1 s heartbeats, any token) and nodes `ids`, each with the
    /// channels `channels` (no pre-roll).
    pub fn new(ids: &[&str], channels: &[&str]) -> World {
        World::with(ids, channels, |_, _| {})
    }

    /// Like [`World::new`], with `configure(i, config)` adding to node
    /// `i`'s config after its channels.
    pub fn with(
        ids: &[&str],
        channels: &[&str],
        configure: impl Fn(usize, &mut NodeConfig),
    ) -> World {
        let mut config = RelayConfig::new("127.0.0.1", RELAY_UDP.port(), TokenPolicy::AnyToken);
        config.heartbeat_ms = 200;
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut config = NodeConfig::new(
                    id,
                    "test-token-0123456789",
                    Duration::from_secs(2),
                    Duration::from_secs(1),
                    i as u64 + 1,
                )
                .expect("valid node config");
                for channel in channels {
                    config.add_channel(channel, 0).expect("valid channel");
                }
                configure(i, &mut config);
                SimNode {
                    engine: Box::new(Node::new(config)),
                    conn: None,
                    udp: SocketAddr::from(([127, 0, 1, i as u8 + 1], 5000)),
                    delivered: Vec::new(),
                    events: Vec::new(),
                    sent: Vec::new(),
                    records: Vec::new(),
                    ptt: Vec::new(),
                    delivered_at: Vec::new(),
                }
            })
            .collect::<Vec<_>>();
        let n = nodes.len();
        World {
            now: Instant::ZERO,
            relay: Relay::new(config).expect("valid relay config"),
            nodes,
            in_flight: BTreeMap::new(),
            order: 0,
            next_conn: 1,
            ws_latency: Duration::from_millis(5),
            udp_latency: Duration::from_millis(5),
            registered_delay: None,
            rekey_delay: Duration::ZERO,
            relay_up: true,
            udp_cut: vec![false; n],
            relay_mute: vec![false; n],
            udp_host_stuck: false,
        }
    }

    /// Runs the world until `until`, event by event.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.settle();
            let next = [
                self.in_flight.keys().next().map(|(at, _)| *at),
                self.relay.poll_timeout(),
            ]
            .into_iter()
            .chain(self.nodes.iter().map(|n| n.engine.poll_timeout()))
            .flatten()
            .filter(|at| *at <= until)
            .min();
            let Some(at) = next else {
                self.now = until;
                self.settle();
                return;
            };
            self.now = self.now.max(at);
            self.step();
        }
    }

    /// Runs the world for `span`.
    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now + span);
    }

    /// Runs until every node is welcomed with its channels registered.
    pub fn connect_all(&mut self) {
        self.run_for(Duration::from_millis(500));
        for node in &self.nodes {
            assert!(
                node.engine.is_welcomed(),
                "{} welcomed",
                node.engine.config().node_id()
            );
        }
    }

    /// Delivers what is due and fires due timers.
    fn step(&mut self) {
        let now = self.now;
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let flight = entry.remove();
            self.arrive(flight);
            self.settle();
        }
        if self.relay.poll_timeout().is_some_and(|at| at <= now) {
            self.relay.handle_timeout(now);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .engine
                .poll_timeout()
                .is_some_and(|at| at <= now)
            {
                self.nodes[i].engine.handle_timeout(now);
            }
        }
    }

    /// Drains every engine until none has anything to do.
    fn settle(&mut self) {
        loop {
            let mut busy = self.drain_relay();
            for i in 0..self.nodes.len() {
                busy |= self.drain_node(i);
            }
            if !busy {
                return;
            }
        }
    }

    fn send(&mut self, delay: Duration, flight: Flight) {
        self.order += 1;
        self.in_flight
            .insert((self.now + delay, self.order), flight);
    }

    fn arrive(&mut self, flight: Flight) {
        let now = self.now;
        match flight {
            Flight::ToRelayText { conn, text } => {
                self.relay.handle_text(now, conn, text.as_bytes());
            }
            Flight::ToNodeText { node, conn, text } => {
                if self.nodes[node].conn == Some(conn) {
                    self.nodes[node].engine.handle_text(now, &text);
                }
            }
            Flight::ToRelayDatagram { from, mut bytes } => {
                self.relay.handle_datagram(now, from, &mut bytes);
            }
            Flight::ToNodeDatagram { node, mut bytes } => {
                self.nodes[node]
                    .engine
                    .handle_datagram(now, RELAY_UDP, &mut bytes);
            }
            Flight::Closed { node, conn } => {
                if self.nodes[node].conn == Some(conn) {
                    self.nodes[node].conn = None;
                    self.nodes[node]
                        .engine
                        .handle_disconnected(now, LinkDown::ClosedByRelay);
                }
            }
        }
    }

    /// The one place that speaks the relay engine's output API.
    fn drain_relay(&mut self) -> bool {
        let mut busy = false;
        let mut buf = vec![0u8; MAX_OUTPUT_LEN];
        while let Some(output) = self.relay.poll_output(&mut buf) {
            busy = true;
            match &output {
                RelayOutput::SendText { conn, .. } => {
                    let text = String::from_utf8(output.payload(&buf).to_vec()).expect("JSON");
                    let Some(node) = self.node_of(*conn) else {
                        continue;
                    };
                    if self.relay_mute[node] {
                        continue;
                    }
                    let mut delay = self.ws_latency;
                    if let Some((channel, extra)) = self.registered_delay
                        && text.contains("\"type\":\"registered\"")
                        && text.contains(&format!("\"channel_id\":\"{channel}\""))
                    {
                        delay = delay + extra;
                    }
                    if text.contains("\"type\":\"rekey\"") {
                        delay = delay + self.rekey_delay;
                    }
                    let conn = *conn;
                    self.send(delay, Flight::ToNodeText { node, conn, text });
                }
                RelayOutput::SendDatagram { to, .. } => {
                    let Some(node) = self.nodes.iter().position(|n| n.udp == *to) else {
                        continue;
                    };
                    if self.udp_cut[node] || self.relay_mute[node] {
                        continue;
                    }
                    let bytes = output.payload(&buf).to_vec();
                    self.send(self.udp_latency, Flight::ToNodeDatagram { node, bytes });
                }
                RelayOutput::Close { conn, .. } => {
                    if let Some(node) = self.node_of(*conn) {
                        let conn = *conn;
                        self.send(self.ws_latency, Flight::Closed { node, conn });
                    }
                }
            }
        }
        busy
    }

    fn node_of(&self, conn: ConnId) -> Option<usize> {
        self.nodes.iter().position(|n| n.conn == Some(conn))
    }

    fn drain_node(&mut self, i: usize) -> bool {
        let now = self.now;
        let mut buf = [0u8; OUTPUT_BUF_LEN];
        let mut busy = false;
        while let Some(output) = self.nodes[i].engine.poll_output(&mut buf) {
            busy = true;
            match output {
                Output::Connect => {
                    if self.relay_up {
                        let conn = ConnId(self.next_conn);
                        self.next_conn += 1;
                        self.nodes[i].conn = Some(conn);
                        let peer = self.nodes[i].udp.ip();
                        self.relay.handle_connect(now, conn, peer);
                        self.nodes[i].engine.handle_connected(now);
                    } else {
                        self.nodes[i]
                            .engine
                            .handle_disconnected(now, LinkDown::Connect);
                    }
                }
                Output::Disconnect => {
                    if let Some(conn) = self.nodes[i].conn.take() {
                        self.relay.handle_disconnect(now, conn);
                    }
                }
                Output::SendText { len } => {
                    let text = String::from_utf8(buf[..len].to_vec()).expect("JSON");
                    self.nodes[i].sent.push(text.clone());
                    if let Some(conn) = self.nodes[i].conn {
                        self.send(self.ws_latency, Flight::ToRelayText { conn, text });
                    }
                }
                Output::OpenMedia { host_len, port } => {
                    assert_eq!(&buf[..host_len], b"127.0.0.1");
                    assert_eq!(port, RELAY_UDP.port());
                    if !self.udp_host_stuck {
                        self.nodes[i].engine.handle_media_ready(now, RELAY_UDP);
                    }
                }
                Output::SendDatagram { to, len } => {
                    assert_eq!(to, RELAY_UDP);
                    if !self.udp_cut[i] {
                        let from = self.nodes[i].udp;
                        let bytes = buf[..len].to_vec();
                        self.send(self.udp_latency, Flight::ToRelayDatagram { from, bytes });
                    }
                }
                Output::Deliver { channel, frame } => {
                    let bytes = buf[..frame.len].to_vec();
                    self.nodes[i].delivered.push((channel, frame, bytes));
                    self.nodes[i].delivered_at.push(now);
                }
                Output::Ptt { channel, keyed } => {
                    self.nodes[i].ptt.push((now, channel, keyed));
                }
                Output::Record { channel, effect } => {
                    self.nodes[i].records.push((now, channel, effect));
                }
                Output::Event(event) => self.nodes[i].events.push((now, event)),
            }
        }
        busy
    }

    /// Node `i`'s capture side makes frame `n` on `channel`, active (loud)
    /// or not (silent); a 48 kHz device clock, frame `n` ending at sample
    /// `(n + 1) · 960`.
    pub fn capture(&mut self, i: usize, channel: usize, n: u32, active: bool) {
        let payload = payload(n);
        let captured = Captured::Frame {
            timestamp: MediaTimestamp(n * FRAME_UNITS),
            fec: false,
            payload: &payload,
            active,
            reached: SampleIndex(u64::from(n + 1) * u64::from(FRAME_UNITS)),
            level_dbfs: if active { -12 } else { -70 },
        };
        let channel = ChannelIndex::new(channel).expect("a channel index");
        self.nodes[i]
            .engine
            .handle_captured(self.now, channel, captured);
        self.settle();
    }

    /// Node `i` talks frames `first..first + count` on `channel`, one per
    /// 20 ms, then goes quiet (one inactive frame closes the gate).
    pub fn talk(&mut self, i: usize, channel: usize, first: u32, count: u32) {
        for n in first..first + count {
            self.capture(i, channel, n, true);
            self.run_for(Duration::from_millis(20));
        }
        self.capture(i, channel, first + count, false);
    }

    /// Hands node `i` a text as if the relay had sent it.
    pub fn inject_text(&mut self, i: usize, text: &str) {
        self.nodes[i].engine.handle_text(self.now, text);
        self.settle();
    }

    /// Hands node `i` a datagram from `from`.
    pub fn inject_datagram(&mut self, i: usize, from: SocketAddr, mut bytes: Vec<u8>) {
        self.nodes[i]
            .engine
            .handle_datagram(self.now, from, &mut bytes);
        self.settle();
    }
}

/// Frames `first..first+count` arrived intact and in order with one
/// talk-spurt start, on consecutive media sequence numbers, then the end.
pub fn assert_intact(heard: &[(Received, Vec<u8>)], first: u32, count: u32) {
    assert_eq!(
        heard.len(),
        count as usize + 1,
        "every frame and the end, nothing else"
    );
    let seq0 = heard[0].0.seq.0;
    for (i, (frame, bytes)) in heard[..count as usize].iter().enumerate() {
        let n = first + i as u32;
        assert_eq!(bytes, &payload(n), "frame {i} payload");
        assert_eq!(
            frame.timestamp,
            MediaTimestamp(n * FRAME_UNITS),
            "frame {i}"
        );
        assert_eq!(
            frame
                .flags
                .contains(echostream_core::wire::Flags::START_OF_TALKSPURT),
            i == 0,
            "frame {i} flags"
        );
        assert_eq!(frame.seq.0, seq0.wrapping_add(i as u32), "frame {i} seq");
    }
    let (end, _) = &heard[count as usize];
    assert!(end.end);
    assert_eq!(end.seq.0, seq0.wrapping_add(count));
}
