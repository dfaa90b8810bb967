//! Test harness for the relay binary: starts the real `echostream-relay`
//! on loopback port 0, and edge-node clients built from tungstenite, a std
//! UDP socket and core's signaling and crypto types.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _, UdpSocket};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::wire::signal::{ChannelId, NodeId, ToNode, ToRelay, Token};
use echostream_core::wire::{
    Flags, HEADER_LEN, KeyId, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, StreamId,
};
use tungstenite::{Message, WebSocket};

/// How long anything in these tests may take before it counts as never.
pub const PATIENCE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------
// The relay process
// ---------------------------------------------------------------------

/// A running `echostream-relay`, killed on drop (its log printed if the
/// test failed).
pub struct RelayProcess {
    child: Child,
    /// The WebSocket listener (`ws` or `wss`).
    pub ws: SocketAddr,
    /// The UDP socket.
    pub udp: SocketAddr,
    /// The status endpoint, unless `--http off`.
    pub http: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
    stderr: Option<JoinHandle<()>>,
}

/// The counters of one `stats` line, by name.
#[derive(Debug, Clone)]
pub struct Stats(BTreeMap<String, u64>);

impl Stats {
    /// Parses the `name=value` pairs after `stats` in a log line.
    pub fn parse(line: &str) -> Stats {
        let (_, pairs) = line.split_once(" stats ").expect("a stats line");
        Stats(
            pairs
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
        )
    }

    /// A counter; panics on a name the relay does not log (a typo).
    pub fn get(&self, name: &str) -> u64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no counter {name} in {:?}", self.0.keys()))
    }
}

/// The relay binary with `args`, nothing added.
pub fn relay_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_echostream-relay"));
    command
        .args(args)
        .env_remove("ECHOSTREAM_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl RelayProcess {
    /// Starts the relay on 127.0.0.1 port 0 (WebSocket, UDP and, unless
    /// `extra` names another `--http`, the status endpoint) with `extra`
    /// arguments, and waits for its `listening` line.
    pub fn start(extra: &[&str]) -> RelayProcess {
        let mut args = vec!["--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0"];
        if !extra.contains(&"--http") {
            args.extend(["--http", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        let mut child = relay_command(&args)
            .spawn()
            .expect("start echostream-relay");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push(line);
                }
            }
        });
        let stdout = child.stdout.take().expect("piped");
        let line = first_line(stdout, PATIENCE);
        let Some(line) = line else {
            let _ = child.kill();
            panic!(
                "the relay printed no listening line; log: {:?}",
                log.lock().unwrap()
            );
        };
        let addr = |key: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .parse()
                .expect("an address")
        };
        let ws = if line.contains("wss=") {
            addr("wss=")
        } else {
            addr("ws=")
        };
        let http = (!line.contains("http=off")).then(|| addr("http="));
        RelayProcess {
            ws,
            udp: addr("udp="),
            http,
            child,
            log,
            stderr: Some(stderr),
        }
    }

    /// Panics unless the process is still running.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait on the relay") {
            panic!("the relay exited ({status}); log:\n{}", self.log());
        }
    }

    /// The first logged line containing `needle`, waiting up to
    /// `patience` for it.
    pub fn wait_log(&self, needle: &str, patience: Duration) -> Option<String> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return Some(line.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends `signal` and goes on (SIGHUP: read the tokens again).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid of a child we own and a valid signal.
        unsafe { libc::kill(pid, signal) };
    }

    /// How many logged lines contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Sends SIGTERM, waits for a clean exit and returns the final
    /// counters it logged.
    pub fn stop(self) -> Stats {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `signal`, waits for a clean exit and returns the final
    /// counters it logged.
    pub fn stop_with(mut self, signal: libc::c_int) -> Stats {
        let status = self.terminate(signal);
        assert!(status.success(), "exit {status}; log:\n{}", self.log());
        let log = self.log.lock().unwrap().clone();
        let line = log
            .iter()
            .rev()
            .find(|l| l.contains(" stats at=final "))
            .unwrap_or_else(|| panic!("no final stats line; log:\n{}", log.join("\n")));
        Stats::parse(line)
    }

    fn terminate(&mut self, signal: libc::c_int) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid of a child we own and a valid signal.
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on the relay") {
                if let Some(stderr) = self.stderr.take() {
                    stderr.join().expect("stderr reader");
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the relay ignored signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- relay log ---\n{}\n---", self.log());
        }
    }
}

fn first_line(stdout: ChildStdout, patience: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(patience).ok().filter(|l| !l.is_empty())
}

// ---------------------------------------------------------------------
// Signaling
// ---------------------------------------------------------------------

/// A message from the relay, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Welcome {
        host: String,
        port: u16,
        secret: [u8; 32],
        key_id: u8,
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
        message: String,
    },
    Ping,
    Pong {
        t: u64,
    },
}

impl Msg {
    fn parse(text: &str) -> Msg {
        match ToNode::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("the relay sent an unparsable message {text:?}: {e:?}"))
        {
            ToNode::Welcome {
                udp_host,
                udp_port,
                key,
                key_id,
                heartbeat_ms,
            } => Msg::Welcome {
                host: udp_host.as_str().into(),
                port: udp_port,
                secret: key.into_bytes(),
                key_id: key_id.0,
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
            ToNode::Error { code, message } => Msg::Error {
                code,
                message: message.as_str().into(),
            },
            ToNode::Ping { .. } => Msg::Ping,
            ToNode::Pong { t } => Msg::Pong { t },
        }
    }
}

/// What a read of the signaling connection produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Msg(Msg),
    /// The relay closed the connection (with this close code), or it
    /// broke (`None`).
    Closed(Option<u16>),
}

/// The byte stream under a test client's WebSocket.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl ClientStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(s) => &s.sock,
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            ClientStream::Plain(s) => s.read(buf),
            ClientStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ClientStream::Plain(s) => s.write(buf),
            ClientStream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.flush(),
            ClientStream::Tls(s) => s.flush(),
        }
    }
}

/// A blocking WebSocket client whose reads give up after a short time.
pub struct Signaling {
    ws: WebSocket<ClientStream>,
}

/// How long one read waits before reporting nothing.
const READ_SLICE: Duration = Duration::from_millis(20);

impl Signaling {
    /// `ws://addr/` over plain TCP.
    pub fn connect(addr: SocketAddr) -> Signaling {
        let tcp = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect to the relay");
        Signaling::handshake(format!("ws://{addr}/"), ClientStream::Plain(tcp))
    }

    /// `wss://localhost:port/`, trusting only `cert`.
    pub fn connect_tls(
        addr: SocketAddr,
        cert: rustls_pki_types::CertificateDer<'static>,
    ) -> Signaling {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).expect("a valid certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the defaults")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("a name");
        let connection =
            rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
        let tcp = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect to the relay");
        let stream = ClientStream::Tls(Box::new(rustls::StreamOwned::new(connection, tcp)));
        Signaling::handshake(format!("wss://localhost:{}/", addr.port()), stream)
    }

    fn handshake(url: String, stream: ClientStream) -> Signaling {
        stream
            .tcp()
            .set_read_timeout(Some(PATIENCE))
            .expect("set a timeout");
        let (ws, _) = tungstenite::client::client(url, stream).expect("WebSocket handshake");
        ws.get_ref()
            .tcp()
            .set_read_timeout(Some(READ_SLICE))
            .expect("set a timeout");
        Signaling { ws }
    }

    /// Sends one message.
    pub fn send(&mut self, message: &ToRelay<'_>) {
        let mut buf = [0u8; 4096];
        let len = message.emit(&mut buf).expect("fits");
        let text = std::str::from_utf8(&buf[..len]).expect("JSON").to_owned();
        self.send_raw(Message::text(text))
            .expect("send to the relay");
    }

    /// Sends any WebSocket message as it is.
    pub fn send_raw(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        self.ws.send(message)
    }

    /// Sends `hello`.
    pub fn hello(&mut self, id: &str, token: &str) {
        self.send(&ToRelay::Hello {
            node_id: NodeId::new(id).expect("a valid id"),
            token: Token::new(token).expect("a valid token"),
            version: 1,
        });
    }

    /// The next message or close, or `None` after one read slice.
    pub fn poll(&mut self) -> Option<Event> {
        match self.ws.read() {
            Ok(Message::Text(text)) => Some(Event::Msg(Msg::parse(text.as_str()))),
            Ok(Message::Close(frame)) => Some(Event::Closed(frame.map(|f| u16::from(f.code)))),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(_) => Some(Event::Closed(None)),
        }
    }

    /// The next event within `patience`.
    pub fn next(&mut self, patience: Duration) -> Option<Event> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Some(event) = self.poll() {
                return Some(event);
            }
        }
        None
    }

    /// Waits for the connection to end; returns the close code if the
    /// relay sent one. Messages before it are skipped.
    pub fn closed(&mut self, patience: Duration) -> Option<Option<u16>> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Some(Event::Closed(code)) = self.poll() {
                return Some(code);
            }
        }
        None
    }
}

/// The signaling connection on its own thread: collects events, sends
/// what it is given, and pings every 500 ms so the session stays alive
/// whatever the test does meanwhile.
struct Pump {
    outgoing: mpsc::Sender<String>,
    events: mpsc::Receiver<Event>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pump {
    fn start(mut signaling: Signaling) -> Pump {
        let (out_tx, out_rx) = mpsc::channel::<String>();
        let (ev_tx, ev_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let mut last_ping = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    while let Ok(text) = out_rx.try_recv() {
                        if signaling.send_raw(Message::text(text)).is_err() {
                            let _ = ev_tx.send(Event::Closed(None));
                            return;
                        }
                    }
                    if last_ping.elapsed() >= Duration::from_millis(500) {
                        last_ping = Instant::now();
                        let _ = signaling.send_raw(Message::text(r#"{"type":"ping","t":0}"#));
                    }
                    match signaling.poll() {
                        // Answers to our own keep-alive.
                        Some(Event::Msg(Msg::Pong { t: 0 })) | None => {}
                        Some(event @ Event::Closed(_)) => {
                            let _ = ev_tx.send(event);
                            return;
                        }
                        Some(event) => {
                            let _ = ev_tx.send(event);
                        }
                    }
                }
                let _ = signaling.ws.close(None);
                let _ = signaling.ws.flush();
            }
        });
        Pump {
            outgoing: out_tx,
            events: ev_rx,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------
// An edge node
// ---------------------------------------------------------------------

/// One datagram a node received and opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub kind: Kind,
    pub flags: Flags,
    pub stream: StreamId,
    pub payload: Vec<u8>,
}

/// A test edge node: a welcomed session, its UDP socket and keys.
pub struct Node {
    pub id: String,
    pump: Pump,
    /// Messages received and not yet taken by a `wait_for`.
    inbox: VecDeque<Event>,
    /// Every message ever received, for failure reports.
    history: Vec<Event>,
    udp: UdpSocket,
    relay_udp: SocketAddr,
    keys: SessionKeys,
    receiver: Receiver<8>,
    senders: HashMap<String, Sender>,
    pub streams: HashMap<String, StreamId>,
    timestamp: u32,
}

impl Node {
    /// Connects over `ws://`, says hello and waits for the welcome.
    pub fn join(relay: &RelayProcess, id: &str, token: &str) -> Node {
        Node::welcome(Signaling::connect(relay.ws), id, token)
    }

    /// Says hello on `signaling` and waits for the welcome.
    pub fn welcome(mut signaling: Signaling, id: &str, token: &str) -> Node {
        signaling.hello(id, token);
        let (host, port, secret, key_id) = match signaling.next(PATIENCE) {
            Some(Event::Msg(Msg::Welcome {
                host,
                port,
                secret,
                key_id,
                ..
            })) => (host, port, secret, key_id),
            other => panic!("{id}: expected a welcome, got {other:?}"),
        };
        let relay_udp = (host.as_str(), port)
            .to_socket_addrs()
            .expect("the welcome's host resolves")
            .next()
            .expect("an address");
        let keys = SessionKeys::derive(&Secret::from_bytes(secret), KeyId(key_id));
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        Node {
            id: id.to_owned(),
            pump: Pump::start(signaling),
            inbox: VecDeque::new(),
            history: Vec::new(),
            udp,
            relay_udp,
            receiver: Receiver::new(&keys, Direction::RelayToNode),
            keys,
            senders: HashMap::new(),
            streams: HashMap::new(),
            timestamp: 0,
        }
    }

    /// Sends one raw text frame.
    pub fn send_text(&self, text: &str) {
        self.pump
            .outgoing
            .send(text.to_owned())
            .expect("pump running");
    }

    /// Joins `channel`, then sends a heartbeat so the relay learns this
    /// node's UDP address, and waits for its echo.
    pub fn register(&mut self, channel: &str) -> StreamId {
        let message = ToRelay::Register {
            channel_id: ChannelId::new(channel).expect("a valid channel id"),
        };
        let mut buf = [0u8; 256];
        let len = message.emit(&mut buf).expect("fits");
        self.send_text(std::str::from_utf8(&buf[..len]).expect("JSON"));
        let stream = match self
            .wait_for(|m| matches!(m, Msg::Registered { channel: c, .. } if c == channel))
        {
            Msg::Registered { stream, .. } => StreamId(stream),
            _ => unreachable!("matched above"),
        };
        self.streams.insert(channel.to_owned(), stream);
        self.senders.insert(
            channel.to_owned(),
            Sender::new(&self.keys, Direction::NodeToRelay, stream),
        );
        let heartbeat = self.seal(channel, Kind::Heartbeat, Flags::NONE, &42u64.to_be_bytes());
        self.send_datagram(&heartbeat);
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "{}: no heartbeat echo", self.id);
            if let Some(got) = self.receive(Duration::from_millis(100), true)
                && got.kind == Kind::HeartbeatEcho
            {
                return stream;
            }
        }
    }

    /// Seals a datagram on this node's stream for `channel`.
    pub fn seal(&mut self, channel: &str, kind: Kind, flags: Flags, payload: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        self.timestamp = self.timestamp.wrapping_add(960);
        let sender = self
            .senders
            .get_mut(channel)
            .expect("registered on the channel");
        let len = sender
            .seal(
                kind,
                flags,
                MediaTimestamp(self.timestamp),
                payload.len(),
                &mut buf,
            )
            .expect("seal");
        buf[..len].to_vec()
    }

    /// Seals a datagram with this node's keys but on `stream`, which
    /// another node holds (or nobody): what a node trying to speak for
    /// another would send.
    pub fn seal_on_stream(&self, stream: StreamId, kind: Kind, payload: &[u8]) -> Vec<u8> {
        let mut sender = Sender::new(&self.keys, Direction::NodeToRelay, stream);
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        buf[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
        let len = sender
            .seal(
                kind,
                Flags::NONE,
                MediaTimestamp(0),
                payload.len(),
                &mut buf,
            )
            .expect("seal");
        buf[..len].to_vec()
    }

    /// Sends bytes to the relay's UDP socket as they are.
    pub fn send_datagram(&self, datagram: &[u8]) {
        self.udp
            .send_to(datagram, self.relay_udp)
            .expect("send a datagram");
    }

    /// Seals and sends one audio datagram; returns it as sent.
    pub fn send_audio(&mut self, channel: &str, flags: Flags, payload: &[u8]) -> Vec<u8> {
        let datagram = self.seal(channel, Kind::Audio, flags, payload);
        self.send_datagram(&datagram);
        datagram
    }

    /// The next datagram from the relay within `patience`, opened with
    /// this node's keys; heartbeat echoes skipped unless `echoes`. Panics
    /// if a datagram does not open: the relay must only send valid ones.
    pub fn receive(&mut self, patience: Duration, echoes: bool) -> Option<Got> {
        let deadline = Instant::now() + patience;
        let mut buf = [0u8; MAX_DATAGRAM_LEN + 1];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.udp
                .set_read_timeout(Some(left))
                .expect("set a timeout");
            let Ok((len, from)) = self.udp.recv_from(&mut buf) else {
                return None;
            };
            assert_eq!(
                from, self.relay_udp,
                "{}: a datagram from a stranger",
                self.id
            );
            let opened = self
                .receiver
                .open(echostream_core::time::Instant::ZERO, &mut buf[..len])
                .unwrap_or_else(|e| panic!("{}: a relay datagram did not open: {e:?}", self.id));
            let got = Got {
                kind: opened.repr.kind,
                flags: opened.repr.flags,
                stream: opened.repr.stream_id,
                payload: buf[opened.payload].to_vec(),
            };
            if got.kind != Kind::HeartbeatEcho || echoes {
                return Some(got);
            }
        }
    }

    /// The next audio or end-of-transmission datagram.
    pub fn receive_media(&mut self) -> Option<Got> {
        self.receive(PATIENCE, false)
    }

    /// Asserts no datagram arrives for `quiet`.
    pub fn assert_no_datagram(&mut self, quiet: Duration) {
        if let Some(got) = self.receive(quiet, true) {
            panic!("{}: expected silence, got {got:?}", self.id);
        }
    }

    fn pull(&mut self, patience: Duration) -> Option<Event> {
        let event = self.pump.events.recv_timeout(patience).ok()?;
        self.history.push(event.clone());
        Some(event)
    }

    /// Takes the first message matching `want`, waiting for it if needed;
    /// panics (listing everything received) if none comes in time.
    pub fn wait_for(&mut self, want: impl Fn(&Msg) -> bool) -> Msg {
        if let Some(i) = self
            .inbox
            .iter()
            .position(|e| matches!(e, Event::Msg(m) if want(m)))
        {
            let Some(Event::Msg(m)) = self.inbox.remove(i) else {
                unreachable!("matched above")
            };
            return m;
        }
        let deadline = Instant::now() + PATIENCE;
        while let Some(event) = self.pull(deadline.saturating_duration_since(Instant::now())) {
            match event {
                Event::Msg(m) if want(&m) => return m,
                other => self.inbox.push_back(other),
            }
        }
        panic!(
            "{}: the wanted message never came; got {:?}",
            self.id, self.history
        )
    }

    /// Every message received within `quiet` (and earlier, untaken).
    pub fn messages_within(&mut self, quiet: Duration) -> Vec<Event> {
        let deadline = Instant::now() + quiet;
        while let Some(event) = self.pull(deadline.saturating_duration_since(Instant::now())) {
            self.inbox.push_back(event);
        }
        self.inbox.drain(..).collect()
    }

    /// Waits for the relay to end this node's connection.
    pub fn wait_closed(&mut self) -> Option<u16> {
        let deadline = Instant::now() + PATIENCE;
        while let Some(event) = self.pull(deadline.saturating_duration_since(Instant::now())) {
            if let Event::Closed(code) = event {
                return code;
            }
        }
        panic!(
            "{}: the connection stayed open; got {:?}",
            self.id, self.history
        )
    }
}

/// Sends `count` audio packets from `talker` on `channel` and asserts
/// `listener` receives each intact, in order, re-sealed on its own stream.
pub fn assert_audio_flows(talker: &mut Node, listener: &mut Node, channel: &str, count: u32) {
    for n in 0..count {
        let payload = format!("{} frame {n}", talker.id).into_bytes();
        talker.send_audio(channel, Flags::NONE, &payload);
        let got = listener
            .receive_media()
            .unwrap_or_else(|| panic!("{}: audio frame {n} never arrived", listener.id));
        assert_eq!(got.kind, Kind::Audio);
        assert_eq!(got.stream, listener.streams[channel]);
        assert_eq!(got.payload, payload, "frame {n}");
    }
}
