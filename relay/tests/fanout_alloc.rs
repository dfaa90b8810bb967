//! Steady-state fan-out allocates nothing: under a counting global
//! allocator, a talker's audio to every listener, heartbeat echoes and the
//! `transmit` frames of a talk-spurt's start and end go through the engine
//! and out of `poll_output` without one heap allocation, and every
//! listener still opens what it got.
//!
//! Counts are per thread, so the test harness's other threads do not
//! disturb them; only the relay's calls are counted, not the simulated
//! nodes' sealing and parsing.

// The simulator's counting allocator, by path rather than as a
// dependency: depending on echostream-sim would make every build of the
// relay's tests (the aarch64 check's too) compile the whole edge.
#[path = "../../sim/src/alloc.rs"]
mod alloc;
use alloc::{Counting, allocations};
use std::net::SocketAddr;

use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::{Duration, Instant};
use echostream_core::wire::signal::{ChannelId, NodeId, ToNode, ToRelay, Token};
use echostream_core::wire::{Flags, HEADER_LEN, Kind, MAX_DATAGRAM_LEN, MediaTimestamp};
use echostream_relay::{ConnId, MAX_OUTPUT_LEN, Output, Relay, RelayConfig, TokenPolicy};

#[global_allocator]
static GLOBAL: Counting = Counting;

const LISTENERS: usize = 20;
const PAYLOAD_LEN: usize = 60;
const SPURT_PACKETS: usize = 25;

/// A node as the relay sees it from outside.
struct Node {
    conn: ConnId,
    addr: SocketAddr,
    sender: Sender,
    receiver: Receiver<8>,
}

/// What one counted call and its drain produced, in buffers reserved
/// before counting.
struct Drained {
    /// (recipient, sealed datagram bytes, length).
    datagrams: Vec<(SocketAddr, [u8; MAX_DATAGRAM_LEN], usize)>,
    /// The connection of each text frame.
    texts: Vec<ConnId>,
    /// The frames, one a line.
    text_bytes: Vec<u8>,
}

impl Drained {
    fn with_room() -> Drained {
        Drained {
            datagrams: Vec::with_capacity(LISTENERS + 1),
            texts: Vec::with_capacity(LISTENERS + 1),
            text_bytes: Vec::with_capacity(64 * 1024),
        }
    }
}

/// Runs `input` then drains into `drained`; returns the allocations made.
fn counted(
    relay: &mut Relay,
    buf: &mut [u8],
    drained: &mut Drained,
    input: impl FnOnce(&mut Relay),
) -> u64 {
    let before = allocations();
    input(relay);
    while let Some(output) = relay.poll_output(buf) {
        match output {
            Output::SendDatagram { to, len } => {
                let mut bytes = [0u8; MAX_DATAGRAM_LEN];
                bytes[..len].copy_from_slice(output.payload(buf));
                drained.datagrams.push((to, bytes, len));
            }
            Output::SendText { conn, .. } => {
                drained.texts.push(conn);
                drained.text_bytes.extend_from_slice(output.payload(buf));
                drained.text_bytes.push(b'\n');
            }
            Output::Close { .. } => panic!("nobody is closed"),
        }
    }
    allocations() - before
}

fn seal(sender: &mut Sender, kind: Kind, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    let len = sender
        .seal(
            kind,
            Flags::NONE,
            MediaTimestamp(timestamp),
            payload.len(),
            &mut buf,
        )
        .expect("seal");
    buf.truncate(len);
    buf
}

/// `LISTENERS + 1` welcomed nodes on one channel, each having sent a
/// heartbeat; node 0 will talk.
fn channel(relay: &mut Relay, now: Instant, buf: &mut [u8]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in 0..=LISTENERS {
        let conn = ConnId(i as u64 + 1);
        let addr = SocketAddr::from(([10, 0, 0, i as u8 + 1], 5000));
        relay.handle_connect(now, conn, addr.ip());
        let name = format!("node-{i}");
        for message in [
            ToRelay::Hello {
                node_id: NodeId::new(&name).unwrap(),
                token: Token::new("t").unwrap(),
                version: 1,
            },
            ToRelay::Register {
                channel_id: ChannelId::new("fire").unwrap(),
            },
        ] {
            let mut text = [0u8; 4096];
            let len = message.emit(&mut text).unwrap();
            relay.handle_text(now, conn, &text[..len]);
        }
        let (mut keys, mut stream) = (None, None);
        while let Some(output) = relay.poll_output(buf) {
            if !matches!(output, Output::SendText { conn: to, .. } if to == conn) {
                continue;
            }
            match ToNode::parse(output.payload(buf)).unwrap() {
                ToNode::Welcome { key, key_id, .. } => {
                    keys = Some(SessionKeys::derive(
                        &Secret::from_bytes(key.into_bytes()),
                        key_id,
                    ));
                }
                ToNode::Registered { stream_id, .. } => stream = Some(stream_id),
                _ => {}
            }
        }
        let keys = keys.unwrap();
        let mut node = Node {
            conn,
            addr,
            sender: Sender::new(&keys, Direction::NodeToRelay, stream.unwrap()),
            receiver: Receiver::new(&keys, Direction::RelayToNode),
        };
        let mut heartbeat = seal(&mut node.sender, Kind::Heartbeat, 0, &[0; 8]);
        relay.handle_datagram(now, addr, &mut heartbeat);
        while relay.poll_output(buf).is_some() {}
        nodes.push(node);
    }
    nodes
}

#[test]
fn steady_state_fan_out_allocates_nothing() {
    let config = RelayConfig::new("127.0.0.1", 40000, TokenPolicy::AnyToken);
    let mut relay = Relay::new(config).unwrap();
    let mut buf = vec![0u8; MAX_OUTPUT_LEN];
    let mut now = Instant::from_millis(1);
    let mut nodes = channel(&mut relay, now, &mut buf);
    let payload: [u8; PAYLOAD_LEN] = core::array::from_fn(|i| i as u8);
    let mut timestamp = 0u32;

    // Two talk-spurts: the first warms up, the second is counted whole.
    for spurt in 0..2 {
        let mut allocated = 0;
        let mut audio_heard = 0;
        let mut transmits = 0;
        for n in 0..=SPURT_PACKETS {
            now += Duration::from_millis(20);
            timestamp = timestamp.wrapping_add(960);
            let (kind, body) = if n < SPURT_PACKETS {
                (Kind::Audio, &payload[..])
            } else {
                (Kind::EndOfTransmission, &[][..])
            };
            let mut datagram = seal(&mut nodes[0].sender, kind, timestamp, body);
            let listener = 1 + n % LISTENERS;
            let mut heartbeat = seal(&mut nodes[listener].sender, Kind::Heartbeat, 0, &[1; 8]);
            let (talker, heard_from) = (nodes[0].addr, nodes[listener].addr);
            let mut drained = Drained::with_room();
            allocated += counted(&mut relay, &mut buf, &mut drained, |relay| {
                relay.handle_datagram(now, talker, &mut datagram);
                relay.handle_datagram(now, heard_from, &mut heartbeat);
            });
            // What a listener would notice: every datagram opens under its
            // own key, carrying the talker's payload or its own echo.
            assert_eq!(drained.datagrams.len(), LISTENERS + 1);
            for (to, bytes, len) in &mut drained.datagrams {
                let node = nodes.iter_mut().find(|node| node.addr == *to).unwrap();
                let opened = node.receiver.open(now, &mut bytes[..*len]).unwrap();
                let got = &bytes[opened.payload];
                match opened.repr.kind {
                    Kind::Audio => {
                        assert_eq!(got, payload);
                        audio_heard += 1;
                    }
                    Kind::EndOfTransmission => assert!(got.is_empty()),
                    Kind::HeartbeatEcho => assert_eq!(*to, heard_from),
                    other => panic!("unexpected {other:?}"),
                }
            }
            let texts = String::from_utf8(drained.text_bytes).unwrap();
            transmits += texts.matches("\"transmit\"").count();
            assert!(drained.texts.iter().all(|conn| *conn != nodes[0].conn));
        }
        assert_eq!(audio_heard, SPURT_PACKETS * LISTENERS, "spurt {spurt}");
        // Taken, then released: each listener is told both.
        assert_eq!(transmits, 2 * LISTENERS, "spurt {spurt}");
        if spurt == 1 {
            assert_eq!(allocated, 0, "heap allocations in a counted talk-spurt");
        }
    }
    let drops = &relay.counters().drops;
    assert_eq!(drops.datagram_queue_full + drops.payload_store_full, 0);
    assert_eq!(drops.text_queue_full + drops.text_store_full, 0);
}
