//! The vocabulary of signaling v1: every member name, every message type,
//! and which members each type carries in each direction (DESIGN.md's
//! table, as data).

/// Every member name any message uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Field {
    Type,
    NodeId,
    Token,
    Version,
    ChannelId,
    Active,
    ToneId,
    AlertType,
    UdpHost,
    UdpPort,
    Key,
    KeyId,
    HeartbeatMs,
    StreamId,
    Users,
    Code,
    Message,
    T,
}

impl Field {
    const ALL: [Self; 18] = [
        Self::Type,
        Self::NodeId,
        Self::Token,
        Self::Version,
        Self::ChannelId,
        Self::Active,
        Self::ToneId,
        Self::AlertType,
        Self::UdpHost,
        Self::UdpPort,
        Self::Key,
        Self::KeyId,
        Self::HeartbeatMs,
        Self::StreamId,
        Self::Users,
        Self::Code,
        Self::Message,
        Self::T,
    ];

    pub(super) const fn name(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::NodeId => "node_id",
            Self::Token => "token",
            Self::Version => "version",
            Self::ChannelId => "channel_id",
            Self::Active => "active",
            Self::ToneId => "tone_id",
            Self::AlertType => "alert_type",
            Self::UdpHost => "udp_host",
            Self::UdpPort => "udp_port",
            Self::Key => "key",
            Self::KeyId => "key_id",
            Self::HeartbeatMs => "heartbeat_ms",
            Self::StreamId => "stream_id",
            Self::Users => "users",
            Self::Code => "code",
            Self::Message => "message",
            Self::T => "t",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|field| field.name() == name)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

// FieldSet is a u32 bitmap.
const _: () = assert!(Field::ALL.len() <= 32);

/// A set of [`Field`]s.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(super) struct FieldSet(u32);

impl FieldSet {
    pub(super) const fn of(fields: &[Field]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < fields.len() {
            bits |= fields[i].bit();
            i += 1;
        }
        Self(bits)
    }

    pub(super) const fn contains(self, field: Field) -> bool {
        self.0 & field.bit() != 0
    }

    pub(super) fn insert(&mut self, field: Field) {
        self.0 |= field.bit();
    }
}

/// Every message type either side knows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Hello,
    Welcome,
    Register,
    Registered,
    Transmit,
    UsersConnected,
    Rekey,
    Ping,
    Pong,
    Error,
    ToneDetected,
}

impl Kind {
    const ALL: [Self; 11] = [
        Self::Hello,
        Self::Welcome,
        Self::Register,
        Self::Registered,
        Self::Transmit,
        Self::UsersConnected,
        Self::Rekey,
        Self::Ping,
        Self::Pong,
        Self::Error,
        Self::ToneDetected,
    ];

    pub(super) const fn name(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Welcome => "welcome",
            Self::Register => "register",
            Self::Registered => "registered",
            Self::Transmit => "transmit",
            Self::UsersConnected => "users_connected",
            Self::Rekey => "rekey",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Error => "error",
            Self::ToneDetected => "tone_detected",
        }
    }

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Which side is reading.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Direction {
    /// The relay reads what nodes send.
    ToRelay,
    /// A node reads what the relay sends.
    ToNode,
}

/// The members `kind` carries in `direction`, all required; `None` when
/// that side never receives `kind` (it is then an unknown type there).
pub(super) const fn schema(kind: Kind, direction: Direction) -> Option<FieldSet> {
    use Direction::{ToNode, ToRelay};
    use Field as F;
    let fields: &[Field] = match (direction, kind) {
        (ToRelay, Kind::Hello) => &[F::NodeId, F::Token, F::Version],
        (ToRelay, Kind::Register) => &[F::ChannelId],
        (ToRelay, Kind::Transmit) => &[F::ChannelId, F::Active],
        (ToRelay, Kind::ToneDetected) => &[F::ChannelId, F::ToneId, F::AlertType],
        (ToNode, Kind::Welcome) => &[F::UdpHost, F::UdpPort, F::Key, F::KeyId, F::HeartbeatMs],
        (ToNode, Kind::Registered) => &[F::ChannelId, F::StreamId],
        (ToNode, Kind::Transmit) => &[F::ChannelId, F::NodeId, F::Active],
        (ToNode, Kind::ToneDetected) => &[F::ChannelId, F::NodeId, F::ToneId, F::AlertType],
        (ToNode, Kind::UsersConnected) => &[F::ChannelId, F::Users],
        (ToNode, Kind::Rekey) => &[F::Key, F::KeyId],
        (ToNode, Kind::Error) => &[F::Code, F::Message],
        (_, Kind::Ping | Kind::Pong) => &[F::T],
        (ToRelay, _) | (ToNode, _) => return None,
    };
    Some(FieldSet::of(fields))
}
