//! The signaling WebSocket's lifecycle on a non-blocking socket: name
//! lookup, TCP connect, TLS and the HTTP upgrade (each resumed on
//! readiness), then bounded reads and writes of text frames.
//!
//! The link knows bytes and connection states, not the protocol: the
//! driver says when to start, feeds it readiness and reads the messages.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use echostream_core::node::LinkDown;
use echostream_core::wire::signal::MAX_MESSAGE_LEN;

use super::resolve::{Resolved, Resolver};
use super::transport::{TlsStream, Transport};

/// Bytes of outgoing frames tungstenite may hold for a relay that does
/// not read; beyond it messages are refused (and counted by the caller).
pub const WS_WRITE_BUFFER_MAX: usize = 16 * 1024;

/// Where the link goes: parsed once from the URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL as configured.
    pub(crate) url: String,
    /// The host part (a name, or an IP literal; IPv6 without brackets).
    pub(crate) host: String,
    /// The port, explicit or the scheme's default.
    pub(crate) port: u16,
    /// For `wss://`: the TLS settings and the name the certificate must carry.
    pub(crate) tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// Why the link went down.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The host name did not resolve.
    Resolve(io::Error),
    /// TCP connect failed.
    Connect(SocketAddr, io::Error),
    /// TLS or the WebSocket upgrade failed.
    Handshake(tungstenite::Error),
    /// The relay sent a close frame.
    ClosedByRelay(String),
    /// The connection ended without a close frame.
    Eof,
    /// Reading or writing failed once open.
    Io(tungstenite::Error),
}

impl LinkError {
    /// The kind of failure, as the engine knows it.
    pub(crate) fn kind(&self) -> LinkDown {
        match self {
            LinkError::Resolve(_) => LinkDown::Resolve,
            LinkError::Connect(..) => LinkDown::Connect,
            LinkError::Handshake(_) => LinkDown::Handshake,
            LinkError::ClosedByRelay(_) => LinkDown::ClosedByRelay,
            LinkError::Eof => LinkDown::Eof,
            LinkError::Io(_) => LinkDown::Io,
        }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Resolve(e) => write!(f, "relay host name lookup failed: {e}"),
            LinkError::Connect(addr, e) => write!(f, "TCP connect to {addr} failed: {e}"),
            LinkError::Handshake(e) => write!(f, "TLS/WebSocket handshake failed: {e}"),
            LinkError::ClosedByRelay(why) => write!(f, "the relay closed the WebSocket ({why})"),
            LinkError::Eof => f.write_str("the relay closed the connection"),
            LinkError::Io(e) => write!(f, "WebSocket error: {e}"),
        }
    }
}

/// One frame the relay sent.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A text frame (a signaling message).
    Text(Utf8Bytes),
    /// A binary frame (not part of the protocol).
    Binary,
}

enum State {
    Down,
    Resolving,
    /// The socket, its address, and the addresses left to try.
    Connecting(TcpStream, SocketAddr, Vec<SocketAddr>),
    Handshaking(MidHandshake<ClientHandshake<Transport>>),
    Open(WebSocket<Transport>),
}

/// The signaling connection; see the module docs.
pub(crate) struct Link {
    target: Target,
    token: Token,
    state: State,
    /// Which resolved address the next attempt uses (rotates per attempt).
    attempt: usize,
    /// Written frames not flushed yet (waiting for the socket).
    unflushed: bool,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.target.url)
            .field("stage", &self.stage())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link that is down; its socket is registered under `token`.
    pub(crate) fn new(target: Target, token: Token) -> Link {
        Link {
            target,
            token,
            state: State::Down,
            attempt: 0,
            unflushed: false,
        }
    }

    /// The URL.
    pub(crate) fn url(&self) -> &str {
        &self.target.url
    }

    /// Where the link is, in words (for logs and time-out reasons).
    pub(crate) fn stage(&self) -> &'static str {
        match self.state {
            State::Down => "down",
            State::Resolving => "looking up the relay's address",
            State::Connecting(..) => "connecting over TCP",
            State::Handshaking(_) => "in the TLS/WebSocket handshake",
            State::Open(_) => "open",
        }
    }

    /// Whether no attempt is under way.
    pub(crate) fn is_down(&self) -> bool {
        matches!(self.state, State::Down)
    }

    /// Whether the WebSocket is open.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// Starts an attempt (from down).
    pub(crate) fn start(&mut self) {
        debug_assert!(self.is_down(), "start is called on a link that is down");
        self.state = State::Resolving;
        self.unflushed = false;
    }

    /// Moves an attempt on as far as it goes without blocking. Returns
    /// `Ok(true)` when the WebSocket has just opened.
    ///
    /// # Errors
    /// Why the attempt failed; the link is down then.
    pub(crate) fn advance(
        &mut self,
        registry: &Registry,
        resolver: &mut Resolver,
    ) -> Result<bool, LinkError> {
        let result = self.step(registry, resolver);
        if result.is_err() {
            self.shut(registry);
        }
        result
    }

    fn step(&mut self, registry: &Registry, resolver: &mut Resolver) -> Result<bool, LinkError> {
        loop {
            match std::mem::replace(&mut self.state, State::Down) {
                State::Down => return Ok(false),
                State::Open(ws) => {
                    self.state = State::Open(ws);
                    return Ok(false);
                }
                State::Resolving => {
                    let addrs = match resolver.resolve(&self.target.host, self.target.port) {
                        Resolved::Pending => {
                            self.state = State::Resolving;
                            return Ok(false);
                        }
                        Resolved::Ready(addrs) => addrs.map_err(LinkError::Resolve)?,
                    };
                    // Each attempt starts at the next address, so one that
                    // swallows SYNs does not eat every attempt's time-out;
                    // one that refuses at once passes to the next at once.
                    let mut addrs = addrs;
                    let first = self.attempt % addrs.len();
                    addrs.rotate_left(first);
                    self.attempt = self.attempt.wrapping_add(1);
                    addrs.reverse();
                    self.state = self.connect(registry, addrs)?;
                }
                State::Connecting(mut socket, addr, rest) => {
                    // mio's recipe: an error, or a peer address once connected.
                    let error = match socket.take_error() {
                        Ok(Some(e)) | Err(e) => Some(e),
                        Ok(None) => match socket.peer_addr() {
                            Ok(_) => None,
                            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                                self.state = State::Connecting(socket, addr, rest);
                                return Ok(false);
                            }
                            Err(e) => Some(e),
                        },
                    };
                    if let Some(error) = error {
                        let _ = registry.deregister(&mut socket);
                        if rest.is_empty() {
                            return Err(LinkError::Connect(addr, error));
                        }
                        log::info!(
                            "TCP connect to {addr} failed ({error}); trying the next address"
                        );
                        self.state = self.connect(registry, rest)?;
                        continue;
                    }
                    // Signaling is small and latency-bound: no Nagle delay.
                    let _ = socket.set_nodelay(true);
                    let transport = match &self.target.tls {
                        None => Transport::Plain(socket),
                        Some((config, name)) => {
                            let connection = ClientConnection::new(
                                Arc::clone(config),
                                name.clone(),
                            )
                            .map_err(|e| {
                                LinkError::Handshake(tungstenite::Error::Io(io::Error::other(e)))
                            })?;
                            Transport::Tls(Box::new(TlsStream::new(connection, socket)))
                        }
                    };
                    let request = self
                        .target
                        .url
                        .as_str()
                        .into_client_request()
                        .map_err(LinkError::Handshake)?;
                    let started =
                        tungstenite::client::client_with_config(request, transport, Some(config()));
                    return self.handshake_result(started);
                }
                State::Handshaking(mid) => {
                    return self.handshake_result(mid.handshake());
                }
            }
        }
    }

    /// Starts a TCP connect to the last of `addrs` (the rest are kept for
    /// a refusal).
    fn connect(&self, registry: &Registry, mut addrs: Vec<SocketAddr>) -> Result<State, LinkError> {
        let addr = addrs.pop().expect("callers pass at least one address");
        log::info!("connecting to relay {} at {addr}", self.target.url);
        let mut socket = TcpStream::connect(addr).map_err(|e| LinkError::Connect(addr, e))?;
        registry
            .register(
                &mut socket,
                self.token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| LinkError::Connect(addr, e))?;
        Ok(State::Connecting(socket, addr, addrs))
    }

    fn handshake_result(
        &mut self,
        result: Result<
            (
                WebSocket<Transport>,
                tungstenite::handshake::client::Response,
            ),
            HandshakeError<ClientHandshake<Transport>>,
        >,
    ) -> Result<bool, LinkError> {
        match result {
            Ok((ws, _response)) => {
                self.state = State::Open(ws);
                Ok(true)
            }
            Err(HandshakeError::Interrupted(mut mid)) => {
                // TLS records the handshake produced while reading.
                match mid.get_mut().get_mut().push_pending() {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                        return Err(LinkError::Handshake(tungstenite::Error::Io(e)));
                    }
                    _ => {}
                }
                self.state = State::Handshaking(mid);
                Ok(false)
            }
            Err(HandshakeError::Failure(e)) => Err(LinkError::Handshake(e)),
        }
    }

    /// Reads up to `budget` frames into `into`. Returns `Ok(true)` when
    /// the budget ran out before the socket did (call again soon).
    ///
    /// # Errors
    /// The connection ended or broke; [`Link::shut`] it.
    pub(crate) fn read(
        &mut self,
        budget: usize,
        into: &mut Vec<Incoming>,
    ) -> Result<bool, LinkError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(false);
        };
        let mut failure = None;
        let mut more = true;
        for _ in 0..budget {
            match ws.read() {
                Ok(Message::Text(text)) => into.push(Incoming::Text(text)),
                Ok(Message::Binary(_)) => into.push(Incoming::Binary),
                // tungstenite queues the answer to a ping itself.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {
                    self.unflushed = true;
                }
                Ok(Message::Close(frame)) => {
                    let why = frame.map_or_else(
                        || "no reason given".to_owned(),
                        |f| format!("code {}: {}", f.code, f.reason.as_str()),
                    );
                    failure = Some(LinkError::ClosedByRelay(why));
                    break;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    failure = Some(LinkError::Eof);
                    break;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    failure = Some(LinkError::Eof);
                    break;
                }
                Err(e) => {
                    failure = Some(LinkError::Io(e));
                    break;
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(more),
        }
    }

    /// Queues one text frame. Returns `Ok(false)` when it was refused
    /// because the write buffer is full or the link is not open.
    ///
    /// # Errors
    /// The connection broke; [`Link::shut`] it.
    pub(crate) fn send(&mut self, text: String) -> Result<bool, LinkError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(false);
        };
        match ws.write(Message::text(text)) {
            Ok(()) => {
                self.unflushed = true;
                Ok(true)
            }
            // Queued; the socket is full for now.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.unflushed = true;
                Ok(true)
            }
            Err(tungstenite::Error::WriteBufferFull(_)) => Ok(false),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// Writes what is queued as far as the socket takes it.
    ///
    /// # Errors
    /// The connection broke; [`Link::shut`] it.
    pub(crate) fn flush(&mut self) -> Result<(), LinkError> {
        let State::Open(ws) = &mut self.state else {
            return Ok(());
        };
        if !self.unflushed {
            return Ok(());
        }
        match ws.flush() {
            Ok(()) => {
                self.unflushed = false;
                Ok(())
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// Closes whatever is open (a close frame and TLS close_notify, best
    /// effort, never waiting) and goes down.
    pub(crate) fn shut(&mut self, registry: &Registry) {
        match std::mem::replace(&mut self.state, State::Down) {
            State::Down | State::Resolving => {}
            State::Connecting(mut socket, ..) => {
                let _ = registry.deregister(&mut socket);
            }
            State::Handshaking(mut mid) => {
                let _ = registry.deregister(mid.get_mut().get_mut().socket_mut());
            }
            State::Open(mut ws) => {
                let _ = ws.close(None);
                let _ = ws.flush();
                let transport = ws.get_mut();
                transport.close_notify();
                let _ = registry.deregister(transport.socket_mut());
            }
        }
        self.unflushed = false;
    }
}

/// Frames are signaling messages: at most [`MAX_MESSAGE_LEN`] bytes in,
/// written at once (no batching delay), and a bounded write buffer.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * MAX_MESSAGE_LEN)
        .write_buffer_size(0)
        .max_write_buffer_size(WS_WRITE_BUFFER_MAX)
        .max_message_size(Some(MAX_MESSAGE_LEN))
        .max_frame_size(Some(MAX_MESSAGE_LEN))
}
