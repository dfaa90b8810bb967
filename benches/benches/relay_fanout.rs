//! Relay fan-out on one core: one talker's audio datagram through the
//! engine to N listeners on its channel. One iteration = `handle_datagram`
//! (checked parse, stream lookup, open under the talker's key, replay
//! commit, talker arbitration) plus draining `poll_output` into one lent
//! buffer (one seal per listener under that listener's own key and
//! stream). Sealing the
//! talker's datagram is set-up, outside the timing.
//!
//! Criterion's throughput is delivered datagrams per second (N per
//! iteration); talker packets per second is one over the iteration time.
//!
//! `relay_fanout_loopback` runs the same through the real server
//! (`echostream_relay::server` on its own thread) over loopback UDP: one
//! iteration seals and sends the talker's datagram and receives it on all
//! N listener sockets, so it includes the client's syscalls too, and the
//! two sides share the machine's cores.
//!
//! After timing each engine case, a counted pass runs the same iterations
//! under a counting global allocator and prints the heap allocations per
//! delivered datagram (the talker's sealing stays outside the count).
//!
//! `cargo bench -p echostream-benches --bench relay_fanout`

use echostream_sim::alloc::{Counting, allocations};
use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use echostream_core::crypto::{Direction, Secret, Sender, SessionKeys};
use echostream_core::time::Instant;
use echostream_core::wire::signal::{ChannelId, MAX_USERS, NodeId, ToNode, ToRelay, Token};
use echostream_core::wire::{Flags, HEADER_LEN, Kind, MAX_DATAGRAM_LEN, MediaTimestamp};
use echostream_relay::{ConnId, MAX_OUTPUT_LEN, Output, Relay, RelayConfig, TokenPolicy};

/// A 20 ms Opus frame at ~24 kb/s is about 60 bytes.
const PAYLOAD_LEN: usize = 60;
/// Listener counts; a channel holds at most `MAX_USERS` (128) members, the
/// talker included, because `users_connected` lists every member.
const LISTENERS: [usize; 3] = [1, 10, 100];
const _: () = assert!(100 < MAX_USERS);

// Counts per thread: the engine cases run on the bench's thread, so the
// loopback server's thread never disturbs them.
#[global_allocator]
static GLOBAL: Counting = Counting;

/// Talker packets in the counted pass after each engine case.
const COUNTED_PACKETS: u64 = 50;

struct Talker {
    sender: Sender,
    addr: SocketAddr,
    timestamp: u32,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 5000))
}

fn send_text(relay: &mut Relay, now: Instant, conn: ConnId, message: &ToRelay<'_>) {
    let mut buf = [0u8; echostream_core::wire::signal::MAX_MESSAGE_LEN];
    let len = message.emit(&mut buf).expect("fits");
    relay.handle_text(now, conn, &buf[..len]);
}

/// A relay with `listeners + 1` welcomed nodes on one channel, each having
/// sent a heartbeat (so the relay knows its address); node 0 talks.
fn channel(listeners: usize) -> (Relay, Talker) {
    let mut config = RelayConfig::new("127.0.0.1", 40000, TokenPolicy::AnyToken);
    // The default is already the most a channel can hold (MAX_USERS).
    config.limits.members_per_channel_max = MAX_USERS;
    let mut relay = Relay::new(config).expect("a valid config");
    let now = Instant::from_millis(1);
    let mut talker = None;
    for i in 0..=listeners {
        let conn = ConnId(i as u64 + 1);
        relay.handle_connect(now, conn, addr(i).ip());
        let name = format!("node-{i}");
        let hello = ToRelay::Hello {
            node_id: NodeId::new(&name).expect("a valid id"),
            token: Token::new("bench").expect("a valid token"),
            version: 1,
        };
        send_text(&mut relay, now, conn, &hello);
        let channel_id = ChannelId::new("fire").expect("a valid id");
        send_text(&mut relay, now, conn, &ToRelay::Register { channel_id });
        let (mut keys, mut stream) = (None, None);
        let mut buf = [0u8; MAX_OUTPUT_LEN];
        while let Some(output) = relay.poll_output(&mut buf) {
            let Output::SendText { conn: to, .. } = &output else {
                continue;
            };
            if *to != conn {
                continue;
            }
            match ToNode::parse(output.payload(&buf)).expect("valid") {
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
        let keys = keys.expect("welcomed");
        let mut sender = Sender::new(&keys, Direction::NodeToRelay, stream.expect("registered"));
        let mut heartbeat = seal(&mut sender, Kind::Heartbeat, 0, &[0; 8]);
        relay.handle_datagram(now, addr(i), &mut heartbeat);
        while relay.poll_output(&mut buf).is_some() {}
        if i == 0 {
            talker = Some(Talker {
                sender,
                addr: addr(0),
                timestamp: 0,
            });
        }
    }
    assert_eq!(relay.members("fire").len(), listeners + 1);
    (relay, talker.expect("node 0 joined"))
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

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay_fanout");
    for listeners in LISTENERS {
        let (mut relay, mut talker) = channel(listeners);
        let payload: [u8; PAYLOAD_LEN] = core::array::from_fn(|i| i as u8);
        // Audio time advances 20 ms a packet so the talker never falls
        // silent; sessions are not timed out (no handle_timeout calls).
        let mut now = Instant::from_millis(2);
        let mut buf = vec![0u8; MAX_OUTPUT_LEN];
        group.throughput(Throughput::Elements(listeners as u64));
        group.bench_function(format!("listeners/{listeners}"), |b| {
            b.iter_batched(
                || {
                    talker.timestamp = talker.timestamp.wrapping_add(960);
                    seal(&mut talker.sender, Kind::Audio, talker.timestamp, &payload)
                },
                |mut datagram| {
                    now += echostream_core::time::Duration::from_millis(20);
                    relay.handle_datagram(now, talker.addr, &mut datagram);
                    let mut delivered = 0usize;
                    while let Some(output) = relay.poll_output(&mut buf) {
                        delivered += usize::from(matches!(output, Output::SendDatagram { .. }));
                        black_box(output.payload(&buf));
                    }
                    debug_assert_eq!(delivered, listeners);
                    delivered
                },
                BatchSize::SmallInput,
            );
        });
        let (mut counted, mut delivered) = (0u64, 0u64);
        for _ in 0..COUNTED_PACKETS {
            talker.timestamp = talker.timestamp.wrapping_add(960);
            let mut datagram = seal(&mut talker.sender, Kind::Audio, talker.timestamp, &payload);
            now += echostream_core::time::Duration::from_millis(20);
            let before = allocations();
            relay.handle_datagram(now, talker.addr, &mut datagram);
            while let Some(output) = relay.poll_output(&mut buf) {
                delivered += u64::from(matches!(output, Output::SendDatagram { .. }));
                black_box(output.payload(&buf));
            }
            counted += allocations() - before;
        }
        assert_eq!(delivered, COUNTED_PACKETS * listeners as u64);
        println!(
            "relay_fanout/listeners/{listeners}: {:.2} allocations per delivered datagram \
             ({counted} in {COUNTED_PACKETS} talker packets)",
            counted as f64 / delivered as f64
        );
        let drops = &relay.counters().drops;
        assert_eq!(
            drops.datagram_queue_full + drops.not_talker + drops.no_address,
            0
        );
    }
    group.finish();
}

/// A node of the loopback bench: a welcomed WebSocket session, its stream
/// on the channel and its UDP socket.
struct LoopbackNode {
    _ws: tungstenite::WebSocket<std::net::TcpStream>,
    udp: std::net::UdpSocket,
    sender: Sender,
}

fn loopback_node(ws_addr: SocketAddr, udp_addr: SocketAddr, i: usize) -> LoopbackNode {
    use tungstenite::Message;
    let tcp = std::net::TcpStream::connect(ws_addr).expect("connect");
    let (mut ws, _) =
        tungstenite::client::client(format!("ws://{ws_addr}/"), tcp).expect("handshake");
    let name = format!("node-{i}");
    let send = |ws: &mut tungstenite::WebSocket<_>, message: &ToRelay<'_>| {
        let mut buf = [0u8; echostream_core::wire::signal::MAX_MESSAGE_LEN];
        let len = message.emit(&mut buf).expect("fits");
        let text = std::str::from_utf8(&buf[..len]).expect("JSON").to_owned();
        ws.send(Message::text(text)).expect("send");
    };
    send(
        &mut ws,
        &ToRelay::Hello {
            node_id: NodeId::new(&name).expect("a valid id"),
            token: Token::new("bench").expect("a valid token"),
            version: 1,
        },
    );
    send(
        &mut ws,
        &ToRelay::Register {
            channel_id: ChannelId::new("fire").expect("a valid id"),
        },
    );
    let (mut keys, mut stream) = (None, None);
    while stream.is_none() {
        let Message::Text(text) = ws.read().expect("read") else {
            continue;
        };
        match ToNode::parse(text.as_bytes()).expect("valid") {
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
    let keys = keys.expect("welcomed before registered");
    let mut sender = Sender::new(&keys, Direction::NodeToRelay, stream.expect("registered"));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.connect(udp_addr).expect("connect");
    udp.set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .expect("timeout");
    udp.send(&seal(&mut sender, Kind::Heartbeat, 0, &[0; 8]))
        .expect("send");
    let mut echo = [0u8; MAX_DATAGRAM_LEN];
    udp.recv(&mut echo).expect("the heartbeat echo");
    LoopbackNode {
        _ws: ws,
        udp,
        sender,
    }
}

fn fanout_loopback(c: &mut Criterion) {
    use echostream_relay::server::{Server, ServerConfig};
    let mut group = c.benchmark_group("relay_fanout_loopback");
    let payload: [u8; PAYLOAD_LEN] = core::array::from_fn(|i| i as u8);
    for listeners in LISTENERS {
        let mut config = ServerConfig::loopback();
        // No heartbeats needed while the bench runs.
        config.heartbeat_ms = 600_000;
        config.stats_interval_s = 0;
        let server = Server::bind(config).expect("bind").spawn().expect("spawn");
        let mut nodes: Vec<LoopbackNode> = (0..=listeners)
            .map(|i| loopback_node(server.ws_addr(), server.udp_addr(), i))
            .collect();
        let (talker, listeners_nodes) = nodes.split_first_mut().expect("a talker");
        let mut timestamp = 0u32;
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        group.throughput(Throughput::Elements(listeners as u64));
        group.bench_function(format!("listeners/{listeners}"), |b| {
            b.iter(|| {
                timestamp = timestamp.wrapping_add(960);
                let datagram = seal(&mut talker.sender, Kind::Audio, timestamp, &payload);
                talker.udp.send(&datagram).expect("send");
                for node in listeners_nodes.iter() {
                    black_box(node.udp.recv(&mut buf).expect("every listener hears it"));
                }
            });
        });
        let counters = server.counters();
        assert_eq!(
            counters.udp_send_full + counters.relay.drops.datagram_queue_full,
            0
        );
        server.stop().expect("the server stops cleanly");
    }
    group.finish();
}

criterion_group!(benches, fanout, fanout_loopback);
criterion_main!(benches);
