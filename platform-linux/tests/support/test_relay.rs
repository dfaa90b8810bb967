//! A relay on real loopback sockets for the tests that need control the
//! relay server does not offer: the relay core
//! (`echostream_relay::engine::Relay`) driven by one mio thread with a
//! plain WebSocket listener and a UDP socket, which can advertise another
//! UDP port in `welcome` (to put a proxy in the path) and rekey every
//! session on demand. Everything else is tested against the real server.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use echostream_core::time::Instant;
use echostream_core::wire::MAX_DATAGRAM_LEN;
use echostream_relay::engine::{
    ConnId, Counters, MAX_OUTPUT_LEN, Output, Relay, RelayConfig, TokenPolicy,
};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::{Message, WebSocket};

const LISTENER: Token = Token(0);
const UDP: Token = Token(1);
const WAKER: Token = Token(2);
const FIRST_CONN: usize = 16;

/// How to run the relay.
#[derive(Clone)]
pub struct RelayOptions {
    /// The WebSocket listener's address (port 0: any).
    pub ws: SocketAddr,
    /// The UDP socket's address (port 0: any).
    pub udp: SocketAddr,
    /// The UDP port told in `welcome` (default: the socket's own).
    pub advertised_udp_port: Option<u16>,
    /// The heartbeat period told in `welcome`.
    pub heartbeat_ms: u32,
    /// Which tokens open a session.
    pub tokens: TokenPolicy,
}

impl RelayOptions {
    /// Plain WebSocket on loopback, any ports, any token, 200 ms heartbeats.
    pub fn loopback() -> RelayOptions {
        RelayOptions {
            ws: "127.0.0.1:0".parse().unwrap(),
            udp: "127.0.0.1:0".parse().unwrap(),
            advertised_udp_port: None,
            heartbeat_ms: 200,
            tokens: TokenPolicy::AnyToken,
        }
    }
}

enum Command {
    /// Rekey every session; hold every text frame for this long (so the
    /// datagrams under the new key arrive before the `rekey` message).
    RekeyAll(Duration),
    Counters(mpsc::Sender<Counters>),
}

/// A running relay; [`TestRelay::stop`] closes every socket.
pub struct TestRelay {
    /// The WebSocket listener's address.
    pub ws_addr: SocketAddr,
    /// The UDP socket's address.
    pub udp_addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl TestRelay {
    /// Binds and starts the relay thread.
    pub fn start(options: RelayOptions) -> TestRelay {
        let poll = Poll::new().unwrap();
        let mut listener = TcpListener::bind(options.ws).unwrap();
        let mut udp = UdpSocket::bind(options.udp).unwrap();
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .unwrap();
        poll.registry()
            .register(&mut udp, UDP, Interest::READABLE)
            .unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
        let ws_addr = listener.local_addr().unwrap();
        let udp_addr = udp.local_addr().unwrap();
        let port = options.advertised_udp_port.unwrap_or(udp_addr.port());
        let mut config = RelayConfig::new("127.0.0.1", port, options.tokens.clone());
        config.heartbeat_ms = options.heartbeat_ms;
        let relay = Relay::new(config).unwrap();
        let (commands, receiver) = mpsc::channel();
        let server = Server {
            poll,
            listener,
            udp,
            relay,
            conns: HashMap::new(),
            next_conn: FIRST_CONN,
            commands: receiver,
            epoch: StdInstant::now(),
            stop: false,
            hold_texts_until: None,
            held: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("test-relay".into())
            .spawn(move || server.run())
            .unwrap();
        TestRelay {
            ws_addr,
            udp_addr,
            commands,
            waker,
            thread: Some(thread),
        }
    }

    /// The signaling URL.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.ws_addr)
    }

    /// Gives every session a new key now, and holds the `rekey` messages
    /// (and every other text frame) back for `hold`: datagrams sealed under
    /// the new keys reach the nodes first, as they may on a real network.
    pub fn rekey_all(&self, hold: Duration) {
        self.commands.send(Command::RekeyAll(hold)).unwrap();
        self.waker.wake().unwrap();
    }

    /// The relay core's counters.
    pub fn counters(&self) -> Counters {
        let (tell, answer) = mpsc::channel();
        self.commands.send(Command::Counters(tell)).unwrap();
        self.waker.wake().unwrap();
        answer.recv_timeout(Duration::from_secs(5)).unwrap()
    }

    /// Stops the thread; every socket is closed when this returns.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            // Dropping the command sender is the stop signal.
            let (dead, _) = mpsc::channel();
            self.commands = dead;
            let _ = self.waker.wake();
            thread.join().unwrap();
        }
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

enum Conn {
    Handshaking(MidHandshake<ServerHandshake<TcpStream, NoCallback>>),
    Open(WebSocket<TcpStream>),
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    udp: UdpSocket,
    relay: Relay,
    conns: HashMap<usize, Conn>,
    next_conn: usize,
    commands: mpsc::Receiver<Command>,
    epoch: StdInstant,
    stop: bool,
    /// Text frames wait in `held` (with their bytes) until then.
    hold_texts_until: Option<StdInstant>,
    held: Vec<(Output, Vec<u8>)>,
}

impl Server {
    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 1];
        while !self.stop {
            let now = self.now();
            let timeout = self
                .relay
                .poll_timeout()
                .map_or(Duration::from_millis(50), |at| {
                    Duration::from_micros(at.as_micros().saturating_sub(now.as_micros()))
                })
                .min(Duration::from_millis(50));
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("test relay poll: {e}"),
            }
            self.commands();
            self.accept();
            self.read_conns();
            self.read_udp(&mut buf);
            let now = self.now();
            self.relay.handle_timeout(now);
            self.outputs();
            self.flush_conns();
        }
    }

    fn commands(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(Command::RekeyAll(hold)) => {
                    let now = self.now();
                    for &id in self.conns.keys() {
                        let _ = self.relay.rekey(now, ConnId(id as u64));
                    }
                    self.hold_texts_until = Some(StdInstant::now() + hold);
                }
                Ok(Command::Counters(tell)) => {
                    let _ = tell.send(self.relay.counters().clone());
                }
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.stop = true;
                    return;
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let (mut socket, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => panic!("test relay accept: {e}"),
            };
            let id = self.next_conn;
            self.next_conn += 1;
            self.poll
                .registry()
                .register(
                    &mut socket,
                    Token(id),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            let started = tungstenite::accept_with_config(socket, None);
            self.handshake_result(id, started);
        }
    }

    fn handshake_result(
        &mut self,
        id: usize,
        result: Result<
            WebSocket<TcpStream>,
            HandshakeError<ServerHandshake<TcpStream, NoCallback>>,
        >,
    ) {
        match result {
            Ok(ws) => {
                self.conns.insert(id, Conn::Open(ws));
                let now = self.now();
                self.relay
                    .handle_connect(now, ConnId(id as u64), Ipv4Addr::LOCALHOST.into());
            }
            Err(HandshakeError::Interrupted(mid)) => {
                self.conns.insert(id, Conn::Handshaking(mid));
            }
            Err(HandshakeError::Failure(_)) => {}
        }
    }

    fn read_conns(&mut self) {
        let ids: Vec<usize> = self.conns.keys().copied().collect();
        for id in ids {
            match self.conns.remove(&id) {
                Some(Conn::Handshaking(mid)) => {
                    let result = mid.handshake();
                    self.handshake_result(id, result);
                }
                Some(Conn::Open(mut ws)) => {
                    let mut alive = true;
                    loop {
                        match ws.read() {
                            Ok(Message::Text(text)) => {
                                let now = self.now();
                                self.relay
                                    .handle_text(now, ConnId(id as u64), text.as_bytes());
                            }
                            Ok(Message::Close(_)) => {
                                alive = false;
                                break;
                            }
                            Ok(_) => {}
                            Err(tungstenite::Error::Io(e))
                                if e.kind() == io::ErrorKind::WouldBlock =>
                            {
                                break;
                            }
                            Err(_) => {
                                alive = false;
                                break;
                            }
                        }
                    }
                    if alive {
                        self.conns.insert(id, Conn::Open(ws));
                    } else {
                        let now = self.now();
                        self.relay.handle_disconnect(now, ConnId(id as u64));
                        let _ = self.poll.registry().deregister(ws.get_mut());
                    }
                }
                None => {}
            }
        }
    }

    fn read_udp(&mut self, buf: &mut [u8]) {
        loop {
            match self.udp.recv_from(buf) {
                Ok((len, from)) => {
                    let now = self.now();
                    self.relay.handle_datagram(now, from, &mut buf[..len]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    fn outputs(&mut self) {
        let holding = self
            .hold_texts_until
            .is_some_and(|until| StdInstant::now() < until);
        if !holding {
            self.hold_texts_until = None;
            for (output, bytes) in std::mem::take(&mut self.held) {
                self.output(output, &bytes);
            }
        }
        let mut buf = [0u8; MAX_OUTPUT_LEN];
        while let Some(output) = self.relay.poll_output(&mut buf) {
            if holding && matches!(output, Output::SendText { .. }) {
                self.held.push((output, output.payload(&buf).to_vec()));
            } else {
                self.output(output, output.payload(&buf));
            }
        }
    }

    fn output(&mut self, output: Output, bytes: &[u8]) {
        {
            match &output {
                Output::SendText { conn, .. } => {
                    if let Some(Conn::Open(ws)) = self.conns.get_mut(&(conn.0 as usize)) {
                        let text = std::str::from_utf8(bytes).unwrap().to_owned();
                        let _ = ws.write(Message::text(text));
                    }
                }
                Output::SendDatagram { to, .. } => {
                    let _ = self.udp.send_to(bytes, *to);
                }
                Output::Close { conn, .. } => {
                    if let Some(Conn::Open(mut ws)) = self.conns.remove(&(conn.0 as usize)) {
                        let _ = ws.close(None);
                        let _ = ws.flush();
                        let _ = self.poll.registry().deregister(ws.get_mut());
                    }
                }
            }
        }
    }

    fn flush_conns(&mut self) {
        for conn in self.conns.values_mut() {
            if let Conn::Open(ws) = conn {
                let _ = ws.flush();
            }
        }
    }
}
