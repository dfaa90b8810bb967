//! What the engine reports: typed events for logs, counters and (later)
//! the node's own event stream, and the typed reasons a link goes down.

use core::fmt;
use core::net::SocketAddr;

use heapless::String;

use crate::ptt::PttEvent;
use crate::record::AlertId;
use crate::time::Duration;
use crate::tone::ToneEvent;
use crate::tone::dtmf::DtmfSequence;
use crate::wire::signal::{ErrorMessage, MAX_ID_LEN};
use crate::wire::{KeyId, StreamId};

use super::ChannelIndex;

/// How the driver's link failed (the driver logs the details it has, an
/// operating-system error or a certificate problem; the engine only needs
/// to know that it failed and roughly where).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDown {
    /// The relay's host name did not resolve.
    Resolve,
    /// TCP connect failed.
    Connect,
    /// TLS or the WebSocket upgrade failed.
    Handshake,
    /// The relay closed the WebSocket.
    ClosedByRelay,
    /// The connection ended without a close.
    Eof,
    /// Reading or writing failed once open.
    Io,
    /// The welcome's UDP host did not resolve.
    UdpResolve,
    /// No UDP socket could be opened for the relay's address.
    UdpSocket,
}

impl LinkDown {
    /// In words.
    pub const fn reason(self) -> &'static str {
        match self {
            LinkDown::Resolve => "relay host name lookup failed",
            LinkDown::Connect => "TCP connect failed",
            LinkDown::Handshake => "TLS/WebSocket handshake failed",
            LinkDown::ClosedByRelay => "the relay closed the WebSocket",
            LinkDown::Eof => "the relay closed the connection",
            LinkDown::Io => "WebSocket error",
            LinkDown::UdpResolve => "the relay's UDP host did not resolve",
            LinkDown::UdpSocket => "no UDP socket for the relay's address",
        }
    }
}

/// Why the engine took the link down (or saw it go down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The driver's link failed.
    Link(LinkDown),
    /// No welcome within the connect time-out.
    NoWelcome {
        /// The time-out.
        within: Duration,
    },
    /// The relay said nothing on signaling: nothing for
    /// [`SIGNAL_SILENT_HEARTBEATS`](super::SIGNAL_SILENT_HEARTBEATS)
    /// periods, or nothing within [`PONG_WAIT_HEARTBEATS`](super::PONG_WAIT_HEARTBEATS)
    /// of a `ping` (it answers every `ping`).
    SignalSilent {
        /// How long.
        silent_for: Duration,
    },
    /// No echo for [`PATH_DEAD_PROBES`](super::PATH_DEAD_PROBES) heartbeats
    /// (a round's, then probes): a new session is tried rather than one
    /// with dead audio.
    PathDead {
        /// How long since the last echo.
        silent_for: Duration,
    },
    /// Datagrams came under a key the relay never announced.
    KeyNeverAnnounced,
    /// The relay's new key was refused (its id is in use).
    RekeyRefused,
    /// The relay gave a stream id this node already used under the current
    /// key: sealing on it again would repeat nonces.
    StreamIdReused {
        /// The id.
        stream_id: StreamId,
    },
    /// More stream ids under one key than the engine tracks.
    TooManyStreams,
    /// A stream's sequence numbers are used up; a new session brings a key.
    SequenceExhausted,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Link(down) => f.write_str(down.reason()),
            DisconnectReason::NoWelcome { within } => {
                write!(f, "no welcome within {} ms", within.as_millis())
            }
            DisconnectReason::SignalSilent { silent_for } => write!(
                f,
                "the relay sent nothing on signaling for {} ms",
                silent_for.as_millis()
            ),
            DisconnectReason::PathDead { silent_for } => write!(
                f,
                "no heartbeat echo over UDP for {} ms: starting a new session",
                silent_for.as_millis()
            ),
            DisconnectReason::KeyNeverAnnounced => {
                f.write_str("datagrams came under a key the relay never announced")
            }
            DisconnectReason::RekeyRefused => f.write_str("the relay's new key was refused"),
            DisconnectReason::StreamIdReused { stream_id } => write!(
                f,
                "the relay gave stream {} twice under one key",
                stream_id.0
            ),
            DisconnectReason::TooManyStreams => {
                f.write_str("the relay gave more streams under one key than a node tracks")
            }
            DisconnectReason::SequenceExhausted => f.write_str(
                "a stream's sequence numbers are used up: a new session brings a new key",
            ),
        }
    }
}

/// What happened to a passthrough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassthroughEdge {
    /// It started.
    Started,
    /// A new alert made it longer.
    Extended,
    /// Its time was up (or its source stopped).
    Ended,
}

impl PassthroughEdge {
    /// In one word, for events.
    pub const fn name(self) -> &'static str {
        match self {
            PassthroughEdge::Started => "start",
            PassthroughEdge::Extended => "extend",
            PassthroughEdge::Ended => "end",
        }
    }
}

/// A node id from the relay, owned.
pub type NodeName = String<MAX_ID_LEN>;

/// Something that happened on the link to the relay or on a channel.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "core does not allocate: the relay's error text travels inline, and events are few"
)]
pub enum Event {
    /// The WebSocket is open; `hello` is on its way.
    Connected,
    /// The relay accepted `hello` and the UDP side is ready.
    Welcomed {
        /// Where this node sends its datagrams.
        relay_udp: SocketAddr,
        /// The heartbeat period in force (the relay's, clamped).
        heartbeat: Duration,
        /// The key's id.
        key_id: KeyId,
    },
    /// A channel is registered; its audio flows from now on.
    Registered {
        /// The channel.
        channel: ChannelIndex,
        /// This node's stream on it.
        stream_id: StreamId,
    },
    /// Who is on a channel changed; [`Node::users`](super::Node::users)
    /// lists them.
    UsersConnected {
        /// The channel.
        channel: ChannelIndex,
    },
    /// Another node started or stopped transmitting on a channel.
    RemoteTransmit {
        /// The channel.
        channel: ChannelIndex,
        /// The node holding (or releasing) it.
        node: NodeName,
        /// Whether it transmits.
        active: bool,
    },
    /// Another node heard a page on a channel this node holds
    /// (`tone_detected` from the relay).
    RemoteAlert {
        /// The channel.
        channel: ChannelIndex,
        /// The node that heard the page.
        node: NodeName,
        /// Its tone definition that matched.
        tone_id: String<MAX_ID_LEN>,
        /// That definition's alert class.
        alert_type: String<MAX_ID_LEN>,
    },
    /// This node's channel opened (a talk-spurt starts) or closed. A
    /// channel already open reports a new start when a passthrough takes
    /// it over and when its own audio takes it back.
    Talkspurt {
        /// The channel.
        channel: ChannelIndex,
        /// Whether it is open now.
        active: bool,
    },
    /// A channel's detector heard a page or a DTMF digit.
    Tone {
        /// The channel.
        channel: ChannelIndex,
        /// What it heard, where, and how late.
        event: ToneEvent,
        /// The alert's id, for a page of one of the channel's definitions
        /// (recordings name their alerts by it); `None` for a DTMF digit
        /// or the tone finder.
        alert: Option<AlertId>,
    },
    /// A channel's receiver (its COR line, debounced, with its hang time)
    /// opened or closed.
    Cor {
        /// The channel.
        channel: ChannelIndex,
        /// Open now.
        open: bool,
    },
    /// A channel's transmitter changed state (keyed, unkeyed, locked out),
    /// with the reason.
    Ptt {
        /// The channel.
        channel: ChannelIndex,
        /// What changed and why.
        event: PttEvent,
    },
    /// Remote audio waited for a busy receiver longer than `busy_wait_ms`
    /// and was dropped.
    RemoteAudioDropped {
        /// The channel.
        channel: ChannelIndex,
        /// Frames dropped.
        frames: u32,
    },
    /// A passthrough started, was extended by a new alert, or ended.
    Passthrough {
        /// The channel whose audio is routed.
        source: ChannelIndex,
        /// The channel that carries it.
        target: ChannelIndex,
        /// What happened.
        edge: PassthroughEdge,
        /// What is left of it, ms (0 when it ended).
        remaining_ms: u32,
    },
    /// A channel's DTMF digits ended a sequence.
    DtmfSequence {
        /// The channel.
        channel: ChannelIndex,
        /// The digits and where they were.
        sequence: DtmfSequence,
    },
    /// A heartbeat round trip over UDP (the first echo of each round or
    /// probe).
    Rtt {
        /// The round trip.
        rtt: Duration,
    },
    /// Heartbeats stopped coming back while signaling is up: audio is not
    /// getting through (a firewall or NAT dropping UDP). Reported after
    /// [`PATH_LOST_PROBES`](super::PATH_LOST_PROBES) heartbeats without an
    /// echo.
    PathLost {
        /// The relay's UDP address.
        relay_udp: SocketAddr,
        /// How long since the last echo.
        silent_for: Duration,
    },
    /// Heartbeat echoes are back after [`Event::PathLost`].
    PathRestored {
        /// The relay's UDP address.
        relay_udp: SocketAddr,
        /// The round trip of the echo that came back.
        rtt: Duration,
    },
    /// The relay switched this node to a new key.
    Rekeyed {
        /// The new key's id.
        key_id: KeyId,
    },
    /// The relay sent an `error` message.
    RelayError {
        /// The relay's code (HTTP-like: 401 token refused, 429 limit…).
        code: u16,
        /// Its text.
        message: ErrorMessage,
    },
    /// The relay sent something valid but out of place (a second welcome,
    /// a registration not asked for, a rekey before the welcome…); ignored.
    Unexpected {
        /// What.
        what: Unexpected,
    },
    /// The link is down; the next attempt starts after `retry_in`.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// The delay before reconnecting.
        retry_in: Duration,
    },
}

/// Valid signaling out of place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unexpected {
    /// A `welcome` on a session that has one.
    SecondWelcome,
    /// A `welcome` before `hello` was sent.
    WelcomeBeforeHello,
    /// A `rekey` before the welcome.
    RekeyBeforeWelcome,
    /// A message about a channel this node does not have.
    UnknownChannel,
    /// A page from another node on a channel this node has not
    /// registered.
    NotRegistered,
    /// A `registered` before the UDP side is ready.
    RegisteredBeforeMedia,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unexpected::SecondWelcome => "a second welcome",
            Unexpected::WelcomeBeforeHello => "a welcome before hello",
            Unexpected::RekeyBeforeWelcome => "a rekey before the welcome",
            Unexpected::UnknownChannel => "a message about a channel this node does not have",
            Unexpected::NotRegistered => "a message about a channel this node has not registered",
            Unexpected::RegisteredBeforeMedia => "a registration before the welcome",
        })
    }
}
