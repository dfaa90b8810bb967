//! A load client for a running `echostream-relay`: one talker and N
//! listeners on one channel, in one single-threaded process, driving the
//! relay's real protocol (WebSocket signaling, sealed UDP datagrams). It
//! measures the relay process's CPU from /proc over an idle window (every
//! node connected and keeping its session alive as a node does: a UDP
//! heartbeat per stream every `heartbeat_ms` the relay names in `welcome`,
//! and a `ping` with every `PING_EVERY_ROUNDS`th; on loopback no echo is
//! late, so no node probes), then over a talk window (the talker sends the Opus frames
//! of a frames file every 20 ms on an absolute schedule, then its
//! end-of-transmission), and prints one JSON line.
//!
//! It mirrors the Mumble peer harness (`../shared/peers/mumble/mumble_min.py`)
//! so that only the server differs: the same frames file (`u16` big-endian
//! length + Opus frame, from its `make_frames.py`), the same windows and
//! the same listener designs: `--listen-mode poll` drains every listener's
//! sockets every 5 ms, `epoll` waits on all of them. Listeners open (decrypt
//! and verify) and count every datagram. The JSON keys are the harness's.
//!
//! ```text
//! echostream-relay --listen 127.0.0.1:0 --udp 127.0.0.1:0 &   # prints its ports
//! relay_load --ws 127.0.0.1:PORT --server-pid PID --listeners 50 \
//!     --frames frames.bin --listen-mode poll --idle-s 10 --talk-s 30
//! ```
//!
//! Only loopback addresses are accepted.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::node::PING_EVERY_ROUNDS;
use echostream_core::time::Instant as ProtocolInstant;
use echostream_core::wire::signal::{ChannelId, MAX_MESSAGE_LEN, NodeId, ToNode, ToRelay, Token};
use echostream_core::wire::{
    Flags, HEADER_LEN, HEARTBEAT_PAYLOAD_LEN, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, StreamId,
};
use tungstenite::{Message, WebSocket};

mod procstat;

/// Opus frames are 20 ms.
const FRAME_PERIOD: Duration = Duration::from_millis(20);
/// 20 ms at 48 kHz, the media clock.
const FRAME_SAMPLES: u32 = 960;
/// How often `poll` listeners drain their sockets.
const DRAIN_PERIOD: Duration = Duration::from_millis(5);
/// Set-up waits at most this long for any one answer.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(about = "One talker and N listeners against a running echostream-relay")]
struct Args {
    /// Listeners on the channel (the talker comes on top).
    #[arg(long)]
    listeners: usize,
    /// The relay's WebSocket address (loopback only).
    #[arg(long)]
    ws: SocketAddr,
    /// The relay's process id, for its CPU and memory.
    #[arg(long)]
    server_pid: u32,
    /// The Opus frames: u16 big-endian length + frame, repeated.
    #[arg(long)]
    frames: PathBuf,
    #[arg(long, default_value_t = 30.0)]
    talk_s: f64,
    #[arg(long, default_value_t = 10.0)]
    idle_s: f64,
    /// poll: drain every listener's sockets every 5 ms; epoll: one wait on
    /// all of them (the relay's send wakes this process).
    #[arg(long, value_enum, default_value_t = ListenMode::Poll)]
    listen_mode: ListenMode,
    /// together: every node's keep-alives at once, as the Mumble harness
    /// sends its clients'; spread: each node at its own phase of the
    /// heartbeat period, as independent nodes do.
    #[arg(long, value_enum, default_value_t = Phase::Together)]
    keepalive_phase: Phase,
    #[arg(long, default_value = "bench")]
    channel: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListenMode {
    Poll,
    Epoll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Phase {
    Spread,
    Together,
}

/// One node: its signaling, its stream and what it heard.
struct Node {
    ws: WebSocket<TcpStream>,
    udp: UdpSocket,
    sender: Sender,
    receiver: Receiver<1>,
    stream_id: StreamId,
    heartbeat: Duration,
    next_keepalive: Instant,
    /// Heartbeat rounds since the last `ping`.
    rounds_since_ping: u32,
    audio: u64,
    ends: u64,
    echoes: u64,
    pongs: u64,
    open_failed: u64,
    other: u64,
}

fn read_frames(path: &PathBuf) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    let mut rest = &data[..];
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        assert!(len <= tail.len(), "truncated frames file");
        frames.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    frames
}

fn send_text(ws: &mut WebSocket<TcpStream>, message: &ToRelay<'_>) {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let len = message.emit(&mut buf).expect("fits");
    let text = std::str::from_utf8(&buf[..len]).expect("JSON is UTF-8");
    match ws.send(Message::text(text)) {
        Ok(()) => {}
        // Queued in the socket's write buffer; the next send flushes it.
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("signaling failed: {e}"),
    }
}

fn seal(sender: &mut Sender, kind: Kind, flags: Flags, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    let len = sender
        .seal(
            kind,
            flags,
            MediaTimestamp(timestamp),
            payload.len(),
            &mut buf,
        )
        .expect("a fresh sender seals");
    buf.truncate(len);
    buf
}

/// The protocol clock of this process (µs since it started), for the
/// receivers' key grace periods.
fn protocol_now(start: Instant) -> ProtocolInstant {
    ProtocolInstant::from_micros(start.elapsed().as_micros() as u64)
}

impl Node {
    /// Connects, says hello, registers on `channel` and opens its UDP
    /// socket towards the relay named in `welcome`.
    fn connect(ws_addr: SocketAddr, name: &str, channel: &str) -> Node {
        let tcp = TcpStream::connect(ws_addr).expect("the relay accepts");
        tcp.set_nodelay(true).expect("nodelay");
        tcp.set_read_timeout(Some(SETUP_TIMEOUT))
            .expect("a read timeout");
        let (mut ws, _) = tungstenite::client::client(format!("ws://{ws_addr}/"), tcp)
            .expect("WebSocket handshake");
        send_text(
            &mut ws,
            &ToRelay::Hello {
                node_id: NodeId::new(name).expect("a valid id"),
                token: Token::new("relay-load").expect("a valid token"),
                version: 1,
            },
        );
        send_text(
            &mut ws,
            &ToRelay::Register {
                channel_id: ChannelId::new(channel).expect("a valid id"),
            },
        );
        let (mut welcome, mut stream_id) = (None, None);
        while stream_id.is_none() {
            let Message::Text(text) = ws.read().expect("welcome and registered") else {
                continue;
            };
            match ToNode::parse(text.as_bytes()).expect("the relay speaks the protocol") {
                ToNode::Welcome {
                    udp_host,
                    udp_port,
                    key,
                    key_id,
                    heartbeat_ms,
                } => {
                    let keys = SessionKeys::derive(&Secret::from_bytes(key.into_bytes()), key_id);
                    let udp: SocketAddr = format!("{udp_host}:{udp_port}")
                        .parse()
                        .expect("the relay names an IP");
                    assert!(udp.ip().is_loopback(), "only loopback relays: {udp}");
                    welcome = Some((keys, udp, heartbeat_ms));
                }
                ToNode::Registered { stream_id: id, .. } => stream_id = Some(id),
                ToNode::Error { code, message } => panic!("{name}: error {code} {message:?}"),
                _ => {}
            }
        }
        let (keys, relay_udp, heartbeat_ms) = welcome.expect("welcome comes first");
        let stream_id = stream_id.expect("registered");
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        udp.connect(relay_udp).expect("connect");
        set_receive_buffer(&udp, 1 << 20);
        udp.set_nonblocking(true).expect("non-blocking");
        ws.get_mut().set_nonblocking(true).expect("non-blocking");
        Node {
            ws,
            udp,
            sender: Sender::new(&keys, Direction::NodeToRelay, stream_id),
            receiver: Receiver::new(&keys, Direction::RelayToNode),
            stream_id,
            heartbeat: Duration::from_millis(u64::from(heartbeat_ms)),
            next_keepalive: Instant::now(),
            rounds_since_ping: 0,
            audio: 0,
            ends: 0,
            echoes: 0,
            pongs: 0,
            open_failed: 0,
            other: 0,
        }
    }

    /// A heartbeat on the node's one stream, and a `ping` every
    /// [`PING_EVERY_ROUNDS`]th time, as a node's heartbeat round does
    /// while its echoes come back.
    fn keepalive(&mut self, start: Instant) {
        let t = start.elapsed().as_micros() as u64;
        self.rounds_since_ping += 1;
        if self.rounds_since_ping >= PING_EVERY_ROUNDS {
            self.rounds_since_ping = 0;
            send_text(&mut self.ws, &ToRelay::Ping { t });
        }
        let payload: [u8; HEARTBEAT_PAYLOAD_LEN] = t.to_be_bytes();
        let datagram = seal(&mut self.sender, Kind::Heartbeat, Flags::NONE, 0, &payload);
        let _ = self.udp.send(&datagram);
    }

    /// Reads both sockets until they would block.
    fn drain(&mut self, start: Instant) {
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => match ToNode::parse(text.as_bytes()) {
                    Ok(ToNode::Pong { .. }) => self.pongs += 1,
                    Ok(ToNode::Error { code, message }) => {
                        panic!("stream {}: error {code} {message:?}", self.stream_id.0)
                    }
                    _ => {}
                },
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("stream {}: signaling closed: {e}", self.stream_id.0),
            }
        }
        let mut buf = [0u8; MAX_DATAGRAM_LEN + 1];
        loop {
            let len = match self.udp.recv(&mut buf) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("receive: {e}"),
            };
            match self.receiver.open(protocol_now(start), &mut buf[..len]) {
                Ok(opened) => match opened.repr.kind {
                    Kind::Audio => self.audio += 1,
                    Kind::EndOfTransmission => self.ends += 1,
                    Kind::HeartbeatEcho => self.echoes += 1,
                    _ => self.other += 1,
                },
                Err(_) => self.open_failed += 1,
            }
        }
    }
}

fn set_receive_buffer(udp: &UdpSocket, bytes: libc::c_int) {
    // SAFETY: the fd is open for the call; the option value is a c_int on
    // the stack whose size is passed.
    let result = unsafe {
        libc::setsockopt(
            udp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(result, 0, "SO_RCVBUF: {}", io::Error::last_os_error());
}

/// Everyone, and how the listeners are waited on.
struct Bench {
    start: Instant,
    talker: Node,
    listeners: Vec<Node>,
    poll: Option<mio::Poll>,
    events: mio::Events,
    next_drain: Instant,
}

impl Bench {
    fn keepalives(&mut self) {
        let now = Instant::now();
        let start = self.start;
        for node in std::iter::once(&mut self.talker).chain(self.listeners.iter_mut()) {
            if now >= node.next_keepalive {
                node.keepalive(start);
                node.next_keepalive += node.heartbeat;
                if node.next_keepalive < now {
                    node.next_keepalive = now + node.heartbeat;
                }
            }
        }
    }

    fn next_keepalive(&self) -> Instant {
        std::iter::once(&self.talker)
            .chain(&self.listeners)
            .map(|n| n.next_keepalive)
            .min()
            .expect("a talker")
    }

    /// Keeps sessions alive and listens until `until`.
    fn pump(&mut self, until: Instant) {
        loop {
            self.keepalives();
            let now = Instant::now();
            if now >= until {
                return;
            }
            let mut wake = until.min(self.next_keepalive());
            match &mut self.poll {
                None => {
                    wake = wake.min(self.next_drain);
                    std::thread::sleep(wake.saturating_duration_since(now));
                    if Instant::now() >= self.next_drain {
                        self.talker.drain(self.start);
                        for node in &mut self.listeners {
                            node.drain(self.start);
                        }
                        self.next_drain = Instant::now() + DRAIN_PERIOD;
                    }
                }
                Some(poll) => {
                    match poll.poll(&mut self.events, Some(wake.saturating_duration_since(now))) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => panic!("poll: {e}"),
                    }
                    for event in &self.events {
                        let i = event.token().0 / 2;
                        let node = match i {
                            0 => &mut self.talker,
                            i => &mut self.listeners[i - 1],
                        };
                        node.drain(self.start);
                    }
                }
            }
        }
    }

    fn everyone(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.talker).chain(&self.listeners)
    }
}

fn main() {
    let args = Args::parse();
    assert!(args.ws.ip().is_loopback(), "only loopback relays");
    let pid = args.server_pid.to_string();
    let frames = read_frames(&args.frames);
    let packets = (args.talk_s * 50.0).round() as usize;
    assert!(
        frames.len() >= packets,
        "{} frames for {packets} packets",
        frames.len()
    );

    let start = Instant::now();
    let talker = Node::connect(args.ws, "talker", &args.channel);
    let listeners: Vec<Node> = (0..args.listeners)
        .map(|i| Node::connect(args.ws, &format!("listener{i:03}"), &args.channel))
        .collect();
    let poll = match args.listen_mode {
        ListenMode::Poll => None,
        ListenMode::Epoll => {
            let poll = mio::Poll::new().expect("a poller");
            for (i, node) in std::iter::once(&talker).chain(&listeners).enumerate() {
                for (j, fd) in [node.udp.as_raw_fd(), node.ws.get_ref().as_raw_fd()]
                    .into_iter()
                    .enumerate()
                {
                    poll.registry()
                        .register(
                            &mut mio::unix::SourceFd(&fd),
                            mio::Token(2 * i + j),
                            mio::Interest::READABLE,
                        )
                        .expect("register");
                }
            }
            Some(poll)
        }
    };
    let mut bench = Bench {
        start,
        talker,
        listeners,
        poll,
        events: mio::Events::with_capacity(1024),
        next_drain: Instant::now(),
    };
    // Each node's first heartbeat tells the relay its address; then each
    // keeps its own phase (or all share one).
    let n = bench.listeners.len() + 1;
    let t0 = Instant::now();
    let phase = args.keepalive_phase;
    for (i, node) in std::iter::once(&mut bench.talker)
        .chain(bench.listeners.iter_mut())
        .enumerate()
    {
        node.keepalive(start);
        let offset = match phase {
            Phase::Spread => node.heartbeat.mul_f64(i as f64 / n as f64),
            Phase::Together => Duration::ZERO,
        };
        node.next_keepalive = t0 + node.heartbeat + offset;
    }
    bench.pump(Instant::now() + Duration::from_secs(1));
    let missing = bench.everyone().filter(|n| n.echoes == 0).count();
    assert_eq!(missing, 0, "nodes without a heartbeat echo");
    let setup_s = start.elapsed().as_secs_f64();

    let idle = procstat::Window::start(&pid);
    bench.pump(Instant::now() + Duration::from_secs_f64(args.idle_s));
    let idle = idle.stop();

    let base: Vec<u64> = bench.listeners.iter().map(|n| n.audio).collect();
    let talk = procstat::Window::start(&pid);
    let t0 = Instant::now();
    let mut late_max = Duration::ZERO;
    let mut timestamp = 0u32;
    for (sent, frame) in frames.iter().take(packets).enumerate() {
        let due = t0 + FRAME_PERIOD * sent as u32;
        bench.pump(due);
        late_max = late_max.max(Instant::now().saturating_duration_since(due));
        timestamp = timestamp.wrapping_add(FRAME_SAMPLES);
        let flags = if sent == 0 {
            Flags::START_OF_TALKSPURT
        } else {
            Flags::NONE
        };
        let datagram = seal(
            &mut bench.talker.sender,
            Kind::Audio,
            flags,
            timestamp,
            frame,
        );
        bench.talker.udp.send(&datagram).expect("send");
    }
    bench.pump(t0 + FRAME_PERIOD * packets as u32);
    let end = seal(
        &mut bench.talker.sender,
        Kind::EndOfTransmission,
        Flags::NONE,
        timestamp.wrapping_add(FRAME_SAMPLES),
        &[],
    );
    bench.talker.udp.send(&end).expect("send");
    // Let the last packet's fan-out finish, then close the window.
    bench.pump(Instant::now() + Duration::from_millis(200));
    let talk = talk.stop();
    let (rss_kb, hwm_kb, threads) = procstat::mem(&pid);
    // A little more time for stragglers before counting.
    bench.pump(Instant::now() + Duration::from_millis(500));

    let got: Vec<u64> = bench
        .listeners
        .iter()
        .zip(&base)
        .map(|(n, b)| n.audio - b)
        .collect();
    let delivered: u64 = got.iter().sum();
    let expected = (packets * args.listeners) as u64;
    let sum = |f: fn(&Node) -> u64| bench.listeners.iter().map(f).sum::<u64>();
    let mut out = String::new();
    write!(
        out,
        "{{\"server\": \"echostream-relay\", \"transport\": \"udp\", \"listen_mode\": \"{}\", \
         \"keepalive_phase\": \"{}\", \"heartbeat_ms\": {}, \"listeners\": {}, \"setup_s\": {setup_s:.2}, \
         \"talker_packets\": {packets}, \"talker_late_max_ms\": {:.2}, \"delivered\": {delivered}, \
         \"expected\": {expected}, \"delivery_pct\": {:.3}, \"per_listener_min\": {}, \
         \"via_udp\": {delivered}, \"ends\": {}, \"udp_decrypt_bad\": {}, \"other_udp\": {}, \
         \"pongs\": {}, \"talk\": {talk}, \"idle\": {idle}, \"idle_s\": {}, \"rss_kb\": {rss_kb}, \
         \"hwm_kb\": {hwm_kb}, \"threads\": {threads}}}",
        match args.listen_mode {
            ListenMode::Poll => "poll",
            ListenMode::Epoll => "epoll",
        },
        match args.keepalive_phase {
            Phase::Spread => "spread",
            Phase::Together => "together",
        },
        bench.talker.heartbeat.as_millis(),
        args.listeners,
        late_max.as_secs_f64() * 1000.0,
        100.0 * delivered as f64 / expected.max(1) as f64,
        got.iter().min().copied().unwrap_or(0),
        sum(|n| n.ends),
        sum(|n| n.open_failed),
        sum(|n| n.other),
        sum(|n| n.pongs),
        args.idle_s,
    )
    .expect("a String takes any text");
    println!("{out}");
}
