//! Why a datagram would not open or a key would not install: typed, and
//! cheap to count.

use core::fmt;

use super::replay::ReplayError;
use crate::wire::{self, KeyId, StreamId};

/// Why [`Receiver::open`](super::Receiver::open) dropped a datagram. Each is cheap to count: see
/// [`OpenError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not a v1 datagram we speak (length, version, kind, flags, or a
    /// payload length the kind does not allow).
    Malformed(wire::Error),
    /// Its `key_id` is neither the current key nor a previous one still in
    /// its grace period.
    UnknownKey(KeyId),
    /// Its sequence number was already accepted, or is behind the window.
    Replay(ReplayError),
    /// The tag did not verify: forged, corrupted, or sealed under another
    /// key or direction. Nothing was recorded.
    Forged,
    /// It authenticated as far as the cheap checks go, but its stream is
    /// new and every replay-window slot for this key is taken. Checked
    /// before decrypting, so unauthenticated datagrams never take a slot.
    StreamTableFull(StreamId),
}

/// [`OpenError`] without its data: a dense index for counter arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenErrorKind {
    /// [`OpenError::Malformed`].
    Malformed,
    /// [`OpenError::UnknownKey`].
    UnknownKey,
    /// [`OpenError::Replay`] with [`ReplayError::Duplicate`].
    Duplicate,
    /// [`OpenError::Replay`] with [`ReplayError::TooOld`].
    TooOld,
    /// [`OpenError::Forged`].
    Forged,
    /// [`OpenError::StreamTableFull`].
    StreamTableFull,
}

impl OpenErrorKind {
    /// How many kinds there are: the length of a counter array.
    pub const COUNT: usize = 6;
    /// Every kind, in [`index`](Self::index) order.
    pub const ALL: [OpenErrorKind; OpenErrorKind::COUNT] = [
        OpenErrorKind::Malformed,
        OpenErrorKind::UnknownKey,
        OpenErrorKind::Duplicate,
        OpenErrorKind::TooOld,
        OpenErrorKind::Forged,
        OpenErrorKind::StreamTableFull,
    ];

    /// A dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short fixed name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            OpenErrorKind::Malformed => "malformed",
            OpenErrorKind::UnknownKey => "unknown_key",
            OpenErrorKind::Duplicate => "duplicate",
            OpenErrorKind::TooOld => "too_old",
            OpenErrorKind::Forged => "forged",
            OpenErrorKind::StreamTableFull => "stream_table_full",
        }
    }
}

impl OpenError {
    /// The error's kind, for counting.
    pub const fn kind(&self) -> OpenErrorKind {
        match self {
            OpenError::Malformed(_) => OpenErrorKind::Malformed,
            OpenError::UnknownKey(_) => OpenErrorKind::UnknownKey,
            OpenError::Replay(ReplayError::Duplicate) => OpenErrorKind::Duplicate,
            OpenError::Replay(ReplayError::TooOld) => OpenErrorKind::TooOld,
            OpenError::Forged => OpenErrorKind::Forged,
            OpenError::StreamTableFull(_) => OpenErrorKind::StreamTableFull,
        }
    }

    /// A short fixed name for counters and logs (`self.kind().name()`).
    pub const fn reason(&self) -> &'static str {
        self.kind().name()
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Malformed(e) => write!(f, "malformed datagram: {e}"),
            OpenError::UnknownKey(key_id) => write!(f, "{key_id} is not current"),
            OpenError::Replay(e) => write!(f, "replayed datagram: {e}"),
            OpenError::Forged => f.write_str("authentication tag did not verify"),
            OpenError::StreamTableFull(stream_id) => {
                write!(f, "no replay-window slot left for {stream_id}")
            }
        }
    }
}

impl core::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            OpenError::Malformed(e) => Some(e),
            OpenError::Replay(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`Receiver::rekey`](super::Receiver::rekey) refused a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RekeyError {
    /// The new key's id is the current key's, or that of a previous key
    /// still in its grace period. Accepting it would either make datagrams
    /// ambiguous or reset a replay window under a key that may be the same.
    KeyIdInUse(KeyId),
}

impl RekeyError {
    /// A short fixed name for counters and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            RekeyError::KeyIdInUse(_) => "key_id_in_use",
        }
    }
}

impl fmt::Display for RekeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RekeyError::KeyIdInUse(key_id) => write!(f, "{key_id} is already in use"),
        }
    }
}

impl core::error::Error for RekeyError {}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn every_open_error_kind_has_a_distinct_index_and_name() {
        for (i, kind) in OpenErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
            for other in &OpenErrorKind::ALL[..i] {
                assert_ne!(kind.name(), other.name());
            }
        }
        let errors = [
            OpenError::Malformed(wire::Error::UnknownVersion(2)),
            OpenError::UnknownKey(KeyId(3)),
            OpenError::Replay(ReplayError::Duplicate),
            OpenError::Replay(ReplayError::TooOld),
            OpenError::Forged,
            OpenError::StreamTableFull(StreamId(4)),
        ];
        for (error, kind) in errors.iter().zip(OpenErrorKind::ALL) {
            assert_eq!(error.kind(), kind);
            assert_eq!(error.reason(), kind.name());
            assert!(!std::format!("{error}").is_empty());
        }
    }
}
