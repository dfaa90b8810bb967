//! The messages themselves: what each side sends, parsed from and emitted
//! to JSON text.

use serde::ser::{Serialize, SerializeStruct as _, Serializer};

use super::de::{self, required};
use super::schema::{Direction, Field, Kind};
use super::size::{
    ERROR_LEN_MAX, HELLO_LEN_MAX, PING_LEN_MAX, PONG_LEN_MAX, REGISTER_LEN_MAX, REGISTERED_LEN_MAX,
    REKEY_LEN_MAX, TONE_DETECTED_TO_NODE_LEN_MAX, TONE_DETECTED_TO_RELAY_LEN_MAX,
    TRANSMIT_TO_NODE_LEN_MAX, TRANSMIT_TO_RELAY_LEN_MAX, USERS_CONNECTED_LEN_MAX, WELCOME_LEN_MAX,
};
use super::{
    AlertType, ChannelId, ErrorMessage, Host, NodeId, SecretBytes, SignalError, Token, ToneId,
    Users,
};
use crate::wire::{KeyId, StreamId};

/// A message a node sends to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToRelay<'a> {
    /// First message on a connection: who the node is, its credential and
    /// its protocol version ([`PROTOCOL_VERSION`](super::PROTOCOL_VERSION)).
    Hello {
        /// The node's name.
        node_id: NodeId<'a>,
        /// The node's credential.
        token: Token<'a>,
        /// The protocol version the node speaks.
        version: u32,
    },
    /// Join a channel; the relay answers with `registered`.
    Register {
        /// The channel to join.
        channel_id: ChannelId<'a>,
    },
    /// The node starts (`active`) or stops transmitting on a channel.
    Transmit {
        /// The channel.
        channel_id: ChannelId<'a>,
        /// Whether the node is transmitting.
        active: bool,
    },
    /// The node matched a tone definition, so other sites can act.
    ToneDetected {
        /// The channel the tones were heard on.
        channel_id: ChannelId<'a>,
        /// The definition that matched.
        tone_id: ToneId<'a>,
        /// The definition's alert class.
        alert_type: AlertType<'a>,
    },
    /// Liveness probe; answer with `pong` carrying the same `t`.
    Ping {
        /// Opaque to the receiver (typically the sender's clock in µs).
        t: u64,
    },
    /// Answer to the relay's `ping`.
    Pong {
        /// The `t` of the `ping` answered.
        t: u64,
    },
}

impl<'a> ToRelay<'a> {
    /// Parses one message a node sent, borrowing its strings from `input`.
    ///
    /// # Errors
    ///
    /// Any [`SignalError`] but `BufferTooSmall`; the module docs say what is
    /// accepted. Never panics.
    pub fn parse(input: &'a [u8]) -> Result<Self, SignalError> {
        let (kind, f) = de::parse(input, Direction::ToRelay)?;
        Ok(match kind {
            Kind::Hello => Self::Hello {
                node_id: required(f.node_id, Field::NodeId)?,
                token: required(f.token, Field::Token)?,
                version: required(f.version, Field::Version)?,
            },
            Kind::Register => Self::Register {
                channel_id: required(f.channel_id, Field::ChannelId)?,
            },
            Kind::Transmit => Self::Transmit {
                channel_id: required(f.channel_id, Field::ChannelId)?,
                active: required(f.active, Field::Active)?,
            },
            Kind::ToneDetected => Self::ToneDetected {
                channel_id: required(f.channel_id, Field::ChannelId)?,
                tone_id: required(f.tone_id, Field::ToneId)?,
                alert_type: required(f.alert_type, Field::AlertType)?,
            },
            Kind::Ping => Self::Ping {
                t: required(f.t, Field::T)?,
            },
            Kind::Pong => Self::Pong {
                t: required(f.t, Field::T)?,
            },
            // The relay never receives these; de::schema already said so.
            Kind::Welcome | Kind::Registered | Kind::UsersConnected | Kind::Rekey | Kind::Error => {
                return Err(SignalError::UnknownType);
            }
        })
    }

    /// Writes the message as JSON into `buffer`; returns the length written.
    ///
    /// # Errors
    ///
    /// [`SignalError::BufferTooSmall`], never with a buffer of
    /// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN) bytes. `buffer` may hold a partial message then.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, SignalError> {
        serde_json_core::to_slice(self, buffer).map_err(|_| SignalError::BufferTooSmall)
    }

    /// The wire name of the message's type, e.g. `"hello"`.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        self.kind().name()
    }

    /// The most bytes [`emit`](Self::emit) can write for a message of this
    /// type, whatever its values.
    #[must_use]
    pub const fn emitted_len_max(&self) -> usize {
        match self {
            Self::Hello { .. } => HELLO_LEN_MAX,
            Self::Register { .. } => REGISTER_LEN_MAX,
            Self::Transmit { .. } => TRANSMIT_TO_RELAY_LEN_MAX,
            Self::ToneDetected { .. } => TONE_DETECTED_TO_RELAY_LEN_MAX,
            Self::Ping { .. } => PING_LEN_MAX,
            Self::Pong { .. } => PONG_LEN_MAX,
        }
    }

    const fn kind(&self) -> Kind {
        match self {
            Self::Hello { .. } => Kind::Hello,
            Self::Register { .. } => Kind::Register,
            Self::Transmit { .. } => Kind::Transmit,
            Self::ToneDetected { .. } => Kind::ToneDetected,
            Self::Ping { .. } => Kind::Ping,
            Self::Pong { .. } => Kind::Pong,
        }
    }
}

/// The wire form; [`ToRelay::emit`] is the usual way to get it.
impl Serialize for ToRelay<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = self.type_name();
        match self {
            Self::Hello {
                node_id,
                token,
                version,
            } => {
                let mut s = serializer.serialize_struct(name, 4)?;
                s.serialize_field("type", name)?;
                s.serialize_field("node_id", node_id)?;
                s.serialize_field("token", token)?;
                s.serialize_field("version", version)?;
                s.end()
            }
            Self::Register { channel_id } => {
                let mut s = serializer.serialize_struct(name, 2)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.end()
            }
            Self::Transmit { channel_id, active } => {
                let mut s = serializer.serialize_struct(name, 3)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.serialize_field("active", active)?;
                s.end()
            }
            Self::ToneDetected {
                channel_id,
                tone_id,
                alert_type,
            } => {
                let mut s = serializer.serialize_struct(name, 4)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.serialize_field("tone_id", tone_id)?;
                s.serialize_field("alert_type", alert_type)?;
                s.end()
            }
            Self::Ping { t } | Self::Pong { t } => {
                let mut s = serializer.serialize_struct(name, 2)?;
                s.serialize_field("type", name)?;
                s.serialize_field("t", t)?;
                s.end()
            }
        }
    }
}

/// A message the relay sends to a node.
///
/// About 1.1 KiB, most of it `users_connected`'s inline list: without an
/// allocator there is no boxing it, and nodes parse one message at a time.
#[allow(
    clippy::large_enum_variant,
    reason = "no alloc in core; the list must live inline"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToNode<'a> {
    /// Answer to `hello`: where to send UDP, the first secret and the
    /// heartbeat period.
    Welcome {
        /// The relay's UDP host.
        udp_host: Host<'a>,
        /// The relay's UDP port.
        udp_port: u16,
        /// The secret to derive the datagram keys from.
        key: SecretBytes,
        /// The id datagrams under this secret carry.
        key_id: KeyId,
        /// How often to send UDP heartbeats, in ms.
        heartbeat_ms: u32,
    },
    /// Answer to `register`: the stream id for this node's channel.
    Registered {
        /// The channel registered.
        channel_id: ChannelId<'a>,
        /// The id of the node's stream on that channel.
        stream_id: StreamId,
    },
    /// Another node started (`active`) or stopped transmitting.
    Transmit {
        /// The channel.
        channel_id: ChannelId<'a>,
        /// The node that holds (or released) the channel.
        node_id: NodeId<'a>,
        /// Whether it is transmitting.
        active: bool,
    },
    /// Another node heard a page on a channel this node is on.
    ToneDetected {
        /// The channel the tones were heard on.
        channel_id: ChannelId<'a>,
        /// The node that heard them.
        node_id: NodeId<'a>,
        /// The definition that matched there.
        tone_id: ToneId<'a>,
        /// The definition's alert class.
        alert_type: AlertType<'a>,
    },
    /// Who is on a channel now.
    UsersConnected {
        /// The channel.
        channel_id: ChannelId<'a>,
        /// The nodes registered on it, at most [`MAX_USERS`](super::MAX_USERS).
        users: Users<'a>,
    },
    /// A fresh secret; datagrams switch to `key_id`.
    Rekey {
        /// The new secret.
        key: SecretBytes,
        /// The id datagrams under the new secret carry.
        key_id: KeyId,
    },
    /// The relay refused something.
    Error {
        /// A machine-readable code (the relay's table).
        code: u16,
        /// Human-readable text, unescaped.
        message: ErrorMessage,
    },
    /// Liveness probe; answer with `pong` carrying the same `t`.
    Ping {
        /// Opaque to the receiver (typically the sender's clock in µs).
        t: u64,
    },
    /// Answer to the node's `ping`.
    Pong {
        /// The `t` of the `ping` answered.
        t: u64,
    },
}

impl<'a> ToNode<'a> {
    /// Parses one message the relay sent, borrowing its strings from
    /// `input` (all but the unescaped `error.message`).
    ///
    /// # Errors
    ///
    /// Any [`SignalError`] but `BufferTooSmall`; the module docs say what is
    /// accepted. Never panics.
    pub fn parse(input: &'a [u8]) -> Result<Self, SignalError> {
        let (kind, f) = de::parse(input, Direction::ToNode)?;
        Ok(match kind {
            Kind::Welcome => Self::Welcome {
                udp_host: required(f.udp_host, Field::UdpHost)?,
                udp_port: required(f.udp_port, Field::UdpPort)?,
                key: required(f.key, Field::Key)?,
                key_id: KeyId(required(f.key_id, Field::KeyId)?),
                heartbeat_ms: required(f.heartbeat_ms, Field::HeartbeatMs)?,
            },
            Kind::Registered => Self::Registered {
                channel_id: required(f.channel_id, Field::ChannelId)?,
                stream_id: StreamId(required(f.stream_id, Field::StreamId)?),
            },
            Kind::Transmit => Self::Transmit {
                channel_id: required(f.channel_id, Field::ChannelId)?,
                node_id: required(f.node_id, Field::NodeId)?,
                active: required(f.active, Field::Active)?,
            },
            Kind::ToneDetected => Self::ToneDetected {
                channel_id: required(f.channel_id, Field::ChannelId)?,
                node_id: required(f.node_id, Field::NodeId)?,
                tone_id: required(f.tone_id, Field::ToneId)?,
                alert_type: required(f.alert_type, Field::AlertType)?,
            },
            Kind::UsersConnected => Self::UsersConnected {
                channel_id: required(f.channel_id, Field::ChannelId)?,
                users: required(f.users, Field::Users)?,
            },
            Kind::Rekey => Self::Rekey {
                key: required(f.key, Field::Key)?,
                key_id: KeyId(required(f.key_id, Field::KeyId)?),
            },
            Kind::Error => Self::Error {
                code: required(f.code, Field::Code)?,
                message: required(f.message, Field::Message)?,
            },
            Kind::Ping => Self::Ping {
                t: required(f.t, Field::T)?,
            },
            Kind::Pong => Self::Pong {
                t: required(f.t, Field::T)?,
            },
            // Nodes never receive these; de::schema already said so.
            Kind::Hello | Kind::Register => {
                return Err(SignalError::UnknownType);
            }
        })
    }

    /// Writes the message as JSON into `buffer`; returns the length written.
    ///
    /// # Errors
    ///
    /// [`SignalError::BufferTooSmall`], never with a buffer of
    /// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN) bytes. `buffer` may hold a partial message then.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, SignalError> {
        serde_json_core::to_slice(self, buffer).map_err(|_| SignalError::BufferTooSmall)
    }

    /// The wire name of the message's type, e.g. `"welcome"`.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        self.kind().name()
    }

    /// The most bytes [`emit`](Self::emit) can write for a message of this
    /// type, whatever its values.
    #[must_use]
    pub const fn emitted_len_max(&self) -> usize {
        match self {
            Self::Welcome { .. } => WELCOME_LEN_MAX,
            Self::Registered { .. } => REGISTERED_LEN_MAX,
            Self::Transmit { .. } => TRANSMIT_TO_NODE_LEN_MAX,
            Self::ToneDetected { .. } => TONE_DETECTED_TO_NODE_LEN_MAX,
            Self::UsersConnected { .. } => USERS_CONNECTED_LEN_MAX,
            Self::Rekey { .. } => REKEY_LEN_MAX,
            Self::Error { .. } => ERROR_LEN_MAX,
            Self::Ping { .. } => PING_LEN_MAX,
            Self::Pong { .. } => PONG_LEN_MAX,
        }
    }

    const fn kind(&self) -> Kind {
        match self {
            Self::Welcome { .. } => Kind::Welcome,
            Self::Registered { .. } => Kind::Registered,
            Self::Transmit { .. } => Kind::Transmit,
            Self::ToneDetected { .. } => Kind::ToneDetected,
            Self::UsersConnected { .. } => Kind::UsersConnected,
            Self::Rekey { .. } => Kind::Rekey,
            Self::Error { .. } => Kind::Error,
            Self::Ping { .. } => Kind::Ping,
            Self::Pong { .. } => Kind::Pong,
        }
    }
}

/// The wire form; [`ToNode::emit`] is the usual way to get it.
impl Serialize for ToNode<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = self.type_name();
        match self {
            Self::Welcome {
                udp_host,
                udp_port,
                key,
                key_id,
                heartbeat_ms,
            } => {
                let mut s = serializer.serialize_struct(name, 6)?;
                s.serialize_field("type", name)?;
                s.serialize_field("udp_host", udp_host)?;
                s.serialize_field("udp_port", udp_port)?;
                s.serialize_field("key", key)?;
                s.serialize_field("key_id", &key_id.0)?;
                s.serialize_field("heartbeat_ms", heartbeat_ms)?;
                s.end()
            }
            Self::Registered {
                channel_id,
                stream_id,
            } => {
                let mut s = serializer.serialize_struct(name, 3)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.serialize_field("stream_id", &stream_id.0)?;
                s.end()
            }
            Self::Transmit {
                channel_id,
                node_id,
                active,
            } => {
                let mut s = serializer.serialize_struct(name, 4)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.serialize_field("node_id", node_id)?;
                s.serialize_field("active", active)?;
                s.end()
            }
            Self::ToneDetected {
                channel_id,
                node_id,
                tone_id,
                alert_type,
            } => {
                let mut s = serializer.serialize_struct(name, 5)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.serialize_field("node_id", node_id)?;
                s.serialize_field("tone_id", tone_id)?;
                s.serialize_field("alert_type", alert_type)?;
                s.end()
            }
            Self::UsersConnected { channel_id, users } => {
                let mut s = serializer.serialize_struct(name, 3)?;
                s.serialize_field("type", name)?;
                s.serialize_field("channel_id", channel_id)?;
                s.serialize_field("users", users.as_slice())?;
                s.end()
            }
            Self::Rekey { key, key_id } => {
                let mut s = serializer.serialize_struct(name, 3)?;
                s.serialize_field("type", name)?;
                s.serialize_field("key", key)?;
                s.serialize_field("key_id", &key_id.0)?;
                s.end()
            }
            Self::Error { code, message } => {
                let mut s = serializer.serialize_struct(name, 3)?;
                s.serialize_field("type", name)?;
                s.serialize_field("code", code)?;
                s.serialize_field("message", message.as_str())?;
                s.end()
            }
            Self::Ping { t } | Self::Pong { t } => {
                let mut s = serializer.serialize_struct(name, 2)?;
                s.serialize_field("type", name)?;
                s.serialize_field("t", t)?;
                s.end()
            }
        }
    }
}
