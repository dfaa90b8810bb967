//! What crosses the network: the v1 UDP datagram and the signaling messages.
//!
//! Like smoltcp's `wire`, this layer knows bytes and nothing else: no
//! sockets, no keys, no clocks. Untrusted bytes are parsed only through
//! [`Packet::new_checked`]; after that no accessor can panic.

mod packet;
pub mod signal;

pub use packet::{
    Error, Flags, HEADER_LEN, HEARTBEAT_PAYLOAD_LEN, Kind, MAX_DATAGRAM_LEN, MAX_PAYLOAD_LEN,
    MIN_DATAGRAM_LEN, Packet, Repr, TAG_LEN, VERSION,
};

use core::fmt;

/// Identifies one (node, channel) audio stream; assigned by the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(pub u32);

/// A stream's packet counter. Never repeats under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u32);

/// Which relay-issued secret protects a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId(pub u8);

/// A media timestamp in 48 kHz sample units (Opus' clock), whatever the
/// device rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaTimestamp(pub u32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.0)
    }
}
