//! What the relay core hands back: frames to send, datagrams to send,
//! connections to close.

use std::fmt;
use std::net::SocketAddr;

use echostream_core::wire::MAX_DATAGRAM_LEN;
use echostream_core::wire::signal::MAX_MESSAGE_LEN;

/// The driver's name for one WebSocket connection. The driver picks it and
/// must not reuse one until it has called `handle_disconnect` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn {}", self.0)
    }
}

/// Why the relay closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// `hello` carried a token the policy refuses.
    Unauthorized,
    /// `hello` as a node the token is not for, or as a node connected
    /// with another token.
    Forbidden,
    /// The token's own `sessions` limit was reached.
    TokenLimit,
    /// The session's token was removed or changed by a reload.
    TokenRevoked,
    /// A message before `hello`, or a protocol version not spoken.
    ProtocolViolation,
    /// A text frame longer than the limit.
    MessageTooLong,
    /// Too many malformed messages.
    TooManyMalformed,
    /// No heartbeat, ping or datagram for the session time-out.
    Timeout,
    /// Every session slot is taken.
    RelayFull,
    /// The same node said `hello` on a newer connection.
    Replaced,
    /// A frame arrived on a connection the relay does not hold (already
    /// closed, or never connected).
    NotConnected,
    /// The operating system's random source failed.
    KeySourceFailed,
    /// A frame that carries state (`registered`, `transmit`, `rekey`,
    /// `users_connected`, `error`) found the connection's queue or the
    /// relay's text store full: the node reads too slowly and would be
    /// left with a wrong view, so it reconnects instead.
    QueueFull,
}

impl CloseReason {
    /// A short, stable name for logs and counters.
    pub const fn name(self) -> &'static str {
        match self {
            CloseReason::Unauthorized => "unauthorized",
            CloseReason::Forbidden => "forbidden",
            CloseReason::TokenLimit => "token_limit",
            CloseReason::TokenRevoked => "token_revoked",
            CloseReason::ProtocolViolation => "protocol_violation",
            CloseReason::MessageTooLong => "message_too_long",
            CloseReason::TooManyMalformed => "too_many_malformed",
            CloseReason::Timeout => "timeout",
            CloseReason::RelayFull => "relay_full",
            CloseReason::Replaced => "replaced",
            CloseReason::NotConnected => "not_connected",
            CloseReason::KeySourceFailed => "key_source_failed",
            CloseReason::QueueFull => "queue_full",
        }
    }
}

/// The least a buffer lent to [`Relay::poll_output`](super::Relay::poll_output)
/// may hold: the longest text frame or datagram the relay sends.
pub const MAX_OUTPUT_LEN: usize = if MAX_MESSAGE_LEN > MAX_DATAGRAM_LEN {
    MAX_MESSAGE_LEN
} else {
    MAX_DATAGRAM_LEN
};

const _: () = assert!(MAX_OUTPUT_LEN >= MAX_MESSAGE_LEN && MAX_OUTPUT_LEN >= MAX_DATAGRAM_LEN);

/// One effect for the driver, from [`Relay::poll_output`](super::Relay::poll_output).
/// The bytes to send are the first `len` bytes of the buffer lent to that
/// call ([`payload`](Self::payload)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Send `buf[..len]` as one WebSocket text frame on `conn`.
    SendText {
        /// The connection.
        conn: ConnId,
        /// How many bytes of the lent buffer are the frame (JSON, UTF-8).
        len: usize,
        /// The frame is an event the node can do without (`pong`,
        /// `tone_detected`): a driver whose write queue is full may drop
        /// it (and count it). Any other frame carries state: a driver
        /// that cannot queue it must close the connection, so the node
        /// reconnects to a fresh state rather than a wrong one.
        droppable: bool,
    },
    /// Send `buf[..len]` as one UDP datagram to `to`.
    SendDatagram {
        /// The node's UDP address.
        to: SocketAddr,
        /// How many bytes of the lent buffer are the sealed datagram.
        len: usize,
    },
    /// Close `conn` (after sending the frames already polled for it). The
    /// relay already forgot it; `handle_disconnect` for it is harmless.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

impl Output {
    /// The bytes to send out of `buf`, the buffer lent to the
    /// `poll_output` call that returned this output: the frame or the
    /// datagram; empty for `Close`.
    ///
    /// # Panics
    /// `buf` is shorter than the output (not the buffer that was lent).
    pub fn payload<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        match *self {
            Output::SendText { len, .. } | Output::SendDatagram { len, .. } => &buf[..len],
            Output::Close { .. } => &[],
        }
    }
}
