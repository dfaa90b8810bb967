//! One WebSocket connection: its handshake, reads, the bounded write queue
//! (tungstenite's out buffer, capped) and the close handshake.
//!
//! Nothing here blocks: every call does what the socket allows now and
//! reports would-block as a state. Sockets are registered edge-triggered,
//! so readers keep reading until [`ReadEvent::Idle`].

use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use super::transport::Transport;
use crate::engine::ConnId;

type Handshake = MidHandshake<ServerHandshake<Transport, NoCallback>>;

enum Phase {
    /// TLS (if any) and the HTTP upgrade, until `deadline`.
    Handshake(Handshake),
    /// Signaling flows.
    Open(WebSocket<Transport>),
    /// A close frame is queued; waiting for the peer's until `deadline`.
    Closing(WebSocket<Transport>),
    /// Close frame sent, sending side shut: reading and discarding raw
    /// bytes until the peer's end or `deadline`. Used after a read error,
    /// when the stream may be mid-frame and tungstenite must not parse it.
    Draining(Transport),
    /// Failed; only dropping it is left.
    Gone,
}

/// What one [`Conn::read`] produced.
#[derive(Debug)]
pub(super) enum ReadEvent {
    /// The WebSocket handshake finished: the connection is open.
    Opened,
    /// A text frame (valid UTF-8, within the size limit).
    Text(Utf8Bytes),
    /// A binary frame (not part of the protocol).
    Binary,
    /// Control frames or, while closing, discarded data: keep reading.
    Nothing,
    /// Nothing more to read until the next readiness event.
    Idle,
    /// The connection cannot carry signaling any more.
    Ended(Ending),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ending {
    /// A close handshake (started by either side) finished.
    Closed,
    /// The peer went away without a close handshake.
    Reset,
    /// A frame or message over the size limit.
    TooLong,
    /// Any other protocol violation (bad UTF-8, framing).
    Protocol(String),
    /// The TLS or WebSocket handshake failed.
    HandshakeFailed(String),
}

/// What [`Conn::send_text`] did with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sent {
    /// Written or queued.
    Queued,
    /// The write queue is full: dropped.
    QueueFull,
    /// The connection is not open: dropped.
    NotOpen,
    /// The connection failed while writing.
    Failed(Ending),
}

pub(super) struct Conn {
    pub(super) id: ConnId,
    pub(super) peer: SocketAddr,
    /// The node id once the engine welcomed it (for logs).
    pub(super) node: Option<String>,
    phase: Phase,
    /// The handshake or close must be done by then.
    pub(super) deadline: Option<Instant>,
    /// Since when the write queue has waited without progress, and the
    /// byte count then.
    stall: Option<(Instant, u64)>,
    /// Read budget ran out with data maybe left: read again next turn.
    pub(super) read_pending: bool,
    /// Wrote this turn: flush before polling.
    pub(super) dirty: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::Handshake(_) => "handshake",
            Phase::Open(_) => "open",
            Phase::Closing(_) => "closing",
            Phase::Draining(_) => "draining",
            Phase::Gone => "gone",
        };
        f.debug_struct("Conn")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("node", &self.node)
            .field("phase", &phase)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// The node id for logs: `-` before the welcome.
    pub(super) fn node_name(&self) -> &str {
        self.node.as_deref().unwrap_or("-")
    }

    /// A connection that starts its handshake; `handshake_deadline` bounds
    /// how long a peer may take over it.
    pub(super) fn new(
        id: ConnId,
        peer: SocketAddr,
        transport: Transport,
        ws_config: tungstenite::protocol::WebSocketConfig,
        handshake_deadline: Instant,
    ) -> Result<Conn, Ending> {
        let phase = match tungstenite::accept_with_config(transport, Some(ws_config)) {
            Ok(ws) => Phase::Open(ws),
            Err(HandshakeError::Interrupted(mid)) => Phase::Handshake(mid),
            Err(HandshakeError::Failure(error)) => {
                return Err(Ending::HandshakeFailed(error.to_string()));
            }
        };
        let handshaking = matches!(phase, Phase::Handshake(_));
        Ok(Conn {
            id,
            peer,
            node: None,
            phase,
            deadline: handshaking.then_some(handshake_deadline),
            stall: None,
            read_pending: false,
            dirty: false,
        })
    }

    /// Whether signaling flows (the engine holds a session for it).
    pub(super) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    pub(super) fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshake(_))
    }

    /// Reads one step: resumes the handshake, or reads one message.
    pub(super) fn read(&mut self) -> ReadEvent {
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        let (phase, event) = match phase {
            Phase::Handshake(mid) => match mid.handshake() {
                Ok(ws) => {
                    self.deadline = None;
                    (Phase::Open(ws), ReadEvent::Opened)
                }
                Err(HandshakeError::Interrupted(mid)) => (Phase::Handshake(mid), ReadEvent::Idle),
                Err(HandshakeError::Failure(error)) => {
                    let event = ReadEvent::Ended(Ending::HandshakeFailed(error.to_string()));
                    (Phase::Gone, event)
                }
            },
            Phase::Open(mut ws) => {
                let event = match ws.read() {
                    Ok(Message::Text(text)) => ReadEvent::Text(text),
                    Ok(Message::Binary(_)) => ReadEvent::Binary,
                    Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {
                        ReadEvent::Nothing
                    }
                    // tungstenite queued the reply; it goes out on flush.
                    Ok(Message::Close(_)) => {
                        let _ = ws.flush();
                        ReadEvent::Ended(Ending::Closed)
                    }
                    Err(error) => read_error(error),
                };
                (Phase::Open(ws), event)
            }
            Phase::Closing(mut ws) => {
                let event = match ws.read() {
                    Ok(_) => ReadEvent::Nothing,
                    Err(error) => match read_error(error) {
                        ReadEvent::Idle => ReadEvent::Idle,
                        _ => ReadEvent::Ended(Ending::Closed),
                    },
                };
                (Phase::Closing(ws), event)
            }
            Phase::Draining(mut transport) => {
                let mut scratch = [0u8; 4096];
                let event = match transport.read(&mut scratch) {
                    Ok(0) => ReadEvent::Ended(Ending::Closed),
                    Ok(_) => ReadEvent::Nothing,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadEvent::Idle,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => ReadEvent::Nothing,
                    Err(_) => ReadEvent::Ended(Ending::Closed),
                };
                (Phase::Draining(transport), event)
            }
            Phase::Gone => (Phase::Gone, ReadEvent::Ended(Ending::Closed)),
        };
        self.phase = phase;
        event
    }

    /// Queues one text frame. Never blocks: what the socket does not take
    /// stays in the bounded queue; a full queue drops the frame.
    pub(super) fn send_text(&mut self, text: &str) -> Sent {
        let Phase::Open(ws) = &mut self.phase else {
            return Sent::NotOpen;
        };
        self.dirty = true;
        match ws.write(Message::text(text)) {
            Ok(()) => Sent::Queued,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Sent::Queued,
            Err(tungstenite::Error::WriteBufferFull(_)) => Sent::QueueFull,
            Err(error) => Sent::Failed(write_ending(error)),
        }
    }

    /// Starts the close handshake with `code` and `reason`; the peer has
    /// until `deadline` to answer. Frames already queued go first.
    pub(super) fn close(&mut self, code: CloseCode, reason: &'static str, deadline: Instant) {
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        self.phase = match phase {
            Phase::Open(mut ws) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                // Errors surface on the next read or flush, which ends it.
                let _ = ws.close(Some(frame));
                Phase::Closing(ws)
            }
            other => other,
        };
        self.dirty = true;
        self.deadline = Some(deadline);
    }

    /// After a read error: sends a close frame with `code` and `reason`,
    /// shuts the sending side and discards what still arrives until the
    /// peer closes or `deadline`. Frames queued and not yet written are
    /// lost.
    pub(super) fn abort(&mut self, code: CloseCode, reason: &'static str, deadline: Instant) {
        let phase = std::mem::replace(&mut self.phase, Phase::Gone);
        self.phase = match phase {
            Phase::Open(mut ws) | Phase::Closing(mut ws) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                // Best effort: the peer broke the protocol.
                let _ = ws.close(Some(frame));
                let mut transport = ws.into_inner();
                transport.finish();
                Phase::Draining(transport)
            }
            other => other,
        };
        self.dirty = false;
        self.deadline = Some(deadline);
    }

    /// Writes what the queue holds. `Ok(true)` when it is empty.
    ///
    /// # Errors
    /// The connection failed; drop it.
    pub(super) fn flush(&mut self, now: Instant) -> Result<bool, Ending> {
        self.dirty = false;
        let ws = match &mut self.phase {
            Phase::Open(ws) | Phase::Closing(ws) => ws,
            // The handshake writes its own response as it goes; a
            // draining stream has said all it will.
            Phase::Handshake(_) | Phase::Draining(_) | Phase::Gone => return Ok(true),
        };
        let result = ws.flush();
        let written = ws.get_ref().tcp().written;
        match result {
            Ok(()) => {
                self.stall = None;
                Ok(true)
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                match self.stall {
                    Some((_, at)) if at == written => {}
                    _ => self.stall = Some((now, written)),
                }
                Ok(false)
            }
            Err(tungstenite::Error::ConnectionClosed) => Err(Ending::Closed),
            Err(error) => Err(write_ending(error)),
        }
    }

    /// Whether [`timer_at`](Self::timer_at) has anything to say.
    pub(super) fn has_timer(&self) -> bool {
        self.deadline.is_some() || (self.is_open() && self.stall.is_some())
    }

    /// When the loop must look at this connection again whatever the
    /// sockets do: its handshake or close deadline, or when its write
    /// queue will have made no progress for `stall_timeout` (an open
    /// connection's; progress in between moves that later).
    pub(super) fn timer_at(&self, stall_timeout: Duration) -> Option<Instant> {
        let stall = self
            .stall
            .filter(|_| self.is_open())
            .map(|(since, _)| since + stall_timeout);
        match (self.deadline, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the write queue has made no progress for `stall_timeout`.
    pub(super) fn stalled(&mut self, now: Instant, stall_timeout: Duration) -> bool {
        let Some((since, at)) = self.stall else {
            return false;
        };
        let written = match &self.phase {
            Phase::Open(ws) | Phase::Closing(ws) => ws.get_ref().tcp().written,
            Phase::Handshake(_) | Phase::Draining(_) | Phase::Gone => return false,
        };
        if written != at {
            self.stall = Some((now, written));
            return false;
        }
        now.duration_since(since) >= stall_timeout
    }
}

fn read_error(error: tungstenite::Error) -> ReadEvent {
    use tungstenite::Error;
    ReadEvent::Ended(match error {
        Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadEvent::Idle,
        Error::Io(e) if e.kind() == io::ErrorKind::Interrupted => return ReadEvent::Nothing,
        Error::ConnectionClosed | Error::AlreadyClosed => Ending::Closed,
        Error::Io(_) | Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Ending::Reset
        }
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Ending::TooLong,
        other => Ending::Protocol(other.to_string()),
    })
}

fn write_ending(error: tungstenite::Error) -> Ending {
    match error {
        tungstenite::Error::Io(_) => Ending::Reset,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Ending::Closed,
        other => Ending::Protocol(other.to_string()),
    }
}
